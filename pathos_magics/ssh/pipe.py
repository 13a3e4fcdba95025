"""Run a command on a host: ``Pipe("node1").run(["nproc"])``.

A command given as a list is quoted for the remote shell (``shlex.join``), so
no argument is ever re-split; a string is passed as a shell command line, as
the user wrote it.
"""
from __future__ import annotations

import select
import shlex
import time
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, Union

import paramiko

from .session import SSHError, Session, get_session

Command = Union[str, Sequence[str]]

_READ_SLICE = 0.1       # how often a blocked read checks its deadline
_EXIT_GRACE = 10.0      # exit status after EOF, when there is no deadline


class CommandError(SSHError):
    """A remote command exited with a non-zero status (``check=True``)."""

    def __init__(self, message: str, result: Optional["Result"] = None) -> None:
        super().__init__(message)
        self.result = result

    def __reduce__(self):
        return (type(self), (self.args[0], self.result))


@dataclass(frozen=True)
class Result:
    """What a remote command left: its output and exit status."""

    command: str
    stdout: str
    stderr: str
    exit_status: int
    host: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self) -> "Result":
        """Return self, or raise :class:`CommandError` if the command failed."""
        if not self.ok:
            tail = self.stderr.strip().splitlines()[-3:]
            raise CommandError(
                f"`{self.command}` on {self.host} exited with status "
                f"{self.exit_status}: {' | '.join(tail) or '(no stderr)'}", self)
        return self


def command_line(command: Command) -> str:
    """The shell command line for ``command`` (argv lists are quoted)."""
    if isinstance(command, str):
        return command
    return shlex.join(str(a) for a in command)


class Pipe:
    """Commands on one host, over its shared ssh session.

    Args:
        host: ``host`` or ``user@host`` (ssh config aliases work).
        timeout: default seconds a command may take.
        **session_options: passed to :func:`get_session` (user, port,
            accept_new_host_key).

    Example:
        >>> Pipe("node1").run(["nproc"]).stdout          # doctest: +SKIP
        '8\\n'
    """

    def __init__(self, host: str, *, timeout: float = 60.0, **session_options) -> None:
        self.host = host
        self.timeout = timeout
        self._options = session_options

    @property
    def session(self) -> Session:
        return get_session(self.host, **self._options)

    def run(self, command: Command, *, input: Optional[Union[str, bytes]] = None,
            timeout: Optional[float] = None, check: bool = False) -> Result:
        """Run ``command`` and wait for it (at most ``timeout`` seconds).

        Raises:
            CommandError: ``check=True`` and the exit status is not 0.
            TimeoutError: the command did not finish in time (it is closed).
        """
        line = command_line(command)
        chan = self.session.exec(line)
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            if input is not None:
                chan.sendall(input.encode() if isinstance(input, str) else input)
            chan.shutdown_write()
            out, err = _drain(chan, deadline, line, self.host)
            status = _exit_status(chan, deadline, line, self.host)
        finally:
            chan.close()
        result = Result(line, out.decode(errors="replace"),
                        err.decode(errors="replace"), status, self.host)
        return result.check() if check else result

    def stream(self, command: Command, *, timeout: Optional[float] = None
               ) -> "Stream":
        """Start ``command``; iterate the result for ``(stream, line)`` pairs."""
        line = command_line(command)
        chan = self.session.exec(line)
        chan.shutdown_write()
        return Stream(chan, line, self.host, timeout or self.timeout)

    def __repr__(self) -> str:
        return f"Pipe({self.host!r})"


def _drain(chan: paramiko.Channel, deadline: float, line: str, host: str
           ) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    for name, data in _chunks(chan, deadline, line, host):
        (out if name == "stdout" else err).extend(data)
    return bytes(out), bytes(err)


def _chunks(chan: paramiko.Channel, deadline: Optional[float], line: str, host: str
            ) -> Iterator[tuple[str, bytes]]:
    """Output as it arrives, from both streams, until both reach EOF.

    Both streams are read as data comes (select on the channel), so a
    command writing much to stderr cannot stall on a full window.
    """
    out_open = err_open = True
    while out_open or err_open:
        if (chan.recv_ready() or chan.recv_stderr_ready() or chan.eof_received
                or chan.closed):
            pass        # (at EOF the channel's pipe stays readable: no select)
        elif deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"`{line}` on {host} did not finish in time; "
                               "it was stopped. Pass a longer timeout=.")
        else:
            select.select([chan], [], [], _READ_SLICE)
            continue
        if out_open and (chan.recv_ready() or chan.eof_received or chan.closed):
            data = chan.recv(65536) if chan.recv_ready() else b""
            if data:
                yield "stdout", data
            elif chan.eof_received or chan.closed:
                out_open = False
        if err_open and (chan.recv_stderr_ready() or chan.eof_received or chan.closed):
            data = chan.recv_stderr(65536) if chan.recv_stderr_ready() else b""
            if data:
                yield "stderr", data
            elif chan.eof_received or chan.closed:
                err_open = False


def _exit_status(chan: paramiko.Channel, deadline: Optional[float], line: str,
                 host: str) -> int:
    # After its output ends a command exits at once; without a deadline,
    # wait a little for the status rather than forever.
    left = _EXIT_GRACE if deadline is None else max(0.0, deadline - time.monotonic())
    if not chan.status_event.wait(left):
        raise TimeoutError(f"`{line}` on {host} closed its output but did not "
                           "exit in time; it was stopped.")
    return chan.recv_exit_status()


class Stream:
    """A running command; iterate for ``("stdout"|"stderr", line)`` pairs.

    ``exit_status`` is set once the iteration ends.  Lines keep no newline.

    Args:
        chan: the command's channel (from :meth:`Session.exec`).
        timeout: seconds the whole output may take; None for a long-running
            command that is followed until it ends (or its channel closes).
    """

    def __init__(self, chan: paramiko.Channel, command: str, host: str,
                 timeout: Optional[float]) -> None:
        self.command, self.host = command, host
        self.exit_status: Optional[int] = None
        self._chan = chan
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def __iter__(self) -> Iterator[tuple[str, str]]:
        bufs = {"stdout": b"", "stderr": b""}
        try:
            for name, data in _chunks(self._chan, self._deadline, self.command,
                                      self.host):
                *lines, bufs[name] = (bufs[name] + data).split(b"\n")
                for ln in lines:
                    yield name, ln.decode(errors="replace")
            for name, rest in bufs.items():
                if rest:
                    yield name, rest.decode(errors="replace")
            self.exit_status = _exit_status(self._chan, self._deadline,
                                            self.command, self.host)
        finally:
            self._chan.close()

    def close(self) -> None:
        """Stop waiting for the command (closing its channel)."""
        self._chan.close()
