"""``python -m overcast.pricing refresh`` end to end against fixtures of AWS's
Price List Bulk API, Azure Retail Prices and the GCP Cloud Billing Catalog
(tests/servers/pricing_*.py, served on 127.0.0.1): the snapshots it writes,
the rows it leaves out, a page link or token sent twice, a download cut
short (the old snapshot stays, byte for byte, and no temporary file is
left), the API key never shown, and bad input refused before anything is sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from overcast.compute.drivers.gce import size_price
from overcast.pricing import parse_snapshot
from overcast.pricing.azure import pricing_key
from overcast.pricing.refresh import PriceApi
from overcast.pricing.refresh import azure_snapshot
from overcast.pricing.refresh import default_directory
from servers.pricing_aws import REGIONS
from servers.pricing_aws import AwsPriceList
from servers.pricing_azure import PRICES
from servers.pricing_azure import AzureRetailPrices
from servers.pricing_gcp import API_KEY
from servers.pricing_gcp import GcpBillingCatalog

FILES = ("ec2_linux.json", "azure_linux.json", "gce_instances.json")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A directory holding copies of the bundled snapshots (the "old" ones)."""
    directory = tmp_path / "data"
    directory.mkdir()
    for name in FILES:
        shutil.copy(os.path.join(default_directory(), name), directory / name)
    return directory


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[tuple[AwsPriceList, str]]:
    offers = tmp_path / "offers"
    offers.mkdir()
    fixture = AwsPriceList(str(offers))
    with fixture.serving() as url:
        yield fixture, url


@pytest.fixture
def azure() -> Iterator[tuple[AzureRetailPrices, str]]:
    fixture = AzureRetailPrices()
    with fixture.serving() as url:
        yield fixture, url


@pytest.fixture
def gcp() -> Iterator[tuple[GcpBillingCatalog, str]]:
    fixture = GcpBillingCatalog()
    with fixture.serving() as url:
        yield fixture, url


def refresh(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command as a user does, in its own process."""
    return subprocess.run([sys.executable, "-m", "overcast.pricing", "refresh", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def snapshot(directory: Path, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((directory / name).read_text())
    return data


def contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_refresh_rebuilds_each_snapshot_from_its_api(
        out: Path, aws: tuple[AwsPriceList, str], azure: tuple[AzureRetailPrices, str],
        gcp: tuple[GcpBillingCatalog, str]) -> None:
    done = refresh("--aws-url", aws[1], "--azure-url", f"{azure[1]}/api/retail/prices",
                   "--gcp-url", gcp[1], "--gcp-api-key", API_KEY, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # progress goes to stderr
    assert "aws: us-east-1: 3 instance types priced" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # no temporary file left

    ec2 = snapshot(out, "ec2_linux.json")
    assert ec2["date"] == "2025-03-01" and "Price List Bulk" in str(ec2["source"])
    # Linux, Shared, no software, Used, OnDemand: the decoys (Windows, RHEL, Dedicated,
    # SQL, a capacity reservation) and the 0.0 price are left out.
    assert ec2["prices"] == {
        "t3.micro": {"eu-central-1": 0.012, "us-east-1": 0.0104},
        "m5.large": {"eu-central-1": 0.115, "us-east-1": 0.096},
        "c5.xlarge": {"us-east-1": 0.17},
    }
    assert (out / "ec2_linux.json").read_text().count("\n") == 0  # compact

    prices = snapshot(out, "azure_linux.json")["prices"]
    assert prices == {pricing_key(sku): regions for sku, regions in PRICES.items()}
    assert len(azure[0].seen) > 2  # every page was followed

    gce = snapshot(out, "gce_instances.json")["prices"]
    assert isinstance(gce, dict)
    assert sorted(gce) == ["e2", "f1", "g1", "n1", "n2d"]
    rates = {"prices": gce}
    assert size_price("n2d-standard-2", 2, 8192, "us-central1", rates) == pytest.approx(
        2 * 0.027502 + 8 * 0.003686)
    assert size_price("e2-micro", 2, 1024, "us-central1", rates) == pytest.approx(
        0.25 * 0.02181159 + 0.00292353, abs=1e-6)  # a quarter vCPU; rounded to 6 places
    assert size_price("f1-micro", 1, 614, "us-central1", rates) == 0.0076
    assert size_price("n2d-standard-2", 2, 8192, "europe-west1", rates) == pytest.approx(
        2 * 0.030253 + 8 * 0.004055)
    assert all(s.query["key"] == [API_KEY] for s in gcp[0].seen)
    assert API_KEY not in done.stderr


def test_only_one_provider_is_refreshed(out: Path, azure: tuple[AzureRetailPrices, str]) -> None:
    before = contents(out)
    done = refresh("--only", "azure", "--azure-url", f"{azure[1]}/api/retail/prices",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    after = contents(out)
    assert after["ec2_linux.json"] == before["ec2_linux.json"]
    assert after["gce_instances.json"] == before["gce_instances.json"]
    assert after["azure_linux.json"] != before["azure_linux.json"]


def test_a_cut_offer_file_leaves_the_old_snapshot(out: Path,
                                                   aws: tuple[AwsPriceList, str]) -> None:
    fixture, url = aws
    fixture.cut = "us-east-1"
    before = contents(out)
    done = refresh("--only", "aws", "--aws-url", url, "--out", str(out))
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("overcast pricing: error: ")
    assert "Traceback" not in done.stderr
    assert contents(out) == before


@pytest.mark.parametrize("provider", ["azure", "gcp"])
@pytest.mark.parametrize("mode", ["repeat", "cut"])
def test_a_repeated_page_or_a_cut_page_leaves_the_old_snapshot(
        out: Path, azure: tuple[AzureRetailPrices, str], gcp: tuple[GcpBillingCatalog, str],
        provider: str, mode: str) -> None:
    fixture = azure[0] if provider == "azure" else gcp[0]
    fixture.mode = mode
    before = contents(out)
    done = refresh("--only", provider, "--azure-url", f"{azure[1]}/api/retail/prices",
                   "--gcp-url", gcp[1], "--gcp-api-key", API_KEY, "--out", str(out))
    assert done.returncode == 4, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("overcast pricing: error: ProviderError") or mode == "cut", error
    if mode == "repeat":
        assert "a second time" in error
        assert len(fixture.seen) == 2  # page 2 names itself as next: refused, not fetched again
    assert contents(out) == before
    assert API_KEY not in done.stderr


def test_a_refused_key_is_never_shown(out: Path, gcp: tuple[GcpBillingCatalog, str]) -> None:
    wrong = "AIzaSyWrongKey-fedcba9876543210"
    done = refresh("--only", "gcp", "--gcp-url", gcp[1], "--out", str(out),
                   env={"OVERCAST_GCP_API_KEY": wrong})
    assert done.returncode == 5, done.stderr  # InvalidCredentials
    assert gcp[0].seen and gcp[0].seen[0].query["key"] == [wrong]
    assert wrong not in done.stderr and wrong not in done.stdout


@pytest.mark.parametrize("args", [
    ["--only", "gcp"],  # no API key
    ["--only", "aws,oracle"],
    ["--only", "aws", "--aws-url", "ftp://example.com"],
    ["--only", "aws", "--out", "/nonexistent/dir"],
])
def test_bad_input_sends_nothing(out: Path, aws: tuple[AwsPriceList, str],
                                 args: list[str]) -> None:
    if "--aws-url" not in args:
        args = [*args, "--aws-url", aws[1]]
    if "--out" not in args:
        args = [*args, "--out", str(out)]
    env = {"OVERCAST_GCP_API_KEY": "", "GOOGLE_API_KEY": ""}
    done = refresh(*args, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("overcast pricing: error: InvalidInput")
    assert aws[0].seen == []


def test_aws_regions_subset_and_terms_before_products(tmp_path: Path, out: Path) -> None:
    offers = tmp_path / "offers2"
    offers.mkdir()
    fixture = AwsPriceList(str(offers), terms_first=True)
    with fixture.serving() as url:
        done = refresh("--only", "aws", "--aws-url", url, "--aws-regions", "eu-central-1",
                       "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert snapshot(out, "ec2_linux.json")["prices"] == {
        k: {"eu-central-1": v} for k, v in REGIONS["eu-central-1"].items()}
    assert not any("us-east-1" in s.path for s in fixture.seen)


def test_the_azure_source_runs_on_the_async_runner_too(
        azure: tuple[AzureRetailPrices, str]) -> None:
    async def main() -> object:
        with PriceApi(f"{azure[1]}/api/retail/prices") as api:
            return await api._async_runner.run(azure_snapshot(api, progress=lambda line: None))

    made = anyio.run(main)
    text = made.to_json()  # type: ignore[attr-defined]
    assert parse_snapshot(text).prices["standardd2sv3"] == {"eastus": 0.096,
                                                            "westeurope": 0.11}


#: Runs ``python -m overcast.pricing`` with the arguments given, then prints the
#: process's own peak RSS (``VmHWM``: the kernel's ``ru_maxrss`` of a child also
#: counts the parent's pages at the fork, so it is not used).
PEAK = """
import runpy, sys
try:
    runpy.run_module("overcast.pricing", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as status:
        sys.stderr.write(next(line for line in status if line.startswith("VmHWM")))
"""


def test_an_offer_file_is_read_in_bounded_memory(tmp_path: Path, out: Path) -> None:
    # A 100 MB file of the real shape: json.load would need several times that; the
    # streaming reader holds one element at a time (bench/pricing_rss.py does 200 MB).
    offers = tmp_path / "big"
    offers.mkdir()
    fixture = AwsPriceList(str(offers), {"us-east-1": REGIONS["us-east-1"]}, noise=18_000)
    size = os.path.getsize(fixture.files["us-east-1"])
    assert size > 95_000_000
    with fixture.serving() as url:
        done = subprocess.run([sys.executable, "-c", PEAK, "refresh", "--only", "aws",
                               "--aws-url", url, "--out", str(out)],
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    peak = int(done.stderr.strip().splitlines()[-1].split()[1]) * 1024  # "VmHWM: N kB"
    assert peak < min(300_000_000, size // 2), peak
    assert snapshot(out, "ec2_linux.json")["prices"] == {
        k: {"us-east-1": v} for k, v in REGIONS["us-east-1"].items() if v}


def test_from_libcloud_rebuilds_the_bundled_snapshots(tmp_path: Path) -> None:
    from overcast.pricing import installed_pricing_file

    shipped = installed_pricing_file()
    assert shipped is not None  # apache-libcloud is a test dependency
    if json.loads(Path(shipped).read_text())["updated"] != 1740936978:
        pytest.skip("another apache-libcloud than 3.9.1 is installed")
    made = tmp_path / "made"
    made.mkdir()
    done = subprocess.run([sys.executable, "-m", "overcast.pricing", "from-libcloud", shipped,
                           "--out", str(made)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert contents(made) == {name: Path(default_directory(), name).read_bytes()
                              for name in FILES}
    missing = subprocess.run([sys.executable, "-m", "overcast.pricing", "from-libcloud",
                              str(tmp_path / "nope.json"), "--out", str(made)],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 3  # not found, as the overcast command says it
    assert missing.stderr.startswith("overcast pricing: error: FileNotFoundError")
    (tmp_path / "bad.json").write_text('{"compute": {}}')
    bad = subprocess.run([sys.executable, "-m", "overcast.pricing", "from-libcloud",
                          str(tmp_path / "bad.json"), "--out", str(made)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a Libcloud pricing.json" in bad.stderr
    assert contents(made) == {name: Path(default_directory(), name).read_bytes()
                              for name in FILES}  # untouched
