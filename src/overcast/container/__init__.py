"""Containers: images, containers and clusters, one API for every container platform.

>>> from overcast.container import Provider, get_driver
>>> cls = get_driver("docker")  # doctest: +SKIP
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

__all__ = [
    "ClusterLocation",
    "Container",
    "ContainerCluster",
    "ContainerDriver",
    "ContainerImage",
    "ContainerState",
    "Provider",
    "get_driver",
]

if TYPE_CHECKING:
    from overcast.container.base import (
        ClusterLocation,
        Container,
        ContainerCluster,
        ContainerDriver,
        ContainerImage,
        ContainerState,
    )


class Provider(StrEnum):
    """The built-in container drivers (none yet; plugins are found by name)."""


def get_driver(provider: Provider | str) -> type[ContainerDriver]:
    """The container driver class for ``provider`` (a :class:`Provider` or a plugin
    name)."""
    from overcast.registry import get_driver as _get

    cls: Any = _get("container", str(provider))
    driver: type[ContainerDriver] = cls
    return driver


def __getattr__(name: str) -> Any:
    if name in {
        "ClusterLocation",
        "Container",
        "ContainerCluster",
        "ContainerDriver",
        "ContainerImage",
        "ContainerState",
    }:
        from overcast.container import base

        return getattr(base, name)
    raise AttributeError(name)
