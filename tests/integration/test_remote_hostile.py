"""Hostile neighbours on a remote host: other users connecting to the
server's port, or planting code in a shared package folder."""
from __future__ import annotations

import logging
import os
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

    pool = ParallelPool(servers={"node0": 1}, ncpus=0, python=PY)
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


# ---------------------------------------------------------------- the private folder

def _plant(remote, marker) -> None:
    """What another user would leave in a shared remote_dir: the very copy the
    kernel would ship, with a dill that runs their code on import."""
    import io
    import zipfile

    from pathos_magics.transports.ssh.bootstrap import package_tag, site_zip
    site = remote / package_tag() / "site"
    zipfile.ZipFile(io.BytesIO(site_zip())).extractall(site)
    with open(site / "dill" / "__init__.py", "a") as f:
        f.write(f"\nopen({str(marker)!r}, 'w').write('ran')\n")


@pytest.fixture
def intruder():
    """A second local user (the hosts share this machine's users), removed after."""
    import os
    import pwd
    import shutil
    if shutil.which("useradd") is None:
        pytest.fail("useradd is missing (apt-get install passwd)")
    name = f"pmintr{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True, timeout=30)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True, timeout=30)


def _launch(remote) -> SSHTransport:
    t = SSHTransport("node0", workers=1, python=f"{PY} -S", remote_dir=str(remote))
    try:
        t.prepare()
    finally:
        t.close(5.0)
    return t


def test_a_world_writable_remote_dir_is_refused(net, tmp_path):
    from pathos_magics.errors import TransportError
    remote, marker = tmp_path / "shared", tmp_path / "planted-code-ran"
    _plant(remote, marker)
    remote.chmod(0o777)
    with pytest.raises(TransportError, match=r"refusing to run code from .*shared: it "
                       r"is writable by others \(mode 777\).*chmod go-w"):
        _launch(remote)
    assert not marker.exists()


def test_a_remote_dir_owned_by_another_user_is_refused(net, tmp_path, intruder):
    import os
    from pathos_magics.errors import TransportError
    remote, marker = tmp_path / "theirs", tmp_path / "planted-code-ran"
    _plant(remote, marker)
    for root, dirs, files in os.walk(remote):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.chown(name, intruder.pw_uid, intruder.pw_gid)
    with pytest.raises(TransportError, match=f"is owned by uid {intruder.pw_uid}, "
                       "not by this user"):
        _launch(remote)
    assert not marker.exists()


@pytest.mark.parametrize("how", ["source", "cache"])
def test_a_tampered_private_copy_is_detected(net, tmp_path, how):
    """The copy the kernel shipped, changed afterwards: its dill no longer
    has the kernel's digest (or holds a bytecode cache no digest covers)."""
    import glob
    from pathos_magics.errors import TransportError
    remote, marker = tmp_path / "remote", tmp_path / "tampered-code-ran"
    t = _launch(remote)
    assert t.shipped
    dill_dir = glob.glob(str(remote / "py*" / "site" / "dill"))[0]
    if how == "source":
        with open(os.path.join(dill_dir, "__init__.py"), "a") as f:
            f.write(f"\nopen({str(marker)!r}, 'w').write('ran')\n")
    else:
        os.makedirs(os.path.join(dill_dir, "__pycache__"), mode=0o700)
        with open(os.path.join(dill_dir, "__pycache__", "__init__.cpython-311.pyc"),
                  "wb") as f:
            f.write(b"planted")
    with pytest.raises(TransportError, match=r"was modified after it was copied "
                       r"\(differs: dill\)"):
        _launch(remote)
    assert not marker.exists()
