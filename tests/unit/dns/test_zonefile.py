"""The zone-file driver without a name server: the one pager over its files,
record sets of any type (RRSIG and SIG sets spanning covered types), the checks
every create and update shares, and master-file text read back as written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from overcast.dns import bind
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.bind import master_file_ttl
from overcast.dns.bind import parse_master_file
from overcast.dns.drivers.zonefile import ZoneFileDNSDriver
from overcast.dns.records import canonical
from overcast.errors import InvalidInput
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.testing import MODES
from overcast.testing import call

SIGS = [
    "A 13 3 300 20300101000000 20200101000000 12345 example.test. dGVzdA==",
    "MX 13 3 300 20300101000000 20200101000000 12345 example.test. dGVzdA==",
]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def driver(tmp_path: Path) -> ZoneFileDNSDriver:
    return ZoneFileDNSDriver(tmp_path / "zones", page_size=2)


@pytest.fixture
def zone(driver: ZoneFileDNSDriver) -> Zone:
    return driver.create_zone("example.test.", ttl=600)


def test_zones_are_read_a_page_at_a_time(driver: ZoneFileDNSDriver, mode: str) -> None:
    for i in range(5):
        driver.create_zone(f"z{i}.test")
    effects = []
    op = ZoneFileDNSDriver.iterate_zones.fn(driver)
    value = None
    while True:
        try:
            effect = op.send(value)
        except StopIteration:
            break
        effects.append(effect)
        value = effect.fn(*effect.args) if isinstance(effect, Call) else None
    reads = [e for e in effects if isinstance(e, Call)]
    assert [len(e.args[0]) for e in reads[1:]] == [2, 2, 1]  # after the directory listing
    assert [e.item.id for e in effects if isinstance(e, Emit)] == [f"z{i}.test." for i in range(5)]
    assert [z.id for z in call(mode, driver, "list_zones")] == [f"z{i}.test." for i in range(5)]
    assert call(mode, ZoneFileDNSDriver(driver.directory + "-empty"), "list_zones") == []


def test_a_signature_set_spans_the_types_it_covers(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str
) -> None:
    made = call(mode, driver, "create_record_set", "www", zone, "RRSIG", SIGS)
    assert (made.id, len(made.values)) == ("www:RRSIG", 2)
    listed = [r for r in driver.list_record_sets(zone) if r.name == "www"]
    assert [(r.id, len(r.values)) for r in listed] == [("www:RRSIG", 2)]
    fetched = call(mode, driver, "get_record_set", zone.id, "www:RRSIG")
    assert sorted(canonical("RRSIG", v) for v in fetched.values) == sorted(
        canonical("RRSIG", v) for v in SIGS)
    one = call(mode, driver, "update_record_set", fetched, None, None, SIGS[:1])
    assert one.values == [SIGS[0]]
    assert call(mode, driver, "delete_record_set", one) is True
    assert [r.id for r in driver.list_record_sets(zone) if r.name == "www"] == []
    with pytest.raises(RecordNotFound):
        call(mode, driver, "delete_record_set", one)
    # A CNAME may stand beside DNSSEC records, other data may not.
    call(mode, driver, "create_record_set", "n", zone, "NSEC", "o.example.test. CNAME RRSIG NSEC")
    call(mode, driver, "create_record_set", "n", zone, "CNAME", "target.example.net.")
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver, "create_record_set", "n", zone, "A", "192.0.2.1")


def test_creates_and_updates_share_the_checks(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str
) -> None:
    a = call(mode, driver, "create_record_set", "a", zone, "A", "192.0.2.1")
    assert a.ttl == 600
    call(mode, driver, "create_record_set", "b", zone, "TXT", "beside b")
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "create_record_set", "a", zone, "A", "192.0.2.2")
    with pytest.raises(RecordAlreadyExists):  # a rename onto an existing set
        call(mode, driver, "update_record_set", a, "b", "TXT", "x")
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver, "update_record_set", a, "b", "CNAME", "x.example.net.")
    with pytest.raises(InvalidInput, match="not in zone"):
        call(mode, driver, "create_record_set", "www.other.test.", zone, "A", "192.0.2.3")
    moved = call(mode, driver, "update_record_set", a, "A.example.test.", None, None, ttl=60)
    assert (moved.id, moved.ttl) == ("A:A", 60)  # the same set, spelled otherwise
    retyped = call(mode, driver, "update_record_set", moved, None, "AAAA", "2001:db8::1")
    assert retyped.id == "A:AAAA"
    assert {r.id for r in driver.list_record_sets(zone)} == {"@:SOA", "@:NS", "A:AAAA", "b:TXT"}


@pytest.mark.parametrize(("rtype", "value"), [
    ("TLSA", "3 1 1 " + "AB" * 32),
    ("HTTPS", '1 . alpn="h2,h3" port=8443'),
    ("LOC", "52 22 23 N 4 53 32 E -2m"),
    ("CERT", "PKIX 12345 RSASHA256 dGVzdA=="),
    ("HIP", "2 200100107B1A74DF365639CC39F1D578 AwEAAQ== rvs.example.net"),
    ("DSYNC", "CDS 1 5359 dsync.example.net."),
    ("WALLET", '"BTC" "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"'),
])
def test_any_type_is_written_read_and_exported(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str, tmp_path: Path, rtype: str, value: str
) -> None:
    assert RecordType(rtype) in driver.record_types
    call(mode, driver, "create_record_set", "t", zone, rtype, value)
    fetched = driver.get_record_set(zone.id, f"t:{rtype}")
    assert canonical(rtype, fetched.values[0]) == canonical(rtype, value)
    text = call(mode, driver, "export_zone_to_bind_format", zone)
    origin, ttl, sets = parse_master_file(text, None, driver)
    assert (origin, ttl) == ("example.test.", 600)
    (name, kind, values, _), = [s for s in sets if s[0] == "t"]
    assert (name, kind, [canonical(rtype, v) for v in values]) == (
        "t", rtype, [canonical(rtype, value)])
    copy = ZoneFileDNSDriver(tmp_path / "copy")
    imported = call(mode, copy, "import_zone_from_bind_format", text)
    assert canonical(rtype, copy.get_record_set(imported.id, f"t:{rtype}").values[0]) == canonical(
        rtype, value)


def test_master_file_ttl() -> None:
    assert master_file_ttl("$TTL 1h\n") == 3600
    assert master_file_ttl("; none\n") is None
    assert master_file_ttl("$TTL soon\n") is None


def test_page_size_is_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="page_size"):
        ZoneFileDNSDriver(tmp_path, page_size=0)


# -- a zone file stays loadable, whatever is asked ------------------------------------------


def _file(driver: ZoneFileDNSDriver, zone: Zone) -> bytes:
    return Path(driver.zone_path(zone)).read_bytes()


def test_an_soa_only_at_the_apex(driver: ZoneFileDNSDriver, zone: Zone, mode: str) -> None:
    soa = "ns1.example.test. hostmaster.example.test. 1 2 3 4 5"
    with pytest.raises(InvalidInput, match="apex"):
        call(mode, driver, "create_record_set", "sub", zone, "SOA", soa)
    txt = call(mode, driver, "create_record_set", "sub", zone, "TXT", "x")
    with pytest.raises(InvalidInput, match="apex"):
        call(mode, driver, "update_record_set", txt, None, "SOA", soa)
    call(mode, driver, "delete_record_set", txt)
    assert {r.id for r in call(mode, driver, "list_record_sets", zone)} == {"@:SOA", "@:NS"}


@pytest.mark.parametrize("ttl", [2**31, 2**32, 2**40])
def test_ttls_beyond_rfc_2181_are_refused_before_writing(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str, ttl: int
) -> None:
    before = _file(driver, zone)
    with pytest.raises(InvalidInput, match="2\\*\\*31"):
        call(mode, driver, "create_record_set", "big", zone, "A", "192.0.2.1", ttl=ttl)
    with pytest.raises(InvalidInput, match="2\\*\\*31"):
        call(mode, driver, "create_record_set", "big", zone, "A", "192.0.2.1", {"ttl": ttl})
    with pytest.raises(InvalidInput, match="2\\*\\*31"):
        call(mode, driver, "update_zone", zone, None, ttl=ttl)
    with pytest.raises(InvalidInput, match="2\\*\\*31"):
        call(mode, driver, "create_zone", "big.test.", ttl=ttl)
    assert not Path(driver.zone_path("big.test.")).exists()
    assert _file(driver, zone) == before
    made = call(mode, driver, "create_record_set", "max", zone, "A", "192.0.2.1", ttl=2**31 - 1)
    assert made.ttl == 2**31 - 1
    with pytest.raises(InvalidInput, match="2\\*\\*31"):
        call(mode, driver, "update_record_set", made, None, None, None, ttl=ttl)
    assert [z.id for z in call(mode, driver, "list_zones")] == ["example.test."]
    assert call(mode, driver, "delete_record_set", made) is True


def test_a_write_that_would_not_load_leaves_the_file_as_it_was(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    call(mode, driver, "create_record_set", "www", zone, "A", "192.0.2.1")
    before = _file(driver, zone)
    render = bind.render_zone

    def broken(*args: Any, **kwargs: Any) -> str:
        return render(*args, **kwargs) + "sub 60 IN SOA a. b. 1 2 3 4 5\n"

    monkeypatch.setattr(bind, "render_zone", broken)
    with pytest.raises(InvalidInput, match="unreadable"):
        call(mode, driver, "create_record_set", "new", zone, "A", "192.0.2.2")
    with pytest.raises(InvalidInput, match="unreadable"):
        call(mode, driver, "create_zone", "other.test.")
    assert _file(driver, zone) == before
    assert not Path(driver.zone_path("other.test.")).exists()
    assert os.listdir(driver._tmp_dir) == []
    monkeypatch.undo()
    listed = call(mode, driver, "list_record_sets", zone)
    assert {r.id for r in listed} == {"@:SOA", "@:NS", "www:A"}


def test_a_file_that_is_not_utf8_is_invalid_input_and_skipped_by_listings(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str
) -> None:
    driver.create_zone("z.test.")
    Path(driver.zone_path("bad.test.")).write_bytes(b"$ORIGIN bad.test.\n\xff\xfe IN A 1\n")
    with pytest.raises(InvalidInput, match="UTF-8"):
        call(mode, driver, "get_zone", "bad.test.")
    bad = Zone("bad.test.", "bad.test.", "master", None, driver)
    with pytest.raises(InvalidInput, match="UTF-8"):
        call(mode, driver, "list_record_sets", bad)
    with pytest.raises(InvalidInput, match="UTF-8"):
        call(mode, driver, "create_record_set", "www", bad, "A", "192.0.2.1")
    with pytest.warns(RuntimeWarning, match="bad.test"):
        listed = call(mode, driver, "list_zones")
    assert [z.id for z in listed] == ["example.test.", "z.test."]
    # An import finds its zone past the unreadable one.
    text = "$ORIGIN z.test.\n$TTL 60\nwww IN A 192.0.2.1\n"
    with pytest.warns(RuntimeWarning, match="bad.test"):
        imported = call(mode, driver, "import_zone_from_bind_format", text)
    assert imported.id == "z.test."
    assert call(mode, driver, "delete_zone", bad) is True


def test_a_directory_named_like_a_zone_file_is_invalid_input(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str
) -> None:
    os.mkdir(driver.zone_path("dir.test."))
    folder = Zone("dir.test.", "dir.test.", "master", None, driver)
    with pytest.raises(InvalidInput, match="directory"):
        call(mode, driver, "get_zone", "dir.test.")
    with pytest.raises(InvalidInput, match="directory"):
        call(mode, driver, "get_record_set", "dir.test.", "www:A")
    with pytest.raises(InvalidInput, match="directory"):
        call(mode, driver, "list_record_sets", folder)
    with pytest.raises(InvalidInput, match="directory"):
        call(mode, driver, "create_record_set", "www", folder, "A", "192.0.2.1")
    with pytest.raises(InvalidInput, match="directory"):
        call(mode, driver, "delete_zone", folder)
    assert [z.id for z in call(mode, driver, "list_zones")] == ["example.test."]
    assert os.path.isdir(driver.zone_path("dir.test."))


def test_an_import_is_one_write(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[str] = []
    replace_file = driver._replace_file

    def counted(path: str, text: str, *, overwrite: bool) -> None:
        writes.append(path)
        replace_file(path, text, overwrite=overwrite)

    monkeypatch.setattr(driver, "_replace_file", counted)
    lines = [f"h{i} IN A 192.0.2.{i % 250 + 1}" for i in range(120)]
    text = "$ORIGIN example.test.\n$TTL 60\n" + "\n".join(lines) + "\n"
    call(mode, driver, "import_zone_from_bind_format", text)
    assert writes == [driver.zone_path(zone)]
    assert len(call(mode, driver, "list_record_sets", zone)) == 122


def test_an_import_that_fails_writes_nothing(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str
) -> None:
    call(mode, driver, "create_record_set", "www", zone, "A", "192.0.2.7")
    before = _file(driver, zone)
    text = "$ORIGIN example.test.\n$TTL 60\naaa IN A 192.0.2.1\nwww IN CNAME aaa.example.test.\n"
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver, "import_zone_from_bind_format", text)
    generated = "$ORIGIN example.test.\n$TTL 60\n$GENERATE 1-300 g$ A 192.0.2.1\n"
    with pytest.raises(InvalidInput, match=r"\$GENERATE"):
        call(mode, driver, "import_zone_from_bind_format", generated)
    assert _file(driver, zone) == before
