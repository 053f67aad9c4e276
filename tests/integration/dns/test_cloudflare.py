"""The Cloudflare driver against its fixture server: what the DNS contract does not cover.

Pagination (request counts, ``per_page`` limits, sets split across pages), the
all-or-nothing create of a multi-value set, exports of hostile records, the
wire form of MX/SRV/CAA/TXT, how an update is applied, authentication (token
and legacy key) and the mapping of Cloudflare's documented error codes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import dns.zone
import pytest

from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.drivers.cloudflare import CloudflareDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import RetryPolicy
from servers.dns_cloudflare import ACCOUNT_ID
from servers.dns_cloudflare import EMAIL
from servers.dns_cloudflare import GLOBAL_KEY
from servers.dns_cloudflare import TOKEN
from servers.dns_cloudflare import CloudflareServer
from servers.dns_cloudflare import err
from servers.dns_cloudflare import fail
from servers.dns_cloudflare import serve
from servers.fakeapi import FakeRequest
from servers.modes import call
from servers.pauses import record_pauses


@pytest.fixture
def server() -> Iterator[tuple[CloudflareServer, str]]:
    """A fresh fixture server per test, so request logs and state are the test's own."""
    with serve() as running:
        yield running


def driver_for(endpoint: str, key: str = TOKEN, secret: str | None = None, **kw: Any
               ) -> CloudflareDNSDriver:
    kw.setdefault("account_id", ACCOUNT_ID)
    return CloudflareDNSDriver(key, secret, endpoint=endpoint, **kw)


def sent(api: CloudflareServer, method: str, suffix: str) -> list[FakeRequest]:
    return [r for r in api.requests if r.method == method and r.path.endswith(suffix)]


# -- pagination --------------------------------------------------------------------


def test_zone_listing_follows_every_page(server: tuple[CloudflareServer, str], mode: str
                                         ) -> None:
    api, endpoint = server
    with driver_for(endpoint) as setup:
        for i in range(12):
            setup.create_zone(f"zone{i:02d}.example.test")
    api.requests.clear()
    with driver_for(endpoint, page_size=5) as driver:
        zones = call(mode, driver, "list_zones")
    assert sorted(z.domain for z in zones) == [f"zone{i:02d}.example.test." for i in range(12)]
    pages = sent(api, "GET", "/zones")
    assert [(r.arg("page"), r.arg("per_page"), r.arg("account.id")) for r in pages] == [
        ("1", "5", ACCOUNT_ID), ("2", "5", ACCOUNT_ID), ("3", "5", ACCOUNT_ID)]


def test_page_size_is_kept_within_cloudflares_limits(server: tuple[CloudflareServer, str]
                                                     ) -> None:
    api, endpoint = server
    with driver_for(endpoint, page_size=1) as driver:
        zone = driver.create_zone("limits.example.test")
        driver.list_zones()
        driver.list_record_sets(zone)
    with driver_for(endpoint, page_size=1000) as driver:
        driver.list_zones()
    per_page = [r.arg("per_page") for r in sent(api, "GET", "/zones")]
    assert per_page == ["5", "50"]  # zones: 5..50
    assert [r.arg("per_page") for r in sent(api, "GET", "/dns_records")] == ["5"]


def test_record_listing_joins_a_set_split_across_pages(server: tuple[CloudflareServer, str],
                                                       mode: str) -> None:
    api, endpoint = server
    with driver_for(endpoint, page_size=5) as driver:
        zone = driver.create_zone("pages.example.test")
        for i in range(4):
            driver.create_record_set(f"a-{i}", zone, RecordType.A, f"192.0.2.{i + 1}")
        # sorted by name, the set's three records are records 5..7: pages 1 and 2
        driver.create_record_set("b-set", zone, RecordType.A,
                             ["198.51.100.1", "198.51.100.2", "198.51.100.3"], ttl=300)
        api.requests.clear()
        records = call(mode, driver, "list_record_sets", zone)
    by_id = {r.id: r for r in records}
    assert sorted(by_id) == ["a-0:A", "a-1:A", "a-2:A", "a-3:A", "b-set:A"]
    assert sorted(by_id["b-set:A"].values) == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    assert by_id["b-set:A"].ttl == 300 and by_id["a-0:A"].ttl is None  # 1 = automatic
    lists = sent(api, "GET", "/dns_records")
    assert [(r.arg("page"), r.arg("order")) for r in lists] == [("1", "name"), ("2", "name")]


# -- all or nothing -----------------------------------------------------------------


def _names(api: CloudflareServer, zone: Zone) -> list[tuple[str, str]]:
    return sorted((r["name"], r["content"]) for r in api.state.records[zone.id].values())


def test_a_create_that_fails_midway_leaves_nothing(server: tuple[CloudflareServer, str],
                                                   mode: str) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = driver.create_zone("quota.example.test")
        driver.create_record_set("keep", zone, RecordType.A, "192.0.2.1")
        api.state.record_quota[zone.id] = 3  # room for two more records, not three
        api.requests.clear()
        with pytest.raises(ProviderError) as caught:
            call(mode, driver, "create_record_set", "multi", zone, RecordType.A,
                 ["192.0.2.10", "192.0.2.11", "192.0.2.12"])
    assert caught.value.code == "81045" and caught.value.status == 400
    assert "Record quota exceeded" in str(caught.value)
    assert _names(api, zone) == [("keep.quota.example.test", "192.0.2.1")]
    assert len(sent(api, "POST", "/dns_records")) == 3  # two made, the third refused
    assert len(sent(api, "DELETE", "")) == 2  # both undone


def test_an_unknown_outcome_midway_is_cleaned_up(server: tuple[CloudflareServer, str],
                                                 mode: str) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = driver.create_zone("unknown.example.test")
        # the second record is stored, but the answer is lost: the driver cannot know
        api.state.inject("POST", "/dns_records$", fail(502, err(0, "Bad gateway")),
                         after=True, when=lambda r: r.json().get("content") == "192.0.2.21")
        with pytest.raises(OutcomeUnknown):
            call(mode, driver, "create_record_set", "multi", zone, RecordType.A,
                 ["192.0.2.20", "192.0.2.21", "192.0.2.22"])
    assert _names(api, zone) == []
    assert len(sent(api, "POST", "/dns_records")) == 2  # a POST is never resent


# -- exports of what the API returns -----------------------------------------------------


def _plant(api: CloudflareServer, zone: Zone, rid: str, name: str, rtype: str, content: str,
           **fields: Any) -> None:
    """A record as the API may return it (made elsewhere, by another client)."""
    api.state.records[zone.id][rid * 32] = {
        "id": rid * 32, "name": name, "type": rtype, "content": content, "ttl": 300,
        "proxied": False, **fields}


def test_an_export_of_hostile_records_adds_no_line(server: tuple[CloudflareServer, str],
                                                   mode: str) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = driver.create_zone("hostile.example.test")
        driver.create_record_set("www", zone, RecordType.A, "192.0.2.1")
        _plant(api, zone, "a", "x\n$INCLUDE /etc/passwd.hostile.example.test", "TXT",
               '"v\n$INCLUDE /etc/passwd\nevil 60 IN A 192.0.2.66"')
        _plant(api, zone, "b", "semi;colon.hostile.example.test", "TXT", "a ; b")
        text = call(mode, driver, "export_zone_to_bind_format", zone)
        lines = text.splitlines()
        assert [line for line in lines if line.startswith("$")] == [
            "$ORIGIN hostile.example.test.", "$TTL 3600"]
        assert len(lines) == 5  # $ORIGIN, $TTL and three values
        assert not any(line.startswith("evil") for line in lines)
        parsed = dns.zone.from_text(text, relativize=False, check_origin=False)
        assert sorted(n.to_text() for n in parsed.nodes) == [
            "semi\\;colon.hostile.example.test.",
            "www.hostile.example.test.",
            "x\\010\\$include\\032/etc/passwd.hostile.example.test.",
        ]
        # A value that is not data of its type is refused, naming its set.
        _plant(api, zone, "c", "mail.hostile.example.test", "CNAME",
               "target.example.net\n$INCLUDE /etc/passwd")
        with pytest.raises(ProviderError, match="record set mail:CNAME") as raised:
            call(mode, driver, "export_zone_to_bind_format", zone)
        assert raised.value.code == "UnrepresentableRecord"


# -- wire form -------------------------------------------------------------------------


def test_values_travel_in_cloudflares_fields(server: tuple[CloudflareServer, str]) -> None:
    api, endpoint = server
    long_text = "v=DKIM1; p=" + "A" * 400 + " ✓"
    with driver_for(endpoint) as driver:
        zone = driver.create_zone("wire.example.test")
        api.requests.clear()
        driver.create_record_set("", zone, RecordType.MX, ["10 mail.wire.example.test."])
        driver.create_record_set("_sip._tcp", zone, RecordType.SRV, "10 5 5060 sip.example.test.")
        driver.create_record_set("", zone, RecordType.CAA, '0 issue "letsencrypt.org"')
        driver.create_record_set("txt", zone, RecordType.TXT, long_text)
        posts = [r.json() for r in sent(api, "POST", "/dns_records")]
        assert posts[0] == {"type": "MX", "name": "wire.example.test", "ttl": 1,
                            "content": "mail.wire.example.test", "priority": 10}
        assert posts[1]["data"] == {"priority": 10, "weight": 5, "port": 5060,
                                    "target": "sip.example.test"}
        assert posts[1]["name"] == "_sip._tcp.wire.example.test"
        assert posts[2]["data"] == {"flags": 0, "tag": "issue", "value": "letsencrypt.org"}
        # TXT: quoted RFC 1035 character-strings of at most 255 bytes each
        content = posts[3]["content"]
        assert content.startswith('"v=DKIM1; p=AAA') and content.count('" "') == 1
        assert content.endswith('\\226\\156\\147"')
        fetched = driver.get_record_set(zone.id, "txt:TXT")
        assert fetched.values == [long_text]
        assert driver.get_record_set(zone.id, "_sip._tcp:SRV").values == [
            "10 5 5060 sip.example.test."]
        assert driver.get_record_set(zone.id, "@:CAA").values == ['0 issue "letsencrypt.org"']
        # an unquoted TXT made elsewhere (the dashboard) reads back as it is
        api.state.records[zone.id]["f" * 32] = {
            **api.state.records[zone.id][fetched.extra["ids"][0]], "id": "f" * 32,
            "name": "plain.wire.example.test", "content": 'v=spf1 -all'}
        assert driver.get_record_set(zone.id, "plain:TXT").values == ["v=spf1 -all"]


def test_update_changes_records_in_place(server: tuple[CloudflareServer, str], mode: str
                                         ) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = driver.create_zone("update.example.test")
        record = driver.create_record_set("www", zone, RecordType.A,
                                      ["192.0.2.1", "192.0.2.2", "192.0.2.3"], ttl=300)
        ids = set(record.extra["ids"])
        api.requests.clear()
        updated = call(mode, driver, "update_record_set", record, None, None,
                       ["192.0.2.1", "192.0.2.2", "192.0.2.9"])
        assert sorted(updated.values) == ["192.0.2.1", "192.0.2.2", "192.0.2.9"]
        assert set(updated.extra["ids"]) == ids  # one record changed in place
        assert [r.method for r in api.requests if r.method != "GET"] == ["PATCH"]
        api.requests.clear()
        shorter = call(mode, driver, "update_record_set", updated, None, None, ["192.0.2.9"],
                       ttl=600)
        assert shorter.values == ["192.0.2.9"] and shorter.ttl == 600
        assert sorted(r.method for r in api.requests if r.method != "GET") == [
            "DELETE", "DELETE", "PATCH"]
        moved = call(mode, driver, "update_record_set", shorter, "web", RecordType.CNAME,
                     "target.example.test.")
        assert (moved.id, moved.values, moved.ttl) == ("web:CNAME", ["target.example.test."],
                                                       600)
        assert [r.id for r in driver.list_record_sets(zone)] == ["web:CNAME"]


# -- authentication ---------------------------------------------------------------------


def test_wrong_token_is_invalid_credentials_and_never_shown(
        server: tuple[CloudflareServer, str], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    api, endpoint = server
    wrong = "wrongToken_0123456789-abcdefghijklmnopqr"
    caplog.set_level(logging.DEBUG, logger="overcast")
    with driver_for(endpoint, wrong) as driver:
        with pytest.raises(InvalidCredentials) as caught:
            call(mode, driver, "list_zones")
        assert wrong not in repr(driver)
    assert "Authentication error" in str(caught.value)
    assert api.requests[-1].header("Authorization") == f"Bearer {wrong}"
    text = f"{caught.value!s} {caught.value!r} {caplog.text}"
    assert wrong not in text and "Bearer" not in caplog.text
    assert "GET" in caplog.text  # the request was logged, without its credentials


def test_malformed_or_missing_credentials_are_invalid(server: tuple[CloudflareServer, str]
                                                      ) -> None:
    _, endpoint = server
    with driver_for(endpoint, "short") as driver, pytest.raises(InvalidCredentials) as caught:
        driver.list_zones()
    assert "6003" in str(caught.value) and "short" not in str(caught.value)


def test_legacy_email_and_global_key(server: tuple[CloudflareServer, str],
                                     caplog: pytest.LogCaptureFixture) -> None:
    api, endpoint = server
    caplog.set_level(logging.DEBUG, logger="overcast")
    with driver_for(endpoint, EMAIL, GLOBAL_KEY) as driver:
        assert driver.list_zones() == []
    assert (api.requests[-1].header("X-Auth-Email"), api.requests[-1].header("X-Auth-Key")) == (
        EMAIL, GLOBAL_KEY)
    assert api.requests[-1].header("Authorization") is None
    wrong = "f" * 37
    with driver_for(endpoint, EMAIL, wrong) as driver, pytest.raises(InvalidCredentials) as bad:
        driver.list_zones()
    assert "9103" in str(bad.value)
    assert GLOBAL_KEY not in caplog.text and wrong not in caplog.text + str(bad.value)


# -- errors ---------------------------------------------------------------------------------


def test_documented_errors_map_to_overcast_errors(server: tuple[CloudflareServer, str],
                                                  mode: str) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = call(mode, driver, "create_zone", "errors.example.test")
        with pytest.raises(ZoneAlreadyExists, match=r"already exists \(1061\)"):
            call(mode, driver, "create_zone", "errors.example.test")
        with pytest.raises(ZoneNotFound, match="1001"):  # well-formed, unknown
            call(mode, driver, "get_zone", "0" * 32)
        with pytest.raises(ZoneNotFound, match="7003"):  # not an identifier
            call(mode, driver, "get_zone", "errors.example.test")
        with pytest.raises(ZoneNotFound):
            call(mode, driver, "list_record_sets", Zone("0" * 32, "gone.test.", "master", None,
                                                    driver))
        with pytest.raises(ProviderError) as bad_ttl:
            call(mode, driver, "create_record_set", "ttl", zone, RecordType.A, "192.0.2.1",
                 ttl=5)
        assert (bad_ttl.value.status, bad_ttl.value.code) == (400, "9021")
        record = driver.create_record_set("www", zone, RecordType.A, "192.0.2.1")
        # a record made by someone else between the check and the write
        api.state.inject("POST", "/dns_records$", fail(400, err(81057,
                                                                "Record already exists.")))
        with pytest.raises(RecordAlreadyExists):
            call(mode, driver, "create_record_set", "race", zone, RecordType.A, "192.0.2.7")
        api.state.inject("PATCH", "/dns_records/", fail(404, err(81044,
                                                                 "Record does not exist.")))
        with pytest.raises(RecordNotFound):
            call(mode, driver, "update_record_set", record, None, None, "192.0.2.2")
        api.state.inject("GET", "/zones$", fail(400, err(1234, "Something odd"),
                                                headers={"cf-ray": "8a1b2c3d4e5f-LHR"}))
        with pytest.raises(ProviderError) as odd:
            call(mode, driver, "list_zones")
        assert (odd.value.code, odd.value.request_id) == ("1234", "8a1b2c3d4e5f-LHR")
        assert "Something odd" in str(odd.value)


def test_rate_limit_honours_retry_after(server: tuple[CloudflareServer, str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    api, endpoint = server
    api.state.inject("GET", "/zones$", fail(429, err(971, "Please wait and consider "
                                                          "throttling your request speed"),
                                            headers={"Retry-After": "1"}))
    paused = record_pauses(monkeypatch)
    with driver_for(endpoint, retry=RetryPolicy(base=0.0)) as driver:
        assert driver.list_zones() == []
    assert 1.0 in paused  # the runtime waited as long as Retry-After said (asked, not timed)
    assert len(sent(api, "GET", "/zones")) == 2


def test_create_zone_uses_the_tokens_only_account(server: tuple[CloudflareServer, str]
                                                  ) -> None:
    api, endpoint = server
    with CloudflareDNSDriver(TOKEN, endpoint=endpoint) as driver:
        zone = driver.create_zone("account.example.test.")
    assert zone.domain == "account.example.test." and zone.extra["status"] == "pending"
    assert zone.extra["name_servers"] == ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"]
    body = json.loads(sent(api, "POST", "/zones")[0].body)
    assert body == {"name": "account.example.test", "account": {"id": ACCOUNT_ID},
                    "type": "full"}
    assert driver.list_record_sets(zone) == []  # Cloudflare does not list the apex NS/SOA
