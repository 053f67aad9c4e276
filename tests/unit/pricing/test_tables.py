"""overcast.pricing: the bundled snapshots, where prices come from (set_pricing,
a pricing file or Libcloud's override, the snapshot), Libcloud's names, one
provider's table loaded without the others', and nothing read or opened at
import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast import pricing as tables
from overcast.compute import get_size_price as compute_get_size_price
from overcast.compute.drivers.gce import size_price
from overcast.errors import InvalidInput
from overcast.pricing import SNAPSHOTS
from overcast.pricing import clear_pricing_data
from overcast.pricing import get_pricing
from overcast.pricing import get_size_price
from overcast.pricing import installed_pricing_file
from overcast.pricing import invalidate_module_pricing_cache
from overcast.pricing import invalidate_pricing_cache
from overcast.pricing import load_snapshot
from overcast.pricing import parse_snapshot
from overcast.pricing import price_date
from overcast.pricing import set_pricing
from overcast.pricing import size_prices
from overcast.pricing.convert import from_libcloud
from overcast.pricing.refresh import default_directory

DATA = Path(default_directory())


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ~/.libcloud/pricing.json, and an empty cache before and after."""
    monkeypatch.setenv("HOME", str(tmp_path))
    invalidate_pricing_cache()
    yield
    invalidate_pricing_cache()


def raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def test_ec2_price_matches_the_snapshot_and_zero_is_unknown() -> None:
    snapshot = raw("ec2_linux.json")
    assert get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1") == \
        snapshot["prices"]["t3.micro"]["us-east-1"] == 0.0104
    assert compute_get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1") == 0.0104
    # 0.0 in Libcloud's data (no published price): unknown, never free.
    assert get_size_price("compute", "ec2_linux", "t3.micro", "eu-central-1") is None
    assert get_size_price("compute", "ec2_linux", "t3.micro") is None  # per-region table
    assert get_size_price("compute", "ec2_linux", "zz9.bogus", "us-east-1") is None
    assert price_date("compute", "ec2_linux") == "2025-03-02"
    prices = size_prices("compute", "ec2_linux", "us-east-1")
    assert prices["t3.micro"] == 0.0104 and all(p > 0 for p in prices.values())


def test_snapshots_carry_source_and_date_and_are_compact() -> None:
    for (kind, name), filename in SNAPSHOTS.items():
        text = (DATA / filename).read_text()
        assert "\n" not in text.strip() and ": " not in text[:200]  # no indentation
        snapshot = parse_snapshot(text)
        assert snapshot.table == name and kind == "compute"
        assert snapshot.date == "2025-03-02"
        assert "Apache Libcloud 3.9.1" in snapshot.source and "Apache-2.0" in snapshot.source
        assert snapshot.unit == "USD per hour"


def test_the_snapshots_are_libclouds_pricing_json_converted() -> None:
    shipped = installed_pricing_file()
    assert shipped is not None  # apache-libcloud is a test dependency
    with open(shipped, encoding="utf-8") as f:
        theirs = json.load(f)
    if theirs["updated"] != 1740936978:
        pytest.skip("another apache-libcloud than 3.9.1 is installed")
    # Reproducible: converting Libcloud's file again gives the bundled files byte for byte.
    for made in from_libcloud(shipped):
        assert made.to_json() == (DATA / SNAPSHOTS[("compute", made.table)]).read_text()
    table = theirs["compute"]["ec2_linux"]
    every = [p for regions in table.values() for p in regions.values()]
    assert (len(every), every.count(0.0)) == (15589, 2754)
    ours = raw("ec2_linux.json")["prices"]
    assert sum(len(r) for r in ours.values()) == 15589 - 2754
    assert table["t3.micro"]["eu-central-1"] == 0.0 and "eu-central-1" not in ours["t3.micro"]


def test_gce_sizes_from_the_converted_rates() -> None:
    # n2d- is N2D (Libcloud takes two letters: N2); e2-micro is a quarter of a vCPU.
    n2d = size_price("n2d-standard-2", 2, 8192, "us-central1")
    assert n2d == pytest.approx(2 * 0.027502 + 8 * 0.003686, abs=1e-6)
    assert n2d != size_price("n2-standard-2", 2, 8192, "us-central1")
    assert size_price("e2-micro", 2, 1024, "us-central1") == pytest.approx(
        0.25 * 0.02181159 + 1 * 0.00292353, abs=1e-6)
    assert size_price("e2-medium", 2, 4096, "us-central1") == pytest.approx(
        1 * 0.02181159 + 4 * 0.00292353, abs=1e-6)
    assert size_price("g1-small", 1, 1740, "us-central1") == 0.0257
    assert size_price("n2-custom-2-4096", 2, 4096, "us-central1") is None
    assert size_price("c3-standard-4", 4, 16384, "us-central1") is None


def test_one_provider_loads_without_parsing_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = tables.parse_snapshot

    def spy(text: str | bytes) -> Any:
        snapshot = real(text)
        parsed.append(snapshot.table)
        return snapshot

    monkeypatch.setattr(tables, "parse_snapshot", spy)
    assert get_size_price("compute", "ec2_linux", "m5.large", "us-east-1")
    assert get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1")  # cached
    assert parsed == ["ec2_linux"]
    assert size_price("n2d-standard-2", 2, 8192, "us-central1")
    assert parsed == ["ec2_linux", "gce_instances"]


def test_importing_compute_reads_no_price_and_opens_no_socket() -> None:
    code = """
import sys
events = []
def hook(event, args):
    if event.startswith("socket.") or (event == "open" and str(args[0]).endswith(".json")):
        events.append((event, str(args[:1])))
sys.addaudithook(hook)
import overcast.compute
import overcast.pricing
from overcast.compute import get_size_price
import overcast.compute.drivers.ec2, overcast.compute.drivers.gce, overcast.compute.drivers.azure
assert events == [], events
get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1")
opened = [e for e in events if e[0] == "open"]
assert len(opened) == 1 and "ec2_linux.json" in opened[0][1], events
assert not [e for e in events if e[0].startswith("socket.")], events
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_libclouds_override_file_and_an_explicit_file_win(tmp_path: Path) -> None:
    override = tmp_path / ".libcloud" / "pricing.json"
    override.parent.mkdir()
    override.write_text(json.dumps({"compute": {"ec2_linux": {"t3.micro": {"us-east-1": 0.5}}},
                                    "updated": 1700000000}))
    assert get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1") == 0.5
    assert price_date("compute", "ec2_linux") == "2023-11-14"
    assert get_size_price("compute", "ec2_linux", "m5.large", "us-east-1") is None
    given = tmp_path / "given.json"
    given.write_text(json.dumps({"compute": {"ec2_linux": {"t3.micro": {"us-east-1": 0.7}}}}))
    assert get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1",
                          pricing_file_path=given) == 0.7
    assert price_date("compute", "ec2_linux", given) is None  # no "updated": no date
    override.unlink()
    invalidate_pricing_cache()
    assert get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1") == 0.0104


def test_libclouds_get_pricing_and_set_pricing() -> None:
    table = get_pricing("compute", "ec2_linux")
    assert table["t3.micro"]["us-east-1"] == 0.0104  # Libcloud's shape
    assert get_pricing("compute", "ec2_linux") is table  # cached, as Libcloud's
    assert price_date("compute", "ec2_linux") == "2025-03-02"
    gce = get_pricing("compute", "gce_instances")
    assert gce["n2d"]["cpu"]["on_demand"]["us-central1"]["price"] == 0.027502
    set_pricing("compute", "ec2_linux", {"t3.micro": {"us-east-1": 9.0}})
    assert get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1") == 9.0
    assert price_date("compute", "ec2_linux") is None
    invalidate_module_pricing_cache("compute", "ec2_linux")
    assert get_size_price("compute", "ec2_linux", "t3.micro", "us-east-1") == 0.0104
    set_pricing("compute", "flat", {"small": 0.01})
    assert get_size_price("compute", "flat", "small") == 0.01
    clear_pricing_data()
    assert get_pricing("compute", "ec2_linux", cache_all=True)["t3.micro"]["us-east-1"] == 0.0104
    assert set(tables.PRICING_DATA["compute"]) >= {"ec2_linux", "azure_linux", "gce_instances"}
    with pytest.raises(InvalidInput):
        get_size_price("network", "ec2_linux", "t3.micro")
    with pytest.raises(InvalidInput):
        load_snapshot("ec2_windows")


@pytest.mark.parametrize("text", ['[]', '{"table": "x", "source": "s", "date": "d"}',
                                  '{"table": "x", "source": "s", "date": "d", "prices": {}}',
                                  '{"table": "x", "source": "s", "date": "d", "prices": {'])
def test_what_is_not_a_snapshot_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json's error or ours
        parse_snapshot(text)


@pytest.mark.parametrize("name", ["get_pricing", "set_pricing", "get_size_price",
                                  "invalidate_pricing_cache", "clear_pricing_data",
                                  "invalidate_module_pricing_cache", "get_pricing_file_path"])
def test_libclouds_names_and_positions(name: str) -> None:
    import inspect

    from libcloud import pricing as theirs

    import overcast.pricing as ours

    def positional(fn: Any) -> list[tuple[str, object]]:
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()
                if p.kind is p.POSITIONAL_OR_KEYWORD]

    assert positional(getattr(ours, name)) == positional(getattr(theirs, name))


def test_libcloud_reads_the_snapshot_table_as_its_own() -> None:
    from libcloud import pricing as theirs

    table = get_pricing("compute", "ec2_linux")
    theirs.set_pricing("compute", "ec2_linux", table)
    try:
        for size_id in ("t3.micro", "m5.large", "c5.xlarge"):
            assert theirs.get_size_price("compute", "ec2_linux", size_id, "us-east-1") == \
                get_size_price("compute", "ec2_linux", size_id, "us-east-1")
    finally:
        theirs.invalidate_pricing_cache()
