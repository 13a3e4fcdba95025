"""ParallelPool (alias RemotePool): local processes plus workers on other hosts.

    pool = ParallelPool(servers=("node1", {"user@node2": 8}), ncpus=2)
    pool.map(lambda x: x * 2, range(10_000))

``servers`` (see :mod:`.servers`): ``"host:port"`` is the address of a
running server (``pathos_server``, usually through a tunnel; see
:mod:`pathos_magics.transports.tcp`), joined with ``secret=`` or the per-user
secret file, a host name is an ssh host, and ``{"host": n}`` gives its
worker count.  A server that does not answer (or refuses the secret) is a
warning and the pool runs on the rest.

One scheduler feeds every worker: ``ncpus`` local processes and, per server,
the workers of a ``pathos-server`` reached over ssh (see
:mod:`pathos_magics.transports.ssh`).  Workers pull chunks, so a faster host
does more.  A lost host's chunks are retried on the others; the next map
tries to bring the host back.

As in pathos, ``ncpus`` defaults to the local CPU count; ``ncpus=0`` with
``servers`` gives a remote-only pool.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Any, Optional

from .. import hosts as _hosts
from ..errors import TransportError
from ..transports.base import Transport
from ..transports.process import ProcessTransport
from ..transports.ssh.secret import parse_secret
from ..transports.ssh.transport import SSHTransport
from ..transports.tcp import TCPTransport
from .base import AbstractPool, parse_nodes
from .servers import ServerAddress, describe, parse_servers, warn_skipped

_log = logging.getLogger(__name__)

_SSH_OPTIONS = ("python", "accept_new_host_key", "connect_timeout", "remote_dir")


class ParallelPool(AbstractPool):
    """Map over local processes and workers on remote hosts.

    Args:
        ncpus: local worker processes (default: the local CPU count; 0 for
            none, when ``servers`` are given). Also ``nodes``, positional.
        servers: ssh hosts ``[user@]host``, with a worker count as a
            mapping ``{"[user@]host": n}``, and addresses ``host:port`` of
            running servers (one that does not answer is a warning); a
            host named in the registry (:mod:`pathos_magics.hosts`) takes its user, worker
            count and python from there.
        python: the Python command on the hosts (default: the registry's,
            else ``python3``).
        accept_new_host_key: trust unknown host keys (default: refuse).
        connect_timeout: seconds for each ssh step (default 10).
        remote_dir: where packages are copied if a host lacks them.
        secret: the key of the servers at addresses (bytes, or hex text;
            default: the per-user secret file, see ``pathos_server --help``).
        secret_file: that file, when not the default one.
        context: start method of the local processes.
        source: accepted for pathos compatibility and ignored (functions
            always travel by value, with dill).

    Raises:
        TransportError: a host could not be reached or started (before any
            task is sent), e.g. its Python major.minor differs.
        ServersError: a malformed entry, or ``host:N`` with a small ``N``
            (the old worker count form: write ``{"host": N}``).
        ValueError: no workers at all (``ncpus=0`` and no ssh host).
    """

    def __init__(self, *args: Any, servers: Any = None, **kwds: Any) -> None:
        specs = parse_servers(servers)
        remote_only = bool(specs) and _asks_for_zero(args, kwds)
        if remote_only:
            args = ()
            for name in ("nodes", "ncpus", "processes"):
                kwds.pop(name, None)
            self._nodes = 0
        else:
            self._nodes = parse_nodes(args, kwds, self._default_nodes)
        self._id = kwds.pop("id", None)
        self._specs = specs
        if kwds.get("secret") is not None:
            kwds["secret"] = parse_secret(kwds["secret"])   # its repr hides it
        if specs:
            kwds["servers"] = describe(specs)
        self._kwds = kwds
        self._check_options(kwds)
        self._serve()

    def _transport_options(self) -> tuple[str, ...]:
        return ("servers", "context", "source", "secret", "secret_file") + _SSH_OPTIONS

    @property
    def name(self) -> str:
        servers = self._kwds.get("servers", ())
        return f"ParallelPool(ncpus={self._nodes}, servers={servers!r})"

    @property
    def servers(self) -> tuple[str, ...]:
        return self._kwds.get("servers", ())

    # ------------------------------------------------------------ transports

    def _make_transports(self) -> list[tuple[Transport, int]]:
        out: list[tuple[Transport, int]] = []
        if self._nodes:
            out.append((ProcessTransport(self._kwds.get("context")), self._nodes))
        out += self._join_servers([s for s in self._specs if isinstance(s, ServerAddress)])
        remote = [self._ssh_transport(s) for s in self._specs
                  if not isinstance(s, ServerAddress)]
        counts = _prepare_all(remote)
        out += list(zip(remote, counts, strict=True))
        if not out:
            raise ValueError("ParallelPool needs workers: give ncpus >= 1 or ssh hosts "
                             "(servers={'node1': 4}); no server in servers= was used")
        return out

    def _join_servers(self, addresses: list[ServerAddress]
                      ) -> list[tuple[Transport, int]]:
        """The running servers that answer; a warning for each other one."""
        out: list[tuple[Transport, int]] = []
        for address in addresses:
            t = TCPTransport(address.host, address.port,
                             secret=self._kwds.get("secret"),
                             secret_file=self._kwds.get("secret_file"),
                             connect_timeout=self._kwds.get("connect_timeout", 10.0))
            try:
                out.append((t, t.prepare()))
            except TransportError as exc:
                warn_skipped(address, str(exc))
        return out

    def _ssh_transport(self, spec: _hosts.HostSpec) -> SSHTransport:
        entry = _hosts.REGISTRY.get(spec.address)
        user = spec.user or (entry.user if entry else None)
        address = entry.address if entry else spec.address
        opts = {k: self._kwds[k] for k in _SSH_OPTIONS if k in self._kwds}
        opts.setdefault("python", entry.python if entry else "python3")
        return SSHTransport(f"{user}@{address}" if user else address,
                            workers=spec.workers or (entry.workers if entry else None),
                            label=spec.address, **opts)

    # ------------------------------------------------------------ reconnect

    def _serve(self):
        sched = super()._serve()
        self._revive(sched)
        return sched

    def _revive(self, sched: Any) -> None:
        """Bring back hosts that lost workers, in the background: the map
        starts on the workers there are, and the returning ones join it."""
        if sched.state != "running":
            return
        for t in sched.transports:
            if isinstance(t, SSHTransport):
                _start_reviver(sched, t)


# One reviver per transport, whichever pool object asked: every
# ``ParallelPool(...)`` call with the same options is a new object over the
# same cached scheduler, so the registry cannot live on the object.
_REVIVERS: dict[int, threading.Thread] = {}
_REVIVERS_LOCK = threading.Lock()


def _start_reviver(sched: Any, t: SSHTransport) -> None:
    with _REVIVERS_LOCK:
        for key in [k for k, th in _REVIVERS.items() if not th.is_alive()]:
            del _REVIVERS[key]
        busy = _REVIVERS.get(id(t))
        if busy is not None and busy.is_alive():
            return
        missing = t.count - t.live_workers()
        if missing <= 0:
            return
        thread = threading.Thread(target=_revive_one, args=(sched, t, missing),
                                  daemon=True, name=f"pathos-revive-{t.label}")
        _REVIVERS[id(t)] = thread
        thread.start()


def _revive_one(sched: Any, t: SSHTransport, missing: int) -> None:
    t.forget_failure()
    try:
        sched.add_workers(t, missing)
        _set_status(t.label, "ok", None)
    except (TransportError, OSError) as exc:
        _log.warning("could not bring %s back: %s", t.host, exc)
        _set_status(t.label, "unreachable", str(exc))


def _asks_for_zero(args: tuple, kwds: dict) -> bool:
    values = list(args[:1]) + [kwds[k] for k in ("nodes", "ncpus", "processes")
                               if k in kwds]
    return len(values) == 1 and values[0] == 0 and not isinstance(values[0], bool)


def _prepare_all(transports: list[SSHTransport]) -> list[int]:
    """Connect and launch every host at once; all or nothing."""
    if not transports:
        return []
    with concurrent.futures.ThreadPoolExecutor(len(transports)) as ex:
        futures = [ex.submit(t.prepare) for t in transports]
        concurrent.futures.wait(futures)
    errors = []
    for t, f in zip(transports, futures, strict=True):
        exc = f.exception()
        _set_status(t.label, "ok" if exc is None else "unreachable",
                    None if exc is None else str(exc))
        if exc is not None:
            errors.append((t, exc))
    if errors:
        for t in transports:
            t.close(timeout=2.0)
        first = errors[0][1]
        if len(errors) == 1:
            raise first
        raise TransportError("; ".join(f"{t.host}: {e}" for t, e in errors)) from first
    return [t.count for t in transports]


def _set_status(name: str, status: str, error: Optional[str]) -> None:
    try:
        _hosts.set_status(name, status, error)
    except (_hosts.HostsFileError, OSError) as exc:
        _log.warning("could not record the status of %s: %s", name, exc)


RemotePool = ParallelPool
ParallelPythonPool = ParallelPool      # pathos's name for it
