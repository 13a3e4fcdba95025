"""pathos_magics: parallel and distributed map from inside a notebook.

    from pathos_magics.pools import ProcessPool
    ProcessPool(4).map(lambda x: x ** 2, range(10))

In IPython/Jupyter: ``%load_ext pathos_magics`` for ``%%pmap`` and ``%pathos``.
Nothing here imports IPython or ipywidgets until the extension is loaded.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:       # lazy: importing the package is cheap
    if name in ("ProcessPool", "ThreadPool", "SerialPool", "ProcessingPool",
                "ThreadingPool", "ParallelPool", "RemotePool", "MpiPool",
                "cpu_count", "shutdown"):
        from . import pools
        return getattr(pools, name)
    if name == "Pool":
        from .active import Pool
        return Pool
    raise AttributeError(f"module 'pathos_magics' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext pathos_magics``."""
    from .magics import load_ipython_extension as load
    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext pathos_magics``: undo everything load did."""
    from .magics import unload_ipython_extension as unload
    unload(ipython)
