"""The Azure driver inside Azure: a managed identity's tokens and the machine's
placement from IMDS (a fixture IMDS in front of the ARM compute fixture)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from overcast.auth.azure_imds import ImdsClient
from overcast.auth.azure_imds import ManagedIdentity
from overcast.compute.drivers.azure import AzureNodeDriver
from overcast.errors import InvalidCredentials
from overcast.runtime.policy import Hooks
from servers.azure_imds import ImdsFixture
from servers.azure_imds import serve_imds
from servers.compute_azure import RESOURCE_GROUP
from servers.compute_azure import AzureComputeFixture
from servers.compute_azure import serve
from servers.modes import call
from servers.pauses import record_pauses

TOKEN_PATH = "/metadata/identity/oauth2/token"


@pytest.fixture
def arm() -> Iterator[AzureComputeFixture]:
    with serve() as fixture:
        yield fixture


@pytest.fixture
def imds(arm: AzureComputeFixture) -> Iterator[ImdsFixture]:
    with serve_imds(arm, RESOURCE_GROUP) as fixture:
        yield fixture


def inside(arm: AzureComputeFixture, imds: ImdsFixture, **options: Any) -> AzureNodeDriver:
    """A driver given no credentials nor placement, on a machine with a managed identity."""
    return AzureNodeDriver(endpoint=arm.base_url, metadata_endpoint=imds.base_url,
                           poll_interval=0.01, **options)


def test_no_key_takes_the_token_and_placement_from_imds(
        arm: AzureComputeFixture, imds: ImdsFixture, mode: str) -> None:
    with inside(arm, imds) as driver:
        assert imds.api.requests == []  # nothing probed when the driver is made
        locations = call(mode, driver, "list_locations")
        assert {loc.id for loc in locations} == {"eastus", "westeurope"}
        sizes = call(mode, driver, "list_sizes")  # the machine's location by default
        assert {s.extra["location"] for s in sizes} == {"eastus"}
        groups = call(mode, driver, "ex_list_resource_groups")
        assert RESOURCE_GROUP in {g.name for g in groups}
    assert imds.count(TOKEN_PATH) == 1 and imds.count("/metadata/instance") == 1
    for request in imds.api.requests:
        assert request.header("Metadata") == "true"
    token_request = next(r for r in imds.api.requests if r.path == TOKEN_PATH)
    assert token_request.arg("resource") == "https://management.azure.com/"


def test_imds_refuses_a_request_without_the_metadata_header(imds: ImdsFixture) -> None:
    url = f"{imds.base_url}{TOKEN_PATH}?api-version=2018-02-01&resource=" \
          "https%3A%2F%2Fmanagement.azure.com%2F"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 400
    assert b"Required metadata header" in refused.value.read()
    with urllib.request.urlopen(urllib.request.Request(
            url, headers={"Metadata": "true"}), timeout=5) as answer:
        assert answer.status == 200


def test_given_credentials_nothing_probes_imds(arm: AzureComputeFixture,
                                               imds: ImdsFixture, mode: str) -> None:
    from servers.compute_azure import make_driver

    with make_driver(arm, metadata_endpoint=imds.base_url) as driver:
        call(mode, driver, "list_locations")
    assert imds.api.requests == []


def test_the_token_is_refreshed_before_it_expires(
        arm: AzureComputeFixture, imds: ImdsFixture, mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with inside(arm, imds) as driver:
        call(mode, driver, "list_locations")
        call(mode, driver, "list_locations")
        assert imds.count(TOKEN_PATH) == 1  # cached
        real_time, ahead = time.time, [0.0]
        monkeypatch.setattr(time, "time", lambda: real_time() + ahead[0])
        # Within the last minute of the hour: still valid at ARM, but replaced.
        ahead[0] = imds.lifetime - 30
        call(mode, driver, "list_locations")
        assert imds.count(TOKEN_PATH) == 2
        call(mode, driver, "list_locations")
        assert imds.count(TOKEN_PATH) == 2


def test_fifty_concurrent_calls_make_one_token_fetch(arm: AzureComputeFixture,
                                                      imds: ImdsFixture) -> None:
    driver = inside(arm, imds)

    async def main() -> list[int]:
        counts: list[int] = []

        async def one() -> None:
            counts.append(len(await driver.aio.list_locations()))

        async with driver.aio, anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(one)
        return counts

    counts = anyio.run(main)
    assert counts == [2] * 50
    assert imds.count(TOKEN_PATH) == 1
    assert imds.count("/metadata/instance") == 1
    driver.close()


def test_fifty_concurrent_sync_calls_make_one_token_fetch(arm: AzureComputeFixture,
                                                          imds: ImdsFixture) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with inside(arm, imds) as driver, ThreadPoolExecutor(16) as pool:
        found = list(pool.map(lambda _: len(driver.list_locations()), range(50)))
    assert found == [2] * 50
    assert imds.count(TOKEN_PATH) == 1


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: connecting is refused


def test_outside_azure_the_probe_gives_up_at_once_naming_what_it_tried(
        mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _refused_port()
    sent: list[object] = []
    driver = AzureNodeDriver(subscription_id="00000000-1111-2222-3333-444444444444",
                             resource_group="rg", region="eastus",
                             endpoint="http://127.0.0.1:9", hooks=Hooks(on_request=[sent.append]),
                             metadata_endpoint=f"http://127.0.0.1:{port}")
    paused = record_pauses(monkeypatch)
    with pytest.raises(InvalidCredentials) as caught:
        call(mode, driver, "list_locations")
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}/metadata/identity/oauth2/token" in message
    assert "IMDS" in message and "within 1s" in message
    assert paused == []  # one attempt, no backoff: nothing waited for
    assert len(sent) == 1  # the probe only; no ARM request went out
    identity = driver._identity
    assert isinstance(identity, ManagedIdentity)
    client = identity.client
    assert isinstance(client, ImdsClient)
    assert client._timeouts.connect == 1.0 and client._timeouts.read == 1.0


def test_imds_refusing_the_identity_is_invalid_credentials(
        arm: AzureComputeFixture, imds: ImdsFixture, mode: str) -> None:
    from servers.fakeapi import FakeResponse

    imds.api.routes.insert(0, ("GET", __import__("re").compile(TOKEN_PATH + r"\Z"),
                               lambda req: FakeResponse.json(
                                   {"error": "invalid_request",
                                    "error_description": "Identity not found"}, 400)))
    with inside(arm, imds) as driver, pytest.raises(InvalidCredentials,
                                                    match="Identity not found"):
        call(mode, driver, "list_locations")


def test_fifty_concurrent_calls_outside_azure_probe_once() -> None:
    sent: list[object] = []
    driver = AzureNodeDriver(subscription_id="00000000-1111-2222-3333-444444444444",
                             resource_group="rg", endpoint="http://127.0.0.1:9",
                             hooks=Hooks(on_request=[sent.append]),
                             metadata_endpoint=f"http://127.0.0.1:{_refused_port()}")
    failures: list[BaseException] = []

    async def main() -> None:
        async def one() -> None:
            try:
                await driver.aio.list_locations()
            except InvalidCredentials as exc:
                failures.append(exc)

        async with driver.aio, anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(one)

    anyio.run(main)
    assert len(failures) == 50 and len(sent) == 1  # the waiting callers share the failure
