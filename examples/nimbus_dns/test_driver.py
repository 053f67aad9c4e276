"""Unit tests of the example driver on overcast's scripted transport: each test
lists the requests the driver must send and the answers it gets, and runs in
both modes (sync and async) in milliseconds, with no server."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus_dns.driver import NimbusDNSDriver
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "https://api.nimbus.example/v1"
AUTH = {"Authorization": "Bearer t0ken"}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> NimbusDNSDriver:
    return NimbusDNSDriver("t0ken", page_size=2, **options, **script.options())


ZONE = Zone("example.com", "example.com.", ZoneType.MASTER.value, 3600)


def rrset(name: str, rtype: str, *records: str, ttl: int = 300) -> dict[str, Any]:
    return {"name": name, "type": rtype, "ttl": ttl, "records": list(records)}


def test_zones_are_listed_page_by_page(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/zones", params={"limit": "2"}, headers=AUTH).reply(
        200, json={"zones": [{"name": "a.com", "ttl": 60}, {"name": "b.com"}],
                   "next_cursor": "c1"})
    script.expect("GET", f"{API}/zones", params={"limit": "2", "cursor": "c1"}).reply(
        200, json={"zones": [{"name": "c.com", "ttl": 300}], "next_cursor": None})
    zones = call(mode, driver(script), "list_zones")
    assert [(z.id, z.domain, z.ttl) for z in zones] == [
        ("a.com", "a.com.", 60), ("b.com", "b.com.", None), ("c.com", "c.com.", 300)]
    script.assert_done()


def test_a_cursor_sent_twice_stops_the_listing(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/zones", params={"limit": "2"}).reply(
        200, json={"zones": [{"name": "a.com"}], "next_cursor": "c1"})
    script.expect("GET", f"{API}/zones", params={"limit": "2", "cursor": "c1"}).reply(
        200, json={"zones": [{"name": "b.com"}], "next_cursor": "c1"})
    with pytest.raises(ProviderError, match="sent the token 'c1' a second time"):
        call(mode, driver(script), "list_zones")


def test_errors_are_mapped_from_the_api_codes(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/zones/nope.com").reply(
        404, json={"error": {"code": "zone_not_found", "message": "no zone nope.com"}})
    script.expect("POST", f"{API}/zones", json={"name": "a.com", "ttl": None}).reply(
        409, json={"error": {"code": "zone_exists", "message": "zone a.com exists"}})
    script.expect("GET", f"{API}/zones/a.com").reply(
        401, json={"error": {"code": "unauthorized", "message": "bad token"}})
    script.expect("GET", f"{API}/zones/a.com").reply(
        500, json={"error": {"code": "internal", "message": "oops"}},
        headers={"X-Request-Id": "r-1"})
    nimbus = driver(script, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ZoneNotFound):
        call(mode, nimbus, "get_zone", "nope.com")
    with pytest.raises(ZoneAlreadyExists):
        call(mode, nimbus, "create_zone", "a.com")
    with pytest.raises(InvalidCredentials, match="Nimbus DNS refused the credentials"):
        call(mode, nimbus, "get_zone", "a.com")
    with pytest.raises(ProviderError) as info:
        call(mode, nimbus, "get_zone", "a.com")
    assert (info.value.status, info.value.code, info.value.request_id) == (500, "internal", "r-1")
    script.assert_done()


def test_a_lost_answer_to_a_zone_create_is_reconciled_not_resent(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{API}/zones", json={"name": "a.com", "ttl": 300}).fail(sent=True)
    script.expect("GET", f"{API}/zones/a.com").reply(200, json={"name": "a.com", "ttl": 300})
    zone = call(mode, driver(script), "create_zone", "a.com", ttl=300)
    assert zone.domain == "a.com."
    script.assert_done()  # one POST: the zone was found, not made twice


def test_a_set_is_created_after_checking_its_name_is_free(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/zones/example.com/rrsets"
    script.expect("GET", rrsets, params={"name": "www", "limit": "2"}).reply(
        200, json={"rrsets": [rrset("www", "TXT", "hello")], "next_cursor": None})
    script.expect("PUT", f"{rrsets}/www/A", headers={"If-None-Match": "*"},
                  json={"ttl": 60, "records": ["192.0.2.1", "192.0.2.2"]}).reply(
        201, json=rrset("www", "A", "192.0.2.1", "192.0.2.2", ttl=60))
    made = call(mode, driver(script), "create_record_set", "www", ZONE, "A",
                ["192.0.2.1", "192.0.2.2"], ttl=60)
    assert (made.id, made.values, made.ttl) == ("www:A", ["192.0.2.1", "192.0.2.2"], 60)
    script.assert_done()


def test_a_taken_name_or_a_cname_beside_data_sends_no_write(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/zones/example.com/rrsets"
    for _ in range(2):
        script.expect("GET", rrsets, params={"name": "www", "limit": "2"}).reply(
            200, json={"rrsets": [rrset("www", "A", "192.0.2.1")], "next_cursor": None})
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver(script), "create_record_set", "www", ZONE, "A", "192.0.2.9")
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver(script), "create_record_set", "www", ZONE, "CNAME", "other.example.")
    script.assert_done()


def test_an_update_replaces_values_and_a_rename_moves_the_set(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/zones/example.com/rrsets"
    record = driver(Script())._to_record(ZONE, rrset("api", "A", "192.0.2.1"))
    script.expect("GET", rrsets, params={"name": "api", "limit": "2"}).reply(
        200, json={"rrsets": [rrset("api", "A", "192.0.2.1")], "next_cursor": None})
    script.expect("PUT", f"{rrsets}/api/A", json={"ttl": 300, "records": ["192.0.2.7"]}).reply(
        200, json=rrset("api", "A", "192.0.2.7"))
    # the rename: check the old set exists, the new name is free, write it, delete the old
    script.expect("GET", rrsets, params={"name": "api", "limit": "2"}).reply(
        200, json={"rrsets": [rrset("api", "A", "192.0.2.7")], "next_cursor": None})
    script.expect("GET", rrsets, params={"name": "web", "limit": "2"}).reply(
        200, json={"rrsets": [], "next_cursor": None})
    script.expect("PUT", f"{rrsets}/web/A", headers={"If-None-Match": "*"}).reply(
        201, json=rrset("web", "A", "192.0.2.7"))
    script.expect("DELETE", f"{rrsets}/api/A").reply(204)
    nimbus = driver(script)
    updated = call(mode, nimbus, "update_record_set", record, None, None, ["192.0.2.7"])
    assert updated.values == ["192.0.2.7"]
    moved = call(mode, nimbus, "update_record_set", updated, "web", None, None)
    assert (moved.id, moved.values) == ("web:A", ["192.0.2.7"])
    script.assert_done()


def test_deleting_a_set_that_is_gone_is_record_not_found(mode: str) -> None:
    script = Script()
    script.expect("DELETE", f"{API}/zones/example.com/rrsets/api/A").reply(
        404, json={"error": {"code": "rrset_not_found", "message": "no A set at api"}})
    record = driver(Script())._to_record(ZONE, rrset("api", "A", "192.0.2.1"))
    with pytest.raises(RecordNotFound):
        call(mode, driver(script), "delete_record_set", record)
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_record_set", "a..b", ZONE, "A", "192.0.2.1")
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_record_set", "ok", ZONE, "MX", "no-priority.example.")
    with pytest.raises(InvalidInput):
        NimbusDNSDriver("t", endpoint="ftp://nimbus.example")
    assert script.received == []
