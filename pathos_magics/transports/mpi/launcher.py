"""Starting an MPI job and connecting to it (the kernel's side).

:class:`Launcher` builds the ``mpiexec ... python -m pathos_magics.mpi``
argv and environment and starts it in its own session;
:func:`open_listener` and :func:`accept_job` run the handshake (the
invitation on the launcher's stdin, the HMAC challenge both ways, one HELLO
per rank), ending the job and saying why if it fails to start.
:func:`describe_end` reads how a job ended from the launcher's exit code
and output; :func:`tail` and :func:`pidfd_works` serve the running job in
transport.py too.

Sections: the launcher's process; why a job ended; launching; the
handshake.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import Any, Optional

from multiprocess.connection import (AuthenticationError, Connection,
                                     answer_challenge, deliver_challenge)

from ... import wire
from ...errors import TransportError
from ...system import stop_group
from .protocol import unpack_frame

_log = logging.getLogger(__name__)

# ---------------------------------------------------------------- the launcher's process

EXIT_WAIT = 3.0          # after the link drops, how long the launcher may take to exit


def tail(log: Any, limit: int = 4000) -> str:
    """The end of the launcher's output, read through our own descriptor
    (the file has no name: nothing is left on disk, even if the kernel dies)."""
    try:
        size = os.fstat(log.fileno()).st_size
        start = max(0, size - limit)
        return os.pread(log.fileno(), size - start, start).decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


# ---------------------------------------------------------------- why a job ended

_HYDRA_PID = re.compile(r"PID (\d+) RUNNING AT (\S+)")
_HYDRA_STRING = re.compile(r"EXIT STRING: (.+?)\s*$", re.M)
_SIGNALLED = re.compile(r"\(signal (\d+)\)")


def describe_end(exitcode: Optional[int], log: str) -> tuple[Optional[int], str]:
    """(a pid the launcher blamed, how the job ended).

    The launcher's exit code is the failed rank's (MPICH's Hydra: its exit
    code, or the number of the signal that killed it); Hydra's printed pid
    is one of the failed ranks, not always the first, so
    :class:`.mpi._LocalRanks` has the last word on this host.
    """
    pid_match = _HYDRA_PID.search(log)
    pid = int(pid_match.group(1)) if pid_match else None
    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    if exitcode is None:
        last = f", after printing {lines[-1][:200]!r}" if lines else ""
        return pid, f"mpiexec still ran{last}"
    if exitcode < 0:
        return pid, f"mpiexec was killed by {_signal_name(-exitcode)}"
    string = _HYDRA_STRING.search(log)
    signalled = _SIGNALLED.search(string.group(1)) if string else None
    if signalled and int(signalled.group(1)) == exitcode:
        return pid, f"killed by {_signal_name(exitcode)}"
    return pid, f"exit code {exitcode}"


def _signal_name(number: int) -> str:
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"


# ---------------------------------------------------------------- launching

_INSTALL_HINT = ("Install MPI for this Python with `pip install pathos_magics[mpi]` "
                 "(mpi4py and the mpich wheel), or pass launcher='/path/to/mpiexec'.")

#: Environment for a job on this machine only (no hosts file): the MPICH
#: process manager starts local ranks by fork, never through ssh.
LOCAL_ENV = {"HYDRA_LAUNCHER": "fork"}


def pidfd_works() -> bool:
    """Whether this OS can hold a process by pidfd (Linux 5.3+)."""
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except (AttributeError, OSError):
        return False


class Launcher:
    """How the job is started: an argv list, never a shell string.

    Args:
        command: 'mpiexec' (default), 'mpirun', 'srun', or a path.  A bare
            name is looked up next to the Python first (where the ``mpich``
            wheel puts an mpiexec that matches its mpi4py), then on PATH.
        args: extra launcher arguments (a list, or one string split like a
            shell would).
        hosts: a hosts file (passed as ``-hostfile``, which MPICH's and Open
            MPI's launchers both accept).
        python: the Python the ranks run (default: this one).
        env: extra environment variables for the job.
    """

    def __init__(self, command: Optional[str] = None, args: Any = (),
                 hosts: Optional[str] = None, python: Optional[str] = None,
                 env: Optional[dict] = None) -> None:
        self.command = command or "mpiexec"
        self.args = tuple(shlex.split(args) if isinstance(args, str) else args)
        self.hosts = hosts
        self.python = python or sys.executable
        self.env = dict(env or {})

    def argv(self, ranks: int) -> list[str]:
        exe = self.resolve()
        argv = [exe]
        if self.watched(exe):
            argv.append("-disable-auto-cleanup")
        argv += [*self.args, "-n", str(ranks)]
        if self.hosts:
            argv += ["-hostfile", os.fspath(self.hosts)]
        return argv + [self.python, "-m", "pathos_magics.mpi"]

    def resolve(self) -> str:
        """The launcher's path, or a TransportError that says what to install."""
        cmd = self.command
        if os.sep in cmd:
            if os.access(cmd, os.X_OK):
                return cmd
        else:
            sibling = os.path.join(os.path.dirname(sys.executable), cmd)
            if os.access(sibling, os.X_OK):
                return sibling
            found = shutil.which(cmd)
            if found:
                return found
        raise TransportError(f"cannot start the MPI job: the launcher {cmd!r} was "
                             f"not found (looked next to {sys.executable} and on "
                             f"PATH). {_INSTALL_HINT}")

    @property
    def local(self) -> bool:
        """Whether every rank runs on this machine: no hosts file, and no
        launcher argument that names hosts."""
        named = any(arg == "-f" or "host" in arg or "machinefile" in arg
                    for arg in self.args)
        return not self.hosts and not named

    def watched(self, exe: str) -> bool:
        """Whether this job's ranks all run here, under MPICH's launcher
        (Hydra), and this OS can watch them: then a dead rank is detected
        by its pidfd (:class:`.mpi._LocalRanks`) rather than by the launcher."""
        hydra = os.path.exists(os.path.join(os.path.dirname(exe), "hydra_pmi_proxy"))
        return hydra and self.local and pidfd_works()

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.local:
            env.update(LOCAL_ENV)
        if self.python == sys.executable:
            # the ranks import what the kernel imports (like a spawned
            # process), and this package even when it is not installed
            # (the folder holding the package: pathos_magics/transports/mpi/
            # is three levels down; the package's own folder on the path
            # would make its profile.py shadow the stdlib's)
            here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__)))))
            paths = [here] + [p for p in sys.path if p and os.path.isdir(p)]
            env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        env.update({k: str(v) for k, v in self.env.items()})
        return env

    def check_python(self) -> None:
        if self.python == sys.executable and importlib.util.find_spec("mpi4py") is None:
            raise TransportError(f"cannot start the MPI job: mpi4py is not "
                                 f"installed in {sys.executable}. {_INSTALL_HINT}")

    def spawn(self, ranks: int, log: Any) -> subprocess.Popen:
        """Start the launcher in its own session: the kernel's interrupt
        (SIGINT to its process group) must not reach the job."""
        argv = self.argv(ranks)
        self.check_python()
        try:
            return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log,
                                    stderr=subprocess.STDOUT, env=self.environ(),
                                    start_new_session=True)
        except OSError as exc:
            raise TransportError(f"cannot start the MPI job ({shlex.join(argv)}): "
                                 f"{exc}. {_INSTALL_HINT}") from exc


# ---------------------------------------------------------------- the handshake

def open_listener(host: str) -> socket.socket:
    """A listening socket on ``host`` and a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, 0), family=family, backlog=8)


def accept_job(server: socket.socket, proc: subprocess.Popen, authkey: bytes,
               invitation: bytes, count: int, timeout: float, log: Any
               ) -> tuple[Connection, dict[int, dict]]:
    """Invite the job's relay, authenticate it, and collect one HELLO per
    rank; on any failure end the job and raise TransportError."""
    deadline = time.monotonic() + timeout
    conn = None
    try:
        _invite(proc, invitation)
        conn = _accept(server, proc, authkey, deadline)
        return conn, _hellos(conn, proc, count + 1, deadline)
    except TransportError as exc:
        if conn is not None:
            conn.close()
        _end_failed_start(proc)
        raise TransportError(f"{exc}; {_start_failure(proc, log)}") from None


def _invite(proc: subprocess.Popen, invitation: bytes) -> None:
    try:
        proc.stdin.write(invitation)
        proc.stdin.close()
    except OSError:
        pass                              # it exited already: reported below


def _accept(server: socket.socket, proc: subprocess.Popen, authkey: bytes,
            deadline: float) -> Connection:
    while True:
        left = _left(proc, deadline, "connect back")
        ready, _, _ = select.select([server], [], [], min(0.1, left))
        if not ready:
            continue
        sock, _ = server.accept()
        conn = authenticate(sock, authkey, min(5.0, left))
        if conn is not None:
            return conn


def authenticate(sock: socket.socket, authkey: bytes, timeout: float
                  ) -> Optional[Connection]:
    """The HMAC challenge both ways, bounded (a silent peer cannot hold the
    start); None if the peer is not our job."""
    _set_timeouts(sock, timeout)
    conn = Connection(sock.detach())
    try:
        deliver_challenge(conn, authkey)
        answer_challenge(conn, authkey)
    except (AuthenticationError, OSError, EOFError) as exc:
        _log.warning("refused a connection to the MPI listener: %s", exc)
        conn.close()
        return None
    with socket.socket(fileno=os.dup(conn.fileno())) as view:
        _set_timeouts(view, 0.0)           # from now on reads block: a reader thread
        view.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _set_timeouts(sock: socket.socket, seconds: float) -> None:
    whole = int(seconds)
    tv = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)


def _hellos(conn: Connection, proc: subprocess.Popen, ranks: int,
            deadline: float) -> dict[int, dict]:
    hellos: dict[int, dict] = {}
    while len(hellos) < ranks:
        left = _left(proc, deadline, f"report its {ranks} ranks ready "
                     f"({len(hellos)} did)")
        if not conn.poll(min(0.1, left)):
            continue
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise TransportError(f"the MPI job's link closed during start ({exc})") from None
        rank, msg = unpack_frame(data)
        if msg[0] == wire.HELLO:
            hellos[rank] = msg[1]
    return hellos


def _left(proc: subprocess.Popen, deadline: float, what: str) -> float:
    if proc.poll() is not None:
        raise TransportError(f"the MPI job exited with code {proc.returncode} "
                             f"before it could {what}")
    left = deadline - time.monotonic()
    if left <= 0:
        raise TransportError(f"the MPI job did not {what} in time (start_timeout)")
    return left


def _end_failed_start(proc: subprocess.Popen) -> None:
    stop_group(proc, grace=1.0)        # SIGTERM: the launcher ends its ranks


def _start_failure(proc: subprocess.Popen, log: Any) -> str:
    output = tail(log, 1500).strip()
    where = f"its output ends with:\n{output}" if output else "it printed nothing"
    return (f"{where}\nCheck that `{proc.args[0]} -n 2 {sys.executable} -c "
            f"'import mpi4py.MPI'` works here. {_INSTALL_HINT}")
