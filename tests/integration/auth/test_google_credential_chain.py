"""Google credentials found as Google's client libraries find them: the file
named by ``GOOGLE_APPLICATION_CREDENTIALS`` (a service-account key or an
authorized user's refresh token), gcloud's application-default file, then the
metadata server's token source. End to end through the Cloud DNS driver and
its fixture (whose token endpoint checks JWT assertions and refresh tokens);
none is consulted when credentials are given. ``HOME`` is a temporary
directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from overcast.auth.google_oauth import AccessToken
from overcast.auth.google_oauth import GoogleCredentials
from overcast.dns.drivers.google import GoogleDNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.runtime.effects import Op
from overcast.runtime.redact import Secret
from overcast.testing import MODES
from overcast.testing import call
from servers.dns_google import PROJECT
from servers.dns_google import GoogleDNSFixture
from servers.dns_google import fixture_server
from servers.dns_google import key_file
from servers.google_metadata import serve as serve_metadata

USER = ("1234.apps.googleusercontent.com", "user-client-secret", "1//user-refresh-token")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> GoogleDNSFixture:
    found = fixture_server(request)
    found.users[USER[0]] = (USER[1], USER[2])
    return found


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "GCE_METADATA_HOST",
                 "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    place = tmp_path / "home"
    place.mkdir()
    monkeypatch.setenv("HOME", str(place))
    return place


def _user_file(path: Path, server: GoogleDNSFixture) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "type": "authorized_user", "client_id": USER[0], "client_secret": USER[1],
        "refresh_token": USER[2], "token_uri": f"{server.base_url}/token",
        "quota_project_id": PROJECT,
    }))
    return path


def _driver(server: GoogleDNSFixture, **kwargs: Any) -> GoogleDNSDriver:
    return GoogleDNSDriver(project=PROJECT, endpoint=f"{server.base_url}/dns/v1", **kwargs)


def _tokens(server: GoogleDNSFixture) -> int:
    return server.count("POST", "/token")


@pytest.mark.parametrize("mode", MODES)
def test_a_service_account_named_by_the_environment(
        server: GoogleDNSFixture, home: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    path = key_file(home, server)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    driver = _driver(server)
    assert driver._google.source == f"GOOGLE_APPLICATION_CREDENTIALS ({path})"
    before = _tokens(server)
    assert isinstance(call(mode, driver, "list_zones"), list)
    assert _tokens(server) == before + 1


@pytest.mark.parametrize("mode", MODES)
def test_an_authorized_user_named_by_the_environment(
        server: GoogleDNSFixture, home: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    path = _user_file(home / "user.json", server)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    driver = _driver(server)
    assert isinstance(call(mode, driver, "list_zones"), list)
    for secret in (USER[1], USER[2]):
        assert secret not in repr(driver) and secret not in repr(driver._google.account)


@pytest.mark.parametrize("where", ["home", "CLOUDSDK_CONFIG"])
def test_the_gcloud_application_default_file(server: GoogleDNSFixture, home: Path,
                                             monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    config = home / ".config" / "gcloud"
    if where == "CLOUDSDK_CONFIG":
        config = home / "elsewhere"
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(config))
    path = _user_file(config / "application_default_credentials.json", server)
    driver = _driver(server)
    assert driver._google.source == f"gcloud application-default credentials ({path})"
    assert isinstance(driver.list_zones(), list)


def test_the_environment_comes_before_the_gcloud_file(server: GoogleDNSFixture, home: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (home / ".config" / "gcloud").mkdir(parents=True)
    (home / ".config" / "gcloud" / "application_default_credentials.json").write_text("{bad")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file(home, server)))
    assert isinstance(_driver(server).list_zones(), list)


class _Metadata:
    """A stand-in for the metadata server's token source, counting its use."""

    made = 0

    def __init__(self) -> None:
        type(self).made += 1
        self.calls = 0

    def token(self) -> Op[AccessToken]:
        self.calls += 1
        return AccessToken(Secret("ya29.metadata"), 1e12)
        yield  # an operation with no effect to ask for


def _run(op: Op[Any]) -> Any:
    try:
        next(op)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the operation asked for an effect")


def _credentials(**kwargs: Any) -> GoogleCredentials:
    options: dict[str, Any] = {"key": None, "secret": None, "credentials_file": None,
                               "credentials_info": None, "token_uri": None,
                               "scope": "s", "driver": None, "missing": "give credentials"}
    options.update(kwargs)
    return GoogleCredentials(**options)


def test_the_metadata_server_comes_last(home: Path) -> None:
    found = _credentials(metadata=_Metadata)
    assert found.source == "GCE metadata server"
    assert _run(found.token()).token.reveal() == "ya29.metadata"


def test_nothing_found_without_a_metadata_source_is_invalid_input(home: Path) -> None:
    with pytest.raises(InvalidInput, match="GOOGLE_APPLICATION_CREDENTIALS"):
        _credentials()


def test_no_source_is_consulted_when_credentials_are_given(
        server: GoogleDNSFixture, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment names a missing file and the gcloud file is garbage: had
    either been read, the call would fail. The metadata source is never made."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(home / "absent.json"))
    (home / ".config" / "gcloud").mkdir(parents=True)
    (home / ".config" / "gcloud" / "application_default_credentials.json").write_text("{bad")
    _Metadata.made = 0
    explicit = key_file(home, server)
    driver = _driver(server, credentials_file=explicit)
    assert isinstance(driver.list_zones(), list)
    assert driver._google.source == f"credentials_file ({explicit})"
    given = _credentials(credentials_file=explicit, metadata=_Metadata)
    assert given.source.startswith("credentials_file")
    assert _Metadata.made == 0


def test_files_come_before_the_metadata_server(server: GoogleDNSFixture, home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _Metadata.made = 0
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file(home, server)))
    assert _credentials(metadata=_Metadata).source.startswith("GOOGLE_APPLICATION_CREDENTIALS")
    assert _Metadata.made == 0


def test_a_refused_refresh_token_is_invalid_credentials(
        server: GoogleDNSFixture, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = home / "user.json"
    _user_file(path, server)
    info = json.loads(path.read_text())
    info["refresh_token"] = "1//revoked"
    path.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    with pytest.raises(InvalidCredentials) as caught:
        _driver(server).list_zones()
    assert "1//revoked" not in str(caught.value) and USER[1] not in str(caught.value)


@pytest.mark.parametrize("mode", MODES)
def test_the_metadata_server_after_the_files(server: GoogleDNSFixture, home: Path,
                                             monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """No file anywhere: the Cloud DNS driver's tokens come from the metadata
    server (a fixture handing out the DNS fixture's tokens)."""
    with serve_metadata(server, PROJECT, "us-central1-a") as (metadata, url):
        monkeypatch.setenv("GCE_METADATA_HOST", url.removeprefix("http://"))
        driver = _driver(server)
        assert driver._google.source == "GCE metadata server"
        before = _tokens(server)
        assert isinstance(call(mode, driver, "list_zones"), list)
        assert metadata.token_fetches == 1
        assert _tokens(server) == before  # no JWT exchange
        assert len(driver._companions) == 1  # the metadata client, closed with the driver


def test_the_metadata_server_is_not_asked_when_a_file_is_found(
        server: GoogleDNSFixture, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_metadata(server, PROJECT, "us-central1-a") as (metadata, url):
        monkeypatch.setenv("GCE_METADATA_HOST", url.removeprefix("http://"))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file(home, server)))
        assert isinstance(_driver(server).list_zones(), list)
        assert isinstance(_driver(server, credentials_file=key_file(home, server)).list_zones(),
                          list)
        assert metadata.token_fetches == 0


def test_the_gce_driver_takes_the_files_before_the_metadata_server(
        server: GoogleDNSFixture, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from overcast.compute.drivers.gce import GCENodeDriver

    path = key_file(home, server)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    driver = GCENodeDriver()
    assert driver._metadata is None and driver._google is not None
    assert driver._google.source == f"GOOGLE_APPLICATION_CREDENTIALS ({path})"
    assert driver.project == PROJECT
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    assert GCENodeDriver()._metadata is not None  # nothing found: the metadata server
