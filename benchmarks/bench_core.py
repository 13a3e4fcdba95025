"""Core benchmark (issue 2): pathos_magics side by side with multiprocessing
and pathos, each run in a fresh interpreter, medians of several runs.

    python benchmarks/bench_core.py [--runs 7] [--only W1,W3]

W1  map(lambda x: x + 1, range(100_000)), 2 workers, warm pool (after an
    untimed map(abs, range(100_000)); multiprocessing gets a top-level
    function: it cannot pickle a lambda)
W2  32 CPU-bound tasks of ~25 ms, 2 workers, warm pool
W3  cold start: a new pool of 2 plus a map of 2 tasks
W4  a closure over a 1 MB global list from __main__, 2,000 tasks

Ratios are other / pathos_magics: above 1 means pathos_magics is faster.
pathos is needed only here (make bench installs it in .venv-bench).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

LIBS = ("pathos_magics", "multiprocessing", "pathos")
WORKLOADS = {
    "W1": "map(lambda x: x + 1, range(100_000)), 2 workers, warm",
    "W2": "32 tasks x ~25 ms CPU, 2 workers, warm",
    "W3": "cold start: new pool(2) + map of 2 tasks",
    "W4": "closure over a 1 MB __main__ global, 2,000 tasks",
}


# ---------------------------------------------------------------- child side

def inc(x):
    return x + 1


def burn(n):
    """n iterations of pure-Python work (n calibrated to ~25 ms)."""
    total = 0
    for i in range(n):
        total += i % 7
    return total


BIG = list(range(125_000))      # ~1 MB as a pickled list of ints


def calibrate() -> int:
    n = 300_000
    t = time.perf_counter()
    burn(n)
    return int(n * 0.025 / (time.perf_counter() - t))


def import_lib(lib: str) -> None:
    """Imports are not part of a cold start: a notebook has them already."""
    if lib == "pathos_magics":
        import pathos_magics.pools  # noqa: F401
    elif lib == "pathos":
        import pathos.pools  # noqa: F401
    else:
        import multiprocessing.pool  # noqa: F401


def make_pool(lib: str):
    if lib == "pathos_magics":
        from pathos_magics.pools import ProcessPool
        return ProcessPool(2)
    if lib == "pathos":
        from pathos.pools import ProcessPool
        return ProcessPool(2)
    import multiprocessing
    return multiprocessing.Pool(2)


def close_pool(lib: str, pool) -> None:
    if lib == "multiprocessing":
        pool.terminate()
        pool.join()
    else:
        pool.clear()


def run_child(lib: str, workload: str) -> float | None:
    import_lib(lib)
    if workload == "W3":
        t = time.perf_counter()
        pool = make_pool(lib)
        pool.map(abs, [-1, -2])
        took = time.perf_counter() - t
        close_pool(lib, pool)
        return took
    pool = make_pool(lib)
    # Warm: workers up, and (W1) the allocators of every process have held
    # 100k results once: a fresh process pays page faults for its first big
    # map whatever the library (here ~7 ms of a 20 ms map).  The function
    # is a different one, so no library can reuse what it shipped.
    pool.map(abs, range(100_000) if workload == "W1" else [-1, -2] * 4)
    if workload == "W1":
        f = inc if lib == "multiprocessing" else (lambda x: x + 1)
        args = range(100_000)
        expect = list(range(1, 100_001))
    elif workload == "W2":
        f, args = burn, [calibrate()] * 32
        expect = None
    else:
        def closure(i):
            return BIG[i % len(BIG)] * 2
        f, args = closure, range(2000)
        expect = [(i % len(BIG)) * 2 for i in range(2000)]
        if lib == "multiprocessing":
            try:
                pool.map(f, args)
            except Exception:
                close_pool(lib, pool)
                return None                         # cannot pickle a closure
    t = time.perf_counter()
    out = pool.map(f, args)
    took = time.perf_counter() - t
    if expect is not None and out != expect:
        raise SystemExit(f"{lib} {workload}: wrong result")
    close_pool(lib, pool)
    return took


# ---------------------------------------------------------------- parent side

def measure_once(lib: str, workload: str) -> float | None:
    done = subprocess.run([sys.executable, __file__, "--child", lib, workload],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"{lib} {workload} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(workload: str, runs: int) -> dict[str, list[float | None]]:
    """Round-robin over the libraries, so that a slow spell of this noisy
    machine (or the previous run's processes still exiting) hits them alike."""
    times: dict[str, list[float | None]] = {lib: [] for lib in LIBS}
    for _ in range(runs):
        for lib in LIBS:
            times[lib].append(measure_once(lib, workload))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--child", nargs=2, metavar=("LIB", "WORKLOAD"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(*args.child)))
        return
    print(f"medians of {args.runs} runs, each in a fresh interpreter, the libraries "
          "taking turns; ratio = other / pathos_magics (>1: pathos_magics faster)\n")
    print(f"{'workload':<8}{'library':<18}{'median ms':>11}{'ratio':>9}   runs (ms)")
    for w in args.only.split(","):
        print(f"-- {w}: {WORKLOADS[w]}")
        base = None
        measured = measure(w, args.runs)
        for lib in LIBS:
            times = measured[lib]
            if any(t is None for t in times):
                print(f"{'':<8}{lib:<18}{'fails':>11}{'':>9}   (cannot pickle it)")
                continue
            med = statistics.median(times) * 1000
            base = base or med
            runs = " ".join(f"{t * 1000:.1f}" for t in times)
            print(f"{'':<8}{lib:<18}{med:>11.2f}{med / base:>8.2f}x   {runs}")
        if w == "W4":
            print(f"{'':<8}correctness: after the global changes, a second map sees "
                  + ", ".join(f"{lib} {stale_check(lib)}" for lib in LIBS[::2]))


STALE_CHECK = """
import sys
BIG = [1, 2, 3]
def f(i):
    return BIG[i]
if __name__ == "__main__":
    lib = sys.argv[1]
    if lib == "pathos":
        from pathos.pools import ProcessPool
    else:
        from pathos_magics.pools import ProcessPool
    pool = ProcessPool(2)
    pool.map(f, range(3))
    BIG[0] = 100
    print("the new value" if pool.map(f, [0]) == [100] else "a STALE value")
    pool.clear()
"""


def stale_check(lib: str) -> str:
    """pathos ships a __main__ function's globals by reference, so a forked
    worker reads its own copy from when it started: fast, but stale.
    pathos_magics names such a global with a digest of its value; a worker
    whose copy differs asks for the value (inherit.py)."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(STALE_CHECK)
    done = subprocess.run([sys.executable, fh.name, lib], capture_output=True,
                          text=True, timeout=120)
    return done.stdout.strip() or f"(failed: {done.stderr.strip()[-200:]})"


if __name__ == "__main__":
    main()
