"""How maps are cut before the task time is known: time-boxed first chunks of
cheap items, PROBE-sized ones of costly items, and the rest cut again."""
from __future__ import annotations

import itertools
import time

import pytest

from pathos_magics import tasks, wire, worker
from pathos_magics.pools import ProcessPool, ThreadPool


def new_map(items, chunksize=None):
    return tasks.Map(0, abs, wire.SINGLE, items, True, chunksize, "map")


@pytest.mark.parametrize("items,expect", [
    (range(100_000), 12_500),                     # a range costs nothing to send
    (list(range(100_000)), 12_500),               # small ints pickle small
    ([bytes([i]) * 100_000 for i in range(200)], tasks.PROBE),   # 100 kB each
])
def test_first_chunks_are_as_big_as_their_items_allow(items, expect):
    m = new_map(items)
    assert tasks.auto_size(m, 2) == expect


def test_a_lazy_input_is_probed_a_few_items_at_a_time():
    m = tasks.Map(0, abs, wire.SINGLE, iter(range(1000)), True, None, "imap")
    assert tasks.auto_size(m, 2) == tasks.PROBE


def test_only_big_chunks_cut_before_the_task_time_is_known_get_a_time_box():
    m = new_map(range(1000))
    big, _ = tasks.cut(m, 100, 1)
    small, _ = tasks.cut(m, tasks.PROBE, 2)
    assert tasks.is_probe(m, big) and not tasks.is_probe(m, small)
    m.t_task = 1e-6
    assert not tasks.is_probe(m, big)
    assert not tasks.is_probe(new_map(range(1000), chunksize=100), big)


def test_the_rest_of_a_boxed_chunk_is_cut_to_the_task_time():
    m = new_map(range(10_000))
    chunk, _ = tasks.cut(m, 1000, 1)
    m.t_task = 0.05                                    # slow: 4 tasks fill CHUNK_MAX_S
    rest = tasks.rest_of(m, chunk, 3, itertools.count(10), 2)
    assert [c.start for c in rest][:3] == [3, 7, 11]
    assert sum(len(c.items) for c in rest) == 997
    assert list(itertools.chain.from_iterable(c.items for c in rest)) == list(range(3, 1000))


def test_a_worker_stops_a_boxed_chunk_after_its_budget():
    def slow(x):
        time.sleep(0.01)
        return x
    results: list = []
    worker._run_boxed(slow, wire.SINGLE, range(1000), results, 0.05)
    assert results == list(range(len(results))) and 1 <= len(results) < 64
    fast: list = []
    worker._run_boxed(abs, wire.SINGLE, range(-5000, 0), fast, 10.0)
    assert fast == [abs(x) for x in range(-5000, 0)]


@pytest.mark.parametrize("pool_type", [ProcessPool, ThreadPool])
def test_maps_whose_first_tasks_are_slow_come_back_whole_and_in_order(pool_type):
    def first_slow(x):
        if x < 8:
            time.sleep(0.02)
        return x * 2
    pool = pool_type(2)
    try:
        assert pool.map(first_slow, range(3000)) == [x * 2 for x in range(3000)]
        assert sorted(pool.uimap(first_slow, range(500))) == [x * 2 for x in range(500)]
    finally:
        pool.clear()


def test_a_failure_inside_a_boxed_chunk_names_its_task():
    def fails_at_1234(x):
        if x == 1234:
            raise KeyError(x)
        return x
    pool = ProcessPool(2)
    try:
        with pytest.raises(KeyError) as info:
            pool.map(fails_at_1234, range(5000))
        assert "1234" in str(info.value.__cause__ or info.value)
    finally:
        pool.clear()
