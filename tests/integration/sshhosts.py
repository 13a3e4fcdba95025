"""Real test hosts: network namespaces joined to this one by veth pairs, each
running OpenSSH's sshd on its own address.

    kernel (root namespace)                       host namespace "pm<pid>h0"
    pm<pid>r0  10.77.K.1/30  <==== veth ====>  eth0 10.77.K.2/30
                                                sshd on 10.77.K.2:22
                                                (host key made for this run)

sshd runs as a daemon (its pid read from its PidFile), not as a child of the
test process: the suite-wide leak check (tests/conftest.py) then sees only
what the code under test leaves behind here, and the tests check the hosts
themselves (:meth:`TestHost.python_processes`).

Keys (one user key, one host key per host) are generated per run into a
temporary folder, with an ssh_config that names the hosts ``node0``,
``node1``... and a known_hosts that lists their keys.  Everything is torn
down by :meth:`TestNetwork.stop`: every process started here is stopped by
its pid, every process still inside a namespace is killed, and the links and
namespaces are deleted.

Usable without pytest (the benchmark builds its hosts with it).
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Optional

SSHD = "/usr/sbin/sshd"
_CMD_TIMEOUT = 20


def missing_prerequisites() -> Optional[str]:
    """Why the test hosts cannot be built here, or None."""
    if os.geteuid() != 0:
        return "building test hosts needs root (network namespaces)"
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} is missing (apt-get install openssh-server)"
    for tool in ("ip", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install iproute2 openssh-client)"
    return None


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check,
                          timeout=_CMD_TIMEOUT)


@dataclass
class TestHost:
    """One host: its namespace, address and sshd."""

    __test__ = False           # not a pytest test class

    name: str
    netns: str
    veth: str                  # the root-namespace end of its link
    address: str
    gateway: str               # the kernel's address on the link
    folder: str
    sshd_pid: Optional[int] = None
    extra: list = field(default_factory=list)    # other processes started in it

    def exec_argv(self, *argv: str) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def popen(self, *argv: str, **kwds) -> subprocess.Popen:
        """Start a process inside the host; it is stopped by ``stop()``."""
        proc = subprocess.Popen(self.exec_argv(*argv), **kwds)
        self.extra.append(proc)
        return proc

    def pids(self) -> list[int]:
        """Every process inside this host's namespace."""
        out = _run("ip", "netns", "pids", self.netns, check=False).stdout
        return [int(p) for p in out.split()]

    def processes(self) -> list[str]:
        """``"pid command line"`` of every process inside the host."""
        found = []
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            found.append(f"{pid} {cmd.strip()}")
        return found

    def python_processes(self) -> list[str]:
        """The Python processes inside the host (servers, workers)."""
        return [p for p in self.processes() if "python" in p]

    def cut(self) -> None:
        """Take the link down: the host vanishes from the network."""
        _run("ip", "link", "set", self.veth, "down")

    def restore(self) -> None:
        _run("ip", "link", "set", self.veth, "up")


class TestNetwork:
    """Builds ``count`` hosts under ``folder``; a context manager.

    Attributes:
        hosts: the TestHost objects, named ``node0``, ``node1``...
        ssh_config, known_hosts, key: files for the ssh client side.
    """

    __test__ = False
    _made = 0          # networks made by this process (several may be up at once)

    def __init__(self, folder: str, count: int = 2, tag: str = "") -> None:
        self.folder = folder
        self.count = count
        self.hosts: list[TestHost] = []
        TestNetwork._made += 1
        # names of links and namespaces, unique per process and per network
        # in it (interface names have at most 15 bytes: "pm", 5 digits, a
        # letter or the tag, "r9")
        tag = tag or "abcdefghijklmnopqrstuvwxyz"[TestNetwork._made % 26]
        self._prefix = f"pm{os.getpid() % 100000}{tag}"
        self.key = os.path.join(folder, "id_ed25519")
        self.ssh_config = os.path.join(folder, "ssh_config")
        self.known_hosts = os.path.join(folder, "known_hosts")
        self.host_keys: dict[str, str] = {}

    # ------------------------------------------------------------ build

    def start(self) -> "TestNetwork":
        try:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privsep dir
            _keygen(self.key)
            subnet = _free_subnet()
            for i in range(self.count):
                self.hosts.append(self._add_host(i, subnet))
            self._write_client_files()
            for host in self.hosts:
                _wait_port(host.address, 22, host)
        except BaseException:
            self.stop()
            raise
        return self

    def _add_host(self, i: int, subnet: ipaddress.IPv4Network) -> TestHost:
        base = subnet.network_address + 4 * i
        host = TestHost(name=f"node{i}", netns=f"{self._prefix}h{i}",
                        veth=f"{self._prefix}r{i}", address=str(base + 2),
                        gateway=str(base + 1),
                        folder=os.path.join(self.folder, f"node{i}"))
        self.hosts.append(host)           # so stop() cleans a half-built host
        os.makedirs(host.folder, exist_ok=True)
        _run("ip", "netns", "add", host.netns)
        _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name",
             f"{self._prefix}p{i}")
        _run("ip", "link", "set", f"{self._prefix}p{i}", "netns", host.netns)
        _run("ip", "addr", "add", f"{host.gateway}/30", "dev", host.veth)
        _run("ip", "link", "set", host.veth, "up")
        ns = ["ip", "netns", "exec", host.netns]
        _run(*ns, "ip", "link", "set", f"{self._prefix}p{i}", "name", "eth0")
        _run(*ns, "ip", "addr", "add", f"{host.address}/30", "dev", "eth0")
        _run(*ns, "ip", "link", "set", "eth0", "up")
        _run(*ns, "ip", "link", "set", "lo", "up")
        self._start_sshd(host)
        self.hosts.remove(host)
        return host

    def _start_sshd(self, host: TestHost) -> None:
        hostkey = os.path.join(host.folder, "ssh_host_ed25519_key")
        _keygen(hostkey)
        with open(hostkey + ".pub") as f:
            self.host_keys[host.name] = f.read().split()[1]
        cfg = os.path.join(host.folder, "sshd_config")
        authorized = os.path.join(self.folder, "authorized_keys")
        shutil.copy(self.key + ".pub", authorized)
        with open(cfg, "w") as f:
            f.write(_SSHD_CONFIG.format(address=host.address, hostkey=hostkey,
                                        pidfile=os.path.join(host.folder, "sshd.pid"),
                                        authorized=authorized))
        _launch_sshd(host)

    def _write_client_files(self) -> None:
        with open(self.ssh_config, "w") as f:
            for h in self.hosts:
                f.write(f"Host {h.name}\n  HostName {h.address}\n  User root\n"
                        f"  IdentityFile {self.key}\n  Port 22\n\n")
        with open(self.known_hosts, "w") as f:
            for h in self.hosts:
                f.write(f"{h.address} ssh-ed25519 {self.host_keys[h.name]}\n")

    def env(self) -> dict[str, str]:
        """Environment variables that point the ssh toolkit at these hosts."""
        return {"PATHOS_MAGICS_SSH_CONFIG": self.ssh_config,
                "PATHOS_MAGICS_KNOWN_HOSTS": self.known_hosts}

    def restart_sshd(self, host: TestHost) -> None:
        """Start a host's sshd again (after a test killed it)."""
        _kill_and_wait(host.sshd_pid)
        _launch_sshd(host)
        _wait_port(host.address, 22, host)

    # ------------------------------------------------------------ teardown

    def stop(self) -> None:
        """Stop every process (by pid), delete links and namespaces."""
        for host in self.hosts:
            for proc in host.extra:
                _stop(proc)
            _kill_and_wait(host.sshd_pid)
            for pid in host.pids():          # anything still inside the host
                _kill_pid(pid)
            _run("ip", "link", "del", host.veth, check=False)
            _run("ip", "netns", "del", host.netns, check=False)
        self.hosts = []

    def __enter__(self) -> "TestNetwork":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __getitem__(self, name: str) -> TestHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)


_SSHD_CONFIG = """\
ListenAddress {address}
Port 22
HostKey {hostkey}
PidFile {pidfile}
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
MaxSessions 64
MaxStartups 64
Subsystem sftp internal-sftp
LogLevel ERROR
"""


def _keygen(path: str) -> None:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pathos-test",
         "-f", path)


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.77.K.0/24 that no interface here uses (runs may overlap)."""
    used = _run("ip", "-4", "-o", "addr").stdout
    start = os.getpid() % 200
    for k in range(200):
        net = ipaddress.ip_network(f"10.77.{(start + k) % 200 + 20}.0/24")
        if f" 10.77.{net.network_address.packed[2]}." not in used:
            return net
    raise RuntimeError("no free 10.77.K.0/24 subnet for test hosts")


def _wait_port(address: str, port: int, host: TestHost, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.sshd_pid is not None and not _alive(host.sshd_pid):
            log = open(os.path.join(host.folder, "sshd.log")).read()
            raise RuntimeError(f"sshd of {host.name} exited: {log[-2000:]}")
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd of {host.name} did not listen on {address}:{port}")


def _stop(proc: Optional[subprocess.Popen], timeout: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def _launch_sshd(host: TestHost) -> None:
    """Start sshd as a daemon in the host; read its pid from the PidFile."""
    cfg = os.path.join(host.folder, "sshd_config")
    pidfile = os.path.join(host.folder, "sshd.pid")
    log = os.path.join(host.folder, "sshd.log")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    # sshd forks, the parent exits once the daemon is set up
    _run(*host.exec_argv(SSHD, "-f", cfg, "-E", log))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(pidfile) as f:
                host.sshd_pid = int(f.read().split()[0])
                return
        except (OSError, ValueError, IndexError):
            time.sleep(0.02)
    raise RuntimeError(f"sshd of {host.name} wrote no pid file; see {log}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _kill_and_wait(pid: Optional[int], timeout: float = 5.0) -> None:
    """Stop a process that is not our child: SIGTERM, then SIGKILL."""
    if pid is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not _alive(pid):
            return


def _kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
