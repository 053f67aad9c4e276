"""A stateful fixture of OpenStack Octavia (Load Balancer API v2), written
from its API reference, behind the OpenStack fixture's Keystone.

* ``/v2/lbaas/loadbalancers``, ``listeners``, ``pools``,
  ``pools/{id}/members`` and ``healthmonitors``: create, show, update, delete
  (a balancer with ``cascade=true`` and everything under it); listings page by
  ``limit`` and ``marker`` with ``<key>_links`` ``next`` links, and filter by
  ``name`` and ``loadbalancer_id``.
* Every change leaves its balancer ``PENDING_CREATE``/``PENDING_UPDATE`` for
  :attr:`OctaviaFake.hold` looks at it (counted in requests, not time); any
  change asked for meanwhile answers ``409`` "... is immutable and cannot be
  updated." as Octavia does. Errors are Octavia's ``faultcode``/``faultstring``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from overcast.loadbalancer.base import Member
from overcast.runtime.policy import Hooks
from servers.compute_openstack import INTERFACES
from servers.compute_openstack import PASSWORD
from servers.compute_openstack import PRIVATE_SUBNET
from servers.compute_openstack import PROJECT
from servers.compute_openstack import PROJECT_ID
from servers.compute_openstack import REGIONS
from servers.compute_openstack import USERNAME
from servers.compute_openstack import OpenStackFake
from servers.compute_openstack import unauthorized
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.lb_target import LBTarget

PREFIX = r"/(?P<_slug>r1|r2)/(?P<_iface>public|internal|admin)/load-balancer/v2/lbaas"
KINDS = {"loadbalancers": "loadbalancer", "listeners": "listener", "pools": "pool",
         "healthmonitors": "healthmonitor"}


def fault(status: int, message: str) -> FakeResponse:
    return FakeResponse.json({"faultcode": "Client" if status < 500 else "Server",
                              "faultstring": message, "debuginfo": None}, status)


class OctaviaFake(OpenStackFake):
    """Keystone (the OpenStack fixture's) and Octavia's state and routes."""

    def __init__(self) -> None:
        super().__init__()
        #: How many looks a balancer stays PENDING_* after a change.
        self.hold = 2
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        self.members: dict[str, dict[str, dict[str, Any]]] = {}
        self.conflicts = 0
        self._lb_routes()

    def _catalog(self, req: FakeRequest) -> list[dict[str, Any]]:
        catalog = super()._catalog(req)
        host = self._host(req)
        catalog.append({"type": "load-balancer", "name": "octavia", "id": "octavia0",
                        "endpoints": [
                            {"id": f"lb-{slug}-{iface}", "interface": iface, "region": region,
                             "region_id": region,
                             "url": f"{host}/{slug}/{iface}/load-balancer"}
                            for region, slug in REGIONS.items() for iface in INTERFACES]})
        return catalog

    # -- helpers -----------------------------------------------------------------------------

    def _authed(self, handler: Callable[..., FakeResponse]) -> Callable[..., FakeResponse]:
        def run(req: FakeRequest, _slug: str, _iface: str, **groups: str) -> FakeResponse:
            expires = self.tokens.get(req.header("X-Auth-Token") or "")
            if expires is None or time.time() >= expires:
                return unauthorized()
            return handler(req, **groups)

        return run

    def _page(self, req: FakeRequest, key: str, items: list[dict[str, Any]]) -> FakeResponse:
        for name in ("name", "loadbalancer_id"):
            wanted = req.arg(name)
            if wanted is not None:
                items = [i for i in items if i.get(name) == wanted]
        items.sort(key=lambda i: i["_seq"])
        marker = req.arg("marker")
        if marker is not None:
            ids = [i["id"] for i in items]
            if marker not in ids:
                return fault(404, f"Marker {marker} could not be found.")
            items = items[ids.index(marker) + 1:]
        limit = int(req.arg("limit") or 1000)
        shown = items[:limit]
        links = []
        if len(items) > limit:
            links.append({"rel": "next", "href": f"http://octavia/v2/lbaas/{key}?limit={limit}"
                                                 f"&marker={shown[-1]['id']}"})
        return FakeResponse.json({key: [self._public(i) for i in shown], f"{key}_links": links})

    @staticmethod
    def _public(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if not k.startswith("_")}

    def _lb(self, lb_id: str | None) -> dict[str, Any] | None:
        return self.objects["loadbalancers"].get(lb_id or "")

    def _look(self, lb: dict[str, Any]) -> None:
        if lb["provisioning_status"].startswith("PENDING"):
            lb["_holds"] -= 1
            if lb["_holds"] < 0:
                lb["provisioning_status"] = "ACTIVE"
                lb["operating_status"] = "ONLINE"

    def _changing(self, lb: dict[str, Any], status: str = "PENDING_UPDATE") -> FakeResponse | None:
        """409 if the balancer is immutable now; else make it pending."""
        if lb["provisioning_status"] != "ACTIVE":
            self.conflicts += 1
            return fault(409, f"Load Balancer {lb['id']} is immutable and cannot be updated.")
        lb["provisioning_status"], lb["_holds"] = status, self.hold
        return None

    def _new(self, **fields: Any) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "project_id": PROJECT_ID, "_seq": next(self._seq),
                "provisioning_status": "ACTIVE", "operating_status": "ONLINE",
                "admin_state_up": True, **fields}

    # -- routes ------------------------------------------------------------------------------

    def _lb_routes(self) -> None:
        route = self.api.route
        route("GET", PREFIX + r"/(?P<kind>loadbalancers|listeners|pools|healthmonitors)")(
            self._authed(self.list_objects))
        route("GET", PREFIX + r"/(?P<kind>loadbalancers|listeners|pools|healthmonitors)"
                              r"/(?P<oid>[^/]+)")(self._authed(self.show_object))
        route("POST", PREFIX + r"/(?P<kind>loadbalancers|listeners|pools|healthmonitors)")(
            self._authed(self.create_object))
        route("PUT", PREFIX + r"/(?P<kind>loadbalancers|listeners|pools)/(?P<oid>[^/]+)")(
            self._authed(self.update_object))
        route("DELETE", PREFIX + r"/(?P<kind>loadbalancers|listeners|pools|healthmonitors)"
                                 r"/(?P<oid>[^/]+)")(self._authed(self.delete_object))
        route("GET", PREFIX + r"/pools/(?P<pool>[^/]+)/members")(self._authed(self.list_members))
        route("POST", PREFIX + r"/pools/(?P<pool>[^/]+)/members")(
            self._authed(self.create_member))
        route("DELETE", PREFIX + r"/pools/(?P<pool>[^/]+)/members/(?P<mid>[^/]+)")(
            self._authed(self.delete_member))

    def list_objects(self, req: FakeRequest, kind: str) -> FakeResponse:
        return self._page(req, kind, list(self.objects[kind].values()))

    def show_object(self, req: FakeRequest, kind: str, oid: str) -> FakeResponse:
        item = self.objects[kind].get(oid)
        if item is None:
            return fault(404, f"{KINDS[kind]} {oid} could not be found.")
        if kind == "loadbalancers":
            self._look(item)
        return FakeResponse.json({KINDS[kind]: self._public(item)})

    def _owner(self, kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if kind == "loadbalancers":
            return None
        if kind == "pools" and "listener_id" in body:
            listener = self.objects["listeners"].get(body["listener_id"]) or {}
            return self._lb(listener.get("loadbalancer_id"))
        if kind == "healthmonitors":
            pool = self.objects["pools"].get(body.get("pool_id", "")) or {}
            return self._lb(pool.get("loadbalancer_id"))
        return self._lb(body.get("loadbalancer_id"))

    def create_object(self, req: FakeRequest, kind: str) -> FakeResponse:
        body = (req.json() or {}).get(KINDS[kind])
        if not isinstance(body, dict):
            return fault(400, f"Invalid input: no {KINDS[kind]} object")
        if kind == "loadbalancers":
            if not body.get("vip_subnet_id"):
                return fault(400, "Invalid input for field/attribute vip_subnet_id.")
            seq = next(self._seq)
            made = self._new(name=body.get("name", ""), vip_subnet_id=body["vip_subnet_id"],
                             vip_address=f"10.9.{seq // 250}.{seq % 250 + 1}", listeners=[],
                             pools=[], provisioning_status="PENDING_CREATE",
                             operating_status="OFFLINE", _holds=self.hold)
            self.objects[kind][made["id"]] = made
            return FakeResponse.json({"loadbalancer": self._public(made)}, 201)
        lb = self._owner(kind, body)
        if lb is None:
            return fault(404, "Load Balancer could not be found.")
        refused = self._changing(lb)
        if refused is not None:
            return refused
        made = self._new(**{**body, "loadbalancer_id": lb["id"]})
        if kind == "listeners":
            if any(self.objects["listeners"][i["id"]]["protocol_port"] == body.get(
                    "protocol_port") for i in lb["listeners"]):
                return fault(409, "Another Listener on this Load Balancer is already using "
                                  "protocol_port")
            lb["listeners"].append({"id": made["id"]})
        elif kind == "pools":
            lb["pools"].append({"id": made["id"]})
            self.members[made["id"]] = {}
            listener = self.objects["listeners"][body["listener_id"]]
            listener["default_pool_id"] = made["id"]
        self.objects[kind][made["id"]] = made
        return FakeResponse.json({KINDS[kind]: self._public(made)}, 201)

    def update_object(self, req: FakeRequest, kind: str, oid: str) -> FakeResponse:
        item = self.objects[kind].get(oid)
        if item is None:
            return fault(404, f"{KINDS[kind]} {oid} could not be found.")
        lb = item if kind == "loadbalancers" else self._lb(item.get("loadbalancer_id"))
        assert lb is not None
        refused = self._changing(lb)
        if refused is not None:
            return refused
        item.update((req.json() or {}).get(KINDS[kind]) or {})
        return FakeResponse.json({KINDS[kind]: self._public(item)})

    def delete_object(self, req: FakeRequest, kind: str, oid: str) -> FakeResponse:
        item = self.objects[kind].get(oid)
        if item is None:
            return fault(404, f"{KINDS[kind]} {oid} could not be found.")
        lb = item if kind == "loadbalancers" else self._lb(item.get("loadbalancer_id"))
        assert lb is not None
        refused = self._changing(lb, "PENDING_DELETE")
        if refused is not None:
            return refused
        if kind != "loadbalancers":
            del self.objects[kind][oid]
            return FakeResponse(204)
        if (lb["listeners"] or lb["pools"]) and req.arg("cascade") != "true":
            return fault(400, f"Cannot delete Load Balancer {oid} - it has children")
        for other in ("listeners", "pools", "healthmonitors"):
            for key in [k for k, v in self.objects[other].items()
                        if v.get("loadbalancer_id") == oid]:
                del self.objects[other][key]
                self.members.pop(key, None)
        del self.objects["loadbalancers"][oid]
        return FakeResponse(204)

    def list_members(self, req: FakeRequest, pool: str) -> FakeResponse:
        if pool not in self.members:
            return fault(404, f"Pool {pool} could not be found.")
        return self._page(req, "members", list(self.members[pool].values()))

    def create_member(self, req: FakeRequest, pool: str) -> FakeResponse:
        owner = self.objects["pools"].get(pool)
        if owner is None:
            return fault(404, f"Pool {pool} could not be found.")
        body = (req.json() or {}).get("member") or {}
        if not body.get("address") or not body.get("protocol_port"):
            return fault(400, "Invalid input for field/attribute address.")
        lb = self._lb(owner["loadbalancer_id"])
        assert lb is not None
        refused = self._changing(lb)
        if refused is not None:
            return refused
        monitored = any(m.get("pool_id") == pool
                        for m in self.objects["healthmonitors"].values())
        made = self._new(**{"weight": 1, "name": "", **body},
                         operating_status="ONLINE" if monitored else "NO_MONITOR")
        self.members[pool][made["id"]] = made
        return FakeResponse.json({"member": self._public(made)}, 201)

    def delete_member(self, req: FakeRequest, pool: str, mid: str) -> FakeResponse:
        if mid not in self.members.get(pool, {}):
            return fault(404, f"Member {mid} could not be found.")
        lb = self._lb(self.objects["pools"][pool]["loadbalancer_id"])
        assert lb is not None
        refused = self._changing(lb)
        if refused is not None:
            return refused
        del self.members[pool][mid]
        return FakeResponse(204)


_running: OctaviaFake | None = None


def serve(request: pytest.FixtureRequest) -> OctaviaFake:
    """The process's Octavia fixture, started once."""
    global _running
    if _running is None:
        fake = OctaviaFake()
        serving: AbstractContextManager[str] = fake.api.serving()
        fake.base_url = serving.__enter__()
        request.config.add_cleanup(lambda: serving.__exit__(None, None, None))
        _running = fake
    return _running


def make_driver(request: pytest.FixtureRequest, **kwargs: Any) -> Any:
    """An Octavia driver on the fixture (``kwargs`` override)."""
    from overcast.loadbalancer.drivers.octavia import OctaviaLBDriver

    fake = serve(request)
    options: dict[str, Any] = {"auth_url": f"{fake.base_url}/identity/v3", "project": PROJECT,
                               "region": "RegionOne", "page_size": 2,
                               "vip_subnet_id": PRIVATE_SUBNET, "poll_interval": 0.001}
    options.update(kwargs)
    return OctaviaLBDriver(USERNAME, PASSWORD, **options)


def lb_target(request: pytest.FixtureRequest, tmp_path: Path) -> LBTarget:
    """The conformance suite's target: Octavia on the fixture, pages of 2."""
    requests: list[object] = []
    driver = make_driver(request, hooks=Hooks(on_request=[requests.append]))
    addresses = iter(range(1, 60000))

    def member() -> Member:
        n = next(addresses)
        return Member(None, f"10.1.{n // 250}.{n % 250 + 1}", 80)

    class Node:
        def __init__(self) -> None:
            self.id = f"node-{uuid.uuid4().hex[:8]}"
            self.public_ips = ["203.0.113.7"]
            self.private_ips: list[str] = []

    return LBTarget(driver=driver, member=member, node=Node, requests=requests, many=5,
                    missing_id=str(uuid.uuid4()))
