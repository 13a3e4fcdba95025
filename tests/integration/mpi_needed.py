"""What the MPI tests need: mpi4py and the mpich wheel's launcher."""
from __future__ import annotations

import importlib.util
import os
import sys

import pytest


def mpi_missing() -> str | None:
    """Why MPI cannot run here, or None."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install pathos_magics[mpi])"
    exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.access(exe, os.X_OK):
        return f"{exe} is missing (pip install pathos_magics[mpi])"
    return None


def require_mpi() -> None:
    """As tests/conftest.py: without MPI, skip outside CI, fail in CI."""
    why = mpi_missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"{why} (required in CI)")
        pytest.skip(why)
