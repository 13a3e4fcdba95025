"""pathos.maps: map-like objects that start their pool when called.

    >>> from pathos_magics.maps import Map, Amap, Smap
    >>> from pathos_magics.pools import ProcessPool
    >>> square = Map(ProcessPool, 4)                 # ProcessPool(4) on each call
    >>> square(lambda x: x * x, range(4))
    [0, 1, 4, 9]
    >>> Smap()(pow, [(2, 3), (3, 2)])                # no pool: itertools.starmap
    [8, 9]

Each object keeps a pool class (any of :mod:`pathos_magics.pools`, or a raw
multiprocess pool such as :data:`pathos_magics.pools._ThreadPool`) and its
arguments; each call builds the pool (our pools come from the cache, so
this is cheap after the first call), runs the pool's map of that kind, then
optionally ``close``\\ s, ``join``\\ s and ``clear``\\ s it.  Without a pool,
``Map``, ``Smap``, ``Imap`` and ``Ismap`` run the builtin map (and ``Amap``,
``Asmap``, ``Uimap`` return ``NotImplemented``), as in pathos.

    ============  ======================  =============================
    class         pool method             without a pool
    ============  ======================  =============================
    ``Map``       ``map``                 ``list(map(...))``
    ``Smap``      ``smap``/``starmap``    ``list(itertools.starmap(...))``
    ``Imap``      ``imap``                ``map(...)``
    ``Ismap``     ``ismap``               ``itertools.starmap(...)``
    ``Amap``      ``amap``/``map_async``  ``NotImplemented``
    ``Asmap``     ``asmap``/``starmap_async``  ``NotImplemented``
    ``Uimap``     ``uimap``/``imap_unordered``  ``NotImplemented``
    ============  ======================  =============================

A star map on a pool without a star method maps ``starargs(func)`` over the
argument tuples.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Optional

from .helpers.mp_helper import starargs

__all__ = ["Map", "Smap", "Imap", "Ismap", "Amap", "Asmap", "Uimap"]


class Map:
    """Map with a pool started on each call.

    Args:
        pool: a pool class (e.g. ``pathos_magics.pools.ProcessPool``), or
            None (or the builtin ``map``) for the builtin map.
        *args: positional arguments of the pool.
        **kwds: keyword arguments of the pool, and:
            close: close the pool after each call (default: ``join``).
            join: join the pool after each call (default: ``clear``).
            clear: clear the pool (stop its workers) after each call
                (default False).

    A closed pathos_magics pool refuses new maps until ``clear``; a raw
    multiprocess pool is a new one on each call.
    """

    _method: tuple[str, ...] = ("map",)     # the pool's method, by preference

    def __init__(self, pool: Any = None, *args: Any, **kwds: Any) -> None:
        self._clear = kwds.pop("clear", False)
        self._join = kwds.pop("join", self._clear)
        self._close = kwds.pop("close", self._join)
        self.pool = None if pool is map else pool
        self.args = args
        self.kwds = kwds
        self._pool: Any = None

    def __call__(self, func: Callable, *args: Any, **kwds: Any) -> Any:
        """Start the pool and run its map of ``func`` over ``args``.

        Returns:
            What the pool's method returns (a list for ``Map``).
        """
        if self.pool is None:
            return self._builtin(func, *args)
        self._pool = pool = self.pool(*self.args, **self.kwds)
        result = self._run(pool, func, args, kwds)
        if self._close:
            self.close()
        if self._join:
            self.join()
        if self._clear:
            self.clear()
        return result

    def _builtin(self, func: Callable, *args: Any) -> Any:
        return list(map(func, *args))

    def _run(self, pool: Any, func: Callable, args: tuple, kwds: dict) -> Any:
        method = _method(pool, self._method)
        if method is None:                   # not a pool
            return NotImplemented
        return method(func, *args, **kwds)

    # function interface, as pathos's: a Map stands in for a function
    def __cls__(self) -> "Map":
        return self

    def __meth__(self) -> Callable:
        return self.__call__.__func__

    def __attr__(self) -> Callable:
        return self.__call__.__get__

    __self__ = property(__cls__)
    __func__ = property(__meth__)
    __get__ = property(__attr__)

    def close(self) -> None:
        """Close the last pool to new jobs."""
        _call(self._pool, "close")

    def join(self) -> None:
        """Reclaim the last pool's closed workers (after ``close``)."""
        _call(self._pool, "join")

    def clear(self) -> None:
        """Remove the last pool from the cache (stops its workers)."""
        _call(self._pool, "clear")

    def __del__(self) -> None:
        try:
            self.close()
            self.join()
            self.clear()
        except Exception:            # noqa: BLE001 - never raise from __del__
            pass
        self._pool = None


class _StarMap(Map):
    """A map over argument tuples: ``func(*args)`` per tuple."""

    _star_method: tuple[str, ...] = ()

    def _run(self, pool: Any, func: Callable, args: tuple, kwds: dict) -> Any:
        method = _method(pool, self._star_method)
        if method is not None:
            return method(func, *args, **kwds)
        return super()._run(pool, starargs(func), args, kwds)


class Smap(_StarMap):
    """Starmap with a pool started on each call (see :class:`Map`)."""

    _star_method = ("smap", "starmap")

    def _builtin(self, func: Callable, *args: Any) -> Any:
        return list(itertools.starmap(func, *args))


class Imap(Map):
    """Iterator map (ordered) with a pool started on each call (see :class:`Map`)."""

    _method = ("imap",)

    def _builtin(self, func: Callable, *args: Any) -> Any:
        return map(func, *args)


class Ismap(_StarMap):
    """Iterator starmap with a pool started on each call (see :class:`Map`)."""

    _method = ("imap",)
    _star_method = ("ismap",)

    def _builtin(self, func: Callable, *args: Any) -> Any:
        return itertools.starmap(func, *args)


class Amap(Map):
    """Asynchronous map (``get()``, ``ready()``) with a pool started on each
    call (see :class:`Map`); needs a pool."""

    _method = ("amap", "map_async")

    def _builtin(self, func: Callable, *args: Any) -> Any:
        return NotImplemented


class Asmap(_StarMap):
    """Asynchronous starmap with a pool started on each call (see
    :class:`Map`); needs a pool."""

    _method = ("amap",)
    _star_method = ("asmap", "starmap_async")

    def _builtin(self, func: Callable, *args: Any) -> Any:
        return NotImplemented


class Uimap(Map):
    """Unordered iterator map with a pool started on each call (see
    :class:`Map`); needs a pool."""

    _method = ("uimap", "imap_unordered")

    def _builtin(self, func: Callable, *args: Any) -> Any:
        return NotImplemented


def _method(pool: Any, names: tuple[str, ...]) -> Optional[Callable]:
    for name in names:
        method = getattr(pool, name, None)
        if method is not None:
            return method
    return None


def _call(pool: Any, name: str) -> None:
    method = getattr(pool, name, None)
    if method is not None:
        method()
