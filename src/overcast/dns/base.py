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
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeAlias

from overcast.dns import names
from overcast.dns.records import from_presentation, to_presentation
from overcast.driver import AsyncView, BaseDriver
from overcast.errors import (
    InvalidInput,
    NotSupported,
    RecordAlreadyExists,
    ZoneNotFound,
)
from overcast.models import Model
from overcast.runtime.effects import Call, Iter, Op
from overcast.runtime.files import write_atomic
from overcast.runtime.operation import aio, iterator, not_supported, operation, requires
from overcast.runtime.ops import collect, find_first, pure

__all__ = [
    "DEFAULT_TTL",
    "DNSDriver",
    "DNSDriverAsync",
    "Record",
    "RecordData",
    "RecordType",
    "Zone",
    "ZoneType",
    "bind_zone_text",
]

#: The ``$TTL`` written to a zone file when neither the zone nor a record has one.
DEFAULT_TTL = 3600

#: What ``create_record`` and ``update_record`` take as data: one value or all of a set.
RecordData: TypeAlias = str | Sequence[str]


class RecordType(StrEnum):
    """DNS record types (the value is the type's mnemonic).

    ``ALIAS``, ``GEO``, ``REDIRECT`` and ``URL`` are provider pseudo-types kept
    from Apache Libcloud; a driver lists what it supports in
    :attr:`DNSDriver.record_types`.
    """

    A = "A"
    AAAA = "AAAA"
    AFSDB = "AFSDB"
    ALIAS = "ALIAS"
    CAA = "CAA"
    CERT = "CERT"
    CNAME = "CNAME"
    DNAME = "DNAME"
    DNSKEY = "DNSKEY"
    DS = "DS"
    GEO = "GEO"
    HINFO = "HINFO"
    HTTPS = "HTTPS"
    KEY = "KEY"
    LOC = "LOC"
    MX = "MX"
    NAPTR = "NAPTR"
    NS = "NS"
    NSEC = "NSEC"
    OPENPGPKEY = "OPENPGPKEY"
    PTR = "PTR"
    REDIRECT = "REDIRECT"
    RP = "RP"
    RRSIG = "RRSIG"
    SOA = "SOA"
    SPF = "SPF"
    SRV = "SRV"
    SSHFP = "SSHFP"
    SVCB = "SVCB"
    TLSA = "TLSA"
    TXT = "TXT"
    URI = "URI"
    URL = "URL"
    WKS = "WKS"


class ZoneType(StrEnum):
    """Whether the provider serves a zone from its own data (``MASTER``, a primary
    zone) or copies it from another server (``SLAVE``, a secondary zone).

    The values are Apache Libcloud's strings.
    """

    MASTER = "master"
    SLAVE = "slave"


@dataclass(slots=True, eq=False)
class Zone(Model["DNSDriver"]):
    """A DNS zone: a domain and the record sets under it.

    ``type`` is a :class:`ZoneType` value (``"master"`` or ``"slave"``), ``ttl``
    the default TTL of its records in seconds (``None`` if the provider has
    none).
    """

    _kind: ClassVar[str] = "zone"

    id: str
    domain: str
    type: str
    ttl: int | None
    driver: DNSDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def _label(self) -> object:
        return self.domain

    def iterate_records(self) -> Iterator[Record]:
        """Iterate over the record sets of this zone."""
        return self._driver().iterate_records(self)

    def list_records(self) -> list[Record]:
        """List the record sets of this zone."""
        return self._driver().list_records(self)

    def create_record(
        self,
        name: str,
        type: RecordType | str,
        data: RecordData,
        extra: Mapping[str, Any] | None = None,
        *,
        ttl: int | None = None,
    ) -> Record:
        """Create a record set in this zone (see :meth:`DNSDriver.create_record`)."""
        return self._driver().create_record(name, self, type, data, extra, ttl=ttl)

    def update(
        self,
        domain: str | None = None,
        type: ZoneType | str | None = None,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Zone:
        """Change this zone; arguments left ``None`` keep their value."""
        return self._driver().update_zone(self, domain, type, ttl, extra)

    def delete(self) -> bool:
        """Delete this zone and every record in it."""
        return self._driver().delete_zone(self)

    def export_to_bind_format(self) -> str:
        """This zone as RFC 1035 master-file text."""
        return self._driver().export_zone_to_bind_format(self)

    def export_to_bind_zone_file(self, file_path: str | os.PathLike[str]) -> None:
        """Write this zone to a master file, atomically."""
        self._driver().export_zone_to_bind_zone_file(self, file_path)


@dataclass(slots=True, eq=False)
class Record(Model["DNSDriver"]):
    """A record set: every value of one name and type in a zone.

    ``name`` is relative to the zone (``"www"``; ``""`` for the apex).
    ``values`` holds every value of the set, ``data`` is ``values[0]``; give
    either (``values`` defaults to ``[data]``). ``ttl`` is in seconds, ``None``
    when the record uses the zone's default.
    """

    _kind: ClassVar[str] = "record"

    id: str
    name: str
    type: str
    data: str
    zone: Zone
    driver: DNSDriver | None = field(default=None, repr=False)
    ttl: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    _: KW_ONLY
    values: list[str] = field(default_factory=list)

    def _identity(self) -> tuple[object, ...]:
        return (self.id, self.zone.id)

    def _label(self) -> object:
        return self.name

    def __post_init__(self) -> None:
        if not self.values:
            self.values = [self.data]
        elif self.data != self.values[0]:
            raise InvalidInput(
                f"record {self.name!r}: data {self.data!r} is not values[0] {self.values[0]!r}"
            )

    @property
    def fqdn(self) -> str:
        """The record's fully-qualified name, with the trailing dot."""
        return names.absolute_name(self.name, self.zone.domain)

    def update(
        self,
        name: str | None = None,
        type: RecordType | str | None = None,
        data: RecordData | None = None,
        extra: Mapping[str, Any] | None = None,
        *,
        ttl: int | None = None,
    ) -> Record:
        """Change this record set; arguments left ``None`` keep their value."""
        return self._driver().update_record(self, name, type, data, extra, ttl=ttl)

    def delete(self) -> bool:
        """Delete this record set."""
        return self._driver().delete_record(self)


class DNSDriver(BaseDriver):
    """Base class of DNS drivers.

    Drivers implement the primitive operations (``iterate_zones``,
    ``get_zone``, ``create_zone``, ``update_zone``, ``delete_zone``,
    ``iterate_records``, ``get_record``, ``create_record``, ``update_record``,
    ``delete_record``) and set :attr:`record_types`; listing and zone-file
    export are built on them here, once. ``create_record`` and
    ``update_record`` call :meth:`_validate_record` before any request.
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

    @operation
    @requires("iterate_zones")
    def list_zones(self) -> Op[list[Zone]]:
        """List every zone of the account."""
        return (yield from collect(self.iterate_zones.op()))

    @operation
    @not_supported
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """Get a zone by id; :class:`~overcast.errors.ZoneNotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Create a zone for ``domain``.

        ``type`` is ``"master"`` (the provider serves the records it holds) or
        ``"slave"`` (it copies them from a primary named in ``extra``); ``ttl``
        is the default TTL of the zone's records.
        :class:`~overcast.errors.ZoneAlreadyExists` if the domain has a zone.
        """
        raise NotImplementedError

    @operation
    @not_supported
    def update_zone(
        self,
        zone: Zone,
        domain: str | None,
        type: ZoneType | str | None = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
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

    @operation
    @requires("iterate_records")
    def list_records(self, zone: Zone) -> Op[list[Record]]:
        """List the record sets of a zone."""
        return (yield from collect(self.iterate_records.op(zone)))

    @operation
    @not_supported
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """Get a record set by zone id and record id;
        :class:`~overcast.errors.RecordNotFound` (or
        :class:`~overcast.errors.ZoneNotFound`) if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_record(
        self,
        name: str,
        zone: Zone,
        type: RecordType | str,
        data: RecordData,
        extra: Mapping[str, Any] | None = None,
        *,
        ttl: int | None = None,
    ) -> Op[Record]:
        """Create a record set.

        ``name`` is relative to the zone (``""`` for the apex), ``data`` one
        value or a list of every value of the set. ``ttl`` (or Apache Libcloud's
        ``extra["ttl"]``) sets the TTL, else the zone's default applies.
        :class:`~overcast.errors.RecordAlreadyExists` if the zone has a set of
        this name and type; :class:`~overcast.errors.InvalidInput`, before any
        request, if the name or data is malformed.
        """
        raise NotImplementedError

    @operation
    @not_supported
    def update_record(
        self,
        record: Record,
        name: str | None,
        type: RecordType | str | None,
        data: RecordData | None,
        extra: Mapping[str, Any] | None = None,
        *,
        ttl: int | None = None,
    ) -> Op[Record]:
        """Replace a record set's name, type, values or TTL; return it as it now is.

        An argument given as ``None`` keeps its current value; ``data`` replaces
        every value of the set.
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
        return bind_zone_text(zone, records)

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
        origin, zone_ttl, sets = yield Call(_parse_master_file, text, domain, self)
        probe = Zone(origin, origin, ZoneType.MASTER.value, zone_ttl)
        checked = [
            (*self._validate_record(name, rtype, values, zone=probe), ttl)
            for name, rtype, values, ttl in sets
        ]
        zone: Zone | None = None
        can_list, can_create = self.supports("iterate_zones"), self.supports("create_zone")
        if can_list:
            zone = yield from find_first(
                self.iterate_zones.op(), lambda z: _same_domain(z.domain, origin)
            )
        if zone is None and not (can_list and can_create):
            try:
                found = yield from self.get_zone.op(origin)
            except (ZoneNotFound, InvalidInput):
                found = None
            if found is not None and _same_domain(found.domain, origin):
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

    def _validate_record(
        self,
        name: str,
        type: RecordType | str,
        values: RecordData,
        *,
        extra: Mapping[str, Any] | None = None,
        zone: Zone | None = None,
    ) -> tuple[str, RecordType, list[str]]:
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


# -- master-file text ---------------------------------------------------------------


def bind_zone_text(zone: Zone, records: Sequence[Record]) -> str:
    """RFC 1035 master-file text for ``zone`` holding ``records``.

    ``$ORIGIN`` and ``$TTL`` (the zone's TTL, else :data:`DEFAULT_TTL`), then
    one line per value with an absolute owner name and an explicit TTL, the
    SOA set first. TXT and SPF values are quoted and split into 255-byte
    strings; MX and SRV values keep their priority in the text.
    """
    origin = names.absolute_name("", zone.domain)
    zone_ttl = zone.ttl if zone.ttl is not None else DEFAULT_TTL
    lines = [f"$ORIGIN {origin}", f"$TTL {zone_ttl}"]
    ordered = sorted(records, key=lambda r: str(r.type).upper() != "SOA")
    for record in ordered:
        rtype = str(record.type).upper()
        owner = names.absolute_name(record.name, zone.domain)
        ttl = record.ttl if record.ttl is not None else zone_ttl
        for value in record.values:
            text = to_presentation(rtype, value)
            lines.append(f"{owner}\t{ttl}\tIN\t{rtype}\t{text}")
    return "\n".join(lines) + "\n"


_TTL_LINE = re.compile(r"^\$TTL[ \t]+(\S+)", re.MULTILINE | re.IGNORECASE)
#: A zone's own sets, which an import leaves to the zone (at the apex).
_APEX_OWN = frozenset({"SOA", "NS"})


def _same_domain(a: str, b: str) -> bool:
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def _key_name(name: str) -> str:
    return "" if name in names.APEX_NAMES else name.rstrip(".").lower()


def _parse_master_file(
    text: str, domain: str | None, driver: Any
) -> tuple[str, int | None, list[tuple[str, str, list[str], int]]]:
    """Parse master-file text (blocking; dnspython): the origin, the ``$TTL`` and
    every record set but the SOA and apex NS as ``(relative name, type, values in
    overcast's form, ttl)``. InvalidInput if it does not parse."""
    try:
        import dns.exception
        import dns.name
        import dns.rdatatype
        import dns.ttl
        import dns.zone
    except ImportError:  # pragma: no cover - dnspython is the "dns" extra
        raise NotSupported(
            "importing zone files needs dnspython (pip install 'overcast[dns]')", driver=driver
        ) from None
    start = None
    if domain is not None:
        start = dns.name.from_text(domain if domain.endswith(".") else domain + ".")
    try:
        model = dns.zone.from_text(
            text, origin=start, relativize=False, check_origin=False, allow_include=False
        )
    except (dns.exception.DNSException, ValueError, KeyError) as exc:
        raise InvalidInput(f"zone text does not parse: {exc}", driver=driver) from None
    origin = model.origin
    if origin is None:  # pragma: no cover - dnspython raises UnknownOrigin first
        raise InvalidInput("zone text has no $ORIGIN; give domain=", driver=driver)
    zone_ttl: int | None = None
    match = _TTL_LINE.search(text)
    if match is not None:
        try:
            zone_ttl = int(dns.ttl.from_text(match.group(1)))
        except dns.exception.DNSException:
            zone_ttl = None
    sets: list[tuple[str, str, list[str], int]] = []
    for owner in sorted(model.nodes):
        name = "" if owner == origin else owner.relativize(origin).to_text()
        for rdataset in model.nodes[owner].rdatasets:
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            if (name == "" and rtype in _APEX_OWN) or rtype == "SOA" or not len(rdataset):
                continue
            values = [from_presentation(rtype, r.to_text(relativize=False)) for r in rdataset]
            sets.append((name, rtype, values, int(rdataset.ttl)))
    return origin.to_text(), zone_ttl, sets


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
