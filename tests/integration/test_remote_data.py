"""Data through remote workers (issue 10): notebook classes come home as the
kernel's own, numpy arrays both ways (results come back as frames of their
own through the ssh channel), and a result that cannot come back says so."""
from __future__ import annotations

import sys

import pytest

from pathos_magics import serialize
from pathos_magics.pools.parallel import ParallelPool

np = pytest.importorskip("numpy")

pytestmark = pytest.mark.integration

PY = sys.executable       # the hosts share this file system: same venv

CELL = '''
import dataclasses, enum, threading

@dataclasses.dataclass
class Particle:
    i: int

class Color(enum.Enum):
    RED = 1
    GREEN = 2

def make(i):
    return Particle(i)

def paint(c):
    return Color(c.value)

def lock_at_1(i):
    return threading.Lock() if i == 1 else i
'''


@pytest.fixture
def remote(net):
    pool = ParallelPool(0, servers={"node0": 2}, python=PY)
    yield pool
    pool.clear()


def test_notebook_classes_come_back_as_the_kernels_own(remote):
    nb = {"__name__": "__main__"}
    exec(CELL, nb)
    assert {w.host for w in remote.workers} == {"node0"}
    out = remote.map(nb["make"], range(5))
    assert out == [nb["Particle"](i) for i in range(5)]
    assert all(type(p) is nb["Particle"] for p in out)
    Color = nb["Color"]
    assert remote.map(nb["paint"], [Color.GREEN, Color.RED]) == [Color.GREEN, Color.RED]
    assert remote.map(nb["paint"], [Color.GREEN])[0] is Color.GREEN


def test_arrays_both_ways(remote):
    xs = [np.full(100_000, i, dtype=np.float64) for i in range(6)]
    out = remote.map(lambda a: np.repeat(a, 4), xs)
    assert all(o.shape == (400_000,) and (o == i).all() for i, o in enumerate(out))
    assert out[0].flags.writeable


def test_a_result_that_cannot_come_back_names_its_task(remote):
    nb = {"__name__": "__main__"}
    exec(CELL, nb)
    with pytest.raises(serialize.ResultNotSent,
                       match="the result of task 1 cannot come back from its worker"):
        remote.map(nb["lock_at_1"], range(3))
