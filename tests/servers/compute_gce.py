"""A stateful fixture server of the Compute Engine API (v1), and the compute
conformance factory.

No Compute Engine server runs on one machine, so this is written from the
Compute Engine API v1 reference (instances, disks, snapshots, images,
machineTypes, zones, addresses, firewalls, zoneOperations,
regionOperations, globalOperations, and the aggregatedList of each). Auth,
errors and pageToken paging are every Google fixture's
(:mod:`servers.google_api`). What it keeps of the API's behaviour:

* Mutations answer an ``Operation`` (``compute#operation``) of a zone, a
  region or the project, ``PENDING``; each ``GET`` of it moves it on
  (``RUNNING``, then ``DONE``), and only when it becomes ``DONE`` does its
  effect happen (an event, not time). :meth:`GCEState.fail_next` makes the
  next operation of a type end ``DONE`` with ``error.errors[]`` (and
  ``httpErrorStatusCode``) and no effect.
* Inserts take ``requestId``: a second insert with the same one answers the
  first one's operation and makes nothing.
* ``instances.insert`` needs ``name``, a ``machineType`` of the zone and a
  boot disk whose ``initializeParams.sourceImage`` names an image (of any
  project); the name is unique per zone (409 ``alreadyExists`` at once).
  The boot disk is made with the instance (deleted with it if
  ``autoDelete``). A new instance is ``STAGING`` when its operation is done
  and ``RUNNING`` from its next observation, with ``natIP`` 127.0.0.1;
  then the ``ssh-keys`` lines of its metadata (``user:key``) are appended to
  :attr:`GCEState.authorized_keys` (the suite sshd's ``AuthorizedKeysFile``)
  when that names a file: a key reaches the machine only the provider's way.
* ``reset``, ``start``, ``stop`` (``TERMINATED``), ``delete``; ``setTags``,
  ``setMetadata`` and ``setLabels`` need the current fingerprint (412
  ``conditionNotMet`` otherwise); ``attachDisk``/``detachDisk?deviceName=``.
* Paths take a resource's name or its numeric id. Lists page by
  ``maxResults``/``pageToken``; the aggregated ones key items by
  ``zones/<zone>`` or ``regions/<region>`` and accept ``filter`` of the form
  ``name = x`` or ``id = n``.
* Disks: ``sizeGb``, from ``sourceImage`` or ``sourceSnapshot``; deleting one
  in use is 400 ``resourceInUseByAnotherResource``; ``createSnapshot`` makes a
  global snapshot.
* Networks: the project's auto-mode ``default`` network, read only; disk
  types ``pd-standard``, ``pd-balanced``, ``pd-ssd`` (``GET`` one).
* Images live in the project and in the public projects ``debian-cloud``
  and ``ubuntu-os-cloud`` (other projects have none); ``.../images/family/
  {family}`` is a family's newest image that is not deprecated.

Tests arm failures with ``state.inject(...)`` (``after=True`` stores the
create, then answers 503: its answer is lost).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from overcast.compute.drivers.gce import GCENodeDriver
from overcast.runtime.policy import Hooks
from servers.compute_target import ComputeTarget
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.fakeapi import Faults
from servers.fakeapi import GuardedAPI
from servers.google_api import GoogleAuth
from servers.google_api import google_error
from servers.google_api import page
from servers.google_metadata import MetadataFixture
from servers.google_metadata import serve as serve_metadata

PROJECT = "overcast-test"
ZONE = "us-central1-a"
ZONES = ("us-central1-a", "us-central1-b", "europe-west1-b")
PREFIX = "/compute/v1"
#: Machine types: name -> (guestCpus, memoryMb, isSharedCpu).
MACHINE_TYPES = {
    "e2-micro": (2, 1024, True), "e2-small": (2, 2048, True), "e2-medium": (2, 4096, True),
    "e2-standard-2": (2, 8192, False), "n2-standard-2": (2, 8192, False),
    "n2d-standard-2": (2, 8192, False), "c2-standard-4": (4, 16384, False),
    "m1-ultramem-40": (40, 961 * 1024, False),
}
DISK_TYPES = ("pd-balanced", "pd-ssd", "pd-standard")
PUBLIC_IMAGES = {
    "debian-cloud": [("debian-11-bullseye-v20240110", "debian-11", True),
                     ("debian-12-bookworm-v20250101", "debian-12", False)],
    "ubuntu-os-cloud": [("ubuntu-2204-jammy-v20250101", "ubuntu-2204-lts", False)],
}
API = PREFIX + r"/projects/(?P<project>[^/]+)"
ZONED = API + r"/zones/(?P<zone>[^/]+)"
REGIONED = API + r"/regions/(?P<region>[^/]+)"


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def _last(link: Any) -> str:
    return str(link).rstrip("/").rsplit("/", 1)[-1]


def not_found(what: str) -> FakeResponse:
    return google_error(404, "notFound", f"The resource '{what}' was not found", "NOT_FOUND")


def invalid(message: str) -> FakeResponse:
    return google_error(400, "invalid", message, "INVALID_ARGUMENT")


@dataclass
class GCEState(Faults):
    """What the server holds; tests read and arm it."""

    base_url: str = ""
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4_000_000_001))
    instances: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    disks: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    addresses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    firewalls: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: what each operation does when it becomes DONE
    effects: dict[str, Callable[[], None]] = field(default_factory=dict)
    by_request_id: dict[str, str] = field(default_factory=dict)
    #: operationType -> (errors, httpErrorStatusCode) for the next such operation
    failures: dict[str, tuple[list[dict[str, str]], int]] = field(default_factory=dict)
    seen: dict[int, int] = field(default_factory=dict)
    #: The sshd ``AuthorizedKeysFile`` ``ssh-keys`` lines are appended to.
    authorized_keys: Path | None = None
    #: How many GETs an operation takes to become DONE.
    polls_to_done: int = 2

    def fail_next(self, operation_type: str, code: str, message: str, status: int = 400) -> None:
        """Make the next operation of ``operation_type`` (``insert``, ``stop``,
        ...) end DONE with this error and no effect."""
        self.failures[operation_type] = ([{"code": code, "message": message}], status)

    def link(self, *parts: str) -> str:
        return "/".join((self.base_url + PREFIX, "projects", PROJECT, *parts))


class GCEServer(GuardedAPI):
    """The Compute Engine routes over one :class:`GCEState` and a :class:`GoogleAuth`."""

    def __init__(self) -> None:
        super().__init__()
        self.state = GCEState()
        self.auth = GoogleAuth(scopes_allowed=frozenset({
            "https://www.googleapis.com/auth/compute",
            "https://www.googleapis.com/auth/cloud-platform"}))
        self.metadata: MetadataFixture | None = None
        self.metadata_url = ""
        self._images()
        self._routes()

    def denied(self, request: FakeRequest) -> FakeResponse | None:
        if request.path == "/token":
            return None
        refused = self.auth.denied(request)
        if refused is not None:
            return refused
        parts = request.path.split("/")
        if len(parts) > 4 and parts[3] == "projects" and parts[4] != PROJECT and not (
                len(parts) > 6 and parts[5:7] == ["global", "images"]):
            return google_error(403, "forbidden", f"Required 'compute.instances.list' "
                                f"permission for 'projects/{parts[4]}'", "PERMISSION_DENIED")
        return None

    # -- helpers ---------------------------------------------------------------------------

    def _images(self) -> None:
        state = self.state
        own = {"overcast-base": {"name": "overcast-base", "family": "overcast",
                                 "deprecated": None}}
        catalogue = {PROJECT: [(n, v["family"], False) for n, v in own.items()],
                     **PUBLIC_IMAGES}
        for project, images in catalogue.items():
            state.images[project] = {}
            for name, family, deprecated in images:
                image = {"kind": "compute#image", "id": str(next(state.ids)), "name": name,
                         "family": family, "status": "READY", "diskSizeGb": "10",
                         "creationTimestamp": stamp(), "labels": {},
                         "selfLink": "", "_project": project}
                if deprecated:
                    image["deprecated"] = {"state": "DEPRECATED"}
                state.images[project][name] = image

    def _image_view(self, image: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in image.items() if not k.startswith("_")}
        view["selfLink"] = (f"{self.state.base_url}{PREFIX}/projects/{image['_project']}"
                            f"/global/images/{image['name']}")
        return view

    def _source_image(self, ref: Any) -> dict[str, Any] | None:
        ref = str(ref or "")
        project = ref.split("projects/", 1)[1].split("/", 1)[0] if "projects/" in ref \
            else PROJECT
        return self.state.images.get(project, {}).get(_last(ref))

    @staticmethod
    def _find(table: dict[Any, dict[str, Any]], ref: str,
              scope: Callable[[Any], bool] = lambda key: True) -> dict[str, Any] | None:
        for key, item in table.items():
            if scope(key) and ref in (item["name"], item["id"]):
                return item
        return None

    def _list(self, req: FakeRequest, items: list[dict[str, Any]], kind: str,
              key: Callable[[dict[str, Any]], Any] = lambda i: (i["name"],)) -> FakeResponse:
        paged = page(sorted(items, key=key), key, req, default=500)
        if isinstance(paged, FakeResponse):
            return paged
        chunk, token = paged
        body: dict[str, Any] = {"kind": kind, "items": chunk}
        if token:
            body["nextPageToken"] = token
        return FakeResponse.json(body)

    def _aggregated(self, req: FakeRequest, scoped: list[tuple[str, dict[str, Any]]],
                    key: str, kind: str) -> FakeResponse:
        wanted = req.arg("filter")
        if wanted:
            field_name, _, value = (part.strip() for part in wanted.partition("="))
            scoped = [(s, i) for s, i in scoped if str(i.get(field_name)) == value]
        ordered = sorted(scoped, key=lambda si: (si[0], si[1]["name"]))
        paged = page([{"scope": s, "item": i} for s, i in ordered],
                     lambda e: (e["scope"], e["item"]["name"]), req, default=500)
        if isinstance(paged, FakeResponse):
            return paged
        chunk, token = paged
        items: dict[str, Any] = {}
        for entry in chunk:
            items.setdefault(entry["scope"], {key: []})[key].append(entry["item"])
        for zone in ZONES:  # scopes with nothing carry a warning, as the API's do
            items.setdefault(f"zones/{zone}", {"warning": {
                "code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope"}})
        body: dict[str, Any] = {"kind": kind, "items": items}
        if token:
            body["nextPageToken"] = token
        return FakeResponse.json(body)

    def _taken(self, req: FakeRequest, exists: bool, what: str) -> FakeResponse | None:
        """409 ``alreadyExists`` for an insert of a name in use, unless it repeats
        an earlier insert's ``requestId`` (answered with that insert's operation)."""
        request_id = req.arg("requestId")
        if not exists or (request_id and request_id in self.state.by_request_id):
            return None
        return google_error(409, "alreadyExists", f"The resource 'projects/{PROJECT}/{what}' "
                            "already exists", "ALREADY_EXISTS")

    # -- operations ---------------------------------------------------------------------------

    def _operation(self, req: FakeRequest, kind: str, target: str, scope: tuple[str, str] | None,
                   effect: Callable[[], None]) -> FakeResponse:
        """A new operation (or, for a repeated ``requestId``, the first one's)."""
        state = self.state
        request_id = req.arg("requestId")
        if request_id and request_id in state.by_request_id:
            return FakeResponse.json(self._op_view(state.operations[state.by_request_id[
                request_id]]))
        number = next(state.ids)
        name = f"operation-{number}-{kind}"
        op: dict[str, Any] = {"kind": "compute#operation", "id": str(number), "name": name,
                              "operationType": kind, "targetLink": target, "status": "PENDING",
                              "progress": 0, "insertTime": stamp(), "_polls": 0}
        if scope is not None:
            where, value = scope
            op[where] = state.link(f"{where}s", value)
            op["selfLink"] = state.link(f"{where}s", value, "operations", name)
        else:
            op["selfLink"] = state.link("global", "operations", name)
        if request_id:
            state.by_request_id[request_id] = name
        failure = state.failures.pop(kind, None)
        if failure is not None:
            op["_failure"] = failure
        state.operations[name] = op
        state.effects[name] = effect
        return FakeResponse.json(self._op_view(op))

    @staticmethod
    def _op_view(op: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in op.items() if not k.startswith("_")}

    def _advance(self, op: dict[str, Any]) -> None:
        if op["status"] == "DONE":
            return
        op["_polls"] += 1
        if op["_polls"] < self.state.polls_to_done:
            op["status"] = "RUNNING"
            op["progress"] = 50
            return
        op["status"] = "DONE"
        op["progress"] = 100
        op["endTime"] = stamp()
        failure = op.pop("_failure", None)
        if failure is not None:
            errors, status = failure
            op["error"] = {"errors": errors}
            op["httpErrorStatusCode"] = status
            op["httpErrorMessage"] = {400: "BAD REQUEST", 403: "FORBIDDEN",
                                      409: "CONFLICT"}.get(status, "ERROR")
            return
        self.state.effects.pop(op["name"])()

    def get_operation(self, req: FakeRequest, project: str, name: str, **scope: str
                      ) -> FakeResponse:
        op = self.state.operations.get(name)
        if op is None:
            return not_found(f"projects/{project}/operations/{name}")
        self._advance(op)
        return FakeResponse.json(self._op_view(op))

    # -- instances --------------------------------------------------------------------------

    def _observe(self, instance: dict[str, Any]) -> dict[str, Any]:
        """An instance as a GET or a listing shows it: ``STAGING`` turns
        ``RUNNING`` on its next observation (and its keys reach the sshd)."""
        count = self.state.seen.get(int(instance["id"]), 0) + 1
        self.state.seen[int(instance["id"])] = count
        if instance["status"] == "STAGING" and count >= 2:
            self._boot(instance)
        return {k: v for k, v in instance.items() if not k.startswith("_")}

    def _boot(self, instance: dict[str, Any]) -> None:
        instance["status"] = "RUNNING"
        for nic in instance["networkInterfaces"]:
            for access in nic.get("accessConfigs") or []:
                access.setdefault("natIP", "127.0.0.1")
        path = self.state.authorized_keys
        if path is not None and not instance.get("_keys_installed"):
            instance["_keys_installed"] = True
            for item in (instance.get("metadata") or {}).get("items") or []:
                if item["key"] == "ssh-keys":
                    for line in str(item["value"]).splitlines():
                        _user, _, key = line.partition(":")
                        if key.strip():
                            with open(path, "a", encoding="utf-8") as f:
                                f.write(key.strip() + "\n")

    def _instance(self, zone: str, ref: str) -> dict[str, Any] | None:
        return self._find(self.state.instances, ref, lambda key: key[0] == zone)

    def _new_instance(self, zone: str, body: Any) -> dict[str, Any] | FakeResponse:
        state = self.state
        if not isinstance(body, dict):
            return invalid("Invalid value for field 'resource'")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return google_error(400, "required", "Required field 'resource.name' not specified",
                                "INVALID_ARGUMENT")
        machine = _last(body.get("machineType") or "")
        if machine not in MACHINE_TYPES:
            return invalid(f"Invalid value for field 'resource.machineType': "
                           f"'{body.get('machineType')}'. Machine type with name '{machine}' "
                           f"does not exist in zone '{zone}'.")
        disks = body.get("disks") or []
        boot = next((d for d in disks if d.get("boot")), None)
        if boot is None:
            return invalid("Invalid value for field 'resource.disks': no boot disk")
        image = self._source_image((boot.get("initializeParams") or {}).get("sourceImage"))
        if image is None:
            return invalid(f"Invalid value for field 'resource.disks[0].initializeParams."
                           f"sourceImage': '{(boot.get('initializeParams') or {})}'. The "
                           f"referenced image resource cannot be found.")
        if self._instance(zone, name) is not None:
            return google_error(409, "alreadyExists", f"The resource 'projects/{PROJECT}/zones/"
                                f"{zone}/instances/{name}' already exists", "ALREADY_EXISTS")
        metadata = body.get("metadata") or {}
        items = metadata.get("items") or []
        nics = []
        for i, nic in enumerate(body.get("networkInterfaces") or [{}]):
            made = {"network": state.link("global", "networks", _last(nic.get("network")
                                                                      or "default")),
                    "networkIP": nic.get("networkIP") or f"10.128.0.{next(state.ids) % 250 + 2}",
                    "name": f"nic{i}"}
            if nic.get("accessConfigs"):
                made["accessConfigs"] = [{"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                                          "name": a.get("name") or "External NAT",
                                          **({"natIP": a["natIP"]} if a.get("natIP") else {})}
                                         for a in nic["accessConfigs"]]
            nics.append(made)
        labels = dict(body.get("labels") or {})
        tags = list((body.get("tags") or {}).get("items") or [])
        return {
            "kind": "compute#instance", "id": str(next(state.ids)), "name": name,
            "zone": state.link("zones", zone),
            "machineType": state.link("zones", zone, "machineTypes", machine),
            "status": "PROVISIONING", "creationTimestamp": stamp(),
            "description": body.get("description", ""),
            "tags": {"items": tags, "fingerprint": _fingerprint(tags)},
            "metadata": {"kind": "compute#metadata", "items": items,
                         "fingerprint": _fingerprint(items)},
            "labels": labels, "labelFingerprint": _fingerprint(labels),
            "networkInterfaces": nics, "disks": [],
            "serviceAccounts": list(body.get("serviceAccounts") or []),
            "scheduling": body.get("scheduling") or {"automaticRestart": True,
                                                     "onHostMaintenance": "MIGRATE",
                                                     "preemptible": False},
            "canIpForward": bool(body.get("canIpForward", False)),
            "selfLink": state.link("zones", zone, "instances", name),
            "_boot": boot, "_image": image,
        }

    def _create_instance(self, zone: str, instance: dict[str, Any]) -> None:
        state = self.state
        boot = instance.pop("_boot")
        image = instance.pop("_image")
        params = boot.get("initializeParams") or {}
        disk_name = params.get("diskName") or instance["name"]
        disk = self._make_disk(zone, {"name": disk_name,
                                      "sizeGb": params.get("diskSizeGb") or image["diskSizeGb"],
                                      "type": params.get("diskType") or "pd-standard"},
                               image=image)
        disk["users"] = [instance["selfLink"]]
        state.disks[(zone, disk_name)] = disk
        instance["disks"] = [{"kind": "compute#attachedDisk", "boot": True,
                              "autoDelete": bool(boot.get("autoDelete", True)),
                              "deviceName": disk_name, "index": 0, "mode": "READ_WRITE",
                              "source": disk["selfLink"], "type": "PERSISTENT"}]
        instance["status"] = "STAGING"
        state.instances[(zone, instance["name"])] = instance

    def _make_disk(self, zone: str, body: dict[str, Any],
                   image: dict[str, Any] | None = None,
                   snapshot: dict[str, Any] | None = None) -> dict[str, Any]:
        state = self.state
        size = str(body.get("sizeGb") or (snapshot or {}).get("diskSizeGb")
                   or (image or {}).get("diskSizeGb") or "10")
        disk = {"kind": "compute#disk", "id": str(next(state.ids)), "name": body["name"],
                "sizeGb": size, "zone": state.link("zones", zone), "status": "READY",
                "type": state.link("zones", zone, "diskTypes", _last(body.get("type")
                                                                     or "pd-standard")),
                "users": [], "labels": dict(body.get("labels") or {}),
                "creationTimestamp": stamp(),
                "selfLink": state.link("zones", zone, "disks", body["name"])}
        if image is not None:
            disk["sourceImage"] = self._image_view(image)["selfLink"]
        if snapshot is not None:
            disk["sourceSnapshot"] = snapshot["selfLink"]
        return disk

    # -- routes -------------------------------------------------------------------------------

    def _routes(self) -> None:
        state = self.state
        route = self.route
        route("POST", r"/token")(self.auth.token)
        for scope in (ZONED, REGIONED, API + "/global"):
            route("GET", scope + r"/operations/(?P<name>[^/]+)")(self.get_operation)

        @route("GET", API + r"/zones")
        def list_zones(req: FakeRequest, project: str) -> FakeResponse:
            return self._list(req, [{"kind": "compute#zone", "id": str(2000 + i), "name": z,
                                     "status": "UP", "region": state.link("regions",
                                                                          z.rsplit("-", 1)[0]),
                                     "selfLink": state.link("zones", z)}
                                    for i, z in enumerate(ZONES)], "compute#zoneList")

        @route("GET", ZONED)
        def get_zone(req: FakeRequest, project: str, zone: str) -> FakeResponse:
            if zone not in ZONES:
                return not_found(f"projects/{project}/zones/{zone}")
            return FakeResponse.json({"kind": "compute#zone", "id": str(2000 + ZONES.index(zone)),
                                      "name": zone, "status": "UP",
                                      "region": state.link("regions", zone.rsplit("-", 1)[0]),
                                      "selfLink": state.link("zones", zone)})

        def machine_type(zone: str, name: str) -> dict[str, Any]:
            cpus, memory, shared = MACHINE_TYPES[name]
            return {"kind": "compute#machineType",
                    "id": str(9000 + sorted(MACHINE_TYPES).index(name)), "name": name,
                    "guestCpus": cpus, "memoryMb": memory, "isSharedCpu": shared,
                    "imageSpaceGb": 0, "maximumPersistentDisks": 128,
                    "zone": zone, "description": f"{cpus} vCPUs, {memory / 1024:g} GB RAM",
                    "selfLink": state.link("zones", zone, "machineTypes", name)}

        @route("GET", ZONED + r"/machineTypes")
        def list_machine_types(req: FakeRequest, project: str, zone: str) -> FakeResponse:
            if zone not in ZONES:
                return not_found(f"projects/{project}/zones/{zone}")
            return self._list(req, [machine_type(zone, n) for n in MACHINE_TYPES],
                              "compute#machineTypeList")

        @route("GET", ZONED + r"/machineTypes/(?P<name>[^/]+)")
        def get_machine_type(req: FakeRequest, project: str, zone: str, name: str
                             ) -> FakeResponse:
            if zone not in ZONES or name not in MACHINE_TYPES:
                return not_found(f"projects/{project}/zones/{zone}/machineTypes/{name}")
            return FakeResponse.json(machine_type(zone, name))

        @route("GET", API + r"/aggregated/machineTypes")
        def aggregated_machine_types(req: FakeRequest, project: str) -> FakeResponse:
            return self._aggregated(req, [(f"zones/{z}", machine_type(z, n)) for z in ZONES
                                          for n in MACHINE_TYPES], "machineTypes",
                                    "compute#machineTypeAggregatedList")

        # networks (read only: the project's auto-mode "default") ---------------------------

        def network(name: str) -> dict[str, Any]:
            return {"kind": "compute#network", "id": "7000000000000000001", "name": name,
                    "autoCreateSubnetworks": True, "routingConfig": {"routingMode": "REGIONAL"},
                    "subnetworks": [state.link("regions", z.rsplit("-", 1)[0], "subnetworks",
                                               name) for z in ZONES],
                    "creationTimestamp": stamp(),
                    "selfLink": state.link("global", "networks", name)}

        @route("GET", API + r"/global/networks")
        def list_networks(req: FakeRequest, project: str) -> FakeResponse:
            return self._list(req, [network("default")], "compute#networkList")

        @route("GET", API + r"/global/networks/(?P<name>[^/]+)")
        def get_network(req: FakeRequest, project: str, name: str) -> FakeResponse:
            if name != "default":
                return not_found(f"projects/{project}/global/networks/{name}")
            return FakeResponse.json(network(name))

        @route("GET", ZONED + r"/diskTypes/(?P<name>[^/]+)")
        def get_disk_type(req: FakeRequest, project: str, zone: str, name: str
                          ) -> FakeResponse:
            if zone not in ZONES or name not in DISK_TYPES:
                return not_found(f"projects/{project}/zones/{zone}/diskTypes/{name}")
            return FakeResponse.json({"kind": "compute#diskType", "id": str(
                30000 + DISK_TYPES.index(name)), "name": name, "zone": state.link("zones", zone),
                "validDiskSize": "10GB-65536GB", "defaultDiskSizeGb": "10",
                "selfLink": state.link("zones", zone, "diskTypes", name)})

        # images ------------------------------------------------------------------------------

        @route("GET", API + r"/global/images")
        def list_images(req: FakeRequest, project: str) -> FakeResponse:
            return self._list(req, [self._image_view(i) for i in
                                    state.images.get(project, {}).values()], "compute#imageList")

        @route("GET", API + r"/global/images/family/(?P<family>[^/]+)")
        def image_from_family(req: FakeRequest, project: str, family: str) -> FakeResponse:
            found = [i for i in state.images.get(project, {}).values()
                     if i["family"] == family and not i.get("deprecated")]
            if not found:
                return not_found(f"projects/{project}/global/images/family/{family}")
            return FakeResponse.json(self._image_view(max(found, key=lambda i: i["name"])))

        @route("GET", API + r"/global/images/(?P<ref>[^/]+)")
        def get_image(req: FakeRequest, project: str, ref: str) -> FakeResponse:
            found = self._find(state.images.get(project, {}), ref)
            if found is None:
                return not_found(f"projects/{project}/global/images/{ref}")
            return FakeResponse.json(self._image_view(found))

        # instances ---------------------------------------------------------------------------

        @route("GET", ZONED + r"/instances")
        def list_instances(req: FakeRequest, project: str, zone: str) -> FakeResponse:
            return self._list(req, [self._observe(i) for (z, _), i in state.instances.items()
                                    if z == zone], "compute#instanceList")

        @route("GET", API + r"/aggregated/instances")
        def aggregated_instances(req: FakeRequest, project: str) -> FakeResponse:
            return self._aggregated(req, [(f"zones/{z}", self._observe(i))
                                          for (z, _), i in state.instances.items()],
                                    "instances", "compute#instanceAggregatedList")

        @route("POST", ZONED + r"/instances")
        def insert_instance(req: FakeRequest, project: str, zone: str) -> FakeResponse:
            if zone not in ZONES:
                return not_found(f"projects/{project}/zones/{zone}")
            request_id = req.arg("requestId")
            if request_id and request_id in state.by_request_id:
                return self._operation(req, "insert", "", ("zone", zone), lambda: None)
            made = self._new_instance(zone, req.json())
            if isinstance(made, FakeResponse):
                return made
            return self._operation(req, "insert", made["selfLink"], ("zone", zone),
                                   lambda: self._create_instance(zone, made))

        @route("GET", ZONED + r"/instances/(?P<ref>[^/]+)")
        def get_instance(req: FakeRequest, project: str, zone: str, ref: str) -> FakeResponse:
            found = self._instance(zone, ref)
            if found is None:
                return not_found(f"projects/{project}/zones/{zone}/instances/{ref}")
            return FakeResponse.json(self._observe(found))

        @route("DELETE", ZONED + r"/instances/(?P<ref>[^/]+)")
        def delete_instance(req: FakeRequest, project: str, zone: str, ref: str) -> FakeResponse:
            found = self._instance(zone, ref)
            if found is None:
                return not_found(f"projects/{project}/zones/{zone}/instances/{ref}")

            def delete() -> None:
                state.instances.pop((zone, found["name"]), None)
                for attached in found["disks"]:
                    disk = state.disks.get((zone, _last(attached["source"])))
                    if disk is None:
                        continue
                    disk["users"] = [u for u in disk["users"] if u != found["selfLink"]]
                    if attached.get("autoDelete"):
                        state.disks.pop((zone, disk["name"]), None)

            return self._operation(req, "delete", found["selfLink"], ("zone", zone), delete)

        def instance_action(kind: str, change: Callable[[dict[str, Any], Any],
                                                        FakeResponse | Callable[[], None]]
                            ) -> Callable[..., FakeResponse]:
            def handler(req: FakeRequest, project: str, zone: str, ref: str) -> FakeResponse:
                found = self._instance(zone, ref)
                if found is None:
                    return not_found(f"projects/{project}/zones/{zone}/instances/{ref}")
                made = change(found, req)
                if isinstance(made, FakeResponse):
                    return made
                return self._operation(req, kind, found["selfLink"], ("zone", zone), made)

            route("POST", ZONED + rf"/instances/(?P<ref>[^/]+)/{kind}")(handler)
            return handler

        def set_status(status: str) -> Callable[[dict[str, Any], Any], Callable[[], None]]:
            def change(found: dict[str, Any], req: FakeRequest) -> Callable[[], None]:
                return lambda: found.__setitem__("status", status)
            return change

        instance_action("reset", set_status("RUNNING"))
        instance_action("start", set_status("RUNNING"))
        instance_action("stop", set_status("TERMINATED"))

        def setter(field_name: str, fingerprint_field: str, path: tuple[str, ...]
                   ) -> Callable[[dict[str, Any], Any], FakeResponse | Callable[[], None]]:
            def change(found: dict[str, Any], req: FakeRequest
                       ) -> FakeResponse | Callable[[], None]:
                body = req.json() or {}
                holder = found
                for step in path[:-1]:
                    holder = holder[step]
                if body.get(fingerprint_field) != holder.get(path[-1]):
                    return google_error(412, "conditionNotMet", "Supplied fingerprint does not "
                                        "match current metadata fingerprint.",
                                        "FAILED_PRECONDITION")
                value = body.get(field_name) or ({} if field_name == "labels" else [])

                def apply() -> None:
                    if field_name == "labels":
                        found["labels"] = dict(value)
                        found["labelFingerprint"] = _fingerprint(value)
                    else:
                        key = "tags" if path[0] == "tags" else "metadata"
                        found[key] = {**found[key], "items": list(value),
                                      "fingerprint": _fingerprint(value)}
                return apply
            return change

        instance_action("setTags", setter("items", "fingerprint", ("tags", "fingerprint")))
        instance_action("setMetadata", setter("items", "fingerprint",
                                              ("metadata", "fingerprint")))
        instance_action("setLabels", setter("labels", "labelFingerprint",
                                            ("labelFingerprint",)))

        def attach(found: dict[str, Any], req: FakeRequest) -> FakeResponse | Callable[[], None]:
            body = req.json() or {}
            zone = _last(found["zone"])
            disk = self._find(state.disks, _last(body.get("source") or ""),
                              lambda key: key[0] == zone)
            if disk is None:
                return not_found(f"projects/{PROJECT}/zones/{zone}/disks/{body.get('source')}")
            if disk["users"] and body.get("mode", "READ_WRITE") == "READ_WRITE":
                return google_error(400, "resourceInUseByAnotherResource",
                                    f"The disk resource '{disk['selfLink']}' is already being "
                                    "used", "INVALID_ARGUMENT")
            device = body.get("deviceName") or f"persistent-disk-{len(found['disks'])}"

            def apply() -> None:
                disk["users"] = [*disk["users"], found["selfLink"]]
                found["disks"].append({"kind": "compute#attachedDisk", "boot": False,
                                       "autoDelete": False, "deviceName": device,
                                       "index": len(found["disks"]),
                                       "mode": body.get("mode", "READ_WRITE"),
                                       "source": disk["selfLink"], "type": "PERSISTENT"})
            return apply

        def detach(found: dict[str, Any], req: FakeRequest) -> FakeResponse | Callable[[], None]:
            device = req.arg("deviceName")
            attached = next((d for d in found["disks"] if d["deviceName"] == device), None)
            if attached is None:
                return invalid(f"No attached disk found with device name '{device}'")

            def apply() -> None:
                found["disks"].remove(attached)
                disk = state.disks.get((_last(found["zone"]), _last(attached["source"])))
                if disk is not None:
                    disk["users"] = [u for u in disk["users"] if u != found["selfLink"]]
            return apply

        instance_action("attachDisk", attach)
        instance_action("detachDisk", detach)

        def global_item_routes(kind: str, table: dict[str, dict[str, Any]]) -> None:
            """GET and DELETE (a global operation) of one item of a global collection."""

            @route("GET", API + rf"/global/{kind}/(?P<ref>[^/]+)")
            def get_item(req: FakeRequest, project: str, ref: str) -> FakeResponse:
                found = self._find(table, ref)
                if found is None:
                    return not_found(f"projects/{project}/global/{kind}/{ref}")
                return FakeResponse.json(found)

            @route("DELETE", API + rf"/global/{kind}/(?P<ref>[^/]+)")
            def delete_item(req: FakeRequest, project: str, ref: str) -> FakeResponse:
                found = self._find(table, ref)
                if found is None:
                    return not_found(f"projects/{project}/global/{kind}/{ref}")
                return self._operation(req, "delete", found["selfLink"], None,
                                       lambda: table.pop(found["name"], None))

        # disks and snapshots --------------------------------------------------------------

        @route("GET", ZONED + r"/disks")
        def list_disks(req: FakeRequest, project: str, zone: str) -> FakeResponse:
            return self._list(req, [d for (z, _), d in state.disks.items() if z == zone],
                              "compute#diskList")

        @route("GET", API + r"/aggregated/disks")
        def aggregated_disks(req: FakeRequest, project: str) -> FakeResponse:
            return self._aggregated(req, [(f"zones/{z}", d) for (z, _), d in
                                          state.disks.items()], "disks",
                                    "compute#diskAggregatedList")

        @route("POST", ZONED + r"/disks")
        def insert_disk(req: FakeRequest, project: str, zone: str) -> FakeResponse:
            body = req.json() or {}
            name = body.get("name")
            if not isinstance(name, str) or not name:
                return invalid("Invalid value for field 'resource.name'")
            if (taken := self._taken(req, self._find(state.disks, name, lambda key: key[0] == zone)
                                     is not None, f"zones/{zone}/disks/{name}")) is not None:
                return taken
            image = self._source_image(body["sourceImage"]) if body.get("sourceImage") else None
            snapshot = state.snapshots.get(_last(body["sourceSnapshot"])) \
                if body.get("sourceSnapshot") else None
            if body.get("sourceImage") and image is None:
                return invalid("The referenced image resource cannot be found.")
            if body.get("sourceSnapshot") and snapshot is None:
                return invalid("The referenced snapshot resource cannot be found.")
            disk = self._make_disk(zone, body, image, snapshot)
            return self._operation(req, "insert", disk["selfLink"], ("zone", zone),
                                   lambda: state.disks.__setitem__((zone, name), disk))

        @route("GET", ZONED + r"/disks/(?P<ref>[^/]+)")
        def get_disk(req: FakeRequest, project: str, zone: str, ref: str) -> FakeResponse:
            found = self._find(state.disks, ref, lambda key: key[0] == zone)
            if found is None:
                return not_found(f"projects/{project}/zones/{zone}/disks/{ref}")
            return FakeResponse.json(found)

        @route("DELETE", ZONED + r"/disks/(?P<ref>[^/]+)")
        def delete_disk(req: FakeRequest, project: str, zone: str, ref: str) -> FakeResponse:
            found = self._find(state.disks, ref, lambda key: key[0] == zone)
            if found is None:
                return not_found(f"projects/{project}/zones/{zone}/disks/{ref}")
            if found["users"]:
                return google_error(400, "resourceInUseByAnotherResource",
                                    f"The disk resource '{found['selfLink']}' is already being "
                                    f"used by '{found['users'][0]}'", "INVALID_ARGUMENT")
            return self._operation(req, "delete", found["selfLink"], ("zone", zone),
                                   lambda: state.disks.pop((zone, found["name"]), None))

        @route("POST", ZONED + r"/disks/(?P<ref>[^/]+)/createSnapshot")
        def create_snapshot(req: FakeRequest, project: str, zone: str, ref: str
                            ) -> FakeResponse:
            found = self._find(state.disks, ref, lambda key: key[0] == zone)
            if found is None:
                return not_found(f"projects/{project}/zones/{zone}/disks/{ref}")
            name = (req.json() or {}).get("name")
            if not isinstance(name, str) or not name:
                return invalid("Invalid value for field 'resource.name'")
            if (taken := self._taken(req, name in state.snapshots,
                                     f"global/snapshots/{name}")) is not None:
                return taken
            snapshot = {"kind": "compute#snapshot", "id": str(next(state.ids)), "name": name,
                        "status": "READY", "diskSizeGb": found["sizeGb"],
                        "sourceDisk": found["selfLink"], "sourceDiskId": found["id"],
                        "storageBytes": "0", "creationTimestamp": stamp(), "labels": {},
                        "selfLink": state.link("global", "snapshots", name)}
            return self._operation(req, "createSnapshot", found["selfLink"], ("zone", zone),
                                   lambda: state.snapshots.__setitem__(name, snapshot))

        @route("GET", API + r"/global/snapshots")
        def list_snapshots(req: FakeRequest, project: str) -> FakeResponse:
            return self._list(req, list(state.snapshots.values()), "compute#snapshotList")

        global_item_routes("snapshots", state.snapshots)

        # addresses ---------------------------------------------------------------------------

        def address_routes(base: str, scope_of: Callable[[dict[str, str]], str]) -> None:
            def where(kw: dict[str, str]) -> tuple[str, tuple[str, str] | None]:
                region = scope_of(kw)
                return region, (None if region == "global" else ("region", region))

            @route("GET", base)
            def list_addresses(req: FakeRequest, **kw: str) -> FakeResponse:
                region, _ = where(kw)
                return self._list(req, [a for (r, _), a in state.addresses.items()
                                        if r == region], "compute#addressList")

            @route("POST", base)
            def insert_address(req: FakeRequest, **kw: str) -> FakeResponse:
                region, scope = where(kw)
                body = req.json() or {}
                name = body.get("name")
                if not isinstance(name, str) or not name:
                    return invalid("Invalid value for field 'resource.name'")
                if (taken := self._taken(req, (region, name) in state.addresses,
                                         f"regions/{region}/addresses/{name}")) is not None:
                    return taken
                number = next(state.ids)
                parts = ("global",) if region == "global" else ("regions", region)
                address = {"kind": "compute#address", "id": str(number), "name": name,
                           "address": body.get("address") or f"203.0.113.{number % 250 + 2}",
                           "addressType": body.get("addressType", "EXTERNAL"),
                           "status": "RESERVED", "users": [], "creationTimestamp": stamp(),
                           "description": body.get("description", ""),
                           "selfLink": state.link(*parts, "addresses", name)}
                if region != "global":
                    address["region"] = state.link("regions", region)
                return self._operation(req, "insert", address["selfLink"], scope,
                                       lambda: state.addresses.__setitem__((region, name),
                                                                           address))

            @route("GET", base + r"/(?P<ref>[^/]+)")
            def get_address(req: FakeRequest, ref: str, **kw: str) -> FakeResponse:
                region, _ = where(kw)
                found = self._find(state.addresses, ref, lambda key: key[0] == region)
                if found is None:
                    return not_found(f"projects/{PROJECT}/regions/{region}/addresses/{ref}")
                return FakeResponse.json(found)

            @route("DELETE", base + r"/(?P<ref>[^/]+)")
            def delete_address(req: FakeRequest, ref: str, **kw: str) -> FakeResponse:
                region, scope = where(kw)
                found = self._find(state.addresses, ref, lambda key: key[0] == region)
                if found is None:
                    return not_found(f"projects/{PROJECT}/regions/{region}/addresses/{ref}")
                return self._operation(req, "delete", found["selfLink"], scope,
                                       lambda: state.addresses.pop((region, found["name"]),
                                                                   None))

        address_routes(REGIONED + r"/addresses", lambda kw: kw["region"])
        address_routes(API + r"/global/addresses", lambda kw: "global")

        @route("GET", API + r"/aggregated/addresses")
        def aggregated_addresses(req: FakeRequest, project: str) -> FakeResponse:
            return self._aggregated(req, [(f"regions/{r}" if r != "global" else "global", a)
                                          for (r, _), a in state.addresses.items()],
                                    "addresses", "compute#addressAggregatedList")

        # firewalls ---------------------------------------------------------------------------

        @route("GET", API + r"/global/firewalls")
        def list_firewalls(req: FakeRequest, project: str) -> FakeResponse:
            return self._list(req, list(state.firewalls.values()), "compute#firewallList")

        @route("POST", API + r"/global/firewalls")
        def insert_firewall(req: FakeRequest, project: str) -> FakeResponse:
            body = req.json() or {}
            name = body.get("name")
            if not isinstance(name, str) or not name:
                return invalid("Invalid value for field 'resource.name'")
            if not body.get("allowed") and not body.get("denied"):
                return invalid("Invalid value for field 'resource': one of allowed or denied "
                               "is required")
            if (taken := self._taken(req, name in state.firewalls,
                                     f"global/firewalls/{name}")) is not None:
                return taken
            rule = {**{k: v for k, v in body.items()}, "kind": "compute#firewall",
                    "id": str(next(state.ids)), "creationTimestamp": stamp(),
                    "network": state.link("global", "networks",
                                          _last(body.get("network") or "default")),
                    "selfLink": state.link("global", "firewalls", name)}
            return self._operation(req, "insert", rule["selfLink"], None,
                                   lambda: state.firewalls.__setitem__(name, rule))

        global_item_routes("firewalls", state.firewalls)


@contextmanager
def serve() -> Iterator[tuple[GCEServer, str]]:
    """A fresh server with its metadata server; yields it and the API's base
    URL (``.../compute/v1``). ``server.metadata`` is the metadata fixture and
    ``server.metadata_url`` its base URL."""
    server = GCEServer()
    with server.serving() as base_url, \
            serve_metadata(server.auth, PROJECT, ZONE) as (metadata, metadata_url):
        server.state.base_url = base_url
        server.auth.base_url = base_url
        server.metadata = metadata
        server.metadata_url = metadata_url
        yield server, base_url + PREFIX


_shared: tuple[GCEServer, str] | None = None
_lock = threading.Lock()


def shared_server(request: pytest.FixtureRequest) -> tuple[GCEServer, str]:
    """This test process's server, started on first use and stopped at session end."""
    global _shared
    with _lock:
        if _shared is None:
            context = serve()
            _shared = context.__enter__()
            request.config.add_cleanup(lambda: context.__exit__(None, None, None))
        return _shared


def make_driver(server: GCEServer, endpoint: str, sent: list[object] | None = None,
                **options: Any) -> GCENodeDriver:
    """The driver on ``endpoint`` inside the (fixture) cloud: tokens, project
    and zone from the metadata server; small pages and quick polls."""
    hooks = Hooks(on_request=[sent.append]) if sent is not None else Hooks()
    options.setdefault("page_size", 2)
    options.setdefault("poll_interval", 0.01)
    return GCENodeDriver(endpoint=endpoint, hooks=hooks,
                         metadata_endpoint=server.metadata_url,
                         **options)


def pick_size(sizes: list[Any]) -> Any:
    return next(s for s in sizes if s.name == "e2-small")


def pick_image(images: list[Any]) -> Any:
    return next(i for i in images if i.name.startswith("debian-12"))


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeTarget:
    """The Compute Engine driver against this process's fixture server."""
    server, endpoint = shared_server(request)
    sent: list[object] = []
    return ComputeTarget(driver=make_driver(server, endpoint, sent), requests=sent,
                         page_size=2, wait_period=0.01, pick_size=pick_size,
                         pick_image=pick_image)
