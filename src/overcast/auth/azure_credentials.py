"""Azure credentials found as azure-identity and the az CLI find them.

Resource Manager drivers (:class:`overcast.providers.azure.ArmApi`) given no
client id and secret look, in ``DefaultAzureCredential``'s order:

1. a ``credential=`` object with ``get_token(*scopes)`` (azure-identity's
   ``TokenCredential`` protocol; overcast does not depend on azure-identity):
   called in a worker thread, its tokens cached;
2. the environment (azure-identity's ``EnvironmentCredential``):
   ``AZURE_TENANT_ID`` and ``AZURE_CLIENT_ID`` with ``AZURE_CLIENT_SECRET``
   (client secret), or with ``AZURE_CLIENT_CERTIFICATE_PATH`` (a PEM file
   holding the certificate and its private key; ``AZURE_CLIENT_CERTIFICATE_PASSWORD``
   if the key is encrypted): a client assertion, a JWT signed with the key
   (RS256, ``x5t`` the certificate's SHA-1 thumbprint). ``AZURE_SUBSCRIPTION_ID``
   gives the subscription when none is passed;
3. the managed identity (Azure IMDS, :mod:`overcast.auth.azure_imds`), a
   user-assigned one when ``AZURE_CLIENT_ID`` is set without a tenant.

Azure Blobs given no account, key, connection string or SAS looks at
``AZURE_STORAGE_CONNECTION_STRING``, then ``AZURE_STORAGE_ACCOUNT`` with
``AZURE_STORAGE_KEY`` or ``AZURE_STORAGE_SAS_TOKEN`` (the az CLI's variables).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Final
from typing import Protocol
from urllib.parse import urlencode

from overcast.auth.azure_ad import token_url
from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import TokenCache
from overcast.auth.tokens import parse_token_response
from overcast.errors import InvalidCredentials
from overcast.extras import require
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import Secret

__all__ = [
    "ASSERTION_TYPE",
    "AzureServicePrincipal",
    "BlobSettings",
    "TokenCredential",
    "TokenCredentialSource",
    "blob_settings_from_environment",
    "build_client_assertion",
    "fetch_assertion_token",
    "service_principal_from_environment",
]

#: The client-assertion type of a certificate credential (RFC 7523).
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: How long a client assertion is valid.
ASSERTION_LIFETIME: Final = 600


@dataclass(frozen=True, slots=True)
class AzureServicePrincipal:
    """An application's identity from the environment: a client secret or a
    certificate file."""

    tenant_id: str
    client_id: str
    client_secret: Secret | None
    certificate_path: str | None
    certificate_password: Secret | None
    source: str

    def __repr__(self) -> str:
        kind = "certificate" if self.certificate_path else "secret"
        return f"AzureServicePrincipal({self.client_id!r}, {kind}, source={self.source!r})"

    def secrets(self) -> tuple[Secret, ...]:
        """Values to keep out of any text."""
        return tuple(s for s in (self.client_secret, self.certificate_password) if s)


def service_principal_from_environment(
        environ: Mapping[str, str] | None = None) -> AzureServicePrincipal | None:
    """``EnvironmentCredential``'s service principal, or ``None``."""
    env = os.environ if environ is None else environ
    tenant, client = env.get("AZURE_TENANT_ID"), env.get("AZURE_CLIENT_ID")
    if not tenant or not client:
        return None
    secret = env.get("AZURE_CLIENT_SECRET")
    if secret:
        return AzureServicePrincipal(tenant, client, Secret(secret), None, None,
                                     "environment (AZURE_CLIENT_SECRET)")
    path = env.get("AZURE_CLIENT_CERTIFICATE_PATH")
    if path:
        password = env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD")
        return AzureServicePrincipal(tenant, client, None, path,
                                     Secret(password) if password else None,
                                     f"environment (AZURE_CLIENT_CERTIFICATE_PATH {path})")
    return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def build_client_assertion(principal: AzureServicePrincipal, audience: str, now: float) -> str:
    """The signed JWT a certificate credential sends (blocking: reads the
    certificate file and signs; run it as a ``Call``)."""
    require("cryptography", "azure", what="a certificate credential")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric import rsa

    assert principal.certificate_path is not None
    try:
        with open(principal.certificate_path, "rb") as f:
            pem = f.read()
    except OSError as exc:
        raise InvalidCredentials(f"cannot read the certificate {principal.certificate_path}: "
                                 f"{exc.strerror or type(exc).__name__}") from None
    password = principal.certificate_password
    try:
        key = serialization.load_pem_private_key(
            pem, password=password.reveal().encode() if password else None)
        certificate = x509.load_pem_x509_certificate(pem)
    except (ValueError, TypeError):
        # Never chain: the library's message could quote the key material.
        raise InvalidCredentials(f"{principal.certificate_path} does not hold a PEM "
                                 "certificate and its private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidCredentials(f"the key in {principal.certificate_path} is not an RSA key")
    # x5t is the SHA-1 thumbprint by definition (RFC 7515, 4.1.7).
    thumbprint = hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER),
                              usedforsecurity=False).digest()
    header = {"alg": "RS256", "typ": "JWT", "x5t": _b64url(thumbprint)}
    claims = {"aud": audience, "iss": principal.client_id, "sub": principal.client_id,
              "jti": str(uuid.uuid4()), "nbf": int(now), "exp": int(now) + ASSERTION_LIFETIME}
    text = (f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}."
            f"{_b64url(json.dumps(claims, separators=(',', ':')).encode())}")
    signature = key.sign(text.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{text}.{_b64url(signature)}"


def fetch_assertion_token(authority: str, principal: AzureServicePrincipal, scope: str, *,
                          driver: Any = None) -> Op[tuple[Secret, float, float]]:
    """Operation: a token for a certificate credential; ``(token, expires_in, now)``."""
    now: float = yield Call(time.time)
    url = token_url(authority, principal.tenant_id)
    assertion: str = yield Call(build_client_assertion, principal, url, now)
    body = urlencode({
        "client_id": principal.client_id, "scope": scope, "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion,
    }).encode("ascii")
    resp: Response = yield Request(
        "POST", url, headers={"Content-Type": "application/x-www-form-urlencoded",
                              "Accept": "application/json"},
        body=body, idempotent=True, sign=False)
    token, expires_in = parse_token_response(resp, driver=driver,
                                             secrets=(Secret(assertion), *principal.secrets()))
    return token, expires_in, now


class TokenCredential(Protocol):
    """azure-identity's ``TokenCredential``: ``get_token(*scopes)`` returns an
    object with ``token`` and ``expires_on`` (Unix time)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """A token for ``scopes``."""
        ...


class TokenCredentialSource:
    """Tokens from a caller's ``TokenCredential``, cached until shortly before
    they expire. Its ``get_token`` blocks (it may run a program or a request of
    its own), so it runs as a ``Call`` (a worker thread under the async runner).
    """

    def __init__(self, credential: TokenCredential, scope: str) -> None:
        if not callable(getattr(credential, "get_token", None)):
            raise InvalidCredentials("credential= needs a get_token(*scopes) method "
                                     "(azure-identity's TokenCredential)")
        self.credential = credential
        self.scope = scope
        self.cache = TokenCache()
        self.source = f"credential= ({type(credential).__name__})"

    def __repr__(self) -> str:
        return f"TokenCredentialSource({type(self.credential).__name__})"

    def token(self) -> Op[AccessToken]:
        """Operation: the cached token, or one from ``get_token``."""
        return (yield from self.cache.get(self._fetch))

    def _fetch(self, now: float) -> Op[AccessToken]:
        got: Any = yield Call(self.credential.get_token, self.scope)
        value, expires_on = getattr(got, "token", None), getattr(got, "expires_on", None)
        if not isinstance(value, str) or not value or not isinstance(expires_on, int | float):
            raise InvalidCredentials(f"{self.source}.get_token gave no token and expires_on")
        return self.cache.store(Secret(value), float(expires_on) - now, now)


@dataclass(frozen=True, slots=True)
class BlobSettings:
    """Azure Blobs credentials from the environment, and which variables."""

    connection_string: Secret | None
    account: str | None
    account_key: Secret | None
    sas_token: Secret | None
    source: str


def blob_settings_from_environment(
        environ: Mapping[str, str] | None = None) -> BlobSettings | None:
    """The az CLI's storage variables, or ``None`` when none is set."""
    env = os.environ if environ is None else environ
    connection = env.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection:
        return BlobSettings(Secret(connection), None, None, None,
                            "environment (AZURE_STORAGE_CONNECTION_STRING)")
    account = env.get("AZURE_STORAGE_ACCOUNT")
    key, sas = env.get("AZURE_STORAGE_KEY"), env.get("AZURE_STORAGE_SAS_TOKEN")
    if account and key:
        return BlobSettings(None, account, Secret(key), None,
                            "environment (AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY)")
    if account and sas:
        return BlobSettings(None, account, None, Secret(sas),
                            "environment (AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_SAS_TOKEN)")
    return None
