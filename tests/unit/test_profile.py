"""pathos_magics.profile: pathos's per-process profiling, and maps profiled
on their workers with the stats merged here (every local pool)."""
from __future__ import annotations

import marshal
import pstats
import random
import sys
import time

import pytest

import pathos_magics.profile as pr
from pathos_magics import events, profstats, wire
from pathos_magics.pools import ProcessPool, SerialPool, ThreadPool
from pathos_magics.scheduler.profiling import profile_default

POOLS = {
    "serial": lambda: SerialPool(),
    "thread": lambda: ThreadPool(2),
    "fork": lambda: ProcessPool(2, context="fork"),
    "spawn": lambda: ProcessPool(2, context="spawn"),
}
# Python 3.12+: one profiler per process, which thread workers take turns on
SHARED_PROCESS = ("serial", "thread")


@pytest.fixture(params=list(POOLS))
def pool(request):
    p = POOLS[request.param]()
    p.kind = request.param
    yield p
    p.clear()


@pytest.fixture(autouse=True)
def profiling_off():
    yield
    pr.disable_profiling()
    pr.clear_stats()


def busy(n):
    return sum(_square(i) for i in range(n))


def _square(i):
    return i * i


def _names(stats: pstats.Stats) -> dict[str, int]:
    """function name -> call count"""
    out: dict[str, int] = {}
    for (_, _, name), (cc, nc, *_rest) in stats.stats.items():
        out[name] = out.get(name, 0) + nc
    return out


def test_off_by_default_maps_carry_no_flag(pool):
    seen = []
    events.subscribe(seen.append)
    try:
        assert pool.map(busy, range(20)) == [busy(n) for n in range(20)]
    finally:
        events.unsubscribe(seen.append)
    assert profile_default() is False
    assert not [e for e in seen if isinstance(e, events.TaskStats)]
    assert pr.get_stats().stats == {}


def test_enabled_profiling_brings_every_workers_stats_back_merged(pool):
    pr.enable_profiling()
    assert pool.map(busy, range(40)) == [busy(n) for n in range(40)]
    assert list(pool.imap(busy, range(10))) == [busy(n) for n in range(10)]
    assert pool.apipe(busy, 7).get() == busy(7)
    stats = pr.get_stats()
    calls = _names(stats)
    if sys.version_info < (3, 12) or pool.kind not in SHARED_PROCESS:
        assert calls["busy"] == 51                    # every task, once
        assert calls["_square"] == sum(range(40)) + sum(range(10)) + 7
    else:                                             # turns: some chunks skipped
        assert 0 < calls["busy"] <= 51
    # what the tasks did, not the worker loop's own calls
    assert not [f for f in stats.stats if f[0].endswith("worker.py")]
    labels = {w.label for w in pool.workers}
    assert set(stats.workers) <= labels and stats.workers


def test_stats_per_worker_add_up_to_the_merged_view(pool):
    pr.enable_profiling()
    pool.map(busy, range(60), chunksize=1)
    merged = _names(pr.get_stats())
    workers = pr.get_stats().workers
    per = [_names(pr.get_stats(worker=w)) for w in workers]
    assert sum(p.get("busy", 0) for p in per) == merged["busy"]
    with pytest.raises(KeyError, match="no profile stats from worker 'nobody'"):
        pr.get_stats(worker="nobody")


def test_profile_keyword_profiles_one_map_only(pool):
    rec = profstats.Collector(pool.name)
    events.subscribe(rec)
    try:
        pool.map(busy, range(10))
        assert rec.workers() == []
        pool.map(busy, range(10), profile=True)
        assert "busy" in _names(rec.stats())
        assert list(pool.uimap(busy, range(5), profile=False))
        with pytest.raises(TypeError, match="profile must be True, False or None"):
            pool.map(busy, range(3), profile="yes")
    finally:
        events.unsubscribe(rec)
    assert pr.get_stats().stats == {}               # nothing kernel-wide


def test_profile_false_wins_over_the_default():
    pool = ProcessPool(2)
    pr.enable_profiling()
    pool.map(busy, range(10), profile=False)
    assert pr.get_stats().stats == {}
    pool.map(busy, range(10))
    assert _names(pr.get_stats())["busy"] == 10


def test_print_and_dump_the_merged_view(tmp_path, capsys, monkeypatch):
    pool = ProcessPool(2)
    pr.enable_profiling()
    pr.start_profiling()
    busy(3)                                          # in this process: "kernel"
    pr.stop_profiling()
    pool.map(busy, range(30))
    pr.print_stats(sort="tottime")
    out = capsys.readouterr().out
    assert "Ordered by: internal time" in out and "(busy)" in out
    monkeypatch.chdir(tmp_path)
    pr.dump_stats(gen=lambda: "all")
    loaded = pstats.Stats(str(tmp_path / "id-all.prof"))
    assert _names(loaded)["busy"] == 31
    label = pool.workers[0].label
    pr.dump_stats(worker="kernel", prefix="k-", suffix=".pstats", gen=lambda: 1)
    kernel = marshal.loads((tmp_path / "k-1.pstats").read_bytes())
    assert {f[2] for f in kernel} >= {"busy"}
    assert "kernel" in pr.get_stats().workers and label in pr.get_stats().workers


def test_disable_keeps_the_stats_enable_starts_fresh():
    pool = ThreadPool(2)
    pr.enable_profiling()
    pool.map(busy, range(10))
    pr.disable_profiling()
    assert profile_default() is False and pr.profiler is None
    kept = _names(pr.get_stats()).get("busy", 0)
    assert kept > 0
    pool.map(busy, range(10))                       # off: not profiled
    assert _names(pr.get_stats()).get("busy", 0) == kept
    pr.enable_profiling()
    assert pr.get_stats().stats == {}
    pr.clear_stats()


def test_table_html_and_text():
    pr.enable_profiling()
    SerialPool().map(busy, range(10))
    table = pr.table(limit=2)
    assert table.rows() and len(table.rows()) <= 2
    text, page = repr(table), table._repr_html_()
    assert "filename:lineno(function)" in text and "<table>" in page
    assert "busy" in text + page or "_square" in text + page
    with pytest.raises(ValueError, match="unknown sort key 'fastest'"):
        pr.table(sort="fastest")
    with pytest.raises(ValueError, match="limit must be a positive int"):
        pr.table(limit=0)


def test_stats_pickle_without_their_stream():
    import pickle
    s = profstats.Stats({("f.py", 1, "f"): (1, 1, 0.1, 0.1, {})}, ["local-0"])
    back = pickle.loads(pickle.dumps(s))
    assert back.stats == s.stats and back.workers == ("local-0",)
    assert back.stream is sys.stdout


def test_merge_adds_calls_and_callers():
    a = {("f.py", 1, "f"): (1, 1, 0.1, 0.2, {("g.py", 2, "g"): (1, 1, 0.1, 0.2)})}
    b = {("f.py", 1, "f"): (2, 2, 0.3, 0.4, {("g.py", 2, "g"): (2, 2, 0.3, 0.4)})}
    into = profstats.merge({}, a)
    profstats.merge(into, b)
    cc, nc, tt, ct, callers = into[("f.py", 1, "f")]
    assert (cc, nc) == (3, 3) and tt == pytest.approx(0.4) and ct == pytest.approx(0.6)
    assert callers[("g.py", 2, "g")][0] == 3
    assert a[("f.py", 1, "f")][4][("g.py", 2, "g")][0] == 1      # inputs untouched


def test_run_message_without_the_flag_is_the_old_one():
    """A worker reads a 7-item RUN (an older scheduler) and answers a
    6-item DONE when not profiling: old peers still understand it."""
    from pathos_magics.worker import Runner
    sent = []

    class Chan:
        def send(self, msg):
            sent.append(msg)

    r = Runner(Chan(), in_process=True)
    r.take_code(1, busy)
    r.run((wire.RUN, 1, 0, 1, wire.SINGLE, [3, 4], None))
    r.run((wire.RUN, 1, 1, 1, wire.SINGLE, [3, 4], None, True))
    assert len(sent[0]) == 6 and sent[0][3] == [busy(3), busy(4)]
    assert len(sent[1]) == 7 and sent[1][3] == [busy(3), busy(4)]
    assert {f[2] for f in sent[1][6]} >= {"busy", "_square"} or sys.version_info >= (3, 12)


# ---------------------------------------------------------------- pathos's own usage

def _work(i):
    x = random.random() / 100
    time.sleep(x)
    return (i, x)


def test_pathos_docstring_usage(tmp_path, monkeypatch, capsys):
    """The example at the top of pathos/profile.py, with the import changed."""
    monkeypatch.chdir(tmp_path)
    config = dict(gen=pr.process_id)
    work = pr.profiled(**config)(_work)
    pr.enable_profiling()
    assert [r[0] for r in map(work, range(-10, 0))] == list(range(-10, 0))
    import os
    assert (tmp_path / f"id-{os.getpid()}.prof").exists()
    # the work in worker processes (pathos: mp.Pool(10)); each dumps its own file
    pool = ProcessPool(2)
    uimap = pr.profiled(**config)(pool.uimap)
    assert sorted(r[0] for r in uimap(work, range(-10, 0))) == list(range(-10, 0))
    assert len(list(tmp_path.glob("id-*.prof"))) >= 2
    pr.disable_profiling()
    tuple(uimap(pr.disable_profiling, range(10)))
    assert sorted(r[0] for r in uimap(work, range(-20, -10))) == list(range(-20, -10))
    pr.enable_profiling()

    def test_import(module):
        __import__(module)

    one = ProcessPool(1)
    pr.profile("cumulative", pipe=one.pipe)(test_import, "json")
    out = capsys.readouterr().out
    assert "Ordered by: cumulative time" in out and "test_import" in out
    assert pr.profile()(lambda: 42) == 42                 # a SerialPool's pipe
    assert "function calls" in capsys.readouterr().out
    with pytest.raises(ValueError, match="only one node"):
        pr.profile(pipe=ProcessPool(2).pipe)
    one.close()
    one.join()
    one.clear()


def test_profiled_inside_a_profiled_map_does_not_raise(tmp_path, monkeypatch):
    """A task with its own profiler inside a chunk being profiled: the chunk's
    pauses (3.12+ would refuse a second profiler)."""
    monkeypatch.chdir(tmp_path)
    pr.enable_profiling()
    work = pr.profiled(gen=lambda: "inner")(_work)
    pool = SerialPool()
    pool.pipe(pr.enable_profiling)
    assert [r[0] for r in pool.map(work, range(3))] == [0, 1, 2]
    assert (tmp_path / "id-inner.prof").exists()


def test_not_profiled_unwraps():
    wrapped = pr.profiled()(_square)
    assert wrapped.__wrapped__ is _square and wrapped.__name__ == "proactive"
    assert pr.not_profiled(wrapped)(3) == 9
    assert pr.not_profiled(_square)(4) == 16
    assert pr.thread_id() and pr.process_id()


def test_kernel_profiler_keeps_running_beside_a_serial_map():
    """The serial pool's tasks run on this thread: with this process's own
    profiler on, the chunk is not profiled separately (which would stop it)."""
    pr.enable_profiling()
    pr.start_profiling()
    SerialPool().map(busy, range(5))
    busy(2)
    pr.stop_profiling()
    kernel = _names(pr.get_stats(worker="kernel"))
    assert kernel["busy"] == 6
