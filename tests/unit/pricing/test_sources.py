"""Which rows of Azure Retail Prices and which SKUs of the Cloud Billing
Catalog make a price, read from their published shapes."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.pricing.refresh import _azure_row
from overcast.pricing.refresh import _gcp_rate


def sku(description: str, group: str = "CPU", usage: str = "OnDemand",
        units: str = "0", nanos: int = 27502000, regions: tuple[str, ...] = ("us-central1",)
        ) -> dict[str, Any]:
    return {"description": description,
            "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute",
                         "resourceGroup": group, "usageType": usage},
            "serviceRegions": list(regions),
            "pricingInfo": [{"pricingExpression": {"usageUnit": "h", "tieredRates": [
                {"startUsageAmount": 0, "unitPrice": {"currencyCode": "USD", "units": units,
                                                      "nanos": nanos}}]}}]}


@pytest.mark.parametrize(("description", "group", "expected"), [
    ("N2D AMD Instance Core running in Americas", "CPU", ("n2d", "cpu")),
    ("N2D AMD Instance Ram running in Americas", "RAM", ("n2d", "ram")),
    ("E2 Instance Core running in Americas", "CPU", ("e2", "cpu")),
    ("N1 Predefined Instance Ram running in EMEA", "N1Standard", ("n1", "ram")),
    ("Compute optimized Core running in Americas", "CPU", ("c2", "cpu")),
    ("Memory-optimized Instance Ram running in Americas", "RAM", ("m1", "ram")),
    ("C3 Instance Core running in Americas", "CPU", ("c3", "cpu")),
    ("T2A Arm Instance Core running in Americas", "CPU", ("t2a", "cpu")),
    ("M3 Memory-optimized Instance Core running in Americas", "CPU", ("m3", "cpu")),
    ("Micro Instance with burstable CPU running in Americas", "F1Micro", ("f1", "cpu")),
    ("Small Instance with 1 VCPU running in Americas", "G1Small", ("g1", "cpu")),
    ("N2 Custom Instance Core running in Americas", "CPU", None),
    ("N2 Sole Tenancy Instance Core running in Americas", "CPU", None),
    ("Commitment v1: N2D AMD Cpu in Americas for 1 Year", "CPU", None),
    ("Spot Preemptible N2D AMD Instance Core running in Americas", "CPU", None),
    ("Nvidia Tesla T4 GPU running in Americas", "GPU", None),
    ("Storage PD Capacity", "PDStandard", None),
])
def test_which_skus_are_rates(description: str, group: str,
                              expected: tuple[str, str] | None) -> None:
    found = _gcp_rate(sku(description, group))
    assert (found[:2] if found else None) == expected
    if found:
        assert found[2] == pytest.approx(0.027502) and found[3] == ["us-central1"]


def test_a_rate_is_units_plus_nanos_and_only_on_demand() -> None:
    assert _gcp_rate(sku("E2 Instance Core running in Americas", units="1",
                         nanos=500000000))[2] == 1.5  # type: ignore[index]
    assert _gcp_rate(sku("E2 Instance Core running in Americas", usage="Preemptible")) is None
    assert _gcp_rate(sku("E2 Instance Core running in Americas", nanos=0)) is None
    assert _gcp_rate(sku("E2 Instance Core running in Americas", regions=("global",))) is None


def row(**changes: Any) -> dict[str, Any]:
    base = {"currencyCode": "USD", "retailPrice": 0.096, "armRegionName": "eastus",
            "armSkuName": "Standard_D2s_v3", "productName": "Virtual Machines DSv3 Series",
            "skuName": "D2s v3", "meterName": "D2s v3", "type": "Consumption",
            "unitOfMeasure": "1 Hour", "isPrimaryMeterRegion": True}
    return {**base, **changes}


@pytest.mark.parametrize(("changes", "kept"), [
    ({}, True),
    ({"productName": "Virtual Machines DSv3 Series Windows"}, False),
    ({"skuName": "D2s v3 Spot", "meterName": "D2s v3 Spot"}, False),
    ({"skuName": "D2s v3 Low Priority"}, False),
    ({"type": "Reservation"}, False), ({"type": "DevTestConsumption"}, False),
    ({"currencyCode": "EUR"}, False), ({"retailPrice": 0}, False),
    ({"armSkuName": ""}, False), ({"unitOfMeasure": "1/Month"}, False),
])
def test_which_azure_rows_are_linux_pay_as_you_go(changes: dict[str, Any], kept: bool) -> None:
    found = _azure_row(row(**changes))
    assert (found is not None) is kept
    if found:
        assert found == ("standardd2sv3", "eastus", 0.096, True)


def test_a_next_page_link_must_stay_on_the_api() -> None:
    from overcast.errors import ProviderError
    from overcast.pricing.refresh import PriceApi

    api = PriceApi("https://prices.azure.com/api/retail/prices")
    # Azure's NextPageLink names the port: the same site.
    link = "https://prices.azure.com:443/api/retail/prices?$skip=100"
    assert api._same_site(link) == link
    for other in ("https://evil.example/api/retail/prices?$skip=100",
                  "http://prices.azure.com/api/retail/prices?$skip=100",
                  "https://prices.azure.com:8443/api/retail/prices"):
        with pytest.raises(ProviderError, match="next-page link off"):
            api._same_site(other)
