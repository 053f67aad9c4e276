"""Apache Libcloud's backup names that are not models or drivers: its
``DRIVERS`` table, ``set_driver``, ``ConnectionUserAndKey``,
and the providers overcast serves no driver for (``Provider.GCE``, ...), which
:func:`~overcast.backup.get_driver` refuses with advice."""

from __future__ import annotations

from typing import Any
from typing import Final

from overcast.compat import Unserved
from overcast.compat import _DriverTable
from overcast.errors import NotSupported
from overcast.registry import set_driver as _set_driver

__all__ = ["DRIVERS", "UNSERVED", "ConnectionUserAndKey", "advice_for", "set_driver"]

#: Libcloud's backup ``DRIVERS``: name -> ``(module, class name)``, read live.
DRIVERS: Final = _DriverTable("backup")

_USE_RESTIC = ("use Provider.RESTIC: restic backs up paths here, a node's files over SSH "
               "and storage containers, into any restic repository")

#: Libcloud's backup constants overcast serves no driver for: name -> the constant.
UNSERVED: Final[dict[str, Unserved]] = {
    "DUMMY": Unserved("dummy", "for tests, use Provider.RESTIC on a temporary directory"),
    "DIMENSIONDATA": Unserved("dimensiondata", "Dimension Data's cloud backup is retired; "
                              + _USE_RESTIC),
    "GCE": Unserved("gce", "overcast has no Google Compute Engine snapshot driver; "
                    + _USE_RESTIC),
}


def advice_for(value: str) -> str | None:
    """The NotSupported message for Libcloud's backup provider ``value``."""
    for name, constant in UNSERVED.items():
        if constant == value:
            return f"Apache Libcloud's backup Provider.{name} ({value!r}): {constant.advice}"
    return None


def set_driver(provider: str, module: str, klass: str) -> type:
    """Register a backup driver class under ``provider`` (Libcloud's ``set_driver``)."""
    return _set_driver("backup", provider, module, klass)


class ConnectionUserAndKey:
    """Libcloud's connection class: overcast drivers hold no connection object
    (their runners own the HTTP clients), so making one is NotSupported."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotSupported("overcast drivers have no connection object: give the "
                           "credentials to the driver's constructor")
