"""DNS: zones and record sets, one API for every provider.

>>> from overcast.dns import Provider, get_driver
>>> cls = get_driver("powerdns")  # doctest: +SKIP
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, overload

__all__ = [
    "DNSDriver",
    "Plan",
    "Provider",
    "Record",
    "RecordType",
    "UnsafePlan",
    "Zone",
    "ZoneType",
    "get_driver",
    "sync",
    "sync_async",
]

if TYPE_CHECKING:
    from overcast.dns.base import DNSDriver, Record, RecordType, Zone, ZoneType
    from overcast.dns.drivers.azure import AzureDNSDriver
    from overcast.dns.drivers.cloudflare import CloudflareDNSDriver
    from overcast.dns.drivers.digitalocean import DigitalOceanDNSDriver
    from overcast.dns.drivers.google import GoogleDNSDriver
    from overcast.dns.drivers.linode import LinodeDNSDriver
    from overcast.dns.drivers.powerdns import PowerDNSDriver
    from overcast.dns.drivers.rackspace import RackspaceDNSDriver
    from overcast.dns.drivers.rfc2136 import RFC2136DNSDriver
    from overcast.dns.drivers.route53 import Route53DNSDriver
    from overcast.dns.drivers.zonefile import ZoneFileDNSDriver
    from overcast.dns.zone_sync import Plan, UnsafePlan, sync, sync_async


class Provider(StrEnum):
    """The built-in DNS drivers (plugins are found by their own names)."""

    AZURE = "azure"
    CLOUDFLARE = "cloudflare"
    DIGITAL_OCEAN = "digitalocean"
    GOOGLE = "google"
    LINODE = "linode"
    POWERDNS = "powerdns"
    RACKSPACE = "rackspace"
    RFC2136 = "rfc2136"
    ROUTE53 = "route53"
    ZONEFILE = "zonefile"


@overload
def get_driver(provider: Literal[Provider.AZURE]) -> type[AzureDNSDriver]: ...
@overload
def get_driver(provider: Literal[Provider.CLOUDFLARE]) -> type[CloudflareDNSDriver]: ...
@overload
def get_driver(provider: Literal[Provider.DIGITAL_OCEAN]) -> type[DigitalOceanDNSDriver]: ...
@overload
def get_driver(provider: Literal[Provider.GOOGLE]) -> type[GoogleDNSDriver]: ...
@overload
def get_driver(provider: Literal[Provider.LINODE]) -> type[LinodeDNSDriver]: ...
@overload
def get_driver(provider: Literal[Provider.POWERDNS]) -> type[PowerDNSDriver]: ...
@overload
def get_driver(provider: Literal[Provider.RACKSPACE]) -> type[RackspaceDNSDriver]: ...
@overload
def get_driver(provider: Literal[Provider.RFC2136]) -> type[RFC2136DNSDriver]: ...
@overload
def get_driver(provider: Literal[Provider.ROUTE53]) -> type[Route53DNSDriver]: ...
@overload
def get_driver(provider: Literal[Provider.ZONEFILE]) -> type[ZoneFileDNSDriver]: ...
@overload
def get_driver(provider: Provider | str) -> type[DNSDriver]: ...
def get_driver(provider: Provider | str) -> type[DNSDriver]:
    """The DNS driver class for ``provider`` (a :class:`Provider` or a plugin name)."""
    from overcast.registry import get_driver as _get

    cls: Any = _get("dns", str(provider))
    driver: type[DNSDriver] = cls
    return driver


def __getattr__(name: str) -> Any:
    if name in {"DNSDriver", "Record", "RecordType", "Zone", "ZoneType"}:
        from overcast.dns import base

        return getattr(base, name)
    if name in {"Plan", "UnsafePlan", "sync", "sync_async"}:
        from overcast.dns import zone_sync

        return getattr(zone_sync, name)
    raise AttributeError(name)
