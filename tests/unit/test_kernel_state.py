"""Local worker processes follow the kernel's process state (issue 10.5):
its folder, environment, sys.path and reloaded modules, map after map."""
from __future__ import annotations

import importlib
import os
import sys
import textwrap

import pytest

from pathos_magics.pools import ProcessPool, ThreadPool


def _cwd(_):
    return os.getcwd()


def _env(_):
    return os.environ.get("PM_TEST_VAR")


def _imports(name):
    return importlib.import_module(name).VALUE


@pytest.fixture(params=["fork", "spawn"])
def pool(request):
    p = ProcessPool(2, context=request.param)
    p.map(abs, range(4))                # workers up before the kernel changes
    yield p
    p.clear()


@pytest.fixture
def restore(tmp_path):
    cwd, path, env = os.getcwd(), list(sys.path), dict(os.environ)
    yield tmp_path
    os.chdir(cwd)
    sys.path[:] = path
    os.environ.clear()
    os.environ.update(env)


def test_workers_follow_chdir_and_environment(pool, restore):
    os.chdir(restore)
    os.environ["PM_TEST_VAR"] = "set in the kernel"
    assert set(pool.map(_cwd, range(4))) == {str(restore)}
    assert set(pool.map(_env, range(4))) == {"set in the kernel"}
    del os.environ["PM_TEST_VAR"]
    assert set(pool.map(_env, range(4))) == {None}


def test_workers_follow_sys_path(pool, restore):
    (restore / "pm_path_mod.py").write_text("VALUE = 'found'\n")
    sys.path.append(str(restore))
    assert pool.map(_imports, ["pm_path_mod"] * 2) == ["found", "found"]


def test_workers_reload_what_the_kernel_reloaded(pool, restore):
    module = restore / "pm_reload_mod.py"
    module.write_text("VALUE = 1\ndef f(x):\n    return ('old', x)\n")
    sys.path.insert(0, str(restore))
    try:
        import pm_reload_mod
        assert pool.map(pm_reload_mod.f, [1, 2]) == [("old", 1), ("old", 2)]
        module.write_text(textwrap.dedent("""\
            VALUE = 2
            def f(x):
                return ('new', x, VALUE)
        """))
        importlib.reload(pm_reload_mod)
        assert pool.map(pm_reload_mod.f, [1, 2]) == [("new", 1, 2), ("new", 2, 2)]
    finally:
        sys.modules.pop("pm_reload_mod", None)


def test_nothing_is_sent_while_nothing_changes():
    from pathos_magics import procstate
    tracker = procstate.StateTracker()
    assert tracker.look() == tracker.look() == 0
    os.environ["PM_TEST_VAR2"] = "x"
    try:
        assert tracker.look() == 1
        assert tracker.state_since(0)[1]["PM_TEST_VAR2"] == "x"
    finally:
        del os.environ["PM_TEST_VAR2"]


def test_thread_pools_share_the_process_already(restore):
    with ThreadPool(2) as pool:
        os.chdir(restore)
        assert set(pool.map(_cwd, range(2))) == {str(restore)}
