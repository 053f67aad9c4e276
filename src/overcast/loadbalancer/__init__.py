"""Load balancers: balancers, the members they spread traffic over, and the
algorithms and protocols a provider offers.

``get_driver`` finds a built-in driver by its :data:`Provider` constant or a
plugin by name (group ``overcast.drivers.loadbalancer``); the models are in
:mod:`overcast.loadbalancer.base`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overcast.registry import Catalog
from overcast.registry import DriverGetter
from overcast.registry import lazy_exports

__all__ = ["Algorithm", "LoadBalancer", "LoadBalancerDriver", "Member", "Provider", "State",
    "get_driver"]

if TYPE_CHECKING:
    from overcast.loadbalancer.base import Algorithm
    from overcast.loadbalancer.base import LoadBalancer
    from overcast.loadbalancer.base import LoadBalancerDriver
    from overcast.loadbalancer.base import Member
    from overcast.loadbalancer.base import State


class Provider(metaclass=Catalog):
    """The built-in load balancer drivers (none yet; plugins are found by name)."""


get_driver: DriverGetter[LoadBalancerDriver] = DriverGetter("loadbalancer")

__getattr__ = lazy_exports(dict.fromkeys(set(__all__) - {"Provider", "get_driver"},
                                         "overcast.loadbalancer.base"))
