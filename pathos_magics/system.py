"""Small facts and acts about processes here: CPUs, host specs, stopping.

The bottom of the package (with wire and serialize): the remote worker
server imports it, so it imports nothing of the pools, IPython or paramiko.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import time
from pathlib import Path
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


# ---------------------------------------------------------------- worker counts

MAX_WORKERS_ENV = "PATHOS_MAGICS_MAX_WORKERS"
PROCESSES_PER_CPU, MIN_PROCESS_CAP = 32, 256     # our own sanity cap
THREADS_PER_CPU, MIN_THREAD_CAP = 128, 1024
SLACK = 8            # pids this process may need besides its workers (threads)


def check_worker_count(count: int, *, threads: bool = False, running: int = 0) -> None:
    """Refuse to start ``count`` more workers (processes, or ``threads``) when
    that is more than a sane number per CPU or than this process's limits
    leave room for (a pids cgroup's pids.max, RLIMIT_NPROC), before any is
    started; the error names the limit and how to raise it.  ``running``:
    workers of the same pool already up.  Each process worker counts as
    two tasks (its main thread and its pipe reader)."""
    # imported here: the host's server loads this module, not the errors
    from .errors import TooManyWorkersError
    what = "worker threads" if threads else "worker processes"
    cap, why = _own_cap(threads)
    if running + count > cap:
        raise TooManyWorkersError(
            f"{running + count} {what} asked for; the limit here is {cap} ({why}). "
            f"Ask for fewer, or set the environment variable {MAX_WORKERS_ENV}=N "
            "to allow more.")
    each = 1 if threads else 2
    need = count * each + SLACK
    for room, limit, how in (_cgroup_room(), _nproc_room()):
        if room is not None and need > room:
            fit = max(0, (room - SLACK) // each)
            raise TooManyWorkersError(
                f"{count} more {what} would need {need} tasks (processes and "
                f"threads); {limit} leaves room for {room}, so at most {fit} "
                f"{what}. Ask for fewer, or {how}.")


def _own_cap(threads: bool) -> tuple[int, str]:
    from .errors import TooManyWorkersError
    given = os.environ.get(MAX_WORKERS_ENV, "").strip()
    if given:
        try:
            return int(given), f"{MAX_WORKERS_ENV}={given}"
        except ValueError:
            raise TooManyWorkersError(f"{MAX_WORKERS_ENV}={given!r} is not a whole "
                                      "number; set it to the most workers a pool "
                                      "may have") from None
    cpus = cpu_count()
    per, least = (THREADS_PER_CPU, MIN_THREAD_CAP) if threads else (PROCESSES_PER_CPU,
                                                                    MIN_PROCESS_CAP)
    return max(least, per * cpus), f"{per} per CPU, {cpus} CPUs, at least {least}"


def _cgroup_room() -> tuple[Optional[int], str, str]:
    """Free tasks in this process's pids cgroup and its parents (the
    tightest), or None where there is no such limit."""
    room: Optional[int] = None
    where = ""
    for folder in _pids_cgroup_folders():
        try:
            limit = (folder / "pids.max").read_text().strip()
            used = int((folder / "pids.current").read_text())
        except (OSError, ValueError):
            continue
        if limit == "max":
            continue
        free = int(limit) - used
        if room is None or free < room:
            room, where = free, str(folder)
    return (room, f"the pids cgroup {where} (pids.max)",
            f"raise pids.max of {where} (systemd: TasksMax=)")


def _pids_cgroup_folders() -> list[Path]:
    """This process's pids cgroup folder and its parents, v1 or v2 (Linux)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    v1 = v2 = None
    for line in mounts:
        fields = line.split(" - ")
        if len(fields) != 2:
            continue
        point, (fstype, _, options) = line.split()[4], fields[1].split()[:3]
        if fstype == "cgroup" and "pids" in options.split(","):
            v1 = point
        elif fstype == "cgroup2" and v2 is None:
            v2 = point
    found: Optional[Path] = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if v1 is not None and "pids" in controllers.split(","):
            found = Path(v1 + path)
        elif controllers == "" and v2 is not None and v1 is None:
            found = Path(v2 + path)
    if found is None:
        return []
    top = Path(v1 if v1 is not None else v2)
    return [found] + [p for p in found.parents if p.is_relative_to(top) and p != top]


def _nproc_room() -> tuple[Optional[int], str, str]:
    """Free tasks under RLIMIT_NPROC for this user (root is not held to it)."""
    how = "raise it (ulimit -u; /etc/security/limits.conf)"
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    except (AttributeError, ValueError, OSError):
        return None, "", how
    if soft == resource.RLIM_INFINITY or os.geteuid() == 0:
        return None, "", how
    used = _tasks_of_user(os.getuid())
    if used is None:
        return None, "", how
    return soft - used, f"RLIMIT_NPROC (ulimit -u {soft}, {used} in use)", how


def _tasks_of_user(uid: int) -> Optional[int]:
    """Threads of every process of ``uid`` (what RLIMIT_NPROC counts)."""
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for name in entries:
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1 0").split()[0]) == uid:
            total += int(fields.get("Threads", "1"))
    return total
