"""DNS: the models and the driver API every DNS driver shares.

Names and positional parameters follow Apache Libcloud 3.x
(``libcloud.dns.base.DNSDriver``), so its users port code by changing imports;
overcast's additions are keyword-only. Every operation is available sync
(``driver.x()``) and async (``await driver.aio.x()``); a driver that lacks one
raises :class:`~overcast.errors.NotSupported` (see ``driver.supports()``).

Apache Libcloud's record operations keep Libcloud's meaning: ``list_records``,
``iterate_records``, ``get_record``, ``create_record``, ``update_record`` and
``delete_record`` work on one :class:`Record` per value, shaped as Libcloud's
driver for the provider shapes it (:class:`RecordStyle`). They are built here,
once, on the record-set operations.

A :class:`RecordSet` is a **record set**: every value of one name and type, as
modern DNS APIs (Route 53, Google Cloud DNS, Azure DNS, PowerDNS) manage them,
read and written by ``list_record_sets``, ``iterate_record_sets``,
``get_record_set``, ``create_record_set``, ``update_record_set`` and
``delete_record_set``. ``record.values`` holds them all and ``record.data`` is
the first. Set values are in zone-file presentation form, with two conventions
every driver keeps:

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

import hashlib
import os
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import ClassVar
from typing import Literal
from typing import TypeVar

from overcast.dns import bind
from overcast.dns import names
from overcast.dns.models import DEFAULT_TTL
from overcast.dns.models import PSEUDO_TYPES
from overcast.dns.models import STANDARD_TYPES
from overcast.dns.models import Record
from overcast.dns.models import RecordData
from overcast.dns.models import RecordSet
from overcast.dns.models import RecordType
from overcast.dns.models import Zone
from overcast.dns.models import ZoneType
from overcast.dns.models import parse_set_id
from overcast.dns.models import set_id
from overcast.dns.records import TARGET_TYPES
from overcast.dns.records import canonical
from overcast.dns.records import character_strings
from overcast.dns.records import parse_character_strings
from overcast.driver import AsyncView
from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OvercastError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
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
from overcast.runtime.ops import expand
from overcast.runtime.ops import find_by_id
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
    "RecordSet",
    "RecordSpec",
    "RecordStyle",
    "RecordType",
    "Zone",
    "ZoneType",
    "batches",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """A record set as ``create_record_set`` or ``update_record_set`` asked for it, checked
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
    replaces: RecordSet | None = None

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


@dataclass(frozen=True, slots=True)
class RecordStyle:
    """How a driver's :class:`Record` values look: Apache Libcloud's convention
    for the provider, so that code written against Libcloud reads the same data.

    * ``ids``: ``"value"`` (overcast's own, where Libcloud has no scheme:
      ``"name:TYPE:<digest of the value>"``), ``"type:name"`` (Libcloud's Route
      53 and Google scheme, ``"A:www"``: every value of a set shares it) or
      ``"native"`` (the provider's own id of each value, from
      :meth:`DNSDriver._value_ids`).
    * ``names``: ``"relative"`` (``"www"``, the apex is ``apex``),
      ``"absolute"`` (``"www.example.com."``) or ``"bare"`` (``"www.example.com"``,
      the apex ``"example.com"``).
    * ``priority_in_data``: MX and SRV data keep their numbers, as the
      provider stores them (PowerDNS); otherwise ``data`` is the target and the
      numbers are in ``extra`` (``priority``; SRV also ``weight`` and ``port``).
    * ``quoted_text``: TXT and SPF data as quoted character-strings (Route 53,
      PowerDNS); otherwise the text itself.
    * ``dotted_hosts``: host names in data keep their trailing dot.
    * ``ttl_in_extra``: ``extra["ttl"]`` repeats the TTL (Route 53).
    """

    ids: Literal["value", "type:name", "native"] = "value"
    names: Literal["relative", "absolute", "bare"] = "relative"
    apex: str | None = ""
    priority_in_data: bool = False
    quoted_text: bool = False
    dotted_hosts: bool = True
    ttl_in_extra: bool = False


class DNSDriver(BaseDriver):
    """Base class of DNS drivers.

    Drivers implement the primitive operations (``iterate_zones``,
    ``get_zone``, ``create_zone``, ``update_zone``, ``delete_zone``,
    ``iterate_record_sets``, ``get_record_set``, ``delete_record_set``, and the
    hooks of ``create_record_set`` and ``update_record_set``) and set
    :attr:`record_types` and :attr:`record_style`; listing, zone-file export and
    import, and Apache Libcloud's per-value record operations
    (``iterate_records``, ``get_record``, ``create_record``, ``update_record``,
    ``delete_record``) are built on them here, once. ``create_record_set`` and
    ``update_record_set`` check their arguments before any request with
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
    #: How the per-value :class:`Record` values of this driver look (Apache
    #: Libcloud's convention for the provider).
    record_style: ClassVar[RecordStyle] = RecordStyle()

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
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Iterate over the record sets of a zone, page by page."""
        raise NotImplementedError

    list_record_sets = listing(iterate_record_sets, "List the record sets of a zone.")

    @operation
    @not_supported
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        """Get a record set by zone id and record id;
        :class:`~overcast.errors.RecordNotFound` (or
        :class:`~overcast.errors.ZoneNotFound`) if absent."""
        raise NotImplementedError

    @operation
    @requires("_store_new_set")
    def create_record_set(self, name: str, zone: Zone, type: RecordType | str,
                          data: RecordData, extra: Mapping[str, Any] | None = None, *,
                          ttl: int | None = None) -> Op[RecordSet]:
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
    def update_record_set(self, record: RecordSet, name: str | None,
                          type: RecordType | str | None, data: RecordData | None,
                          extra: Mapping[str, Any] | None = None, *,
                          ttl: int | None = None) -> Op[RecordSet]:
        """Replace a record set's name, type, values or TTL; return it as it now is.

        An argument given as ``None`` keeps its current value; ``data`` replaces
        every value of the set. :class:`~overcast.errors.RecordNotFound` if the
        set is gone.
        """
        spec = self._changed_set(record, name, type, data, extra, ttl)
        return (yield from self._store_changed_set(record, spec))

    # The two hooks the create and update flows are built on.

    @not_supported
    def _store_new_set(self, spec: RecordSpec) -> Op[RecordSet]:
        """Hook: write the new set ``spec`` describes and return it as stored.

        ``spec`` is checked (name relative to ``spec.zone``, values valid for
        the type); the driver checks that the name is free, with
        :meth:`RecordSpec.check_free`, as atomically as its provider allows.
        """
        raise NotImplementedError

    @not_supported
    def _store_changed_set(self, record: RecordSet, spec: RecordSpec) -> Op[RecordSet]:
        """Hook: replace ``record`` by the set ``spec`` describes (another name or
        type when ``spec.moved``; ``spec.ttl`` ``None`` keeps the set's TTL) and
        return it as stored; :class:`~overcast.errors.RecordNotFound` if it is gone.
        """
        raise NotImplementedError

    @operation
    @not_supported
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a record set; :class:`~overcast.errors.RecordNotFound` if absent."""
        raise NotImplementedError

    # -- records, one per value (Apache Libcloud's meaning) ---------------------------

    @iterator
    @requires("iterate_record_sets")
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """Iterate over the records of a zone, one per value, page by page: a set
        of four NS values is four records (see :class:`Record` and
        :attr:`record_style`)."""
        zone = yield from self._known_zone(zone)
        yield from expand(self.iterate_record_sets.op(zone), self._records_of)

    list_records = listing(iterate_records, "List the records of a zone, one per value.")

    @operation
    @requires("get_zone", "get_record_set")
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """Get one value by zone id and record id (as a listing gives it);
        :class:`~overcast.errors.RecordNotFound` (or
        :class:`~overcast.errors.ZoneNotFound`) if absent. Where the provider's
        Libcloud id names the set (Route 53's ``"A:www"``), the set's first value."""
        zone = yield from self.get_zone.op(zone_id)
        record_id = str(record_id)
        key = self._parse_value_id(record_id, zone)
        if key is None:
            return (yield from self._scan_record(zone, record_id))
        found = yield from self._set_or_none(zone, *key)
        for record in self._records_of(found) if found is not None else []:
            if record.id == record_id:
                return record
        raise RecordNotFound(record_id, driver=self)

    @operation
    @requires("get_record_set", "create_record_set", "update_record_set")
    def create_record(self, name: str, zone: Zone, type: RecordType | str, data: RecordData,
                      extra: Mapping[str, Any] | None = None) -> Op[Record]:
        """Add a value: ``name`` in the driver's naming (:attr:`record_style`),
        ``data`` one value as :class:`Record` holds it (an MX or SRV priority in
        ``extra["priority"]`` where the data has none; ``extra["ttl"]`` the TTL).

        A second value of a name and type joins the set (whose TTL becomes
        ``extra["ttl"]``, if given); the same value twice is
        :class:`~overcast.errors.RecordAlreadyExists`. ``data`` may also be a
        list of values, all added; the record of the first is returned.
        :class:`~overcast.errors.InvalidInput`, before any request, for a
        malformed name or value, or a CNAME beside other data.
        """
        zone = yield from self._known_zone(zone)
        spec = self._value_spec(name, zone, type, data, extra)
        made = yield from self._add_values(spec)
        return self._record_of(made, spec.values[0])

    @operation
    @requires("get_record_set", "update_record_set", "delete_record_set")
    def update_record(self, record: Record, name: str | None = None,
                      type: RecordType | str | None = None, data: str | None = None,
                      extra: Mapping[str, Any] | None = None) -> Op[Record]:
        """Change one value (its name, type or data; ``extra["priority"]`` an MX or
        SRV priority, ``extra["ttl"]`` the TTL of its set) and return it as it now
        is; the set's other values stay. A value given another name or type
        moves to that set. :class:`~overcast.errors.RecordNotFound` if the
        value is gone."""
        zone = yield from self._known_zone(record.zone)
        old_name, old_type = self._record_key(record, zone)
        old_value = self._value_of(old_type, record.data, record.extra)
        fields = {**record.extra, **(extra or {})}
        fields.pop("ttl", None)
        if extra is not None and extra.get("ttl") is not None:
            fields["ttl"] = extra["ttl"]
        spec = self._value_spec(record.name if name is None else name, zone,
                                old_type if type is None else type,
                                record.data if data is None else data, fields)
        if not isinstance(spec.values[0], str) or len(spec.values) != 1:
            raise InvalidInput("update_record takes one value", driver=self)
        current, index = yield from self._value_at(zone, old_name, old_type, old_value, record)
        if names.same_name(spec.name, old_name) and spec.type.value == old_type:
            values = list(current.values)
            values[index] = spec.values[0]
            unique = {canonical(old_type, v): v for v in values}
            changed = yield from self.update_record_set.op(
                current, None, None, list(unique.values()), ttl=spec.ttl)
            return self._record_of(changed, spec.values[0])
        ttl = current.ttl if spec.ttl is None else spec.ttl
        moved = yield from self._add_values(
            RecordSpec(zone, spec.name, spec.type, spec.values, ttl))
        yield from self._remove_value(current, index)
        return self._record_of(moved, spec.values[0])

    @operation
    @requires("get_record_set", "update_record_set", "delete_record_set")
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete one value; the set goes with its last value.
        :class:`~overcast.errors.RecordNotFound` if the value is gone."""
        zone = yield from self._known_zone(record.zone)
        name, rtype = self._record_key(record, zone)
        value = self._value_of(rtype, record.data, record.extra)
        current, index = yield from self._value_at(zone, name, rtype, value, record)
        yield from self._remove_value(current, index)
        return True

    # The per-value layer's parts: a driver adjusts them through record_style,
    # and one that stores a value a record may serve them directly.

    def _value_ids(self, record: RecordSet) -> Sequence[str] | None:
        """Hook: the provider's ids of the set's values, in the order of
        ``record.values``, for ``record_style.ids == "native"``."""
        return None

    def _scan_record(self, zone: Zone, record_id: str) -> Op[Record]:
        """The value whose id is ``record_id`` when the id says nothing of its name
        and type (the provider's own ids): found by listing the zone."""
        return (yield from find_by_id(self.iterate_records.op(zone), record_id, RecordNotFound,
                                      driver=self))

    def _known_zone(self, zone: Zone) -> Op[Zone]:
        """``zone`` with its domain: a zone built by hand from its id only is read."""
        if not isinstance(zone, Zone):
            raise InvalidInput(f"not a Zone: {zone!r}", driver=self)
        if zone.domain:
            return zone
        return (yield from self.get_zone.op(zone.id))

    def _records_of(self, record: RecordSet) -> list[Record]:
        """The values of a set as records, in the driver's :attr:`record_style`."""
        style = self.record_style
        ids = self._value_ids(record) if style.ids == "native" else None
        rtype = str(record.type).upper()
        relative = names.relative_name(record.name, record.zone.domain)
        name = self._record_name(relative, record.zone)
        found: list[Record] = []
        for index, value in enumerate(record.values):
            if ids is not None and index < len(ids):
                rid = str(ids[index])
            elif style.ids == "type:name":
                rid = f"{rtype}:{name}"
            else:
                rid = f"{set_id(relative, rtype)}:{_digest(rtype, value)}"
            data, extra = self._value_data(rtype, value)
            if style.ttl_in_extra:
                extra["ttl"] = record.ttl
            found.append(Record(rid, name, rtype, data, record.zone, self, record.ttl, extra))
        return found

    def _record_of(self, record: RecordSet, value: str) -> Record:
        """The record of ``value`` in the set ``record``."""
        rtype = str(record.type).upper()
        key = canonical(rtype, value)
        for index, have in enumerate(record.values):
            if canonical(rtype, have) == key:
                return self._records_of(record)[index]
        raise RecordNotFound(f"{record.id} {value!r}", driver=self)

    def _record_name(self, relative: str, zone: Zone) -> str | None:
        """A set's relative name in the driver's naming."""
        style = self.record_style
        if style.names == "relative":
            return relative or style.apex
        absolute = names.absolute_name(relative, zone.domain)
        return absolute if style.names == "absolute" else names.bare_name(absolute)

    def _relative_name(self, name: str | None, zone: Zone) -> str:
        """A record name in the driver's naming (or relative, or absolute with the
        trailing dot) as a name the set operations take."""
        if name is None:
            return ""
        if not isinstance(name, str):
            raise InvalidInput(f"invalid record name {name!r}", driver=self)
        if self.record_style.names == "bare" and not name.endswith("."):
            domain = names.bare_name(zone.domain)
            if names.same_name(name, domain):
                return ""
            if name.lower().endswith("." + domain.lower()):
                return name[: -len(domain) - 1]
        return name

    def _record_key(self, record: Record, zone: Zone) -> tuple[str, str]:
        """``(relative name, TYPE)`` of the set a record belongs to."""
        name = names.relative_name(self._relative_name(record.name, zone), zone.domain,
                                   strict=True, driver=self)
        return name, str(record.type).upper()

    def _parse_value_id(self, record_id: str, zone: Zone) -> tuple[str, str] | None:
        """``(relative name, TYPE)`` of the set a record id points into, or ``None``
        when the id does not say (the provider's own ids)."""
        style = self.record_style
        if style.ids == "native":
            return None
        if style.ids == "type:name":
            rtype, sep, name = record_id.partition(":")
            if not sep:
                raise RecordNotFound(record_id, driver=self)
            try:
                relative = names.relative_name(self._relative_name(name, zone), zone.domain,
                                               strict=True)
            except InvalidInput:
                raise RecordNotFound(record_id, driver=self) from None
            return ("" if relative == "@" else relative), rtype.upper()
        parsed = parse_set_id(record_id.rpartition(":")[0])
        if parsed is None:
            raise RecordNotFound(record_id, driver=self)
        return parsed[0], parsed[1].value

    def _value_data(self, rtype: str, value: str) -> tuple[str, dict[str, Any]]:
        """A value in overcast's form as a record's ``(data, extra)``."""
        style = self.record_style
        extra: dict[str, Any] = {}
        parts = value.split()
        if rtype in ("MX", "SRV") and len(parts) == (2 if rtype == "MX" else 4) and all(
            part.isdigit() for part in parts[:-1]
        ):
            if style.priority_in_data:
                return value, extra
            extra["priority"] = int(parts[0])
            if rtype == "SRV":
                extra["weight"], extra["port"] = int(parts[1]), int(parts[2])
            return self._host(parts[-1]), extra
        if rtype in TARGET_TYPES:
            return self._host(value.strip()), extra
        if rtype in ("TXT", "SPF") and style.quoted_text:
            return character_strings(value), extra
        return value, extra

    def _host(self, host: str) -> str:
        if self.record_style.dotted_hosts or host == "." or not host.endswith("."):
            return host
        return host[:-1]

    def _value_of(self, rtype: str, data: Any, extra: Mapping[str, Any] | None) -> Any:
        """A record's ``data`` (with its ``extra``) as a value in overcast's form:
        the numbers of an MX or SRV target put back, quoted text unquoted. What
        is not a string is left for the checks to refuse."""
        if not isinstance(data, str):
            return data
        fields = extra or {}
        kind = str(rtype).upper()
        words = data.split()
        numbers = ("priority",) if kind == "MX" else ("priority", "weight", "port")
        if kind in ("MX", "SRV") and len(words) == 1 and all(
            fields.get(key) is not None for key in numbers
        ):
            return " ".join(str(fields[key]) for key in numbers) + f" {data}"
        if kind in ("TXT", "SPF") and self.record_style.quoted_text and data.startswith('"'):
            return parse_character_strings(data)
        return data

    def _value_spec(self, name: str | None, zone: Zone, type: RecordType | str,
                    data: RecordData, extra: Mapping[str, Any] | None) -> RecordSpec:
        """A per-value operation's arguments, checked before any request, as the
        values to write at one name and type."""
        kind = str(type).upper()
        items = [data] if isinstance(data, str) or not isinstance(data, Sequence) else data
        values = [self._value_of(kind, item, extra) for item in items]
        return self._new_set(self._relative_name(name, zone), zone, type, values, extra)

    def _set_or_none(self, zone: Zone, name: str, rtype: str) -> Op[RecordSet | None]:
        """The set of ``rtype`` at relative ``name``, or ``None``."""
        try:
            return (yield from self.get_record_set.op(zone.id, set_id(name, rtype)))
        except RecordNotFound:
            return None

    def _value_at(self, zone: Zone, name: str, rtype: str, value: str,
                  record: Record) -> Op[tuple[RecordSet, int]]:
        """The set holding ``value`` and its place there;
        :class:`~overcast.errors.RecordNotFound` (naming ``record``) if it is gone."""
        current = yield from self._set_or_none(zone, name, rtype)
        if current is not None and isinstance(value, str):
            key = canonical(rtype, value)
            for index, have in enumerate(current.values):
                if canonical(rtype, have) == key:
                    return current, index
        raise RecordNotFound(record.id, driver=self)

    def _add_values(self, spec: RecordSpec) -> Op[RecordSet]:
        """Add ``spec``'s values to their set (made if missing; its TTL set to
        ``spec.ttl`` if given); RecordAlreadyExists for a value it has."""
        rtype = spec.type.value
        current = yield from self._set_or_none(spec.zone, spec.name, rtype)
        if current is None:
            try:
                return (yield from self.create_record_set.op(
                    spec.name, spec.zone, spec.type, spec.values, ttl=spec.ttl))
            except RecordAlreadyExists:  # made meanwhile: added to below
                current = yield from self._set_or_none(spec.zone, spec.name, rtype)
                if current is None:
                    raise
        have = {canonical(rtype, value) for value in current.values}
        for value in spec.values:
            if canonical(rtype, value) in have:
                raise RecordAlreadyExists(f"{current.id} {value!r}", driver=self)
        return (yield from self.update_record_set.op(
            current, None, None, [*current.values, *spec.values], ttl=spec.ttl))

    def _remove_value(self, current: RecordSet, index: int) -> Op[None]:
        """Remove the value at ``index`` from a set; the last one deletes the set."""
        rest = [value for at, value in enumerate(current.values) if at != index]
        if rest:
            yield from self.update_record_set.op(current, None, None, rest)
        else:
            yield from self.delete_record_set.op(current)

    # -- zone files ---------------------------------------------------------------

    @operation
    @requires("get_zone", "iterate_record_sets")
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
        records = yield from collect(self.iterate_record_sets.op(zone))
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
    @requires("get_zone", "create_record_set")
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
        if replace and not (self.supports("iterate_record_sets")
                            and self.supports("update_record_set")):
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
        existing: dict[tuple[str, str], RecordSet] = {}
        if zone is not None and self.supports("iterate_record_sets"):
            for record in (yield from collect(self.iterate_record_sets.op(zone))):
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
        ``create_record_set`` checks them, and among themselves for the CNAME rule;
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

        By default one set at a time (``create_record_set``, or ``update_record_set``
        for a set replaced), through :meth:`_write_steps`: if one fails, the
        sets written before it are rolled back.
        """
        made: dict[str, RecordSet] = {}

        def write(step: Sequence[RecordSpec]) -> Op[None]:
            for spec in step:
                if spec.replaces is not None:
                    made[spec.id] = yield from self.update_record_set.op(
                        spec.replaces, None, None, spec.values, ttl=spec.ttl)
                else:
                    made[spec.id] = yield from self.create_record_set.op(
                        spec.name, zone, spec.type, spec.values, ttl=spec.ttl)

        def undo(step: Sequence[RecordSpec]) -> Op[None]:
            for spec in step:
                old = spec.replaces
                if old is None:
                    yield from self.delete_record_set.op(made[spec.id])
                else:
                    yield from self.update_record_set.op(made[spec.id], None, None,
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
        """``create_record_set``'s arguments, checked before any request
        (:meth:`_validate_record`, :meth:`_record_ttl`), with the name relative to
        the zone (an absolute name outside it is InvalidInput)."""
        rel, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        relative = self._set_name(rel, rtype, zone)
        return RecordSpec(zone, relative, rtype, values, self._record_ttl(ttl, extra))

    def _changed_set(self, record: RecordSet, name: str | None, type: RecordType | str | None,
                     data: RecordData | None, extra: Mapping[str, Any] | None = None,
                     ttl: int | None = None) -> RecordSpec:
        """``update_record_set``'s arguments, checked before any request: ``None``
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


def _digest(rtype: str, value: str) -> str:
    """What tells a value apart in overcast's record ids: a digest of its
    canonical form, the same however the provider spells it."""
    return hashlib.sha256(canonical(rtype, value).encode("utf-8", "surrogateescape")
                          ).hexdigest()[:16]


def _key_name(name: str) -> str:
    return "" if name in names.APEX_NAMES else name.rstrip(".").lower()


def _check_import(specs: Sequence[RecordSpec], existing: Mapping[tuple[str, str], RecordSet],
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
    iterate_record_sets = aio(DNSDriver.iterate_record_sets)
    list_record_sets = aio(DNSDriver.list_record_sets)
    get_record_set = aio(DNSDriver.get_record_set)
    create_record_set = aio(DNSDriver.create_record_set)
    update_record_set = aio(DNSDriver.update_record_set)
    delete_record_set = aio(DNSDriver.delete_record_set)
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
