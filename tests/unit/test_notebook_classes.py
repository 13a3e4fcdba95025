"""Notebook classes come back as the kernel's own (issue 10, item 6), and a
result that cannot come back says so (item 7)."""
from __future__ import annotations

import re
import threading
import warnings

import pytest

from pathos_magics import classes, serialize
from pathos_magics.pools import ProcessPool, SerialPool, ThreadPool

POOLS = {
    "serial": lambda: SerialPool(),
    "thread": lambda: ThreadPool(2),
    "fork": lambda: ProcessPool(2, context="fork"),
    "spawn": lambda: ProcessPool(2, context="spawn"),
}
PROCESS_POOLS = ("fork", "spawn")

CELL = '''
import dataclasses, enum

@dataclasses.dataclass
class Particle:
    i: int
    def twice(self):
        return self.i * 2

class Color(enum.Enum):
    RED = 1
    GREEN = 2
    def shout(self):
        return self.name.upper()

class Boom(Exception):
    pass

def make(i):
    return Particle(i)

def grow(p):
    return Particle(p.twice())

def paint(i):
    return Color(i)

def describe(c):
    return (c.shout(), c)

def explode(i):
    raise Boom(f"task {i}")
'''


def notebook():
    """The cell, run as a notebook runs it: its classes live in __main__."""
    ns = {"__name__": "__main__"}
    exec(CELL, ns)
    return ns


@pytest.fixture(params=list(POOLS))
def pool(request):
    p = POOLS[request.param]()
    yield p
    p.clear()


def test_results_are_instances_of_the_kernels_class(pool):
    nb = notebook()
    Particle = nb["Particle"]
    out = pool.map(nb["make"], range(4))
    assert all(isinstance(p, Particle) for p in out)
    assert out == [Particle(i) for i in range(4)]          # dataclass __eq__
    again = pool.map(nb["grow"], out)                        # notebook instances as input
    assert again == [Particle(2 * i) for i in range(4)] and type(again[0]) is Particle


def test_a_notebook_enum_works_both_ways_without_warnings(pool, capfd):
    nb = notebook()
    Color = nb["Color"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                         # dill's PicklingWarning
        members = pool.map(nb["paint"], [1, 2, 1])
        described = pool.map(nb["describe"], [Color.RED, Color.GREEN])
    assert members[0] is Color.RED and members[1] is Color.GREEN
    assert described == [("RED", Color.RED), ("GREEN", Color.GREEN)]
    assert described[1][1] is Color.GREEN
    assert "Warning" not in capfd.readouterr().err


def test_a_notebook_exception_is_raised_as_the_kernels_class(pool):
    nb = notebook()
    with pytest.raises(nb["Boom"], match="task 2"):
        pool.map(nb["explode"], [2])


def test_a_class_redefined_meanwhile_stays_the_one_the_map_used():
    pool = POOLS["spawn"]()
    try:
        nb = notebook()
        first = nb["Particle"]
        assert type(pool.map(nb["make"], [1])[0]) is first
        exec(CELL, nb)                                         # the cell runs again
        assert type(pool.map(nb["make"], [1])[0]) is nb["Particle"] is not first
    finally:
        pool.clear()


def test_an_enum_class_rebuilt_by_value_keeps_members_and_methods():
    nb = notebook()
    blob = serialize.dumps_data([nb["Color"].GREEN])
    tokens = dict(classes._HOME)
    classes._HOME.clear()                                      # as in another process
    try:
        member = serialize.loads_data(blob)[0]
    finally:
        classes._HOME.update(tokens)
    assert member is not nb["Color"].GREEN and member.value == 2
    assert member.shout() == "GREEN" and [m.name for m in type(member)] == ["RED", "GREEN"]


# ------------------------------------------------------------ item 7

def lock_at_3(i):
    return threading.Lock() if i == 3 else i


def generator(i):
    yield i


def nested_lock(i):
    return {"k": [threading.Lock()]}


@pytest.mark.parametrize("kind", PROCESS_POOLS)
@pytest.mark.parametrize("func,index,words", [
    (lock_at_3, 3, ["a _thread.lock", "return the data they guard"]),
    (generator, None, ["a generator", "list(...)", "yield"]),     # every task fails:
    (nested_lock, None, ["a dict holding a _thread.lock"]),       # the first back says
])
def test_a_result_that_cannot_come_back_says_which_and_why(kind, func, index, words):
    pool = POOLS[kind]()
    try:
        with pytest.raises(serialize.ResultNotSent) as info:
            pool.map(func, range(5))
        text = str(info.value)
        task = r"\d" if index is None else str(index)
        assert re.match(rf"the result of task {task} cannot come back from its worker", text)
        assert "to a worker" not in text
        for word in words:
            assert word in text
        assert pool.map(abs, [-1, -2]) == [1, 2]                # the pool still works
    finally:
        pool.clear()
