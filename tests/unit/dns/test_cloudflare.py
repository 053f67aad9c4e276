"""The Cloudflare DNS driver on the scripted transport: the requests it sends and how
it reads the answers, in both modes, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.dns.base import RecordSet
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers.cloudflare import CloudflareDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "https://api.cloudflare.com/client/v4"
ZONE_ID = "0123456789abcdef0123456789abcdef"
RECORDS = f"{API}/zones/{ZONE_ID}/dns_records"
TOKEN = {"Authorization": "Bearer cf-token"}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> CloudflareDNSDriver:
    options.setdefault("account_id", "acc")
    return CloudflareDNSDriver("cf-token", page_size=5, **options, **script.options())


def ok(result: Any, page: int | None = None, pages: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if page is not None:
        body["result_info"] = {"page": page, "per_page": 5, "total_pages": pages}
    return body


def fail(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [],
            "result": None}


def zone() -> Zone:
    return Zone(ZONE_ID, "example.com.", ZoneType.MASTER.value, None)


def record_set(name: str, rtype: str, *values: str) -> RecordSet:
    return RecordSet(f"{name}:{rtype}", name, rtype, values[0], zone(), ttl=300,
                  values=list(values))


def zone_item(name: str, zid: str = ZONE_ID) -> dict[str, Any]:
    return {"id": zid, "name": name, "type": "full", "status": "active",
            "name_servers": ["ada.ns.cloudflare.com"]}


def rec(rid: str, name: str, rtype: str, content: str, ttl: int = 300,
        **fields: Any) -> dict[str, Any]:
    return {"id": rid, "name": name, "type": rtype, "content": content, "ttl": ttl,
            "proxied": False, **fields}


def lookup(name: str, rtype: str | None = None, page: int = 1) -> dict[str, str]:
    params = {"name": name, "page": str(page), "per_page": "5"}
    if rtype is not None:
        params["type"] = rtype
    return params


def test_zones_are_listed_page_by_page_with_the_token(mode: str) -> None:
    script = Script()
    for page, names in ((1, ["a.com", "b.com"]), (2, ["c.com"])):
        script.expect("GET", f"{API}/zones", headers=TOKEN, params={
            "page": str(page), "per_page": "5", "account.id": "acc"}).reply(
            200, json=ok([zone_item(n, n.replace(".", "") * 4) for n in names], page, 2))
    zones = call(mode, driver(script), "list_zones")
    assert [z.domain for z in zones] == ["a.com.", "b.com.", "c.com."]
    assert zones[0].extra["name_servers"] == ["ada.ns.cloudflare.com"]
    script.assert_done()


def test_a_provider_that_sends_page_one_again_is_an_error(mode: str) -> None:
    script = Script()
    for page in (1, 2):
        script.expect("GET", f"{API}/zones", params={
            "page": str(page), "per_page": "5", "account.id": "acc"}).reply(
            200, json=ok([zone_item("a.com")], 1, 3))
    with pytest.raises(ProviderError, match=r"asked for page 2 .* sent page 1"):
        call(mode, driver(script), "list_zones")
    script.assert_done()


def test_get_create_and_delete_a_zone(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/zones/{ZONE_ID}").reply(200, json=ok(zone_item("a.com")))
    script.expect("POST", f"{API}/zones", json={
        "name": "b.com", "account": {"id": "acc"}, "type": "full"}).reply(
        200, json=ok(zone_item("b.com", "f" * 32)))
    script.expect("DELETE", f"{API}/zones/{'f' * 32}").reply(200, json=ok({"id": "f" * 32}))
    cf = driver(script)
    assert call(mode, cf, "get_zone", ZONE_ID).domain == "a.com."
    made = call(mode, cf, "create_zone", "B.com.")
    assert (made.id, made.domain) == ("f" * 32, "b.com.")
    assert call(mode, cf, "delete_zone", made) is True
    script.assert_done()


def test_a_zone_create_whose_answer_is_lost_is_found_not_made_twice(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{API}/zones").fail(sent=True)
    script.expect("GET", f"{API}/zones", params={"name": "b.com", "page": "1",
                                                 "per_page": "5"}).reply(
        200, json=ok([zone_item("b.com", "f" * 32)], 1, 1))
    made = call(mode, driver(script), "create_zone", "b.com")
    assert made.id == "f" * 32
    script.assert_done()  # one POST only


def test_records_are_listed_by_name_and_grouped_across_pages(mode: str) -> None:
    script = Script()
    pages = [[rec("1", "example.com", "MX", "mail.example.com", priority=10),
              rec("2", "www.example.com", "A", "192.0.2.1")],
             [rec("3", "www.example.com", "A", "192.0.2.2", ttl=1),
              rec("4", "www.example.com", "TXT", '"v=spf1" " -all"')]]
    for page, items in enumerate(pages, 1):
        script.expect("GET", RECORDS, params={"order": "name", "direction": "asc",
                                              "page": str(page), "per_page": "5"}).reply(
            200, json=ok(items, page, 2))
    found = call(mode, driver(script), "list_record_sets", zone())
    assert [(r.id, r.values, r.ttl, r.extra["ids"]) for r in found] == [
        ("@:MX", ["10 mail.example.com."], 300, ["1"]),
        ("www:A", ["192.0.2.1", "192.0.2.2"], 300, ["2", "3"]),
        ("www:TXT", ["v=spf1 -all"], 300, ["4"]),
    ]
    assert found[1].extra["proxied"] is False
    script.assert_done()


def test_a_set_is_created_one_record_per_value(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=lookup("www.example.com")).reply(
        200, json=ok([], 1, 1))
    for rid, address in (("11", "192.0.2.1"), ("12", "192.0.2.2")):
        script.expect("POST", RECORDS, json={"type": "A", "name": "www.example.com",
                                             "ttl": 1, "content": address}).reply(
            200, json=ok(rec(rid, "www.example.com", "A", address, ttl=1)))
    made = call(mode, driver(script), "create_record_set", "WWW", zone(), "A",
                ["192.0.2.1", "192.0.2.2"])
    assert (made.id, made.values, made.ttl, made.extra["ids"]) == (
        "www:A", ["192.0.2.1", "192.0.2.2"], None, ["11", "12"])
    script.assert_done()


def test_mx_srv_and_caa_travel_in_their_fields(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=lookup("_sip._tcp.example.com")).reply(
        200, json=ok([], 1, 1))
    srv = {"priority": 10, "weight": 5, "port": 5060, "target": "sip.example.com"}
    script.expect("POST", RECORDS, json={"type": "SRV", "name": "_sip._tcp.example.com",
                                         "ttl": 300, "data": srv}).reply(
        200, json=ok(rec("21", "_sip._tcp.example.com", "SRV", "5 5060 sip.example.com",
                         priority=10, data=srv)))
    made = call(mode, driver(script), "create_record_set", "_sip._tcp", zone(), "SRV",
                "10 5 5060 sip.example.com.", ttl=300)
    assert made.values == ["10 5 5060 sip.example.com."]
    script.assert_done()


def test_a_failed_second_value_deletes_the_first_again(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=lookup("www.example.com")).reply(
        200, json=ok([], 1, 1))
    script.expect("POST", RECORDS).reply(200, json=ok(rec("11", "www.example.com", "A",
                                                          "192.0.2.1")))
    script.expect("POST", RECORDS).reply(400, json=fail(81045, "Record quota exceeded."))
    script.expect("DELETE", f"{RECORDS}/11").reply(200, json=ok({"id": "11"}))
    script.expect("GET", RECORDS, params=lookup("www.example.com", "A")).reply(
        200, json=ok([], 1, 1))
    with pytest.raises(ProviderError) as info:
        call(mode, driver(script), "create_record_set", "www", zone(), "A",
             ["192.0.2.1", "192.0.2.2"])
    assert (info.value.status, info.value.code) == (400, "81045")
    script.assert_done()


def test_a_value_whose_answer_is_lost_is_deleted_and_never_sent_twice(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=lookup("www.example.com")).reply(
        200, json=ok([], 1, 1))
    script.expect("POST", RECORDS).reply(200, json=ok(rec("11", "www.example.com", "A",
                                                          "192.0.2.1")))
    script.expect("POST", RECORDS).fail(sent=True)  # made, but the answer is lost
    script.expect("DELETE", f"{RECORDS}/11").reply(200, json=ok({"id": "11"}))
    script.expect("GET", RECORDS, params=lookup("www.example.com", "A")).reply(
        200, json=ok([rec("12", "www.example.com", "A", "192.0.2.2")], 1, 1))
    script.expect("DELETE", f"{RECORDS}/12").reply(200, json=ok({"id": "12"}))
    with pytest.raises(OutcomeUnknown):
        call(mode, driver(script), "create_record_set", "www", zone(), "A",
             ["192.0.2.1", "192.0.2.2"])
    script.assert_done()


def test_update_changes_in_place_adds_and_deletes(mode: str) -> None:
    script = Script()
    current = [rec("1", "www.example.com", "A", "192.0.2.1"),
               rec("2", "www.example.com", "A", "192.0.2.2")]
    script.expect("GET", RECORDS, params=lookup("www.example.com", "A")).reply(
        200, json=ok(current, 1, 1))
    script.expect("PATCH", f"{RECORDS}/1", json={"type": "A", "name": "www.example.com",
                                                 "ttl": 300, "content": "192.0.2.3"}).reply(
        200, json=ok(rec("1", "www.example.com", "A", "192.0.2.3")))
    script.expect("POST", RECORDS, json={"type": "A", "name": "www.example.com", "ttl": 300,
                                         "content": "192.0.2.4"}).reply(
        200, json=ok(rec("3", "www.example.com", "A", "192.0.2.4")))
    after = [current[1], rec("1", "www.example.com", "A", "192.0.2.3"),
             rec("3", "www.example.com", "A", "192.0.2.4")]
    script.expect("GET", RECORDS, params=lookup("www.example.com", "A")).reply(
        200, json=ok(after, 1, 1))
    # then down to one value, with a new TTL: the others go, the one left is patched
    script.expect("GET", RECORDS, params=lookup("www.example.com", "A")).reply(
        200, json=ok(after, 1, 1))
    script.expect("PATCH", f"{RECORDS}/3", json={"type": "A", "name": "www.example.com",
                                                 "ttl": 600, "content": "192.0.2.4"}).reply(
        200, json=ok(rec("3", "www.example.com", "A", "192.0.2.4", ttl=600)))
    script.expect("DELETE", f"{RECORDS}/2").reply(200, json=ok({"id": "2"}))
    script.expect("DELETE", f"{RECORDS}/1").reply(200, json=ok({"id": "1"}))
    script.expect("GET", RECORDS, params=lookup("www.example.com", "A")).reply(
        200, json=ok([rec("3", "www.example.com", "A", "192.0.2.4", ttl=600)], 1, 1))
    cf = driver(script)
    record = record_set("www", "A", "192.0.2.1", "192.0.2.2")
    updated = call(mode, cf, "update_record_set", record, None, None,
                   ["192.0.2.2", "192.0.2.3", "192.0.2.4"])
    assert (updated.values, updated.extra["ids"]) == (
        ["192.0.2.2", "192.0.2.3", "192.0.2.4"], ["2", "1", "3"])
    shorter = call(mode, cf, "update_record_set", updated, None, None, "192.0.2.4", ttl=600)
    assert (shorter.values, shorter.ttl) == (["192.0.2.4"], 600)
    script.assert_done()


def test_delete_removes_every_value_and_a_gone_set_is_not_found(mode: str) -> None:
    script = Script()
    current = [rec("1", "www.example.com", "A", "192.0.2.1"),
               rec("2", "www.example.com", "A", "192.0.2.2")]
    script.expect("GET", RECORDS, params=lookup("www.example.com", "A")).reply(
        200, json=ok(current, 1, 1))
    script.expect("DELETE", f"{RECORDS}/1").reply(200, json=ok({"id": "1"}))
    script.expect("DELETE", f"{RECORDS}/2").reply(
        404, json=fail(81044, "Record does not exist."))  # gone already: no error
    script.expect("GET", RECORDS, params=lookup("www.example.com", "A")).reply(
        200, json=ok([], 1, 1))
    cf = driver(script)
    record = record_set("www", "A", "192.0.2.1", "192.0.2.2")
    assert call(mode, cf, "delete_record_set", record) is True
    with pytest.raises(RecordNotFound):
        call(mode, cf, "delete_record_set", record)
    script.assert_done()


def test_errors_map_by_status_and_cloudflare_code(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/zones/{ZONE_ID}").reply(
        400, json=fail(1001, "Invalid zone identifier"))
    script.expect("GET", f"{API}/zones/{ZONE_ID}").reply(
        403, json=fail(10000, "Authentication error"))
    script.expect("POST", f"{API}/zones").reply(
        400, json=fail(1061, "b.com already exists"))
    script.expect("GET", RECORDS, params=lookup("www.example.com")).reply(
        200, json=ok([], 1, 1))
    script.expect("POST", RECORDS).reply(400, json=fail(81057, "Record already exists."))
    script.expect("GET", RECORDS, params=lookup("www.example.com", "A")).reply(
        200, json=ok([], 1, 1))
    script.expect("DELETE", f"{API}/zones/{ZONE_ID}").reply(
        500, json=fail(1234, "Something odd"), headers={"cf-ray": "8a1b-LHR"})
    script.expect("GET", f"{API}/zones/{ZONE_ID}").reply(200, json=fail(9999, "Not today"))
    cf = driver(script, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ZoneNotFound, match=r"\(1001\)"):
        call(mode, cf, "get_zone", ZONE_ID)
    with pytest.raises(InvalidCredentials, match="Cloudflare refused the credentials"):
        call(mode, cf, "get_zone", ZONE_ID)
    with pytest.raises(ZoneAlreadyExists, match=r"already exists \(1061\)"):
        call(mode, cf, "create_zone", "b.com")
    with pytest.raises(RecordAlreadyExists):
        call(mode, cf, "create_record_set", "www", zone(), "A", "192.0.2.1")
    with pytest.raises(ProviderError) as info:
        call(mode, cf, "delete_zone", zone())
    assert (info.value.status, info.value.code, info.value.request_id) == (500, "1234",
                                                                           "8a1b-LHR")
    with pytest.raises(ProviderError, match=r"Not today \(9999\)"):  # 200 saying "no"
        call(mode, cf, "get_zone", ZONE_ID)
    script.assert_done()


def test_the_legacy_email_and_key(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/zones/{ZONE_ID}", headers={
        "X-Auth-Email": "me@example.com", "X-Auth-Key": "k" * 37}).reply(
        200, json=ok(zone_item("a.com")))
    cf = CloudflareDNSDriver("me@example.com", "k" * 37, **script.options())
    call(mode, cf, "get_zone", ZONE_ID)
    assert "Authorization" not in script.received[0].headers
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    cf = driver(script)
    with pytest.raises(InvalidInput):
        call(mode, cf, "create_record_set", "www", zone(), "A", "not-an-address")
    with pytest.raises(InvalidInput):
        call(mode, cf, "create_record_set", "www.elsewhere.org.", zone(), "A", "192.0.2.1")
    with pytest.raises(InvalidInput):
        call(mode, cf, "create_zone", "")
    for bad in ({"page_size": 0}, {"endpoint": "ftp://example.com"}, {"account_id": ""}):
        with pytest.raises(InvalidInput):
            CloudflareDNSDriver("t", **bad)
    with pytest.raises(InvalidInput):
        CloudflareDNSDriver("")
    assert script.received == []


# -- exports of hostile record data ----------------------------------------------------------


def listing(*items: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    return RECORDS, {"order": "name", "direction": "asc", "page": "1", "per_page": "5"}, ok(
        list(items), 1, 1)


def test_an_export_escapes_hostile_names_and_text(mode: str) -> None:
    script = Script()
    url, params, body = listing(
        rec("1", "x\n$INCLUDE /etc/passwd.example.com", "TXT", '"v\n$INCLUDE /etc/shadow"'),
        rec("2", "www.example.com", "A", "192.0.2.1"),
    )
    script.expect("GET", url, params=params).reply(200, json=body)
    text = call(mode, driver(script), "export_zone_to_bind_format", zone())
    assert "\n$INCLUDE" not in text
    assert [line for line in text.splitlines() if line.startswith("$")] == [
        "$ORIGIN example.com.", "$TTL 3600"]
    assert text.splitlines()[2:] == [
        'x\\010\\$include\\032/etc/passwd.example.com.\t300\tIN\tTXT\t"v\\010$INCLUDE /etc/shadow"',
        "www.example.com.\t300\tIN\tA\t192.0.2.1",
    ]
    script.assert_done()


@pytest.mark.parametrize("item", [
    rec("1", "www.example.com", "CNAME", "target.example.net\n$INCLUDE /etc/passwd"),
    rec("1", "www.example.com", "A", "192.0.2.1 ; $INCLUDE /etc/passwd"),
    rec("1", "www.example.com", "MX", "mail.example.net\nevil 60 IN A 192.0.2.66", priority=10),
    rec("1", "www.example.com", "A", "192.0.2.1", ttl=2**32),
    rec("1", "www.elsewhere.example", "A", "192.0.2.1"),
])
def test_an_export_refuses_a_record_it_cannot_write(mode: str, item: dict[str, Any]) -> None:
    script = Script()
    url, params, body = listing(item)
    script.expect("GET", url, params=params).reply(200, json=body)
    with pytest.raises(ProviderError, match=r"record set www(\.elsewhere\.example\.)?:") as raised:
        call(mode, driver(script), "export_zone_to_bind_format", zone())
    assert raised.value.code == "UnrepresentableRecord"
    script.assert_done()
