"""Apache Libcloud's backup names in overcast.backup: every name of
libcloud.backup.{types,providers,base} importable, the constants overcast has
no driver for refused with advice, and the driver-level alias."""

from __future__ import annotations

import importlib

import pytest

import overcast.backup
from overcast.backup import DRIVERS
from overcast.backup import BackupTargetType
from overcast.backup import ConnectionUserAndKey
from overcast.backup import Provider
from overcast.backup import get_driver
from overcast.backup.base import BackupDriver
from overcast.errors import NotSupported


@pytest.mark.parametrize("module", ["libcloud.backup.types", "libcloud.backup.providers",
                                    "libcloud.backup.base"])
def test_every_libcloud_backup_name_is_importable(module: str) -> None:
    theirs = importlib.import_module(module)
    missing = [name for name in dir(theirs) if not name.startswith("_")
               and not hasattr(overcast.backup, name)]
    assert missing == []


def test_libcloud_target_types_are_all_here() -> None:
    from libcloud.backup.types import BackupTargetType as Theirs

    for name in vars(Theirs):
        if name.isupper():
            assert BackupTargetType[name] == getattr(Theirs, name).lower()


@pytest.mark.parametrize(("name", "advice"), [("GCE", "Provider.RESTIC"),
                                              ("DIMENSIONDATA", "Provider.RESTIC")])
def test_unserved_libcloud_providers_say_what_to_use(name: str, advice: str) -> None:
    constant = getattr(Provider, name)
    with pytest.raises(NotSupported, match=advice):
        get_driver(constant)
    assert name.lower() == str(constant)
    assert str(constant) not in [str(ref) for ref in Provider]


def test_drivers_table_and_connection_class() -> None:
    assert DRIVERS["restic"] == ("overcast.backup.drivers.restic", "ResticBackupDriver")
    with pytest.raises(NotSupported, match="constructor"):
        ConnectionUserAndKey("key", "secret")


def test_create_target_from_container_is_an_alias() -> None:
    assert "create_target_from_container" in vars(BackupDriver)
    restic = get_driver(Provider.RESTIC)("/nonexistent/repository", "password")
    assert restic.supports("create_target_from_container")
    assert restic.supports("create_target_from_storage_container")
