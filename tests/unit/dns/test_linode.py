"""The Linode DNS driver on the scripted transport: the requests it sends and how it
reads the answers, in both modes, without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from overcast.dns.base import RecordSet
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers.linode import LinodeDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "https://api.linode.com/v4"
RECORDS = f"{API}/domains/42/records"
TOKEN = {"Authorization": "Bearer li-token"}
FIRST = {"page": "1", "page_size": "25"}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> LinodeDNSDriver:
    return LinodeDNSDriver("li-token", page_size=25, **options, **script.options())


def page(items: list[dict[str, Any]], number: int = 1, pages: int = 1) -> dict[str, Any]:
    return {"data": items, "page": number, "pages": pages, "results": len(items)}


def errors(reason: str, field: str | None = None) -> dict[str, Any]:
    entry = {"reason": reason, **({"field": field} if field else {})}
    return {"errors": [entry]}


def only(**fields: str) -> dict[str, str]:
    """The ``X-Filter`` header of a lookup."""
    return {"X-Filter": json.dumps(fields)}


def zone() -> Zone:
    return Zone("42", "example.com.", ZoneType.MASTER.value, None)


def domain(did: int, name: str) -> dict[str, Any]:
    return {"id": did, "domain": name, "type": "master", "soa_email": f"hostmaster@{name}",
            "ttl_sec": 0, "status": "active"}


def rec(rid: int, name: str, rtype: str, target: str, ttl: int = 300,
        **fields: Any) -> dict[str, Any]:
    return {"id": rid, "name": name, "type": rtype, "target": target, "ttl_sec": ttl,
            "priority": 0, "weight": 0, "port": 0, "tag": None, **fields}


def record_set(name: str, rtype: str, *values: str) -> RecordSet:
    return RecordSet(f"{name or '@'}:{rtype}", name, rtype, values[0], zone(), ttl=300,
                  values=list(values))


def test_zones_are_listed_page_by_page_with_the_token(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/domains", params=FIRST, headers=TOKEN).reply(
        200, json=page([domain(1, "a.com"), domain(2, "b.com")], 1, 2))
    script.expect("GET", f"{API}/domains", params={"page": "2", "page_size": "25"},
                  headers=TOKEN).reply(200, json=page([domain(3, "c.com")], 2, 2))
    zones = call(mode, driver(script), "list_zones")
    assert [(z.id, z.domain, z.ttl) for z in zones] == [
        ("1", "a.com.", None), ("2", "b.com.", None), ("3", "c.com.", None)]
    assert zones[0].extra["soa_email"] == "hostmaster@a.com"
    script.assert_done()


def test_a_provider_that_ignores_the_page_asked_for_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/domains", params=FIRST).reply(
        200, json=page([domain(1, "a.com")], 1, 3))
    script.expect("GET", f"{API}/domains", params={"page": "2", "page_size": "25"}).reply(
        200, json=page([domain(1, "a.com")], 1, 3))
    with pytest.raises(ProviderError, match=r"asked for page 2 .* sent page 1"):
        call(mode, driver(script), "list_zones")
    script.assert_done()


def test_get_create_update_and_delete_a_zone(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/domains/42").reply(200, json=domain(42, "example.com"))
    script.expect("POST", f"{API}/domains", json={
        "domain": "b.com", "type": "master", "soa_email": "hostmaster@b.com",
        "ttl_sec": 3600}).reply(200, json={**domain(43, "b.com"), "ttl_sec": 3600})
    script.expect("PUT", f"{API}/domains/43", json={"soa_email": "dns@b.com"}).reply(
        200, json={**domain(43, "b.com"), "soa_email": "dns@b.com"})
    script.expect("DELETE", f"{API}/domains/43").reply(200, json={})
    li = driver(script)
    assert call(mode, li, "get_zone", "42").domain == "example.com."
    made = call(mode, li, "create_zone", "b.com.", ttl=3600)
    assert (made.id, made.ttl) == ("43", 3600)
    changed = call(mode, li, "update_zone", made, None, None, None, {"email": "dns@b.com"})
    assert changed.extra["soa_email"] == "dns@b.com"
    assert call(mode, li, "delete_zone", made) is True
    script.assert_done()


def test_a_zone_create_whose_answer_is_lost_is_found_not_made_twice(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{API}/domains").fail(sent=True)
    script.expect("GET", f"{API}/domains", params=FIRST, headers=only(domain="b.com")).reply(
        200, json=page([domain(43, "b.com")]))
    assert call(mode, driver(script), "create_zone", "b.com").id == "43"
    script.assert_done()  # one POST only


def test_records_of_one_name_and_type_become_one_set_across_pages(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=page([
        rec(1, "www", "A", "192.0.2.1"), rec(2, "", "MX", "mail.example.com", priority=10),
    ], 1, 2))
    script.expect("GET", RECORDS, params={"page": "2", "page_size": "25"}).reply(
        200, json=page([rec(3, "www", "A", "192.0.2.2"),
                        rec(4, "", "CAA", "ca.example", tag="issue", ttl=0)], 2, 2))
    found = call(mode, driver(script), "list_record_sets", zone())
    assert sorted((r.id, r.values, r.ttl, r.extra["record_ids"]) for r in found) == [
        ("@:CAA", ['0 issue "ca.example"'], None, [4]),
        ("@:MX", ["10 mail.example.com."], 300, [2]),
        ("www:A", ["192.0.2.1", "192.0.2.2"], 300, [1, 3]),
    ]
    script.assert_done()


def test_a_set_is_created_one_record_per_value_after_a_filtered_lookup(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=FIRST, headers=only(name="_sip._tcp")).reply(
        200, json=page([]))
    for rid, priority in ((11, 10), (12, 20)):
        script.expect("POST", RECORDS, json={
            "type": "SRV", "name": "", "service": "sip", "protocol": "tcp",
            "priority": priority, "weight": 5, "port": 5060, "target": "sip.example.com",
            "ttl_sec": 300}).reply(200, json=rec(
                rid, "_sip._tcp", "SRV", "sip.example.com", priority=priority, weight=5,
                port=5060))
    made = call(mode, driver(script), "create_record_set", "_sip._tcp", zone(), "SRV",
                ["10 5 5060 sip.example.com.", "20 5 5060 sip.example.com."], ttl=300)
    assert (made.id, made.extra["record_ids"]) == ("_sip._tcp:SRV", [11, 12])
    assert made.values == ["10 5 5060 sip.example.com.", "20 5 5060 sip.example.com."]
    script.assert_done()


def test_a_failed_second_value_deletes_the_first_again(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=FIRST, headers=only(name="www")).reply(
        200, json=page([]))
    script.expect("POST", RECORDS).reply(200, json=rec(11, "www", "A", "192.0.2.1"))
    script.expect("POST", RECORDS).reply(
        400, json=errors("A domain may have at most 2 records"))
    script.expect("DELETE", f"{RECORDS}/11").reply(200, json={})
    script.expect("GET", RECORDS, params=FIRST, headers=only(name="www", type="A")).reply(
        200, json=page([]))
    with pytest.raises(ProviderError, match="at most 2 records") as info:
        call(mode, driver(script), "create_record_set", "www", zone(), "A",
             ["192.0.2.1", "192.0.2.2"])
    assert info.value.status == 400
    script.assert_done()


def test_a_value_whose_answer_is_lost_is_deleted_and_never_sent_twice(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=FIRST, headers=only(name="www")).reply(
        200, json=page([rec(5, "www", "TXT", "keep me")]))
    script.expect("POST", RECORDS).fail(sent=True)
    script.expect("GET", RECORDS, params=FIRST, headers=only(name="www", type="A")).reply(
        200, json=page([rec(11, "www", "A", "192.0.2.1")]))
    script.expect("DELETE", f"{RECORDS}/11").reply(200, json={})
    with pytest.raises(OutcomeUnknown):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "192.0.2.1")
    script.assert_done()


def test_update_changes_in_place_adds_and_deletes(mode: str) -> None:
    script = Script()
    current = [rec(1, "www", "A", "192.0.2.1"), rec(2, "www", "A", "192.0.2.2")]
    www_a = only(name="www", type="A")
    script.expect("GET", RECORDS, params=FIRST, headers=www_a).reply(200, json=page(current))
    script.expect("PUT", f"{RECORDS}/1", json={"name": "www", "target": "192.0.2.3",
                                               "ttl_sec": 300}).reply(
        200, json=rec(1, "www", "A", "192.0.2.3"))
    script.expect("POST", RECORDS, json={"type": "A", "name": "www", "target": "192.0.2.4",
                                         "ttl_sec": 300}).reply(
        200, json=rec(3, "www", "A", "192.0.2.4"))
    after = [current[1], rec(1, "www", "A", "192.0.2.3"), rec(3, "www", "A", "192.0.2.4")]
    script.expect("GET", RECORDS, params=FIRST, headers=www_a).reply(200, json=page(after))
    script.expect("GET", RECORDS, params=FIRST, headers=www_a).reply(200, json=page(after))
    script.expect("DELETE", f"{RECORDS}/2").reply(200, json={})
    script.expect("DELETE", f"{RECORDS}/1").reply(404, json=errors("Not found"))  # gone
    script.expect("GET", RECORDS, params=FIRST, headers=www_a).reply(200, json=page(after[2:]))
    li = driver(script)
    updated = call(mode, li, "update_record_set", record_set("www", "A", "192.0.2.1", "192.0.2.2"),
                   None, None, ["192.0.2.2", "192.0.2.3", "192.0.2.4"])
    assert (updated.values, updated.extra["record_ids"]) == (
        ["192.0.2.2", "192.0.2.3", "192.0.2.4"], [2, 1, 3])
    shorter = call(mode, li, "update_record_set", updated, None, None, "192.0.2.4")
    assert shorter.values == ["192.0.2.4"]
    script.assert_done()


def test_delete_removes_every_value_and_a_gone_set_is_not_found(mode: str) -> None:
    script = Script()
    www_a = only(name="www", type="A")
    script.expect("GET", RECORDS, params=FIRST, headers=www_a).reply(
        200, json=page([rec(1, "www", "A", "192.0.2.1"), rec(2, "www", "A", "192.0.2.2")]))
    script.expect("DELETE", f"{RECORDS}/1").reply(200, json={})
    script.expect("DELETE", f"{RECORDS}/2").reply(200, json={})
    script.expect("GET", RECORDS, params=FIRST, headers=www_a).reply(200, json=page([]))
    li = driver(script)
    record = record_set("www", "A", "192.0.2.1", "192.0.2.2")
    assert call(mode, li, "delete_record_set", record) is True
    with pytest.raises(RecordNotFound):
        call(mode, li, "delete_record_set", record)
    script.assert_done()


def test_errors_map_by_status_reason_and_field(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/domains/7").reply(404, json=errors("Not found"))
    script.expect("GET", f"{API}/domains/7").reply(401, json=errors("Invalid Token"))
    script.expect("POST", f"{API}/domains").reply(
        400, json=errors("Domain already exists", "domain"))
    script.expect("DELETE", f"{API}/domains/7").reply(
        500, json=errors("Internal error", "server"), headers={"X-Request-Id": "li-req-9"})
    li = driver(script, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ZoneNotFound):
        call(mode, li, "get_zone", "7")
    with pytest.raises(InvalidCredentials, match="Invalid Token"):
        call(mode, li, "get_zone", "7")
    with pytest.raises(ZoneAlreadyExists):
        call(mode, li, "create_zone", "b.com")
    with pytest.raises(ProviderError, match="Internal error") as info:
        call(mode, li, "delete_zone", Zone("7", "g.com.", "master", None))
    assert (info.value.status, info.value.code, info.value.request_id) == (500, "server",
                                                                           "li-req-9")
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    li = driver(script)
    with pytest.raises(InvalidInput, match=r"_service\._protocol"):
        call(mode, li, "create_record_set", "_sip._tcp.sub", zone(), "SRV", "1 1 5060 sip.example.")
    with pytest.raises(InvalidInput, match="CAA flags"):
        call(mode, li, "create_record_set", "", zone(), "CAA", '128 issue "ca.example"')
    with pytest.raises(InvalidInput, match="priorities"):
        call(mode, li, "create_record_set", "", zone(), "MX", "300 mail.example.")
    with pytest.raises(ZoneNotFound):  # Linode numbers its domains
        call(mode, li, "get_zone", "example.com")
    with pytest.raises(InvalidInput):
        call(mode, li, "create_zone", "b.com", extra={"colour": "blue"})
    for bad in ({"page_size": 10}, {"endpoint": "ftp://example.com"}):
        with pytest.raises(InvalidInput):
            LinodeDNSDriver("t", **bad)
    with pytest.raises(InvalidInput):
        LinodeDNSDriver("")
    assert script.received == []
