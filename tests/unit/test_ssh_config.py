"""ssh_config, known_hosts and key choice read as OpenSSH reads them
(no network: the integration tests prove the same against real sshd)."""
from __future__ import annotations

import base64
import os
import subprocess

import paramiko
import pytest

from pathos_magics.ssh import ConfigError, HostKeyError, SSHError, resolve
from pathos_magics.ssh import config as sshconfig
from pathos_magics.ssh import identity, knownhosts, target
from pathos_magics.ssh.session import _HostKeyPolicy


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty home: ~/.ssh/config is the user config, no env overrides."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("PATHOS_MAGICS_SSH_CONFIG", "PATHOS_MAGICS_KNOWN_HOSTS",
                "PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS", "SSH_AUTH_SOCK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sshconfig, "SYSTEM_CONFIG", str(tmp_path / "system_config"))
    (tmp_path / ".ssh").mkdir(mode=0o700)
    return tmp_path


def write(path, text, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


# ---------------------------------------------------------------- parsing

def test_first_value_wins_and_identity_files_accumulate(home):
    write(home / ".ssh/config",
          "Host web\n  User alice\n  IdentityFile ~/.ssh/a\n"
          "Host *\n  User bob\n  Port 2222\n  IdentityFile ~/.ssh/b\n"
          "  IdentityFile ~/.ssh/a\n")
    t = resolve("web")
    assert (t.user, t.port) == ("alice", 2222)
    assert t.identity_files == (f"{home}/.ssh/a", f"{home}/.ssh/b")
    assert not t.default_identities
    assert resolve("other").identity_files == (f"{home}/.ssh/b", f"{home}/.ssh/a")


def test_include_is_relative_to_dot_ssh_with_globs_in_lexical_order(home):
    write(home / ".ssh/config", "Include conf.d/*.conf\nHost *\n  User late\n")
    write(home / ".ssh/conf.d/20-b.conf", "Host box\n  HostName second\n")
    write(home / ".ssh/conf.d/10-a.conf", "Host box\n  HostName first\n  User inc\n")
    t = resolve("box")
    assert (t.hostname, t.user) == ("first", "inc")


def test_include_inside_a_host_block_applies_only_to_that_host(home):
    write(home / ".ssh/config", "Host a\n  Include extra\nHost *\n  Port 1\n")
    write(home / ".ssh/extra", "User fromextra\nHost b\n  User never\n")
    assert resolve("a").user == "fromextra"
    # the file's own Host b block never applies: it was included where inactive
    assert resolve("b").user != "never" and resolve("b").port == 1


def test_include_loops_are_refused(home):
    write(home / ".ssh/config", "Include config\n")
    with pytest.raises(ConfigError, match="nested Include"):
        resolve("x")


def test_group_writable_config_is_refused_as_ssh_refuses_it(home):
    write(home / ".ssh/config", "Host x\n  User y\n", mode=0o664)
    with pytest.raises(ConfigError, match="Bad owner or permissions"):
        resolve("x")


def test_explicit_config_file_is_like_ssh_F(home, monkeypatch):
    write(home / "system_config", "Host *\n  User fromsystem\n")
    assert resolve("x").user == "fromsystem"          # default: system file read
    cfg = write(home / "f", "Host x\n  Port 2200\n", mode=0o666)
    monkeypatch.setenv("PATHOS_MAGICS_SSH_CONFIG", str(cfg))
    t = resolve("x")                                   # -F: no system file, no perm check
    assert t.port == 2200 and t.user != "fromsystem"


def test_host_patterns_are_openssh_patterns_not_fnmatch(home):
    write(home / ".ssh/config",
          "Host node? !node9\n  User n\nHost [ab]\n  User literal\n"
          "Host *.example.org\n  User ex\n")
    assert resolve("node1").user == "n"
    assert resolve("node9").user != "n"                # negation wins
    assert resolve("node10").user != "n"               # ? is one character
    assert resolve("a").user != "literal"              # no [..] classes in ssh
    assert resolve("[ab]").user == "literal"
    assert resolve("w.example.org").user == "ex"


def test_quoting_equals_and_comments(home):
    write(home / ".ssh/config",
          'Host q\n  IdentityFile "~/.ssh/my key"  # trailing comment\n'
          "  User=eve\n  Port = 2022\n")
    t = resolve("q")
    assert t.identity_files == (f"{home}/.ssh/my key",)
    assert (t.user, t.port) == ("eve", 2022)


def test_match_criteria_and_final_pass(home, tmp_path):
    marker = tmp_path / "exists"
    marker.touch()
    write(home / ".ssh/config",
          "Match originalhost m1 user carol\n  Port 1001\n"
          "Host m1\n  User carol\n  HostName real1.lan\n"
          f"Match host real1.lan exec \"test -e {marker}\"\n  IdentityFile ~/.ssh/viaexec\n"
          "Match exec false\n  IdentityFile ~/.ssh/never\n"
          "Match final host real1.lan\n  ProxyJump hop\n"
          "Host real1.lan\n  ConnectTimeout 4\n")
    t = resolve("m1")
    # The user is carol only after the first Match line: the first pass
    # skips it, the final pass (asked for by 'Match final') takes it, and
    # matches Host lines against the HostName.
    assert t.port == 1001 and t.connect_timeout == 4
    assert t.identity_files == (f"{home}/.ssh/viaexec",)
    assert t.proxy_jump == "hop"


def test_unsupported_match_is_a_clear_error(home):
    write(home / ".ssh/config", "Match localnetwork 10.0.0.0/8\n  User x\n")
    with pytest.raises(ConfigError, match="localnetwork.*not supported"):
        resolve("h")


def test_hostname_and_proxycommand_tokens(home):
    write(home / ".ssh/config",
          "Host *.short\n  HostName %h.example.org\n  User u\n  Port 2201\n"
          "  ProxyCommand nc -X connect %h %p %r %n 100%%\n"
          "  ProxyJump later\n")
    t = resolve("box.short")
    assert t.hostname == "box.short.example.org"
    assert t.proxy_command == "nc -X connect box.short.example.org 2201 u box.short 100%"
    assert t.proxy_jump is None                        # the first of the two wins


def test_proxyjump_first_hides_proxycommand_and_none_disables(home):
    write(home / ".ssh/config",
          "Host j\n  ProxyJump a,b\n  ProxyCommand nc %h %p\n"
          "Host n\n  ProxyCommand none\n  ProxyJump hop\n")
    assert (resolve("j").proxy_jump, resolve("j").proxy_command) == ("a,b", None)
    assert (resolve("n").proxy_jump, resolve("n").proxy_command) == (None, None)


def test_unknown_token_is_refused(home):
    write(home / ".ssh/config", "Host t\n  ProxyCommand nc %z\n")
    with pytest.raises(ConfigError, match="unknown token %z"):
        resolve("t")


def test_known_hosts_files_and_strict_checking(home, monkeypatch):
    write(home / ".ssh/config",
          "Host a\n  UserKnownHostsFile ~/k1 ~/.ssh/k_%h_%p\n"
          "  GlobalKnownHostsFile none\n  StrictHostKeyChecking accept-new\n"
          "  HostKeyAlias alias-a\n  HashKnownHosts yes\n"
          "Host b\n  UserKnownHostsFile none\n  StrictHostKeyChecking off\n"
          "Host c\n  StrictHostKeyChecking maybe\n")
    a = resolve("a")
    assert a.user_known_hosts == (f"{home}/k1", f"{home}/.ssh/k_a_22")
    assert a.global_known_hosts == ()
    assert (a.strict, a.key_name, a.hash_known_hosts) == ("accept-new", "alias-a", True)
    b = resolve("b")
    assert b.user_known_hosts == () and b.strict == "no"
    assert b.global_known_hosts == target.DEFAULT_GLOBAL_KNOWN_HOSTS
    assert resolve("z").user_known_hosts == (f"{home}/.ssh/known_hosts",
                                             f"{home}/.ssh/known_hosts2")
    assert resolve("z", port=2222).key_name == "[z]:2222"
    with pytest.raises(SSHError, match="StrictHostKeyChecking"):
        resolve("c")
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", "/tmp/kh")   # like ssh -o
    assert resolve("a").user_known_hosts == ("/tmp/kh",)


def test_timeouts_and_keepalive(home):
    write(home / ".ssh/config", "Host t\n  ConnectTimeout 3\n"
          "  ServerAliveInterval 7\n  ServerAliveCountMax 2\n")
    t = resolve("t")
    assert (t.connect_timeout, t.alive_interval, t.alive_count_max) == (3.0, 7, 2)
    assert resolve("u").connect_timeout is None


# ---------------------------------------------------------------- known_hosts

def _key() -> paramiko.PKey:
    return paramiko.RSAKey.generate(1024)


def test_known_hosts_check_ok_new_changed_revoked(tmp_path):
    k1, k2 = _key(), _key()
    b64 = k1.get_base64()
    kh = write(tmp_path / "kh",
               f"[h]:2222,!bad* ssh-rsa {b64}\n"
               f"*.lan ssh-rsa {k2.get_base64()}\n"
               f"@cert-authority * ssh-rsa {k2.get_base64()}\n"
               "garbage line\n")
    entries = knownhosts.read_entries([str(kh), str(tmp_path / "missing")])
    assert knownhosts.check(entries, "[h]:2222", k1.asbytes())[0] == knownhosts.OK
    assert knownhosts.check(entries, "h", k1.asbytes())[0] == knownhosts.NEW
    assert knownhosts.check(entries, "x.lan", k1.asbytes())[0] == knownhosts.CHANGED
    assert knownhosts.check(entries, "badhost", k1.asbytes())[0] == knownhosts.NEW
    with open(kh, "a") as f:
        f.write(f"@revoked * ssh-rsa {b64}\n")
    entries = knownhosts.read_entries([str(kh)])
    assert knownhosts.check(entries, "[h]:2222", k1.asbytes())[0] == knownhosts.REVOKED


def test_hashed_names_are_matched_and_written(tmp_path):
    k = _key()
    path = str(tmp_path / "kh")
    knownhosts.add(path, "alias-x", "ssh-rsa", k.asbytes(), hashed=True)
    text = open(path).read()
    assert text.startswith("|1|") and "alias-x" not in text
    entries = knownhosts.read_entries([path])
    assert knownhosts.check(entries, "alias-x", k.asbytes())[0] == knownhosts.OK
    assert knownhosts.check(entries, "alias-y", k.asbytes())[0] == knownhosts.NEW


def _policy(tmp_path, accept, **kw) -> _HostKeyPolicy:
    t = target.Target(alias="h", hostname="h", user="u",
                      user_known_hosts=(str(tmp_path / "kh"),), **kw)
    return _HostKeyPolicy(t, accept)


@pytest.mark.parametrize("strict,accept,accepted", [
    ("ask", None, False), ("ask", True, True), ("ask", False, False),
    ("accept-new", None, True), ("accept-new", False, False),
    ("no", None, True), ("yes", True, False), ("yes", None, False)])
def test_unknown_key_policy_is_never_weaker_than_asked(tmp_path, strict, accept, accepted):
    k = _key()
    policy = _policy(tmp_path, accept, strict=strict)
    if accepted:
        policy.missing_host_key(None, "h", k)
        assert k.get_base64() in (tmp_path / "kh").read_text()
    else:
        with pytest.raises(HostKeyError, match="not in"):
            policy.missing_host_key(None, "h", k)
        assert not (tmp_path / "kh").exists()


def test_changed_and_revoked_keys_are_refused_even_with_strict_no(tmp_path):
    k, other = _key(), _key()
    write(tmp_path / "kh", f"h ssh-rsa {other.get_base64()}\n")
    with pytest.raises(HostKeyError, match="CHANGED"):
        _policy(tmp_path, True, strict="no").missing_host_key(None, "h", k)
    write(tmp_path / "revoked", f"ssh-rsa {k.get_base64()} comment\n")
    with pytest.raises(HostKeyError, match="REVOKED"):
        _policy(tmp_path, True, strict="no", revoked_host_keys=str(
            tmp_path / "revoked")).missing_host_key(None, "h", k)


def test_global_known_hosts_count_but_are_never_written(tmp_path):
    k = _key()
    glob_file = write(tmp_path / "global", f"h ssh-rsa {k.get_base64()}\n", 0o644)
    t = target.Target(alias="h", hostname="h", user="u", strict="yes",
                      user_known_hosts=(str(tmp_path / "kh"),),
                      global_known_hosts=(str(glob_file),))
    _HostKeyPolicy(t, None).missing_host_key(None, "h", k)     # known: accepted
    assert not (tmp_path / "kh").exists()


# ---------------------------------------------------------------- keys

def _keygen(path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, timeout=30)
    return str(path)


def test_identities_only_offers_configured_keys_only(tmp_path):
    a, b = _keygen(tmp_path / "a"), _keygen(tmp_path / "b")
    agent_a, agent_other = paramiko.PKey.from_path(a), _key()
    # b's private part is absent: usable only if the agent held it
    os.rename(b, b + ".moved")
    offered = identity.keys_to_offer([a, b], False, [agent_other, agent_a])
    assert [d for d, _ in offered][0] == f"{a} (agent)"
    assert any(k is agent_other for _, k in offered)
    only = identity.keys_to_offer([a, b], True, [agent_other, agent_a])
    assert [k for _, k in only] == [agent_a]
    assert identity.keys_to_offer([a], True, []) [0][0] == a


def test_default_identities_only_when_no_identity_file(home):
    assert identity.identity_paths([], True)[0] == f"{home}/.ssh/id_rsa"
    assert identity.identity_paths(["/k"], False) == ["/k"]
    write(home / ".ssh/config", "Host n\n  IdentityFile none\n")
    t = resolve("n")
    assert t.identity_files == () and not t.default_identities


def test_public_blob_from_pub_file(tmp_path):
    a = _keygen(tmp_path / "a")
    blob = base64.b64decode(open(a + ".pub").read().split()[1])
    assert identity.public_blob(a) == blob
    os.unlink(a + ".pub")
    assert identity.public_blob(a) == blob           # from the private key
