"""Node prices: bundled snapshots per provider, Apache Libcloud's pricing
functions, and ``python -m overcast.pricing`` to rebuild the snapshots.

``get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1")`` reads, in
order: a table given to :func:`set_pricing`, a ``pricing_file_path`` or
Libcloud's override ``~/.libcloud/pricing.json``, then the snapshot bundled
with overcast (``ec2_linux``, ``azure_linux``, ``gce_instances``; each a file
of its own with its ``source`` and ``date``). Nothing is read at import and
nothing is ever downloaded by a price lookup; an unknown price is ``None``,
never 0. See :mod:`overcast.pricing.tables` and ``docs/pricing.md``.

Commands (``python -m overcast.pricing --help``):

* ``refresh``: rebuild the snapshots from AWS's Price List Bulk API, Azure
  Retail Prices and the GCP Cloud Billing Catalog
  (:mod:`overcast.pricing.refresh`);
* ``from-libcloud PATH``: convert a Libcloud ``pricing.json`` into them
  (:mod:`overcast.pricing.convert`).
"""

from __future__ import annotations

from overcast.pricing.tables import CUSTOM_PRICING_FILE_PATH
from overcast.pricing.tables import PRICING_DATA
from overcast.pricing.tables import SNAPSHOTS
from overcast.pricing.tables import VALID_PRICING_DRIVER_TYPES
from overcast.pricing.tables import Snapshot
from overcast.pricing.tables import clear_pricing_data
from overcast.pricing.tables import get_pricing
from overcast.pricing.tables import get_pricing_file_path
from overcast.pricing.tables import get_size_price
from overcast.pricing.tables import installed_pricing_file
from overcast.pricing.tables import invalidate_module_pricing_cache
from overcast.pricing.tables import invalidate_pricing_cache
from overcast.pricing.tables import load_snapshot
from overcast.pricing.tables import parse_snapshot
from overcast.pricing.tables import price_date
from overcast.pricing.tables import price_table
from overcast.pricing.tables import pricing_file
from overcast.pricing.tables import set_pricing
from overcast.pricing.tables import size_prices

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
