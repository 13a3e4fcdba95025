"""IPython magics: ``%pathos`` (pools, status, progress, tunnels, hosts) and
``%%pmap`` (map a cell over an iterable).

Thin on purpose: each magic parses its line, then calls a plain function
(:mod:`pathos_magics.active`, :mod:`pathos_magics.pmap`, the ssh toolkit,
:mod:`pathos_magics.progress`) and returns a result object that shows itself
as HTML in a notebook and as text in a terminal.  A usage mistake raises
``UsageError``: IPython prints a short message, no traceback.
"""
from __future__ import annotations

import argparse
import shlex
from typing import Any, Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from . import active, progress
from .pmap import PmapOptions, parse_pmap_line, run_pmap
from .status import HostsTable, StatusReport, TunnelsTable


class _Parser(argparse.ArgumentParser):
    """argparse whose mistakes become UsageError (a short message, no traceback)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: Optional[str] = None) -> None:  # type: ignore[override]
        raise UsageError(message or self.format_help())


def _pool_parser() -> _Parser:
    p = _Parser(prog="%pathos pool", add_help=False,
                description="choose the active pool")
    p.add_argument("kind", choices=active.KINDS)
    p.add_argument("args", nargs="*",
                   help="serial | thread N | process N | remote HOST... | mpi N")
    p.add_argument("--local", type=int, default=None,
                   help="remote: local worker processes beside the hosts")
    p.add_argument("--accept-new-host-key", action="store_true")
    p.add_argument("--python", help="remote: the Python command on the hosts")
    return p


def _positive(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"{what} must be a positive integer, not {text!r}") from None
    if n < 1:
        raise UsageError(f"{what} must be a positive integer, not {text!r}")
    return n


def _remember_hosts(specs: tuple) -> None:
    """Hosts a remote pool started on go into the registry (%pathos hosts)."""
    from . import hosts
    for spec in specs:
        host = hosts.REGISTRY.add(spec)
        hosts.set_status(host.name, "ok", None)


def _servers_from_words(words: list[str]) -> tuple:
    """The magic's ``[user@]host[:workers]`` words as ``servers=``."""
    from .hosts import HostSpecError
    from .pools.servers import from_words
    try:
        return from_words(words)
    except HostSpecError as exc:
        raise UsageError(f"%pathos pool remote: {exc}") from None


def _ssh_words(words: list[str]) -> tuple:
    from .pools.servers import ssh_words
    return ssh_words(words)


@magics_class
class PathosMagics(Magics):
    """``%pathos`` and ``%%pmap``."""

    @line_magic
    def pathos(self, line: str) -> Any:
        """Control pathos_magics from a notebook.

        Usage::

          %pathos pool process 4        choose the active pool: serial | thread N |
                                        process N | mpi N | remote HOST[:N]... [--local N]
                                        [--python CMD] [--accept-new-host-key]
          %pathos status                the active pool, its workers and their state
          %pathos progress on|off|auto  progress display (auto: widget in notebooks,
                                        text bar in a terminal)
          %pathos tunnel HOST:PORT      open an ssh tunnel to PORT on HOST; prints the
                                        local port (--close HOST:PORT closes it)
          %pathos tunnels               the open tunnels
          %pathos hosts                 the host registry
          %pathos clear                 stop the active pool's workers
        """
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%pathos: {exc}") from None
        if not words:
            raise UsageError(self.pathos.__doc__)
        command, rest = words[0], words[1:]
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise UsageError(f"%pathos: unknown command {command!r}; one of pool, "
                             "status, progress, tunnel, tunnels, hosts, clear")
        return handler(rest)

    # -- %pathos subcommands

    def _cmd_pool(self, words: list[str]) -> Any:
        opts = _pool_parser().parse_args(words)
        kind, args = opts.kind, opts.args
        nodes: Optional[int] = None
        options: dict[str, Any] = {}
        if kind == "remote":
            if not args:
                raise UsageError("%pathos pool remote: name at least one host, "
                                 "e.g. %pathos pool remote node1 user@node2:8")
            options["servers"] = _servers_from_words(args)
            if opts.accept_new_host_key:
                options["accept_new_host_key"] = True
            if opts.python:
                options["python"] = opts.python
            nodes = opts.local
        elif kind == "serial":
            if args:
                raise UsageError("%pathos pool serial takes no worker count")
        elif len(args) > 1:
            raise UsageError(f"%pathos pool {kind} takes one number: the workers")
        elif args:
            nodes = _positive(args[0], f"%pathos pool {kind}: the number of workers")
        try:
            pool = active.set_active(kind, nodes, **options)
        except ValueError as exc:
            raise UsageError(f"%pathos pool: {exc}") from None
        if kind == "remote":
            _remember_hosts(_ssh_words(args))
        return StatusReport.of(pool)

    def _cmd_status(self, words: list[str]) -> StatusReport:
        return StatusReport.of(active.Pool())

    def _cmd_progress(self, words: list[str]) -> None:
        if len(words) != 1 or words[0] not in ("on", "off", "auto"):
            raise UsageError("usage: %pathos progress on|off|auto "
                             f"(now: {progress.policy()})")
        progress.set_policy(words[0])
        print(f"progress: {words[0]}")

    def _cmd_clear(self, words: list[str]) -> None:
        active.Pool().clear()

    def _cmd_tunnel(self, words: list[str]) -> Any:
        from . import ssh
        p = _Parser(prog="%pathos tunnel", add_help=False)
        p.add_argument("spec", help="HOST:PORT")
        p.add_argument("--close", action="store_true")
        opts = p.parse_args(words)
        try:
            host, port = ssh.parse_tunnel_spec(opts.spec)
        except ValueError as exc:
            raise UsageError(f"%pathos tunnel: {exc}") from None
        if opts.close:
            closed = ssh.close_tunnel(host, port)
            print(f"closed the tunnel to {host}:{port}" if closed
                  else f"no open tunnel to {host}:{port}")
            return None
        tunnel = ssh.open_tunnel(host, port)
        print(f"{host}:{port} -> 127.0.0.1:{tunnel.local_port}")
        return tunnel

    def _cmd_tunnels(self, words: list[str]) -> TunnelsTable:
        from . import ssh
        return TunnelsTable([t.describe() for t in ssh.tunnels()])

    def _cmd_hosts(self, words: list[str]) -> HostsTable:
        from . import hosts
        return HostsTable(hosts.list_hosts())

    # -- %%pmap

    @cell_magic
    def pmap(self, line: str, cell: str) -> Any:
        """Map the cell over an iterable, in parallel.

        Usage::

          %%pmap [options] TARGET in ITERABLE
          y = heavy(x)          # names from the notebook are available
          y ** 2                # the last expression is the item's result

        TARGET binds each item (``a, b in zip(xs, ys)`` unpacks). The results,
        a list in input order, are the cell's value.

        Options:
          -o, --out NAME      store the results (or, with --async, the handle) as NAME
          -p, --pool KIND     serial | thread | process | mpi (default: the active pool)
          -n, --nodes N       workers for this cell
          --chunksize K       tasks per chunk (default: adapts to task time)
          --unordered         results in the order they finish
          --async             return at once with a handle; .result() waits
          --no-progress       no progress display for this cell

        Only the notebook names the body uses are sent to the workers.
        """
        opts = parse_pmap_line(line)
        if not cell.strip():
            raise UsageError("%%pmap: the cell is empty; write the code to run per item "
                             "below the %%pmap line")
        result = run_pmap(self.shell, opts, cell)
        if opts.out:
            self.shell.user_ns[opts.out] = result
        return result


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(PathosMagics)
    progress.enable("auto")      # widget in a notebook, text bar in a terminal


def unload_ipython_extension(ipython: Any) -> None:
    magics = ipython.magics_manager.magics
    for kind, name in (("line", "pathos"), ("cell", "pmap")):
        magics[kind].pop(name, None)
    ipython.magics_manager.registry.pop("PathosMagics", None)
    progress.disable()


__all__ = ["PathosMagics", "PmapOptions", "load_ipython_extension",
           "unload_ipython_extension"]
