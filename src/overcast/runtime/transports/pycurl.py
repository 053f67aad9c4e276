"""The default sync transport: libcurl through pycurl (chosen by ``bench/transport.py``).

On the benchmark machine a signed 16 KiB GET cost about 17-35 µs of client CPU
through pycurl against 160-330 µs through urllib3, and large downloads ran at
the same or better speed. Design points:

* Curl handles are not thread-safe, so the transport keeps a pool of idle
  handles; a thread checks one out per request. Each handle keeps its own
  keep-alive connections, and a ``CurlMulti`` of its own for streamed
  transfers (a multi keeps the connections of the transfers it ran), so both
  kinds reuse connections. A ``CurlShare`` of the connection cache would
  route every cache access through Python locks: measured 4x the CPU per
  request at 16 threads.
* ``pool_size`` bounds the requests in flight (a semaphore), which is the
  runner's per-driver concurrency limit shared by nested parallel batches.
* Streamed downloads are pulled: the caller's iteration drives a
  ``CurlMulti``; the write callback buffers at most a few MiB and then pauses
  the transfer, so memory stays bounded and a slow consumer is not mistaken
  for a stalled server (paused transfers are exempt from the speed check).
* The read timeout and the minimum rate are libcurl's low-speed limit: less
  than ``min_rate`` bytes/s (1 byte/s when unset) on average over ``read``
  seconds (rounded up to whole seconds) aborts the transfer.
"""

from __future__ import annotations

import math
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import Final

import pycurl

from overcast.runtime.effects import Headers
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.effects import body_length
from overcast.runtime.redact import redact_url
from overcast.runtime.streams import ByteStream
from overcast.runtime.transports.base import DEFAULT_POOL_SIZE
from overcast.runtime.transports.base import ClientCert
from overcast.runtime.transports.base import Proxies
from overcast.runtime.transports.base import SyncTransport
from overcast.runtime.transports.base import TransportFailure
from overcast.runtime.transports.base import cert_files

__all__ = ["PycurlTransport"]

#: Buffered bytes after which a streamed transfer pauses until the caller reads.
STREAM_HIGH_WATER: Final = 4 * 1024 * 1024
_READ_CHUNK: Final = 1024 * 1024
#: libcurl's read and send size for a large request body.
_UPLOAD_CHUNK: Final = 512 * 1024
#: Bytes a pushed stream gathers before it hands them over in one piece.
PUSH_BATCH: Final = 1024 * 1024
# Errors raised before anything was sent: the request can be retried safely.
_NOT_SENT: Final = frozenset(
    {pycurl.E_COULDNT_RESOLVE_HOST, pycurl.E_COULDNT_CONNECT, pycurl.E_COULDNT_RESOLVE_PROXY,
     pycurl.E_SSL_CONNECT_ERROR}
)


class CurlSetup:
    """The options of a libcurl transport and how they go on a handle: what the
    sync transport and the async one (``pycurl_async``) share."""

    def __init__(self, *, pool_size: int = DEFAULT_POOL_SIZE, verify: bool | str = True,
                 user_agent: str | None = None, min_rate: float | None = None,
                 unix_socket: str | None = None, client_cert: ClientCert | None = None,
                 proxy: str | None = None) -> None:
        self._verify = verify
        self._proxies = Proxies(proxy)
        self._unix_socket = unix_socket
        self._client_cert = cert_files(client_cert) if client_cert is not None else None
        self._min_rate = max(1, math.ceil(min_rate)) if min_rate else 1
        self._user_agent = user_agent
        self._pool_size = pool_size
        self._max_connections = max(pool_size * 2, 8)

    def _set_defaults(self, curl: Any) -> None:
        """The options every request shares (set on a new or reset handle)."""
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.MAXCONNECTS, self._max_connections)
        curl.setopt(pycurl.LOW_SPEED_LIMIT, self._min_rate)
        if self._user_agent:  # a request's own User-Agent header replaces it
            curl.setopt(pycurl.USERAGENT, self._user_agent)
        if self._verify is False:
            curl.setopt(pycurl.SSL_VERIFYPEER, 0)
            curl.setopt(pycurl.SSL_VERIFYHOST, 0)
        elif isinstance(self._verify, str):
            curl.setopt(pycurl.CAINFO, self._verify)
        if self._unix_socket is not None:
            curl.setopt(pycurl.UNIX_SOCKET_PATH, self._unix_socket)
        if self._client_cert is not None:
            cert, key = self._client_cert
            curl.setopt(pycurl.SSLCERT, cert)
            if key is not None:
                curl.setopt(pycurl.SSLKEY, key)

    def _configure(self, curl: Any, request: Request, url: str, connect_timeout: float,
                   read_timeout: float, header_lines: list[bytes],
                   reader: Callable[[int], Any] | None = None) -> None:
        """Set ``request``'s options on ``curl``: its headers go to
        ``header_lines``; its body is read by ``reader`` when given (an async
        source), else straight from the body."""
        method = request.method.upper()
        curl.setopt(pycurl.URL, url)
        # Chosen here (not by libcurl from the environment) so that every
        # transport reads HTTPS_PROXY/NO_PROXY and proxy= alike; "" is direct
        # (always over a UNIX socket).
        proxy = None if self._unix_socket is not None else self._proxies.for_url(url)
        curl.setopt(pycurl.PROXY, proxy or "")
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(connect_timeout * 1000)))
        curl.setopt(pycurl.LOW_SPEED_TIME, max(1, math.ceil(read_timeout)))
        curl.setopt(pycurl.HEADERFUNCTION, header_lines.append)
        headers = [f"{k}: {v}" for k, v in request.headers.items()]
        names = {k.lower() for k in request.headers}
        # No "Expect: 100-continue" round trip; no curl default Accept header.
        headers += ["Expect:"] if "accept" in names else ["Expect:", "Accept:"]
        body: Any = request.body
        if not request.is_idempotent:
            # libcurl quietly sends a request again, on a new connection, when a
            # kept-alive one turns out closed before any answer came; but the server
            # may have acted on the first. A request that must not reach the server
            # twice unseen gets a new connection, which libcurl never resends on.
            curl.setopt(pycurl.FRESH_CONNECT, 1)
        if method == "HEAD":
            curl.setopt(pycurl.NOBODY, 1)
        elif body is None:
            if method in ("POST", "PUT", "PATCH") and "content-length" not in names:
                headers.append("Content-Length: 0")
            if method != "GET":  # curl's default
                curl.setopt(pycurl.CUSTOMREQUEST, method)
        else:
            curl.setopt(pycurl.UPLOAD, 1)
            curl.setopt(pycurl.CUSTOMREQUEST, method)
            length = body_length(body)
            if length is not None:
                curl.setopt(pycurl.INFILESIZE_LARGE, length)
            else:
                headers.append("Transfer-Encoding: chunked")
            if length is None or length >= _READ_CHUNK:
                # Large bodies go out in 512 KiB reads and sends, not libcurl's
                # default 64 KiB: a 1 GiB upload's CPU fell from 1.27 to 0.9
                # ms/MiB (1 MiB: no less CPU, 5 MiB more peak RSS at 4 parts
                # in flight). The handle is reset after an upload.
                curl.setopt(pycurl.UPLOAD_BUFFERSIZE, _UPLOAD_CHUNK)
            curl.setopt(pycurl.READFUNCTION, reader or _reader(body))
        curl.setopt(pycurl.HTTPHEADER, headers)


class PycurlTransport(CurlSetup, SyncTransport):
    """libcurl with a pool of handles sharing one connection cache."""

    def __init__(self, *, pool_size: int = DEFAULT_POOL_SIZE, verify: bool | str = True,
                 user_agent: str | None = None, min_rate: float | None = None,
                 unix_socket: str | None = None, client_cert: ClientCert | None = None,
                 proxy: str | None = None) -> None:
        super().__init__(pool_size=pool_size, verify=verify, user_agent=user_agent,
                         min_rate=min_rate, unix_socket=unix_socket, client_cert=client_cert,
                         proxy=proxy)
        self._slots = _Slots(pool_size)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- handles ------------------------------------------------------------------

    def _checkout(self) -> Any:
        with self._lock:
            curl = self._idle.pop() if self._idle else None
        if curl is None:
            curl = pycurl.Curl()
            curl.overcast_multi = None
            self._set_defaults(curl)
        return curl

    def _checkin(self, curl: Any, reusable: bool, *, plain: bool = False) -> None:
        """Return a handle to the pool. After anything but a ``plain`` request (a
        GET read whole, whose options the next request sets again anyway) it is
        reset now, not at the next checkout, so an idle handle keeps no request
        body (a read callback) alive."""
        if reusable and not plain:
            curl.reset()  # keeps its connections and its multi
            self._set_defaults(curl)
        with self._lock:
            if reusable and not self._closed and len(self._idle) < 64:
                self._idle.append(curl)
                return
        _close_handle(curl)

    # -- sending ------------------------------------------------------------------

    def send(self, request: Request, *, connect_timeout: float, read_timeout: float) -> Response:
        self._slots.acquire()
        try:
            curl = self._checkout()
        except BaseException:
            self._slots.release()
            raise
        url = request.full_url
        safe_url = redact_url(url)
        header_lines: list[bytes] = []
        try:
            self._configure(curl, request, url, connect_timeout, read_timeout, header_lines)
        except BaseException:
            self._checkin(curl, False)
            self._slots.release()
            raise
        streaming = request.stream and request.method != "HEAD"
        if streaming:
            return self._start_stream(curl, request, safe_url, header_lines)
        chunks: list[bytes] = []
        curl.setopt(pycurl.WRITEFUNCTION, chunks.append)
        try:
            curl.perform()
        except pycurl.error as exc:
            failure = _failure(curl, exc, request, safe_url)
            self._checkin(curl, False)
            self._slots.release()
            raise failure from None
        status = curl.getinfo(pycurl.RESPONSE_CODE)
        response = Response(
            status=status,
            headers=_parse_headers(header_lines),
            body=b"".join(chunks),
            url=safe_url,
            method=request.method,
        )
        # The handle's callbacks still hold these lists until its next request.
        chunks.clear()
        header_lines.clear()
        self._checkin(curl, True, plain=request.method.upper() == "GET" and request.body is None
                      and request.is_idempotent)
        self._slots.release()
        return response

    def _start_stream(
        self, curl: Any, request: Request, safe_url: str, header_lines: list[bytes]
    ) -> Response:
        stream = _PycurlStream(self, curl, request, safe_url, header_lines)
        try:
            stream.wait_for_headers()
        except BaseException:
            stream.close()
            raise
        response = Response(
            status=curl.getinfo(pycurl.RESPONSE_CODE),
            headers=_parse_headers(header_lines),
            url=safe_url,
            method=request.method,
        )
        if 200 <= response.status < 300:
            declared = response.headers.get("Content-Length")
            stream.length = int(declared) if declared and declared.isdigit() else None
            response.stream = stream
        else:
            response.body = b"".join(stream.sync_chunks())
        return response

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for curl in idle:
            _close_handle(curl)


class _Slots:
    """A counting semaphore with C-speed acquire and release (a queue of
    tokens): ``threading.BoundedSemaphore`` is Python code around a Condition,
    which cost several µs per request."""

    __slots__ = ("_tokens",)

    def __init__(self, size: int) -> None:
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(size):
            self._tokens.put(None)

    def acquire(self) -> None:
        """Take a slot, waiting for one if all are in use."""
        self._tokens.get()

    def release(self) -> None:
        """Give a slot back."""
        self._tokens.put(None)


def _close_handle(curl: Any) -> None:
    multi = getattr(curl, "overcast_multi", None)
    if multi is not None:
        multi.close()
    curl.close()


def _reader(body: Any) -> Any:
    """A READFUNCTION for any body a Request may carry."""
    if isinstance(body, bytes | bytearray | memoryview):
        view = memoryview(body).cast("B")
        position = 0

        def read_bytes(size: int) -> bytes:
            nonlocal position
            chunk = bytes(view[position : position + size])
            position += len(chunk)
            return chunk

        return read_bytes
    if hasattr(body, "read"):
        return body.read
    chunks = iter(body)
    pending = b""

    def read_iter(size: int) -> bytes:
        nonlocal pending
        while not pending:
            chunk = next(chunks, None)
            if chunk is None:
                return b""
            pending = bytes(chunk)
        out, pending = pending[:size], pending[size:]
        return out

    return read_iter


def _parse_headers(lines: list[bytes]) -> Headers:
    text = b"".join(lines).decode("latin-1")
    # Keep only the last response's block (after a 100 Continue, for instance).
    start = text.rfind("\nHTTP/") + 1
    if start or text.startswith("HTTP/"):
        start = text.find("\n", start) + 1  # past the status line
    items: list[tuple[str, str]] = []
    for line in text[start:].split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            items.append((name.rstrip(), value.strip()))
    return Headers(items)


def _final_block(lines: list[bytes]) -> bool:
    """Whether the header block that just ended (``lines`` end with its blank
    line) is the answer's own: a 1xx block is followed by the real one."""
    status = next((h for h in reversed(lines) if h.startswith(b"HTTP/")), b"")
    parts = status.split()
    return len(parts) > 1 and not parts[1].startswith(b"1")


def _failure(curl: Any, exc: pycurl.error, request: Request, safe_url: str) -> TransportFailure:
    code = exc.args[0] if exc.args else -1
    where = f"{request.method} {safe_url}"
    if code in _NOT_SENT:
        return TransportFailure(f"cannot connect for {where} (curl error {code})", sent=False)
    if code == pycurl.E_OPERATION_TIMEDOUT:
        connected = curl.getinfo(pycurl.CONNECT_TIME) > 0
        return TransportFailure(
            f"{'read' if connected else 'connect'} timed out: {where}",
            sent=connected,
            timeout=True,
        )
    return TransportFailure(f"connection failed during {where} (curl error {code})", sent=True)


class _PycurlStream(ByteStream):
    """A response body pulled through a ``CurlMulti`` by the caller's iteration."""

    def __init__(self, transport: PycurlTransport, curl: Any, request: Request, url: str,
                 header_lines: list[bytes]) -> None:
        super().__init__()
        self._header_lines = header_lines
        self._transport = transport
        self._curl = curl
        self._request = request
        self._url = url
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._finished = False
        self._headers_done = False
        self._released = False
        self._error: TransportFailure | None = None
        # Large reads for large bodies (set per stream: a 1 MiB buffer on every
        # small request costs an mmap/munmap pair each time).
        curl.setopt(pycurl.BUFFERSIZE, _READ_CHUNK)
        if curl.overcast_multi is None:
            curl.overcast_multi = pycurl.CurlMulti()
        self._multi = curl.overcast_multi
        curl.setopt(pycurl.WRITEFUNCTION, self._write)
        curl.setopt(pycurl.HEADERFUNCTION, self._header)
        self._multi.add_handle(curl)

    def _header(self, line: bytes) -> None:
        self._header_lines.append(line)
        if line in (b"\r\n", b"\n") and _final_block(self._header_lines):
            self._headers_done = True

    def _write(self, data: bytes) -> int | None:
        if self._buffered >= STREAM_HIGH_WATER:
            self._paused = True
            return pycurl.WRITEFUNC_PAUSE  # type: ignore[no-any-return]
        self._buffer.append(data)
        self._buffered += len(data)
        return None

    def _step(self, wait: bool = True) -> None:
        """Let libcurl make progress; then, if ``wait`` and it has nothing for
        the caller, wait for the socket."""
        while True:
            status, running = self._multi.perform()
            if status != pycurl.E_CALL_MULTI_PERFORM:
                break
        _, done, failed = self._multi.info_read()
        if failed:
            _, code, message = failed[0]
            self._error = _failure(
                self._curl, pycurl.error(code, message), self._request, self._url
            )
            self._finished = True
        elif done or not running:
            self._finished = True
        elif wait and not self._buffer:
            self._wait()

    def _wait(self) -> None:
        """Wait for the socket, but no longer than libcurl's own next deadline."""
        deadline = self._multi.timeout()  # ms; -1: none
        if deadline != 0:
            self._multi.select(1.0 if deadline < 0 else min(deadline / 1000, 1.0))

    def wait_for_headers(self) -> None:
        """Drive the transfer until the status and headers are known."""
        while not self._headers_done and not self._finished:
            self._step()
        if self._error is not None and not self._headers_done:
            raise self._error

    def _sync_chunks(self) -> Iterator[bytes]:
        while True:
            while self._buffer:
                chunk = self._buffer.popleft()
                self._buffered -= len(chunk)
                yield chunk
            if self._paused:
                self._paused = False
                self._curl.pause(pycurl.PAUSE_CONT)
            if self._finished:
                if self._error is not None:
                    raise self._error.to_error(None)
                return
            self._step()

    def _push_sync(self, deliver: Callable[[bytes], None]) -> None:
        # libcurl's pieces (16 KiB at most) are gathered and handed over
        # joined, PUSH_BATCH bytes at a time: run per piece, the caller's sink
        # (a write system call) and observers cost more CPU than libcurl
        # itself. The transfer pauses while a full batch waits, so one call
        # of libcurl's, which reads whatever the socket holds, cannot gather
        # more. No queue, no generator in between.
        pieces: list[bytes] = []
        held = 0

        def gather(data: bytes) -> int | None:
            nonlocal held
            if held >= PUSH_BATCH:
                self._paused = True
                return pycurl.WRITEFUNC_PAUSE  # type: ignore[no-any-return]
            pieces.append(data)
            held += len(data)
            return None

        def hand_over() -> None:
            nonlocal held
            batch = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            pieces.clear()
            held = 0
            deliver(batch)

        while self._buffer:  # what came with the headers, in batches too
            chunk = self._buffer.popleft()
            self._buffered -= len(chunk)
            gather(chunk)
            if held >= PUSH_BATCH or not self._buffer:
                hand_over()

        self._curl.setopt(pycurl.WRITEFUNCTION, gather)
        while True:
            if self._paused:  # before the first batch, or after a full one
                self._paused = False
                self._curl.pause(pycurl.PAUSE_CONT)
            if not self._finished:
                before = held
                self._step(wait=False)
                if held == before and not self._finished and not self._paused:
                    self._wait()
            if self._error is not None:
                if pieces:  # what came before the break is delivered: a resume follows it
                    hand_over()
                raise self._error.to_error(None)
            if pieces and (held >= PUSH_BATCH or self._finished):
                hand_over()
            elif self._finished:
                return

    def _async_chunks(self) -> AsyncIterator[bytes]:
        raise TypeError("a pycurl response can only be read synchronously")

    def close(self) -> None:
        if self._released:
            return
        self._released = True
        complete = self._finished and self._error is None and not self._buffer
        self._multi.remove_handle(self._curl)
        # An unfinished transfer leaves its connection unusable: drop the handle.
        self._transport._checkin(self._curl, complete)
        self._transport._slots.release()
