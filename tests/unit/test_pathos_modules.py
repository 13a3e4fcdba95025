"""pathos's module names (multiprocessing, threading, serial, parallel, maps)
are thin faces: the same classes as pathos_magics.pools, pathos's extra names."""
from __future__ import annotations

import dill
import multiprocess.dummy
import multiprocess.pool
import pytest

from pathos_magics import maps, multiprocessing, parallel, pools, serial, threading
from pathos_magics.abstract_launcher import AbstractWorkerPool


def test_multiprocessing_names():
    assert multiprocessing.ProcessPool is pools.ProcessPool
    assert multiprocessing.ProcessingPool is pools.ProcessPool
    assert multiprocessing._ProcessPool is multiprocess.pool.Pool
    assert multiprocessing.Pool is multiprocess.pool.Pool
    assert multiprocessing.ThreadPool is multiprocess.dummy.Pool     # as in pathos
    assert multiprocessing.ThreadingPool is pools.ThreadPool
    assert multiprocessing.__all__ == ["ProcessPool", "_ProcessPool"]
    assert multiprocessing.star(pow)((2, 2)) == 4


def test_threading_and_serial_names():
    assert threading.ThreadPool is pools.ThreadPool is threading.ThreadingPool
    assert threading._ThreadPool is multiprocess.dummy.Pool
    assert threading.__all__ == ["ThreadPool", "_ThreadPool"]
    assert serial.SerialPool is serial.PythonSerial is pools.SerialPool
    assert serial.__all__ == ["SerialPool"]


def test_parallel_names():
    assert parallel.ParallelPool is pools.ParallelPool is parallel.ParallelPythonPool
    assert parallel.__all__ == ["ParallelPool", "stats"]


@pytest.mark.parametrize("module, cls", [(multiprocessing, "ProcessPool"),
                                         (threading, "ThreadPool"),
                                         (serial, "SerialPool"),
                                         (parallel, "ParallelPool")])
def test_state_is_a_live_view_of_the_cache(module, cls):
    state = getattr(module, f"_{cls}__STATE")
    assert getattr(module, "__STATE") is state
    pool_cls = getattr(module, cls)
    assert issubclass(pool_cls, AbstractWorkerPool)
    pool = pool_cls(1, id="face")
    assert "face" in state
    pool.clear()
    assert "face" not in state


def test_the_common_pathos_line():
    from pathos_magics.multiprocessing import ProcessingPool as Pool
    assert Pool(2).map(lambda x: x + 1, [1, 2, 3]) == [2, 3, 4]


def test_star_import_gives_pathos_all():
    ns: dict = {}
    exec("from pathos_magics.threading import *", ns)
    assert {"ThreadPool", "_ThreadPool"} <= set(ns)


def test_stats_of_no_pool_and_of_a_pool():
    assert parallel.stats() == "Stats are not available; no active servers.\n"
    pool = parallel.ParallelPool(2)
    assert pool.map(abs, range(20)) == list(range(20))
    text = parallel.stats(pool)
    assert "job server" in text
    assert " 20 |        100.00 |       2 | local" in text
    assert parallel.stats() == text
    pool.clear()
    assert parallel.stats(pool) == "Stats are not available for the requested servers.\n"


# ---------------------------------------------------------------- maps

def _add(*x):
    return sum(x)


def test_maps_without_a_pool_are_builtin():
    assert maps.Map()(abs, [-1, -2]) == [1, 2]
    assert maps.Map(map)(abs, [-1]) == [1]
    assert list(maps.Imap()(abs, [-3])) == [3]
    assert maps.Smap()(_add, [(1, 2), (3, 4)]) == [3, 7]
    assert list(maps.Ismap()(_add, [(1, 2)])) == [3]
    for cls in (maps.Amap, maps.Asmap, maps.Uimap):
        assert cls()(abs, [1]) is NotImplemented


@pytest.mark.parametrize("pool", [pools.SerialPool, pools.ThreadPool, pools.ProcessPool])
def test_maps_on_our_pools(pool):
    seq = [(1, 2), (3, 4), (5, 6)]
    assert maps.Map(pool, 2)(abs, [-1, -2]) == [1, 2]
    assert list(maps.Imap(pool, 2)(abs, [-1, -2])) == [1, 2]
    assert sorted(maps.Uimap(pool, 2)(abs, [-1, -2])) == [1, 2]
    assert maps.Amap(pool, 2)(abs, [-1, -2]).get(30) == [1, 2]
    assert maps.Smap(pool, 2)(_add, seq) == [3, 7, 11]        # starargs over map
    assert list(maps.Ismap(pool, 2)(_add, seq)) == [3, 7, 11]
    assert maps.Asmap(pool, 2)(_add, seq).get(30) == [3, 7, 11]


def test_map_options_close_join_clear_the_pool():
    m = maps.Map(pools.ThreadPool, 2, clear=True)
    assert (m._close, m._join, m._clear) == (True, True, True)
    assert m(abs, [-1]) == [1]
    assert m._pool.state == "cleared"
    kept = maps.Map(pools.ThreadPool, 2)
    assert kept(abs, [-1]) == [1] and kept._pool.state == "running"
    kept.close()
    with pytest.raises(ValueError):
        kept(abs, [-1])              # a closed cached pool refuses until clear
    kept.clear()
    assert kept(abs, [-1]) == [1]


def test_map_uses_a_raw_pools_star_methods():
    seq = [(2, 3), (3, 2)]
    assert maps.Smap(pools._ThreadPool, 2, close=True)(pow, seq) == [8, 9]
    assert maps.Asmap(pools._ThreadPool, 2, join=True)(pow, seq).get(30) == [8, 9]


def test_a_map_copies_and_acts_as_a_function():
    m = maps.Map(pools.ThreadPool, 2)
    assert dill.copy(m)(abs, [-5]) == [5]
    assert m.__self__ is m and m.__func__ is maps.Map.__call__
