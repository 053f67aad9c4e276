"""EBS snapshots on moto, sync and async, with nodes made by the ec2 compute
driver on the same server: a node's volume backed up, a volume from the
snapshot attached to another node, and an in-place restore that swaps the
attachment and keeps the old volume. moto keeps no disk contents, so the
restored volumes are checked by what moto keeps: the snapshot they were made
from, size, zone, tags and attachment."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.backup import BackupTargetJobStatusType
from overcast.backup import BackupTargetType
from overcast.backup.drivers.ebs import REPLACED_TAG
from overcast.backup.drivers.ebs import RESTORED_TAG
from overcast.backup.drivers.ebs import TARGET_ID_TAG
from overcast.compute.base import Node
from overcast.compute.drivers.ec2 import EC2NodeDriver
from overcast.errors import BackupTargetNotFound
from overcast.errors import InvalidInput
from servers.backup_ebs import ACCESS_KEY
from servers.backup_ebs import REGION
from servers.backup_ebs import SECRET_KEY
from servers.backup_ebs import EBSSubject
from servers.backup_ebs import make_subject
from servers.compute_ec2 import IMAGE_ID
from servers.compute_ec2 import SIZE_ID
from servers.modes import call
from servers.moto_server import moto_server

pytestmark = pytest.mark.server


@pytest.fixture
def subject(request: pytest.FixtureRequest, tmp_path: Any) -> EBSSubject:
    return make_subject(tmp_path, request=request)


@pytest.fixture
def ec2(request: pytest.FixtureRequest) -> EC2NodeDriver:
    """The compute driver on the same moto server and region."""
    return EC2NodeDriver(ACCESS_KEY, SECRET_KEY, region=REGION,
                         endpoint=moto_server(request).url, timeout=60)


def node(ec2: EC2NodeDriver, name: str) -> Node:
    return ec2.create_node(name, ec2.get_size(SIZE_ID), ec2.get_image(IMAGE_ID))


def attachment(ec2: EC2NodeDriver, volume_id: str) -> tuple[str | None, str | None]:
    volume = ec2.get_volume(volume_id)
    return volume.extra["instance_id"], volume.extra["device"]


def test_a_node_volume_restored_onto_another_node_and_in_place(
        mode: str, subject: EBSSubject, ec2: EC2NodeDriver) -> None:
    ebs = subject.driver
    web, spare = node(ec2, "web"), node(ec2, "spare")
    zone = web.extra["availability_zone"]
    location = next(z for z in ec2.list_locations() if z.id == zone)
    data = ec2.create_volume(2, "web-data", location)
    assert ec2.attach_volume(web, data, "/dev/sdf")

    root = call(mode, ebs, "create_target_from_node", web)
    assert root.name == "web" and root.type is BackupTargetType.VOLUME
    assert root.address == {m["device_name"]: m["volume_id"] for m in
                            web.extra["block_device_mapping"]}[web.extra["root_device_name"]]
    target = call(mode, ebs, "create_target_from_node", web, BackupTargetType.VOLUME,
                  {"role": "data"}, ex_device="/dev/sdf")
    assert (target.id, target.address, target.extra["role"]) == (data.id, data.id, "data")
    assert {t.id for t in call(mode, ebs, "list_targets")} == {root.id, target.id}

    job = call(mode, ebs, "create_target_job", target)
    assert job.status is BackupTargetJobStatusType.COMPLETED  # moto completes at once
    [point] = call(mode, ebs, "list_recovery_points", target)
    assert point.id == job.id and point.extra["volume_id"] == data.id
    assert point.extra["tags"][TARGET_ID_TAG] == target.id

    # Out of place: a volume from the snapshot, attached to the other node.
    beside = call(mode, ebs, "recover_target_out_of_place", target, point, target,
                  ex_node=spare)
    made = ec2.get_volume(beside.id)
    assert made.extra["snapshot_id"] == point.id and made.size == 2
    assert made.extra["availability_zone"] == spare.extra["availability_zone"]
    assert made.extra["tags"][RESTORED_TAG] == point.id
    assert attachment(ec2, made.id) == (spare.id, beside.extra["device"])
    assert beside.extra["device"] in {m["device_name"] for m in
                                      ec2.get_node(spare.id).extra["block_device_mapping"]}
    assert attachment(ec2, data.id) == (web.id, "/dev/sdf")  # the source is untouched

    # In place: the node's volume at /dev/sdf is swapped for one from the snapshot.
    subject.client.modify_volume(VolumeId=data.id, Size=3)
    swapped = call(mode, ebs, "recover_target", target, point)
    new_id = swapped.extra["volume_id"]
    assert new_id not in (data.id, made.id) and swapped.extra["replaced_volume_id"] == data.id
    assert attachment(ec2, new_id) == (web.id, "/dev/sdf")
    restored = ec2.get_volume(new_id)
    assert (restored.extra["snapshot_id"], restored.size, restored.extra["availability_zone"]) \
        == (point.id, 2, zone)
    assert restored.name == "web-data"  # the old volume's Name came along
    old = ec2.get_volume(data.id)  # kept, detached, tagged with what replaced it
    assert old.size == 3 and old.extra["instance_id"] is None
    assert old.extra["tags"][REPLACED_TAG] == new_id
    assert TARGET_ID_TAG not in old.extra["tags"]
    devices = {m["device_name"]: m["volume_id"]
               for m in ec2.get_node(web.id).extra["block_device_mapping"]}
    assert devices["/dev/sdf"] == new_id and data.id not in devices.values()

    # The target followed its data: same id, the new volume, the same points.
    now = call(mode, ebs, "get_target", target.id)
    assert (now.id, now.name, now.address, now.extra["role"]) == (
        target.id, target.name, new_id, "data")
    assert swapped.target == now and swapped.target.address == new_id
    assert [p.id for p in call(mode, ebs, "list_recovery_points", now)] == [point.id]
    assert call(mode, ebs, "ex_get_target_by_volume_id", new_id) == now
    with pytest.raises(BackupTargetNotFound):
        call(mode, ebs, "ex_get_target_by_volume_id", data.id)
    with pytest.raises(InvalidInput):
        call(mode, ebs, "recover_target", now, point, "/var/lib")

    # A second backup of the target snapshots the volume it is on now.
    second = call(mode, ebs, "create_target_job", now)
    assert second.extra["volume_id"] == new_id
    assert len(call(mode, ebs, "list_recovery_points", now)) == 2

    # Deleting the target leaves the volume and its snapshots.
    assert call(mode, ebs, "delete_target", now) is True
    assert ec2.get_volume(new_id).extra["snapshot_id"] == point.id
    assert {s.id for s in ec2.list_volume_snapshots(data)} == {point.id}
    with pytest.raises(BackupTargetNotFound):
        call(mode, ebs, "get_target", target.id)


def test_restored_onto_another_target_takes_its_place(
        mode: str, subject: EBSSubject, ec2: EC2NodeDriver) -> None:
    ebs = subject.driver
    source = call(mode, ebs, "create_target", "source", subject.address())
    other = node(ec2, "other")
    location = next(z for z in ec2.list_locations() if z.id == other.extra["availability_zone"])
    theirs = ec2.create_volume(5, "theirs", location)
    assert ec2.attach_volume(other, theirs, "/dev/sdh")
    scratch = call(mode, ebs, "create_target", "scratch", theirs.id)
    call(mode, ebs, "create_target_job", source)
    [point] = call(mode, ebs, "list_recovery_points", source)
    job = call(mode, ebs, "recover_target_out_of_place", source, point, scratch)
    assert job.target.id == scratch.id and job.target.address != theirs.id
    assert attachment(ec2, job.target.address) == (other.id, "/dev/sdh")
    assert ec2.get_volume(job.target.address).size == 1  # the source's size
    assert ec2.get_volume(theirs.id).extra["tags"][REPLACED_TAG] == job.target.address
    assert call(mode, ebs, "get_target", source.id).address == source.address  # untouched
