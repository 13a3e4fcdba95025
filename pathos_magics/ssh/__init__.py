"""The ssh toolkit, usable on its own (it knows nothing about pools).

    from pathos_magics.ssh import Pipe, Copier, Tunnel, portpicker
    Pipe("user@node1").run(["nproc"]).stdout
    Copier("node1").put("data/", "/tmp/data/")
    with Tunnel("node1", remote_port=8888) as t:
        print(t.local_port)
    portpicker("node1")

All of them share one verified paramiko connection per host
(:func:`get_session`), set up from ``~/.ssh/config`` and the ssh agent.
"""
from .copier import Copier
from .pipe import CommandError, Pipe, Result, Stream
from .portpicker import portpicker
from .session import (ConfigError, HostKeyError, Session, SSHError, Target,
                      close_all, get_session, resolve, sessions)
from .tunnel import (Tunnel, close_all_tunnels, close_tunnel, open_tunnel,
                     parse_tunnel_spec, tunnels)

__all__ = ["Pipe", "Result", "Stream", "CommandError", "Copier", "Tunnel",
           "open_tunnel", "close_tunnel", "close_all_tunnels", "tunnels",
           "parse_tunnel_spec",
           "portpicker", "get_session", "resolve", "sessions", "close_all",
           "Session", "Target", "SSHError", "HostKeyError", "ConfigError"]
