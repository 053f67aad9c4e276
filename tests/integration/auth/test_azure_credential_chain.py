"""Azure credentials found as azure-identity's DefaultAzureCredential finds
them, end to end through the Azure compute driver and its ARM fixture (whose
token endpoint checks client secrets and certificate assertions): a
``credential=`` object with ``get_token``, the environment's client secret,
its certificate, then the managed identity; none consulted when credentials
are given. Azure Blobs' variables (connection string, account key, SAS) are
checked on the driver they configure."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from typing import NamedTuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from overcast.compute.drivers.azure import AzureNodeDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
from overcast.testing import MODES
from overcast.testing import call
from servers.azure_arm import CLIENT_ID
from servers.azure_arm import CLIENT_SECRET
from servers.azure_arm import SUBSCRIPTION
from servers.azure_arm import TENANT
from servers.compute_azure import AzureComputeFixture
from servers.compute_azure import serve

CERT_CLIENT = "a1b2c3d4-0000-4000-8000-00000000cafe"
AZURE_VARIABLES = (
    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_SUBSCRIPTION_ID",
    "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureComputeFixture]:
    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with serve() as fixture:
        yield fixture


def _driver(fake: AzureComputeFixture, *args: Any, **kwargs: Any) -> AzureNodeDriver:
    # An unreachable managed identity: it must never be the one asked.
    kwargs.setdefault("metadata_endpoint", "http://127.0.0.1:9")
    return AzureNodeDriver(*args, endpoint=fake.base_url, authority=fake.base_url,
                           resource_group="overcast-rg", **kwargs)


def _certificate(directory: Path, fake: AzureComputeFixture) -> Path:
    """A self-signed certificate registered with the fixture for CERT_CLIENT,
    written as one PEM file with its key (azure-identity's format)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "overcast-app")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER),
                              usedforsecurity=False).digest()
    fake.certificates[CERT_CLIENT] = (thumbprint, key.public_key())
    path = directory / "app.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
                     + cert.public_bytes(serialization.Encoding.PEM))
    return path


class _Token(NamedTuple):
    token: str
    expires_on: int


class _Credential:
    """azure-identity's TokenCredential protocol, handing out fixture tokens."""

    def __init__(self, fake: AzureComputeFixture) -> None:
        self.fake = fake
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> _Token:
        self.scopes.append(scopes)
        return _Token(self.fake.issue(), int(datetime.datetime.now().timestamp()) + 3600)


def _tokens(fake: AzureComputeFixture) -> int:
    return fake.count("POST", "/oauth2/v2.0/token")


@pytest.mark.parametrize("mode", MODES)
def test_a_client_secret_from_the_environment(fake: AzureComputeFixture,
                                              monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    driver = _driver(fake)
    assert driver.credential_source == "environment (AZURE_CLIENT_SECRET)"
    assert call(mode, driver, "list_nodes") == []
    assert _tokens(fake) == 1
    assert CLIENT_SECRET not in repr(driver)


@pytest.mark.parametrize("mode", MODES)
def test_a_certificate_from_the_environment(fake: AzureComputeFixture, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    path = _certificate(tmp_path, fake)
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CERT_CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", str(path))
    driver = _driver(fake, subscription_id=SUBSCRIPTION)
    assert driver.credential_source == f"environment (AZURE_CLIENT_CERTIFICATE_PATH {path})"
    assert call(mode, driver, "list_nodes") == []
    assert _tokens(fake) == 1


def test_a_certificate_the_directory_does_not_know_is_refused(
        fake: AzureComputeFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _certificate(tmp_path, fake)
    fake.certificates.clear()
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CERT_CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", str(path))
    with pytest.raises(InvalidCredentials, match="AADSTS700027") as caught:
        _driver(fake, subscription_id=SUBSCRIPTION).list_nodes()
    assert "PRIVATE KEY" not in str(caught.value)


@pytest.mark.parametrize("mode", MODES)
def test_a_token_credential_object(fake: AzureComputeFixture, mode: str) -> None:
    credential = _Credential(fake)
    driver = _driver(fake, subscription_id=SUBSCRIPTION, credential=credential)
    assert driver.credential_source == "credential= (_Credential)"
    assert call(mode, driver, "list_nodes") == []
    assert call(mode, driver, "list_nodes") == []
    assert credential.scopes == [("https://management.azure.com/.default",)]  # cached
    assert _tokens(fake) == 0


def test_the_managed_identity_comes_last(fake: AzureComputeFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", "user-assigned-id")  # without a tenant: an identity
    driver = _driver(fake)
    assert driver.credential_source == "managed identity (Azure IMDS)"
    assert driver._identity is not None and driver._principal is None


def test_nothing_is_consulted_when_credentials_are_given(
        fake: AzureComputeFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment names another app with a wrong secret and a missing
    certificate: had it been used, the token request would fail."""
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", "not-this-one")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "wrong")
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", str(tmp_path / "absent.pem"))
    driver = _driver(fake, TENANT, SUBSCRIPTION, CLIENT_ID, CLIENT_SECRET)
    assert driver.credential_source == "explicit"
    assert driver.list_nodes() == []
    assert driver._identity is None and driver._principal is None
    credential = _Credential(fake)
    driver = _driver(fake, TENANT, SUBSCRIPTION, CLIENT_ID, CLIENT_SECRET, credential=credential)
    assert driver.list_nodes() == []
    assert credential.scopes == []


def test_environment_credentials_need_a_subscription(fake: AzureComputeFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
    with pytest.raises(InvalidInput, match="AZURE_SUBSCRIPTION_ID"):
        _driver(fake)
    with pytest.raises(InvalidCredentials, match="get_token"):
        _driver(fake, subscription_id=SUBSCRIPTION, credential=object())


# -- Azure Blobs -------------------------------------------------------------------------

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def test_blobs_from_the_connection_string_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
                       "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;")
    driver = AzureBlobsStorageDriver()
    assert driver.credential_source == "environment (AZURE_STORAGE_CONNECTION_STRING)"
    assert driver.account == "devstoreaccount1"
    assert driver.endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert KEY not in repr(driver)


def test_blobs_from_account_and_key_or_sas(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "acct")
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "?sv=2024&sig=abc")
    driver = AzureBlobsStorageDriver()
    assert driver.endpoint == "https://acct.blob.core.windows.net"
    assert driver.credential_source.endswith("AZURE_STORAGE_SAS_TOKEN)")
    monkeypatch.setenv("AZURE_STORAGE_KEY", KEY)
    assert AzureBlobsStorageDriver().credential_source.endswith("AZURE_STORAGE_KEY)")


def test_blobs_given_credentials_ignore_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=other;AccountKey=bad")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "other")
    driver = AzureBlobsStorageDriver("mine", KEY)
    assert driver.account == "mine" and driver.credential_source == "explicit"
    sas = AzureBlobsStorageDriver(endpoint="https://mine.blob.core.windows.net",
                                  sas_token="sv=1&sig=x")
    assert sas.account == "mine" and sas.credential_source == "explicit"
