"""Small facts and acts about processes here: CPUs, host specs, stopping.

The bottom of the package (with wire and serialize): the remote worker
server imports it, so it imports nothing of the pools, IPython or paramiko.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from typing import Callable, Iterable, Optional

EXIT_WAIT = 3.0     # after SIGKILL, how long a process may take to be reaped


def cpu_count() -> int:
    """Usable CPUs of this process (its affinity mask, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def split_user(host: str) -> tuple[Optional[str], str]:
    """``"user@node1"`` -> ``("user", "node1")``; no user -> ``(None, host)``.
    The last ``@`` splits (a user name may hold one, a host name never)."""
    user, sep, name = host.rpartition("@")
    if not sep:
        return None, host
    return user or None, name


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a process group, if it still exists and is ours."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(proc: subprocess.Popen, grace: float) -> bool:
    """End ``proc`` and its process group: SIGTERM (if ``grace`` > 0), wait
    ``grace`` seconds, then SIGKILL.  Signals go only while ``proc`` is not
    reaped, so its pgid cannot have been reused.  True once it has exited."""
    if proc.poll() is None and grace > 0:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        signal_group(proc.pid, signal.SIGKILL)
    try:
        proc.wait(EXIT_WAIT)
    except subprocess.TimeoutExpired:
        return False
    return True


def stop_children(pids: set[int], grace: float, reap: Callable[[], None],
                  signals: Iterable[int] = (signal.SIGTERM, signal.SIGKILL)) -> None:
    """End our child processes ``pids``: each signal in turn, then up to
    ``grace`` seconds for them to go; ``reap`` waits for exited children and
    removes them from ``pids``."""
    for sig in signals:
        for pid in list(pids):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pids.discard(pid)
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            reap()
            time.sleep(0.02)
    reap()


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (elsewhere a
    no-op: the worker's pipe to its parent closing ends it instead)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
