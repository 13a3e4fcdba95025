"""Profile stats gathered from workers: merged, per worker, shown as a table.

A profiled map's workers send each chunk's cProfile stats (the
``create_stats()`` dict) back with its results; the scheduler emits them as
:class:`~pathos_magics.events.TaskStats`.  A :class:`Collector` subscribed to
the events adds them up per worker; :class:`Stats` is :class:`pstats.Stats`
over any set of them (it prints, sorts and dumps like pstats, and pickles);
:class:`ProfileTable` shows the top functions as HTML in a notebook and as
text elsewhere.  Nothing here imports IPython.
"""
from __future__ import annotations

import html
import os
import pstats
import sys
import threading
from typing import Any, Iterable, Optional

from . import events as ev

#: pstats's sort keys (``Stats.sort_stats``), as the magics accept them.
SORT_KEYS = tuple(sorted(pstats.Stats.sort_arg_dict_default))
KERNEL = "kernel"      # the label of the kernel's own profiler's stats


def merge(into: dict, stats: dict) -> dict:
    """Add a ``create_stats()`` dict to ``into`` (pstats's own arithmetic)."""
    for func, entry in stats.items():
        old = into.get(func)
        into[func] = (entry[:4] + (dict(entry[4]),) if old is None
                      else pstats.add_func_stats(old, entry))
    return into


class _Raw:
    """What pstats.Stats loads: an object with ``create_stats`` and ``stats``."""

    def __init__(self, stats: dict) -> None:
        self.stats = stats

    def create_stats(self) -> None:
        pass


class Stats(pstats.Stats):
    """:class:`pstats.Stats` of merged stats, with the workers they came from.

    ``workers`` lists the labels merged in (``"kernel"``: the kernel's own
    profiler).  Shows itself as a table of the top functions (cumulative
    time) in a notebook; :meth:`table` takes another sort or length.
    """

    def __init__(self, stats: Optional[dict] = None, workers: Iterable[str] = (),
                 stream: Any = None) -> None:
        super().__init__(_Raw(dict(stats)) if stats else None, stream=stream)
        self.workers = tuple(workers)

    def table(self, sort: str = "cumulative", limit: int = 20,
              title: Optional[str] = None) -> "ProfileTable":
        """The top ``limit`` functions by ``sort`` (a pstats sort key)."""
        return ProfileTable(self, sort=sort, limit=limit, title=title)

    def __getstate__(self) -> dict:       # the stream (a console) stays here
        state = dict(self.__dict__)
        state.pop("stream", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.stream = sys.stdout

    def __repr__(self) -> str:
        return (f"<Stats: {len(self.stats)} functions, {self.total_calls} calls, "
                f"{self.total_tt:.3f}s, from {', '.join(self.workers) or 'nobody'}>")

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.table().text())


def check_sort(sort: Any) -> Any:
    """A pstats sort key (a name, a ``pstats.SortKey`` or pathos's -1), checked."""
    if sort in (-1, 0, 1, 2) or isinstance(sort, pstats.SortKey) or sort in SORT_KEYS:
        return sort
    raise ValueError(f"unknown sort key {sort!r}; use one of {', '.join(SORT_KEYS)}")


class Collector:
    """Adds up the TaskStats events it hears, per worker (thread-safe).

    Args:
        pool: only events of this pool (its name); None: every pool.
    """

    def __init__(self, pool: Optional[str] = None) -> None:
        self.pool = pool
        self._lock = threading.Lock()
        self._by_worker: dict[str, dict] = {}

    def __call__(self, event: ev.Event) -> None:
        if type(event) is ev.TaskStats and (self.pool is None or event.pool == self.pool):
            self.add(event.worker, event.stats)

    def add(self, worker: str, stats: dict) -> None:
        with self._lock:
            merge(self._by_worker.setdefault(worker, {}), stats)

    def workers(self) -> list[str]:
        with self._lock:
            return sorted(self._by_worker)

    def clear(self) -> None:
        with self._lock:
            self._by_worker.clear()

    def stats(self, worker: Optional[str] = None, extra: Optional[dict] = None) -> Stats:
        """The merged stats of every worker (and ``extra``: label -> stats),
        or only of ``worker``; KeyError names the known workers."""
        with self._lock:
            parts = {label: dict(s) for label, s in self._by_worker.items()}
        parts.update({k: v for k, v in (extra or {}).items() if v})
        if worker is not None:
            if worker not in parts:
                raise KeyError(f"no profile stats from worker {worker!r}; there are "
                               f"stats from: {', '.join(sorted(parts)) or 'nobody yet'}")
            parts = {worker: parts[worker]}
        merged: dict = {}
        for stats in parts.values():
            merge(merged, stats)
        return Stats(merged, sorted(parts))


class ProfileTable:
    """The top functions of :class:`Stats`: HTML in a notebook, text elsewhere."""

    def __init__(self, stats: Stats, sort: Any = "cumulative", limit: int = 20,
                 title: Optional[str] = None) -> None:
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int, not {limit!r}")
        self.stats, self.sort, self.limit = stats, check_sort(sort), limit
        self.title = title

    def rows(self) -> list[tuple]:
        """(ncalls, tottime, percall, cumtime, percall, where) of the top functions."""
        shown = Stats(self.stats.stats, self.stats.workers)
        shown.strip_dirs().sort_stats(self.sort)
        out = []
        for func in shown.fcn_list[:self.limit]:
            cc, nc, tt, ct, _ = shown.stats[func]
            calls = str(nc) if nc == cc else f"{nc}/{cc}"
            out.append((calls, tt, tt / nc if nc else 0.0, ct, ct / cc if cc else 0.0,
                        pstats.func_std_string(func)))
        return out

    def _summary(self) -> str:
        s = self.stats
        who = ", ".join(s.workers) or "nobody yet"
        head = f"{self.title}, from {who}" if self.title else f"profile of {who}"
        return (f"{head}: {s.total_calls} calls in {s.total_tt:.3g} s "
                f"(time summed over workers); top {self.limit} by {self.sort}")

    def text(self) -> str:
        head = (f"{'ncalls':>10} {'tottime':>9} {'percall':>9} {'cumtime':>9} "
                f"{'percall':>9}  filename:lineno(function)")
        lines = [self._summary(), head]
        lines += [f"{r[0]:>10} {r[1]:>9.4f} {r[2]:>9.6f} {r[3]:>9.4f} {r[4]:>9.6f}  {r[5]}"
                  for r in self.rows()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(r[0])}</td><td>{r[1]:.4f}</td><td>{r[2]:.6f}</td>"
            f"<td>{r[3]:.4f}</td><td>{r[4]:.6f}</td>"
            f"<td style='text-align:left'><code>{html.escape(r[5])}</code></td></tr>"
            for r in self.rows())
        return (f"<div class='pathos-profile'><p>{html.escape(self._summary())}</p>"
                "<table><thead><tr><th>ncalls</th><th>tottime</th><th>percall</th>"
                "<th>cumtime</th><th>percall</th><th>filename:lineno(function)</th>"
                f"</tr></thead><tbody>{cells}</tbody></table></div>")


def dump(stats: Stats, path: str) -> str:
    """Write ``stats`` where pstats.Stats(path) and snakeviz read it."""
    stats.dump_stats(path)
    return os.path.abspath(path)
