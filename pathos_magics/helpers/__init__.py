"""pathos.helpers, re-implemented: cpu_count, freeze_support, shutdown, mp.

``mp`` is the multiprocess module (pathos's fork of multiprocessing that
pickles with dill), ``mp_helper`` has ``starargs`` and ``random_state``;
``ProcessPool`` and ``ThreadPool`` here are multiprocess's own raw pools, as
in pathos (the pathos_magics pools are in :mod:`pathos_magics.pools`).
"""
from __future__ import annotations

import multiprocess as mp
import multiprocess.dummy
import multiprocess.pool
from multiprocess import freeze_support

from ..pools import cpu_count, shutdown
from . import mp_helper

ProcessPool = mp.pool.Pool           # a class, as pathos.helpers.ProcessPool
ThreadPool = mp.dummy.Pool

__all__ = ["cpu_count", "freeze_support", "shutdown", "mp", "mp_helper",
           "ProcessPool", "ThreadPool"]
