"""Run one operation on many drivers at once: regions, accounts, providers.

Inventories span many regions and clouds; asking them one after another makes
the slowest sum of all. ``fan_out`` asks them concurrently and returns every
answer, keeping failures apart so one unreachable region does not hide the
others::

    drivers = [get_driver(Provider.EC2)(key, secret, region=r) for r in regions]
    inventory = fan_out(drivers, "list_nodes")                # sync code: threads
    inventory = await fan_out.run_async(drivers, "list_nodes")  # async code: tasks
    for driver, nodes in inventory.results: ...
    for driver, error in inventory.errors: ...

In async programs the plain pattern works too, on one event loop, with
drivers of different providers:
``await asyncio.gather(*(d.aio.list_nodes() for d in drivers))``.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import Generic
from typing import TypeVar

from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.errors import OvercastError
from overcast.runtime.effects import Delegate
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.operation import BoundIterator
from overcast.runtime.operation import standalone
from overcast.runtime.ops import collect

if TYPE_CHECKING:
    from overcast.compute.base import NodeDriver

__all__ = [
    "DEFAULT_CONCURRENCY",
    "FanOutResult",
    "fan_out",
    "fan_out_async",
    "list_nodes_everywhere",
    "list_nodes_everywhere_async",
]

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


def _fan_out(drivers: Iterable[D], operation: str, *args: Any,
             concurrency: int = DEFAULT_CONCURRENCY, **kwargs: Any) -> Op[FanOutResult[D]]:
    chosen = list(drivers)
    _check(chosen, operation, concurrency)

    def one(driver: D) -> Op[tuple[bool, Any]]:
        bound = getattr(driver, operation)
        sub = bound.op(*args, **kwargs)
        if isinstance(bound, BoundIterator):
            sub = collect(sub)
        try:
            value = yield Delegate(driver, sub)
        except (OvercastError, OSError) as exc:
            return False, exc
        return True, value

    if not chosen:
        return FanOutResult()
    outcomes: list[tuple[bool, Any]] = yield Parallel(
        [one(driver) for driver in chosen], limit=concurrency
    )
    return _collect(chosen, outcomes)


#: ``fan_out(drivers, operation, *args, concurrency=16, **kwargs)``: call
#: ``driver.<operation>(*args, **kwargs)`` on every driver concurrently and
#: gather the answers (``await fan_out.run_async(...)`` in async code).
#:
#: Each call runs on its own driver's runner (its pools, signer and policy);
#: sync code uses threads, async code tasks on the running loop. Iterator
#: operations are read to the end. Errors that overcast raises, and connection
#: errors, are collected in ``errors``; a bug (any other exception) is raised.
fan_out = standalone(_fan_out)
fan_out_async = fan_out.run_async


def list_nodes_everywhere(
    drivers: Iterable[NodeDriver], *, concurrency: int = DEFAULT_CONCURRENCY
) -> FanOutResult[NodeDriver]:
    """``list_nodes`` on every driver at once, from sync code (threads).

    ``result.flat()`` is every node; ``result.errors`` the drivers that failed,
    so one unreachable region does not hide the others. In async code use
    :func:`list_nodes_everywhere_async`.
    """
    return fan_out(drivers, "list_nodes", concurrency=concurrency)


async def list_nodes_everywhere_async(
    drivers: Iterable[NodeDriver], *, concurrency: int = DEFAULT_CONCURRENCY
) -> FanOutResult[NodeDriver]:
    """:func:`list_nodes_everywhere` for async programs (tasks on one loop)."""
    return await fan_out.run_async(drivers, "list_nodes", concurrency=concurrency)
