"""In a real kernel, classes defined in cells come back from process
workers as the kernel's own (isinstance, ==, enum identity), with no dill
warning on stderr; a result that cannot come back names its task."""
from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.integration

from notebooks import execute  # noqa: E402

CELLS = [
    """\
import dataclasses, enum, threading
from pathos_magics.pools import ProcessPool

@dataclasses.dataclass
class Particle:
    i: int

class Color(enum.Enum):
    RED = 1
    GREEN = 2

fork, spawn = ProcessPool(2, context="fork"), ProcessPool(2, context="spawn")
""",
    """\
for pool in (fork, spawn):
    out = pool.map(lambda i: Particle(i), range(3))
    print(isinstance(out[0], Particle), out == [Particle(0), Particle(1), Particle(2)])
""",
    """\
for pool in (fork, spawn):
    back = pool.map(lambda c: Color(c.value), [Color.RED, Color.GREEN])
    print(back[0] is Color.RED, back[1] is Color.GREEN)
""",
    """\
try:
    fork.map(lambda i: threading.Lock() if i == 2 else i, range(4))
except Exception as exc:
    print(type(exc).__name__, str(exc)[:37])
""",
    "fork.clear(); spawn.clear()",
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    nb = execute(CELLS, tmp_path_factory.mktemp("classes_nb"))
    return [cell.outputs for cell in nb.cells]


def _text(outputs, name="stdout"):
    return "".join(o.get("text", "") for o in outputs if o.get("name") == name)


def test_dataclass_results_are_the_kernels_class(outputs):
    assert _text(outputs[1]).split("\n")[:2] == ["True True", "True True"]


def test_enum_members_come_back_as_the_kernels_members(outputs):
    assert _text(outputs[2]).split("\n")[:2] == ["True True", "True True"]
    assert "Warning" not in _text(outputs[2], "stderr") + _text(outputs[1], "stderr")


def test_a_result_that_cannot_come_back_names_its_task(outputs):
    assert _text(outputs[3]).strip() == (
        "ResultNotSent the result of task 2 cannot come back")
