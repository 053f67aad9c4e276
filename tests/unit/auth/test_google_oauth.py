"""The service-account JWT and the token exchange, driven with canned values."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from overcast.auth.google_oauth import JWT_BEARER_GRANT
from overcast.auth.google_oauth import ServiceAccount
from overcast.auth.google_oauth import TokenCache
from overcast.auth.google_oauth import build_assertion
from overcast.auth.google_oauth import fetch_token
from overcast.auth.google_oauth import jwt_claims
from overcast.auth.google_oauth import parse_token_response
from overcast.auth.google_oauth import service_account_from_info
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Headers
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import Secret

SCOPE = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
NOW = 1_700_000_000.75


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def account(key: rsa.RSAPrivateKey) -> ServiceAccount:
    return service_account_from_info({
        "type": "service_account",
        "client_email": "sa@proj.iam.gserviceaccount.com",
        "private_key": pem(key),
        "private_key_id": "kid-123",
        "token_uri": "https://oauth2.example/token",
        "project_id": "proj",
    })


def decode(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_header_and_claims_decode(account: ServiceAccount) -> None:
    header, claims, signature = build_assertion(account, SCOPE, NOW).split(".")
    assert decode(header) == {"alg": "RS256", "typ": "JWT", "kid": "kid-123"}
    assert decode(claims) == {
        "iss": "sa@proj.iam.gserviceaccount.com",
        "scope": SCOPE,
        "aud": "https://oauth2.example/token",
        "iat": 1_700_000_000,
        "exp": 1_700_003_600,
    }
    assert "=" not in header + claims + signature  # base64url without padding
    assert jwt_claims(account, SCOPE, NOW)["exp"] - jwt_claims(account, SCOPE, NOW)["iat"] == 3600


def test_signature_verifies_with_the_public_key(account: ServiceAccount,
                                                key: rsa.RSAPrivateKey) -> None:
    header, claims, signature = build_assertion(account, SCOPE, NOW).split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    key.public_key().verify(raw, f"{header}.{claims}".encode(), padding.PKCS1v15(),
                            hashes.SHA256())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidSignature):
        other.public_key().verify(raw, f"{header}.{claims}".encode(), padding.PKCS1v15(),
                                  hashes.SHA256())
    tampered = base64.urlsafe_b64encode(b'{"iss":"x"}').decode().rstrip("=")
    with pytest.raises(InvalidSignature):
        key.public_key().verify(raw, f"{header}.{tampered}".encode(), padding.PKCS1v15(),
                                hashes.SHA256())


def test_the_assertion_is_deterministic_for_a_given_clock(account: ServiceAccount) -> None:
    # RS256 (PKCS#1 v1.5) is deterministic: same key, claims and time -> same JWT.
    assert build_assertion(account, SCOPE, NOW) == build_assertion(account, SCOPE, NOW)
    assert build_assertion(account, SCOPE, NOW) != build_assertion(account, SCOPE, NOW + 1)


def test_no_key_id_no_kid(key: rsa.RSAPrivateKey) -> None:
    account = ServiceAccount("sa@x", Secret(pem(key)))
    header = build_assertion(account, SCOPE, NOW).split(".")[0]
    assert decode(header) == {"alg": "RS256", "typ": "JWT"}
    assert decode(build_assertion(account, SCOPE, NOW).split(".")[1])["aud"] == (
        "https://oauth2.googleapis.com/token")


def test_key_stays_secret(account: ServiceAccount, key: rsa.RSAPrivateKey) -> None:
    body = pem(key).splitlines()[5]
    assert body not in repr(account)
    assert body not in str(account)
    bad = ServiceAccount("sa@x", Secret("-----BEGIN PRIVATE KEY-----\nnot-a-key" + body
                                        + "\n-----END PRIVATE KEY-----\n"))
    with pytest.raises(InvalidCredentials) as info:
        build_assertion(bad, SCOPE, NOW)
    assert body not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("info", [
    {"type": "authorized_user", "client_email": "a@b", "private_key": "k"},
    {"type": "service_account", "private_key": "k"},
    {"type": "service_account", "client_email": "a@b"},
])
def test_not_a_service_account_key(info: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        service_account_from_info(info)


def test_fetch_token_is_an_operation(account: ServiceAccount) -> None:
    op = fetch_token(account, SCOPE)
    clock = op.send(None)
    assert isinstance(clock, Call)
    sign = op.send(NOW)
    assert isinstance(sign, Call) and sign.fn is build_assertion
    assertion = sign.fn(*sign.args)
    request = op.send(assertion)
    assert isinstance(request, Request)
    assert (request.method, request.url) == ("POST", "https://oauth2.example/token")
    assert request.is_idempotent and not request.sign
    assert isinstance(request.body, bytes)
    form = parse_qs(request.body.decode())
    assert form == {"grant_type": [JWT_BEARER_GRANT], "assertion": [assertion]}
    answer = Response(200, Headers({"Content-Type": "application/json"}),
                      json.dumps({"access_token": "ya29.abc", "expires_in": 3599,
                                  "token_type": "Bearer"}).encode())
    with pytest.raises(StopIteration) as done:
        op.send(answer)
    token, expires_in, at = done.value.value
    assert (token.reveal(), expires_in, at) == ("ya29.abc", 3599.0, NOW)
    assert repr(token) == "Secret('***')"


def test_token_errors() -> None:
    denied = Response(400, Headers(), json.dumps({
        "error": "invalid_grant", "error_description": "Invalid JWT Signature."}).encode())
    with pytest.raises(InvalidCredentials, match="Invalid JWT Signature"):
        parse_token_response(denied)
    echoed = Response(400, Headers(), json.dumps({
        "error": "invalid_grant", "error_description": "bad assertion eyJhbGciOi.xyz"}).encode())
    with pytest.raises(InvalidCredentials) as info:
        parse_token_response(echoed, secrets=(Secret("eyJhbGciOi.xyz"),))
    assert "eyJhbGciOi.xyz" not in str(info.value)
    broken = Response(503, Headers(), b"<html>unavailable</html>")
    with pytest.raises(ProviderError) as error:
        parse_token_response(broken)
    assert error.value.status == 503


def test_token_cache() -> None:
    cache = TokenCache()
    assert cache.current(0) is None
    entry = cache.store(Secret("t1"), 3600, now=1000)
    assert entry.expires_at == 1000 + 3600 - 60  # used until a minute before expiry
    assert cache.current(4539) is entry
    assert cache.current(4540) is None
    short = cache.store(Secret("t2"), 10, now=0)
    assert short.expires_at == 9  # short-lived tokens: a tenth of their life early
    stale = entry
    cache.discard(stale)  # an older token does not evict the newer one
    assert cache.current(5) is short
    cache.discard(short)
    assert cache.current(5) is None
    assert "t2" not in repr(short)
