"""Which task a worker's death is blamed on, and when a task is given up.

A worker that dies while running a chunk of several tasks says nothing about
which of them killed it: none is blamed, each runs alone next.  A death while
a task ran alone counts against that task.  How many such deaths a task may
take depends on how often workers die anyway (the map's background loss
rate ``p``: deaths that did not involve the task, per task run): with no
other deaths, ``max_retries`` retries (a task that kills every worker is
named after ``max_retries + 1`` deaths, as before); with workers dying at
random (a flaky node, an OOM killer, a chaos test), as many as it takes for
an innocent task to die that often in a row with probability below
``INNOCENT_ODDS``, and never more than ``MAX_ATTEMPTS``, so a deadly task is
still named in bounded time.
"""
from __future__ import annotations

import collections
import math

INNOCENT_ODDS = 1e-4   # chance we accept of blaming a task for random deaths
MAX_ATTEMPTS = 24      # a task is given up after this many deaths alone, whatever p


class LossLedger:
    """Worker deaths during one map and the tasks each one was running."""

    def __init__(self) -> None:
        self.deaths = 0
        self.involved: collections.Counter[int] = collections.Counter()

    def record(self, start: int, count: int) -> None:
        """A worker died running tasks ``start`` .. ``start + count - 1``."""
        self.deaths += 1
        self.involved.update(range(start, start + count))

    def allowed(self, index: int, done: int, max_retries: int) -> int:
        """How many deaths alone task ``index`` may cause before it is given
        up, given ``done`` tasks of the map completed so far."""
        floor = max_retries + 1
        others = self.deaths - self.involved[index]
        if others <= 0:
            return floor
        p = others / (done + others)
        if p >= 1.0:
            return MAX_ATTEMPTS
        needed = math.ceil(math.log(INNOCENT_ODDS) / math.log(p))
        return min(MAX_ATTEMPTS, max(floor, needed))
