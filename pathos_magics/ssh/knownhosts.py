"""known_hosts files, checked as OpenSSH checks them (hostfile.c).

paramiko's ``HostKeys`` skips what it cannot parse, among them ``@revoked``
lines and host patterns (``*.example.org``, ``!bad``): a revoked key would
then be accepted.  Here every line is read:

* names: comma lists of ``*``/``?`` patterns with ``!`` negation, hashed
  names (``|1|salt|hmac``), ``[host]:port`` for a port other than 22;
* ``@revoked`` keys are refused whatever else the files say;
* ``@cert-authority`` lines are skipped (host certificates are not
  supported, so such a host is "unknown": refused unless accepted);
* a key of the same type as a known one but different is CHANGED.

The name looked up is ``HostKeyAlias`` when set (without the port, as ssh),
else ``host`` or ``[host]:port``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import struct
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from ._errors import HostKeyError
from .config import match_pattern_list

_log = logging.getLogger(__name__)

OK, NEW, CHANGED, REVOKED = "ok", "new", "changed", "revoked"


@dataclass(frozen=True)
class Entry:
    """One known_hosts line."""

    path: str
    line: int
    marker: Optional[str]          # None, "@revoked" or "@cert-authority"
    names: str
    key_type: str                  # the type inside the key blob
    blob: bytes

    def matches(self, name: str) -> bool:
        """Does this line name ``name`` (hashed or by pattern list)?"""
        if self.names.startswith("|1|"):
            return _hashed_matches(self.names, name)
        return match_pattern_list(name, self.names, lower=True)


def lookup_name(hostname: str, port: int, alias: Optional[str] = None) -> str:
    """The name known_hosts uses for a host."""
    if alias:
        return alias
    return hostname if port == 22 else f"[{hostname}]:{port}"


def blob_type(blob: bytes) -> str:
    """The key type written at the start of a public key blob."""
    if len(blob) < 4:
        return ""
    (n,) = struct.unpack(">I", blob[:4])
    return blob[4:4 + n].decode("ascii", "replace")


def read_entries(paths: Iterable[str]) -> list[Entry]:
    """Every line of the files that exist (a missing file is empty)."""
    entries: list[Entry] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            continue
        except OSError as exc:
            _log.warning("cannot read known hosts file %s: %s", path, exc)
            continue
        for number, text in enumerate(lines, 1):
            entry = _parse(path, number, text)
            if entry is not None:
                entries.append(entry)
    return entries


def _parse(path: str, number: int, text: str) -> Optional[Entry]:
    fields = text.split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = None
    if fields[0].startswith("@"):
        marker, fields = fields[0].lower(), fields[1:]
    if len(fields) < 3:
        _log.debug("%s:%d: not a known_hosts line", path, number)
        return None
    try:
        blob = base64.b64decode(fields[2], validate=True)
    except (binascii.Error, ValueError):
        _log.debug("%s:%d: bad base64 key", path, number)
        return None
    return Entry(path, number, marker, fields[0], blob_type(blob), blob)


def _hashed_matches(field: str, name: str) -> bool:
    try:
        _, _, salt, digest = field.split("|", 3)
        mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1)
        return hmac.compare_digest(mac.digest(), base64.b64decode(digest))
    except (ValueError, binascii.Error):
        return False


def check(entries: Sequence[Entry], name: str, blob: bytes) -> tuple[str, Optional[Entry]]:
    """``(status, entry)``: OK, NEW, CHANGED (entry: the known key) or REVOKED."""
    kind = blob_type(blob)
    mine = [e for e in entries if e.matches(name)]
    for e in mine:
        if e.marker == "@revoked" and e.blob == blob:
            return REVOKED, e
    plain = [e for e in mine if e.marker is None]
    for e in plain:
        if e.blob == blob:
            return OK, e
    for e in plain:
        if e.key_type == kind:
            return CHANGED, e
    return NEW, None


def known_types(entries: Sequence[Entry], name: str) -> list[str]:
    """Key types already known for ``name`` (to ask the server for those)."""
    seen: list[str] = []
    for e in entries:
        if e.marker is None and e.key_type not in seen and e.matches(name):
            seen.append(e.key_type)
    return seen


def revoked_in_file(path: str, blob: bytes) -> bool:
    """Is the key listed in a RevokedHostKeys file (public keys, one a line)?"""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    if data.startswith(b"SSHKRL"):
        raise HostKeyError(f"RevokedHostKeys {path} is a binary KRL, which is "
                           "not supported: list the revoked public keys as text "
                           "(one `type base64` per line).")
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split()
        for field in fields[:3]:
            try:
                if base64.b64decode(field, validate=True) == blob:
                    return True
            except (binascii.Error, ValueError):
                continue
    return False


def add(path: str, name: str, key_type: str, blob: bytes, hashed: bool) -> None:
    """Append a key (the file may hold lines a rewrite would drop)."""
    if hashed:
        salt = os.urandom(20)
        mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
        name = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    with open(path, "a", encoding="ascii") as f:
        f.write(f"{name} {key_type} {base64.b64encode(blob).decode()}\n")
