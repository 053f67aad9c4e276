"""The streaming reader of AWS offer files: the same prices however the file
is cut into chunks, the products a Linux on-demand price leaves out, terms
before products, and a file cut short refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overcast.pricing.awsoffer import OfferReader
from overcast.pricing.awsoffer import is_linux_on_demand
from servers.pricing_aws import REGIONS
from servers.pricing_aws import write_offer

WANTED = {k: v for k, v in REGIONS["us-east-1"].items() if v}


@pytest.fixture(params=[False, True], ids=["products-first", "terms-first"])
def offer(request: pytest.FixtureRequest, tmp_path: Path) -> bytes:
    path = tmp_path / "offer.json"
    write_offer(str(path), "us-east-1", REGIONS["us-east-1"], noise=20,
                terms_first=request.param)
    return path.read_bytes()


def read(data: bytes, size: int, expected: int | None = None) -> dict[str, float]:
    reader = OfferReader("us-east-1", expected)
    for start in range(0, len(data), size):
        reader.write(data[start:start + size])
    return reader.finish()


@pytest.mark.parametrize("size", [2, 7, 64, 1000, 65536, 1 << 30])
def test_any_chunking_reads_the_same_prices(offer: bytes, size: int) -> None:
    assert read(offer, size, len(offer)) == WANTED


def test_the_header_is_kept(offer: bytes) -> None:
    reader = OfferReader("us-east-1")
    reader.write(offer)
    reader.finish()
    assert reader.header["publicationDate"] == "2025-03-01T00:00:00Z"
    assert reader.header["offerCode"] == "AmazonEC2"


@pytest.mark.parametrize("cut", [1, 10, 1000, -2])
def test_a_file_cut_short_is_refused(offer: bytes, cut: int) -> None:
    with pytest.raises(ValueError, match=r"cut short|ends early|truncated"):
        read(offer[:cut], 4096)
    with pytest.raises(ValueError, match="truncated"):
        read(offer[:cut], 4096, len(offer))  # fewer bytes than announced


@pytest.mark.parametrize("text", ['[1, 2]', '{"products": [1]}', '{"a": 1} {"b": 2}'])
def test_what_is_not_an_offer_file_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each says what is wrong
        read(text.encode(), 3)


def test_a_price_split_across_chunks_is_read_whole() -> None:
    doc = {"products": {"S": {"productFamily": "Compute Instance", "attributes": {
        "instanceType": "t3.nano", "operatingSystem": "Linux", "tenancy": "Shared",
        "preInstalledSw": "NA", "capacitystatus": "Used"}}},
        "terms": {"OnDemand": {"S": {"S.T": {"priceDimensions": {"S.T.R": {
            "unit": "Hrs", "pricePerUnit": {"USD": "0.0052000000"}}}}}}}, "version": 12345}
    data = json.dumps(doc, separators=(",", ":")).encode()
    for cut in range(1, len(data)):
        reader = OfferReader("us-east-1")
        reader.write(data[:cut])
        reader.write(data[cut:])
        assert reader.finish() == {"t3.nano": 0.0052}
        assert reader.header["version"] == 12345


@pytest.mark.parametrize(("changes", "kept"), [
    ({}, True), ({"operatingSystem": "Windows"}, False), ({"tenancy": "Dedicated"}, False),
    ({"preInstalledSw": "SQL Web"}, False), ({"capacitystatus": "UnusedCapacityReservation"},
                                             False),
    ({"operation": "RunInstances:0010"}, False), ({"regionCode": "us-west-2"}, False),
    ({"locationType": "AWS Local Zone"}, False), ({"marketoption": "Spot"}, False),
])
def test_only_linux_shared_unloaded_used_on_demand(changes: dict[str, str], kept: bool) -> None:
    attributes = {"instanceType": "m5.large", "operatingSystem": "Linux", "tenancy": "Shared",
                  "preInstalledSw": "NA", "capacitystatus": "Used", **changes}
    product = {"productFamily": "Compute Instance", "attributes": attributes}
    assert (is_linux_on_demand(product, "us-east-1") == "m5.large") is kept
