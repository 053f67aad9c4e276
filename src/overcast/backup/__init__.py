"""Backup: what is protected (targets), the runs that protect or restore it
(jobs), and the points in time it can be restored from (recovery points).

``get_driver(name)`` gives a driver class; plugins register under the entry-point
group ``overcast.drivers.backup``. The models and the base class are in
:mod:`overcast.backup.base`, loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overcast.registry import Catalog
from overcast.registry import DriverGetter
from overcast.registry import DriverRef
from overcast.registry import lazy_exports

__all__ = ["BackupDriver", "BackupTarget", "BackupTargetJob", "BackupTargetJobStatusType",
    "BackupTargetRecoveryPoint", "BackupTargetType", "Provider", "get_driver"]

if TYPE_CHECKING:
    from overcast.backup.base import BackupDriver
    from overcast.backup.base import BackupTarget
    from overcast.backup.base import BackupTargetJob
    from overcast.backup.base import BackupTargetJobStatusType
    from overcast.backup.base import BackupTargetRecoveryPoint
    from overcast.backup.base import BackupTargetType
    from overcast.backup.drivers.restic import ResticBackupDriver


class Provider(metaclass=Catalog):
    """The built-in backup drivers (plugins are found by their own names)."""

    RESTIC: DriverRef[ResticBackupDriver] = DriverRef("restic", "restic:ResticBackupDriver")


get_driver: DriverGetter[BackupDriver] = DriverGetter("backup")

__getattr__ = lazy_exports(dict.fromkeys(set(__all__) - {"Provider", "get_driver"},
                                         "overcast.backup.base"))
