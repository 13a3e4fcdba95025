"""The soak's own two ssh test hosts (tests/integration/sshhosts.py), named
apart from the integration tests' hosts, which may be up in the same run;
the host-side leak check is the integration tests' own."""
from __future__ import annotations

import importlib.util
import os

import pytest

_path = os.path.join(os.path.dirname(__file__), "..", "integration", "conftest.py")
_spec = importlib.util.spec_from_file_location("integration_conftest", _path)
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)       # puts sshhosts on sys.path

from sshhosts import TestNetwork, missing_prerequisites  # noqa: E402

from pathos_magics import ssh  # noqa: E402

hosts_left_clean = _integration.hosts_left_clean


@pytest.fixture(scope="session")
def net(tmp_path_factory):
    """Two real hosts running sshd, torn down after the session."""
    why = missing_prerequisites()
    if why:
        pytest.fail(f"{why} (required in CI)") if os.environ.get("CI") else pytest.skip(why)
    folder = tmp_path_factory.mktemp("soakhosts")
    network = TestNetwork(str(folder), count=2, tag="s")
    saved = dict(os.environ)
    try:
        network.start()
        os.environ.update(network.env())
        os.environ["PATHOS_MAGICS_REMOTE_DIR"] = str(folder / "remote")
        yield network
    finally:
        ssh.close_all_tunnels()
        ssh.close_all()
        network.stop()
        os.environ.clear()
        os.environ.update(saved)
