"""The error a command raises when a safety limit stops it."""

from __future__ import annotations

from overcast.errors import OvercastError

__all__ = ["Refused"]


class Refused(OvercastError):
    """A safety limit refused the change (``sync --delete`` past its share):
    nothing was changed; ``--force`` overrides."""
