"""What every Google JSON API fixture server shares (Cloud DNS, Compute Engine).

Written from Google's published references (OAuth 2.0 for server-to-server
applications; the JSON error shape and ``pageToken`` paging every Google API
uses):

* :class:`GoogleAuth` ``token``: the JWT-bearer grant at ``POST /token``. The
  assertion's RS256 signature is checked against the public key of the
  service account named in ``iss``; ``aud`` must be this endpoint, the window
  at most one hour. Errors are RFC 6749 JSON (``invalid_grant``, "Invalid JWT
  Signature."). Tokens live ``token_lifetime`` seconds (short in tests, to
  exercise refresh); :meth:`GoogleAuth.issue` hands one out another way (the
  metadata server).
* :meth:`GoogleAuth.denied`: every API call needs ``Authorization: Bearer
  <live token>``, else 401 in Google's error shape (``{"error": {"code",
  "message", "errors": [{"reason": "authError"}], "status":
  "UNAUTHENTICATED"}}``).
* :func:`page`: ``maxResults`` and ``pageToken`` in, ``nextPageToken`` out.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

__all__ = ["GoogleAuth", "b64decode", "google_error", "page"]


def google_error(status: int, reason: str, message: str, grpc: str) -> FakeResponse:
    """An error in the shape every Google JSON API uses."""
    return FakeResponse.json(
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": grpc,
            }
        },
        status,
    )


def b64decode(text: str) -> bytes:
    """Base64url without padding, decoded."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def page(items: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], req: FakeRequest,
         default: int = 100) -> tuple[list[dict[str, Any]], str | None] | FakeResponse:
    """One page of ``items`` (sorted by ``key``) after the request's ``pageToken``,
    ``maxResults`` long, and the next page's token (None on the last page)."""
    try:
        size = int(req.arg("maxResults") or default)
    except ValueError:
        return google_error(400, "invalid", "Invalid value for maxResults", "INVALID_ARGUMENT")
    size = max(1, min(size, 1000))
    token = req.arg("pageToken")
    if token:
        try:
            after = tuple(json.loads(b64decode(token)))
        except (ValueError, binascii.Error):
            return google_error(400, "invalid", "Invalid value for pageToken",
                                "INVALID_ARGUMENT")
        items = [i for i in items if tuple(key(i)) > after]
    chunk = items[:size]
    more = len(items) > size
    next_token = (base64.urlsafe_b64encode(json.dumps(list(key(chunk[-1]))).encode())
                  .decode().rstrip("=") if more else None)
    return chunk, next_token


@dataclass
class GoogleAuth:
    """Service accounts, the tokens issued to them, and the checks of both."""

    base_url: str = ""
    token_lifetime: int = 3600
    accounts: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    auth_lock: threading.RLock = field(default_factory=threading.RLock)
    scopes_allowed: frozenset[str] = frozenset({"https://www.googleapis.com/auth/cloud-platform"})
    #: Authorized users (gcloud's user credentials): client id -> (client secret,
    #: refresh token), for the ``refresh_token`` grant.
    users: dict[str, tuple[str, str]] = field(default_factory=dict)

    def revoke_tokens(self) -> None:
        """Make every issued token invalid (the next API call gets a 401)."""
        with self.auth_lock:
            self.tokens.clear()

    def issue(self) -> str:
        """A new access token, live for :attr:`token_lifetime` seconds."""
        token = "ya29.fixture-" + secrets.token_urlsafe(24)
        with self.auth_lock:
            self.issued.append(token)
            self.tokens[token] = time.time() + self.token_lifetime
        return token

    def token(self, req: FakeRequest) -> FakeResponse:
        """``POST /token``: the JWT-bearer grant, or the refresh-token grant of
        an authorized user."""
        form = {k: v[0] for k, v in parse_qs(req.body.decode("ascii", "replace")).items()}

        def fail(error: str, description: str) -> FakeResponse:
            return FakeResponse.json({"error": error, "error_description": description}, 400)

        if form.get("grant_type") == "refresh_token":
            user = self.users.get(form.get("client_id", ""))
            if user is None or user != (form.get("client_secret"), form.get("refresh_token")):
                return fail("invalid_grant", "Bad Request")
            return FakeResponse.json({"access_token": self.issue(),
                                      "expires_in": self.token_lifetime, "token_type": "Bearer"})
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return fail("unsupported_grant_type", "Invalid grant_type: "
                        + form.get("grant_type", ""))
        parts = form.get("assertion", "").split(".")
        if len(parts) != 3:
            return fail("invalid_request", "Invalid JWT: malformed assertion.")
        try:
            header = json.loads(b64decode(parts[0]))
            claims = json.loads(b64decode(parts[1]))
            signature = b64decode(parts[2])
        except (ValueError, binascii.Error):
            return fail("invalid_request", "Invalid JWT: malformed assertion.")
        if header.get("alg") != "RS256":
            return fail("invalid_grant", "Invalid JWT: unsupported algorithm.")
        public = self.accounts.get(str(claims.get("iss")))
        if public is None:
            return fail("invalid_grant", "Invalid grant: account not found")
        try:
            public.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(),
                          hashes.SHA256())
        except InvalidSignature:
            return fail("invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (not isinstance(iat, int) or not isinstance(exp, int) or iat > now + 60
                or exp <= now or exp - iat > 3600):
            return fail("invalid_grant", "Invalid JWT: Token must be a short-lived token "
                        "(60 minutes) and in a reasonable timeframe. Check your iat and exp "
                        "values in the JWT claim.")
        if claims.get("aud") != f"{self.base_url}/token":
            return fail("invalid_grant", "Invalid JWT: audience is not the token endpoint.")
        if not self.scopes_allowed & set(str(claims.get("scope", "")).split()):
            return fail("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        return FakeResponse.json({"access_token": self.issue(),
                                  "expires_in": self.token_lifetime, "token_type": "Bearer"})

    def denied(self, req: FakeRequest) -> FakeResponse | None:
        """The 401 for a request without a live bearer token, else None."""
        auth = req.header("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self.auth_lock:
            expires = self.tokens.get(token)
        if expires is None or expires <= time.time():
            response = google_error(
                401, "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                "UNAUTHENTICATED")
            response.headers["WWW-Authenticate"] = (
                'Bearer realm="https://accounts.google.com/", error="invalid_token"')
            return response
        return None
