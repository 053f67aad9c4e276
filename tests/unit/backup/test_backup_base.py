"""The backup base API, driven through a tiny in-memory driver, sync and async."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from overcast.backup import Provider
from overcast.backup import get_driver
from overcast.backup.base import BackupDriver
from overcast.backup.base import BackupTarget
from overcast.backup.base import BackupTargetJob
from overcast.backup.base import BackupTargetJobStatusType
from overcast.backup.base import BackupTargetRecoveryPoint
from overcast.backup.base import BackupTargetType
from overcast.errors import BackupTargetNotFound
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.operation import operations_of
from overcast.storage.base import Container as StorageContainer
from servers.modes import call

# -- running an operation sync or async ----------------------------------------------


def _no_network() -> Any:
    raise AssertionError("no request may be sent")


def status_of(job: BackupTargetJob) -> BackupTargetJobStatusType:
    """The job's status now (a function, so type checkers do not keep a narrowed value)."""
    return job.status


# -- the fakes -----------------------------------------------------------------------

DAY = [datetime(2026, 1, d, 3, 0, tzinfo=UTC) for d in range(1, 6)]


@dataclass
class FakeNode:
    """Stands in for overcast.compute.base.Node."""

    id: str
    name: str
    public_ips: list[str] = field(default_factory=list)
    private_ips: list[str] = field(default_factory=list)


class MemoryBackup(BackupDriver):
    """Targets, recovery points and jobs in dicts."""

    name = "memory"
    target_types = (BackupTargetType.VIRTUAL, BackupTargetType.OBJECT)

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)
        self.targets: dict[str, BackupTarget] = {}
        self.points: dict[str, list[BackupTargetRecoveryPoint]] = {}
        self.jobs: dict[str, dict[str, BackupTargetJob]] = {}
        self._ids = itertools.count(1)

    def _job(self, target: BackupTarget, extra: Mapping[str, Any] | None = None) -> BackupTargetJob:
        job = BackupTargetJob(
            f"j-{next(self._ids)}",
            BackupTargetJobStatusType.RUNNING,
            0,
            target,
            self,
            dict(extra or {}),
        )
        self.jobs[target.id][job.id] = job
        return job

    def _status(self, job: BackupTargetJob, status: BackupTargetJobStatusType) -> bool:
        self.jobs[job.target.id][job.id].status = status
        return True

    @iterator
    def iterate_targets(self) -> Iter[BackupTarget]:
        for target in list(self.targets.values()):
            yield Emit(target)

    @operation
    def get_target(self, id: str) -> Op[BackupTarget]:
        yield from ()
        if id not in self.targets:
            raise BackupTargetNotFound(id, driver=self)
        return self.targets[id]

    @operation
    def create_target(
        self,
        name: str,
        address: str,
        type: BackupTargetType = BackupTargetType.VIRTUAL,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[BackupTarget]:
        yield from ()
        target = BackupTarget(f"t-{next(self._ids)}", name, address, type, self, dict(extra or {}))
        self.targets[target.id] = target
        self.points[target.id] = [
            BackupTargetRecoveryPoint(f"rp-{i}", day, target, self) for i, day in enumerate(DAY)
        ]
        self.jobs[target.id] = {}
        return target

    @operation
    def create_target_from_storage_container(
        self,
        container: StorageContainer,
        type: BackupTargetType = BackupTargetType.OBJECT,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[BackupTarget]:
        return (yield from self.create_target.op(container.name, f"bucket:{container.name}", type))

    @operation
    def update_target(
        self,
        target: BackupTarget,
        name: str | None = None,
        address: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[BackupTarget]:
        yield from ()
        current = self.targets[target.id]
        current.name = current.name if name is None else name
        current.address = current.address if address is None else address
        current.extra.update(extra or {})
        return current

    @operation
    def delete_target(self, target: BackupTarget) -> Op[bool]:
        yield from ()
        if self.targets.pop(target.id, None) is None:
            raise BackupTargetNotFound(target.id, driver=self)
        return True

    def _recovery_points(self, target: BackupTarget) -> Iter[BackupTargetRecoveryPoint]:
        for point in self.points[target.id]:
            yield Emit(point)

    @operation
    def recover_target(
        self,
        target: BackupTarget,
        recovery_point: BackupTargetRecoveryPoint,
        path: str | None = None,
    ) -> Op[BackupTargetJob]:
        yield from ()
        return self._job(target, {"restore": recovery_point.id, "path": path})

    @operation
    def recover_target_out_of_place(
        self,
        target: BackupTarget,
        recovery_point: BackupTargetRecoveryPoint,
        recovery_target: BackupTarget,
        path: str | None = None,
    ) -> Op[BackupTargetJob]:
        yield from ()
        return self._job(
            recovery_target, {"restore": recovery_point.id, "from": target.id, "path": path}
        )

    @iterator
    def iterate_target_jobs(self, target: BackupTarget) -> Iter[BackupTargetJob]:
        for job in list(self.jobs[target.id].values()):
            yield Emit(job)

    @operation
    def create_target_job(
        self, target: BackupTarget, extra: Mapping[str, Any] | None = None
    ) -> Op[BackupTargetJob]:
        yield from ()
        return self._job(target, extra)

    @operation
    def resume_target_job(self, job: BackupTargetJob) -> Op[bool]:
        yield from ()
        return self._status(job, BackupTargetJobStatusType.RUNNING)

    @operation
    def suspend_target_job(self, job: BackupTargetJob) -> Op[bool]:
        yield from ()
        return self._status(job, BackupTargetJobStatusType.PENDING)

    @operation
    def cancel_target_job(self, job: BackupTargetJob) -> Op[bool]:
        yield from ()
        return self._status(job, BackupTargetJobStatusType.CANCELLED)


class BareBackup(BackupDriver):
    """Implements nothing."""

    name = "bare"

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)


class CreateOnly(BareBackup):
    """Creates targets, nothing else."""

    @operation
    def create_target(
        self,
        name: str,
        address: str,
        type: BackupTargetType = BackupTargetType.VIRTUAL,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[BackupTarget]:
        yield from ()
        return BackupTarget("t", name, address, type, self)


@pytest.fixture
def driver() -> MemoryBackup:
    return MemoryBackup()


@pytest.fixture
def target(driver: MemoryBackup) -> BackupTarget:
    return driver.create_target("db", "10.0.0.5", BackupTargetType.VIRTUAL)


# -- capabilities ----------------------------------------------------------------------

ALWAYS = {"get_supported_target_types"}


def test_supports() -> None:
    memory = MemoryBackup()
    for name in operations_of(BackupDriver):
        assert memory.supports(name), name
    bare = BareBackup()
    for name in operations_of(BackupDriver):
        assert bare.supports(name) == (name in ALWAYS), name
    partial = CreateOnly()
    assert partial.supports("create_target_from_node")
    assert not partial.supports("create_target_from_storage_container")
    assert not partial.aio.supports("list_targets")


def _args(
    target: BackupTarget, point: BackupTargetRecoveryPoint, job: BackupTargetJob
) -> dict[str, tuple[Any, ...]]:
    """Valid arguments for every operation of the backup API."""
    return {
        "get_supported_target_types": (),
        "iterate_targets": (),
        "list_targets": (),
        "get_target": ("t-1",),
        "create_target": ("db", "10.0.0.5"),
        "create_target_from_node": (FakeNode("i-1", "db", ["203.0.113.5"]),),
        "create_target_from_storage_container": (StorageContainer("logs"),),
        "create_target_from_container": (StorageContainer("logs"),),
        "update_target": (target, "renamed"),
        "delete_target": (target,),
        "iterate_recovery_points": (target,),
        "list_recovery_points": (target, DAY[0], DAY[1]),
        "get_recovery_point": (target, "rp-1"),
        "recover_target": (target, point),
        "recover_target_out_of_place": (target, point, target, "/etc"),
        "iterate_target_jobs": (target,),
        "list_target_jobs": (target,),
        "get_target_job": (target, "j-1"),
        "create_target_job": (target,),
        "resume_target_job": (job,),
        "suspend_target_job": (job,),
        "cancel_target_job": (job,),
    }


def _models(
    driver: BackupDriver | None,
) -> tuple[BackupTarget, BackupTargetRecoveryPoint, BackupTargetJob]:
    target = BackupTarget("t-1", "db", "10.0.0.5", BackupTargetType.VIRTUAL, driver)
    point = BackupTargetRecoveryPoint("rp-1", DAY[0], target, driver)
    job = BackupTargetJob("j-1", BackupTargetJobStatusType.RUNNING, 10, target, driver)
    return target, point, job


@pytest.mark.parametrize("name", sorted(set(operations_of(BackupDriver)) - ALWAYS))
def test_unimplemented_operations_raise_not_supported(mode: str, name: str) -> None:
    bare = BareBackup()
    args = _args(*_models(bare))[name]
    with pytest.raises(NotSupported):
        call(mode, bare, name, *args)


def test_every_operation_has_test_arguments() -> None:
    assert set(_args(*_models(None))) == set(operations_of(BackupDriver))


def test_provider_and_registry() -> None:
    assert {"restic", "openstack"} <= {str(name) for name in Provider}
    with pytest.raises(NotSupported, match="no backup driver named 'nope'"):
        get_driver("nope")


def test_supported_target_types(driver: MemoryBackup, mode: str) -> None:
    assert call(mode, driver, "get_supported_target_types") == [
        BackupTargetType.VIRTUAL,
        BackupTargetType.OBJECT,
    ]
    assert call(mode, BareBackup(), "get_supported_target_types") == []


# -- targets ---------------------------------------------------------------------------


def test_targets(driver: MemoryBackup, mode: str) -> None:
    a = call(mode, driver, "create_target", "a", "10.0.0.1")
    b = call(mode, driver, "create_target", "b", "/srv", BackupTargetType.FILESYSTEM, {"k": 1})
    assert a.type is BackupTargetType.VIRTUAL
    assert b.extra == {"k": 1}
    assert call(mode, driver, "list_targets") == [a, b]
    assert call(mode, driver, "iterate_targets") == [a, b]
    assert call(mode, driver, "get_target", b.id) is b
    updated = call(mode, driver, "update_target", b, None, "/srv/data")
    assert (updated.name, updated.address) == ("b", "/srv/data")
    assert call(mode, driver, "delete_target", a) is True
    with pytest.raises(BackupTargetNotFound):
        call(mode, driver, "get_target", a.id)


@pytest.mark.parametrize(
    ("node", "address"),
    [
        (FakeNode("i-1", "db", ["203.0.113.5"], ["10.0.0.5"]), "203.0.113.5"),
        (FakeNode("i-1", "db", [], ["10.0.0.5"]), "10.0.0.5"),
    ],
)
def test_create_target_from_node(
    driver: MemoryBackup, mode: str, node: FakeNode, address: str
) -> None:
    target = call(mode, driver, "create_target_from_node", node, extra={"plan": "daily"})
    assert (target.name, target.address, target.type) == ("db", address, "virtual")
    assert target.extra == {"plan": "daily"}


def test_create_target_from_node_without_address(driver: MemoryBackup, mode: str) -> None:
    with pytest.raises(InvalidInput, match="no IP address"):
        call(mode, driver, "create_target_from_node", FakeNode("i-1", "db"))
    assert driver.targets == {}


def test_create_target_from_storage_container(driver: MemoryBackup, mode: str) -> None:
    target = call(mode, driver, "create_target_from_storage_container", StorageContainer("logs"))
    assert (target.name, target.address, target.type) == ("logs", "bucket:logs", "object")


# -- recovery points and jobs ------------------------------------------------------------


def test_recovery_points(driver: MemoryBackup, target: BackupTarget, mode: str) -> None:
    every = call(mode, driver, "list_recovery_points", target)
    assert [p.date for p in every] == DAY
    assert call(mode, driver, "iterate_recovery_points", target) == every
    window = call(mode, driver, "list_recovery_points", target, DAY[1], DAY[2])
    assert [p.id for p in window] == ["rp-1", "rp-2"]
    assert call(mode, driver, "get_recovery_point", target, "rp-3") == every[3]
    with pytest.raises(NotFound, match="recovery point not found"):
        call(mode, driver, "get_recovery_point", target, "rp-99")
    with pytest.raises(InvalidInput, match="after end_date"):
        call(mode, driver, "list_recovery_points", target, DAY[3], DAY[1])


def test_recover(driver: MemoryBackup, target: BackupTarget, mode: str) -> None:
    other = driver.create_target("spare", "10.0.0.9")
    point = driver.list_recovery_points(target)[0]
    job = call(mode, driver, "recover_target", target, point, "/var/lib")
    assert job.target is target
    assert job.extra == {"restore": "rp-0", "path": "/var/lib"}
    moved = call(mode, driver, "recover_target_out_of_place", target, point, other)
    assert moved.target is other
    assert moved.extra == {"restore": "rp-0", "from": target.id, "path": None}


def test_jobs(driver: MemoryBackup, target: BackupTarget, mode: str) -> None:
    job = call(mode, driver, "create_target_job", target, {"full": True})
    assert (job.status, job.progress, job.extra) == ("running", 0, {"full": True})
    assert call(mode, driver, "list_target_jobs", target) == [job]
    assert call(mode, driver, "iterate_target_jobs", target) == [job]
    assert call(mode, driver, "get_target_job", target, job.id) is job
    with pytest.raises(NotFound, match="backup job not found"):
        call(mode, driver, "get_target_job", target, "j-404")
    assert call(mode, driver, "suspend_target_job", job) is True
    assert status_of(job) is BackupTargetJobStatusType.PENDING
    assert call(mode, driver, "resume_target_job", job) is True
    assert status_of(job) is BackupTargetJobStatusType.RUNNING
    assert call(mode, driver, "cancel_target_job", job) is True
    assert status_of(job) is BackupTargetJobStatusType.CANCELLED


# -- models ------------------------------------------------------------------------------


def test_target_conveniences_delegate(driver: MemoryBackup, target: BackupTarget) -> None:
    assert target.update(name="primary-db").name == "primary-db"
    assert len(target.list_recovery_points()) == 5
    assert [p.id for p in target.iterate_recovery_points(DAY[4])] == ["rp-4"]
    job = target.create_job({"full": True})
    assert target.list_jobs() == [job]
    assert target.delete() is True
    assert driver.targets == {}


def test_job_conveniences_delegate(driver: MemoryBackup, target: BackupTarget) -> None:
    job = target.create_job()
    assert job.suspend() is True
    assert status_of(job) is BackupTargetJobStatusType.PENDING
    assert job.resume() is True
    assert status_of(job) is BackupTargetJobStatusType.RUNNING
    assert job.cancel() is True
    assert status_of(job) is BackupTargetJobStatusType.CANCELLED


def test_recovery_point_conveniences_delegate(driver: MemoryBackup, target: BackupTarget) -> None:
    other = driver.create_target("spare", "10.0.0.9")
    point = target.list_recovery_points()[2]
    job = point.recover("/etc")
    assert job.target is target
    assert job.extra == {"restore": "rp-2", "path": "/etc"}
    moved = point.recover_to(other)
    assert moved.target is other
    assert moved.extra["from"] == target.id


def test_unbound_models() -> None:
    target, point, job = _models(None)
    with pytest.raises(InvalidInput, match="not bound"):
        target.delete()
    with pytest.raises(InvalidInput, match="not bound"):
        point.recover()
    with pytest.raises(InvalidInput, match="not bound"):
        job.cancel()


def test_model_equality(driver: MemoryBackup, target: BackupTarget) -> None:
    same = BackupTarget(target.id, "x", "y", BackupTargetType.PHYSICAL, driver)
    assert same == target
    assert hash(same) == hash(target)
    assert BackupTarget(target.id, "db", "10.0.0.5", target.type, BareBackup()) != target
    point = target.list_recovery_points()[0]
    assert BackupTargetRecoveryPoint(point.id, DAY[4], target, driver) == point
    assert "driver" not in repr(target)


def test_enums() -> None:
    assert [t.name for t in BackupTargetType] == [
        "VIRTUAL",
        "PHYSICAL",
        "FILESYSTEM",
        "DATABASE",
        "OBJECT",
        "VOLUME",
    ]
    assert BackupTargetJobStatusType("completed") is BackupTargetJobStatusType.COMPLETED
