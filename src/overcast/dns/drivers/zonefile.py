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
reloading the zone) never sees a half-written file. The new text is parsed
before the rename: a change that would leave a file that does not load is
refused (InvalidInput) and the file stays as it was. An import is one write,
whatever the number of records. Files edited by hand are read as they are;
comments are not kept when the driver rewrites them. A ``*.zone`` entry that
cannot be read as a zone file (not UTF-8, a directory) is InvalidInput for
the operations on that zone, and skipped with a warning by a zone listing.

Parsing and writing use dnspython (``pip install "overcast[dns]"``), through
the master-file code the DNS area shares (:mod:`overcast.dns.bind`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar

# First, so that a missing dnspython is reported with the extra that brings it.
from overcast.dns import bind

# isort: split
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.zone

from overcast.dns import names
from overcast.dns.base import DEFAULT_TTL
from overcast.dns.base import STANDARD_TYPES
from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordSpec
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.files import AtomicFile
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate

__all__ = ["ZoneFileDNSDriver"]

T = TypeVar("T")

_RESERVED: Final = ".overcast"
#: The mode of a new zone file: name servers often run as their own user.
DEFAULT_FILE_MODE: Final = 0o644
_SUFFIX: Final = ".zone"
_HEADER: Final = "Zone file written by overcast (zonefile driver). Comments are not kept."

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
    #: Every type dnspython knows: a master file holds any DNS data.
    record_types: ClassVar[tuple[RecordType, ...]] = STANDARD_TYPES

    def __init__(
        self, directory: str | os.PathLike[str], *, page_size: int = 500, **options: Any
    ) -> None:
        super().__init__(**options)
        self.page_size = check_page_size(page_size, driver=self)
        self.directory = os.path.abspath(os.fspath(directory))
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
            return bind.zone_origin(domain, driver=self)
        except InvalidInput:
            if missing:
                raise ZoneNotFound(str(domain), driver=self) from None
            raise

    def zone_path(self, zone: Zone | str) -> str:
        """The master file of a zone (a :class:`Zone` or a domain)."""
        origin = self._origin(zone.id if isinstance(zone, Zone) else zone)
        return os.path.join(self.directory, origin.to_text(omit_final_dot=True) + _SUFFIX)

    def _zone(self, origin: dns.name.Name, ttl: int | None) -> Zone:
        return bind.master_zone(origin, self, ttl=ttl,
                                extra={"path": self.zone_path(origin.to_text())})

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
        """A zone file's text: ZoneNotFound if there is none, InvalidInput if it is
        not a UTF-8 text file, ProviderError if it cannot be read."""
        path = self.zone_path(origin.to_text())
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            raise ZoneNotFound(origin.to_text(), driver=self) from None
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"zone file {path} is not UTF-8 text: {exc.reason} at byte "
                               f"{exc.start}", driver=self) from None
        except (IsADirectoryError, NotADirectoryError):
            raise InvalidInput(f"{path} is not a zone file (a directory)", driver=self) from None
        except OSError as exc:
            raise ProviderError(f"zone file {path} cannot be read: {exc.strerror or exc}",
                                code="ZoneFileError", driver=self) from None

    def _load(self, origin: dns.name.Name) -> _Loaded:
        text = self._read_text(origin)
        try:
            zone = bind.read_master_file(text, origin)
        except ValueError as exc:
            raise ProviderError(
                f"zone file {self.zone_path(origin.to_text())} cannot be parsed: {exc}",
                code="ZoneFileError",
                driver=self,
            ) from None
        return _Loaded(zone, bind.master_file_ttl(text))

    def _zone_info(self, origin: dns.name.Name) -> Zone:
        return self._zone(origin, bind.master_file_ttl(self._read_text(origin)))

    def _zone_infos(self, origins: list[dns.name.Name]) -> list[Zone]:
        """The zones of ``origins`` whose files can be read; one that cannot is
        skipped with a warning, so it does not hide the others."""
        found: list[Zone] = []
        for origin in origins:
            try:
                found.append(self._zone_info(origin))
            except ZoneNotFound:  # deleted since the listing
                continue
            except (InvalidInput, ProviderError) as exc:
                warnings.warn(f"zone listing skips {origin.to_text()}: {exc}", RuntimeWarning,
                              stacklevel=2)
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
                origins.append(bind.zone_origin(entry.name[: -len(_SUFFIX)]))
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

    def _render(self, origin: dns.name.Name, loaded: _Loaded) -> str:
        """A zone's new text, parsed back before anything is written: a text that
        would not load is InvalidInput, so no file is ever replaced by one."""
        text = bind.render_zone(loaded.zone, origin, loaded.ttl, comment=_HEADER)
        try:
            bind.read_master_file(text, origin)
        except ValueError as exc:
            raise InvalidInput(
                f"the change would leave {self.zone_path(origin.to_text())} unreadable ({exc}); "
                "nothing was written",
                driver=self,
            ) from None
        return text

    def _write(self, origin: dns.name.Name, loaded: _Loaded) -> None:
        text = self._render(origin, loaded)
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
            text = self._render(origin, loaded)
            try:
                self._replace_file(path, text, overwrite=False)
            except InvalidInput:  # the file appeared meanwhile (written without our lock)
                raise ZoneAlreadyExists(origin.to_text(), driver=self) from None
        return self._zone(origin, loaded.ttl)

    def _delete_zone_file(self, origin: dns.name.Name) -> bool:
        with self._locked(origin):
            path = self.zone_path(origin.to_text())
            try:
                os.unlink(path)
            except FileNotFoundError:
                raise ZoneNotFound(origin.to_text(), driver=self) from None
            except IsADirectoryError:
                raise InvalidInput(f"{path} is not a zone file (a directory)",
                                   driver=self) from None
        return True

    def _records(self, origin: dns.name.Name, zone: Zone | None) -> list[RecordSet]:
        loaded = self._load(origin)
        if zone is None:
            zone = self._zone(origin, loaded.ttl)
        return bind.zone_records(loaded.zone, origin, zone, self)

    def _record(
        self, origin: dns.name.Name, owner: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> RecordSet:
        loaded = self._load(origin)
        found = bind.sets_at(loaded.zone, owner, rdtype)
        if not found:
            wanted = bind.record_id(bind.relative_owner(owner, origin), rdtype)
            raise RecordNotFound(wanted, driver=self)
        return bind.make_record(owner, found, origin, self._zone(origin, loaded.ttl), self)

    # -- zones ------------------------------------------------------------------------

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Iterate over the zone files of the directory, reading ``page_size`` of
        them at a time."""
        origins: list[dns.name.Name] = yield Call(self._list_origins)
        pages = -(-len(origins) // self.page_size)

        def fetch(number: Cursor | None) -> Op[Page[Zone]]:
            index = int(number or 1)
            start = (index - 1) * self.page_size
            zones: list[Zone] = yield Call(
                self._zone_infos, origins[start : start + self.page_size]
            )
            return Page.number(zones, index, pages=pages)

        if origins:
            yield from paginate(fetch, first=1, what=f"zone files in {self.directory}",
                                driver=self)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """Get a zone by its domain; :class:`~overcast.errors.ZoneNotFound` if it has no file."""
        origin = self._origin(zone_id, missing=True)
        zone: Zone = yield Call(self._zone_info, origin)
        return zone

    @operation
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
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
    def update_zone(self, zone: Zone, domain: str | None,
                    type: ZoneType | str | None = ZoneType.MASTER, ttl: int | None = None,
                    extra: Mapping[str, Any] | None = None) -> Op[Zone]:
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
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Iterate over the record sets of a zone (the SOA and apex NS included),
        in canonical name order."""
        origin = self._origin(zone.id, missing=True)

        def fetch(_: Cursor | None) -> Op[Page[RecordSet]]:
            records: list[RecordSet] = yield Call(self._records, origin, zone)
            return Page.last(records)  # a file is read whole

        yield from paginate(fetch, what=f"records of {zone.id}", driver=self)

    @operation
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        """Get a record set by zone id and record id (``"name:TYPE"``, ``"@"`` for
        the apex)."""
        origin = self._origin(zone_id, missing=True)
        parsed = bind.parse_record_id(record_id, origin)
        if parsed is None:
            yield Call(self._zone_info, origin)  # ZoneNotFound first, if it is missing
            raise RecordNotFound(record_id, driver=self)
        owner, rdtype = parsed
        record: RecordSet = yield Call(self._record, origin, owner, rdtype)
        return record

    def _store_new_set(self, spec: RecordSpec) -> Op[RecordSet]:
        """Add a record set to the zone file (see :meth:`DNSDriver.create_record_set`);
        without a TTL it gets the zone's ``$TTL``."""
        zone = spec.zone
        origin = self._origin(zone.id)
        owner = bind.owner_name(spec.name, origin, driver=self)
        rdatas = bind.rdatas_from_values(spec.type, spec.values, driver=self)

        def change(loaded: _Loaded) -> RecordSet:
            spec.check_free(_types_at(loaded.zone, owner), driver=self)
            set_ttl = spec.ttl if spec.ttl is not None else _zone_ttl(loaded)
            made = bind.put_set(loaded.zone, owner, set_ttl, rdatas)
            return bind.make_record(owner, made, origin, zone, self)

        record: RecordSet = yield Call(self._mutate, origin, change)
        return record

    def _store_changed_set(self, record: RecordSet, spec: RecordSpec) -> Op[RecordSet]:
        """Replace a record set's name, type, values or TTL in the zone file.

        Updating the SOA set keeps the serial moving forward: a serial that does
        not increase is replaced by the old one plus one.
        """
        origin = self._origin(record.zone.id)
        old_owner = bind.owner_name(record.name, origin, driver=self)
        old_type = bind.rdatatype(record.type, driver=self)
        owner = bind.owner_name(spec.name, origin, driver=self)
        rdatas = bind.rdatas_from_values(spec.type, spec.values, driver=self)

        def change(loaded: _Loaded) -> RecordSet:
            model = loaded.zone
            old = bind.sets_at(model, old_owner, old_type)
            if not old:
                raise RecordNotFound(record.id, driver=self)
            spec.check_free(_types_at(model, owner), driver=self)
            bind.delete_set(model, old_owner, old_type)
            set_ttl = spec.ttl if spec.ttl is not None else int(old[0].ttl)
            made = bind.put_set(model, owner, set_ttl, rdatas)
            return bind.make_record(owner, made, origin, record.zone, self)

        updated: RecordSet = yield Call(self._mutate, origin, change)
        return updated

    def _store_sets(self, zone: Zone, specs: Sequence[RecordSpec]) -> Op[None]:
        """Write every set of an import in one change of the file: all are written,
        or (a set that is no longer free, a text that would not load) none."""
        origin = self._origin(zone.id)
        yield Call(self._mutate, origin, partial(self._put_sets, origin, specs))

    def _put_sets(self, origin: dns.name.Name, specs: Sequence[RecordSpec],
                  loaded: _Loaded) -> None:
        """Add (or replace) the sets ``specs`` describe in a loaded zone."""
        model = loaded.zone
        for spec in specs:
            owner = bind.owner_name(spec.name, origin, driver=self)
            rdatas = bind.rdatas_from_values(spec.type, spec.values, driver=self)
            spec.check_free(_types_at(model, owner), driver=self)
            set_ttl = spec.ttl if spec.ttl is not None else _zone_ttl(loaded)
            bind.put_set(model, owner, set_ttl, rdatas)

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a record set from the zone file. The SOA set and the apex NS set
        cannot be deleted (a zone needs them)."""
        origin = self._origin(record.zone.id)
        owner, rdtype = bind.deletable_set(record.name, record.type, origin, driver=self)

        def change(loaded: _Loaded) -> bool:
            if not bind.delete_set(loaded.zone, owner, rdtype):
                raise RecordNotFound(record.id, driver=self)
            return True

        deleted: bool = yield Call(self._mutate, origin, change)
        return deleted


def _types_at(model: dns.zone.Zone, owner: dns.name.Name) -> list[str]:
    """The types of the sets a zone holds at ``owner``."""
    node = model.get_node(owner)
    return [] if node is None else [dns.rdatatype.to_text(rs.rdtype) for rs in node.rdatasets]


def _zone_ttl(loaded: _Loaded) -> int:
    """The TTL a set gets when none is given: the file's ``$TTL``, else 3600."""
    return loaded.ttl if loaded.ttl is not None else DEFAULT_TTL


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


def _soa_and_ns(origin: dns.name.Name, extra: Mapping[str, Any],
                current: dns.rdtypes.ANY.SOA.SOA | None, current_ns: dns.rdataset.Rdataset | None,
                *, driver: Any = None) -> tuple[dns.rdata.Rdata, list[dns.rdata.Rdata]]:
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
    ns_rdatas = bind.rdatas_from_values("NS", nameservers, driver=driver)

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
