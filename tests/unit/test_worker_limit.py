"""An absurd worker count is refused before anything starts, and a start the
system refuses halfway stops what it started (issue 11, item 6).

Each case runs in a child interpreter inside a pids-limited cgroup (v2, or
v1's pids controller), so even the bug (forking until the system refuses)
cannot hurt the machine.  Creating a cgroup needs root: outside CI the test
skips without it.
"""
from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

import pytest

from childpy import CHILDREN, run_child, skip_or_fail

_V2, _V1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/pids")


def _make_pids_cgroup(name: str) -> Path:
    """A new cgroup with the pids controller, or an explanation (OSError)."""
    if (_V2 / "cgroup.controllers").exists():
        if "pids" not in (_V2 / "cgroup.controllers").read_text().split():
            raise OSError("the cgroup v2 root has no pids controller")
        subtree = (_V2 / "cgroup.subtree_control")
        if "pids" not in subtree.read_text().split():
            subtree.write_text("+pids")
        base = _V2
    elif (_V1 / "tasks").exists():
        base = _V1
    else:
        raise OSError("no cgroup v2 root at /sys/fs/cgroup and no v1 pids controller")
    folder = base / name
    folder.mkdir()
    if not (folder / "pids.max").exists():
        folder.rmdir()
        raise OSError(f"{folder} has no pids.max")
    return folder


@contextlib.contextmanager
def pids_cgroup(limit: int):
    try:
        folder = _make_pids_cgroup(f"pathos-test-{uuid.uuid4().hex[:8]}")
    except OSError as exc:
        skip_or_fail(f"cannot create a pids-limited cgroup (needs root and "
                     f"cgroup v2 or v1's pids controller): {exc}")
    try:
        (folder / "pids.max").write_text(str(limit))
        yield folder
    finally:
        for _ in range(50):      # its processes are gone (run_child reaps them)
            try:
                folder.rmdir()
                break
            except OSError:
                time.sleep(0.1)


_HEAD = """
import os, sys, time, psutil
open(PROCS, "w").write(str(os.getpid()))       # from here on, inside the cgroup
from pathos_magics import errors
from pathos_magics.pools import ProcessPool, ThreadPool

{CHILDREN}
def refused(make, *words):
    try:
        pool = make()
    except getattr(errors, "TooManyWorkersError", ()) as exc:
        text = str(exc)
        assert all(w in text for w in words), text
        print("refused:", text, flush=True)
    else:
        sys.exit(f"not refused: {pool}")
    left = children(1.0)
    assert not left, f"started before refusing: {left}"
""".replace("{CHILDREN}", CHILDREN)

_TAIL = """
with ProcessPool(2) as pool:                   # the moment after: pools work
    assert pool.map(abs, [-1, -2]) == [1, 2]
left = children()
assert not left, f"left behind: {left}"
print("ok", flush=True)
"""

CASES = {
    # our own cap: far more than the CPUs could use
    "absurd processes": (64, """
refused(lambda: ProcessPool(10 ** 9), "1000000000", "PATHOS_MAGICS_MAX_WORKERS")
"""),
    "absurd threads": (64, """
refused(lambda: ThreadPool(10 ** 9), "1000000000", "PATHOS_MAGICS_MAX_WORKERS")
"""),
    # under the cap, over what the cgroup leaves: refused, naming pids.max
    "over pids.max": (40, """
refused(lambda: ProcessPool(30), "pids.max", "at most")
"""),
    # the check passed (raced by another process taking the pids, here
    # simulated by switching it off): the system refuses a fork halfway
    "refused halfway": (40, """
import pathos_magics.transports.process as process
process.check_worker_count = lambda *a, **k: None
try:
    ProcessPool(30)
except OSError as exc:
    print("failed to start:", exc, flush=True)
else:
    sys.exit("30 workers started under pids.max=40")
left = children()
assert not left, f"a failed start left {left}"
"""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_worker_counts_the_system_cannot_hold(case):
    if os.geteuid() != 0:
        skip_or_fail("creating a cgroup needs root")
    limit, body = CASES[case]
    with pids_cgroup(limit) as folder:
        code = (_HEAD.replace("PROCS", repr(str(folder / "cgroup.procs")))
                + body + _TAIL)
        child = run_child(code, timeout=60)
    assert not child.hung and child.returncode == 0, child.explain()
    assert "ok" in child.stdout and not child.leftovers, child.explain()
