"""The AWS credential chain's requests on the scripted transport: AssumeRole
signed with the source profile's key, web identity unsigned with the token
file's contents, IMDSv2's token then role then credentials, container
credentials with their authorization token; STS errors; a failed renewal
while the current credentials are still valid."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from overcast.auth.aws_credentials import AwsCredentialSource
from overcast.auth.aws_credentials import resolve_aws_credentials
from overcast.errors import InvalidCredentials
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import Sent
from overcast.testing import call

ROLE = "arn:aws:iam::123456789012:role/r"
API = "https://s3.example.test"
LISTING = ('<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           "<Buckets/></ListAllMyBucketsResult>")


def _sts_answer(action: str, key: str = "ASIASTS", expires: str = "2099-01-01T00:00:00Z") -> str:
    return (f"<{action}Response><{action}Result><Credentials><AccessKeyId>{key}</AccessKeyId>"
            "<SecretAccessKey>sts-secret</SecretAccessKey><SessionToken>sts-token</SessionToken>"
            f"<Expiration>{expires}</Expiration></Credentials></{action}Result></{action}Response>")


def _signed_by(key: str, service: str) -> str:
    return f"Credential={key}/"  # then the date, region and service


def _files(home: Path, config: str = "", credentials: str = "") -> dict[str, str]:
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    (home / ".aws" / "config").write_text(config)
    (home / ".aws" / "credentials").write_text(credentials)
    return {"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}


def _api(script: Script, key: str) -> None:
    script.expect("GET", f"{API}/", match=lambda s: _signed_by(key, "s3") in
                  s.headers.get("Authorization", "")).reply(200, text=LISTING)


@pytest.mark.parametrize("mode", MODES)
def test_assume_role_is_signed_by_the_source_profile(tmp_path: Path, mode: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    env = _files(tmp_path, f"[default]\nrole_arn = {ROLE}\nsource_profile = base\n"
                           "external_id = ext-1\nduration_seconds = 900\nregion = eu-west-1\n",
                 "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n")
    monkeypatch.setattr("os.environ", env)

    def assume(sent: Sent) -> bool:
        auth = sent.headers.get("Authorization", "")
        return (_signed_by("AKIDBASE", "sts") in auth and "/eu-west-1/sts/" in auth
                and ("Action", "AssumeRole") in _form(sent) and ("RoleArn", ROLE) in _form(sent)
                and ("ExternalId", "ext-1") in _form(sent)
                and ("DurationSeconds", "900") in _form(sent))

    script = Script()
    script.expect("POST", "https://sts.eu-west-1.amazonaws.com/", match=assume).reply(
        200, text=_sts_answer("AssumeRole"))
    _api(script, "ASIASTS")
    driver = S3StorageDriver(endpoint=API, **script.options())
    assert call(mode, driver, "list_containers") == []
    script.assert_done()


def _form(sent: Sent) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(sent.body.decode())


@pytest.mark.parametrize("mode", MODES)
def test_web_identity_is_unsigned_and_rereads_the_token(tmp_path: Path, mode: str) -> None:
    token = tmp_path / "token"
    token.write_text("jwt-1\n")
    env = {"HOME": str(tmp_path), "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
           "AWS_ROLE_ARN": ROLE, "AWS_ROLE_SESSION_NAME": "sess"}
    source = resolve_aws_credentials(environ=env)
    assert isinstance(source, AwsCredentialSource)

    def web(sent: Sent) -> bool:
        form = _form(sent)
        return ("Authorization" not in sent.headers and ("WebIdentityToken", "jwt-1") in form
                and ("RoleSessionName", "sess") in form
                and ("Action", "AssumeRoleWithWebIdentity") in form)

    script = Script()
    script.expect("POST", "https://sts.amazonaws.com/", match=web).reply(
        200, text=_sts_answer("AssumeRoleWithWebIdentity", "ASIAWEB"))
    _api(script, "ASIAWEB")
    driver = S3StorageDriver(endpoint=API, **script.options())
    driver._credentials = source
    assert call(mode, driver, "list_containers") == []
    script.assert_done()


def test_sts_refusing_is_invalid_credentials_without_the_secret(tmp_path: Path) -> None:
    env = _files(tmp_path, f"[default]\nrole_arn = {ROLE}\nsource_profile = base\n",
                 "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n")
    source = resolve_aws_credentials(environ=env)
    script = Script()
    script.expect("POST", "https://sts.amazonaws.com/").reply(403, text=(
        "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed with base-secret"
        "</Message></Error></ErrorResponse>"))
    driver = S3StorageDriver(endpoint=API, **script.options())
    driver._credentials = source
    with pytest.raises(InvalidCredentials, match="AccessDenied") as caught:
        driver.list_containers()
    assert "base-secret" not in str(caught.value)
    script.assert_done()


@pytest.mark.parametrize("mode", MODES)
def test_imds_v2_token_then_role_then_credentials(mode: str) -> None:
    base = "http://imds.test"
    env = {"HOME": "/nonexistent", "AWS_EC2_METADATA_SERVICE_ENDPOINT": base}
    script = Script()
    script.expect("PUT", f"{base}/latest/api/token",
                  headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"}).reply(200, text="T")
    roles = f"{base}/latest/meta-data/iam/security-credentials/"
    script.expect("GET", roles, headers={"X-aws-ec2-metadata-token": "T"}).reply(200, text="web\n")
    script.expect("GET", roles + "web", headers={"X-aws-ec2-metadata-token": "T"}).reply(
        200, json={"Code": "Success", "AccessKeyId": "ASIAI", "SecretAccessKey": "s",
                   "Token": "t", "Expiration": "2099-01-01T00:00:00Z"})
    _api(script, "ASIAI")
    driver = S3StorageDriver(endpoint=API, **script.options())
    driver._credentials = resolve_aws_credentials(environ=env)
    assert call(mode, driver, "list_containers") == []
    script.assert_done()


def test_a_role_less_instance_is_invalid_credentials() -> None:
    base = "http://imds.test"
    script = Script()
    script.expect("PUT", f"{base}/latest/api/token").reply(200, text="T")
    script.expect("GET", f"{base}/latest/meta-data/iam/security-credentials/").reply(404)
    driver = S3StorageDriver(endpoint=API, **script.options())
    driver._credentials = resolve_aws_credentials(
        environ={"HOME": "/nonexistent", "AWS_EC2_METADATA_SERVICE_ENDPOINT": base})
    with pytest.raises(InvalidCredentials, match="no IAM role"):
        driver.list_containers()


def test_relative_container_uri_goes_to_the_ecs_agent() -> None:
    script = Script()
    script.expect("GET", "http://169.254.170.2/v2/credentials/abc",
                  headers={"Authorization": "tok"}).reply(
        200, json={"AccessKeyId": "ASIAE", "SecretAccessKey": "s", "Token": "t",
                   "Expiration": "2099-01-01T00:00:00Z"})
    _api(script, "ASIAE")
    driver = S3StorageDriver(endpoint=API, **script.options())
    driver._credentials = resolve_aws_credentials(environ={
        "HOME": "/nonexistent", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "tok"})
    assert driver.list_containers() == []
    script.assert_done()


def test_a_full_container_uri_must_be_local_or_https() -> None:
    with pytest.raises(InvalidCredentials, match="FULL_URI"):
        resolve_aws_credentials(environ={
            "HOME": "/nonexistent",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://evil.example/creds"})


def test_a_failed_renewal_keeps_credentials_that_are_still_valid(
        monkeypatch: pytest.MonkeyPatch) -> None:
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    base = "http://imds.test"
    script = Script()
    script.expect("PUT", f"{base}/latest/api/token").reply(200, text="T")
    roles = f"{base}/latest/meta-data/iam/security-credentials/"
    script.expect("GET", roles).reply(200, text="r")
    script.expect("GET", roles + "r").reply(200, json={
        "AccessKeyId": "ASIA1", "SecretAccessKey": "s", "Token": "t", "Expiration": expires})
    _api(script, "ASIA1")
    script.expect("PUT", f"{base}/latest/api/token").reply(403, text="disabled")
    _api(script, "ASIA1")
    driver = S3StorageDriver(endpoint=API, **script.options())
    driver._credentials = resolve_aws_credentials(
        environ={"HOME": "/nonexistent", "AWS_EC2_METADATA_SERVICE_ENDPOINT": base})
    assert driver.list_containers() == []
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3500)  # renewal due, not expired
    assert driver.list_containers() == []
    script.assert_done()


def test_role_profile_loops_and_missing_sources_are_invalid(tmp_path: Path) -> None:
    env = _files(tmp_path, f"[profile a]\nrole_arn = {ROLE}\nsource_profile = b\n"
                           f"[profile b]\nrole_arn = {ROLE}\nsource_profile = a\n"
                           f"[profile c]\nrole_arn = {ROLE}\n"
                           f"[profile d]\nrole_arn = {ROLE}\ncredential_source = Environment\n")
    with pytest.raises(InvalidCredentials, match="loop"):
        resolve_aws_credentials(profile="a", environ=env)
    with pytest.raises(InvalidCredentials, match="neither"):
        resolve_aws_credentials(profile="c", environ=env)
    with pytest.raises(InvalidCredentials, match="no credentials in the environment"):
        resolve_aws_credentials(profile="d", environ=env)
    env.update(AWS_ACCESS_KEY_ID="AKIDE", AWS_SECRET_ACCESS_KEY="e")
    found = resolve_aws_credentials(profile="d", environ=env)
    assert isinstance(found, AwsCredentialSource)
    assert "from the environment" in found.source
