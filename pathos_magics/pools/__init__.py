"""Pools with the pathos API: ``from pathos_magics.pools import ProcessPool``.

Every pool has map, imap, uimap, amap, apipe, pipe, close, join, clear,
restart, terminate, and is a context manager.  The pathos names are aliases.
"""
from __future__ import annotations

import multiprocess as _mp
import multiprocess.dummy as _mp_dummy

from .base import AbstractPool, cpu_count, shutdown
from .process import ProcessPool
from .serial import SerialPool
from .thread import ThreadPool

# pathos's aliases
ProcessingPool = ProcessPool
ThreadingPool = ThreadPool
# pathos exposes the raw multiprocess pools under these names
_ProcessPool = _mp.Pool
_ThreadPool = _mp_dummy.Pool

__all__ = ["AbstractPool", "SerialPool", "ThreadPool", "ProcessPool",
           "ProcessingPool", "ThreadingPool", "cpu_count", "shutdown"]
