"""``pathos.secure.Tunnel``: a local port forwarded to a port on a host.

``connect(host, port)`` forwards a free local port (on 127.0.0.1 only) to
``port`` on ``host``'s loopback, where servers bind; ``connect(host, port,
through=gateway)`` reaches ``host:port`` as ``gateway`` sees it.  It is the
ssh toolkit's :class:`pathos_magics.ssh.Tunnel` (a thread here, no ``ssh
-L`` process).  pathos forwards to ``host:port`` as the host resolves its
own name, which misses a server bound to 127.0.0.1.
"""
from __future__ import annotations

import logging
import random
import string
from typing import Any, Optional

from .. import ssh

__all__ = ["Tunnel", "TunnelException"]

_log = logging.getLogger(__name__)


class TunnelException(Exception):
    """Exception for failure to establish ssh tunnel."""


class Tunnel:
    """An ssh-tunnel launcher (pathos.secure.Tunnel).

    Args:
        name: a unique identifier.
        **kwds: if given, passed to :meth:`connect` right away.
    """

    MINPORT = 1024
    MAXPORT = 65535
    verbose = False

    def __init__(self, name: Optional[str] = None, **kwds: Any) -> None:
        self.name = name or "".join(random.choice(string.ascii_letters)
                                    for _ in range(16))
        self._tunnel: Optional[ssh.Tunnel] = None
        self._reset()
        if kwds:
            self.connect(**kwds)

    def _reset(self) -> None:
        self._pid = 0
        self.connected = False
        self._lport: Optional[int] = None
        self._rport: Optional[int] = None
        self._host: Optional[str] = None

    def __repr__(self) -> str:
        if not self.connected:
            return f"Tunnel('{self.name}')"
        return f"Tunnel('-L {self._lport}:{self._target}:{self._rport} {self._host}')"

    def connect(self, host: str, port: Optional[int] = None,
                through: Optional[str] = None) -> int:
        """Open the tunnel; return the local port.

        Args:
            host: the host to reach (``[user@]host``).
            port: the port on it  [default: a free port picked there].
            through: a gateway host to tunnel through  [default: None].

        Raises:
            TunnelException: the host cannot be reached or the port is bad.
        """
        if self.connected:
            self.disconnect()
        gateway = through or host
        try:
            if port is None:
                port = ssh.portpicker(gateway)
            remote = "127.0.0.1" if through is None else ssh.session.split_user(host)[1]
            tunnel = ssh.Tunnel(gateway, remote_port=int(port), remote_host=remote)
            tunnel.open()
        except (ssh.SSHError, ValueError) as exc:
            raise TunnelException(f"Connection failed: {exc}") from exc
        self._tunnel = tunnel
        self._lport, self._rport, self._host = tunnel.local_port, int(port), gateway
        self._target = remote
        self.connected = True
        _log.info("tunnel 127.0.0.1:%d -> %s:%s:%d", tunnel.local_port, gateway,
                  remote, int(port))
        return tunnel.local_port

    def disconnect(self) -> None:
        """Close the tunnel."""
        if self._tunnel is not None:
            self._tunnel.close()
            self._tunnel = None
        self._reset()
