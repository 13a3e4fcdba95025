"""MPI benchmark (issue 5): MpiPool side by side with mpi4py.futures'
MPIPoolExecutor on the same number of worker ranks, each run in a fresh
interpreter, medians of several runs.

    python benchmarks/bench_mpi.py [--runs 5] [--nodes 2]

start  a new pool of N workers plus a map of 2 tasks (imports excluded)
W1     map(lambda x: x + 1, range(20_000)) on the warm pool

Both get N worker ranks: MpiPool(N) runs ``mpiexec -n N+1`` (a relay rank
plus N workers); MPIPoolExecutor(max_workers=N) spawns N workers from this
process (MPI singleton + MPI_Comm_spawn, so its mpiexec must be on PATH).
MPIPoolExecutor cannot pickle a lambda, so it gets the same function defined
at top level; it is shown with its default chunksize (1) and with the best
static chunksize for this map (N_items / (4 N)), which a user must pick.

Ratios are mpi4py / pathos_magics: above 1 means pathos_magics is faster.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

N_ITEMS = 20_000
ROWS = (("start", "pathos_magics", "mpi4py"),
        ("W1", "pathos_magics", "mpi4py"),
        ("W1", "pathos_magics", "mpi4py-chunked"))


def inc(x):
    return x + 1


# ---------------------------------------------------------------- child side

def child_pathos_magics(nodes: int) -> dict:
    from pathos_magics.pools.mpi import MpiPool
    t = time.perf_counter()
    pool = MpiPool(nodes)
    pool.map(abs, [-1, -2])
    start = time.perf_counter() - t
    pool.map(abs, range(-8, 0))                        # warm
    t = time.perf_counter()
    out = pool.map(lambda x: x + 1, range(N_ITEMS))
    w1 = time.perf_counter() - t
    _check(out)
    pool.clear()
    return {"start": start, "W1": w1}


def child_mpi4py(nodes: int) -> dict:
    from mpi4py.futures import MPIPoolExecutor
    t = time.perf_counter()
    ex = MPIPoolExecutor(max_workers=nodes)
    list(ex.map(abs, [-1, -2]))
    start = time.perf_counter() - t
    list(ex.map(abs, range(-8, 0)))                    # warm
    t = time.perf_counter()
    out = list(ex.map(inc, range(N_ITEMS)))
    w1 = time.perf_counter() - t
    _check(out)
    t = time.perf_counter()
    out = list(ex.map(inc, range(N_ITEMS), chunksize=N_ITEMS // (4 * nodes)))
    w1_chunked = time.perf_counter() - t
    _check(out)
    ex.shutdown()
    return {"start": start, "W1": w1, "W1-chunked": w1_chunked}


def _check(out: list) -> None:
    if out != list(range(1, N_ITEMS + 1)):
        raise SystemExit("wrong result")


# ---------------------------------------------------------------- parent side

def measure(lib: str, nodes: int, runs: int) -> list[dict]:
    env = dict(os.environ)
    # MPIPoolExecutor's singleton spawn looks for mpiexec on PATH
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    results = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, __file__, "--child", lib,
                               "--nodes", str(nodes)], capture_output=True,
                              text=True, timeout=300, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{lib} failed:\n{done.stderr[-2000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def _median_ms(results: list[dict], key: str) -> tuple[float, str]:
    times = [r[key] * 1000 for r in results]
    return statistics.median(times), " ".join(f"{t:.1f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--child", choices=("pathos_magics", "mpi4py"))
    args = parser.parse_args()
    if args.child == "pathos_magics":
        print(json.dumps(child_pathos_magics(args.nodes)))
        return
    if args.child == "mpi4py":
        print(json.dumps(child_mpi4py(args.nodes)))
        return
    ours = measure("pathos_magics", args.nodes, args.runs)
    theirs = measure("mpi4py", args.nodes, args.runs)
    print(f"{args.nodes} worker ranks on {os.cpu_count()} cores; medians of "
          f"{args.runs} runs, each in a fresh interpreter; ratio = mpi4py / "
          "pathos_magics (>1: pathos_magics faster)\n")
    print(f"{'row':<7}{'pathos_magics ms':>17}{'mpi4py.futures ms':>19}{'ratio':>8}"
          "   runs (ours | theirs)")
    for row, _, other in ROWS:
        key = "W1-chunked" if other == "mpi4py-chunked" else row
        ours_ms, ours_runs = _median_ms(ours, row)
        theirs_ms, theirs_runs = _median_ms(theirs, key)
        label = row if other == "mpi4py" else f"{row}*"
        print(f"{label:<7}{ours_ms:>17.1f}{theirs_ms:>19.1f}{theirs_ms / ours_ms:>7.2f}x"
              f"   {ours_runs} | {theirs_runs}")
    print(f"\n* MPIPoolExecutor with chunksize={N_ITEMS // (4 * args.nodes)} "
          "(pathos_magics picks its chunks itself)")


if __name__ == "__main__":
    main()
