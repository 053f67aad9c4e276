"""Rebuild the price snapshots from the providers' price APIs
(``python -m overcast.pricing refresh``).

* **AWS** Price List Bulk API: ``/offers/v1.0/aws/AmazonEC2/current/region_index.json``,
  then each region's offer file, read as it streams
  (:class:`~overcast.pricing.awsoffer.OfferReader`): Linux, Shared tenancy,
  no pre-installed software, Used capacity, OnDemand USD per hour. No auth.
* **Azure** Retail Prices (``https://prices.azure.com/api/retail/prices``, no
  auth): ``$filter`` on Virtual Machines consumption prices, paged by
  ``NextPageLink``; Windows, Spot and Low Priority meters left out;
  ``armSkuName`` x ``armRegionName`` -> ``retailPrice``, keyed as Libcloud keys
  Azure sizes (:func:`overcast.pricing.azure.pricing_key`).
* **GCP** Cloud Billing Catalog (``/v1/services/6F81-5844-456A/skus``, an API
  key), paged by ``nextPageToken``: the on-demand per-vCPU and per-GiB SKUs of
  each machine family by region (``f1``/``g1``: per instance).

Requests go through overcast's runtime (:class:`PriceApi`, an
:class:`~overcast.runtime.api.HttpApi`): proxies, retries, timeouts and
redaction apply, and the API key is a :class:`~overcast.runtime.redact.Secret`
that no message shows. Pages go through the shared pager, so a page link or
token sent twice raises :class:`~overcast.errors.ProviderError`. Each snapshot
is written to a temporary file beside the old one and renamed into place only
once complete and parsed back (:func:`write_snapshot`): a failed or truncated
download leaves the old snapshot as it was.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from importlib import resources
from typing import Any
from typing import ClassVar
from typing import Final
from urllib.parse import urlsplit

from overcast.driver import AsyncView
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.pricing import SNAPSHOTS
from overcast.pricing import Snapshot
from overcast.pricing import parse_snapshot
from overcast.pricing.awsoffer import OfferReader
from overcast.pricing.azure import pricing_key
from overcast.runtime.api import HttpApi
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import Pipe
from overcast.runtime.effects import Request
from overcast.runtime.files import AtomicFile
from overcast.runtime.ops import collect
from overcast.runtime.options import check_endpoint
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret
from overcast.runtime.transports.base import Timeouts

__all__ = [
    "AWS_URL",
    "AZURE_FILTER",
    "AZURE_URL",
    "GCP_COMPUTE_SERVICE",
    "GCP_URL",
    "PriceApi",
    "aws_snapshot",
    "azure_snapshot",
    "default_directory",
    "gcp_snapshot",
    "write_snapshot",
]

AWS_URL: Final = "https://pricing.us-east-1.amazonaws.com"
AWS_INDEX: Final = "/offers/v1.0/aws/AmazonEC2/current/region_index.json"
AZURE_URL: Final = "https://prices.azure.com/api/retail/prices"
AZURE_FILTER: Final = "serviceName eq 'Virtual Machines' and priceType eq 'Consumption'"
GCP_URL: Final = "https://cloudbilling.googleapis.com"
#: Compute Engine's service id in the Cloud Billing Catalog.
GCP_COMPUTE_SERVICE: Final = "6F81-5844-456A"

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def default_directory() -> str:
    """Where the bundled snapshots live (``overcast/pricing/data``)."""
    return str(resources.files("overcast.pricing").joinpath("data"))


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _dated_today(table: str, source: str, prices: dict[str, Any]) -> Op[Snapshot]:
    """Operation: a snapshot of ``prices`` dated today (APIs that give no date of their own)."""
    date: str = yield Call(_today)
    return Snapshot(table, source, date, prices)


class PriceApi(HttpApi):
    """A price API at ``endpoint``, through overcast's runtime (no credentials,
    or an API key sent as the ``key`` query parameter, as Google's APIs take it)."""

    name: ClassVar[str] = "pricing"
    label: ClassVar[str] = "price list"
    async_view: ClassVar[type[AsyncView[Any]]] = AsyncView
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}

    def __init__(self, endpoint: str, *, api_key: str | Secret | None = None,
                 **options: Any) -> None:
        options.setdefault("timeout", Timeouts(total=None))  # a region's file takes minutes
        super().__init__(**options)
        self.endpoint = check_endpoint(endpoint, driver=self)
        self._api_key = None if api_key is None else Secret(api_key)

    def _sign(self, request: Request, now: float) -> Request:
        """Add the API key (``key=``), if any."""
        if self._api_key is None:
            return request
        params = request.params
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        return Request(request.method, request.url, request.headers,
                       (*pairs, ("key", self._api_key.reveal())), request.body, request.stream,
                       request.idempotent, request.timeout, request.sign)

    def _same_site(self, link: str) -> str:
        """``link`` if it points at this API's scheme and host; else ProviderError
        (a page link elsewhere is not followed)."""
        def site(url: str) -> tuple[str, str | None, int | None]:
            parts = urlsplit(url)
            try:
                port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
            except ValueError:
                port = None
            return parts.scheme, parts.hostname, port

        if site(link) != site(self.endpoint):  # Azure writes the port: prices.azure.com:443
            raise ProviderError(f"{self.label}: a next-page link off "
                                f"{urlsplit(self.endpoint).netloc}: {urlsplit(link).netloc!r}",
                                driver=self)
        return link


# -- AWS -------------------------------------------------------------------------------


def aws_snapshot(api: PriceApi, regions: list[str] | None = None,
                 progress: Progress = _stderr) -> Op[Snapshot]:
    """Operation: the ``ec2_linux`` snapshot from the Price List Bulk API
    (``regions``: only those; default every region the index lists)."""
    index = yield from api._json("GET", AWS_INDEX, what="region_index.json")
    listed = index.get("regions") if isinstance(index, Mapping) else None
    if not isinstance(listed, Mapping) or not listed:
        raise ProviderError("AWS region_index.json lists no regions", driver=api)
    if regions:
        unknown = sorted(set(regions) - set(listed))
        if unknown:
            raise InvalidInput(f"regions not in AWS's index: {', '.join(unknown)}")
    prices: dict[str, dict[str, float]] = {}
    for code in sorted(regions or listed):
        entry = listed[code]
        url = entry.get("currentVersionUrl") if isinstance(entry, Mapping) else None
        if not isinstance(url, str) or not url.startswith("/"):
            raise ProviderError(f"AWS region_index.json: no currentVersionUrl for {code}",
                                driver=api)
        resp = yield from api._send("GET", url, stream=True, what=f"the offer file of {code}")
        declared = resp.headers.get("Content-Length")
        reader = OfferReader(code, int(declared) if declared and declared.isdigit() else None)
        if resp.stream is not None:
            yield Pipe(resp.stream, reader)
        else:
            reader.write(resp.body)
        try:
            found = reader.finish()
        except ValueError as exc:
            raise ProviderError(str(exc), driver=api) from None
        for instance_type, price in found.items():
            prices.setdefault(instance_type, {})[code] = price
        yield Call(progress, f"aws: {code}: {len(found)} instance types priced "
                             f"({reader.received} bytes read)")
    date = str(index.get("publicationDate") or "")[:10] or (yield Call(_today))
    return Snapshot(
        "ec2_linux",
        f"AWS Price List Bulk API ({api.endpoint}{AWS_INDEX}): Linux, Shared tenancy, no "
        "pre-installed software, Used capacity, OnDemand, USD per hour",
        date,
        {k: dict(sorted(v.items())) for k, v in sorted(prices.items())},
    )


# -- Azure -----------------------------------------------------------------------------


def _azure_row(row: Any) -> tuple[str, str, float, bool] | None:
    """(size key, region, price, primary meter) of a Linux pay-as-you-go VM
    price row; None for any other row."""
    if not isinstance(row, Mapping):
        return None
    sku = row.get("armSkuName")
    region = row.get("armRegionName")
    price = row.get("retailPrice")
    if not sku or not region or not isinstance(price, int | float) or price <= 0:
        return None
    if row.get("type", "Consumption") != "Consumption" or row.get("currencyCode", "USD") != "USD":
        return None
    if row.get("unitOfMeasure", "1 Hour") != "1 Hour":
        return None
    words = " ".join(str(row.get(k) or "") for k in ("productName", "skuName", "meterName"))
    if re.search(r"Windows|Spot|Low Priority|Dedicated Host", words):
        return None
    return pricing_key(str(sku)), str(region), float(price), bool(row.get("isPrimaryMeterRegion"))


def azure_snapshot(api: PriceApi, progress: Progress = _stderr) -> Op[Snapshot]:
    """Operation: the ``azure_linux`` snapshot from Azure Retail Prices."""

    def fetch(link: Cursor | None) -> Op[Page[tuple[str, str, float, bool]]]:
        if link is None:
            data = yield from api._json("GET", "", params={"$filter": AZURE_FILTER},
                                        what="retail prices")
        else:
            data = yield from api._json("GET", api._same_site(str(link)), what="retail prices")
        if not isinstance(data, Mapping) or not isinstance(data.get("Items"), list):
            raise ProviderError("Azure Retail Prices: an answer without Items", driver=api)
        rows = [r for r in map(_azure_row, data["Items"]) if r is not None]
        return Page.link(rows, data.get("NextPageLink"))

    rows = yield from collect(paginate(fetch, what="GET retail prices", driver=api))
    prices: dict[str, dict[str, float]] = {}
    primary: set[tuple[str, str]] = set()
    for key, region, price, is_primary in rows:
        regions = prices.setdefault(key, {})
        if region not in regions or (is_primary and (key, region) not in primary):
            regions[region] = price
        if is_primary:
            primary.add((key, region))
    yield Call(progress, f"azure: {len(rows)} price rows, {len(prices)} sizes priced")
    return (yield from _dated_today(
        "azure_linux",
        f"Azure Retail Prices ({api.endpoint}, $filter={AZURE_FILTER}): Linux "
        "pay-as-you-go (Windows, Spot and Low Priority left out), retailPrice USD per hour; "
        "keys are Libcloud's (overcast.pricing.azure.pricing_key)",
        {k: dict(sorted(v.items())) for k, v in sorted(prices.items())},
    ))


# -- GCP -------------------------------------------------------------------------------

#: A SKU description naming a predefined family's core or RAM
#: ("N2D AMD Instance Core running in Americas").
_GCP_RESOURCE: Final = re.compile(
    r"(?P<family>[A-Z]\d+[A-Z]?) (?:AMD |Arm |Intel )?"
    r"(?:Predefined |Memory-optimized |Compute-optimized )?Instance "
    r"(?P<resource>Core|Ram) running in ")
_GCP_OTHER: Final = {"Compute optimized": "c2", "Memory-optimized Instance": "m1"}
_GCP_FIXED: Final = {"F1Micro": "f1", "G1Small": "g1"}


def _unit_price(sku: Mapping[str, Any]) -> float | None:
    try:
        rates = sku["pricingInfo"][0]["pricingExpression"]["tieredRates"]
        rate = next(r for r in rates if float(r.get("startUsageAmount") or 0) == 0)
        unit = rate["unitPrice"]
        if unit.get("currencyCode", "USD") != "USD":
            return None
        return int(unit.get("units") or 0) + int(unit.get("nanos") or 0) / 1e9
    except (KeyError, IndexError, StopIteration, TypeError, ValueError):
        return None


def _gcp_rate(sku: Any) -> tuple[str, str, float, list[str]] | None:
    """(family, "cpu" or "ram", price, regions) of an on-demand per-vCPU,
    per-GiB or per-instance (f1, g1) SKU; None for any other SKU."""
    if not isinstance(sku, Mapping):
        return None
    category = sku.get("category") or {}
    if category.get("usageType") != "OnDemand" or category.get("resourceFamily") != "Compute":
        return None
    description = str(sku.get("description") or "")
    if re.search(r"Custom|Sole Tenancy|Premium|Commitment|Spot|Preemptible", description):
        return None
    group = str(category.get("resourceGroup") or "")
    family: str | None = _GCP_FIXED.get(group)
    resource = "cpu"
    if family is None:
        found = _GCP_RESOURCE.match(description)
        if found is not None:
            family, word = found["family"].lower(), found["resource"]
        else:
            other = next((f for text, f in _GCP_OTHER.items()
                          if description.startswith(f"{text} Core running in ")
                          or description.startswith(f"{text} Ram running in ")), None)
            if other is None:
                return None
            family, word = other, "Core" if " Core " in description else "Ram"
        resource = "cpu" if word == "Core" else "ram"
        if group and group not in ("CPU", "RAM", "N1Standard"):
            return None
    price = _unit_price(sku)
    regions = [str(r) for r in sku.get("serviceRegions") or () if r != "global"]
    if price is None or price <= 0 or not regions:
        return None
    return family, resource, price, regions


def gcp_snapshot(api: PriceApi, progress: Progress = _stderr) -> Op[Snapshot]:
    """Operation: the ``gce_instances`` snapshot from the Cloud Billing Catalog."""
    path = f"/v1/services/{GCP_COMPUTE_SERVICE}/skus"

    def fetch(token: Cursor | None) -> Op[Page[tuple[str, str, float, list[str]]]]:
        params = {"pageSize": "5000", **({"pageToken": str(token)} if token else {})}
        data = yield from api._json("GET", path, params=params, what="billing SKUs")
        if not isinstance(data, Mapping):
            raise ProviderError("Cloud Billing Catalog: an answer that is not an object",
                                driver=api)
        rates = [r for r in map(_gcp_rate, data.get("skus") or []) if r is not None]
        return Page.token(rates, data.get("nextPageToken"))

    rates = yield from collect(paginate(fetch, what=f"GET {path}", driver=api))
    table: dict[str, dict[str, dict[str, dict[str, dict[str, float]]]]] = {}
    for family, resource, price, regions in rates:
        on_demand = table.setdefault(family, {}).setdefault(resource, {"on_demand": {}})
        for region in regions:
            on_demand["on_demand"].setdefault(region, {"price": price})
    yield Call(progress, f"gcp: {len(rates)} SKUs, {len(table)} machine families priced")
    return (yield from _dated_today(
        "gce_instances",
        f"GCP Cloud Billing Catalog ({api.endpoint}{path}): on-demand per-vCPU ('cpu') and "
        "per-GiB ('ram') rates of predefined machine families by region (f1, g1: per "
        "instance), USD per hour; in Libcloud's gce_instances nesting",
        {f: {r: {"on_demand": dict(sorted(v["on_demand"].items()))}
             for r, v in sorted(res.items())} for f, res in sorted(table.items())},
    ))


# -- writing ---------------------------------------------------------------------------


def write_snapshot(snapshot: Snapshot, directory: str | os.PathLike[str]) -> str:
    """Write ``snapshot`` into ``directory`` under its table's file name,
    atomically: a temporary file beside the old one, parsed back, then renamed
    over it. On any failure the old file stays as it was. Returns the path."""
    filename = SNAPSHOTS.get(("compute", snapshot.table))
    if filename is None:
        raise InvalidInput(f"no snapshot file for table {snapshot.table!r}")
    path = os.path.join(os.fspath(directory), filename)
    text = snapshot.to_json().encode("utf-8")
    parse_snapshot(text)  # refuse to write what would not load
    target = AtomicFile(path, overwrite=True)
    try:
        target.write(text)
        target.commit()
    except BaseException:
        target.discard()
        raise
    return path
