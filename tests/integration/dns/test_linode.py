"""What the DNS contract does not show for Linode: paging, the request shapes of the
API v4, compensation of a half-made set, error mapping and secrecy of the token."""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Iterator

import pytest

from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.drivers.linode import LinodeDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.errors import RecordNotFound
from overcast.errors import ZoneNotFound
from servers.dns_linode import TOKEN
from servers.dns_linode import LinodeFake
from servers.dns_linode import make_driver
from servers.dns_linode import serve
from servers.fakeapi import FakeRequest
from servers.modes import call


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> LinodeFake:
    return serve(request)[0]


@pytest.fixture
def driver(request: pytest.FixtureRequest) -> Iterator[LinodeDNSDriver]:
    with make_driver(request) as made:
        yield made


@pytest.fixture
def zone(driver: LinodeDNSDriver) -> Iterator[Zone]:
    made = driver.create_zone(f"li{uuid.uuid4().hex[:10]}.example.test.")
    yield made
    driver.delete_zone(made)


def seen(fake: LinodeFake, method: str, path: str, since: int = 0) -> list[FakeRequest]:
    return [r for r in fake.api.requests[since:] if r.method == method and r.path == path]


def test_records_listing_follows_every_page(fake: LinodeFake, driver: LinodeDNSDriver,
                                            zone: Zone, mode: str) -> None:
    for i in range(60):
        fake.records[int(zone.id)][10**6 + i] = {
            "id": 10**6 + i, "type": "A", "name": f"h{i:02d}", "target": f"192.0.2.{i}",
            "priority": 0, "weight": 0, "port": 0, "service": None, "protocol": None,
            "tag": None, "ttl_sec": 0,
        }
    before = len(fake.api.requests)
    records = call(mode, driver, "list_record_sets", zone)
    assert sorted(r.name for r in records) == [f"h{i:02d}" for i in range(60)]
    pages = seen(fake, "GET", f"/v4/domains/{zone.id}/records", before)
    assert [p.arg("page") for p in pages] == ["1", "2", "3"]
    assert {p.arg("page_size") for p in pages} == {"25"}
    assert all(r.ttl is None for r in records)  # ttl_sec 0: the domain's default


def test_zone_listing_follows_every_page(fake: LinodeFake, driver: LinodeDNSDriver,
                                         mode: str) -> None:
    made = [driver.create_zone(f"pg{i}{uuid.uuid4().hex[:8]}.example.test") for i in range(26)]
    try:
        before = len(fake.api.requests)
        ids = {z.id for z in call(mode, driver, "iterate_zones")}
        assert {z.id for z in made} <= ids
        pages = seen(fake, "GET", "/v4/domains", before)
        assert len(pages) == math.ceil(len(fake.domains) / 25) >= 2
    finally:
        for z in made:
            driver.delete_zone(z)


def test_request_shapes(fake: LinodeFake, driver: LinodeDNSDriver, zone: Zone) -> None:
    before = len(fake.api.requests)
    srv = driver.create_record_set("_sip._tcp", zone, RecordType.SRV,
                               [f"10 5 5060 sip.{zone.domain}"], ttl=300)
    caa = driver.create_record_set("", zone, RecordType.CAA, ['0 issuewild "ca.example"'])
    posts = seen(fake, "POST", f"/v4/domains/{zone.id}/records", before)
    bodies = [json.loads(p.body) for p in posts]
    assert bodies[0] == {"type": "SRV", "name": "", "service": "sip", "protocol": "tcp",
                         "priority": 10, "weight": 5, "port": 5060,
                         "target": f"sip.{zone.domain.rstrip('.')}", "ttl_sec": 300}
    assert bodies[1] == {"type": "CAA", "name": "", "tag": "issuewild", "target": "ca.example"}
    assert all(p.header("Authorization") == f"Bearer {TOKEN}" for p in posts)
    # Lookups before the writes use the API's filter, not a full listing.
    lookups = seen(fake, "GET", f"/v4/domains/{zone.id}/records", before)
    assert json.loads(lookups[0].header("X-Filter") or "{}") == {"name": "_sip._tcp"}
    assert (srv.id, srv.values) == ("_sip._tcp:SRV", [f"10 5 5060 sip.{zone.domain}"])
    assert caa.values == ['0 issuewild "ca.example"']
    assert driver.get_record_set(zone.id, "@:CAA").values == caa.values


def test_zone_fields(driver: LinodeDNSDriver) -> None:
    domain = f"soa{uuid.uuid4().hex[:8]}.example.test"
    zone = driver.create_zone(domain, ttl=3600)
    try:
        assert zone.extra["soa_email"] == f"hostmaster@{domain}"
        assert (zone.domain, zone.ttl) == (f"{domain}.", 3600)
        updated = driver.update_zone(zone, None, None, 86400, {"soa_email": "dns@example.test"})
        assert (updated.ttl, updated.extra["soa_email"]) == (86400, "dns@example.test")
    finally:
        driver.delete_zone(zone)


def test_ttl_is_rounded_up_as_linode_does(driver: LinodeDNSDriver, zone: Zone) -> None:
    record = driver.create_record_set("slow", zone, RecordType.A, "192.0.2.1", ttl=600)
    assert record.ttl == 3600
    assert driver.get_record_set(zone.id, "slow:A").ttl == 3600


def test_what_linode_cannot_store_is_refused_before_sending(
    fake: LinodeFake, driver: LinodeDNSDriver, zone: Zone
) -> None:
    before = len(fake.api.requests)
    with pytest.raises(InvalidInput, match=r"_service\._protocol"):
        driver.create_record_set("_sip._tcp.sub", zone, RecordType.SRV, "1 1 5060 sip.example.")
    with pytest.raises(InvalidInput, match="CAA flags"):
        driver.create_record_set("", zone, RecordType.CAA, '128 issue "ca.example"')
    with pytest.raises(InvalidInput, match="priorities"):
        driver.create_record_set("", zone, RecordType.MX, "300 mail.example.")
    with pytest.raises(InvalidInput, match="page_size"):
        LinodeDNSDriver(TOKEN, page_size=10)
    assert len(fake.api.requests) == before


def test_failed_multi_value_create_leaves_nothing(fake: LinodeFake, driver: LinodeDNSDriver,
                                                  zone: Zone, mode: str) -> None:
    driver.create_record_set("keep", zone, RecordType.A, "192.0.2.1")
    fake.record_limit = len(fake.records[int(zone.id)]) + 2
    before = len(fake.api.requests)
    try:
        with pytest.raises(ProviderError) as caught:
            call(mode, driver, "create_record_set", "multi", zone, RecordType.A,
                 ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"])
    finally:
        fake.record_limit = 12000
    assert caught.value.status == 400
    posts = seen(fake, "POST", f"/v4/domains/{zone.id}/records", before)
    assert len(posts) == 3  # two made, the third refused
    deletes = [r for r in fake.api.requests[before:] if r.method == "DELETE"]
    assert len(deletes) == 2
    names = sorted(r["name"] for r in fake.records[int(zone.id)].values())
    assert names == ["keep"]


def test_update_is_a_diff(fake: LinodeFake, driver: LinodeDNSDriver, zone: Zone,
                          mode: str) -> None:
    record = driver.create_record_set("web", zone, RecordType.A,
                                  ["192.0.2.1", "192.0.2.2", "192.0.2.3"], ttl=300)
    ids = dict(zip(record.values, record.extra["record_ids"], strict=True))
    before = len(fake.api.requests)
    updated = call(mode, driver, "update_record_set", record, None, None,
                   ["192.0.2.2", "192.0.2.3", "192.0.2.4"])
    writes = [r for r in fake.api.requests[before:] if r.method != "GET"]
    assert [(r.method, r.path) for r in writes] == [
        ("PUT", f"/v4/domains/{zone.id}/records/{ids['192.0.2.1']}")
    ]
    assert sorted(updated.values) == ["192.0.2.2", "192.0.2.3", "192.0.2.4"]
    assert ids["192.0.2.2"] in updated.extra["record_ids"]
    assert updated.ttl == 300  # kept, since none was given

    moved = call(mode, driver, "update_record_set", updated, "site", RecordType.CNAME,
                 f"www.{zone.domain}")
    assert (moved.id, moved.values) == ("site:CNAME", [f"www.{zone.domain}"])
    with pytest.raises(RecordNotFound):
        driver.get_record_set(zone.id, "web:A")


def test_provider_errors_are_mapped(driver: LinodeDNSDriver, zone: Zone) -> None:
    with pytest.raises(ProviderError) as caught:  # a protocol Linode does not know
        driver.create_record_set("_sip._sctp", zone, RecordType.SRV, f"1 1 5060 sip.{zone.domain}")
    assert (caught.value.status, caught.value.code) == (400, "protocol")
    with pytest.raises(ZoneNotFound):
        driver.get_zone("999999999")
    with pytest.raises(ZoneNotFound):
        driver.list_record_sets(Zone("999999999", "gone.example.", "master", None, driver))
    with pytest.raises(RecordNotFound):
        driver.get_record_set(zone.id, "nothing:A")


def test_wrong_token_is_invalid_credentials_and_never_shown(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    secret = "wrong-token-must-stay-hidden-42"
    caplog.set_level(logging.DEBUG)
    with make_driver(request, key=secret) as bad:
        with pytest.raises(InvalidCredentials) as caught:
            call(mode, bad, "list_zones")
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value)
        assert secret not in repr(bad)
    assert "Invalid Token" in str(caught.value)
    assert caplog.records, "DEBUG logging was expected to record the requests"
    assert secret not in caplog.text
    assert TOKEN not in caplog.text
