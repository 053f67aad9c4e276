"""Sync plans on values: what changes, in what order, and when it is refused; the
one operation that plans and applies them, sync and async."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from overcast.dns.base import STANDARD_TYPES
from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordData
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordSpec
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.records import canonical
from overcast.dns.zone_sync import Plan
from overcast.dns.zone_sync import UnsafePlan
from overcast.dns.zone_sync import _check
from overcast.dns.zone_sync import compute_plan
from overcast.dns.zone_sync import sync
from overcast.dns.zone_sync import sync_async
from overcast.errors import InvalidInput
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.testing import MODES

ZONE = Zone(id="example.test.", domain="example.test.", type="master", ttl=300)


def rec(name: str, rtype: str, *values: str, ttl: int | None = 300) -> RecordSet:
    return RecordSet(id=f"{name}:{rtype}", name=name, type=rtype, data=values[0], zone=ZONE,
                  ttl=ttl, values=list(values))


def test_equal_zones_plan_nothing() -> None:
    records = [rec("www", "A", "192.0.2.1"), rec("", "MX", "10 mail.example.test.")]
    # Host names may come back without the dot or in another case: still equal.
    other = [rec("www", "A", "192.0.2.1"), rec("", "MX", "10 MAIL.example.test")]
    assert not compute_plan(records, other)


def test_creates_updates_deletes() -> None:
    source = [rec("www", "A", "192.0.2.1", "192.0.2.2"), rec("new", "TXT", "hello")]
    target = [rec("www", "A", "192.0.2.1"), rec("old", "CNAME", "www.example.test.")]
    plan = compute_plan(source, target)
    assert [(c.action, c.name, c.type) for c in plan.changes] == [
        ("delete", "old", "CNAME"), ("create", "new", "TXT"), ("update", "www", "A"),
    ]
    assert plan.existing == 2
    assert "+ new TXT" in str(plan) and "- old CNAME" in str(plan)


def test_ttl_changes_are_updates_unless_the_source_has_none() -> None:
    assert compute_plan([rec("a", "A", "192.0.2.1", ttl=60)], [rec("a", "A", "192.0.2.1")])
    assert not compute_plan([rec("a", "A", "192.0.2.1", ttl=None)], [rec("a", "A", "192.0.2.1")])


def test_provider_records_are_left_alone() -> None:
    target = [rec("", "SOA", "ns. host. 1 2 3 4 5"), rec("", "NS", "ns1.provider.")]
    assert not compute_plan([], target)


def test_losing_half_the_records_is_refused_unless_forced() -> None:
    target = [rec(f"h{i}", "A", f"192.0.2.{i + 1}") for i in range(20)]
    plan = compute_plan(target[:10], target)
    assert len(plan.deletes) == 10 and plan.change_share == 0.5
    with pytest.raises(UnsafePlan) as info:
        _check(plan, force=False, max_change_share=0.3)
    assert info.value.plan is plan
    _check(plan, force=True, max_change_share=0.3)


def test_small_targets_are_exempt() -> None:
    target = [rec(f"h{i}", "A", f"192.0.2.{i + 1}") for i in range(4)]
    _check(compute_plan([], target), force=False, max_change_share=0.3)


# -- the operation, between in-memory drivers, sync and async ---------------------------------


class MemoryDNS(DNSDriver):
    """Zones and record sets in dicts; values stored the way a server normalises
    them (hex in lower case, names absolute), so the target spells them otherwise
    than the source."""

    name = "memory"
    record_types = STANDARD_TYPES

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)
        self.sets: dict[str, dict[tuple[str, str], RecordSet]] = {}
        self.zones: dict[str, Zone] = {}
        self.writes = 0

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every zone."""
        for zone in list(self.zones.values()):
            yield Emit(zone)

    @operation
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """A new zone."""
        yield from ()
        zone = self.zones[domain] = Zone(domain, domain, str(type), ttl, self)
        self.sets[domain] = {}
        return zone

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Every set of a zone."""
        for record in list(self.sets[zone.id].values()):
            yield Emit(record)

    def _store(self, spec: RecordSpec) -> RecordSet:
        self.writes += 1
        values = [canonical(spec.type, v) for v in spec.values]
        record = RecordSet(spec.id, spec.name, spec.type, values[0], spec.zone, self, spec.ttl,
                        values=values)
        self.sets[spec.zone.id][(spec.name, spec.type.value)] = record
        return record

    @operation
    def create_record_set(self, name: str, zone: Zone, type: RecordType | str, data: RecordData,
                      extra: Mapping[str, Any] | None = None, *,
                      ttl: int | None = None) -> Op[RecordSet]:
        """Add a set."""
        yield from ()
        spec = self._new_set(name, zone, type, data, extra, ttl)
        spec.check_free(t for n, t in self.sets[zone.id] if n == spec.name)
        return self._store(spec)

    @operation
    def update_record_set(self, record: RecordSet, name: str | None, type: RecordType | str | None,
                      data: RecordData | None, extra: Mapping[str, Any] | None = None, *,
                      ttl: int | None = None) -> Op[RecordSet]:
        """Replace a set."""
        yield from ()
        spec = self._changed_set(record, name, type, data, extra, ttl)
        del self.sets[record.zone.id][(record.name, str(record.type))]
        return self._store(spec)

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a set."""
        yield from ()
        self.writes += 1
        del self.sets[record.zone.id][(record.name, str(record.type))]
        return True


def _no_network() -> Any:
    raise AssertionError("no request may be sent")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(mode: str, *args: Any, **kwargs: Any) -> Plan:
    """``sync`` or ``sync_async``: the two faces of one operation."""
    if mode == "sync":
        return sync(*args, **kwargs)
    return anyio.run(functools.partial(sync_async, *args, **kwargs))


def source(count: int) -> Zone:
    driver = MemoryDNS()
    zone = driver.create_zone("example.test.", ttl=300)
    for i in range(count):
        driver.create_record_set(f"h{i}", zone, "A", f"192.0.2.{i + 1}", ttl=300)
    driver.create_record_set("ssh", zone, "SSHFP", "1 1 " + "AB" * 20, ttl=300)
    return zone


def test_sync_plans_applies_and_then_plans_nothing(mode: str) -> None:
    zone = source(12)
    target = MemoryDNS()
    dry = run(mode, zone, target)
    assert (len(dry.creates), dry.target_exists, dry.applied) == (13, False, False)
    assert (target.zones, target.writes) == ({}, 0)  # a dry run writes nothing
    applied = run(mode, zone, target, dry_run=False)
    assert applied.applied and str(applied).startswith("sync memory:example.test. -> ")
    assert target.zones["example.test."].ttl == 300
    copied = target.sets["example.test."][("ssh", "SSHFP")]
    assert copied.values == ["1 1 " + "ab" * 20]  # spelled otherwise than the source...
    assert not run(mode, zone, target)  # ...but the same data: nothing to do


def test_sync_refuses_a_gutted_source_unless_forced(mode: str) -> None:
    full, gutted = source(12), source(4)
    target = MemoryDNS()
    run(mode, full, target, dry_run=False)
    writes = target.writes
    with pytest.raises(UnsafePlan) as info:
        run(mode, gutted, target, dry_run=False)
    assert len(info.value.plan.deletes) == 8
    assert target.writes == writes  # untouched
    assert run(mode, gutted, target, dry_run=False, force=True).applied
    assert len(target.sets["example.test."]) == 5
    assert not run(mode, gutted, target)
    with pytest.raises(InvalidInput, match="max_change_share"):
        run(mode, full, target, dry_run=False, max_change_share=2)


def test_sync_updates_in_place_and_to_another_domain(mode: str) -> None:
    zone = source(2)
    target = MemoryDNS()
    plan = run(mode, zone, target, target_domain="copy.test.", dry_run=False)
    assert plan.target == "memory:copy.test." and plan.applied
    assert target.sets["copy.test."][("h1", "A")].values == ["192.0.2.2"]
    next(r for r in zone.list_record_sets() if r.name == "h1").update(data="192.0.2.99", ttl=60)
    changed = run(mode, zone, target, target_domain="copy.test.", dry_run=False)
    assert [(c.action, c.name) for c in changed.changes] == [("update", "h1")]
    assert (target.sets["copy.test."][("h1", "A")].values,
            target.sets["copy.test."][("h1", "A")].ttl) == (["192.0.2.99"], 60)
    with pytest.raises(InvalidInput, match="not bound"):
        run(mode, Zone("x.", "x.", "master", None), target)
