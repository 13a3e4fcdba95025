"""notebooks/panel.ipynb (the panel tour) in a real kernel (nbclient), against
the real ssh test hosts: the kernel inherits the ``net`` fixture's ssh config
and known_hosts, so its first two hosts are node0 and node1."""
from __future__ import annotations

import os
import shutil

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

from notebooks import cell_text  # noqa: E402 - tests/integration, on the path

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_VIEW = "application/vnd.jupyter.widget-view+json"
_STATE = "application/vnd.jupyter.widget-state+json"


def test_panel_tour_runs_against_the_test_hosts(net, registry_dir, tmp_path):
    path = tmp_path / "panel.ipynb"
    shutil.copy(os.path.join(ROOT, "notebooks", "panel.ipynb"), path)
    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()            # starts the kernel, runs every cell, shuts it down
    code = [c for c in nb.cells if c.cell_type == "code"]
    shown, tested, started, equivalent, mapped, live, stopped = code

    views = [o for o in shown.outputs if _VIEW in o.get("data", {})]
    assert views, "the panel was not displayed as a widget"
    assert "node0" in views[0]["data"]["text/plain"]
    assert "<table>" in views[0]["data"]["text/html"]

    lines = cell_text(tested).splitlines()
    assert lines[0].startswith("node0 | ok · Python "), lines
    assert lines[1].startswith("node1 | ok · Python "), lines

    assert "ParallelPool(ncpus=0, servers=({'node0': 1, 'node1': 1},)): running, " \
        "2 workers" in cell_text(started), cell_text(started)
    assert "%pathos pool remote node0:1 node1:1" in cell_text(equivalent)
    assert "sum(squares)" not in cell_text(mapped)        # no error
    live_text = cell_text(live)
    assert "node0 | 1 up · 0 busy · 0 lost" in live_text
    assert "node1 | 1 up · 0 busy · 0 lost" in live_text
    done = [int(line.split("lost · ")[1].split()[0]) for line in live_text.splitlines()
            if " done" in line]
    assert sum(done) == 60 and all(d > 0 for d in done), live_text
    assert str(sum(x * x for x in range(60))) in live_text
    assert "no pool from this panel" in cell_text(stopped)

    states = nb.metadata["widgets"][_STATE]["state"]
    classes = [c for m in states.values() for c in m["state"].get("_dom_classes", [])]
    for hook in ("pm-panel", "pm-host", "pm-host-test", "pm-host-status", "pm-start",
                 "pm-stop", "pm-local"):
        assert hook in classes, hook
    nbformat.write(nb, str(tmp_path / "panel.executed.ipynb"))
