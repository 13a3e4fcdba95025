"""%pathos and %%pmap through IPython's InteractiveShell (no kernel)."""
from __future__ import annotations

import traceback

import pytest

pytest.importorskip("IPython")
from IPython.core.error import UsageError  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from pathos_magics import active  # noqa: E402
from pathos_magics.pmap import parse_pmap_line  # noqa: E402


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "pathos_magics")
    shell.run_line_magic("pathos", "pool thread 2")
    shell.run_line_magic("pathos", "progress off")
    yield shell
    shell.run_line_magic("unload_ext", "pathos_magics")
    active.reset_active()
    for name in ("out", "K", "math", "squares", "h", "xs", "ys"):
        shell.user_ns.pop(name, None)


def run(ip, cell):
    result = ip.run_cell(cell)
    return result


# ---------------------------------------------------------------- parsing

def test_header_parsing_keeps_python_as_typed():
    opts = parse_pmap_line('-o out --chunksize 3 --unordered k, v in d.items() if "a b" else []')
    assert opts.out == "out" and opts.chunksize == 3 and opts.unordered
    assert opts.target == "(k, v)" or opts.target == "k, v"
    assert opts.iterable == "d.items() if 'a b' else []"


@pytest.mark.parametrize("line, message", [
    ("--bogus x in xs", "unrecognized arguments: --bogus"),
    ("x in", "cannot read"),
    ("", "say what to map over"),
    ("-n 0 x in xs", "--nodes must be a positive integer"),
    ("-p gpu x in xs", "invalid choice"),
    ("-o 1abc x in xs", "-o takes a variable name"),
])
def test_bad_headers_are_usage_errors(line, message):
    with pytest.raises(UsageError, match=message):
        parse_pmap_line(line)


# ---------------------------------------------------------------- %%pmap

def test_pmap_uses_notebook_names_and_returns_the_last_expression(ip):
    run(ip, "K = 10\nimport math")
    result = run(ip, "%%pmap -o out x in range(6)\ny = x * K\nmath.sqrt(y)")
    assert result.success, result.error_in_exec
    assert result.result == [(x * 10) ** 0.5 for x in range(6)]
    assert ip.user_ns["out"] == result.result
    assert "y" not in ip.user_ns                       # body names stay per item


def test_pmap_unpacks_tuples_and_keeps_input_order(ip):
    run(ip, "xs = [1, 2, 3]\nys = [10, 20, 30]")
    result = run(ip, "%%pmap a, b in zip(xs, ys)\na + b")
    assert result.result == [11, 22, 33]


def test_pmap_ships_only_the_names_the_body_uses(ip):
    # a lock in the namespace cannot be pickled: it must not be sent
    run(ip, "import threading\nunrelated_lock = threading.Lock()\nK = 3")
    result = run(ip, "%%pmap --pool process -n 2 x in range(4)\nx * K")
    assert result.success, result.error_in_exec
    assert result.result == [0, 3, 6, 9]


def test_pmap_process_pool_with_a_closure_over_notebook_state(ip):
    run(ip, "K = 7\ndef scale(v):\n    return v * K")
    result = run(ip, "%%pmap -p process -n 2 x in range(5)\nscale(x) + 1")
    assert result.result == [x * 7 + 1 for x in range(5)]


def test_pmap_unordered_has_every_result(ip):
    result = run(ip, "%%pmap --unordered x in range(20)\nx * 2")
    assert sorted(result.result) == [x * 2 for x in range(20)]


def test_pmap_async_returns_a_handle(ip):
    result = run(ip, "%%pmap --async -o h x in range(5)\nx + 1")
    handle = ip.user_ns["h"]
    assert handle is result.result
    assert handle.result(timeout=10) == [1, 2, 3, 4, 5]
    assert handle.ready() and "done" in repr(handle)


def test_pmap_failure_names_the_item_and_the_cell_line(ip, capsys):
    result = run(ip, "%%pmap x in ['a', 'b', 'bad', 'c']\nn = len(x)\nint(x) if x == 'bad' else n")
    assert isinstance(result.error_in_exec, ValueError)
    notes = " ".join(getattr(result.error_in_exec, "__notes__", []))
    assert "task 2" in notes and "'bad'" in notes
    shown = "".join(traceback.format_exception(result.error_in_exec))
    assert "int(x) if x == 'bad' else n" in shown    # the cell's own line


def test_pmap_failure_in_a_process_shows_the_worker_traceback(ip, capsys):
    result = run(ip, "%%pmap -p process -n 2 x in [1, 0]\nq = 1 / x\nq")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    remote = str(result.error_in_exec.__cause__)
    assert "q = 1 / x" in remote and "pmap_cell" in remote


def test_pmap_syntax_error_in_body_is_a_usage_error(ip, capsys):
    result = run(ip, "%%pmap x in range(3)\ny = (x +\n")
    assert isinstance(result.error_in_exec, UsageError)
    assert "syntax error in the cell" in str(result.error_in_exec)


def test_pmap_bad_iterable_is_a_usage_error(ip):
    result = run(ip, "%%pmap x in undefined_name\nx")
    assert isinstance(result.error_in_exec, UsageError)
    assert "NameError" in str(result.error_in_exec)


def test_pmap_empty_body_is_a_usage_error(ip):
    result = run(ip, "%%pmap x in range(3)\n\n")
    assert isinstance(result.error_in_exec, UsageError)


def test_pmap_help_is_the_docstring(ip):
    doc = ip.find_cell_magic("pmap").__doc__
    assert "--unordered" in doc and "TARGET in ITERABLE" in doc


# ---------------------------------------------------------------- %pathos

def test_pathos_pool_sets_the_active_pool(ip):
    report = ip.run_line_magic("pathos", "pool serial")
    assert "SerialPool" in repr(report)
    assert type(active.Pool()).__name__ == "SerialPool"
    report = ip.run_line_magic("pathos", "pool process 2")
    assert "ProcessPool(ncpus=2)" in repr(report)
    assert active.Pool().map(abs, [-1, -2]) == [1, 2]


@pytest.mark.parametrize("line, message", [
    ("pool gpu 2", "invalid choice"),
    ("pool process two", "positive integer"),
    ("pool process 0", "positive integer"),
    ("pool serial 3", "takes no worker count"),
    ("pool remote", "name at least one host"),
    ("frobnicate", "unknown command"),
    ("progress maybe", "on|off|auto"),
])
def test_pathos_bad_lines_are_usage_errors(ip, line, message):
    before = active.active_spec()
    with pytest.raises(UsageError, match=message):
        ip.run_line_magic("pathos", line)
    assert active.active_spec() == before            # nothing changed


def test_pathos_status_shows_workers_as_text_and_html(ip):
    ip.run_line_magic("pathos", "pool thread 2")
    report = ip.run_line_magic("pathos", "status")
    text, html = repr(report), report._repr_html_()
    assert "thread-0" in text and "thread-1" in text and "idle" in text
    assert "<table>" in html and "thread-1" in html


def test_pathos_progress_switches_the_policy(ip, capsys):
    from pathos_magics import progress
    ip.run_line_magic("pathos", "progress on")
    assert progress.policy() == "on"
    ip.run_line_magic("pathos", "progress off")
    assert progress.policy() == "off"


def test_unload_removes_the_magics(ip):
    ip.run_line_magic("unload_ext", "pathos_magics")
    assert ip.find_cell_magic("pmap") is None
    assert ip.find_line_magic("pathos") is None
    ip.run_line_magic("load_ext", "pathos_magics")
    assert ip.find_cell_magic("pmap") is not None


def test_pmap_header_may_end_with_a_comment(ip):
    result = run(ip, "%%pmap x in range(4)  # squares, '#' in a string stays\nx * x")
    assert result.success, result.error_in_exec
    assert result.result == [0, 1, 4, 9]
    assert parse_pmap_line("s in ['a#b']  # c").iterable == "['a#b']"


def test_pool_kinds_and_help_come_from_one_table(ip):
    from pathos_magics.pmap import pmap_parser
    pmap_kinds = next(a.choices for a in pmap_parser()._actions if a.dest == "pool")
    assert tuple(pmap_kinds) == active.KINDS
    for doc in (ip.find_line_magic("pathos").__doc__, ip.find_cell_magic("pmap").__doc__):
        assert all(kind in doc for kind in active.KINDS)


def test_pmap_pool_remote_needs_an_active_remote_pool(ip):
    ip.run_line_magic("pathos", "pool thread 2")
    result = run(ip, "%%pmap --pool remote x in range(2)\nx")
    assert isinstance(result.error_in_exec, UsageError)
    assert "%pathos pool remote" in str(result.error_in_exec)


def test_switching_the_active_pool_stops_the_previous_one(ip):
    import psutil
    ip.run_line_magic("pathos", "pool process 3")
    first = [w.pid for w in active.Pool().workers]
    assert len(first) == 3
    ip.run_line_magic("pathos", "pool process 2")
    report = repr(ip.run_line_magic("pathos", "status"))
    assert "ncpus=2" in report
    gone = psutil.wait_procs([psutil.Process(p) for p in first if psutil.pid_exists(p)],
                             timeout=10)[1]
    assert gone == []                                  # none of the 3 left running


def test_nested_map_on_the_active_thread_pool_runs_in_the_calling_thread(ip):
    ip.run_line_magic("pathos", "pool thread 2")
    run(ip, "from pathos_magics import Pool")
    result = run(ip, "Pool().map(lambda x: Pool().map(abs, [-x, -x - 1]), range(3))")
    assert result.success, result.error_in_exec
    assert result.result == [[0, 1], [1, 2], [2, 3]]


def test_unordered_and_async_errors_show_the_cell_not_our_frames(ip):
    run(ip, "def bad(x):\n    return 1 / (x - 2)")
    for line in ("%%pmap --unordered x in range(4)", "%%pmap --async -o h x in range(4)"):
        result = run(ip, f"{line}\nbad(x)")
        if "--async" in line:
            result = run(ip, "h.result()")
        exc = result.error_in_exec
        assert isinstance(exc, ZeroDivisionError)
        shown = "\n".join(exc._render_traceback_())
        assert "pathos_magics" not in shown and "1 / (x - 2)" in shown
