"""Azure virtual machine prices from a bundled snapshot (Linux, pay-as-you-go).

The snapshot, ``data/azure_linux_prices.json``, holds US dollars per hour by
size and region, with its ``source`` and ``date``; it is read on the first
price asked for, never at import. It was converted from Apache Libcloud
3.9.1's ``data/pricing.json`` (``compute.azure_linux``, updated 2025-03-02,
Apache-2.0) by :func:`snapshot_from_libcloud`: entries of 0.0 (no published
price) are left out, so they read as unknown (``None``), never as free.

Libcloud keys sizes by the ARM name lowercased without separators
(``standardd2sv3``); :func:`pricing_key` maps an ARM name to that key and
:func:`arm_size_name` maps a key back (``standardd2sv3`` ->
``Standard_D2s_v3``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from importlib import resources
from typing import Any
from typing import Final

__all__ = ["SNAPSHOT", "arm_size_name", "price_date", "pricing_key", "size_price",
           "snapshot_from_libcloud"]

#: The snapshot file, beside this module.
SNAPSHOT: Final = "azure_linux_prices.json"
_KEY = re.compile(r"(basic|standard)([a-z]+?)(\d+)(?:-(\d+))?([a-z]*?)(v\d+)?(promo)?")
_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def pricing_key(size_name: str) -> str:
    """Libcloud's pricing key of an ARM size name (``Standard_D2s_v3`` -> ``standardd2sv3``)."""
    return re.sub(r"[^a-z0-9]", "", size_name.lower())


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


def _snapshot() -> Mapping[str, Any]:
    with _lock:
        if not _loaded:
            text = resources.files("overcast.compute").joinpath("data", SNAPSHOT).read_text(
                encoding="utf-8")
            _loaded.update(json.loads(text))
        return _loaded


def price_date() -> str:
    """The date of the snapshot's prices (ISO 8601)."""
    return str(_snapshot()["date"])


def size_price(size_name: str, location: str | None) -> float | None:
    """US dollars per hour of ``size_name`` in ``location`` (a region name such
    as ``eastus``); None when the snapshot has no price for it."""
    if not location:
        return None
    entry = _snapshot()["prices"].get(pricing_key(size_name))
    if not isinstance(entry, Mapping):
        return None
    value = entry.get(location.lower().replace(" ", ""))
    return float(value) if isinstance(value, int | float) and value > 0 else None


def snapshot_from_libcloud(pricing_json: str, date: str) -> dict[str, Any]:
    """The snapshot's content from a Libcloud ``pricing.json`` (its
    ``azure_linux`` table; 0.0 and low-priority entries left out)."""
    with open(pricing_json, encoding="utf-8") as f:
        table = json.load(f)["compute"]["azure_linux"]
    prices = {
        key: {region: price for region, price in sorted(regions.items()) if price}
        for key, regions in sorted(table.items())
        if isinstance(regions, dict) and _KEY.fullmatch(key)
    }
    return {
        "source": "Apache Libcloud 3.9.1 libcloud/data/pricing.json, compute.azure_linux "
                  "(Apache-2.0); keys are Libcloud's (overcast.compute.azure_prices.pricing_key)",
        "date": date,
        "unit": "USD per hour",
        "prices": {key: regions for key, regions in prices.items() if regions},
    }
