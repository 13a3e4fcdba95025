"""pathos's own test suite, run against pathos_magics with only the imports changed.

The files in ``pathos_tests/`` are pathos 0.3.5's ``pathos/tests/test_*.py``
(as shipped in its wheel) with ``from pathos.X`` -> ``from pathos_magics.X``
and a two-line header saying so; nothing else differs (``diff -r`` against
the wheel shows only those lines).  pytest collects their test functions
(see pathos_tests/conftest.py); ``test_maps.py`` has none, its asserts run at
module level, so it runs here as pathos's runner (``pathos/tests/__main__.py``)
runs every file: ``python test_maps.py``, which must exit 0.

One assertion differs on purpose and is a strict xfail: test_mp.py's
``chunksize=0`` (see pathos_tests/conftest.py and the README).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).parent / "pathos_tests"
RUN_TIMEOUT = 300


def test_the_ported_files_are_pathos_files_with_only_imports_changed():
    for path in sorted(SUITE.glob("test_*.py")):
        lines = path.read_text().splitlines()
        assert lines[0].startswith("# Ported from pathos 0.3.5"), path.name
        for line in lines[2:]:
            assert "pathos." not in line.replace("pathos_magics.", ""), (path.name, line)


def test_maps_script():
    proc = subprocess.run([sys.executable, "test_maps.py"], cwd=SUITE,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
