"""The zonefile driver: what the DNS contract does not cover.

Files that BIND's own checker accepts, SOA serials, atomic rewrites under a
per-zone lock (threads and processes), zone-level settings, files edited by
hand, paging of the zone listing, and the sans-I/O shape of the operations.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import dns.zone
import pytest

from overcast.dns.base import RecordSet
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.drivers.zonefile import ZoneFileDNSDriver
from overcast.dns.records import canonical
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from servers.dns_bind import bind_server
from servers.modes import call

LONG_TXT = "".join(f"{i:03d}-abcdefg;" for i in range(50))[:600]


def checkzone(domain: str, path: str) -> subprocess.CompletedProcess[str]:
    """BIND's named-checkzone, with the checks named applies to a primary zone."""
    exe = shutil.which("named-checkzone") or "/usr/bin/named-checkzone"
    if not os.path.exists(exe):
        pytest.fail("named-checkzone is not installed (apt-get install bind9-utils)")
    return subprocess.run(
        [exe, "-i", "full", "-k", "fail", "-n", "fail", domain, path],
        capture_output=True, text=True, check=False,
    )


@pytest.fixture
def driver(tmp_path: Path) -> ZoneFileDNSDriver:
    return ZoneFileDNSDriver(tmp_path / "zones")


@pytest.fixture
def zone(driver: ZoneFileDNSDriver) -> Zone:
    return driver.create_zone("example.test.", ttl=600)


def serial(driver: ZoneFileDNSDriver, zone: Zone) -> int:
    return int(driver.get_record_set(zone.id, "@:SOA").values[0].split()[2])


def populate(driver: ZoneFileDNSDriver, zone: Zone) -> None:
    origin = zone.domain
    driver.create_record_set("www", zone, RecordType.A, ["192.0.2.10", "192.0.2.11"], ttl=300)
    driver.create_record_set("v6", zone, RecordType.AAAA, "2001:db8::1")
    driver.create_record_set("alias", zone, RecordType.CNAME, f"www.{origin}")
    driver.create_record_set("", zone, RecordType.MX, [f"10 www.{origin}", "20 mx.example.net."])
    driver.create_record_set("txt", zone, RecordType.TXT, ["hello", LONG_TXT, 'caf\u00e9 "q" \\'])
    driver.create_record_set("_sip._tcp", zone, RecordType.SRV, f"10 5 5060 www.{origin}")
    driver.create_record_set("", zone, RecordType.CAA, '0 issue "letsencrypt.org"')
    driver.create_record_set("sub", zone, RecordType.NS, ["ns1.other.test.", "ns2.other.test."])
    driver.create_record_set("*.dev", zone, RecordType.A, "192.0.2.99")
    driver.create_record_set("ptr", zone, RecordType.PTR, "host.example.net.")
    driver.create_record_set("ssh", zone, RecordType.SSHFP, "1 1 " + "ab" * 20)
    driver.create_record_set("_443._tcp.www", zone, RecordType.TLSA, "3 1 1 " + "cd" * 32)
    driver.create_record_set(
        "naptr", zone, RecordType.NAPTR, '100 10 "S" "SIP+D2U" "" _sip._udp.example.test.'
    )


# -- files BIND accepts ------------------------------------------------------------------


def test_written_files_pass_named_checkzone(driver: ZoneFileDNSDriver, zone: Zone) -> None:
    path = driver.zone_path(zone)
    result = checkzone("example.test", path)
    assert result.returncode == 0, result.stdout + result.stderr
    populate(driver, zone)
    result = checkzone("example.test", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded serial 14" in result.stdout  # 1 + one bump per change
    text = Path(path).read_text()
    assert text.splitlines()[1:3] == ["$ORIGIN example.test.", "$TTL 600"]
    assert text.splitlines()[3].startswith("example.test.\t600\tIN\tSOA\t")
    # dnspython reads back exactly the record sets the driver lists.
    parsed = dns.zone.from_text(text, origin="example.test.", relativize=False)
    assert len(parsed.nodes) == len({r.name for r in driver.list_record_sets(zone)})


def test_bind_serves_the_files(
    request: pytest.FixtureRequest, driver: ZoneFileDNSDriver
) -> None:
    """named loads a file as written, and reloads it after each change."""
    import dns.message
    import dns.query

    server = bind_server(request)
    domain = f"zf{os.getpid()}-{time.monotonic_ns() % 10**9}.example.test."
    zone = driver.create_zone(domain)
    driver.create_record_set("www", zone, RecordType.A, "192.0.2.1")
    server.add_zone(domain, driver.zone_path(zone), dynamic=False)
    try:
        server.wait_for_serial(domain, serial(driver, zone))

        def ask() -> list[str]:
            query = dns.message.make_query(f"www.{domain}", "A")
            answer = dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=5)
            return sorted(r.to_text() for rrset in answer.answer for r in rrset)

        assert ask() == ["192.0.2.1"]
        record = driver.get_record_set(zone.id, "www:A")
        driver.update_record_set(record, None, None, ["192.0.2.2", "192.0.2.3"])
        server.reload_zone(domain, serial(driver, zone))
        assert ask() == ["192.0.2.2", "192.0.2.3"]
    finally:
        server.delete_zone(domain)


# -- zones -------------------------------------------------------------------------------


def test_zone_ids_and_paths(driver: ZoneFileDNSDriver, zone: Zone, mode: str) -> None:
    assert zone.id == zone.domain == "example.test."
    assert zone.ttl == 600
    assert zone.extra["path"] == os.path.join(driver.directory, "example.test.zone")
    for spelling in ("example.test", "EXAMPLE.test.", "example.test."):
        assert call(mode, driver, "get_zone", spelling).id == "example.test."
    with pytest.raises(ZoneAlreadyExists):
        call(mode, driver, "create_zone", "Example.Test")


@pytest.mark.parametrize(
    "domain", ["", "@", ".", "..", "../etc", "a/b", "bad name", "a..b", "*.example", "x" * 64]
)
def test_bad_domains_touch_nothing(driver: ZoneFileDNSDriver, mode: str, domain: str) -> None:
    before = sorted(os.listdir(driver.directory))
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_zone", domain)
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "get_zone", domain)
    assert sorted(os.listdir(driver.directory)) == before


def test_create_zone_options(driver: ZoneFileDNSDriver, mode: str) -> None:
    zone = call(
        mode,
        driver,
        "create_zone",
        "opts.test",
        ttl=120,
        extra={
            "nameservers": ["ns1.example.net", "ns2.example.net."],
            "hostmaster": "dns.example.net.",
            "serial": 2024010100,
            "refresh": 7200,
            "retry": 900,
            "expire": 604800,
            "minimum": 60,
        },
    )
    records = {r.id: r for r in driver.list_record_sets(zone)}
    assert records["@:SOA"].values == [
        "ns1.example.net. dns.example.net. 2024010100 7200 900 604800 60"
    ]
    assert sorted(records["@:NS"].values) == ["ns1.example.net.", "ns2.example.net."]
    assert records["@:NS"].ttl == 120
    for bad in (
        {"color": "blue"},
        {"nameservers": []},
        {"nameservers": ["bad name"]},
        {"serial": -1},
        {"refresh": "soon"},
        {"hostmaster": ""},
    ):
        with pytest.raises(InvalidInput):
            call(mode, driver, "create_zone", "bad-options.test", extra=bad)
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_zone", "slave.test", "slave")
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_zone", "ttl.test", ttl=-5)
    assert [z.id for z in driver.list_zones()] == ["opts.test."]


def test_update_zone(driver: ZoneFileDNSDriver, zone: Zone, mode: str) -> None:
    before = serial(driver, zone)
    updated = call(mode, driver, "update_zone", zone, None, ttl=1200,
                   extra={"nameservers": ["ns.example.net."], "minimum": 30})
    assert updated.ttl == 1200
    assert driver.get_zone(zone.id).ttl == 1200
    records = {r.id: r for r in driver.list_record_sets(zone)}
    assert records["@:NS"].values == ["ns.example.net."]
    soa = records["@:SOA"].values[0].split()
    assert (soa[0], int(soa[2]), soa[-1]) == ("localhost.", before + 1, "30")
    with pytest.raises(InvalidInput):
        call(mode, driver, "update_zone", zone, "other.test.")
    with pytest.raises(InvalidInput):
        call(mode, driver, "update_zone", zone, None, extra={"nope": 1})
    assert call(mode, driver, "update_zone", zone, "EXAMPLE.test", None).id == zone.id


def test_delete_zone(driver: ZoneFileDNSDriver, zone: Zone, mode: str) -> None:
    assert call(mode, driver, "delete_zone", zone) is True
    assert not os.path.exists(driver.zone_path(zone))
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "delete_zone", zone)
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "list_record_sets", zone)
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "create_record_set", "www", zone, RecordType.A, "192.0.2.1")


def test_zone_listing_pages(tmp_path: Path, mode: str) -> None:
    driver = ZoneFileDNSDriver(tmp_path, page_size=2)
    for i in range(5):
        driver.create_zone(f"z{i}.test")
    (tmp_path / "notes.txt").write_text("not a zone")
    (tmp_path / "bad name.zone").write_text("not a zone either")
    # Pages of two: one Call for the names, then one per page of zone files.
    op = ZoneFileDNSDriver.iterate_zones.fn(driver)
    effects, value = [], None
    while True:
        try:
            effect = op.send(value)
        except StopIteration:
            break
        effects.append(effect)
        value = effect.fn(*effect.args) if isinstance(effect, Call) else None
    calls = [e for e in effects if isinstance(e, Call)]
    emitted = [e.item.id for e in effects if isinstance(e, Emit)]
    assert len(calls) == 1 + 3
    assert emitted == [f"z{i}.test." for i in range(5)]
    assert [z.id for z in call(mode, driver, "list_zones")] == emitted
    with pytest.raises(InvalidInput):
        ZoneFileDNSDriver(tmp_path, page_size=0)


# -- records -------------------------------------------------------------------------------


def test_every_change_bumps_the_serial(driver: ZoneFileDNSDriver, zone: Zone, mode: str) -> None:
    start = serial(driver, zone)
    record = call(mode, driver, "create_record_set", "a", zone, RecordType.A, "192.0.2.1")
    assert serial(driver, zone) == start + 1
    record = call(mode, driver, "update_record_set", record, None, None, "192.0.2.2")
    assert serial(driver, zone) == start + 2
    call(mode, driver, "delete_record_set", record)
    assert serial(driver, zone) == start + 3
    # A failed change writes nothing.
    mtime = os.stat(driver.zone_path(zone)).st_mtime_ns
    with pytest.raises(RecordNotFound):
        call(mode, driver, "delete_record_set", record)
    assert serial(driver, zone) == start + 3
    assert os.stat(driver.zone_path(zone)).st_mtime_ns == mtime


def test_soa_updates_keep_the_serial_moving(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str
) -> None:
    soa = driver.get_record_set(zone.id, "@:SOA")
    current = serial(driver, zone)
    fields = soa.values[0].split()
    fields[2] = "2030010100"
    soa = call(mode, driver, "update_record_set", soa, None, None, " ".join(fields))
    assert serial(driver, zone) == 2030010100  # a forward jump is kept
    fields[2] = "5"
    call(mode, driver, "update_record_set", soa, None, None, " ".join(fields))
    assert serial(driver, zone) == 2030010101  # going back is not allowed
    assert current < 2030010100
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "create_record_set", "", zone, "SOA", "a. b. 1 2 3 4 5")


def test_serial_wraps_around(driver: ZoneFileDNSDriver, mode: str) -> None:
    zone = driver.create_zone("wrap.test", extra={"serial": 2**32 - 1})
    call(mode, driver, "create_record_set", "a", zone, RecordType.A, "192.0.2.1")
    assert serial(driver, zone) == 1


def test_apex_soa_and_ns_cannot_be_deleted(
    driver: ZoneFileDNSDriver, zone: Zone, mode: str
) -> None:
    records = {r.id: r for r in driver.list_record_sets(zone)}
    for rid in ("@:SOA", "@:NS"):
        with pytest.raises(InvalidInput):
            call(mode, driver, "delete_record_set", records[rid])
    assert set(records) == {"@:SOA", "@:NS"}


def test_record_rules(driver: ZoneFileDNSDriver, zone: Zone, mode: str) -> None:
    a = driver.create_record_set("a", zone, RecordType.A, "192.0.2.1")
    assert a.ttl == 600  # the zone's $TTL
    driver.create_record_set("b", zone, RecordType.A, "192.0.2.2")
    driver.create_record_set("b", zone, RecordType.TXT, "beside b")
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "update_record_set", a, "b", None, None)
    b = driver.get_record_set(zone.id, "b:A")
    with pytest.raises(InvalidInput):  # a CNAME would stand beside the TXT
        call(mode, driver, "update_record_set", b, None, RecordType.CNAME, "x.example.net.")
    moved = call(mode, driver, "update_record_set", a, "c", RecordType.CNAME, "x.example.net.")
    assert moved.id == "c:CNAME"
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_record_set", "c", zone, RecordType.A, "192.0.2.3")
    back = call(mode, driver, "update_record_set", moved, None, RecordType.A, "192.0.2.4")
    assert back.id == "c:A"
    # Absolute names inside the zone are accepted; outside it they are not.
    www = call(mode, driver, "create_record_set", "www.example.test.", zone, RecordType.A,
               "192.0.2.5")
    assert www.name == "www"
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_record_set", "www.other.test.", zone, RecordType.A, "192.0.2.5")
    # Values dnspython cannot parse are refused before anything is written.
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_record_set", "ssh", zone, RecordType.SSHFP, "1 1 nothex")
    with pytest.raises(NotSupported):
        call(mode, driver, "create_record_set", "x", zone, "ALIAS", "example.net.")
    for bad in ("nocolon", "a..b:A", "www:NOPE", ""):
        with pytest.raises(RecordNotFound):
            call(mode, driver, "get_record_set", zone.id, bad)
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "get_record_set", "missing.test.", "www:A")


# -- concurrency -----------------------------------------------------------------------------


def test_threads_never_lose_a_change(driver: ZoneFileDNSDriver, zone: Zone) -> None:
    start = serial(driver, zone)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for n in range(5):
                driver.create_record_set(f"t{index}-{n}", zone, RecordType.A, f"192.0.2.{index}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = {r.name for r in driver.list_record_sets(zone)}
    assert {f"t{i}-{n}" for i in range(1, 9) for n in range(5)} <= names
    assert serial(driver, zone) == start + 40
    leftovers = os.listdir(os.path.join(driver.directory, ".overcast", "tmp"))
    assert leftovers == []


def _process_writer(directory: str, index: int) -> None:
    driver = ZoneFileDNSDriver(directory)
    zone = driver.get_zone("example.test.")
    for n in range(5):
        driver.create_record_set(f"p{index}-{n}", zone, RecordType.A, "192.0.2.1")


def test_processes_never_lose_a_change(driver: ZoneFileDNSDriver, zone: Zone) -> None:
    start = serial(driver, zone)
    context = multiprocessing.get_context("spawn")
    procs = [
        context.Process(target=_process_writer, args=(driver.directory, i)) for i in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    names = {r.name for r in driver.list_record_sets(zone)}
    assert {f"p{i}-{n}" for i in range(3) for n in range(5)} <= names
    assert serial(driver, zone) == start + 15


def test_writes_wait_for_the_zone_lock(driver: ZoneFileDNSDriver, zone: Zone) -> None:
    lock_path = os.path.join(driver.directory, ".overcast", "locks", "example.test.lock")
    done = threading.Event()
    with open(lock_path, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        thread = threading.Thread(
            target=lambda: (driver.create_record_set("w", zone, RecordType.A, "192.0.2.1"),
                            done.set()),
        )
        thread.start()
        assert not done.wait(0.3), "a write went ahead while another process held the lock"
        # Reads do not wait: the file is only ever replaced whole.
        assert [r.id for r in driver.list_record_sets(zone)] == ["@:SOA", "@:NS"]
        fcntl.flock(held, fcntl.LOCK_UN)
    assert done.wait(10)
    thread.join()
    assert driver.get_record_set(zone.id, "w:A").values == ["192.0.2.1"]


def test_a_failed_write_leaves_the_old_file(
    driver: ZoneFileDNSDriver, zone: Zone, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = driver.zone_path(zone)
    before = Path(path).read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        driver.create_record_set("x", zone, RecordType.A, "192.0.2.1")
    monkeypatch.undo()
    assert Path(path).read_bytes() == before
    assert os.listdir(os.path.join(driver.directory, ".overcast", "tmp")) == []


# -- files written by hand ---------------------------------------------------------------------


def test_hand_written_files_are_read_and_rewritten(
    driver: ZoneFileDNSDriver, mode: str
) -> None:
    path = os.path.join(driver.directory, "hand.test.zone")
    Path(path).write_text(
        "; maintained by hand\n"
        "$TTL 1h\n"
        "$ORIGIN hand.test.\n"
        "@   IN SOA ns1 hostmaster ( 41 ; serial\n"
        "        3600 600 86400 300 )\n"
        "    IN NS  ns1\n"
        "ns1 IN A   192.0.2.53\n"
        "www 60 IN CNAME @\n"
        "txt IN TXT \"part one \" \"part two\"\n"
    )
    zone = call(mode, driver, "get_zone", "hand.test")
    assert zone.ttl == 3600
    records = {r.id: r for r in call(mode, driver, "list_record_sets", zone)}
    assert records["www:CNAME"].values == ["hand.test."]
    assert records["www:CNAME"].ttl == 60
    assert records["txt:TXT"].values == ["part one part two"]
    assert records["@:NS"].values == ["ns1.hand.test."]
    call(mode, driver, "create_record_set", "new", zone, RecordType.A, "192.0.2.9")
    assert serial(driver, zone) == 42
    result = checkzone("hand.test", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "$TTL 3600" in Path(path).read_text()


def test_a_corrupt_file_is_a_provider_error(driver: ZoneFileDNSDriver, mode: str) -> None:
    Path(driver.directory, "broken.test.zone").write_text("$ORIGIN broken.test.\n@ IN A\n")
    zone = call(mode, driver, "get_zone", "broken.test")  # only the header is read
    with pytest.raises(ProviderError) as raised:
        call(mode, driver, "list_record_sets", zone)
    assert raised.value.code == "ZoneFileError"
    with pytest.raises(ProviderError):
        call(mode, driver, "create_record_set", "x", zone, RecordType.A, "192.0.2.1")
    assert Path(driver.directory, "broken.test.zone").read_text().endswith("@ IN A\n")


def test_records_list_in_canonical_order(driver: ZoneFileDNSDriver, zone: Zone) -> None:
    for name in ("b", "a", "_x", "z.a"):
        driver.create_record_set(name, zone, RecordType.TXT, name)
    listed: list[RecordSet] = driver.list_record_sets(zone)
    assert [r.id for r in listed] == [
        "@:SOA", "@:NS", "_x:TXT", "a:TXT", "z.a:TXT", "b:TXT"
    ]
    assert all(canonical("TXT", r.values[0]) == r.name for r in listed[2:])


def test_file_modes(driver: ZoneFileDNSDriver, zone: Zone) -> None:
    """New files are world-readable (a name server may run as its own user); a
    mode set by the administrator survives rewrites."""
    path = driver.zone_path(zone)
    assert os.stat(path).st_mode & 0o777 == 0o644
    os.chmod(path, 0o640)
    driver.create_record_set("m", zone, RecordType.A, "192.0.2.1")
    assert os.stat(path).st_mode & 0o777 == 0o640
