"""``ProxyCommand``: the connection runs over a command's stdin/stdout.

As ssh does (sshconnect.c ssh_proxy_connect): the command, with its tokens
expanded, runs as ``$SHELL -c "exec COMMAND"`` (``/bin/sh`` without
``$SHELL``).  Its stdin and stdout are one end of a socket pair, so paramiko
gets a real socket (timeouts work as on TCP); its stderr is kept (the last
lines) to say why it failed.  The process belongs to the session that
started it and is stopped by pid when the session closes.
"""
from __future__ import annotations

import collections
import logging
import os
import socket
import subprocess
import threading
from typing import Optional

from ._errors import SSHError

_log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
EXIT_WAIT = 1.0          # how long to wait for a failed command's exit status


class ProxyProcess:
    """A running ProxyCommand and our end of its socket pair."""

    def __init__(self, command: str, alias: str) -> None:
        self.command = command
        self.alias = alias
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        ours, theirs = socket.socketpair()
        shell = os.environ.get("SHELL") or "/bin/sh"
        try:
            self.proc = subprocess.Popen(
                [shell, "-c", f"exec {command}"], stdin=theirs, stdout=theirs,
                stderr=subprocess.PIPE, close_fds=True)
        except OSError as exc:
            ours.close()
            raise SSHError(f"could not start the ProxyCommand of {alias} "
                           f"({command!r}): {exc}") from exc
        finally:
            theirs.close()
        self.sock = ours
        self._reader = threading.Thread(target=self._read_stderr, daemon=True,
                                        name=f"proxycommand-{self.proc.pid}")
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr.append(line)
            _log.debug("ProxyCommand %s: %s", self.alias, line)

    def failure(self) -> Optional[str]:
        """Why the command failed (it exited, or said so), else None."""
        try:
            code = self.proc.wait(EXIT_WAIT)
        except subprocess.TimeoutExpired:
            code = None
        self._reader.join(EXIT_WAIT)
        if code is None and not self._stderr:
            return None
        said = " / ".join(self._stderr) or "no message"
        status = "is still running" if code is None else f"exited with status {code}"
        return f"the ProxyCommand {self.command!r} {status}: {said}"

    def stop(self) -> None:
        """Close our end and stop the command (SIGTERM, then SIGKILL)."""
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self._reader.join(STOP_TIMEOUT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
