"""The Rackspace Cloud DNS driver on the scripted transport: Identity, asynchronous
jobs, paging by links and the record-set flows, in both modes, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.dns.base import RecordSet
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers.rackspace import RackspaceDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Expectation
from overcast.testing import Script
from overcast.testing import call

IDENTITY = "https://identity.api.rackspacecloud.com/v2.0/tokens"
DNS = "https://dns.api.rackspacecloud.com/v1.0/123"
RECORDS = f"{DNS}/domains/42/records"
FIRST = {"limit": "2", "offset": "0"}
#: A domain without its records.
SHORT = {"showRecords": "false", "showSubdomains": "false"}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> RackspaceDNSDriver:
    return RackspaceDNSDriver("user", "api-key", page_size=2, **options, **script.options())


def signed_in(script: Script, token: str = "tok-1") -> None:
    """Expect the Identity request and answer it with ``token`` and the DNS endpoint."""
    script.expect("POST", IDENTITY, json={"auth": {"RAX-KSKEY:apiKeyCredentials": {
        "username": "user", "apiKey": "api-key"}}}).reply(200, json={"access": {
            "token": {"id": token, "expires": "2999-01-01T00:00:00.000Z",
                      "tenant": {"id": "123"}},
            "serviceCatalog": [{"name": "cloudDNS", "type": "rax:dns",
                                "endpoints": [{"publicURL": DNS}]}]}})


def job(script: Script, method: str, url: str, response: Any = None, *,
        error: dict[str, Any] | None = None, **expected: Any) -> Expectation:
    """Expect a write that starts a job, then one poll that finds it done."""
    started = script.expect(method, url, **expected).reply(202, json={
        "jobId": "j1", "callbackUrl": f"{DNS}/status/j1", "status": "INITIALIZED"})
    done: dict[str, Any] = {"jobId": "j1", "status": "ERROR" if error else "COMPLETED"}
    if error:
        done["error"] = error
    elif response is not None:
        done["response"] = response
    script.expect("GET", f"{DNS}/status/j1", params={"showDetails": "true"}).reply(
        200, json=done)
    return started


def listing(key: str, items: list[dict[str, Any]], following: str | None = None
            ) -> dict[str, Any]:
    links = [{"rel": "next", "href": following}] if following else []
    return {key: items, "totalEntries": 99, "links": links}


def zone() -> Zone:
    return Zone("42", "example.com.", ZoneType.MASTER.value, 3600)


def domain(did: int, name: str) -> dict[str, Any]:
    return {"id": did, "name": name, "ttl": 3600, "emailAddress": f"hostmaster@{name}"}


def rec(rid: str, name: str, rtype: str, data: str, ttl: int = 3600,
        **fields: Any) -> dict[str, Any]:
    return {"id": rid, "name": name, "type": rtype, "data": data, "ttl": ttl, **fields}


def record_set(name: str, rtype: str, *values: str) -> RecordSet:
    return RecordSet(f"{name or '@'}:{rtype}", name, rtype, values[0], zone(), ttl=3600,
                  values=list(values))


def test_zones_follow_next_links_with_the_identity_token(mode: str) -> None:
    script = Script()
    signed_in(script)
    following = f"{DNS}/domains?limit=2&offset=2"
    script.expect("GET", f"{DNS}/domains", params=FIRST,
                  headers={"X-Auth-Token": "tok-1"}).reply(
        200, json=listing("domains", [domain(1, "a.com"), domain(2, "b.com")], following))
    script.expect("GET", following, headers={"X-Auth-Token": "tok-1"}).reply(
        200, json=listing("domains", [domain(3, "c.com")]))
    zones = call(mode, driver(script), "list_zones")
    assert [(z.id, z.domain) for z in zones] == [("1", "a.com."), ("2", "b.com."),
                                                 ("3", "c.com.")]
    script.assert_done()


def test_a_next_link_that_points_back_is_an_error(mode: str) -> None:
    script = Script()
    signed_in(script)
    following = f"{DNS}/domains?limit=2&offset=2"
    script.expect("GET", f"{DNS}/domains", params=FIRST).reply(
        200, json=listing("domains", [domain(1, "a.com")], following))
    script.expect("GET", following).reply(
        200, json=listing("domains", [domain(2, "b.com")], following))
    with pytest.raises(ProviderError, match=r"sent the link .* a second time"):
        call(mode, driver(script), "list_zones")
    script.assert_done()


def test_a_refused_token_is_renewed_once(mode: str) -> None:
    script = Script()
    signed_in(script)
    script.expect("GET", f"{DNS}/domains/42", params=SHORT,
                  headers={"X-Auth-Token": "tok-1"}).reply(
        401, json={"unauthorized": {"code": 401, "message": "Token expired"}})
    signed_in(script, "tok-2")
    script.expect("GET", f"{DNS}/domains/42", params=SHORT,
                  headers={"X-Auth-Token": "tok-2"}).reply(200, json=domain(42, "example.com"))
    assert call(mode, driver(script), "get_zone", "42").domain == "example.com."
    script.assert_done()


def test_get_create_update_and_delete_a_zone_through_jobs(mode: str) -> None:
    script = Script()
    signed_in(script)
    script.expect("GET", f"{DNS}/domains/42", params=SHORT).reply(
        200, json=domain(42, "example.com"))
    job(script, "POST", f"{DNS}/domains", {"domains": [domain(43, "b.com")]}, json={
        "domains": [{"name": "b.com", "emailAddress": "dns@b.com", "ttl": 600}]})
    job(script, "PUT", f"{DNS}/domains/43", json={"ttl": 7200})
    script.expect("GET", f"{DNS}/domains/43", params=SHORT).reply(
        200, json={**domain(43, "b.com"), "ttl": 7200})
    job(script, "DELETE", f"{DNS}/domains/43")
    rs = driver(script)
    assert call(mode, rs, "get_zone", "42").ttl == 3600
    made = call(mode, rs, "create_zone", "b.com.", "master", 600, {"email": "dns@b.com"})
    assert made.id == "43"
    assert call(mode, rs, "update_zone", made, None, None, 7200).ttl == 7200
    assert call(mode, rs, "delete_zone", made) is True
    script.assert_done()


def test_a_zone_create_whose_answer_is_lost_is_found_not_made_twice(mode: str) -> None:
    script = Script()
    signed_in(script)
    script.expect("POST", f"{DNS}/domains").fail(sent=True)
    script.expect("GET", f"{DNS}/domains", params={**FIRST, "name": "b.com"}).reply(
        200, json=listing("domains", [domain(44, "ab.com"), domain(43, "b.com")]))
    assert call(mode, driver(script), "create_zone", "b.com").id == "43"
    script.assert_done()  # one POST only


def test_records_of_one_name_and_type_become_one_set_across_pages(mode: str) -> None:
    script = Script()
    signed_in(script)
    following = f"{RECORDS}?limit=2&offset=2"
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", [
        rec("A-1", "www.example.com", "A", "192.0.2.1"),
        rec("SRV-2", "_sip._tcp.example.com", "SRV", "5 5060 sip.example.com", priority=10),
    ], following))
    script.expect("GET", following).reply(200, json=listing("records", [
        rec("A-3", "WWW.example.com", "A", "192.0.2.2")]))
    found = call(mode, driver(script), "list_record_sets", zone())
    assert [(r.id, r.values, r.extra["record_ids"]) for r in found] == [
        ("www:A", ["192.0.2.1", "192.0.2.2"], ["A-1", "A-3"]),
        ("_sip._tcp:SRV", ["10 5 5060 sip.example.com."], ["SRV-2"]),
    ]
    script.assert_done()


def test_a_set_is_created_in_one_job(mode: str) -> None:
    script = Script()
    signed_in(script)
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", [
        rec("NS-1", "example.com", "NS", "dns1.stabletransit.com")]))
    made = [rec("MX-5", "example.com", "MX", "mail.example.com", priority=10),
            rec("MX-6", "example.com", "MX", "backup.example.com", priority=20)]
    job(script, "POST", RECORDS, {"records": made}, json={"records": [
        {"name": "example.com", "type": "MX", "priority": 10, "data": "mail.example.com"},
        {"name": "example.com", "type": "MX", "priority": 20, "data": "backup.example.com"},
    ]})
    record = call(mode, driver(script), "create_record_set", "", zone(), "MX",
                  ["10 mail.example.com.", "20 backup.example.com."])
    assert (record.id, record.ttl, record.extra["record_ids"]) == ("@:MX", 3600,
                                                                   ["MX-5", "MX-6"])
    script.assert_done()


def test_a_failed_job_makes_nothing_and_says_why(mode: str) -> None:
    script = Script()
    signed_in(script)
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", []))
    job(script, "POST", RECORDS, error={"code": 500, "message": "dnsFault",
                                        "details": "backend exploded"})
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", []))
    with pytest.raises(ProviderError, match="backend exploded") as info:
        call(mode, driver(script), "create_record_set", "www", zone(), "A",
             ["192.0.2.1", "192.0.2.2"])
    assert info.value.status == 500
    script.assert_done()


def test_a_create_whose_answer_is_lost_is_undone_without_a_second_post(mode: str) -> None:
    script = Script()
    signed_in(script)
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", [
        rec("A-1", "www.example.com", "A", "192.0.2.9")]))
    script.expect("POST", RECORDS).fail(sent=True)  # the job ran; we never hear of it
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", [
        rec("A-1", "www.example.com", "A", "192.0.2.9"),
        rec("A-2", "other.example.com", "A", "192.0.2.1"),
        rec("A-3", "www.example.com", "A", "192.0.2.1")]))
    job(script, "DELETE", RECORDS, params=[("id", "A-3")])
    with pytest.raises(OutcomeUnknown):
        call(mode, driver(script), "update_record_set",
             record_set("www", "A", "192.0.2.9"), None, None, ["192.0.2.9", "192.0.2.1"])
    script.assert_done()


def test_update_is_a_diff_in_few_jobs(mode: str) -> None:
    script = Script()
    signed_in(script)
    current = [rec("A-1", "www.example.com", "A", "192.0.2.1"),
               rec("A-2", "www.example.com", "A", "192.0.2.2")]
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", current))
    job(script, "PUT", RECORDS, json={"records": [
        {"id": "A-1", "name": "www.example.com", "data": "192.0.2.3", "ttl": 900},
        {"id": "A-2", "name": "www.example.com", "data": "192.0.2.2", "ttl": 900}]})
    job(script, "POST", RECORDS, {"records": [
        rec("A-3", "www.example.com", "A", "192.0.2.4", ttl=900)]}, json={"records": [
        {"name": "www.example.com", "type": "A", "data": "192.0.2.4", "ttl": 900}]})
    after = [rec("A-1", "www.example.com", "A", "192.0.2.3", ttl=900),
             rec("A-2", "www.example.com", "A", "192.0.2.2", ttl=900),
             rec("A-3", "www.example.com", "A", "192.0.2.4", ttl=900)]
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", after))
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", after))
    job(script, "DELETE", RECORDS, params=[("id", "A-1"), ("id", "A-2")])
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", after[2:]))
    rs = driver(script)
    updated = call(mode, rs, "update_record_set", record_set("www", "A", "192.0.2.1", "192.0.2.2"),
                   None, None, ["192.0.2.2", "192.0.2.3", "192.0.2.4"], {"ttl": 900})
    assert (sorted(updated.values), updated.ttl) == (["192.0.2.2", "192.0.2.3", "192.0.2.4"],
                                                     900)
    assert call(mode, rs, "update_record_set", updated, None, None, "192.0.2.4").values == [
        "192.0.2.4"]
    script.assert_done()


def test_delete_removes_every_value_in_one_job(mode: str) -> None:
    script = Script()
    signed_in(script)
    current = [rec("A-1", "www.example.com", "A", "192.0.2.1"),
               rec("A-2", "www.example.com", "A", "192.0.2.2")]
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", current))
    job(script, "DELETE", RECORDS, params=[("id", "A-1"), ("id", "A-2")])
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", []))
    rs = driver(script)
    record = record_set("www", "A", "192.0.2.1", "192.0.2.2")
    assert call(mode, rs, "delete_record_set", record) is True
    with pytest.raises(RecordNotFound):
        call(mode, rs, "delete_record_set", record)
    script.assert_done()


def test_errors_map_by_status_and_job_fault(mode: str) -> None:
    script = Script()
    script.expect("POST", IDENTITY).reply(401, json={"unauthorized": {
        "code": 401, "message": "Username or api key is invalid."}})
    with pytest.raises(InvalidCredentials, match="api key is invalid"):
        call(mode, driver(script), "list_zones")
    signed_in(script)
    script.expect("GET", f"{DNS}/domains/7", params=SHORT).reply(
        404, json={"code": 404, "message": "Not Found", "details": "Object not Found."})
    job(script, "POST", f"{DNS}/domains", error={"code": 409, "message": "Conflict",
                                                 "details": "Domain already exists"})
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", []))
    script.expect("POST", RECORDS).reply(413, json={"overLimit": {
        "code": 413, "message": "Over Limit", "details": "at most 500 records"}})
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", []))
    rs = driver(script)
    with pytest.raises(ZoneNotFound, match="Object not Found"):
        call(mode, rs, "get_zone", "7")
    with pytest.raises(ZoneAlreadyExists):
        call(mode, rs, "create_zone", "b.com")
    with pytest.raises(RateLimited, match="at most 500 records"):  # and not sent again
        call(mode, rs, "create_record_set", "www", zone(), "A", "192.0.2.1")
    signed_in(script)
    script.expect("DELETE", f"{DNS}/domains/7").reply(500, json={
        "dnsFault": {"code": 500, "message": "dnsFault", "details": "try later"}})
    with pytest.raises(ProviderError, match="try later") as info:
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "delete_zone",
             Zone("7", "g.com.", "master", None))
    assert (info.value.status, info.value.code) == (500, "dnsFault")
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    rs = driver(script)
    with pytest.raises(NotSupported):
        call(mode, rs, "create_record_set", "", zone(), "CAA", '0 issue "ca.example"')
    with pytest.raises(InvalidInput, match="300"):
        call(mode, rs, "create_record_set", "fast", zone(), "A", "192.0.2.1", ttl=60)
    with pytest.raises(InvalidInput, match="rename"):
        call(mode, rs, "update_zone", zone(), "other.example", None)
    with pytest.raises(ZoneNotFound):  # Rackspace numbers its domains
        call(mode, rs, "get_zone", "example.com")
    for bad in ({"page_size": 500}, {"endpoint": "ftp://example.com"},
                {"poll_interval": 0}):
        with pytest.raises(InvalidInput):
            RackspaceDNSDriver("user", "key", **bad)
    with pytest.raises(InvalidInput):
        RackspaceDNSDriver("user", "")
    assert script.received == []


def test_an_import_of_new_sets_is_one_job(mode: str) -> None:
    script = Script()
    signed_in(script)
    script.expect("GET", f"{DNS}/domains", params=FIRST).reply(
        200, json=listing("domains", [domain(42, "example.com")]))
    script.expect("GET", RECORDS, params=FIRST).reply(200, json=listing("records", [
        rec("NS-1", "example.com", "NS", "dns1.stabletransit.com")]))
    job(script, "POST", RECORDS, {"records": [rec("A-1", "mail.example.com", "A", "192.0.2.1")]},
        json={"records": [
            {"name": "mail.example.com", "type": "A", "data": "192.0.2.1", "ttl": 600},
            {"name": "mail.example.com", "type": "A", "data": "192.0.2.2", "ttl": 600},
            {"name": "www.example.com", "type": "CNAME", "data": "mail.example.com",
             "ttl": 600},
        ]})
    text = "$ORIGIN example.com.\n$TTL 600\nmail IN A 192.0.2.1\nmail IN A 192.0.2.2\n" \
           "www IN CNAME mail\n"
    assert call(mode, driver(script), "import_zone_from_bind_format", text).id == "42"
    script.assert_done()
