"""Timeouts and the liveness check on remote (ssh test hosts) and MPI workers,
with real signals.  A remote worker is a process on this machine inside the
host's network namespace, so the test signals it by its pid."""
from __future__ import annotations

import os
import signal
import sys
import time

import psutil
import pytest

from pathos_magics import events
from pathos_magics.errors import TaskTimeoutError

from mpi_needed import require_mpi  # noqa: E402 - tests/integration, on the path

pytestmark = pytest.mark.integration

PY = sys.executable       # the hosts share this file system: same venv


def _wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _cont(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def _tasks():
    """Functions defined here travel by value (the hosts cannot import
    this test module)."""
    def slow_host(x):
        import socket
        import time
        time.sleep(0.02)
        return socket.gethostname(), x

    def sleepy(x):
        import time
        if x == 5:
            time.sleep(60)
        return x

    def plus_one(x):
        import time
        time.sleep(0.02)
        return x + 1

    return slow_host, sleepy, plus_one


slow_host, sleepy, plus_one = _tasks()


# ---------------------------------------------------------------- ssh

def _remote(net, servers, **kwds):
    from pathos_magics.pools.parallel import ParallelPool
    return ParallelPool(servers=servers, ncpus=0, python=PY, **kwds)


def test_remote_task_past_its_timeout_fails_and_its_worker_exits(net):
    pool = _remote(net, {"node0": 2})
    pids = {w.label: w.pid for w in pool.workers}
    with pytest.raises(TaskTimeoutError) as info:
        pool.map(sleepy, range(10), timeout=1.0)
    assert info.value.index == 5 and info.value.worker in pids
    # its channel was closed: the worker's reader sees EOF and it exits
    assert _wait(lambda: _gone(pids[info.value.worker]))
    assert pool.map(abs, range(-3, 0)) == [3, 2, 1]
    assert info.value.worker not in {w.label for w in pool.workers}


def test_sigstopped_remote_worker_is_lost_its_tasks_run_elsewhere(net):
    pool = _remote(net, {"node0": 1, "node1": 1}, liveness_timeout=1.5)
    seen = []
    pool.subscribe(seen.append)
    victim = next(w for w in pool.workers if w.host == "node1")
    result = pool.amap(slow_host, range(150))
    assert _wait(lambda: victim.inflight)
    os.kill(victim.pid, signal.SIGSTOP)
    try:
        out = result.get(timeout=60)
        assert [x for _, x in out] == list(range(150))
        lost = [e for e in seen if isinstance(e, events.WorkerLost)]
        assert [e.worker for e in lost] == [victim.label], lost
        assert "sent nothing" in lost[0].reason
        assert victim.pid not in {w.pid for w in pool.workers}
    finally:
        _cont(victim.pid)
    # continued after it was replaced: it reads EOF and exits, harmlessly
    assert _wait(lambda: _gone(victim.pid))
    assert [x for _, x in pool.map(slow_host, range(20))] == list(range(20))
    assert _wait(lambda: "node1" in {w.host for w in pool.workers}, 20)


# ---------------------------------------------------------------- MPI

@pytest.fixture
def mpi():
    require_mpi()
    from pathos_magics.pools.mpi import MpiPool
    return MpiPool


def test_sigstopped_rank_ends_its_job_and_the_map_finishes_on_a_new_one(mpi):
    pool = mpi(2, liveness_timeout=1.5)
    seen = []
    pool.subscribe(seen.append)
    old = pool.workers
    victim = old[1]
    result = pool.amap(plus_one, range(120), chunksize=2)
    assert _wait(lambda: victim.inflight)
    os.kill(victim.pid, signal.SIGSTOP)
    try:
        assert result.get(timeout=90) == list(range(1, 121))
        # the whole job ends with its stopped rank (an MPI job cannot go on
        # without one); the rank says why, its sibling that it went with it
        lost = {e.worker: e.reason for e in seen if isinstance(e, events.WorkerLost)}
        assert set(lost) == {w.label for w in old}, lost
        assert "sent nothing" in lost[victim.label]
        assert _wait(lambda: _gone(victim.pid))
    finally:
        _cont(victim.pid)
    assert victim.pid not in {w.pid for w in pool.workers}
    assert pool.map(plus_one, range(5)) == [1, 2, 3, 4, 5]


def test_mpi_task_past_its_timeout_fails_naming_it(mpi):
    pool = mpi(2)
    with pytest.raises(TaskTimeoutError) as info:
        pool.map(sleepy, range(8), timeout=1.0)
    assert info.value.index == 5
    assert pool.map(plus_one, range(3)) == [1, 2, 3]
