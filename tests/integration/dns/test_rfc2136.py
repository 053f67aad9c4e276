"""The rfc2136 driver against a real BIND 9: what the DNS contract does not cover.

Prerequisites that make creates atomic (racing clients), error mapping (bad
keys, a key that may not update, unserved zones, a server's own refusals,
network failures), zone discovery, the sans-I/O shape of the operations, and
zone-file export and import through a real server.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.drivers.rfc2136 import RFC2136DNSDriver
from overcast.dns.drivers.zonefile import ZoneFileDNSDriver
from overcast.dns.records import canonical
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import TransportError
from overcast.errors import ZoneNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from servers.dns_bind import BindServer
from servers.dns_bind import bind_server
from servers.dns_bind import make_driver
from servers.modes import call

pytestmark = pytest.mark.server


def unique(label: str = "it") -> str:
    return f"{label}{uuid.uuid4().hex[:10]}.example.test."


@pytest.fixture
def server(request: pytest.FixtureRequest) -> BindServer:
    return bind_server(request)


@pytest.fixture
def driver(server: BindServer) -> Iterator[RFC2136DNSDriver]:
    with make_driver(server) as d:
        yield d


@pytest.fixture
def zone(server: BindServer, driver: RFC2136DNSDriver) -> Iterator[Zone]:
    domain = unique()
    server.add_dynamic_zone(domain)
    yield driver.get_zone(domain)
    server.delete_zone(domain, clean=True)


def sets_of(records: list[RecordSet]) -> dict[tuple[str, str], list[str]]:
    return {
        (r.name, str(r.type)): sorted(canonical(str(r.type), v) for v in r.values)
        for r in records
    }


# -- construction --------------------------------------------------------------------------


def test_constructor_checks_and_never_touches_the_network() -> None:
    # An address nothing listens on: construction must still succeed.
    d = RFC2136DNSDriver("127.0.0.1", 9, tsig_name="k", tsig_secret="c2VjcmV0")
    assert "c2VjcmV0" not in repr(d)
    assert d.zones == ()
    bad: list[dict[str, Any]] = [
        {"tsig_algorithm": "hmac-sha3"},
        {"tsig_secret": "not base64!"},
        {"tsig_name": ""},
        {"tsig_name": "bad name"},
        {"zones": ("bad zone",)},
        {"default_ttl": -1},
        {"timeout": 0},
    ]
    for kwargs in bad:
        options: dict[str, Any] = {"tsig_name": "k", "tsig_secret": "c2VjcmV0", **kwargs}
        with pytest.raises(InvalidInput):
            RFC2136DNSDriver("127.0.0.1", 53, **options)
    with pytest.raises(InvalidInput):
        RFC2136DNSDriver("127.0.0.1", 70000, tsig_name="k", tsig_secret="c2VjcmV0")
    with pytest.raises(InvalidInput):
        RFC2136DNSDriver("", 53, tsig_name="k", tsig_secret="c2VjcmV0")


def test_zone_writes_are_not_supported(driver: RFC2136DNSDriver, zone: Zone, mode: str) -> None:
    for name, args in [
        ("create_zone", (unique(),)),
        ("update_zone", (zone, None)),
        ("delete_zone", (zone,)),
    ]:
        assert not driver.supports(name)
        with pytest.raises(NotSupported):
            call(mode, driver, name, *args)


def test_operations_are_sans_io(driver: RFC2136DNSDriver, zone: Zone) -> None:
    """Every network exchange is a Call effect (run in a worker thread when async)."""
    op = RFC2136DNSDriver.create_record_set.fn(driver, "sans", zone, RecordType.A, "192.0.2.1")
    effect = next(op)
    assert isinstance(effect, Call)
    result = effect.fn(*effect.args, **effect.kwargs)
    with pytest.raises(StopIteration) as done:
        op.send(result)
    assert done.value.value.values == ["192.0.2.1"]
    listing = RFC2136DNSDriver.iterate_record_sets.fn(driver, zone)
    effect = next(listing)
    assert isinstance(effect, Call)
    assert isinstance(listing.send(effect.fn(*effect.args)), Emit)
    listing.close()


# -- zones ---------------------------------------------------------------------------------


def test_iterate_zones_yields_the_configured_served_zones(
    server: BindServer, zone: Zone, mode: str
) -> None:
    missing = unique("missing")
    with make_driver(server, zones=(zone.domain, missing, "home.example.test")) as d:
        if server.serial("home.example.test.") is None:
            server.add_dynamic_zone("home.example.test.")
        zones = call(mode, d, "list_zones")
        assert [z.domain for z in zones] == [zone.domain, "home.example.test."]
        assert zones[0].extra["serial"] >= 1
        assert zones[0].extra["primary_ns"] == "ns.invalid."
        assert [z.id for z in call(mode, d, "iterate_zones")] == [z.id for z in zones]


def test_get_zone(driver: RFC2136DNSDriver, zone: Zone, mode: str) -> None:
    # Any served zone works, configured or not; the id is the domain, any case.
    assert call(mode, driver, "get_zone", zone.domain.upper().rstrip(".")).id == zone.id
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "get_zone", unique("missing"))
    with pytest.raises(ZoneNotFound):  # a name inside a zone is not a zone
        call(mode, driver, "get_zone", "www." + zone.domain)
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "get_zone", "not a domain")


def test_unserved_zone(driver: RFC2136DNSDriver, mode: str) -> None:
    domain = unique("missing")
    ghost = Zone(domain, domain, "master", None, driver)
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "list_record_sets", ghost)
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "create_record_set", "www", ghost, RecordType.A, "192.0.2.1")
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "get_record_set", domain, "www:A")


# -- credentials -----------------------------------------------------------------------------


def test_wrong_secret_is_invalid_credentials(server: BindServer, zone: Zone, mode: str) -> None:
    secret = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    with make_driver(server, tsig_secret=secret) as bad:
        for name, args in [
            ("get_zone", (zone.id,)),
            ("list_record_sets", (zone,)),
            ("create_record_set", ("x", zone, RecordType.A, "192.0.2.1")),
        ]:
            with pytest.raises(InvalidCredentials) as raised:
                call(mode, bad, name, *args)
            assert secret not in str(raised.value)
            assert server.tsig_secret not in str(raised.value)


def test_unknown_key_is_invalid_credentials(server: BindServer, zone: Zone, mode: str) -> None:
    with make_driver(server, tsig_name="nobody") as bad, pytest.raises(InvalidCredentials):
        call(mode, bad, "create_record_set", "x", zone, RecordType.A, "192.0.2.1")


def test_key_that_may_not_update(server: BindServer, zone: Zone, mode: str) -> None:
    with make_driver(
        server, tsig_name=server.readonly_tsig_name, tsig_secret=server.readonly_tsig_secret
    ) as reader:
        # It may transfer the zone, so reading works...
        assert [r.id for r in call(mode, reader, "list_record_sets", zone)] == ["@:SOA", "@:NS"]
        # ...but the server refuses its updates.
        with pytest.raises(InvalidCredentials):
            call(mode, reader, "create_record_set", "x", zone, RecordType.A, "192.0.2.1")


def test_server_policy_refusal_is_a_provider_error(
    server: BindServer, driver: RFC2136DNSDriver, mode: str
) -> None:
    domain = unique("strict")
    server.add_dynamic_zone(domain, check_integrity=True)
    try:
        zone = driver.get_zone(domain)
        with pytest.raises(ProviderError) as raised:
            call(mode, driver, "create_record_set", "", zone, RecordType.MX, f"10 mail.{domain}")
        assert raised.value.code == "REFUSED"
        # With the target's address in place first, the same MX is accepted.
        driver.create_record_set("mail", zone, RecordType.A, "192.0.2.25")
        call(mode, driver, "create_record_set", "", zone, RecordType.MX, f"10 mail.{domain}")
    finally:
        server.delete_zone(domain, clean=True)


# -- network failures ------------------------------------------------------------------------


def test_nothing_listening_is_a_transport_error(server: BindServer, mode: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with make_driver(server) as d:
        d.port = port
        with pytest.raises(TransportError):
            call(mode, d, "get_zone", "example.test.")


def test_silent_server_is_a_timeout(server: BindServer, mode: str) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with make_driver(server, timeout=0.5) as d:
            d.port = listener.getsockname()[1]
            with pytest.raises(OperationTimeout):
                call(mode, d, "get_zone", "example.test.")
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


# -- prerequisites -----------------------------------------------------------------------------


def test_racing_creates_have_one_winner(server: BindServer, zone: Zone) -> None:
    drivers = [make_driver(server) for _ in range(4)]
    outcomes: dict[str, list[str]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(drivers))

    def race(index: int, d: RFC2136DNSDriver) -> None:
        barrier.wait()
        for n in range(8):
            try:
                d.create_record_set(f"race{n}", zone, RecordType.A, f"192.0.2.{index + 1}")
                result = "won"
            except RecordAlreadyExists:
                result = "lost"
            with lock:
                outcomes.setdefault(f"race{n}", []).append(result)

    threads = [threading.Thread(target=race, args=(i, d)) for i, d in enumerate(drivers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in drivers:
        d.close()
    for name, results in outcomes.items():
        assert sorted(results) == ["lost", "lost", "lost", "won"], name
    # Each set holds exactly the winner's single value: nothing was merged.
    for record in make_driver(server).list_record_sets(zone):
        if record.name.startswith("race"):
            assert len(record.values) == 1, record


def test_cname_rules(driver: RFC2136DNSDriver, zone: Zone, mode: str) -> None:
    driver.create_record_set("data", zone, RecordType.A, "192.0.2.1")
    driver.create_record_set("alias", zone, RecordType.CNAME, "target.example.net.")
    with pytest.raises(InvalidInput):  # CNAME beside data
        call(mode, driver, "create_record_set", "data", zone, RecordType.CNAME, "x.example.net.")
    with pytest.raises(InvalidInput):  # data beside a CNAME
        call(mode, driver, "create_record_set", "alias", zone, RecordType.TXT, "hello")
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "create_record_set", "alias", zone, RecordType.CNAME, "y.example.net.")
    with pytest.raises(InvalidInput):  # the apex holds SOA and NS
        call(mode, driver, "create_record_set", "", zone, RecordType.CNAME, "x.example.net.")
    assert sets_of(driver.list_record_sets(zone))[("alias", "CNAME")] == ["target.example.net."]
    assert ("data", "CNAME") not in sets_of(driver.list_record_sets(zone))


def test_update_rules(driver: RFC2136DNSDriver, zone: Zone, mode: str) -> None:
    a = driver.create_record_set("a", zone, RecordType.A, "192.0.2.1", ttl=60)
    b = driver.create_record_set("b", zone, RecordType.A, "192.0.2.2")
    driver.create_record_set("b", zone, RecordType.TXT, "beside b")
    assert b.ttl == driver.default_ttl
    # Values and TTL: the TTL is kept when not given.
    a2 = call(mode, driver, "update_record_set", a, None, None, ["192.0.2.3", "192.0.2.4"])
    assert a2.ttl == 60
    assert sets_of(driver.list_record_sets(zone))[("a", "A")] == ["192.0.2.3", "192.0.2.4"]
    # Rename onto an existing set.
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "update_record_set", a2, "b", None, None)
    # Retype to a CNAME where other data stays.
    with pytest.raises(InvalidInput):
        call(mode, driver, "update_record_set", b, None, RecordType.CNAME, "x.example.net.")
    # Rename to a fresh name, then retype A -> CNAME where nothing else lives.
    moved = call(mode, driver, "update_record_set", a2, "c", None, None)
    assert moved.id == "c:A"
    cname = call(mode, driver, "update_record_set", moved, None, RecordType.CNAME, "x.example.net.")
    assert cname.id == "c:CNAME"
    back = call(mode, driver, "update_record_set", cname, None, RecordType.A, "192.0.2.9")
    found = sets_of(driver.list_record_sets(zone))
    assert found[("c", "A")] == ["192.0.2.9"] and ("c", "CNAME") not in found
    assert ("a", "A") not in found
    # The old set is gone: updating or deleting it again is RecordNotFound.
    with pytest.raises(RecordNotFound):
        call(mode, driver, "update_record_set", a2, None, None, "192.0.2.5")
    assert call(mode, driver, "delete_record_set", back) is True
    with pytest.raises(RecordNotFound):
        call(mode, driver, "delete_record_set", back)


def test_a_ds_set_stands_at_a_delegation(
    driver: RFC2136DNSDriver, zone: Zone, mode: str
) -> None:
    ds = "12345 13 2 " + "AB" * 32
    with pytest.raises(InvalidInput, match="delegation"):
        call(mode, driver, "create_record_set", "child", zone, RecordType.DS, ds)
    driver.create_record_set("child", zone, RecordType.NS, "ns1.other.test.")
    made = call(mode, driver, "create_record_set", "child", zone, RecordType.DS, ds)
    assert sets_of(driver.list_record_sets(zone))[("child", "DS")] == [canonical("DS", ds)]
    assert made.values == ["12345 13 2 " + "ab" * 32]
    with pytest.raises(NotSupported):  # DNSSEC data the server makes itself
        call(mode, driver, "create_record_set", "child", zone, RecordType.RRSIG,
             "A 13 3 300 20300101000000 20200101000000 1 example.test. dGVzdA==")


def test_apex_soa_and_ns_are_protected(driver: RFC2136DNSDriver, zone: Zone, mode: str) -> None:
    records = {r.id: r for r in driver.list_record_sets(zone)}
    with pytest.raises(InvalidInput):
        call(mode, driver, "delete_record_set", records["@:SOA"])
    with pytest.raises(InvalidInput):
        call(mode, driver, "delete_record_set", records["@:NS"])
    with pytest.raises(NotSupported):  # SOA is the server's
        call(mode, driver, "create_record_set", "", zone, "SOA", "a. b. 1 2 3 4 5")
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "create_record_set", "", zone, RecordType.NS, "ns.example.net.")
    # The apex NS set may be replaced.
    call(mode, driver, "update_record_set", records["@:NS"], None, None, ["ns.example.net."])
    assert sets_of(driver.list_record_sets(zone))[("", "NS")] == ["ns.example.net."]


def test_get_record_is_exact(driver: RFC2136DNSDriver, zone: Zone, mode: str) -> None:
    driver.create_record_set("*", zone, RecordType.A, "192.0.2.7")
    driver.create_record_set("sub", zone, RecordType.NS, "ns1.other.test.")
    # A wildcard answers queries for any name, but the set is only "*".
    assert call(mode, driver, "get_record_set", zone.id, "*:A").values == ["192.0.2.7"]
    with pytest.raises(RecordNotFound):
        call(mode, driver, "get_record_set", zone.id, "anything:A")
    # A delegation's NS set is found (a query would get a referral).
    assert call(mode, driver, "get_record_set", zone.id, "sub:NS").values == ["ns1.other.test."]
    for bad in ("no-colon", "a..b:A", "www:NOTATYPE", ""):
        with pytest.raises(RecordNotFound):
            call(mode, driver, "get_record_set", zone.id, bad)


# -- zone files ----------------------------------------------------------------------------------


def test_export_and_import_through_the_server(
    server: BindServer, driver: RFC2136DNSDriver, zone: Zone, tmp_path: Path, mode: str
) -> None:
    origin = zone.domain
    driver.create_record_set("www", zone, RecordType.A, ["192.0.2.1", "192.0.2.2"], ttl=120)
    driver.create_record_set("txt", zone, RecordType.TXT, ["x" * 300, 'caf\u00e9 "q"'])
    driver.create_record_set("", zone, RecordType.MX, f"10 mail.{origin}")
    driver.create_record_set("_sip._tcp", zone, RecordType.SRV, f"10 5 5060 sip.{origin}")
    text = call(mode, driver, "export_zone_to_bind_format", zone)

    # Into a zone file...
    files = ZoneFileDNSDriver(tmp_path)
    copy = call(mode, files, "import_zone_from_bind_format", text)

    def user_sets(d: DNSDriver, z: Zone) -> dict[tuple[str, str], list[str]]:
        found = sets_of(d.list_record_sets(z))
        return {k: v for k, v in found.items() if k not in {("", "SOA"), ("", "NS")}}

    assert user_sets(files, copy) == user_sets(driver, zone)
    # ...and back into another zone on the server, which must exist already.
    other = unique()
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "import_zone_from_bind_format", files.export_zone_to_bind_format(copy),
             other)
    server.add_dynamic_zone(other)
    try:
        renamed = files.export_zone_to_bind_format(copy).replace(origin, other)
        imported = call(mode, driver, "import_zone_from_bind_format", renamed)
        assert imported.domain == other
        assert {k: [v.replace(other, origin) for v in vs]
                for k, vs in user_sets(driver, imported).items()} == user_sets(driver, zone)
    finally:
        server.delete_zone(other, clean=True)


def test_a_large_import_is_a_few_updates_and_a_clash_writes_nothing(
    driver: RFC2136DNSDriver, zone: Zone, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    updates: list[str] = []
    send = driver._update

    def counted(*args: Any) -> None:
        updates.append(args[2])
        send(*args)

    monkeypatch.setattr(driver, "_update", counted)
    lines = [f"h{i} IN A 192.0.{i // 250}.{i % 250 + 1}" for i in range(2000)]
    text = f"$ORIGIN {zone.domain}\n$TTL 600\n" + "\n".join(lines) + "\n"
    assert call(mode, driver, "import_zone_from_bind_format", text).domain == zone.domain
    assert 1 < len(updates) <= 5  # each within a bounded size, not one per set
    found = sets_of(driver.list_record_sets(zone))
    assert len(found) == 2002  # and the SOA and NS
    assert found[("h1999", "A")] == ["192.0.7.250"]
    # A CNAME beside one of them, and new sets before it: refused, nothing written.
    updates.clear()
    clash = f"$ORIGIN {zone.domain}\n$TTL 600\naaa IN A 192.0.2.1\nh7 IN CNAME aaa\n"
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver, "import_zone_from_bind_format", clash)
    assert updates == []
    assert len(driver.list_record_sets(zone)) == 2002
