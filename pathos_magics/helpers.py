"""pathos.helpers, re-implemented: cpu_count, freeze_support, shutdown, mp."""
from __future__ import annotations

import multiprocess as mp
import multiprocess.pool
from multiprocess import freeze_support

from .pools.base import cpu_count, shutdown

ProcessPool = mp.pool.Pool           # a class, as pathos.helpers.ProcessPool
ThreadPool = mp.dummy.Pool if hasattr(mp, "dummy") else None

__all__ = ["cpu_count", "freeze_support", "shutdown", "mp", "ProcessPool", "ThreadPool"]
