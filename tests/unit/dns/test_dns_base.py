"""The DNS base API, driven through a tiny in-memory driver, sync and async."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dns.zone
import pytest

from overcast.dns import Provider
from overcast.dns import get_driver
from overcast.dns.base import DNSDriver
from overcast.dns.base import Record
from overcast.dns.base import RecordData
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneNotFound
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.operation import operations_of
from servers.modes import call

# -- running an operation sync or async ----------------------------------------------


def _no_network() -> Any:
    raise AssertionError("no request may be sent")


# -- the fakes -----------------------------------------------------------------------


class MemoryDNS(DNSDriver):
    """Zones and record sets in dicts."""

    name = "memory"
    record_types = (
        RecordType.A,
        RecordType.AAAA,
        RecordType.CNAME,
        RecordType.MX,
        RecordType.NS,
        RecordType.SOA,
        RecordType.SRV,
        RecordType.TXT,
    )

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)
        self.zones: dict[str, Zone] = {}
        self.records: dict[str, dict[str, RecordSet]] = {}

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        for zone in list(self.zones.values()):
            yield Emit(zone)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        yield from ()
        if zone_id not in self.zones:
            raise ZoneNotFound(zone_id, driver=self)
        return self.zones[zone_id]

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        yield from ()
        zone = Zone(domain, domain, str(type), ttl, self, dict(extra or {}))
        self.zones[zone.id] = zone
        self.records[zone.id] = {}
        return zone

    @operation
    def update_zone(
        self,
        zone: Zone,
        domain: str | None,
        type: ZoneType | str | None = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        yield from ()
        current = self.zones[zone.id]
        if ttl is not None:
            current.ttl = ttl
        if type is not None:
            current.type = str(type)
        return current

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        yield from ()
        if self.zones.pop(zone.id, None) is None:
            raise ZoneNotFound(zone.id, driver=self)
        del self.records[zone.id]
        return True

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        if zone.id not in self.records:
            raise ZoneNotFound(zone.id, driver=self)
        for record in list(self.records[zone.id].values()):
            yield Emit(record)

    @operation
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        yield from ()
        try:
            return self.records[zone_id][record_id]
        except KeyError:
            raise RecordNotFound(record_id, driver=self) from None

    def _store(
        self, zone: Zone, name: str, rtype: RecordType, values: list[str], ttl: int | None
    ) -> RecordSet:
        record = RecordSet(f"{name}:{rtype}", name, rtype, values[0], zone, self, ttl,
                           values=values)
        self.records[zone.id][record.id] = record
        return record

    @operation
    def create_record_set(
        self,
        name: str,
        zone: Zone,
        type: RecordType | str,
        data: RecordData,
        extra: Mapping[str, Any] | None = None,
        *,
        ttl: int | None = None,
    ) -> Op[RecordSet]:
        yield from ()
        name, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        ttl = self._record_ttl(ttl, extra)
        if f"{name}:{rtype}" in self.records[zone.id]:
            raise RecordAlreadyExists(f"{name}:{rtype}", driver=self)
        return self._store(zone, name, rtype, values, ttl)

    @operation
    def update_record_set(
        self,
        record: RecordSet,
        name: str | None,
        type: RecordType | str | None,
        data: RecordData | None,
        extra: Mapping[str, Any] | None = None,
        *,
        ttl: int | None = None,
    ) -> Op[RecordSet]:
        yield from ()
        new_name, rtype, values = self._validate_record(
            record.name if name is None else name,
            record.type if type is None else type,
            record.values if data is None else data,
            extra=extra,
            zone=record.zone,
        )
        new_ttl = self._record_ttl(ttl, extra)
        del self.records[record.zone.id][record.id]
        return self._store(
            record.zone, new_name, rtype, values, record.ttl if new_ttl is None else new_ttl
        )

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        yield from ()
        if self.records[record.zone.id].pop(record.id, None) is None:
            raise RecordNotFound(record.id, driver=self)
        return True


class BareDNS(DNSDriver):
    """Implements nothing."""

    name = "bare"

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)


class RecordsOnlyDNS(BareDNS):
    """Lists records, nothing else (no get_zone)."""

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        yield Emit(RecordSet("1", "www", RecordType.A, "192.0.2.1", zone, self))


@pytest.fixture
def driver() -> MemoryDNS:
    return MemoryDNS()


@pytest.fixture
def zone(driver: MemoryDNS) -> Zone:
    return driver.create_zone("example.com", ttl=300)


# -- capabilities ----------------------------------------------------------------------


def test_supports() -> None:
    memory = MemoryDNS()
    assert memory.supports("list_zones")
    assert memory.supports("export_zone_to_bind_zone_file")
    assert memory.supports("list_record_types")
    assert memory.aio.supports("create_record_set")

    bare = BareDNS()
    assert bare.supports("list_record_types")
    for name in operations_of(DNSDriver):
        if name != "list_record_types":
            assert not bare.supports(name), name

    partial = RecordsOnlyDNS()
    assert partial.supports("iterate_record_sets")
    assert partial.supports("list_record_sets")
    assert not partial.supports("list_zones")
    # The export is built on get_zone too.
    assert not partial.supports("export_zone_to_bind_format")
    assert not partial.supports("export_zone_to_bind_zone_file")
    assert MemoryDNS.operations()["update_zone"] is True
    assert BareDNS.operations()["update_zone"] is False


def _args(zone: Zone, record: RecordSet) -> dict[str, tuple[Any, ...]]:
    """Valid arguments for every operation of the DNS API."""
    value = Record("r", "www", RecordType.A, "192.0.2.1", zone, record.driver)
    return {
        "list_record_types": (),
        "iterate_zones": (),
        "list_zones": (),
        "get_zone": ("example.com",),
        "create_zone": ("example.com",),
        "update_zone": (zone, "example.com"),
        "delete_zone": (zone,),
        "iterate_record_sets": (zone,),
        "list_record_sets": (zone,),
        "get_record_set": (zone.id, record.id),
        "create_record_set": ("www", zone, RecordType.A, "192.0.2.1"),
        "update_record_set": (record, None, None, "192.0.2.2"),
        "delete_record_set": (record,),
        "iterate_records": (zone,),
        "list_records": (zone,),
        "get_record": (zone.id, value.id),
        "create_record": ("www", zone, RecordType.A, "192.0.2.1"),
        "update_record": (value, None, None, "192.0.2.2"),
        "delete_record": (value,),
        "export_zone_to_bind_format": (zone,),
        "export_zone_to_bind_zone_file": (zone, "/nonexistent/zone.db"),
        "import_zone_from_bind_format": ("$ORIGIN example.com.\n",),
    }


@pytest.mark.parametrize("name", sorted(set(operations_of(DNSDriver)) - {"list_record_types"}))
def test_unimplemented_operations_raise_not_supported(mode: str, name: str) -> None:
    bare = BareDNS()
    zone = Zone("z", "example.com", ZoneType.MASTER, 300, bare)
    record = RecordSet("r", "www", RecordType.A, "192.0.2.1", zone, bare)
    args = _args(zone, record)[name]
    with pytest.raises(NotSupported):
        call(mode, bare, name, *args)


def test_every_operation_has_test_arguments() -> None:
    zone = Zone("z", "example.com", ZoneType.MASTER, 300)
    record = RecordSet("r", "www", RecordType.A, "192.0.2.1", zone)
    assert set(_args(zone, record)) == set(operations_of(DNSDriver))


def test_list_record_types(driver: MemoryDNS, mode: str) -> None:
    assert call(mode, driver, "list_record_types") == list(MemoryDNS.record_types)
    assert call(mode, BareDNS(), "list_record_types") == []


def test_provider_and_registry() -> None:
    assert "powerdns" in list(Provider)
    with pytest.raises(NotSupported, match="no dns driver named 'nope'"):
        get_driver("nope")


# -- zones and records -----------------------------------------------------------------


def test_list_zones_via_iterate(driver: MemoryDNS, mode: str) -> None:
    a = driver.create_zone("a.example")
    b = driver.create_zone("b.example", ZoneType.SLAVE)
    assert call(mode, driver, "list_zones") == [a, b]
    assert call(mode, driver, "iterate_zones") == [a, b]
    assert b.type == "slave"


def test_get_zone(driver: MemoryDNS, zone: Zone, mode: str) -> None:
    assert call(mode, driver, "get_zone", "example.com") is zone
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "get_zone", "missing.example")


def test_create_record_set(driver: MemoryDNS, zone: Zone, mode: str) -> None:
    record = call(mode, driver, "create_record_set", "www", zone, "a", ["192.0.2.1", "192.0.2.2"])
    assert record.type is RecordType.A
    assert record.values == ["192.0.2.1", "192.0.2.2"]
    assert record.data == "192.0.2.1"
    assert record.fqdn == "www.example.com."
    single = call(mode, driver, "create_record_set", "", zone, RecordType.AAAA, "2001:db8::1")
    assert single.values == ["2001:db8::1"]
    assert call(mode, driver, "list_record_sets", zone) == [record, single]
    assert call(mode, driver, "iterate_record_sets", zone) == [record, single]
    assert call(mode, driver, "get_record_set", zone.id, record.id) is record
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "create_record_set", "www", zone, RecordType.A, "192.0.2.9")


def test_ttl_from_keyword_or_libcloud_extra(driver: MemoryDNS, zone: Zone, mode: str) -> None:
    a = call(mode, driver, "create_record_set", "a", zone, RecordType.A, "192.0.2.1", ttl=60)
    b = call(mode, driver, "create_record_set", "b", zone, RecordType.A, "192.0.2.1", {"ttl": 90})
    c = call(mode, driver, "create_record_set", "c", zone, RecordType.A, "192.0.2.1")
    assert (a.ttl, b.ttl, c.ttl) == (60, 90, None)
    with pytest.raises(InvalidInput, match="ttl"):
        call(mode, driver, "create_record_set", "d", zone, RecordType.A, "192.0.2.1", ttl=-1)


def test_libcloud_mx_priority_is_folded_into_the_value(
    driver: MemoryDNS, zone: Zone, mode: str
) -> None:
    mx = call(mode, driver, "create_record_set", "", zone, "MX", "mail.example.com.",
              {"priority": 10})
    assert mx.values == ["10 mail.example.com."]
    srv = call(mode, driver, "create_record_set",
        "_sip._tcp",
        zone,
        "SRV",
        "5 5060 sip.example.com.",
        {"priority": 20},
    )
    assert srv.values == ["20 5 5060 sip.example.com."]


@pytest.mark.parametrize(
    ("name", "rtype", "data", "error"),
    [
        ("bad name", RecordType.A, "192.0.2.1", InvalidInput),
        ("a..b", RecordType.A, "192.0.2.1", InvalidInput),
        ("x" * 64, RecordType.A, "192.0.2.1", InvalidInput),
        ("www.*", RecordType.A, "192.0.2.1", InvalidInput),
        ("www", RecordType.A, "192.0.2.300", InvalidInput),
        ("www", RecordType.A, ["192.0.2.1", "2001:db8::1"], InvalidInput),
        ("www", RecordType.AAAA, "192.0.2.1", InvalidInput),
        ("www", RecordType.CNAME, ["a.example.", "b.example."], InvalidInput),
        ("www", "BOGUS", "x", InvalidInput),
        ("www", RecordType.LOC, "52 22 23.000 N 4 53 32.000 E -2.00m", NotSupported),
    ],
)
def test_invalid_records_are_refused_before_anything(
    driver: MemoryDNS,
    zone: Zone,
    mode: str,
    name: str,
    rtype: str,
    data: RecordData,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        call(mode, driver, "create_record_set", name, zone, rtype, data)
    assert driver.records[zone.id] == {}


@pytest.mark.parametrize("data", [None, 42, [42], ["192.0.2.1", None]])
def test_malformed_data_is_invalid_input(
    driver: MemoryDNS, zone: Zone, mode: str, data: Any
) -> None:
    with pytest.raises(InvalidInput, match="string"):
        call(mode, driver, "create_record_set", "www", zone, RecordType.A, data)
    with pytest.raises(InvalidInput, match="string"):
        call(mode, driver, "create_record_set", "", zone, RecordType.MX, data, {"priority": 10})
    assert driver.records[zone.id] == {}


def test_wildcard_and_service_names(driver: MemoryDNS, zone: Zone, mode: str) -> None:
    wild = call(mode, driver, "create_record_set", "*.dev", zone, RecordType.A, "192.0.2.1")
    apex = call(mode, driver, "create_record_set", "@", zone, RecordType.NS, "ns1.example.net.")
    assert wild.fqdn == "*.dev.example.com."
    assert apex.name == ""
    assert apex.fqdn == "example.com."


def test_full_name_length_counts_the_zone(driver: MemoryDNS, mode: str) -> None:
    long_zone = driver.create_zone("z" * 60 + ".example.com")
    name = ".".join(["a" * 63] * 3)
    with pytest.raises(InvalidInput, match="longer than 255"):
        call(mode, driver, "create_record_set", name, long_zone, RecordType.A, "192.0.2.1")


def test_update_and_delete_record(driver: MemoryDNS, zone: Zone, mode: str) -> None:
    record = driver.create_record_set("www", zone, RecordType.A, "192.0.2.1", ttl=60)
    updated = call(mode, driver, "update_record_set", record, None, None,
                   ["192.0.2.7", "192.0.2.8"])
    assert updated.values == ["192.0.2.7", "192.0.2.8"]
    assert updated.ttl == 60
    with pytest.raises(InvalidInput):
        call(mode, driver, "update_record_set", updated, None, None, "not-an-ip")
    assert call(mode, driver, "delete_record_set", updated) is True
    with pytest.raises(RecordNotFound):
        call(mode, driver, "delete_record_set", updated)


# -- zone files ------------------------------------------------------------------------

TXT_600 = "v=" + "abcdefghij" * 59 + "x" * 8


def _populate(driver: MemoryDNS, zone: Zone) -> None:
    driver.create_record_set("", zone, RecordType.A, ["192.0.2.1", "192.0.2.2"])
    driver.create_record_set("www", zone, RecordType.CNAME, "example.com", ttl=60)
    driver.create_record_set("", zone, RecordType.MX,
                             ["10 mail.example.com", "20 mx2.example.net."])
    driver.create_record_set("_sip._tcp", zone, RecordType.SRV, "10 5 5060 sip.example.com")
    driver.create_record_set("long", zone, RecordType.TXT, TXT_600)
    driver.create_record_set("esc", zone, RecordType.TXT, ['say "hi" \\ back', "caf\u00e9"])
    driver.create_record_set(
        "",
        zone,
        RecordType.SOA,
        "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300",
    )


EXPECTED_ZONE = (
    "$ORIGIN example.com.\n"
    "$TTL 300\n"
    "example.com.\t300\tIN\tSOA\t"
    "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300\n"
    "example.com.\t300\tIN\tA\t192.0.2.1\n"
    "example.com.\t300\tIN\tA\t192.0.2.2\n"
    "www.example.com.\t60\tIN\tCNAME\texample.com.\n"
    "example.com.\t300\tIN\tMX\t10 mail.example.com.\n"
    "example.com.\t300\tIN\tMX\t20 mx2.example.net.\n"
    "_sip._tcp.example.com.\t300\tIN\tSRV\t10 5 5060 sip.example.com.\n"
    'long.example.com.\t300\tIN\tTXT\t"'
    + TXT_600[:255]
    + '" "'
    + TXT_600[255:510]
    + '" "'
    + TXT_600[510:]
    + '"\n'
    'esc.example.com.\t300\tIN\tTXT\t"say \\"hi\\" \\\\ back"\n'
    'esc.example.com.\t300\tIN\tTXT\t"caf\\195\\169"\n'
)


def test_export_zone_to_bind_format(driver: MemoryDNS, zone: Zone, mode: str) -> None:
    _populate(driver, zone)
    assert len(TXT_600.encode()) == 600
    text = call(mode, driver, "export_zone_to_bind_format", zone)
    assert text == EXPECTED_ZONE
    # The 600-byte TXT value: three quoted strings of 255, 255 and 90 bytes.
    line = next(x for x in text.splitlines() if x.startswith("long."))
    chunks = line.split("\t")[-1].split(" ")
    assert [len(c) for c in chunks] == [257, 257, 92]
    assert all(c.startswith('"') and c.endswith('"') for c in chunks)
    # A zone id is looked up with get_zone.
    assert call(mode, driver, "export_zone_to_bind_format", zone.id) == EXPECTED_ZONE
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "export_zone_to_bind_format", "missing.example")


def test_export_uses_default_ttl_when_zone_has_none(driver: MemoryDNS, mode: str) -> None:
    zone = driver.create_zone("example.org.")
    driver.create_record_set("", zone, RecordType.A, "192.0.2.1")
    assert call(mode, driver, "export_zone_to_bind_format", zone) == (
        "$ORIGIN example.org.\n$TTL 3600\nexample.org.\t3600\tIN\tA\t192.0.2.1\n"
    )


def test_export_zone_to_bind_zone_file(
    driver: MemoryDNS, zone: Zone, mode: str, tmp_path: Any
) -> None:
    _populate(driver, zone)
    target = tmp_path / "example.com.zone"
    target.write_text("old contents")
    assert call(mode, driver, "export_zone_to_bind_zone_file", zone, target) is None
    assert target.read_text(encoding="utf-8") == EXPECTED_ZONE
    assert os.listdir(tmp_path) == ["example.com.zone"]  # no temporary file left


def test_export_to_missing_directory_leaves_nothing(
    driver: MemoryDNS, zone: Zone, mode: str, tmp_path: Any
) -> None:
    with pytest.raises(InvalidInput):
        call(mode, driver, "export_zone_to_bind_zone_file", zone, tmp_path / "no" / "z.db")
    assert os.listdir(tmp_path) == []


# -- models ------------------------------------------------------------------------------


def test_zone_conveniences_delegate(driver: MemoryDNS, zone: Zone, tmp_path: Any) -> None:
    record = zone.create_record_set("www", RecordType.A, ["192.0.2.1"], ttl=30)
    assert record.zone is zone
    assert record.driver is driver
    assert record.ttl == 30
    assert zone.list_record_sets() == [record]
    assert list(zone.iterate_record_sets()) == [record]
    assert zone.update(ttl=900) is zone
    assert zone.ttl == 900
    assert zone.type == "master"
    assert zone.export_to_bind_format().startswith("$ORIGIN example.com.\n$TTL 900\n")
    zone.export_to_bind_zone_file(tmp_path / "z.db")
    assert (tmp_path / "z.db").read_text() == zone.export_to_bind_format()
    assert zone.delete() is True
    assert driver.zones == {}


def test_record_conveniences_delegate(driver: MemoryDNS, zone: Zone) -> None:
    record = zone.create_record_set("www", RecordType.A, "192.0.2.1")
    moved = record.update(name="web", data=["192.0.2.5"])
    assert (moved.name, moved.values, moved.fqdn) == ("web", ["192.0.2.5"], "web.example.com.")
    assert moved.delete() is True
    assert zone.list_record_sets() == []


def test_unbound_models() -> None:
    zone = Zone("z", "example.com", ZoneType.MASTER, None)
    record = RecordSet("r", "www", RecordType.A, "192.0.2.1", zone)
    with pytest.raises(InvalidInput, match="not bound"):
        zone.list_record_sets()
    with pytest.raises(InvalidInput, match="not bound"):
        record.delete()


def test_record_values_and_data() -> None:
    zone = Zone("z", "example.com", ZoneType.MASTER, None)
    assert RecordSet("r", "", "A", "192.0.2.1", zone).values == ["192.0.2.1"]
    both = RecordSet("r", "", "A", "192.0.2.1", zone, values=["192.0.2.1", "192.0.2.2"])
    assert both.data == "192.0.2.1"
    with pytest.raises(InvalidInput, match=r"values\[0\]"):
        RecordSet("r", "", "A", "192.0.2.9", zone, values=["192.0.2.1"])


def test_model_equality_and_hash(driver: MemoryDNS, zone: Zone) -> None:
    same = Zone(zone.id, zone.domain, zone.type, 1, driver)
    assert same == zone
    assert hash(same) == hash(zone)
    assert Zone(zone.id, zone.domain, zone.type, 1, BareDNS()) != zone
    record = zone.create_record_set("www", RecordType.A, "192.0.2.1")
    assert {record, RecordSet(record.id, "www", "A", "192.0.2.1", zone, driver)} == {record}
    assert "driver" not in repr(zone)


# -- the checks every create and update shares ---------------------------------------------


def test_new_and_changed_sets_are_checked_once_for_every_driver(
    driver: MemoryDNS, zone: Zone
) -> None:
    spec = driver._new_set("WWW.example.com.", zone, "a", ["192.0.2.1"], {"ttl": 60})
    assert (spec.name, spec.type, spec.values, spec.ttl, spec.id, spec.moved) == (
        "WWW", RecordType.A, ["192.0.2.1"], 60, "WWW:A", False)
    assert driver._new_set("@", zone, "MX", "mail.example.com.", {"priority": 5}).values == [
        "5 mail.example.com."]
    with pytest.raises(InvalidInput, match="not in zone"):
        driver._new_set("www.other.org.", zone, "A", "192.0.2.1")
    with pytest.raises(InvalidInput):
        driver._new_set("www", zone, "SRV", "10 5 sip.example.com.")
    record = driver.create_record_set("www", zone, RecordType.A, "192.0.2.1", ttl=30)
    kept = driver._changed_set(record, None, None, None)
    assert (kept.name, kept.values, kept.ttl, kept.moved, kept.replaces) == (
        "www", ["192.0.2.1"], None, False, record)
    kept.check_free(["A", "TXT"])  # the set it replaces does not count
    assert not driver._changed_set(record, "WWW.example.com.", None, None).moved
    retyped = driver._changed_set(record, None, "TXT", "hello", ttl=5)
    assert (retyped.moved, retyped.ttl) == (True, 5)
    retyped.check_free(["A"])
    with pytest.raises(RecordAlreadyExists):
        retyped.check_free(["A", "TXT"])
    alias = driver._changed_set(record, "web", "CNAME", "x.example.net.")
    assert alias.moved
    with pytest.raises(InvalidInput, match="CNAME"):
        alias.check_free(["TXT"])
    alias.check_free(["RRSIG"])


# -- checks every driver shares, and exports of what providers return --------------------------


@pytest.mark.parametrize("ttl", [2**31, 2**32, 2**64, -1, True, "60"])
def test_every_ttl_is_checked_against_rfc_2181(driver: MemoryDNS, zone: Zone, ttl: Any) -> None:
    with pytest.raises(InvalidInput, match=r"0 to 2\*\*31-1"):
        driver._new_set("www", zone, "A", "192.0.2.1", ttl=ttl)
    with pytest.raises(InvalidInput, match=r"0 to 2\*\*31-1"):
        driver._new_set("www", zone, "A", "192.0.2.1", {"ttl": ttl})
    record = driver.create_record_set("www", zone, RecordType.A, "192.0.2.1")
    with pytest.raises(InvalidInput, match=r"0 to 2\*\*31-1"):
        driver._changed_set(record, None, None, None, ttl=ttl)
    assert driver._new_set("w2", zone, "A", "192.0.2.1", ttl=2**31 - 1).ttl == 2**31 - 1


def test_an_soa_set_stands_only_at_the_apex(driver: MemoryDNS, zone: Zone) -> None:
    soa = "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300"
    assert driver._new_set("@", zone, "SOA", soa).name == ""
    assert driver._new_set("example.com.", zone, "SOA", soa).name == ""
    with pytest.raises(InvalidInput, match="apex"):
        driver._new_set("sub", zone, "SOA", soa)
    with pytest.raises(InvalidInput, match="apex"):
        driver._new_set("sub.example.com.", zone, "SOA", soa)
    record = driver.create_record_set("sub", zone, RecordType.TXT, "x")
    with pytest.raises(InvalidInput, match="apex"):
        driver._changed_set(record, None, "SOA", soa)


@pytest.mark.parametrize("value", ["\ud800", "a\udbffb", "x\udc7f"])
def test_text_with_a_lone_surrogate_is_invalid_input(
    driver: MemoryDNS, zone: Zone, mode: str, value: str
) -> None:
    with pytest.raises(InvalidInput, match="surrogate"):
        call(mode, driver, "create_record_set", "txt", zone, RecordType.TXT, value)
    assert driver.records[zone.id] == {}
    # The escapes of raw bytes (\udc80-\udcff) are text: they stand for bytes.
    made = call(mode, driver, "create_record_set", "raw", zone, RecordType.TXT, "caf\udcc3\udca9")
    assert made.values == ["caf\udcc3\udca9"]


def _plant(driver: MemoryDNS, zone: Zone, name: str, rtype: str, values: list[str],
           ttl: Any = None) -> None:
    """A set as a provider might return it, past every check of create_record_set."""
    driver.records[zone.id][f"{name}:{rtype}"] = RecordSet(
        f"{name}:{rtype}", name, rtype, values[0], zone, driver, ttl, values=values)


def test_export_escapes_what_a_provider_returns(
    driver: MemoryDNS, zone: Zone, mode: str
) -> None:
    _plant(driver, zone, "x\n$INCLUDE /etc/passwd", "TXT", ["a\nb\" c ; d\r\n$TTL 1"])
    _plant(driver, zone, "semi;colon (paren)", "A", ["192.0.2.1"])
    text = call(mode, driver, "export_zone_to_bind_format", zone)
    lines = text.splitlines()
    assert len(lines) == 4  # $ORIGIN, $TTL and one line per value: nothing injected
    assert [line.split()[0] for line in lines if line.startswith("$")] == ["$ORIGIN", "$TTL"]
    assert lines[2] == ("x\\010\\$INCLUDE\\032/etc/passwd.example.com.\t300\tIN\tTXT\t"
                        '"a\\010b\\" c ; d\\013\\010$TTL 1"')
    assert lines[3] == "semi\\;colon\\032\\(paren\\).example.com.\t300\tIN\tA\t192.0.2.1"
    # A zone-file reader finds these two names, each with its one value.
    parsed = dns.zone.from_text(text, relativize=False, check_origin=False)
    assert sorted(n.to_text() for n in parsed.nodes) == [
        "semi\\;colon\\032\\(paren\\).example.com.",
        "x\\010\\$INCLUDE\\032/etc/passwd.example.com.",
    ]
    txt = parsed.find_rdataset("x\\010\\$INCLUDE\\032/etc/passwd.example.com.", "TXT")
    assert [b"".join(r.strings) for r in txt] == [b'a\nb" c ; d\r\n$TTL 1']


@pytest.mark.parametrize(("name", "rtype", "values", "ttl", "why"), [
    ("www", "A", ["192.0.2.1\n$INCLUDE /etc/passwd"], None, "www:A"),
    ("mx", "MX", ["10 mail.example.com.\nevil IN A 192.0.2.66"], None, "mx:MX"),
    ("alias", "CNAME", ["target.example.com. ; comment"], None, "alias:CNAME"),
    ("www", "A", ["192.0.2.1"], "60\n$INCLUDE /etc/passwd", "www:A"),
    ("www", "A", ["192.0.2.1"], 2**32, "www:A"),
    ("far.away.example.org.", "A", ["192.0.2.1"], None, "outside"),
    ("a..b", "A", ["192.0.2.1"], None, "a..b"),
    ("caf\u00e9", "A", ["192.0.2.1"], None, "caf"),
    ("url", "URL", ["https://example.com/"], None, "url:URL"),
])
def test_export_refuses_what_has_no_zone_file_form(
    driver: MemoryDNS, zone: Zone, mode: str, name: str, rtype: str, values: list[str],
    ttl: Any, why: str
) -> None:
    _plant(driver, zone, name, rtype, values, ttl)
    with pytest.raises(ProviderError, match=why) as raised:
        call(mode, driver, "export_zone_to_bind_format", zone)
    assert raised.value.code == "UnrepresentableRecord"
