"""SerialPool: the same API, run in the caller's thread (for debugging)."""
from __future__ import annotations

from ..transports.base import Transport
from ..transports.serial import SerialTransport
from .base import AbstractPool


class SerialPool(AbstractPool):
    """Runs every task in the calling thread, one after another.

    The same scheduler, events and progress as the parallel pools, so
    switching a notebook between serial and parallel changes nothing else.
    """

    _default_nodes = 1

    def _make_transports(self) -> list[tuple[Transport, int]]:
        return [(SerialTransport(), 1)]

    @property
    def name(self) -> str:
        return "SerialPool()"
