"""Live progress in a real kernel: a generated notebook executed by nbclient.

The notebook runs a ~1.5 s map that prints from a worker, a tiny map, and a
map that fails; the executed notebook must hold a widget view with a
readable text/plain summary, a final widget state with done == total (green),
the worker's print line, nothing for the tiny map, and a red failed display.
The kernel (and its pool) is shut down by nbclient before the checks.
"""
from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

pytestmark = pytest.mark.integration

from notebooks import execute  # noqa: E402

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"

SETUP = """\
import time
from pathos_magics.pools import ProcessPool
import pathos_magics.progress as progress
progress.set_policy("on")
pool = ProcessPool(2)
pool.map(abs, range(4))    # warm: workers up before the timed maps
"""

SLOW = """\
def slow(x):
    time.sleep(0.05)
    if x == 7:
        print("hello from task", x)
    return x * x

out = pool.map(slow, range(60))
print("sum", sum(out))
"""

LAST = """\
s = progress.last_state()
print("LAST", s.done, s.total, s.state)
"""

TINY = """\
print("tiny", pool.map(abs, range(10))[-1])
"""

FAILING = """\
def bad(x):
    time.sleep(0.05)
    if x == 40:
        raise ValueError("boom")
    return x

try:
    pool.map(bad, range(60))
except ValueError as exc:
    print("raised", exc)
"""

TEARDOWN = """\
pool.clear()
progress.disable()
"""

CELLS = [SETUP, SLOW, LAST, TINY, FAILING, TEARDOWN]
(I_SLOW, I_LAST, I_TINY, I_FAILING) = range(1, 5)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress_nb")
    nb = execute(CELLS, path)
    nbformat.write(nb, str(path / "executed.ipynb"))
    return nb


def _outputs(nb, i, output_type=None):
    outs = nb.cells[i].outputs
    return [o for o in outs if output_type is None or o.output_type == output_type]


def _stdout(nb, i) -> str:
    return "".join(o.text for o in _outputs(nb, i, "stream") if o.name == "stdout")


def _views(nb, i):
    return [o for o in _outputs(nb, i, "display_data") if VIEW in o.data]


def _widget_state(nb) -> dict:
    return nb.metadata["widgets"][STATE]["state"]


def _children(state: dict, model_id: str) -> list[str]:
    """Every model under model_id (the display's VBox), depth first."""
    found, todo = [], [model_id]
    while todo:
        mid = todo.pop()
        found.append(mid)
        for ref in state[mid]["state"].get("children", []):
            todo.append(ref.replace("IPY_MODEL_", ""))
    return found


def _bar(nb, view_output) -> dict:
    state = _widget_state(nb)
    ids = _children(state, view_output.data[VIEW]["model_id"])
    bars = [state[m]["state"] for m in ids
            if state[m]["model_name"] == "IntProgressModel"]
    assert len(bars) == 1, bars
    return bars[0]


def test_slow_map_shows_a_widget_with_a_text_summary(executed):
    views = _views(executed, I_SLOW)
    assert len(views) == 1, _outputs(executed, I_SLOW)
    text = views[0].data["text/plain"]
    assert text.startswith("ProcessPool(ncpus=2) map: done, 60/60 tasks"), text
    assert "HBox(" not in text and "VBox(" not in text
    assert "local-0" in text and "local-1" in text


def test_final_widget_state_is_done_equals_total(executed):
    bar = _bar(executed, _views(executed, I_SLOW)[0])
    assert bar["value"] == bar["max"] == 60
    assert bar["bar_style"] == "success"
    assert "LAST 60 60 done" in _stdout(executed, I_LAST)


def test_worker_print_lands_in_the_cell_marked_with_its_worker(executed):
    out = _stdout(executed, I_SLOW)
    assert "hello from task 7" in out
    line = next(ln for ln in out.splitlines() if "hello from task 7" in ln)
    assert line.startswith("[local-"), line
    assert "sum 70210" in out


def test_tiny_map_shows_nothing(executed):
    assert _stdout(executed, I_TINY).strip() == "tiny 9"
    assert _outputs(executed, I_TINY, "display_data") == []


def test_failing_map_shows_the_danger_state(executed):
    assert "raised boom" in _stdout(executed, I_FAILING)
    views = _views(executed, I_FAILING)
    assert len(views) == 1, _outputs(executed, I_FAILING)
    text = views[0].data["text/plain"]
    assert ": failed at " in text and "ValueError: boom" in text, text
    bar = _bar(executed, views[0])
    assert bar["bar_style"] == "danger"
    assert bar["value"] < bar["max"] == 60


# ---------------------------------------------------------------- async maps
# nbclient keeps only the messages of the cell it is running, so the async
# case talks to a kernel with jupyter_client and looks at every message.

ASYNC = """\
handle = pool.amap(slow, range(40))    # ~1 s; the cell returns at once
"""

LATER = """\
time.sleep(0.1)
print("async", len(handle.get(timeout=30)))
"""


def _run(kc, code: str, timeout: float = 60) -> tuple[str, list]:
    """Execute ``code``; return its msg_id and every iopub message seen
    until it is idle (messages of other cells included)."""
    msg_id = kc.execute(code)
    seen = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        seen.append(msg)
        if (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                and msg["parent_header"].get("msg_id") == msg_id):
            reply = kc.get_shell_msg(timeout=timeout)
            assert reply["content"]["status"] == "ok", reply["content"]
            return msg_id, seen


@pytest.fixture
def kernel():
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        yield kc
    finally:
        try:
            _run(kc, TEARDOWN, timeout=30)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=False)


def test_async_map_displays_in_the_cell_that_started_it(kernel):
    _run(kernel, SETUP + SLOW.split("out =")[0])
    async_id, seen = _run(kernel, ASYNC)
    later_id, more = _run(kernel, LATER)
    seen += more
    displays = [m for m in seen if m["msg_type"] in ("display_data", "update_display_data")
                and VIEW in m["content"]["data"]]
    assert [m["msg_type"] for m in displays] == ["display_data", "update_display_data"]
    assert {m["parent_header"]["msg_id"] for m in displays} == {async_id}
    final = displays[-1]["content"]["data"]["text/plain"]
    assert final.startswith("ProcessPool(ncpus=2) map: done, 40/40"), final
    # the widget's comm traffic belongs to the cell that started the map too
    comms = [m for m in seen if m["msg_type"] in ("comm_open", "comm_msg")]
    assert comms and {m["parent_header"]["msg_id"] for m in comms} == {async_id}
    out = "".join(m["content"]["text"] for m in more if m["msg_type"] == "stream")
    assert "async 40" in out


def test_a_plain_import_in_a_kernel_shows_progress_without_load_ext(tmp_path):
    """No %load_ext, no policy call: a slow map in a notebook still shows a bar."""
    nb = execute([
        "import time\nfrom pathos_magics.pools import ThreadPool\n"
        "pool = ThreadPool(2)\n"
        "out = pool.map(lambda x: (time.sleep(0.03), x)[1], range(40))\n"
        "pool.clear()\nsum(out)"], tmp_path)
    views = [o for o in nb.cells[0].outputs if VIEW in o.get("data", {})]
    assert views, nb.cells[0].outputs
    assert "40/40" in views[-1]["data"]["text/plain"]
