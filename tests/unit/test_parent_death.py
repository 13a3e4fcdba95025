"""Local workers die with a SIGKILLed kernel, even inside a long C call
(issue 11, item 10).

A worker notices its kernel is gone when its pipe reaches EOF, in its reader
thread; a task in one long C call holds the GIL, so that thread never runs.
The parent-death signal (Linux) ends it instead.  It is tied to the thread
that forked the worker, so the tests also start a pool from a thread that
then exits (its workers must live on) and kill a worker to get a replacement
(forked from another thread than the first ones).
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from childpy import reap_tagged, start_child

if not sys.platform.startswith("linux"):
    pytest.skip("the parent-death signal is Linux's; elsewhere the pipe check "
                "(tests/unit/test_failures.py) is what ends orphans",
                allow_module_level=True)

_KERNEL = """
import os, signal, sys, threading, time
from pathos_magics.pools import ProcessPool

def c_call(x):
    print("in the C call", flush=True)
    return sum(range(10 ** 12))      # holds the GIL: no reader thread runs

def alive(pids):
    return [p for p in pids if os.path.exists(f"/proc/{p}")]

if WHERE == "thread":
    # the thread that starts the workers exits; they must not die with it
    box = []
    t = threading.Thread(target=lambda: box.append(ProcessPool(2, context=CONTEXT)))
    t.start(); t.join()
    pool = box[0]
    first = sorted(w.pid for w in pool.workers)
    time.sleep(0.5)
    assert pool.map(abs, [-1, -2]) == [1, 2]
    assert sorted(w.pid for w in pool.workers) == first, "workers died with the thread"
else:
    pool = ProcessPool(2, context=CONTEXT)
    if WHERE == "replacement":
        victim = pool.workers[0].pid
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (len(pool.workers) < 2 or victim in [w.pid for w in pool.workers]):
            assert time.monotonic() < deadline, "no replacement"
            time.sleep(0.05)
print("pids", *[w.pid for w in pool.workers], flush=True)
result = pool.amap(c_call, range(4), chunksize=1)   # two per worker
time.sleep(600)
"""


def _read_until(proc: subprocess.Popen, done, timeout: float) -> list[str]:
    """The child's stdout lines until ``done(lines)`` (raw reads: a buffered
    readline would keep lines select() no longer sees)."""
    text = ""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    while not done(text.splitlines()):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            raise AssertionError(f"the kernel script did not get there: {text!r}\n"
                                 f"{proc.stderr.read() if proc.poll() is not None else ''}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            text += os.read(fd, 65536).decode()
    return text.splitlines()


@pytest.mark.parametrize("context", ["fork", "spawn"])
@pytest.mark.parametrize("where", ["main", "thread", "replacement"])
def test_workers_in_a_c_call_die_with_a_sigkilled_kernel(context, where):
    tag = uuid.uuid4().hex
    code = _KERNEL.replace("WHERE", repr(where)).replace("CONTEXT", repr(context))
    proc = start_child(code, tag)
    try:
        lines = _read_until(proc, lambda ls: sum("in the C call" in x for x in ls) >= 2
                            and any(x.startswith("pids") for x in ls), timeout=60)
        pids = [int(p) for p in next(x for x in lines if x.startswith("pids")).split()[1:]]
        assert len(pids) == 2
        time.sleep(0.3)                    # both workers are deep in the C call
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        procs = [psutil.Process(p) for p in pids if psutil.pid_exists(p)]
        gone, alive = psutil.wait_procs(procs, timeout=10)
        assert not alive, f"workers outlived their SIGKILLed kernel: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
        left = reap_tagged(tag, grace=0.5)
    assert not left, f"left behind: {left}"
