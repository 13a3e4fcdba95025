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
_spec.loader.exec_module(_integration)

hosts_left_clean = _integration.hosts_left_clean


@pytest.fixture(scope="session")
def net(tmp_path_factory):
    """Two real hosts running sshd, torn down after the session."""
    yield from _integration.two_hosts(tmp_path_factory.mktemp("soakhosts"), tag="s")
