"""The OpenStack (Cinder) backup driver on the scripted transport: the requests
it sends, how it reads Cinder's answers and faults, the paging guard, a lost
create found again, and invalid input refused with nothing sent; both modes."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from overcast.auth.keystone import EndpointNotFound
from overcast.backup.base import BackupTarget
from overcast.backup.base import BackupTargetJobStatusType
from overcast.backup.base import BackupTargetRecoveryPoint
from overcast.backup.base import BackupTargetType
from overcast.backup.drivers.openstack import OpenStackBackupDriver
from overcast.compute.base import Node
from overcast.compute.base import NodeState
from overcast.errors import AlreadyExists
from overcast.errors import BackupJobNotFound
from overcast.errors import BackupTargetNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import RecoveryPointNotFound
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call
from servers.pauses import record_pauses

AUTH = "https://keystone.example/v3"
CINDER = "https://cinder.example/v3/p1"
NOVA = "https://nova.example/v2.1"
VOLUME = "0b9a3c52-3c1e-4a8e-9a55-3f7b1f1c0001"
OTHER = "0b9a3c52-3c1e-4a8e-9a55-3f7b1f1c0002"
HEADERS = {"X-Auth-Token": "tok-1", "OpenStack-API-Version": "volume 3.43"}
MARKED = {"overcast-backup": "target", "overcast-backup-name": "www",
          "overcast-backup-type": "volume", "overcast-backup-extra": '{"owner":"web"}'}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def keystone(script: Script, *, compute: bool = True) -> None:
    services = [("block-storage", CINDER)] + ([("compute", NOVA)] if compute else [])
    catalog = [{"type": kind, "name": kind, "endpoints": [
        {"interface": "public", "region_id": "RegionOne", "url": url}]} for kind, url in services]
    body = {"token": {"expires_at": "2099-01-01T00:00:00Z", "issued_at": "2026-01-01T00:00:00Z",
                      "project": {"id": "p1", "name": "demo"}, "catalog": catalog}}
    script.expect("POST", f"{AUTH}/auth/tokens").reply(
        201, json=body, headers={"X-Subject-Token": "tok-1"})


def driver(script: Script, **options: Any) -> OpenStackBackupDriver:
    options = {"auth_url": AUTH, "page_size": 2, "poll_interval": 0.001, **options}
    return OpenStackBackupDriver("demo", "pw-secret-1", project="demo", region="RegionOne",
                                 **options, **script.options())


def target(volume_id: str = VOLUME) -> BackupTarget:
    return BackupTarget(volume_id, "www", volume_id, BackupTargetType.VOLUME)


def point(owner: BackupTarget, backup_id: str = "b-1") -> BackupTargetRecoveryPoint:
    return BackupTargetRecoveryPoint(backup_id, datetime(2026, 1, 1, tzinfo=UTC), owner)


def backup(backup_id: str, status: str = "available", created: str = "2026-01-01T00:00:00.000000",
           **more: Any) -> dict[str, Any]:
    return {"id": backup_id, "status": status, "volume_id": VOLUME, "size": 1,
            "created_at": created, "is_incremental": False, **more}


def fault(status: int, kind: str, message: str) -> dict[str, Any]:
    return {kind: {"code": status, "message": message}}


def test_targets_are_volumes_marked_in_their_metadata(mode: str) -> None:
    script = Script()
    keystone(script)
    script.expect("GET", f"{CINDER}/volumes/{VOLUME}", headers=HEADERS).reply(
        200, json={"volume": {"id": VOLUME, "name": "data", "size": 10, "status": "available",
                              "metadata": {"other": "kept"}}})
    script.expect("POST", f"{CINDER}/volumes/{VOLUME}/metadata", json={"metadata": MARKED}
                  ).reply(200, json={"metadata": {"other": "kept", **MARKED}})
    made = call(mode, driver(script), "create_target", "www", VOLUME, BackupTargetType.VOLUME,
                {"owner": "web"})
    assert (made.id, made.name, made.address, made.type) == (
        VOLUME, "www", VOLUME, BackupTargetType.VOLUME)
    assert made.extra["owner"] == "web" and made.extra["size"] == 10
    script.assert_done()


def test_targets_are_listed_by_metadata_past_page_one(mode: str) -> None:
    script = Script()
    keystone(script)
    query = [("metadata", '{"overcast-backup": "target"}'), ("limit", "2")]
    volumes = [{"id": OTHER, "name": "a", "metadata": MARKED},
               {"id": VOLUME, "name": "b", "metadata": {}}]  # the server ignored the filter
    script.expect("GET", f"{CINDER}/volumes/detail", params=query).reply(200, json={
        "volumes": volumes, "volumes_links": [
            {"rel": "next", "href": f"http://cinder.internal/volumes/detail?marker={VOLUME}"}]})
    script.expect("GET", f"{CINDER}/volumes/detail", params=[*query, ("marker", VOLUME)]).reply(
        200, json={"volumes": [{"id": VOLUME[:-1] + "3", "name": "c", "metadata": MARKED}]})
    listed = call(mode, driver(script), "list_targets")
    assert [t.id for t in listed] == [OTHER, VOLUME[:-1] + "3"]
    script.assert_done()


def test_a_repeated_marker_is_a_provider_error(mode: str) -> None:
    script = Script()
    keystone(script)
    link = [{"rel": "next", "href": "http://cinder.internal/backups/detail?marker=b-2"}]
    query = [("volume_id", VOLUME), ("sort", "created_at:asc"), ("limit", "2")]
    script.expect("GET", f"{CINDER}/backups/detail", params=query).reply(
        200, json={"backups": [backup("b-1"), backup("b-2")], "backups_links": link})
    script.expect("GET", f"{CINDER}/backups/detail", params=[*query, ("marker", "b-2")]).reply(
        200, json={"backups": [backup("b-3"), backup("b-4")], "backups_links": link})
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver(script), "list_recovery_points", target())
    script.assert_done()


def test_recovery_points_are_available_backups_within_the_dates(mode: str) -> None:
    script = Script()
    keystone(script)
    query = [("volume_id", VOLUME), ("sort", "created_at:asc"), ("limit", "2")]
    script.expect("GET", f"{CINDER}/backups/detail", params=query).reply(200, json={"backups": [
        backup("b-1", created="2026-01-01T00:00:00.000000"),
        backup("b-2", status="creating", created="2026-01-02T00:00:00.000000"),
        backup("b-3", created="2026-01-03T00:00:00.000000"),
    ]})
    points = call(mode, driver(script), "list_recovery_points", target(),
                  datetime(2026, 1, 2))  # naive: UTC
    assert [p.id for p in points] == ["b-3"]
    assert points[0].date == datetime(2026, 1, 3, tzinfo=UTC)
    script.assert_done()


@pytest.mark.parametrize(("status", "answer", "error"), [
    (404, fault(404, "itemNotFound", "Backup b-9 could not be found."), RecoveryPointNotFound),
    (413, fault(413, "overLimit", "Rate limited"), RateLimited),
    (500, fault(500, "computeFault", "Something broke"), ProviderError),
])
def test_cinder_faults_are_mapped(mode: str, status: int, answer: dict[str, Any],
                                  error: type[Exception]) -> None:
    script = Script()
    keystone(script)
    script.expect("GET", f"{CINDER}/backups/b-9").reply(
        status, json=answer, headers={"X-Openstack-Request-Id": "req-42"})
    with pytest.raises(error) as caught:
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "get_recovery_point",
             target(), "b-9")
    if isinstance(caught.value, ProviderError):
        assert caught.value.request_id == "req-42"
        assert caught.value.code == "computeFault"


def test_an_in_use_volume_without_force_is_refused_by_cinder(mode: str,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setattr("overcast.backup.drivers.openstack.request_token", lambda: "tok-b")
    script = Script()
    keystone(script)
    script.expect("POST", f"{CINDER}/backups", json={"backup": {
        "volume_id": VOLUME, "name": "www", "incremental": False, "force": False,
        "metadata": {"overcast-token": "tok-b"}}}).reply(400, json=fault(
            400, "badRequest", "Invalid volume: Backing up an in-use volume must use the force "
                               "flag."))
    with pytest.raises(ProviderError, match="force flag") as caught:
        call(mode, driver(script), "create_target_job", target())
    assert caught.value.status == 400 and caught.value.code == "badRequest"
    script.assert_done()


def test_a_backup_ending_in_error_raises_with_cinders_reason(mode: str,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setattr("overcast.backup.drivers.openstack.request_token", lambda: "tok-b")
    script = Script()
    keystone(script)
    script.expect("POST", f"{CINDER}/backups", headers=HEADERS).reply(
        202, json={"backup": {"id": "b-1", "name": "www"}})
    script.expect("GET", f"{CINDER}/backups/b-1").reply(
        200, json={"backup": backup("b-1", status="creating")})
    script.expect("GET", f"{CINDER}/backups/b-1").reply(
        200, json={"backup": backup("b-1", status="error", fail_reason="swift is down")})
    with pytest.raises(ProviderError, match="swift is down") as caught:
        call(mode, driver(script), "create_target_job", target(), {"incremental": True})
    assert caught.value.code == "error"
    assert script.received[1].json()["backup"]["incremental"] is True
    script.assert_done()


def test_waiting_is_bounded_by_wait_timeout(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """wait_timeout 0.003 s at 0.001 s apart: three pauses, a look before the
    first and after each, then OperationTimeout naming the last status seen."""
    paused = record_pauses(monkeypatch)
    script = Script()
    keystone(script)
    script.expect("POST", f"{CINDER}/backups/b-1/restore").reply(
        202, json={"restore": {"backup_id": "b-1", "volume_id": VOLUME, "volume_name": "x"}})
    for _ in range(4):
        script.expect("GET", f"{CINDER}/volumes/{VOLUME}").reply(
            200, json={"volume": {"id": VOLUME, "status": "restoring-backup"}})
    owner = target()
    with pytest.raises(OperationTimeout, match="restoring-backup"):
        call(mode, driver(script, poll_interval=0.001, wait_timeout=0.003), "recover_target",
             owner, point(owner))
    assert paused.count(0.001) == 3
    script.assert_done()


def test_a_lost_backup_create_is_found_by_its_token_not_sent_again(
        mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("overcast.backup.drivers.openstack.request_token", lambda: "tok-b")
    script = Script()
    keystone(script)
    script.expect("POST", f"{CINDER}/backups").fail(sent=True)
    script.expect("GET", f"{CINDER}/backups/detail", params=[
        ("volume_id", VOLUME), ("sort", "created_at:asc"), ("limit", "2")]).reply(
        200, json={"backups": [backup("b-0", metadata={}),
                               backup("b-1", status="creating",
                                      metadata={"overcast-token": "tok-b"})]})
    script.expect("GET", f"{CINDER}/backups/b-1").reply(200, json={"backup": backup("b-1")})
    job = call(mode, driver(script), "create_target_job", target())
    assert (job.id, job.status, job.progress) == ("b-1", BackupTargetJobStatusType.COMPLETED, 100)
    script.assert_done()


def test_not_found_answers_name_what_was_missing(mode: str) -> None:
    script = Script()
    keystone(script)
    missing = fault(404, "itemNotFound", "not found")
    script.expect("GET", f"{CINDER}/volumes/{VOLUME}").reply(404, json=missing)
    script.expect("GET", f"{CINDER}/volumes/{OTHER}").reply(
        200, json={"volume": {"id": OTHER, "metadata": {}}})
    script.expect("GET", f"{CINDER}/backups/nope").reply(404, json=missing)
    script.expect("GET", f"{CINDER}/backups/b-7").reply(
        200, json={"backup": backup("b-7", volume_id=OTHER)})
    d = driver(script)
    with pytest.raises(BackupTargetNotFound):
        call(mode, d, "get_target", VOLUME)
    with pytest.raises(BackupTargetNotFound):  # a volume, but not a target
        call(mode, d, "get_target", OTHER)
    with pytest.raises(BackupJobNotFound):
        call(mode, d, "get_target_job", target(), "nope")
    with pytest.raises(BackupJobNotFound):  # another volume's backup
        call(mode, d, "get_target_job", target(), "b-7")
    script.assert_done()


def test_a_target_twice_and_a_missing_volume(mode: str) -> None:
    script = Script()
    keystone(script)
    script.expect("GET", f"{CINDER}/volumes/{VOLUME}").reply(
        200, json={"volume": {"id": VOLUME, "metadata": MARKED}})
    script.expect("GET", f"{CINDER}/volumes/{OTHER}").reply(
        404, json=fault(404, "itemNotFound", "Volume could not be found."))
    d = driver(script)
    with pytest.raises(AlreadyExists):
        call(mode, d, "create_target", "again", VOLUME, BackupTargetType.VOLUME)
    with pytest.raises(InvalidInput, match="no Cinder volume"):
        call(mode, d, "create_target", "gone", OTHER, BackupTargetType.VOLUME)
    assert all(sent.method == "GET" for sent in script.received[1:])
    script.assert_done()


def test_a_refused_token_twice_is_invalid_credentials(mode: str) -> None:
    script = Script()
    keystone(script)
    refused = {"error": {"code": 401, "title": "Unauthorized", "message": "no"}}
    script.expect("GET", f"{CINDER}/backups/b-1").reply(401, json=refused)
    script.expect("POST", f"{AUTH}/auth/tokens").reply(401, json=refused)
    with pytest.raises(InvalidCredentials) as caught:
        call(mode, driver(script), "get_recovery_point", target(), "b-1")
    assert "pw-secret-1" not in str(caught.value)
    script.assert_done()


def test_a_node_target_is_its_attached_volume(mode: str) -> None:
    script = Script()
    keystone(script)
    attachments = {"volumeAttachments": [
        {"id": VOLUME, "serverId": "srv-1", "volumeId": VOLUME, "device": "/dev/vdb"},
        {"id": OTHER, "serverId": "srv-1", "volumeId": OTHER, "device": "/dev/vdc"}]}
    for _ in range(2):
        script.expect("GET", f"{NOVA}/servers/srv-1/os-volume_attachments").reply(
            200, json=attachments)
    script.expect("GET", f"{CINDER}/volumes/{OTHER}").reply(
        200, json={"volume": {"id": OTHER, "metadata": {}}})
    script.expect("POST", f"{CINDER}/volumes/{OTHER}/metadata").reply(
        200, json={"metadata": {**MARKED, "overcast-backup-name": "web:/dev/vdc",
                                "overcast-backup-extra":
                                    '{"device":"/dev/vdc","node_id":"srv-1"}'}})
    script.expect("GET", f"{NOVA}/servers/srv-9/os-volume_attachments").reply(
        404, json=fault(404, "itemNotFound", "Instance srv-9 could not be found."))
    d = driver(script)
    node = Node("srv-1", "web", NodeState.RUNNING, [], [])
    with pytest.raises(InvalidInput, match="/dev/vdb"):  # two volumes: which?
        call(mode, d, "create_target_from_node", node)
    made = call(mode, d, "create_target_from_node", node, BackupTargetType.VOLUME,
                {"device": "/dev/vdc"})
    assert (made.id, made.name, made.extra["node_id"]) == (OTHER, "web:/dev/vdc", "srv-1")
    sent = script.received[4].json()["metadata"]
    assert sent["overcast-backup-name"] == "web:/dev/vdc"
    with pytest.raises(NodeNotFound):
        call(mode, d, "create_target_from_node", Node("srv-9", "x", NodeState.RUNNING, [], []))
    script.assert_done()


def test_a_catalog_without_cinder_says_so(mode: str) -> None:
    script = Script()
    services = [{"type": "compute", "name": "nova", "endpoints": [
        {"interface": "public", "region_id": "RegionOne", "url": NOVA}]}]
    body = {"token": {"expires_at": "2099-01-01T00:00:00Z", "catalog": services}}
    script.expect("POST", f"{AUTH}/auth/tokens").reply(
        201, json=body, headers={"X-Subject-Token": "tok-1"})
    with pytest.raises(EndpointNotFound, match="block-storage"):
        call(mode, driver(script), "get_target", VOLUME)


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    d = driver(script)
    own, other = target(), target(OTHER)
    mine = point(own)
    attempts: list[tuple[str, tuple[Any, ...]]] = [
        ("recover_target", (own, mine, "/etc")),
        ("recover_target", (other, mine)),
        ("recover_target_out_of_place", (own, mine, other, "sub/dir")),
        ("recover_target_out_of_place", (other, mine, own)),
        ("recover_target_out_of_place", (own, mine, target("relative/path"))),
        ("ex_recover_to_new_volume", (other, mine)),
        ("create_target", ("", VOLUME, BackupTargetType.VOLUME)),
        ("create_target", ("www", "relative/path", BackupTargetType.VOLUME)),
        ("create_target", ("www", 42, BackupTargetType.VOLUME)),
        ("create_target", ("www", VOLUME, BackupTargetType.FILESYSTEM)),
        ("create_target", ("www", VOLUME, BackupTargetType.VOLUME, {"big": "x" * 300})),
        ("create_target", ("www", VOLUME, BackupTargetType.VOLUME, {"odd": object()})),
        ("update_target", (own, None, OTHER)),
        ("create_target_job", (own, {"incremental": "yes"})),
        ("create_target_job", (own, {"incremantal": True})),
        ("create_target_job", (own, {"name": "x" * 300})),
        ("list_recovery_points", (own, datetime(2026, 2, 1, tzinfo=UTC),
                                  datetime(2026, 1, 1, tzinfo=UTC))),
    ]
    for name, args in attempts:
        with pytest.raises(InvalidInput):
            call(mode, d, name, *args)
    assert script.received == []


def test_constructor_checks(mode: str) -> None:
    for options in ({"poll_interval": 0}, {"wait_timeout": -1}, {"page_size": 0}):
        with pytest.raises(InvalidInput):
            driver(Script(), **options)
    with pytest.raises(InvalidInput):
        OpenStackBackupDriver("demo", "pw")  # no auth_url
    made = OpenStackBackupDriver("demo", "pw-secret-1", ex_force_auth_url=AUTH,
                                 ex_tenant_name="demo", ex_force_service_region="RegionOne")
    assert made.region == "RegionOne" and "pw-secret-1" not in repr(made)
