"""OpenStack Cinder (Block Storage v3) volume backups, on Keystone v3.

How the API maps onto overcast's backup model:

* **Targets** are volumes. A volume becomes a target when its metadata holds
  ``overcast-backup: target`` (with the target's name, type and extra in
  ``overcast-backup-name``, ``overcast-backup-type`` and
  ``overcast-backup-extra``, JSON of at most 255 characters as Cinder allows);
  :meth:`~OpenStackBackupDriver.list_targets` lists the volumes so marked
  (``GET /volumes/detail?metadata=...``, paged). A target's ``id`` and
  ``address`` are its volume's id. Deleting a target removes those keys:
  never the volume, nor its backups.
  :meth:`~OpenStackBackupDriver.create_target_from_node` takes a volume attached
  to the server (Nova's ``os-volume_attachments``): the one given as
  ``extra["device"]`` or ``extra["volume_id"]``, or the only one.
* **Jobs** are backups (``POST /backups``): full, or incremental with
  ``extra={"incremental": True}``; an attached volume needs
  ``extra={"force": True}``. :meth:`~OpenStackBackupDriver.create_target_job`
  polls the backup (pausing ``poll_interval`` with the runtime's ``Sleep``)
  until it is ``available``, or raises if it ends in ``error`` (Cinder's
  ``fail_reason`` in the message); ``extra={"wait": False}`` returns the
  running job at once. Every backup of the volume is a job: ``creating`` is
  RUNNING, ``available`` and ``restoring`` COMPLETED, ``error`` FAILED,
  ``deleting`` CANCELLED. Cancelling a running backup force-deletes it
  (``os-force_delete``, which Cinder turns into a cancel). Suspend and resume
  are not supported.
* **Recovery points** are the volume's ``available`` backups
  (``GET /backups/detail?volume_id=...``, oldest first, paged by ``limit`` and
  ``marker``), filtered by their ``created_at``.
* **Restores** write a backup onto the same volume
  (:meth:`~OpenStackBackupDriver.recover_target`) or onto another target's volume
  (:meth:`~OpenStackBackupDriver.recover_target_out_of_place`) with
  ``POST /backups/{id}/restore``, then wait for the volume to leave
  ``restoring-backup``; :meth:`~OpenStackBackupDriver.ex_recover_to_new_volume`
  lets Cinder make a new volume of the backup's size. The volume must be
  ``available`` (detached) and at least as large as the backup. A block
  backup has no paths: ``path`` other than ``None`` is
  :class:`~overcast.errors.InvalidInput`, before anything is sent.

A create whose answer is lost is found again by a token in the backup's
metadata (Cinder 3.43), never sent twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import ClassVar
from typing import Final
from typing import Unpack

from overcast.auth.openstack import OpenStackService
from overcast.auth.openstack import moment
from overcast.backup.base import BackupDriver
from overcast.backup.base import BackupTarget
from overcast.backup.base import BackupTargetJob
from overcast.backup.base import BackupTargetJobStatusType
from overcast.backup.base import BackupTargetRecoveryPoint
from overcast.backup.base import BackupTargetType
from overcast.compute.base import NodeLike
from overcast.compute.base import request_token
from overcast.errors import AlreadyExists
from overcast.errors import BackupJobNotFound
from overcast.errors import BackupTargetNotFound
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import RecoveryPointNotFound
from overcast.errors import VolumeNotFound
from overcast.runtime.api import RequestOptions
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import create_once
from overcast.runtime.ops import expand
from overcast.runtime.ops import find_first
from overcast.runtime.ops import poll
from overcast.runtime.options import check_page_size
from overcast.runtime.options import check_polling
from overcast.runtime.redact import Secret

__all__ = ["OpenStackBackupDriver"]

#: The services this driver uses, and the catalog types that serve them.
SERVICES: Final = {"volume": ("block-storage", "volumev3", "volume"), "compute": ("compute",)}
#: The metadata entries that make a volume a target.
MARK: Final = "overcast-backup"
NAME_KEY: Final = "overcast-backup-name"
TYPE_KEY: Final = "overcast-backup-type"
EXTRA_KEY: Final = "overcast-backup-extra"
#: The backup metadata entry that carries a create's request token.
TOKEN_KEY: Final = "overcast-token"
#: Cinder's longest metadata value and name.
MAX_VALUE: Final = 255
#: The microversion Cinder requests ask for (3.43: backups carry metadata).
MICROVERSION: Final = {"OpenStack-API-Version": "volume 3.43"}
#: What a target's extra says of its volume (not kept in its metadata).
VOLUME_FIELDS: Final = ("volume_name", "size", "status", "availability_zone", "attachments")
JOB_OPTIONS: Final = frozenset({"incremental", "force", "name", "description", "container",
                                "wait"})

_JOB_STATUS: Final = {
    "creating": BackupTargetJobStatusType.RUNNING,
    "backing-up": BackupTargetJobStatusType.RUNNING,
    "available": BackupTargetJobStatusType.COMPLETED,
    "restoring": BackupTargetJobStatusType.COMPLETED,
    "error": BackupTargetJobStatusType.FAILED,
    "error_deleting": BackupTargetJobStatusType.FAILED,
    "error_restoring": BackupTargetJobStatusType.FAILED,
    "deleting": BackupTargetJobStatusType.CANCELLED,
    "deleted": BackupTargetJobStatusType.CANCELLED,
}
_BUSY_BACKUP: Final = frozenset({"creating", "backing-up"})
_BUSY_VOLUME: Final = frozenset({"creating", "restoring-backup", "downloading"})


def _utc(value: datetime | None) -> datetime:
    """A Cinder time (written without a zone: UTC) as an aware datetime."""
    if value is None:
        return datetime.fromtimestamp(0, UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _segment(value: object) -> str | None:
    """``value`` if it can be one segment of a URL path, else ``None``."""
    if isinstance(value, str) and value and "/" not in value and value not in (".", ".."):
        return value
    return None


class OpenStackBackupDriver(OpenStackService, BackupDriver):
    """OpenStack Cinder volume backups, authenticated by Keystone v3 (see the
    module's documentation).

    ``key``/``secret`` are the user name and password (or
    ``application_credential_id``/``application_credential_secret``);
    ``auth_url``, ``project``, ``project_id``, ``user_domain``,
    ``project_domain``, ``region`` and ``interface`` as for the OpenStack
    compute driver, Apache Libcloud's ``ex_force_auth_url``, ``ex_tenant_name``,
    ``ex_domain_name`` and ``ex_force_service_region`` too. ``poll_interval``
    is the pause between two looks at a backup or restore in progress,
    ``wait_timeout`` how long one may take.
    """

    name: ClassVar[str] = "openstack"
    label: ClassVar[str] = "Cinder"
    target_types = (BackupTargetType.VOLUME,)

    def __init__(self, key: str | None, secret: str | Secret | None = None, *,
                 auth_url: str | None = None, project: str | None = None,
                 project_id: str | None = None, user_domain: str = "Default",
                 project_domain: str = "Default", region: str | None = None,
                 interface: str = "public", application_credential_id: str | None = None,
                 application_credential_secret: str | Secret | None = None,
                 page_size: int = 100, poll_interval: float = 2.0,
                 wait_timeout: float = 3600.0, **options: Any) -> None:
        self._connect(key, secret, SERVICES, options, auth_url=auth_url, project=project,
                      project_id=project_id, user_domain=user_domain,
                      project_domain=project_domain, region=region, interface=interface,
                      application_credential_id=application_credential_id,
                      application_credential_secret=application_credential_secret)
        self.page_size = check_page_size(page_size, maximum=1000, driver=self)
        self.poll_interval, self.wait_timeout = check_polling(poll_interval, wait_timeout,
                                                              driver=self)
        super().__init__(**options)

    def _request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Request:
        """The request for ``method`` on ``service:/path``; Cinder's ask for
        microversion 3.43 (backups with metadata)."""
        request = super()._request(method, path, **options)
        if path.startswith("volume:"):
            return request.with_headers(MICROVERSION)
        return request

    # -- checks -------------------------------------------------------------------------

    def _volume_id(self, value: object, what: str = "a target's address") -> str:
        """A volume id (Cinder's are UUIDs), else InvalidInput."""
        if isinstance(value, str):
            try:
                return str(uuid.UUID(value))
            except ValueError:
                pass
        raise InvalidInput(f"{what} must be a Cinder volume id (a UUID): {value!r}",
                           driver=self)

    def _check_name(self, name: object) -> str:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_VALUE:
            raise InvalidInput(f"a target's name is 1 to {MAX_VALUE} characters: {name!r}",
                               driver=self)
        return name

    def _check_type(self, type: object) -> BackupTargetType:
        """VOLUME (Libcloud's default VIRTUAL is taken as it: a volume is what
        Cinder backs up)."""
        try:
            kind = BackupTargetType(str(type))
        except ValueError:
            kind = None
        if kind not in (BackupTargetType.VOLUME, BackupTargetType.VIRTUAL):
            raise InvalidInput(f"a Cinder target is a volume, not {type!r}", driver=self)
        return BackupTargetType.VOLUME

    def _kept_extra(self, extra: Mapping[str, Any] | None) -> str:
        """``extra`` (less what the driver reads from the volume) as the JSON
        kept in the volume's metadata; InvalidInput if Cinder cannot keep it."""
        kept = {str(k): v for k, v in (extra or {}).items() if k not in VOLUME_FIELDS}
        try:
            text = json.dumps(kept, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            raise InvalidInput("a target's extra must be JSON values", driver=self) from None
        if len(text) > MAX_VALUE:
            raise InvalidInput(f"a target's extra is kept in volume metadata: at most "
                               f"{MAX_VALUE} characters of JSON, not {len(text)}", driver=self)
        return text

    def _check_point(self, target: BackupTarget, point: BackupTargetRecoveryPoint,
                     path: str | None) -> None:
        """A restore's checks, before anything is sent: no ``path`` (a block
        backup has none), and a point of ``target``."""
        if path is not None:
            raise InvalidInput("a Cinder backup is a whole volume: it has no paths to restore "
                               f"(path={path!r})", driver=self)
        if point.target.id != target.id:
            raise InvalidInput(f"recovery point {point.id} belongs to target "
                               f"{point.target.id}, not {target.id}", driver=self)

    # -- reading ------------------------------------------------------------------------

    def _target(self, volume: Mapping[str, Any]) -> BackupTarget:
        metadata = volume.get("metadata") or {}
        try:
            extra = json.loads(metadata.get(EXTRA_KEY) or "{}")
        except ValueError:
            extra = {}
        if not isinstance(extra, dict):
            extra = {}
        extra.update(volume_name=volume.get("name"), size=volume.get("size"),
                     status=volume.get("status"),
                     availability_zone=volume.get("availability_zone"),
                     attachments=[{"server_id": a.get("server_id"), "device": a.get("device")}
                                  for a in volume.get("attachments") or ()])
        return BackupTarget(str(volume["id"]), str(metadata.get(NAME_KEY) or ""),
                            str(volume["id"]), BackupTargetType.VOLUME, driver=self,
                            extra=extra)

    def _point(self, target: BackupTarget, backup: Mapping[str, Any]
               ) -> BackupTargetRecoveryPoint:
        return BackupTargetRecoveryPoint(
            str(backup["id"]), _utc(moment(backup.get("created_at"))),
            target, driver=self, extra=self._backup_extra(backup))

    @staticmethod
    def _backup_extra(backup: Mapping[str, Any]) -> dict[str, Any]:
        return {key: backup.get(key) for key in (
            "name", "description", "status", "size", "object_count", "container",
            "is_incremental", "has_dependent_backups", "availability_zone", "snapshot_id",
            "data_timestamp", "fail_reason", "volume_id")}

    def _job(self, target: BackupTarget, backup: Mapping[str, Any]) -> BackupTargetJob:
        status = _JOB_STATUS.get(str(backup.get("status")), BackupTargetJobStatusType.PENDING)
        progress = 100 if status is BackupTargetJobStatusType.COMPLETED else None
        extra = {"kind": "backup", **self._backup_extra(backup)}
        return BackupTargetJob(str(backup["id"]), status, progress, target, driver=self,
                               extra=extra)

    def _volume(self, volume_id: str, missing: type[NotFound]) -> Op[dict[str, Any]]:
        data = yield from self._json("GET", f"volume:/volumes/{volume_id}", what=volume_id,
                                     missing=missing)
        return dict((data or {}).get("volume") or {})

    def _marked(self, volume_id: object) -> Op[dict[str, Any]]:
        """The volume of a target; BackupTargetNotFound if absent or not a target."""
        found = _segment(volume_id)
        if found is None:
            raise BackupTargetNotFound(str(volume_id), driver=self)
        volume = yield from self._volume(found, BackupTargetNotFound)
        if (volume.get("metadata") or {}).get(MARK) != "target":
            raise BackupTargetNotFound(found, driver=self)
        return volume

    def _backup(self, backup_id: object, missing: type[NotFound]) -> Op[dict[str, Any]]:
        found = _segment(backup_id)
        if found is None:
            raise missing(str(backup_id), driver=self)
        data = yield from self._json("GET", f"volume:/backups/{found}", what=found,
                                     missing=missing)
        return dict((data or {}).get("backup") or {})

    def _backups(self, target: BackupTarget) -> Iter[dict[str, Any]]:
        """Every backup of the target's volume, oldest first, page by page."""
        volume_id = _segment(target.address)
        if volume_id is None:
            raise BackupTargetNotFound(target.id, driver=self)
        yield from self._pages("volume:/backups/detail", "backups", dict,
                               links="backups_links",
                               params=[("volume_id", volume_id), ("sort", "created_at:asc")])

    def _wait(self, path: str, key: str, busy: frozenset[str], what: str) -> Op[dict[str, Any]]:
        """Look at ``path`` until its ``key`` object's status is not ``busy``
        (pausing :attr:`poll_interval` between looks, at most
        :attr:`wait_timeout` in all); that object."""
        def look() -> Op[dict[str, Any]]:
            data = yield from self._json("GET", path, what=what)
            return dict((data or {}).get(key) or {})

        return (yield from poll(look, lambda found: str(found.get("status")) not in busy,
                                interval=self.poll_interval, timeout=self.wait_timeout,
                                timed_out=lambda found: OperationTimeout(
                                    f"{what} was still {found.get('status')} after "
                                    f"{self.wait_timeout:g}s", driver=self)))

    # -- targets ------------------------------------------------------------------------

    @iterator
    def iterate_targets(self) -> Iter[BackupTarget]:
        """Every volume marked as a target, page by page."""
        def marked(volume: dict[str, Any]) -> list[BackupTarget]:
            if (volume.get("metadata") or {}).get(MARK) != "target":
                return []
            return [self._target(volume)]

        yield from expand(self._pages("volume:/volumes/detail", "volumes", dict,
                                      links="volumes_links",
                                      params=[("metadata", json.dumps({MARK: "target"}))]),
                          marked)

    @operation
    def get_target(self, id: str) -> Op[BackupTarget]:
        """A target by its volume's id; BackupTargetNotFound if the volume is
        absent or not a target."""
        return self._target((yield from self._marked(id)))

    @operation
    def create_target(self, name: str, address: str,
                      type: BackupTargetType = BackupTargetType.VIRTUAL,
                      extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Mark the volume whose id is ``address`` as a target named ``name``
        (``type`` VOLUME, or Libcloud's default VIRTUAL taken as VOLUME);
        InvalidInput if there is no such volume, AlreadyExists if it is a
        target already."""
        self._check_name(name)
        volume_id = self._volume_id(address)
        kind = self._check_type(type)
        kept = self._kept_extra(extra)
        try:
            volume = yield from self._volume(volume_id, VolumeNotFound)
        except VolumeNotFound:
            raise InvalidInput(f"no Cinder volume {volume_id} to back up",
                               driver=self) from None
        current = volume.get("metadata") or {}
        if current.get(MARK) == "target":
            raise AlreadyExists(volume_id, f"volume {volume_id} is already the backup target "
                                f"{current.get(NAME_KEY)!r}", driver=self)
        metadata = {MARK: "target", NAME_KEY: name, TYPE_KEY: str(kind), EXTRA_KEY: kept}
        answer = yield from self._json("POST", f"volume:/volumes/{volume_id}/metadata",
                                       json={"metadata": metadata}, what=volume_id,
                                       missing=VolumeNotFound, idempotent=True)
        volume["metadata"] = dict((answer or {}).get("metadata") or {**current, **metadata})
        return self._target(volume)

    @operation
    def create_target_from_node(self, node: NodeLike,
                                type: BackupTargetType = BackupTargetType.VIRTUAL,
                                extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Mark a volume attached to the server ``node`` as a target: the one at
        ``extra["device"]`` or with id ``extra["volume_id"]``, or the only one
        (InvalidInput if it has several and neither is given). It is named
        ``extra["name"]``, else ``"<node name>:<device>"``; ``node_id`` and
        ``device`` are kept in its extra."""
        given = dict(extra or {})
        device = given.pop("device", None)
        wanted = given.pop("volume_id", None)
        name = given.pop("name", None)
        self._check_type(type)
        server = _segment(node.id)
        if server is None:
            raise NodeNotFound(str(node.id), driver=self)
        data = yield from self._json("GET", f"compute:/servers/{server}/os-volume_attachments",
                                     what=server, missing=NodeNotFound)
        attached = [a for a in (data or {}).get("volumeAttachments") or ()
                    if (device is None or a.get("device") == device)
                    and (wanted is None or a.get("volumeId") == wanted)]
        if len(attached) != 1:
            devices = sorted(str(a.get("device")) for a in
                             (data or {}).get("volumeAttachments") or ())
            raise InvalidInput(f"server {server} has attached volumes at {devices}, and "
                               f"{len(attached)} match: name one with extra['device'] or "
                               "extra['volume_id']", driver=self)
        chosen = attached[0]
        given.update(node_id=node.id, device=chosen.get("device"))
        label = name if name is not None else f"{node.name}:{chosen.get('device')}"
        return (yield from self.create_target.op(label, str(chosen.get("volumeId")),
                                                 BackupTargetType.VOLUME, given))

    @operation
    def update_target(self, target: BackupTarget, name: str | None = None,
                      address: str | None = None,
                      extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Rename a target or replace its extra. Its address is its volume: to
        back up another volume, create a target for it (InvalidInput)."""
        if name is not None:
            self._check_name(name)
        if address is not None and address != target.address:
            raise InvalidInput("a Cinder target's address is its volume and cannot change: "
                               "create a target for the other volume", driver=self)
        kept = None if extra is None else self._kept_extra(extra)
        volume = yield from self._marked(target.id)
        changes: dict[str, str] = {}
        if name is not None:
            changes[NAME_KEY] = name
        if kept is not None:
            changes[EXTRA_KEY] = kept
        metadata = dict(volume.get("metadata") or {})
        if changes:
            answer = yield from self._json("POST", f"volume:/volumes/{volume['id']}/metadata",
                                           json={"metadata": changes}, what=target.id,
                                           missing=BackupTargetNotFound, idempotent=True)
            metadata = dict((answer or {}).get("metadata") or {**metadata, **changes})
        volume["metadata"] = metadata
        return self._target(volume)

    @operation
    def delete_target(self, target: BackupTarget) -> Op[bool]:
        """Unmark the target's volume (its metadata entries go; the volume and
        its backups stay)."""
        volume = yield from self._marked(target.id)
        metadata = volume.get("metadata") or {}
        for key in (NAME_KEY, TYPE_KEY, EXTRA_KEY, MARK):
            if key in metadata:
                yield from self._send("DELETE", f"volume:/volumes/{volume['id']}/metadata/{key}",
                                      what=target.id, ok=(404,))
        return True

    # -- recovery points ----------------------------------------------------------------

    def _recovery_points(self, target: BackupTarget) -> Iter[BackupTargetRecoveryPoint]:
        """The volume's available backups, oldest first, page by page."""

        def kept(backup: dict[str, Any]) -> list[BackupTargetRecoveryPoint]:
            if backup.get("status") not in ("available", "restoring"):
                return []
            return [self._point(target, backup)]

        yield from expand(self._backups(target), kept)

    @operation
    def get_recovery_point(self, target: BackupTarget, id: str) -> Op[BackupTargetRecoveryPoint]:
        """An available backup of the target's volume by id;
        RecoveryPointNotFound otherwise."""
        backup = yield from self._backup(id, RecoveryPointNotFound)
        if backup.get("volume_id") != target.address or backup.get("status") not in (
                "available", "restoring"):
            raise RecoveryPointNotFound(str(id), driver=self)
        return self._point(target, backup)

    # -- jobs ---------------------------------------------------------------------------

    @iterator
    def iterate_target_jobs(self, target: BackupTarget) -> Iter[BackupTargetJob]:
        """Every backup of the target's volume, as a job (oldest first)."""
        yield from expand(self._backups(target), lambda backup: [self._job(target, backup)])

    @operation
    def get_target_job(self, target: BackupTarget, id: str) -> Op[BackupTargetJob]:
        """A backup of the target's volume by id, as it is now."""
        backup = yield from self._backup(id, BackupJobNotFound)
        if backup.get("volume_id") != target.address:
            raise BackupJobNotFound(str(id), driver=self)
        return self._job(target, backup)

    @operation
    def create_target_job(
        self, target: BackupTarget, extra: Mapping[str, Any] | None = None
    ) -> Op[BackupTargetJob]:
        """Back the target's volume up: a full backup, or an incremental one
        with ``extra["incremental"]``; ``extra["force"]`` backs up a volume in
        use; ``name``, ``description`` and ``container`` are Cinder's. Returns
        once the backup is available (ProviderError if it ends in error), or at
        once with ``extra["wait"] = False``."""
        options = dict(extra or {})
        unknown = set(options) - JOB_OPTIONS
        if unknown:
            raise InvalidInput(f"unknown backup option(s) {sorted(unknown)}; known: "
                               f"{sorted(JOB_OPTIONS)}", driver=self)
        for flag in ("incremental", "force", "wait"):
            if not isinstance(options.get(flag, False), bool):
                raise InvalidInput(f"extra[{flag!r}] must be True or False", driver=self)
        for text in ("name", "description", "container"):
            value = options.get(text)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_VALUE):
                raise InvalidInput(f"extra[{text!r}] must be text of at most {MAX_VALUE} "
                                   "characters", driver=self)
        volume_id = self._volume_id(target.address)
        token = request_token()
        body: dict[str, Any] = {
            "volume_id": volume_id, "name": options.get("name") or target.name,
            "incremental": options.get("incremental", False),
            "force": options.get("force", False), "metadata": {TOKEN_KEY: token}}
        for text in ("description", "container"):
            if options.get(text) is not None:
                body[text] = options[text]

        def send() -> Op[dict[str, Any]]:
            data = yield from self._json("POST", "volume:/backups", json={"backup": body},
                                         what=volume_id)
            return dict((data or {}).get("backup") or {})

        def find() -> Op[dict[str, Any] | None]:
            return (yield from find_first(
                self._backups(target),
                lambda backup: (backup.get("metadata") or {}).get(TOKEN_KEY) == token))

        made = yield from create_once(send, find)
        backup_id = str(made["id"])
        if not options.get("wait", True):  # Cinder answered 202: it is being made
            return self._job(target, {"status": "creating", "volume_id": volume_id, **made,
                                      "name": body["name"]})
        backup = yield from self._wait(f"volume:/backups/{backup_id}", "backup", _BUSY_BACKUP,
                                       f"backup {backup_id}")
        if backup.get("status") != "available":
            raise ProviderError(f"backup {backup_id} of volume {volume_id} ended "
                                f"{backup.get('status')}: {backup.get('fail_reason') or ''}",
                                code=str(backup.get("status")), driver=self)
        return self._job(target, backup)

    @operation
    def cancel_target_job(self, job: BackupTargetJob) -> Op[bool]:
        """Cancel a backup in progress (Cinder's force-delete, which stops it and
        removes it); False if it had already ended."""
        backup = yield from self._backup(job.id, BackupJobNotFound)
        if backup.get("volume_id") != job.target.address:
            raise BackupJobNotFound(job.id, driver=self)
        if backup.get("status") not in _BUSY_BACKUP:
            return False
        yield from self._send("POST", f"volume:/backups/{job.id}/action",
                              json={"os-force_delete": {}}, what=job.id,
                              missing=BackupJobNotFound)
        return True

    # -- restores -----------------------------------------------------------------------

    def _restore(self, target: BackupTarget, point: BackupTargetRecoveryPoint,
                 body: Mapping[str, Any]) -> Op[BackupTargetJob]:
        """``POST /backups/{id}/restore``, then wait for the volume; the job."""
        backup_id = _segment(point.id)
        if backup_id is None:
            raise RecoveryPointNotFound(str(point.id), driver=self)
        data = yield from self._json("POST", f"volume:/backups/{backup_id}/restore",
                                     json={"restore": dict(body)}, what=backup_id,
                                     missing=RecoveryPointNotFound)
        answer = (data or {}).get("restore") or {}
        volume_id = _segment(answer.get("volume_id") or body.get("volume_id"))
        if volume_id is None:
            raise ProviderError(f"Cinder restored backup {backup_id} without saying onto "
                                "which volume", driver=self)
        volume = yield from self._wait(f"volume:/volumes/{volume_id}", "volume", _BUSY_VOLUME,
                                       f"the restore of backup {backup_id} onto {volume_id}")
        if volume.get("status") != "available" and volume.get("status") != "in-use":
            raise ProviderError(f"the restore of backup {backup_id} onto volume {volume_id} "
                                f"ended {volume.get('status')}",
                                code=str(volume.get("status")), driver=self)
        return BackupTargetJob(backup_id, BackupTargetJobStatusType.COMPLETED, 100, target,
                               driver=self, extra={"kind": "restore", "backup_id": backup_id,
                                                   "volume_id": volume_id,
                                                   "volume_name": answer.get("volume_name")})

    @operation
    def recover_target(self, target: BackupTarget, recovery_point: BackupTargetRecoveryPoint,
                       path: str | None = None) -> Op[BackupTargetJob]:
        """Write ``recovery_point`` back onto the target's own volume (it must be
        available: detached); ``path`` must be None."""
        self._check_point(target, recovery_point, path)
        volume_id = self._volume_id(target.address)
        return (yield from self._restore(target, recovery_point, {"volume_id": volume_id}))

    @operation
    def recover_target_out_of_place(self, target: BackupTarget,
                                    recovery_point: BackupTargetRecoveryPoint,
                                    recovery_target: BackupTarget,
                                    path: str | None = None) -> Op[BackupTargetJob]:
        """Write ``target``'s ``recovery_point`` onto ``recovery_target``'s volume
        (available, at least the backup's size); ``path`` must be None."""
        self._check_point(target, recovery_point, path)
        volume_id = self._volume_id(recovery_target.address, "the recovery target's address")
        return (yield from self._restore(recovery_target, recovery_point,
                                         {"volume_id": volume_id}))

    @operation
    def ex_recover_to_new_volume(self, target: BackupTarget,
                                 recovery_point: BackupTargetRecoveryPoint,
                                 name: str | None = None) -> Op[BackupTargetJob]:
        """Restore ``target``'s ``recovery_point`` onto a new volume Cinder makes
        (of the backup's size, named ``name``); the job's ``extra["volume_id"]``
        is the new volume's id."""
        self._check_point(target, recovery_point, None)
        body: dict[str, Any] = {}
        if name is not None:
            self._check_name(name)
            body["name"] = name
        return (yield from self._restore(target, recovery_point, body))
