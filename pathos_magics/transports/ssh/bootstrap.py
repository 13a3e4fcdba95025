"""The kernel's side of starting a server on a host: what it runs and ships.

The kernel starts a server as ``python -c BOOT want digests private [server
args]``: BOOT checks the host's Python; refuses a private folder that
another user could have written to (:func:`unsafe_path`, before anything is
imported from it); prefers the private copy the kernel shipped (a zip it
unpacks once) and checks every package it would run -- pathos_magics, dill,
multiprocess -- by the digest of its source files.  When the host lacks
them, :func:`ship_packages` copies them over SFTP.  The digest and the
safety check run on both sides from the same text, so they agree.
"""
from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import posixpath
import shlex
import sys
import uuid
import zipfile
from typing import Any

from ...ssh.copier import makedirs
from ...ssh.session import Session
from .protocol import BOOT_TAG

_log = logging.getLogger(__name__)

#: This kernel's pathos_magics package folder (what is digested and shipped).
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_SHIPPED = ("pathos_magics", "dill", "multiprocess", "_multiprocess")

# The same digest runs here and on the host (exec'd from this text), so both
# sides agree on whether the host's packages are this kernel's.  It covers
# what site_zip() ships: every .py file but tests and caches.
_DIGEST_SRC = '''
def source_digest(pkg_dir):
    import hashlib, os
    h = hashlib.sha256()
    for root, dirs, files in os.walk(pkg_dir):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "tests"))
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                h.update(os.path.relpath(path, pkg_dir).replace(os.sep, "/").encode())
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()
'''

# Runs on the host before anything is imported from the private folder:
# who else could have written what we are about to run?  The private folder,
# the folder above it (remote_dir) and all they hold must be the user's and
# writable by no one else; the folders above may also be root's, and
# writable by others only with the sticky bit (as /tmp), like OpenSSH's
# StrictModes.  Returns None, or (path, what is wrong).
_SAFETY_SRC = '''
def unsafe_path(private):
    import os, stat
    uid = os.getuid()
    def wrong(path, strict):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode) and strict:
            return "is a symbolic link"
        if strict and st.st_uid != uid:
            return "is owned by uid %d, not by this user (uid %d)" % (st.st_uid, uid)
        if not strict and st.st_uid not in (0, uid):
            return "is owned by uid %d, neither root nor this user" % st.st_uid
        sticky = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX and not strict
        if st.st_mode & 0o022 and not sticky and not stat.S_ISLNK(st.st_mode):
            return "is writable by others (mode %o)" % (st.st_mode & 0o7777)
        return None
    private = os.path.abspath(private)
    for path, strict in ([(private, True), (os.path.dirname(private), True)]
                         + [(p, False) for p in _parents(os.path.dirname(private))]):
        why = wrong(path, strict)
        if why:
            return path, why
    for root, dirs, files in os.walk(private):
        for name in dirs + files:
            why = wrong(os.path.join(root, name), True)
            if why:
                return os.path.join(root, name), why
    return None
def _parents(path):
    import os
    while os.path.dirname(path) != path:
        path = os.path.dirname(path)
        yield path
'''
_ns: dict[str, Any] = {}
exec(_DIGEST_SRC + _SAFETY_SRC, _ns)        # noqa: S102 - our own constant text
source_digest = _ns["source_digest"]
unsafe_path = _ns["unsafe_path"]

# Runs on the host as `python -c BOOT want digests private [server args]`.
BOOT = _DIGEST_SRC + _SAFETY_SRC + f'BOOT_TAG = {BOOT_TAG!r}\n' + '''
import os, sys
from urllib.parse import quote
want, digests, private = sys.argv[1:4]
def say(**kw):
    print(BOOT_TAG + " " + " ".join("%s=%s" % (k, quote(str(v))) for k, v in kw.items()),
          flush=True)
have = "%d.%d" % sys.version_info[:2]
if have != want:
    say(status="version", python=have, executable=sys.executable)
    sys.exit(3)
private = os.path.abspath(os.path.expanduser(private))
def check():
    bad = unsafe_path(private)
    if bad:
        say(status="unsafe", python=have, path=bad[0], why=bad[1])
        sys.exit(5)
check()
site, packed = os.path.join(private, "site"), os.path.join(private, "site.zip")
umask = os.umask(0o077)                  # what we unpack and cache is ours alone
if not os.path.isdir(site) and os.path.exists(packed):
    import shutil, tempfile, zipfile
    tmp = tempfile.mkdtemp(dir=private)
    with zipfile.ZipFile(packed) as z:
        z.extractall(tmp)
    try:
        os.rename(tmp, site)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)     # another launch was first
private_copy = os.path.isdir(site)
if private_copy:
    check()                              # what was unpacked, before it runs
    sys.path.insert(0, site)
    sys.dont_write_bytecode = True       # nothing cached there that the digest does not see
def location(name):
    """A package's folder, found without running any of its code."""
    import importlib.util
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.abspath(list(spec.submodule_search_locations)[0])
def strays(folder):
    """Files of a private copy that no digest covers (caches, tests, data)."""
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            if name in ("__pycache__", "tests") or (os.path.isfile(path) and not (
                    name.endswith(".py") or name == "py.typed")):
                yield os.path.relpath(path, site)
differ = []
for kv in digests.split(","):
    name, digest = kv.split("=", 1)
    folder = location(name)
    if folder is None or source_digest(folder) != digest:
        differ.append(name)
    elif private_copy and (os.path.dirname(folder) != site or any(strays(folder))):
        differ.append(name)
os.umask(umask)
if differ and private_copy:
    say(status="tampered", python=have, path=site, packages=",".join(differ))
    sys.exit(6)
if differ:
    say(status="missing", python=have)
    sys.exit(4)
say(status="ok", python=have, site=int(private_copy))
sys.argv = ["pathos-server"] + sys.argv[4:]
from pathos_magics.transports.ssh.server import main
sys.exit(main())
'''


@functools.lru_cache(maxsize=None)
def _digest_of(name: str) -> str:
    folder = PACKAGE_DIR if name == "pathos_magics" else \
        os.path.dirname(__import__(name).__file__)
    return source_digest(folder)


def digests() -> str:
    """``name=digest,...`` of every shipped package, as BOOT reads them."""
    return ",".join(f"{name}={_digest_of(name)}" for name in _SHIPPED)


_ZIP_CACHE: dict[str, bytes] = {}


def package_tag() -> str:
    """Names this kernel's packages: Python version and their digests."""
    h = hashlib.sha256(digests().encode()).hexdigest()[:16]
    return f"py{sys.version_info[0]}{sys.version_info[1]}-{h}"


def site_zip() -> bytes:
    """pathos_magics, dill and multiprocess as one zip of .py files."""
    if "zip" not in _ZIP_CACHE:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name in _SHIPPED:
                _add_package(z, name)
        _ZIP_CACHE["zip"] = buf.getvalue()
    return _ZIP_CACHE["zip"]


def _add_package(z: zipfile.ZipFile, name: str) -> None:
    module = __import__(name)
    root = os.path.dirname(module.__file__)
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "tests")]
        for f in files:
            if f.endswith(".py") or f == "py.typed":
                path = os.path.join(folder, f)
                z.write(path, posixpath.join(name, os.path.relpath(path, root)
                                             .replace(os.sep, "/")))


def _sftp_path(path: str) -> str:
    """SFTP starts in the home folder and does not expand ``~``."""
    if path == "~":
        return "."
    return path[2:] if path.startswith("~/") else path


def ship_packages(session: Session, private: str) -> None:
    """Copy the packages into ``private`` on the host, atomically."""
    data = site_zip()
    with session.sftp() as sftp:
        folder = _sftp_path(private)
        makedirs(sftp, folder, mode=0o700)
        tmp = posixpath.join(folder, f"site.zip.{uuid.uuid4().hex}")
        sftp.putfo(io.BytesIO(data), tmp)
        sftp.posix_rename(tmp, posixpath.join(folder, "site.zip"))
    _log.info("copied pathos_magics, dill and multiprocess (%d kB) to %s:%s",
              len(data) // 1024, session.target.alias, private)


def boot_argv(python: str, private: str, label: str, workers: int) -> list[str]:
    """The command that boots a server on the host (run by the ssh session)."""
    want = "%d.%d" % sys.version_info[:2]
    return shlex.split(python) + [
        "-c", BOOT, want, digests(), private,
        "--label", label, "--workers", str(workers)]
