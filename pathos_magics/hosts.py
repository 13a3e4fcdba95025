"""The host registry: the machines a notebook may use, and what we know of them.

    from pathos_magics import hosts
    hosts.add("user@node2:8")                 # 8 workers
    hosts.add("node1", probe=True)            # worker count from `nproc`
    hosts.list_hosts()

Kept as JSON in ``$XDG_CONFIG_HOME/pathos_magics/hosts.json`` (default
``~/.config/pathos_magics/hosts.json``)::

    {"version": 1,
     "hosts": {"node2": {"address": "node2", "user": "user", "workers": 8,
                         "python": "python3", "status": "ok",
                         "checked": "2026-11-26T10:00:00Z", "error": null}}}

A host spec is ``[user@]address[:workers]``; the address is an ssh config
alias, a host name, an IPv4 address or ``[an IPv6 address]``.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Optional

from .errors import PathosMagicsError

FILE_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?$")
_USER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.\-]*$")


class HostSpecError(PathosMagicsError, ValueError):
    """A host spec or a registry entry is malformed."""


class HostsFileError(PathosMagicsError, ValueError):
    """The registry file cannot be read as a registry."""


# ---------------------------------------------------------------- specs

@dataclass(frozen=True)
class HostSpec:
    """A parsed ``[user@]address[:workers]``."""

    address: str
    user: Optional[str] = None
    workers: Optional[int] = None

    @property
    def ssh_host(self) -> str:
        """What the ssh toolkit takes: ``user@address`` or ``address``."""
        return f"{self.user}@{self.address}" if self.user else self.address

    def __str__(self) -> str:
        addr = f"[{self.address}]" if ":" in self.address else self.address
        tail = f":{self.workers}" if self.workers else ""
        return f"{self.user + '@' if self.user else ''}{addr}{tail}"


_SPEC_HELP = ("write it as [user@]host[:workers], e.g. 'node1', "
              "'alice@node2:8' or 'alice@[fe80::1]:4'")


def parse_spec(spec: str) -> HostSpec:
    """Parse ``[user@]address[:workers]``.

    Raises:
        HostSpecError: the spec is malformed (the message says why and how).
    """
    if not isinstance(spec, str):
        raise HostSpecError(f"a host spec is a string, not {type(spec).__name__}: "
                            f"{spec!r}; {_SPEC_HELP}")
    text = spec.strip()
    if not text or any(c.isspace() for c in text):
        raise HostSpecError(f"host spec {spec!r} is empty or has spaces; {_SPEC_HELP}")
    user, sep, rest = text.rpartition("@")
    if sep and not _USER.match(user):
        raise HostSpecError(f"host spec {spec!r}: {user!r} is not a user name; "
                            f"{_SPEC_HELP}")
    address, workers = _split_workers(rest, spec)
    _check_address(address, spec)
    return HostSpec(address=address, user=user or None, workers=workers)


def _split_workers(rest: str, spec: str) -> tuple[str, Optional[int]]:
    if rest.startswith("["):                       # [IPv6]:n
        end = rest.find("]")
        if end < 0:
            raise HostSpecError(f"host spec {spec!r}: unclosed '['; {_SPEC_HELP}")
        address, tail = rest[1:end], rest[end + 1:]
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise HostSpecError(f"host spec {spec!r}: {address!r} is not an IPv6 "
                                f"address; {_SPEC_HELP}") from None
        if tail and not tail.startswith(":"):
            raise HostSpecError(f"host spec {spec!r}: unexpected {tail!r} after "
                                f"']'; {_SPEC_HELP}")
        return address, _workers(tail[1:], spec) if tail else None
    if rest.count(":") > 1:
        raise HostSpecError(f"host spec {spec!r}: put an IPv6 address in "
                            f"brackets; {_SPEC_HELP}")
    address, sep, count = rest.partition(":")
    return address, (_workers(count, spec) if sep else None)


def _workers(text: str, spec: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise HostSpecError(f"host spec {spec!r}: the worker count after ':' must "
                            f"be a positive whole number, not {text!r}; {_SPEC_HELP}")
    return int(text)


def _check_address(address: str, spec: str) -> None:
    if ":" in address:
        return                                      # a checked IPv6 address
    if not address or not _NAME.match(address) or ".." in address:
        raise HostSpecError(f"host spec {spec!r}: {address!r} is not a host name "
                            f"or address; {_SPEC_HELP}")


# ---------------------------------------------------------------- entries

@dataclass
class Host:
    """One registry entry.

    Attributes:
        name: how you refer to it (defaults to its address).
        address: ssh alias, host name or IP address.
        user: login name (None: from ~/.ssh/config or the local user).
        workers: workers to start there (None: probe, or the CPU count).
        python: the Python command on the host.
        status: 'unknown', 'ok' or 'unreachable' (last check).
        checked: when it was last checked (UTC, ISO 8601).
        error: what went wrong at the last check.
    """

    name: str
    address: str
    user: Optional[str] = None
    workers: Optional[int] = None
    python: str = "python3"
    status: str = "unknown"
    checked: Optional[str] = None
    error: Optional[str] = None
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def ssh_host(self) -> str:
        return f"{self.user}@{self.address}" if self.user else self.address

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("name")
        d.update(d.pop("extra"))       # keep what a newer version wrote
        return d

    @classmethod
    def from_dict(cls, name: str, data: object) -> "Host":
        if not isinstance(data, dict):
            raise HostSpecError(f"hosts entry {name!r} must be an object, not "
                                f"{type(data).__name__}")
        known = {f.name for f in fields(cls)} - {"name", "extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        host = cls(name=name, address=kwargs.pop("address", name), extra=extra, **kwargs)
        host.validate()
        return host

    def validate(self) -> None:
        """Raise HostSpecError if a field has a wrong type or value."""
        where = f"hosts entry {self.name!r}"
        _check_address(self.address, f"{where}: address {self.address!r}")
        if self.user is not None and (not isinstance(self.user, str)
                                      or not _USER.match(self.user)):
            raise HostSpecError(f"{where}: user {self.user!r} is not a user name")
        if self.workers is not None and (isinstance(self.workers, bool) or
                                         not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise HostSpecError(f"{where}: workers must be a positive int or "
                                f"null, not {self.workers!r}")
        if not isinstance(self.python, str) or not self.python.strip():
            raise HostSpecError(f"{where}: python must be a command, not "
                                f"{self.python!r}")


# ---------------------------------------------------------------- the file

def config_dir() -> str:
    """``$XDG_CONFIG_HOME/pathos_magics`` (default ``~/.config/pathos_magics``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, "pathos_magics")


def default_path() -> str:
    return os.path.join(config_dir(), "hosts.json")


class HostRegistry:
    """The registry in one file (default: :func:`default_path`, read at use).

    Every call reads the file afresh and writes it atomically, so two
    notebooks sharing it see each other's changes.
    """

    def __init__(self, path: Optional[str] = None) -> None:
        self._path = path

    @property
    def path(self) -> str:
        return self._path or default_path()

    def load(self) -> dict[str, Host]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise HostsFileError(f"cannot read the host registry {self.path}: {exc}. "
                                 "Fix or delete the file.") from exc
        if not isinstance(data, dict) or not isinstance(data.get("hosts", {}), dict):
            raise HostsFileError(f"{self.path} is not a host registry (expected "
                                 '{"version": 1, "hosts": {...}}). Fix or delete it.')
        try:
            return {name: Host.from_dict(name, entry)
                    for name, entry in data.get("hosts", {}).items()}
        except (HostSpecError, TypeError) as exc:
            raise HostsFileError(f"{self.path}: {exc}. Fix the entry, or remove it "
                                 "with hosts.remove(name).") from exc

    def save(self, hosts: dict[str, Host]) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        data = {"version": FILE_VERSION,
                "hosts": {name: h.to_dict() for name, h in sorted(hosts.items())}}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), prefix=".hosts-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.write("\n")
            os.replace(tmp, self.path)          # readers never see half a file
        except BaseException:
            os.unlink(tmp)
            raise

    # -- operations

    def add(self, spec: str, *, name: Optional[str] = None,
            python: Optional[str] = None, workers: Optional[int] = None,
            probe: bool = False) -> Host:
        """Add (or update) a host from a spec; ``probe`` asks it for nproc."""
        parsed = parse_spec(spec)
        hosts = self.load()
        host = hosts.get(name or parsed.address) or Host(name=name or parsed.address,
                                                         address=parsed.address)
        host.address = parsed.address
        host.user = parsed.user or host.user
        host.workers = workers or parsed.workers or host.workers
        host.python = python or host.python
        host.validate()
        if probe:
            probe_host(host)
        hosts[host.name] = host
        self.save(hosts)
        return host

    def remove(self, name: str) -> bool:
        hosts = self.load()
        if hosts.pop(name, None) is None:
            return False
        self.save(hosts)
        return True

    def get(self, name: str) -> Optional[Host]:
        return self.load().get(name)

    def list(self) -> list[Host]:
        return list(self.load().values())

    def set_status(self, name: str, status: str, error: Optional[str] = None) -> None:
        """Record the result of a check (no-op for a host not registered)."""
        hosts = self.load()
        host = hosts.get(name)
        if host is None:
            return
        host.status, host.error, host.checked = status, error, _now()
        self.save(hosts)

    def probe(self, name: str) -> Host:
        """Check a registered host now: reachable? how many CPUs?"""
        hosts = self.load()
        if name not in hosts:
            raise KeyError(f"no host {name!r} in {self.path}; add it with "
                           "hosts.add(spec)")
        probe_host(hosts[name])
        self.save(hosts)
        return hosts[name]


def probe_host(host: Host, timeout: float = 20.0) -> Host:
    """Fill ``workers`` (from ``nproc``) and the status, over ssh."""
    from .ssh import Pipe, SSHError
    try:
        result = Pipe(host.ssh_host, timeout=timeout).run(["nproc"], check=True)
        if host.workers is None:
            host.workers = int(result.stdout.split()[0])
        host.status, host.error = "ok", None
    except (SSHError, OSError, ValueError, IndexError) as exc:
        host.status, host.error = "unreachable", str(exc)
    host.checked = _now()
    return host


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def lookup(spec: str) -> tuple[HostSpec, Optional[Host]]:
    """A spec and, if its address names a registered host, that entry."""
    parsed = parse_spec(spec)
    return parsed, REGISTRY.get(parsed.address)


#: The default registry (its path follows XDG_CONFIG_HOME at each call).
REGISTRY = HostRegistry()
add = REGISTRY.add
remove = REGISTRY.remove
get = REGISTRY.get
probe = REGISTRY.probe
set_status = REGISTRY.set_status


def list_hosts() -> list[Host]:
    """Every registered host."""
    return REGISTRY.list()


# ---------------------------------------------------------------- pathos.hosts
# pathos's profile registry (host -> shell profile file), in memory as in
# pathos.  Kept apart from the registry above: profiles are not sourced by
# anything here (commands run in the login shell ssh gives), they are kept
# for code that reads them back.

default_profile = ".bash_profile"
_profiles: dict[str, str] = {}


def get_profile(rhost: str, assume: bool = True) -> Optional[str]:
    """The $PROFILE registered for ``rhost`` (else the default, if ``assume``)."""
    if rhost in _profiles:
        return _profiles[rhost]
    return default_profile if assume else None


def get_profiles() -> dict[str, str]:
    """The $PROFILE of each registered host (the live dict, as pathos)."""
    return _profiles


def register_profiles(profiles: dict[str, str]) -> None:
    """Add ``{host: $PROFILE}`` to the registered profiles."""
    _profiles.update(profiles)


def register(rhost: str, profile: Optional[str] = None) -> None:
    """Register a host and its $PROFILE (default ``.bash_profile``)."""
    _profiles[rhost] = default_profile if profile is None else profile
