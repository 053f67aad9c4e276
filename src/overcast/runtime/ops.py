"""Small building blocks for writing operations, shared by every area."""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from typing import Protocol
from typing import TypeVar

from overcast.errors import OutcomeUnknown
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Sleep

__all__ = ["collect", "create_once", "expand", "find_by_id", "find_first", "or_none", "poll",
           "pure"]

T = TypeVar("T")
U = TypeVar("U")


class _Identified(Protocol):
    @property
    def id(self) -> object: ...


Item = TypeVar("Item", bound=_Identified)


def _relay(items: Iter[T], handle: Callable[[T], Iterable[Any] | None]) -> Any:
    """Run an iterator operation inside another: its effects pass through, and
    each item it emits goes to ``handle``, which returns ``None`` to stop there
    (the item is then returned) or the effects and items to yield in its place."""
    value: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                effect = items.throw(error) if error is not None else items.send(value)
            except StopIteration:
                return None
            value, error = None, None
            if isinstance(effect, Emit):
                instead = handle(effect.item)
                if instead is None:
                    return effect.item
                yield from instead
                continue
            try:
                value = yield effect
            except Exception as exc:  # the effect failed: let the iterator handle it
                error = exc
    finally:
        items.close()


def _drive_items(items: Iter[T], keep: Callable[[T], bool]) -> Op[T | None]:
    """Run an iterator operation inside another, stopping at the first item ``keep`` wants."""
    found: T | None = yield from _relay(items, lambda item: None if keep(item) else iter(()))
    return found


def expand(items: Iter[T], each: Callable[[T], Iterable[U]]) -> Iter[U]:
    """An iterator operation that emits ``each(item)``'s items for every item of
    the iterator operation ``items``, as they come (one page at a time)."""
    yield from _relay(items, lambda item: (Emit(one) for one in each(item)))


def collect(items: Iter[T]) -> Op[list[T]]:
    """Run an iterator operation inside another operation and gather every item."""
    result: list[T] = []

    def keep(item: T) -> bool:
        result.append(item)
        return False

    yield from _drive_items(items, keep)
    return result


def find_first(items: Iter[T], predicate: Callable[[T], bool]) -> Op[T | None]:
    """The first item of an iterator operation that matches, without reading
    further pages; ``None`` if none does."""
    return (yield from _drive_items(items, predicate))


def find_by_id(items: Iter[Item], wanted: str, missing: Callable[..., Exception], *,
               driver: object = None) -> Op[Item]:
    """The item of an iterator operation whose ``id`` is ``wanted``, without
    reading further pages; ``missing(wanted, driver=driver)`` (a
    :class:`~overcast.errors.NotFound`) raised when none is. The generic
    ``get_x`` of a driver with no direct lookup."""
    found = yield from _drive_items(items, lambda item: item.id == wanted)
    if found is None:
        raise missing(wanted, driver=driver)
    return found


def or_none(op: Op[T], missing: type[Exception]) -> Op[T | None]:
    """Run the operation ``op``; ``None`` if it raises ``missing`` (what it reads
    is not there). A lookup that may find nothing, such as the ``find`` of
    :func:`create_once`, reads ``or_none(self.get_zone.op(name), ZoneNotFound)``."""
    try:
        return (yield from op)
    except missing:
        return None


def pure(value: T) -> Op[T]:
    """An operation that needs no effect and returns ``value``."""
    yield from ()
    return value


def create_once(send: Callable[[], Op[T]], find: Callable[[], Op[T | None]], *,
                attempts: int = 3) -> Op[T]:
    """Create something exactly once, even when the network hides the outcome.

    ``send()`` issues the create; its request carries a unique token (the
    provider's idempotency field where it has one, and always a tag, label or
    name the driver can search by). The runtime never resends a non-idempotent
    request blindly: when the outcome is unknown it raises
    :class:`~overcast.errors.OutcomeUnknown`, and this helper then asks
    ``find()`` whether the resource exists. If it does, that is the result; if
    not, nothing was made and the create is sent again (up to ``attempts``
    times in all).
    """
    for attempt in range(1, attempts + 1):
        try:
            return (yield from send())
        except OutcomeUnknown:
            found = yield from find()
            if found is not None:
                return found
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def poll(look: Callable[[], Op[T]], settled: Callable[[T], bool], *, interval: float,
         timeout: float, timed_out: Callable[[T], Exception], current: T | None = None,
         growth: float = 1.0, max_interval: float = math.inf,
         pause_for: Callable[[T], float | None] | None = None) -> Op[T]:
    """Look at something the provider changes in its own time until it has settled.

    ``current`` (what the call that began the change answered, when it tells
    the state) is judged first, else what ``look()`` finds. While ``settled``
    says no, the runtime's ``Sleep`` pauses and ``look()`` looks again. A
    pause is ``interval``, each ``growth`` times the one before (at most
    ``max_interval``), unless ``pause_for(last seen)`` gives one (a provider's
    ``Retry-After``); a pause that would end past ``timeout`` is cut to end at
    it, so the waiting never exceeds ``timeout`` and the last look comes at
    its end. If that look has not settled either, it goes to ``timed_out`` and
    the exception returned is raised. ``settled`` raises itself for a change
    that ended in failure. A pause never counts against the operation's total
    time: its limit is ``timeout``.
    """
    if current is None:
        current = yield from look()
    waited, scheduled = 0.0, interval
    while not settled(current):
        left = timeout - waited
        if left <= 0 or math.isclose(left, 0.0, abs_tol=1e-9):
            raise timed_out(current)
        asked = pause_for(current) if pause_for is not None else None
        pause = scheduled if asked is None else asked
        if pause > left and not math.isclose(pause, left):
            pause = left
        yield Sleep(pause)
        waited += pause
        scheduled = min(scheduled * growth, max_interval)
        current = yield from look()
    return current
