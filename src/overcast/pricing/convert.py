"""Snapshots from Apache Libcloud's ``pricing.json`` (``python -m
overcast.pricing from-libcloud PATH``), so the bundled ones are reproducible.

Each table becomes one :class:`~overcast.pricing.Snapshot`, dated by
the file's ``updated`` field. Entries of 0.0 (Libcloud's "no published
price") are left out, so they read as unknown (``None``), never as free:

* ``ec2_linux``: ``{instance type: {region: price}}``;
* ``azure_linux``: ``{Libcloud key: {region: price}}``, keys of ARM sizes only
  (:func:`overcast.pricing.azure.arm_size_name` maps them back);
* ``gce_instances``: per family, the on-demand ``cpu`` (per vCPU; per instance
  for ``f1``/``g1``) and ``ram`` (per GiB) rates by region, in Libcloud's
  nesting (``{"n2d": {"cpu": {"on_demand": {"us-central1": {"price": p}}}}}``);
  custom-type tables (``n2_custom``, ...) are left out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Final

from overcast.pricing import Snapshot
from overcast.pricing import installed_pricing_file
from overcast.pricing.azure import is_key

__all__ = ["TABLES", "from_libcloud"]

#: The tables converted, in Libcloud's names.
TABLES: Final = ("ec2_linux", "azure_linux", "gce_instances")


def _priced(regions: Any) -> dict[str, float]:
    if not isinstance(regions, Mapping):
        return {}
    return {region: float(price) for region, price in sorted(regions.items())
            if isinstance(price, int | float) and price > 0}


def _by_region(table: Mapping[str, Any], keep: Any = None) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for key, regions in sorted(table.items()):
        if keep is not None and not keep(key):
            continue
        priced = _priced(regions)
        if priced:
            out[key] = priced
    return out


def gce_rates(table: Mapping[str, Any]) -> dict[str, Any]:
    """The on-demand rates of Libcloud's ``gce_instances`` table, 0.0 and
    custom-type families left out (Libcloud's nesting kept)."""
    out: dict[str, Any] = {}
    for family, resources in sorted(table.items()):
        if "_" in family or not isinstance(resources, Mapping):
            continue
        kept: dict[str, Any] = {}
        for resource in ("cpu", "ram"):
            on_demand = (resources.get(resource) or {}).get("on_demand") or {}
            prices = _priced({region: (entry or {}).get("price")
                              for region, entry in on_demand.items()})
            if prices:
                kept[resource] = {"on_demand": {r: {"price": p} for r, p in prices.items()}}
        if kept:
            out[family] = kept
    return out


def _label(path: str) -> str:
    shipped = installed_pricing_file()
    if shipped is not None and os.path.samefile(shipped, path):
        from importlib.metadata import version

        return f"Apache Libcloud {version('apache-libcloud')} libcloud/data/pricing.json"
    return f"a pricing.json in Apache Libcloud's format ({os.path.basename(path)})"


def from_libcloud(path: str | os.PathLike[str]) -> list[Snapshot]:
    """The snapshots of :data:`TABLES` from the Libcloud ``pricing.json`` at ``path``."""
    where = os.fspath(path)
    with open(where, encoding="utf-8") as f:
        data = json.load(f)
    updated = data.get("updated")
    if not isinstance(updated, int | float):
        raise ValueError(f"{where}: no 'updated' time: not a Libcloud pricing.json")
    date = datetime.fromtimestamp(updated, UTC).date().isoformat()
    compute = data.get("compute") or {}
    label = _label(where)
    snapshots = []
    for table in TABLES:
        if table not in compute:
            raise ValueError(f"{where}: no compute.{table} table")
        raw = compute[table]
        if table == "gce_instances":
            prices: dict[str, Any] = gce_rates(raw)
        else:
            prices = _by_region(raw, is_key if table == "azure_linux" else None)
        source = f"{label}, compute.{table} (Apache-2.0), updated {date}; 0.0 entries left out"
        snapshots.append(Snapshot(table, source, date, prices))
    return snapshots
