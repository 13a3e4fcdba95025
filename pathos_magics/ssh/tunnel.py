"""Local port forwarding: reach a port of a host through its ssh session.

    with Tunnel("node1", remote_port=8888) as t:
        urlopen(f"http://127.0.0.1:{t.local_port}/")

The local end binds 127.0.0.1 only.  Each accepted connection opens a
``direct-tcpip`` channel to ``remote_host:remote_port`` as the host sees it
(so a port the host binds to its own 127.0.0.1 is reachable), and one thread
pumps bytes both ways until either side closes.

A process-wide registry (:func:`open_tunnel`, :func:`tunnels`,
:func:`close_tunnel`) keeps tunnels opened by name, for the ``%pathos``
magics.
"""
from __future__ import annotations

import logging
import select
import socket
import threading
import time
from typing import Any, Optional

from .portpicker import portpicker
from .session import SSHError, get_session

_log = logging.getLogger(__name__)

_POLL = 0.5          # accept/pump loops check for close() this often
_BUFSIZE = 65536


class Tunnel:
    """A local port forwarded to ``remote_host:remote_port`` via ``host``.

    Args:
        host: ``host`` or ``user@host`` to tunnel through.
        remote_port: the port to reach, as seen from ``host``.
        remote_host: the address to reach, as seen from ``host``
            (default its own loopback).
        local_port: where to listen locally (default: a free port).
        **session_options: passed to :func:`get_session`.

    Attributes:
        state: 'new', 'open', 'closed' or 'failed' (see ``error``).
        local_port: the local port (after ``open()``).
    """

    def __init__(self, host: str, remote_port: int, *, remote_host: str = "127.0.0.1",
                 local_port: Optional[int] = None, **session_options: Any) -> None:
        if not isinstance(remote_port, int) or not 0 < remote_port < 65536:
            raise ValueError(f"remote_port must be a port number, not {remote_port!r}")
        self.host = host
        self.remote_host = remote_host
        self.remote_port = remote_port
        self.local_port = local_port
        self.state = "new"
        self.error: Optional[str] = None
        self.connections = 0
        self.opened_at: Optional[float] = None
        self._options = session_options
        self._sock: Optional[socket.socket] = None
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ lifecycle

    def open(self) -> "Tunnel":
        """Connect to the host and start listening; returns self."""
        if self.state == "open":
            return self
        try:
            get_session(self.host, **self._options)     # fail here, not later
            sock = _listen(self.local_port)
        except SSHError as exc:
            self.state, self.error = "failed", str(exc)
            raise
        sock.listen(16)
        sock.settimeout(_POLL)
        self._sock = sock
        self.local_port = sock.getsockname()[1]
        self._closing.clear()
        self.state, self.error, self.opened_at = "open", None, time.time()
        self._spawn(self._accept_loop, "accept")
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Stop listening and end every forwarded connection."""
        if self.state in ("closed", "new"):
            self.state = "closed"
            return
        self._closing.set()
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))
        if self._sock is not None:
            self._sock.close()
        if self.state == "open":
            self.state = "closed"

    def __enter__(self) -> "Tunnel":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.local_port}"

    def describe(self) -> dict:
        """A plain summary (for listings)."""
        return {"host": self.host, "remote": f"{self.remote_host}:{self.remote_port}",
                "local_port": self.local_port, "state": self.state,
                "connections": self.connections, "error": self.error}

    def __repr__(self) -> str:
        return (f"<Tunnel 127.0.0.1:{self.local_port} -> {self.host}:"
                f"{self.remote_host}:{self.remote_port} {self.state}>")

    # ------------------------------------------------------------ threads

    def _spawn(self, target, what: str, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True,
                             name=f"pathos-tunnel-{what}-{self.host}:{self.remote_port}")
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._closing.is_set():
            try:
                client, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self._spawn(self._forward, "pump", client)

    def _forward(self, client: socket.socket) -> None:
        try:
            chan = get_session(self.host, **self._options).open_direct(
                self.remote_host, self.remote_port)
        except SSHError as exc:
            _log.warning("tunnel %r: %s", self, exc)
            self.error = str(exc)
            if not _session_alive(self.host, self._options):
                self.state = "failed"
            client.close()
            return
        self.connections += 1
        try:
            _pump(client, chan, self._closing)
        finally:
            chan.close()
            client.close()


def _listen(port: Optional[int]) -> socket.socket:
    """A listening socket on the loopback only (never all interfaces)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port or 0))
    except OSError as exc:
        sock.close()
        raise SSHError(f"cannot listen on 127.0.0.1:{port}: {exc}. Choose "
                       "another local_port, or leave it out.") from exc
    return sock


def _session_alive(host: str, options: dict) -> bool:
    try:
        return get_session(host, **options).is_active()
    except SSHError:
        return False


def _pump(sock: socket.socket, chan: Any, closing: threading.Event) -> None:
    """Copy bytes both ways until one side closes (or the tunnel does)."""
    sock.setblocking(True)
    while not closing.is_set():
        readable, _, _ = select.select([sock, chan], [], [], _POLL)
        if sock in readable:
            data = sock.recv(_BUFSIZE)
            if not data:
                return
            chan.sendall(data)
        if chan in readable:
            data = chan.recv(_BUFSIZE)
            if not data:
                return
            sock.sendall(data)


# ---------------------------------------------------------------- registry

_TUNNELS: dict[tuple[str, str, int], Tunnel] = {}
_REG_LOCK = threading.Lock()


def open_tunnel(host: str, remote_port: int, *, remote_host: str = "127.0.0.1",
                local_port: Optional[int] = None, **session_options: Any) -> Tunnel:
    """Open (or return the already open) registered tunnel to ``host:remote_port``."""
    key = (host, remote_host, remote_port)
    with _REG_LOCK:
        t = _TUNNELS.get(key)
        if t is not None and t.state == "open":
            return t
        t = Tunnel(host, remote_port, remote_host=remote_host, local_port=local_port,
                   **session_options)
        _TUNNELS[key] = t
    return t.open()


def parse_tunnel_spec(spec: str) -> tuple[str, int]:
    """``"[user@]host:port"`` -> ``("[user@]host", port)`` (for ``%pathos tunnel``).

    Raises:
        ValueError: no port, or a port that is not a number in 1..65535.
    """
    host, sep, port = spec.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"tunnel spec {spec!r} must be [user@]host:port with a "
                         "port in 1..65535, e.g. 'node1:8888'")
    return host, int(port)


def tunnels() -> list[Tunnel]:
    """Registered tunnels (open, failed or recently closed), oldest first."""
    with _REG_LOCK:
        return list(_TUNNELS.values())


def close_tunnel(host: str, remote_port: int, *, remote_host: str = "127.0.0.1") -> bool:
    """Close and forget a registered tunnel; False if there was none."""
    with _REG_LOCK:
        t = _TUNNELS.pop((host, remote_host, remote_port), None)
    if t is None:
        return False
    t.close()
    return True


def close_all_tunnels() -> None:
    """Close every registered tunnel."""
    with _REG_LOCK:
        items = list(_TUNNELS.values())
        _TUNNELS.clear()
    for t in items:
        t.close()


def local_port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port`` here (for checks)."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


__all__ = ["Tunnel", "open_tunnel", "tunnels", "close_tunnel", "close_all_tunnels",
           "parse_tunnel_spec", "portpicker"]
