"""Run the same driver call sync or async, so one test checks both modes."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import anyio

MODES = ("sync", "async")


def call(mode: str, driver: Any, name: str, /, *args: Any, **kwargs: Any) -> Any:
    """Call ``driver.<name>`` in ``mode``; iterators come back as lists and byte
    streams as bytes, so results compare equal across modes."""
    if mode.startswith("sync"):
        result = getattr(driver, name)(*args, **kwargs)
        if inspect.isgenerator(result) or hasattr(result, "__next__"):
            items = list(result)
            return _bytes_or_list(name, items)
        return result

    async def main() -> Any:
        async with driver.aio as view:
            result = getattr(view, name)(*args, **kwargs)
            if isinstance(result, AsyncIterator):
                items = [item async for item in result]
                return _bytes_or_list(name, items)
            return await result

    return anyio.run(main)


def _bytes_or_list(name: str, items: list[Any]) -> Any:
    if name.endswith("as_stream") or (items and all(isinstance(i, bytes) for i in items)):
        return b"".join(items)
    return items
