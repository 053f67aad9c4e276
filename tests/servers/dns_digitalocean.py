"""A stateful fixture server for DigitalOcean's Domains API (v2), and the conformance factory.

No DigitalOcean server runs on this machine, so the driver is tested against
this fixture, written from DigitalOcean's API reference (the OpenAPI
specification of "Domains" and "Domain Records", and its introduction on
errors and pagination) and what tools built on the real API (terraform,
dnscontrol) show of its behaviour. What it reproduces:

* **Auth, errors, pagination**: as every DigitalOcean fixture
  (:mod:`servers.digitalocean_api`).
* **Domains.** ``GET /v2/domains``, ``POST /v2/domains {name, ip_address?}``
  (201; a name in use is 422 "... name already exists"), ``GET``/``DELETE
  /v2/domains/{name}`` (404 when unknown, 204 on delete). A new domain gets an
  SOA record and three NS records (``ns1..3.digitalocean.com``, TTL 1800), and
  an ``@`` A record only when ``ip_address`` is given.
* **Records.** ``GET /v2/domains/{name}/records`` (filters ``name``, a fully
  qualified name, and ``type``), ``POST`` (201), ``GET``/``PUT``/``PATCH``/
  ``DELETE .../records/{id}`` (numeric ids, 404 when unknown, 204 on delete).
  One value per record. Fields ``type, name, data, priority, port, ttl,
  weight, flags, tag``; unused ones are ``null``. Names are relative (``@``
  for the apex). Host names in ``data`` (CNAME, MX, NS, SRV) are fully
  qualified when written with a trailing dot and relative to the domain
  otherwise; they are returned without the trailing dot, and as ``@`` when
  they name the domain itself. CAA ``issue``/``issuewild`` data must end with
  a dot and is returned without it. A record written with a TTL gives every
  record of its name and type that TTL, one written without takes its
  RRset's (DigitalOcean keeps an RRset's TTL uniform); the default TTL is
  1800, the minimum 30.
* **Not modelled.** Limits the reference does not state: dnscontrol reports
  that TXT data over about 512 bytes (quoted) and TXT data with a backslash
  are refused or mangled; this fixture stores any TXT data.

Validation messages other than "name already exists" and "Data can't be
blank" are this fixture's wording (marked ``unverified``); statuses and ``id``
values follow the reference.

Tests can make the server fail on purpose with :meth:`DigitalOceanState.inject`.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from overcast.dns.drivers.digitalocean import DigitalOceanDNSDriver
from overcast.runtime.policy import Hooks
from servers.digitalocean_api import PREFIX
from servers.digitalocean_api import TOKEN
from servers.digitalocean_api import DigitalOceanAPI
from servers.digitalocean_api import Faults
from servers.digitalocean_api import error
from servers.digitalocean_api import invalid
from servers.digitalocean_api import not_found
from servers.dns_target import DNSTarget
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

__all__ = ["TOKEN", "DigitalOceanServer", "DigitalOceanState", "error", "make_target", "serve"]

NAME_SERVERS = ("ns1.digitalocean.com", "ns2.digitalocean.com", "ns3.digitalocean.com")
DEFAULT_TTL = 1800
_TYPES = frozenset({"A", "AAAA", "CAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT"})
_HOST_TYPES = frozenset({"CNAME", "MX", "NS", "SRV"})
_CAA_TAGS = frozenset({"issue", "issuewild", "iodef"})
_DOMAIN = re.compile(r"(?=.{1,253}\Z)([a-z0-9_](?:[a-z0-9_-]*[a-z0-9])?\.)+[a-z0-9-]{2,63}\Z")


@dataclass
class DigitalOceanState(Faults):
    """Domains by name, their records by id."""

    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(28448429))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class DigitalOceanServer(DigitalOceanAPI):
    """The routes over one :class:`DigitalOceanState`; checks the token and faults first."""

    def __init__(self) -> None:
        super().__init__()
        self.state = DigitalOceanState()
        self._routes()

    # -- helpers ----------------------------------------------------------------------

    def _host_data(self, domain: str, data: str) -> str:
        """How DigitalOcean stores a host name written in ``data``."""
        if data == "@":
            return data
        full = data[:-1].lower() if data.endswith(".") else f"{data.lower()}.{domain}"
        return "@" if full == domain else full

    @staticmethod
    def _as_written(record: dict[str, Any]) -> str:
        """A stored record's data as a client writes it (host names with their dot)."""
        data = str(record["data"])
        if data == "@":
            return data
        if record["type"] in _HOST_TYPES or (record["type"] == "CAA" and record["tag"] != "iodef"):
            return data + "."
        return data

    def _record(self, domain: str, body: dict[str, Any], old: dict[str, Any] | None
                ) -> dict[str, Any] | FakeResponse:
        """The stored form of a record from a request body (over ``old`` for PATCH)."""
        merged = {**(old or {}), **body}
        rtype = str(merged.get("type") or "").upper()
        if rtype not in _TYPES - {"SOA"}:
            return invalid(f"Type {rtype!r} is not a supported record type")  # unverified
        name = str(merged.get("name") or "")
        if not name:
            return invalid("Name can't be blank")  # unverified wording
        lowered = name.lower().rstrip(".")
        if lowered == domain:
            name = "@"
        elif lowered.endswith("." + domain) and name.endswith("."):
            name = lowered[: -len(domain) - 1]
        data = merged.get("data")
        if not isinstance(data, str) or not data:
            return invalid("Data can't be blank")
        ttl = body.get("ttl")
        if ttl is None:  # keep the record's TTL, else the RRset's, else the default
            same = [r["ttl"] for r in self.state.records[domain].values()
                    if (r["name"], r["type"]) == (name, rtype)]
            ttl = (old or {}).get("ttl") or (same[0] if same else DEFAULT_TTL)
        if _int(ttl) is None or ttl < 30:
            return invalid("TTL must be at least 30 seconds")  # unverified wording
        record: dict[str, Any] = {"id": (old or {}).get("id") or next(self.state.ids),
                                  "type": rtype, "name": name, "data": data, "priority": None,
                                  "port": None, "ttl": ttl, "weight": None, "flags": None,
                                  "tag": None}
        if rtype in ("A", "AAAA"):
            family = ipaddress.IPv4Address if rtype == "A" else ipaddress.IPv6Address
            try:
                record["data"] = str(family(data))
            except ValueError:
                return invalid(f"Data must be a valid {rtype} address")  # unverified wording
        if rtype in _HOST_TYPES:
            record["data"] = self._host_data(domain, data)
        if rtype in ("MX", "SRV"):
            record["priority"] = _int(merged.get("priority"))
            if record["priority"] is None:
                return invalid("Priority can't be blank")  # unverified wording
        if rtype == "SRV":
            record["port"], record["weight"] = _int(merged.get("port")), _int(
                merged.get("weight"))
            if record["port"] is None or record["weight"] is None:
                return invalid("Port and weight can't be blank")  # unverified wording
        if rtype == "CAA":
            record["flags"], record["tag"] = _int(merged.get("flags")), merged.get("tag")
            if record["flags"] is None or record["tag"] not in _CAA_TAGS:
                return invalid("CAA records need flags and a tag of issue, issuewild or "
                               "iodef")  # unverified wording
            if record["tag"] != "iodef":
                if not data.endswith("."):
                    return invalid("Data needs to end with a dot (.)")  # unverified wording
                record["data"] = data[:-1]
        return record

    def _conflict(self, domain: str, record: dict[str, Any]) -> FakeResponse | None:
        others = [r for r in self.state.records[domain].values()
                  if r["name"] == record["name"] and r["id"] != record["id"]]
        if others and (record["type"] == "CNAME" or any(r["type"] == "CNAME" for r in others)):
            return invalid("CNAME records cannot share a name with other records")  # unverified
        return None

    def _store(self, domain: str, record: dict[str, Any], ttl_given: bool) -> None:
        self.state.records[domain][record["id"]] = record
        if ttl_given:  # an RRset keeps one TTL
            for other in self.state.records[domain].values():
                if (other["name"], other["type"]) == (record["name"], record["type"]):
                    other["ttl"] = record["ttl"]

    def _zone_file(self, domain: str) -> str:
        lines = [f"$ORIGIN {domain}.", f"$TTL {DEFAULT_TTL}",
                 f"{domain}. IN SOA ns1.digitalocean.com. hostmaster.{domain}. 1 10800 3600 "
                 f"604800 {DEFAULT_TTL}"]
        for r in self.state.records[domain].values():
            if r["type"] != "SOA":
                owner = f"{domain}." if r["name"] == "@" else f"{r['name']}.{domain}."
                lines.append(f"{owner} {r['ttl']} IN {r['type']} {r['data']}")
        return "\n".join(lines) + "\n"

    def _domain_view(self, domain: str) -> dict[str, Any]:
        return {"name": domain, "ttl": DEFAULT_TTL, "zone_file": self._zone_file(domain)}

    # -- routes ------------------------------------------------------------------------

    def _routes(self) -> None:
        api, state = self, self.state

        @api.route("GET", PREFIX + "/domains")
        def list_domains(req: FakeRequest) -> FakeResponse:
            return self._page(req, "domains", [self._domain_view(d) for d in sorted(
                state.domains)])

        @api.route("POST", PREFIX + "/domains")
        def create_domain(req: FakeRequest) -> FakeResponse:
            body = req.json() or {}
            name = str(body.get("name") or "").lower().rstrip(".")
            if not _DOMAIN.match(name):
                return invalid("Name is invalid")  # unverified wording
            if name in state.domains:
                return invalid(f"domain '{name}': name already exists")
            ip = body.get("ip_address")
            if ip:
                try:
                    ip = str(ipaddress.ip_address(ip))
                except ValueError:
                    return invalid("IP address is invalid")  # unverified wording
            state.domains[name] = {"name": name}
            state.records[name] = {}
            soa = {"type": "SOA", "name": "@", "data": str(DEFAULT_TTL)}
            ns = [{"type": "NS", "name": "@", "data": host} for host in NAME_SERVERS]
            a = [{"type": "A" if ":" not in ip else "AAAA", "name": "@", "data": ip}] if ip else []
            for entry in [soa, *ns, *a]:
                record = {"id": next(state.ids), "priority": None, "port": None,
                          "ttl": DEFAULT_TTL, "weight": None, "flags": None, "tag": None,
                          **entry}
                state.records[name][record["id"]] = record
            return FakeResponse.json({"domain": {"name": name, "ttl": DEFAULT_TTL,
                                                 "zone_file": None}}, 201)

        @api.route("GET", PREFIX + r"/domains/(?P<name>[^/]+)")
        def get_domain(req: FakeRequest, name: str) -> FakeResponse:
            if name not in state.domains:
                return not_found()
            return FakeResponse.json({"domain": self._domain_view(name)})

        @api.route("DELETE", PREFIX + r"/domains/(?P<name>[^/]+)")
        def delete_domain(req: FakeRequest, name: str) -> FakeResponse:
            if name not in state.domains:
                return not_found()
            del state.domains[name]
            del state.records[name]
            return FakeResponse(204)

        records_path = PREFIX + r"/domains/(?P<name>[^/]+)/records"

        @api.route("GET", records_path)
        def list_records(req: FakeRequest, name: str) -> FakeResponse:
            if name not in state.domains:
                return not_found()
            fqdn, rtype = req.arg("name"), req.arg("type")
            rows = [r for r in state.records[name].values()
                    if (fqdn is None or (name if r["name"] == "@" else f"{r['name']}.{name}")
                        == fqdn.lower().rstrip("."))
                    and (rtype is None or r["type"] == rtype.upper())]
            return self._page(req, "domain_records", rows)

        @api.route("POST", records_path)
        def create_record(req: FakeRequest, name: str) -> FakeResponse:
            if name not in state.domains:
                return not_found()
            body = req.json() or {}
            record = self._record(name, body, None)
            if isinstance(record, FakeResponse):
                return record
            conflict = self._conflict(name, record)
            if conflict is not None:
                return conflict
            self._store(name, record, body.get("ttl") is not None)
            return FakeResponse.json({"domain_record": record}, 201)

        record_path = records_path + r"/(?P<record_id>[^/]+)"

        def find(name: str, record_id: str) -> dict[str, Any] | None:
            if name not in state.domains or not record_id.isdigit():
                return None
            return state.records[name].get(int(record_id))

        @api.route("GET", record_path)
        def get_record(req: FakeRequest, name: str, record_id: str) -> FakeResponse:
            record = find(name, record_id)
            if record is None:
                return not_found()
            return FakeResponse.json({"domain_record": record})

        def update(req: FakeRequest, name: str, record_id: str, partial: bool) -> FakeResponse:
            old = find(name, record_id)
            if old is None:
                return not_found()
            body = req.json() or {}
            # PATCH keeps unnamed fields (with data as a client would write it); PUT does not
            base = {**old, "data": self._as_written(old)} if partial else {
                "id": old["id"], "type": old["type"]}
            record = self._record(name, body, base)
            if isinstance(record, FakeResponse):
                return record
            conflict = self._conflict(name, record)
            if conflict is not None:
                return conflict
            self._store(name, record, body.get("ttl") is not None)
            return FakeResponse.json({"domain_record": record})

        @api.route("PUT", record_path)
        def put_record(req: FakeRequest, name: str, record_id: str) -> FakeResponse:
            return update(req, name, record_id, partial=False)

        @api.route("PATCH", record_path)
        def patch_record(req: FakeRequest, name: str, record_id: str) -> FakeResponse:
            return update(req, name, record_id, partial=True)

        @api.route("DELETE", record_path)
        def delete_record(req: FakeRequest, name: str, record_id: str) -> FakeResponse:
            if find(name, record_id) is None:
                return not_found()
            del state.records[name][int(record_id)]
            return FakeResponse(204)


def serve() -> AbstractContextManager[tuple[DigitalOceanServer, str]]:
    """A fresh server; yields it and the driver endpoint (``.../v2``)."""
    return DigitalOceanServer.serve()


def shared_server(request: pytest.FixtureRequest) -> tuple[DigitalOceanServer, str]:
    """This test process's server, started on first use and stopped at session end."""
    return DigitalOceanServer.shared(request)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """The DigitalOcean driver against this process's fixture server, with small pages."""
    _, endpoint = shared_server(request)
    sent: list[object] = []
    driver = DigitalOceanDNSDriver(TOKEN, endpoint=endpoint, page_size=5,
                                   hooks=Hooks(on_request=[sent.append]))
    return DNSTarget(driver, requests=sent, resolver=None)
