"""ThreadPool: workers are threads of this process (no pickling at all)."""
from __future__ import annotations

from ..transports.base import Transport
from ..transports.thread import ThreadTransport
from .base import AbstractPool


class ThreadPool(AbstractPool):
    """Map over threads: best for I/O-bound tasks or code that drops the GIL."""

    def _transport_options(self) -> tuple[str, ...]:
        return ("initializer", "initargs")

    def _make_transports(self) -> list[tuple[Transport, int]]:
        return [(ThreadTransport(initializer=self._kwds.get("initializer"),
                                 initargs=self._kwds.get("initargs", ())),
                 self._nodes)]

    # pathos's name for the size of a ThreadPool
    nthreads = AbstractPool.nodes
