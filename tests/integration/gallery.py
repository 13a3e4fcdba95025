"""Run every notebook in notebooks/ and check what it shows.

Used by test_gallery.py (the dev environment, ``pm-node`` pointed at a test
host) and test_binder.py (the Binder environment built as a non-root user,
``pm-node`` made by binder/start).  In the second case this file runs inside
that environment, as a script, so it imports only nbclient and nbformat:

    python gallery.py run NOTEBOOK_DIR OUT_DIR    # execute each, write OUT_DIR/NAME.ipynb

Checks, for every notebook (including ones this file knows nothing about):
no error output except in a cell tagged ``raises-exception``, and such a cell
really fails; every widget shown has its state saved in the notebook.  For
the gallery's own notebooks, their key cells (found by cell id) must show
the right results, and their maps must have displayed progress widgets.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from typing import Callable

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
RAISES = "raises-exception"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOK_DIR = os.path.join(ROOT, "notebooks")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def notebooks(folder: str = NOTEBOOK_DIR) -> list[str]:
    """Every notebook of the gallery (not the executed copies ``make demo`` writes)."""
    return sorted(n for n in os.listdir(folder) if n.endswith(".ipynb")
                  and not n.endswith((".out.ipynb", ".executed.ipynb")))


def execute(path: str, out: str, timeout: float = 300) -> float:
    """Run ``path`` in a fresh python3 kernel in its folder; write it to ``out``
    (also when a cell fails, then re-raise); return the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(path)}})
    start = time.monotonic()
    try:
        client.execute()     # starts the kernel, runs every cell, shuts it down
    finally:
        nbformat.write(nb, out)
    return time.monotonic() - start


def run_all(folder: str, out_dir: str) -> int:
    """``python gallery.py run``: execute each notebook; a summary as JSON."""
    summary = {}
    for name in notebooks(folder):
        try:
            took = execute(os.path.join(folder, name), os.path.join(out_dir, name))
            summary[name] = {"ok": True, "seconds": round(took, 1)}
        except Exception:                       # reported, then the next one
            summary[name] = {"ok": False, "error": traceback.format_exc()[-3000:]}
        print(name, json.dumps(summary[name])[:3000], flush=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0


# ---------------------------------------------------------------- reading outputs

def text(cell) -> str:
    """What a cell showed, as text (streams, results, errors, widgets' text)."""
    parts: list[str] = []
    streamed = False
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            # one print may arrive in pieces (the kernel flushes its stream
            # on a timer): consecutive stream outputs are one text
            if streamed:
                parts[-1] += out["text"]
            else:
                parts.append(out["text"])
            streamed = True
            continue
        streamed = False
        if out["output_type"] == "error":
            parts.append(_ANSI.sub("", "\n".join(out["traceback"])))
            parts.append(f"{out['ename']}: {out['evalue']}")
        else:
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def widget_texts(cell) -> list[str]:
    """The text line of each widget a cell displayed."""
    return [out["data"].get("text/plain", "") for out in cell.get("outputs", [])
            if VIEW in out.get("data", {})]


def cell(nb, cell_id: str):
    for c in nb.cells:
        if c.get("id") == cell_id:
            return c
    raise AssertionError(f"no cell with id {cell_id!r}")


def _errors(c) -> list:
    return [o for o in c.get("outputs", []) if o["output_type"] == "error"]


def check_generic(nb, name: str) -> None:
    """What every notebook must satisfy."""
    states = nb.metadata.get("widgets", {}).get(STATE, {}).get("state", {})
    for n, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        where = f"{name} cell {n} ({c.get('id')}): {c.source.splitlines()[:1]}"
        errors = _errors(c)
        if RAISES in c.metadata.get("tags", []):
            assert errors, f"{where} is tagged {RAISES} but raised nothing"
        else:
            assert not errors, f"{where} failed: {text(c)[-2000:]}"
        for out in c.get("outputs", []):
            if VIEW in out.get("data", {}):
                model = out["data"][VIEW]["model_id"]
                assert model in states, f"{where}: widget {model} has no saved state"


# ---------------------------------------------------------------- per notebook

def _check_quickstart(nb) -> None:
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "([0, 1, 4, 9, 16], 100)" in text(code[1])
    assert any("100/100" in t for t in widget_texts(code[1]))


def _check_remote(nb) -> None:
    assert re.search(r"pm-node: \d+ CPUs, Python 3\.", text(cell(nb, "host")))
    assert "hello from" in text(cell(nb, "fetch"))
    tunnels = text(cell(nb, "tunnels"))
    assert "pm-node" in tunnels and "open" in tunnels
    assert "closed the tunnel" in text(cell(nb, "close"))
    assert "3 workers" in text(cell(nb, "pool"))
    mapped = text(cell(nb, "map"))
    assert "[0, 1, 8, 27, 64] 300" in mapped
    assert "'pm-node-0'" in mapped and "'local-0'" in mapped
    assert any("300/300" in t for t in widget_texts(cell(nb, "map")))
    lost = cell(nb, "lost")
    assert "all results right: True" in text(lost)
    bars = widget_texts(lost)
    assert any("1000/1000" in t for t in bars), bars
    assert any(re.search(r"pm-node-\d+ \d+ lost", t) for t in bars), bars
    back = re.search(r"workers now: (\[.*\])", text(cell(nb, "back"))).group(1)
    assert back.count("'pm-node-") >= 2, back


def _check_mpi(nb) -> None:
    mapped = text(cell(nb, "map"))
    assert "longest: 382 steps, for n = 156159" in mapped        # Collatz, n <= 200000
    ranks = re.search(r"items per rank: \{(.*)\}", mapped).group(1)
    assert re.fullmatch(r"1: \d+, 2: \d+", ranks), ranks          # both worker ranks
    assert any("200000/200000" in t for t in widget_texts(cell(nb, "map")))
    api = text(cell(nb, "api"))
    assert "[1024, 59049, 1048576]" in api and "(3, 2)" in api
    assert "2 workers" in text(cell(nb, "magic"))
    assert "[0, 1, 4, 9, 16, 25" in text(cell(nb, "pmap"))


def _check_progress_and_errors(nb) -> None:
    assert any("200/200" in t for t in widget_texts(cell(nb, "bar")))
    assert "[394, 396, 398]" in text(cell(nb, "bar"))
    output = text(cell(nb, "output"))
    assert re.search(r"\[local-\d\] checkpoint at item 0", output), output
    assert re.search(r"\[local-\d\] checkpoint at item 8", output), output
    fails = cell(nb, "fails")
    assert _errors(fails)[0]["ename"] == "ZeroDivisionError"
    assert "task 150" in text(fails)
    assert any("failed" in t and "ZeroDivisionError" in t for t in widget_texts(fails))
    assert "caught ZeroDivisionError" in text(cell(nb, "caught"))
    pmap = text(cell(nb, "pmap_fails"))
    assert "task 2 (item 0)" in pmap and "ratio = 8 / x" in pmap
    interrupt = cell(nb, "interrupt")
    assert _errors(interrupt)[0]["ename"] == "KeyboardInterrupt"
    assert any("cancelled" in t for t in widget_texts(interrupt))
    after = text(cell(nb, "after"))
    assert "[1, 2, 3]" in after and "2 workers" in after
    styles = {m["state"].get("bar_style") for m in
              nb.metadata["widgets"][STATE]["state"].values()
              if m["model_name"] in ("IntProgressModel", "FloatProgressModel")}
    assert {"success", "danger"} <= styles, styles


def _check_from_pathos(nb) -> None:
    pools = text(cell(nb, "pools"))
    for line in ("[1, 32, 729]", "[1, 32, 729]", "1024"):
        assert line in pools, pools
    faces = text(cell(nb, "faces"))
    assert "[101, 102]" in faces and "[0, 1, 4, 9, 16, 25]" in faces and "[32, 9]" in faces
    assert _errors(cell(nb, "chunksize"))[0]["ename"] == "ValueError"
    assert "[1, 16]" in text(cell(nb, "with")) and "after the block: cleared" in text(cell(nb, "with"))


SPECIFIC: dict[str, Callable] = {
    "quickstart": _check_quickstart,
    "remote": _check_remote,
    "mpi": _check_mpi,
    "progress_and_errors": _check_progress_and_errors,
    "from_pathos": _check_from_pathos,
}


def check(nb, name: str) -> None:
    """Every check that applies to notebook ``name`` (e.g. 'remote.ipynb')."""
    check_generic(nb, name)
    specific = SPECIFIC.get(name[:-len(".ipynb")])
    if specific is not None:
        specific(nb)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "run":
        sys.exit(f"usage: {sys.argv[0]} run NOTEBOOK_DIR OUT_DIR")
    sys.exit(run_all(sys.argv[2], sys.argv[3]))
