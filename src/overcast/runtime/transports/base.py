"""The transport interface: one method to send a prepared request.

A transport owns one connection pool. The runners own everything else (signing,
retries, timeouts per operation, hooks), so a transport is small: it sends,
maps its library's exceptions to :class:`TransportFailure`, and wraps a streamed
body in a :class:`~overcast.runtime.streams.ByteStream`.
"""

from __future__ import annotations

import os
import time
from abc import ABC
from abc import abstractmethod
from collections.abc import AsyncIterator
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Final

from overcast.errors import OperationTimeout
from overcast.errors import TransportError
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.streams import DEFAULT_CHUNK_SIZE

if TYPE_CHECKING:
    import ssl

__all__ = [
    "DEFAULT_POOL_SIZE",
    "AsyncTransport",
    "FailureKinds",
    "Proxies",
    "RateGuard",
    "SyncTransport",
    "Timeouts",
    "TransportFailure",
    "as_async_chunks",
    "buffer_chunks",
    "cert_files",
    "in_memory_body",
    "ssl_context",
]

#: A TLS client certificate: one PEM file with certificate and key, or the two files.
ClientCert = str | tuple[str, str]

#: Connections kept per host; also the cap on concurrent requests to one host.
DEFAULT_POOL_SIZE: Final = 16


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long anything may take, in seconds; exceeding any raises
    :class:`~overcast.errors.OperationTimeout` (or a TransportError).

    * ``connect``: to establish a connection (default 10 s).
    * ``read``: to wait for the next bytes of an answer (default 60 s).
    * ``total``: one operation, its retries and backoff included (default 120 s;
      ``None``: no limit). It grows with the work, never cutting a healthy
      transfer short: a body of known size adds ``size / min_rate``, a pause the
      operation asks for adds its length, and a long operation (a deployment)
      declares what it needs. An iterator's budget applies to each item.
    * ``min_rate``: bytes per second a transfer must average over any ``read``
      seconds (default 1 KiB/s; ``None``: no floor). A server that trickles a
      byte at a time is given up on instead of holding the call for ever.

    With the defaults, a server that accepts a connection and never answers
    fails a GET after two 60-second attempts (the total caps the retries), and
    one that trickles fails within ``read`` seconds of starting to.
    """

    connect: float = 10.0
    read: float = 60.0
    total: float | None = 120.0
    min_rate: float | None = 1024.0


class TransportFailure(Exception):
    """A request failed below HTTP.

    ``sent`` is False only when the request certainly did not reach the server
    (the connection was never established); ``timeout`` marks timeouts.
    """

    def __init__(self, message: str, *, sent: bool, timeout: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.timeout = timeout

    def to_error(self, driver: str | None) -> TransportError | OperationTimeout:
        """The public error for this failure."""
        if self.timeout:
            return OperationTimeout(str(self), driver=driver)
        return TransportError(str(self), driver=driver)


@dataclass(frozen=True)
class FailureKinds:
    """How one client library's exceptions read as :class:`TransportFailure`:
    ``refused`` (no connection made), ``connect_timeout`` (none made in time)
    and ``timeout`` (no answer, or no more of it, in time); any other error
    is a connection that failed after the request may have been sent."""

    refused: tuple[type[BaseException], ...]
    timeout: tuple[type[BaseException], ...]
    connect_timeout: tuple[type[BaseException], ...] = ()

    def failure(self, exc: BaseException, where: str, *, reading: bool = False,
                after: float | None = None) -> TransportFailure:
        """The failure ``exc`` means for ``where`` (method and redacted URL):
        while sending, or while ``reading`` the answer (read for ``after``
        seconds, when known)."""
        name = type(exc).__name__
        if not reading and isinstance(exc, self.refused):
            return TransportFailure(f"cannot connect for {where}: {name}", sent=False)
        if not reading and isinstance(exc, self.connect_timeout):
            return TransportFailure(f"connect timed out: {where}", sent=False, timeout=True)
        if isinstance(exc, self.timeout):
            waited = "" if after is None else f" after {after:g}s"
            return TransportFailure(f"{'read ' if reading else ''}timed out{waited}: {where}",
                                    sent=True, timeout=True)
        doing = "lost reading" if reading else "failed during"
        return TransportFailure(f"connection {doing} {where}: {name}", sent=True)


class SyncTransport(ABC):
    """Sends requests with a blocking client. Thread-safe; one pool per instance."""

    @abstractmethod
    def send(self, request: Request, *, connect_timeout: float, read_timeout: float) -> Response:
        """Send ``request`` (already signed, ``params`` already in ``full_url``).

        Raises :class:`TransportFailure` when no HTTP response was received.
        """

    @abstractmethod
    def close(self) -> None:
        """Close every pooled connection."""


class AsyncTransport(ABC):
    """Sends requests with an async client; bound to the event loop it was made in."""

    @abstractmethod
    async def send(
        self, request: Request, *, connect_timeout: float, read_timeout: float
    ) -> Response:
        """Send ``request``; see :meth:`SyncTransport.send`."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close every pooled connection."""


async def as_async_chunks(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """A sync iterable of chunks as an async one (what async clients take as a
    streamed body)."""
    for chunk in chunks:
        yield chunk


class RateGuard:
    """Gives up on a body that arrives slower than ``min_rate`` bytes a second,
    on average over any ``window`` seconds: libcurl's low-speed limit, for the
    clients that have none, so a server that trickles a byte at a time cannot
    hold a call for ever. ``min_rate`` ``None`` checks nothing."""

    __slots__ = ("count", "mark", "min_rate", "what", "window")

    def __init__(self, min_rate: float | None, window: float, what: str) -> None:
        self.min_rate = min_rate
        self.window = max(window, 0.001)
        self.what = what
        self.mark = time.monotonic()
        self.count = 0

    def update(self, size: int) -> None:
        """Account for ``size`` bytes received; raise :class:`TransportFailure` (a
        timeout) if the last window fell short of the minimum rate."""
        if self.min_rate is None:
            return
        self.count += size
        now = time.monotonic()
        elapsed = now - self.mark
        if elapsed >= self.window:
            if self.count < self.min_rate * elapsed:
                raise TransportFailure(
                    f"{self.what}: fewer than {self.min_rate:g} bytes/s over {elapsed:.0f}s",
                    sent=True, timeout=True,
                )
            self.mark, self.count = now, 0


def buffer_chunks(body: bytearray | memoryview) -> Iterator[bytes]:
    """A large in-memory body as ``bytes`` slices, for clients that copy a
    whole non-``bytes`` body first (an upload part would be copied whole)."""
    with memoryview(body) as view:
        flat = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        for start in range(0, len(flat), DEFAULT_CHUNK_SIZE):
            yield bytes(flat[start : start + DEFAULT_CHUNK_SIZE])


def in_memory_body(body: bytearray | memoryview) -> bytes | Iterator[bytes]:
    """What to give a client that wants ``bytes`` or an iterable: small bodies
    copied once, large ones in slices (:func:`buffer_chunks`)."""
    if memoryview(body).nbytes <= DEFAULT_CHUNK_SIZE:
        return bytes(body)
    return buffer_chunks(body)


def cert_files(client_cert: ClientCert) -> tuple[str, str | None]:
    """``(certificate file, key file or None)`` of a client certificate option."""
    if isinstance(client_cert, str):
        return client_cert, None
    cert, key = client_cert
    return cert, key


def ssl_context(verify: bool | str, client_cert: ClientCert | None) -> ssl.SSLContext:
    """The TLS context for ``verify`` (True, False or a CA bundle) presenting
    ``client_cert``, for the clients that take a context."""
    import ssl  # here, not at import: slow to load

    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        cert, key = cert_files(client_cert)
        context.load_cert_chain(cert, key)
    return context


class Proxies:
    """Which forward proxy a URL goes through, the way curl decides it.

    ``explicit`` (the ``proxy=`` option) serves every URL; without it
    ``https_proxy``/``HTTPS_PROXY`` serves ``https://`` URLs and ``http_proxy``/
    ``HTTP_PROXY`` ``http://`` ones (``ALL_PROXY`` either). Hosts listed in
    ``NO_PROXY`` (names, ``.suffix`` or ``suffix`` domains, IP addresses or
    CIDR ranges, an optional ``:port``; ``*`` for all) are reached directly.
    The environment is read once, when the transport is made.
    """

    __slots__ = ("_bypass", "_http", "_https")

    def __init__(self, explicit: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(name.lower()) or env.get(name.upper()) or None

        every = explicit or get("all_proxy")
        self._https = explicit or get("https_proxy") or every
        self._http = explicit or get("http_proxy") or every
        self._bypass = tuple(
            entry.strip().lower() for entry in (get("no_proxy") or "").split(",") if entry.strip()
        )

    @property
    def active(self) -> bool:
        """Whether any URL may go through a proxy."""
        return bool(self._https or self._http)

    def for_url(self, url: str) -> str | None:
        """The proxy URL for ``url``, or ``None`` to connect directly."""
        scheme, _, rest = url.partition("://")
        proxy = self._https if scheme.lower() == "https" else self._http
        if proxy is None:
            return None
        netloc = rest.split("/", 1)[0].rsplit("@", 1)[-1].lower()
        if netloc.startswith("["):
            host, _, tail = netloc[1:].partition("]")
            port = tail.removeprefix(":")
        else:
            host, _, port = netloc.partition(":")
        port = port or ("443" if scheme.lower() == "https" else "80")
        return None if self._bypassed(host, port) else proxy

    def _bypassed(self, host: str, port: str) -> bool:
        for entry in self._bypass:
            if entry == "*":
                return True
            name, want = entry, ""
            if entry.startswith("["):
                name, _, tail = entry[1:].partition("]")
                want = tail.removeprefix(":")
            elif entry.count(":") == 1:
                name, _, want = entry.partition(":")
            if want and want != port:
                continue
            if "/" in name:
                import ipaddress

                try:
                    if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                        return True
                except ValueError:
                    pass
                continue
            name = name.lstrip(".")
            if host == name or host.endswith("." + name):
                return True
        return False
