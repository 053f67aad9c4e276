"""Redaction of secrets in headers, URLs, text and reprs."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from overcast.runtime.effects import Headers
from overcast.runtime.effects import Request
from overcast.runtime.redact import MASK
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_headers
from overcast.runtime.redact import redact_text
from overcast.runtime.redact import redact_url


def test_secret_never_shows() -> None:
    secret = Secret("hunter2-password")
    assert "hunter2" not in repr(secret) + str(secret) + f"{secret}" + f"{secret!r}"
    assert secret.reveal() == "hunter2-password"
    assert Secret(secret) == secret
    assert pickle.loads(pickle.dumps(secret)) == secret


def test_headers_are_masked() -> None:
    masked = redact_headers({
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=abc",
        "X-Amz-Security-Token": "tok",
        "X-Auth-Token": "tok2",
        "Content-Type": "text/plain",
    })
    assert masked == {
        "Authorization": MASK,
        "X-Amz-Security-Token": MASK,
        "X-Auth-Token": MASK,
        "Content-Type": "text/plain",
    }


def test_urls_are_masked() -> None:
    url = ("https://user:pw@b.s3.amazonaws.com/k?X-Amz-Signature=deadbeef"
           "&X-Amz-Credential=AKID%2F2026&X-Amz-Expires=60&sig=abc&prefix=logs")
    out = redact_url(url)
    for secret in ("deadbeef", "AKID", "pw@", "abc"):
        assert secret not in out
    assert "X-Amz-Expires=60" in out and "prefix=logs" in out


def test_text_loses_known_secrets_and_private_keys() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    text = f"error: signature mismatch for key SECRETKEY123 and {pem}"
    out = redact_text(text, [Secret("SECRETKEY123")])
    assert "SECRETKEY123" not in out and "MIIEow" not in out


def test_request_and_header_reprs_are_redacted() -> None:
    request = Request("GET", "https://h/p", params=[("token", "t0ps3cret")],
                      headers={"Authorization": "Bearer t0ps3cret"})
    assert "t0ps3cret" not in repr(request)
    assert "t0ps3cret" not in repr(Headers(request.headers))


@given(st.text(min_size=8, alphabet=st.characters(min_codepoint=33, max_codepoint=126)))
def test_any_secret_value_is_removed_from_text(value: str) -> None:
    assert value not in redact_text(f"before {value} after", [value])
