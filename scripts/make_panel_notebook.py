"""Write notebooks/panel.ipynb (kept in git; run again after editing here)."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell(
        "# The host picker panel\n\n"
        "`%pathos panel` lists the hosts of `~/.ssh/config` (Host entries without "
        "wildcards) and of the host registry. Check hosts, click **Test** to try "
        "one, **Start** to make a pool of the checked hosts the active pool, "
        "**Stop** to stop it. Clicks reach the kernel only while it is idle.\n\n"
        "This tour clicks the buttons from code (`button.click()`), so it runs "
        "unattended; in a notebook you click them. It uses the first two hosts "
        "of your ssh config."),
    new_code_cell("%load_ext pathos_magics\n"
                  "from pathos_magics import panel\n"
                  "p = panel()\n"
                  "p"),
    new_markdown_cell("**Test** connects as a pool would (same ssh config, keys and "
                      "known_hosts) and asks the host's Python for its version and cores. "
                      "An unknown host key is refused, with what to do about it."),
    new_code_cell("hosts = p.model.aliases[:2]\n"
                  "for alias in hosts:\n"
                  "    p.widget.row(alias).test.click()     # returns at once\n"
                  "p.model.wait(60)\n"
                  "for row in p.model.state().rows[:2]:\n"
                  "    print(row.alias, '|', row.message)"),
    new_markdown_cell("Check the hosts (one worker each here) and **Start**: the pool "
                      "becomes the active pool, so `Pool()` and `%%pmap` use it."),
    new_code_cell("for alias in hosts:\n"
                  "    p.widget.row(alias).check.value = True\n"
                  "    p.widget.row(alias).workers.value = 1\n"
                  "p.widget.start.click()\n"
                  "p.model.wait(120)\n"
                  "print(p.model.state().pool)\n"
                  "print(p.model.state().message)"),
    new_markdown_cell("The panel shows the equivalent code, to re-run a notebook "
                      "without it:"),
    new_code_cell("print(p.model.code())"),
    new_code_cell("%%pmap -o squares x in range(60)\n"
                  "import time\n"
                  "time.sleep(0.02)\n"
                  "x * x"),
    new_markdown_cell("While maps run each row counts its workers and tasks done:"),
    new_code_cell("for row in p.model.state().rows[:2]:\n"
                  "    print(row.alias, '|', row.live.text())\n"
                  "sum(squares)"),
    new_markdown_cell("**Stop** stops the workers and servers on the hosts."),
    new_code_cell("p.widget.stop.click()\n"
                  "p.model.wait(60)\n"
                  "print(p.model.state().pool)"),
]
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
nbformat.write(nb, "notebooks/panel.ipynb")
print("wrote notebooks/panel.ipynb")
