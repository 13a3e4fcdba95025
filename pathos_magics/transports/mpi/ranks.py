"""The ranks of a job that run on this machine, held by pidfd.

A pidfd names one process for good: a rank's death is seen at once (the fd
becomes readable) and a signal sent through it can never reach a process
that reused the rank's pid.  Without pidfds (old kernels), ranks are
signalled by pid only while the launcher, their parent, is not reaped.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from typing import Callable, Optional

from . import shm
from .launcher import pidfd_works

_log = logging.getLogger(__name__)


class LocalRanks:
    """The job's processes on this machine, held by pidfd where the OS has
    them (Linux 5.3+): a pidfd names one process for good, so neither the
    watch nor a kill can hit another process that reused a rank's pid.

    The watch notes which rank exits first and ends the job at once.  With
    MPICH's launcher on this host the job runs with ``-disable-auto-cleanup``:
    a dead rank does not take the others down, so the one pid seen dead is
    the one that died.  Otherwise the launcher kills the other ranks within
    milliseconds, and several may look dead at the first look.
    """

    def __init__(self, pids: list[Optional[int]], on_death: Callable[[], None]) -> None:
        self.pids = [p for p in pids if p]
        self._on_death = on_death
        self._fds: dict[int, int] = {}
        self._first: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        if pidfd_works():
            for pid in self.pids:
                try:
                    self._fds[os.pidfd_open(pid)] = pid
                except OSError:
                    self._first.append(pid)          # already gone
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name="pathos-mpi-watch")
        self.segments = shm.mpich_segments(self.pids)   # the ranks are up

    def start(self) -> None:
        if self._fds and not self._first:
            self._thread.start()
            return
        self._done.set()
        if self._first:                  # a rank died before the watch began
            self._on_death()

    def _watch(self) -> None:
        poller = select.poll()
        for fd in self._fds:
            poller.register(fd, select.POLLIN)
        try:
            while not self._stop.is_set() and not self._first:
                ready = poller.poll(200)
                if not self._stop.is_set():
                    self._first = [self._fds[fd] for fd, _ in ready]
        finally:
            self._done.set()
        if self._first and not self._stop.is_set():
            self._on_death()

    def first_dead(self, timeout: float = 0.5) -> list[int]:
        """The pids seen dead at the first look: one, unless the launcher
        ended the others before the watch woke up."""
        self._done.wait(timeout)
        return list(self._first)

    def kill(self, launcher_ran: bool) -> None:
        """SIGKILL every rank here.  Without pidfds, only while the launcher
        ran (then its ranks' pids were still theirs)."""
        with self._lock:
            if self._fds:
                for fd in self._fds:
                    try:
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            elif launcher_ran and not self._stop.is_set():
                for pid in self.pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass

    def all_ended(self, count: int, timeout: float) -> bool:
        """Whether all ``count`` ranks of the job run here and have all
        exited, waiting up to ``timeout`` (False at once without pidfds)."""
        with self._lock:
            fds = list(self._fds)
        if not fds or len(fds) != count:
            return False
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        ended: set[int] = set()
        while len(ended) < len(fds):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ended.update(fd for fd, _ in poller.poll(left * 1000))
            for fd in ended:
                try:
                    poller.unregister(fd)
                except KeyError:
                    pass
        return True

    def close(self) -> None:
        """After the job ended: let go of the pidfds, and remove MPICH's
        shared memory files, which a rank killed before MPI_Finalize leaves
        in /dev/shm (RAM) until the machine restarts."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)
        with self._lock:
            for fd in self._fds:
                os.close(fd)
            self._fds = {}
        shm.remove(self.segments)
