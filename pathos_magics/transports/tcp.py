"""Workers of a running server at an address (``ParallelPool(servers=("localhost:5653",))``).

The server is ``pathos_server`` (or ``tunneled_pathos_server``,
``core.serve``, :class:`pathos_magics.server.Server`): the ssh transport's
host-side server, listening on some host's 127.0.0.1, usually reached
through an ssh tunnel whose local end is the address given here.  The
protocol is the ssh transport's, over a plain TCP connection::

    kernel                                   server (host:port)
    connect, HMAC challenge both ways with the shared secret
    "info"   ->                              fork; answer, exit
             <- {"workers": 8, "python": "3.11.9", ...}
    per worker: connect, challenge, "worker" -> fork worker.process_main
             <- HELLO, then RUN / DONE ... (multiprocessing framing)

The secret is the one the server uses: ``secret=`` (bytes or hex) or the
per-user secret file (transports/ssh/secret.py).  Closing the pool closes
the connections (each worker exits); the server keeps running for the next
client.
"""
from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from typing import Optional, Union

from .. import wire
from ..errors import TransportError
from .base import ChannelWorker, Transport, WorkerSink, stop_together
from .ssh.protocol import INTENT_INFO, INTENT_WORKER
from .ssh.secret import SecretError, parse_secret, read_secret_file
from .ssh.transport import ChannelConnection

_log = logging.getLogger(__name__)


class ServerUnusable(TransportError):
    """A server at an address does not answer, or cannot be used (its secret,
    its Python); the message says why and what to do."""


class TCPWorker(ChannelWorker):
    """A worker forked by a server for one TCP connection."""

    def __init__(self, label: str, sock: socket.socket, sink: WorkerSink,
                 host: str) -> None:
        self.sock = sock
        self.conn = ChannelConnection(sock)    # the same framing over a socket
        super().__init__(label, wire.Channel(self.conn), sink, host=host)
        self.info: dict = {}

    def kill(self) -> None:
        # shutdown wakes our reader (a plain close would not) and the worker
        # reads EOF and exits.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class TCPTransport(Transport):
    """The workers a running server offers, at ``host:port``.

    Args:
        host, port: the server's address (usually a tunnel's local end).
        secret: the server's key (bytes, or hex text); default: the
            per-user secret file.
        secret_file: that file, when not the default one.
        connect_timeout: seconds for each connection and its handshake.
        workers: how many workers to use (default: as many as it offers).
    """

    can_replace = True

    def __init__(self, host: str, port: int, *, secret: Union[bytes, str, None] = None,
                 secret_file: Optional[str] = None, connect_timeout: float = 10.0,
                 workers: Optional[int] = None) -> None:
        self.host, self.port = host, int(port)
        self.label = f"{host}:{port}"
        self.name = f"server:{self.label}"
        self._secret = secret
        self._secret_file = secret_file
        self.connect_timeout = connect_timeout
        self.workers = workers
        self.info: dict = {}
        self._handles: list[TCPWorker] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def count(self) -> int:
        """Workers to start (known after :meth:`prepare`)."""
        return self.workers or int(self.info.get("workers", 1))

    def _key(self) -> bytes:
        try:
            if self._secret is not None:
                return parse_secret(self._secret)
            return read_secret_file(self._secret_file)
        except SecretError as exc:
            raise ServerUnusable(f"no secret for the server at {self.label}: {exc}") \
                from None

    def prepare(self) -> int:
        """Ask the server how many workers it offers; returns the count.

        Raises:
            ServerUnusable: no answer, a refused secret, another Python.
        """
        sock = self._open(INTENT_INFO)
        try:
            info = json.loads(ChannelConnection(sock).recv_bytes(65536))
        except (OSError, EOFError, ValueError) as exc:
            raise ServerUnusable(f"the server at {self.label} did not say what it "
                                 f"offers: {exc}") from None
        finally:
            sock.close()
        mine = "%d.%d" % sys.version_info[:2]
        theirs = ".".join(str(info.get("python", "?")).split(".")[:2])
        if theirs != mine:
            raise ServerUnusable(f"the server at {self.label} runs Python {theirs}, this "
                                 f"kernel {mine}: functions pickled here load only in "
                                 "the same major.minor; start it with a matching Python")
        self.info = info
        return self.count

    def _open(self, intent: bytes) -> socket.socket:
        """A connection, authenticated both ways, that has said ``intent``."""
        from multiprocess.connection import (AuthenticationError, answer_challenge,
                                             deliver_challenge)
        try:
            sock = socket.create_connection((self.host, self.port),
                                            timeout=self.connect_timeout)
        except OSError as exc:
            raise ServerUnusable(f"no server answers at {self.label} "
                                 f"({exc.strerror or exc})") from None
        try:
            key = self._key()
        except ServerUnusable:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = ChannelConnection(sock)     # reads bounded by the socket's timeout
        try:
            answer_challenge(conn, key)
            deliver_challenge(conn, key)
            conn.send_bytes(intent)
        except AuthenticationError:
            sock.close()
            raise ServerUnusable(
                f"the server at {self.label} refused the secret (or has another one): "
                "use the secret file it was started with, or pass secret=") from None
        except EOFError:
            sock.close()
            raise ServerUnusable(f"no server answers at {self.label} (the connection "
                                 "closed before the handshake: a tunnel whose server "
                                 "is down, or a server that is full)") from None
        except OSError as exc:
            sock.close()
            raise ServerUnusable(f"the server at {self.label} answered but did not "
                                 f"complete the handshake ({exc or type(exc).__name__}); "
                                 "is it a pathos_magics server?") from None
        return sock

    def start(self, count: int, sink: WorkerSink, first_index: int = 0
              ) -> list[TCPWorker]:
        if self._closed:
            raise TransportError(f"the transport to {self.label} is closed; "
                                 "start a new pool (pool.restart()).")
        started: list[TCPWorker] = []
        try:
            for index in range(first_index, first_index + count):
                started.append(self._connect(f"{self.label}-{index}", sink))
        except BaseException:
            for handle in started:          # all or none
                handle.kill()
            raise
        with self._lock:
            self._handles = [h for h in self._handles if not h.lost] + started
        for handle in started:
            sink.on_message(handle, (wire.HELLO, handle.info))
            handle.start_reader()
        return started

    def _connect(self, label: str, sink: WorkerSink) -> TCPWorker:
        sock = self._open(INTENT_WORKER)
        handle = TCPWorker(label, sock, sink, host=self.label)
        try:
            msg = handle.channel.recv()
        except (EOFError, OSError) as exc:
            handle.kill()
            raise TransportError(f"worker {label} at {self.label} did not say hello "
                                 f"({exc}); the server may be full") from exc
        if msg[0] != wire.HELLO:
            handle.kill()
            raise TransportError(f"worker {label} at {self.label} sent {msg[0]!r} "
                                 "before hello; is the server's pathos_magics the same?")
        sock.settimeout(None)
        handle.info, handle.pid = msg[1], msg[1].get("pid")
        handle.transport = self
        return handle

    def live_workers(self) -> int:
        return sum(1 for h in self._handles if not h.lost)

    def close(self, timeout: float = 5.0) -> None:
        """Stop this pool's workers (the server keeps running)."""
        with self._lock:
            self._closed = True
            handles, self._handles = self._handles, []
        stop_together(handles, timeout)

    def __repr__(self) -> str:
        return f"<TCPTransport {self.label} workers={self.live_workers()}>"
