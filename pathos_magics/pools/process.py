"""ProcessPool: workers are local processes."""
from __future__ import annotations

from ..transports.base import Transport
from ..transports.process import ProcessTransport
from .base import AbstractPool


class ProcessPool(AbstractPool):
    """Map over local worker processes.

    Args:
        nodes: number of worker processes (default: one per usable CPU).
        context: start method, 'fork', 'spawn' or 'forkserver' (default:
            the platform's). Functions, lambdas and classes defined in the
            notebook work with each.
        initializer, initargs: each worker calls ``initializer(*initargs)``
            once when it starts (as in pathos and multiprocessing).
    """

    def _transport_options(self) -> tuple[str, ...]:
        return ("context", "initializer", "initargs")

    def _make_transports(self) -> list[tuple[Transport, int]]:
        return [(ProcessTransport(self._kwds.get("context"),
                                  initializer=self._kwds.get("initializer"),
                                  initargs=self._kwds.get("initargs", ())),
                 self._nodes)]
