"""Checks of the arguments that the compute base class and deployment share."""

from __future__ import annotations

from typing import Any
from typing import Final

from overcast.errors import InvalidInput

__all__ = ["SSH_INTERFACES", "check_interface", "check_positive"]

#: The node attributes an SSH connection may take its address from.
SSH_INTERFACES: Final = ("public_ips", "private_ips")


def check_interface(ssh_interface: str, driver: Any) -> None:
    """InvalidInput unless ``ssh_interface`` is ``"public_ips"`` or ``"private_ips"``."""
    if ssh_interface not in SSH_INTERFACES:
        raise InvalidInput(
            f"ssh_interface must be 'public_ips' or 'private_ips': {ssh_interface!r}",
            driver=driver,
        )


def check_positive(name: str, value: float, driver: Any, *, zero: bool = False) -> None:
    """InvalidInput unless ``value`` is a positive number (or zero, with ``zero``)."""
    if not isinstance(value, int | float) or value < 0 or (value == 0 and not zero):
        kind = "non-negative" if zero else "positive"
        raise InvalidInput(f"{name} must be a {kind} number: {value!r}", driver=driver)
