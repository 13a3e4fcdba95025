"""ssh_config read as OpenSSH reads it, against the real sshd test hosts:
HostKeyAlias, UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking,
@revoked, IdentitiesOnly, ProxyCommand and Include (issue 11, item 2)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pathos_magics import ssh
from pathos_magics.ssh import HostKeyError, Pipe, SSHError

pytestmark = pytest.mark.integration

# A netcat in Python: argv host port [log]; stdin/stdout <-> TCP.
NETCAT = r'''
import os, socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:
    with open(sys.argv[-1], "a") as f:
        f.write(" ".join(sys.argv[1:-1]) + "\n")
s = socket.create_connection((host, port), 10)
def up():
    while True:
        data = os.read(0, 65536)
        if not data:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(data)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    os.write(1, data)
'''


@pytest.fixture
def clean(net, tmp_path, monkeypatch):
    """A home with no ~/.ssh, no known_hosts override, no agent: each test
    writes the files it is about."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PATHOS_MAGICS_KNOWN_HOSTS", raising=False)
    monkeypatch.delenv("PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS", raising=False)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return tmp_path


def use_config(monkeypatch, path, text):
    path.write_text(text)
    monkeypatch.setenv("PATHOS_MAGICS_SSH_CONFIG", str(path))


def host_block(net, alias, node, extra=""):
    return (f"Host {alias}\n  HostName {net[node].address}\n  User root\n"
            f"  IdentityFile {net.key}\n{extra}\n")


def known_line(net, name, node):
    return f"{name} ssh-ed25519 {net.host_keys[node]}\n"


# ---------------------------------------------------------------- host keys

def test_host_key_alias_is_the_name_looked_up(net, clean, monkeypatch):
    kh = clean / "kh"
    kh.write_text(known_line(net, net["node0"].address, "node0"))  # by address only
    use_config(monkeypatch, clean / "cfg", host_block(
        net, "aliased", "node0", f"  HostKeyAlias node0-key\n  UserKnownHostsFile {kh}\n"))
    with pytest.raises(HostKeyError, match="node0-key"):
        Pipe("aliased").run(["true"])
    kh.write_text(known_line(net, "node0-key", "node0"))
    assert Pipe("aliased").run(["echo", "ok"], check=True).stdout == "ok\n"


def test_accept_new_records_under_the_alias_and_hashes(net, clean, monkeypatch):
    kh = clean / "kh"
    use_config(monkeypatch, clean / "cfg", host_block(
        net, "fresh", "node1", f"  HostKeyAlias fresh-key\n  UserKnownHostsFile {kh}\n"
        "  StrictHostKeyChecking accept-new\n  HashKnownHosts yes\n"))
    Pipe("fresh").run(["true"], check=True)              # no opt-in needed
    text = kh.read_text()
    assert text.startswith("|1|") and net.host_keys["node1"] in text
    assert "fresh-key" not in text and net["node1"].address not in text
    ssh.close_all()
    Pipe("fresh", accept_new_host_key=False).run(["true"], check=True)  # known now


def test_strict_yes_refuses_even_with_the_opt_in(net, clean, monkeypatch):
    kh = clean / "kh"
    use_config(monkeypatch, clean / "cfg", host_block(
        net, "strict", "node1", f"  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n"))
    with pytest.raises(HostKeyError, match="StrictHostKeyChecking is yes"):
        Pipe("strict", accept_new_host_key=True).run(["true"])
    assert not kh.exists()


def test_user_known_hosts_files_other_key_refused_right_one_accepted(net, clean, monkeypatch):
    addr = net["node1"].address
    wrong, empty, right = clean / "wrong", clean / "empty", clean / "right"
    wrong.write_text(f"{addr} ssh-ed25519 {net.host_keys['node0']}\n")
    empty.write_text("")
    right.write_text(known_line(net, addr, "node1"))
    cfg = clean / "cfg"
    use_config(monkeypatch, cfg, host_block(net, "n1", "node1",
                                            f"  UserKnownHostsFile {empty} {wrong}\n"))
    with pytest.raises(HostKeyError, match=f"CHANGED.*{wrong}"):
        Pipe("n1", accept_new_host_key=True).run(["true"])
    use_config(monkeypatch, cfg, host_block(net, "n1", "node1",
                                            f"  UserKnownHostsFile {empty} {right}\n"))
    assert Pipe("n1").run(["echo", "ok"], check=True).stdout == "ok\n"
    assert empty.read_text() == ""                          # nothing added


def test_global_known_hosts_file_counts(net, clean, monkeypatch):
    addr = net["node1"].address
    glob_file = clean / "global"
    glob_file.write_text(known_line(net, addr, "node1"))
    use_config(monkeypatch, clean / "cfg", host_block(
        net, "g", "node1", f"  GlobalKnownHostsFile {glob_file}\n"))
    assert Pipe("g").run(["echo", "ok"], check=True).stdout == "ok\n"
    assert not (clean / ".ssh" / "known_hosts").exists()    # never written
    ssh.close_all()
    glob_file.write_text(f"{addr} ssh-ed25519 {net.host_keys['node0']}\n")
    with pytest.raises(HostKeyError, match="CHANGED"):
        Pipe("g", accept_new_host_key=True).run(["true"])


def test_revoked_key_is_refused_though_also_listed(net, clean, monkeypatch):
    kh = clean / "kh"
    kh.write_text(known_line(net, net["node0"].address, "node0") +
                  known_line(net, "@revoked *", "node0"))
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", str(kh))
    use_config(monkeypatch, clean / "cfg", host_block(net, "rev", "node0"))
    with pytest.raises(HostKeyError, match="marked @revoked"):
        Pipe("rev").run(["true"])


# ---------------------------------------------------------------- keys

@pytest.fixture
def agent(net, clean, monkeypatch):
    """A real ssh-agent holding the good test key; stopped by pid."""
    sock = str(clean / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        subprocess.run(["ssh-add", "-q", net.key], env=dict(os.environ, SSH_AUTH_SOCK=sock),
                       check=True, timeout=10, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        yield sock
    finally:
        proc.terminate()
        proc.wait(5)


def test_identities_only_refuses_the_agent_and_default_keys(net, clean, agent, monkeypatch):
    wrong = str(clean / "wrong_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", wrong],
                   check=True, timeout=30)
    dot_ssh = clean / ".ssh"
    dot_ssh.mkdir()
    for suffix in ("", ".pub"):                   # the good key as a default key too
        (dot_ssh / f"id_ed25519{suffix}").write_bytes(open(net.key + suffix, "rb").read())
    os.chmod(dot_ssh / "id_ed25519", 0o600)
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", net.known_hosts)
    kh = ""
    block = (f"Host only\n  HostName {net['node1'].address}\n  User root\n"
             f"  IdentityFile {wrong}\n  IdentitiesOnly yes\n{kh}"
             f"Host loose\n  HostName {net['node1'].address}\n  User root\n"
             f"  IdentityFile {wrong}\n{kh}")
    use_config(monkeypatch, clean / "cfg", block)
    with pytest.raises(SSHError, match="refused our keys.*IdentitiesOnly"):
        Pipe("only").run(["true"])
    # Without IdentitiesOnly the agent's key is offered after the wrong one.
    assert Pipe("loose").run(["echo", "agent"], check=True).stdout == "agent\n"


def test_identities_only_uses_the_agent_for_a_listed_key(net, clean, agent, monkeypatch):
    pub_only = clean / "good"                       # only the .pub is here
    (clean / "good.pub").write_bytes(open(net.key + ".pub", "rb").read())
    use_config(monkeypatch, clean / "cfg",
               f"Host listed\n  HostName {net['node0'].address}\n  User root\n"
               f"  IdentityFile {pub_only}\n  IdentitiesOnly yes\n")
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", net.known_hosts)
    assert Pipe("listed").run(["echo", "via agent"], check=True).stdout == "via agent\n"


# ---------------------------------------------------------------- ProxyCommand

def test_proxy_command_carries_the_connection(net, clean, monkeypatch):
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", net.known_hosts)
    nc = clean / "nc.py"
    nc.write_text(NETCAT)
    log = clean / "proxy.log"
    use_config(monkeypatch, clean / "cfg", host_block(
        net, "proxied", "node0",
        f"  ProxyCommand {sys.executable} {nc} %h %p %r %n 100%% {log}\n"))
    assert Pipe("proxied").run(["echo", "through"], check=True).stdout == "through\n"
    assert log.read_text() == f"{net['node0'].address} 22 root proxied 100%\n"
    [session] = [s for s in ssh.sessions() if s.target.alias == "proxied"]
    proxy_pid = session._proxy.proc.pid
    ssh.close_all()
    assert session._proxy.proc.poll() is not None, f"ProxyCommand {proxy_pid} left running"


def test_failing_proxy_command_says_why(net, clean, monkeypatch):
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", net.known_hosts)
    use_config(monkeypatch, clean / "cfg", host_block(
        net, "badproxy", "node0",
        "  ProxyCommand sh -c 'echo cannot reach the bastion >&2; exit 7'\n"))
    t0 = time.monotonic()
    with pytest.raises(SSHError, match="ProxyCommand.*status 7.*cannot reach the bastion"):
        Pipe("badproxy").run(["true"])
    assert time.monotonic() - t0 < 15


# ---------------------------------------------------------------- Include

def test_host_defined_in_an_included_file_is_found(net, clean, monkeypatch):
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", net.known_hosts)
    monkeypatch.delenv("PATHOS_MAGICS_SSH_CONFIG", raising=False)   # ~/.ssh/config
    dot_ssh = clean / ".ssh"
    (dot_ssh / "conf.d").mkdir(parents=True)
    (dot_ssh / "config").write_text("Include conf.d/*.conf\n")
    (dot_ssh / "conf.d" / "lab.conf").write_text(host_block(net, "included", "node1"))
    assert ssh.resolve("included").hostname == net["node1"].address
    assert Pipe("included").run(["hostname", "-I"], check=True).stdout.split()[0] \
        == net["node1"].address
