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

__all__ = ["AREAS", "Catalog", "DriverGetter", "DriverRef", "Preset", "available", "builtin",
           "driver_table", "get_driver", "presets", "set_driver"]

AREAS: Final = ("compute", "storage", "dns", "loadbalancer", "container", "backup")

D = TypeVar("D", bound="BaseDriver")
B = TypeVar("B", bound="BaseDriver")


class DriverRef(str, Generic[D]):
    """A built-in driver's name (the string itself) and where its class lives.

    ``target`` is ``"module:Class"``, the module relative to the area's
    ``drivers`` package unless dotted (``"module:"``: the attribute named as
    the driver). Declared as ``DriverRef[S3StorageDriver]``,
    it tells a type checker what :func:`get_driver` returns for it.
    """

    target: str

    def __new__(cls, name: str, target: str) -> DriverRef[D]:
        ref = super().__new__(cls, name)
        ref.target = target
        return ref


class Preset(DriverRef[D]):
    """A name for another driver's class set up for one provider (MinIO, a
    region of S3, ...): served by :func:`get_driver` like a driver, but not
    one of the area's drivers (iterating ``Provider`` and :func:`available`
    leave it out, so the support matrix lists each driver once)."""


class Catalog(type):
    """Metaclass of an area's ``Provider``: iterating it gives its drivers' names,
    in the order they are declared (presets left out).

    A name Apache Libcloud's ``Provider`` has and overcast serves no driver for
    is a constant too (from :mod:`overcast.compat`), never an AttributeError:
    :func:`get_driver` on it raises NotSupported saying what to use instead.
    """

    def __iter__(cls) -> Iterator[DriverRef[Any]]:
        for value in vars(cls).values():
            if isinstance(value, DriverRef) and not isinstance(value, Preset):
                yield value

    def __getattr__(cls, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        from overcast.compat import unserved_constant

        value = unserved_constant(cls.__module__.rpartition(".")[2], name)
        if value is None:
            raise AttributeError(f"{cls.__module__}.Provider has no constant {name!r}")
        return value

    def __contains__(cls, name: object) -> bool:
        return any(ref == name for ref in cls)

    def __len__(cls) -> int:
        return sum(1 for _ in cls)


_cache: dict[tuple[str, str], type[BaseDriver]] = {}
_lock = threading.Lock()
#: Drivers registered at run time by :func:`set_driver`: (area, name) -> "module:Class".
_registered: dict[tuple[str, str], str] = {}


def _target(area: str, ref: DriverRef[Any]) -> str:
    module, _, attr = ref.target.partition(":")
    if "." not in module:
        module = f"overcast.{area}.drivers.{module}"
    return f"{module}:{attr or ref}"


def builtin(area: str) -> dict[str, str]:
    """The built-in drivers of ``area``: name -> ``"module:Class"``."""
    _check_area(area)
    provider: Any = importlib.import_module(f"overcast.{area}").Provider
    return {str(ref): _target(area, ref) for ref in provider}


def presets(area: str) -> dict[str, str]:
    """The presets of ``area`` (:class:`Preset`): name -> ``"module:Class"``."""
    _check_area(area)
    provider: Any = importlib.import_module(f"overcast.{area}").Provider
    return {str(ref): _target(area, ref) for ref in vars(provider).values()
            if isinstance(ref, Preset)}


def driver_table(area: str) -> dict[str, tuple[str, str]]:
    """Every name :func:`get_driver` serves in ``area`` without entry points
    (drivers, presets, :func:`set_driver`'s) -> ``(module, class name)``, as
    Apache Libcloud's ``DRIVERS`` tables have it."""
    targets = {**builtin(area), **presets(area)}
    targets.update({name: target for (where, name), target in _registered.items()
                    if where == area})
    return {name: (target.partition(":")[0], target.partition(":")[2])
            for name, target in targets.items()}


def set_driver(area: str, name: str, module: str, klass: str) -> type[BaseDriver]:
    """Register the driver class ``klass`` of ``module`` under ``name`` in
    ``area`` at run time (Apache Libcloud's ``set_driver``) and return it.

    InvalidInput if ``name`` is taken; the class is imported at once, so a
    wrong module or class name fails here.
    """
    _check_area(area)
    key = (area, str(name))
    if key[1] in builtin(area) or key[1] in presets(area) or key in _registered:
        raise InvalidInput(f"the {area} driver name {key[1]!r} is already registered")
    cls: type[BaseDriver] = getattr(importlib.import_module(module), klass)
    with _lock:
        _registered[key] = f"{module}:{klass}"
        _cache.pop(key, None)
    return cls


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
    target = (builtin(area).get(key[1]) or presets(area).get(key[1])
              or _registered.get(key) or _plugins(area).get(key[1]))
    if target is None:
        from overcast.compat import unserved_advice

        advice = unserved_advice(area, key[1])
        if advice is not None:
            raise NotSupported(advice)
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
    path) on first use, so an area's package imports none of its modules.

    A value ``"module:attr"`` exports that module's ``attr`` under ``name``.
    """

    def load(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(name)
        module, _, attr = module.partition(":")
        return getattr(importlib.import_module(module), attr or name)

    return load
