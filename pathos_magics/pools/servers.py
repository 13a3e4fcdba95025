"""What ``ParallelPool(servers=...)`` names: running servers and ssh hosts.

As in pathos, ``"host:port"`` is the address of a running server (typically
the local end of a tunnel).  A server that does not answer is a warning and
the pool runs on the other workers.  A host name without a port is an ssh
host: pathos_magics starts its server there.  Its worker count, which a
``host:N`` would confuse with a port, is given as a mapping::

    ParallelPool(servers=("localhost:5653", "node1", {"alice@node2": 8}))
    ParallelPool(servers={"node1": 4, "node2": 8}, ncpus=0)

A ``host:N`` with a port below 1024 is read as the old count form and is an
error saying what to write (a pathos_magics server never listens on a
privileged port: the port picker hands out ephemeral ones).
"""
from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

from .. import hosts as _hosts

#: Ports below this are read as the old ``host:workers`` form, not a port.
FIRST_SERVER_PORT = 1024
PROBE_TIMEOUT = 2.0          # seconds to wait for a server to accept


@dataclass(frozen=True)
class ServerAddress:
    """A running server at ``host:port``."""
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


Server = Union[ServerAddress, _hosts.HostSpec]


class ServersError(_hosts.HostSpecError):
    """``servers=`` holds something that is neither an address nor a host."""


def parse_servers(servers: Any) -> tuple[Server, ...]:
    """Normalize ``servers``: a string, a mapping ``{host: workers}``, or an
    iterable of strings and mappings.

    Returns:
        :class:`ServerAddress` for each ``host:port``, a
        :class:`~pathos_magics.hosts.HostSpec` for each ssh host.

    Raises:
        ServersError: an entry is malformed, or an old ``host:N`` count.
    """
    if servers is None:
        return ()
    if isinstance(servers, (str, Mapping)):
        servers = (servers,)
    if not isinstance(servers, Iterable):
        raise ServersError(f"servers must be addresses and hosts like ('localhost:5653', "
                           f"'node1', {{'node2': 8}}), not {servers!r}")
    out: list[Server] = []
    for entry in servers:
        if isinstance(entry, Mapping):
            out += [_counted_host(h, n) for h, n in entry.items()]
        else:
            out.append(_parse_one(entry))
    return tuple(out)


def _parse_one(text: Any) -> Server:
    if not isinstance(text, str):
        raise ServersError(f"a server is a string 'host:port' or 'host', or a mapping "
                           f"{{'host': workers}}, not {text!r}")
    try:
        spec = _hosts.parse_spec(text)
    except _hosts.HostSpecError as exc:
        raise ServersError(f"servers: {exc}") from None
    if spec.workers is None:
        return spec
    if spec.workers < FIRST_SERVER_PORT:
        raise ServersError(
            f"servers: {text!r} reads as a server at port {spec.workers}; for "
            f"{spec.workers} workers on {spec.ssh_host} over ssh write "
            f"servers={{{spec.ssh_host!r}: {spec.workers}}} ('host:port' is the address "
            "of a running server, e.g. the local end of a tunnel)")
    if spec.user is not None or spec.workers > 65535:
        raise ServersError(f"servers: {text!r} is neither 'host:port' (port 1024-65535, "
                           "no user) nor an ssh host; for workers on a host write "
                           "{'user@host': workers}")
    return ServerAddress(spec.address, spec.workers)


def _counted_host(host: Any, workers: Any) -> _hosts.HostSpec:
    if not isinstance(host, str):
        raise ServersError(f"servers: a mapping's keys are ssh hosts '[user@]host', "
                           f"not {host!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ServersError(f"servers: the workers on {host!r} must be a positive int "
                           f"(or None for the host's default), not {workers!r}")
    try:
        spec = _hosts.parse_spec(host)
    except _hosts.HostSpecError as exc:
        raise ServersError(f"servers: {exc}") from None
    if spec.workers is not None:
        raise ServersError(f"servers: write {{{spec.ssh_host!r}: {workers}}}, the host "
                           f"without ':{spec.workers}'")
    return _hosts.HostSpec(spec.address, spec.user, workers)


def describe(servers: tuple[Server, ...]) -> tuple:
    """``servers`` as a user writes them: addresses and plain hosts as
    strings, then one mapping of the hosts with a worker count."""
    plain = tuple(str(s) for s in servers
                  if isinstance(s, ServerAddress) or s.workers is None)
    counted = {s.ssh_host: s.workers for s in servers
               if isinstance(s, _hosts.HostSpec) and s.workers is not None}
    return plain + ((counted,) if counted else ())


def from_words(words: Iterable[str]) -> tuple:
    """``%pathos pool remote`` words (``[user@]host[:workers]``, its own
    syntax) as ``servers=``: a ``host:N`` below port 1024 is a count."""
    out: list[Any] = []
    for word in words:
        spec = _hosts.parse_spec(word)
        if spec.workers is not None and spec.workers < FIRST_SERVER_PORT:
            out.append({spec.ssh_host: spec.workers})
        else:
            out.append(word)
    return tuple(out)


def answers(address: ServerAddress, timeout: float = PROBE_TIMEOUT) -> Optional[str]:
    """None if something accepts connections at ``address``, else why not."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


class ServerSkippedWarning(UserWarning):
    """A server named in ``servers=`` is not used; the pool runs without it."""


def warn_skipped(address: ServerAddress, why: str) -> None:
    """Warn that the server at ``address`` is not used (``why``: the
    transport's reason); the pool runs on the other workers, as in pathos."""
    import warnings
    warnings.warn(f"{why}; the pool runs on the other workers", ServerSkippedWarning,
                  stacklevel=_callers_level())


def ssh_words(words: Iterable[str]) -> tuple[str, ...]:
    """The words of :func:`from_words` that name ssh hosts (not addresses)."""
    return tuple(w for w, entry in zip(words, from_words(words))
                 if not (isinstance(entry, str)
                         and isinstance(_parse_one(entry), ServerAddress)))


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _callers_level() -> int:
    """The stacklevel of the first frame outside this package: a warning
    points at the user's line that made the pool, however deep we are."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
