"""What a progress display shows: the immutable state of one map."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional


@dataclass(frozen=True)
class WorkerState:
    """One worker as a map's display shows it."""
    label: str
    done: int
    state: str          # 'idle' | 'busy' | 'lost'


@dataclass(frozen=True)
class ProgressState:
    """What a progress display shows at one moment (immutable)."""
    map_id: int
    pool: str
    kind: str
    done: int
    total: Optional[int]
    state: str          # 'running' | 'done' | 'failed' | 'cancelled'
    elapsed: float
    workers: tuple[WorkerState, ...] = ()
    failures: int = 0
    last_failure: Optional[str] = None
    error: Optional[str] = None

    @property
    def rate(self) -> float:
        """Finished tasks per second, averaged over the whole map."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> Optional[float]:
        """Seconds left at the current rate (None: unknown)."""
        if self.state != "running" or self.total is None or not self.rate:
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    def counts(self) -> str:
        """'37/100 · 52.3 tasks/s · 0:01 elapsed · ETA 0:02'."""
        total = "?" if self.total is None else str(self.total)
        parts = [f"{self.done}/{total}", f"{_rate(self.rate)} tasks/s",
                 f"{_clock(self.elapsed)} elapsed"]
        if self.eta is not None:
            parts.append(f"ETA {_clock(self.eta)}")
        return " · ".join(parts)

    def worker_summary(self, limit: int = 8) -> str:
        """'local-0 50 busy, local-1 48 idle'; over ``limit`` workers, counts
        by state: '32 workers: 30 busy, 2 lost'."""
        if len(self.workers) <= limit:
            return ", ".join(f"{w.label} {w.done} {w.state}" for w in self.workers)
        by_state: dict[str, int] = {}
        for w in self.workers:
            by_state[w.state] = by_state.get(w.state, 0) + 1
        return f"{len(self.workers)} workers: " + ", ".join(
            f"{n} {state}" for state, n in sorted(by_state.items()))

    def summary(self) -> str:
        """One plain-text line: what nbconvert and GitHub show."""
        total = "?" if self.total is None else self.total
        head = f"{self.pool} {self.kind}"
        if self.state == "running":
            line = f"{head}: running, {self.counts()}"
        elif self.state == "done":
            line = (f"{head}: done, {self.done}/{total} tasks in "
                    f"{self.elapsed:.2f}s ({_rate(self.rate)} tasks/s)")
        else:
            line = (f"{head}: {self.state} at {self.done}/{total} after "
                    f"{self.elapsed:.2f}s")
        reason = self.failure_text()
        if reason:
            line += f": {reason}"
        if self.workers:
            line += f"; workers: {self.worker_summary()}"
        return line

    def failure_text(self) -> Optional[str]:
        """Why the map failed (or which task failed), or None."""
        reason = self.last_failure
        if self.error and self.state != "done":
            if not reason:
                reason = self.error
            elif not reason.endswith(self.error):
                reason = f"{self.error} (after {reason})"
        if reason and self.failures > 1:
            reason += f"; {self.failures} tasks failed"
        return reason

    def as_dict(self) -> dict:
        return asdict(self)


def _rate(r: float) -> str:
    return f"{r:,.0f}" if r >= 100 else f"{r:.1f}"


def _clock(seconds: float) -> str:
    s = int(seconds)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def describe_error(exc: Optional[BaseException]) -> Optional[str]:
    """'ValueError: boom' (the first line of the message, at most 200 chars)."""
    if exc is None:
        return None
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
