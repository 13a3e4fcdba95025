"""Big notebook globals that a forked worker already holds: named, not shipped.

A worker forked from this process starts with a copy of every object the
process had.  A mapped function that reads a big global (a 1 MB list) need
not ship it if the worker's copy has the same value as the kernel's now.
pathos skips the check (dill refers to ``__main__``), so its forked workers
read stale values once the notebook changes the global.  Here:

* the kernel names a big list, dict, tuple or str of ``__main__``
  whose items are plain values (int, float, complex, bool, str, None) by
  its name, its type and a digest of its marshal bytes (marshal writes each
  item's exact type and value: 1, 1.0 and True differ, so do 0.0 and -0.0;
  it refuses subclasses);
* the worker takes the object bound to that name in its own ``__main__``
  (as it was at the fork), and uses it only if its type and digest match;
  otherwise it answers "stale" and the scheduler sends that map's code again
  with the value in it (:class:`Stale`), which the worker keeps: the next
  maps name it again, and the worker checks the kept value the same way.

So the check compares what the worker really holds with what the kernel
really has, whenever the fork was and whatever ran in the worker since.
Both sides read the items through marshal, which does not touch their
reference counts: after a fork the pages are shared, and writing to an item
would copy its page (a 1 MB list of ints: ~5 ms by Python iteration,
~1.5 ms by marshal).

Buffers (a numpy array, bytes, bytearray, array.array, memoryview) of at
least ``MIN_BYTES`` are named the same way, by a digest of their raw memory
and of what gives it meaning (type, numpy dtype, shape, strides, the array
typecode or memoryview format), hashed straight from the object's memory:
no copy.  A numpy array's block digests are remembered, and hold while
:mod:`pages` shows its pages unwritten since: an unchanged 400 MB array
costs ~1 ms a map on each side, not ~0.2 s of hashing.  numpy is never
imported here: an array can only exist once the notebook imported it.  Arrays of Python objects (dtype ``object``) and
non-contiguous views are not named.

Not named, so shipped as before: nested containers, instances, bytes items
(marshal writes a bytearray as it writes bytes), globals under ``MIN_LEN``
items, and anything for spawned, remote or MPI workers.
"""
from __future__ import annotations

import array
import hashlib
import marshal
import os
import pickle
import sys
import threading
import weakref
from typing import Any, Optional

from . import pages

#: Types whose instances never change and that marshal writes exactly.
_ATOMS = frozenset({int, float, complex, bool, str, type(None)})
#: Containers worth naming; smaller ones cost less to ship than to check.
_KINDS = {t.__name__: t for t in (list, dict, tuple, str)}
_TYPES = frozenset(_KINDS.values())
MIN_LEN = 256
#: Buffers named by their raw memory, and the smallest worth it.
_BUFFER_TYPES = (bytes, bytearray, memoryview, array.array)
MIN_BYTES = 64 * 1024
_BLOCK = 8 * 1024 * 1024
_THREADS = max(1, min(4, os.cpu_count() or 1))
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


def _numpy_array_type() -> Any:
    numpy = sys.modules.get("numpy")
    return getattr(numpy, "ndarray", None)


def buffer_kind(obj: Any) -> Optional[str]:
    """The kind name of a buffer object worth naming, else None."""
    kind = type(obj)
    if kind in _BUFFER_TYPES:
        return kind.__name__
    if kind is _numpy_array_type() and not obj.dtype.hasobject:
        return "numpy.ndarray"
    return None


def _buffer_meta(obj: Any) -> Optional[tuple[bytes, memoryview]]:
    """What gives ``obj``'s bytes their meaning, and a view of the bytes."""
    try:
        raw = pickle.PickleBuffer(obj).raw()     # contiguous, no copy
    except (BufferError, TypeError, ValueError):
        return None
    kind = type(obj)
    if kind is bytes or kind is bytearray:
        meta: tuple = (kind.__name__,)
    elif kind is array.array:
        meta = ("array", obj.typecode)
    elif kind is memoryview:
        meta = ("memoryview", obj.format, obj.shape, obj.strides)
    else:                                        # numpy.ndarray
        meta = ("ndarray", obj.dtype.str, obj.dtype.descr, obj.shape, obj.strides)
    return repr(meta).encode(), raw


def buffer_digest(obj: Any) -> Optional[bytes]:
    """A digest of a buffer object's memory and meaning (None: not contiguous).

    The memory is hashed in blocks of ``_BLOCK`` bytes, on several threads
    (hashlib lets go of the GIL), and the digest is that of the meaning and
    the blocks' digests: the same value whatever the number of threads.  A
    numpy array hashed before keeps the digests of the blocks this process
    has not written since (:mod:`pages`): only written blocks are hashed
    again, so a big array nobody changed costs ~1 ms, not a read of it all.
    """
    got = _buffer_meta(obj)
    if got is None:
        return None
    meta, raw = got
    blocks = [raw[i:i + _BLOCK] for i in range(0, raw.nbytes, _BLOCK)] or [raw]
    forks = pages.fork_count()          # before the reads: see _Memo
    address = _array_address(obj)
    digests = _known_digests(obj, address, raw.nbytes, forks)
    if digests is None:
        digests = [None] * len(blocks)
    _hash_blocks(blocks, digests)
    if address is not None:
        _remember(obj, address, raw.nbytes, digests, forks)
    return hashlib.sha256(meta + b"".join(digests)).digest()


def _hash_blocks(blocks: list, digests: list) -> None:
    """Fill in the digests still None, on up to ``_THREADS`` threads."""
    todo = [i for i, d in enumerate(digests) if d is None]

    def work(first: int, step: int) -> None:
        for i in todo[first::step]:
            # sha1: ~25% faster than sha256 here; the check guards against
            # a changed value, not an adversary (the kernel owns its workers)
            digests[i] = hashlib.sha1(blocks[i]).digest()

    # threads made for this call only: a pool made before a fork would be
    # dead in the worker
    n = min(_THREADS, len(todo))
    helpers = [threading.Thread(target=work, args=(i, n), daemon=True)
               for i in range(1, n)]
    for t in helpers:
        t.start()
    work(0, max(n, 1))
    for t in helpers:
        t.join()


class _Memo:
    """The block digests of one numpy array, as of ``forks`` forks.

    They hold while the array is the same object (a weak reference: an
    array freed and another made at the same address is not the same) over
    the same memory, no fork happened since they were taken (the count is
    read before hashing), and the pages under a block are still shared with
    a forked process, so unwritten here since.  They are of the bytes only:
    the meaning (dtype, shape) is hashed again at every call.  A block
    written since the last fork stays this process's own: it is hashed at
    every call until the next fork.
    """

    __slots__ = ("ref", "address", "nbytes", "digests", "forks")

    def __init__(self, ref, address, nbytes, digests, forks) -> None:
        self.ref, self.address, self.nbytes = ref, address, nbytes
        self.digests, self.forks = digests, forks


_MEMOS: dict[int, _Memo] = {}


def _array_address(obj: Any) -> Optional[int]:
    if type(obj) is not _numpy_array_type():
        return None
    return obj.__array_interface__["data"][0]


def _known_digests(obj: Any, address: Optional[int], nbytes: int,
                   forks: int) -> Optional[list]:
    """The block digests still true of ``obj`` (None where a block must be
    hashed again), or None when none are known."""
    memo = _MEMOS.get(id(obj))
    if (memo is None or address is None or memo.ref() is not obj
            or memo.address != address or memo.nbytes != nbytes
            or memo.forks != forks):
        return None
    clean = pages.unwritten_blocks(address, nbytes, _BLOCK)
    if clean is None or len(clean) != len(memo.digests) or pages.fork_count() != forks:
        return None
    return [d if ok else None for d, ok in zip(memo.digests, clean)]


def _remember(obj: Any, address: int, nbytes: int, digests: list, forks: int) -> None:
    key = id(obj)
    memo = _MEMOS.get(key)
    if memo is not None and memo.ref() is obj and memo.address == address:
        # a new memo, not the old one changed: a thread reading it meanwhile
        # sees the digests with the fork count they go with
        _MEMOS[key] = _Memo(memo.ref, address, nbytes, digests, forks)
        return
    # checked once per array: file and shared mappings change with no write
    # by this process, so their pages say nothing
    if not pages.supported() or not pages.private_anonymous(address, nbytes):
        return
    try:
        ref = weakref.ref(obj, lambda r, key=key: _forget(key, r))
    except TypeError:
        return
    _MEMOS[key] = _Memo(ref, address, nbytes, digests, forks)


def _forget(key: int, ref: Any) -> None:
    memo = _MEMOS.get(key)
    if memo is not None and memo.ref is ref:
        del _MEMOS[key]


def _forget_all() -> None:
    _MEMOS.clear()


if hasattr(os, "register_at_fork"):
    # a child's copies of the memos are out of date (the fork count moved)
    os.register_at_fork(after_in_child=_forget_all)


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
        excluded: names the receiving worker said were stale: shipped, with
            ``("keep", ...)`` ids so that the worker keeps what it gets.
    """

    def __init__(self, excluded: frozenset = frozenset()) -> None:
        self._excluded = excluded
        self._names: Optional[dict[int, str]] = None

    def _named(self, name: str, kind: str, wanted: bytes) -> tuple:
        return ("keep" if name in self._excluded else "inherited", name, kind, wanted)

    def _name_of(self, obj: Any) -> Optional[str]:
        if self._names is None:
            main = sys.modules.get("__main__")
            space = vars(main) if main is not None else {}
            self._names = {id(v): k for k, v in list(space.items())
                           if (type(v) in _TYPES or buffer_kind(v) is not None)
                           and not k.startswith("_") and k not in _SKIP}
        return self._names.get(id(obj))

    def persistent_id(self, obj: Any) -> Optional[tuple]:
        """("inherited", name, type name, digest) for a global worth
        naming (or "keep": see ``excluded``), else None."""
        if type(obj) not in _TYPES:
            return self._buffer_id(obj)
        if len(obj) < MIN_LEN:
            return None
        name = self._name_of(obj)
        if name is None:
            return None
        fingerprint = _marshal(obj)
        if fingerprint is None or not _plain(obj, fingerprint):
            return None
        return self._named(name, type(obj).__name__, _hash(fingerprint))

    def _buffer_id(self, obj: Any) -> Optional[tuple]:
        kind = buffer_kind(obj)
        if kind is None or memoryview(obj).nbytes < MIN_BYTES:
            return None
        name = self._name_of(obj)
        if name is None:
            return None
        wanted = buffer_digest(obj)
        return None if wanted is None else self._named(name, kind, wanted)


# ------------------------------------------------------------ worker side

_AT_FORK: Optional[dict] = None
#: name -> (kind, digest, object): the last value of a named global shipped
#: to this worker after it said its own copy was stale
_KEPT: dict[str, tuple] = {}


def capture_in_child() -> None:
    """In a freshly forked worker, before any user code: the names of
    ``__main__`` as they were at the fork (an initializer may rebind them)."""
    global _AT_FORK
    main = sys.modules.get("__main__")
    _AT_FORK = dict(vars(main)) if main is not None else {}
    _KEPT.clear()


def keep(name: str, kind: str, wanted: bytes, obj: Any) -> Any:
    """A named global's value, shipped because this worker's copy was
    stale: kept, so the next maps name it again instead of shipping it
    while the kernel's value stays the same."""
    _KEPT[name] = (kind, wanted, obj)
    return obj


def _differs(obj: Any, kind: str, wanted: bytes) -> Optional[str]:
    """Why ``obj`` is not the value the kernel has, or None if it is."""
    if kind in _KINDS:
        if type(obj) is not _KINDS[kind]:
            return f"is a {type(obj).__name__}, not a {kind}"
        mine = digest(obj)
    else:
        if buffer_kind(obj) != kind:
            return f"is a {type(obj).__name__}, not a {kind}"
        mine = buffer_digest(obj)
    return None if mine == wanted else "has another value"


def resolve(name: str, kind: str, wanted: bytes) -> Any:
    """This worker's own copy of a named global, if it has the value the
    kernel has; else :class:`Stale`.  Tasks get the object itself (a task
    that changes it in place changes it here only, and the next map's check
    sees that).  The copy from the fork is tried first, then the value last
    shipped here (:func:`keep`; hashed again, as tasks may have changed it)."""
    if _AT_FORK is None:
        raise Stale(name, "does not exist (not forked from the kernel)")
    if name not in _AT_FORK:             # made in the kernel after the fork
        why = "does not exist here (made after this worker was forked)"
    else:
        obj = _AT_FORK[name]
        why = _differs(obj, kind, wanted)
        if why is None:
            _KEPT.pop(name, None)        # the kernel went back to the fork's value
            return obj
    kept = _KEPT.get(name)
    # a kept value shipped with another digest cannot match (short of a
    # task writing the kernel's new value into it): not hashed
    if kept is not None and kept[:2] == (kind, wanted) and _differs(kept[2], kind, wanted) is None:
        return kept[2]
    raise Stale(name, why)


__all__ = ["Namer", "Stale", "capture_in_child", "keep", "resolve", "digest",
           "buffer_digest", "buffer_kind"]
