"""Reading compute API values into the model's types, the same way in every
JSON driver: timestamps, whole numbers and prices."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

__all__ = ["moment", "price", "whole"]


def moment(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or an offset; none means UTC) as an aware
    ``datetime``; ``None`` for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def whole(value: Any, default: int = 0) -> int:
    """An integer from an API value (``default`` if it is none or not a number)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def price(value: Any) -> float | None:
    """A price in US dollars from an API value: ``None`` when it is missing, not
    a number or not above 0 (unknown is never free)."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return None
    return amount if amount > 0 else None
