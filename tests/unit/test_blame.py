"""Random worker deaths do not use up an innocent task's retries (issue 11, item 13).

A killer thread SIGKILLs a random worker every 100 ms while 50 ms tasks run:
every task must still come back.  A task that really kills its worker still
ends the map in WorkerLostError naming it, with or without that background
of random deaths.
"""
from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time

import pytest

from pathos_magics import events
from pathos_magics.errors import WorkerLostError
from pathos_magics.pools import ProcessPool


def _nap(x):
    time.sleep(0.05)
    return x * 2


def _deadly_at_7(x):
    if x == 7:
        os._exit(7)
    time.sleep(0.05)
    return x


@contextlib.contextmanager
def _random_kills(pool, every: float = 0.1):
    """SIGKILL a random live worker of ``pool`` every ``every`` seconds."""
    stop = threading.Event()
    killed: list[int] = []

    def shoot() -> None:
        rng = random.Random(1234)
        while not stop.wait(every):
            pids = [w.pid for w in pool.workers if w.pid]
            if pids:
                victim = rng.choice(pids)
                try:
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                except ProcessLookupError:
                    pass

    shooter = threading.Thread(target=shoot, daemon=True)
    shooter.start()
    try:
        yield killed
    finally:
        stop.set()
        shooter.join(5)


def test_random_worker_deaths_do_not_fail_innocent_tasks():
    pool = ProcessPool(2)
    seen = []
    pool.subscribe(seen.append)
    with _random_kills(pool) as killed:
        result = pool.map(_nap, range(80))
    assert result == [x * 2 for x in range(80)]
    lost = [e for e in seen if isinstance(e, events.WorkerLost) and e.requeued]
    assert len(killed) >= 10 and len(lost) >= 5, (len(killed), len(lost))
    # the moment after: the pool has its workers back and maps on
    assert pool.map(abs, [-3, -4]) == [3, 4]


def test_a_deadly_task_is_still_named_among_random_deaths():
    pool = ProcessPool(2)
    with _random_kills(pool):
        with pytest.raises(WorkerLostError, match=r"task 7 \(item 7\)") as info:
            pool.map(_deadly_at_7, range(40))
    assert info.value.task_indices == (7,)
    assert pool.map(abs, [-1]) == [1]


def test_a_deadly_task_in_a_big_chunk_is_named_without_background():
    # the chunk it killed held several tasks: none is blamed for that death,
    # each runs alone next, and only the deadly one keeps dying
    pool = ProcessPool(2)
    with pytest.raises(WorkerLostError, match=r"task 7 \(item 7\)") as info:
        pool.map(_deadly_at_7, range(24), chunksize=6)
    assert info.value.task_indices == (7,)
    assert "tried 3 times" in str(info.value)
    assert pool.map(abs, [-1]) == [1]


def test_the_number_of_tries_is_bounded_and_grows_with_the_background():
    from pathos_magics.scheduler.blame import MAX_ATTEMPTS, LossLedger
    ledger = LossLedger()
    ledger.record(7, 1)
    assert ledger.allowed(7, done=50, max_retries=2) == 3       # no other death
    ledger.record(3, 4)                                          # a chunk without 7
    quiet = ledger.allowed(7, done=1000, max_retries=2)
    for _ in range(30):
        ledger.record(20, 1)
    noisy = ledger.allowed(7, done=30, max_retries=2)
    assert 3 <= quiet < noisy <= MAX_ATTEMPTS
    assert ledger.allowed(7, done=0, max_retries=2) == MAX_ATTEMPTS
