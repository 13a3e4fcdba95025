"""pathos.helpers, re-implemented: cpu_count, freeze_support, shutdown, mp."""
from __future__ import annotations

import multiprocess as mp
import multiprocess.pool
from multiprocess import freeze_support

from .pools.base import shutdown
from .system import cpu_count

ProcessPool = mp.pool.Pool           # a class, as pathos.helpers.ProcessPool
ThreadPool = mp.dummy.Pool if hasattr(mp, "dummy") else None

__all__ = ["cpu_count", "freeze_support", "shutdown", "mp", "ProcessPool", "ThreadPool"]
