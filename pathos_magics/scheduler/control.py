"""The scheduler's caller side: waiting, cancelling, closing.

``Scheduler`` is the class pools use: the core (core.py) with worker-loss
handling (recovery.py), plus what the caller's thread does: wait for a map
in short slices (so Ctrl-C lands; a serial pool's tasks run inside these
waits), cancel one, and close, join or terminate the pool.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from ..errors import PoolClosedError
from .deadlines import Deadlines
from .tasks import Map, MapState

_log = logging.getLogger(__name__)

WAIT_SLICE = 0.1        # waits wake this often, so KeyboardInterrupt lands
STOP_GRACE = 1.0        # terminate(): cancelled tasks get this long before SIGTERM
REPLACEMENT_WAIT = 10.0 # stopping waits this long for a replacement being started


class Scheduler(Deadlines):
    """Feeds the maps of one pool to its workers; see core.SchedulerCore."""

    stopped = False          # its workers have been stopped (join/terminate)

    # ------------------------------------------------------------ waiting

    def wait(self, m: Map, until: Callable[[], bool],
             timeout: Optional[float] = None) -> bool:
        """Wait (in short slices) until ``until()`` under the lock; False on
        timeout.  Runs serial-worker chunks while waiting."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if until():
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                if not self._pump_one():
                    self._changed.wait(WAIT_SLICE if left is None
                                       else min(WAIT_SLICE, left))

    def _pump_one(self) -> bool:
        ran = False
        for t in self._pumps:
            ran = t.pump() or ran
        return ran

    # ------------------------------------------------------------ cancel

    def cancel(self, m: Map, reason: Optional[BaseException] = None) -> None:
        """Stop a map now: queued chunks dropped, running ones interrupted.

        Waits up to ``cancel_timeout`` for workers to confirm; a worker that
        does not is killed (and replaced), so the next map finds it free.
        """
        with self._lock:
            self._fail(m, reason or KeyboardInterrupt(), MapState.CANCELLED)
        self._flush_events()
        # every worker answers for its chunks of m (a serial worker's are
        # answered as the wait pumps it)
        self.wait(m, lambda: m.inflight <= 0, self.cancel_timeout)
        with self._lock:
            stuck = [w for w in self._workers
                     if any(c.map is m for c in w.inflight.values())]
        for w in stuck:
            _log.warning("worker %s did not stop its task within %.1fs; killing it",
                         w.label, self.cancel_timeout)
            w.kill()
        self._flush_events()

    def abandon(self, m: Map) -> None:
        """Its consumer went away: stop feeding it, without waiting."""
        with self._lock:
            self._fail(m, PoolClosedError("the iterator was closed"), MapState.CANCELLED)
        self._flush_events()

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Take no new maps; running ones finish."""
        with self._lock:
            if self.state == "running":
                self.state = "closed"

    def join(self, timeout: Optional[float] = None) -> None:
        """After close(): wait for running maps, then stop the workers."""
        with self._lock:
            if self.state == "running":
                raise ValueError(f"{self.name} is still running: call close() "
                                 "or terminate() before join()")
            maps = list(self._maps.values())
        for m in maps:
            self.wait(m, lambda m=m: m.ended, timeout)
        self._stop_workers(timeout=5.0)

    def terminate(self, why: str = "terminated") -> None:
        """Cancel every map and stop every worker, within a bound: a task
        that ignores the cancel is ended by SIGTERM, then SIGKILL."""
        with self._lock:
            self.state = "terminated"
            for m in list(self._maps.values()):
                self._fail(m, PoolClosedError(f"{self.name} was {why} "
                                              "while this map ran."), MapState.CANCELLED)
        self._flush_events()
        self._stop_workers(timeout=STOP_GRACE)

    def shutdown(self, why: str = "cleared", drain: float = 0.0) -> None:
        """Let running maps finish for up to ``drain`` seconds, then
        :meth:`terminate`; safe against Ctrl-C: interrupted, it still ends
        every worker at once (SIGTERM, SIGKILL), then re-raises."""
        try:
            if drain > 0:
                self._drain(drain)
            self.terminate(why)
        except BaseException:
            self._stop_now()
            raise

    def _drain(self, timeout: float) -> None:
        self.close()
        with self._lock:
            maps = list(self._maps.values())
        deadline = time.monotonic() + timeout
        for m in maps:
            left = deadline - time.monotonic()
            if left <= 0 or not self.wait(m, lambda m=m: m.ended, left):
                _log.warning("%s: a map still running after %.0fs is cancelled",
                             self.name, timeout)
                return

    def _stop_now(self) -> None:
        with self._lock:
            self.state = "terminated"
            self._take_workers()
        for t in self._transports:
            try:
                t.close(0.0)
            except Exception:          # noqa: BLE001 - the others must stop too
                _log.exception("stopping the workers of %s failed", self.name)
        self.stopped = True

    def _stop_workers(self, timeout: float) -> None:
        with self._lock:
            if self.state == "running":
                self.state = "closed"
            self._wait_for_replacements()
            self._take_workers()
        for t in self._transports:
            t.close(timeout)
        self.stopped = True
        self._flush_events()

    def _wait_for_replacements(self) -> None:
        """(Under the lock.) A replacement being started now would miss the
        stop: wait for it (bounded), so the transport stops it with the rest.
        One that comes up later still is refused by its closed transport."""
        deadline = time.monotonic() + REPLACEMENT_WAIT
        while self._replacing:
            left = deadline - time.monotonic()
            if left <= 0:
                _log.warning("%s: a replacement worker is still starting after "
                             "%.0fs; stopping without it", self.name, REPLACEMENT_WAIT)
                return
            self._changed.wait(min(WAIT_SLICE, left))

    def _take_workers(self) -> None:
        for w in self._workers:
            w.lost = True
        self._workers = []
