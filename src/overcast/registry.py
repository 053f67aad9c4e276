"""Where driver classes are found: built-ins, then entry points.

A built-in driver is registered by one line in its area's ``Provider`` class,
which names it and says where its class lives::

    class Provider(metaclass=Catalog):
        S3: DriverRef[S3StorageDriver] = DriverRef("s3", "s3:S3StorageDriver")

(the class lives in ``overcast.storage.drivers.s3``: a target's module is
relative to the area's ``drivers`` package unless it is a dotted path).

Everything else is derived from that line: the registry's table, the
``Provider`` constants (strings, as Apache Libcloud's are, so
``get_driver("s3")`` and ``get_driver(Provider.S3)`` are the same), and the
precise type ``get_driver(Provider.S3)`` returns (``type[S3StorageDriver]``).
Classes are imported on first use, so ``import overcast`` imports no driver.

A third-party package adds a driver with an entry point in the group
``overcast.drivers.<area>``; entry points are read only when a name is not
a built-in one::

    [project.entry-points."overcast.drivers.storage"]
    mystore = "mypkg.store:MyStoreDriver"
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import Generic
from typing import TypeVar
from typing import overload

from overcast.errors import InvalidInput
from overcast.errors import NotSupported

if TYPE_CHECKING:
    from overcast.driver import BaseDriver

__all__ = ["AREAS", "Catalog", "DriverGetter", "DriverRef", "available", "builtin", "get_driver"]

AREAS: Final = ("compute", "storage", "dns", "loadbalancer", "container", "backup")

D = TypeVar("D", bound="BaseDriver")
B = TypeVar("B", bound="BaseDriver")


class DriverRef(str, Generic[D]):
    """A built-in driver's name (the string itself) and where its class lives.

    ``target`` is ``"module:Class"``, the module relative to the area's
    ``drivers`` package unless dotted. Declared as ``DriverRef[S3StorageDriver]``,
    it tells a type checker what :func:`get_driver` returns for it.
    """

    target: str

    def __new__(cls, name: str, target: str) -> DriverRef[D]:
        ref = super().__new__(cls, name)
        ref.target = target
        return ref


class Catalog(type):
    """Metaclass of an area's ``Provider``: iterating it gives its drivers' names,
    in the order they are declared."""

    def __iter__(cls) -> Iterator[DriverRef[Any]]:
        for value in vars(cls).values():
            if isinstance(value, DriverRef):
                yield value

    def __contains__(cls, name: object) -> bool:
        return any(ref == name for ref in cls)

    def __len__(cls) -> int:
        return sum(1 for _ in cls)


_cache: dict[tuple[str, str], type[BaseDriver]] = {}
_lock = threading.Lock()


def builtin(area: str) -> dict[str, str]:
    """The built-in drivers of ``area``: name -> ``"module:Class"``."""
    _check_area(area)
    provider: Any = importlib.import_module(f"overcast.{area}").Provider
    found = {}
    for ref in provider:
        module, _, attr = ref.target.partition(":")
        if "." not in module:
            module = f"overcast.{area}.drivers.{module}"
        found[str(ref)] = f"{module}:{attr}"
    return found


def _plugins(area: str) -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=f"overcast.drivers.{area}")}


def available(area: str) -> list[str]:
    """The driver names known for ``area``: built-ins and installed plugins."""
    return sorted({*builtin(area), *_plugins(area)})


def _check_area(area: str) -> None:
    if area not in AREAS:
        raise InvalidInput(f"unknown area {area!r}; areas are: {', '.join(AREAS)}")


def get_driver(area: str, name: str) -> type[BaseDriver]:
    """The driver class ``name`` of ``area``, imported on first use.

    Raises :class:`~overcast.errors.NotSupported` naming the available drivers
    when ``name`` is unknown.
    """
    _check_area(area)
    key = (area, str(name))
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    target = builtin(area).get(key[1]) or _plugins(area).get(key[1])
    if target is None:
        raise NotSupported(
            f"no {area} driver named {key[1]!r}; available: {', '.join(available(area)) or 'none'}"
        )
    module_name, _, attr = target.partition(":")
    cls: type[BaseDriver] = getattr(importlib.import_module(module_name), attr)
    with _lock:
        _cache[key] = cls
    return cls


class DriverGetter(Generic[B]):
    """An area's ``get_driver``: ``get_driver(Provider.S3)`` is typed as the S3
    driver's class, ``get_driver("name")`` as the area's base class."""

    def __init__(self, area: str) -> None:
        self.area = area
        self.__doc__ = (
            f"The {area} driver class for ``provider`` (a ``Provider`` constant, its "
            "string, or a plugin's name); NotSupported naming the known ones otherwise."
        )

    @overload
    def __call__(self, provider: DriverRef[D]) -> type[D]: ...
    @overload
    def __call__(self, provider: str) -> type[B]: ...
    def __call__(self, provider: str) -> type[Any]:
        return get_driver(self.area, str(provider))

    def __repr__(self) -> str:
        return f"<overcast.{self.area}.get_driver>"


def lazy_exports(names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from ``names[name]`` (a module
    path) on first use, so an area's package imports none of its modules."""

    def load(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(name)
        return getattr(importlib.import_module(module), name)

    return load
