"""A stateful fixture server of Linode's API v4 for compute (instances, types,
images, regions, volumes, SSH keys), and the compute conformance factory.

Linode runs no server we could start here, so this one is written from the
published reference (techdocs.akamai.com/linode-api: "Linode Instances",
"Linode Types", "Images", "Regions", "Volumes", "Profile: SSH keys"). Auth,
paging, ``X-Filter`` and errors are every Linode fixture's
(:mod:`servers.linode_api`). What it keeps of the API's behaviour:

* ``POST /v4/linode/instances`` needs ``region`` and ``type``; with an
  ``image`` it needs a ``root_pass`` (7 to 128 characters). Labels follow
  Linode's rule (3 to 64 of ``A-Za-z0-9-_.``, letters or digits at both
  ends, no ``--``, ``__`` or ``..``) and are unique (400 on ``label``). The
  answer is the instance ``provisioning``, with its public IPv4 (127.0.0.1
  here) and, with ``private_ip``, a private one in 192.168.128.0/17; it is
  ``running`` from its second observation (a GET or a listing).
* ``POST .../boot``, ``.../reboot``, ``.../shutdown`` answer ``200 {}``; the
  instance is ``booting``, ``rebooting`` or ``shutting_down`` on the next
  observation, then ``running`` or ``offline``. ``.../resize`` (``type``)
  changes the type. ``PUT`` changes ``label`` and ``tags``; ``DELETE``
  answers ``200 {}``.
* Types carry ``price`` (``hourly``, ``monthly``) and ``region_prices``
  (``id-cgk`` and ``br-gru`` cost more, as on Linode).
* Volumes: 10 to 10240 GiB, labels unique (400 on ``label``), made in a
  ``region`` or for a ``linode_id``; ``creating`` then ``active``;
  ``attach`` needs the instance in the volume's region; an attached volume
  cannot be deleted (400).
* ``/v4/profile/sshkeys``: ``label`` and ``ssh_key``.

When :attr:`LinodeComputeFake.authorized_keys` names a file (the suite
sshd's ``AuthorizedKeysFile``), an instance's ``authorized_keys`` are
appended to it when it first runs: only keys sent Linode's way reach the machine.

Test knobs (not Linode behaviour): ``lose_next`` (``"instance"``,
``"volume"``, ``"sshkey"``): the next such create is stored, then answered
500 as if the answer were lost; ``pages`` in ``list_calls`` counts listing
requests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import Final

import pytest

from overcast.compute.drivers.linode import LinodeNodeDriver
from overcast.runtime.policy import Hooks
from servers.compute_target import ComputeTarget
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.linode_api import TOKEN
from servers.linode_api import Invalid
from servers.linode_api import error
from servers.linode_api import guarded
from servers.linode_api import page

__all__ = ["TOKEN", "LinodeComputeFake", "make_driver", "make_target", "serve"]

REGIONS: Final = [
    {"id": "us-east", "label": "Newark, NJ", "country": "us"},
    {"id": "eu-west", "label": "London, UK", "country": "gb"},
    {"id": "ap-south", "label": "Singapore, SG", "country": "sg"},
    {"id": "id-cgk", "label": "Jakarta, ID", "country": "id"},
    {"id": "br-gru", "label": "Sao Paulo, BR", "country": "br"},
]


def _type(ident: str, label: str, memory: int, vcpus: int, disk_gb: int, hourly: float,
          monthly: float, cls: str = "standard") -> dict[str, Any]:
    return {"id": ident, "label": label, "memory": memory, "vcpus": vcpus,
            "disk": disk_gb * 1024, "transfer": 1000 * max(1, memory // 1024),
            "network_out": 1000 * vcpus, "class": cls, "gpus": 0, "successor": None,
            "price": {"hourly": hourly, "monthly": monthly},
            "region_prices": [
                {"id": "id-cgk", "hourly": round(hourly * 1.2, 4), "monthly": monthly * 1.2},
                {"id": "br-gru", "hourly": round(hourly * 1.4, 4), "monthly": monthly * 1.4},
            ],
            "addons": {"backups": {"price": {"hourly": 0.003, "monthly": 2.0},
                                   "region_prices": []}}}


TYPES: Final = [
    _type("g6-nanode-1", "Nanode 1GB", 1024, 1, 25, 0.0075, 5.0, "nanode"),
    _type("g6-standard-1", "Linode 2GB", 2048, 1, 50, 0.018, 12.0),
    _type("g6-standard-2", "Linode 4GB", 4096, 2, 80, 0.036, 24.0),
    _type("g6-standard-4", "Linode 8GB", 8192, 4, 160, 0.072, 48.0),
    _type("g6-dedicated-2", "Dedicated 4GB", 4096, 2, 80, 0.054, 36.0, "dedicated"),
    _type("g7-highmem-1", "Linode 24GB", 24576, 2, 20, 0.09, 60.0, "highmem"),
]
IMAGES: Final = [
    {"id": f"linode/{slug}", "label": label, "vendor": vendor, "type": "manual",
     "is_public": True, "deprecated": False, "size": 2500, "created": "2023-06-12T14:35:56",
     "created_by": "linode", "description": "", "eol": "2028-06-30T04:00:00",
     "status": "available", "capabilities": ["cloud-init"]}
    for slug, label, vendor in [
        ("debian12", "Debian 12", "Debian"), ("ubuntu24.04", "Ubuntu 24.04 LTS", "Ubuntu"),
        ("ubuntu22.04", "Ubuntu 22.04 LTS", "Ubuntu"), ("alpine3.19", "Alpine 3.19", "Alpine"),
        ("fedora40", "Fedora 40", "Fedora"), ("rocky9", "Rocky Linux 9", "Rocky"),
    ]
]
STATUS_AFTER: Final = {"booting": "running", "rebooting": "running",
                       "shutting_down": "offline", "provisioning": "running"}
_LABEL = re.compile(r"\A[A-Za-z0-9](?!.*(--|__|\.\.))[A-Za-z0-9_.-]{1,62}[A-Za-z0-9]\Z")
_VOLUME_LABEL = re.compile(r"\A[A-Za-z][A-Za-z0-9_-]{0,31}\Z")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _region(ident: Any) -> dict[str, Any] | None:
    found = next((r for r in REGIONS if r["id"] == ident), None)
    if found is None:
        return None
    return {**found, "status": "ok", "site_type": "core",
            "capabilities": ["Linodes", "Block Storage", "Cloud Firewall", "Metadata"],
            "resolvers": {"ipv4": "192.0.2.53", "ipv6": "2001:db8::53"}}


class LinodeComputeFake:
    """The provider's compute state and the routes over it."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.api = FakeAPI()
        self.instances: dict[int, dict[str, Any]] = {}
        self.passwords: dict[int, str] = {}
        self.seen: dict[int, int] = {}
        self.volumes: dict[int, dict[str, Any]] = {}
        self.keys: dict[int, dict[str, Any]] = {}
        self.lose_next: set[str] = set()
        #: The sshd ``AuthorizedKeysFile`` an instance's keys are appended to when it runs.
        self.authorized_keys: Path | None = None
        self._ids = itertools.count(54748000)
        self._volume_ids = itertools.count(880000)
        self._key_ids = itertools.count(31000)
        self._private = itertools.count(2)
        self._routes()

    # -- helpers -------------------------------------------------------------------

    def _created(self, kind: str, body: dict[str, Any]) -> FakeResponse:
        """The answer to a create: the body, or a 500 when the test asked to lose it."""
        if kind in self.lose_next:
            self.lose_next.discard(kind)
            return error(500, "Please try again")
        return FakeResponse.json(body)

    def _observe(self, instance: dict[str, Any]) -> dict[str, Any]:
        """An instance as a GET or a listing shows it; a passing state moves on
        from its second observation."""
        count = self.seen.get(instance["id"], 0) + 1
        self.seen[instance["id"]] = count
        status = instance["status"]
        if status in STATUS_AFTER and count >= 2:
            instance["status"] = STATUS_AFTER[status]
            if instance["status"] == "running":
                self._boot(instance)
        return {k: v for k, v in instance.items() if not k.startswith("_")}

    def _boot(self, instance: dict[str, Any]) -> None:
        keys = instance.pop("_authorized_keys", None)
        if keys and self.authorized_keys is not None:
            with open(self.authorized_keys, "a", encoding="utf-8") as f:
                for key in keys:
                    f.write(key.strip() + "\n")

    def _instance(self, instance_id: str) -> dict[str, Any] | None:
        return self.instances.get(int(instance_id)) if instance_id.isdigit() else None

    def _transition(self, instance: dict[str, Any], status: str) -> None:
        instance["status"] = status
        self.seen[instance["id"]] = 0

    def _new_instance(self, body: dict[str, Any]) -> dict[str, Any]:
        region = _region(body.get("region"))
        if region is None:
            raise Invalid("region is not valid", "region")
        kind = next((t for t in TYPES if t["id"] == body.get("type")), None)
        if kind is None:
            raise Invalid("A valid plan type by that ID was not found", "type")
        label = body.get("label")
        if label is not None:
            if not isinstance(label, str) or not _LABEL.match(label):
                raise Invalid("Label must begin and end with a letter or number, and may only "
                              "contain letters, numbers, dashes, underscores, and periods",
                              "label")
            if any(i["label"] == label for i in self.instances.values()):
                raise Invalid("Label must be unique among your Linodes", "label")
        image = body.get("image")
        if image is not None:
            if not any(i["id"] == image for i in IMAGES):
                raise Invalid("image is not valid", "image")
            password = body.get("root_pass")
            if not isinstance(password, str) or not 7 <= len(password) <= 128:
                raise Invalid("root_pass is required and must be 7 to 128 characters",
                              "root_pass")
        instance_id = next(self._ids)
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise Invalid("tags must be a list of strings", "tags")
        keys = body.get("authorized_keys") or []
        if not isinstance(keys, list) or not all(isinstance(k, str) and len(k.split()) >= 2
                                                 for k in keys):
            raise Invalid("authorized_keys must be SSH public keys", "authorized_keys")
        ipv4 = ["127.0.0.1"]
        if body.get("private_ip"):
            ipv4.append(f"192.168.128.{next(self._private)}")
        if image is not None:
            self.passwords[instance_id] = str(body["root_pass"])
        return {
            "id": instance_id, "label": label or f"linode{instance_id}", "group": "",
            "status": "provisioning", "created": _now(), "updated": _now(),
            "type": kind["id"], "ipv4": ipv4, "ipv6": f"2001:db8::{instance_id % 65536:x}/128",
            "image": image, "region": region["id"],
            "specs": {"disk": kind["disk"], "memory": kind["memory"], "vcpus": kind["vcpus"],
                      "gpus": 0, "transfer": kind["transfer"]},
            "alerts": {"cpu": 180, "network_in": 10, "network_out": 10, "transfer_quota": 80,
                       "io": 10000},
            "backups": {"enabled": bool(body.get("backups_enabled")), "available": False,
                        "schedule": {"day": None, "window": None}, "last_successful": None},
            "hypervisor": "kvm", "watchdog_enabled": True, "tags": list(tags),
            "host_uuid": "0b1d6c1f5e0d4e6a8f2b", "has_user_data": bool(body.get("metadata")),
            "_authorized_keys": list(keys),
        }

    def _new_volume(self, body: dict[str, Any]) -> dict[str, Any]:
        label, size = body.get("label"), body.get("size", 20)
        if not isinstance(label, str) or not _VOLUME_LABEL.match(label):
            raise Invalid("Label must be 1-32 characters: letters, numbers, - and _", "label")
        if any(v["label"] == label for v in self.volumes.values()):
            raise Invalid("Label must be unique among your volumes", "label")
        if isinstance(size, bool) or not isinstance(size, int) or not 10 <= size <= 10240:
            raise Invalid("Size must be between 10 and 10240", "size")
        linode = None
        if body.get("linode_id") is not None:
            linode = self.instances.get(body["linode_id"])
            if linode is None:
                raise Invalid("Linode not found", "linode_id")
            region = linode["region"]
        else:
            if _region(body.get("region")) is None:
                raise Invalid("region is required when no linode_id is given", "region")
            region = body["region"]
        volume_id = next(self._volume_ids)
        return {"id": volume_id, "label": label, "size": size, "region": region,
                "status": "creating", "created": _now(), "updated": _now(),
                "linode_id": linode["id"] if linode else None,
                "linode_label": linode["label"] if linode else None,
                "filesystem_path": f"/dev/disk/by-id/scsi-0Linode_Volume_{label}",
                "tags": list(body.get("tags") or []), "hardware_type": "nvme",
                "_seen": 0}

    def _show_volume(self, volume: dict[str, Any]) -> dict[str, Any]:
        volume["_seen"] += 1
        if volume["status"] == "creating" and volume["_seen"] >= 2:
            volume["status"] = "active"
        return {k: v for k, v in volume.items() if not k.startswith("_")}

    # -- routes --------------------------------------------------------------------

    def _routes(self) -> None:  # one closure per route
        api = self.api
        auth: Callable[[Callable[..., FakeResponse]], Callable[..., FakeResponse]] = guarded(
            self.token)
        v4 = "/v4"

        @api.route("GET", f"{v4}/regions")
        @auth
        def list_regions(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            return page(req, [_region(r["id"]) for r in REGIONS])  # type: ignore[misc]

        @api.route("GET", f"{v4}/linode/types")
        @auth
        def list_types(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            return page(req, list(TYPES))

        @api.route("GET", f"{v4}/linode/types/(?P<type_id>[^/]+)")
        @auth
        def get_type(req: FakeRequest, body: dict[str, Any], type_id: str) -> FakeResponse:
            found = next((t for t in TYPES if t["id"] == type_id), None)
            return error(404, "Not found") if found is None else FakeResponse.json(found)

        @api.route("GET", f"{v4}/images")
        @auth
        def list_images(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            return page(req, list(IMAGES))

        @api.route("GET", f"{v4}/images/(?P<image_id>[^/]+/[^/]+)")
        @auth
        def get_image(req: FakeRequest, body: dict[str, Any], image_id: str) -> FakeResponse:
            found = next((i for i in IMAGES if i["id"] == image_id), None)
            return error(404, "Not found") if found is None else FakeResponse.json(found)

        # instances

        @api.route("GET", f"{v4}/linode/instances")
        @auth
        def list_instances(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            return page(req, [self._observe(i) for i in self.instances.values()])

        @api.route("POST", f"{v4}/linode/instances")
        @auth
        def create_instance(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            instance = self._new_instance(body)
            self.instances[instance["id"]] = instance
            self.seen[instance["id"]] = 0
            return self._created("instance", {k: v for k, v in instance.items()
                                              if not k.startswith("_")})

        instance_path = f"{v4}/linode/instances/(?P<instance_id>[^/]+)"

        @api.route("GET", instance_path)
        @auth
        def get_instance(req: FakeRequest, body: dict[str, Any],
                         instance_id: str) -> FakeResponse:
            instance = self._instance(instance_id)
            return error(404, "Not found") if instance is None else FakeResponse.json(
                self._observe(instance))

        @api.route("PUT", instance_path)
        @auth
        def update_instance(req: FakeRequest, body: dict[str, Any],
                            instance_id: str) -> FakeResponse:
            instance = self._instance(instance_id)
            if instance is None:
                return error(404, "Not found")
            if "label" in body:
                if not isinstance(body["label"], str) or not _LABEL.match(body["label"]):
                    raise Invalid("Label is not valid", "label")
                if any(i["label"] == body["label"] and i is not instance
                       for i in self.instances.values()):
                    raise Invalid("Label must be unique among your Linodes", "label")
                instance["label"] = body["label"]
            if "tags" in body:
                instance["tags"] = list(body["tags"])
            return FakeResponse.json({k: v for k, v in instance.items()
                                      if not k.startswith("_")})

        @api.route("DELETE", instance_path)
        @auth
        def delete_instance(req: FakeRequest, body: dict[str, Any],
                            instance_id: str) -> FakeResponse:
            instance = self._instance(instance_id)
            if instance is None:
                return error(404, "Not found")
            del self.instances[instance["id"]]
            for volume in self.volumes.values():
                if volume["linode_id"] == instance["id"]:
                    volume.update(linode_id=None, linode_label=None)
            return FakeResponse.json({})

        def power(action: str, allowed: tuple[str, ...], passing: str) -> None:
            @api.route("POST", f"{instance_path}/{action}")
            @auth
            def act(req: FakeRequest, body: dict[str, Any], instance_id: str) -> FakeResponse:
                instance = self._instance(instance_id)
                if instance is None:
                    return error(404, "Not found")
                if instance["status"] not in allowed:
                    return error(400, "Linode busy.")
                self._transition(instance, passing)
                return FakeResponse.json({})

        power("boot", ("offline", "running"), "booting")
        power("reboot", ("running", "offline"), "rebooting")
        power("shutdown", ("running", "offline"), "shutting_down")

        @api.route("POST", f"{instance_path}/resize")
        @auth
        def resize(req: FakeRequest, body: dict[str, Any], instance_id: str) -> FakeResponse:
            instance = self._instance(instance_id)
            if instance is None:
                return error(404, "Not found")
            kind = next((t for t in TYPES if t["id"] == body.get("type")), None)
            if kind is None:
                raise Invalid("A valid plan type by that ID was not found", "type")
            instance["type"] = kind["id"]
            instance["specs"].update(memory=kind["memory"], vcpus=kind["vcpus"])
            return FakeResponse.json({})

        # volumes

        @api.route("GET", f"{v4}/volumes")
        @auth
        def list_volumes(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            return page(req, [self._show_volume(v) for v in self.volumes.values()])

        @api.route("POST", f"{v4}/volumes")
        @auth
        def create_volume(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            volume = self._new_volume(body)
            self.volumes[volume["id"]] = volume
            return self._created("volume", {k: v for k, v in volume.items()
                                            if not k.startswith("_")})

        volume_path = f"{v4}/volumes/(?P<volume_id>[0-9]+)"

        def volume_of(volume_id: str) -> dict[str, Any] | None:
            return self.volumes.get(int(volume_id))

        @api.route("GET", volume_path)
        @auth
        def get_volume(req: FakeRequest, body: dict[str, Any], volume_id: str) -> FakeResponse:
            volume = volume_of(volume_id)
            return error(404, "Not found") if volume is None else FakeResponse.json(
                self._show_volume(volume))

        @api.route("DELETE", volume_path)
        @auth
        def delete_volume(req: FakeRequest, body: dict[str, Any],
                          volume_id: str) -> FakeResponse:
            volume = volume_of(volume_id)
            if volume is None:
                return error(404, "Not found")
            if volume["linode_id"] is not None:
                return error(400, "Volume must be detached before it can be deleted.")
            del self.volumes[volume["id"]]
            return FakeResponse.json({})

        @api.route("POST", f"{volume_path}/attach")
        @auth
        def attach(req: FakeRequest, body: dict[str, Any], volume_id: str) -> FakeResponse:
            volume = volume_of(volume_id)
            if volume is None:
                return error(404, "Not found")
            instance = self.instances.get(body.get("linode_id") or -1)
            if instance is None:
                raise Invalid("Linode not found", "linode_id")
            if instance["region"] != volume["region"]:
                raise Invalid("Volume and Linode must be in the same region", "linode_id")
            if volume["linode_id"] is not None:
                return error(400, "Volume is already attached.")
            volume.update(linode_id=instance["id"], linode_label=instance["label"])
            return FakeResponse.json(self._show_volume(volume))

        @api.route("POST", f"{volume_path}/detach")
        @auth
        def detach(req: FakeRequest, body: dict[str, Any], volume_id: str) -> FakeResponse:
            volume = volume_of(volume_id)
            if volume is None:
                return error(404, "Not found")
            volume.update(linode_id=None, linode_label=None)
            return FakeResponse.json({})

        @api.route("POST", f"{volume_path}/resize")
        @auth
        def resize_volume(req: FakeRequest, body: dict[str, Any],
                          volume_id: str) -> FakeResponse:
            volume = volume_of(volume_id)
            if volume is None:
                return error(404, "Not found")
            size = body.get("size")
            if not isinstance(size, int) or size < volume["size"] or size > 10240:
                raise Invalid("Size can only grow, up to 10240", "size")
            volume["size"] = size
            return FakeResponse.json(self._show_volume(volume))

        # SSH keys

        @api.route("GET", f"{v4}/profile/sshkeys")
        @auth
        def list_keys(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            return page(req, list(self.keys.values()))

        @api.route("POST", f"{v4}/profile/sshkeys")
        @auth
        def create_key(req: FakeRequest, body: dict[str, Any]) -> FakeResponse:
            label, key = body.get("label"), body.get("ssh_key")
            if not isinstance(key, str) or len(key.split()) < 2:
                raise Invalid("SSH Key key-type must be ssh-dss, ssh-rsa, ecdsa-sha2-nistp, "
                              "or ssh-ed25519.", "ssh_key")
            if not isinstance(label, str) or not 1 <= len(label) <= 64:
                raise Invalid("Length must be 1-64 characters", "label")
            made = {"id": next(self._key_ids), "label": label, "ssh_key": key.strip(),
                    "created": _now()}
            self.keys[made["id"]] = made
            return self._created("sshkey", made)

        @api.route("DELETE", f"{v4}/profile/sshkeys/(?P<key_id>[0-9]+)")
        @auth
        def delete_key(req: FakeRequest, body: dict[str, Any], key_id: str) -> FakeResponse:
            if self.keys.pop(int(key_id), None) is None:
                return error(404, "Not found")
            return FakeResponse.json({})


_running: tuple[LinodeComputeFake, str] | None = None


def serve(request: pytest.FixtureRequest) -> tuple[LinodeComputeFake, str]:
    """The process's fixture server and its API base URL (``.../v4``), started once."""
    global _running
    if _running is None:
        fake = LinodeComputeFake()
        serving: AbstractContextManager[str] = fake.api.serving()
        base = serving.__enter__()
        request.config.add_cleanup(lambda: serving.__exit__(None, None, None))
        _running = (fake, f"{base}/v4")
    return _running


def make_driver(endpoint: str, sent: list[object] | None = None,
                **options: Any) -> LinodeNodeDriver:
    """The driver on ``endpoint``, with the smallest pages Linode allows (25)."""
    hooks = Hooks(on_request=[sent.append]) if sent is not None else Hooks()
    settings: dict[str, Any] = {"endpoint": endpoint, "page_size": 25, "hooks": hooks}
    settings.update(options)
    return LinodeNodeDriver(TOKEN, **settings)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeTarget:
    """The Linode driver against this process's fixture server."""
    _, endpoint = serve(request)
    sent: list[object] = []
    driver = make_driver(endpoint, sent)
    location = next(loc for loc in driver.list_locations() if loc.id == "us-east")
    return ComputeTarget(driver=driver, requests=sent, page_size=25, wait_period=0.01,
                         create_kwargs={"location": location}, volume_size=10)
