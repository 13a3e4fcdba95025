"""MpiPool across two machines: the ssh test hosts, MPICH's launcher (Hydra)
over ssh with the test's ssh config and keys.

The hosts share this machine's file system, so the same venv Python runs
there.  They also share its kernel and host name: MPICH sees one node and
its ranks talk over shared memory, but each rank runs inside its host
(its network namespace, started by that host's sshd) and the kernel reaches
the job over the hosts' links.
"""
from __future__ import annotations

import os
import time

import pytest

from pathos_magics.errors import NoWorkersError

from mpi_needed import require_mpi  # noqa: E402 - tests/integration, on the path

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(net, tmp_path):
    """Hydra's view of the two hosts: an ssh wrapper with the test's config
    and keys, a hosts file, and routes so each host reaches the kernel's
    addresses on the other links (Hydra's control port is on one of them)."""
    require_mpi()
    wrap = tmp_path / "ssh"
    wrap.write_text("#!/bin/sh\nexec ssh -F '%s' -o UserKnownHostsFile='%s' "
                    "-o BatchMode=yes -o ConnectTimeout=5 \"$@\"\n" % (net.ssh_config, net.known_hosts))
    wrap.chmod(0o755)
    hostfile = tmp_path / "hosts"
    hostfile.write_text("node0:2\nnode1:2\n")      # ranks 0-1 on node0, 2-3 on node1
    subnet = net.hosts[0].gateway.rsplit(".", 1)[0] + ".0/24"
    for h in net.hosts:
        _run(h.exec_argv("ip", "route", "add", subnet, "via", h.gateway))
    before = _mpich_shm()
    try:
        yield dict(hosts=str(hostfile), listen=net["node0"].gateway,
                   launcher_args=["-launcher", "ssh", "-launcher-exec", str(wrap),
                                  "-iface", net["node0"].veth])
    finally:
        for h in net.hosts:
            _run(h.exec_argv("ip", "route", "del", subnet), check=False)
        # ranks killed with their "host" leave MPICH's /dev/shm files (a real
        # host's restart clears them; these hosts share this machine's)
        for name in _mpich_shm() - before - _mapped_shm():
            os.unlink(os.path.join("/dev/shm", name))


def _mpich_shm() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("mpich_shm_")}


def _mapped_shm() -> set[str]:
    """The MPICH files some live process still maps."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/maps") as fh:
                found |= {line.rsplit("/", 1)[-1].split()[0] for line in fh
                          if "/dev/shm/mpich_shm_" in line}
        except OSError:
            continue
    return found


def _run(argv, check=True):
    import subprocess
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=20)


def _job_processes(net) -> dict[str, list[str]]:
    """What of an MPI job runs on each host (ranks and Hydra's proxies)."""
    return {h.name: [p for p in h.processes()
                     if "pathos_magics.mpi" in p or "hydra_pmi_proxy" in p]
            for h in net.hosts}


def _ranks_by_host(net) -> dict[str, int]:
    return {name: sum("pathos_magics.mpi" in p for p in procs)
            for name, procs in _job_processes(net).items()}


def _wait_empty(net, timeout=15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = _job_processes(net)
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_ranks_on_both_hosts_map_and_leave_nothing(net, cluster):
    from pathos_magics.pools import MpiPool
    pool = MpiPool(3, **cluster)
    try:
        assert _ranks_by_host(net) == {"node0": 2, "node1": 2}
        offset = 3
        assert pool.map(lambda x: x * x + offset, range(200)) == \
            [x * x + offset for x in range(200)]
        where = pool.map(lambda _: open("/proc/self/net/dev").read().count("eth0"),
                         range(30))
        assert set(where) == {1}                      # every task ran inside a host
    finally:
        pool.clear()
    assert _wait_empty(net) == {"node0": [], "node1": []}


def test_a_host_lost_mid_map_is_reported_and_nothing_is_left(net, cluster, caplog):
    """node1 dies mid-map (its sshd, Hydra's proxy and its ranks killed): the
    job ends, the new job cannot reach node1 (the log says why) and the map
    fails naming the rank that died; nothing of the job is left on either
    host; once node1 is back, restart() runs a new job over both hosts."""
    import signal
    import threading
    from pathos_magics.pools import MpiPool
    pool = MpiPool(3, **cluster)
    node1 = net["node1"]

    def crash():
        for pid in node1.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    try:
        timer = threading.Timer(1.0, crash)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(NoWorkersError, match=r"the MPI job ended: .*rank \d.* died "
                           r"first.*pool.restart\(\)") as caught:
            pool.map(lambda x: (time.sleep(0.2), x)[1], range(40))
        timer.join()
        assert time.monotonic() - t0 < 30
        # the new job could not reach node1: the log says why
        assert "port 22: Connection refused" in caplog.text
        assert "could not replace worker" in caplog.text
        assert not any(_job_processes(net).values()), str(caught.value)
        net.restart_sshd(node1)                       # node1 is back
        pool.restart()
        assert pool.map(abs, range(-5, 0)) == [5, 4, 3, 2, 1]
        assert _ranks_by_host(net) == {"node0": 2, "node1": 2}
    finally:
        pool.clear()
    assert _wait_empty(net) == {"node0": [], "node1": []}


def test_a_cut_link_to_the_relays_host_ends_the_map_in_bounded_time(net, cluster):
    """node0's link goes down mid-map (no reset is ever sent): the kernel's
    keepalive probes notice, the map fails instead of waiting forever, and
    once the link is back nothing of the job is left on either host."""
    import threading
    from pathos_magics.pools import MpiPool
    pool = MpiPool(3, **cluster)
    try:
        timer = threading.Timer(1.0, net["node0"].cut)
        timer.start()
        result = pool.amap(lambda x: (time.sleep(0.2), x)[1], range(40))
        with pytest.raises(NoWorkersError, match="the MPI job ended"):
            result.get(timeout=60)
        timer.join()
    finally:
        net["node0"].restore()
        pool.clear()
    assert _wait_empty(net) == {"node0": [], "node1": []}
