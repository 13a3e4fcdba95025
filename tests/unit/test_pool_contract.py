"""The contract every pool keeps, run once per pool (and start method)."""
from __future__ import annotations

import operator
import threading

import pytest

from pathos_magics import events
from pathos_magics.errors import PoolClosedError, SerializationError
from pathos_magics.pools import ProcessPool, SerialPool, ThreadPool

POOLS = {
    "serial": lambda: SerialPool(),
    "thread": lambda: ThreadPool(2),
    "fork": lambda: ProcessPool(2, context="fork"),
    "spawn": lambda: ProcessPool(2, context="spawn"),
}


@pytest.fixture(params=list(POOLS))
def pool(request):
    p = POOLS[request.param]()
    yield p
    p.clear()


def square(x):
    return x * x


def test_map_matches_builtin_map(pool):
    assert pool.map(lambda x: x ** 2, range(10)) == [x ** 2 for x in range(10)]
    assert pool.map(pow, [1, 2, 3], [4, 5, 6]) == [1, 32, 729]
    assert pool.map(square, []) == []
    assert pool.map(operator.add, "abc", "xyz") == ["ax", "by", "cz"]


def test_map_of_many_items_keeps_order(pool):
    n = 20_000
    assert pool.map(lambda x: x + 1, range(n)) == list(range(1, n + 1))


def test_map_over_generator_and_unequal_lengths(pool):
    assert pool.map(square, (i for i in range(5))) == [0, 1, 4, 9, 16]
    assert pool.map(operator.add, [1, 2, 3], [10, 20]) == [11, 22]


def test_imap_is_ordered_and_lazy(pool):
    it = pool.imap(square, range(50))
    assert next(it) == 0
    assert list(it) == [x * x for x in range(1, 50)]
    # lazy over an endless generator: only what is taken is needed
    import itertools
    endless = pool.imap(square, itertools.count())
    assert [next(endless) for _ in range(5)] == [0, 1, 4, 9, 16]
    endless.close()


def test_uimap_yields_every_result(pool):
    assert sorted(pool.uimap(square, range(100))) == [x * x for x in range(100)]
    assert sorted(pool.uimap(pow, [2, 3], [2, 2])) == [4, 9]


def test_amap_apipe_pipe(pool):
    r = pool.amap(square, range(6))
    assert r.get(timeout=30) == [0, 1, 4, 9, 16, 25]
    assert r.ready() and r.successful()
    r.wait(1)
    p = pool.apipe(lambda x, y=0: x + y, 1, y=2)
    assert p.get(timeout=30) == 3
    assert pool.pipe(max, 3, 4) == 4


def test_closures_and_local_classes_travel(pool):
    offset = 10
    class Point:                                    # noqa: local class on purpose
        def __init__(self, x):
            self.x = x
    pts = pool.map(lambda x: Point(x + offset), range(3))
    assert [p.x for p in pts] == [10, 11, 12]


def test_task_error_has_type_traceback_and_index(pool):
    def fail_on_three(x):
        if x == 3:
            raise KeyError(f"bad {x}")
        return x
    with pytest.raises(KeyError) as info:
        pool.map(fail_on_three, range(8))
    exc = info.value
    assert "task 3" in " ".join(getattr(exc, "__notes__", []))
    text = str(exc.__cause__) if exc.__cause__ else "".join(
        __import__("traceback").format_tb(exc.__traceback__))
    assert 'raise KeyError(f"bad {x}")' in text
    assert pool.map(square, range(3)) == [0, 1, 4]      # still usable


def test_imap_delivers_results_before_a_failure(pool):
    def fail_late(x):
        if x == 40:
            raise ValueError("forty")
        return x
    got = []
    with pytest.raises(ValueError, match="forty"):
        for value in pool.imap(fail_late, range(50), chunksize=5):
            got.append(value)
    assert got == list(range(len(got)))
    assert all(v < 40 for v in got)


def test_unpicklable_argument_is_named_before_dispatch(pool):
    if isinstance(pool, (SerialPool, ThreadPool)):
        assert pool.map(lambda lk: type(lk).__name__, [threading.Lock()]) == ["lock"]
        return
    seen = []
    pool.subscribe(seen.append)
    with pytest.raises(SerializationError, match="lock") as info:
        pool.map(lambda lk: 1, [1, 2, threading.Lock()])
    assert "item 2" in str(info.value)
    assert not [e for e in seen if isinstance(e, events.TasksDone)]


def test_closed_pool_says_what_to_do(pool):
    pool.close()
    with pytest.raises(PoolClosedError, match="restart") as info:
        pool.map(square, [1])
    assert isinstance(info.value, ValueError)       # like pathos
    pool.join()
    pool.restart()
    assert pool.map(square, [3]) == [9]


def test_repr_says_type_nodes_and_state(pool):
    text = repr(pool)
    assert type(pool).__name__ in text and "running" in text
    pool.close()
    assert "closed" in repr(pool)


def test_events_describe_the_map(pool):
    seen = []
    pool.subscribe(seen.append)
    pool.map(square, range(100))
    kinds = [type(e).__name__ for e in seen]
    assert "MapStarted" in kinds and kinds[-1] in ("MapFinished", "WorkerBusy")
    done = [e for e in seen if isinstance(e, events.TasksDone)]
    assert sum(e.count for e in done) == 100
    finished = [e for e in seen if isinstance(e, events.MapFinished)]
    assert finished and finished[-1].state == "done" and finished[-1].done == 100


def test_bad_arguments_are_explained(pool):
    with pytest.raises(TypeError, match="at least two arguments"):
        pool.map(square)
    with pytest.raises(TypeError, match="not callable"):
        pool.map(3, [1])
    with pytest.raises(ValueError, match="chunksize"):
        pool.map(square, [1], chunksize=0)


def _stop_at_two(x):
    if x == 2:
        raise StopIteration("no more")
    return x


def test_task_raising_stopiteration_is_an_error_not_a_short_result(pool):
    with pytest.raises((StopIteration, RuntimeError)):
        pool.map(_stop_at_two, range(5))
    assert pool.map(abs, [-1]) == [1]
