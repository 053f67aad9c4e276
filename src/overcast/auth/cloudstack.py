"""Apache CloudStack's API request signing: pure functions over :class:`Request` values.

Every CloudStack API call is an HTTP request whose query string names the
``command`` and its parameters, the caller's ``apiKey`` and a ``signature``:

1. take every parameter (``signature`` excepted), names lower-cased, sorted by name;
2. join them as ``name=value`` with ``&``, each URL-encoded (spaces as ``%20``,
   never ``+``), and lower-case the whole string;
3. HMAC-SHA1 it with the secret key and base64 the digest.

Signature version 3 adds ``signatureVersion=3`` and ``expires`` (an ISO 8601
time, ``yyyy-MM-ddTHH:mm:ss+0000``) to the signed parameters: the server then
refuses the request after that time, so a captured URL cannot be replayed
later.

The canonical form is Apache Libcloud 3.9.1's (``libcloud.common.cloudstack``:
names encoded keeping ``[]``, values keeping ``[]*``), checked against it in
``tests/unit/auth/test_cloudstack_signing.py``. A driver's ``_sign`` hook calls
:func:`sign_request` on every attempt, with the runner's clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl
from urllib.parse import quote

from overcast.errors import InvalidInput
from overcast.runtime.effects import Request
from overcast.runtime.redact import Secret

__all__ = [
    "CloudStackCredentials",
    "canonical_string",
    "expires_at",
    "sign_params",
    "sign_request",
    "signature",
]

#: The parameter that carries the signature (never signed itself).
SIGNATURE: Final = "signature"
#: The content type of a form body, whose parameters are signed too.
FORM: Final = "application/x-www-form-urlencoded"


def _pairs(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    return [(str(k), str(v)) for k, v in items]


def canonical_string(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """The string CloudStack signs: parameters (``signature`` left out) sorted
    by lower-cased name, URL-encoded, joined with ``&``, all lower-cased."""
    pairs = sorted(
        ((k.lower(), v) for k, v in _pairs(params) if k.lower() != SIGNATURE),
        key=lambda pair: pair[0],
    )
    joined = "&".join(f"{quote(k, safe='[]')}={quote(v, safe='[]*')}" for k, v in pairs)
    return joined.lower().replace("+", "%20")


def signature(params: Mapping[str, str] | Iterable[tuple[str, str]], secret: Secret) -> str:
    """The base64 HMAC-SHA1 of :func:`canonical_string` under ``secret``."""
    digest = hmac.new(secret.reveal().encode("utf-8"), canonical_string(params).encode("utf-8"),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def expires_at(moment: float) -> str:
    """``moment`` (a Unix time) as signature version 3 writes ``expires``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(moment))


@dataclass(frozen=True, slots=True)
class CloudStackCredentials:
    """An API key and its secret key; ``expires`` (seconds), when set, makes
    every signature a version 3 one that the server refuses after that long."""

    api_key: str
    secret_key: Secret
    expires: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key:
            raise InvalidInput("CloudStack needs an API key (key=)")
        if not self.secret_key.reveal():
            raise InvalidInput("CloudStack needs a secret key (secret=)")
        if self.expires is not None and (isinstance(self.expires, bool) or self.expires <= 0):
            raise InvalidInput(f"signature expiry must be a positive number of seconds: "
                               f"{self.expires!r}")

    def __repr__(self) -> str:
        return f"CloudStackCredentials(api_key={self.api_key!r}, secret_key=***)"


def sign_params(params: Mapping[str, str] | Iterable[tuple[str, str]],
                credentials: CloudStackCredentials, now: float,
                form: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """``params`` with ``apiKey`` (and for version 3 ``signatureVersion`` and
    ``expires``) added and ``signature`` last; a ``signature`` or ``apiKey``
    already there is replaced. ``form``: parameters sent in a form body
    (signed too, not added)."""
    replaced = {"apikey", SIGNATURE, "signatureversion", "expires"}
    pairs = [(k, v) for k, v in _pairs(params) if k.lower() not in replaced]
    pairs.append(("apiKey", credentials.api_key))
    if credentials.expires is not None:
        pairs += [("signatureVersion", "3"), ("expires", expires_at(now + credentials.expires))]
    pairs.append((SIGNATURE, signature([*pairs, *form], credentials.secret_key)))
    return pairs


def sign_request(request: Request, credentials: CloudStackCredentials, now: float) -> Request:
    """``request`` with its query parameters signed (see :func:`sign_params`);
    the parameters of a form body (``application/x-www-form-urlencoded``, as
    CloudStack takes large user data by ``POST``) are signed with them."""
    form: list[tuple[str, str]] = []
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"),
                        "")
    if isinstance(request.body, bytes) and content_type.startswith(FORM):
        form = parse_qsl(request.body.decode("ascii"), keep_blank_values=True)
    return Request(
        request.method, request.url, request.headers,
        tuple(sign_params(request.params, credentials, now, form)), request.body,
        request.stream, request.idempotent, request.timeout, request.sign,
    )
