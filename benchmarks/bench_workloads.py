"""Notebook workloads (issue 10): pathos_magics side by side with
multiprocessing and pathos, each run in a fresh interpreter, medians of
several runs, the libraries taking turns.

    python benchmarks/bench_workloads.py [--runs 5] [--only W5,W6,W7,W8]

(pathos must be importable: run it with a venv that has pathos and numpy,
e.g. python3 -m venv /tmp/b && /tmp/b/bin/pip install -e . pathos numpy)

W5  few long tasks: tasks of 0.3 s, n = workers and n = workers - 1, warm
    pool of 2 (target: within 5% of one task time)
W6  a 400 MB numpy global read by the function, fork, pool of 2, 8 tasks:
    the first map after the pool started, then the median of 3 more
    (target: at most 1.5x pathos's), and the kernel's peak memory above
    what it held with the array.  Then as a notebook goes on: one item
    changed in place ("changed": the first map after, then the median of 3
    more), and the name bound to a new array ("rebound": the same).  Maps
    whose results are not the kernel's values (stale copies) are counted
W7  imap over itertools.count(), 10 items taken, the iterator kept
    unconsumed 5 s: kernel memory growth (target < 50 MB; a run stops at
    2 GB growth)
W8  map over 200 numpy arrays of 1 MB returning arrays of 8 MB, pool of 2
    (target: at least as fast as multiprocessing)

Ratios are other / pathos_magics: above 1 means pathos_magics is faster
(for W5: map time / one task time; for W7 growth is shown, not a ratio).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

LIBS = ("pathos_magics", "multiprocessing", "pathos")
WORKLOADS = {
    "W5": "tasks of 0.3 s: n = workers (2) and n = workers - 1 (1), warm",
    "W6": "400 MB numpy global read by the function, fork, 8 tasks",
    "W7": "imap over count(), 10 taken, kept unconsumed 5 s: memory growth",
    "W8": "200 arrays of 1 MB in, arrays of 8 MB out, 2 workers",
}
TASK_S = 0.3
W7_HOLD_S = 5.0
W7_LIMIT = 2 * 1024 ** 3


# ---------------------------------------------------------------- child side

def nap(_):
    time.sleep(TASK_S)
    return 0


def read_big(i):
    return float(BIG[i])            # noqa: F821 - bound in main before the pool


def widen(a):
    import numpy as np
    return np.repeat(a, 8)


def inc(x):
    return x + 1


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Peak:
    """Samples this process's RSS every 5 ms in a thread."""

    def __init__(self, limit: int | None = None, on_limit=None) -> None:
        self.base = rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._limit, self._on_limit = limit, on_limit
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss())
            if self._limit and self.peak - self.base > self._limit:
                self._on_limit(self.peak - self.base)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())
        return self.peak - self.base


def make_pool(lib: str, n: int = 2, fork: bool = False):
    if lib == "pathos_magics":
        from pathos_magics.pools import ProcessPool
        return ProcessPool(n, context="fork") if fork else ProcessPool(n)
    if lib == "pathos":
        from pathos.pools import ProcessPool
        return ProcessPool(n)                      # multiprocess: fork on Linux
    import multiprocessing
    return multiprocessing.get_context("fork").Pool(n)


def close_pool(lib: str, pool) -> None:
    if lib == "multiprocessing":
        pool.terminate()
        pool.join()
    else:
        pool.clear()


def kill_children() -> None:
    """Stop every child of this process by pid (a W7 run cut short)."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


def w5(lib: str) -> dict:
    pool = make_pool(lib)
    pool.map(abs, [-1, -2] * 4)
    out = {}
    for n in (2, 1):
        t = time.perf_counter()
        pool.map(nap, range(n))
        out[f"n={n}"] = time.perf_counter() - t
    close_pool(lib, pool)
    return out


def w6(lib: str) -> dict:
    import numpy as np
    global BIG
    BIG = np.ones(50_000_000)
    pool = make_pool(lib, fork=True)
    peak = Peak()
    f = read_big if lib == "multiprocessing" else (lambda i: float(BIG[i]))
    t = time.perf_counter()
    first = pool.map(f, range(8))
    first_s = time.perf_counter() - t
    steady = []
    for _ in range(3):
        t = time.perf_counter()
        out = pool.map(f, range(8))
        steady.append(time.perf_counter() - t)
    grown = peak.stop()
    assert first == out == [1.0] * 8
    result = {"first": first_s, "steady": statistics.median(steady),
              "peak_mb": grown / 2 ** 20, "stale": 0}
    BIG[3] = 7.0                                  # a cell changes one item
    result.update(w6_after_change(pool, f, "changed", result))
    BIG = BIG + 1.0                               # a cell binds a new array
    result.update(w6_after_change(pool, f, "rebound", result))
    close_pool(lib, pool)
    return result


def w6_after_change(pool, f, key: str, result: dict) -> dict:
    expected = [float(BIG[i]) for i in range(8)]
    times = []
    for _ in range(4):
        t = time.perf_counter()
        out = pool.map(f, range(8))
        times.append(time.perf_counter() - t)
        result["stale"] += out != expected
    return {f"{key} first": times[0], f"{key} steady": statistics.median(times[1:])}


def w7(lib: str) -> dict:
    pool = make_pool(lib)
    pool.map(abs, [-1, -2] * 4)

    def too_much(grown: int) -> None:
        print(json.dumps({"growth_mb": grown / 2 ** 20, "stopped": True}), flush=True)
        kill_children()
        os._exit(0)

    peak = Peak(W7_LIMIT, too_much)

    def watchdog() -> None:           # a library whose imap never yields
        print(json.dumps({"growth_mb": (rss() - peak.base) / 2 ** 20,
                          "stopped": "hung"}), flush=True)
        kill_children()
        os._exit(0)

    threading.Timer(W7_HOLD_S + 30, watchdog).start()
    it = pool.imap(inc, itertools.count())
    taken = list(itertools.islice(it, 10))
    time.sleep(W7_HOLD_S)
    grown = peak.stop()
    assert taken == list(range(1, 11))
    print(json.dumps({"growth_mb": grown / 2 ** 20, "stopped": False}), flush=True)
    kill_children()                 # some libraries' iterators never let go
    os._exit(0)


def w8(lib: str) -> dict:
    import numpy as np
    pool = make_pool(lib)
    pool.map(abs, [-1, -2] * 4)
    xs = [np.full(125_000, i, dtype=np.float64) for i in range(200)]
    f = widen
    t = time.perf_counter()
    out = pool.map(f, xs)
    took = time.perf_counter() - t
    assert len(out) == 200 and out[7].shape == (1_000_000,) and (out[7] == 7).all()
    close_pool(lib, pool)
    return {"map": took}


def run_child(lib: str, workload: str) -> dict:
    return {"W5": w5, "W6": w6, "W7": w7, "W8": w8}[workload](lib)


# ---------------------------------------------------------------- parent side

def measure_once(lib: str, workload: str) -> dict:
    """One run in a fresh interpreter, in a session of its own, so that a
    run cut short leaves none of its pool's processes behind.  Its figures
    are its first JSON line: then the session is ended (a pool's workers
    that outlive the run, holding its stdout, would delay EOF for good)."""
    import tempfile
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, __file__, "--child", lib, workload],
                                stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
        got: list[str] = []
        arrived = threading.Event()

        def read() -> None:
            for line in proc.stdout:
                if line.startswith("{"):
                    got.append(line)
                    break
            arrived.set()

        threading.Thread(target=read, daemon=True).start()
        finished = arrived.wait(300)
        try:
            os.killpg(proc.pid, signal.SIGKILL)     # whatever the run left
        except ProcessLookupError:
            pass
        proc.wait(30)
        err.seek(0)
        if not got:
            if workload == "W7":
                return {"growth_mb": float("nan"), "stopped": "hung"}
            why = "took over 300 s" if not finished else "failed"
            raise SystemExit(f"{lib} {workload} {why}:\n{err.read()[-2000:]}")
    return json.loads(got[0])


def measure(workload: str, runs: int) -> dict[str, list[dict]]:
    got: dict[str, list[dict]] = {lib: [] for lib in LIBS}
    for _ in range(runs):
        for lib in LIBS:
            got[lib].append(measure_once(lib, workload))
    return got


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def report(workload: str, got: dict[str, list[dict]]) -> None:
    keys = {"W5": ["n=2", "n=1"],
            "W6": ["first", "steady", "peak_mb", "changed first", "changed steady",
                   "rebound first", "rebound steady"],
            "W7": ["growth_mb"], "W8": ["map"]}[workload]
    for key in keys:
        base = _median(got["pathos_magics"], key)
        for lib in LIBS:
            rows = got[lib]
            med = _median(rows, key)
            runs = " ".join(f"{r[key] * (1 if key.endswith('mb') else 1000):.0f}"
                            for r in rows)
            if key.endswith("mb"):
                stops = {r.get("stopped") for r in rows} - {False, None}
                extra = ""
                if True in stops:
                    extra += " (a run stopped at 2 GB)"
                if "hung" in stops:
                    extra += " (a run's imap gave no 10 items in 35 s: cut)"
                print(f"  {key:<15}{lib:<18}{med:>10.0f} MB{'':>9}   {runs}{extra}")
            elif workload == "W5":
                print(f"  {key:<15}{lib:<18}{med * 1000:>10.0f} ms"
                      f"{med / TASK_S:>8.2f}x task   {runs}")
            else:
                stale = sum(r["stale"] for r in rows) if key == "changed first" else 0
                note = (f"   (wrong: stale values in {stale} of the {8 * len(rows)} "
                        "maps after a change)") if stale else ""
                print(f"  {key:<15}{lib:<18}{med * 1000:>10.1f} ms"
                      f"{med / base:>8.2f}x   {runs}{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--child", nargs=2, metavar=("LIB", "WORKLOAD"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(*args.child)), flush=True)
        return
    print(f"medians of {args.runs} runs (W7: at most 3), each in a fresh "
          "interpreter, the libraries taking turns; ratio = other / pathos_magics "
          "(>1: pathos_magics faster), W5: map time / one task time\n")
    for w in args.only.split(","):
        print(f"-- {w}: {WORKLOADS[w]}")
        runs = min(args.runs, 3) if w == "W7" else args.runs
        report(w, measure(w, runs))


if __name__ == "__main__":
    main()
