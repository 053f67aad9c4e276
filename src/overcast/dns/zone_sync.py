"""Make one zone equal to another, across providers: plan first, then apply.

    plan = overcast.dns.sync(source_zone, pdns)            # dry run: nothing changes
    print(plan)                                            # what would change
    overcast.dns.sync(source_zone, pdns, dry_run=False)    # apply it

The plan compares record sets by name and type, values in canonical form
(:func:`overcast.dns.records.canonical`) and TTL. SOA and the apex NS set are
the provider's own and are left alone on both sides.

**Safety.** A bad source (an export that lost half its lines, the wrong zone)
must not wipe a live zone. Applying a plan that would delete or change more
than ``max_change_share`` of the target's record sets (default 30 %, as
octoDNS does) raises :class:`UnsafePlan` unless ``force=True``. Targets with
fewer than :data:`MIN_RECORDS_FOR_SAFETY` record sets are exempt, so small
zones can still be built from scratch.

:func:`sync` works on sync drivers; :func:`sync_async` is the same for
``async`` programs (it uses ``driver.aio``). Both compute the plan with the
same pure function, :func:`compute_plan`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from overcast.dns.base import DNSDriver, Record, RecordType, Zone
from overcast.dns.records import canonical
from overcast.errors import InvalidInput, OvercastError

__all__ = [
    "DEFAULT_MAX_CHANGE_SHARE",
    "MIN_RECORDS_FOR_SAFETY",
    "Change",
    "Plan",
    "UnsafePlan",
    "compute_plan",
    "sync",
    "sync_async",
]

#: The share of a target's record sets a plan may delete or change unforced.
DEFAULT_MAX_CHANGE_SHARE: Final = 0.3
#: Targets with fewer record sets than this are exempt from the safety check.
MIN_RECORDS_FOR_SAFETY: Final = 10
#: Types that belong to the provider, never synced.
_PROVIDER_TYPES: Final = frozenset({"SOA"})

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Change:
    """One record set to create, update or delete on the target."""

    action: Action
    name: str
    type: str
    values: tuple[str, ...] = ()
    ttl: int | None = None
    #: The target's current set, for updates and deletes.
    existing: Record | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        name = self.name or "@"
        if self.action == "delete":
            return f"{sign} {name} {self.type}"
        ttl = f" ttl={self.ttl}" if self.ttl is not None else ""
        return f"{sign} {name} {self.type}{ttl} {list(self.values)}"


@dataclass(slots=True)
class Plan:
    """What :func:`sync` would do (or did) to make the target equal the source."""

    source: str
    target: str
    changes: list[Change]
    #: Record sets the target held before (SOA and apex NS not counted).
    existing: int
    target_exists: bool = True
    applied: bool = False

    @property
    def creates(self) -> list[Change]:
        """Sets to create."""
        return [c for c in self.changes if c.action == "create"]

    @property
    def updates(self) -> list[Change]:
        """Sets to update."""
        return [c for c in self.changes if c.action == "update"]

    @property
    def deletes(self) -> list[Change]:
        """Sets to delete."""
        return [c for c in self.changes if c.action == "delete"]

    @property
    def change_share(self) -> float:
        """The share of the target's existing sets this plan deletes or changes."""
        if self.existing == 0:
            return 0.0
        return (len(self.updates) + len(self.deletes)) / self.existing

    def is_safe(self, max_change_share: float = DEFAULT_MAX_CHANGE_SHARE) -> bool:
        """Whether applying is allowed without ``force``."""
        return self.existing < MIN_RECORDS_FOR_SAFETY or self.change_share <= max_change_share

    def __bool__(self) -> bool:
        return bool(self.changes) or not self.target_exists

    def __str__(self) -> str:
        head = (
            f"sync {self.source} -> {self.target}: {len(self.creates)} to create, "
            f"{len(self.updates)} to update, {len(self.deletes)} to delete "
            f"(of {self.existing} existing)"
        )
        if not self.target_exists:
            head += "; the target zone will be created"
        return "\n".join([head, *(f"  {change}" for change in self.changes)])


class UnsafePlan(OvercastError):
    """A plan would delete or change more of the target than allowed; ``.plan``
    holds it. Pass ``force=True`` to apply it anyway."""

    def __init__(self, plan: Plan, max_change_share: float) -> None:
        super().__init__(
            f"refusing to change {plan.change_share:.0%} of {plan.target} "
            f"({len(plan.updates)} updates, {len(plan.deletes)} deletes of {plan.existing} "
            f"record sets; the limit is {max_change_share:.0%}); pass force=True to apply"
        )
        self.plan = plan


def _key(record: Record) -> tuple[str, str]:
    return (record.name.lower(), str(record.type).upper())


def _managed(record: Record) -> bool:
    rtype = str(record.type).upper()
    return rtype not in _PROVIDER_TYPES and not (rtype == "NS" and record.name == "")


def _same(source: Record, target: Record) -> bool:
    rtype = str(source.type).upper()
    values = sorted(canonical(rtype, v) for v in source.values)
    if values != sorted(canonical(rtype, v) for v in target.values):
        return False
    return source.ttl is None or source.ttl == target.ttl


def compute_plan(
    source: Iterable[Record],
    target: Iterable[Record],
    *,
    source_name: str = "source",
    target_name: str = "target",
    target_exists: bool = True,
) -> Plan:
    """The changes that make ``target``'s record sets equal ``source``'s (pure)."""
    wanted = {_key(r): r for r in source if _managed(r)}
    present = {_key(r): r for r in target if _managed(r)}
    changes: list[Change] = []
    for key, record in sorted(present.items()):
        if key not in wanted:
            changes.append(Change("delete", record.name, key[1], existing=record))
    for key, record in sorted(wanted.items()):
        current = present.get(key)
        if current is None:
            changes.append(Change("create", record.name, key[1], tuple(record.values),
                                  record.ttl))
        elif not _same(record, current):
            changes.append(Change("update", record.name, key[1], tuple(record.values),
                                  record.ttl, existing=current))
    return Plan(source_name, target_name, changes, len(present), target_exists)


def _check(plan: Plan, force: bool, max_change_share: float) -> None:
    if not 0 <= max_change_share <= 1:
        raise InvalidInput(f"max_change_share must be between 0 and 1: {max_change_share}")
    if not force and not plan.is_safe(max_change_share):
        raise UnsafePlan(plan, max_change_share)


def _extra(change: Change) -> dict[str, int] | None:
    return {"ttl": change.ttl} if change.ttl is not None else None


def sync(
    source_zone: Zone,
    target_driver: DNSDriver,
    *,
    target_domain: str | None = None,
    dry_run: bool = True,
    force: bool = False,
    max_change_share: float = DEFAULT_MAX_CHANGE_SHARE,
) -> Plan:
    """Plan (and unless ``dry_run``, apply) making a zone of ``target_driver``
    equal to ``source_zone``.

    The target zone is the one for ``target_domain`` (default: the source's
    domain); it is created when applying if it does not exist. Changes are
    applied deletes first, then updates, then creates, so a name can change
    from other data to a CNAME. Returns the plan, with ``applied`` set.
    """
    if source_zone.driver is None:
        raise InvalidInput("the source zone is not bound to a driver")
    domain = target_domain or source_zone.domain
    source_records = source_zone.driver.list_records(source_zone)
    target_zone = _find_zone(target_driver, domain)
    target_records = target_driver.list_records(target_zone) if target_zone else []
    plan = compute_plan(
        source_records,
        target_records,
        source_name=f"{source_zone.driver.name}:{source_zone.domain}",
        target_name=f"{target_driver.name}:{domain}",
        target_exists=target_zone is not None,
    )
    if dry_run or not plan:
        return plan
    _check(plan, force, max_change_share)
    if target_zone is None:
        target_zone = target_driver.create_zone(domain, ttl=source_zone.ttl)
    for change in _ordered(plan.changes):
        if change.action == "delete":
            assert change.existing is not None
            target_driver.delete_record(change.existing)
        elif change.action == "update":
            assert change.existing is not None
            target_driver.update_record(change.existing, change.name, RecordType(change.type),
                                        list(change.values), _extra(change))
        else:
            target_driver.create_record(change.name, target_zone, RecordType(change.type),
                                        list(change.values), _extra(change))
    plan.applied = True
    return plan


async def sync_async(
    source_zone: Zone,
    target_driver: DNSDriver,
    *,
    target_domain: str | None = None,
    dry_run: bool = True,
    force: bool = False,
    max_change_share: float = DEFAULT_MAX_CHANGE_SHARE,
) -> Plan:
    """:func:`sync` for async programs: the same plan, through ``driver.aio``."""
    if source_zone.driver is None:
        raise InvalidInput("the source zone is not bound to a driver")
    source, target = source_zone.driver.aio, target_driver.aio
    domain = target_domain or source_zone.domain
    source_records = await source.list_records(source_zone)
    target_zone = await _afind_zone(target_driver, domain)
    target_records = await target.list_records(target_zone) if target_zone else []
    plan = compute_plan(
        source_records,
        target_records,
        source_name=f"{source_zone.driver.name}:{source_zone.domain}",
        target_name=f"{target_driver.name}:{domain}",
        target_exists=target_zone is not None,
    )
    if dry_run or not plan:
        return plan
    _check(plan, force, max_change_share)
    if target_zone is None:
        target_zone = await target.create_zone(domain, ttl=source_zone.ttl)
    for change in _ordered(plan.changes):
        if change.action == "delete":
            assert change.existing is not None
            await target.delete_record(change.existing)
        elif change.action == "update":
            assert change.existing is not None
            await target.update_record(change.existing, change.name, RecordType(change.type),
                                       list(change.values), _extra(change))
        else:
            await target.create_record(change.name, target_zone, RecordType(change.type),
                                       list(change.values), _extra(change))
    plan.applied = True
    return plan


def _ordered(changes: Sequence[Change]) -> list[Change]:
    rank = {"delete": 0, "update": 1, "create": 2}
    return sorted(changes, key=lambda c: rank[c.action])


def _same_domain(a: str, b: str) -> bool:
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def _find_zone(driver: DNSDriver, domain: str) -> Zone | None:
    """The driver's zone for ``domain``, found by listing (zone ids differ by provider)."""
    for zone in driver.iterate_zones():
        if _same_domain(zone.domain, domain):
            return zone
    return None


async def _afind_zone(driver: DNSDriver, domain: str) -> Zone | None:
    async for zone in driver.aio.iterate_zones():
        if _same_domain(zone.domain, domain):
            return zone
    return None
