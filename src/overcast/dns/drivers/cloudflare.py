"""Cloudflare DNS, through the Cloudflare API v4 (``/client/v4``).

``CloudflareDNSDriver(token)`` authenticates with an API token
(``Authorization: Bearer ...``); ``CloudflareDNSDriver(email, global_key)``
uses the legacy ``X-Auth-Email`` / ``X-Auth-Key`` pair.

How overcast's model maps onto Cloudflare:

* A zone's id is Cloudflare's zone id (32 hex digits). Zones of type ``full``
  and ``partial`` are :attr:`ZoneType.MASTER`, ``secondary`` zones
  :attr:`ZoneType.SLAVE`; ``create_zone`` makes ``full`` zones in the account
  given as ``account_id=`` (or ``extra["account_id"]``), else in the token's
  only account. Cloudflare has no zone TTL (``Zone.ttl`` is ``None``); the
  assigned name servers are in ``zone.extra["name_servers"]``. Cloudflare
  serves the apex NS and SOA records itself and does not list them.
* Cloudflare stores one value per DNS record object. A
  :class:`~overcast.dns.base.RecordSet` is every record object of one name and
  type; its id is ``"name:TYPE"`` with the name relative to the zone (``"@"``
  for the apex), and ``extra["ids"]`` holds the record ids. Creating a set
  posts one record per value; if one fails, the ones already made are deleted
  again. Updating a set changes, adds and deletes individual records as the
  values differ. ``extra["proxied"]`` says whether Cloudflare proxies them.
* MX preference and the SRV and CAA fields are separate fields in the API and
  part of the value text in overcast. TXT values are sent as quoted RFC 1035
  character-strings (at most 255 bytes each), as the reference asks, and read
  back from that form (or taken as they are when unquoted).
* A TTL of 1 means "automatic" to Cloudflare; such records have ``ttl=None``.
  Other TTLs must be 60..86400 (30 on Enterprise plans).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from typing import Unpack

from overcast.dns import names
from overcast.dns import per_value
from overcast.dns.base import RecordStyle
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.per_value import Entry
from overcast.dns.per_value import Item
from overcast.dns.per_value import PerValueDNSDriver
from overcast.dns.records import character_strings
from overcast.dns.records import parse_character_strings
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import RecordAlreadyExists
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import Outcome
from overcast.runtime.api import SendOptions
from overcast.runtime.api import When
from overcast.runtime.api import decode_json
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import operation
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.redact import Secret

__all__ = ["CloudflareDNSDriver"]

DEFAULT_ENDPOINT: Final = "https://api.cloudflare.com/client/v4"
#: Cloudflare's documented ``per_page`` ranges.
_ZONE_PAGE: Final = (5, 50)
_RECORD_PAGE: Final = (5, 5_000_000)
#: "automatic" TTL.
_AUTO_TTL: Final = 1
#: Error codes that mean the credentials were refused (bad, malformed or missing).
_AUTH_CODES: Final = ("1000", "6003", "6100", "6101", "6102", "6103", "6111", "9103", "9106",
                      "9109", "10000", "10001")
#: "No such object": unroutable id, invalid zone identifier, record does not exist.
_NOT_FOUND_CODES: Final = ("1001", "1003", "7000", "7003", "81044")
_ZONE_EXISTS_CODES: Final = ("1061",)
_RECORD_EXISTS_CODES: Final = ("81053", "81054", "81057", "81058")


def _value(item: Mapping[str, Any]) -> str:
    """One record object's value in overcast's form."""
    rtype = str(item.get("type", "")).upper()
    content = str(item.get("content") or "")
    data = item.get("data")
    if rtype == "TXT":
        return parse_character_strings(content) if content.startswith('"') else content
    if rtype in ("SRV", "CAA") and isinstance(data, dict) and data:  # the API's own fields
        return per_value.value_text(rtype, {"priority": item.get("priority"), **data})
    if rtype == "SRV":  # the priority apart, the content is "weight port target"
        weight, port, target = content.split()
        return per_value.value_text(rtype, {"priority": item.get("priority"), "weight": weight,
                                            "port": port, "target": target})
    if rtype == "CAA":
        return content
    return per_value.value_text(rtype, {"priority": item.get("priority"), "target": content,
                                        "data": content})


def _fields(rtype: RecordType, value: str) -> dict[str, Any]:
    """The type-specific fields of one record object for ``value``."""
    if rtype is RecordType.TXT:
        return {"content": character_strings(value)}
    fields = per_value.value_fields(rtype, value)
    if "target" in fields:
        fields["target"] = per_value.wire_host(fields["target"])
    if rtype in (RecordType.SRV, RecordType.CAA):  # the API derives ``content`` from these
        return {"data": fields}
    if "target" in fields:  # MX (with its ``priority``) and host names
        return {"content": fields.pop("target"), **fields}
    return {"content": value.strip()}


class CloudflareDNSDriver(PerValueDNSDriver):
    """DNS zones and record sets on Cloudflare (API v4).

    ``key`` is an API token; with ``secret``, ``key`` is the account e-mail and
    ``secret`` the Global API key (legacy auth). ``account_id`` is the account
    new zones go into and the one whose zones are listed (default: the token's
    only account for creates, every visible zone for listings). ``page_size``
    is the ``per_page`` of listings (kept within Cloudflare's limits: 5..50 for
    zones, at least 5 for records).
    """

    name: ClassVar[str] = "cloudflare"
    label: ClassVar[str] = "Cloudflare"
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(InvalidCredentials, status=(401, 403)),
        When(InvalidCredentials, code=_AUTH_CODES),
        When(ZoneAlreadyExists, code=_ZONE_EXISTS_CODES),
        When(RecordAlreadyExists, code=_RECORD_EXISTS_CODES),
        When(NotFound, code=_NOT_FOUND_CODES),
    )
    #: Apache Libcloud's Cloudflare records: Cloudflare's ids, names in full
    #: without the trailing dot, TXT as stored (unquoted), hosts without the dot.
    record_style: ClassVar[RecordStyle] = RecordStyle(ids="native", names="bare",
                                                      dotted_hosts=False)
    record_types: ClassVar[tuple[RecordType, ...]] = tuple(
        map(RecordType, ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT")))
    request_id_headers: ClassVar[tuple[str, ...]] = ("cf-ray",)
    records_suffix: ClassVar[str] = "/dns_records"
    #: ``PATCH``: the fields not sent (``proxied``, ``comment``) stay as they are.
    change_method: ClassVar[str] = "PATCH"
    zone_key: ClassVar[str | None] = "result"
    created_key: ClassVar[str | None] = "result"
    #: Records are listed ``order=name``: a set is complete once another name follows.
    listed_by_name: ClassVar[bool] = True

    def __init__(self, key: str | Secret, secret: str | Secret | None = None, *,
                 account_id: str | None = None, endpoint: str = DEFAULT_ENDPOINT,
                 page_size: int = 100, **options: Any) -> None:
        super().__init__(endpoint=endpoint, page_size=page_size, **options)
        missing = "Cloudflare needs an API token (or an e-mail and key)"
        self._email: str | None = None
        self._global_key: Secret | None = None
        if secret is None:
            self._use_bearer(key, missing=missing)
        elif not key:
            raise InvalidInput(missing, driver=self)
        else:
            self._email = key.reveal() if isinstance(key, Secret) else key
            self._global_key = Secret(secret)
        if account_id is not None and (not isinstance(account_id, str) or not account_id):
            raise InvalidInput("account_id must be a non-empty string", driver=self)
        self.account_id = account_id

    def _repr_fields(self) -> dict[str, object]:
        return {**super()._repr_fields(), "account_id": self.account_id}

    def _sign(self, request: Request, now: float) -> Request:
        """Add the token, or the legacy e-mail and key, to every attempt."""
        if self._global_key is None or self._email is None:
            return super()._sign(request, now)
        return request.with_headers(
            {"X-Auth-Email": self._email, "X-Auth-Key": self._global_key.reveal()}
        )

    # -- requests -----------------------------------------------------------------

    def _fault(self, resp: Response) -> Fault:
        """Cloudflare's ``errors`` (with their ``error_chain``), each shown with its code."""
        try:
            payload = json.loads(resp.body) if resp.body else {}
        except ValueError:
            payload = {}
        errors = [e for e in (payload.get("errors") if isinstance(payload, dict) else None)
                  or [] if isinstance(e, dict)]
        codes = [str(e.get("code")) for e in errors]
        for entry in errors:
            codes += [str(c.get("code")) for c in entry.get("error_chain") or []
                      if isinstance(c, dict)]
        text = "; ".join(f"{e.get('message', '')} ({e.get('code')})" for e in errors)
        return Fault(resp.status, codes[0] if codes else None,
                     text or resp.text[:300].strip(), resp.headers.get("cf-ray"),
                     frozenset(codes))

    def _json(self, method: str, path: str, **options: Unpack[SendOptions]) -> Op[Any]:
        """Send one request; the decoded envelope, or the mapped error (also for a
        2xx answer whose envelope says ``"success": false``)."""
        outcome = Outcome(options.get("what", ""), options.get("missing"), options.get("exists"))
        resp = yield from self._send(method, path, **options)
        payload = yield from decode_json(resp, driver=self)
        if not isinstance(payload, dict):
            payload = {}
        if payload.get("success", True) is False:
            raise self._error(resp, outcome)
        return payload

    def _page_size(self, bounds: tuple[int, int]) -> str:
        low, high = bounds
        return str(min(max(self.page_size, low), high))

    def _page(self, path: str, page: Cursor | None, params: Sequence[tuple[str, str]],
              bounds: tuple[int, int], what: str = "") -> Op[Page[Item]]:
        """One page of a list, by number; ``result_info.total_pages`` says how many."""
        number = int(page or 1)
        payload = yield from self._json(
            "GET", path, params=[*params, ("page", str(number)),
                                 ("per_page", self._page_size(bounds))],
            what=what, missing=ZoneNotFound)
        info = payload.get("result_info") or {}
        reported = info.get("page")
        return Page.number(payload.get("result") or [], number,
                           pages=int(info.get("total_pages") or 1),
                           reported=None if reported is None else int(reported))

    # -- zones ----------------------------------------------------------------------

    def _to_zone(self, item: Mapping[str, Any]) -> Zone:
        kind = str(item.get("type", "full"))
        extra = {k: item.get(k) for k in ("status", "paused", "name_servers",
                                         "original_name_servers", "account", "plan",
                                         "created_on", "activated_on")}
        extra["type"] = kind
        return Zone(
            id=str(item["id"]), domain=per_value.absolute_host(str(item["name"])),
            type=ZoneType.SLAVE if kind == "secondary" else ZoneType.MASTER,
            ttl=None, driver=self, extra=extra,
        )

    def _zone_page(self, cursor: Cursor | None, domain: str | None) -> Op[Page[Item]]:
        """A page of the zones the credentials see (of ``account_id`` when set)."""
        params = [("name", domain)] if domain is not None else []
        if self.account_id and domain is None:
            params.append(("account.id", self.account_id))
        return (yield from self._page("/zones", cursor, params, _ZONE_PAGE))

    def _zone_path(self, zone_id: str) -> str:
        return f"/zones/{names.url_segment(zone_id, what='zone id', driver=self)}"

    def _account(self, extra: Mapping[str, Any]) -> Op[str]:
        account = extra.get("account_id") or self.account_id
        if account:
            return str(account)
        payload = yield from self._json("GET", "/accounts", params=[("per_page", "5")])
        accounts = payload.get("result") or []
        if len(accounts) != 1:
            raise InvalidInput(
                f"the credentials see {len(accounts)} accounts; give account_id= to say "
                "which one new zones go into", driver=self,
            )
        return str(accounts[0]["id"])

    @operation
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Create a ``full`` zone for ``domain``.

        Cloudflare zones have no TTL and secondary zones need an Enterprise plan,
        so ``ttl`` and ``type="slave"`` raise :class:`~overcast.errors.NotSupported`.
        ``extra["account_id"]`` overrides the driver's ``account_id``. A create
        whose answer is lost is looked up by name before it is sent again.
        """
        bare = self._zone_domain(domain).lower()
        if str(type).lower() != ZoneType.MASTER:
            raise NotSupported("Cloudflare DNS creates only primary (full) zones", driver=self)
        if ttl is not None:
            raise NotSupported("Cloudflare zones have no default TTL", driver=self)
        account = yield from self._account(extra or {})
        body = {"name": bare, "account": {"id": account}, "type": "full"}

        def send() -> Op[Zone]:
            payload = yield from self._json("POST", "/zones", json=body, what=bare,
                                           exists=ZoneAlreadyExists)
            return self._to_zone(payload["result"])

        return (yield from self._create_zone_once(send, bare))

    # -- the hooks of PerValueDNSDriver -----------------------------------------------

    def _value_page(self, zone: Zone, cursor: Cursor | None, name: str | None,
                    rtype: str | None) -> Op[Page[Item]]:
        if name is None:
            params = [("order", "name"), ("direction", "asc")]
        else:
            params = [("name", per_value.full_name(name, zone).lower())]
        if rtype is not None:
            params.append(("type", rtype))
        return (yield from self._page(self._records_path(zone), cursor, params, _RECORD_PAGE,
                                      what=zone.id))

    def _entry(self, zone: Zone, item: Item) -> Entry:
        ttl = item.get("ttl")
        name = names.relative_name(per_value.absolute_host(str(item["name"])), zone.domain,
                                   lower=True)
        return Entry(name, str(item["type"]).upper(), _value(item),
                     None if ttl in (None, _AUTO_TTL) else int(ttl), str(item["id"]), item)

    def _set_extra(self, entries: Sequence[Entry]) -> dict[str, Any]:
        """The record ids, and whether Cloudflare proxies the set (``proxied``)."""
        return {**super()._set_extra(entries),
                "proxied": any(bool(entry.item.get("proxied")) for entry in entries)}

    def _payload(self, zone: Zone, name: str, rtype: RecordType, value: str, ttl: int | None
                 ) -> dict[str, Any]:
        return {"type": str(rtype), "name": per_value.full_name(name, zone).lower(),
                "ttl": _AUTO_TTL if ttl is None else ttl, **_fields(rtype, value)}

