"""``make demo``: run the quickstart notebook headlessly and summarise it.

    python -m pathos_magics.demo notebooks/quickstart.ipynb   # execute, write .out.ipynb
    python -m pathos_magics.demo --table                      # no notebook: a speedup table

The notebook runs in a real IPython kernel (nbclient); the executed copy is
written next to it as ``NAME.out.ipynb`` (ignored by git).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _busy(n: int) -> int:
    """About 20 ms of pure-Python work."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def speedup_table() -> None:
    """Map a CPU-bound function over each local pool; print time and speedup."""
    from .pools import ProcessPool, SerialPool, ThreadPool, cpu_count

    tasks, size = 32, 200_000
    nodes = max(2, cpu_count())
    print(f"mapping a CPU-bound function over {tasks} tasks; {cpu_count()} CPUs here\n")
    print(f"{'pool':<28}{'time (s)':>10}{'speedup':>10}")
    serial_time = None
    expected = None
    for pool in (SerialPool(), ThreadPool(nodes), ProcessPool(nodes)):
        pool.map(_busy, [10] * nodes)                 # warm up the workers
        start = time.perf_counter()
        result = pool.map(_busy, [size] * tasks)
        took = time.perf_counter() - start
        expected = expected or result
        if result != expected:
            raise RuntimeError(f"{pool!r} returned different results than serial")
        serial_time = serial_time or took
        print(f"{repr(pool):<28}{took:>10.3f}{serial_time / took:>9.2f}x")
        pool.clear()
    print("\nthreads share one GIL, so pure-Python work needs processes;"
          " the speedup of processes is bounded by the CPUs above.")


def run_notebook(path: str, timeout: float = 300) -> Any:
    """Execute ``path`` in a fresh kernel; write NAME.out.ipynb; return the notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    folder = os.path.dirname(os.path.abspath(path))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": folder}})
    client.execute()
    out = os.path.splitext(path)[0] + ".out.ipynb"
    nbformat.write(nb, out)
    return nb, out


def summarise(nb: Any) -> list[str]:
    """One line per code cell: its first line, and what it showed."""
    lines = []
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        head = cell.source.splitlines()[0] if cell.source else ""
        shown = []
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                shown.append(f"error {out.ename} (expected)"
                             if "raises-exception" in cell.metadata.get("tags", [])
                             else f"ERROR {out.ename}: {out.evalue}")
            elif _WIDGET_VIEW in out.get("data", {}):
                text = out["data"].get("text/plain", "progress widget")
                shown.append(f"widget: {text.strip()[:90]}")
            elif "text/plain" in out.get("data", {}):
                shown.append(out["data"]["text/plain"].splitlines()[0][:90])
            elif out.output_type == "stream":
                shown.append(out.text.strip().splitlines()[-1][:90] if out.text.strip() else "")
        lines.append(f"[{n + 1}] {head[:40]:<40} -> " + ("; ".join(s for s in shown if s) or "ok"))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathos_magics.demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", help="a notebook to execute")
    parser.add_argument("--table", action="store_true",
                        help="print the local pools' speedup table instead")
    args = parser.parse_args(argv)
    if args.table or not args.notebook:
        speedup_table()
        return 0
    start = time.perf_counter()
    nb, out = run_notebook(args.notebook)
    print(f"executed {args.notebook} in a real kernel in "
          f"{time.perf_counter() - start:.1f}s; output written to {out}\n")
    print("\n".join(summarise(nb)))
    states = nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    print(f"\n{len(states)} widget models saved; open {out} in JupyterLab to see them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
