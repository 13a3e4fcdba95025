"""The one thread that starts local worker processes, so that they die with us.

A worker asks Linux for the parent-death signal (``system.die_with_parent``:
SIGKILL when its parent goes), which ends it even inside a long C call that
keeps its pipe reader from running.  Linux ties that signal to the *thread*
that forked the worker, not the process: a worker forked by a short-lived
thread (a pool made in a thread that then returns, a replacement started by
a pipe reader that ends with its last worker) would be killed when that
thread exits.  So every local worker is forked (or spawned) by this one
daemon thread, which lives as long as the process.  The forkserver start
method forks in the forkserver process instead; that process exits with
ours, and its children then get the signal.
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable, Optional


class _Request:
    __slots__ = ("start", "undo", "done", "value", "error", "abandoned", "lock")

    def __init__(self, start: Callable[[], Any], undo: Callable[[], None]) -> None:
        self.start, self.undo = start, undo
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None
        self.abandoned = False
        self.lock = threading.Lock()


class Forker:
    """Runs process starts on its own long-lived thread."""

    def __init__(self) -> None:
        self._queue: "queue.SimpleQueue[_Request]" = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def run(self, start: Callable[[], Any], undo: Callable[[], None]) -> Any:
        """``start()`` on the forker thread; its value, or its exception.

        If the caller is interrupted (Ctrl-C) while waiting, ``undo()`` runs
        once the start is over, so no process is left that nobody holds.
        """
        if threading.current_thread() in (self._thread, threading.main_thread()):
            # the main thread lives as long as the process (at its end it
            # waits in threading._shutdown for the others): no hand-off
            return start()
        request = _Request(start, undo)
        self._ensure_thread()
        self._queue.put(request)
        try:
            request.done.wait()
        except BaseException:
            with request.lock:
                request.abandoned = True
                finished = request.done.is_set()
            if finished and request.error is None:
                undo()
            raise
        if request.error is not None:
            raise request.error
        return request.value

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, daemon=True,
                                                name="pathos-forker")
                self._thread.start()

    def _serve(self) -> None:
        while True:
            request = self._queue.get()
            try:
                request.value = request.start()
            except BaseException as exc:       # noqa: BLE001 - handed to the caller
                request.error = exc
            with request.lock:
                request.done.set()
                abandoned = request.abandoned
            if abandoned and request.error is None:
                request.undo()


FORKER = Forker()


def _new_after_fork() -> None:
    # a forked child has no forker thread (only the forking thread survives)
    global FORKER
    FORKER = Forker()


os.register_at_fork(after_in_child=_new_after_fork)
