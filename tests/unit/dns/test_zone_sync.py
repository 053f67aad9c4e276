"""Sync plans on values: what changes, in what order, and when it is refused; the
one operation that plans and applies them, sync and async."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio
import pytest

from overcast.dns.base import Record, Zone
from overcast.dns.drivers.zonefile import ZoneFileDNSDriver
from overcast.dns.zone_sync import Plan, UnsafePlan, _check, compute_plan, sync, sync_async
from overcast.errors import InvalidInput
from overcast.testing import MODES

ZONE = Zone(id="example.test.", domain="example.test.", type="master", ttl=300)


def rec(name: str, rtype: str, *values: str, ttl: int | None = 300) -> Record:
    return Record(id=f"{name}:{rtype}", name=name, type=rtype, data=values[0], zone=ZONE,
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


# -- the operation, on two zone-file drivers, sync and async ---------------------------------


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(mode: str, *args: Any, **kwargs: Any) -> Plan:
    """``sync`` or ``sync_async``: the two faces of one operation."""
    if mode == "sync":
        return sync(*args, **kwargs)
    return anyio.run(functools.partial(sync_async, *args, **kwargs))


def zonefile(tmp_path: Path, name: str, count: int) -> tuple[ZoneFileDNSDriver, Zone]:
    driver = ZoneFileDNSDriver(tmp_path / name)
    zone = driver.create_zone("example.test.", ttl=300)
    for i in range(count):
        driver.create_record(f"h{i}", zone, "A", f"192.0.2.{i + 1}", ttl=300)
    driver.create_record("ssh", zone, "SSHFP", "1 1 " + "AB" * 20, ttl=300)
    return driver, zone


def test_sync_plans_applies_and_then_plans_nothing(mode: str, tmp_path: Path) -> None:
    _, zone = zonefile(tmp_path, "a", 12)
    target = ZoneFileDNSDriver(tmp_path / "b")
    dry = run(mode, zone, target)
    assert (len(dry.creates), dry.target_exists, dry.applied) == (13, False, False)
    assert target.list_zones() == []  # a dry run writes nothing
    applied = run(mode, zone, target, dry_run=False)
    assert applied.applied and str(applied).startswith("sync zonefile:example.test. -> ")
    copied = target.get_zone("example.test.")
    assert copied.ttl == 300
    assert target.get_record(copied.id, "ssh:SSHFP").values == ["1 1 " + "ab" * 20]
    assert not run(mode, zone, target)


def test_sync_refuses_a_gutted_source_unless_forced(mode: str, tmp_path: Path) -> None:
    _, full = zonefile(tmp_path, "a", 12)
    _, gutted = zonefile(tmp_path, "b", 4)
    target = ZoneFileDNSDriver(tmp_path / "c")
    run(mode, full, target, dry_run=False)
    with pytest.raises(UnsafePlan) as info:
        run(mode, gutted, target, dry_run=False)
    assert len(info.value.plan.deletes) == 8
    assert len(target.list_records(target.get_zone("example.test."))) == 15  # untouched
    assert run(mode, gutted, target, dry_run=False, force=True).applied
    assert not run(mode, gutted, target)
    with pytest.raises(InvalidInput, match="max_change_share"):
        run(mode, full, target, dry_run=False, max_change_share=2)


def test_sync_to_another_domain_and_from_an_unbound_zone(mode: str, tmp_path: Path) -> None:
    _, zone = zonefile(tmp_path, "a", 2)
    target = ZoneFileDNSDriver(tmp_path / "b")
    plan = run(mode, zone, target, target_domain="copy.test.", dry_run=False)
    assert plan.target == "zonefile:copy.test." and plan.applied
    assert target.get_record("copy.test.", "h1:A").values == ["192.0.2.2"]
    with pytest.raises(InvalidInput, match="not bound"):
        run(mode, Zone("x.", "x.", "master", None), target)
