"""Recording the pauses the runtime asks for, so a test checks how long it
waited by what it asked, not by the clock (which the machine's load moves)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest


def record_pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every ``time.sleep`` and ``anyio.sleep`` from now on (the runners' pauses
    among them) is recorded in the returned list, then performed as asked."""
    paused: list[float] = []
    sleep, async_sleep = time.sleep, anyio.sleep

    def recorded(seconds: float) -> None:
        paused.append(float(seconds))
        sleep(seconds)

    async def recorded_async(seconds: float, *args: Any, **kwargs: Any) -> Any:
        paused.append(float(seconds))
        return await async_sleep(seconds, *args, **kwargs)

    monkeypatch.setattr(time, "sleep", recorded)
    monkeypatch.setattr(anyio, "sleep", recorded_async)
    return paused
