"""The active pool: what ``Pool()`` and ``%%pmap`` use when no pool is named.

    from pathos_magics import Pool
    Pool().map(f, xs)                       # the active pool (default: processes)
    set_active("thread", 8)                 # what %pathos pool thread 8 does

The active pool is a *spec* (kind, nodes, options), not a live object: the
pool cache (see :mod:`pathos_magics.pools.base`) owns the workers, so
``Pool()`` is cheap and returns the same workers every time.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from .pools.base import AbstractPool, check_count

#: The kinds a user can name, and the pool class each means.
_CLASSES = {"serial": "SerialPool", "thread": "ThreadPool", "process": "ProcessPool",
            "remote": "ParallelPool", "mpi": "MpiPool"}
KINDS = tuple(_CLASSES)


@dataclass(frozen=True)
class PoolSpec:
    """What the active pool is: ``kind``, ``nodes`` (None: the default) and
    pool options (for ``remote``: ``servers``)."""
    kind: str = "process"
    nodes: Optional[int] = None
    options: dict = field(default_factory=dict)

    def describe(self) -> str:
        nodes = "" if self.nodes is None else f" {self.nodes}"
        servers = self.options.get("servers")
        extra = f" on {', '.join(map(str, servers))}" if servers else ""
        return f"{self.kind}{nodes}{extra}"


_active = PoolSpec()
_active_pool: Optional[AbstractPool] = None     # the pool set_active last made
_lock = threading.Lock()


def pool_class(kind: str) -> type:
    """The pool class for ``kind`` ('serial', 'thread', 'process', 'remote', 'mpi')."""
    from . import pools
    if kind not in _CLASSES:
        raise ValueError(f"unknown pool kind {kind!r}: choose one of {', '.join(KINDS)}")
    return getattr(pools, _CLASSES[kind])


def make_pool(kind: str, nodes: Optional[int] = None, **options: Any) -> AbstractPool:
    """A pool of ``kind`` (cached, as every pool is)."""
    cls = pool_class(kind)
    if kind == "serial":
        return cls()
    if kind == "remote":
        # remote: ``nodes`` are the local workers beside the hosts (default none)
        return cls(ncpus=nodes or 0, **options)
    return cls(nodes, **options) if nodes is not None else cls(**options)


def set_active(kind: str, nodes: Optional[int] = None, **options: Any) -> AbstractPool:
    """Make ``kind`` the active pool and start it; returns the pool.

    Raises ValueError for an unknown kind or a bad node count, before the
    current active pool is changed.
    """
    global _active, _active_pool
    if nodes is not None:
        check_count(nodes)
    pool = make_pool(kind, nodes, **options)
    with _lock:
        _active = PoolSpec(kind, nodes, dict(options))
        previous, _active_pool = _active_pool, pool
    if previous is not None and previous.key != pool.key:
        # once another pool is active nothing would show or stop its workers
        previous.clear()
    return pool


def active_spec() -> PoolSpec:
    return _active


def reset_active() -> None:
    """Back to the default: local processes, one per usable CPU."""
    global _active, _active_pool
    with _lock:
        _active, _active_pool = PoolSpec(), None


def Pool(nodes: Optional[int] = None, **options: Any) -> AbstractPool:  # noqa: N802
    """The active pool (default: local processes, one per usable CPU).

    Args:
        nodes: override the active pool's worker count for this call.
        options: extra options for the active pool's class.
    """
    spec = _active
    merged = {**spec.options, **options}
    return make_pool(spec.kind, nodes if nodes is not None else spec.nodes, **merged)
