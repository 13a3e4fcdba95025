"""Compare pathos_magics's pathos faces with pathos itself (names, signatures).

Run in a venv that has both (pathos is never a dependency of pathos_magics):

    python3 -m venv /work/pathosface-bench
    /work/pathosface-bench/bin/pip install pathos -e .
    /work/pathosface-bench/bin/python scripts/compare_pathos_api.py

Prints, per module, the names pathos has that pathos_magics lacks, and the
methods whose signatures differ.  Exits 1 if a name is missing.
"""
from __future__ import annotations

import importlib
import inspect
import sys

MODULES = ["multiprocessing", "threading", "serial", "parallel", "abstract_launcher",
           "maps", "helpers", "helpers.mp_helper", "pools"]
#: pathos's names left out on purpose (see the README, "Coming from pathos").
LEFT_OUT = {"OLD312a7", "sys", "warnings", "builtins", "pp", "ApplyResult", "MapResult",
            "parallelpython", "pp_helper", "_map", "_imap", "_apply"}


def _signature(obj) -> str:
    """Parameter names, kinds and defaults (annotations aside)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "?"
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def compare(name: str) -> int:
    theirs = importlib.import_module(f"pathos.{name}")
    ours = importlib.import_module(f"pathos_magics.{name}")
    missing = sorted(n for n in dir(theirs) if not n.startswith("__")
                     and n not in LEFT_OUT and not hasattr(ours, n))
    print(f"pathos.{name}: missing {missing or 'nothing'}")
    if getattr(theirs, "__all__", None) != getattr(ours, "__all__", None):
        print(f"  __all__ differs: {getattr(theirs, '__all__', None)} vs "
              f"{getattr(ours, '__all__', None)}")
    for attr in dir(theirs):
        a, b = getattr(theirs, attr), getattr(ours, attr, None)
        if not (inspect.isclass(a) and inspect.isclass(b)):
            if inspect.isfunction(a) and callable(b) and _signature(a) != _signature(b):
                print(f"  {attr}{_signature(a)}  vs  {_signature(b)}")
            continue
        for meth, value in vars(a).items():
            if (meth.startswith("__") and meth not in ("__init__", "__call__")) \
                    or (meth.startswith(f"_{attr}__") and meth != f"_{attr}__nodes"):
                continue          # dunders; pathos's pools' private helpers
            if not hasattr(b, meth):
                print(f"  {attr}.{meth}: missing")
            elif callable(value) and _signature(value) != _signature(getattr(b, meth)):
                print(f"  {attr}.{meth}{_signature(value)}  vs  "
                      f"{_signature(getattr(b, meth))}")
    return len(missing)


if __name__ == "__main__":
    sys.exit(1 if sum(compare(m) for m in MODULES) else 0)
