"""An example overcast DNS driver, for "Nimbus DNS", a small made-up JSON API.

It is the driver that ``docs/writing-a-driver.md`` walks through: complete
(it passes overcast's DNS conformance suite, sync and async, against the
fixture server in ``server.py``), and short, because the driver kit does the
rest. The API it speaks, below ``https://api.nimbus.example/v1``:

* ``GET /zones?limit=&cursor=``: ``{"zones": [...], "next_cursor": ...}``;
* ``POST /zones`` with ``{"name", "ttl"}``: the zone, or 409 ``zone_exists``;
* ``GET`` or ``DELETE /zones/{zone}``: the zone, or 404 ``zone_not_found``;
* ``GET /zones/{zone}/rrsets?limit=&cursor=&name=&type=``:
  ``{"rrsets": [...], "next_cursor": ...}``;
* ``PUT /zones/{zone}/rrsets/{name}/{type}`` with ``{"ttl", "records"}``: the
  set; with ``If-None-Match: *``, 412 ``rrset_exists`` if it exists;
* ``DELETE /zones/{zone}/rrsets/{name}/{type}``: 404 ``rrset_not_found`` if absent.

Errors come as ``{"error": {"code": ..., "message": ...}}`` with an
``X-Request-Id`` header; requests carry ``Authorization: Bearer <token>``.
A record set is ``{"name": "www", "type": "A", "ttl": 300, "records": [...]}``
with names relative to the zone (``"@"`` for the apex) and values in
overcast's form, so no value conversion is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar
from urllib.parse import quote

from overcast.dns import names
from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordSpec
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import HttpApi
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["NimbusDNSDriver"]

T = TypeVar("T")

DEFAULT_ENDPOINT: Final = "https://api.nimbus.example/v1"
#: The largest ``limit`` the API accepts.
MAX_PAGE_SIZE: Final = 500


class NimbusDNSDriver(HttpApi, DNSDriver):
    """DNS zones and record sets on Nimbus DNS.

    ``NimbusDNSDriver(token)``; ``endpoint=`` points it elsewhere (a test server)
    and ``page_size=`` sets the ``limit`` of listings (1..500).
    """

    name: ClassVar[str] = "nimbus"
    label: ClassVar[str] = "Nimbus DNS"
    record_types: ClassVar[tuple[RecordType, ...]] = (
        RecordType.A, RecordType.AAAA, RecordType.CAA, RecordType.CNAME,
        RecordType.MX, RecordType.NS, RecordType.SRV, RecordType.TXT,
    )
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    request_id_headers: ClassVar[tuple[str, ...]] = ("X-Request-Id",)
    # The API's own codes first; 401/403, 404 and 429 are the kit's defaults.
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(ZoneAlreadyExists, code="zone_exists"),
        When(RecordAlreadyExists, status=412),
        When(ZoneNotFound, code="zone_not_found"),
        When(RecordNotFound, code="rrset_not_found"),
        When(InvalidInput, status=400),
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
            raise InvalidInput("Nimbus DNS needs an API token", driver=self)
        self.endpoint = check_endpoint(endpoint, driver=self)
        self.page_size = check_page_size(page_size, maximum=MAX_PAGE_SIZE, driver=self)
        self._token = Secret(key)

    def _sign(self, request: Request, now: float) -> Request:
        """Every attempt carries the token (the runtime calls this per attempt)."""
        return request.with_headers({"Authorization": f"Bearer {self._token.reveal()}"})

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint}

    # -- listings: one fetch function per listing, the loop is the kit's -----------------

    def _listing(
        self, path: str, key: str, convert: Callable[[dict[str, Any]], T],
        params: Mapping[str, str] | None = None,
    ) -> Iter[T]:
        def fetch(cursor: Cursor | None) -> Op[Page[T]]:
            query = {**(params or {}), "limit": str(self.page_size)}
            if cursor is not None:
                query["cursor"] = str(cursor)
            data = yield from self._json("GET", path, params=query, missing=ZoneNotFound)
            return Page.token([convert(item) for item in data[key]], data.get("next_cursor"))

        return paginate(fetch, what=f"GET {path}", driver=self)

    # -- zones ----------------------------------------------------------------------------

    def _to_zone(self, item: Mapping[str, Any]) -> Zone:
        domain = names.absolute_name("", str(item["name"]))
        return Zone(id=names.bare_name(domain), domain=domain, type=ZoneType.MASTER.value,
                    ttl=item.get("ttl"), driver=self)

    @staticmethod
    def _zone_path(zone_id: str) -> str:
        return f"/zones/{quote(names.bare_name(str(zone_id)), safe='')}"

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every zone of the account, page by page."""
        yield from self._listing("/zones", "zones", self._to_zone)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """A zone by name; ZoneNotFound if absent."""
        data = yield from self._json("GET", self._zone_path(zone_id), what=zone_id,
                                     missing=ZoneNotFound)
        return self._to_zone(data)

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Create a primary zone; ZoneAlreadyExists if the domain has one."""
        names.validate_name(domain, wildcard=False, what="domain", driver=self)
        if str(type) != ZoneType.MASTER:
            raise NotSupported("Nimbus DNS hosts primary zones only", driver=self)
        ttl = self._record_ttl(ttl, None)
        bare = names.bare_name(domain).lower()

        def send() -> Op[Zone]:
            data = yield from self._json("POST", "/zones", json={"name": bare, "ttl": ttl},
                                         what=bare)
            return self._to_zone(data)

        def find() -> Op[Zone | None]:  # the answer was lost: was the zone made?
            try:
                return (yield from self.get_zone.op(bare))
            except ZoneNotFound:
                return None

        return (yield from create_once(send, find))

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone and its record sets; ZoneNotFound if absent."""
        yield from self._send("DELETE", self._zone_path(zone.id), what=zone.id,
                              missing=ZoneNotFound)
        return True

    # -- record sets ------------------------------------------------------------------------

    def _to_record(self, zone: Zone, item: Mapping[str, Any]) -> RecordSet:
        name = names.relative_name(str(item["name"]), zone.domain)
        values = [str(v) for v in item["records"]]
        return RecordSet(id=f"{name or '@'}:{item['type']}", name=name, type=str(item["type"]),
                      data=values[0], zone=zone, driver=self, ttl=item.get("ttl"),
                      values=values)

    def _set_path(self, zone: Zone, name: str, rtype: str) -> str:
        return f"{self._zone_path(zone.id)}/rrsets/{quote(name or '@', safe='')}/{rtype}"

    def _sets_at(self, zone: Zone, name: str) -> Op[list[RecordSet]]:
        """Every set named ``name`` (all types), across pages."""
        listing = self._listing(f"{self._zone_path(zone.id)}/rrsets", "rrsets",
                                lambda item: self._to_record(zone, item),
                                params={"name": name or "@"})
        return (yield from collect(listing))

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """The record sets of a zone, page by page."""
        yield from self._listing(f"{self._zone_path(zone.id)}/rrsets", "rrsets",
                                 lambda item: self._to_record(zone, item))

    @operation
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        """A record set by zone and ``"name:TYPE"``; RecordNotFound if absent."""
        zone = yield from self.get_zone.op(zone_id)
        name, _, rtype = str(record_id).rpartition(":")
        name = "" if name == "@" else name
        found = [r for r in (yield from self._sets_at(zone, name)) if r.type == rtype.upper()]
        if not found:
            raise RecordNotFound(record_id, driver=self)
        return found[0]

    def _put_set(self, spec: RecordSpec, *, new: bool) -> Op[RecordSet]:
        headers = {"If-None-Match": "*"} if new else {}
        data = yield from self._json(
            "PUT", self._set_path(spec.zone, spec.name, spec.type),
            json={"ttl": spec.ttl, "records": spec.values}, headers=headers, what=spec.id,
            missing=ZoneNotFound,
            idempotent=not new,  # a conditional create may not simply be resent
        )
        return self._to_record(spec.zone, data)

    def _store_new_set(self, spec: RecordSpec) -> Op[RecordSet]:
        """Create a record set: the base class has checked the arguments; the name
        must be free (a set of this type, or a CNAME beside other data, refuses)."""
        zone = spec.zone
        here = yield from self._sets_at(zone, spec.name)
        spec.check_free([r.type for r in here], driver=self)

        def find() -> Op[RecordSet | None]:
            after = yield from self._sets_at(zone, spec.name)
            return next((r for r in after if r.type == spec.type), None)

        return (yield from create_once(lambda: self._put_set(spec, new=True), find))

    def _store_changed_set(self, record: RecordSet, spec: RecordSpec) -> Op[RecordSet]:
        """Replace a set's values and TTL; a new name or type moves the set."""
        here = yield from self._sets_at(record.zone, record.name)
        if not any(r.type == record.type for r in here):
            raise RecordNotFound(record.id, driver=self)
        if spec.ttl is None:
            spec = replace(spec, ttl=record.ttl)
        if not spec.moved:
            return (yield from self._put_set(spec, new=False))
        moved = yield from self._store_new_set(spec)
        yield from self.delete_record_set.op(record)
        return moved

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a record set; RecordNotFound if absent."""
        yield from self._send("DELETE", self._set_path(record.zone, record.name, record.type),
                              what=record.id, missing=RecordNotFound)
        return True
