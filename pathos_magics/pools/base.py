"""The pool API shared by every backend, with pathos's semantics.

A pool object is a light handle: the workers live in a :class:`Scheduler`
kept in a process-wide cache, keyed by the pool's type, size (or ``id``) and
options.  So, as in pathos, a second ``ProcessPool(4)`` reuses the workers of
the first until ``clear()``.  Two pools that differ in type or options never
share workers.
"""
from __future__ import annotations

import atexit
import builtins
import os
import threading
from collections.abc import MutableMapping
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import multiprocess
import multiprocess.dummy
import multiprocess.pool

from .. import wire
from ..abstract_launcher import AbstractWorkerPool
from ..events import Observer
from ..results import AsyncResult, iter_ordered, iter_unordered
from ..scheduler import Scheduler
from ..transports.base import Transport

#: Live schedulers by pool key (pathos calls this ``__STATE``).
_STATE: dict[tuple, Scheduler] = {}
_STATE_LOCK = threading.RLock()

_SCHEDULER_OPTIONS = ("window", "max_retries", "cancel_timeout")


def cpu_count() -> int:
    """Usable CPUs of this process (its affinity mask, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _PoolState(MutableMapping):
    """``Pool.__state__`` as in pathos: one pool type's cached schedulers,
    keyed by pool id (the ``id`` given, else the number of nodes).
    Deleting (or ``clear()``) stops the pool."""

    def __init__(self, type_name: str) -> None:
        self._type = type_name

    def _keys(self) -> list:
        with _STATE_LOCK:
            return [k for k in _STATE if k[0] == self._type]

    def __getitem__(self, pool_id: Any) -> Scheduler:
        for k in self._keys():
            if k[1] == pool_id:
                return _STATE[k]
        raise KeyError(pool_id)

    def __iter__(self) -> Iterator:
        return iter([k[1] for k in self._keys()])

    def __len__(self) -> int:
        return len(self._keys())

    def __setitem__(self, pool_id: Any, sched: Scheduler) -> None:
        raise TypeError("__state__ is filled by the pools themselves")

    def __delitem__(self, pool_id: Any) -> None:
        with _STATE_LOCK:
            scheds = [_STATE.pop(k) for k in self._keys() if k[1] == pool_id]
        if not scheds:
            raise KeyError(pool_id)
        for sched in scheds:
            sched.terminate()


class _StateDescriptor:
    def __get__(self, obj: Any, owner: type) -> _PoolState:
        return _PoolState(owner.__name__)


class AbstractPool(AbstractWorkerPool):
    """Base of every pool.

    Args:
        nodes: number of workers (also accepted as the first positional
            argument, or as ``ncpus`` / ``processes``, like pathos).
        id: cache key instead of the node count; pools with the same type,
            id and options share workers.
        window: chunks in flight per worker (default 2).
        max_retries: retries of a task whose worker died (default 2).
        cancel_timeout: seconds a cancelled task may take to stop (default 1).
    """

    _default_nodes: Optional[int] = None     # None: cpu_count()

    def __init__(self, *args: Any, **kwds: Any) -> None:
        self._nodes = _parse_nodes(args, kwds, self._default_nodes)
        self._id = kwds.pop("id", None)
        self._kwds = kwds
        self._check_options(kwds)
        self._serve()

    # -- what subclasses provide

    def _make_transports(self) -> list[tuple[Transport, int]]:
        raise NotImplementedError

    def _check_options(self, kwds: dict) -> None:
        allowed = set(_SCHEDULER_OPTIONS) | set(self._transport_options())
        unknown = sorted(set(kwds) - allowed)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s) "
                f"{', '.join(unknown)}; it takes nodes, id, "
                + ", ".join(sorted(allowed)))

    def _transport_options(self) -> tuple[str, ...]:
        return ()

    # -- the cache

    def _key(self) -> tuple:
        # As in pathos, an id (default: the number of nodes) names one cached
        # pool of a type; a pool of that id with another size replaces it.
        opts = tuple(sorted((k, repr(v)) for k, v in self._kwds.items()))
        return (type(self).__name__, self._id if self._id is not None else self._nodes,
                opts)

    def _serve(self) -> Scheduler:
        """The scheduler of this pool, started if there is none."""
        key = self._key()
        replaced = None
        with _STATE_LOCK:
            sched = self._current()
            if sched is None:
                replaced = _STATE.pop(key, None)      # same id, another size
                opts = {k: self._kwds[k] for k in _SCHEDULER_OPTIONS if k in self._kwds}
                sched = Scheduler(self._name(), self._make_transports(), **opts)
                sched.pool_nodes = self._nodes
                _STATE[key] = sched
        if replaced is not None:
            replaced.close()
            replaced.join()
        return sched

    def _current(self) -> Optional[Scheduler]:
        """This pool's scheduler, if the cache holds one of this size."""
        with _STATE_LOCK:
            sched = _STATE.get(self._key())
            if sched is not None and sched.pool_nodes != self._nodes:
                return None
            return sched

    def _name(self) -> str:
        return f"{type(self).__name__}(ncpus={self._nodes})"

    # -- the map family

    def map(self, f: Callable, *args: Iterable, **kwds: Any) -> list:
        """Like builtin ``map`` but in parallel: a list, in input order.

        ``chunksize`` fixes the chunk size (default: adapts to task time).
        """
        return self.amap(f, *args, **kwds).get()

    def imap(self, f: Callable, *args: Iterable, **kwds: Any) -> Iterator:
        """A lazy iterator of results in input order."""
        sched, m = self._submit(f, args, kwds, ordered=True, lazy=True, kind="imap")
        return iter_ordered(sched, m)

    def uimap(self, f: Callable, *args: Iterable, **kwds: Any) -> Iterator:
        """A lazy iterator of results in the order they finish."""
        sched, m = self._submit(f, args, kwds, ordered=False, lazy=True, kind="uimap")
        return iter_unordered(sched, m)

    def amap(self, f: Callable, *args: Iterable, **kwds: Any) -> AsyncResult:
        """Start a map; returns a handle with ``get(timeout)``, ``ready()``."""
        sched, m = self._submit(f, args, kwds, ordered=True, lazy=False, kind="map")
        return AsyncResult(sched, m)

    def apipe(self, f: Callable, *args: Any, **kwds: Any) -> AsyncResult:
        """Start ``f(*args, **kwds)`` on a worker; returns its handle."""
        sched = self._serve()
        m = sched.submit(f, [(args, kwds)], wire.CALL, kindname="apipe")
        return AsyncResult(sched, m, single=True)

    def pipe(self, f: Callable, *args: Any, **kwds: Any) -> Any:
        """Run ``f(*args, **kwds)`` on a worker and return its value."""
        return self.apipe(f, *args, **kwds).get()

    def _submit(self, f: Callable, args: tuple, kwds: dict, *, ordered: bool,
                lazy: bool, kind: str) -> tuple[Scheduler, Any]:
        if not callable(f):
            raise TypeError(f"{type(f).__name__!r} object is not callable: "
                            f"{kind}() takes a function first, then the iterables")
        if not args:
            raise TypeError(f"{kind}() must have at least two arguments: "
                            "a function and an iterable")
        chunksize = kwds.pop("chunksize", None)
        if kwds:
            raise TypeError(f"{kind}() got unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwds))}")
        if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
            raise ValueError(f"chunksize must be a positive int, not {chunksize!r}")
        items, mode = _items(args, lazy)
        sched = self._serve()
        return sched, sched.submit(f, items, mode, ordered=ordered,
                                   chunksize=chunksize, kindname=kind)

    # -- lifecycle (pathos semantics)

    def close(self) -> None:
        """Take no new work; running maps finish.  Then ``join()``."""
        sched = self._current()
        if sched is not None:
            sched.close()

    def join(self) -> None:
        """Wait for running maps and stop the workers (after ``close()``)."""
        sched = self._current()
        if sched is not None:
            sched.join()

    def terminate(self) -> None:
        """Stop everything now: running maps are cancelled."""
        sched = self._current()
        if sched is not None:
            sched.terminate()

    def clear(self) -> None:
        """Stop the workers and forget them: the next use starts fresh."""
        with _STATE_LOCK:
            sched = self._current()
            if sched is not None:
                _STATE.pop(self._key())
        if sched is not None:
            sched.close()
            sched.join()

    _clear = clear

    def restart(self, force: bool = False) -> None:
        """Start new workers for a closed pool, or one with no live workers
        left (``force``: even if it is running)."""
        sched = self._current()
        if sched is not None and sched.state == "running" and sched.workers and not force:
            raise ValueError(f"{self._name()} is running; restart() reopens a "
                             "closed pool (use force=True to restart anyway)")
        self.clear()
        self._serve()

    def __enter__(self) -> "AbstractPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.clear()

    # -- nodes, state, observers

    @property
    def nodes(self) -> int:
        return self._nodes

    @nodes.setter
    def nodes(self, n: int) -> None:
        self._nodes = _check_count(n)
        self._serve()

    ncpus = nodes

    @property
    def state(self) -> str:
        """'running', 'closed', 'terminated', or 'cleared' (no workers)."""
        sched = self._current()
        return "cleared" if sched is None else sched.state

    @property
    def workers(self) -> list:
        """The live workers (label, host, pid), for status displays."""
        sched = self._current()
        return [] if sched is None else sched.workers

    def subscribe(self, fn: Observer) -> Observer:
        """Call ``fn(event)`` for each event of this pool (see events.py)."""
        return self._serve().bus.subscribe(fn)

    def unsubscribe(self, fn: Observer) -> None:
        sched = self._current()
        if sched is not None:
            sched.bus.unsubscribe(fn)

    def __repr__(self) -> str:
        return f"<pool {self._name()} {self.state}>"

    __state__ = _StateDescriptor()


def _parse_nodes(args: tuple, kwds: dict, default: Optional[int]) -> int:
    names = [k for k in ("nodes", "ncpus", "nthreads", "processes") if k in kwds]
    if len(args) > 1:
        raise TypeError(f"expected at most 1 positional argument (nodes), got {len(args)}")
    if len(names) + len(args) > 1:
        given = (["nodes (positional)"] if args else []) + names
        raise TypeError(f"got multiple values for the number of workers: {', '.join(given)}")
    if args:
        n = args[0]
    elif names:
        n = kwds.pop(names[0])
    else:
        n = default if default is not None else cpu_count()
    return _check_count(n)


def _check_count(n: Any) -> int:
    if n is None:                 # pathos (multiprocess): None means autodetect
        return cpu_count()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of workers must be a positive int, not {n!r}")
    return n


def _items(args: tuple, lazy: bool) -> tuple[Any, int]:
    if len(args) == 1:
        seq = args[0]
        if isinstance(seq, (list, tuple, range)):
            return seq, wire.SINGLE
        return (iter(seq) if lazy else list(seq)), wire.SINGLE
    zipped = zip(*args)
    return (zipped if lazy else list(zipped)), wire.STAR


_RAW_POOLS = (multiprocess.Pool, multiprocess.pool.Pool,
              multiprocess.dummy.Pool, multiprocess.pool.ThreadPool)


def shutdown(type: Union[None, str, builtins.type] = None) -> None:  # noqa: A002 - pathos's name
    """Stop every cached pool, or only those of one type: a pool class, as in
    pathos (``shutdown(ProcessPool)``), or a name prefix ('process', ...)."""
    if type is None:
        match = lambda k: True                                        # noqa: E731
    elif isinstance(type, str):
        match = lambda k: k[0].lower().startswith(type.lower())       # noqa: E731
    elif isinstance(type, builtins.type) and issubclass(type, AbstractPool):
        match = lambda k: k[0] == type.__name__                       # noqa: E731
    elif type in _RAW_POOLS:
        raise NotImplementedError("use the close() method to shutdown")
    else:
        raise TypeError(f"{type!r} is not one of the pathos_magics.pools")
    with _STATE_LOCK:
        keys = [k for k in _STATE if match(k)]
        scheds = [_STATE.pop(k) for k in keys]
    for sched in scheds:
        sched.terminate()


def _forget_after_fork() -> None:
    # A forked worker must not touch its parent's pools (their pipes and
    # locks belong to the parent); a nested map there starts its own.
    global _STATE_LOCK
    _STATE.clear()
    _STATE_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_forget_after_fork)
import multiprocess.util  # noqa: E402,F401 - its atexit (joins children) must run after ours
atexit.register(shutdown)
