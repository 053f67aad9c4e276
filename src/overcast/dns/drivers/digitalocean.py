"""DigitalOcean DNS, through the DigitalOcean API v2 (``/v2/domains``).

``DigitalOceanDNSDriver(token)`` authenticates with a personal access (or
OAuth) token, sent as ``Authorization: Bearer ...``.

How overcast's model maps onto DigitalOcean:

* A zone is a DigitalOcean domain; its id is the domain name (``"example.com"``)
  and ``Zone.ttl`` the domain's TTL. ``create_zone(domain, extra={"ip_address":
  "192.0.2.1"})`` also makes an ``@`` A (or AAAA) record, as the API does;
  without it the new zone holds only DigitalOcean's NS records (and its SOA).
* DigitalOcean stores one value per record, each with a numeric id. A
  :class:`~overcast.dns.base.RecordSet` is every record of one name and type; its
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
  complete only after the last page: ``iterate_record_sets`` reads every page
  before it emits.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
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
from overcast.errors import NotSupported
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.providers.digitalocean import DEFAULT_ENDPOINT
from overcast.providers.digitalocean import page_of
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import When
from overcast.runtime.effects import Op
from overcast.runtime.operation import operation
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.redact import Secret

__all__ = ["DigitalOceanDNSDriver"]

_CAA_TAGS: Final = frozenset({"issue", "issuewild", "iodef"})


class DigitalOceanDNSDriver(PerValueDNSDriver):
    """DNS zones (domains) and record sets on DigitalOcean (API v2).

    ``key`` is the API token; ``secret`` is unused and kept for Apache
    Libcloud's signature. ``page_size`` is the ``per_page`` of listings (1..200).
    """

    name: ClassVar[str] = "digitalocean"
    label: ClassVar[str] = "DigitalOcean"
    errors: ClassVar[ErrorMap] = ErrorMap(When(AlreadyExists, status=422, says="already exists"))
    #: Apache Libcloud's DigitalOcean records: DigitalOcean's ids, relative
    #: names with ``"@"`` for the apex, data as DigitalOcean gives it (hosts
    #: without the dot).
    record_style: ClassVar[RecordStyle] = RecordStyle(ids="native", apex="@",
                                                      dotted_hosts=False)
    record_types: ClassVar[tuple[RecordType, ...]] = tuple(
        map(RecordType, ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "SRV", "TXT")))
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    zone_key: ClassVar[str | None] = "domain"
    created_key: ClassVar[str | None] = "domain_record"
    #: DigitalOcean's documented ``per_page`` range; more is lowered to 200.
    page_sizes: ClassVar[tuple[int, int | None]] = (1, 200)
    clamp_page_size: ClassVar[bool] = True

    def __init__(self, key: str | Secret, secret: str | None = None, *,
                 endpoint: str = DEFAULT_ENDPOINT, page_size: int = 100, **options: Any) -> None:
        super().__init__(endpoint=endpoint, page_size=page_size, **options)
        self._use_bearer(key, missing="DigitalOcean needs an API token")

    # -- requests -----------------------------------------------------------------

    def _page(self, path: str, key: str, page: Cursor | None,
              params: Sequence[tuple[str, str]] = (), what: str = "") -> Op[Page[Item]]:
        """One page of a list; the next one is the page ``links.pages.next`` names."""
        payload = yield from self._json(
            "GET", path, params=[*params, ("page", str(page)), ("per_page", str(self.page_size))],
            what=what, missing=ZoneNotFound)
        return page_of(payload, key, path, self)

    # -- zones ----------------------------------------------------------------------

    def _to_zone(self, item: Mapping[str, Any]) -> Zone:
        ttl = item.get("ttl")
        extra = {"zone_file": item.get("zone_file")} if item.get("zone_file") else {}
        return Zone(id=str(item["name"]), domain=per_value.absolute_host(str(item["name"])),
                    type=ZoneType.MASTER, ttl=None if ttl is None else int(ttl), driver=self,
                    extra=extra)

    def _zone_page(self, cursor: Cursor | None, domain: str | None) -> Op[Page[Item]]:
        """A page of the account's domains (the API filters them by nothing)."""
        return (yield from self._page("/domains", "domains", cursor))

    def _zone_path(self, zone_id: str) -> str:
        domain = names.url_segment(str(zone_id).rstrip("."), what="zone id", driver=self)
        return f"/domains/{domain}"

    @operation
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Create a domain; ``extra["ip_address"]`` also makes an ``@`` address record.

        DigitalOcean domains are primary zones with a fixed TTL, so ``ttl`` and
        ``type="slave"`` raise :class:`~overcast.errors.NotSupported`. A create
        whose answer is lost is looked up before it is sent again.
        """
        bare = self._zone_domain(domain).lower()
        if str(type).lower() != ZoneType.MASTER:
            raise NotSupported("DigitalOcean hosts only primary zones", driver=self)
        if ttl is not None:
            raise NotSupported("DigitalOcean domains have a fixed TTL", driver=self)
        body: dict[str, Any] = {"name": bare}
        ip = (extra or {}).get("ip_address")
        if ip:
            body["ip_address"] = str(ip)

        def send() -> Op[Zone]:
            payload = yield from self._json("POST", "/domains", json=body, what=bare,
                                            exists=ZoneAlreadyExists)
            return self._to_zone(payload["domain"])

        return (yield from self._create_zone_once(send, bare))

    def _find_zone(self, domain: str) -> Op[Zone | None]:
        """A domain is got by its name: no listing needed."""
        try:
            return (yield from self.get_zone.op(domain))
        except ZoneNotFound:
            return None

    # -- values -----------------------------------------------------------------------

    def _value(self, item: Mapping[str, Any], zone: Zone) -> str:
        """One record's value in overcast's form (``@`` in ``data`` is the zone apex)."""
        data = str(item.get("data") or "")
        target = zone.domain if data == "@" else data
        return per_value.value_text(str(item.get("type", "")),
                                    {**item, "target": target, "value": data})

    def _fields(self, rtype: RecordType, value: str) -> dict[str, Any]:
        """The type-specific fields of one record for ``value``."""
        if rtype is RecordType.CAA:
            return self._caa(value)
        fields = per_value.value_fields(rtype, value)
        if "target" in fields:  # sent fully qualified: the API drops the dot
            return {"data": per_value.absolute_host(fields.pop("target")), **fields}
        return {"data": value if rtype is RecordType.TXT else value.strip()}

    def _caa(self, value: str) -> dict[str, Any]:
        """A CAA value's fields; InvalidInput for what DigitalOcean refuses."""
        fields = per_value.value_fields("CAA", value)
        tag, text = str(fields["tag"]), str(fields["value"])
        if tag.lower() not in _CAA_TAGS:
            raise InvalidInput(f"DigitalOcean accepts CAA tags issue, issuewild and iodef, "
                               f"not {tag!r}", driver=self)
        if not text or any(ch.isspace() for ch in text):
            raise InvalidInput(f"DigitalOcean does not accept a CAA value that is empty or "
                               f"holds spaces: {value!r}", driver=self)
        if tag.lower() != "iodef" and not text.endswith("."):
            text += "."
        return {"data": text, "flags": fields["flags"], "tag": tag.lower()}

    # -- the hooks of PerValueDNSDriver -----------------------------------------------

    def _value_page(self, zone: Zone, cursor: Cursor | None, name: str | None,
                    rtype: str | None) -> Op[Page[Item]]:
        params = []
        if name is not None:  # the API filters by full name, without the trailing dot
            params.append(("name", per_value.full_name(name, zone).lower()))
        if rtype is not None:
            params.append(("type", rtype))
        return (yield from self._page(self._records_path(zone), "domain_records", cursor, params,
                                      what=zone.id))

    def _entry(self, zone: Zone, item: Item) -> Entry | None:
        rtype = str(item.get("type", "")).upper()
        if rtype == "SOA":  # its data is only a TTL: not a set overcast can show
            return None
        raw = str(item.get("name") or "@")
        ttl = item.get("ttl")
        return Entry("" if raw == "@" else raw.lower(), rtype, self._value(item, zone),
                     None if ttl is None else int(ttl), int(item["id"]), item)

    def _payload(self, zone: Zone, name: str, rtype: RecordType, value: str, ttl: int | None
                 ) -> dict[str, Any]:
        body: dict[str, Any] = {"type": str(rtype), "name": name.lower() or "@",
                                **self._fields(rtype, value)}
        if ttl is not None:
            body["ttl"] = ttl
        return body

