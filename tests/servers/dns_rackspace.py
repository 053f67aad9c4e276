"""A stateful fixture server for Rackspace Identity v2.0 and Cloud DNS v1.0.

Rackspace runs no server we could start here, so this one is written from the
published reference (docs.rackspace.com, "Cloud DNS API v1.0" and "Identity
v2.0"). What it keeps of the provider's behaviour, and the driver must live with:

* ``POST /v2.0/tokens`` with ``RAX-KSKEY:apiKeyCredentials`` answers a token
  (``id``, ``expires``, ``tenant``) and a catalog whose ``cloudDNS`` endpoint is
  this server's ``/v1.0/<tenant>``; wrong credentials answer 401. Tokens live
  ``token_lifetime`` seconds; DNS requests without a live token of the tenant
  in the URL answer 401.
* Every POST, PUT and DELETE answers ``202`` with a job (``jobId``,
  ``callbackUrl``, ``status``: ``INITIALIZED``). Polling the callback answers
  ``RUNNING`` once, then ``COMPLETED`` with ``response`` (``showDetails=true``)
  or ``ERROR`` with ``error``. The work is done (or refused as a whole) when the
  job is accepted.
* Collections page by ``limit`` (1 to 100, default 100) and ``offset``, with
  ``totalEntries`` and ``links`` (``next``/``previous``).
* Records are one value each, ids like ``A-1001``, names fully qualified
  without the trailing dot; MX/SRV carry ``priority``, SRV data is
  ``"weight port target"``; TTLs are at least 300 (default: the domain's).
  Types: A, AAAA, CNAME, MX, NS, SRV, TXT. A new domain gets NS records for
  ``dns1.stabletransit.com`` and ``dns2.stabletransit.com``. Duplicate
  domains and records fail their job with 409; a CNAME beside other data
  fails with 400. A domain holds at most ``record_limit`` records (413).
* Faults are ``{"code", "message", "details"}`` (validation:
  ``validationErrors.messages``).

Test knobs (not provider behaviour): ``fail_next_job`` makes the next job end
in ERROR with that fault, ``status_failures`` makes that many status polls
answer 503, ``revoke_tokens()`` invalidates every token issued so far.

``make_target`` starts one server per test process, lazily, on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import Final
from urllib.parse import urlencode

import pytest

from overcast.dns.drivers.rackspace import RackspaceDNSDriver
from overcast.runtime.policy import Hooks
from servers.dns_target import DNSTarget
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

USERNAME: Final = "overcast-fixture"
API_KEY: Final = "rackspace-fixture-apikey-0123456789"
TENANT: Final = "654321"
TYPES: Final = frozenset({"A", "AAAA", "CNAME", "MX", "NS", "SRV", "TXT"})
NAMESERVERS: Final = ("dns1.stabletransit.com", "dns2.stabletransit.com")
_HOST = re.compile(r"([A-Za-z0-9_*]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                   r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\Z")


def _stamp(moment: float | None = None) -> str:
    when = datetime.fromtimestamp(time.time() if moment is None else moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _fault(status: int, message: str, details: str = "") -> FakeResponse:
    return FakeResponse.json({"code": status, "message": message, "details": details}, status)


def _invalid(*messages: str) -> FakeResponse:
    return FakeResponse.json(
        {"code": 400, "message": "Validation error",
         "validationErrors": {"messages": list(messages)}},
        400,
    )


class _Refused(Exception):
    """A job's work was refused: the job ends in ERROR with this fault."""

    def __init__(self, code: int, message: str, details: str) -> None:
        super().__init__(details)
        self.fault = {"code": code, "message": message, "details": details}


class RackspaceFake:
    """Identity and Cloud DNS state (tokens, domains, records, jobs) and routes."""

    def __init__(self) -> None:
        self.api = FakeAPI()
        self.base_url = ""
        self.tokens: dict[str, float] = {}
        self.token_lifetime = 86400.0
        self.token_requests = 0
        self.domains: dict[int, dict[str, Any]] = {}
        self.records: dict[int, dict[str, dict[str, Any]]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.record_limit = 500
        self.fail_next_job: dict[str, Any] | None = None
        self.status_failures = 0
        self._ids = itertools.count(2000)
        self._routes()

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far (as a password change would)."""
        with self.api.lock:
            self.tokens.clear()

    # -- helpers -----------------------------------------------------------------------

    def _dns_url(self) -> str:
        return f"{self.base_url}/v1.0/{TENANT}"

    def _authorized(self, req: FakeRequest, tenant: str) -> bool:
        expires = self.tokens.get(req.header("X-Auth-Token") or "")
        return expires is not None and time.time() < expires and tenant == TENANT

    def _page(self, req: FakeRequest, key: str, items: list[dict[str, Any]], path: str
              ) -> FakeResponse:
        try:
            limit = int(req.arg("limit") or 100)
            offset = int(req.arg("offset") or 0)
        except ValueError:
            return _invalid("limit and offset must be integers")
        if not 1 <= limit <= 100 or offset < 0:
            return _invalid("limit must be 1 to 100 and offset not negative")
        extra = {k: v[0] for k, v in req.query.items() if k not in ("limit", "offset")}

        def link(rel: str, at: int) -> dict[str, str]:
            query = urlencode({**extra, "limit": limit, "offset": at})
            return {"content": "", "href": f"{self._dns_url()}{path}?{query}", "rel": rel}

        links = []
        if offset > 0:
            links.append(link("previous", max(0, offset - limit)))
        if offset + limit < len(items):
            links.append(link("next", offset + limit))
        return FakeResponse.json({key: items[offset : offset + limit],
                                  "totalEntries": len(items), "links": links})

    def _job(self, req: FakeRequest, work: Callable[[], dict[str, Any] | None]
             ) -> FakeResponse:
        """Accept a job: do ``work`` now (all or nothing) and answer 202."""
        job_id = str(uuid.uuid4())
        job: dict[str, Any] = {"jobId": job_id, "polls": 0,
                               "callbackUrl": f"{self._dns_url()}/status/{job_id}",
                               "requestUrl": f"{self.base_url}{req.path}"}
        try:
            if self.fail_next_job is not None:
                fault, self.fail_next_job = self.fail_next_job, None
                raise _Refused(fault.get("code", 500), fault.get("message", "dnsFault"),
                               fault.get("details", ""))
            job["response"] = work()
        except _Refused as refused:
            job["error"] = {"failedItems": {}, **refused.fault}
        self.jobs[job_id] = job
        return FakeResponse.json(
            {"jobId": job_id, "callbackUrl": job["callbackUrl"], "status": "INITIALIZED",
             "requestUrl": job["requestUrl"]},
            202,
        )

    def _domain(self, domain_id: str) -> dict[str, Any] | None:
        return self.domains.get(int(domain_id)) if domain_id.isdigit() else None

    def _new_record(self, domain: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """A record checked as the synchronous validation does (raises ValueError)."""
        rtype = str(body.get("type", "")).upper()
        if rtype not in TYPES:
            raise ValueError(f"Invalid record type {body.get('type')!r}")
        return self._checked(domain, rtype, body, None)

    def _checked(self, domain: dict[str, Any], rtype: str, body: dict[str, Any],
                 current: dict[str, Any] | None) -> dict[str, Any]:
        merged = {**(current or {}), **body}
        name = str(merged.get("name") or "").rstrip(".")
        origin = domain["name"].lower()
        if name.lower() != origin and not name.lower().endswith("." + origin):
            raise ValueError(f"Record name {name!r} is not in domain {domain['name']}")
        if current is not None and name.lower() != current["name"].lower():
            raise ValueError("Record name cannot be changed")
        data = merged.get("data")
        if not isinstance(data, str) or not data:
            raise ValueError("data is required")
        ttl = int(merged.get("ttl") or domain["ttl"])
        if ttl < 300:
            raise ValueError("Minimum TTL is 300 seconds")
        record = {"name": name, "type": rtype, "data": data, "ttl": ttl}
        if rtype in ("A", "AAAA"):
            version: int
            try:
                version = ipaddress.ip_address(data).version
            except ValueError:
                version = 0
            if version != (4 if rtype == "A" else 6):
                raise ValueError(f"Invalid {rtype} data {data!r}")
        host = data
        if rtype == "SRV":
            fields = data.split()
            if len(fields) != 3 or not all(f.isdigit() for f in fields[:2]):
                raise ValueError("SRV data must be 'weight port target'")
            host = fields[2]
        if rtype in ("CNAME", "NS", "MX", "SRV") and not _HOST.match(host):
            raise ValueError(f"Invalid host name {host!r}")
        if rtype in ("MX", "SRV"):
            priority = merged.get("priority")
            if not isinstance(priority, int) or not 0 <= priority <= 65535:
                raise ValueError("priority is required for MX and SRV records (0-65535)")
            record["priority"] = priority
        return record

    def _conflicts(self, domain_id: int, batch: list[dict[str, Any]]) -> None:
        """Refuse duplicates and CNAMEs beside other data (raises _Refused)."""
        existing = list(self.records[domain_id].values())
        seen = existing[:]
        for record in batch:
            same_name = [r for r in seen if r["name"].lower() == record["name"].lower()]
            key = (record["type"], record["data"].lower(), record.get("priority"))
            if any((r["type"], r["data"].lower(), r.get("priority")) == key for r in same_name):
                raise _Refused(409, "Conflict", "Record already exists")
            types = {r["type"] for r in same_name}
            if types and (record["type"] == "CNAME" or "CNAME" in types):
                raise _Refused(400, "Bad Request",
                               "A CNAME record cannot coexist with other records")
            seen.append(record)

    def _store(self, domain: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        now = _stamp()
        record = {**record, "id": f"{record['type']}-{next(self._ids)}",
                  "created": now, "updated": now}
        self.records[domain["id"]][record["id"]] = record
        return record

    # -- routes ----------------------------------------------------------------------

    def _routes(self) -> None:
        api = self.api

        @api.route("POST", r"/v2\.0/tokens")
        def tokens(req: FakeRequest) -> FakeResponse:
            self.token_requests += 1
            try:
                creds = req.json()["auth"]["RAX-KSKEY:apiKeyCredentials"]
                username, key = creds["username"], creds["apiKey"]
            except (ValueError, KeyError, TypeError):
                return FakeResponse.json(
                    {"badRequest": {"code": 400, "message": "Invalid json request body"}}, 400)
            if (username, key) != (USERNAME, API_KEY):
                return FakeResponse.json(
                    {"unauthorized": {"code": 401,
                                      "message": "Username or api key is invalid."}}, 401)
            token = uuid.uuid4().hex
            expires = time.time() + self.token_lifetime
            self.tokens[token] = expires
            return FakeResponse.json({"access": {
                "token": {"id": token, "expires": _stamp(expires),
                          "tenant": {"id": TENANT, "name": TENANT},
                          "RAX-AUTH:authenticatedBy": ["APIKEY"]},
                "serviceCatalog": [
                    {"name": "cloudServersOpenStack", "type": "compute", "endpoints": [
                        {"region": "DFW", "tenantId": TENANT,
                         "publicURL": f"{self.base_url}/v2/{TENANT}"}]},
                    {"name": "cloudDNS", "type": "rax:dns", "endpoints": [
                        {"tenantId": TENANT, "publicURL": self._dns_url()}]},
                ],
                "user": {"id": "10042", "name": username, "roles": []},
            }})

        def dns(method: str, pattern: str
                ) -> Callable[[Callable[..., FakeResponse]], Callable[..., FakeResponse]]:
            def register(handler: Callable[..., FakeResponse]) -> Callable[..., FakeResponse]:
                def run(req: FakeRequest, tenant: str, **kw: str) -> FakeResponse:
                    if not self._authorized(req, tenant):
                        return _fault(401, "Unauthorized", "Authentication required")
                    try:
                        body = req.json() if req.body else {}
                    except ValueError:
                        return _invalid("Invalid JSON")
                    response: FakeResponse = handler(req, body, **kw)
                    return response
                api.route(method, r"/v1\.0/(?P<tenant>[^/]+)" + pattern)(run)
                return handler
            return register

        @dns("GET", r"/status/(?P<job_id>[^/]+)")
        def status(req: FakeRequest, body: dict[str, Any], job_id: str) -> FakeResponse:
            job = self.jobs.get(job_id)
            if job is None:
                return _fault(404, "Not Found", "Job not found")
            if self.status_failures > 0:
                self.status_failures -= 1
                return _fault(503, "Service Unavailable", "Try again later")
            job["polls"] += 1
            answer = {k: job[k] for k in ("jobId", "callbackUrl", "requestUrl")}
            if job["polls"] == 1:
                return FakeResponse.json({**answer, "status": "RUNNING"})
            if "error" in job:
                return FakeResponse.json({**answer, "status": "ERROR", "error": job["error"]})
            answer["status"] = "COMPLETED"
            if req.arg("showDetails") == "true" and job["response"] is not None:
                answer["response"] = job["response"]
            return FakeResponse.json(answer)

        def summary(domain: dict[str, Any]) -> dict[str, Any]:
            keys = ("id", "name", "accountId", "emailAddress", "comment", "created", "updated")
            return {k: domain[k] for k in keys if k in domain}

        @dns("GET", r"/domains")
        def list_domains(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            wanted = (req.arg("name") or "").lower()
            items = [summary(d) for _, d in sorted(self.domains.items())
                     if wanted in d["name"].lower()]
            return self._page(req, "domains", items, "/domains")

        @dns("POST", r"/domains")
        def create_domains(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            wanted = body.get("domains")
            if not isinstance(wanted, list) or not wanted:
                return _invalid("domains is required")
            for item in wanted:
                name = str(item.get("name") or "")
                if not _HOST.match(name) or "." not in name:
                    return _invalid(f"Invalid domain name {name!r}")
                if not item.get("emailAddress"):
                    return _invalid("emailAddress is required")
                if int(item.get("ttl", 3600)) < 300:
                    return _invalid("Minimum TTL is 300 seconds")

            def work() -> dict[str, Any]:
                taken = {d["name"].lower() for d in self.domains.values()}
                if any(str(i["name"]).lower() in taken for i in wanted):
                    raise _Refused(409, "Conflict", "Domain already exists")
                made = []
                for item in wanted:
                    domain_id = next(self._ids)
                    now = _stamp()
                    domain = {"id": domain_id, "name": str(item["name"]), "accountId": TENANT,
                              "emailAddress": item["emailAddress"],
                              "ttl": int(item.get("ttl", 3600)), "created": now,
                              "updated": now,
                              "nameservers": [{"name": n} for n in NAMESERVERS]}
                    if "comment" in item:
                        domain["comment"] = item["comment"]
                    self.domains[domain_id] = domain
                    self.records[domain_id] = {}
                    for server in NAMESERVERS:
                        self._store(domain, {"name": domain["name"], "type": "NS",
                                             "data": server, "ttl": domain["ttl"]})
                    made.append(dict(domain))
                return {"domains": made}

            return self._job(req, work)

        one = r"/domains/(?P<domain_id>[^/]+)"

        @dns("GET", one)
        def get_domain(req: FakeRequest, body: dict[str, Any], domain_id: str) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _fault(404, "Not Found", "Object not Found.")
            return FakeResponse.json(domain)

        @dns("PUT", one)
        def update_domain(req: FakeRequest, body: dict[str, Any], domain_id: str
                          ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _fault(404, "Not Found", "Object not Found.")
            if "name" in body and str(body["name"]).lower() != domain["name"].lower():
                return _invalid("The domain name cannot be changed")
            if "ttl" in body and int(body["ttl"]) < 300:
                return _invalid("Minimum TTL is 300 seconds")

            def work() -> None:
                for key in ("ttl", "emailAddress", "comment"):
                    if key in body:
                        domain[key] = body[key]
                domain["updated"] = _stamp()

            return self._job(req, work)

        @dns("DELETE", one)
        def delete_domain(req: FakeRequest, body: dict[str, Any], domain_id: str
                          ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _fault(404, "Not Found", "Object not Found.")

            def work() -> None:
                del self.domains[domain["id"]]
                del self.records[domain["id"]]

            return self._job(req, work)

        records = one + r"/records"

        @dns("GET", records)
        def list_records(req: FakeRequest, body: dict[str, Any], domain_id: str
                         ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _fault(404, "Not Found", "Object not Found.")
            items = list(self.records[domain["id"]].values())
            return self._page(req, "records", items, f"/domains/{domain['id']}/records")

        @dns("POST", records)
        def add_records(req: FakeRequest, body: dict[str, Any], domain_id: str
                        ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _fault(404, "Not Found", "Object not Found.")
            wanted = body.get("records")
            if not isinstance(wanted, list) or not wanted:
                return _invalid("records is required")
            try:
                batch = [self._new_record(domain, item) for item in wanted]
            except ValueError as exc:
                return _invalid(str(exc))
            if len(self.records[domain["id"]]) + len(batch) > self.record_limit:
                return _fault(413, "Over Limit",
                              f"Domain may hold at most {self.record_limit} records")

            def work() -> dict[str, Any]:
                self._conflicts(domain["id"], batch)
                return {"records": [self._store(domain, r) for r in batch]}

            return self._job(req, work)

        @dns("PUT", records)
        def modify_records(req: FakeRequest, body: dict[str, Any], domain_id: str
                           ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _fault(404, "Not Found", "Object not Found.")
            wanted = body.get("records")
            if not isinstance(wanted, list) or not wanted:
                return _invalid("records is required")
            stored = self.records[domain["id"]]
            changes = []
            for item in wanted:
                current = stored.get(str(item.get("id")))
                if current is None:
                    return _fault(404, "Not Found", f"Record {item.get('id')} not found")
                try:
                    changes.append((current, self._checked(domain, current["type"],
                                                           item, current)))
                except ValueError as exc:
                    return _invalid(str(exc))

            def work() -> None:
                others = {rid: r for rid, r in stored.items()
                          if rid not in {c["id"] for c, _ in changes}}
                saved = self.records[domain["id"]]
                self.records[domain["id"]] = others
                try:
                    self._conflicts(domain["id"], [new for _, new in changes])
                finally:
                    self.records[domain["id"]] = saved
                for current, new in changes:
                    current.update(new, updated=_stamp())

            return self._job(req, work)

        @dns("DELETE", records)
        def remove_records(req: FakeRequest, body: dict[str, Any], domain_id: str
                           ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _fault(404, "Not Found", "Object not Found.")
            ids = req.query.get("id") or []
            if not ids:
                return _invalid("id is required")
            stored = self.records[domain["id"]]
            missing = [i for i in ids if i not in stored]
            if missing:
                return _fault(404, "Not Found", f"Record(s) not found: {', '.join(missing)}")

            def work() -> None:
                for record_id in ids:
                    stored.pop(record_id, None)

            return self._job(req, work)


# -- one server per test process -----------------------------------------------------

_running: RackspaceFake | None = None


def serve(request: pytest.FixtureRequest) -> RackspaceFake:
    """The process's fixture server, started once (``.base_url`` is set)."""
    global _running
    if _running is None:
        fake = RackspaceFake()
        serving: AbstractContextManager[str] = fake.api.serving()
        fake.base_url = serving.__enter__()

        def stop() -> None:
            serving.__exit__(None, None, None)

        request.config.add_cleanup(stop)
        _running = fake
    return _running


def make_driver(request: pytest.FixtureRequest, requests: list[object] | None = None,
                **kwargs: Any) -> RackspaceDNSDriver:
    """A driver whose Identity URL is the fixture server (``kwargs`` override)."""
    fake = serve(request)
    options: dict[str, Any] = {"auth_url": f"{fake.base_url}/v2.0", "page_size": 5,
                               "poll_interval": 0.01}
    if requests is not None:
        options["hooks"] = Hooks(on_request=[requests.append])
    options.update(kwargs)
    key = options.pop("key", USERNAME)
    secret = options.pop("secret", API_KEY)
    return RackspaceDNSDriver(key, secret, **options)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """The Rackspace driver against the fixture server, for the DNS contract."""
    sent: list[object] = []
    return DNSTarget(driver=make_driver(request, sent), requests=sent, resolver=None)
