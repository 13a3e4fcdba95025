"""Pools with the pathos API: ``from pathos_magics.pools import ProcessPool``.

Every pool has map, imap, uimap, amap, apipe, pipe, close, join, clear,
restart, terminate, and is a context manager.  The pathos names are aliases.

    base.py      AbstractPool: the API, with pathos's semantics
    cache.py     running pools by type, size and options (pathos's __STATE)
    serial.py thread.py process.py parallel.py mpi.py   one class per backend:
                 which transports its scheduler gets
"""
from __future__ import annotations

import multiprocess.dummy as _mp_dummy
import multiprocess.pool as _mp_pool

from .base import AbstractPool, cpu_count, shutdown
from .process import ProcessPool
from .serial import SerialPool
from .thread import ThreadPool

# pathos's aliases
ProcessingPool = ProcessPool
ThreadingPool = ThreadPool
# pathos exposes the raw multiprocess pools under these names
_ProcessPool = _mp_pool.Pool            # a class, as pathos's _ProcessPool
_ThreadPool = _mp_dummy.Pool

_LAZY = {"ParallelPool": "parallel", "RemotePool": "parallel",
         "ParallelPythonPool": "parallel", "MpiPool": "mpi"}


def __getattr__(name: str):
    # paramiko and mpi4py load only when a remote or MPI pool is asked for
    if name in _LAZY:
        import importlib
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AbstractPool", "SerialPool", "ThreadPool", "ProcessPool",
           "ProcessingPool", "ThreadingPool", "ParallelPool", "RemotePool",
           "ParallelPythonPool", "MpiPool", "cpu_count", "shutdown"]
