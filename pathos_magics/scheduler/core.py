"""The scheduler's core: maps in, chunks out to workers, results back.

How work moves::

  caller thread                 Scheduler (all state under one lock)         workers
  -------------                 ------------------------------------         -------
  pool.map(f, xs) --submit--> Map (tasks.py): items, retry queue
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
from its own threads; nothing here blocks for long under the lock.

The scheduler is built in layers, one per module, each a subclass of the
one below: this core (submit, dispatch, ending maps, events), replies.py
(what workers send back), recovery.py (a worker lost: requeue, replace,
fail), deadlines.py (task timeouts, liveness) and control.py (the caller's
side: waiting, cancel, close/join/terminate).
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, Callable, Optional

from .. import events as ev
from .. import procstate, serialize, wire, worker as _worker_loop
from ..errors import NoWorkersError, PoolClosedError
from ..transports.base import Transport, WorkerHandle
from .profiling import resolve_profile
from .tasks import PROBE_BUDGET_S, Chunk, Map, MapState, auto_size, cut, is_probe

_log = logging.getLogger(__name__)

_MAP_IDS = itertools.count()   # process-wide: observers of events.GLOBAL key maps by id


class SchedulerCore:
    """Feeds the maps of one pool to its workers (see the module doc).

    Args:
        name: how the pool shows itself in events ("ProcessPool(ncpus=2)").
        transports: (transport, number of workers) pairs; several transports
            make one heterogeneous pool.
        window: chunks in flight per worker (one running, one queued).
        max_retries: how often a task whose worker died is tried again.
        cancel_timeout: how long a cancelled chunk may take to stop before its
            worker is killed (and replaced).
        nodes: the worker count the pool asked for (its cache compares it).
    """

    def __init__(self, name: str, transports: list[tuple[Transport, int]], *,
                 window: int = 2, max_retries: int = 2,
                 cancel_timeout: float = 1.0, nodes: Optional[int] = None) -> None:
        self.name = name
        self.nodes = nodes
        self.window = window
        self.max_retries = max_retries
        self.cancel_timeout = cancel_timeout
        self.events = ev.EventQueue(name)
        self.state = "running"
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._maps: dict[int, Map] = {}
        self._workers: list[WorkerHandle] = []
        self._ids = itertools.count()
        self._transports = [t for t, _ in transports]
        self._next_label: dict[int, int] = {}
        self._replacing = 0          # replacements being started right now
        self._turn = 0               # which running map gives the next chunk
        self._kernel_state = procstate.StateTracker()   # for local processes
        self._pumps = [t for t in self._transports if hasattr(t, "pump")]
        try:
            for transport, count in transports:
                self._start_workers(transport, count)
        except BaseException:
            # a pool that could not start leaves nothing running
            self._workers = []
            for transport in self._transports:
                try:
                    transport.close(1.0)
                except Exception:      # noqa: BLE001 - the first error is the one to see
                    _log.exception("stopping %s after a failed start", transport.name)
            raise
        self._flush_events()

    @property
    def bus(self) -> ev.EventBus:
        """The pool's own observers."""
        return self.events.bus

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
                w.state_version = self._kernel_state.version
                self._workers.append(w)
                self._emit(ev.WorkerUp, worker=w.label, host=w.host, pid=w.pid)
                self._dispatch(w)
        return started

    # ------------------------------------------------------------ submit

    # deadlines.py sets these: a per-task limit is on (some map had one), and
    # the liveness check's limit
    _clocked = False
    liveness_timeout: Optional[float] = None

    def submit(self, func: Callable, items: Any, kind: int, *, ordered: bool = True,
               chunksize: Optional[int] = None, kindname: str = "map",
               timeout: Optional[float] = None,
               profile: Optional[bool] = None) -> Map:
        """Queue a map and start feeding it; returns its handle.  With a
        ``timeout``, each task goes alone in its chunk (see deadlines.py).

        ``profile``: run its tasks under cProfile on the workers and emit
        each chunk's stats (events.TaskStats); None: the process-wide
        default (profiling.py)."""
        profile = resolve_profile(profile)
        with self._lock:
            if self.state != "running":
                raise PoolClosedError(
                    f"{self.name} is {self.state}: it takes no new work. Call "
                    "pool.restart() to reopen it, or pool.clear() so the next "
                    "pool of this kind starts fresh.")
            m = Map(next(_MAP_IDS), func, kind, items, ordered, chunksize, kindname)
            m.profile = profile
            if any(w.follows_kernel for w in self._workers):
                self._kernel_state.look()       # cwd, env, path, reloads changed?
            if timeout is not None:
                self._clock(m, timeout)
            if any(not t.in_process for t in self._transports):
                # serialize now, so that an unpicklable function fails here
                shipped = [w for w in self._workers if not w.in_process]
                for w in shipped or [None]:
                    m.code_for(w)
                if m.seq is not None:
                    serialize.check_picklable(m.seq)
            self._maps[m.id] = m
            self._emit(ev.MapStarted, map_id=m.id, total=m.total,
                       workers=tuple(w.label for w in self._workers),
                       kind=kindname, nested=_worker_loop.in_worker())
            if m.exhausted:
                self._finish(m)
            self._feed()
            if not self._workers and not self._replacing:
                self._fail(m, NoWorkersError(
                    f"{self.name} has no live workers. Call pool.restart()."))
        self._flush_events()
        return m

    def _feed(self, returning: Optional[WorkerHandle] = None) -> None:
        """Hand out chunks (under the lock): first one to each idle worker,
        then top every window up (``returning``, whose chunk just came back,
        first of those).  So a few long tasks go one to each worker, never
        two to one while another idles."""
        for w in self._workers:
            if not w.inflight and w is not returning:
                self._dispatch(w, limit=1)
        if returning is not None:
            self._dispatch(returning)
        for w in self._workers:
            if len(w.inflight) < self.window and w is not returning:
                self._dispatch(w)

    def _dispatch(self, worker: WorkerHandle, limit: Optional[int] = None) -> None:
        """Top up ``worker`` to ``window`` chunks in flight, or to ``limit``
        (under the lock)."""
        was_idle = not worker.inflight
        cap = self.window if limit is None else min(limit, self.window)
        while (not worker.lost and not worker.unreachable
               and len(worker.inflight) < cap):
            chunk = self._next_chunk()
            if chunk is None:
                break
            m = chunk.map
            try:
                if worker.state_version < self._kernel_state.version:
                    worker.send((wire.STATE,
                                 self._kernel_state.state_since(worker.state_version)))
                    worker.state_version = self._kernel_state.version
                if m.id not in worker.known_code:
                    worker.send((wire.CODE, m.id,
                                 m.func if worker.in_process else m.code_for(worker)))
                    worker.known_code.add(m.id)
                run = (wire.RUN, m.id, chunk.id, m.id, m.kind,
                       chunk.payload(worker), chunk.budget)
                worker.send(run + (True,) if m.profile else run)
            except serialize.SerializationError as exc:
                self._fail(m, exc)
                continue
            except (OSError, ValueError) as exc:
                m.retry.appendleft(chunk)
                self._unreachable(worker, f"sending to it failed ({exc})")
                return
            worker.inflight[chunk.id] = chunk
            m.inflight += 1
            if m.timeout is not None:       # it runs now if it is alone
                chunk.started = time.monotonic() if len(worker.inflight) == 1 else None
        if was_idle and worker.inflight:
            first = next(iter(worker.inflight.values()))
            self._emit(ev.WorkerBusy, worker=worker.label, busy=True, map_id=first.map.id)

    def _unreachable(self, worker: WorkerHandle, reason: str) -> None:
        """A send to ``worker`` failed (under the lock): recovery.py handles it."""
        raise NotImplementedError

    def _clock(self, m: Map, timeout: float) -> None:
        """Give ``m`` a per-task ``timeout`` (under the lock): deadlines.py."""
        raise NotImplementedError

    def _next_chunk(self) -> Optional[Chunk]:
        """The next chunk to hand out, taking the running maps in turn (a
        long or endless map does not hold up the next one)."""
        maps = list(self._maps.values())
        for k in range(len(maps)):
            m = maps[(self._turn + k) % len(maps)]
            chunk = self._chunk_of(m)
            if chunk is not None:
                self._turn = (self._turn + k + 1) % len(maps)
                return chunk
        return None

    def _chunk_of(self, m: Map) -> Optional[Chunk]:
        if not m.running:
            return None
        if m.retry:
            return m.retry.popleft()
        if m.exhausted:
            return None
        if not m.wants_input(len(self._workers), self.window):
            m.throttled = True                  # until its consumer takes more
            return None
        return self._cut(m)

    def consumed(self, m: Map, n: int) -> None:
        """``m``'s consumer took ``n`` results: a throttled input reads on."""
        with self._lock:
            m.take(n)
            if m.throttled and m.running:
                m.throttled = False
                self._feed()
        self._flush_events()

    def _cut(self, m: Map) -> Optional[Chunk]:
        size = m.chunksize or auto_size(m, len(self._workers), self.window)
        chunk, total_found = cut(m, size, next(self._ids))
        if chunk is not None and is_probe(m, chunk):
            chunk.budget = PROBE_BUDGET_S
        if total_found:
            self._emit(ev.TotalKnown, map_id=m.id, total=m.total)
        return chunk

    # ------------------------------------------------------------ ending maps

    def _finish(self, m: Map) -> None:
        m.finish()
        self._maps.pop(m.id, None)
        self._forget_code(m)
        self._emit(ev.MapFinished, map_id=m.id, state="done", done=m.done, total=m.total)
        self._changed.notify_all()

    def _fail(self, m: Map, exc: BaseException,
              state: MapState = MapState.FAILED) -> None:
        if not m.fail(exc, state):
            return
        self._maps.pop(m.id, None)
        for w in self._workers:
            if any(c.map is m for c in w.inflight.values()):
                try:
                    w.send((wire.CANCEL, m.id))
                except (OSError, ValueError):
                    pass
        self._forget_code(m)
        self._emit(ev.MapFinished, map_id=m.id, state=state.value, done=m.done,
                   total=m.total, error=exc)
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

    # ------------------------------------------------------------ events

    def _emit(self, event_type: type, **fields: Any) -> None:
        """Queue an event of this pool (under the lock; delivered by
        :meth:`_flush_events`); nothing is built when nobody listens."""
        if self.events.wanted():
            self.events.put(event_type(pool=self.name, **fields))

    def _flush_events(self) -> None:
        """Deliver queued events, in order; call without holding the lock."""
        self.events.flush()

    def flush_events(self) -> None:
        """Deliver queued events and wait for a delivery in progress on another
        thread: on return, observers have seen every event emitted before."""
        self.events.flush(wait=True)

