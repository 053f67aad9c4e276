"""Node prices from a pricing file in Apache Libcloud's ``pricing.json`` format.

The file is ``{"compute": {driver_name: {size_id: price | {region: price}}},
"storage": {...}, "updated": <epoch>}``, prices in US dollars per hour. It is
read from, in order: the path given, ``~/.libcloud/pricing.json`` (Libcloud's
own override), then the file an installed ``apache-libcloud`` ships. Nothing is
downloaded: without a file, every price is None.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Mapping
from typing import Any
from typing import Final

from overcast.errors import InvalidInput

__all__ = ["CUSTOM_PRICING_FILE_PATH", "get_size_price", "installed_pricing_file",
           "pricing_file", "size_prices"]

CUSTOM_PRICING_FILE_PATH: Final = "~/.libcloud/pricing.json"
VALID_PRICING_DRIVER_TYPES: Final = ("compute", "storage")

_cache: dict[tuple[str, str, str], Mapping[str, Any]] = {}
_lock = threading.Lock()


def pricing_file(path: str | os.PathLike[str] | None = None) -> str | None:
    """The pricing file to read: ``path``, else Libcloud's override, else the
    one an installed apache-libcloud ships; None when there is none."""
    if path is not None:
        return os.fspath(path)
    custom = os.path.expanduser(CUSTOM_PRICING_FILE_PATH)
    if os.path.isfile(custom):
        return custom
    return installed_pricing_file()


def installed_pricing_file() -> str | None:
    """The pricing file an installed apache-libcloud ships, or None."""
    spec = importlib.util.find_spec("libcloud")
    if spec is not None and spec.origin:
        shipped = os.path.join(os.path.dirname(spec.origin), "data", "pricing.json")
        if os.path.isfile(shipped):
            return shipped
    return None


def _table(driver_type: str, driver_name: str, path: str | None) -> Mapping[str, Any]:
    if driver_type not in VALID_PRICING_DRIVER_TYPES:
        raise InvalidInput(f"driver_type must be 'compute' or 'storage': {driver_type!r}")
    found = pricing_file(path)
    if found is None:
        return {}
    key = (found, driver_type, driver_name)
    with _lock:
        cached = _cache.get(key)
    if cached is None:
        with open(found, encoding="utf-8") as f:
            data = json.load(f)
        cached = data.get(driver_type, {}).get(driver_name) or {}
        with _lock:
            _cache[key] = cached
    return cached


def get_size_price(driver_type: str, driver_name: str, size_id: str | int,
                   region: str | None = None, *,
                   pricing_file_path: str | os.PathLike[str] | None = None) -> float | None:
    """The price of ``size_id`` (Apache Libcloud's ``get_size_price``): the
    ``driver_name`` table of ``driver_type`` (``"compute"`` or ``"storage"``),
    in ``region`` when the table is per region; None where there is no data,
    and where the file says 0.0 (no published price; Libcloud gives 0.0)."""
    table = _table(driver_type, driver_name, None if pricing_file_path is None
                   else os.fspath(pricing_file_path))
    try:
        entry = table[str(size_id)]
        price = float(entry if region is None else entry[region])
    except (KeyError, TypeError, ValueError):
        return None
    # pricing.json holds 0.0 where no price is published (a size not sold in a
    # region): unknown, not free.
    return price or None


def size_prices(driver_type: str, driver_name: str, region: str | None = None,
                pricing_file_path: str | None = None) -> dict[str, float]:
    """Every size's price in ``region`` from one table (for a driver filling
    ``NodeSize.price`` across a listing; read in a worker thread by drivers)."""
    table = _table(driver_type, driver_name, pricing_file_path)
    prices: dict[str, float] = {}
    for size_id, entry in table.items():
        value = entry if region is None else (entry.get(region)
                                              if isinstance(entry, Mapping) else None)
        if isinstance(value, int | float) and value:
            prices[size_id] = float(value)
    return prices
