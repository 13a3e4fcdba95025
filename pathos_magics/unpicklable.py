"""What cannot be pickled, and what to say about it.

Locks, sockets, open files and generators hold this process's state: dill
would copy them, but a copy is not the same lock or file.  These helpers
find the object inside a value that really fails and word the error: what
it is, and what to send instead.  (serialize.py raises them.)
"""
from __future__ import annotations

import pickle
import re
import types
from typing import Any, Iterable

import dill

from .errors import SerializationError

_PROTOCOL = pickle.HIGHEST_PROTOCOL

# Objects whose state lives in this process: dill would copy them, but the
# copy would not be the same lock, socket or file, so they are refused.
LOCAL_STATE = re.compile(
    r"cannot pickle '(_thread\.\w*lock|_thread\.RLock|socket|_socket\.socket|"
    r"_io\.\w+|SSLContext|_ssl\.\w+|select\.\w+|generator|frame)' object")



class ResultNotSent(SerializationError):
    """A task's result could not be pickled to come back from its worker.

    ``task_index`` (the task's place in the map) is filled in by the
    kernel when the error arrives.
    """

    def __init__(self, type_name: str, reason: str, advice: str,
                 task_index: Any = None) -> None:
        super().__init__(type_name, reason, advice, task_index)
        self.type_name, self.reason, self.advice = type_name, reason, advice
        self.task_index = task_index

    def __str__(self) -> str:
        task = "this task" if self.task_index is None else f"task {self.task_index}"
        return (f"the result of {task} cannot come back from its worker: it is "
                f"{self.type_name}, which cannot be pickled ({self.reason}). {self.advice}")


def result_not_sent(item: Any, exc: BaseException) -> ResultNotSent:
    """The error for a task result ``item`` that pickling refused (``exc``)."""
    culprit = _innermost_unpicklable(item)
    kind = type(culprit)
    name = kind.__qualname__ if kind.__module__ in ("builtins", "__main__") \
        else f"{kind.__module__}.{kind.__qualname__}"
    what = f"a {name}" if culprit is item else f"{_article(type(item))} holding a {name}"
    if isinstance(culprit, types.GeneratorType):
        advice = ("A generator runs where it was made: return list(...) of it, or, in "
                  "a %%pmap body, compute the values instead of using yield.")
    elif LOCAL_STATE.search(f"cannot pickle '{kind.__module__}.{kind.__qualname__}' object") \
            or LOCAL_STATE.search(f"cannot pickle '{kind.__qualname__}' object"):
        advice = ("Locks, open files and sockets belong to the worker's process: return "
                  "the data they guard (or a path, an address) instead.")
    else:
        advice = ("Return plain data instead (numbers, strings, lists, dicts, numpy "
                  "arrays, dataclasses), or make the class picklable.")
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SerializationError) and exc.__cause__ is not None:
        reason = f"{type(exc.__cause__).__name__}: {exc.__cause__}"
    return ResultNotSent(what, reason, advice)


def _article(kind: type) -> str:
    name = kind.__qualname__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def unpicklable_message(obj: Any, exc: BaseException) -> str:
    culprit = _innermost_unpicklable(obj)
    what = f"an object of type {type(culprit).__module__}.{type(culprit).__qualname__}"
    return (f"cannot send {what} to a worker ({type(exc).__name__}: {exc}). "
            "Locks, open files, sockets and similar hold local state and cannot "
            "be pickled: create them inside the task instead, or pass what is "
            "needed to make them (a path, an address).")


def _innermost_unpicklable(obj: Any, depth: int = 0) -> Any:
    """Walk into containers to name the object that really fails."""
    if depth > 4:
        return obj
    children: Iterable[Any] = ()
    if isinstance(obj, (list, tuple, set, frozenset)):
        children = obj
    elif isinstance(obj, dict):
        children = list(obj.keys()) + list(obj.values())
    elif hasattr(obj, "__dict__"):
        children = list(vars(obj).values())
    for child in children:
        if _refused(child):
            return _innermost_unpicklable(child, depth + 1)
    return obj


def _refused(obj: Any) -> bool:
    try:
        pickle.dumps(obj, protocol=_PROTOCOL)
        return False
    except Exception as exc:
        if LOCAL_STATE.search(str(exc)):
            return True
    try:
        dill.dumps(obj, protocol=_PROTOCOL, recurse=True)
        return False
    except Exception:
        return True
