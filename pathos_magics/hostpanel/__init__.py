"""The host picker panel: choose hosts, test them, start and stop the pool.

    from pathos_magics import panel
    p = panel()          # shown as the cell's value (or: %pathos panel)
    p                    # again, in another cell
    p.model.test("node1"); p.model.wait()     # the same, from code

The panel lists the hosts of ``~/.ssh/config`` (Host entries without
wildcards) and of the host registry (:mod:`pathos_magics.hosts`); **Test**
connects as a pool would; **Start** makes a pool of the checked hosts and
local workers the active pool, so ``Pool()`` and ``%%pmap`` in the next cells
use it; **Stop** stops it.  While maps run each row shows its workers and
tasks done.  The equivalent ``%pathos pool ...`` line is shown, so a notebook
can be re-run without the panel.

``pathos_magics.panel`` is :func:`panel` (this package is ``hostpanel``, so
importing its modules never rebinds that name).  Layout: ``model.py`` (state and actions, no ipywidgets), ``sources.py``
(where hosts come from), ``probe.py`` (Test), ``live.py`` (events -> counts
per host), ``text.py`` (text/plain, text/html) and ``widget.py`` (the only
module importing ipywidgets).  Without ipywidgets the same object shows
itself as text and HTML tables.
"""
from __future__ import annotations

import importlib.util
import sys
from typing import Any, Optional

from .model import PanelModel
from .state import PanelState
from .text import render_html, render_text

__all__ = ["panel", "Panel", "PanelModel", "PanelState"]

#: ipykernel versions that lose widget updates sent from threads.
_BAD_IPYKERNEL = ("7.0.0", "7.0.1")


def _widgets_available() -> bool:
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):
        return False


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules


class Panel:
    """A displayable host picker: a widget in a notebook, tables elsewhere.

    Attributes:
        model: the :class:`PanelModel` (hosts, tests, pool, tunnels).
        widget: the :class:`~pathos_magics.hostpanel.widget.PanelWidget`, or None
            without ipywidgets or outside a kernel.
    """

    def __init__(self, model: PanelModel, widgets: Optional[bool] = None) -> None:
        self.model = model
        self.widget: Any = None
        use = (_widgets_available() and _in_kernel()) if widgets is None else widgets
        if use:
            _check_ipykernel()
            from .widget import PanelWidget
            self.widget = PanelWidget(model)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        if self.widget is not None:
            return self.widget._repr_mimebundle_(include, exclude)
        s = self.model.state()
        return {"text/plain": render_text(s), "text/html": render_html(s)}

    def __repr__(self) -> str:
        return render_text(self.model.state())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def close(self) -> None:
        """Stop observing and close the widgets (a started pool keeps running)."""
        self.model.close()
        if self.widget is not None:
            self.widget.close()


def _check_ipykernel() -> None:
    module = sys.modules.get("ipykernel")
    version = getattr(module, "__version__", "")
    if version in _BAD_IPYKERNEL:
        import warnings
        warnings.warn(f"ipykernel {version} loses widget updates sent from threads: "
                      "the panel's live status will not move. Upgrade: pip install "
                      "'ipykernel>=7.1'", RuntimeWarning, stacklevel=3)


def panel(*, python: Optional[str] = None, max_rows: int = 50, timeout: float = 10.0,
          widgets: Optional[bool] = None, **model_options: Any) -> Panel:
    """The host picker panel (shown when it is a cell's value).

    Args:
        python: the Python command on every host (default: each host's
            registry entry, else ``python3``).
        max_rows: at most this many host rows are shown; the filter box
            narrows a long ssh config.
        timeout: seconds for each ssh step of a Test.
        widgets: force (True) or refuse (False) the widget view; default: a
            widget in a kernel with ipywidgets, text elsewhere.
        model_options: passed to :class:`PanelModel` (prober, starter,
            config, registry: for tests).
    """
    return Panel(PanelModel(python=python, max_rows=max_rows, timeout=timeout,
                            **model_options), widgets=widgets)
