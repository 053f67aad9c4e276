"""DNS models: zones and record sets, and the record types overcast knows.

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

from overcast.dns import names
from overcast.errors import InvalidInput
from overcast.models import Model

if TYPE_CHECKING:
    from overcast.dns.base import DNSDriver

__all__ = [
    "DEFAULT_TTL",
    "PSEUDO_TYPES",
    "STANDARD_TYPES",
    "Record",
    "RecordData",
    "RecordType",
    "Zone",
    "ZoneType",
]

#: The ``$TTL`` written to a zone file when neither the zone nor a record has one.
DEFAULT_TTL = 3600

#: What ``create_record`` and ``update_record`` take as data: one value or all of a set.
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

    def create_record(self, name: str, type: RecordType | str, data: RecordData,
                      extra: Mapping[str, Any] | None = None, *, ttl: int | None = None) -> Record:
        """Create a record set in this zone (see :meth:`DNSDriver.create_record`)."""
        return self._driver().create_record(name, self, type, data, extra, ttl=ttl)

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

    def update(self, name: str | None = None, type: RecordType | str | None = None,
               data: RecordData | None = None, extra: Mapping[str, Any] | None = None, *,
               ttl: int | None = None) -> Record:
        """Change this record set; arguments left ``None`` keep their value."""
        return self._driver().update_record(self, name, type, data, extra, ttl=ttl)

    def delete(self) -> bool:
        """Delete this record set."""
        return self._driver().delete_record(self)
