"""binder/ stays in step with pyproject.toml, and its scripts are well formed."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINDER = os.path.join(ROOT, "binder")


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r.strip(), maxsplit=1)[0].lower()
            for r in requirements if r.strip() and not r.strip().startswith("#")}


def test_requirements_cover_the_package_and_mpi_but_not_the_package_itself():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    with open(os.path.join(BINDER, "requirements.txt")) as f:
        binder = _names(f.read().splitlines())
    wanted = _names(project["dependencies"] + project["optional-dependencies"]["mpi"])
    assert wanted <= binder, f"binder/requirements.txt misses {wanted - binder}"
    assert "pathos_magics" not in binder and "." not in binder   # postBuild does that


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_scripts_are_executable_bash_with_strict_mode(script):
    path = os.path.join(BINDER, script)
    assert os.access(path, os.X_OK), f"binder/{script} is not executable"
    with open(path) as f:
        text = f.read()
    assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
    subprocess.run(["bash", "-n", path], check=True, timeout=10)


def test_start_ends_by_running_its_arguments():
    with open(os.path.join(BINDER, "start")) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    assert lines[-1] == 'exec "$@"'
