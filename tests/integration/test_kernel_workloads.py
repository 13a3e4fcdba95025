"""Issue 10's workloads in a real kernel (nbclient): a few long tasks on
Pool() and %%pmap, an --async map then another, a kept imap over an endless
input, a big numpy global (unchanged, changed in place, rebound), and the
kernel's process state (chdir, environment, reload) as the workers see
it."""
from __future__ import annotations

import pytest

pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.integration

from notebooks import execute  # noqa: E402

CELLS = [
    """\
%load_ext pathos_magics
%pathos progress off
%pathos pool process 2
import os, time, itertools, importlib, sys
def who(x):
    time.sleep(0.3)
    return os.getpid()
""",
    "from pathos_magics import Pool\nprint('pool', len(set(Pool().map(who, range(2)))))",
    "%%pmap -o pids x in range(2)\nwho(x)",
    "print('pmap', len(set(pids)))",
    "%%pmap --async -o slow x in range(20)\ntime.sleep(0.3)",
    "%%pmap -o quick x in range(5)\nx * x",
    "print('async', quick, slow.ready())\nslow.cancel()",
    """\
import psutil
rss = psutil.Process().memory_info().rss
it = Pool().imap(abs, itertools.count())
first = list(itertools.islice(it, 10))
time.sleep(2)
print('imap', first[-1], (psutil.Process().memory_info().rss - rss) < 50e6,
      Pool().map(abs, [-1, -2]))
it.close()
""",
    """\
import numpy as np
from pathos_magics import inherit
BIG = np.arange(6_000_000, dtype=np.float64)          # 48 MB, 6 blocks
hashed = []
_hash_blocks = inherit._hash_blocks
def _count(blocks, digests):
    hashed.append(sum(d is None for d in digests))
    _hash_blocks(blocks, digests)
inherit._hash_blocks = _count
runs = [Pool().map(lambda i: float(BIG[i]), [1, 2, 3, 4]) for _ in range(3)]
print('array shipped', runs, 'digests', len(hashed))
""",
    """\
Pool().clear()                            # new workers: forked with BIG
Pool().map(abs, range(4))
runs = [Pool().map(lambda i: float(BIG[i]), [1, 2, 3, 4]) for _ in range(3)]
print('array forked', runs[-1], hashed[-1])
""",
    "BIG[2] = -1.0\nprint('array changed', Pool().map(lambda i: float(BIG[i]), [1, 2, 3, 4]))",
    """\
BIG = BIG * 2
print('array rebound', Pool().map(lambda i: float(BIG[i]), [1, 2, 3, 4]),
      Pool().map(lambda i: float(BIG[i]), [1, 2, 3, 4]))
""",
    "%%pmap -o got i in [1, 2, 3]\nfloat(BIG[i])",
    "print('array pmap', got)\ninherit._hash_blocks = _hash_blocks",
    """\
os.makedirs('sub', exist_ok=True)
os.chdir('sub')
os.environ['PM_NB_VAR'] = 'from the kernel'
with open('pm_nb_mod.py', 'w') as f:
    f.write('def f(x):\\n    return "v1"\\n')
sys.path.insert(0, os.getcwd())
import pm_nb_mod
print('state', set(Pool().map(lambda _: (os.path.basename(os.getcwd()),
                                         os.environ.get('PM_NB_VAR')), range(4))),
      set(Pool().map(pm_nb_mod.f, range(4))))
""",
    """\
with open('pm_nb_mod.py', 'w') as f:
    f.write('def f(x):\\n    return "v2"\\n')
importlib.reload(pm_nb_mod)
print('reloaded', set(Pool().map(pm_nb_mod.f, range(4))))
Pool().clear()
""",
]


@pytest.fixture(scope="module")
def stdout(tmp_path_factory):
    nb = execute(CELLS, tmp_path_factory.mktemp("workloads_nb"))
    errors = [o for c in nb.cells for o in c.outputs if o.get("output_type") == "error"]
    assert errors == []
    return "\n".join("".join(o.get("text", "") for o in c.outputs) for c in nb.cells)


def test_few_long_tasks_use_every_worker(stdout):
    assert "pool 2" in stdout and "pmap 2" in stdout


def test_an_async_pmap_does_not_hold_up_the_next(stdout):
    assert "async [0, 1, 4, 9, 16] False" in stdout


def test_a_kept_imap_over_count_stays_small_and_holds_nothing_up(stdout):
    assert "imap 9 True [1, 2]" in stdout


def test_a_big_array_is_checked_not_shipped_and_changes_are_seen(stdout):
    # created after the workers: shipped once (the code named it, then went
    # with it), kept by the workers: the next two maps name it only
    assert "array shipped " + str([[1.0, 2.0, 3.0, 4.0]] * 3) + " digests 4" in stdout
    # held by workers forked after it: not hashed again in the kernel (the
    # pages say it is unwritten since the fork); every change reaches them
    assert "array forked [1.0, 2.0, 3.0, 4.0] 0" in stdout
    assert "array changed [1.0, -1.0, 3.0, 4.0]" in stdout
    assert "array rebound [2.0, -2.0, 6.0, 8.0] [2.0, -2.0, 6.0, 8.0]" in stdout
    assert "array pmap [2.0, -2.0, 6.0]" in stdout


def test_workers_see_the_kernels_folder_environment_and_reloads(stdout):
    assert "state {('sub', 'from the kernel')} {'v1'}" in stdout
    assert "reloaded {'v2'}" in stdout
