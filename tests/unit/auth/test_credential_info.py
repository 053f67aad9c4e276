"""credential_info: where each kind of driver's credentials came from, with
the secret as a Secret (never printed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from overcast.auth.sources import credential_info
from overcast.compute.drivers.openstack import OpenStackNodeDriver
from overcast.dns.drivers.google import GoogleDNSDriver
from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
from overcast.storage.drivers.local import LocalStorageDriver
from overcast.storage.drivers.s3 import S3StorageDriver

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("AWS_", "AZURE_", "OS_", "GOOGLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))


def test_aws_from_the_environment_and_from_instance_metadata(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    info = credential_info(S3StorageDriver())
    assert info is not None
    assert (info.provider, info.source, info.identity) == ("aws", "environment", "AKIDENV")
    assert str(info.secret) == "***" and "env-secret" not in repr(info)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    info = credential_info(S3StorageDriver())
    assert info is not None and info.source == "instance metadata (IMDSv2)"
    assert info.identity is None and info.secret is None  # nothing fetched


def test_google_azure_and_openstack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    info = credential_info(GoogleDNSDriver(project="p"))
    assert info is not None and info.provider == "google"
    assert info.source == f"GOOGLE_APPLICATION_CREDENTIALS ({path})"
    info = credential_info(AzureBlobsStorageDriver("acct", KEY))
    assert info is not None and (info.provider, info.source, info.identity) == (
        "azure", "explicit", "acct")
    assert KEY not in repr(info)
    monkeypatch.setenv("OS_AUTH_URL", "http://keystone.test/v3")
    monkeypatch.setenv("OS_USERNAME", "u")
    monkeypatch.setenv("OS_PASSWORD", "pw-secret")
    monkeypatch.setenv("OS_PROJECT_NAME", "p")
    info = credential_info(OpenStackNodeDriver(None))
    assert info is not None and (info.provider, info.source, info.identity) == (
        "openstack", "environment (OS_*)", "u")
    assert "pw-secret" not in repr(info)


def test_a_driver_without_found_credentials_has_none(tmp_path: Path) -> None:
    assert credential_info(LocalStorageDriver(str(tmp_path))) is None
