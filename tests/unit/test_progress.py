"""The progress observer with fake events and a fake clock (no timing), its
views, and the policy switch."""
from __future__ import annotations

import threading

import pytest

import pathos_magics.progress as progress
from pathos_magics import events as ev
from pathos_magics.progress import Origin, ProgressObserver, ProgressState, TqdmView

POOL = "ProcessPool(ncpus=2)"


class Recorder:
    """A view factory that records what the observer asks of its views."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ProgressState]] = []

    def __call__(self, state: ProgressState) -> "Recorder":
        self.calls.append(("create", state))
        return self

    def update(self, state: ProgressState) -> None:
        self.calls.append(("update", state))

    def close(self, state: ProgressState) -> None:
        self.calls.append(("close", state))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


@pytest.fixture
def rec():
    return Recorder()


@pytest.fixture
def obs(rec):
    return ProgressObserver(lambda: "text", views={"text": rec}, clock=lambda: 0.0,
                            threshold=0.5, interval=0.1, thread=False)


@pytest.fixture(autouse=True)
def policy_off():
    yield
    progress.set_policy("off")


def started(t=0.0, mid=1, total=100, workers=("local-0", "local-1")):
    return ev.MapStarted(map_id=mid, pool=POOL, total=total, workers=workers, time=t)


def done(t, n, worker="local-0", count=10, mid=1, total=100):
    return ev.TasksDone(map_id=mid, worker=worker, count=count, done=n, total=total, time=t)


def finished(t, n, state="done", mid=1, total=100, error=None):
    return ev.MapFinished(map_id=mid, state=state, done=n, total=total, error=error, time=t)


# ---------------------------------------------------------------- the threshold

def test_a_map_shorter_than_the_threshold_shows_nothing(obs, rec):
    obs(started(0.0))
    obs(done(0.05, 50))
    obs.tick(now=0.05)
    obs(done(0.09, 100, worker="local-1"))
    obs(finished(0.1, 100))
    obs.tick(now=0.2)
    assert rec.calls == []
    assert obs.shown == 0 and obs.last is None and obs.active == 0


def test_a_map_appears_once_it_has_run_for_the_threshold(obs, rec):
    obs(started(0.0))
    obs(done(0.2, 10))
    assert obs.tick(now=0.4) == 0
    assert rec.calls == []
    assert obs.tick(now=0.5) == 1
    assert rec.kinds() == ["create"]
    state = rec.calls[0][1]
    assert (state.done, state.total, state.state, state.elapsed) == (10, 100, "running", 0.5)


def test_a_map_that_ends_after_the_threshold_between_ticks_still_shows_its_end(obs, rec):
    obs(started(0.0))
    obs(done(0.3, 100))
    obs(finished(0.6, 100))
    assert rec.kinds() == ["create", "close"]
    final = rec.calls[-1][1]
    assert final.state == "done" and final.done == final.total == 100
    assert obs.last == final


def test_the_final_output_is_published_after_the_quick_close():
    class Publishing(Recorder):
        def publish(self, state):
            self.calls.append(("publish", state))

    rec = Publishing()
    obs = ProgressObserver(lambda: "text", views={"text": rec}, clock=lambda: 0.0,
                           thread=False)
    obs(started(0.0, mid=1))
    obs.tick(now=0.5)
    obs(finished(0.7, 100, mid=1))
    obs(started(1.0, mid=2))                # ends before its first render
    obs(finished(1.6, 100, mid=2))
    assert [(k, s.map_id) for k, s in rec.calls] == [
        ("create", 1), ("close", 1), ("publish", 1),
        ("create", 2), ("close", 2), ("publish", 2)]


def test_a_slow_view_is_created_and_published_by_the_timer_thread():
    class SlowRecorder(Recorder):
        slow = True

        def __call__(self, state):
            self.calls.append(("create", threading.current_thread().name))
            return self

        def publish(self, state):
            self.calls.append(("publish", threading.current_thread().name))

    rec = SlowRecorder()
    obs = ProgressObserver(lambda: "widget", views={"widget": rec}, threshold=0.0,
                           interval=0.01, origin=lambda: Origin("cell-1"))
    try:
        obs(started(0.0))
        obs(finished(1.0, 100))             # ends before any render, maybe
        obs.settle("cell-1", timeout=10)
    finally:
        obs.stop()
    assert rec.calls[0] == ("create", "pathos-progress")
    assert rec.calls[-1] == ("publish", "pathos-progress")
    assert rec.kinds()[-2] == "close"
    assert obs.last.done == 100


# ---------------------------------------------------------------- throttling

def test_events_only_update_the_state_renders_happen_at_ticks(obs, rec):
    obs(started(0.0))
    obs.tick(now=0.5)
    for i in range(1, 51):                   # 50 events between two ticks
        obs(done(0.5 + i / 1000, i * 2, worker=f"local-{i % 2}", count=2))
    assert rec.kinds() == ["create"]         # no render from the callback
    obs.tick(now=0.6)
    assert rec.kinds() == ["create", "update"]
    state = rec.calls[-1][1]
    assert state.done == 100
    assert {w.label: w.done for w in state.workers} == {"local-0": 50, "local-1": 50}


def test_renders_are_at_most_one_per_tick(obs, rec):
    obs(started(0.0))
    for k in range(5, 15):
        obs(done(k / 10, k))
        obs(done(k / 10 + 0.01, k + 1))
        obs.tick(now=k / 10)
    assert len(rec.calls) == 10              # one create + 9 updates


def test_the_timer_thread_renders_then_stops():
    clock = {"now": 0.0}
    rendered = threading.Event()

    class Signal(Recorder):
        def update(self, state):
            rendered.set()

    sig = Signal()
    obs = ProgressObserver(lambda: "text", views={"text": sig}, clock=lambda: clock["now"],
                           threshold=0.0, interval=0.001)
    try:
        obs(started(0.0))
        clock["now"] = 1.0
        assert rendered.wait(10)             # bounded; no timing asserted
        obs(finished(1.0, 100))
        assert sig.kinds()[-1] == "close"
    finally:
        obs.stop()
    assert not obs._thread


# ---------------------------------------------------------------- the final state

def test_final_state_when_done(obs, rec):
    obs(started(0.0))
    obs(ev.WorkerBusy(pool=POOL, worker="local-0", busy=True))
    obs(ev.WorkerBusy(pool=POOL, worker="local-1", busy=True))
    obs.tick(now=0.5)
    assert {w.state for w in rec.calls[-1][1].workers} == {"busy"}
    obs(done(1.0, 60, count=60))
    obs(done(1.9, 100, worker="local-1", count=40))
    obs(finished(2.0, 100))
    final = rec.calls[-1][1]
    assert rec.kinds()[-1] == "close"
    assert (final.done, final.total, final.state, final.elapsed) == (100, 100, "done", 2.0)
    assert final.rate == 50.0 and final.eta is None
    assert [(w.label, w.done, w.state) for w in final.workers] == [
        ("local-0", 60, "idle"), ("local-1", 40, "idle")]
    assert final.summary() == (f"{POOL} map: done, 100/100 tasks in 2.00s (50.0 tasks/s); "
                               "workers: local-0 60 idle, local-1 40 idle")
    obs.tick(now=3.0)                        # nothing after the end
    assert rec.kinds()[-1] == "close" and len(rec.calls) == 2


def test_final_state_when_failed(obs, rec):
    obs(started(0.0))
    obs.tick(now=0.5)
    obs(done(0.8, 37))
    err = ValueError("boom")
    obs(ev.TaskFailed(map_id=1, worker="local-1", index=37, error=err, time=0.9))
    obs(ev.WorkerLost(pool=POOL, worker="local-0", reason="killed", time=0.9))
    obs(finished(1.0, 37, state="failed", error=err))
    final = rec.calls[-1][1]
    assert final.state == "failed" and final.failures == 1
    assert final.failure_text() == "task 37 on local-1: ValueError: boom"
    assert final.summary().startswith(f"{POOL} map: failed at 37/100 after 1.00s: "
                                      "task 37 on local-1: ValueError: boom")
    assert [w.state for w in final.workers] == ["lost", "idle"]
    assert obs.last == final


def test_a_failure_without_a_task_names_the_error(obs, rec):
    obs(started(0.0))
    obs.tick(now=0.5)
    obs(finished(0.7, 3, state="failed", error=RuntimeError("no workers left\nmore")))
    assert rec.calls[-1][1].failure_text() == "RuntimeError: no workers left"


def test_progress_numbers_while_running(obs, rec):
    obs(started(0.0))
    obs(done(1.0, 25))
    obs.tick(now=2.0)
    state = rec.calls[-1][1]
    assert state.rate == 12.5 and state.eta == 6.0
    assert state.counts() == "25/100 · 12.5 tasks/s · 0:02 elapsed · ETA 0:06"


def test_states_lists_the_running_maps(obs):
    obs(started(0.0, mid=1))
    obs(started(0.0, mid=2, total=10))
    obs(done(0.5, 4, mid=2, total=10, count=4))
    assert [(s.map_id, s.done, s.elapsed) for s in obs.states(now=1.0)] == [
        (1, 0, 1.0), (2, 4, 1.0)]


def test_many_workers_are_summarised_by_state():
    from pathos_magics.progress import WorkerState
    workers = tuple(WorkerState(f"node1-{i}", 3, "lost" if i < 2 else "busy")
                    for i in range(32))
    state = ProgressState(map_id=1, pool=POOL, kind="map", done=96, total=None,
                          state="running", elapsed=1.0, workers=workers)
    assert state.worker_summary() == "32 workers: 30 busy, 2 lost"
    assert state.worker_summary(limit=40).startswith("node1-0 3 lost, node1-1 3 lost, ")


def test_unknown_total_then_known(obs, rec):
    obs(started(0.0, total=None))
    obs(done(0.1, 16, total=None, count=16))
    obs.tick(now=0.5)
    state = rec.calls[-1][1]
    assert state.total is None and state.eta is None and "16/?" in state.counts()
    obs(ev.TotalKnown(map_id=1, total=40, time=0.55))
    obs.tick(now=0.6)
    assert rec.calls[-1][1].total == 40


def test_a_replacement_worker_joins_the_map(obs, rec):
    obs(started(0.0))
    obs(ev.WorkerLost(pool=POOL, worker="local-1", reason="killed"))
    obs(ev.WorkerUp(pool=POOL, worker="local-2"))
    obs(ev.WorkerUp(pool="ParallelPool(ncpus=1)", worker="node1-0"))   # another pool's
    obs.tick(now=0.5)
    states = {w.label: w.state for w in rec.calls[-1][1].workers}
    assert states == {"local-0": "idle", "local-1": "lost", "local-2": "idle"}


def test_two_maps_are_tracked_apart(obs, rec):
    obs(started(0.0, mid=1))
    obs(started(0.0, mid=2, total=10))
    obs(done(0.1, 5, mid=2, total=10, count=5))
    obs(finished(0.2, 10, mid=2, total=10))     # short: never shown
    obs.tick(now=0.5)
    assert [(k, s.map_id) for k, s in rec.calls] == [("create", 1)]


def test_a_cancelled_map_ends_in_the_cancelled_state(obs, rec):
    obs(started(0.0))
    obs(done(0.4, 20))
    obs.tick(now=0.6)
    obs(finished(0.8, 20, state="cancelled", error=KeyboardInterrupt()))
    final = rec.calls[-1][1]
    assert rec.kinds()[-1] == "close"
    assert final.state == "cancelled" and final.failure_text() == "KeyboardInterrupt"
    assert final.summary().startswith(f"{POOL} map: cancelled at 20/100 after 0.80s")


def test_imap_and_uimap_are_shown_apipe_is_not(obs, rec):
    for mid, kind in enumerate(("imap", "uimap", "apipe"), start=1):
        obs(ev.MapStarted(map_id=mid, pool=POOL, total=None, workers=(), kind=kind,
                          time=0.0))
    obs.tick(now=1.0)
    assert [s.kind for _, s in rec.calls] == ["imap", "uimap"]


def test_a_map_id_used_by_two_pools_shows_only_the_first(obs, rec):
    obs(started(0.0, mid=5))
    obs(ev.MapStarted(map_id=5, pool="ThreadPool(ncpus=4)", total=7, workers=(), time=0.1))
    obs.tick(now=1.0)
    assert [(s.pool, s.total) for _, s in rec.calls] == [(POOL, 100)]


def test_a_broken_view_never_breaks_the_map():
    def broken(state):
        raise RuntimeError("display failed")
    obs = ProgressObserver(lambda: "text", views={"text": broken}, clock=lambda: 0.0,
                           thread=False)
    obs(started(0.0))
    obs.tick(now=1.0)
    obs(finished(2.0, 100))                  # does not raise


# ---------------------------------------------------------------- nested maps

def test_nothing_is_shown_for_a_map_a_worker_started(obs, rec):
    obs(ev.MapStarted(map_id=1, pool=POOL, total=100, workers=(), nested=True, time=0.0))
    obs.tick(now=1.0)
    obs(finished(2.0, 100))
    assert rec.calls == [] and obs.active == 0


def _nested_flags(x):
    from pathos_magics import events
    from pathos_magics.pools import SerialPool
    seen = []
    fn = events.subscribe(lambda e: seen.append(e.nested)
                          if isinstance(e, events.MapStarted) else None)
    try:
        SerialPool().map(abs, [-x])
    finally:
        events.unsubscribe(fn)
    return seen


def test_maps_started_by_tasks_say_so_in_threads_and_processes():
    from pathos_magics.pools import ProcessPool, ThreadPool
    seen = []
    fn = ev.subscribe(lambda e: seen.append((e.pool, e.nested))
                      if isinstance(e, ev.MapStarted) else None)
    try:
        with ThreadPool(2) as pool:
            pool.map(_nested_flags, range(2))
    finally:
        ev.unsubscribe(fn)
    assert ("ThreadPool(ncpus=2)", False) in seen
    assert ("SerialPool()", True) in seen
    assert ("SerialPool()", False) not in seen
    with ProcessPool(2) as pool:
        assert pool.map(_nested_flags, range(2)) == [[True], [True]]


def test_a_map_started_on_a_scheduler_thread_is_still_shown(obs, rec):
    t = threading.Thread(target=obs, args=(started(0.0),), name="pathos-reader-local-0")
    t.start()
    t.join()
    obs.tick(now=1.0)
    assert rec.kinds() == ["create"]


# ---------------------------------------------------------------- settle

def test_settle_waits_for_an_end_delivered_on_another_thread(rec):
    obs = ProgressObserver(lambda: "text", views={"text": rec}, clock=lambda: 1.0,
                           thread=False, origin=lambda: Origin("cell-1"))
    obs(started(0.0))
    obs.tick(now=0.6)
    go = threading.Event()

    def deliver():
        go.wait(10)
        obs(finished(1.0, 100))

    t = threading.Thread(target=deliver)
    t.start()
    go.set()
    obs.settle("cell-1", timeout=10)
    assert rec.kinds()[-1] == "close"
    t.join()


def test_settle_ignores_other_cells_and_short_maps(rec):
    obs = ProgressObserver(lambda: "text", views={"text": rec}, clock=lambda: 0.1,
                           thread=False, origin=lambda: Origin("cell-1"))
    obs(started(0.0, mid=1))
    obs.settle("cell-1", timeout=10)        # under the threshold: returns at once
    obs.settle("cell-2", timeout=10)        # not that cell's: returns at once
    assert obs.active == 1


def test_views_run_in_the_context_of_the_code_that_started_the_map(rec):
    import contextlib
    import contextvars
    cell = contextvars.ContextVar("cell", default="none")
    seen = []

    @contextlib.contextmanager
    def pinned():
        seen.append("enter")
        yield
        seen.append("exit")

    def view(state):
        seen.append((cell.get(), threading.current_thread().name))
        return rec

    obs = ProgressObserver(lambda: "text", views={"text": view}, clock=lambda: 0.0,
                           thread=False, origin=lambda: Origin("c1", pinned))
    token = cell.set("cell-7")
    obs(started(0.0))
    cell.reset(token)
    t = threading.Thread(target=obs.tick, args=(1.0,), name="renderer")
    t.start()
    t.join()
    assert seen == ["enter", ("cell-7", "renderer"), "exit"]


# ---------------------------------------------------------------- the views

def test_tqdm_view_writes_to_stderr(capsys):
    state = ProgressState(map_id=1, pool=POOL, kind="map", done=30, total=60,
                          state="running", elapsed=1.0)
    view = TqdmView(state)
    view.close(ProgressState(map_id=1, pool=POOL, kind="map", done=60, total=60,
                             state="done", elapsed=2.0))
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{POOL} map" in err and "30/60" in err and "60/60" in err


def test_tqdm_view_marks_a_failure(capsys):
    state = ProgressState(map_id=1, pool=POOL, kind="map", done=3, total=60,
                          state="running", elapsed=1.0)
    view = TqdmView(state)
    view.close(ProgressState(map_id=1, pool=POOL, kind="map", done=3, total=60,
                             state="failed", elapsed=2.0, failures=1))
    err = capsys.readouterr().err
    assert "map FAILED" in err and "1 failed" in err


def test_text_bar_for_a_real_map_with_policy_on(capsys):
    from pathos_magics.pools import ThreadPool
    obs = ProgressObserver(progress._mode_for_new_map, views={"text": TqdmView},
                           threshold=0.0, thread=False)
    progress.set_policy("on")
    ev.unsubscribe(progress.observer())      # only this test's observer
    ev.subscribe(obs)
    try:
        assert ThreadPool(2).map(abs, range(-50, 0)) == list(range(50, 0, -1))
    finally:
        ev.unsubscribe(obs)
        progress.set_policy("off")
    err = capsys.readouterr().err
    assert "ThreadPool(ncpus=2) map" in err and "50/50" in err
    assert obs.last.done == obs.last.total == 50


def test_widget_bundle_has_the_view_and_a_plain_text_summary():
    pytest.importorskip("ipywidgets")
    from pathos_magics.progress.widget import ProgressWidget
    state = ProgressState(map_id=1, pool=POOL, kind="map", done=30, total=60,
                          state="running", elapsed=1.0)
    widget = ProgressWidget(state)
    try:
        bundle = widget._repr_mimebundle_()
        assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.model_id
        assert bundle["text/plain"] == state.summary()
        assert "Box(" not in bundle["text/plain"]
        assert (widget.bar.value, widget.bar.max, widget.bar.bar_style) == (30, 60, "")
        widget.update(ProgressState(map_id=1, pool=POOL, kind="map", done=31, total=60,
                                    state="failed", elapsed=1.5, error="ValueError: x"))
        assert (widget.bar.value, widget.bar.bar_style) == (31, "danger")
        assert "ValueError: x" in widget.text.value
        widget.update(ProgressState(map_id=1, pool=POOL, kind="map", done=60, total=60,
                                    state="done", elapsed=2.0))
        assert (widget.bar.value, widget.bar.bar_style) == (60, "success")
        assert widget._repr_mimebundle_()["text/plain"].startswith(f"{POOL} map: done, 60/60")
    finally:
        widget.box.close_all()


# ---------------------------------------------------------------- the policy

def test_policy_switch_subscribes_and_unsubscribes():
    assert progress.policy() == "off"
    assert progress.observer() not in ev.GLOBAL._observers
    progress.set_policy("auto")
    assert progress.policy() == "auto"
    assert progress.observer() in ev.GLOBAL._observers
    progress.enable("on")
    assert progress.policy() == "on"
    progress.disable()
    assert progress.policy() == "off"
    assert progress.observer() not in ev.GLOBAL._observers
    with pytest.raises(ValueError, match="one of on, off, auto"):
        progress.set_policy("sometimes")


@pytest.mark.parametrize("front, pol, expect", [
    ("kernel", "auto", "widget"), ("kernel", "on", "widget"), ("kernel", "off", None),
    ("terminal", "auto", "text"), ("terminal", "on", "text"),
    ("none", "auto", None), ("none", "on", "text"), ("none", "off", None),
])
def test_which_display_a_new_map_gets(monkeypatch, front, pol, expect):
    monkeypatch.setattr(progress, "_frontend", lambda: front)
    monkeypatch.setattr(progress, "_widgets_available", lambda: True)
    progress.set_policy(pol)
    assert progress._mode_for_new_map() == expect


def test_suppressed_and_forced(monkeypatch):
    monkeypatch.setattr(progress, "_frontend", lambda: "terminal")
    progress.set_policy("auto")
    with progress.suppressed():
        assert progress._mode_for_new_map() is None
        with progress.forced():
            assert progress._mode_for_new_map() == "text"
        assert progress._mode_for_new_map() is None
    assert progress._mode_for_new_map() == "text"
    progress.set_policy("off")
    with progress.forced():
        assert progress.observer() in ev.GLOBAL._observers
        assert progress._mode_for_new_map() == "text"
    assert progress.observer() not in ev.GLOBAL._observers
    assert progress._mode_for_new_map() is None


def test_policy_off_during_a_shown_map_keeps_its_display_to_the_end(monkeypatch):
    monkeypatch.setattr(progress, "_frontend", lambda: "terminal")
    progress.set_policy("auto")
    obs = progress.observer()
    monkeypatch.setattr(obs, "threshold", 1e9)  # its timer thread shows nothing
    obs(started(0.0, mid=10**6))
    progress.set_policy("off")
    assert obs in ev.GLOBAL._observers          # still observing its map
    obs(finished(0.1, 100, mid=10**6))
    assert obs not in ev.GLOBAL._observers


def test_suppressed_is_per_thread():
    progress.set_policy("on")
    seen = []
    with progress.suppressed():
        t = threading.Thread(target=lambda: seen.append(progress._mode_for_new_map()))
        t.start()
        t.join()
    assert seen == ["text"]


def test_the_post_execute_hook_follows_the_policy(monkeypatch):
    class Events:
        def __init__(self):
            self.hooks = []

        def register(self, name, fn):
            self.hooks.append((name, fn))

        def unregister(self, name, fn):
            self.hooks.remove((name, fn))

    class Shell:
        kernel = None
        execution_count = 3
        events = Events()

    shell = Shell()
    monkeypatch.setattr(progress, "_shell", lambda: shell)
    progress.set_policy("auto")
    assert shell.events.hooks == [("post_execute", progress._post_execute)]
    progress.set_policy("on")                   # no second hook
    assert len(shell.events.hooks) == 1
    assert progress._cell_id() == "In[3]"
    progress.disable()
    assert shell.events.hooks == []


def test_widget_falls_back_to_text_without_ipywidgets(monkeypatch):
    monkeypatch.setattr(progress, "_frontend", lambda: "kernel")
    monkeypatch.setattr(progress, "_widgets_available", lambda: False)
    progress.set_policy("auto")
    assert progress._mode_for_new_map() == "text"


def test_last_state_is_the_observers_last_final_state(monkeypatch):
    obs = progress.observer()
    monkeypatch.setattr(obs, "last", "sentinel")
    assert progress.last_state() == "sentinel"


def test_importing_progress_does_not_import_ipython_or_ipywidgets():
    import subprocess
    import sys
    code = ("import sys, pathos_magics.progress as p; p.set_policy('auto'); "
            "print(any(m.split('.')[0] in ('IPython', 'ipywidgets') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr
