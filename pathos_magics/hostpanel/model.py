"""The host picker's model and controller: no ipywidgets here.

::

    clicks (kernel main thread)        background threads          events (I/O threads)
    ---------------------------        ------------------          --------------------
    set_checked/set_workers/...  --->  test(alias): ssh probe      WorkerUp/Busy/Lost,
    test/start/stop/open_tunnel        start: active.set_active    TasksDone -> LiveHosts
       return at once                  stop: pool.clear()                |
            |                                |                    ticker thread, at most
            v                                v                    every INTERVAL s
         _notify() -------------> listeners(state()) <-------------------+

A view (widget.py, or a test) registers with :meth:`PanelModel.on_change`
and renders the immutable :class:`PanelState` it is given; it never reads
the model's insides.  Every slow step (ssh connects, starting or stopping a
pool, opening a tunnel) runs in a background thread, so a click returns at
once; :meth:`PanelModel.wait` waits, bounded, for them.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .. import active, events
from .. import hosts as _hosts
from ..pools.servers import from_words
from .live import LOCAL, HostLive, LiveHosts
from .probe import ProbeResult, probe_host
from .sources import HostEntry, known_hosts
from .state import PanelState, RowState, describe_pool

_log = logging.getLogger(__name__)

#: Live status is re-rendered at most this often (seconds).
INTERVAL = 0.25
MAX_ROWS = 50

Listener = Callable[["PanelState"], None]


@dataclass
class _Row:
    entry: HostEntry
    checked: bool = False
    workers: Optional[int] = None
    status: str = "untested"           # untested | testing | ok | error
    result: Optional[ProbeResult] = None


class PanelModel:
    """Hosts, their tests, the local count, the panel's pool and tunnels.

    Args:
        python: the Python command for every host (default: each host's
            registry entry, else ``python3``); passed to the pool if given.
        max_rows: at most this many host rows are shown (use the filter).
        timeout: seconds for each ssh step of a Test.
        prober: ``prober(ssh_host, python=..., timeout=...) -> ProbeResult``.
        starter: ``starter(kind, nodes, **options) -> pool`` (active.set_active).
        config, registry: the ssh config path and host registry to read.
    """

    def __init__(self, *, python: Optional[str] = None, max_rows: int = MAX_ROWS,
                 timeout: float = 10.0, prober: Callable[..., ProbeResult] = probe_host,
                 starter: Callable[..., Any] = active.set_active,
                 config: Optional[str] = None,
                 registry: Optional[_hosts.HostRegistry] = None) -> None:
        if not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(f"max_rows must be a positive int, not {max_rows!r}")
        self.python, self.max_rows, self.timeout = python, max_rows, timeout
        self._prober, self._starter = prober, starter
        self._config, self._registry = config, registry or _hosts.REGISTRY
        self._lock = threading.RLock()
        self._rows: dict[str, _Row] = {}
        self._listeners: list[Listener] = []
        self._threads: list[threading.Thread] = []
        self.local, self.filter = 0, ""
        self._action: Optional[str] = None
        self._pool: Any = None
        self._spec: Any = None
        self._message = ""
        self.reload()
        self.live = LiveHosts(on_change=self._live_changed)
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True,
                                        name="pathos-panel-live")
        self._ticker.start()
        events.subscribe(self.live)

    # ------------------------------------------------------------ hosts

    def reload(self) -> None:
        """Read the ssh config and registry again; keeps each row's choices."""
        entries, problem = known_hosts(self._config, self._registry)
        with self._lock:
            old = self._rows
            self._rows = {}
            for e in entries:
                row = old.get(e.alias) or _Row(e, workers=e.workers)
                row.entry = e
                self._rows[e.alias] = row
            if problem:
                self._message = problem
        self._notify()

    @property
    def aliases(self) -> list[str]:
        with self._lock:
            return list(self._rows)

    def _row(self, alias: str) -> _Row:
        try:
            return self._rows[alias]
        except KeyError:
            raise KeyError(f"no host {alias!r} in the panel; add it with "
                           "add('[user@]host')") from None

    def set_checked(self, alias: str, checked: bool) -> None:
        with self._lock:
            self._row(alias).checked = bool(checked)
        self._notify()

    def set_workers(self, alias: str, workers: Optional[int]) -> None:
        """Workers wanted on ``alias`` (None or 0: all its cores)."""
        if workers is not None and (not isinstance(workers, int) or workers < 0):
            raise ValueError(f"workers must be a whole number >= 0, not {workers!r}")
        with self._lock:
            self._row(alias).workers = workers or None
        self._notify()

    def set_local(self, count: int) -> None:
        """Local worker processes beside the hosts (0: hosts only)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"the local worker count must be a whole number >= 0, "
                             f"not {count!r}")
        with self._lock:
            self.local = count
        self._notify()

    def set_filter(self, text: str) -> None:
        with self._lock:
            self.filter = (text or "").strip()
        self._notify()

    def add(self, spec: str) -> bool:
        """Put ``[user@]host[:workers]`` into the registry; False (and a
        message) if the spec is malformed."""
        try:
            host = self._registry.add(spec)
        except (_hosts.HostSpecError, _hosts.HostsFileError, OSError) as exc:
            self._say(f"Add: {exc}")
            return False
        self._say(f"added {host.name} to the host registry ({self._registry.path})")
        self.reload()
        return True

    # ------------------------------------------------------------ Test

    def test(self, alias: str) -> threading.Thread:
        """Test ``alias`` in the background (see probe.py)."""
        with self._lock:
            row = self._row(alias)
            row.status, row.result = "testing", None
        self._notify()
        return self._background(self._test, alias, row.entry, name=f"test-{alias}")

    def _test(self, alias: str, entry: HostEntry) -> None:
        python = self.python or entry.python or "python3"
        result = self._prober(entry.ssh_host, python=python, timeout=self.timeout)
        with self._lock:
            row = self._rows.get(alias)
            if row is not None:
                row.result = result
                row.status = "ok" if result.ok else "error"
                if result.ok and row.workers is None:
                    row.workers = result.cores
        _record(self._registry, alias, result)
        self._notify()

    # ------------------------------------------------------------ the pool

    def selection(self) -> tuple[str, ...]:
        """The checked hosts as pool specs (``alias:workers`` or ``alias``)."""
        with self._lock:
            return tuple(f"{r.entry.alias}:{r.workers}" if r.workers else r.entry.alias
                         for r in self._rows.values() if r.checked)

    def _pool_args(self) -> tuple[str, Optional[int], dict]:
        words = self.selection()
        if not words:
            return "process", self.local or None, {}
        # the magic's `host:N` words; servers= takes a count as {host: N}
        options: dict[str, Any] = {"servers": from_words(words)}
        if self.python:
            options["python"] = self.python
        return "remote", self.local or None, options

    def code(self) -> str:
        """The equivalent ``%pathos`` line and Python call."""
        kind, nodes, options = self._pool_args()
        if kind == "process" and not nodes:
            return "# check hosts, or set local workers, then Start"
        if kind == "process":
            return (f"%pathos pool process {nodes}\n# or, in Python:\n"
                    f"from pathos_magics import active; active.set_active('process', "
                    f"{nodes})")
        line = "%pathos pool remote " + " ".join(self.selection())
        line += f" --local {nodes}" if nodes else ""
        line += f" --python {self.python}" if self.python else ""
        extra = "".join(f", {k}={v!r}" for k, v in options.items())
        return (f"{line}\n# or, in Python:\nfrom pathos_magics import active; "
                f"active.set_active('remote', {nodes}{extra})")

    def running(self) -> bool:
        pool = self._pool
        return pool is not None and pool.state == "running"

    def start(self) -> Optional[threading.Thread]:
        """Build the pool from the checked hosts and local workers and make it
        the active pool, in the background; None if not applicable."""
        with self._lock:
            if not self._can_start():
                self._message = "Start: check a host or set local workers first" \
                    if self._action is None and not self.running() else \
                    "Start: wait for the running action, or Stop the pool first"
                args = None
            else:
                args = self._pool_args()
                self._action, self._message = "start", "starting the pool..."
        self._notify()
        return None if args is None else self._background(self._start, *args,
                                                          name="start")

    def _can_start(self) -> bool:
        return (self._action is None and not self.running()
                and (bool(self.selection()) or self.local > 0))

    def _start(self, kind: str, nodes: Optional[int], options: dict) -> None:
        self.live.reset()
        try:
            pool = self._starter(kind, nodes, **options)
            self._pool, self._spec = pool, active.active_spec()
            self.live.seed(pool.workers, pool=pool.name)
            self._say(f"started {pool.name} as the active pool: Pool() and "
                      "%%pmap in the next cells use it")
        except Exception as exc:            # noqa: BLE001 - shown in the panel
            _log.info("the panel could not start a pool: %s", exc, exc_info=True)
            self._say(f"Start failed: {exc}")
        finally:
            self._end_action()

    def stop(self) -> Optional[threading.Thread]:
        """Stop the panel's pool (its workers and servers) in the background."""
        with self._lock:
            if self._action is not None or self._pool is None:
                return None
            self._action, self._message = "stop", "stopping the pool..."
        self._notify()
        return self._background(self._stop, name="stop")

    def _stop(self) -> None:
        try:
            self._pool.clear()
            if active.active_spec() == self._spec:
                active.reset_active()
            self._pool = self._spec = None
            self.live.reset()
            self._say("stopped: the active pool is the default again")
        except Exception as exc:            # noqa: BLE001 - shown in the panel
            _log.info("the panel could not stop its pool: %s", exc, exc_info=True)
            self._say(f"Stop failed: {exc}")
        finally:
            self._end_action()

    def _end_action(self) -> None:
        with self._lock:
            self._action = None
        self._notify()

    # ------------------------------------------------------------ tunnels

    def open_tunnel(self, spec: str) -> Optional[threading.Thread]:
        """Open ``[user@]host:port`` in the background (as ``%pathos tunnel``)."""
        from .. import ssh
        try:
            host, port = ssh.parse_tunnel_spec(spec)
        except ValueError as exc:
            self._say(f"Tunnel: {exc}")
            return None
        return self._background(self._open_tunnel, host, port, name=f"tunnel-{host}")

    def _open_tunnel(self, host: str, port: int) -> None:
        from .. import ssh
        try:
            t = ssh.open_tunnel(host, port)
            self._say(f"tunnel {host}:{port} -> 127.0.0.1:{t.local_port}")
        except (ssh.SSHError, OSError) as exc:
            self._say(f"Tunnel to {host}:{port} failed: {exc}")

    def close_tunnel(self, host: str, port: int) -> None:
        from .. import ssh
        ssh.close_tunnel(host, port)
        self._say(f"closed the tunnel to {host}:{port}")

    # ------------------------------------------------------------ state

    def state(self) -> PanelState:
        """An immutable picture of everything a view shows."""
        from .. import ssh
        live = self.live.snapshot()
        with self._lock:
            rows = [r for r in self._rows.values()
                    if self.filter.lower() in r.entry.alias.lower()]
            shown = rows[:self.max_rows]
            pool = self._pool
            running = self.running()
            return PanelState(
                rows=tuple(_row_state(r, live.get(r.entry.alias, HostLive()))
                           for r in shown),
                hidden=len(rows) - len(shown), total=len(self._rows),
                filter=self.filter, local=self.local,
                local_live=live.get(LOCAL, HostLive()), action=self._action,
                pool=describe_pool(pool), running=running,
                can_start=self._can_start(),
                can_stop=self._action is None and pool is not None,
                message=self._message, code=self.code(),
                tunnels=tuple(dict(t.describe(), remote_port=t.remote_port)
                              for t in ssh.tunnels()))

    def on_change(self, fn: Listener) -> Listener:
        """Call ``fn(state)`` after every change (from any thread)."""
        with self._lock:
            self._listeners = self._listeners + [fn]
        return fn

    def _notify(self) -> None:
        if not self._listeners:
            return
        state = self.state()
        for fn in self._listeners:
            try:
                fn(state)
            except Exception:               # noqa: BLE001 - a view must not break us
                _log.exception("panel view %r failed", fn)

    def _say(self, message: str) -> None:
        with self._lock:
            self._message = message
        self._notify()

    def _live_changed(self) -> None:
        self._dirty.set()

    def _tick(self) -> None:
        while not self._closed.is_set():
            if self._dirty.wait(1.0) and not self._closed.is_set():
                self._dirty.clear()
                self._notify()
                self._closed.wait(INTERVAL)

    # ------------------------------------------------------------ threads

    def _background(self, fn: Callable, *args: Any, name: str) -> threading.Thread:
        t = threading.Thread(target=fn, args=args, daemon=True,
                             name=f"pathos-panel-{name}")
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        return t

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait (at most ``timeout`` s) for every background action; True if
        none is left running."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = [t for t in self._threads if t.is_alive()]
            if not threads:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            threads[0].join(min(left, 0.5))

    def close(self) -> None:
        """Stop observing events (the pool, if any, keeps running)."""
        events.unsubscribe(self.live)
        self._closed.set()
        self._dirty.set()
        self._ticker.join(2.0)
        with self._lock:
            self._listeners = []


def _row_state(r: _Row, live: HostLive) -> RowState:
    if r.status == "testing":
        message = "testing..."
    elif r.result is not None:
        message = r.result.summary()
    else:
        message = "not tested"
    return RowState(r.entry.alias, r.entry.source, r.checked, r.workers, r.status,
                    message, live)


def _record(registry: _hosts.HostRegistry, alias: str, result: ProbeResult) -> None:
    """Note a Test in the registry (nothing for a host not registered)."""
    try:
        registry.set_status(alias, "ok" if result.ok else "unreachable", result.error)
    except (_hosts.HostsFileError, OSError) as exc:
        _log.warning("could not record the test of %s: %s", alias, exc)
