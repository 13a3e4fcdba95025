"""Every notebook in notebooks/, executed in a real kernel, outputs checked.

The ssh alias the notebooks use, ``pm-node``, is pointed at a real test host
(node0 of the ``net`` fixture, in its own network namespace), the way a user
points it at a machine of theirs in ~/.ssh/config.  The host's ``python3`` is
the system one, without pathos_magics: the remote notebook's pool copies the
package over, as it would to a fresh machine.
"""
from __future__ import annotations

import os

import pytest

pytest.importorskip("nbclient")

import gallery  # noqa: E402  (tests/integration is on sys.path: conftest.py)

pytestmark = pytest.mark.integration

ALIAS = "pm-node"


@pytest.fixture
def pm_node(net, tmp_path, monkeypatch):
    """An ssh config naming node0 ``pm-node``, for the kernels started here."""
    node = net["node0"]
    config = tmp_path / "ssh_config"
    with open(net.ssh_config) as f:
        base = f.read()
    config.write_text(base + f"Host {ALIAS}\n  HostName {node.address}\n  User root\n"
                             f"  IdentityFile {net.key}\n")
    monkeypatch.setenv("PATHOS_MAGICS_SSH_CONFIG", str(config))
    return node


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", gallery.notebooks())
def test_notebook_runs_and_shows_the_right_outputs(name, pm_node, tmp_path):
    out = str(tmp_path / name)
    try:
        gallery.execute(os.path.join(gallery.NOTEBOOK_DIR, name), out, timeout=240)
    except Exception as exc:             # the cell's outputs say more than nbclient
        import nbformat
        pytest.fail(f"{name} failed to run: {str(exc)[-3000:]}"
                    if not os.path.exists(out) else
                    _first_failure(nbformat.read(out, as_version=4), exc))
    import nbformat
    gallery.check(nbformat.read(out, as_version=4), name)


def _first_failure(nb, exc: Exception) -> str:
    for n, c in enumerate(nb.cells):
        if c.cell_type == "code" and any(o["output_type"] == "error" for o in c.outputs) \
                and gallery.RAISES not in c.metadata.get("tags", []):
            return f"cell {n} ({c.get('id')}) failed:\n{gallery.text(c)[-3000:]}"
    return str(exc)[-3000:]
