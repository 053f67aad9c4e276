"""Cinder volumes and snapshots; attaching volumes to servers (Nova)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Final
from urllib.parse import quote

from overcast.compute.drivers.openstack.api import TOKEN_KEY
from overcast.compute.drivers.openstack.api import OpenStackApi
from overcast.compute.drivers.openstack.api import moment
from overcast.compute.drivers.openstack.api import whole
from overcast.compute.models import Node
from overcast.compute.models import NodeLocation
from overcast.compute.models import StorageVolume
from overcast.compute.models import StorageVolumeState
from overcast.compute.models import VolumeSnapshot
from overcast.compute.models import VolumeSnapshotState
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import create_once
from overcast.runtime.ops import find_first

__all__ = ["OpenStackVolumes"]

VOLUME_STATES: Final = {
    "available": StorageVolumeState.AVAILABLE,
    "in-use": StorageVolumeState.INUSE,
    "creating": StorageVolumeState.CREATING,
    "downloading": StorageVolumeState.CREATING,
    "attaching": StorageVolumeState.ATTACHING,
    "reserved": StorageVolumeState.ATTACHING,
    "detaching": StorageVolumeState.UPDATING,
    "deleting": StorageVolumeState.DELETING,
    "error": StorageVolumeState.ERROR,
    "error_deleting": StorageVolumeState.ERROR,
    "error_backing-up": StorageVolumeState.ERROR,
    "error_restoring": StorageVolumeState.ERROR,
    "error_extending": StorageVolumeState.ERROR,
    "backing-up": StorageVolumeState.BACKUP,
    "restoring-backup": StorageVolumeState.BACKUP,
    "uploading": StorageVolumeState.BACKUP,
    "extending": StorageVolumeState.UPDATING,
    "retyping": StorageVolumeState.UPDATING,
    "maintenance": StorageVolumeState.UPDATING,
    "migrating": StorageVolumeState.MIGRATING,
}

SNAPSHOT_STATES: Final = {
    "available": VolumeSnapshotState.AVAILABLE,
    "creating": VolumeSnapshotState.CREATING,
    "deleting": VolumeSnapshotState.DELETING,
    "error": VolumeSnapshotState.ERROR,
    "error_deleting": VolumeSnapshotState.ERROR,
    "restoring": VolumeSnapshotState.RESTORING,
    "backing-up": VolumeSnapshotState.UPDATING,
    "unmanaging": VolumeSnapshotState.DELETING,
}


def _carries(fields: Mapping[str, Any], token: str) -> bool:
    """Whether a volume's or snapshot's metadata carries the request token ``token``."""
    return bool((fields.get("metadata") or {}).get(TOKEN_KEY) == token)


class OpenStackVolumes(OpenStackApi):
    """Volumes, snapshots and attachments."""

    # -- volumes ------------------------------------------------------------------------------

    def _to_volume(self, data: Mapping[str, Any]) -> StorageVolume:
        status = str(data.get("status") or "")
        return StorageVolume(
            id=str(data["id"]),
            name=data.get("name"),
            size=whole(data.get("size")),
            driver=self,
            state=VOLUME_STATES.get(status, StorageVolumeState.UNKNOWN),
            extra={k: v for k, v in data.items() if k not in ("id", "name", "size")},
        )

    @iterator
    def iterate_volumes(self) -> Iter[StorageVolume]:
        """Iterate over the project's Cinder volumes (``GET /volumes/detail``)."""
        yield from self._pages("volume:/volumes/detail", "volumes", self._to_volume,
                               links="volumes_links")

    def _volume_path(self, volume_id: str) -> str:
        return f"volume:/volumes/{quote(volume_id, safe='')}"

    @operation
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """Get a volume by id; :class:`~overcast.errors.VolumeNotFound` if none."""
        checked = self._check_id(volume_id, "volume_id")
        data = yield from self._json("GET", self._volume_path(checked), what=checked,
                                     missing=VolumeNotFound)
        return self._to_volume(data["volume"])

    @operation
    def create_volume(self, size: int, name: str, location: NodeLocation | None = None,
                      snapshot: VolumeSnapshot | None = None, *, ex_volume_type: str | None = None,
                      ex_description: str | None = None,
                      ex_metadata: Mapping[str, str] | None = None) -> Op[StorageVolume]:
        """Create a Cinder volume of ``size`` GiB in the zone ``location`` (from
        ``snapshot``, if given); it starts ``creating``."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(f"size must be a positive number of GiB: {size!r}", driver=self)
        self._check_name(name, "volume")
        if location is not None:
            self._expect(location, NodeLocation, "location")
        if snapshot is not None:
            self._expect(snapshot, VolumeSnapshot, "snapshot")
        metadata = {str(k): str(v) for k, v in (ex_metadata or {}).items()}
        volume: dict[str, Any] = {"size": size, "name": name}
        if location is not None and location.extra.get("kind") != "region":
            volume["availability_zone"] = location.id
        if snapshot is not None:
            volume["snapshot_id"] = snapshot.id
        if ex_volume_type is not None:
            volume["volume_type"] = ex_volume_type
        if ex_description is not None:
            volume["description"] = ex_description

        def send(token: str) -> Op[StorageVolume]:
            body = {"volume": {**volume, "metadata": {**metadata, TOKEN_KEY: token}}}
            data = yield from self._json(
                "POST", "volume:/volumes", json=body, what=snapshot.id if snapshot else "",
                missing=SnapshotNotFound if snapshot else None,
            )
            return self._to_volume(data["volume"])

        def find(token: str) -> Op[StorageVolume | None]:
            volumes = self._pages("volume:/volumes/detail", "volumes", self._to_volume,
                                  links="volumes_links", params=[("name", name)])
            return (yield from find_first(volumes, lambda v: _carries(v.extra, token)))

        return (yield from self._create(send, find))

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a volume (it must be detached and have no snapshots)."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        return (yield from self._delete(self._volume_path(volume_id), volume_id, VolumeNotFound))

    # -- attachments --------------------------------------------------------------------------

    @operation
    def attach_volume(
        self, node: Node, volume: StorageVolume, device: str | None = None
    ) -> Op[bool]:
        """Attach a volume to a server (``POST /servers/{id}/os-volume_attachments``);
        ``device`` (``/dev/vdb``) is a hint most hypervisors ignore."""
        node_id = self._expect(node, Node, "node").id
        volume_id = self._expect(volume, StorageVolume, "volume").id
        attachment: dict[str, Any] = {"volumeId": volume_id}
        if device is not None:
            if not isinstance(device, str) or not device.startswith("/dev/"):
                raise InvalidInput(f"device must be a path like /dev/vdb: {device!r}",
                                   driver=self)
            attachment["device"] = device
        path = f"compute:/servers/{quote(node_id, safe='')}/os-volume_attachments"

        def send() -> Op[bool]:
            try:
                yield from self._send("POST", path, json={"volumeAttachment": attachment},
                                      what=node_id, missing=NodeNotFound)
            except NodeNotFound as missing:
                # Nova answers 404 for a missing volume too, and says which.
                if "volume" in str(missing).lower():
                    raise VolumeNotFound(volume_id, driver=self) from None
                raise
            return True

        def find() -> Op[bool | None]:
            # The attachment's id is the volume's: it is there if it was made.
            try:
                yield from self._send("GET", f"{path}/{quote(volume_id, safe='')}")
            except NotFound:
                return None
            return True

        return (yield from create_once(send, find))

    @operation
    def detach_volume(self, volume: StorageVolume) -> Op[bool]:
        """Detach a volume from every server it is attached to (as Cinder
        reports it now); False if it was attached to none."""
        current = yield from self.get_volume.op(self._expect(volume, StorageVolume, "volume").id)
        servers = [
            str(a["server_id"]) for a in current.extra.get("attachments") or ()
            if isinstance(a, Mapping) and a.get("server_id")
        ]
        for server_id in dict.fromkeys(servers):
            yield from self._send(
                "DELETE",
                f"compute:/servers/{quote(server_id, safe='')}/os-volume_attachments/"
                f"{quote(current.id, safe='')}",
                ok=(404,),
            )
        return bool(servers)

    # -- snapshots ----------------------------------------------------------------------------

    def _to_snapshot(self, data: Mapping[str, Any]) -> VolumeSnapshot:
        status = str(data.get("status") or "")
        return VolumeSnapshot(
            id=str(data["id"]),
            driver=self,
            size=whole(data.get("size")) if data.get("size") is not None else None,
            extra={k: v for k, v in data.items() if k not in ("id", "name", "size")},
            created=moment(data.get("created_at")),
            state=SNAPSHOT_STATES.get(status, VolumeSnapshotState.UNKNOWN),
            name=data.get("name"),
        )

    def _snapshots_of(self, volume_id: str) -> Iter[VolumeSnapshot]:
        return self._pages("volume:/snapshots/detail", "snapshots", self._to_snapshot,
                           links="snapshots_links", params=[("volume_id", volume_id)])

    @iterator
    def iterate_volume_snapshots(self, volume: StorageVolume) -> Iter[VolumeSnapshot]:
        """Iterate over the snapshots of a volume (``GET /snapshots/detail?volume_id=``)."""
        yield from self._snapshots_of(self._expect(volume, StorageVolume, "volume").id)

    def _snapshot_path(self, snapshot_id: str) -> str:
        return f"volume:/snapshots/{quote(snapshot_id, safe='')}"

    @operation
    def get_volume_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """Get a snapshot by id; :class:`~overcast.errors.SnapshotNotFound` if none."""
        checked = self._check_id(snapshot_id, "snapshot_id")
        data = yield from self._json("GET", self._snapshot_path(checked), what=checked,
                                     missing=SnapshotNotFound)
        return self._to_snapshot(data["snapshot"])

    @operation
    def create_volume_snapshot(self, volume: StorageVolume, name: str | None = None, *,
                               ex_description: str | None = None,
                               ex_force: bool = False) -> Op[VolumeSnapshot]:
        """Snapshot a volume (``POST /snapshots``); an attached volume needs
        ``ex_force=True``."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        self._check_name(name, "snapshot", required=False)
        snapshot: dict[str, Any] = {"volume_id": volume_id, "force": bool(ex_force)}
        if name is not None:
            snapshot["name"] = name
        if ex_description is not None:
            snapshot["description"] = ex_description

        def send(token: str) -> Op[VolumeSnapshot]:
            body = {"snapshot": {**snapshot, "metadata": {TOKEN_KEY: token}}}
            data = yield from self._json("POST", "volume:/snapshots", json=body, what=volume_id,
                                         missing=VolumeNotFound)
            return self._to_snapshot(data["snapshot"])

        def find(token: str) -> Op[VolumeSnapshot | None]:
            return (yield from find_first(self._snapshots_of(volume_id),
                                          lambda s: _carries(s.extra, token)))

        return (yield from self._create(send, find))

    @operation
    def destroy_volume_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Delete a snapshot (``DELETE /snapshots/{id}``)."""
        snapshot_id = self._expect(snapshot, VolumeSnapshot, "snapshot").id
        return (yield from self._delete(self._snapshot_path(snapshot_id), snapshot_id,
                                        SnapshotNotFound))
