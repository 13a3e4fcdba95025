"""Workers in an MPI job, reached through one authenticated connection.

The transport starts ``mpiexec -n N+1 python -m pathos_magics.mpi`` (see
job.py for what runs inside) in its own session, and
listens on 127.0.0.1 for the job's relay rank to connect back, with a fresh
authkey handed over on the launcher's stdin.  Every worker rank becomes one
:class:`MpiWorker`: the scheduler sees N ordinary workers, so windows,
retries, cancel and per-worker progress work as for local processes::

  Scheduler --send--> MpiWorker(rank r) --> _Job.send: [r|pickle] --+
                                                                    | TCP
  Scheduler <--on_message/on_lost-- _Job.read (one thread) <--------+

An MPI job lives and dies as a whole.  When a rank dies, every worker of the
job is reported lost, the rank that died first before the others (so the
scheduler blames its task if the retries run out), and the one replacement
the scheduler asks for is a whole new job (``can_replace``).  On this
machine the ranks are held by pidfd (:class:`LocalRanks`): a death is seen
at once and no signal can reach a process that reused a rank's pid.

Sections: the worker handle and the job; the transport.  The pidfd watch
of the ranks on this machine is in ranks.py.
Starting the job and connecting to it (the launcher, the handshake, and
reading why a job ended from the launcher's output) is in launcher.py.
"""
from __future__ import annotations

import itertools
import logging
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any, Optional

from ... import wire
from ...errors import TransportError
from ...system import signal_group
from ..base import Transport, WorkerHandle, WorkerSink
from .launcher import EXIT_WAIT, Launcher, accept_job, describe_end, open_listener, tail
from .protocol import BYE, invitation, pack_frame, unpack_frame
from .ranks import LocalRanks

_log = logging.getLogger(__name__)

_YOUNG = 5.0              # a job that dies idle this soon after its start...
_STORM = 3                # ...this many times in a row is not started again


class MpiWorker(WorkerHandle):
    """One worker rank, multiplexed over its job's connection."""

    def __init__(self, label: str, job: "_Job", rank: int, host: str,
                 pid: Optional[int]) -> None:
        super().__init__(label, host, pid)
        self.job = job
        self.rank = rank

    def send(self, msg: tuple) -> None:
        self.job.send(self.rank, msg)

    def stop(self, timeout: float) -> None:
        """One rank cannot leave an MPI job alone: STOP it, kill the job if
        it has not finished within ``timeout``."""
        try:
            self.job.send(self.rank, (wire.STOP,))
        except OSError:
            return
        if not self.job.wait_ended(timeout):
            self.kill()

    def kill(self) -> None:
        """Killing a rank ends its whole MPI job (as MPI itself would)."""
        self.job.kill(f"the pool killed it (worker {self.label} did not stop "
                      "its task in time)")


class _Job:
    """One running ``mpiexec``: its process, its link, its workers.

    The job's reader thread is the only one that closes the link (after it
    saw EOF); other threads end the processes and shut the socket down,
    which wakes the reader, so no thread reads an fd another one closed.
    """

    def __init__(self, proc: subprocess.Popen, conn: Any, log: Any,
                 hello: dict, workers: dict[int, MpiWorker]) -> None:
        self.proc = proc
        self.conn = conn
        self.log = log                   # the launcher's output (an unlinked file)
        self.relay = hello
        self.workers = workers           # by rank
        self.ranks: Optional[LocalRanks] = None
        self.closing = False
        self.ended = threading.Event()
        self.end_reason: Optional[str] = None
        self.started = time.monotonic()
        self.died_idle_young = False     # no task ran, yet it died at once
        self._kill_reason: Optional[str] = None
        self._send_lock = threading.Lock()
        self._link_lock = threading.Lock()

    # -- sending

    def send(self, rank: int, msg: tuple) -> None:
        if self.end_reason is not None:
            raise OSError(self.end_reason)
        data = pack_frame(rank, msg)
        with self._send_lock:
            self.conn.send_bytes(data)

    # -- reading (the job's one reader thread)

    def read(self, sink: WorkerSink) -> None:
        """Deliver every frame to ``sink`` until the link drops, then report
        every worker lost (unless the job was being closed)."""
        try:
            while True:
                rank, msg = unpack_frame(self.conn.recv_bytes())
                worker = self.workers.get(rank)
                if worker is not None:
                    sink.on_message(worker, msg)
        except (EOFError, OSError):
            pass
        self._report_end(sink)

    def _report_end(self, sink: WorkerSink) -> None:
        try:
            self.proc.wait(EXIT_WAIT)
        except subprocess.TimeoutExpired:
            pass
        try:
            suspects, reason = self._why_ended()
        except Exception as exc:      # noqa: BLE001 - the loss must be reported
            _log.exception("could not tell why the MPI job ended")
            suspects, reason = [], f"the MPI job ended ({exc!r})"
        self.died_idle_young = (self._kill_reason is None and not self.closing
                                and time.monotonic() - self.started < _YOUNG
                                and not any(w.inflight for w in self.workers.values()))
        self.end_reason = reason          # from now on send() raises
        self.end_processes()
        with self._link_lock:
            self.conn.close()
        if self.ranks is not None:
            self.ranks.close()
        self.ended.set()
        if self.closing:
            return
        # the rank that died first goes first: its running task is the one
        # the scheduler must blame if retries run out
        order = sorted(self.workers.values(), key=lambda w: w not in suspects)
        for worker in order:
            sink.on_lost(worker, reason if worker in suspects or not suspects
                         else f"{reason} (this rank was ended with it)")

    def _why_ended(self) -> tuple[list[MpiWorker], str]:
        """(the workers that may have died first, the reason to report)."""
        if self._kill_reason is not None:
            return [], f"the MPI job was ended: {self._kill_reason}"
        hydra_pid, status = describe_end(self.proc.poll(), tail(self.log))
        first = self.ranks.first_dead() if self.ranks else []
        first = first or ([hydra_pid] if hydra_pid else [])
        # the launcher's status is about the rank it named, maybe another one
        how = f" ({status})" if not first or first == [hydra_pid] else ""
        by_pid = {w.pid: w for w in self.workers.values()}
        suspects = [by_pid[pid] for pid in first if pid in by_pid]
        names = [f"worker {w.label} (rank {w.rank}, pid {w.pid})" for w in suspects]
        if self.relay.get("pid") in first:
            names.append(f"its relay (rank 0, pid {self.relay['pid']})")
        if len(names) == 1:
            who = f"{names[0]} died first"
        elif names:      # they died within the same moment: no telling which
            who = f"one of {', '.join(names)} died first"
        else:
            who = "one of its ranks died"
        return suspects, (f"the MPI job ended: {who}{how}; an MPI job cannot go "
                          "on without one of its ranks")

    # -- ending

    def wait_ended(self, timeout: float) -> bool:
        return self.ended.wait(timeout)

    def close(self, timeout: float) -> None:
        """STOP every worker and let the job exit; end it if it has not
        within ``timeout``."""
        self.closing = True
        if self.end_reason is None:
            try:
                for rank in self.workers:
                    self.send(rank, (wire.STOP,))
                self.send(0, (BYE,))
            except OSError:
                pass
        ended = self._ranks_ended(timeout)
        if not ended:
            _log.warning("the MPI job (mpiexec pid %s) did not stop within "
                         "%.1fs; ending it", self.proc.pid, timeout)
        # every rank gone: a launcher still there has nothing left to clean
        # up, and gforker's answer to SIGTERM can take a second
        self.teardown(grace=0.0 if ended else 1.0)
        if not self.ended.wait(EXIT_WAIT):
            _log.warning("the MPI job's link did not close after the job ended")

    def on_rank_death(self) -> None:
        """A rank here exited: end the job, no rank may wait for a dead one.
        Not while closing: the ranks are leaving one by one, each through
        MPI_Finalize, which MPICH needs to remove its shared memory files
        (/dev/shm/mpich_shm_*); a kill then would leave them behind.
        close() bounds that wait itself."""
        if not self.closing:
            self.end_processes(0.5)

    def _ranks_ended(self, timeout: float) -> bool:
        """Wait for the job to end by itself.  When every rank runs here,
        the ranks' own exits say so: MPICH's gforker launcher at times
        takes a second more to notice them, and ending it then loses
        nothing."""
        deadline = time.monotonic() + max(0.0, timeout)
        ranks = 1 + len(self.workers)                  # the relay, the workers
        if self.ranks is not None and self.ranks.all_ended(ranks, timeout):
            try:
                self.proc.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
            return True
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self, reason: str) -> None:
        """End the job now; its workers are reported lost with ``reason``."""
        if self._kill_reason is None and self.end_reason is None:
            self._kill_reason = reason
        self.teardown(grace=0.5)

    def teardown(self, grace: float = 1.0) -> None:
        """End the processes and wake the reader (which closes the link)."""
        self.end_processes(grace)
        with self._link_lock:
            if not self.conn.closed:
                with socket.socket(fileno=os.dup(self.conn.fileno())) as view:
                    try:
                        view.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def end_processes(self, grace: float = 1.0) -> None:
        """Leave nothing of the job: SIGTERM to the launcher (it ends the
        ranks on every host), then SIGKILL to its process group and to every
        rank here (each runs in its own session).  Signals go only to
        processes known to be the job's: a pid is never reused under them."""
        launcher_ran = self.proc.poll() is None
        if launcher_ran and grace > 0:
            signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:          # not reaped: its pgid is still ours
            signal_group(self.proc.pid, signal.SIGKILL)
        # (not system.stop_group: the ranks are killed while the launcher is
        # not yet reaped, so their pids cannot have been reused)
        if self.ranks is not None:
            self.ranks.kill(launcher_ran)
        try:
            self.proc.wait(EXIT_WAIT)
        except subprocess.TimeoutExpired:
            _log.warning("mpiexec (pid %s) survived SIGKILL", self.proc.pid)


# ---------------------------------------------------------------- the transport

class MpiTransport(Transport):
    """Workers that are the ranks of one MPI job.

    Args:
        launcher: the launcher command, 'mpiexec' (default: the one next to
            this Python, i.e. the ``mpich`` wheel's), 'mpirun', 'srun' or a
            path; see :class:`.mpi_launch.Launcher`.
        launcher_args: extra arguments for the launcher.
        hosts: a hosts file for the launcher (``-hostfile``).
        python: the Python the ranks run (default: this one).
        env: extra environment variables for the job.
        listen: the address the kernel listens on for the job (default
            127.0.0.1; on a cluster, an address the first rank can reach).
        start_timeout: seconds the job may take to connect back.
    """

    name = "mpi"
    can_replace = True       # by starting a whole new job, see start()

    def __init__(self, launcher: Optional[str] = None, launcher_args: Any = (),
                 hosts: Optional[str] = None, python: Optional[str] = None,
                 env: Optional[dict] = None, listen: str = "127.0.0.1",
                 start_timeout: float = 60.0) -> None:
        self.launcher = Launcher(launcher, launcher_args, hosts, python, env)
        self.listen = listen
        self.start_timeout = start_timeout
        self._size: Optional[int] = None
        self._job: Optional[_Job] = None
        self._jobs: list[_Job] = []
        self._labels = itertools.count()    # labels stay unique across jobs
        self._relaunch_failed: Optional[_Job] = None
        self._idle_deaths = 0
        self._lock = threading.Lock()
        self._closed = False

    def start(self, count: int, sink: WorkerSink, first_index: int = 0
              ) -> list[WorkerHandle]:
        """Start a job of ``count`` workers.

        Asked again after the job was lost (the scheduler replaces each lost
        worker with ``start(1)``), it starts ONE new job as big as the first
        and returns all its workers; the other replacement requests of that
        loss find a live job and get none.
        """
        with self._lock:
            if self._closed:
                raise TransportError("this MPI transport was closed")
            dead = self._job
            if dead is not None and dead.end_reason is None:
                return []                    # replaced already
            if dead is not None and dead is self._relaunch_failed:
                raise TransportError("a new MPI job could not be started "
                                     "after the last one ended (see the log)")
            self._check_storm(dead)
            self._forget_ended()
            self._size = self._size or count
            try:
                job = self._launch(self._size, sink)
            except TransportError:
                self._relaunch_failed = dead
                raise
            self._job = job
            self._jobs.append(job)
            return list(job.workers.values())

    def _check_storm(self, dead: Optional[_Job]) -> None:
        """Refuse to restart jobs that keep dying on their own (a broken
        environment), instead of restarting them forever."""
        if dead is None:
            return
        self._idle_deaths = self._idle_deaths + 1 if dead.died_idle_young else 0
        if self._idle_deaths >= _STORM:
            self._relaunch_failed = dead
            raise TransportError(
                f"the last {_STORM} MPI jobs died within {_YOUNG:.0f}s of their "
                f"start with no task running (the last: {dead.end_reason}); not "
                "starting another. Check that the ranks can run here, then call "
                "pool.clear(): the next map starts a new job.")

    def _forget_ended(self) -> None:
        for job in [j for j in self._jobs if j.ended.is_set()]:
            self._jobs.remove(job)
            job.log.close()

    def _launch(self, count: int, sink: WorkerSink) -> _Job:
        authkey = wire.new_authkey()
        log = tempfile.TemporaryFile(prefix="pathos-mpi-")
        try:
            with open_listener(self.listen) as server:
                proc = self.launcher.spawn(count + 1, log)
                invite = invitation(self._advertised(server), server.getsockname()[1],
                                    authkey)
                conn, hellos = accept_job(server, proc, authkey, invite, count,
                                          self.start_timeout, log)
            return self._wrap(proc, conn, log, hellos, sink)
        except BaseException:
            log.close()
            raise

    def _wrap(self, proc: subprocess.Popen, conn: Any, log: Any,
              hellos: dict[int, dict], sink: WorkerSink) -> _Job:
        job = _Job(proc, conn, log, hellos.pop(0), {})
        for rank in sorted(hellos):
            info = hellos[rank]
            label = f"mpi-{next(self._labels)}"
            w = MpiWorker(label, job, rank, info.get("host", "?"), info.get("pid"))
            w.transport = self
            job.workers[rank] = w
        here = socket.gethostname()
        away = sorted({w.host for w in job.workers.values() if w.host != here})
        if away and "-disable-auto-cleanup" in proc.args:
            # a rank there could die unseen, and without the launcher's
            # cleanup the job would wait for it forever
            job.teardown()
            conn.close()
            raise TransportError(f"the MPI job put ranks on {', '.join(away)}, but "
                                 "its launcher arguments did not say so; pass "
                                 "hosts='hostfile' for jobs on other machines")
        pids = [w.pid for w in job.workers.values() if w.host == here]
        if job.relay.get("host") == here:
            pids.append(job.relay.get("pid"))
        job.ranks = LocalRanks(pids, job.on_rank_death)
        job.ranks.start()
        reader = threading.Thread(target=job.read, args=(sink,), daemon=True,
                                  name=f"pathos-mpi-reader-{proc.pid}")
        reader.start()
        return job

    def _advertised(self, server: socket.socket) -> str:
        host = server.getsockname()[0]
        return socket.getfqdn() if host in ("0.0.0.0", "::") else host

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            jobs, self._jobs = self._jobs, []
            self._job = None
        deadline = time.monotonic() + timeout
        for job in jobs:
            job.close(deadline - time.monotonic())
            job.log.close()
