"""Rackspace Cloud DNS (API v1.0), authenticated by Rackspace Identity v2.0.

Facts of the two APIs this driver is built on:

* **Identity**: ``POST {auth_url}/tokens`` with
  ``{"auth": {"RAX-KSKEY:apiKeyCredentials": {"username", "apiKey"}}}`` answers
  ``access.token`` (``id``, ``expires`` in ISO 8601, ``tenant.id``) and a
  service catalog whose ``cloudDNS`` service gives the DNS endpoint
  (``https://dns.api.rackspacecloud.com/v1.0/<tenant>``). Wrong credentials
  answer 401. Requests to DNS carry the token in ``X-Auth-Token``; an expired
  or revoked token answers 401.
* **Asynchronous writes**: every POST, PUT and DELETE answers ``202`` with a
  job (``jobId``, ``status``, ``callbackUrl``). ``GET callbackUrl?showDetails=true``
  reports ``INITIALIZED``/``RUNNING``, then ``COMPLETED`` with the result under
  ``response``, or ``ERROR`` with a fault under ``error``.
* **Paging**: ``limit`` (at most 100) and ``offset``; a page gives
  ``totalEntries`` and ``links`` with ``rel: "next"`` while more remain.
* **Records** are one value each, with ids such as ``"A-1234"``: ``name`` is the
  fully-qualified name without the trailing dot, ``data`` the value (host
  names without the dot; SRV ``"weight port target"``), ``priority`` for MX and
  SRV, ``ttl`` at least 300 seconds. Supported types: A, AAAA, CNAME, MX, NS,
  SRV, TXT (no CAA). New domains get the NS records of Rackspace's name
  servers. A domain's name cannot change; only its TTL, e-mail and comment.
* **Faults**: ``{"code", "message", "details"}`` (or ``validationErrors``):
  400 badRequest, 401 unauthorized, 404 itemNotFound, 409 itemAlreadyExists,
  413 overLimit (rate or absolute limits), 500 dnsFault, 503.

The token is fetched by :meth:`RackspaceDNSDriver._auth`, itself an operation
that every other operation yields from: it reuses a cached token (one per
driver, shared by threads and tasks) until shortly before it expires, and a
401 on a request drops it and retries that request once with a fresh one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Final

from overcast.auth.tokens import AccessToken, TokenCache
from overcast.dns import names
from overcast.dns.base import DNSDriver, Record, RecordData, RecordType, Zone, ZoneType
from overcast.dns.records import canonical
from overcast.errors import (
    InvalidCredentials,
    InvalidInput,
    OperationTimeout,
    OutcomeUnknown,
    OvercastError,
    ProviderError,
    RateLimited,
    RecordAlreadyExists,
    RecordNotFound,
    ZoneAlreadyExists,
    ZoneNotFound,
)
from overcast.runtime.effects import Call, Emit, Guarded, Iter, Op, Request, Response, Sleep
from overcast.runtime.operation import iterator, operation
from overcast.runtime.ops import collect
from overcast.runtime.policy import parse_retry_after
from overcast.runtime.redact import Secret, redact_text

__all__ = ["RackspaceDNSDriver"]

DEFAULT_AUTH_URL: Final = "https://identity.api.rackspacecloud.com/v2.0"
#: The largest page the API serves.
MAX_PAGE_SIZE: Final = 100
#: The lowest TTL Rackspace accepts, in seconds.
MIN_TTL: Final = 300
#: A cached token is renewed this long before it expires (or at 90% of a short life).
REFRESH_MARGIN: Final = 60.0
#: Longest pause between two polls of a job.
MAX_POLL_INTERVAL: Final = 5.0

_HOST_TYPES: Final = frozenset({"CNAME", "NS", "PTR"})
_JSON: Final = "application/json"


def _set_id(name: str, rtype: str) -> str:
    return f"{name or '@'}:{rtype}"


def _parse_set_id(record_id: str) -> tuple[str, str] | None:
    name, sep, rtype = str(record_id).rpartition(":")
    if not sep or not rtype:
        return None
    return ("" if name == "@" else name), rtype.upper()


def _absolute(host: str) -> str:
    return host if host.endswith(".") else f"{host}."


def _host(value: str) -> str:
    return value[:-1] if value.endswith(".") and value != "." else value


def _expiry(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 ``expires`` value."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.timestamp()


class RackspaceDNSDriver(DNSDriver):
    """DNS zones and record sets in Rackspace Cloud DNS.

    ``key`` is the Rackspace user name and ``secret`` its API key. ``region``
    picks the catalog endpoint when the catalog lists several; ``endpoint``
    overrides the catalog's DNS URL altogether. ``page_size`` (1 to 100) is how
    many items each listing request asks for; ``poll_interval`` is the first
    pause between polls of an asynchronous job and ``job_timeout`` the longest
    wait for one.
    """

    name: ClassVar[str] = "rackspace"
    record_types: ClassVar[tuple[RecordType, ...]] = (
        RecordType.A,
        RecordType.AAAA,
        RecordType.CNAME,
        RecordType.MX,
        RecordType.NS,
        RecordType.SRV,
        RecordType.TXT,
    )

    def __init__(
        self,
        key: str,
        secret: str | Secret,
        *,
        region: str = "us",
        auth_url: str = DEFAULT_AUTH_URL,
        endpoint: str | None = None,
        page_size: int = 100,
        poll_interval: float = 1.0,
        job_timeout: float = 600.0,
        **options: Any,
    ) -> None:
        if not key or not secret:
            raise InvalidInput("a Rackspace user name and API key are required", driver=self)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not (
            1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise InvalidInput(
                f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}: {page_size!r}",
                driver=self,
            )
        if not poll_interval > 0 or not job_timeout > 0:
            raise InvalidInput("poll_interval and job_timeout must be positive", driver=self)
        self.username = str(key)
        self._api_key = Secret(secret)
        self.region = region
        self.auth_url = auth_url.rstrip("/")
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.page_size = page_size
        self.poll_interval = float(poll_interval)
        self.job_timeout = float(job_timeout)
        self._tokens = TokenCache(margin=REFRESH_MARGIN)
        super().__init__(**options)

    def _repr_fields(self) -> dict[str, object]:
        return {"username": self.username, "region": self.region}

    # -- authentication -----------------------------------------------------------------

    def _catalog_endpoint(self, catalog: Sequence[Mapping[str, Any]]) -> str | None:
        for service in catalog:
            if service.get("name") != "cloudDNS" and service.get("type") != "rax:dns":
                continue
            endpoints = list(service.get("endpoints") or [])
            regional = [e for e in endpoints
                        if str(e.get("region", "")).lower() == self.region.lower()]
            for entry in regional or endpoints:
                if entry.get("publicURL"):
                    return str(entry["publicURL"]).rstrip("/")
        return None

    def _auth(self) -> Op[AccessToken]:
        """The token to use: the cached one, else a new one from Identity.

        The cache lock is held only to read and write the cache, never across
        the request, so concurrent operations may each fetch a token when none
        is cached; the last one stored wins and all are valid.
        """
        now: float = yield Call(time.time)
        cached = self._tokens.current(now)
        if cached is not None:
            return cached
        credentials = {"username": self.username, "apiKey": self._api_key.reveal()}
        body = json.dumps({"auth": {"RAX-KSKEY:apiKeyCredentials": credentials}}).encode()
        resp: Response = yield Request(
            "POST",
            f"{self.auth_url}/tokens",
            headers={"Content-Type": _JSON, "Accept": _JSON},
            body=body,
            idempotent=True,  # asking for a token twice is harmless
        )
        if resp.status in (401, 403):
            raise InvalidCredentials(
                f"Rackspace Identity refused the credentials of {self.username!r}: "
                f"{self._fault_text(resp)}",
                driver=self,
            )
        if not resp.ok:
            raise ProviderError(
                f"Rackspace Identity: {self._fault_text(resp)}", status=resp.status, driver=self
            )
        try:
            access = resp.json()["access"]
            token = access["token"]
            value, expires = str(token["id"]), _expiry(str(token["expires"]))
            tenant = str((token.get("tenant") or {}).get("id", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(f"Rackspace Identity sent an unusable token: {exc!r}",
                                status=resp.status, driver=self) from None
        endpoint = self.endpoint or self._catalog_endpoint(access.get("serviceCatalog") or [])
        if endpoint is None:
            raise ProviderError("the service catalog lists no cloudDNS endpoint", driver=self)
        now = yield Call(time.time)
        return self._tokens.store(
            Secret(value), expires - now, now, {"tenant": tenant, "endpoint": endpoint}
        )

    # -- HTTP helpers -----------------------------------------------------------------

    def _api(
        self,
        method: str,
        target: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
    ) -> Op[Response]:
        """Send one DNS API request (``target``: a path, or a URL such as a job's
        ``callbackUrl``); on 401 renew the token and send it once more."""
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            token = yield from self._auth()
            url = target if "://" in target else f"{token.extra['endpoint']}{target}"
            headers = {"X-Auth-Token": token.token.reveal(), "Accept": _JSON}
            if data is not None:
                headers["Content-Type"] = _JSON
            resp: Response = yield Request(method, url, headers=headers, params=params, body=data)
            if resp.status != 401:
                return resp
            self._tokens.discard(token)
            if attempt == 2:
                break
        raise InvalidCredentials(
            f"Rackspace Cloud DNS refused a fresh token: {self._fault_text(resp)}", driver=self
        )

    @staticmethod
    def _fault_body(payload: Any) -> dict[str, Any]:
        """The fault object of an error body (flat, or wrapped in its type's name)."""
        if not isinstance(payload, dict):
            return {}
        if "code" not in payload and len(payload) == 1:
            inner = next(iter(payload.values()))
            if isinstance(inner, dict):
                return {"type": next(iter(payload)), **inner}
        return payload

    def _fault_text(self, resp: Response) -> str:
        try:
            fault = self._fault_body(resp.json())
        except ValueError:
            return redact_text(resp.text[:300], self._secrets())
        return self._describe(fault) or redact_text(resp.text[:300], self._secrets())

    def _describe(self, fault: Mapping[str, Any]) -> str:
        parts = [str(fault.get("message") or ""), str(fault.get("details") or "")]
        messages = (fault.get("validationErrors") or {}).get("messages") or []
        parts += [str(m) for m in messages]
        return redact_text("; ".join(p for p in parts if p), self._secrets())

    def _fault(
        self,
        status: int,
        fault: Mapping[str, Any],
        *,
        where: str,
        zone: str | None = None,
        record: str | None = None,
        domain: str | None = None,
        retry_after: float | None = None,
    ) -> OvercastError:
        """The overcast error for a fault (from a response or a failed job)."""
        text = self._describe(fault)
        lowered = text.lower()
        conflict = status == 409 or (
            status == 400 and ("already exists" in lowered or "duplicate" in lowered)
        )
        if status in (401, 403):
            return InvalidCredentials(f"Rackspace Cloud DNS: {text}", driver=self)
        if status == 404:
            if record is not None:
                return RecordNotFound(record, driver=self)
            if zone is not None:
                return ZoneNotFound(zone, driver=self)
        if conflict and record is not None:
            return RecordAlreadyExists(record, driver=self)
        if conflict and domain is not None:
            return ZoneAlreadyExists(domain, driver=self)
        if status == 413:
            return RateLimited(f"Rackspace over limit: {text}", retry_after=retry_after,
                               driver=self)
        return ProviderError(
            f"{where}: {text}", status=status, code=fault.get("type") or None, driver=self
        )

    def _error(
        self,
        resp: Response,
        *,
        zone: str | None = None,
        record: str | None = None,
        domain: str | None = None,
    ) -> OvercastError:
        try:
            fault = self._fault_body(resp.json())
        except ValueError:
            fault = {"message": resp.text[:300]}
        return self._fault(
            resp.status,
            fault,
            where=f"{resp.method} {resp.url}",
            zone=zone,
            record=record,
            domain=domain,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        )

    def _job(
        self,
        resp: Response,
        *,
        zone: str | None = None,
        record: str | None = None,
        domain: str | None = None,
    ) -> Op[dict[str, Any]]:
        """Wait for the asynchronous job a 202 answer started; its ``response``."""
        if resp.status != 202:
            raise self._error(resp, zone=zone, record=record, domain=domain)
        job = resp.json()
        delay, waited = self.poll_interval, 0.0
        while job.get("status") not in ("COMPLETED", "ERROR"):
            if waited >= self.job_timeout:
                raise OperationTimeout(
                    f"Rackspace job {job.get('jobId')} still {job.get('status')} after "
                    f"{waited:.0f}s",
                    driver=self,
                )
            yield Sleep(delay)
            waited += delay
            delay = min(delay * 1.5, MAX_POLL_INTERVAL)
            poll = yield from self._api(
                "GET", str(job["callbackUrl"]), params=[("showDetails", "true")]
            )
            if not poll.ok:
                raise self._error(poll)
            job = poll.json()
        if job["status"] == "ERROR":
            fault = self._fault_body(job.get("error") or {})
            status = int(fault.get("code") or 500)
            raise self._fault(status, fault, where=f"job {job.get('jobId')}", zone=zone,
                              record=record, domain=domain)
        result: dict[str, Any] = job.get("response") or {}
        return result

    def _pages(self, path: str, key: str, *, zone: str | None = None) -> Iter[dict[str, Any]]:
        """Every item of a collection, page by page, following ``next`` links."""
        target: str | None = path
        params: list[tuple[str, str]] = [("limit", str(self.page_size)), ("offset", "0")]
        while target is not None:
            resp = yield from self._api("GET", target, params=params)
            if not resp.ok:
                raise self._error(resp, zone=zone)
            page = resp.json()
            items = page.get(key) or []
            for item in items:
                yield Emit(item)
            target = next(
                (str(link["href"]) for link in page.get("links") or []
                 if link.get("rel") == "next" and link.get("href")),
                None,
            )
            params = []  # a next link carries its own limit and offset
            if not items:
                return

    # -- zones -------------------------------------------------------------------------

    def _to_zone(self, data: Mapping[str, Any]) -> Zone:
        extra = {k: data[k] for k in ("emailAddress", "comment", "accountId", "created",
                                      "updated") if k in data}
        if "nameservers" in data:
            extra["nameservers"] = [n.get("name") for n in data["nameservers"]]
        ttl = data.get("ttl")
        return Zone(
            id=str(data["id"]),
            domain=_absolute(str(data["name"])),
            type=ZoneType.MASTER,
            ttl=int(ttl) if ttl is not None else None,
            driver=self,
            extra=extra,
        )

    @staticmethod
    def _zone_path(zone_id: str) -> str | None:
        text = str(zone_id)
        return f"/domains/{text}" if text.isdigit() else None

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Iterate over the account's domains, page by page."""
        items = self._pages("/domains", "domains")
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = items.throw(error) if error is not None else items.send(value)
            except StopIteration:
                return
            value, error = None, None
            if isinstance(effect, Emit):
                yield Emit(self._to_zone(effect.item))
                continue
            try:
                value = yield effect
            except Exception as exc:
                error = exc

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """Get a domain by id; :class:`ZoneNotFound` if absent."""
        path = self._zone_path(zone_id)
        if path is None:
            raise ZoneNotFound(str(zone_id), driver=self)
        resp = yield from self._api(
            "GET", path, params=[("showRecords", "false"), ("showSubdomains", "false")]
        )
        if not resp.ok:
            raise self._error(resp, zone=str(zone_id))
        return self._to_zone(resp.json())

    def _check_ttl(self, ttl: int | None) -> int | None:
        if ttl is not None and ttl < MIN_TTL:
            raise InvalidInput(f"Rackspace TTLs are at least {MIN_TTL} seconds, not {ttl}",
                               driver=self)
        return ttl

    @staticmethod
    def _email(extra: Mapping[str, Any]) -> str | None:
        value = extra.get("email", extra.get("emailAddress"))
        return None if value is None else str(value)

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Create a domain (an asynchronous job, waited for).

        ``extra["email"]`` is the SOA contact (default ``hostmaster@<domain>``),
        ``extra["comment"]`` a note. Rackspace hosts primary zones only.
        """
        bare = str(domain).rstrip(".")
        if not bare or bare == "@":
            raise InvalidInput("a domain name is required", driver=self)
        names.validate_name(bare, wildcard=False, what="domain", driver=self)
        if str(type).lower() != ZoneType.MASTER:
            raise InvalidInput("Rackspace Cloud DNS hosts master zones only", driver=self)
        extra = dict(extra or {})
        ttl = self._check_ttl(self._record_ttl(ttl, None))
        body: dict[str, Any] = {"name": bare, "emailAddress": self._email(extra)
                                or f"hostmaster@{bare}"}
        if ttl is not None:
            body["ttl"] = ttl
        if "comment" in extra:
            body["comment"] = str(extra["comment"])
        try:
            resp = yield from self._api("POST", "/domains", body={"domains": [body]})
        except OutcomeUnknown:
            found = yield from self._find_zone(bare)
            if found is not None:
                return found
            raise
        result = yield from self._job(resp, domain=bare)
        return self._to_zone(result["domains"][0])

    def _find_zone(self, bare: str) -> Op[Zone | None]:
        zones = yield from collect(self.iterate_zones.op())
        for zone in zones:
            if zone.domain.rstrip(".").lower() == bare.lower():
                return zone
        return None

    @operation
    def update_zone(
        self,
        zone: Zone,
        domain: str | None,
        type: ZoneType | str | None = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Change a domain's TTL, e-mail (``extra["email"]``) or comment.

        Rackspace cannot rename a domain or make it secondary.
        """
        path = self._zone_path(zone.id)
        if path is None:
            raise ZoneNotFound(zone.id, driver=self)
        if domain is not None and domain.rstrip(".").lower() != zone.domain.rstrip(".").lower():
            raise InvalidInput("Rackspace Cloud DNS cannot rename a domain", driver=self)
        if type is not None and str(type).lower() != ZoneType.MASTER:
            raise InvalidInput("Rackspace Cloud DNS hosts master zones only", driver=self)
        extra = dict(extra or {})
        body: dict[str, Any] = {}
        checked = self._check_ttl(self._record_ttl(ttl, None))
        if checked is not None:
            body["ttl"] = checked
        email = self._email(extra)
        if email is not None:
            body["emailAddress"] = email
        if "comment" in extra:
            body["comment"] = str(extra["comment"])
        if body:
            resp = yield from self._api("PUT", path, body=body)
            yield from self._job(resp, zone=zone.id)
        updated: Zone = yield from self.get_zone.op(zone.id)
        return updated

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a domain and its records; :class:`ZoneNotFound` if absent."""
        path = self._zone_path(zone.id)
        if path is None:
            raise ZoneNotFound(zone.id, driver=self)
        resp = yield from self._api("DELETE", path)
        yield from self._job(resp, zone=zone.id)
        return True

    # -- records: conversions -----------------------------------------------------------

    @staticmethod
    def _value(item: Mapping[str, Any]) -> str:
        rtype = str(item.get("type", "")).upper()
        data = str(item.get("data") or "")
        if rtype in _HOST_TYPES:
            return _absolute(data)
        if rtype == "MX":
            return f"{int(item.get('priority') or 0)} {_absolute(data)}"
        if rtype == "SRV":
            fields = data.split()
            if fields:
                fields[-1] = _absolute(fields[-1])
            return " ".join([str(int(item.get("priority") or 0)), *fields])
        return data

    @staticmethod
    def _relative(fqdn: str, zone: Zone) -> str:
        origin = zone.domain.rstrip(".").lower()
        name = fqdn.rstrip(".")
        if name.lower() == origin:
            return ""
        if name.lower().endswith("." + origin):
            return name[: -len(origin) - 1]
        return name + "."

    @staticmethod
    def _fqdn(name: str, zone: Zone) -> str:
        origin = zone.domain.rstrip(".")
        if name.endswith("."):
            return name[:-1]
        return f"{name}.{origin}" if name else origin

    def _to_record(self, zone: Zone, items: Sequence[Mapping[str, Any]]) -> Record:
        first = items[0]
        name = self._relative(str(first["name"]), zone)
        rtype = str(first["type"]).upper()
        values = [self._value(item) for item in items]
        ttl = first.get("ttl")
        return Record(
            id=_set_id(name, rtype),
            name=name,
            type=rtype,
            data=values[0],
            zone=zone,
            driver=self,
            ttl=int(ttl) if ttl is not None else None,
            extra={"record_ids": [str(item["id"]) for item in items]},
            values=values,
        )

    def _group(self, zone: Zone, items: Iterable[Mapping[str, Any]]) -> list[Record]:
        sets: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for item in items:
            key = (str(item["name"]).rstrip(".").lower(), str(item["type"]).upper())
            sets.setdefault(key, []).append(item)
        return [self._to_record(zone, group) for group in sets.values()]

    @staticmethod
    def _body(fqdn: str, rtype: str, value: str, ttl: int | None) -> dict[str, Any]:
        """One record as the API takes it."""
        body: dict[str, Any] = {"name": fqdn, "type": rtype}
        if rtype in _HOST_TYPES:
            body["data"] = _host(value.strip())
        elif rtype == "MX":
            priority, host = value.split()
            body.update(priority=int(priority), data=_host(host))
        elif rtype == "SRV":
            priority, weight, port, host = value.split()
            body.update(priority=int(priority), data=f"{int(weight)} {int(port)} {_host(host)}")
        else:
            body["data"] = value
        if ttl is not None:
            body["ttl"] = ttl
        return body

    # -- records: operations -------------------------------------------------------------

    def _records_path(self, zone_id: str) -> str:
        path = self._zone_path(zone_id)
        if path is None:
            raise ZoneNotFound(str(zone_id), driver=self)
        return f"{path}/records"

    def _all_items(self, zone_id: str) -> Op[list[dict[str, Any]]]:
        items: list[dict[str, Any]] = yield from collect(
            self._pages(self._records_path(zone_id), "records", zone=zone_id)
        )
        return items

    def _set_items(self, zone: Zone, name: str, rtype: str | None = None
                   ) -> Op[list[dict[str, Any]]]:
        """The records at ``name`` (of type ``rtype`` if given)."""
        fqdn = self._fqdn(name, zone).lower()
        items = yield from self._all_items(zone.id)
        return [
            item for item in items
            if str(item["name"]).rstrip(".").lower() == fqdn
            and (rtype is None or str(item["type"]).upper() == rtype)
        ]

    @iterator
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """Iterate over a domain's record sets (all pages are read, then grouped)."""
        items = yield from self._all_items(zone.id)
        for record in self._group(zone, items):
            yield Emit(record)

    @operation
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """Get a record set by its id (``"name:TYPE"``, ``"@:TYPE"`` at the apex)."""
        parsed = _parse_set_id(record_id)
        zone = yield from self.get_zone.op(zone_id)
        if parsed is None:
            raise RecordNotFound(str(record_id), driver=self)
        name, rtype = parsed
        items = yield from self._set_items(zone, name, rtype)
        if not items:
            raise RecordNotFound(str(record_id), driver=self)
        return self._to_record(zone, items)

    def _check_free(self, name: str, rtype: str, existing: Sequence[Mapping[str, Any]]) -> None:
        types = {str(item["type"]).upper() for item in existing}
        if rtype in types:
            raise RecordAlreadyExists(_set_id(name, rtype), driver=self)
        if rtype == "CNAME" and types:
            raise InvalidInput(
                f"a CNAME may not stand beside other data: {name or '@'} has "
                f"{', '.join(sorted(types))}",
                driver=self,
            )
        if "CNAME" in types:
            raise InvalidInput(
                f"{name or '@'} has a CNAME; no other data may stand beside it", driver=self
            )

    def _delete_ids(self, zone: Zone, ids: Sequence[str], record: str | None = None
                    ) -> Op[None]:
        if not ids:
            return
        resp = yield from self._api(
            "DELETE", self._records_path(zone.id), params=[("id", i) for i in ids]
        )
        yield from self._job(resp, zone=zone.id, record=record)

    def _create_items(self, zone: Zone, name: str, rtype: str,
                      bodies: Sequence[dict[str, Any]], known: set[str]
                      ) -> Op[list[dict[str, Any]]]:
        """Add the records in one job; if it fails, remove whatever it made."""
        set_id = _set_id(name, rtype)

        def make() -> Op[list[dict[str, Any]]]:
            resp = yield from self._api(
                "POST", self._records_path(zone.id), body={"records": list(bodies)}
            )
            result = yield from self._job(resp, zone=zone.id, record=set_id)
            made: list[dict[str, Any]] = result.get("records") or []
            return made

        def undo(exc: BaseException) -> Op[None]:
            items = yield from self._set_items(zone, name, rtype)
            stray = [str(i["id"]) for i in items if str(i["id"]) not in known]
            yield from self._delete_ids(zone, stray)

        created: list[dict[str, Any]] = yield Guarded(make(), undo)
        return created

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
        """Create a record set: every value in one asynchronous job.

        :class:`RecordAlreadyExists` if the set exists; :class:`InvalidInput` for
        a CNAME beside other data or a TTL under 300. If the job fails or its
        outcome cannot be learned, whatever it made is deleted again.
        """
        name, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        ttl = self._check_ttl(self._record_ttl(ttl, extra))
        fqdn = self._fqdn(name, zone)
        bodies = [self._body(fqdn, str(rtype), value, ttl) for value in values]
        name = self._relative(fqdn, zone)
        existing = yield from self._set_items(zone, name)
        self._check_free(name, str(rtype), existing)
        created = yield from self._create_items(
            zone, name, str(rtype), bodies, {str(i["id"]) for i in existing}
        )
        return self._to_record(zone, created)

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
        """Replace a record set's name, type, values or TTL.

        Same name and type: a diff against the set as it is now (changed values
        rewritten in place in one job, new ones added in one job, dropped ones
        deleted in one job). A new name or type: the new set is made first, then
        the old one deleted.
        """
        zone = record.zone
        new_name = record.name if name is None else name
        new_type = record.type if type is None else type
        new_data = list(record.values) if data is None else data
        new_name, rtype, values = self._validate_record(
            new_name, new_type, new_data, extra=extra, zone=zone
        )
        new_ttl = self._check_ttl(self._record_ttl(ttl, extra))
        if new_ttl is None:
            new_ttl = record.ttl
        fqdn = self._fqdn(new_name, zone)
        new_name = self._relative(fqdn, zone)
        rtype_text = str(rtype)
        bodies = [self._body(fqdn, rtype_text, value, new_ttl) for value in values]
        current = yield from self._set_items(zone, record.name, str(record.type).upper())
        if not current:
            raise RecordNotFound(record.id, driver=self)
        if (new_name.lower(), rtype_text) != (record.name.lower(), str(record.type).upper()):
            existing = yield from self._set_items(zone, new_name)
            self._check_free(new_name, rtype_text, existing)
            created = yield from self._create_items(
                zone, new_name, rtype_text, bodies, {str(i["id"]) for i in existing}
            )
            yield from self._delete_ids(zone, [str(i["id"]) for i in current], record.id)
            return self._to_record(zone, created)
        by_value = {canonical(rtype_text, self._value(item)): item for item in current}
        keep: list[tuple[dict[str, Any], dict[str, Any]]] = []
        add: list[dict[str, Any]] = []
        for value, body in zip(values, bodies, strict=True):
            key = canonical(rtype_text, value)
            if key in by_value:
                keep.append((body, by_value.pop(key)))
            else:
                add.append(body)
        drop = list(by_value.values())
        while add and drop:  # rewrite dropped values in place first
            keep.append((add.pop(0), drop.pop(0)))
        changes = []
        result: list[dict[str, Any]] = []
        for body, item in keep:
            merged = {**item, **{k: v for k, v in body.items() if k != "type"}}
            if self._value(merged) == self._value(item) and merged.get("ttl") == item.get("ttl"):
                result.append(item)
                continue
            change = {k: v for k, v in body.items() if k != "type"}
            changes.append({"id": item["id"], **change})
            result.append({**merged, "id": item["id"]})
        if changes:
            resp = yield from self._api(
                "PUT", self._records_path(zone.id), body={"records": changes}
            )
            yield from self._job(resp, zone=zone.id, record=record.id)
        if add:
            made = yield from self._create_items(
                zone, new_name, rtype_text, add, {str(i["id"]) for i in current}
            )
            result.extend(made)
        yield from self._delete_ids(zone, [str(i["id"]) for i in drop], record.id)
        return self._to_record(zone, result)

    @operation
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete every value of a record set (one job); :class:`RecordNotFound` if
        none is left."""
        zone = record.zone
        items = yield from self._set_items(zone, record.name, str(record.type).upper())
        if not items:
            raise RecordNotFound(record.id, driver=self)
        yield from self._delete_ids(zone, [str(i["id"]) for i in items], record.id)
        return True
