"""Big notebook globals that a forked worker already holds: named, not shipped.

A worker forked from this process starts with a copy of every object the
process had.  A mapped function that reads a big global (a 1 MB list) need
not ship it if the worker's copy has the same value as the kernel's now.
pathos skips the check (dill refers to ``__main__``), so its forked workers
read stale values once the notebook changes the global.  Here:

* the kernel names a big list, dict, tuple, str or bytes of ``__main__``
  whose items are plain values (int, float, complex, bool, str, None) by
  its name, its type and a digest of its marshal bytes (marshal writes each
  item's exact type and value: 1, 1.0 and True differ, so do 0.0 and -0.0;
  it refuses subclasses);
* the worker takes the object bound to that name in its own ``__main__``
  (as it was at the fork), and uses it only if its type and digest match;
  otherwise it answers "stale" and the scheduler sends that map's code again
  with the value in it (:class:`Stale`).

So the check compares what the worker really holds with what the kernel
really has, whenever the fork was and whatever ran in the worker since.
Both sides read the items through marshal, which does not touch their
reference counts: after a fork the pages are shared, and writing to an item
would copy its page (a 1 MB list of ints: ~5 ms by Python iteration,
~1.5 ms by marshal).

Not named, so shipped as before: nested containers, instances, arrays,
bytes items (marshal writes a bytearray as it writes bytes), globals under
``MIN_LEN`` items, and anything for spawned, remote or MPI workers.
"""
from __future__ import annotations

import hashlib
import marshal
import sys
from typing import Any, Optional

#: Types whose instances never change and that marshal writes exactly.
_ATOMS = frozenset({int, float, complex, bool, str, type(None)})
#: Containers worth naming; smaller ones cost less to ship than to check.
_KINDS = {t.__name__: t for t in (list, dict, tuple, str, bytes)}
_TYPES = frozenset(_KINDS.values())
MIN_LEN = 256
#: IPython's own history (In, Out, _i1, _3, ...) changes every cell.
_SKIP = frozenset({"In", "Out"})
_MARSHAL_VERSION = 2        # the last without back-references: same value, same bytes

#: marshal records of fixed size: a list of plain ints (< 2**31) or floats
#: is '[', a 4-byte count, then one record per item, its type byte first.
_FIXED_RECORDS = ((b"i", 5), (b"g", 9))


class Stale(LookupError):
    """A worker's copy of a named global differs from the kernel's."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"this worker's copy of the global {name!r} {why}")
        self.name = name


def digest(obj: Any) -> Optional[bytes]:
    """A digest of ``obj``'s marshal bytes, or None when marshal refuses it."""
    fingerprint = _marshal(obj)
    return None if fingerprint is None else _hash(fingerprint)


def _marshal(obj: Any) -> Optional[bytes]:
    try:
        return marshal.dumps(obj, _MARSHAL_VERSION)
    except (ValueError, RuntimeError):   # RuntimeError: resized meanwhile
        return None


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()      # ~2 GB/s where the CPU has SHA


def _all_atoms(items: Any) -> bool:
    return set(map(type, items)) <= _ATOMS


def _plain(obj: Any, fingerprint: bytes) -> bool:
    """Whether every item of ``obj`` is an atom.  A list of plain ints or
    floats is told by one slice of its marshal bytes; anything else by the
    type of each item (~15 ns a piece)."""
    kind = type(obj)
    if kind is str or kind is bytes:
        return True
    if kind is list:
        size = len(obj)
        if any(len(fingerprint) == 5 + step * size and fingerprint[5::step] == code * size
               for code, step in _FIXED_RECORDS):
            return True
    if kind is dict:
        return _all_atoms(obj) and _all_atoms(obj.values())
    return _all_atoms(obj)


class Namer:
    """The kernel's side, for one map's code: which big globals to name.

    Args:
        excluded: names the receiving worker said were stale; shipped.
    """

    def __init__(self, excluded: frozenset = frozenset()) -> None:
        self._excluded = excluded
        self._names: Optional[dict[int, str]] = None

    def _name_of(self, obj: Any) -> Optional[str]:
        if self._names is None:
            main = sys.modules.get("__main__")
            space = vars(main) if main is not None else {}
            self._names = {id(v): k for k, v in list(space.items())
                           if type(v) in _TYPES and not k.startswith("_") and k not in _SKIP
                           and k not in self._excluded}
        return self._names.get(id(obj))

    def persistent_id(self, obj: Any) -> Optional[tuple]:
        """("inherited", name, type name, digest) for a global worth
        naming, else None."""
        if type(obj) not in _TYPES or len(obj) < MIN_LEN:
            return None
        name = self._name_of(obj)
        if name is None:
            return None
        fingerprint = _marshal(obj)
        if fingerprint is None or not _plain(obj, fingerprint):
            return None
        return ("inherited", name, type(obj).__name__, _hash(fingerprint))


# ------------------------------------------------------------ worker side

_AT_FORK: Optional[dict] = None


def capture_in_child() -> None:
    """In a freshly forked worker, before any user code: the names of
    ``__main__`` as they were at the fork (an initializer may rebind them)."""
    global _AT_FORK
    main = sys.modules.get("__main__")
    _AT_FORK = dict(vars(main)) if main is not None else {}


def resolve(name: str, kind: str, wanted: bytes) -> Any:
    """This worker's own copy of a named global, if it has the value the
    kernel has; else :class:`Stale`.  Tasks get the object itself (a task
    that changes it in place changes it here only, and the next map's check
    sees that)."""
    if _AT_FORK is None or name not in _AT_FORK:
        raise Stale(name, "does not exist (not forked from the kernel)")
    obj = _AT_FORK[name]
    if type(obj) is not _KINDS.get(kind):
        raise Stale(name, f"is a {type(obj).__name__}, not a {kind}")
    if digest(obj) != wanted:
        raise Stale(name, "has another value")
    return obj


__all__ = ["Namer", "Stale", "capture_in_child", "resolve", "digest"]
