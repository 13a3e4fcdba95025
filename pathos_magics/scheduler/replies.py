"""The scheduler's second layer: what workers send back.

DONE (results, or a task's error), CANCELLED and STALE (a chunk not run),
OUT (printed lines), HELLO, PONG and a chunk's profile stats.  Each reply
updates its map under the lock (its results recorded, the map finished or
failed) and tops the worker up again.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Optional

from .. import events as ev
from .. import serialize, tracebacks, wire
from ..transports.base import WorkerHandle
from .core import SchedulerCore
from .tasks import Chunk, Map, MapState, rest_of

_log = logging.getLogger(__name__)


class Replies(SchedulerCore):
    """Worker messages, on top of the core."""

    def on_message(self, worker: WorkerHandle, msg: tuple) -> None:
        """A transport delivers one message from ``worker``."""
        if self.liveness_timeout is not None:
            worker.heard = time.monotonic()
        tag = msg[0]
        if tag == wire.DONE:
            self._on_done(worker, msg)
        elif tag == wire.OUT:
            self._on_output(worker, msg[1], msg[2])
        elif tag == wire.CANCELLED:
            self._on_unrun(worker, msg[2])
        elif tag == wire.STALE:
            self._on_unrun(worker, msg[2], stale=msg[3])
        elif tag == wire.HELLO:
            info = msg[1]
            worker.pid = info.get("pid", worker.pid)
        elif tag == wire.PONG:
            pass                        # heard from it: that is all
        else:
            _log.warning("unknown message %r from %s", tag, worker.label)

    @staticmethod
    def _returned(worker: WorkerHandle, chunk_id: int) -> Optional[Chunk]:
        """The chunk ``worker`` gave back, out of its and its map's in-flight
        count (under the lock); None if it was accounted for already (its
        worker was lost meanwhile)."""
        chunk = worker.inflight.pop(chunk_id, None)
        if chunk is not None:
            chunk.map.inflight -= 1
        return chunk

    def _on_unrun(self, worker: WorkerHandle, chunk_id: int,
                  stale: Optional[str] = None) -> None:
        """A chunk came back not run: cancelled, or (``stale``: a global's
        name) the code named a global this worker holds another value of.
        A running map runs it again, never drops it: if nobody cancelled the
        map, a stray signal reached the worker; a stale worker gets the code
        again, with that global in it."""
        with self._lock:
            chunk = self._returned(worker, chunk_id)
            if chunk is None:
                return
            m = chunk.map
            if stale is not None:
                m.stale[worker.label] = m.stale.get(worker.label, frozenset()) | {stale}
                worker.known_code.discard(m.id)
            if m.running:
                m.retry.appendleft(chunk)
            self._after_return(worker, m)
        self._flush_events()

    def _on_done(self, worker: WorkerHandle, msg: tuple) -> None:
        _, map_id, chunk_id, results, error, elapsed = msg[:6]
        if not worker.in_process:       # unpickle outside the lock
            try:
                results = serialize.loads_data(results)
            except Exception as exc:    # noqa: BLE001 - the task's doing, not the worker's
                self._on_unloadable(worker, chunk_id, exc)
                return
        with self._lock:
            chunk = self._returned(worker, chunk_id)
            if chunk is None:
                return
            m = chunk.map
            if len(msg) > 6:            # a profiled chunk's stats
                self._emit(ev.TaskStats, map_id=m.id, worker=worker.label, stats=msg[6])
            n = len(results)
            worker.tasks_done += n
            if n and m.state in (MapState.RUNNING, MapState.FAILED):
                m.record(chunk, results, elapsed)
                self._emit(ev.TasksDone, map_id=m.id, worker=worker.label, count=n,
                           done=m.done, total=m.total)
            if error is None and n < len(chunk.items) and m.running:
                # a time-boxed chunk: the rest goes back, cut to the task time
                m.retry.extendleft(reversed(rest_of(m, chunk, n, self._ids,
                                                    len(self._workers))))
            if error is not None and m.running:
                index = chunk.start + n
                exc = tracebacks.rebuild(error, worker, index, chunk.items[n])
                m.error_index = index
                self._emit(ev.TaskFailed, map_id=m.id, worker=worker.label,
                           index=index, error=exc)
                self._fail(m, exc)
            elif m.timeout is not None and elapsed > m.timeout and m.running:
                # it came back, but late (a serial task cannot be stopped)
                self._fail(m, self._timed_out(worker, chunk, elapsed))
            self._after_return(worker, m)
        self._flush_events()

    def _timed_out(self, worker: WorkerHandle, chunk: Chunk,
                   elapsed: float) -> BaseException:
        """The error of ``chunk``'s task that ran past its map's timeout
        (under the lock; emits TaskFailed): deadlines.py."""
        raise NotImplementedError

    def _on_unloadable(self, worker: WorkerHandle, chunk_id: int,
                       exc: Exception) -> None:
        """A chunk's results came back but do not unpickle here: the map
        fails naming the task(s) and the error; the worker is fine."""
        with self._lock:
            chunk = self._returned(worker, chunk_id)
            if chunk is None:
                return
            m = chunk.map
            if m.running:
                self._fail(m, tracebacks.unloadable_result(chunk.start, chunk.items,
                                                          worker.label, exc))
            self._after_return(worker, m)
        self._flush_events()

    def _after_return(self, worker: WorkerHandle, m: Map) -> None:
        if self._clocked:
            self._clock_next(worker)
        if m.running and m.finished_feeding():
            self._finish(m)
        if m.streaming or m.ended:
            # a get() waits for the end only: waking it for every chunk
            # costs the reader threads the GIL (W1: ~40% of the map)
            self._changed.notify_all()
        self._feed(returning=worker)
        if not worker.inflight:
            self._emit(ev.WorkerBusy, worker=worker.label, busy=False)

    def _clock_next(self, worker: WorkerHandle) -> None:
        """A chunk of ``worker`` came back: the next one starts now."""
        chunk = next(iter(worker.inflight.values()), None)
        if chunk is not None and chunk.map.timeout is not None and chunk.started is None:
            chunk.started = time.monotonic()

    def _on_output(self, worker: WorkerHandle, stream: str, text: str) -> None:
        target = sys.stderr if stream == "stderr" else sys.stdout
        lines = text.split("\n")
        data = "".join(f"[{worker.label}] {line}\n" for line in lines)
        with self._lock:
            running = next(iter(worker.inflight.values()), None)
        if running is None:
            target.write(data)
        else:      # in the context (the notebook cell) that started the map
            running.map.context.copy().run(target.write, data)
        if self.events.wanted():
            map_id = None if running is None else running.map.id
            for line in lines:
                self.events.emit_now(ev.Output(worker=worker.label, stream=stream,
                                               line=line, map_id=map_id, pool=self.name))
