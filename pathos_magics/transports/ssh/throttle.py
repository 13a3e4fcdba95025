"""A budget of log lines: the first few of a burst are shown, the rest
counted and summarised once per window.

Both sides use it: the host's server for the connections it refuses (any
user of the host can open them), and the kernel for what a server prints
outside the wire, which it forwards into the notebook.  Imports nothing of
the package, so the server can.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Callable, Optional


class Throttle:
    """Lets ``burst`` events through per ``window`` seconds and counts the rest.

    Args:
        burst: events shown in each window.
        window: seconds of a window; it starts with its first event.
        clock: the time source (seconds, monotonic).

    Example:
        >>> t = Throttle(burst=2, window=10.0, clock=lambda: 0.0)
        >>> [t.allow("refused") for _ in range(4)]
        [True, True, False, False]
        >>> t.hidden
        Counter({'refused': 2})
    """

    def __init__(self, burst: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.window = window
        self.clock = clock
        self.hidden: Counter = Counter()     # what this window did not show, by kind
        self._start: Optional[float] = None
        self._shown = 0

    def allow(self, kind: str = "line") -> bool:
        """Whether to show this event; if not, it is counted under ``kind``."""
        now = self.clock()
        if self._start is None or now - self._start >= self.window:
            if not self.hidden:              # (else the window waits for summary())
                self._start, self._shown = now, 0
        if self._shown < self.burst and not self.hidden:
            self._shown += 1
            return True
        self.hidden[kind] += 1
        return False

    def summary(self, force: bool = False) -> Optional[Counter]:
        """What was hidden, once its window is over (or now, if ``force``);
        None if there is nothing to report yet.  Starts a new window."""
        if not self.hidden:
            return None
        if not force and self.clock() - (self._start or 0.0) < self.window:
            return None
        hidden, self.hidden = self.hidden, Counter()
        self._start, self._shown = None, 0
        return hidden

    @property
    def seconds(self) -> float:
        """How long the current window has lasted."""
        return 0.0 if self._start is None else self.clock() - self._start
