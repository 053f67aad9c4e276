"""A stateful Azure DNS (ARM, api-version 2018-05-01) fixture server, and the factory
for the DNS contract.

Written from Microsoft's published references (Microsoft identity platform
client-credentials flow; Azure DNS REST API: Zones, Record Sets; ARM
asynchronous operations):

* ``POST /{tenant}/oauth2/v2.0/token``: ``client_credentials`` with client id,
  secret and the ARM ``.default`` scope. Errors are RFC 6749 JSON with AADSTS
  codes (unknown tenant 400 ``invalid_request`` AADSTS90002, unknown app 400
  ``unauthorized_client`` AADSTS700016, wrong secret 401 ``invalid_client``
  AADSTS7000215). Tokens live ``token_lifetime`` seconds.
* every ARM call needs ``api-version=2018-05-01`` and a live bearer token (401
  ``AuthenticationFailed`` / ``InvalidAuthenticationToken`` /
  ``ExpiredAuthenticationToken``); errors are ``{"error": {"code", "message"}}``
  with an ``x-ms-request-id`` header.
* zones: list (``$top``; ``nextLink`` with ``$skipToken``), ``PUT`` (``location``
  must be ``global``; ``If-None-Match: *`` on an existing zone -> 412
  ``PreconditionFailed``; the apex NS and SOA sets are made), ``GET`` (404
  ``ResourceNotFound``), ``DELETE``: 202 with ``Azure-AsyncOperation``,
  ``Location`` and ``Retry-After``; the status URL answers ``InProgress``
  ``lro_polls`` times, then ``Succeeded`` and the zone is gone. A zone that does
  not exist answers 204.
* record sets: list (``/recordsets`` and ``/all``, paged like zones),
  ``GET/PUT/DELETE /{TYPE}/{name}`` (``@`` is the apex): typed arrays checked
  per type, ``TTL`` required, TXT strings at most 255 bytes, ``If-None-Match``
  and ``If-Match`` preconditions (412), a CNAME beside other data is a 409
  ``Conflict``, a missing parent zone is 404 ``ParentResourceNotFound``, a
  missing set 404 ``NotFound`` (GET) or 204 (DELETE); the SOA set and the apex
  NS set cannot be deleted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import uuid
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from overcast.dns.drivers.azure import AzureDNSDriver
from overcast.runtime.policy import Hooks
from servers.azure_arm import CLIENT_ID
from servers.azure_arm import CLIENT_SECRET
from servers.azure_arm import SUBSCRIPTION
from servers.azure_arm import TENANT
from servers.azure_arm import ArmIdentity
from servers.azure_arm import arm_error
from servers.azure_arm import arm_page
from servers.dns_target import DNSTarget
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

RESOURCE_GROUP = "overcast-dns"
API_VERSION = "2018-05-01"
TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")
FIELDS = {
    "A": "ARecords", "AAAA": "AAAARecords", "CAA": "caaRecords", "CNAME": "CNAMERecord",
    "MX": "MXRecords", "NS": "NSRecords", "PTR": "PTRRecords", "SOA": "SOARecord",
    "SRV": "SRVRecords", "TXT": "TXTRecords",
}
ZONES = (r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
         r"/providers/Microsoft.Network/dnsZones")
NAME_SERVERS = ["ns1-05.azure-dns.com.", "ns2-05.azure-dns.net.", "ns3-05.azure-dns.org.",
                "ns4-05.azure-dns.info."]


class _Invalid(Exception):
    """A record-set body that ARM would reject with 400 BadRequest."""


def _int(value: Any, what: str, high: int = 65535) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise _Invalid(f"{what} must be an integer from 0 to {high}")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid(f"{what} must be a non-empty string")
    return value


def check_records(rtype: str, props: dict[str, Any]) -> None:
    """Validate the typed arrays of a record-set body for ``rtype``."""
    wanted = FIELDS[rtype]
    for key, value in props.items():
        if key in FIELDS.values() and key != wanted and value:
            raise _Invalid(f"The property '{key}' is not valid for a record set of type {rtype}")
    items = props.get(wanted)
    if items is None:
        return
    if rtype in ("CNAME", "SOA"):
        if not isinstance(items, dict):
            raise _Invalid(f"'{wanted}' must be an object")
        items = [items]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _Invalid(f"'{wanted}' must be a list of objects")
    for item in items:
        if rtype == "A":
            try:
                ipaddress.IPv4Address(item.get("ipv4Address"))
            except ValueError:
                raise _Invalid(f"invalid IPv4 address {item.get('ipv4Address')!r}") from None
        elif rtype == "AAAA":
            try:
                ipaddress.IPv6Address(item.get("ipv6Address"))
            except ValueError:
                raise _Invalid(f"invalid IPv6 address {item.get('ipv6Address')!r}") from None
        elif rtype == "CNAME":
            _text(item.get("cname"), "cname")
        elif rtype == "NS":
            _text(item.get("nsdname"), "nsdname")
        elif rtype == "PTR":
            _text(item.get("ptrdname"), "ptrdname")
        elif rtype == "MX":
            _int(item.get("preference"), "preference")
            _text(item.get("exchange"), "exchange")
        elif rtype == "SRV":
            for key in ("priority", "weight", "port"):
                _int(item.get(key), key)
            _text(item.get("target"), "target")
        elif rtype == "CAA":
            _int(item.get("flags"), "flags", 255)
            _text(item.get("tag"), "tag")
            if not isinstance(item.get("value"), str):
                raise _Invalid("CAA value must be a string")
        elif rtype == "TXT":
            value = item.get("value")
            if not isinstance(value, list) or not value or not all(
                    isinstance(s, str) for s in value):
                raise _Invalid("TXT value must be a non-empty list of strings")
            if any(len(s.encode("utf-8")) > 255 for s in value):
                raise _Invalid("a TXT record string may be at most 255 characters long")
        elif rtype == "SOA":
            _text(item.get("host"), "host")
            _text(item.get("email"), "email")


@dataclass
class AzureDNSFixture(ArmIdentity):
    """The fixture server's state and routes (the token endpoint and bearer
    check are :class:`servers.azure_arm.ArmIdentity`'s)."""

    retry_after: int = 0
    lro_polls: int = 1
    zones: dict[str, dict[str, Any]] = field(default_factory=dict)
    rrsets: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        route = self.api.route
        route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token")(self.token)
        route("GET", ZONES)(self.list_zones)
        zone = ZONES + r"/(?P<zone>[^/]+)"
        route("PUT", zone)(self.put_zone)
        route("GET", zone)(self.get_zone)
        route("DELETE", zone)(self.delete_zone)
        route("GET", zone + r"/(?:recordsets|all)")(self.list_rrsets)
        rrset = zone + r"/(?P<rtype>[A-Za-z]+)/(?P<name>[^/]+)"
        route("GET", rrset)(self.get_rrset)
        route("PUT", rrset)(self.put_rrset)
        route("DELETE", rrset)(self.delete_rrset)
        ops = r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft.Network"
        route("GET", ops + r"/dnsoperationstatuses/(?P<op>[^/]+)")(self.operation_status)
        route("GET", ops + r"/dnsoperationresults/(?P<op>[^/]+)")(self.operation_result)

    def _refuse(self, req: FakeRequest, sub: str, rg: str | None = None) -> FakeResponse | None:
        if (refused := self.bearer_refusal(req)) is not None:
            return refused
        version = req.arg("api-version")
        if version is None:
            return arm_error(400, "MissingApiVersionParameter", "The api-version query "
                             "parameter (?api-version=) is required for all requests.")
        if version != API_VERSION:
            return arm_error(400, "InvalidApiVersionParameter", f"The api-version '{version}' "
                             "is invalid.")
        if sub != SUBSCRIPTION:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not "
                             "be found.")
        if rg is not None and rg != RESOURCE_GROUP:
            return arm_error(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not "
                             "be found.")
        return None

    # -- helpers -------------------------------------------------------------------------

    def _page(self, req: FakeRequest, path: str, items: list[dict[str, Any]],
              key: Any) -> FakeResponse:
        try:
            top = int(req.arg("$top") or 100)
        except ValueError:
            return arm_error(400, "BadRequest", "Invalid $top")
        top = max(1, min(top, 1000))
        return arm_page(req, self.base_url, items, key, top,
                        f"api-version={API_VERSION}&$top={top}")

    def _zone_id(self, zone: str) -> str:
        return (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
                f"Microsoft.Network/dnszones/{zone}")

    def _zone_json(self, zone: dict[str, Any]) -> dict[str, Any]:
        out = dict(zone)
        out["properties"] = {**zone["properties"],
                             "numberOfRecordSets": len(self.rrsets[zone["name"]])}
        return out

    def _rrset_json(self, zone: str, key: tuple[str, str]) -> dict[str, Any]:
        stored = self.rrsets[zone][key]
        name, rtype = key
        fqdn = f"{zone}." if name == "@" else f"{name}.{zone}."
        return {
            "id": f"{self._zone_id(zone)}/{rtype}/{name}",
            "name": name,
            "type": f"Microsoft.Network/dnszones/{rtype}",
            "etag": stored["etag"],
            "properties": {"metadata": stored.get("metadata") or {}, "TTL": stored["TTL"],
                           "fqdn": fqdn, "provisioningState": "Succeeded",
                           "targetResource": {}, **stored["records"]},
        }

    @staticmethod
    def _missing_zone(zone: str, nested: bool = False) -> FakeResponse:
        if nested:
            return arm_error(404, "ParentResourceNotFound", "Can not perform requested "
                             f"operation on nested resource. Parent resource '{zone}' not found.")
        return arm_error(404, "ResourceNotFound", f"The Resource 'Microsoft.Network/dnszones/"
                         f"{zone}' under resource group '{RESOURCE_GROUP}' was not found.")

    # -- zones ---------------------------------------------------------------------------

    def list_zones(self, req: FakeRequest, sub: str, rg: str) -> FakeResponse:
        if (refused := self._refuse(req, sub, rg)) is not None:
            return refused
        items = [self._zone_json(z) for _, z in sorted(self.zones.items())]
        return self._page(req, req.path, items, lambda z: (z["name"],))

    def put_zone(self, req: FakeRequest, sub: str, rg: str, zone: str) -> FakeResponse:
        if (refused := self._refuse(req, sub, rg)) is not None:
            return refused
        zone = unquote(zone).lower()
        body = req.json() or {}
        if body.get("location") != "global":
            return arm_error(400, "LocationNotAvailableForResourceType", "The provided "
                             f"location '{body.get('location')}' is not available for resource "
                             "type 'Microsoft.Network/dnszones'. List of available regions for "
                             "the resource type is 'global'.")
        labels = zone.split(".")
        if len(labels) < 2 or not all(labels) or len(zone) > 253:
            return arm_error(400, "BadRequest", f"The zone name '{zone}' is invalid.")
        exists = zone in self.zones
        if req.header("If-None-Match") == "*" and exists:
            return arm_error(412, "PreconditionFailed", f"The Zone {zone} exists already and "
                             "hence cannot be created again.")
        if_match = req.header("If-Match")
        if if_match and (not exists or if_match not in ("*", self.zones[zone]["etag"])):
            return arm_error(412, "PreconditionFailed", f"The Zone {zone} has been modified "
                             "(etag mismatch).")
        record = {
            "id": self._zone_id(zone), "name": zone, "type": "Microsoft.Network/dnszones",
            "etag": str(uuid.uuid4()), "location": "global", "tags": dict(body.get("tags") or {}),
            "properties": {"maxNumberOfRecordSets": 10000, "maxNumberOfRecordsPerRecordSet": 20,
                           "nameServers": NAME_SERVERS,
                           "zoneType": (body.get("properties") or {}).get("zoneType", "Public")},
        }
        self.zones[zone] = record
        if not exists:
            self.rrsets[zone] = {
                ("@", "NS"): {"TTL": 172800, "etag": str(uuid.uuid4()), "records": {
                    "NSRecords": [{"nsdname": ns} for ns in NAME_SERVERS]}},
                ("@", "SOA"): {"TTL": 3600, "etag": str(uuid.uuid4()), "records": {
                    "SOARecord": {"host": NAME_SERVERS[0],
                                  "email": "azuredns-hostmaster.microsoft.com",
                                  "serialNumber": 1, "refreshTime": 3600, "retryTime": 300,
                                  "expireTime": 2419200, "minimumTTL": 300}}},
            }
        return FakeResponse.json(self._zone_json(record), 200 if exists else 201)

    def get_zone(self, req: FakeRequest, sub: str, rg: str, zone: str) -> FakeResponse:
        if (refused := self._refuse(req, sub, rg)) is not None:
            return refused
        found = self.zones.get(unquote(zone).lower())
        return FakeResponse.json(self._zone_json(found)) if found else self._missing_zone(zone)

    def delete_zone(self, req: FakeRequest, sub: str, rg: str, zone: str) -> FakeResponse:
        if (refused := self._refuse(req, sub, rg)) is not None:
            return refused
        zone = unquote(zone).lower()
        if zone not in self.zones:
            return FakeResponse(204)
        op = "delzone" + uuid.uuid4().hex
        self.operations[op] = {"zone": zone, "polls": self.lro_polls, "done": False}
        base = f"{self.base_url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Network"
        return FakeResponse(202, b"", {
            "Azure-AsyncOperation": f"{base}/dnsoperationstatuses/{op}?api-version={API_VERSION}",
            "Location": f"{base}/dnsoperationresults/{op}?api-version={API_VERSION}",
            "Retry-After": str(self.retry_after),
            "x-ms-request-id": str(uuid.uuid4()),
        })

    def _advance(self, op: str) -> dict[str, Any] | None:
        state = self.operations.get(op)
        if state is None:
            return None
        if not state["done"]:
            if state["polls"] > 0:
                state["polls"] -= 1
            else:
                self.zones.pop(state["zone"], None)
                self.rrsets.pop(state["zone"], None)
                state["done"] = True
        return state

    def operation_status(self, req: FakeRequest, sub: str, op: str) -> FakeResponse:
        if (refused := self._refuse(req, sub)) is not None:
            return refused
        state = self._advance(op)
        if state is None:
            return arm_error(404, "NotFound", f"Operation {op} not found.")
        if state["done"]:
            return FakeResponse.json({"status": "Succeeded"})
        return FakeResponse.json({"status": "InProgress"}, 200,
                                 {"Retry-After": str(self.retry_after)})

    def operation_result(self, req: FakeRequest, sub: str, op: str) -> FakeResponse:
        if (refused := self._refuse(req, sub)) is not None:
            return refused
        state = self._advance(op)
        if state is None:
            return arm_error(404, "NotFound", f"Operation {op} not found.")
        if state["done"]:
            return FakeResponse(204)
        return FakeResponse(202, b"", {"Retry-After": str(self.retry_after),
                                       "Location": f"{self.base_url}{req.path}?"
                                                   f"api-version={API_VERSION}"})

    # -- record sets ---------------------------------------------------------------------

    def list_rrsets(self, req: FakeRequest, sub: str, rg: str, zone: str) -> FakeResponse:
        if (refused := self._refuse(req, sub, rg)) is not None:
            return refused
        zone = unquote(zone).lower()
        if zone not in self.zones:
            return self._missing_zone(zone)
        items = [self._rrset_json(zone, k) for k in sorted(self.rrsets[zone])]
        return self._page(req, req.path, items,
                          lambda r: (r["name"], r["type"].rsplit("/", 1)[-1]))

    def _locate(self, req: FakeRequest, sub: str, rg: str, zone: str, rtype: str, name: str,
                ) -> tuple[str, tuple[str, str]] | FakeResponse:
        if (refused := self._refuse(req, sub, rg)) is not None:
            return refused
        zone = unquote(zone).lower()
        if zone not in self.zones:
            return self._missing_zone(zone, nested=True)
        if rtype.upper() not in TYPES:
            return arm_error(400, "BadRequest", f"The record type '{rtype}' is not supported.")
        return zone, (unquote(name).lower(), rtype.upper())

    def get_rrset(self, req: FakeRequest, sub: str, rg: str, zone: str, rtype: str, name: str,
                  ) -> FakeResponse:
        located = self._locate(req, sub, rg, zone, rtype, name)
        if isinstance(located, FakeResponse):
            return located
        zone, key = located
        if key not in self.rrsets[zone]:
            return arm_error(404, "NotFound", f"The resource record '{key[0]}' does not exist "
                             f"in resource group '{RESOURCE_GROUP}' of subscription "
                             f"'{SUBSCRIPTION}'.")
        return FakeResponse.json(self._rrset_json(zone, key))

    def put_rrset(self, req: FakeRequest, sub: str, rg: str, zone: str, rtype: str, name: str,
                  ) -> FakeResponse:
        located = self._locate(req, sub, rg, zone, rtype, name)
        if isinstance(located, FakeResponse):
            return located
        zone, key = located
        name, rtype = key
        sets = self.rrsets[zone]
        current = sets.get(key)
        if req.header("If-None-Match") == "*" and current is not None:
            return arm_error(412, "PreconditionFailed", f"The Record set {name} exists already "
                             "and hence cannot be created again.")
        if_match = req.header("If-Match")
        if if_match and (current is None or if_match not in ("*", current["etag"])):
            return arm_error(412, "PreconditionFailed", f"The Record set {name} has been "
                             "modified (etag mismatch)." if current else
                             f"The Record set {name} does not exist.")
        props = (req.json() or {}).get("properties")
        if not isinstance(props, dict):
            return arm_error(400, "BadRequest", "The request body must hold 'properties'.")
        ttl = props.get("TTL")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= 2147483647:
            return arm_error(400, "BadRequest", "The TTL property is required and must be a "
                             "non-negative integer.")
        try:
            check_records(rtype, props)
        except _Invalid as exc:
            return arm_error(400, "BadRequest", str(exc))
        if rtype == "SOA" and (name != "@" or current is None):
            return arm_error(400, "BadRequest", "SOA record sets can only be updated, at the "
                             "zone apex.")
        if rtype == "CNAME" and name == "@":
            return arm_error(400, "BadRequest", "A CNAME record set cannot be created at the "
                             "zone apex.")
        others = {t for (n, t) in sets if n == name and t != rtype}
        if (rtype == "CNAME" and others) or (rtype != "CNAME" and "CNAME" in others):
            return arm_error(409, "Conflict", f"The record set {name} of type {rtype} "
                             "conflicts with an existing CNAME record set or other data at the "
                             "same name.")
        records = {FIELDS[rtype]: props[FIELDS[rtype]]} if FIELDS[rtype] in props else {}
        sets[key] = {"TTL": ttl, "etag": str(uuid.uuid4()), "records": records,
                     "metadata": props.get("metadata") or {}}
        return FakeResponse.json(self._rrset_json(zone, key), 200 if current else 201)

    def delete_rrset(self, req: FakeRequest, sub: str, rg: str, zone: str, rtype: str,
                     name: str) -> FakeResponse:
        located = self._locate(req, sub, rg, zone, rtype, name)
        if isinstance(located, FakeResponse):
            return located
        zone, key = located
        current = self.rrsets[zone].get(key)
        if current is None:
            return FakeResponse(204)
        if key[1] == "SOA" or key == ("@", "NS"):
            return arm_error(400, "BadRequest", f"The {key[1]} record set at the zone apex "
                             "cannot be deleted.")
        if_match = req.header("If-Match")
        if if_match and if_match not in ("*", current["etag"]):
            return arm_error(412, "PreconditionFailed", f"The Record set {key[0]} has been "
                             "modified (etag mismatch).")
        del self.rrsets[zone][key]
        return FakeResponse(200)


# -- the server, once per test process ------------------------------------------------------

_lock = threading.Lock()
_state: dict[str, Any] = {}


def fixture_server(request: pytest.FixtureRequest) -> AzureDNSFixture:
    """The fixture server of this test process, started on first use."""
    with _lock:
        server: AzureDNSFixture | None = _state.get("server")
        if server is None:
            server = AzureDNSFixture()
            stack = contextlib.ExitStack()
            server.base_url = stack.enter_context(server.api.serving())
            request.config.add_cleanup(stack.close)
            _state["server"] = server
        return server


def make_driver(server: AzureDNSFixture, *, client_id: str = CLIENT_ID,
                client_secret: str = CLIENT_SECRET, tenant_id: str = TENANT,
                page_size: int = 5, requests: list[object] | None = None,
                **options: Any) -> AzureDNSDriver:
    """A driver pointed at the fixture server."""
    hooks = options.pop("hooks", None) or Hooks()
    if requests is not None:
        hooks.on_request.append(requests.append)
    return AzureDNSDriver(client_id, client_secret, tenant_id=tenant_id,
                          subscription_id=SUBSCRIPTION, resource_group=RESOURCE_GROUP,
                          endpoint=server.base_url, authority=server.base_url,
                          page_size=page_size, hooks=hooks, **options)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """The Azure DNS driver against the fixture server (pages of 5)."""
    server = fixture_server(request)
    requests: list[object] = []
    return DNSTarget(make_driver(server, requests=requests), requests=requests, resolver=None)

