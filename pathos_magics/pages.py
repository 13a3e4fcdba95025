"""Which parts of a memory range this process has not written since a moment.

A forked worker shares its parent's memory pages until one of the two writes
to a page: the kernel (Linux) then gives the writer a copy of its own.  Linux
tells a process, page by page, whether each of its pages is mapped by it
alone (``/proc/self/pagemap``, bit 56, "exclusively mapped", readable
without privileges).  So, in a private anonymous mapping:

* a page that is *not* exclusively mapped is shared with some process forked
  from this one, and has not been written by this process since the last
  fork: a write would have given this process a private copy, and nothing but
  another fork shares a private page again;
* hence, if no fork happened since a moment T, a range whose pages are all
  present and shared holds what it held at T.

That is what :func:`unwritten_blocks` answers, for the blocks of a range, with
:func:`fork_count` as the clock: every ``os.fork()`` (multiprocessing's
too) counts, through :func:`os.register_at_fork`.  A false "written" (a page
alone because the other process wrote its own copy, or died) only costs a
re-read; a false "unwritten" cannot come from the kernel.

What it does not see, said so a caller can say so too:

* a fork that skips Python's fork hooks (a C library calling fork(2) and not
  exec) while the check runs;
* KSM page merging (off unless ``/sys/kernel/mm/ksm/run`` is 1: then this
  answers nothing);
* ``madvise(MADV_DONTNEED)`` called on the range by hand.

File mappings (``np.memmap``) and shared ones (``multiprocessing``'s
shared memory) change without a write by this process: they are refused.
Where pagemap is missing or does not mark a page just written as exclusive
(a sandbox), :func:`supported` is False and nothing is answered.
"""
from __future__ import annotations

import mmap
import os
import sys
import threading
from typing import Optional

PAGE = mmap.PAGESIZE
_PRESENT = 1 << 63
_SWAPPED = 1 << 62
_EXCLUSIVE = 1 << 56
_CLEAN_MASK = _PRESENT | _SWAPPED | _EXCLUSIVE     # present, in memory, shared

_forks = 0
_supported: Optional[bool] = None
_lock = threading.Lock()


def _count_fork() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_count_fork)


def fork_count() -> int:
    """How many times this process forked (by ``os.fork``) so far."""
    return _forks


def _read_entries(first_page: int, count: int) -> Optional[bytes]:
    try:
        fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.pread(fd, count * 8, first_page * 8)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == count * 8 else None


def _self_test() -> bool:
    """Whether this kernel marks a page just written, by this process only,
    as present and exclusively mapped (a sandbox may answer zeros)."""
    try:
        probe = mmap.mmap(-1, PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, AttributeError, ValueError):
        return False
    try:
        probe[0] = 1
        import ctypes
        address = ctypes.addressof(ctypes.c_char.from_buffer(probe))
        data = _read_entries(address // PAGE, 1)
        del address
        if data is None:
            return False
        entry = int.from_bytes(data, "little")
        return entry & (_PRESENT | _EXCLUSIVE) == _PRESENT | _EXCLUSIVE
    except (OSError, ValueError, TypeError):
        return False
    finally:
        try:
            probe.close()
        except BufferError:      # a ctypes view still alive: freed with it
            pass


def _ksm_running() -> bool:
    try:
        with open("/sys/kernel/mm/ksm/run") as fh:
            return fh.read().strip() != "0"
    except OSError:
        return False


def supported() -> bool:
    """Whether answers can be given here (tested once per process)."""
    global _supported
    if _supported is None:
        with _lock:
            if _supported is None:
                _supported = _self_test() and not _ksm_running()
    return _supported


def private_anonymous(address: int, nbytes: int) -> bool:
    """Whether ``[address, address + nbytes)`` lies in private anonymous
    mappings only (``/proc/self/maps``): no file, no shared memory."""
    end = address + nbytes
    covered = address
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                fields = line.split(maxsplit=5)
                low, high = (int(x, 16) for x in fields[0].split("-"))
                if high <= covered:
                    continue
                if low > covered:
                    return False                      # a hole in the range
                path = fields[5].strip() if len(fields) > 5 else ""
                anonymous = path in ("", "[heap]") or path.startswith("[anon:")
                if fields[1][3] != "p" or not anonymous:
                    return False
                covered = high
                if covered >= end:
                    return True
    except (OSError, ValueError, IndexError):
        return False
    return False


def unwritten_blocks(address: int, nbytes: int, block: int) -> Optional[list[bool]]:
    """For each ``block``-sized part of the range, whether every page under it
    is present and shared with a forked process (so unwritten by this one
    since the last fork); None when that cannot be told here.

    The caller checks :func:`fork_count` before and after: an answer is about
    the time since the last fork only.  About 1 ms for 400 MB.
    """
    if nbytes <= 0 or not supported():
        return None
    first = address // PAGE
    count = (address + nbytes - 1) // PAGE - first + 1
    data = _read_entries(first, count)
    if data is None:
        return None
    clean = _clean_pages(data, count)
    blocks = (nbytes + block - 1) // block
    if all(clean) if isinstance(clean, list) else clean.all():
        return [True] * blocks                    # the usual answer, at once
    out = []
    for start in range(0, nbytes, block):
        lo = (address + start) // PAGE - first
        hi = (address + min(start + block, nbytes) - 1) // PAGE - first + 1
        out.append(all(clean[lo:hi]) if isinstance(clean, list) else bool(clean[lo:hi].all()))
    return out


def _clean_pages(data: bytes, count: int):
    """Per page, whether it is present, not swapped and not exclusive."""
    numpy = sys.modules.get("numpy")     # never imported here
    if numpy is None:
        entries = memoryview(data).cast("Q")
        return [e & _CLEAN_MASK == _PRESENT for e in entries]
    entries = numpy.frombuffer(data, dtype="<u8", count=count)
    return (entries & numpy.uint64(_CLEAN_MASK)) == numpy.uint64(_PRESENT)


__all__ = ["PAGE", "fork_count", "supported", "private_anonymous", "unwritten_blocks"]
