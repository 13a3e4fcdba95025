"""``pathos_server``: the worker server on its own, at an address, until stopped.

The same server as the ssh transport's (server.py: an HMAC challenge both
ways, then one forked worker per connection), started by a user instead of
by a kernel::

    pathos_server --port 5653 --workers 8      # key: the per-user secret file
    echo $KEY | pathos_server --secret-stdin   # key: one hex line on stdin

It binds 127.0.0.1 only (reach it from elsewhere through an ssh tunnel:
``pathos_tunnel``, ``%pathos tunnel``, ``core.connect``), prints its banner
(``PATHOS_MAGICS_SERVER port=P pid=... workers=N``) and serves until SIGTERM
or SIGINT (or, with ``--stop-on-eof``, until its stdin closes, as the ssh
transport's server does), then ends its workers.  A kernel joins it with
``ParallelPool(servers=("localhost:P",))`` (transports/tcp.py), using the
same secret file or ``secret=``.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from typing import Optional

from ...system import cpu_count
from .protocol import AUTHKEY_TIMEOUT, server_banner
from .secret import SecretError, default_secret_file, ensure_secret_file, parse_secret
from .server import WorkerServer

_log = logging.getLogger("pathos_magics.server")


def _parse(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="pathos_server",
        description="Serve pathos_magics workers on 127.0.0.1:PORT until SIGTERM or "
                    "Ctrl-C. Clients authenticate with a shared secret: the per-user "
                    f"secret file (default {default_secret_file()}, made with mode 0600 "
                    "if missing) or one hex line on stdin (--secret-stdin); never on "
                    "the command line. Reach it from another machine through an ssh "
                    "tunnel, then ParallelPool(servers=('localhost:LOCALPORT',)).")
    p.add_argument("--port", type=int, default=0,
                   help="the port on 127.0.0.1 (default: a free one, printed)")
    p.add_argument("--workers", type=int, default=0,
                   help="workers offered to each client (0: one per CPU); at most "
                        "twice as many run at once")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--secret-file", metavar="FILE",
                     help="the secret file (default: PATHOS_MAGICS_SECRET_FILE or "
                          "~/.config/pathos_magics/server.key)")
    src.add_argument("--secret-stdin", action="store_true",
                     help="read the secret from stdin, one line of hex")
    p.add_argument("--stop-on-eof", action="store_true",
                   help="also stop when stdin closes (for a server started by "
                        "another program that holds its stdin)")
    p.add_argument("--label", default=socket.gethostname(),
                   help="prefix of worker labels (default: the host name)")
    return p.parse_args(argv)


def read_stdin_secret(timeout: float = AUTHKEY_TIMEOUT) -> bytes:
    """One hex line from stdin, within ``timeout`` seconds."""
    import select
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        raise SecretError(f"no secret on stdin within {timeout:.0f}s")
    return parse_secret(sys.stdin.buffer.readline().decode("ascii", "replace"))


def bind_loopback(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: a free port).

    Raises:
        OSError: the port is taken (the message says which).
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be 0-65535, not {port}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot bind 127.0.0.1:{port}: {exc.strerror}; "
                                 "choose another --port (or 0 for a free one)") from None
    sock.listen(64)
    return sock


def make_server(port: int = 0, workers: int = 0, authkey: Optional[bytes] = None,
                secret_file: Optional[str] = None,
                label: Optional[str] = None) -> WorkerServer:
    """A bound :class:`WorkerServer` (not serving yet); the key is ``authkey``,
    else the secret file's (made if missing)."""
    key = authkey if authkey is not None else ensure_secret_file(secret_file)
    from ... import worker  # noqa: F401  loaded once, before any fork
    workers = workers or cpu_count()
    sock = bind_loopback(port)
    return WorkerServer(sock, bytes(key), label or socket.gethostname(),
                        max_workers=2 * workers, offered=workers)


def _stop_on_eof(server: WorkerServer) -> None:
    fd = sys.stdin.fileno()
    while True:
        try:
            if not os.read(fd, 4096):
                break
        except OSError:
            break
    server.stop()
    os._exit(0)


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``pathos_server``."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="pathos_server: %(message)s")
    args = _parse(argv)
    try:
        key = read_stdin_secret() if args.secret_stdin else None
        server = make_server(args.port, args.workers, key, args.secret_file, args.label)
    except (SecretError, OSError, ValueError) as exc:
        print(f"pathos_server: {exc}", file=sys.stderr)
        return 2
    port = server.sock.getsockname()[1]
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGINT, _raise_exit)
    print(server_banner(port=port, pid=os.getpid(), cpus=cpu_count(),
                        workers=server.offered, python=sys.version.split()[0]),
          flush=True)
    if args.stop_on_eof:
        threading.Thread(target=_stop_on_eof, args=(server,), daemon=True,
                         name="pathos-server-stdin").start()
    try:
        server.serve()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        server.sock.close()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
