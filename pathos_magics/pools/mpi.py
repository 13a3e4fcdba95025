"""MpiPool: workers are the ranks of an MPI job."""
from __future__ import annotations

from ..transports.base import Transport
from ..transports.mpi.transport import MpiTransport
from .base import AbstractPool

_OPTIONS = ("launcher", "launcher_args", "hosts", "python", "env", "listen",
            "start_timeout")


class MpiPool(AbstractPool):
    """Map over the ranks of an MPI job (``mpiexec`` under the hood).

    ``MpiPool(nodes=4)`` runs ``mpiexec -n 5 python -m pathos_magics.mpi``:
    four worker ranks plus rank 0, which relays messages between the kernel
    and the workers over one authenticated connection.  The API is every
    pool's: map, imap, uimap, amap, apipe, pipe, close, join, clear, restart.

    An MPI job lives and dies as a whole, so when a rank dies (a task that
    crashes the interpreter, a kill) the pool starts a new job and retries
    the lost tasks, like a process pool replaces a dead worker.

    Args:
        nodes: number of worker ranks (default: one per usable CPU).
        launcher: 'mpiexec' (default: the one next to this Python, from the
            ``mpich`` wheel of ``pip install pathos_magics[mpi]``), 'mpirun',
            'srun', or a path.
        launcher_args: extra launcher arguments, a list or one string
            (e.g. ``"-bind-to core"``).
        hosts: a hosts file for the launcher (``-hostfile``).
        python: the Python the ranks run (default: this one).
        env: extra environment variables for the ranks.
        listen: the address the kernel listens on for the job: 127.0.0.1 by
            default; on a cluster, one the first rank can reach.
        start_timeout: seconds the job may take to start (default 60).

    Example:
        >>> from pathos_magics.pools import MpiPool
        >>> MpiPool(2).map(lambda x: x ** 2, range(5))
        [0, 1, 4, 9, 16]
    """

    def _transport_options(self) -> tuple[str, ...]:
        return _OPTIONS

    def _make_transports(self) -> list[tuple[Transport, int]]:
        opts = {k: self._kwds[k] for k in _OPTIONS if k in self._kwds}
        return [(MpiTransport(**opts), self._nodes)]

    @property
    def name(self) -> str:
        return f"MpiPool(nodes={self._nodes})"
