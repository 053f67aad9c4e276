"""DNS: the models and the driver API every DNS driver shares.

Names and positional parameters follow Apache Libcloud 3.x
(``libcloud.dns.base.DNSDriver``), so its users port code by changing imports;
overcast's additions are keyword-only. Every operation is available sync
(``driver.x()``) and async (``await driver.aio.x()``); a driver that lacks one
raises :class:`~overcast.errors.NotSupported` (see ``driver.supports()``).

A :class:`Record` is a **record set**: every value of one name and type, as
modern DNS APIs (Route 53, Google Cloud DNS, Azure DNS, PowerDNS) manage them.
``record.values`` holds them all and ``record.data`` is the first, for code
written against Apache Libcloud. Values are in zone-file presentation form,
with two conventions every driver keeps:

* MX and SRV values carry their priority (and weight and port) in the text:
  ``"10 mail.example.com."``, ``"10 5 5060 sip.example.com."``. Apache
  Libcloud's ``extra={"priority": 10}`` is folded into the value on create and
  update.
* TXT and SPF values are the text itself: no surrounding quotes, not split into
  255-byte strings (drivers join and split as their provider needs).

Host names in values (CNAME, NS, MX, SRV, ...) are fully qualified, with or
without the trailing dot.

Record data of every type dnspython knows is checked with dnspython before any
request (:mod:`overcast.dns.names`), and compared in dnspython's canonical form
(:func:`overcast.dns.records.canonical`): dnspython is a dependency of the DNS
area (``pip install "overcast[dns]"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import ClassVar
from typing import TypeVar

from overcast.dns import bind
from overcast.dns import names
from overcast.dns.models import DEFAULT_TTL
from overcast.dns.models import PSEUDO_TYPES
from overcast.dns.models import STANDARD_TYPES
from overcast.dns.models import Record
from overcast.dns.models import RecordData
from overcast.dns.models import RecordType
from overcast.dns.models import Zone
from overcast.dns.models import ZoneType
from overcast.driver import AsyncView
from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OvercastError
from overcast.errors import RecordAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.files import write_atomic
from overcast.runtime.operation import aio
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import not_supported
from overcast.runtime.operation import operation
from overcast.runtime.operation import requires
from overcast.runtime.ops import collect
from overcast.runtime.ops import find_first
from overcast.runtime.ops import pure

__all__ = [
    "DEFAULT_TTL",
    "PSEUDO_TYPES",
    "STANDARD_TYPES",
    "DNSDriver",
    "DNSDriverAsync",
    "Record",
    "RecordData",
    "RecordSpec",
    "RecordType",
    "Zone",
    "ZoneType",
    "batches",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """A record set as ``create_record`` or ``update_record`` asked for it, checked
    (:meth:`DNSDriver._new_set`, :meth:`DNSDriver._changed_set`).

    ``name`` is relative to the zone (``""`` for the apex), ``values`` every
    value of the set, ``ttl`` the TTL asked for (``None``: the zone's default
    for a new set, the current TTL for a replaced one). ``replaces`` is the set
    an update replaces (``None`` for a create).
    """

    zone: Zone
    name: str
    type: RecordType
    values: list[str]
    ttl: int | None
    replaces: Record | None = None

    @property
    def id(self) -> str:
        """``"name:TYPE"``, ``"@"`` for the apex."""
        return f"{self.name or '@'}:{self.type.value}"

    @property
    def moved(self) -> bool:
        """Whether an update gives the set another name or another type."""
        old = self.replaces
        return old is not None and (
            not names.same_name(self.name, old.name) or self.type.value != str(old.type).upper()
        )

    def check_free(self, present: Iterable[str], *, driver: Any = None) -> None:
        """Refuse this set where sets of the types ``present`` stand at its name
        (:func:`overcast.dns.names.check_free`: RecordAlreadyExists, the CNAME
        rule); the set an update replaces does not count."""
        types = {str(t).upper() for t in present}
        old = self.replaces
        if old is not None and names.same_name(self.name, old.name):
            types.discard(str(old.type).upper())
        names.check_free(self.name, self.type.value, types, driver=driver)


class DNSDriver(BaseDriver):
    """Base class of DNS drivers.

    Drivers implement the primitive operations (``iterate_zones``,
    ``get_zone``, ``create_zone``, ``update_zone``, ``delete_zone``,
    ``iterate_records``, ``get_record``, ``create_record``, ``update_record``,
    ``delete_record``) and set :attr:`record_types`; listing and zone-file
    export are built on them here, once. ``create_record`` and
    ``update_record`` check their arguments before any request with
    :meth:`_new_set` and :meth:`_changed_set` (built on
    :meth:`_validate_record`), which give a :class:`RecordSpec`: the set's
    relative name, type, values and TTL, whether an update moves it, and the
    check that its name is free (:meth:`RecordSpec.check_free`).
    """

    area: ClassVar[str] = "dns"
    async_view: ClassVar[type[AsyncView[Any]]]
    aio: DNSDriverAsync

    #: The record types this driver can create, in the order it lists them.
    record_types: ClassVar[tuple[RecordType, ...]] = ()

    # -- record types -----------------------------------------------------------

    @operation
    def list_record_types(self) -> Op[list[RecordType]]:
        """The record types this driver supports (from :attr:`record_types`)."""
        return (yield from pure(list(self.record_types)))

    # -- zones --------------------------------------------------------------------

    @iterator
    @not_supported
    def iterate_zones(self) -> Iter[Zone]:
        """Iterate over every zone of the account, page by page."""
        raise NotImplementedError

    list_zones = listing(iterate_zones, "List every zone of the account.")

    @operation
    @not_supported
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """Get a zone by id; :class:`~overcast.errors.ZoneNotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Create a zone for ``domain``.

        ``type`` is ``"master"`` (the provider serves the records it holds) or
        ``"slave"`` (it copies them from a primary named in ``extra``); ``ttl``
        is the default TTL of the zone's records.
        :class:`~overcast.errors.ZoneAlreadyExists` if the domain has a zone.
        """
        raise NotImplementedError

    @operation
    @not_supported
    def update_zone(self, zone: Zone, domain: str | None,
                    type: ZoneType | str | None = ZoneType.MASTER, ttl: int | None = None,
                    extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Change a zone and return it as it now is.

        An argument given as ``None`` keeps its current value (this is how
        :meth:`Zone.update` passes the ones it was not given).
        """
        raise NotImplementedError

    @operation
    @not_supported
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone and every record in it; :class:`~overcast.errors.ZoneNotFound`
        if absent."""
        raise NotImplementedError

    # -- records ------------------------------------------------------------------

    @iterator
    @not_supported
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """Iterate over the record sets of a zone, page by page."""
        raise NotImplementedError

    list_records = listing(iterate_records, "List the record sets of a zone.")

    @operation
    @not_supported
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """Get a record set by zone id and record id;
        :class:`~overcast.errors.RecordNotFound` (or
        :class:`~overcast.errors.ZoneNotFound`) if absent."""
        raise NotImplementedError

    @operation
    @requires("_store_new_set")
    def create_record(self, name: str, zone: Zone, type: RecordType | str, data: RecordData,
                      extra: Mapping[str, Any] | None = None, *,
                      ttl: int | None = None) -> Op[Record]:
        """Create a record set.

        ``name`` is relative to the zone (``""`` for the apex), ``data`` one
        value or a list of every value of the set. ``ttl`` (or Apache Libcloud's
        ``extra["ttl"]``) sets the TTL, else the zone's default applies.
        :class:`~overcast.errors.RecordAlreadyExists` if the zone has a set of
        this name and type; :class:`~overcast.errors.InvalidInput`, before any
        request, if the name or data is malformed, or for a CNAME beside other
        data.
        """
        spec = self._new_set(name, zone, type, data, extra, ttl)
        return (yield from self._store_new_set(spec))

    @operation
    @requires("_store_changed_set")
    def update_record(self, record: Record, name: str | None, type: RecordType | str | None,
                      data: RecordData | None, extra: Mapping[str, Any] | None = None, *,
                      ttl: int | None = None) -> Op[Record]:
        """Replace a record set's name, type, values or TTL; return it as it now is.

        An argument given as ``None`` keeps its current value; ``data`` replaces
        every value of the set. :class:`~overcast.errors.RecordNotFound` if the
        set is gone.
        """
        spec = self._changed_set(record, name, type, data, extra, ttl)
        return (yield from self._store_changed_set(record, spec))

    # The two hooks the create and update flows are built on.

    @not_supported
    def _store_new_set(self, spec: RecordSpec) -> Op[Record]:
        """Hook: write the new set ``spec`` describes and return it as stored.

        ``spec`` is checked (name relative to ``spec.zone``, values valid for
        the type); the driver checks that the name is free, with
        :meth:`RecordSpec.check_free`, as atomically as its provider allows.
        """
        raise NotImplementedError

    @not_supported
    def _store_changed_set(self, record: Record, spec: RecordSpec) -> Op[Record]:
        """Hook: replace ``record`` by the set ``spec`` describes (another name or
        type when ``spec.moved``; ``spec.ttl`` ``None`` keeps the set's TTL) and
        return it as stored; :class:`~overcast.errors.RecordNotFound` if it is gone.
        """
        raise NotImplementedError

    @operation
    @not_supported
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete a record set; :class:`~overcast.errors.RecordNotFound` if absent."""
        raise NotImplementedError

    # -- zone files ---------------------------------------------------------------

    @operation
    @requires("get_zone", "iterate_records")
    def export_zone_to_bind_format(self, zone: Zone | str) -> Op[str]:
        """The zone as RFC 1035 master-file text (``$ORIGIN``, ``$TTL``, one line
        per value; TXT values quoted and split into 255-byte strings).

        ``zone`` may be a :class:`Zone` or a zone id (fetched with ``get_zone``).
        Every line is written from dnspython's objects, so what a provider
        returns cannot add a line or a directive: names and values are quoted
        and escaped, and a set that has no zone-file form raises
        :class:`~overcast.errors.ProviderError` naming it
        (:func:`overcast.dns.bind.bind_zone_text`).
        """

        if isinstance(zone, str):
            zone = yield from self.get_zone.op(zone)
        records = yield from collect(self.iterate_records.op(zone))
        return bind.bind_zone_text(zone, records, driver=self)

    @operation
    @requires("export_zone_to_bind_format")
    def export_zone_to_bind_zone_file(
        self, zone: Zone | str, file_path: str | os.PathLike[str]
    ) -> Op[None]:
        """Write the zone's master-file text to ``file_path``.

        The text goes to a temporary file beside the destination, which replaces
        it only once complete, so a reader never sees a partial zone file.
        """
        text = yield from self.export_zone_to_bind_format.op(zone)
        yield Call(write_atomic, os.fspath(file_path), text)

    @operation
    @requires("get_zone", "create_record")
    def import_zone_from_bind_format(
        self, text: str, domain: str | None = None, *, replace: bool = False
    ) -> Op[Zone]:
        """Load RFC 1035 master-file text into a zone and return the zone.

        The origin is ``domain``, else the text's first ``$ORIGIN``. The zone is
        found by its domain (``iterate_zones``, else ``get_zone(domain)``) and
        created with ``create_zone`` (at the text's ``$TTL``) if it is missing and
        the driver can; otherwise it must exist
        (:class:`~overcast.errors.ZoneNotFound`). Every record set of the text is
        then written, except the SOA and the apex NS (the zone has its own).

        Everything is checked before anything is written. Text that does not
        parse, ``$INCLUDE`` and ``$GENERATE`` (which expands without bound), a
        malformed record, a TTL outside 0..2**31-1 or a type the driver lacks
        raise :class:`~overcast.errors.InvalidInput` (or
        :class:`~overcast.errors.NotSupported`). When the driver can list
        records, the zone's sets are read first: a set that already exists
        raises :class:`~overcast.errors.RecordAlreadyExists`, unless ``replace``
        is true (then it is replaced), and a set that would break the CNAME
        rule beside the zone's other sets raises InvalidInput.

        The sets are then written all or nothing, in as few writes as the
        provider allows (:meth:`_store_sets`): one file write, one PowerDNS
        ``PATCH``, RFC 2136 UPDATEs, Route 53 change batches, Cloud DNS changes.
        A provider without batch writes gets one set at a time; if a write
        fails, the sets already written are rolled back (a created set deleted,
        a replaced one put back) and the error raised says how many sets were
        written before it, which were rolled back and which could not be (they
        are still in the zone).
        """

        if not isinstance(text, str):
            raise InvalidInput("zone text must be a string", driver=self)
        if domain is not None:
            if domain in names.APEX_NAMES or domain == ".":
                raise InvalidInput(f"domain {domain!r} is not a zone domain", driver=self)
            names.validate_name(domain, wildcard=False, what="domain", driver=self)
        if replace and not (self.supports("iterate_records") and self.supports("update_record")):
            raise NotSupported(
                f"{type(self).__name__} cannot replace record sets on import", driver=self
            )
        origin, zone_ttl, checked = yield Call(self._read_import, text, domain)
        zone: Zone | None = None
        can_list, can_create = self.supports("iterate_zones"), self.supports("create_zone")
        if can_list:
            zone = yield from find_first(
                self.iterate_zones.op(), lambda z: names.same_name(z.domain, origin)
            )
        if zone is None and not (can_list and can_create):
            try:
                found = yield from self.get_zone.op(origin)
            except (ZoneNotFound, InvalidInput):
                found = None
            if found is not None and names.same_name(found.domain, origin):
                zone = found
        existing: dict[tuple[str, str], Record] = {}
        if zone is not None and self.supports("iterate_records"):
            for record in (yield from collect(self.iterate_records.op(zone))):
                existing[(_key_name(record.name), str(record.type).upper())] = record
            _check_import(checked, existing, replace, driver=self)
        if zone is None:
            if not can_create:
                raise ZoneNotFound(origin, driver=self)
            zone = yield from self.create_zone.op(origin, ttl=zone_ttl)
        specs = [
            RecordSpec(zone, spec.name, spec.type, spec.values, spec.ttl,
                       existing.get((_key_name(spec.name), spec.type.value)))
            for spec in checked
        ]
        if specs:
            yield from self._store_sets(zone, specs)
        return zone

    def _read_import(self, text: str, domain: str | None
                     ) -> tuple[str, int | None, list[RecordSpec]]:
        """An import's text parsed and checked (blocking: a large zone takes a
        while): its origin, its ``$TTL`` and every set it writes, as specs in a
        zone that stands for the one written to. Sets are checked as
        ``create_record`` checks them, and among themselves for the CNAME rule;
        a CNAME at the apex, where the zone's SOA and NS stand, is refused."""
        origin, zone_ttl, sets = bind.parse_master_file(text, domain, self)
        if zone_ttl is not None:
            names.check_ttl(zone_ttl, what="$TTL", driver=self)
        probe = Zone(origin, origin, ZoneType.MASTER.value, zone_ttl)
        checked: list[RecordSpec] = []
        at_name: dict[str, set[str]] = {}
        for name, rtype, values, ttl in sets:
            spec = self._new_set(name, probe, rtype, values, ttl=ttl)
            if spec.type is RecordType.CNAME and spec.name == "":
                raise InvalidInput("a CNAME may not stand at the zone apex", driver=self)
            here = at_name.setdefault(_key_name(spec.name), set())
            spec.check_free(here, driver=self)
            here.add(spec.type.value)
            checked.append(spec)
        return origin, zone_ttl, checked

    # The hook an import writes through, and the steps it is written in.

    def _store_sets(self, zone: Zone, specs: Sequence[RecordSpec]) -> Op[None]:
        """Hook: write the checked sets of an import, all or nothing, in as few
        writes as the provider allows; a spec whose ``replaces`` is set replaces
        that set. The names are free (checked against the zone's listing, when
        the driver has one).

        By default one set at a time (``create_record``, or ``update_record``
        for a set replaced), through :meth:`_write_steps`: if one fails, the
        sets written before it are rolled back.
        """
        made: dict[str, Record] = {}

        def write(step: Sequence[RecordSpec]) -> Op[None]:
            for spec in step:
                if spec.replaces is not None:
                    made[spec.id] = yield from self.update_record.op(
                        spec.replaces, None, None, spec.values, ttl=spec.ttl)
                else:
                    made[spec.id] = yield from self.create_record.op(
                        spec.name, zone, spec.type, spec.values, ttl=spec.ttl)

        def undo(step: Sequence[RecordSpec]) -> Op[None]:
            for spec in step:
                old = spec.replaces
                if old is None:
                    yield from self.delete_record.op(made[spec.id])
                else:
                    yield from self.update_record.op(made[spec.id], None, None,
                                                     list(old.values), ttl=old.ttl)

        yield from self._write_steps(zone, [[spec] for spec in specs], write, undo)

    def _write_steps(self, zone: Zone, steps: Sequence[Sequence[RecordSpec]],
                     write: Callable[[Sequence[RecordSpec]], Op[None]],
                     undo: Callable[[Sequence[RecordSpec]], Op[None]]) -> Op[None]:
        """Write sets in steps, each all or nothing (``write(step)``: one set, one
        batch). If a step fails (or the operation is cancelled), the steps
        written before it are undone, last first (``undo(step)``), and the
        error raised says how many sets were written, which were rolled back
        and which could not be (they are still in the zone)."""
        done: list[Sequence[RecordSpec]] = []

        def body() -> Op[None]:
            for step in steps:
                yield from write(step)
                done.append(step)

        def compensate(error: BaseException) -> Op[None]:
            undone: list[str] = []
            kept: list[str] = []
            try:
                for step in reversed(done):
                    try:
                        yield from undo(step)
                    except OvercastError:
                        kept += [spec.id for spec in step]
                    else:
                        undone += [spec.id for spec in step]
            finally:
                if isinstance(error, OvercastError):
                    total = sum(len(step) for step in steps)
                    written = sum(len(step) for step in done)
                    error.message += _partial_write(zone, written, total, undone, kept)

        yield Guarded(body(), compensate)

    # -- helpers for drivers --------------------------------------------------------

    def _validate_record(self, name: str, type: RecordType | str, values: RecordData, *,
                         extra: Mapping[str, Any] | None = None,
                         zone: Zone | None = None) -> tuple[str, RecordType, list[str]]:
        """Check a record set before sending it; return ``(name, type, values)``.

        ``name`` comes back as given (``"@"`` as ``""``), ``type`` as a
        :class:`RecordType`, ``values`` as a list, with Apache Libcloud's
        ``extra["priority"]`` folded into MX and SRV values that lack one.
        Raises :class:`~overcast.errors.InvalidInput` for a malformed name or
        value and :class:`~overcast.errors.NotSupported` for a type outside
        :attr:`record_types`. With ``zone``, the full name's length is checked.
        """
        try:
            rtype = RecordType(str(type).upper())
        except ValueError:
            raise InvalidInput(f"unknown record type {type!r}", driver=self) from None
        if self.record_types and rtype not in self.record_types:
            raise NotSupported(f"this driver does not support {rtype} records", driver=self)
        names.validate_name(
            name, origin=zone.domain if zone is not None else None, what="record name", driver=self
        )
        if isinstance(values, str):
            items = [values]
        elif isinstance(values, Sequence):
            items = list(values)
        else:
            raise InvalidInput("record data must be a string or a list of strings", driver=self)
        priority = (extra or {}).get("priority")
        if priority is not None and rtype in (RecordType.MX, RecordType.SRV):
            bare = 1 if rtype is RecordType.MX else 3
            items = [
                f"{priority} {v}" if isinstance(v, str) and len(v.split()) == bare else v
                for v in items
            ]
        checked = names.validate_record_data(rtype, items, driver=self)
        return ("" if name == "@" else name), rtype, checked

    def _record_ttl(self, ttl: int | None, extra: Mapping[str, Any] | None) -> int | None:
        """The TTL asked for: ``ttl``, else Apache Libcloud's ``extra["ttl"]``, else
        ``None``; :class:`~overcast.errors.InvalidInput` unless an integer from 0 to
        2**31-1 (:func:`overcast.dns.names.check_ttl`)."""
        if ttl is None and extra is not None:
            ttl = extra.get("ttl")
        return None if ttl is None else names.check_ttl(ttl, driver=self)

    def _new_set(self, name: str, zone: Zone, type: RecordType | str, data: RecordData,
                 extra: Mapping[str, Any] | None = None, ttl: int | None = None) -> RecordSpec:
        """``create_record``'s arguments, checked before any request
        (:meth:`_validate_record`, :meth:`_record_ttl`), with the name relative to
        the zone (an absolute name outside it is InvalidInput)."""
        rel, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        relative = self._set_name(rel, rtype, zone)
        return RecordSpec(zone, relative, rtype, values, self._record_ttl(ttl, extra))

    def _changed_set(self, record: Record, name: str | None, type: RecordType | str | None,
                     data: RecordData | None, extra: Mapping[str, Any] | None = None,
                     ttl: int | None = None) -> RecordSpec:
        """``update_record``'s arguments, checked before any request: ``None``
        keeps the set's name, type or values; ``spec.moved`` says whether the
        name or type changes, ``spec.ttl`` is ``None`` unless a TTL was asked for."""
        zone = record.zone
        rel, rtype, values = self._validate_record(
            record.name if name is None else name,
            record.type if type is None else type,
            list(record.values) if data is None else data,
            extra=extra,
            zone=zone,
        )
        relative = self._set_name(rel, rtype, zone)
        return RecordSpec(zone, relative, rtype, values, self._record_ttl(ttl, extra), record)

    def _set_name(self, name: str, rtype: RecordType, zone: Zone) -> str:
        """A checked set's name relative to ``zone`` (an absolute name outside it is
        InvalidInput); InvalidInput too for an SOA anywhere but at the apex, which
        no zone file could hold (RFC 1035, 5.2)."""
        relative = names.relative_name(name, zone.domain, strict=True, driver=self)
        if rtype is RecordType.SOA and relative != "":
            raise InvalidInput(
                f"an SOA set stands only at the zone apex, not at {relative!r}", driver=self
            )
        return relative


def batches(items: Sequence[T], size: Callable[[T], tuple[int, ...]],
            limits: tuple[int, ...]) -> list[list[T]]:
    """``items`` in order, cut into batches that keep within a provider's limits:
    ``size(item)`` measures an item in the units of ``limits`` (bytes, values,
    characters), and a batch's sums stay within every limit (an item larger
    than a limit makes a batch of its own)."""
    found: list[list[T]] = []
    current: list[T] = []
    totals = [0] * len(limits)
    for item in items:
        sizes = size(item)
        if current and any(t + n > limit for t, n, limit in zip(totals, sizes, limits,
                                                                 strict=True)):
            found.append(current)
            current, totals = [], [0] * len(limits)
        current.append(item)
        totals = [t + n for t, n in zip(totals, sizes, strict=True)]
    if current:
        found.append(current)
    return found


def _key_name(name: str) -> str:
    return "" if name in names.APEX_NAMES else name.rstrip(".").lower()


def _check_import(specs: Sequence[RecordSpec], existing: Mapping[tuple[str, str], Record],
                  replace: bool, *, driver: Any) -> None:
    """Refuse an import whose sets clash with the zone's ``existing`` sets:
    RecordAlreadyExists for a set that exists (unless ``replace``), InvalidInput
    for the CNAME rule (a set replaced does not count against its successor)."""
    if not replace:
        for spec in specs:
            if (_key_name(spec.name), spec.type.value) in existing:
                raise RecordAlreadyExists(spec.id, driver=driver)
    present: dict[str, set[str]] = {}
    for name, rtype in existing:
        present.setdefault(name, set()).add(rtype)
    for spec in specs:
        here = present.setdefault(_key_name(spec.name), set())
        names.check_free(spec.name, spec.type.value, here - {spec.type.value}, driver=driver)
        here.add(spec.type.value)


#: How many record ids an error message lists before it says "and N more".
_SHOWN_IDS = 10


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_SHOWN_IDS])
    return shown + (f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else "")


def _partial_write(zone: Zone, written: int, total: int, undone: Sequence[str],
                   kept: Sequence[str]) -> str:
    """What an error says about the sets written before it (see
    :meth:`DNSDriver._write_steps`)."""
    if not written:
        return f" (nothing was written to {zone.domain})"
    text = f" ({written} of {total} record sets were written to {zone.domain} before this error"
    if undone:
        text += f"; rolled back: {_ids(undone)}"
    if kept:
        text += f"; could not be rolled back, still in the zone: {_ids(kept)}"
    return text + ")"


class DNSDriverAsync(AsyncView[DNSDriver]):
    """``driver.aio`` of a DNS driver: every operation, awaitable."""

    list_record_types = aio(DNSDriver.list_record_types)
    iterate_zones = aio(DNSDriver.iterate_zones)
    list_zones = aio(DNSDriver.list_zones)
    get_zone = aio(DNSDriver.get_zone)
    create_zone = aio(DNSDriver.create_zone)
    update_zone = aio(DNSDriver.update_zone)
    delete_zone = aio(DNSDriver.delete_zone)
    iterate_records = aio(DNSDriver.iterate_records)
    list_records = aio(DNSDriver.list_records)
    get_record = aio(DNSDriver.get_record)
    create_record = aio(DNSDriver.create_record)
    update_record = aio(DNSDriver.update_record)
    delete_record = aio(DNSDriver.delete_record)
    export_zone_to_bind_format = aio(DNSDriver.export_zone_to_bind_format)
    export_zone_to_bind_zone_file = aio(DNSDriver.export_zone_to_bind_zone_file)
    import_zone_from_bind_format = aio(DNSDriver.import_zone_from_bind_format)


DNSDriver.async_view = DNSDriverAsync
