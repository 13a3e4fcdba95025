"""pathos.serial: ``from pathos_magics.serial import SerialPool``.

:class:`pathos_magics.pools.SerialPool` runs each task in the caller's
thread, through the same scheduler as the parallel pools.  It has the whole
pool API (pathos's has map, imap and pipe) and ``map`` returns a list
(pathos's returns the builtin ``map`` iterator; ``list(...)`` of either works).
"""
from __future__ import annotations

from .abstract_launcher import AbstractWorkerPool  # noqa: F401 - pathos's names
from .pools import SerialPool

__all__ = ["SerialPool"]

PythonSerial = SerialPool            # pathos's backward-compatible name

#: The cached pools of this type, by id (a live view; pathos's ``__STATE``).
__STATE = _SerialPool__STATE = SerialPool.__state__
