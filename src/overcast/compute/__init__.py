"""Compute: nodes (virtual machines) and what they are made from (sizes, images,
locations), with volumes, snapshots and key pairs; :func:`list_nodes_everywhere`
asks many regions or providers at once.

>>> from overcast.compute import Provider, get_driver
>>> EC2 = get_driver(Provider.EC2)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overcast.compat import EXPORTS
from overcast.registry import Catalog
from overcast.registry import DriverGetter
from overcast.registry import DriverRef
from overcast.registry import Preset
from overcast.registry import lazy_exports

__all__ = ["KeyPair", "Node", "NodeAuthPassword", "NodeAuthSSHKey", "NodeDriver", "NodeImage",
    "NodeImageMember", "NodeLocation", "NodeSize", "NodeState", "Provider", "StorageVolume",
    "StorageVolumeState", "VolumeSnapshot", "VolumeSnapshotState", "get_driver",
    "list_nodes_everywhere", "list_nodes_everywhere_async", "ElasticIP", "get_size_price",
    *EXPORTS["compute"]]
_BASE_NAMES = ["KeyPair", "Node", "NodeAuthPassword", "NodeAuthSSHKey", "NodeDriver", "NodeImage",
    "NodeImageMember", "NodeLocation", "NodeSize", "NodeState", "StorageVolume",
    "StorageVolumeState", "VolumeSnapshot", "VolumeSnapshotState"]

if TYPE_CHECKING:
    from overcast.compute.base import KeyPair
    from overcast.compute.base import Node
    from overcast.compute.base import NodeAuthPassword
    from overcast.compute.base import NodeAuthSSHKey
    from overcast.compute.base import NodeDriver
    from overcast.compute.base import NodeImage
    from overcast.compute.base import NodeImageMember
    from overcast.compute.base import NodeLocation
    from overcast.compute.base import NodeSize
    from overcast.compute.base import NodeState
    from overcast.compute.base import StorageVolume
    from overcast.compute.base import StorageVolumeState
    from overcast.compute.base import VolumeSnapshot
    from overcast.compute.base import VolumeSnapshotState
    from overcast.compute.drivers.azure import AzureNodeDriver
    from overcast.compute.drivers.cloudstack import CloudStackNodeDriver
    from overcast.compute.drivers.digitalocean import DigitalOceanNodeDriver
    from overcast.compute.drivers.ec2 import EC2NodeDriver
    from overcast.compute.drivers.ec2.addresses import ElasticIP
    from overcast.compute.drivers.gce import GCENodeDriver
    from overcast.compute.drivers.libvirt import LibvirtNodeDriver
    from overcast.compute.drivers.linode import LinodeNodeDriver
    from overcast.compute.drivers.openstack import OpenStackNodeDriver
    from overcast.compute.drivers.vultr import VultrNodeDriver
    from overcast.fanout import list_nodes_everywhere
    from overcast.fanout import list_nodes_everywhere_async
    from overcast.pricing import get_size_price


class Provider(metaclass=Catalog):
    """The built-in compute drivers (plugins are named by their own strings)."""

    AZURE: DriverRef[AzureNodeDriver] = DriverRef("azure", "azure:AzureNodeDriver")
    #: Apache Libcloud's name for its ARM driver (its ``azure`` was the retired
    #: classic API): the same driver.
    AZURE_ARM: Preset[AzureNodeDriver] = Preset("azure_arm", "azure:AzureNodeDriver")
    CLOUDSTACK: DriverRef[CloudStackNodeDriver] = DriverRef(
        "cloudstack", "cloudstack:CloudStackNodeDriver"
    )
    DIGITAL_OCEAN: DriverRef[DigitalOceanNodeDriver] = DriverRef(
        "digitalocean", "digitalocean:DigitalOceanNodeDriver"
    )
    EC2: DriverRef[EC2NodeDriver] = DriverRef("ec2", "ec2:EC2NodeDriver")
    GCE: DriverRef[GCENodeDriver] = DriverRef("gce", "gce:GCENodeDriver")
    LIBVIRT: DriverRef[LibvirtNodeDriver] = DriverRef("libvirt", "libvirt:LibvirtNodeDriver")
    LINODE: DriverRef[LinodeNodeDriver] = DriverRef("linode", "linode:LinodeNodeDriver")
    OPENSTACK: DriverRef[OpenStackNodeDriver] = DriverRef(
        "openstack", "openstack:OpenStackNodeDriver"
    )
    VULTR: DriverRef[VultrNodeDriver] = DriverRef("vultr", "vultr:VultrNodeDriver")


get_driver: DriverGetter[NodeDriver] = DriverGetter("compute")

__getattr__ = lazy_exports({
    **dict.fromkeys(_BASE_NAMES, "overcast.compute.base"),
    **dict.fromkeys(("list_nodes_everywhere", "list_nodes_everywhere_async"), "overcast.fanout"),
    "ElasticIP": "overcast.compute.drivers.ec2.addresses",
    "get_size_price": "overcast.pricing",
    **EXPORTS["compute"],
})
