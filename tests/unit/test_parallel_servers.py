"""ParallelPool(servers=...): addresses of running servers, ssh hosts, counts."""
from __future__ import annotations

import socket
import warnings

import pytest

from pathos_magics import hosts
from pathos_magics.pools import ParallelPool
from pathos_magics.pools import servers as S


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_host_port_is_an_address_and_a_name_an_ssh_host():
    got = S.parse_servers(("localhost:5653", "node1", {"alice@node2": 8}))
    assert got == (S.ServerAddress("localhost", 5653), hosts.HostSpec("node1"),
                   hosts.HostSpec("node2", "alice", 8))


def test_a_mapping_alone_and_a_string_alone():
    assert S.parse_servers({"n1": 2, "n2": None}) == (hosts.HostSpec("n1", None, 2),
                                                      hosts.HostSpec("n2"))
    assert S.parse_servers("localhost:2414") == (S.ServerAddress("localhost", 2414),)
    assert S.parse_servers(None) == ()


def test_describe_gives_back_what_a_user_writes():
    given = ("localhost:5653", "node1", {"alice@node2": 8})
    assert S.describe(S.parse_servers(given)) == given
    assert str(S.ServerAddress("::1", 5000)) == "[::1]:5000"


@pytest.mark.parametrize("old, write", [("node2:8", "{'node2': 8}"),
                                        ("alice@node2:16", "{'alice@node2': 16}")])
def test_an_old_count_says_what_to_write(old, write):
    with pytest.raises(S.ServersError, match=rf"servers={{?{write}"):
        S.parse_servers((old,))


@pytest.mark.parametrize("bad, says", [
    ({"node1": 0}, "positive int"),
    ({"node1": "4"}, "positive int"),
    ({"node1": True}, "positive int"),
    ({"node1:3": 2}, "without ':3'"),
    ({3: 2}, "keys are ssh hosts"),
    ((5,), "a server is a string"),
    (7, "servers must be"),
    (("u@localhost:5653",), "neither 'host:port'"),
    (("node1:x",), r"\[user@\]host\[:workers\]"),
])
def test_malformed_servers(bad, says):
    with pytest.raises(S.ServersError, match=says):
        S.parse_servers(bad)


def test_servers_errors_are_host_spec_errors():
    assert issubclass(S.ServersError, hosts.HostSpecError)
    assert issubclass(S.ServersError, ValueError)


def test_magic_words_keep_their_count_syntax():
    words = ["node0:1", "u@node1", "localhost:5653"]
    assert S.from_words(words) == ({"node0": 1}, "u@node1", "localhost:5653")
    assert S.ssh_words(words) == ("node0:1", "u@node1")


def test_answers_tells_a_listening_port_from_a_closed_one():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        assert S.answers(S.ServerAddress("127.0.0.1", srv.getsockname()[1])) is None
    assert S.answers(S.ServerAddress("127.0.0.1", _free_port())) is not None


def test_dead_servers_are_warnings_and_the_pool_runs_locally():
    # pathos/tests/test_map.py::test_pp
    dead = tuple(f"localhost:{_free_port()}" for _ in range(2))
    with pytest.warns(S.ServerSkippedWarning, match="no server answers") as rec:
        pool = ParallelPool(servers=dead, ncpus=2)
    assert len(rec) == 2 and rec[0].filename == __file__
    assert pool.servers == dead
    assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
    assert len(pool.workers) == 2


def test_a_port_that_is_no_server_is_skipped_with_its_own_warning(tmp_path):
    key = tmp_path / "server.key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o600)
    with socket.socket() as srv:          # accepts, never speaks
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        address = f"127.0.0.1:{srv.getsockname()[1]}"
        with pytest.warns(S.ServerSkippedWarning, match="did not complete the handshake"):
            pool = ParallelPool(servers=(address,), ncpus=1, connect_timeout=1,
                                secret_file=str(key))
    assert pool.pipe(abs, -4) == 4


def test_no_workers_at_all_is_an_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", S.ServerSkippedWarning)
        with pytest.raises(ValueError, match="needs workers"):
            ParallelPool(servers=(f"localhost:{_free_port()}",), ncpus=0)


def test_the_pool_refuses_an_old_count():
    with pytest.raises(S.ServersError, match=r"servers=\{'node2': 8\}"):
        ParallelPool(servers=("node2:8",), ncpus=0)
