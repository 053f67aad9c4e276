"""DNS models: zones, records (one value each, as Apache Libcloud's) and record
sets (every value of one name and type), and the record types overcast knows.

:mod:`overcast.dns.base` re-exports everything here; see its docstring for the
conventions values follow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import KW_ONLY
from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeAlias
from typing import cast

from overcast.dns import names
from overcast.errors import InvalidInput
from overcast.models import Model

if TYPE_CHECKING:
    from overcast.dns.base import DNSDriver

__all__ = [
    "DEFAULT_TTL",
    "PSEUDO_TYPES",
    "STANDARD_TYPES",
    "RecordData",
    "RecordSet",
    "RecordType",
    "Zone",
    "ZoneType",
    "parse_set_id",
    "set_id",
]

#: The ``$TTL`` written to a zone file when neither the zone nor a record has one.
DEFAULT_TTL = 3600

#: What ``create_record_set`` and ``update_record_set`` take as data: one value or all of a set.
RecordData: TypeAlias = str | Sequence[str]


class RecordType(StrEnum):
    """DNS record types (the value is the type's mnemonic).

    Every type whose data dnspython reads and writes (:data:`STANDARD_TYPES`),
    and the provider pseudo-types ``ALIAS``, ``GEO``, ``REDIRECT`` and ``URL``
    kept from Apache Libcloud (:data:`PSEUDO_TYPES`). A driver lists what it
    supports in :attr:`DNSDriver.record_types`.
    """

    A = "A"
    AAAA = "AAAA"
    AFSDB = "AFSDB"
    ALIAS = "ALIAS"
    AMTRELAY = "AMTRELAY"
    APL = "APL"
    AVC = "AVC"
    BRID = "BRID"
    CAA = "CAA"
    CDNSKEY = "CDNSKEY"
    CDS = "CDS"
    CERT = "CERT"
    CNAME = "CNAME"
    CSYNC = "CSYNC"
    DHCID = "DHCID"
    DLV = "DLV"
    DNAME = "DNAME"
    DNSKEY = "DNSKEY"
    DS = "DS"
    DSYNC = "DSYNC"
    EUI48 = "EUI48"
    EUI64 = "EUI64"
    GEO = "GEO"
    GPOS = "GPOS"
    HHIT = "HHIT"
    HINFO = "HINFO"
    HIP = "HIP"
    HTTPS = "HTTPS"
    IPSECKEY = "IPSECKEY"
    ISDN = "ISDN"
    KEY = "KEY"
    KX = "KX"
    L32 = "L32"
    L64 = "L64"
    LOC = "LOC"
    LP = "LP"
    MX = "MX"
    NAPTR = "NAPTR"
    NID = "NID"
    NINFO = "NINFO"
    NS = "NS"
    NSAP = "NSAP"
    NSAP_PTR = "NSAP-PTR"
    NSEC = "NSEC"
    NSEC3 = "NSEC3"
    NSEC3PARAM = "NSEC3PARAM"
    OPENPGPKEY = "OPENPGPKEY"
    PTR = "PTR"
    PX = "PX"
    REDIRECT = "REDIRECT"
    RESINFO = "RESINFO"
    RP = "RP"
    RRSIG = "RRSIG"
    RT = "RT"
    SIG = "SIG"
    SMIMEA = "SMIMEA"
    SOA = "SOA"
    SPF = "SPF"
    SRV = "SRV"
    SSHFP = "SSHFP"
    SVCB = "SVCB"
    TLSA = "TLSA"
    TXT = "TXT"
    URI = "URI"
    URL = "URL"
    WALLET = "WALLET"
    WKS = "WKS"
    X25 = "X25"
    ZONEMD = "ZONEMD"


#: Apache Libcloud's provider pseudo-types: no DNS data of their own.
PSEUDO_TYPES: Final = frozenset(
    {RecordType.ALIAS, RecordType.GEO, RecordType.REDIRECT, RecordType.URL}
)
#: Every type whose data dnspython reads and writes, in :class:`RecordType`
#: order: what a server that stores any DNS data supports.
STANDARD_TYPES: Final = tuple(t for t in RecordType if t not in PSEUDO_TYPES)


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
    none). The positional order is Apache Libcloud's ``Zone(id, domain, type,
    ttl, driver, extra)``; a zone built by hand with its id only (``domain``
    ``None`` or left out) is read with ``get_zone`` by the record operations
    that need its domain.
    """

    _kind: ClassVar[str] = "zone"

    id: str
    domain: str = ""
    type: str = ZoneType.MASTER.value
    ttl: int | None = None
    driver: DNSDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Apache Libcloud's callers write Zone(id, None, ...) and extra=None.
        if cast("str | None", self.domain) is None:
            self.domain = ""
        if cast("dict[str, Any] | None", self.extra) is None:
            self.extra = {}

    def _label(self) -> object:
        return self.domain or self.id

    def iterate_records(self) -> Iterator[Record]:
        """Iterate over the records of this zone, one per value (see
        :meth:`DNSDriver.iterate_records`)."""
        return self._driver().iterate_records(self)

    def list_records(self) -> list[Record]:
        """List the records of this zone, one per value."""
        return self._driver().list_records(self)

    def create_record(self, name: str, type: RecordType | str, data: RecordData,
                      extra: Mapping[str, Any] | None = None) -> Record:
        """Add a value in this zone (see :meth:`DNSDriver.create_record`)."""
        return self._driver().create_record(name, self, type, data, extra)

    def iterate_record_sets(self) -> Iterator[RecordSet]:
        """Iterate over the record sets of this zone."""
        return self._driver().iterate_record_sets(self)

    def list_record_sets(self) -> list[RecordSet]:
        """List the record sets of this zone."""
        return self._driver().list_record_sets(self)

    def create_record_set(self, name: str, type: RecordType | str, data: RecordData,
                          extra: Mapping[str, Any] | None = None, *,
                          ttl: int | None = None) -> RecordSet:
        """Create a record set in this zone (see :meth:`DNSDriver.create_record_set`)."""
        return self._driver().create_record_set(name, self, type, data, extra, ttl=ttl)

    def update(self, domain: str | None = None, type: ZoneType | str | None = None,
               ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Zone:
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
class RecordSet(Model["DNSDriver"]):
    """A record set: every value of one name and type in a zone.

    ``name`` is relative to the zone (``"www"``; ``""`` for the apex).
    ``values`` holds every value of the set, ``data`` is ``values[0]``; give
    either (``values`` defaults to ``[data]``). ``ttl`` is in seconds, ``None``
    when the record uses the zone's default.
    """

    _kind: ClassVar[str] = "record set"

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

    def update(self, name: str | None = None, type: RecordType | str | None = None,
               data: RecordData | None = None, extra: Mapping[str, Any] | None = None, *,
               ttl: int | None = None) -> RecordSet:
        """Change this record set; arguments left ``None`` keep their value."""
        return self._driver().update_record_set(self, name, type, data, extra, ttl=ttl)

    def delete(self) -> bool:
        """Delete this record set."""
        return self._driver().delete_record_set(self)


@dataclass(slots=True, eq=False)
class Record(Model["DNSDriver"]):
    """One value of a record set, as Apache Libcloud's ``Record`` is.

    The positional order is Libcloud's ``Record(id, name, type, data, zone,
    driver, ttl, extra)``, and so is the meaning of each field on each driver:
    ``id`` follows the provider's Libcloud id scheme (the provider's own id of
    the value where it has one), ``name`` Libcloud's naming for the provider
    (relative or absolute), ``data`` the value, with an MX or SRV priority
    (and an SRV weight and port) in ``extra`` where Libcloud puts them there,
    and TXT data quoted where Libcloud's driver quotes it. ``ttl`` is the TTL
    of the set the value belongs to (see :attr:`DNSDriver.record_style`).
    """

    _kind: ClassVar[str] = "record"

    id: str
    name: str | None
    type: str
    data: str
    zone: Zone
    driver: DNSDriver | None = field(default=None, repr=False)
    ttl: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if cast("dict[str, Any] | None", self.extra) is None:  # Apache Libcloud's default
            self.extra = {}

    def _identity(self) -> tuple[object, ...]:
        # Some providers' ids name the set (Route 53's "A:www"): the data tells
        # the values of one set apart.
        return (self.id, self.zone.id, self.type, self.data)

    def _label(self) -> object:
        return self.id

    def update(self, name: str | None = None, type: RecordType | str | None = None,
               data: str | None = None, extra: Mapping[str, Any] | None = None) -> Record:
        """Change this value; arguments left ``None`` keep their value (see
        :meth:`DNSDriver.update_record`)."""
        return self._driver().update_record(self, name, type, data, extra)

    def delete(self) -> bool:
        """Delete this value (the set goes with its last value)."""
        return self._driver().delete_record(self)


def set_id(name: str, rtype: str) -> str:
    """The id of the record set of type ``rtype`` at relative ``name``:
    ``"name:TYPE"`` (``"@:TYPE"`` at the apex)."""
    return f"{name or '@'}:{rtype}"


def parse_set_id(record_id: str) -> tuple[str, RecordType] | None:
    """``(relative name, type)`` of a set id, or ``None`` if it is not one."""
    name, sep, rtype = str(record_id).rpartition(":")
    try:
        kind = RecordType(rtype.upper())
    except ValueError:
        return None
    if not sep or not name:
        return None
    return ("" if name == "@" else name), kind
