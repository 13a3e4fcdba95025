"""The kernel's process state that local worker processes follow.

A notebook changes its own process as it goes: ``os.chdir``, ``os.environ``,
``sys.path``, ``importlib.reload`` (and ``%autoreload``).  A local worker
process started before such a change would run the next map in the old
world (old folder, old variables, old module functions, or a reloaded
module half old, half new).  So, before a map, the scheduler asks
:class:`StateTracker` what changed since the last look; when something did,
each local worker gets a STATE message (cwd, the whole environment,
``sys.path``, and the modules reloaded since it last heard) ahead of the
map's code, and :func:`apply` brings it in line.  Nothing is sent while
nothing changes.  Threads share the process already; remote hosts keep
their own file system and environment.

A reload is seen as a new ``__spec__`` object on the module: ``importlib``
makes one each time it (re)executes a module.
"""
from __future__ import annotations

import importlib
import logging
import operator
import os
import sys
from typing import Any, Optional

_log = logging.getLogger(__name__)

State = tuple          # (cwd, environ, sys.path, reloaded module names)


class StateTracker:
    """Watches this process's state; numbers each change (a version)."""

    def __init__(self) -> None:
        self.version = 0
        self._seen: Optional[tuple] = self._snapshot()
        self._specs = _module_specs()       # (kept alive: their ids stay unique)
        self._spec_ids = _spec_ids()
        self._reloads: list[tuple[int, str]] = []    # (version, module name)

    def look(self) -> int:
        """Note any change since the last look; returns the current version."""
        reloaded = self._reloaded()
        now = self._snapshot()
        if reloaded or now != self._seen:
            self.version += 1
            self._seen = now
            self._reloads += [(self.version, name) for name in reloaded]
        return self.version

    def state_since(self, version: int) -> State:
        """What a worker that knows ``version`` must apply to be current."""
        cwd, _, path = self._seen
        names = tuple(dict.fromkeys(n for v, n in self._reloads if v > version))
        return cwd, dict(os.environ), list(path), names

    @staticmethod
    def _snapshot() -> tuple:
        # os.environ's own encoded dict: a copy costs ~1 us, its items() ~70
        env = getattr(os.environ, "_data", None)
        env = dict(env) if env is not None else dict(os.environ)
        return os.getcwd(), env, tuple(sys.path)

    def _reloaded(self) -> list[str]:
        """Modules whose spec changed since the last look (in load order)."""
        ids = _spec_ids()
        if ids == self._spec_ids:
            return []                   # the usual case, checked in C: ~10 us
        self._spec_ids = ids
        changed = []
        specs = self._specs
        for name, module in list(sys.modules.items()):
            spec = _spec(module)
            old = specs.get(name)
            if old is not spec:
                if old is not None and spec is not None:
                    changed.append(name)
                specs[name] = spec
        return changed


def _spec(module: Any) -> Any:
    # from the module's dict: a module-level __getattr__ (lazy loaders)
    # must not run, or import things, on every map
    namespace = getattr(module, "__dict__", None)
    return namespace.get("__spec__") if isinstance(namespace, dict) else None


_namespaces: tuple[int, list] = (-1, [])     # (len(sys.modules), their dicts)
_get_spec = operator.methodcaller("get", "__spec__")


def _spec_ids() -> list[int]:
    """The id of every loaded module's spec, in sys.modules' order, built in
    C from the modules' dicts (a reload re-runs a module in the same dict,
    so the dicts are looked up again only when modules come or go)."""
    global _namespaces
    count, namespaces = _namespaces
    if count != len(sys.modules):
        namespaces = [getattr(m, "__dict__", None) or {} for m in list(sys.modules.values())]
        _namespaces = (len(sys.modules), namespaces)
    return list(map(id, map(_get_spec, namespaces)))


def _module_specs() -> dict[str, Any]:
    return {name: _spec(m) for name, m in list(sys.modules.items())}


def apply(state: State) -> None:
    """In a worker: take the kernel's cwd, environment, path and reloads."""
    cwd, environ, path, reloads = state
    try:
        if os.getcwd() != cwd:
            os.chdir(cwd)
    except OSError as exc:
        _log.warning("could not follow the kernel into %s: %s", cwd, exc)
    for key in [k for k in os.environ if k not in environ]:
        del os.environ[key]
    for key, value in environ.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    sys.path[:] = path
    for name in reloads:
        module = sys.modules.get(name)
        if module is not None:
            try:
                importlib.reload(module)
            except Exception as exc:    # noqa: BLE001 - the task will say more
                _log.warning("reloading %s as the kernel did failed: %s", name, exc)
