"""EBS snapshots as a backup provider for the tests: the EBS backup driver on
this process's moto server (:mod:`servers.moto_server`), in a region of its
own (``eu-north-1``), with one instance whose volumes are the targets.

moto keeps no disk contents, so what a volume "holds" is what moto does keep:
its size, its availability zone and its *origin* (the volume its data first
came from: itself for a blank volume, else the origin of the volume of the
snapshot it was made from). ``change`` grows a volume (``ModifyVolume``);
``state`` reads those three through boto3, apart from the driver. ``runs``
counts the changes the driver sent (every change is a ``POST``; reads are
``GET``s), so a test can see that invalid input changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import boto3
import pytest

from overcast.backup import BackupTargetType
from overcast.backup.drivers.ebs import TARGET_ID_TAG
from overcast.backup.drivers.ebs import EBSBackupDriver
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from servers.moto_server import moto_server

__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY", "EBSSubject", "make_subject", "origin"]

ACCESS_KEY = "AKIDOVERCASTEBSTEST"
SECRET_KEY = "overcast-ebs-moto-secret-do-not-log"
#: The backup tests' own region (the compute tests use us-east-1).
REGION = "eu-north-1"
IMAGE_ID = "ami-785db401"
_DEVICES = [f"/dev/sd{c}" for c in "fghijklmnop"]


def ec2_client(endpoint: str, region: str = REGION) -> Any:
    """A boto3 EC2 client on moto: the tests' own view, apart from the driver."""
    return boto3.client("ec2", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def origin(client: Any, volume_id: str) -> str:
    """The volume whose data ``volume_id`` holds (following snapshots back)."""
    volume = client.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    if not volume.get("SnapshotId"):
        return volume_id
    snapshot = client.describe_snapshots(SnapshotIds=[volume["SnapshotId"]])["Snapshots"][0]
    return origin(client, snapshot["VolumeId"])


def forget_targets(client: Any) -> None:
    """Untag every target an earlier test of this process left in the region."""
    pages = client.get_paginator("describe_volumes").paginate(
        Filters=[{"Name": "tag-key", "Values": [TARGET_ID_TAG]}])
    for page in pages:
        for volume in page["Volumes"]:
            keys = [{"Key": t["Key"]} for t in volume.get("Tags", [])
                    if t["Key"].startswith("overcast:")]
            client.delete_tags(Resources=[volume["VolumeId"]], Tags=keys)


@dataclass
class EBSSubject:
    """The EBS driver on moto, with an instance whose volumes are backed up."""

    driver: EBSBackupDriver
    client: Any
    instance_id: str
    zone: str
    requests: list[RequestEvent]
    target_type: BackupTargetType = BackupTargetType.VOLUME
    made: list[str] = field(default_factory=list)

    def address(self) -> str:
        """A new 1 GiB volume, attached to the subject's instance."""
        volume = self.client.create_volume(Size=1, AvailabilityZone=self.zone)["VolumeId"]
        self.client.attach_volume(VolumeId=volume, InstanceId=self.instance_id,
                                  Device=_DEVICES[len(self.made)])
        self.made.append(volume)
        return str(volume)

    def destination(self) -> str:
        """Another such volume, to restore onto."""
        return self.address()

    def relative_address(self) -> str:
        return "relative/path"

    def missing_address(self) -> str:
        return "vol-0123456789abcdef0"

    def change(self, address: str) -> None:
        """Grow the volume by 1 GiB (what moto keeps changes)."""
        size = self.client.describe_volumes(VolumeIds=[address])["Volumes"][0]["Size"]
        self.client.modify_volume(VolumeId=address, Size=size + 1)

    def state(self, address: str) -> Any:
        volume = self.client.describe_volumes(VolumeIds=[address])["Volumes"][0]
        return origin(self.client, address), volume["Size"], volume["AvailabilityZone"]

    def runs(self) -> int:
        """How many changes (POSTs) the driver has sent."""
        return sum(1 for event in self.requests if event.method == "POST")


def make_subject(tmp_path: Path, request: pytest.FixtureRequest | None = None,
                 **options: Any) -> EBSSubject:
    """A subject on this process's moto server (``request``: pytest's, for its cleanup)."""
    if request is None:
        pytest.fail("the EBS subject needs pytest's request to start moto")
    server = moto_server(request)
    client = ec2_client(server.url)
    forget_targets(client)
    instance = client.run_instances(ImageId=IMAGE_ID, MinCount=1, MaxCount=1,
                                    InstanceType="t2.micro")["Instances"][0]
    requests: list[RequestEvent] = []
    options.setdefault("timeout", 60)
    driver = EBSBackupDriver(ACCESS_KEY, SECRET_KEY, REGION, endpoint=server.url,
                             poll_interval=0.05, wait_timeout=30,
                             hooks=Hooks(on_request=[requests.append]), **options)
    return EBSSubject(driver, client, instance["InstanceId"],
                      instance["Placement"]["AvailabilityZone"], requests)
