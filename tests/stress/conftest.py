"""The soak uses the real ssh test hosts of tests/integration (the same
``net`` fixture and host-side leak check)."""
from __future__ import annotations

import importlib.util
import os

_path = os.path.join(os.path.dirname(__file__), "..", "integration", "conftest.py")
_spec = importlib.util.spec_from_file_location("integration_conftest", _path)
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

net = _integration.net
hosts_left_clean = _integration.hosts_left_clean
