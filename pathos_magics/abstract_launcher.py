"""pathos.abstract_launcher: the API every pool (and pipe) implements.

    >>> from pathos_magics.pools import ProcessPool
    >>> pool = ProcessPool(nodes=4)
    >>> results = pool.map(pow, [1, 2, 3, 4], [5, 6, 7, 8])     # blocking, ordered
    >>> results = list(pool.imap(pow, [1, 2, 3, 4], [5, 6, 7, 8]))
    >>> results = pool.amap(pow, [1, 2, 3, 4], [5, 6, 7, 8]).get()

:class:`AbstractWorkerPool` has pathos's members (names, signatures and
the private, name-mangled input filters pathos's own pools call), so code
that subclasses pathos's base class to write a pool runs on this one.  Every
pool of :mod:`pathos_magics.pools` is one (``AbstractPool`` subclasses it)
and overrides every method; the bodies here are what a subclass that does
not override gets, as in pathos: ``NotImplementedError``.
"""
from __future__ import annotations

import re
from typing import Any, Callable

__all__ = ["AbstractPipeConnection", "AbstractWorkerPool"]

#: pathos's pools keep their size in a name-mangled ``self.__nodes``, which
#: pathos's tests read (``pool._ProcessPool__nodes``); here it is ``nodes``.
_MANGLED_NODES = re.compile(r"_[A-Za-z_][A-Za-z0-9_]*__nodes")


class AbstractPipeConnection:
    """Base of the pathos pipes (a connection between two nodes)."""

    def __init__(self, *args: Any, **kwds: Any) -> None:
        object.__init__(self)

    def __repr__(self) -> str:
        return f"<pipe {type(self).__name__}>"


class AbstractWorkerPool:
    """Base of the pathos pools: map, imap, uimap, amap, pipe, apipe.

    Important members of a pool: ``nodes`` (number of workers), ``ncpus``,
    ``servers`` (remote pools), ``_id`` (the cache key of its workers).
    """

    __nodes = 1

    def __init__(self, *args: Any, **kwds: Any) -> None:
        object.__init__(self)
        self.__init(*args, **kwds)
        self._id = kwds.get("id", None)

    def __enter__(self) -> "AbstractWorkerPool":
        return self

    def __exit__(self, *args: Any) -> None:
        return None

    def __init(self, *args: Any, **kwds: Any) -> None:
        """The default filter of ``__init__`` inputs: ``nodes``, positional
        or by keyword (not both)."""
        if args:
            if "nodes" in kwds:
                raise TypeError("got multiple values for keyword argument 'nodes'")
            nodes = args[0]
        else:
            nodes = kwds.get("nodes", self.__nodes)
        try:
            self.nodes = nodes
        except (TypeError, AttributeError):      # nodes is read-only here
            pass

    def __map(self, f: Callable, *args: Any, **kwds: Any) -> None:
        """The default filter of ``map`` inputs: at least one iterable."""
        if not args:
            raise TypeError("map() requires at least two args")

    def __imap(self, f: Callable, *args: Any, **kwds: Any) -> None:
        """The default filter of ``imap`` inputs: at least one iterable."""
        if not args:
            raise TypeError("imap() must have at least two arguments")

    def __pipe(self, f: Callable, *args: Any, **kwds: Any) -> None:
        """The default filter of ``pipe`` inputs (pathos checks nothing)."""
        return None

    def _serve(self, *args: Any, **kwds: Any) -> Any:
        """Create a new server if one isn't already initialized."""
        raise NotImplementedError

    def clear(self) -> None:
        """Remove server with matching state."""
        raise NotImplementedError

    def map(self, f: Callable, *args: Any, **kwds: Any) -> list:
        """Run a batch of jobs with a blocking and ordered map: the list of
        ``f`` applied to the items of the iterables (zipped, as builtin map).
        Some maps accept ``chunksize``."""
        raise NotImplementedError

    def imap(self, f: Callable, *args: Any, **kwds: Any) -> Any:
        """Run a batch of jobs with a non-blocking and ordered map: an
        iterator of the results, in input order."""
        raise NotImplementedError

    def uimap(self, f: Callable, *args: Any, **kwds: Any) -> Any:
        """Run a batch of jobs with a non-blocking and unordered map: an
        iterator of the results, in the order they finish."""
        raise NotImplementedError

    def amap(self, f: Callable, *args: Any, **kwds: Any) -> Any:
        """Run a batch of jobs with an asynchronous map: a results object
        with ``get()`` (blocks) and ``ready()``."""
        raise NotImplementedError

    def pipe(self, f: Callable, *args: Any, **kwds: Any) -> Any:
        """Submit a job and block until its result is available."""
        raise NotImplementedError

    def apipe(self, f: Callable, *args: Any, **kwds: Any) -> Any:
        """Submit a job asynchronously: a results object with ``get()`` and
        ``ready()``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<pool {type(self).__name__}()>"

    def __get_nodes(self) -> int:
        """Get the number of nodes in the pool."""
        return self.__nodes

    def __set_nodes(self, nodes: Any) -> None:
        """Set the number of nodes in the pool (read-only here)."""
        raise TypeError("nodes is a read-only attribute")

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup failed: pathos's private
        # ``_<Pool>__nodes`` reads the pool's ``nodes``.
        if _MANGLED_NODES.fullmatch(name) and name.endswith("__nodes"):
            try:
                return object.__getattribute__(self, "nodes")
            except AttributeError:
                pass
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
