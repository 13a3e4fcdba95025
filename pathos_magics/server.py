"""``python -m pathos_magics.server`` (the ssh transport's host-side entry) and
``pathos.server.Server``.

The server itself lives with the rest of the ssh transport
(:mod:`pathos_magics.transports.ssh.server`; its standalone mode, the
``pathos_server`` script, in ``.standalone``).  This module stays thin: the
host imports it, so :class:`Server` loads its parts only when used.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional, Union

from .transports.ssh.server import main

__all__ = ["Server", "main"]


class Server:
    """A worker server driven by a :class:`pathos_magics.selector.Selector`
    (pathos.server.Server's API: ``activate``, ``serve``, ``deactivate``,
    ``selector``).

    ``activate`` binds 127.0.0.1:``port`` (0: a free one, then in
    :attr:`port`); ``serve(timeout)`` accepts connections and forks one
    authenticated worker for each until ``deactivate()``.  Clients join with
    ``ParallelPool(servers=("localhost:PORT",))`` through a tunnel, with the
    same secret.

    Args (keyword-only; pathos's ``Server()`` takes none):
        port: the port on 127.0.0.1.
        workers: workers offered to a client (0: one per CPU).
        secret: the key (bytes, or hex text); default: the per-user secret
            file, made (mode 0600) if missing.
        secret_file: that file (default ``~/.config/pathos_magics/server.key``).
    """

    def __init__(self, *, port: int = 0, workers: int = 0,
                 secret: Union[bytes, str, None] = None,
                 secret_file: Optional[str] = None) -> None:
        self._selector: Any = None
        self._want = (int(port), int(workers), secret, secret_file)
        self._server: Any = None

    @property
    def port(self) -> Optional[int]:
        """Where it listens on 127.0.0.1 (None until activated)."""
        return self._server.sock.getsockname()[1] if self._server else None

    def selector(self) -> Any:
        """get the selector"""
        return self._selector

    def deactivate(self) -> None:
        """turn off the selector"""
        self._selector.state = False

    def activate(self, onTimeout: Optional[Callable] = None,  # noqa: N803 (pathos's name)
                 selector: Any = None) -> None:
        """Bind the port (once), configure the selector and install the
        timeout callback."""
        if selector is None:
            from .selector import Selector
            selector = Selector()
        if onTimeout is not None:
            selector.notifyWhenIdle(onTimeout)
        if self._server is None:
            self._server = self._bind()
        selector.notifyOnReadReady(self._server.sock, self._on_connection)
        selector.notifyWhenIdle(self._on_idle)
        self._selector = selector

    def _bind(self) -> Any:
        from .transports.ssh.secret import parse_secret
        from .transports.ssh.standalone import make_server
        port, workers, secret, secret_file = self._want
        key = parse_secret(secret) if secret is not None else None
        return make_server(port, workers, key, secret_file)

    def _on_connection(self, selector: Any, fd: Any) -> bool:
        return self._server.accept_one()

    def _on_idle(self, selector: Any) -> bool:
        self._server.reap()
        return True

    def serve(self, timeout: Optional[float]) -> None:
        """begin serving, and set the timeout"""
        self._selector.watch(timeout)

    def close(self) -> None:
        """Stop listening and end every worker it started."""
        if self._server is not None:
            self._server.sock.close()
            self._server.stop()
            self._server = None

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
