"""Profiling in a real kernel (nbclient): %%pmap --profile shows the top
functions (HTML with a text fallback) and keeps the results as the cell's
value; %pathos profile on/show/off merges every worker's stats, or shows
one worker's."""
from __future__ import annotations

import pytest

pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.integration

from notebooks import execute  # noqa: E402

CELLS = [
    """\
%load_ext pathos_magics
%pathos progress off
%pathos pool process 2
def heavy(x):
    return sum(i * i for i in range(x))
""",
    "%%pmap --profile -o squares x in range(40)\nheavy(x * 100)",
    "print('results', squares == [heavy(x * 100) for x in range(40)])",
    "%pathos profile on",
    "from pathos_magics import Pool\nprint('mapped', len(Pool().map(heavy, range(30))))",
    "%pathos profile show --limit 5",
    "%pathos profile show --worker local-0 --sort tottime",
    "%pathos profile off",
    "import pathos_magics.profile as pr\nprint('workers', pr.get_stats().workers)",
    """\
try:
    get_ipython().run_line_magic('pathos', 'profile show --worker nobody')
except Exception as exc:
    print('error', type(exc).__name__, exc)
""",
]


def _outputs(cell) -> tuple[str, str, str]:
    """(text/plain, text/html, stream text) of a cell's outputs."""
    plain = html = stream = ""
    for out in cell.outputs:
        if out.output_type == "stream":
            stream += out.text
        elif out.output_type in ("display_data", "execute_result"):
            plain += out.data.get("text/plain", "") + "\n"
            html += out.data.get("text/html", "") + "\n"
    return plain, html, stream


def test_pmap_profile_and_pathos_profile_in_a_kernel(tmp_path):
    nb = execute(CELLS, tmp_path)
    pmap = nb.cells[1]
    kinds = [o.output_type for o in pmap.outputs]
    assert kinds == ["display_data", "execute_result"], kinds
    table = pmap.outputs[0].data
    assert "<table>" in table["text/html"] and "heavy" in table["text/html"]
    assert "filename:lineno(function)" in table["text/plain"]
    assert "%%pmap profile on ProcessPool(ncpus=2), from local-" in table["text/plain"]
    assert pmap.outputs[1].data["text/plain"].startswith("[0,\n 328350,")   # the results
    assert "results True" in _outputs(nb.cells[2])[2]
    assert "profiling on" in _outputs(nb.cells[3])[2]
    plain, page, _ = _outputs(nb.cells[5])
    assert "heavy" in plain and "<table>" in page and "top 5 by cumulative" in plain
    plain, _, _ = _outputs(nb.cells[6])
    assert "profile of local-0:" in plain and "by tottime" in plain
    assert "profiling off" in _outputs(nb.cells[7])[2]
    assert "'local-0', 'local-1'" in _outputs(nb.cells[8])[2]
    error = _outputs(nb.cells[9])[2]
    assert "error UsageError" in error and "there are stats from: local-0, local-1" in error
