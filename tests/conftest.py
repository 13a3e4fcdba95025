"""Shared fixtures: every test leaves no pool and no child process behind."""
from __future__ import annotations

import os
import time

import psutil
import pytest

from pathos_magics.pools import shutdown


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def skip_or_fail(reason: str) -> None:
    """Outside CI a missing prerequisite skips; in CI it is a failure."""
    if in_ci():
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


# Helpers multiprocessing keeps for the life of the interpreter, by design.
_INFRASTRUCTURE = ("resource_tracker", "forkserver")


def wait_for_no_children(timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    me = psutil.Process()
    while True:
        kids = [p for p in me.children(recursive=True)
                if _alive(p) and not _infrastructure(p)]
        if not kids or time.monotonic() > deadline:
            return kids
        time.sleep(0.05)


def _infrastructure(p: psutil.Process) -> bool:
    try:
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return False
    return any(name in cmd for name in _INFRASTRUCTURE)


def _describe(p: psutil.Process) -> str:
    try:
        return f"{p.pid} {' '.join(p.cmdline())[:120]}"
    except psutil.Error:
        return f"{p.pid} (gone)"


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(autouse=True)
def no_leftovers(request):
    """After each test: stop every cached pool, then no child may remain."""
    yield
    if request.node.get_closest_marker("keep_children"):
        return
    t0 = time.monotonic()
    shutdown()
    took = time.monotonic() - t0
    kids = wait_for_no_children()
    described = [_describe(p) for p in kids]
    for p in kids:           # clean up before failing, so one leak is one failure
        try:
            p.kill()
        except psutil.Error:
            pass
    assert not kids, f"processes left behind: {described}"
    assert took < 10, f"shutdown took {took:.1f}s"
