"""Test a host the way a pool would reach it: the panel's **Test** button.

    result = probe_host("node1")
    result.ok, result.python, result.cores, result.rtt, result.error

It connects with the project's ssh session (same ssh config, agent and
known_hosts rules as the pools: an unknown host key is refused), times a
trivial command (the round trip), and asks the host's Python for its
version and usable cores.  A Python whose major.minor differs from this
kernel's is an error: functions pickled here would not load there.

``connect`` and ``pipe`` are the ssh toolkit's :func:`get_session` and
:class:`Pipe`; tests pass fakes.
"""
from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .. import ssh

#: Printed by the host's Python: its version and the cores it may use.
_PROBE = ("import os, sys; n = len(os.sched_getaffinity(0)) if hasattr(os, "
          "'sched_getaffinity') else os.cpu_count(); print(sys.version.split()[0], n)")


@dataclass(frozen=True)
class ProbeResult:
    """What Test found.

    Attributes:
        ok: the host can run workers for this kernel.
        python: the host Python's version ("3.11.2"), if it answered.
        cores: the cores its Python may use.
        rtt: seconds for one small ssh command (open, run, exit).
        kind: for a failure, one of 'host key', 'auth', 'unreachable',
            'python', 'command'.
        error: for a failure, what went wrong and what to do.
    """

    ok: bool
    python: Optional[str] = None
    cores: Optional[int] = None
    rtt: Optional[float] = None
    kind: Optional[str] = None
    error: Optional[str] = None

    def summary(self) -> str:
        """One line: ``ok · Python 3.11.2 · 8 cores · 3 ms`` or the error."""
        if not self.ok:
            return f"{self.kind}: {self.error}"
        rtt = f" · {self.rtt * 1000:.0f} ms" if self.rtt is not None else ""
        return f"ok · Python {self.python} · {self.cores} cores{rtt}"


def probe_host(host: str, *, python: str = "python3", timeout: float = 10.0,
               connect: Callable[..., Any] = ssh.get_session,
               pipe: Callable[..., Any] = ssh.Pipe) -> ProbeResult:
    """Test ``host`` (``[user@]alias``) over ssh; never raises for a bad host.

    Args:
        host: what ssh connects to.
        python: the Python command on the host.
        timeout: seconds for each step (connect, each command).
        connect, pipe: the ssh toolkit's get_session and Pipe (or fakes).
    """
    try:
        connect(host, timeout=timeout)
        runner = pipe(host, timeout=timeout)
        t0 = time.monotonic()
        runner.run(["true"], timeout=timeout)
        rtt = time.monotonic() - t0
        result = runner.run(shlex.split(python) + ["-c", _PROBE], timeout=timeout)
    except ssh.HostKeyError as exc:
        return ProbeResult(False, kind="host key", error=str(exc))
    except ssh.SSHError as exc:
        return ProbeResult(False, kind=_ssh_kind(exc), error=str(exc))
    except (OSError, TimeoutError) as exc:
        return ProbeResult(False, kind="unreachable",
                           error=f"{host}: {exc}. Check that the host is up.")
    return _read_answer(host, python, result, rtt)


def _ssh_kind(exc: BaseException) -> str:
    import paramiko
    cause = exc.__cause__
    if isinstance(cause, paramiko.AuthenticationException):
        return "auth"
    if isinstance(cause, (OSError, EOFError, paramiko.SSHException)):
        return "unreachable"
    return "unreachable" if "reach" in str(exc) else "ssh"


def _read_answer(host: str, python: str, result: Any, rtt: float) -> ProbeResult:
    words = result.stdout.split() if result.exit_status == 0 else []
    if len(words) != 2 or not words[1].isdigit():
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return ProbeResult(False, rtt=rtt, kind="command", error=(
            f"{python!r} on {host} did not answer ({tail}, exit status "
            f"{result.exit_status}). Check that it is installed there, or "
            f"register another: hosts.add({host!r}, python='python3.X')."))
    version, cores = words[0], int(words[1])
    mine = "%d.%d" % sys.version_info[:2]
    theirs = ".".join(version.split(".")[:2])
    if theirs != mine:
        return ProbeResult(False, version, cores, rtt, kind="python", error=(
            f"{host} runs Python {version} ({python}) but this kernel runs "
            f"{mine}: functions pickled here only load in the same major.minor. "
            f"Register a matching one: hosts.add({host!r}, python='python{mine}')."))
    return ProbeResult(True, version, cores, rtt)
