"""The architecture, checked: every import points down, no cycles, no private
names across modules, and the host's server loads only what a worker needs.

Read from the source (every import statement, module level or not), so a
lazy import inside a function counts as much as one at the top.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pathos_magics

PACKAGE = Path(pathos_magics.__file__).parent
NAME = "pathos_magics"

#: Bottom first.  A module may import its own layer and those below it.
LAYERS = [
    ("errors", "system", "wire", "pages", "inherit", "events", "procstate", "classes", "unpicklable"),
    ("serialize",),
    ("worker", "tracebacks"),
    ("ssh",),                                   # the toolkit: knows nothing of pools
    ("transports",),
    ("hosts",),
    ("scheduler", "abstract_launcher"),
    ("pools",),
    ("server", "mpi", "helpers", "active", "status", "demo",
     "multiprocessing", "threading", "serial", "parallel", "maps",    # pathos's names
     "connection", "secure", "core", "selector", "cli", "profstats", "profile"),
    ("progress", "hostpanel"),                 # the notebook front starts here
    ("parsing", "pmap", "magics"),
    ("",),                                      # the package's face
]
FRONT = next(i for i, names in enumerate(LAYERS) if "progress" in names)


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((NAME,) + parts)] = path
    return found


MODULES = _modules()


def _targets(module: str, path: Path, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level == 0:
        base = node.module or ""
    else:
        base = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        base = f"{base}.{node.module}" if node.module else base
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
            for a in node.names]


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(_targets(module, path, node))
        graph[module] = deps
    return graph


GRAPH = _imports()


def _own(target: str) -> str:
    """The package module a dotted import target lands in."""
    while target not in MODULES and "." in target:
        target = target.rpartition(".")[0]
    return target


def _layer(module: str) -> int:
    rest = module[len(NAME) + 1:] if module != NAME else ""
    top = rest.split(".")[0]
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)            # raises StopIteration for a module nobody placed


def test_every_import_points_down():
    upward = [(m, t) for m, deps in GRAPH.items() for t in deps
              if t.startswith(NAME) and _layer(_own(t)) > _layer(m)]
    assert upward == []


def test_nothing_below_the_front_imports_ipython_or_ipywidgets():
    found = [(m, t) for m, deps in GRAPH.items() for t in deps
             if t.split(".")[0] in ("IPython", "ipywidgets", "ipykernel")
             and _layer(m) < FRONT]
    assert found == []


def test_the_ssh_toolkit_knows_nothing_of_pools():
    ssh = {m: deps for m, deps in GRAPH.items() if m.startswith(f"{NAME}.ssh")}
    for module, deps in ssh.items():
        own = {_own(t) for t in deps if t.startswith(NAME)}
        assert all(t.startswith(f"{NAME}.ssh") or t == f"{NAME}.errors" for t in own), module


def test_no_import_cycles():
    graph = {m: {_own(t) for t in deps if t.startswith(NAME)} - {m}
             for m, deps in GRAPH.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, path: list[str]) -> bool:
        state[m] = 1
        for t in graph.get(m, ()):
            if state.get(t) == 1:
                cycle.extend(path[path.index(t):] + [m, t] if t in path else [m, t])
                return True
            if t not in state and visit(t, path + [m]):
                return True
        state[m] = 2
        return False

    for m in graph:
        if m not in state and visit(m, []):
            break
    assert cycle == []


def test_no_private_name_is_imported_across_modules():
    found = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or
                                                     (node.module or "").startswith(NAME)):
                found += [(module, a.name) for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []


@pytest.mark.parametrize("entry, allowed", [
    ("pathos_magics.server", ("server", "system", "transports", "transports.ssh",
                              "transports.ssh.protocol", "transports.ssh.server",
                              "transports.ssh.throttle")),
    ("pathos_magics.mpi", ("mpi", "transports", "transports.mpi",
                           "transports.mpi.protocol", "transports.mpi.shm",
                           "transports.mpi.job")),
])
def test_entry_points_load_only_their_side(entry, allowed):
    code = (f"import sys, {entry}; print(' '.join(sorted(m for m in sys.modules "
            f"if m.startswith('{NAME}.') or m in ('paramiko', 'IPython'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60).stdout.split()
    assert sorted(loaded) == sorted(f"{NAME}.{m}" for m in allowed)


def test_the_package_folder_itself_is_never_put_on_a_path():
    # its threading.py, profile.py, ... would shadow the stdlib's in the
    # processes we start (MPI ranks get this PYTHONPATH)
    from pathos_magics.transports.mpi.launcher import Launcher
    paths = Launcher().environ()["PYTHONPATH"].split(":")
    assert str(PACKAGE) not in paths
    assert str(PACKAGE.parent) in paths
