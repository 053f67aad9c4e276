"""The DigitalOcean DNS driver on the scripted transport: the requests it sends
and how it reads the answers, in both modes, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.dns.base import RecordSet
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers.digitalocean import DigitalOceanDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "https://api.digitalocean.com/v2"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> DigitalOceanDNSDriver:
    return DigitalOceanDNSDriver("do-token", page_size=2, **options, **script.options())


def page(key: str, items: list[dict[str, Any]], next_page: int | None) -> dict[str, Any]:
    links = {"pages": {"next": f"{API}/domains?page={next_page}"}} if next_page else {}
    return {key: items, "links": links, "meta": {"total": 99}}


def zone(name: str = "example.com") -> Zone:
    return Zone(name, f"{name}.", ZoneType.MASTER.value, 1800)


def record(rid: int, name: str, rtype: str, data: str, **fields: Any) -> dict[str, Any]:
    return {"id": rid, "name": name, "type": rtype, "data": data, "ttl": 300, **fields}


def record_set(name: str, rtype: str, *values: str) -> RecordSet:
    return RecordSet(f"{name or '@'}:{rtype}", name, rtype, values[0], zone(), ttl=300,
                  values=list(values))


RECORDS = f"{API}/domains/example.com/records"
#: The lookup of the records at ``www`` (of one type, with ``type=``).
WWW = {"name": "www.example.com", "page": "1", "per_page": "2"}


def test_zones_are_listed_page_by_page_with_the_token(mode: str) -> None:
    script = Script()
    auth = {"Authorization": "Bearer do-token"}
    script.expect("GET", f"{API}/domains", params={"page": "1", "per_page": "2"},
                  headers=auth).reply(200, json=page("domains", [
                      {"name": "a.com", "ttl": 1800}, {"name": "b.com", "ttl": 1800}], 2))
    script.expect("GET", f"{API}/domains", params={"page": "2", "per_page": "2"},
                  headers=auth).reply(200, json=page("domains", [{"name": "c.com", "ttl": 60}],
                                                     None))
    zones = call(mode, driver(script), "list_zones")
    assert [(z.id, z.domain, z.ttl) for z in zones] == [
        ("a.com", "a.com.", 1800), ("b.com", "b.com.", 1800), ("c.com", "c.com.", 60)]
    script.assert_done()


def test_a_next_link_that_comes_back_to_a_page_already_read_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/domains", params={"page": "1", "per_page": "2"}).reply(
        200, json=page("domains", [{"name": "a.com"}], 2))
    script.expect("GET", f"{API}/domains", params={"page": "2", "per_page": "2"}).reply(
        200, json=page("domains", [{"name": "b.com"}], 1))
    with pytest.raises(ProviderError, match="sent the page 1 a second time"):
        call(mode, driver(script), "list_zones")
    script.assert_done()


def test_a_missing_zone_and_a_refused_token_map_to_their_errors(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/domains/nope.com").reply(
        404, json={"id": "not_found", "message": "The resource you requested could not be found."})
    script.expect("GET", f"{API}/domains/a.com").reply(
        401, json={"id": "unauthorized", "message": "Unable to authenticate you"})
    with pytest.raises(ZoneNotFound, match=r"nope\.com"):
        call(mode, driver(script), "get_zone", "nope.com")
    with pytest.raises(InvalidCredentials, match="DigitalOcean refused the credentials"):
        call(mode, driver(script), "get_zone", "a.com")
    script.assert_done()


def test_creating_a_zone_that_exists_is_zone_already_exists(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{API}/domains", json={"name": "a.com"}).reply(
        422, json={"id": "unprocessable_entity", "message": "Name already exists"})
    with pytest.raises(ZoneAlreadyExists):
        call(mode, driver(script), "create_zone", "a.com")
    script.assert_done()


def test_a_server_error_keeps_its_code_and_request_id(mode: str) -> None:
    script = Script()
    script.expect("DELETE", f"{API}/domains/a.com").reply(
        500, json={"id": "server_error", "message": "oops"}, headers={"x-request-id": "r-42"})
    with pytest.raises(ProviderError) as info:
        call(mode, driver(script, retry=_no_retry()), "delete_zone", zone("a.com"))
    assert (info.value.status, info.value.code, info.value.request_id) == (500, "server_error",
                                                                           "r-42")


def test_records_of_one_name_and_type_become_one_set_across_pages(mode: str) -> None:
    script = Script()
    records = f"{API}/domains/example.com/records"
    script.expect("GET", records, params={"page": "1", "per_page": "2"}).reply(200, json=page(
        "domain_records", [record(1, "www", "A", "192.0.2.1"),
                           record(2, "@", "MX", "mail.example.com", priority=10)], 2))
    script.expect("GET", records, params={"page": "2", "per_page": "2"}).reply(200, json=page(
        "domain_records", [record(3, "www", "A", "192.0.2.2"),
                           record(4, "@", "SOA", "1800")], None))
    found = call(mode, driver(script), "list_record_sets", zone())
    assert sorted((r.name, r.type, r.values, r.extra["ids"]) for r in found) == [
        ("", "MX", ["10 mail.example.com."], [2]),
        ("www", "A", ["192.0.2.1", "192.0.2.2"], [1, 3]),
    ]
    script.assert_done()


def test_a_set_is_created_one_record_per_value_after_checking_the_name_is_free(
    mode: str,
) -> None:
    script = Script()
    records = f"{API}/domains/example.com/records"
    lookup = {"name": "www.example.com", "page": "1", "per_page": "2"}
    script.expect("GET", records, params=lookup).reply(200, json=page("domain_records", [], None))
    script.expect("POST", records, json={"type": "A", "name": "www", "data": "192.0.2.1",
                                         "ttl": 60}).reply(
        201, json={"domain_record": record(11, "www", "A", "192.0.2.1", ttl=60)})
    script.expect("POST", records, json={"type": "A", "name": "www", "data": "192.0.2.2",
                                         "ttl": 60}).reply(
        201, json={"domain_record": record(12, "www", "A", "192.0.2.2", ttl=60)})
    made = call(mode, driver(script), "create_record_set", "www", zone(), "A",
                ["192.0.2.1", "192.0.2.2"], ttl=60)
    assert (made.id, made.values, made.extra["ids"]) == ("www:A", ["192.0.2.1", "192.0.2.2"],
                                                         [11, 12])
    script.assert_done()


def test_a_failed_second_value_deletes_the_first_again(mode: str) -> None:
    script = Script()
    records = f"{API}/domains/example.com/records"
    lookup = {"name": "www.example.com", "page": "1", "per_page": "2"}
    script.expect("GET", records, params=lookup).reply(200, json=page("domain_records", [], None))
    script.expect("POST", records).reply(
        201, json={"domain_record": record(11, "www", "A", "192.0.2.1")})
    script.expect("POST", records).reply(
        422, json={"id": "unprocessable_entity", "message": "Data needs to be an IP"})
    script.expect("DELETE", f"{records}/11").reply(204)
    script.expect("GET", records, params={**lookup, "type": "A"}).reply(
        200, json=page("domain_records", [], None))
    with pytest.raises(ProviderError, match="Data needs to be an IP"):
        call(mode, driver(script), "create_record_set", "www", zone(), "A",
             ["192.0.2.1", "192.0.2.2"])
    script.assert_done()


def test_a_set_that_exists_or_a_cname_beside_data_is_refused_before_any_write(
    mode: str,
) -> None:
    script = Script()
    records = f"{API}/domains/example.com/records"
    lookup = {"name": "www.example.com", "page": "1", "per_page": "2"}
    script.expect("GET", records, params=lookup).reply(
        200, json=page("domain_records", [record(1, "www", "A", "192.0.2.1")], None))
    script.expect("GET", records, params=lookup).reply(
        200, json=page("domain_records", [record(1, "www", "A", "192.0.2.1")], None))
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "192.0.2.9")
    with pytest.raises(InvalidInput, match="CNAME may not share its name"):
        call(mode, driver(script), "create_record_set", "www", zone(), "CNAME", "other.example.")
    script.assert_done()  # no POST was sent


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "not-an-address")
    with pytest.raises(InvalidInput):
        DigitalOceanDNSDriver("t", page_size=0)
    with pytest.raises(InvalidInput):
        DigitalOceanDNSDriver("t", endpoint="ftp://example.com")
    script.assert_done()
    assert script.received == []


def _no_retry() -> Any:
    from overcast.runtime.policy import RetryPolicy

    return RetryPolicy(max_attempts=1)


def test_get_create_and_delete_a_zone(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/domains/a.com").reply(
        200, json={"domain": {"name": "a.com", "ttl": 1800, "zone_file": "$ORIGIN a.com."}})
    script.expect("POST", f"{API}/domains", json={"name": "b.com",
                                                 "ip_address": "192.0.2.80"}).reply(
        201, json={"domain": {"name": "b.com", "ttl": None}})
    script.expect("DELETE", f"{API}/domains/b.com").reply(204)
    do = driver(script)
    got = call(mode, do, "get_zone", "a.com")
    assert (got.domain, got.ttl, got.extra["zone_file"]) == ("a.com.", 1800, "$ORIGIN a.com.")
    made = call(mode, do, "create_zone", "B.com.", extra={"ip_address": "192.0.2.80"})
    assert (made.id, made.ttl) == ("b.com", None)
    assert call(mode, do, "delete_zone", made) is True
    script.assert_done()


def test_a_zone_create_whose_answer_is_lost_is_found_not_made_twice(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{API}/domains").fail(sent=True)
    script.expect("GET", f"{API}/domains/b.com").reply(
        200, json={"domain": {"name": "b.com", "ttl": 1800}})
    assert call(mode, driver(script), "create_zone", "b.com").id == "b.com"
    script.assert_done()  # one POST only


def test_a_value_whose_answer_is_lost_is_deleted_and_never_sent_twice(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=WWW).reply(200, json=page("domain_records", [],
                                                                  None))
    script.expect("POST", RECORDS).reply(
        201, json={"domain_record": record(11, "www", "A", "192.0.2.1")})
    script.expect("POST", RECORDS).fail(sent=True)  # made, but the answer is lost
    script.expect("DELETE", f"{RECORDS}/11").reply(204)
    script.expect("GET", RECORDS, params={**WWW, "type": "A"}).reply(
        200, json=page("domain_records", [record(12, "www", "A", "192.0.2.2")], None))
    script.expect("DELETE", f"{RECORDS}/12").reply(204)
    with pytest.raises(OutcomeUnknown):
        call(mode, driver(script), "create_record_set", "www", zone(), "A",
             ["192.0.2.1", "192.0.2.2"])
    script.assert_done()


def test_update_changes_in_place_adds_and_deletes(mode: str) -> None:
    script = Script()
    where = {**WWW, "type": "A"}
    current = [record(1, "www", "A", "192.0.2.1"), record(2, "www", "A", "192.0.2.2")]
    script.expect("GET", RECORDS, params=where).reply(
        200, json=page("domain_records", current, None))
    script.expect("PUT", f"{RECORDS}/1", json={"type": "A", "name": "www",
                                               "data": "192.0.2.3", "ttl": 300}).reply(
        200, json={"domain_record": record(1, "www", "A", "192.0.2.3")})
    script.expect("POST", RECORDS, json={"type": "A", "name": "www", "data": "192.0.2.4",
                                         "ttl": 300}).reply(
        201, json={"domain_record": record(3, "www", "A", "192.0.2.4")})
    after = [current[1], record(1, "www", "A", "192.0.2.3"), record(3, "www", "A",
                                                                     "192.0.2.4")]
    script.expect("GET", RECORDS, params=where).reply(
        200, json=page("domain_records", after, None))
    script.expect("GET", RECORDS, params=where).reply(
        200, json=page("domain_records", after, None))
    script.expect("PUT", f"{RECORDS}/3", json={"type": "A", "name": "www",
                                               "data": "192.0.2.4", "ttl": 60}).reply(
        200, json={"domain_record": record(3, "www", "A", "192.0.2.4", ttl=60)})
    script.expect("DELETE", f"{RECORDS}/2").reply(204)
    script.expect("DELETE", f"{RECORDS}/1").reply(204)
    script.expect("GET", RECORDS, params=where).reply(200, json=page(
        "domain_records", [record(3, "www", "A", "192.0.2.4", ttl=60)], None))
    do = driver(script)
    updated = call(mode, do, "update_record_set", record_set("www", "A", "192.0.2.1", "192.0.2.2"),
                   None, None, ["192.0.2.2", "192.0.2.3", "192.0.2.4"])
    assert (updated.values, updated.extra["ids"]) == (
        ["192.0.2.2", "192.0.2.3", "192.0.2.4"], [2, 1, 3])
    shorter = call(mode, do, "update_record_set", updated, None, None, ["192.0.2.4"], ttl=60)
    assert (shorter.values, shorter.ttl) == (["192.0.2.4"], 60)
    script.assert_done()


def test_a_renamed_set_is_made_anew_then_the_old_one_deleted(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params={**WWW, "type": "A"}).reply(
        200, json=page("domain_records", [record(1, "www", "A", "192.0.2.1")], None))
    web = {"name": "web.example.com", "page": "1", "per_page": "2"}
    script.expect("GET", RECORDS, params=web).reply(200, json=page("domain_records", [],
                                                                  None))
    script.expect("POST", RECORDS, json={"type": "CNAME", "name": "web",
                                         "data": "target.example.", "ttl": 300}).reply(
        201, json={"domain_record": record(5, "web", "CNAME", "target.example")})
    script.expect("DELETE", f"{RECORDS}/1").reply(204)
    script.expect("GET", RECORDS, params={**web, "type": "CNAME"}).reply(
        200, json=page("domain_records", [record(5, "web", "CNAME", "target.example")], None))
    moved = call(mode, driver(script), "update_record_set", record_set("www", "A", "192.0.2.1"),
                 "web", "CNAME", "target.example.")
    assert (moved.id, moved.values) == ("web:CNAME", ["target.example."])
    script.assert_done()


def test_delete_removes_every_value_and_a_gone_set_is_not_found(mode: str) -> None:
    script = Script()
    where = {**WWW, "type": "A"}
    script.expect("GET", RECORDS, params=where).reply(200, json=page("domain_records", [
        record(1, "www", "A", "192.0.2.1"), record(2, "www", "A", "192.0.2.2")], None))
    script.expect("DELETE", f"{RECORDS}/1").reply(204)
    script.expect("DELETE", f"{RECORDS}/2").reply(
        404, json={"id": "not_found", "message": "gone"})  # gone already: no error
    script.expect("GET", RECORDS, params=where).reply(200, json=page("domain_records", [],
                                                                    None))
    do = driver(script)
    www = record_set("www", "A", "192.0.2.1", "192.0.2.2")
    assert call(mode, do, "delete_record_set", www) is True
    with pytest.raises(RecordNotFound):
        call(mode, do, "delete_record_set", www)
    script.assert_done()


def test_caa_values_take_digitaloceans_fields_and_rules(mode: str) -> None:
    script = Script()
    apex = {"name": "example.com", "page": "1", "per_page": "2"}
    script.expect("GET", RECORDS, params=apex).reply(200, json=page("domain_records", [],
                                                                   None))
    script.expect("POST", RECORDS, json={"type": "CAA", "name": "@", "data": "ca.example.",
                                         "flags": 0, "tag": "issue"}).reply(
        201, json={"domain_record": record(7, "@", "CAA", "ca.example", flags=0,
                                           tag="issue")})
    do = driver(script)
    made = call(mode, do, "create_record_set", "", zone(), "CAA", '0 issue "ca.example"')
    assert made.values == ['0 issue "ca.example"']
    with pytest.raises(InvalidInput, match="CAA tags"):
        call(mode, do, "create_record_set", "", zone(), "CAA", '0 contactemail "a@b.example"')
    script.assert_done()
