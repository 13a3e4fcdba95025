"""Big __main__ globals that forked workers already hold are named, not shipped,
and only while the workers' copy provably equals the kernel's."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pathos_magics import inherit, serialize


def snapshot_of(**namespace):
    return inherit.ForkSnapshot(namespace)


@pytest.fixture
def big():
    return list(range(1000, 2000))


def test_an_unchanged_list_of_atoms_is_named(big):
    snap = snapshot_of(BIG=big)
    assert snap.name_for(big) == "BIG"
    assert snap.name_for(list(big)) is None          # an equal list: not the one recorded


@pytest.mark.parametrize("change", [
    lambda v: v.__setitem__(5, float(v[5])),          # equal value, other type
    lambda v: v.__setitem__(5, v[5] == v[5]),         # True: equal to 1, not the same
    lambda v: v.__setitem__(0, 1000.0),
    lambda v: v.append(1),
    lambda v: v.pop(),
    lambda v: v.reverse(),
    lambda v: v.__setitem__(3, [1]),                  # a nested container
])
def test_any_change_to_the_list_ships_it_by_value(big, change):
    snap = snapshot_of(BIG=big)
    change(big)
    assert snap.name_for(big) is None


def test_signed_zero_counts_as_a_change():
    values = [0.0] * 500
    snap = snapshot_of(Z=values)
    values[7] = -0.0                                   # == 0.0, but 1/x differs
    assert snap.name_for(values) is None


def test_dicts_tuples_and_strings():
    table = {i: str(i) for i in range(400)}
    frozen = tuple(range(400))
    text = "x" * 1000
    snap = snapshot_of(TABLE=table, FROZEN=frozen, TEXT=text)
    assert [snap.name_for(o) for o in (table, frozen, text)] == ["TABLE", "FROZEN", "TEXT"]
    table[3] = "three"
    assert snap.name_for(table) is None
    del table[3]
    table[3] = "3"                                     # same items, other order
    assert snap.name_for(table) is None


@pytest.mark.parametrize("value", [
    [[i] for i in range(300)],                         # items that can change in place
    [bytearray(b"x")] * 300,
    [b"bytes"] * 300,                                  # marshal would confuse it with a bytearray
    list(range(10)),                                   # too small to be worth it
])
def test_what_is_never_named(value):
    assert snapshot_of(V=value).name_for(value) is None


def test_ipython_history_and_private_names_are_skipped():
    snap = snapshot_of(In=["x"] * 300, _oh=list(range(300)), Out={i: i for i in range(300)})
    assert len(snap) == 0


def test_globals_past_the_budget_travel_by_value(monkeypatch, big):
    monkeypatch.setattr(inherit, "MAX_ITEMS", 1500)
    other = list(range(800))
    snap = snapshot_of(A=big, B=other)
    assert snap.name_for(big) == "A" and snap.name_for(other) is None


def test_the_code_payload_names_the_global_instead_of_carrying_it(big):
    snap = snapshot_of(BIG=big)
    scope = {"BIG": big}
    exec("def f(i):\n    return BIG[i]\n", scope)
    f = scope["f"]
    f.__module__ = "__main__"
    (blob, bulk), _ = serialize.dumps_code(f, snap)
    assert bulk == [] and len(blob) < 1000
    (_, bulk), _ = serialize.dumps_code(f)
    assert len(bulk) == 1                              # without the snapshot: by value


def test_a_worker_rebuilds_a_global_a_task_changed(big, monkeypatch):
    snap = snapshot_of(BIG=big)
    monkeypatch.setattr(inherit, "_MINE", snap)       # as in a forked worker
    first = inherit.resolve("BIG")
    assert first is big                                # no copy for the first map
    first[0] = "changed by a task"
    second = inherit.resolve("BIG")
    assert second is not big and second == list(range(1000, 2000))
    assert inherit.resolve("BIG") is second            # unchanged since: reused


def test_a_worker_without_the_record_says_so(monkeypatch):
    monkeypatch.setattr(inherit, "_MINE", None)
    with pytest.raises(LookupError, match="'BIG'"):
        inherit.resolve("BIG")


SCRIPT = textwrap.dedent('''
    import sys
    from pathos_magics import serialize
    from pathos_magics.pools import ProcessPool

    BIG = list(range(100_000))
    TABLE = {i: i for i in range(1000)}

    shipped = []
    dumps = serialize.dumps_code
    def spy(func, inherited=None):
        payload = dumps(func, inherited)
        shipped.append(sum(len(b) for b in payload[0][1]))
        return payload
    serialize.dumps_code = spy

    def last_shipped():
        return shipped[-1]

    if __name__ == "__main__":
        context, init = sys.argv[1], sys.argv[2] == "init"
        kw = {"initializer": abs, "initargs": (1,)} if init else {}
        pool = ProcessPool(2, context=context, **kw)
        inherits = context == "fork" and not init
        get = lambda i: BIG[i]
        assert pool.map(get, [0, 99_999]) == [0, 99_999]
        assert (last_shipped() == 0) == inherits, shipped
        assert pool.map(lambda k: TABLE[k] * 2, [3]) == [6]

        # changes in the kernel are seen, and then the list travels
        BIG[0] = 0.0
        assert [type(x) for x in pool.map(get, [0, 0, 0, 0])] == [float] * 4
        assert last_shipped() > 100_000
        BIG[0] = 0
        # a task that changes its worker's copy in place: later maps see
        # the kernel's value, in every worker
        def spoil(i):
            BIG[1] = "spoiled"
            return BIG[1]
        assert set(pool.map(spoil, range(8))) == {"spoiled"}
        assert (last_shipped() == 0) == inherits, shipped
        assert pool.map(lambda i: BIG[1], range(8)) == [1] * 8
        assert (last_shipped() == 0) == inherits, shipped
        # a worker forked after a change (a replacement) inherits the new value
        import os, signal, time
        BIG.append(-5)
        victim = pool.map(lambda i: os.getpid(), [0])[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.5)
        for _ in range(3):
            assert pool.map(lambda i: (BIG[-1], len(BIG)), range(20)) == [(-5, 100_001)] * 20
        pool.clear()
        print("OK")
''')


@pytest.mark.parametrize("context,init", [("fork", ""), ("fork", "init"), ("spawn", "")])
def test_workers_always_see_the_kernels_value(tmp_path, context, init):
    script = tmp_path / "inherit_script.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), context, init or "-"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("OK")
