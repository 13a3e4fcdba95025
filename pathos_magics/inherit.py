"""What a forked worker already holds: the notebook's big globals, as at fork.

A worker forked from this process starts with a copy of every object the
process had.  A mapped function that reads a big global (a 1 MB list) need
not ship it if the worker's copy provably has the same value as now.  pathos
skips the proof (dill refers to ``__main__``), so its forked workers read
stale values once the notebook changes the global.  Here a global is named
instead of shipped only when the proof holds:

* just before a batch of forks, :func:`take_snapshot` records each big list,
  dict, tuple, str or bytes of ``__main__`` whose items are plain immutable
  values (int, float, complex, bool, str, None), with its marshal bytes as a
  fingerprint: marshal writes each item's exact type and value (1, 1.0 and
  True differ, so do 0.0 and -0.0) and refuses subclasses;
* at map time the object is named when its marshal bytes are still the
  fingerprint (a str, bytes or tuple of atoms only has to be the very object
  recorded: it cannot change).

marshal reads items without touching their reference counts, which matters:
after a fork the pages are shared with the workers, and writing to an item
would copy its page (a 1 MB list of ints: ~5 ms here; marshal: ~1.5 ms).

Everything else (nested containers, instances, arrays, bytes items, globals
past the budget, spawned or remote workers, a pool with an initializer, which
may rebind globals in the worker) travels by value.

Not covered: another thread that changes a global in the microseconds between
the snapshot and a fork, and a task that reaches into its worker's
``__main__`` on purpose and rebinds a name there.
"""
from __future__ import annotations

import marshal
import sys
from typing import Any, Optional

#: Types whose instances never change and that marshal writes exactly.
#: (Not bytes: marshal writes a bytearray or an array like bytes.)
_ATOMS = frozenset({int, float, complex, bool, str, type(None)})
_IMMUTABLE = (str, bytes, tuple)
#: Containers worth naming; smaller ones cost less to ship than to check.
_KINDS = (list, dict, tuple, str, bytes)
MIN_LEN = 256
#: Items read per snapshot at most (~30 ms at pool start); globals beyond it
#: travel by value.
MAX_ITEMS = 2_000_000
#: IPython's own history (In, Out, _i1, _3, ...) changes every cell.
_SKIP = frozenset({"In", "Out"})
_MARSHAL_VERSION = 2        # the last without back-references: same value, same bytes


def _all_atoms(items: Any) -> bool:
    return set(map(type, items)) <= _ATOMS


def _atomic(obj: Any) -> bool:
    kind = type(obj)
    if kind is str or kind is bytes:
        return True
    if kind is dict:
        return _all_atoms(obj) and _all_atoms(obj.values())
    return _all_atoms(obj)


def _fingerprint(obj: Any) -> Optional[bytes]:
    try:
        return marshal.dumps(obj, _MARSHAL_VERSION)
    except (ValueError, RuntimeError):   # RuntimeError: resized meanwhile
        return None


#: marshal records of fixed size: a list of plain ints (< 2**31) or floats
#: is '[', a 4-byte count, then one record per item, its type byte first.
_FIXED_RECORDS = ((b"i", 5), (b"g", 9))


def _plain_numbers(kind: type, fingerprint: bytes, size: int) -> bool:
    """Whether a list's marshal bytes are all int or all float records:
    one slice tells, where reading each item's type takes ~15 ns a piece."""
    if kind is not list:
        return False
    return any(len(fingerprint) == 5 + step * size
               and fingerprint[5::step] == code * size
               for code, step in _FIXED_RECORDS)


class _Entry:
    __slots__ = ("name", "obj", "fingerprint", "handed_out")

    def __init__(self, name: str, obj: Any, fingerprint: Optional[bytes]) -> None:
        self.name, self.obj, self.fingerprint = name, obj, fingerprint
        self.handed_out = False          # (in a worker) given to a map already

    def unchanged(self, obj: Any) -> bool:
        if self.fingerprint is None:     # immutable: the very object will do
            return obj is self.obj
        return type(obj) is type(self.obj) and _fingerprint(obj) == self.fingerprint


class ForkSnapshot:
    """The big globals of ``__main__`` as a batch of forked workers got them.

    Built before the fork, while reading every item is still cheap.  It
    holds the objects, so their ids stay theirs.
    """

    def __init__(self, namespace: dict) -> None:
        self._entries: dict[int, _Entry] = {}
        budget = MAX_ITEMS
        for name, obj in list(namespace.items()):
            kind = type(obj)
            if kind not in _KINDS or name.startswith("_") or name in _SKIP:
                continue
            size = len(obj)
            if size < MIN_LEN or id(obj) in self._entries:
                continue
            if kind is not str and kind is not bytes:
                if size > budget:
                    continue
                budget -= size
            if kind in _IMMUTABLE:
                if _atomic(obj):
                    self._entries[id(obj)] = _Entry(name, obj, None)
                continue
            fingerprint = _fingerprint(obj)
            if fingerprint is not None and (_plain_numbers(kind, fingerprint, size)
                                            or _atomic(obj)):
                self._entries[id(obj)] = _Entry(name, obj, fingerprint)

    def __len__(self) -> int:
        return len(self._entries)

    def name_for(self, obj: Any) -> Optional[str]:
        """The ``__main__`` name under which a worker of this batch holds a
        copy of ``obj`` equal to it now, or None (then ship it)."""
        entry = self._entries.get(id(obj))
        if entry is None or not entry.unchanged(obj):
            return None
        return entry.name

    def entry(self, name: str) -> Optional[_Entry]:
        return next((e for e in self._entries.values() if e.name == name), None)


def take_snapshot() -> Optional[ForkSnapshot]:
    """Call just before forking workers (None: nothing worth naming)."""
    main = sys.modules.get("__main__")
    if main is None:
        return None
    snapshot = ForkSnapshot(vars(main))
    return snapshot if len(snapshot) else None


# ------------------------------------------------------------ worker side

_MINE: Optional[ForkSnapshot] = None


def capture_in_child(snapshot: Optional[ForkSnapshot]) -> None:
    """In a freshly forked worker: the snapshot its kernel took for it (its
    objects are this worker's fork-time copies)."""
    global _MINE
    _MINE = snapshot


def resolve(name: str) -> Any:
    """The value a snapshot named: this worker's own copy of it.

    Tasks get the object itself, not a copy (copying would write to every
    item's page).  A task may change it in place, as it may a shipped value;
    so before a later map gets it, it is checked against the fingerprint,
    and rebuilt from it if it changed.
    """
    entry = _MINE.entry(name) if _MINE is not None else None
    if entry is None:
        raise LookupError(
            f"the kernel named the global {name!r} as inherited at fork, but "
            "this worker has no record of it (a bug: please report it)")
    if entry.handed_out and not entry.unchanged(entry.obj):
        entry.obj = marshal.loads(entry.fingerprint)
    entry.handed_out = True
    return entry.obj


__all__ = ["ForkSnapshot", "take_snapshot", "capture_in_child", "resolve"]
