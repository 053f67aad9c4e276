"""A stateful fixture of Rackspace Cloud Load Balancers (API v1.0) and
Rackspace Identity v2.0, written from their API references.

* Identity: ``POST /identity/v2.0/tokens`` with ``RAX-KSKEY:apiKeyCredentials``
  answers a token and a catalog whose ``cloudLoadBalancers`` service has an
  endpoint per region (``/v1.0/<tenant>`` on this server); wrong credentials
  answer 401.
* ``/loadbalancers`` (list by ``limit``/``marker``, ``name`` filter; create;
  show; update; delete), ``/loadbalancers/{id}/nodes`` (list, add, update,
  delete), ``/loadbalancers/{id}/healthmonitor`` (PUT).
* A new balancer is ``BUILD`` and a changed one ``PENDING_UPDATE`` for
  :attr:`RackspaceFake.hold` looks at it (counted in requests, not time);
  a change asked for meanwhile answers 422 "... is considered immutable."
  Faults are ``{"code", "message"}``, 404s ``{"itemNotFound": {...}}``.
"""

from __future__ import annotations

import itertools
import secrets
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from overcast.loadbalancer.base import Member
from overcast.runtime.policy import Hooks
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.lb_target import LBTarget

USERNAME = "overcast-rax"
API_KEY = "rax-api-key-3f9b1c7e0d"
TENANT = "123456"
BASE = r"/v1.0/(?P<tenant>\d+)/loadbalancers"


def fault(status: int, message: str) -> FakeResponse:
    return FakeResponse.json({"message": message, "code": status}, status)


class RackspaceFake:
    """Identity and Cloud Load Balancers state and routes."""

    def __init__(self) -> None:
        self.api = FakeAPI()
        self.base_url = ""
        self.tokens: set[str] = set()
        self.hold = 2
        self.balancers: dict[str, dict[str, Any]] = {}
        self.conflicts = 0
        self._ids = itertools.count(1000)
        route = self.api.route
        route("POST", r"/identity/v2.0/tokens")(self.issue_token)
        route("GET", BASE)(self._authed(self.list_balancers))
        route("POST", BASE)(self._authed(self.create_balancer))
        route("GET", BASE + r"/(?P<lb>\d+)")(self._authed(self.show_balancer))
        route("PUT", BASE + r"/(?P<lb>\d+)")(self._authed(self.update_balancer))
        route("DELETE", BASE + r"/(?P<lb>\d+)")(self._authed(self.delete_balancer))
        route("GET", BASE + r"/(?P<lb>\d+)/nodes")(self._authed(self.list_nodes))
        route("POST", BASE + r"/(?P<lb>\d+)/nodes")(self._authed(self.add_nodes))
        route("PUT", BASE + r"/(?P<lb>\d+)/nodes/(?P<node>\d+)")(self._authed(self.update_node))
        route("DELETE", BASE + r"/(?P<lb>\d+)/nodes/(?P<node>\d+)")(
            self._authed(self.delete_node))
        route("PUT", BASE + r"/(?P<lb>\d+)/healthmonitor")(self._authed(self.set_monitor))

    # -- Identity ------------------------------------------------------------------------------

    def issue_token(self, req: FakeRequest) -> FakeResponse:
        creds = ((req.json() or {}).get("auth") or {}).get("RAX-KSKEY:apiKeyCredentials") or {}
        if creds.get("username") != USERNAME or creds.get("apiKey") != API_KEY:
            return FakeResponse.json({"unauthorized": {"code": 401, "message": "Username or "
                                                       "api key is invalid."}}, 401)
        value = secrets.token_hex(16)
        self.tokens.add(value)
        host = f"http://{req.header('Host')}"
        expires = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 3600))
        catalog = [{"name": "cloudLoadBalancers", "type": "rax:load-balancer", "endpoints": [
            {"region": region, "tenantId": TENANT, "publicURL": f"{host}/v1.0/{TENANT}"}
            for region in ("DFW", "ORD")]},
            {"name": "cloudDNS", "type": "rax:dns", "endpoints": [
                {"tenantId": TENANT, "publicURL": f"{host}/dns/v1.0/{TENANT}"}]}]
        return FakeResponse.json({"access": {
            "token": {"id": value, "expires": expires, "tenant": {"id": TENANT}},
            "serviceCatalog": catalog, "user": {"name": USERNAME}}})

    def _authed(self, handler: Any) -> Any:
        def run(req: FakeRequest, tenant: str, **groups: str) -> FakeResponse:
            if req.header("X-Auth-Token") not in self.tokens:
                return FakeResponse.json({"unauthorized": {"code": 401, "message": "No "
                                                           "valid token"}}, 401)
            if tenant != TENANT:
                return fault(404, "tenant not found")
            return handler(req, **groups)

        return run

    # -- helpers -------------------------------------------------------------------------------

    def _find(self, lb: str) -> dict[str, Any] | None:
        return self.balancers.get(lb)

    @staticmethod
    def _missing(what: str) -> FakeResponse:
        return FakeResponse.json({"itemNotFound": {"message": f"{what} not found",
                                                   "code": 404}}, 404)

    def _look(self, item: dict[str, Any]) -> None:
        if item["status"] != "ACTIVE":
            item["_holds"] -= 1
            if item["_holds"] < 0:
                item["status"] = "ACTIVE"

    def _changing(self, item: dict[str, Any]) -> FakeResponse | None:
        if item["status"] != "ACTIVE":
            self.conflicts += 1
            return fault(422, f"Load Balancer '{item['id']}' has a status of "
                              f"'{item['status']}' and is considered immutable.")
        item["status"], item["_holds"] = "PENDING_UPDATE", self.hold
        return None

    def _public(self, item: dict[str, Any], *, nodes: bool = True) -> dict[str, Any]:
        shown = {k: v for k, v in item.items() if not k.startswith("_")}
        shown["nodeCount"] = len(item["nodes"])
        if not nodes:
            shown.pop("nodes")
            shown.pop("healthMonitor", None)
        return shown

    def _node(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if not body.get("address") or not body.get("port"):
            return None
        return {"id": next(self._ids), "address": body["address"], "port": body["port"],
                "condition": body.get("condition", "ENABLED"), "type": "PRIMARY",
                "weight": body.get("weight", 1), "status": "ONLINE"}

    # -- load balancers ----------------------------------------------------------------------------

    def list_balancers(self, req: FakeRequest) -> FakeResponse:
        items = sorted(self.balancers.values(), key=lambda b: b["id"])
        if req.arg("name") is not None:
            items = [b for b in items if b["name"] == req.arg("name")]
        marker = req.arg("marker")
        if marker is not None:
            items = [b for b in items if b["id"] > int(marker)]
        limit = int(req.arg("limit") or 100)
        shown = items[:limit]
        links = []
        if len(items) > limit:
            links.append({"href": f"{self.base_url}/v1.0/{TENANT}/loadbalancers?limit={limit}"
                                  f"&marker={shown[-1]['id']}", "rel": "next"})
        return FakeResponse.json({"loadBalancers": [self._public(b, nodes=False)
                                                    for b in shown], "links": links})

    def create_balancer(self, req: FakeRequest) -> FakeResponse:
        body = (req.json() or {}).get("loadBalancer") or {}
        for field in ("name", "port", "protocol", "virtualIps"):
            if not body.get(field):
                return fault(400, f"Validation Failure: Must provide {field}")
        nodes = [self._node(n) for n in body.get("nodes") or ()]
        if None in nodes:
            return fault(400, "Validation Failure: a node must have an address and a port")
        made_id = next(self._ids)
        made = {"id": made_id, "name": body["name"], "port": body["port"],
                "protocol": body["protocol"], "algorithm": body.get("algorithm", "RANDOM"),
                "status": "BUILD", "_holds": self.hold, "nodes": nodes,
                "virtualIps": [{"id": made_id, "address": f"198.51.100.{made_id % 250}",
                                "type": body["virtualIps"][0].get("type", "PUBLIC"),
                                "ipVersion": "IPV4"}],
                "created": {"time": "2026-12-04T00:00:00Z"}}
        self.balancers[str(made_id)] = made
        return FakeResponse.json({"loadBalancer": self._public(made)}, 202)

    def show_balancer(self, req: FakeRequest, lb: str) -> FakeResponse:
        item = self._find(lb)
        if item is None:
            return self._missing("Load balancer")
        self._look(item)
        return FakeResponse.json({"loadBalancer": self._public(item)})

    def update_balancer(self, req: FakeRequest, lb: str) -> FakeResponse:
        item = self._find(lb)
        if item is None:
            return self._missing("Load balancer")
        refused = self._changing(item)
        if refused is not None:
            return refused
        changes = (req.json() or {}).get("loadBalancer") or {}
        item.update({k: v for k, v in changes.items()
                     if k in ("name", "algorithm", "protocol", "port")})
        return FakeResponse(202)

    def delete_balancer(self, req: FakeRequest, lb: str) -> FakeResponse:
        item = self._find(lb)
        if item is None:
            return self._missing("Load balancer")
        refused = self._changing(item)
        if refused is not None:
            return refused
        del self.balancers[lb]
        return FakeResponse(202)

    # -- nodes ---------------------------------------------------------------------------------

    def list_nodes(self, req: FakeRequest, lb: str) -> FakeResponse:
        item = self._find(lb)
        if item is None:
            return self._missing("Load balancer")
        return FakeResponse.json({"nodes": item["nodes"]})

    def add_nodes(self, req: FakeRequest, lb: str) -> FakeResponse:
        item = self._find(lb)
        if item is None:
            return self._missing("Load balancer")
        nodes = [self._node(n) for n in (req.json() or {}).get("nodes") or ()]
        if not nodes or None in nodes:
            return fault(400, "Validation Failure: a node must have an address and a port")
        refused = self._changing(item)
        if refused is not None:
            return refused
        item["nodes"].extend(nodes)
        return FakeResponse.json({"nodes": nodes}, 202)

    def update_node(self, req: FakeRequest, lb: str, node: str) -> FakeResponse:
        item = self._find(lb)
        found = next((n for n in (item or {}).get("nodes", []) if str(n["id"]) == node), None)
        if item is None or found is None:
            return self._missing("Node")
        refused = self._changing(item)
        if refused is not None:
            return refused
        changes = (req.json() or {}).get("node") or {}
        found.update({k: v for k, v in changes.items() if k in ("condition", "weight")})
        return FakeResponse(202)

    def delete_node(self, req: FakeRequest, lb: str, node: str) -> FakeResponse:
        item = self._find(lb)
        found = next((n for n in (item or {}).get("nodes", []) if str(n["id"]) == node), None)
        if item is None or found is None:
            return self._missing("Node")
        refused = self._changing(item)
        if refused is not None:
            return refused
        item["nodes"].remove(found)
        return FakeResponse(202)

    def set_monitor(self, req: FakeRequest, lb: str) -> FakeResponse:
        item = self._find(lb)
        if item is None:
            return self._missing("Load balancer")
        refused = self._changing(item)
        if refused is not None:
            return refused
        item["healthMonitor"] = (req.json() or {}).get("healthMonitor")
        return FakeResponse(202)


_running: RackspaceFake | None = None


def serve(request: pytest.FixtureRequest) -> RackspaceFake:
    """The process's Rackspace fixture, started once."""
    global _running
    if _running is None:
        fake = RackspaceFake()
        serving: AbstractContextManager[str] = fake.api.serving()
        fake.base_url = serving.__enter__()
        request.config.add_cleanup(lambda: serving.__exit__(None, None, None))
        _running = fake
    return _running


def make_driver(request: pytest.FixtureRequest, **kwargs: Any) -> Any:
    """A Rackspace driver on the fixture (``kwargs`` override)."""
    from overcast.loadbalancer.drivers.rackspace import RackspaceLBDriver

    fake = serve(request)
    options: dict[str, Any] = {"auth_url": f"{fake.base_url}/identity/v2.0", "region": "ord",
                               "page_size": 2, "poll_interval": 0.001}
    options.update(kwargs)
    return RackspaceLBDriver(USERNAME, API_KEY, **options)


def lb_target(request: pytest.FixtureRequest, tmp_path: Path) -> LBTarget:
    """The conformance suite's target: Rackspace on the fixture, pages of 2."""
    requests: list[object] = []
    driver = make_driver(request, hooks=Hooks(on_request=[requests.append]))
    addresses = iter(range(1, 60000))

    def member() -> Member:
        n = next(addresses)
        return Member(None, f"10.2.{n // 250}.{n % 250 + 1}", 80)

    class Node:
        def __init__(self) -> None:
            self.id = f"node-{secrets.token_hex(4)}"
            self.public_ips = ["203.0.113.8"]
            self.private_ips: list[str] = []

    return LBTarget(driver=driver, member=member, node=Node, requests=requests, many=5,
                    missing_id="999999")
