"""The scheduler's third layer: a worker was lost.

Its chunks go back to their maps (the one it was running split into single
tasks, or, if it held one task, that task with one more attempt, see
blame.py; the ones queued behind it unchanged), a replacement is started when its transport can, and when no worker is left
every map fails with :class:`NoWorkersError`.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

from .. import events as ev
from .. import tracebacks
from ..errors import NoWorkersError, WorkerLostError
from ..transports.base import WorkerHandle
from .replies import Replies
from .blame import LossLedger
from .tasks import Chunk, Map

_log = logging.getLogger(__name__)

UNREACHABLE_GRACE = 1.0   # a worker we could not send to gets this long to say why


class Recovery(Replies):
    """Worker-loss handling, on top of the replies."""

    def __init__(self, *args: Any, **kwds: Any) -> None:
        # worker deaths per running map, for blame (weak: a map that ends goes)
        self._ledgers: "weakref.WeakKeyDictionary[Map, LossLedger]" = \
            weakref.WeakKeyDictionary()
        super().__init__(*args, **kwds)

    def on_lost(self, worker: WorkerHandle, reason: str) -> None:
        """A transport says ``worker`` is gone (EOF, exit, host lost)."""
        with self._lock:
            if worker.lost:
                return
            replace = self._mark_lost(worker, reason)
            if replace:
                self._replacing += 1
        if replace:
            try:
                self._start_workers(worker.transport, 1)
            except Exception as exc:      # noqa: BLE001 - reported to the maps
                level = logging.WARNING if self.state == "running" else logging.DEBUG
                _log.log(level, "could not replace worker %s: %s", worker.label, exc)
            finally:
                with self._lock:
                    self._replacing -= 1
                    self._changed.notify_all()    # a stop may wait for it
        with self._lock:
            if not self._workers and not self._replacing and self.state == "running":
                self._fail_all(NoWorkersError(
                    f"{self.name} has no live workers left (the last, "
                    f"{worker.label}, was lost: {reason}). Call pool.restart() "
                    "or pool.clear() to start new ones."))
        self._flush_events()

    def _mark_lost(self, worker: WorkerHandle, reason: str) -> bool:
        """Take ``worker`` out and give its chunks back (under the lock);
        True if a replacement should be started."""
        worker.lost = True
        if worker in self._workers:
            self._workers.remove(worker)
        chunks = list(worker.inflight.values())
        worker.inflight.clear()
        requeued = 0
        for position, chunk in enumerate(chunks):
            m = chunk.map
            m.inflight -= 1
            if not m.running:
                continue
            requeued += len(chunk.items)
            if position == 0:
                self._requeue(chunk, worker, reason)
            else:
                # A worker runs its chunks in the order sent: only the oldest
                # was running when it died; the ones queued behind it never
                # started and are not to blame.
                m.retry.appendleft(chunk)
        self._emit(ev.WorkerLost, worker=worker.label, reason=reason, requeued=requeued,
                   map_ids=tuple(dict.fromkeys(c.map.id for c in chunks)))
        self._changed.notify_all()
        self._feed()
        transport = worker.transport
        return (self.state == "running" and transport is not None
                and transport.can_replace)

    def _requeue(self, chunk: Chunk, worker: WorkerHandle, reason: str) -> None:
        """``chunk`` was running when its worker died (see blame.py)."""
        m = chunk.map
        ledger = self._ledgers.setdefault(m, LossLedger())
        ledger.record(chunk.start, len(chunk.items))
        if len(chunk.items) > 1:
            # Which task killed it is unknown: none is blamed; each runs
            # alone next, so only one that kills its worker keeps failing
            # and the error can name it.
            singles = [Chunk(next(self._ids), m, chunk.start + i, chunk.items[i:i + 1],
                             chunk.attempts) for i in range(len(chunk.items))]
            m.retry.extendleft(reversed(singles))
            return
        attempts = chunk.attempts + 1
        allowed = ledger.allowed(chunk.start, m.done, self.max_retries)
        if attempts < allowed:
            m.retry.appendleft(Chunk(next(self._ids), m, chunk.start, chunk.items,
                                     attempts))
            return
        item = chunk.items[0]
        extra = ("" if allowed <= self.max_retries + 1 else
                 " (workers also died running other tasks, so it got more tries)")
        self._fail(m, WorkerLostError(
            f"task {chunk.start} (item {tracebacks.short_repr(item)}) "
            f"was running on worker {worker.label} when it was lost "
            f"({reason}); it was tried {attempts} times alone and every worker "
            f"running it died{extra}. Check what that task does (a crash in C "
            "code, os._exit, running out of memory), then run the map again.",
            worker=worker.label, task_indices=(chunk.start,)))

    def _unreachable(self, worker: WorkerHandle, reason: str) -> None:
        # Under the lock: stop feeding it now; the full loss handling (requeue,
        # replacement, "no workers left") runs outside the lock, as for EOF.
        # Its reader usually sees EOF a moment later and knows better why
        # (an exit code), so give it a moment to say so first.
        worker.unreachable = True

        def lose() -> None:
            deadline = time.monotonic() + UNREACHABLE_GRACE
            while not worker.lost and time.monotonic() < deadline:
                time.sleep(0.01)
            self.on_lost(worker, reason)

        threading.Thread(target=lose, daemon=True,
                         name=f"pathos-lost-{worker.label}").start()
