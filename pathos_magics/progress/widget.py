"""The progress widget of one map: bar, counts, rate, elapsed/ETA, workers.

::

    ProcessPool(ncpus=2) map [##########----------]
    45/100 · 30.1 tasks/s · 0:01 elapsed · ETA 0:02
    local-0 23 busy · local-1 22 idle · local-2 0 lost
    task 37 on local-1: ValueError: boom              (in red, on failure)

Two widgets (a bar and one HTML) in a box: few models to open, and two
messages per refresh.  The display is a bundle with the widget view *and* a
text/plain summary, so a frontend without widgets (nbconvert, GitHub) shows
a readable line; :meth:`WidgetView.publish` re-sends it at the end, so the
saved notebook holds the final line.
"""
from __future__ import annotations

import html
from typing import Any, Optional

import ipywidgets as W
from IPython.display import display

from .state import ProgressState

_BAR_STYLE = {"running": "", "done": "success", "failed": "danger",
              "cancelled": "warning"}
_WORKER_COLOUR = {"busy": "#1a7f37", "idle": "#6e7781", "lost": "#cf222e"}
_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


class ProgressWidget:
    """The widgets of one map's display; :meth:`update` sets them from a state."""

    def __init__(self, state: ProgressState) -> None:
        self.bar = W.IntProgress(min=0, max=1, value=0,
                                 description=f"{state.pool} {state.kind}",
                                 style={"description_width": "initial"},
                                 layout=W.Layout(width="min(100%, 48em)"))
        self.text = W.HTML()
        self.box = W.VBox([self.bar, self.text])
        self.state = state
        self.update(state)

    def update(self, s: ProgressState) -> None:
        self.state = s
        bar = self.bar
        with bar.hold_sync():               # one message for the bar
            if s.total is None:             # length not known yet
                bar.max, bar.value = 1, 1
                bar.bar_style = "info" if s.state == "running" else _BAR_STYLE[s.state]
            else:
                bar.max = max(1, s.total)
                bar.value = min(s.done, bar.max)
                bar.bar_style = _BAR_STYLE.get(s.state, "")
        self.text.value = _text(s)

    @property
    def model_id(self) -> str:
        return self.box.model_id

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        return {_VIEW_MIME: {"version_major": 2, "version_minor": 0,
                             "model_id": self.box.model_id},
                "text/plain": self.state.summary()}

    def __repr__(self) -> str:
        return self.state.summary()


def _text(s: ProgressState) -> str:
    counts = html.escape(s.counts())
    lines = [counts if s.state == "running" else f"<b>{s.state}</b> · {counts}"]
    if len(s.workers) > 8:
        lines.append(html.escape(s.worker_summary()))
    elif s.workers:
        lines.append(" · ".join(
            f"{html.escape(w.label)} {w.done} <span style='color:"
            f"{_WORKER_COLOUR.get(w.state, 'inherit')}'>{w.state}</span>"
            for w in s.workers))
    reason = s.failure_text()
    if reason:
        lines.append(f"<span style='color:#cf222e'>{html.escape(reason)}</span>")
    return ("<div style='line-height:1.35; font-size:var(--jp-ui-font-size0, 11px)'>"
            + "<br>".join(lines) + "</div>")


class WidgetView:
    """Displays a :class:`ProgressWidget` in the current cell (the observer
    calls it in the context of the cell that started the map)."""

    def __init__(self, state: ProgressState) -> None:
        self.widget = ProgressWidget(state)
        self.handle: Optional[Any] = display(self.widget, display_id=True)

    def update(self, state: ProgressState) -> None:
        self.widget.update(state)

    def close(self, state: ProgressState) -> None:
        """The final state: the bar's colour and the counts (quick)."""
        self.widget.update(state)

    def publish(self, state: ProgressState) -> None:
        """Re-send the display with the final text/plain summary (slower: the
        kernel flushes its streams first, so it runs off the event path)."""
        if self.handle is not None:
            self.handle.update(self.widget)
