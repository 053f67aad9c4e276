"""Compute: nodes (virtual machines), sizes, images, locations, volumes and key pairs,
one API for every provider.

>>> from overcast.compute import get_driver  # doctest: +SKIP
>>> Driver = get_driver("mycloud")  # doctest: +SKIP
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

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
]

if TYPE_CHECKING:
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

_MODELS = frozenset(__all__) - {"Provider", "get_driver"}


class Provider(StrEnum):
    """The built-in compute drivers (plugins are named by their own strings)."""

    EC2 = "ec2"
    LIBVIRT = "libvirt"
    OPENSTACK = "openstack"


def get_driver(provider: Provider | str) -> type[NodeDriver]:
    """The compute driver class for ``provider`` (a :class:`Provider` or a plugin name)."""
    from overcast.registry import get_driver as _get

    cls: Any = _get("compute", str(provider))
    driver: type[NodeDriver] = cls
    return driver


def __getattr__(name: str) -> Any:
    if name in _MODELS:
        from overcast.compute import base

        return getattr(base, name)
    raise AttributeError(name)
