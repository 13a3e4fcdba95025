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
    (PING,)                              answer PONG (liveness check; the
                                         worker's reader answers, not the
                                         task, so a busy worker answers too)

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
    (PONG,)                              the answer to PING

Connections between processes are :mod:`multiprocessing.connection`
objects; over a network they are opened with a fresh random authkey, so the
HMAC challenge authenticates every connection.

Big buffers (a numpy array's memory, see :class:`serialize.Pickled`) are
pickled out of band (protocol 5): over a local Connection a message is then
one frame ``M<count><pickle>`` followed by one frame per buffer, written
from the array's own memory and read straight into the bytearray the
receiver's array will wrap, so a big array is copied once each way, not
pickled into a blob and copied again.  Other connections (ssh channels,
MPI ranks, whose relays move one frame per message) get one frame with the
buffers in band; every receiver understands both.
"""
from __future__ import annotations

import multiprocessing.connection
import os
import pickle
import struct
import threading
from typing import Any

import multiprocess.connection

CODE, RUN, CANCEL, FORGET, STOP = "code", "run", "cancel", "forget", "stop"
STATE = "state"
HELLO, DONE, CANCELLED, OUT, STALE = "hello", "done", "cancelled", "out", "stale"
PING, PONG = "ping", "pong"
SINGLE, STAR, CALL = 0, 1, 2

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_MULTI = b"M"                   # a pickle never starts with it
_COUNT = struct.Struct("!I")
OUT_OF_BAND_MIN = 64 * 1024     # smaller buffers stay in the message
#: Connections whose framing (``!i`` length, or -1 then ``!Q``) is read
#: straight from their file descriptor into the receiver's buffer.
_RAW = (multiprocessing.connection.Connection, multiprocess.connection.Connection)


def new_authkey() -> bytes:
    """A fresh random key for one server or job (never reused, never logged)."""
    return os.urandom(32)


class Channel:
    """Pickled messages over a multiprocessing Connection, thread-safe to send."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._send_lock = threading.Lock()
        # several frames per message only where every relay passes them on
        self._frames = isinstance(conn, _RAW)

    def send(self, msg: tuple) -> None:
        buffers: list[memoryview] = []

        def apart(buf: pickle.PickleBuffer) -> bool:
            raw = buf.raw()
            if raw.nbytes < OUT_OF_BAND_MIN:
                return True              # in band
            buffers.append(raw)
            return False

        data = pickle.dumps(msg, protocol=_PROTOCOL,
                            buffer_callback=apart if self._frames else None)
        with self._send_lock:
            if not buffers:
                self.conn.send_bytes(data)
                return
            self.conn.send_bytes(_MULTI + _COUNT.pack(len(buffers)) + data)
            for raw in buffers:
                self.conn.send_bytes(raw)

    def recv(self) -> tuple:
        data = self.conn.recv_bytes()
        if data[:1] != _MULTI:
            return pickle.loads(data)
        count, = _COUNT.unpack_from(data, 1)
        buffers = [self._recv_buffer() for _ in range(count)]
        return pickle.loads(memoryview(data)[1 + _COUNT.size:], buffers=buffers)

    def _recv_buffer(self) -> bytearray:
        """One frame, as a writable buffer (an array built on it is writable)."""
        if isinstance(self.conn, _RAW):
            fd = self.conn.fileno()
            size, = struct.unpack("!i", _read_exact(fd, 4))
            if size == -1:
                size, = struct.unpack("!Q", _read_exact(fd, 8))
            return _read_exact(fd, size)
        data = self.conn.recv_bytes()
        return data if isinstance(data, bytearray) else bytearray(data)

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass

    def fileno(self) -> int:
        return self.conn.fileno()


def _read_exact(fd: int, size: int) -> bytearray:
    """``size`` bytes from ``fd`` into a new bytearray, with no other copy."""
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise EOFError("the connection closed in the middle of a message")
        got += n
    return buf
