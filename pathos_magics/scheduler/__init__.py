"""One scheduler for every pool: chunks, windows, retries, cancel, events.

    tasks.py     a submitted map (Map, its named states) and its chunks
    core.py      maps in, chunks out to workers                 (SchedulerCore)
    replies.py   what workers send back: results, errors, output (Replies)
    recovery.py  a worker lost: requeue, replace, fail           (Recovery)
    deadlines.py per-task timeouts, the liveness check           (Deadlines)
    control.py   waiting, cancel, close/join/terminate           (Scheduler)
    results.py   what a map hands back: AsyncResult, iterators
    blame.py     which task a worker's death is blamed on (recovery's LossLedger)
    profiling.py whether maps are profiled on their workers by default

Each of core, replies, recovery, deadlines, control subclasses the one
before it; pools use
:class:`Scheduler`.  Imports point down only: transports, wire, serialize,
events.
"""
from .control import Scheduler
from .results import AsyncResult, TimeoutError, iter_ordered, iter_unordered  # noqa: A004
from .tasks import Map, MapState

__all__ = ["AsyncResult", "Map", "MapState", "Scheduler", "TimeoutError",
           "iter_ordered", "iter_unordered"]
