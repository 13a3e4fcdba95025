"""pathos.connection / selector / hosts profiles / core, locally (the ssh
side runs against real sshd in tests/integration/test_pathos_secure.py)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pathos_magics import core, hosts
from pathos_magics.connection import Pipe, PipeException
from pathos_magics.secure import Copier, Tunnel, TunnelException
from pathos_magics.secure.copier import split_remote
from pathos_magics.selector import Selector


def test_pipe_foreground_config_launch_response():
    pipe = Pipe()
    assert pipe.config(command="echo hello")["message"] == "echo hello"
    with pytest.raises(PipeException, match="launch"):
        pipe.response()
    pipe.launch()
    assert pipe.response() == "hello\n" and pipe.pid() == 0
    pipe(command=["printf", "%s", "a b; echo no shell"], decode=False)
    pipe.launch()
    assert pipe.response() == b"a b; echo no shell"


def test_pipe_background_pid_and_kill():
    pipe = Pipe(command=[sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                background=True)
    pipe.launch()
    pid = pipe.pid()
    assert pid > 0
    deadline = time.monotonic() + 10
    while pipe.response() is None:
        assert time.monotonic() < deadline
    assert pipe.response() == "up\n"
    pipe.kill()
    assert pipe.pid() == 0 and pipe._proc.poll() is not None


def test_pipe_bad_command_and_bad_option():
    with pytest.raises(PipeException, match="failure to pipe"):
        Pipe(command="/no/such/program").launch()
    with pytest.raises(TypeError, match="bogus"):
        Pipe(bogus=1)


def test_selector_dispatches_reads_and_idle():
    r, w = os.pipe()
    seen, idles = [], []
    sel = Selector()

    def on_read(selector, fd):
        seen.append(os.read(fd, 10))
        return False                                   # done with this fd

    def on_idle(selector):
        idles.append(1)
        selector.state = False
        return True

    sel.notifyOnReadReady(r, on_read)
    sel.notifyWhenIdle(on_idle)
    os.write(w, b"data")
    sel.watch(0.05)
    assert seen == [b"data"] and idles == [1] and r not in sel._input
    os.close(r)
    os.close(w)


def test_host_profiles_as_pathos(monkeypatch):
    monkeypatch.setattr(hosts, "_profiles", {})
    assert hosts.get_profile("h") == ".bash_profile"
    assert hosts.get_profile("h", assume=False) is None
    hosts.register("h")
    hosts.register_profiles({"g": ".profile"})
    assert hosts.get_profiles() == {"h": ".bash_profile", "g": ".profile"}


def test_core_process_queries_and_kill():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # pm-marker"])
    try:
        assert core.getpid() == os.getpid()
        assert core.getpid("pm-marker") == child.pid
        assert "pm-marker" in core.getpid("pm-marker", all=True)
        assert core.getppid(child.pid) == os.getpid()
        assert child.pid in core.getchild()
        assert core.kill(child.pid) == ""
        child.wait(10)
        with pytest.raises(OSError):
            core.getppid(child.pid)
        with pytest.raises(OSError):
            core.kill(child.pid)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)


def test_core_execute_copy_and_randomport(tmp_path):
    assert core.execute("echo hi", bg=False).response() == "hi\n"
    src = tmp_path / "d"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("x")
    copier = core.copy(str(src), str(tmp_path / "e"))
    assert isinstance(copier, Copier) and copier.response() == ""
    assert (tmp_path / "e" / "sub" / "f").read_text() == "x"
    assert 0 < core.randomport() < 65536


def test_split_remote():
    assert split_remote("u@n1:/tmp/x") == ("u@n1", "/tmp/x")
    assert split_remote("n1:") == ("n1", ".")
    assert split_remote("./a:b") == (None, "./a:b")
    assert split_remote("/abs") == (None, "/abs")


def test_local_serve_starts_and_stops_the_worker_server():
    launcher = core.serve("pathos_magics.server", workers=1)
    try:
        assert launcher.port > 0 and launcher.server_pid == launcher.pid()
        import socket
        socket.create_connection(("127.0.0.1", launcher.port), 5).close()
    finally:
        launcher.kill()
    assert launcher._proc.poll() is not None
    with pytest.raises(PipeException, match="ppserver"):
        core.serve("ppserver")


def test_tunnel_failure_is_a_tunnel_exception(monkeypatch):
    monkeypatch.setenv("PATHOS_MAGICS_SSH_CONFIG", os.devnull)
    with pytest.raises(TunnelException, match="Connection failed"):
        Tunnel().connect("no-such-host.invalid", 22)


@pytest.mark.parametrize("script", ["portpicker", "pathos_tunnel"])
def test_console_scripts_have_help(script):
    exe = os.path.join(os.path.dirname(sys.executable), script)
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage:" in out.stdout


def test_portpicker_script_prints_a_free_port():
    exe = os.path.join(os.path.dirname(sys.executable), "portpicker")
    out = subprocess.run([exe], capture_output=True, text=True, timeout=60, check=True)
    assert 0 < int(out.stdout) < 65536
