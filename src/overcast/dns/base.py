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
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import ClassVar

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
from overcast.errors import RecordAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.effects import Call
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
]

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
        """

        if isinstance(zone, str):
            zone = yield from self.get_zone.op(zone)
        records = yield from collect(self.iterate_records.op(zone))
        return bind.bind_zone_text(zone, records)

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
        then created, except the SOA and the apex NS (the zone has its own).

        Text that does not parse, a malformed record or a type the driver lacks
        raises :class:`~overcast.errors.InvalidInput` (or
        :class:`~overcast.errors.NotSupported`) before anything is written. A set
        that already exists raises :class:`~overcast.errors.RecordAlreadyExists`
        (before any write when the driver can list records), unless ``replace``
        is true: then it is replaced with ``update_record``. ``$INCLUDE`` is
        refused.
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
        origin, zone_ttl, sets = yield Call(bind.parse_master_file, text, domain, self)
        probe = Zone(origin, origin, ZoneType.MASTER.value, zone_ttl)
        checked = [
            (*self._validate_record(name, rtype, values, zone=probe), ttl)
            for name, rtype, values, ttl in sets
        ]
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
            if not replace:
                for name, rtype, _, _ in checked:
                    if (_key_name(name), rtype.value) in existing:
                        raise RecordAlreadyExists(
                            f"{name or '@'}:{rtype.value}", driver=self
                        )
        if zone is None:
            if not can_create:
                raise ZoneNotFound(origin, driver=self)
            zone = yield from self.create_zone.op(origin, ttl=zone_ttl)
        for name, rtype, values, ttl in checked:
            current = existing.get((_key_name(name), rtype.value))
            if current is not None:
                yield from self.update_record.op(current, None, None, values, ttl=ttl)
            else:
                yield from self.create_record.op(name, zone, rtype, values, ttl=ttl)
        return zone

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
        ``None``; :class:`~overcast.errors.InvalidInput` unless a non-negative integer."""
        if ttl is None and extra is not None:
            ttl = extra.get("ttl")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0):
            raise InvalidInput(f"ttl must be a non-negative integer: {ttl!r}", driver=self)
        return ttl

    def _new_set(self, name: str, zone: Zone, type: RecordType | str, data: RecordData,
                 extra: Mapping[str, Any] | None = None, ttl: int | None = None) -> RecordSpec:
        """``create_record``'s arguments, checked before any request
        (:meth:`_validate_record`, :meth:`_record_ttl`), with the name relative to
        the zone (an absolute name outside it is InvalidInput)."""
        rel, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        relative = names.relative_name(rel, zone.domain, strict=True, driver=self)
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
        relative = names.relative_name(rel, zone.domain, strict=True, driver=self)
        return RecordSpec(zone, relative, rtype, values, self._record_ttl(ttl, extra), record)


def _key_name(name: str) -> str:
    return "" if name in names.APEX_NAMES else name.rstrip(".").lower()


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
