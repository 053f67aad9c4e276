"""Streamed answers that pick up where a broken connection left them.

A download of gigabytes should not start over, nor fail, because one
connection was reset in its middle. The runner retries a request only until
its answer begins; once a streamed body is being read, :class:`ResumingStream`
takes over: when the body breaks (a reset, or fewer bytes than announced) it
asks for the rest with ``Range: bytes=<next>-<last>`` and ``If-Match: <ETag>``
(the standard HTTP means, which S3, Azure Blob Storage, Google Cloud Storage
and Swift all honour), checks that the answer is that exact rest of the same
representation, and carries on. The reader, and the observers checking the
whole (sizes, checksums), see one unbroken stream.

Only a ``GET`` whose answer names its representation with a strong ETag and
announces its length is resumed; nothing is resumed after a timeout (a slow
server stays slow) or when the object changed (``412``). Each resumption is a
request of its own, retried by the runner's policy; a body that breaks again
without delivering a byte ends the stream after as many tries as the policy
allows attempts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass

from overcast.errors import TransportError
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.streams import ByteStream

__all__ = ["Resume", "ResumingStream"]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


@dataclass(frozen=True, slots=True)
class Resume:
    """How to ask for the rest of a streamed answer: the request that began it,
    the span ``[start, end)`` of the representation its body covers, and the
    ETag that must still hold."""

    request: Request
    start: int
    end: int
    etag: str

    @classmethod
    def of(cls, request: Request, response: Response) -> Resume | None:
        """How to resume ``response``'s stream, or None if it cannot be."""
        stream = response.stream
        if stream is None or request.method != "GET" or not request.is_idempotent:
            return None
        headers = response.headers
        etag = headers.get("ETag")
        if not etag or etag.startswith("W/"):
            return None  # a weak validator does not promise the same bytes
        encoding = headers.get("Content-Encoding")
        if encoding and encoding.lower() != "identity":
            return None
        if response.status == 200:
            start, end = 0, stream.length
        elif response.status == 206:
            span = _span(headers.get("Content-Range"))
            if span is None:
                return None
            start, end = span
        else:
            return None
        if end is None or end <= start or (stream.length is not None
                                           and stream.length != end - start):
            return None
        return cls(request, start, end, etag)

    def rest(self, received: int) -> Request:
        """The request for what follows the first ``received`` bytes."""
        return self.request.with_headers({
            "Range": f"bytes={self.start + received}-{self.end - 1}",
            "If-Match": self.etag,
        })

    def fits(self, response: Response, received: int) -> bool:
        """Whether ``response`` is exactly the rest after ``received`` bytes."""
        if response.status != 206 or response.stream is None:
            return False
        span = _span(response.headers.get("Content-Range"))
        etag = response.headers.get("ETag")
        return span == (self.start + received, self.end) and etag in (None, self.etag)


def _span(content_range: str | None) -> tuple[int, int] | None:
    """``[first, last + 1)`` from ``Content-Range: bytes first-last/total``."""
    match = _CONTENT_RANGE.match(content_range or "")
    if match is None:
        return None
    first, last = int(match[1]), int(match[2])
    return (first, last + 1) if last >= first else None


class ResumingStream(ByteStream):
    """A streamed body that asks for its rest when the connection breaks.

    ``send`` (sync) or ``send_async`` sends a request through the runner (its
    retries, signing and deadline) and returns the answer. ``tries`` bounds the
    resumptions in a row that deliver nothing. ``notify(received, error)`` is
    told of each resumption before its request is sent.
    """

    def __init__(self, first: ByteStream, resume: Resume, *, tries: int,
                 send: Callable[[Request], Response] | None = None,
                 send_async: Callable[[Request], Awaitable[Response]] | None = None,
                 notify: Callable[[int, TransportError], None] | None = None) -> None:
        super().__init__()
        self.length = first.length
        self.resumed = 0
        self._inner = first
        self._resume = resume
        self._tries = max(1, tries)
        self._send = send
        self._send_async = send_async
        self._received = 0
        self._fruitless = 0
        self._notify = notify

    def _broken(self, error: TransportError, received_before: int) -> Request:
        """The request for the rest after ``error``, or ``error`` raised again."""
        if self._received >= self._resume.end:
            raise error
        self._fruitless = 1 if self._received > received_before else self._fruitless + 1
        if self._fruitless > self._tries:
            raise error
        if self._notify is not None:
            self._notify(self._received, error)
        return self._resume.rest(self._received)

    def _continue(self, response: Response, error: TransportError) -> None:
        """Carry on with ``response`` if it is the rest; else raise ``error``, said
        why. (A stream that does not fit has been closed by the caller.)"""
        if not self._resume.fits(response, self._received):
            why = ("the object changed since it was first read" if response.status == 412
                   else f"the server answered {response.status} to a request for the rest")
            raise type(error)(f"{error}; not resumed after {self._received} bytes: {why}",
                              driver=error.driver) from error
        stream = response.stream
        assert stream is not None
        # The runner made the rest resumable too; this stream does that itself.
        self._inner = stream._inner if isinstance(stream, ResumingStream) else stream
        self.resumed += 1

    def _pick_up(self, error: TransportError, before: int) -> None:
        """Go on with the rest after ``error`` broke the body (sync)."""
        rest = self._broken(error, before)
        self._inner.close()
        assert self._send is not None
        answer = self._send(rest)
        if not self._resume.fits(answer, self._received) and answer.stream is not None:
            answer.stream.close()
        self._continue(answer, error)

    async def _pick_up_async(self, error: TransportError, before: int) -> None:
        """Go on with the rest after ``error`` broke the body (async)."""
        rest = self._broken(error, before)
        await self._inner.aclose()
        assert self._send_async is not None
        answer = await self._send_async(rest)
        if not self._resume.fits(answer, self._received) and answer.stream is not None:
            await answer.stream.aclose()
        self._continue(answer, error)

    def _sync_chunks(self) -> Iterator[bytes]:
        while True:
            before = self._received
            try:
                for chunk in self._inner._sync_chunks():
                    self._received += len(chunk)
                    yield chunk
                return
            except TransportError as error:
                self._pick_up(error, before)

    def _push_sync(self, deliver: Callable[[bytes], None]) -> None:
        def counted(chunk: bytes) -> None:
            deliver(chunk)
            self._received += len(chunk)

        while True:
            before = self._received
            try:
                self._inner._push_sync(counted)
                return
            except TransportError as error:
                self._pick_up(error, before)

    async def _async_chunks(self) -> AsyncIterator[bytes]:
        while True:
            before = self._received
            try:
                async for chunk in self._inner._async_chunks():
                    self._received += len(chunk)
                    yield chunk
                return
            except TransportError as error:
                await self._pick_up_async(error, before)

    def close(self) -> None:
        """Release the connection of the part being read."""
        self._inner.close()

    async def aclose(self) -> None:
        """Release the connection of the part being read (async)."""
        await self._inner.aclose()
