"""The standalone server (``pathos_server``, ``Server``, ``core.serve``) and
``ParallelPool(servers=("127.0.0.1:P",))`` joining it, on this machine.

Each server is a real process the test starts and stops by its pid; the
secret file lives in the test's own folder (``PATHOS_MAGICS_SECRET_FILE``).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from pathos_magics import core
from pathos_magics.pools import ParallelPool
from pathos_magics.pools.servers import ServerSkippedWarning
from pathos_magics.transports.ssh import secret as S

BIN = os.path.dirname(sys.executable)
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "server.key"
    monkeypatch.setenv(S.ENV_SECRET_FILE, str(path))
    return path


class Running:
    """A server process started by a test: its port, pid and workers."""

    def __init__(self, proc: subprocess.Popen, banner: str) -> None:
        self.proc = proc
        fields = dict(f.split("=", 1) for f in banner.split()[1:])
        self.port, self.pid = int(fields["port"]), int(fields["pid"])
        self.workers = int(fields.get("workers", 0))
        self.address = f"127.0.0.1:{self.port}"

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> int:
        """SIGTERM by pid; its exit code (it ends its workers first)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                stream.close()


def _start(argv: list[str], stdin: bytes | None = None) -> Running:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.flush()
    deadline = time.monotonic() + START_TIMEOUT
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while time.monotonic() < deadline:
        if sel.select(0.2):
            line = proc.stdout.readline().decode()
            if line.startswith("PATHOS_MAGICS_SERVER"):
                sel.close()
                return Running(proc, line)
            if not line:
                break
    proc.kill()
    out, err = proc.communicate(timeout=10)
    sel.close()
    raise AssertionError(f"the server did not start: {out!r} {err!r}")


@pytest.fixture
def server(key_file):
    running = _start([os.path.join(BIN, "pathos_server"), "--port", str(_free_port()),
                      "--workers", "2"])
    yield running
    assert running.stop() == 0


# ---------------------------------------------------------------- secret file

def test_a_missing_secret_file_is_made_private(key_file):
    key = S.ensure_secret_file()
    assert len(key) == 32 and (key_file.stat().st_mode & 0o777) == 0o600
    assert (key_file.parent.stat().st_mode & 0o777) == 0o700
    assert S.ensure_secret_file() == key == S.read_secret_file(str(key_file))


def test_a_secret_file_open_to_others_is_refused(key_file):
    S.ensure_secret_file()
    key_file.chmod(0o644)
    with pytest.raises(S.SecretError, match="open to others.*chmod 600"):
        S.read_secret_file()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the file away")
def test_a_secret_file_of_another_user_is_refused(key_file):
    S.ensure_secret_file()
    os.chown(key_file, 65534, -1)
    with pytest.raises(S.SecretError, match="belongs to uid 65534"):
        S.read_secret_file()


def test_a_symlink_or_garbage_is_refused(key_file, tmp_path):
    S.ensure_secret_file()
    link = tmp_path / "link.key"
    link.symlink_to(key_file)
    with pytest.raises(S.SecretError, match="symlink"):
        S.read_secret_file(str(link))
    key_file.write_text("not hex\n")
    with pytest.raises(S.SecretError, match="one line of hex"):
        S.read_secret_file()
    with pytest.raises(S.SecretError, match="no secret file"):
        S.read_secret_file(str(tmp_path / "missing.key"))


def test_a_secret_never_shows_in_a_repr():
    key = S.parse_secret("ab" * 16)
    assert key == bytes.fromhex("ab" * 16) and "abab" not in repr(key)
    with pytest.raises(S.SecretError, match="at least 16 bytes"):
        S.parse_secret(b"short")


def test_the_server_refuses_a_secret_file_open_to_others(key_file):
    S.ensure_secret_file()
    key_file.chmod(0o640)
    done = subprocess.run([os.path.join(BIN, "pathos_server")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "open to others" in done.stderr


# ---------------------------------------------------------------- a pool on it

def test_a_pool_maps_on_a_running_server(server):
    pool = ParallelPool(servers=(server.address,), ncpus=0)
    got = pool.map(lambda x: (x * x, os.getpid()), range(20))
    assert [v for v, _ in got] == [x * x for x in range(20)]
    served = {p.pid for p in server.children()}
    assert {pid for _, pid in got} <= served      # the server's own children
    assert len(pool.workers) == server.workers == 2
    pool.clear()


def test_a_pool_runs_on_a_server_and_local_workers(server):
    pool = ParallelPool(servers=(server.address,), ncpus=1)
    assert sorted(pool.map(abs, range(-50, 0))) == list(range(1, 51))
    assert {w.host for w in pool.workers} == {"localhost", server.address}
    pool.clear()


def test_a_wrong_secret_is_refused_and_the_pool_runs_on_the_rest(server):
    with pytest.warns(ServerSkippedWarning, match="refused the secret"):
        pool = ParallelPool(servers=(server.address,), ncpus=1, secret=os.urandom(32))
    assert pool.map(abs, [-1, -2]) == [1, 2] and len(pool.workers) == 1


def test_the_secret_can_be_given(server, key_file, monkeypatch):
    hexkey = key_file.read_text().strip()
    monkeypatch.setenv(S.ENV_SECRET_FILE, str(key_file) + ".none")   # no file now
    pool = ParallelPool(servers=(server.address,), ncpus=0, secret=hexkey)
    assert pool.pipe(pow, 2, 10) == 1024
    assert hexkey not in repr(pool) and hexkey not in repr(pool._key())


def test_a_dead_server_warns_and_the_pool_runs_locally(key_file):
    with pytest.warns(ServerSkippedWarning, match="no server answers"):
        pool = ParallelPool(servers=(f"127.0.0.1:{_free_port()}",), ncpus=1)
    assert pool.map(abs, [-3]) == [3]


def test_a_stopped_server_ends_its_workers(server):
    pool = ParallelPool(servers=(server.address,), ncpus=0)
    assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
    kids = server.children()
    assert len(kids) == 2
    assert server.stop() == 0
    gone, alive = psutil.wait_procs(kids, timeout=10)
    assert not alive
    pool.clear()


def test_the_secret_from_stdin_and_a_taken_port(key_file):
    hexkey = os.urandom(32).hex()
    running = _start([os.path.join(BIN, "pathos_server"), "--secret-stdin",
                      "--workers", "1"], stdin=(hexkey + "\n").encode())
    try:
        assert not key_file.exists()           # the file was not needed
        pool = ParallelPool(servers=(running.address,), ncpus=0, secret=hexkey)
        assert pool.pipe(abs, -7) == 7
        pool.clear()
        taken = subprocess.run([os.path.join(BIN, "pathos_server"), "--port",
                                str(running.port)], capture_output=True, text=True,
                               timeout=60)
        assert taken.returncode == 2 and f"127.0.0.1:{running.port}" in taken.stderr
    finally:
        assert running.stop() == 0


def test_stop_on_eof(key_file):
    running = _start([sys.executable, "-m", "pathos_magics.transports.ssh.standalone",
                      "--stop-on-eof"])
    running.proc.stdin.close()
    assert running.proc.wait(10) == 0


# ---------------------------------------------------------------- Server, core.serve

SERVER_SCRIPT = """
import sys
from pathos_magics.server import Server
s = Server(port=0, workers=2, secret=sys.argv[1])
s.activate(onTimeout=lambda sel: True)
print("PATHOS_MAGICS_SERVER port=%d pid=0 workers=2" % s.port, flush=True)
import signal
signal.signal(signal.SIGTERM, lambda *a: s.deactivate())
try:
    s.serve(0.2)
finally:
    s.close()
"""


def test_the_pathos_server_class_serves_a_pool():
    hexkey = os.urandom(16).hex()
    running = _start([sys.executable, "-c", SERVER_SCRIPT, hexkey])
    try:
        pool = ParallelPool(servers=(running.address,), ncpus=0, secret=hexkey)
        assert pool.map(lambda x: -x, range(5)) == [0, -1, -2, -3, -4]
        pool.clear()
    finally:
        assert running.stop() == 0


def test_the_server_class_has_pathos_api():
    from pathos_magics.selector import Selector
    from pathos_magics.server import Server
    s = Server(secret=os.urandom(16))
    sel = Selector()
    s.activate(selector=sel)
    try:
        assert s.selector() is sel and 0 < s.port < 65536
        s.deactivate()
        s.serve(0.1)                       # returns at once: deactivated
        assert sel.state is False
    finally:
        s.close()


def test_core_serve_here_with_the_secret_file(key_file):
    port = _free_port()
    launcher = core.serve("pathos_server", port=port, workers=1)
    try:
        assert launcher.port == port and key_file.exists()
        pool = ParallelPool(servers=(f"localhost:{port}",), ncpus=0)
        assert pool.map(abs, [-1, -2]) == [1, 2]
        pool.clear()
    finally:
        launcher.kill()


# ---------------------------------------------------------------- scripts

@pytest.mark.parametrize("script, says", [
    ("pathos_server", "--secret-file"),
    ("tunneled_pathos_server", "ParallelPool"),
    ("pathos-server", "authkey"),
    ("pathos_tunnel", "--through"),
    ("portpicker", "free TCP port"),
])
def test_every_script_has_help(script, says):
    done = subprocess.run([os.path.join(BIN, script), "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and says.split()[0] in done.stdout.replace("\n", " ")


def test_the_server_refuses_a_bad_port():
    done = subprocess.run([os.path.join(BIN, "pathos_server"), "--port", "70000",
                           "--secret-stdin"], input="ab" * 16 + "\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "0-65535" in done.stderr


def test_a_server_that_stops_under_a_pool_leaves_the_local_workers(server):
    pool = ParallelPool(servers=(server.address,), ncpus=1)
    assert pool.map(abs, [-1, -2, -3, -4]) == [1, 2, 3, 4]
    assert server.stop() == 0                   # its workers go with it
    assert pool.map(abs, range(-20, 0)) == list(range(20, 0, -1))
    deadline = time.monotonic() + 10            # each loss is seen by its reader
    while [w.host for w in pool.workers] != ["localhost"]:
        assert time.monotonic() < deadline, pool.workers
        time.sleep(0.05)
    pool.clear()
