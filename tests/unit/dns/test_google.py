"""The Cloud DNS driver on the scripted transport: the requests it sends and how
it reads the answers, in both modes, without a server."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from overcast.dns.base import RecordSet
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers import google
from overcast.dns.drivers.google import GoogleDNSDriver
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
from overcast.testing import Sent
from overcast.testing import call

API = "https://dns.googleapis.com/dns/v1/projects/proj-1"
TOKEN_URL = "https://oauth2.example/token"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@functools.cache
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def driver(script: Script, **options: Any) -> GoogleDNSDriver:
    options = {"retry": RetryPolicy(max_attempts=2, base=0, cap=0), "page_size": 2, **options}
    info = {"type": "service_account", "client_email": "dns@proj-1.iam.example",
            "private_key": private_key_pem(), "token_uri": TOKEN_URL}
    return GoogleDNSDriver(project="proj-1", credentials_info=info, **options,
                           **script.options())


def token(script: Script, value: str = "tok-1") -> None:
    script.expect("POST", TOKEN_URL, match=lambda sent: b"jwt-bearer" in sent.body).reply(
        200, json={"access_token": value, "expires_in": 3600, "token_type": "Bearer"})


def bearer(value: str = "tok-1") -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def google_error(status: int, reason: str, message: str, grpc: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": grpc,
                      "errors": [{"message": message, "domain": "global", "reason": reason}]}}


def zone_item(name: str, dns_name: str) -> dict[str, Any]:
    return {"kind": "dns#managedZone", "name": name, "dnsName": dns_name, "id": "7",
            "nameServers": ["ns-cloud-a1.googledomains.com."], "visibility": "public"}


def rrset(name: str, rtype: str, *rrdatas: str, ttl: int = 300) -> dict[str, Any]:
    return {"kind": "dns#resourceRecordSet", "name": name, "type": rtype, "ttl": ttl,
            "rrdatas": list(rrdatas)}


def zone() -> Zone:
    return Zone("example-com", "example.com.", ZoneType.MASTER.value, None)


def record(name: str, rtype: str, value: str) -> RecordSet:
    return RecordSet(f"{name}:{rtype}", name, rtype, value, zone(), ttl=60, values=[value])


def change(sent: Sent, deletions: list[dict[str, Any]], additions: list[dict[str, Any]]) -> bool:
    body = sent.json()
    return bool(body.get("deletions", []) == deletions and body.get("additions", []) == additions)


ZONE_MISSING = google_error(404, "notFound", "The 'parameters.managedZone' resource named "
                            "'nope' does not exist.", "NOT_FOUND")


# -- zones ----------------------------------------------------------------------------


def test_zones_are_listed_page_by_page_with_one_token(mode: str) -> None:
    script = Script()
    token(script)
    zones = f"{API}/managedZones"
    script.expect("GET", zones, params={"maxResults": "2"}, headers=bearer()).reply(200, json={
        "managedZones": [zone_item("a", "a.com."), zone_item("b", "b.com.")],
        "nextPageToken": "t2"})
    script.expect("GET", zones, params={"maxResults": "2", "pageToken": "t2"},
                  headers=bearer()).reply(200, json={"managedZones": [zone_item("c", "c.com.")]})
    listed = call(mode, driver(script), "list_zones")
    assert [(z.id, z.domain) for z in listed] == [("a", "a.com."), ("b", "b.com."),
                                                  ("c", "c.com.")]
    script.assert_done()


def test_a_page_token_sent_a_second_time_is_an_error(mode: str) -> None:
    script = Script()
    token(script)
    zones = f"{API}/managedZones"
    script.expect("GET", zones, params={"maxResults": "2"}).reply(
        200, json={"managedZones": [zone_item("a", "a.com.")], "nextPageToken": "t2"})
    script.expect("GET", zones, params={"maxResults": "2", "pageToken": "t2"}).reply(
        200, json={"managedZones": [zone_item("b", "b.com.")], "nextPageToken": "t2"})
    with pytest.raises(ProviderError, match="sent the token 't2' a second time"):
        call(mode, driver(script), "list_zones")
    script.assert_done()


def test_a_zone_is_read_or_not_found(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{API}/managedZones/example-com").reply(
        200, json=zone_item("example-com", "example.com."))
    script.expect("GET", f"{API}/managedZones/nope").reply(404, json=ZONE_MISSING)
    d = driver(script)
    assert call(mode, d, "get_zone", "example-com").domain == "example.com."
    with pytest.raises(ZoneNotFound, match="nope"):
        call(mode, d, "get_zone", "nope")
    script.assert_done()


def test_a_zone_is_created_under_a_name_derived_from_its_domain(mode: str) -> None:
    script = Script()
    token(script)
    body = {"kind": "dns#managedZone", "name": "new-example", "dnsName": "new.example.",
            "description": "new.example. (overcast)"}
    script.expect("POST", f"{API}/managedZones", json=body).reply(
        200, json=zone_item("new-example", "new.example."))
    script.expect("POST", f"{API}/managedZones").reply(409, json=google_error(
        409, "alreadyExists", "The resource 'entity.managedZone' named 'new-example' already "
        "exists", "ALREADY_EXISTS"))
    d = driver(script)
    assert call(mode, d, "create_zone", "New.Example").id == "new-example"
    with pytest.raises(ZoneAlreadyExists):
        call(mode, d, "create_zone", "new.example.")
    script.assert_done()


def test_a_lost_create_zone_answer_is_settled_by_reading_the_zone(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("POST", f"{API}/managedZones").fail(sent=True)
    script.expect("GET", f"{API}/managedZones/lost-example").reply(
        200, json=zone_item("lost-example", "lost.example."))
    assert call(mode, driver(script), "create_zone", "lost.example.").id == "lost-example"
    script.assert_done()


def test_a_zone_is_emptied_in_one_change_then_deleted(mode: str) -> None:
    script = Script()
    token(script)
    rrsets = f"{API}/managedZones/example-com/rrsets"
    apex_ns = rrset("example.com.", "NS", "ns-cloud-a1.googledomains.com.")
    www = rrset("www.example.com.", "A", "192.0.2.1")
    txt = rrset("txt.example.com.", "TXT", '"hi"')
    script.expect("GET", rrsets, params={"maxResults": "2"}).reply(
        200, json={"rrsets": [apex_ns, www], "nextPageToken": "p2"})
    script.expect("GET", rrsets, params={"maxResults": "2", "pageToken": "p2"}).reply(
        200, json={"rrsets": [txt]})
    script.expect("POST", f"{API}/managedZones/example-com/changes",
                  match=lambda sent: change(sent, [www, txt], [])).reply(
        200, json={"kind": "dns#change", "id": "1"})
    script.expect("DELETE", f"{API}/managedZones/example-com").reply(204)
    assert call(mode, driver(script), "delete_zone", zone()) is True
    script.assert_done()


# -- record sets ------------------------------------------------------------------------


def test_record_sets_are_listed_past_page_one(mode: str) -> None:
    script = Script()
    token(script)
    rrsets = f"{API}/managedZones/example-com/rrsets"
    script.expect("GET", rrsets, params={"maxResults": "2"}).reply(200, json={
        "rrsets": [rrset("example.com.", "MX", "10 mail.example.com."),
                   rrset("www.example.com.", "A", "192.0.2.1", "192.0.2.2", ttl=60)],
        "nextPageToken": "p2"})
    script.expect("GET", rrsets, params={"maxResults": "2", "pageToken": "p2"}).reply(
        200, json={"rrsets": [rrset("txt.example.com.", "TXT", '"hello" " world"')]})
    records = call(mode, driver(script), "list_record_sets", zone())
    assert [(r.id, r.name, r.values, r.ttl) for r in records] == [
        ("@:MX", "", ["10 mail.example.com."], 300),
        ("www:A", "www", ["192.0.2.1", "192.0.2.2"], 60),
        ("txt:TXT", "txt", ["hello world"], 300),
    ]
    script.assert_done()


def test_a_set_is_created_once_its_name_is_free(mode: str) -> None:
    script = Script()
    token(script)
    rrsets = f"{API}/managedZones/example-com/rrsets"
    made = rrset("www.example.com.", "A", "192.0.2.1", "192.0.2.2", ttl=60)
    script.expect("GET", rrsets, params={"name": "www.example.com.", "maxResults": "2"}).reply(
        200, json={"rrsets": []})
    script.expect("POST", rrsets, json=made).reply(200, json=made)
    created = call(mode, driver(script), "create_record_set", "www", zone(), "A",
                   ["192.0.2.1", "192.0.2.2"], ttl=60)
    assert (created.id, created.values, created.ttl) == ("www:A", ["192.0.2.1", "192.0.2.2"],
                                                         60)
    script.assert_done()


def test_a_set_that_exists_or_a_cname_beside_data_is_refused_before_any_write(
    mode: str,
) -> None:
    script = Script()
    token(script)
    lookup = {"name": "www.example.com.", "maxResults": "2"}
    for _ in range(2):
        script.expect("GET", f"{API}/managedZones/example-com/rrsets", params=lookup).reply(
            200, json={"rrsets": [rrset("www.example.com.", "A", "192.0.2.1")]})
    d = driver(script)
    with pytest.raises(RecordAlreadyExists):
        call(mode, d, "create_record_set", "www", zone(), "A", "192.0.2.9")
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, d, "create_record_set", "www", zone(), "CNAME", "other.example.")
    script.assert_done()


def test_a_set_is_replaced_in_one_atomic_change(mode: str) -> None:
    script = Script()
    token(script)
    current = rrset("www.example.com.", "A", "192.0.2.1", ttl=60)
    addition = rrset("www.example.com.", "A", "192.0.2.5", ttl=60)
    script.expect("GET", f"{API}/managedZones/example-com/rrsets/www.example.com./A").reply(
        200, json=current)
    script.expect("POST", f"{API}/managedZones/example-com/changes",
                  match=lambda sent: change(sent, [current], [addition])).reply(
        200, json={"kind": "dns#change"})
    updated = call(mode, driver(script), "update_record_set", record("www", "A", "192.0.2.1"),
                   None, None, ["192.0.2.5"])
    assert (updated.id, updated.values, updated.ttl) == ("www:A", ["192.0.2.5"], 60)
    script.assert_done()


def test_a_renamed_set_is_checked_at_its_new_name(mode: str) -> None:
    script = Script()
    token(script)
    current = rrset("old.example.com.", "A", "192.0.2.1", ttl=60)
    addition = rrset("new.example.com.", "A", "192.0.2.1", ttl=60)
    script.expect("GET", f"{API}/managedZones/example-com/rrsets/old.example.com./A").reply(
        200, json=current)
    script.expect("GET", f"{API}/managedZones/example-com/rrsets",
                  params={"name": "new.example.com.", "maxResults": "2"}).reply(
        200, json={"rrsets": []})
    script.expect("POST", f"{API}/managedZones/example-com/changes",
                  match=lambda sent: change(sent, [current], [addition])).reply(
        200, json={"kind": "dns#change"})
    moved = call(mode, driver(script), "update_record_set", record("old", "A", "192.0.2.1"),
                 "new", None, None)
    assert (moved.id, moved.values) == ("new:A", ["192.0.2.1"])
    script.assert_done()


def test_a_set_is_deleted_or_not_found(mode: str) -> None:
    script = Script()
    token(script)
    path = f"{API}/managedZones/example-com/rrsets/www.example.com./A"
    script.expect("DELETE", path).reply(200, json={})
    script.expect("DELETE", path).reply(404, json=google_error(
        404, "notFound", "The 'parameters.name' resource named 'www.example.com. (A)' does "
        "not exist.", "NOT_FOUND"))
    d = driver(script)
    assert call(mode, d, "delete_record_set", record("www", "A", "192.0.2.1")) is True
    with pytest.raises(RecordNotFound):
        call(mode, d, "delete_record_set", record("www", "A", "192.0.2.1"))
    script.assert_done()


# -- auth and errors ------------------------------------------------------------------


def test_a_token_refused_with_a_401_is_refreshed_once(mode: str) -> None:
    script = Script()
    zones, page = f"{API}/managedZones", {"maxResults": "2"}
    unauthenticated = google_error(401, "authError", "Request had invalid authentication "
                                   "credentials.", "UNAUTHENTICATED")
    token(script, "tok-1")
    script.expect("GET", zones, params=page, headers=bearer("tok-1")).reply(
        401, json=unauthenticated)
    token(script, "tok-2")
    for _ in range(2):
        script.expect("GET", zones, params=page, headers=bearer("tok-2")).reply(
            200, json={"managedZones": []})
    d = driver(script)
    assert call(mode, d, "list_zones") == []
    assert call(mode, d, "list_zones") == []  # the new token is kept
    script.assert_done()


def test_error_answers_map_to_their_errors(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{API}/managedZones/nope").reply(404, json=ZONE_MISSING)
    script.expect("GET", f"{API}/managedZones/nope/rrsets", params={"maxResults": "2"}).reply(
        404, json=ZONE_MISSING)
    script.expect("GET", f"{API}/managedZones/example-com").reply(403, json=google_error(
        403, "forbidden", "The caller does not have permission", "PERMISSION_DENIED"))
    script.expect("DELETE", f"{API}/managedZones/example-com/rrsets/example.com./SOA").reply(
        400, json=google_error(400, "invalid", "The zone apex must keep its SOA",
                               "INVALID_ARGUMENT"))
    d = driver(script)
    with pytest.raises(ZoneNotFound):
        call(mode, d, "get_zone", "nope")
    with pytest.raises(ZoneNotFound):  # the message names the managedZone
        call(mode, d, "list_record_sets", Zone("nope", "nope.example.", "master", None))
    with pytest.raises(InvalidCredentials, match="Cloud DNS refused the credentials"):
        call(mode, d, "get_zone", "example-com")
    with pytest.raises(ProviderError) as info:
        call(mode, d, "delete_record_set", record("", "SOA", "ns. host. 1 2 3 4 5"))
    assert (info.value.status, info.value.code) == (400, "invalid")
    script.assert_done()


def test_throttling_is_retried_then_rate_limited(mode: str) -> None:
    script = Script()
    token(script)
    for _ in range(2):
        script.expect("GET", f"{API}/managedZones/example-com").reply(429, json=google_error(
            429, "rateLimitExceeded", "Rate Limit Exceeded", "RESOURCE_EXHAUSTED"))
    with pytest.raises(RateLimited):
        call(mode, driver(script), "get_zone", "example-com")
    script.assert_done()


def test_a_server_error_keeps_its_code(mode: str) -> None:
    script = Script()
    token(script)
    script.expect("GET", f"{API}/managedZones/example-com").reply(500, json=google_error(
        500, "backendError", "Backend Error", "INTERNAL"))
    with pytest.raises(ProviderError, match="Backend Error") as info:
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "get_zone", "example-com")
    assert (info.value.status, info.value.code) == (500, "backendError")
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "not-an-address")
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_zone", "example.com", extra={"name": "Bad_Name"})
    with pytest.raises(InvalidInput):
        driver(script, page_size=0)
    with pytest.raises(InvalidInput):
        driver(script, endpoint="ftp://example.com")
    with pytest.raises(InvalidInput):
        GoogleDNSDriver(project="")
    script.assert_done()
    assert script.received == []


# -- zone-file imports: changes ------------------------------------------------------------------


def addition(name: str, rtype: str, *rrdatas: str, ttl: int = 600) -> dict[str, Any]:
    return {"kind": "dns#resourceRecordSet", "name": name, "type": rtype, "ttl": ttl,
            "rrdatas": list(rrdatas)}


def import_reads(script: Script, *sets: dict[str, Any]) -> None:
    """What an import reads before it writes: the zones, then the zone's sets."""
    token(script)
    script.expect("GET", f"{API}/managedZones", params={"maxResults": "2"}).reply(
        200, json={"managedZones": [zone_item("example-com", "example.com.")]})
    script.expect("GET", f"{API}/managedZones/example-com/rrsets",
                  params={"maxResults": "2"}).reply(200, json={"rrsets": [
                      rrset("example.com.", "SOA", "ns. host. 1 2 3 4 5"), *sets]})


IMPORT = ('$ORIGIN example.com.\n$TTL 600\nmail IN A 192.0.2.1\ntxt IN TXT "hi"\n'
          "www IN CNAME mail\n")


def test_an_import_is_one_change(mode: str) -> None:
    script = Script()
    import_reads(script)
    script.expect("POST", f"{API}/managedZones/example-com/changes", json={
        "kind": "dns#change", "deletions": [], "additions": [
            addition("mail.example.com.", "A", "192.0.2.1"),
            addition("txt.example.com.", "TXT", '"hi"'),
            addition("www.example.com.", "CNAME", "mail.example.com."),
        ]}).reply(200, json={"kind": "dns#change", "status": "pending"})
    assert call(mode, driver(script), "import_zone_from_bind_format", IMPORT).id == "example-com"
    script.assert_done()


def test_an_import_in_several_changes_undoes_them_if_one_fails(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(google, "CHANGE_BATCH", 2)
    old = rrset("mail.example.com.", "A", "192.0.2.99", ttl=60)
    script = Script()
    import_reads(script, old)
    # The sets replaced are deleted exactly as Cloud DNS holds them: read again, raw.
    script.expect("GET", f"{API}/managedZones/example-com/rrsets",
                  params={"maxResults": "2"}).reply(200, json={"rrsets": [old]})
    changes = f"{API}/managedZones/example-com/changes"
    made = [addition("mail.example.com.", "A", "192.0.2.1"),
            addition("txt.example.com.", "TXT", '"hi"')]
    script.expect("POST", changes, match=lambda s: change(s, [old], made)).reply(
        200, json={"kind": "dns#change", "status": "pending"})
    script.expect("POST", changes, match=lambda s: change(
        s, [], [addition("www.example.com.", "CNAME", "mail.example.com.")])).reply(
        409, json=google_error(409, "alreadyExists", "The resource 'entity.change.additions"
                               "[0]' named 'www.example.com. (CNAME)' already exists",
                               "ALREADY_EXISTS"))
    script.expect("POST", changes, match=lambda s: change(s, made, [old])).reply(
        200, json={"kind": "dns#change", "status": "pending"})
    with pytest.raises(RecordAlreadyExists) as info:
        call(mode, driver(script), "import_zone_from_bind_format", IMPORT, replace=True)
    assert info.value.message.endswith(
        "(2 of 3 record sets were written to example.com. before this error; "
        "rolled back: mail:A, txt:TXT)")
    script.assert_done()
