"""The job's side: ``mpiexec -n N+1 python -m pathos_magics.mpi``.

Rank 0 is a relay; ranks 1..N each run the one worker loop
(:func:`pathos_magics.worker.process_main`), so to the kernel's scheduler
every worker rank is an ordinary worker::

  kernel                     rank 0 (relay)                  ranks 1..N (workers)
  ------                     --------------                  --------------------
  MpiWorker.send ==[rank|pickle]==> downstream thread --Isend--> _RankConn.recv_bytes
                 one authenticated                                  serve(): run chunks
                 TCP connection                                         |
  job reader <=====[rank|pickle]=== upstream loop <---Improbe---- _RankConn.send_bytes

The relay never unpickles a worker's message: it moves bytes, adding or
removing the 4-byte rank prefix.  Frames for rank 0 itself are control
messages (``("bye",)``: the kernel is closing the job).

Why a relay rank rather than a worker on rank 0 too: rank 0 carries every
message of every rank.  Sharing its interpreter with user tasks would put the
whole job's traffic behind that task's hold on the GIL (a long C call would
freeze every rank's results), so it stays a pure relay; it sleeps in
``recv`` or between polls and costs little CPU.

MPICH busy-polls inside blocking calls, which on an oversubscribed machine
steals the cores the tasks need.  So nothing here blocks in MPI: receives
poll ``Improbe`` and sends poll ``Test``, sleeping with a capped backoff.

Rank 0 reads its invitation (address and authkey of the kernel's listener,
one JSON line) from stdin, which the launcher forwards to rank 0 only: the
key never appears on a command line or in the environment.

Signals: SIGINT is ignored (the kernel cancels through messages).  MPICH's
launcher, run with ``-disable-auto-cleanup`` on one machine, sends SIGUSR1 to
every rank when one dies: worker ranks ignore it (they cancel a task with
SIGUSR2 instead of the worker loop's usual SIGUSR1), and the relay ends the
job if the kernel has not within a second.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time
from typing import Any, Optional

from . import shm
from .protocol import (INVITATION_TIMEOUT, PREFIX, TAG_BYE, TAG_MSG, pack_frame,
                       parse_invitation)

# mpi4py is imported inside main(): importing mpi4py.MPI initialises MPI.
DRAIN_TIMEOUT = 10.0             # after the kernel left, ranks get this long
RANK_DEATH_GRACE = 1.0           # after the launcher says a rank died, the
                                 # kernel gets this long to end the job itself

_POLL_FIRST = 1e-5               # backoff: first sleep between polls
_POLL_CAPS = ((0.05, 2e-4),      # (seconds since the last message, longest sleep):
              (2.0, 1e-3),       # a map in progress gets sub-ms latency, an
              (None, 1e-2))      # idle pool wakes ~100 times a second


class Backoff:
    """Sleeps between polls: short right after traffic, longer when idle.

    Keeps a polling rank from spinning a core (MPICH's blocking calls would)
    while adding well under a millisecond of latency during a map.
    """

    def __init__(self) -> None:
        self._kicked = threading.Event()
        self.reset()

    def reset(self) -> None:
        self._delay = 0.0
        self._last = time.monotonic()

    def kick(self) -> None:
        """From another thread: traffic is coming, poll now and often."""
        self._kicked.set()

    def sleep(self) -> None:
        if self._delay and self._kicked.wait(self._delay):
            self._kicked.clear()
            self.reset()
            return
        quiet = time.monotonic() - self._last
        cap = next(c for after, c in _POLL_CAPS if after is None or quiet < after)
        self._delay = min(cap, max(_POLL_FIRST, self._delay * 2))


def wait_request(request: Any, backoff: Optional[Backoff] = None) -> None:
    """Complete an MPI request without busy-waiting in MPI."""
    backoff = backoff or Backoff()
    while not request.Test():
        backoff.sleep()


def recv_frame(comm: Any, message: Any, status: Any, offset: int = 0) -> bytearray:
    """Receive a probed message into a fresh buffer, ``offset`` bytes in."""
    from mpi4py import MPI
    count = status.Get_count(MPI.BYTE)
    buf = bytearray(offset + count)
    message.Recv([memoryview(buf)[offset:], count, MPI.BYTE])
    return buf


# ---------------------------------------------------------------- workers

class _RankConn:
    """A worker rank's link to the relay, with a Connection's byte API, so
    :class:`pathos_magics.wire.Channel` and the worker loop use it unchanged.

    ``recv_bytes`` raises EOFError (the worker loop then exits at once) when
    this rank's parent, the launcher's proxy, is gone: no rank outlives its
    job, even one the launcher failed to clean up.
    """

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self._ppid = os.getppid()
        self._closed = False

    def send_bytes(self, data: bytes) -> None:
        from mpi4py import MPI
        if self._closed:
            raise OSError("the MPI link is closed")
        wait_request(self.comm.Isend([data, MPI.BYTE], 0, TAG_MSG))

    def recv_bytes(self) -> bytearray:
        from mpi4py import MPI
        status = MPI.Status()
        backoff = Backoff()
        while True:
            message = self.comm.Improbe(0, MPI.ANY_TAG, status)
            if message is not None:
                break
            if self._closed or os.getppid() != self._ppid:
                raise EOFError("the MPI job is ending")
            backoff.sleep()
        return recv_frame(self.comm, message, status)

    def say_bye(self) -> None:
        from mpi4py import MPI
        self._closed = True
        wait_request(self.comm.Isend([b"", MPI.BYTE], 0, TAG_BYE))

    def close(self) -> None:
        self._closed = True


def _worker_main(comm: Any) -> None:
    from ... import worker
    # MPICH's launcher sends SIGUSR1 to every rank when one dies (the job
    # runs with -disable-auto-cleanup): ranks cancel tasks with SIGUSR2, and
    # main() ignores the launcher's SIGUSR1.
    conn = _RankConn(comm)
    try:
        worker.process_main(conn, f"rank-{comm.Get_rank()}",
                            cancel_signal=signal.SIGUSR2)
    finally:
        # the loop's line writers send over MPI, which is about to end
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    conn.say_bye()


# ---------------------------------------------------------------- relay

class _Relay:
    """Moves frames between the kernel connection and the worker ranks."""

    def __init__(self, comm: Any, conn: Any) -> None:
        self.comm = comm
        self.conn = conn
        self.workers = set(range(1, comm.Get_size()))
        self.kernel_closing = threading.Event()
        self.finished = threading.Event()
        # a frame sent down means a reply will come up: the upstream poll
        # must not be in its long idle sleep then
        self.upstream_backoff = Backoff()
        self.rank_died_at: Optional[float] = None

    def on_rank_death(self, signum: int, frame: Any) -> None:
        """SIGUSR1: the launcher (run with -disable-auto-cleanup) says a rank
        died.  The kernel watches the ranks and ends the job first, naming
        the dead one; should it not, the upstream loop ends the job itself,
        so a job never waits for a dead rank."""
        if self.rank_died_at is None:
            self.rank_died_at = time.monotonic()

    def run(self) -> None:
        down = threading.Thread(target=self._downstream, daemon=True,
                                name="pathos-mpi-downstream")
        down.start()
        try:
            self._upstream()
        finally:
            self.finished.set()

    def _downstream(self) -> None:
        """kernel -> ranks: blocks in the socket read, so costs no CPU."""
        from mpi4py import MPI
        backoff = Backoff()
        while True:
            try:
                data = self.conn.recv_bytes()
            except (EOFError, OSError):
                self._kernel_gone()
                return
            (dest,) = PREFIX.unpack_from(data)
            if dest == 0:
                self.kernel_closing.set()
                continue
            body = memoryview(data)[PREFIX.size:]
            self.upstream_backoff.kick()
            wait_request(self.comm.Isend([body, MPI.BYTE], dest, TAG_MSG), backoff)

    def _kernel_gone(self) -> None:
        # After "bye" the ranks are finishing: give them a bounded while.
        # Otherwise the kernel died: end the job now, no rank may linger.
        if self.kernel_closing.is_set() and self.finished.wait(DRAIN_TIMEOUT):
            return
        self._abort()

    def _upstream(self) -> None:
        """ranks -> kernel, until every worker rank said bye."""
        from mpi4py import MPI
        status = MPI.Status()
        backoff = self.upstream_backoff
        ppid = os.getppid()
        while self.workers:
            message = self.comm.Improbe(MPI.ANY_SOURCE, MPI.ANY_TAG, status)
            if message is None:
                if os.getppid() != ppid or self._rank_death_overdue():
                    self._abort()            # no rank may wait for a dead one
                backoff.sleep()
                continue
            backoff.reset()
            source = status.Get_source()
            frame = recv_frame(self.comm, message, status, PREFIX.size)
            if status.Get_tag() == TAG_BYE:
                self.workers.discard(source)
                continue
            PREFIX.pack_into(frame, 0, source)
            try:
                self.conn.send_bytes(frame)
            except OSError:
                self._abort()           # the kernel is gone: end the job

    def _abort(self) -> None:
        """End the whole job.  MPI_Abort skips MPI_Finalize, which removes
        MPICH's shared memory files: remove them first (every rank here has
        them open already, and keeps its memory)."""
        shm.remove(shm.mpich_segments([os.getpid()]))
        self.comm.Abort(1)

    def _rank_death_overdue(self) -> bool:
        died = self.rank_died_at
        return died is not None and time.monotonic() - died > RANK_DEATH_GRACE


def _read_invitation(stream: Any, timeout: float) -> tuple[tuple[str, int], bytes]:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise SystemExit(f"pathos_magics.mpi: no invitation on stdin within "
                         f"{timeout:.0f}s; this module is started by MpiPool")
    line = stream.readline()
    try:
        return parse_invitation(line)
    except ValueError as exc:
        raise SystemExit(f"pathos_magics.mpi: bad invitation on stdin ({exc})") from exc


def _relay_main(comm: Any) -> None:
    # the stdlib's client speaks the same protocol as the kernel's
    # multiprocess listener, and imports in a third of the time (no dill:
    # the relay never unpickles code), which counts in the pool's start
    from multiprocessing.connection import Client

    from ... import wire
    address, authkey = _read_invitation(sys.stdin, INVITATION_TIMEOUT)
    conn = Client(address, authkey=authkey)
    with socket.socket(fileno=os.dup(conn.fileno())) as view:
        # without it, Nagle's algorithm and delayed ACKs hold back small
        # frames sent back to back (CODE then RUN) for ~40 ms
        view.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "label": "relay",
            "python": sys.version.split()[0], "size": comm.Get_size()}
    conn.send_bytes(pack_frame(0, (wire.HELLO, info)))
    relay = _Relay(comm, conn)
    signal.signal(signal.SIGUSR1, relay.on_rank_death)
    try:
        relay.run()
    finally:
        conn.close()


def main() -> None:
    """Entry of every rank: rank 0 relays, the others are workers."""
    # The kernel's interrupt is handled by the scheduler (CANCEL), never by
    # signals reaching the job; SIGUSR1 is the launcher's notice that a rank
    # died, which the kernel learns (and acts on) by itself (the relay keeps
    # it as a fallback, see _Relay.on_rank_death).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    if comm.Get_size() < 2:
        raise SystemExit("pathos_magics.mpi needs at least 2 ranks (a relay "
                         "and a worker)")
    if comm.Get_rank() == 0:
        _relay_main(comm)
    else:
        _worker_main(comm)


if __name__ == "__main__":
    main()
