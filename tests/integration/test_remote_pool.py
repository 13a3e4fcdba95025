"""Remote workers over real ssh: ParallelPool, the worker server, host loss,
package shipping, version checks, the host registry."""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from multiprocess.connection import AuthenticationError, Client

from pathos_magics import events as ev
from pathos_magics import hosts, ssh, wire
from pathos_magics.errors import PoolClosedError, TransportError
from pathos_magics.pools.parallel import ParallelPool, RemotePool
from pathos_magics.transports.ssh.protocol import INTENT_INFO, INTENT_WORKER
from pathos_magics.transports.ssh.transport import ChannelConnection, SSHTransport

pytestmark = pytest.mark.integration

PY = sys.executable       # the hosts share this file system: same venv


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _hosts_of(pool) -> set[str]:
    return {w.host for w in pool.workers}


# ---------------------------------------------------------------- the pool

def test_two_hosts_plus_local_workers_give_exact_results(net):
    done_by: dict[str, int] = {}

    def count(e):
        if isinstance(e, ev.TasksDone):
            done_by[e.worker] = done_by.get(e.worker, 0) + e.count

    pool = ParallelPool(servers=({"node0": 2}, {"root@node1": 2}), ncpus=2, python=PY)
    assert RemotePool is ParallelPool
    pool.subscribe(count)
    offset = 7                                      # a closure, as in a notebook
    result = pool.map(lambda x: x * 2 + offset, range(10_000))
    assert result == [x * 2 + offset for x in range(10_000)]
    assert sorted(w.label for w in pool.workers) == [
        "local-0", "local-1", "node0-0", "node0-1", "node1-0", "node1-1"]
    assert _hosts_of(pool) == {"localhost", "node0", "node1"}
    assert sum(done_by.values()) == 10_000
    assert {lbl.split("-")[0] for lbl in done_by} == {"local", "node0", "node1"}
    # the rest of the API, through remote workers
    assert sorted(pool.uimap(lambda a, b: a * b, range(50), range(50))) == \
        sorted(a * a for a in range(50))
    assert pool.pipe(divmod, 17, 5) == (3, 2)
    with pytest.raises(ZeroDivisionError):
        pool.map(lambda x: 1 // (x - 5), range(10))


def test_pools_with_other_servers_do_not_share_workers(net):
    a = ParallelPool(servers=({"node0": 1},), ncpus=0, python=PY)
    b = ParallelPool(servers=({"node1": 1},), ncpus=0, python=PY)
    again = ParallelPool(servers=({"node0": 1},), ncpus=0, python=PY)
    assert _hosts_of(a) == {"node0"} and _hosts_of(b) == {"node1"}
    assert [w.pid for w in again.workers] == [w.pid for w in a.workers]


def test_one_unreachable_host_fails_the_pool_and_cleans_the_others(net):
    ghost = {f"root@{net['node1'].gateway}": 1}          # no sshd there
    with pytest.raises(TransportError, match=net["node1"].gateway):
        ParallelPool(servers=({"node0": 2}, ghost), ncpus=1, python=PY,
                     connect_timeout=3)
    _wait(lambda: not net["node0"].python_processes(), 10, "node0 to be empty")


def test_remote_workers_run_on_the_hosts(net):
    pool = ParallelPool(servers=({"node0": 1}, {"node1": 1}), ncpus=0, python=PY)

    def where(_):
        import subprocess
        return subprocess.run(["ip", "-4", "-o", "addr", "show", "eth0"],
                              capture_output=True, text=True).stdout

    seen = "".join(pool.map(where, range(40)))
    assert net["node0"].address in seen and net["node1"].address in seen


def test_worker_output_reaches_the_kernel_marked(net, capsys):
    pool = ParallelPool(servers=({"node0": 1},), ncpus=0, python=PY)
    pool.map(print, ["hello from afar"])
    assert "[node0-0] hello from afar" in capsys.readouterr().out


def test_host_killed_mid_map_map_still_completes(net):
    pool = ParallelPool(servers=({"node0": 2}, {"node1": 2}), ncpus=1, python=PY)
    victim = net["node1"]
    started = threading.Event()

    def kill_host():
        started.wait(10)
        time.sleep(0.3)
        for pid in victim.pids():              # its sshd, server and workers
            os.kill(pid, signal.SIGKILL)

    threading.Thread(target=kill_host, daemon=True).start()

    def slow(x):
        time.sleep(0.005)
        return x * 3

    res = pool.amap(slow, range(600))
    started.set()
    assert res.get(60) == [x * 3 for x in range(600)]
    assert "node1" not in _hosts_of(pool)
    # The host comes back: the next map reconnects to it.
    net.restart_sshd(victim)
    assert pool.map(slow, range(20)) == [x * 3 for x in range(20)]
    _wait(lambda: "node1" in _hosts_of(pool), 20, "node1 to rejoin the pool")
    assert pool.map(slow, range(200)) == [x * 3 for x in range(200)]


def test_link_cut_mid_map_map_still_completes(net):
    pool = ParallelPool(servers=({"node0": 1}, {"node1": 1}), ncpus=1, python=PY)
    victim = net["node0"]

    def slow(x):
        time.sleep(0.01)
        return -x

    res = pool.amap(slow, range(300))
    time.sleep(0.5)
    victim.cut()
    try:
        # a dead link is noticed by ssh keepalive + TCP_USER_TIMEOUT (~15 s)
        assert res.get(60) == [-x for x in range(300)]
    finally:
        victim.restore()


def test_no_process_left_on_any_host_after_clear(net):
    pool = ParallelPool(servers=({"node0": 2}, {"node1": 2}), ncpus=1, python=PY)
    assert pool.map(abs, range(-50, 50)) == [abs(x) for x in range(-50, 50)]
    assert all(h.python_processes() for h in net.hosts)     # servers + workers
    pool.clear()
    for h in net.hosts:
        _wait(lambda h=h: not h.python_processes(), 10, f"{h.name} to be empty")
    ssh.close_all()                      # the ssh connections too: only sshd -D
    for h in net.hosts:
        _wait(lambda h=h: h.pids() == [h.sshd_pid], 10, f"{h.name} sessions to end")


def test_kernel_side_gone_server_exits(net):
    """Closing the ssh connection (as a dead kernel does) ends server + workers."""
    t = SSHTransport("node0", workers=2, python=PY)
    t.prepare()
    assert net["node0"].python_processes()
    ssh.close_all()
    _wait(lambda: not net["node0"].python_processes(), 10, "the server to exit")
    t.close(1.0)


def test_terminate_mid_map_stops_remote_tasks(net):
    pool = ParallelPool(servers=({"node0": 2},), ncpus=0, python=PY)
    res = pool.amap(time.sleep, [30] * 4)
    _wait(lambda: len(net["node0"].python_processes()) >= 3, 10, "workers")
    t0 = time.monotonic()
    pool.terminate()
    assert time.monotonic() - t0 < 5
    with pytest.raises(PoolClosedError, match="terminated"):
        res.get(5)
    _wait(lambda: not net["node0"].python_processes(), 10, "node0 to be empty")


def test_keyboard_interrupt_stops_remote_tasks_and_pool_still_works(net, tmp_path):
    pool = ParallelPool(servers=({"node0": 1}, {"node1": 1}), ncpus=0, python=PY)
    pids = sorted(w.pid for w in pool.workers)
    folder = str(tmp_path)            # the hosts share this file system

    def sleep_then_touch(x):
        time.sleep(30)
        open(os.path.join(folder, str(x)), "w").close()

    timer = threading.Timer(0.5, signal.pthread_kill,
                            (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.map(sleep_then_touch, range(4))
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 2.5
    assert sorted(w.pid for w in pool.workers) == pids     # stopped, not killed
    assert pool.map(abs, [-1, -2]) == [1, 2]
    assert os.listdir(folder) == []                        # no task ran on


def test_killed_kernel_leaves_no_process_on_the_hosts(net, tmp_path):
    """A kernel that dies without cleaning up: its hosts clean themselves."""
    script = tmp_path / "kernel.py"
    script.write_text(
        "import sys, time\n"
        "from pathos_magics.pools.parallel import ParallelPool\n"
        f"pool = ParallelPool(servers={{'node0': 2, 'node1': 1}}, ncpus=0, python={PY!r})\n"
        "pool.map(abs, range(10))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n")
    kernel = subprocess.Popen([PY, str(script)], stdout=subprocess.PIPE)
    try:
        assert kernel.stdout.readline() == b"ready\n"
        assert all(h.python_processes() for h in net.hosts)
        kernel.kill()
        kernel.wait(10)
    finally:
        if kernel.poll() is None:
            kernel.kill()
            kernel.wait(10)
        kernel.stdout.close()
    for h in net.hosts:
        _wait(lambda h=h: not h.python_processes(), 10, f"{h.name} to be empty")


# ---------------------------------------------------------------- the server

def test_server_refuses_a_wrong_authkey_over_ssh(net):
    t = SSHTransport("node0", workers=1, python=PY)
    t.prepare()
    server = t._server
    session = ssh.get_session("node0")
    from multiprocess.connection import answer_challenge
    chan = session.open_direct("127.0.0.1", server.port)
    chan.settimeout(10)
    with pytest.raises(AuthenticationError):
        answer_challenge(ChannelConnection(chan), wire.new_authkey())
    chan.close()
    # the server keeps serving the right key
    sink = _Sink()
    workers = t.start(1, sink)
    _wait(lambda: sink.hello, 10, "HELLO")
    workers[0].stop(2.0)
    t.close(2.0)


def test_server_locally_binds_loopback_reads_key_from_stdin():
    key = wire.new_authkey()
    proc = subprocess.Popen([PY, "-m", "pathos_magics.server", "--workers", "1"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(key.hex().encode() + b"\n")
        proc.stdin.flush()
        banner = proc.stdout.readline().decode()
        assert banner.startswith("PATHOS_MAGICS_SERVER port=")
        port = int(banner.split()[1].split("=")[1])
        assert key.hex() not in " ".join(_cmdline(proc.pid))     # never argv
        with pytest.raises(AuthenticationError):
            Client(("127.0.0.1", port), authkey=b"wrong" * 8)
        conn = Client(("127.0.0.1", port), authkey=key)
        conn.send_bytes(INTENT_INFO)                # what it offers, as JSON
        assert json.loads(conn.recv_bytes())["workers"] == 1
        conn.close()
        conn = Client(("127.0.0.1", port), authkey=key)
        conn.send_bytes(INTENT_WORKER)              # a worker, which says hello
        hello = wire.Channel(conn).recv()
        assert hello[0] == wire.HELLO
        conn.close()
    finally:
        proc.stdin.close()                      # the kernel went away
        assert proc.wait(10) == 0
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
    assert "refused a connection" in err


def _cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode().split("\0")


class _Sink:
    def __init__(self):
        self.hello = None

    def on_message(self, worker, msg):
        if msg[0] == wire.HELLO:
            self.hello = msg[1]

    def on_lost(self, worker, reason):
        pass


# ---------------------------------------------------------------- launching

@pytest.mark.parametrize("python", [f"{PY} -S", "/usr/bin/python3"],
                         ids=["no-site-packages", "system-python"])
def test_packages_are_copied_to_a_host_that_lacks_them(net, python):
    """`-S`: this very Python without its site-packages, so surely without
    dill or pathos_magics; and the distribution's Python, when it matches."""
    probe = ssh.Pipe("node1").run(python.split() + [
        "-c", "import sys;print('%d.%d' % sys.version_info[:2]);import dill"])
    want = "%d.%d" % sys.version_info[:2]
    if not probe.stdout.startswith(want) or probe.ok:
        pytest.skip(f"needs a {want} Python without dill at {python}")
    pool = ParallelPool(servers=({"node1": 2},), ncpus=0, python=python)
    assert pool.map(lambda x: x ** 2, range(100)) == [x ** 2 for x in range(100)]
    private = os.environ["PATHOS_MAGICS_REMOTE_DIR"]
    assert glob.glob(os.path.join(private, "py*", "site", "pathos_magics", "worker.py"))
    assert glob.glob(os.path.join(private, "py*", "site", "dill", "__init__.py"))
    assert oct(os.stat(glob.glob(os.path.join(private, "py*"))[0]).st_mode & 0o777) \
        == "0o700"                                  # a private folder


def test_python_version_mismatch_is_a_clear_error_before_any_task(net):
    want = sys.version_info[:2]
    others = [p for p in glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))
              + ["/usr/bin/python3.12", "/usr/bin/python3.10"]
              if os.path.exists(p) and f"/{want[0]}.{want[1]}" not in p
              and not p.endswith(f"python{want[0]}.{want[1]}")]
    if not others:
        pytest.skip("no Python of another minor version on this machine")
    with pytest.raises(TransportError, match=r"runs Python 3\.\d+.*this kernel runs"):
        ParallelPool(servers=({"node0": 1},), ncpus=1, python=others[0])
    assert not net["node0"].python_processes()


def test_unknown_host_key_refuses_the_pool(net, tmp_path, monkeypatch):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", str(kh))
    with pytest.raises(ssh.HostKeyError, match="accept_new_host_key"):
        ParallelPool(servers=({"node0": 1},), ncpus=1, python=PY)


@pytest.mark.parametrize("bad", ["node1:0", "node1:x", "a b", "u@@node1",
                                 "node1:2:3", "", "-node1"])
def test_malformed_server_specs_are_refused(bad):
    with pytest.raises(hosts.HostSpecError, match=r"\[user@\]host\[:workers\]"):
        ParallelPool(servers=(bad,), ncpus=1)


# ---------------------------------------------------------------- registry

def test_registry_round_trip_with_probe_drives_the_pool(net, registry_dir):
    entry = hosts.add("root@node0", probe=True, python=PY)
    nproc = int(ssh.Pipe("node0").run(["nproc"]).stdout)
    assert (entry.workers, entry.status, entry.user) == (nproc, "ok", "root")
    again = hosts.get("node0")
    assert again == entry
    assert (registry_dir / "hosts.json").exists()
    # the pool takes user, worker count and python from the registry
    pool = ParallelPool(servers=("node0",), ncpus=0)
    assert len(pool.workers) == nproc
    assert hosts.get("node0").status == "ok"
    # an unreachable host is recorded as such
    hosts.add(f"root@{net['node1'].gateway}", name="ghost")
    hosts.probe("ghost")
    assert hosts.get("ghost").status == "unreachable"
    assert hosts.remove("ghost") and hosts.get("ghost") is None


def test_a_few_long_tasks_go_one_to_each_remote_worker(net):
    # issue 10.1 on ssh workers: 2 tasks on 2 hosts x 1 worker, one each
    # (a lambda: it travels by value, the hosts cannot import this file)
    pool = ParallelPool(servers={"node0": 1, "node1": 1}, ncpus=0, python=PY)
    try:
        for items in (range(2), iter(range(2))):          # a list, and a generator
            ran_on = pool.map(lambda x: (__import__("time").sleep(0.3),
                                         __import__("os").getpid())[1], items)
            assert len(set(ran_on)) == 2, ran_on
    finally:
        pool.clear()
