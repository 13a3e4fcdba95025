"""Write the gallery notebooks this script owns into notebooks/, executed.

    python scripts/make_gallery.py              # write and execute all of them
    python scripts/make_gallery.py mpi          # only notebooks/mpi.ipynb
    python scripts/make_gallery.py --no-execute # write them without outputs

The notebooks are kept in git WITH their outputs and widget state, so a reader
sees the progress bars in JupyterLab (and their text line on GitHub) before
running anything.  Executing needs what the notebooks use: MPI (the mpich
wheel) and the ssh host ``pm-node``.  As a non-root user, ``binder/start``
makes one:

    binder/start python scripts/make_gallery.py

Key cells carry an ``id``; tests/integration/gallery.py checks their outputs
by it.  A cell that shows an error on purpose carries the tag
``raises-exception``.
"""
from __future__ import annotations

import argparse
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")
RAISES = {"tags": ["raises-exception"]}

# One small exception whose message IPython shows without a traceback
# (IPython renders an exception by its _render_traceback_ when it has one).
_STOP_CLASS = (
    "class SkipNotebook(Exception):\n"
    "    \"\"\"Stops 'Run all' here with a message and no traceback.\"\"\"\n"
    "    def _render_traceback_(self):\n"
    "        return [str(self)]\n")


def _code(source: str, cell_id: str | None = None, **kwds) -> nbformat.NotebookNode:
    cell = new_code_cell(source, **kwds)
    if cell_id:
        cell.id = cell_id
    return cell


# ---------------------------------------------------------------- remote

REMOTE = [
    new_markdown_cell(
        "# Workers on another machine, over ssh\n\n"
        "These cells use one ssh host, named by the alias **`pm-node`**:\n\n"
        "- **On Binder**, `binder/start` runs a private `sshd` on 127.0.0.1 and "
        "writes `Host pm-node` into `~/.ssh/config` and its key into "
        "`~/.ssh/known_hosts`: a real ssh host, even though it is this same "
        "container.\n"
        "- **In CI**, the tests point `pm-node` at a test host in its own "
        "network namespace.\n"
        "- **On your machine**, name a host you reach with an ssh key:\n\n"
        "  ```\n  Host pm-node\n      HostName node1.example.org\n      User you\n  ```\n\n"
        "  and connect once with `ssh pm-node` so its host key is in "
        "`~/.ssh/known_hosts` (unknown keys are refused). The host needs "
        "`python3` of this kernel's major.minor version; if pathos_magics is "
        "missing there, a private copy is sent over SFTP.\n\n"
        "Without such a host the first cell says so and stops."),
    _code('HOST = "pm-node"\n\n'
          "from pathos_magics import ssh\n\n" + _STOP_CLASS + "\n"
          "if ssh.resolve(HOST).hostname == HOST:\n"
          "    raise SkipNotebook(f\"No ssh host {HOST!r} is configured: add a 'Host {HOST}' \"\n"
          "                       \"entry to ~/.ssh/config (see above) and run this notebook \"\n"
          "                       \"again. The rest of it is skipped.\")\n"
          "try:\n"
          "    cpus = ssh.Pipe(HOST).run([\"nproc\"], check=True).stdout.strip()\n"
          "    python = ssh.Pipe(HOST).run([\"python3\", \"--version\"], check=True).stdout.strip()\n"
          "except ssh.SSHError as exc:\n"
          "    raise SkipNotebook(f\"{HOST} is configured but not reachable: {exc}\") from None\n"
          "print(f\"{HOST}: {cpus} CPUs, {python}\")", "host"),
    new_markdown_cell(
        "## A tunnel to a service on the host\n\n"
        "A service that listens only on the host's loopback (a dashboard, a "
        "Jupyter server, a database) is reached through an ssh tunnel. Here "
        "we start a small web server on `pm-node`, on a port it picks, serving "
        "one file from a fresh folder; `ssh.Pipe(...).stream` runs it and "
        "gives us its output lines."),
    _code("script = ('d=$(mktemp -d) && echo \"hello from $(uname -n)\" > \"$d/hello.txt\" && '\n"
          "          'echo \"$$ $d\" && '\n"
          "          'exec python3 -u -m http.server 0 --bind 127.0.0.1 --directory \"$d\"')\n"
          "web = ssh.Pipe(HOST).stream([\"sh\", \"-c\", script], timeout=600)\n"
          "lines = (text for stream, text in web if stream == \"stdout\")\n"
          "pid, folder = next(lines).split()\n"
          "port = int(next(lines).split(\" port \")[1].split()[0])   # 'Serving HTTP on ... port P ...'\n"
          "print(f\"web server on {HOST}: 127.0.0.1:{port} (pid {pid})\")", "web"),
    new_markdown_cell("`%pathos tunnel HOST:PORT` forwards a local port to that port "
                      "on the host, and returns the tunnel:"),
    _code("%load_ext pathos_magics\n"
          "tunnel = %pathos tunnel {HOST}:{port}", "tunnel"),
    _code("import urllib.request\n\n"
          "url = f\"http://127.0.0.1:{tunnel.local_port}/hello.txt\"\n"
          "urllib.request.urlopen(url, timeout=10).read().decode()", "fetch"),
    _code("%pathos tunnels", "tunnels"),
    new_markdown_cell("Close the tunnel and stop the web server (by its pid):"),
    _code("%pathos tunnel --close {HOST}:{port}\n"
          "ssh.Pipe(HOST).run([\"sh\", \"-c\", f\"kill {pid} && rm -r {folder}\"], check=True)\n"
          "web.close()", "close"),
    new_markdown_cell(
        "## A pool with workers on the host\n\n"
        "`%pathos pool remote HOST:N --local M` makes the active pool: N "
        "workers on the host (a `pathos_magics.server` started there over "
        "ssh, bound to its 127.0.0.1 and reached through the ssh connection) "
        "and M local processes, all fed by one scheduler. Functions defined "
        "here travel to the host by value."),
    _code("%pathos pool remote {HOST}:2 --local 1", "pool"),
    _code("import collections, time\n"
          "from pathos_magics import Pool, events\n\n"
          "def slow_cube(x):\n"
          "    time.sleep(0.01)\n"
          "    return x ** 3\n\n"
          "done_by = collections.Counter()\n\n"
          "def count(event):\n"
          "    if isinstance(event, events.TasksDone):\n"
          "        done_by[event.worker] += event.count\n\n"
          "Pool().subscribe(count)\n"
          "cubes = Pool().map(slow_cube, range(300))\n"
          "Pool().unsubscribe(count)\n"
          "print(cubes[:5], len(cubes))\n"
          "print(\"tasks per worker:\", dict(sorted(done_by.items())))", "map"),
    new_markdown_cell(
        "## A host lost in the middle of a map\n\n"
        "Hosts fail: a reboot, a dropped link, the out-of-memory killer. Below, "
        "we start a map in the background (`amap`) and, as soon as `pm-node` has "
        "sent results back, kill its workers and their worker server by pid, as a "
        "crash would. The tasks they held go to the other workers, the pool "
        "starts new workers on the host if it can still reach it (here it can: "
        "its sshd is up), and the map returns every result; the bar lists the "
        "lost workers."),
    _code("import threading\n\n"
          "def pids_on(host):\n"
          "    \"\"\"The pids of our workers on `host` and of their worker server (their parent).\"\"\"\n"
          "    workers = [str(w.pid) for w in Pool().workers if w.host == host]\n"
          "    ps = ssh.Pipe(host).run([\"ps\", \"-o\", \"ppid=\", \"-p\", workers[0]], check=True)\n"
          "    return [ps.stdout.strip(), *workers]\n\n"
          "host_working = threading.Event()\n\n"
          "def watch(event):\n"
          "    count(event)\n"
          "    if isinstance(event, events.TasksDone) and event.worker.startswith(HOST):\n"
          "        host_working.set()\n\n"
          "victims = pids_on(HOST)\n"
          "done_by.clear()\n"
          "Pool().subscribe(watch)\n"
          "result = Pool().amap(slow_cube, range(1000))     # the map runs in the background\n"
          "host_working.wait(60)                            # pm-node has sent results back\n"
          "ssh.Pipe(HOST).run([\"kill\", \"-9\", *victims], check=True)    # the crash\n"
          "cubes = result.get(timeout=120)\n"
          "Pool().unsubscribe(watch)\n"
          "print(\"all results right:\", cubes == [x ** 3 for x in range(1000)])\n"
          "print(\"tasks per worker:\", dict(sorted(done_by.items())))\n"
          "print(\"workers now:\", sorted(w.label for w in Pool().workers))", "lost"),
    new_markdown_cell("A host that cannot be reached at once is tried again in the "
                      "background from the next map on (which starts on the workers "
                      "there are). Two workers on pm-node again:"),
    _code("Pool().map(abs, range(10))\n"
          "deadline = time.monotonic() + 30\n"
          "while [w.host for w in Pool().workers].count(HOST) < 2 and time.monotonic() < deadline:\n"
          "    time.sleep(0.1)\n"
          "print(\"workers now:\", sorted(w.label for w in Pool().workers))", "back"),
    new_markdown_cell("`%pathos clear` stops every worker, here and on the host:"),
    _code("%pathos clear", "clear"),
]

# ---------------------------------------------------------------- mpi

MPI = [
    new_markdown_cell(
        "# MPI: the same map on an MPI job\n\n"
        "`MpiPool(nodes=N)` starts `mpiexec -n N+1 python -m pathos_magics.mpi`: "
        "one rank relays, N ranks work, and the job talks to this kernel over "
        "one connection. MPI comes from the `mpich` wheel (`pip install "
        "'pathos_magics[mpi]'`; Binder has it), so no system MPI is needed. "
        "The API is the one of every pool."),
    _code("import importlib.util\n\n" + _STOP_CLASS + "\n"
          "if importlib.util.find_spec(\"mpi4py\") is None:\n"
          "    raise SkipNotebook(\"mpi4py is not installed here: pip install \"\n"
          "                       \"'pathos_magics[mpi]' and run this notebook again.\")\n\n"
          "from pathos_magics.pools import MpiPool\n"
          "pool = MpiPool(nodes=2)\n"
          "pool", "pool"),
    new_markdown_cell("A function defined here, mapped over the job's ranks; each "
                      "result says which rank computed it."),
    _code("import collections\n\n"
          "def collatz_steps(n):\n"
          "    from mpi4py import MPI\n"
          "    steps = 0\n"
          "    while n > 1:\n"
          "        n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
          "        steps += 1\n"
          "    return steps, MPI.COMM_WORLD.Get_rank()\n\n"
          "results = pool.map(collatz_steps, range(1, 200_001))\n"
          "steps = [s for s, _ in results]\n"
          "print(\"longest:\", max(steps), \"steps, for n =\", steps.index(max(steps)) + 1)\n"
          "print(\"items per rank:\", dict(sorted(collections.Counter(r for _, r in results).items())))",
          "map"),
    new_markdown_cell("`amap`, `imap`, `uimap` and `pipe` work as on every pool:"),
    _code("async_result = pool.amap(pow, [2, 3, 4], [10, 10, 10])\n"
          "print(async_result.get(timeout=60))\n"
          "print(sorted(pool.uimap(abs, range(-3, 3))))\n"
          "print(pool.pipe(divmod, 17, 5))", "api"),
    new_markdown_cell("From the magics: `%pathos pool mpi N` makes an MPI job the "
                      "active pool, and `%%pmap` maps a cell over it."),
    _code("%load_ext pathos_magics\n%pathos pool mpi 2", "magic"),
    _code("%%pmap -o squares x in range(12)\nx * x", "pmap"),
    _code("%pathos clear\n"
          "pool.clear()", "clear"),
]

# ---------------------------------------------------------------- progress

PROGRESS = [
    new_markdown_cell(
        "# Progress and errors: a tour of the widget\n\n"
        "Every map that runs longer than about half a second shows a live "
        "widget: done/total, rate, time left, what each worker is doing, and "
        "failures; it turns red on an error. The same widget carries a plain "
        "text line, which is what you see where widgets are not shown (GitHub, "
        "a terminal)."),
    _code("%load_ext pathos_magics\n%pathos pool process 2", "pool"),
    _code("import time\nfrom pathos_magics import Pool\n\n"
          "def slow_double(x):\n"
          "    time.sleep(0.01)\n"
          "    return 2 * x\n\n"
          "doubled = Pool().map(slow_double, range(200))\n"
          "doubled[-3:]", "bar"),
    new_markdown_cell("## Worker output\n\n`print` on a worker comes back to the cell "
                      "as whole lines, marked with the worker that wrote them."),
    _code("def noisy(x):\n"
          "    time.sleep(0.1)\n"
          "    if x % 4 == 0:\n"
          "        print(f\"checkpoint at item {x}\")\n"
          "    return x\n\n"
          "_ = Pool().map(noisy, range(12))", "output"),
    new_markdown_cell(
        "## Failing items\n\n"
        "A task that raises makes the map raise the same exception here, with "
        "the worker's traceback; the bar turns red and counts the failure. "
        "(This cell fails on purpose: it carries the `raises-exception` tag.)"),
    _code("def reciprocal(x):\n"
          "    time.sleep(0.01)\n"
          "    return 1 / (x - 150)\n\n"
          "Pool().map(reciprocal, range(200))", "fails", metadata=RAISES),
    new_markdown_cell("It is an ordinary exception, to catch like any other:"),
    _code("try:\n"
          "    Pool().map(reciprocal, range(200))\n"
          "except ZeroDivisionError as exc:\n"
          "    print(f\"caught {type(exc).__name__}: {exc}\")", "caught"),
    new_markdown_cell(
        "With `%%pmap`, a failing item names its index and value, and shows the "
        "line of the cell that failed:"),
    _code("%%pmap x in [4, 2, 0, 1]\nratio = 8 / x\nratio", "pmap_fails", metadata=RAISES),
    new_markdown_cell(
        "## An interrupt\n\n"
        "The stop button (■, *Kernel > Interrupt*) sends the kernel SIGINT. "
        "Every worker stops its task within about a second, the map raises "
        "`KeyboardInterrupt`, and the pool stays ready. Here a timer presses "
        "the button for you after one second (so the cell ends in an error, "
        "on purpose)."),
    _code("import signal, threading\n\n"
          "def press_stop():\n"
          "    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)\n\n"
          "threading.Timer(1.0, press_stop).start()\n"
          "Pool().map(time.sleep, [5] * 8)", "interrupt", metadata=RAISES),
    _code("print(Pool().map(abs, [-1, -2, -3]))   # the same workers, ready for the next map\n"
          "%pathos status", "after"),
    _code("%pathos clear", "clear"),
]

# ---------------------------------------------------------------- from pathos

FROM_PATHOS = [
    new_markdown_cell(
        "# Coming from pathos\n\n"
        "A pathos script runs here after changing only its imports: `pathos` becomes "
        "`pathos_magics`. Below, a typical pathos program (its lines as the pathos "
        "documentation writes them), then what the notebook adds. No pathos, ppft or "
        "pyina is installed: these are the same pools as `pathos_magics.pools`, under "
        "pathos's module names.\n\n"
        "```diff\n"
        "- from pathos.multiprocessing import ProcessingPool as Pool\n"
        "+ from pathos_magics.multiprocessing import ProcessingPool as Pool\n"
        "```"),
    _code("from pathos_magics.multiprocessing import ProcessingPool as Pool\n"
          "from pathos_magics.helpers import cpu_count, freeze_support, shutdown\n\n"
          "def power(x, y):\n"
          "    return x ** y\n\n"
          "freeze_support()\n"
          "pool = Pool(nodes=2)\n"
          "print(pool.map(power, [1, 2, 3], [4, 5, 6]))\n"
          "print(list(pool.imap(power, [1, 2, 3], [4, 5, 6])))\n"
          "print(sorted(pool.uimap(power, [1, 2, 3], [4, 5, 6])))\n"
          "result = pool.amap(power, [1, 2, 3], [4, 5, 6])\n"
          "print(result.get(timeout=60))\n"
          "print(pool.pipe(power, 2, 10))\n"
          "pool.close()\n"
          "pool.join()\n"
          "pool.clear()", "pools"),
    new_markdown_cell(
        "Lambdas, closures and classes defined in the notebook travel to the workers "
        "(dill), as with pathos; threads and pathos's map classes too:"),
    _code("from pathos_magics.threading import ThreadPool\n"
          "from pathos_magics.maps import Amap, Map\n"
          "from pathos_magics.pools import ProcessPool\n\n"
          "offset = 100\n"
          "class Point:\n"
          "    def __init__(self, x):\n"
          "        self.x = x\n"
          "    def shifted(self):\n"
          "        return self.x + offset\n\n"
          "print(ThreadPool(2).map(lambda p: p.shifted(), [Point(1), Point(2)]))\n"
          "square = Map(ProcessPool, 2)\n"
          "print(square(lambda x: x * x, range(6)))\n"
          "print(Amap(ProcessPool, 2)(pow, [2, 3], [5, 2]).get())", "faces"),
    new_markdown_cell(
        "## Where pathos_magics differs on purpose\n\n"
        "- `chunksize` must be a positive int (pathos's `map(..., chunksize=0)` "
        "silently returns `[None, ...]`): the next cell shows the error on purpose.\n"
        "- A `with` block clears its pool at the end.\n"
        "- `servers=` of `ParallelPool`: `'host:port'` is a running server's address; "
        "a worker count per ssh host is `{'node2': 8}`.\n\n"
        "The README's *Coming from pathos* section lists every difference."),
    _code("pool = Pool(nodes=2)\n"
          "pool.map(power, [1, 2], [3, 4], chunksize=0)", "chunksize", metadata=RAISES),
    _code("with Pool(nodes=2) as pool:\n"
          "    print(pool.map(power, [1, 2], [3, 4], chunksize=1))\n"
          "print('after the block:', pool.state)\n"
          "shutdown()", "with"),
]

GALLERY = {"remote": REMOTE, "mpi": MPI, "progress_and_errors": PROGRESS,
           "from_pathos": FROM_PATHOS}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` of the gallery, without outputs."""
    return new_notebook(cells=GALLERY[name], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3",
                       "language": "python"},
        "language_info": {"name": "python"}})


def execute(nb: nbformat.NotebookNode, timeout: float = 300) -> None:
    """Run ``nb`` in a fresh python3 kernel in notebooks/ (widget state kept)."""
    from nbclient import NotebookClient
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": NOTEBOOKS}})
    client.execute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which notebooks: {', '.join(GALLERY)} (default: all)")
    parser.add_argument("--no-execute", action="store_true")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(GALLERY)
    if unknown:
        parser.error(f"no gallery notebook {', '.join(sorted(unknown))}; "
                     f"choose from {', '.join(GALLERY)}")
    for name in args.names or list(GALLERY):
        nb = build(name)
        if not args.no_execute:
            execute(nb)
        path = os.path.join(NOTEBOOKS, f"{name}.ipynb")
        nbformat.write(nb, path)
        print(f"wrote {os.path.relpath(path, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
