"""DNS: zones and record sets, one API for every provider.

>>> from overcast.dns import Provider, get_driver
>>> cls = get_driver("powerdns")  # doctest: +SKIP
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

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
