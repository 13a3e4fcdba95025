"""Host specs and the host registry file (no network)."""
from __future__ import annotations

import json
import os

import pytest

from pathos_magics import hosts
from pathos_magics.hosts import Host, HostRegistry, HostSpec, HostSpecError, HostsFileError


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return HostRegistry()


# ---------------------------------------------------------------- specs

@pytest.mark.parametrize("text, expected", [
    ("node1", HostSpec("node1")),
    ("user@node2:8", HostSpec("node2", "user", 8)),
    ("node2:8", HostSpec("node2", None, 8)),
    ("a.b-c.example.org", HostSpec("a.b-c.example.org")),
    ("10.77.0.2:4", HostSpec("10.77.0.2", None, 4)),
    ("alice@[fe80::1]:2", HostSpec("fe80::1", "alice", 2)),
    ("[::1]", HostSpec("::1")),
    ("first.last@node_3", HostSpec("node_3", "first.last")),
    ("  node1  ", HostSpec("node1")),
])
def test_valid_specs(text, expected):
    assert hosts.parse_spec(text) == expected


@pytest.mark.parametrize("text, why", [
    ("", "empty"),
    ("node 1", "spaces"),
    ("node1:0", "positive whole number"),
    ("node1:-2", "positive whole number"),
    ("node1:two", "positive whole number"),
    ("node1:", "positive whole number"),
    ("@node1", "is not a user name"),
    ("a b@node1", "spaces"),
    ("fe80::1:4", "brackets"),
    ("[fe80::1", "unclosed"),
    ("[nothex]:2", "not an IPv6"),
    ("[::1]x", "unexpected"),
    ("-node1", "not a host name"),
    ("node..1", "not a host name"),
    ("no/de", "not a host name"),
    ("u@", "not a host name"),
])
def test_malformed_specs_say_why_and_how(text, why):
    with pytest.raises(HostSpecError) as info:
        hosts.parse_spec(text)
    assert why in str(info.value)
    assert "[user@]host[:workers]" in str(info.value)


def test_spec_is_a_value_error_and_not_a_string():
    with pytest.raises(ValueError):
        hosts.parse_spec("node1:0")
    with pytest.raises(HostSpecError, match="string"):
        hosts.parse_spec(8)


@pytest.mark.parametrize("text", ["node1", "user@node2:8", "a@[fe80::1]:2"])
def test_spec_round_trips_through_str(text):
    assert str(hosts.parse_spec(text)) == text


def test_ssh_host_of_a_spec():
    assert hosts.parse_spec("u@n:3").ssh_host == "u@n"
    assert hosts.parse_spec("n").ssh_host == "n"


# ---------------------------------------------------------------- registry file

def test_registry_lives_in_xdg_config_home(registry, tmp_path):
    assert registry.path == str(tmp_path / "xdg" / "pathos_magics" / "hosts.json")


def test_default_config_dir_without_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hosts.config_dir() == str(tmp_path / ".config" / "pathos_magics")


def test_empty_registry_then_round_trip(registry):
    assert registry.list() == []
    registry.add("alice@node2:8", python="python3.11")
    registry.add("node1")
    again = HostRegistry(registry.path).load()
    assert again["node2"] == Host(name="node2", address="node2", user="alice",
                                  workers=8, python="python3.11")
    assert again["node1"].workers is None and again["node1"].status == "unknown"
    data = json.loads(open(registry.path).read())
    assert data["version"] == 1 and set(data["hosts"]) == {"node1", "node2"}


def test_add_updates_an_entry_and_names_are_free(registry):
    registry.add("node2:8")
    registry.add("bob@node2")                    # keeps the worker count
    assert (registry.get("node2").user, registry.get("node2").workers) == ("bob", 8)
    registry.add("10.0.0.5:2", name="gpu")
    assert registry.get("gpu").address == "10.0.0.5"


def test_status_and_remove(registry):
    registry.add("node1")
    registry.set_status("node1", "unreachable", "refused")
    h = registry.get("node1")
    assert (h.status, h.error) == ("unreachable", "refused") and h.checked
    registry.set_status("nobody", "ok")          # not registered: ignored
    assert registry.remove("node1") and not registry.remove("node1")
    with pytest.raises(KeyError, match="hosts.add"):
        registry.probe("node1")


def test_unknown_fields_are_kept(registry):
    os.makedirs(os.path.dirname(registry.path))
    with open(registry.path, "w") as f:
        json.dump({"version": 1, "hosts": {"n": {"address": "n", "gpu": "a100"}}}, f)
    registry.set_status("n", "ok")
    assert json.load(open(registry.path))["hosts"]["n"]["gpu"] == "a100"


@pytest.mark.parametrize("content, match", [
    ("{not json", "cannot read"),
    ("[1, 2]", "not a host registry"),
    ('{"hosts": []}', "not a host registry"),
    ('{"hosts": {"n": 3}}', "must be an object"),
    ('{"hosts": {"n": {"workers": 0}}}', "workers must be a positive int"),
    ('{"hosts": {"n": {"workers": true}}}', "workers must be a positive int"),
    ('{"hosts": {"n": {"address": "bad host"}}}', "not a host name"),
    ('{"hosts": {"n": {"user": "a b"}}}', "not a user name"),
    ('{"hosts": {"n": {"python": ""}}}', "python must be a command"),
    ('{"hosts": {"n": {"port": 22}}}', None),       # unknown keys are fine
])
def test_malformed_registry_file(registry, content, match):
    os.makedirs(os.path.dirname(registry.path))
    with open(registry.path, "w") as f:
        f.write(content)
    if match is None:
        assert registry.get("n").extra == {"port": 22}
        return
    with pytest.raises(HostsFileError, match=match) as info:
        registry.list()
    assert registry.path in str(info.value)


def test_save_is_atomic_and_leaves_no_temp_files(registry):
    for i in range(5):
        registry.add(f"node{i}:{i + 1}")
    folder = os.path.dirname(registry.path)
    assert os.listdir(folder) == ["hosts.json"]
    assert len(registry.list()) == 5


def test_module_level_functions_follow_the_environment(registry, tmp_path, monkeypatch):
    hosts.add("node7:3")
    assert hosts.get("node7").workers == 3
    assert [h.name for h in hosts.list_hosts()] == ["node7"]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other"))
    assert hosts.list_hosts() == []
    spec, entry = hosts.lookup("node7:2")
    assert spec.workers == 2 and entry is None
