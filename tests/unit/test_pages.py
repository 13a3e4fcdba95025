"""pages.py: which blocks of memory this process has not written since the
last fork, from /proc/self/pagemap; and inherit.py's use of it, so a big
array nobody changed is not hashed again at every map (issue 10, W6)."""
from __future__ import annotations

import mmap
import os
import sys
import tempfile

import pytest

from pathos_magics import inherit, pages

np = pytest.importorskip("numpy")

BLOCK = inherit._BLOCK

if not sys.platform.startswith("linux"):
    pytest.skip("pagemap is Linux's", allow_module_level=True)
if not pages.supported() and not os.environ.get("CI"):
    pytest.skip("this kernel gives no pagemap flags (a sandbox?)", allow_module_level=True)


def test_this_machine_answers():
    assert pages.supported()          # in CI: W6's speed depends on it


class Sharer:
    """A forked child that holds this process's pages until stopped."""

    def __enter__(self):
        self.read_end, self.write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(self.write_end)
                os.read(self.read_end, 1)         # until the parent lets go
            finally:
                os._exit(0)
        os.close(self.read_end)
        return self

    def __exit__(self, *exc):
        os.close(self.write_end)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def private_region(nbytes):
    return mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def address_of(buf):
    return np.frombuffer(buf, dtype=np.uint8).__array_interface__["data"][0]


def test_every_fork_counts():
    before = pages.fork_count()
    with Sharer():
        pass
    assert pages.fork_count() == before + 1


def test_blocks_written_since_the_fork_are_told_apart():
    region = private_region(4 * BLOCK)
    region.write(b"\1" * len(region))                 # every page present
    address = address_of(region)
    # nothing shared yet: every page is this process's alone
    assert pages.unwritten_blocks(address, len(region), BLOCK) == [False] * 4
    with Sharer():
        assert pages.unwritten_blocks(address, len(region), BLOCK) == [True] * 4
        region[2 * BLOCK + 5] = 7                     # a copy of that page, here only
        assert pages.unwritten_blocks(address, len(region), BLOCK) == [True, True, False, True]
    # the child is gone: its pages are this process's alone again
    assert pages.unwritten_blocks(address, len(region), BLOCK) == [False] * 4


def test_a_page_never_touched_is_not_taken_for_unwritten():
    region = private_region(2 * BLOCK)
    region[0] = 1                                     # block 1 never touched
    with Sharer():
        got = pages.unwritten_blocks(address_of(region), len(region), BLOCK)
    assert got[1] is False


def test_only_private_anonymous_memory_is_taken():
    private = private_region(BLOCK)
    assert pages.private_anonymous(address_of(private), len(private))
    array = np.ones(BLOCK // 8)
    assert pages.private_anonymous(array.__array_interface__["data"][0], array.nbytes)
    shared = mmap.mmap(-1, BLOCK, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    assert not pages.private_anonymous(address_of(shared), len(shared))
    with tempfile.TemporaryFile() as fh:
        fh.truncate(BLOCK)
        mapped = mmap.mmap(fh.fileno(), BLOCK, flags=mmap.MAP_PRIVATE)
        assert not pages.private_anonymous(address_of(mapped), len(mapped))
    assert not pages.private_anonymous(8 * mmap.PAGESIZE, mmap.PAGESIZE)   # unmapped


def test_a_kernel_without_the_flags_answers_nothing(monkeypatch):
    monkeypatch.setattr(pages, "_supported", None)
    monkeypatch.setattr(pages, "_read_entries", lambda first, count: bytes(8 * count))
    assert not pages.supported()
    assert pages.unwritten_blocks(address_of(private_region(BLOCK)), BLOCK, BLOCK) is None


# ---------------------------------------------------- inherit's block memos

@pytest.fixture
def hashed(monkeypatch):
    """How many blocks each buffer_digest call hashed."""
    counts = []
    real = inherit._hash_blocks

    def spy(blocks, digests):
        counts.append(sum(d is None for d in digests))
        real(blocks, digests)

    monkeypatch.setattr(inherit, "_hash_blocks", spy)
    monkeypatch.setattr(inherit, "_MEMOS", {})
    return counts


def fresh_digest(array):
    return inherit.buffer_digest(array.copy())


def region_array(nblocks, value=1.0):
    """An array over memory of its own: a heap array's first and last pages
    may hold other objects, whose writes make those blocks look written."""
    array = np.frombuffer(private_region(nblocks * BLOCK), dtype=np.float64)
    array[:] = value
    return array


def test_an_array_unchanged_since_the_fork_is_not_hashed_again(hashed):
    # 48 MB: above malloc's largest mmap threshold, so in pages of its own
    big = np.arange(6 * BLOCK // 8, dtype=np.float64)
    with Sharer():
        first = inherit.buffer_digest(big)
        assert inherit.buffer_digest(big) == first
        assert inherit.buffer_digest(big) == first
    assert hashed == [6, 0, 0]


def test_a_written_block_is_hashed_again_and_the_digest_follows(hashed):
    big = region_array(4)
    big[:] = np.arange(big.size)
    middle = BLOCK // 16                               # of a block: no page on two
    with Sharer():
        before = inherit.buffer_digest(big)
        big[BLOCK // 8 + middle] = -1.0                # block 1
        after = inherit.buffer_digest(big)
        big.reshape(4, -1)[3, middle] = -2.0           # block 3
        last = inherit.buffer_digest(big)
        # a page written since the fork stays this process's own: its block
        # is hashed at every call from then on (until the next fork)
        assert hashed == [4, 1, 2]
        assert after != before and after != last
        assert last == fresh_digest(big)
        big[BLOCK // 8 + middle] = float(BLOCK // 8 + middle)
        big.reshape(4, -1)[3, middle] = float(3 * BLOCK // 8 + middle)
        assert inherit.buffer_digest(big) == before     # the old values back


def test_a_fork_since_the_memo_means_hashing_all_again(hashed):
    big = region_array(2)
    with Sharer():
        inherit.buffer_digest(big)
        big[0] = 2.0                       # written, then shared by the next fork
        with Sharer():
            assert inherit.buffer_digest(big) == fresh_digest(big)
    assert hashed[:2] == [2, 2]


def test_without_a_process_sharing_the_pages_every_call_hashes(hashed):
    big = region_array(2)
    inherit.buffer_digest(big)
    big[5] = 3.0
    assert inherit.buffer_digest(big) == fresh_digest(big)
    assert hashed[:2] == [2, 2]


def test_a_new_array_in_an_old_ones_place_is_hashed(hashed):
    big = region_array(2, 1.0)
    other = region_array(2, 5.0)           # written before the fork: pages shared
    with Sharer():
        inherit.buffer_digest(big)
        memo = inherit._MEMOS[id(big)]
        # as if ``other`` had the freed ``big``'s id and address: its pages
        # look unwritten, and only the weak reference tells it apart
        inherit._MEMOS[id(other)] = memo
        memo.address = other.__array_interface__["data"][0]
        assert inherit.buffer_digest(other) == fresh_digest(other)
    assert hashed[1] == 2


def test_the_meaning_is_checked_not_only_the_memory(hashed):
    big = region_array(2)
    with Sharer():
        first = inherit.buffer_digest(big)
        big.shape = (2, -1)                       # same bytes, another meaning
        assert inherit.buffer_digest(big) != first
    assert hashed == [2, 0]       # the blocks' digests still hold; the meaning differs


def test_a_file_mapped_array_is_never_remembered(hashed, tmp_path):
    path = tmp_path / "a.bin"
    np.ones(2 * BLOCK // 8).tofile(path)
    mapped = np.memmap(path, dtype=np.float64, mode="c")
    view = np.asarray(mapped)               # a plain ndarray over the file's pages
    inherit.buffer_digest(view)
    assert id(view) not in inherit._MEMOS
    del view, mapped


def test_a_freed_array_leaves_no_memo(hashed):
    big = np.ones(2 * BLOCK // 8)
    with Sharer():
        inherit.buffer_digest(big)
        key = id(big)
        assert key in inherit._MEMOS
        del big
    assert key not in inherit._MEMOS


def test_a_forked_child_starts_with_no_memos(hashed):
    big = np.ones(BLOCK // 8)
    with Sharer():
        inherit.buffer_digest(big)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, b"%d" % len(inherit._MEMOS))
        os._exit(0)
    os.close(write_end)
    try:
        assert os.read(read_end, 16) == b"0"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
