"""Run one operation on many drivers at once: regions, accounts, providers.

Inventories span many regions and clouds; asking them one after another makes
the slowest sum of all. ``fan_out`` asks them concurrently and returns every
answer, keeping failures apart so one unreachable region does not hide the
others::

    drivers = [get_driver(Provider.EC2)(key, secret, region=r) for r in regions]
    inventory = fan_out(drivers, "list_nodes")          # sync code: threads
    inventory = await fan_out_async(drivers, "list_nodes")  # async code: tasks
    for driver, nodes in inventory.results: ...
    for driver, error in inventory.errors: ...

In async programs the plain pattern works too, on one event loop, with
drivers of different providers:
``await asyncio.gather(*(d.aio.list_nodes() for d in drivers))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import anyio

from overcast.driver import BaseDriver
from overcast.errors import InvalidInput, OvercastError

__all__ = ["DEFAULT_CONCURRENCY", "FanOutResult", "fan_out", "fan_out_async"]

#: Drivers asked at once unless told otherwise.
DEFAULT_CONCURRENCY: Final = 16

D = TypeVar("D", bound=BaseDriver)


@dataclass(slots=True)
class FanOutResult(Generic[D]):
    """Every driver's answer, in the order the drivers were given.

    ``results`` holds ``(driver, value)`` for the drivers that answered and
    ``errors`` ``(driver, exception)`` for those that failed.
    """

    results: list[tuple[D, Any]] = field(default_factory=list)
    errors: list[tuple[D, Exception]] = field(default_factory=list)

    @property
    def values(self) -> list[Any]:
        """The answers alone, in driver order."""
        return [value for _, value in self.results]

    def flat(self) -> list[Any]:
        """The answers joined, for operations that return lists (``list_nodes``)."""
        return [item for _, value in self.results for item in value]

    def raise_errors(self) -> None:
        """Raise the first error, if any driver failed."""
        if self.errors:
            raise self.errors[0][1]


def _check(drivers: Sequence[BaseDriver], operation: str, concurrency: int) -> None:
    if concurrency < 1:
        raise InvalidInput(f"concurrency must be positive: {concurrency}")
    for driver in drivers:
        if not isinstance(driver, BaseDriver):
            raise InvalidInput(f"not a driver: {driver!r}")
        if not driver.supports(operation):
            raise InvalidInput(f"{type(driver).__name__} does not support {operation}()")


def _collect(drivers: Sequence[D], outcomes: list[tuple[bool, Any]]) -> FanOutResult[D]:
    result: FanOutResult[D] = FanOutResult()
    for driver, (ok, value) in zip(drivers, outcomes, strict=True):
        (result.results if ok else result.errors).append((driver, value))
    return result


def fan_out(
    drivers: Iterable[D],
    operation: str,
    *args: Any,
    concurrency: int = DEFAULT_CONCURRENCY,
    **kwargs: Any,
) -> FanOutResult[D]:
    """Call ``driver.<operation>(*args, **kwargs)`` on every driver concurrently
    (threads; each driver keeps its own connection pool) and gather the answers.

    Iterator operations are read to the end. Errors that overcast raises, and
    connection errors, are collected in ``errors``; a bug (any other exception)
    is raised.
    """
    chosen = list(drivers)
    _check(chosen, operation, concurrency)

    def one(driver: D) -> tuple[bool, Any]:
        try:
            value = getattr(driver, operation)(*args, **kwargs)
            if hasattr(value, "__next__"):
                value = list(value)
            return True, value
        except (OvercastError, OSError) as exc:
            return False, exc

    if not chosen:
        return FanOutResult()
    with ThreadPoolExecutor(max_workers=min(concurrency, len(chosen))) as pool:
        outcomes = list(pool.map(one, chosen))
    return _collect(chosen, outcomes)


async def fan_out_async(
    drivers: Iterable[D],
    operation: str,
    *args: Any,
    concurrency: int = DEFAULT_CONCURRENCY,
    **kwargs: Any,
) -> FanOutResult[D]:
    """:func:`fan_out` for async programs: tasks on the running loop, through
    each driver's ``aio`` view."""
    chosen = list(drivers)
    _check(chosen, operation, concurrency)
    outcomes: list[tuple[bool, Any]] = [(False, None)] * len(chosen)
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(index: int, driver: D) -> None:
        async with limiter:
            try:
                value = getattr(driver.aio, operation)(*args, **kwargs)
                if hasattr(value, "__anext__"):
                    value = [item async for item in value]
                else:
                    value = await value
                outcomes[index] = (True, value)
            except (OvercastError, OSError) as exc:
                outcomes[index] = (False, exc)

    async with anyio.create_task_group() as group:
        for index, driver in enumerate(chosen):
            group.start_soon(one, index, driver)
    return _collect(chosen, outcomes)
