"""The host's side: the remote worker server (``pathos-server``, or
``python -m pathos_magics.server``).

Started by the kernel over ssh on each host (transport.py, bootstrap.py).  How it is used::

    kernel                               host
    ------                               ----
    ssh exec: python -m pathos_magics.server --workers 8
    stdin  <- authkey (hex, one line)     reads it (never from argv: argv is
                                          visible to every user of the host)
                                          binds 127.0.0.1:0 (a free port)
    stdout -> "PATHOS_MAGICS_SERVER port=41234 pid=... cpus=8"
    direct-tcpip channel to 127.0.0.1:41234, one per worker
                                          accept -> fork a worker process:
                                          HMAC challenge both ways with the
                                          authkey; the client's intent
                                          ("worker": worker.process_main;
                                          "info": the worker count, as JSON)
    ssh channel closes (kernel gone) ->   stdin EOF: kill every worker, exit

Nothing listens on a public address, a connection without the authkey is
refused, and no worker outlives the server (each dies with its parent), so
a host keeps no process once the kernel's connection is gone.  The same
server runs standalone (``pathos_server``, standalone.py): a fixed port, a
per-user secret, until SIGTERM.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import select
import signal
import socket
import sys
import threading
from typing import Optional

from ...system import cpu_count, die_with_parent, stop_children
from .protocol import (AUTHKEY_TIMEOUT, HANDSHAKE_TIMEOUT, INTENT_INFO, INTENT_WORKER,
                       server_banner)
from .throttle import Throttle

STOP_GRACE = 1.0           # SIGTERM, then SIGKILL after this long
REFUSED = 3                # a worker child's exit code: the peer failed the challenge
REFUSALS_SHOWN = 3         # refusals logged one by one per window...
REFUSALS_WINDOW = 5.0      # ...of this many seconds; the rest are summarised
_TICK = 1.0                # the accept loop wakes this often to summarise

_WHY = {"auth": f"failed the authkey challenge (or was silent {HANDSHAKE_TIMEOUT}s)",
        "full": "came while too many workers ran"}

_log = logging.getLogger("pathos_magics.server")


def _parse(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="pathos-server",
        description="Serve pathos_magics workers on 127.0.0.1 to a kernel "
                    "that reaches this host over ssh. The authkey is read "
                    "from stdin (one hex line); the port is printed.")
    p.add_argument("--workers", type=int, default=0,
                   help="workers the kernel will connect (0: one per CPU); "
                        "at most twice as many may run at once")
    p.add_argument("--label", default=socket.gethostname(),
                   help="prefix of worker labels (default: the host name)")
    return p.parse_args(argv)


def _read_authkey(timeout: float) -> bytes:
    """One hex line from stdin, within ``timeout``."""
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        raise SystemExit(f"pathos-server: no authkey on stdin within {timeout:.0f}s")
    line = sys.stdin.buffer.readline().strip()
    try:
        key = bytes.fromhex(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < 16:
        raise SystemExit("pathos-server: stdin must start with the authkey "
                         "as one line of hex (at least 32 digits)")
    return key


class WorkerServer:
    """Accepts connections and forks one authenticated worker for each."""

    def __init__(self, sock: socket.socket, authkey: bytes, label: str,
                 max_workers: int, offered: Optional[int] = None) -> None:
        self.sock = sock
        self.authkey = authkey
        self.label = label
        self.max_workers = max_workers
        self.offered = offered or max(1, max_workers // 2)   # told to who asks
        self.children: set[int] = set()
        self._count = 0
        # Any user of this host can connect: refusals are counted (the
        # SIGCHLD handler only counts) and logged within a budget.
        self._refused = 0
        self._throttle = Throttle(REFUSALS_SHOWN, REFUSALS_WINDOW)

    def serve(self) -> None:
        """Accept until the socket is closed (the main thread: SIGCHLD reaps)."""
        signal.signal(signal.SIGCHLD, self._reap)
        self.sock.settimeout(_TICK)
        while self.accept_one():
            pass

    def accept_one(self) -> bool:
        """Take one connection (or wait one tick for it) and fork its
        worker; False once the socket is closed."""
        self._report_refusals()
        try:
            conn, _ = self.sock.accept()
        except TimeoutError:
            return True
        except OSError:
            return False
        conn.settimeout(None)
        # multiprocessing writes a big message as header + payload: with
        # Nagle on, the payload's tail waits ~40 ms for a delayed ACK.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reap()
        if len(self.children) >= self.max_workers:
            self._refuse("full")
            conn.close()
            return True
        self._fork(conn)
        return True

    def _fork(self, conn: socket.socket) -> None:
        label = f"{self.label}-{self._count}"
        self._count += 1
        pid = os.fork()
        if pid == 0:                       # the worker
            code = 1
            try:
                self.sock.close()
                code = _worker_child(conn, self.authkey, label, self.info())
            finally:
                os._exit(code)
        self.children.add(pid)
        conn.close()

    def info(self) -> dict:
        """What an ``info`` request is told: the workers this server offers."""
        return {"workers": self.offered, "cpus": cpu_count(), "pid": os.getpid(),
                "python": sys.version.split()[0], "host": socket.gethostname()}

    def reap(self) -> None:
        """Wait for the workers that have exited (without blocking)."""
        self._reap()

    def _reap(self, *_: object) -> None:
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                self.children.discard(pid)
                if _was_refused(status):
                    self._refused += 1          # logged by the accept loop

    def _report_refusals(self, force: bool = False) -> None:
        refused, self._refused = self._refused, 0
        for _ in range(refused):
            self._refuse("auth")
        hidden = self._throttle.summary(force)
        if hidden:
            _log.warning("refused %d more connections in the last %.0fs (%s); "
                         "someone on this host is connecting to port %d",
                         sum(hidden.values()), REFUSALS_WINDOW,
                         ", ".join(f"{n} {_WHY[k]}" for k, n in sorted(hidden.items())),
                         self.sock.getsockname()[1])

    def _refuse(self, why: str) -> None:
        if self._throttle.allow(why):
            _log.warning("refused a connection: it %s", _WHY[why])

    def stop(self) -> None:
        """End every worker: SIGTERM, then SIGKILL after a grace period.

        Runs in the stdin watcher thread (no signal handlers set here).
        """
        stop_children(self.children, STOP_GRACE, self._reap)
        self._report_refusals(force=True)


def _was_refused(status: int) -> bool:
    """A worker child that refused its peer: it said so, or its alarm rang."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status) == REFUSED
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM


def _worker_child(sock: socket.socket, authkey: bytes, label: str,
                  info: dict) -> int:
    """In the forked child: authenticate the connection, read the client's
    intent, then serve tasks (or answer ``info`` and exit)."""
    from multiprocess.connection import (AuthenticationError, Connection,
                                         answer_challenge, deliver_challenge)
    from ... import worker
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # nested pools reap their own
    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # a standalone server's handler
    die_with_parent()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)                              # stdin belongs to the server
    sock.setblocking(True)
    conn = Connection(sock.detach())
    signal.alarm(HANDSHAKE_TIMEOUT)                  # a silent peer cannot hold us
    try:
        deliver_challenge(conn, authkey)
        answer_challenge(conn, authkey)
        intent = conn.recv_bytes(64)
    except (AuthenticationError, EOFError, OSError):
        return REFUSED                  # the server logs it, within a budget
    finally:
        signal.alarm(0)
    if intent == INTENT_INFO:
        conn.send_bytes(json.dumps(info).encode())
        return 0
    if intent != INTENT_WORKER:
        return REFUSED                  # not our client

    worker.process_main(conn, label)
    return 0


def _watch_stdin(server: WorkerServer) -> None:
    """The kernel's ssh channel is our stdin: when it closes, stop everything."""
    fd = sys.stdin.fileno()
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            break
    server.stop()
    os._exit(0)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``pathos-server``."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="pathos-server: %(message)s")
    args = _parse(argv)
    authkey = _read_authkey(AUTHKEY_TIMEOUT)
    # Import the worker loop (and dill) before any fork: each worker then
    # starts with it already loaded.
    from ... import worker  # noqa: F401
    workers = args.workers or cpu_count()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))                 # loopback only, a free port
    sock.listen(64)
    server = WorkerServer(sock, authkey, args.label, max_workers=2 * workers,
                          offered=workers)
    print(server_banner(port=sock.getsockname()[1], pid=os.getpid(), cpus=cpu_count(),
                        python=sys.version.split()[0]), flush=True)
    threading.Thread(target=_watch_stdin, args=(server,), daemon=True,
                     name="pathos-server-stdin").start()
    try:
        server.serve()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
