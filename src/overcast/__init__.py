"""overcast: one typed, sync-and-async API over many clouds.

``import overcast`` loads no driver; :func:`get_driver` loads one on first use.

>>> import overcast
>>> Local = overcast.get_driver("storage", "local")
"""

from __future__ import annotations

from overcast._version import __version__

__all__ = ["__version__", "get_driver"]

# Not typing.TYPE_CHECKING: importing typing (re, enum, functools...) would
# double what ``import overcast`` costs; type checkers read this name the same.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from overcast.driver import BaseDriver


def get_driver(area: str, name: str) -> type[BaseDriver]:
    """Return the driver class ``name`` of ``area`` (``"storage"``, ``"compute"``, ...).

    Raises :class:`~overcast.errors.NotSupported` listing the known names when
    there is no such driver.
    """
    from overcast.registry import get_driver as _get

    return _get(area, name)


def __getattr__(name: str) -> Any:
    if name in {"errors", "runtime", "storage", "compute", "dns", "loadbalancer", "container",
                "backup"}:
        import importlib

        return importlib.import_module(f"overcast.{name}")
    raise AttributeError(name)
