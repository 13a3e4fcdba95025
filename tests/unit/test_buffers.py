"""Big buffers (issue 10, item 4): numpy arrays and other buffer objects that
forked workers hold are named by a digest, and arrays that travel go as
out-of-band buffers (copied once, arriving writable)."""
from __future__ import annotations

import array
import subprocess
import sys
import textwrap
import threading
import types

import multiprocess
import pytest

from pathos_magics import inherit, serialize, wire
from pathos_magics.pools import ProcessPool, SerialPool, ThreadPool

np = pytest.importorskip("numpy")


@pytest.fixture
def main_ns(monkeypatch):
    module = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", module)
    monkeypatch.setattr(inherit, "_AT_FORK", None)
    monkeypatch.setattr(inherit, "_KEPT", {})
    return vars(module)


def pid_of(obj):
    return inherit.Namer().persistent_id(obj)


# ------------------------------------------------------------ naming

@pytest.mark.parametrize("make", [
    lambda: np.arange(100_000, dtype=np.float64),
    lambda: np.asfortranarray(np.arange(100_000.0).reshape(200, 500)),
    lambda: b"x" * 100_000,
    lambda: bytearray(100_000),
    lambda: array.array("d", range(20_000)),
    lambda: memoryview(bytearray(100_000)),
], ids=["ndarray", "fortran", "bytes", "bytearray", "array", "memoryview"])
def test_a_big_buffer_global_is_named_and_found(main_ns, make):
    main_ns["BUF"] = buf = make()
    inherit.capture_in_child()                        # "the fork"
    pid = pid_of(buf)
    assert pid is not None and pid[:2] == ("inherited", "BUF")
    assert inherit.resolve(*pid[1:]) is buf


def test_the_meaning_of_the_bytes_is_part_of_the_identity():
    a = np.arange(1000, dtype=np.float64)
    # the same bytes, read as another dtype, shape, order or byte order
    same_bytes = [a.view(np.int64), a.reshape(10, 100), a.reshape(10, 100).T,
                  a.view(a.dtype.newbyteorder())]
    digest = inherit.buffer_digest(a)
    assert inherit.buffer_digest(a.copy()) == digest
    for other in same_bytes:
        assert bytes(memoryview(other).cast("B", (other.nbytes,)) if other.flags.c_contiguous
                     else other.T.tobytes()) == a.tobytes()
        assert inherit.buffer_digest(other) != digest
    changed = a.copy()
    changed[-1] = -0.0 if changed[-1] == 0 else 0.0
    assert inherit.buffer_digest(changed) != digest
    assert inherit.buffer_digest(array.array("d", a)) != digest   # same bytes, another type


def test_object_arrays_small_buffers_and_strided_views_are_never_named(main_ns):
    main_ns.update(OBJ=np.array([object()] * 100_000), SMALL=np.zeros(10),
                   BASE=np.zeros(200_000))
    main_ns["STRIDED"] = main_ns["BASE"][::2]
    assert pid_of(main_ns["OBJ"]) is None
    assert pid_of(main_ns["SMALL"]) is None
    assert pid_of(main_ns["STRIDED"]) is None
    assert pid_of(main_ns["BASE"]) is not None


def test_a_changed_copy_is_stale(main_ns):
    main_ns["A"] = a = np.zeros(100_000)
    inherit.capture_in_child()
    pid = pid_of(a)
    a[12345] = 1.0                                     # a task writes to the worker's copy
    with pytest.raises(inherit.Stale, match="'A' has another value"):
        inherit.resolve(*pid[1:])
    main_ns["A"] = np.zeros(50_000)                    # another kind of array, same name
    inherit.capture_in_child()
    with pytest.raises(inherit.Stale):
        inherit.resolve(*pid[1:])


def test_the_code_payload_names_an_array_instead_of_carrying_it(main_ns):
    main_ns["BIG"] = np.ones(1_000_000)
    exec("def f(i):\n    return float(BIG[i])\n", main_ns)
    (blob, bulk), _ = serialize.dumps_code(main_ns["f"], inherit.Namer())
    assert bulk == [] and len(blob) < 2000
    (blob, bulk), _ = serialize.dumps_code(main_ns["f"])      # not forked: by value,
    assert len(bulk) == 1 and isinstance(bulk[0], serialize.Pickled)  # out of band
    assert len(blob) < 2000 and len(bulk[0]) >= 8_000_000


NO_NUMPY = textwrap.dedent('''
    import sys
    from pathos_magics.pools import ProcessPool
    BIG = bytearray(1_000_000)
    if __name__ == "__main__":
        pool = ProcessPool(2, context="fork")
        assert pool.map(lambda i: BIG[i] + i, range(4)) == [0, 1, 2, 3]
        pool.clear()
        assert "numpy" not in sys.modules, "numpy was imported"
        print("OK")
''')


def test_numpy_is_never_imported_by_us(tmp_path):
    script = tmp_path / "no_numpy.py"
    script.write_text(NO_NUMPY)
    done = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "OK", done.stderr[-2000:]


# ------------------------------------------------------------ travelling

def test_data_with_big_arrays_keeps_them_apart_and_arrives_writable():
    items = [np.arange(100_000.0), np.zeros(3), "small"]
    blob = serialize.dumps_data(items)
    assert isinstance(blob, serialize.Pickled)
    assert len(blob.buffers) == 1 and len(blob.head) < 1000
    back = serialize.loads_data(blob)
    assert (back[0] == items[0]).all() and back[0].flags.writeable and back[2] == "small"
    assert isinstance(serialize.dumps_data([1, 2, 3]), bytes)   # nothing apart: as before


def _roundtrip(send_conn, recv_conn, msg):
    out = {}
    reader = threading.Thread(target=lambda: out.setdefault("msg", wire.Channel(recv_conn).recv()))
    reader.start()
    wire.Channel(send_conn).send(msg)
    reader.join(60)
    assert not reader.is_alive()
    return out["msg"]


def test_a_local_pipe_carries_buffers_as_frames_of_their_own():
    a, b = multiprocess.Pipe()
    big = np.random.default_rng(1).random(3_000_000)
    frames = []
    real_send = a.send_bytes
    a.send_bytes = lambda buf: (frames.append(memoryview(buf).nbytes), real_send(buf))[1]
    try:
        msg = _roundtrip(a, b, (wire.DONE, 1, 2, serialize.dumps_data([big]), None, 0.1))
    finally:
        a.close()
        b.close()
    assert frames[1:] == [big.nbytes] and frames[0] < 1000    # the array is one frame
    out = serialize.loads_data(msg[3])[0]
    assert (out == big).all() and out.flags.writeable


class _FramePipe:
    """A connection that is no multiprocessing Connection (an ssh channel,
    an MPI rank's): one frame per message."""

    def __init__(self, q) -> None:
        self.q = q

    def send_bytes(self, buf) -> None:
        self.q.append(bytes(buf))

    def recv_bytes(self) -> bytes:
        return self.q.pop(0)


def test_other_connections_get_one_frame_with_the_buffers_in_it():
    q: list = []
    big = np.arange(500_000.0)
    wire.Channel(_FramePipe(q)).send(("done", serialize.dumps_data([big])))
    assert len(q) == 1
    out = serialize.loads_data(wire.Channel(_FramePipe(q)).recv()[1])[0]
    assert (out == big).all() and out.flags.writeable


POOLS = {
    "serial": lambda: SerialPool(),
    "thread": lambda: ThreadPool(2),
    "fork": lambda: ProcessPool(2, context="fork"),
    "spawn": lambda: ProcessPool(2, context="spawn"),
}


def widen(a):
    return np.repeat(a, 8)


@pytest.mark.parametrize("kind", list(POOLS))
def test_maps_over_arrays_returning_arrays(kind):
    pool = POOLS[kind]()
    try:
        xs = [np.full(20_000, i, dtype=np.float64) for i in range(12)]
        out = pool.map(widen, xs)
        assert [o.shape for o in out] == [(160_000,)] * 12
        assert all((o == i).all() for i, o in enumerate(out))
        out[0][0] = 5.0                                  # writable, as a local result is
        assert list(pool.imap(np.sum, xs))[3] == 3 * 20_000
    finally:
        pool.clear()


SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    from pathos_magics import serialize
    from pathos_magics.pools import ProcessPool

    BIG = np.arange(2_000_000, dtype=np.float64)
    shipped = []
    dumps = serialize.dumps_code
    def spy(func, namer=None):
        payload = dumps(func, namer)
        shipped.append(len(payload[0][0]) + sum(len(b) for b in payload[0][1]))
        return payload
    serialize.dumps_code = spy

    if __name__ == "__main__":
        context = sys.argv[1]
        inherits = context == "fork"
        pool = ProcessPool(2, context=context)
        get = lambda i: float(BIG[i])
        assert pool.map(get, [0, 7, 9]) == [0.0, 7.0, 9.0]
        assert (shipped[-1] < 10_000) == inherits, shipped
        BIG[7] = -1.0                                 # the kernel changes it in place
        assert pool.map(get, [7] * 4) == [-1.0] * 4
        assert shipped[-1] > BIG.nbytes                # to each stale worker...
        assert pool.map(get, [7] * 4) == [-1.0] * 4
        assert (shipped[-1] < 10_000) == inherits, shipped   # ...which keeps it
        def spoil(i):                                 # a task changes a worker's copy
            BIG[9] = 99.0
            return float(BIG[9])
        assert pool.map(spoil, range(4)) == [99.0] * 4
        assert pool.map(get, [9] * 4) == [9.0] * 4
        BIG = BIG * 2                                 # a new array under the name
        assert pool.map(get, [7, 9] * 2) == [-2.0, 18.0] * 2
        assert pool.map(get, [7, 9] * 2) == [-2.0, 18.0] * 2
        assert (shipped[-1] < 10_000) == inherits, shipped
        pool.clear()
        print("OK")
''')


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_workers_see_the_kernels_array(tmp_path, context):
    script = tmp_path / "array_script.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), context], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("OK")
