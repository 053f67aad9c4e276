"""A stateful fixture server of Vultr's API v2 for compute (instances, plans,
OS images, regions, SSH keys, block storage, snapshots), and the compute
conformance factory.

No Vultr server runs on this machine, so this is written from Vultr's API
reference (v2: "Instances", "Plans", "Operating Systems", "Regions", "SSH
Keys", "Block Storage", "Snapshots"; its introduction on authentication,
errors and pagination). What it keeps of the API's behaviour:

* **Auth.** ``Authorization: Bearer <API key>``; anything else is 401
  ``{"error": "Invalid API token.", "status": 401}``.
* **Errors.** ``{"error": "<text>", "status": <code>}``: 404 for an unknown
  resource, 400 for a bad request.
* **Paging.** ``per_page`` (1..500, default 100) and ``cursor``; every list
  answer carries ``meta.total`` and ``meta.links.next``/``prev``: opaque
  cursors (base64 of ``next__<id>``, as Vultr's look), empty strings at the
  ends.
* ``POST /v2/instances`` (``region``, ``plan`` required; one of ``os_id``,
  ``snapshot_id``, ``image_id``, ``app_id``) answers ``202`` with the
  instance ``pending``, ``power_status`` ``stopped``, ``server_status``
  ``none``, ``main_ip`` ``0.0.0.0`` and a ``default_password``. From its
  second observation (a GET or a listing) it is ``active``, ``running``,
  ``ok``, at 127.0.0.1 (and 10.1.96.x inside). ``tags`` is a list of
  strings; ``GET /v2/instances?tag=`` and ``?label=`` filter. ``sshkey_id``
  names keys of the account (400 for an unknown one); ``user_data`` must be
  base64.
* ``POST /v2/instances/{id}/reboot|start|halt`` answer ``204``; the power
  status changes at the instance's next observation but one (the API acts in
  the background). ``POST /v2/instances/halt`` halts several.
  ``PATCH /v2/instances/{id}`` with ``plan`` resizes.
* Block storage (``/v2/blocks``): ``POST`` (``region``, ``size_gb`` 10..40000,
  ``label``) answers ``202``, ``active`` at once; ``attach`` (``instance_id``,
  ``live``) and ``detach`` answer ``204``; attaching a volume that is
  attached, or to an instance in another region, is 400.
* SSH keys (``/v2/ssh-keys``): ``POST`` (``name``, ``ssh_key``) answers
  ``201``.
* Snapshots (``/v2/snapshots``): ``POST`` (``instance_id``, ``description``)
  answers ``202`` ``pending``, ``complete`` from its next observation.
* ``GET /v2/bare-metals`` and ``/v2/plans-metal`` list no bare metal server
  or plan (Libcloud's ``list_nodes`` and ``list_sizes`` ask both).

When :attr:`VultrState.authorized_keys` names a file (the suite sshd's
``AuthorizedKeysFile``), the public keys of an instance's ``sshkey_id`` are
appended to it when the instance boots: only keys given Vultr's way reach
the machine.

Tests arm failures with ``state.inject(...)`` (``after=True`` stores the
create, then answers 500: its answer is lost).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from overcast.compute.drivers.vultr import VultrNodeDriver
from overcast.compute.models import NodeLocation
from overcast.runtime.policy import Hooks
from servers.compute_target import ComputeTarget
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.fakeapi import Faults
from servers.fakeapi import GuardedAPI

__all__ = ["TOKEN", "VultrComputeServer", "VultrState", "make_driver", "make_target", "serve"]

#: The path of the API below the server's address.
PREFIX = "/v2"
#: The API key the fixture accepts (Vultr's are 36 upper-case letters and digits).
TOKEN = "VULTRFIXTURE0123456789ABCDEFGHIJKLMN"
_SHARED: dict[str, tuple[VultrComputeServer, str]] = {}

REGIONS: list[dict[str, Any]] = [
    {"id": "ewr", "city": "New Jersey", "country": "US", "continent": "North America",
     "options": ["ddos_protection", "block_storage_storage_opt"]},
    {"id": "ord", "city": "Chicago", "country": "US", "continent": "North America",
     "options": ["ddos_protection"]},
    {"id": "ams", "city": "Amsterdam", "country": "NL", "continent": "Europe",
     "options": ["ddos_protection", "block_storage_high_perf"]},
    {"id": "fra", "city": "Frankfurt", "country": "DE", "continent": "Europe",
     "options": ["ddos_protection"]},
    {"id": "nrt", "city": "Tokyo", "country": "JP", "continent": "Asia", "options": []},
]
PLANS: list[dict[str, Any]] = [
    {"id": "vc2-1c-1gb", "vcpu_count": 1, "ram": 1024, "disk": 25, "disk_count": 1,
     "bandwidth": 1024, "monthly_cost": 5, "type": "vc2",
     "locations": ["ewr", "ord", "ams", "fra", "nrt"]},
    {"id": "vc2-1c-2gb", "vcpu_count": 1, "ram": 2048, "disk": 55, "disk_count": 1,
     "bandwidth": 2048, "monthly_cost": 10, "type": "vc2",
     "locations": ["ewr", "ord", "ams", "fra", "nrt"]},
    {"id": "vc2-2c-4gb", "vcpu_count": 2, "ram": 4096, "disk": 80, "disk_count": 1,
     "bandwidth": 3072, "monthly_cost": 20, "type": "vc2", "locations": ["ewr", "ams"]},
    {"id": "vhf-1c-1gb", "vcpu_count": 1, "ram": 1024, "disk": 32, "disk_count": 1,
     "bandwidth": 1024, "monthly_cost": 6, "type": "vhf", "locations": ["ewr", "fra"]},
    {"id": "voc-c-2c-4gb-50s-amd", "vcpu_count": 2, "ram": 4096, "disk": 50, "disk_count": 1,
     "bandwidth": 4096, "monthly_cost": 40, "type": "voc", "locations": ["ewr"]},
    # A Cloud GPU plan: billed up to 730 hours a month, not 672.
    {"id": "vcg-a16-2c-8g-2vram", "vcpu_count": 2, "ram": 8192, "disk": 70, "disk_count": 1,
     "bandwidth": 5120, "monthly_cost": 43.8, "type": "vcg", "locations": ["ewr"]},
    # A plan the API gives no price for.
    {"id": "vc2-free-trial", "vcpu_count": 1, "ram": 512, "disk": 10, "disk_count": 1,
     "bandwidth": 500, "monthly_cost": 0, "type": "vc2", "locations": ["ewr"]},
]
OS: list[dict[str, Any]] = [
    {"id": 2284, "name": "Ubuntu 24.04 LTS x64", "arch": "x64", "family": "ubuntu"},
    {"id": 1743, "name": "Ubuntu 22.04 LTS x64", "arch": "x64", "family": "ubuntu"},
    {"id": 2136, "name": "Debian 12 x64 (bookworm)", "arch": "x64", "family": "debian"},
    {"id": 2187, "name": "Fedora 40 x64", "arch": "x64", "family": "fedora"},
    {"id": 1869, "name": "Rocky Linux 9 x64", "arch": "x64", "family": "rockylinux"},
    {"id": 159, "name": "Custom", "arch": "x64", "family": "iso"},
]


def error(status: int, message: str) -> FakeResponse:
    """Vultr's error body."""
    return FakeResponse.json({"error": message, "status": status}, status)


def not_found() -> FakeResponse:
    """The 404 every unknown resource gets."""
    return error(404, "Not found")


def stamp() -> str:
    """A timestamp as Vultr writes them (``2020-10-10T01:56:20+00:00``)."""
    from datetime import UTC
    from datetime import datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def cursor_of(item_id: str) -> str:
    """An opaque cursor, as Vultr's look: base64 of ``next__<id>``."""
    return base64.b64encode(f"next__{item_id}".encode()).decode()


@dataclass
class VultrState(Faults):
    """Instances, blocks, SSH keys and snapshots."""

    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    #: Power changes under way: instance id -> (observations left, new power status).
    power: dict[str, tuple[int, str]] = field(default_factory=dict)
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    addresses: Iterator[int] = field(default_factory=lambda: itertools.count(2))
    #: The sshd ``AuthorizedKeysFile`` an instance's keys are appended to when it boots.
    authorized_keys: Path | None = None
    #: When set, every list answer names this cursor as the next one (a cycle).
    stuck_cursor: str | None = None


class VultrComputeServer(GuardedAPI):
    """The compute routes over one :class:`VultrState`."""

    def __init__(self) -> None:
        super().__init__()
        self.state = VultrState()
        self._routes()

    @classmethod
    @contextmanager
    def serve(cls) -> Iterator[tuple[VultrComputeServer, str]]:
        """A fresh server; yields it and the driver endpoint (``.../v2``)."""
        server = cls()
        with server.serving() as base_url:
            yield server, base_url + PREFIX

    def denied(self, request: FakeRequest) -> FakeResponse | None:
        """401 unless the request carries the fixture's key."""
        if request.header("Authorization") != f"Bearer {TOKEN}":
            return error(401, "Invalid API token.")
        return None

    def page(self, req: FakeRequest, key: str, items: list[dict[str, Any]]) -> FakeResponse:
        """One page of ``items`` under ``key``, with ``meta.total`` and ``meta.links``."""
        try:
            per_page = int(req.arg("per_page", "100") or 100)
        except ValueError:
            return error(400, "per_page must be an integer")  # unverified wording
        if not 1 <= per_page <= 500:
            return error(400, "per_page must be between 1 and 500")  # unverified wording
        start = 0
        cursor = req.arg("cursor")
        if cursor:
            try:
                after = base64.b64decode(cursor, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return error(400, "Invalid cursor")  # unverified wording
            ids = [str(item["id"]) for item in items]
            if not after.startswith("next__") or after[6:] not in ids:
                return error(400, "Invalid cursor")  # unverified wording
            start = ids.index(after[6:])
        chunk = items[start:start + per_page]
        following = items[start + per_page:]
        next_cursor = cursor_of(str(following[0]["id"])) if following else ""
        if self.state.stuck_cursor is not None:
            next_cursor = self.state.stuck_cursor
        prev_cursor = base64.b64encode(f"prev__{items[start]['id']}".encode()).decode() \
            if start else ""
        return FakeResponse.json({key: chunk, "meta": {
            "total": len(items), "links": {"next": next_cursor, "prev": prev_cursor}}})

    # -- instances -----------------------------------------------------------------------

    def new_instance(self, body: dict[str, Any]) -> dict[str, Any] | FakeResponse:
        """An instance from a create's body (stored by the caller), or the 400."""
        region = next((r for r in REGIONS if r["id"] == body.get("region")), None)
        if region is None:
            return error(400, "Invalid region.")  # unverified wording
        plan = next((p for p in PLANS if p["id"] == body.get("plan")), None)
        if plan is None or region["id"] not in plan["locations"]:
            return error(400, "Invalid plan.")  # unverified wording
        os_id = body.get("os_id")
        if isinstance(os_id, str) and os_id.isdigit():  # Libcloud sends its str id (unverified)
            os_id = int(os_id)
        os_entry = next((o for o in OS if o["id"] == os_id), None)
        snapshot = self.state.snapshots.get(str(body.get("snapshot_id") or ""))
        if os_entry is None and snapshot is None and not body.get("image_id") \
                and not body.get("app_id"):
            return error(400, "Invalid operating system.")  # unverified wording
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            return error(400, "tags must be a list of strings")  # unverified wording
        key_ids = body.get("sshkey_id") or []
        if isinstance(key_ids, str):
            key_ids = [key_ids]
        if any(k not in self.state.keys for k in key_ids):
            return error(400, "Invalid SSH key.")  # unverified wording
        user_data = body.get("user_data")
        if user_data is not None:
            try:
                base64.b64decode(user_data, validate=True)
            except (binascii.Error, TypeError, ValueError):
                return error(400, "user_data must be base64 encoded")  # unverified wording
        instance_id = str(uuid.uuid4())
        label = str(body.get("label") or "")
        return {
            "id": instance_id, "os": os_entry["name"] if os_entry else "Snapshot",
            "ram": plan["ram"], "disk": plan["disk"], "main_ip": "0.0.0.0",
            "vcpu_count": plan["vcpu_count"], "region": region["id"], "plan": plan["id"],
            "date_created": stamp(), "status": "pending",
            "allowed_bandwidth": plan["bandwidth"], "netmask_v4": "", "gateway_v4": "0.0.0.0",
            "power_status": "stopped", "server_status": "none", "v6_network": "",
            "v6_main_ip": "", "v6_network_size": 0, "label": label, "internal_ip": "",
            "kvm": "", "hostname": body.get("hostname") or label or "vultr.guest",
            "tag": body.get("tag") or "", "tags": list(tags),
            "os_id": os_id if os_entry else 0, "app_id": body.get("app_id") or 0,
            "image_id": body.get("image_id") or "",
            "firewall_group_id": body.get("firewall_group_id") or "",
            "features": ["ipv6"] if body.get("enable_ipv6") else [],
            "default_password": "v" + uuid.uuid4().hex[:15] + "!",
            "_keys": list(key_ids), "_user_data": user_data, "_body": dict(body),
        }

    def boot(self, instance: dict[str, Any]) -> None:
        """The instance is up: its addresses, and its keys reach the sshd."""
        instance.update(status="active", power_status="running", server_status="ok",
                        main_ip="127.0.0.1", netmask_v4="255.0.0.0", gateway_v4="127.0.0.254",
                        internal_ip=f"10.1.96.{next(self.state.addresses) % 250 + 2}")
        if "ipv6" in instance["features"]:
            instance.update(v6_main_ip="2001:db8::1", v6_network="2001:db8::",
                            v6_network_size=64)
        path = self.state.authorized_keys
        if path is not None:
            for key_id in instance.pop("_keys", []):
                key = self.state.keys.get(key_id)
                if key is not None:
                    with open(path, "a", encoding="utf-8") as f:
                        f.write(key["ssh_key"].strip() + "\n")

    def observe(self, instance: dict[str, Any]) -> dict[str, Any]:
        """An instance as a GET or a listing shows it: ``pending`` boots on its
        second observation; a power change lands when its count runs out."""
        state = self.state
        count = state.seen.get(instance["id"], 0) + 1
        state.seen[instance["id"]] = count
        if instance["status"] == "pending" and count >= 2:
            self.boot(instance)
        change = state.power.get(instance["id"])
        if change is not None:
            left, power = change
            if left <= 0:
                del state.power[instance["id"]]
                instance["power_status"] = power
            else:
                state.power[instance["id"]] = (left - 1, power)
        return {k: v for k, v in instance.items()
                if not k.startswith("_") and k != "default_password"}  # told at create only

    # -- routes --------------------------------------------------------------------------

    def _routes(self) -> None:
        api, state = self, self.state

        @api.route("GET", f"{PREFIX}/regions")
        def list_regions(req: FakeRequest) -> FakeResponse:
            return api.page(req, "regions", REGIONS)

        @api.route("GET", f"{PREFIX}/plans")
        def list_plans(req: FakeRequest) -> FakeResponse:
            return api.page(req, "plans", PLANS)

        @api.route("GET", f"{PREFIX}/os")
        def list_os(req: FakeRequest) -> FakeResponse:
            return api.page(req, "os", OS)

        # instances

        @api.route("GET", f"{PREFIX}/instances")
        def list_instances(req: FakeRequest) -> FakeResponse:
            tag, label = req.arg("tag"), req.arg("label")
            found = [api.observe(i) for i in state.instances.values()
                     if (tag is None or tag in i["tags"])
                     and (label is None or i["label"] == label)]
            return api.page(req, "instances", found)

        @api.route("POST", f"{PREFIX}/instances")
        def create_instance(req: FakeRequest) -> FakeResponse:
            made = api.new_instance(req.json() or {})
            if isinstance(made, FakeResponse):
                return made
            state.instances[made["id"]] = made
            shown = {k: v for k, v in made.items() if not k.startswith("_")}
            return FakeResponse.json({"instance": shown}, 202)

        @api.route("POST", f"{PREFIX}/instances/halt")
        def halt_many(req: FakeRequest) -> FakeResponse:
            ids = (req.json() or {}).get("instance_ids") or []
            if not ids or any(i not in state.instances for i in ids):
                return error(400, "Invalid instance_ids.")  # unverified wording
            for instance_id in ids:
                state.power[instance_id] = (1, "stopped")
            return FakeResponse(204)

        instance_path = f"{PREFIX}/instances/(?P<instance_id>[0-9a-f-]{{36}})"

        @api.route("GET", instance_path)
        def get_instance(req: FakeRequest, instance_id: str) -> FakeResponse:
            instance = state.instances.get(instance_id)
            if instance is None:
                return not_found()
            return FakeResponse.json({"instance": api.observe(instance)})

        @api.route("PATCH", instance_path)
        def update_instance(req: FakeRequest, instance_id: str) -> FakeResponse:
            instance = state.instances.get(instance_id)
            if instance is None:
                return not_found()
            body = req.json() or {}
            if "plan" in body:
                plan = next((p for p in PLANS if p["id"] == body["plan"]), None)
                if plan is None:
                    return error(400, "Invalid plan.")  # unverified wording
                instance.update(plan=plan["id"], ram=plan["ram"], disk=plan["disk"],
                                vcpu_count=plan["vcpu_count"])
            if "label" in body:
                instance["label"] = str(body["label"])
            return FakeResponse.json({"instance": api.observe(instance)}, 202)

        @api.route("DELETE", instance_path)
        def delete_instance(req: FakeRequest, instance_id: str) -> FakeResponse:
            if state.instances.pop(instance_id, None) is None:
                return not_found()
            for block in state.blocks.values():
                if block["attached_to_instance"] == instance_id:
                    block["attached_to_instance"] = ""
            return FakeResponse(204)

        @api.route("POST", f"{instance_path}/(?P<action>reboot|start|halt)")
        def power(req: FakeRequest, instance_id: str, action: str) -> FakeResponse:
            instance = state.instances.get(instance_id)
            if instance is None:
                return not_found()
            if instance["status"] != "active":
                return error(400, "Unable to change power state: "
                                  "server is not active.")  # unverified wording
            if action == "halt":
                state.power[instance_id] = (1, "stopped")
            elif action == "start" or instance["power_status"] == "running":
                state.power[instance_id] = (1, "running")
                if action == "reboot":  # down now, up again at the count's end
                    instance["power_status"] = "stopped"
            else:
                return error(400, "Unable to reboot: server is stopped.")  # unverified
            return FakeResponse(204)

        # block storage

        @api.route("GET", f"{PREFIX}/blocks")
        def list_blocks(req: FakeRequest) -> FakeResponse:
            return api.page(req, "blocks", list(state.blocks.values()))

        @api.route("POST", f"{PREFIX}/blocks")
        def create_block(req: FakeRequest) -> FakeResponse:
            body = req.json() or {}
            region = next((r for r in REGIONS if r["id"] == body.get("region")), None)
            size = body.get("size_gb")
            if region is None:
                return error(400, "Invalid region.")  # unverified wording
            if not isinstance(size, int) or isinstance(size, bool) or not 10 <= size <= 40000:
                return error(400, "size_gb must be between 10 and 40000")  # unverified
            block = {"id": str(uuid.uuid4()), "date_created": stamp(),
                     "cost": round(size * 0.1, 2), "status": "active", "size_gb": size,
                     "region": region["id"], "attached_to_instance": "",
                     "label": str(body.get("label") or ""),
                     "mount_id": f"{region['id']}-{uuid.uuid4().hex[:14]}",
                     "block_type": body.get("block_type") or "high_perf"}
            state.blocks[block["id"]] = block
            return FakeResponse.json({"block": block}, 202)

        block_path = f"{PREFIX}/blocks/(?P<block_id>[0-9a-f-]{{36}})"

        @api.route("GET", block_path)
        def get_block(req: FakeRequest, block_id: str) -> FakeResponse:
            block = state.blocks.get(block_id)
            return not_found() if block is None else FakeResponse.json({"block": block})

        @api.route("PATCH", block_path)
        def update_block(req: FakeRequest, block_id: str) -> FakeResponse:
            block = state.blocks.get(block_id)
            if block is None:
                return not_found()
            body = req.json() or {}
            size = body.get("size_gb", block["size_gb"])
            if not isinstance(size, int) or size < block["size_gb"] or size > 40000:
                return error(400, "size_gb can only grow, up to 40000")  # unverified
            block["size_gb"] = size
            if "label" in body:
                block["label"] = str(body["label"])
            return FakeResponse(204)

        @api.route("DELETE", block_path)
        def delete_block(req: FakeRequest, block_id: str) -> FakeResponse:
            block = state.blocks.get(block_id)
            if block is None:
                return not_found()
            if block["attached_to_instance"]:
                return error(400, "Block storage is attached; detach it first.")  # unverified
            del state.blocks[block_id]
            return FakeResponse(204)

        @api.route("POST", f"{block_path}/attach")
        def attach_block(req: FakeRequest, block_id: str) -> FakeResponse:
            block = state.blocks.get(block_id)
            if block is None:
                return not_found()
            body = req.json() or {}
            instance = state.instances.get(str(body.get("instance_id")))
            if instance is None:
                return error(400, "Invalid instance_id.")  # unverified wording
            if not isinstance(body.get("live"), bool):
                return error(400, "live is required")  # unverified wording
            if block["attached_to_instance"]:
                return error(400, "Block storage is already attached.")  # unverified
            if instance["region"] != block["region"]:
                return error(400, "Block storage and instance must be in the same "
                                  "region.")  # unverified wording
            block["attached_to_instance"] = instance["id"]
            return FakeResponse(204)

        @api.route("POST", f"{block_path}/detach")
        def detach_block(req: FakeRequest, block_id: str) -> FakeResponse:
            block = state.blocks.get(block_id)
            if block is None:
                return not_found()
            if not isinstance((req.json() or {}).get("live"), bool):
                return error(400, "live is required")  # unverified wording
            if not block["attached_to_instance"]:
                return error(400, "Block storage is not attached.")  # unverified
            block["attached_to_instance"] = ""
            return FakeResponse(204)

        # SSH keys

        @api.route("GET", f"{PREFIX}/ssh-keys")
        def list_keys(req: FakeRequest) -> FakeResponse:
            return api.page(req, "ssh_keys", list(state.keys.values()))

        @api.route("POST", f"{PREFIX}/ssh-keys")
        def create_key(req: FakeRequest) -> FakeResponse:
            body = req.json() or {}
            name, material = body.get("name"), body.get("ssh_key")
            if not isinstance(name, str) or not name:
                return error(400, "Missing name.")  # unverified wording
            if not isinstance(material, str) or len(material.split()) < 2 \
                    or not material.startswith(("ssh-", "ecdsa-")):
                return error(400, "Invalid SSH key.")  # unverified wording
            key = {"id": str(uuid.uuid4()), "date_created": stamp(), "name": name,
                   "ssh_key": material.strip()}
            state.keys[key["id"]] = key
            return FakeResponse.json({"ssh_key": key}, 201)

        key_path = f"{PREFIX}/ssh-keys/(?P<key_id>[0-9a-f-]{{36}})"

        @api.route("GET", key_path)
        def get_key(req: FakeRequest, key_id: str) -> FakeResponse:
            key = state.keys.get(key_id)
            return not_found() if key is None else FakeResponse.json({"ssh_key": key})

        @api.route("DELETE", key_path)
        def delete_key(req: FakeRequest, key_id: str) -> FakeResponse:
            if state.keys.pop(key_id, None) is None:
                return not_found()
            return FakeResponse(204)

        # snapshots

        def snapshot_view(snapshot: dict[str, Any]) -> dict[str, Any]:
            shown = dict(snapshot)
            if snapshot["status"] == "pending":  # complete from its next observation
                snapshot["status"] = "complete"
            return shown

        @api.route("GET", f"{PREFIX}/snapshots")
        def list_snapshots(req: FakeRequest) -> FakeResponse:
            return api.page(req, "snapshots",
                            [snapshot_view(s) for s in state.snapshots.values()])

        @api.route("POST", f"{PREFIX}/snapshots")
        def create_snapshot(req: FakeRequest) -> FakeResponse:
            body = req.json() or {}
            instance = state.instances.get(str(body.get("instance_id")))
            if instance is None:
                return error(400, "Invalid instance_id.")  # unverified wording
            snapshot = {"id": str(uuid.uuid4()), "date_created": stamp(),
                        "description": str(body.get("description") or ""),
                        "size": instance["disk"] * 1024 ** 3,
                        "compressed_size": instance["disk"] * 1024 ** 3 // 3,
                        "status": "pending", "os_id": instance["os_id"],
                        "app_id": instance["app_id"]}
            state.snapshots[snapshot["id"]] = snapshot
            return FakeResponse.json({"snapshot": snapshot}, 202)

        snapshot_path = f"{PREFIX}/snapshots/(?P<snapshot_id>[0-9a-f-]{{36}})"

        @api.route("GET", snapshot_path)
        def get_snapshot(req: FakeRequest, snapshot_id: str) -> FakeResponse:
            snapshot = state.snapshots.get(snapshot_id)
            return not_found() if snapshot is None else FakeResponse.json(
                {"snapshot": snapshot_view(snapshot)})

        @api.route("DELETE", snapshot_path)
        def delete_snapshot(req: FakeRequest, snapshot_id: str) -> FakeResponse:
            if state.snapshots.pop(snapshot_id, None) is None:
                return not_found()
            return FakeResponse(204)

        # bare metal: none on this account (Libcloud's list_nodes asks by default)

        @api.route("GET", f"{PREFIX}/bare-metals")
        def list_bare_metals(req: FakeRequest) -> FakeResponse:
            return api.page(req, "bare_metals", [])

        @api.route("GET", f"{PREFIX}/plans-metal")
        def list_metal_plans(req: FakeRequest) -> FakeResponse:
            return api.page(req, "plans_metal", [])

        # ids that are not UUIDs are unknown, as on Vultr

        @api.route("GET", f"{PREFIX}/(?:instances|blocks|ssh-keys|snapshots)/[^/]+")
        def unknown(req: FakeRequest) -> FakeResponse:
            return not_found()


def serve() -> AbstractContextManager[tuple[VultrComputeServer, str]]:
    """A fresh server; yields it and the driver endpoint (``.../v2``)."""
    return VultrComputeServer.serve()


def shared_server(request: pytest.FixtureRequest) -> tuple[VultrComputeServer, str]:
    """This test process's server, started on first use and stopped at session end."""
    found = _SHARED.get("vultr")
    if found is None:
        context = serve()
        found = context.__enter__()
        _SHARED["vultr"] = found
        request.config.add_cleanup(lambda: context.__exit__(None, None, None))
    return found


def make_driver(endpoint: str, sent: list[object] | None = None,
                **options: Any) -> VultrNodeDriver:
    """The driver on ``endpoint``, with small pages and quick polls."""
    hooks = Hooks(on_request=[sent.append]) if sent is not None else Hooks()
    settings: dict[str, Any] = {"page_size": 2, "poll_interval": 0.01, **options}
    return VultrNodeDriver(TOKEN, endpoint=endpoint, hooks=hooks, **settings)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeTarget:
    """The Vultr driver against this process's fixture server (instances in
    New Jersey, ``ewr``: Vultr needs a region)."""
    _, endpoint = shared_server(request)
    sent: list[object] = []
    driver = make_driver(endpoint, sent)
    ewr = NodeLocation("ewr", "New Jersey", "US", driver)
    return ComputeTarget(driver=driver, requests=sent, page_size=2, wait_period=0.01,
                         create_kwargs={"location": ewr}, volume_size=10)
