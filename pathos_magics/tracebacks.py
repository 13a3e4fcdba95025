"""Turning a worker's error payload back into the exception the user sees."""
from __future__ import annotations

import linecache
import pickle
import traceback
from typing import Any

from . import serialize
from .errors import RemoteTraceback, SerializationError, TaskError, TaskExitError


def rebuild(payload: Any, worker: Any, index: int, item: Any) -> BaseException:
    """The task's own exception (same type), its worker traceback as cause.

    ``payload`` is the live exception for in-process workers, or the bytes
    made by :func:`serialize.exception_payload` for the others.
    """
    if isinstance(payload, BaseException):
        exc = payload
    else:
        exc = _from_payload(payload, worker)
    if isinstance(exc, serialize.ResultNotSent):
        exc.task_index = index
    where = f"task {index} (item {short_repr(item)}) on worker {worker.label}"
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return exit_as_error(exc, where)
    _add_note(exc, f"raised by {where}")
    return exc


def exit_as_error(exc: BaseException, where: str) -> TaskExitError:
    """A task's SystemExit or KeyboardInterrupt as a task error: re-raised
    as is, it would end the caller (or an IPython cell would warn "To exit:
    use 'exit'") or pass for the user's Ctrl-C."""
    if isinstance(exc, SystemExit):
        what = f"SystemExit({exc.code!r}) (sys.exit() in the task)"
        advice = "A task cannot end the caller: raise an exception or return a value."
    else:
        what = "KeyboardInterrupt itself (not the user's Ctrl-C)"
        advice = "Raise another exception to fail the task."
    error = TaskExitError(f"{where} raised {what}. {advice}", type_name=type(exc).__name__)
    error.__cause__ = exc
    return error


def unloadable_result(start: int, items: Any, label: str,
                      exc: Exception) -> SerializationError:
    """The error of a chunk (tasks ``start`` on, ``items``) whose results
    came back from worker ``label`` but do not unpickle here."""
    n = len(items)
    if n == 1:
        which = f"the result of task {start} (item {short_repr(items[0])})"
    else:
        which = (f"a result of tasks {start}-{start + n - 1} (items "
                 f"{short_repr(items[0], 30)} ... {short_repr(items[-1], 30)}; "
                 "map with chunksize=1 to find the one)")
    error = SerializationError(
        f"{which} came back from worker {label} but cannot be unpickled "
        f"here ({type(exc).__name__}: {exc}). Return plain data, or objects "
        "whose classes and rebuild functions this process can import.")
    error.__cause__ = exc
    return error


def _from_payload(payload: bytes, worker: Any) -> BaseException:
    blob, module, qualname, text, frames = pickle.loads(payload)
    exc: Any = None
    if blob is not None:
        try:
            exc = serialize.loads_data(blob)
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        exc = TaskError(f"{module}.{qualname}: {text}", type_name=qualname)
    where = f"worker {worker.label}"
    if worker.pid:
        where += f" (pid {worker.pid} on {worker.host})"
    stack = traceback.StackSummary.from_list(
        [(f, n, name, line or linecache.getline(f, n).strip())
         for f, n, name, line in frames])
    name = qualname if module in ("builtins", "__main__") else f"{module}.{qualname}"
    tb = (f"\nTraceback (most recent call last), in {where}:\n"
          + "".join(stack.format()) + f"{name}: {text}")
    exc.__cause__ = RemoteTraceback(tb)
    return exc


def _add_note(exc: BaseException, note: str) -> None:
    notes = getattr(exc, "__notes__", [])
    if note not in notes and hasattr(exc, "add_note"):
        exc.add_note(note)


def short_repr(item: Any, limit: int = 80) -> str:
    try:
        text = repr(item)
    except Exception:
        text = f"<{type(item).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."
