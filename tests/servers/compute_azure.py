"""A stateful Azure Resource Manager fixture for compute (VMs on managed disks,
NICs, public IPs, virtual networks, disks, snapshots, sizes, marketplace
images, locations, resource groups), and the compute conformance factory.

No ARM runs on one machine, so this is written from Microsoft's REST
references ("Virtual Machines", "Virtual Machine Sizes", "Virtual Machine
Images", "Disks", "Snapshots", "Network Interfaces", "Public IP Addresses",
"Virtual Networks", "Subnets", "Subscriptions - List Locations", "Resource
Groups") and ARM's asynchronous-operation rules. The token endpoint, bearer
check, error shape and ``nextLink`` pages are every ARM fixture's
(:mod:`servers.azure_arm`). What it keeps of the API's behaviour:

* every call needs its resource provider's ``api-version`` (Compute
  2024-07-01, disks and snapshots 2024-03-02, Network 2024-05-01, resource
  groups 2021-04-01, locations 2022-12-01), else 400
  ``InvalidApiVersionParameter``.
* ``PUT`` of a VM, NIC, public IP, disk or snapshot answers 201 with
  ``Azure-AsyncOperation`` (or, with ``lro_mode = "location"``, only a
  ``Location``) and ``Retry-After: retry_after``; ``If-None-Match: *`` on one
  that exists is 412 ``PreconditionFailed``. A status URL answers
  ``InProgress`` ``lro_polls`` times, then ``Succeeded``; a ``Location`` URL
  answers 202 until then, then 200. ``POST .../start|restart|deallocate|
  powerOff`` answer 202 the same way; the VM changes when the operation
  ends. ``DELETE`` answers 202 (204 when there is nothing); a NIC attached to
  a VM, a public IP attached to a NIC and a disk attached to a VM refuse it.
* a new VM is ``Creating`` until its operation ends or it is observed twice
  (a GET or a listing), then running; its NIC is attached to it; its OS disk
  becomes a managed disk it manages. Public IPs are ``127.0.0.1``, private
  ones ``10.0.0.x``. ``?statusOnly=true`` lists the VMs' instance views;
  ``$expand=instanceView`` adds one to a GET.
* lists page ``page_size`` items with ``nextLink``.
* ``PATCH`` of a VM's ``storageProfile.dataDisks`` attaches (``createOption:
  Attach``) and detaches managed disks.

When :attr:`AzureComputeFixture.authorized_keys` names a file (the suite
sshd's ``AuthorizedKeysFile``), a VM's ``osProfile.linuxConfiguration.ssh.
publicKeys`` are appended to it when the VM starts running: only a key sent
the provider's way reaches the machine.

Tests arm failures with ``fixture.inject(...)`` (``after=True`` stores the
request's effect, then answers the failure: its answer is lost).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from overcast.compute.drivers.azure import AzureNodeDriver
from overcast.runtime.policy import Hooks
from servers.azure_arm import CLIENT_ID
from servers.azure_arm import CLIENT_SECRET
from servers.azure_arm import SUBSCRIPTION
from servers.azure_arm import TENANT
from servers.azure_arm import ArmIdentity
from servers.azure_arm import arm_error
from servers.azure_arm import arm_page
from servers.compute_target import ComputeTarget
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.fakeapi import Faults

RESOURCE_GROUP = "overcast-compute"
OTHER_GROUP = "overcast-other"
NETWORK = "overcast-vnet"
COMPUTE_API = "2024-07-01"
DISK_API = "2024-03-02"
NETWORK_API = "2024-05-01"
RESOURCES_API = "2021-04-01"
LOCATIONS_API = "2022-12-01"
LOCATIONS = {"eastus": "East US", "westeurope": "West Europe"}
SIZES = [
    {"name": "Standard_B1s", "numberOfCores": 1, "osDiskSizeInMB": 1047552,
     "resourceDiskSizeInMB": 4096, "memoryInMB": 1024, "maxDataDiskCount": 2},
    {"name": "Standard_D2s_v3", "numberOfCores": 2, "osDiskSizeInMB": 1047552,
     "resourceDiskSizeInMB": 16384, "memoryInMB": 8192, "maxDataDiskCount": 4},
    {"name": "Standard_Fixture_v9", "numberOfCores": 2, "osDiskSizeInMB": 1047552,
     "resourceDiskSizeInMB": 0, "memoryInMB": 4096, "maxDataDiskCount": 4},
]
IMAGES = {
    "Canonical": {"0001-com-ubuntu-server-jammy": {
        "22_04-lts-gen2": ["22.04.202401010", "22.04.202402020"]}},
    "Debian": {"debian-12": {"12": ["0.20240101.1"]}},
}
SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<rg>[^/]+)"
SCOPE = SUB + r"(?:/resourceGroups/(?P<rg>[^/]+))?"
COMPUTE = "/providers/Microsoft.Compute"
NET = "/providers/Microsoft.Network"
#: Older api-versions a resource provider still serves (those Apache Libcloud
#: 3.9.1 sends for VMs, instance views, NICs and public IPs, for the benchmark).
ALSO_SUPPORTED = {COMPUTE_API: ("2021-11-01", "2015-06-15"),
                  NETWORK_API: ("2018-06-01", "2019-06-01")}
KINDS = {  # kind -> (resource type, api-version)
    "vm": ("Microsoft.Compute/virtualMachines", COMPUTE_API),
    "nic": ("Microsoft.Network/networkInterfaces", NETWORK_API),
    "ip": ("Microsoft.Network/publicIPAddresses", NETWORK_API),
    "disk": ("Microsoft.Compute/disks", DISK_API),
    "snapshot": ("Microsoft.Compute/snapshots", DISK_API),
}
PATHS = {"vm": f"{COMPUTE}/virtualMachines", "nic": f"{NET}/networkInterfaces",
         "ip": f"{NET}/publicIPAddresses", "disk": f"{COMPUTE}/disks",
         "snapshot": f"{COMPUTE}/snapshots"}


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())


def rid(group: str, kind: str, name: str) -> str:
    """A resource's ARM id."""
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}{PATHS[kind]}/{name}"


def not_found(kind: str, name: str, group: str) -> FakeResponse:
    return arm_error(404, "ResourceNotFound", f"The Resource '{KINDS[kind][0]}/{name}' under "
                     f"resource group '{group}' was not found. For more details please go to "
                     "https://aka.ms/ARMResourceNotFoundFix")


def bad_request(message: str, code: str = "InvalidParameter") -> FakeResponse:
    return arm_error(400, code, message)


@dataclass
class AzureComputeFixture(ArmIdentity, Faults):
    """The fixture server's state and routes."""

    page_size: int = 2
    retry_after: int = 0
    lro_polls: int = 1
    lro_mode: str = "async"  # or "location": only a Location header
    authorized_keys: Path | None = None
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    addresses: Any = field(default_factory=lambda: itertools.count(4))

    def __post_init__(self) -> None:
        for group in (RESOURCE_GROUP, OTHER_GROUP):
            self.groups[group] = {"id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}",
                                  "name": group, "type": "Microsoft.Resources/resourceGroups",
                                  "location": "eastus",
                                  "properties": {"provisioningState": "Succeeded"}}
        for kind in KINDS:
            self.resources[kind] = {}
        net_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}" \
                 f"{NET}/virtualNetworks/{NETWORK}"
        self.networks[NETWORK] = {
            "id": net_id, "name": NETWORK, "type": "Microsoft.Network/virtualNetworks",
            "location": "eastus",
            "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                           "provisioningState": "Succeeded",
                           "subnets": [{"id": f"{net_id}/subnets/default", "name": "default",
                                        "properties": {"addressPrefix": "10.0.0.0/24",
                                                       "provisioningState": "Succeeded"}}]}}
        self._routes()

    # -- knobs and views for tests -------------------------------------------------------

    def items(self, kind: str) -> list[dict[str, Any]]:
        """The stored resources of a kind."""
        with self.api.lock:
            return list(self.resources[kind].values())

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        with self.api.lock:
            return self.resources[kind].get(rid(RESOURCE_GROUP, kind, name).lower())

    def seed(self, count: int, prefix: str = "seed") -> None:
        """``count`` running VMs, each with a NIC and a public IP, made directly
        (no requests): what a large account looks like to a listing."""
        subnet = self.networks[NETWORK]["properties"]["subnets"][0]["id"]
        with self.api.lock:
            for n in range(count):
                name = f"{prefix}-{n:04d}"
                ip = self._store("ip", RESOURCE_GROUP, f"{name}-ip", {"location": "eastus"}, {
                    "provisioningState": "Succeeded", "publicIPAllocationMethod": "Static",
                    "ipAddress": "127.0.0.1"})
                nic = self._store("nic", RESOURCE_GROUP, f"{name}-nic", {"location": "eastus"}, {
                    "provisioningState": "Succeeded", "ipConfigurations": [{
                        "name": "ipconfig1", "properties": {
                            "subnet": {"id": subnet}, "publicIPAddress": {"id": ip["id"]},
                            "privateIPAddress": f"10.0.{n // 250}.{n % 250 + 4}"}}]})
                vm = self._store("vm", RESOURCE_GROUP, name, {"location": "eastus"}, {
                    "vmId": str(uuid.uuid4()), "hardwareProfile": {"vmSize": "Standard_B1s"},
                    "storageProfile": {"imageReference": {
                        "publisher": "Debian", "offer": "debian-12", "sku": "12",
                        "version": "latest"}, "osDisk": {"managedDisk": {"id": ""}},
                        "dataDisks": []},
                    "osProfile": {"computerName": name, "adminUsername": "azureuser"},
                    "networkProfile": {"networkInterfaces": [{"id": nic["id"]}]},
                    "provisioningState": "Succeeded", "timeCreated": stamp()})
                vm.update(_power="running", _observed=2, _custom=None)
                nic["properties"]["virtualMachine"] = {"id": vm["id"]}

    # -- plumbing ------------------------------------------------------------------------

    def _route(self, method: str, pattern: str, version: str) -> Callable[[Callable[..., Any]],
                                                                           Any]:
        def register(handler: Callable[..., FakeResponse]) -> Any:
            def wrapped(req: FakeRequest, **groups: str) -> FakeResponse:
                fault = self.take_fault(req)
                if fault is not None and not fault.after:
                    return fault.response
                if (refused := self.bearer_refusal(req)) is not None:
                    return refused
                asked = req.arg("api-version")
                if asked is None:
                    return arm_error(400, "MissingApiVersionParameter", "The api-version query "
                                     "parameter (?api-version=) is required for all requests.")
                if asked != version and asked not in ALSO_SUPPORTED.get(version, ()):
                    return arm_error(400, "InvalidApiVersionParameter", f"The api-version "
                                     f"'{asked}' is invalid. The supported versions are "
                                     f"'{version}'.")
                if groups.get("sub") != SUBSCRIPTION:
                    return arm_error(404, "SubscriptionNotFound", f"The subscription "
                                     f"'{groups.get('sub')}' could not be found.")
                if groups.get("rg") is not None and groups["rg"] not in self.groups:
                    return arm_error(404, "ResourceGroupNotFound", f"Resource group "
                                     f"'{groups['rg']}' could not be found.")
                answer = handler(req, **{k: unquote(v) for k, v in groups.items()
                                         if v is not None and k != "sub"})
                return fault.response if fault is not None else answer

            self.api.route(method, pattern)(wrapped)
            return handler

        return register

    def _refuse_put(self, kind: str, rg: str, name: str, req: FakeRequest,
                    body: dict[str, Any]) -> FakeResponse | None:
        """412 for ``If-None-Match: *`` on a resource that exists; 400 for an
        unknown location."""
        if self._get(kind, rg, name) is not None and req.header("If-None-Match") == "*":
            return arm_error(412, "PreconditionFailed", "The condition specified using HTTP "
                             "conditional header(s) is not met.")
        if body.get("location") not in LOCATIONS:
            return bad_request(f"The location '{body.get('location')}' is invalid.",
                               "LocationRequired")
        return None

    def _page(self, req: FakeRequest, items: list[dict[str, Any]], version: str
              ) -> FakeResponse:
        extra = "&statusOnly=true" if req.arg("statusOnly") == "true" else ""
        return arm_page(req, self.base_url, sorted(items, key=lambda i: i["id"].lower()),
                        lambda i: (i["id"].lower(),), self.page_size,
                        f"api-version={version}{extra}")

    def _in_scope(self, kind: str, rg: str | None) -> list[dict[str, Any]]:
        return [r for r in self.resources[kind].values()
                if rg is None or r["_group"].lower() == rg.lower()]

    @staticmethod
    def _public(resource: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in resource.items() if not k.startswith("_")}

    def _operation(self, provider: str, location: str, done: Callable[[], None],
                   status: int, body: dict[str, Any] | None = None) -> FakeResponse:
        """An answer starting a long-running operation that ends after ``lro_polls`` polls."""
        op = uuid.uuid4().hex
        self.operations[op] = {"polls": self.lro_polls, "done": done, "finished": False}
        base = f"{self.base_url}/subscriptions/{SUBSCRIPTION}/providers/{provider}/locations/" \
               f"{location}"
        version = NETWORK_API if provider == "Microsoft.Network" else COMPUTE_API
        headers = {"Retry-After": str(self.retry_after), "x-ms-request-id": str(uuid.uuid4()),
                   "Location": f"{base}/operationResults/{op}?api-version={version}"}
        if self.lro_mode == "async":
            headers["Azure-AsyncOperation"] = f"{base}/operations/{op}?api-version={version}"
            if status == 201:
                del headers["Location"]  # a PUT names only its status URL
        if body is None:
            return FakeResponse(status, b"", headers)
        return FakeResponse.json(body, status, headers)

    def _advance(self, op: str) -> dict[str, Any] | None:
        state = self.operations.get(op)
        if state is None:
            return None
        if not state["finished"]:
            if state["polls"] > 0:
                state["polls"] -= 1
            else:
                state["finished"] = True
                state["done"]()
        return state

    # -- resources -----------------------------------------------------------------------

    def _store(self, kind: str, group: str, name: str, body: dict[str, Any],
               properties: dict[str, Any]) -> dict[str, Any]:
        resource_id = rid(group, kind, name)
        resource = {"id": resource_id, "name": name, "type": KINDS[kind][0],
                    "location": body.get("location"), "tags": dict(body.get("tags") or {}),
                    "properties": properties, "_group": group}
        if body.get("sku"):
            resource["sku"] = body["sku"]
        self.resources[kind][resource_id.lower()] = resource
        return resource

    def _get(self, kind: str, group: str, name: str) -> dict[str, Any] | None:
        return self.resources[kind].get(rid(group, kind, name).lower())

    def _lookup(self, resource_id: Any, kind: str) -> dict[str, Any] | None:
        return self.resources[kind].get(str(resource_id or "").lower())

    def _subnet(self, subnet_id: Any) -> dict[str, Any] | None:
        for network in self.networks.values():
            for subnet in network["properties"]["subnets"]:
                if subnet["id"].lower() == str(subnet_id or "").lower():
                    return subnet  # type: ignore[no-any-return]
        return None

    def _boot(self, vm: dict[str, Any]) -> None:
        """The VM's creation ends: running, its keys installed."""
        if vm["_power"] is not None:
            return
        vm["properties"]["provisioningState"] = "Succeeded"
        vm["_power"] = "running"
        keys = ((vm["properties"]["osProfile"].get("linuxConfiguration") or {}).get("ssh") or {}
                ).get("publicKeys") or []
        if self.authorized_keys is not None:
            with self.authorized_keys.open("a", encoding="utf-8") as f:
                for key in keys:
                    f.write(f"{key['keyData'].strip()}\n")

    def _observe(self, vm: dict[str, Any]) -> None:
        vm["_observed"] += 1
        if vm["_observed"] >= 2:
            self._boot(vm)

    @staticmethod
    def _statuses(vm: dict[str, Any]) -> list[dict[str, str]]:
        provisioning = vm["properties"]["provisioningState"].lower()
        statuses = [{"code": f"ProvisioningState/{provisioning}", "level": "Info",
                     "displayStatus": f"Provisioning {provisioning}"}]
        if vm["_power"] is not None:
            statuses.append({"code": f"PowerState/{vm['_power']}", "level": "Info",
                             "displayStatus": f"VM {vm['_power']}"})
        return statuses

    def _vm_view(self, vm: dict[str, Any], expand: bool = False) -> dict[str, Any]:
        view = self._public(vm)
        if expand:
            view["properties"] = {**vm["properties"],
                                  "instanceView": {"statuses": self._statuses(vm)}}
        return view

    # -- routes --------------------------------------------------------------------------

    def _routes(self) -> None:
        route = self._route
        self.api.route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token")(self.token)

        @route("GET", SUB + "/locations", LOCATIONS_API)
        def list_locations(req: FakeRequest) -> FakeResponse:
            items = [{"id": f"/subscriptions/{SUBSCRIPTION}/locations/{name}", "name": name,
                      "displayName": display, "regionalDisplayName": f"(US) {display}",
                      "metadata": {"regionType": "Physical", "geography": "United States"}}
                     for name, display in LOCATIONS.items()]
            items.append({"id": f"/subscriptions/{SUBSCRIPTION}/locations/unitedstates",
                          "name": "unitedstates", "displayName": "United States",
                          "metadata": {"regionType": "Logical"}})
            return self._page(req, items, LOCATIONS_API)

        @route("GET", SUB + "/resourcegroups", RESOURCES_API)
        def list_groups(req: FakeRequest) -> FakeResponse:
            return self._page(req, list(self.groups.values()), RESOURCES_API)

        where = SUB + COMPUTE + r"/locations/(?P<loc>[^/]+)"

        @route("GET", where + "/vmSizes", COMPUTE_API)
        def list_sizes(req: FakeRequest, loc: str) -> FakeResponse:
            if loc not in LOCATIONS:
                return arm_error(404, "NoRegisteredProviderFound", f"No registered resource "
                                 f"provider found for location '{loc}'.")
            return FakeResponse.json({"value": SIZES})

        def names(found: Any, loc: str) -> FakeResponse:
            if found is None:
                return arm_error(404, "NotFound", "Artifact: VMImage was not found.")
            return FakeResponse.json([{"name": n, "location": loc, "id": f"/{n}"}
                                      for n in found])

        images = where + "/publishers"

        @route("GET", images, COMPUTE_API)
        def publishers(req: FakeRequest, loc: str) -> FakeResponse:
            return names(IMAGES, loc)

        offers = images + r"/(?P<pub>[^/]+)/artifacttypes/vmimage/offers"

        @route("GET", offers, COMPUTE_API)
        def list_offers(req: FakeRequest, loc: str, pub: str) -> FakeResponse:
            return names(IMAGES.get(pub), loc)

        @route("GET", offers + r"/(?P<offer>[^/]+)/skus", COMPUTE_API)
        def list_skus(req: FakeRequest, loc: str, pub: str, offer: str) -> FakeResponse:
            return names(IMAGES.get(pub, {}).get(offer), loc)

        versions = offers + r"/(?P<offer>[^/]+)/skus/(?P<sku>[^/]+)/versions"

        @route("GET", versions, COMPUTE_API)
        def list_versions(req: FakeRequest, loc: str, pub: str, offer: str,
                          sku: str) -> FakeResponse:
            return names(IMAGES.get(pub, {}).get(offer, {}).get(sku), loc)

        @route("GET", versions + r"/(?P<version>[^/]+)", COMPUTE_API)
        def get_version(req: FakeRequest, loc: str, pub: str, offer: str, sku: str,
                        version: str) -> FakeResponse:
            if version not in IMAGES.get(pub, {}).get(offer, {}).get(sku, []):
                return arm_error(404, "NotFound", "Artifact: VMImage was not found.")
            return FakeResponse.json({"name": version, "location": loc,
                                      "properties": {"osImage": {"operatingSystem": "Linux"},
                                                     "hyperVGeneration": "V2"}})

        for provider, version in (("Microsoft.Compute", COMPUTE_API),
                                  ("Microsoft.Network", NETWORK_API)):
            ops = SUB + f"/providers/{provider}" + r"/locations/(?P<loc>[^/]+)"

            @route("GET", ops + r"/operations/(?P<op>[^/]+)", version)
            def status(req: FakeRequest, loc: str, op: str) -> FakeResponse:
                state = self._advance(op)
                if state is None:
                    return arm_error(404, "NotFound", f"Operation {op} not found.")
                if state["finished"]:
                    return FakeResponse.json({"name": op, "status": "Succeeded",
                                              "startTime": stamp(), "endTime": stamp()})
                return FakeResponse.json({"name": op, "status": "InProgress",
                                          "startTime": stamp()}, 200,
                                         {"Retry-After": str(self.retry_after)})

            @route("GET", ops + r"/operationResults/(?P<op>[^/]+)", version)
            def result(req: FakeRequest, loc: str, op: str) -> FakeResponse:
                state = self._advance(op)
                if state is None:
                    return arm_error(404, "NotFound", f"Operation {op} not found.")
                if state["finished"]:
                    return FakeResponse(200, b"")
                return FakeResponse(202, b"", {"Retry-After": str(self.retry_after),
                                               "Location": f"{self.base_url}{req.path}?"
                                                           f"api-version={req.arg('api-version')}"})

        self._network_routes()
        self._vm_routes()
        self._disk_routes()

    def _network_routes(self) -> None:
        route = self._route
        nets = SCOPE + NET + "/virtualNetworks"

        @route("GET", nets, NETWORK_API)
        def list_networks(req: FakeRequest, rg: str | None = None) -> FakeResponse:
            found = [n for n in self.networks.values()
                     if rg is None or f"/resourceGroups/{rg}/" in n["id"]]
            return self._page(req, found, NETWORK_API)

        @route("GET", RG + NET + r"/virtualNetworks/(?P<net>[^/]+)/subnets", NETWORK_API)
        def list_subnets(req: FakeRequest, rg: str, net: str) -> FakeResponse:
            network = self.networks.get(net)
            if network is None:
                return arm_error(404, "ResourceNotFound", f"The Resource "
                                 f"'Microsoft.Network/virtualNetworks/{net}' under resource "
                                 f"group '{rg}' was not found.")
            return self._page(req, list(network["properties"]["subnets"]), NETWORK_API)

        for kind in ("nic", "ip"):
            self._listing_routes(kind)

        @route("PUT", RG + NET + r"/publicIPAddresses/(?P<name>[^/]+)", NETWORK_API)
        def put_ip(req: FakeRequest, rg: str, name: str) -> FakeResponse:
            body = req.json() or {}
            if (refused := self._refuse_put("ip", rg, name, req, body)) is not None:
                return refused
            method = (body.get("properties") or {}).get("publicIPAllocationMethod", "Dynamic")
            resource = self._store("ip", rg, name, body, {
                "provisioningState": "Succeeded", "publicIPAllocationMethod": method,
                "publicIPAddressVersion": "IPv4", "idleTimeoutInMinutes": 4,
                **({"ipAddress": "127.0.0.1"} if method == "Static" else {})})
            return self._operation("Microsoft.Network", body["location"], lambda: None, 201,
                                   self._public(resource))

        @route("PUT", RG + NET + r"/networkInterfaces/(?P<name>[^/]+)", NETWORK_API)
        def put_nic(req: FakeRequest, rg: str, name: str) -> FakeResponse:
            body = req.json() or {}
            if (refused := self._refuse_put("nic", rg, name, req, body)) is not None:
                return refused
            configs = (body.get("properties") or {}).get("ipConfigurations") or []
            if not configs:
                return bad_request("Network interface must have at least one IP configuration.")
            stored = []
            for config in configs:
                props = config.get("properties") or {}
                if self._subnet((props.get("subnet") or {}).get("id")) is None:
                    return bad_request(f"Subnet {(props.get('subnet') or {}).get('id')} "
                                       "referenced by the network interface does not exist.",
                                       "InvalidResourceReference")
                public = props.get("publicIPAddress")
                if public:
                    ip = self._lookup(public.get("id"), "ip")
                    if ip is None:
                        return bad_request(f"Resource {public.get('id')} referenced by the "
                                           "network interface was not found.",
                                           "InvalidResourceReference")
                    if ip["properties"].get("ipConfiguration"):
                        return bad_request("Public IP address is in use.", "PublicIPAddressInUse")
                stored.append({"name": config.get("name", "ipconfig1"),
                               "id": f"{rid(rg, 'nic', name)}/ipConfigurations/"
                                     f"{config.get('name', 'ipconfig1')}",
                               "properties": {**props, "privateIPAddress":
                                              f"10.0.0.{next(self.addresses)}",
                                              "provisioningState": "Succeeded"}})
            resource = self._store("nic", rg, name, body, {"provisioningState": "Succeeded",
                                                           "ipConfigurations": stored})
            for config in stored:
                public = config["properties"].get("publicIPAddress")
                if public:
                    self._lookup(public["id"], "ip")["properties"]["ipConfiguration"] = {  # type: ignore[index]
                        "id": config["id"]}
            return self._operation("Microsoft.Network", body["location"], lambda: None, 201,
                                   self._public(resource))

        @route("DELETE", RG + NET + r"/networkInterfaces/(?P<name>[^/]+)", NETWORK_API)
        def delete_nic(req: FakeRequest, rg: str, name: str) -> FakeResponse:
            nic = self._get("nic", rg, name)
            if nic is None:
                return FakeResponse(204)
            if nic["properties"].get("virtualMachine"):
                return bad_request(f"Network Interface {nic['id']} is used by existing resource "
                                   f"{nic['properties']['virtualMachine']['id']}.", "NicInUse")

            def done() -> None:
                self.resources["nic"].pop(nic["id"].lower(), None)
                for config in nic["properties"]["ipConfigurations"]:
                    ip = self._lookup((config["properties"].get("publicIPAddress") or {}).get(
                        "id"), "ip")
                    if ip is not None:
                        ip["properties"].pop("ipConfiguration", None)

            return self._operation("Microsoft.Network", nic["location"], done, 202)

        @route("DELETE", RG + NET + r"/publicIPAddresses/(?P<name>[^/]+)", NETWORK_API)
        def delete_ip(req: FakeRequest, rg: str, name: str) -> FakeResponse:
            ip = self._get("ip", rg, name)
            if ip is None:
                return FakeResponse(204)
            if ip["properties"].get("ipConfiguration"):
                return bad_request(f"Public IP address {ip['id']} can not be deleted since it "
                                   "is still allocated to resource "
                                   f"{ip['properties']['ipConfiguration']['id']}.",
                                   "PublicIPAddressCannotBeDeleted")
            return self._operation("Microsoft.Network", ip["location"],
                                   lambda: self.resources["ip"].pop(ip["id"].lower(), None), 202)

    def _listing_routes(self, kind: str) -> None:
        provider_path = PATHS[kind]
        version = KINDS[kind][1]

        @self._route("GET", SCOPE + provider_path, version)
        def list_all(req: FakeRequest, rg: str | None = None) -> FakeResponse:
            if kind == "vm":
                status_only = req.arg("statusOnly") == "true"
                found = self._in_scope("vm", rg)
                for vm in found:
                    self._observe(vm)
                if status_only:
                    views = [{"id": vm["id"], "name": vm["name"], "type": vm["type"],
                              "location": vm["location"],
                              "properties": {"instanceView": {
                                  "statuses": self._statuses(vm)}}} for vm in found]
                else:
                    views = [self._vm_view(vm) for vm in found]
                return self._page(req, views, version)
            return self._page(req, [self._public(r) for r in self._in_scope(kind, rg)], version)

        @self._route("GET", RG + provider_path + r"/(?P<name>[^/]+)", version)
        def get_one(req: FakeRequest, rg: str, name: str) -> FakeResponse:
            found = self._get(kind, rg, name)
            if found is None:
                return not_found(kind, name, rg)
            if kind == "vm":
                self._observe(found)
                return FakeResponse.json(self._vm_view(found,
                                                       req.arg("$expand") == "instanceView"))
            return FakeResponse.json(self._public(found))

    def _vm_routes(self) -> None:
        route = self._route
        self._listing_routes("vm")
        vm_path = RG + COMPUTE + r"/virtualMachines/(?P<name>[^/]+)"

        @route("PUT", vm_path, COMPUTE_API)
        def put_vm(req: FakeRequest, rg: str, name: str) -> FakeResponse:
            body = req.json() or {}
            if (refused := self._refuse_put("vm", rg, name, req, body)) is not None:
                return refused
            if self._get("vm", rg, name) is not None:
                return bad_request("This fixture does not update VMs with PUT.")
            props = body.get("properties") or {}
            location = body.get("location")
            size = (props.get("hardwareProfile") or {}).get("vmSize")
            if size not in {s["name"] for s in SIZES}:
                return bad_request(f"The requested VM size {size} is not available in the "
                                   f"current region.", "InvalidParameter")
            storage = props.get("storageProfile") or {}
            ref = storage.get("imageReference") or {}
            versions = IMAGES.get(ref.get("publisher"), {}).get(ref.get("offer"), {}).get(
                ref.get("sku"), [])
            if not versions or (ref.get("version") != "latest"
                                and ref.get("version") not in versions):
                return arm_error(404, "PlatformImageNotFound", "The platform image "
                                 f"'{ref.get('publisher')}:{ref.get('offer')}:{ref.get('sku')}:"
                                 f"{ref.get('version')}' is not available.")
            os_profile = dict(props.get("osProfile") or {})
            linux = os_profile.get("linuxConfiguration") or {}
            keys = (linux.get("ssh") or {}).get("publicKeys") or []
            if not os_profile.get("adminUsername"):
                return bad_request("Required parameter 'adminUsername' is missing (null).")
            if not keys and not os_profile.get("adminPassword"):
                return bad_request("Required parameter 'adminPassword' is missing (null).")
            nics = [self._lookup(n.get("id"), "nic") for n in
                    (props.get("networkProfile") or {}).get("networkInterfaces") or []]
            if not nics or any(n is None for n in nics):
                return bad_request("A network interface referenced by the VM was not found.",
                                   "InvalidResourceReference")
            for nic in nics:
                assert nic is not None
                if nic["properties"].get("virtualMachine"):
                    return bad_request(f"Network interface {nic['id']} is already attached "
                                       "to a VM.", "NicInUse")
            os_disk = dict(storage.get("osDisk") or {})
            disk_name = f"{name}_OsDisk_1_{uuid.uuid4().hex}"
            disk = self._store("disk", rg, disk_name, {"location": location}, {
                "diskSizeGB": os_disk.get("diskSizeGB") or 30, "diskState": "Attached",
                "osType": "Linux", "provisioningState": "Succeeded",
                "timeCreated": stamp(), "creationData": {"createOption": "FromImage"}})
            os_disk.update(name=disk_name, osType="Linux", diskSizeGB=disk["properties"][
                "diskSizeGB"], managedDisk={**(os_disk.get("managedDisk") or {}),
                                            "id": disk["id"]})
            os_profile.pop("adminPassword", None)
            os_profile.pop("customData", None)
            vm = self._store("vm", rg, name, body, {
                "vmId": str(uuid.uuid4()), "hardwareProfile": {"vmSize": size},
                "storageProfile": {"imageReference": {**ref, "exactVersion": versions[-1]},
                                   "osDisk": os_disk, "dataDisks": []},
                "osProfile": os_profile, "networkProfile": props["networkProfile"],
                "provisioningState": "Creating", "timeCreated": stamp()})
            vm.update(_power=None, _observed=0, _custom=(props.get("osProfile") or {}).get(
                "customData"))
            disk["managedBy"] = vm["id"]
            for nic in nics:
                assert nic is not None
                nic["properties"]["virtualMachine"] = {"id": vm["id"]}
            return self._operation("Microsoft.Compute", location, lambda: self._boot(vm), 201,
                                   self._vm_view(vm))

        @route("GET", vm_path + r"/(?i:instanceView)", COMPUTE_API)
        def instance_view(req: FakeRequest, rg: str, name: str) -> FakeResponse:
            vm = self._get("vm", rg, name)
            if vm is None:
                return not_found("vm", name, rg)
            return FakeResponse.json({"statuses": self._statuses(vm)})

        @route("PATCH", vm_path, COMPUTE_API)
        def patch_vm(req: FakeRequest, rg: str, name: str) -> FakeResponse:
            vm = self._get("vm", rg, name)
            if vm is None:
                return not_found("vm", name, rg)
            wanted = (((req.json() or {}).get("properties") or {}).get("storageProfile") or {}
                      ).get("dataDisks")
            if wanted is not None:
                before = {d["managedDisk"]["id"].lower() for d in
                          vm["properties"]["storageProfile"]["dataDisks"]}
                luns: set[int] = set()
                for item in wanted:
                    disk = self._lookup((item.get("managedDisk") or {}).get("id"), "disk")
                    if disk is None:
                        return bad_request("A managed disk referenced by the VM was not found.",
                                           "InvalidResourceReference")
                    if disk.get("managedBy") and disk["managedBy"].lower() != vm["id"].lower():
                        return arm_error(409, "OperationNotAllowed", f"Disk {disk['name']} is "
                                         "attached to another VM.")
                    if item.get("lun") in luns:
                        return bad_request("Duplicate LUN.", "InvalidParameter")
                    luns.add(item.get("lun"))
                after = {str(d["managedDisk"]["id"]).lower() for d in wanted}
                for disk_id in after:
                    disk = self._lookup(disk_id, "disk")
                    assert disk is not None
                    disk["managedBy"] = vm["id"]
                    disk["properties"]["diskState"] = "Attached"
                for disk_id in before - after:
                    disk = self._lookup(disk_id, "disk")
                    if disk is not None:
                        disk.pop("managedBy", None)
                        disk["properties"]["diskState"] = "Unattached"
                vm["properties"]["storageProfile"]["dataDisks"] = [
                    {"lun": d["lun"], "createOption": "Attach", "caching": "None",
                     "name": self._lookup(d["managedDisk"]["id"], "disk")["name"],  # type: ignore[index]
                     "managedDisk": {"id": self._lookup(d["managedDisk"]["id"],
                                                        "disk")["id"]}}  # type: ignore[index]
                    for d in wanted]
            return self._operation("Microsoft.Compute", vm["location"], lambda: None, 200,
                                   self._vm_view(vm))

        @route("DELETE", vm_path, COMPUTE_API)
        def delete_vm(req: FakeRequest, rg: str, name: str) -> FakeResponse:
            vm = self._get("vm", rg, name)
            if vm is None:
                return FakeResponse(204)
            vm["properties"]["provisioningState"] = "Deleting"

            def done() -> None:
                self.resources["vm"].pop(vm["id"].lower(), None)
                for ref in vm["properties"]["networkProfile"]["networkInterfaces"]:
                    nic = self._lookup(ref["id"], "nic")
                    if nic is not None:
                        nic["properties"].pop("virtualMachine", None)
                storage = vm["properties"]["storageProfile"]
                for item in [storage["osDisk"], *storage["dataDisks"]]:
                    disk = self._lookup(item["managedDisk"]["id"], "disk")
                    if disk is None:
                        continue
                    if item is storage["osDisk"] and item.get("deleteOption") == "Delete":
                        self.resources["disk"].pop(disk["id"].lower(), None)
                    else:
                        disk.pop("managedBy", None)
                        disk["properties"]["diskState"] = "Unattached"

            return self._operation("Microsoft.Compute", vm["location"], done, 202)

        changes = {"start": "running", "restart": "running", "deallocate": "deallocated",
                   "powerOff": "stopped"}
        passing = {"start": "starting", "restart": "running", "deallocate": "deallocating",
                   "powerOff": "stopping"}

        @route("POST", vm_path + r"/(?P<action>start|restart|deallocate|powerOff)", COMPUTE_API)
        def vm_action(req: FakeRequest, rg: str, name: str, action: str) -> FakeResponse:
            vm = self._get("vm", rg, name)
            if vm is None:
                return not_found("vm", name, rg)
            if vm["_power"] is None:
                return arm_error(409, "OperationNotAllowed", "Operation is not allowed while "
                                 "the VM is being created.")
            if action == "restart" and vm["_power"] != "running":
                return arm_error(409, "OperationNotAllowed", "Cannot restart a VM that is "
                                 f"{vm['_power']}.")
            vm["_power"] = passing[action]

            def done() -> None:
                vm["_power"] = changes[action]

            return self._operation("Microsoft.Compute", vm["location"], done, 202)

    def _disk_routes(self) -> None:
        route = self._route
        for kind in ("disk", "snapshot"):
            self._listing_routes(kind)

        @route("PUT", RG + COMPUTE + r"/(?P<what>disks|snapshots)/(?P<name>[^/]+)", DISK_API)
        def put_disk(req: FakeRequest, rg: str, what: str, name: str) -> FakeResponse:
            kind = "disk" if what == "disks" else "snapshot"
            body = req.json() or {}
            if (refused := self._refuse_put(kind, rg, name, req, body)) is not None:
                return refused
            props = body.get("properties") or {}
            creation = props.get("creationData") or {}
            size = props.get("diskSizeGB")
            if creation.get("createOption") == "Copy":
                source = self._lookup(creation.get("sourceResourceId"), "disk") or \
                    self._lookup(creation.get("sourceResourceId"), "snapshot")
                if source is None:
                    return bad_request("The source resource was not found.",
                                       "InvalidResourceReference")
                size = size or source["properties"]["diskSizeGB"]
            elif creation.get("createOption") != "Empty" or kind != "disk":
                return bad_request("createOption must be Empty or Copy.")
            if not isinstance(size, int) or size < 1:
                return bad_request("diskSizeGB must be a positive integer.")
            stored = {"diskSizeGB": size, "creationData": creation, "provisioningState":
                      "Succeeded", "timeCreated": stamp()}
            if kind == "disk":
                stored["diskState"] = "Unattached"
            resource = self._store(kind, rg, name, body, stored)
            return self._operation("Microsoft.Compute", body["location"], lambda: None, 201,
                                   self._public(resource))

        @route("DELETE", RG + COMPUTE + r"/(?P<what>disks|snapshots)/(?P<name>[^/]+)", DISK_API)
        def delete_disk(req: FakeRequest, rg: str, what: str, name: str) -> FakeResponse:
            kind = "disk" if what == "disks" else "snapshot"
            found = self._get(kind, rg, name)
            if found is None:
                return FakeResponse(204)
            if found.get("managedBy"):
                return arm_error(409, "OperationNotAllowed", f"Disk {name} is attached to VM "
                                 f"{found['managedBy']}.")
            return self._operation("Microsoft.Compute", found["location"],
                                   lambda: self.resources[kind].pop(found["id"].lower(), None),
                                   202)


_lock = threading.Lock()
_shared: dict[str, AzureComputeFixture] = {}


@contextlib.contextmanager
def serve(**settings: Any) -> Any:
    """A fresh fixture server; yields it (``base_url`` set)."""
    fixture = AzureComputeFixture(**settings)
    with fixture.api.serving() as base_url:
        fixture.base_url = base_url
        yield fixture


def shared_server(request: pytest.FixtureRequest) -> AzureComputeFixture:
    """This test process's fixture server, started on first use."""
    with _lock:
        fixture = _shared.get("server")
        if fixture is None:
            context = serve()
            fixture = context.__enter__()
            request.config.add_cleanup(lambda: context.__exit__(None, None, None))
            _shared["server"] = fixture
        return fixture


def make_driver(fixture: AzureComputeFixture, sent: list[object] | None = None,
                **options: Any) -> AzureNodeDriver:
    """The driver on the fixture (client credentials, quick polls)."""
    hooks = options.pop("hooks", None) or Hooks()
    if sent is not None:
        hooks.on_request.append(sent.append)
    options.setdefault("resource_group", RESOURCE_GROUP)
    options.setdefault("region", "eastus")
    options.setdefault("poll_interval", 0.01)
    return AzureNodeDriver(TENANT, SUBSCRIPTION, CLIENT_ID, CLIENT_SECRET,
                           endpoint=fixture.base_url, authority=fixture.base_url, hooks=hooks,
                           **options)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeTarget:
    """The Azure driver against this process's fixture server (pages of 2)."""
    fixture = shared_server(request)
    sent: list[object] = []
    return ComputeTarget(
        driver=make_driver(fixture, sent), requests=sent, page_size=fixture.page_size,
        wait_period=0.01, create_kwargs={"ex_network": NETWORK, "ex_public_ip": True,
                                         "auth": _AUTH},
        pick_image=lambda images: next(i for i in images if i.id.startswith("Canonical:")),
    )


def _auth() -> Any:
    from overcast.compute.models import NodeAuthSSHKey

    return NodeAuthSSHKey("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9ok"
                          "Wi0dh2l9GKJl conformance")


_AUTH = _auth()
