"""SigV4 against AWS's published examples and against botocore's signer."""

from __future__ import annotations

import calendar
import time

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from overcast.auth.aws_sigv4 import AwsCredentials
from overcast.auth.aws_sigv4 import presign_url
from overcast.auth.aws_sigv4 import sign_request
from overcast.runtime.effects import Request
from overcast.runtime.redact import Secret

SUITE = AwsCredentials("AKIDEXAMPLE", Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))
S3_DOCS = AwsCredentials("AKIAIOSFODNN7EXAMPLE", Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))


def at(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")))


def test_aws_test_suite_get_vanilla() -> None:
    signed = sign_request(Request("GET", "https://example.amazonaws.com/"), SUITE,
                          "us-east-1", "service", at("20150830T123600Z"))
    assert signed.headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_s3_documentation_get_object_example() -> None:
    request = Request("GET", "https://examplebucket.s3.amazonaws.com/test.txt",
                      headers={"Range": "bytes=0-9"})
    signed = sign_request(request, S3_DOCS, "us-east-1", "s3", at("20130524T000000Z"))
    assert signed.headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_s3_documentation_presigned_url_example() -> None:
    url = presign_url("GET", "https://examplebucket.s3.amazonaws.com/test.txt", S3_DOCS,
                      "us-east-1", "s3", at("20130524T000000Z"), 86400)
    assert url.endswith(
        "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


def test_session_token_is_signed_and_kept_secret() -> None:
    creds = AwsCredentials("AKID", Secret("sekrit-value"), Secret("session-token-value"))
    signed = sign_request(Request("GET", "https://h/"), creds, "eu-west-1", "route53", 0)
    assert signed.headers["x-amz-security-token"] == "session-token-value"
    assert "x-amz-security-token" in signed.headers["Authorization"]
    assert "session-token-value" not in repr(creds) and "sekrit-value" not in repr(creds)


def test_resolve_from_environment_and_profile(tmp_path: object) -> None:
    import pathlib

    env = {"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "B"}
    creds = AwsCredentials.resolve(environ=env)
    assert (creds.access_key, creds.secret_key.reveal()) == ("A", "B")
    path = pathlib.Path(str(tmp_path)) / "credentials"
    path.write_text("[dev]\naws_access_key_id = K\naws_secret_access_key = S\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(path)}
    creds = AwsCredentials.resolve(profile="dev", environ=env)
    assert (creds.access_key, creds.secret_key.reveal()) == ("K", "S")


segment = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF,
                                         blacklist_characters="/?#%"), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    service=st.sampled_from(["s3", "route53", "ec2"]),
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"]),
    path=st.lists(segment, min_size=0, max_size=4),
    params=st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=8)), max_size=4),
    meta=st.dictionaries(st.sampled_from(["x-amz-meta-a", "x-amz-meta-b", "content-type"]),
                         st.text(alphabet="abc xyz-_/=", min_size=1, max_size=10).map(
                             lambda v: v.strip() or "v"), max_size=2),
    body=st.binary(max_size=64),
    stamp=st.integers(min_value=1_500_000_000, max_value=1_900_000_000),
)
def test_matches_botocore(service: str, method: str, path: list[str],
                          params: list[tuple[str, str]], meta: dict[str, str], body: bytes,
                          stamp: int) -> None:
    from unittest import mock

    import botocore.auth
    import botocore.credentials
    from botocore.awsrequest import AWSRequest

    from overcast.runtime.effects import _quote

    url = "https://example.amazonaws.com:8443/" + "/".join(_quote(p) for p in path)
    request = Request(method, url, headers=dict(meta), params=params, body=body or None)
    ours = sign_request(request, SUITE, "us-east-1", service, float(stamp))

    theirs = AWSRequest(method=method, url=request.full_url, headers=dict(meta),
                        data=body or None)
    creds = botocore.credentials.Credentials("AKIDEXAMPLE", SUITE.secret_key.reveal())
    signer = (botocore.auth.S3SigV4Auth if service == "s3" else botocore.auth.SigV4Auth)(
        creds, service, "us-east-1")
    import datetime

    fixed = datetime.datetime.fromtimestamp(stamp, datetime.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
        signer.add_auth(theirs)
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]
