"""Workers on other machines over ssh: both ends of the protocol, side by side.

    protocol.py   what both sides agree on (banner lines, time limits)
    transport.py  the kernel's side: SSHTransport, a worker per channel
    bootstrap.py  the kernel's side of a start: the boot script, shipping packages
    server.py     the host's side: ``pathos-server``, forks a worker per connection

The host imports only server.py and protocol.py (with wire, worker, serialize
and system): this package's ``__init__`` imports nothing, so starting a
server never loads paramiko or the pools.
"""
