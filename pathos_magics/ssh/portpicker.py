"""A free TCP port, here or on a host.

The kernel asks the operating system (bind to port 0) rather than guessing
from a range, so the answer is free at the moment it is given.  Whoever
binds it next should do so soon; a server that can bind port 0 itself (as
``pathos_magics.server`` does) avoids even that window.
"""
from __future__ import annotations

import shlex
import socket
from typing import Optional

_SNIPPET = ("import socket;s=socket.socket();s.bind(('127.0.0.1',0));"
            "print(s.getsockname()[1])")


def portpicker(host: Optional[str] = None, *, python: str = "python3",
               **session_options) -> int:
    """A free port on 127.0.0.1 locally, or on ``host``'s loopback.

    Args:
        host: ``None`` for this machine, else ``host``/``user@host``.
        python: the Python command on the host (asked to pick the port).
    """
    if host is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    from .pipe import Pipe
    argv = shlex.split(python) + ["-c", _SNIPPET]
    out = Pipe(host, **session_options).run(argv, timeout=30, check=True).stdout
    try:
        return int(out.strip())
    except ValueError:
        from .session import SSHError
        raise SSHError(f"could not pick a port on {host}: its {python} printed "
                       f"{out.strip()[:80]!r}. Check the python command.") from None
