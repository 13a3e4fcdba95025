"""pathos.threading: ``from pathos_magics.threading import ThreadPool``.

``ThreadPool`` (alias ``ThreadingPool``) is :class:`pathos_magics.pools.ThreadPool`;
``_ThreadPool`` is the raw multiprocess thread pool class, as in pathos.
"""
from __future__ import annotations

from .abstract_launcher import AbstractWorkerPool  # noqa: F401 - pathos's names
from .helpers import ThreadPool as _ThreadPool  # noqa: F401 - pathos's names
from .helpers import cpu_count  # noqa: F401 - pathos's names
from .helpers.mp_helper import starargs as star  # noqa: F401 - pathos's names
from .pools import ThreadPool

__all__ = ["ThreadPool", "_ThreadPool"]

ThreadingPool = ThreadPool

#: The cached pools of this type, by id (a live view; pathos's ``__STATE``).
__STATE = _ThreadPool__STATE = ThreadPool.__state__
