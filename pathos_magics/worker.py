"""The one worker loop.

A local process, a thread, a remote server's child and an MPI rank all run
:func:`serve`; only the channel differs.  Two threads cooperate::

    channel --> reader thread --> local queue --> main loop: run chunk
                   |  CANCEL                          |
                   +--> interrupt main loop      DONE/CANCELLED/OUT --> channel

The reader keeps draining the channel while tasks run, so the scheduler can
keep a chunk queued here (no idle gap between chunks) and can cancel the
running one.  Cancelling raises :class:`TaskCancelled` inside the task: in a
process by a signal to the main thread (it also breaks a ``time.sleep``), in
a thread by an asynchronous exception.
"""
from __future__ import annotations

import ctypes
import io
import itertools
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any, Callable, Optional

from . import inherit, procstate, serialize, wire

_log = logging.getLogger(__name__)

#: True inside a worker process: nested maps never show progress.
IN_WORKER = False

_here = threading.local()      # .serving: this thread runs a worker loop (.owner: for whom)


def in_worker() -> bool:
    """True on a worker: in a worker process, or on a worker thread."""
    return IN_WORKER or getattr(_here, "serving", False)


def serving_for() -> Any:
    """On a worker thread: the scheduler it works for (its ``owner``), else None."""
    return getattr(_here, "owner", None)

_CANCEL_SIGNAL = signal.SIGUSR1


class TaskCancelled(BaseException):
    """Raised inside a task that the scheduler cancelled (interrupt, failure)."""


class Runner:
    """Runs RUN messages: the code cache and the tight task loop."""

    def __init__(self, channel: Any, in_process: bool) -> None:
        self.channel = channel
        self.in_process = in_process
        self.code: dict[int, Any] = {}
        self.funcs: dict[int, Callable] = {}
        self.cancelled: set[int] = set()
        self.stale: set[int] = set()     # code dropped as stale; a new one comes
        self.current_map: Optional[int] = None
        self.in_task = False
        # the pool's initializer failed: every task reports that failure
        # (a worker that exited instead would be replaced, fail, forever)
        self.init_error: Optional[BaseException] = None
        self.init_tb: Any = None

    def run(self, msg: tuple) -> None:
        _, map_id, chunk_id, key, kind, data, budget = msg[:7]
        if map_id in self.cancelled:
            self.channel.send((wire.CANCELLED, map_id, chunk_id))
            return
        if key in self.stale:            # sent before the stale answer arrived
            self.channel.send((wire.STALE, map_id, chunk_id, None))
            return
        self.current_map = map_id
        results: list = []
        error = stats = None
        start = time.perf_counter()
        try:
            if self.init_error is not None:
                raise self.init_error.with_traceback(self.init_tb)
            func = self._func(key)
            items = data if self.in_process else serialize.loads_data(data)
            self.in_task = True
            prof = _start_profiler() if len(msg) > 7 and msg[7] else None
            try:
                if budget is None:
                    _run_tasks(func, kind, items, results)
                else:
                    _run_boxed(func, kind, items, results, budget)
            finally:
                self.in_task = False
                if prof is not None:
                    stats = _stop_profiler(prof)
        except TaskCancelled:
            self.current_map = None
            self.channel.send((wire.CANCELLED, map_id, chunk_id))
            return
        except inherit.Stale as exc:     # the scheduler resends the code
            self.current_map = None
            self.code.pop(key, None)
            self.stale.add(key)
            self.channel.send((wire.STALE, map_id, chunk_id, exc.name))
            return
        except BaseException as exc:     # the task's failure is the result
            error = _error_payload(exc) if not self.in_process else exc
        elapsed = time.perf_counter() - start
        self.current_map = None
        if not self.in_process:          # a chunk's output precedes its result
            _flush_streams()
        self._send_done(map_id, chunk_id, results, error, elapsed, stats)

    def _send_done(self, map_id, chunk_id, results, error, elapsed,
                   stats: Optional[dict] = None) -> None:
        extra = () if stats is None else (stats,)
        if self.in_process:
            self.channel.send((wire.DONE, map_id, chunk_id, results, error, elapsed)
                              + extra)
            return
        try:
            blob = serialize.dumps_result(results)
        except Exception as exc:         # a result that cannot come back
            index, why = serialize.result_error(results, exc)
            results = results[:index]
            blob = serialize.dumps_result(results)
            error = _error_payload(why)
        self.channel.send((wire.DONE, map_id, chunk_id, blob, error, elapsed) + extra)

    def _func(self, key: int) -> Callable:
        func = self.funcs.get(key)
        if func is None:
            payload = self.code[key]
            func = payload if self.in_process else serialize.loads_code(payload)
            self.funcs[key] = func
        return func

    def take_code(self, key: int, payload: Any) -> None:
        self.code[key] = payload
        self.funcs.pop(key, None)
        self.stale.discard(key)

    def forget(self, key: int) -> None:
        self.code.pop(key, None)
        self.funcs.pop(key, None)
        self.cancelled.discard(key)
        self.stale.discard(key)


def _run_tasks(func: Callable, kind: int, items: list, results: list) -> None:
    # The hot loop (W1 runs 100k trivial tasks): list.extend over map runs in
    # C, and when a task raises, the results before it are already in
    # ``results``, so len(results) is the index of the failed task.
    before = len(results)
    if kind in (wire.SINGLE, wire.STAR):
        results.extend(map(func, items) if kind == wire.SINGLE
                       else itertools.starmap(func, items))
        if len(results) - before < len(items):
            # extend() took a task's StopIteration for the end of the items
            raise StopIteration(f"task {len(results)} of the chunk raised "
                                "StopIteration (its traceback is lost)")
    else:
        for args, kwds in items:
            results.append(func(*args, **kwds))


def _run_boxed(func: Callable, kind: int, items: Any, results: list,
               budget: float) -> None:
    """Run tasks until ``budget`` seconds have passed (the scheduler did not
    know the task time yet): 1, 2, 4, ... at a time, so fast tasks still run
    in the C loop and a slow first task ends the chunk early."""
    deadline = time.perf_counter() + budget
    done, step = 0, 1
    while done < len(items):
        _run_tasks(func, kind, items[done:done + step], results)
        done += step
        if time.perf_counter() >= deadline:
            return
        step *= 2


# ---------------------------------------------------------------- profiling
#
# A profiled map's chunk runs under its own cProfile.Profile.  Before Python
# 3.12 a profiler hooks one thread (sys.setprofile); from 3.12 on it is a
# sys.monitoring tool, one per process, that sees every thread.  So a chunk
# is profiled only when no profiler is on already: on the serial pool's
# thread the kernel's own (pathos_magics.profile.start_profiling) keeps
# going, and on 3.12+ the thread pool's workers take turns (the one that
# holds the profiler records the others' calls meanwhile).  Never raises.

def _start_profiler() -> Any:
    """A started profiler for this chunk, or None when one is on already."""
    import cProfile
    if sys.version_info < (3, 12) and sys.getprofile() is not None:
        _log.debug("chunk not profiled: this thread has a profiler on already")
        return None
    prof = cProfile.Profile()
    try:
        prof.enable()
    except ValueError as exc:        # 3.12+: another profiler holds the process
        _log.debug("chunk not profiled: %s", exc)
        return None
    _here.profiler = prof
    return prof


#: builtins the task loop itself calls (a task calling them is kept)
_LOOP_CALLS = {"<method 'extend' of 'list' objects>", "<method 'append' of 'list' objects>",
               "<built-in method builtins.len>", "<built-in method time.perf_counter>",
               "<method 'disable' of '_lsprof.Profiler' objects>"}


def _stop_profiler(prof: Any) -> dict:
    """The chunk's stats without this loop's own calls: the tasks'."""
    _here.profiler = None
    prof.disable()
    prof.create_stats()
    return {func: entry for func, entry in prof.stats.items()
            if func[0] != __file__ and not (
                func[2] in _LOOP_CALLS and all(c[0] == __file__ for c in entry[4]))}


class chunk_profiler_paused:
    """While a task runs its own profiler (pathos's ``profiled``), the
    chunk's profiler of this thread stops, so the two do not fight over the
    hook (before 3.12 the task's would silently replace it; from 3.12 on its
    ``enable()`` would raise).  A context manager; does nothing otherwise."""

    def __enter__(self) -> "chunk_profiler_paused":
        self._prof = getattr(_here, "profiler", None)
        if self._prof is not None:
            self._prof.disable()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._prof is not None and getattr(_here, "profiler", None) is self._prof:
            try:
                self._prof.enable()
            except ValueError as err:    # 3.12+: another profiler took over
                _log.debug("chunk profiler not resumed: %s", err)


def _error_payload(exc: BaseException) -> bytes:
    frames = [(f.filename, f.lineno, f.name, f.line)
              for f in traceback.extract_tb(exc.__traceback__)
              if f.filename != __file__]
    return serialize.exception_payload(exc, frames)


def serve(channel: Any, label: str, *, in_process: bool = False,
          interrupt: Optional[Callable[[], None]] = None,
          on_eof: Optional[Callable[[], None]] = None,
          initializer: Optional[Callable[..., Any]] = None,
          initargs: tuple = (), owner: Any = None) -> None:
    """Run tasks from ``channel`` until STOP or the channel closes.

    Args:
        channel: has ``send(msg)`` and ``recv()``; ``recv`` raises EOFError
            or OSError when the scheduler side is gone.
        label: this worker's name, as the scheduler shows it.
        in_process: messages carry objects, not serialized payloads.
        interrupt: makes the main loop raise TaskCancelled in a running task.
        on_eof: called by the reader when the channel closes (a process
            exits at once there, so no worker outlives its scheduler).
        initializer: called as ``initializer(*initargs)`` once, before the
            first task (pathos's and multiprocessing's pool option).
        owner: on a thread, the scheduler it works for (a map its tasks
            start on that same pool must not wait for its own threads).
    """
    _here.serving, _here.owner = True, owner
    runner = Runner(channel, in_process)
    if initializer is not None:
        try:
            initializer(*initargs)
        except Exception as exc:
            name = getattr(initializer, "__qualname__", repr(initializer))
            exc.add_note(f"raised by the pool's initializer {name}{tuple(initargs)!r} "
                         f"on worker {label}; fix it, then pool.clear()")
            runner.init_error = exc
            runner.init_tb = exc.__traceback__
    inbox: "queue.SimpleQueue[Optional[tuple]]" = queue.SimpleQueue()

    def read() -> None:
        while True:
            try:
                msg = channel.recv()
            except (EOFError, OSError):
                if on_eof is not None:
                    on_eof()
                inbox.put(None)
                return
            tag = msg[0]
            if tag == wire.RUN or tag == wire.CODE or tag == wire.STATE:   # in order
                inbox.put(msg)
            elif tag == wire.CANCEL:
                runner.cancelled.add(msg[1])
                if runner.in_task and runner.current_map == msg[1] and interrupt:
                    interrupt()
            elif tag == wire.FORGET:
                runner.forget(msg[1])
            elif tag == wire.PING:       # liveness: this thread answers
                try:
                    channel.send((wire.PONG,))
                except (OSError, ValueError):
                    pass                 # the next recv sees the channel gone
            elif tag == wire.STOP:
                inbox.put(None)
                return

    reader = threading.Thread(target=read, name=f"pathos-worker-reader-{label}",
                              daemon=True)
    reader.start()
    while True:
        msg = inbox.get()
        if msg is None:
            return
        if msg[0] == wire.CODE:
            runner.take_code(msg[1], msg[2])
            continue
        if msg[0] == wire.STATE:
            procstate.apply(msg[1])
            continue
        try:
            runner.run(msg)
        except TaskCancelled:
            # a cancel that landed between tasks and the result being sent
            channel.send((wire.CANCELLED, msg[1], msg[2]))


# ---------------------------------------------------------------- processes

class _LineWriter(io.TextIOBase):
    """A stdout/stderr replacement that sends whole lines to the scheduler."""

    def __init__(self, channel: Any, stream: str, original: Any) -> None:
        self._channel = channel
        self._stream = stream
        self._buf = ""
        self._lock = threading.Lock()
        self._original = original

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self._lock:
            self._buf += s
            cut = self._buf.rfind("\n")
            if cut >= 0:
                text, self._buf = self._buf[:cut], self._buf[cut + 1:]
                self._send(text)
        return len(s)

    def flush(self) -> None:
        with self._lock:
            if self._buf:
                text, self._buf = self._buf, ""
                self._send(text)

    def _send(self, text: str) -> None:
        try:
            self._channel.send((wire.OUT, self._stream, text))
        except (OSError, ValueError):
            self._original.write(text + "\n")

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, _LineWriter):
            stream.flush()


def _signal_interrupt(signum: int = _CANCEL_SIGNAL) -> None:
    signal.pthread_kill(threading.main_thread().ident, signum)


def _raise_cancelled(signum, frame) -> None:
    raise TaskCancelled()


def process_main(conn: Any, label: str, cancel_signal: int = _CANCEL_SIGNAL,
                 initializer: Optional[Callable[..., Any]] = None,
                 initargs: tuple = ()) -> None:
    """Entry point of a worker process (local, ssh server child, MPI rank).

    ``cancel_signal`` interrupts a running task; MPI ranks use SIGUSR2,
    because MPICH's launcher sends SIGUSR1 to every rank when one dies.
    """
    global IN_WORKER
    # Jupyter interrupts the kernel's whole process group: the scheduler, not
    # SIGINT, decides what stops here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    IN_WORKER = True
    signal.signal(cancel_signal, _raise_cancelled)
    channel = wire.Channel(conn)
    sys.stdout = _LineWriter(channel, "stdout", sys.__stdout__)
    sys.stderr = _LineWriter(channel, "stderr", sys.__stderr__)
    channel.send((wire.HELLO, {"pid": os.getpid(), "host": socket.gethostname(),
                               "python": sys.version.split()[0], "label": label}))
    try:
        serve(channel, label, interrupt=lambda: _signal_interrupt(cancel_signal),
              on_eof=lambda: os._exit(0), initializer=initializer,
              initargs=initargs)
    finally:
        _flush_streams()


# ---------------------------------------------------------------- threads

def interrupt_thread(thread: threading.Thread) -> None:
    """Raise TaskCancelled inside ``thread`` at its next bytecode."""
    ident = thread.ident
    if ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(ident), ctypes.py_object(TaskCancelled))
