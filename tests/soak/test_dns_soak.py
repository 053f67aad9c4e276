"""DNS soak: ``overcast.dns.sync`` of a 500-record-set zone from zone files into
PowerDNS, through a proxy that misbehaves in every way it can.

The faults are the other soaks' (503 1 % without forwarding, reset 0.1 % and
drop 5 % after the server acted) plus truncated bodies (0.5 %) and answers held
back before their first byte (1 %). The sync must converge in one call: every
record-set change is an idempotent PATCH (retried), every read a GET (retried),
and the zone's create a POST settled by looking the zone up when its answer is
lost. A second plan, asked directly and through the proxy, must be empty, and
PowerDNS must hold exactly the 500 record sets.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import anyio
import pytest

from overcast.dns import Plan
from overcast.dns import sync
from overcast.dns import sync_async
from overcast.dns.base import Zone
from overcast.dns.drivers.powerdns import PowerDNSDriver
from overcast.dns.drivers.zonefile import ZoneFileDNSDriver
from overcast.runtime.transports.base import Timeouts
from servers.dns_powerdns import server as powerdns_server
from servers.faultproxy import FaultProxy
from servers.faultproxy import Faults
from servers.modes import MODES
from soak.harness import SEED
from soak.harness import Tally
from soak.harness import check_accounts
from soak.harness import report

pytestmark = [pytest.mark.soak, pytest.mark.server]

RECORD_SETS = 500
FAULTS = Faults(unavailable=0.01, reset=0.001, truncate=0.005, drop=0.05, delay=0.01, seed=SEED)


def zone_text(domain: str, count: int) -> str:
    """A master file with ``count`` record sets of five types besides SOA and NS."""
    lines = [
        f"$ORIGIN {domain}",
        "$TTL 300",
        f"@ 3600 IN SOA ns1.{domain} hostmaster.{domain} 1 7200 900 1209600 300",
        f"@ 3600 IN NS ns1.{domain}",
    ]
    for i in range(count):
        name = f"s{i:03d}"
        match i % 5:
            case 0:
                lines += [f"{name} 300 IN A 192.0.2.{i % 250 + 1}",
                          f"{name} 300 IN A 198.51.100.{i % 250 + 1}"]
            case 1:
                lines.append(f'{name} 600 IN TXT "soak {i}" "second string"')
            case 2:
                lines.append(f"{name} 300 IN MX {i % 50} mx{i}.{domain}")
            case 3:
                lines.append(f"{name} 900 IN CNAME s{i - 3:03d}.{domain}")
            case _:
                lines.append(f"{name} 300 IN AAAA 2001:db8::{i:x}")
    return "\n".join(lines) + "\n"


def managed(driver: PowerDNSDriver, zone: Zone) -> int:
    """The record sets of ``zone`` that a sync manages (all but SOA and apex NS)."""
    return sum(
        1 for record in driver.iterate_record_sets(zone)
        if str(record.type) != "SOA" and not (str(record.type) == "NS" and record.name == "")
    )


def plan(mode: str, source: Zone, target: PowerDNSDriver, *, dry_run: bool) -> Plan:
    """``dns.sync(source, target, dry_run=...)`` from sync or async code."""
    if mode == "sync":
        return sync(source, target, dry_run=dry_run)

    async def main() -> Plan:
        async with target.aio:
            return await sync_async(source, target, dry_run=dry_run)

    return anyio.run(main)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_a_500_record_sync_converges_through_every_fault(
    request: pytest.FixtureRequest, tmp_path: Path, mode: str
) -> None:
    running = powerdns_server(request)
    direct = running.driver()
    domain = f"soak{uuid.uuid4().hex[:8]}.example.test."
    (tmp_path / f"{domain.rstrip('.')}.zone").write_text(zone_text(domain, RECORD_SETS))
    source = ZoneFileDNSDriver(tmp_path).get_zone(domain)
    tally = Tally()
    with FaultProxy(running.endpoint, FAULTS) as proxy:
        target = PowerDNSDriver(running.api_key, endpoint=proxy.url,
                                timeout=Timeouts(connect=10, read=60), hooks=tally.hooks())
        started = time.monotonic()
        applied = plan(mode, source, target, dry_run=False)
        again_through_faults = plan(mode, source, target, dry_run=True)
        figures = proxy.figures()
    assert applied.applied
    assert len(applied.creates) == RECORD_SETS and not applied.updates and not applied.deletes
    assert not again_through_faults, str(again_through_faults)
    again = sync(source, direct)
    assert not again, str(again)
    zone = direct.get_zone(domain)
    assert managed(direct, zone) == RECORD_SETS
    assert figures.failures > 0
    check_accounts(figures, tally)
    report("dns", mode, started, figures, tally, record_sets=RECORD_SETS,
           faults=FAULTS.describe())
    direct.delete_zone(zone)
