"""In a real kernel, a big global of the notebook that forked workers already
hold is named, not shipped; a cell that changes it is seen by the next map,
and workers forked after the change hold the new value.

The cells record how many bytes of bulky globals each map's code carried.
"""
from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.integration

from notebooks import execute  # noqa: E402

CELLS = [
    """\
from pathos_magics import serialize
from pathos_magics.pools import ProcessPool
carried = []
_dumps = serialize.dumps_code
def _spy(func, inherited=None):
    payload = _dumps(func, inherited)
    carried.append(sum(len(b) for b in payload[0][1]))
    return payload
serialize.dumps_code = _spy
BIG = list(range(200_000))
pool = ProcessPool(2, context="fork")
""",
    "print('first', pool.map(lambda i: BIG[i] * 2, [1, 199_999]), carried[-1])",
    "BIG[1] = 2.5\nprint('changed', pool.map(lambda i: BIG[i] * 2, [1, 1, 1]), carried[-1] > 0)",
    "pool.clear()\npool = ProcessPool(2, context='fork')\n"
    "print('new pool', pool.map(lambda i: BIG[i] * 2, [1]), carried[-1])",
    "pool.clear()",
]


@pytest.fixture(scope="module")
def stdout(tmp_path_factory):
    nb = execute(CELLS, tmp_path_factory.mktemp("inherit_nb"))
    return ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]


def test_an_unchanged_global_is_not_shipped(stdout):
    assert stdout[1].strip() == "first [2, 399998] 0"


def test_a_changed_global_is_shipped_and_seen(stdout):
    assert stdout[2].strip() == "changed [5.0, 5.0, 5.0] True"


def test_workers_forked_after_the_change_have_it_and_are_not_sent_it(stdout):
    assert stdout[3].strip() == "new pool [5.0] 0"
