"""Copy files and folders to and from a host over SFTP.

    Copier("node1").put("data/", "/tmp/data/")
    Copier("node1").get("/tmp/out.csv", "out.csv")

Remote paths that are relative start in the remote user's home folder.
A folder is copied recursively; ``exclude`` skips names (e.g. __pycache__).
"""
from __future__ import annotations

import os
import posixpath
import stat
from typing import Callable, Iterable, Optional

import paramiko

from .session import SSHError, Session, get_session

Exclude = Optional[Callable[[str], bool]]


class Copier:
    """Files to and from one host, over its shared ssh session.

    Args:
        host: ``host`` or ``user@host``.
        **session_options: passed to :func:`get_session`.
    """

    def __init__(self, host: str, **session_options) -> None:
        self.host = host
        self._options = session_options

    @property
    def session(self) -> Session:
        return get_session(self.host, **self._options)

    def put(self, local: str, remote: str, *, exclude: Exclude = None) -> list[str]:
        """Copy a local file or folder to ``remote``; returns remote paths written.

        A trailing ``/`` on ``remote`` (or an existing remote folder) puts a
        file inside it, as ``cp`` does.
        """
        if not os.path.exists(local):
            raise FileNotFoundError(f"no such local file or folder: {local!r}")
        with self.session.sftp() as sftp:
            try:
                if os.path.isdir(local):
                    return _put_tree(sftp, local, remote.rstrip("/") or "/", exclude)
                target = _remote_file_target(sftp, local, remote)
                makedirs(sftp, posixpath.dirname(target))
                sftp.put(local, target)
                return [target]
            except OSError as exc:
                raise SSHError(f"copying {local!r} to {self.host}:{remote} failed: "
                               f"{exc}") from exc

    def get(self, remote: str, local: str, *, exclude: Exclude = None) -> list[str]:
        """Copy a remote file or folder to ``local``; returns local paths written."""
        with self.session.sftp() as sftp:
            try:
                mode = sftp.stat(remote).st_mode
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"no such file or folder on {self.host}: {remote!r}") from None
            if stat.S_ISDIR(mode or 0):
                return _get_tree(sftp, remote, local, exclude)
            if local.endswith(os.sep) or os.path.isdir(local):
                local = os.path.join(local, posixpath.basename(remote))
            os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
            sftp.get(remote, local)
            return [local]

    def __repr__(self) -> str:
        return f"Copier({self.host!r})"


def _remote_file_target(sftp: paramiko.SFTPClient, local: str, remote: str) -> str:
    if remote.endswith("/") or _is_remote_dir(sftp, remote):
        return posixpath.join(remote, os.path.basename(local))
    return remote


def _is_remote_dir(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except OSError:
        return False


def makedirs(sftp: paramiko.SFTPClient, path: str, mode: int = 0o755) -> None:
    """``mkdir -p`` over SFTP."""
    if path in ("", "/", ".") or _is_remote_dir(sftp, path):
        return
    makedirs(sftp, posixpath.dirname(path), mode)
    try:
        sftp.mkdir(path, mode)
    except OSError:
        if not _is_remote_dir(sftp, path):      # lost a race: fine if it exists
            raise


def _walk(local: str, exclude: Exclude) -> Iterable[tuple[str, str]]:
    """(absolute path, relative posix path) of every file under ``local``."""
    for root, dirs, files in os.walk(local):
        dirs[:] = sorted(d for d in dirs if not (exclude and exclude(d)))
        for name in sorted(files):
            if exclude and exclude(name):
                continue
            path = os.path.join(root, name)
            yield path, os.path.relpath(path, local).replace(os.sep, "/")


def _put_tree(sftp: paramiko.SFTPClient, local: str, remote: str,
              exclude: Exclude) -> list[str]:
    written = []
    makedirs(sftp, remote)
    made = {remote}
    for path, rel in _walk(local, exclude):
        target = posixpath.join(remote, rel)
        parent = posixpath.dirname(target)
        if parent not in made:
            makedirs(sftp, parent)
            made.add(parent)
        sftp.put(path, target)
        written.append(target)
    return written


def _get_tree(sftp: paramiko.SFTPClient, remote: str, local: str,
              exclude: Exclude) -> list[str]:
    written = []
    os.makedirs(local, exist_ok=True)
    for entry in sftp.listdir_attr(remote):
        if exclude and exclude(entry.filename):
            continue
        src = posixpath.join(remote, entry.filename)
        dst = os.path.join(local, entry.filename)
        if stat.S_ISDIR(entry.st_mode or 0):
            written += _get_tree(sftp, src, dst, exclude)
        else:
            sftp.get(src, dst)
            written.append(dst)
    return written
