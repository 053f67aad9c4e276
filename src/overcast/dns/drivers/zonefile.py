"""The embedded zone-file DNS driver: each zone is an RFC 1035 master file.

Layout under the directory::

    <directory>/<domain>.zone            one master file per zone ("example.com.zone")
    <directory>/.overcast/locks/<domain>.lock   exclusive lock taken by every change
    <directory>/.overcast/tmp/           files being written

The files are plain master files, loadable as they are by BIND, Knot or
CoreDNS: ``$ORIGIN``, ``$TTL``, then one line per record with an absolute
owner name and an explicit TTL, the SOA first. Every change reads the file,
applies the change, bumps the SOA serial and replaces the file atomically
(written to a temporary file, fsynced, renamed; mode 0644 for a new file, an
existing file keeps its mode), under an exclusive
``flock`` on the zone's lock file, so concurrent writers (threads or
processes) never lose each other's changes and a reader (or a name server
reloading the zone) never sees a half-written file. Files edited by hand are
read as they are; comments are not kept when the driver rewrites them.

Parsing and writing use dnspython (``pip install 'overcast[dns]'``). The
helpers at the end of this module (values to rdata and back, record ids) are
shared with the RFC 2136 driver.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar

import dns.exception
import dns.name
import dns.node
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.ttl
import dns.zone

from overcast.dns import names
from overcast.dns.base import (
    DEFAULT_TTL,
    DNSDriver,
    Record,
    RecordData,
    RecordType,
    Zone,
    ZoneType,
)
from overcast.dns.records import from_presentation, to_presentation
from overcast.errors import (
    InvalidInput,
    ProviderError,
    RecordAlreadyExists,
    RecordNotFound,
    ZoneAlreadyExists,
    ZoneNotFound,
)
from overcast.runtime.effects import Call, Emit, Iter, Op
from overcast.runtime.files import AtomicFile
from overcast.runtime.operation import iterator, operation

__all__ = ["ZoneFileDNSDriver"]

T = TypeVar("T")

_RESERVED: Final = ".overcast"
#: The mode of a new zone file: name servers often run as their own user.
DEFAULT_FILE_MODE: Final = 0o644
_SUFFIX: Final = ".zone"
_TTL_DIRECTIVE = re.compile(r"^\$TTL[ \t]+(\S+)", re.MULTILINE | re.IGNORECASE)

#: Record types both file-backed drivers can write (dnspython knows their syntax).
STANDARD_TYPES: Final[tuple[RecordType, ...]] = (
    RecordType.A,
    RecordType.AAAA,
    RecordType.AFSDB,
    RecordType.CAA,
    RecordType.CERT,
    RecordType.CNAME,
    RecordType.DNAME,
    RecordType.DNSKEY,
    RecordType.DS,
    RecordType.HINFO,
    RecordType.HTTPS,
    RecordType.LOC,
    RecordType.MX,
    RecordType.NAPTR,
    RecordType.NS,
    RecordType.OPENPGPKEY,
    RecordType.PTR,
    RecordType.RP,
    RecordType.SPF,
    RecordType.SRV,
    RecordType.SSHFP,
    RecordType.SVCB,
    RecordType.TLSA,
    RecordType.TXT,
    RecordType.URI,
)

#: Types that may stand beside a CNAME (DNSSEC signatures and denial records).
_CNAME_COMPANIONS: Final = frozenset(
    {dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3, dns.rdatatype.KEY}
)

#: ``extra`` keys create_zone and update_zone accept, and their defaults.
SOA_DEFAULTS: Final[Mapping[str, int]] = {
    "serial": 1,
    "refresh": 3600,
    "retry": 600,
    "expire": 1209600,
    "minimum": 300,
}
ZONE_EXTRA_KEYS: Final = frozenset({"nameservers", "primary_ns", "hostmaster", *SOA_DEFAULTS})
#: The name server written when ``extra["nameservers"]`` is not given.
DEFAULT_NAMESERVERS: Final = ("localhost.",)


@dataclass(slots=True)
class _Loaded:
    """A zone file as parsed: the zone and its ``$TTL`` (``None`` if it has none)."""

    zone: dns.zone.Zone
    ttl: int | None


class ZoneFileDNSDriver(DNSDriver):
    """DNS zones kept as RFC 1035 master files in a directory.

    ``ZoneFileDNSDriver(directory)``: the directory is created if missing.
    Zone ids are the domains (``"example.com."``). ``page_size`` is how many
    zone files a zone listing reads per step.

    ``create_zone`` writes an SOA and an NS record set. Their values come from
    ``extra``: ``nameservers`` (default ``["localhost."]``), ``primary_ns``
    (the SOA MNAME, default the first name server), ``hostmaster`` (the SOA
    RNAME, default ``hostmaster.<domain>``), ``serial``, ``refresh``,
    ``retry``, ``expire`` and ``minimum``. The same keys work with
    ``update_zone``.
    """

    name: ClassVar[str] = "zonefile"
    record_types: ClassVar[tuple[RecordType, ...]] = (*STANDARD_TYPES, RecordType.SOA)

    def __init__(
        self, directory: str | os.PathLike[str], *, page_size: int = 500, **options: Any
    ) -> None:
        super().__init__(**options)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidInput(f"page_size must be a positive integer: {page_size!r}", driver=self)
        self.directory = os.path.abspath(os.fspath(directory))
        self.page_size = page_size
        self._lock_dir = os.path.join(self.directory, _RESERVED, "locks")
        self._tmp_dir = os.path.join(self.directory, _RESERVED, "tmp")
        for path in (self.directory, self._lock_dir, self._tmp_dir):
            os.makedirs(path, exist_ok=True)

    def _repr_fields(self) -> dict[str, object]:
        return {"directory": self.directory}

    # -- names and paths (pure) ------------------------------------------------------

    def _origin(self, domain: str, *, missing: bool = False) -> dns.name.Name:
        """The zone's origin for a domain or zone id; InvalidInput (or ZoneNotFound
        with ``missing``) if it is not a valid domain."""
        try:
            return zone_origin(domain, driver=self)
        except InvalidInput:
            if missing:
                raise ZoneNotFound(str(domain), driver=self) from None
            raise

    def zone_path(self, zone: Zone | str) -> str:
        """The master file of a zone (a :class:`Zone` or a domain)."""
        origin = self._origin(zone.id if isinstance(zone, Zone) else zone)
        return os.path.join(self.directory, origin.to_text(omit_final_dot=True) + _SUFFIX)

    def _zone(self, origin: dns.name.Name, ttl: int | None) -> Zone:
        domain = origin.to_text()
        return Zone(
            id=domain,
            domain=domain,
            type=ZoneType.MASTER.value,
            ttl=ttl,
            driver=self,
            extra={"path": self.zone_path(domain)},
        )

    # -- blocking primitives (run through Call) --------------------------------------

    @contextlib.contextmanager
    def _locked(self, origin: dns.name.Name) -> Iterator[None]:
        lock_path = os.path.join(self._lock_dir, origin.to_text(omit_final_dot=True) + ".lock")
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_text(self, origin: dns.name.Name) -> str:
        try:
            with open(self.zone_path(origin.to_text()), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            raise ZoneNotFound(origin.to_text(), driver=self) from None

    def _load(self, origin: dns.name.Name) -> _Loaded:
        text = self._read_text(origin)
        try:
            zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
        except (dns.exception.DNSException, ValueError, KeyError) as exc:
            raise ProviderError(
                f"zone file {self.zone_path(origin.to_text())} cannot be parsed: {exc}",
                code="ZoneFileError",
                driver=self,
            ) from None
        return _Loaded(zone, _default_ttl(text))

    def _zone_info(self, origin: dns.name.Name) -> Zone:
        return self._zone(origin, _default_ttl(self._read_text(origin)))

    def _zone_infos(self, origins: list[dns.name.Name]) -> list[Zone]:
        found: list[Zone] = []
        for origin in origins:
            with contextlib.suppress(ZoneNotFound):  # deleted since the listing
                found.append(self._zone_info(origin))
        return found

    def _list_origins(self) -> list[dns.name.Name]:
        origins: list[dns.name.Name] = []
        for entry in os.scandir(self.directory):
            if (
                entry.name.startswith(".")
                or not entry.name.endswith(_SUFFIX)
                or not entry.is_file()
            ):
                continue
            with contextlib.suppress(InvalidInput):  # not a file of ours
                origins.append(zone_origin(entry.name[: -len(_SUFFIX)]))
        origins.sort()
        return origins

    def _replace_file(self, path: str, text: str, *, overwrite: bool) -> None:
        """Write ``path`` atomically (temporary file, fsync, rename), readable by a
        name server running as another user: a new file gets mode 0644, an existing
        one keeps its mode. Without ``overwrite``, an existing file is never replaced
        (InvalidInput)."""
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = DEFAULT_FILE_MODE
        target = AtomicFile(path, overwrite, temp_dir=self._tmp_dir, driver=self)
        try:
            target.write(text.encode("utf-8"))
            os.chmod(target.temp_path, mode)
            target.commit()
        except BaseException:
            target.discard()
            raise

    def _write(self, origin: dns.name.Name, loaded: _Loaded) -> None:
        text = render_zone(loaded.zone, origin, loaded.ttl)
        self._replace_file(self.zone_path(origin.to_text()), text, overwrite=True)

    def _mutate(self, origin: dns.name.Name, change: Callable[[_Loaded], T]) -> T:
        """Read, change, bump the serial and rewrite one zone under its lock."""
        with self._locked(origin):
            loaded = self._load(origin)
            before = _serial(loaded.zone, origin)
            result = change(loaded)
            after = _serial(loaded.zone, origin)
            if before is not None and (after is None or not _serial_gt(after, before)):
                _set_serial(loaded.zone, origin, (before + 1) % 2**32 or 1)
            self._write(origin, loaded)
            return result

    def _create_zone_file(self, origin: dns.name.Name, loaded: _Loaded) -> Zone:
        path = self.zone_path(origin.to_text())
        with self._locked(origin):
            if os.path.lexists(path):
                raise ZoneAlreadyExists(origin.to_text(), driver=self)
            text = render_zone(loaded.zone, origin, loaded.ttl)
            try:
                self._replace_file(path, text, overwrite=False)
            except InvalidInput:  # the file appeared meanwhile (written without our lock)
                raise ZoneAlreadyExists(origin.to_text(), driver=self) from None
        return self._zone(origin, loaded.ttl)

    def _delete_zone_file(self, origin: dns.name.Name) -> bool:
        with self._locked(origin):
            try:
                os.unlink(self.zone_path(origin.to_text()))
            except FileNotFoundError:
                raise ZoneNotFound(origin.to_text(), driver=self) from None
        return True

    def _records(self, origin: dns.name.Name, zone: Zone | None) -> list[Record]:
        loaded = self._load(origin)
        if zone is None:
            zone = self._zone(origin, loaded.ttl)
        return zone_records(loaded.zone, origin, zone, self)

    def _record(
        self, origin: dns.name.Name, owner: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> Record:
        loaded = self._load(origin)
        rdataset = loaded.zone.get_rdataset(owner, rdtype)
        if rdataset is None:
            raise RecordNotFound(record_id(relative_name(owner, origin), rdtype), driver=self)
        return make_record(owner, rdataset, origin, self._zone(origin, loaded.ttl), self)

    # -- zones ------------------------------------------------------------------------

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Iterate over the zone files of the directory, ``page_size`` at a time."""
        origins: list[dns.name.Name] = yield Call(self._list_origins)
        for start in range(0, len(origins), self.page_size):
            page: list[Zone] = yield Call(
                self._zone_infos, origins[start : start + self.page_size]
            )
            for zone in page:
                yield Emit(zone)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """Get a zone by its domain; :class:`~overcast.errors.ZoneNotFound` if it has no file."""
        origin = self._origin(zone_id, missing=True)
        zone: Zone = yield Call(self._zone_info, origin)
        return zone

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Write a new zone file with an SOA and an NS record set (see the class
        docstring for the ``extra`` keys); ``ttl`` is its ``$TTL`` (default 3600).

        :class:`~overcast.errors.ZoneAlreadyExists` if the file exists.
        """
        origin = self._origin(domain)
        if str(type).lower() != ZoneType.MASTER.value:
            raise InvalidInput("zone files hold primary zones only (type 'master')", driver=self)
        zone_ttl = self._record_ttl(ttl, None)
        zone_ttl = DEFAULT_TTL if zone_ttl is None else zone_ttl
        soa, nameservers = _soa_and_ns(origin, extra or {}, None, None, driver=self)
        model = dns.zone.Zone(origin, relativize=False)
        model.replace_rdataset(origin, dns.rdataset.from_rdata(zone_ttl, soa))
        model.replace_rdataset(origin, dns.rdataset.from_rdata_list(zone_ttl, nameservers))
        zone: Zone = yield Call(self._create_zone_file, origin, _Loaded(model, zone_ttl))
        return zone

    @operation
    def update_zone(
        self,
        zone: Zone,
        domain: str | None,
        type: ZoneType | str | None = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Change a zone's ``$TTL`` (``ttl``) or its SOA and apex NS (``extra``, the
        keys of :meth:`create_zone`). A zone's domain cannot change."""
        origin = self._origin(zone.id)
        if domain is not None and self._origin(domain) != origin:
            raise InvalidInput("a zone file's domain cannot be changed", driver=self)
        if type is not None and str(type).lower() != ZoneType.MASTER.value:
            raise InvalidInput("zone files hold primary zones only (type 'master')", driver=self)
        new_ttl = self._record_ttl(ttl, None)
        options = dict(extra or {})
        # Check the keys and values before touching the file.
        _soa_and_ns(origin, options, None, None, driver=self)

        def change(loaded: _Loaded) -> Zone:
            if new_ttl is not None:
                loaded.ttl = new_ttl
            if options:
                current = loaded.zone.get_rdataset(origin, dns.rdatatype.SOA)
                old_ns = loaded.zone.get_rdataset(origin, dns.rdatatype.NS)
                soa, nameservers = _soa_and_ns(
                    origin, options, current[0] if current else None, old_ns, driver=self
                )
                soa_ttl = current.ttl if current else _zone_ttl(loaded)
                ns_ttl = old_ns.ttl if old_ns else _zone_ttl(loaded)
                loaded.zone.replace_rdataset(origin, dns.rdataset.from_rdata(soa_ttl, soa))
                loaded.zone.replace_rdataset(
                    origin, dns.rdataset.from_rdata_list(ns_ttl, nameservers)
                )
            return self._zone(origin, loaded.ttl)

        updated: Zone = yield Call(self._mutate, origin, change)
        return updated

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone's file; :class:`~overcast.errors.ZoneNotFound` if it has none."""
        origin = self._origin(zone.id, missing=True)
        deleted: bool = yield Call(self._delete_zone_file, origin)
        return deleted

    # -- records ----------------------------------------------------------------------

    @iterator
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """Iterate over the record sets of a zone (the SOA and apex NS included),
        in canonical name order."""
        origin = self._origin(zone.id, missing=True)
        records: list[Record] = yield Call(self._records, origin, zone)
        for record in records:
            yield Emit(record)

    @operation
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """Get a record set by zone id and record id (``"name:TYPE"``, ``"@"`` for
        the apex)."""
        origin = self._origin(zone_id, missing=True)
        parsed = parse_record_id(record_id, origin)
        if parsed is None:
            yield Call(self._zone_info, origin)  # ZoneNotFound first, if it is missing
            raise RecordNotFound(record_id, driver=self)
        owner, rdtype = parsed
        record: Record = yield Call(self._record, origin, owner, rdtype)
        return record

    @operation
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
        """Add a record set to the zone file (see :meth:`DNSDriver.create_record`);
        without a TTL it gets the zone's ``$TTL``."""
        name, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        record_ttl = self._record_ttl(ttl, extra)
        origin = self._origin(zone.id)
        owner = owner_name(name, origin, driver=self)
        rdtype = dns.rdatatype.from_text(rtype.value)
        rdatas = rdatas_from_values(rtype, values, origin, driver=self)

        def change(loaded: _Loaded) -> Record:
            model = loaded.zone
            if model.get_rdataset(owner, rdtype) is not None:
                raise RecordAlreadyExists(record_id(name, rdtype), driver=self)
            check_cname_conflict(model.get_node(owner), rdtype, owner, driver=self)
            set_ttl = record_ttl if record_ttl is not None else _zone_ttl(loaded)
            rdataset = dns.rdataset.from_rdata_list(set_ttl, rdatas)
            model.replace_rdataset(owner, rdataset)
            return make_record(owner, rdataset, origin, zone, self)

        record: Record = yield Call(self._mutate, origin, change)
        return record

    @operation
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
        """Replace a record set's name, type, values or TTL in the zone file.

        Updating the SOA set keeps the serial moving forward: a serial that does
        not increase is replaced by the old one plus one.
        """
        zone = record.zone
        new_name, rtype, values = self._validate_record(
            record.name if name is None else name,
            record.type if type is None else type,
            record.values if data is None else data,
            extra=extra,
            zone=zone,
        )
        new_ttl = self._record_ttl(ttl, extra)
        origin = self._origin(zone.id)
        old_owner = owner_name(record.name, origin, driver=self)
        old_type = _rdatatype(record.type, driver=self)
        owner = owner_name(new_name, origin, driver=self)
        rdtype = dns.rdatatype.from_text(rtype.value)
        rdatas = rdatas_from_values(rtype, values, origin, driver=self)

        def change(loaded: _Loaded) -> Record:
            model = loaded.zone
            old = model.get_rdataset(old_owner, old_type)
            if old is None:
                raise RecordNotFound(record.id, driver=self)
            moved = (owner, rdtype) != (old_owner, old_type)
            if moved and model.get_rdataset(owner, rdtype) is not None:
                raise RecordAlreadyExists(record_id(new_name, rdtype), driver=self)
            node = model.get_node(owner)
            others = {rs.rdtype for rs in node.rdatasets} if node is not None else set()
            if owner == old_owner:
                others.discard(old_type)
            check_cname_types(others, rdtype, owner, driver=self)
            set_ttl = new_ttl if new_ttl is not None else old.ttl
            model.delete_rdataset(old_owner, old_type)
            rdataset = dns.rdataset.from_rdata_list(set_ttl, rdatas)
            model.replace_rdataset(owner, rdataset)
            return make_record(owner, rdataset, origin, zone, self)

        updated: Record = yield Call(self._mutate, origin, change)
        return updated

    @operation
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete a record set from the zone file. The SOA set and the apex NS set
        cannot be deleted (a zone needs them)."""
        origin = self._origin(record.zone.id)
        owner = owner_name(record.name, origin, driver=self)
        rdtype = _rdatatype(record.type, driver=self)
        if owner == origin and rdtype in (dns.rdatatype.SOA, dns.rdatatype.NS):
            raise InvalidInput(
                f"the apex {dns.rdatatype.to_text(rdtype)} set of a zone cannot be deleted",
                driver=self,
            )

        def change(loaded: _Loaded) -> bool:
            if loaded.zone.get_rdataset(owner, rdtype) is None:
                raise RecordNotFound(record.id, driver=self)
            loaded.zone.delete_rdataset(owner, rdtype)
            return True

        deleted: bool = yield Call(self._mutate, origin, change)
        return deleted


# -- zone model helpers (shared with the RFC 2136 driver) --------------------------------


def zone_origin(domain: str, *, driver: Any = None) -> dns.name.Name:
    """A zone's domain (or zone id) as an absolute, lower-case dnspython name.

    :class:`~overcast.errors.InvalidInput` for a malformed domain or the root.
    """
    if not isinstance(domain, str):
        raise InvalidInput(f"zone domain must be a string: {domain!r}", driver=driver)
    if domain.strip(".") == "" or domain == "@":
        raise InvalidInput(f"zone domain {domain!r} is not a domain", driver=driver)
    names.validate_name(domain, wildcard=False, what="zone domain", driver=driver)
    text = domain.lower()
    return dns.name.from_text(text if text.endswith(".") else text + ".")


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


def relative_name(owner: dns.name.Name, origin: dns.name.Name) -> str:
    """A record's name relative to the zone, ``""`` for the apex."""
    if owner == origin:
        return ""
    return owner.relativize(origin).to_text()


def type_of(rdtype: int) -> RecordType | str:
    """A dnspython type as a :class:`RecordType` (its mnemonic if overcast has none)."""
    text = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
    try:
        return RecordType(text)
    except ValueError:
        return text


def _rdatatype(rtype: str, *, driver: Any = None) -> dns.rdatatype.RdataType:
    try:
        return dns.rdatatype.from_text(str(rtype).upper())
    except dns.exception.DNSException:
        raise InvalidInput(f"unknown record type {rtype!r}", driver=driver) from None


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


def rdatas_from_values(
    rtype: RecordType | str, values: Sequence[str], origin: dns.name.Name, *, driver: Any = None
) -> list[dns.rdata.Rdata]:
    """overcast's values of a set as dnspython rdata (absolute names);
    :class:`~overcast.errors.InvalidInput` for a value dnspython cannot parse."""
    rdtype = _rdatatype(str(rtype), driver=driver)
    rdatas: list[dns.rdata.Rdata] = []
    for value in values:
        text = to_presentation(str(rtype), value)
        try:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, rdtype, text, origin=origin, relativize=False
            )
        except (dns.exception.DNSException, ValueError) as exc:
            raise InvalidInput(
                f"{rtype} value {value!r} is not valid: {exc}", driver=driver
            ) from None
        rdatas.append(rdata)
    return rdatas


def values_of(rdataset: dns.rdataset.Rdataset) -> list[str]:
    """A dnspython rdataset's values in overcast's form."""
    rtype = dns.rdatatype.to_text(rdataset.rdtype)
    return [from_presentation(rtype, rdata.to_text(relativize=False)) for rdata in rdataset]


def make_record(
    owner: dns.name.Name,
    rdataset: dns.rdataset.Rdataset,
    origin: dns.name.Name,
    zone: Zone,
    driver: DNSDriver,
) -> Record:
    """A :class:`Record` for one rdataset of a zone."""
    name = relative_name(owner, origin)
    values = values_of(rdataset)
    return Record(
        id=record_id(name, rdataset.rdtype),
        name=name,
        type=type_of(rdataset.rdtype),
        data=values[0],
        zone=zone,
        driver=driver,
        ttl=int(rdataset.ttl),
        values=values,
    )


def zone_records(
    model: dns.zone.Zone, origin: dns.name.Name, zone: Zone, driver: DNSDriver
) -> list[Record]:
    """Every record set of a dnspython zone (absolute names), the SOA first, then
    in canonical name order and type order."""
    records: list[Record] = []
    for owner in sorted(model.nodes):
        node = model.nodes[owner]
        for rdataset in sorted(node.rdatasets, key=_type_order):
            if len(rdataset):
                records.append(make_record(owner, rdataset, origin, zone, driver))
    return records


def _type_order(rdataset: dns.rdataset.Rdataset) -> tuple[int, int]:
    return (0 if rdataset.rdtype == dns.rdatatype.SOA else 1, int(rdataset.rdtype))


def check_cname_types(
    others: set[Any], rdtype: int, owner: dns.name.Name, *, driver: Any = None
) -> None:
    """InvalidInput if a set of ``rdtype`` cannot join sets of types ``others``
    at one name (a CNAME stands alone, DNSSEC records aside)."""
    others = {t for t in others if t not in _CNAME_COMPANIONS}
    if rdtype == dns.rdatatype.CNAME and others - {dns.rdatatype.CNAME}:
        raise InvalidInput(
            f"{owner.to_text()} has other data; a CNAME may not stand beside it", driver=driver
        )
    if rdtype not in _CNAME_COMPANIONS and rdtype != dns.rdatatype.CNAME and (
        dns.rdatatype.CNAME in others
    ):
        raise InvalidInput(
            f"{owner.to_text()} has a CNAME; no other data may stand beside it", driver=driver
        )


def check_cname_conflict(
    node: dns.node.Node | None, rdtype: int, owner: dns.name.Name, *, driver: Any = None
) -> None:
    """:func:`check_cname_types` against the sets a zone node holds."""
    if node is not None:
        check_cname_types({rs.rdtype for rs in node.rdatasets}, rdtype, owner, driver=driver)


def render_zone(model: dns.zone.Zone, origin: dns.name.Name, ttl: int | None) -> str:
    """A dnspython zone as master-file text: ``$ORIGIN``, ``$TTL`` (if known), then
    one line per record with an absolute owner and an explicit TTL, SOA first."""
    lines = [
        "; Zone file written by overcast (zonefile driver). Comments are not kept.",
        f"$ORIGIN {origin.to_text()}",
    ]
    if ttl is not None:
        lines.append(f"$TTL {ttl}")
    for owner in sorted(model.nodes):
        node = model.nodes[owner]
        for rdataset in sorted(node.rdatasets, key=_type_order):
            rclass = dns.rdataclass.to_text(rdataset.rdclass)
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            for rdata in rdataset:
                text = rdata.to_text(relativize=False)
                lines.append(f"{owner.to_text()}\t{rdataset.ttl}\t{rclass}\t{rtype}\t{text}")
    return "\n".join(lines) + "\n"


def _zone_ttl(loaded: _Loaded) -> int:
    """The TTL a set gets when none is given: the file's ``$TTL``, else 3600."""
    return loaded.ttl if loaded.ttl is not None else DEFAULT_TTL


def _default_ttl(text: str) -> int | None:
    match = _TTL_DIRECTIVE.search(text)
    if match is None:
        return None
    try:
        return int(dns.ttl.from_text(match.group(1)))
    except dns.exception.DNSException:
        return None


def _serial(model: dns.zone.Zone, origin: dns.name.Name) -> int | None:
    soa = model.get_rdataset(origin, dns.rdatatype.SOA)
    if not soa:
        return None
    rdata: dns.rdtypes.ANY.SOA.SOA = soa[0]
    return int(rdata.serial)


def _set_serial(model: dns.zone.Zone, origin: dns.name.Name, serial: int) -> None:
    soa = model.get_rdataset(origin, dns.rdatatype.SOA)
    if soa:
        rdata: dns.rdtypes.ANY.SOA.SOA = soa[0]
        replacement = dns.rdataset.from_rdata(soa.ttl, rdata.replace(serial=serial))
        model.replace_rdataset(origin, replacement)


def _serial_gt(a: int, b: int) -> bool:
    """RFC 1982 serial number arithmetic: is ``a`` after ``b``?"""
    return a != b and ((a - b) % 2**32) < 2**31


def _soa_and_ns(
    origin: dns.name.Name,
    extra: Mapping[str, Any],
    current: dns.rdtypes.ANY.SOA.SOA | None,
    current_ns: dns.rdataset.Rdataset | None,
    *,
    driver: Any = None,
) -> tuple[dns.rdata.Rdata, list[dns.rdata.Rdata]]:
    """The SOA rdata and the apex NS rdatas from ``extra`` over the current ones
    (or the defaults); InvalidInput for an unknown key or a bad value."""
    unknown = set(extra) - ZONE_EXTRA_KEYS
    if unknown:
        raise InvalidInput(
            f"unknown zone extra key(s): {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(ZONE_EXTRA_KEYS))})",
            driver=driver,
        )
    if "nameservers" in extra:
        given = extra["nameservers"]
        if isinstance(given, str):
            given = [given]
        if not isinstance(given, Sequence) or not given:
            raise InvalidInput("extra['nameservers'] must be a non-empty list", driver=driver)
        nameservers = [str(ns) for ns in given]
    elif current_ns is not None:
        nameservers = [rdata.to_text(relativize=False) for rdata in current_ns]
    else:
        nameservers = list(DEFAULT_NAMESERVERS)
    names.validate_record_data("NS", nameservers, driver=driver)
    ns_rdatas = rdatas_from_values("NS", nameservers, origin, driver=driver)

    def host(key: str, default: str) -> str:
        value = extra.get(key, default)
        if not isinstance(value, str) or value in names.APEX_NAMES:
            raise InvalidInput(f"extra[{key!r}] must be a host name", driver=driver)
        names.validate_name(value, wildcard=False, what=f"extra[{key!r}]", driver=driver)
        return value if value.endswith(".") else value + "."

    mname = host(
        "primary_ns",
        current.mname.to_text() if current is not None else ns_rdatas[0].to_text(),
    )
    rname = host(
        "hostmaster",
        current.rname.to_text() if current is not None else f"hostmaster.{origin.to_text()}",
    )
    numbers: dict[str, int] = {}
    for key, default in SOA_DEFAULTS.items():
        value = extra.get(key, getattr(current, key) if current is not None else default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
            raise InvalidInput(
                f"extra[{key!r}] must be an integer from 0 to 2**32-1", driver=driver
            )
        numbers[key] = value
    text = (
        f"{mname} {rname} {numbers['serial']} {numbers['refresh']} {numbers['retry']} "
        f"{numbers['expire']} {numbers['minimum']}"
    )
    soa = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, text, origin=origin)
    return soa, ns_rdatas
