"""What profiling costs: W1 (bench_core.py) with profiling off and on, and,
with ``--against``, with profiling off against another copy of the package
(main before profiling existed), each run in a fresh interpreter, the
variants taking turns; medians.

    python benchmarks/bench_profile.py [--runs 21]
    python benchmarks/bench_profile.py --against /tmp/main-copy --this /tmp/this-copy

``--against`` / ``--this`` are folders holding a ``pathos_magics`` package
(e.g. ``git archive main pathos_magics | tar -x -C /tmp/main-copy``); run it
with an interpreter where pathos_magics is NOT installed (an editable install
would win over PYTHONPATH), with dill, multiprocess and paramiko.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

N = 100_000


def child(profile: bool) -> float:
    from pathos_magics.pools import ProcessPool
    pool = ProcessPool(2)
    pool.map(abs, range(N))                     # warm, as bench_core's W1
    kw = {"profile": True} if profile else {}
    t = time.perf_counter()
    out = pool.map(lambda x: x + 1, range(N), **kw)
    took = time.perf_counter() - t
    assert out == list(range(1, N + 1))
    pool.clear()
    return took


def run(variant: str, path: str | None) -> float:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = path
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", variant],
                          capture_output=True, text=True, env=env, timeout=300,
                          cwd=os.path.dirname(os.path.abspath(__file__)))
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--against", metavar="DIR", help="a copy of main's package folder")
    parser.add_argument("--this", metavar="DIR", help="a copy of this branch's package folder")
    parser.add_argument("--child", choices=("off", "on"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child == "on")))
        return
    variants = [("off", "off", args.this), ("on", "on", args.this)]
    if args.against:
        variants.insert(0, ("main (no profiling)", "off", args.against))
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for i in range(args.runs):
        for name, mode, path in (variants if i % 2 == 0 else variants[::-1]):
            times[name].append(run(mode, path) * 1000)
    base = statistics.median(times[variants[0][0]])
    print(f"W1: map(lambda x: x + 1, range({N:,})), ProcessPool(2), warm; "
          f"medians of {args.runs} fresh interpreters, taking turns")
    for name, _, _ in variants:
        t = times[name]
        q = statistics.quantiles(t, n=4)
        print(f"  {name:<20} {statistics.median(t):8.2f} ms  {statistics.median(t) / base:5.2f}x"
              f"   IQR {q[0]:.1f}-{q[2]:.1f} ms")


if __name__ == "__main__":
    main()
