"""A fixture of the GCP Cloud Billing Catalog's SKU listing for Compute
Engine (``GET /v1/services/6F81-5844-456A/skus?key=API_KEY``).

Answers ``{"skus": [...], "nextPageToken": ""}`` in pages of
``pageSize`` (at most :attr:`page_size`), continued by ``pageToken``. A
missing or wrong ``key`` is 403 in Google's error shape, its message echoing
the request's URL (key included), so tests see that overcast never shows it.
SKUs are in the API's shape (``description``, ``category.resourceFamily``,
``resourceGroup``, ``usageType``, ``serviceRegions``,
``pricingInfo[0].pricingExpression.tieredRates[].unitPrice`` as ``units`` and
``nanos``), with the ones a reader must leave out (preemptible, commitments,
custom, sole tenancy).

Modes: ``repeat`` (page 2 hands back page 2's token), ``cut`` (page 2 cut
short under its full length).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from servers.pricing_http import Reply
from servers.pricing_http import Seen
from servers.pricing_http import serve

__all__ = ["API_KEY", "PATH", "RATES", "GcpBillingCatalog"]

PATH = "/v1/services/6F81-5844-456A/skus"
API_KEY = "AIzaSyFixtureKey-0123456789abcdef"
#: On-demand rates served: (family, "cpu"|"ram", region) -> USD per hour.
RATES: dict[tuple[str, str, str], float] = {
    ("n2d", "cpu", "us-central1"): 0.027502, ("n2d", "ram", "us-central1"): 0.003686,
    ("e2", "cpu", "us-central1"): 0.02181159, ("e2", "ram", "us-central1"): 0.00292353,
    ("n1", "cpu", "us-central1"): 0.031611, ("n1", "ram", "us-central1"): 0.004237,
    ("n2d", "cpu", "europe-west1"): 0.030253, ("n2d", "ram", "europe-west1"): 0.004055,
    ("f1", "cpu", "us-central1"): 0.0076, ("g1", "cpu", "us-central1"): 0.0257,
}
_WORDS = {"n2d": "N2D AMD Instance", "e2": "E2 Instance", "n1": "N1 Predefined Instance"}
_GROUPS = {"f1": ("F1Micro", "Micro Instance with burstable CPU"),
           "g1": ("G1Small", "Small Instance with 1 VCPU")}


def _sku(n: int, description: str, group: str, usage: str, region: str, price: float,
         unit: str = "h") -> dict[str, Any]:
    units, nanos = int(price), round((price - int(price)) * 1e9)
    return {
        "name": f"services/6F81-5844-456A/skus/F1X-{n:04d}", "skuId": f"F1X-{n:04d}",
        "description": description,
        "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute",
                     "resourceGroup": group, "usageType": usage},
        "serviceRegions": [region],
        "pricingInfo": [{"summary": "", "pricingExpression": {
            "usageUnit": unit, "displayQuantity": 1, "usageUnitDescription": "hour",
            "baseUnit": "s", "baseUnitConversionFactor": 3600,
            "tieredRates": [{"startUsageAmount": 0,
                             "unitPrice": {"currencyCode": "USD", "units": str(units),
                                           "nanos": nanos}}]},
            "currencyConversionRate": 1, "effectiveTime": "2025-03-01T00:00:00Z"}],
        "serviceProviderName": "Google",
    }


def skus() -> list[dict[str, Any]]:
    """Every SKU the fixture serves, decoys among them."""
    out: list[dict[str, Any]] = []
    for (family, resource, region), price in RATES.items():
        where = "Americas" if region.startswith("us") else "EMEA"
        if family in _GROUPS:
            group, words = _GROUPS[family]
            out.append(_sku(len(out), f"{words} running in {where}", group, "OnDemand", region,
                            price))
            out.append(_sku(len(out), f"Preemptible {words} running in {where}", group,
                            "Preemptible", region, price / 3))
            continue
        word = "Core" if resource == "cpu" else "Ram"
        group = "N1Standard" if family == "n1" else resource.upper()
        unit = "h" if resource == "cpu" else "GiBy.h"
        name = _WORDS[family]
        out += [
            _sku(len(out), f"{name} {word} running in {where}", group, "OnDemand", region,
                 price, unit),
            _sku(len(out), f"Spot Preemptible {name} {word} running in {where}", group,
                 "Preemptible", region, price / 4, unit),
            _sku(len(out), f"Commitment v1: {name.split()[0]} {word} in {where} for 1 Year",
                 group, "Commit1Yr", region, price / 2, unit),
            _sku(len(out), f"{name.split()[0]} Custom Instance {word} running in {where}",
                 group, "OnDemand", region, price * 1.05, unit),
            _sku(len(out), f"{name.split()[0]} Sole Tenancy Instance {word} running in {where}",
                 group, "OnDemand", region, price * 1.1, unit),
        ]
    return out


class GcpBillingCatalog:
    """The fixture; set :attr:`mode` to ``"repeat"`` or ``"cut"``."""

    def __init__(self, page_size: int = 7) -> None:
        self.page_size = page_size
        self.skus = skus()
        self.mode = ""
        self.seen: list[Seen] = []

    def route(self, path: str, query: dict[str, list[str]], base: str) -> Reply:
        """Answer one request."""
        if (query.get("key") or [""])[0] != API_KEY:
            return Reply.json({"error": {
                "code": 403, "status": "PERMISSION_DENIED",
                "message": f"The request is missing a valid API key: GET {base}{self._last}"}},
                403)
        if path != PATH:
            return Reply.json({"error": {"code": 404, "status": "NOT_FOUND",
                                         "message": path}}, 404)
        size = min(int((query.get("pageSize") or ["5000"])[0]), self.page_size)
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        following = start + size
        if self.mode == "repeat" and start >= size:
            following = start
        token = str(following) if following < len(self.skus) else ""
        return Reply.json({"skus": self.skus[start:start + size], "nextPageToken": token},
                          cut=self.mode == "cut" and start >= size)

    @property
    def _last(self) -> str:
        return self.seen[-1].url if self.seen else ""

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on a free port of 127.0.0.1; yields the base URL."""
        with serve(self.route, self.seen) as url:
            yield url
