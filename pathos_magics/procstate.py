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
        # the loaded modules and their specs, in sys.modules' order (the
        # specs kept alive, so that their ids stay theirs)
        self._names, self._specs = _loaded()
        self._ids = list(map(id, self._specs))
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
        """Modules whose spec changed since the last look (in load order).

        The usual cases are checked in C: nothing changed, or modules were
        only added (they come last in sys.modules)."""
        names, specs = _loaded()
        ids = list(map(id, specs))
        n = len(self._ids)
        if ids == self._ids if len(ids) == n else ids[:n] == self._ids and names[:n] == self._names:
            changed: list[str] = []
        else:
            before = dict(zip(self._names, self._ids))
            changed = [name for name, i, spec in zip(names, ids, specs)
                       if spec is not None and before.get(name, i) != i
                       and getattr(spec, "origin", None) not in (None, "built-in", "frozen")]
        self._names, self._specs, self._ids = names, specs, ids
        return changed


_cache: tuple[list, list] = ([], [])     # (module names, their dicts), as last seen
_get_spec = operator.itemgetter("__spec__")
_NO_SPEC = {"__spec__": None}


def _loaded() -> tuple[list[str], list[Any]]:
    """The loaded modules' names and specs, in sys.modules' order, built in
    C from the modules' dicts (a reload re-runs a module in the same dict,
    so the dicts are looked up again only when modules come or go); a
    spec is read from the dict so that no module-level __getattr__ (lazy
    loaders) runs, or imports things, on every map."""
    global _cache
    names = list(sys.modules)
    known, namespaces = _cache
    if names != known:
        n = len(known)
        if len(names) > n and names[:n] == known:      # modules were only added
            namespaces = namespaces + [_namespace(x) for x in names[n:]]
        else:
            namespaces = [_namespace(x) for x in names]
        _cache = (names, namespaces)
    return names, list(map(_get_spec, namespaces))


def _namespace(name: str) -> dict:
    namespace = getattr(sys.modules.get(name), "__dict__", None)
    return namespace if isinstance(namespace, dict) and "__spec__" in namespace else _NO_SPEC


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
