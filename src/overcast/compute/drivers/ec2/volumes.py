"""EBS volumes and their snapshots; attaching volumes to instances."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from typing import Final
from xml.etree.ElementTree import Element

from overcast.compute.drivers.ec2.api import CONTROL
from overcast.compute.drivers.ec2.api import TOKEN_TAG
from overcast.compute.drivers.ec2.api import EC2Api
from overcast.compute.drivers.ec2.api import Params
from overcast.compute.drivers.ec2.api import boolean
from overcast.compute.drivers.ec2.api import filters
from overcast.compute.drivers.ec2.api import integer
from overcast.compute.drivers.ec2.api import items
from overcast.compute.drivers.ec2.api import moment
from overcast.compute.drivers.ec2.api import numbered
from overcast.compute.drivers.ec2.api import tag_spec
from overcast.compute.drivers.ec2.api import tags
from overcast.compute.drivers.ec2.api import text
from overcast.compute.models import Node
from overcast.compute.models import NodeLocation
from overcast.compute.models import StorageVolume
from overcast.compute.models import StorageVolumeState
from overcast.compute.models import VolumeSnapshot
from overcast.compute.models import VolumeSnapshotState
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import ProviderError
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect

__all__ = ["EC2Volumes", "free_device"]

#: Devices ``attach_volume`` picks from when none is given.
_ATTACH_DEVICES: Final = tuple(f"/dev/sd{c}" for c in "fghijklmnop")

_VOLUME_STATES: Final = {
    "creating": StorageVolumeState.CREATING,
    "available": StorageVolumeState.AVAILABLE,
    "in-use": StorageVolumeState.INUSE,
    "deleting": StorageVolumeState.DELETING,
    "deleted": StorageVolumeState.DELETED,
    "error": StorageVolumeState.ERROR,
}
_SNAPSHOT_STATES: Final = {
    "pending": VolumeSnapshotState.CREATING,
    "completed": VolumeSnapshotState.AVAILABLE,
    "error": VolumeSnapshotState.ERROR,
    "recoverable": VolumeSnapshotState.AVAILABLE,
    "recovering": VolumeSnapshotState.RESTORING,
}


def free_device(used: Iterable[str | None]) -> str | None:
    """The first of ``/dev/sdf``-``/dev/sdp`` not among the device names
    ``used`` (an instance's block device mapping); ``None`` if all are taken."""
    taken = set(used)
    return next((device for device in _ATTACH_DEVICES if device not in taken), None)


class EC2Volumes(EC2Api):
    """EBS volumes, snapshots and attachments."""

    # -- volumes ---------------------------------------------------------------------------

    def _to_volume(self, item: Element) -> StorageVolume:
        tagged = tags(item)
        attachments = [
            {
                "instance_id": text(a, "instanceId"),
                "device": text(a, "device"),
                "state": text(a, "status"),
                "attach_time": text(a, "attachTime"),
            }
            for a in items(item, "attachmentSet")
        ]
        status = text(item, "status") or ""
        extra: dict[str, Any] = {
            "availability_zone": text(item, "availabilityZone"),
            "volume_type": text(item, "volumeType"),
            "snapshot_id": text(item, "snapshotId") or None,
            "iops": integer(text(item, "iops")),
            "throughput": integer(text(item, "throughput")),
            "encrypted": boolean(text(item, "encrypted")),
            "create_time": text(item, "createTime"),
            "attachments": attachments,
            "instance_id": attachments[0]["instance_id"] if attachments else None,
            "device": attachments[0]["device"] if attachments else None,
            "state": status,
            "tags": tagged,
        }
        return StorageVolume(
            text(item, "volumeId") or "",
            tagged.get("Name"),
            integer(text(item, "size")) or 0,
            driver=self,
            state=_VOLUME_STATES.get(status, StorageVolumeState.UNKNOWN),
            extra=extra,
        )

    def _volumes(self, params: Params) -> Iter[StorageVolume]:
        return self._pages("DescribeVolumes", params, "volumeSet",
                           lambda item: [self._to_volume(item)])

    @iterator
    def iterate_volumes(self) -> Iter[StorageVolume]:
        """Every EBS volume of the region (``DescribeVolumes``, page by page)."""
        yield from self._volumes([])

    @operation
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """A volume by id; :class:`~overcast.errors.VolumeNotFound` if there is none."""
        return (yield from self._described(
            "DescribeVolumes", volume_id, lambda item: [self._to_volume(item)], VolumeNotFound,
            id_param="VolumeId", set_name="volumeSet",
        ))

    def _zone_for_create(self, location: NodeLocation | None) -> Op[str]:
        """The availability zone to create a volume in: ``location``, else the
        region's first available zone (looked up once)."""
        if location is not None:
            return self._expect(location, NodeLocation, "location").id
        if self._default_zone is None:
            zones = yield from collect(self.iterate_locations.op())
            usable = [z for z in zones if z.extra.get("state") in (None, "", "available")]
            if not usable:
                raise ProviderError(
                    f"region {self.region} has no available availability zone", driver=self
                )
            self._default_zone = usable[0].id
        return self._default_zone

    @operation
    def create_volume(self, size: int, name: str, location: NodeLocation | None = None,
                      snapshot: VolumeSnapshot | None = None, *, ex_volume_type: str | None = None,
                      ex_iops: int | None = None,
                      ex_encrypted: bool | None = None) -> Op[StorageVolume]:
        """Create an EBS volume of ``size`` GiB named ``name`` (its ``Name`` tag)
        in availability zone ``location`` (default: the region's first zone),
        from ``snapshot`` if given (``CreateVolume``)."""
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 65536:
            raise InvalidInput(f"size must be 1 to 65536 GiB: {size!r}", driver=self)
        volume_name = self._check_tag_value("volume name", name)
        if snapshot is not None:
            self._expect(snapshot, VolumeSnapshot, "snapshot")
        if ex_iops is not None and (isinstance(ex_iops, bool) or not isinstance(ex_iops, int)):
            raise InvalidInput(f"ex_iops must be an integer: {ex_iops!r}", driver=self)
        zone = yield from self._zone_for_create(location)
        params: Params = [("Size", str(size)), ("AvailabilityZone", zone)]
        if snapshot is not None:
            params.append(("SnapshotId", self._check_id(snapshot.id, SnapshotNotFound)))
        if ex_volume_type is not None:
            params.append(("VolumeType", ex_volume_type))
        if ex_iops is not None:
            params.append(("Iops", str(ex_iops)))
        if ex_encrypted is not None:
            params.append(("Encrypted", "true" if ex_encrypted else "false"))

        def send(token: str) -> Op[StorageVolume]:
            root = yield from self._query("CreateVolume", [
                *params, ("ClientToken", token),
                *tag_spec("volume", {"Name": volume_name, TOKEN_TAG: token}),
            ])
            volume = self._to_volume(root)
            volume.name = volume.name or volume_name
            return volume

        return (yield from self._create_tagged(send, self._volumes))

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a (detached) volume (``DeleteVolume``)."""
        volume_id = self._volume_id(volume)
        return (yield from self._remove(
            "DeleteVolume", [("VolumeId", volume_id)], volume_id,
            lambda: self._exists(self.get_volume.op(volume_id), VolumeNotFound),
        ))

    def _volume_id(self, volume: StorageVolume) -> str:
        return self._check_id(self._expect(volume, StorageVolume, "volume").id, VolumeNotFound)

    # -- attachments -----------------------------------------------------------------------

    def _free_device(self, node_id: str) -> Op[str]:
        node = yield from self.get_node.op(node_id)
        device = free_device(m.get("device_name")
                             for m in node.extra.get("block_device_mapping", []))
        if device is None:
            raise InvalidInput(f"node {node_id} has no free device name left", driver=self)
        return device

    def _attached_to(self, volume_id: str) -> Op[str | None]:
        """The instance the volume is attached to now, if any."""
        current = yield from self.get_volume.op(volume_id)
        instance: str | None = current.extra.get("instance_id")
        return instance

    @operation
    def attach_volume(
        self, node: Node, volume: StorageVolume, device: str | None = None
    ) -> Op[bool]:
        """Attach a volume to an instance in the same zone as ``device``
        (``/dev/sdf``; default: the first of ``/dev/sdf``-``/dev/sdp`` the
        instance does not use) (``AttachVolume``)."""
        node_id = self._check_id(self._expect(node, Node, "node").id, NodeNotFound)
        volume_id = self._volume_id(volume)
        if device is not None and (not isinstance(device, str) or not device
                                   or CONTROL.search(device)):
            raise InvalidInput(f"invalid device name: {device!r}", driver=self)
        if device is None:
            device = yield from self._free_device(node_id)
        params: Params = [("VolumeId", volume_id), ("InstanceId", node_id), ("Device", device)]

        def send() -> Op[bool]:
            yield from self._query("AttachVolume", params, what=volume_id)
            return True

        def attached() -> Op[bool | None]:
            return True if (yield from self._attached_to(volume_id)) == node_id else None

        return (yield from self._settled(send, attached))

    @operation
    def detach_volume(self, volume: StorageVolume) -> Op[bool]:
        """Detach a volume from the instance it is attached to (``DetachVolume``,
        with that instance's id, read from the volume first)."""
        volume_id = self._volume_id(volume)
        instance_id = yield from self._attached_to(volume_id)
        if not instance_id:
            raise InvalidInput(f"volume {volume_id} is not attached to any node", driver=self)
        params: Params = [("VolumeId", volume_id), ("InstanceId", instance_id)]

        def send() -> Op[bool]:
            yield from self._query("DetachVolume", params, what=volume_id)
            return True

        def detached() -> Op[bool | None]:
            return True if (yield from self._attached_to(volume_id)) != instance_id else None

        return (yield from self._settled(send, detached))

    # -- snapshots -------------------------------------------------------------------------

    def _to_snapshot(self, item: Element) -> VolumeSnapshot:
        tagged = tags(item)
        status = text(item, "status") or ""
        extra: dict[str, Any] = {
            "volume_id": text(item, "volumeId"),
            "description": text(item, "description"),
            "progress": text(item, "progress"),
            "owner_id": text(item, "ownerId"),
            "encrypted": boolean(text(item, "encrypted")),
            "state": status,
            "tags": tagged,
        }
        return VolumeSnapshot(
            text(item, "snapshotId") or "",
            driver=self,
            size=integer(text(item, "volumeSize")),
            extra=extra,
            created=moment(text(item, "startTime")),
            state=_SNAPSHOT_STATES.get(status, VolumeSnapshotState.UNKNOWN),
            name=tagged.get("Name"),
        )

    def _own_snapshots(self, wanted: Params) -> Iter[VolumeSnapshot]:
        """The account's own snapshots that match ``wanted`` (filters)."""
        return self._pages("DescribeSnapshots", [*numbered("Owner", ["self"]), *wanted],
                           "snapshotSet", lambda item: [self._to_snapshot(item)])

    @iterator
    def iterate_volume_snapshots(self, volume: StorageVolume) -> Iter[VolumeSnapshot]:
        """The account's snapshots of a volume (``DescribeSnapshots``, page by page)."""
        volume_id = self._volume_id(volume)
        yield from self._own_snapshots(filters({"volume-id": volume_id}))

    @operation
    def get_volume_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """A snapshot by id; :class:`~overcast.errors.SnapshotNotFound` if there is none."""
        return (yield from self._described(
            "DescribeSnapshots", snapshot_id, lambda item: [self._to_snapshot(item)],
            SnapshotNotFound, id_param="SnapshotId", set_name="snapshotSet",
        ))

    @operation
    def create_volume_snapshot(
        self, volume: StorageVolume, name: str | None = None
    ) -> Op[VolumeSnapshot]:
        """Snapshot a volume (``CreateSnapshot``); ``name`` is its ``Name`` tag and
        description. Returned at once, usually still ``pending``."""
        volume_id = self._volume_id(volume)
        params: Params = [("VolumeId", volume_id)]
        named: dict[str, str] = {}
        if name is not None:
            named["Name"] = self._check_tag_value("snapshot name", name)
            params.append(("Description", name))

        def send(token: str) -> Op[VolumeSnapshot]:
            root = yield from self._query(
                "CreateSnapshot", [*params, *tag_spec("snapshot", {TOKEN_TAG: token, **named})],
                what=volume_id,
            )
            snapshot = self._to_snapshot(root)
            snapshot.name = snapshot.name or name
            return snapshot

        return (yield from self._create_tagged(send, self._own_snapshots))

    @operation
    def destroy_volume_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Delete a snapshot (``DeleteSnapshot``)."""
        snapshot_id = self._check_id(
            self._expect(snapshot, VolumeSnapshot, "snapshot").id, SnapshotNotFound
        )
        return (yield from self._remove(
            "DeleteSnapshot", [("SnapshotId", snapshot_id)], snapshot_id,
            lambda: self._exists(self.get_volume_snapshot.op(snapshot_id), SnapshotNotFound),
        ))
