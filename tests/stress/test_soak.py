"""A soak: pools made and cleared over and over, many maps, remote and MPI
pools, with the process's file descriptors, threads, child processes and
memory measured at the start and at the end.

CI runs the short form (well under a minute).  ``PATHOS_MAGICS_SOAK=N``
multiplies every count by N for a long run, e.g. ``PATHOS_MAGICS_SOAK=50
pytest tests/stress -s`` (500 pool cycles, 2,000 maps...).  ``-s`` shows the
report.
"""
from __future__ import annotations

import gc
import os
import sys
import threading
from dataclasses import dataclass

import psutil
import pytest

from pathos_magics.pools import MpiPool, ParallelPool, ProcessPool, ThreadPool

pytestmark = pytest.mark.integration

SCALE = int(os.environ.get("PATHOS_MAGICS_SOAK", "1"))
PY = sys.executable

# What may grow over a soak, short or long: a few descriptors and threads
# (lazy caches, logging handlers), no process, a little memory.
MAX_FDS, MAX_THREADS, MAX_CHILDREN, MAX_RSS_MB = 8, 2, 0, 40


@dataclass(frozen=True)
class Usage:
    fds: int
    threads: int
    children: int
    rss_mb: float

    @classmethod
    def now(cls) -> "Usage":
        gc.collect()
        me = psutil.Process()
        kids = [p for p in me.children(recursive=True) if _alive(p)]
        return cls(me.num_fds(), threading.active_count(), len(kids),
                   me.memory_info().rss / 2**20)

    def growth(self, later: "Usage") -> "Usage":
        return Usage(later.fds - self.fds, later.threads - self.threads,
                     later.children - self.children, later.rss_mb - self.rss_mb)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in \
            " ".join(p.cmdline())
    except psutil.Error:
        return False


def _square(x):
    return x * x


_by_value = lambda x: x * x      # noqa: E731 - remote workers cannot import this file
def _round(cycles: int, maps: int, remote: bool, mpi: bool) -> None:
    """One unit of work of every kind; every pool is cleared at the end."""
    for _ in range(cycles):
        with ProcessPool(2) as pool:
            assert pool.map(_square, range(20)) == [x * x for x in range(20)]
        pool.clear()
        tp = ThreadPool(2)
        assert tp.map(_square, range(20)) == [x * x for x in range(20)]
        tp.clear()
    pool = ProcessPool(2)
    for i in range(maps):
        assert sum(pool.imap(_square, range(i % 7 + 1))) == \
            sum(x * x for x in range(i % 7 + 1))
    pool.clear()
    if remote:
        rp = ParallelPool(servers={"node0": 1, "node1": 1}, ncpus=0, python=PY)
        assert rp.map(_by_value, range(30)) == [x * x for x in range(30)]
        rp.clear()
    if mpi:
        mp = MpiPool(1)
        assert mp.map(_by_value, range(10)) == [x * x for x in range(10)]
        mp.clear()


def test_soak_leaves_no_growth(net):
    _round(1, 2, remote=True, mpi=True)          # warm up: imports, lazy caches
    start = Usage.now()
    rounds = 6 * SCALE
    for r in range(rounds):
        _round(cycles=3, maps=20, remote=r % 3 == 0, mpi=r % 3 == 1)
    end = Usage.now()
    grew = start.growth(end)
    print(f"\nsoak x{SCALE}: {rounds} rounds, {rounds * 3} process+thread pool "
          f"cycles, {rounds * 20} maps\n  start {start}\n  end   {end}\n  growth {grew}")
    assert grew.children <= MAX_CHILDREN, (start, end)
    assert grew.fds <= MAX_FDS, (start, end)
    assert grew.threads <= MAX_THREADS, (start, end)
    assert grew.rss_mb <= MAX_RSS_MB, (start, end)
