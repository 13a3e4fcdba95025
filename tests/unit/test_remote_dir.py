"""The private folder check BOOT runs on a host (bootstrap.unsafe_path), here
on this machine: the same text runs on both sides."""
from __future__ import annotations

import os

from pathos_magics.transports.ssh.bootstrap import unsafe_path


def test_a_private_folder_of_ours_is_safe_even_under_a_sticky_shared_parent(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)                           # like /tmp
    remote = shared / "remote"
    (remote / "py-tag" / "site").mkdir(parents=True, mode=0o700)
    remote.chmod(0o700)
    assert unsafe_path(str(remote / "py-tag")) is None
    assert unsafe_path(str(tmp_path / "not" / "yet" / "made")) is None


def test_what_others_could_write_is_refused(tmp_path):
    remote = tmp_path / "remote"
    (remote / "py-tag" / "site").mkdir(parents=True)
    remote.chmod(0o770)
    assert unsafe_path(str(remote / "py-tag")) == (str(remote),
                                                   "is writable by others (mode 770)")
    remote.chmod(0o700)
    (remote / "py-tag" / "site" / "x.py").write_text("")
    os.chmod(remote / "py-tag" / "site" / "x.py", 0o666)
    assert unsafe_path(str(remote / "py-tag"))[0].endswith("x.py")


def test_a_parent_others_can_write_without_the_sticky_bit_is_refused(tmp_path):
    open_parent = tmp_path / "open"
    (open_parent / "remote" / "py-tag").mkdir(parents=True, mode=0o700)
    open_parent.chmod(0o777)                       # anyone could rename remote away
    assert unsafe_path(str(open_parent / "remote" / "py-tag")) == (
        str(open_parent), "is writable by others (mode 777)")


def test_a_symbolic_link_inside_is_refused(tmp_path):
    remote = tmp_path / "remote"
    (remote / "py-tag").mkdir(parents=True, mode=0o700)
    remote.chmod(0o700)
    (remote / "py-tag" / "site").symlink_to(tmp_path)
    assert unsafe_path(str(remote / "py-tag")) == (str(remote / "py-tag" / "site"),
                                                   "is a symbolic link")
