"""What the storage drivers that speak HTTP share (S3, Azure Blobs, Google
Storage, Swift), on top of :class:`~overcast.runtime.api.HttpApi`.

* :class:`StorageApi`, the mixin they put first: an error about an object
  whose container is missing names the container, and a ranged ``GET``'s
  answer becomes a :class:`~overcast.storage.transfer.Ranged` for the base
  class's download;
* the header forms they read: HTTP and ISO dates, numbers, user metadata
  carried as prefixed headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from typing import Any

from overcast.errors import ContainerNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import OvercastError
from overcast.errors import ProviderError
from overcast.runtime.api import HttpApi
from overcast.runtime.api import Outcome
from overcast.runtime.effects import Response
from overcast.runtime.streams import ChunkObserver
from overcast.storage.transfer import Ranged
from overcast.storage.transfer import Span

__all__ = [
    "StorageApi",
    "header_int",
    "http_date",
    "iso_date",
    "user_meta",
]

#: An error about no resource in particular (the default of ``_error``).
_NO_OUTCOME = Outcome()


class StorageApi(HttpApi):
    """:class:`~overcast.runtime.api.HttpApi` for object storage.

    Calls about an object pass ``what=f"{container}/{name}"`` (container names
    never hold a ``/``) and ``missing=ObjectNotFound``: an answer that says the
    container is missing then names the container, not the object. Refused
    credentials are named by the provider's code (which of its many reasons).
    """

    def _error(self, resp: Response, outcome: Outcome = _NO_OUTCOME) -> OvercastError:
        """The error the table maps the answer to, named as above."""
        fault = self._redacted_fault(resp)
        container, slash, _ = outcome.what.partition("/")
        if slash and issubclass(self.errors.classify(fault), ContainerNotFound):
            outcome = Outcome(container, ContainerNotFound)
        error = self.errors.error(
            fault, outcome, label=self.label, method=resp.method, url=resp.url,
            headers=resp.headers, driver=self,
        )
        if isinstance(error, InvalidCredentials) and fault.code:
            return InvalidCredentials(
                f"{self.label} refused the credentials ({fault.code}): "
                f"{fault.message or f'HTTP {fault.status}'}",
                driver=self,
            )
        return error

    def _ranged(self, resp: Response, span: Span, checks: Sequence[ChunkObserver] = (), *,
                counted: bool = True) -> Ranged:
        """The answer to a ranged ``GET`` (sent with ``ok=(416,)``) for the base
        class's download: a 416 is "nothing there" (with the object's size
        from ``Content-Range`` when given); a partial read answered with
        anything but 206 is a :class:`~overcast.errors.ProviderError` (the
        server ignored the range). ``counted=False`` when ``Content-Length``
        does not count the bytes handed over (a body decoded on the way)."""
        if resp.status == 416:
            return Ranged(b"", satisfiable=False,
                          total=_content_range_total(resp.headers.get("Content-Range")))
        if not span.full and resp.status != 206:
            if resp.stream is not None:
                resp.stream.close()
            raise ProviderError(
                f"{self.label} ignored the Range header of {resp.method} {resp.url} "
                f"(status {resp.status})",
                status=resp.status, driver=self,
            )
        length = header_int(resp.headers.get("Content-Length")) if counted else None
        body = resp.stream if resp.stream is not None else resp.body
        return Ranged(body, length, checks)


def header_int(value: str | None) -> int | None:
    """A header's whole number, or ``None`` if absent or not a number."""
    return int(value) if value is not None and value.isdigit() else None


def http_date(value: str | None) -> datetime | None:
    """An HTTP date (``Last-Modified``), timezone-aware; ``None`` if absent or bad."""
    if not value:
        return None
    try:
        from email.utils import parsedate_to_datetime  # not at import: slow

        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso_date(value: Any) -> datetime | None:
    """An ISO 8601 time from a listing, timezone-aware (UTC when it names no
    zone); ``None`` if absent or bad."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def user_meta(headers: Mapping[str, str], prefix: str, *, lower: bool) -> dict[str, str]:
    """User metadata sent as headers named ``prefix`` + key (``x-amz-meta-``,
    ``x-ms-meta-``, ...): keys as received, or lower-cased for providers that
    store them so."""
    raw = getattr(headers, "raw_items", None)
    items = raw() if callable(raw) else list(headers.items())
    size = len(prefix)
    found = {}
    for name, value in items:
        if name.lower().startswith(prefix):
            key = name[size:]
            found[key.lower() if lower else key] = value
    return found


def _content_range_total(value: str | None) -> int | None:
    """The object's size from ``Content-Range: bytes */N`` (or ``a-b/N``)."""
    if value and "/" in value:
        return header_int(value.rsplit("/", 1)[1].strip())
    return None
