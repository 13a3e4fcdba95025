"""The scheduler's third layer: tasks that run too long, workers that go silent.

Two checks, both off until asked for, run by one watch thread per scheduler
(started by the first map with a timeout, or at once with a liveness check)::

  per-task timeout (map(..., timeout=T), or the pool's task_timeout=T)
      A map with a timeout sends its tasks ONE per chunk, so the scheduler
      knows which task a worker runs and since when: a worker runs its
      chunks in the order sent, so its oldest chunk in flight started when
      the one before it came back (or when it was sent, if the worker was
      idle).  That time is taken on this side, after the fact, so a task
      is never stopped early; it may be stopped up to one watch tick (T/10,
      at most 0.5 s) plus the message's travel time late.
      Past T: the map fails with TaskTimeoutError naming the task, its item
      and the worker; the worker is killed and replaced.  A thread cannot be
      killed: it is interrupted (which stops Python code, not a sleep or a C
      call), abandoned with a warning, and replaced.  A serial task runs in
      the caller's thread and cannot be stopped: when it comes back late the
      map fails the same way.  A task whose result comes back late, before
      the watch saw it, fails too: the rule is the task's own run time.

  liveness (liveness_timeout=L)
      Every L/4 the watch sends each worker PING; the worker's reader thread
      (not the task) answers PONG.  Any message counts.  A worker that sent
      nothing for L seconds is stopped (SIGSTOP), frozen, cut off, or hung
      in C code that holds the GIL: it is reported lost (its chunks are
      retried on the others, as when a worker dies), killed and replaced.

Why tasks go one per chunk instead of the worker timing each task: it needs
no new message per task and no clock in the worker's hot loop, and a map
without a timeout is not touched at all (W1 unchanged).  Its cost is one
round trip per task, hidden by the window (the next task is already queued
on the worker): a few tens of microseconds a task, nothing next to tasks that
deserve a timeout.
"""
from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import Any, Optional

from .. import events as ev
from .. import tracebacks, wire
from ..errors import TaskTimeoutError
from ..transports.base import WorkerHandle
from .recovery import Recovery
from .tasks import Chunk, Map

_log = logging.getLogger(__name__)

TICK_MIN, TICK_MAX = 0.01, 0.5   # the watch wakes within these bounds
LOSS_GRACE = 5.0                 # a killed worker's transport reports it within this


def check_limit(name: str, value: Any) -> Optional[float]:
    """A timeout option as given (None: off), checked."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None "
                         f"(no limit), not {value!r}")
    return float(value)


class Deadlines(Recovery):
    """Per-task timeouts and the liveness check, on top of recovery.

    Args (besides the core's):
        task_timeout: the default per-task limit of this pool's maps, in
            seconds (None: none); ``map(..., timeout=...)`` overrides it.
        liveness_timeout: a worker silent this long is lost (None: no check).
    """

    def __init__(self, name: str, transports: list, *,
                 task_timeout: Optional[float] = None,
                 liveness_timeout: Optional[float] = None, **kwds: Any) -> None:
        self.task_timeout = check_limit("task_timeout", task_timeout)
        self.liveness_timeout = check_limit("liveness_timeout", liveness_timeout)
        self._watch: Optional[threading.Thread] = None
        self._killed: dict[int, str] = {}     # id(worker) -> why we killed it
        super().__init__(name, transports, **kwds)
        if self.liveness_timeout is not None:
            self._start_watch()

    # ------------------------------------------------------------ hooks of core

    def _clock(self, m: Map, timeout: float) -> None:
        m.timeout = check_limit("timeout", timeout)
        if m.chunksize not in (None, 1):
            raise ValueError(
                f"a map with a timeout runs its tasks one per chunk (so each "
                f"has its own deadline); drop chunksize={m.chunksize} or the timeout")
        m.chunksize = 1
        self._clocked = True
        self._start_watch()

    def _timed_out(self, worker: WorkerHandle, chunk: Chunk,
                   elapsed: float) -> BaseException:
        m = chunk.map
        index, item = chunk.start, tracebacks.short_repr(chunk.items[0])
        exc = TaskTimeoutError(
            f"task {index} (item {item}) ran {elapsed:.1f}s on worker "
            f"{worker.label}, past its timeout of {m.timeout:g}s. Make it faster, "
            "give it a longer timeout, or find why it hangs (run it alone: "
            "pool.pipe(f, item)).", index=index, item=item, worker=worker.label,
            timeout=m.timeout)
        m.error_index = index
        self._emit(ev.TaskFailed, map_id=m.id, worker=worker.label, index=index,
                   error=exc)
        return exc

    def on_lost(self, worker: WorkerHandle, reason: str) -> None:
        # a worker this layer killed: its transport reports the kill, we say why
        super().on_lost(worker, self._killed.pop(id(worker), reason))

    # ------------------------------------------------------------ the watch

    def _start_watch(self) -> None:
        """Start the watch thread unless it runs (under the lock, or in __init__)."""
        if self._watch is None:
            self._watch = threading.Thread(target=self._run_watch, daemon=True,
                                           name=f"pathos-deadlines-{self.name}")
            self._watch.start()

    def _run_watch(self) -> None:
        last_ping, tick = 0.0, TICK_MIN
        while True:
            time.sleep(tick)
            with self._lock:
                if not self._still_watching():
                    self._watch = None
                    return
                overdue, silent = self._find_overdue(), self._find_silent()
                tick = self._tick()
            self._flush_events()
            for worker, chunk in overdue:
                self._stop_overdue(worker, chunk)
            for worker, quiet in silent:
                self._stop_silent(worker, quiet)
            if (self.liveness_timeout is not None
                    and time.monotonic() - last_ping >= self.liveness_timeout / 4):
                last_ping = time.monotonic()
                self._ping()

    def _still_watching(self) -> bool:
        """Whether there is anything to watch (under the lock): a live pool
        with a liveness check, or a task with a deadline in flight."""
        if self.state != "running" and not self._workers:
            return False
        if self.liveness_timeout is not None:
            return True
        return (any(m.timeout is not None for m in self._maps.values())
                or any(c.started is not None for w in self._workers
                       for c in w.inflight.values()))

    def _tick(self) -> float:
        """How long the watch sleeps (under the lock): a tenth of the
        shortest timeout, an eighth of the liveness limit, within bounds."""
        limits = [m.timeout / 10 for m in self._maps.values() if m.timeout is not None]
        if self.liveness_timeout is not None:
            limits.append(self.liveness_timeout / 8)
        return min(TICK_MAX, max(TICK_MIN, min(limits, default=TICK_MAX)))

    def _watched(self) -> list[WorkerHandle]:
        """Workers the watch may stop: not serial ones (their tasks run in
        the caller's thread, under the lock), not those on their way out."""
        return [w for w in self._workers
                if not w.lost and not w.unreachable and w.transport not in self._pumps]

    def _find_overdue(self) -> list[tuple[WorkerHandle, Chunk]]:
        """(worker, chunk) whose running task is past its map's timeout; the
        map fails now (under the lock)."""
        now = time.monotonic()
        found = []
        for w in self._watched():
            chunk = next(iter(w.inflight.values()), None)
            if chunk is None or chunk.started is None or not chunk.map.running:
                continue
            elapsed = now - chunk.started
            if elapsed > chunk.map.timeout:
                w.unreachable = True            # no new work for it
                self._fail(chunk.map, self._timed_out(w, chunk, elapsed))
                found.append((w, chunk))
        return found

    def _find_silent(self) -> list[tuple[WorkerHandle, float]]:
        if self.liveness_timeout is None:
            return []
        now = time.monotonic()
        found = []
        for w in self._watched():
            quiet = now - w.heard
            if quiet > self.liveness_timeout:
                w.unreachable = True
                found.append((w, quiet))
        return found

    def _ping(self) -> None:
        with self._lock:
            workers = self._watched()
        for w in workers:
            try:
                w.send((wire.PING,))
            except (OSError, ValueError):
                pass                # its reader reports the loss

    # ------------------------------------------------------------ stopping

    def _stop_overdue(self, worker: WorkerHandle, chunk: Chunk) -> None:
        m = chunk.map
        reason = (f"it ran task {chunk.start} of map {m.id} past its timeout "
                  f"of {m.timeout:g}s")
        if worker.in_process:
            warnings.warn(
                f"worker {worker.label} ran task {chunk.start} past its timeout "
                f"of {m.timeout:g}s; a thread cannot be killed, so it was "
                "interrupted (this stops Python code, not a sleep or a C call) "
                "and abandoned, and a new thread replaces it.",
                RuntimeWarning, stacklevel=2)
        self._kill_and_replace(worker, reason)

    def _stop_silent(self, worker: WorkerHandle, quiet: float) -> None:
        _log.warning("worker %s sent nothing for %.1fs; it is stopped or hung: "
                     "killing and replacing it", worker.label, quiet)
        self._kill_and_replace(
            worker, f"it sent nothing for {quiet:.1f}s (liveness_timeout="
                    f"{self.liveness_timeout:g}s): stopped (SIGSTOP), frozen, cut "
                    "off, or hung in code that holds the GIL")

    def _kill_and_replace(self, worker: WorkerHandle, reason: str) -> None:
        """Kill ``worker``; its transport reports the loss (with ``reason``,
        see on_lost), which requeues its chunks and starts a replacement.
        A thread worker's transport reports nothing: we do it."""
        self._killed[id(worker)] = reason
        try:
            worker.kill()
        except Exception as exc:      # noqa: BLE001 - it is lost either way
            _log.warning("killing worker %s failed: %s", worker.label, exc)
        deadline = time.monotonic() + (0.0 if worker.in_process else LOSS_GRACE)
        while not worker.lost and time.monotonic() < deadline:
            time.sleep(0.01)
        if not worker.lost:
            self.on_lost(worker, reason)
        self._killed.pop(id(worker), None)
