"""OAuth2 bearer tokens: parsing a token endpoint's answer, and a cache.

Shared by every driver whose auth ends in a bearer token (Google service
accounts, Azure AD client credentials, ...). Token auth is itself an
operation (the driver's ``_token()`` generator yields the token request when
the cache is empty or stale); this module holds what those generators share.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Final
from typing import Generic
from typing import TypeVar

from overcast.errors import InvalidCredentials
from overcast.errors import OvercastError
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
    "SharedFetch",
    "TokenCache",
    "parse_token_response",
    "send_with_bearer",
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


T = TypeVar("T")


class SharedFetch(Generic[T]):
    """One fetch at a time (the runtime's :class:`~overcast.runtime.effects.Exclusive`
    on a :class:`~overcast.runtime.effects.Gate`), its result kept.

    Callers that find no result queue at the gate; the first fetches, the
    others find its result once they pass. A failure is handed to every
    caller that was already waiting for it (so fifty callers do not probe an
    absent IMDS fifty times one after the other); a later call tries again.
    """

    def __init__(self, keep: Callable[[T, float], bool] = lambda value, now: True) -> None:
        self._gate = Gate()
        self._keep = keep
        self._value: T | None = None
        self._failure: tuple[float, OvercastError] | None = None

    def current(self, now: float) -> T | None:
        """The result, while ``keep(result, now)`` says it is still good."""
        value = self._value
        return value if value is not None and self._keep(value, now) else None

    def run(self, fetch: Callable[[float], Op[T]]) -> Op[T]:
        """Operation: the kept result, or ``fetch(now)``'s, fetched once for
        every concurrent caller."""
        now: float = yield Call(time.time)
        found = self.current(now)
        if found is not None:
            return found
        asked: float = yield Call(time.monotonic)
        result: T = yield Exclusive(self._gate, self._once(fetch, asked))
        return result

    def _once(self, fetch: Callable[[float], Op[T]], asked: float) -> Op[T]:
        now: float = yield Call(time.time)
        found = self.current(now)  # fetched while this call waited at the gate
        if found is not None:
            return found
        failure = self._failure
        if failure is not None and failure[0] >= asked:  # failed while this call waited
            raise copy.copy(failure[1])
        try:
            value = yield from fetch(now)
        except OvercastError as exc:
            failed_at: float = yield Call(time.monotonic)
            self._failure = (failed_at, exc)
            raise
        self._value = value
        return value


@dataclass(slots=True)
class TokenCache:
    """One cached access token, safe to share between threads and tasks.

    The lock guards only the cache itself, never a token request; :meth:`get`
    makes one fetch for every caller that finds it stale at once. ``margin``
    is how long before its expiry a token stops being used (at most a tenth
    of its lifetime, so short-lived tokens are still cached).
    """

    margin: float = 60.0
    _token: AccessToken | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _fetches: SharedFetch[AccessToken] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._fetches = SharedFetch(lambda token, now: self.current(now) is token)

    def get(self, fetch: Callable[[float], Op[AccessToken]]) -> Op[AccessToken]:
        """Operation: the cached token while fresh, else the one ``fetch(now)``
        gets (and stores here), fetched once for every concurrent caller."""
        return (yield from self._fetches.run(fetch))

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

