"""Write notebooks/quickstart.ipynb (kept in git; run again after editing here)."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell(
        "# pathos_magics quick start\n\n"
        "Serial code in cells, made parallel by choosing a pool. Run all cells: "
        "each map shows a live progress bar while it runs."),
    new_code_cell("%load_ext pathos_magics\n%pathos pool process 2"),
    new_markdown_cell("`Pool()` is the active pool. Functions defined here travel to the workers."),
    new_code_cell(
        "import time\n\n"
        "def slow_square(x):\n"
        "    time.sleep(0.02)\n"
        "    return x * x\n\n"
        "from pathos_magics import Pool\n"
        "squares = Pool().map(slow_square, range(100))\n"
        "squares[:5], len(squares)"),
    new_markdown_cell(
        "`%%pmap` maps a cell over an iterable: the loop variable is bound per item, "
        "the last expression is the item's result. Names from the notebook "
        "(here a lambda and a closure over `offset`) are shipped, only those the body uses."),
    new_code_cell(
        "offset = 100\n"
        "cube = lambda v: v ** 3\n\n"
        "def shifted(v):\n"
        "    return v + offset"),
    new_code_cell(
        "%%pmap -o results x in range(40)\n"
        "time.sleep(0.03)\n"
        "shifted(cube(x))"),
    new_code_cell("results[:5]"),
    new_markdown_cell("An item that fails names itself and shows the failing line of the cell."),
    new_code_cell("%%pmap x in [4, 2, 0, 1]\nratio = 8 / x\nratio",
                  metadata={"tags": ["raises-exception"]}),
    new_code_cell("%pathos status"),
]
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
nbformat.write(nb, "notebooks/quickstart.ipynb")
print("wrote notebooks/quickstart.ipynb")
