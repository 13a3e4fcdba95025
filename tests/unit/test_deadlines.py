"""Per-task timeouts and the liveness check (scheduler/deadlines.py), with
real worker processes and real signals (SIGSTOP, SIGCONT, SIGKILL)."""
from __future__ import annotations

import os
import pickle
import signal
import time
import warnings

import psutil
import pytest

from pathos_magics import events
from pathos_magics.errors import PathosMagicsError, TaskTimeoutError
from pathos_magics.pools import ProcessPool, SerialPool, ThreadPool


def sleepy(x):
    if x == 3:
        time.sleep(60)
    return x * 10


def slow_pid(x):
    time.sleep(0.05)
    return os.getpid()


def spin(x):
    if x == 2:
        while True:          # Python code: an interrupt stops it
            pass
    return x


def dead_or_gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` has exited (or is a zombie), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def wait_for(pred, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------- per-task timeout

def test_task_past_its_timeout_fails_naming_it_and_the_next_map_gets_a_fresh_worker():
    pool = ProcessPool(2)
    before = {w.label: w.pid for w in pool.workers}
    with pytest.raises(TaskTimeoutError) as info:
        pool.map(sleepy, range(8), timeout=0.5)
    err = info.value
    assert isinstance(err, TimeoutError) and isinstance(err, PathosMagicsError)
    assert err.index == 3 and err.item == "3" and err.worker in before
    assert "task 3 (item 3)" in str(err) and err.worker in str(err)
    assert dead_or_gone(before[err.worker]), "the stuck worker was not killed"
    assert pool.map(abs, range(-4, 4)) == [4, 3, 2, 1, 0, 1, 2, 3]
    # it is killed and replaced by the watch, just after the map failed
    assert wait_for(lambda: len(pool.workers) == 2
                    and err.worker not in {w.label for w in pool.workers})
    # the pool's other worker was left alone
    survivor = next(label for label in before if label != err.worker)
    assert survivor in {w.label for w in pool.workers}


def test_pool_task_timeout_is_the_default_and_a_map_can_lift_it():
    pool = ProcessPool(2, task_timeout=0.2)
    with pytest.raises(TaskTimeoutError):
        pool.amap(time.sleep, [0.0, 5.0]).get(timeout=30)
    assert pool.map(time.sleep, [0.4], timeout=None) == [None]
    assert pool.map(time.sleep, [0.4], timeout=5) == [None]
    with pytest.raises(TaskTimeoutError):           # apipe: the pool's limit
        pool.pipe(time.sleep, 5.0)


def test_imap_and_uimap_raise_the_timeout_when_they_reach_it():
    pool = ProcessPool(2)
    it = pool.imap(sleepy, range(6), timeout=0.5)
    got = []
    with pytest.raises(TaskTimeoutError) as info:
        for y in it:
            got.append(y)
    assert got == [0, 10, 20] and info.value.index == 3
    with pytest.raises(TaskTimeoutError):
        list(pool.uimap(sleepy, range(6), timeout=0.5))


def test_a_stopped_worker_fails_a_timed_map_and_sigcont_later_does_no_harm():
    pool = ProcessPool(1)
    victim = pool.workers[0].pid
    result = pool.amap(slow_pid, range(40), timeout=1.0)
    time.sleep(0.2)
    os.kill(victim, signal.SIGSTOP)
    try:
        with pytest.raises(TaskTimeoutError):
            result.get(timeout=30)
        assert dead_or_gone(victim)
    finally:
        try:
            os.kill(victim, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert set(pool.map(slow_pid, range(4))) == {pool.workers[0].pid} != {victim}


def test_timeout_with_a_chunksize_is_refused_and_bad_values_are_named():
    pool = ProcessPool(1)
    with pytest.raises(ValueError, match="one per chunk"):
        pool.map(abs, range(4), chunksize=2, timeout=1)
    assert pool.map(abs, range(-2, 0), chunksize=1, timeout=1) == [2, 1]
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        pool.map(abs, range(4), timeout=0)
    with pytest.raises(ValueError, match="task_timeout must be a positive number"):
        ProcessPool(1, task_timeout="soon")
    with pytest.raises(ValueError, match="liveness_timeout must be a positive number"):
        ThreadPool(1, liveness_timeout=-1)


def test_task_timeout_error_pickles_with_its_fields():
    err = TaskTimeoutError("task 3 ran too long", index=3, item="'x'", worker="local-1",
                           timeout=2.0)
    back = pickle.loads(pickle.dumps(err))
    assert (back.index, back.item, back.worker, back.timeout, str(back)) == \
        (3, "'x'", "local-1", 2.0, "task 3 ran too long")


def test_thread_past_its_timeout_is_interrupted_abandoned_with_a_warning_and_replaced():
    pool = ThreadPool(2)
    before = {w.label for w in pool.workers}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TaskTimeoutError) as info:
            pool.map(spin, range(4), timeout=0.3)
        assert wait_for(lambda: any("cannot be killed" in str(w.message)
                                    for w in caught))
    assert info.value.index == 2
    assert wait_for(lambda: len(pool.workers) == 2
                    and info.value.worker not in {w.label for w in pool.workers})
    assert pool.map(abs, range(-3, 0)) == [3, 2, 1]
    assert len({w.label for w in pool.workers} - before) == 1


def test_serial_task_cannot_be_stopped_but_fails_when_it_comes_back_late():
    pool = SerialPool()
    with pytest.raises(TaskTimeoutError) as info:
        pool.map(time.sleep, [0.0, 0.3, 0.0], timeout=0.1)
    assert info.value.index == 1 and info.value.worker == "serial-0"
    assert pool.map(abs, [-1, -2], timeout=5) == [1, 2]


# ---------------------------------------------------------------- liveness

def test_sigstopped_worker_is_detected_and_its_tasks_finish_elsewhere():
    pool = ProcessPool(2, liveness_timeout=1.0)
    seen = []
    pool.subscribe(seen.append)
    victim = pool.workers[0]
    result = pool.amap(slow_pid, range(80))
    assert wait_for(lambda: victim.inflight, 10)
    os.kill(victim.pid, signal.SIGSTOP)
    try:
        pids = result.get(timeout=60)
        assert len(pids) == 80
        assert dead_or_gone(victim.pid), "the stopped worker was not killed"
    finally:
        try:
            os.kill(victim.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    lost = [e for e in seen if isinstance(e, events.WorkerLost)]
    assert [e.worker for e in lost] == [victim.label]
    assert "sent nothing" in lost[0].reason and "SIGSTOP" in lost[0].reason
    assert wait_for(lambda: len(pool.workers) == 2)
    assert victim.pid not in {w.pid for w in pool.workers}
    assert pool.map(abs, range(-2, 0)) == [2, 1]


def test_busy_workers_answer_the_liveness_check_and_are_not_lost():
    pool = ProcessPool(2, liveness_timeout=0.4)
    seen = []
    pool.subscribe(seen.append)
    # tasks longer than the limit: the worker's reader answers, not the task
    assert pool.map(time.sleep, [1.2, 1.2, 1.2]) == [None] * 3
    time.sleep(1.0)                     # idle workers answer too
    assert not [e for e in seen if isinstance(e, events.WorkerLost)]


def test_liveness_on_a_thread_pool_keeps_its_workers():
    pool = ThreadPool(2, liveness_timeout=0.3)
    seen = []
    pool.subscribe(seen.append)
    assert pool.map(time.sleep, [0.8, 0.8]) == [None, None]
    assert not [e for e in seen if isinstance(e, events.WorkerLost)]


# ---------------------------------------------------------------- with interrupt and cancel

def test_interrupt_and_cancel_of_a_timed_map_keep_the_workers():
    import threading
    pool = ProcessPool(2)
    pids = sorted(w.pid for w in pool.workers)
    timer = threading.Timer(0.5, signal.pthread_kill,
                            (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.map(time.sleep, [30, 30, 30], timeout=60)
    finally:
        timer.cancel()
    # stopped within the cancel bound, not killed: the same workers go on
    assert sorted(w.pid for w in pool.workers) == pids
    result = pool.amap(time.sleep, [30, 30], timeout=60)
    time.sleep(0.3)
    result.cancel()
    assert sorted(w.pid for w in pool.workers) == pids
    assert pool.map(abs, [-1, -2], timeout=5) == [1, 2]
