"""The ssh toolkit's exceptions (one module, so every part can raise them)."""
from __future__ import annotations

from ..errors import TransportError


class SSHError(TransportError):
    """A host could not be reached, authenticated or used over ssh."""


class HostKeyError(SSHError):
    """A host's key is unknown, revoked or does not match known_hosts."""
