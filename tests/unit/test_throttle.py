"""The log budget both sides of the ssh transport use (throttle.Throttle)."""
from __future__ import annotations

from pathos_magics.transports.ssh.throttle import Throttle


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_shown_then_counted_then_summarised_once_per_window():
    clock = _Clock()
    t = Throttle(burst=3, window=10.0, clock=clock)
    shown = [t.allow("auth") for _ in range(3)] + [t.allow(k) for k in ("auth", "full", "full")]
    assert shown == [True, True, True, False, False, False]
    assert t.summary() is None                     # the window is not over
    clock.now += 10.0
    assert t.summary() == {"auth": 1, "full": 2}
    assert t.summary() is None                     # reported once
    assert t.allow("auth")                          # a new window


def test_hidden_events_stay_hidden_until_summarised_and_force_reports_at_once():
    clock = _Clock()
    t = Throttle(burst=1, window=5.0, clock=clock)
    assert t.allow() and not t.allow()
    clock.now += 60.0
    assert not t.allow()                 # no line slips out before its summary
    assert t.summary(force=True) == {"line": 2}
    assert t.summary(force=True) is None


def test_a_quiet_stream_is_never_throttled():
    clock = _Clock()
    t = Throttle(burst=2, window=10.0, clock=clock)
    for _ in range(20):
        assert t.allow()
        clock.now += 6.0
    assert t.summary(force=True) is None
