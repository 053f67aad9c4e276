"""Load balancers: balancers and their members, one API for every provider.

>>> from overcast.loadbalancer import Provider, get_driver
>>> cls = get_driver("haproxy")  # doctest: +SKIP
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

__all__ = [
    "Algorithm",
    "LoadBalancer",
    "LoadBalancerDriver",
    "Member",
    "Provider",
    "State",
    "get_driver",
]

if TYPE_CHECKING:
    from overcast.loadbalancer.base import (
        Algorithm,
        LoadBalancer,
        LoadBalancerDriver,
        Member,
        State,
    )


class Provider(StrEnum):
    """The built-in load balancer drivers (none yet; plugins are found by name)."""


def get_driver(provider: Provider | str) -> type[LoadBalancerDriver]:
    """The load balancer driver class for ``provider`` (a :class:`Provider` or a plugin
    name)."""
    from overcast.registry import get_driver as _get

    cls: Any = _get("loadbalancer", str(provider))
    driver: type[LoadBalancerDriver] = cls
    return driver


def __getattr__(name: str) -> Any:
    if name in {"Algorithm", "LoadBalancer", "LoadBalancerDriver", "Member", "State"}:
        from overcast.loadbalancer import base

        return getattr(base, name)
    raise AttributeError(name)
