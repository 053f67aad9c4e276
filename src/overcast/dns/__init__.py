"""DNS: zones, their records one value each (Apache Libcloud's ``Record``) and
their record sets (:class:`RecordSet`), with zone-file import and export and a
plan-then-apply sync between any two providers (:func:`sync`).

>>> from overcast.dns import Provider, get_driver
>>> PowerDNS = get_driver(Provider.POWERDNS)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overcast.compat import EXPORTS
from overcast.registry import Catalog
from overcast.registry import DriverGetter
from overcast.registry import DriverRef
from overcast.registry import lazy_exports

__all__ = ["DNSDriver", "Plan", "Provider", "Record", "RecordSet", "RecordType", "UnsafePlan",
    "Zone", "ZoneType", "get_driver", "sync", "sync_async", *EXPORTS["dns"]]

if TYPE_CHECKING:
    from overcast.dns.base import DNSDriver
    from overcast.dns.base import Record
    from overcast.dns.base import RecordSet
    from overcast.dns.base import RecordType
    from overcast.dns.base import Zone
    from overcast.dns.base import ZoneType
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
    from overcast.dns.zone_sync import Plan
    from overcast.dns.zone_sync import UnsafePlan
    from overcast.dns.zone_sync import sync
    from overcast.dns.zone_sync import sync_async


class Provider(metaclass=Catalog):
    """The built-in DNS drivers (plugins are found by their own names)."""

    AZURE: DriverRef[AzureDNSDriver] = DriverRef("azure", "azure:AzureDNSDriver")
    CLOUDFLARE: DriverRef[CloudflareDNSDriver] = DriverRef(
        "cloudflare", "cloudflare:CloudflareDNSDriver"
    )
    DIGITAL_OCEAN: DriverRef[DigitalOceanDNSDriver] = DriverRef(
        "digitalocean", "digitalocean:DigitalOceanDNSDriver"
    )
    GOOGLE: DriverRef[GoogleDNSDriver] = DriverRef("google", "google:GoogleDNSDriver")
    LINODE: DriverRef[LinodeDNSDriver] = DriverRef("linode", "linode:LinodeDNSDriver")
    POWERDNS: DriverRef[PowerDNSDriver] = DriverRef("powerdns", "powerdns:PowerDNSDriver")
    RACKSPACE: DriverRef[RackspaceDNSDriver] = DriverRef(
        "rackspace", "rackspace:RackspaceDNSDriver"
    )
    RFC2136: DriverRef[RFC2136DNSDriver] = DriverRef("rfc2136", "rfc2136:RFC2136DNSDriver")
    ROUTE53: DriverRef[Route53DNSDriver] = DriverRef("route53", "route53:Route53DNSDriver")
    ZONEFILE: DriverRef[ZoneFileDNSDriver] = DriverRef("zonefile", "zonefile:ZoneFileDNSDriver")


get_driver: DriverGetter[DNSDriver] = DriverGetter("dns")

__getattr__ = lazy_exports({
    **dict.fromkeys(("DNSDriver", "Record", "RecordSet", "RecordType", "Zone", "ZoneType"),
                    "overcast.dns.base"),
    **dict.fromkeys(("Plan", "UnsafePlan", "sync", "sync_async"), "overcast.dns.zone_sync"),
    **EXPORTS["dns"],  # Apache Libcloud's exception names and provider tables
})
