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
    if name == "panel":                  # the host picker: panel()
        from .hostpanel import panel
        return panel
    raise AttributeError(f"module 'pathos_magics' has no attribute {name!r}")


def _progress_in_notebooks() -> None:
    # In a kernel (or IPython), maps show progress without %load_ext; in a
    # plain script nothing is shown.  progress.py imports no IPython itself.
    import sys
    if "ipykernel" in sys.modules or "IPython" in sys.modules:
        from . import progress
        if progress.policy() == "off":
            progress.enable("auto")


_progress_in_notebooks()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext pathos_magics``."""
    from .magics import load_ipython_extension as load
    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext pathos_magics``: undo everything load did."""
    from .magics import unload_ipython_extension as unload
    unload(ipython)
