"""Fixtures for end-to-end tests in a real JupyterLab and headless Chromium.

What works on these machines is written down in /work/shared/BROWSER_TESTS.md
(flags, environment, selectors, pitfalls); the fixtures follow it:

* ``lab_server``: one ``jupyter lab`` per test (kernels outlive the page, so
  a server is never shared), with its own config/runtime/data/ipython/
  settings/workspaces folders under the test's tmp dir, a random token, a
  free port, the news pop-up silenced, serving ``notebook_dir``.  Teardown
  shuts down the kernels and the server, then stops by pid whatever of the
  server's process tree is still alive (kernel, pool workers), so the
  suite-wide leak check in tests/conftest.py, which runs after this
  function-scoped teardown, finds nothing.
* ``lab_page``: a Chromium page (playwright, sync API) with XDG folders in the
  tmp dir; on a failed test a screenshot, the browser console and the tail of
  the server log are saved next to the test's tmp dir (``failure.png``).
* ``open_notebook``: opens a notebook and waits until its kernel is really
  ready (a ``kernel_info_reply`` on the kernel websocket, not just "idle").

Missing chromium / jupyterlab / playwright skips the test outside CI and
fails it in CI (``skip_or_fail`` of tests/conftest.py).
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

import psutil
import pytest

VENV_BIN = Path(sys.executable).parent
JUPYTER_LAB = VENV_BIN / "jupyter-lab"
CHROMIUM = Path("/usr/bin/chromium")
#: Exactly the flags BROWSER_TESTS.md lists (no --user-data-dir: playwright's
#: launch() makes a fresh one and removes it).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
SERVER_START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


# ---------------------------------------------------------------- skip or fail

def _root_conftest(config: pytest.Config):
    """tests/conftest.py as pytest loaded it (all conftest.py files outside a
    package share the module name 'conftest', so it cannot be imported by
    name from here)."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    mod = config.pluginmanager.get_plugin(str(path))
    if mod is None:             # e.g. rootdir given differently: load it by path
        spec = importlib.util.spec_from_file_location("_pathos_tests_conftest", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    return mod


def missing_prerequisites() -> Optional[str]:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    if not JUPYTER_LAB.exists():
        return f"{JUPYTER_LAB} not found (pip install jupyterlab)"
    for module in ("playwright.sync_api", "jupyterlab", "ipywidgets", "ipykernel"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"python package {module.split('.')[0]} not installed"
    return None


@pytest.fixture
def lab_prerequisites(pytestconfig):
    why = missing_prerequisites()
    if why:
        _root_conftest(pytestconfig).skip_or_fail(why)


# ---------------------------------------------------------------- failure report

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request) -> bool:
    return any(getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
               for when in ("setup", "call"))


# ---------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A ``jupyter lab`` process with its own folders, token and port."""

    def __init__(self, base: Path, notebook_dir: Path) -> None:
        self.base = base
        self.notebook_dir = notebook_dir
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.log_path = base / "jupyter-lab.log"
        self.proc: Optional[subprocess.Popen] = None
        self._tree: dict[int, psutil.Process] = {}

    # -- urls

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        req = urllib.request.Request(self.url(f"api/{path}"), method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    # -- life

    def env(self) -> dict:
        dirs = {name: self.base / sub for name, sub in (
            ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("JUPYTER_DATA_DIR", "data"), ("IPYTHONDIR", "ipython"),
            ("JUPYTERLAB_SETTINGS_DIR", "settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"))}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        news = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        env = dict(os.environ)
        env.update({k: str(v) for k, v in dirs.items()})
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("JUPYTER_PATH", None)
        env.pop("JUPYTER_TOKEN", None)
        return env

    def start(self, attempts: int = 3) -> None:
        """Start and wait until /api/status answers; a port taken between
        free_port() and the bind is retried with another port."""
        for attempt in range(attempts):
            try:
                return self._start_once()
            except _PortTaken:
                if attempt == attempts - 1:
                    raise RuntimeError("no free port:\n" + self.log_tail()) from None
                self.proc.wait()
                self.port = free_port()

    def _start_once(self) -> None:
        cmd = [str(JUPYTER_LAB), "--no-browser", f"--port={self.port}",
               "--ServerApp.port_retries=0", f"--ServerApp.token={self.token}",
               "--ServerApp.ip=127.0.0.1", "--allow-root",
               f"--ServerApp.root_dir={self.notebook_dir}"]
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(cmd, cwd=self.notebook_dir, env=self.env(),
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self._remember_tree()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                if "already in use" in self.log_tail():
                    raise _PortTaken()
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            try:
                self.api("status", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab not answering /api/status after "
                                   f"{SERVER_START_TIMEOUT:.0f}s:\n" + self.log_tail())
            time.sleep(0.2)

    def _remember_tree(self) -> None:
        """Keep a handle on every process of the server's tree seen so far:
        a pool worker whose kernel died is re-parented, but stays ours."""
        if self.proc is None:
            return
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            self._tree.setdefault(p.pid, p)

    def stop(self) -> None:
        """Shut kernels and server down politely, then stop by pid what is left."""
        if self.proc is None:
            return
        self._remember_tree()
        if self.proc.poll() is None:
            try:                        # kernels first: their pools shut down cleanly
                for k in self.api("kernels", timeout=3) or []:
                    self.api(f"kernels/{k['id']}", method="DELETE", timeout=STOP_TIMEOUT)
            except Exception:           # noqa: BLE001 - fall through to signals
                pass
            self._remember_tree()
            try:
                self.api("shutdown", method="POST", timeout=3)
            except Exception:           # noqa: BLE001
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(STOP_TIMEOUT)
        self.proc.wait()               # reaped: no zombie
        left = [p for p in self._tree.values() if _running(p)]
        for p in left:
            _signal(p, signal.SIGTERM)
        _, alive = psutil.wait_procs(left, timeout=5)
        for p in alive:
            _signal(p, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


class _PortTaken(Exception):
    pass


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(p: psutil.Process, sig: int) -> None:
    try:
        p.send_signal(sig)
    except psutil.Error:
        pass


@pytest.fixture
def notebook_dir(tmp_path) -> Path:
    """The folder the server serves: put the test's notebook here."""
    d = tmp_path / "notebooks"
    d.mkdir()
    return d


@pytest.fixture
def lab_server(lab_prerequisites, tmp_path, notebook_dir, request):
    server = LabServer(tmp_path / "lab", notebook_dir)
    server.base.mkdir()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if _failed(request):
            print(f"---- jupyter lab log ({server.log_path}):\n{server.log_tail()}")


# ---------------------------------------------------------------- the browser

@pytest.fixture
def lab_page(lab_prerequisites, tmp_path, request):
    from playwright.sync_api import sync_playwright

    xdg = tmp_path / "chromium"
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(xdg / "config")
    env["XDG_CACHE_HOME"] = str(xdg / "cache")
    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_FLAGS, env=env, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            yield page
            if _failed(request):
                shot = tmp_path / "failure.png"
                try:
                    page.screenshot(path=str(shot), full_page=True, timeout=10_000)
                    print(f"---- screenshot: {shot}")
                except Exception as exc:   # noqa: BLE001 - the report matters more
                    print(f"---- no screenshot: {exc}")
                print("---- browser console:\n" + "\n".join(console[-60:]))
        finally:
            browser.close()


@pytest.fixture
def open_notebook(lab_server, lab_page) -> Callable[[str], object]:
    """``open_notebook("x.ipynb")``: open it in JupyterLab and return the page
    once the kernel answered kernel_info on the page's websocket and the
    execution indicator says idle (BROWSER_TESTS.md: idle alone is not ready)."""

    def _open(name: str, timeout: float = 60.0):
        page = lab_page
        ready = {"info": False}

        def on_frame(payload) -> None:
            data = payload if isinstance(payload, (bytes, bytearray)) else \
                str(payload).encode()
            if b"kernel_info_reply" in data:
                ready["info"] = True

        def on_ws(ws) -> None:
            if "/channels" in ws.url:
                ws.on("framereceived", on_frame)

        page.on("websocket", on_ws)
        page.goto(lab_server.url(f"lab/tree/{name}"), wait_until="domcontentloaded",
                  timeout=timeout * 1000)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        while not ready["info"]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no kernel_info_reply on the kernel websocket "
                                     f"within {timeout:.0f}s")
            page.wait_for_timeout(100)
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first \
            .wait_for(state="attached", timeout=timeout * 1000)
        return page

    return _open

