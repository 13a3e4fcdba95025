"""``pathos.selector.Selector``: call handlers when files are ready.

The same API as pathos (``notifyOnReadReady(fd, handler)`` ...,
``watch(timeout)``), on :func:`select.select`.  A handler that returns a
false value is removed; ``watch`` returns when ``state`` is set False or no
handler is left.  Idle handlers run after ``timeout`` seconds with no
activity.  A file whose handler raises is not closed here (pathos's cleanup
code is unreachable too); the exception propagates.
"""
from __future__ import annotations

import logging
import select
from typing import Any, Callable, Optional

__all__ = ["Selector"]

_log = logging.getLogger(__name__)

Handler = Callable[..., Any]


class Selector:
    """Selector object for watching and event notification."""

    _TIMEOUT = 0.5

    def __init__(self) -> None:
        self.state = True
        self._timeout: float = self._TIMEOUT
        self._input: dict[Any, list[Handler]] = {}
        self._output: dict[Any, list[Handler]] = {}
        self._exception: dict[Any, list[Handler]] = {}
        self._idle: list[Handler] = []
        self._interrupt: list[Handler] = []

    def watch(self, timeout: Optional[float] = None) -> None:
        """Dispatch events to the registered handlers until told to stop."""
        if timeout:
            self._timeout = timeout
        while self.state:
            if not (self._input or self._output or self._exception or self._idle):
                _log.debug("no registered handlers left; exiting")
                return
            try:
                reads, writes, errs = select.select(
                    list(self._input), list(self._output), list(self._exception),
                    self._timeout)
            except InterruptedError:
                for handler in list(self._interrupt):
                    handler(self)
                continue
            if not (reads or writes or errs):
                for handler in list(self._idle):
                    if not handler(self):
                        self._idle.remove(handler)
                continue
            self._dispatch(self._exception, errs)
            self._dispatch(self._output, writes)
            self._dispatch(self._input, reads)

    def notifyOnReadReady(self, fd: Any, handler: Handler) -> None:  # noqa: N802
        """Call ``handler(selector, fd)`` when ``fd`` is read ready."""
        self._input.setdefault(fd, []).append(handler)

    def notifyOnWriteReady(self, fd: Any, handler: Handler) -> None:  # noqa: N802
        """Call ``handler(selector, fd)`` when ``fd`` is write ready."""
        self._output.setdefault(fd, []).append(handler)

    def notifyOnException(self, fd: Any, handler: Handler) -> None:  # noqa: N802
        """Call ``handler(selector, fd)`` on an exceptional condition of ``fd``."""
        self._exception.setdefault(fd, []).append(handler)

    def notifyOnInterrupt(self, handler: Handler) -> None:  # noqa: N802
        """Call ``handler(selector)`` when a signal interrupts the wait."""
        self._interrupt.append(handler)

    def notifyWhenIdle(self, handler: Handler) -> None:  # noqa: N802
        """Call ``handler(selector)`` after a timeout with no activity."""
        self._idle.append(handler)

    def _dispatch(self, handlers: dict[Any, list[Handler]], ready: list[Any]) -> None:
        for fd in ready:
            for handler in list(handlers.get(fd, [])):
                if not handler(self, fd):
                    handlers[fd].remove(handler)
            if fd in handlers and not handlers[fd]:
                del handlers[fd]
