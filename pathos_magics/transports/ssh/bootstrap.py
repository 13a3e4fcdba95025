"""The kernel's side of starting a server on a host: what it runs and ships.

The kernel starts a server as ``python -c BOOT want digest dill mp private
[server args]``: BOOT checks the host's Python and packages, and prefers a
private copy the kernel shipped (a zip it unpacks once); when the host lacks
them, :func:`ship_packages` copies them over SFTP.  The digest runs on both
sides from the same text, so they agree on "the same package".
"""
from __future__ import annotations

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
# sides agree on whether the host's pathos_magics is this one.
_DIGEST_SRC = '''
def source_digest(pkg_dir):
    import hashlib, os
    h = hashlib.sha256()
    for root, dirs, files in os.walk(pkg_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                h.update(os.path.relpath(path, pkg_dir).replace(os.sep, "/").encode())
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()
'''
_ns: dict[str, Any] = {}
exec(_DIGEST_SRC, _ns)        # noqa: S102 - our own constant text
source_digest = _ns["source_digest"]

# Runs on the host as `python -c BOOT want digest dill mp private [server args]`.
BOOT = _DIGEST_SRC + f'BOOT_TAG = {BOOT_TAG!r}\n' + '''
import os, sys
want, digest, dill_v, mp_v, private = sys.argv[1:6]
def say(**kw):
    print(BOOT_TAG + " " + " ".join("%s=%s" % kv for kv in kw.items()), flush=True)
have = "%d.%d" % sys.version_info[:2]
if have != want:
    say(status="version", python=have, executable=sys.executable)
    sys.exit(3)
private = os.path.expanduser(private)
site, packed = os.path.join(private, "site"), os.path.join(private, "site.zip")
if not os.path.isdir(site) and os.path.exists(packed):
    import shutil, tempfile, zipfile
    tmp = tempfile.mkdtemp(dir=private)
    with zipfile.ZipFile(packed) as z:
        z.extractall(tmp)
    try:
        os.rename(tmp, site)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)     # another launch was first
if os.path.isdir(site):
    sys.path.insert(0, site)
try:
    import dill, multiprocess, pathos_magics
    same = (source_digest(os.path.dirname(pathos_magics.__file__)) == digest
            and dill.__version__ == dill_v and multiprocess.__version__ == mp_v)
except ImportError as exc:
    same = False
if not same:
    say(status="missing", python=have)
    sys.exit(4)
say(status="ok", python=have, site=int(os.path.isdir(site)))
sys.argv = ["pathos-server"] + sys.argv[6:]
from pathos_magics.transports.ssh.server import main
sys.exit(main())
'''


_ZIP_CACHE: dict[str, bytes] = {}


def package_tag() -> str:
    """Names this kernel's packages: Python version and their digests."""
    import dill
    import multiprocess
    digest = source_digest(PACKAGE_DIR)
    h = hashlib.sha256(f"{digest} {dill.__version__} {multiprocess.__version__}"
                       .encode()).hexdigest()[:16]
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
    import dill
    import multiprocess
    want = "%d.%d" % sys.version_info[:2]
    digest = source_digest(PACKAGE_DIR)
    return shlex.split(python) + [
        "-c", BOOT, want, digest, dill.__version__, multiprocess.__version__,
        private, "--label", label, "--workers", str(workers)]
