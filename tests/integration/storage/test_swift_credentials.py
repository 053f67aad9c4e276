"""The Swift driver finds Keystone credentials as openstacksdk does, through
the OpenStack chain of overcast.auth (``OS_CLOUD`` in ``clouds.yaml``, else the
``OS_*`` variables), end to end against the real Swift behind a small Keystone;
explicit credentials are used as given, the chain not consulted; ``overcast
profile show`` names the source. ``HOME`` and the working directory are
temporary."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overcast.auth.sources import credential_info
from overcast.cli.app import app
from overcast.errors import InvalidInput
from overcast.storage.drivers.swift import SwiftStorageDriver
from servers.modes import call
from servers.swift_keystone import KeystoneFixture
from servers.swift_server import KEY
from servers.swift_server import SwiftServer
from servers.swift_server import swift_server

pytestmark = pytest.mark.server


@pytest.fixture
def keystone(request: pytest.FixtureRequest, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[KeystoneFixture]:
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    srv: SwiftServer = swift_server(request)
    fixture = KeystoneFixture(srv)
    yield fixture
    fixture.close()


def _clouds(keystone: KeystoneFixture) -> str:
    return ("clouds:\n"
            "  swiftcloud:\n"
            "    auth:\n"
            f"      auth_url: {keystone.url}\n"
            "      username: tester\n"
            f"      password: {KEY}\n"
            "      project_name: test\n"
            "    region_name: RegionOne\n")


def _round_trip(mode: str, driver: SwiftStorageDriver) -> None:
    name = f"chain-{uuid.uuid4().hex[:10]}"
    with driver:
        call(mode, driver, "create_container", name)
        call(mode, driver, "upload_object_via_stream", iter([b"found"]), name, "k")
        obj = call(mode, driver, "get_object", name, "k")
        assert call(mode, driver, "download_object_as_stream", obj) == b"found"
        call(mode, driver, "delete_object", obj)
        call(mode, driver, "delete_container", name)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_cloud_in_clouds_yaml(keystone: KeystoneFixture, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    path = tmp_path / "home" / ".config" / "openstack" / "clouds.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(_clouds(keystone))
    monkeypatch.setenv("OS_CLOUD", "swiftcloud")
    driver = SwiftStorageDriver()
    assert driver.credential_source == f"clouds.yaml ({path}) cloud 'swiftcloud'"
    assert driver.auth_version == "3" and driver.region == "RegionOne"
    _round_trip(mode, driver)
    assert len(keystone.posts) == 1
    assert keystone.posts[0]["auth"]["scope"]["project"]["name"] == "test"
    assert KEY not in repr(driver)
    info = credential_info(driver)
    assert info is not None and info.provider == "openstack"
    assert info.source == driver.credential_source and info.identity == "tester"


def test_openrc_variables(keystone: KeystoneFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"OS_AUTH_URL": keystone.url, "OS_USERNAME": "tester",
                        "OS_PASSWORD": KEY, "OS_PROJECT_NAME": "test",
                        "OS_REGION_NAME": "RegionOne"}.items():
        monkeypatch.setenv(name, value)
    driver = SwiftStorageDriver()
    assert driver.credential_source == "environment (OS_*)"
    _round_trip("sync", driver)
    assert len(keystone.posts) == 1


def test_nothing_found_is_invalid_input(keystone: KeystoneFixture) -> None:
    with pytest.raises(InvalidInput, match="OS_CLOUD"):
        SwiftStorageDriver()


def test_explicit_credentials_consult_nothing(keystone: KeystoneFixture, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``OS_CLOUD`` names a cloud no file holds and ``clouds.yaml`` is not YAML:
    had either been read, the driver could not be made; the Keystone fixture is
    never asked (TempAuth as given)."""
    (tmp_path / "work" / "clouds.yaml").write_text("clouds: [unclosed\n")
    monkeypatch.setenv("OS_CLOUD", "nowhere")
    monkeypatch.setenv("OS_AUTH_URL", "http://127.0.0.1:9/v3")
    monkeypatch.setenv("OS_PASSWORD", "wrong")
    srv: SwiftServer = keystone.swift
    driver = SwiftStorageDriver("test:tester", KEY, auth_url=srv.auth_url)
    assert driver.credential_source == "explicit" and driver.auth_version == "1.0"
    _round_trip("sync", driver)
    assert keystone.posts == []
    info = credential_info(driver)
    assert info is not None and info.source == "explicit" and str(info.secret) == "***"


def test_profile_show_names_the_source(keystone: KeystoneFixture, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "work" / "clouds.yaml").write_text(_clouds(keystone))
    monkeypatch.setenv("OS_CLOUD", "swiftcloud")
    monkeypatch.setenv("OVERCAST_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("OVERCAST_SECRET_STORE", "file")
    runner = CliRunner()
    added = runner.invoke(app, ["profile", "add", "sw", "--driver", "swift"])
    assert added.exit_code == 0, added.output
    shown = runner.invoke(app, ["profile", "show", "--json", "sw"])
    assert shown.exit_code == 0, shown.output
    row = json.loads(shown.stdout)
    assert row["credentials from"] == (
        f"clouds.yaml ({tmp_path / 'work' / 'clouds.yaml'}) cloud 'swiftcloud'")
    assert row["identity"] == "tester"
    assert KEY not in shown.output
    listed = runner.invoke(app, ["ls", "sw:"])
    assert listed.exit_code == 0, listed.output
