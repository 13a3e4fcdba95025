"""pathos.multiprocessing: ``from pathos_magics.multiprocessing import ProcessingPool as Pool``.

The same classes as :mod:`pathos_magics.pools` (not copies): ``ProcessPool``
(alias ``ProcessingPool``) maps over local worker processes.  As in pathos,
``_ProcessPool`` (also ``Pool``) is the raw multiprocess pool class,
``ThreadPool`` here is the raw multiprocess thread pool (pathos keeps it for
backward compatibility) and ``ThreadingPool`` the pathos thread pool.
"""
from __future__ import annotations

from .abstract_launcher import AbstractWorkerPool  # noqa: F401 - pathos's names
from .helpers import ProcessPool as Pool  # noqa: F401 - pathos's names
from .helpers import ThreadPool, cpu_count, freeze_support  # noqa: F401 - pathos's names
from .helpers.mp_helper import starargs as star  # noqa: F401 - pathos's names
from .pools import ProcessPool
from .threading import ThreadPool as ThreadingPool  # noqa: F401 - pathos's names

__all__ = ["ProcessPool", "_ProcessPool"]

_ProcessPool = Pool
ProcessingPool = ProcessPool

#: The cached pools of this type, by id (a live view; pathos's ``__STATE``).
__STATE = _ProcessPool__STATE = ProcessPool.__state__
