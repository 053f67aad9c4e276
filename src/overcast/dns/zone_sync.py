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

:func:`sync` runs from sync code and :func:`sync_async` from ``async``
programs: they are the two faces of one operation, which reads and writes each
zone through its own driver (:class:`~overcast.runtime.effects.Delegate`), so
the flow (plan with the pure :func:`compute_plan`, safety check, apply) is
written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Final
from typing import Literal
from typing import TypeVar

from overcast.dns import names
from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.records import canonical
from overcast.errors import InvalidInput
from overcast.errors import OvercastError
from overcast.runtime.effects import Delegate
from overcast.runtime.effects import Op
from overcast.runtime.operation import standalone
from overcast.runtime.ops import collect
from overcast.runtime.ops import find_first

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
    existing: RecordSet | None = field(default=None, compare=False, repr=False)

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


def _key(record: RecordSet) -> tuple[str, str]:
    return (record.name.lower(), str(record.type).upper())


def _managed(record: RecordSet) -> bool:
    rtype = str(record.type).upper()
    return rtype not in _PROVIDER_TYPES and not (rtype == "NS" and record.name == "")


def _same(source: RecordSet, target: RecordSet) -> bool:
    rtype = str(source.type).upper()
    values = sorted(canonical(rtype, v) for v in source.values)
    if values != sorted(canonical(rtype, v) for v in target.values):
        return False
    return source.ttl is None or source.ttl == target.ttl


def compute_plan(source: Iterable[RecordSet], target: Iterable[RecordSet], *,
                 source_name: str = "source", target_name: str = "target",
                 target_exists: bool = True) -> Plan:
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


T = TypeVar("T")


def _on(driver: DNSDriver, op: Op[T]) -> Op[T]:
    """Run ``op`` on ``driver``'s own runner (its credentials, pools and policy)."""
    result: T = yield Delegate(driver, op)
    return result


def _sync(source_zone: Zone, target_driver: DNSDriver, *, target_domain: str | None = None,
          dry_run: bool = True, force: bool = False,
          max_change_share: float = DEFAULT_MAX_CHANGE_SHARE) -> Op[Plan]:
    """Plan (and unless ``dry_run``, apply) making a zone of ``target_driver``
    equal to ``source_zone``.

    The target zone is the one for ``target_domain`` (default: the source's
    domain), found by listing the target's zones (zone ids differ by provider);
    it is created when applying if it does not exist. Changes are applied
    deletes first, then updates, then creates, so a name can change from other
    data to a CNAME. Returns the plan, with ``applied`` set.
    """
    source = source_zone.driver
    if source is None:
        raise InvalidInput("the source zone is not bound to a driver")
    target = target_driver
    domain = target_domain or source_zone.domain
    source_records = yield from _on(source, collect(source.iterate_record_sets.op(source_zone)))

    def wanted(zone: Zone) -> bool:
        return names.same_name(zone.domain, domain)

    finding = find_first(target.iterate_zones.op(), wanted)
    target_zone = yield from _on(target, finding)
    target_records: list[RecordSet] = []
    if target_zone is not None:
        target_records = yield from _on(target, collect(target.iterate_record_sets.op(target_zone)))
    plan = compute_plan(
        source_records,
        target_records,
        source_name=f"{source.name}:{source_zone.domain}",
        target_name=f"{target.name}:{domain}",
        target_exists=target_zone is not None,
    )
    if dry_run or not plan:
        return plan
    _check(plan, force, max_change_share)
    if target_zone is None:
        target_zone = yield from _on(target, target.create_zone.op(domain, ttl=source_zone.ttl))
    for change in _ordered(plan.changes):
        yield from _on(target, _apply(target, target_zone, change))
    plan.applied = True
    return plan


def _apply(driver: DNSDriver, zone: Zone, change: Change) -> Op[Any]:
    """The driver operation that makes one change."""
    if change.action == "delete":
        assert change.existing is not None
        return driver.delete_record_set.op(change.existing)
    values, extra = list(change.values), _extra(change)
    if change.action == "update":
        assert change.existing is not None
        return driver.update_record_set.op(change.existing, change.name, RecordType(change.type),
                                       values, extra)
    return driver.create_record_set.op(change.name, zone, RecordType(change.type), values, extra)


#: ``sync(source_zone, target_driver, *, target_domain=None, dry_run=True,
#: force=False, max_change_share=0.3) -> Plan``: plan (and unless ``dry_run``,
#: apply) making a zone of ``target_driver`` equal to ``source_zone``; see
#: :func:`_sync` for the rules. From async code: :func:`sync_async`.
sync = standalone(_sync)
#: :func:`sync` for async programs: the same operation, awaited on the running loop.
sync_async = sync.run_async


def _ordered(changes: Sequence[Change]) -> list[Change]:
    rank = {"delete": 0, "update": 1, "create": 2}
    return sorted(changes, key=lambda c: rank[c.action])
