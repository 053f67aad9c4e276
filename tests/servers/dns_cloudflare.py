"""A stateful fixture server for Cloudflare's DNS API (client/v4), and the conformance factory.

No Cloudflare server runs on this machine, so the driver is tested against this
fixture, written from Cloudflare's API reference
(developers.cloudflare.com/api: "Zones", "DNS Records for a Zone") and the
error codes users report from the real API. What it reproduces:

* **Envelope.** Every answer is ``{"success", "errors", "messages", "result"}``;
  lists add ``result_info {page, per_page, count, total_count, total_pages}``.
  Errors are ``{"code", "message"}`` objects, optionally with an
  ``error_chain``.
* **Auth.** ``Authorization: Bearer <API token>`` (40 characters of
  ``[A-Za-z0-9_-]``), or the legacy ``X-Auth-Email`` + ``X-Auth-Key`` (a
  37-character hex Global API key). A malformed header is 400 with code 6003
  ("Invalid request headers") and a 6111/6103 chain; a well-formed wrong token
  is 403 with code 10000 ("Authentication error"); a wrong legacy key is 403
  with 9103; no credentials at all is 400 with 9106.
* **Zones.** ``GET /zones`` (``page``, ``per_page`` 5..50, ``name``,
  ``account.id``), ``POST /zones {name, account: {id}, type}`` (1061
  "<name> already exists"), ``GET``/``DELETE /zones/{id}``. Ids are 32 hex
  digits; a malformed id is 400 with 7003 ("Could not route to ..., perhaps
  your object identifier is invalid?") and 7000, an unknown one 400 with 1001
  ("Invalid zone identifier"). A new ``full`` zone is ``pending`` with two
  assigned ``*.ns.cloudflare.com`` name servers in ``name_servers``; Cloudflare
  serves the apex NS and SOA itself, and ``/dns_records`` does not list them.
* **DNS records.** One value per record object with its own id. ``GET``
  (``page``, ``per_page`` 5..5,000,000, ``name`` (full name, or ``@``),
  ``type``, ``content``, ``order``, ``direction``), ``POST``, ``GET``/``PATCH``/
  ``DELETE /dns_records/{id}`` (81044 "Record does not exist." for an unknown
  id). Names are stored fully qualified without the trailing dot, host names in
  content likewise. MX ``priority`` is a field of its own; SRV and CAA take a
  ``data`` object (``{priority, weight, port, target}``, ``{flags, tag,
  value}``) and the API derives ``content`` from it. TXT content is stored as
  given (the reference asks for quoted character-strings). TTL is 1
  ("automatic") or 60..86400.
* **Rules the API enforces.** An identical record is 81057 ("Record already
  exists."); a CNAME beside an A/AAAA/CNAME is 81053 and an A/AAAA beside a
  CNAME 81054 (the only clashes the reference lists); NS records may not
  share a name with other types; a zone's record quota is 81045 ("Record
  quota exceeded."). A and AAAA content must be addresses of that family.

Codes not confirmed from public sources (the validation errors for a bad TTL,
content or ``per_page``, and the NS-beside-other-types rule) are marked
``unverified`` where they are produced; their HTTP statuses follow the
documented "4XX ... response failure" shape.

Tests can make the server fail on purpose with :meth:`CloudflareState.inject`
(for example a 500 after a create took effect, or a 429 with ``Retry-After``).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from overcast.dns.drivers.cloudflare import CloudflareDNSDriver
from overcast.runtime.policy import Hooks
from servers.dns_target import DNSTarget
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.fakeapi import Faults
from servers.fakeapi import GuardedAPI

__all__ = [
    "ACCOUNT_ID",
    "EMAIL",
    "GLOBAL_KEY",
    "TOKEN",
    "CloudflareServer",
    "CloudflareState",
    "make_target",
    "serve",
]

PREFIX = "/client/v4"
#: The API token the fixture accepts (40 characters, like Cloudflare's).
TOKEN = "ocTestToken_0123456789-abcdefghijklmnopq"
#: The legacy e-mail and Global API key pair the fixture accepts.
EMAIL = "dns-tests@example.test"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"
ACCOUNT_ID = "f037e56e89293a057740de681ac9abbe"
NAME_SERVERS = ("ada.ns.cloudflare.com", "bob.ns.cloudflare.com")
RECORD_QUOTA = 1000  # default per zone; tests lower it with ``record_quota``

_TOKEN = re.compile(r"[A-Za-z0-9_-]{40}\Z")
_GLOBAL_KEY = re.compile(r"[0-9a-f]{37}\Z")
_ID = re.compile(r"[0-9a-f]{32}\Z")
_HOST_TYPES = frozenset({"CNAME", "NS", "PTR", "MX"})
_TYPES = frozenset({"A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ok(result: Any, info: dict[str, int] | None = None, status: int = 200) -> FakeResponse:
    """A successful Cloudflare envelope."""
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return FakeResponse.json(body, status)


def fail(status: int, *errors: dict[str, Any], headers: dict[str, str] | None = None
         ) -> FakeResponse:
    """A failed Cloudflare envelope."""
    body = {"success": False, "errors": list(errors), "messages": [], "result": None}
    return FakeResponse.json(body, status, headers)


def err(code: int, message: str, chain: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One entry of ``errors``."""
    entry: dict[str, Any] = {"code": code, "message": message}
    if chain:
        entry["error_chain"] = chain
    return entry


@dataclass
class CloudflareState(Faults):
    """Zones and records, by id (and the failures a test armed: :class:`Faults`)."""

    zones: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    record_quota: dict[str, int] = field(default_factory=dict)


# -- authentication ---------------------------------------------------------------


def _auth_error(req: FakeRequest) -> FakeResponse | None:
    bearer = req.header("Authorization")
    email, key = req.header("X-Auth-Email"), req.header("X-Auth-Key")
    if bearer is not None:
        token = bearer[7:] if bearer.startswith("Bearer ") else ""
        if not _TOKEN.match(token):
            return fail(400, err(6003, "Invalid request headers",
                                 [err(6111, "Invalid format for Authorization header")]))
        if token != TOKEN:
            return fail(403, err(10000, "Authentication error"))
        return None
    if email is not None or key is not None:
        if key is None or not _GLOBAL_KEY.match(key):
            return fail(400, err(6003, "Invalid request headers",
                                 [err(6103, "Invalid format for X-Auth-Key header")]))
        if (email, key) != (EMAIL, GLOBAL_KEY):
            return fail(403, err(9103, "Unknown X-Auth-Key or X-Auth-Email"))
        return None
    return fail(400, err(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"))


# -- helpers ----------------------------------------------------------------------------


def _page(req: FakeRequest, items: list[dict[str, Any]], low: int, high: int, default: int
          ) -> FakeResponse:
    """One page of ``items`` with ``result_info``, as ``page``/``per_page`` ask."""
    try:
        page = int(req.arg("page", "1") or 1)
        per_page = int(req.arg("per_page", str(default)) or default)
    except ValueError:
        return fail(400, err(1004, "page and per_page must be numbers"))  # unverified code
    if page < 1 or not low <= per_page <= high:
        return fail(400, err(1004, f"per_page must be between {low} and {high}"))  # unverified
    total = len(items)
    pages = max(1, -(-total // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": total,
            "total_pages": pages}
    return ok(chunk, info)


def _bad_route(req: FakeRequest) -> FakeResponse:
    return fail(400, err(7003, f"Could not route to {req.path}, perhaps your object identifier"
                               " is invalid?"), err(7000, "No route for that URI"))


def _host(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


class CloudflareServer(GuardedAPI):
    """The routes, over one :class:`CloudflareState`; checks credentials and faults first."""

    def __init__(self) -> None:
        super().__init__()
        self.state = CloudflareState()
        self._routes()

    def denied(self, request: FakeRequest) -> FakeResponse | None:
        """Cloudflare's answer to a request without valid credentials."""
        return _auth_error(request)

    # -- zone lookup ----------------------------------------------------------------

    def _zone(self, req: FakeRequest, zone_id: str) -> dict[str, Any] | FakeResponse:
        if not _ID.match(zone_id):
            return _bad_route(req)
        zone = self.state.zones.get(zone_id)
        if zone is None:
            return fail(400, err(1001, "Invalid zone identifier"))
        return zone

    # -- records -----------------------------------------------------------------

    def _normalise(self, zone: dict[str, Any], body: dict[str, Any],
                   old: dict[str, Any] | None) -> dict[str, Any] | FakeResponse:
        """The stored form of a record from a POST body (or a PATCH over ``old``)."""
        merged = dict(old or {})
        merged.update({k: v for k, v in body.items() if k not in ("id", "content_raw")})
        rtype = str(merged.get("type", "")).upper()
        if rtype not in _TYPES:
            return fail(400, err(9000, f"DNS record type {rtype!r} is invalid"))  # unverified
        name = _host(str(merged.get("name", "")).lower())
        zone_name = zone["name"]
        if name in ("", "@"):
            name = zone_name
        elif name != zone_name and not name.endswith("." + zone_name):
            name = f"{name}.{zone_name}"
        ttl = merged.get("ttl", 1)
        if not isinstance(ttl, int) or not (ttl == 1 or 60 <= ttl <= 86400):
            return fail(400, err(9021, "Invalid TTL. Must be between 60 and 86400 seconds, "
                                       "or 1 for Automatic."))  # unverified code
        record: dict[str, Any] = {
            "id": (old or {}).get("id") or uuid.uuid4().hex,
            "name": name, "type": rtype, "ttl": ttl,
            "proxiable": rtype in ("A", "AAAA", "CNAME"),
            "proxied": bool(merged.get("proxied", False)),
            "locked": False, "settings": {}, "meta": {},
            "comment": merged.get("comment"), "tags": merged.get("tags") or [],
            "created_on": (old or {}).get("created_on") or _now(), "modified_on": _now(),
        }
        data = merged.get("data") if isinstance(merged.get("data"), dict) else None
        content = merged.get("content")
        if rtype == "SRV":
            if data is None or not all(k in data for k in ("priority", "weight", "port",
                                                           "target")):
                return fail(400, err(9101, "SRV records need data.priority, data.weight, "
                                           "data.port and data.target"))  # unverified code
            target = _host(str(data["target"]))
            record["data"] = {"priority": data["priority"], "weight": data["weight"],
                              "port": data["port"], "target": target}
            record["priority"] = data["priority"]
            record["content"] = f"{data['weight']} {data['port']} {target}"
        elif rtype == "CAA":
            if data is None or not all(k in data for k in ("flags", "tag", "value")):
                return fail(400, err(9101, "CAA records need data.flags, data.tag and "
                                           "data.value"))  # unverified code
            record["data"] = {"flags": data["flags"], "tag": data["tag"], "value": data["value"]}
            record["content"] = f'{data["flags"]} {data["tag"]} "{data["value"]}"'
        else:
            if not isinstance(content, str) or not content:
                return fail(400, err(9005, "Content for the record is required"))  # unverified
            if rtype in ("A", "AAAA"):
                family = ipaddress.IPv4Address if rtype == "A" else ipaddress.IPv6Address
                try:
                    content = str(family(content))
                except ValueError:
                    return fail(400, err(9005, f"Content for {rtype} record is invalid. "
                                               "Must be a valid IP address."))  # unverified
            if rtype in _HOST_TYPES:
                content = _host(content).lower()
            record["content"] = content
            if rtype == "MX":
                priority = merged.get("priority")
                if not isinstance(priority, int) or not 0 <= priority <= 65535:
                    return fail(400, err(9104, "MX records need a priority from 0 to 65535"))
                record["priority"] = priority
        return record

    def _conflict(self, zone_id: str, record: dict[str, Any]) -> FakeResponse | None:
        """The error the API gives for a record that may not stand beside the others."""
        same_name = [r for r in self.state.records[zone_id].values()
                     if r["name"] == record["name"] and r["id"] != record["id"]]
        for other in same_name:
            if (other["type"], other["content"], other.get("priority")) == (
                    record["type"], record["content"], record.get("priority")):
                return fail(400, err(81057, "Record already exists."))
        types = {r["type"] for r in same_name}
        if record["type"] == "CNAME" and types & {"A", "AAAA", "CNAME"}:
            return fail(400, err(81053, "An A, AAAA, or CNAME record with that host already "
                                        "exists."))
        if "CNAME" in types and record["type"] in ("A", "AAAA"):
            return fail(400, err(81054, "A CNAME record with that host already exists."))
        if (record["type"] == "NS" and types - {"NS"}) or ("NS" in types
                                                          and record["type"] != "NS"):
            return fail(400, err(81056, "NS records cannot exist on the same name as any "
                                        "other record type."))  # unverified code
        return None

    def _routes(self) -> None:
        api, state = self, self.state

        @api.route("GET", PREFIX + "/accounts")
        def list_accounts(req: FakeRequest) -> FakeResponse:
            account = {"id": ACCOUNT_ID, "name": "overcast tests", "type": "standard",
                       "settings": {}, "created_on": "2024-01-01T00:00:00Z"}
            return _page(req, [account], 5, 50, 20)

        @api.route("GET", PREFIX + "/zones")
        def list_zones(req: FakeRequest) -> FakeResponse:
            zones = sorted(state.zones.values(), key=lambda z: z["name"])
            name, account = req.arg("name"), req.arg("account.id")
            zones = [z for z in zones if (name is None or z["name"] == name.lower())
                     and (account is None or z["account"]["id"] == account)]
            return _page(req, zones, 5, 50, 20)

        @api.route("POST", PREFIX + "/zones")
        def create_zone(req: FakeRequest) -> FakeResponse:
            body = req.json() or {}
            name = _host(str(body.get("name", "")).lower())
            account = (body.get("account") or {}).get("id")
            if not name or "." not in name:
                return fail(400, err(1099, "Invalid or missing zone name."))  # unverified code
            if not account:
                return fail(400, err(1002, "account.id is required"))  # unverified code
            if account != ACCOUNT_ID:
                return fail(403, err(9109, "Unauthorized to access requested resource"))
            if any(z["name"] == name for z in state.zones.values()):
                return fail(400, err(1061, f"{name} already exists"))
            zone_id = uuid.uuid4().hex
            zone = {
                "id": zone_id, "name": name, "status": "pending", "paused": False,
                "type": body.get("type", "full"), "development_mode": 0,
                "name_servers": list(NAME_SERVERS), "original_name_servers": None,
                "original_registrar": None, "original_dnshost": None,
                "created_on": _now(), "modified_on": _now(), "activated_on": None,
                "meta": {"step": 2, "phishing_detected": False},
                "owner": {"id": None, "type": "user", "email": None},
                "account": {"id": ACCOUNT_ID, "name": "overcast tests"},
                "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
                "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website"},
            }
            state.zones[zone_id] = zone
            state.records[zone_id] = {}
            return ok(zone)

        @api.route("GET", PREFIX + r"/zones/(?P<zone_id>[^/]+)")
        def get_zone(req: FakeRequest, zone_id: str) -> FakeResponse:
            zone = self._zone(req, zone_id)
            return zone if isinstance(zone, FakeResponse) else ok(zone)

        @api.route("DELETE", PREFIX + r"/zones/(?P<zone_id>[^/]+)")
        def delete_zone(req: FakeRequest, zone_id: str) -> FakeResponse:
            zone = self._zone(req, zone_id)
            if isinstance(zone, FakeResponse):
                return zone
            del state.zones[zone_id]
            del state.records[zone_id]
            return ok({"id": zone_id})

        @api.route("GET", PREFIX + r"/zones/(?P<zone_id>[^/]+)/dns_records")
        def list_records(req: FakeRequest, zone_id: str) -> FakeResponse:
            zone = self._zone(req, zone_id)
            if isinstance(zone, FakeResponse):
                return zone
            records = list(state.records[zone_id].values())  # creation order
            name, rtype, content = req.arg("name"), req.arg("type"), req.arg("content")
            if name is not None:
                name = zone["name"] if name == "@" else _host(name.lower())
            records = [r for r in records if (name is None or r["name"] == name)
                       and (rtype is None or r["type"] == rtype.upper())
                       and (content is None or r["content"] == content)]
            order = req.arg("order")
            if order in ("type", "name", "content", "ttl", "proxied"):
                records.sort(key=lambda r: r[order], reverse=req.arg("direction") == "desc")
            return _page(req, records, 5, 5_000_000, 100)

        @api.route("POST", PREFIX + r"/zones/(?P<zone_id>[^/]+)/dns_records")
        def create_record(req: FakeRequest, zone_id: str) -> FakeResponse:
            zone = self._zone(req, zone_id)
            if isinstance(zone, FakeResponse):
                return zone
            record = self._normalise(zone, req.json() or {}, None)
            if isinstance(record, FakeResponse):
                return record
            conflict = self._conflict(zone_id, record)
            if conflict is not None:
                return conflict
            if len(state.records[zone_id]) >= state.record_quota.get(zone_id, RECORD_QUOTA):
                return fail(400, err(81045, "Record quota exceeded."))
            state.records[zone_id][record["id"]] = record
            return ok(record)

        def one(req: FakeRequest, zone_id: str, record_id: str
                ) -> tuple[dict[str, Any], dict[str, Any]] | FakeResponse:
            zone = self._zone(req, zone_id)
            if isinstance(zone, FakeResponse):
                return zone
            if not _ID.match(record_id):
                return _bad_route(req)
            record = state.records[zone_id].get(record_id)
            if record is None:
                return fail(404, err(81044, "Record does not exist."))
            return zone, record

        record_path = PREFIX + r"/zones/(?P<zone_id>[^/]+)/dns_records/(?P<record_id>[^/]+)"

        @api.route("GET", record_path)
        def get_record(req: FakeRequest, zone_id: str, record_id: str) -> FakeResponse:
            found = one(req, zone_id, record_id)
            return found if isinstance(found, FakeResponse) else ok(found[1])

        @api.route("PATCH", record_path)
        def patch_record(req: FakeRequest, zone_id: str, record_id: str) -> FakeResponse:
            found = one(req, zone_id, record_id)
            if isinstance(found, FakeResponse):
                return found
            zone, old = found
            record = self._normalise(zone, req.json() or {}, old)
            if isinstance(record, FakeResponse):
                return record
            conflict = self._conflict(zone_id, record)
            if conflict is not None:
                return conflict
            state.records[zone_id][record_id] = record
            return ok(record)

        @api.route("DELETE", record_path)
        def delete_record(req: FakeRequest, zone_id: str, record_id: str) -> FakeResponse:
            found = one(req, zone_id, record_id)
            if isinstance(found, FakeResponse):
                return found
            del state.records[zone_id][record_id]
            return ok({"id": record_id})


@contextmanager
def serve() -> Iterator[tuple[CloudflareServer, str]]:
    """A fresh server; yields it and the driver endpoint (``.../client/v4``)."""
    server = CloudflareServer()
    with server.serving() as base_url:
        yield server, base_url + PREFIX


_shared: tuple[CloudflareServer, str] | None = None


def shared_server(request: pytest.FixtureRequest) -> tuple[CloudflareServer, str]:
    """This test process's server, started on first use and stopped at session end."""
    global _shared
    if _shared is None:
        context = serve()
        _shared = context.__enter__()
        request.config.add_cleanup(lambda: context.__exit__(None, None, None))
    return _shared


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """The Cloudflare driver against this process's fixture server, with small pages."""
    _, endpoint = shared_server(request)
    sent: list[object] = []
    driver = CloudflareDNSDriver(TOKEN, account_id=ACCOUNT_ID, endpoint=endpoint, page_size=5,
                                 hooks=Hooks(on_request=[sent.append]))
    return DNSTarget(driver, requests=sent, resolver=None)
