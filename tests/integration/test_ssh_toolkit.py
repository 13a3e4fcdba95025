"""The ssh toolkit against real sshd hosts: Pipe, Copier, Tunnel, portpicker,
sessions and host-key checking."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from pathos_magics import ssh
from pathos_magics.ssh import (CommandError, Copier, HostKeyError, Pipe, Tunnel,
                               portpicker)

pytestmark = pytest.mark.integration


# ---------------------------------------------------------------- Pipe

def test_pipe_returns_stdout_stderr_and_exit_status(net):
    result = Pipe("node0").run("echo out; echo err >&2; exit 3")
    assert (result.stdout, result.stderr, result.exit_status) == ("out\n", "err\n", 3)
    assert not result.ok
    with pytest.raises(CommandError, match="exited with status 3"):
        result.check()


def test_pipe_quotes_argv_for_the_remote_shell(net):
    tricky = ["it's", "a b", "$HOME", "; rm -rf /", '"q"']
    out = Pipe("node1").run(["printf", "%s\\n", *tricky], check=True).stdout
    assert out.splitlines() == tricky


def test_pipe_sends_input_and_honours_timeout(net):
    assert Pipe("node0").run(["cat"], input="hello").stdout == "hello"
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        Pipe("node0").run(["sleep", "30"], timeout=0.5)
    assert time.monotonic() - t0 < 5


def test_pipe_stream_yields_lines_as_they_come(net):
    stream = Pipe("node1").stream("for i in 1 2 3; do echo $i; sleep 0.05; done; "
                                  "echo oops >&2; exit 2")
    lines = list(stream)
    assert [t for s, t in lines if s == "stdout"] == ["1", "2", "3"]
    assert ("stderr", "oops") in lines
    assert stream.exit_status == 2


def test_pipe_runs_in_the_host_network(net):
    """The command really runs on the test host: it sees the host's address."""
    out = Pipe("node0").run(["ip", "-4", "-o", "addr", "show", "eth0"]).stdout
    assert net["node0"].address in out


def test_one_session_per_host_is_shared(net):
    Pipe("node0").run(["true"])
    Copier("node0").put(__file__, f"/tmp/pm-share-{os.getpid()}.py")
    Pipe("node0").run(["rm", "-f", f"/tmp/pm-share-{os.getpid()}.py"])
    hosts = [s.target.alias for s in ssh.sessions()]
    assert hosts.count("node0") == 1


# ---------------------------------------------------------------- Copier

def test_copier_puts_and_gets_a_folder(net, tmp_path):
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    (src / "sub" / "deeper" / "c.txt").write_text("gamma")
    remote = str(tmp_path / "on-host")           # the hosts share this file system
    written = Copier("node1").put(str(src), remote)
    assert len(written) == 3
    listing = Pipe("node1").run(["find", remote, "-type", "f"]).stdout.split()
    assert sorted(os.path.relpath(p, remote) for p in listing) == \
        ["a.txt", "sub/b.bin", "sub/deeper/c.txt"]
    back = tmp_path / "back"
    Copier("node1").get(remote, str(back))
    for rel in ("a.txt", "sub/b.bin", "sub/deeper/c.txt"):
        assert (back / rel).read_bytes() == (src / rel).read_bytes()


def test_copier_file_into_folder_and_missing_source(net, tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("1")
    dest = str(tmp_path / "dest") + "/"
    assert Copier("node0").put(str(f), dest) == [dest + "one.txt"]
    with pytest.raises(FileNotFoundError):
        Copier("node0").put(str(tmp_path / "nope"), dest)
    with pytest.raises(FileNotFoundError, match="node0"):
        Copier("node0").get(str(tmp_path / "nope"), str(tmp_path / "x"))


# ---------------------------------------------------------------- ports, tunnels

def test_portpicker_local_and_remote(net):
    local = portpicker()
    with socket.socket() as s:
        s.bind(("127.0.0.1", local))            # it was free
    remote = portpicker("node0", python=sys.executable)
    assert 0 < remote < 65536


@pytest.fixture
def loopback_service(net):
    """An echo-like HTTP server bound to 127.0.0.1 inside node0 only."""
    host = net["node0"]
    port = portpicker("node0", python=sys.executable)
    proc = host.popen(sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                      str(port), "--directory", os.path.dirname(__file__),
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = [sys.executable, "-c",
             f"import socket;socket.create_connection(('127.0.0.1',{port}),1)"]
    deadline = time.monotonic() + 10
    while not Pipe("node0").run(probe).ok:          # up, as seen from the host
        assert time.monotonic() < deadline, "the test service did not start"
        time.sleep(0.1)
    yield host, port
    proc.terminate()
    proc.wait(5)


def test_tunnel_reaches_a_port_bound_to_the_hosts_loopback(net, loopback_service):
    host, port = loopback_service
    # First: unreachable directly, from here, on either address.
    with pytest.raises(OSError):
        socket.create_connection((host.address, port), timeout=2).close()
    if ssh.tunnel.local_port_free(port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with Tunnel("node0", remote_port=port) as t:
        assert t.state == "open" and t.local_port
        body = _http_get(t.local_port, "/sshhosts.py")
        assert "TestNetwork" in body
        assert _http_get(t.local_port, "/conftest.py").startswith('"""Fixtures')
        assert t.connections == 2
    assert t.state == "closed"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", t.local_port), timeout=2).close()


def test_tunnel_registry_for_the_magics(net, loopback_service):
    _, port = loopback_service
    t = ssh.open_tunnel("node0", port)
    assert ssh.open_tunnel("node0", port) is t           # reused while open
    assert [x.describe()["state"] for x in ssh.tunnels()] == ["open"]
    assert "TestNetwork" in _http_get(t.local_port, "/sshhosts.py")
    assert ssh.close_tunnel("node0", port)
    assert not ssh.close_tunnel("node0", port)
    assert t.state == "closed" and ssh.tunnels() == []


def test_tunnel_to_an_unreachable_host_is_listed_as_failed(net):
    ghost = f"root@{net['node0'].gateway}"
    with pytest.raises(ssh.SSHError):
        ssh.open_tunnel(ghost, 8888, port=1, timeout=3)
    [t] = ssh.tunnels()
    assert t.describe()["state"] == "failed" and "could not reach" in t.error
    assert ssh.close_tunnel(ghost, 8888)


def test_tunnel_spec_parsing():
    assert ssh.parse_tunnel_spec("node1:8888") == ("node1", 8888)
    assert ssh.parse_tunnel_spec("u@node1:22") == ("u@node1", 22)
    for bad in ("node1", ":80", "node1:0", "node1:http", "node1:70000"):
        with pytest.raises(ValueError, match="host:port"):
            ssh.parse_tunnel_spec(bad)


def test_tunnel_to_a_closed_port_reports_the_refusal(net):
    port = portpicker("node1", python=sys.executable)     # nothing listens there
    with Tunnel("node1", remote_port=port) as t:
        with socket.create_connection(("127.0.0.1", t.local_port), timeout=5) as c:
            c.settimeout(5)
            assert c.recv(10) == b""                      # closed, not hung
        deadline = time.monotonic() + 5
        while t.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "refused" in t.error


def _http_get(port: int, path: str) -> str:
    from urllib.request import urlopen
    with urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read().decode()


# ---------------------------------------------------------------- config, keys

def test_ssh_config_is_honoured(net):
    target = ssh.resolve("node1")
    assert target.hostname == net["node1"].address
    assert target.user == "root" and target.port == 22
    assert target.identity_files == (net.key,)
    assert ssh.resolve("someone@node1").user == "someone"


def test_proxyjump_through_a_host(net, tmp_path, monkeypatch):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(open(net.ssh_config).read() +
                   f"Host jumped\n  HostName {net['node0'].address}\n  User root\n"
                   f"  IdentityFile {net.key}\n  ProxyJump node0\n")
    monkeypatch.setenv("PATHOS_MAGICS_SSH_CONFIG", str(cfg))
    # node0 connects to its own address from inside: only via the jump.
    assert Pipe("jumped").run(["echo", "via"], check=True).stdout == "via\n"
    aliases = sorted(s.target.alias for s in ssh.sessions())
    assert aliases == ["jumped", "node0"]


def test_proxyjump_chain_and_explicit_port(net, tmp_path, monkeypatch):
    cfg = tmp_path / "ssh_config"
    addr = net["node1"].address
    cfg.write_text(open(net.ssh_config).read() +
                   f"Host chained\n  HostName {addr}\n  User root\n"
                   f"  IdentityFile {net.key}\n  ProxyJump node1:22,root@node1\n")
    monkeypatch.setenv("PATHOS_MAGICS_SSH_CONFIG", str(cfg))
    # kernel -> node1 -> node1 (as root@node1, via the first hop) -> node1
    assert Pipe("chained").run(["echo", "chain"], check=True).stdout == "chain\n"
    assert len(ssh.sessions()) == 3


@pytest.fixture
def agent(tmp_path, net, monkeypatch):
    """A real ssh-agent holding the test user key (and no key file in config)."""
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        env = dict(os.environ, SSH_AUTH_SOCK=sock)
        subprocess.run(["ssh-add", "-q", net.key], env=env, check=True, timeout=10,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        yield sock
    finally:
        proc.terminate()
        proc.wait(5)


def test_key_from_the_ssh_agent(net, agent, tmp_path, monkeypatch):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host agented\n  HostName {net['node1'].address}\n  User root\n")
    monkeypatch.setenv("PATHOS_MAGICS_SSH_CONFIG", str(cfg))
    monkeypatch.setenv("HOME", str(tmp_path))        # no ~/.ssh/id_* to fall back on
    assert ssh.resolve("agented").identity_files == ()
    assert Pipe("agented").run(["echo", "agent"], check=True).stdout == "agent\n"


def test_keepalive_is_on(net):
    Pipe("node0").run(["true"])
    session = ssh.get_session("node0")
    assert session.transport.packetizer._Packetizer__keepalive_interval > 0


def test_unknown_host_key_is_refused_until_accepted(net, tmp_path, monkeypatch):
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{net['node0'].address} ssh-ed25519 {net.host_keys['node0']}\n")
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", str(kh))
    monkeypatch.delenv("PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS", raising=False)
    with pytest.raises(HostKeyError) as info:
        Pipe("node1").run(["true"])
    assert "accept_new_host_key=True" in str(info.value)
    assert "PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS" in str(info.value)
    assert net.host_keys["node1"] not in kh.read_text()       # not silently added
    # The explicit opt-in connects and records the key ...
    Pipe("node1", accept_new_host_key=True).run(["true"], check=True)
    assert net.host_keys["node1"] in kh.read_text()
    ssh.close_all()
    # ... so the next connection is verified without it.
    Pipe("node1").run(["true"], check=True)


def test_changed_host_key_is_refused(net, tmp_path, monkeypatch):
    kh = tmp_path / "known_hosts"
    wrong = net.host_keys["node0"]                    # node0's key, claimed for node1
    kh.write_text(f"{net['node1'].address} ssh-ed25519 {wrong}\n")
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", str(kh))
    with pytest.raises(HostKeyError, match="CHANGED.*ssh-keygen"):
        Pipe("node1", accept_new_host_key=True).run(["true"])


def test_unreachable_host_fails_fast_with_a_clear_error(net):
    t0 = time.monotonic()
    with pytest.raises(ssh.SSHError, match="could not reach"):
        ssh.get_session(f"root@{net['node0'].gateway}", port=1, timeout=3)
    assert time.monotonic() - t0 < 5
