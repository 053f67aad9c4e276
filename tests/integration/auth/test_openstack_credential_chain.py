"""OpenStack credentials found as openstacksdk finds them: ``OS_CLOUD`` in
``clouds.yaml`` (``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``,
``~/.config/openstack/clouds.yaml``; ``secure.yaml`` beside it), else the
``OS_*`` variables of an openrc file. End to end through the OpenStack compute
driver and its Keystone fixture; nothing consulted when credentials are given.
``HOME`` and the working directory are temporary."""

from __future__ import annotations

from pathlib import Path

import pytest

from overcast.compute.drivers.openstack import OpenStackNodeDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.testing import MODES
from overcast.testing import call
from servers.compute_openstack import APP_CRED_ID
from servers.compute_openstack import APP_CRED_SECRET
from servers.compute_openstack import PASSWORD
from servers.compute_openstack import PROJECT
from servers.compute_openstack import USERNAME
from servers.compute_openstack import OpenStackFake
from servers.compute_openstack import serve


@pytest.fixture
def fake(request: pytest.FixtureRequest, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> OpenStackFake:
    import os

    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return serve(request)


def _clouds(fake: OpenStackFake, *, password: bool = True) -> str:
    secret = f"      password: {PASSWORD}\n" if password else ""
    return (
        "clouds:\n"
        "  fixture:\n"
        "    auth:\n"
        f"      auth_url: {fake.base_url}/identity/v3\n"
        f"      username: {USERNAME}\n"
        f"{secret}"
        f"      project_name: {PROJECT}\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        "    region_name: RegionOne\n"
        "    interface: public\n"
        "  appcred:\n"
        "    auth_type: v3applicationcredential\n"
        "    auth:\n"
        f"      auth_url: {fake.base_url}/identity/v3\n"
        f"      application_credential_id: {APP_CRED_ID}\n"
        f"      application_credential_secret: {APP_CRED_SECRET}\n"
        "    region_name: RegionOne\n"
    )


def _check(mode: str, driver: OpenStackNodeDriver) -> None:
    assert isinstance(call(mode, driver, "list_sizes"), list)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["cwd", "home", "OS_CLIENT_CONFIG_FILE"])
def test_a_cloud_named_by_os_cloud(fake: OpenStackFake, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, where: str,
                                   mode: str) -> None:
    path = {"cwd": tmp_path / "work" / "clouds.yaml",
            "home": tmp_path / "home" / ".config" / "openstack" / "clouds.yaml",
            "OS_CLIENT_CONFIG_FILE": tmp_path / "elsewhere.yaml"}[where]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_clouds(fake))
    if where == "OS_CLIENT_CONFIG_FILE":
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    monkeypatch.setenv("OS_CLOUD", "fixture")
    driver = OpenStackNodeDriver(None)
    assert driver.credential_source == f"clouds.yaml ({path}) cloud 'fixture'"
    assert driver.region == "RegionOne"
    _check(mode, driver)
    assert PASSWORD not in repr(driver)


def test_the_working_directory_comes_before_home(fake: OpenStackFake, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "work" / "clouds.yaml").write_text(_clouds(fake))
    home = tmp_path / "home" / ".config" / "openstack"
    home.mkdir(parents=True)
    (home / "clouds.yaml").write_text("clouds: {fixture: {auth: {auth_url: 'http://no'}}}\n")
    monkeypatch.setenv("OS_CLOUD", "fixture")
    _check("sync", OpenStackNodeDriver(None))


def test_secure_yaml_adds_the_password(fake: OpenStackFake, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "home" / ".config" / "openstack"
    config.mkdir(parents=True)
    (config / "clouds.yaml").write_text(_clouds(fake, password=False))
    (config / "secure.yaml").write_text(f"clouds:\n  fixture:\n    auth:\n"
                                        f"      password: {PASSWORD}\n")
    monkeypatch.setenv("OS_CLOUD", "fixture")
    _check("sync", OpenStackNodeDriver(None))


@pytest.mark.parametrize("mode", MODES)
def test_an_application_credential_in_clouds_yaml(fake: OpenStackFake, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  mode: str) -> None:
    (tmp_path / "work" / "clouds.yaml").write_text(_clouds(fake))
    monkeypatch.setenv("OS_CLOUD", "appcred")
    driver = OpenStackNodeDriver(None)
    _check(mode, driver)
    assert APP_CRED_SECRET not in repr(driver)


@pytest.mark.parametrize("mode", MODES)
def test_openrc_variables(fake: OpenStackFake, monkeypatch: pytest.MonkeyPatch,
                          mode: str) -> None:
    for name, value in {"OS_AUTH_URL": f"{fake.base_url}/identity/v3",
                        "OS_USERNAME": USERNAME, "OS_PASSWORD": PASSWORD,
                        "OS_PROJECT_NAME": PROJECT, "OS_USER_DOMAIN_NAME": "Default",
                        "OS_PROJECT_DOMAIN_NAME": "Default",
                        "OS_REGION_NAME": "RegionOne"}.items():
        monkeypatch.setenv(name, value)
    driver = OpenStackNodeDriver(None)
    assert driver.credential_source == "environment (OS_*)"
    _check(mode, driver)


def test_openrc_application_credential(fake: OpenStackFake,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_AUTH_URL", f"{fake.base_url}/identity/v3")
    monkeypatch.setenv("OS_APPLICATION_CREDENTIAL_ID", APP_CRED_ID)
    monkeypatch.setenv("OS_APPLICATION_CREDENTIAL_SECRET", APP_CRED_SECRET)
    monkeypatch.setenv("OS_REGION_NAME", "RegionOne")
    _check("sync", OpenStackNodeDriver(None))


def test_an_unknown_cloud_is_invalid_credentials(fake: OpenStackFake, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "work" / "clouds.yaml").write_text(_clouds(fake))
    monkeypatch.setenv("OS_CLOUD", "nowhere")
    with pytest.raises(InvalidCredentials, match="nowhere"):
        OpenStackNodeDriver(None)


def test_nothing_found_is_invalid_input(fake: OpenStackFake) -> None:
    with pytest.raises(InvalidInput, match="OS_CLOUD"):
        OpenStackNodeDriver(None)


def test_nothing_is_consulted_when_credentials_are_given(
        fake: OpenStackFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``OS_CLOUD`` names a cloud that no file holds and ``clouds.yaml`` is not
    YAML: had either been read, the driver could not be made."""
    (tmp_path / "work" / "clouds.yaml").write_text("clouds: [unclosed\n")
    monkeypatch.setenv("OS_CLOUD", "nowhere")
    monkeypatch.setenv("OS_AUTH_URL", "http://127.0.0.1:9/v3")
    monkeypatch.setenv("OS_PASSWORD", "wrong")
    driver = OpenStackNodeDriver(USERNAME, PASSWORD, auth_url=f"{fake.base_url}/identity/v3",
                                 project=PROJECT, region="RegionOne")
    assert driver.credential_source == "explicit"
    _check("sync", driver)
