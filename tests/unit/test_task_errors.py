"""Task outcomes that used to pass for something else (issue 11, items 7 and 8).

A result the kernel cannot unpickle is not a dead worker; a task calling
``sys.exit()`` or raising ``KeyboardInterrupt`` is a task error naming the
task, not the end of the caller or the user's Ctrl-C.
"""
from __future__ import annotations

import sys

import pytest

from childpy import run_child
from pathos_magics import events
from pathos_magics.errors import SerializationError, TaskError
from pathos_magics.pools import ProcessPool, SerialPool, ThreadPool


def _cannot_rebuild():
    raise RuntimeError("this object cannot be rebuilt here")


class Unloadable:
    """Pickles in the worker; unpickling it (in the kernel) raises."""

    def __reduce__(self):
        return (_cannot_rebuild, ())


def _unloadable_at_5(x):
    return Unloadable() if x == 5 else x


@pytest.mark.parametrize("context", ["fork", "spawn"])
@pytest.mark.parametrize("chunksize", [1, None])
def test_a_result_that_cannot_be_unpickled_names_the_task(context, chunksize):
    pool = ProcessPool(2, context=context)
    seen = []
    pool.subscribe(seen.append)
    pids = sorted(w.pid for w in pool.workers)
    with pytest.raises(SerializationError) as info:
        pool.map(_unloadable_at_5, range(12), chunksize=chunksize)
    text = str(info.value)
    assert "this object cannot be rebuilt here" in text and "unpickled" in text
    assert "task 5 (item 5)" in text if chunksize == 1 else "task" in text
    assert "SIGKILL" not in text
    assert isinstance(info.value.__cause__, RuntimeError)
    # the worker was fine: nobody was killed, the next map runs on the same ones
    assert not [e for e in seen if isinstance(e, events.WorkerLost)]
    assert sorted(w.pid for w in pool.workers) == pids
    assert pool.map(abs, range(-4, 0)) == [4, 3, 2, 1]


def test_interpreter_exits_after_a_result_that_cannot_be_unpickled():
    child = run_child("""
        from pathos_magics.pools import ProcessPool
        from pathos_magics.errors import SerializationError

        def _cannot_rebuild():
            raise RuntimeError("no")

        class Unloadable:
            def __reduce__(self):
                return (_cannot_rebuild, ())

        pool = ProcessPool(2)
        try:
            pool.map(lambda x: Unloadable() if x == 3 else x, range(8))
        except SerializationError as exc:
            print("failed as it should:", exc, flush=True)
        """, timeout=30)
    assert not child.hung and child.returncode == 0, child.explain()
    assert "failed as it should" in child.stdout and not child.leftovers, child.explain()


# ---------------------------------------------------------------- item 8

def _exits(x):
    if x == 2:
        sys.exit(0)
    return x


def _exits_with_text(x):
    if x == 2:
        raise SystemExit("bye from a task")
    return x


def _interrupts(x):
    if x == 2:
        raise KeyboardInterrupt
    return x


POOLS = {"serial": SerialPool, "thread": lambda: ThreadPool(2),
         "process": lambda: ProcessPool(2)}


@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("task, what", [(_exits, "SystemExit"),
                                        (_exits_with_text, "bye from a task"),
                                        (_interrupts, "KeyboardInterrupt")])
def test_exit_or_interrupt_in_a_task_is_a_task_error(kind, task, what):
    pool = POOLS[kind]()
    with pytest.raises(TaskError) as info:
        pool.map(task, range(6), chunksize=1)
    assert not isinstance(info.value, (SystemExit, KeyboardInterrupt))
    text = str(info.value)
    assert "task 2 (item 2)" in text and what in text, text
    assert pool.map(abs, [-1, -2]) == [1, 2]          # the pool goes on
    pool.clear()


_SCRIPT = """
import sys
from pathos_magics.pools import {kind}
pool = {kind}(2) if "{kind}" != "SerialPool" else SerialPool()
pool.map({body}, range(4), chunksize=1)
print("not reached", flush=True)
"""


@pytest.mark.parametrize("kind", ["SerialPool", "ThreadPool", "ProcessPool"])
@pytest.mark.parametrize("body", ["lambda x: sys.exit(0) if x == 1 else x",
                                  "lambda x: (_ for _ in ()).throw(KeyboardInterrupt) "
                                  "if x == 1 else x"], ids=["exit", "interrupt"])
def test_a_script_whose_task_exits_fails_loudly(kind, body):
    # before: sys.exit(0) in a task ended the script silently with success
    child = run_child(_SCRIPT.format(kind=kind, body=body), timeout=30)
    assert not child.hung, child.explain()
    assert child.returncode == 1, child.explain()
    assert "TaskExitError" in child.stderr and "task 1 (item 1)" in child.stderr, \
        child.explain()
    assert "not reached" not in child.stdout and not child.leftovers


def test_ipython_shows_no_exit_warning_for_a_task_calling_sys_exit():
    child = run_child("""
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_cell("import sys\\nfrom pathos_magics.pools import SerialPool, ProcessPool")
        for pool in ("SerialPool()", "ProcessPool(2)"):
            result = shell.run_cell(f"{pool}.map(lambda x: sys.exit(0) if x == 1 else x, range(3))")
            print("ERROR:", type(result.error_in_exec).__name__, flush=True)
        """, timeout=60)
    assert not child.hung and child.returncode == 0, child.explain()
    output = child.stdout + child.stderr
    assert "To exit: use" not in output, child.explain()
    assert output.count("ERROR: TaskExitError") == 2, child.explain()
