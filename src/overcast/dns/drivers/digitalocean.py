"""DigitalOcean DNS, through the DigitalOcean API v2 (``/v2/domains``).

``DigitalOceanDNSDriver(token)`` authenticates with a personal access (or
OAuth) token, sent as ``Authorization: Bearer ...``.

How overcast's model maps onto DigitalOcean:

* A zone is a DigitalOcean domain; its id is the domain name (``"example.com"``)
  and ``Zone.ttl`` the domain's TTL. ``create_zone(domain, extra={"ip_address":
  "192.0.2.1"})`` also makes an ``@`` A (or AAAA) record, as the API does;
  without it the new zone holds only DigitalOcean's NS records (and its SOA).
* DigitalOcean stores one value per record, each with a numeric id. A
  :class:`~overcast.dns.base.Record` is every record of one name and type; its
  id is ``"name:TYPE"`` with the name relative to the zone (``"@"`` for the
  apex), and ``extra["ids"]`` holds the numeric ids. Creating a set posts one
  record per value; if one fails, the ones already made are deleted again.
  Updating a set changes, adds and deletes individual records as the values
  differ. The SOA record the API lists is not a record set overcast can
  represent (its ``data`` is only a TTL) and is left out; its content is in
  the domain's zone file.
* MX and SRV priorities, SRV weight and port, and CAA flags and tag are fields
  of their own in the API and part of the value text in overcast. Host names
  are sent fully qualified (with the trailing dot, which the API drops);
  ``@`` read back means the zone apex. CAA ``issue``/``issuewild`` values are
  sent with the trailing dot the API requires; DigitalOcean accepts only the
  tags ``issue``, ``issuewild`` and ``iodef`` and values without spaces. TXT
  values are sent and read as the bare text.
* The API lists records in no particular order, so a set is known to be
  complete only after the last page: ``iterate_records`` reads every page
  before it emits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from overcast.dns import names
from overcast.dns.base import DNSDriver, Record, RecordData, RecordType, Zone, ZoneType
from overcast.dns.records import canonical, character_strings, parse_character_strings
from overcast.errors import (
    AlreadyExists,
    InvalidInput,
    NotSupported,
    OutcomeUnknown,
    OvercastError,
    ProviderError,
    RecordAlreadyExists,
    RecordNotFound,
    ZoneAlreadyExists,
    ZoneNotFound,
)
from overcast.runtime.api import ErrorMap, HttpApi, When
from overcast.runtime.effects import Emit, Guarded, Iter, Op, Request
from overcast.runtime.operation import iterator, operation
from overcast.runtime.ops import collect
from overcast.runtime.options import check_endpoint, check_page_size
from overcast.runtime.paging import Cursor, Page, paginate
from overcast.runtime.redact import Secret

__all__ = ["DigitalOceanDNSDriver"]

T = TypeVar("T")

DEFAULT_ENDPOINT: Final = "https://api.digitalocean.com/v2"
#: DigitalOcean's documented ``per_page`` range.
_PAGE: Final = (1, 200)
_HOST_TYPES: Final = frozenset({"CNAME", "NS"})
_CAA_TAGS: Final = frozenset({"issue", "issuewild", "iodef"})
_JSON: Final = {"Content-Type": "application/json", "Accept": "application/json"}


def _absolute(host: str) -> str:
    return host if host.endswith(".") else f"{host}."


class DigitalOceanDNSDriver(HttpApi, DNSDriver):
    """DNS zones (domains) and record sets on DigitalOcean (API v2).

    ``key`` is the API token; ``secret`` is unused and kept for Apache
    Libcloud's signature. ``page_size`` is the ``per_page`` of listings (1..200).
    """

    name: ClassVar[str] = "digitalocean"
    label: ClassVar[str] = "DigitalOcean"
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    errors: ClassVar[ErrorMap] = ErrorMap(When(AlreadyExists, status=422, says="already exists"))
    record_types: ClassVar[tuple[RecordType, ...]] = (
        RecordType.A,
        RecordType.AAAA,
        RecordType.CAA,
        RecordType.CNAME,
        RecordType.MX,
        RecordType.NS,
        RecordType.SRV,
        RecordType.TXT,
    )

    def __init__(
        self,
        key: str | Secret,
        secret: str | None = None,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        page_size: int = 100,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not key:
            raise InvalidInput("DigitalOcean needs an API token", driver=self)
        self.page_size = check_page_size(page_size, maximum=_PAGE[1], clamp=True, driver=self)
        self.endpoint = check_endpoint(endpoint, driver=self)
        self._token = Secret(key)

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint}

    def _sign(self, request: Request, now: float) -> Request:
        """Add the token to every attempt."""
        return request.with_headers({"Authorization": f"Bearer {self._token.reveal()}"})

    # -- requests -----------------------------------------------------------------

    def _pages(self, path: str, key: str, convert: Callable[[dict[str, Any]], T],
               params: Sequence[tuple[str, str]] = (), what: str = "") -> Iter[T]:
        """Every item of a paginated list, page by page, following ``links.pages.next``."""

        def fetch(page: Cursor | None) -> Op[Page[T]]:
            payload = yield from self._json(
                "GET", path, params=[*params, ("page", str(page)),
                                     ("per_page", str(self.page_size))],
                what=what, missing=ZoneNotFound)
            payload = payload or {}
            items = [convert(item) for item in payload.get(key) or []]
            following = ((payload.get("links") or {}).get("pages") or {}).get("next")
            number = parse_qs(urlsplit(str(following)).query).get("page") if following else None
            if number and not number[0].isdigit():
                raise ProviderError(f"GET {path}: the next page link has no page number: "
                                    f"{following!r}", driver=self)
            return Page(items, int(number[0]) if number else None, "page")

        yield from paginate(fetch, first=1, what=f"GET {path}", driver=self)

    # -- zones ----------------------------------------------------------------------

    def _to_zone(self, item: Mapping[str, Any]) -> Zone:
        ttl = item.get("ttl")
        extra = {"zone_file": item.get("zone_file")} if item.get("zone_file") else {}
        return Zone(id=str(item["name"]), domain=_absolute(str(item["name"])),
                    type=ZoneType.MASTER, ttl=None if ttl is None else int(ttl), driver=self,
                    extra=extra)

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every domain of the account, page by page."""
        yield from self._pages("/domains", "domains", self._to_zone)

    def _zone_path(self, zone_id: str) -> str:
        return f"/domains/{quote(str(zone_id).rstrip('.'), safe='')}"

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """A domain by name; :class:`~overcast.errors.ZoneNotFound` if absent."""
        payload = yield from self._json("GET", self._zone_path(zone_id), what=zone_id,
                                        missing=ZoneNotFound)
        return self._to_zone(payload["domain"])

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Create a domain; ``extra["ip_address"]`` also makes an ``@`` address record.

        DigitalOcean domains are primary zones with a fixed TTL, so ``ttl`` and
        ``type="slave"`` raise :class:`~overcast.errors.NotSupported`.
        """
        if not isinstance(domain, str) or domain in names.APEX_NAMES or domain == ".":
            raise InvalidInput(f"invalid domain {domain!r}", driver=self)
        names.validate_name(domain, wildcard=False, what="domain", driver=self)
        bare = domain.rstrip(".").lower()
        if str(type).lower() != ZoneType.MASTER:
            raise NotSupported("DigitalOcean hosts only primary zones", driver=self)
        if ttl is not None:
            raise NotSupported("DigitalOcean domains have a fixed TTL", driver=self)
        body: dict[str, Any] = {"name": bare}
        ip = (extra or {}).get("ip_address")
        if ip:
            body["ip_address"] = str(ip)
        try:
            payload = yield from self._json("POST", "/domains", json=body, what=bare,
                                            exists=ZoneAlreadyExists, missing=ZoneNotFound)
        except OutcomeUnknown as unknown:  # look before saying it failed
            try:
                made = yield from self.get_zone.op(bare)
            except ZoneNotFound:
                raise unknown from None
            return made
        return self._to_zone(payload["domain"])

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a domain and its records; ZoneNotFound if absent."""
        yield from self._json("DELETE", self._zone_path(zone.id), what=zone.id,
                              missing=ZoneNotFound)
        return True

    # -- names and values ---------------------------------------------------------

    @staticmethod
    def _origin(zone: Zone) -> str:
        return zone.domain.rstrip(".").lower()

    def _relative(self, name: str, zone: Zone) -> str:
        """``name`` (relative or absolute) relative to the zone; ``""`` for the apex."""
        if name in names.APEX_NAMES:
            return ""
        origin = self._origin(zone)
        if not name.endswith("."):
            return name.lower()
        full = name.rstrip(".").lower()
        if full == origin:
            return ""
        if not full.endswith(f".{origin}"):
            raise InvalidInput(f"record name {name!r} is not in zone {zone.domain!r}",
                               driver=self)
        return full[: -len(origin) - 1]

    def _fqdn(self, relative: str, zone: Zone) -> str:
        origin = self._origin(zone)
        return f"{relative}.{origin}" if relative else origin

    def _host(self, data: str, zone: Zone) -> str:
        """A host name from the API as an absolute name."""
        if data == "@":
            return zone.domain
        return _absolute(data)

    def _value(self, item: Mapping[str, Any], zone: Zone) -> str:
        """One record's value in overcast's form."""
        rtype = str(item.get("type", "")).upper()
        data = str(item.get("data") or "")
        if rtype in _HOST_TYPES:
            return self._host(data, zone)
        if rtype == "MX":
            return f"{item.get('priority') or 0} {self._host(data, zone)}"
        if rtype == "SRV":
            return (f"{item.get('priority') or 0} {item.get('weight') or 0} "
                    f"{item.get('port') or 0} {self._host(data, zone)}")
        if rtype == "CAA":
            return f"{item.get('flags') or 0} {item.get('tag')} {character_strings(data)}"
        return data

    def _fields(self, rtype: RecordType, value: str) -> dict[str, Any]:
        """The type-specific fields of one record for ``value``."""
        if rtype in (RecordType.CNAME, RecordType.NS):
            return {"data": _absolute(value.strip())}
        if rtype is RecordType.MX:
            preference, host = value.split()
            return {"data": _absolute(host), "priority": int(preference)}
        if rtype is RecordType.SRV:
            priority, weight, port, target = value.split()
            return {"data": _absolute(target), "priority": int(priority),
                    "weight": int(weight), "port": int(port)}
        if rtype is RecordType.CAA:
            flags, tag, rest = value.split(None, 2)
            text = parse_character_strings(rest) if rest.startswith('"') else rest
            if tag.lower() != "iodef" and text and not text.endswith("."):
                text += "."
            return {"data": text, "flags": int(flags), "tag": tag.lower()}
        return {"data": value if rtype is RecordType.TXT else value.strip()}

    def _check_values(self, rtype: RecordType, values: Sequence[str]) -> None:
        if rtype is not RecordType.CAA:
            return
        for value in values:
            _, tag, rest = value.split(None, 2)
            text = parse_character_strings(rest) if rest.startswith('"') else rest
            if tag.lower() not in _CAA_TAGS:
                raise InvalidInput(f"DigitalOcean accepts CAA tags issue, issuewild and iodef, "
                                   f"not {tag!r}", driver=self)
            if not text or any(ch.isspace() for ch in text):
                raise InvalidInput(f"DigitalOcean does not accept a CAA value that is empty or "
                                   f"holds spaces: {value!r}", driver=self)

    def _payload(self, rtype: RecordType, relative: str, value: str, ttl: int | None
                 ) -> dict[str, Any]:
        body: dict[str, Any] = {"type": str(rtype), "name": relative or "@",
                                **self._fields(rtype, value)}
        if ttl is not None:
            body["ttl"] = ttl
        return body

    def _to_record(self, zone: Zone, items: Sequence[Mapping[str, Any]]) -> Record:
        first = items[0]
        raw = str(first.get("name") or "@")
        name = "" if raw == "@" else raw.lower()
        rtype = str(first["type"]).upper()
        values = [self._value(item, zone) for item in items]
        ttl = first.get("ttl")
        return Record(
            id=f"{name or '@'}:{rtype}", name=name, type=rtype, data=values[0], zone=zone,
            driver=self, ttl=None if ttl is None else int(ttl),
            extra={"ids": [int(item["id"]) for item in items]}, values=values,
        )

    def _records_path(self, zone: Zone) -> str:
        return f"{self._zone_path(zone.id)}/records"

    def _records_at(self, zone: Zone, relative: str, rtype: str | None = None
                    ) -> Op[list[dict[str, Any]]]:
        """Every record named ``relative`` (of type ``rtype``), across pages."""
        params = [("name", self._fqdn(relative, zone))]
        if rtype is not None:
            params.append(("type", rtype))
        found = yield from collect(self._pages(self._records_path(zone), "domain_records",
                                               dict, params, what=zone.id))
        key = relative or "@"
        return [i for i in found if str(i.get("name") or "@").lower() == key
                and (rtype is None or str(i.get("type")).upper() == rtype)]

    # -- records --------------------------------------------------------------------

    @iterator
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """The record sets of a domain (SOA left out).

        Every page is read before the first set is emitted: the API lists records
        in no order, so a set's last value may be on the last page.
        """
        items = yield from collect(self._pages(self._records_path(zone), "domain_records", dict,
                                               what=zone.id))
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for item in items:
            rtype = str(item.get("type", "")).upper()
            if rtype == "SOA":
                continue
            name = str(item.get("name") or "@").lower()
            groups.setdefault((name, rtype), []).append(item)
        for members in groups.values():
            yield Emit(self._to_record(zone, members))

    def _parse_id(self, record_id: str) -> tuple[str, RecordType]:
        name, sep, rtype = str(record_id).rpartition(":")
        try:
            kind = RecordType(rtype.upper())
        except ValueError:
            kind = None
        if not sep or not name or kind is None:
            raise RecordNotFound(record_id, driver=self)
        return ("" if name == "@" else name.lower()), kind

    @operation
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """A record set by domain and ``"name:TYPE"``."""
        zone = yield from self.get_zone.op(zone_id)
        name, rtype = self._parse_id(record_id)
        items = yield from self._records_at(zone, name, str(rtype))
        if not items:
            raise RecordNotFound(record_id, driver=self)
        return self._to_record(zone, items)

    def _check_free(self, zone: Zone, relative: str, rtype: RecordType,
                    ignore: str | None = None) -> Op[None]:
        """Refuse a set whose name and type exist, or a CNAME beside other data."""
        here = yield from self._records_at(zone, relative)
        types = {str(i.get("type")).upper() for i in here} - ({ignore} if ignore else set())
        if str(rtype) in types:
            raise RecordAlreadyExists(f"{relative or '@'}:{rtype}", driver=self)
        if types and (rtype is RecordType.CNAME or "CNAME" in types):
            raise InvalidInput(
                f"a CNAME may not share its name with other records: {relative or '@'!r} has "
                f"{', '.join(sorted(types))}", driver=self,
            )

    def _delete_one(self, zone: Zone, record_id: int) -> Op[None]:
        with contextlib.suppress(RecordNotFound):  # already gone
            yield from self._json("DELETE", f"{self._records_path(zone)}/{record_id}",
                                  missing=RecordNotFound, what=str(record_id))

    def _post_all(self, zone: Zone, payloads: Sequence[dict[str, Any]], made: list[int],
                  what: str) -> Op[list[dict[str, Any]]]:
        items: list[dict[str, Any]] = []
        for payload in payloads:
            reply = yield from self._json("POST", self._records_path(zone), json=payload,
                                          what=what, missing=ZoneNotFound)
            made.append(int(reply["domain_record"]["id"]))
            items.append(reply["domain_record"])
        return items

    def _undo_create(self, zone: Zone, relative: str, rtype: RecordType,
                     values: Sequence[str], made: list[int]
                     ) -> Callable[[BaseException], Op[None]]:
        """Compensation for a failed create: delete the records made, and any record of
        this name, type and value whose creation outcome was unknown."""

        def undo(_: BaseException) -> Op[None]:
            failure: OvercastError | None = None
            for record_id in made:
                try:
                    yield from self._delete_one(zone, record_id)
                except OvercastError as exc:
                    failure = failure or exc
            wanted = {canonical(str(rtype), v) for v in values}
            left = yield from self._records_at(zone, relative, str(rtype))
            for item in left:
                if int(item["id"]) not in made and canonical(
                        str(rtype), self._value(item, zone)) in wanted:
                    try:
                        yield from self._delete_one(zone, int(item["id"]))
                    except OvercastError as exc:
                        failure = failure or exc
            if failure is not None:
                raise failure

        return undo

    def _create_set(self, zone: Zone, relative: str, rtype: RecordType,
                    values: Sequence[str], ttl: int | None) -> Op[list[dict[str, Any]]]:
        payloads = [self._payload(rtype, relative, v, ttl) for v in values]
        made: list[int] = []
        items: list[dict[str, Any]] = yield Guarded(
            self._post_all(zone, payloads, made, f"{relative or '@'}:{rtype}"),
            self._undo_create(zone, relative, rtype, values, made),
        )
        return items

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
        """Create a record set: one DigitalOcean record per value, all or none."""
        rel, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        ttl = self._record_ttl(ttl, extra)
        self._check_values(rtype, values)
        relative = self._relative(rel, zone)
        yield from self._check_free(zone, relative, rtype)
        items = yield from self._create_set(zone, relative, rtype, values, ttl)
        return self._to_record(zone, items)

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
        """Replace a set's name, type, values or TTL.

        Same name and type: records whose value goes away are changed in place
        (``PUT``) to a new value, then missing values are added and leftovers
        deleted. A new name or type creates the new set (all or none), then
        deletes the old one.
        """
        zone = record.zone
        rel, rtype, values = self._validate_record(
            record.name if name is None else name, record.type if type is None else type,
            record.values if data is None else data, extra=extra, zone=zone,
        )
        ttl = self._record_ttl(ttl, extra)
        self._check_values(rtype, values)
        old_relative = self._relative(record.name, zone)
        old_type = str(record.type).upper()
        relative = self._relative(rel, zone)
        current = yield from self._records_at(zone, old_relative, old_type)
        if not current:
            raise RecordNotFound(record.id, driver=self)
        want_ttl = ttl if ttl is not None else current[0].get("ttl")
        if (relative, str(rtype)) != (old_relative, old_type):
            yield from self._check_free(zone, relative, rtype,
                                        ignore=old_type if relative == old_relative else None)
            yield from self._create_set(zone, relative, rtype, values, want_ttl)
            for item in current:
                yield from self._delete_one(zone, int(item["id"]))
        else:
            yield from self._sync_set(zone, relative, rtype, values, want_ttl, current)
        items = yield from self._records_at(zone, relative, str(rtype))
        return self._to_record(zone, items)

    def _sync_set(self, zone: Zone, relative: str, rtype: RecordType, values: Sequence[str],
                  ttl: int | None, current: Sequence[dict[str, Any]]) -> Op[None]:
        kind = str(rtype)
        have = {canonical(kind, self._value(item, zone)): item for item in current}
        want = {canonical(kind, v): v for v in values}
        stale = [item for key, item in have.items() if key not in want]
        fresh = [v for key, v in want.items() if key not in have]
        path = self._records_path(zone)
        for item, value in zip(stale, fresh, strict=False):  # change in place
            yield from self._json("PUT", f"{path}/{item['id']}",
                                  json=self._payload(rtype, relative, value, ttl),
                                  missing=RecordNotFound, what=str(item["id"]))
        for value in fresh[len(stale):]:
            yield from self._json("POST", path, json=self._payload(rtype, relative, value, ttl),
                                  what=f"{relative or '@'}:{rtype}", missing=ZoneNotFound)
        for item in stale[len(fresh):]:
            yield from self._delete_one(zone, int(item["id"]))
        for key, item in have.items():
            if key in want and ttl is not None and item.get("ttl") != ttl:
                yield from self._json("PATCH", f"{path}/{item['id']}", json={"ttl": ttl},
                                      missing=RecordNotFound, what=str(item["id"]))

    @operation
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete every DigitalOcean record of the set; RecordNotFound if none is left."""
        current = yield from self._records_at(record.zone,
                                              self._relative(record.name, record.zone),
                                              str(record.type).upper())
        if not current:
            raise RecordNotFound(record.id, driver=self)
        for item in current:
            yield from self._delete_one(record.zone, int(item["id"]))
        return True
