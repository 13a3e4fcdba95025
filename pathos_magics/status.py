"""Result objects of ``%pathos status`` / ``hosts`` / ``tunnels``: HTML in a
notebook, aligned text in a terminal (and in ``repr``)."""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Sequence


class _Table:
    """Rows of strings shown as an HTML table or as aligned text."""

    title = ""
    columns: tuple[str, ...] = ()
    empty = "(none)"

    def rows(self) -> list[tuple[str, ...]]:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        rows = self.rows()
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>"
                       for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>"
                                        for v in row) + "</tr>" for row in rows)
        if not rows:
            body = f"<tr><td colspan={len(self.columns)}>{html.escape(self.empty)}</td></tr>"
        return (f"<div><b>{html.escape(self.title)}</b><table><thead><tr>{head}"
                f"</tr></thead><tbody>{body}</tbody></table></div>")

    def __repr__(self) -> str:
        rows = self.rows()
        if not rows:
            return f"{self.title}\n{self.empty}"
        widths = [max(len(r[i]) for r in [self.columns, *rows])
                  for i in range(len(self.columns))]
        lines = [self.title] + ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()
                                for r in [self.columns, *rows]]
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


@dataclass(repr=False)
class StatusReport(_Table):
    """The active pool and its workers."""

    pool: str
    state: str
    workers: Sequence[Any]

    columns = ("worker", "host", "pid", "state", "tasks done")
    empty = "no live workers"

    @classmethod
    def of(cls, pool: Any) -> "StatusReport":
        return cls(pool.name, pool.state, pool.workers)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"active pool: {self.pool}, {self.state}, {len(self.workers)} workers"

    def rows(self) -> list[tuple[str, ...]]:
        return [(w.label, str(w.host), str(w.pid or ""), _worker_state(w),
                 str(getattr(w, "tasks_done", 0))) for w in self.workers]


def _worker_state(w: Any) -> str:
    if w.lost:
        return "lost"
    return "busy" if w.inflight else "idle"


@dataclass(repr=False)
class HostsTable(_Table):
    hosts: Sequence[Any]
    title = "hosts (pathos_magics.hosts registry)"
    columns = ("name", "address", "user", "workers", "python", "status", "checked")
    empty = "no hosts yet: %pathos pool remote HOST, or pathos_magics.hosts.add('user@host')"

    def rows(self) -> list[tuple[str, ...]]:
        return [(h.name, h.address, h.user or "", str(h.workers or "?"), h.python,
                 h.status + (f" ({h.error})" if h.error else ""), h.checked or "")
                for h in self.hosts]


@dataclass(repr=False)
class TunnelsTable(_Table):
    tunnels: Sequence[dict]
    title = "ssh tunnels"
    columns = ("host", "remote", "local", "state", "connections")
    empty = "no tunnels: %pathos tunnel HOST:PORT opens one"

    def rows(self) -> list[tuple[str, ...]]:
        return [(t["host"], t["remote"], f"127.0.0.1:{t['local_port']}",
                 t["state"] + (f" ({t['error']})" if t.get("error") else ""),
                 str(t["connections"])) for t in self.tunnels]
