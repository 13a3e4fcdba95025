"""``pathos.secure.Pipe``: run a command on a host over ssh.

The command runs in the host's shell, as with ``ssh host "command"`` (a
string is the remote command line; a list is quoted for it).  It runs on a
new channel of the host's shared, verified ssh session: no ``ssh`` process.

Differences from pathos, on purpose: ``launcher`` must be ``ssh`` (any
other is an error) and ``options`` (ssh flags) are not used: say it in
``~/.ssh/config``; ``pid()`` of a background command is its process (group)
id on the host, which ``kill()`` signals there.
"""
from __future__ import annotations

import logging
import shlex
import threading
from typing import Any, Optional

import paramiko

from ..connection import STOP_TIMEOUT, Pipe as _Pipe, PipeException
from ..ssh import SSHError, get_session

__all__ = ["Pipe"]

_log = logging.getLogger(__name__)

PID_TIMEOUT = 30.0
_QUIET_OPTIONS = ("", "-q")


class Pipe(_Pipe):
    """A launcher for a command on an ssh host (pathos.secure.Pipe).

    Args:
        name: a unique identifier.
        host: ``host`` or ``user@host``  [default: 'localhost'].
        command: the remote command (string or argv list).
        launcher: must be 'ssh'.
        options: ssh flags; only '' and '-q' are accepted (see module doc).
        background, decode, stdin, timeout: as :class:`pathos_magics.connection.Pipe`.
    """

    _names = ["message", "host", "launcher", "options", "background", "stdin", "codec"]

    def __init__(self, name: Optional[str] = None, **kwds: Any) -> None:
        self.launcher = kwds.pop("launcher", "ssh")
        self.options = kwds.pop("options", "")
        self.host = kwds.pop("host", "localhost")
        self._chan: Optional[paramiko.Channel] = None
        self._hold_stdin = False
        super().__init__(name, **kwds)

    def __repr__(self) -> str:
        return f"Pipe('{self.launcher} {self.host} \"{self._line()}\"')"

    def _extra_keys(self) -> tuple[str, ...]:
        return ("host", "launcher", "options")

    def config(self, **kwds: Any) -> dict:
        """(Re)configure: host, command, launcher, options, background, ..."""
        out = super().config(**kwds)
        if self.launcher != "ssh":
            raise PipeException(f"launcher {self.launcher!r} is not supported: "
                                "commands run over ssh (paramiko) only.")
        if (self.options or "").strip() not in _QUIET_OPTIONS:
            _log.warning("ssh options %r are not used: put connection settings "
                         "in ~/.ssh/config", self.options)
        return out

    __call__ = config

    def _line(self) -> str:
        if isinstance(self.message, (list, tuple)):
            return shlex.join(str(a) for a in self.message)
        return str(self.message)

    def _execute(self) -> None:
        line = self._line()
        if self.background:
            # The login shell is the session leader (sshd made it one): it
            # says its pid, then becomes the command, so kill() can signal
            # the whole process group.
            line = f"echo $$; exec sh -c {shlex.quote(line)}"
        try:
            session = get_session(self.host)
            chan = session.transport.open_session(timeout=PID_TIMEOUT)
            chan.set_combine_stderr(bool(self.background))
            chan.exec_command(line)
        except (SSHError, paramiko.SSHException, OSError, EOFError) as exc:
            raise PipeException(f"failure to pipe {line!r} to {self.host}: {exc}") from exc
        self._chan = chan
        self._feed_stdin(chan)
        self._pid = self._read_pid(chan) if self.background else 0
        self._stdout = chan
        self._reader = threading.Thread(target=self._read_channel, args=(chan,),
                                        daemon=True, name=f"secure-pipe-{self.host}")
        self._reader.start()

    def _feed_stdin(self, chan: paramiko.Channel) -> None:
        data = b""
        if self.stdin is not None and hasattr(self.stdin, "read"):
            data = self.stdin.read()
            data = data.encode() if isinstance(data, str) else data
        elif isinstance(self.stdin, (bytes, str)):
            data = self.stdin.encode() if isinstance(self.stdin, str) else self.stdin
        if data:
            chan.sendall(data)
        if not self._hold_stdin:
            chan.shutdown_write()

    def _read_pid(self, chan: paramiko.Channel) -> int:
        chan.settimeout(PID_TIMEOUT)
        line = b""
        try:
            while not line.endswith(b"\n"):
                byte = chan.recv(1)
                if not byte:
                    break
                line += byte
        except OSError as exc:
            raise PipeException(f"{self.host} did not start {self.message!r}: {exc}") from exc
        finally:
            chan.settimeout(None)
        if not line.strip().isdigit():
            raise PipeException(f"{self.host} did not start {self.message!r}: the "
                                f"remote shell said {line[:80]!r}")
        return int(line)

    def _read_channel(self, chan: paramiko.Channel) -> None:
        try:
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                self._buffer += data
            chan.recv_exit_status()
        except OSError:
            pass
        finally:
            self._done.set()

    def _finish(self) -> None:
        pass

    def kill(self) -> None:
        """Stop a background command on the host (its process group), then
        close its channel."""
        if self._pid > 0:
            try:
                session = get_session(self.host)
                ch = session.exec(f"kill -TERM -- -{self._pid} 2>/dev/null || "
                                  f"kill -TERM {self._pid}")
                ch.recv_exit_status()
                ch.close()
            except SSHError as exc:
                _log.warning("could not kill %d on %s: %s", self._pid, self.host, exc)
        if self._chan is not None:
            self._chan.close()
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)
        self._pid = 0
