"""Backup: targets, jobs and recovery points, one API for every backup service.

Names and positional parameters follow Apache Libcloud 3.x
(``libcloud.backup.base.BackupDriver``), so its users port code by changing
imports; overcast's additions are keyword-only. Every operation is available
sync (``driver.x()``) and async (``await driver.aio.x()``); a driver that lacks
one raises :class:`~overcast.errors.NotSupported` (see ``driver.supports()``).

A *target* is something backed up (a server, a file system, a database, a
bucket); a *job* is a backup or restore run on it; a *recovery point* is a
backup it can be restored from.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar

from overcast.compute.base import NodeLike
from overcast.driver import AsyncView
from overcast.driver import BaseDriver
from overcast.errors import BackupJobNotFound
from overcast.errors import InvalidInput
from overcast.errors import RecoveryPointNotFound
from overcast.models import Model
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import aio
from overcast.runtime.operation import alias
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import not_supported
from overcast.runtime.operation import operation
from overcast.runtime.operation import requires
from overcast.runtime.ops import collect
from overcast.runtime.ops import expand
from overcast.runtime.ops import find_by_id
from overcast.runtime.ops import pure

if TYPE_CHECKING:
    from overcast.storage.base import Container as StorageContainer

__all__ = [
    "BackupDriver",
    "BackupDriverAsync",
    "BackupTarget",
    "BackupTargetJob",
    "BackupTargetJobStatusType",
    "BackupTargetRecoveryPoint",
    "BackupTargetType",
    "date_window",
]


def date_window(start_date: datetime | None, end_date: datetime | None, *,
                driver: object = None) -> Callable[[datetime], bool]:
    """Whether a recovery point's date is between ``start_date`` and ``end_date``
    (inclusive; either may be ``None``: unbounded; naive dates are taken as UTC);
    :class:`~overcast.errors.InvalidInput` at once if the start is after the end."""

    def aware(moment: datetime | None) -> datetime | None:
        return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)

    start, end = aware(start_date), aware(end_date)
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"start_date {start} is after end_date {end}", driver=driver)

    def within(date: datetime) -> bool:
        return (start is None or date >= start) and (end is None or date <= end)

    return within


class BackupTargetType(StrEnum):
    """What kind of thing a backup target is."""

    VIRTUAL = "virtual"
    PHYSICAL = "physical"
    FILESYSTEM = "filesystem"
    DATABASE = "database"
    OBJECT = "object"
    VOLUME = "volume"


class BackupTargetJobStatusType(StrEnum):
    """The status of a backup or restore job."""

    RUNNING = "running"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    PENDING = "pending"


@dataclass(slots=True, eq=False)
class BackupTarget(Model["BackupDriver"]):
    """Something that is backed up.

    ``address`` says where it is (a host name, an IP address, a path, a bucket
    URL); ``type`` is a :class:`BackupTargetType`.
    """

    _kind: ClassVar[str] = "backup target"

    id: str
    name: str
    address: str
    type: BackupTargetType
    driver: BackupDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def _label(self) -> object:
        return self.name

    def update(self, name: str | None = None, address: str | None = None,
               extra: Mapping[str, Any] | None = None) -> BackupTarget:
        """Change this target; arguments left ``None`` keep their value."""
        return self._driver().update_target(self, name, address, extra)

    def delete(self) -> bool:
        """Delete this target (its recovery points go as the provider decides)."""
        return self._driver().delete_target(self)

    def iterate_recovery_points(
        self, start_date: datetime | None = None, end_date: datetime | None = None
    ) -> Iterator[BackupTargetRecoveryPoint]:
        """Iterate over this target's recovery points (taken in the dates given)."""
        return self._driver().iterate_recovery_points(self, start_date, end_date)

    def list_recovery_points(
        self, start_date: datetime | None = None, end_date: datetime | None = None
    ) -> list[BackupTargetRecoveryPoint]:
        """List this target's recovery points (taken in the dates given)."""
        return self._driver().list_recovery_points(self, start_date, end_date)

    def list_jobs(self) -> list[BackupTargetJob]:
        """List this target's jobs."""
        return self._driver().list_target_jobs(self)

    def create_job(self, extra: Mapping[str, Any] | None = None) -> BackupTargetJob:
        """Start a backup job of this target."""
        return self._driver().create_target_job(self, extra)


@dataclass(slots=True, eq=False)
class BackupTargetJob(Model["BackupDriver"]):
    """A backup or restore run on a target.

    ``status`` is a :class:`BackupTargetJobStatusType`, ``progress`` a
    percentage (0 to 100, ``None`` if the provider does not say).
    """

    _kind: ClassVar[str] = "backup job"

    id: str
    status: BackupTargetJobStatusType
    progress: int | None
    target: BackupTarget
    driver: BackupDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def _identity(self) -> tuple[object, ...]:
        return (self.id, self.target.id)

    def cancel(self) -> bool:
        """Cancel this job."""
        return self._driver().cancel_target_job(self)

    def suspend(self) -> bool:
        """Suspend this job."""
        return self._driver().suspend_target_job(self)

    def resume(self) -> bool:
        """Resume this suspended job."""
        return self._driver().resume_target_job(self)


@dataclass(slots=True, eq=False)
class BackupTargetRecoveryPoint(Model["BackupDriver"]):
    """A backup of a target, taken at ``date``, that it can be restored from."""

    _kind: ClassVar[str] = "recovery point"

    id: str
    date: datetime
    target: BackupTarget
    driver: BackupDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def _identity(self) -> tuple[object, ...]:
        return (self.id, self.target.id)

    def recover(self, path: str | None = None) -> BackupTargetJob:
        """Restore this recovery point onto its own target (``path``: only that part)."""
        return self._driver().recover_target(self.target, self, path)

    def recover_to(self, recovery_target: BackupTarget, path: str | None = None) -> BackupTargetJob:
        """Restore this recovery point onto another target (``path``: only that part)."""
        return self._driver().recover_target_out_of_place(self.target, self, recovery_target, path)


class BackupDriver(BaseDriver):
    """Base class of backup drivers.

    Drivers implement the primitive operations (``iterate_targets``,
    ``get_target``, ``create_target``, ``create_target_from_storage_container``,
    ``update_target``, ``delete_target``, ``iterate_recovery_points``,
    ``recover_target``, ``recover_target_out_of_place``, ``iterate_target_jobs``,
    ``create_target_job``, ``resume_target_job``, ``suspend_target_job``,
    ``cancel_target_job``) and set :attr:`target_types`; the rest is built on
    them here, once.
    """

    area: ClassVar[str] = "backup"
    async_view: ClassVar[type[AsyncView[Any]]]
    aio: BackupDriverAsync

    #: The kinds of target this driver can back up.
    target_types: ClassVar[tuple[BackupTargetType, ...]] = ()

    @operation
    def get_supported_target_types(self) -> Op[list[BackupTargetType]]:
        """The kinds of target this driver can back up (from :attr:`target_types`)."""
        return (yield from pure(list(self.target_types)))

    # -- targets --------------------------------------------------------------------

    @iterator
    @not_supported
    def iterate_targets(self) -> Iter[BackupTarget]:
        """Iterate over every backup target of the account, page by page."""
        raise NotImplementedError

    list_targets = listing(iterate_targets, "List every backup target of the account.")

    @operation
    @not_supported
    def get_target(self, id: str) -> Op[BackupTarget]:
        """Get a target by id; :class:`~overcast.errors.BackupTargetNotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_target(self, name: str, address: str,
                      type: BackupTargetType = BackupTargetType.VIRTUAL,
                      extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Register a target named ``name`` at ``address`` (host name, IP address,
        path, ...) of kind ``type`` for backup."""
        raise NotImplementedError

    @operation
    @requires("create_target")
    def create_target_from_node(self, node: NodeLike,
                                type: BackupTargetType = BackupTargetType.VIRTUAL,
                                extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Register a compute node for backup, by its name and first public address
        (else its first private one); :class:`~overcast.errors.InvalidInput`, before
        any request, if it has no address."""
        address = self._node_address(node)
        return (yield from self.create_target.op(node.name, address, type, extra))

    def _node_address(self, node: NodeLike) -> str:
        """The address a node is backed up at: its first public one, else its
        first private one; :class:`~overcast.errors.InvalidInput` if it has none."""
        addresses = [*node.public_ips, *node.private_ips]
        if not addresses:
            raise InvalidInput(f"node {node.id!r} has no IP address to back up", driver=self)
        return addresses[0]

    @operation
    @not_supported
    def create_target_from_storage_container(
        self,
        container: StorageContainer,
        type: BackupTargetType = BackupTargetType.OBJECT,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[BackupTarget]:
        """Register an object storage container (bucket) for backup."""
        raise NotImplementedError

    create_target_from_container = alias(
        create_target_from_storage_container,
        "Apache Libcloud's driver-level name for :meth:`create_target_from_storage_container`.")

    @operation
    @not_supported
    def update_target(self, target: BackupTarget, name: str | None = None,
                      address: str | None = None,
                      extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Change a target; arguments left ``None`` keep their value. Returns the
        target as it now is."""
        raise NotImplementedError

    @operation
    @not_supported
    def delete_target(self, target: BackupTarget) -> Op[bool]:
        """Delete a target; :class:`~overcast.errors.BackupTargetNotFound` if absent."""
        raise NotImplementedError

    # -- recovery points ------------------------------------------------------------

    @iterator
    @requires("_recovery_points")
    def iterate_recovery_points(
        self,
        target: BackupTarget,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> Iter[BackupTargetRecoveryPoint]:
        """Iterate over a target's recovery points taken between ``start_date`` and
        ``end_date`` (inclusive; either may be ``None``: unbounded; naive dates are
        UTC), page by page; :class:`~overcast.errors.InvalidInput` before any
        request if the start is after the end."""
        within = date_window(start_date, end_date, driver=self)
        yield from expand(self._recovery_points(target),
                          lambda point: (point,) if within(point.date) else ())

    @operation
    @requires("iterate_recovery_points")
    def list_recovery_points(
        self,
        target: BackupTarget,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> Op[list[BackupTargetRecoveryPoint]]:
        """List a target's recovery points (dates as in
        :meth:`iterate_recovery_points`), oldest first."""
        points = yield from collect(self.iterate_recovery_points.op(target, start_date, end_date))
        return sorted(points, key=attrgetter("date"))

    @not_supported
    def _recovery_points(self, target: BackupTarget) -> Iter[BackupTargetRecoveryPoint]:
        """Hook: every recovery point of ``target``, page by page (the base class
        keeps those within the dates asked for)."""
        raise NotImplementedError

    @operation
    @requires("iterate_recovery_points")
    def get_recovery_point(self, target: BackupTarget, id: str) -> Op[BackupTargetRecoveryPoint]:
        """Get a recovery point of a target by id; :class:`~overcast.errors.NotFound` if
        absent. (Generic: searches the list; drivers may look it up directly.)"""
        return (yield from find_by_id(self.iterate_recovery_points.op(target), id,
                                      RecoveryPointNotFound, driver=self))

    @operation
    @not_supported
    def recover_target(self, target: BackupTarget, recovery_point: BackupTargetRecoveryPoint,
                       path: str | None = None) -> Op[BackupTargetJob]:
        """Restore ``recovery_point`` onto ``target`` (``path``: only that part);
        return the restore job."""
        raise NotImplementedError

    @operation
    @not_supported
    def recover_target_out_of_place(self, target: BackupTarget,
                                    recovery_point: BackupTargetRecoveryPoint,
                                    recovery_target: BackupTarget,
                                    path: str | None = None) -> Op[BackupTargetJob]:
        """Restore ``target``'s ``recovery_point`` onto another target,
        ``recovery_target`` (``path``: only that part); return the restore job."""
        raise NotImplementedError

    # -- jobs -----------------------------------------------------------------------

    @iterator
    @not_supported
    def iterate_target_jobs(self, target: BackupTarget) -> Iter[BackupTargetJob]:
        """Iterate over a target's jobs, page by page."""
        raise NotImplementedError

    list_target_jobs = listing(iterate_target_jobs, "List a target's jobs.")

    @operation
    @requires("iterate_target_jobs")
    def get_target_job(self, target: BackupTarget, id: str) -> Op[BackupTargetJob]:
        """Get a job of a target by id; :class:`~overcast.errors.NotFound` if absent.
        (Generic: searches the list; drivers may look it up directly.)"""
        return (yield from find_by_id(self.iterate_target_jobs.op(target), id, BackupJobNotFound,
                                      driver=self))

    @operation
    @not_supported
    def create_target_job(
        self, target: BackupTarget, extra: Mapping[str, Any] | None = None
    ) -> Op[BackupTargetJob]:
        """Start a backup job of a target and return it."""
        raise NotImplementedError

    @operation
    @not_supported
    def resume_target_job(self, job: BackupTargetJob) -> Op[bool]:
        """Resume a suspended job (of ``job.target``)."""
        raise NotImplementedError

    @operation
    @not_supported
    def suspend_target_job(self, job: BackupTargetJob) -> Op[bool]:
        """Suspend a running job (of ``job.target``)."""
        raise NotImplementedError

    @operation
    @not_supported
    def cancel_target_job(self, job: BackupTargetJob) -> Op[bool]:
        """Cancel a job (of ``job.target``)."""
        raise NotImplementedError


class BackupDriverAsync(AsyncView[BackupDriver]):
    """``driver.aio`` of a backup driver: every operation, awaitable."""

    get_supported_target_types = aio(BackupDriver.get_supported_target_types)
    iterate_targets = aio(BackupDriver.iterate_targets)
    list_targets = aio(BackupDriver.list_targets)
    get_target = aio(BackupDriver.get_target)
    create_target = aio(BackupDriver.create_target)
    create_target_from_node = aio(BackupDriver.create_target_from_node)
    create_target_from_storage_container = aio(BackupDriver.create_target_from_storage_container)
    create_target_from_container = aio(BackupDriver.create_target_from_container)
    update_target = aio(BackupDriver.update_target)
    delete_target = aio(BackupDriver.delete_target)
    iterate_recovery_points = aio(BackupDriver.iterate_recovery_points)
    list_recovery_points = aio(BackupDriver.list_recovery_points)
    get_recovery_point = aio(BackupDriver.get_recovery_point)
    recover_target = aio(BackupDriver.recover_target)
    recover_target_out_of_place = aio(BackupDriver.recover_target_out_of_place)
    iterate_target_jobs = aio(BackupDriver.iterate_target_jobs)
    list_target_jobs = aio(BackupDriver.list_target_jobs)
    get_target_job = aio(BackupDriver.get_target_job)
    create_target_job = aio(BackupDriver.create_target_job)
    resume_target_job = aio(BackupDriver.resume_target_job)
    suspend_target_job = aio(BackupDriver.suspend_target_job)
    cancel_target_job = aio(BackupDriver.cancel_target_job)


BackupDriver.async_view = BackupDriverAsync
