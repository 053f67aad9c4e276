"""OAuth2 bearer tokens: parsing a token endpoint's answer, and a cache.

Shared by every driver whose auth ends in a bearer token (Google service
accounts, Azure AD client credentials, ...). Token auth is itself an
operation (the driver's ``_token()`` generator yields the token request when
the cache is empty or stale); this module holds what those generators share.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Final

from overcast.errors import InvalidCredentials
from overcast.errors import ProviderError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Exclusive
from overcast.runtime.effects import Gate
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text

__all__ = [
    "CREDENTIAL_ERRORS",
    "AccessToken",
    "TokenCache",
    "parse_token_response",
    "send_with_bearer",
    "single_flight",
]

#: Errors of the token endpoint that mean the credentials are wrong (RFC 6749, 5.2).
CREDENTIAL_ERRORS: Final = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied"}
)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token, the Unix time after which it should not be used, and
    what came with it (``extra``: a tenant, a service endpoint, ...)."""

    token: Secret
    expires_at: float
    extra: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"AccessToken(***, expires_at={self.expires_at:.0f})"


@dataclass(slots=True)
class TokenCache:
    """One cached access token, safe to share between threads and tasks.

    The lock guards only the cache itself, never a token request: two callers
    that find it empty at the same moment may each fetch a token (both are
    valid). ``margin`` is how long before its expiry a token stops being used
    (at most a tenth of its lifetime, so short-lived tokens are still cached).
    """

    margin: float = 60.0
    _token: AccessToken | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self, now: float) -> AccessToken | None:
        """The cached token if it is still fresh at ``now``."""
        with self._lock:
            token = self._token
        if token is not None and now < token.expires_at:
            return token
        return None

    def store(self, token: Secret, expires_in: float, now: float,
              extra: Mapping[str, str] | None = None) -> AccessToken:
        """Cache a token received at ``now`` that lives ``expires_in`` seconds."""
        early = min(self.margin, max(0.0, expires_in) / 10)
        entry = AccessToken(token, now + max(0.0, expires_in) - early, dict(extra or {}))
        with self._lock:
            self._token = entry
        return entry

    def discard(self, token: AccessToken) -> None:
        """Forget ``token`` (the server rejected it), unless a newer one replaced it."""
        with self._lock:
            if self._token is token:
                self._token = None

    def clear(self) -> None:
        """Forget any cached token."""
        with self._lock:
            self._token = None


def parse_token_response(
    resp: Response, *, driver: Any = None, secrets: tuple[Secret, ...] = ()
) -> tuple[Secret, float]:
    """``(access_token, expires_in)`` from a token endpoint's answer.

    An OAuth2 error (RFC 6749, 5.2) that means the credentials are wrong raises
    :class:`~overcast.errors.InvalidCredentials`; others raise
    :class:`~overcast.errors.ProviderError`. Messages are the endpoint's
    ``error`` and ``error_description`` with ``secrets`` removed.
    """
    try:
        data = resp.json()
    except ValueError:
        data = None
    if resp.ok and isinstance(data, dict) and isinstance(data.get("access_token"), str):
        expires = data.get("expires_in", 3600)
        try:
            expires_in = float(expires)
        except (TypeError, ValueError):
            expires_in = 3600.0
        return Secret(data["access_token"]), expires_in
    code = ""
    text = resp.text[:300]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, str):
            code = error
            text = str(data.get("error_description") or error)
        elif isinstance(error, dict):  # some endpoints answer in the API error shape
            code = str(error.get("status") or error.get("code") or "")
            text = str(error.get("message") or text)
    message = redact_text(f"token request failed: {code}: {text}".strip(), secrets)
    if code in CREDENTIAL_ERRORS or resp.status in (401, 403):
        raise InvalidCredentials(message, driver=driver)
    raise ProviderError(message, status=resp.status, code=code or None, driver=driver)


def send_with_bearer(
    token: Callable[[], Op[AccessToken | None]], cache: TokenCache | None, request: Request
) -> Op[Response]:
    """Operation: send ``request`` with ``Authorization: Bearer`` from ``token()``;
    on a 401, drop that token and send once more with a fresh one. A ``None``
    token (anonymous access) sends the request as it is."""
    resp: Response | None = None
    for _attempt in range(2):
        current = yield from token()
        sent = request
        if current is not None:
            sent = request.with_headers({"Authorization": f"Bearer {current.token.reveal()}"})
        resp = yield sent
        if resp.status != 401 or current is None or cache is None:
            return resp
        cache.discard(current)
    assert resp is not None
    return resp


def single_flight(cache: TokenCache, gate: Gate,
                  fetch: Callable[[float], Op[AccessToken]]) -> Op[AccessToken]:
    """Operation: the cached token if fresh, else the one ``fetch(now)`` gets
    (and stores in ``cache``), fetched by one caller at a time: concurrent
    callers that find the cache stale wait on ``gate`` and use that token."""
    now: float = yield Call(time.time)
    cached = cache.current(now)
    if cached is not None:
        return cached
    token: AccessToken = yield Exclusive(gate, _fetch_once(cache, fetch))
    return token


def _fetch_once(cache: TokenCache, fetch: Callable[[float], Op[AccessToken]],
                ) -> Op[AccessToken]:
    now: float = yield Call(time.time)
    cached = cache.current(now)  # fetched by another caller while this one waited
    if cached is not None:
        return cached
    return (yield from fetch(now))
