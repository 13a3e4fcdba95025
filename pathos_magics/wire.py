"""Messages between a scheduler and its workers, and the channel that moves them.

Every transport (thread, local process, ssh host, MPI rank) carries the same
small set of messages; only how the bytes move differs.  A message is a
tuple whose first item names it.  Payloads inside are already serialized
(see :mod:`pathos_magics.serialize`) for out-of-process workers, and plain
objects for in-process ones (threads, the serial pool), which skip pickling.

scheduler -> worker::

    (CODE, key, payload)                 the function of a map, once per worker
    (RUN, map_id, chunk_id, key, kind, data, budget[, profile])
                                         run tasks; kind: SINGLE f(x),
                                         STAR f(*x), CALL f(*args, **kwds);
                                         budget: None, or seconds after which
                                         to stop and return what is done;
                                         profile (only sent when True): run
                                         them under cProfile
    (CANCEL, map_id)                     stop that map's tasks now
    (FORGET, key)                        drop a finished map's function
    (STATE, state)                       a local process takes the kernel's cwd,
                                         environment, sys.path, reloads (procstate.py)
    (STOP,)                              exit after the current chunk

worker -> scheduler::

    (HELLO, info)                        dict: pid, host, python, label
    (DONE, map_id, chunk_id, results, error, elapsed[, stats])
                                         results: the finished tasks' values
                                         in order; error: None, or a payload
                                         for the task after the last result;
                                         stats (a profiled chunk only): the
                                         cProfile ``create_stats()`` dict
    (CANCELLED, map_id, chunk_id)        the chunk was stopped or dropped
    (STALE, map_id, chunk_id, name)      not run: the map's code names a
                                         global this worker holds another
                                         value of (name; None: said before)
    (OUT, stream, text)                  whole lines written to stdout/stderr

Connections between processes are :mod:`multiprocessing.connection`
objects; over a network they are opened with a fresh random authkey, so the
HMAC challenge authenticates every connection.
"""
from __future__ import annotations

import os
import pickle
import threading
from typing import Any

CODE, RUN, CANCEL, FORGET, STOP = "code", "run", "cancel", "forget", "stop"
STATE = "state"
HELLO, DONE, CANCELLED, OUT, STALE = "hello", "done", "cancelled", "out", "stale"
SINGLE, STAR, CALL = 0, 1, 2

_PROTOCOL = pickle.HIGHEST_PROTOCOL


def new_authkey() -> bytes:
    """A fresh random key for one server or job (never reused, never logged)."""
    return os.urandom(32)


class Channel:
    """Pickled messages over a multiprocessing Connection, thread-safe to send."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._send_lock = threading.Lock()

    def send(self, msg: tuple) -> None:
        data = pickle.dumps(msg, protocol=_PROTOCOL)
        with self._send_lock:
            self.conn.send_bytes(data)

    def recv(self) -> tuple:
        return pickle.loads(self.conn.recv_bytes())

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass

    def fileno(self) -> int:
        return self.conn.fileno()
