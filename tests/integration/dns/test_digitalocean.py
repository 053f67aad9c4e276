"""The DigitalOcean driver against its fixture server: what the DNS contract does not cover.

Pagination by ``links.pages.next`` (request counts, sets scattered over
pages), the all-or-nothing create of a multi-value set, the wire form of
host names, MX/SRV/CAA fields, how an update is applied, the token and the
mapping of DigitalOcean's error responses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.drivers.digitalocean import DigitalOceanDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from servers.dns_digitalocean import TOKEN
from servers.dns_digitalocean import DigitalOceanServer
from servers.dns_digitalocean import error
from servers.dns_digitalocean import serve
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.modes import call


@pytest.fixture
def server() -> Iterator[tuple[DigitalOceanServer, str]]:
    """A fresh fixture server per test, so request logs and state are the test's own."""
    with serve() as running:
        yield running


def driver_for(endpoint: str, key: str = TOKEN, **kw: Any) -> DigitalOceanDNSDriver:
    return DigitalOceanDNSDriver(key, endpoint=endpoint, **kw)


def sent(api: DigitalOceanServer, method: str, suffix: str) -> list[FakeRequest]:
    return [r for r in api.requests if r.method == method and r.path.endswith(suffix)]


def stored(api: DigitalOceanServer, domain: str) -> list[tuple[str, str, str]]:
    return sorted((r["name"], r["type"], r["data"]) for r in api.state.records[domain].values())


# -- pagination --------------------------------------------------------------------


def test_zone_listing_follows_next_links(server: tuple[DigitalOceanServer, str], mode: str
                                         ) -> None:
    api, endpoint = server
    with driver_for(endpoint) as setup:
        for i in range(7):
            setup.create_zone(f"zone{i}.example.test")
    api.requests.clear()
    with driver_for(endpoint, page_size=2) as driver:
        zones = call(mode, driver, "list_zones")
    assert [z.id for z in zones] == [f"zone{i}.example.test" for i in range(7)]
    assert all(z.ttl == 1800 and z.domain.endswith(".") for z in zones)
    pages = sent(api, "GET", "/domains")
    assert [(r.arg("page"), r.arg("per_page")) for r in pages] == [
        ("1", "2"), ("2", "2"), ("3", "2"), ("4", "2")]


def test_record_listing_joins_values_scattered_over_pages(
        server: tuple[DigitalOceanServer, str], mode: str) -> None:
    api, endpoint = server
    with driver_for(endpoint, page_size=3) as driver:
        zone = driver.create_zone("pages.example.test")  # SOA + 3 NS
        www = driver.create_record_set("www", zone, RecordType.A, "192.0.2.1")
        for i in range(3):
            driver.create_record_set(f"h{i}", zone, RecordType.A, f"192.0.2.{i + 10}")
        # the new value is listed last: page 3, while the first is on page 2
        driver.update_record_set(www, None, None, ["192.0.2.1", "192.0.2.2"])
        api.requests.clear()
        records = call(mode, driver, "list_record_sets", zone)
    by_id = {r.id: r for r in records}
    assert sorted(by_id) == ["@:NS", "h0:A", "h1:A", "h2:A", "www:A"]  # no SOA
    assert sorted(by_id["www:A"].values) == ["192.0.2.1", "192.0.2.2"]
    assert sorted(by_id["@:NS"].values) == [f"ns{i}.digitalocean.com." for i in (1, 2, 3)]
    assert len(sent(api, "GET", "/records")) == 3  # 9 records, 3 a page


def test_create_zone_with_and_without_an_address(server: tuple[DigitalOceanServer, str]
                                                 ) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        bare = driver.create_zone("bare.example.test.")
        lit = driver.create_zone("lit.example.test", extra={"ip_address": "192.0.2.80"})
        assert sorted(r.id for r in driver.list_record_sets(bare)) == ["@:NS"]
        apex = driver.get_record_set(lit.id, "@:A")
        assert (apex.values, apex.ttl) == (["192.0.2.80"], 1800)
    assert [r.json() for r in sent(api, "POST", "/domains")] == [
        {"name": "bare.example.test"}, {"name": "lit.example.test", "ip_address": "192.0.2.80"}]


# -- all or nothing -----------------------------------------------------------------


def test_a_create_that_fails_midway_leaves_nothing(server: tuple[DigitalOceanServer, str],
                                                   mode: str) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = driver.create_zone("midway.example.test")
        before = stored(api, zone.id)
        api.state.inject("POST", "/records$", error(422, "unprocessable_entity",
                                                    "Data is invalid"),
                         when=lambda r: r.json().get("data") == "192.0.2.12")
        with pytest.raises(ProviderError) as caught:
            call(mode, driver, "create_record_set", "multi", zone, RecordType.A,
                 ["192.0.2.10", "192.0.2.11", "192.0.2.12"])
    assert (caught.value.status, caught.value.code) == (422, "unprocessable_entity")
    assert stored(api, zone.id) == before
    assert len(sent(api, "DELETE", "")) == 2


def test_an_unknown_outcome_midway_is_cleaned_up(server: tuple[DigitalOceanServer, str],
                                                 mode: str) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = driver.create_zone("unknown.example.test")
        before = stored(api, zone.id)
        api.state.inject("POST", "/records$", error(500, "server_error", "Server was "
                                                    "unable to give you a response."),
                         after=True, when=lambda r: r.json().get("data") == "192.0.2.21")
        with pytest.raises(OutcomeUnknown):
            call(mode, driver, "create_record_set", "multi", zone, RecordType.A,
                 ["192.0.2.20", "192.0.2.21", "192.0.2.22"])
    assert stored(api, zone.id) == before
    assert len(sent(api, "POST", "/records")) == 2  # a POST is never resent


# -- wire form -------------------------------------------------------------------------


def test_values_travel_in_digitaloceans_fields(server: tuple[DigitalOceanServer, str]
                                               ) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = driver.create_zone("wire.example.test")
        api.requests.clear()
        driver.create_record_set("", zone, RecordType.MX, "10 mail.wire.example.test.", ttl=300)
        driver.create_record_set("_sip._tcp", zone, RecordType.SRV, "10 5 5060 sip.example.test.")
        driver.create_record_set("", zone, RecordType.CAA, '0 issue "letsencrypt.org"')
        driver.create_record_set("alias", zone, RecordType.CNAME, "wire.example.test.")
        driver.create_record_set("txt", zone, RecordType.TXT, 'say "hi"')
        posts = [r.json() for r in sent(api, "POST", "/records")]
        assert posts[0] == {"type": "MX", "name": "@", "data": "mail.wire.example.test.",
                            "priority": 10, "ttl": 300}
        assert posts[1] == {"type": "SRV", "name": "_sip._tcp", "data": "sip.example.test.",
                            "priority": 10, "weight": 5, "port": 5060}
        assert posts[2] == {"type": "CAA", "name": "@", "data": "letsencrypt.org.",
                            "flags": 0, "tag": "issue"}
        assert posts[4]["data"] == 'say "hi"'
        # the API drops trailing dots and writes the apex as "@"; the driver reads both
        assert ("alias", "CNAME", "@") in stored(api, zone.id)
        assert ("@", "CAA", "letsencrypt.org") in stored(api, zone.id)
        assert driver.get_record_set(zone.id, "alias:CNAME").values == ["wire.example.test."]
        assert driver.get_record_set(zone.id, "@:MX").values == ["10 mail.wire.example.test."]
        assert driver.get_record_set(zone.id, "@:CAA").values == ['0 issue "letsencrypt.org"']
        with pytest.raises(InvalidInput):  # a tag DigitalOcean does not accept
            driver.create_record_set("x", zone, RecordType.CAA, '0 contactemail "a@b.test"')


def test_update_changes_records_in_place(server: tuple[DigitalOceanServer, str], mode: str
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
        assert set(updated.extra["ids"]) == ids and updated.ttl == 300
        assert [r.method for r in api.requests if r.method != "GET"] == ["PUT"]
        shorter = call(mode, driver, "update_record_set", updated, None, None, ["192.0.2.9"],
                       ttl=600)
        assert (shorter.values, shorter.ttl) == (["192.0.2.9"], 600)
        moved = call(mode, driver, "update_record_set", shorter, "web", RecordType.CNAME,
                     "target.example.test.")
        assert (moved.id, moved.values) == ("web:CNAME", ["target.example.test."])
        assert "www:A" not in [r.id for r in driver.list_record_sets(zone)]


# -- token and errors ---------------------------------------------------------------


def test_wrong_token_is_invalid_credentials_and_never_shown(
        server: tuple[DigitalOceanServer, str], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    api, endpoint = server
    wrong = "dop_v1_" + "f" * 64
    caplog.set_level(logging.DEBUG, logger="overcast")
    with driver_for(endpoint, wrong) as driver:
        with pytest.raises(InvalidCredentials) as caught:
            call(mode, driver, "list_zones")
        assert wrong not in repr(driver)
    assert "Unable to authenticate you" in str(caught.value)
    assert api.requests[-1].header("Authorization") == f"Bearer {wrong}"
    text = f"{caught.value!s} {caught.value!r} {caplog.text}"
    assert wrong not in text and "Bearer" not in caplog.text
    assert "GET" in caplog.text


def test_documented_errors_map_to_overcast_errors(server: tuple[DigitalOceanServer, str],
                                                  mode: str) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = call(mode, driver, "create_zone", "errors.example.test")
        with pytest.raises(ZoneAlreadyExists, match="name already exists"):
            call(mode, driver, "create_zone", "errors.example.test")
        with pytest.raises(ZoneNotFound, match="could not be found"):
            call(mode, driver, "get_zone", "nowhere.example.test")
        with pytest.raises(ZoneNotFound):
            call(mode, driver, "list_record_sets", Zone("nowhere.test", "nowhere.test.", "master",
                                                    None, driver))
        with pytest.raises(ZoneNotFound):
            call(mode, driver, "get_record_set", "nowhere.test", "www:A")
        with pytest.raises(RecordNotFound):
            call(mode, driver, "get_record_set", zone.id, "www:A")
        with pytest.raises(ProviderError) as bad_ttl:
            call(mode, driver, "create_record_set", "ttl", zone, RecordType.A, "192.0.2.1",
                 ttl=5)
        assert (bad_ttl.value.status, bad_ttl.value.code) == (422, "unprocessable_entity")
        record = driver.create_record_set("www", zone, RecordType.A, ["192.0.2.1", "192.0.2.2"])
        api.state.inject("PUT", "/records/", FakeResponse.json(
            {"id": "not_found", "message": "The resource you were accessing could not be "
                                           "found.", "request_id": "4b1cc5f2-req"}, 404))
        with pytest.raises(RecordNotFound):
            call(mode, driver, "update_record_set", record, None, None, ["192.0.2.1", "192.0.2.3"])
        api.state.inject("GET", "/domains$", FakeResponse.json(
            {"id": "forbidden", "message": "You do not have access for the attempted action.",
             "request_id": "4b1cc5f2-req"}, 403))
        with pytest.raises(InvalidCredentials):
            call(mode, driver, "list_zones")
        api.state.inject("GET", "/domains$", FakeResponse.json(
            {"id": "bad_request", "message": "Odd request", "request_id": "77e1-req"}, 400))
        with pytest.raises(ProviderError) as odd:
            call(mode, driver, "list_zones")
        assert (odd.value.code, odd.value.request_id) == ("bad_request", "77e1-req")


def test_rrset_ttl_stays_uniform(server: tuple[DigitalOceanServer, str]) -> None:
    api, endpoint = server
    with driver_for(endpoint) as driver:
        zone = driver.create_zone("ttl.example.test")
        record = driver.create_record_set("www", zone, RecordType.A, ["192.0.2.1", "192.0.2.2"])
        assert record.ttl == 1800  # DigitalOcean's default
        updated = driver.update_record_set(record, None, None, ["192.0.2.1", "192.0.2.2",
                                                            "192.0.2.3"], ttl=120)
        assert updated.ttl == 120 and len(updated.values) == 3
    assert {r["ttl"] for r in api.state.records[zone.id].values() if r["name"] == "www"} == {120}
