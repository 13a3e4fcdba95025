"""Live status per host, from the scheduler's events (see events.py).

    live = LiveHosts(on_change=refresh)
    events.subscribe(live)          # called on the scheduler's I/O threads
    live.snapshot()["node1"]        # HostLive(up=2, busy=1, lost=0, done=37)

Each callback is O(1) under a lock and only marks the state changed; views
read :meth:`LiveHosts.snapshot` at their own pace.

A worker's host comes from its ``WorkerUp`` event (the transport's label: the
host's alias, ``localhost`` for local workers).  Once seeded with a pool,
only that pool's events count (every event names its pool); a worker seen
first in a later event is placed by its label (``node1-3`` -> ``node1``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import events as ev

LOCAL = "localhost"


@dataclass(frozen=True)
class HostLive:
    """Workers of one host right now, and tasks they finished."""

    up: int = 0
    busy: int = 0
    lost: int = 0
    done: int = 0

    @property
    def state(self) -> str:
        """'lost' (workers lost, none up), 'busy', 'up' or 'none'."""
        if self.lost and not self.up:
            return "lost"
        if self.busy:
            return "busy"
        return "up" if self.up else "none"

    def text(self) -> str:
        return (f"{self.up} up · {self.busy} busy · {self.lost} lost · "
                f"{self.done} done")


@dataclass
class _Host:
    up: set = field(default_factory=set)
    busy: set = field(default_factory=set)
    lost: set = field(default_factory=set)
    done: int = 0


class LiveHosts:
    """An events observer counting workers and finished tasks per host."""

    def __init__(self, on_change: Optional[Callable[[], None]] = None) -> None:
        self._hosts: dict[str, _Host] = {}
        self._host_of: dict[str, str] = {}
        self._lock = threading.Lock()
        self._on_change = on_change
        self._pool: Optional[str] = None       # count only this pool's events

    def __call__(self, e: ev.Event) -> None:
        if self._pool is not None and e.pool != self._pool:
            return
        with self._lock:
            changed = self._apply(e)
        if changed and self._on_change is not None:
            self._on_change()

    def _apply(self, e: ev.Event) -> bool:
        if isinstance(e, ev.WorkerUp):
            self._host_of[e.worker] = e.host
            h = self._host(e.host)
            h.up.add(e.worker)
            h.lost.clear()              # the host is back
        elif isinstance(e, ev.WorkerBusy):
            h = self._host(self._place(e.worker))
            (h.busy.add if e.busy else h.busy.discard)(e.worker)
        elif isinstance(e, ev.WorkerLost):
            h = self._host(self._place(e.worker))
            h.up.discard(e.worker)
            h.busy.discard(e.worker)
            h.lost.add(e.worker)
        elif isinstance(e, ev.TasksDone):
            self._host(self._place(e.worker)).done += e.count
        else:
            return False
        return True

    def _place(self, worker: str) -> str:
        # Until events name their pool, a worker unseen in WorkerUp is placed
        # by its label: "<host>-<index>"; local workers are "local-<index>".
        host = self._host_of.get(worker)
        if host is None:
            prefix = worker.rpartition("-")[0] or worker
            host = LOCAL if prefix == "local" else prefix
        return host

    def _host(self, name: str) -> _Host:
        h = self._hosts.get(name)
        if h is None:
            h = self._hosts[name] = _Host()
        return h

    def seed(self, workers: list, pool: Optional[str] = None) -> None:
        """Start from a pool's live workers (label, host, inflight, lost);
        with ``pool`` (its name), count only that pool's events from now on."""
        with self._lock:
            self._pool = pool
            for w in workers:
                self._host_of[w.label] = w.host
                h = self._host(w.host)
                (h.lost if w.lost else h.up).add(w.label)
                if getattr(w, "inflight", None) and not w.lost:
                    h.busy.add(w.label)

    def reset(self) -> None:
        """Forget every worker and count (a new pool starts)."""
        with self._lock:
            self._hosts.clear()
            self._host_of.clear()
            self._pool = None

    def snapshot(self) -> dict[str, HostLive]:
        with self._lock:
            return {name: HostLive(len(h.up), len(h.busy), len(h.lost), h.done)
                    for name, h in self._hosts.items()}
