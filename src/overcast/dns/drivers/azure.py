"""Azure DNS through Azure Resource Manager (``Microsoft.Network/dnsZones``, 2018-05-01).

``AzureDNSDriver(client_id, client_secret, tenant_id=..., subscription_id=...,
resource_group=...)``: an app registration (service principal) with a role on
the resource group. The driver gets an ARM access token with the
client-credentials flow (:mod:`overcast.auth.azure_ad`), caches it until
shortly before it expires and shares it between threads and tasks; a 401
drops it and retries the request once with a fresh one.

Resources (``{rg}`` is ``/subscriptions/{sub}/resourceGroups/{rg}``, every
request carries ``api-version=2018-05-01``):

* zones: ``GET {rg}/providers/Microsoft.Network/dnsZones`` (``$top``, then
  ``nextLink``), ``PUT .../dnsZones/{zone}`` with ``If-None-Match: *`` (412 when
  it exists), ``GET``, ``DELETE`` (a long-running operation: 202 and an
  ``Azure-AsyncOperation`` status URL, polled after ``Retry-After``);
* record sets: ``GET .../dnsZones/{zone}/recordsets`` (paged), ``GET/PUT/DELETE
  .../dnsZones/{zone}/{TYPE}/{name}`` (``@`` is the apex); ``PUT`` with
  ``If-None-Match: *`` creates, with ``If-Match`` replaces; a ``DELETE`` that
  finds nothing answers 204.

A zone's id is its name (the domain without the trailing dot); record ids are
``"<relative name or @>:<TYPE>"``. Values travel in typed arrays
(``ARecords[{ipv4Address}]``, ``MXRecords[{preference, exchange}]``,
``TXTRecords[{value: [strings]}]``, ``caaRecords[{flags, tag, value}]``, ...),
converted here to and from overcast's presentation form.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlsplit

from overcast.auth.azure_ad import (
    ARM_SCOPE,
    DEFAULT_AUTHORITY,
    AccessToken,
    TokenCache,
    fetch_token,
)
from overcast.auth.tokens import send_with_bearer
from overcast.dns import names
from overcast.dns.base import DNSDriver, Record, RecordData, RecordType, Zone, ZoneType
from overcast.dns.records import character_strings, parse_character_strings
from overcast.errors import (
    InvalidCredentials,
    InvalidInput,
    NotSupported,
    OperationTimeout,
    OutcomeUnknown,
    ProviderError,
    RecordAlreadyExists,
    RecordNotFound,
    ZoneAlreadyExists,
    ZoneNotFound,
)
from overcast.runtime.effects import Call, Emit, Iter, Op, Request, Response, Sleep
from overcast.runtime.operation import iterator, operation
from overcast.runtime.policy import parse_retry_after
from overcast.runtime.redact import Secret, redact_text

__all__ = ["AzureDNSDriver"]

API_VERSION: Final = "2018-05-01"
DEFAULT_ENDPOINT: Final = "https://management.azure.com"
#: TTL of a record set created without one (the Azure portal's default).
DEFAULT_RECORD_TTL: Final = 3600
#: Poll interval of a long-running operation that sends no ``Retry-After``.
DEFAULT_POLL_SECONDS: Final = 5.0
MAX_POLL_SECONDS: Final = 60.0
#: How long a long-running operation may take before the driver gives up.
LRO_TIMEOUT: Final = 1800.0
_NOT_FOUND_CODES: Final = frozenset({"ResourceNotFound", "ParentResourceNotFound", "NotFound"})
_AUTH_CODES: Final = frozenset(
    {"AuthenticationFailed", "InvalidAuthenticationToken", "ExpiredAuthenticationToken",
     "InvalidAuthenticationTokenTenant", "AuthorizationFailed"}
)
#: The typed array (or object) each record type's values travel in.
_FIELDS: Final = {
    "A": "ARecords",
    "AAAA": "AAAARecords",
    "CAA": "caaRecords",
    "CNAME": "CNAMERecord",
    "MX": "MXRecords",
    "NS": "NSRecords",
    "PTR": "PTRRecords",
    "SOA": "SOARecord",
    "SRV": "SRVRecords",
    "TXT": "TXTRecords",
}


def _host(value: str) -> str:
    """A host name as Azure shows it in its examples: without the trailing dot."""
    value = value.strip()
    return value[:-1] if value.endswith(".") and value != "." else value


def _absolute(value: str) -> str:
    return value if value.endswith(".") else f"{value}."


def split_text(text: str, limit: int = 255) -> list[str]:
    """TXT text as strings of at most ``limit`` UTF-8 bytes, never splitting a character."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for ch in text:
        n = len(ch.encode("utf-8", "surrogatepass"))
        if size + n > limit:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += n
    chunks.append("".join(current))
    return chunks


def to_properties(rtype: str, values: list[str]) -> dict[str, Any]:
    """The typed record array of ``values`` (overcast's form) for a record-set body."""
    if rtype == "A":
        return {"ARecords": [{"ipv4Address": v} for v in values]}
    if rtype == "AAAA":
        return {"AAAARecords": [{"ipv6Address": v} for v in values]}
    if rtype == "CNAME":
        return {"CNAMERecord": {"cname": _host(values[0])}}
    if rtype == "NS":
        return {"NSRecords": [{"nsdname": _host(v)} for v in values]}
    if rtype == "PTR":
        return {"PTRRecords": [{"ptrdname": _host(v)} for v in values]}
    if rtype == "MX":
        items = []
        for v in values:
            preference, exchange = v.split()
            items.append({"preference": int(preference), "exchange": _host(exchange)})
        return {"MXRecords": items}
    if rtype == "SRV":
        items = []
        for v in values:
            priority, weight, port, target = v.split()
            items.append({"priority": int(priority), "weight": int(weight), "port": int(port),
                          "target": _host(target)})
        return {"SRVRecords": items}
    if rtype == "TXT":
        return {"TXTRecords": [{"value": split_text(v)} for v in values]}
    if rtype == "CAA":
        items = []
        for v in values:
            flags, tag, rest = v.split(None, 2)
            text = parse_character_strings(rest) if rest.startswith('"') else rest
            items.append({"flags": int(flags), "tag": tag, "value": text})
        return {"caaRecords": items}
    raise NotSupported(f"Azure DNS does not support {rtype} records")


def from_properties(rtype: str, props: Mapping[str, Any]) -> list[str]:
    """The values (overcast's form) of a record set's typed arrays."""

    def items(field: str) -> list[Mapping[str, Any]]:
        found = props.get(field)
        if found is None:  # tolerate the other spelling of the field name
            lowered = field.lower()
            found = next((v for k, v in props.items() if k.lower() == lowered), None)
        if isinstance(found, Mapping):
            return [found]
        return [i for i in (found or []) if isinstance(i, Mapping)]

    field = _FIELDS.get(rtype)
    if field is None:
        return []
    out: list[str] = []
    for item in items(field):
        if rtype == "A":
            out.append(str(item.get("ipv4Address", "")))
        elif rtype == "AAAA":
            out.append(str(item.get("ipv6Address", "")))
        elif rtype == "CNAME":
            out.append(_absolute(str(item.get("cname", ""))))
        elif rtype == "NS":
            out.append(_absolute(str(item.get("nsdname", ""))))
        elif rtype == "PTR":
            out.append(_absolute(str(item.get("ptrdname", ""))))
        elif rtype == "MX":
            out.append(f"{item.get('preference')} {_absolute(str(item.get('exchange', '')))}")
        elif rtype == "SRV":
            out.append(f"{item.get('priority')} {item.get('weight')} {item.get('port')} "
                       f"{_absolute(str(item.get('target', '')))}")
        elif rtype == "TXT":
            out.append("".join(str(s) for s in item.get("value") or []))
        elif rtype == "CAA":
            out.append(f"{item.get('flags')} {item.get('tag')} "
                       f"{character_strings(str(item.get('value', '')))}")
        elif rtype == "SOA":
            out.append(" ".join([
                _absolute(str(item.get("host", ""))), _absolute(str(item.get("email", ""))),
                *(str(item.get(k, 0)) for k in ("serialNumber", "refreshTime", "retryTime",
                                                 "expireTime", "minimumTTL")),
            ]))
    return out


class AzureDNSDriver(DNSDriver):
    """Azure DNS (public zones) through Azure Resource Manager.

    ``key`` is the application (client) id and ``secret`` its client secret;
    ``tenant_id``, ``subscription_id`` and ``resource_group`` say where the
    zones live. ``endpoint`` and ``authority`` select a cloud (public by
    default); ``page_size`` is ``$top`` for listings.
    """

    name: ClassVar[str] = "azure"
    record_types: ClassVar[tuple[RecordType, ...]] = (
        RecordType.A,
        RecordType.AAAA,
        RecordType.CAA,
        RecordType.CNAME,
        RecordType.MX,
        RecordType.NS,
        RecordType.PTR,
        RecordType.SRV,
        RecordType.TXT,
    )

    def __init__(
        self,
        key: str,
        secret: str | Secret,
        *,
        tenant_id: str,
        subscription_id: str,
        resource_group: str,
        endpoint: str = DEFAULT_ENDPOINT,
        authority: str = DEFAULT_AUTHORITY,
        page_size: int = 100,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        for label, value in (("key (client id)", key), ("secret (client secret)", secret),
                             ("tenant_id", tenant_id), ("subscription_id", subscription_id),
                             ("resource_group", resource_group)):
            if not value or not isinstance(value, str | Secret):
                raise InvalidInput(f"{label} must be a non-empty string", driver=self)
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise InvalidInput(f"page_size must be a positive integer: {page_size!r}", driver=self)
        self.key = key
        self.secret = Secret(secret)
        self.tenant_id = tenant_id
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.endpoint = endpoint.rstrip("/")
        self.authority = authority.rstrip("/")
        self.page_size = page_size
        self._origin = urlsplit(self.endpoint)[:2]
        self._tokens = TokenCache()

    def _repr_fields(self) -> dict[str, object]:
        return {"subscription_id": self.subscription_id, "resource_group": self.resource_group}

    # -- auth and requests -------------------------------------------------------------

    def _token(self) -> Op[AccessToken]:
        """Operation: the cached ARM token, or a new one (one token request)."""
        now: float = yield Call(time.time)
        cached = self._tokens.current(now)
        if cached is not None:
            return cached
        token, expires_in, at = yield from fetch_token(
            self.authority, self.tenant_id, self.key, self.secret, ARM_SCOPE, driver=self
        )
        return self._tokens.store(token, expires_in, at)

    def _zones_url(self, *segments: str) -> str:
        base = (f"{self.endpoint}/subscriptions/{quote(self.subscription_id, safe='')}"
                f"/resourceGroups/{quote(self.resource_group, safe='')}"
                "/providers/Microsoft.Network/dnsZones")
        tail = "/".join(quote(s, safe="@") for s in segments)
        return f"{base}/{tail}" if tail else base

    def _record_url(self, zone_id: str, rtype: str, name: str) -> str:
        return self._zones_url(zone_id, rtype, name or "@")

    def _check_link(self, url: str) -> str:
        """A server-given URL (nextLink, status URL) must point at the endpoint: the
        bearer token never goes anywhere else."""
        if urlsplit(url)[:2] != self._origin:
            raise ProviderError(f"refusing to follow a link off {self.endpoint}: {url[:100]}",
                                driver=self)
        return url

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        versioned: bool = True,
    ) -> Op[Response]:
        """Operation: an authorised ARM request; a 401 is retried once with a new token.

        ``versioned=False`` for server-given URLs, which carry their own query.
        """
        query = {"api-version": API_VERSION, **(params or {})} if versioned else {}
        base = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            base["Content-Type"] = "application/json"
        request = Request(method, url, headers=base, params=query, body=data,
                          idempotent=idempotent)
        return (yield from send_with_bearer(self._token, self._tokens, request))

    def _error(self, resp: Response, kind: str = "", resource: str = "") -> Exception:
        """The overcast error for a failed ARM response (``{"error": {code, message}}``).

        ``kind`` is ``"zone"`` or ``"record"``: what a 404 or 412 is about.
        """
        code: str | None = None
        message = resp.text[:500]
        try:
            data = resp.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            code = data["error"].get("code")
            message = str(data["error"].get("message") or message)
        message = redact_text(message, self._secrets())
        request_id = resp.headers.get("x-ms-request-id")
        if resp.status in (401, 403) or code in _AUTH_CODES:
            return InvalidCredentials(f"Azure refused the credentials: {code}: {message}",
                                      driver=self)
        if resp.status == 404 and code in _NOT_FOUND_CODES:
            if kind == "record" and code != "ParentResourceNotFound":
                return RecordNotFound(resource, message, driver=self)
            return ZoneNotFound(resource, message, driver=self)
        if resp.status == 412 and kind == "zone":
            return ZoneAlreadyExists(resource, message, driver=self)
        if resp.status == 412 and kind == "record":
            return RecordAlreadyExists(resource, message, driver=self)
        return ProviderError(message, status=resp.status, code=code, request_id=request_id,
                             driver=self)

    # -- models ------------------------------------------------------------------------

    def _to_zone(self, data: Mapping[str, Any]) -> Zone:
        props = data.get("properties") or {}
        name = str(data["name"])
        return Zone(
            id=name,
            domain=_absolute(name),
            type=ZoneType.MASTER.value,
            ttl=None,
            driver=self,
            extra={
                "id": data.get("id"),
                "etag": data.get("etag"),
                "location": data.get("location"),
                "tags": dict(data.get("tags") or {}),
                "name_servers": list(props.get("nameServers") or []),
                "number_of_record_sets": props.get("numberOfRecordSets"),
                "max_number_of_record_sets": props.get("maxNumberOfRecordSets"),
                "zone_type": props.get("zoneType"),
            },
        )

    def _to_record(self, zone: Zone, data: Mapping[str, Any]) -> Record:
        rtype = str(data.get("type", "")).rsplit("/", 1)[-1].upper()
        raw_name = str(data.get("name", "@"))
        name = "" if raw_name == "@" else raw_name
        props = data.get("properties") or {}
        values = from_properties(rtype, props)
        ttl = props.get("TTL")
        return Record(
            id=f"{name or '@'}:{rtype}",
            name=name,
            type=rtype,
            data=values[0] if values else "",
            zone=zone,
            driver=self,
            ttl=int(ttl) if ttl is not None else None,
            extra={
                "id": data.get("id"),
                "etag": data.get("etag"),
                "fqdn": props.get("fqdn"),
                "metadata": dict(props.get("metadata") or {}),
                "provisioning_state": props.get("provisioningState"),
            },
            values=values,
        )

    @staticmethod
    def _parse_record_id(record_id: str) -> tuple[str, str] | None:
        name, sep, rtype = str(record_id).rpartition(":")
        if not sep or not name or rtype.upper() not in _FIELDS:
            return None
        return ("" if name == "@" else name), rtype.upper()

    # -- paging ------------------------------------------------------------------------

    def _list_page(
        self, url: str, link: str | None, kind: str, resource: str
    ) -> Op[tuple[list[dict[str, Any]], str | None]]:
        """One page of an ARM list: the first from ``url`` (with ``$top``), the next
        ones from the server's ``nextLink``. Returns ``(items, nextLink)``."""
        if link is None:
            resp = yield from self._send("GET", url, params={"$top": str(self.page_size)})
        else:
            resp = yield from self._send("GET", self._check_link(link), versioned=False)
        if not resp.ok:
            raise self._error(resp, kind, resource)
        data = resp.json()
        items = [i for i in data.get("value") or [] if isinstance(i, dict)]
        next_link = data.get("nextLink")
        return items, (str(next_link) if next_link else None)

    # -- zones -------------------------------------------------------------------------

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every DNS zone of the resource group, page by page (``nextLink``)."""
        url = self._zones_url()
        link: str | None = None
        while True:
            items, link = yield from self._list_page(url, link, "group", self.resource_group)
            for item in items:
                yield Emit(self._to_zone(item))
            if link is None:
                return

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """The zone named ``zone_id`` (the domain without its trailing dot)."""
        resp = yield from self._send("GET", self._zones_url(zone_id))
        if not resp.ok:
            raise self._error(resp, "zone", zone_id)
        return self._to_zone(resp.json())

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Create a public zone (``PUT`` with ``If-None-Match: *``).

        ``extra``: ``tags`` (a dict). Azure DNS has no secondary zones and no
        zone-wide TTL.
        """
        names.validate_name(domain, wildcard=False, what="domain", driver=self)
        if domain in names.APEX_NAMES or domain == ".":
            raise InvalidInput("a zone needs a domain name", driver=self)
        if str(type).lower() != ZoneType.MASTER.value:
            raise NotSupported("Azure DNS has no secondary (slave) zones", driver=self)
        if ttl is not None:
            raise NotSupported("Azure DNS zones have no default TTL", driver=self)
        extra = dict(extra or {})
        body: dict[str, Any] = {"location": "global", "properties": {"zoneType": "Public"}}
        if "tags" in extra:
            body["tags"] = dict(extra.pop("tags"))
        if extra:
            raise InvalidInput(f"unknown zone option(s): {', '.join(sorted(extra))}", driver=self)
        zone_name = domain.rstrip(".").lower()
        url = self._zones_url(zone_name)
        try:
            # Not blindly resent: a repeat of a create that worked would answer 412.
            resp = yield from self._send("PUT", url, body=body, headers={"If-None-Match": "*"},
                                         idempotent=False)
        except OutcomeUnknown:
            found = yield from self._send("GET", url)
            if found.ok:
                return self._to_zone(found.json())
            raise
        if not resp.ok:
            raise self._error(resp, "zone", zone_name)
        return self._to_zone(resp.json())

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone and its record sets, waiting for the long-running operation."""
        resp = yield from self._send("DELETE", self._zones_url(zone.id))
        if resp.status == 204:
            raise ZoneNotFound(zone.id, driver=self)
        if not resp.ok:
            raise self._error(resp, "zone", zone.id)
        if resp.status == 202:
            yield from self._wait(resp, f"deleting zone {zone.id}")
        return True

    def _wait(self, accepted: Response, what: str) -> Op[None]:
        """Poll a long-running ARM operation to its end (``Azure-AsyncOperation``
        status, else ``Location``), sleeping ``Retry-After`` between polls."""
        status_url = accepted.headers.get("Azure-AsyncOperation")
        location = accepted.headers.get("Location")
        if not status_url and not location:
            return
        url = self._check_link(status_url or location or "")
        waited = 0.0
        resp = accepted
        while True:
            delay = parse_retry_after(resp.headers.get("Retry-After"))
            delay = DEFAULT_POLL_SECONDS if delay is None else min(delay, MAX_POLL_SECONDS)
            if waited + delay > LRO_TIMEOUT:
                raise OperationTimeout(f"{what}: still running after {waited:.0f}s", driver=self)
            yield Sleep(delay)
            waited += delay
            resp = yield from self._send("GET", url, versioned=False)
            if status_url:
                if not resp.ok:
                    raise self._error(resp)
                data = resp.json()
                state = str(data.get("status", "")).lower()
                if state == "succeeded":
                    return
                if state in ("failed", "canceled", "cancelled"):
                    error = data.get("error") or {}
                    raise ProviderError(
                        f"{what} {state}: {error.get('message', '')}".strip(),
                        code=error.get("code"), driver=self,
                    )
            else:
                if resp.status != 202:
                    if not resp.ok:
                        raise self._error(resp)
                    return

    # -- records -----------------------------------------------------------------------

    @iterator
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """Every record set of the zone, page by page (``nextLink``)."""
        url = self._zones_url(zone.id, "recordsets")
        link: str | None = None
        while True:
            items, link = yield from self._list_page(url, link, "zone", zone.id)
            for item in items:
                yield Emit(self._to_record(zone, item))
            if link is None:
                return

    def _get_set(self, zone: Zone, rtype: str, name: str) -> Op[Mapping[str, Any] | None]:
        resp = yield from self._send("GET", self._record_url(zone.id, rtype, name))
        if resp.status == 404:
            error = self._error(resp, "record", f"{name or '@'}:{rtype}")
            if isinstance(error, RecordNotFound):
                return None
            raise error
        if not resp.ok:
            raise self._error(resp, "record", f"{name or '@'}:{rtype}")
        data: Mapping[str, Any] = resp.json()
        return data

    def _check_conflicts(self, zone: Zone, name: str, rtype: str,
                         skip: tuple[str, str] | None = None) -> Op[None]:
        """RecordAlreadyExists / InvalidInput (CNAME rules) before a write at ``name``."""
        if rtype == "CNAME":
            # Any other type at the name conflicts: read the zone's sets at that name.
            types: list[str] = []
            url = self._zones_url(zone.id, "recordsets")
            link: str | None = None
            while True:
                items, link = yield from self._list_page(url, link, "zone", zone.id)
                for item in items:
                    record = self._to_record(zone, item)
                    key = (record.name.lower(), str(record.type))
                    if key[0] == name.lower() and key != skip:
                        types.append(key[1])
                if link is None:
                    break
            if "CNAME" in types:
                raise RecordAlreadyExists(f"{name or '@'}:CNAME", driver=self)
            if types:
                raise InvalidInput(f"a CNAME may not stand beside other data at "
                                   f"{name or '@'!r} ({', '.join(types)})", driver=self)
            return
        if skip is not None and skip == (name.lower(), "CNAME"):
            return
        cname = yield from self._get_set(zone, "CNAME", name)
        if cname is not None:
            raise InvalidInput(f"{name or '@'!r} holds a CNAME; no other data may stand "
                               "beside it", driver=self)

    def _body(self, rtype: str, values: list[str], ttl: int) -> dict[str, Any]:
        try:
            props = to_properties(rtype, values)
        except NotSupported as exc:
            raise NotSupported(exc.message, driver=self) from None
        return {"properties": {"TTL": ttl, **props}}

    @operation
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """The record set ``"<name>:<TYPE>"`` of zone ``zone_id``."""
        parsed = self._parse_record_id(record_id)
        if parsed is None:
            # Still tell a missing zone from a missing record.
            yield from self.get_zone.op(zone_id)
            raise RecordNotFound(record_id, driver=self)
        name, rtype = parsed
        zone = Zone(zone_id, _absolute(zone_id), ZoneType.MASTER.value, None, driver=self)
        data = yield from self._get_set(zone, rtype, name)
        if data is None:
            raise RecordNotFound(record_id, driver=self)
        return self._to_record(zone, data)

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
        """Create a record set (``PUT`` with ``If-None-Match: *``); TTL defaults to 3600."""
        name, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        record_ttl = self._record_ttl(ttl, extra)
        body = self._body(str(rtype), values, DEFAULT_RECORD_TTL if record_ttl is None
                          else record_ttl)
        yield from self._check_conflicts(zone, name, str(rtype))
        url = self._record_url(zone.id, str(rtype), name)
        try:
            resp = yield from self._send("PUT", url, body=body,
                                         headers={"If-None-Match": "*"}, idempotent=False)
        except OutcomeUnknown:
            made = yield from self._get_set(zone, str(rtype), name)
            if made is not None:
                record = self._to_record(zone, made)
                if sorted(record.values) == sorted(from_properties(str(rtype),
                                                                   body["properties"])):
                    return record
            raise
        if not resp.ok:
            raise self._error(resp, "record", f"{name or '@'}:{rtype}")
        return self._to_record(zone, resp.json())

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
        """Replace a record set (``PUT`` with ``If-Match``). A new name or type
        creates the new set first, then deletes the old one."""
        zone = record.zone
        new_name, rtype, values = self._validate_record(
            record.name if name is None else name,
            record.type if type is None else type,
            list(record.values) if data is None else data,
            extra=extra,
            zone=zone,
        )
        new_ttl = self._record_ttl(ttl, extra)
        if new_ttl is None:
            new_ttl = record.ttl if record.ttl is not None else DEFAULT_RECORD_TTL
        body = self._body(str(rtype), values, new_ttl)
        old_type = str(record.type).upper()
        moved = (new_name.lower(), str(rtype)) != (record.name.lower(), old_type)
        if not moved:
            resp = yield from self._send(
                "PUT", self._record_url(zone.id, str(rtype), new_name), body=body,
                headers={"If-Match": "*"},
            )
            if resp.status == 412:  # If-Match: * fails only when the set is gone
                raise RecordNotFound(record.id, driver=self)
            if not resp.ok:
                raise self._error(resp, "record", record.id)
            return self._to_record(zone, resp.json())
        current = yield from self._get_set(zone, old_type, record.name)
        if current is None:
            raise RecordNotFound(record.id, driver=self)
        yield from self._check_conflicts(zone, new_name, str(rtype),
                                         skip=(record.name.lower(), old_type))
        resp = yield from self._send(
            "PUT", self._record_url(zone.id, str(rtype), new_name), body=body,
            headers={"If-None-Match": "*"}, idempotent=False,
        )
        if not resp.ok:
            raise self._error(resp, "record", f"{new_name or '@'}:{rtype}")
        updated = self._to_record(zone, resp.json())
        gone = yield from self._send("DELETE", self._record_url(zone.id, old_type, record.name))
        if not gone.ok:
            raise self._error(gone, "record", record.id)
        return updated

    @operation
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete a record set; 204 (nothing deleted) is RecordNotFound."""
        resp = yield from self._send(
            "DELETE", self._record_url(record.zone.id, str(record.type).upper(), record.name)
        )
        if resp.status == 204:
            raise RecordNotFound(record.id, driver=self)
        if not resp.ok:
            raise self._error(resp, "record", record.id)
        return True
