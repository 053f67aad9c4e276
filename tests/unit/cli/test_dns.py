"""DNS commands in-process on the zone-file driver: zones, records, export,
import, and plan/apply over overcast.dns.sync with its safety limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servers.cli_runner import Invoke

ZONE = """$ORIGIN example.com.
$TTL 3600
@ IN SOA ns1.example.com. admin.example.com. 1 7200 3600 1209600 3600
@ IN NS ns1.example.com.
www 300 IN A 192.0.2.1
www 300 IN A 192.0.2.2
mail IN MX 10 mx.example.com.
txt IN TXT "hello world"
"""


@pytest.fixture
def zones(cli: Invoke, tmp_path: Path) -> Path:
    """Two zone-file DNS profiles, ``dnsa`` and ``dnsb``; the zone text's file."""
    for name in ("dnsa", "dnsb"):
        cli("profile", "add", name, "--driver", "zonefile", "-o",
            f"directory={tmp_path / name}")
    source = tmp_path / "example.com.zone"
    source.write_text(ZONE)
    return source


def test_import_list_records_and_export(cli: Invoke, zones: Path, tmp_path: Path) -> None:
    assert cli("dns", "import", "-p", "dnsa", str(zones)).stdout.strip() == "example.com."
    listed = json.loads(cli("dns", "zones", "-p", "dnsa", "--json").stdout)
    assert [z["domain"] for z in listed] == ["example.com."]
    records = json.loads(cli("dns", "records", "-p", "dnsa", "--json", "example.com").stdout)
    by_key = {(r["name"], r["type"]): r for r in records}
    assert sorted(by_key[("www", "A")]["values"]) == ["192.0.2.1", "192.0.2.2"]
    assert by_key[("www", "A")]["ttl"] == 300
    table = cli("dns", "records", "-p", "dnsa", "example.com").stdout
    assert "192.0.2.1 192.0.2.2" in table or "192.0.2.2 192.0.2.1" in table
    exported = cli("dns", "export", "-p", "dnsa", "example.com").stdout
    assert exported.startswith("$ORIGIN example.com.")
    assert '"hello world"' in exported
    # the export imports elsewhere as the same zone
    (tmp_path / "exported.zone").write_text(exported)
    cli("dns", "import", "-p", "dnsb", str(tmp_path / "exported.zone"))
    again = json.loads(cli("dns", "records", "-p", "dnsb", "--json", "example.com").stdout)
    assert sorted((r["name"], r["type"], sorted(r["values"])) for r in again) == sorted(
        (r["name"], r["type"], sorted(r["values"])) for r in records)
    assert cli("dns", "records", "-p", "dnsa", "nope.example", ok=False).exit_code == 3


def test_plan_shows_a_diff_and_apply_makes_it_so(cli: Invoke, zones: Path,
                                                 tmp_path: Path) -> None:
    cli("dns", "import", "-p", "dnsb", str(zones))
    changed = ZONE.replace("192.0.2.2", "192.0.2.9").replace(
        'txt IN TXT "hello world"', "new IN CNAME www.example.com.")
    (tmp_path / "changed.zone").write_text(changed)
    plan = cli("dns", "plan", str(tmp_path / "changed.zone"), "dnsb").stdout
    lines = plan.splitlines()
    assert lines[0].startswith("sync zonefile:example.com. -> zonefile:example.com.: "
                               "1 to create, 1 to update, 1 to delete")
    assert "- txt 3600 TXT hello world" in lines
    assert "+ new 3600 CNAME www.example.com." in lines
    assert "- www 300 A 192.0.2.2" in lines and "+ www 300 A 192.0.2.9" in lines
    assert "  www 300 A 192.0.2.1" in lines  # a value both sides hold: context
    as_json = json.loads(cli("dns", "plan", "--json", str(tmp_path / "changed.zone"),
                             "dnsb").stdout)
    assert {c["action"] for c in as_json["changes"]} == {"create", "update", "delete"}
    assert as_json["applied"] is False
    cli("dns", "apply", str(tmp_path / "changed.zone"), "dnsb")
    assert json.loads(cli("dns", "plan", "--json", str(tmp_path / "changed.zone"),
                          "dnsb").stdout)["changes"] == []
    # a profile's zone is a source too
    cli("dns", "apply", "dnsb:example.com", "dnsa")
    assert json.loads(cli("dns", "plan", "--json", "dnsa:example.com", "dnsb").stdout)[
        "changes"] == []


def test_apply_keeps_the_safety_limit(cli: Invoke, zones: Path, tmp_path: Path) -> None:
    big = ZONE + "".join(f"h{i} IN A 198.51.100.{i}\n" for i in range(12))
    (tmp_path / "big.zone").write_text(big)
    cli("dns", "import", "-p", "dnsb", str(tmp_path / "big.zone"))
    cli("dns", "import", "-p", "dnsa", str(zones))  # the source lost most of the zone
    refused = cli("dns", "apply", "dnsa:example.com", "dnsb", ok=False)
    assert refused.exit_code == 7
    assert "refusing to change" in refused.stderr
    assert refused.stdout.count("\n- h") == 12  # the plan is shown with the refusal
    still = json.loads(cli("dns", "records", "-p", "dnsb", "--json", "example.com").stdout)
    assert len([r for r in still if r["name"].startswith("h")]) == 12
    cli("dns", "apply", "--force", "dnsa:example.com", "dnsb")
    after = json.loads(cli("dns", "records", "-p", "dnsb", "--json", "example.com").stdout)
    assert not [r for r in after if r["name"].startswith("h")]


def test_bad_dns_arguments(cli: Invoke, zones: Path) -> None:
    assert cli("dns", "plan", "nofile.zone", "dnsb", ok=False).exit_code == 2
    assert cli("dns", "plan", str(zones), "nobody", ok=False).exit_code == 2
    several = cli("dns", "zones", ok=False)
    assert several.exit_code == 2 and "several dns profiles" in several.stderr


def test_plan_and_apply_take_profile(cli: Invoke, zones: Path, tmp_path: Path) -> None:
    """``--profile`` names the target (the command's or the global one); TARGET is
    then a domain or left out (the source's domain)."""
    cli("dns", "import", "-p", "dnsb", str(zones))
    changed = ZONE.replace("192.0.2.2", "192.0.2.9")
    (tmp_path / "changed.zone").write_text(changed)
    source = str(tmp_path / "changed.zone")
    plan = json.loads(cli("dns", "plan", "--json", source, "--profile", "dnsb").stdout)
    assert plan["target"].endswith("example.com.")
    assert [c["action"] for c in plan["changes"]] == ["update"]
    # the global --profile, and TARGET as a domain under it
    again = json.loads(cli("-p", "dnsb", "dns", "plan", "--json", source,
                           "example.com").stdout)
    assert again["changes"] == plan["changes"]
    # the old positional form still answers the same
    old = json.loads(cli("dns", "plan", "--json", source, "dnsb").stdout)
    assert old["changes"] == plan["changes"]
    cli("dns", "apply", source, "-p", "dnsb")
    assert json.loads(cli("dns", "plan", "--json", source, "-p", "dnsb").stdout)[
        "changes"] == []
    # into a domain the profile lacks: created there by apply
    cli("dns", "apply", "dnsb:example.com", "other.example", "-p", "dnsa")
    assert "other.example." in cli("dns", "zones", "-p", "dnsa").stdout
    # a profile's zone as the source, --profile the target
    cli("dns", "apply", "dnsb:example.com", "--profile", "dnsa")
    assert json.loads(cli("dns", "plan", "--json", "dnsb:example.com", "-p", "dnsa").stdout)[
        "changes"] == []


def test_plan_without_a_target_is_refused(cli: Invoke, zones: Path) -> None:
    nothing = cli("dns", "plan", str(zones), ok=False)
    assert nothing.exit_code == 2 and "--profile" in nothing.stderr
    unknown = cli("dns", "plan", str(zones), "nobody:example.com", ok=False)
    assert unknown.exit_code == 2 and "no profile named 'nobody'" in unknown.stderr
    wrong_area = cli("dns", "plan", str(zones), "-p", "nobody", ok=False)
    assert wrong_area.exit_code == 3  # an unknown profile: NotFound, nothing sent
