"""The OpenStack backup driver against the Cinder fixture server, sync and
async: what the backup contract does not cover (incremental backups, force
for an attached volume, a restore onto a new volume, a volume from a node,
failed backups and restores, jobs not waited for and cancelled, polling by
Sleep, paging, a lost create, a revoked token)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from overcast.backup import BackupTargetJobStatusType
from overcast.backup import BackupTargetType
from overcast.backup import Provider
from overcast.backup import get_driver
from overcast.backup.base import BackupTarget
from overcast.backup.drivers.openstack import OpenStackBackupDriver
from overcast.compute.base import Node
from overcast.compute.base import NodeState
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.runtime.policy import RequestEvent
from servers.backup_cinder import CinderFake
from servers.backup_cinder import make_driver
from servers.backup_cinder import serving
from servers.compute_openstack import PASSWORD
from servers.modes import call
from servers.pauses import record_pauses

pytestmark = pytest.mark.server

VOLUME = BackupTargetType.VOLUME


@pytest.fixture
def fake() -> Iterator[CinderFake]:
    """A fresh fixture server, two backups a page."""
    made, stop = serving(max_page=2)
    try:
        yield made
    finally:
        stop()


@pytest.fixture
def sent() -> list[RequestEvent]:
    return []


@pytest.fixture
def driver(fake: CinderFake, sent: list[RequestEvent]) -> OpenStackBackupDriver:
    return make_driver(fake, sent)


def new_target(mode: str, driver: OpenStackBackupDriver, fake: CinderFake,
               data: str = "state one", size: int = 1) -> BackupTarget:
    volume = fake.add_volume(size=size, data=data)
    made: BackupTarget = call(mode, driver, "create_target", "data", volume, VOLUME)
    return made


def test_the_driver_is_registered_under_openstack() -> None:
    assert get_driver(Provider.OPENSTACK) is OpenStackBackupDriver
    assert get_driver("openstack") is OpenStackBackupDriver


def test_incremental_backups_restore_their_own_state(mode: str, driver: OpenStackBackupDriver,
                                                     fake: CinderFake) -> None:
    target = new_target(mode, driver, fake)
    with pytest.raises(ProviderError, match="No backups available"):
        call(mode, driver, "create_target_job", target, {"incremental": True})
    full = call(mode, driver, "create_target_job", target)
    fake.write(target.address, "state two")
    incremental = call(mode, driver, "create_target_job", target, {"incremental": True})
    assert incremental.extra["is_incremental"] is True
    assert fake.backups[incremental.id]["parent_id"] == full.id
    fake.write(target.address, "state three")
    first, second = call(mode, driver, "list_recovery_points", target)
    assert (first.id, second.id) == (full.id, incremental.id)
    assert first.extra["has_dependent_backups"] is True
    call(mode, driver, "recover_target", target, second)
    assert fake.content(target.address) == "state two"
    assert fake.restored_from(target.address) == incremental.id
    call(mode, driver, "recover_target", target, first)
    assert fake.content(target.address) == "state one"


def test_an_attached_volume_needs_force(mode: str, driver: OpenStackBackupDriver,
                                        fake: CinderFake) -> None:
    target = new_target(mode, driver, fake)
    fake.attach(target.address, "server-1", "/dev/vdb")
    with pytest.raises(ProviderError, match="force flag") as caught:
        call(mode, driver, "create_target_job", target)
    assert caught.value.status == 400
    job = call(mode, driver, "create_target_job", target, {"force": True})
    assert job.status is BackupTargetJobStatusType.COMPLETED
    assert fake.backups[job.id]["_force"] is True
    [point] = call(mode, driver, "list_recovery_points", target)
    with pytest.raises(ProviderError, match="must be available"):  # in place: detach first
        call(mode, driver, "recover_target", target, point)


def test_a_restore_onto_a_new_volume(mode: str, driver: OpenStackBackupDriver,
                                     fake: CinderFake) -> None:
    target = new_target(mode, driver, fake, size=3)
    call(mode, driver, "create_target_job", target, {"name": "nightly"})
    [point] = call(mode, driver, "list_recovery_points", target)
    assert point.extra["name"] == "nightly" and point.extra["size"] == 3
    fake.write(target.address, "later")
    job = call(mode, driver, "ex_recover_to_new_volume", target, point, "restored")
    made = job.extra["volume_id"]
    assert made != target.address and job.extra["volume_name"] == "restored"
    assert fake.content(made) == "state one" and fake.restored_from(made) == point.id
    assert fake.region().volumes[made]["size"] == 3
    assert fake.content(target.address) == "later"


def test_a_restore_onto_a_smaller_volume_is_refused(mode: str, driver: OpenStackBackupDriver,
                                                    fake: CinderFake) -> None:
    target = new_target(mode, driver, fake, size=5)
    call(mode, driver, "create_target_job", target)
    [point] = call(mode, driver, "list_recovery_points", target)
    small = call(mode, driver, "create_target", "small", fake.add_volume(size=1), VOLUME)
    with pytest.raises(ProviderError, match="smaller than backup size"):
        call(mode, driver, "recover_target_out_of_place", target, point, small)


def test_a_target_from_a_node_is_its_attached_volume(mode: str, driver: OpenStackBackupDriver,
                                                     fake: CinderFake) -> None:
    root, data = fake.add_volume(data="root"), fake.add_volume(data="data")
    fake.attach(root, "server-7", "/dev/vda")
    fake.attach(data, "server-7", "/dev/vdb")
    node = Node("server-7", "web", NodeState.RUNNING, ["203.0.113.7"], [])
    with pytest.raises(InvalidInput, match="/dev/vda"):
        call(mode, driver, "create_target_from_node", node)
    target = call(mode, driver, "create_target_from_node", node, VOLUME,
                  {"device": "/dev/vdb", "owner": "ops"})
    assert (target.id, target.name) == (data, "web:/dev/vdb")
    assert (target.extra["node_id"], target.extra["owner"]) == ("server-7", "ops")
    assert call(mode, driver, "get_target", data) == target
    job = call(mode, driver, "create_target_job", target, {"force": True})
    assert job.status is BackupTargetJobStatusType.COMPLETED


def test_deleting_a_target_keeps_the_volume_and_its_backups(
        mode: str, driver: OpenStackBackupDriver, fake: CinderFake) -> None:
    target = new_target(mode, driver, fake)
    fake.region().volumes[target.address]["metadata"]["owner-tag"] = "kept"
    call(mode, driver, "create_target_job", target)
    assert call(mode, driver, "delete_target", target) is True
    volume = fake.region().volumes[target.address]
    assert volume["metadata"] == {"owner-tag": "kept"}
    assert [b["volume_id"] for b in fake.backups.values()] == [target.address]
    assert call(mode, driver, "list_targets") == []
    again = call(mode, driver, "create_target", "again", target.address, VOLUME)
    assert len(call(mode, driver, "list_recovery_points", again)) == 1


def test_failures_end_as_errors(mode: str, driver: OpenStackBackupDriver,
                                fake: CinderFake) -> None:
    target = new_target(mode, driver, fake)
    fake.fail_next.add("backup")
    with pytest.raises(ProviderError, match="could not write the backup") as caught:
        call(mode, driver, "create_target_job", target)
    assert caught.value.code == "error"
    [failed] = call(mode, driver, "list_target_jobs", target)
    assert failed.status is BackupTargetJobStatusType.FAILED
    assert call(mode, driver, "list_recovery_points", target) == []
    call(mode, driver, "create_target_job", target)
    [point] = call(mode, driver, "list_recovery_points", target)
    fake.fail_next.add("restore")
    with pytest.raises(ProviderError, match="error_restoring"):
        call(mode, driver, "recover_target", target, point)


def test_a_job_not_waited_for_is_followed_and_cancelled(mode: str, driver: OpenStackBackupDriver,
                                                        fake: CinderFake) -> None:
    target = new_target(mode, driver, fake)
    job = call(mode, driver, "create_target_job", target, {"wait": False})
    assert job.status is BackupTargetJobStatusType.RUNNING and job.progress is None
    assert call(mode, driver, "cancel_target_job", job) is True
    assert job.id not in fake.backups
    done = call(mode, driver, "create_target_job", target, {"wait": False})
    seen = [call(mode, driver, "get_target_job", target, done.id) for _ in range(2)]
    assert [job.status for job in seen] == [BackupTargetJobStatusType.RUNNING,
                                            BackupTargetJobStatusType.COMPLETED]
    later = seen[-1]
    assert call(mode, driver, "cancel_target_job", later) is False
    assert done.id in fake.backups


def test_waiting_pauses_as_asked(mode: str, fake: CinderFake,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    driver = make_driver(fake, poll_interval=0.02)
    target = new_target(mode, driver, fake)
    paused = record_pauses(monkeypatch)
    call(mode, driver, "create_target_job", target)
    assert paused.count(0.02) == 1  # creating once, then available: one pause


def test_recovery_points_follow_the_servers_pages(mode: str, driver: OpenStackBackupDriver,
                                                  fake: CinderFake,
                                                  sent: list[RequestEvent]) -> None:
    target = new_target(mode, driver, fake)
    for _ in range(5):
        call(mode, driver, "create_target_job", target)
    del sent[:]
    points = call(mode, driver, "list_recovery_points", target)
    assert len(points) == 5
    pages = [event for event in sent if "/backups/detail" in event.url]
    assert len(pages) == 3 and "marker=" in pages[-1].url  # 2 + 2 + 1: the server's cap


def test_a_lost_create_is_found_not_made_twice(mode: str, driver: OpenStackBackupDriver,
                                               fake: CinderFake) -> None:
    target = new_target(mode, driver, fake)
    fake.lose_next.add("backup")
    job = call(mode, driver, "create_target_job", target)
    assert job.status is BackupTargetJobStatusType.COMPLETED
    assert list(fake.backups) == [job.id]


def test_a_revoked_token_is_renewed(mode: str, driver: OpenStackBackupDriver,
                                    fake: CinderFake) -> None:
    target = new_target(mode, driver, fake)
    fake.revoke_tokens()
    before = driver.session.fetched
    assert call(mode, driver, "get_target", target.id) == target
    assert driver.session.fetched == before + 1


def test_secrets_stay_out_of_logs_reprs_and_errors(mode: str, fake: CinderFake,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-cinder-password-kept-out"
    bad = make_driver(fake, secret=wrong)
    with pytest.raises(InvalidCredentials) as caught:
        call(mode, bad, "list_targets")
    good = make_driver(fake)
    target = new_target(mode, good, fake)
    call(mode, good, "create_target_job", target)
    [point] = call(mode, good, "list_recovery_points", target)
    call(mode, good, "recover_target", target, point)
    assert caplog.records, "DEBUG logging was expected to record the requests"
    texts = [str(caught.value), repr(caught.value), repr(bad), repr(good), repr(good.session),
             repr(target), repr(point), caplog.text]
    for value in (wrong, PASSWORD, *fake.tokens):
        for text in texts:
            assert value not in text
