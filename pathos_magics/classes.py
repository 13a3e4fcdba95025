"""Classes defined in the notebook: by value to a worker, home by reference.

A class defined in a cell lives in the kernel's ``__main__``; a spawned,
remote or MPI worker has no such module entry, and a forked one has a copy
of the class as it was at the fork.  So a notebook class goes to a worker
by value (dill rebuilds it there), tagged with a token the kernel keeps::

  kernel                                    worker
  ------                                    ------
  Particle --(token 7, class by value)-->   Particle' (remembered: 7)
  Particle <--(token 7, by reference)----   Particle'(3), a result

On the way back a result's class that arrived so is written as its token,
and the kernel puts back its own class object: ``isinstance`` and ``==``
work, dataclasses compare equal to kernel-made ones, enum members are the
kernel's members (``is`` works).  The kernel holds every class it tagged
(a few per notebook), so the token always finds it; a class the worker made
itself goes by value as before.

dill cannot rebuild an ``enum.Enum`` class by value (its class dict must
be the enum's own, with warnings on stderr); here an enum class is rebuilt
through its metaclass's ``__prepare__``, with its members and methods.
"""
from __future__ import annotations

import enum
import itertools
import os
import threading
import types
import weakref
from typing import Any

#: Token -> class, for classes this process sent by value (kept alive).
_HOME: dict[tuple, type] = {}
#: Class -> token, for the same classes, and for classes that arrived.
_TOKENS: "weakref.WeakKeyDictionary[type, tuple]" = weakref.WeakKeyDictionary()
#: Classes that arrived here by value, with the sender's token.
_ARRIVED: "weakref.WeakKeyDictionary[type, tuple]" = weakref.WeakKeyDictionary()
_COUNTER = itertools.count()
_LOCK = threading.Lock()
_NONCE = os.urandom(8)        # tells this process's tokens from a worker's


#: Token -> class that arrived, to find one a nested worker sends back.
_ARRIVED_BY_TOKEN: "weakref.WeakValueDictionary[tuple, type]" = weakref.WeakValueDictionary()


def _after_fork_in_child() -> None:
    """A forked worker: the classes its parent tagged are now the parent's
    classes seen from here, so they go home by token."""
    global _NONCE, _LOCK
    _NONCE = os.urandom(8)
    _LOCK = threading.Lock()
    for cls, token in list(_TOKENS.items()):
        _ARRIVED[cls] = token
        _ARRIVED_BY_TOKEN[token] = cls
    _HOME.clear()
    _TOKENS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def is_notebook_class(obj: Any) -> bool:
    return isinstance(obj, type) and obj.__module__ == "__main__"


def reduce_class(pickler: Any, obj: type, home: bool) -> Any:
    """``reducer_override`` for a class of ``__main__``, in a dill pickler
    that keeps a set ``_by_value`` of the ids it is writing by value.

    ``home``: the pickle goes back to the process the classes came from
    (a worker's results), so a class that arrived goes by token.
    """
    if id(obj) in pickler._by_value:       # the class itself, inside our reduce
        return _reduce_enum(obj) if isinstance(obj, enum.EnumMeta) else NotImplemented
    if home and obj in _ARRIVED:
        return (_home_class, (_ARRIVED[obj], obj.__qualname__))
    pickler._by_value.add(id(obj))
    return (_arrived, (_token(obj), obj))


def _token(cls: type) -> tuple:
    with _LOCK:
        token = _TOKENS.get(cls)
        if token is None or token[0] != _NONCE:
            if cls in _ARRIVED:             # a worker passing it on: its sender's
                return _ARRIVED[cls]
            token = (_NONCE, next(_COUNTER))
            _TOKENS[cls] = token
            _HOME[token] = cls
        return token


def _arrived(token: tuple, cls: type) -> type:
    """Unpickling, in the worker: remember where ``cls`` came from."""
    if token in _HOME:                       # one of this process's own, back
        return _HOME[token]
    _ARRIVED[cls] = token
    _ARRIVED_BY_TOKEN[token] = cls
    return cls


def _home_class(token: tuple, qualname: str) -> type:
    """Unpickling, in the kernel: its own class for ``token``."""
    cls = _HOME.get(token) or _ARRIVED_BY_TOKEN.get(token)
    if cls is None:
        raise LookupError(
            f"a result refers to the notebook class {qualname}, which this "
            "process did not send (was it restarted?); run the map again")
    return cls


# ------------------------------------------------------------ enums

#: Enum bookkeeping the metaclass writes itself.
_ENUM_OWN = {"__new__", "__module__", "__qualname__", "__dict__", "__weakref__",
             "__members__", "__init_subclass__"}


def _reduce_enum(cls: enum.EnumMeta) -> tuple:
    members = [(name, member._value_) for name, member in cls.__members__.items()]
    namespace = {}
    for key, value in vars(cls).items():
        if key in cls.__members__ or key in _ENUM_OWN:
            continue
        sunder = key.startswith("_") and not key.startswith("__")
        plain = isinstance(value, (types.FunctionType, classmethod, staticmethod, property))
        if (sunder or key.startswith("__")) and not plain and key != "__doc__":
            continue
        namespace[key] = value
    bases = tuple(b for b in cls.__bases__)
    return (_make_enum, (type(cls), cls.__name__, cls.__qualname__, bases,
                         members, namespace))


def _make_enum(metacls: type, name: str, qualname: str, bases: tuple,
               members: list, namespace: dict) -> type:
    classdict = metacls.__prepare__(name, bases)
    classdict["__module__"] = "__main__"
    classdict["__qualname__"] = qualname
    for key, value in namespace.items():
        classdict[key] = value
    for key, value in members:
        classdict[key] = value
    return metacls(name, bases, classdict)


__all__ = ["is_notebook_class", "reduce_class"]
