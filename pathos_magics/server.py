"""The remote worker server: ``python -m pathos_magics.server`` (``pathos-server``).

Started by the kernel over ssh on each host.  How it is used::

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
                                          authkey, then worker.process_main
    ssh channel closes (kernel gone) ->   stdin EOF: kill every worker, exit

Nothing listens on a public address, a connection without the authkey is
refused, and no worker outlives the server (each dies with its parent), so
a host keeps no process once the kernel's connection is gone.
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import io
import logging
import os
import posixpath
import select
import signal
import socket
import sys
import threading
import time
import zipfile
from typing import Any, Optional

from .pools.base import cpu_count

BANNER = "PATHOS_MAGICS_SERVER"
AUTHKEY_TIMEOUT = 30.0      # seconds to wait for the authkey on stdin
HANDSHAKE_TIMEOUT = 10      # seconds a new connection has to authenticate
_STOP_GRACE = 1.0           # SIGTERM, then SIGKILL after this long

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


class _Server:
    """Accepts connections and forks one authenticated worker for each."""

    def __init__(self, sock: socket.socket, authkey: bytes, label: str,
                 max_workers: int) -> None:
        self.sock = sock
        self.authkey = authkey
        self.label = label
        self.max_workers = max_workers
        self.children: set[int] = set()
        self._count = 0

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, self._reap)
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            # multiprocessing writes a big message as header + payload: with
            # Nagle on, the payload's tail waits ~40 ms for a delayed ACK.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._reap()
            if len(self.children) >= self.max_workers:
                _log.warning("refused a connection: %d workers already run",
                             len(self.children))
                conn.close()
                continue
            self._fork(conn)

    def _fork(self, conn: socket.socket) -> None:
        label = f"{self.label}-{self._count}"
        self._count += 1
        pid = os.fork()
        if pid == 0:                       # the worker
            code = 1
            try:
                self.sock.close()
                code = _worker_child(conn, self.authkey, label)
            finally:
                os._exit(code)
        self.children.add(pid)
        conn.close()

    def _reap(self, *_: object) -> None:
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.discard(pid)

    def stop(self) -> None:
        """End every worker: SIGTERM, then SIGKILL after a grace period.

        Runs in the stdin watcher thread (no signal handlers set here).
        """
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in list(self.children):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    self.children.discard(pid)
            deadline = time.monotonic() + _STOP_GRACE
            while self.children and time.monotonic() < deadline:
                self._reap()
                time.sleep(0.02)
        self._reap()


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the server) dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_child(sock: socket.socket, authkey: bytes, label: str) -> int:
    """In the forked child: authenticate the connection, then serve tasks."""
    from multiprocess.connection import (AuthenticationError, Connection,
                                         answer_challenge, deliver_challenge)
    from . import worker
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # nested pools reap their own
    _die_with_parent()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)                              # stdin belongs to the server
    sock.setblocking(True)
    conn = Connection(sock.detach())
    signal.alarm(HANDSHAKE_TIMEOUT)                  # a silent peer cannot hold us
    try:
        deliver_challenge(conn, authkey)
        answer_challenge(conn, authkey)
    except (AuthenticationError, EOFError, OSError) as exc:
        _log.warning("refused a connection: %s", exc or type(exc).__name__)
        return 1
    finally:
        signal.alarm(0)
    worker.process_main(conn, label)
    return 0


def _watch_stdin(server: _Server) -> None:
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
    from . import worker  # noqa: F401
    workers = args.workers or cpu_count()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))                 # loopback only, a free port
    sock.listen(64)
    server = _Server(sock, authkey, args.label, max_workers=2 * workers)
    print(f"{BANNER} port={sock.getsockname()[1]} pid={os.getpid()} "
          f"cpus={cpu_count()} python={sys.version.split()[0]}", flush=True)
    threading.Thread(target=_watch_stdin, args=(server,), daemon=True,
                     name="pathos-server-stdin").start()
    try:
        server.serve()
    finally:
        server.stop()
    return 0


# ---------------------------------------------------------------- launching
#
# The kernel starts a server as `python -c BOOT want digest dill mp private
# [server args]`: BOOT checks the host's Python and packages, and prefers a
# private copy the kernel shipped (a zip it unpacks once).  The digest runs
# on both sides from the same text, so they agree on "the same package".

_SHIPPED = ("pathos_magics", "dill", "multiprocess", "_multiprocess")

# The same digest runs here and on the host (exec'd from this text), so both
# sides agree on whether the host's pathos_magics is this one.
_DIGEST_SRC = '''
def source_digest(pkg_dir):
    import hashlib, os
    h = hashlib.sha256()
    for root, dirs, files in os.walk(pkg_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                h.update(os.path.relpath(path, pkg_dir).replace(os.sep, "/").encode())
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()
'''
_ns: dict[str, Any] = {}
exec(_DIGEST_SRC, _ns)        # noqa: S102 - our own constant text
source_digest = _ns["source_digest"]

# Runs on the host as `python -c BOOT want digest dill mp private [server args]`.
BOOT = _DIGEST_SRC + '''
import os, sys
want, digest, dill_v, mp_v, private = sys.argv[1:6]
def say(**kw):
    print("PATHOS_MAGICS_BOOT " + " ".join("%s=%s" % kv for kv in kw.items()), flush=True)
have = "%d.%d" % sys.version_info[:2]
if have != want:
    say(status="version", python=have, executable=sys.executable)
    sys.exit(3)
private = os.path.expanduser(private)
site, packed = os.path.join(private, "site"), os.path.join(private, "site.zip")
if not os.path.isdir(site) and os.path.exists(packed):
    import shutil, tempfile, zipfile
    tmp = tempfile.mkdtemp(dir=private)
    with zipfile.ZipFile(packed) as z:
        z.extractall(tmp)
    try:
        os.rename(tmp, site)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)     # another launch was first
if os.path.isdir(site):
    sys.path.insert(0, site)
try:
    import dill, multiprocess, pathos_magics
    same = (source_digest(os.path.dirname(pathos_magics.__file__)) == digest
            and dill.__version__ == dill_v and multiprocess.__version__ == mp_v)
except ImportError as exc:
    same = False
if not same:
    say(status="missing", python=have)
    sys.exit(4)
say(status="ok", python=have, site=int(os.path.isdir(site)))
sys.argv = ["pathos-server"] + sys.argv[6:]
from pathos_magics.server import main
sys.exit(main())
'''


_ZIP_CACHE: dict[str, bytes] = {}


def package_tag() -> str:
    """Names this kernel's packages: Python version and their digests."""
    import dill
    import multiprocess
    import pathos_magics
    digest = source_digest(os.path.dirname(pathos_magics.__file__))
    h = hashlib.sha256(f"{digest} {dill.__version__} {multiprocess.__version__}"
                       .encode()).hexdigest()[:16]
    return f"py{sys.version_info[0]}{sys.version_info[1]}-{h}"


def site_zip() -> bytes:
    """pathos_magics, dill and multiprocess as one zip of .py files."""
    if "zip" not in _ZIP_CACHE:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name in _SHIPPED:
                _add_package(z, name)
        _ZIP_CACHE["zip"] = buf.getvalue()
    return _ZIP_CACHE["zip"]


def _add_package(z: zipfile.ZipFile, name: str) -> None:
    module = __import__(name)
    root = os.path.dirname(module.__file__)
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "tests")]
        for f in files:
            if f.endswith(".py") or f == "py.typed":
                path = os.path.join(folder, f)
                z.write(path, posixpath.join(name, os.path.relpath(path, root)
                                             .replace(os.sep, "/")))



if __name__ == "__main__":
    sys.exit(main())
