"""The zonefile driver for the DNS contract, with BIND serving the files it writes.

The driver keeps its zones in ``tmp_path``. Before the contract resolves
names, :func:`make_target`'s ``before_query`` hands the zone's file to this
test process's ``named`` (``rndc addzone`` the first time, ``rndc reload``
after) and waits until named serves the file's SOA serial, so every answer the
contract checks comes from BIND reading the file exactly as the driver wrote
it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from overcast.dns.base import Zone
from overcast.dns.drivers.zonefile import ZoneFileDNSDriver
from servers.dns_bind import bind_server
from servers.dns_target import DNSTarget

__all__ = ["make_target", "zone_serial"]


def zone_serial(driver: ZoneFileDNSDriver, zone: Zone) -> int:
    """The SOA serial in a zone's file."""
    soa = driver.get_record_set(zone.id, "@:SOA")
    return int(soa.values[0].split()[2])


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """A zonefile driver on ``tmp_path`` whose zones BIND loads before each query."""
    server = bind_server(request)
    driver = ZoneFileDNSDriver(tmp_path / "zones", page_size=3)
    loaded: set[str] = set()

    def before_query(zone: Zone) -> None:
        serial = zone_serial(driver, zone)
        if zone.domain in loaded:
            server.reload_zone(zone.domain, serial)
        else:
            server.add_zone(zone.domain, driver.zone_path(zone), dynamic=False)
            loaded.add(zone.domain)
            server.wait_for_serial(zone.domain, serial)

    def drop_zone(zone: Zone) -> None:
        driver.delete_zone(zone)
        if zone.domain in loaded:
            loaded.discard(zone.domain)
            server.delete_zone(zone.domain)

    return DNSTarget(
        driver=driver,
        drop_zone=drop_zone,
        resolver=("127.0.0.1", server.port),
        before_query=before_query,
        requests=None,
    )
