"""Progress observer: scheduler events -> the state of each map -> views.

Pure Python (no IPython, no ipywidgets): ``pathos_magics.progress`` wires it
to ``events.GLOBAL`` and picks the views.  How its parts meet::

  scheduler I/O threads --event--> observer(event): O(1) update of a _Track;
     (callbacks: quick, never          MapStarted records the map's Origin;
      wait for a render)               MapFinished: view.close(end) if the view
                                       is free (a few trait sets), else queue
                                            |
  "pathos-progress" thread, every 0.1 s:    v
     tick(): create the view of a map running for 0.5 s, view.update(state)
     ending queue: create late views, view.close, view.publish (slow output)
                                            |
  post_execute hook (a kernel) -> settle(cell): wait, bounded, until the
     cell's ending displays are published, so the saved cell holds the end

Every view call runs through the map's :class:`Origin`: a copy of the
contextvars of the code that started the map (ipykernel keeps the cell's
parent header there), so widget and display messages land in the cell that
started the map, even when the map ends after the cell.  Times come from
the events (``e.time``) and the injected ``clock``, both ``time.monotonic``.
"""
from __future__ import annotations

import collections
import contextvars
import logging
import threading
import time
from typing import Any, Callable, Optional

from .. import events as ev
from .state import ProgressState, WorkerState, describe_error

_log = logging.getLogger(__name__)

#: A map must run this long (seconds) before anything is shown.
THRESHOLD = 0.5
#: Shown maps are re-rendered at most this often (seconds).
INTERVAL = 0.1
#: After this many seconds without a map the timer thread sleeps until the
#: next map starts (checking every _IDLE_WAIT seconds).
_IDLE_SLEEP = 5.0
_IDLE_WAIT = 30.0
#: Kinds of work with no progress display: one call, not a map.
_NOT_SHOWN = frozenset({"apipe", "pipe"})


# ---------------------------------------------------------------- the state

class Origin:
    """Where a map's display belongs: the code (the cell) that started it.

    Keeps a copy of the starter's contextvars, in which every view call runs
    (ipykernel keeps the cell's parent header there), and optionally an
    ``enter`` context manager that pins the parent explicitly in the thread
    that renders (``shell.set_thread_parent``).
    """

    __slots__ = ("id", "_context", "_enter")

    def __init__(self, cell_id: Optional[str] = None,
                 enter: Optional[Callable[[], Any]] = None) -> None:
        self.id = cell_id
        self._context = contextvars.copy_context()
        self._enter = enter

    def run(self, fn: Callable, *args: Any) -> Any:
        """``fn(*args)`` in the starter's context (a copy: any thread may call it)."""
        return self._context.copy().run(self._call, fn, args)

    def _call(self, fn: Callable, args: tuple) -> Any:
        if self._enter is None:
            return fn(*args)
        with self._enter():
            return fn(*args)


class _Track:
    """The observer's mutable record of one map (guarded by its lock)."""

    def __init__(self, e: ev.MapStarted, mode: str, origin: Origin) -> None:
        self.map_id, self.pool, self.kind = e.map_id, e.pool, e.kind
        self.total, self.done = e.total, 0
        self.started, self.ended = e.time, None
        self.state = "running"
        self.workers: dict[str, list] = {w: [0, "idle"] for w in e.workers}
        self.failures = 0
        self.last_failure: Optional[str] = None
        self.error: Optional[str] = None
        self.mode, self.origin = mode, origin
        self.view: Any = None
        self.final = False
        self.view_lock = threading.Lock()
        self.settled = threading.Event()      # set once the end is rendered

    def snapshot(self, now: float) -> ProgressState:
        end = self.ended if self.ended is not None else now
        running = self.state == "running"
        return ProgressState(
            map_id=self.map_id, pool=self.pool, kind=self.kind, done=self.done,
            total=self.total, state=self.state, elapsed=max(0.0, end - self.started),
            workers=tuple(WorkerState(k, v[0], v[1] if running or v[1] == "lost" else "idle")
                          for k, v in self.workers.items()),
            failures=self.failures, last_failure=self.last_failure, error=self.error)


# ---------------------------------------------------------------- the observer

ViewFactory = Callable[[ProgressState], Any]


class ProgressObserver:
    """Turns scheduler events into progress displays.

    Args:
        mode_for: called on the thread that starts a map; returns the kind of
            display for it ('widget', 'text') or None for none.
        views: display factories by mode; a view has ``update(state)``,
            ``close(state)`` (the final state, quick) and may have
            ``publish(state)`` (its final output).  A factory marked
            ``slow = True`` (the widget: creating it takes milliseconds) is
            created and published by the timer thread, not on the event path.
        clock: ``time.monotonic`` or a fake, in the same time base as events.
        threshold: seconds a map must run before it is shown.
        interval: seconds between renders of a shown map.
        thread: run the timer thread (tests call :meth:`tick` instead).
        origin: called with ``mode_for``, on the thread that starts the map:
            an :class:`Origin` naming where its display belongs.
        on_idle: called when the last tracked map has ended.
    """

    def __init__(self, mode_for: Callable[[], Optional[str]], *,
                 views: dict[str, ViewFactory],
                 clock: Callable[[], float] = time.monotonic,
                 threshold: float = THRESHOLD, interval: float = INTERVAL,
                 thread: bool = True,
                 origin: Callable[[], Origin] = Origin,
                 on_idle: Optional[Callable[[], None]] = None) -> None:
        self._mode_for = mode_for
        self._on_idle = on_idle
        self._origin = origin
        self._views = views
        self._clock = clock
        self.threshold, self.interval = threshold, interval
        self._tracks: dict[int, _Track] = {}
        self._closing: set[_Track] = set()      # ended, end not rendered yet
        self._ending: collections.deque = collections.deque()   # for the timer
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._use_thread = thread
        self._thread: Optional[threading.Thread] = None
        self._dormant = True
        self.last: Optional[ProgressState] = None     # the last final state shown
        self.shown = 0                                # maps displayed so far
        self._handlers = {
            ev.MapStarted: self._started, ev.TotalKnown: self._total,
            ev.TasksDone: self._tasks_done, ev.TaskFailed: self._task_failed,
            ev.MapFinished: self._finished, ev.WorkerUp: self._worker_up,
            ev.WorkerBusy: self._worker_busy, ev.WorkerLost: self._worker_lost,
        }

    # -- the event callback: quick, never waits for a render

    def __call__(self, event: ev.Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    @property
    def active(self) -> int:
        """Maps being tracked right now."""
        return len(self._tracks)

    @property
    def pending(self) -> bool:
        """Whether a map is tracked or an ended one still being rendered."""
        return bool(self._tracks or self._closing)

    def states(self, now: Optional[float] = None) -> list[ProgressState]:
        """The state of every map being tracked, oldest first."""
        now = self._clock() if now is None else now
        with self._lock:
            return [tr.snapshot(now) for tr in self._tracks.values()]

    def _started(self, e: ev.MapStarted) -> None:
        if e.kind in _NOT_SHOWN or e.nested:   # a map started by a worker's task
            return
        mode = self._mode_for()
        if mode is None:
            return
        track = _Track(e, mode, self._origin())
        with self._lock:
            if e.map_id in self._tracks:
                # Two pools used the same map id: their events cannot be told
                # apart, so only the first map is shown.
                _log.debug("map id %s of %s is already shown; not showing it",
                           e.map_id, e.pool)
                return
            self._tracks[e.map_id] = track
            wake = self._dormant
            self._dormant = False
        if wake and self._use_thread:
            self._ensure_thread()
            self._wake.set()

    def _total(self, e: ev.TotalKnown) -> None:
        tr = self._tracks.get(e.map_id)
        if tr is not None:
            tr.total = e.total

    def _tasks_done(self, e: ev.TasksDone) -> None:
        tr = self._tracks.get(e.map_id)
        if tr is None:
            return
        with self._lock:
            tr.done = e.done
            if e.total is not None:
                tr.total = e.total
            w = tr.workers.get(e.worker)
            if w is None:
                tr.workers[e.worker] = [e.count, "busy"]
            else:
                w[0] += e.count

    def _task_failed(self, e: ev.TaskFailed) -> None:
        tr = self._tracks.get(e.map_id)
        if tr is None:
            return
        with self._lock:
            tr.failures += 1
            tr.last_failure = f"task {e.index} on {e.worker}: {describe_error(e.error)}"

    def _finished(self, e: ev.MapFinished) -> None:
        with self._lock:
            tr = self._tracks.pop(e.map_id, None)
            if tr is None:
                return
            tr.state, tr.ended, tr.done = e.state, e.time, e.done
            if e.total is not None:
                tr.total = e.total
            tr.error = describe_error(e.error)
            # A map shorter than the threshold was never shown: it stays hidden.
            show = tr.view is not None or e.time - tr.started >= self.threshold
            if show:
                snap = tr.snapshot(e.time)
                self._closing.add(tr)
            idle = not self._tracks
        if show:
            # The bar shows the end at once, unless the timer is rendering it
            # right now; a slow view's final output goes behind, to the timer.
            ended = self._end(tr, snap)
            slow = getattr(self._views[tr.mode], "slow", False)
            if (slow or not ended) and self._use_thread:
                with self._lock:
                    self._ending.append((tr, snap))
                    self._dormant = False
                self._ensure_thread()
                self._wake.set()
            else:
                self._publish(tr, snap)
        else:
            tr.settled.set()
        if idle and self._on_idle is not None:
            self._on_idle()

    def _worker_busy(self, e: ev.WorkerBusy) -> None:
        state = "busy" if e.busy else "idle"
        with self._lock:
            for tr in self._tracks.values():
                w = tr.workers.get(e.worker) if tr.pool == e.pool else None
                if w is not None and w[1] != "lost":
                    w[1] = state

    def _worker_lost(self, e: ev.WorkerLost) -> None:
        with self._lock:
            for tr in self._tracks.values():
                w = tr.workers.get(e.worker) if tr.pool == e.pool else None
                if w is not None:
                    w[1] = "lost"

    def _worker_up(self, e: ev.WorkerUp) -> None:
        # A replacement (or a host coming back) joins its pool's running maps.
        with self._lock:
            for tr in self._tracks.values():
                if tr.pool == e.pool and e.worker not in tr.workers:
                    tr.workers[e.worker] = [0, "idle"]

    # -- rendering (the timer thread, and the final state)

    def tick(self, now: Optional[float] = None) -> int:
        """Show maps older than the threshold, refresh shown ones; returns
        how many were rendered.  The timer thread calls it every interval."""
        now = self._clock() if now is None else now
        with self._lock:
            due = [(tr, tr.snapshot(now)) for tr in self._tracks.values()
                   if tr.view is not None or now - tr.started >= self.threshold]
        for tr, snap in due:
            self._render(tr, snap)
        return len(due)

    def _render(self, tr: _Track, snap: ProgressState) -> None:
        """The timer: show the map, or refresh it (never after its end)."""
        with tr.view_lock:
            if tr.final:
                return
            if tr.view is None:
                self._create(tr, snap)
            else:
                self._guard(tr, tr.view.update, snap)

    def _end(self, tr: _Track, snap: ProgressState) -> bool:
        """The event callback: a shown view takes its final state (quick).
        False if the timer holds the view (it then gets the end instead)."""
        if not tr.view_lock.acquire(blocking=False):
            return False
        try:
            if not tr.final and tr.view is not None:
                self._close(tr, snap)
            return True
        finally:
            tr.view_lock.release()

    def _close(self, tr: _Track, snap: ProgressState) -> None:
        tr.final = True
        if self._guard(tr, tr.view.close, snap):
            self.last = snap

    def _publish(self, tr: _Track, snap: ProgressState) -> None:
        """The timer: the end of a map not closed yet (shown first if it
        ended before its first render), then the view's final output
        (``publish``, if it has one)."""
        try:
            with tr.view_lock:
                if not tr.final and (tr.view is not None or self._create(tr, snap)):
                    self._close(tr, snap)
                publish = getattr(tr.view, "publish", None)
                if publish is not None:
                    self._guard(tr, publish, snap)
        finally:
            with self._lock:
                self._closing.discard(tr)
            tr.settled.set()

    def _create(self, tr: _Track, snap: ProgressState) -> bool:
        view = self._guard(tr, self._views[tr.mode], snap)
        if view is None:
            return False
        tr.view = view
        self.shown += 1
        return True

    def _guard(self, tr: _Track, fn: Callable, snap: ProgressState) -> Any:
        """Run a view call in the map's context; a failure is logged and
        ends the display (a display never breaks a map).  True-ish on success."""
        try:
            out = tr.origin.run(fn, snap)
            return True if out is None else out
        except Exception:           # noqa: BLE001
            _log.exception("progress display of map %s failed", tr.map_id)
            tr.final = True
            return None

    def settle(self, cell: Optional[str], timeout: float = 0.25) -> None:
        """Wait (at most ``timeout`` s) until the displays that ``cell``
        started show their end, if they are ending.  The kernel calls it after
        each cell, so the final state is part of the cell's output even when
        the map's end is still being delivered on a scheduler thread."""
        deadline = time.monotonic() + timeout
        now = self._clock()
        with self._lock:
            pending = [tr for tr in [*self._tracks.values(), *self._closing]
                       if tr.origin.id == cell and (tr.view is not None or tr.state != "running"
                                               or now - tr.started >= self.threshold)]
        for tr in pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            tr.settled.wait(left)

    # -- the timer thread

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopped.clear()
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="pathos-progress")
                self._thread.start()

    def _run(self) -> None:
        # Between maps the thread keeps ticking (an idle tick costs a few
        # microseconds), so a map that starts soon after another does not pay
        # for waking it; after _IDLE_SLEEP seconds without maps it sleeps
        # until a map starts.
        last_tick = float("-inf")
        last_busy = time.monotonic()
        while not self._stopped.is_set():
            now = time.monotonic()
            with self._lock:
                ending, self._ending = self._ending, collections.deque()
                busy = bool(self._tracks)
                if busy or ending:
                    last_busy = now
                dormant = self._dormant = now - last_busy > _IDLE_SLEEP
            for tr, snap in ending:
                self._publish(tr, snap)
            now = time.monotonic()
            if busy and now - last_tick >= 0.9 * self.interval:
                last_tick = now
                try:
                    self.tick()
                except Exception:   # noqa: BLE001
                    _log.exception("progress tick failed")
            if not ending:
                self._wake.wait(_IDLE_WAIT if dormant else self.interval)
                self._wake.clear()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the timer thread (maps still running are no longer shown)."""
        self._stopped.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            self._tracks.clear()
            self._dormant = True
            ending, self._ending = self._ending, collections.deque()
        for tr, snap in ending:          # ended maps still get their end
            self._publish(tr, snap)

    def after_fork(self) -> None:
        """In a forked child: forget the parent's maps, threads and locks."""
        self._lock = threading.Lock()
        self._wake, self._stopped = threading.Event(), threading.Event()
        self._thread, self._tracks, self._dormant = None, {}, True
        self._closing, self._ending = set(), collections.deque()

