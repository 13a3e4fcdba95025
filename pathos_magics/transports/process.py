"""Local worker processes (fork, spawn or forkserver), one pipe each."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any, Optional

import multiprocess
import multiprocess.connection

from .. import inherit, wire, worker
from ..errors import TransportError
from ..system import EXIT_WAIT, check_worker_count, die_with_parent
from . import forker
from .base import ChannelWorker, Transport, WorkerSink

_log = logging.getLogger(__name__)

# The parent's ends of every worker pipe in this process.  A forked child
# inherits them; it closes them first thing, so that a worker sees EOF (and
# exits) as soon as its own scheduler is gone, whoever else forked later.
_PARENT_FDS: set[int] = set()
_FDS_LOCK = threading.Lock()

TERM_GRACE = 1.0     # after SIGTERM, how long a worker may take before SIGKILL


def _reset_after_fork() -> None:
    # a fork may happen while another thread holds the lock
    global _FDS_LOCK
    _FDS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def close_inherited_fds(keep: int) -> None:
    """In a freshly forked worker: close the parent's pipe ends it inherited."""
    for fd in list(_PARENT_FDS):
        if fd != keep:
            try:
                os.close(fd)
            except OSError:
                pass
    _PARENT_FDS.clear()


def _process_entry(conn: Any, label: str, forked: bool, parent_fd: int,
                   init: tuple = (None, ()), parent_pid: Optional[int] = None) -> None:
    # SIGKILL when the kernel dies, even in a long C call that keeps the pipe
    # reader from running (Linux; forker.py says why one thread forks us all).
    die_with_parent()
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)                  # the kernel died before the line above
    if forked:
        # A forked child holds copies of its own pipe's parent end and of
        # every other worker's: close them, or the pipe never reaches EOF when
        # the kernel dies, and this worker would outlive it.
        close_inherited_fds(conn.fileno())
        try:
            os.close(parent_fd)
        except OSError:
            pass
        inherit.capture_in_child()
    worker.process_main(conn, label, initializer=init[0], initargs=init[1])


class _Pump:
    """One thread that reads the pipes of every worker of a transport.

    A reader thread per worker would hand the GIL back and forth with the
    others while each unpickles its results (W1: results of 100k tasks come
    back in ~20 chunks); one thread takes them in turn, as multiprocessing's
    result handler does.  It ends when its last worker is gone.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._workers: dict[Any, "ProcessWorker"] = {}
        self._thread: Optional[threading.Thread] = None
        # wakes the wait when a worker is added; forked children close it
        self._wake_r, self._wake_w = multiprocess.Pipe(duplex=False)
        self._fds = (self._wake_r.fileno(), self._wake_w.fileno())
        with _FDS_LOCK:
            _PARENT_FDS.update(self._fds)

    def close(self, timeout: float) -> None:
        """After the workers have stopped: let the thread end, free the pipe."""
        thread = self._thread
        if thread is not None:
            self._wake_w.send_bytes(b"")
            thread.join(timeout)
            if thread.is_alive():
                return                  # still reading a lost worker: leave it
        with _FDS_LOCK:
            _PARENT_FDS.difference_update(self._fds)
        self._wake_r.close()
        self._wake_w.close()

    def add(self, worker: "ProcessWorker") -> None:
        with self._lock:
            self._workers[worker.channel.conn] = worker
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"pathos-pump-{self._name}")
                self._thread.start()
        self._wake_w.send_bytes(b"")

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._workers:
                    self._thread = None
                    return
                conns = list(self._workers)
            for conn in multiprocess.connection.wait(conns + [self._wake_r]):
                if conn is self._wake_r:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                    continue
                worker = self._workers.get(conn)
                if worker is not None and not worker.read_one():
                    with self._lock:
                        self._workers.pop(conn, None)


class ProcessWorker(ChannelWorker):
    follows_kernel = True

    def __init__(self, label: str, channel: wire.Channel, sink: WorkerSink,
                 process: Any) -> None:
        super().__init__(label, channel, sink, pid=process.pid)
        self.process = process
        self._fd = channel.fileno()
        # One thread at a time may wait for the process: two concurrent
        # waitpid calls race, and the loser sees a dead worker as alive.
        self._reap_lock = threading.Lock()

    def _join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the process to exit; True if it has."""
        with self._reap_lock:
            self.process.join(timeout)
            return self.process.exitcode is not None

    def _why_lost(self, default: str) -> str:
        self._join(1.0)                     # reap it; the exit code says why
        self._forget_fd()
        code = self.process.exitcode
        if code is None:
            return default
        if code < 0:
            try:
                return f"it was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"it was killed by signal {-code}"
        return f"it exited with code {code}"

    def _forget_fd(self) -> None:
        # Only the pump closes the pipe, once it has seen EOF: an fd closed
        # under a blocked wait could be reused by a new pipe that the pump
        # would then read as this worker's.
        with _FDS_LOCK:
            _PARENT_FDS.discard(self._fd)
        self.channel.close()

    def stop(self, timeout: float) -> None:
        try:
            self.channel.send((wire.STOP,))
        except (OSError, ValueError):
            pass
        if not self._join(timeout):
            _log.warning("worker %s did not stop within %.1fs; killing it",
                         self.label, timeout)
            self.kill()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self._join(2.0)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process unless it has been reaped already."""
        with self._reap_lock:
            if self.process.exitcode is None:     # never signal a reaped pid
                try:
                    os.kill(self.process.pid, sig)
                except ProcessLookupError:
                    pass

    def exited(self) -> bool:
        """Whether the process has exited (reaps it if so; never blocks)."""
        return self._join(0)


class ProcessTransport(Transport):
    """Workers in local processes.

    Args:
        context: start method, 'fork', 'spawn' or 'forkserver' (default: the
            platform's default, as multiprocess decides).
        prefix: label prefix of the workers.
    """

    name = "process"

    def __init__(self, context: Optional[str] = None, prefix: str = "local",
                 initializer: Any = None, initargs: tuple = ()) -> None:
        self._init = (initializer, tuple(initargs))
        self._ctx = multiprocess.get_context(context)
        self.start_method = self._ctx.get_start_method()
        self._prefix = prefix
        self._workers: list[ProcessWorker] = []
        self._lock = threading.Lock()
        self._closed = False         # close() began: no worker starts any more
        self._pump = _Pump(prefix)

    def start(self, count: int, sink: WorkerSink, first_index: int = 0
              ) -> list[ProcessWorker]:
        """Start ``count`` workers; an absurd count is refused before any
        starts, and if one fails to start, those started here are stopped."""
        check_worker_count(count, running=len(self._workers))
        started: list[ProcessWorker] = []
        try:
            for index in range(first_index, first_index + count):
                started.append(self._start_one(f"{self._prefix}-{index}", sink))
        except BaseException as exc:
            self._stop_started(started)
            if isinstance(exc, OSError) and not isinstance(exc, TransportError):
                raise TransportError(
                    f"could not start worker {self._prefix}-{first_index + len(started)} "
                    f"({len(started) + 1} of {count}): {exc}. The {len(started)} "
                    "started were stopped. The system refused a new process: "
                    "ask for fewer workers, or raise the limit (ulimit -u, a "
                    "cgroup's pids.max, memory).") from exc
            raise
        return started

    def _stop_started(self, started: list[ProcessWorker]) -> None:
        with self._lock:
            self._workers = [w for w in self._workers if w not in started]
        for w in started:
            w.signal(signal.SIGKILL)
        for w in _wait_exited(started, EXIT_WAIT):
            _log.warning("worker %s (pid %s) did not exit after SIGKILL", w.label, w.pid)

    def _start_one(self, label: str, sink: WorkerSink) -> ProcessWorker:
        with self._lock:
            if self._closed:
                raise TransportError(f"the {self._prefix} workers are being stopped: "
                                     f"worker {label} is not started")
        forked = self.start_method == "fork"
        # One worker is made at a time (replacements start from reader
        # threads): a fork made while another worker's pipe is half set up
        # would copy that worker's end, and its reader would never see EOF.
        # the forkserver, not this process, is the parent of its workers
        parent_pid = None if self.start_method == "forkserver" else os.getpid()
        with _FDS_LOCK:
            parent, child = self._ctx.Pipe(duplex=True)
            proc = self._ctx.Process(target=_process_entry, name=f"pathos-{label}",
                                     args=(child, label, forked, parent.fileno(),
                                           self._init, parent_pid),
                                     daemon=False)
            try:
                forker.FORKER.run(proc.start, lambda: _undo_start(proc))
            except BaseException:
                parent.close()
                raise
            finally:
                child.close()
            _PARENT_FDS.add(parent.fileno())
        handle = ProcessWorker(label, wire.Channel(parent), sink, proc)
        handle.transport = self
        handle.forked = forked
        with self._lock:
            closed = self._closed
            if not closed:
                self._workers.append(handle)
        if closed:
            # close() ran while this one started (a replacement): it is not
            # among the workers close() stops, so it is stopped here.
            handle.kill()
            handle._forget_fd()
            raise TransportError(f"the {self._prefix} workers were stopped while "
                                 f"worker {label} started; it was stopped too")
        self._pump.add(handle)
        return handle

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker: STOP, then SIGTERM for those still running after
        ``timeout``, then SIGKILL after TERM_GRACE (one deadline for all).
        Safe to call again (an interrupted close leaves the rest listed);
        a worker that comes up after this is stopped at once."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        for w in workers:
            try:
                w.channel.send((wire.STOP,))
            except (OSError, ValueError):
                pass
        left = _wait_exited(workers, timeout)
        for sig, grace in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, EXIT_WAIT)):
            if not left:
                break
            if timeout > 0 or sig == signal.SIGKILL:
                _log.warning("worker(s) %s did not stop in time; sending %s",
                             ", ".join(w.label for w in left), sig.name)
            for w in left:
                w.signal(sig)
            left = _wait_exited(left, grace)
        with self._lock:
            self._workers = [w for w in self._workers if w not in workers or w in left]
        self._pump.close(2.0)


def _undo_start(proc: Any) -> None:
    """A start whose caller was interrupted: nobody holds the process."""
    proc.kill()
    proc.join(EXIT_WAIT)


def _wait_exited(workers: list[ProcessWorker], timeout: float) -> list[ProcessWorker]:
    """Wait up to ``timeout`` for the processes to exit; those still running."""
    deadline = time.monotonic() + timeout
    left = [w for w in workers if not w.exited()]
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        multiprocess.connection.wait([w.process.sentinel for w in left], remaining)
        left = [w for w in left if not w.exited()]
    return left
