"""A stateful fixture server of Cinder v3 volume backups, for the OpenStack
backup driver.

It is the OpenStack fixture (:mod:`servers.compute_openstack`: Keystone v3,
Nova, Cinder volumes, on one port) with what Cinder's Block Storage v3 API
reference says of backups and volume metadata added:

* ``POST /v3/{project}/backups`` (``volume_id``, ``name``, ``description``,
  ``container``, ``incremental``, ``force``; ``metadata`` from microversion
  3.43) answers ``202`` with ``{"backup": {"id", "links", "name"}}``. The
  volume must be ``available``, or ``in-use`` with ``force``; an incremental
  backup needs an available backup of the volume (its parent, which then has
  dependent backups). A backup is ``creating`` and becomes ``available`` on
  its second observation (a GET or a listing that shows it): an event, not
  time.
* ``GET /backups/detail`` filters by ``volume_id``, ``status`` and ``name``,
  sorts by ``sort=key:dir`` (``created_at``, ``id``, ``name``; newest first by
  default) and pages by ``limit``/``marker`` with a ``backups_links`` "next"
  link while a page is full; the server gives at most ``max_page`` backups a
  page whatever ``limit`` asks. ``metadata`` is shown from 3.43.
* ``POST /backups/{id}/restore`` with ``volume_id`` (or ``name``, or
  nothing: a new volume of the backup's size) answers ``202`` with
  ``{"restore": {"backup_id", "volume_id", "volume_name"}}``. The backup
  must be available, the volume ``available`` and at least the backup's
  size. The volume is ``restoring-backup`` (the backup ``restoring``) until
  its second observation, then ``available`` holding the backup's data.
* ``POST /backups/{id}/action`` with ``os-force_delete`` removes a backup in
  any state (a creating one is cancelled).
* Volume metadata: ``GET``/``POST`` (merge)/``PUT`` (replace)
  ``/volumes/{id}/metadata``, ``DELETE /volumes/{id}/metadata/{key}``;
  ``GET /volumes/detail?metadata={"k": "v"}`` keeps volumes holding those
  entries. Nova's ``GET /servers/{id}/os-volume_attachments`` lists a server's
  attachments.

What the tests read and steer (not Cinder behaviour): each volume holds
``data`` (text standing for its blocks: :meth:`CinderFake.content`,
:meth:`CinderFake.write`); a backup keeps the data it was made of, a restore
writes it and records the backup in the volume's ``restored_from``.
``fail_next`` (``"backup"``, ``"restore"``): the next such one ends in
``error`` (with a ``fail_reason``) or ``error_restoring``; ``lose_next``
``"backup"``: the next backup create is stored, then answered ``500``.
"""

from __future__ import annotations

import json
import uuid
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any
from typing import Final

from overcast.backup import BackupTargetType
from overcast.backup.drivers.openstack import OpenStackBackupDriver
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from servers.compute_openstack import PASSWORD
from servers.compute_openstack import PROJECT
from servers.compute_openstack import USER_ID
from servers.compute_openstack import USERNAME
from servers.compute_openstack import Ctx
from servers.compute_openstack import OpenStackFake
from servers.compute_openstack import bad_request
from servers.compute_openstack import fault
from servers.compute_openstack import not_found
from servers.compute_openstack import stamp
from servers.fakeapi import FakeResponse

__all__ = ["CinderFake", "CinderSubject", "make_driver", "make_subject", "serving"]

#: The microversion from which backups carry metadata.
METADATA_VERSION: Final = (3, 43)
_BACKUP_SORT: Final = ("created_at", "id", "name")


def on(service: str, method: str, pattern: str
       ) -> Callable[[Callable[..., FakeResponse]], Callable[..., FakeResponse]]:
    """Route a handler of :class:`CinderFake` (as the OpenStack fixture routes its own)."""
    def mark(fn: Callable[..., FakeResponse]) -> Callable[..., FakeResponse]:
        fn._route = (service, method, pattern)  # type: ignore[attr-defined]
        return fn

    return mark


def _volume_version(ctx: Ctx) -> tuple[int, int]:
    header = ctx.req.header("OpenStack-API-Version") or ""
    service, _, value = header.strip().partition(" ")
    if service.lower() == "volume":
        major, _, minor = value.partition(".")
        if major.isdigit() and minor.isdigit():
            return int(major), int(minor)
    return 3, 0


class CinderFake(OpenStackFake):
    """The OpenStack fixture with Cinder's backups and volume metadata."""

    def __init__(self, max_page: int = 1000) -> None:
        self.max_page = max_page
        self.backups: dict[str, dict[str, Any]] = {}
        self.fail_next: set[str] = set()
        super().__init__()

    # -- what tests read and steer -------------------------------------------------------------

    def add_volume(self, size: int = 1, data: str = "", name: str | None = None) -> str:
        """An available volume in RegionOne holding ``data``; its id."""
        volume_id = str(uuid.uuid4())
        with self.api.lock:
            self.region().volumes[volume_id] = {
                "id": volume_id, "name": name, "description": None, "size": size,
                "status": "available", "availability_zone": "nova", "bootable": "false",
                "encrypted": False, "multiattach": False, "attachments": [],
                "volume_type": "__DEFAULT__", "snapshot_id": None, "source_volid": None,
                "metadata": {}, "created_at": stamp(micro=True, zulu=False),
                "updated_at": None, "user_id": USER_ID, "replication_status": None,
                "consistencygroup_id": None, "_seq": next(self._seq), "_polls": 2,
                "_data": data, "_restored_from": None,
            }
        return volume_id

    def attach(self, volume_id: str, server_id: str, device: str) -> None:
        """Show ``volume_id`` attached to ``server_id`` at ``device`` (as Nova
        leaves it after an attach; the server is made if Nova has none)."""
        with self.api.lock:
            region = self.region()
            server = region.servers.setdefault(server_id, {"id": server_id, "volumes": []})
            server["volumes"].append(volume_id)
            region.volumes[volume_id].update(status="in-use", attachments=[{
                "server_id": server_id, "attachment_id": str(uuid.uuid4()),
                "attached_at": stamp(micro=True, zulu=False), "host_name": None,
                "volume_id": volume_id, "device": device, "id": volume_id}])

    def content(self, volume_id: str) -> str:
        """What the volume holds."""
        with self.api.lock:
            return str(self.region().volumes[volume_id].get("_data", ""))

    def write(self, volume_id: str, data: str) -> None:
        """Change what the volume holds."""
        with self.api.lock:
            self.region().volumes[volume_id]["_data"] = data

    def restored_from(self, volume_id: str) -> str | None:
        """The backup last restored onto the volume."""
        with self.api.lock:
            found = self.region().volumes[volume_id].get("_restored_from")
            return None if found is None else str(found)

    # -- observation ---------------------------------------------------------------------------

    def _observe_volume(self, volume: dict[str, Any]) -> None:
        if volume["status"] == "restoring-backup":
            volume["_restore_polls"] = volume.get("_restore_polls", 0) + 1
            if volume["_restore_polls"] >= 2:
                backup = self.backups.get(str(volume["_restoring"]))
                if backup is not None:
                    backup["status"] = "available"
                if volume.pop("_restore_fails", False):
                    volume["status"] = "error_restoring"
                else:
                    volume.update(status="available", _data=backup["_data"] if backup else "",
                                  _restored_from=volume["_restoring"])
                volume.pop("_restore_polls")
            return
        OpenStackFake._observe_volume(volume)

    def _observe_backup(self, backup: dict[str, Any]) -> None:
        backup["_polls"] += 1
        if backup["status"] == "creating" and backup["_polls"] >= 2:
            if backup.pop("_fails", False):
                backup.update(status="error", fail_reason="fixture: the backup service "
                                                          "could not write the backup")
            else:
                backup.update(status="available", object_count=backup["size"] * 4,
                              updated_at=stamp(micro=True, zulu=False))

    def _backup_view(self, ctx: Ctx, backup: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in backup.items() if not k.startswith("_")}
        if _volume_version(ctx) < METADATA_VERSION:
            view.pop("metadata", None)
        link = f"{ctx.endpoint}/backups/{backup['id']}"
        view["links"] = [{"href": link, "rel": "self"}, {"href": link, "rel": "bookmark"}]
        return view

    # -- volumes: metadata ---------------------------------------------------------------------

    def _filter_volumes(self, ctx: Ctx, volumes: list[dict[str, Any]]
                        ) -> list[dict[str, Any]] | FakeResponse:
        """Cinder's filters, and ``metadata``: volumes holding every entry of a
        JSON object."""
        kept = super()._filter_volumes(ctx, volumes)
        raw = ctx.req.arg("metadata")
        if raw is None or isinstance(kept, FakeResponse):
            return kept
        try:
            entries = json.loads(raw)
        except ValueError:
            entries = None
        if not isinstance(entries, dict):
            return bad_request(f"Invalid filter metadata: {raw}")
        return [v for v in kept if all(v["metadata"].get(k) == val for k, val in entries.items())]

    def _metadata_body(self, ctx: Ctx) -> dict[str, str] | FakeResponse:
        try:
            metadata = ctx.req.json()["metadata"]
        except (ValueError, KeyError, TypeError):
            return bad_request("Malformed request body")
        if not isinstance(metadata, dict):
            return bad_request("Malformed request body")
        for key, value in metadata.items():
            if not isinstance(value, str) or not 0 < len(key) <= 255 or len(value) > 255:
                return bad_request("Invalid input for field/attribute metadata.")
        return {str(k): str(v) for k, v in metadata.items()}

    @on("volume", "GET", r"/volumes/(?P<volume_id>[^/]+)/metadata")
    def show_metadata(self, ctx: Ctx, volume_id: str) -> FakeResponse:
        volume = ctx.region.volumes.get(volume_id)
        if volume is None:
            return not_found(f"Volume {volume_id} could not be found.")
        return FakeResponse.json({"metadata": volume["metadata"]})

    def _set_metadata(self, ctx: Ctx, volume_id: str, *, replace: bool) -> FakeResponse:
        volume = ctx.region.volumes.get(volume_id)
        if volume is None:
            return not_found(f"Volume {volume_id} could not be found.")
        metadata = self._metadata_body(ctx)
        if isinstance(metadata, FakeResponse):
            return metadata
        volume["metadata"] = metadata if replace else {**volume["metadata"], **metadata}
        return FakeResponse.json({"metadata": volume["metadata"]})

    @on("volume", "POST", r"/volumes/(?P<volume_id>[^/]+)/metadata")
    def merge_metadata(self, ctx: Ctx, volume_id: str) -> FakeResponse:
        return self._set_metadata(ctx, volume_id, replace=False)

    @on("volume", "PUT", r"/volumes/(?P<volume_id>[^/]+)/metadata")
    def replace_metadata(self, ctx: Ctx, volume_id: str) -> FakeResponse:
        return self._set_metadata(ctx, volume_id, replace=True)

    @on("volume", "DELETE", r"/volumes/(?P<volume_id>[^/]+)/metadata/(?P<key>[^/]+)")
    def delete_metadata(self, ctx: Ctx, volume_id: str, key: str) -> FakeResponse:
        volume = ctx.region.volumes.get(volume_id)
        if volume is None:
            return not_found(f"Volume {volume_id} could not be found.")
        if volume["metadata"].pop(key, None) is None:
            return not_found(f"Volume {volume_id} has no metadata with key {key}.")
        return FakeResponse(200)

    # -- Nova: a server's attachments ------------------------------------------------------------

    @on("compute", "GET", r"/servers/(?P<server_id>[^/]+)/os-volume_attachments")
    def list_attachments(self, ctx: Ctx, server_id: str) -> FakeResponse:
        server = ctx.region.servers.get(server_id)
        if server is None:
            return not_found(f"Instance {server_id} could not be found.")
        found = []
        for volume_id in server["volumes"]:
            volume = ctx.region.volumes[volume_id]
            device = next(a["device"] for a in volume["attachments"]
                          if a["server_id"] == server_id)
            found.append({"id": volume_id, "serverId": server_id, "volumeId": volume_id,
                          "device": device})
        return FakeResponse.json({"volumeAttachments": found})

    # -- backups --------------------------------------------------------------------------------

    @on("volume", "POST", r"/backups")
    def create_backup(self, ctx: Ctx) -> FakeResponse:
        try:
            body = ctx.req.json()["backup"]
            volume_id = str(body["volume_id"])
        except (ValueError, KeyError, TypeError):
            return bad_request("Missing required element 'backup' in request body.")
        if "metadata" in body and _volume_version(ctx) < METADATA_VERSION:
            return bad_request("Invalid input for field/attribute backup. Additional "
                               "properties are not allowed ('metadata' was unexpected)")
        volume = ctx.region.volumes.get(volume_id)
        if volume is None:
            return not_found(f"Volume {volume_id} could not be found.")
        force = body.get("force") is True
        if volume["status"] == "in-use" and not force:
            return bad_request("Invalid volume: Backing up an in-use volume must use the "
                               "force flag.")
        if volume["status"] not in ("available", "in-use"):
            return bad_request(f"Invalid volume: Volume to be backed up must be available or "
                               f"in-use, but the current status is \"{volume['status']}\".")
        parent = None
        if body.get("incremental") is True:
            done = [b for b in self.backups.values()
                    if b["volume_id"] == volume_id and b["status"] == "available"]
            if not done:
                return bad_request("Invalid backup: No backups available to do an "
                                   "incremental backup.")
            parent = max(done, key=lambda b: b["_seq"])
            parent["has_dependent_backups"] = True
        backup_id = str(uuid.uuid4())
        now = stamp(micro=True, zulu=False)
        backup = {
            "id": backup_id, "name": body.get("name"), "description": body.get("description"),
            "status": "creating", "volume_id": volume_id, "size": volume["size"],
            "object_count": 0, "container": body.get("container") or "volumebackups",
            "availability_zone": "nova", "created_at": now, "updated_at": now,
            "data_timestamp": now, "is_incremental": parent is not None,
            "parent_id": None if parent is None else parent["id"],
            "has_dependent_backups": False, "snapshot_id": None, "fail_reason": None,
            "metadata": {str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
            "_data": volume.get("_data", ""), "_seq": next(self._seq), "_polls": 0,
            "_force": force, "_fails": "backup" in self.fail_next,
        }
        self.fail_next.discard("backup")
        self.backups[backup_id] = backup
        if self._lost("backup"):
            return fault(500, "computeFault", "The server has either erred or is incapable of "
                                              "performing the requested operation.")
        link = f"{ctx.endpoint}/backups/{backup_id}"
        return FakeResponse.json({"backup": {"id": backup_id, "name": backup["name"],
                                             "links": [{"href": link, "rel": "self"}]}}, 202)

    @on("volume", "GET", r"/backups/detail")
    def list_backups(self, ctx: Ctx) -> FakeResponse:
        backups = list(self.backups.values())
        for key in ("volume_id", "status", "name"):
            wanted = ctx.req.arg(key)
            if wanted is not None:
                backups = [b for b in backups if b.get(key) == wanted]
        key, _, direction = (ctx.req.arg("sort") or "created_at:desc").partition(":")
        if key not in _BACKUP_SORT or direction not in ("", "asc", "desc"):
            return bad_request(f"Invalid sort: {ctx.req.arg('sort')}")
        backups.sort(key=lambda b: (str(b[key] or ""), b["_seq"]), reverse=direction != "asc")
        raw = ctx.req.arg("limit")
        if raw is not None and raw.isdigit():
            query = {**ctx.req.query, "limit": [str(min(int(raw), self.max_page))]}
        else:
            query = {**ctx.req.query, "limit": [str(self.max_page)]}
        return self._listing(replace(ctx, req=replace(ctx.req, query=query)), backups,
                             "backups", self._observe_backup,
                             lambda b: self._backup_view(ctx, b))

    @on("volume", "GET", r"/backups/(?P<backup_id>[^/]+)")
    def show_backup(self, ctx: Ctx, backup_id: str) -> FakeResponse:
        if backup_id == "detail":
            return self.list_backups(ctx)
        backup = self.backups.get(backup_id)
        if backup is None:
            return not_found(f"Backup {backup_id} could not be found.")
        self._observe_backup(backup)
        return FakeResponse.json({"backup": self._backup_view(ctx, backup)})

    @on("volume", "POST", r"/backups/(?P<backup_id>[^/]+)/action")
    def backup_action(self, ctx: Ctx, backup_id: str) -> FakeResponse:
        backup = self.backups.get(backup_id)
        if backup is None:
            return not_found(f"Backup {backup_id} could not be found.")
        try:
            action = ctx.req.json()
        except ValueError:
            return bad_request("Malformed request body")
        if not isinstance(action, dict) or "os-force_delete" not in action:
            return bad_request(f"There is no such action: {sorted(action or {})}")
        del self.backups[backup_id]
        return FakeResponse(202)

    @on("volume", "POST", r"/backups/(?P<backup_id>[^/]+)/restore")
    def restore_backup(self, ctx: Ctx, backup_id: str) -> FakeResponse:
        backup = self.backups.get(backup_id)
        if backup is None:
            return not_found(f"Backup {backup_id} could not be found.")
        try:
            body = ctx.req.json()["restore"]
        except (ValueError, KeyError, TypeError):
            return bad_request("Missing required element 'restore' in request body.")
        if not isinstance(body, dict):
            return bad_request("Missing required element 'restore' in request body.")
        if backup["status"] != "available":
            return bad_request("Invalid backup: Backup status must be available")
        volume_id = body.get("volume_id")
        if volume_id is None:
            made = self.add_volume(backup["size"], name=body.get("name")
                                   or f"restore_backup_{backup_id}")
            volume = ctx.region.volumes[made]
        else:
            volume = ctx.region.volumes.get(str(volume_id))
            if volume is None:
                return not_found(f"Volume {volume_id} could not be found.")
            if volume["status"] != "available":
                return bad_request(f"Invalid volume: Volume to be restored to must be "
                                   f"available, but the current status is "
                                   f"\"{volume['status']}\".")
            if volume["size"] < backup["size"]:
                return bad_request(f"Invalid volume: volume size {volume['size']} is smaller "
                                   f"than backup size {backup['size']}.")
        volume.update(status="restoring-backup", _restoring=backup_id,
                      _restore_fails="restore" in self.fail_next)
        self.fail_next.discard("restore")
        backup["status"] = "restoring"
        return FakeResponse.json({"restore": {"backup_id": backup_id, "volume_id": volume["id"],
                                              "volume_name": volume["name"]}}, 202)


# -- serving ----------------------------------------------------------------------------------


def serving(max_page: int = 1000) -> tuple[CinderFake, Callable[[], None]]:
    """A fresh fixture server on a free port (``.base_url`` set) and its stop."""
    fake = CinderFake(max_page)
    context: AbstractContextManager[str] = fake.api.serving()
    fake.base_url = context.__enter__()

    def stop() -> None:
        context.__exit__(None, None, None)

    return fake, stop


def make_driver(fake: CinderFake, sent: list[RequestEvent] | None = None,
                **options: Any) -> OpenStackBackupDriver:
    """The driver on the fixture's Keystone (polling pauses short; ``options`` override)."""
    settings: dict[str, Any] = {"auth_url": f"{fake.base_url}/identity/v3",
                                "project": PROJECT, "region": "RegionOne",
                                "poll_interval": 0.01}
    if sent is not None:
        settings["hooks"] = Hooks(on_request=[sent.append])
    settings.update(options)
    return OpenStackBackupDriver(settings.pop("key", USERNAME), settings.pop("secret", PASSWORD),
                                 **settings)


@dataclass
class CinderSubject:
    """The OpenStack backup driver on a fresh Cinder fixture, for the contract:
    addresses are volumes (holding a little text that stands for their blocks)."""

    driver: OpenStackBackupDriver
    fake: CinderFake
    sent: list[RequestEvent] = field(default_factory=list)
    target_type: BackupTargetType = BackupTargetType.VOLUME
    #: Recovery points come in pages (the fixture gives two a page).
    pages: bool = True
    made: int = 0

    def address(self) -> str:
        """A new volume with something in it, to back up."""
        self.made += 1
        return self.fake.add_volume(data=f"blocks of volume {self.made}")

    def destination(self) -> str:
        """A new empty volume, to restore onto."""
        return self.fake.add_volume(data="")

    def relative_address(self) -> str:
        return "relative/path"

    def missing_address(self) -> str:
        return str(uuid.uuid4())

    def change(self, address: str) -> None:
        self.fake.write(address, self.fake.content(address) + " changed")

    def state(self, address: str) -> Any:
        return self.fake.content(address)

    def runs(self) -> int:
        """How many changes the driver has sent to the APIs (anything but a GET;
        Keystone's token requests are not changes)."""
        return sum(1 for event in self.sent
                   if event.method != "GET" and "/auth/tokens" not in event.url)


def make_subject(tmp_path: Any) -> CinderSubject:
    """A subject on a fixture server of its own (stopped when the subject goes),
    whose backup listings come two to a page."""
    fake, stop = serving(max_page=2)
    sent: list[RequestEvent] = []
    subject = CinderSubject(make_driver(fake, sent), fake, sent)
    weakref.finalize(subject, stop)
    return subject
