"""What the kernel's side and the job's side of the MPI transport agree on:
frames (a rank prefix, then a pickled message), control messages and the
invitation rank 0 reads on stdin.  Imports nothing of the package, so the
relay rank loads it fast."""
from __future__ import annotations

import json
import pickle
import struct
from typing import Any

TAG_MSG = 1      # MPI tag: a worker message (pickled by wire.Channel), either way
TAG_BYE = 2      # MPI tag: worker -> relay: my loop ended, I am exiting

PREFIX = struct.Struct("!i")     # the rank in front of every frame
BYE = "bye"                      # kernel -> relay control message
INVITATION_TIMEOUT = 60.0        # rank 0 waits this long for its invitation


def pack_frame(rank: int, msg: tuple) -> bytes:
    """A message for (or from) ``rank``, as it crosses the kernel's link."""
    return PREFIX.pack(rank) + pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_frame(data: Any) -> tuple[int, tuple]:
    """(rank, message) of a frame read from the kernel's link."""
    (rank,) = PREFIX.unpack_from(data)
    return rank, pickle.loads(memoryview(data)[PREFIX.size:])


def invitation(host: str, port: int, authkey: bytes) -> bytes:
    """The one line rank 0 reads on stdin: where the kernel listens, and the key."""
    return (json.dumps({"host": host, "port": port, "authkey": authkey.hex()})
            + "\n").encode()


def parse_invitation(line: str) -> tuple[tuple[str, int], bytes]:
    """((host, port), authkey) from an invitation line; ValueError if malformed."""
    try:
        data = json.loads(line)
        return (data["host"], int(data["port"])), bytes.fromhex(data["authkey"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"missing or bad field {exc}") from exc
