"""Where the panel's hosts come from: ``~/.ssh/config`` and the host registry.

    entries, problem = known_hosts()      # merged, ssh config order first

An ssh config ``Host`` line may name several aliases; patterns (``*``,
``?``) and negations (``!``) are skipped: they name no machine.  A registry
entry whose name is also an ssh config alias is one host with both sources.
The ssh config file is the one the ssh toolkit reads
(``PATHOS_MAGICS_SSH_CONFIG``, else ``~/.ssh/config``).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

from .. import hosts as _hosts
from ..ssh.session import config_path

_log = logging.getLogger(__name__)

SSH_CONFIG = "ssh config"
REGISTRY = "registry"


@dataclass(frozen=True)
class HostEntry:
    """A host the panel can offer.

    Attributes:
        alias: the name used for ssh and in pool specs (ssh alias or
            registry name).
        sources: where it was found (``"ssh config"``, ``"registry"``).
        workers: the registry's worker count, if any.
        python: the registry's Python command, if registered.
        ssh_host: what ssh connects to (``user@address`` for a registry
            entry with a user; else the alias).
    """

    alias: str
    sources: tuple[str, ...]
    workers: Optional[int] = None
    python: Optional[str] = None
    ssh_host: str = ""

    def __post_init__(self) -> None:
        if not self.ssh_host:
            object.__setattr__(self, "ssh_host", self.alias)

    @property
    def source(self) -> str:
        return " + ".join(self.sources)


def ssh_config_aliases(path: Optional[str] = None) -> list[str]:
    """The ``Host`` aliases of an ssh config that name one machine, in order.

    A missing file gives no aliases; an unreadable one is logged and gives none.
    """
    path = path or config_path()
    try:
        with open(os.path.expanduser(path), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        _log.warning("cannot read the ssh config %s: %s", path, exc)
        return []
    aliases: list[str] = []
    for line in lines:
        for name in _host_names(line):
            if name not in aliases:
                aliases.append(name)
    return aliases


def _host_names(line: str) -> list[str]:
    """The plain names of a ``Host a b c`` (or ``Host=a``) line, else []."""
    text = line.split("#", 1)[0].strip()
    key, _, rest = text.replace("=", " ", 1).partition(" ")
    if key.lower() != "host":
        return []
    return [n.strip('"') for n in rest.split()
            if n.strip('"') and not any(c in n for c in "*?!")]


def known_hosts(config: Optional[str] = None,
                registry: Optional[_hosts.HostRegistry] = None
                ) -> tuple[list[HostEntry], Optional[str]]:
    """ssh config aliases and registry entries, merged by name.

    Returns:
        The entries (ssh config order, then registry-only names, sorted) and
        a message if the registry could not be read (its hosts are then left
        out), else None.
    """
    registry = registry or _hosts.REGISTRY
    problem = None
    try:
        registered = registry.load()
    except _hosts.HostsFileError as exc:
        registered, problem = {}, str(exc)
    out = []
    for alias in ssh_config_aliases(config):
        entry = registered.pop(alias, None)
        if entry is None:
            out.append(HostEntry(alias, (SSH_CONFIG,)))
        else:
            out.append(_from_registry(entry, (SSH_CONFIG, REGISTRY)))
    for name in sorted(registered):
        out.append(_from_registry(registered[name], (REGISTRY,)))
    return out, problem


def _from_registry(entry: _hosts.Host, sources: tuple[str, ...]) -> HostEntry:
    return HostEntry(entry.name, sources, entry.workers, entry.python, entry.ssh_host)
