"""A fixture of Azure Retail Prices (``GET /api/retail/prices``, no auth).

Answers ``{"BillingCurrency", "CustomerEntityId", "CustomerEntityType",
"Items": [...], "NextPageLink", "Count"}`` in pages of :attr:`page_size`
items, the next page's link a full URL with ``$skip``, as the real API pages.
A ``$filter`` must be given; only the fixture's ``serviceName eq 'Virtual
Machines'`` filter is understood (any other answers 400). Beside each Linux
pay-as-you-go row, the items hold the rows a reader must leave out (Windows,
Spot, Low Priority, a reservation), at other prices.

Modes: ``repeat`` (page 2 links back to page 2: a link sent twice), ``cut``
(page 2 cut short under its full length).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from servers.pricing_http import Reply
from servers.pricing_http import Seen
from servers.pricing_http import serve

__all__ = ["PATH", "PRICES", "AzureRetailPrices"]

PATH = "/api/retail/prices"
#: Linux pay-as-you-go prices served: ARM size -> region -> USD per hour.
PRICES: dict[str, dict[str, float]] = {
    "Standard_D2s_v3": {"eastus": 0.096, "westeurope": 0.11},
    "Standard_B1s": {"eastus": 0.0104},
    "Standard_NC24ads_A100_v4": {"eastus": 3.673},
}


def _row(sku: str, region: str, price: float, *, product: str = "Virtual Machines DSv3 Series",
         sku_name: str | None = None, kind: str = "Consumption") -> dict[str, Any]:
    name = sku_name or sku.removeprefix("Standard_").replace("_", " ")
    return {
        "currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price,
        "unitPrice": price, "armRegionName": region, "location": region,
        "effectiveStartDate": "2024-01-01T00:00:00Z", "meterId": f"m-{sku}-{region}",
        "meterName": name, "productId": "DZH318Z0BQ4L", "skuId": "DZH318Z0BQ4L/00C1",
        "productName": product, "skuName": name, "serviceName": "Virtual Machines",
        "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute", "unitOfMeasure": "1 Hour",
        "type": kind, "isPrimaryMeterRegion": True, "armSkuName": sku,
    }


def items() -> list[dict[str, Any]]:
    """Every row the fixture serves, decoys among them."""
    rows = []
    for sku, regions in PRICES.items():
        for region, price in regions.items():
            short = sku.removeprefix("Standard_").replace("_", " ")
            rows += [
                _row(sku, region, price),
                _row(sku, region, price * 2, product="Virtual Machines DSv3 Series Windows"),
                _row(sku, region, price / 5, sku_name=f"{short} Spot"),
                _row(sku, region, price / 4, sku_name=f"{short} Low Priority"),
                _row(sku, region, price / 2, kind="Reservation"),
            ]
    return rows


class AzureRetailPrices:
    """The fixture; set :attr:`mode` to ``"repeat"`` or ``"cut"``."""

    def __init__(self, page_size: int = 4) -> None:
        self.page_size = page_size
        self.items = items()
        self.mode = ""
        self.seen: list[Seen] = []

    def route(self, path: str, query: dict[str, list[str]], base: str) -> Reply:
        """Answer one request."""
        if path != PATH:
            return Reply.json({"Error": {"Code": "NotFound", "Message": path}}, 404)
        wanted = (query.get("$filter") or [""])[0]
        if "serviceName eq 'Virtual Machines'" not in wanted:
            return Reply.json({"Error": {"Code": "BadRequest",
                                         "Message": f"unsupported $filter {wanted!r}"}}, 400)
        skip = int((query.get("$skip") or ["0"])[0])
        page = self.items[skip:skip + self.page_size]
        following = skip + self.page_size
        if self.mode == "repeat" and skip >= self.page_size:
            following = skip  # the same link again
        link = (f"{base}{PATH}?$filter={quote(wanted)}&$skip={following}"
                if following < len(self.items) else None)
        return Reply.json({"BillingCurrency": "USD", "CustomerEntityId": "Default",
                           "CustomerEntityType": "Retail", "Items": page,
                           "NextPageLink": link, "Count": len(page)},
                          cut=self.mode == "cut" and skip >= self.page_size)

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on a free port of 127.0.0.1; yields the base URL."""
        with serve(self.route, self.seen) as url:
            yield url
