"""pathos.parallel: ``from pathos_magics.parallel import ParallelPool, stats``.

:class:`pathos_magics.pools.ParallelPool` (alias ``ParallelPythonPool``):
local worker processes plus workers on other hosts (``servers=``).  pathos
runs it on parallelpython (ppft); here it is the same scheduler as every
other pool, so there is no ``pp`` module, and ``stats`` reports tasks per
host from the scheduler's counts (pp also reports job times).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Optional

from .abstract_launcher import AbstractWorkerPool  # noqa: F401 - pathos's names
from .pools import ParallelPool, cpu_count  # noqa: F401 - pathos's names

__all__ = ["ParallelPool", "stats"]

ParallelPythonPool = ParallelPool    # pathos's backward-compatible name

#: The cached pools of this type, by id (a live view; pathos's ``__STATE``).
__STATE = _ParallelPool__STATE = ParallelPool.__state__


def stats(pool: Optional[ParallelPool] = None) -> str:
    """Tasks done per host, as text: of ``pool``, or of every cached
    ParallelPool.

    Returns:
        A table (task count, share, live workers, host per line), or a line
        saying there is nothing to report.
    """
    if pool is None:
        scheds = list(ParallelPool.__state__.values())
        missing = "; no active servers"
    else:
        current = pool._current()
        scheds = [] if current is None else [current]
        missing = " for the requested servers"
    if not scheds:
        return f"Stats are not available{missing}.\n"
    return "".join(_table(s.workers) for s in scheds)


def _table(workers: Iterable[Any]) -> str:
    done: Counter = Counter()
    count: Counter = Counter()
    for w in workers:
        host = "local" if w.host == "localhost" else w.host
        done[host] += w.tasks_done
        count[host] += 1
    total = sum(done.values())
    lines = ["Job execution statistics:",
             " job count | % of all jobs | workers | job server"]
    for host in sorted(count, key=lambda h: (h != "local", h)):
        share = 100.0 * done[host] / total if total else 0.0
        lines.append(f" {done[host]:9d} | {share:13.2f} | {count[host]:7d} | {host}")
    lines.append(f"{sum(count.values())} live workers, {total} jobs done")
    return "\n".join(lines) + "\n\n"
