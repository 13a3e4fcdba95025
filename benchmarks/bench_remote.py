"""Remote benchmark (issue 4), over two real sshd test hosts built here
(network namespaces, see tests/integration/sshhosts.py; needs root).

    python benchmarks/bench_remote.py [--runs 5] [--tasks 20000]

start  pool start on 2 hosts, cold: ssh connect + authenticate, launch
       pathos-server, tunnel, connect 1 worker each, first result
       (target: under 2 s)
W1     map(lambda x: x + 1, range(20_000)) through 2 remote workers (warm)
       vs a local ProcessPool(2) (warm); target: remote at least half the
       local throughput (ratio >= 0.5)

Medians of --runs runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from sshhosts import TestNetwork, missing_prerequisites  # noqa: E402


def bench_start(runs: int) -> list[float]:
    from pathos_magics import ssh
    from pathos_magics.pools.parallel import ParallelPool
    times = []
    for _ in range(runs):
        ssh.close_all()                           # cold: no ssh connection yet
        t0 = time.perf_counter()
        pool = ParallelPool(servers=("node0:1", "node1:1"), ncpus=0,
                            python=sys.executable)
        pool.map(abs, [-1, -2])                   # first results from both
        times.append(time.perf_counter() - t0)
        pool.clear()
    ssh.close_all()
    return times


def bench_w1(pool, runs: int, tasks: int) -> list[float]:
    pool.map(lambda x: x + 1, range(100))         # warm: workers up, code cached
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = pool.map(lambda x: x + 1, range(tasks))
        times.append(time.perf_counter() - t0)
        assert out[-1] == tasks
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--tasks", type=int, default=20_000)
    args = p.parse_args()
    why = missing_prerequisites()
    if why:
        print(f"cannot build test hosts: {why}", file=sys.stderr)
        return 2
    from pathos_magics.pools import ProcessPool
    from pathos_magics.pools.parallel import ParallelPool
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as folder, \
            TestNetwork(folder) as net:
        os.environ.update(net.env())
        os.environ["PATHOS_MAGICS_REMOTE_DIR"] = os.path.join(folder, "remote")
        os.environ["XDG_CONFIG_HOME"] = os.path.join(folder, "config")
        start = bench_start(args.runs)
        remote = ParallelPool(servers=("node0:1", "node1:1"), ncpus=0,
                              python=sys.executable)
        w1_remote = bench_w1(remote, args.runs, args.tasks)
        remote.clear()
        local = ProcessPool(2)
        w1_local = bench_w1(local, args.runs, args.tasks)
        local.clear()
        from pathos_magics import ssh
        ssh.close_all()
    _report(args, start, w1_remote, w1_local)
    return 0


def _report(args, start, w1_remote, w1_local) -> None:
    med = statistics.median
    r, loc = args.tasks / med(w1_remote), args.tasks / med(w1_local)
    print(f"medians of {args.runs} runs, {args.tasks:,} tasks for W1")
    print(f"{'benchmark':<44}{'median':>12}{'target':>12}{'ratio':>8}")
    print(f"{'pool start, 2 hosts (cold ssh)':<44}{med(start):>11.3f}s"
          f"{'< 2 s':>12}{2.0 / med(start):>8.1f}")
    print(f"{'W1 remote, 2 workers on 2 hosts':<44}{r:>10,.0f}/s{'':>12}{'':>8}")
    print(f"{'W1 local ProcessPool(2)':<44}{loc:>10,.0f}/s{'':>12}{'':>8}")
    print(f"{'W1 remote / local throughput':<44}{'':>12}{'>= 0.5':>12}{r / loc:>8.2f}")
    print("start runs (s): " + ", ".join(f"{t:.3f}" for t in start))
    print("W1 remote runs (s): " + ", ".join(f"{t:.4f}" for t in w1_remote))
    print("W1 local runs (s): " + ", ".join(f"{t:.4f}" for t in w1_local))


if __name__ == "__main__":
    sys.exit(main())
