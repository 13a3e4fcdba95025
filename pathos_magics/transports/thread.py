"""Workers in threads of this process: objects pass without pickling."""
from __future__ import annotations

import queue
import threading
import time
from typing import Any

from .. import wire, worker
from ..system import check_worker_count
from .base import Transport, WorkerHandle, WorkerSink


class _WorkerSide:
    """The worker's end: reads its inbox, posts to the transport's outbox."""

    def __init__(self, inbox: "queue.SimpleQueue", outbox: "queue.SimpleQueue",
                 handle: "ThreadWorker") -> None:
        self._inbox, self._outbox, self._handle = inbox, outbox, handle

    def recv(self) -> tuple:
        msg = self._inbox.get()
        if msg is None:
            raise EOFError
        return msg

    def send(self, msg: tuple) -> None:
        self._outbox.put((self._handle, msg))


class ThreadWorker(WorkerHandle):
    in_process = True

    def __init__(self, label: str, outbox: "queue.SimpleQueue",
                 init: tuple = (None, ()), owner: Any = None) -> None:
        super().__init__(label, "localhost")
        self._init = init
        self._owner = owner
        self._inbox: "queue.SimpleQueue" = queue.SimpleQueue()
        side = _WorkerSide(self._inbox, outbox, self)
        self.thread = threading.Thread(target=self._run, args=(side, outbox),
                                       name=f"pathos-{label}", daemon=True)

    def _run(self, side: _WorkerSide, outbox: "queue.SimpleQueue") -> None:
        try:
            worker.serve(side, self.label, in_process=True,
                         interrupt=lambda: worker.interrupt_thread(self.thread),
                         initializer=self._init[0], initargs=self._init[1],
                         owner=self._owner)
        except BaseException as exc:     # a bug, not a task failure
            outbox.put((self, ("lost", f"its thread crashed: {exc!r}")))

    def send(self, msg: tuple) -> None:
        self._inbox.put(msg)

    def stop(self, timeout: float) -> None:
        self._inbox.put((wire.STOP,))
        self.thread.join(timeout)

    def kill(self) -> None:
        # A thread cannot be killed; it is cancelled and abandoned (daemon).
        self.abandoned = True
        worker.interrupt_thread(self.thread)
        self._inbox.put((wire.STOP,))


class ThreadTransport(Transport):
    """Worker threads; one dispatcher thread relays what they say, so that
    scheduler code never runs on a thread that may be cancelled."""

    name = "thread"
    can_replace = True
    in_process = True

    def __init__(self, prefix: str = "thread", initializer: Any = None,
                 initargs: tuple = ()) -> None:
        self._prefix = prefix
        self._init = (initializer, tuple(initargs))
        self._outbox: "queue.SimpleQueue" = queue.SimpleQueue()
        self._workers: list[ThreadWorker] = []
        self._sink: Any = None
        self._relay = threading.Thread(target=self._relay_loop, daemon=True,
                                       name="pathos-thread-relay")

    def start(self, count: int, sink: WorkerSink, first_index: int = 0
              ) -> list[ThreadWorker]:
        check_worker_count(count, threads=True, running=len(self._workers))
        self._sink = sink
        if not self._relay.is_alive() and self._relay.ident is None:
            self._relay.start()
        started = []
        try:
            for index in range(first_index, first_index + count):
                w = ThreadWorker(f"{self._prefix}-{index}", self._outbox, self._init,
                                 sink)
                w.transport = self
                w.thread.start()
                self._workers.append(w)
                started.append(w)
        except BaseException:
            for w in started:          # a failed start stops what it started
                self._workers.remove(w)
                w.send((wire.STOP,))
            raise
        return started

    def _relay_loop(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            handle, msg = item
            if msg[0] == "lost":
                self._sink.on_lost(handle, msg[1])
            else:
                self._sink.on_message(handle, msg)

    def close(self, timeout: float = 5.0) -> None:
        """STOP every worker; one still running a task after ``timeout``
        (one deadline for all) is cancelled and abandoned: a thread cannot be
        killed, and a daemon thread does not hold the interpreter's exit."""
        workers, self._workers = self._workers, []
        for w in workers:
            w.send((wire.STOP,))
        deadline = time.monotonic() + timeout
        for w in workers:
            if not getattr(w, "abandoned", False):   # stuck in a sleep or C call
                w.thread.join(max(0.0, deadline - time.monotonic()))
        for w in workers:
            if w.thread.is_alive() and not getattr(w, "abandoned", False):
                w.kill()
        self._outbox.put(None)
