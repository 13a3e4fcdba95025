"""The host picker panel against the real ssh test hosts (node0, node1).

The widgets are clicked in this process (no browser: tests/e2e has that);
ssh, the hosts' sshd, the pool and the events are all real.
"""
from __future__ import annotations

import html
import re
import sys
import time

import pytest

from pathos_magics import active, ssh
from pathos_magics.hostpanel import panel

pytest.importorskip("ipywidgets")
pytestmark = pytest.mark.integration

PY = sys.executable       # the hosts share this file system: same venv


@pytest.fixture
def pnl(net, registry_dir):
    p = panel(python=PY, widgets=True)
    yield p
    p.model.wait(30)
    p.close()
    active.reset_active()


def _done(row) -> int:
    m = re.search(r"(\d+) done", row.live.value)
    return int(m.group(1)) if m else 0


def test_test_shows_python_and_cores_or_the_host_key_refusal(net, pnl, tmp_path,
                                                             monkeypatch):
    w = pnl.widget
    assert {"node0", "node1"} <= set(w.rows)
    # node1's key is unknown to this known_hosts: it must be refused.
    known = tmp_path / "known_hosts"
    known.write_text("".join(line for line in open(net.known_hosts)
                             if line.startswith(net["node0"].address + " ")))
    monkeypatch.setenv("PATHOS_MAGICS_KNOWN_HOSTS", str(known))
    ssh.close_all()
    w.row("node0").test.click()
    w.row("node1").test.click()
    assert pnl.model.wait(60)
    ok = w.row("node0").status.value
    assert "ok · Python %d.%d" % sys.version_info[:2] in ok, ok
    assert re.search(r"\d+ cores · \d+ ms", ok), ok
    assert w.row("node0").workers.value >= 1
    refused = w.row("node1").status.value
    assert "host key: " in refused and "is not in" in refused and "ssh-keyscan" in refused


def test_start_two_hosts_map_with_live_counts_then_stop(net, pnl):
    w = pnl.widget
    for alias in ("node0", "node1"):
        w.row(alias).check.value = True
        w.row(alias).workers.value = 1
    assert "%pathos pool remote node0:1 node1:1 --python" in w.code.value
    w.start.click()
    assert pnl.model.wait(90)
    assert "running, 2 workers" in w.pool.value, w.message.value
    assert active.active_spec().options["servers"] == ({"node0": 1}, {"node1": 1})
    assert {wk.host for wk in active.Pool().workers} == {"node0", "node1"}
    for h in net.hosts:
        assert h.python_processes(), f"no server on {h.name}"

    result = active.Pool().amap(lambda x: (time.sleep(0.05), x * 2)[1], range(80))
    seen = {"node0": set(), "node1": set()}
    deadline = time.monotonic() + 60
    while not result.ready() and time.monotonic() < deadline:
        w.refresh()
        for alias in seen:
            seen[alias].add(_done(w.row(alias)))
        time.sleep(0.1)
    assert result.get(timeout=60) == [x * 2 for x in range(80)]
    for alias, counts in seen.items():      # rose while the map ran
        assert len(counts - {0}) >= 2, (alias, sorted(counts))
    w.refresh()
    assert _done(w.row("node0")) + _done(w.row("node1")) == 80

    w.stop.click()
    assert pnl.model.wait(30)
    assert "no pool from this panel" in w.pool.value
    assert active.active_spec() == active.PoolSpec()
    deadline = time.monotonic() + 10
    while any(h.python_processes() for h in net.hosts) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(h.python_processes() for h in net.hosts)


def test_tunnel_open_list_close(net, pnl):
    w = pnl.widget
    w.tunnel_spec.value = "node0:22"
    w.tunnel_open.click()
    assert pnl.model.wait(30)
    assert "tunnel node0:22 -> 127.0.0.1:" in html.unescape(w.message.value)
    assert len(w.tunnels.children) == 1
    assert "open" in w.tunnels.children[0].children[0].value
    w.tunnels.children[0].children[1].click()         # Close
    assert not [t for t in ssh.tunnels() if t.state == "open"]
    assert len(w.tunnels.children) == 0
