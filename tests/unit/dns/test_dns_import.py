"""``import_zone_from_bind_format``: master-file text into any DNS driver, sync and async.

Driven through small in-memory drivers (one that can create zones, one that
cannot, one that cannot list them) and through the zonefile driver (a round
trip: export one zone, import it elsewhere, compare the record sets).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from overcast.dns.base import DNSDriver
from overcast.dns.base import DNSDriverAsync
from overcast.dns.base import RecordData
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers.zonefile import ZoneFileDNSDriver
from overcast.dns.records import canonical
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneNotFound
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import AsyncMethod
from overcast.runtime.operation import iterator
from overcast.runtime.operation import not_supported
from overcast.runtime.operation import operation
from servers.modes import call

LONG_TXT = "v=DKIM1; k=rsa; p=" + "A" * 400

ZONE_TEXT = f"""\
$ORIGIN example.com.
$TTL 900
@       IN SOA ns1.example.com. hostmaster.example.com. 7 3600 600 86400 300
@       IN NS  ns1.example.com.
@       IN NS  ns2.example.net.
@    300 IN A   192.0.2.1
@       IN MX  10 mail.example.com.
@       IN MX  20 backup.example.net.
ns1     IN A   192.0.2.53
www  60 IN CNAME example.com.
mail    IN A   192.0.2.25
mail    IN AAAA 2001:db8::25
txt     IN TXT "hello world" ; a comment
txt     IN TXT "{LONG_TXT[:255]}" "{LONG_TXT[255:]}"
esc     IN TXT "say \\"hi\\" caf\\195\\169"
_sip._tcp IN SRV 10 5 5060 sip.example.com.
sub     IN NS  ns1.other.test.
*.dev   IN A   192.0.2.99
@       IN CAA 0 issue "letsencrypt.org"
"""

EXPECTED = {
    ("", "A"): (["192.0.2.1"], 300),
    ("", "MX"): (["10 mail.example.com.", "20 backup.example.net."], 900),
    ("", "CAA"): (['0 issue "letsencrypt.org"'], 900),
    ("ns1", "A"): (["192.0.2.53"], 900),
    ("www", "CNAME"): (["example.com."], 60),
    ("mail", "A"): (["192.0.2.25"], 900),
    ("mail", "AAAA"): (["2001:db8::25"], 900),
    ("txt", "TXT"): (["hello world", LONG_TXT], 900),
    ("esc", "TXT"): (['say "hi" caf\u00e9'], 900),
    ("_sip._tcp", "SRV"): (["10 5 5060 sip.example.com."], 900),
    ("sub", "NS"): (["ns1.other.test."], 900),
    ("*.dev", "A"): (["192.0.2.99"], 900),
}


def _no_network() -> Any:
    raise AssertionError("no request may be sent")


# -- the fakes -----------------------------------------------------------------------


class MemoryDNS(DNSDriver):
    """Zones and record sets in dicts; counts every write."""

    name = "memory"
    record_types = (
        RecordType.A,
        RecordType.AAAA,
        RecordType.CAA,
        RecordType.CNAME,
        RecordType.MX,
        RecordType.NS,
        RecordType.SRV,
        RecordType.TXT,
    )

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)
        self.zones: dict[str, Zone] = {}
        self.records: dict[str, dict[str, RecordSet]] = {}
        self.writes: list[str] = []

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every zone."""
        for zone in list(self.zones.values()):
            yield Emit(zone)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """A zone by id."""
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
        """A new zone, with ids unlike its domain (as hosted APIs have)."""
        yield from ()
        self.writes.append(f"create_zone {domain}")
        zone = Zone(f"zone-{len(self.zones) + 1}", domain, str(type), ttl, self)
        self.zones[zone.id] = zone
        self.records[zone.id] = {}
        return zone

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Every record set of a zone."""
        for record in list(self.records[zone.id].values()):
            yield Emit(record)

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
        """Add a set."""
        yield from ()
        name, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        ttl = self._record_ttl(ttl, extra)
        if f"{name}:{rtype}" in self.records[zone.id]:
            raise RecordAlreadyExists(f"{name}:{rtype}", driver=self)
        self.writes.append(f"create {name}:{rtype}")
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
        """Replace a set."""
        yield from ()
        new_name, rtype, values = self._validate_record(
            record.name if name is None else name,
            record.type if type is None else type,
            record.values if data is None else data,
            extra=extra,
            zone=record.zone,
        )
        new_ttl = self._record_ttl(ttl, extra)
        if record.id not in self.records[record.zone.id]:
            raise RecordNotFound(record.id, driver=self)
        self.writes.append(f"update {record.id}")
        del self.records[record.zone.id][record.id]
        return self._store(
            record.zone, new_name, rtype, values, record.ttl if new_ttl is None else new_ttl
        )


class FixedZonesDNS(MemoryDNS):
    """Cannot create zones (like RFC 2136): the zone must exist."""

    name = "fixed"

    @operation
    @not_supported
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Not here."""
        raise NotImplementedError

    def add_zone(self, domain: str) -> Zone:
        zone = Zone(domain, domain, ZoneType.MASTER.value, None, self)
        self.zones[zone.id] = zone
        self.records[zone.id] = {}
        return zone


class UnlistedDNS(FixedZonesDNS):
    """Neither lists zones nor records nor updates: get_zone and create_record_set only."""

    name = "unlisted"

    @iterator
    @not_supported
    def iterate_zones(self) -> Iter[Zone]:
        """Not here."""
        raise NotImplementedError

    @iterator
    @not_supported
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Not here."""
        raise NotImplementedError


class BareDNS(DNSDriver):
    """Implements nothing."""

    name = "bare"

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)


def sets_of(records: list[RecordSet]) -> dict[tuple[str, str], tuple[list[str], int | None]]:
    """Record sets by (name, type), values canonical and sorted."""
    return {
        (r.name, str(r.type)): (
            sorted(canonical(str(r.type), v) for v in r.values),
            r.ttl,
        )
        for r in records
    }


def expected_sets() -> dict[tuple[str, str], tuple[list[str], int | None]]:
    return {
        key: (sorted(canonical(key[1], v) for v in values), ttl)
        for key, (values, ttl) in EXPECTED.items()
    }


# -- the operation -----------------------------------------------------------------------


def test_declared_and_async() -> None:
    member = vars(DNSDriverAsync)["import_zone_from_bind_format"]
    assert isinstance(member, AsyncMethod)
    assert member.operation is DNSDriver.import_zone_from_bind_format
    assert MemoryDNS().supports("import_zone_from_bind_format")
    assert FixedZonesDNS().supports("import_zone_from_bind_format")
    assert not BareDNS().supports("import_zone_from_bind_format")


def test_bare_driver_refuses_before_anything(mode: str) -> None:
    with pytest.raises(NotSupported):
        call(mode, BareDNS(), "import_zone_from_bind_format", ZONE_TEXT)


def test_import_creates_the_zone_and_every_set(mode: str) -> None:
    driver = MemoryDNS()
    zone = call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT)
    assert zone.domain == "example.com."
    assert zone.ttl == 900
    assert zone.id == "zone-1"
    records = list(driver.records[zone.id].values())
    assert sets_of(records) == expected_sets()
    # The zone keeps its own SOA and apex NS: neither is imported.
    assert ("", "SOA") not in sets_of(records)
    assert ("", "NS") not in sets_of(records)


def test_domain_argument_gives_the_origin(mode: str) -> None:
    driver = MemoryDNS()
    text = "$TTL 60\nwww IN A 192.0.2.1\n@ IN TXT \"apex\"\n"
    zone = call(mode, driver, "import_zone_from_bind_format", text, "example.org")
    assert zone.domain == "example.org."
    assert sets_of(list(driver.records[zone.id].values())) == {
        ("www", "A"): (["192.0.2.1"], 60),
        ("", "TXT"): (["apex"], 60),
    }


def test_existing_zone_is_found_by_domain(mode: str) -> None:
    driver = MemoryDNS()
    existing = driver.create_zone("example.com.")
    zone = call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT)
    assert zone is existing
    assert len(driver.zones) == 1


@pytest.mark.parametrize(
    "text",
    [
        "www IN A 192.0.2.1\n",  # no $ORIGIN and no domain
        "$ORIGIN example.com.\nwww IN A not-an-address\n",
        "$ORIGIN example.com.\nwww IN BOGUSTYPE 1\n",
        "$ORIGIN example.com.\nwww IN A 192.0.2.1\n\"unterminated\n",
        "$ORIGIN example.com.\n$INCLUDE /etc/passwd\n",
        "$ORIGIN example.com.\nwww.other.org. IN A 192.0.2.1\n",
    ],
)
def test_unparsable_text_is_invalid_input_before_any_write(mode: str, text: str) -> None:
    driver = MemoryDNS()
    with pytest.raises(InvalidInput):
        call(mode, driver, "import_zone_from_bind_format", text)
    assert driver.writes == []
    assert driver.zones == {}


def test_bad_arguments(mode: str) -> None:
    driver = MemoryDNS()
    with pytest.raises(InvalidInput):
        call(mode, driver, "import_zone_from_bind_format", b"$ORIGIN x.\n")
    with pytest.raises(InvalidInput):
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT, "bad domain")
    with pytest.raises(InvalidInput):
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT, "@")
    assert driver.writes == []


def test_invalid_record_is_refused_before_any_write(mode: str) -> None:
    driver = MemoryDNS()
    text = "$ORIGIN example.com.\n$TTL 60\na IN A 192.0.2.1\nbad_-x- IN A 192.0.2.2\n"
    with pytest.raises(InvalidInput):
        call(mode, driver, "import_zone_from_bind_format", text)
    assert driver.writes == []


def test_type_the_driver_lacks_is_refused_before_any_write(mode: str) -> None:
    driver = MemoryDNS()
    text = "$ORIGIN example.com.\n$TTL 60\na IN A 192.0.2.1\nb IN PTR host.example.net.\n"
    with pytest.raises(NotSupported):
        call(mode, driver, "import_zone_from_bind_format", text)
    assert driver.writes == []


def test_existing_set_without_replace_fails_before_any_write(mode: str) -> None:
    driver = MemoryDNS()
    zone = driver.create_zone("example.com.")
    driver.create_record_set("mail", zone, RecordType.A, "192.0.2.200")
    driver.writes.clear()
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT)
    assert driver.writes == []


def test_replace_updates_existing_sets(mode: str) -> None:
    driver = MemoryDNS()
    zone = driver.create_zone("example.com.")
    driver.create_record_set("mail", zone, RecordType.A, "192.0.2.200", ttl=5)
    driver.create_record_set("keep", zone, RecordType.A, "192.0.2.201")
    driver.writes.clear()
    call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT, replace=True)
    assert "update mail:A" in driver.writes
    assert "create mail:A" not in driver.writes
    found = sets_of(list(driver.records[zone.id].values()))
    assert found.pop(("keep", "A")) == (["192.0.2.201"], None)
    assert found == expected_sets()


def test_replace_needs_listing_and_update(mode: str) -> None:
    driver = UnlistedDNS()
    driver.add_zone("example.com.")
    with pytest.raises(NotSupported):
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT, replace=True)
    assert driver.writes == []


def test_driver_without_create_zone_needs_the_zone(mode: str) -> None:
    driver = FixedZonesDNS()
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT)
    assert driver.writes == []
    zone = driver.add_zone("example.com.")
    assert call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT) is zone
    assert sets_of(list(driver.records[zone.id].values())) == expected_sets()


def test_driver_without_listing_uses_get_zone(mode: str) -> None:
    driver = UnlistedDNS()
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT)
    zone = driver.add_zone("example.com.")
    assert call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT) is zone
    assert sets_of(list(driver.records[zone.id].values())) == expected_sets()
    # Without a listing, an existing set is found by create_record_set itself.
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT)


# -- the zonefile driver: a round trip -----------------------------------------------------


def _populate(driver: ZoneFileDNSDriver, zone: Zone) -> None:
    origin = zone.domain
    driver.create_record_set("", zone, RecordType.A, ["192.0.2.1", "192.0.2.2"], ttl=120)
    driver.create_record_set("www", zone, RecordType.CNAME, origin)
    driver.create_record_set("", zone, RecordType.MX, [f"10 mail.{origin}", "20 mx.example.net."])
    driver.create_record_set("mail", zone, RecordType.AAAA, "2001:db8::25")
    driver.create_record_set("txt", zone, RecordType.TXT, ["plain", LONG_TXT, 'na\u00efve "q" \\'])
    driver.create_record_set("_sip._tcp", zone, RecordType.SRV, f"10 5 5060 sip.{origin}")
    driver.create_record_set("", zone, RecordType.CAA, '0 issue "letsencrypt.org"')
    driver.create_record_set("sub", zone, RecordType.NS, ["ns1.other.test.", "ns2.other.test."])
    driver.create_record_set("*.dev", zone, RecordType.A, "192.0.2.99", ttl=30)


def test_zonefile_round_trip(mode: str, tmp_path: Path) -> None:
    source = ZoneFileDNSDriver(tmp_path / "a")
    target = ZoneFileDNSDriver(tmp_path / "b")
    zone = source.create_zone("example.com.", ttl=600)
    _populate(source, zone)
    text = source.export_zone_to_bind_format(zone)

    imported = call(mode, target, "import_zone_from_bind_format", text)
    assert imported.domain == "example.com."
    assert imported.ttl == 600

    def user_sets(driver: ZoneFileDNSDriver, z: Zone) -> dict[Any, Any]:
        found = sets_of(driver.list_record_sets(z))
        return {k: v for k, v in found.items() if k not in {("", "SOA"), ("", "NS")}}

    assert user_sets(target, imported) == user_sets(source, zone)
    assert len(user_sets(source, zone)) == 9
    # The target zone has its own SOA and NS, written by create_zone.
    assert target.get_record_set(imported.id, "@:SOA").values[0].startswith("localhost. ")

    # Importing again clashes; with replace=True it converges.
    with pytest.raises(RecordAlreadyExists):
        call(mode, target, "import_zone_from_bind_format", text)
    target.update_record_set(target.get_record_set(imported.id, "mail:AAAA"), None, None,
                             "2001:db8::1")
    call(mode, target, "import_zone_from_bind_format", text, replace=True)
    assert user_sets(target, imported) == user_sets(source, zone)


def test_zonefile_import_into_another_domain(mode: str, tmp_path: Path) -> None:
    driver = ZoneFileDNSDriver(tmp_path)
    text = "$TTL 300\n@ IN SOA a. b. 1 2 3 4 5\n@ IN NS ns.example.net.\nwww IN A 192.0.2.1\n"
    zone = call(mode, driver, "import_zone_from_bind_format", text, "example.net")
    assert zone.id == "example.net."
    assert [(r.id, r.values) for r in driver.list_record_sets(zone)][2:] == [
        ("www:A", ["192.0.2.1"])
    ]
    # The imported SOA and NS were left out: the zone has the driver's defaults.
    assert driver.get_record_set(zone.id, "@:NS").values == ["localhost."]


# -- hostile text, and imports that fail: all or nothing ----------------------------------


class DeletingDNS(MemoryDNS):
    """MemoryDNS that can delete sets, and fails the create of a set named in
    ``fail_at`` (as a provider's error after the sets before it were written)."""

    name = "deleting"

    def __init__(self, fail_at: str = "", refuse_delete: str | None = None) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.refuse_delete = refuse_delete

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
        """Add a set, or fail at ``fail_at``."""
        if name == self.fail_at:
            raise ProviderError("the provider failed", status=500, driver=self)
        return (yield from MemoryDNS.create_record_set.fn(self, name, zone, type, data, extra,
                                                      ttl=ttl))

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a set (refusing ``refuse_delete``)."""
        yield from ()
        if record.name == self.refuse_delete:
            raise ProviderError("cannot delete now", status=503, driver=self)
        self.writes.append(f"delete {record.id}")
        del self.records[record.zone.id][record.id]
        return True


def test_generate_is_refused_before_any_write(mode: str) -> None:
    driver = MemoryDNS()
    # $GENERATE 1-4294967295 would be four billion records: 300 show it is refused.
    text = "$ORIGIN example.com.\n$TTL 60\n$GENERATE 1-300 host$ A 192.0.2.1\n"
    with pytest.raises(InvalidInput, match=r"\$GENERATE"):
        call(mode, driver, "import_zone_from_bind_format", text)
    with pytest.raises(InvalidInput, match=r"\$GENERATE"):  # however it is spelt
        call(mode, driver, "import_zone_from_bind_format", text.replace("$GENERATE", "$generate"))
    assert driver.writes == []
    assert driver.zones == {}


@pytest.mark.parametrize("ttl", ["2147483648", "4294967295"])
def test_ttl_beyond_rfc_2181_is_refused_before_any_write(mode: str, ttl: str) -> None:
    driver = MemoryDNS()
    for text in (f"$ORIGIN example.com.\n$TTL 60\nwww {ttl} IN A 192.0.2.1\n",
                 f"$ORIGIN example.com.\n$TTL {ttl}\nwww IN A 192.0.2.1\n"):
        with pytest.raises(InvalidInput, match="2\\*\\*31"):
            call(mode, driver, "import_zone_from_bind_format", text)
    assert driver.writes == []


def test_soa_below_the_apex_and_cname_at_the_apex_are_refused(mode: str) -> None:
    driver = MemoryDNS()
    for line in ("sub IN SOA a. b. 1 2 3 4 5", "@ IN CNAME www.example.net."):
        text = f"$ORIGIN example.com.\n$TTL 60\naaa IN A 192.0.2.1\n{line}\n"
        with pytest.raises(InvalidInput):
            call(mode, driver, "import_zone_from_bind_format", text)
    assert driver.writes == []


def test_cname_clash_with_an_existing_set_writes_nothing(mode: str) -> None:
    driver = MemoryDNS()
    zone = driver.create_zone("example.com.")
    driver.create_record_set("www", zone, RecordType.A, "192.0.2.7")
    driver.writes.clear()
    text = "$ORIGIN example.com.\n$TTL 60\naaa IN A 192.0.2.1\nwww IN CNAME aaa.example.com.\n"
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver, "import_zone_from_bind_format", text)
    # The same with replace=True: the A set is not replaced by a CNAME.
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver, "import_zone_from_bind_format", text, replace=True)
    # Other data beside an existing CNAME.
    driver.create_record_set("alias", zone, RecordType.CNAME, "www.example.com.")
    driver.writes.clear()
    text = "$ORIGIN example.com.\n$TTL 60\naaa IN A 192.0.2.1\nalias IN TXT \"x\"\n"
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver, "import_zone_from_bind_format", text)
    assert driver.writes == []
    assert sorted(driver.records[zone.id]) == ["alias:CNAME", "www:A"]


def test_a_failure_midway_rolls_back_what_was_written(mode: str) -> None:
    driver = DeletingDNS(fail_at="mail")
    with pytest.raises(ProviderError) as raised:
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT)
    (zone,) = driver.zones.values()
    assert driver.records[zone.id] == {}  # every set made before the failure is gone
    created = [w for w in driver.writes if w.startswith("create ")]
    deleted = [w for w in driver.writes if w.startswith("delete ")]
    assert len(created) == len(deleted) > 0
    message = str(raised.value)
    assert message.startswith("[deleting] the provider failed")
    assert f"{len(created)} of {len(EXPECTED)} record sets were written" in message
    assert "rolled back: " in message
    assert "still in the zone" not in message


def test_a_set_that_cannot_be_rolled_back_is_named(mode: str) -> None:
    driver = DeletingDNS(fail_at="mail", refuse_delete="esc")
    with pytest.raises(ProviderError) as raised:
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT)
    (zone,) = driver.zones.values()
    assert list(driver.records[zone.id]) == ["esc:TXT"]
    assert str(raised.value).endswith("could not be rolled back, still in the zone: esc:TXT) "
                                      "status=500")


def test_replaced_sets_are_put_back_when_an_import_fails(mode: str) -> None:
    driver = DeletingDNS(fail_at="txt")
    zone = driver.create_zone("example.com.")
    driver.create_record_set("mail", zone, RecordType.A, "192.0.2.200", ttl=5)
    driver.writes.clear()
    with pytest.raises(ProviderError, match="rolled back: "):
        call(mode, driver, "import_zone_from_bind_format", ZONE_TEXT, replace=True)
    assert "update mail:A" in driver.writes
    assert sets_of(list(driver.records[zone.id].values())) == {
        ("mail", "A"): (["192.0.2.200"], 5)}
