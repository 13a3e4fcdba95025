"""What a map hands back: an AsyncResult, or an ordered/unordered iterator.

They wait on the scheduler in short slices, so Ctrl-C in the notebook lands
at once; an interrupted wait cancels the map (workers stop their tasks) and
re-raises KeyboardInterrupt.
"""
from __future__ import annotations

import weakref
from typing import Any, Optional

import multiprocess

from ..errors import PathosMagicsError
from .control import Scheduler
from .tasks import Map, MapState


class TimeoutError(PathosMagicsError, multiprocess.TimeoutError):  # noqa: A001
    """``get(timeout)`` ran out of time; the map keeps running."""


class AsyncResult:
    """The handle of ``amap``/``apipe``: like multiprocessing's AsyncResult."""

    def __init__(self, scheduler: Scheduler, m: Map, single: bool = False) -> None:
        self._scheduler, self._map, self._single = scheduler, m, single
        self._value: Any = None
        self._have_value = False

    def ready(self) -> bool:
        """True when the map has ended (done, failed or cancelled)."""
        if self._map.running:
            self._scheduler.wait(self._map, lambda: self._map.ended, 0)
        return self._map.ended

    def successful(self) -> bool:
        """Whether it ended without error; ValueError if not ready yet."""
        if not self.ready():
            raise ValueError(f"{self!r} is not ready: call wait() or get() first")
        return self._map.state is MapState.DONE

    def wait(self, timeout: Optional[float] = None) -> None:
        """Wait until ready, at most ``timeout`` seconds."""
        self._wait(timeout)

    def _wait(self, timeout: Optional[float]) -> bool:
        m = self._map
        try:
            ready = self._scheduler.wait(m, lambda: m.ended, timeout)
            if ready:                    # observers see the end before the caller
                self._scheduler.flush_events()
            return ready
        except KeyboardInterrupt:
            self._scheduler.cancel(m)
            raise

    def get(self, timeout: Optional[float] = None) -> Any:
        """The results (a list; one value for apipe), or the task's error."""
        if not self._wait(timeout):
            raise TimeoutError(f"no result within {timeout}s; the work goes on: "
                               "call get() again, or cancel() it")
        if self._map.state is not MapState.DONE:
            raise self._map.error
        if not self._have_value:
            value = self._map.result_list()
            self._value = value[0] if self._single else value
            self._map.results, self._map.out = {}, None
            self._have_value = True
        return self._value

    def cancel(self) -> None:
        """Stop the map's tasks now."""
        self._scheduler.cancel(self._map)

    def __repr__(self) -> str:
        m = self._map
        return f"<AsyncResult {m.kindname} {m.state} {m.done}/{m.total}>"


class ResultIterator:
    """What ``imap`` (``ordered``) and ``uimap`` return: results as they
    are ready, read lazily from the workers.

    Taking a result lets the scheduler read further into the input (a
    streamed map reads only a bounded way ahead of its consumer).  Closing
    the iterator, or dropping the last reference to it, stops the map; an
    interrupt while waiting cancels it.
    """

    def __init__(self, scheduler: Scheduler, m: Map, ordered: bool) -> None:
        self._scheduler, self._map, self._ordered = scheduler, m, ordered
        self._buffer: list = []
        self._pos = 0                        # the next input index (ordered)
        # stops the map when the iterator is collected without being closed,
        # without keeping the iterator itself alive
        self._finalizer = weakref.finalize(self, _abandon, scheduler, m)
        self._finalizer.atexit = False       # the pools' own exit hook stops them

    def __iter__(self) -> "ResultIterator":
        return self

    def __next__(self) -> Any:
        if not self._buffer:
            self._buffer = self._next_chunk()
            self._buffer.reverse()
        return self._buffer.pop()

    def _next_chunk(self) -> list:
        m, scheduler = self._map, self._scheduler
        try:
            while True:
                scheduler.wait(m, self._ready)
                chunk = self._take()
                if chunk is not None:
                    scheduler.consumed(m, len(chunk))
                    return chunk
                if m.state is MapState.DONE:
                    scheduler.flush_events()
                    self._finalizer.detach()
                    raise StopIteration
                if m.ended:
                    self._finalizer.detach()
                    raise m.error
        except KeyboardInterrupt:
            self._finalizer.detach()
            scheduler.cancel(m)
            raise

    def _ready(self) -> bool:
        m = self._map
        waiting = (self._pos in m.results) if self._ordered else bool(m.arrivals)
        return waiting or m.ended

    def _take(self) -> Optional[list]:
        m = self._map
        if not self._ordered:
            return m.arrivals.popleft() if m.arrivals else None
        chunk = m.results.pop(self._pos, None)
        if chunk is not None:
            self._pos += len(chunk)
        return chunk

    def close(self) -> None:
        """Stop the map now (what the rest of its results would have cost)."""
        self._finalizer()

    def __repr__(self) -> str:
        m = self._map
        return f"<{m.kindname} iterator {m.state} {m.done}/{m.total}>"


def _abandon(scheduler: Scheduler, m: Map) -> None:
    if m.running:
        scheduler.abandon(m)


def iter_ordered(scheduler: Scheduler, m: Map) -> ResultIterator:
    """Results in input order as soon as each is ready."""
    return ResultIterator(scheduler, m, ordered=True)


def iter_unordered(scheduler: Scheduler, m: Map) -> ResultIterator:
    """Results in the order they finish."""
    return ResultIterator(scheduler, m, ordered=False)
