"""Where and how to connect to a host: ``[user@]host`` plus ssh_config.

Settings come from, first match wins::

    explicit argument  >  ssh_config (see config.py)  >  OpenSSH's defaults

and mean what they mean to OpenSSH (ssh_config(5)); see the README section
"ssh_config options read" for the list.  Paths take ``~``, ``%`` tokens and
``${VAR}`` where ssh allows them.
"""
from __future__ import annotations

import dataclasses
import getpass
import os
from dataclasses import dataclass
from typing import Optional

from . import config as _config
from ._errors import SSHError
from .config import HostConfig, connection_tokens, env_expand, percent_expand
from .knownhosts import lookup_name

ENV_KNOWN_HOSTS = "PATHOS_MAGICS_KNOWN_HOSTS"
DEFAULT_USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
_STRICT = {"yes": "yes", "true": "yes", "no": "no", "off": "no", "false": "no",
           "accept-new": "accept-new", "ask": "ask"}


@dataclass(frozen=True)
class Target:
    """Where and how to connect, after ssh_config is applied.

    Attributes:
        alias: the name given (what ``Host`` lines matched).
        hostname, user, port: where to connect and as whom.
        identity_files: the ``IdentityFile`` paths (expanded).
        default_identities: no ``IdentityFile`` was given: ssh's default files.
        identities_only: ``IdentitiesOnly yes``.
        proxy_jump, proxy_command: how the connection is carried (tokens of
            ProxyCommand expanded); None for a direct connection.
        host_key_alias: the name host keys are looked up and saved under.
        user_known_hosts, global_known_hosts: the files checked (only the
            first user file is written).
        strict: ``StrictHostKeyChecking``: ``ask`` (unset), ``yes``,
            ``accept-new`` or ``no``.
        hash_known_hosts: new known_hosts names are hashed.
        revoked_host_keys: a ``RevokedHostKeys`` file, or None.
        connect_timeout: ``ConnectTimeout`` seconds, or None.
        alive_interval, alive_count_max: ``ServerAliveInterval`` (0: unset)
            and ``ServerAliveCountMax``.
    """

    alias: str
    hostname: str
    user: str
    port: int = 22
    identity_files: tuple[str, ...] = ()
    proxy_jump: Optional[str] = None
    proxy_command: Optional[str] = None
    default_identities: bool = False
    identities_only: bool = False
    host_key_alias: Optional[str] = None
    user_known_hosts: tuple[str, ...] = ()
    global_known_hosts: tuple[str, ...] = ()
    strict: str = "ask"
    hash_known_hosts: bool = False
    revoked_host_keys: Optional[str] = None
    connect_timeout: Optional[float] = None
    alive_interval: int = 0
    alive_count_max: int = 3

    @property
    def key_name(self) -> str:
        """The name known_hosts uses: HostKeyAlias, ``host`` or ``[host]:port``."""
        return lookup_name(self.hostname, self.port, self.host_key_alias)

    @property
    def connection_key(self) -> "Target":
        """Targets equal but for the alias share one connection."""
        return dataclasses.replace(self, alias="")

    def __str__(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


def config_path() -> str:
    """The user config file read (``PATHOS_MAGICS_SSH_CONFIG`` or ~/.ssh/config)."""
    return _config.config_files()[0][0]


def known_hosts_path() -> str:
    """The known_hosts file new keys go to when ssh_config names none."""
    return os.environ.get(ENV_KNOWN_HOSTS) or os.path.expanduser(DEFAULT_USER_KNOWN_HOSTS[0])


def split_user(host: str) -> tuple[Optional[str], str]:
    """``"user@node1"`` -> ``("user", "node1")``; no user -> ``(None, host)``."""
    if "@" in host:
        user, _, name = host.rpartition("@")
        return user or None, name
    return None, host


def resolve(host: str, *, user: Optional[str] = None, port: Optional[int] = None,
            config: Optional[str] = None) -> Target:
    """Apply ssh_config to ``[user@]host``; explicit arguments win.

    Raises:
        SSHError: a bad host name, or a config ssh would refuse.
    """
    spec_user, alias = split_user(host)
    if not alias or any(c.isspace() for c in alias):
        raise SSHError(f"{host!r} is not a host name; give 'host' or 'user@host'.")
    cfg = _config.lookup(alias, config)
    hostname = cfg["hostname"]
    port = int(port or _port(cfg))
    user = user or spec_user or cfg.get("user") or getpass.getuser()
    tokens = connection_tokens(cfg, alias, hostname, port, user)
    ids = [_path(p, tokens, "IdentityFile") for p in cfg.get("identityfile", [])]
    interval = cfg.number("serveraliveinterval", 0) or 0
    return Target(
        alias=alias, hostname=hostname, user=user, port=port,
        identity_files=tuple(p for p in ids if p.lower() != "none"),
        default_identities=not ids,
        identities_only=cfg.flag("identitiesonly"),
        proxy_jump=_none(cfg.get("proxyjump")),
        proxy_command=_proxy_command(cfg, alias, hostname, port, user),
        host_key_alias=cfg.get("hostkeyalias"),
        user_known_hosts=_user_known_hosts(cfg, tokens),
        global_known_hosts=_files(cfg.get("globalknownhostsfile"),
                                  DEFAULT_GLOBAL_KNOWN_HOSTS, None),
        strict=_strict(cfg),
        hash_known_hosts=cfg.flag("hashknownhosts"),
        revoked_host_keys=_revoked(cfg, tokens),
        connect_timeout=_timeout(cfg),
        alive_interval=interval,
        alive_count_max=cfg.number("serveralivecountmax", 3) or 3,
    )


def _port(cfg: HostConfig) -> int:
    value = cfg.get("port", "22")
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SSHError(f"Port {value!r} for {cfg.host} in ssh_config is not a "
                       "port number (1-65535).")
    return int(value)


def _none(value: Optional[str]) -> Optional[str]:
    if not value or value.strip().lower() == "none":
        return None
    return value.strip()


def _path(value: str, tokens: dict, option: str) -> str:
    """``~``, then ``%`` tokens and ``${VAR}``, as ssh expands paths."""
    if value.lower() == "none":
        return value
    return env_expand(percent_expand(os.path.expanduser(value), tokens, option), option)


def _files(values: Optional[list], default: tuple, tokens: Optional[dict]) -> tuple[str, ...]:
    if values is None:
        return tuple(os.path.expanduser(p) for p in default)
    if [v.lower() for v in values] == ["none"]:
        return ()
    if tokens is None:
        return tuple(os.path.expanduser(v) for v in values)
    return tuple(_path(v, tokens, "UserKnownHostsFile") for v in values)


def _user_known_hosts(cfg: HostConfig, tokens: dict) -> tuple[str, ...]:
    # PATHOS_MAGICS_KNOWN_HOSTS acts as `ssh -o UserKnownHostsFile=...`.
    if os.environ.get(ENV_KNOWN_HOSTS):
        return (os.environ[ENV_KNOWN_HOSTS],)
    return _files(cfg.get("userknownhostsfile"), DEFAULT_USER_KNOWN_HOSTS, tokens)


def _proxy_command(cfg: HostConfig, alias: str, hostname: str, port: int,
                   user: str) -> Optional[str]:
    command = _none(cfg.get("proxycommand"))
    if command is None:
        return None
    return percent_expand(command, {"h": hostname, "n": alias, "p": str(port),
                                    "r": user}, "ProxyCommand")


def _strict(cfg: HostConfig) -> str:
    value = cfg.get("stricthostkeychecking", "ask")
    if value.lower() not in _STRICT:
        raise SSHError(f"StrictHostKeyChecking {value!r} for {cfg.host}: use "
                       "yes, accept-new, no or ask.")
    return _STRICT[value.lower()]


def _revoked(cfg: HostConfig, tokens: dict) -> Optional[str]:
    value = _none(cfg.get("revokedhostkeys"))
    return _path(value, tokens, "RevokedHostKeys") if value else None


def _timeout(cfg: HostConfig) -> Optional[float]:
    value = cfg.number("connecttimeout")
    return float(value) if value else None
