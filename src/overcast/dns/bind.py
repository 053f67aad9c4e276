"""Zone files and dnspython zones: master-file text written and parsed in one place.

RFC 1035 master files are read with dnspython (:func:`read_master_file`) and
written by :func:`master_file`, whose lines every writer shares: the zone-file
export of any driver (:func:`bind_zone_text`), the zone-file driver's files
(:func:`render_zone`). The helpers between a dnspython zone and overcast's
models (:func:`make_record`, :func:`zone_records`, :func:`rdatas_from_values`,
record ids) serve the drivers that keep or move whole zones as dnspython
models: the zone-file driver and the RFC 2136 driver.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

# First, so that a missing dnspython is reported with the extra that brings it.
from overcast.dns.records import knows
from overcast.dns.records import rdata_text
from overcast.dns.records import to_rdata

# isort: split
import dns.exception
import dns.name
import dns.rdata
import dns.rdataset
import dns.rdatatype
import dns.ttl
import dns.zone

from overcast.dns import names
from overcast.dns.models import DEFAULT_TTL
from overcast.dns.models import RecordSet
from overcast.dns.models import RecordType
from overcast.dns.models import Zone
from overcast.dns.models import ZoneType
from overcast.errors import InvalidInput
from overcast.errors import ProviderError

if TYPE_CHECKING:
    from overcast.dns.base import DNSDriver

__all__ = [
    "Row",
    "bind_zone_text",
    "deletable_set",
    "delete_set",
    "make_record",
    "master_file",
    "master_file_ttl",
    "master_zone",
    "owner_name",
    "parse_master_file",
    "parse_record_id",
    "put_set",
    "rdatas_from_values",
    "rdatatype",
    "read_master_file",
    "record_id",
    "relative_owner",
    "render_zone",
    "sets_at",
    "type_of",
    "values_of",
    "zone_origin",
    "zone_records",
]

#: One line of a master file: absolute owner, TTL, type mnemonic, data in zone-file form.
Row = tuple[str, int, str, str]

_TTL_DIRECTIVE: Final = re.compile(r"^\$TTL[ \t]+(\S+)", re.MULTILINE | re.IGNORECASE)
#: The directives an imported text may use.
_IMPORT_DIRECTIVES: Final = ("$ORIGIN", "$TTL")
#: A zone's own sets, which an import leaves to the zone (at the apex).
_APEX_OWN: Final = frozenset({"SOA", "NS"})


# -- names and ids ------------------------------------------------------------------------


def zone_origin(domain: str, *, driver: Any = None) -> dns.name.Name:
    """A zone's domain (or zone id) as an absolute, lower-case dnspython name.

    :class:`~overcast.errors.InvalidInput` for a malformed domain or the root.
    """
    if not isinstance(domain, str):
        raise InvalidInput(f"zone domain must be a string: {domain!r}", driver=driver)
    if domain.strip(".") == "" or domain == "@":
        raise InvalidInput(f"zone domain {domain!r} is not a domain", driver=driver)
    names.validate_name(domain, wildcard=False, what="zone domain", driver=driver)
    return dns.name.from_text(names.absolute_name("", domain.lower()))


def master_zone(origin: dns.name.Name, driver: DNSDriver, *, ttl: int | None = None,
                extra: dict[str, Any] | None = None) -> Zone:
    """The master zone of ``origin``, as a driver that serves zones by their
    origin answers it: id and domain are the origin's text."""
    domain = origin.to_text()
    return Zone(id=domain, domain=domain, type=ZoneType.MASTER.value, ttl=ttl,
                driver=driver, extra=extra or {})


def owner_name(name: str, origin: dns.name.Name, *, driver: Any = None) -> dns.name.Name:
    """A record name (relative, ``""``/``"@"`` for the apex, or absolute) as an
    absolute name inside ``origin``; InvalidInput if it lies outside the zone."""
    if name in names.APEX_NAMES:
        return origin
    try:
        owner = dns.name.from_text(name, origin)
    except dns.exception.DNSException as exc:
        raise InvalidInput(f"record name {name!r}: {exc}", driver=driver) from None
    if not owner.is_subdomain(origin):
        raise InvalidInput(
            f"record name {name!r} is not inside the zone {origin.to_text()}", driver=driver
        )
    return owner


def relative_owner(owner: dns.name.Name, origin: dns.name.Name) -> str:
    """A record's owner relative to the zone, ``""`` for the apex."""
    if owner == origin:
        return ""
    return str(owner.relativize(origin).to_text())


def type_of(rdtype: int) -> RecordType | str:
    """A dnspython type as a :class:`RecordType` (its mnemonic if overcast has none)."""
    text = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
    try:
        return RecordType(text)
    except ValueError:
        return text


def rdatatype(rtype: str, *, driver: Any = None) -> dns.rdatatype.RdataType:
    """A type mnemonic as a dnspython type; InvalidInput if there is no such type."""
    try:
        return dns.rdatatype.from_text(str(rtype).upper())
    except dns.exception.DNSException:
        raise InvalidInput(f"unknown record type {rtype!r}", driver=driver) from None


def deletable_set(name: str, rtype: str, origin: dns.name.Name, *,
                  driver: Any = None) -> tuple[dns.name.Name, dns.rdatatype.RdataType]:
    """The owner and type of a record set to delete from the zone of ``origin``;
    :class:`~overcast.errors.InvalidInput` for the SOA and apex NS sets, which a
    zone cannot be without."""
    owner = owner_name(name, origin, driver=driver)
    rdtype = rdatatype(rtype, driver=driver)
    if owner == origin and rdtype in (dns.rdatatype.SOA, dns.rdatatype.NS):
        raise InvalidInput(
            f"the apex {dns.rdatatype.to_text(rdtype)} set of a zone cannot be deleted",
            driver=driver,
        )
    return owner, rdtype


def record_id(name: str, rdtype: int | str) -> str:
    """The id of a record set: ``"name:TYPE"``, ``"@"`` for the apex."""
    if isinstance(rdtype, str):
        text = rdtype
    else:
        text = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
    return f"{name if name not in names.APEX_NAMES else '@'}:{str(text).upper()}"


def parse_record_id(
    value: str, origin: dns.name.Name
) -> tuple[dns.name.Name, dns.rdatatype.RdataType] | None:
    """The owner and type a record id names, or ``None`` if it is not one."""
    if not isinstance(value, str) or ":" not in value:
        return None
    name, _, rtype = value.rpartition(":")
    try:
        names.validate_name(name, origin=origin.to_text())
        owner = owner_name(name, origin)
        rdtype = dns.rdatatype.from_text(rtype)
    except (InvalidInput, dns.exception.DNSException):
        return None
    return owner, rdtype


# -- values and record sets ------------------------------------------------------------------


def rdatas_from_values(
    rtype: RecordType | str, values: Sequence[str], *, driver: Any = None
) -> list[dns.rdata.Rdata]:
    """overcast's values of a set as dnspython rdata (host names absolute);
    :class:`~overcast.errors.InvalidInput` for a value dnspython cannot parse."""
    return [to_rdata(str(rtype), value, driver=driver) for value in values]


def values_of(*rdatasets: dns.rdataset.Rdataset) -> list[str]:
    """The values of dnspython rdatasets in overcast's form."""
    return [rdata_text(rdata) for rdataset in rdatasets for rdata in rdataset]


def make_record(owner: dns.name.Name, rdatasets: Sequence[dns.rdataset.Rdataset],
                origin: dns.name.Name, zone: Zone, driver: DNSDriver) -> RecordSet:
    """A :class:`RecordSet` for one record set of a zone: the rdatasets of one type
    at one name (see :func:`sets_at`)."""
    name = relative_owner(owner, origin)
    values = values_of(*rdatasets)
    return RecordSet(
        id=record_id(name, rdatasets[0].rdtype),
        name=name,
        type=type_of(rdatasets[0].rdtype),
        data=values[0],
        zone=zone,
        driver=driver,
        ttl=int(rdatasets[0].ttl),
        values=values,
    )


def sets_at(
    model: dns.zone.Zone, owner: dns.name.Name, rdtype: int
) -> list[dns.rdataset.Rdataset]:
    """The record set of type ``rdtype`` at ``owner``: its rdatasets (dnspython
    keeps RRSIG and SIG records apart by the type they cover; one for any other
    type), none if there is no such set."""
    node = model.get_node(owner)
    if node is None:
        return []
    return [rs for rs in node.rdatasets if rs.rdtype == rdtype and len(rs)]


def delete_set(model: dns.zone.Zone, owner: dns.name.Name, rdtype: int) -> bool:
    """Delete the record set of type ``rdtype`` at ``owner``; whether there was one."""
    found = sets_at(model, owner, rdtype)
    for rdataset in found:
        model.delete_rdataset(owner, rdataset.rdtype, rdataset.covers)
    return bool(found)


def put_set(model: dns.zone.Zone, owner: dns.name.Name, ttl: int,
            rdatas: Sequence[dns.rdata.Rdata]) -> list[dns.rdataset.Rdataset]:
    """Make ``rdatas`` (of one type) the record set of their type at ``owner``."""
    delete_set(model, owner, rdatas[0].rdtype)
    groups: dict[int, list[dns.rdata.Rdata]] = {}
    for rdata in rdatas:
        groups.setdefault(int(rdata.covers()), []).append(rdata)
    made = [dns.rdataset.from_rdata_list(ttl, group) for group in groups.values()]
    for rdataset in made:
        model.replace_rdataset(owner, rdataset)
    return made


def _type_order(rdataset: dns.rdataset.Rdataset) -> tuple[int, int, int]:
    return (0 if rdataset.rdtype == dns.rdatatype.SOA else 1, int(rdataset.rdtype),
            int(rdataset.covers))


def _rdatasets(
    model: dns.zone.Zone,
) -> Iterable[tuple[dns.name.Name, dns.rdataset.Rdataset]]:
    """Every non-empty rdataset of a zone: in canonical name order, the SOA first
    at its name, then by type number."""
    for owner in sorted(model.nodes):
        for rdataset in sorted(model.nodes[owner].rdatasets, key=_type_order):
            if len(rdataset):
                yield owner, rdataset


def _sets(
    model: dns.zone.Zone,
) -> Iterable[tuple[dns.name.Name, list[dns.rdataset.Rdataset]]]:
    """Every record set of a zone, in the order of :func:`_rdatasets`."""
    for (owner, _), pairs in itertools.groupby(
        _rdatasets(model), key=lambda pair: (pair[0], pair[1].rdtype)
    ):
        yield owner, [rdataset for _, rdataset in pairs]


def zone_records(
    model: dns.zone.Zone, origin: dns.name.Name, zone: Zone, driver: DNSDriver
) -> list[RecordSet]:
    """Every record set of a dnspython zone (absolute names), the SOA first, then
    in canonical name order and type order."""
    return [make_record(owner, rdatasets, origin, zone, driver)
            for owner, rdatasets in _sets(model)]


# -- master-file text ---------------------------------------------------------------------------


def master_file(origin: str, ttl: int | None, rows: Iterable[Row],
                *, comment: str | None = None) -> str:
    """RFC 1035 master-file text: an optional comment line, ``$ORIGIN``, ``$TTL``
    (when ``ttl`` is given), then one line per row with an absolute owner and an
    explicit TTL."""
    lines = [f"; {comment}"] if comment else []
    lines.append(f"$ORIGIN {origin}")
    if ttl is not None:
        lines.append(f"$TTL {ttl}")
    lines += [f"{owner}\t{row_ttl}\tIN\t{rtype}\t{text}" for owner, row_ttl, rtype, text in rows]
    return "\n".join(lines) + "\n"


def bind_zone_text(zone: Zone, records: Sequence[RecordSet], *, driver: Any = None) -> str:
    """RFC 1035 master-file text for ``zone`` holding ``records``.

    ``$ORIGIN`` and ``$TTL`` (the zone's TTL, else :data:`~overcast.dns.base.DEFAULT_TTL`),
    then one line per value with an absolute owner name and an explicit TTL, the
    SOA set first. TXT and SPF values are quoted and split into 255-byte
    strings; MX and SRV values keep their priority in the text.

    Names, values and TTLs come from a provider, so every line is built from
    dnspython's objects and written in dnspython's text form: a name or value
    with a space, a quote, a ``;`` or a line break is escaped, never written as
    is. What has no zone-file form (a value that does not parse for its type,
    a type dnspython does not know, a name outside the zone, a TTL outside
    0..2**31-1) raises :class:`~overcast.errors.ProviderError` naming the set.
    """
    origin = _exported_name(zone.domain, dns.name.root, f"zone {zone.domain!r}", driver)
    zone_ttl = zone.ttl if zone.ttl is not None else DEFAULT_TTL
    _exported_ttl(zone_ttl, f"zone {zone.domain!r}", driver)
    ordered = sorted(records, key=lambda r: str(r.type).upper() != "SOA")
    rows: list[Row] = []
    for record in ordered:
        rtype = str(record.type).upper()
        what = f"record set {record.name or '@'}:{rtype} of {zone.domain}"
        owner = _exported_name(record.name, origin, what, driver)
        ttl = _exported_ttl(record.ttl if record.ttl is not None else zone_ttl, what, driver)
        if not knows(rtype):
            raise ProviderError(f"{what}: {rtype} records have no zone-file form",
                                code="UnrepresentableRecord", driver=driver)
        for value in record.values:
            try:
                rdata = to_rdata(rtype, value)
            except InvalidInput as exc:
                raise ProviderError(f"{what} cannot be written in a zone file: {exc.message}",
                                    code="UnrepresentableRecord", driver=driver) from None
            rows.append((owner.to_text(), ttl, rtype, rdata.to_text(relativize=False)))
    return master_file(origin.to_text(), zone_ttl, rows)


def _exported_name(name: str, origin: dns.name.Name, what: str, driver: Any) -> dns.name.Name:
    """A provider's record name (or zone domain, with the root as ``origin``) as
    an absolute dnspython name inside ``origin``; ProviderError if it has none."""
    if name in names.APEX_NAMES:
        return origin
    try:
        if not name.isascii():
            raise ValueError("not ASCII")
        owner = dns.name.from_text(name, origin)
    except (dns.exception.DNSException, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ProviderError(f"{what}: the name {name!r} has no zone-file form: {reason}",
                            code="UnrepresentableRecord", driver=driver) from None
    if not owner.is_subdomain(origin):
        raise ProviderError(f"{what}: the name {name!r} is outside {origin.to_text()}",
                            code="UnrepresentableRecord", driver=driver)
    return owner


def _exported_ttl(ttl: object, what: str, driver: Any) -> int:
    """A provider's TTL, checked as a zone file needs it; ProviderError if it is not
    an integer from 0 to 2**31-1."""
    try:
        return names.check_ttl(ttl)
    except InvalidInput:
        raise ProviderError(f"{what}: the TTL {ttl!r} has no zone-file form",
                            code="UnrepresentableRecord", driver=driver) from None


def render_zone(model: dns.zone.Zone, origin: dns.name.Name, ttl: int | None,
                *, comment: str | None = None) -> str:
    """A dnspython zone as master-file text (see :func:`master_file`): the SOA
    first, then in canonical name order and type order."""
    rows = [
        (owner.to_text(), int(rdataset.ttl), dns.rdatatype.to_text(rdataset.rdtype),
         rdata.to_text(relativize=False))
        for owner, rdataset in _rdatasets(model)
        for rdata in rdataset
    ]
    return master_file(origin.to_text(), ttl, rows, comment=comment)


def master_file_ttl(text: str) -> int | None:
    """The first ``$TTL`` of master-file text in seconds, ``None`` if it has none."""
    match = _TTL_DIRECTIVE.search(text)
    if match is None:
        return None
    try:
        return int(dns.ttl.from_text(match.group(1)))
    except dns.exception.DNSException:
        return None


def read_master_file(
    text: str, origin: dns.name.Name | None, *, allow_include: bool = False,
    directives: Iterable[str] | None = None,
) -> dns.zone.Zone:
    """Master-file text as a dnspython zone with absolute names (blocking).

    ``origin`` is the zone's, else the text's ``$ORIGIN``. ``directives``, if
    given, are the only ``$`` directives allowed. ValueError, with dnspython's
    reason, if the text does not parse.
    """
    try:
        return dns.zone.from_text(
            text, origin=origin, relativize=False, check_origin=False,
            allow_include=allow_include,
            allow_directives=True if directives is None else list(directives),
        )
    except (dns.exception.DNSException, ValueError, KeyError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


def parse_master_file(
    text: str, domain: str | None, driver: Any
) -> tuple[str, int | None, list[tuple[str, str, list[str], int]]]:
    """Parse master-file text for an import (blocking): the origin, the ``$TTL``
    and every record set but the SOA and apex NS as ``(relative name, type,
    values in overcast's form, ttl)``. InvalidInput if it does not parse;
    ``$INCLUDE`` (it reads files) and ``$GENERATE`` (a few bytes of it expand
    into any number of records) are refused."""
    start = None if domain is None else dns.name.from_text(names.absolute_name("", domain))
    try:
        model = read_master_file(text, start, directives=_IMPORT_DIRECTIVES)
    except ValueError as exc:
        raise InvalidInput(f"zone text does not parse: {exc}", driver=driver) from None
    origin = model.origin
    if origin is None:  # pragma: no cover - dnspython raises UnknownOrigin first
        raise InvalidInput("zone text has no $ORIGIN; give domain=", driver=driver)
    sets: list[tuple[str, str, list[str], int]] = []
    for owner, rdatasets in _sets(model):
        name = relative_owner(owner, origin)
        rtype = dns.rdatatype.to_text(rdatasets[0].rdtype)
        if rtype == "SOA" or (name == "" and rtype in _APEX_OWN):
            continue
        sets.append((name, rtype, values_of(*rdatasets), int(rdatasets[0].ttl)))
    return origin.to_text(), master_file_ttl(text), sets
