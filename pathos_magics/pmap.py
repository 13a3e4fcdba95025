"""What ``%%pmap`` does, apart from IPython's magic plumbing.

    %%pmap -o squares x in range(1000)
    y = heavy(x)
    y ** 2

becomes a function of one item, compiled from the cell with the cell's own
file name (so a worker's traceback shows the cell's lines), whose globals are
the notebook's namespace: dill then ships only the names the body uses.
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import tokenize
import traceback
import types
from dataclasses import dataclass
from typing import Any, Callable, Optional

from IPython.core.error import UsageError
from IPython.display import display

from . import active, profile, progress
from .errors import RemoteTraceback
from .parsing import MagicParser
from .scheduler import AsyncResult

_ITEM = "_pmap_item"
@dataclass
class PmapOptions:
    target: str
    iterable: str
    header: str = ""
    out: Optional[str] = None
    pool: Optional[str] = None
    nodes: Optional[int] = None
    chunksize: Optional[int] = None
    unordered: bool = False
    run_async: bool = False
    progress: bool = True
    profile: bool = False


def pmap_parser() -> MagicParser:
    """The options of ``%%pmap`` (its help is the magic's docstring)."""
    p = MagicParser("%%pmap", usage="%(prog)s [options] TARGET in ITERABLE")
    p.add_argument("-o", "--out", metavar="NAME",
                   help="store the results (with --async: the handle) as NAME")
    p.add_argument("-p", "--pool", choices=active.KINDS, metavar="KIND",
                   help=f"{' | '.join(active.KINDS)} (default: the active pool; "
                        "remote: the active remote pool's hosts)")
    p.add_argument("-n", "--nodes", type=int, metavar="N", help="workers for this cell")
    p.add_argument("--chunksize", type=int, metavar="K",
                   help="tasks per chunk (default: adapts to task time)")
    p.add_argument("--unordered", action="store_true",
                   help="results in the order they finish")
    p.add_argument("--async", dest="run_async", action="store_true",
                   help="return at once with a handle; .result() waits")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress display for this cell")
    p.add_argument("--profile", action="store_true",
                   help="run the tasks under cProfile on the workers and show the "
                        "top functions (merged; %%pathos profile show --worker LABEL "
                        "for one, while %%pathos profile is on)")
    return p


_FLAGS_WITH_VALUE = {flag for action in pmap_parser()._actions if action.nargs is None
                     for flag in action.option_strings}


def parse_pmap_line(line: str) -> PmapOptions:
    """Split ``[options] TARGET in ITERABLE``; the header after the options is
    Python, kept as typed (no shell-style splitting of its quotes)."""
    words = list(re.finditer(r"\S+", line))
    flags: list[str] = []
    i = 0
    while i < len(words) and words[i].group().startswith("-"):
        word = words[i].group()
        flags.append(word)
        if word in _FLAGS_WITH_VALUE and i + 1 < len(words):
            flags.append(words[i + 1].group())
            i += 1
        i += 1
    header = _strip_comment(line[words[i].start():]) if i < len(words) else ""
    parser = pmap_parser()
    opts = parser.parse_args(flags)
    if not header:
        parser.error("say what to map over, e.g. `%%pmap x in range(10)`")
    target, iterable = _split_header(header)
    for name, value in (("--nodes", opts.nodes), ("--chunksize", opts.chunksize)):
        if value is not None and value < 1:
            parser.error(f"{name} must be a positive integer, not {value}")
    if opts.out is not None and not opts.out.isidentifier():
        parser.error(f"-o takes a variable name, not {opts.out!r}")
    if opts.profile and opts.run_async:
        parser.error("--profile shows the profile when the map is done, so not with "
                     "--async; use `%pathos profile on`, then `%pathos profile show`")
    return PmapOptions(target, iterable, line.strip(), **vars(opts))


def _strip_comment(text: str) -> str:
    """The header without a trailing ``# comment`` (Python's own tokens, so
    a ``#`` inside a string stays)."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                return text[:tok.start[1]].strip()
    except (tokenize.TokenError, SyntaxError):
        pass                           # unbalanced: _split_header says so
    return text.strip()


def _split_header(header: str) -> tuple[str, str]:
    try:
        loop = ast.parse(f"for {header}:\n    pass\n").body[0]
    except SyntaxError:
        pmap_parser().error(f"cannot read {header!r} as `TARGET in ITERABLE` "
                            "(like `x in range(10)` or `a, b in zip(xs, ys)`)")
    assert isinstance(loop, ast.For)
    return ast.unparse(loop.target), ast.unparse(loop.iter)


def build_function(shell: Any, target: str, cell: str, header: str = "") -> Callable:
    """The cell as a function of one item, with the notebook as its globals.

    Names assigned in the body are local to each item; the last expression
    statement is returned (None if the cell ends with a statement).
    """
    # linecache holds the whole cell, magic line included, so the line numbers
    # of a traceback are the cell's own (the body starts on line 2)
    filename = shell.compile.cache(f"%%pmap {header}\n{cell}")
    try:
        body = ast.parse("\n" + cell, filename=filename).body
    except SyntaxError as exc:
        raise UsageError(f"%%pmap: syntax error in the cell, line {exc.lineno}: "
                         f"{exc.msg}") from None
    if body and isinstance(body[-1], ast.Expr):
        body[-1] = ast.copy_location(ast.Return(value=body[-1].value), body[-1])
    func = ast.parse(f"def pmap_cell({_ITEM}):\n    {target} = {_ITEM}\n").body[0]
    assert isinstance(func, ast.FunctionDef)
    for node in ast.walk(func):                  # the binding is the cell's line 1
        node.lineno = node.end_lineno = 1        # type: ignore[attr-defined]
    func.body += body or [ast.Pass()]
    module = ast.fix_missing_locations(ast.Module(body=[func], type_ignores=[]))
    code = compile(module, filename, "exec")
    fcode = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    return types.FunctionType(fcode, shell.user_ns, "pmap_cell")


class PmapHandle:
    """What ``%%pmap --async`` returns: the map runs on; ``result()`` waits."""

    def __init__(self, result: AsyncResult, pool: Any) -> None:
        self._result = result
        self.pool = pool

    def result(self, timeout: Optional[float] = None) -> list:
        """The results in input order; waits up to ``timeout`` seconds."""
        return _raise_short(lambda: self._result.get(timeout))

    get = result

    def ready(self) -> bool:
        return self._result.ready()

    done = ready

    def cancel(self) -> None:
        self._result.cancel()

    def __repr__(self) -> str:
        state = "done" if self._result.ready() else "running"
        return f"<%%pmap on {self.pool!r}: {state}; .result() waits for the list>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


def run_pmap(shell: Any, opts: PmapOptions, cell: str) -> Any:
    """Map the cell over ``opts.iterable`` evaluated in the notebook."""
    func = build_function(shell, opts.target, cell, opts.header)
    try:
        items = eval(opts.iterable, shell.user_ns)  # noqa: S307 - the user's own header
    except Exception as exc:
        raise UsageError(f"%%pmap: evaluating {opts.iterable!r} failed: "
                         f"{type(exc).__name__}: {exc}") from None
    pool = _choose_pool(opts)
    kw: dict[str, Any] = {} if opts.chunksize is None else {"chunksize": opts.chunksize}
    if opts.profile:
        kw["profile"] = True
    with (progress.suppressed() if not opts.progress else contextlib.nullcontext()):
        if opts.run_async:
            return PmapHandle(pool.amap(func, items, **kw), pool)
        with profile.recording(pool.name) if opts.profile else _no_recording() as rec:
            if opts.unordered:
                result = _raise_short(lambda: list(pool.uimap(func, items, **kw)))
            else:
                result = _raise_short(lambda: pool.map(func, items, **kw))
    if rec is not None:        # the table, then the cell's value: the results
        display(rec.stats().table(title=f"%%pmap profile on {pool.name}"))
    return result


@contextlib.contextmanager
def _no_recording() -> Any:
    yield None


def _choose_pool(opts: PmapOptions) -> Any:
    try:
        if opts.pool is None:
            return active.Pool(opts.nodes)
        if opts.pool == "remote":
            spec = active.active_spec()
            if spec.kind != "remote":
                raise UsageError("%%pmap --pool remote runs on the active remote pool's "
                                 "hosts: choose them first with %pathos pool remote HOST...")
            return active.make_pool("remote", opts.nodes, **spec.options)
        return active.make_pool(opts.pool, opts.nodes)
    except ValueError as exc:
        raise UsageError(f"%%pmap: {exc}") from None


def _raise_short(call: Callable[[], Any]) -> Any:
    """Run the map; a failure shows the item and the cell's lines, not our
    plumbing (IPython renders an exception by its ``_render_traceback_``)."""
    try:
        return call()
    except Exception as exc:
        lines = _user_traceback(exc)
        exc._render_traceback_ = lambda: lines  # type: ignore[attr-defined]
        raise


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_traceback(exc: BaseException) -> list[str]:
    if isinstance(exc.__cause__, RemoteTraceback):
        body = str(exc.__cause__).rstrip("\n").splitlines()
        body = body[:-1] if body and body[-1].startswith(type(exc).__name__) else body
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
        body = ["Traceback (most recent call last):"] + "".join(
            traceback.format_list(frames)).rstrip("\n").splitlines()
    tail = traceback.format_exception_only(type(exc), exc)
    return body + "".join(tail).rstrip("\n").splitlines()
