"""Sync plans on values: what changes, in what order, and when it is refused."""

from __future__ import annotations

import pytest

from overcast.dns.base import Record, Zone
from overcast.dns.zone_sync import UnsafePlan, _check, compute_plan

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
