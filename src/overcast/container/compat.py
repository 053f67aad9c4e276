"""Apache Libcloud's container names, for code ported from
``libcloud.container.{types,providers,base}``: ``DRIVERS``, ``set_driver``,
and the ``Provider`` constants overcast serves no driver for, each refused with
what to use instead."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import TypeVar
from typing import overload

from overcast.compat import Unserved
from overcast.driver import BaseDriver
from overcast.errors import NotSupported
from overcast.registry import DriverGetter
from overcast.registry import DriverRef
from overcast.registry import driver_table
from overcast.registry import set_driver as _register

if TYPE_CHECKING:
    from overcast.container.base import ContainerDriver

D = TypeVar("D", bound=BaseDriver)

__all__ = ["DRIVERS", "UNSERVED", "ContainerDriverGetter", "set_driver"]

_NONE: Final = ("overcast has no driver for it: use Apache Libcloud for it, or register one "
                "(set_driver, or an entry point in overcast.drivers.container)")

#: Libcloud's container constants overcast does not serve: name -> (string, advice).
UNSERVED: Final[Mapping[str, tuple[str, str]]] = {
    "DUMMY": ("dummy", "for tests, use Provider.DOCKER against a local engine (Podman's "
              "'podman system service' serves the same API)"),
    "GKE": ("GKE", "a GKE cluster is Kubernetes: use Provider.KUBERNETES with its "
            "kubeconfig (KubernetesContainerDriver.from_kubeconfig)"),
    "LXD": ("lxd", _NONE),
    "RANCHER": ("rancher", _NONE),
}


def unserved(name: str) -> Unserved:
    """``Provider.<name>`` for one of :data:`UNSERVED`."""
    value, advice = UNSERVED[name]
    return Unserved(value, advice)


def _advice(value: str) -> str | None:
    for name, (string, advice) in UNSERVED.items():
        if string == value:
            return f"Apache Libcloud's container Provider.{name} ({value!r}): {advice}"
    return None


class ContainerDriverGetter(DriverGetter["ContainerDriver"]):
    """The container ``get_driver``: a Libcloud constant overcast does not serve
    is :class:`~overcast.errors.NotSupported` saying what to use instead."""

    @overload
    def __call__(self, provider: DriverRef[D]) -> type[D]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, provider: str) -> type[ContainerDriver]: ...
    def __call__(self, provider: str) -> type[Any]:
        advice = _advice(str(provider))
        if advice is not None and str(provider) not in driver_table("container"):
            raise NotSupported(advice)
        return super().__call__(provider)


class _DriverTable(Mapping[str, tuple[str, str]]):
    """``DRIVERS``: name -> ``(module, class name)``, read live from the registry."""

    def __getitem__(self, name: str) -> tuple[str, str]:
        return driver_table("container")[name]

    def __iter__(self) -> Iterator[str]:
        return iter(driver_table("container"))

    def __len__(self) -> int:
        return len(driver_table("container"))

    def __repr__(self) -> str:
        return f"<overcast.container.DRIVERS {dict(self)!r}>"


#: Libcloud's ``libcloud.container.providers.DRIVERS``.
DRIVERS: Final = _DriverTable()


def set_driver(provider: str, module: str, klass: str) -> type[BaseDriver]:
    """Register a container driver class under ``provider`` (Libcloud's ``set_driver``)."""
    return _register("container", provider, module, klass)
