"""Console scripts pathos users know: ``portpicker`` and ``pathos_tunnel``.

    portpicker [HOST]                     print a free port (here, or on HOST)
    pathos_tunnel HOST [PORT] [--through GATEWAY]
                                          forward a local port to PORT on HOST
                                          until Enter, Ctrl-C or SIGTERM

Both use the ssh toolkit (``~/.ssh/config``, the agent, known_hosts).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Optional

from . import ssh


def portpicker_main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``portpicker``."""
    p = argparse.ArgumentParser(prog="portpicker",
                                description="Print a free TCP port on 127.0.0.1, "
                                            "here or on an ssh host.")
    p.add_argument("host", nargs="?", help="[user@]host to pick the port on "
                                           "(default: this machine)")
    p.add_argument("--python", default="python3",
                   help="the Python command on the host (default: python3)")
    args = p.parse_args(argv)
    try:
        print(ssh.portpicker(args.host, python=args.python) if args.host
              else ssh.portpicker())
    except ssh.SSHError as exc:
        print(f"portpicker: {exc}", file=sys.stderr)
        return 1
    finally:
        ssh.close_all()
    return 0


def tunnel_main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``pathos_tunnel``."""
    from .secure import Tunnel, TunnelException
    p = argparse.ArgumentParser(
        prog="pathos_tunnel",
        description="Forward a free local port (127.0.0.1) to PORT on HOST's "
                    "loopback over ssh, until Enter, Ctrl-C or SIGTERM.")
    p.add_argument("host", help="[user@]host to reach")
    p.add_argument("port", nargs="?", type=int,
                   help="the port on HOST (default: a free one, picked there)")
    p.add_argument("--through", help="reach HOST:PORT through this gateway host")
    args = p.parse_args(argv)
    tunnel = Tunnel()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        local = tunnel.connect(args.host, args.port, args.through)
        print(f"Connected to localhost at port={local} -> {args.host}:{tunnel._rport}",
              flush=True)
        print("Press <Enter> to disconnect", flush=True)
        waiter = threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()),
                                  daemon=True)
        waiter.start()
        while not stop.wait(0.5):
            pass
    except TunnelException as exc:
        print(f"pathos_tunnel: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        tunnel.disconnect()
        ssh.close_all()
    return 0
