"""The panel without a widget frontend: text/plain and text/html tables.

Shown by nbconvert, GitHub and terminals (and carried beside the widget view
in every display bundle), from the same :class:`PanelState` the widget shows.
"""
from __future__ import annotations

import html

from .state import PanelState

_COLUMNS = ("host", "use", "workers", "test", "live", "from")
_COLOURS = {"ok": "#1a7f37", "error": "#cf222e", "testing": "#9a6700",
            "lost": "#cf222e"}

HELP = ("Clicks reach the kernel only while it is idle: a click during a running "
        "cell acts when the cell ends. Start makes the pool the active pool: "
        "Pool() and %%pmap in the next cells use it (wait until the pool line "
        "says running).")


def _rows(s: PanelState) -> list[tuple[str, ...]]:
    return [(r.alias, "x" if r.checked else "", str(r.workers or "auto"), r.message,
             r.live.text() if r.live.up or r.live.lost or r.live.done else "",
             r.source) for r in s.rows]


def _footer(s: PanelState) -> list[str]:
    lines = []
    if s.hidden:
        lines.append(f"... {s.hidden} more hosts: narrow the filter")
    if not s.total:
        lines.append("no hosts: add Host entries to ~/.ssh/config, or hosts.add('user@host')")
    lines.append(f"local workers: {s.local}"
                 + (f" ({s.local_live.text()})" if s.local_live.up else ""))
    lines.append(f"pool: {s.pool}")
    lines.extend(f"tunnel {t['host']}:{t['remote_port']} -> 127.0.0.1:{t['local_port']}"
                 f" {t['state']}" for t in s.tunnels)
    if s.message:
        lines.append(s.message)
    return lines


def render_text(s: PanelState) -> str:
    """Aligned columns, then the pool, tunnels and last message."""
    rows = _rows(s)
    widths = [max(len(r[i]) for r in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    table = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()
             for r in [_COLUMNS, *rows]]
    return "\n".join(["pathos_magics host panel", *table, *_footer(s), "", s.code])


def render_html(s: PanelState) -> str:
    """The same as an HTML table (class ``pm-panel``)."""
    head = "".join(f"<th style='text-align:left'>{c}</th>" for c in _COLUMNS)
    body = []
    for r, cells in zip(s.rows, _rows(s)):
        colour = _COLOURS.get("lost" if r.live.state == "lost" else r.status, "inherit")
        tds = [html.escape(v) for v in cells]
        tds[3] = f"<span style='color:{colour}'>{tds[3]}</span>"
        body.append("<tr class='pm-host'>" + "".join(
            f"<td style='text-align:left'>{v}</td>" for v in tds) + "</tr>")
    foot = "<br>".join(html.escape(x) for x in _footer(s))
    return (f"<div class='pm-panel'><b>pathos_magics host panel</b><table><thead>"
            f"<tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<div>{foot}</div><pre>{html.escape(s.code)}</pre></div>")
