"""The host picker panel in a real JupyterLab, seen and clicked by headless
Chromium, against real ssh hosts (sshd in network namespaces).

Three hosts are built (tests/integration/sshhosts.py) with an ssh config
naming node0, node1, node2 (the server's kernels inherit it through
PATHOS_MAGICS_SSH_CONFIG); node2's key is left out of known_hosts, so it is
a host never seen before.  The test:

1. runs ``%pathos panel``: one ``pm-host`` row per host;
2. clicks Test on node0 (ok, Python, cores) and on node2 (the host-key
   refusal, saying how to accept the key);
3. checks node0 and node1 with one worker each and clicks Start: the pool
   line says running with two workers;
4. runs a ``%%pmap`` cell: it maps over both hosts, and a MutationObserver
   sees both rows' task counts rise while the kernel is busy;
5. clicks Stop: no Python process is left on either host.

On failure the lab_page fixture saves a screenshot (failure.png), the
browser console and the server log.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)),
                                "integration"))
from sshhosts import TestNetwork, missing_prerequisites  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NOTEBOOK = "panel.ipynb"
CELLS = [
    "%load_ext pathos_magics\n%pathos panel",
    "%%pmap -o out x in range(120)\nimport time\ntime.sleep(0.05)\nx * 2",
    "sum(out)",
]

#: Records every change of the rows' live text, with the kernel's state.
RECORDER = """() => {
  window.__live = [];
  const last = new Map();
  const status = () => {
    const el = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return el ? el.getAttribute('data-status') : null;
  };
  const snap = () => {
    const st = status();
    document.querySelectorAll('.pm-host').forEach(row => {
      const label = row.querySelector('.widget-checkbox span');
      const name = label ? label.textContent.trim() : '?';
      const live = row.querySelector('.pm-host-live');
      const text = live ? live.textContent.trim() : '';
      if (last.get(name) !== text + '|' + st) {
        last.set(name, text + '|' + st);
        window.__live.push({host: name, text: text, status: st, t: performance.now()});
      }
    });
  };
  new MutationObserver(snap).observe(document.body, {
    subtree: true, childList: true, characterData: true, attributes: true,
    attributeFilter: ['data-status']});
  snap();
}"""


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory):
    """node0, node1 (known) and node2 (key unknown); the environment the lab
    server and its kernels inherit points at them."""
    why = missing_prerequisites()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"{why} (required in CI)")
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("panelhosts")
    network = TestNetwork(str(folder), count=3)
    saved = dict(os.environ)
    try:
        network.start()
        unknown = network["node2"].address + " "
        with open(network.known_hosts) as f:
            kept = [line for line in f if not line.startswith(unknown)]
        with open(network.known_hosts, "w") as f:
            f.writelines(kept)
        os.environ.update(network.env())
        os.environ["PATHOS_MAGICS_REMOTE_DIR"] = str(folder / "remote")
        os.environ["XDG_CONFIG_HOME"] = str(folder / "config")
        yield network
    finally:
        network.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def panel_notebook(three_hosts, notebook_dir):
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                      "display_name": "Python 3 (ipykernel)"},
                       "language_info": {"name": "python"}},
          "cells": [{"cell_type": "code", "id": f"cell-{i}", "metadata": {},
                     "execution_count": None, "outputs": [], "source": src}
                    for i, src in enumerate(CELLS)]}
    path = notebook_dir / NOTEBOOK
    path.write_text(json.dumps(nb, indent=1))
    return path


def _run_cell(page, cell) -> None:
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _row(panel, alias):
    return panel.locator(".pm-host", has=panel.page.locator(
        f".widget-checkbox span:text-is('{alias}')"))


def _set_workers(row, n: int) -> None:
    field = row.locator("input[type=number]").first
    field.fill(str(n))
    field.press("Enter")


def test_panel_in_jupyterlab_against_ssh_hosts(three_hosts, panel_notebook,
                                               open_notebook):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    page = open_notebook(panel_notebook.name)
    cells = page.locator(".jp-Notebook .jp-Cell")
    expect(cells).to_have_count(len(CELLS))

    # 1. the panel lists the hosts of the ssh config
    _run_cell(page, cells.nth(0))
    panel = cells.nth(0).locator(".pm-panel")
    expect(panel).to_be_visible(timeout=60_000)
    expect(panel.locator(".pm-host")).to_have_count(3)
    for alias in ("node0", "node1", "node2"):
        expect(_row(panel, alias)).to_have_count(1)
    for label in ("Test", "Add", "Start", "Stop"):
        expect(panel.locator(f"button:text-is('{label}')").first).to_be_visible()
    expect(panel.locator("button.pm-start")).to_be_disabled()

    # 2. Test: ok with cores on a known host, the host-key refusal on node2
    _row(panel, "node0").locator("button.pm-host-test").click()
    _row(panel, "node2").locator("button.pm-host-test").click()
    ok = _row(panel, "node0").locator(".pm-host-status")
    expect(ok).to_contain_text("ok · Python %d.%d" % sys.version_info[:2], timeout=60_000)
    expect(ok).to_contain_text(re.compile(r"\d+ cores"))
    refused = _row(panel, "node2").locator(".pm-host-status")
    expect(refused).to_contain_text("host key:", timeout=60_000)
    expect(refused).to_contain_text("ssh-keyscan")

    # 3. check node0 and node1, one worker each, Start
    for alias in ("node0", "node1"):
        row = _row(panel, alias)
        row.locator("input[type=checkbox]").check()
        _set_workers(row, 1)
    code = panel.locator(".pm-code")
    expect(code).to_contain_text("%pathos pool remote node0:1 node1:1")
    start = panel.locator("button.pm-start")
    expect(start).to_be_enabled()
    start.click()
    pool = panel.locator(".pm-pool")
    expect(pool).to_contain_text("running, 2 workers", timeout=120_000)
    expect(panel.locator("button.pm-stop")).to_be_enabled()

    # 4. the next cell maps over both hosts; the rows' counts rise meanwhile
    page.evaluate(RECORDER)
    _run_cell(page, cells.nth(1))
    expect(cells.nth(1).locator(".jp-OutputArea-executeResult")).to_be_visible(
        timeout=120_000)
    _run_cell(page, cells.nth(2))
    expect(cells.nth(2).locator(".jp-OutputArea-executeResult")).to_contain_text(
        str(sum(x * 2 for x in range(120))), timeout=60_000)
    records = page.evaluate("window.__live")
    for alias in ("node0", "node1"):
        counts = [int(m.group(1)) for r in records
                  if r["host"] == alias and r["status"] == "busy"
                  for m in [re.search(r"(\d+) done", r["text"])] if m]
        print(f"{alias} done counts while busy: {counts}")
        partial = sorted(set(c for c in counts if 0 < c))
        assert len(partial) >= 2, (alias, counts, records[-20:])
        assert counts == sorted(counts), f"{alias}'s count went backwards: {counts}"
    panel.scroll_into_view_if_needed()      # cells off screen are not rendered
    final = [_row(panel, a).locator(".pm-host-live").text_content()
             for a in ("node0", "node1")]
    final = [int(re.search(r"(\d+) done", text).group(1)) for text in final]
    assert sum(final) == 120 and min(final) > 0, final

    # 5. Stop: no Python process is left on either host
    panel.locator("button.pm-stop").click()
    expect(pool).to_contain_text("no pool from this panel", timeout=60_000)
    deadline = time.monotonic() + 15
    left = {}
    while time.monotonic() < deadline:
        left = {h.name: h.python_processes() for h in three_hosts.hosts}
        if not any(left.values()):
            break
        time.sleep(0.1)
    assert not any(left.values()), f"processes left on the hosts: {left}"
