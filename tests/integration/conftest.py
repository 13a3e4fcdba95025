"""Fixtures for tests against real ssh hosts (see sshhosts.py).

``net`` builds two hosts (``node0``, ``node1``) once per session and points
the ssh toolkit at them through environment variables; the registry and the
private package folder go to temporary folders too.  After each test that
uses them, pools, tunnels and ssh sessions are closed and the hosts must run
no Python process (a host-side leak check); the suite-wide check in
tests/conftest.py then covers this machine.
"""
from __future__ import annotations

import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from sshhosts import TestNetwork, missing_prerequisites  # noqa: E402

from pathos_magics import ssh  # noqa: E402
from pathos_magics.pools import shutdown  # noqa: E402


def _skip_or_fail(reason: str) -> None:
    """As tests/conftest.py: skip outside CI, fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def net(tmp_path_factory):
    """Two real hosts running sshd, torn down after the session."""
    yield from two_hosts(tmp_path_factory.mktemp("sshhosts"))


def two_hosts(folder, **network_options):
    """Two real hosts in ``folder``, with the ssh toolkit, the registry and
    the remote package folder pointed at them, until the generator ends."""
    why = missing_prerequisites()
    if why:
        _skip_or_fail(why)
    network = TestNetwork(str(folder), count=2, **network_options)
    saved = dict(os.environ)
    try:
        network.start()
        os.environ.update(network.env())
        os.environ["PATHOS_MAGICS_REMOTE_DIR"] = str(folder / "remote")
        os.environ["XDG_CONFIG_HOME"] = str(folder / "config")
        yield network
    finally:
        ssh.close_all_tunnels()
        ssh.close_all()
        network.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def hosts_left_clean(request):
    """After a test on the hosts: close everything, then no Python process
    (server or worker) may remain on any host.  Runs before the suite-wide
    leak check, whose fixture was set up first."""
    yield
    if "net" not in request.fixturenames:
        return
    network = request.getfixturevalue("net")
    t0 = time.monotonic()
    shutdown()
    ssh.close_all_tunnels()
    ssh.close_all()
    took = time.monotonic() - t0
    deadline = time.monotonic() + 10
    left = {}
    while time.monotonic() < deadline:
        left = {h.name: h.python_processes() for h in network.hosts}
        if not any(left.values()):
            break
        time.sleep(0.05)
    for h in network.hosts:                     # one leak is one failure
        for line in left.get(h.name, []):
            _kill(int(line.split()[0]))
    assert not any(left.values()), f"processes left on the hosts: {left}"
    assert took < 10, f"closing pools and sessions took {took:.1f}s"


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def registry_dir(tmp_path, monkeypatch):
    """A fresh, empty host registry for one test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "pathos_magics"
