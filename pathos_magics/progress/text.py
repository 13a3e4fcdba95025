"""The terminal view of a map's progress: a tqdm bar (stderr by default)."""
from __future__ import annotations

import sys
from typing import Any

from .state import ProgressState


class TqdmView:
    """A tqdm bar on stderr (or ``file``) for one map."""

    def __init__(self, state: ProgressState, file: Any = None) -> None:
        from tqdm import tqdm
        self._bar = tqdm(total=state.total, desc=f"{state.pool} {state.kind}",
                         unit="task", file=file if file is not None else sys.stderr,
                         mininterval=0, smoothing=0, leave=True, dynamic_ncols=True)
        self._bar.start_t -= state.elapsed      # the map started before the bar
        self.update(state)

    def update(self, state: ProgressState) -> None:
        bar = self._bar
        if state.total is not None and bar.total != state.total:
            bar.total = state.total
        bar.set_postfix_str(self._postfix(state), refresh=False)
        delta = state.done - bar.n
        if delta > 0:
            bar.update(delta)
        else:
            bar.refresh()

    @staticmethod
    def _postfix(state: ProgressState) -> str:
        post = state.worker_summary(limit=4)      # one terminal line
        if state.failures:
            post += f", {state.failures} failed"
        return post

    def close(self, state: ProgressState) -> None:
        bar = self._bar
        if state.state != "done":
            bar.set_description_str(f"{state.pool} {state.kind} {state.state.upper()}",
                                    refresh=False)
        if state.total is not None:
            bar.total = state.total
        bar.set_postfix_str(self._postfix(state), refresh=False)
        bar.n = state.done
        bar.close()             # draws the final line
