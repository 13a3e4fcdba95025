"""The Binder environment, built the way repo2docker builds it, without Docker.

1. ``repo2docker --no-build`` on this repository (jupyter-repo2docker from
   PyPI, in a venv of its own kept between runs): the build pack it picks and
   the steps it would run (apt.txt, requirements.txt, postBuild, start) are
   printed and checked.
2. As a non-root user made for the test (removed at the end), in a copy of
   the repository in its home: a fresh venv, ``pip install -r
   binder/requirements.txt`` (plus nbclient and ipykernel, which Binder's base
   environment provides), ``binder/postBuild``, ``binder/start true``.
3. Every notebook in notebooks/ executed with nbclient in that environment,
   ``pm-node`` being the sshd that binder/start left running, and checked
   (tests/integration/gallery.py).

Every process of the test user (the sshd, kernels, workers) is stopped by pid
at the end, even on failure.  pip's cache and the repo2docker venv live under
/var/tmp/pathos_magics-binder, so later runs install from cached wheels.
"""
from __future__ import annotations

import json
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

import gallery

pytestmark = pytest.mark.integration

ROOT = gallery.ROOT
CACHE = "/var/tmp/pathos_magics-binder"
R2D_VENV = os.path.join(CACHE, "repo2docker-venv")
PIP_CACHE = os.path.join(CACHE, "pip")
USER = f"pmbinder{os.getpid() % 100000}"


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def _run(argv: list[str], timeout: float, **kwds) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwds)
    if proc.returncode != 0:
        raise AssertionError(f"{argv[:6]} exited {proc.returncode}:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


# ---------------------------------------------------------------- repo2docker

_PICK = """
import sys
from repo2docker.app import Repo2Docker
r2d = Repo2Docker()
for BP in r2d.buildpacks:
    bp = BP(base_image=r2d.base_image)
    if bp.detect():
        break
else:
    bp = r2d.default_buildpack(base_image=r2d.base_image)
print(type(bp).__name__)
"""


def _repo2docker() -> str:
    exe = os.path.join(R2D_VENV, "bin", "repo2docker")
    if not os.access(exe, os.X_OK):
        _run([sys.executable, "-m", "venv", R2D_VENV], 120)
        _run([os.path.join(R2D_VENV, "bin", "pip"), "install", "-q",
              "jupyter-repo2docker"], 300)
    return exe


def test_repo2docker_picks_a_build_pack_with_our_steps():
    os.makedirs(CACHE, exist_ok=True)
    exe = _repo2docker()
    picked = _run([os.path.join(R2D_VENV, "bin", "python"), "-c", _PICK], 60,
                  cwd=ROOT).stdout.strip()
    build = _run([exe, "--no-build", "--no-run", "--debug", ROOT], 120)
    dockerfile = build.stdout
    steps = [line for line in dockerfile.splitlines() if "binder/" in line
             or "openssh-server" in line]
    print(f"repo2docker {_run([exe, '--version'], 30).stdout.strip()} picked "
          f"{picked}; its steps for binder/:\n  " + "\n  ".join(steps))
    assert picked == "PythonBuildPack"
    assert "python=3.11" in build.stderr                        # binder/runtime.txt
    assert any("openssh-server" in s for s in steps)           # binder/apt.txt
    assert any('pip install --no-cache-dir -r "binder/requirements.txt"' in s
               for s in steps)
    assert "RUN ./binder/postBuild" in steps
    assert any("R2D_ENTRYPOINT" in s and "binder/start" in s for s in steps)


# ---------------------------------------------------------------- the user

def _base_python(user: str) -> str:
    """A Python 3 the test user may run (this one may sit under /root)."""
    for candidate in (os.path.realpath(sys._base_executable), "/usr/bin/python3"):
        probe = subprocess.run(["runuser", "-u", user, "--", candidate, "-c",
                                "import venv, ensurepip"], capture_output=True,
                               timeout=30)
        if probe.returncode == 0:
            return candidate
    _skip_or_fail("no Python with venv and ensurepip that a non-root user can run")
    raise AssertionError("unreachable")


def _copy_repo(dest: str) -> None:
    """The repository's files (tracked and new, not ignored), as Binder sees them."""
    files = _run(["git", "ls-files", "-co", "--exclude-standard", "-z"], 60,
                 cwd=ROOT).stdout.split("\0")
    for rel in filter(None, files):
        src = os.path.join(ROOT, rel)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel))


def _kill_user_processes(uid: int) -> list[str]:
    """Stop every process of ``uid`` by pid: SIGTERM, then SIGKILL."""
    procs = [p for p in psutil.process_iter(["uids", "cmdline"])
             if p.info["uids"] and p.info["uids"].real == uid]
    left = [f"{p.pid} {' '.join(p.info['cmdline'] or [])[:100]}" for p in procs]
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return left


@pytest.fixture
def binder_user():
    """A non-root user with a home under CACHE; removed with all its processes."""
    if os.geteuid() != 0:
        _skip_or_fail("creating the Binder user needs root (useradd)")
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            _skip_or_fail(f"{tool} is missing")
    if not os.access("/usr/sbin/sshd", os.X_OK):
        _skip_or_fail("/usr/sbin/sshd is missing (apt-get install openssh-server)")
    os.makedirs(CACHE, exist_ok=True)
    os.chmod(CACHE, 0o755)
    home = pathlib.Path(CACHE) / f"home-{USER}"
    _run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
          USER], 30)
    uid = pwd.getpwnam(USER).pw_uid
    try:
        yield home, uid
    finally:
        pidfile = home / ".pm-node" / "sshd.pid"
        if pidfile.exists():                     # binder/start's sshd, by its pid
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
        left = _kill_user_processes(uid)
        subprocess.run(["userdel", "--remove", USER], capture_output=True, timeout=30)
        shutil.rmtree(home, ignore_errors=True)
        if left:
            print("stopped processes of the Binder user:", *left, sep="\n  ")


def _as_user(home, argv: list[str], timeout: float, cwd: str, **env) -> str:
    """Run ``argv`` as the Binder user with a clean, Binder-like environment."""
    base = {"HOME": str(home), "USER": USER, "LOGNAME": USER, "SHELL": "/bin/bash",
            "LANG": "C.UTF-8", "PIP_CACHE_DIR": PIP_CACHE,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for name in ("PIP_FIND_LINKS", "PIP_DEFAULT_TIMEOUT", "PIP_CERT"):
        if name in os.environ:
            base[name] = os.environ[name]
    base.update(env)
    envs = [f"{k}={v}" for k, v in base.items()]
    return _run(["runuser", "-u", USER, "--", "env", "-i", *envs, *argv],
                timeout, cwd=cwd).stdout


@pytest.mark.timeout(900)
def test_binder_environment_runs_every_notebook(binder_user):
    home, uid = binder_user
    repo, venv, out = str(home / "repo"), str(home / "venv"), str(home / "executed")
    _copy_repo(repo)
    os.makedirs(PIP_CACHE, exist_ok=True)
    _run(["chown", "-R", str(uid), PIP_CACHE], 120)      # this run's user owns it
    os.makedirs(out)
    _run(["chown", "-R", f"{uid}:{uid}", repo, out], 60)
    path = f"{venv}/bin:/usr/local/bin:/usr/bin:/bin"
    python = _base_python(USER)
    t0 = time.monotonic()

    _as_user(home, [python, "-m", "venv", venv], 120, repo)
    pip = [f"{venv}/bin/python", "-m", "pip", "install", "-q"]
    _as_user(home, [*pip, "-r", "binder/requirements.txt"], 600, repo, PATH=path)
    # what Binder's base environment already has: Jupyter's kernel and client
    _as_user(home, [*pip, "nbclient", "nbformat", "ipykernel"], 600, repo, PATH=path)
    print(f"venv and requirements: {time.monotonic() - t0:.0f}s")
    print(_as_user(home, ["./binder/postBuild"], 300, repo, PATH=path))

    t1 = time.monotonic()
    started = _as_user(home, ["./binder/start", "true"], 60, repo, PATH=path)
    took = time.monotonic() - t1
    print(f"binder/start true: {took:.1f}s: {started.strip()}")
    assert "ssh host pm-node: sshd on 127.0.0.1:" in started
    assert took < 15, f"binder/start took {took:.1f}s"
    sshd_pid = int((home / ".pm-node" / "sshd.pid").read_text())
    assert psutil.Process(sshd_pid).uids().real == uid        # not root's

    t2 = time.monotonic()
    _as_user(home, [f"{venv}/bin/python", "tests/integration/gallery.py", "run",
                    f"{repo}/notebooks", out], 800, repo, PATH=path)
    print(f"notebooks: {time.monotonic() - t2:.0f}s")
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert sorted(summary) == gallery.notebooks(), summary
    import nbformat
    failures = []
    for name in sorted(summary):
        if not summary[name]["ok"]:
            failures.append(f"{name}: {summary[name]['error']}")
            continue
        try:
            gallery.check(nbformat.read(os.path.join(out, name), as_version=4), name)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n\n".join(failures)
