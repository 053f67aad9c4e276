"""The Azure DNS driver finds credentials as the Azure compute driver does
(the shared ARM chain: a ``credential=`` object with ``get_token``, the
environment's service principal, the managed identity through IMDS), against
the Azure DNS fixture server and a fixture IMDS in front of it; explicit
credentials are used as given, the chain not consulted; ``overcast profile
show`` names the source."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from typing import NamedTuple

import pytest
from typer.testing import CliRunner

from overcast.auth.sources import credential_info
from overcast.cli.app import app
from overcast.dns.drivers.azure import AzureDNSDriver
from overcast.errors import InvalidInput
from servers.azure_imds import ImdsFixture
from servers.azure_imds import serve_imds
from servers.dns_azure import CLIENT_ID
from servers.dns_azure import CLIENT_SECRET
from servers.dns_azure import RESOURCE_GROUP
from servers.dns_azure import SUBSCRIPTION
from servers.dns_azure import TENANT
from servers.dns_azure import AzureDNSFixture
from servers.dns_azure import fixture_server
from servers.modes import MODES
from servers.modes import call

AZURE_VARIABLES = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                   "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                   "AZURE_SUBSCRIPTION_ID")


@pytest.fixture
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
           ) -> AzureDNSFixture:
    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return fixture_server(request)


@pytest.fixture
def imds(server: AzureDNSFixture) -> Iterator[ImdsFixture]:
    with serve_imds(server, RESOURCE_GROUP) as fixture:
        yield fixture


def _driver(server: AzureDNSFixture, *args: Any, **kwargs: Any) -> AzureDNSDriver:
    # An unreachable managed identity unless one is given: it must not be asked.
    kwargs.setdefault("metadata_endpoint", "http://127.0.0.1:9")
    kwargs.setdefault("resource_group", RESOURCE_GROUP)
    return AzureDNSDriver(*args, endpoint=server.base_url, authority=server.base_url, **kwargs)


def _tokens(server: AzureDNSFixture) -> int:
    return server.count("POST", "/oauth2/v2.0/token")


class _Token(NamedTuple):
    token: str
    expires_on: int


class _Credential:
    """azure-identity's TokenCredential protocol, handing out fixture tokens."""

    def __init__(self, server: AzureDNSFixture) -> None:
        self.server = server
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> _Token:
        self.scopes.append(scopes)
        with self.server.api.lock:
            token = self.server.issue()
        return _Token(token, int(datetime.datetime.now().timestamp()) + 3600)


def _env_principal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)


@pytest.mark.parametrize("mode", MODES)
def test_a_client_secret_from_the_environment(server: AzureDNSFixture,
                                              monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    _env_principal(monkeypatch)
    before = _tokens(server)
    driver = _driver(server)
    assert driver.credential_source == "environment (AZURE_CLIENT_SECRET)"
    assert isinstance(call(mode, driver, "list_zones"), list)
    assert _tokens(server) == before + 1
    assert CLIENT_SECRET not in repr(driver)
    info = credential_info(driver)
    assert info is not None and info.provider == "azure" and info.identity == CLIENT_ID


@pytest.mark.parametrize("mode", MODES)
def test_the_managed_identity_through_imds(server: AzureDNSFixture, imds: ImdsFixture,
                                           monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    before = _tokens(server)
    driver = _driver(server, metadata_endpoint=imds.base_url)
    assert driver.credential_source == "managed identity (Azure IMDS)"
    assert isinstance(call(mode, driver, "list_zones"), list)
    assert isinstance(call(mode, driver, "list_zones"), list)
    assert imds.count("/metadata/identity/oauth2/token") == 1  # cached
    assert _tokens(server) == before  # no client-credentials flow


def test_a_token_credential_object(server: AzureDNSFixture) -> None:
    credential = _Credential(server)
    driver = _driver(server, subscription_id=SUBSCRIPTION, credential=credential)
    assert driver.credential_source == "credential= (_Credential)"
    assert isinstance(driver.list_zones(), list)
    assert credential.scopes == [("https://management.azure.com/.default",)]


def test_a_managed_identity_needs_a_subscription(server: AzureDNSFixture) -> None:
    with pytest.raises(InvalidInput, match="AZURE_SUBSCRIPTION_ID"):
        _driver(server)
    with pytest.raises(InvalidInput, match="resource_group"):
        AzureDNSDriver(subscription_id=SUBSCRIPTION)


def test_nothing_is_consulted_when_credentials_are_given(
        server: AzureDNSFixture, imds: ImdsFixture, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment names another app with a wrong secret and a missing
    certificate, and an IMDS answers: had any been used, the driver would show
    another source, or the token request would fail."""
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", "not-this-one")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "wrong")
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", str(tmp_path / "absent.pem"))
    credential = _Credential(server)
    driver = _driver(server, CLIENT_ID, CLIENT_SECRET, tenant_id=TENANT,
                     subscription_id=SUBSCRIPTION, metadata_endpoint=imds.base_url,
                     credential=credential)
    assert driver.credential_source == "explicit"
    assert isinstance(driver.list_zones(), list)
    assert driver._identity is None and driver._principal is None
    assert credential.scopes == [] and imds.count("/metadata/identity/oauth2/token") == 0


def test_profile_show_names_the_source(server: AzureDNSFixture, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _env_principal(monkeypatch)
    monkeypatch.setenv("OVERCAST_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("OVERCAST_SECRET_STORE", "file")
    runner = CliRunner()
    added = runner.invoke(app, ["profile", "add", "azdns", "--driver", "azure", "--area", "dns",
                                "--endpoint", server.base_url,
                                "-o", f"authority={server.base_url}",
                                "-o", f"resource_group={RESOURCE_GROUP}",
                                "-o", "metadata_endpoint=http://127.0.0.1:9"])
    assert added.exit_code == 0, added.output
    shown = runner.invoke(app, ["profile", "show", "--json", "azdns"])
    assert shown.exit_code == 0, shown.output
    row = json.loads(shown.stdout)
    assert row["credentials from"] == "environment (AZURE_CLIENT_SECRET)"
    assert row["identity"] == CLIENT_ID
    assert CLIENT_SECRET not in shown.output
    zones = runner.invoke(app, ["dns", "zones", "-p", "azdns", "--json"])
    assert zones.exit_code == 0, zones.output
    assert isinstance(json.loads(zones.stdout), list)
