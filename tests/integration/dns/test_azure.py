"""Azure DNS driver against the ARM fixture server: what the contract does not cover.

Paging through ``nextLink`` with request counts, the client-credentials token
(fetched once, shared by threads and tasks, refreshed after expiry and after a
401), the long-running zone delete polled to completion, error mapping, and
secrets (client secret, tokens) kept out of errors and DEBUG logs.
"""

from __future__ import annotations

import contextlib
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
from overcast.dns.drivers.azure import AzureDNSDriver
from overcast.dns.drivers.azure import from_properties
from overcast.dns.drivers.azure import split_text
from overcast.dns.drivers.azure import to_properties
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from servers.dns_azure import CLIENT_SECRET
from servers.dns_azure import RESOURCE_GROUP
from servers.dns_azure import SUBSCRIPTION
from servers.dns_azure import TENANT
from servers.dns_azure import AzureDNSFixture
from servers.dns_azure import fixture_server
from servers.dns_azure import make_driver
from servers.modes import MODES
from servers.modes import call
from servers.pauses import record_pauses


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[AzureDNSFixture]:
    srv = fixture_server(request)
    saved = (srv.token_lifetime, srv.retry_after, srv.lro_polls)
    yield srv
    srv.token_lifetime, srv.retry_after, srv.lro_polls = saved


@pytest.fixture
def events() -> list[RequestEvent]:
    return []


@pytest.fixture
def driver(server: AzureDNSFixture, events: list[RequestEvent]) -> Iterator[AzureDNSDriver]:
    with make_driver(server, page_size=5, requests=events) as d:
        yield d


@pytest.fixture
def zone(driver: AzureDNSDriver) -> Iterator[Zone]:
    made = driver.create_zone(f"oc{uuid.uuid4().hex[:10]}.example.test.")
    yield made
    with contextlib.suppress(ZoneNotFound):
        driver.delete_zone(made)


def token_posts(server: AzureDNSFixture) -> int:
    return server.count("POST", "/oauth2/v2.0/token")


@pytest.mark.parametrize("mode", MODES)
def test_records_follow_next_link(driver: AzureDNSDriver, zone: Zone,
                                  events: list[RequestEvent], mode: str) -> None:
    for i in range(12):
        driver.create_record_set(f"h{i:02d}", zone, RecordType.A, f"192.0.2.{i + 1}")
    del events[:]
    listed = call(mode, driver, "list_record_sets", zone)
    assert len(listed) == 14  # 12 + the apex NS and SOA Azure made
    pages = [e for e in events if e.url.split("?")[0].endswith("/recordsets")]
    assert len(pages) == 3  # $top=5: 5 + 5 + 4
    assert "%24top=5" in pages[0].url or "$top=5" in pages[0].url
    assert "skipToken" not in pages[0].url
    assert all("skipToken=" in e.url for e in pages[1:])
    assert all("api-version=2018-05-01" in e.url for e in pages)
    apex = {r.type for r in listed if r.name == ""}
    assert apex == {"NS", "SOA"}
    soa = next(r for r in listed if r.type == "SOA")
    assert soa.values[0].split()[:2] == ["ns1-05.azure-dns.com.",
                                         "azuredns-hostmaster.microsoft.com."]


def test_zones_follow_next_link(server: AzureDNSFixture, events: list[RequestEvent]) -> None:
    driver = make_driver(server, page_size=2, requests=events)
    made = [driver.create_zone(f"pz{i}-{uuid.uuid4().hex[:8]}.example.test") for i in range(5)]
    try:
        del events[:]
        zones = driver.list_zones()
        assert {z.id for z in made} <= {z.id for z in zones}
        assert all(z.domain == f"{z.id}." for z in zones)
        pages = [e for e in events if e.url.split("?")[0].endswith("/dnsZones")]
        assert len(pages) == math.ceil(len(zones) / 2) >= 3
    finally:
        for z in made:
            driver.delete_zone(z)


def test_token_is_fetched_once_and_shared(server: AzureDNSFixture, driver: AzureDNSDriver,
                                          zone: Zone) -> None:
    before = token_posts(server)
    driver.create_record_set("www", zone, RecordType.A, "192.0.2.1")
    driver.get_record_set(zone.id, "www:A")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                driver.list_record_sets(zone)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    async def concurrently() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(driver.aio.list_record_sets, zone)

    anyio.run(concurrently)
    assert token_posts(server) == before


@pytest.mark.parametrize("mode", MODES)
def test_token_is_refreshed_after_expiry(
    server: AzureDNSFixture, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock is moved past the token's hour rather than waited for, so the
    first two calls fall within its life however slow the machine is."""
    server.token_lifetime = 3600
    real_time, ahead = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + ahead[0])
    driver = make_driver(server)
    before = token_posts(server)
    call(mode, driver, "list_zones")
    call(mode, driver, "list_zones")
    assert token_posts(server) - before == 1
    ahead[0] = 3601.0
    call(mode, driver, "list_zones")
    assert token_posts(server) - before == 2


@pytest.mark.parametrize("mode", MODES)
def test_token_is_refreshed_after_a_401(server: AzureDNSFixture, mode: str) -> None:
    statuses: list[int | None] = []
    driver = make_driver(server, hooks=Hooks(on_response=[lambda e: statuses.append(e.status)]))
    before = token_posts(server)
    call(mode, driver, "list_zones")
    server.revoke_tokens()
    call(mode, driver, "list_zones")
    assert token_posts(server) - before == 2
    assert statuses.count(401) == 1
    call(mode, driver, "list_zones")
    assert token_posts(server) - before == 2


@pytest.mark.parametrize("mode", MODES)
def test_long_running_delete_is_polled(server: AzureDNSFixture, mode: str,
                                       events: list[RequestEvent],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server.lro_polls, server.retry_after = 2, 1
    driver = make_driver(server, requests=events)
    zone = driver.create_zone(f"lro{uuid.uuid4().hex[:8]}.example.test")
    driver.create_record_set("www", zone, RecordType.A, "192.0.2.1")
    del events[:]
    paused = record_pauses(monkeypatch)
    assert call(mode, driver, "delete_zone", zone) is True
    polls = [e for e in events if "/dnsoperationstatuses/" in e.url]
    assert len(polls) == 3  # InProgress, InProgress, Succeeded
    assert paused.count(1.0) >= 3  # Retry-After: 1 before each poll (asked, not timed)
    with pytest.raises(ZoneNotFound):
        driver.get_zone(zone.id)
    with pytest.raises(ZoneNotFound):  # a second delete finds nothing (204)
        driver.delete_zone(zone)


def test_poll_links_must_stay_on_the_endpoint(driver: AzureDNSDriver) -> None:
    with pytest.raises(ProviderError, match="refusing"):
        driver._check_link("https://attacker.example/status?x=1")
    assert driver._check_link(f"{driver.endpoint}/x") == f"{driver.endpoint}/x"


@pytest.mark.parametrize("mode", MODES)
def test_wrong_credentials(server: AzureDNSFixture, mode: str) -> None:
    with pytest.raises(InvalidCredentials, match="AADSTS7000215") as info:
        call(mode, make_driver(server, client_secret="wrong-secret-value"), "list_zones")
    assert "wrong-secret-value" not in str(info.value)
    with pytest.raises(InvalidCredentials, match="AADSTS700016"):
        call(mode, make_driver(server, client_id=str(uuid.uuid4())), "list_zones")
    with pytest.raises(InvalidCredentials, match="AADSTS90002"):
        call(mode, make_driver(server, tenant_id=str(uuid.uuid4())), "list_zones")


def test_error_mapping(server: AzureDNSFixture, driver: AzureDNSDriver, zone: Zone) -> None:
    with pytest.raises(ZoneNotFound):
        driver.get_zone("missing.example.test")
    with pytest.raises(ZoneNotFound):  # ParentResourceNotFound
        driver.get_record_set("missing.example.test", "www:A")
    with pytest.raises(RecordNotFound):
        driver.get_record_set(zone.id, "www:A")
    with pytest.raises(RecordNotFound):
        driver.get_record_set(zone.id, "bogus")
    record = driver.create_record_set("www", zone, RecordType.A, "192.0.2.1")
    with pytest.raises(RecordAlreadyExists):  # 412 on If-None-Match: *
        driver.create_record_set("www", zone, RecordType.A, "192.0.2.2")
    assert driver.delete_record_set(record) is True
    with pytest.raises(RecordNotFound):  # 204: nothing was there
        driver.delete_record_set(record)
    with pytest.raises(RecordNotFound):  # If-Match: * on a missing set
        driver.update_record_set(record, None, None, ["192.0.2.3"])
    other = AzureDNSDriver("id", "secret", tenant_id=TENANT, subscription_id=SUBSCRIPTION,
                           resource_group="nope", endpoint=server.base_url,
                           authority=server.base_url)
    with pytest.raises(InvalidCredentials):
        other.list_zones()  # the fixture does not know client "id"
    wrong_group = make_driver(server)
    wrong_group.resource_group = "nope"
    with pytest.raises(ProviderError) as info:
        wrong_group.list_zones()
    assert (info.value.status, info.value.code) == (404, "ResourceGroupNotFound")
    assert info.value.request_id
    apex_ns = driver.get_record_set(zone.id, "@:NS")
    with pytest.raises(ProviderError) as refused:
        driver.delete_record_set(apex_ns)
    assert refused.value.code == "BadRequest"
    with pytest.raises(NotSupported):
        driver.create_record_set("x", zone, RecordType.SSHFP, "1 1 abcd")


def test_update_in_place_and_rename(driver: AzureDNSDriver, zone: Zone,
                                    server: AzureDNSFixture) -> None:
    record = driver.create_record_set("api", zone, RecordType.MX, ["10 mail.example.test."], ttl=60)
    assert record.extra["etag"]
    same = driver.update_record_set(record, None, None, ["20 mx.example.test."], ttl=120)
    assert (same.values, same.ttl) == (["20 mx.example.test."], 120)
    assert same.extra["etag"] != record.extra["etag"]
    moved = driver.update_record_set(same, "mail", None, None)
    assert (moved.name, moved.values, moved.ttl) == ("mail", ["20 mx.example.test."], 120)
    names = {(r.name, r.type) for r in driver.list_record_sets(zone)}
    assert ("mail", "MX") in names and ("api", "MX") not in names
    driver.create_record_set("c", zone, RecordType.CNAME, "target.example.test.")
    with pytest.raises(InvalidInput):
        driver.update_record_set(moved, "c", None, None)


def test_typed_arrays_round_trip() -> None:
    cases = {
        "A": ["192.0.2.1", "192.0.2.2"],
        "AAAA": ["2001:db8::1"],
        "CNAME": ["www.example.com."],
        "MX": ["10 mail.example.com."],
        "NS": ["ns1.example.net."],
        "PTR": ["host.example.com."],
        "SRV": ["10 5 5060 sip.example.com."],
        "TXT": ["x" * 600, 'naïve ✓ "q" \\'],
        "CAA": ['0 issue "letsencrypt.org"'],
    }
    for rtype, values in cases.items():
        props = to_properties(rtype, values)
        assert from_properties(rtype, props) == values, rtype
    assert to_properties("MX", ["10 mail.example.com."]) == {
        "MXRecords": [{"preference": 10, "exchange": "mail.example.com"}]}
    assert to_properties("CAA", ['0 issue "ca.example"']) == {
        "caaRecords": [{"flags": 0, "tag": "issue", "value": "ca.example"}]}
    chunks = split_text("é" * 200)
    assert "".join(chunks) == "é" * 200
    assert all(len(c.encode()) <= 255 for c in chunks)


def test_secrets_never_in_errors_or_debug_logs(server: AzureDNSFixture,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    hooks = Hooks(on_request=[lambda e: texts.append(repr(e))],
                  on_response=[lambda e: texts.append(repr(e))])
    driver = make_driver(server, hooks=hooks)
    zone = driver.create_zone(f"sec{uuid.uuid4().hex[:8]}.example.test")
    driver.create_record_set("www", zone, RecordType.TXT, "public text")
    server.revoke_tokens()
    driver.list_record_sets(zone)
    with pytest.raises(ZoneNotFound) as missing:
        driver.get_zone("no-such.example.test")
    driver.delete_zone(zone)
    with pytest.raises(InvalidCredentials) as denied:
        make_driver(server, client_secret="another-Secret~value.123").list_zones()
    texts += [str(missing.value), str(denied.value), repr(denied.value), repr(driver)]
    texts += [r.getMessage() for r in caplog.records]
    everything = "\n".join(texts)
    assert any(r.levelno == logging.DEBUG and r.name == "overcast.http" for r in caplog.records)
    assert "'Authorization': '***'" in everything
    assert CLIENT_SECRET not in everything
    assert "another-Secret~value.123" not in everything
    assert server.issued
    for token in server.issued:
        assert token not in everything
        assert token.rsplit(".", 1)[-1] not in everything
    assert RESOURCE_GROUP in repr(driver)
