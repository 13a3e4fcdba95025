"""Notebook workloads the core benchmarks miss (issue 10): a few long
tasks, generators, endless inputs, maps side by side.  Which worker ran each
task is what is checked, not how long it took."""
from __future__ import annotations

import itertools
import os
import threading
import time

import pytest

from pathos_magics.pools import ProcessPool, SerialPool, ThreadPool


def _who(x):
    time.sleep(0.2)
    return os.getpid() if _in_process() else threading.get_ident()


def _in_process():
    import multiprocessing
    return multiprocessing.current_process().name != "MainProcess" or \
        not threading.current_thread().name.startswith("pathos-thread")


POOLS = [pytest.param(lambda: ProcessPool(4), id="fork"),
         pytest.param(lambda: ProcessPool(4, context="spawn"), id="spawn"),
         pytest.param(lambda: ThreadPool(4), id="thread")]


@pytest.mark.parametrize("make", POOLS)
@pytest.mark.parametrize("n", [2, 3, 4])
def test_a_few_long_tasks_go_one_to_each_worker(make, n):
    pool = make()
    try:
        for _ in range(2):                    # and again on a repeated call
            ran_on = pool.map(_who, range(n))
            assert len(set(ran_on)) == n, ran_on
    finally:
        pool.clear()


@pytest.mark.parametrize("make", POOLS)
@pytest.mark.parametrize("method", ["imap", "uimap", "amap"])
def test_a_generator_of_a_few_long_tasks_uses_every_worker(make, method):
    pool = make()
    try:
        items = (i for i in range(8))
        out = getattr(pool, method)(_who, items)
        ran_on = out.get() if method == "amap" else list(out)
        assert len(set(ran_on)) == 4, ran_on
    finally:
        pool.clear()


class _Counted:
    """An endless input that counts how far it was read."""

    def __init__(self):
        self.read = 0

    def __iter__(self):
        return self

    def __next__(self):
        self.read += 1
        return self.read


@pytest.mark.parametrize("make", [*POOLS, pytest.param(SerialPool, id="serial")])
def test_a_kept_but_unconsumed_imap_stops_reading_and_lets_other_maps_run(make):
    pool = make()
    source = _Counted()
    it = pool.imap(abs, source)
    try:
        assert list(itertools.islice(it, 10)) == list(range(1, 11))
        time.sleep(0.5)                       # the workers would read on here
        first = source.read
        time.sleep(0.5)
        # stopped, a bounded way ahead (cheap tasks go in big chunks: a
        # few hundred thousand small ints at most)
        assert source.read == first < 1_000_000
        assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]   # another map is not held up
        assert next(it) == 11                 # and the kept one goes on
    finally:
        it.close()                            # its map stops
        pool.clear()


def test_amap_over_an_endless_input_returns_at_once_and_cancels():
    pool = ThreadPool(2)
    try:
        result = pool.amap(abs, itertools.count())
        assert not result.ready()
        result.cancel()
        assert result.ready() and not result.successful()
        assert pool.map(abs, [-4]) == [4]
    finally:
        pool.clear()


def test_an_async_map_does_not_hold_up_the_next_one():
    pool = ThreadPool(2)
    try:
        slow = pool.amap(time.sleep, [0.3] * 20)      # 3 s of work on 2 workers
        quick = pool.amap(abs, range(-5, 0))
        assert quick.get(timeout=30) == [5, 4, 3, 2, 1]
        assert not slow.ready()                # it was served between slow tasks
        slow.cancel()
    finally:
        pool.clear()


def test_dropping_an_imap_iterator_stops_its_map():
    pool = ThreadPool(2)
    try:
        it = pool.imap(abs, itertools.count())
        next(it)
        m = it._map
        del it
        assert m.ended
        assert pool.map(abs, [-1]) == [1]
    finally:
        pool.clear()
