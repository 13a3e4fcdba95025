"""Workers on another machine, reached over ssh.

How a host joins a pool::

    kernel                                          host
    ------                                          ----
    get_session(host)  (one verified connection per host, ssh toolkit)
    exec: python -c BOOT ...  ------------------->  right Python major.minor?
                                                    pathos_magics, dill and
                                                    multiprocess importable and
                                                    the same as the kernel's?
         <- "PATHOS_MAGICS_BOOT status=missing"     no: exit (we copy them
            SFTP site.zip into a private folder,        over, then launch again)
            launch again
    stdin -> authkey (hex line)                     transports/ssh/server.py:
         <- "PATHOS_MAGICS_SERVER port=P cpus=N"    listens on 127.0.0.1:P
    per worker: direct-tcpip channel to 127.0.0.1:P ->  fork a worker
                HMAC challenge both ways, "worker"       worker.process_main
    RUN / DONE ... over the channel (multiprocessing framing)

The channels carry the same framing as a :mod:`multiprocessing.connection`
socket, so the server side is a plain socket and the authentication is the
library's own challenge.  When the host is lost (sshd killed, link cut) every
channel closes, each worker's reader reports it lost, and the scheduler
retries its chunks on the other workers; the next ``start`` reconnects.
"""
from __future__ import annotations

import logging
import os
import posixpath
import shlex
import struct
import sys
import threading
import time
from typing import Optional
from urllib.parse import unquote

import paramiko

from ... import wire
from ...errors import TransportError
from ...ssh.pipe import Stream
from ...ssh.session import SSHError, Session, get_session
from ...system import split_user
from ..base import ChannelWorker, Transport, WorkerSink, stop_together
from .bootstrap import boot_argv, package_tag, ship_packages
from .protocol import (BOOT_TAG, DEFAULT_REMOTE_DIR, ENV_REMOTE_DIR, INTENT_WORKER,
                       SERVER_TAG, parse_fields)
from .throttle import Throttle

_log = logging.getLogger(__name__)

LAUNCH_TIMEOUT = 30.0         # boot + imports + banner
RETRY_AFTER = 5.0             # a host that just failed is not retried sooner
OUTPUT_LINES = 20             # a server's lines shown per window...
OUTPUT_WINDOW = 10.0          # ...of this many seconds (the rest are counted)

# ---------------------------------------------------------------- the wire

class ChannelConnection:
    """A multiprocessing-Connection look-alike over a paramiko channel.

    Same framing as multiprocessing's sockets (a ``!i`` length, or ``-1``
    then ``!Q`` for huge messages), so the far end is an ordinary socket
    wrapped in :class:`multiprocess.connection.Connection`, and the
    library's ``deliver_challenge``/``answer_challenge`` authenticate it.
    """

    def __init__(self, chan: paramiko.Channel) -> None:
        self.chan = chan

    def send_bytes(self, buf: bytes) -> None:
        n = len(buf)
        header = struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)
        if n < 65536:
            self.chan.sendall(header + bytes(buf))
        else:                                # no copy of a big payload
            self.chan.sendall(header)
            self.chan.sendall(buf)

    def recv_bytes(self, maxlength: Optional[int] = None) -> bytes:
        size, = struct.unpack("!i", self._exact(4))
        if size == -1:
            size, = struct.unpack("!Q", self._exact(8))
        if maxlength is not None and size > maxlength:
            raise OSError(f"message of {size} bytes is too long")
        return self._exact(size)

    def _exact(self, n: int) -> bytes:
        data = self.chan.recv(n)
        if len(data) == n:
            return data
        buf = bytearray(data)
        while len(buf) < n:
            if not data:
                raise EOFError("the ssh channel closed")
            data = self.chan.recv(n - len(buf))
            buf += data
        return bytes(buf)

    def close(self) -> None:
        self.chan.close()

    def fileno(self) -> int:
        return self.chan.fileno()


class SSHWorker(ChannelWorker):
    """A worker process on a host, behind one ssh channel."""

    def __init__(self, label: str, conn: ChannelConnection, sink: WorkerSink,
                 host: str) -> None:
        super().__init__(label, wire.Channel(conn), sink, host=host)
        self.conn = conn
        self.info: dict = {}            # its HELLO: pid, host, python, label

    def _why_lost(self, default: str) -> str:
        transport = self.conn.chan.get_transport()
        if transport is None or not transport.is_active():
            return f"the ssh connection to {self.host} was lost"
        return default

    def kill(self) -> None:
        # The worker reads EOF on its socket and exits at once (worker.py).
        self.conn.close()


# ---------------------------------------------------------------- packages

# ---------------------------------------------------------------- the server

class RemoteServer:
    """A running ``pathos-server`` on a host: its exec channel and port."""

    def __init__(self, chan: paramiko.Channel, port: int, cpus: int, pid: int,
                 authkey: bytes) -> None:
        self.chan, self.port, self.cpus, self.pid = chan, port, cpus, pid
        self.authkey = authkey

    def alive(self) -> bool:
        return not self.chan.closed and not self.chan.exit_status_ready() \
            and self.chan.get_transport().is_active()

    def stop(self, timeout: float) -> None:
        """Close its stdin: it kills its workers and exits."""
        try:
            self.chan.shutdown_write()
            self.chan.status_event.wait(timeout)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        self.chan.close()


def _read_launch(chan: paramiko.Channel, deadline: float
                 ) -> tuple[dict[str, str], dict[str, str], str]:
    """Read the server's stdout until its banner; (boot, banner, stderr)."""
    boot: dict[str, str] = {}
    buf = b""
    chan.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            data = chan.recv(4096)
        except TimeoutError:
            continue
        if not data:
            break
        buf += data
        while b"\n" in buf:
            raw, buf = buf.split(b"\n", 1)
            line = raw.decode(errors="replace").strip()
            if line.startswith(BOOT_TAG):
                boot = {k: unquote(v) for k, v in parse_fields(line).items()}
            elif line.startswith(SERVER_TAG):
                chan.settimeout(None)
                return boot, parse_fields(line), ""
    err = b""
    while chan.recv_stderr_ready():
        err += chan.recv_stderr(65536)
    if time.monotonic() >= deadline and not err:
        err = f"no answer within {LAUNCH_TIMEOUT:.0f}s".encode()
    return boot, {}, err.decode(errors="replace")


def _drain_output(chan: paramiko.Channel, host: str) -> None:
    """Log what the server and its workers print outside the wire (C code,
    the server's own warnings), so the channel window never fills; within
    a budget of lines (the rest at DEBUG level, and counted)."""
    budget = Throttle(OUTPUT_LINES, OUTPUT_WINDOW)
    try:
        for stream, line in Stream(chan, "pathos-server", host, timeout=None):
            _say_hidden(budget, host)
            level = logging.WARNING if budget.allow() else logging.DEBUG
            _log.log(level, "[%s %s] %s", host, stream, line)
    except (OSError, EOFError, TimeoutError, paramiko.SSHException):
        pass
    _say_hidden(budget, host, force=True)


def _say_hidden(budget: Throttle, host: str, force: bool = False) -> None:
    hidden = budget.summary(force)
    if hidden:
        _log.warning("[%s] %d more lines of its output not shown (over %d in "
                     "%.0fs); logger %s at DEBUG level shows them all", host,
                     sum(hidden.values()), OUTPUT_LINES, OUTPUT_WINDOW, __name__)


def _refusal(host: str, status: str, boot: dict[str, str]) -> str:
    """Why BOOT would not run code from the private folder, and what to do."""
    path = boot.get("path", "?")
    if status == "unsafe":
        return (f"{host}: refusing to run code from {path}: it {boot.get('why')}, "
                "so another user could have put code there to run as you. Make it "
                "yours and writable only by you (chown, chmod go-w), or choose "
                f"another remote_dir (or {ENV_REMOTE_DIR}).")
    return (f"{host}: the private copy in {path} was modified after it was copied "
            f"(differs: {boot.get('packages')}); refusing to run it. "
            "Remove that folder (a fresh copy is made) and check who changed it.")


def _hello(handle: SSHWorker, host: str) -> dict:
    """The worker's first message, read before its reader thread starts."""
    try:
        msg = handle.channel.recv()
    except (EOFError, OSError) as exc:
        handle.conn.close()
        raise TransportError(f"worker {handle.label} on {host} did not say "
                             f"hello: {exc}") from exc
    if msg[0] != wire.HELLO:
        handle.conn.close()
        raise TransportError(f"worker {handle.label} on {host} sent {msg[0]!r} "
                             "before hello; is the host's pathos_magics the same?")
    return msg[1]


class SSHTransport(Transport):
    """Workers on one host, via ``pathos-server`` behind its ssh session.

    Args:
        host: ``host`` or ``user@host`` (an ssh config alias works).
        workers: how many workers (default: the host's CPU count, as the
            server reports it).
        python: the Python command on the host.
        accept_new_host_key: trust an unknown host key (see ssh.session).
        remote_dir: where packages are copied when the host lacks them
            (default ``~/.cache/pathos_magics``, or ``PATHOS_MAGICS_REMOTE_DIR``).
        connect_timeout: seconds for each connection step.
        label: prefix of worker labels (default: the host name).
        authkey: the server's key (default: a fresh random one per launch;
            ``tunneled_pathos_server`` gives the per-user secret, so that
            other clients can join the server through a tunnel).
    """

    can_replace = True

    def __init__(self, host: str, *, workers: Optional[int] = None,
                 python: str = "python3", accept_new_host_key: Optional[bool] = None,
                 remote_dir: Optional[str] = None, connect_timeout: float = 10.0,
                 label: Optional[str] = None, authkey: Optional[bytes] = None) -> None:
        self.host = host
        self._authkey = authkey
        self.label = label or split_user(host)[1]
        self.name = f"ssh:{self.label}"
        self.workers = workers
        self.python = python
        self.accept_new_host_key = accept_new_host_key
        self.remote_dir = (remote_dir or os.environ.get(ENV_REMOTE_DIR)
                           or DEFAULT_REMOTE_DIR)
        self.connect_timeout = connect_timeout
        self.shipped = False           # whether packages were copied over
        self._server: Optional[RemoteServer] = None
        self._handles: list[SSHWorker] = []
        self._lock = threading.RLock()
        self._failed: Optional[tuple[float, BaseException]] = None
        self._closed = False

    # ------------------------------------------------------------ server

    @property
    def count(self) -> int:
        """Workers wanted on this host (known once the server is up)."""
        if self.workers:
            return self.workers
        return self._server.cpus if self._server else 1

    @property
    def server_port(self) -> Optional[int]:
        """The server's port on the host's 127.0.0.1 (None until it is up)."""
        return self._server.port if self._server else None

    @property
    def server_pid(self) -> Optional[int]:
        """The server's pid on the host (None until it is up)."""
        return self._server.pid if self._server else None

    def prepare(self) -> int:
        """Connect and launch the server now; returns the worker count."""
        with self._lock:
            self._ensure_server()
            return self.count

    def _ensure_server(self) -> RemoteServer:
        if self._closed:
            raise TransportError(f"the transport to {self.host} is closed; "
                                 "start a new pool (pool.restart()).")
        if self._server is not None and self._server.alive():
            return self._server
        # Several lost workers ask for a replacement at once: one attempt.
        if self._failed and time.monotonic() - self._failed[0] < RETRY_AFTER:
            raise self._failed[1]
        try:
            self._server = self._launch()
        except (TransportError, OSError) as exc:
            self._failed = (time.monotonic(), exc)
            raise
        self._failed = None
        return self._server

    def forget_failure(self) -> None:
        """Let the next ``start`` try the host again at once."""
        self._failed = None

    def _session(self) -> Session:
        return get_session(self.host, accept_new_host_key=self.accept_new_host_key,
                           timeout=self.connect_timeout)

    def _launch(self) -> RemoteServer:
        session = self._session()
        private = posixpath.join(self.remote_dir, package_tag())
        server = self._try_launch(session, private)
        if server is None:               # the host lacks our packages
            ship_packages(session, private)
            self.shipped = True
            server = self._try_launch(session, private)
        if server is None:
            raise TransportError(
                f"{self.host}: pathos_magics would not start from {private} "
                "even after copying it there. Check that the folder is writable.")
        return server

    def _try_launch(self, session: Session, private: str) -> Optional[RemoteServer]:
        """Start the server; None when the host needs our packages first."""
        authkey = self._authkey or wire.new_authkey()
        chan = session.exec(shlex.join(boot_argv(self.python, private, self.label,
                                                 self.workers or 0)))
        try:
            chan.sendall(authkey.hex().encode() + b"\n")   # stdin, never argv
        except OSError as exc:
            chan.close()
            raise SSHError(f"{self.host}: the server's stdin closed: {exc}") from exc
        boot, banner, err = _read_launch(chan, time.monotonic() + LAUNCH_TIMEOUT)
        if banner:
            threading.Thread(target=_drain_output, args=(chan, self.label),
                             daemon=True, name=f"pathos-ssh-out-{self.label}").start()
            return RemoteServer(chan, int(banner["port"]), int(banner.get("cpus", 1)),
                           int(banner.get("pid", 0)), authkey)
        chan.close()
        status = boot.get("status")
        if status == "missing":
            return None
        if status in ("unsafe", "tampered"):
            raise TransportError(_refusal(self.host, status, boot))
        if status == "version":
            raise TransportError(
                f"{self.host} runs Python {boot.get('python')} "
                f"({boot.get('executable', self.python)}), but this kernel runs "
                f"{sys.version_info[0]}.{sys.version_info[1]}: functions pickled "
                "here only load in the same major.minor version. Point the host "
                "at a matching Python (ParallelPool(..., python='python3.X') or "
                "hosts.add(..., python=...)).")
        raise TransportError(
            f"could not start pathos-server on {self.host} with "
            f"{self.python!r}: {err.strip()[-500:] or 'no output'}. Check that "
            "the python command exists there.")

    # ------------------------------------------------------------ workers

    def start(self, count: int, sink: WorkerSink, first_index: int = 0
              ) -> list[SSHWorker]:
        with self._lock:
            server = self._ensure_server()
            session = self._session()
            started: list[SSHWorker] = []
            try:
                for index in range(first_index, first_index + count):
                    started.append(self._connect(session, server, sink,
                                                 f"{self.label}-{index}"))
            except BaseException:
                for handle in started:      # all or none: no half-started set
                    handle.kill()
                raise
            self._handles = [h for h in self._handles if not h.lost] + started
        for handle in started:
            sink.on_message(handle, (wire.HELLO, handle.info))    # as it was read
            handle.start_reader()
        return started

    def _connect(self, session: Session, server: RemoteServer, sink: WorkerSink,
                 label: str) -> SSHWorker:
        from multiprocess.connection import (AuthenticationError,
                                             answer_challenge, deliver_challenge)
        chan = session.open_direct("127.0.0.1", server.port,
                                   timeout=self.connect_timeout)
        conn = ChannelConnection(chan)
        chan.settimeout(self.connect_timeout)          # bound the handshake
        try:
            answer_challenge(conn, server.authkey)
            deliver_challenge(conn, server.authkey)
            conn.send_bytes(INTENT_WORKER)
        except (AuthenticationError, EOFError, OSError) as exc:
            chan.close()
            raise TransportError(f"worker {label} on {self.host} failed to "
                                 f"authenticate: {exc}") from exc
        handle = SSHWorker(label, conn, sink, host=self.label)
        handle.info = _hello(handle, self.host)     # up, and known by its pid
        handle.pid = handle.info.get("pid")
        chan.settimeout(None)
        handle.transport = self
        return handle

    def live_workers(self) -> int:
        return sum(1 for h in self._handles if not h.lost)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers and the server (bounded by ``timeout``)."""
        with self._lock:
            self._closed = True
            handles, self._handles = self._handles, []
            server, self._server = self._server, None
        deadline = time.monotonic() + timeout
        stop_together(handles, timeout)
        if server is not None:
            server.stop(max(0.1, deadline - time.monotonic()))

    def __repr__(self) -> str:
        state = "up" if self._server and self._server.alive() else "down"
        return f"<SSHTransport {self.host} {state} workers={self.live_workers()}>"
