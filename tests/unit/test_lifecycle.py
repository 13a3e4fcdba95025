"""A pool's end after trouble: nothing left behind, no hang (issue 11, items 1 and 4).

Each test runs the scenario in a child interpreter and bounds its exit (a
hang is the bug), then looks for any process the child started that is
still alive.  The moment after matters: the next map, clear(), the end of
a ``with`` block, and leaving the interpreter.
"""
from __future__ import annotations

import pytest

from childpy import CHILDREN, run_child

# A map that ends in WorkerLostError: task 3 kills every worker that runs it.
# The last loss starts a replacement while the failed map unwinds.
_LOST = """
import os, sys, time, psutil
from pathos_magics.pools import ProcessPool
from pathos_magics.errors import WorkerLostError

def die(x):
    if x == 3:
        os._exit(3)
    return x

{CHILDREN}
for attempt in range(ROUNDS):
    pool = ProcessPool(2, context=CONTEXT)
    try:
        pool.map(die, range(8))
    except WorkerLostError:
        pass
    else:
        sys.exit("the map did not fail")
    AFTER
print("done", flush=True)
""".replace("{CHILDREN}", CHILDREN)


def _lost_script(after: str, rounds: int, context: str = "fork") -> str:
    return (_LOST.replace("ROUNDS", str(rounds)).replace("CONTEXT", repr(context))
            .replace("AFTER", after))


_CLEAR_CHECKED = """pool.clear()
    left = children()
    if left:
        sys.exit(f"clear() left {left}")"""


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_clear_right_after_a_lost_worker_leaves_nothing(context):
    child = run_child(_lost_script(_CLEAR_CHECKED, rounds=5, context=context), timeout=45)
    assert not child.hung and child.returncode == 0, child.explain()
    assert "done" in child.stdout and not child.leftovers, child.explain()


def test_interpreter_exits_right_after_a_lost_worker():
    # no clear(): the atexit hook stops the pool, replacement and all
    for _ in range(3):
        child = run_child(_lost_script("", rounds=1), timeout=30)
        assert not child.hung and child.returncode == 0, child.explain()
        assert not child.leftovers, child.explain()


def test_next_map_and_with_block_after_a_lost_worker():
    child = run_child(_lost_script(
        """with ProcessPool(2, context=CONTEXT) as again:
        assert again.map(abs, [-1, -2]) == [1, 2]
    left = children()
    if left:
        sys.exit(f"the with block left {left}")""".replace("CONTEXT", "'fork'"),
        rounds=3), timeout=60)
    assert not child.hung and child.returncode == 0, child.explain()
    assert not child.leftovers, child.explain()


# ---------------------------------------------------------------- item 4

_UNFINISHED = """
import os, signal, sys, threading, time, psutil
from pathos_magics.pools import ProcessPool, ThreadPool
from pathos_magics.errors import PoolClosedError

def nap(x):
    time.sleep(60)
    return x

def c_call(x):
    # one long C call: no bytecode runs, so no Python signal handler either
    return sum(range(10 ** 12))

{CHILDREN}
POOL, TASK = KIND, FUNC
BODY
print("done", flush=True)
""".replace("{CHILDREN}", CHILDREN)


def _unfinished(kind: str, func: str, body: str) -> str:
    return (_UNFINISHED.replace("KIND", kind).replace("FUNC", func)
            .replace("BODY", body))


_CLEAR_BODY = """
pool = POOL(2)
result = pool.amap(TASK, range(4))
time.sleep(0.5)
pool.clear()
try:
    result.get(timeout=10)
except PoolClosedError as exc:
    print("ended:", exc, flush=True)
else:
    sys.exit("the unfinished map returned results after clear()")
left = children()
if left:
    sys.exit(f"clear() left {left}")
assert POOL(2).map(abs, [-1, -2]) == [1, 2]
"""

_WITH_BODY = """
with POOL(2) as pool:
    result = pool.amap(TASK, range(4))
    time.sleep(0.5)
left = children()
if left:
    sys.exit(f"the with block left {left}")
"""


# A thread cannot be stopped, only abandoned (it is a daemon): a thread in a
# C call is the nap case again, so it is not run.
@pytest.mark.parametrize("kind, func", [("ProcessPool", "nap"), ("ProcessPool", "c_call"),
                                        ("ThreadPool", "nap")])
@pytest.mark.parametrize("body", [_CLEAR_BODY, _WITH_BODY], ids=["clear", "with"])
def test_clear_ends_an_unfinished_map_within_a_bound(kind, func, body):
    child = run_child(_unfinished(kind, func, body), timeout=40)
    assert not child.hung and child.returncode == 0, child.explain()
    assert "done" in child.stdout and not child.leftovers, child.explain()


_CTRL_C_BODY = """
pool = POOL(2)
result = pool.amap(TASK, range(4))
time.sleep(0.5)
main = threading.main_thread().ident
threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()
try:
    pool.clear()
    time.sleep(5)        # clear() was quicker than the Ctrl-C: take it here
except KeyboardInterrupt:
    print("interrupted", flush=True)
left = children()
if left:
    sys.exit(f"Ctrl-C in clear() left {left}")
"""


@pytest.mark.parametrize("func", ["nap", "c_call"])
def test_ctrl_c_during_clear_leaves_nothing(func):
    child = run_child(_unfinished("ProcessPool", func, _CTRL_C_BODY), timeout=40)
    assert not child.hung and child.returncode == 0, child.explain()
    assert "interrupted" in child.stdout and not child.leftovers, child.explain()


def test_terminate_ends_running_tasks_within_a_bound():
    child = run_child(_unfinished("ProcessPool", "c_call", """
pool = POOL(2)
result = pool.amap(TASK, range(4))
time.sleep(0.5)
pool.terminate()
left = children()
if left:
    sys.exit(f"terminate() left {left}")
try:
    result.get(timeout=10)
except PoolClosedError:
    pass
"""), timeout=40)
    assert not child.hung and child.returncode == 0, child.explain()
    assert not child.leftovers, child.explain()
