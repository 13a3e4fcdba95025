"""The pool API shared by every backend, with pathos's semantics.

A pool object is a light handle: its workers live in a :class:`Scheduler`
kept in the process-wide cache (cache.py), so a second ``ProcessPool(4)``
reuses the workers of the first until ``clear()``.
"""
from __future__ import annotations

import builtins
from collections.abc import Sized
from threading import current_thread
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import multiprocess
import multiprocess.dummy
import multiprocess.pool

from .. import wire
from ..abstract_launcher import AbstractWorkerPool
from ..events import Observer
from ..scheduler import AsyncResult, Scheduler, iter_ordered, iter_unordered
from ..system import cpu_count
from ..transports.base import Transport
from ..transports.serial import SerialTransport
from ..worker import serving_for
from . import cache

__all__ = ["AbstractPool", "check_count", "cpu_count", "parse_nodes", "shutdown"]

_SCHEDULER_OPTIONS = ("window", "max_retries", "cancel_timeout", "task_timeout",
                      "liveness_timeout")
CLEAR_WAIT = 10.0    # clear() (and a with block's end) lets running maps finish this long


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
        task_timeout: seconds a task may run (default None: no limit); past
            it the map fails with TaskTimeoutError and the worker is killed
            and replaced.  ``map(..., timeout=...)`` overrides it per map.
        liveness_timeout: seconds a worker may stay silent (default None:
            no check); past it the worker is lost (stopped, hung), its tasks
            run elsewhere, and it is killed and replaced.
    """

    _default_nodes: Optional[int] = None     # None: cpu_count()

    def __init__(self, *args: Any, **kwds: Any) -> None:
        self._nodes = parse_nodes(args, kwds, self._default_nodes)
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

    @property
    def key(self) -> tuple:
        """This pool's key in the cache: pools with equal keys share workers."""
        return self._key()

    def _key(self) -> tuple:
        # As in pathos, an id (default: the number of nodes) names one cached
        # pool of a type; a pool of that id with another size replaces it.
        opts = tuple(sorted((k, repr(v)) for k, v in self._kwds.items()))
        return (type(self).__name__, self._id if self._id is not None else self._nodes,
                opts)

    def _serve(self) -> Scheduler:
        """The scheduler of this pool, started if there is none."""
        return cache.serve(self._key(), self._nodes, self._start_scheduler)

    def _start_scheduler(self) -> Scheduler:
        opts = {k: self._kwds[k] for k in _SCHEDULER_OPTIONS if k in self._kwds}
        return Scheduler(self.name, self._make_transports(), nodes=self._nodes, **opts)

    def _current(self) -> Optional[Scheduler]:
        """This pool's scheduler, if the cache holds one of this size."""
        return cache.current(self._key(), self._nodes)

    @property
    def name(self) -> str:
        """How the pool shows itself: ``ProcessPool(ncpus=4)``."""
        return f"{type(self).__name__}(ncpus={self._nodes})"

    # -- the map family

    def map(self, f: Callable, *args: Iterable, **kwds: Any) -> list:
        """Like builtin ``map`` but in parallel: a list, in input order.

        ``chunksize`` fixes the chunk size (default: adapts to task time).
        ``timeout``: seconds each task may run (default: the pool's
        ``task_timeout``; None: no limit); a task past it fails the map
        with TaskTimeoutError, and its worker is killed and replaced.  The
        tasks of such a map go one per chunk.  
        ``profile=True`` runs the tasks under cProfile on the workers (the
        stats: pathos_magics.profile; default: on while
        ``profile.enable_profiling()`` is in effect); imap, uimap and amap
        take both too.
        """
        return self.amap(f, *args, **kwds).get()

    def imap(self, f: Callable, *args: Iterable, **kwds: Any) -> Iterator:
        """A lazy iterator of results in input order."""
        sched, m = self._submit(f, args, kwds, ordered=True, kind="imap")
        return iter_ordered(sched, m)

    def uimap(self, f: Callable, *args: Iterable, **kwds: Any) -> Iterator:
        """A lazy iterator of results in the order they finish."""
        sched, m = self._submit(f, args, kwds, ordered=False, kind="uimap")
        return iter_unordered(sched, m)

    def amap(self, f: Callable, *args: Iterable, **kwds: Any) -> AsyncResult:
        """Start a map; returns a handle with ``get(timeout)``, ``ready()``."""
        sched, m = self._submit(f, args, kwds, ordered=True, kind="map")
        return AsyncResult(sched, m)

    def apipe(self, f: Callable, *args: Any, **kwds: Any) -> AsyncResult:
        """Start ``f(*args, **kwds)`` on a worker; returns its handle.

        Every keyword goes to ``f`` (as in pathos), so the pool's
        ``task_timeout`` is the limit here: there is no per-call one.
        """
        timeout = self._serve().task_timeout
        sched = self._scheduler_here()
        m = sched.submit(f, [(args, kwds)], wire.CALL, kindname="apipe",
                         timeout=timeout)
        return AsyncResult(sched, m, single=True)

    def pipe(self, f: Callable, *args: Any, **kwds: Any) -> Any:
        """Run ``f(*args, **kwds)`` on a worker and return its value."""
        return self.apipe(f, *args, **kwds).get()

    def _submit(self, f: Callable, args: tuple, kwds: dict, *, ordered: bool,
                kind: str) -> tuple[Scheduler, Any]:
        if not callable(f):
            raise TypeError(f"{type(f).__name__!r} object is not callable: "
                            f"{kind}() takes a function first, then the iterables")
        if not args:
            raise TypeError(f"{kind}() must have at least two arguments: "
                            "a function and an iterable")
        chunksize = kwds.pop("chunksize", None)
        sched = self._serve()
        timeout = kwds.pop("timeout", sched.task_timeout)
        profile = kwds.pop("profile", None)
        if kwds:
            raise TypeError(f"{kind}() got unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwds))}")
        if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
            raise ValueError(f"chunksize must be a positive int, not {chunksize!r}")
        items, mode = _items(args)
        sched = self._scheduler_here()
        return sched, sched.submit(f, items, mode, ordered=ordered,
                                   chunksize=chunksize, kindname=kind, timeout=timeout,
                                   profile=profile)

    def _scheduler_here(self) -> Scheduler:
        """This pool's scheduler; but a map that one of its own worker
        threads starts runs in that thread (a private serial scheduler):
        waiting for the pool's threads while holding one could deadlock."""
        sched = self._serve()
        if serving_for() is sched:
            return Scheduler(f"{self.name} (nested, in {current_thread().name})",
                             [(SerialTransport(), 1)], nodes=1)
        return sched

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
            sched.shutdown("terminated")

    def clear(self) -> None:
        """Stop the workers and forget them: the next use starts fresh.

        Running maps get ``CLEAR_WAIT`` seconds to finish (as in pathos,
        whose clear() joins them); one still running then is cancelled (its
        ``get()`` raises PoolClosedError), and a task that does not stop is
        ended by SIGTERM, then SIGKILL.  So this returns within a bound.  To
        wait for long maps, call ``close()`` and ``join()`` first.
        """
        sched = cache.forget(self._key(), self._nodes)
        if sched is not None:
            sched.shutdown("cleared", drain=CLEAR_WAIT)

    _clear = clear

    def restart(self, force: bool = False) -> None:
        """Start new workers for a closed pool, or one with no live workers
        left (``force``: even if it is running)."""
        sched = self._current()
        if sched is not None and sched.state == "running" and sched.workers and not force:
            raise ValueError(f"{self.name} is running; restart() reopens a "
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
        self._nodes = check_count(n)
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
        return f"<pool {self.name} {self.state}>"

    __state__ = cache.StateDescriptor()


def parse_nodes(args: tuple, kwds: dict, default: Optional[int]) -> int:
    """The worker count from pathos's spellings: positional, nodes, ncpus,
    nthreads or processes (popped from ``kwds``); one at most."""
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
    return check_count(n)


def check_count(n: Any) -> int:
    """A worker count as given (None: one per CPU), checked."""
    if n is None:                 # pathos (multiprocess): None means autodetect
        return cpu_count()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of workers must be a positive int, not {n!r}")
    return n


def _items(args: tuple) -> tuple[Any, int]:
    """The map's input: a list, tuple or range as it is; another sized
    collection (a dict, a set, an array) as a list of its items now; an
    iterator or generator read as the workers need it, never up front (it
    may be endless)."""
    if len(args) == 1:
        seq = args[0]
        if isinstance(seq, (list, tuple, range)):
            return seq, wire.SINGLE
        if isinstance(seq, Sized):
            return list(seq), wire.SINGLE
        return iter(seq), wire.SINGLE
    if all(isinstance(a, Sized) for a in args):
        return list(zip(*args)), wire.STAR
    return zip(*args), wire.STAR


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
    cache.stop_matching(match)
