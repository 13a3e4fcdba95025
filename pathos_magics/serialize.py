"""What travels to a worker, and how.

dill's pickler is pure Python and ~30x slower than the C pickler on plain
data, so the policy is:

* code (the mapped function) is serialized ONCE per map with dill, by value
  for anything defined in ``__main__`` (a notebook cell), ``recurse=True`` so
  a closure carries only the globals it actually uses;
* data (chunks of arguments and results) go through the C pickler; dill is
  used only for a chunk the C pickler refuses, or whose pickle refers to
  ``__main__`` (a class defined in the notebook, which a spawned or remote
  worker would not find by reference).

Each data blob starts with one tag byte saying which pickler made it.
Big buffers (numpy arrays, anything whose ``__reduce_ex__(5)`` gives a
:class:`pickle.PickleBuffer`) are kept out of the blob: the data is then a
:class:`Pickled` (tag, pickle, buffers) that :mod:`wire` sends buffer by
buffer, so an array's memory is copied once on its way, not twice.
"""
from __future__ import annotations


import builtins
import io
import marshal
import linecache
import os
import pickle
import types
from typing import Any, Iterable

import dill

from . import classes, inherit
from .errors import SerializationError
from .unpicklable import LOCAL_STATE, ResultNotSent, result_not_sent, unpicklable_message

_C = b"P"       # C pickler
_DILL = b"D"    # dill
_PROTOCOL = pickle.HIGHEST_PROTOCOL


_BULKY = (list, dict, tuple, set, frozenset, bytes, bytearray, str)
_BULKY_LEN = 256
#: Buffers at least this big are kept out of the pickle (protocol 5).
_APART_MIN = 64 * 1024


class Pickled:
    """A pickle whose big buffers are kept apart, as memory views of the
    objects themselves (no copy).  Pickling it with protocol 5 hands the
    buffers to the channel as :class:`pickle.PickleBuffer` s; a receiver
    gets them back as bytearrays, which the arrays rebuilt on them wrap
    (writable, no copy)."""

    __slots__ = ("tag", "head", "buffers")

    def __init__(self, tag: bytes, head: Any, buffers: list) -> None:
        self.tag, self.head, self.buffers = tag, head, buffers

    def __len__(self) -> int:
        return len(self.head) + sum(memoryview(b).nbytes for b in self.buffers)

    def __reduce_ex__(self, protocol: Any) -> tuple:
        if isinstance(protocol, int) and protocol >= 5:
            wrap: Any = pickle.PickleBuffer
        else:
            wrap = bytes
        return (_rebuild_pickled, (self.tag, self.head, *map(wrap, self.buffers)))


def _rebuild_pickled(tag: bytes, head: Any, *buffers: Any) -> Pickled:
    return Pickled(tag, head, list(buffers))


def _pickle_apart(obj: Any, dump: Any) -> tuple[Any, list]:
    """``dump(obj, buffer_callback)``, keeping big buffers out of it."""
    buffers: list = []

    def apart(buf: pickle.PickleBuffer) -> bool:
        try:
            raw = buf.raw()
        except BufferError:            # not contiguous: in band
            return True
        if raw.nbytes < _APART_MIN:
            return True
        buffers.append(raw)
        return False

    return dump(obj, apart), buffers


class _CodePickler(dill.Pickler):
    """dill for the code, the C pickler for bulky plain data it refers to.

    A closure over a 1 MB list would otherwise go through dill's pure-Python
    pickler item by item (~30x slower); here such a value is C-pickled on
    its own and referenced by a persistent id.
    """

    def __init__(self, file: io.BytesIO, namer: Any = None) -> None:
        super().__init__(file, protocol=_PROTOCOL, recurse=True)
        self.namer = namer               # an inherit.Namer, or None
        self.bulk: list[bytes] = []
        self._seen: dict[int, int] = {}
        self._fast: set[int] = set()
        self.fast_functions = True
        self._by_value: set[int] = set()   # notebook classes written by value

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) in _BULKY:
            if len(obj) < _BULKY_LEN:
                return None
        elif inherit.buffer_kind(obj) is None:   # numpy arrays, array.array, ...
            return None
        key = id(obj)
        if key in self._seen:
            return self._seen[key]
        named = None if self.namer is None else self.namer.persistent_id(obj)
        if named is not None and named[0] == "inherited":   # the worker has it
            self._seen[key] = named
            return named
        try:
            data, buffers = _pickle_apart(obj, _c_dump)
        except Exception:
            return None
        if b"__main__" in data:          # holds notebook objects: dill's job
            return None
        self.bulk.append(Pickled(_C, data, buffers) if buffers else data)
        index = len(self.bulk) - 1
        # ("keep", ...): shipped to a worker whose copy was stale, which keeps it
        self._seen[key] = index if named is None else ("kept",) + named[1:] + (index,)
        return self._seen[key]

    def reducer_override(self, obj: Any) -> Any:
        if classes.is_notebook_class(obj):
            return classes.reduce_class(self, obj, home=False)
        if not self.fast_functions:
            return NotImplemented
        # The fast path for a plain function of the notebook (no closure
        # cells, no notebook functions or classes among the globals it
        # names): its code goes as marshal bytes, its globals as a small
        # dict, instead of through dill's pure-Python function pickling
        # (~0.7 ms per map for a lambda).  Anything else is dill's.
        if type(obj) is not types.FunctionType or obj.__closure__ is not None:
            return NotImplemented
        if obj.__module__ != "__main__" or id(obj) in self._fast:
            return NotImplemented
        names = _global_names(obj.__code__)
        scope = obj.__globals__
        used = {n: scope[n] for n in names if n in scope}
        if any(_defined_in_main(v) for v in used.values()):
            return NotImplemented
        self._fast.add(id(obj))
        attrs = {"__qualname__": obj.__qualname__, "__kwdefaults__": obj.__kwdefaults__,
                 "__doc__": obj.__doc__}
        if obj.__dict__:
            attrs["__dict__"] = obj.__dict__
        return (_make_function,
                (marshal.dumps(obj.__code__), used, obj.__name__, obj.__defaults__, attrs))


def _global_names(code: types.CodeType) -> set[str]:
    """Names a code object (and the code nested in it) may load as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _defined_in_main(value: Any) -> bool:
    return (isinstance(value, (types.FunctionType, type))
            and getattr(value, "__module__", None) == "__main__")


def _make_function(code: bytes, used: dict, name: str, defaults: Any,
                   attrs: dict) -> types.FunctionType:
    """A function shipped by the fast path, rebuilt in the worker."""
    scope = dict(used)
    scope["__builtins__"] = builtins
    scope.setdefault("__name__", "__main__")
    func = types.FunctionType(marshal.loads(code), scope, name, defaults)
    func.__module__ = "__main__"
    for key, value in attrs.items():
        setattr(func, key, value)
    return func


class _CodeUnpickler(dill.Unpickler):
    def __init__(self, file: io.BytesIO, bulk: list[bytes]) -> None:
        super().__init__(file)
        self._bulk = bulk
        self._loaded: dict[Any, Any] = {}

    def persistent_load(self, pid: Any) -> Any:
        # one object per id, as in the kernel: a global named twice stays one
        if pid not in self._loaded:
            if type(pid) is not tuple:
                self._loaded[pid] = self._load_bulk(pid)
            elif pid[0] == "kept":
                self._loaded[pid] = inherit.keep(*pid[1:4], self._load_bulk(pid[4]))
            else:
                self._loaded[pid] = inherit.resolve(*pid[1:])
        return self._loaded[pid]

    def _load_bulk(self, index: int) -> Any:
        blob = self._bulk[index]
        return loads_data(blob) if isinstance(blob, Pickled) else pickle.loads(blob)


#: What :func:`dumps_code` makes: ((dill blob, C-pickled bulky globals),
#: cell sources by file name).  Plain bytes and dicts: any pickler carries it.
CodePayload = tuple


def _pickle_code(func: Any, fast: bool, namer: Any
                 ) -> tuple[bytes, list[bytes]]:
    buf = io.BytesIO()
    pickler = _CodePickler(buf, namer)
    pickler.fast_functions = fast
    pickler.dump(func)
    return buf.getvalue(), pickler.bulk


def dumps_code(func: Any, namer: Any = None) -> CodePayload:
    """Serialize a callable with dill, with the source lines of cells.

    ``namer`` (an :class:`inherit.Namer`), for workers forked from this
    process: big globals it names are not shipped (the worker checks its
    copy, and raises :class:`inherit.Stale` from :func:`loads_code` if it
    differs).

    The kernel's linecache holds the source of notebook cells; a worker in
    another process (spawn, ssh, MPI) does not, so the lines are shipped
    along and a worker's traceback can show the failing line of the cell.
    """
    try:
        try:
            blob = _pickle_code(func, True, namer)
        except Exception:        # the fast path named something it cannot ship
            blob = _pickle_code(func, False, namer)
    except Exception as exc:
        raise SerializationError(
            f"cannot serialize the function {_describe(func)} for the workers: "
            f"{type(exc).__name__}: {exc}. Define it at top level, or make "
            "sure the objects it uses (globals, closure cells) can be pickled."
        ) from exc
    # a tuple, not one more pickle: the message that carries it is pickled
    # anyway, and each copy of a bulky global costs page faults on both ends
    return (blob, _cell_sources(func))


def loads_code(payload: CodePayload) -> Any:
    (blob, bulk), sources = payload
    for filename, lines in sources.items():
        if filename not in linecache.cache:
            linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    return _CodeUnpickler(io.BytesIO(blob), bulk).load()


def _c_dump(obj: Any, callback: Any) -> bytes:
    return pickle.dumps(obj, protocol=_PROTOCOL, buffer_callback=callback)


class _DataPickler(dill.Pickler):
    """dill for data that holds notebook objects; notebook classes go by
    value with a token, or (``home``) back to where they came from by it
    (see classes.py)."""

    def __init__(self, file: io.BytesIO, home: bool, callback: Any) -> None:
        super().__init__(file, protocol=_PROTOCOL, recurse=True,
                         buffer_callback=callback)
        self._home = home
        self._by_value: set[int] = set()

    def reducer_override(self, obj: Any) -> Any:
        if classes.is_notebook_class(obj):
            return classes.reduce_class(self, obj, self._home)
        return NotImplemented


def _dill_dumper(home: bool) -> Any:
    def dump(obj: Any, callback: Any) -> bytes:
        buf = io.BytesIO()
        _DataPickler(buf, home, callback).dump(obj)
        return buf.getvalue()
    return dump


def dumps_data(obj: Any, *, home: bool = False) -> "bytes | Pickled":
    """C pickle, or dill when the C pickler refuses or would refer to __main__.

    Returns the tagged bytes, or a :class:`Pickled` when big buffers were
    kept apart.  ``home``: the data goes back to the process that sent this
    one its notebook classes (a worker's results): they go by reference.
    """
    try:
        data, buffers = _pickle_apart(obj, _c_dump)
        if b"__main__" not in data:
            return Pickled(_C, data, buffers) if buffers else _C + data
    except Exception as exc:
        if LOCAL_STATE.search(str(exc)):
            raise SerializationError(unpicklable_message(obj, exc)) from exc
    try:
        data, buffers = _pickle_apart(obj, _dill_dumper(home))
    except Exception as exc:
        raise SerializationError(unpicklable_message(obj, exc)) from exc
    return Pickled(_DILL, data, buffers) if buffers else _DILL + data


def dumps_result(obj: Any) -> "bytes | Pickled":
    """What a worker sends back: :func:`dumps_data` with notebook classes
    that came from the kernel written as references to the kernel's own."""
    return dumps_data(obj, home=True)


def loads_data(blob: "bytes | Pickled") -> Any:
    if isinstance(blob, Pickled):
        tag, body, buffers = blob.tag, blob.head, blob.buffers
    else:
        tag, body, buffers = blob[:1], memoryview(blob)[1:], None
    if tag == _C:
        return pickle.loads(body, buffers=buffers)
    return dill.loads(bytes(body), buffers=buffers)


def check_picklable(seq: Any) -> None:
    """Fail before anything is sent if an argument cannot be pickled."""
    if isinstance(seq, range):
        return
    try:
        dumps_data(seq)
    except SerializationError:
        bad = find_unpicklable(seq)
        if bad is None:
            raise
        index, item = bad
        try:
            dumps_data(item)
        except SerializationError as exc:
            raise SerializationError(
                f"argument item {index}: {exc}") from exc.__cause__
        raise


def find_unpicklable(items: Iterable[Any]) -> tuple[int, Any] | None:
    """The first (index, object) in ``items`` that :func:`dumps_data` refuses."""
    for i, item in enumerate(items):
        try:
            dumps_data(item)
        except SerializationError:
            return i, item
    return None


def result_error(results: list, exc: BaseException) -> tuple[int, ResultNotSent]:
    """The index of the first result that cannot be sent back, and the
    error that says so (``exc``: what pickling the results raised)."""
    bad = find_unpicklable(results)
    index, item = bad if bad is not None else (0, results[0] if results else None)
    return index, result_not_sent(item, exc)


def _describe(func: Any) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _cell_sources(func: Any) -> dict[str, list[str]]:
    """linecache entries for code whose file does not exist on disk."""
    out: dict[str, list[str]] = {}
    for code in _code_objects(func):
        name = code.co_filename
        if name in out or os.path.exists(name):
            continue
        lines = linecache.getlines(name)
        if lines:
            out[name] = lines
    return out


def _code_objects(func: Any) -> Iterable[types.CodeType]:
    target = getattr(func, "__func__", func)          # bound methods
    target = getattr(target, "func", target)          # functools.partial
    code = getattr(target, "__code__", None)
    if code is None and callable(target):
        code = getattr(getattr(target, "__call__", None), "__code__", None)
    if code is None:
        return []
    stack, seen = [code], []
    while stack:
        c = stack.pop()
        seen.append(c)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return seen


def exception_payload(exc: BaseException, frames: list[tuple]) -> bytes:
    """Pickle a task's exception with its traceback frames.

    ``frames`` are (filename, lineno, name, line) tuples; the line may be
    None when the worker has no source, and the kernel fills it in.
    """
    try:
        blob = dumps_data(exc, home=True)
        loads_data(blob)                     # some exceptions pickle but don't unpickle
    except Exception:
        blob = None
    return pickle.dumps((blob, type(exc).__module__, type(exc).__qualname__,
                         _safe_str(exc), frames), protocol=_PROTOCOL)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<unprintable exception>"


__all__ = ["dumps_code", "loads_code", "dumps_data", "dumps_result", "loads_data",
           "Pickled", "ResultNotSent", "result_error",
           "check_picklable", "find_unpicklable", "exception_payload"]
