"""Exceptions raised by pathos_magics.

One base class, :class:`PathosMagicsError`.  Pool breakage subclasses
:class:`concurrent.futures.BrokenExecutor` so code that already handles a
broken executor keeps working.  Every message ends with what to do next.
Every exception here pickles (it may travel from a worker to the kernel).
"""
from __future__ import annotations

from concurrent.futures import BrokenExecutor


class PathosMagicsError(Exception):
    """Base class of every error raised by pathos_magics itself."""


class PoolClosedError(PathosMagicsError, ValueError):
    """A closed or terminated pool was asked to do work.

    Subclasses ValueError because pathos (via multiprocess) raises
    ``ValueError("Pool not running")`` in this case.
    """


class SerializationError(PathosMagicsError, TypeError):
    """A function or an argument could not be serialized for a worker (or a
    worker's result could not be unpickled in the kernel)."""


class WorkerLostError(PathosMagicsError, BrokenExecutor):
    """A worker died while running tasks and the retries ran out."""

    def __init__(self, message: str, worker: str | None = None,
                 task_indices: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.worker = worker
        self.task_indices = tuple(task_indices)

    def __reduce__(self):
        return (type(self), (self.args[0], self.worker, self.task_indices))


class NoWorkersError(PathosMagicsError, BrokenExecutor):
    """A pool has no live workers left and could not start new ones."""


class TransportError(PathosMagicsError, OSError):
    """A worker could not be started or reached (process, ssh host, MPI job)."""


class RemoteTraceback(Exception):
    """Carries a worker's formatted traceback; set as ``__cause__``.

    Printed under the user's exception, the way concurrent.futures shows a
    process worker's traceback.
    """

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class TaskError(PathosMagicsError):
    """Stands in for a task's exception that could not be re-raised as-is
    (it did not pickle, or its class does not exist in the kernel)."""

    def __init__(self, message: str, type_name: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name

    def __reduce__(self):
        return (type(self), (self.args[0], self.type_name))


class TaskTimeoutError(PathosMagicsError, TimeoutError):
    """A task ran longer than its map's ``timeout`` (or the pool's
    ``task_timeout``); its worker was stopped and replaced.

    Attributes:
        index: the task's position in the map's input.
        item: a short repr of its input item.
        worker: the label of the worker that ran it.
        timeout: the limit, in seconds.
    """

    def __init__(self, message: str, index: int | None = None, item: str = "",
                 worker: str | None = None, timeout: float | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.item = item
        self.worker = worker
        self.timeout = timeout

    def __reduce__(self):
        return (type(self), (self.args[0], self.index, self.item, self.worker,
                             self.timeout))


class TaskExitError(TaskError):
    """A task raised SystemExit (``sys.exit()``) or KeyboardInterrupt itself:
    the caller gets this error naming the task, never an exit of its own or
    what would look like the user's Ctrl-C.  The task's exception is the
    ``__cause__``."""


class TooManyWorkersError(PathosMagicsError, ValueError):
    """More workers were asked for than this machine or its limits allow;
    refused before any is started.  The message names the limit and how to
    raise it."""
