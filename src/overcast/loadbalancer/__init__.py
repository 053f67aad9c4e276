"""Load balancers: balancers, the members they spread traffic over, and the
algorithms and protocols a provider offers.

``get_driver`` finds a built-in driver by its :data:`Provider` constant or a
plugin by name (group ``overcast.drivers.loadbalancer``); the models are in
:mod:`overcast.loadbalancer.base`. Every name of Apache Libcloud's
``libcloud.loadbalancer.{types,providers,base}`` is importable from here.

>>> from overcast.loadbalancer import Provider, get_driver
>>> ELB = get_driver(Provider.ELB)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any
from typing import Final
from typing import cast

from overcast import compat
from overcast.registry import Catalog
from overcast.registry import DriverGetter
from overcast.registry import DriverRef
from overcast.registry import lazy_exports

__all__ = ["DEFAULT_ALGORITHM", "DRIVERS", "OLD_CONSTANT_TO_NEW_MAPPING", "Algorithm",
    "BalancerError", "BalancerImmutable", "BaseDriver", "ConnectionKey", "Driver", "Health",
    "LibcloudError", "LibcloudLBError", "LibcloudLBImmutableError", "LoadBalancer",
    "LoadBalancerDriver", "Member", "MemberCondition", "Provider", "State", "get_driver",
    "set_driver"]
_BASE_NAMES = ["DEFAULT_ALGORITHM", "Algorithm", "BalancerError", "BalancerImmutable", "Driver",
    "Health", "LibcloudLBError", "LibcloudLBImmutableError", "LoadBalancer",
    "LoadBalancerDriver", "Member", "MemberCondition", "State"]

if TYPE_CHECKING:
    from overcast.compat import LibcloudError
    from overcast.driver import BaseDriver
    from overcast.loadbalancer.base import DEFAULT_ALGORITHM
    from overcast.loadbalancer.base import Algorithm
    from overcast.loadbalancer.base import BalancerError
    from overcast.loadbalancer.base import BalancerImmutable
    from overcast.loadbalancer.base import Driver
    from overcast.loadbalancer.base import Health
    from overcast.loadbalancer.base import LibcloudLBError
    from overcast.loadbalancer.base import LibcloudLBImmutableError
    from overcast.loadbalancer.base import LoadBalancer
    from overcast.loadbalancer.base import LoadBalancerDriver
    from overcast.loadbalancer.base import Member
    from overcast.loadbalancer.base import MemberCondition
    from overcast.loadbalancer.base import State
    from overcast.loadbalancer.drivers.elb import ElasticLBDriver
    from overcast.loadbalancer.drivers.elbv2 import ApplicationLBDriver
    from overcast.loadbalancer.drivers.elbv2 import NetworkLBDriver
    from overcast.loadbalancer.drivers.haproxy import HAProxyDriver
    from overcast.loadbalancer.drivers.octavia import OctaviaLBDriver
    from overcast.loadbalancer.drivers.rackspace import RackspaceLBDriver

    #: Every name get_driver serves -> (module, class), as Libcloud's ``DRIVERS``.
    DRIVERS: dict[str, tuple[str, str]]


class Provider(metaclass=Catalog):
    """The built-in load balancer drivers (plugins are named by their own strings).

    Apache Libcloud's other constants are here too; :func:`get_driver` on one
    raises NotSupported saying what to use instead.
    """

    ELB: DriverRef[ElasticLBDriver] = DriverRef("elb", "elb:ElasticLBDriver")
    ALB: DriverRef[ApplicationLBDriver] = DriverRef("alb", "elbv2:ApplicationLBDriver")
    NLB: DriverRef[NetworkLBDriver] = DriverRef("nlb", "elbv2:NetworkLBDriver")
    HAPROXY: DriverRef[HAProxyDriver] = DriverRef("haproxy", "haproxy:HAProxyDriver")
    OPENSTACK: DriverRef[OctaviaLBDriver] = DriverRef("openstack", "octavia:OctaviaLBDriver")
    RACKSPACE: DriverRef[RackspaceLBDriver] = DriverRef("rackspace", "rackspace:RackspaceLBDriver")


_NONE: Final = "overcast has no driver for it: keep Apache Libcloud for it, or register one " \
    "(set_driver, or an entry point in overcast.drivers.loadbalancer)"

#: Libcloud 3.9.1's load balancer constants overcast serves no driver for:
#: constant -> (Libcloud's string, what to use instead).
UNSERVED: Final[dict[str, tuple[str, str]]] = {
    "ALIYUN_SLB": ("aliyun_slb", _NONE),
    "BRIGHTBOX": ("brightbox", _NONE),
    "CLOUDSTACK": ("cloudstack", _NONE),
    "DIMENSIONDATA": ("dimensiondata", _NONE),
    "GCE": ("gce", _NONE),
    "NINEFOLD": ("ninefold", "the service is closed"),
    "NTTCIS": ("nttcis", _NONE),
    "RACKSPACE_US": ("rackspace_us", "Libcloud retired it too: use Provider.RACKSPACE with "
                     "region='dfw' (or 'ord', 'iad')"),
    "RACKSPACE_UK": ("rackspace_uk", "Libcloud retired it too: use Provider.RACKSPACE with "
                     "region='lon'"),
}
# overcast.compat keeps the table of every area's unserved Libcloud constants,
# which Provider and get_driver read; this area's rows are added to it here,
# beside the drivers they complement.
cast(dict[str, Any], compat.UNSERVED).setdefault("loadbalancer", UNSERVED)

#: Libcloud's retired load balancer constants -> the one to use instead.
OLD_CONSTANT_TO_NEW_MAPPING: Final = {"rackspace_us": "rackspace", "rackspace_uk": "rackspace"}


get_driver: DriverGetter[LoadBalancerDriver] = DriverGetter("loadbalancer")


def set_driver(provider: str, module: str, klass: str) -> type[Any]:
    """Register a load balancer driver class under ``provider`` at run time
    (Libcloud's ``set_driver``); see :func:`overcast.registry.set_driver`."""
    from overcast.registry import set_driver as register

    return register("loadbalancer", provider, module, klass)


class ConnectionKey:
    """Libcloud's connection class, kept as a name only: overcast drivers own
    their connections (give the key and secret to the driver)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        from overcast.errors import NotSupported

        raise NotSupported("overcast drivers make their own connections: pass the key and "
                           "secret to the driver's constructor")


def __getattr__(name: str) -> Any:
    if name == "DRIVERS":
        from overcast.registry import driver_table

        return driver_table("loadbalancer")
    return _lazy(name)


_lazy = lazy_exports({
    **dict.fromkeys(_BASE_NAMES, "overcast.loadbalancer.base"),
    "BaseDriver": "overcast.driver:BaseDriver",
    "LibcloudError": "overcast.compat:LibcloudError",
})
