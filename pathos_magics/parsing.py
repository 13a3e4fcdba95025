"""One argument parser for every magic: argparse whose mistakes raise
IPython's ``UsageError`` (a short message and the usage, no traceback), and
whose help becomes the magic's docstring (``%%pmap?``, ``%pathos?``), so the
help shown is always the one the parser enforces."""
from __future__ import annotations

import argparse
from typing import Callable, NoReturn, Optional

from IPython.core.error import UsageError


class MagicParser(argparse.ArgumentParser):
    """argparse for a magic (``prog`` is how the user types it)."""

    def __init__(self, prog: str, **kwds: object) -> None:
        super().__init__(prog=prog, add_help=False, **kwds)   # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        raise UsageError(message or self.format_help())


def with_help(*parsers: MagicParser) -> Callable[[Callable], Callable]:
    """Append the parsers' help to a magic's docstring (as IPython's
    ``magic_arguments`` does), where ``{help}`` stands, or at the end."""
    def decorate(fn: Callable) -> Callable:
        doc = fn.__doc__ or ""
        if "{help}" not in doc:
            doc += "\n{help}"
        line = next(ln for ln in doc.splitlines() if "{help}" in ln)
        margin = line[:len(line) - len(line.lstrip())]
        text = "\n".join(_indent(p.format_help(), margin) for p in parsers)
        fn.__doc__ = doc.replace(margin + "{help}", text.rstrip())
        return fn
    return decorate


def _indent(text: str, margin: str) -> str:
    return "\n".join((margin + line) if line else line for line in text.splitlines()) + "\n"
