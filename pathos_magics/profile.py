"""pathos.profile's names, and profiling that follows maps to their workers.

As in pathos, each process (or thread) has its own profiler, the module's
``profiler`` (a :class:`cProfile.Profile`)::

    >>> import pathos_magics.profile as pr
    >>> work = pr.profiled(gen=pr.process_id)(_work)   # dumps id-<pid>.prof per call
    >>> pr.enable_profiling()
    >>> list(map(work, range(3)))
    >>> pr.profile('cumulative', pipe=pool.pipe)(test_import, 'pox')   # prints on the worker

What pathos does not do: while profiling is enabled here
(:func:`enable_profiling`, ``%pathos profile on``), every map of every pool
has its tasks profiled on their workers (``profile=True`` on one map does
the same for that map alone); each chunk's stats come back with its results
and :func:`get_stats`, :func:`print_stats` and :func:`dump_stats` give the
merged view: the workers' and this process's own profiler (``"kernel"``),
or one worker's with ``worker="local-0"``.  Maps run as fast as ever while
it is off: one flag check per chunk.

Python 3.12+ has one profiler per process (sys.monitoring): the workers of
thread and serial pools share this process, so there one profiler runs at a
time (see worker.py); process, ssh and MPI workers are unaffected.
"""
from __future__ import annotations

import contextlib
import cProfile
import logging
import threading
import warnings
from typing import Any, Callable, Iterator, Optional

import multiprocess

from . import events, worker
from .profstats import KERNEL, Collector, ProfileTable, Stats
from .scheduler.profiling import set_profile_default

__all__ = ["clear_stats", "disable_profiling", "dump_stats", "enable_profiling",
           "get_stats", "not_profiled", "print_stats", "process_id", "profile",
           "profiled", "profiler", "recording", "start_profiling", "stop_profiling",
           "table", "thread_id"]

_log = logging.getLogger(__name__)

#: This process's profiler (pathos's name); None until enable_profiling().
profiler: Optional[cProfile.Profile] = None

_collector = Collector()             # the workers' stats while enabled
_kernel_last: dict = {}              # this process's stats when last disabled
_state_lock = threading.Lock()


def process_id() -> int:
    """The identifier (process id) of the current process."""
    return multiprocess.current_process().pid


def thread_id() -> int:
    """The identifier of the current thread."""
    return threading.current_thread().ident  # type: ignore[return-value]


# ---------------------------------------------------------------- decorators

class profiled:
    """Decorator profiling a function with this process's ``profiler``
    (does not call :func:`enable_profiling`: without a profiler the
    function runs as it is).

    Args:
        gen: a function giving an id (e.g. :func:`process_id`): each call
            dumps its stats to ``prefix + gen() + suffix``; or a sort key
            (str) or bool: each call prints them instead, sorted by it.
        prefix: file name prefix (default ``'id-'``).
        suffix: file name suffix (default ``'.prof'``).

    Sort keys: calls, cumulative, cumtime, file, filename, module, ncalls,
    pcalls, line, name, nfl, stdname, time, tottime.
    """

    def __init__(self, gen: Any = None, prefix: str = "id-", suffix: str = ".prof") -> None:
        self.prefix = prefix
        self.suffix = suffix
        if type(gen) is str or repr(gen) in ("True", "False"):
            self.sort = -1 if repr(gen) in ("True", "False") else gen
            self.pid: Callable[[], Any] = str
        else:
            self.sort = -1
            self.pid = process_id if gen is None else gen

    def __call__(self, f: Callable) -> Callable:
        return _Proactive(f, self)


class _Proactive:
    """A ``profiled`` function: a module-level class, so it pickles by
    reference (the wrapped function by value when it is a notebook's) and,
    on a worker, finds that worker's ``profiler``."""

    __name__ = "proactive"           # what pathos's not_profiled looks for

    def __init__(self, f: Callable, config: profiled) -> None:
        self.__wrapped__ = f
        self._config = config

    def __call__(self, *args: Any, **kwds: Any) -> Any:
        prof = profiler
        with worker.chunk_profiler_paused():
            doit = prof is not None and _enable(prof)
            res = self.__wrapped__(*args, **kwds)
            if doit:
                prof.disable()
                config = self._config
                if config.pid is str:
                    prof.print_stats(config.sort)
                else:
                    prof.dump_stats(f"{config.prefix}{config.pid()}{config.suffix}")
        return res


def not_profiled(f: Callable) -> Callable:
    """Decorator removing the profiling that :class:`profiled` added."""
    inner = getattr(f, "__wrapped__", f) if getattr(f, "__name__", None) == "proactive" else f

    def wrapper(*args: Any, **kwds: Any) -> Any:
        return inner(*args, **kwds)
    return wrapper


def _enable(prof: cProfile.Profile) -> bool:
    try:
        prof.enable()
        return True
    except ValueError as exc:        # 3.12+: another profiler holds the process
        _log.debug("profiler not started: %s", exc)
        return False


# ---------------------------------------------------------------- on and off

def enable_profiling(*args: Any) -> None:
    """A fresh profiler in this process (not started: :func:`start_profiling`),
    and every map's tasks profiled on their workers from now on, their stats
    collected here.  Clears what was collected before."""
    _enable_local()
    with _state_lock:
        _collector.clear()
        _kernel_last.clear()
        events.unsubscribe(_collector)
        events.subscribe(_collector)
        set_profile_default(True)


def start_profiling(*args: Any) -> None:
    """Profile everything this thread runs (enables profiling if needed)."""
    if profiler is None:
        enable_profiling()
    if profiler is not None and not _enable(profiler):
        warnings.warn("this process has another profiler on (Python 3.12+ allows one "
                      "per process: a thread pool's worker, a debugger, coverage); "
                      "call start_profiling() again when it is done", RuntimeWarning,
                      stacklevel=2)


def stop_profiling(*args: Any) -> None:
    """Stop profiling this thread (the stats stay)."""
    if profiler is not None:
        profiler.disable()


def disable_profiling(*args: Any) -> None:
    """Remove this process's profiler and stop profiling maps; what was
    collected stays for :func:`get_stats` until :func:`enable_profiling`
    or :func:`clear_stats`."""
    with _state_lock:
        set_profile_default(False)
        events.unsubscribe(_collector)
        if profiler is not None:
            _kernel_last.clear()
            _kernel_last.update(_snapshot(profiler))
    _disable_local()


def _enable_local(*args: Any) -> None:
    """pathos's enable_profiling: a fresh profiler in this process only."""
    global profiler
    profiler = cProfile.Profile()


def _disable_local(*args: Any) -> None:
    """pathos's disable_profiling: this process's profiler stopped and gone."""
    global profiler
    if profiler is not None:
        profiler.disable()
    profiler = None


# ---------------------------------------------------------------- the stats

def clear_stats(*args: Any) -> None:
    """Forget the stats: this process's profiler's and the workers'."""
    if profiler is not None:
        profiler.clear()
    _collector.clear()
    _kernel_last.clear()


def get_stats(*args: Any, worker: Optional[str] = None) -> Stats:
    """The stats collected so far, merged: the workers' and this process's
    (``"kernel"``); ``worker=LABEL`` for one of them.

    Returns a :class:`pstats.Stats` (a subclass, :class:`profstats.Stats`,
    with ``.workers`` and ``.table()``), where pathos returns the
    profiler's raw ``getstats()`` list.
    """
    own = _snapshot(profiler) if profiler is not None else dict(_kernel_last)
    return _collector.stats(worker, {KERNEL: own})


def print_stats(*args: Any, **kwds: Any) -> None:
    """Print the merged stats (``sort=``, default -1: by name; ``worker=``)."""
    stats = get_stats(worker=kwds.get("worker"))
    if stats.stats:
        stats.strip_dirs().sort_stats(kwds.get("sort", -1)).print_stats()


def dump_stats(*args: Any, **kwds: Any) -> None:
    """Dump the merged stats (``worker=``: one worker's) to the file
    ``prefix + gen() + suffix`` (defaults ``'id-'``, :func:`process_id`,
    ``'.prof'``), which ``pstats.Stats(file)`` or snakeviz read."""
    config = dict(gen=None, prefix="id-", suffix=".prof", worker=None)
    config.update(kwds)
    gen = process_id if config["gen"] is None else config["gen"]
    get_stats(worker=config["worker"]).dump_stats(
        f"{config['prefix']}{gen()}{config['suffix']}")


def table(worker: Optional[str] = None, sort: Any = "cumulative", limit: int = 20) -> ProfileTable:
    """The top functions of the merged stats (or one worker's): an HTML
    table in a notebook, text elsewhere (``%pathos profile show``)."""
    return get_stats(worker=worker).table(sort=sort, limit=limit)


@contextlib.contextmanager
def recording(pool: Optional[str] = None) -> Iterator[Collector]:
    """Collect the stats of profiled maps that run inside the block (of the
    pool named ``pool``, or all): ``%%pmap --profile`` uses it."""
    rec = Collector(pool)
    events.subscribe(rec)
    try:
        yield rec
    finally:
        events.unsubscribe(rec)


def _snapshot(prof: cProfile.Profile) -> dict:
    """A running profiler's stats so far, without stopping it."""
    prof.snapshot_stats()
    stats, prof.stats = prof.stats, {}
    return stats


# ---------------------------------------------------------------- profile

class profile:
    """Decorator-like: profile one call of a function on a pool's worker
    and print its stats there (with ``pipe``) or here.

    Args:
        sort: a pstats sort key (see :class:`profiled`).
        pipe: ``pool.pipe`` of a pool with one node (default: a SerialPool's).
        **config: passed to :class:`profiled` (``gen``, ``prefix``, ``suffix``).

    ``profile()(work)`` returns ``work()``'s value.
    """

    def __init__(self, sort: Any = None, **config: Any) -> None:
        from .pools import SerialPool
        pipe = config.pop("pipe", None)
        if sort is not None and repr(sort) not in ("True", "False"):
            config.update(dict(gen=sort))
        self.config = dict(gen=False) if not config else config
        if pipe is None:
            self._pool = SerialPool()
            self.pipe = self._pool.pipe
        else:
            self.pipe = pipe
            self._pool = getattr(pipe, "__self__", None) or SerialPool()
        if self._pool.nodes != 1:
            raise ValueError("pipe must draw from a pool with only one node")

    def __call__(self, function: Callable, *args: Any, **kwds: Any) -> Any:
        self.pipe(_enable_local, None)
        result = self.pipe(profiled(**self.config)(function), *args, **kwds)
        self.pipe(_disable_local, None)
        return result
