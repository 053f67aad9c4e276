"""A stateful Google Cloud DNS (v1) fixture server, and the factory for the DNS contract.

Written from Google's published references (Cloud DNS API v1: managedZones,
resourceRecordSets, changes; OAuth 2.0 for server-to-server applications):

* ``POST /token`` and the bearer check on every call: every Google fixture's
  (:class:`servers.google_api.GoogleAuth`).
* managed zones: list (``maxResults``, ``pageToken`` -> ``nextPageToken``,
  ``dnsName``), create (409 ``alreadyExists`` for a taken name; the apex NS and
  SOA sets are made as Cloud DNS does), get, delete (400 ``containerNotEmpty``
  while record sets other than the apex NS/SOA remain).
* record sets: list (paged; ``name`` and ``type`` filters, ``type`` only with
  ``name``), create (409 ``alreadyExists``), get/delete by name and type (404
  ``notFound``); changes: additions and deletions applied atomically, a
  deletion must match the current set exactly (412 ``conditionNotMet``).
  ``rrdatas`` are presentation text: a TXT character-string over 255 bytes and
  a CNAME beside other data are rejected.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import threading
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from overcast.dns.drivers.google import GoogleDNSDriver
from overcast.runtime.policy import Hooks
from servers.dns_target import DNSTarget
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.google_api import GoogleAuth
from servers.google_api import google_error
from servers.google_api import page

PROJECT = "overcast-test"
CLIENT_EMAIL = "dns-admin@overcast-test.iam.gserviceaccount.com"
SCOPES_ALLOWED = frozenset(
    {
        "https://www.googleapis.com/auth/ndev.clouddns.readwrite",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)
SUPPORTED_TYPES = frozenset(
    {"A", "AAAA", "CAA", "CNAME", "DNSKEY", "DS", "HTTPS", "IPSECKEY", "MX", "NAPTR", "NS",
     "PTR", "SOA", "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT"}
)
API = r"/dns/v1/projects/(?P<project>[^/]+)"


def character_string_lengths(text: str) -> list[int]:
    """Byte lengths of the character-strings of a TXT rdata in presentation form."""
    lengths: list[int] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        quoted = text[i] == '"'
        i += quoted
        size = 0
        while i < n:
            ch = text[i]
            if quoted and ch == '"':
                i += 1
                break
            if not quoted and ch.isspace():
                break
            if ch == "\\" and i + 1 < n:
                i += 4 if text[i + 1 : i + 4].isdigit() else 2
                size += 1
                continue
            size += len(ch.encode("utf-8"))
            i += 1
        lengths.append(size)
    return lengths


@dataclass
class GoogleDNSFixture(GoogleAuth):
    """The fixture server's state and routes (auth: :class:`servers.google_api.GoogleAuth`)."""

    api: FakeAPI = field(default_factory=FakeAPI)
    scopes_allowed: frozenset[str] = SCOPES_ALLOWED
    zones: dict[str, dict[str, Any]] = field(default_factory=dict)
    rrsets: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def __post_init__(self) -> None:
        api = self.api
        api.route("POST", r"/token")(self.token)
        api.route("GET", API + r"/managedZones")(self.list_zones)
        api.route("POST", API + r"/managedZones")(self.create_zone)
        api.route("GET", API + r"/managedZones/(?P<zone>[^/]+)")(self.get_zone)
        api.route("DELETE", API + r"/managedZones/(?P<zone>[^/]+)")(self.delete_zone)
        api.route("GET", API + r"/managedZones/(?P<zone>[^/]+)/rrsets")(self.list_rrsets)
        api.route("POST", API + r"/managedZones/(?P<zone>[^/]+)/rrsets")(self.create_rrset)
        rrset = API + r"/managedZones/(?P<zone>[^/]+)/rrsets/(?P<name>[^/]+)/(?P<rtype>[^/]+)"
        api.route("GET", rrset)(self.get_rrset)
        api.route("DELETE", rrset)(self.delete_rrset)
        api.route("POST", API + r"/managedZones/(?P<zone>[^/]+)/changes")(self.create_change)

    # -- knobs for tests ---------------------------------------------------------------

    def count(self, method: str, path_suffix: str) -> int:
        """How many requests so far had this method and a path ending so."""
        with self.api.lock:
            return sum(1 for r in self.api.requests
                       if r.method == method and r.path.endswith(path_suffix))

    def _unauthorized(self, req: FakeRequest, project: str) -> FakeResponse | None:
        if (denied := self.denied(req)) is not None:
            return denied
        if project != PROJECT:
            return google_error(403, "forbidden", f"The caller does not have permission "
                                f"on project {project}", "PERMISSION_DENIED")
        return None

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _page(items: list[dict[str, Any]], key: Any, req: FakeRequest, default: int = 100,
              ) -> tuple[list[dict[str, Any]], str | None] | FakeResponse:
        return page(items, key, req, default)

    def _zone(self, zone: str) -> dict[str, Any] | None:
        return self.zones.get(unquote(zone))

    @staticmethod
    def _zone_missing(zone: str) -> FakeResponse:
        return google_error(404, "notFound", f"The 'parameters.managedZone' resource named "
                            f"'{unquote(zone)}' does not exist.", "NOT_FOUND")

    @staticmethod
    def _rrset_key(rrset: dict[str, Any]) -> tuple[str, str]:
        return (str(rrset["name"]).lower(), str(rrset["type"]))

    def _check_rrset(self, zone: dict[str, Any], rrset: Any, where: str) -> FakeResponse | None:
        def invalid(message: str) -> FakeResponse:
            return google_error(400, "invalid", f"Invalid value for '{where}': {message}",
                                "INVALID_ARGUMENT")

        if not isinstance(rrset, dict):
            return invalid("not an object")
        name, rtype = rrset.get("name"), rrset.get("type")
        if not isinstance(name, str) or not name.endswith("."):
            return invalid(f"name {name!r} must be an absolute name")
        origin = zone["dnsName"]
        if not (name.lower() == origin or name.lower().endswith("." + origin)):
            return invalid(f"'{name}' is not in zone '{origin}'")
        if rtype not in SUPPORTED_TYPES:
            return invalid(f"unsupported record type {rtype!r}")
        ttl = rrset.get("ttl")
        if not isinstance(ttl, int) or ttl < 0:
            return invalid(f"ttl {ttl!r}")
        rrdatas = rrset.get("rrdatas")
        if not isinstance(rrdatas, list) or not rrdatas or not all(
                isinstance(d, str) and d for d in rrdatas):
            return invalid("rrdatas must be a non-empty list of strings")
        if len(set(rrdatas)) != len(rrdatas):
            return invalid("duplicate rrdatas")
        if rtype in ("TXT", "SPF"):
            for data in rrdatas:
                if any(n > 255 for n in character_string_lengths(data)):
                    return invalid(f"'{data[:40]}...' has a character-string longer than 255")
        if rtype == "CNAME" and len(rrdatas) != 1:
            return invalid("a CNAME set holds exactly one rrdata")
        if rtype == "CNAME" and name.lower() == origin:
            return invalid("a CNAME may not be at the zone apex")
        return None

    @staticmethod
    def _cname_conflict(sets: dict[tuple[str, str], dict[str, Any]]) -> str | None:
        by_name: dict[str, set[str]] = {}
        for name, rtype in sets:
            by_name.setdefault(name, set()).add(rtype)
        for name, types in by_name.items():
            if "CNAME" in types and len(types) > 1:
                return name
        return None

    @staticmethod
    def _public(rrset: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "dns#resourceRecordSet", "name": rrset["name"], "type": rrset["type"],
                "ttl": rrset["ttl"], "rrdatas": list(rrset["rrdatas"])}

    # -- managed zones ---------------------------------------------------------------------

    def list_zones(self, req: FakeRequest, project: str) -> FakeResponse:
        if (denied := self._unauthorized(req, project)) is not None:
            return denied
        items = sorted(self.zones.values(), key=lambda z: z["name"])
        if dns_name := req.arg("dnsName"):
            items = [z for z in items if z["dnsName"] == dns_name.lower()]
        paged = self._page(items, lambda z: (z["name"],), req)
        if isinstance(paged, FakeResponse):
            return paged
        page, token = paged
        body: dict[str, Any] = {"kind": "dns#managedZonesListResponse", "managedZones": page}
        if token:
            body["nextPageToken"] = token
        return FakeResponse.json(body)

    def create_zone(self, req: FakeRequest, project: str) -> FakeResponse:
        if (denied := self._unauthorized(req, project)) is not None:
            return denied
        body = req.json()
        name, dns_name = body.get("name"), body.get("dnsName")
        if not isinstance(name, str) or not name or len(name) > 63 or not name[0].isalpha() \
                or not all(c.isdigit() or c == "-" or "a" <= c <= "z" for c in name):
            return google_error(400, "invalid", f"Invalid value for 'entity.managedZone.name': "
                                f"'{name}'", "INVALID_ARGUMENT")
        if not isinstance(dns_name, str) or not dns_name.endswith(".") or len(dns_name) < 2:
            return google_error(400, "invalid", "Invalid value for 'entity.managedZone.dnsName':"
                                f" '{dns_name}'", "INVALID_ARGUMENT")
        if not isinstance(body.get("description"), str):
            return google_error(400, "required", "Required field 'entity.managedZone."
                                "description' not specified", "INVALID_ARGUMENT")
        if name in self.zones:
            return google_error(409, "alreadyExists", f"The resource 'entity.managedZone' named "
                                f"'{name}' already exists", "ALREADY_EXISTS")
        dns_name = dns_name.lower()
        shard = "abcde"[len(self.zones) % 5]
        servers = [f"ns-cloud-{shard}{i}.googledomains.com." for i in range(1, 5)]
        zone = {
            "kind": "dns#managedZone",
            "name": name,
            "dnsName": dns_name,
            "description": body["description"],
            "id": str(next(self.ids) * 7919),
            "nameServers": servers,
            "creationTime": datetime.now(UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "visibility": "public",
            "labels": dict(body.get("labels") or {}),
        }
        self.zones[name] = zone
        self.rrsets[name] = {
            (dns_name, "NS"): {"name": dns_name, "type": "NS", "ttl": 21600,
                               "rrdatas": servers},
            (dns_name, "SOA"): {"name": dns_name, "type": "SOA", "ttl": 21600, "rrdatas": [
                f"{servers[0]} cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"]},
        }
        return FakeResponse.json(zone)

    def get_zone(self, req: FakeRequest, project: str, zone: str) -> FakeResponse:
        if (denied := self._unauthorized(req, project)) is not None:
            return denied
        found = self._zone(zone)
        return FakeResponse.json(found) if found else self._zone_missing(zone)

    def delete_zone(self, req: FakeRequest, project: str, zone: str) -> FakeResponse:
        if (denied := self._unauthorized(req, project)) is not None:
            return denied
        found = self._zone(zone)
        if found is None:
            return self._zone_missing(zone)
        origin = found["dnsName"]
        left = [k for k in self.rrsets[found["name"]]
                if not (k[0] == origin and k[1] in ("NS", "SOA"))]
        if left:
            return google_error(400, "containerNotEmpty", f"The resource named "
                                f"'{found['name']}' cannot be deleted because it is not empty",
                                "FAILED_PRECONDITION")
        del self.zones[found["name"]]
        del self.rrsets[found["name"]]
        return FakeResponse(204)

    # -- record sets ---------------------------------------------------------------------

    def list_rrsets(self, req: FakeRequest, project: str, zone: str) -> FakeResponse:
        if (denied := self._unauthorized(req, project)) is not None:
            return denied
        found = self._zone(zone)
        if found is None:
            return self._zone_missing(zone)
        items = sorted(self.rrsets[found["name"]].items())
        name, rtype = req.arg("name"), req.arg("type")
        if rtype and not name:
            return google_error(400, "invalid", "Invalid value for 'parameters.type': the "
                                "'name' parameter must also be given", "INVALID_ARGUMENT")
        if name:
            items = [(k, v) for k, v in items if k[0] == name.lower()]
        if rtype:
            items = [(k, v) for k, v in items if k[1] == rtype]
        paged = self._page([self._public(v) for _, v in items], self._rrset_key, req)
        if isinstance(paged, FakeResponse):
            return paged
        page, token = paged
        body: dict[str, Any] = {"kind": "dns#resourceRecordSetsListResponse", "rrsets": page}
        if token:
            body["nextPageToken"] = token
        return FakeResponse.json(body)

    def _apply(self, found: dict[str, Any], additions: list[Any], deletions: list[Any],
               ) -> FakeResponse | None:
        """Apply a change atomically; an error response leaves the zone untouched."""
        sets = dict(self.rrsets[found["name"]])
        for i, rrset in enumerate(deletions):
            if (bad := self._check_rrset(found, rrset, f"entity.change.deletions[{i}]")):
                return bad
            key = self._rrset_key(rrset)
            current = sets.get(key)
            if current is None:
                return google_error(404, "notFound", f"The 'entity.change.deletions[{i}]' "
                                    f"resource named '{rrset['name']} ({rrset['type']})' does "
                                    "not exist.", "NOT_FOUND")
            if (current["ttl"], sorted(current["rrdatas"])) != (rrset["ttl"],
                                                              sorted(rrset["rrdatas"])):
                return google_error(412, "conditionNotMet", f"Precondition not met for "
                                    f"'entity.change.deletions[{i}]'", "FAILED_PRECONDITION")
            del sets[key]
        for i, rrset in enumerate(additions):
            if (bad := self._check_rrset(found, rrset, f"entity.change.additions[{i}]")):
                return bad
            key = self._rrset_key(rrset)
            if key in sets:
                return google_error(409, "alreadyExists", f"The resource "
                                    f"'entity.change.additions[{i}]' named '{rrset['name']} "
                                    f"({rrset['type']})' already exists", "ALREADY_EXISTS")
            sets[key] = self._public(rrset)
        origin = found["dnsName"]
        if (origin, "SOA") not in sets or (origin, "NS") not in sets:
            return google_error(400, "invalid", "The zone apex must keep its SOA and NS record "
                                "sets", "INVALID_ARGUMENT")
        if (name := self._cname_conflict(sets)) is not None:
            return google_error(400, "cnameResourceRecordSetConflict", f"The resource record set"
                                f" '{name}' is invalid because a CNAME may not coexist with "
                                "other record types at the same name", "INVALID_ARGUMENT")
        self.rrsets[found["name"]] = sets
        return None

    def create_rrset(self, req: FakeRequest, project: str, zone: str) -> FakeResponse:
        if (denied := self._unauthorized(req, project)) is not None:
            return denied
        found = self._zone(zone)
        if found is None:
            return self._zone_missing(zone)
        rrset = req.json()
        if (error := self._apply(found, [rrset], [])) is not None:
            return error
        return FakeResponse.json(self._public(rrset))

    def _named(self, zone: str, name: str, rtype: str,
               ) -> tuple[dict[str, Any], tuple[str, str]] | FakeResponse:
        found = self._zone(zone)
        if found is None:
            return self._zone_missing(zone)
        key = (unquote(name).lower(), unquote(rtype))
        if key not in self.rrsets[found["name"]]:
            return google_error(404, "notFound", f"The 'parameters.name' resource named "
                                f"'{unquote(name)} ({unquote(rtype)})' does not exist.",
                                "NOT_FOUND")
        return found, key

    def get_rrset(self, req: FakeRequest, project: str, zone: str, name: str, rtype: str,
                  ) -> FakeResponse:
        if (denied := self._unauthorized(req, project)) is not None:
            return denied
        named = self._named(zone, name, rtype)
        if isinstance(named, FakeResponse):
            return named
        found, key = named
        return FakeResponse.json(self._public(self.rrsets[found["name"]][key]))

    def delete_rrset(self, req: FakeRequest, project: str, zone: str, name: str, rtype: str,
                     ) -> FakeResponse:
        if (denied := self._unauthorized(req, project)) is not None:
            return denied
        named = self._named(zone, name, rtype)
        if isinstance(named, FakeResponse):
            return named
        found, key = named
        if (error := self._apply(found, [], [self.rrsets[found["name"]][key]])) is not None:
            return error
        return FakeResponse.json({})

    def create_change(self, req: FakeRequest, project: str, zone: str) -> FakeResponse:
        if (denied := self._unauthorized(req, project)) is not None:
            return denied
        found = self._zone(zone)
        if found is None:
            return self._zone_missing(zone)
        body = req.json()
        additions = list(body.get("additions") or [])
        deletions = list(body.get("deletions") or [])
        if not additions and not deletions:
            return google_error(400, "required", "The 'entity.change' resource must have "
                                "additions or deletions", "INVALID_ARGUMENT")
        if (error := self._apply(found, additions, deletions)) is not None:
            return error
        return FakeResponse.json({
            "kind": "dns#change",
            "id": str(next(self.ids)),
            "startTime": datetime.now(UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "status": "pending",
            "additions": [self._public(a) for a in additions],
            "deletions": [self._public(d) for d in deletions],
        })


# -- the server, once per test process ------------------------------------------------------

_lock = threading.Lock()
_state: dict[str, Any] = {}


def private_key() -> rsa.RSAPrivateKey:
    """The service account's throwaway key pair (made once per process)."""
    with _lock:
        if "key" not in _state:
            _state["key"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key: rsa.RSAPrivateKey = _state["key"]
        return key


def fixture_server(request: pytest.FixtureRequest) -> GoogleDNSFixture:
    """The fixture server of this test process, started on first use."""
    with _lock:
        server: GoogleDNSFixture | None = _state.get("server")
        if server is not None:
            return server
        server = GoogleDNSFixture()
        stack = contextlib.ExitStack()
        server.base_url = stack.enter_context(server.api.serving())
        request.config.add_cleanup(stack.close)
        _state["server"] = server
    server.accounts[CLIENT_EMAIL] = private_key().public_key()
    return server


def key_file(tmp_path: Path, server: GoogleDNSFixture, *, email: str = CLIENT_EMAIL,
             key: rsa.RSAPrivateKey | None = None) -> Path:
    """Write a service-account JSON key file pointing at the fixture's token endpoint."""
    pem = (key or private_key()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "token_uri": f"{server.base_url}/token",
    }
    path = tmp_path / f"service-account-{secrets.token_hex(4)}.json"
    path.write_text(json.dumps(info))
    return path


def make_driver(server: GoogleDNSFixture, credentials: Path, *, page_size: int = 5,
                requests: list[object] | None = None, **options: Any) -> GoogleDNSDriver:
    """A driver pointed at the fixture server."""
    hooks = options.pop("hooks", None) or Hooks()
    if requests is not None:
        hooks.on_request.append(requests.append)
    return GoogleDNSDriver(project=PROJECT, credentials_file=credentials,
                           endpoint=f"{server.base_url}/dns/v1", page_size=page_size,
                           hooks=hooks, **options)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """The Google Cloud DNS driver against the fixture server (pages of 5)."""
    server = fixture_server(request)
    requests: list[object] = []
    driver = make_driver(server, key_file(tmp_path, server), requests=requests)
    return DNSTarget(driver, requests=requests, resolver=None)
