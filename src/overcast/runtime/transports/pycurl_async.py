"""The default async transport on asyncio: libcurl's multi interface, driven
by the running event loop.

The sync transport's libcurl costs a fraction of a pure-Python client's CPU
per request; this gives the async runner the same C transport. Design points:

* One ``CurlMulti`` per event loop runs every transfer of the transport.
  libcurl tells the loop which sockets to watch (``M_SOCKETFUNCTION`` ->
  ``add_reader``/``add_writer``) and when it next needs the clock
  (``M_TIMERFUNCTION`` -> ``call_later``); the loop calls ``socket_action``
  back and ``info_read`` collects the finished transfers. No thread, no
  ``select`` of its own: an idle transfer costs nothing.
* Easy handles are pooled and reused (their options set by the same code as
  the sync transport's, :class:`~overcast.runtime.transports.pycurl.CurlSetup`);
  the connections live in the multi's cache, shared by every handle.
* ``pool_size`` bounds the requests in flight (a semaphore), as in the other
  transports.
* A streamed answer is buffered up to a few MiB, then the transfer pauses
  (``WRITEFUNC_PAUSE``) until the reader catches up (``PAUSE_CONT``); a paused
  transfer is exempt from libcurl's speed check, so a slow reader is not taken
  for a stalled server.
* A request body from an async source (an async iterable, or a file read in a
  worker thread) is fed by a task of its own; when it has nothing yet, the
  read callback pauses the upload (``READFUNC_PAUSE``) and the task resumes it.
* Cancelled (an anyio cancel scope, a task cancelled), a transfer is removed
  from the multi and its handle closed: its connection is in an unknown state,
  so it is never reused.
* Timeouts and the minimum rate are libcurl's, as in the sync transport.

It runs on asyncio only; trio uses httpx.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable
from collections.abc import AsyncIterator
from collections.abc import Iterator
from typing import Any
from typing import Final

import pycurl

from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import redact_url
from overcast.runtime.streams import ByteStream
from overcast.runtime.transports.base import DEFAULT_POOL_SIZE
from overcast.runtime.transports.base import AsyncTransport
from overcast.runtime.transports.base import ClientCert
from overcast.runtime.transports.base import TransportFailure
from overcast.runtime.transports.pycurl import _READ_CHUNK
from overcast.runtime.transports.pycurl import PUSH_BATCH
from overcast.runtime.transports.pycurl import STREAM_HIGH_WATER
from overcast.runtime.transports.pycurl import CurlSetup
from overcast.runtime.transports.pycurl import _failure
from overcast.runtime.transports.pycurl import _final_block
from overcast.runtime.transports.pycurl import _parse_headers

__all__ = ["PycurlAsyncTransport"]

#: Request-body bytes an async source may have read ahead of libcurl.
FEED_HIGH_WATER: Final = 4 * 1024 * 1024
#: The size of the reads from a file object given as a request body.
_FILE_CHUNK: Final = 1024 * 1024
#: Idle handles kept for reuse.
_MAX_IDLE: Final = 64


class PycurlAsyncTransport(CurlSetup, AsyncTransport):
    """libcurl's multi interface on the running asyncio loop, with a pool of
    reusable handles. Made outside a loop, it binds to the loop of its first
    request (a transport used from another loop gets a multi of that loop's)."""

    def __init__(self, *, pool_size: int = DEFAULT_POOL_SIZE, verify: bool | str = True,
                 user_agent: str | None = None, min_rate: float | None = None,
                 unix_socket: str | None = None, client_cert: ClientCert | None = None,
                 proxy: str | None = None) -> None:
        super().__init__(pool_size=pool_size, verify=verify, user_agent=user_agent,
                         min_rate=min_rate, unix_socket=unix_socket, client_cert=client_cert,
                         proxy=proxy)
        self._engine: _Engine | None = None

    def _engine_here(self) -> _Engine:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise TypeError(
                "the pycurl async transport runs on asyncio; on trio use httpx"
            ) from None
        engine = self._engine
        if engine is None or engine.loop is not loop:
            engine = self._engine = _Engine(self, loop)
        return engine

    async def send(
        self, request: Request, *, connect_timeout: float, read_timeout: float
    ) -> Response:
        engine = self._engine_here()
        await engine.slots.acquire()
        try:
            curl = engine.checkout()
        except BaseException:
            engine.slots.release()
            raise
        url = request.full_url
        safe_url = redact_url(url)
        transfer = _Transfer(engine, curl, request, safe_url)
        body: Any = request.body
        feed: _Feed | None = None
        try:
            if body is not None and (hasattr(body, "read") or isinstance(body, AsyncIterable)):
                feed = _Feed(transfer, body)
            self._configure(curl, request, url, connect_timeout, read_timeout,
                            transfer.header_lines, feed.read if feed is not None else None)
        except BaseException:
            engine.checkin(curl, False)
            engine.slots.release()
            raise
        streaming = request.stream and request.method != "HEAD"
        if streaming:
            # Large reads for large bodies, as in the sync transport.
            curl.setopt(pycurl.BUFFERSIZE, _READ_CHUNK)
            curl.setopt(pycurl.HEADERFUNCTION, transfer.header)
            curl.setopt(pycurl.WRITEFUNCTION, transfer.write)
        else:
            curl.setopt(pycurl.WRITEFUNCTION, transfer.chunks.append)
        try:
            engine.start(transfer)
            if feed is not None:
                feed.start()
            while not (transfer.done or transfer.headers_done):
                await transfer.wait()
        except BaseException:
            transfer.abandon()
            raise
        if feed is not None and transfer.done:
            feed.stop()
            if feed.error is not None:  # the source failed, not the connection
                transfer.release(False)
                raise feed.error
        if transfer.failure is not None and not transfer.headers_done:
            transfer.release(False)
            raise transfer.failure from None
        status = curl.getinfo(pycurl.RESPONSE_CODE)
        response = Response(
            status=status,
            headers=_parse_headers(transfer.header_lines),
            url=safe_url,
            method=request.method,
        )
        if streaming:
            stream = _PycurlAsyncStream(transfer)
            if 200 <= status < 300:
                declared = response.headers.get("Content-Length")
                stream.length = int(declared) if declared and declared.isdigit() else None
                response.stream = stream
                return response
            response.body = b"".join([chunk async for chunk in stream.async_chunks()])
            return response
        response.body = b"".join(transfer.chunks)
        transfer.release(True, plain=request.method.upper() == "GET" and request.body is None
                         and request.is_idempotent)
        return response

    async def aclose(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()


class _Engine:
    """One ``CurlMulti`` on one event loop: its sockets, its timer, its handles."""

    def __init__(self, transport: PycurlAsyncTransport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.slots = asyncio.Semaphore(transport._pool_size)
        self.idle: list[Any] = []
        self.active: set[_Transfer] = set()
        self.readers: set[int] = set()
        self.writers: set[int] = set()
        self.timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self.closed = False
        multi = self.multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_SOCKETFUNCTION, self._watch)
        multi.setopt(pycurl.M_TIMERFUNCTION, self._schedule)
        multi.setopt(pycurl.M_MAXCONNECTS, transport._max_connections)

    # -- handles ----------------------------------------------------------------

    def checkout(self) -> Any:
        """An idle handle, or a new one with the transport's defaults."""
        if self.idle:
            return self.idle.pop()
        curl = pycurl.Curl()
        self.transport._set_defaults(curl)
        return curl

    def checkin(self, curl: Any, reusable: bool, *, plain: bool = False) -> None:
        """Return a handle to the pool (reset unless ``plain``, see the sync
        transport), or close it if its transfer did not end cleanly."""
        if reusable and not self.closed and len(self.idle) < _MAX_IDLE:
            if not plain:
                curl.reset()
                self.transport._set_defaults(curl)
            self.idle.append(curl)
            return
        curl.close()

    # -- transfers --------------------------------------------------------------

    def start(self, transfer: _Transfer) -> None:
        """Hand ``transfer`` to the multi (which asks for the timer at once)."""
        self.active.add(transfer)
        self.multi.add_handle(transfer.curl)
        transfer.attached = True
        # Started here rather than from the timer libcurl just asked for: one
        # turn of the loop less per request (on a kept-alive connection the
        # request is on the wire when this returns).
        self._on_timer()

    def detach(self, transfer: _Transfer) -> None:
        """Take ``transfer`` out of the multi (finished or abandoned)."""
        if transfer.attached:
            transfer.attached = False
            self.active.discard(transfer)
            if not self.closed:
                self.multi.remove_handle(transfer.curl)

    def resume(self, curl: Any) -> None:
        """Unpause a transfer and make sure the multi looks at it soon."""
        curl.pause(pycurl.PAUSE_CONT)
        if self.timer is None and not self.closed:
            self.timer = self.loop.call_soon(self._on_timer)

    # -- libcurl's callbacks and the loop's -------------------------------------

    def _watch(self, what: int, fd: int, multi: Any, data: Any) -> None:
        """M_SOCKETFUNCTION: watch ``fd`` for what libcurl waits for."""
        loop = self.loop
        want_in = what in (pycurl.POLL_IN, pycurl.POLL_INOUT)
        want_out = what in (pycurl.POLL_OUT, pycurl.POLL_INOUT)
        if want_in:
            if fd not in self.readers:
                loop.add_reader(fd, self._act, fd, pycurl.CSELECT_IN)
                self.readers.add(fd)
        elif fd in self.readers:
            loop.remove_reader(fd)
            self.readers.discard(fd)
        if want_out:
            if fd not in self.writers:
                loop.add_writer(fd, self._act, fd, pycurl.CSELECT_OUT)
                self.writers.add(fd)
        elif fd in self.writers:
            loop.remove_writer(fd)
            self.writers.discard(fd)

    def _schedule(self, timeout_ms: int) -> None:
        """M_TIMERFUNCTION: call back in ``timeout_ms`` (-1: no timer)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if timeout_ms == 0:
            self.timer = self.loop.call_soon(self._on_timer)
        elif timeout_ms > 0:
            self.timer = self.loop.call_later(timeout_ms / 1000, self._on_timer)

    def _on_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.closed:
            self.multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)
            self._collect()

    def _act(self, fd: int, event: int) -> None:
        if not self.closed:
            self.multi.socket_action(fd, event)
            self._collect()

    def _collect(self) -> None:
        """Finish the transfers libcurl reports done."""
        while True:
            queued, ok, failed = self.multi.info_read()
            for curl in ok:
                curl.overcast_transfer.finish(None)
            for curl, code, message in failed:
                curl.overcast_transfer.finish(pycurl.error(code, message))
            if not queued:
                return

    def close(self) -> None:
        """Stop every transfer, close every handle and the multi."""
        if self.closed:
            return
        for transfer in list(self.active):
            # The task waiting on it learns the transport went away.
            transfer.finish(pycurl.error(pycurl.E_ABORTED_BY_CALLBACK, "transport closed"))
            transfer.abandon()
        for curl in self.idle:
            curl.close()
        self.idle.clear()
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.multi.close()
        for fd in self.readers:
            self.loop.remove_reader(fd)
        for fd in self.writers:
            self.loop.remove_writer(fd)
        self.readers.clear()
        self.writers.clear()


class _Transfer:
    """One request's state, shared by libcurl's callbacks and the waiting task."""

    __slots__ = ("attached", "buffer", "buffered", "chunks", "curl", "done", "engine", "error",
                 "failure", "feed", "header_lines", "headers_done", "paused", "released", "request",
                 "url", "waiter")

    def __init__(self, engine: _Engine, curl: Any, request: Request, url: str) -> None:
        self.engine = engine
        self.curl = curl
        self.request = request
        self.url = url
        self.header_lines: list[bytes] = []
        self.chunks: list[bytes] = []
        self.buffer: deque[bytes] = deque()
        self.buffered = 0
        self.paused = False
        self.done = False
        self.headers_done = False
        self.attached = False
        self.released = False
        self.error: pycurl.error | None = None
        self.failure: TransportFailure | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.feed: _Feed | None = None
        curl.overcast_transfer = self

    async def wait(self) -> None:
        """Until libcurl next has news for this transfer."""
        waiter = self.waiter = self.engine.loop.create_future()
        try:
            await waiter
        finally:
            self.waiter = None

    def wake(self) -> None:
        """Let the waiting task run."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def header(self, line: bytes) -> None:
        """HEADERFUNCTION of a streamed answer: wake the task once the headers are in."""
        self.header_lines.append(line)
        if line in (b"\r\n", b"\n") and _final_block(self.header_lines):
            self.headers_done = True
            self.wake()

    def write(self, data: bytes) -> int | None:
        """WRITEFUNCTION of a streamed answer: buffer, or pause when the reader lags."""
        if self.buffered >= STREAM_HIGH_WATER:
            self.paused = True
            self.wake()
            return pycurl.WRITEFUNC_PAUSE  # type: ignore[no-any-return]
        self.buffer.append(data)
        self.buffered += len(data)
        if self.waiter is not None:
            self.wake()
        return None

    def finish(self, error: pycurl.error | None) -> None:
        """libcurl is done with the transfer (``error``: how it failed)."""
        self.done = True
        self.error = error
        if error is not None:  # read now: the handle may be closed when it is raised
            self.failure = _failure(self.curl, error, self.request, self.url)
        self.engine.detach(self)
        if self.feed is not None:
            self.feed.stop()
        self.wake()

    def release(self, reusable: bool, *, plain: bool = False) -> None:
        """Give the handle back (or close it) and free the slot, once."""
        if self.released:
            return
        self.released = True
        engine = self.engine
        engine.detach(self)
        if self.feed is not None:
            self.feed.stop()
            self.feed = None
        curl = self.curl
        curl.overcast_transfer = None  # no cycle through the handle
        # A plain GET's handle keeps its callbacks (these lists' appends) until
        # its next request: emptied, they hold no body.
        self.header_lines.clear()
        self.chunks.clear()
        self.buffer.clear()
        engine.checkin(curl, reusable and self.done and self.error is None, plain=plain)
        engine.slots.release()

    def abandon(self) -> None:
        """Stop the transfer where it stands (cancelled, or the stream closed
        early): its connection may hold the rest of an answer, so the handle is
        closed, not reused."""
        self.release(False)


class _Feed:
    """A request body from an async source (an async iterable, or a file read
    in a worker thread), read ahead by a task and drained by libcurl's read
    callback, which pauses the upload while nothing is there yet."""

    def __init__(self, transfer: _Transfer, source: Any) -> None:
        self.transfer = transfer
        self.source = source
        self.pending: deque[memoryview] = deque()
        self.size = 0
        self.ended = False
        self.paused = False
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None
        self.space: asyncio.Future[None] | None = None
        transfer.feed = self

    def start(self) -> None:
        """Start reading the source."""
        self.task = self.transfer.engine.loop.create_task(self._run())

    def stop(self) -> None:
        """The transfer is over: stop reading."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()

    def read(self, size: int) -> bytes | int:
        """READFUNCTION: what the source has given so far, or a pause."""
        if self.error is not None:
            return pycurl.READFUNC_ABORT  # type: ignore[no-any-return]
        if not self.pending:
            if self.ended:
                return b""
            self.paused = True
            return pycurl.READFUNC_PAUSE  # type: ignore[no-any-return]
        head = self.pending[0]
        if len(head) <= size:
            self.pending.popleft()
        else:
            self.pending[0] = head[size:]
            head = head[:size]
        self.size -= len(head)
        space = self.space
        if space is not None and not space.done() and self.size < FEED_HIGH_WATER:
            space.set_result(None)
        return bytes(head)

    def _resume(self) -> None:
        if self.paused and self.transfer.attached:
            self.paused = False
            self.transfer.engine.resume(self.transfer.curl)

    async def _run(self) -> None:
        try:
            async for chunk in self._chunks():
                view = memoryview(chunk).cast("B")
                if not view.nbytes:
                    continue
                self.pending.append(view)
                self.size += view.nbytes
                self._resume()
                while self.size >= FEED_HIGH_WATER:
                    self.space = self.transfer.engine.loop.create_future()
                    await self.space
            self.ended = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the caller's source failed: the upload is aborted
            self.error = exc
        self._resume()

    async def _chunks(self) -> AsyncIterator[bytes]:
        source = self.source
        if isinstance(source, AsyncIterable):
            async for chunk in source:
                yield chunk
            return
        # A file object, read in a worker thread so the loop never waits on a disk.
        import anyio.to_thread

        while chunk := await anyio.to_thread.run_sync(source.read, _FILE_CHUNK):
            yield chunk


class _PycurlAsyncStream(ByteStream):
    """A streamed answer: the chunks libcurl wrote, handed over as they come."""

    def __init__(self, transfer: _Transfer) -> None:
        super().__init__()
        self._transfer = transfer

    def _sync_chunks(self) -> Iterator[bytes]:
        raise TypeError("a pycurl async response can only be read in its event loop")

    async def _async_chunks(self) -> AsyncIterator[bytes]:
        transfer = self._transfer
        buffer = transfer.buffer
        while True:
            if buffer:
                # What came since the last chunk, joined up to PUSH_BATCH bytes:
                # fewer, larger chunks for the observers, and at most a batch
                # copied on top of what is buffered.
                chunk = buffer.popleft()
                if buffer and len(chunk) < PUSH_BATCH:
                    pieces = [chunk]
                    size = len(chunk)
                    while buffer and size < PUSH_BATCH:
                        piece = buffer.popleft()
                        pieces.append(piece)
                        size += len(piece)
                    chunk = b"".join(pieces)
                transfer.buffered -= len(chunk)
                if transfer.paused:
                    transfer.paused = False
                    if transfer.attached:
                        transfer.engine.resume(transfer.curl)
                yield chunk
                continue
            if transfer.done:
                if transfer.failure is not None:
                    raise transfer.failure.to_error(None)
                return
            await transfer.wait()

    def close(self) -> None:
        transfer = self._transfer
        # A stream read to its end (or failed) gives its handle back; one left
        # early leaves the rest of the answer on the connection: closed.
        transfer.release(transfer.done and not transfer.buffer)

