"""``pathos.secure.Copier``: copy files to or from a host (``scp -r`` in pathos).

``source`` and ``destination`` are ``path`` or ``[user@]host:path``; one may
be remote.  The copy goes over SFTP on the host's shared ssh session
(:class:`pathos_magics.ssh.Copier`); two local paths are copied here
(``cp -r``).  ``launch()`` copies (the copy is done when it returns, also
with ``background=True``); ``response()`` is ``''`` as for a quiet scp.
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Optional

from .. import ssh
from ..connection import Pipe as _Pipe, PipeException

__all__ = ["Copier", "FileNotFound"]


class FileNotFound(Exception):
    """Exception for improper source or destination format."""


def split_remote(spec: str) -> tuple[Optional[str], str]:
    """``"user@node1:/tmp/x"`` -> ``("user@node1", "/tmp/x")``; a local path -> ``(None, path)``."""
    head, sep, tail = spec.partition(":")
    if sep and head and "/" not in head:
        return head, tail or "."
    return None, spec


class Copier(_Pipe):
    """A launcher that copies files (pathos.secure.Copier).

    Args:
        name: a unique identifier.
        source: ``path`` or ``[user@]host:path``  [default: '.'].
        destination: ``path`` or ``[user@]host:path``  [default: '.'].
        launcher: 'scp' or 'cp' (both copy as described above).
        options: accepted for compatibility ('-r', '-q' ...); copies are recursive.
        background, decode, stdin: as :class:`pathos_magics.connection.Pipe`.
    """

    _names = ["source", "destination", "launcher", "options", "background",
              "stdin", "codec"]

    def __init__(self, name: Optional[str] = None, **kwds: Any) -> None:
        self.launcher = kwds.pop("launcher", "scp")
        self.options = kwds.pop("options", "")
        self.source = kwds.pop("source", ".")
        self.destination = kwds.pop("destination", ".")
        super().__init__(name, **kwds)

    def _extra_keys(self) -> tuple[str, ...]:
        return ("source", "destination", "launcher", "options")

    def config(self, **kwds: Any) -> dict:
        """(Re)configure: source, destination, launcher, options, ..."""
        if "command" in kwds:
            raise KeyError("command")
        out = super().config(**kwds)
        self.message = f"{self.launcher} {self.options} {self.source} {self.destination}"
        return out

    __call__ = config

    def _execute(self) -> None:
        src_host, src = split_remote(str(self.source))
        dst_host, dst = split_remote(str(self.destination))
        try:
            if src_host and dst_host:
                raise FileNotFound(f"{self.source} -> {self.destination}: copy "
                                   "between two hosts in two steps (get, then put).")
            if dst_host:
                ssh.Copier(dst_host).put(src, dst)
            elif src_host:
                ssh.Copier(src_host).get(src, dst)
            else:
                _local_copy(src, dst)
        except (OSError, ssh.SSHError) as exc:
            raise PipeException(f"failure to copy {self.source} to "
                                f"{self.destination}: {exc}") from exc
        self._stdout = True
        self._pid = 0
        self._done.set()

    def kill(self) -> None:
        """Nothing runs after launch() returns."""
        self._pid = 0


def _local_copy(src: str, dst: str) -> None:
    if os.path.isdir(dst):
        dst = os.path.join(dst, os.path.basename(os.path.normpath(src)))
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst)
