"""``pathos.connection``: a launcher for local commands (``Pipe``).

pathos's API, so code written for it runs after changing the import::

    pipe = Pipe()
    pipe(command="hostname")          # config (also pipe.config(...))
    pipe.launch()
    print(pipe.response())

Where it differs on purpose:

* no shell: a string command is split with :func:`shlex.split` and run
  directly (a list is run as is); write ``["sh", "-c", "a | b"]`` for a
  pipeline.  pathos runs every string through ``/bin/sh``.
* ``stdin`` defaults to nothing (``/dev/null``), not the kernel's stdin.
* a background command's ``response()`` waits at most 2 s (as pathos) and
  returns what it printed so far, or None; a foreground one waits at most
  ``timeout`` seconds (default 300) instead of forever.
* ``kill()`` escalates SIGTERM to SIGKILL and never blocks without bound;
  nothing is printed (``logging`` instead of ``verbose`` prints).
"""
from __future__ import annotations

import logging
import random
import shlex
import string
import subprocess
import threading
from typing import Any, Optional, Union

__all__ = ["Pipe", "PipeException"]

_log = logging.getLogger(__name__)

RESPONSE_WAIT = 2.0        # a background command's response() waits this long
FOREGROUND_TIMEOUT = 300.0
STOP_TIMEOUT = 5.0


class PipeException(Exception):
    """Exception for failure to launch a command."""


def _random_name() -> str:
    return "".join(random.choice(string.ascii_letters) for _ in range(16))


def decode(data: Optional[bytes], codec: Any) -> Union[str, bytes, None]:
    """Bytes as pathos returns them: text for a codec, bytes for False/None."""
    if data is None:
        return None
    if codec is True:
        codec = "ascii"
    if not codec:
        return data
    return data.decode(codec, errors="replace")


class Pipe:
    """A launcher for a local command (pathos.connection.Pipe).

    Args:
        name: a unique identifier (default: random letters).
        command: the command (a string split like a shell would, or an argv
            list)  [default: ``echo <name>``].
        background: run in the background  [default: False].
        decode: the codec of the response (False: bytes)  [default: 'ascii'].
        stdin: a file object for the command's standard input.
        timeout: seconds a foreground response may take  [default: 300].
    """

    verbose = False
    _names = ["message", "background", "stdin", "codec"]

    def __init__(self, name: Optional[str] = None, **kwds: Any) -> None:
        self.name = _random_name() if name is None else name
        self.background = kwds.pop("background", False)
        self.stdin = kwds.pop("stdin", None)
        self.codec = kwds.pop("decode", "ascii")
        self.timeout = kwds.pop("timeout", FOREGROUND_TIMEOUT)
        self.message = kwds.pop("command", f"echo {self.name}")
        self._response: Optional[bytes] = None
        self._buffer = bytearray()
        self._pid = 0
        self._proc: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None
        self._done = threading.Event()
        self._stdout: Any = None
        self.config(**kwds)

    def __repr__(self) -> str:
        return f"Pipe('{self.message}')"

    def config(self, **kwds: Any) -> dict:
        """(Re)configure: command, background, decode, stdin, timeout."""
        unknown = set(kwds) - {"command", "background", "decode", "stdin",
                               "timeout"} - set(self._extra_keys())
        if unknown:
            raise TypeError(f"unknown {type(self).__name__} option(s): "
                            f"{', '.join(sorted(unknown))}")
        for key, value in kwds.items():
            attr = {"command": "message", "decode": "codec"}.get(key, key)
            setattr(self, attr, value)
        if self.message is None:
            self.message = f"echo {self.name}"
        self._stdout = None                    # launch() is needed again
        return {n: getattr(self, n) for n in self._names}

    __call__ = config

    def _extra_keys(self) -> tuple[str, ...]:
        return ()

    def launch(self) -> None:
        """Launch the configured command."""
        self._response = None
        self._buffer = bytearray()
        self._done.clear()
        self._execute()

    def _argv(self) -> list[str]:
        if isinstance(self.message, (list, tuple)):
            return [str(a) for a in self.message]
        try:
            return shlex.split(self.message)
        except ValueError as exc:
            raise PipeException(f"cannot split the command {self.message!r}: "
                                f"{exc}") from exc

    def _execute(self) -> None:
        argv = self._argv()
        if not argv:
            raise PipeException("the command is empty: give command='...'.")
        try:
            proc = subprocess.Popen(
                argv, stdin=self.stdin if self.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if self.background else None)
        except OSError as exc:
            raise PipeException(f"failure to pipe: {self.message} ({exc})") from exc
        self._proc, self._stdout = proc, proc.stdout
        self._pid = proc.pid if self.background else 0
        self._reader = threading.Thread(target=self._read, args=(proc.stdout,),
                                        daemon=True, name=f"pipe-{proc.pid}")
        self._reader.start()

    def _read(self, stream: Any) -> None:
        try:
            for chunk in iter(lambda: stream.read1(65536), b""):
                self._buffer += chunk
        finally:
            stream.close()
            self._done.set()

    def response(self) -> Union[str, bytes, None]:
        """The command's output (None if a background one printed nothing yet)."""
        if self._stdout is None:
            raise PipeException("'launch' is required after any reconfiguration")
        if self._response is not None:
            return decode(self._response, self.codec)
        wait = RESPONSE_WAIT if self.background else self.timeout
        if not self._done.wait(wait) and not self.background:
            raise PipeException(f"{self.message!r} gave no complete response "
                                f"within {wait:.0f}s (timeout=...)")
        if self._done.is_set():
            self._finish()
            self._response = bytes(self._buffer)
            return decode(self._response, self.codec)
        return decode(bytes(self._buffer), self.codec) if self._buffer else None

    def _finish(self) -> None:
        if self._proc is not None:
            try:
                self._proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass

    def pid(self) -> int:
        """The process id of a background command (0 otherwise)."""
        return self._pid

    def kill(self) -> None:
        """Terminate the command (SIGTERM, then SIGKILL)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            _log.info("kill pid=%d", proc.pid)
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)
        self._pid = 0
