"""Big __main__ globals that forked workers already hold are named, not shipped,
and only while the workers' copy provably equals the kernel's."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import types

import pytest

from pathos_magics import inherit, serialize


@pytest.fixture
def main_ns(monkeypatch):
    """A stand-in __main__ whose namespace the tests fill."""
    module = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", module)
    return vars(module)


@pytest.fixture
def forked(main_ns, monkeypatch):
    """What a worker forked now would see (its names as of "the fork")."""
    def fork():
        inherit.capture_in_child()
    monkeypatch.setattr(inherit, "_AT_FORK", None)
    monkeypatch.setattr(inherit, "_KEPT", {})
    return fork


def pid_of(obj, excluded=frozenset()):
    return inherit.Namer(excluded).persistent_id(obj)


def test_a_big_global_of_atoms_is_named_and_found(main_ns, forked):
    main_ns["BIG"] = big = list(range(1000, 2000))
    forked()
    pid = pid_of(big)
    assert pid[:3] == ("inherited", "BIG", "list")
    assert inherit.resolve(*pid[1:]) is big           # the worker's own copy, no copy made


@pytest.mark.parametrize("change", [
    lambda v: v.__setitem__(5, float(v[5])),          # equal value, other type
    lambda v: v.__setitem__(5, v[5] == v[5]),         # True: equal to 1, not the same
    lambda v: v.__setitem__(0, 1000.0),
    lambda v: v.append(1),
    lambda v: v.pop(),
    lambda v: v.reverse(),
])
def test_a_worker_whose_copy_differs_says_stale(main_ns, forked, change):
    main_ns["BIG"] = big = list(range(1000, 2000))
    forked()
    kernels = list(big)                                # the kernel changes its value...
    change(kernels)
    main_ns["BIG"] = kernels                           # ...(a new object: the fork kept the old)
    with pytest.raises(inherit.Stale, match="'BIG' has another value"):
        inherit.resolve(*pid_of(kernels)[1:])


def test_signed_zero_counts_as_a_change(main_ns, forked):
    main_ns["Z"] = [0.0] * 500
    forked()
    main_ns["Z"] = now = [0.0] * 500
    now[7] = -0.0                                      # == 0.0, but 1/x differs
    with pytest.raises(inherit.Stale):
        inherit.resolve(*pid_of(now)[1:])


def test_a_task_that_changed_the_workers_copy_makes_it_stale(main_ns, forked):
    main_ns["BIG"] = big = list(range(1000, 2000))
    forked()
    pid = pid_of(big)
    inherit.resolve(*pid[1:])[3] = "changed by a task"
    with pytest.raises(inherit.Stale):
        inherit.resolve(*pid[1:])


def test_type_and_existence_are_checked(main_ns, forked):
    main_ns["B"] = bytearray(b"x" * 1000)
    forked()
    with pytest.raises(inherit.Stale, match="is a bytearray, not a bytes"):
        inherit.resolve("B", "bytes", inherit.digest(b"x" * 1000))
    with pytest.raises(inherit.Stale, match="does not exist"):
        inherit.resolve("NEW", "list", b"")


def test_dicts_tuples_and_strings(main_ns, forked):
    table = {i: str(i) for i in range(400)}
    main_ns.update(TABLE=table, FROZEN=tuple(range(400)), TEXT="x" * 1000)
    forked()
    for name in ("TABLE", "FROZEN", "TEXT"):
        pid = pid_of(main_ns[name])
        assert pid[1] == name and inherit.resolve(*pid[1:]) is main_ns[name]
    reordered = dict(table)
    del reordered[3]
    reordered[3] = "3"                                 # same items, other order
    main_ns["TABLE"] = reordered
    with pytest.raises(inherit.Stale):
        inherit.resolve(*pid_of(reordered)[1:])


@pytest.mark.parametrize("value", [
    [[i] for i in range(300)],                         # items that can change in place
    [bytearray(b"x")] * 300,
    [b"bytes"] * 300,                                  # marshal would confuse it with a bytearray
    list(range(10)),                                   # too small to be worth it
])
def test_what_is_never_named(main_ns, value):
    main_ns["V"] = value
    assert pid_of(value) is None


def test_unbound_private_and_history_names_are_not_named(main_ns):
    main_ns.update(In=["x"] * 300, _oh=list(range(300)), A=list(range(300)))
    assert pid_of(main_ns["In"]) is None and pid_of(main_ns["_oh"]) is None
    assert pid_of(list(range(300))) is None            # bound to no name
    # a name a worker said was stale goes with its value, to be kept
    assert pid_of(main_ns["A"], excluded=frozenset({"A"}))[:2] == ("keep", "A")


def test_a_global_made_after_the_fork_is_kept_once_shipped(main_ns, forked):
    forked()                                                    # before it existed
    main_ns["LATE"] = late = list(range(1000))
    with pytest.raises(inherit.Stale, match="does not exist here"):
        inherit.resolve(*pid_of(late)[1:])
    exec("def f(i):\n    return LATE[i]\n", main_ns)
    payload = serialize.dumps_code(main_ns["f"], inherit.Namer(frozenset({"LATE"})))
    kept = serialize.loads_code(payload).__globals__["LATE"]
    assert inherit.resolve(*pid_of(late)[1:]) is kept           # the next maps


def test_a_value_shipped_to_a_stale_worker_is_kept_while_it_holds(main_ns, forked):
    main_ns["A"] = list(range(1000))
    forked()
    main_ns["A"] = new = [float(i) for i in range(1000)]        # the kernel's change
    with pytest.raises(inherit.Stale):
        inherit.resolve(*pid_of(new)[1:])
    exec("def f(i):\n    return A[i]\n", main_ns)
    payload = serialize.dumps_code(main_ns["f"], inherit.Namer(frozenset({"A"})))
    assert len(payload[0][1]) == 1                             # the value travels
    shipped = serialize.loads_code(payload)
    kept = shipped.__globals__["A"]
    assert kept == new and kept is not new
    # the next maps name it again, and the worker takes what it kept
    for _ in range(2):
        assert inherit.resolve(*pid_of(new)[1:]) is kept
    kept[3] = "a task wrote here"                               # in this worker only
    with pytest.raises(inherit.Stale):
        inherit.resolve(*pid_of(new)[1:])
    # the kernel back at the fork's value: the fork's copy, and nothing kept
    main_ns["A"] = old = list(range(1000))
    assert inherit.resolve(*pid_of(old)[1:]) is inherit._AT_FORK["A"]
    assert "A" not in inherit._KEPT


def test_the_code_payload_names_the_global_instead_of_carrying_it(main_ns):
    main_ns["BIG"] = big = list(range(1000, 2000))
    exec("def f(i):\n    return BIG[i]\n", main_ns)
    f = main_ns["f"]
    (blob, bulk), _ = serialize.dumps_code(f, inherit.Namer())
    assert bulk == [] and len(blob) < 1000
    (_, bulk), _ = serialize.dumps_code(f)
    assert len(bulk) == 1                              # for a worker not forked: by value
    assert big


SCRIPT = textwrap.dedent('''
    import sys
    from pathos_magics import serialize
    from pathos_magics.pools import ProcessPool

    BIG = list(range(100_000))
    TABLE = {i: i for i in range(1000)}

    shipped = []
    dumps = serialize.dumps_code
    def spy(func, namer=None):
        payload = dumps(func, namer)
        shipped.append(sum(len(b) for b in payload[0][1]))
        return payload
    serialize.dumps_code = spy

    def last_shipped():
        return shipped[-1]

    if __name__ == "__main__":
        context, init = sys.argv[1], sys.argv[2] == "init"
        kw = {"initializer": abs, "initargs": (1,)} if init else {}
        pool = ProcessPool(2, context=context, **kw)
        inherits = context == "fork"
        get = lambda i: BIG[i]
        assert pool.map(get, [0, 99_999]) == [0, 99_999]
        assert (last_shipped() == 0) == inherits, shipped
        assert pool.map(lambda k: TABLE[k] * 2, [3]) == [6]

        # a task that changes its worker's own copy in place: the next map
        # sees the kernel's value in every worker (they say stale, get it)
        def spoil(i):
            BIG[1] = "spoiled"
            return BIG[1]
        assert set(pool.map(spoil, range(8))) == {"spoiled"}
        assert (last_shipped() == 0) == inherits, shipped
        assert pool.map(lambda i: BIG[1], range(8)) == [1] * 8
        assert last_shipped() > 100_000

        # changes in the kernel are seen
        BIG[0] = 0.0
        assert [type(x) for x in pool.map(get, [0, 0, 0, 0])] == [float] * 4
        assert last_shipped() > 100_000
        # what was shipped is kept: the next map names it again
        assert [type(x) for x in pool.map(get, [0, 0, 0, 0])] == [float] * 4
        assert (last_shipped() == 0) == inherits, shipped
        # a task that changes the kept copy: the next map still sees the kernel's
        assert set(pool.map(spoil, range(8))) == {"spoiled"}
        assert pool.map(lambda i: BIG[1], range(8)) == [1] * 8
        BIG[0] = 0
        assert [type(x) for x in pool.map(get, [0, 0, 0, 0])] == [int] * 4

        # a worker forked after a change (a replacement) holds the new value
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
