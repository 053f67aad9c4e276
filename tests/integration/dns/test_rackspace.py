"""What the DNS contract does not show for Rackspace: the Identity token (fetched
once, shared, renewed before expiry and after a 401), asynchronous jobs, paging
by links, compensation of a failed create, error mapping and secrecy."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator

import anyio
import pytest

from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.drivers.rackspace import RackspaceDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import RetryPolicy
from servers.dns_rackspace import API_KEY
from servers.dns_rackspace import TENANT
from servers.dns_rackspace import RackspaceFake
from servers.dns_rackspace import make_driver
from servers.dns_rackspace import serve
from servers.fakeapi import FakeRequest
from servers.modes import call


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[RackspaceFake]:
    made = serve(request)
    yield made
    made.token_lifetime = 86400.0
    made.fail_next_job = None
    made.status_failures = 0
    made.record_limit = 500


@pytest.fixture
def driver(request: pytest.FixtureRequest) -> Iterator[RackspaceDNSDriver]:
    with make_driver(request) as made:
        yield made


@pytest.fixture
def zone(driver: RackspaceDNSDriver) -> Iterator[Zone]:
    made = driver.create_zone(f"rs{uuid.uuid4().hex[:10]}.example.test.")
    yield made
    driver.delete_zone(made)


def seen(fake: RackspaceFake, method: str, path: str, since: int = 0) -> list[FakeRequest]:
    return [r for r in fake.api.requests[since:] if r.method == method and r.path == path]


def status_polls(fake: RackspaceFake, since: int) -> list[FakeRequest]:
    return [r for r in fake.api.requests[since:]
            if r.method == "GET" and r.path.startswith(f"/v1.0/{TENANT}/status/")]


# -- the token -------------------------------------------------------------------------


def test_token_is_fetched_once_and_shared(request: pytest.FixtureRequest, fake: RackspaceFake,
                                          mode: str) -> None:
    before = fake.token_requests
    with make_driver(request) as driver:
        zone = call(mode, driver, "create_zone", f"tk{uuid.uuid4().hex[:8]}.example.test")
        call(mode, driver, "create_record_set", "www", zone, RecordType.A, "192.0.2.1")
        call(mode, driver, "list_record_sets", zone)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                driver.list_zones()
                driver.get_zone(zone.id)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

        async def tasks() -> None:
            async with driver.aio as view, anyio.create_task_group() as group:
                for _ in range(8):
                    group.start_soon(view.list_zones)

        anyio.run(tasks)
        call(mode, driver, "delete_zone", zone)
    assert fake.token_requests - before == 1


def test_token_is_renewed_before_it_expires(request: pytest.FixtureRequest,
                                            fake: RackspaceFake, mode: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock is moved past the token's hour rather than waited for."""
    fake.token_lifetime = 3600
    real_time, ahead = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + ahead[0])
    before_tokens = fake.token_requests
    with make_driver(request) as driver:
        call(mode, driver, "list_zones")
        call(mode, driver, "list_zones")
        assert fake.token_requests - before_tokens == 1
        ahead[0] = 3601.0  # past the renewal point (and the expiry)
        before = len(fake.api.requests)
        call(mode, driver, "list_zones")
    assert fake.token_requests - before_tokens == 2
    # Renewed up front: the DNS API never saw the expired token.
    listed = seen(fake, "GET", f"/v1.0/{TENANT}/domains", before)
    assert len(listed) == max(1, math.ceil(len(fake.domains) / 5))


def test_a_refused_token_is_renewed_and_the_request_sent_again(
    request: pytest.FixtureRequest, fake: RackspaceFake, mode: str
) -> None:
    with make_driver(request, page_size=100) as driver:
        call(mode, driver, "list_zones")
        before_tokens = fake.token_requests
        fake.revoke_tokens()
        before = len(fake.api.requests)
        call(mode, driver, "list_zones")
    assert fake.token_requests - before_tokens == 1
    lists = seen(fake, "GET", f"/v1.0/{TENANT}/domains", before)
    assert len(lists) == 2  # refused once, then sent with the new token
    assert lists[0].header("X-Auth-Token") != lists[1].header("X-Auth-Token")


def test_wrong_credentials_are_invalid_credentials_and_never_shown(
    request: pytest.FixtureRequest, fake: RackspaceFake, caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    secret = "wrong-api-key-that-must-stay-hidden"
    caplog.set_level(logging.DEBUG)
    with make_driver(request, secret=secret) as bad:
        with pytest.raises(InvalidCredentials) as caught:
            call(mode, bad, "list_zones")
        assert "invalid" in str(caught.value).lower()
        for text in (str(caught.value), repr(caught.value), repr(bad)):
            assert secret not in text
    with make_driver(request) as good:
        call(mode, good, "list_zones")
    assert caplog.records, "DEBUG logging was expected to record the requests"
    for value in (secret, API_KEY, *fake.tokens):
        assert value not in caplog.text


# -- jobs ---------------------------------------------------------------------------------


def test_writes_wait_for_their_job(fake: RackspaceFake, driver: RackspaceDNSDriver,
                                   mode: str) -> None:
    before = len(fake.api.requests)
    zone = call(mode, driver, "create_zone", f"job{uuid.uuid4().hex[:8]}.example.test",
                "master", 600, {"email": "dns@example.test", "comment": "made by a test"})
    try:
        polls = status_polls(fake, before)
        assert len(polls) == 2  # RUNNING, then COMPLETED
        assert {p.arg("showDetails") for p in polls} == {"true"}
        post = seen(fake, "POST", f"/v1.0/{TENANT}/domains", before)[0]
        assert json.loads(post.body) == {"domains": [{
            "name": zone.domain.rstrip("."), "emailAddress": "dns@example.test", "ttl": 600,
            "comment": "made by a test"}]}
        assert (zone.ttl, zone.extra["emailAddress"]) == (600, "dns@example.test")
        # Rackspace adds the NS records of its name servers.
        ns = driver.get_record_set(zone.id, "@:NS")
        assert sorted(ns.values) == ["dns1.stabletransit.com.", "dns2.stabletransit.com."]
        updated = call(mode, driver, "update_zone", zone, None, None, 7200)
        assert updated.ttl == 7200
    finally:
        driver.delete_zone(zone)


def test_a_failed_job_is_a_provider_error(fake: RackspaceFake, driver: RackspaceDNSDriver,
                                          mode: str) -> None:
    domain = f"err{uuid.uuid4().hex[:8]}.example.test"
    fake.fail_next_job = {"code": 500, "message": "dnsFault", "details": "backend exploded"}
    with pytest.raises(ProviderError) as caught:
        call(mode, driver, "create_zone", domain)
    assert caught.value.status == 500
    assert "backend exploded" in str(caught.value)
    assert domain not in {d["name"] for d in fake.domains.values()}


def test_failed_multi_value_create_leaves_nothing(fake: RackspaceFake,
                                                  driver: RackspaceDNSDriver, zone: Zone,
                                                  mode: str) -> None:
    values = ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
    fake.fail_next_job = {"code": 500, "message": "dnsFault", "details": "try later"}
    with pytest.raises(ProviderError):
        call(mode, driver, "create_record_set", "multi", zone, RecordType.A, values)
    assert not [r for r in driver.list_record_sets(zone) if r.name == "multi"]


def test_create_whose_outcome_was_lost_is_undone(request: pytest.FixtureRequest,
                                                 fake: RackspaceFake, zone: Zone,
                                                 mode: str) -> None:
    values = ["192.0.2.20", "192.0.2.21"]
    with make_driver(request, retry=RetryPolicy(max_attempts=1)) as driver:
        before = len(fake.api.requests)
        fake.status_failures = 1  # the job ran, but we never learn its result
        with pytest.raises(ProviderError) as caught:
            call(mode, driver, "create_record_set", "lost", zone, RecordType.A, values)
        assert caught.value.status == 503
        deletes = seen(fake, "DELETE", f"/v1.0/{TENANT}/domains/{zone.id}/records", before)
        assert len(deletes) == 1 and len(deletes[0].query["id"]) == 2
        assert not [r for r in driver.list_record_sets(zone) if r.name == "lost"]


def test_over_limit_is_rate_limited_and_makes_nothing(fake: RackspaceFake,
                                                      driver: RackspaceDNSDriver,
                                                      zone: Zone) -> None:
    fake.record_limit = len(fake.records[int(zone.id)]) + 1
    with pytest.raises(RateLimited):
        driver.create_record_set("many", zone, RecordType.A, ["192.0.2.1", "192.0.2.2"])
    assert not [r for r in driver.list_record_sets(zone) if r.name == "many"]


# -- records ------------------------------------------------------------------------------


def test_listing_follows_next_links(fake: RackspaceFake, driver: RackspaceDNSDriver,
                                    zone: Zone, mode: str) -> None:
    driver.create_record_set("bulk", zone, RecordType.A, [f"192.0.2.{i}" for i in range(1, 13)])
    before = len(fake.api.requests)
    records = call(mode, driver, "list_record_sets", zone)
    bulk = next(r for r in records if r.name == "bulk")
    assert len(bulk.values) == 12
    pages = seen(fake, "GET", f"/v1.0/{TENANT}/domains/{zone.id}/records", before)
    assert [p.arg("offset") for p in pages] == ["0", "5", "10"]  # 14 records, 5 a page
    assert {p.arg("limit") for p in pages} == {"5"}


def test_request_shapes_and_values(fake: RackspaceFake, driver: RackspaceDNSDriver,
                                   zone: Zone) -> None:
    origin = zone.domain.rstrip(".")
    before = len(fake.api.requests)
    srv = driver.create_record_set("_sip._tcp", zone, RecordType.SRV,
                               [f"10 5 5060 sip.{zone.domain}"], ttl=300)
    mx = driver.create_record_set("", zone, RecordType.MX, [f"10 mail.{zone.domain}"])
    posts = seen(fake, "POST", f"/v1.0/{TENANT}/domains/{zone.id}/records", before)
    assert json.loads(posts[0].body) == {"records": [
        {"name": f"_sip._tcp.{origin}", "type": "SRV", "priority": 10,
         "data": f"5 5060 sip.{origin}", "ttl": 300}]}
    assert json.loads(posts[1].body) == {"records": [
        {"name": origin, "type": "MX", "priority": 10, "data": f"mail.{origin}"}]}
    assert srv.values == [f"10 5 5060 sip.{zone.domain}"]
    assert (mx.id, mx.ttl) == ("@:MX", 3600)  # the domain's TTL
    assert all(p.header("X-Auth-Token") for p in posts)


def test_update_is_a_diff_in_few_jobs(fake: RackspaceFake, driver: RackspaceDNSDriver,
                                      zone: Zone, mode: str) -> None:
    record = driver.create_record_set("web", zone, RecordType.A, ["192.0.2.1", "192.0.2.2"])
    before = len(fake.api.requests)
    updated = call(mode, driver, "update_record_set", record, None, None,
                   ["192.0.2.2", "192.0.2.3", "192.0.2.4"], {"ttl": 900})
    writes = [(r.method, r.path) for r in fake.api.requests[before:] if r.method != "GET"]
    records_path = f"/v1.0/{TENANT}/domains/{zone.id}/records"
    assert writes == [("PUT", records_path), ("POST", records_path)]
    assert sorted(updated.values) == ["192.0.2.2", "192.0.2.3", "192.0.2.4"]
    fetched = driver.get_record_set(zone.id, "web:A")
    assert (sorted(fetched.values), fetched.ttl) == (sorted(updated.values), 900)


def test_what_rackspace_cannot_store_is_refused_before_sending(
    fake: RackspaceFake, driver: RackspaceDNSDriver, zone: Zone
) -> None:
    before = len(fake.api.requests)
    with pytest.raises(NotSupported):
        driver.create_record_set("", zone, RecordType.CAA, '0 issue "ca.example"')
    with pytest.raises(InvalidInput, match="300"):
        driver.create_record_set("fast", zone, RecordType.A, "192.0.2.1", ttl=60)
    with pytest.raises(InvalidInput, match="rename"):
        driver.update_zone(zone, "other.example.test", None)
    with pytest.raises(InvalidInput, match="page_size"):
        RackspaceDNSDriver("user", "key", page_size=500)
    assert len(fake.api.requests) == before


def test_endpoint_override_and_not_found(request: pytest.FixtureRequest,
                                         fake: RackspaceFake, zone: Zone) -> None:
    with make_driver(request, endpoint=f"{fake.base_url}/v1.0/{TENANT}/") as driver:
        assert driver.get_zone(zone.id).domain == zone.domain
        with pytest.raises(ZoneNotFound):
            driver.get_zone("123456789")
        with pytest.raises(ZoneNotFound):
            driver.get_zone("not-a-number")
