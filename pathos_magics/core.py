"""``pathos.core``: high-level launchers, here or on an ssh host.

pathos's functions and return types (a launcher, a pid, a port, a Tunnel),
on :mod:`pathos_magics.connection` and :mod:`pathos_magics.secure`.  Process
tables are read with ``ps`` and parsed here (no ``ps | grep`` pipeline);
``kill`` signals by pid.  ``serve`` starts this package's worker server
(``pathos_server``'s module) on a host: it binds ``port`` (or a free one) on
the host's 127.0.0.1 and reads its secret from stdin (never from a command
line): by default the per-user secret file's, so that after
``connect(host, port)`` a ``ParallelPool(servers=("localhost:LOCALPORT",))``
joins it with no more said; it stops when its launcher is killed.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from typing import Optional, Union

from . import ssh
from .connection import Pipe as _LocalPipe, PipeException
from .secure import Copier, Pipe as _SecurePipe, Tunnel, TunnelException
from .transports.ssh.secret import ensure_secret_file

__all__ = ["copy", "execute", "kill", "getpid", "getppid", "getchild", "serve",
           "connect", "randomport"]

_log = logging.getLogger(__name__)

SERVE_TIMEOUT = 60.0
_BANNER = "PATHOS_MAGICS_SERVER"


def copy(source: str, destination: Optional[str] = None, **kwds) -> Copier:
    """Copy ``source`` to ``destination`` (either may be ``[user@]host:path``).

    Returns the copier (launched).  ``bg`` is accepted as in pathos.
    """
    if destination is None:
        destination = os.getcwd()
    kwds["background"] = kwds.pop("bg", False)
    copier = Copier(**kwds)
    copier(source=source, destination=destination)
    _log.info("executing {%s}", copier.message)
    copier.launch()
    copier.kill()
    return copier


def execute(command, host: Optional[str] = None, bg: bool = True, **kwds):
    """Run ``command`` here (host None) or on ``host``; return the launched launcher.

    Use ``response()`` for its output, ``pid()`` and ``kill()`` for a
    background one.
    """
    if host in (None, ""):
        launcher = _LocalPipe(**kwds)
        launcher(command=command, background=bool(bg))
    else:
        kwds.setdefault("options", "-q")
        launcher = _SecurePipe(**kwds)
        launcher(command=command, host=host, background=bool(bg))
    _log.info("executing {%s}", launcher.message)
    launcher.launch()
    return launcher


def _ps(columns: str, host: Optional[str]) -> list[list[str]]:
    """``ps ax`` / ``ps axj`` rows (header first), split in columns."""
    # "ww": full command lines, whatever COLUMNS says
    out = execute(["ps", columns + "ww"], host, bg=False).response() or ""
    return [line.split(None, _ps_fields(columns)) for line in out.splitlines() if line.strip()]


def _ps_fields(columns: str) -> int:
    return 4 if columns == "ax" else 9


def _no_such_process() -> OSError:
    return OSError(3, "No such process")


def kill(pid: int, host: Optional[str] = None, **kwds) -> str:
    """Send SIGTERM to ``pid`` here or on ``host``; return the response ('' if fine).

    Raises:
        OSError: no such process.
    """
    pid = int(pid)
    if host in (None, ""):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            raise _no_such_process() from None
        return ""
    launcher = execute(["kill", "-TERM", str(pid)], host, bg=False, **kwds)
    out = launcher.response()
    if launcher._chan is not None and launcher._chan.recv_exit_status() != 0:
        raise _no_such_process()
    return out


def getpid(target=None, host: Optional[str] = None, all: bool = False,
           **kwds) -> Union[int, str]:
    """The pid of a process whose ``ps ax`` line contains ``target``.

    ``target`` None: this interpreter's pid (with ``all``: every line).
    With ``all``, the matching ``ps ax`` lines as one string.

    Raises:
        OSError: no such process.
    """
    if target is None and not all:
        if host:
            raise _no_such_process()
        return os.getpid()
    rows = _ps("ax", host)[1:]
    me = str(os.getpid()) if host in (None, "") else None
    if isinstance(target, int):
        found = [r for r in rows if r[0] == str(target)]
    else:
        pattern = re.compile(target or "")
        found = [r for r in rows if pattern.search(r[-1]) and r[0] != me
                 and r[-1] != "ps axww"]
    if all:
        return "\n".join(" ".join(r) for r in found)
    if not found:
        raise _no_such_process()
    return max(int(r[0]) for r in found)


def _parents(host: Optional[str], group: bool) -> dict[int, int]:
    rows = _ps("axj", host)
    head = rows[0]
    col_pid, col_parent = head.index("PID"), head.index("PGID" if group else "PPID")
    table = {}
    for row in rows[1:]:
        if len(row) > max(col_pid, col_parent) and row[col_pid].isdigit():
            table[int(row[col_pid])] = int(row[col_parent])
    return table


def getppid(pid: Optional[int] = None, host: Optional[str] = None,
            group: bool = False) -> int:
    """The parent pid (or the process group id, ``group=True``) of ``pid``."""
    if pid is None:
        if host:
            raise _no_such_process()
        return os.getpgrp() if group else os.getppid()
    table = _parents(host, group)
    if int(pid) not in table:
        raise _no_such_process()
    return table[int(pid)]


def getchild(pid: Optional[int] = None, host: Optional[str] = None,
             group: bool = False) -> list[int]:
    """The pids whose parent (or process group, ``group=True``) is ``pid``."""
    if pid is None:
        if host:
            raise _no_such_process()
        pid = os.getpid()
    table = _parents(host, group)
    children = sorted(p for p, parent in table.items() if parent == int(pid))
    if children or (not group and int(pid) in table):
        return children
    raise _no_such_process()


def randomport(host: Optional[str] = None) -> int:
    """A free port here, or on ``host``.

    Raises:
        TunnelException: no port could be picked on the host.
    """
    try:
        return ssh.portpicker(host or None)
    except ssh.SSHError as exc:
        raise TunnelException(f"failure to pick remote port: {exc}") from exc


def connect(host: str, port: Optional[int] = None,
            through: Optional[str] = None) -> Tunnel:
    """Open a tunnel to ``port`` on ``host`` (optionally via ``through``)."""
    t = Tunnel()
    t.connect(host, port, through)
    return t


def serve(server: str, host: Optional[str] = None,
          port: Optional[int] = None, profile: str = ".bash_profile",
          *, authkey: Optional[bytes] = None, workers: int = 0,
          python: Optional[str] = None):
    """Start a worker server on ``host`` (here if None); return its launcher.

    The server (``pathos_server``'s) listens on the host's 127.0.0.1 at
    ``port`` (None: a free one).  Its key is ``authkey``, else the per-user
    secret file's here (made if missing), sent down its stdin.  The launcher
    gets ``port``, ``server_pid`` and ``authkey``; ``kill()`` (or the end of
    the launcher's stdin) stops the server and its workers.  ``profile`` is
    not sourced (the command runs in the login shell ssh gives).

    Raises:
        PipeException: the server did not start (e.g. the port is taken).
    """
    if server not in ("pathos_magics.server", "pathos-server", "pathos_server"):
        raise PipeException(f"serve() starts pathos_magics.server, not {server!r}.")
    authkey = authkey or ensure_secret_file()
    argv = [python or (sys.executable if host in (None, "") else "python3"),
            "-m", "pathos_magics.transports.ssh.standalone", "--secret-stdin",
            "--stop-on-eof", "--workers", str(int(workers)), "--port", str(int(port or 0))]
    launcher = _SecurePipe(host=host or "localhost") if host else _LocalPipe()
    launcher(command=argv, background=True)
    launcher.stdin = authkey.hex() + "\n"
    if host:
        launcher._hold_stdin = True
        launcher.launch()
    else:
        _launch_local_server(launcher, authkey)
    banner = _wait_banner(launcher)
    launcher.port, launcher.authkey = int(banner["port"]), authkey
    launcher.server_pid = int(banner.get("pid", 0))
    return launcher


def _launch_local_server(launcher: _LocalPipe, authkey: bytes) -> None:
    """The authkey goes down a pipe kept open: its end stops the server."""
    launcher.stdin = subprocess.PIPE
    launcher.launch()
    proc = launcher._proc
    assert proc is not None and proc.stdin is not None
    proc.stdin.write(authkey.hex().encode() + b"\n")
    proc.stdin.flush()


def _wait_banner(launcher) -> dict:
    deadline = time.monotonic() + SERVE_TIMEOUT
    while time.monotonic() < deadline:
        text = bytes(launcher._buffer).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.startswith(_BANNER):
                return dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        if launcher._done.wait(0.05):
            break
    launcher.kill()
    raise PipeException(f"the server did not start: {bytes(launcher._buffer)[-500:]!r}")
