"""The contract between the scheduler and a transport."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional, Protocol

from .. import wire

_log = logging.getLogger(__name__)


class WorkerSink(Protocol):
    """What a transport calls back (the scheduler implements it)."""

    def on_message(self, worker: "WorkerHandle", msg: tuple) -> None: ...

    def on_lost(self, worker: "WorkerHandle", reason: str) -> None: ...


class WorkerHandle:
    """The scheduler's view of one worker.

    Attributes:
        label: a short unique name shown to users ("local-0", "node1-3").
        host: where it runs.
        pid: its process id on that host, when known.
        in_process: True when messages carry live objects (threads, serial),
            False when payloads must be serialized.
        forked: forked from this process, so it may hold the notebook's
            globals already (see inherit.py).
    """

    in_process = False
    follows_kernel = False      # a local process: it takes the kernel's cwd, env, path

    def __init__(self, label: str, host: str = "localhost",
                 pid: Optional[int] = None) -> None:
        self.label = label
        self.host = host
        self.pid = pid
        self.transport: Optional["Transport"] = None
        self.forked = False
        self.lost = False
        self.unreachable = False     # a send failed; loss handling pending
        self.heard = time.monotonic()   # last message from it (liveness check)
        self.tasks_done = 0
        # scheduler bookkeeping (owned by the scheduler, under its lock)
        self.inflight: dict[int, Any] = {}
        self.known_code: set[int] = set()
        self.state_version = 0       # the kernel process state it has (procstate)

    def send(self, msg: tuple) -> None:
        """Deliver one message; raise OSError if the worker is unreachable."""
        raise NotImplementedError

    def stop(self, timeout: float) -> None:
        """Ask the worker to exit; kill it if it has not within ``timeout``."""
        raise NotImplementedError

    def kill(self) -> None:
        """Stop the worker now (its running task is lost)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "lost" if self.lost else f"{len(self.inflight)} chunks in flight"
        return f"<{type(self).__name__} {self.label} pid={self.pid} {state}>"


class Transport:
    """Starts workers of one kind.

    Attributes:
        name: shown in reprs and status ("process", "thread", "ssh:node1").
        can_replace: whether a lost worker can be replaced by a new one.
        in_process: its workers take live objects (no serialization).
    """

    name = "transport"
    can_replace = True
    in_process = False

    def start(self, count: int, sink: WorkerSink, first_index: int = 0
              ) -> list[WorkerHandle]:
        """Start ``count`` workers that report to ``sink``."""
        raise NotImplementedError

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker this transport started (bounded by ``timeout``)."""


class ChannelWorker(WorkerHandle):
    """A worker reached through a :class:`wire.Channel`, with a reader thread
    that feeds the sink until the channel closes."""

    def __init__(self, label: str, channel: wire.Channel, sink: WorkerSink,
                 host: str = "localhost", pid: Optional[int] = None) -> None:
        super().__init__(label, host, pid)
        self.channel = channel
        self._sink = sink
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"pathos-reader-{label}")

    def start_reader(self) -> None:
        self._reader.start()

    def stop(self, timeout: float) -> None:
        """Ask the worker to exit, wait up to ``timeout`` for its channel to
        close, then close our end (which ends it if it has not)."""
        stop_together([self], timeout)

    def ask_to_stop(self) -> None:
        try:
            self.channel.send((wire.STOP,))
        except (OSError, ValueError):
            pass

    def join_reader(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the reader to see the channel close
        (a worker stopped before its reader started has none to wait for)."""
        if self._reader.ident is not None:
            self._reader.join(timeout)

    def _read(self) -> None:
        while self.read_one():
            pass

    def read_one(self) -> bool:
        """Take one message and hand it to the sink; False once the worker
        is gone (the sink has then been told, with the reason)."""
        try:
            msg = self._recv()
        except (EOFError, OSError) as exc:
            reason = "its connection closed"
            if isinstance(exc, OSError) and not isinstance(exc, EOFError):
                reason = f"its connection failed ({exc})"
            self._sink.on_lost(self, self._why_lost(reason))
            return False
        try:
            self._sink.on_message(self, msg)
        except Exception as exc:    # noqa: BLE001 - a bug must not hang a map
            _log.exception("handling a message from worker %s failed", self.label)
            self.kill()
            self._sink.on_lost(self, self._why_lost(
                f"handling its message failed ({type(exc).__name__}: {exc})"))
            return False
        return True

    def _recv(self) -> tuple:
        return self.channel.recv()

    def _why_lost(self, default: str) -> str:
        return default

    def send(self, msg: tuple) -> None:
        self.channel.send(msg)


def stop_together(workers: list, timeout: float) -> None:
    """Stop channel workers within ``timeout`` in all: STOP to every one
    first, so that they exit side by side, then wait for each channel to
    close while time is left, and close our end of each (which ends a worker
    that has not)."""
    deadline = time.monotonic() + timeout
    for w in workers:
        w.ask_to_stop()
    for w in workers:
        w.join_reader(max(0.0, deadline - time.monotonic()))
        w.kill()
