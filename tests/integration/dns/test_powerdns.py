"""The PowerDNS driver against a real PowerDNS Authoritative server: what the DNS
contract does not cover (credentials, paging, atomic updates, long and
non-ASCII TXT on the wire, error mapping, zone settings)."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers.powerdns import PowerDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from servers.dns_powerdns import PowerDNSServer
from servers.dns_powerdns import server
from servers.modes import call

pytestmark = pytest.mark.server

LONG_TXT = "".join(f"{i:03d}-abcdefg;" for i in range(50))[:600]
UNICODE_TXT = 'naïve café ✓ "quoted" \\ back ' + "ü" * 150  # > 255 bytes of UTF-8


@pytest.fixture
def pdns(request: pytest.FixtureRequest) -> PowerDNSServer:
    return server(request)


@pytest.fixture
def sent() -> list[RequestEvent]:
    return []


@pytest.fixture
def driver(pdns: PowerDNSServer, sent: list[RequestEvent]) -> Iterator[PowerDNSDriver]:
    with pdns.driver(page_size=3, hooks=Hooks(on_request=[sent.append])) as made:
        yield made


def domain() -> str:
    return f"pd{uuid.uuid4().hex[:10]}.example.test."


@pytest.fixture
def zone(driver: PowerDNSDriver) -> Iterator[Zone]:
    made = driver.create_zone(domain())
    yield made
    with contextlib.suppress(ZoneNotFound):
        driver.delete_zone(made)


def query(pdns: PowerDNSServer, fqdn: str, rtype: str) -> dns.message.Message:
    message = dns.message.make_query(fqdn, dns.rdatatype.from_text(rtype))
    return dns.query.tcp(message, "127.0.0.1", port=pdns.dns_port, timeout=5)


def answer_strings(pdns: PowerDNSServer, fqdn: str, rtype: str) -> list[tuple[bytes, ...]]:
    """The raw character-strings (TXT) or text (others) of each answer."""
    result: list[tuple[bytes, ...]] = []
    for rrset in query(pdns, fqdn, rtype).answer:
        for rdata in rrset:
            if rtype == "TXT":
                result.append(tuple(rdata.strings))
            else:
                result.append((rdata.to_text().encode(),))
    return sorted(result)


# -- credentials ----------------------------------------------------------------------


def test_wrong_key_is_invalid_credentials_and_never_shown(
    pdns: PowerDNSServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    seen: list[RequestEvent] = []
    caplog.set_level(logging.DEBUG, logger="overcast")
    hooks = Hooks(on_request=[seen.append])
    with PowerDNSDriver(wrong, endpoint=pdns.endpoint, hooks=hooks) as bad:
        for name, args in (("list_zones", ()), ("get_zone", ("example.test.",)),
                           ("create_zone", (domain(),))):
            with pytest.raises(InvalidCredentials) as info:
                call(mode, bad, name, *args)
            assert wrong not in str(info.value)
            assert wrong not in repr(info.value)
        assert wrong not in repr(bad)
    assert seen, "no request was sent"
    for event in seen:
        assert wrong not in str(event)
        assert event.headers.get("X-API-Key") in (None, "***")
    assert wrong not in caplog.text
    assert pdns.api_key not in caplog.text


def test_the_right_key_is_sent_only_as_a_header(
    driver: PowerDNSDriver, sent: list[RequestEvent], caplog: pytest.LogCaptureFixture,
    pdns: PowerDNSServer,
) -> None:
    caplog.set_level(logging.DEBUG, logger="overcast")
    driver.list_zones()
    assert sent
    assert all(pdns.api_key not in event.url for event in sent)
    assert pdns.api_key not in caplog.text
    assert pdns.api_key not in repr(driver)


# -- paging ---------------------------------------------------------------------------


def test_zone_listing_emits_every_zone_page_by_page(
    driver: PowerDNSDriver, mode: str
) -> None:
    made = [driver.create_zone(domain()) for _ in range(8)]
    try:
        listed = call(mode, driver, "list_zones")
        iterated = call(mode, driver, "iterate_zones")
        ids = {z.id for z in made}
        assert ids <= {z.id for z in listed}
        assert ids <= {z.id for z in iterated}
        assert [z.id for z in iterated] == [z.id for z in listed]
        assert len({z.id for z in listed}) == len(listed) > driver.page_size
        # A consumer that stops early still gets zones one page after another.
        first = next(iter(driver.iterate_zones()))
        assert first.id == listed[0].id
    finally:
        for z in made:
            driver.delete_zone(z)


def test_page_size_is_checked() -> None:
    with pytest.raises(InvalidInput):
        PowerDNSDriver("key", page_size=0)
    with pytest.raises(InvalidInput):
        PowerDNSDriver("key", endpoint="127.0.0.1:8081")


def test_record_listing_emits_every_set(driver: PowerDNSDriver, mode: str, zone: Zone) -> None:
    for i in range(7):
        driver.create_record_set(f"h{i}", zone, RecordType.A, f"192.0.2.{i + 1}")
    records = call(mode, driver, "list_record_sets", zone)
    assert sorted(r.name for r in records if r.name.startswith("h")) == [
        f"h{i}" for i in range(7)
    ]
    assert {str(r.type) for r in records if r.name == ""} >= {"SOA"}
    assert len({r.id for r in records}) == len(records)


# -- updates ----------------------------------------------------------------------------


def test_update_record_replaces_values_in_one_patch(
    driver: PowerDNSDriver, mode: str, zone: Zone, sent: list[RequestEvent],
    pdns: PowerDNSServer,
) -> None:
    record = driver.create_record_set("api", zone, RecordType.A,
                                  ["192.0.2.1", "192.0.2.2", "192.0.2.3"], ttl=120)
    sent.clear()
    updated = call(mode, driver, "update_record_set", record, None, None,
                   ["192.0.2.7", "192.0.2.8"])
    assert [e.method for e in sent].count("PATCH") == 1
    assert sorted(updated.values) == ["192.0.2.7", "192.0.2.8"]
    assert updated.ttl == 120  # kept
    fetched = driver.get_record_set(zone.id, updated.id)
    assert sorted(fetched.values) == ["192.0.2.7", "192.0.2.8"]
    assert answer_strings(pdns, "api." + zone.domain, "A") == [(b"192.0.2.7",), (b"192.0.2.8",)]


def test_resolvers_never_see_a_half_updated_set(
    driver: PowerDNSDriver, zone: Zone, pdns: PowerDNSServer
) -> None:
    first = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    second = ["198.51.100.1", "198.51.100.2"]
    record = driver.create_record_set("flip", zone, RecordType.A, first)
    allowed = [sorted(first), sorted(second)]
    seen: list[list[str]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            answer = query(pdns, "flip." + zone.domain, "A")
            values = sorted(r.to_text() for rrset in answer.answer for r in rrset)
            seen.append(values)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(20):
            record = driver.update_record_set(record, None, None, second if i % 2 == 0 else first)
    finally:
        stop.set()
        watcher.join()
    assert seen
    assert all(values in allowed for values in seen), [v for v in seen if v not in allowed]


def test_rename_and_retype_in_one_patch(
    driver: PowerDNSDriver, mode: str, zone: Zone, sent: list[RequestEvent],
    pdns: PowerDNSServer,
) -> None:
    record = driver.create_record_set("old", zone, RecordType.A, "192.0.2.1")
    sent.clear()
    moved = call(mode, driver, "update_record_set", record, "new", RecordType.CNAME,
                 "target.example.test.")
    assert [e.method for e in sent].count("PATCH") == 1
    assert (moved.name, str(moved.type), moved.id) == ("new", "CNAME", "new:CNAME")
    with pytest.raises(RecordNotFound):
        driver.get_record_set(zone.id, "old:A")
    assert driver.get_record_set(zone.id, "new:CNAME").values == ["target.example.test."]
    assert answer_strings(pdns, "new." + zone.domain, "CNAME") == [(b"target.example.test.",)]
    other = driver.create_record_set("taken", zone, RecordType.A, "192.0.2.5")
    with pytest.raises(RecordAlreadyExists):
        driver.update_record_set(other, "new", RecordType.CNAME, "x.example.test.")
    with pytest.raises(InvalidInput):  # an A beside the CNAME
        driver.update_record_set(other, "new", None, None)


def test_update_of_a_deleted_set_is_record_not_found(
    driver: PowerDNSDriver, mode: str, zone: Zone
) -> None:
    record = driver.create_record_set("gone", zone, RecordType.A, "192.0.2.1")
    driver.delete_record_set(record)
    with pytest.raises(RecordNotFound):
        call(mode, driver, "update_record_set", record, None, None, "192.0.2.2")
    assert [r for r in driver.list_record_sets(zone) if r.name == "gone"] == []


# -- TXT on the wire ------------------------------------------------------------------------


def test_long_and_unicode_txt_round_trip_and_resolve(
    driver: PowerDNSDriver, mode: str, zone: Zone, pdns: PowerDNSServer
) -> None:
    values = [LONG_TXT, UNICODE_TXT, "", "v=spf1 -all"]
    created = call(mode, driver, "create_record_set", "txt", zone, RecordType.TXT, values,
                   {"ttl": 60})
    assert sorted(created.values) == sorted(values)
    fetched = call(mode, driver, "get_record_set", zone.id, "txt:TXT")
    assert sorted(fetched.values) == sorted(values)
    listed = [r for r in call(mode, driver, "list_record_sets", zone) if r.id == "txt:TXT"]
    assert sorted(listed[0].values) == sorted(values)
    wire = answer_strings(pdns, "txt." + zone.domain, "TXT")
    assert all(len(s) <= 255 for strings in wire for s in strings)
    assert sorted(b"".join(strings) for strings in wire) == sorted(
        v.encode("utf-8") for v in values
    )
    long_strings = next(s for s in wire if b"".join(s) == LONG_TXT.encode())
    assert [len(s) for s in long_strings] == [255, 255, 90]


# -- zones ------------------------------------------------------------------------------------


def test_zone_ttl_is_the_soa_ttl_and_the_default_for_new_sets(
    driver: PowerDNSDriver, mode: str, pdns: PowerDNSServer
) -> None:
    made = call(mode, driver, "create_zone", domain(), ZoneType.MASTER, 120,
                {"nameservers": ["ns1.example.net."]})
    try:
        assert made.ttl == 120
        assert made.id.endswith(".") and made.domain == made.id
        listed = next(z for z in driver.list_zones() if z.id == made.id)
        assert listed.ttl is None  # a listing holds no records
        record = driver.create_record_set("www", listed, RecordType.A, "192.0.2.1")
        assert record.ttl == 120
        ns = driver.get_record_set(made.id, "@:NS")
        assert ns.values == ["ns1.example.net."] and ns.ttl == 120
        changed = call(mode, driver, "update_zone", made, None, None, 300)
        assert changed.ttl == 300
        assert driver.get_zone(made.id).ttl == 300
        soa = query(pdns, made.domain, "SOA").answer[0]
        assert soa.ttl == 300
    finally:
        driver.delete_zone(made)


def test_zone_id_without_the_trailing_dot_is_accepted(driver: PowerDNSDriver, zone: Zone) -> None:
    assert driver.get_zone(zone.id.rstrip(".")).id == zone.id
    driver.create_record_set("x", zone, RecordType.A, "192.0.2.1")
    assert driver.get_record_set(zone.id.rstrip("."), "x:A").values == ["192.0.2.1"]


def test_update_zone_kind_and_settings(driver: PowerDNSDriver, mode: str, zone: Zone) -> None:
    assert zone.type == "master" and zone.extra["kind"] == "Native"
    changed = call(mode, driver, "update_zone", zone, None, None, None,
                   {"kind": "Master", "account": "team-a"})
    assert changed.type == "master"
    assert (changed.extra["kind"], changed.extra["account"]) == ("Master", "team-a")
    with pytest.raises(NotSupported):
        call(mode, driver, "update_zone", zone, "other.example.test.", None)
    with pytest.raises(InvalidInput):
        call(mode, driver, "update_zone", zone, None, None, None, {"colour": "blue"})


def test_slave_zone_needs_masters_before_any_request(
    driver: PowerDNSDriver, mode: str, sent: list[RequestEvent]
) -> None:
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_zone", domain(), ZoneType.SLAVE)
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_zone", "bad..name.test.")
    assert sent == []
    made = call(mode, driver, "create_zone", domain(), ZoneType.SLAVE, None,
                {"masters": ["192.0.2.53"]})
    try:
        assert made.type == "slave" and made.extra["masters"] == ["192.0.2.53"]
    finally:
        driver.delete_zone(made)


# -- errors -------------------------------------------------------------------------------------


def test_missing_zone_is_zone_not_found(driver: PowerDNSDriver, mode: str, zone: Zone) -> None:
    missing = Zone(id="missing." + zone.id, domain="missing." + zone.domain, type="master",
                   ttl=None, driver=driver)
    for name, args in (("get_zone", (missing.id,)), ("delete_zone", (missing,)),
                       ("list_record_sets", (missing,)), ("get_record_set", (missing.id, "www:A")),
                       ("get_record_set", (missing.id, "not-an-id"))):
        with pytest.raises(ZoneNotFound):
            call(mode, driver, name, *args)
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "create_record_set", "www", missing, RecordType.A, "192.0.2.1")


DNSKEY = ("257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0r"
          "AK9iUzy1L53eKGQ==")


def test_rejected_content_is_a_provider_error_with_the_server_text(
    driver: PowerDNSDriver, mode: str, zone: Zone, sent: list[RequestEvent]
) -> None:
    # Well-formed data the server refuses by its own rules: a DNSKEY below the apex.
    with pytest.raises(ProviderError) as info:
        call(mode, driver, "create_record_set", "ssh", zone, RecordType.DNSKEY, DNSKEY)
    assert info.value.status == 422
    assert info.value.code == "UnprocessableEntity"
    assert "ssh." + zone.domain in info.value.message  # PowerDNS's own "error" text
    assert [r for r in driver.list_record_sets(zone) if r.name == "ssh"] == []
    # Malformed data never reaches the server.
    sent.clear()
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_record_set", "ssh", zone, RecordType.SSHFP, "1 1 not-hex")
    assert sent == []


def test_unsupported_type_is_refused_before_any_request(
    driver: PowerDNSDriver, zone: Zone, sent: list[RequestEvent]
) -> None:
    sent.clear()
    with pytest.raises(NotSupported):
        driver.create_record_set("u", zone, RecordType.URL, "http://example.test/")
    with pytest.raises(InvalidInput):
        driver.create_record_set("www.elsewhere.test.", zone, RecordType.A, "192.0.2.1")
    assert sent == []


def test_export_of_the_server_zone_loads(
    driver: PowerDNSDriver, zone: Zone, tmp_path: Path
) -> None:
    import dns.zone

    driver.create_record_set("txt", zone, RecordType.TXT, [LONG_TXT, UNICODE_TXT])
    path = tmp_path / "zone.txt"
    driver.export_zone_to_bind_zone_file(zone.id, path)
    parsed = dns.zone.from_text(path.read_text(), origin=zone.domain, relativize=False,
                                check_origin=False)
    rdataset = parsed.find_rdataset("txt." + zone.domain, "TXT")
    assert sorted(b"".join(r.strings) for r in rdataset) == sorted(
        [LONG_TXT.encode(), UNICODE_TXT.encode()]
    )


# -- zone-file imports ---------------------------------------------------------------------


def test_a_large_import_is_one_patch_and_a_clash_writes_nothing(
    pdns: PowerDNSServer, driver: PowerDNSDriver, sent: list[RequestEvent], mode: str,
    zone: Zone
) -> None:
    lines = [f"h{i} IN A 192.0.{i // 250}.{i % 250 + 1}" for i in range(2000)]
    text = f"$ORIGIN {zone.domain}\n$TTL 600\n" + "\n".join(lines) + "\n"
    sent.clear()
    assert call(mode, driver, "import_zone_from_bind_format", text).id == zone.id
    assert [e.method for e in sent if e.method != "GET"] == ["PATCH"]
    assert len(driver.list_record_sets(zone)) == 2001  # and the SOA
    assert answer_strings(pdns, f"h1999.{zone.domain}", "A") == [
        (b"192.0.7.250",)]
    # A CNAME beside one of them, and new sets before it: refused, nothing written.
    sent.clear()
    clash = f"$ORIGIN {zone.domain}\n$TTL 600\naaa IN A 192.0.2.1\nh7 IN CNAME aaa\n"
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver, "import_zone_from_bind_format", clash)
    assert [e.method for e in sent] == ["GET", "GET"]  # the zones, then the zone's sets
    assert len(driver.list_record_sets(zone)) == 2001
