"""Compute: nodes (virtual machines), sizes, images, locations, volumes and key pairs,
one API for every provider.

>>> from overcast.compute import get_driver  # doctest: +SKIP
>>> Driver = get_driver("mycloud")  # doctest: +SKIP
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, overload

__all__ = [
    "KeyPair",
    "Node",
    "NodeAuthPassword",
    "NodeAuthSSHKey",
    "NodeDriver",
    "NodeImage",
    "NodeLocation",
    "NodeSize",
    "NodeState",
    "Provider",
    "StorageVolume",
    "StorageVolumeState",
    "VolumeSnapshot",
    "VolumeSnapshotState",
    "get_driver",
    "list_nodes_everywhere",
    "list_nodes_everywhere_async",
]

if TYPE_CHECKING:
    from collections.abc import Iterable

    from overcast.compute.base import (
        KeyPair,
        Node,
        NodeAuthPassword,
        NodeAuthSSHKey,
        NodeDriver,
        NodeImage,
        NodeLocation,
        NodeSize,
        NodeState,
        StorageVolume,
        StorageVolumeState,
        VolumeSnapshot,
        VolumeSnapshotState,
    )
    from overcast.compute.drivers.ec2 import EC2NodeDriver
    from overcast.compute.drivers.libvirt import LibvirtNodeDriver
    from overcast.compute.drivers.openstack import OpenStackNodeDriver
    from overcast.fanout import FanOutResult

_MODELS = frozenset(__all__) - {
    "Provider", "get_driver", "list_nodes_everywhere", "list_nodes_everywhere_async"
}


class Provider(StrEnum):
    """The built-in compute drivers (plugins are named by their own strings)."""

    EC2 = "ec2"
    LIBVIRT = "libvirt"
    OPENSTACK = "openstack"


@overload
def get_driver(provider: Literal[Provider.EC2]) -> type[EC2NodeDriver]: ...
@overload
def get_driver(provider: Literal[Provider.LIBVIRT]) -> type[LibvirtNodeDriver]: ...
@overload
def get_driver(provider: Literal[Provider.OPENSTACK]) -> type[OpenStackNodeDriver]: ...
@overload
def get_driver(provider: Provider | str) -> type[NodeDriver]: ...
def get_driver(provider: Provider | str) -> type[NodeDriver]:
    """The compute driver class for ``provider`` (a :class:`Provider` or a plugin name)."""
    from overcast.registry import get_driver as _get

    cls: Any = _get("compute", str(provider))
    driver: type[NodeDriver] = cls
    return driver


def list_nodes_everywhere(
    drivers: Iterable[NodeDriver], *, concurrency: int = 16
) -> FanOutResult[NodeDriver]:
    """``list_nodes`` on every driver at once, from sync code (threads).

    ``result.flat()`` is every node; ``result.errors`` the drivers that failed,
    so one unreachable region does not hide the others. In async code use
    :func:`list_nodes_everywhere_async`, or simply
    ``await asyncio.gather(*(d.aio.list_nodes() for d in drivers))``.
    """
    from overcast.fanout import fan_out

    return fan_out(drivers, "list_nodes", concurrency=concurrency)


async def list_nodes_everywhere_async(
    drivers: Iterable[NodeDriver], *, concurrency: int = 16
) -> FanOutResult[NodeDriver]:
    """:func:`list_nodes_everywhere` for async programs (tasks on one loop)."""
    from overcast.fanout import fan_out_async

    return await fan_out_async(drivers, "list_nodes", concurrency=concurrency)


def __getattr__(name: str) -> Any:
    if name in _MODELS:
        from overcast.compute import base

        return getattr(base, name)
    raise AttributeError(name)
