"""Node prices: bundled snapshots per provider, Apache Libcloud's pricing
functions, and ``python -m overcast.pricing`` to rebuild the snapshots.

A table is what Libcloud's ``get_pricing(driver_type, driver_name)`` returns:
``{size_id: price}`` or ``{size_id: {region: price}}`` in US dollars per hour
(``gce_instances``: ``{family: {"cpu"|"ram": {"on_demand": {region:
{"price": p}}}}}``, per vCPU and per GiB). Where a table comes from, first
match wins:

1. what :func:`set_pricing` stored (Libcloud's in-memory cache);
2. a ``pricing_file_path`` given to the call, else Libcloud's override
   ``~/.libcloud/pricing.json`` when it exists;
3. the snapshot bundled with overcast (``overcast/pricing/data/<table>.json``:
   ``ec2_linux``, ``azure_linux``, ``gce_instances``), each a file of its own
   with its ``source`` and ``date``;
4. for other tables, the ``pricing.json`` an installed apache-libcloud ships.

A table is read on the first price asked for, never at import, and reading
one provider's never parses another's snapshot. Prices of 0.0 (Libcloud's
"no published price") read as unknown: ``None``, never free.

Commands (``python -m overcast.pricing --help``):

* ``refresh``: rebuild the snapshots from AWS's Price List Bulk API, Azure
  Retail Prices and the GCP Cloud Billing Catalog
  (:mod:`overcast.pricing.refresh`);
* ``from-libcloud PATH``: convert a Libcloud ``pricing.json`` into them
  (:mod:`overcast.pricing.convert`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from importlib import resources
from typing import Any
from typing import Final

from overcast.errors import InvalidInput

__all__ = [
    "CUSTOM_PRICING_FILE_PATH",
    "PRICING_DATA",
    "SNAPSHOTS",
    "VALID_PRICING_DRIVER_TYPES",
    "Snapshot",
    "clear_pricing_data",
    "get_pricing",
    "get_pricing_file_path",
    "get_size_price",
    "installed_pricing_file",
    "invalidate_module_pricing_cache",
    "invalidate_pricing_cache",
    "load_snapshot",
    "parse_snapshot",
    "price_date",
    "price_table",
    "pricing_file",
    "set_pricing",
    "size_prices",
]

#: Libcloud's override file: when it exists it is read instead of the snapshots.
CUSTOM_PRICING_FILE_PATH: Final = "~/.libcloud/pricing.json"
VALID_PRICING_DRIVER_TYPES: Final = ("compute", "storage")
#: The bundled snapshots: (driver type, Libcloud's table name) -> file in ``data/``.
SNAPSHOTS: Final[Mapping[tuple[str, str], str]] = {
    ("compute", "ec2_linux"): "ec2_linux.json",
    ("compute", "azure_linux"): "azure_linux.json",
    ("compute", "gce_instances"): "gce_instances.json",
}
#: Tables stored by :func:`set_pricing` (Libcloud's ``PRICING_DATA``).
PRICING_DATA: Final[dict[str, dict[str, Any]]] = {"compute": {}, "storage": {}}

_lock = threading.RLock()
#: Tables read from files: (file, driver type, driver name) -> table.
_read: dict[tuple[str, str, str], _Table] = {}
#: The dates of the tables :func:`get_pricing` cached in :data:`PRICING_DATA`.
_dates: dict[tuple[str, str], str | None] = {}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One bundled snapshot: its prices (a Libcloud table), where they come
    from (``source``), their date (ISO 8601) and their ``unit``."""

    table: str
    source: str
    date: str
    prices: Mapping[str, Any]
    unit: str = "USD per hour"

    def to_json(self) -> str:
        """The snapshot file's text (compact: one line, no indentation)."""
        return json.dumps({"table": self.table, "source": self.source, "date": self.date,
                           "unit": self.unit, "prices": self.prices},
                          separators=(",", ":"), sort_keys=False)


@dataclass(frozen=True, slots=True)
class _Table:
    prices: Mapping[str, Any]
    date: str | None


def parse_snapshot(text: str | bytes) -> Snapshot:
    """A snapshot from its file's text; :class:`ValueError` if it is not one
    (not JSON, or without ``source``, ``date`` or ``prices``)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a price snapshot is a JSON object")
    missing = [k for k in ("table", "source", "date", "prices") if k not in data]
    if missing:
        raise ValueError(f"a price snapshot needs {', '.join(missing)}")
    if not isinstance(data["prices"], dict) or not data["prices"]:
        raise ValueError("a price snapshot's prices are a non-empty object")
    return Snapshot(str(data["table"]), str(data["source"]), str(data["date"]), data["prices"],
                    str(data.get("unit") or "USD per hour"))


def load_snapshot(driver_name: str, driver_type: str = "compute") -> Snapshot:
    """The bundled snapshot of one table (parses that file only)."""
    filename = SNAPSHOTS.get((driver_type, driver_name))
    if filename is None:
        raise InvalidInput(f"no bundled price snapshot for {driver_type}.{driver_name}")
    text = resources.files("overcast.pricing").joinpath("data", filename).read_bytes()
    return parse_snapshot(text)


def installed_pricing_file() -> str | None:
    """The ``pricing.json`` an installed apache-libcloud ships, or None."""
    spec = importlib.util.find_spec("libcloud")
    if spec is not None and spec.origin:
        shipped = os.path.join(os.path.dirname(spec.origin), "data", "pricing.json")
        if os.path.isfile(shipped):
            return shipped
    return None


def pricing_file(path: str | os.PathLike[str] | None = None) -> str | None:
    """The pricing file (Libcloud's format) that overrides the snapshots:
    ``path``, else ``~/.libcloud/pricing.json`` when it exists; else None."""
    if path is not None:
        return os.fspath(path)
    custom = os.path.expanduser(CUSTOM_PRICING_FILE_PATH)
    return custom if os.path.isfile(custom) else None


def get_pricing_file_path(file_path: str | None = None) -> str | None:
    """Apache Libcloud's name: the override file if there is one, else the
    file an installed apache-libcloud ships (None if neither)."""
    return pricing_file(file_path) or installed_pricing_file()


def _check_type(driver_type: str) -> None:
    if driver_type not in VALID_PRICING_DRIVER_TYPES:
        raise InvalidInput(f"driver_type must be 'compute' or 'storage': {driver_type!r}")


def _from_file(path: str, driver_type: str, driver_name: str) -> _Table:
    key = (path, driver_type, driver_name)
    with _lock:
        found = _read.get(key)
        if found is None:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            updated = data.get("updated")
            date = (datetime.fromtimestamp(updated, UTC).date().isoformat()
                    if isinstance(updated, int | float) else None)
            found = _Table(data.get(driver_type, {}).get(driver_name) or {}, date)
            _read[key] = found
        return found


def _resolve(driver_type: str, driver_name: str,
             path: str | os.PathLike[str] | None = None) -> _Table:
    """The table and its date, from the first source that has it (see the module)."""
    _check_type(driver_type)
    if path is None:
        with _lock:
            stored = PRICING_DATA[driver_type].get(driver_name)
        if stored is not None:
            return _Table(stored, _dates.get((driver_type, driver_name)))
    override = pricing_file(path)
    if override is not None:
        return _from_file(override, driver_type, driver_name)
    if (driver_type, driver_name) in SNAPSHOTS:
        key = ("<snapshot>", driver_type, driver_name)
        with _lock:
            found = _read.get(key)
            if found is None:
                snapshot = load_snapshot(driver_name, driver_type)
                found = _read[key] = _Table(snapshot.prices, snapshot.date)
            return found
    shipped = installed_pricing_file()
    return _from_file(shipped, driver_type, driver_name) if shipped else _Table({}, None)


def get_pricing(driver_type: str, driver_name: str, pricing_file_path: str | None = None,
                cache_all: bool = False) -> dict[str, Any]:
    """Apache Libcloud's ``get_pricing``: the table of ``driver_name`` (size id
    to price, or to ``{region: price}``), cached in :data:`PRICING_DATA`.

    A table already cached is returned as is (as Libcloud does). Otherwise
    ``pricing_file_path``, else ``~/.libcloud/pricing.json``, else the bundled
    snapshot. ``cache_all`` caches every table of that file (of every bundled
    snapshot when none is given). Unknown tables are empty: Libcloud raises
    ``KeyError`` there."""
    _check_type(driver_type)
    with _lock:
        cached: dict[str, Any] | None = PRICING_DATA[driver_type].get(driver_name)
        if cached is not None:
            return cached
        found = _resolve(driver_type, driver_name, pricing_file_path)
        table = dict(found.prices)
        PRICING_DATA[driver_type][driver_name] = table
        _dates[(driver_type, driver_name)] = found.date
        if cache_all:
            _cache_all(pricing_file(pricing_file_path))
        return table


def _cache_all(path: str | None) -> None:
    if path is not None:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        for kind in VALID_PRICING_DRIVER_TYPES:
            for name, table in (data.get(kind) or {}).items():
                PRICING_DATA[kind].setdefault(name, table)
        return
    for kind, name in SNAPSHOTS:
        if name not in PRICING_DATA[kind]:
            found = _resolve(kind, name)
            PRICING_DATA[kind][name] = dict(found.prices)
            _dates[(kind, name)] = found.date


def set_pricing(driver_type: str, driver_name: str, pricing: dict[str, Any]) -> None:
    """Apache Libcloud's ``set_pricing``: use ``pricing`` as the table of
    ``driver_name`` from now on (until the cache is invalidated)."""
    _check_type(driver_type)
    with _lock:
        PRICING_DATA[driver_type][driver_name] = pricing
        _dates.pop((driver_type, driver_name), None)


def invalidate_pricing_cache() -> None:
    """Apache Libcloud's ``invalidate_pricing_cache``: forget every table read
    or set (the next price reads its file again)."""
    with _lock:
        for kind in VALID_PRICING_DRIVER_TYPES:
            PRICING_DATA[kind].clear()
        _read.clear()
        _dates.clear()


def clear_pricing_data() -> None:
    """Apache Libcloud's older name for :func:`invalidate_pricing_cache`."""
    invalidate_pricing_cache()


def invalidate_module_pricing_cache(driver_type: str, driver_name: str) -> None:
    """Apache Libcloud's ``invalidate_module_pricing_cache``: forget one table."""
    _check_type(driver_type)
    with _lock:
        PRICING_DATA[driver_type].pop(driver_name, None)
        _dates.pop((driver_type, driver_name), None)
        for key in [k for k in _read if k[1:] == (driver_type, driver_name)]:
            del _read[key]


def get_size_price(driver_type: str, driver_name: str, size_id: str | int,
                   region: str | None = None, *,
                   pricing_file_path: str | os.PathLike[str] | None = None) -> float | None:
    """The price of ``size_id`` (Apache Libcloud's ``get_size_price``): the
    ``driver_name`` table of ``driver_type`` (``"compute"`` or ``"storage"``),
    in ``region`` when the table is per region; None where there is no data,
    and where the data says 0.0 (no published price; Libcloud gives 0.0)."""
    table = _resolve(driver_type, driver_name, pricing_file_path).prices
    try:
        entry = table[str(size_id)]
        price = float(entry if region is None else entry[region])
    except (KeyError, TypeError, ValueError):
        return None
    return price or None


def size_prices(driver_type: str, driver_name: str, region: str | None = None,
                pricing_file_path: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """Every size's price in ``region`` from one table (for a driver filling
    ``NodeSize.price`` across a listing; drivers call it in a worker thread).
    Sizes without a price (or at 0.0) are left out."""
    table = _resolve(driver_type, driver_name, pricing_file_path).prices
    prices: dict[str, float] = {}
    for size_id, entry in table.items():
        value = entry if region is None else (entry.get(region)
                                              if isinstance(entry, Mapping) else None)
        if isinstance(value, int | float) and value:
            prices[size_id] = float(value)
    return prices


def price_date(driver_type: str, driver_name: str,
               pricing_file_path: str | os.PathLike[str] | None = None) -> str | None:
    """The date (ISO 8601) of the prices :func:`get_size_price` reads for
    that table: the snapshot's, or the day a Libcloud file was ``updated``;
    None for a table given to :func:`set_pricing` or a file without a date."""
    return _resolve(driver_type, driver_name, pricing_file_path).date


def price_table(driver_type: str, driver_name: str,
                pricing_file_path: str | os.PathLike[str] | None = None
                ) -> tuple[Mapping[str, Any], str | None]:
    """One table as prices are read from it, and its date (see :func:`price_date`)."""
    found = _resolve(driver_type, driver_name, pricing_file_path)
    return found.prices, found.date
