"""Google Cloud DNS driver against the fixture server: what the contract does not cover.

Paging with request counts, the service-account token (fetched once, shared by
threads and tasks, refreshed after expiry and after a 401), error mapping, and
secrets (private key, assertions, tokens) kept out of errors and DEBUG logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import anyio
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.drivers.google import GoogleDNSDriver
from overcast.dns.drivers.google import zone_name_for
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.errors import RecordNotFound
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from servers.dns_google import CLIENT_EMAIL
from servers.dns_google import PROJECT
from servers.dns_google import GoogleDNSFixture
from servers.dns_google import fixture_server
from servers.dns_google import key_file
from servers.dns_google import make_driver
from servers.dns_google import private_key
from servers.modes import MODES
from servers.modes import call
from servers.procs import free_port


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[GoogleDNSFixture]:
    srv = fixture_server(request)
    lifetime = srv.token_lifetime
    yield srv
    srv.token_lifetime = lifetime


@pytest.fixture
def events() -> list[RequestEvent]:
    return []


@pytest.fixture
def driver(server: GoogleDNSFixture, tmp_path: Path,
           events: list[RequestEvent]) -> Iterator[GoogleDNSDriver]:
    with make_driver(server, key_file(tmp_path, server), page_size=5, requests=events) as d:
        yield d


@pytest.fixture
def zone(driver: GoogleDNSDriver) -> Iterator[Zone]:
    made = driver.create_zone(f"oc{uuid.uuid4().hex[:10]}.example.test.")
    yield made
    with contextlib.suppress(ZoneNotFound):
        driver.delete_zone(made)


def token_posts(server: GoogleDNSFixture) -> int:
    return server.count("POST", "/token")


@pytest.mark.parametrize("mode", MODES)
def test_records_are_listed_page_by_page(driver: GoogleDNSDriver, zone: Zone,
                                         events: list[RequestEvent], mode: str) -> None:
    for i in range(12):
        driver.create_record_set(f"h{i:02d}", zone, RecordType.A, f"192.0.2.{i + 1}")
    del events[:]
    listed = call(mode, driver, "list_record_sets", zone)
    assert len(listed) == 14  # 12 + the apex NS and SOA Cloud DNS made
    pages = [e for e in events if e.url.split("?")[0].endswith("/rrsets")]
    assert len(pages) == 3  # maxResults=5: 5 + 5 + 4
    assert all("maxResults=5" in e.url for e in pages)
    assert "pageToken" not in pages[0].url
    assert all("pageToken=" in e.url for e in pages[1:])
    assert sorted(r.name for r in listed if r.type == "A") == [f"h{i:02d}" for i in range(12)]


def test_zones_are_listed_page_by_page(server: GoogleDNSFixture, tmp_path: Path,
                                       events: list[RequestEvent]) -> None:
    driver = make_driver(server, key_file(tmp_path, server), page_size=2, requests=events)
    made = [driver.create_zone(f"pz{i}-{uuid.uuid4().hex[:8]}.example.test.") for i in range(5)]
    try:
        del events[:]
        zones = driver.list_zones()
        assert {z.id for z in made} <= {z.id for z in zones}
        pages = [e for e in events if e.url.split("?")[0].endswith("/managedZones")]
        assert len(pages) == math.ceil(len(zones) / 2) >= 3
        # find_first-style consumers stop early: iterate lazily, one page read.
        del events[:]
        first = next(iter(driver.iterate_zones()))
        assert first.id
        assert len([e for e in events if "/managedZones" in e.url]) == 1
    finally:
        for z in made:
            driver.delete_zone(z)


def test_token_is_fetched_once_and_shared(server: GoogleDNSFixture, driver: GoogleDNSDriver,
                                          zone: Zone) -> None:
    before = token_posts(server)
    driver.create_record_set("www", zone, RecordType.A, "192.0.2.1")
    driver.list_record_sets(zone)
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
    # The zone fixture fetched the first token; nothing since.
    assert token_posts(server) == before


def test_cold_threads_all_succeed(server: GoogleDNSFixture, tmp_path: Path) -> None:
    driver = make_driver(server, key_file(tmp_path, server))
    before = token_posts(server)
    results: list[int] = []

    def work() -> None:
        results.append(len(driver.list_zones()))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    # No lock is held across the token request: racing threads may each fetch one,
    # but never more than one each, and later calls reuse the cache.
    fetched = token_posts(server) - before
    assert 1 <= fetched <= 6
    driver.list_zones()
    assert token_posts(server) - before == fetched


@pytest.mark.parametrize("mode", MODES)
def test_token_is_refreshed_after_expiry(server: GoogleDNSFixture, tmp_path: Path,
                                         mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock is moved past the token's hour rather than waited for."""
    server.token_lifetime = 3600
    real_time, ahead = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + ahead[0])
    driver = make_driver(server, key_file(tmp_path, server))
    before = token_posts(server)
    call(mode, driver, "list_zones")
    call(mode, driver, "list_zones")
    assert token_posts(server) - before == 1
    ahead[0] = 3601.0
    call(mode, driver, "list_zones")
    assert token_posts(server) - before == 2


@pytest.mark.parametrize("mode", MODES)
def test_token_is_refreshed_after_a_401(server: GoogleDNSFixture, tmp_path: Path,
                                        mode: str) -> None:
    statuses: list[int | None] = []
    hooks = Hooks(on_response=[lambda e: statuses.append(e.status)])
    driver = make_driver(server, key_file(tmp_path, server), hooks=hooks)
    before = token_posts(server)
    call(mode, driver, "list_zones")
    server.revoke_tokens()
    call(mode, driver, "list_zones")  # 401, new token, the same request again
    assert token_posts(server) - before == 2
    assert statuses.count(401) == 1
    call(mode, driver, "list_zones")
    assert token_posts(server) - before == 2


@pytest.mark.parametrize("mode", MODES)
def test_wrong_key_is_invalid_credentials(server: GoogleDNSFixture, tmp_path: Path,
                                          mode: str) -> None:
    wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    driver = make_driver(server, key_file(tmp_path, server, key=wrong))
    with pytest.raises(InvalidCredentials, match="Invalid JWT Signature"):
        call(mode, driver, "list_zones")
    unknown = make_driver(server, key_file(tmp_path, server, email="nobody@x.iam.example"))
    with pytest.raises(InvalidCredentials, match="account not found"):
        call(mode, unknown, "list_zones")


def test_token_keeps_failing_is_invalid_credentials(server: GoogleDNSFixture,
                                                    tmp_path: Path) -> None:
    # A token the API keeps refusing: one retry with a fresh token, then the error.
    driver = make_driver(server, key_file(tmp_path, server))
    real_token = server.token

    def short_lived(req):  # type: ignore[no-untyped-def]
        response = real_token(req)
        server.tokens.clear()
        return response

    server.api.routes = [(m, p, short_lived if h == real_token else h)
                         for m, p, h in server.api.routes]
    try:
        before = token_posts(server)
        with pytest.raises(InvalidCredentials, match="invalid authentication credentials"):
            driver.list_zones()
        assert token_posts(server) - before == 2
    finally:
        server.api.routes = [(m, p, real_token if h == short_lived else h)
                             for m, p, h in server.api.routes]


def test_unknown_project_is_invalid_credentials(server: GoogleDNSFixture,
                                                tmp_path: Path) -> None:
    driver = GoogleDNSDriver(project="someone-else", credentials_file=key_file(tmp_path, server),
                             endpoint=f"{server.base_url}/dns/v1")
    with pytest.raises(InvalidCredentials, match="permission"):
        driver.list_zones()


def test_credentials_are_read_on_first_use(server: GoogleDNSFixture, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    driver = GoogleDNSDriver(project="p", credentials_file=tmp_path / "missing.json",
                             endpoint=f"{server.base_url}/dns/v1")
    assert "missing.json" not in repr(driver)
    with pytest.raises(InvalidInput, match="cannot read credentials file"):
        driver.list_zones()
    # Given nothing and no file anywhere, the chain ends at the metadata server
    # (docs/credentials.md), asked at the first request: none answers here.
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{free_port()}")
    with pytest.raises(InvalidCredentials, match="metadata server"):
        GoogleDNSDriver(project="p", endpoint=f"{server.base_url}/dns/v1").list_zones()


def test_libcloud_style_key_and_secret(server: GoogleDNSFixture, tmp_path: Path) -> None:
    pem_path = key_file(tmp_path, server)
    pem = json.loads(pem_path.read_text())["private_key"]
    driver = GoogleDNSDriver(CLIENT_EMAIL, pem, project=PROJECT,
                             endpoint=f"{server.base_url}/dns/v1",
                             token_uri=f"{server.base_url}/token")
    assert isinstance(driver.list_zones(), list)
    by_file = GoogleDNSDriver(CLIENT_EMAIL, str(pem_path), project=PROJECT,
                              endpoint=f"{server.base_url}/dns/v1")
    assert isinstance(by_file.list_zones(), list)


def test_error_mapping(driver: GoogleDNSDriver, zone: Zone) -> None:
    with pytest.raises(ZoneNotFound):
        driver.get_zone("no-such-zone")
    with pytest.raises(ZoneNotFound):
        driver.get_record_set("no-such-zone", "www:A")
    with pytest.raises(RecordNotFound):
        driver.get_record_set(zone.id, "www:A")
    with pytest.raises(RecordNotFound):
        driver.get_record_set(zone.id, "not-an-id")
    gone = Zone("no-such-zone", "gone.example.test.", "master", None, driver=driver)
    with pytest.raises(ZoneNotFound):
        driver.list_record_sets(gone)
    with pytest.raises(ZoneNotFound):
        driver.delete_zone(gone)
    # The fixture rejects an over-long TXT string: the driver splits, so it never sees one.
    record = driver.create_record_set("t", zone, RecordType.TXT, "x" * 1000)
    assert record.values == ["x" * 1000]
    # Deleting the apex SOA is refused by Cloud DNS and surfaces as a ProviderError.
    soa = driver.get_record_set(zone.id, "@:SOA")
    with pytest.raises(ProviderError) as info:
        driver.delete_record_set(soa)
    assert info.value.status == 400 and info.value.code == "invalid"


def test_update_renames_atomically(driver: GoogleDNSDriver, zone: Zone,
                                   server: GoogleDNSFixture) -> None:
    record = driver.create_record_set("old", zone, RecordType.A, ["192.0.2.1"], ttl=120)
    changes = server.count("POST", "/changes")
    moved = driver.update_record_set(record, "new", None, None)
    assert server.count("POST", "/changes") == changes + 1  # one atomic change
    assert (moved.name, moved.values, moved.ttl) == ("new", ["192.0.2.1"], 120)
    names = {r.name for r in driver.list_record_sets(zone)}
    assert "new" in names and "old" not in names
    with pytest.raises(RecordNotFound):
        driver.update_record_set(record, None, None, ["192.0.2.9"])


def test_zone_names_are_derived_from_domains(driver: GoogleDNSDriver) -> None:
    assert zone_name_for("example.com.") == "example-com"
    assert zone_name_for("1.2.0.192.in-addr.arpa.") == "z-1-2-0-192-in-addr-arpa"
    long = zone_name_for(".".join(["abcdefghij"] * 10) + ".")
    assert len(long) <= 63 and long[0].isalpha() and long[-1].isalnum()
    zone = driver.create_zone("Mixed-Case.example.test.", extra={"name": "custom-name-1"})
    try:
        assert (zone.id, zone.domain) == ("custom-name-1", "mixed-case.example.test.")
        assert zone.extra["name_servers"]
    finally:
        driver.delete_zone(zone)


def test_secrets_never_in_errors_or_debug_logs(server: GoogleDNSFixture, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    hooks = Hooks(on_request=[lambda e: texts.append(repr(e))],
                  on_response=[lambda e: texts.append(repr(e))])
    driver = make_driver(server, key_file(tmp_path, server), hooks=hooks)
    zone = driver.create_zone(f"sec{uuid.uuid4().hex[:8]}.example.test.")
    driver.create_record_set("www", zone, RecordType.TXT, "public text")
    server.revoke_tokens()
    driver.list_record_sets(zone)
    with pytest.raises(ZoneNotFound) as missing:
        driver.get_zone("no-such-zone")
    texts.append(str(missing.value))
    driver.delete_zone(zone)
    wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = make_driver(server, key_file(tmp_path, server, key=wrong))
    with pytest.raises(InvalidCredentials) as denied:
        bad.list_zones()
    texts += [str(denied.value), repr(denied.value), repr(driver), repr(bad)]
    texts += [r.getMessage() for r in caplog.records]
    everything = "\n".join(texts)
    assert any(r.levelno == logging.DEBUG and r.name == "overcast.http" for r in caplog.records)
    assert "'Authorization': '***'" in everything  # the header was there, masked
    pem = private_key().private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
    for line in pem.splitlines()[1:-1]:
        assert line not in everything
    assert server.issued
    for token in server.issued:
        assert token not in everything
    assertions = [parse_qs(r.body.decode()).get("assertion", [""])[0]
                  for r in server.api.requests if r.path == "/token"]
    for assertion in assertions:
        if assertion:
            assert assertion.split(".")[2] not in everything
