"""One shared, verified ssh connection per host.

Every user of a host (a :class:`~pathos_magics.ssh.Pipe`, a
:class:`~pathos_magics.ssh.Copier`, a :class:`~pathos_magics.ssh.Tunnel`, the
remote workers) opens channels on the same paramiko transport, so a host is
authenticated once and reached over one TCP connection, kept alive.

Where settings come from, first match wins::

    explicit argument  >  ~/.ssh/config (HostName User Port IdentityFile
                          ProxyJump)  >  defaults (current user, port 22)

Host keys are checked against known_hosts (``~/.ssh/known_hosts``, or the
file named by ``PATHOS_MAGICS_KNOWN_HOSTS``).  An unknown key is refused
unless the caller opts in (``accept_new_host_key=True`` or
``PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS=1``), and then it is written to
known_hosts.  A changed key is always refused.
"""
from __future__ import annotations

import dataclasses
import getpass
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any, Optional

import paramiko

from ..errors import TransportError

_log = logging.getLogger(__name__)

#: Environment variables (the tests point them at their own files).
ENV_CONFIG = "PATHOS_MAGICS_SSH_CONFIG"
ENV_KNOWN_HOSTS = "PATHOS_MAGICS_KNOWN_HOSTS"
ENV_ACCEPT_NEW = "PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS"

CONNECT_TIMEOUT = 10.0     # TCP connect + banner + auth, each
KEEPALIVE = 5              # seconds between keepalives on an idle transport
# A dead link (cable cut, host gone) is noticed when a keepalive or a
# message stays unacknowledged this long, instead of TCP's ~15 minutes.
DEAD_LINK_TIMEOUT = 10.0


class SSHError(TransportError):
    """A host could not be reached, authenticated or used over ssh."""


class HostKeyError(SSHError):
    """A host's key is unknown or does not match known_hosts."""


@dataclass(frozen=True)
class Target:
    """Where and how to connect, after ~/.ssh/config is applied."""

    alias: str
    hostname: str
    user: str
    port: int = 22
    identity_files: tuple[str, ...] = ()
    proxy_jump: Optional[str] = None

    @property
    def key_name(self) -> str:
        """The name known_hosts uses: ``host``, or ``[host]:port`` off 22."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


def config_path() -> str:
    return os.environ.get(ENV_CONFIG) or os.path.expanduser("~/.ssh/config")


def known_hosts_path() -> str:
    return os.environ.get(ENV_KNOWN_HOSTS) or os.path.expanduser("~/.ssh/known_hosts")


def split_user(host: str) -> tuple[Optional[str], str]:
    """``"user@node1"`` -> ``("user", "node1")``; no user -> ``(None, host)``."""
    if "@" in host:
        user, _, name = host.rpartition("@")
        return user or None, name
    return None, host


def resolve(host: str, *, user: Optional[str] = None, port: Optional[int] = None,
            config: Optional[str] = None) -> Target:
    """Apply ~/.ssh/config to ``[user@]host``; explicit arguments win."""
    spec_user, alias = split_user(host)
    if not alias or any(c.isspace() for c in alias):
        raise SSHError(f"{host!r} is not a host name; give 'host' or 'user@host'.")
    path = config or config_path()
    entry: dict[str, Any] = {}
    if os.path.exists(path):
        entry = paramiko.SSHConfig.from_path(path).lookup(alias)
    ids = tuple(os.path.expanduser(p) for p in entry.get("identityfile", ()))
    return Target(
        alias=alias,
        hostname=entry.get("hostname", alias),
        user=user or spec_user or entry.get("user") or getpass.getuser(),
        port=int(port or entry.get("port", 22)),
        identity_files=ids,
        proxy_jump=_jump_setting(entry.get("proxyjump")),
    )


def _jump_setting(value: Optional[str]) -> Optional[str]:
    if not value or value.strip().lower() == "none":
        return None
    return value.strip()


def _hop_target(hops: str) -> Target:
    """The last hop of a ProxyJump list, reached through the hops before it.

    Each hop is ``[user@]host[:port]``, resolved through ~/.ssh/config.
    """
    *before, last = [h.strip() for h in hops.split(",")]
    name, port = last, None
    if last.count(":") == 1:
        name, _, text = last.partition(":")
        if not text.isdigit():
            raise SSHError(f"ProxyJump hop {last!r} has a bad port; write "
                           "[user@]host[:port].")
        port = int(text)
    target = resolve(name, port=port)
    if before:
        target = dataclasses.replace(target, proxy_jump=",".join(before))
    return target


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """The explicit opt-in: trust an unknown key and record it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def missing_host_key(self, client, hostname, key) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        _save_host_key(self.path, hostname, key)
        _log.warning("added the host key of %s (%s) to %s", hostname,
                     key.get_name(), self.path)


class _Refuse(paramiko.MissingHostKeyPolicy):
    def __init__(self, target: Target, path: str) -> None:
        self.target, self.path = target, path

    def missing_host_key(self, client, hostname, key) -> None:
        raise HostKeyError(
            f"the host key of {self.target.alias} ({hostname}, "
            f"{key.get_name()} {key.fingerprint}) is not in {self.path}, so "
            "the host cannot be verified. If you trust it, connect once with "
            f"accept_new_host_key=True (or set {ENV_ACCEPT_NEW}=1), or add "
            f"it with `ssh-keyscan -p {self.target.port} {self.target.hostname}"
            f" >> {self.path}`.")


def _save_host_key(path: str, hostname: str, key: paramiko.PKey) -> None:
    # Append rather than rewrite: the file may hold entries paramiko cannot
    # parse, which a rewrite would drop.
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    with open(path, "a", encoding="ascii") as f:
        f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def _tune_socket(sock: socket.socket) -> None:
    """Short dead-link detection, so a lost host is noticed in seconds."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT,
                        int(DEAD_LINK_TIMEOUT * 1000))


class Session:
    """An authenticated ssh connection to one host (use :func:`get_session`).

    Attributes:
        target: the resolved connection settings.
        client: the paramiko SSHClient.
    """

    def __init__(self, target: Target, client: paramiko.SSHClient,
                 jump: Optional["Session"] = None) -> None:
        self.target = target
        self.client = client
        self._jump = jump

    @property
    def transport(self) -> paramiko.Transport:
        t = self.client.get_transport()
        if t is None:
            raise SSHError(f"the ssh connection to {self.target.alias} is closed.")
        return t

    def is_active(self) -> bool:
        t = self.client.get_transport()
        return t is not None and t.is_active()

    def exec(self, command: str, *, timeout: Optional[float] = None
             ) -> paramiko.Channel:
        """Start ``command`` (a shell command line) on a new channel."""
        try:
            chan = self.transport.open_session(timeout=timeout or CONNECT_TIMEOUT)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SSHError(f"could not run a command on {self.target.alias}: "
                           f"{exc}. Check that the host is up.") from exc
        return chan

    def open_direct(self, host: str, port: int, *, timeout: Optional[float] = None
                    ) -> paramiko.Channel:
        """A ``direct-tcpip`` channel to ``host:port`` as seen from the host."""
        try:
            return self.transport.open_channel(
                "direct-tcpip", (host, port), ("127.0.0.1", 0),
                timeout=timeout or CONNECT_TIMEOUT)
        except paramiko.ChannelException as exc:
            raise SSHError(
                f"{self.target.alias} refused to forward to {host}:{port} "
                f"({exc.text}): is something listening there, and does its "
                "sshd allow TCP forwarding (AllowTcpForwarding)?") from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SSHError(f"could not open a tunnel on {self.target.alias}: "
                           f"{exc}") from exc

    def sftp(self) -> paramiko.SFTPClient:
        try:
            return self.client.open_sftp()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SSHError(f"could not open SFTP on {self.target.alias}: {exc}. "
                           "Does its sshd have the sftp subsystem?") from exc

    def close(self) -> None:
        self.client.close()
        with _LOCK:
            for key, s in list(_SESSIONS.items()):
                if s is self:
                    del _SESSIONS[key]

    def __repr__(self) -> str:
        state = "active" if self.is_active() else "closed"
        return f"<ssh Session {self.target} {state}>"


def _connect(target: Target, *, accept_new: bool, timeout: float) -> Session:
    jump = None
    sock: Any = None
    if target.proxy_jump:
        # ProxyJump a,b: reach b through a, then the target through b.
        jump = _session_for(_hop_target(target.proxy_jump), accept_new, timeout)
        sock = jump.open_direct(target.hostname, target.port, timeout=timeout)
    else:
        sock = _open_socket(target, timeout)
    client = paramiko.SSHClient()
    kh = known_hosts_path()
    if os.path.exists(kh):
        client.load_host_keys(kh)
    client.set_missing_host_key_policy(_AcceptNew(kh) if accept_new
                                       else _Refuse(target, kh))
    try:
        client.connect(
            target.hostname, port=target.port, username=target.user,
            key_filename=list(target.identity_files) or None, sock=sock,
            timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
            allow_agent=True, look_for_keys=True)
    except HostKeyError:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyError(
            f"the host key of {target.alias} ({target.key_name}) has CHANGED "
            f"since it was recorded in {kh}: someone may be intercepting the "
            "connection, or the host was reinstalled. If you know it was "
            f"reinstalled, remove the old key with `ssh-keygen -f {kh} -R "
            f"'{target.key_name}'` and connect again.") from exc
    except paramiko.AuthenticationException as exc:
        client.close()
        raise SSHError(
            f"{target} refused our keys ({exc}). Load a key into the ssh "
            "agent, or set IdentityFile for this host in ~/.ssh/config.") from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        client.close()
        raise SSHError(f"could not connect to {target.alias} ({target}): {exc}. "
                       "Check the host name and that sshd runs there.") from exc
    client.get_transport().set_keepalive(KEEPALIVE)
    return Session(target, client, jump)


def _open_socket(target: Target, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((target.hostname, target.port), timeout)
    except OSError as exc:
        raise SSHError(f"could not reach {target.alias} at {target.hostname}:"
                       f"{target.port}: {exc}. Check the address and that sshd "
                       "runs there.") from exc
    _tune_socket(sock)
    return sock


_SESSIONS: dict[tuple[str, str, int, str], Session] = {}
_LOCK = threading.Lock()
_HOST_LOCKS: dict[tuple[str, str, int, str], threading.Lock] = {}


def _accept_default() -> bool:
    return os.environ.get(ENV_ACCEPT_NEW, "").lower() in ("1", "true", "yes")


def get_session(host: str, *, user: Optional[str] = None, port: Optional[int] = None,
                accept_new_host_key: Optional[bool] = None,
                timeout: Optional[float] = None) -> Session:
    """The shared session of ``[user@]host``, connected if there is none.

    Args:
        host: an ssh alias, name or address, optionally ``user@``.
        user, port: override ~/.ssh/config.
        accept_new_host_key: trust and record an unknown host key (default:
            the ``PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS`` variable, else no).
        timeout: seconds for each connection step.

    Raises:
        HostKeyError: the host key is unknown (and not accepted) or changed.
        SSHError: the host cannot be reached or refuses our keys.
    """
    accept = _accept_default() if accept_new_host_key is None else accept_new_host_key
    return _session_for(resolve(host, user=user, port=port), accept,
                        timeout or CONNECT_TIMEOUT)


def _session_for(target: Target, accept: bool, timeout: float) -> Session:
    # A host reached through a jump is a different connection from a direct one.
    key = (target.user, target.hostname, target.port, target.proxy_jump or "")
    with _LOCK:
        lock = _HOST_LOCKS.setdefault(key, threading.Lock())
    with lock:                    # one connect per host, even when racing
        with _LOCK:
            s = _SESSIONS.get(key)
        if s is not None and s.is_active():
            return s
        if s is not None:
            s.client.close()
        s = _connect(target, accept_new=accept, timeout=timeout)
        with _LOCK:
            _SESSIONS[key] = s
        return s


def sessions() -> list[Session]:
    """The cached sessions (active or not)."""
    with _LOCK:
        return list(_SESSIONS.values())


def close_all() -> None:
    """Close every cached session (their channels and tunnels end with them)."""
    with _LOCK:
        items = list(_SESSIONS.values())
        _SESSIONS.clear()
    for s in items:
        s.client.close()
