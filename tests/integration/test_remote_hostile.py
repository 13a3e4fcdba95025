"""Hostile neighbours on a remote host: other users connecting to the
server's port, or planting code in a shared package folder."""
from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
import time

import pytest

from pathos_magics.transports.ssh.transport import SSHTransport

pytestmark = pytest.mark.integration

PY = sys.executable       # the hosts share this file system: same venv
LOGGER = "pathos_magics.transports.ssh.transport"

_FLOOD = textwrap.dedent("""
    import socket, sys
    port, count = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"not a challenge answer")
        s.close()
""")


def _refusals(records) -> tuple[int, int, list[str]]:
    """(refusals logged one by one, refusals summarised, the lines)."""
    lines = [r.getMessage() for r in records
             if r.name == LOGGER and r.levelno >= logging.WARNING]
    one = sum("refused a connection" in ln for ln in lines)
    summed = sum(int(m.group(1)) for ln in lines
                 for m in [re.search(r"refused (\d+) more connections", ln)] if m)
    return one, summed, lines


def test_a_flood_of_refused_connections_is_summarised(net, caplog):
    """300 bogus connections to the server's port from inside the host: the
    kernel shows a few lines and a count, not 300 lines."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    t = SSHTransport("node0", workers=1, python=PY)
    try:
        t.prepare()
        subprocess.run(net["node0"].exec_argv(PY, "-c", _FLOOD, str(t._server.port),
                                              "300"), check=True, timeout=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            one, summed, lines = _refusals(caplog.records)
            if one + summed >= 300:
                break
            time.sleep(0.1)
    finally:
        t.close(5.0)
    one, summed, lines = _refusals(caplog.records)
    assert one + summed == 300, lines
    assert summed > 0, lines
    assert len(lines) <= 10, lines


def test_a_flood_of_output_outside_the_wire_is_summarised(net, caplog):
    """What the server's processes write straight to their file descriptors
    reaches the notebook within a budget of lines, then as a count."""
    from pathos_magics.pools.parallel import ParallelPool
    from pathos_magics.transports.ssh.transport import OUTPUT_LINES
    caplog.set_level(logging.WARNING, logger=LOGGER)

    def shout(n):
        import os
        for i in range(n):
            os.write(2, b"raw line %d\n" % i)
        return n

    pool = ParallelPool(servers=("node0:1",), ncpus=0, python=PY)
    assert pool.map(shout, [150]) == [150]
    pool.clear()                                   # the stream ends: the count is said
    deadline = time.monotonic() + 10
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
        told = [int(m.group(1)) for ln in lines
                for m in [re.search(r"(\d+) more lines of its output not shown", ln)]
                if m]
        if told or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    raw = [ln for ln in lines if "raw line" in ln]
    assert len(raw) == OUTPUT_LINES, lines
    assert sum(told) == 150 - OUTPUT_LINES, lines
