"""The secret a standalone server and its clients share: a per-user file.

A server started by ``pathos_server`` (or ``core.serve``) authenticates every
connection with the same HMAC challenge as the ssh transport's servers, with
a key both ends know.  By default that key lives in a file only its owner
can read, ``$XDG_CONFIG_HOME/pathos_magics/server.key`` (``~/.config/...``;
``PATHOS_MAGICS_SECRET_FILE`` names another), one line of hex.  The server
creates it (mode 0600) when it is missing; a file owned by someone else, a
symlink, or one that others may read or write is refused.  A secret never
goes on a command line (every user of a host can read those): it comes
from this file, from stdin, or from the caller's own memory.

Imports only the standard library: the host's server uses it.
"""
from __future__ import annotations

import hashlib
import os
import stat
from typing import Optional, Union

ENV_SECRET_FILE = "PATHOS_MAGICS_SECRET_FILE"
MIN_BYTES = 16


class SecretError(ValueError):
    """A secret (or its file) that cannot be used; the message says why."""


class Secret(bytes):
    """A key as bytes whose repr never shows it (pools put options in reprs
    and cache keys): ``<secret sha256:1a2b3c4d>``."""

    def __repr__(self) -> str:
        return f"<secret sha256:{hashlib.sha256(self).hexdigest()[:8]}>"

    __str__ = __repr__


def default_secret_file() -> str:
    """``PATHOS_MAGICS_SECRET_FILE``, else ``$XDG_CONFIG_HOME/pathos_magics/server.key``."""
    named = os.environ.get(ENV_SECRET_FILE)
    if named:
        return os.path.expanduser(named)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, "pathos_magics", "server.key")


def parse_secret(value: Union[bytes, str]) -> Secret:
    """A secret as the user gives it: ``bytes`` are the key itself, a ``str``
    is its hex form (as in the file and on stdin).

    Raises:
        SecretError: too short, or a string that is not hex.
    """
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.strip())
        except ValueError:
            raise SecretError("a secret given as a string is hex (as in the secret "
                              "file); pass bytes for a raw key") from None
    if not isinstance(value, (bytes, bytearray)):
        raise SecretError(f"a secret is bytes or a hex string, not {type(value).__name__}")
    if len(value) < MIN_BYTES:
        raise SecretError(f"a secret has at least {MIN_BYTES} bytes "
                          f"({2 * MIN_BYTES} hex digits); this one has {len(value)}")
    return Secret(value)


def read_secret_file(path: Optional[str] = None) -> Secret:
    """The key in ``path`` (default: :func:`default_secret_file`).

    Raises:
        SecretError: missing, not a regular file of this user, readable or
            writable by others, or not one line of hex.
    """
    path = path or default_secret_file()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise SecretError(f"no secret file at {path}: start a server with "
                          "pathos_server (it creates one), or pass secret=") from None
    except OSError as exc:
        raise SecretError(f"cannot open the secret file {path}: {exc.strerror} "
                          "(a symlink is refused)") from None
    with os.fdopen(fd, "rb") as f:
        _check_private(path, os.fstat(f.fileno()))
        text = f.read(4096)
    try:
        return parse_secret(text.decode("ascii"))
    except (UnicodeDecodeError, SecretError) as exc:
        raise SecretError(f"the secret file {path} must hold one line of hex "
                          f"(at least {2 * MIN_BYTES} digits): {exc}") from None


def _check_private(path: str, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise SecretError(f"the secret file {path} is not a regular file")
    if st.st_uid != os.getuid():
        raise SecretError(f"the secret file {path} belongs to uid {st.st_uid}, not "
                          f"to you (uid {os.getuid()}); refusing it")
    if st.st_mode & 0o077:
        raise SecretError(f"the secret file {path} is open to others (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}); run chmod 600 {path}")


def ensure_secret_file(path: Optional[str] = None) -> Secret:
    """The key in ``path``, made first (random, mode 0600) if missing.

    Raises:
        SecretError: as :func:`read_secret_file` for an existing file.
    """
    path = path or default_secret_file()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return read_secret_file(path)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    return read_secret_file(path)
