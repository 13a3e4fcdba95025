"""Code defined in __main__ (a notebook cell, a script) under every start method.

Each case runs a fresh interpreter, because what matters is how __main__
travels to workers that did not inherit it (spawn, forkserver).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import linecache, sys
    from pathos_magics.pools import ProcessPool

    SCALE = 3
    BIG = list(range(250_000))          # a global the closure must not drag along

    class Point:
        def __init__(self, x):
            self.x = x
        def norm(self):
            return abs(self.x) * SCALE

    def make_adder(n):
        return lambda x: x + n

    if __name__ == "__main__":
        pool = ProcessPool(2, context=sys.argv[1])
        assert pool.map(lambda x: x * SCALE, range(5)) == [0, 3, 6, 9, 12]
        assert pool.map(make_adder(10), [1, 2]) == [11, 12]
        assert pool.map(Point.norm, [Point(-1), Point(2)]) == [3, 6]
        made = pool.map(Point, [7])
        assert made[0].x == 7 and type(made[0]).__name__ == "Point"
        assert pool.map(lambda i: BIG[i], [0, 249_999]) == [0, 249_999]
        # a global changed after the workers started is seen as it is now
        # (pathos under fork reads the workers' stale copy of __main__)
        BIG[0] = -1
        assert pool.map(lambda i: BIG[i], [0]) == [-1]

        # a "notebook cell": source only in linecache, like IPython's
        cell = "def cell_fn(x):\\n    return 1 / (x - 2)\\n"
        name = "<ipython-input-7-cafe>"
        linecache.cache[name] = (len(cell), None, cell.splitlines(True), name)
        exec(compile(cell, name, "exec"), globals())
        try:
            pool.map(cell_fn, range(4))
        except ZeroDivisionError as exc:
            assert "return 1 / (x - 2)" in str(exc.__cause__), str(exc.__cause__)
        else:
            raise AssertionError("no error")
        pool.clear()
        print("OK")
''')


@pytest.mark.parametrize("context", ["fork", "spawn", "forkserver"])
def test_main_module_code_runs_under_start_method(tmp_path, context):
    script = tmp_path / "main_script.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), context], capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("OK")
