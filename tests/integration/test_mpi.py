"""MpiPool against a real MPI job (MPICH from the ``mpich`` wheel).

Runs 2 to 4 ranks (1 to 3 workers and the relay rank) on however few cores
the machine has: oversubscribed on purpose, as in CI.  After every test the
leak check of conftest.py runs; tests that end a job also check its ranks by
pid, since a rank that lost its parent would no longer be our child.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from pathos_magics import events
from pathos_magics.errors import NoWorkersError, TransportError, WorkerLostError

from mpi_needed import require_mpi  # noqa: E402 - tests/integration, on the path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def _need_mpi():
    require_mpi()


def _pool(nodes: int, **kwds):
    from pathos_magics.pools.mpi import MpiPool
    return MpiPool(nodes, **kwds)


@pytest.fixture(params=[1, 3], ids=["2ranks", "4ranks"])
def pool(request):
    p = _pool(request.param)
    yield p
    p.clear()


def _job_pids(pool) -> list[int]:
    """Every process of the pool's job: launcher, proxy, relay, workers."""
    me = psutil.Process()
    return [p.pid for p in me.children(recursive=True)
            if "pathos_magics.mpi" in " ".join(_cmdline(p))
            or "mpiexec" in " ".join(_cmdline(p))
            or "hydra_pmi_proxy" in " ".join(_cmdline(p))]


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def _gone(pids, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _eventually(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# ---------------------------------------------------------------- results

def square(x):
    return x * x


def test_workers_are_ranks_of_one_job(pool):
    workers = pool.workers
    assert len(workers) == pool.nodes
    assert len({w.pid for w in workers}) == pool.nodes
    assert all(w.pid and _alive(w.pid) for w in workers)
    # the ranks answer, each from its own process
    pids = pool.map(lambda _: os.getpid(), range(40), chunksize=1)
    assert set(pids) <= {w.pid for w in workers}
    # the job runs in sessions of its own: Jupyter's interrupt (SIGINT to
    # the kernel's process group) cannot reach it, only the scheduler's CANCEL
    for pid in _job_pids(pool):
        assert os.getsid(pid) != os.getsid(0)


def test_every_api_method(pool):
    assert pool.map(lambda x: x ** 2, range(10)) == [x ** 2 for x in range(10)]
    assert pool.map(pow, [1, 2, 3], [4, 5, 6]) == [1, 32, 729]
    assert pool.map(square, []) == []
    it = pool.imap(square, range(50))
    assert next(it) == 0
    assert list(it) == [x * x for x in range(1, 50)]
    assert sorted(pool.uimap(square, range(100))) == [x * x for x in range(100)]
    r = pool.amap(square, range(6))
    assert r.get(timeout=30) == [0, 1, 4, 9, 16, 25]
    assert r.ready() and r.successful()
    assert pool.apipe(lambda x, y=0: x + y, 1, y=2).get(timeout=30) == 3
    assert pool.pipe(max, 3, 4) == 4


def test_many_small_tasks_keep_order(pool):
    n = 20_000
    assert pool.map(lambda x: x + 1, range(n)) == list(range(1, n + 1))


def test_closures_and_local_classes_travel(pool):
    offset = 10

    class Point:                                    # noqa: local class on purpose
        def __init__(self, x):
            self.x = x
    pts = pool.map(lambda x: Point(x + offset), range(3))
    assert [p.x for p in pts] == [10, 11, 12]


def test_task_error_is_raised_with_worker_traceback():
    pool = _pool(2)

    def boom(x):
        if x == 3:
            raise KeyError(f"bad {x}")
        return x
    with pytest.raises(KeyError, match="bad 3") as info:
        pool.map(boom, range(8))
    assert "worker mpi-" in str(info.value.__cause__)
    assert "raise KeyError" in str(info.value.__cause__)
    assert pool.map(abs, [-1]) == [1]                # usable afterwards


def _chatty(x):
    print("task", x, "says hi")
    return x


def test_worker_output_is_marked_with_its_worker(capfd):
    pool = _pool(2)
    assert pool.map(_chatty, range(4)) == list(range(4))
    out, _ = capfd.readouterr()
    lines = [ln for ln in out.splitlines() if "says hi" in ln]
    assert len(lines) == 4
    assert all(ln.startswith("[mpi-") for ln in lines)


MAIN_SCRIPT = textwrap.dedent('''
    from pathos_magics.pools.mpi import MpiPool

    SCALE = 3

    class Point:
        def __init__(self, x):
            self.x = x
        def norm(self):
            return abs(self.x) * SCALE

    def make_adder(n):
        return lambda x: x + n

    if __name__ == "__main__":
        pool = MpiPool(2)
        assert pool.map(lambda x: x * SCALE, range(5)) == [0, 3, 6, 9, 12]
        assert pool.map(make_adder(10), [1, 2]) == [11, 12]
        assert pool.map(Point.norm, [Point(-1), Point(2)]) == [3, 6]
        assert pool.map(Point, [7])[0].x == 7
        pool.clear()
        print("OK")
''')


def test_code_from_main_runs_on_ranks(tmp_path):
    script = tmp_path / "main_script.py"
    script.write_text(MAIN_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, timeout=90, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("OK")


def test_cache_shares_the_job_until_clear():
    a, b = _pool(2), _pool(2)
    assert [w.pid for w in a.workers] == [w.pid for w in b.workers]
    old = _job_pids(a)
    assert len(old) >= 4                    # launcher, relay, 2 workers (+ proxy)
    a.clear()
    assert _gone(old), "the job outlived clear()"
    assert {w.pid for w in b.workers}.isdisjoint(old)      # b starts a new job
    assert b.map(abs, [-3]) == [3]


def _mpich_shm() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("mpich_shm_")}


def test_a_clear_leaves_no_shared_memory_behind():
    # MPICH removes its /dev/shm segments in MPI_Finalize: a rank killed
    # while it leaves (as the first rank's exit used to trigger) leaves
    # them, 2-4 MB of RAM each, until the machine restarts
    before = _mpich_shm()
    for nodes in (1, 2, 3, 2, 3):
        pool = _pool(nodes)
        assert pool.map(abs, [-1, -2, -3, -4]) == [1, 2, 3, 4]
        old = _job_pids(pool)
        pool.clear()
        assert _gone(old)
    assert _mpich_shm() - before == set()
    # nor a job torn down because a rank died (killed before MPI_Finalize)
    pool = _pool(2)
    assert pool.map(abs, [-1]) == [1]
    os.kill(pool.workers[0].pid, signal.SIGKILL)
    assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]       # on a new job
    old = _job_pids(pool)
    pool.clear()
    assert _gone(old)
    assert _mpich_shm() - before == set()


# ---------------------------------------------------------------- failures

def _die_once(x, marker):
    if x == 5 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return x * 10


def test_rank_exit_mid_map_restarts_the_job_and_retries(tmp_path):
    pool = _pool(2)
    seen = []
    pool.subscribe(seen.append)
    old = _job_pids(pool)
    marker = str(tmp_path / "died")
    assert pool.map(_die_once, range(40), [marker] * 40) == [x * 10 for x in range(40)]
    lost = [e for e in seen if isinstance(e, events.WorkerLost)]
    assert len(lost) == 2                             # the whole job went
    assert all("MPI job ended" in e.reason for e in lost), lost
    first = lost[0].reason                            # the rank that exited
    assert "died first" in first and "ended with it" not in first, first
    assert _gone(old), "the dead job left processes behind"
    assert _eventually(lambda: len(pool.workers) == 2)
    assert pool.map(abs, [-1, -2]) == [1, 2]


def test_rank_killed_mid_map_is_retried_on_a_new_job():
    pool = _pool(3)
    victim = pool.workers[1].pid
    old = _job_pids(pool)
    seen = []
    pool.subscribe(seen.append)

    def slow(x):
        time.sleep(0.01)
        return x + 1

    killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
    killer.start()
    try:
        assert pool.map(slow, range(200), chunksize=4) == list(range(1, 201))
    finally:
        killer.cancel()
    lost = [e for e in seen if isinstance(e, events.WorkerLost)]
    assert len(lost) == 3
    first = lost[0].reason
    # The local MPICH job runs without auto-cleanup, so the watch usually
    # sees the victim alone die and names it.  Sometimes MPICH's launcher
    # itself fails a few ms later and takes every rank; a watch that woke
    # late on a loaded machine then names each rank it saw dead.
    assert f"worker mpi-1 (rank 2, pid {victim})" in first, first
    assert "died first" in first, first
    assert all("MPI job ended" in e.reason for e in lost), lost
    assert _gone(old)
    assert victim not in [w.pid for w in pool.workers]
    assert len(pool.workers) == 3


def test_relay_killed_mid_map_is_retried_on_a_new_job():
    pool = _pool(2)
    relay = pool.workers[0].job.relay["pid"]
    old = _job_pids(pool)
    seen = []
    pool.subscribe(seen.append)

    def slow(x):
        time.sleep(0.01)
        return x

    killer = threading.Timer(0.3, os.kill, (relay, signal.SIGKILL))
    killer.start()
    try:
        assert pool.map(slow, range(100), chunksize=2) == list(range(100))
    finally:
        killer.cancel()
    lost = [e for e in seen if isinstance(e, events.WorkerLost)]
    assert len(lost) == 2
    assert all(f"relay (rank 0, pid {relay})" in e.reason for e in lost), lost
    assert _gone(old)
    assert len(pool.workers) == 2


def test_jobs_that_keep_dying_idle_are_not_restarted_forever(caplog):
    pool = _pool(1)
    for _ in range(3):                   # each new job dies at once, doing nothing
        assert _eventually(lambda: len(pool.workers) == 1)
        victim = pool.workers[0].pid
        os.kill(victim, signal.SIGKILL)
        assert _eventually(lambda: victim not in [w.pid for w in pool.workers])
    assert _eventually(lambda: "not starting another" in caplog.text)
    with pytest.raises(NoWorkersError, match="no live workers"):
        pool.map(abs, [-1])
    pool.clear()                         # (restart() refuses a "running" pool)
    assert pool.map(abs, [-1]) == [1]


def _always_die(x):
    if x == 3:
        os._exit(3)
    return x


def test_task_that_kills_every_job_is_named():
    pool = _pool(2)
    with pytest.raises(WorkerLostError, match=r"task 3 \(item 3\)") as info:
        pool.map(_always_die, range(8))
    assert info.value.task_indices == (3,)
    assert "MPI job ended" in str(info.value)
    assert pool.map(abs, [-5]) == [5]                 # a new job took over


def test_job_that_cannot_be_restarted_fails_the_map_clearly(tmp_path):
    # a launcher that works once: after the first job dies, no new one starts
    # (and, not being MPICH's own mpiexec path, it runs with auto-cleanup)
    real = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    once = tmp_path / "mpiexec-once"
    once.write_text(f"#!/bin/sh\nif [ -e {tmp_path}/used ]; then\n"
                    f"  echo 'no more MPI today' >&2; exit 4\nfi\n"
                    f"touch {tmp_path}/used\nexec {real} \"$@\"\n")
    once.chmod(0o755)
    pool = _pool(2, launcher=str(once))
    old = _job_pids(pool)
    t0 = time.monotonic()
    with pytest.raises(NoWorkersError, match="MPI job ended") as info:
        pool.map(_always_die, range(8))
    assert time.monotonic() - t0 < 20
    assert "pool.restart()" in str(info.value)
    assert _gone(old)


def _sleep_then_touch(x, folder):
    time.sleep(30)
    open(os.path.join(folder, str(x)), "w").close()
    return x


def _interrupt_main_soon(delay: float):
    t = threading.Timer(delay, signal.pthread_kill,
                        (threading.main_thread().ident, signal.SIGINT))
    t.start()
    return t


@pytest.mark.parametrize("method", ["map", "imap", "amap"])
def test_keyboard_interrupt_stops_the_ranks_tasks(tmp_path, method):
    pool = _pool(2)
    pids = sorted(w.pid for w in pool.workers)
    timer = _interrupt_main_soon(0.5)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        args = (_sleep_then_touch, range(4), [str(tmp_path)] * 4)
        if method == "map":
            pool.map(*args)
        elif method == "imap":
            list(pool.imap(*args))
        else:
            pool.amap(*args).get()
    took = time.monotonic() - start
    timer.cancel()
    assert took < 2.5, f"interrupt took {took:.1f}s"
    # the ranks stopped their tasks and take new work: same job, same pids
    assert sorted(w.pid for w in pool.workers) == pids
    assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
    assert list(tmp_path.iterdir()) == []             # no task ran on


def _stubborn(x):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:        # swallows the cancel, like a C loop
        try:
            time.sleep(0.05)
        except BaseException:
            pass
    return x


def test_interrupt_of_a_task_that_will_not_stop_ends_and_replaces_the_job():
    pool = _pool(2)
    old = _job_pids(pool)
    seen = []
    pool.subscribe(seen.append)
    timer = _interrupt_main_soon(0.5)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        pool.map(_stubborn, range(4))
    took = time.monotonic() - start
    timer.cancel()
    assert took < 5, f"interrupt took {took:.1f}s"
    assert _gone(old)

    def lost():
        return [e for e in seen if isinstance(e, events.WorkerLost)]
    assert _eventually(lambda: len(lost()) == 2)          # reported by the reader
    assert "did not stop its task in time" in lost()[0].reason, lost()
    assert _eventually(lambda: len(pool.workers) == 2)
    assert pool.map(abs, [-1, -2]) == [1, 2]          # a new job took over


def test_terminate_mid_map_ends_the_job():
    pool = _pool(2)
    old = _job_pids(pool)
    result = pool.amap(time.sleep, [30, 30])
    time.sleep(0.3)
    t0 = time.monotonic()
    pool.terminate()
    assert time.monotonic() - t0 < 5
    with pytest.raises(Exception):
        result.get(timeout=5)
    assert _gone(old)


def test_close_join_lets_the_map_finish():
    pool = _pool(2)
    old = _job_pids(pool)
    result = pool.amap(square, range(100))
    pool.close()
    pool.join()
    assert result.get(timeout=5) == [x * x for x in range(100)]
    assert _gone(old)


ORPHAN_SCRIPT = textwrap.dedent('''
    import os, sys, time
    from pathos_magics.pools.mpi import MpiPool
    pool = MpiPool(2)
    pool.amap(time.sleep, [60, 60])
    print(" ".join(str(w.pid) for w in pool.workers), flush=True)
    time.sleep(60)
''')


def test_job_ends_when_its_kernel_is_killed(tmp_path):
    before = _mpich_shm()
    script = tmp_path / "kernel.py"
    script.write_text(ORPHAN_SCRIPT)
    kernel = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              text=True)
    try:
        ranks = [int(pid) for pid in kernel.stdout.readline().split()]
        assert len(ranks) == 2
        job = [p.pid for p in psutil.Process(kernel.pid).children(recursive=True)]
    finally:
        kernel.kill()
        kernel.wait(10)
        kernel.stdout.close()
    # the relay sees its link drop and aborts the job: nothing lingers
    assert _gone(job + ranks, timeout=15), [_cmdline(psutil.Process(p)) for p in
                                            job + ranks if _alive(p)]
    assert _mpich_shm() - before == set()       # not even MPICH's files


# ---------------------------------------------------------------- start errors

def test_missing_launcher_says_what_to_install():
    with pytest.raises(TransportError, match=r"pip install pathos_magics\[mpi\]") as info:
        _pool(2, launcher="no-such-mpiexec")
    assert "'no-such-mpiexec' was not found" in str(info.value)


def test_launcher_that_fails_is_reported_with_its_output(tmp_path):
    fake = tmp_path / "mpiexec"
    fake.write_text("#!/bin/sh\necho 'fake launcher: no MPI here' >&2\nexit 3\n")
    fake.chmod(0o755)
    t0 = time.monotonic()
    with pytest.raises(TransportError) as info:
        _pool(2, launcher=str(fake))
    text = str(info.value)
    assert "exited with code 3" in text and "no MPI here" in text, text
    assert "pip install pathos_magics[mpi]" in text
    assert time.monotonic() - t0 < 10


def test_job_that_never_connects_times_out(tmp_path):
    fake = tmp_path / "mpiexec"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    with pytest.raises(TransportError, match="did not connect back in time"):
        _pool(2, launcher=str(fake), start_timeout=1.0)


def test_handshake_refuses_a_wrong_key_and_a_silent_peer():
    import socket

    from multiprocess.connection import Connection, answer_challenge, deliver_challenge

    from pathos_magics.transports.mpi.launcher import authenticate
    key = os.urandom(32)

    def tcp_pair():
        with socket.create_server(("127.0.0.1", 0)) as server:
            client = socket.create_connection(server.getsockname())
            accepted, _ = server.accept()
        return accepted, client

    def impostor(sock, their_key):
        conn = Connection(sock.detach())
        try:
            answer_challenge(conn, their_key)
            deliver_challenge(conn, their_key)
        except Exception:
            pass
        finally:
            conn.close()

    ours, theirs = tcp_pair()
    t = threading.Thread(target=impostor, args=(theirs, os.urandom(32)))
    t.start()
    assert authenticate(ours, key, 5.0) is None
    t.join(5)
    ours, silent = tcp_pair()                       # connects, then says nothing
    t0 = time.monotonic()
    assert authenticate(ours, key, 0.5) is None
    assert time.monotonic() - t0 < 3
    silent.close()
    ours, friend = tcp_pair()
    t = threading.Thread(target=impostor, args=(friend, key))
    t.start()
    conn = authenticate(ours, key, 5.0)
    assert conn is not None
    conn.close()
    t.join(5)


def test_authkey_is_not_on_any_command_line():
    pool = _pool(1)
    me = psutil.Process()
    for p in me.children(recursive=True):
        cmd = " ".join(_cmdline(p))
        assert "authkey" not in cmd
        assert not any(len(word) >= 64 and all(c in "0123456789abcdef" for c in word)
                       for word in cmd.split()), cmd
    assert pool.map(abs, [-1]) == [1]


def test_magics_choose_an_mpi_pool():
    """%pathos pool mpi N and %%pmap --pool mpi -n N run on MPI ranks."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from pathos_magics import active
    from pathos_magics.pools import MpiPool
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "pathos_magics")
    ip.run_line_magic("pathos", "progress off")
    try:
        report = ip.run_line_magic("pathos", "pool mpi 2")
        assert "MpiPool" in repr(report) and "2 workers" in repr(report)
        ip.run_cell("K = 5")
        result = ip.run_cell("%%pmap x in range(30)\nx * K")
        assert result.success, result.error_in_exec
        assert result.result == [x * 5 for x in range(30)]
        result = ip.run_cell("%%pmap --pool mpi -n 2 a, b in zip(range(4), range(4))\na + b")
        assert result.result == [0, 2, 4, 6]
    finally:
        MpiPool(2).clear()
        active.reset_active()
        ip.run_line_magic("unload_ext", "pathos_magics")


def _new_listeners(before: set) -> list:
    """This process's TCP listeners on loopback that were not in ``before``."""
    return [c.laddr for c in psutil.Process().net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr not in before]


def test_silent_connections_do_not_delay_the_start():
    """Seven local connections to the kernel's short-lived listener that
    never say a word: each is authenticated on its own, so the job's relay
    gets through at once and the pool starts promptly."""
    import socket
    from pathos_magics.transports.mpi.launcher import AUTH_TIMEOUT
    before = {c.laddr for c in psutil.Process().net_connections(kind="tcp")}
    silent: list = []
    done = threading.Event()

    def squat():
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            found = _new_listeners(before)
            if found:
                for _ in range(7):
                    silent.append(socket.create_connection(tuple(found[0]), timeout=5))
                return
            time.sleep(0.002)

    t = threading.Thread(target=squat)
    t.start()
    t0 = time.monotonic()
    try:
        pool = _pool(1)
        took = time.monotonic() - t0
        assert pool.map(abs, [-1, -2]) == [1, 2]
    finally:
        done.set()
        t.join(30)
        for s in silent:
            s.close()
        _pool(1).clear()
    assert len(silent) == 7, "the silent peers never found the listener"
    assert took < 2 * AUTH_TIMEOUT, f"the start took {took:.1f}s"


def test_local_job_listens_on_loopback_only():
    """Nothing of a job whose ranks all run here (launcher, ranks, their
    network layers) listens on an address other hosts could reach."""
    import ipaddress
    pool = _pool(2)
    try:
        assert pool.map(abs, [-1, -2]) == [1, 2]
        pids = _job_pids(pool)
        assert len(pids) >= 3                   # launcher, relay, two workers
        listening = []
        for pid in pids:
            try:
                conns = psutil.Process(pid).net_connections(kind="inet")
            except psutil.NoSuchProcess:
                continue
            listening += [(pid, c.laddr) for c in conns
                          if c.status == psutil.CONN_LISTEN]
        public = [(pid, addr) for pid, addr in listening
                  if not ipaddress.ip_address(addr.ip).is_loopback]
        assert not public, f"the job listens off this machine: {public}"
    finally:
        pool.clear()


def test_profiled_map_brings_every_ranks_stats_back():
    """The ranks profile their chunks and their stats merge in the kernel
    (and the ranks' path does not hold the package's own folder, where its
    profile.py would shadow the stdlib's that cProfile imports)."""
    import pathos_magics.profile as pr
    pool = _pool(2)
    pr.enable_profiling()
    try:
        def h(x):
            return sum(range(x))

        assert pool.map(h, range(50)) == [sum(range(x)) for x in range(50)]
        stats = pr.get_stats()
        assert set(stats.workers) <= {"mpi-0", "mpi-1"} and stats.workers
        assert sum(e[1] for f, e in stats.stats.items() if f[2] == "h") == 50
    finally:
        pr.disable_profiling()
        pr.clear_stats()
        pool.clear()


def _rank_of_task(x):
    import time
    from mpi4py import MPI
    time.sleep(0.3)
    return MPI.COMM_WORLD.Get_rank()


def test_a_few_long_tasks_go_one_to_each_rank():
    # issue 10.1/10.2 on MPI ranks: 2 tasks on 2 worker ranks, one each
    pool = _pool(2)
    try:
        for items in (range(2), iter(range(2))):
            assert sorted(pool.map(_rank_of_task, items)) == [1, 2]
    finally:
        pool.clear()
