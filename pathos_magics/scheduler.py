"""One scheduler for every pool: chunks, windows, retries, cancel, events.

How work moves::

  caller thread                 Scheduler (all state under one lock)         workers
  -------------                 ------------------------------------         -------
  pool.map(f, xs) --submit--> Map (maps.py): items, retry queue
                                  |
                                  | _dispatch(worker): while the worker has
                                  | fewer than `window` chunks in flight,
                                  | cut the next chunk (size adapts to the
                                  | measured task time) --------------------> RUN
                                  |
  result()/iterators <--notify-- on_message(DONE) <---- reader thread <------ DONE
       (wait in short slices,     on_lost(worker): requeue its chunks
        so Ctrl-C gets through;     (split to single tasks), start a
        pump the serial worker)     replacement, fail after max_retries
                                  |
                          events --> pool's EventBus + events.GLOBAL

Workers pull: a worker gets a new chunk only when one of its own comes back,
so a fast worker does more.  A transport calls ``on_message`` / ``on_lost``
from its own threads; nothing here blocks for long under the lock.  Worker
loss (requeue, replacement) is in recovery.py.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, Callable, Optional

from . import events as ev
from . import inherit, remote_errors, serialize, wire
from .errors import NoWorkersError, PoolClosedError
from .tasks import PROBE_BUDGET_S, Chunk, Map, auto_size, cut, is_probe, rest_of
from .recovery import WorkerLoss
from .transports.base import Transport, WorkerHandle

_log = logging.getLogger(__name__)

_WAIT_SLICE = 0.1        # waits wake this often, so KeyboardInterrupt lands

_MAP_IDS = itertools.count()   # process-wide: observers of events.GLOBAL key maps by id


class Scheduler(WorkerLoss):
    """Feeds the maps of one pool to its workers.

    Args:
        name: how the pool shows itself in events ("ProcessPool(ncpus=2)").
        transports: (transport, number of workers) pairs; several transports
            make one heterogeneous pool.
        window: chunks in flight per worker (one running, one queued).
        max_retries: how often a task whose worker died is tried again.
        cancel_timeout: how long a cancelled chunk may take to stop before its
            worker is killed (and replaced).
    """

    def __init__(self, name: str, transports: list[tuple[Transport, int]], *,
                 window: int = 2, max_retries: int = 2,
                 cancel_timeout: float = 1.0) -> None:
        self.name = name
        self.window = window
        self.max_retries = max_retries
        self.cancel_timeout = cancel_timeout
        self.bus = ev.EventBus()
        self.state = "running"
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._maps: dict[int, Map] = {}
        self._workers: list[WorkerHandle] = []
        self._ids = itertools.count()
        self._events: list[ev.Event] = []
        self._emitting = threading.Lock()     # keeps events in order across threads
        self._transports = [t for t, _ in transports]
        self._next_label: dict[int, int] = {}
        self._replacing = 0          # replacements being started right now
        self._pumps = [t for t in self._transports if hasattr(t, "pump")]
        for transport, count in transports:
            self._start_workers(transport, count)
        self._flush_events()

    # ------------------------------------------------------------ workers

    @property
    def workers(self) -> list[WorkerHandle]:
        with self._lock:
            return list(self._workers)

    @property
    def transports(self) -> list[Transport]:
        return list(self._transports)

    def add_workers(self, transport: Transport, count: int) -> list[WorkerHandle]:
        """Start ``count`` more workers of ``transport`` (a host coming back)."""
        started = self._start_workers(transport, count)
        self._flush_events()
        return started

    def _start_workers(self, transport: Transport, count: int) -> list[WorkerHandle]:
        first = self._next_label.get(id(transport), 0)
        self._next_label[id(transport)] = first + count
        started = transport.start(count, self, first)
        with self._lock:
            for w in started:
                self._workers.append(w)
                self._emit(ev.WorkerUp(worker=w.label, host=w.host, pid=w.pid))
                self._dispatch(w)
        return started

    # ------------------------------------------------------------ submit

    def submit(self, func: Callable, items: Any, kind: int, *, ordered: bool = True,
               chunksize: Optional[int] = None, kindname: str = "map") -> Map:
        """Queue a map and start feeding it; returns its handle."""
        with self._lock:
            if self.state != "running":
                raise PoolClosedError(
                    f"{self.name} is {self.state}: it takes no new work. Call "
                    "pool.restart() to reopen it, or pool.clear() so the next "
                    "pool of this kind starts fresh.")
            m = Map(next(_MAP_IDS), func, kind, items, ordered, chunksize, kindname)
            if any(not t.in_process for t in self._transports):
                # serialize now, so that an unpicklable function fails here
                shipped = [w for w in self._workers if not w.in_process]
                for w in shipped or [None]:
                    self._code_for(m, w)
                if m.seq is not None:
                    serialize.check_picklable(m.seq)
            self._maps[m.id] = m
            self._emit(ev.MapStarted(map_id=m.id, pool=self.name, total=m.total,
                                     workers=tuple(w.label for w in self._workers),
                                     kind=kindname))
            if m.exhausted:
                self._finish(m)
            for w in list(self._workers):
                self._dispatch(w)
            if not self._workers and not self._replacing:
                self._fail(m, NoWorkersError(
                    f"{self.name} has no live workers. Call pool.restart()."))
        self._flush_events()
        return m

    def _dispatch(self, worker: WorkerHandle) -> None:
        """Top up ``worker`` to ``window`` chunks in flight (under the lock)."""
        was_idle = not worker.inflight
        while (not worker.lost and not worker.unreachable
               and len(worker.inflight) < self.window):
            chunk = self._next_chunk()
            if chunk is None:
                break
            m = chunk.map
            try:
                if m.id not in worker.known_code:
                    worker.send((wire.CODE, m.id,
                                 m.func if worker.in_process else self._code_for(m, worker)))
                    worker.known_code.add(m.id)
                worker.send((wire.RUN, m.id, chunk.id, m.id, m.kind,
                             chunk.payload(worker), chunk.budget))
            except serialize.SerializationError as exc:
                self._fail(m, exc)
                continue
            except (OSError, ValueError) as exc:
                m.retry.appendleft(chunk)
                self._lose_later(worker, f"sending to it failed ({exc})")
                return
            worker.inflight[chunk.id] = chunk
            m.inflight += 1
        if was_idle and worker.inflight:
            self._emit(ev.WorkerBusy(worker=worker.label, busy=True))

    @staticmethod
    def _code_for(m: Map, worker: Optional[WorkerHandle]) -> tuple:
        """m's function as ``worker`` takes it: a forked worker gets big
        notebook globals by name (it holds them already), save those it
        said were stale."""
        key = worker.stale_globals if worker is not None and worker.forked else None
        if key not in m.codes:
            namer = None if key is None else inherit.Namer(key)
            m.codes[key] = serialize.dumps_code(m.func, namer)
        return m.codes[key]

    def _next_chunk(self) -> Optional[Chunk]:
        for m in self._maps.values():
            if m.state != "running":
                continue
            if m.retry:
                return m.retry.popleft()
            if m.exhausted:
                continue
            chunk = self._cut(m)
            if chunk is not None:
                return chunk
        return None

    def _cut(self, m: Map) -> Optional[Chunk]:
        size = m.chunksize or auto_size(m, len(self._workers))
        chunk, total_found = cut(m, size, next(self._ids))
        if chunk is not None and is_probe(m, chunk):
            chunk.budget = PROBE_BUDGET_S
        if total_found:
            self._emit(ev.TotalKnown(map_id=m.id, total=m.total))
        return chunk

    # ------------------------------------------------------------ messages

    def on_message(self, worker: WorkerHandle, msg: tuple) -> None:
        """A transport delivers one message from ``worker``."""
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
        else:
            _log.warning("unknown message %r from %s", tag, worker.label)

    def _on_unrun(self, worker: WorkerHandle, chunk_id: int,
                  stale: Optional[str] = None) -> None:
        """A chunk came back not run: cancelled, or (``stale``: a global's
        name) the code named a global this worker holds another value of.
        A running map runs it again, never drops it: if nobody cancelled the
        map, a stray signal reached the worker; a stale worker gets the code
        again, with that global in it."""
        with self._lock:
            chunk = worker.inflight.pop(chunk_id, None)
            if chunk is None:
                return
            m = chunk.map
            m.inflight -= 1
            if stale is not None:
                worker.stale_globals = worker.stale_globals | {stale}
                worker.known_code.discard(m.id)
            if m.state == "running":
                m.retry.appendleft(chunk)
            self._after_return(worker, m)
        self._flush_events()

    def _on_done(self, worker: WorkerHandle, msg: tuple) -> None:
        _, map_id, chunk_id, results, error, elapsed = msg
        if not worker.in_process:       # unpickle outside the lock
            results = serialize.loads_data(results)
        with self._lock:
            chunk = worker.inflight.pop(chunk_id, None)
            if chunk is None:
                return
            m = chunk.map
            m.inflight -= 1
            n = len(results)
            worker.tasks_done += n
            if n and m.state in ("running", "failed"):
                self._record(m, chunk, results)
                t = elapsed / n
                m.t_task = t if m.t_task is None else 0.5 * (m.t_task + t)
                self._emit(ev.TasksDone(map_id=m.id, worker=worker.label, count=n,
                                        done=m.done, total=m.total))
            if error is None and n < len(chunk.items) and m.state == "running":
                # a time-boxed chunk: the rest goes back, cut to the task time
                m.retry.extendleft(reversed(rest_of(m, chunk, n, self._ids,
                                                    len(self._workers))))
            if error is not None and m.state == "running":
                index = chunk.start + n
                exc = remote_errors.rebuild(error, worker, index, chunk.items[n])
                m.error_index = index
                self._emit(ev.TaskFailed(map_id=m.id, worker=worker.label,
                                         index=index, error=exc))
                self._fail(m, exc)
            self._after_return(worker, m)
        self._flush_events()

    def _record(self, m: Map, chunk: Chunk, results: list) -> None:
        m.done += len(results)
        if m.in_place:
            if m.out is None:
                m.out = [None] * m.total
            m.out[chunk.start:chunk.start + len(results)] = results
        elif m.ordered:
            m.results[chunk.start] = results
        else:
            m.arrivals.append(results)

    def _after_return(self, worker: WorkerHandle, m: Map) -> None:
        if m.state == "running" and m.finished_feeding():
            self._finish(m)
        if m.streaming or m.state != "running":
            # a get() waits for the end only: waking it for every chunk
            # costs the reader threads the GIL (W1: ~40% of the map)
            self._changed.notify_all()
        self._dispatch(worker)
        if not worker.inflight:
            self._emit(ev.WorkerBusy(worker=worker.label, busy=False))

    def _on_output(self, worker: WorkerHandle, stream: str, text: str) -> None:
        import sys
        target = sys.stderr if stream == "stderr" else sys.stdout
        lines = text.split("\n")
        data = "".join(f"[{worker.label}] {line}\n" for line in lines)
        with self._lock:
            running = next(iter(worker.inflight.values()), None)
        if running is None:
            target.write(data)
        else:      # in the context (the notebook cell) that started the map
            running.map.context.copy().run(target.write, data)
        if self.bus or ev.GLOBAL:
            for line in lines:
                self._emit_now(ev.Output(worker=worker.label, stream=stream, line=line))

    # ------------------------------------------------------------ ending maps

    def _finish(self, m: Map) -> None:
        m.state = "done"
        self._maps.pop(m.id, None)
        self._forget_code(m)
        self._emit(ev.MapFinished(map_id=m.id, state="done", done=m.done, total=m.total))
        self._changed.notify_all()

    def _fail(self, m: Map, exc: BaseException, state: str = "failed") -> None:
        if m.state != "running":
            return
        m.state, m.error = state, exc
        m.retry.clear()
        m.exhausted = True
        self._maps.pop(m.id, None)
        for w in self._workers:
            if any(c.map is m for c in w.inflight.values()):
                try:
                    w.send((wire.CANCEL, m.id))
                except (OSError, ValueError):
                    pass
        self._forget_code(m)
        self._emit(ev.MapFinished(map_id=m.id, state=state, done=m.done,
                                  total=m.total, error=exc))
        self._changed.notify_all()

    def _fail_all(self, exc: BaseException) -> None:
        for m in list(self._maps.values()):
            self._fail(m, exc)

    def _forget_code(self, m: Map) -> None:
        for w in self._workers:
            if m.id in w.known_code:
                w.known_code.discard(m.id)
                try:
                    w.send((wire.FORGET, m.id))
                except (OSError, ValueError):
                    pass

    def cancel(self, m: Map, reason: Optional[BaseException] = None) -> None:
        """Stop a map now: queued chunks dropped, running ones interrupted.

        Waits up to ``cancel_timeout`` for workers to confirm; a worker that
        does not is killed (and replaced), so the next map finds it free.
        """
        with self._lock:
            self._fail(m, reason or KeyboardInterrupt(), state="cancelled")
            for w in self._workers:
                if getattr(w, "synchronous", False):       # the serial worker
                    for cid in [c for c, ch in w.inflight.items() if ch.map is m]:
                        del w.inflight[cid]
                        m.inflight -= 1
            deadline = time.monotonic() + self.cancel_timeout
            while m.inflight > 0 and time.monotonic() < deadline:
                self._changed.wait(min(_WAIT_SLICE, deadline - time.monotonic()))
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
            self._fail(m, PoolClosedError("the iterator was closed"), "cancelled")
        self._flush_events()

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
                    self._changed.wait(_WAIT_SLICE if left is None
                                       else min(_WAIT_SLICE, left))

    def _pump_one(self) -> bool:
        ran = False
        for t in self._pumps:
            ran = t.pump() or ran
        return ran

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
            self.wait(m, lambda m=m: m.state != "running", timeout)
        self._stop_workers(timeout=5.0)

    def terminate(self) -> None:
        """Cancel every map and stop every worker now."""
        with self._lock:
            self.state = "terminated"
            for m in list(self._maps.values()):
                self._fail(m, PoolClosedError(f"{self.name} was terminated "
                                              "while this map ran."), "cancelled")
        self._stop_workers(timeout=1.0)

    def _stop_workers(self, timeout: float) -> None:
        with self._lock:
            if self.state == "running":
                self.state = "closed"
            for w in self._workers:
                w.lost = True
            self._workers = []
        for t in self._transports:
            t.close(timeout)
        self._flush_events()

    # ------------------------------------------------------------ events

    def _emit(self, event: ev.Event) -> None:
        if self.bus or ev.GLOBAL:
            self._events.append(event)

    def _emit_now(self, event: ev.Event) -> None:
        self.bus.emit(event)
        ev.GLOBAL.emit(event)

    def _flush_events(self) -> None:
        """Deliver queued events, in order; call without holding the lock."""
        if self._events:
            self.flush_events()

    def flush_events(self) -> None:
        """Deliver queued events and wait for a delivery in progress on another
        thread: on return, observers have seen every event emitted before."""
        with self._emitting:
            with self._lock:
                events, self._events = self._events, []
            for event in events:
                self._emit_now(event)
