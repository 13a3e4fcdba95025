"""How code travels: the marshal fast path for plain notebook functions, dill
for the rest, the C pickler for bulky globals."""
from __future__ import annotations

import math


from pathos_magics import serialize

SCALE = 3
BIG = list(range(10_000))
LOCK = 1


def _as_notebook(fn):
    fn.__module__ = "__main__"          # how a cell's function looks
    return fn


def _roundtrip(fn):
    return serialize.loads_code(serialize.dumps_code(fn))


def _used_fast_path(fn) -> bool:
    (blob, _bulk), _sources = serialize.dumps_code(fn)
    return b"_make_function" in blob


def test_a_plain_lambda_takes_the_fast_path():
    fn = _as_notebook(lambda x: x + 1)
    assert _used_fast_path(fn)
    assert _roundtrip(fn)(41) == 42


def test_fast_path_keeps_defaults_kwdefaults_doc_and_names():
    def scaled(x, y=2, *, z=5):
        "scale it"
        return [math.sqrt(x) * SCALE + y + z for _ in range(1)]
    fn = _roundtrip(_as_notebook(scaled))
    assert fn(4) == [13.0] and fn(4, 0, z=0) == [6.0]
    assert fn.__doc__ == "scale it" and fn.__name__ == "scaled"
    assert fn.__qualname__.endswith("scaled")


def test_bulky_globals_go_by_the_c_pickler():
    fn = _as_notebook(lambda i: BIG[i] * SCALE)
    (_blob, bulk), _ = serialize.dumps_code(fn)
    assert bulk, "the 10k-item list should travel as a C-pickled blob"
    assert _roundtrip(fn)(9_999) == 29_997


def _cell(source: str, name: str):
    """Run ``source`` as a notebook cell would (globals named __main__)."""
    scope = {"__name__": "__main__"}
    exec(compile(source, "<ipython-input-1-abc>", "exec"), scope)
    return scope[name]


def test_recursive_function_falls_back_to_dill_and_works():
    fact = _cell("def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n", "fact")
    assert not _used_fast_path(fact)
    assert _roundtrip(fact)(5) == 120


def test_function_naming_a_notebook_function_falls_back():
    fn = _cell("class P:\n    k = 3\n\ndef f(x):\n    return P.k * x\n", "f")
    assert not _used_fast_path(fn)
    assert _roundtrip(fn)(2) == 6


def test_attribute_named_like_an_unpicklable_global_falls_back():
    # co_names has "LOCK" as an attribute name: the fast path would try to
    # ship the module's lock; dill knows it is an attribute, not a global
    class Box:
        LOCK = 7
    fn = _as_notebook(lambda b: b.LOCK + 1)
    assert _roundtrip(fn)(Box()) == 8


def test_closures_are_dills():
    n = 10
    fn = _as_notebook(lambda x: x + n)
    assert not _used_fast_path(fn)
    assert _roundtrip(fn)(1) == 11
