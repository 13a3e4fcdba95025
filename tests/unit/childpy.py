"""Run a python script in a child interpreter and bound its life.

Lifecycle tests must see "the moment after": does the interpreter exit, and
does it leave a process behind?  :func:`run_child` runs ``code`` with a tag
in its environment (every process it starts inherits it), waits at most
``timeout`` seconds, and reports every tagged process still alive a little
after the child ended (then kills them, so one leak is one failure).
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from typing import Optional

import psutil

TAG = "PATHOS_MAGICS_TEST_CHILD"


@dataclasses.dataclass
class Child:
    returncode: Optional[int]
    stdout: str
    stderr: str
    hung: bool                 # did not exit within the timeout (then killed)
    leftovers: list[str]       # tagged processes alive after it ended

    def explain(self) -> str:
        return (f"rc={self.returncode} hung={self.hung} leftovers={self.leftovers}\n"
                f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}")


def tagged(tag: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose environment carries ``tag``."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(TAG) == tag and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


def start_child(code: str, tag: str, **popen: object) -> subprocess.Popen:
    env = dict(os.environ, **{TAG: tag, "PYTHONUNBUFFERED": "1"})
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **popen)


def reap_tagged(tag: str, grace: float = 5.0) -> list[str]:
    """Wait up to ``grace`` for tagged processes to go; kill and describe
    those that did not."""
    deadline = time.monotonic() + grace
    left = tagged(tag)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = tagged(tag)
    described = []
    for p in left:
        try:
            described.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
            p.kill()
        except psutil.Error:
            pass
    return described


def run_child(code: str, timeout: float = 30.0) -> Child:
    """Run ``code`` (dedented) in a new interpreter; see the module doc."""
    tag = uuid.uuid4().hex
    proc = start_child(code, tag)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # what it holds while hung counts as left behind too
        held = [f"{p.pid} (while hung)" for p in tagged(tag) if p.pid != proc.pid]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate(timeout=10)
        return Child(proc.returncode, out, err, True, held + reap_tagged(tag))
    return Child(proc.returncode, out, err, False, reap_tagged(tag))


#: For the scripts run_child runs (they import os, time and psutil first):
#: ``children(timeout)``, the pids of the live processes the script started,
#: once there are none or ``timeout`` passed (multiprocessing's resource
#: tracker aside).
CHILDREN = '''def children(timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        kids = [p.pid for p in psutil.Process().children(recursive=True)
                if p.status() != psutil.STATUS_ZOMBIE
                and "resource_tracker" not in " ".join(p.cmdline())]
        if not kids or time.monotonic() > deadline:
            return kids
'''


def skip_or_fail(reason: str) -> None:
    """As tests/conftest.py: a missing prerequisite skips outside CI, fails in CI."""
    import pytest
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)
