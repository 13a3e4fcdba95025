"""IPython magics: ``%pathos`` (pools, status, progress, tunnels, hosts) and
``%%pmap`` (map a cell over an iterable).

Thin on purpose: each magic parses its line, then calls a plain function
(:mod:`pathos_magics.active`, :mod:`pathos_magics.pmap`, the ssh toolkit,
:mod:`pathos_magics.progress`) and returns a result object that shows itself
as HTML in a notebook and as text in a terminal.  A usage mistake raises
``UsageError``: IPython prints a short message, no traceback.
"""
from __future__ import annotations

import shlex
from typing import Any, Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from . import active, profile, profstats, progress
from .parsing import MagicParser, with_help
from .pmap import PmapOptions, parse_pmap_line, pmap_parser, run_pmap
from .status import HostsTable, StatusReport, TunnelsTable


PROFILE_MODES = ("on", "off", "show", "clear")


def _pathos_parsers() -> dict[str, MagicParser]:
    """One parser per ``%pathos`` command; their help is ``%pathos?``."""
    def command(name: str, description: str) -> MagicParser:
        return MagicParser(f"%pathos {name}", description=description)

    pool = command("pool", "choose the active pool (Pool() and %%pmap use it)")
    pool.add_argument("kind", choices=active.KINDS, metavar="|".join(active.KINDS))
    pool.add_argument("args", nargs="*", metavar="N | HOST",
                      help="workers (thread, process, mpi), or the hosts (remote: "
                           "[user@]host[:workers] ...)")
    pool.add_argument("--local", type=int, default=None, metavar="N",
                      help="remote: local worker processes beside the hosts")
    pool.add_argument("--accept-new-host-key", action="store_true",
                      help="remote: trust hosts whose key is not in known_hosts yet")
    pool.add_argument("--python", metavar="CMD",
                      help="remote: the Python command on the hosts")
    status = command("status", "the active pool, its workers and their state")
    prog = command("progress", "progress display (auto: widget in notebooks, text "
                               "bar in a terminal)")
    prog.add_argument("mode", choices=progress.POLICIES, metavar="|".join(progress.POLICIES))
    tunnel = command("tunnel", "open an ssh tunnel to PORT on HOST; prints the local port")
    tunnel.add_argument("spec", metavar="HOST:PORT")
    tunnel.add_argument("--close", action="store_true", help="close it instead")
    tunnels = command("tunnels", "the open tunnels")
    hosts = command("hosts", "the host registry")
    panel = command("panel", "the host picker: choose hosts, test them, start and "
                             "stop the active pool (pathos_magics.panel() takes options)")
    clear = command("clear", "stop the active pool's workers")
    prof = command("profile", "on: profile every map's tasks on their workers (cProfile); "
                              "off: stop (the stats stay); show: the top functions, "
                              "merged or one worker's; clear: forget the stats")
    prof.add_argument("mode", choices=PROFILE_MODES, metavar="|".join(PROFILE_MODES))
    prof.add_argument("--worker", metavar="LABEL",
                      help="show: only this worker's stats ('kernel': this process's)")
    prof.add_argument("--sort", default="cumulative", choices=profstats.SORT_KEYS,
                      metavar="KEY", help="show: a pstats sort key (default cumulative; "
                      + ", ".join(profstats.SORT_KEYS) + ")")
    prof.add_argument("--limit", type=int, default=20, metavar="N",
                      help="show: this many functions (default 20)")
    return {p.prog.split()[1]: p
            for p in (pool, status, prog, tunnel, tunnels, hosts, panel, clear, prof)}


_PARSERS = _pathos_parsers()


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
    @with_help(*_PARSERS.values())
    def pathos(self, line: str) -> Any:
        """Control pathos_magics from a notebook: ``%pathos COMMAND ...``.

        Examples::

          %pathos pool process 4
          %pathos pool remote node1 user@node2:8 --local 2
          %pathos tunnel node1:8888

        Commands:

        {help}
        """
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%pathos: {exc}") from None
        if not words:
            raise UsageError(self.pathos.__doc__)
        command, rest = words[0], words[1:]
        if command not in _PARSERS:
            raise UsageError(f"%pathos: unknown command {command!r}; one of "
                             f"{', '.join(_PARSERS)} (%pathos? shows each)")
        opts = _PARSERS[command].parse_args(rest)
        return getattr(self, f"_cmd_{command}")(opts)

    # -- %pathos subcommands

    def _cmd_pool(self, opts: Any) -> Any:
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

    def _cmd_status(self, opts: Any) -> StatusReport:
        return StatusReport.of(active.Pool())

    def _cmd_progress(self, opts: Any) -> None:
        progress.set_policy(opts.mode)
        print(f"progress: {opts.mode}")

    def _cmd_clear(self, opts: Any) -> None:
        active.Pool().clear()

    def _cmd_tunnel(self, opts: Any) -> Any:
        from . import ssh
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

    def _cmd_tunnels(self, opts: Any) -> TunnelsTable:
        from . import ssh
        return TunnelsTable([t.describe() for t in ssh.tunnels()])

    def _cmd_hosts(self, opts: Any) -> HostsTable:
        from . import hosts
        return HostsTable(hosts.list_hosts())

    def _cmd_profile(self, opts: Any) -> Any:
        if opts.mode == "on":
            profile.enable_profiling()
            print("profiling on: every map's tasks run under cProfile on their workers; "
                  "%pathos profile show shows the top functions")
        elif opts.mode == "off":
            profile.disable_profiling()
            print("profiling off (the stats stay: %pathos profile show)")
        elif opts.mode == "clear":
            profile.clear_stats()
        else:
            if opts.limit < 1:
                raise UsageError(f"%pathos profile: --limit must be a positive "
                                 f"integer, not {opts.limit}")
            try:
                return profile.table(worker=opts.worker, sort=opts.sort, limit=opts.limit)
            except KeyError as exc:
                raise UsageError(f"%pathos profile show: {exc.args[0]}") from None
        return None

    def _cmd_panel(self, opts: Any) -> Any:
        from .hostpanel import panel
        return panel()

    # -- %%pmap

    @cell_magic
    @with_help(pmap_parser())
    def pmap(self, line: str, cell: str) -> Any:
        """Map the cell over an iterable, in parallel.

        Example::

          %%pmap -o squares x in range(1000)
          y = heavy(x)          # names from the notebook are available
          y ** 2                # the last expression is the item's result

        TARGET binds each item (``a, b in zip(xs, ys)`` unpacks). The results,
        a list in input order, are the cell's value. Only the notebook names
        the body uses are sent to the workers.

        {help}
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
