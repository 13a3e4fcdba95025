"""What a view of the panel shows: immutable snapshots of the model."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .. import active
from .live import HostLive


@dataclass(frozen=True)
class RowState:
    """One host row as a view shows it."""

    alias: str
    source: str
    checked: bool
    workers: Optional[int]
    status: str
    message: str
    live: HostLive


@dataclass(frozen=True)
class PanelState:
    """Everything a view shows, at one moment."""

    rows: tuple[RowState, ...]
    hidden: int                        # rows matching the filter but over the cap
    total: int
    filter: str
    local: int
    local_live: HostLive
    action: Optional[str]              # 'start' | 'stop' while one runs
    pool: str
    running: bool
    can_start: bool
    can_stop: bool
    message: str
    code: str
    tunnels: tuple[dict, ...] = field(default=())


def describe_pool(pool: Any) -> str:
    """One line: the panel's pool and its state, or the active pool's kind."""
    if pool is None:
        return f"no pool from this panel (active pool: {active.active_spec().describe()})"
    return f"{pool.name}: {pool.state}, {len(pool.workers)} workers"
