"""``python -m pathos_magics.server``: the remote worker server's entry point.

The server itself lives with the rest of the ssh transport
(:mod:`pathos_magics.transports.ssh.server`); this shim keeps the command
and the ``pathos-server`` script short.
"""
import sys

from .transports.ssh.server import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
