"""The Azure DNS driver on the scripted transport: the requests it sends and how
it reads the answers, in both modes, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.dns.base import RecordSet
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers.azure import AzureDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

TENANT = "tenant-1"
ARM = "https://management.azure.com"
ZONES = (f"{ARM}/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Network"
         "/dnsZones")
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
VERSION = ("api-version", "2018-05-01")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> AzureDNSDriver:
    options.setdefault("retry", RetryPolicy(max_attempts=2, base=0, cap=0))
    return AzureDNSDriver("client-1", "client-secret-1", tenant_id=TENANT,
                          subscription_id="sub-1", resource_group="rg-1", page_size=2,
                          **options, **script.options())


def token(script: Script, value: str = "tok-1") -> None:
    script.expect("POST", TOKEN_URL).reply(
        200, json={"token_type": "Bearer", "expires_in": 3600, "access_token": value})


def bearer(value: str = "tok-1") -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def arm_error(code: str, message: str = "refused") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def zone_item(name: str) -> dict[str, Any]:
    return {"id": f"/x/dnszones/{name}", "name": name, "etag": "e-1", "location": "global",
            "properties": {"nameServers": ["ns1-01.azure-dns.com."], "zoneType": "Public"}}


def rrset_item(name: str, rtype: str, ttl: int = 300, **records: Any) -> dict[str, Any]:
    return {"id": f"/x/{rtype}/{name}", "name": name, "etag": "e-2",
            "type": f"Microsoft.Network/dnszones/{rtype}",
            "properties": {"TTL": ttl, "fqdn": f"{name}.example.com.", **records}}


def zone(name: str = "example.com") -> Zone:
    return Zone(name, f"{name}.", ZoneType.MASTER.value, None)


def record(name: str, rtype: str, value: str) -> RecordSet:
    return RecordSet(f"{name}:{rtype}", name, rtype, value, zone(), ttl=60, values=[value])


# -- zones ----------------------------------------------------------------------------


def test_zones_follow_next_link_with_one_token(mode: str) -> None:
    script = Script()
    token(script)
    link = f"{ZONES}?api-version=2018-05-01&$top=2&$skipToken=abc"
    script.expect("GET", ZONES, params=[VERSION, ("$top", "2")], headers=bearer()).reply(
        200, json={"value": [zone_item("a.com"), zone_item("b.com")], "nextLink": link})
    script.expect("GET", link, headers=bearer()).reply(200, json={"value": [zone_item("c.com")]})
    zones = call(mode, driver(script), "list_zones")
    assert [(z.id, z.domain) for z in zones] == [("a.com", "a.com."), ("b.com", "b.com."),
                                                 ("c.com", "c.com.")]
    assert zones[0].extra["name_servers"] == ["ns1-01.azure-dns.com."]
    script.assert_done()


def test_a_next_link_off_the_endpoint_is_refused(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", ZONES, params=[VERSION, ("$top", "2")]).reply(
        200, json={"value": [zone_item("a.com")], "nextLink": "https://attacker.example/x?y=1"})
    with pytest.raises(ProviderError, match="refusing to follow a link"):
        call(mode, driver(script), "list_zones")
    script.assert_done()  # the token never went to the other host


def test_a_next_link_sent_a_second_time_is_an_error(mode: str) -> None:
    script = Script()
    token(script)
    link = f"{ZONES}?api-version=2018-05-01&$skipToken=abc"
    script.expect("GET", ZONES, params=[VERSION, ("$top", "2")]).reply(
        200, json={"value": [zone_item("a.com")], "nextLink": link})
    script.expect("GET", link).reply(200, json={"value": [zone_item("b.com")], "nextLink": link})
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver(script), "list_zones")
    script.assert_done()


def test_a_zone_is_read_or_not_found(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{ZONES}/example.com", params=[VERSION]).reply(
        200, json=zone_item("example.com"))
    script.expect("GET", f"{ZONES}/nope.com", params=[VERSION]).reply(
        404, json=arm_error("ResourceNotFound", "The Resource was not found."))
    d = driver(script)
    assert call(mode, d, "get_zone", "example.com").domain == "example.com."
    with pytest.raises(ZoneNotFound, match=r"nope\.com"):
        call(mode, d, "get_zone", "nope.com")
    script.assert_done()


def test_a_zone_is_created_only_if_none_exists(mode: str) -> None:
    script = Script()
    token(script)
    body = {"location": "global", "properties": {"zoneType": "Public"}, "tags": {"env": "t"}}
    script.expect("PUT", f"{ZONES}/new.com", params=[VERSION], json=body,
                  headers={"If-None-Match": "*"}).reply(201, json=zone_item("new.com"))
    script.expect("PUT", f"{ZONES}/new.com", params=[VERSION]).reply(
        412, json=arm_error("PreconditionFailed", "The Zone new.com exists already"))
    d = driver(script)
    assert call(mode, d, "create_zone", "New.com.", extra={"tags": {"env": "t"}}).id == "new.com"
    with pytest.raises(ZoneAlreadyExists):
        call(mode, d, "create_zone", "new.com")
    script.assert_done()


def test_a_lost_create_zone_answer_is_settled_by_reading_the_zone(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("PUT", f"{ZONES}/lost.com", params=[VERSION]).fail(sent=True)
    script.expect("GET", f"{ZONES}/lost.com", params=[VERSION]).reply(
        200, json=zone_item("lost.com"))
    assert call(mode, driver(script), "create_zone", "lost.com").id == "lost.com"
    script.assert_done()


def test_a_zone_delete_is_polled_to_its_end_and_nothing_deleted_is_not_found(
    mode: str,
) -> None:
    script = Script()
    token(script)
    status = f"{ARM}/subscriptions/sub-1/providers/Microsoft.Network/dnsoperationstatuses/op1"
    script.expect("DELETE", f"{ZONES}/example.com", params=[VERSION]).reply(
        202, headers={"Azure-AsyncOperation": f"{status}?api-version=2018-05-01",
                      "Retry-After": "0"})
    script.expect("GET", f"{status}?api-version=2018-05-01").reply(
        200, json={"status": "InProgress"}, headers={"Retry-After": "0"})
    script.expect("GET", f"{status}?api-version=2018-05-01").reply(
        200, json={"status": "Succeeded"})
    script.expect("DELETE", f"{ZONES}/example.com", params=[VERSION]).reply(204)
    d = driver(script)
    assert call(mode, d, "delete_zone", zone()) is True
    with pytest.raises(ZoneNotFound):
        call(mode, d, "delete_zone", zone())
    script.assert_done()


# -- record sets ------------------------------------------------------------------------


def test_record_sets_are_listed_past_page_one(mode: str) -> None:
    script = Script()
    token(script)
    sets = f"{ZONES}/example.com/recordsets"
    link = f"{sets}?api-version=2018-05-01&$top=2&$skipToken=p2"
    script.expect("GET", sets, params=[VERSION, ("$top", "2")]).reply(200, json={
        "value": [rrset_item("@", "MX", MXRecords=[{"preference": 10,
                                                    "exchange": "mail.example.com"}]),
                  rrset_item("www", "A", 60, ARecords=[{"ipv4Address": "192.0.2.1"},
                                                       {"ipv4Address": "192.0.2.2"}])],
        "nextLink": link})
    script.expect("GET", link).reply(200, json={"value": [
        rrset_item("txt", "TXT", TXTRecords=[{"value": ["hello", " world"]}])]})
    records = call(mode, driver(script), "list_record_sets", zone())
    assert [(r.id, r.name, r.values, r.ttl) for r in records] == [
        ("@:MX", "", ["10 mail.example.com."], 300),
        ("www:A", "www", ["192.0.2.1", "192.0.2.2"], 60),
        ("txt:TXT", "txt", ["hello world"], 300),
    ]
    script.assert_done()


def test_a_set_is_created_once_no_cname_stands_at_its_name(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{ZONES}/example.com/CNAME/www", params=[VERSION]).reply(
        404, json=arm_error("NotFound", "The resource record 'www' does not exist"))
    body = {"properties": {"TTL": 3600, "ARecords": [{"ipv4Address": "192.0.2.1"}]}}
    script.expect("PUT", f"{ZONES}/example.com/A/www", params=[VERSION], json=body,
                  headers={"If-None-Match": "*"}).reply(
        201, json=rrset_item("www", "A", 3600, ARecords=[{"ipv4Address": "192.0.2.1"}]))
    made = call(mode, driver(script), "create_record_set", "www", zone(), "A", "192.0.2.1")
    assert (made.id, made.values, made.ttl) == ("www:A", ["192.0.2.1"], 3600)
    script.assert_done()


def test_a_set_that_exists_or_a_cname_beside_data_is_refused(mode: str) -> None:
    script = Script()
    token(script)
    sets = f"{ZONES}/example.com/recordsets"
    script.expect("GET", sets, params=[VERSION, ("$top", "2")]).reply(200, json={
        "value": [rrset_item("www", "A", ARecords=[{"ipv4Address": "192.0.2.1"}])]})
    script.expect("GET", f"{ZONES}/example.com/CNAME/www", params=[VERSION]).reply(
        404, json=arm_error("NotFound"))
    script.expect("PUT", f"{ZONES}/example.com/A/www", params=[VERSION]).reply(
        412, json=arm_error("PreconditionFailed", "The Record set www exists already"))
    d = driver(script)
    with pytest.raises(InvalidInput, match="CNAME"):  # nothing written
        call(mode, d, "create_record_set", "www", zone(), "CNAME", "other.example.")
    with pytest.raises(RecordAlreadyExists):
        call(mode, d, "create_record_set", "www", zone(), "A", "192.0.2.9")
    script.assert_done()


def test_a_set_is_replaced_in_place_if_it_is_still_there(mode: str) -> None:
    script = Script()
    token(script)
    path = f"{ZONES}/example.com/A/www"
    body = {"properties": {"TTL": 60, "ARecords": [{"ipv4Address": "192.0.2.5"}]}}
    script.expect("PUT", path, params=[VERSION], json=body, headers={"If-Match": "*"}).reply(
        200, json=rrset_item("www", "A", 60, ARecords=[{"ipv4Address": "192.0.2.5"}]))
    script.expect("PUT", path, params=[VERSION]).reply(
        412, json=arm_error("PreconditionFailed", "The Record set www does not exist."))
    d = driver(script)
    updated = call(mode, d, "update_record_set", record("www", "A", "192.0.2.1"), None, None,
                   ["192.0.2.5"])
    assert (updated.values, updated.ttl) == (["192.0.2.5"], 60)
    with pytest.raises(RecordNotFound):
        call(mode, d, "update_record_set", record("www", "A", "192.0.2.1"), None, None,
             ["192.0.2.5"])
    script.assert_done()


def test_a_renamed_set_is_created_then_the_old_one_deleted(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{ZONES}/example.com/A/old", params=[VERSION]).reply(
        200, json=rrset_item("old", "A", 60, ARecords=[{"ipv4Address": "192.0.2.1"}]))
    script.expect("GET", f"{ZONES}/example.com/CNAME/new", params=[VERSION]).reply(
        404, json=arm_error("NotFound"))
    script.expect("PUT", f"{ZONES}/example.com/A/new", params=[VERSION],
                  headers={"If-None-Match": "*"}).reply(
        201, json=rrset_item("new", "A", 60, ARecords=[{"ipv4Address": "192.0.2.1"}]))
    script.expect("DELETE", f"{ZONES}/example.com/A/old", params=[VERSION]).reply(200)
    moved = call(mode, driver(script), "update_record_set", record("old", "A", "192.0.2.1"),
                 "new", None, None)
    assert (moved.id, moved.values) == ("new:A", ["192.0.2.1"])
    script.assert_done()


def test_a_set_is_deleted_and_nothing_deleted_is_not_found(mode: str) -> None:
    script = Script()
    token(script)
    path = f"{ZONES}/example.com/A/www"
    script.expect("DELETE", path, params=[VERSION]).reply(200)
    script.expect("DELETE", path, params=[VERSION]).reply(204)
    d = driver(script)
    assert call(mode, d, "delete_record_set", record("www", "A", "192.0.2.1")) is True
    with pytest.raises(RecordNotFound):
        call(mode, d, "delete_record_set", record("www", "A", "192.0.2.1"))
    script.assert_done()


# -- auth and errors ------------------------------------------------------------------


def test_a_token_refused_with_a_401_is_refreshed_once(mode: str) -> None:
    script = Script()
    token(script, "tok-1")
    script.expect("GET", ZONES, params=[VERSION, ("$top", "2")], headers=bearer("tok-1")).reply(
        401, json=arm_error("InvalidAuthenticationToken", "The access token is invalid."))
    token(script, "tok-2")
    script.expect("GET", ZONES, params=[VERSION, ("$top", "2")], headers=bearer("tok-2")).reply(
        200, json={"value": []})
    script.expect("GET", ZONES, params=[VERSION, ("$top", "2")], headers=bearer("tok-2")).reply(
        200, json={"value": []})
    d = driver(script)
    assert call(mode, d, "list_zones") == []
    assert call(mode, d, "list_zones") == []  # the new token is kept
    script.assert_done()


def test_error_answers_map_to_their_errors(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{ZONES}/example.com/A/www", params=[VERSION]).reply(
        404, json=arm_error("ParentResourceNotFound", "Parent resource 'example.com' not found"))
    script.expect("GET", f"{ZONES}/example.com/A/www", params=[VERSION]).reply(
        404, json=arm_error("NotFound", "The resource record 'www' does not exist"))
    script.expect("GET", f"{ZONES}/a.com", params=[VERSION]).reply(
        403, json=arm_error("AuthorizationFailed", "client-secret-1 may not read"))
    script.expect("GET", ZONES, params=[VERSION, ("$top", "2")]).reply(
        404, json=arm_error("ResourceGroupNotFound", "Resource group 'rg-1' could not be found."),
        headers={"x-ms-request-id": "rid-404"})
    d = driver(script)
    with pytest.raises(ZoneNotFound):
        call(mode, d, "get_record_set", "example.com", "www:A")
    with pytest.raises(RecordNotFound):
        call(mode, d, "get_record_set", "example.com", "www:A")
    with pytest.raises(InvalidCredentials, match="Azure refused the credentials") as denied:
        call(mode, d, "get_zone", "a.com")
    assert "client-secret-1" not in str(denied.value)
    with pytest.raises(ProviderError) as info:
        call(mode, d, "list_zones")
    assert (info.value.status, info.value.code, info.value.request_id) == (
        404, "ResourceGroupNotFound", "rid-404")
    script.assert_done()


def test_throttling_is_retried_then_rate_limited(mode: str) -> None:
    script = Script()
    token(script)
    for _ in range(2):
        script.expect("GET", f"{ZONES}/a.com", params=[VERSION]).reply(
            429, json=arm_error("TooManyRequests", "slow down"), headers={"Retry-After": "0"})
    with pytest.raises(RateLimited):
        call(mode, driver(script), "get_zone", "a.com")
    script.assert_done()


def test_a_server_error_keeps_its_code_and_request_id(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{ZONES}/a.com", params=[VERSION]).reply(
        500, json=arm_error("InternalServerError", "oops"),
        headers={"x-ms-request-id": "rid-500"})
    with pytest.raises(ProviderError) as info:
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "get_zone", "a.com")
    assert (info.value.status, info.value.code, info.value.request_id) == (
        500, "InternalServerError", "rid-500")
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "not-an-address")
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_zone", "bad..name")
    for bad in ({"page_size": 0}, {"endpoint": "ftp://example.com"}, {"tenant_id": ""}):
        options = {"tenant_id": TENANT, "subscription_id": "s", "resource_group": "r", **bad}
        with pytest.raises(InvalidInput):
            AzureDNSDriver("client-1", "secret", **options)
    script.assert_done()
    assert script.received == []


# -- zone-file imports: one set at a time, rolled back on failure ----------------------------


def test_an_import_that_fails_midway_deletes_the_sets_it_made_and_says_so(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", ZONES, params=[VERSION, ("$top", "2")]).reply(
        200, json={"value": [zone_item("example.com")]})
    script.expect("GET", f"{ZONES}/example.com/recordsets", params=[VERSION, ("$top", "2")]
                  ).reply(200, json={"value": [rrset_item("@", "SOA", SOARecord={})]})
    script.expect("GET", f"{ZONES}/example.com/CNAME/mail", params=[VERSION]).reply(
        404, json=arm_error("NotFound"))
    script.expect("PUT", f"{ZONES}/example.com/A/mail", params=[VERSION],
                  headers={"If-None-Match": "*"}).reply(
        201, json=rrset_item("mail", "A", 600, ARecords=[{"ipv4Address": "192.0.2.1"}]))
    script.expect("GET", f"{ZONES}/example.com/CNAME/txt", params=[VERSION]).reply(
        404, json=arm_error("NotFound"))
    script.expect("PUT", f"{ZONES}/example.com/TXT/txt", params=[VERSION]).reply(
        400, json=arm_error("BadRequest", "The record set quota is exhausted"))
    script.expect("DELETE", f"{ZONES}/example.com/A/mail", params=[VERSION]).reply(200)
    text = '$ORIGIN example.com.\n$TTL 600\nmail IN A 192.0.2.1\ntxt IN TXT "hi"\n'
    with pytest.raises(ProviderError, match="quota is exhausted") as info:
        call(mode, driver(script), "import_zone_from_bind_format", text)
    assert info.value.message.endswith(
        "(1 of 2 record sets were written to example.com. before this error; "
        "rolled back: mail:A)")
    script.assert_done()
