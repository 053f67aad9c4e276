"""Keeping secrets out of reprs, logs and exception text.

Three tools, used by the runtime wherever text leaves overcast:

* :class:`Secret` wraps a credential so that ``repr``/``str`` never show it; the
  value is read only by the code that signs a request (``secret.reveal()``).
* :func:`redact_headers` and :func:`redact_url` mask the headers and query
  parameters that carry credentials or signatures.
* :func:`redact_text` removes known secret values from free text (a provider's
  error message may echo a signature back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Final
from urllib.parse import parse_qsl
from urllib.parse import quote
from urllib.parse import quote_plus
from urllib.parse import unquote
from urllib.parse import unquote_plus
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

if TYPE_CHECKING:
    from logging import LogRecord

__all__ = [
    "MASK",
    "SENSITIVE_HEADERS",
    "SENSITIVE_PARAMS",
    "RedactingFilter",
    "Secret",
    "is_sensitive_name",
    "redact_headers",
    "redact_logger",
    "redact_text",
    "redact_url",
]

MASK: Final = "***"

#: Header names (lower case) whose values are always masked.
SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-amz-security-token",
        "x-auth-token",
        "x-subject-token",
        "x-storage-token",
        "x-auth-key",
        "x-storage-pass",
        "x-api-key",
        "x-goog-iam-authorization-token",
        "cookie",
        "set-cookie",
        "x-ms-copy-source-authorization",
        "x-amz-server-side-encryption-customer-key",
        "x-amz-copy-source-server-side-encryption-customer-key",
    }
)

#: Query parameter names (lower case) whose values are always masked.
SENSITIVE_PARAMS: Final = frozenset(
    {
        "signature",
        "x-amz-signature",
        "x-amz-security-token",
        "x-amz-credential",
        "x-goog-signature",
        "x-goog-credential",
        "sig",
        "temp_url_sig",
        "token",
        "access_token",
        "password",
        "secret",
        "key",
        "api_key",
        "apikey",
        # A resumable upload session id lets whoever holds it write to it.
        "upload_id",
    }
)

# Names that suggest a secret wherever they appear (keys in dicts, form fields).
_SENSITIVE_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|signature|private[_-]?key|api[_-]?key|credential|"
    r"authorization|access[_-]?key)",
    re.IGNORECASE,
)
_PEM_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
    re.DOTALL,
)


class Secret:
    """A credential that never shows itself in ``repr``, ``str`` or f-strings.

    >>> s = Secret("hunter2")
    >>> s, str(s), f"{s}"
    (Secret('***'), '***', '***')
    >>> s.reveal()
    'hunter2'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        self._value = value.reveal() if isinstance(value, Secret) else str(value)

    def reveal(self) -> str:
        """Return the secret value, for the code that signs a request."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))


def is_sensitive_name(name: str) -> bool:
    """Whether a header, parameter or field name suggests it carries a secret."""
    lowered = name.lower()
    return (
        lowered in SENSITIVE_HEADERS
        or lowered in SENSITIVE_PARAMS
        or _SENSITIVE_NAME.search(lowered) is not None
    )


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return a copy of ``headers`` with credential-bearing values masked."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: (MASK if is_sensitive_name(k) else v) for k, v in items}


def redact_url(url: str) -> str:
    """Return ``url`` with user info and signature-bearing query values masked."""
    if "?" not in url and "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if is_sensitive_name(k) else v) for k, v in pairs], safe="*/:"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# A sensitive query parameter written out in free text (a URL a server echoes
# back, a client library's log line): its name, "=" (or %3D), and its value up
# to the next delimiter.
_PARAM_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9_.-])("
    + "|".join(re.escape(name) for name in sorted(SENSITIVE_PARAMS, key=len, reverse=True))
    + r")(=|%3[dD])([^&\s\"'<>#;,)\]]+)",
    re.IGNORECASE,
)


def _spellings(value: str) -> set[str]:
    """The ways a secret may be written in text: as is, and as clients and
    servers percent-encode or decode it (aiohttp, for one, re-encodes URLs)."""
    return {
        value,
        quote(value, safe=""),
        quote(value, safe="/"),
        quote_plus(value),
        unquote(value),
        unquote_plus(value),
    }


def redact_text(text: str, secrets: Iterable[str | Secret] = ()) -> str:
    """Remove known secret values (in any percent-encoding), the values of
    signature-bearing query parameters, and PEM private keys from free text."""
    text = _PEM_BLOCK.sub(f"-----{MASK} PRIVATE KEY-----", text)
    if "=" in text or "%3" in text:
        text = _PARAM_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        # Short values (a 1-char password) would mask unrelated text; they
        # are still kept out of reprs and headers by the other tools.
        if len(value) >= 4:
            for spelling in _spellings(value):
                if len(spelling) >= 4:
                    text = text.replace(spelling, MASK)
    return text


class RedactingFilter:
    """A logging filter that rewrites a record whose message would show a
    signature-bearing URL (httpx logs every request URL at INFO, urllib3 at
    DEBUG): the message is formatted, redacted, and kept without its arguments.

    It is a filter as :mod:`logging` defines one (an object with a ``filter``
    method), not a :class:`logging.Filter` subclass, so that importing the
    runtime does not load :mod:`logging` (a few ms of a cold start): the
    transports install it with the first connection pool."""

    def filter(self, record: LogRecord) -> bool:
        """Redact the record in place; never drop it."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging system's to report
            return True
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()


def redact_logger(name: str) -> None:
    """Make every record the logger ``name`` emits pass :class:`RedactingFilter`
    (idempotent). Transports call it for their client library's loggers."""
    import logging

    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
