"""The transport interface: one method to send a prepared request.

A transport owns one connection pool. The runners own everything else (signing,
retries, timeouts per operation, hooks), so a transport is small: it sends,
maps its library's exceptions to :class:`TransportFailure`, and wraps a streamed
body in a :class:`~overcast.runtime.streams.ByteStream`.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import AsyncIterator
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from overcast.errors import OperationTimeout
from overcast.errors import TransportError
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.streams import DEFAULT_CHUNK_SIZE

__all__ = [
    "DEFAULT_POOL_SIZE",
    "AsyncTransport",
    "SyncTransport",
    "Timeouts",
    "TransportFailure",
    "as_async_chunks",
    "buffer_chunks",
    "in_memory_body",
]

#: Connections kept per host; also the cap on concurrent requests to one host.
DEFAULT_POOL_SIZE: Final = 16


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Timeouts in seconds: ``connect`` to establish a connection, ``read``
    between bytes of a response, ``total`` for a whole operation including its
    retries and pauses (``None``: no limit). Exceeding any raises
    :class:`~overcast.errors.OperationTimeout`."""

    connect: float = 10.0
    read: float = 60.0
    total: float | None = None


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
