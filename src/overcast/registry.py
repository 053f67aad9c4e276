"""Where driver classes are found: built-ins, then entry points.

Built-in drivers are listed by module path and loaded on first use, so
``import overcast`` imports no driver. A third-party package adds a driver with
an entry point in the group ``overcast.drivers.<area>``::

    [project.entry-points."overcast.drivers.storage"]
    mystore = "mypkg.store:MyStoreDriver"
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Final

from overcast.errors import InvalidInput, NotSupported

if TYPE_CHECKING:
    from overcast.driver import BaseDriver

__all__ = ["AREAS", "BUILTIN_DRIVERS", "available", "get_driver"]

AREAS: Final = ("compute", "storage", "dns", "loadbalancer", "container", "backup")

#: area -> driver name -> "module:Class". Later issues add their drivers here.
BUILTIN_DRIVERS: Final[dict[str, dict[str, str]]] = {
    "compute": {
        "ec2": "overcast.compute.drivers.ec2:EC2NodeDriver",
        "libvirt": "overcast.compute.drivers.libvirt:LibvirtNodeDriver",
        "openstack": "overcast.compute.drivers.openstack:OpenStackNodeDriver",
    },
    "storage": {
        "azure_blobs": "overcast.storage.drivers.azure_blobs:AzureBlobsStorageDriver",
        "google_storage": "overcast.storage.drivers.google_storage:GoogleStorageDriver",
        "local": "overcast.storage.drivers.local:LocalStorageDriver",
        "s3": "overcast.storage.drivers.s3:S3StorageDriver",
        "swift": "overcast.storage.drivers.swift:SwiftStorageDriver",
    },
    "dns": {
        "azure": "overcast.dns.drivers.azure:AzureDNSDriver",
        "cloudflare": "overcast.dns.drivers.cloudflare:CloudflareDNSDriver",
        "digitalocean": "overcast.dns.drivers.digitalocean:DigitalOceanDNSDriver",
        "google": "overcast.dns.drivers.google:GoogleDNSDriver",
        "linode": "overcast.dns.drivers.linode:LinodeDNSDriver",
        "powerdns": "overcast.dns.drivers.powerdns:PowerDNSDriver",
        "rackspace": "overcast.dns.drivers.rackspace:RackspaceDNSDriver",
        "rfc2136": "overcast.dns.drivers.rfc2136:RFC2136DNSDriver",
        "route53": "overcast.dns.drivers.route53:Route53DNSDriver",
        "zonefile": "overcast.dns.drivers.zonefile:ZoneFileDNSDriver",
    },
    "loadbalancer": {},
    "container": {},
    "backup": {},
}

_cache: dict[tuple[str, str], type[BaseDriver]] = {}
_lock = threading.Lock()


def _plugins(area: str) -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=f"overcast.drivers.{area}")}


def available(area: str) -> list[str]:
    """The driver names known for ``area``: built-ins and installed plugins."""
    _check_area(area)
    return sorted({*BUILTIN_DRIVERS[area], *_plugins(area)})


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
    target = BUILTIN_DRIVERS[area].get(key[1]) or _plugins(area).get(key[1])
    if target is None:
        raise NotSupported(
            f"no {area} driver named {key[1]!r}; available: {', '.join(available(area)) or 'none'}"
        )
    module_name, _, attr = target.partition(":")
    cls: type[BaseDriver] = getattr(importlib.import_module(module_name), attr)
    with _lock:
        _cache[key] = cls
    return cls
