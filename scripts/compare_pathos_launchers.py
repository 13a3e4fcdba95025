"""Compare our pathos-compatible modules with pathos's, name by name.

Run in a venv that has both (pathos never is a dependency)::

    python3 -m venv /work/bench && /work/bench/bin/pip install pathos -e .
    /work/bench/bin/python scripts/compare_pathos_launchers.py

Prints, per module, each public pathos name and whether ours has it with
the same parameters (names, order, defaults).  Exit status 1 on a mismatch.
"""
from __future__ import annotations

import importlib
import inspect
import sys

MODULES = {
    "pathos.connection": ["Pipe", "PipeException"],
    "pathos.secure": ["Pipe", "Copier", "Tunnel", "TunnelException"],
    "pathos.core": ["copy", "execute", "kill", "getpid", "getppid", "getchild",
                    "serve", "connect", "randomport"],
    "pathos.selector": ["Selector"],
    "pathos.server": ["Server"],
    "pathos.hosts": ["register", "get_profile", "get_profiles", "register_profiles"],
}


def _params(obj) -> list[tuple[str, object]]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    return [(p.name, p.default) for p in inspect.signature(target).parameters.values()
            if p.kind not in (p.KEYWORD_ONLY,)]


def _methods(cls) -> dict[str, list]:
    return {n: _params(f) for n, f in vars(cls).items()
            if callable(f) and not n.startswith("_")}


def compare(theirs, ours, label: str) -> list[str]:
    bad = []
    if _params(theirs) != _params(ours):
        bad.append(f"{label}: pathos {_params(theirs)} vs ours {_params(ours)}")
    if inspect.isclass(theirs):
        for name, params in _methods(theirs).items():
            mine = getattr(ours, name, None)
            if mine is None:
                bad.append(f"{label}.{name}: missing")
            elif params != _params(mine):
                bad.append(f"{label}.{name}: pathos {params} vs ours {_params(mine)}")
    return bad


def main() -> int:
    problems = []
    for modname, names in MODULES.items():
        theirs = importlib.import_module(modname)
        ours = importlib.import_module(modname.replace("pathos.", "pathos_magics.", 1))
        for name in names:
            label = f"{modname}.{name}"
            if not hasattr(ours, name):
                problems.append(f"{label}: missing")
                continue
            found = compare(getattr(theirs, name), getattr(ours, name), label)
            print(("ok   " if not found else "DIFF ") + label)
            problems += found
    for p in problems:
        print("  ", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
