"""What happens when things go wrong: dead workers, interrupts, output."""
from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest

from pathos_magics import events
from pathos_magics.errors import WorkerLostError
from pathos_magics.pools import ProcessPool, SerialPool, ThreadPool


def _eventually(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _die_once(x, marker):
    # the first worker to reach task 5 dies; the retry (file exists) succeeds
    if x == 5 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return x * 10


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_worker_exit_mid_map_is_retried(tmp_path, context):
    pool = ProcessPool(2, context=context)
    seen = []
    pool.subscribe(seen.append)
    marker = str(tmp_path / "died")
    assert pool.map(_die_once, range(40), [marker] * 40) == [x * 10 for x in range(40)]
    lost = [e for e in seen if isinstance(e, events.WorkerLost)]
    assert len(lost) == 1 and "exited with code 1" in lost[0].reason
    assert _eventually(lambda: len(pool.workers) == 2)   # a replacement came up
    assert pool.map(abs, [-1, -2]) == [1, 2]


def test_worker_sigkill_mid_map_is_retried():
    pool = ProcessPool(2)
    victim = pool.workers[0].pid

    def slow(x):
        time.sleep(0.02)
        return x + 1

    killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
    killer.start()
    try:
        assert pool.map(slow, range(100), chunksize=4) == list(range(1, 101))
    finally:
        killer.cancel()
    assert victim not in [w.pid for w in pool.workers]
    assert _eventually(lambda: len(pool.workers) == 2)


def _always_die(x):
    if x == 3:
        os._exit(3)
    return x


def test_task_that_kills_every_worker_is_named():
    pool = ProcessPool(2)
    with pytest.raises(WorkerLostError, match=r"task 3 \(item 3\)") as info:
        pool.map(_always_die, range(8))
    assert info.value.task_indices == (3,)
    assert "tried 3 times" in str(info.value)
    assert pool.map(abs, [-5]) == [5]               # usable afterwards


def _sleep_then_touch(x, folder):
    time.sleep(30)
    open(os.path.join(folder, str(x)), "w").close()
    return x


def _interrupt_main_soon(delay: float, also_workers=()):
    def fire():
        for pid in also_workers:          # Jupyter signals the whole group
            os.kill(pid, signal.SIGINT)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    t = threading.Timer(delay, fire)
    t.start()
    return t


@pytest.mark.parametrize("method", ["map", "imap", "amap"])
def test_keyboard_interrupt_stops_workers_fast(tmp_path, method):
    pool = ProcessPool(2)
    pids = sorted(w.pid for w in pool.workers)
    timer = _interrupt_main_soon(0.5, also_workers=pids)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        if method == "map":
            pool.map(_sleep_then_touch, range(4), [str(tmp_path)] * 4)
        elif method == "imap":
            list(pool.imap(_sleep_then_touch, range(4), [str(tmp_path)] * 4))
        else:
            pool.amap(_sleep_then_touch, range(4), [str(tmp_path)] * 4).get()
    took = time.monotonic() - start
    timer.cancel()
    assert took < 2.5, f"interrupt took {took:.1f}s"
    # the workers survived SIGINT, stopped their tasks, and take new work
    assert sorted(w.pid for w in pool.workers) == pids
    assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
    for pid in pids:
        assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    assert list(tmp_path.iterdir()) == []             # no task ran on


def test_interrupt_serial_pool_propagates_and_pool_still_works():
    pool = SerialPool()
    timer = _interrupt_main_soon(0.3)
    with pytest.raises(KeyboardInterrupt):
        pool.map(time.sleep, [5, 5])
    timer.cancel()
    assert pool.map(abs, [-1]) == [1]


def _chatty(x):
    import sys
    for i in range(3):
        print("task", x, "says", i)
    print("err", x, file=sys.stderr)
    return x


def test_interrupt_between_serial_chunks_then_the_next_map_runs():
    # Ctrl-C landing after a serial chunk returned, with chunks still queued
    # (an observer raising KeyboardInterrupt on the caller's thread is
    # exactly that moment): the map is cancelled at once, the pool works.
    pool = SerialPool()
    seen = []

    def interrupt(e):
        if isinstance(e, events.TasksDone) and not seen:
            seen.append(e)
            raise KeyboardInterrupt

    pool.subscribe(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.map(abs, range(-10, 0), chunksize=1)
    finally:
        pool.unsubscribe(interrupt)
    assert seen and seen[0].done == 1
    assert pool.map(abs, [-1, -2, -3], chunksize=1) == [1, 2, 3]
    pool.clear()


def test_worker_output_arrives_as_whole_marked_lines(capfd):
    pool = ProcessPool(2)
    seen = []
    pool.subscribe(seen.append)
    assert pool.map(_chatty, range(6)) == list(range(6))
    out, err = capfd.readouterr()
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 18
    for line in lines:
        label, text = line.split("] ", 1)
        assert label.startswith("[local-") and text.startswith("task ")
    for x in range(6):                         # in order within each task
        mine = [ln.split("] ", 1)[1] for ln in lines if f"task {x} " in ln]
        assert mine == [f"task {x} says {i}" for i in range(3)]
    assert len([ln for ln in err.splitlines() if "] err " in ln]) == 6
    outputs = [e for e in seen if isinstance(e, events.Output)]
    assert len(outputs) == 24 and {e.stream for e in outputs} == {"stdout", "stderr"}


def _nested(x):
    inner = [SerialPool(), ThreadPool(2), ProcessPool(2)]
    got = [p.map(lambda y: y * x, range(3)) for p in inner]
    for p in inner:
        p.clear()
    return got


def test_nested_maps_inside_process_workers():
    pool = ProcessPool(2)
    assert pool.map(_nested, [1, 2]) == [[[0, 1, 2]] * 3, [[0, 2, 4]] * 3]
    assert pool.map(abs, [-1]) == [1]


def test_cache_shares_workers_until_clear():
    a, b = ProcessPool(2), ProcessPool(2)
    assert [w.pid for w in a.workers] == [w.pid for w in b.workers]
    c = ProcessPool(2, context="spawn")        # other options: other workers
    assert {w.pid for w in c.workers}.isdisjoint(w.pid for w in a.workers)
    old = {w.pid for w in a.workers}
    a.clear()
    assert {w.pid for w in b.workers}.isdisjoint(old)
    for pid in old:
        assert not psutil.pid_exists(pid) or \
            psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_with_block_stops_the_workers():
    with ProcessPool(2) as p:
        pids = [w.pid for w in p.workers]
        assert p.map(abs, [-1, -2]) == [1, 2]
    for pid in pids:
        assert not psutil.pid_exists(pid)


_ORPHAN_SCRIPT = """
import os, sys, time
from pathos_magics.pools import ProcessPool
pool = ProcessPool(2)
pool.map(abs, range(10))
print(" ".join(str(w.pid) for w in pool.workers), flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_workers_exit_when_their_kernel_dies(tmp_path, how):
    """A kernel killed without cleanup leaves no worker behind."""
    import subprocess
    import sys
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "kernel.py"
    script.write_text(_ORPHAN_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        proc.send_signal(getattr(signal, how))
        proc.wait(10)
        gone, alive = psutil.wait_procs([psutil.Process(p) for p in pids
                                         if psutil.pid_exists(p)], timeout=5)
        assert not alive, f"workers outlived their kernel: {alive}"
    finally:
        proc.kill()
        proc.wait(5)
        for pid in locals().get("pids", []):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _bad_init(flag):
    raise RuntimeError(f"cannot set up: {flag}")


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_failing_initializer_fails_the_map_instead_of_respawning(kind):
    cls = ProcessPool if kind == "process" else ThreadPool
    pool = cls(2, initializer=_bad_init, initargs=("no GPU",))
    pids = [w.pid for w in pool.workers]
    with pytest.raises(RuntimeError, match="cannot set up: no GPU") as info:
        pool.map(abs, range(10))
    assert any("initializer" in note for note in getattr(info.value, "__notes__", []))
    assert [w.pid for w in pool.workers] == pids       # no worker died or respawned
    pool.clear()
