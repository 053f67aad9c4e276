"""Linode (Akamai Connected Cloud) DNS Manager, through the Linode API v4.

Facts of the API this driver is built on (``https://api.linode.com/v4``):

* A personal access token is sent as ``Authorization: Bearer <token>``.
* ``/domains`` and ``/domains/{domainId}/records`` are paged with ``page`` and
  ``page_size`` (25 to 500, default 100); each page says ``page``, ``pages`` and
  ``results``. ``X-Filter`` (a JSON object) filters on the fields the
  reference marks *Filterable* (``domain``; a record's ``name``, ``type``...).
* A record is **one value**, with a numeric id: ``type``, ``name`` (relative,
  ``""`` for the apex), ``target``, ``priority``, ``weight``, ``port``,
  ``service``/``protocol`` (SRV), ``tag`` (CAA) and ``ttl_sec``. Host names come
  back without their trailing dot. An SRV record is not named: the request
  gives ``service`` and ``protocol`` and Linode names it ``_service._protocol``
  (so an SRV set can only live directly under the zone apex). CAA flags are
  always 0. Priorities are 0 to 255.
* TTLs are rounded *up* to one of 300, 3600, 7200, 14400, 28800, 57600, 86400,
  172800, 345600, 604800, 1209600, 2419200 seconds; ``0`` means the default.
* The NS records of Linode's own name servers (``ns1..ns5.linode.com``) are
  served but are not records of the API: they are not listed here.
* Errors are ``{"errors": [{"reason": ..., "field": ...}]}`` with 400 (invalid,
  or a conflict such as ``Record conflict - CNAMES must be unique``), 401 (bad
  token), 403, 404 and 429.

overcast groups the per-value records into record sets (see
:mod:`overcast.dns.per_value`; ``record.extra["record_ids"]`` holds the ids).
Creating a set of several values is several requests; if one fails, the values
already made are deleted again (a compensating operation run by the runner),
so a failed create leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.dns import names
from overcast.dns import per_value
from overcast.dns.base import RecordStyle
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.per_value import Entry
from overcast.dns.per_value import Item
from overcast.dns.per_value import PerValueDNSDriver
from overcast.errors import AlreadyExists
from overcast.errors import InvalidInput
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.providers import linode
from overcast.providers.linode import DEFAULT_ENDPOINT
from overcast.providers.linode import MAX_PAGE_SIZE
from overcast.providers.linode import MIN_PAGE_SIZE
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import When
from overcast.runtime.effects import Op
from overcast.runtime.effects import Response
from overcast.runtime.operation import operation
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.redact import Secret

__all__ = ["LinodeDNSDriver"]

#: Highest MX/SRV priority Linode stores.
MAX_PRIORITY: Final = 255
#: CAA tags Linode accepts.
CAA_TAGS: Final = frozenset({"issue", "issuewild", "iodef"})
#: Domain fields that ``extra`` may set on create and update.
ZONE_FIELDS: Final = (
    "soa_email",
    "description",
    "refresh_sec",
    "retry_sec",
    "expire_sec",
    "master_ips",
    "axfr_ips",
    "tags",
    "status",
    "group",
)


def _value(item: Mapping[str, Any]) -> str:
    """The overcast value of one Linode record (its value is in ``target``; CAA
    flags are always 0)."""
    target = str(item.get("target") or "")
    return per_value.value_text(str(item.get("type", "")),
                                {**item, "flags": 0, "tag": item.get("tag") or "issue",
                                 "value": target, "data": target})


class LinodeDNSDriver(PerValueDNSDriver):
    """DNS zones and record sets in Linode's DNS Manager (API v4).

    ``key`` is a personal access token with the ``domains:read_write`` scope;
    ``secret`` is accepted for Apache Libcloud's signature and ignored.
    ``page_size`` (25 to 500) is how many items each listing request asks for.

    >>> driver = LinodeDNSDriver("my-token")  # doctest: +SKIP
    >>> zone = driver.create_zone("example.com", extra={"soa_email": "me@example.com"})
    """

    name: ClassVar[str] = "linode"
    label: ClassVar[str] = "Linode"
    #: A domain in use is a 400 on the field ``domain``.
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(AlreadyExists, status=400, code="domain",
             says=("exist", "already", "in use", "taken")),
    )
    #: Apache Libcloud's Linode records: Linode's ids, relative names (``""``
    #: for the apex), targets as stored (hosts without the dot).
    record_style: ClassVar[RecordStyle] = RecordStyle(ids="native", dotted_hosts=False)
    record_types: ClassVar[tuple[RecordType, ...]] = tuple(
        map(RecordType, ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT")))
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    ids_key: ClassVar[str] = "record_ids"
    page_sizes: ClassVar[tuple[int, int | None]] = (MIN_PAGE_SIZE, MAX_PAGE_SIZE)

    def __init__(self, key: str | Secret, secret: str | Secret | None = None, *,
                 endpoint: str = DEFAULT_ENDPOINT, page_size: int = 100, **options: Any) -> None:
        super().__init__(endpoint=endpoint, page_size=page_size, **options)
        self._use_bearer(key, missing="a Linode personal access token is required")

    # -- requests -----------------------------------------------------------------------

    def _fault(self, resp: Response) -> Fault:
        """Linode's ``{"errors": [{"reason", "field"}]}``
        (:func:`overcast.providers.linode.fault`)."""
        return linode.fault(resp)

    def _page(self, path: str, page: Cursor | None, filter: Mapping[str, Any] | None = None,
              what: str = "") -> Op[Page[Item]]:
        """One page of a collection (``filter``: the ``X-Filter`` of the request)."""
        number = int(page or 1)
        body = yield from self._json(
            "GET", path, params=[("page", str(number)), ("page_size", str(self.page_size))],
            headers={"X-Filter": json.dumps(filter)} if filter else {},
            what=what, missing=ZoneNotFound)
        return linode.page_of(body, number)

    # -- zones ------------------------------------------------------------------------

    def _to_zone(self, data: Mapping[str, Any]) -> Zone:
        ttl = int(data.get("ttl_sec") or 0)
        extra = {k: data[k] for k in ZONE_FIELDS if k in data}
        kind = ZoneType.SLAVE if data.get("type") == "slave" else ZoneType.MASTER
        domain = per_value.absolute_host(str(data["domain"]))
        return Zone(str(data["id"]), domain, kind, ttl or None, driver=self, extra=extra)

    def _zone_path(self, zone_id: str) -> str:
        return f"/domains/{per_value.numbered_zone(zone_id, driver=self)}"

    def _zone_page(self, cursor: Cursor | None, domain: str | None) -> Op[Page[Item]]:
        """A page of the account's domains (of the one named ``domain``, if given)."""
        return (yield from self._page("/domains", cursor, {"domain": domain} if domain else None))

    def _zone_fields(self, extra: Mapping[str, Any] | None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key, value in (extra or {}).items():
            if key in ZONE_FIELDS:
                fields[key] = value
            elif key == "email":  # Apache Libcloud's spelling
                fields["soa_email"] = value
            else:
                raise InvalidInput(
                    f"unknown Linode domain field {key!r}; use one of {', '.join(ZONE_FIELDS)}",
                    driver=self,
                )
        return fields

    def _zone_type(self, type: ZoneType | str) -> str:
        kind = str(type).lower()
        if kind not in (ZoneType.MASTER, ZoneType.SLAVE):
            raise InvalidInput(f"zone type must be 'master' or 'slave', not {type!r}", driver=self)
        return kind

    @operation
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Create a domain.

        A master domain needs an SOA e-mail: ``extra["soa_email"]``, else
        ``hostmaster@<domain>``. A slave domain needs ``extra["master_ips"]``.
        Other fields of ``extra``: see :data:`ZONE_FIELDS`. A create whose answer
        is lost is looked up by name before it is sent again.
        """
        bare = self._zone_domain(domain)
        kind = self._zone_type(type)
        ttl = self._record_ttl(ttl, None)
        body: dict[str, Any] = {"domain": bare, "type": kind, **self._zone_fields(extra)}
        if kind == ZoneType.MASTER:
            body.setdefault("soa_email", f"hostmaster@{bare}")
        elif not body.get("master_ips"):
            raise InvalidInput("a slave zone needs extra['master_ips']", driver=self)
        if ttl is not None:
            body["ttl_sec"] = ttl

        def send() -> Op[Zone]:
            data = yield from self._json("POST", "/domains", json=body, what=bare,
                                         exists=ZoneAlreadyExists)
            return self._to_zone(data)

        return (yield from self._create_zone_once(send, bare))

    @operation
    def update_zone(self, zone: Zone, domain: str | None,
                    type: ZoneType | str | None = ZoneType.MASTER, ttl: int | None = None,
                    extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Change a domain's name, type, default TTL or the fields in ``extra``."""
        path = self._zone_path(zone.id)
        body = self._zone_fields(extra)
        if domain is not None:
            bare = names.bare_name(str(domain))
            names.validate_name(bare, wildcard=False, what="domain", driver=self)
            body["domain"] = bare
        if type is not None:
            body["type"] = self._zone_type(type)
        checked = self._record_ttl(ttl, None)
        if checked is not None:
            body["ttl_sec"] = checked
        data = yield from self._json("PUT", path, json=body, what=zone.id, missing=ZoneNotFound,
                                     exists=ZoneAlreadyExists)
        return self._to_zone(data)

    # -- values ------------------------------------------------------------------------

    def _srv_labels(self, name: str) -> tuple[str, str]:
        """``(service, protocol)`` of an SRV set's name, which Linode derives itself."""
        labels = name.split(".")
        if len(labels) != 2 or not all(label.startswith("_") and len(label) > 1
                                       for label in labels):
            raise InvalidInput(
                f"Linode names SRV records itself from service and protocol: the name "
                f"must be '_service._protocol' directly under the zone, not {name!r}",
                driver=self,
            )
        return labels[0][1:], labels[1][1:].lower()

    def _caa(self, fields: Mapping[str, Any], value: str) -> dict[str, Any]:
        """A CAA value's ``tag`` and ``target``; InvalidInput for what Linode cannot store."""
        tag = str(fields["tag"]).lower()
        if fields["flags"] != 0:
            raise InvalidInput(f"Linode stores CAA flags as 0; cannot store {value!r}",
                               driver=self)
        if tag not in CAA_TAGS:
            raise InvalidInput(f"Linode CAA tags are {', '.join(sorted(CAA_TAGS))}, not "
                               f"{fields['tag']!r}", driver=self)
        return {"tag": tag, "target": fields["value"]}

    # -- the hooks of PerValueDNSDriver -------------------------------------------------

    def _value_page(self, zone: Zone, cursor: Cursor | None, name: str | None,
                    rtype: str | None) -> Op[Page[Item]]:
        wanted: dict[str, Any] = {}
        if name is not None:
            wanted["name"] = name
        if rtype is not None:
            wanted["type"] = rtype
        return (yield from self._page(self._records_path(zone), cursor, wanted, what=zone.id))

    def _entry(self, zone: Zone, item: Item) -> Entry:
        ttl = int(item.get("ttl_sec") or 0)
        return Entry(str(item.get("name") or ""), str(item.get("type", "")).upper(),
                     _value(item), ttl or None, int(item["id"]), item)

    def _payload(self, zone: Zone, name: str, rtype: RecordType, value: str, ttl: int | None
                 ) -> dict[str, Any]:
        fields: dict[str, Any] = {"type": str(rtype), "name": name}
        parts = per_value.value_fields(rtype, value)
        if parts.get("priority", 0) > MAX_PRIORITY:
            raise InvalidInput(f"Linode priorities are 0 to {MAX_PRIORITY}; {value!r} has "
                               f"{parts['priority']}", driver=self)
        if rtype is RecordType.SRV:  # Linode names the record from these
            service, protocol = self._srv_labels(name)
            fields.update(name="", service=service, protocol=protocol)
        if rtype is RecordType.CAA:
            fields.update(self._caa(parts, value))
        elif "target" in parts:
            target = per_value.wire_host(parts.pop("target"))
            # A null MX (its exchange the root) has an empty target.
            fields.update(parts, target="" if rtype is RecordType.MX and target == "." else target)
        else:
            fields["target"] = value
        if ttl is not None:
            fields["ttl_sec"] = ttl
        return fields

    def _change_value(self, zone: Zone, entry: Entry, payload: dict[str, Any]) -> Op[object]:
        """``PUT`` the record; its type cannot change, and no TTL is the default (0)."""
        fields = {k: v for k, v in payload.items() if k != "type"}
        fields.setdefault("ttl_sec", 0)
        return (yield from super()._change_value(zone, entry, fields))
