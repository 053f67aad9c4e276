"""What every Azure Resource Manager fixture server shares: the identity
platform's token endpoint, the bearer check, the error shape and ``nextLink``
pages.

Written from Microsoft's published references (Microsoft identity platform
client-credentials flow; ARM's common error shape, pagination and
authentication failures):

* ``POST /{tenant}/oauth2/v2.0/token``: ``client_credentials`` with client id,
  secret and the ARM ``.default`` scope. Errors are RFC 6749 JSON with AADSTS
  codes (unknown tenant 400 ``invalid_request`` AADSTS90002, unknown app 400
  ``unauthorized_client`` AADSTS700016, wrong secret 401 ``invalid_client``
  AADSTS7000215). Tokens live ``token_lifetime`` seconds.
* every ARM call needs a live bearer token (401 ``AuthenticationFailed`` /
  ``InvalidAuthenticationToken`` / ``ExpiredAuthenticationToken`` with a
  ``WWW-Authenticate`` challenge); errors are ``{"error": {"code",
  "message"}}`` with an ``x-ms-request-id`` header.
* lists answer ``{"value": [...], "nextLink": url}``; the link carries a
  ``$skipToken``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qs

from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
CLIENT_SECRET = "fixture~Secret.8Q~" + "x7Kp2LmN4vB6nR8tW0yZ"
SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
ARM_SCOPE = "https://management.azure.com/.default"


def arm_error(status: int, code: str, message: str,
              headers: dict[str, str] | None = None) -> FakeResponse:
    """An ARM error response."""
    return FakeResponse.json({"error": {"code": code, "message": message}}, status,
                             {"x-ms-request-id": str(uuid.uuid4()), **(headers or {})})


def arm_page(req: FakeRequest, base_url: str, items: list[dict[str, Any]],
             key: Callable[[dict[str, Any]], tuple[Any, ...]], top: int,
             query: str) -> FakeResponse:
    """One page of ``items`` (sorted by ``key``) after the request's
    ``$skipToken``; a ``nextLink`` (``query`` plus the token) when more follow."""
    if skip := req.arg("$skipToken"):
        after = tuple(json.loads(base64.urlsafe_b64decode(skip + "=" * (-len(skip) % 4))))
        items = [i for i in items if key(i) > after]
    body: dict[str, Any] = {"value": items[:top]}
    if len(items) > top:
        token = base64.urlsafe_b64encode(json.dumps(list(key(items[top - 1]))).encode())
        body["nextLink"] = (f"{base_url}{req.path}?{query}"
                            f"&$skipToken={token.decode().rstrip('=')}")
    return FakeResponse.json(body)


@dataclass
class ArmIdentity:
    """The token endpoint and the bearer check of an ARM fixture (its state:
    the known clients, the tokens issued and when they expire)."""

    api: FakeAPI = field(default_factory=FakeAPI)
    base_url: str = ""
    token_lifetime: int = 3600
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    #: Applications with a certificate credential: client id -> (SHA-1
    #: thumbprint, public key), checked against client assertions.
    certificates: dict[str, tuple[bytes, Any]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)

    def revoke_tokens(self) -> None:
        """Make every issued token invalid (the next ARM call gets a 401)."""
        with self.api.lock:
            self.tokens.clear()

    def count(self, method: str, path_part: str) -> int:
        """How many requests so far had this method and ``path_part`` in their path."""
        with self.api.lock:
            return sum(1 for r in self.api.requests if r.method == method and path_part in r.path)

    def token(self, req: FakeRequest, tenant: str) -> FakeResponse:
        """``POST /{tenant}/oauth2/v2.0/token`` (client credentials)."""
        form = {k: v[0] for k, v in parse_qs(req.body.decode("ascii", "replace")).items()}

        def fail(status: int, error: str, code: int, description: str) -> FakeResponse:
            return FakeResponse.json({
                "error": error,
                "error_description": f"AADSTS{code}: {description}\r\nTrace ID: "
                                     f"{uuid.uuid4()}\r\nTimestamp: 2024-01-01 00:00:00Z",
                "error_codes": [code],
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
            }, status)

        if tenant != TENANT:
            return fail(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check "
                        "to make sure you have the correct tenant ID.")
        if form.get("grant_type") != "client_credentials":
            return fail(400, "unsupported_grant_type", 70003, "The app requested an "
                        "unsupported grant type.")
        client = form.get("client_id", "")
        if "client_assertion" in form:
            if not self._assertion_valid(form, tenant, client):
                return fail(401, "invalid_client", 700027, "Client assertion failed "
                            "signature validation.")
            return self._issue_answer(form)
        if client not in self.clients:
            return fail(400, "unauthorized_client", 700016, f"Application with identifier "
                        f"'{client}' was not found in the directory '{tenant}'.")
        if form.get("client_secret") != self.clients[client]:
            return fail(401, "invalid_client", 7000215, "Invalid client secret provided. "
                        "Ensure the secret being sent in the request is the client secret "
                        f"value, not the client secret ID, for a secret added to app '{client}'.")
        if form.get("scope") != ARM_SCOPE:
            return fail(400, "invalid_scope", 70011, "The provided request must include a "
                        "'scope' input parameter.")
        return self._issue_answer(form)

    def _issue_answer(self, form: dict[str, str]) -> FakeResponse:
        token = self.issue()
        return FakeResponse.json({"token_type": "Bearer", "expires_in": self.token_lifetime,
                                  "ext_expires_in": self.token_lifetime, "access_token": token})

    def _assertion_valid(self, form: dict[str, str], tenant: str, client: str) -> bool:
        """A certificate credential's JWT: the registered certificate's
        thumbprint and key, this token endpoint as audience, the client as
        issuer and subject, not expired."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        known = self.certificates.get(client)
        if known is None or form.get("client_assertion_type") != (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"):
            return False
        try:
            head, body, signature = (base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))
                                     for p in form["client_assertion"].split("."))
            header, claims = json.loads(head), json.loads(body)
            thumbprint = base64.urlsafe_b64decode(header["x5t"] + "=" * (-len(header["x5t"]) % 4))
            signed = form["client_assertion"].rsplit(".", 1)[0].encode()
            known[1].verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, KeyError, InvalidSignature):
            return False
        return (thumbprint == known[0] and header.get("alg") == "RS256"
                and claims.get("aud") == f"{self.base_url}/{tenant}/oauth2/v2.0/token"
                and claims.get("iss") == client == claims.get("sub")
                and claims.get("exp", 0) > time.time())

    def issue(self, lifetime: int | None = None) -> str:
        """A new access token, valid for ``lifetime`` (default ``token_lifetime``) seconds."""
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fixture." + secrets.token_urlsafe(24)
        self.issued.append(token)
        self.tokens[token] = time.time() + (self.token_lifetime if lifetime is None
                                            else lifetime)
        return token

    def bearer_refusal(self, req: FakeRequest) -> FakeResponse | None:
        """The 401 ARM gives a request without a live bearer token, or None."""
        challenge = {"WWW-Authenticate": f'Bearer authorization_uri="{self.base_url}/{TENANT}",'
                     ' error="invalid_token", error_description="The authentication failed"'}
        auth = req.header("Authorization")
        if not auth:
            return arm_error(401, "AuthenticationFailed", "Authentication failed. The "
                             "'Authorization' header is missing.", challenge)
        token = auth[7:] if auth.startswith("Bearer ") else ""
        expires = self.tokens.get(token)
        if expires is None:
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.",
                             challenge)
        if expires <= time.time():
            return arm_error(401, "ExpiredAuthenticationToken", "The access token expiry UTC "
                             "time is earlier than current UTC time.", challenge)
        return None
