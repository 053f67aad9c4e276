"""Azure virtual machine prices (Linux, pay-as-you-go) by size and region.

The table is Libcloud's ``compute.azure_linux``: US dollars per hour by
Libcloud's size key and region name (``{"standardd2sv3": {"eastus": 0.096}}``),
from the bundled snapshot unless Libcloud's override file is present (see
:mod:`overcast.pricing`). Libcloud keys sizes by the ARM name lowercased
without separators; :func:`pricing_key` maps an ARM name to that key and
:func:`arm_size_name` maps a key back (``standardd2sv3`` -> ``Standard_D2s_v3``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from overcast.pricing import price_table

__all__ = ["TABLE", "arm_size_name", "price_date", "pricing_key", "size_price"]

#: Libcloud's name of the table.
TABLE: Final = "azure_linux"
_KEY: Final = re.compile(r"(basic|standard)([a-z]+?)(\d+)(?:-(\d+))?([a-z]*?)(v\d+)?(promo)?")


def pricing_key(size_name: str) -> str:
    """Libcloud's pricing key of an ARM size name (``Standard_D2s_v3`` -> ``standardd2sv3``)."""
    return re.sub(r"[^a-z0-9]", "", size_name.lower())


def is_key(key: str) -> bool:
    """Whether ``key`` has the shape of a Libcloud key of an ARM size."""
    return _KEY.fullmatch(key) is not None


def arm_size_name(key: str) -> str | None:
    """The ARM size name of a Libcloud pricing key (``standardd2sv3`` ->
    ``Standard_D2s_v3``, ``standardds3v2`` -> ``Standard_DS3_v2``); None for a
    key of another shape."""
    found = _KEY.fullmatch(key)
    if found is None:
        return None
    tier, family, number, constrained, suffix, version, promo = found.groups()
    name = f"{tier.capitalize()}_{family.upper()}{number}"
    if constrained:
        name += f"-{constrained}"
    name += suffix or ""
    if version:
        name += f"_{version}"
    if promo:
        name += "_Promo"
    return name


def price_date() -> str | None:
    """The date (ISO 8601) of the prices :func:`size_price` reads."""
    return price_table("compute", TABLE)[1]


def size_price(size_name: str, location: str | None) -> float | None:
    """US dollars per hour of ``size_name`` in ``location`` (a region name such
    as ``eastus``); None when there is no price for it."""
    if not location:
        return None
    entry = price_table("compute", TABLE)[0].get(pricing_key(size_name))
    if not isinstance(entry, Mapping):
        return None
    value = entry.get(location.lower().replace(" ", ""))
    return float(value) if isinstance(value, int | float) and value > 0 else None
