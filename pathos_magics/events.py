"""Events a scheduler emits while maps run, and who hears them.

Observers (the progress widget, the text bar, the magics, tests) subscribe
either to one pool (``pool.subscribe(fn)``) or to every pool in the process
(:func:`subscribe`).  Callbacks run on the scheduler's I/O threads: they must
be quick and must not block; an observer that raises is logged and removed so
a broken display can never break a map.

Nothing here imports IPython or ipywidgets.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of every event: ``pool`` names the pool it belongs to (as its
    repr shows it, e.g. "ProcessPool(ncpus=2)"); ``time`` is
    ``time.monotonic()`` when emitted.  Events of a map carry its
    ``map_id``; events of a worker its label and, while it runs a chunk of
    a map, that map's id."""

    pool: str = field(default="", kw_only=True)
    time: float = field(default_factory=time.monotonic, kw_only=True)


@dataclass(frozen=True)
class MapStarted(Event):
    """A map (or imap/uimap/amap/apipe) was submitted.

    ``total`` is None when the length of the input is not known yet (a lazy
    imap over a generator); a later :class:`TotalKnown` gives it.
    """
    map_id: int
    total: Optional[int]
    workers: tuple[str, ...]
    kind: str = "map"
    nested: bool = False    # submitted by a task running on a worker


@dataclass(frozen=True)
class TotalKnown(Event):
    map_id: int
    total: int


@dataclass(frozen=True)
class TasksDone(Event):
    """``count`` tasks of ``map_id`` finished on ``worker``; ``done`` is the
    map's running total of finished tasks."""
    map_id: int
    worker: str
    count: int
    done: int
    total: Optional[int]


@dataclass(frozen=True)
class TaskFailed(Event):
    map_id: int
    worker: str
    index: int
    error: BaseException


@dataclass(frozen=True)
class MapFinished(Event):
    """The map ended: ``state`` is 'done', 'failed' or 'cancelled'."""
    map_id: int
    state: str
    done: int
    total: Optional[int]
    error: Optional[BaseException] = None


@dataclass(frozen=True)
class WorkerUp(Event):
    worker: str
    host: str = "localhost"
    pid: Optional[int] = None


@dataclass(frozen=True)
class WorkerBusy(Event):
    """A worker started (busy=True) or ran out of (busy=False) work."""
    worker: str
    busy: bool
    map_id: Optional[int] = None      # the map it works on (busy=True)


@dataclass(frozen=True)
class WorkerLost(Event):
    worker: str
    reason: str
    requeued: int = 0
    map_ids: tuple[int, ...] = ()    # the maps whose tasks it was running


@dataclass(frozen=True)
class Output(Event):
    """One whole line a worker wrote to ``stream`` ('stdout' or 'stderr')."""
    worker: str
    stream: str
    line: str
    map_id: Optional[int] = None      # the map whose task printed it


@dataclass(frozen=True)
class TaskStats(Event):
    """A profiled map's chunk came back from ``worker`` with its cProfile
    stats: the ``create_stats()`` dict, ``{(file, line, name): (cc, nc, tt,
    ct, callers)}``, as :mod:`pstats` reads it (see pathos_magics.profile)."""
    map_id: int
    worker: str
    stats: dict


Observer = Callable[[Event], None]


class EventBus:
    """A thread-safe list of observers; ``emit`` calls each in turn."""

    def __init__(self) -> None:
        self._observers: list[Observer] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Observer) -> Observer:
        with self._lock:
            self._observers = self._observers + [fn]
        return fn

    def unsubscribe(self, fn: Observer) -> None:
        with self._lock:
            self._observers = [o for o in self._observers if o is not fn]

    def __bool__(self) -> bool:
        return bool(self._observers)

    def emit(self, event: Event) -> None:
        for fn in self._observers:     # a copy-on-write list: no lock needed
            try:
                fn(event)
            except Exception:
                _log.exception("observer %r failed on %r; removed", fn, event)
                self.unsubscribe(fn)


#: Observers of every pool in this process.
GLOBAL = EventBus()


def subscribe(fn: Observer) -> Observer:
    """Observe the events of every pool in this process; returns ``fn``."""
    return GLOBAL.subscribe(fn)


def unsubscribe(fn: Observer) -> None:
    GLOBAL.unsubscribe(fn)


class EventQueue:
    """A pool's events: queued while the scheduler holds its lock, delivered
    in order, outside it, to the pool's observers and then the process's.

    Building an event costs; :meth:`wanted` says whether anyone listens."""

    def __init__(self, pool: str) -> None:
        self.pool = pool
        self.bus = EventBus()
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._delivering = threading.Lock()   # keeps events in order across threads

    def wanted(self) -> bool:
        return bool(self.bus) or bool(GLOBAL)

    def put(self, event: Event) -> None:
        """Queue ``event`` (safe under any lock)."""
        with self._lock:
            self._pending.append(event)

    def emit_now(self, event: Event) -> None:
        """Deliver ``event`` at once, on this thread."""
        self.bus.emit(event)
        GLOBAL.emit(event)

    def flush(self, wait: bool = False) -> None:
        """Deliver queued events; call without holding the scheduler's lock.
        With ``wait``, also wait for a delivery in progress on another thread:
        on return, observers have seen every event queued before."""
        if not self._pending and not wait:
            return
        with self._delivering:
            with self._lock:
                events, self._pending = self._pending, []
            for event in events:
                self.emit_now(event)
