"""pathos.helpers.mp_helper: ``starargs`` and random generators for workers.

    >>> pool = helpers.ProcessPool(4)              # a raw multiprocess pool
    >>> pool.map(starargs(pow), zip([1, 2], [3, 4]))
    [1, 16]

In a worker, ``random_state(seed='*')`` gives a generator seeded from the
process id and the clock, so workers do not repeat each other's numbers.
"""
from __future__ import annotations

import importlib
import random as _random
import time
from types import ModuleType
from typing import Any, Callable

__all__ = ["starargs", "random_seed", "random_state"]

_STAR_NOTE = "\nNOTE: all inputs have been compressed into a single argument"


def starargs(f: Callable) -> Callable[[tuple], Any]:
    """Convert a many-argument function into one taking a single tuple.

    Example:
        ``starargs(pow)((2, 3)) == 8``
    """
    def func(args: tuple) -> Any:
        return f(*args)
    func.__doc__ = (f.__doc__ + _STAR_NOTE) if f.__doc__ else None
    return func


def random_seed(s: Any = None) -> None:
    """Seed ``random`` and, if numpy is installed, ``numpy.random``."""
    _random.seed(s)
    try:
        import numpy.random
    except ImportError:
        return
    numpy.random.seed(s)


def random_state(module: Any = "random", new: bool = False, seed: Any = "!") -> Any:
    """A random number generator, optionally a new one, optionally seeded.

    Args:
        module: ``'random'``, ``'numpy'``/``'numpy.random'``, another module
            name, or a module object with ``RandomState`` or ``Random``.
        new: a fresh generator instead of the module's global one.
        seed: ``'!'`` leaves the seed alone, ``None`` reseeds from the
            system, ``'*'`` seeds from the process id and the clock (distinct
            per worker), anything else is the seed.

    Returns:
        The module (``new=False``) or a new generator instance.

    Raises:
        AttributeError: the module has neither ``RandomState`` nor ``Random``.
    """
    rng = _rng_module(module)
    make = getattr(rng, "RandomState", None) or getattr(rng, "Random")
    if new:
        rng = make()
    if seed == "!":
        return rng
    if seed == "*":
        import multiprocess
        seed = multiprocess.current_process().pid + int(time.time() * 1e6)
    rng.seed(seed)
    return rng


def _rng_module(module: Any) -> Any:
    if module == "random":
        return _random
    if not isinstance(module, ModuleType):
        name = "numpy.random" if module == "numpy" else module
        return importlib.import_module(name)
    if module.__name__ == "numpy":
        return importlib.import_module("numpy.random")
    return module
