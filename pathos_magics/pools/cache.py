"""The process-wide cache of running pools (pathos's ``__STATE``).

A pool object is a light handle; its workers live in a :class:`Scheduler`
kept here, keyed by the pool's type name, id (default: its node count) and
options.  So, as in pathos, a second ``ProcessPool(4)`` reuses the workers
of the first until ``clear()``, and two pools that differ in type or options
never share workers.  A pool of the same id with another size replaces the
cached one (logged).  A forked child forgets its parent's pools; at exit
every cached pool is stopped.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import MutableMapping
from typing import Any, Callable, Iterator, Optional

from ..scheduler import Scheduler

_log = logging.getLogger(__name__)

Key = tuple      # (type name, id or node count, options)

#: Live schedulers by pool key.
_STATE: dict[Key, Scheduler] = {}
_LOCK = threading.RLock()
#: Every scheduler started here, cached or not: one taken out of the cache
#: but not stopped (a Ctrl-C in clear()) is still stopped at exit.
_STARTED: "weakref.WeakSet[Scheduler]" = weakref.WeakSet()


def current(key: Key, nodes: int) -> Optional[Scheduler]:
    """The cached scheduler for ``key``, if it has ``nodes`` workers asked."""
    with _LOCK:
        sched = _STATE.get(key)
        if sched is not None and sched.nodes != nodes:
            return None
        return sched


def serve(key: Key, nodes: int, start: Callable[[], Scheduler]) -> Scheduler:
    """The cached scheduler for ``key``, or a new one from ``start()``; one
    of the same key but another size is stopped (after its running maps)."""
    replaced = None
    with _LOCK:
        sched = current(key, nodes)
        if sched is None:
            replaced = _STATE.pop(key, None)
            sched = start()
            _STATE[key] = sched
            _STARTED.add(sched)
    if replaced is not None:
        _log.info("replacing %s with %s: same pool id, another size",
                  replaced.name, sched.name)
        replaced.close()
        replaced.join()
    return sched


def forget(key: Key, nodes: int) -> Optional[Scheduler]:
    """Take ``key``'s scheduler (of that size) out of the cache; the caller stops it."""
    with _LOCK:
        sched = current(key, nodes)
        if sched is not None:
            _STATE.pop(key)
        return sched


def stop_matching(match: Callable[[Key], bool]) -> None:
    """Terminate and forget every cached pool whose key matches."""
    with _LOCK:
        scheds = [_STATE.pop(k) for k in [k for k in _STATE if match(k)]]
    for sched in scheds:
        sched.shutdown("shut down")


def stop_all() -> None:
    """Stop every pool, cached or not (at exit)."""
    stop_matching(lambda key: True)
    for sched in list(_STARTED):
        if not sched.stopped:
            sched.shutdown("stopped at exit")


class PoolState(MutableMapping):
    """``Pool.__state__`` as in pathos: one pool type's cached schedulers,
    keyed by pool id (the ``id`` given, else the number of nodes).
    Deleting (or ``clear()``) stops the pool."""

    def __init__(self, type_name: str) -> None:
        self._type = type_name

    def _keys(self) -> list:
        with _LOCK:
            return [k for k in _STATE if k[0] == self._type]

    def __getitem__(self, pool_id: Any) -> Scheduler:
        for k in self._keys():
            if k[1] == pool_id:
                return _STATE[k]
        raise KeyError(pool_id)

    def __iter__(self) -> Iterator:
        return iter([k[1] for k in self._keys()])

    def __len__(self) -> int:
        return len(self._keys())

    def __setitem__(self, pool_id: Any, sched: Scheduler) -> None:
        raise TypeError("__state__ is filled by the pools themselves")

    def __delitem__(self, pool_id: Any) -> None:
        if not any(k[1] == pool_id for k in self._keys()):
            raise KeyError(pool_id)
        stop_matching(lambda k: k[0] == self._type and k[1] == pool_id)


class StateDescriptor:
    """``PoolClass.__state__``: that class's :class:`PoolState`."""

    def __get__(self, obj: Any, owner: type) -> PoolState:
        return PoolState(owner.__name__)


def _forget_after_fork() -> None:
    # A forked worker must not touch its parent's pools (their pipes and
    # locks belong to the parent); a nested map there starts its own.
    global _LOCK
    _STATE.clear()
    _STARTED.clear()
    _LOCK = threading.RLock()


os.register_at_fork(after_in_child=_forget_after_fork)
import multiprocess.util  # noqa: E402,F401 - its atexit (joins children) must run after ours
atexit.register(stop_all)
