"""Amazon EBS snapshots as backups (the EC2 Query API 2016-11-15, Signature V4).

The driver stands on the EC2 compute driver's Query plumbing
(:class:`~overcast.compute.drivers.ec2.api.EC2Query`: signing, requests, the
error table, the ``NextToken`` pager, settled changes, the checks of ids and
tag values), so it signs, retries, pages and maps errors as that driver does.

How backups map onto EBS:

* A **target** is an EBS volume carrying the tags ``overcast:backup-target``
  (its name) and ``overcast:backup-target-id`` (its id), so
  :meth:`~EBSBackupDriver.list_targets` finds every target with one
  ``DescribeVolumes`` filtered by tag (Apache Libcloud's EBS driver cannot
  list targets). A target's ``id`` is the id of the volume it was created on
  (as Libcloud's), its ``address`` the volume it is on now: an in-place
  restore puts a new volume in the old one's place and the target moves to it.
  Its ``extra`` holds what it was created with (each entry a tag
  ``overcast:backup-extra:<key>``, so values are strings) and what EBS says
  of the volume: ``volume-id`` (Libcloud's key), ``availability_zone``,
  ``size``, ``volume_type``, ``state``, ``snapshot_id``, ``instance_id``,
  ``device``, ``tags``. Updating a target changes its tags; deleting one
  removes them and never deletes the volume.
* :meth:`~EBSBackupDriver.create_target_from_node` registers the node's
  **root volume** (the volume at its ``root_device_name``, as Libcloud takes
  the first EBS volume), named after the node; ``ex_device`` picks another of
  its volumes. One target per call keeps Libcloud's signature; a node's other
  volumes are registered with ``create_target(name, volume_id)``.
* A **job** is a snapshot the driver started (``CreateSnapshot``, tagged
  with the target id): ``RUNNING`` while ``pending``, then ``COMPLETED`` (or
  ``FAILED``). ``create_target_job`` returns at once, as EBS does. Jobs
  cannot be suspended, resumed or cancelled (``NotSupported``).
* A **recovery point** is a completed snapshot of the target
  (``DescribeSnapshots`` of the account's own snapshots, filtered by the
  target-id tag and the ``completed`` status, page by page through
  ``NextToken``), taken between the dates asked for, oldest first.
* **Restores** make a new volume from the snapshot (``CreateVolume`` with the
  snapshot, a ``ClientToken`` and a token tag, so a retried create never makes
  two volumes) and wait for it, and for every detach and attach, by polling
  ``DescribeVolumes`` with the runtime's ``Sleep`` (``poll_interval`` between
  looks, at most ``wait_timeout`` for each wait).

  - ``recover_target(target, point)`` puts the new volume in the place of the
    target's volume: same availability zone and volume type; if the old one
    is attached, it is detached and the new one attached to the same
    instance at the same device (for a root volume, stop the instance first:
    EC2 refuses to detach it from a running one). The old volume is **kept**,
    detached, tagged ``overcast:replaced-by=<new volume id>``; the target's
    tags move to the new volume. If attaching the new volume fails, the old
    one is attached back.
  - ``recover_target_out_of_place(target, point, recovery_target)`` does the
    same to ``recovery_target``'s volume. With ``ex_node`` (an EC2 node) the
    new volume is instead made in that node's zone and attached to it at
    ``ex_device`` (default: the first free of ``/dev/sdf``-``/dev/sdp``),
    replacing nothing; with ``ex_zone`` alone it is made there, detached.
  - The returned job's ``id`` is the new volume's id; its ``extra`` says
    ``volume_id``, ``snapshot_id``, ``replaced_volume_id``, ``instance_id`` and
    ``device``. Every restored volume is tagged
    ``overcast:restored-from=<snapshot id>``.
  - ``path`` has no meaning for a block snapshot: any value but ``None`` is
    :class:`~overcast.errors.InvalidInput`, before anything is sent, as is a
    recovery point of another target.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import ClassVar
from typing import Final
from xml.etree.ElementTree import Element

from overcast.backup.base import BackupDriver
from overcast.backup.base import BackupTarget
from overcast.backup.base import BackupTargetJob
from overcast.backup.base import BackupTargetJobStatusType
from overcast.backup.base import BackupTargetRecoveryPoint
from overcast.backup.base import BackupTargetType
from overcast.compute.base import request_token
from overcast.compute.drivers.ec2.api import CONTROL
from overcast.compute.drivers.ec2.api import DEFAULT_PAGE_SIZE
from overcast.compute.drivers.ec2.api import TOKEN_TAG
from overcast.compute.drivers.ec2.api import EC2Query
from overcast.compute.drivers.ec2.api import Params
from overcast.compute.drivers.ec2.api import filters
from overcast.compute.drivers.ec2.api import integer
from overcast.compute.drivers.ec2.api import items
from overcast.compute.drivers.ec2.api import moment
from overcast.compute.drivers.ec2.api import numbered
from overcast.compute.drivers.ec2.api import tag_spec
from overcast.compute.drivers.ec2.api import tags
from overcast.compute.drivers.ec2.api import text
from overcast.compute.drivers.ec2.api import token_filter
from overcast.compute.drivers.ec2.volumes import free_device
from overcast.compute.models import NodeLike
from overcast.errors import AlreadyExists
from overcast.errors import BackupTargetNotFound
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import RecoveryPointNotFound
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.ops import find_first
from overcast.runtime.ops import poll
from overcast.runtime.options import check_polling
from overcast.runtime.redact import Secret
from overcast.xml import fields

__all__ = ["EXTRA_TAG", "REPLACED_TAG", "RESTORED_TAG", "TARGET_ID_TAG", "TARGET_TAG",
           "EBSBackupDriver"]

#: On a target's volume: the target's name.
TARGET_TAG: Final = "overcast:backup-target"
#: On a target's volume: the target's id; on a snapshot: the target it backs up.
TARGET_ID_TAG: Final = "overcast:backup-target-id"
#: The prefix of the tags that hold a target's ``extra`` entries.
EXTRA_TAG: Final = "overcast:backup-extra:"
#: On a volume an in-place restore took the place of: the volume now there.
REPLACED_TAG: Final = "overcast:replaced-by"
#: On a restored volume: the snapshot it was made from.
RESTORED_TAG: Final = "overcast:restored-from"

#: What a target's ``extra`` says of its volume (a created-with entry may not use these).
_VOLUME_KEYS: Final = frozenset({"volume-id", "availability_zone", "size", "volume_type",
                                 "state", "snapshot_id", "instance_id", "device", "tags"})
#: EC2 allows 50 tags a resource; the driver's own take up to 4 of them.
_MAX_EXTRA: Final = 40
_MAX_TAG_KEY: Final = 128
_JOB_STATES: Final = {
    "pending": BackupTargetJobStatusType.RUNNING,
    "completed": BackupTargetJobStatusType.COMPLETED,
    "error": BackupTargetJobStatusType.FAILED,
    "recoverable": BackupTargetJobStatusType.COMPLETED,
    "recovering": BackupTargetJobStatusType.RUNNING,
}


@dataclass(frozen=True, slots=True)
class _Volume:
    """What the driver reads of a ``DescribeVolumes`` item."""

    id: str
    state: str
    zone: str | None
    size: int | None
    volume_type: str | None
    snapshot_id: str | None
    instance_id: str | None
    device: str | None
    attach_state: str | None
    tags: dict[str, str]

    @classmethod
    def read(cls, item: Element) -> _Volume:
        attachments = items(item, "attachmentSet")
        first = attachments[0] if attachments else None
        return cls(text(item, "volumeId") or "", text(item, "status") or "",
                   text(item, "availabilityZone"), integer(text(item, "size")),
                   text(item, "volumeType"), text(item, "snapshotId") or None,
                   text(first, "instanceId"), text(first, "device"), text(first, "status"),
                   tags(item))

    def target_tags(self) -> dict[str, str]:
        """The tags that make this volume a target (name, id, extra entries)."""
        return {key: value for key, value in self.tags.items()
                if key in (TARGET_TAG, TARGET_ID_TAG) or key.startswith(EXTRA_TAG)}


@dataclass(frozen=True, slots=True)
class _Instance:
    """What a restore and ``create_target_from_node`` read of an instance."""

    id: str
    zone: str | None
    root_device: str | None
    devices: dict[str, str]  # device name -> volume id


def _tagging(volume_id: str, tagged: Mapping[str, str]) -> Params:
    return [("ResourceId.1", volume_id), *[pair for n, (key, value) in
                                           enumerate(tagged.items(), 1)
                                           for pair in ((f"Tag.{n}.Key", key),
                                                        (f"Tag.{n}.Value", value))]]


class EBSBackupDriver(EC2Query, BackupDriver):
    """Amazon EBS volume snapshots as backups (EC2 Query API, Signature V4).

    ``key``, ``secret`` and ``token`` are the access key id, secret access key
    and optional session token (else the environment or the shared credentials
    file, ``profile``); ``access_id`` is Apache Libcloud's keyword for ``key``.
    ``region`` is where every request goes; ``endpoint`` points the driver
    elsewhere (moto, a VPC endpoint; default ``https://ec2.<region>.amazonaws.com``).
    ``page_size`` is the ``MaxResults`` of listings. ``poll_interval`` is the
    pause between two looks at a volume being made, attached or detached, and
    ``wait_timeout`` the longest each such wait lasts
    (:class:`~overcast.errors.OperationTimeout` after it). ``**options`` are the
    runtime options (``timeout``, ``retry``, ``hooks``, ...). No request is
    made here. See :mod:`overcast.backup.drivers.ebs` for how targets, jobs
    and recovery points map onto volumes and snapshots.
    """

    name: ClassVar[str] = "ebs"
    label: ClassVar[str] = "Amazon EBS"
    target_types: ClassVar[tuple[BackupTargetType, ...]] = (BackupTargetType.VOLUME,)

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 region: str = "us-east-1", token: str | Secret | None = None, *,
                 access_id: str | None = None, profile: str | None = None,
                 endpoint: str | None = None, page_size: int = DEFAULT_PAGE_SIZE,
                 poll_interval: float = 5.0, wait_timeout: float = 900.0,
                 **options: Any) -> None:
        if access_id is not None:
            if key is not None:
                raise InvalidInput("give the access key as key or access_id, not both",
                                   driver=self)
            key = access_id
        self.poll_interval, self.wait_timeout = check_polling(poll_interval, wait_timeout,
                                                              driver=self)
        self._setup_query(key, secret, region, token, profile=profile, endpoint=endpoint,
                          page_size=page_size)
        super().__init__(**options)

    # -- reading ---------------------------------------------------------------------

    def _to_target(self, volume: _Volume) -> BackupTarget:
        extra: dict[str, Any] = {key[len(EXTRA_TAG):]: value for key, value in
                                 volume.tags.items() if key.startswith(EXTRA_TAG)}
        extra.update({
            "volume-id": volume.id, "availability_zone": volume.zone, "size": volume.size,
            "volume_type": volume.volume_type, "state": volume.state,
            "snapshot_id": volume.snapshot_id, "instance_id": volume.instance_id,
            "device": volume.device, "tags": dict(volume.tags),
        })
        return BackupTarget(volume.tags.get(TARGET_ID_TAG, volume.id),
                            volume.tags.get(TARGET_TAG, ""), volume.id,
                            BackupTargetType.VOLUME, driver=self, extra=extra)

    def _to_point(self, target: BackupTarget, item: Element) -> BackupTargetRecoveryPoint:
        read = fields(item)  # one pass over the item's children
        snapshot_id = read.get("snapshotId", "").strip()
        taken = moment(read.get("startTime")) or datetime.fromtimestamp(0, UTC)
        return BackupTargetRecoveryPoint(
            snapshot_id, taken if taken.tzinfo else taken.replace(tzinfo=UTC), target,
            driver=self,
            extra={"snapshot-id": snapshot_id, "tags": tags(item),
                   "volume_id": read.get("volumeId"), "size": integer(read.get("volumeSize")),
                   "description": read.get("description")},
        )

    def _to_job(self, target: BackupTarget, item: Element) -> BackupTargetJob:
        state = text(item, "status") or ""
        progress = integer((text(item, "progress") or "").rstrip("%") or None)
        return BackupTargetJob(
            text(item, "snapshotId") or "",
            _JOB_STATES.get(state, BackupTargetJobStatusType.PENDING), progress, target,
            driver=self,
            extra={"snapshot_id": text(item, "snapshotId"), "volume_id": text(item, "volumeId"),
                   "state": state, "start_time": moment(text(item, "startTime"))},
        )

    def _volumes(self, wanted: Params) -> Iter[_Volume]:
        return self._pages("DescribeVolumes", wanted, "volumeSet",
                           lambda item: [_Volume.read(item)])

    def _volume(self, volume_id: str) -> Op[_Volume]:
        return (yield from self._described(
            "DescribeVolumes", volume_id, lambda item: [_Volume.read(item)], VolumeNotFound,
            id_param="VolumeId", set_name="volumeSet"))

    def _target_volume(self, target_id: object) -> Op[_Volume]:
        """The volume the target ``target_id`` is on now (during a swap, the one
        not yet marked replaced); BackupTargetNotFound if there is none."""
        checked = self._check_id(target_id, BackupTargetNotFound)
        found = yield from collect(self._volumes(filters({f"tag:{TARGET_ID_TAG}": checked})))
        current = [v for v in found if REPLACED_TAG not in v.tags] or found
        if not current:
            raise BackupTargetNotFound(checked, driver=self)
        return current[0]

    def _snapshots(self, target_id: str, *more: tuple[str, str]) -> Iter[Element]:
        """The account's own snapshots tagged with ``target_id`` (and ``more`` filters)."""
        wanted = filters({f"tag:{TARGET_ID_TAG}": target_id, **dict(more)})
        return self._pages("DescribeSnapshots", [*numbered("Owner", ["self"]), *wanted],
                           "snapshotSet", lambda item: [item])

    def _instance(self, node: object) -> Op[_Instance]:
        """An instance's zone, root device and attached volumes, as EC2 says now."""
        node_id = self._check_id(getattr(node, "id", None), NodeNotFound)
        root = yield from self._query("DescribeInstances", numbered("InstanceId", [node_id]),
                                      read=True, what=node_id)
        for reservation in items(root, "reservationSet"):
            for item in items(reservation, "instancesSet"):
                if text(item, "instanceId") == node_id:
                    devices = {text(m, "deviceName") or "": text(m, "ebs", "volumeId") or ""
                               for m in items(item, "blockDeviceMapping")}
                    return _Instance(node_id, text(item, "placement", "availabilityZone"),
                                     text(item, "rootDeviceName"), devices)
        raise NodeNotFound(node_id, driver=self)

    # -- checks ----------------------------------------------------------------------

    def _check_target(self, value: object, what: str = "target") -> BackupTarget:
        if not isinstance(value, BackupTarget):
            raise InvalidInput(f"{what} must be a BackupTarget: {type(value).__name__}",
                               driver=self)
        return value

    def _check_volume_id(self, address: object) -> str:
        if not isinstance(address, str) or not address.startswith("vol-") \
                or not address[4:].isalnum():
            raise InvalidInput(f"an EBS target's address is a volume id (vol-...): {address!r}",
                               driver=self)
        return address

    def _extra_tags(self, extra: Mapping[str, Any] | None) -> dict[str, str]:
        """A target's ``extra`` as tags: string values, keys EC2 takes."""
        if extra is None:
            return {}
        if not isinstance(extra, Mapping):
            raise InvalidInput(f"extra must be a mapping: {type(extra).__name__}", driver=self)
        if len(extra) > _MAX_EXTRA:
            raise InvalidInput(f"at most {_MAX_EXTRA} extra entries: {len(extra)}", driver=self)
        tagged: dict[str, str] = {}
        for key, value in extra.items():
            if not isinstance(key, str) or not key or key in _VOLUME_KEYS \
                    or len(EXTRA_TAG + key) > _MAX_TAG_KEY or CONTROL.search(key):
                raise InvalidInput(f"not a usable extra key (EBS keeps them as tags; "
                                   f"{sorted(_VOLUME_KEYS)} are the volume's): {key!r}",
                                   driver=self)
            tagged[EXTRA_TAG + key] = self._check_tag_value(
                f"extra[{key!r}] (EBS keeps extra entries as tags: text)", value, empty=True)
        return tagged

    def _check_restore(self, target: object, point: object, path: object) -> tuple[
            BackupTarget, BackupTargetRecoveryPoint]:
        checked = self._check_target(target)
        if path is not None:
            raise InvalidInput(f"an EBS snapshot restores a whole volume: path must be None, "
                               f"not {path!r}", driver=self)
        if not isinstance(point, BackupTargetRecoveryPoint):
            raise InvalidInput(f"recovery_point must be a BackupTargetRecoveryPoint: "
                               f"{type(point).__name__}", driver=self)
        if point.target.id != checked.id:
            raise InvalidInput(f"recovery point {point.id} is of target {point.target.id}, "
                               f"not of {checked.id}", driver=self)
        self._check_id(point.id, RecoveryPointNotFound)
        return checked, point

    # -- tags ------------------------------------------------------------------------

    def _tag(self, volume_id: str, tagged: Mapping[str, str]) -> Op[None]:
        if tagged:
            yield from self._query("CreateTags", _tagging(volume_id, tagged), idempotent=True,
                                   what=volume_id)

    def _untag(self, volume_id: str, keys: list[str]) -> Op[None]:
        if keys:
            yield from self._query("DeleteTags", [
                ("ResourceId.1", volume_id),
                *[(f"Tag.{n}.Key", key) for n, key in enumerate(keys, 1)],
            ], idempotent=True, what=volume_id)

    # -- targets ---------------------------------------------------------------------

    @iterator
    def iterate_targets(self) -> Iter[BackupTarget]:
        """Every volume tagged as a target (``DescribeVolumes`` by tag, page by page)."""
        yield from self._pages(
            "DescribeVolumes", filters({"tag-key": TARGET_ID_TAG}), "volumeSet",
            lambda item: [] if REPLACED_TAG in (v := _Volume.read(item)).tags
            else [self._to_target(v)])

    @operation
    def get_target(self, id: str) -> Op[BackupTarget]:
        """The target ``id``; :class:`~overcast.errors.BackupTargetNotFound` if absent."""
        return self._to_target((yield from self._target_volume(id)))

    @operation
    def ex_get_target_by_volume_id(self, volume_id: str) -> Op[BackupTarget]:
        """The target on volume ``volume_id`` (Apache Libcloud's name);
        :class:`~overcast.errors.BackupTargetNotFound` if that volume is none."""
        checked = self._check_id(volume_id, BackupTargetNotFound)
        try:
            volume = yield from self._volume(checked)
        except VolumeNotFound:
            raise BackupTargetNotFound(checked, driver=self) from None
        if TARGET_ID_TAG not in volume.tags:
            raise BackupTargetNotFound(checked, f"volume {checked} is not a backup target",
                                       driver=self)
        return self._to_target(volume)

    @operation
    def create_target(self, name: str, address: str,
                      type: BackupTargetType = BackupTargetType.VOLUME,
                      extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Make the volume ``address`` (its id) a target named ``name`` (tags
        only: nothing is copied or changed). ``type`` must be ``VOLUME``;
        ``extra`` entries are kept as tags (text values). InvalidInput for a
        volume that does not exist; AlreadyExists if it is a target already."""
        label = self._check_tag_value("target name", name)
        volume_id = self._check_volume_id(address)
        if type != BackupTargetType.VOLUME:
            raise InvalidInput(f"EBS targets are volumes (BackupTargetType.VOLUME), "
                               f"not {type!r}", driver=self)
        wanted = self._extra_tags(extra)
        try:
            volume = yield from self._volume(volume_id)
        except VolumeNotFound:
            raise InvalidInput(f"there is no volume {volume_id} in {self.region}",
                               driver=self) from None
        if TARGET_ID_TAG in volume.tags:
            raise AlreadyExists(volume_id, f"volume {volume_id} is target "
                                f"{volume.tags[TARGET_ID_TAG]!r} already", driver=self)
        tagged = {TARGET_TAG: label, TARGET_ID_TAG: volume_id, **wanted}
        yield from self._tag(volume_id, tagged)
        return self._to_target(_replace_tags(volume, {**volume.tags, **tagged}))

    @operation
    def create_target_from_node(self, node: NodeLike,
                                type: BackupTargetType = BackupTargetType.VIRTUAL,
                                extra: Mapping[str, Any] | None = None, *,
                                ex_device: str | None = None) -> Op[BackupTarget]:
        """Make an EC2 instance's root volume (or its volume at ``ex_device``) a
        target named after the node. ``type`` is Libcloud's and is not used: the
        target is a ``VOLUME``. InvalidInput if no EBS volume is at that device."""
        if not isinstance(type, BackupTargetType):
            raise InvalidInput(f"type must be a BackupTargetType: {type!r}", driver=self)
        name = self._check_tag_value("node name", getattr(node, "name", None))
        self._extra_tags(extra)
        instance = yield from self._instance(node)
        device = ex_device if ex_device is not None else instance.root_device
        volume_id = instance.devices.get(device or "")
        if not volume_id:
            raise InvalidInput(f"node {instance.id} has no EBS volume at {device!r} "
                               f"(its volumes: {instance.devices})", driver=self)
        return (yield from self.create_target.op(name, volume_id, BackupTargetType.VOLUME,
                                                 extra))

    @operation
    def update_target(self, target: BackupTarget, name: str | None = None,
                      address: str | None = None,
                      extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Rename a target or replace its ``extra`` (tag changes). A target's
        address is its volume: another one is InvalidInput (delete the target
        and create one on that volume)."""
        checked = self._check_target(target)
        label = None if name is None else self._check_tag_value("target name", name)
        wanted = None if extra is None else self._extra_tags(extra)
        if address is not None and address != checked.address:
            raise InvalidInput(f"an EBS target stays on its volume ({checked.address}); "
                               f"to back up {address!r}, create a target on it", driver=self)
        volume = yield from self._target_volume(checked.id)
        tagged = dict(volume.tags)
        if label is not None:
            tagged[TARGET_TAG] = label
        if wanted is not None:
            stale = [key for key in volume.tags if key.startswith(EXTRA_TAG) and key not in wanted]
            yield from self._untag(volume.id, stale)
            tagged = {k: v for k, v in tagged.items() if k not in stale} | wanted
        yield from self._tag(volume.id, {k: v for k, v in tagged.items()
                                         if volume.tags.get(k) != v})
        return self._to_target(_replace_tags(volume, tagged))

    @operation
    def delete_target(self, target: BackupTarget) -> Op[bool]:
        """Stop backing up a target: its tags are removed; the volume and its
        snapshots stay. BackupTargetNotFound if it is no target."""
        volume = yield from self._target_volume(self._check_target(target).id)
        yield from self._untag(volume.id, list(volume.target_tags()))
        return True

    # -- jobs ------------------------------------------------------------------------

    @operation
    def create_target_job(self, target: BackupTarget,
                          extra: Mapping[str, Any] | None = None) -> Op[BackupTargetJob]:
        """Snapshot the target's volume (``CreateSnapshot``, tagged with the
        target id; made once however often its answer is lost). Returned at
        once, usually ``RUNNING``. ``extra`` may hold a ``description``."""
        checked = self._check_target(target)
        extra = dict(extra or {})
        description = extra.pop("description", None)
        if extra:
            raise InvalidInput(f"EBS jobs take only a description: {sorted(extra)}", driver=self)
        volume = yield from self._target_volume(checked.id)
        params: Params = [("VolumeId", volume.id), ("Description", self._check_tag_value(
            "description", description if description is not None
            else f"overcast backup of {checked.name}", empty=True))]
        current = self._to_target(volume)

        def send(token: str) -> Op[BackupTargetJob]:
            root = yield from self._query("CreateSnapshot", [
                *params, *tag_spec("snapshot", {TARGET_ID_TAG: current.id, TOKEN_TAG: token})],
                what=volume.id)
            return self._to_job(current, root)

        def find(token: str) -> Op[BackupTargetJob | None]:
            return (yield from find_first(self._job_items(current, token_filter(token)),
                                          lambda _: True))

        token = request_token()
        return (yield from create_once(lambda: send(token), lambda: find(token)))

    def _job_items(self, target: BackupTarget, wanted: Params) -> Iter[BackupTargetJob]:
        return self._pages("DescribeSnapshots", [*numbered("Owner", ["self"]), *wanted],
                           "snapshotSet", lambda item: [self._to_job(target, item)])

    @iterator
    def iterate_target_jobs(self, target: BackupTarget) -> Iter[BackupTargetJob]:
        """Every snapshot the driver took of the target, whatever its state."""
        checked = self._check_target(target)
        target_id = self._check_id(checked.id, BackupTargetNotFound)
        yield from self._job_items(checked, filters({f"tag:{TARGET_ID_TAG}": target_id}))

    # -- recovery points -------------------------------------------------------------

    def _recovery_points(self, target: BackupTarget) -> Iter[BackupTargetRecoveryPoint]:
        """The target's completed snapshots, page by page."""
        checked = self._check_target(target)
        target_id = self._check_id(checked.id, BackupTargetNotFound)
        wanted = [*numbered("Owner", ["self"]),
                  *filters({f"tag:{TARGET_ID_TAG}": target_id, "status": "completed"})]
        yield from self._pages("DescribeSnapshots", wanted, "snapshotSet",
                               lambda item: [self._to_point(checked, item)])

    # -- restores --------------------------------------------------------------------

    @operation
    def recover_target(self, target: BackupTarget, recovery_point: BackupTargetRecoveryPoint,
                       path: str | None = None) -> Op[BackupTargetJob]:
        """Put a volume made from ``recovery_point`` in the place of the target's
        volume (same zone, type, instance and device), keeping the old one
        detached and tagged ``overcast:replaced-by``; the target moves to the
        new volume. ``path`` must be None."""
        checked, point = self._check_restore(target, recovery_point, path)
        return (yield from self._replace(point, checked))

    @operation
    def recover_target_out_of_place(self, target: BackupTarget,
                                    recovery_point: BackupTargetRecoveryPoint,
                                    recovery_target: BackupTarget,
                                    path: str | None = None, *,
                                    ex_node: NodeLike | None = None,
                                    ex_device: str | None = None,
                                    ex_zone: str | None = None) -> Op[BackupTargetJob]:
        """Restore ``target``'s ``recovery_point`` onto ``recovery_target``: a
        volume from the snapshot takes the place of its volume, as
        :meth:`recover_target` does for the target itself.

        With ``ex_node``, the volume is made in that node's zone and attached to
        it at ``ex_device`` (default: its first free ``/dev/sdf``-``/dev/sdp``);
        with ``ex_zone`` alone, made there and left detached. Either way nothing
        is replaced and ``recovery_target`` is not changed. ``path`` must be None.
        """
        _, point = self._check_restore(target, recovery_point, path)
        onto = self._check_target(recovery_target, "recovery_target")
        if ex_node is None and ex_zone is None:
            if ex_device is not None:
                raise InvalidInput("ex_device is where ex_node gets the volume: give ex_node",
                                   driver=self)
            return (yield from self._replace(point, onto))
        if ex_zone is not None:
            self._check_tag_value("ex_zone", ex_zone)
        if ex_device is not None and (not isinstance(ex_device, str) or not ex_device
                                      or CONTROL.search(ex_device)):
            raise InvalidInput(f"invalid device name: {ex_device!r}", driver=self)
        instance = None if ex_node is None else (yield from self._instance(ex_node))
        zone = ex_zone if instance is None else instance.zone
        if ex_zone is not None and zone != ex_zone:
            raise InvalidInput(f"node {instance and instance.id} is in {zone}, not {ex_zone}",
                               driver=self)
        volume = yield from self._make_volume(point, zone or "", None, {})
        device = None
        if instance is not None:
            device = ex_device or free_device(instance.devices)
            if device is None:
                raise InvalidInput(f"node {instance.id} has no free device name left",
                                   driver=self)
            volume = yield from self._attach(volume.id, instance.id, device)
        return self._restore_job(onto, point, volume, None)

    def _replace(self, point: BackupTargetRecoveryPoint, onto: BackupTarget) -> Op[
            BackupTargetJob]:
        """A volume from ``point`` in the place of ``onto``'s volume."""
        old = yield from self._target_volume(onto.id)
        named = {"Name": old.tags["Name"]} if "Name" in old.tags else {}
        new = yield from self._make_volume(point, old.zone or "", old.volume_type, named)
        if old.instance_id and old.device:
            instance_id, device = old.instance_id, old.device
            yield from self._detach(old.id, instance_id)

            def reattach(_: BaseException) -> Op[Any]:
                return self._attach(old.id, instance_id, device)

            new = yield Guarded(self._attach(new.id, instance_id, device), reattach)
        yield from self._tag(old.id, {REPLACED_TAG: new.id})
        yield from self._tag(new.id, old.target_tags())
        yield from self._untag(old.id, list(old.target_tags()))
        moved = _replace_tags(new, {**new.tags, **old.target_tags()})
        return self._restore_job(self._to_target(moved), point, moved, old.id)

    def _restore_job(self, target: BackupTarget, point: BackupTargetRecoveryPoint,
                     volume: _Volume, replaced: str | None) -> BackupTargetJob:
        return BackupTargetJob(volume.id, BackupTargetJobStatusType.COMPLETED, 100, target,
                               driver=self,
                               extra={"volume_id": volume.id, "snapshot_id": point.id,
                                      "replaced_volume_id": replaced,
                                      "instance_id": volume.instance_id, "device": volume.device,
                                      "availability_zone": volume.zone})

    def _make_volume(self, point: BackupTargetRecoveryPoint, zone: str,
                     volume_type: str | None, named: Mapping[str, str]) -> Op[_Volume]:
        """A new volume from the point's snapshot in ``zone``, once made (create-once:
        ``ClientToken`` and the token tag), waited for until ``available``."""
        params: Params = [("SnapshotId", point.id), ("AvailabilityZone", zone)]
        if volume_type:
            params.append(("VolumeType", volume_type))

        def send(token: str) -> Op[_Volume]:
            root = yield from self._query("CreateVolume", [
                *params, ("ClientToken", token),
                *tag_spec("volume", {**named, RESTORED_TAG: point.id, TOKEN_TAG: token}),
            ], what=point.id)
            return _Volume.read(root)

        def find(token: str) -> Op[_Volume | None]:
            return (yield from find_first(self._volumes(token_filter(token)), lambda _: True))

        token = request_token()
        try:
            made = yield from create_once(lambda: send(token), lambda: find(token))
        except SnapshotNotFound:
            raise RecoveryPointNotFound(point.id, driver=self) from None
        return (yield from self._wait(made.id, lambda v: v.state == "available", "available"))

    def _attach(self, volume_id: str, instance_id: str, device: str) -> Op[_Volume]:
        """Attach a volume and wait until it is attached."""
        params: Params = [("VolumeId", volume_id), ("InstanceId", instance_id),
                          ("Device", device)]

        def send() -> Op[bool]:
            yield from self._query("AttachVolume", params, what=volume_id)
            return True

        def attached() -> Op[bool | None]:
            return True if (yield from self._volume(volume_id)).instance_id == instance_id \
                else None

        yield from self._settled(send, attached)
        return (yield from self._wait(
            volume_id, lambda v: v.instance_id == instance_id and v.attach_state == "attached",
            f"attached to {instance_id} at {device}"))

    def _detach(self, volume_id: str, instance_id: str) -> Op[_Volume]:
        """Detach a volume from ``instance_id`` and wait until it is available."""
        params: Params = [("VolumeId", volume_id), ("InstanceId", instance_id)]

        def send() -> Op[bool]:
            yield from self._query("DetachVolume", params, what=volume_id)
            return True

        def detached() -> Op[bool | None]:
            return True if (yield from self._volume(volume_id)).instance_id != instance_id \
                else None

        yield from self._settled(send, detached)
        return (yield from self._wait(volume_id, lambda v: v.state == "available", "available"))

    def _wait(self, volume_id: str, done: Callable[[_Volume], bool], wanted: str) -> Op[_Volume]:
        """Look at the volume every ``poll_interval`` until ``done``, at most
        ``wait_timeout``; ProviderError if it goes to ``error``."""
        def settled(volume: _Volume) -> bool:
            if done(volume):
                return True
            if volume.state == "error":
                raise ProviderError(f"volume {volume_id} is in the error state", driver=self)
            return False

        return (yield from poll(
            lambda: self._volume(volume_id), settled, interval=self.poll_interval,
            timeout=self.wait_timeout,
            timed_out=lambda volume: OperationTimeout(
                f"volume {volume_id} was not {wanted} within {self.wait_timeout:g}s",
                driver=self)))


def _replace_tags(volume: _Volume, tagged: dict[str, str]) -> _Volume:
    return _Volume(volume.id, volume.state, volume.zone, volume.size, volume.volume_type,
                   volume.snapshot_id, volume.instance_id, volume.device, volume.attach_state,
                   tagged)
