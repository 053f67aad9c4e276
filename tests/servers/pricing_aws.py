"""A fixture of the AWS Price List Bulk API for EC2 (no auth).

``GET /offers/v1.0/aws/AmazonEC2/current/region_index.json`` lists the
regions, each with its ``currentVersionUrl``; each region's offer file is
written to disk in the real file's shape (``products`` by SKU with their
``attributes``, ``terms.OnDemand`` and ``terms.Reserved`` by SKU, then
``attributesList``), pretty-printed as AWS serves it. Beside each priced
Linux instance it holds the products a reader must leave out (Windows, RHEL,
Dedicated tenancy, SQL pre-installed, a capacity reservation), at other
prices; ``noise`` adds that many more unpriced products (to make a file of
realistic size: :func:`write_offer` with ``noise=100_000`` is about 200 MB).

Modes: ``cut`` (a region's file cut short: the full length announced, half
sent, the connection closed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO
from typing import Any

from servers.pricing_http import Reply
from servers.pricing_http import Seen
from servers.pricing_http import serve

__all__ = ["INDEX", "REGIONS", "AwsPriceList", "write_offer"]

INDEX = "/offers/v1.0/aws/AmazonEC2/current/region_index.json"
VERSION = "20250301000000"
PUBLICATION = "2025-03-01T00:00:00Z"
#: Linux on-demand prices the fixture serves (USD per hour); 0.0 is "no price".
REGIONS: dict[str, dict[str, float]] = {
    "us-east-1": {"t3.micro": 0.0104, "m5.large": 0.096, "c5.xlarge": 0.17, "a1.metal": 0.0},
    "eu-central-1": {"t3.micro": 0.012, "m5.large": 0.115},
}
_NAMES = {"us-east-1": "US East (N. Virginia)", "eu-central-1": "EU (Frankfurt)"}
_DUMP = {"indent": 2, "separators": (",", " : ")}
#: Products that are not a Linux, Shared, no-software, Used on-demand instance.
_DECOYS = (
    ("Windows", {"operatingSystem": "Windows", "licenseModel": "No License required",
                 "operation": "RunInstances:0002"}),
    ("RHEL", {"operatingSystem": "RHEL", "operation": "RunInstances:0010"}),
    ("Dedicated", {"tenancy": "Dedicated"}),
    ("SQL", {"preInstalledSw": "SQL Std", "operation": "RunInstances:0004"}),
    ("Reserved", {"capacitystatus": "AllocatedCapacityReservation"}),
)


def _product(sku: str, region: str, instance_type: str, **changes: str) -> dict[str, Any]:
    attributes = {
        "servicecode": "AmazonEC2", "location": _NAMES.get(region, region),
        "locationType": "AWS Region", "instanceType": instance_type,
        "currentGeneration": "Yes", "instanceFamily": "General purpose", "vcpu": "2",
        "physicalProcessor": "Intel Xeon Platinum 8175", "clockSpeed": "3.1 GHz",
        "memory": "8 GiB", "storage": "EBS only", "networkPerformance": "Up to 10 Gigabit",
        "processorArchitecture": "64-bit", "tenancy": "Shared", "operatingSystem": "Linux",
        "licenseModel": "No License required", "usagetype": f"BoxUsage:{instance_type}",
        "operation": "RunInstances", "availabilityzone": "NA", "capacitystatus": "Used",
        "classicnetworkingsupport": "false", "dedicatedEbsThroughput": "Up to 2120 Mbps",
        "ecu": "10", "enhancedNetworkingSupported": "Yes", "gpuMemory": "NA",
        "intelAvxAvailable": "Yes", "intelAvx2Available": "Yes",
        "intelTurboAvailable": "Yes", "marketoption": "OnDemand", "normalizationSizeFactor": "4",
        "preInstalledSw": "NA", "processorFeatures": "Intel AVX; Intel AVX2; Intel Turbo",
        "regionCode": region, "servicename": "Amazon Elastic Compute Cloud",
        "vpcnetworkingsupport": "true",
    }
    attributes.update(changes)
    return {"sku": sku, "productFamily": "Compute Instance", "attributes": attributes}


def _on_demand(sku: str, price: float, instance_type: str) -> dict[str, Any]:
    offer = f"{sku}.JRTCKXETXF"
    return {offer: {
        "offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2025-03-01T00:00:00Z",
        "priceDimensions": {f"{offer}.6YS6EN2CT7": {
            "rateCode": f"{offer}.6YS6EN2CT7",
            "description": f"${price:.4f} per On Demand Linux {instance_type} Instance Hour",
            "beginRange": "0", "endRange": "Inf", "unit": "Hrs",
            "pricePerUnit": {"USD": f"{price:.10f}"}, "appliesTo": []}},
        "termAttributes": {}}}


def _reserved(sku: str, price: float) -> dict[str, Any]:
    terms = {}
    for code, length in (("4NA7Y494T4", "1yr"), ("7NE97W5U4E", "3yr"), ("CUZHX8X6JH", "1yr")):
        offer = f"{sku}.{code}"
        terms[offer] = {
            "offerTermCode": code, "sku": sku, "effectiveDate": "2025-03-01T00:00:00Z",
            "priceDimensions": {f"{offer}.2TG2D8R56U": {
                "rateCode": f"{offer}.2TG2D8R56U", "description": "Upfront Fee", "unit": "Quantity",
                "pricePerUnit": {"USD": f"{price * 5000:.2f}"}, "appliesTo": []},
                f"{offer}.6YS6EN2CT7": {
                "rateCode": f"{offer}.6YS6EN2CT7", "description": "Linux reserved hour",
                "beginRange": "0", "endRange": "Inf", "unit": "Hrs",
                "pricePerUnit": {"USD": f"{price / 2:.10f}"}, "appliesTo": []}},
            "termAttributes": {"LeaseContractLength": length, "OfferingClass": "standard",
                               "PurchaseOption": "Partial Upfront"}}
    return terms


def _member(out: IO[str], first: bool, key: str, value: Any) -> None:
    out.write(("\n" if first else ",\n") + f"    {json.dumps(key)} : "
              + json.dumps(value, **_DUMP).replace("\n", "\n    "))  # type: ignore[arg-type]


def write_offer(path: str, region: str, prices: dict[str, float], *, noise: int = 0,
                terms_first: bool = False) -> int:
    """Write ``region``'s offer file at ``path`` (streamed, never held whole);
    its size in bytes. ``terms_first`` puts ``terms`` before ``products``."""
    skus: list[tuple[str, dict[str, Any], float]] = []
    for n, (instance_type, price) in enumerate(sorted(prices.items())):
        skus.append((f"LNX{n:04d}{region}", _product(f"LNX{n:04d}{region}", region,
                                                    instance_type), price))
        for label, changes in _DECOYS:
            sku = f"{label}{n:04d}{region}"
            skus.append((sku, _product(sku, region, instance_type, **changes), price * 3 + 1))
    with open(path, "w", encoding="utf-8") as out:
        out.write('{\n  "formatVersion" : "v1.0",\n  "disclaimer" : "This pricing list is for '
                  'informational purposes only.",\n  "offerCode" : "AmazonEC2",\n'
                  f'  "version" : "{VERSION}",\n  "publicationDate" : "{PUBLICATION}",\n')

        def products() -> None:
            out.write('  "products" : {')
            for i, (sku, product, _) in enumerate(skus):
                _member(out, i == 0, sku, product)
            for i in range(noise):
                sku = f"NOISE{i:08d}"
                _member(out, False, sku, _product(sku, region, f"x{i % 97}.large",
                                                  operatingSystem="Windows"))
            out.write("\n  }")

        def terms() -> None:
            out.write('  "terms" : {\n    "OnDemand" : {')
            for i, (sku, product, price) in enumerate(skus):
                _member(out, i == 0, sku, _on_demand(sku, price,
                                                     product["attributes"]["instanceType"]))
            for i in range(noise):
                _member(out, False, f"NOISE{i:08d}", _on_demand(f"NOISE{i:08d}", 0.5, "x"))
            out.write('\n    },\n    "Reserved" : {')
            for i, (sku, _, price) in enumerate(skus):
                _member(out, i == 0, sku, _reserved(sku, price))
            for i in range(noise):
                _member(out, False, f"NOISE{i:08d}", _reserved(f"NOISE{i:08d}", 0.5))
            out.write("\n    }\n  }")

        first, second = (terms, products) if terms_first else (products, terms)
        first()
        out.write(",\n")
        second()
        out.write(',\n  "attributesList" : {"tenancy" : ["Shared", "Dedicated", "Host"]}\n}\n')
    return os.path.getsize(path)


class AwsPriceList:
    """The fixture: offer files of ``regions`` under ``directory``; ``cut``
    names a region whose file is cut short."""

    def __init__(self, directory: str, regions: dict[str, dict[str, float]] | None = None, *,
                 noise: int = 0, terms_first: bool = False) -> None:
        self.regions = REGIONS if regions is None else regions
        self.files: dict[str, str] = {}
        for region, prices in self.regions.items():
            path = os.path.join(directory, f"{region}.json")
            write_offer(path, region, prices, noise=noise, terms_first=terms_first)
            self.files[region] = path
        self.cut: str | None = None
        self.seen: list[Seen] = []

    def route(self, path: str, query: dict[str, list[str]], base: str) -> Reply:
        """Answer one request."""
        if path == INDEX:
            return Reply.json({
                "formatVersion": "v1.0", "disclaimer": "...", "publicationDate": PUBLICATION,
                "regions": {r: {"regionCode": r,
                                "currentVersionUrl": f"/offers/v1.0/aws/AmazonEC2/{VERSION}/{r}/"
                                                     "index.json"}
                            for r in self.regions}})
        for region, file in self.files.items():
            if path == f"/offers/v1.0/aws/AmazonEC2/{VERSION}/{region}/index.json":
                return Reply(path=file, cut=region == self.cut,
                             headers={"Content-Type": "application/json"})
        return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>",
                     headers={"Content-Type": "application/xml"})

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on a free port of 127.0.0.1; yields the base URL."""
        with serve(self.route, self.seen) as url:
            yield url
