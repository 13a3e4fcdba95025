"""pathos_magics.abstract_launcher: pathos's base classes, and every pool is one."""
from __future__ import annotations

import pytest

from pathos_magics.abstract_launcher import AbstractPipeConnection, AbstractWorkerPool
from pathos_magics.pools import ProcessPool, SerialPool, ThreadPool


class _Bare(AbstractWorkerPool):
    """A subclass that overrides nothing, as a user's first draft of a pool."""


@pytest.mark.parametrize("cls", [SerialPool, ThreadPool, ProcessPool])
def test_every_pool_is_an_abstract_worker_pool(cls):
    assert issubclass(cls, AbstractWorkerPool)


def test_the_base_leaves_the_work_to_subclasses():
    pool = _Bare()
    for name in ("map", "imap", "uimap", "amap", "pipe", "apipe"):
        with pytest.raises(NotImplementedError):
            getattr(pool, name)(abs, [1])
    with pytest.raises(NotImplementedError):
        pool._serve()
    with pytest.raises(NotImplementedError):
        pool.clear()
    assert repr(pool) == "<pool _Bare()>"
    assert pool._id is None and _Bare(id="x")._id == "x"
    with pool as p:
        assert p is pool


def test_the_private_filters_pathos_pools_call():
    pool = _Bare()
    with pytest.raises(TypeError, match="at least two"):
        pool._AbstractWorkerPool__map(abs)
    with pytest.raises(TypeError, match="at least two"):
        pool._AbstractWorkerPool__imap(abs)
    assert pool._AbstractWorkerPool__map(abs, [1]) is None
    assert pool._AbstractWorkerPool__get_nodes() == 1
    with pytest.raises(TypeError, match="read-only"):
        pool._AbstractWorkerPool__set_nodes(3)
    with pytest.raises(TypeError, match="multiple values"):
        _Bare(2, nodes=3)


def test_a_subclass_with_its_own_nodes_keeps_them():
    class Sized(AbstractWorkerPool):
        def __init__(self, nodes=2):
            self.__nodes = nodes          # pathos's pools keep it like this
            super().__init__()

    assert Sized(5)._Sized__nodes == 5


def test_pathos_private_node_count_reads_nodes():
    pool = ThreadPool(3)
    assert pool._ThreadPool__nodes == 3
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        pool.missing


def test_pipe_connection_repr():
    assert repr(AbstractPipeConnection()) == "<pipe AbstractPipeConnection>"
