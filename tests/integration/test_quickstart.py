"""notebooks/quickstart.ipynb in a real kernel (nbclient): what `make demo` runs."""
from __future__ import annotations

import os
import shutil

import pytest

nbclient = pytest.importorskip("nbclient")

from pathos_magics.demo import run_notebook, summarise  # noqa: E402

from notebooks import cell_text  # noqa: E402 - tests/integration, on the path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_VIEW = "application/vnd.jupyter.widget-view+json"
_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nb")
    path = folder / "quickstart.ipynb"
    shutil.copy(os.path.join(ROOT, "notebooks", "quickstart.ipynb"), path)
    nb, out = run_notebook(str(path), timeout=180)
    assert os.path.exists(out)
    return nb


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.timeout(240)
def test_quickstart_runs_in_a_real_kernel(executed):
    cells = _code(executed)
    # %pathos pool process 2 shows the active pool
    assert "ProcessPool(ncpus=2)" in cell_text(cells[0])
    # Pool().map: right result, and a progress widget with a text fallback
    assert "([0, 1, 4, 9, 16], 100)" in cell_text(cells[1])
    views = [o for o in cells[1].outputs if _VIEW in o.get("data", {})]
    assert views, "no progress widget was displayed for a 1 s map"
    assert "100/100" in views[-1]["data"]["text/plain"]
    # %%pmap with a lambda and a closure over notebook state
    assert "[100, 101, 108, 127, 164]" in cell_text(cells[4])
    # the failing item: named, with the cell's line
    error = cell_text(cells[5])
    assert "ZeroDivisionError" in error and "task 2 (item 0)" in error
    assert "ratio = 8 / x" in error
    assert "pathos_magics/" not in error            # none of our plumbing
    # %pathos status: two live workers
    status = cell_text(cells[6])
    assert "2 workers" in status and "local-0" in status


def test_final_widget_state_says_done_equals_total(executed):
    states = executed.metadata["widgets"][_STATE]["state"]
    bars = [m["state"] for m in states.values() if m["model_name"] in
            ("IntProgressModel", "FloatProgressModel")]
    finals = sorted((b["value"], b["max"], b.get("bar_style")) for b in bars)
    assert (100, 100, "success") in finals and (40, 40, "success") in finals


def test_demo_summary_reads_the_notebook(executed):
    lines = summarise(executed)
    assert any("error ZeroDivisionError (expected)" in line for line in lines)
    assert not any("ERROR" in line for line in lines)
