"""pathos.secure and pathos.core on the real sshd test hosts: run a command,
copy both ways, tunnel to a port bound to a host's 127.0.0.1, serve."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from urllib.request import urlopen

import pytest

from pathos_magics import core
from pathos_magics.secure import Copier, Pipe, Tunnel

pytestmark = pytest.mark.integration


def test_secure_pipe_runs_on_the_host(net):
    pipe = Pipe()
    pipe(command="ip -4 -o addr show eth0; echo err >&2", host="node0")
    pipe.launch()
    assert net["node0"].address in pipe.response() and pipe.pid() == 0


def test_execute_in_background_pid_and_kill_on_the_host(net):
    launcher = core.execute(f"{sys.executable} -c 'import time; time.sleep(60)'", "node1")
    pid = launcher.pid()
    assert pid > 0
    assert core.getppid(pid, "node1") > 0                  # it runs there
    assert any(str(pid) == line.split()[0] for line in
               core.getpid(pid, "node1", all=True).splitlines())
    launcher.kill()
    deadline = time.monotonic() + 10
    while not net["node1"].python_processes() == []:
        assert time.monotonic() < deadline, net["node1"].python_processes()
        time.sleep(0.1)
    with pytest.raises(OSError):
        core.kill(pid, "node1")


def test_copy_a_file_both_ways(net, tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(b"payload\x00\xff" * 1000)
    remote = f"/tmp/pm-secure-{os.getpid()}.bin"
    copier = core.copy(str(src), f"node0:{remote}")
    assert isinstance(copier, Copier)
    assert core.execute(["sha256sum", remote], "node0", bg=False).response().split()[0] \
        == subprocess.run(["sha256sum", str(src)], capture_output=True, text=True,
                          check=True).stdout.split()[0]
    back = tmp_path / "back.bin"
    Copier(source=f"root@node0:{remote}", destination=str(back)).launch()
    assert back.read_bytes() == src.read_bytes()
    core.execute(["rm", "-f", remote], "node0", bg=False).response()


@pytest.fixture
def loopback_http(net):
    host = net["node0"]
    port = _free_port_on(host)
    proc = host.popen(sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                      str(port), "--directory", os.path.dirname(__file__),
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    probe = [sys.executable, "-c",
             f"import socket;socket.create_connection(('127.0.0.1',{port}),1)"]
    while subprocess.run(host.exec_argv(*probe), capture_output=True).returncode:
        assert time.monotonic() < deadline, "the test service did not start"
        time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(5)


def _free_port_on(host) -> int:
    out = subprocess.run(host.exec_argv(sys.executable, "-c",
                         "import socket;s=socket.socket();s.bind(('127.0.0.1',0));"
                         "print(s.getsockname()[1])"), capture_output=True, text=True,
                         check=True, timeout=20)
    return int(out.stdout)


def test_tunnel_connect_reaches_a_loopback_port(net, loopback_http):
    tunnel = core.connect("node0", loopback_http)
    try:
        assert isinstance(tunnel, Tunnel) and tunnel.connected
        with urlopen(f"http://127.0.0.1:{tunnel._lport}/sshhosts.py", timeout=10) as r:
            assert b"TestNetwork" in r.read()
    finally:
        tunnel.disconnect()
    assert not tunnel.connected
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", tunnel._lport or 1), 2).close()


def test_randomport_on_the_host(net):
    assert 0 < core.randomport("node1") < 65536


def test_serve_on_a_host_and_reach_it_through_a_tunnel(net):
    launcher = core.serve("pathos_magics.server", "node1", python=sys.executable,
                          workers=1)
    try:
        assert launcher.port > 0 and launcher.pid() > 0
        tunnel = core.connect("node1", launcher.port)
        try:
            socket.create_connection(("127.0.0.1", tunnel._lport), 5).close()
        finally:
            tunnel.disconnect()
    finally:
        launcher.kill()          # the host-side leak check then finds nothing


def test_pathos_tunnel_script(net, loopback_http):
    exe = os.path.join(os.path.dirname(sys.executable), "pathos_tunnel")
    proc = subprocess.Popen([exe, "node0", str(loopback_http)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "port=" in line, line
        local = int(line.split("port=")[1].split()[0])
        with urlopen(f"http://127.0.0.1:{local}/conftest.py", timeout=10) as r:
            assert r.read().startswith(b'"""Fixtures')
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
