"""Backup: what is protected (targets), the runs that protect or restore it
(jobs), and the points in time it can be restored from (recovery points).

``get_driver(name)`` gives a driver class; plugins register under the entry-point
group ``overcast.drivers.backup``. The models and the base class are in
:mod:`overcast.backup.base`, loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from overcast.backup.compat import UNSERVED
from overcast.backup.compat import advice_for
from overcast.errors import NotSupported
from overcast.registry import Catalog
from overcast.registry import DriverGetter
from overcast.registry import DriverRef
from overcast.registry import lazy_exports

__all__ = ["DRIVERS", "BackupDriver", "BackupTarget", "BackupTargetJob",
    "BackupTargetJobStatusType", "BackupTargetRecoveryPoint", "BackupTargetType", "BaseDriver",
    "ConnectionUserAndKey", "Provider", "get_driver", "set_driver"]

_COMPAT = ("DRIVERS", "ConnectionUserAndKey", "set_driver")

if TYPE_CHECKING:
    from overcast.backup.base import BackupDriver
    from overcast.backup.base import BackupTarget
    from overcast.backup.base import BackupTargetJob
    from overcast.backup.base import BackupTargetJobStatusType
    from overcast.backup.base import BackupTargetRecoveryPoint
    from overcast.backup.base import BackupTargetType
    from overcast.backup.compat import DRIVERS
    from overcast.backup.compat import ConnectionUserAndKey
    from overcast.backup.compat import set_driver
    from overcast.backup.drivers.ebs import EBSBackupDriver
    from overcast.backup.drivers.openstack import OpenStackBackupDriver
    from overcast.backup.drivers.restic import ResticBackupDriver
    from overcast.driver import BaseDriver


class Provider(metaclass=Catalog):
    """The built-in backup drivers (plugins are found by their own names)."""

    RESTIC: DriverRef[ResticBackupDriver] = DriverRef("restic", "restic:ResticBackupDriver")
    EBS: DriverRef[EBSBackupDriver] = DriverRef("ebs", "ebs:EBSBackupDriver")
    OPENSTACK: DriverRef[OpenStackBackupDriver] = DriverRef(
        "openstack", "openstack:OpenStackBackupDriver")
    # Apache Libcloud's constants with no driver here: get_driver says what to use.
    DUMMY = UNSERVED["DUMMY"]
    DIMENSIONDATA = UNSERVED["DIMENSIONDATA"]
    GCE = UNSERVED["GCE"]


class _Getter(DriverGetter["BackupDriver"]):
    """``get_driver``, refusing Libcloud's unserved constants with advice."""

    def __call__(self, provider: str) -> type[Any]:
        advice = advice_for(str(provider))
        if advice is not None:
            raise NotSupported(advice)
        return super().__call__(provider)


get_driver: DriverGetter[BackupDriver] = _Getter("backup")

__getattr__ = lazy_exports({
    **dict.fromkeys(set(__all__) - {"BaseDriver", "Provider", "get_driver", *_COMPAT},
                    "overcast.backup.base"),
    **dict.fromkeys(_COMPAT, "overcast.backup.compat"),
    "BaseDriver": "overcast.driver:BaseDriver",
})
