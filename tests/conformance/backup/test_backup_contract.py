"""The backup contract, sync and async, on every driver (see conftest.py):
targets, jobs, recovery points within dates, restores in place and out of
place, not-found, and invalid input refused with nothing sent or run."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest

from overcast.backup import BackupTargetJobStatusType
from overcast.backup import BackupTargetType
from overcast.backup.base import BackupTarget
from overcast.backup.base import BackupTargetRecoveryPoint
from overcast.errors import BackupJobNotFound
from overcast.errors import BackupTargetNotFound
from overcast.errors import InvalidInput
from overcast.errors import RecoveryPointNotFound
from servers.modes import call

pytestmark = pytest.mark.server


def backed_up(mode: str, subject: Any,
              name: str = "www") -> tuple[BackupTarget, BackupTargetRecoveryPoint]:
    target = call(mode, subject.driver, "create_target", name, subject.address(),
                  subject.target_type)
    job = call(mode, subject.driver, "create_target_job", target)
    assert job.status is BackupTargetJobStatusType.COMPLETED
    [point] = call(mode, subject.driver, "list_recovery_points", target)
    return target, point


def test_target_types(mode: str, subject: Any) -> None:
    types = call(mode, subject.driver, "get_supported_target_types")
    assert subject.target_type in types
    assert all(isinstance(kind, BackupTargetType) for kind in types)


def test_targets_are_created_got_listed_updated_and_deleted(mode: str, subject: Any) -> None:
    driver = subject.driver
    address = subject.address()
    target = call(mode, driver, "create_target", "www", address, subject.target_type,
                  {"owner": "web"})
    assert (target.name, target.address, target.type) == ("www", address, subject.target_type)
    assert target.extra["owner"] == "web"
    assert call(mode, driver, "get_target", target.id) == target
    other = call(mode, driver, "create_target", "db", subject.address(), subject.target_type)
    assert {t.id for t in call(mode, driver, "list_targets")} == {target.id, other.id}
    renamed = call(mode, driver, "update_target", target, "web", None, {"owner": "ops"})
    assert (renamed.id, renamed.name, renamed.address, renamed.extra["owner"]) == (
        target.id, "web", address, "ops")
    assert call(mode, driver, "get_target", target.id).name == "web"
    assert call(mode, driver, "delete_target", renamed) is True
    assert [t.id for t in call(mode, driver, "list_targets")] == [other.id]
    with pytest.raises(BackupTargetNotFound):
        call(mode, driver, "get_target", target.id)
    with pytest.raises(BackupTargetNotFound):
        call(mode, driver, "delete_target", renamed)


def test_jobs_make_recovery_points(mode: str, subject: Any) -> None:
    target, point = backed_up(mode, subject)
    jobs = call(mode, subject.driver, "list_target_jobs", target)
    assert [job.status for job in jobs] == [BackupTargetJobStatusType.COMPLETED]
    assert call(mode, subject.driver, "get_target_job", target, jobs[0].id) == jobs[0]
    assert point.target == target
    assert call(mode, subject.driver, "get_recovery_point", target, point.id) == point
    with pytest.raises(BackupJobNotFound):
        call(mode, subject.driver, "get_target_job", target, "no-such-job")


def test_recovery_points_within_dates(mode: str, subject: Any) -> None:
    target, first = backed_up(mode, subject)
    subject.change(target.address)
    call(mode, subject.driver, "create_target_job", target)
    points = call(mode, subject.driver, "list_recovery_points", target)
    assert len(points) == 2 and points[0] == first and points[1].date >= first.date
    second = points[1]
    after_first = first.date + (second.date - first.date) / 2
    if second.date > first.date:
        assert call(mode, subject.driver, "list_recovery_points", target, after_first) == [second]
        assert call(mode, subject.driver, "list_recovery_points", target, None,
                    after_first) == [first]
    day = timedelta(days=1)
    assert call(mode, subject.driver, "list_recovery_points", target, first.date - day,
                second.date + day) == points
    assert call(mode, subject.driver, "list_recovery_points", target,
                second.date + day) == []
    naive = (first.date - day).astimezone(UTC).replace(tzinfo=None)
    assert call(mode, subject.driver, "list_recovery_points", target, naive) == points


def test_restore_in_place_and_out_of_place(mode: str, subject: Any) -> None:
    target, point = backed_up(mode, subject)
    before = subject.state(target.address)
    subject.change(target.address)
    assert subject.state(target.address) != before
    job = call(mode, subject.driver, "recover_target", target, point)
    assert job.status is BackupTargetJobStatusType.COMPLETED
    # The job's target is the target restored onto, as it now is: a driver whose
    # restore puts new storage in the old one's place (EBS) moves the target to it.
    assert job.target.id == target.id
    assert subject.state(job.target.address) == before
    elsewhere = call(mode, subject.driver, "create_target", "scratch", subject.destination(),
                     subject.target_type)
    job = call(mode, subject.driver, "recover_target_out_of_place", target, point, elsewhere)
    assert job.target.id == elsewhere.id
    assert subject.state(job.target.address) == before


def test_not_found(mode: str, subject: Any) -> None:
    target, _ = backed_up(mode, subject)
    with pytest.raises(BackupTargetNotFound):
        call(mode, subject.driver, "get_target", "no-such-target")
    with pytest.raises(RecoveryPointNotFound):
        call(mode, subject.driver, "get_recovery_point", target, "0" * 64)


def test_invalid_input_runs_nothing(mode: str, subject: Any) -> None:
    target, point = backed_up(mode, subject)
    other, _ = backed_up(mode, subject, "other")
    runs = subject.runs()
    driver = subject.driver
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_target", "rel", subject.relative_address(),
             subject.target_type)
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_target", "missing", subject.missing_address(),
             subject.target_type)
    with pytest.raises(InvalidInput):
        call(mode, driver, "list_recovery_points", target,
             datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidInput):
        call(mode, driver, "recover_target", other, point)
    with pytest.raises(InvalidInput):
        call(mode, driver, "recover_target_out_of_place", other, point, target)
    assert subject.runs() == runs


def test_recovery_points_are_listed_past_page_one(mode: str, subject: Any) -> None:
    if not getattr(subject, "pages", False):
        pytest.skip("this driver's recovery points come in one answer (no pages to follow)")
    target = call(mode, subject.driver, "create_target", "paged", subject.address(),
                  subject.target_type)
    for _ in range(5):
        job = call(mode, subject.driver, "create_target_job", target)
        assert job.status is BackupTargetJobStatusType.COMPLETED
        subject.change(target.address)
    points = call(mode, subject.driver, "list_recovery_points", target)
    assert len(points) == 5 and len({point.id for point in points}) == 5
    assert [point.date for point in points] == sorted(point.date for point in points)
    assert all(point.target == target for point in points)
    last = call(mode, subject.driver, "get_recovery_point", target, points[-1].id)
    assert last == points[-1]
