"""Live progress of every map: a widget in Jupyter, a tqdm bar in a terminal.

    import pathos_magics.progress as progress
    progress.set_policy("auto")     # what %load_ext pathos_magics does
    with progress.suppressed():     # %%pmap --no-progress
        pool.map(f, xs)
    progress.last_state()           # the final state of the last map shown

The progress front, one package:

    __init__.py  the policy (this module): on/off/auto, which view a new map gets
    observer.py  ProgressObserver: events -> one state per map, renders views
    state.py     ProgressState, WorkerState: what a view shows (plain data)
    text.py      TqdmView: a tqdm bar on stderr (terminals)
    widget.py    WidgetView: the ipywidgets display (the only ipywidgets import)

One :class:`ProgressObserver` observes ``events.GLOBAL`` while the policy is
not 'off'.  For each map it picks a view when the map starts: an ipywidgets
display in a kernel, a tqdm bar on stderr in a terminal, or none.  A map is
shown only once it has run for 0.5 s, never when a worker's task started it,
and re-rendered at most every 0.1 s from the latest state the events built.

Nothing here imports IPython or ipywidgets: the kernel is found through
``sys.modules`` and the widget view is imported when the first widget is
shown.  Worker print lines reach the cell through the scheduler, which
writes them to stdout marked with the worker label.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import logging
import os
import sys
import threading
from typing import Any, Iterator, Optional

from .. import events as ev
from .observer import INTERVAL, THRESHOLD, Origin, ProgressObserver, ViewFactory
from .state import ProgressState, WorkerState
from .text import TqdmView

__all__ = ["set_policy", "policy", "enable", "disable", "suppressed", "forced",
           "last_state", "running", "observer", "ProgressState", "WorkerState",
           "ProgressObserver", "TqdmView", "POLICIES", "THRESHOLD", "INTERVAL"]

_log = logging.getLogger(__name__)

POLICIES = ("on", "off", "auto")


# ---------------------------------------------------------------- the views

def _widget_view(state: ProgressState) -> Any:
    from .widget import WidgetView
    return WidgetView(state)


_widget_view.slow = True        # type: ignore[attr-defined]


def _default_views() -> dict[str, ViewFactory]:
    return {"widget": _widget_view, "text": TqdmView}


# ---------------------------------------------------------------- the policy

_policy = "off"
_observer: Optional[ProgressObserver] = None
_subscribed = False
_forcing = 0
_state_lock = threading.RLock()
_override: contextvars.ContextVar[Optional[bool]] = contextvars.ContextVar(
    "pathos_magics_progress_override", default=None)
_HAVE_WIDGETS: Optional[bool] = None


_hooked_shell: Any = None


def _shell() -> Any:
    """The running IPython shell, if any, without importing IPython."""
    getipython = sys.modules.get("IPython.core.getipython")
    if getipython is None:
        return None
    try:
        return getipython.get_ipython()
    except Exception:           # noqa: BLE001 - a half-torn-down shell
        return None


def _cell_id() -> Optional[str]:
    """Names the cell the calling context runs: the request's msg_id in a
    kernel, the execution count in a terminal IPython, else None."""
    return _origin_of(_shell())[0]


def _origin_of(shell: Any) -> tuple[Optional[str], Any]:
    """(cell id, parent message) of the calling context."""
    if shell is None:
        return None, None
    try:
        if getattr(shell, "kernel", None) is None:
            return f"In[{shell.execution_count}]", None
        parent = shell.get_parent() if hasattr(shell, "get_parent") else \
            shell.kernel.get_parent()
        return parent.get("header", {}).get("msg_id"), parent
    except Exception:           # noqa: BLE001 - no parent: not in a cell
        return None, None


def _origin() -> Origin:
    """Where the map starting now belongs.  In a kernel, views also pin the
    cell's parent header in the rendering thread (``shell.set_thread_parent``,
    where ipykernel has it), on top of running in the cell's contextvars."""
    shell = _shell()
    cell, parent = _origin_of(shell)
    if not parent or not hasattr(shell, "set_thread_parent"):
        return Origin(cell)
    return Origin(cell, _Pinned(shell, parent))


class _Pinned:
    """``with _Pinned(shell, parent)():`` output of this thread goes to
    ``parent``'s cell (a class, not a generator: made for every map)."""

    __slots__ = ("shell", "parent", "tokens")

    def __init__(self, shell: Any, parent: dict) -> None:
        self.shell, self.parent, self.tokens = shell, parent, None

    def __call__(self) -> "_Pinned":
        return _Pinned(self.shell, self.parent)

    def __enter__(self) -> None:
        self.tokens = self.shell.set_thread_parent(self.parent)

    def __exit__(self, *exc: Any) -> None:
        self.shell.reset_thread_parent(self.tokens)


def _post_execute() -> None:
    obs = _observer
    if obs is not None and obs.pending:
        obs.settle(_cell_id())


def _hook_shell(on: bool) -> None:
    """(Un)register the post_execute hook that lets a cell's displays show
    their end before the cell completes."""
    global _hooked_shell
    shell = _shell() if on else _hooked_shell
    if on == (_hooked_shell is not None) or shell is None:
        return
    try:
        if on:
            shell.events.register("post_execute", _post_execute)
            _hooked_shell = shell
        else:
            _hooked_shell = None
            shell.events.unregister("post_execute", _post_execute)
    except (AttributeError, ValueError):
        _log.debug("could not %s the post_execute hook", "set" if on else "remove")


def _frontend() -> str:
    """'kernel', 'terminal' or 'none', without importing IPython."""
    shell = _shell()
    if shell is not None:
        return "kernel" if getattr(shell, "kernel", None) is not None else "terminal"
    try:
        return "terminal" if sys.stderr is not None and sys.stderr.isatty() else "none"
    except (AttributeError, ValueError):
        return "none"


def _widgets_available() -> bool:
    global _HAVE_WIDGETS
    if _HAVE_WIDGETS is None:
        _HAVE_WIDGETS = importlib.util.find_spec("ipywidgets") is not None
    return _HAVE_WIDGETS


def _mode_for_new_map() -> Optional[str]:
    forced = _override.get()
    if forced is False:
        return None
    mode = "on" if forced is True else _policy
    if mode == "off":
        return None
    front = _frontend()
    if front != "none" and _hooked_shell is None:
        _hook_shell(True)           # the shell came after enable()
    if front == "kernel":
        return "widget" if _widgets_available() else "text"
    if front == "terminal" or mode == "on":
        return "text"
    return None


def _get_observer() -> ProgressObserver:
    global _observer
    if _observer is None:
        _observer = ProgressObserver(_mode_for_new_map, views=_default_views(),
                                     origin=_origin, on_idle=_on_idle)
    return _observer


def _sync_subscription() -> None:
    """Observe GLOBAL while the policy or a forced() block wants displays."""
    global _subscribed
    obs = _get_observer()
    # maps already shown keep their display until they end
    want = _policy != "off" or _forcing > 0 or obs.active > 0
    if want and not _subscribed:
        ev.subscribe(obs)
        _subscribed = True
        _hook_shell(True)
    elif not want and _subscribed:
        ev.unsubscribe(obs)         # its timer thread sleeps until needed
        _subscribed = False
        _hook_shell(False)


def _on_idle() -> None:
    # The last display ended: stop observing if the policy is 'off' now.
    if _subscribed and _policy == "off" and not _forcing:
        with _state_lock:
            _sync_subscription()


def set_policy(mode: str) -> None:
    """Choose when maps show progress.

    Args:
        mode: 'auto' (a widget in a notebook, a tqdm bar on stderr in a
            terminal, nothing when not interactive), 'on' (a widget in a
            notebook, else a tqdm bar on stderr even if it is not a tty),
            or 'off'.

    Raises:
        ValueError: for another mode.
    """
    global _policy
    if mode not in POLICIES:
        raise ValueError(f"progress policy must be one of {', '.join(POLICIES)}, "
                         f"not {mode!r}")
    with _state_lock:
        _policy = mode
        _sync_subscription()


def policy() -> str:
    """The current policy: 'on', 'off' or 'auto' (the default is 'off'
    until :func:`enable`, which loading the IPython extension calls)."""
    return _policy


def enable(mode: str = "auto") -> None:
    """Show progress from now on (``set_policy(mode)``)."""
    set_policy(mode)


def disable() -> None:
    """Show no progress and stop observing (``set_policy('off')``)."""
    set_policy("off")


@contextlib.contextmanager
def _overriding(show: bool) -> Iterator[None]:
    global _forcing
    token = _override.set(show)
    if show:
        with _state_lock:
            _forcing += 1
            _sync_subscription()
    try:
        yield
    finally:
        _override.reset(token)
        if show:
            with _state_lock:
                _forcing -= 1
                _sync_subscription()


def suppressed() -> contextlib.AbstractContextManager:
    """Maps started in this block (this thread or task) show no progress,
    whatever the policy; ``%%pmap --no-progress`` uses it."""
    return _overriding(False)


def forced() -> contextlib.AbstractContextManager:
    """Maps started in this block show progress (as with policy 'on'),
    whatever the policy; the 0.5 s threshold still applies."""
    return _overriding(True)


def last_state() -> Optional[ProgressState]:
    """The final state of the last map that was displayed (for tests and
    ``%pathos status``), or None."""
    return None if _observer is None else _observer.last


def running() -> list[ProgressState]:
    """The live state of the maps being tracked now (for ``%pathos status``)."""
    return [] if _observer is None else _observer.states()


def observer() -> ProgressObserver:
    """The process-wide observer (subscribed only while a policy wants it)."""
    return _get_observer()


def _after_fork_in_child() -> None:
    if _observer is not None:
        _observer.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
