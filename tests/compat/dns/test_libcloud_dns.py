"""Programs written for Apache Libcloud's DNS API, run under Libcloud 3.9.1 and
under overcast against the same local server, must print the same records and
leave the server holding the same data.

Each program is written once, in the style of Libcloud's documentation (list
zones, list records, create records, get-or-create with an ``except`` of the
not-found error), and takes the driver and the not-found error class as
arguments: Libcloud's ``RecordDoesNotExistError`` under Libcloud, overcast's
alias of it (``overcast.dns.RecordDoesNotExistError``) where the package has
one, else :class:`overcast.errors.RecordNotFound`, under overcast.

PowerDNS runs for real here; Route 53 is moto's, which Libcloud reaches by
pointing its connection's host and port at it. What each program prints is a
list of ``(name, type, data, ttl, extra priority)`` rows with the zone's domain
replaced by ``<zone>``, so the two zones (one per library) compare equal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

import pytest

import overcast.dns
from overcast.dns.drivers.digitalocean import DigitalOceanDNSDriver
from overcast.dns.drivers.powerdns import PowerDNSDriver
from overcast.dns.drivers.route53 import Route53DNSDriver
from overcast.errors import RecordNotFound
from servers.dns_digitalocean import TOKEN as DIGITALOCEAN_TOKEN
from servers.dns_digitalocean import shared_server as digitalocean_server
from servers.dns_powerdns import server as powerdns_server
from servers.dns_route53 import ACCESS_KEY
from servers.dns_route53 import SECRET_KEY
from servers.moto_server import moto_server

libcloud_base = pytest.importorskip("libcloud.dns.base")
libcloud_types = pytest.importorskip("libcloud.dns.types")
from libcloud.dns.drivers import route53 as libcloud_route53  # noqa: E402
from libcloud.dns.drivers.digitalocean import DigitalOceanDNSDriver as LibcloudDigitalOcean  # noqa: E402
from libcloud.dns.drivers.powerdns import PowerDNSDriver as LibcloudPowerDNS  # noqa: E402
from libcloud.dns.drivers.route53 import Route53DNSDriver as LibcloudRoute53  # noqa: E402

pytestmark = pytest.mark.server

Row = tuple[Any, ...]

#: What overcast code catches for Libcloud's RecordDoesNotExistError.
OVERCAST_NOT_FOUND: type[Exception] = getattr(overcast.dns, "RecordDoesNotExistError",
                                              RecordNotFound)


def rows(records: Iterable[Any], domain: str) -> list[Row]:
    """The records as the programs print them, sorted, the domain made neutral."""

    def neutral(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return text.replace(domain, "<zone>").replace(domain.rstrip("."), "<zone>")

    return sorted(
        (neutral(r.name), str(r.type), neutral(r.data), r.ttl, r.extra.get("priority"))
        for r in records
        if str(r.type) not in ("SOA", "NS")  # the server's own, named after the server
    )


# -- the programs, as Libcloud's users write them ----------------------------------------------


def powerdns_program(driver: Any, domain: str, not_found: type[Exception]) -> list[Any]:
    """A Libcloud PowerDNS program: absolute names, every create with a TTL."""
    printed: list[Any] = []
    zone = next(z for z in driver.list_zones() if z.domain == domain)
    printed.append(("zone", zone.domain.replace(domain, "<zone>")))
    driver.create_record(f"www.{domain}", zone, "A", "192.0.2.1", extra={"ttl": 300})
    driver.create_record(domain, zone, "MX", f"10 mail.{domain}", extra={"ttl": 300})
    driver.create_record(f"txt.{domain}", zone, "TXT", '"hello world"', extra={"ttl": 300})
    driver.create_record(f"alias.{domain}", zone, "CNAME", f"www.{domain}", extra={"ttl": 60})
    printed += rows(driver.list_records(zone), domain)
    www = next(r for r in driver.list_records(zone) if r.name == f"www.{domain}")
    driver.update_record(www, www.name, www.type, "192.0.2.2", extra={"ttl": 600})
    txt = next(r for r in driver.list_records(zone) if r.type == "TXT")
    driver.delete_record(txt)
    printed += rows(driver.list_records(zone), domain)
    return printed


def route53_program(driver: Any, domain: str, not_found: type[Exception]) -> list[Any]:
    """A Libcloud Route 53 program: relative names, MX priority in extra, records
    fetched by Libcloud's ``"TYPE:name"`` ids, get-or-create by ``except``."""
    printed: list[Any] = []
    zone = next(z for z in driver.list_zones() if z.domain == domain)
    printed.append(("zone", zone.domain.replace(domain, "<zone>")))
    driver.create_record("www", zone, "A", "192.0.2.1", extra={"ttl": 300})
    driver.create_record("", zone, "MX", f"mail.{domain}", extra={"ttl": 300, "priority": 10})
    driver.create_record("txt", zone, "TXT", '"hello world"', extra={"ttl": 300})
    records = driver.list_records(zone)
    printed += rows(records, domain)
    www = driver.get_record(zone.id, "A:www")
    printed.append(("get", www.id, www.name, www.data, www.ttl))
    for name in ("www", "api"):  # get-or-create, as Libcloud's docs write it
        try:
            record = driver.get_record(zone.id, f"A:{name}")
            printed.append(("found", record.name, record.data))
        except not_found:
            record = driver.create_record(name, zone, "A", "192.0.2.5", extra={"ttl": 300})
            printed.append(("created", record.id, record.name, record.data))
    driver.update_record(www, data="192.0.2.2", extra={"ttl": 600})
    mx = driver.get_record(zone.id, "MX:")
    printed.append(("mx", mx.name, mx.data.replace(domain, "<zone>"), mx.extra.get("priority")))
    driver.delete_record(driver.get_record(zone.id, "TXT:txt"))
    printed += rows(driver.list_records(zone), domain)
    return printed


def digitalocean_program(driver: Any, domain: str, not_found: type[Exception]) -> list[Any]:
    """A Libcloud DigitalOcean program: relative names, MX priority in extra,
    records fetched again by the ids the listing gives."""
    printed: list[Any] = []
    zone = next(z for z in driver.list_zones() if z.id == domain.rstrip("."))
    driver.create_record("www", zone, "A", "192.0.2.1", extra={"ttl": 300})
    driver.create_record("www", zone, "A", "192.0.2.2", extra={"ttl": 300})
    driver.create_record("@", zone, "MX", f"mail.{domain}", extra={"ttl": 300, "priority": 10})
    driver.create_record("txt", zone, "TXT", "hello world", extra={"ttl": 300})
    records = driver.list_records(zone)
    printed += rows(records, domain)
    for record in sorted(records, key=lambda r: (r.name, r.type, r.data)):
        if record.type in ("SOA", "NS"):
            continue
        again = driver.get_record(zone.id, record.id)
        printed.append(("get", again.name, again.type, rows([again], domain)[0][2]))
    www = next(r for r in records if r.data == "192.0.2.2")
    driver.update_record(www, www.name, www.type, "192.0.2.3", extra={"ttl": 300})
    driver.delete_record(next(r for r in records if r.type == "TXT"))
    printed += rows(driver.list_records(zone), domain)
    return printed


# -- running both -------------------------------------------------------------------------------


def compare(program: Callable[[Any, str, type[Exception]], list[Any]],
            libcloud_driver: Any, overcast_driver: Any, make_zone: Callable[[str], str],
            held: Callable[[str], list[Row]]) -> None:
    """Run ``program`` under both libraries on zones of their own; what they
    print and what the server holds afterwards must be the same."""
    theirs = make_zone(f"lc{uuid.uuid4().hex[:8]}.example.test.")
    ours = make_zone(f"oc{uuid.uuid4().hex[:8]}.example.test.")
    printed_by_libcloud = program(libcloud_driver, theirs, libcloud_types.RecordDoesNotExistError)
    printed_by_overcast = program(overcast_driver, ours, OVERCAST_NOT_FOUND)
    assert printed_by_overcast == printed_by_libcloud
    assert held(ours) == held(theirs)


def test_powerdns_program(request: pytest.FixtureRequest) -> None:
    server = powerdns_server(request)
    ours = PowerDNSDriver(server.api_key, endpoint=server.endpoint)
    theirs = LibcloudPowerDNS(server.api_key, secure=False, host="127.0.0.1",
                              port=server.api_port, api_version="v1")

    def make_zone(domain: str) -> str:
        return ours.create_zone(domain).domain

    def held(domain: str) -> list[Row]:
        zone = next(z for z in ours.list_zones() if z.domain == domain)
        return sorted((r.name.replace(domain, "<zone>"), str(r.type),
                       [v.replace(domain, "<zone>") for v in r.values], r.ttl)
                      for r in ours.list_record_sets(zone) if str(r.type) not in ("SOA", "NS"))

    with ours:
        compare(powerdns_program, theirs, ours, make_zone, held)


def _libcloud_route53(port: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Libcloud's Route 53 driver on moto. Libcloud speaks the API of 2012-02-29,
    which moto does not route; the calls used here are the same in 2013-04-01,
    so Libcloud's module is pointed at that version (path and XML namespace)."""
    monkeypatch.setattr(libcloud_route53, "API_ROOT", "/2013-04-01/")
    monkeypatch.setattr(libcloud_route53, "NAMESPACE",
                        "https://route53.amazonaws.com/doc/2013-04-01/")
    driver = LibcloudRoute53(ACCESS_KEY, SECRET_KEY)
    connection = driver.connection
    connection.host, connection.port, connection.secure = "127.0.0.1", port, False
    # moto routes a request by the service its Authorization header names, and
    # Libcloud signs Route 53 with X-Amzn-Authorization: name the service too
    # (moto checks no signature).
    own_headers = connection.add_default_headers

    def headers(given: dict[str, str]) -> dict[str, str]:
        given = own_headers(given)
        given["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20200101/us-east-1/"
                                  "route53/aws4_request, SignedHeaders=host, Signature=0")
        return given

    connection.add_default_headers = headers
    connection.connect()  # the driver connected on creation, to Amazon's host
    return driver


def test_route53_program(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    server = moto_server(request)
    ours = Route53DNSDriver(ACCESS_KEY, SECRET_KEY, endpoint=server.url, timeout=30)
    theirs = _libcloud_route53(server.port, monkeypatch)

    def make_zone(domain: str) -> str:
        return ours.create_zone(domain).domain

    def held(domain: str) -> list[Row]:
        zone = next(z for z in ours.list_zones() if z.domain == domain)
        return sorted((r.name, str(r.type), [v.replace(domain, "<zone>") for v in r.values], r.ttl)
                      for r in ours.list_record_sets(zone) if str(r.type) not in ("SOA", "NS"))

    with ours:
        compare(route53_program, theirs, ours, make_zone, held)


def test_route53_ids_and_values_match_libcloud(request: pytest.FixtureRequest,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A set of several values lists as one record per value under both, with
    Libcloud's ids (``"A:www"``, shared by the set) and TXT as stored (quoted)."""
    server = moto_server(request)
    ours = Route53DNSDriver(ACCESS_KEY, SECRET_KEY, endpoint=server.url, timeout=30)
    theirs = _libcloud_route53(server.port, monkeypatch)
    with ours:
        zone = ours.create_zone(f"ids{uuid.uuid4().hex[:8]}.example.test.")
        ours.create_record_set("www", zone, "A", ["192.0.2.1", "192.0.2.2", "192.0.2.3"],
                               ttl=300)
        ours.create_record_set("sub", zone, "NS", ["ns1.other.test.", "ns2.other.test."],
                               ttl=300)
        ours.create_record_set("txt", zone, "TXT", ["hello world", "two"], ttl=300)
        their_zone = theirs.get_zone(zone.id)

        def listed(driver: Any, z: Any) -> list[Row]:
            # Not the zone's own SOA and NS: moto stores those without the
            # trailing dot Route 53 gives them, and overcast adds it.
            # Libcloud's "_multi_value" and "_other_records" are its own
            # bookkeeping for updates, not provider data.
            return sorted((r.id, r.name, str(r.type), r.data, r.ttl,
                           {k: v for k, v in r.extra.items() if not k.startswith("_")})
                          for r in driver.list_records(z) if r.name != "" or
                          str(r.type) not in ("SOA", "NS"))

        assert listed(ours, zone) == listed(theirs, their_zone)
        assert len([r for r in ours.list_records(zone) if r.type == "A"]) == 3
        assert ours.get_record(zone.id, "A:www").data == theirs.get_record(zone.id, "A:www").data


def test_powerdns_records_match_libcloud(request: pytest.FixtureRequest) -> None:
    """Every value is a record under both: absolute names, MX data with its
    priority, TXT quoted, as PowerDNS stores them."""
    server = powerdns_server(request)
    ours = PowerDNSDriver(server.api_key, endpoint=server.endpoint)
    theirs = LibcloudPowerDNS(server.api_key, secure=False, host="127.0.0.1",
                              port=server.api_port, api_version="v1")
    with ours:
        zone = ours.create_zone(f"pv{uuid.uuid4().hex[:8]}.example.test.")
        ours.create_record_set("www", zone, "A", ["192.0.2.1", "192.0.2.2"], ttl=300)
        ours.create_record_set("", zone, "MX", [f"10 mail.{zone.domain}", f"20 mx.{zone.domain}"],
                               ttl=300)
        ours.create_record_set("txt", zone, "TXT", ["hello world"], ttl=300)
        their_zone = theirs.get_zone(zone.id)

        def listed(driver: Any, z: Any) -> list[Row]:
            return sorted((r.name, str(r.type), r.data, r.ttl, r.extra.get("priority"))
                          for r in driver.list_records(z))

        assert listed(ours, zone) == listed(theirs, their_zone)


def test_digitalocean_program(request: pytest.FixtureRequest) -> None:
    _, endpoint = digitalocean_server(request)
    ours = DigitalOceanDNSDriver(DIGITALOCEAN_TOKEN, endpoint=endpoint)
    theirs = LibcloudDigitalOcean(DIGITALOCEAN_TOKEN)
    address = endpoint.split("://", 1)[1].split("/", 1)[0]
    connection = theirs.connection
    connection.host, connection.port = address.rsplit(":", 1)[0], int(address.rsplit(":", 1)[1])
    connection.secure = False
    connection.connect()  # the driver connected on creation, to DigitalOcean's host

    def make_zone(domain: str) -> str:
        return ours.create_zone(domain).domain

    def held(domain: str) -> list[Row]:
        zone = ours.get_zone(domain.rstrip("."))
        return sorted((r.name, str(r.type), [v.replace(domain, "<zone>") for v in r.values], r.ttl)
                      for r in ours.list_record_sets(zone) if str(r.type) not in ("SOA", "NS"))

    with ours:
        compare(digitalocean_program, theirs, ours, make_zone, held)
