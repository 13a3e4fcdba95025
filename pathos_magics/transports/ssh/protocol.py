"""What the kernel's side and the host's side of the ssh transport agree on:
the lines the boot script and the server print, and their time limits.
Imports nothing, so both sides can."""
from __future__ import annotations

BOOT_TAG = "PATHOS_MAGICS_BOOT"        # the boot script's one line: status=...
SERVER_TAG = "PATHOS_MAGICS_SERVER"    # the server's banner: port=... cpus=...
AUTHKEY_TIMEOUT = 30.0      # seconds the server waits for the authkey on stdin
HANDSHAKE_TIMEOUT = 10      # seconds a new connection has to authenticate

# After the challenge (both ways) the client says what it wants, one message:
INTENT_WORKER = b"worker"   # this connection becomes a worker (worker.process_main)
INTENT_INFO = b"info"       # answer the server's info as JSON, then close:
                            # {"workers": offered, "cpus", "pid", "python", "host"}

ENV_REMOTE_DIR = "PATHOS_MAGICS_REMOTE_DIR"
DEFAULT_REMOTE_DIR = "~/.cache/pathos_magics"


def server_banner(**fields: object) -> str:
    """The server's banner line: ``PATHOS_MAGICS_SERVER port=P pid=... cpus=N``."""
    return SERVER_TAG + " " + " ".join(f"{k}={v}" for k, v in fields.items())


def parse_fields(line: str) -> dict[str, str]:
    """The ``key=value`` fields of a tagged line."""
    return dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
