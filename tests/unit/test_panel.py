"""The host picker panel, driven through its widgets against a fake ssh session.

The ssh side is a fake (:class:`FakeSSH`: a ``get_session`` and a ``Pipe``
that answer like the hosts of a small ssh config); everything else is real:
the ssh config file, the host registry file, the widgets (clicked with
``Button.click()``), the events, and, for a local-only Start, a real pool.
The real hosts, a real kernel and a real browser are in
tests/integration/test_panel_hosts.py and tests/e2e/test_lab_panel.py.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import paramiko
import pytest

from pathos_magics import active, events as ev, ssh
from pathos_magics.hosts import HostRegistry
from pathos_magics.hostpanel import Panel, panel
from pathos_magics.hostpanel.live import LiveHosts
from pathos_magics.hostpanel.probe import probe_host
from pathos_magics.hostpanel.sources import known_hosts, ssh_config_aliases

W = pytest.importorskip("ipywidgets")

SSH_CONFIG = """\
# a comment
Host node0 node1
  User root
Host *.example !bad
  User x
Host=gpu-box   # trailing comment
  HostName 10.0.0.7
Host stranger
  HostName 10.0.0.9
Host nopython oldpython
Match all
"""
MY_PY = "%d.%d" % sys.version_info[:2]


class FakeSSH:
    """Stands for the ssh toolkit: each alias answers as configured."""

    def __init__(self) -> None:
        self.connected: list[str] = []
        self.commands: list[tuple[str, list]] = []

    def get_session(self, host: str, timeout: float = 10.0) -> object:
        self.connected.append(host)
        if host == "stranger":
            raise ssh.HostKeyError("the host key of stranger (10.0.0.9, ssh-ed25519 "
                                   "SHA256:x) is not in known_hosts ... ssh-keyscan")
        if host == "gpu-box":
            err = ssh.SSHError("root@10.0.0.7:22 refused our keys")
            err.__cause__ = paramiko.AuthenticationException("no")
            raise err
        if host.endswith(".example"):
            raise ssh.SSHError(f"could not reach {host}: No route to host")
        return object()

    def Pipe(self, host: str, timeout: float = 60.0) -> "FakeSSH._Pipe":  # noqa: N802
        return FakeSSH._Pipe(self, host)

    class _Pipe:
        def __init__(self, fake: "FakeSSH", host: str) -> None:
            self.fake, self.host = fake, host

        def run(self, argv: list, timeout: float = 60.0) -> ssh.Result:
            self.fake.commands.append((self.host, argv))
            if argv == ["true"]:
                return ssh.Result("true", "", "", 0, self.host)
            if self.host == "nopython":
                return ssh.Result("py", "", "bash: python3: command not found", 127,
                                  self.host)
            version = "3.1.4" if self.host == "oldpython" else f"{MY_PY}.0"
            return ssh.Result("py", f"{version} 6\n", "", 0, self.host)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An ssh config and an empty registry of this test's own."""
    config = tmp_path / "ssh_config"
    config.write_text(SSH_CONFIG)
    monkeypatch.setenv("PATHOS_MAGICS_SSH_CONFIG", str(config))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path


@pytest.fixture
def fake():
    return FakeSSH()


def _prober(fake: FakeSSH):
    def prober(host, python, timeout):
        return probe_host(host, python=python, timeout=timeout,
                          connect=fake.get_session, pipe=fake.Pipe)
    return prober


@pytest.fixture
def make(env, fake):
    made: list[Panel] = []

    def _make(**options) -> Panel:
        options.setdefault("prober", _prober(fake))
        p = panel(widgets=True, **options)
        made.append(p)
        return p

    yield _make
    for p in made:
        p.model.wait(10)
        p.close()
    active.reset_active()


# ---------------------------------------------------------------- sources

def test_ssh_config_aliases_skip_patterns_and_keep_order(env):
    assert ssh_config_aliases() == ["node0", "node1", "gpu-box", "stranger",
                                    "nopython", "oldpython"]


def test_registry_hosts_merge_with_ssh_config(env):
    reg = HostRegistry()
    reg.add("node1:3", python="python3.11")
    reg.add("alice@far:2")
    entries, problem = known_hosts()
    by = {e.alias: e for e in entries}
    assert problem is None
    assert by["node1"].sources == ("ssh config", "registry") and by["node1"].workers == 3
    assert by["node0"].source == "ssh config"
    assert by["far"].source == "registry" and by["far"].ssh_host == "alice@far"
    assert [e.alias for e in entries][-1] == "far"


def test_a_broken_registry_is_reported_and_ssh_config_hosts_stay(env):
    path = env / "xdg" / "pathos_magics" / "hosts.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    entries, problem = known_hosts()
    assert "cannot read the host registry" in problem
    assert "node0" in [e.alias for e in entries]


# ---------------------------------------------------------------- Test

@pytest.mark.parametrize("alias, kind, words", [
    ("stranger", "host key", "ssh-keyscan"),
    ("gpu-box", "auth", "refused our keys"),
    ("a.example", "unreachable", "No route"),
    ("nopython", "command", "command not found"),
    ("oldpython", "python", f"python{MY_PY}"),
])
def test_probe_names_what_went_wrong(fake, alias, kind, words):
    r = probe_host(alias, connect=fake.get_session, pipe=fake.Pipe)
    assert not r.ok and r.kind == kind and words in r.error
    assert r.summary().startswith(f"{kind}: ")


def test_probe_of_a_good_host(fake):
    r = probe_host("node0", python="python3 -E", connect=fake.get_session, pipe=fake.Pipe)
    assert r.ok and r.cores == 6 and r.python == f"{MY_PY}.0" and r.rtt >= 0
    assert fake.commands[-1][1][:3] == ["python3", "-E", "-c"]
    assert r.summary().startswith(f"ok · Python {MY_PY}.0 · 6 cores · ")


def test_test_buttons_show_ok_with_cores_or_the_error(make):
    p = make()
    w = p.widget
    assert list(w.rows) == ["node0", "node1", "gpu-box", "stranger", "nopython",
                            "oldpython"]
    assert w.row("node0").check.description == "node0"
    for alias in ("node0", "stranger", "gpu-box"):
        w.row(alias).test.click()
    assert p.model.wait(10)
    assert "ok · Python" in w.row("node0").status.value
    assert "6 cores" in w.row("node0").status.value
    assert w.row("node0").workers.value == 6          # probed, as nothing was set
    assert "host key: " in w.row("stranger").status.value
    assert "ssh-keyscan" in w.row("stranger").status.value
    assert "auth: " in w.row("gpu-box").status.value
    assert not w.row("node0").test.disabled
    assert "not tested" in w.row("node1").status.value


def test_a_test_in_flight_disables_its_button(make):
    gate = threading.Event()

    def slow(host, python, timeout):
        gate.wait(10)
        return _prober(FakeSSH())(host, python, timeout)

    p = make(prober=slow)
    row = p.widget.row("node1")
    row.test.click()                       # returns at once
    assert row.test.disabled and "testing" in row.status.value
    gate.set()
    assert p.model.wait(10)
    assert not row.test.disabled and "ok" in row.status.value


# ---------------------------------------------------------------- choose, Start, Stop

def test_checkboxes_and_counts_make_the_equivalent_code(make):
    p = make()
    w = p.widget
    assert w.start.disabled and w.stop.disabled          # nothing chosen yet
    w.row("node0").check.value = True
    w.row("node0").workers.value = 2
    w.row("node1").check.value = True
    assert not w.start.disabled
    assert p.model.selection() == ("node0:2", "node1")
    assert "%pathos pool remote node0:2 node1" in w.code.value
    w.local.value = 1
    assert "--local 1" in w.code.value
    w.row("node1").check.value = False
    assert p.model.selection() == ("node0:2",)


def test_start_and_stop_call_the_pool_in_the_background(make):
    started, gate = [], threading.Event()

    class FakePool:
        state, workers, name = "running", [], "ParallelPool(fake)"

        def clear(self):
            FakePool.state = "cleared"

    def starter(kind, nodes, **options):
        started.append((kind, nodes, options))
        gate.wait(10)
        return FakePool()

    p = make(starter=starter, python="python3.11")
    w = p.widget
    w.row("node0").check.value = True
    w.row("node0").workers.value = 3
    w.local.value = 2
    w.start.click()
    assert w.start.disabled and w.stop.disabled           # while it runs
    assert "starting" in w.message.value
    gate.set()
    assert p.model.wait(10)
    assert started == [("remote", 2, {"servers": ({"node0": 3},), "python": "python3.11"})]
    assert w.start.disabled and not w.stop.disabled       # running
    assert "ParallelPool(fake): running" in w.pool.value
    w.stop.click()
    assert p.model.wait(10)
    assert FakePool.state == "cleared"
    assert "no pool from this panel" in w.pool.value
    assert not w.start.disabled and w.stop.disabled


def test_a_failed_start_says_why_and_allows_another(make):
    def starter(kind, nodes, **options):
        raise ssh.SSHError("could not reach node0: No route to host")

    p = make(starter=starter)
    p.widget.row("node0").check.value = True
    p.widget.start.click()
    assert p.model.wait(10)
    assert "Start failed: could not reach node0" in p.widget.message.value
    assert not p.widget.start.disabled


def test_local_only_start_makes_a_real_active_pool(make):
    p = make()
    p.widget.local.value = 1
    assert "%pathos pool process 1" in p.widget.code.value
    p.widget.start.click()
    assert p.model.wait(60)
    assert active.active_spec().kind == "process" and active.active_spec().nodes == 1
    assert active.Pool().map(lambda x: x * 2, range(5)) == [0, 2, 4, 6, 8]
    assert "local: 1 up" in p.widget.pool.value
    p.widget.stop.click()
    assert p.model.wait(30)
    assert active.active_spec() == active.PoolSpec()


# ---------------------------------------------------------------- live status

def test_live_counts_per_host_and_a_lost_host_turns_red_then_recovers(make):
    p = make()
    live = p.model.live
    for w in ("node0-0", "node0-1"):
        live(ev.WorkerUp(worker=w, host="node0"))
    live(ev.WorkerBusy(worker="node0-0", busy=True))
    live(ev.TasksDone(map_id=1, worker="node0-0", count=5, done=5, total=10))
    live(ev.TasksDone(map_id=1, worker="node1-0", count=2, done=7, total=10))  # by label
    p.widget.refresh()
    row = p.widget.row("node0")
    assert "2 up · 1 busy · 0 lost · 5 done" in row.live.value
    assert "2 done" in p.widget.row("node1").live.value
    for w in ("node0-0", "node0-1"):
        live(ev.WorkerLost(worker=w, reason="the ssh connection was lost"))
    p.widget.refresh()
    assert "0 up · 0 busy · 2 lost" in row.live.value
    assert "pm-host-lost" in row.box._dom_classes
    live(ev.WorkerUp(worker="node0-2", host="node0"))
    p.widget.refresh()
    assert "pm-host-lost" not in row.box._dom_classes
    assert "1 up" in row.live.value


def test_events_reach_the_rows_through_the_global_bus(make):
    p = make()
    ev.GLOBAL.emit(ev.WorkerUp(worker="node1-0", host="node1"))
    ev.GLOBAL.emit(ev.TasksDone(map_id=1, worker="node1-0", count=4, done=4, total=4))
    deadline = threading.Event()
    for _ in range(50):                  # the ticker renders within INTERVAL
        if "4 done" in p.widget.row("node1").live.value:
            break
        deadline.wait(0.1)
    assert "1 up · 0 busy · 0 lost · 4 done" in p.widget.row("node1").live.value


def test_live_hosts_seeds_from_a_pool():
    class Wk:
        def __init__(self, label, host, lost=False, inflight=None):
            self.label, self.host, self.lost, self.inflight = label, host, lost, inflight
    live = LiveHosts()
    live.seed([Wk("local-0", "localhost"), Wk("n-0", "n", inflight={1: 1}),
               Wk("n-1", "n", lost=True)])
    snap = live.snapshot()
    assert (snap["n"].up, snap["n"].busy, snap["n"].lost) == (1, 1, 1)
    assert snap["localhost"].up == 1


# ---------------------------------------------------------------- Add, filter, tunnels

def test_add_puts_a_host_into_the_registry_and_a_row_appears(make, env):
    p = make()
    w = p.widget
    w.add_spec.value = "bob@newhost:4"
    w.add.click()
    assert "newhost" in w.rows and w.rows["newhost"].workers.value == 4
    assert "registry" in w.rows["newhost"].source.value
    assert HostRegistry().get("newhost").user == "bob"
    assert w.add_spec.value == ""
    w.add_spec.value = "bad host"
    w.add.click()
    assert "Add: host spec 'bad host'" in w.message.value


def test_filter_and_row_cap(make):
    p = make(max_rows=2)
    w = p.widget
    assert len(w.hosts.children) == 2 and "4 more" in w.more.value
    w.filter.value = "python"
    assert [r.children[0].description for r in w.hosts.children] == ["nopython",
                                                                      "oldpython"]
    assert w.more.value == ""


def test_a_bad_tunnel_spec_is_explained(make):
    p = make()
    p.widget.tunnel_spec.value = "node0"
    p.widget.tunnel_open.click()
    assert "Tunnel: tunnel spec 'node0' must be [user@]host:port" in p.widget.message.value


# ---------------------------------------------------------------- fronts

def test_display_bundle_carries_widget_text_and_html(make):
    p = make()
    bundle = p._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == \
        p.widget.box.model_id
    assert "pm-panel" in p.widget.box._dom_classes
    assert "node0" in bundle["text/plain"] and "<table>" in bundle["text/html"]
    assert "class='pm-panel'" in bundle["text/html"]


def test_pathos_panel_magic(env):
    pytest.importorskip("IPython")
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "pathos_magics")
    try:
        p = shell.run_line_magic("pathos", "panel")
        assert isinstance(p, Panel) and "node0" in repr(p)
        p.close()
        with pytest.raises(UsageError, match="unrecognized arguments"):
            shell.run_line_magic("pathos", "panel now")
    finally:
        shell.run_line_magic("unload_ext", "pathos_magics")


def test_text_fallback_without_ipywidgets(env):
    """A kernel without ipywidgets: the same panel, as text and HTML tables,
    and nothing imports ipywidgets (the model never does)."""
    code = textwrap.dedent("""
        import sys, types
        sys.modules["ipywidgets"] = None            # import ipywidgets fails
        sys.modules["ipykernel"] = types.ModuleType("ipykernel")   # "in a kernel"
        import pathos_magics
        from pathos_magics import panel
        p = panel()
        bundle = p._repr_mimebundle_()
        assert p.widget is None, p.widget
        assert sorted(bundle) == ["text/html", "text/plain"], sorted(bundle)
        assert "stranger" in bundle["text/plain"]
        assert "<td style='text-align:left'>node0</td>" in bundle["text/html"]
        print(repr(p))
        p.close()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "node0" in out.stdout and "pool: no pool from this panel" in out.stdout


def test_the_model_imports_no_ipywidgets():
    code = ("import sys; import pathos_magics.hostpanel.model, pathos_magics.hostpanel.text; "
            "assert 'ipywidgets' not in sys.modules and 'IPython' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
