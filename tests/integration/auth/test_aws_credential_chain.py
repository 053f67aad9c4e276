"""AWS credentials found where the AWS CLI looks, end to end through the S3
driver: each source of the chain supplies the key the request is signed with
(checked by a stand-in API that records the signature's key id and session
token), and none is consulted when explicit credentials are given.

STS (AssumeRole, AssumeRoleWithWebIdentity) is moto's; instance metadata
(IMDSv2) and container credentials are the fixture of
``tests/servers/aws_metadata.py``; ``credential_process`` is a small Python
program written by the test. ``HOME`` is a temporary directory: the real
user's files are never read.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

import overcast.auth.aws_credentials as chain
from overcast.auth.aws_credentials import AwsCredentialSource
from overcast.auth.aws_sigv4 import AwsCredentials
from overcast.errors import InvalidCredentials
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.testing import MODES
from overcast.testing import call
from servers.aws_metadata import AwsMetadata
from servers.aws_metadata import aws_metadata
from servers.moto_server import moto_server
from servers.pauses import record_pauses
from servers.procs import free_port

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SSO",
)
ROLE = "arn:aws:iam::123456789012:role/overcast-test"


@dataclass
class World:
    """One test's machine: its home, environment and servers."""

    home: Path
    monkeypatch: pytest.MonkeyPatch
    meta: AwsMetadata
    request: pytest.FixtureRequest

    def setenv(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)

    def write(self, relative: str, text: str) -> Path:
        path = self.home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def sts(self) -> str:
        return moto_server(self.request).url

    def driver(self, *args: Any, **kwargs: Any) -> S3StorageDriver:
        return S3StorageDriver(*args, endpoint=self.meta.url, **kwargs)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          request: pytest.FixtureRequest) -> Iterator[World]:
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with aws_metadata() as meta:
        # Instance metadata is the chain's last step: here it is the fixture,
        # never the network's 169.254.169.254.
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", meta.url)
        yield World(home, monkeypatch, meta, request)


@dataclass
class Expect:
    """What a source should supply."""

    key: Callable[[str], bool]
    token: Callable[[str | None], bool]
    source: str
    marker: Path | None = None  # a file the source leaves when it is consulted


def _is(value: str | None) -> Callable[[Any], bool]:
    return lambda got: got == value


def _temporary(got: str | None) -> bool:
    return bool(got) and str(got).startswith("ASIA")


def env_keys(w: World) -> Expect:
    w.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    w.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    w.setenv("AWS_SESSION_TOKEN", "env-token")
    return Expect(_is("AKIDENV"), _is("env-token"), "environment")


def credentials_file(w: World) -> Expect:
    w.write(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                                "aws_secret_access_key = file-secret\n")
    return Expect(_is("AKIDFILE"), _is(None), ".aws/credentials [default]")


def named_profile_in_config(w: World) -> Expect:
    w.write(".aws/config", "[default]\nregion = eu-west-1\n\n[profile dev]\n"
                           "aws_access_key_id = AKIDCONFIG\naws_secret_access_key = cs\n"
                           "aws_session_token = config-token\n")
    w.write(".aws/credentials", "[default]\naws_access_key_id = AKIDWRONG\n"
                                "aws_secret_access_key = w\n")
    w.setenv("AWS_PROFILE", "dev")
    return Expect(_is("AKIDCONFIG"), _is("config-token"), ".aws/config [profile dev]")


def files_named_by_variables(w: World) -> Expect:
    path = w.write("elsewhere/creds", "[default]\naws_access_key_id = AKIDMOVED\n"
                                      "aws_secret_access_key = m\n")
    w.write(".aws/credentials", "[default]\naws_access_key_id = AKIDWRONG\n"
                                "aws_secret_access_key = w\n")
    w.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    w.setenv("AWS_CONFIG_FILE", str(w.home / "elsewhere" / "config"))
    return Expect(_is("AKIDMOVED"), _is(None), "elsewhere/creds [default]")


def credential_process(w: World) -> Expect:
    marker = w.home / "process-ran"
    program = w.write("bin/creds.py", (
        "import json, pathlib, sys\n"
        f"pathlib.Path({str(marker)!r}).write_text('ran')\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'AKIDPROCESS',\n"
        "    'SecretAccessKey': 'process-secret', 'SessionToken': 'process-token',\n"
        "    'Expiration': '2099-01-01T00:00:00Z'}))\n"))
    w.write(".aws/config", f"[profile build]\ncredential_process = {sys.executable} "
                           f"'{program}' --role build\n")
    w.setenv("AWS_PROFILE", "build")
    return Expect(_is("AKIDPROCESS"), _is("process-token"), "credential_process (profile build)",
                  marker)


def assume_role(w: World) -> Expect:
    w.write(".aws/credentials", "[base]\naws_access_key_id = AKIDBASE\n"
                                "aws_secret_access_key = base-secret\n")
    w.write(".aws/config", f"[default]\nrole_arn = {ROLE}\nsource_profile = base\n"
                           "role_session_name = overcast-test\n")
    w.setenv("AWS_ENDPOINT_URL_STS", w.sts())
    return Expect(_temporary, bool, f"assume role {ROLE} (profile default, from profile base)")


def web_identity(w: World) -> Expect:
    token = w.write("web-token", "eyJ.a-web-identity-token.sig")
    w.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    w.setenv("AWS_ROLE_ARN", ROLE)
    w.setenv("AWS_ENDPOINT_URL_STS", w.sts())
    return Expect(_temporary, bool, f"environment (web identity): {ROLE}")


def _sso_cache(w: World, key: str, token: str, expires: str = "2099-01-01T00:00:00Z") -> Path:
    """The token cache file ``aws sso login`` writes (named by the SHA-1 of the
    session name, or of the start URL for a legacy profile)."""
    import hashlib
    import json

    name = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
    return w.write(f".aws/sso/cache/{name}.json", json.dumps({
        "startUrl": "https://example.awsapps.com/start", "region": "eu-west-1",
        "accessToken": token, "expiresAt": expires,
        "clientId": "client", "clientSecret": "client-secret",
        "registrationExpiresAt": "2099-01-01T00:00:00Z", "refreshToken": "refresh"}))


def sso_session(w: World) -> Expect:
    w.meta.state.sso_token = "sso-access-token"
    account, role = w.meta.state.sso_role
    w.write(".aws/config", f"[profile dev]\nsso_session = corp\nsso_account_id = {account}\n"
                           f"sso_role_name = {role}\nregion = eu-west-1\n\n"
                           "[sso-session corp]\nsso_region = eu-west-1\n"
                           "sso_start_url = https://example.awsapps.com/start\n"
                           "sso_registration_scopes = sso:account:access\n")
    _sso_cache(w, "corp", "sso-access-token")
    w.setenv("AWS_PROFILE", "dev")
    w.setenv("AWS_ENDPOINT_URL_SSO", w.meta.url)
    return Expect(_is("ASIASSO1"), _is("token-SSO-1"),
                  f"IAM Identity Center (profile dev, sso-session corp): {account}/{role}")


def sso_legacy(w: World) -> Expect:
    w.meta.state.sso_token = "legacy-access-token"
    account, role = w.meta.state.sso_role
    w.write(".aws/config", "[default]\nsso_start_url = https://legacy.awsapps.com/start\n"
                           f"sso_region = us-east-2\nsso_account_id = {account}\n"
                           f"sso_role_name = {role}\n")
    _sso_cache(w, "https://legacy.awsapps.com/start", "legacy-access-token")
    w.setenv("AWS_ENDPOINT_URL_SSO", w.meta.url)
    return Expect(_is("ASIASSO1"), _is("token-SSO-1"), "IAM Identity Center (profile default")


def container(w: World) -> Expect:
    w.meta.state.ecs_token = "ecs-auth-token"
    w.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{w.meta.url}/ecs/credentials")
    token = w.write("ecs-token", "ecs-auth-token\n")
    w.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token))
    return Expect(_is("ASIAECS1"), _is("token-ECS-1"), "container credentials (ECS)")


def instance_metadata(w: World) -> Expect:
    return Expect(_is("ASIAIMDS1"), _is("token-IMDS-1"), "instance metadata (IMDSv2)")


SOURCES = [env_keys, credentials_file, named_profile_in_config, files_named_by_variables,
           credential_process, assume_role, web_identity, sso_session, sso_legacy, container,
           instance_metadata]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("setup", SOURCES, ids=[s.__name__ for s in SOURCES])
def test_each_source_supplies_the_signing_key(world: World, setup: Callable[[World], Expect],
                                              mode: str) -> None:
    expect = setup(world)
    driver = world.driver()
    assert expect.source in driver._credentials.source
    assert call(mode, driver, "list_containers") == []
    signed = world.meta.state.signed[-1]
    assert expect.key(signed.key), signed
    assert expect.token(signed.token), signed
    if isinstance(driver._credentials, AwsCredentialSource):
        assert driver._credentials.access_key == signed.key
        assert driver._credentials.fetches == 1
    if expect.marker is not None:
        assert expect.marker.exists()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("setup", SOURCES, ids=[s.__name__ for s in SOURCES])
def test_no_source_is_consulted_when_credentials_are_given(
        world: World, setup: Callable[[World], Expect], mode: str) -> None:
    expect = setup(world)
    # STS, if it were asked, would be the fixture: it counts, and refuses.
    world.setenv("AWS_ENDPOINT_URL_STS", world.meta.url)

    def consulted(**kwargs: Any) -> Any:
        raise AssertionError("the credential chain was consulted")

    world.monkeypatch.setattr(chain, "resolve_aws_credentials", consulted)
    driver = world.driver("AKIDEXPLICIT", "explicit-secret")
    assert driver._credentials.source == "explicit"
    assert call(mode, driver, "list_containers") == []
    assert [(s.key, s.token) for s in world.meta.state.signed] == [("AKIDEXPLICIT", None)]
    assert world.meta.credential_hits() == 0
    assert world.meta.state.hits["/"] == 1  # the API request, and nothing else
    if expect.marker is not None:
        assert not expect.marker.exists()


def test_an_explicit_profile_skips_the_environment(world: World) -> None:
    env_keys(world)
    world.write(".aws/credentials", "[ops]\naws_access_key_id = AKIDOPS\n"
                                    "aws_secret_access_key = ops\n")
    driver = world.driver(profile="ops")
    assert driver.list_containers() == []
    assert world.meta.state.signed[-1].key == "AKIDOPS"


def test_a_missing_named_profile_is_invalid_credentials(world: World) -> None:
    world.write(".aws/credentials", "[default]\naws_access_key_id = A\naws_secret_access_key = B\n")
    world.setenv("AWS_PROFILE", "nope")
    with pytest.raises(InvalidCredentials, match="no AWS profile 'nope'"):
        world.driver()
    assert world.meta.credential_hits() == 0


def test_nothing_anywhere_with_metadata_disabled_is_invalid_credentials(world: World) -> None:
    world.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(InvalidCredentials, match="instance metadata is disabled"):
        world.driver()


def test_a_role_assumed_through_a_chain_of_profiles(world: World) -> None:
    """``source_profile`` naming a profile that itself assumes a role: two
    AssumeRole calls, the second signed with the first's credentials."""
    world.write(".aws/credentials", "[root]\naws_access_key_id = AKIDROOT\n"
                                    "aws_secret_access_key = root\n")
    world.write(".aws/config", f"[profile middle]\nrole_arn = {ROLE}-1\nsource_profile = root\n"
                               f"\n[profile top]\nrole_arn = {ROLE}-2\nsource_profile = middle\n")
    world.setenv("AWS_ENDPOINT_URL_STS", world.sts())
    driver = world.driver(profile="top")
    assert driver.list_containers() == []
    assert _temporary(world.meta.state.signed[-1].key)


def test_the_container_refuses_a_wrong_authorization_token(world: World) -> None:
    container(world)
    world.meta.state.ecs_token = "another"
    with pytest.raises(InvalidCredentials, match="container credentials"):
        world.driver().list_containers()
    assert world.meta.state.signed == []


def test_the_region_comes_from_the_environment_then_the_profile(world: World) -> None:
    world.write(".aws/config", "[default]\nregion = eu-west-3\n[profile x]\nregion = ap-south-1\n")
    env_keys(world)
    assert S3StorageDriver().region == "eu-west-3"
    assert S3StorageDriver(profile="x", key="k", secret="s").region == "ap-south-1"
    world.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert S3StorageDriver().region == "us-west-2"
    world.setenv("AWS_REGION", "ca-central-1")
    assert S3StorageDriver().region == "ca-central-1"
    assert S3StorageDriver(region="eu-north-1").region == "eu-north-1"
    # An S3-compatible endpoint keeps the driver's own default.
    assert world.driver().region == "us-east-1"


# -- temporary credentials: renewed before they expire, fetched once at a time --------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """``ahead[0]`` seconds added to ``time.time()`` (the runners and the
    fixture read it): expiry is reached by moving the clock, not by waiting."""
    real_time = time.time
    ahead = [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + ahead[0])
    return ahead


@pytest.mark.parametrize("mode", MODES)
def test_temporary_credentials_are_renewed_before_they_expire(
        world: World, clock: list[float], mode: str) -> None:
    driver = world.driver()  # instance metadata: credentials for an hour
    assert call(mode, driver, "list_containers") == []
    clock[0] = 3000.0  # ten minutes left: still used
    assert call(mode, driver, "list_containers") == []
    assert [s.key for s in world.meta.state.signed] == ["ASIAIMDS1", "ASIAIMDS1"]
    clock[0] = 3600.0 - 200  # within the five minutes before expiry: renewed first
    assert call(mode, driver, "list_containers") == []
    assert world.meta.state.signed[-1].key == "ASIAIMDS2"
    assert world.meta.state.hits["/latest/api/token"] == 2
    assert isinstance(driver._credentials, AwsCredentialSource)
    assert driver._credentials.fetches == 2


def test_fifty_concurrent_async_requests_fetch_once(world: World, clock: list[float]) -> None:
    container(world)
    driver = world.driver()

    async def main() -> None:
        async with driver.aio as view, anyio.create_task_group() as tasks:
            for _ in range(50):
                tasks.start_soon(view.list_containers)

    anyio.run(main)
    assert world.meta.state.hits["/ecs/credentials"] == 1
    assert len(world.meta.state.signed) == 50
    assert {s.key for s in world.meta.state.signed} == {"ASIAECS1"}
    clock[0] = 3500.0  # and again once they are about to expire: one more fetch
    anyio.run(main)
    assert world.meta.state.hits["/ecs/credentials"] == 2
    assert {s.key for s in world.meta.state.signed[50:]} == {"ASIAECS2"}


def test_no_fetched_secret_in_reprs_logs_or_errors(world: World,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    driver = world.driver()
    assert driver.list_containers() == []
    source = driver._credentials
    assert isinstance(source, AwsCredentialSource)
    current = source.current()
    texts = [repr(driver), repr(source), repr(current), str(current), caplog.text]
    for text in texts:
        for secret in ("secret-IMDS-1", "token-IMDS-1", "imds-session-1"):
            assert secret not in text


def test_the_current_credentials_are_static_values(world: World) -> None:
    credentials_file(world)
    found = AwsCredentials.resolve()
    assert isinstance(found, AwsCredentials)
    assert found.current() is found
    assert found.source.endswith(".aws/credentials [default]")
    assert "file-secret" not in repr(found)


@pytest.mark.parametrize("mode", MODES)
def test_no_instance_metadata_is_invalid_credentials_at_once(
        world: World, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Outside AWS the last step finds nothing: one attempt, no pause asked,
    InvalidCredentials naming the address tried; the driver's pools and the
    metadata client's are closed with it."""
    url = f"http://127.0.0.1:{free_port()}"
    world.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
    paused = record_pauses(monkeypatch)
    driver = world.driver()
    with pytest.raises(InvalidCredentials, match="instance metadata") as caught:
        call(mode, driver, "list_containers")
    assert url in str(caught.value)
    assert paused == []
    assert world.meta.state.signed == []
    assert len(driver._companions) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_presigned_url_fetches_temporary_credentials_first(world: World, mode: str) -> None:
    """Presigning sends nothing, but needs the key: instance metadata is asked
    first, and the URL carries its key id and session token."""
    from overcast.storage.base import Container
    from overcast.storage.base import Object

    driver = world.driver()
    obj = Object("a.txt", 0, "", {}, {}, Container("bucket", {}, driver), driver)
    url = call(mode, driver, "get_object_presigned_url", obj)
    assert "X-Amz-Credential=ASIAIMDS1%2F" in url
    assert "X-Amz-Security-Token=token-IMDS-1" in url
    assert world.meta.state.hits["/latest/api/token"] == 1


@pytest.mark.parametrize("setup", [assume_role, web_identity, credential_process, container],
                         ids=["assume_role", "web_identity", "credential_process", "container"])
def test_no_secret_of_a_fetch_in_logs_or_hooks(world: World, setup: Callable[[World], Expect],
                                               caplog: pytest.LogCaptureFixture) -> None:
    """DEBUG logging and request/response hooks see the STS, process and
    container exchanges; neither the fetched secret key nor its session token
    (nor the source's own secret) appears in them."""
    from overcast.runtime.policy import Hooks

    caplog.set_level(logging.DEBUG)
    events: list[object] = []
    setup(world)
    driver = world.driver(hooks=Hooks(on_request=[events.append], on_response=[events.append]))
    assert driver.list_containers() == []
    current = driver._credentials.current()
    assert current.session_token is not None
    text = caplog.text + "".join(map(repr, events)) + repr(driver) + repr(current)
    for secret in (current.secret_key.reveal(), current.session_token.reveal(), "base-secret"):
        assert secret not in text


# -- IAM Identity Center ------------------------------------------------------------------


def test_sso_comes_after_web_identity_and_before_the_profile_keys(world: World) -> None:
    """The AWS CLI's order: the environment's web identity first, then SSO,
    then keys in the credentials file for the same profile."""
    sso_session(world)
    world.write(".aws/credentials", "[dev]\naws_access_key_id = AKIDDEV\n"
                                    "aws_secret_access_key = dev\n")
    assert world.driver()._credentials.source.startswith("IAM Identity Center (profile dev")
    web_identity(world)
    assert world.driver()._credentials.source.startswith("environment (web identity)")


@pytest.mark.parametrize("case", ["missing", "expired", "refused", "forbidden"])
def test_an_unusable_sso_token_is_invalid_credentials(world: World, case: str) -> None:
    sso_session(world)
    cache = next((world.home / ".aws" / "sso" / "cache").glob("*.json"))
    if case == "missing":
        cache.unlink()
    elif case == "expired":
        _sso_cache(world, "corp", "sso-access-token", expires="2020-01-01T00:00:00Z")
    elif case == "refused":
        world.meta.state.sso_token = "another-token"
    else:
        world.meta.state.sso_role = ("123456789012", "another-role")
    with pytest.raises(InvalidCredentials, match="aws sso login --profile dev") as caught:
        world.driver().list_containers()
    assert "sso-access-token" not in str(caught.value)
    assert world.meta.state.signed == []


def test_an_sso_profile_missing_settings_is_invalid_credentials(world: World) -> None:
    world.write(".aws/config", "[profile dev]\nsso_session = nowhere\nsso_account_id = 1\n"
                               "sso_role_name = r\n")
    world.setenv("AWS_PROFILE", "dev")
    with pytest.raises(InvalidCredentials, match=r"no \[sso-session nowhere\]"):
        world.driver()
    world.write(".aws/config", "[profile dev]\nsso_start_url = https://x/start\n"
                               "sso_region = eu-west-1\n")
    with pytest.raises(InvalidCredentials, match="sso_account_id and sso_role_name"):
        world.driver()
