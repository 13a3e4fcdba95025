"""Profiling maps whose workers are on other hosts (real sshd test hosts):
each remote worker's cProfile stats come back and merge here."""
from __future__ import annotations

import sys

import pytest

import pathos_magics.profile as pr
from pathos_magics.pools.parallel import ParallelPool

pytestmark = pytest.mark.integration

PY = sys.executable       # the hosts share this file system: same venv


def _calls(stats, name: str) -> int:
    return sum(entry[1] for func, entry in stats.stats.items() if func[2] == name)


def test_remote_workers_stats_come_back_merged_and_per_worker(net):
    pool = ParallelPool(servers={"node0": 1, "root@node1": 1}, ncpus=0, python=PY)
    pr.enable_profiling()
    try:
        offset = 3                                   # a closure, as in a notebook

        def heavy(x):
            return sum(i * i for i in range(x)) + offset

        assert pool.map(heavy, range(200), chunksize=10) == [heavy(x) for x in range(200)]
        stats = pr.get_stats()
        assert set(stats.workers) == {"node0-0", "node1-0"}
        assert _calls(stats, "heavy") == 200
        per = [_calls(pr.get_stats(worker=w), "heavy") for w in ("node0-0", "node1-0")]
        assert sum(per) == 200 and all(per)
        pool.map(heavy, range(10), profile=False)
        assert _calls(pr.get_stats(), "heavy") == 200
    finally:
        pr.disable_profiling()
        pr.clear_stats()
        pool.clear()
