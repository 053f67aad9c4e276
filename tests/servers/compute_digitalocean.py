"""A stateful fixture server of DigitalOcean's API v2 for compute (droplets,
actions, sizes, images, regions, volumes, snapshots, SSH keys, floating IPs),
and the compute conformance factory.

No DigitalOcean server runs on this machine, so this is written from
DigitalOcean's API reference (the OpenAPI specification of "Droplets",
"Droplet Actions", "Actions", "Sizes", "Images", "Regions", "Block Storage",
"Block Storage Actions", "SSH Keys" and "Floating IPs"). Auth, errors and
paging are every DigitalOcean fixture's (:mod:`servers.digitalocean_api`).
What it keeps of the API's behaviour:

* ``POST /v2/droplets`` answers ``202`` with the droplet ``new`` (no
  networks yet) and ``links.actions`` naming its ``create`` action. It is
  ``active`` from its second observation (a GET or a listing), with the
  public address 127.0.0.1 and a private 10.116.0.x. ``name``, ``size``,
  ``image`` are required (422 otherwise, or for an unknown size, image or
  region); ``region`` is optional (the fixture picks ``nyc3``); ``tags``
  must be letters, digits, ``:``, ``-``, ``_``; ``ssh_keys`` are ids or
  fingerprints of the account's keys (422 for an unknown one). ``GET
  /v2/droplets?tag_name=`` filters by tag.
* Droplet actions (``POST /v2/droplets/{id}/actions``: ``reboot``,
  ``power_on``, ``power_off``, ``shutdown``, ``power_cycle``, ``resize``,
  ``rename``) answer ``201`` with the action ``in-progress``; ``GET
  /v2/actions/{id}`` shows it ``in-progress`` once more and then
  ``completed``, the droplet changing then. ``power_on`` of an active
  droplet and ``power_off`` of an off one are 422, as is ``resize`` of a
  droplet that is not off. ``errored`` actions can be armed
  (:attr:`ComputeState.error_next_action`).
* Volumes (``/v2/volumes``, ``?name=&region=`` filters): ``POST`` answers
  ``201``; a name is unique per region (422 "... already exists"); a
  volume needs ``region`` unless made from ``snapshot_id``. ``POST
  /v2/volumes/{id}/actions`` ``attach``/``detach`` (``droplet_id``,
  ``region``) answer ``202`` with an action; attaching in another region,
  or a volume that is attached, is 422; deleting an attached volume is
  409 (unverified status). Snapshots: ``POST /v2/volumes/{id}/snapshots``
  (``201``), ``GET /v2/volumes/{id}/snapshots``, ``GET``/``DELETE
  /v2/snapshots/{id}``.
* SSH keys (``/v2/account/keys``): ``POST`` with ``name`` and a
  ``public_key`` (422 "SSH Key is already in use on your account" for a key
  the account has); ``GET``/``DELETE /v2/account/keys/{id or fingerprint}``
  (the MD5 fingerprint of the key).
* Floating IPs (``/v2/floating_ips``): reserved in a region (from
  192.0.2.0/24) or for a droplet; ``assign``/``unassign`` actions.

When the fixture's :attr:`ComputeState.authorized_keys` names a file (the
suite sshd's ``AuthorizedKeysFile``), a droplet's keys are appended to it
when the droplet becomes active: only keys given by id or fingerprint reach
the machine, as on DigitalOcean.

Tests arm failures with ``state.inject(...)`` (``after=True`` stores the
create, then answers 500: its answer is lost).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from overcast.compute.drivers.digitalocean import DigitalOceanNodeDriver
from overcast.runtime.policy import Hooks
from servers.compute_target import ComputeTarget
from servers.digitalocean_api import PREFIX
from servers.digitalocean_api import TOKEN
from servers.digitalocean_api import DigitalOceanAPI
from servers.digitalocean_api import Faults
from servers.digitalocean_api import error
from servers.digitalocean_api import invalid
from servers.digitalocean_api import not_found
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

__all__ = ["TOKEN", "ComputeState", "DigitalOceanComputeServer", "make_target", "serve"]

DEFAULT_REGION = "nyc3"
REGIONS: list[dict[str, Any]] = [
    {"slug": "nyc1", "name": "New York 1", "available": True},
    {"slug": "nyc3", "name": "New York 3", "available": True},
    {"slug": "ams3", "name": "Amsterdam 3", "available": True},
    {"slug": "sfo1", "name": "San Francisco 1", "available": False},
    {"slug": "fra1", "name": "Frankfurt 1", "available": True},
]
SIZES: list[dict[str, Any]] = [
    {"slug": "s-1vcpu-512mb-10gb", "memory": 512, "vcpus": 1, "disk": 10, "transfer": 0.5,
     "price_monthly": 4.0, "price_hourly": 0.00595},
    {"slug": "s-1vcpu-1gb", "memory": 1024, "vcpus": 1, "disk": 25, "transfer": 1.0,
     "price_monthly": 6.0, "price_hourly": 0.00893},
    {"slug": "s-1vcpu-2gb", "memory": 2048, "vcpus": 1, "disk": 50, "transfer": 2.0,
     "price_monthly": 12.0, "price_hourly": 0.01786},
    {"slug": "s-2vcpu-2gb", "memory": 2048, "vcpus": 2, "disk": 60, "transfer": 3.0,
     "price_monthly": 18.0, "price_hourly": 0.02679},
    {"slug": "s-2vcpu-4gb", "memory": 4096, "vcpus": 2, "disk": 80, "transfer": 4.0,
     "price_monthly": 24.0, "price_hourly": 0.03571},
    {"slug": "c-2", "memory": 4096, "vcpus": 2, "disk": 25, "transfer": 4.0,
     "price_monthly": 42.0, "price_hourly": 0.0625},
    {"slug": "m-2vcpu-16gb", "memory": 16384, "vcpus": 2, "disk": 50, "transfer": 4.0,
     "price_monthly": 84.0, "price_hourly": 0.125},
]
IMAGES: list[dict[str, Any]] = [
    {"id": 100001 + n, "name": name, "distribution": dist, "slug": slug, "public": True,
     "min_disk_size": 7, "size_gigabytes": 2.36, "type": "base", "description": name,
     "status": "available", "created_at": "2024-04-25T14:25:44Z", "tags": []}
    for n, (name, dist, slug) in enumerate([
        ("24.04 (LTS) x64", "Ubuntu", "ubuntu-24-04-x64"),
        ("22.04 (LTS) x64", "Ubuntu", "ubuntu-22-04-x64"),
        ("12 x64", "Debian", "debian-12-x64"),
        ("40 x64", "Fedora", "fedora-40-x64"),
        ("9 x64", "Rocky Linux", "rockylinux-9-x64"),
        ("AlmaLinux 9", "AlmaLinux", "almalinux-9-x64"),
    ])
]
_TAG = re.compile(r"\A[A-Za-z0-9:_-]{1,255}\Z")
_HOSTNAME = re.compile(r"\A[A-Za-z0-9.-]{1,255}\Z")
_VOLUME_NAME = re.compile(r"\A[a-z][a-z0-9-]{0,63}\Z")
_NODE_ACTIONS = frozenset({"reboot", "power_on", "power_off", "shutdown", "power_cycle",
                           "resize", "rename"})


def stamp(moment: float | None = None) -> str:
    """An ISO 8601 UTC timestamp as DigitalOcean writes them."""
    when = datetime.fromtimestamp(time.time() if moment is None else moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(public_key: str) -> str | None:
    """The MD5 fingerprint DigitalOcean gives a key (``aa:bb:...``); None if no key."""
    parts = public_key.split()
    if len(parts) < 2:
        return None
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return None
    digest = hashlib.md5(raw).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


@dataclass
class ComputeState(Faults):
    """Droplets, actions, volumes, snapshots, keys and floating IPs."""

    droplets: dict[int, dict[str, Any]] = field(default_factory=dict)
    seen: dict[int, int] = field(default_factory=dict)
    actions: dict[int, dict[str, Any]] = field(default_factory=dict)
    pending: dict[int, tuple[int, str, dict[str, Any]]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[int, dict[str, Any]] = field(default_factory=dict)
    floating_ips: dict[str, dict[str, Any]] = field(default_factory=dict)
    droplet_ids: Iterator[int] = field(default_factory=lambda: itertools.count(3164444))
    action_ids: Iterator[int] = field(default_factory=lambda: itertools.count(36804636))
    key_ids: Iterator[int] = field(default_factory=lambda: itertools.count(512189))
    addresses: Iterator[int] = field(default_factory=lambda: itertools.count(2))
    #: The sshd ``AuthorizedKeysFile`` a droplet's keys are appended to when it boots.
    authorized_keys: Path | None = None
    #: Actions of these types are ``errored`` instead of completed (once each).
    error_next_action: set[str] = field(default_factory=set)


def _region(slug: str) -> dict[str, Any] | None:
    found = next((r for r in REGIONS if r["slug"] == slug), None)
    if found is None:
        return None
    return {**found, "sizes": [s["slug"] for s in SIZES],
            "features": ["backups", "ipv6", "metadata", "storage"]}


def _size(slug: str) -> dict[str, Any] | None:
    found = next((s for s in SIZES if s["slug"] == slug), None)
    if found is None:
        return None
    return {**found, "regions": [r["slug"] for r in REGIONS if r["available"]],
            "available": True, "description": "Basic"}


def _image(ref: Any) -> dict[str, Any] | None:
    found = next((i for i in IMAGES if ref in (i["id"], i["slug"], str(i["id"]))), None)
    if found is None:
        return None
    return {**found, "regions": [r["slug"] for r in REGIONS if r["available"]]}


class DigitalOceanComputeServer(DigitalOceanAPI):
    """The compute routes over one :class:`ComputeState`."""

    def __init__(self) -> None:
        super().__init__()
        self.state = ComputeState()
        self._routes()

    # -- droplets ---------------------------------------------------------------------

    def _observe(self, droplet: dict[str, Any]) -> dict[str, Any]:
        """A droplet as a GET or a listing shows it: ``new`` turns ``active`` on
        its second observation (and its keys reach the sshd)."""
        state = self.state
        count = state.seen.get(droplet["id"], 0) + 1
        state.seen[droplet["id"]] = count
        if droplet["status"] == "new" and count >= 2:
            self._boot(droplet)
        return droplet

    def _boot(self, droplet: dict[str, Any]) -> None:
        droplet["status"] = "active"
        if not droplet["networks"]["v4"]:
            droplet["networks"]["v4"] = [
                {"ip_address": "127.0.0.1", "netmask": "255.0.0.0", "gateway": "127.0.0.254",
                 "type": "public"},
                {"ip_address": f"10.116.0.{droplet['id'] % 250 + 2}", "netmask": "255.255.240.0",
                 "gateway": "10.116.0.1", "type": "private"}]
        path = self.state.authorized_keys
        if path is not None and droplet.pop("_keys", None):
            for key_id in droplet["_key_ids"]:
                key = self.state.keys.get(key_id)
                if key is not None:
                    with open(path, "a", encoding="utf-8") as f:
                        f.write(key["public_key"].strip() + "\n")

    def _key(self, ref: Any) -> dict[str, Any] | None:
        for key in self.state.keys.values():
            if ref in (key["id"], str(key["id"]), key["fingerprint"]):
                return key
        return None

    def _new_droplet(self, body: dict[str, Any]) -> dict[str, Any] | FakeResponse:
        name = body.get("name")
        if not isinstance(name, str) or not _HOSTNAME.match(name):
            return invalid("Name Only valid hostname characters are allowed. "
                           "(a-z, A-Z, 0-9, . and -)")
        size = _size(str(body.get("size") or ""))
        if size is None:
            return invalid("You specified an invalid size for Droplet creation.")
        image = _image(body.get("image"))
        if image is None:
            return invalid("You specified an invalid image for Droplet creation.")
        region = _region(str(body.get("region") or DEFAULT_REGION))
        if region is None or not region["available"]:
            return invalid("You specified an invalid region for Droplet creation.")
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) and _TAG.match(t)
                                                 for t in tags):
            return invalid("tags must be letters, numbers, colons, dashes and underscores")
        key_ids = []
        for ref in body.get("ssh_keys") or []:
            key = self._key(ref)
            if key is None:
                return invalid("ssh_keys are invalid")  # unverified wording
            key_ids.append(key["id"])
        droplet_id = next(self.state.droplet_ids)
        return {
            "id": droplet_id, "name": name, "memory": size["memory"], "vcpus": size["vcpus"],
            "disk": size["disk"], "locked": False, "status": "new", "kernel": None,
            "created_at": stamp(), "features": ["ipv6"] if body.get("ipv6") else [],
            "backup_ids": [], "next_backup_window": None, "snapshot_ids": [], "image": image,
            "volume_ids": [], "size": size, "size_slug": size["slug"],
            "networks": {"v4": [], "v6": []}, "region": region, "tags": list(tags),
            "vpc_uuid": str(uuid.uuid4()), "_key_ids": key_ids, "_keys": bool(key_ids),
            "_user_data": body.get("user_data"),
        }

    @staticmethod
    def _public(droplet: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in droplet.items() if not k.startswith("_")}

    # -- actions ----------------------------------------------------------------------

    def _action(self, kind: str, resource_type: str, resource_id: Any, region: str,
                apply: dict[str, Any] | None = None, *, done: bool = False) -> dict[str, Any]:
        action_id = next(self.state.action_ids)
        action = {"id": action_id, "status": "completed" if done else "in-progress",
                  "type": kind, "started_at": stamp(), "completed_at": stamp() if done else None,
                  "resource_id": resource_id, "resource_type": resource_type,
                  "region": _region(region), "region_slug": region}
        self.state.actions[action_id] = action
        if not done:
            self.state.pending[action_id] = (0, kind, apply or {})
        return action

    def _advance(self, action: dict[str, Any]) -> None:
        """An action seen once more: the second look completes it (and applies it)."""
        entry = self.state.pending.get(action["id"])
        if entry is None:
            return
        looks, kind, apply = entry
        if looks < 1:
            self.state.pending[action["id"]] = (looks + 1, kind, apply)
            return
        del self.state.pending[action["id"]]
        if kind in self.state.error_next_action:
            self.state.error_next_action.discard(kind)
            action.update(status="errored", completed_at=stamp())
            return
        change = apply.get("change")
        if callable(change):
            change()
        action.update(status="completed", completed_at=stamp())

    # -- routes -----------------------------------------------------------------------

    def _routes(self) -> None:
        api, state = self, self.state
        page = self._page

        @api.route("GET", f"{PREFIX}/regions")
        def list_regions(req: FakeRequest) -> FakeResponse:
            return page(req, "regions", [_region(r["slug"]) for r in REGIONS])  # type: ignore[misc]

        @api.route("GET", f"{PREFIX}/sizes")
        def list_sizes(req: FakeRequest) -> FakeResponse:
            return page(req, "sizes", [_size(s["slug"]) for s in SIZES])  # type: ignore[misc]

        @api.route("GET", f"{PREFIX}/images")
        def list_images(req: FakeRequest) -> FakeResponse:
            return page(req, "images", [_image(i["id"]) for i in IMAGES])  # type: ignore[misc]

        @api.route("GET", f"{PREFIX}/images/(?P<ref>[^/]+)")
        def get_image(req: FakeRequest, ref: str) -> FakeResponse:
            image = _image(int(ref) if ref.isdigit() else ref)
            return not_found() if image is None else FakeResponse.json({"image": image})

        # droplets

        @api.route("GET", f"{PREFIX}/droplets")
        def list_droplets(req: FakeRequest) -> FakeResponse:
            tag = req.arg("tag_name")
            found = [self._public(self._observe(d)) for d in state.droplets.values()
                     if tag is None or tag in d["tags"]]
            return page(req, "droplets", found)

        @api.route("POST", f"{PREFIX}/droplets")
        def create_droplet(req: FakeRequest) -> FakeResponse:
            made = self._new_droplet(req.json() or {})
            if isinstance(made, FakeResponse):
                return made
            state.droplets[made["id"]] = made
            action = self._action("create", "droplet", made["id"], made["region"]["slug"],
                                  done=True)
            return FakeResponse.json({"droplet": self._public(made), "links": {"actions": [
                {"id": action["id"], "rel": "create",
                 "href": f"https://api.digitalocean.com/v2/actions/{action['id']}"}]}}, 202)

        droplet_path = f"{PREFIX}/droplets/(?P<droplet_id>[0-9]+)"

        @api.route("GET", droplet_path)
        def get_droplet(req: FakeRequest, droplet_id: str) -> FakeResponse:
            droplet = state.droplets.get(int(droplet_id))
            if droplet is None:
                return not_found()
            return FakeResponse.json({"droplet": self._public(self._observe(droplet))})

        @api.route("DELETE", droplet_path)
        def delete_droplet(req: FakeRequest, droplet_id: str) -> FakeResponse:
            droplet = state.droplets.pop(int(droplet_id), None)
            if droplet is None:
                return not_found()
            for volume in state.volumes.values():
                if droplet["id"] in volume["droplet_ids"]:
                    volume["droplet_ids"].remove(droplet["id"])
            for ip in state.floating_ips.values():
                if ip["droplet"] and ip["droplet"]["id"] == droplet["id"]:
                    ip["droplet"] = None
            return FakeResponse(204)

        @api.route("POST", f"{droplet_path}/actions")
        def droplet_action(req: FakeRequest, droplet_id: str) -> FakeResponse:
            droplet = state.droplets.get(int(droplet_id))
            if droplet is None:
                return not_found()
            body = req.json() or {}
            kind = body.get("type")
            if kind not in _NODE_ACTIONS:
                return invalid(f"{kind!r} is not a valid action type")  # unverified wording
            status = droplet["status"]
            target = {"reboot": "active", "power_on": "active", "power_cycle": "active",
                      "power_off": "off", "shutdown": "off"}.get(str(kind))
            if kind == "power_on" and status == "active":
                return invalid("Droplet is already powered on.")
            if kind in ("power_off", "shutdown") and status == "off":
                return invalid("Droplet is already powered off.")
            if kind in ("reboot", "power_cycle") and status != "active":
                return invalid("Droplet must be powered on.")  # unverified wording
            changes: dict[str, Any] = {}
            if kind == "resize":
                size = _size(str(body.get("size") or ""))
                if size is None:
                    return invalid("You specified an invalid size.")  # unverified wording
                if status != "off":
                    return invalid("Droplet must be powered off to resize.")  # unverified
                changes = {"size": size, "size_slug": size["slug"], "memory": size["memory"],
                           "vcpus": size["vcpus"], "disk": size["disk"]}
            if kind == "rename":
                name = body.get("name")
                if not isinstance(name, str) or not _HOSTNAME.match(name):
                    return invalid("Name Only valid hostname characters are allowed.")
                changes = {"name": name}
            if target is not None:
                changes = {"status": target}

            def change() -> None:
                droplet.update(changes)

            action = self._action(str(kind), "droplet", droplet["id"],
                                  droplet["region"]["slug"], {"change": change})
            return FakeResponse.json({"action": action}, 201)

        @api.route("GET", f"{PREFIX}/actions/(?P<action_id>[0-9]+)")
        def get_action(req: FakeRequest, action_id: str) -> FakeResponse:
            action = state.actions.get(int(action_id))
            if action is None:
                return not_found()
            self._advance(action)
            return FakeResponse.json({"action": action})

        # volumes and snapshots

        def volume_view(volume: dict[str, Any]) -> dict[str, Any]:
            return {**volume, "droplet_ids": list(volume["droplet_ids"])}

        @api.route("GET", f"{PREFIX}/volumes")
        def list_volumes(req: FakeRequest) -> FakeResponse:
            name, region = req.arg("name"), req.arg("region")
            found = [volume_view(v) for v in state.volumes.values()
                     if (name is None or v["name"] == name)
                     and (region is None or v["region"]["slug"] == region)]
            return page(req, "volumes", found)

        @api.route("POST", f"{PREFIX}/volumes")
        def create_volume(req: FakeRequest) -> FakeResponse:
            body = req.json() or {}
            name, size = body.get("name"), body.get("size_gigabytes")
            if not isinstance(name, str) or not _VOLUME_NAME.match(name):
                return invalid("name must be lowercase letters, numbers and hyphens, "
                               "starting with a letter")  # unverified wording
            if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 16384:
                return invalid("size_gigabytes must be between 1 and 16384")  # unverified
            snapshot = None
            if body.get("snapshot_id"):
                snapshot = state.snapshots.get(str(body["snapshot_id"]))
                if snapshot is None:
                    return invalid("snapshot_id is invalid")  # unverified wording
            slug = body.get("region") or (snapshot["regions"][0] if snapshot else None)
            region = _region(str(slug)) if slug else None
            if region is None:
                return invalid("region is required")  # unverified wording
            if any(v["name"] == name and v["region"]["slug"] == region["slug"]
                   for v in state.volumes.values()):
                return error(409, "conflict",
                             "a volume with that name already exists")  # unverified status
            tags = body.get("tags") or []
            volume = {"id": str(uuid.uuid4()), "region": region, "droplet_ids": [],
                      "name": name, "description": body.get("description") or "",
                      "size_gigabytes": size, "created_at": stamp(),
                      "filesystem_type": body.get("filesystem_type") or "",
                      "filesystem_label": "", "tags": list(tags)}
            state.volumes[volume["id"]] = volume
            return FakeResponse.json({"volume": volume_view(volume)}, 201)

        volume_path = f"{PREFIX}/volumes/(?P<volume_id>[0-9a-f-]+)"

        @api.route("GET", volume_path)
        def get_volume(req: FakeRequest, volume_id: str) -> FakeResponse:
            volume = state.volumes.get(volume_id)
            return not_found() if volume is None else FakeResponse.json(
                {"volume": volume_view(volume)})

        @api.route("DELETE", volume_path)
        def delete_volume(req: FakeRequest, volume_id: str) -> FakeResponse:
            volume = state.volumes.get(volume_id)
            if volume is None:
                return not_found()
            if volume["droplet_ids"]:
                return error(409, "conflict", "volume is attached to a droplet")  # unverified
            del state.volumes[volume_id]
            return FakeResponse(204)

        @api.route("POST", f"{volume_path}/actions")
        def volume_action(req: FakeRequest, volume_id: str) -> FakeResponse:
            volume = state.volumes.get(volume_id)
            if volume is None:
                return not_found()
            body = req.json() or {}
            kind = body.get("type")
            droplet = state.droplets.get(body.get("droplet_id") or -1)
            if droplet is None:
                return not_found()
            if body.get("region") not in (None, volume["region"]["slug"]) \
                    or droplet["region"]["slug"] != volume["region"]["slug"]:
                return invalid("Droplet and Volume must be in the same region")  # unverified
            if kind == "attach":
                if volume["droplet_ids"]:
                    return invalid("volume is already attached")  # unverified wording

                def change() -> None:
                    volume["droplet_ids"].append(droplet["id"])
                    droplet["volume_ids"].append(volume["id"])
            elif kind == "detach":
                if droplet["id"] not in volume["droplet_ids"]:
                    return invalid("volume is not attached to this droplet")  # unverified

                def change() -> None:
                    volume["droplet_ids"].remove(droplet["id"])
                    droplet["volume_ids"].remove(volume["id"])
            else:
                return invalid(f"{kind!r} is not a valid action type")  # unverified wording
            action = self._action(str(kind), "volume", 0, volume["region"]["slug"],
                                  {"change": change})
            return FakeResponse.json({"action": action}, 202)

        @api.route("GET", f"{volume_path}/snapshots")
        def list_snapshots(req: FakeRequest, volume_id: str) -> FakeResponse:
            if volume_id not in state.volumes:
                return not_found()
            return page(req, "snapshots", [s for s in state.snapshots.values()
                                           if s["resource_id"] == volume_id])

        @api.route("POST", f"{volume_path}/snapshots")
        def create_snapshot(req: FakeRequest, volume_id: str) -> FakeResponse:
            volume = state.volumes.get(volume_id)
            if volume is None:
                return not_found()
            body = req.json() or {}
            if not isinstance(body.get("name"), str) or not body["name"]:
                return invalid("name is required")  # unverified wording
            snapshot = {"id": str(uuid.uuid4()), "name": body["name"], "created_at": stamp(),
                        "regions": [volume["region"]["slug"]], "resource_id": volume_id,
                        "resource_type": "volume", "min_disk_size": volume["size_gigabytes"],
                        "size_gigabytes": 0, "tags": list(body.get("tags") or [])}
            state.snapshots[snapshot["id"]] = snapshot
            return FakeResponse.json({"snapshot": snapshot}, 201)

        snapshot_path = f"{PREFIX}/snapshots/(?P<snapshot_id>[^/]+)"

        @api.route("GET", snapshot_path)
        def get_snapshot(req: FakeRequest, snapshot_id: str) -> FakeResponse:
            snapshot = state.snapshots.get(snapshot_id)
            return not_found() if snapshot is None else FakeResponse.json(
                {"snapshot": snapshot})

        @api.route("DELETE", snapshot_path)
        def delete_snapshot(req: FakeRequest, snapshot_id: str) -> FakeResponse:
            if state.snapshots.pop(snapshot_id, None) is None:
                return not_found()
            return FakeResponse(204)

        # SSH keys

        @api.route("GET", f"{PREFIX}/account/keys")
        def list_keys(req: FakeRequest) -> FakeResponse:
            return page(req, "ssh_keys", list(state.keys.values()))

        @api.route("POST", f"{PREFIX}/account/keys")
        def create_key(req: FakeRequest) -> FakeResponse:
            body = req.json() or {}
            name, public_key = body.get("name"), body.get("public_key")
            if not isinstance(name, str) or not name:
                return invalid("Name can't be blank")
            printed = fingerprint(public_key) if isinstance(public_key, str) else None
            if printed is None:
                return invalid("Key invalid type, we support 'ssh-rsa', 'ssh-dss', "
                               "'ecdsa-sha2-nistp256', 'ssh-ed25519'")  # unverified wording
            if any(k["fingerprint"] == printed for k in state.keys.values()):
                return invalid("SSH Key is already in use on your account")
            key = {"id": next(state.key_ids), "fingerprint": printed,
                   "public_key": public_key.strip(), "name": name}  # type: ignore[union-attr]
            state.keys[key["id"]] = key
            return FakeResponse.json({"ssh_key": key}, 201)

        key_path = f"{PREFIX}/account/keys/(?P<ref>[^/]+)"

        @api.route("GET", key_path)
        def get_key(req: FakeRequest, ref: str) -> FakeResponse:
            key = self._key(int(ref) if ref.isdigit() else ref)
            return not_found() if key is None else FakeResponse.json({"ssh_key": key})

        @api.route("DELETE", key_path)
        def delete_key(req: FakeRequest, ref: str) -> FakeResponse:
            key = self._key(int(ref) if ref.isdigit() else ref)
            if key is None:
                return not_found()
            del state.keys[key["id"]]
            return FakeResponse(204)

        # floating IPs

        @api.route("GET", f"{PREFIX}/floating_ips")
        def list_ips(req: FakeRequest) -> FakeResponse:
            return page(req, "floating_ips", list(state.floating_ips.values()))

        @api.route("POST", f"{PREFIX}/floating_ips")
        def create_ip(req: FakeRequest) -> FakeResponse:
            body = req.json() or {}
            droplet = state.droplets.get(body.get("droplet_id") or -1)
            slug = droplet["region"]["slug"] if droplet else body.get("region")
            region = _region(str(slug)) if slug else None
            if region is None:
                return invalid("region or droplet_id is required")  # unverified wording
            ip = f"192.0.2.{next(state.addresses)}"
            state.floating_ips[ip] = {"ip": ip, "region": region, "locked": False,
                                      "droplet": self._public(droplet) if droplet else None}
            return FakeResponse.json({"floating_ip": state.floating_ips[ip]}, 202)

        ip_path = f"{PREFIX}/floating_ips/(?P<ip>[0-9.]+)"

        @api.route("GET", ip_path)
        def get_ip(req: FakeRequest, ip: str) -> FakeResponse:
            found = state.floating_ips.get(ip)
            return not_found() if found is None else FakeResponse.json({"floating_ip": found})

        @api.route("DELETE", ip_path)
        def delete_ip(req: FakeRequest, ip: str) -> FakeResponse:
            if state.floating_ips.pop(ip, None) is None:
                return not_found()
            return FakeResponse(204)

        @api.route("POST", f"{ip_path}/actions")
        def ip_action(req: FakeRequest, ip: str) -> FakeResponse:
            found = state.floating_ips.get(ip)
            if found is None:
                return not_found()
            body = req.json() or {}
            if body.get("type") == "assign":
                droplet = state.droplets.get(body.get("droplet_id") or -1)
                if droplet is None:
                    return not_found()

                def change() -> None:
                    found["droplet"] = self._public(droplet)
            elif body.get("type") == "unassign":
                if found["droplet"] is None:
                    return invalid("The floating IP is not assigned.")  # unverified wording

                def change() -> None:
                    found["droplet"] = None
            else:
                return invalid("type must be assign or unassign")  # unverified wording
            action = self._action(str(body["type"]), "floating_ip", 0,
                                  found["region"]["slug"], {"change": change})
            return FakeResponse.json({"action": action}, 201)


def serve() -> AbstractContextManager[tuple[DigitalOceanComputeServer, str]]:
    """A fresh server; yields it and the driver endpoint (``.../v2``)."""
    return DigitalOceanComputeServer.serve()


def shared_server(request: pytest.FixtureRequest) -> tuple[DigitalOceanComputeServer, str]:
    """This test process's server, started on first use and stopped at session end."""
    return DigitalOceanComputeServer.shared(request)


def make_driver(endpoint: str, sent: list[object] | None = None,
                **options: Any) -> DigitalOceanNodeDriver:
    """The driver on ``endpoint``, with small pages and quick polls."""
    hooks = Hooks(on_request=[sent.append]) if sent is not None else Hooks()
    return DigitalOceanNodeDriver(TOKEN, endpoint=endpoint, page_size=2, poll_interval=0.01,
                                  hooks=hooks, **options)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeTarget:
    """The DigitalOcean driver against this process's fixture server."""
    _, endpoint = shared_server(request)
    sent: list[object] = []
    return ComputeTarget(driver=make_driver(endpoint, sent), requests=sent, page_size=2,
                         wait_period=0.01)
