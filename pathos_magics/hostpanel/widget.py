"""The host picker as ipywidgets: the only module of the panel importing them.

::

    [filter.........]                                   pm-panel (VBox)
    [x] node0  [ 2 ]  (Test)  ok · Python 3.11 · 2 cores · 3 ms   2 up · 0 busy · 0 lost · 37 done   ssh config
    [ ] node1  [ 0 ]  (Test)  not tested                                                           ssh config + registry
    [user@host[:workers]] (Add)
    Local workers [ 0 ]   (Start) (Stop)   pool: ParallelPool(...): running, 4 workers
    [host:port] (Open)    tunnel node0:8888 -> 127.0.0.1:40123 open  (Close)
    %pathos pool remote node0:2 node1:2                 (the equivalent code)

Widget values are set in one place, :meth:`PanelWidget.render`, from the
model's :class:`~pathos_magics.hostpanel.model.PanelState`; it may run on any
thread (a background action, the live-status ticker) and only sets traits:
it never prints or displays.  User edits go to the model through observers;
clicks call the model, which returns at once.

CSS hooks: the outer box ``pm-panel``; each host row ``pm-host`` (its
checkbox's description is the alias), its Test button ``pm-host-test``, its
badge ``pm-host-status``, its live counts ``pm-host-live`` (plus
``pm-host-lost`` on the row while the host is lost); Start ``pm-start``,
Stop ``pm-stop``, the local count ``pm-local``.
"""
from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as W

from .model import PanelModel
from .state import PanelState, RowState
from .text import HELP, render_html, render_text

_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
_STATUS_COLOUR = {"ok": "#1a7f37", "error": "#cf222e", "testing": "#9a6700",
                  "untested": "#6e7781"}
_LIVE_COLOUR = {"lost": "#cf222e", "busy": "#1a7f37", "up": "#0969da", "none": "#6e7781"}


def _esc(text: str) -> str:
    """Text content for an HTML widget (quotes need no escaping there)."""
    return html.escape(text, quote=False)


def _classed(widget: W.Widget, *classes: str) -> W.Widget:
    for c in classes:
        widget.add_class(c)
    return widget


class HostRowWidget:
    """The widgets of one host row."""

    def __init__(self, model: PanelModel, alias: str, quiet: "_Quiet") -> None:
        self.alias = alias
        self.check = W.Checkbox(value=False, description=alias, indent=False,
                                layout=W.Layout(width="12em"))
        self.workers = W.BoundedIntText(value=0, min=0, max=4096,
                                        tooltip="workers on this host (0: all its cores)",
                                        layout=W.Layout(width="5em"))
        self.test = _classed(W.Button(description="Test", layout=W.Layout(width="5em"),
                                      tooltip="connect over ssh and ask its Python"),
                             "pm-host-test")
        self.status = _classed(W.HTML(layout=W.Layout(width="26em")), "pm-host-status")
        self.live = _classed(W.HTML(layout=W.Layout(width="20em")), "pm-host-live")
        self.source = _classed(W.HTML(), "pm-host-source")
        self.box = _classed(W.HBox([self.check, self.workers, self.test, self.status,
                                    self.live, self.source]), "pm-host")
        self.check.observe(quiet(lambda ch: model.set_checked(alias, ch["new"])), "value")
        self.workers.observe(quiet(lambda ch: model.set_workers(alias, ch["new"])),
                             "value")
        self.test.on_click(lambda _: model.test(alias))

    def render(self, r: RowState) -> None:
        _set(self.check, "value", r.checked)
        _set(self.workers, "value", r.workers or 0)
        _set(self.test, "disabled", r.status == "testing")
        colour = _STATUS_COLOUR.get(r.status, "inherit")
        _set(self.status, "value",
             f"<span style='color:{colour}'>{_esc(r.message)}</span>")
        active = r.live.up or r.live.lost or r.live.done
        _set(self.live, "value", "" if not active else
             f"<span style='color:{_LIVE_COLOUR[r.live.state]}'>"
             f"{_esc(r.live.text())}</span>")
        _set(self.source, "value", f"<i>{_esc(r.source)}</i>")
        if r.live.state == "lost":
            self.box.add_class("pm-host-lost")
        else:
            self.box.remove_class("pm-host-lost")


class _Quiet:
    """Wraps observers so that a value set by :meth:`PanelWidget.render` is not
    echoed back to the model (only in the rendering thread: a user's edit
    arriving meanwhile on the kernel's thread still goes through)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, fn: Any) -> Any:
        def observer(change: dict) -> None:
            if not getattr(self._local, "rendering", False):
                fn(change)
        return observer

    def __enter__(self) -> None:
        self._local.rendering = True

    def __exit__(self, *exc: Any) -> None:
        self._local.rendering = False


def _close_tree(widget: W.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def _set(widget: W.Widget, name: str, value: Any) -> None:
    """Set a trait only when it changes (no message, no observer echo)."""
    if getattr(widget, name) != value:
        setattr(widget, name, value)


class PanelWidget:
    """The panel's widgets, rendered from a :class:`PanelModel`."""

    def __init__(self, model: PanelModel) -> None:
        self.model = model
        self._lock = threading.RLock()
        self._quiet = _Quiet()
        self.rows: dict[str, HostRowWidget] = {}
        self.filter = _classed(W.Text(placeholder="filter hosts",
                                      layout=W.Layout(width="16em")), "pm-filter")
        self.hosts = W.VBox()
        self.more = W.HTML()
        self.add_spec = _classed(W.Text(placeholder="[user@]host[:workers]"), "pm-add-spec")
        self.add = _classed(W.Button(description="Add"), "pm-add")
        self.local = _classed(W.BoundedIntText(value=model.local, min=0, max=4096,
                                               description="Local workers",
                                               style={"description_width": "initial"},
                                               layout=W.Layout(width="12em")), "pm-local")
        self.start = _classed(W.Button(description="Start", button_style="success"),
                              "pm-start")
        self.stop = _classed(W.Button(description="Stop", button_style="danger"),
                             "pm-stop")
        self.pool = _classed(W.HTML(), "pm-pool")
        self.tunnel_spec = _classed(W.Text(placeholder="host:port"), "pm-tunnel-spec")
        self.tunnel_open = _classed(W.Button(description="Open"), "pm-tunnel-open")
        self.tunnels = _classed(W.VBox(), "pm-tunnels")
        self._tunnel_keys: tuple = ()
        self.message = _classed(W.HTML(), "pm-message")
        self.code = _classed(W.HTML(), "pm-code")
        self.box = _classed(W.VBox([
            W.HTML("<b>pathos_magics hosts</b>"), self.filter, self.hosts, self.more,
            W.HBox([self.add_spec, self.add]),
            W.HBox([self.local, self.start, self.stop, self.pool]),
            W.HBox([self.tunnel_spec, self.tunnel_open]), self.tunnels,
            self.message, self.code,
            W.HTML(f"<small>{_esc(HELP)}</small>")]), "pm-panel")
        self._wire()
        model.on_change(lambda _state: self.refresh())
        self.refresh()

    def _wire(self) -> None:
        m, quiet = self.model, self._quiet
        self.filter.observe(quiet(lambda ch: m.set_filter(ch["new"])), "value")
        self.local.observe(quiet(lambda ch: m.set_local(ch["new"])), "value")
        self.add.on_click(lambda _: m.add(self.add_spec.value)
                          and _set(self.add_spec, "value", ""))
        self.start.on_click(lambda _: m.start())
        self.stop.on_click(lambda _: m.stop())
        self.tunnel_open.on_click(lambda _: m.open_tunnel(self.tunnel_spec.value))

    # ------------------------------------------------------------ render

    def refresh(self) -> None:
        """Render the model's current state (any thread)."""
        with self._lock:
            self.render(self.model.state())

    def render(self, s: PanelState) -> None:
        """Set every widget from ``s`` (the one place values are set)."""
        with self._lock, self._quiet:
            shown = []
            for r in s.rows:
                row = self.rows.get(r.alias)
                if row is None:
                    row = self.rows[r.alias] = HostRowWidget(self.model, r.alias,
                                                             self._quiet)
                row.render(r)
                shown.append(row.box)
            if tuple(self.hosts.children) != tuple(shown):
                self.hosts.children = shown
            _set(self.more, "value", f"<i>... {s.hidden} more: narrow the filter</i>"
                 if s.hidden else "")
            _set(self.local, "value", s.local)
            _set(self.start, "disabled", not s.can_start)
            _set(self.stop, "disabled", not s.can_stop)
            local = f" · local: {s.local_live.text()}" if s.local_live.up else ""
            _set(self.pool, "value", f"{_esc(s.pool)}{_esc(local)}")
            _set(self.message, "value", _esc(s.message))
            _set(self.code, "value", f"<pre>{_esc(s.code)}</pre>")
            self._render_tunnels(s)

    def _render_tunnels(self, s: PanelState) -> None:
        keys = tuple((t["host"], t["remote_port"], t["local_port"], t["state"])
                     for t in s.tunnels)
        if keys == self._tunnel_keys:
            return
        self._tunnel_keys = keys
        rows = []
        for host, port, local, state in keys:
            close = _classed(W.Button(description="Close"), "pm-tunnel-close")
            close.on_click(lambda _, h=host, p=port: self.model.close_tunnel(h, p))
            rows.append(W.HBox([W.HTML(_esc(
                f"{host}:{port} -> 127.0.0.1:{local} {state}")), close]))
        self.tunnels.children = rows

    # ------------------------------------------------------------ display

    def row(self, alias: str) -> HostRowWidget:
        return self.rows[alias]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        s = self.model.state()
        return {_VIEW_MIME: {"version_major": 2, "version_minor": 0,
                             "model_id": self.box.model_id},
                "text/plain": render_text(s), "text/html": render_html(s)}

    def close(self) -> None:
        """Close every widget of the panel (rows not shown now included)."""
        for row in self.rows.values():
            _close_tree(row.box)
        _close_tree(self.box)
