"""The per-value contract (Apache Libcloud's meaning of ``list_records``,
``get_record``, ``create_record``, ``update_record`` and ``delete_record``), run
against every DNS driver in both modes.

Each value of a set is one record; what a record looks like on each driver is
Libcloud's convention for its provider, written out here once per driver
(:data:`CONVENTIONS`) rather than read from the code under test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from overcast.dns import names
from overcast.dns.base import Record
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.errors import InvalidInput
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from servers.dns_target import DNSTarget
from servers.modes import call


@dataclass(frozen=True)
class Convention:
    """How Libcloud's driver for a provider shows a record (overcast's own for
    the providers Libcloud has no driver for)."""

    #: ``"relative"`` ("www"), ``"absolute"`` ("www.example.com.") or ``"bare"``
    #: ("www.example.com").
    names: str = "relative"
    #: The name of the apex under ``"relative"``.
    apex: str | None = ""
    #: ``"value"`` (one id per value), ``"type:name"`` (shared by a set's values)
    #: or ``"native"`` (the provider's id of each value).
    ids: str = "value"
    #: Whether MX data keeps its priority ("10 mail.example.com.").
    priority_in_data: bool = False
    #: Whether TXT data is quoted.
    quoted_text: bool = False
    #: Whether host names in data keep their trailing dot.
    dotted_hosts: bool = True


CONVENTIONS: dict[str, Convention] = {
    "AzureDNSDriver": Convention(),
    "CloudflareDNSDriver": Convention(names="bare", ids="native", dotted_hosts=False),
    "DigitalOceanDNSDriver": Convention(apex="@", ids="native", dotted_hosts=False),
    "GoogleDNSDriver": Convention(names="absolute", ids="type:name", quoted_text=True),
    "LinodeDNSDriver": Convention(ids="native", dotted_hosts=False),
    "NimbusDNSDriver": Convention(),
    "PowerDNSDriver": Convention(names="absolute", priority_in_data=True, quoted_text=True),
    "RackspaceDNSDriver": Convention(apex=None, ids="native", dotted_hosts=False),
    "RFC2136DNSDriver": Convention(),
    "Route53DNSDriver": Convention(ids="type:name", quoted_text=True),
    "ZoneFileDNSDriver": Convention(),
}


def convention(target: DNSTarget) -> Convention:
    return CONVENTIONS[type(target.driver).__name__]


@pytest.fixture
def zone(dns_target: DNSTarget) -> Iterator[Zone]:
    made = dns_target.make_zone(f"oc{uuid.uuid4().hex[:10]}.{dns_target.domain_suffix}")
    yield made
    dns_target.remove_zone(made)


def shown(target: DNSTarget, zone: Zone, relative: str) -> str | None:
    """A relative name as the driver's records show it."""
    style = convention(target)
    if style.names == "relative":
        return relative or style.apex
    absolute = names.absolute_name(relative, zone.domain)
    return absolute if style.names == "absolute" else absolute.rstrip(".")


def host(target: DNSTarget, name: str) -> str:
    return name if convention(target).dotted_hosts else name.rstrip(".")


def at(records: list[Record], name: str | None, rtype: str) -> list[Record]:
    return [r for r in records if r.name == name and str(r.type) == rtype]


def set_values(target: DNSTarget, mode: str, zone: Zone, relative: str, rtype: str) -> list[str]:
    sets = call(mode, target.driver, "list_record_sets", zone)
    found = [s for s in sets if names.same_name(s.name, relative) and str(s.type) == rtype]
    return sorted(found[0].values) if found else []


def test_each_value_is_a_record(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    addresses = [f"192.0.2.{i}" for i in range(1, 5)]
    call(mode, driver, "create_record_set", "www", zone, RecordType.A, addresses, ttl=300)
    call(mode, driver, "create_record_set", "sub", zone, RecordType.NS,
         [f"ns{i}.other.test." for i in range(1, 5)], ttl=300)
    listed = call(mode, driver, "list_records", zone)
    www = at(listed, shown(dns_target, zone, "www"), "A")
    assert sorted(r.data for r in www) == addresses
    assert all(r.ttl == 300 and r.zone.id == zone.id for r in www)
    ns = at(listed, shown(dns_target, zone, "sub"), "NS")
    assert sorted(r.data for r in ns) == [host(dns_target, f"ns{i}.other.test.")
                                          for i in range(1, 5)]
    assert [(r.id, r.data) for r in call(mode, driver, "iterate_records", zone)] == [
        (r.id, r.data) for r in listed]


def test_mx_priority_is_in_extra(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    mail = names.absolute_name("mail", zone.domain)
    made = call(mode, driver, "create_record", shown(dns_target, zone, ""), zone, RecordType.MX,
                host(dns_target, mail), {"priority": 10, "ttl": 300})
    assert set_values(dns_target, mode, zone, "", "MX") == [f"10 {mail}"]
    listed = at(call(mode, driver, "list_records", zone), shown(dns_target, zone, ""), "MX")
    assert len(listed) == 1
    record = listed[0]
    if convention(dns_target).priority_in_data:  # as the provider stores it, extra empty
        assert (record.data, record.extra.get("priority")) == (f"10 {mail}", None)
    else:
        assert (record.data, record.extra["priority"]) == (host(dns_target, mail), 10)
    assert (made.id, made.data, made.extra) == (record.id, record.data, record.extra)


def test_srv_numbers_are_in_extra(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    if RecordType.SRV not in driver.record_types:
        pytest.skip("no SRV records on this driver")
    sip = names.absolute_name("sip", zone.domain)
    call(mode, driver, "create_record", "_sip._tcp", zone, RecordType.SRV, host(dns_target, sip),
         {"priority": 10, "weight": 5, "port": 5060})
    assert set_values(dns_target, mode, zone, "_sip._tcp", "SRV") == [f"10 5 5060 {sip}"]
    (record,) = at(call(mode, driver, "list_records", zone),
                   shown(dns_target, zone, "_sip._tcp"), "SRV")
    if convention(dns_target).priority_in_data:
        assert record.data == f"10 5 5060 {sip}"
    else:
        assert record.data == host(dns_target, sip)
        assert {k: record.extra[k] for k in ("priority", "weight", "port")} == {
            "priority": 10, "weight": 5, "port": 5060}


def test_txt_quoting_follows_libcloud(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    quoted = convention(dns_target).quoted_text
    made = call(mode, driver, "create_record", "txt", zone, RecordType.TXT, "hello world")
    assert made.data == ('"hello world"' if quoted else "hello world")
    assert set_values(dns_target, mode, zone, "txt", "TXT") == ["hello world"]
    if quoted:  # Libcloud's own (quoted) form is read back as the same text
        call(mode, driver, "create_record", "txt", zone, RecordType.TXT, '"second one"')
        assert set_values(dns_target, mode, zone, "txt", "TXT") == ["hello world", "second one"]
    listed = at(call(mode, driver, "list_records", zone), shown(dns_target, zone, "txt"), "TXT")
    assert made.data in [r.data for r in listed]


def test_second_create_adds_a_value(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    name = shown(dns_target, zone, "multi")
    first = call(mode, driver, "create_record", name, zone, RecordType.A, "192.0.2.1",
                 {"ttl": 300})
    second = call(mode, driver, "create_record", name, zone, RecordType.A, "192.0.2.2")
    assert (first.name, first.data, second.name, second.data) == (
        name, "192.0.2.1", name, "192.0.2.2")
    assert set_values(dns_target, mode, zone, "multi", "A") == ["192.0.2.1", "192.0.2.2"]
    with pytest.raises(RecordAlreadyExists):  # the same value twice
        call(mode, driver, "create_record", name, zone, RecordType.A, "192.0.2.2")
    with pytest.raises(InvalidInput):  # the CNAME rule holds as for sets
        call(mode, driver, "create_record", name, zone, RecordType.CNAME,
             host(dns_target, "www.example."))
    assert set_values(dns_target, mode, zone, "multi", "A") == ["192.0.2.1", "192.0.2.2"]


def test_update_changes_one_value(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    call(mode, driver, "create_record_set", "upd", zone, RecordType.A,
         ["192.0.2.1", "192.0.2.2", "192.0.2.3"], ttl=300)
    records = at(call(mode, driver, "list_records", zone), shown(dns_target, zone, "upd"), "A")
    target = next(r for r in records if r.data == "192.0.2.2")
    updated = call(mode, driver, "update_record", target, None, None, "192.0.2.9",
                   {"ttl": 3600})
    assert (updated.data, updated.name, updated.ttl) == ("192.0.2.9", target.name, 3600)
    assert set_values(dns_target, mode, zone, "upd", "A") == [
        "192.0.2.1", "192.0.2.3", "192.0.2.9"]
    with pytest.raises(RecordNotFound):  # the value it had is gone
        call(mode, driver, "update_record", target, None, None, "192.0.2.10")
    # A new name moves the value to that set; the others stay.
    moved = call(mode, driver, "update_record", updated, shown(dns_target, zone, "other"))
    assert (moved.name, moved.data) == (shown(dns_target, zone, "other"), "192.0.2.9")
    assert set_values(dns_target, mode, zone, "upd", "A") == ["192.0.2.1", "192.0.2.3"]
    assert set_values(dns_target, mode, zone, "other", "A") == ["192.0.2.9"]


def test_delete_removes_one_value(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    call(mode, driver, "create_record_set", "del", zone, RecordType.A,
         ["192.0.2.1", "192.0.2.2"], ttl=300)
    first, second = sorted(
        at(call(mode, driver, "list_records", zone), shown(dns_target, zone, "del"), "A"),
        key=lambda r: r.data)
    assert call(mode, driver, "delete_record", first) is True
    assert set_values(dns_target, mode, zone, "del", "A") == ["192.0.2.2"]
    with pytest.raises(RecordNotFound):
        call(mode, driver, "delete_record", first)
    assert call(mode, driver, "delete_record", second) is True  # the last value: the set goes
    assert set_values(dns_target, mode, zone, "del", "A") == []
    with pytest.raises(RecordNotFound):
        call(mode, driver, "get_record_set", zone.id, "del:A")


def test_ids_are_stable_and_found_by_get_record(dns_target: DNSTarget, mode: str,
                                                zone: Zone) -> None:
    driver = dns_target.driver
    call(mode, driver, "create_record_set", "ids", zone, RecordType.A,
         ["192.0.2.1", "192.0.2.2"], ttl=300)
    call(mode, driver, "create_record_set", "", zone, RecordType.TXT, ["apex text"], ttl=300)
    first = call(mode, driver, "list_records", zone)
    again = call(mode, driver, "list_records", zone)
    assert [(r.id, r.data) for r in first] == [(r.id, r.data) for r in again]
    ours = at(first, shown(dns_target, zone, "ids"), "A") + at(
        first, shown(dns_target, zone, ""), "TXT")
    assert len(ours) == 3
    style = convention(dns_target)
    for record in ours:
        fetched = call(mode, driver, "get_record", zone.id, record.id)
        assert (fetched.id, fetched.name, fetched.type) == (record.id, record.name, record.type)
        if style.ids == "type:name":  # Libcloud's id names the set: its first value
            assert record.id == f"{record.type}:{record.name}"
            assert fetched.data == at(first, record.name, str(record.type))[0].data
        else:
            assert fetched.data == record.data and fetched == record
    if style.ids != "type:name":
        assert len({r.id for r in ours}) == 3
    with pytest.raises(RecordNotFound):
        call(mode, driver, "get_record", zone.id, "no-such-record")


def test_a_zone_built_from_its_id(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    """Libcloud's users build ``Zone(id, None, ...)`` by hand and list with it."""
    driver = dns_target.driver
    call(mode, driver, "create_record_set", "hand", zone, RecordType.A, ["192.0.2.7"])
    bare = Zone(zone.id, None, "master", None, driver)  # type: ignore[arg-type]
    listed = call(mode, driver, "list_records", bare)
    assert [r.data for r in at(listed, shown(dns_target, zone, "hand"), "A")] == ["192.0.2.7"]
    made = call(mode, driver, "create_record", "hand2", bare, RecordType.A, "192.0.2.8")
    assert made.data == "192.0.2.8"
    assert set_values(dns_target, mode, zone, "hand2", "A") == ["192.0.2.8"]
