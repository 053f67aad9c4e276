"""``overcast.dns.sync`` moves a 500-record zone from zone files into real servers.

The source is the embedded zone-file driver; the targets are PowerDNS and
Route 53 (moto), each started by its test factory. A second run must plan
nothing, and a source that lost half its records must be refused unless forced.
"""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path

import anyio
import pytest

from overcast.dns import UnsafePlan, sync, sync_async
from overcast.dns.base import DNSDriver, Zone
from overcast.dns.drivers.zonefile import ZoneFileDNSDriver

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
    return sum(1 for r in driver.iterate_records(zone)
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
