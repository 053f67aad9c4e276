"""Record sets over DNS APIs that store one record per value.

Cloudflare, DigitalOcean, Linode and Rackspace keep every value of a set as a
record of its own, with its own id, while an overcast
:class:`~overcast.dns.base.RecordSet` is a record set: every value of one name and
type. :class:`PerValueDNSDriver` maps one onto the other once, for every such
provider:

* A set's id is ``"name:TYPE"`` with the name relative to the zone (``"@"``
  for the apex); ``record.extra`` lists the provider's ids of its values
  (under :attr:`PerValueDNSDriver.ids_key`).
* Listing groups the provider's records by name and type. A provider that
  lists in name order (:attr:`PerValueDNSDriver.listed_by_name`) has each set
  emitted as soon as a record of another name follows it; otherwise every page
  is read first, since a set's last value may be on the last page.
* Creating a set checks that the name is free (no set of that type, and the
  CNAME rule: :func:`overcast.dns.names.check_free`), then writes one value at
  a time, all or nothing: if a write fails, a compensating operation deletes
  the values made, and any value of the set whose write had an unknown outcome.
  A write whose outcome is unknown is never sent again.
* Updating a set with the same name and type is a diff by
  :func:`overcast.dns.records.canonical` value: values that go away are changed
  in place into new ones, the new values left over are created (all or
  nothing), the old ones left over deleted, and values that stay get the set's
  TTL. A new name or type creates the new set first, then deletes the old one.
* Deleting a set deletes every value; a set with no value left is
  :class:`~overcast.errors.RecordNotFound`.
* Apache Libcloud's per-value operations use the provider's ids, and are
  served one request a value where the base class would rewrite the set:
  ``create_record`` posts the new value (after the same name checks),
  ``delete_record`` deletes the one provider record.
* A zone-file import of new sets (checked against the zone's listing first)
  creates them one set at a time, each all or nothing, or, where the provider
  writes many values in one request that makes all or none
  (:attr:`PerValueDNSDriver.values_per_post`), in as few requests as that
  allows. If a set fails, the sets made before it are deleted again and the
  error says so. An import that replaces sets replaces them one at a time
  (:meth:`~overcast.dns.base.DNSDriver._store_sets`).

These providers' APIs are alike in more than that, and what they share is
here too: listings page by page on the kit's pager (zones and records alike),
``get_zone`` and ``delete_zone`` on a zone's path, the default REST writes of
one value, the checked ``endpoint`` and ``page_size`` options, bearer-token
signing, and the two steps every ``create_zone`` takes: checking the domain
(:meth:`PerValueDNSDriver._zone_domain`) and sending the create once
(:meth:`PerValueDNSDriver._create_zone_once`). A driver states how its
provider lists, reads and writes (the hooks of :class:`PerValueDNSDriver`);
its wire form and its quirks stay in the driver.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import ClassVar
from typing import TypeAlias
from urllib.parse import quote

from overcast.auth.bearer import BearerAuth
from overcast.dns import names
from overcast.dns.base import DNSDriver
from overcast.dns.base import Record
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordSpec
from overcast.dns.base import RecordStyle
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import batches
from overcast.dns.models import parse_set_id
from overcast.dns.models import set_id
from overcast.dns.records import canonical
from overcast.dns.records import character_strings
from overcast.dns.records import parse_character_strings
from overcast.errors import InvalidInput
from overcast.errors import OvercastError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneNotFound
from overcast.runtime.api import HttpApi
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.ops import find_first
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate

__all__ = [
    "Entry",
    "Item",
    "PerValueDNSDriver",
    "absolute_host",
    "full_name",
    "numbered_zone",
    "parse_set_id",
    "set_id",
    "value_fields",
    "value_text",
    "wire_host",
]

#: A provider's record as it comes from the API (decoded JSON).
Item: TypeAlias = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Entry:
    """One value as the provider stores it, in overcast's terms.

    ``name`` is relative to the zone (``""`` for the apex), ``type`` the
    upper-case mnemonic, ``value`` in overcast's form (see
    :mod:`overcast.dns.base`), ``ttl`` ``None`` where the zone's default applies,
    ``id`` the provider's id of this one value and ``item`` the provider's record.
    """

    name: str
    type: str
    value: str
    ttl: int | None
    id: str | int
    item: Item = field(default_factory=dict, repr=False, compare=False)

    def at(self, name: str, rtype: str | None = None) -> bool:
        """Whether this value belongs to ``name`` (any case) and, if given, ``rtype``."""
        return self.name.lower() == name.lower() and (rtype is None or self.type == rtype)


def absolute_host(host: str) -> str:
    """A host name from the API in overcast's form: with its trailing dot (``""``
    is the root, ``"."``)."""
    return host if host.endswith(".") else f"{host}."


def wire_host(host: str) -> str:
    """A host name as these APIs take it: without the trailing dot (the root
    stays ``"."``)."""
    return host[:-1] if host.endswith(".") and host != "." else host


def value_fields(rtype: str, value: str) -> dict[str, Any]:
    """A value in overcast's form taken apart into the fields these APIs store.

    MX: ``priority`` and ``target``; SRV: ``priority``, ``weight``, ``port`` and
    ``target``; CAA: ``flags``, ``tag`` and ``value`` (unquoted); a type whose
    value is a host name: ``target``; any other: ``data``, the value itself.
    Numbers are ints, host names as given (with or without the trailing dot).
    """
    kind = str(rtype).upper()
    if kind == "MX":
        priority, target = value.split()
        return {"priority": int(priority), "target": target}
    if kind == "SRV":
        priority, weight, port, target = value.split()
        return {"priority": int(priority), "weight": int(weight), "port": int(port),
                "target": target}
    if kind == "CAA":
        flags, tag, rest = value.split(None, 2)
        text = parse_character_strings(rest) if rest.startswith('"') else rest
        return {"flags": int(flags), "tag": tag, "value": text}
    if kind in names.TARGET_TYPES:
        return {"target": value.strip()}
    return {"data": value}


def value_text(rtype: str, fields: Mapping[str, Any]) -> str:
    """A value in overcast's form from the fields an API stores it in (the
    inverse of :func:`value_fields`): host names made absolute, missing numbers 0."""
    kind = str(rtype).upper()

    def number(key: str) -> int:
        return int(fields.get(key) or 0)

    target = absolute_host(str(fields.get("target") or ""))
    if kind == "MX":
        return f"{number('priority')} {target}"
    if kind == "SRV":
        return f"{number('priority')} {number('weight')} {number('port')} {target}"
    if kind == "CAA":
        return f"{number('flags')} {fields.get('tag')} {character_strings(str(fields['value']))}"
    if kind in names.TARGET_TYPES:
        return target
    return str(fields.get("data") or "")


def full_name(name: str, zone: Zone) -> str:
    """A relative record name as these APIs name records: fully qualified, without
    the trailing dot."""
    return names.bare_name(names.absolute_name(name, zone.domain))


def numbered_zone(zone_id: str, *, driver: Any = None) -> str:
    """The id of a zone of an API that numbers its zones (Linode, Rackspace);
    :class:`~overcast.errors.ZoneNotFound` if it is not a number, as no request
    could find such a zone."""
    text = str(zone_id)
    if not text.isdigit():
        raise ZoneNotFound(text, driver=driver)
    return text


class PerValueDNSDriver(HttpApi, BearerAuth, DNSDriver):
    """Base class of DNS drivers whose provider stores one record per value, over
    an HTTP API (the :class:`~overcast.runtime.api.HttpApi` kit).

    It implements ``iterate_zones``, ``iterate_record_sets``, ``get_record_set``,
    ``create_record_set``, ``update_record_set`` and ``delete_record_set`` on these hooks:

    * :meth:`_zone_page`: one page of the account's zones, fetched from
      :attr:`first_page` on (as every listing);
    * :meth:`_value_page`: one page of the zone's records (all, or those at one
      name and type, as far as the provider can filter; the rest is filtered
      here), fetched from :attr:`first_page` on;
    * :meth:`_entry`: one provider record as an :class:`Entry`;
    * :meth:`_payload`: the provider's body for one value (raising
      :class:`~overcast.errors.InvalidInput` for what the provider cannot
      store, before any request);
    * :meth:`_post_value`, :meth:`_change_value`, :meth:`_delete_value`: create,
      change and delete one value. They default to the common REST shape: a
      ``POST`` to the zone's record collection (:meth:`_records_path`), then
      :attr:`change_method` and ``DELETE`` on ``<collection>/<id>``, through
      :meth:`~overcast.runtime.api.HttpApi._json`. A provider with batch writes
      overrides :meth:`_post_values`, :meth:`_change_values` and
      :meth:`_delete_values` instead.

    Zones: :meth:`_zone_path` is the path of one zone, which ``get_zone`` reads
    (:meth:`_to_zone`; :attr:`zone_key`, :attr:`zone_params`) and ``delete_zone``
    deletes.
    """

    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    #: The provider's own ids are the records' ids.
    record_style: ClassVar[RecordStyle] = RecordStyle(ids="native")
    #: The ``page_size`` values the provider accepts (``None``: no upper bound).
    page_sizes: ClassVar[tuple[int, int | None]] = (1, None)
    #: Whether a larger ``page_size`` is lowered to the largest accepted, not refused.
    clamp_page_size: ClassVar[bool] = False
    #: The key of the answer to ``GET <zone>`` that holds the zone (``None``: the
    #: answer is the zone).
    zone_key: ClassVar[str | None] = None
    #: The query of ``GET <zone>``.
    zone_params: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: The path of a zone's record collection, below the zone's own path.
    records_suffix: ClassVar[str] = "/records"
    #: The method that rewrites one value in place, on ``<collection>/<id>``.
    change_method: ClassVar[str] = "PUT"
    #: The key of the answer to a ``POST`` that holds the new record (``None``:
    #: the answer is the record).
    created_key: ClassVar[str | None] = None
    #: Where ``record.extra`` lists the provider's ids of a set's values.
    ids_key: ClassVar[str] = "ids"
    #: The cursor of the first page of a listing (``None``: no cursor).
    first_page: ClassVar[Cursor | None] = 1
    #: Whether the full listing comes ordered by name, so that a set is complete
    #: once a record of another name follows it.
    listed_by_name: ClassVar[bool] = False
    #: Whether ``GET <collection>/<id>`` reads one record (``get_record`` by the
    #: provider's id is then one request, not a listing of the zone).
    value_by_id: ClassVar[bool] = True
    #: How many values one :meth:`_post_values` writes in one request that makes
    #: all or none (1: the provider writes a value a request).
    values_per_post: ClassVar[int] = 1

    def __init__(self, *, endpoint: str | None, page_size: int = 100, **options: Any) -> None:
        """``endpoint`` is the API's base URL (``None``: the driver learns it with
        its credentials), ``page_size`` how many items each listing request asks
        for (see :attr:`page_sizes`); ``options`` are the runtime's."""
        super().__init__(**options)
        self.endpoint = "" if endpoint is None else check_endpoint(endpoint, driver=self)
        low, high = self.page_sizes
        self.page_size = check_page_size(page_size, minimum=low, maximum=high,
                                         clamp=self.clamp_page_size, driver=self)

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint}

    # -- hooks ----------------------------------------------------------------------

    def _to_zone(self, data: Item) -> Zone:
        """A zone as the API describes it, as a :class:`~overcast.dns.base.Zone`."""
        raise NotImplementedError

    def _zone_page(self, cursor: Cursor | None, domain: str | None) -> Op[Page[Item]]:
        """Operation: the page at ``cursor`` of the account's zones (read with
        :meth:`_to_zone`); with ``domain`` (without its trailing dot), the API may
        keep to the zones of that name."""
        raise NotImplementedError

    def _value_page(
        self, zone: Zone, cursor: Cursor | None, name: str | None, rtype: str | None
    ) -> Op[Page[Item]]:
        """Operation: the page at ``cursor`` of the zone's records, or of those at
        relative ``name`` (and of type ``rtype``) when given."""
        raise NotImplementedError

    def _entry(self, zone: Zone, item: Item) -> Entry | None:
        """One provider record as an :class:`Entry` (``None``: not part of any set
        overcast shows, such as a SOA kept by the provider)."""
        raise NotImplementedError

    def _payload(
        self, zone: Zone, name: str, rtype: RecordType, value: str, ttl: int | None
    ) -> dict[str, Any]:
        """The provider's body for ``value`` at relative ``name`` (``ttl`` ``None``:
        the zone's default)."""
        raise NotImplementedError

    def _zone_path(self, zone_id: str) -> str:
        """The path of one zone (below :attr:`endpoint`)."""
        raise NotImplementedError

    def _records_path(self, zone: Zone) -> str:
        """The path of a zone's record collection."""
        return f"{self._zone_path(zone.id)}{self.records_suffix}"

    def _post_value(self, zone: Zone, payload: dict[str, Any], what: str) -> Op[Item]:
        """Operation: create one value; the provider's record (``what``: the set's id)."""
        reply = yield from self._json("POST", self._records_path(zone), json=payload, what=what,
                                      missing=ZoneNotFound)
        item: Item = reply[self.created_key] if self.created_key else reply
        return item

    def _change_value(self, zone: Zone, entry: Entry, payload: dict[str, Any]) -> Op[object]:
        """Operation: rewrite the value ``entry`` as ``payload`` says, in place."""
        return (yield from self._json(self.change_method, f"{self._records_path(zone)}/{entry.id}",
                                      json=payload, what=str(entry.id), missing=RecordNotFound))

    def _delete_value(self, zone: Zone, entry: Entry) -> Op[object]:
        """Operation: delete one value (:class:`~overcast.errors.RecordNotFound` if gone)."""
        return (yield from self._json("DELETE", f"{self._records_path(zone)}/{entry.id}",
                                      what=str(entry.id), missing=RecordNotFound))

    def _post_values(
        self, zone: Zone, payloads: Sequence[dict[str, Any]], what: str, made: list[Entry]
    ) -> Op[None]:
        """Operation: create the values, adding each one made to ``made`` as soon as
        it is (the compensation of a failed create deletes them)."""
        for payload in payloads:
            item = yield from self._post_value(zone, payload, what)
            made.extend(self._entries(zone, [item]))

    def _change_values(
        self, zone: Zone, changes: Sequence[tuple[Entry, dict[str, Any]]]
    ) -> Op[None]:
        """Operation: rewrite each value in place."""
        for entry, payload in changes:
            yield from self._change_value(zone, entry, payload)

    def _delete_values(self, zone: Zone, entries: Sequence[Entry]) -> Op[None]:
        """Operation: delete the values; one already gone is no error."""
        for entry in entries:
            try:
                yield from self._delete_value(zone, entry)
            except RecordNotFound:
                continue

    def _value_ids(self, record: RecordSet) -> Sequence[str] | None:
        """The provider's ids of a set's values (``record.extra``), which are the
        ids of its :class:`~overcast.dns.base.Record` values."""
        ids = record.extra.get(self.ids_key)
        return None if ids is None else [str(value_id) for value_id in ids]

    def _set_extra(self, entries: Sequence[Entry]) -> dict[str, Any]:
        """``record.extra`` of a set made of ``entries``."""
        return {self.ids_key: [entry.id for entry in entries]}

    # -- zones ------------------------------------------------------------------------

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """A zone by id; :class:`~overcast.errors.ZoneNotFound` if absent."""
        data = yield from self._json("GET", self._zone_path(zone_id), params=self.zone_params,
                                     what=str(zone_id), missing=ZoneNotFound)
        return self._to_zone(data[self.zone_key] if self.zone_key else data)

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone and every record in it; :class:`~overcast.errors.ZoneNotFound`
        if absent."""
        yield from self._json("DELETE", self._zone_path(zone.id), what=zone.id,
                              missing=ZoneNotFound)
        return True

    def _zone_domain(self, domain: str) -> str:
        """The domain of a zone to create, checked, without its trailing dot."""
        if not isinstance(domain, str) or domain in names.APEX_NAMES or domain == ".":
            raise InvalidInput(f"invalid domain {domain!r}", driver=self)
        names.validate_name(domain, wildcard=False, what="domain", driver=self)
        return names.bare_name(domain)

    def _create_zone_once(self, send: Callable[[], Op[Zone]], domain: str) -> Op[Zone]:
        """Operation: the zone ``send()`` creates. A create whose answer was lost is
        looked up (:meth:`_find_zone`) before it is sent again, so it never
        makes a second zone."""
        return (yield from create_once(send, lambda: self._find_zone(domain)))

    def _zone_pages(self, domain: str | None = None) -> Iter[Zone]:
        """Iterator operation: every zone (with ``domain``: those the API gives for
        that domain, if it filters by name), page by page."""

        def fetch(cursor: Cursor | None) -> Op[Page[Zone]]:
            page = yield from self._zone_page(cursor, domain)
            return Page([self._to_zone(item) for item in page.items], page.next, page.style)

        return paginate(fetch, first=self.first_page, what="zones", driver=self)

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every zone of the account, page by page."""
        yield from self._zone_pages()

    def _find_zone(self, domain: str) -> Op[Zone | None]:
        """The zone of ``domain`` (without the trailing dot), or ``None``."""
        return (yield from find_first(self._zone_pages(domain),
                                      lambda zone: names.same_name(zone.domain, domain)))

    # -- reading --------------------------------------------------------------------

    def _entries(self, zone: Zone, items: Iterable[Item]) -> list[Entry]:
        entries = (self._entry(zone, item) for item in items)
        return [entry for entry in entries if entry is not None]

    def _relative(self, name: str, zone: Zone) -> str:
        """A record name given relative or absolute, relative to the zone;
        :class:`~overcast.errors.InvalidInput` outside it."""
        return names.relative_name(name, zone.domain, strict=True, driver=self)

    def _values_at(self, zone: Zone, name: str, rtype: str | None = None) -> Op[list[Entry]]:
        """Every value at relative ``name`` (of type ``rtype``), across pages."""
        names.encodable(name, what="record name", driver=self)

        def fetch(cursor: Cursor | None) -> Op[Page[Item]]:
            return (yield from self._value_page(zone, cursor, name, rtype))

        items = yield from collect(
            paginate(fetch, first=self.first_page, what=f"records of {zone.domain}",
                     driver=self)
        )
        return [entry for entry in self._entries(zone, items) if entry.at(name, rtype)]

    def _to_record(self, zone: Zone, entries: Sequence[Entry]) -> RecordSet:
        first = entries[0]
        values = [entry.value for entry in entries]
        return RecordSet(
            id=set_id(first.name, first.type), name=first.name, type=first.type,
            data=values[0], zone=zone, driver=self, ttl=first.ttl,
            extra=self._set_extra(entries), values=values,
        )

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """The record sets of a zone, page by page."""
        groups: dict[tuple[str, str], list[Entry]] = {}

        def complete() -> list[RecordSet]:
            done = [self._to_record(zone, entries) for entries in groups.values()]
            groups.clear()
            return done

        def fetch(cursor: Cursor | None) -> Op[Page[RecordSet]]:
            page = yield from self._value_page(zone, cursor, None, None)
            done: list[RecordSet] = []
            for entry in self._entries(zone, page.items):
                key = (entry.name.lower(), entry.type)
                # Listed by name, the sets in progress share one name: another
                # name completes them.
                if self.listed_by_name and groups and key[0] != next(iter(groups))[0]:
                    done += complete()
                groups.setdefault(key, []).append(entry)
            if page.next is None:
                done += complete()
            return Page(done, page.next, page.style)

        yield from paginate(fetch, first=self.first_page, what=f"records of {zone.domain}",
                            driver=self)

    @operation
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        """A record set by zone id and ``"name:TYPE"`` (``"@:TYPE"`` at the apex)."""
        zone = yield from self.get_zone.op(zone_id)
        parsed = parse_set_id(record_id)
        if parsed is None:
            raise RecordNotFound(record_id, driver=self)
        name, rtype = parsed
        entries = yield from self._values_at(zone, name, str(rtype))
        if not entries:
            raise RecordNotFound(record_id, driver=self)
        return self._to_record(zone, entries)

    # -- writing --------------------------------------------------------------------

    def _create_set(self, zone: Zone, name: str, rtype: RecordType, values: Sequence[str],
                    ttl: int | None, known: set[str | int]) -> Op[list[Entry]]:
        """Create the values, all or none; ``known``: the ids at ``name`` before."""
        payloads = [self._payload(zone, name, rtype, value, ttl) for value in values]
        made: list[Entry] = []
        yield Guarded(
            self._post_values(zone, payloads, set_id(name, str(rtype)), made),
            self._undo_create(zone, name, str(rtype), values, known, made),
        )
        return made

    def _undo_create(self, zone: Zone, name: str, rtype: str, values: Sequence[str],
                     known: set[str | int],
                     made: list[Entry]) -> Callable[[BaseException], Op[None]]:
        """The compensation of a failed create: delete the values made, then any
        value of the set that was not there before and whose write may have
        taken effect unseen (an unknown outcome, a batch that failed midway)."""

        def undo(_: BaseException) -> Op[None]:
            failure: OvercastError | None = None
            gone: set[str | int] = set()
            try:
                if made:
                    yield from self._delete_values(zone, made)
                gone = {entry.id for entry in made}
            except OvercastError as exc:
                failure = exc
            wanted = {canonical(rtype, value) for value in values}
            left = yield from self._values_at(zone, name, rtype)
            strays = [entry for entry in left if entry.id not in known | gone
                      and canonical(rtype, entry.value) in wanted]
            if strays:
                yield from self._delete_values(zone, strays)
            if failure is not None:
                raise failure

        return undo

    def _store_new_set(self, spec: RecordSpec) -> Op[RecordSet]:
        """Create a record set: one provider record per value, all or none."""
        zone, relative, rtype, values, ttl = spec.zone, spec.name, spec.type, spec.values, spec.ttl
        for value in values:  # what the provider cannot store fails before any request
            self._payload(zone, relative, rtype, value, ttl)
        here = yield from self._values_at(zone, relative)
        spec.check_free({entry.type for entry in here}, driver=self)
        made = yield from self._create_set(zone, relative, rtype, values, ttl,
                                           {entry.id for entry in here})
        return self._to_record(zone, made)

    def _store_changed_set(self, record: RecordSet, spec: RecordSpec) -> Op[RecordSet]:
        """Replace a set's name, type, values or TTL; return it as it now is.

        Same name and type: values that go away are changed in place into new
        ones, the new values left over are created and the old ones left over
        deleted; a TTL left ``None`` keeps the set's. A new name or type creates
        the new set (all or none), then deletes the old one.
        """
        zone, relative, rtype, values, ttl = spec.zone, spec.name, spec.type, spec.values, spec.ttl
        for value in values:
            self._payload(zone, relative, rtype, value, ttl)
        old_name, old_type = self._relative(record.name, zone), str(record.type).upper()
        current = yield from self._values_at(zone, old_name, old_type)
        if not current:
            raise RecordNotFound(record.id, driver=self)
        keep_ttl = ttl if ttl is not None else current[0].ttl
        if (relative.lower(), str(rtype)) == (old_name.lower(), old_type):
            yield from self._sync_set(zone, relative, rtype, values, keep_ttl, current)
        else:
            here = yield from self._values_at(zone, relative)
            ours = {entry.id for entry in current}
            names.check_free(relative, str(rtype),
                             {entry.type for entry in here if entry.id not in ours}, driver=self)
            yield from self._create_set(zone, relative, rtype, values, keep_ttl,
                                        {entry.id for entry in here})
            yield from self._delete_values(zone, current)
        entries = yield from self._values_at(zone, relative, str(rtype))
        return self._to_record(zone, entries)

    def _scan_record(self, zone: Zone, record_id: str) -> Op[Record]:
        """The value with the provider's id ``record_id``: one ``GET`` of
        ``<collection>/<id>`` where the provider reads one record
        (:attr:`value_by_id`), else found by listing the zone."""
        if not self.value_by_id:
            return (yield from super()._scan_record(zone, record_id))
        names.encodable(record_id, what="record id", driver=self)
        path = f"{self._records_path(zone)}/{quote(record_id, safe='')}"
        reply = yield from self._json("GET", path, what=record_id, missing=RecordNotFound)
        item = reply
        if self.created_key and isinstance(reply, dict):
            item = reply.get(self.created_key)
        entries = self._entries(zone, [item]) if isinstance(item, dict) else []
        if not entries:  # a record of a kind overcast does not list (the SOA, say)
            raise RecordNotFound(record_id, driver=self)
        entry = entries[0]
        found = RecordSet(set_id(entry.name, entry.type), entry.name, entry.type, entry.value,
                          zone, self, entry.ttl, extra={self.ids_key: [entry.id]})
        return self._records_of(found)[0]

    def _add_values(self, spec: RecordSpec) -> Op[RecordSet]:
        """Add values to a set as the provider stores them: one new record per
        value (all or none), the values already there left as they are. The
        CNAME rule holds; a value the set has is RecordAlreadyExists."""
        zone, name, rtype = spec.zone, spec.name, spec.type
        for value in spec.values:  # what the provider cannot store fails before any request
            self._payload(zone, name, rtype, value, spec.ttl)
        here = yield from self._values_at(zone, name)
        ours = [entry for entry in here if entry.type == rtype.value]
        names.check_free(name, rtype.value, {entry.type for entry in here} - {rtype.value},
                         driver=self)
        have = {canonical(rtype.value, entry.value) for entry in ours}
        for value in spec.values:
            if canonical(rtype.value, value) in have:
                raise RecordAlreadyExists(f"{spec.id} {value!r}", driver=self)
        ttl = spec.ttl if spec.ttl is not None or not ours else ours[0].ttl
        made = yield from self._create_set(zone, name, rtype, spec.values, ttl,
                                           {entry.id for entry in here})
        return self._to_record(zone, [*ours, *made])

    def _remove_value(self, current: RecordSet, index: int) -> Op[None]:
        """Delete the one provider record that holds the value."""
        ids = self._value_ids(current) or []
        if index >= len(ids):  # a set not read from this provider: the generic way
            return (yield from super()._remove_value(current, index))
        zone = current.zone
        entry = Entry(self._relative(current.name, zone), str(current.type).upper(),
                      current.values[index], current.ttl, ids[index])
        yield from self._delete_values(zone, [entry])

    def _store_sets(self, zone: Zone, specs: Sequence[RecordSpec]) -> Op[None]:
        """Create an import's new sets: one set at a time, each all or none, or
        as many values a request as :attr:`values_per_post` allows; the sets made
        are deleted again if a later one fails. Sets replaced go one at a time
        through the base class."""
        if any(spec.replaces is not None for spec in specs):
            return (yield from super()._store_sets(zone, specs))
        for spec in specs:  # what the provider cannot store fails before any request
            for value in spec.values:
                self._payload(zone, spec.name, spec.type, value, spec.ttl)
        made: dict[str, list[Entry]] = {}

        def write(step: Sequence[RecordSpec]) -> Op[None]:
            if len(step) == 1:
                spec = step[0]
                made[spec.id] = yield from self._create_set(
                    zone, spec.name, spec.type, spec.values, spec.ttl, set())
                return
            entries = made[step[0].id] = []
            payloads = [self._payload(zone, spec.name, spec.type, value, spec.ttl)
                        for spec in step for value in spec.values]
            yield from self._post_values(zone, payloads, f"import into {zone.domain}", entries)

        def undo(step: Sequence[RecordSpec]) -> Op[None]:
            yield from self._delete_values(zone, made.get(step[0].id, []))

        steps = (batches(specs, lambda spec: (len(spec.values),), (self.values_per_post,))
                 if self.values_per_post > 1 else [[spec] for spec in specs])
        yield from self._write_steps(zone, steps, write, undo)

    def _sync_set(self, zone: Zone, name: str, rtype: RecordType, values: Sequence[str],
                  ttl: int | None, current: Sequence[Entry]) -> Op[None]:
        """Make the values at ``name`` be ``values`` with ``ttl``, by changing,
        creating and deleting as few provider records as the diff needs."""
        kind = str(rtype)
        have: dict[str, Entry] = {}
        twins: list[Entry] = []  # a value stored twice: the copies go
        for entry in current:
            key = canonical(kind, entry.value)
            if key in have:
                twins.append(entry)
            else:
                have[key] = entry
        want = {canonical(kind, value): value for value in values}
        stale = [entry for key, entry in have.items() if key not in want] + twins
        fresh = [value for key, value in want.items() if key not in have]
        changes = [(entry, self._payload(zone, name, rtype, value, ttl))
                   for entry, value in zip(stale, fresh, strict=False)]
        changes += [(entry, self._payload(zone, name, rtype, want[key], ttl))
                    for key, entry in have.items() if key in want and entry.ttl != ttl]
        if changes:
            yield from self._change_values(zone, changes)
        if len(fresh) > len(stale):
            yield from self._create_set(zone, name, rtype, fresh[len(stale):], ttl,
                                        {entry.id for entry in current})
        if len(stale) > len(fresh):
            yield from self._delete_values(zone, stale[len(fresh):])

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete every value of a set; :class:`~overcast.errors.RecordNotFound` if
        none is left."""
        zone = record.zone
        current = yield from self._values_at(zone, self._relative(record.name, zone),
                                             str(record.type).upper())
        if not current:
            raise RecordNotFound(record.id, driver=self)
        yield from self._delete_values(zone, current)
        return True
