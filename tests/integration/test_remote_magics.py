"""%pathos tunnel / tunnels / hosts / pool remote on the real test hosts."""
from __future__ import annotations

import sys
import urllib.request

import pytest

from pathos_magics import active, ssh

pytest.importorskip("IPython")
from IPython.core.error import UsageError  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from test_ssh_toolkit import loopback_service  # noqa: E402,F401 - a fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "pathos_magics")
    shell.run_line_magic("pathos", "progress off")
    yield shell
    ssh.close_all_tunnels()
    active.Pool().clear()
    active.reset_active()
    shell.run_line_magic("unload_ext", "pathos_magics")


def test_tunnel_magics_open_list_and_close(net, loopback_service, ip, capsys):  # noqa: F811
    _, port = loopback_service
    tunnel = ip.run_line_magic("pathos", f"tunnel node0:{port}")
    printed = capsys.readouterr().out
    assert f"node0:{port} -> 127.0.0.1:{tunnel.local_port}" in printed
    body = urllib.request.urlopen(f"http://127.0.0.1:{tunnel.local_port}/sshhosts.py",
                                  timeout=10).read().decode()
    assert "TestNetwork" in body
    table = ip.run_line_magic("pathos", "tunnels")
    assert f"node0" in repr(table) and "open" in repr(table)
    ip.run_line_magic("pathos", f"tunnel --close node0:{port}")
    assert "closed the tunnel" in capsys.readouterr().out
    assert "no tunnels" in repr(ip.run_line_magic("pathos", "tunnels"))


def test_tunnel_magic_bad_spec_is_a_usage_error(ip):
    with pytest.raises(UsageError, match="tunnel"):
        ip.run_line_magic("pathos", "tunnel node0")


def test_pool_remote_magic_maps_over_both_hosts(net, ip, registry_dir):
    report = ip.run_line_magic(
        "pathos", f"pool remote node0:1 node1:1 --local 1 --python {sys.executable}")
    assert "3 workers" in repr(report)
    ip.run_cell("OFFSET = 1000")
    result = ip.run_cell("%%pmap x in range(200)\nx + OFFSET")
    assert result.success, result.error_in_exec
    assert result.result == [x + 1000 for x in range(200)]
    hosts = {w.host for w in active.Pool().workers}
    assert len(hosts) == 3, hosts                     # local + both test hosts
    assert "node0" in repr(ip.run_line_magic("pathos", "hosts"))
