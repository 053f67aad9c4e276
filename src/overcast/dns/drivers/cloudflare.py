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
  :class:`~overcast.dns.base.Record` is every record object of one name and
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

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Final
from urllib.parse import quote

from overcast.dns import names
from overcast.dns.base import DNSDriver, Record, RecordData, RecordType, Zone, ZoneType
from overcast.dns.records import canonical, character_strings, parse_character_strings
from overcast.errors import (
    InvalidCredentials,
    InvalidInput,
    NotFound,
    NotSupported,
    OutcomeUnknown,
    OvercastError,
    ProviderError,
    RecordAlreadyExists,
    RecordNotFound,
    ZoneAlreadyExists,
    ZoneNotFound,
)
from overcast.runtime.effects import Emit, Guarded, Iter, Op, Request, Response
from overcast.runtime.operation import iterator, operation
from overcast.runtime.redact import Secret, redact_text

__all__ = ["CloudflareDNSDriver"]

DEFAULT_ENDPOINT: Final = "https://api.cloudflare.com/client/v4"
#: Cloudflare's documented ``per_page`` ranges.
_ZONE_PAGE: Final = (5, 50)
_RECORD_PAGE: Final = (5, 5_000_000)
#: "automatic" TTL.
_AUTO_TTL: Final = 1
#: Error codes that mean the credentials were refused (bad, malformed or missing).
_AUTH_CODES: Final = frozenset({1000, 6003, 6100, 6101, 6102, 6103, 6111, 9103, 9106, 9109,
                                10000, 10001})
#: "No such object": unroutable id, invalid zone identifier, record does not exist.
_NOT_FOUND_CODES: Final = frozenset({1001, 1003, 7000, 7003, 81044})
_ZONE_EXISTS_CODES: Final = frozenset({1061})
_RECORD_EXISTS_CODES: Final = frozenset({81053, 81054, 81057, 81058})
_HOST_TYPES: Final = frozenset({"CNAME", "NS", "PTR"})
_JSON: Final = {"Content-Type": "application/json", "Accept": "application/json"}


def _absolute(host: str) -> str:
    return host if host.endswith(".") else f"{host}."


def _bare(host: str) -> str:
    return host[:-1] if host.endswith(".") and host != "." else host


class CloudflareDNSDriver(DNSDriver):
    """DNS zones and record sets on Cloudflare (API v4).

    ``key`` is an API token; with ``secret``, ``key`` is the account e-mail and
    ``secret`` the Global API key (legacy auth). ``account_id`` is the account
    new zones go into and the one whose zones are listed (default: the token's
    only account for creates, every visible zone for listings). ``page_size``
    is the ``per_page`` of listings (kept within Cloudflare's limits: 5..50 for
    zones, at least 5 for records).
    """

    name: ClassVar[str] = "cloudflare"
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
        key: str | Secret,
        secret: str | Secret | None = None,
        *,
        account_id: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
        page_size: int = 100,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not key:
            raise InvalidInput("Cloudflare needs an API token (or an e-mail and key)",
                               driver=self)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidInput(f"page_size must be a positive integer: {page_size!r}", driver=self)
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise InvalidInput(f"endpoint must be an http(s) URL: {endpoint!r}", driver=self)
        if account_id is not None and (not isinstance(account_id, str) or not account_id):
            raise InvalidInput("account_id must be a non-empty string", driver=self)
        self._email: str | None = None
        if secret is None:
            self._token: Secret | None = Secret(key)
            self._global_key: Secret | None = None
        else:
            if isinstance(key, Secret):
                key = key.reveal()
            self._email = key
            self._token = None
            self._global_key = Secret(secret)
        self.account_id = account_id
        self.endpoint = endpoint.rstrip("/")
        self.page_size = page_size

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "account_id": self.account_id}

    def _sign(self, request: Request, now: float) -> Request:
        """Add the token (or the legacy e-mail and key) to every attempt."""
        if self._token is not None:
            return request.with_headers({"Authorization": f"Bearer {self._token.reveal()}"})
        assert self._global_key is not None and self._email is not None
        return request.with_headers(
            {"X-Auth-Email": self._email, "X-Auth-Key": self._global_key.reveal()}
        )

    # -- requests -----------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, params: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> Request:
        data = None if body is None else json.dumps(body).encode("utf-8")
        return Request(method, f"{self.endpoint}{path}", headers=dict(_JSON),
                       params=tuple(params), body=data)

    def _call(
        self, method: str, path: str, *, params: Sequence[tuple[str, str]] = (),
        body: Any = None, missing: type[NotFound] = ZoneNotFound, what: str = "",
    ) -> Op[dict[str, Any]]:
        """Send one request; return the decoded envelope or raise the mapped error."""
        resp: Response = yield self._request(method, path, params=params, body=body)
        return self._envelope(resp, missing, what)

    def _envelope(self, resp: Response, missing: type[NotFound], what: str) -> dict[str, Any]:
        try:
            payload = resp.json() if resp.body else {}
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if resp.ok and payload.get("success", True):
            return payload
        raise self._error(resp, payload, missing, what)

    def _error(self, resp: Response, payload: Mapping[str, Any], missing: type[NotFound],
               what: str) -> OvercastError:
        errors = [e for e in payload.get("errors") or [] if isinstance(e, dict)]
        codes = {e.get("code") for e in errors}
        for entry in errors:
            codes |= {c.get("code") for c in entry.get("error_chain") or [] if isinstance(c, dict)}
        text = "; ".join(f"{e.get('message', '')} ({e.get('code')})" for e in errors)
        text = redact_text(text or resp.text[:300] or f"HTTP {resp.status}", self._secrets())
        if resp.status in (401, 403) or codes & _AUTH_CODES:
            return InvalidCredentials(f"Cloudflare refused the credentials: {text}", driver=self)
        if codes & _ZONE_EXISTS_CODES:
            return ZoneAlreadyExists(what, text, driver=self)
        if codes & _RECORD_EXISTS_CODES:
            return RecordAlreadyExists(what, text, driver=self)
        if codes & _NOT_FOUND_CODES or resp.status == 404:
            return missing(what, f"{missing.kind} not found: {what!r} ({text})", driver=self)
        first = errors[0].get("code") if errors else None
        return ProviderError(
            f"{resp.method} {resp.url} failed: {text}", status=resp.status,
            code=None if first is None else str(first),
            request_id=resp.headers.get("cf-ray"), driver=self,
        )

    def _page_size(self, bounds: tuple[int, int]) -> str:
        low, high = bounds
        return str(min(max(self.page_size, low), high))

    # -- zones ----------------------------------------------------------------------

    def _to_zone(self, item: Mapping[str, Any]) -> Zone:
        kind = str(item.get("type", "full"))
        extra = {k: item.get(k) for k in ("status", "paused", "name_servers",
                                         "original_name_servers", "account", "plan",
                                         "created_on", "activated_on")}
        extra["type"] = kind
        return Zone(
            id=str(item["id"]), domain=_absolute(str(item["name"])),
            type=ZoneType.SLAVE if kind == "secondary" else ZoneType.MASTER,
            ttl=None, driver=self, extra=extra,
        )

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every zone the credentials see (of ``account_id`` when set), page by page."""
        page, pages = 1, 1
        while page <= pages:
            params = [("page", str(page)), ("per_page", self._page_size(_ZONE_PAGE))]
            if self.account_id:
                params.append(("account.id", self.account_id))
            payload = yield from self._call("GET", "/zones", params=params)
            for item in payload.get("result") or []:
                yield Emit(self._to_zone(item))
            pages = int((payload.get("result_info") or {}).get("total_pages") or 1)
            page += 1

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """A zone by its Cloudflare id; :class:`~overcast.errors.ZoneNotFound` if absent."""
        payload = yield from self._call("GET", f"/zones/{quote(zone_id, safe='')}",
                                        what=zone_id)
        return self._to_zone(payload["result"])

    def _find_zone(self, domain: str) -> Op[Zone | None]:
        payload = yield from self._call("GET", "/zones", params=[("name", domain)])
        found = [z for z in payload.get("result") or [] if z.get("name") == domain]
        return self._to_zone(found[0]) if found else None

    def _account(self, extra: Mapping[str, Any]) -> Op[str]:
        account = extra.get("account_id") or self.account_id
        if account:
            return str(account)
        payload = yield from self._call("GET", "/accounts", params=[("per_page", "5")])
        accounts = payload.get("result") or []
        if len(accounts) != 1:
            raise InvalidInput(
                f"the credentials see {len(accounts)} accounts; give account_id= to say "
                "which one new zones go into", driver=self,
            )
        return str(accounts[0]["id"])

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Create a ``full`` zone for ``domain``.

        Cloudflare zones have no TTL and secondary zones need an Enterprise plan,
        so ``ttl`` and ``type="slave"`` raise :class:`~overcast.errors.NotSupported`.
        ``extra["account_id"]`` overrides the driver's ``account_id``.
        """
        bare = self._domain(domain)
        if str(type).lower() != ZoneType.MASTER:
            raise NotSupported("Cloudflare DNS creates only primary (full) zones", driver=self)
        if ttl is not None:
            raise NotSupported("Cloudflare zones have no default TTL", driver=self)
        account = yield from self._account(extra or {})
        body = {"name": bare, "account": {"id": account}, "type": "full"}
        try:
            payload = yield from self._call("POST", "/zones", body=body, what=bare)
        except OutcomeUnknown:
            made = yield from self._find_zone(bare)
            if made is None:
                raise
            return made
        return self._to_zone(payload["result"])

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone and its records; :class:`~overcast.errors.ZoneNotFound` if absent."""
        yield from self._call("DELETE", f"/zones/{quote(zone.id, safe='')}", what=zone.id)
        return True

    def _domain(self, domain: str) -> str:
        if not isinstance(domain, str) or domain in names.APEX_NAMES or domain == ".":
            raise InvalidInput(f"invalid domain {domain!r}", driver=self)
        names.validate_name(domain, wildcard=False, what="domain", driver=self)
        return _bare(domain).lower()

    # -- names and values ---------------------------------------------------------

    def _fqdn(self, name: str, zone: Zone) -> str:
        """The full record name (no trailing dot) of a relative or absolute ``name``."""
        origin = _bare(zone.domain).lower()
        if name in names.APEX_NAMES:
            return origin
        if name.endswith("."):
            full = _bare(name).lower()
            if full != origin and not full.endswith(f".{origin}"):
                raise InvalidInput(f"record name {name!r} is not in zone {zone.domain!r}",
                                   driver=self)
            return full
        return f"{name.lower()}.{origin}"

    @staticmethod
    def _relative(fqdn: str, zone: Zone) -> str:
        origin = _bare(zone.domain).lower()
        full = _bare(fqdn).lower()
        if full == origin:
            return ""
        if full.endswith(f".{origin}"):
            return full[: -len(origin) - 1]
        return _absolute(full)

    @staticmethod
    def _value(item: Mapping[str, Any]) -> str:
        """One record object's value in overcast's form."""
        rtype = str(item.get("type", "")).upper()
        content = str(item.get("content") or "")
        data = item.get("data") if isinstance(item.get("data"), dict) else {}
        if rtype in _HOST_TYPES:
            return _absolute(content)
        if rtype == "MX":
            return f"{item.get('priority', 0)} {_absolute(content)}"
        if rtype == "SRV":
            if data:
                return (f"{data.get('priority', item.get('priority', 0))} {data.get('weight')} "
                        f"{data.get('port')} {_absolute(str(data.get('target')))}")
            weight, port, target = content.split()
            return f"{item.get('priority', 0)} {weight} {port} {_absolute(target)}"
        if rtype == "CAA":
            if data:
                return (f"{data.get('flags', 0)} {data.get('tag')} "
                        f"{character_strings(str(data.get('value', '')))}")
            return content
        if rtype in names.TEXT_TYPES:
            return parse_character_strings(content) if content.startswith('"') else content
        return content

    @staticmethod
    def _fields(rtype: RecordType, value: str) -> dict[str, Any]:
        """The type-specific fields of one record object for ``value``."""
        if rtype in (RecordType.CNAME, RecordType.NS, RecordType.PTR):
            return {"content": _bare(value.strip())}
        if rtype is RecordType.MX:
            preference, host = value.split()
            return {"content": _bare(host), "priority": int(preference)}
        if rtype is RecordType.SRV:
            priority, weight, port, target = value.split()
            return {"data": {"priority": int(priority), "weight": int(weight),
                             "port": int(port), "target": _bare(target)}}
        if rtype is RecordType.CAA:
            flags, tag, rest = value.split(None, 2)
            text = parse_character_strings(rest) if rest.startswith('"') else rest
            return {"data": {"flags": int(flags), "tag": tag, "value": text}}
        if rtype is RecordType.TXT:
            return {"content": character_strings(value)}
        return {"content": value.strip()}

    def _payload(self, rtype: RecordType, fqdn: str, value: str, ttl: int | None
                 ) -> dict[str, Any]:
        return {"type": str(rtype), "name": fqdn,
                "ttl": _AUTO_TTL if ttl is None else ttl, **self._fields(rtype, value)}

    def _to_record(self, zone: Zone, items: Sequence[Mapping[str, Any]]) -> Record:
        first = items[0]
        name = self._relative(str(first["name"]), zone)
        rtype = str(first["type"]).upper()
        ttl = first.get("ttl")
        values = [self._value(item) for item in items]
        extra = {"ids": [str(item["id"]) for item in items],
                 "proxied": any(bool(item.get("proxied")) for item in items)}
        return Record(
            id=f"{name or '@'}:{rtype}", name=name, type=rtype, data=values[0], zone=zone,
            driver=self, ttl=None if ttl in (None, _AUTO_TTL) else int(ttl), extra=extra,
            values=values,
        )

    def _records_path(self, zone: Zone) -> str:
        return f"/zones/{quote(zone.id, safe='')}/dns_records"

    def _records_at(self, zone: Zone, fqdn: str, rtype: str | None = None
                    ) -> Op[list[dict[str, Any]]]:
        """Every record object named ``fqdn`` (of type ``rtype``), across pages."""
        found: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= pages:
            params = [("name", fqdn), ("page", str(page)),
                      ("per_page", self._page_size(_RECORD_PAGE))]
            if rtype is not None:
                params.append(("type", rtype))
            payload = yield from self._call("GET", self._records_path(zone), params=params,
                                            what=zone.id)
            found += [i for i in payload.get("result") or []
                      if _bare(str(i.get("name", ""))).lower() == fqdn
                      and (rtype is None or str(i.get("type")).upper() == rtype)]
            pages = int((payload.get("result_info") or {}).get("total_pages") or 1)
            page += 1
        return found

    # -- records --------------------------------------------------------------------

    @iterator
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """The record sets of a zone, page by page.

        Records are listed ordered by name, so a set is complete (and emitted)
        as soon as a record with another name follows it.
        """
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        current: str | None = None
        page, pages = 1, 1
        while page <= pages:
            params = [("order", "name"), ("direction", "asc"), ("page", str(page)),
                      ("per_page", self._page_size(_RECORD_PAGE))]
            payload = yield from self._call("GET", self._records_path(zone), params=params,
                                            what=zone.id)
            for item in payload.get("result") or []:
                name = _bare(str(item.get("name", ""))).lower()
                if name != current:
                    for items in groups.values():
                        yield Emit(self._to_record(zone, items))
                    groups.clear()
                    current = name
                groups.setdefault((name, str(item.get("type")).upper()), []).append(item)
            pages = int((payload.get("result_info") or {}).get("total_pages") or 1)
            page += 1
        for items in groups.values():
            yield Emit(self._to_record(zone, items))

    def _parse_id(self, record_id: str) -> tuple[str, RecordType]:
        name, sep, rtype = str(record_id).rpartition(":")
        try:
            kind = RecordType(rtype.upper())
        except ValueError:
            kind = None
        if not sep or not name or kind is None:
            raise RecordNotFound(record_id, driver=self)
        return ("" if name == "@" else name), kind

    @operation
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """A record set by zone id and ``"name:TYPE"``."""
        zone = yield from self.get_zone.op(zone_id)
        name, rtype = self._parse_id(record_id)
        items = yield from self._records_at(zone, self._fqdn(name, zone), str(rtype))
        if not items:
            raise RecordNotFound(record_id, driver=self)
        return self._to_record(zone, items)

    def _check_free(self, zone: Zone, fqdn: str, rtype: RecordType, ignore: str | None = None
                    ) -> Op[None]:
        """Refuse a set whose name and type exist, or a CNAME beside other data."""
        here = yield from self._records_at(zone, fqdn)
        types = {str(i.get("type")).upper() for i in here} - ({ignore} if ignore else set())
        if str(rtype) in types:
            raise RecordAlreadyExists(f"{self._relative(fqdn, zone) or '@'}:{rtype}",
                                      driver=self)
        if types and (rtype is RecordType.CNAME or "CNAME" in types):
            raise InvalidInput(
                f"a CNAME may not share its name with other records: {fqdn!r} has "
                f"{', '.join(sorted(types))}", driver=self,
            )

    def _post_all(self, zone: Zone, payloads: Sequence[dict[str, Any]], made: list[str],
                  what: str) -> Op[list[dict[str, Any]]]:
        items: list[dict[str, Any]] = []
        for payload in payloads:
            reply = yield from self._call("POST", self._records_path(zone), body=payload,
                                          what=what)
            made.append(str(reply["result"]["id"]))
            items.append(reply["result"])
        return items

    def _undo_create(self, zone: Zone, fqdn: str, rtype: RecordType, values: Sequence[str],
                     made: list[str]) -> Callable[[BaseException], Op[None]]:
        """Compensation for a failed create: delete the records made, and any record of
        this name, type and value whose creation outcome was unknown."""

        def undo(_: BaseException) -> Op[None]:
            failure: OvercastError | None = None
            gone: set[str] = set()
            for record_id in made:
                try:
                    yield from self._delete_one(zone, record_id)
                except OvercastError as exc:
                    failure = failure or exc
                gone.add(record_id)
            wanted = {canonical(str(rtype), v) for v in values}
            left = yield from self._records_at(zone, fqdn, str(rtype))
            for item in left:
                if str(item["id"]) not in gone and canonical(str(rtype),
                                                             self._value(item)) in wanted:
                    try:
                        yield from self._delete_one(zone, str(item["id"]))
                    except OvercastError as exc:
                        failure = failure or exc
            if failure is not None:
                raise failure

        return undo

    def _delete_one(self, zone: Zone, record_id: str) -> Op[None]:
        with contextlib.suppress(RecordNotFound):  # already gone
            yield from self._call("DELETE", f"{self._records_path(zone)}/{record_id}",
                                  missing=RecordNotFound, what=record_id)

    def _create_set(self, zone: Zone, fqdn: str, rtype: RecordType, values: Sequence[str],
                    ttl: int | None) -> Op[list[dict[str, Any]]]:
        payloads = [self._payload(rtype, fqdn, v, ttl) for v in values]
        made: list[str] = []
        what = f"{self._relative(fqdn, zone) or '@'}:{rtype}"
        items: list[dict[str, Any]] = yield Guarded(
            self._post_all(zone, payloads, made, what),
            self._undo_create(zone, fqdn, rtype, values, made),
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
        """Create a record set: one Cloudflare record per value, all or none."""
        rel, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        ttl = self._record_ttl(ttl, extra)
        fqdn = self._fqdn(rel, zone)
        yield from self._check_free(zone, fqdn, rtype)
        items = yield from self._create_set(zone, fqdn, rtype, values, ttl)
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
        to a new value, then missing values are added and leftovers deleted. A new
        name or type creates the new set (all or none), then deletes the old one.
        """
        zone = record.zone
        rel, rtype, values = self._validate_record(
            record.name if name is None else name, record.type if type is None else type,
            record.values if data is None else data, extra=extra, zone=zone,
        )
        ttl = self._record_ttl(ttl, extra)
        old_fqdn = self._fqdn(record.name, zone)
        old_type = str(record.type).upper()
        fqdn = self._fqdn(rel, zone)
        current = yield from self._records_at(zone, old_fqdn, old_type)
        if not current:
            raise RecordNotFound(record.id, driver=self)
        keep_ttl = current[0].get("ttl")
        want_ttl = ttl if ttl is not None else (None if keep_ttl in (None, _AUTO_TTL)
                                                else int(keep_ttl))
        if (fqdn, str(rtype)) != (old_fqdn, old_type):
            yield from self._check_free(zone, fqdn, rtype,
                                        ignore=old_type if fqdn == old_fqdn else None)
            yield from self._create_set(zone, fqdn, rtype, values, want_ttl)
            for item in current:
                yield from self._delete_one(zone, str(item["id"]))
        else:
            yield from self._sync_set(zone, fqdn, rtype, values, want_ttl, current)
        items = yield from self._records_at(zone, fqdn, str(rtype))
        return self._to_record(zone, items)

    def _sync_set(self, zone: Zone, fqdn: str, rtype: RecordType, values: Sequence[str],
                  ttl: int | None, current: Sequence[dict[str, Any]]) -> Op[None]:
        kind = str(rtype)
        have = {canonical(kind, self._value(item)): item for item in current}
        want = {canonical(kind, v): v for v in values}
        stale = [item for key, item in have.items() if key not in want]
        fresh = [v for key, v in want.items() if key not in have]
        api_ttl = _AUTO_TTL if ttl is None else ttl
        path = self._records_path(zone)
        for item, value in zip(stale, fresh, strict=False):  # change in place
            yield from self._call("PATCH", f"{path}/{item['id']}",
                                  body=self._payload(rtype, fqdn, value, ttl),
                                  missing=RecordNotFound, what=str(item["id"]))
        for value in fresh[len(stale):]:
            yield from self._call("POST", path, body=self._payload(rtype, fqdn, value, ttl),
                                  what=f"{self._relative(fqdn, zone) or '@'}:{rtype}")
        for item in stale[len(fresh):]:
            yield from self._delete_one(zone, str(item["id"]))
        for key, item in have.items():
            if key in want and item.get("ttl") != api_ttl:
                yield from self._call("PATCH", f"{path}/{item['id']}", body={"ttl": api_ttl},
                                      missing=RecordNotFound, what=str(item["id"]))

    @operation
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete every Cloudflare record of the set; RecordNotFound if none is left."""
        current = yield from self._records_at(record.zone, self._fqdn(record.name, record.zone),
                                              str(record.type).upper())
        if not current:
            raise RecordNotFound(record.id, driver=self)
        for item in current:
            yield from self._delete_one(record.zone, str(item["id"]))
        return True
