"""Azure Storage Shared Key signing, service SAS tokens and connection strings.

Three pure tools, used by the Azure Blob storage driver and checked in unit
tests against values the Azure SDK computes:

* :func:`sign_request` adds ``x-ms-date``, ``x-ms-version`` and the
  ``Authorization: SharedKey <account>:<signature>`` header to a
  :class:`~overcast.runtime.effects.Request`, for one attempt at time ``now``
  ("Authorize with Shared Key", blob service, version 2009-09-19 and later).
  :func:`string_to_sign` is the text it signs: the verb, twelve standard
  headers (``Content-Length`` empty when 0), the canonicalized ``x-ms-*``
  headers (lower-cased, in the service's collation order, see
  :func:`header_order`) and the canonicalized resource
  (``/<account><encoded URL path>`` then ``\\n<name>:<values>`` for each query
  parameter, names lower-cased and sorted, values decoded).
* :func:`blob_sas` and :func:`container_sas` build a service SAS (``sv``,
  ``sr``, ``sp``, ``st``, ``se``, ``spr``, ``sig``) for signed versions
  2020-12-06 and later.
* :func:`parse_connection_string` reads ``AccountName``, ``AccountKey``,
  ``BlobEndpoint``, ``DefaultEndpointsProtocol``, ``EndpointSuffix``,
  ``SharedAccessSignature`` and ``UseDevelopmentStorage=true`` (Azurite's
  well-known, public development account).

The account key is a base64 string; it is kept as a
:class:`~overcast.runtime.redact.Secret` and read only to compute an HMAC.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from email.utils import formatdate
from typing import Final
from urllib.parse import parse_qsl
from urllib.parse import quote
from urllib.parse import urlsplit

from overcast.errors import InvalidInput
from overcast.runtime.effects import Request
from overcast.runtime.effects import body_length
from overcast.runtime.redact import Secret

__all__ = [
    "API_VERSION",
    "DEVSTORE_ACCOUNT",
    "DEVSTORE_BLOB_ENDPOINT",
    "DEVSTORE_KEY",
    "ConnectionSettings",
    "blob_sas",
    "canonicalized_headers",
    "canonicalized_resource",
    "check_account_key",
    "container_sas",
    "header_order",
    "parse_connection_string",
    "sign",
    "sign_request",
    "string_to_sign",
]

#: The REST API version overcast speaks (``x-ms-version``) and signs SAS tokens with.
API_VERSION: Final = "2021-08-06"
#: Azurite's (and the old storage emulator's) development account. Public, documented values.
DEVSTORE_ACCOUNT: Final = "devstoreaccount1"
DEVSTORE_KEY: Final = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
DEVSTORE_BLOB_ENDPOINT: Final = f"http://127.0.0.1:10000/{DEVSTORE_ACCOUNT}"

#: The standard headers of the string to sign, in order.
_SIGNED_HEADERS: Final = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)

# The service sorts canonicalized header names with a culture-aware collation,
# not by code point: first by these weights, skipping the characters that have
# none ("-" among them), then by where the hyphens and apostrophes fall.
_PRIMARY_ORDER: Final = "!#$%&*.^_`|~+0123456789abcdefghijklmnopqrstuvwxyz"
_PRIMARY: Final = {c: i + 1 for i, c in enumerate(_PRIMARY_ORDER)}
_SECONDARY: Final = {"'": 1, "-": 2}
_END: Final = -1


def _primary_weights(name: str) -> list[int]:
    weights: list[int] = []
    for char in name.lower():
        if char in _PRIMARY:
            weights.append(_PRIMARY[char])
        elif not (char in _SECONDARY or char in "\"(),/:;<=>?@[\\]{}"):
            weights.append(1000 + ord(char))  # outside the table: after everything
    return weights


def _compare_names(left: str, right: str) -> int:
    """The service's order of two lower-case header names (-1, 0 or 1)."""
    a, b = _primary_weights(left), _primary_weights(right)
    if a != b:
        return -1 if a < b else 1
    # Same letters: the name whose first hyphen (or apostrophe) comes later sorts first.
    i = j = 0
    while True:
        if i != j:
            return -1 if i > j else 1
        wa = _SECONDARY.get(left[i], 0) if i < len(left) else _END
        wb = _SECONDARY.get(right[j], 0) if j < len(right) else _END
        if wa == _END and wb == _END:
            return 0
        if wa == wb:
            i += 1
            j += 1
        elif wa == 0:
            i += 1
        elif wb == 0:
            j += 1
        else:
            return -1 if wa < wb else 1


def header_order(names: Iterable[str]) -> list[str]:
    """Header names (lower case) in the order the service canonicalizes them."""
    return sorted(names, key=functools.cmp_to_key(_compare_names))


def canonicalized_headers(headers: Mapping[str, str]) -> str:
    """The ``x-ms-*`` headers, one ``name:value\\n`` each, in the service's order."""
    found: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower().strip()
        if lowered.startswith("x-ms-"):
            found[lowered] = str(value).strip()
    return "".join(f"{name}:{found[name]}\n" for name in header_order(found))


def canonicalized_resource(account: str, url: str) -> str:
    """``/<account><path as sent>`` then ``\\n<name>:<value,...>`` per query
    parameter (names lower-cased and sorted, values decoded once)."""
    parts = urlsplit(url)
    grouped: dict[str, list[str]] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        grouped.setdefault(name.lower(), []).append(value)
    text = f"/{account}{parts.path or '/'}"
    for name in sorted(grouped):
        text += f"\n{name}:{','.join(sorted(grouped[name]))}"
    return text


def string_to_sign(request: Request, account: str) -> str:
    """The Shared Key string to sign for ``request`` (headers already final)."""
    headers = {k.lower(): str(v) for k, v in request.headers.items()}
    if "content-length" not in headers:
        length = body_length(request.body)
        if length:
            headers["content-length"] = str(length)
    if headers.get("content-length") == "0":
        headers["content-length"] = ""
    lines = [request.method.upper()]
    lines += [headers.get(name, "") for name in _SIGNED_HEADERS]
    return (
        "\n".join(lines)
        + "\n"
        + canonicalized_headers(request.headers)
        + canonicalized_resource(account, request.full_url)
    )


def sign(key: Secret, text: str) -> str:
    """base64(HMAC-SHA256(base64-decoded account key, UTF-8 text))."""
    digest = hmac.new(_key_bytes(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _key_bytes(key: Secret) -> bytes:
    try:
        return base64.b64decode(key.reveal(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the Azure account key is not valid base64") from None


def check_account_key(key: Secret) -> None:
    """Raise :class:`InvalidInput` (without the key) if it is not base64."""
    _key_bytes(key)


def http_date(now: float) -> str:
    """RFC 1123 date in GMT, as ``x-ms-date`` wants it."""
    return formatdate(now, usegmt=True)


def sign_request(
    request: Request, account: str, key: Secret, now: float, *, version: str = API_VERSION
) -> Request:
    """``request`` with ``x-ms-date``, ``x-ms-version`` (unless set) and a Shared
    Key ``Authorization`` header, for one attempt at time ``now``."""
    added = {"x-ms-date": http_date(now)}
    if not any(k.lower() == "x-ms-version" for k in request.headers):
        added["x-ms-version"] = version
    request = request.with_headers(added)
    signature = sign(key, string_to_sign(request, account))
    return request.with_headers({"Authorization": f"SharedKey {account}:{signature}"})


# -- shared access signatures --------------------------------------------------------


def _sas_time(value: datetime | float) -> str:
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sas(account: str, key: Secret, resource_path: str, resource: str, *, permission: str,
         expiry: datetime | float, start: datetime | float | None, protocol: str | None,
         ip: str | None, version: str, identifier: str | None) -> str:
    if version < "2020-12-06":
        raise InvalidInput(f"SAS version {version!r} is older than 2020-12-06")
    fields: dict[str, str] = {"sv": version, "sr": resource, "sp": permission}
    if start is not None:
        fields["st"] = _sas_time(start)
    fields["se"] = _sas_time(expiry)
    if protocol:
        fields["spr"] = protocol
    if ip:
        fields["sip"] = ip
    if identifier:
        fields["si"] = identifier
    text = "\n".join(
        [
            permission,
            fields.get("st", ""),
            fields["se"],
            f"/blob/{account}/{resource_path}",
            identifier or "",
            ip or "",
            protocol or "",
            version,
            resource,
            "",  # signed snapshot time
            "",  # signed encryption scope
            "",  # rscc
            "",  # rscd
            "",  # rsce
            "",  # rscl
            "",  # rsct
        ]
    )
    fields["sig"] = sign(key, text)
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items())


def blob_sas(account: str, key: Secret, container: str, blob: str, *, permission: str,
             expiry: datetime | float, start: datetime | float | None = None,
             protocol: str | None = None, ip: str | None = None, version: str = API_VERSION,
             identifier: str | None = None) -> str:
    """A service SAS query string (without ``?``) for one blob (``sr=b``).

    ``permission`` in the service's order (``racwd``...); times are UTC
    datetimes or POSIX seconds; ``protocol`` is ``"https"`` or ``"https,http"``.
    """
    return _sas(
        account, key, f"{container}/{blob}", "b", permission=permission, expiry=expiry,
        start=start, protocol=protocol, ip=ip, version=version, identifier=identifier,
    )


def container_sas(account: str, key: Secret, container: str, *, permission: str,
                  expiry: datetime | float, start: datetime | float | None = None,
                  protocol: str | None = None, ip: str | None = None, version: str = API_VERSION,
                  identifier: str | None = None) -> str:
    """A service SAS query string (without ``?``) for a container (``sr=c``)."""
    return _sas(
        account, key, container, "c", permission=permission, expiry=expiry, start=start,
        protocol=protocol, ip=ip, version=version, identifier=identifier,
    )


# -- connection strings ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """What a storage connection string says about the blob service."""

    account_name: str | None
    account_key: Secret | None
    blob_endpoint: str
    sas_token: Secret | None = None

    def __repr__(self) -> str:
        return (
            f"ConnectionSettings(account_name={self.account_name!r}, "
            f"blob_endpoint={self.blob_endpoint!r}, account_key={self.account_key!r}, "
            f"sas_token={self.sas_token!r})"
        )


def parse_connection_string(text: str | Secret) -> ConnectionSettings:
    """Parse an Azure Storage connection string (``Name=value;...``).

    ``UseDevelopmentStorage=true`` means Azurite's development account on
    ``http://127.0.0.1:10000/devstoreaccount1``. Without ``BlobEndpoint`` the
    endpoint is ``<protocol>://<account>.blob.<EndpointSuffix>``. Errors never
    include the string (it holds the key).
    """
    raw = text.reveal() if isinstance(text, Secret) else str(text)
    fields: dict[str, str] = {}
    for item in raw.split(";"):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput("malformed connection string: expected Name=value pairs")
        fields[name.strip().lower()] = value.strip()
    if fields.get("usedevelopmentstorage", "").lower() == "true":
        return ConnectionSettings(
            DEVSTORE_ACCOUNT, Secret(DEVSTORE_KEY), DEVSTORE_BLOB_ENDPOINT
        )
    account = fields.get("accountname") or None
    key = Secret(fields["accountkey"]) if fields.get("accountkey") else None
    sas = fields.get("sharedaccesssignature") or None
    endpoint = fields.get("blobendpoint")
    if not endpoint:
        if not account:
            raise InvalidInput("connection string has neither BlobEndpoint nor AccountName")
        protocol = fields.get("defaultendpointsprotocol", "https").lower()
        if protocol not in ("http", "https"):
            raise InvalidInput(f"DefaultEndpointsProtocol must be http or https: {protocol!r}")
        suffix = fields.get("endpointsuffix", "core.windows.net")
        endpoint = f"{protocol}://{account}.blob.{suffix}"
    return ConnectionSettings(
        account, key, endpoint.rstrip("/"), Secret(sas.lstrip("?")) if sas else None
    )
