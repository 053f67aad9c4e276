"""A stateful fixture server for the Linode API v4 Domains endpoints.

Linode runs no server we could start here, so this one is written from the
published reference (techdocs.akamai.com/linode-api, "Domains"). What it keeps
of the provider's behaviour, and the driver must live with:

* Auth, paging, ``X-Filter`` and errors as every Linode fixture
  (:mod:`servers.linode_api`).
* Domain create needs ``domain`` and ``type``; a master needs ``soa_email``, a
  slave ``master_ips``. A domain is unique (400 on ``domain``).
* One record per value, numeric ids. Host names are stored without a trailing
  dot; SRV records are named ``_service._protocol`` from their ``service`` and
  ``protocol`` (the request's ``name`` is unused) and a relative SRV target is
  completed with the domain; CAA flags do not exist (only ``tag`` and value).
  Priorities are 0 to 255. TTLs are rounded up to the valid values (0 is the
  default). A CNAME must be alone at its name (``Record conflict - CNAMES must
  be unique``). Identical records are not refused (Linode keeps duplicates).
* The NS records of Linode's name servers are implicit: none is created.
* A domain holds at most ``record_limit`` records (12,000 at Linode).
* 404 for unknown ids.

``make_target`` starts one server per test process, lazily, on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from contextlib import AbstractContextManager
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import Final

import pytest

from overcast.dns.drivers.linode import LinodeDNSDriver
from overcast.runtime.policy import Hooks
from servers.dns_target import DNSTarget
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.linode_api import TOKEN
from servers.linode_api import Invalid as _Invalid
from servers.linode_api import error as _error
from servers.linode_api import guarded as guarded_by
from servers.linode_api import page

VALID_TTLS: Final = (300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800,
                     1209600, 2419200)
RECORD_TYPES: Final = frozenset({"A", "AAAA", "NS", "MX", "CNAME", "TXT", "SRV", "PTR", "CAA"})
SRV_PROTOCOLS: Final = frozenset({"tcp", "udp", "xmpp", "tls", "smtp"})
CAA_TAGS: Final = frozenset({"issue", "issuewild", "iodef"})
_HOST = re.compile(r"(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                   r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\Z")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _round_ttl(value: Any) -> int:
    ttl = int(value or 0)
    if ttl <= 0:
        return 0
    return next((v for v in VALID_TTLS if v >= ttl), VALID_TTLS[-1])


def _int(body: dict[str, Any], key: str, high: int, required: bool) -> int:
    value = body.get(key)
    if value is None:
        if required:
            raise _Invalid(f"{key} is required", key)
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise _Invalid(f"Must be an integer from 0 to {high}", key)
    return value


class LinodeFake:
    """The provider's state (domains and their records) and the routes over it."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.api = FakeAPI()
        self.domains: dict[int, dict[str, Any]] = {}
        self.records: dict[int, dict[int, dict[str, Any]]] = {}
        self.record_limit = 12000
        self._ids = itertools.count(1000)
        self._routes()

    # -- helpers ------------------------------------------------------------------

    def _page(self, req: FakeRequest, items: list[dict[str, Any]]) -> FakeResponse:
        return page(req, items)

    def _domain(self, domain_id: str) -> dict[str, Any] | None:
        return self.domains.get(int(domain_id)) if domain_id.isdigit() else None

    def _check_domain_fields(self, body: dict[str, Any], current: dict[str, Any] | None) -> None:
        name = body.get("domain", current["domain"] if current else None)
        if not isinstance(name, str) or not 1 <= len(name) <= 253 or not _HOST.match(name):
            raise _Invalid("Domain is not valid", "domain")
        taken = any(d["domain"].lower() == name.lower() and d is not current
                    for d in self.domains.values())
        if taken:
            raise _Invalid("Domain already exists", "domain")
        kind = body.get("type", current["type"] if current else None)
        if kind not in ("master", "slave"):
            raise _Invalid("Must be one of master, slave", "type")
        if kind == "master" and not body.get("soa_email", current and current["soa_email"]):
            raise _Invalid("soa_email required when type=master", "soa_email")
        if kind == "slave" and not body.get("master_ips", current and current["master_ips"]):
            raise _Invalid("master_ips required when type=slave", "master_ips")

    def _check_record(self, domain: dict[str, Any], body: dict[str, Any],
                      current: dict[str, Any] | None) -> dict[str, Any]:
        """The stored form of a record created (or, with ``current``, updated)
        from ``body``; raises :class:`_Invalid` as the API answers 400."""
        merged = dict(current or {})
        merged.update({k: v for k, v in body.items() if k != "type"})
        rtype = (current or body).get("type")
        if rtype not in RECORD_TYPES:
            raise _Invalid("Must be one of " + ", ".join(sorted(RECORD_TYPES)), "type")
        target = merged.get("target")
        if not isinstance(target, str):
            raise _Invalid("target is required", "target")
        name = str(merged.get("name") or "")
        origin = domain["domain"].lower()
        if name.lower().rstrip(".") == origin:
            name = ""
        elif name.lower().rstrip(".").endswith("." + origin):
            name = name.rstrip(".")[: -len(origin) - 1]
        record: dict[str, Any] = {
            "type": rtype, "name": name, "target": target, "priority": 0, "weight": 0,
            "port": 0, "service": None, "protocol": None, "tag": None,
            "ttl_sec": _round_ttl(merged.get("ttl_sec")),
        }
        if rtype == "A" or rtype == "AAAA":
            try:
                address = ipaddress.ip_address(target)
            except ValueError:
                raise _Invalid("Must be a valid IP address", "target") from None
            if address.version != (4 if rtype == "A" else 6):
                raise _Invalid(f"Must be a valid IPv{4 if rtype == 'A' else 6} address",
                               "target")
        elif rtype in ("CNAME", "NS", "PTR", "MX", "SRV"):
            host = target[:-1] if target.endswith(".") else target
            null_mx = rtype == "MX" and host == "" and name == ""
            if not null_mx and not _HOST.match(host):
                raise _Invalid("Must be a valid domain", "target")
            if rtype == "SRV" and "." not in host:
                host = f"{host}.{domain['domain']}"
            record["target"] = host
        elif rtype == "CAA":
            tag = merged.get("tag")
            if tag not in CAA_TAGS:
                raise _Invalid("Must be one of " + ", ".join(sorted(CAA_TAGS)), "tag")
            record["tag"] = tag
        elif rtype == "TXT" and not 1 <= len(target) <= 65535:
            raise _Invalid("Length must be 1-65535 characters", "target")
        if rtype in ("MX", "SRV"):
            record["priority"] = _int(merged, "priority", 255, required=rtype == "SRV")
        if rtype == "SRV":
            record["weight"] = _int(merged, "weight", 65535, required=True)
            record["port"] = _int(merged, "port", 65535, required=True)
            service, protocol = merged.get("service"), merged.get("protocol")
            if not isinstance(service, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,63}", service):
                raise _Invalid("service is required", "service")
            if protocol not in SRV_PROTOCOLS:
                raise _Invalid("Must be one of " + ", ".join(sorted(SRV_PROTOCOLS)), "protocol")
            record.update(service=service, protocol=protocol, name=f"_{service}._{protocol}")
        elif name and not _HOST.match(name):
            raise _Invalid("Must be a valid hostname", "name")
        return record

    def _cname_conflict(self, domain_id: int, record: dict[str, Any], skip: int | None) -> bool:
        others = [r for r in self.records[domain_id].values()
                  if r["name"] == record["name"] and r["id"] != skip]
        if record["type"] == "CNAME":
            return bool(others)
        return any(r["type"] == "CNAME" for r in others)

    # -- routes --------------------------------------------------------------------

    def _routes(self) -> None:
        api = self.api
        prefix = "/v4/domains"

        guarded = guarded_by(self.token)

        @api.route("GET", prefix)
        @guarded
        def list_domains(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            return self._page(req, sorted(self.domains.values(), key=lambda d: d["id"]))

        @api.route("POST", prefix)
        @guarded
        def create_domain(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            self._check_domain_fields(body, None)
            domain_id = next(self._ids)
            domain = {
                "id": domain_id, "domain": body["domain"], "type": body["type"],
                "status": body.get("status", "active"), "soa_email": body.get("soa_email", ""),
                "description": body.get("description", ""), "group": body.get("group", ""),
                "tags": body.get("tags", []), "master_ips": body.get("master_ips", []),
                "axfr_ips": body.get("axfr_ips", []),
                "ttl_sec": _round_ttl(body.get("ttl_sec")),
                "refresh_sec": _round_ttl(body.get("refresh_sec")),
                "retry_sec": _round_ttl(body.get("retry_sec")),
                "expire_sec": _round_ttl(body.get("expire_sec")),
                "created": _now(), "updated": _now(),
            }
            self.domains[domain_id] = domain
            self.records[domain_id] = {}
            return FakeResponse.json(domain)

        @api.route("GET", prefix + r"/(?P<domain_id>[^/]+)")
        @guarded
        def get_domain(req: FakeRequest, body: dict[str, Any], domain_id: str) -> FakeResponse:
            domain = self._domain(domain_id)
            return FakeResponse.json(domain) if domain else _error(404, "Not found")

        @api.route("PUT", prefix + r"/(?P<domain_id>[^/]+)")
        @guarded
        def update_domain(req: FakeRequest, body: dict[str, Any], domain_id: str
                          ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _error(404, "Not found")
            self._check_domain_fields(body, domain)
            for key, value in body.items():
                if key in domain and key not in ("id", "created", "updated"):
                    domain[key] = _round_ttl(value) if key.endswith("_sec") else value
            domain["updated"] = _now()
            return FakeResponse.json(domain)

        @api.route("DELETE", prefix + r"/(?P<domain_id>[^/]+)")
        @guarded
        def delete_domain(req: FakeRequest, body: dict[str, Any], domain_id: str
                          ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _error(404, "Not found")
            del self.domains[domain["id"]]
            del self.records[domain["id"]]
            return FakeResponse.json({})

        records = prefix + r"/(?P<domain_id>[^/]+)/records"

        @api.route("GET", records)
        @guarded
        def list_records(req: FakeRequest, body: dict[str, Any], domain_id: str
                         ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _error(404, "Not found")
            return self._page(req, sorted(self.records[domain["id"]].values(),
                                          key=lambda r: r["id"]))

        @api.route("POST", records)
        @guarded
        def create_record(req: FakeRequest, body: dict[str, Any], domain_id: str
                          ) -> FakeResponse:
            domain = self._domain(domain_id)
            if domain is None:
                return _error(404, "Not found")
            if len(self.records[domain["id"]]) >= self.record_limit:
                return _error(400, f"A domain may have at most {self.record_limit} records")
            record = self._check_record(domain, body, None)
            record["id"] = next(self._ids)
            if self._cname_conflict(domain["id"], record, None):
                return _error(400, "Record conflict - CNAMES must be unique", "name")
            record["created"] = record["updated"] = _now()
            self.records[domain["id"]][record["id"]] = record
            return FakeResponse.json(record)

        one = records + r"/(?P<record_id>[^/]+)"

        def find(domain_id: str, record_id: str) -> tuple[dict[str, Any] | None, Any]:
            domain = self._domain(domain_id)
            if domain is None or not record_id.isdigit():
                return domain, None
            return domain, self.records[domain["id"]].get(int(record_id))

        @api.route("GET", one)
        @guarded
        def get_record(req: FakeRequest, body: dict[str, Any], domain_id: str,
                       record_id: str) -> FakeResponse:
            _, record = find(domain_id, record_id)
            return FakeResponse.json(record) if record else _error(404, "Not found")

        @api.route("PUT", one)
        @guarded
        def update_record(req: FakeRequest, body: dict[str, Any], domain_id: str,
                          record_id: str) -> FakeResponse:
            domain, record = find(domain_id, record_id)
            if domain is None or record is None:
                return _error(404, "Not found")
            updated = self._check_record(domain, body, record)
            updated["id"] = record["id"]
            if self._cname_conflict(domain["id"], updated, record["id"]):
                return _error(400, "Record conflict - CNAMES must be unique", "name")
            record.update(updated, updated=_now())
            return FakeResponse.json(record)

        @api.route("DELETE", one)
        @guarded
        def delete_record(req: FakeRequest, body: dict[str, Any], domain_id: str,
                          record_id: str) -> FakeResponse:
            domain, record = find(domain_id, record_id)
            if domain is None or record is None:
                return _error(404, "Not found")
            del self.records[domain["id"]][record["id"]]
            return FakeResponse.json({})


# -- one server per test process ------------------------------------------------------

_running: tuple[LinodeFake, str] | None = None


def serve(request: pytest.FixtureRequest) -> tuple[LinodeFake, str]:
    """The process's fixture server and its API base URL (``.../v4``), started once."""
    global _running
    if _running is None:
        fake = LinodeFake()
        serving: AbstractContextManager[str] = fake.api.serving()
        base = serving.__enter__()

        def stop() -> None:
            serving.__exit__(None, None, None)

        request.config.add_cleanup(stop)
        _running = (fake, f"{base}/v4")
    return _running


def make_driver(request: pytest.FixtureRequest, requests: list[object] | None = None,
                **kwargs: Any) -> LinodeDNSDriver:
    """A driver pointed at the fixture server (``kwargs`` override the defaults)."""
    _, endpoint = serve(request)
    options: dict[str, Any] = {"endpoint": endpoint, "page_size": 25}
    if requests is not None:
        options["hooks"] = Hooks(on_request=[requests.append])
    options.update(kwargs)
    key = options.pop("key", TOKEN)
    return LinodeDNSDriver(key, **options)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """The Linode driver against the fixture server, for the DNS contract."""
    sent: list[object] = []
    return DNSTarget(driver=make_driver(request, sent), requests=sent, resolver=None)
