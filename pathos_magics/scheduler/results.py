"""What a map hands back: an AsyncResult, or an ordered/unordered iterator.

They wait on the scheduler in short slices, so Ctrl-C in the notebook lands
at once; an interrupted wait cancels the map (workers stop their tasks) and
re-raises KeyboardInterrupt.
"""
from __future__ import annotations

from typing import Any, Iterator, Optional

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


def iter_ordered(scheduler: Scheduler, m: Map) -> Iterator[Any]:
    """Yield results in input order as soon as each is ready."""
    m.streaming = True
    pos = 0
    try:
        while True:
            scheduler.wait(m, lambda: pos in m.results or m.ended)
            chunk = m.results.pop(pos, None)
            if chunk is not None:
                pos += len(chunk)
                yield from chunk
            elif m.state is MapState.DONE:
                scheduler.flush_events()
                return
            elif m.ended:
                raise m.error
    except KeyboardInterrupt:
        scheduler.cancel(m)
        raise
    finally:
        if m.running:          # abandoned half-way
            scheduler.abandon(m)


def iter_unordered(scheduler: Scheduler, m: Map) -> Iterator[Any]:
    """Yield results in the order they finish."""
    m.streaming = True
    try:
        while True:
            scheduler.wait(m, lambda: bool(m.arrivals) or m.ended)
            if m.arrivals:
                yield from m.arrivals.popleft()
            elif m.state is MapState.DONE:
                scheduler.flush_events()
                return
            elif m.ended:
                raise m.error
    except KeyboardInterrupt:
        scheduler.cancel(m)
        raise
    finally:
        if m.running:
            scheduler.abandon(m)
