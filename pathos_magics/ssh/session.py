"""One shared, verified ssh connection per host.

Every user of a host (a :class:`~pathos_magics.ssh.Pipe`, a
:class:`~pathos_magics.ssh.Copier`, a :class:`~pathos_magics.ssh.Tunnel`, the
remote workers) opens channels on the same paramiko transport, so a host is
authenticated once and reached over one TCP connection, kept alive.

Settings come from ssh_config as OpenSSH reads it (target.py, config.py).
Host keys are checked as ssh checks them (knownhosts.py): against the user
known_hosts files (``UserKnownHostsFile``, or ``PATHOS_MAGICS_KNOWN_HOSTS``
as if given with ``ssh -o``) and the global ones, under ``HostKeyAlias`` when
set.  A changed or revoked key is always refused.  An unknown key is refused
unless someone asked for it to be accepted, and never against a stricter
wish::

    StrictHostKeyChecking yes          refused, whatever the caller says
    accept_new_host_key=False          refused, whatever ssh_config says
    StrictHostKeyChecking accept-new/no   accepted and recorded (a changed
                                       key is still refused, unlike ``no``)
    unset / ask                        accepted only with accept_new_host_key=True
                                       or PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS=1

Keys offered follow ``IdentityFile`` and ``IdentitiesOnly`` (identity.py);
``ProxyCommand`` runs as ssh runs it (proxy.py), ``ProxyJump`` hops through
sessions of their own.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from typing import Any, Optional

import paramiko

from . import identity, knownhosts
from ._errors import HostKeyError, SSHError
from .config import ConfigError
from .proxy import ProxyProcess
from .target import (ENV_KNOWN_HOSTS, Target, config_path, known_hosts_path,
                     resolve, split_user)

_log = logging.getLogger(__name__)

#: Environment variables (the tests point them at their own files).
ENV_CONFIG = "PATHOS_MAGICS_SSH_CONFIG"
ENV_ACCEPT_NEW = "PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS"

CONNECT_TIMEOUT = 10.0     # TCP connect + banner + auth, each
KEEPALIVE = 5              # seconds between keepalives on an idle transport
# A dead link (cable cut, host gone) is noticed when a keepalive or a
# message stays unacknowledged this long, instead of TCP's ~15 minutes.
DEAD_LINK_TIMEOUT = 10.0

__all__ = ["Session", "SSHError", "HostKeyError", "ConfigError", "Target",
           "resolve", "split_user", "config_path", "known_hosts_path",
           "get_session", "sessions", "close_all", "ENV_KNOWN_HOSTS"]


def _hop_target(hops: str) -> Target:
    """The last hop of a ProxyJump list, reached through the hops before it.

    Each hop is ``[user@]host[:port]``, resolved through ssh_config.
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
    # A hop's own ProxyJump/ProxyCommand is replaced by the hops before it.
    return dataclasses.replace(target, proxy_jump=",".join(before) or target.proxy_jump,
                    proxy_command=None if before else target.proxy_command)


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Checks the server's key as ssh would (the client's own lists are empty,
    so paramiko asks this policy about every key)."""

    def __init__(self, target: Target, accept: Optional[bool]) -> None:
        self.target = target
        self.accept = accept
        self.entries = knownhosts.read_entries(
            target.user_known_hosts + target.global_known_hosts)

    def preferred_types(self) -> list[str]:
        return knownhosts.known_types(self.entries, self.target.key_name)

    def missing_host_key(self, client, hostname, key) -> None:
        t, name, blob = self.target, self.target.key_name, key.asbytes()
        if t.revoked_host_keys and knownhosts.revoked_in_file(t.revoked_host_keys, blob):
            raise HostKeyError(f"the host key of {t.alias} ({key.get_name()} "
                               f"{key.fingerprint}) is REVOKED in "
                               f"{t.revoked_host_keys}: refusing to connect.")
        status, entry = knownhosts.check(self.entries, name, blob)
        if status == knownhosts.OK:
            return
        if status == knownhosts.REVOKED:
            raise HostKeyError(f"the host key of {t.alias} ({key.get_name()} "
                               f"{key.fingerprint}) is marked @revoked in "
                               f"{entry.path} line {entry.line}: refusing to connect.")
        if status == knownhosts.CHANGED:
            raise HostKeyError(
                f"the host key of {t.alias} ({name}) has CHANGED since it was "
                f"recorded in {entry.path} line {entry.line}: someone may be "
                "intercepting the connection, or the host was reinstalled. If "
                "you know it was reinstalled, remove the old key with "
                f"`ssh-keygen -f {entry.path} -R '{name}'` and connect again.")
        self._new_key(key)

    def _new_key(self, key: paramiko.PKey) -> None:
        t, name = self.target, self.target.key_name
        where = ", ".join(t.user_known_hosts + t.global_known_hosts) or "no file"
        why = self._refusal()
        if why is None and not t.user_known_hosts:
            why = "UserKnownHostsFile is none, so it could not be recorded"
        if why is not None:
            hint = (f"add it with `ssh-keyscan -p {t.port} {t.hostname} >> "
                    f"{t.user_known_hosts[0]}`" if t.user_known_hosts and
                    not t.host_key_alias else
                    f"add it under the name {name!r} to a known_hosts file")
            raise HostKeyError(
                f"the host key of {t.alias} ({name}, {key.get_name()} "
                f"{key.fingerprint}) is not in {where}, so the host cannot be "
                f"verified ({why}). If you trust it, {hint}" +
                ("" if t.strict == "yes" or self.accept is False else
                 f", or connect once with accept_new_host_key=True (or set "
                 f"{ENV_ACCEPT_NEW}=1)") + ".")
        path = t.user_known_hosts[0]
        knownhosts.add(path, name, knownhosts.blob_type(key.asbytes()),
                       key.asbytes(), t.hash_known_hosts)
        _log.warning("added the host key of %s (%s %s) to %s under %r", t.alias,
                     key.get_name(), key.fingerprint, path, name)

    def _refusal(self) -> Optional[str]:
        """Why an unknown key may not be accepted, or None."""
        if self.target.strict == "yes":
            return "StrictHostKeyChecking is yes in ssh_config"
        if self.accept is False:
            return "accept_new_host_key=False"
        if self.target.strict in ("accept-new", "no") or self.accept:
            return None
        return "unknown keys are not accepted unless you ask"


def _tune_socket(sock: socket.socket, dead_after: float) -> None:
    """Short dead-link detection, so a lost host is noticed in seconds."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT,
                        int(dead_after * 1000))


class Session:
    """An authenticated ssh connection to one host (use :func:`get_session`).

    Attributes:
        target: the resolved connection settings.
        client: the paramiko SSHClient.
    """

    def __init__(self, target: Target, client: paramiko.SSHClient,
                 jump: Optional["Session"] = None,
                 proxy: Optional[ProxyProcess] = None) -> None:
        self.target = target
        self.client = client
        self._jump = jump
        self._proxy = proxy

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

    def _shutdown(self) -> None:
        """Close the connection and stop its ProxyCommand, if any."""
        self.client.close()
        if self._proxy is not None:
            self._proxy.stop()

    def close(self) -> None:
        self._shutdown()
        with _LOCK:
            for key, s in list(_SESSIONS.items()):
                if s is self:
                    del _SESSIONS[key]

    def __repr__(self) -> str:
        state = "active" if self.is_active() else "closed"
        return f"<ssh Session {self.target} {state}>"


def _connect(target: Target, *, accept: Optional[bool],
             timeout: Optional[float]) -> Session:
    step = timeout or target.connect_timeout or CONNECT_TIMEOUT
    jump, proxy, sock = _carrier(target, accept, timeout, step)
    policy = _HostKeyPolicy(target, accept)
    agent, agent_keys = identity.agent_keys()
    keys = identity.keys_to_offer(
        identity.identity_paths(target.identity_files, target.default_identities),
        target.identities_only, agent_keys)
    strategy = identity.KeyStrategy(target.user, keys)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(policy)
    try:
        client.connect(
            target.hostname, port=target.port, username=target.user, sock=sock,
            timeout=step, banner_timeout=step, auth_timeout=step,
            auth_strategy=strategy,
            transport_factory=_transport_factory(policy.preferred_types()))
    except BaseException as exc:
        client.close()
        if proxy is not None:
            why = proxy.failure()
            proxy.stop()
            if why and not isinstance(exc, (HostKeyError, paramiko.AuthenticationException)):
                raise SSHError(f"could not connect to {target.alias} through its "
                               f"ProxyCommand: {why}. Check the command in "
                               "ssh_config.") from exc
        _raise_connect_error(target, strategy, exc)
    finally:
        if agent is not None:
            agent.close()
    client.get_transport().set_keepalive(target.alive_interval or KEEPALIVE)
    return Session(target, client, jump, proxy)


def _raise_connect_error(target: Target, strategy: identity.KeyStrategy,
                         exc: BaseException) -> None:
    if isinstance(exc, HostKeyError) or not isinstance(exc, Exception):
        raise exc
    if isinstance(exc, paramiko.AuthenticationException):
        only = (" (IdentitiesOnly yes: only these keys are offered)"
                if target.identities_only else "")
        raise SSHError(
            f"{target} refused our keys: {strategy.describe()}{only}. Load the "
            "right key into the ssh agent, or set IdentityFile for this host "
            "in ~/.ssh/config.") from exc
    if isinstance(exc, (paramiko.SSHException, OSError, EOFError)):
        raise SSHError(f"could not connect to {target.alias} ({target}): {exc}. "
                       "Check the host name and that sshd runs there.") from exc
    raise exc


def _carrier(target: Target, accept: Optional[bool], timeout: Optional[float],
             step: float) -> tuple[Optional[Session], Optional[ProxyProcess], Any]:
    """What the ssh connection runs over: a jump channel, a ProxyCommand or TCP."""
    if target.proxy_jump:
        # ProxyJump a,b: reach b through a, then the target through b.
        jump = _session_for(_hop_target(target.proxy_jump), accept, timeout)
        return jump, None, jump.open_direct(target.hostname, target.port, timeout=step)
    if target.proxy_command:
        proxy = ProxyProcess(target.proxy_command, target.alias)
        return None, proxy, proxy.sock
    return None, None, _open_socket(target, step)


def _transport_factory(known_types: list[str]):
    """A Transport asking first for the host key types already known (as
    ssh orders HostKeyAlgorithms), so a known key is the one negotiated."""
    wanted: list[str] = []
    for kind in known_types:
        wanted += (["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
                   if kind == "ssh-rsa" else [kind])

    def factory(sock, disabled_algorithms=None) -> paramiko.Transport:
        t = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
        opts = t.get_security_options()
        first = [k for k in wanted if k in opts.key_types]
        if first:
            opts.key_types = first + [k for k in opts.key_types if k not in first]
        return t
    return factory


def _open_socket(target: Target, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((target.hostname, target.port), timeout)
    except OSError as exc:
        raise SSHError(f"could not reach {target.alias} at {target.hostname}:"
                       f"{target.port}: {exc}. Check the address and that sshd "
                       "runs there.") from exc
    dead_after = (target.alive_interval * target.alive_count_max
                  if target.alive_interval else DEAD_LINK_TIMEOUT)
    _tune_socket(sock, dead_after)
    return sock


_SESSIONS: dict[Target, Session] = {}
_LOCK = threading.Lock()
_HOST_LOCKS: dict[Target, threading.Lock] = {}


def _accept_default() -> Optional[bool]:
    value = os.environ.get(ENV_ACCEPT_NEW, "").lower()
    return True if value in ("1", "true", "yes") else None


def get_session(host: str, *, user: Optional[str] = None, port: Optional[int] = None,
                accept_new_host_key: Optional[bool] = None,
                timeout: Optional[float] = None) -> Session:
    """The shared session of ``[user@]host``, connected if there is none.

    Args:
        host: an ssh alias, name or address, optionally ``user@``.
        user, port: override ssh_config.
        accept_new_host_key: trust and record an unknown host key (default:
            the ``PATHOS_MAGICS_ACCEPT_NEW_HOST_KEYS`` variable, else what
            ``StrictHostKeyChecking`` says; ``yes`` there always refuses, and
            False here refuses even where ssh_config would accept).
        timeout: seconds for each connection step (default: ``ConnectTimeout``
            from ssh_config, else 10).

    Raises:
        HostKeyError: the host key is unknown (and not accepted), changed or
            revoked.
        SSHError: the host cannot be reached or refuses our keys, or
            ssh_config is one ssh would refuse (:class:`ConfigError`).
    """
    accept = _accept_default() if accept_new_host_key is None else accept_new_host_key
    return _session_for(resolve(host, user=user, port=port), accept, timeout)


def _session_for(target: Target, accept: Optional[bool],
                 timeout: Optional[float]) -> Session:
    # Settings that change how a host is reached or verified (a jump, a
    # HostKeyAlias, IdentitiesOnly...) make a different connection.
    key = target.connection_key
    with _LOCK:
        lock = _HOST_LOCKS.setdefault(key, threading.Lock())
    with lock:                    # one connect per host, even when racing
        with _LOCK:
            s = _SESSIONS.get(key)
        if s is not None and s.is_active():
            return s
        if s is not None:
            s._shutdown()
        s = _connect(target, accept=accept, timeout=timeout)
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
        s._shutdown()
