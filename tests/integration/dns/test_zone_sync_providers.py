"""``overcast.dns.sync`` moves a 500-record zone from zone files into real servers,
and a zone of many record types from BIND into PowerDNS.

The source is the embedded zone-file driver (or BIND through the RFC 2136
driver); the targets are PowerDNS and Route 53 (moto), each started by its test
factory. A second run must plan nothing, and a source that lost half its
records must be refused unless forced.
"""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from overcast.dns import UnsafePlan
from overcast.dns import sync
from overcast.dns import sync_async
from overcast.dns.base import DNSDriver
from overcast.dns.base import Zone
from overcast.dns.drivers.zonefile import ZoneFileDNSDriver
from overcast.dns.records import canonical
from servers.dns_bind import bind_server
from servers.dns_bind import make_driver

RECORD_SETS = 500


def zone_text(domain: str, count: int) -> str:
    """A master file with ``count`` record sets of mixed types (besides SOA/NS)."""
    lines = [
        f"$ORIGIN {domain}",
        "$TTL 300",
        f"@ 3600 IN SOA ns1.{domain} hostmaster.{domain} 1 7200 900 1209600 300",
        f"@ 3600 IN NS ns1.{domain}",
    ]
    for i in range(count):
        kind = i % 5
        if kind == 0:
            octet = i % 250 + 1
            lines += [f"h{i} 300 IN A 192.0.2.{octet}", f"h{i} 300 IN A 198.51.100.{octet}"]
        elif kind == 1:
            lines.append(f'h{i} 600 IN TXT "record {i}" "second string"')
        elif kind == 2:
            lines.append(f"h{i} 300 IN MX 10 mail{i}.{domain}")
        elif kind == 3:
            lines.append(f"h{i} 300 IN CNAME h{i - 3}.{domain}")
        else:
            lines.append(f"h{i} 300 IN AAAA 2001:db8::{i:x}")
    return "\n".join(lines) + "\n"


def source_zone(tmp_path: Path, domain: str, count: int) -> Zone:
    directory = tmp_path / "zones"
    directory.mkdir(exist_ok=True)
    (directory / f"{domain.rstrip('.')}.zone").write_text(zone_text(domain, count))
    return ZoneFileDNSDriver(directory).get_zone(domain)


def target_driver(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> DNSDriver:
    module = importlib.import_module(f"servers.dns_{name}")
    driver: DNSDriver = module.make_target(request, tmp_path).driver
    return driver


def managed(driver: DNSDriver, domain: str) -> int:
    zone = next(z for z in driver.iterate_zones() if z.domain.rstrip(".") == domain.rstrip("."))
    return sum(1 for r in driver.iterate_record_sets(zone)
               if str(r.type) != "SOA" and not (str(r.type) == "NS" and r.name == ""))


@pytest.mark.parametrize("target", ["powerdns", "route53"])
def test_sync_moves_500_records_then_plans_nothing_and_refuses_a_gutted_source(
    request: pytest.FixtureRequest, tmp_path: Path, target: str
) -> None:
    domain = f"sync{uuid.uuid4().hex[:8]}.example.test."
    source = source_zone(tmp_path, domain, RECORD_SETS)
    driver = target_driver(request, tmp_path, target)

    dry = sync(source, driver)
    assert len(dry.creates) == RECORD_SETS and not dry.updates and not dry.deletes
    assert not dry.applied and not dry.target_exists
    assert all(z.domain.rstrip(".") != domain.rstrip(".") for z in driver.iterate_zones())

    assert sync(source, driver, dry_run=False).applied
    assert managed(driver, domain) == RECORD_SETS
    second = sync(source, driver)
    assert not second, str(second)

    # The source loses half its records: applying would delete 50% of the target.
    source = source_zone(tmp_path, domain, RECORD_SETS // 2)
    with pytest.raises(UnsafePlan) as info:
        sync(source, driver, dry_run=False)
    assert len(info.value.plan.deletes) == RECORD_SETS // 2
    assert managed(driver, domain) == RECORD_SETS  # nothing was touched
    assert sync(source, driver, dry_run=False, force=True).applied
    assert managed(driver, domain) == RECORD_SETS // 2
    assert not sync(source, driver)

    zone = next(z for z in driver.iterate_zones() if z.domain.rstrip(".") == domain.rstrip("."))
    driver.delete_zone(zone)


def test_sync_async_plans_and_applies_the_same(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    domain = f"async{uuid.uuid4().hex[:8]}.example.test."
    source = source_zone(tmp_path, domain, 60)
    driver = target_driver(request, tmp_path, "powerdns")

    async def main() -> tuple[int, int]:
        applied = await sync_async(source, driver, dry_run=False)
        again = await sync_async(source, driver)
        return len(applied.creates), len(again.changes)

    assert anyio.run(main) == (60, 0)
    zone = next(z for z in driver.iterate_zones() if z.domain.rstrip(".") == domain.rstrip("."))
    driver.delete_zone(zone)


#: Record sets of many types, as a user writes them into BIND: hex in upper case
#: (TLSA, SSHFP, DS, ...), optional fields left out, names without the dot. The
#: BIND zone transfer gives them back in dnspython's spelling, PowerDNS in its
#: own: a second sync must still see no difference.
BIND_SETS: list[tuple[str, str, list[str]]] = [
    ("www", "A", ["192.0.2.10", "192.0.2.11"]),
    ("v6", "AAAA", ["2001:DB8::1"]),
    ("alias", "CNAME", ["www.example.net"]),
    ("", "MX", ["10 mail.example.net", "20 backup.example.net."]),
    ("txt", "TXT", ["hello world", "x" * 300, 'caf\u00e9 "q"']),
    ("_sip._tcp", "SRV", ["10 5 5060 sip.example.net"]),
    ("", "CAA", ['0 issue "letsencrypt.org"', "0 iodef mailto:security@example.net"]),
    ("_443._tcp.www", "TLSA", ["3 1 1 " + "AB" * 32, "2 0 1 " + "CD" * 32]),
    ("ssh", "SSHFP", ["1 1 " + "EF" * 20, "4 2 " + "0A" * 32]),
    ("sub", "NS", ["ns1.other.test.", "ns2.other.test."]),
    ("sub", "DS", ["12345 13 2 " + "AB" * 32]),
    ("cds", "CDS", ["12345 13 2 " + "BA" * 32]),
    ("smime", "SMIMEA", ["3 1 1 " + "DE" * 32]),
    ("svc", "HTTPS", ['1 . alpn="h2,h3" port=8443']),
    ("svcb", "SVCB", ["1 svc.example.net alpn=h2"]),
    ("loc", "LOC", ["52 22 23 N 4 53 32 E -2m"]),
    ("cert", "CERT", ["PKIX 12345 RSASHA256 dGVzdA=="]),
    ("naptr", "NAPTR", ['100 10 "S" "SIP+D2U" "" _sip._udp.example.net.']),
    ("uri", "URI", ['10 1 "https://example.net/"']),
    ("eui", "EUI48", ["00-00-5E-00-53-2A"]),
    ("l64", "L64", ["10 2001:0DB8:1140:1000"]),
    ("hip", "HIP", ["2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cI"
                    "vM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+b"
                    "SRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D"]),
    ("wks", "WKS", ["192.0.2.1 6 25 80"]),
    ("dhcid", "DHCID", ["AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="]),
]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sync_from_bind_to_powerdns_plans_nothing_the_second_time(
    request: pytest.FixtureRequest, tmp_path: Path, mode: str
) -> None:
    server = bind_server(request)
    domain = f"bind{uuid.uuid4().hex[:8]}.example.test."
    server.add_dynamic_zone(domain)
    try:
        with make_driver(server) as bind:
            source = bind.get_zone(domain)
            for name, rtype, values in BIND_SETS:
                bind.create_record_set(name, source, rtype, values, ttl=300)
            pdns = target_driver(request, tmp_path, "powerdns")

            async def run_async() -> tuple[Any, Any]:
                return (await sync_async(source, pdns, dry_run=False),
                        await sync_async(source, pdns))

            if mode == "sync":
                first, second = sync(source, pdns, dry_run=False), sync(source, pdns)
            else:
                first, second = anyio.run(run_async)
            assert first.applied and len(first.creates) == len(BIND_SETS)
            assert not second, str(second)
            copy = next(z for z in pdns.iterate_zones() if z.domain == domain)
            copied = {(r.name, str(r.type)): r.values for r in pdns.list_record_sets(copy)}
            for key in (("ssh", "SSHFP"), ("_443._tcp.www", "TLSA")):
                written = next(values for name, rtype, values in BIND_SETS
                               if (name, rtype) == key)
                assert sorted(copied[key]) != sorted(written)  # not spelled as written...
                assert sorted(canonical(key[1], v) for v in copied[key]) == sorted(
                    canonical(key[1], v) for v in written)  # ...but the same data
            pdns.delete_zone(copy)
    finally:
        server.delete_zone(domain, clean=True)
