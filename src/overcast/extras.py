"""Optional dependencies: imported on first use, and named with their extra when missing.

Drivers that need a library beyond overcast's core dependencies (dnspython,
libvirt-python, paramiko, httpx, ...) import it through :func:`require`, so a
user who lacks it is told exactly what to install::

    ImportError: the zonefile DNS driver needs dnspython: pip install "overcast[dns]"
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from overcast.errors import NotSupported

__all__ = ["MissingExtra", "install_hint", "require"]


class MissingExtra(NotSupported, ImportError):
    """An optional dependency is not installed; the message says which extra brings it.

    It is an :class:`ImportError` (what Python raises for a missing module) and a
    :class:`~overcast.errors.NotSupported` (what overcast raises when a driver
    cannot do something), so either ``except`` catches it.
    """

    def __init__(self, message: str, *, name: str | None = None, driver: Any = None) -> None:
        NotSupported.__init__(self, message, driver=driver)
        self.name = name
        self.path = None


def install_hint(extra: str) -> str:
    """The command that installs ``extra``: ``pip install "overcast[extra]"``."""
    return f'pip install "overcast[{extra}]"'


def require(
    module: str, extra: str, *, what: str, package: str | None = None, driver: Any = None
) -> ModuleType:
    """Import ``module`` (a dotted name) or raise :class:`MissingExtra` saying that
    ``what`` needs ``package`` (default: the module's top-level name) and the
    ``pip install`` of ``extra`` that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        needed = package or module.partition(".")[0]
        raise MissingExtra(
            f"{what} needs {needed}: {install_hint(extra)}", name=module, driver=driver
        ) from exc
