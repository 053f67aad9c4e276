"""AWS Signature Version 4: pure functions over :class:`Request` values.

Used by every AWS-compatible driver (S3 and S3-compatible stores, Route 53,
EC2, ...). Checked against AWS's published SigV4 test-suite vectors and against
botocore's signer on generated requests (tests/unit/auth).

A driver's ``_sign`` hook calls :func:`sign_request` on every attempt, with the
runner's clock, so retries carry a fresh date and signature. Hashing a large
payload is the driver's job (as a :class:`~overcast.runtime.effects.Call`, so the
async loop never blocks): it puts the hex digest in ``x-amz-content-sha256``,
which the signer then trusts.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Final
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit

from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.runtime.effects import Request
from overcast.runtime.redact import Secret

if TYPE_CHECKING:
    from overcast.auth.aws_credentials import AwsCredentialSource
    from overcast.runtime.effects import Op

__all__ = [
    "EMPTY_SHA256",
    "UNSIGNED_PAYLOAD",
    "AwsCredentials",
    "SigV4Hooks",
    "canonical_request",
    "presign_url",
    "refresh_credentials",
    "sign_request",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
#: Bodies up to this size are hashed by the signer itself; larger ones must
#: carry ``x-amz-content-sha256`` (hashed off the loop) or go unsigned (S3).
INLINE_HASH_LIMIT: Final = 256 * 1024
# Headers never signed: proxies and clients may change them in flight.
_UNSIGNED_HEADERS: Final = frozenset(
    {"user-agent", "expect", "x-amzn-trace-id", "authorization", "connection",
     "transfer-encoding", "content-length"}
)


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An access key id, its secret and an optional session token; ``source``
    says where they were found (``"explicit"``, ``"environment"``,
    ``"/home/me/.aws/credentials [default]"``, ...)."""

    access_key: str
    secret_key: Secret
    session_token: Secret | None = None
    source: str = "explicit"

    def __repr__(self) -> str:
        return (f"AwsCredentials(access_key={self.access_key!r}, secret_key=***, "
                f"source={self.source!r})")

    def secrets(self) -> tuple[Secret, ...]:
        """The values to keep out of any text: the secret key and the session token."""
        if self.session_token is None:
            return (self.secret_key,)
        return (self.secret_key, self.session_token)

    def current(self) -> AwsCredentials:
        """These credentials (static ones never change; see
        :class:`~overcast.auth.aws_credentials.AwsCredentialSource`)."""
        return self

    @classmethod
    def resolve(cls, key: str | None = None, secret: str | Secret | None = None,
                token: str | Secret | None = None, *, profile: str | None = None,
                environ: Mapping[str, str] | None = None,
                ) -> AwsCredentials | AwsCredentialSource:
        """Credentials given explicitly, else found where the AWS CLI looks, in
        its order (:mod:`overcast.auth.aws_credentials`): the environment, the
        profile ``profile`` (or ``AWS_PROFILE``, or ``default``) of the shared
        config and credentials files (keys, an assumed role, web identity,
        ``credential_process``), container credentials, instance metadata.
        Temporary credentials come back as an ``AwsCredentialSource`` that the
        driver renews before they expire; nothing is fetched here."""
        if key and secret:
            return cls(key, Secret(secret), Secret(token) if token else None)
        if key or secret:
            raise InvalidCredentials("give both an access key id and a secret key")
        from overcast.auth.aws_credentials import resolve_aws_credentials

        return resolve_aws_credentials(profile=profile, environ=environ)


def refresh_credentials(credentials: AwsCredentials | AwsCredentialSource, now: float,
                        driver: Any = None) -> Op[None] | None:
    """A driver's ``_refresh`` hook for AWS credentials: ``None`` for static
    keys or fresh temporary ones, else the operation that renews them
    (``driver``: whose transports and hooks the metadata client shares)."""
    if isinstance(credentials, AwsCredentials):
        return None
    credentials.bind(driver)
    return credentials.refresh(now)


class SigV4Hooks:
    """The runtime hooks of a driver whose requests are signed with AWS Signature
    V4: signing each attempt, the secrets to redact, and renewal of temporary
    credentials before they expire.

    A driver lists it before its base driver class, names its service in
    ``signing_service``, and holds ``_credentials``, ``region`` (the region it
    signs for) and ``endpoint``.
    """

    signing_service: ClassVar[str]
    _credentials: AwsCredentials | AwsCredentialSource
    region: str
    endpoint: str

    def _sign(self, request: Request, now: float) -> Request:
        """Sign one attempt for the driver's region and ``signing_service``."""
        return sign_request(request, self._credentials, self.region, self.signing_service, now)

    def _secrets(self) -> tuple[Secret, ...]:
        return self._credentials.secrets()

    def _refresh(self, now: float) -> Op[None] | None:
        """Temporary credentials renewed before they expire."""
        return refresh_credentials(self._credentials, now, self)

    def _repr_fields(self) -> dict[str, object]:
        return {"region": self.region, "endpoint": self.endpoint}


def amz_date(now: float) -> str:
    """``YYYYMMDDTHHMMSSZ`` for a Unix time."""
    return _amz_date_of_second(int(now))


@lru_cache(maxsize=4)
def _amz_date_of_second(second: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))


@lru_cache(maxsize=64)
def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@lru_cache(maxsize=64)
def _keyed_hashes(secret: str, day: str, region: str, service: str) -> tuple[Any, Any]:
    """The inner and outer SHA-256 states of HMAC with the day's signing key
    (RFC 2104: ``H((K ^ opad) || H((K ^ ipad) || m))``). Copying them per
    signature is a third of the cost of a fresh HMAC, which re-derives both."""
    key = _signing_key(secret, day, region, service).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def _hmac_hex(keyed: tuple[Any, Any], message: bytes) -> str:
    inner, outer = keyed[0].copy(), keyed[1].copy()
    inner.update(message)
    outer.update(inner.digest())
    return str(outer.hexdigest())


def _uri_encode(value: str, *, keep_slash: bool = False) -> str:
    return quote(value, safe="-_.~/" if keep_slash else "-_.~")


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((_uri_encode(unquote(key)), _uri_encode(unquote(value))))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


@lru_cache(maxsize=4096)
def _canonical_path(path: str, *, s3: bool) -> str:
    if not path:
        return "/"
    if s3:
        # S3 signs the path as sent (already encoded once by the driver).
        return _uri_encode(unquote(path), keep_slash=True)
    # Other services: normalise, then encode the encoded path once more.
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    normal = "/" + "/".join(segments)
    if path.endswith("/") and normal != "/":
        normal += "/"
    return _uri_encode(normal, keep_slash=True)


def _host(url: str) -> str:
    parts = urlsplit(url)
    return _host_of(parts.scheme, parts.netloc)


@lru_cache(maxsize=256)
def _host_of(scheme: str, netloc: str) -> str:
    parts = urlsplit(f"{scheme}://{netloc}")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port and not (
        (parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443)
    ):
        host = f"{host}:{port}"
    return host


def _payload_hash(body: Any, *, s3: bool) -> str:
    if body is None or body == b"":
        return EMPTY_SHA256
    if isinstance(body, bytes | bytearray | memoryview) and len(body) <= INLINE_HASH_LIMIT:
        return hashlib.sha256(body).hexdigest()
    if s3:
        return UNSIGNED_PAYLOAD
    if isinstance(body, bytes | bytearray | memoryview):
        return hashlib.sha256(body).hexdigest()
    raise InvalidInput("a streamed body needs x-amz-content-sha256 for this service")


def canonical_request(method: str, url: str, headers: dict[str, str], payload_hash: str, *,
                      s3: bool, host: str | None = None) -> tuple[str, str]:
    """The canonical request text and the signed-headers list, per SigV4
    (``host``, when given, is signed as the ``host`` header)."""
    parts = urlsplit(url)
    lowered: dict[str, str] = {} if host is None else {"host": host}
    for key, value in headers.items():
        name = key.lower().strip()
        if name not in _UNSIGNED_HEADERS:
            lowered[name] = " ".join(value.split())
    names = sorted(lowered)
    signed = ";".join(names)
    text = "\n".join(
        [
            method.upper(),
            _canonical_path(parts.path, s3=s3),
            _canonical_query(parts.query),
            "".join([f"{name}:{lowered[name]}\n" for name in names]),
            signed,
            payload_hash,
        ]
    )
    return text, signed


def _signature(
    credentials: AwsCredentials, stamp: str, region: str, service: str, creq: str
) -> tuple[str, str]:
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, stamp, scope, hashlib.sha256(creq.encode()).hexdigest()]
    )
    keyed = _keyed_hashes(credentials.secret_key.reveal(), stamp[:8], region, service)
    return scope, _hmac_hex(keyed, to_sign.encode())


#: Headers the signer sets itself: any the request carries are dropped.
_SIGNER_HEADERS: Final = frozenset({"authorization", "x-amz-date", "host", "x-amz-security-token"})


def sign_request(request: Request, credentials: AwsCredentials | AwsCredentialSource,
                 region: str, service: str, now: float) -> Request:
    """Return ``request`` with ``Authorization``, ``x-amz-date``, ``host`` and
    (for S3) ``x-amz-content-sha256`` headers for time ``now`` (temporary
    credentials: the current ones, renewed by the driver's ``_refresh``)."""
    credentials = credentials.current()
    s3 = service == "s3"
    url = request.full_url
    headers: dict[str, str] = {}
    declared: str | None = None
    for key, value in request.headers.items():
        name = key.lower()
        if name in _SIGNER_HEADERS:
            continue
        if name == "x-amz-content-sha256":
            declared = value
        headers[key] = value
    stamp = amz_date(now)
    headers["x-amz-date"] = stamp
    if credentials.session_token is not None:
        headers["x-amz-security-token"] = credentials.session_token.reveal()
    body = request.body
    payload = declared or (EMPTY_SHA256 if body is None else _payload_hash(body, s3=s3))
    if s3 and declared is None:
        headers["x-amz-content-sha256"] = payload
    # The transport sets Host from the URL: it is signed, not sent from here.
    creq, signed = canonical_request(request.method, url, headers, payload, s3=s3, host=_host(url))
    scope, signature = _signature(credentials, stamp, region, service, creq)
    headers["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return Request(
        request.method, url, headers, (), request.body, request.stream, request.idempotent,
        request.timeout, request.sign,
    )


def presign_url(method: str, url: str, credentials: AwsCredentials | AwsCredentialSource,
                region: str, service: str, now: float, expires: int) -> str:
    """A query-signed URL valid for ``expires`` seconds (1 s to 7 days)."""
    credentials = credentials.current()
    if not 1 <= expires <= 604800:
        raise InvalidInput(f"expires must be between 1 and 604800 seconds: {expires}")
    stamp = amz_date(now)
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    params = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{credentials.access_key}/{scope}"),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if credentials.session_token is not None:
        params.append(("X-Amz-Security-Token", credentials.session_token.reveal()))
    query = "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in params)
    sep = "&" if urlsplit(url).query else "?"
    unsigned = f"{url}{sep}{query}"
    creq, _ = canonical_request(
        method, unsigned, {"host": _host(url)}, UNSIGNED_PAYLOAD, s3=service == "s3"
    )
    _, signature = _signature(credentials, stamp, region, service, creq)
    return f"{unsigned}&X-Amz-Signature={signature}"
