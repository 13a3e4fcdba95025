"""``servers=("localhost:<tunnel port>",)`` on the real ssh test hosts: a
server bound to a host's 127.0.0.1 (started over our ssh toolkit, by
``core.serve`` or by ``tunneled_pathos_server``), a tunnel to it, a pool
mapping through it.  Every server is stopped by its pid; the host-side leak
check (conftest) then finds no Python process on the hosts."""
from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time

import pytest

from pathos_magics import core, ssh
from pathos_magics.pools import ParallelPool
from pathos_magics.pools.servers import ServerSkippedWarning
from pathos_magics.transports.ssh.transport import _read_launch

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)
WAIT = 60.0


def _banner(chan, deadline: float) -> dict:
    """The server's banner fields, read from its exec channel as the ssh
    transport reads them."""
    _, banner, err = _read_launch(chan, deadline)
    assert banner, f"no banner: {err!r}"
    return banner


def _gone(host, pid: int) -> bool:
    return not any(line.split()[0] == str(pid) for line in host.python_processes())


def _wait_gone(host, pid: int) -> None:
    deadline = time.monotonic() + 10
    while not _gone(host, pid):
        assert time.monotonic() < deadline, host.python_processes()
        time.sleep(0.05)


def test_a_pool_maps_through_a_tunnel_to_a_server_on_a_host(net):
    """pathos_server on node0's 127.0.0.1 over an ssh exec channel (the
    secret on its stdin), ssh.Tunnel to it, the pool on the local end."""
    node = net["node0"]
    port = ssh.portpicker("node0", python=sys.executable)
    key = os.urandom(32)
    argv = [sys.executable, "-m", "pathos_magics.transports.ssh.standalone",
            "--secret-stdin", "--port", str(port), "--workers", "2"]
    chan = ssh.get_session("node0").exec(shlex.join(argv))
    pid = None
    try:
        chan.sendall(key.hex().encode() + b"\n")
        banner = _banner(chan, time.monotonic() + WAIT)
        pid = int(banner["pid"])
        assert int(banner["port"]) == port and not _gone(node, pid)
        with ssh.Tunnel("node0", remote_port=port) as tunnel:
            pool = ParallelPool(servers=(f"localhost:{tunnel.local_port}",), ncpus=0,
                                secret=key)
            got = pool.map(lambda x: (x + 1, os.uname().nodename), range(40))
            assert [v for v, _ in got] == list(range(1, 41))
            assert len(pool.workers) == 2
            assert all(w.host == f"localhost:{tunnel.local_port}" for w in pool.workers)
            pool.clear()
    finally:
        if pid is not None:
            ssh.Pipe("node0").run(["kill", "-TERM", str(pid)], timeout=20)
            assert chan.status_event.wait(10) and chan.recv_exit_status() == 0
            _wait_gone(node, pid)
        chan.close()


def test_core_serve_and_connect_then_a_pool_with_the_secret_file(net):
    """pathos's recipe: core.serve on a host, core.connect, then the pool
    joins with the per-user secret file (which serve sent to the host)."""
    launcher = core.serve("pathos_magics.server", "node1", python=sys.executable,
                          workers=2)
    try:
        tunnel = core.connect("node1", launcher.port)
        try:
            pool = ParallelPool(servers=(f"localhost:{tunnel._lport}",), ncpus=1)
            assert sorted(pool.map(abs, range(-30, 0))) == list(range(1, 31))
            assert len(pool.workers) == 3
            pool.clear()
        finally:
            tunnel.disconnect()
    finally:
        launcher.kill()
    _wait_gone(net["node1"], launcher.server_pid)


def test_a_tunnel_to_a_server_that_is_down_warns_and_the_pool_runs_locally(net):
    port = ssh.portpicker("node0", python=sys.executable)       # nothing listens
    with ssh.Tunnel("node0", remote_port=port) as tunnel:
        with pytest.warns(ServerSkippedWarning, match="no server answers"):
            pool = ParallelPool(servers=(f"localhost:{tunnel.local_port}",), ncpus=1,
                                secret=os.urandom(16))
        assert pool.map(abs, [-5, -6]) == [5, 6]
        pool.clear()


def _read_until(proc: subprocess.Popen, marker: str, deadline: float) -> list[str]:
    """Lines of the script's stdout up to the one with ``marker`` (a reader
    thread: a select on a buffered pipe would miss lines already read)."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put("")],
                     daemon=True).start()
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if not line:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"no {marker!r} from the script: {seen}")


def test_tunneled_pathos_server_end_to_end(net):
    node = net["node1"]
    proc = subprocess.Popen([os.path.join(BIN, "tunneled_pathos_server"), "node1",
                             "--workers", "2", "--python", sys.executable],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = _read_until(proc, "Connected to localhost at port=",
                            time.monotonic() + WAIT)
        text = "".join(lines)
        pid = int(text.split("with pid=")[1].split()[0])
        local = int(text.split("Connected to localhost at port=")[1].split()[0])
        assert not _gone(node, pid)                 # the server runs on node1
        pool = ParallelPool(servers=(f"localhost:{local}",), ncpus=0)
        assert pool.map(lambda x: x * 3, range(25)) == [x * 3 for x in range(25)]
        pool.clear()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0
        _wait_gone(node, pid)                       # it took the server with it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
