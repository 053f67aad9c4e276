"""The EBS backup driver on the scripted transport, both modes: recovery points
past page one and the repeated-token guard (moto does not page snapshots),
invalid input refused with nothing sent, a lost create answer found by its
token rather than made twice, the in-place swap's requests in order, waits
polled with the pauses asked for, and the old volume attached back when the
new one cannot be."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest

from overcast.backup import BackupTargetJobStatusType
from overcast.backup import BackupTargetType
from overcast.backup import Provider
from overcast.backup import get_driver
from overcast.backup.base import BackupTarget
from overcast.backup.base import BackupTargetRecoveryPoint
from overcast.backup.drivers.ebs import REPLACED_TAG
from overcast.backup.drivers.ebs import RESTORED_TAG
from overcast.backup.drivers.ebs import TARGET_ID_TAG
from overcast.backup.drivers.ebs import TARGET_TAG
from overcast.backup.drivers.ebs import EBSBackupDriver
from overcast.compute.drivers.ec2 import TOKEN_TAG
from overcast.errors import AlreadyExists
from overcast.errors import BackupTargetNotFound
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import RecoveryPointNotFound
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import Sent
from overcast.testing import call
from servers.pauses import record_pauses

API = "https://ec2.eu-west-1.amazonaws.com/"
VERSION = ("Version", "2016-11-15")
OWNER = ("Owner.1", "self")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The request token every create of the test carries."""
    monkeypatch.setattr("overcast.backup.drivers.ebs.request_token", lambda: "tok-1")
    return "tok-1"


def driver(script: Script, **options: Any) -> EBSBackupDriver:
    options.setdefault("poll_interval", 0.01)
    return EBSBackupDriver("AKIDUNIT", "unit-secret", "eu-west-1", page_size=2, **options,
                           **script.options())


def answer(action: str, inner: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><{action}Response '
            f'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>'
            f"{inner}</{action}Response>")


def tag_set(tags: dict[str, str]) -> str:
    inner = "".join(f"<item><key>{k}</key><value>{v}</value></item>" for k, v in tags.items())
    return f"<tagSet>{inner}</tagSet>"


def volume(volume_id: str, state: str = "available", *, instance: str | None = None,
           device: str = "/dev/sdf", attached: str = "attached", snapshot: str = "",
           **tags: str) -> str:
    attachment = "" if instance is None else (
        f"<attachmentSet><item><volumeId>{volume_id}</volumeId><instanceId>{instance}"
        f"</instanceId><device>{device}</device><status>{attached}</status></item>"
        "</attachmentSet>")
    return (f"<volumeId>{volume_id}</volumeId><size>8</size><snapshotId>{snapshot}</snapshotId>"
            f"<availabilityZone>eu-west-1a</availabilityZone><status>{state}</status>"
            f"<volumeType>gp3</volumeType>{attachment}{tag_set(tags)}")


def volumes(*bodies: str, next_token: str | None = None) -> str:
    items = "".join(f"<item>{body}</item>" for body in bodies)
    more = "" if next_token is None else f"<nextToken>{next_token}</nextToken>"
    return answer("DescribeVolumes", f"<volumeSet>{items}</volumeSet>{more}")


def snapshot(snapshot_id: str, day: int, state: str = "completed", target: str = "vol-1") -> str:
    return (f"<item><snapshotId>{snapshot_id}</snapshotId><volumeId>{target}</volumeId>"
            f"<status>{state}</status><startTime>2026-01-{day:02d}T10:00:00.000Z</startTime>"
            f"<progress>{'100%' if state == 'completed' else '40%'}</progress>"
            f"<volumeSize>8</volumeSize>{tag_set({TARGET_ID_TAG: target})}</item>")


def snapshots(*items: str, next_token: str | None = None) -> str:
    more = "" if next_token is None else f"<nextToken>{next_token}</nextToken>"
    return answer("DescribeSnapshots", f"<snapshotSet>{''.join(items)}</snapshotSet>{more}")


def target_tags(name: str = "www", target_id: str = "vol-1") -> dict[str, str]:
    return {TARGET_TAG: name, TARGET_ID_TAG: target_id}


def form(action: str, **wanted: str) -> Callable[[Sent], bool]:
    """A POST body for ``action`` holding (at least) ``wanted``."""

    def check(sent: Sent) -> bool:
        body = dict(parse_qsl(sent.text))
        return body.get("Action") == action and all(body.get(k) == v for k, v in wanted.items())

    return check


def changed(script: Script, action: str, **wanted: str) -> None:
    """Expect a change ``action`` (holding ``wanted``), answered with success."""
    script.expect("POST", API, match=form(action, **wanted)).reply(
        200, text=answer(action, "<return>true</return>"))


def posted(script: Script) -> list[dict[str, str]]:
    return [dict(parse_qsl(sent.text)) for sent in script.received if sent.method == "POST"]


def by_target(target_id: str = "vol-1") -> list[tuple[str, str]]:
    """``DescribeVolumes`` of the volume a target is on (by its id tag)."""
    return [("Action", "DescribeVolumes"), VERSION, ("MaxResults", "2"),
            ("Filter.1.Name", f"tag:{TARGET_ID_TAG}"), ("Filter.1.Value.1", target_id)]


def by_id(volume_id: str) -> list[tuple[str, str]]:
    return [("Action", "DescribeVolumes"), VERSION, ("VolumeId.1", volume_id)]


def points_query(*more: tuple[str, str]) -> list[tuple[str, str]]:
    return [("Action", "DescribeSnapshots"), VERSION, OWNER, ("MaxResults", "2"),
            ("Filter.1.Name", f"tag:{TARGET_ID_TAG}"), ("Filter.1.Value.1", "vol-1"),
            ("Filter.2.Name", "status"), ("Filter.2.Value.1", "completed"), *more]


TARGET = BackupTarget("vol-1", "www", "vol-1", BackupTargetType.VOLUME)


def point(snapshot_id: str = "snap-1", target: BackupTarget = TARGET) -> BackupTargetRecoveryPoint:
    return BackupTargetRecoveryPoint(snapshot_id, datetime(2026, 1, 1, tzinfo=UTC), target)


# -- registry and constructor --------------------------------------------------------------


def test_provider_ebs_is_the_driver_and_takes_libcloud_positions() -> None:
    assert get_driver(Provider.EBS) is EBSBackupDriver
    made = EBSBackupDriver("AKID", "secret", "eu-west-1")
    assert (made.region, made.endpoint) == ("eu-west-1", "https://ec2.eu-west-1.amazonaws.com")
    assert "secret" not in repr(made)
    assert EBSBackupDriver(access_id="AKID", secret="s").region == "us-east-1"
    with pytest.raises(InvalidInput):
        EBSBackupDriver("AKID", "s", access_id="AKID2")
    with pytest.raises(InvalidInput):
        EBSBackupDriver("AKID", "s", "not a region")
    with pytest.raises(InvalidInput):
        EBSBackupDriver("AKID", "s", poll_interval=0)


# -- recovery points -----------------------------------------------------------------------


def test_recovery_points_are_read_past_page_one_within_the_dates(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=points_query()).reply(
        200, text=snapshots(snapshot("snap-3", 3), snapshot("snap-1", 1), next_token="p2"))
    script.expect("GET", API, params=points_query(("NextToken", "p2"))).reply(
        200, text=snapshots(snapshot("snap-2", 2), snapshot("snap-9", 9), next_token="p3"))
    script.expect("GET", API, params=points_query(("NextToken", "p3"))).reply(
        200, text=snapshots(snapshot("snap-4", 4)))
    found = call(mode, driver(script), "list_recovery_points", TARGET,
                 datetime(2026, 1, 2), datetime(2026, 1, 4, 23, tzinfo=UTC))
    assert [p.id for p in found] == ["snap-2", "snap-3", "snap-4"]
    assert found[0].date == datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert found[0].target is TARGET
    assert found[0].extra["snapshot-id"] == "snap-2" and found[0].extra["size"] == 8
    script.assert_done()


def test_a_next_token_sent_twice_is_an_error_not_a_loop(mode: str) -> None:
    script = Script()
    page = snapshots(snapshot("snap-1", 1), next_token="again")
    script.expect("GET", API, params=points_query()).reply(200, text=page)
    script.expect("GET", API, params=points_query(("NextToken", "again"))).reply(200, text=page)
    with pytest.raises(ProviderError, match="sent the token 'again' a second time"):
        call(mode, driver(script), "list_recovery_points", TARGET)
    script.assert_done()


def test_jobs_are_the_snapshots_taken_in_any_state(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=[
        ("Action", "DescribeSnapshots"), VERSION, OWNER, ("MaxResults", "2"),
        ("Filter.1.Name", f"tag:{TARGET_ID_TAG}"), ("Filter.1.Value.1", "vol-1")]).reply(
        200, text=snapshots(snapshot("snap-1", 1), snapshot("snap-2", 2, "pending")))
    jobs = call(mode, driver(script), "list_target_jobs", TARGET)
    assert [(j.id, j.status, j.progress) for j in jobs] == [
        ("snap-1", BackupTargetJobStatusType.COMPLETED, 100),
        ("snap-2", BackupTargetJobStatusType.RUNNING, 40)]
    with pytest.raises(NotSupported):
        call(mode, driver(script), "cancel_target_job", jobs[1])
    script.assert_done()


# -- invalid input -------------------------------------------------------------------------


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    ebs = driver(script)
    other = BackupTarget("vol-2", "db", "vol-2", BackupTargetType.VOLUME)
    refused: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("create_target", ("www", "/srv/www"), {}),
        ("create_target", ("www", "vol-1", BackupTargetType.FILESYSTEM), {}),
        ("create_target", ("", "vol-1"), {}),
        ("create_target", ("www", "vol-1", BackupTargetType.VOLUME, {"owner": 3}), {}),
        ("create_target", ("www", "vol-1", BackupTargetType.VOLUME, {"size": "1"}), {}),
        ("update_target", (TARGET, None, "vol-9"), {}),
        ("list_recovery_points", (TARGET, datetime(2026, 2, 1, tzinfo=UTC),
                                  datetime(2026, 1, 1)), {}),
        ("recover_target", (TARGET, point(), "/etc"), {}),
        ("recover_target", (other, point()), {}),
        ("recover_target_out_of_place", (other, point(), TARGET), {}),
        ("recover_target_out_of_place", (TARGET, point(), "vol-2"), {}),
        ("recover_target_out_of_place", (TARGET, point(), other), {"ex_device": "/dev/sdg"}),
        ("create_target_job", (TARGET, {"retention": "7d"}), {}),
    ]
    for name, args, kwargs in refused:
        with pytest.raises(InvalidInput):
            call(mode, ebs, name, *args, **kwargs)
    with pytest.raises(BackupTargetNotFound):
        call(mode, ebs, "get_target", "no such id!")
    assert script.received == []


# -- targets -------------------------------------------------------------------------------


def test_a_target_is_made_by_tagging_its_volume(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=by_id("vol-1")).reply(
        200, text=volumes(volume("vol-1", "in-use", instance="i-1", Name="data")))
    script.expect("POST", API, match=form(
        "CreateTags", **{"ResourceId.1": "vol-1", "Tag.1.Key": TARGET_TAG, "Tag.1.Value": "www",
                         "Tag.2.Key": TARGET_ID_TAG, "Tag.2.Value": "vol-1",
                         "Tag.3.Key": "overcast:backup-extra:owner", "Tag.3.Value": "web"}),
    ).reply(200, text=answer("CreateTags", "<return>true</return>"))
    made = call(mode, driver(script), "create_target", "www", "vol-1",
                BackupTargetType.VOLUME, {"owner": "web"})
    assert (made.id, made.name, made.address, made.type) == (
        "vol-1", "www", "vol-1", BackupTargetType.VOLUME)
    assert made.extra["owner"] == "web" and made.extra["instance_id"] == "i-1"
    assert made.extra["volume-id"] == "vol-1" and made.extra["device"] == "/dev/sdf"
    script.expect("GET", API, params=by_id("vol-1")).reply(
        200, text=volumes(volume("vol-1", **target_tags())))
    with pytest.raises(AlreadyExists):
        call(mode, driver(script), "create_target", "again", "vol-1")
    script.assert_done()


def test_a_missing_volume_is_invalid_input_and_nothing_is_changed(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=by_id("vol-404")).reply(400, text=(
        "<Response><Errors><Error><Code>InvalidVolume.NotFound</Code><Message>no</Message>"
        "</Error></Errors><RequestID>r</RequestID></Response>"))
    with pytest.raises(InvalidInput, match="no volume vol-404"):
        call(mode, driver(script), "create_target", "www", "vol-404")
    assert [sent.method for sent in script.received] == ["GET"]


def test_targets_are_listed_by_tag_past_page_one_skipping_replaced_volumes(mode: str) -> None:
    script = Script()
    query = [("Action", "DescribeVolumes"), VERSION, ("MaxResults", "2"),
             ("Filter.1.Name", "tag-key"), ("Filter.1.Value.1", TARGET_ID_TAG)]
    script.expect("GET", API, params=query).reply(200, text=volumes(
        volume("vol-1", **target_tags()),
        volume("vol-0", **{**target_tags(), REPLACED_TAG: "vol-1"}), next_token="t2"))
    script.expect("GET", API, params=[*query, ("NextToken", "t2")]).reply(
        200, text=volumes(volume("vol-2", **target_tags("db", "vol-2"))))
    assert [(t.id, t.name) for t in call(mode, driver(script), "list_targets")] == [
        ("vol-1", "www"), ("vol-2", "db")]
    script.assert_done()


def test_deleting_a_target_removes_its_tags_only(mode: str) -> None:
    script = Script()
    script.expect("GET", API, params=by_target()).reply(200, text=volumes(volume(
        "vol-1", Name="data", **target_tags(), **{"overcast:backup-extra:owner": "web"})))
    script.expect("POST", API, match=form(
        "DeleteTags", **{"ResourceId.1": "vol-1", "Tag.1.Key": TARGET_TAG,
                         "Tag.2.Key": TARGET_ID_TAG, "Tag.3.Key": "overcast:backup-extra:owner"}),
    ).reply(200, text=answer("DeleteTags", "<return>true</return>"))
    assert call(mode, driver(script), "delete_target", TARGET) is True
    assert [body["Action"] for body in posted(script)] == ["DeleteTags"]
    assert "Tag.4.Key" not in posted(script)[0]
    script.assert_done()


# -- jobs ----------------------------------------------------------------------------------


def test_a_lost_snapshot_answer_is_found_by_its_token_not_taken_twice(mode: str,
                                                                       token: str) -> None:
    script = Script()
    script.expect("GET", API, params=by_target()).reply(
        200, text=volumes(volume("vol-1", **target_tags())))
    script.expect("POST", API, match=form(
        "CreateSnapshot", VolumeId="vol-1", **{"TagSpecification.1.Tag.1.Value": "vol-1",
                                               "TagSpecification.1.Tag.2.Key": TOKEN_TAG,
                                               "TagSpecification.1.Tag.2.Value": token}),
    ).fail(sent=True)
    script.expect("GET", API, params=[
        ("Action", "DescribeSnapshots"), VERSION, OWNER, ("MaxResults", "2"),
        ("Filter.1.Name", f"tag:{TOKEN_TAG}"), ("Filter.1.Value.1", token)]).reply(
        200, text=snapshots(snapshot("snap-7", 5, "pending")))
    job = call(mode, driver(script), "create_target_job", TARGET)
    assert (job.id, job.status) == ("snap-7", BackupTargetJobStatusType.RUNNING)
    assert [body["Action"] for body in posted(script)] == ["CreateSnapshot"]
    script.assert_done()


# -- restores ------------------------------------------------------------------------------


def test_in_place_swaps_the_volume_at_its_device_and_keeps_the_old_one(
        mode: str, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    paused = record_pauses(monkeypatch)
    script = Script()
    old = dict(Name="data", **target_tags())
    script.expect("GET", API, params=by_target()).reply(
        200, text=volumes(volume("vol-1", "in-use", instance="i-1", device="/dev/sdf", **old)))
    script.expect("POST", API, match=form(
        "CreateVolume", SnapshotId="snap-1", AvailabilityZone="eu-west-1a", VolumeType="gp3",
        ClientToken=token)).reply(200, text=answer(
            "CreateVolume", volume("vol-new", "creating", snapshot="snap-1")))
    script.expect("GET", API, params=by_id("vol-new")).reply(
        200, text=volumes(volume("vol-new", "creating", snapshot="snap-1")))
    script.expect("GET", API, params=by_id("vol-new")).reply(
        200, text=volumes(volume("vol-new", snapshot="snap-1")))
    changed(script, "DetachVolume", VolumeId="vol-1", InstanceId="i-1")
    script.expect("GET", API, params=by_id("vol-1")).reply(
        200, text=volumes(volume("vol-1", **old)))
    changed(script, "AttachVolume", VolumeId="vol-new", InstanceId="i-1",
                                          Device="/dev/sdf")
    script.expect("GET", API, params=by_id("vol-new")).reply(200, text=volumes(volume(
        "vol-new", "in-use", instance="i-1", attached="attaching", snapshot="snap-1")))
    script.expect("GET", API, params=by_id("vol-new")).reply(200, text=volumes(volume(
        "vol-new", "in-use", instance="i-1", snapshot="snap-1")))
    changed(script, "CreateTags", **{
        "ResourceId.1": "vol-1", "Tag.1.Key": REPLACED_TAG, "Tag.1.Value": "vol-new"})
    changed(script, "CreateTags", **{
        "ResourceId.1": "vol-new", "Tag.1.Key": TARGET_TAG, "Tag.2.Key": TARGET_ID_TAG,
        "Tag.2.Value": "vol-1"})
    changed(script, "DeleteTags", **{
        "ResourceId.1": "vol-1", "Tag.1.Key": TARGET_TAG, "Tag.2.Key": TARGET_ID_TAG})
    job = call(mode, driver(script), "recover_target", TARGET, point())
    assert (job.id, job.status, job.target.id, job.target.address) == (
        "vol-new", BackupTargetJobStatusType.COMPLETED, "vol-1", "vol-new")
    assert job.extra["replaced_volume_id"] == "vol-1" and job.extra["device"] == "/dev/sdf"
    create = posted(script)[0]
    assert create["TagSpecification.1.Tag.2.Key"] == RESTORED_TAG
    assert "Size" not in create  # the snapshot's size
    assert paused.count(0.01) == 2  # one pause while creating, one while attaching
    script.assert_done()


def test_a_failed_attach_puts_the_old_volume_back(mode: str, token: str) -> None:
    script = Script()
    script.expect("GET", API, params=by_target()).reply(200, text=volumes(
        volume("vol-1", "in-use", instance="i-1", device="/dev/sda1", **target_tags())))
    script.expect("POST", API, match=form("CreateVolume")).reply(
        200, text=answer("CreateVolume", volume("vol-new", snapshot="snap-1")))
    script.expect("GET", API, params=by_id("vol-new")).reply(
        200, text=volumes(volume("vol-new", snapshot="snap-1")))
    changed(script, "DetachVolume", VolumeId="vol-1")
    script.expect("GET", API, params=by_id("vol-1")).reply(200, text=volumes(volume("vol-1")))
    script.expect("POST", API, match=form("AttachVolume", VolumeId="vol-new")).reply(
        400, text=("<Response><Errors><Error><Code>IncorrectState</Code><Message>busy"
                   "</Message></Error></Errors><RequestID>r</RequestID></Response>"))
    changed(script, "AttachVolume", VolumeId="vol-1", InstanceId="i-1",
                                          Device="/dev/sda1")
    script.expect("GET", API, params=by_id("vol-1")).reply(200, text=volumes(
        volume("vol-1", "in-use", instance="i-1", device="/dev/sda1")))
    with pytest.raises(ProviderError, match="busy") as failed:
        call(mode, driver(script), "recover_target", TARGET, point())
    assert failed.value.code == "IncorrectState"
    assert [body["Action"] for body in posted(script)] == [
        "CreateVolume", "DetachVolume", "AttachVolume", "AttachVolume"]
    script.assert_done()


def test_a_lost_create_volume_answer_makes_one_volume(mode: str, token: str) -> None:
    script = Script()
    script.expect("GET", API, params=by_target()).reply(
        200, text=volumes(volume("vol-1", **target_tags())))
    script.expect("POST", API, match=form("CreateVolume", ClientToken=token)).fail(sent=True)
    script.expect("GET", API, params=[
        ("Action", "DescribeVolumes"), VERSION, ("MaxResults", "2"),
        ("Filter.1.Name", f"tag:{TOKEN_TAG}"), ("Filter.1.Value.1", token)]).reply(
        200, text=volumes(volume("vol-new", snapshot="snap-1")))
    script.expect("GET", API, params=by_id("vol-new")).reply(
        200, text=volumes(volume("vol-new", snapshot="snap-1")))
    for tagging in ("CreateTags", "CreateTags", "DeleteTags"):
        changed(script, tagging)
    job = call(mode, driver(script), "recover_target", TARGET, point())
    assert job.id == "vol-new" and job.extra["replaced_volume_id"] == "vol-1"
    assert [body["Action"] for body in posted(script)].count("CreateVolume") == 1
    script.assert_done()


def test_a_gone_snapshot_is_recovery_point_not_found(mode: str, token: str) -> None:
    script = Script()
    script.expect("GET", API, params=by_target()).reply(
        200, text=volumes(volume("vol-1", **target_tags())))
    script.expect("POST", API, match=form("CreateVolume")).reply(400, text=(
        "<Response><Errors><Error><Code>InvalidSnapshot.NotFound</Code><Message>gone</Message>"
        "</Error></Errors><RequestID>r</RequestID></Response>"))
    with pytest.raises(RecoveryPointNotFound):
        call(mode, driver(script), "recover_target", TARGET, point())
    script.assert_done()


def test_out_of_place_beside_attaches_to_the_node_at_a_free_device(mode: str,
                                                                    token: str) -> None:
    script = Script()
    node = BackupTarget("i-2", "other", "i-2", BackupTargetType.VIRTUAL)  # has an id
    script.expect("GET", API, params=[("Action", "DescribeInstances"), VERSION,
                                      ("InstanceId.1", "i-2")]).reply(200, text=answer(
        "DescribeInstances",
        "<reservationSet><item><instancesSet><item><instanceId>i-2</instanceId>"
        "<placement><availabilityZone>eu-west-1b</availabilityZone></placement>"
        "<rootDeviceName>/dev/sda1</rootDeviceName><blockDeviceMapping>"
        "<item><deviceName>/dev/sda1</deviceName><ebs><volumeId>vol-r</volumeId></ebs></item>"
        "<item><deviceName>/dev/sdf</deviceName><ebs><volumeId>vol-f</volumeId></ebs></item>"
        "</blockDeviceMapping></item></instancesSet></item></reservationSet>"))
    script.expect("POST", API, match=form("CreateVolume", AvailabilityZone="eu-west-1b")).reply(
        200, text=answer("CreateVolume", volume("vol-new", snapshot="snap-1")))
    script.expect("GET", API, params=by_id("vol-new")).reply(
        200, text=volumes(volume("vol-new", snapshot="snap-1")))
    changed(script, "AttachVolume", VolumeId="vol-new", InstanceId="i-2",
                                          Device="/dev/sdg")
    script.expect("GET", API, params=by_id("vol-new")).reply(200, text=volumes(volume(
        "vol-new", "in-use", instance="i-2", device="/dev/sdg", snapshot="snap-1")))
    job = call(mode, driver(script), "recover_target_out_of_place", TARGET, point(), TARGET,
               ex_node=node)
    assert (job.target.id, job.extra["instance_id"], job.extra["device"]) == (
        "vol-1", "i-2", "/dev/sdg")
    assert job.extra["replaced_volume_id"] is None
    script.assert_done()


def test_a_volume_that_never_becomes_available_times_out(mode: str, token: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    paused = record_pauses(monkeypatch)
    script = Script()
    script.expect("GET", API, params=by_target()).reply(
        200, text=volumes(volume("vol-1", **target_tags())))
    script.expect("POST", API, match=form("CreateVolume")).reply(
        200, text=answer("CreateVolume", volume("vol-new", "creating")))
    for _ in range(4):
        script.expect("GET", API, params=by_id("vol-new")).reply(
            200, text=volumes(volume("vol-new", "creating")))
    with pytest.raises(OperationTimeout, match=r"vol-new was not available within 0\.03s"):
        call(mode, driver(script, wait_timeout=0.03), "recover_target", TARGET, point())
    assert paused.count(0.01) == 3
    script.assert_done()
