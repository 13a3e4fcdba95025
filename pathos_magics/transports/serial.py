"""The serial 'worker': tasks run in the caller's thread when it waits.

Messages to it are queued; the scheduler's wait loop calls :meth:`pump`,
which runs them one at a time.  So a SerialPool uses the same scheduler,
events and progress as every other pool, and a debugger or an exception
sees the task in the caller's own stack.
"""
from __future__ import annotations

import collections
import signal
import threading

from .. import wire, worker
from .base import Transport, WorkerHandle, WorkerSink


class SerialWorker(WorkerHandle):
    in_process = True

    def __init__(self, label: str, sink: WorkerSink) -> None:
        super().__init__(label, "localhost")
        self._queue: "collections.deque[tuple]" = collections.deque()
        self._runner = worker.Runner(_ToSink(self, sink), in_process=True)

    def send(self, msg: tuple) -> None:   # scheduler -> worker: queue it
        tag = msg[0]
        if tag == wire.RUN:
            self._queue.append(msg)
        elif tag == wire.CODE:
            self._runner.take_code(msg[1], msg[2])
        elif tag == wire.CANCEL:
            # its queued chunks of that map go first: the next pump answers
            # each at once (CANCELLED), so a cancel never waits behind tasks
            self._runner.cancelled.add(msg[1])
            mine = [m for m in self._queue if m[1] == msg[1]]
            for m in mine:
                self._queue.remove(m)
            self._queue.extendleft(reversed(mine))
        elif tag == wire.FORGET:
            self._runner.forget(msg[1])

    def pump(self) -> bool:
        """Run one queued chunk; False when there was nothing to run.

        A Ctrl-C while a task runs cancels it (the chunk goes back) and then
        raises KeyboardInterrupt here; a task raising KeyboardInterrupt
        itself is that task's error (the signal handler tells them apart).
        """
        if not self._queue:
            return False
        msg = self._queue.popleft()
        with _CtrlC(self._runner) as ctrl_c:
            self._runner.run(msg)
        if ctrl_c.pressed:
            raise KeyboardInterrupt
        return True

    def stop(self, timeout: float) -> None:
        self._queue.clear()

    def kill(self) -> None:
        # Nothing runs behind the caller's back: a serial task is never
        # stuck in another thread, only queued chunks are dropped.
        self._queue.clear()


class _CtrlC:
    """While a serial chunk runs in the main thread: SIGINT cancels the
    running task (TaskCancelled) and is remembered, so the caller still gets
    KeyboardInterrupt.  Only a handler Python's default one would be: a
    custom SIGINT handler, or another thread, is left alone."""

    def __init__(self, runner: worker.Runner) -> None:
        self._runner = runner
        self.pressed = False
        self._armed = False

    def __enter__(self) -> "_CtrlC":
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._handle)
            self._armed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._armed:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def _handle(self, signum: int, frame: object) -> None:
        self.pressed = True
        if self._runner.in_task:
            raise worker.TaskCancelled()
        raise KeyboardInterrupt


class _ToSink:
    """The runner's channel: what it sends goes straight to the scheduler."""

    def __init__(self, worker_: SerialWorker, sink: WorkerSink) -> None:
        self._worker, self._sink = worker_, sink

    def send(self, msg: tuple) -> None:
        self._sink.on_message(self._worker, msg)


class SerialTransport(Transport):
    name = "serial"
    can_replace = False
    in_process = True

    def __init__(self) -> None:
        self.workers: list[SerialWorker] = []

    def start(self, count: int, sink: WorkerSink, first_index: int = 0
              ) -> list[SerialWorker]:
        w = SerialWorker(f"serial-{first_index}", sink)
        w.transport = self
        self.workers.append(w)
        return [w]

    def pump(self) -> bool:
        return any([w.pump() for w in self.workers])
