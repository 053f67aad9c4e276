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
that every request to the DNS API yields from (in
:meth:`RackspaceDNSDriver._transmit`): it reuses a cached token (one per
driver, shared by threads and tasks) until shortly before it expires, and a
401 on a request drops it and retries that request once with a fresh one.

Record sets are made of the per-value records as :mod:`overcast.dns.per_value`
describes (``record.extra["record_ids"]`` holds the ids); each write of a set
(its new values, its changed values, its deleted values) is one job, and a
zone-file import of new sets is one job per :data:`MAX_RECORDS_PER_JOB` values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from typing import ClassVar
from typing import Final
from typing import Unpack

from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import TokenCache
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
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import Outcome
from overcast.runtime.api import SendOptions
from overcast.runtime.api import When
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import operation
from overcast.runtime.ops import poll
from overcast.runtime.options import check_endpoint
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text

__all__ = ["RackspaceDNSDriver"]

DEFAULT_AUTH_URL: Final = "https://identity.api.rackspacecloud.com/v2.0"
#: The largest page the API serves.
MAX_PAGE_SIZE: Final = 100
#: The most records one job of an import creates (a domain holds 500 by default).
MAX_RECORDS_PER_JOB: Final = 500
#: The lowest TTL Rackspace accepts, in seconds.
MIN_TTL: Final = 300
#: A cached token is renewed this long before it expires (or at 90% of a short life).
REFRESH_MARGIN: Final = 60.0
#: Longest pause between two polls of a job.
MAX_POLL_INTERVAL: Final = 5.0

#: The states in which a job has ended.
_DONE: Final = frozenset({"COMPLETED", "ERROR"})


def _expiry(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 ``expires`` value."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.timestamp()


def _value(item: Mapping[str, Any]) -> str:
    """The overcast value of one Rackspace record (an SRV's ``data`` is "weight port
    target", its priority apart)."""
    data = str(item.get("data") or "")
    fields = {**item, "target": data}
    if str(item.get("type", "")).upper() == "SRV":
        fields.update(zip(("weight", "port", "target"), data.split(), strict=False))
    return per_value.value_text(str(item.get("type", "")), fields)


class RackspaceDNSDriver(PerValueDNSDriver):
    """DNS zones and record sets in Rackspace Cloud DNS.

    ``key`` is the Rackspace user name and ``secret`` its API key. ``region``
    picks the catalog endpoint when the catalog lists several; ``endpoint``
    overrides the catalog's DNS URL altogether. ``page_size`` (1 to 100) is how
    many items each listing request asks for; ``poll_interval`` is the first
    pause between polls of an asynchronous job and ``job_timeout`` the longest
    wait for one.
    """

    name: ClassVar[str] = "rackspace"
    label: ClassVar[str] = "Rackspace Cloud DNS"
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(AlreadyExists, status=409),
        When(AlreadyExists, status=400, says=("already exists", "duplicate")),
        When(RateLimited, status=413),
    )
    #: Apache Libcloud's Rackspace records: Rackspace's ids, relative names
    #: (``None`` for the apex), data as stored (hosts without the dot).
    #: ``get_record`` finds a value by listing the domain's records.
    value_by_id: ClassVar[bool] = False
    record_style: ClassVar[RecordStyle] = RecordStyle(ids="native", apex=None,
                                                      dotted_hosts=False)
    record_types: ClassVar[tuple[RecordType, ...]] = tuple(
        map(RecordType, ("A", "AAAA", "CNAME", "MX", "NS", "SRV", "TXT")))
    ids_key: ClassVar[str] = "record_ids"
    page_sizes: ClassVar[tuple[int, int | None]] = (1, MAX_PAGE_SIZE)
    #: One job creates many records, all or none.
    values_per_post: ClassVar[int] = MAX_RECORDS_PER_JOB
    #: A domain without its records (which the record listing reads page by page).
    zone_params: ClassVar[tuple[tuple[str, str], ...]] = (
        ("showRecords", "false"), ("showSubdomains", "false"))
    #: A listing starts at the collection's path; each page links the next.
    first_page: ClassVar[Cursor | None] = None

    def __init__(self, key: str, secret: str | Secret, *, region: str = "us",
                 auth_url: str = DEFAULT_AUTH_URL, endpoint: str | None = None,
                 page_size: int = 100, poll_interval: float = 1.0, job_timeout: float = 600.0,
                 **options: Any) -> None:
        super().__init__(endpoint=endpoint or None, page_size=page_size, **options)
        if not key or not secret:
            raise InvalidInput("a Rackspace user name and API key are required", driver=self)
        if not poll_interval > 0 or not job_timeout > 0:
            raise InvalidInput("poll_interval and job_timeout must be positive", driver=self)
        self.username = str(key)
        self._api_key = Secret(secret)
        self.region = region
        self.auth_url = check_endpoint(auth_url, option="auth_url", driver=self)
        self.poll_interval = float(poll_interval)
        self.job_timeout = float(job_timeout)
        self._tokens = TokenCache(margin=REFRESH_MARGIN)

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
        data = yield from self._json(
            "POST", f"{self.auth_url}/tokens",
            json={"auth": {"RAX-KSKEY:apiKeyCredentials": credentials}},
            idempotent=True,  # asking for a token twice is harmless
        )
        try:
            access = data["access"]
            token = access["token"]
            value, expires = str(token["id"]), _expiry(str(token["expires"]))
            tenant = str((token.get("tenant") or {}).get("id", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(f"Rackspace Identity sent an unusable token: {exc!r}",
                                driver=self) from None
        endpoint = self.endpoint or self._catalog_endpoint(access.get("serviceCatalog") or [])
        if endpoint is None:
            raise ProviderError("the service catalog lists no cloudDNS endpoint", driver=self)
        now = yield Call(time.time)
        return self._tokens.store(
            Secret(value), expires - now, now, {"tenant": tenant, "endpoint": endpoint}
        )

    def _transmit(self, request: Request) -> Op[Response]:
        """Send a DNS API request (a path below the token's endpoint, or a URL such
        as a job's ``callbackUrl``) with the token; on a 401 renew the token and
        send it once more. Identity's own requests go out as they are."""
        if request.url == f"{self.auth_url}/tokens":
            return (yield from super()._transmit(request))
        resp: Response | None = None
        for _attempt in range(2):
            token = yield from self._auth()
            url = request.url if "://" in request.url else f"{token.extra['endpoint']}{request.url}"
            resp = yield replace(request.with_headers({"X-Auth-Token": token.token.reveal()}),
                                 url=url)
            if resp.status != 401:
                break
            self._tokens.discard(token)
        assert resp is not None
        return resp

    # -- answers ------------------------------------------------------------------------

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

    def _describe(self, fault: Mapping[str, Any]) -> str:
        parts = [str(fault.get("message") or ""), str(fault.get("details") or "")]
        messages = (fault.get("validationErrors") or {}).get("messages") or []
        parts += [str(m) for m in messages]
        return redact_text("; ".join(p for p in parts if p), self._secrets())

    def _fault(self, resp: Response) -> Fault:
        """A fault's message, details and validation messages; its type is the code."""
        try:
            fault = self._fault_body(json.loads(resp.body))
        except ValueError:
            fault = {}
        return Fault(resp.status, fault.get("type") or None,
                     self._describe(fault) or resp.text[:300].strip())

    def _is_throttled(self, response: Response) -> bool:
        """Never: a 413 (overLimit) is also what an absolute limit, such as a
        domain's record count, answers, which no wait lifts; it is raised as
        RateLimited and not sent again."""
        return False

    def _job(self, method: str, path: str, **options: Unpack[SendOptions]
             ) -> Op[dict[str, Any]]:
        """Start an asynchronous job and wait for it; its ``response``.

        The job is polled at once, then after ``poll_interval``, growing by half
        each time up to :data:`MAX_POLL_INTERVAL`. A job that ends in ``ERROR``
        raises what its fault maps to, as an answer with that status would.
        """
        outcome = Outcome(options.get("what", ""), options.get("missing"), options.get("exists"))
        job = yield from self._json(method, path, **options)
        if not isinstance(job, dict) or not job.get("callbackUrl"):
            raise ProviderError(f"{method} {path}: the answer is not a job: {job!r}"[:300],
                                driver=self)
        callback = str(job["callbackUrl"])

        def look() -> Op[dict[str, Any]]:
            return dict((yield from self._json("GET", callback,
                                               params=[("showDetails", "true")], what=callback)))

        if job.get("status") not in _DONE:
            job = yield from poll(
                look, lambda job: job.get("status") in _DONE, interval=self.poll_interval,
                growth=1.5, max_interval=MAX_POLL_INTERVAL, timeout=self.job_timeout,
                timed_out=lambda job: OperationTimeout(
                    f"Rackspace job {job.get('jobId')} still {job.get('status')} after "
                    f"{self.job_timeout:.0f}s", driver=self))
        if job["status"] == "ERROR":
            fault = self._fault_body(job.get("error") or {})
            raise self.errors.error(
                Fault(int(fault.get("code") or 500), fault.get("type") or None,
                      self._describe(fault)),
                outcome, label=self.label, method=method, url=f"{path} (job {job.get('jobId')})",
                headers={}, driver=self,
            )
        result: dict[str, Any] = job.get("response") or {}
        return result

    def _page(self, path: str, key: str, cursor: Cursor | None,
              params: Sequence[tuple[str, str]] = (), what: str = "") -> Op[Page[Item]]:
        """One page of a collection: the first from ``path``, the others from the
        ``next`` link of the page before (which carries its own limit and offset)."""
        if cursor is None:
            target = path
            params = [*params, ("limit", str(self.page_size)), ("offset", "0")]
        else:
            target, params = str(cursor), []
        data = yield from self._json("GET", target, params=params, what=what,
                                     missing=ZoneNotFound)
        data = data or {}
        following = next((str(link["href"]) for link in data.get("links") or []
                          if link.get("rel") == "next" and link.get("href")), None)
        return Page.link(data.get(key) or [], following)

    # -- zones -------------------------------------------------------------------------

    def _to_zone(self, data: Mapping[str, Any]) -> Zone:
        extra = {k: data[k] for k in ("emailAddress", "comment", "accountId", "created",
                                      "updated") if k in data}
        if "nameservers" in data:
            extra["nameservers"] = [n.get("name") for n in data["nameservers"]]
        ttl = data.get("ttl")
        return Zone(str(data["id"]), per_value.absolute_host(str(data["name"])), ZoneType.MASTER,
                    int(ttl) if ttl is not None else None, driver=self, extra=extra)

    def _zone_path(self, zone_id: str) -> str:
        return f"/domains/{per_value.numbered_zone(zone_id, driver=self)}"

    def _zone_page(self, cursor: Cursor | None, domain: str | None) -> Op[Page[Item]]:
        """A page of the account's domains (those whose name holds ``domain``, if given)."""
        return (yield from self._page("/domains", "domains", cursor,
                                      [("name", domain)] if domain else ()))

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
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Create a domain (an asynchronous job, waited for).

        ``extra["email"]`` is the SOA contact (default ``hostmaster@<domain>``),
        ``extra["comment"]`` a note. Rackspace hosts primary zones only. A create
        whose answer is lost is looked up by name before it is sent again.
        """
        bare = self._zone_domain(domain)
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

        def send() -> Op[Zone]:
            result = yield from self._job("POST", "/domains", json={"domains": [body]},
                                          what=bare, exists=ZoneAlreadyExists)
            return self._to_zone(result["domains"][0])

        return (yield from self._create_zone_once(send, bare))

    @operation
    def update_zone(self, zone: Zone, domain: str | None,
                    type: ZoneType | str | None = ZoneType.MASTER, ttl: int | None = None,
                    extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Change a domain's TTL, e-mail (``extra["email"]``) or comment.

        Rackspace cannot rename a domain or make it secondary.
        """
        path = self._zone_path(zone.id)
        if domain is not None and not names.same_name(domain, zone.domain):
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
            yield from self._job("PUT", path, json=body, what=zone.id, missing=ZoneNotFound)
        updated: Zone = yield from self.get_zone.op(zone.id)
        return updated

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a domain and its records; :class:`ZoneNotFound` if absent."""
        yield from self._job("DELETE", self._zone_path(zone.id), what=zone.id,
                             missing=ZoneNotFound)
        return True

    # -- the hooks of PerValueDNSDriver -------------------------------------------------

    def _value_page(self, zone: Zone, cursor: Cursor | None, name: str | None,
                    rtype: str | None) -> Op[Page[Item]]:
        # The API filters records by nothing: every page is read and filtered here.
        return (yield from self._page(self._records_path(zone), "records", cursor, what=zone.id))

    def _entry(self, zone: Zone, item: Item) -> Entry:
        ttl = item.get("ttl")
        return Entry(names.relative_name(per_value.absolute_host(str(item["name"])), zone.domain),
                     str(item["type"]).upper(), _value(item),
                     int(ttl) if ttl is not None else None, str(item["id"]), item)

    def _payload(self, zone: Zone, name: str, rtype: RecordType, value: str, ttl: int | None
                 ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": per_value.full_name(name, zone), "type": str(rtype)}
        parts = per_value.value_fields(rtype, value)
        if rtype is RecordType.SRV:  # the priority apart, SRV data is "weight port target"
            target = per_value.wire_host(parts["target"])
            body.update(priority=parts["priority"],
                        data=f"{parts['weight']} {parts['port']} {target}")
        elif "target" in parts:  # MX (with its priority) and host names
            body["data"] = per_value.wire_host(parts.pop("target"))
            body.update(parts)
        else:
            body["data"] = value
        if self._check_ttl(ttl) is not None:
            body["ttl"] = ttl
        return body

    def _post_values(self, zone: Zone, payloads: Sequence[dict[str, Any]], what: str,
                     made: list[Entry]) -> Op[None]:
        """Every value in one job (which makes all of them or none)."""
        result = yield from self._job("POST", self._records_path(zone),
                                      json={"records": list(payloads)}, what=what,
                                      missing=ZoneNotFound, exists=RecordAlreadyExists)
        made.extend(self._entries(zone, result.get("records") or []))

    def _change_values(self, zone: Zone, changes: Sequence[tuple[Entry, dict[str, Any]]]
                       ) -> Op[None]:
        """Every change in one job (a record's type cannot change)."""
        records = [{"id": entry.id, **{k: v for k, v in payload.items() if k != "type"}}
                   for entry, payload in changes]
        first = changes[0][0]
        yield from self._job("PUT", self._records_path(zone), json={"records": records},
                             what=per_value.set_id(first.name, first.type), missing=RecordNotFound,
                             exists=RecordAlreadyExists)

    def _delete_values(self, zone: Zone, entries: Sequence[Entry]) -> Op[None]:
        """Every value in one job."""
        if not entries:
            return
        first = entries[0]
        yield from self._job("DELETE", self._records_path(zone),
                             params=[("id", str(entry.id)) for entry in entries],
                             what=per_value.set_id(first.name, first.type), missing=RecordNotFound)
