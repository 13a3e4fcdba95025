"""The live progress widget in a real JupyterLab, seen by headless Chromium.

A generated notebook is opened in JupyterLab and run with Run > Run All:

1. ``%load_ext pathos_magics`` and ``%pathos pool process 2``
2. a map of 60 tasks of 0.1 s on 2 workers (~3 s), then the sum of its results
3. ``%pathos status``
4. a map whose task 30 raises ZeroDivisionError (after ~1.5 s)

and the page must show: a progress bar in cell 2 whose width changes several
times while the kernel is busy (a MutationObserver records it: live updates,
not only the end), ending at 100% and green with "60/60"; the status table
with two workers in cell 3; a red (danger) bar in cell 4 with the error in the
widget's text and the traceback below it.
"""
from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NOTEBOOK = "progress.ipynb"

CELLS = [
    "%load_ext pathos_magics\n%pathos pool process 2",
    "import time\nfrom pathos_magics import Pool\n"
    "out = Pool().map(lambda x: (time.sleep(0.1), x)[1], range(60))\nsum(out)",
    "%pathos status",
    "Pool().map(lambda x: (time.sleep(0.1), 1 / (x - 30))[1], range(60))",
]
(I_SETUP, I_MAP, I_STATUS, I_FAILING) = range(4)

#: Records, per cell, every change of its progress bars (width, classes) and
#: of the kernel execution indicator, each with the indicator's state.
RECORDER = """() => {
  window.__bars = [];
  const last = new Map();
  const status = () => {
    const el = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return el ? el.getAttribute('data-status') : null;
  };
  const snap = () => {
    const st = status();
    document.querySelectorAll('.jp-Notebook .jp-Cell').forEach((cell, i) => {
      cell.querySelectorAll('.widget-hprogress .progress-bar').forEach((bar, j) => {
        const rec = {cell: i, bar: j, width: bar.style.width, cls: bar.className,
                     status: st};
        const key = i + ':' + j;
        const sig = rec.width + '|' + rec.cls + '|' + rec.status;
        if (last.get(key) !== sig) {
          last.set(key, sig);
          rec.t = performance.now();
          window.__bars.push(rec);
        }
      });
    });
  };
  new MutationObserver(snap).observe(document.body, {
    subtree: true, childList: true, attributes: true,
    attributeFilter: ['style', 'class', 'data-status']});
  snap();
}"""


def _notebook() -> dict:
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                           "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [{"cell_type": "code", "id": f"cell-{i}", "metadata": {},
                   "execution_count": None, "outputs": [], "source": src}
                  for i, src in enumerate(CELLS)],
    }


@pytest.fixture
def progress_notebook(notebook_dir):
    path = notebook_dir / NOTEBOOK
    path.write_text(json.dumps(_notebook(), indent=1))
    return path


def _run_all(page) -> None:
    """Run > Run All Cells, through the menu as a user would."""
    page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()


def _percent(width: str) -> float:
    m = re.fullmatch(r"\s*([0-9.]+)%\s*", width or "")
    assert m, f"bar width {width!r} is not a percentage"
    return float(m.group(1))


def test_live_progress_widget_in_jupyterlab(progress_notebook, open_notebook):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)      # a loaded 2-core machine is slow
    page = open_notebook(progress_notebook.name)
    cells = page.locator(".jp-Notebook .jp-Cell")
    expect(cells).to_have_count(len(CELLS))
    page.evaluate(RECORDER)

    _run_all(page)

    # Everything ran: the last cell shows its traceback and the kernel is idle.
    failing = cells.nth(I_FAILING)
    traceback = failing.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    expect(traceback).to_be_visible(timeout=60_000)
    expect(traceback).to_contain_text("ZeroDivisionError")
    expect(page.locator(".jp-Notebook-ExecutionIndicator").first) \
        .to_have_attribute("data-status", "idle", timeout=30_000)
    for i in (I_SETUP, I_MAP, I_STATUS):         # no error before the last cell
        expect(cells.nth(i).locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        ).to_have_count(0)

    # Cell 2: one progress widget (bar + text), full, green, 60/60.
    mapped = cells.nth(I_MAP)
    bar = mapped.locator(".jp-OutputArea-output .widget-hprogress .progress-bar")
    expect(bar).to_have_count(1)
    expect(bar).to_have_attribute("style", re.compile(r"width:\s*100%"))
    expect(bar).to_have_class(re.compile(r"\bprogress-bar-success\b"))
    text = mapped.locator(".jp-OutputArea-output .widget-html-content")
    expect(text).to_contain_text("60/60")
    expect(text).to_contain_text("done")
    expect(text).to_contain_text("local-0")
    expect(text).to_contain_text("local-1")
    expect(mapped.locator(".jp-OutputArea-executeResult")).to_contain_text("1770")

    # ... and it moved while the kernel was busy: live updates, not just the end.
    records = page.evaluate("window.__bars")
    seen = [(r["t"], _percent(r["width"])) for r in records
            if r["cell"] == I_MAP and r["status"] == "busy" and r["width"]]
    busy = [w for _, w in seen]
    print(f"cell 2 bar (ms, width%) while busy: {[(round(t), w) for t, w in seen]}")
    partial = [(t, w) for t, w in seen if 0 < w < 100]
    assert len({w for _, w in partial}) >= 3, (
        f"the bar of cell 2 took only {partial} as partial widths while the kernel "
        f"was busy; records: {[r for r in records if r['cell'] == I_MAP]}")
    assert busy == sorted(busy), f"the bar went backwards: {busy}"
    # spread over the ~3 s map, not a burst of queued updates at its end
    assert partial[-1][0] - partial[0][0] > 1000, f"partial widths in a burst: {seen}"

    # Cell 3: the status table of the active pool, two workers.
    status = cells.nth(I_STATUS).locator(".jp-OutputArea-output")
    expect(status).to_contain_text("active pool:")
    expect(status).to_contain_text("ProcessPool(ncpus=2)")
    expect(status).to_contain_text("2 workers")
    rows = status.locator("table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("local-0")
    expect(rows.nth(1)).to_contain_text("local-1")

    # Cell 4: the failed map's bar is red and its text names the error.
    red = failing.locator(".jp-OutputArea-output .widget-hprogress .progress-bar")
    expect(red).to_have_count(1)
    expect(red).to_have_class(re.compile(r"\bprogress-bar-danger\b"))
    assert _percent(red.evaluate("b => b.style.width")) < 100
    reason = failing.locator(".jp-OutputArea-output .widget-html-content")
    expect(reason).to_contain_text("failed")
    expect(reason).to_contain_text("ZeroDivisionError")
    expect(reason.locator("span", has_text="ZeroDivisionError")).to_be_visible()
