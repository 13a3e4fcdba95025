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
