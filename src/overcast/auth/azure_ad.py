"""Microsoft identity platform (Azure AD / Entra ID): the client-credentials flow.

An application (service principal) gets an access token for Azure Resource
Manager by POSTing its id and secret to
``{authority}/{tenant}/oauth2/v2.0/token`` with
``grant_type=client_credentials`` and ``scope=https://management.azure.com/.default``.
The answer holds ``access_token`` and ``expires_in``; errors follow RFC 6749
(``error``, ``error_description`` with an ``AADSTS`` code).

:func:`fetch_token` is an operation; drivers cache its result in a
:class:`~overcast.auth.tokens.TokenCache` (the same OAuth2 token cache,
re-exported here). The client secret is a :class:`~overcast.runtime.redact.Secret`
and is revealed only to build the request body, which is never logged.
"""

from __future__ import annotations

import time
from typing import Any
from typing import Final
from urllib.parse import quote
from urllib.parse import urlencode

from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import TokenCache
from overcast.auth.tokens import parse_token_response
from overcast.errors import InvalidInput
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import Secret

__all__ = [
    "ARM_SCOPE",
    "DEFAULT_AUTHORITY",
    "AccessToken",
    "TokenCache",
    "fetch_token",
    "token_request",
    "token_url",
]

#: The public-cloud authority.
DEFAULT_AUTHORITY: Final = "https://login.microsoftonline.com"
#: The scope that grants an app its Azure Resource Manager roles.
ARM_SCOPE: Final = "https://management.azure.com/.default"


def token_url(authority: str, tenant_id: str) -> str:
    """The v2.0 token endpoint of ``tenant_id``."""
    if not tenant_id or "/" in tenant_id:
        raise InvalidInput(f"invalid tenant id {tenant_id!r}")
    return f"{authority.rstrip('/')}/{quote(tenant_id, safe='')}/oauth2/v2.0/token"


def token_request(
    authority: str, tenant_id: str, client_id: str, client_secret: Secret, scope: str = ARM_SCOPE
) -> Request:
    """The client-credentials token request (form-encoded; safe to resend)."""
    body = urlencode(
        {
            "client_id": client_id,
            "client_secret": client_secret.reveal(),
            "scope": scope,
            "grant_type": "client_credentials",
        }
    ).encode("ascii")
    return Request(
        "POST",
        token_url(authority, tenant_id),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        body=body,
        idempotent=True,
        sign=False,
    )


def fetch_token(authority: str, tenant_id: str, client_id: str, client_secret: Secret,
                scope: str = ARM_SCOPE, *, driver: Any = None) -> Op[tuple[Secret, float, float]]:
    """Operation: get a token; return ``(token, expires_in, now)``.

    Wrong credentials (``invalid_client``, ``unauthorized_client``, an unknown
    tenant) raise :class:`~overcast.errors.InvalidCredentials`.
    """
    now: float = yield Call(time.time)
    resp: Response = yield token_request(authority, tenant_id, client_id, client_secret, scope)
    if resp.status == 400 and b"AADSTS90002" in resp.body:  # tenant not found
        resp = Response(401, resp.headers, resp.body, url=resp.url, method=resp.method)
    token, expires_in = parse_token_response(resp, driver=driver, secrets=(client_secret,))
    return token, expires_in, now
