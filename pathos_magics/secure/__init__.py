"""``pathos.secure``: ssh launchers with pathos's config/launch/response API.

    from pathos_magics.secure import Pipe, Copier, Tunnel
    p = Pipe(); p(command="hostname", host="node1"); p.launch(); p.response()
    Copier(source="data.txt", destination="node1:/tmp/").launch()
    t = Tunnel(); local_port = t.connect("node1", 8888); ...; t.disconnect()

Built on the ssh toolkit (:mod:`pathos_magics.ssh`): paramiko, one verified
connection per host, settings from ``~/.ssh/config``; no ``ssh``/``scp``
binary is run and no ssh command line is built.
"""
from .connection import Pipe
from .copier import Copier, FileNotFound
from .tunnel import Tunnel, TunnelException

__all__ = ["Pipe", "Copier", "FileNotFound", "Tunnel", "TunnelException"]
