"""Run cells in a real kernel (nbclient), as the kernel tests need."""
from __future__ import annotations

from pathlib import Path


def execute(cells: list[str], path: Path):
    """A notebook of ``cells``, executed in a fresh python3 kernel whose
    working directory is ``path``; the kernel is shut down on return."""
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(path)}})
    client.execute()        # starts the kernel, runs every cell, shuts it down
    return nb


def cell_text(cell) -> str:
    """What a cell showed: its streams, tracebacks and text/plain results."""
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
        else:
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)
