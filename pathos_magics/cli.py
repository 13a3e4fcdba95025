"""Console scripts pathos users know: ``portpicker``, ``pathos_tunnel`` and
``tunneled_pathos_server`` (``pathos_server`` is the host side's own:
transports/ssh/standalone.py).

    portpicker [HOST]                     print a free port (here, or on HOST)
    pathos_tunnel HOST [PORT] [--through GATEWAY]
                                          forward a local port to PORT on HOST
                                          until Enter, Ctrl-C or SIGTERM
    tunneled_pathos_server HOST [--workers N]
                                          start a server on HOST (its
                                          127.0.0.1) with the per-user secret,
                                          tunnel a local port to it, print the
                                          port; until Enter, Ctrl-C or SIGTERM

All use the ssh toolkit (``~/.ssh/config``, the agent, known_hosts).
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


def tunneled_server_main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``tunneled_pathos_server``."""
    p = argparse.ArgumentParser(
        prog="tunneled_pathos_server",
        description="Start a pathos_magics worker server on HOST (bound to its "
                    "127.0.0.1; pathos_magics is copied there if missing) and "
                    "forward a free local port to it over ssh, until Enter, Ctrl-C "
                    "or SIGTERM; then stop both. The server's secret is this "
                    "user's secret file (made if missing), sent over ssh, never on a "
                    "command line, so ParallelPool(servers=('localhost:PORT',)) "
                    "joins it.")
    p.add_argument("host", help="[user@]host to run the server on")
    p.add_argument("--workers", type=int, default=0,
                   help="workers it offers (default: one per CPU of HOST)")
    p.add_argument("--python", default="python3",
                   help="the Python command on HOST (default: python3)")
    p.add_argument("--secret-file", help="the secret file (default: "
                   "~/.config/pathos_magics/server.key)")
    p.add_argument("--accept-new-host-key", action="store_true",
                   help="trust HOST's key if it is not in known_hosts yet")
    args = p.parse_args(argv)
    from .errors import TransportError
    from .transports.ssh.secret import SecretError, ensure_secret_file
    from .transports.ssh.transport import SSHTransport
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    server = tunnel = None
    try:
        key = ensure_secret_file(args.secret_file)
        server = SSHTransport(args.host, workers=args.workers or None,
                              python=args.python, authkey=key,
                              accept_new_host_key=args.accept_new_host_key or None)
        workers = server.prepare()
        tunnel = ssh.Tunnel(args.host, remote_port=server.server_port).open()
        print(f"Server running at port={server.server_port} with pid={server.server_pid} "
              f"on {args.host} ({workers} workers)", flush=True)
        print(f"Connected to localhost at port={tunnel.local_port}", flush=True)
        print(f"Use: ParallelPool(servers=('localhost:{tunnel.local_port}',))", flush=True)
        print("Press <Enter> to kill server", flush=True)
        threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()),
                         daemon=True).start()
        while not stop.wait(0.5):
            pass
    except (SecretError, TransportError, ssh.SSHError, OSError) as exc:
        print(f"tunneled_pathos_server: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if tunnel is not None:
            tunnel.close()
        if server is not None:
            server.close(timeout=5.0)
        ssh.close_all()
    return 0
