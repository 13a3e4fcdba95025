"""Which keys to offer a host, in OpenSSH's order (sshconnect2.c pubkey_prepare).

* ``IdentityFile`` lines (``none`` drops a line); with none at all, the
  default files ``~/.ssh/id_rsa``, ``id_ecdsa``, ``id_ecdsa_sk``,
  ``id_ed25519``, ``id_ed25519_sk``, ``id_xmss``, ``id_dsa``.
* the order: agent keys that are one of those files (the agent signs), then
  the agent's other keys, then the files the agent does not hold.
* ``IdentitiesOnly yes``: the agent's other keys are not offered.

A file whose private key is encrypted can only be used through the agent
(nothing here asks for a passphrase); it is skipped with a note in the log.
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
from typing import Iterator, Optional, Sequence

import paramiko
from paramiko.auth_strategy import AuthStrategy, InMemoryPrivateKey

_log = logging.getLogger(__name__)

DEFAULT_IDENTITIES = ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk",
                      "~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk",
                      "~/.ssh/id_xmss", "~/.ssh/id_dsa")


def identity_paths(files: Sequence[str], use_defaults: bool) -> list[str]:
    """The files to try: the configured ones, or the defaults if none."""
    if use_defaults:
        return [os.path.expanduser(p) for p in DEFAULT_IDENTITIES]
    return list(files)


def public_blob(path: str) -> Optional[bytes]:
    """The public key of an identity file: from ``path.pub``, else the key."""
    for pub in (path + ".pub", path):
        try:
            with open(pub, encoding="ascii", errors="replace") as f:
                fields = f.read(16384).split()
        except OSError:
            continue
        if len(fields) >= 2 and not fields[0].startswith("-----"):
            try:
                return base64.b64decode(fields[1], validate=True)
            except (binascii.Error, ValueError):
                continue
    key = _private(path)
    return key.asbytes() if key is not None else None


def _private(path: str) -> Optional[paramiko.PKey]:
    if not os.path.isfile(path):
        return None
    try:
        return paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException:
        _log.info("%s is encrypted: it is used only if the ssh agent holds it",
                  path)
    except (paramiko.SSHException, OSError, ValueError) as exc:
        _log.info("cannot load the key %s: %s", path, exc)
    return None


def agent_keys() -> tuple[Optional[paramiko.Agent], list[paramiko.PKey]]:
    """The agent (to close after use) and its keys; none without an agent."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return None, []
    try:
        agent = paramiko.Agent()
        return agent, list(agent.get_keys())
    except (paramiko.SSHException, OSError) as exc:
        _log.info("cannot use the ssh agent: %s", exc)
        return None, []


def keys_to_offer(paths: Sequence[str], identities_only: bool,
                  agent: Sequence[paramiko.PKey]) -> list[tuple[str, paramiko.PKey]]:
    """``(description, key)`` in the order ssh offers them."""
    wanted = {p: public_blob(p) for p in paths}
    preferred, others = [], []
    used: set[bytes] = set()
    for key in agent:
        blob = key.asbytes()
        owner = next((p for p, b in wanted.items() if b == blob), None)
        if owner is not None:
            preferred.append((f"{owner} (agent)", key))
            used.add(blob)
        elif not identities_only:
            others.append((f"agent key {key.get_name()} {key.fingerprint}", key))
    files = []
    for path in paths:
        if wanted[path] is not None and wanted[path] in used:
            continue
        key = _private(path)
        if key is not None:
            files.append((path, key))
    return preferred + others + files


class KeyStrategy(AuthStrategy):
    """Offer a fixed list of keys (a paramiko auth strategy)."""

    def __init__(self, username: str, keys: Sequence[tuple[str, paramiko.PKey]]) -> None:
        super().__init__(ssh_config=None)
        self.username = username
        self.keys = list(keys)

    def get_sources(self) -> Iterator[InMemoryPrivateKey]:
        for _, key in self.keys:
            yield InMemoryPrivateKey(self.username, key)

    def describe(self) -> str:
        """The keys offered, for an error message."""
        return ", ".join(d for d, _ in self.keys) or "no key at all"
