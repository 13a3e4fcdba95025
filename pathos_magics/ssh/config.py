"""Read ``ssh_config`` files the way OpenSSH's ``ssh`` does.

paramiko's ``SSHConfig`` is close but differs where it matters: it does not
follow ``Include``, matches ``Host`` patterns with :mod:`fnmatch` (``[...]``
classes OpenSSH does not have), does not expand ``%%`` and lets a later
``ProxyCommand`` hide an earlier ``ProxyJump``.  This module follows
ssh_config(5) and readconf.c instead:

* files: ``PATHOS_MAGICS_SSH_CONFIG`` (like ``ssh -F``: that file only), else
  ``~/.ssh/config`` then ``/etc/ssh/ssh_config``; a user file (and every
  included file) owned by someone else or writable by others is refused, as
  ssh refuses it ("Bad owner or permissions").
* first value wins; ``IdentityFile`` accumulates; ``ProxyJump`` and
  ``ProxyCommand`` compete: whichever comes first wins.
* ``Host`` (``*``/``?`` patterns, ``!`` negation), ``Match`` (``all``,
  ``canonical``, ``final``, ``host``, ``originalhost``, ``user``,
  ``localuser``, ``exec``), ``Include`` (globs, relative to ``~/.ssh`` or
  ``/etc/ssh``, inside a block only when the block applies), quoting.
* a second, "final" pass when a ``Match final`` asks for it, matching
  ``Host`` against the HostName.
"""
from __future__ import annotations

import getpass
import glob
import hashlib
import logging
import os
import re
import socket
import subprocess
from typing import Mapping, Optional

from ._errors import SSHError

_log = logging.getLogger(__name__)

ENV_CONFIG = "PATHOS_MAGICS_SSH_CONFIG"
SYSTEM_CONFIG = "/etc/ssh/ssh_config"
MAX_INCLUDE_DEPTH = 16
MATCH_EXEC_TIMEOUT = 30.0

#: Options that may be given several times, each adding a value.
_ACCUMULATE = {"identityfile", "certificatefile", "localforward",
               "remoteforward", "dynamicforward", "sendenv", "setenv"}
#: Options whose value is several words (kept as a list).
_MULTI_WORD = {"userknownhostsfile", "globalknownhostsfile"}
#: Options whose value is the rest of the line, verbatim.
_RAW = {"proxycommand", "localcommand", "remotecommand", "knownhostscommand"}


class ConfigError(SSHError):
    """An ssh_config file ssh itself would refuse."""


class HostConfig(dict):
    """The options that apply to one host: lower-case keyword -> value.

    A value is a string, or a list for ``IdentityFile`` and the known-hosts
    files.  ``host`` is the name given, ``hostname`` the one to connect to.
    """

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host
        self._expanded = False

    def flag(self, key: str, default: bool = False) -> bool:
        """A yes/no option as a bool."""
        value = self.get(key)
        if value is None:
            return default
        low = value.lower()
        if low in ("yes", "true"):
            return True
        if low in ("no", "false"):
            return False
        raise ConfigError(f"{key} must be yes or no, not {value!r}.")

    def number(self, key: str, default: Optional[int] = None) -> Optional[int]:
        """An integer option (``none`` reads as the default)."""
        value = self.get(key)
        if value is None or value.lower() == "none":
            return default
        if not value.isdigit():
            raise ConfigError(f"{key} must be a number of seconds or a count, "
                              f"not {value!r}.")
        return int(value)


# ---------------------------------------------------------------- words

def split_words(text: str) -> list[str]:
    """Split a value as OpenSSH's argv_split: quotes, backslashes, ``#``."""
    words: list[str] = []
    cur: list[str] = []
    quote: Optional[str] = None
    started = False
    i = 0
    while i < len(text):
        c = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if quote:
            if c == "\\" and nxt in (quote, "\\"):
                cur.append(nxt)
                i += 2
                continue
            if c == quote:
                quote = None
            else:
                cur.append(c)
        elif c in " \t\r\n":
            if started:
                words.append("".join(cur))
                cur, started = [], False
        elif c == "#" and not started:
            break
        elif c in "\"'":
            quote, started = c, True
        elif c == "\\" and nxt and nxt in "\\\"' ":
            cur.append(nxt)
            started = True
            i += 1
        else:
            cur.append(c)
            started = True
        i += 1
    if quote:
        raise ConfigError(f"unterminated quote in {text!r}.")
    if started:
        words.append("".join(cur))
    return words


_KEYWORD = re.compile(r"([A-Za-z0-9]+)(?:\s*=\s*|\s+)(.*)$")


def split_line(line: str) -> Optional[tuple[str, str]]:
    """``"Key = value"`` -> ``("key", "value")``; blank or comment -> None."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    m = _KEYWORD.match(text)
    if not m or not m.group(2).strip():
        raise ConfigError(f"{text!r}: a keyword and a value were expected.")
    return m.group(1).lower(), m.group(2).strip()


# ---------------------------------------------------------------- patterns

def match_pattern(name: str, pattern: str) -> bool:
    """OpenSSH's match_pattern: ``*`` and ``?`` only, whole string."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                    for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


def match_pattern_list(name: str, patterns: str, lower: bool = False) -> bool:
    """A comma list with ``!`` negations: a negated match wins."""
    if lower:
        name, patterns = name.lower(), patterns.lower()
    found = False
    for pat in patterns.split(","):
        negated = pat.startswith("!")
        if match_pattern(name, pat[1:] if negated else pat):
            if negated:
                return False
            found = True
    return found


def _host_line_matches(name: str, patterns: list[str]) -> bool:
    found = False
    for pat in patterns:
        negated = pat.startswith("!")
        if match_pattern(name, pat[1:] if negated else pat):
            if negated:
                return False
            found = True
    return found


# ---------------------------------------------------------------- tokens

def percent_expand(value: str, tokens: Mapping[str, str], option: str) -> str:
    """Replace ``%x`` tokens (``%%`` is ``%``); an unknown one is an error."""
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        key = value[i + 1:i + 2]
        if key == "%":
            out.append("%")
        elif key in tokens:
            out.append(str(tokens[key]))
        else:
            raise ConfigError(f"{option} {value!r}: unknown token %{key} "
                              f"(allowed: %%, {', '.join('%' + k for k in tokens)}).")
        i += 2
    return "".join(out)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def env_expand(value: str, option: str) -> str:
    """Replace ``${VAR}``; an unset variable is an error, as in ssh."""
    def sub(m: re.Match) -> str:
        if m.group(1) not in os.environ:
            raise ConfigError(f"{option} {value!r}: environment variable "
                              f"{m.group(1)} is not set.")
        return os.environ[m.group(1)]
    return _ENV.sub(sub, value)


def local_tokens() -> dict[str, str]:
    """Tokens that depend on this machine only."""
    full = socket.gethostname()
    return {"d": os.path.expanduser("~"), "u": getpass.getuser(),
            "l": full, "L": full.split(".")[0], "i": str(os.getuid())}


def connection_tokens(cfg: Mapping, host_arg: str, hostname: str, port: int,
                      user: str) -> dict[str, str]:
    """The tokens of ssh's DEFAULT_CLIENT_PERCENT_EXPAND_ARGS."""
    tok = local_tokens()
    tok.update(h=hostname, n=host_arg, p=str(port), r=user,
               k=cfg.get("hostkeyalias") or host_arg)
    tok["C"] = hashlib.sha1(f"{tok['l']}{hostname}{port}{user}".encode()).hexdigest()
    return tok


# ---------------------------------------------------------------- reading

class _Reader:
    """One lookup: applies the config files to ``host`` (readconf.c)."""

    def __init__(self, host_arg: str, final: bool, options: HostConfig) -> None:
        self.host_arg = host_arg
        self.final = final
        self.options = options
        self.want_final = False
        # Host lines match the name given on the first pass, the HostName
        # on the final one (ssh.c re-reads with ``host`` updated).
        self.match_name = options.get("hostname", host_arg) if final else host_arg

    def read_file(self, path: str, *, user: bool, check_perm: bool,
                  active: bool = True, never_match: bool = False,
                  depth: int = 0) -> None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                if check_perm:
                    _check_permissions(f.fileno(), path)
                lines = f.read().splitlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot read ssh config {path}: {exc}") from exc
        for number, line in enumerate(lines, 1):
            try:
                active = self._line(line, active, never_match, user, depth)
            except ConfigError as exc:
                raise ConfigError(f"{path} line {number}: {exc}") from None

    def _line(self, line: str, active: bool, never_match: bool, user: bool,
              depth: int) -> bool:
        parsed = split_line(line)
        if parsed is None:
            return active
        key, value = parsed
        if key == "host":
            return not never_match and _host_line_matches(
                self.match_name, split_words(value))
        if key == "match":
            return not never_match and self._match(split_words(value))
        if key == "include":
            self._include(split_words(value), active, user, depth)
            return active
        if active:
            self._set(key, value)
        return active

    def _set(self, key: str, value: str) -> None:
        opts = self.options
        if key in ("proxycommand", "proxyjump"):
            if "proxycommand" in opts or "proxyjump" in opts:
                return                       # the first of the two wins
            opts[key] = value if key in _RAW else split_words(value)[0]
            return
        if key in _ACCUMULATE:
            words = split_words(value)
            if key == "identityfile" and words:
                if words[0] not in opts.setdefault(key, []):
                    opts[key].append(words[0])
            else:
                opts.setdefault(key, []).extend(words)
            return
        if key in opts:
            return
        if key in _RAW:
            opts[key] = value
        elif key in _MULTI_WORD:
            opts[key] = split_words(value)
        else:
            words = split_words(value)
            if words:
                opts[key] = words[0]

    def _include(self, patterns: list[str], active: bool, user: bool,
                 depth: int) -> None:
        if depth >= MAX_INCLUDE_DEPTH:
            raise ConfigError("too many nested Include files "
                              f"(more than {MAX_INCLUDE_DEPTH}).")
        base = os.path.expanduser("~/.ssh") if user else "/etc/ssh"
        for pattern in patterns:
            if user:
                pattern = os.path.expanduser(pattern)
            if not os.path.isabs(pattern):
                pattern = os.path.join(base, pattern)
            for path in sorted(glob.glob(pattern)):
                self.read_file(path, user=user, check_perm=True, active=active,
                               never_match=not active, depth=depth + 1)

    # ------------------------------------------------------------ Match

    def _match(self, words: list[str]) -> bool:
        result = True
        i = 0
        if not words:
            raise ConfigError("Match needs criteria, e.g. 'Match host node*'.")
        while i < len(words):
            word = words[i]
            negate = word.startswith("!")
            attr = (word[1:] if negate else word).lower()
            i += 1
            if attr == "all":
                if negate or (i < len(words)):
                    raise ConfigError("'Match all' must stand alone (or after "
                                      "canonical/final).")
                continue
            if attr in ("canonical", "final"):
                if attr == "final":
                    self.want_final = True
                ok = self.final if attr == "final" else False
                result = result and (ok != negate)
                continue
            if i >= len(words):
                raise ConfigError(f"Match {attr} needs an argument.")
            arg = words[i]
            i += 1
            if not result:
                continue                     # ssh skips exec after a failure
            result = self._criterion(attr, arg) != negate
        return result

    def _criterion(self, attr: str, arg: str) -> bool:
        opts = self.options
        if attr == "host":
            name = opts.get("hostname", self.host_arg)
            name = percent_expand(name, {"h": self.host_arg}, "HostName")
            return match_pattern_list(name, arg, lower=True)
        if attr == "originalhost":
            return match_pattern_list(self.host_arg, arg, lower=True)
        if attr == "user":
            return match_pattern_list(opts.get("user") or getpass.getuser(), arg)
        if attr == "localuser":
            return match_pattern_list(getpass.getuser(), arg)
        if attr == "exec":
            return self._exec(arg)
        raise ConfigError(f"'Match {attr}' is not supported here (supported: "
                          "all, canonical, final, host, originalhost, user, "
                          "localuser, exec). Put that block in a file only ssh "
                          "reads, or use 'Match exec'.")

    def _exec(self, command: str) -> bool:
        opts = self.options
        name = percent_expand(opts.get("hostname", self.host_arg),
                              {"h": self.host_arg}, "HostName")
        port = int(opts.get("port", 22)) if str(opts.get("port", 22)).isdigit() else 22
        tokens = connection_tokens(opts, self.host_arg, name, port,
                                   opts.get("user") or getpass.getuser())
        line = percent_expand(command, tokens, "Match exec")
        shell = os.environ.get("SHELL") or "/bin/sh"
        try:
            done = subprocess.run([shell, "-c", line], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  timeout=MATCH_EXEC_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _log.warning("Match exec %r failed: %s", line, exc)
            return False
        return done.returncode == 0


def _check_permissions(fd: int, path: str) -> None:
    st = os.fstat(fd)
    if (st.st_uid not in (0, os.getuid())) or (st.st_mode & 0o022):
        raise ConfigError(
            f"Bad owner or permissions on {path}: ssh refuses a config file "
            "owned by another user or writable by group/others. Fix it with "
            f"`chmod go-w {path}` (and chown it to yourself).")


def config_files(path: Optional[str] = None) -> list[tuple[str, bool, bool]]:
    """``(path, is_user_file, check_permissions)`` in the order ssh reads them."""
    explicit = path or os.environ.get(ENV_CONFIG)
    if explicit:
        return [(explicit, True, False)]
    return [(os.path.expanduser("~/.ssh/config"), True, True),
            (SYSTEM_CONFIG, False, False)]


def lookup(host: str, path: Optional[str] = None) -> HostConfig:
    """The options that apply to ``host`` (no tokens expanded but HostName).

    Args:
        host: the name as given (an alias, name or address; no ``user@``).
        path: one config file to read instead of the defaults (``ssh -F``).

    Raises:
        ConfigError: a file ssh would refuse, or a syntax error.
    """
    options = HostConfig(host)
    files = config_files(path)
    reader = _Reader(host, False, options)
    for name, user, check in files:
        reader.read_file(name, user=user, check_perm=check)
    _expand_hostname(options, host)
    if reader.want_final:
        if "hostname" not in options:       # ssh.c sets it before re-reading
            options["hostname"], options._expanded = host, True
        final = _Reader(host, True, options)
        for name, user, check in files:
            final.read_file(name, user=user, check_perm=check)
    _expand_hostname(options, host)
    options.setdefault("hostname", host)
    return options


def _expand_hostname(options: HostConfig, host: str) -> None:
    """HostName takes ``%h`` (the name given) and ``%%``, once."""
    if "hostname" in options and not options._expanded:
        options["hostname"] = percent_expand(options["hostname"], {"h": host},
                                             "HostName")
        options._expanded = True
