"""Backup: targets, jobs and recovery points, one API for every backup service.

>>> from overcast.backup import Provider, get_driver
>>> cls = get_driver("mybackup")  # doctest: +SKIP
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

__all__ = [
    "BackupDriver",
    "BackupTarget",
    "BackupTargetJob",
    "BackupTargetJobStatusType",
    "BackupTargetRecoveryPoint",
    "BackupTargetType",
    "Provider",
    "get_driver",
]

if TYPE_CHECKING:
    from overcast.backup.base import (
        BackupDriver,
        BackupTarget,
        BackupTargetJob,
        BackupTargetJobStatusType,
        BackupTargetRecoveryPoint,
        BackupTargetType,
    )


class Provider(StrEnum):
    """The built-in backup drivers (none yet; plugins are found by name)."""


def get_driver(provider: Provider | str) -> type[BackupDriver]:
    """The backup driver class for ``provider`` (a :class:`Provider` or a plugin name)."""
    from overcast.registry import get_driver as _get

    cls: Any = _get("backup", str(provider))
    driver: type[BackupDriver] = cls
    return driver


def __getattr__(name: str) -> Any:
    if name in {
        "BackupDriver",
        "BackupTarget",
        "BackupTargetJob",
        "BackupTargetJobStatusType",
        "BackupTargetRecoveryPoint",
        "BackupTargetType",
    }:
        from overcast.backup import base

        return getattr(base, name)
    raise AttributeError(name)
