"""Whether maps are profiled on their workers when the caller does not say.

A map submitted with ``profile=True`` (``pool.map(f, xs, profile=True)``)
has its chunks run under :mod:`cProfile` on the workers, and each chunk's
stats come back with its results (events.TaskStats).  ``profile=None``, the
default, follows the process-wide default set here;
:func:`pathos_magics.profile.enable_profiling` turns it on.
"""
from __future__ import annotations

from typing import Optional

_default = False


def set_profile_default(on: bool) -> None:
    """Profile every map whose caller does not say (``profile=None``)."""
    global _default
    _default = bool(on)


def profile_default() -> bool:
    """The process-wide default of a map's ``profile`` option."""
    return _default


def resolve_profile(profile: Optional[bool]) -> bool:
    """A map's ``profile`` option, checked: None means the default."""
    if profile is None:
        return _default
    if not isinstance(profile, bool):
        raise TypeError(f"profile must be True, False or None (the default set by "
                        f"pathos_magics.profile.enable_profiling), not {profile!r}")
    return profile
