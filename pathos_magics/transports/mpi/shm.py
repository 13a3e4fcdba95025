"""MPICH's shared memory files, for both sides of a job.

MPICH keeps the ranks of one machine in touch through files in /dev/shm
(``mpich_shm_<random>_<n>``), which it removes in MPI_Finalize.  A rank
killed before (a dead job torn down, MPI_Abort after the kernel died)
leaves them there, in RAM, until the machine restarts: 2-4 MB a job.
Their names are random, one set per job: a rank's own memory map says
which are its job's.
"""
from __future__ import annotations

import os

_MARK = "/dev/shm/mpich_shm_"


def mpich_segments(pids: list[int]) -> list[str]:
    """The MPICH shared memory files the first readable of ``pids`` maps."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as fh:
                found = {line.split(maxsplit=5)[5].strip() for line in fh if _MARK in line}
        except (OSError, IndexError):
            continue
        return sorted(p for p in found if not p.endswith("(deleted)"))
    return []


def remove(paths: list[str]) -> None:
    """Remove the files; a rank that still maps one keeps its memory."""
    for path in paths:
        try:
            os.unlink(path)
        except OSError:          # removed by MPI_Finalize, as it should be
            pass
