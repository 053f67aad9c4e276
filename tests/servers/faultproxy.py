"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, for soak tests against real servers.

``FaultProxy(target_url, Faults(...))`` listens on a free port of 127.0.0.1
(plain HTTP, keep-alive towards the client and, while a connection is fresh,
towards the server) and forwards every request to ``target_url``. Drivers
reach the server through it by ``endpoint=proxy.url``. At the configured rates
it misbehaves, one fault per request at most:

* ``unavailable``: answers ``503 Service Unavailable`` (a plain-text body, no
  ``Retry-After``) **without forwarding**: the server never sees the request;
* ``reset``: forwards, then sends part of the answer (cut in the body, or in the
  head when the body is empty) and resets the connection (RST): the server
  acted;
* ``truncate``: forwards, then sends the head and part of the body and closes the
  connection (FIN) short of ``Content-Length``: the server acted. Answers
  without a body are passed through (and not counted);
* ``drop``: forwards, then closes the connection without answering a byte: the
  server acted;
* ``delay``: forwards, then holds the answer back ``delay_seconds`` before its
  first byte.

The draws come from one ``random.Random(seed)`` in the order requests arrive,
so a sequential client sees the same faults on every run; concurrent clients
see the same sequence of draws, shared out by arrival order. ``allow(kind,
method, target)`` may refuse a drawn fault for a request (it is then *spared*:
counted apart, and the request passes untouched; the sequence of draws does
not shift), and ``limit`` caps how many faults are injected in all: with a
rate of 1, a limit of 1 and ``allow`` naming one kind of request, a fault hits
exactly the first such request.

Signatures stay valid: the request goes to the server with the client's own
``Host`` header (``127.0.0.1:<proxy port>``), the host the client signed, and
every other end-to-end header unchanged. Only the framing is redone: a
chunked request body is sent with a ``Content-Length``, every answer is sent
to the client with a ``Content-Length`` (hop-by-hop headers dropped), and an
``Expect: 100-continue`` is answered by the proxy itself.

The proxy runs an asyncio loop in a thread of the test process; what it did
is read from any thread (:meth:`FaultProxy.figures`). A server-side failure
that the proxy did not plan (the server closed a connection, refused one) is
answered ``502`` and counted as an upstream error, and answers of 5xx that
the server itself gave are counted too, so a soak can tell both from the
faults it asked for.

Run it by hand with ``python tests/servers/faultproxy.py TARGET_URL [RATE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Final
from urllib.parse import urlsplit

__all__ = ["FAULT_KINDS", "FaultProxy", "Faults", "Figures", "Injected"]

#: The kinds of fault, in the order the draw checks them.
FAULT_KINDS: Final = ("unavailable", "reset", "truncate", "drop", "delay")
#: An upstream connection idle longer than this is not reused: servers close
#: idle keep-alive connections after a few seconds (PowerDNS after 5), and a
#: request written to one they are closing would fail for a reason no fault
#: planned.
UPSTREAM_IDLE: Final = 1.0
#: How long the proxy waits for the server to answer one request.
UPSTREAM_TIMEOUT: Final = 120.0
#: The longest head or chunk-size line read.
LINE_LIMIT: Final = 1024 * 1024
#: Hop-by-hop headers: never forwarded; framing headers are redone.
_HOP_BY_HOP: Final = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect",
        "content-length",
    }
)
_UNAVAILABLE_BODY: Final = b"fault proxy: service unavailable\n"

Header = tuple[str, str]


class ProtocolError(Exception):
    """A message the proxy cannot frame (it then closes the connection)."""


@dataclass(frozen=True, slots=True)
class Faults:
    """How often each fault happens (each a probability per request; their sum
    is at most 1), the seed of the draws, and which requests may get one."""

    unavailable: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    drop: float = 0.0
    delay: float = 0.0
    #: How long a delayed answer is held back before its first byte.
    delay_seconds: float = 0.05
    seed: int = 0
    #: ``allow(kind, method, target) -> bool``: whether a drawn fault may hit
    #: this request (default: every fault, every request).
    allow: Callable[[str, str, str], bool] | None = None
    #: At most this many faults in all (default no limit).
    limit: int | None = None

    def __post_init__(self) -> None:
        rates = [self.rate(kind) for kind in FAULT_KINDS]
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"fault rates must be in [0, 1] and sum to at most 1: {rates}")
        if self.delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")

    @classmethod
    def single(cls, kind: str, rate: float = 1.0, *, seed: int = 0, limit: int | None = None,
               allow: Callable[[str, str, str], bool] | None = None,
               delay_seconds: float = 0.05) -> Faults:
        """Faults of one ``kind`` only, at ``rate``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULT_KINDS)}")
        rates = {name: rate if name == kind else 0.0 for name in FAULT_KINDS}
        return cls(rates["unavailable"], rates["reset"], rates["truncate"], rates["drop"],
                   rates["delay"], delay_seconds=delay_seconds, seed=seed, allow=allow,
                   limit=limit)

    def rate(self, kind: str) -> float:
        """The rate of fault ``kind`` (one of :data:`FAULT_KINDS`)."""
        value: float = getattr(self, kind)
        return value

    def describe(self) -> str:
        """The non-zero rates, as ``503 1%, reset 0.1%``."""
        names = {"unavailable": "503"}
        parts = [
            f"{names.get(kind, kind)} {self.rate(kind) * 100:g}%"
            for kind in FAULT_KINDS
            if self.rate(kind)
        ]
        return ", ".join(parts) or "none"


@dataclass(frozen=True, slots=True)
class Injected:
    """One fault the proxy injected: its kind and the request it hit."""

    kind: str
    method: str
    target: str


@dataclass(frozen=True, slots=True)
class Figures:
    """What a proxy did: requests received and forwarded, faults injected and
    spared by kind (every kind present), 502s it answered because the server
    failed (``upstream_errors``) and 5xx answers the server gave itself
    (``server_errors``)."""

    requests: int
    forwarded: int
    injected: dict[str, int]
    spared: dict[str, int]
    upstream_errors: int
    server_errors: int

    @property
    def failures(self) -> int:
        """Injected faults a client must notice: all but delays."""
        return sum(n for kind, n in self.injected.items() if kind != "delay")


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    version: str
    headers: list[Header]
    body: bytes
    close: bool

    def encode(self) -> bytes:
        """The request as forwarded: end-to-end headers as sent, framing redone."""
        lines = [f"{self.method} {self.target} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(slots=True)
class _Response:
    status: int
    reason: str
    headers: list[Header]
    body: bytes
    #: Whether the message has a body part at all (not HEAD, 1xx, 204, 304).
    has_body: bool
    #: Whether the server keeps the connection open after it.
    reusable: bool
    #: For a HEAD answer: the Content-Length the server gave, passed through.
    head_length: str | None = None

    def head(self, close: bool) -> bytes:
        """The head as sent to the client, with a ``Content-Length``."""
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.has_body:
            lines.append(f"Content-Length: {len(self.body)}")
        elif self.head_length is not None:
            lines.append(f"Content-Length: {self.head_length}")
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(slots=True)
class _Upstream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def usable(self) -> bool:
        fresh = time.monotonic() - self.idle_since < UPSTREAM_IDLE
        return fresh and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


def _header(headers: list[Header], name: str) -> str | None:
    """The last value of header ``name`` (any case), or None."""
    found = None
    for key, value in headers:
        if key.lower() == name:
            found = value
    return found


def _tokens(headers: list[Header], name: str) -> set[str]:
    """The comma-separated tokens of every ``name`` header, lower-cased."""
    return {
        token.strip().lower()
        for key, value in headers
        if key.lower() == name
        for token in value.split(",")
        if token.strip()
    }


def _end_to_end(headers: list[Header]) -> list[Header]:
    """``headers`` without the hop-by-hop ones (and those ``Connection`` names)."""
    named = _tokens(headers, "connection")
    return [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() not in named]


def _parse_head(head: bytes) -> tuple[str, list[Header]]:
    """The start line and headers of a message head (ending in a blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    headers: list[Header] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"bad header line {line!r}")
        headers.append((name, value.strip()))
    return lines[0], headers


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """A message head, or None if the peer closed before sending a byte."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("connection closed in the middle of a head") from None
    except asyncio.LimitOverrunError:
        raise ProtocolError("head too long") from None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line {line!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers: dropped
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("chunk not followed by CRLF")


async def _read_body(reader: asyncio.StreamReader, headers: list[Header]) -> bytes | None:
    """The body framed by ``Transfer-Encoding: chunked`` or ``Content-Length``;
    None if the message has neither."""
    if "chunked" in _tokens(headers, "transfer-encoding"):
        return await _read_chunked(reader)
    length = _header(headers, "content-length")
    if length is None:
        return None
    if not length.isdigit():
        raise ProtocolError(f"bad Content-Length {length!r}")
    return await reader.readexactly(int(length))


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> _Request | None:
    """The next request on a client connection, or None when the client is done."""
    head = await _read_head(reader)
    if head is None:
        return None
    start, headers = _parse_head(head)
    try:
        method, target, version = start.split(" ")
    except ValueError:
        raise ProtocolError(f"bad request line {start!r}") from None
    if "100-continue" in _tokens(headers, "expect"):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers) or b""
    connection = _tokens(headers, "connection")
    close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
    return _Request(method, target, version, _end_to_end(headers), body, close)


async def _read_response(reader: asyncio.StreamReader, method: str) -> _Response:
    """The server's final answer to a ``method`` request (1xx answers skipped)."""
    while True:
        head = await _read_head(reader)
        if head is None:
            raise ConnectionError("the server closed the connection without answering")
        start, headers = _parse_head(head)
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        if not code.isdigit():
            raise ProtocolError(f"bad status line {start!r}")
        status = int(code)
        if not 100 <= status < 200:
            break
    connection = _tokens(headers, "connection")
    reusable = "close" not in connection and (
        version == "HTTP/1.1" or "keep-alive" in connection
    )
    if method == "HEAD" or status in (204, 304):
        return _Response(status, reason, _end_to_end(headers), b"", False, reusable,
                         head_length=_header(headers, "content-length") if method == "HEAD"
                         else None)
    body = await _read_body(reader, headers)
    if body is None:  # delimited by the end of the connection
        body, reusable = await reader.read(), False
    return _Response(status, reason, _end_to_end(headers), body, True, reusable)


def _answer(status: str, body: bytes, *, method: str, close: bool) -> bytes:
    """An answer of the proxy's own (plain text; no body to a HEAD request)."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    )
    return head.encode("latin-1") + (b"" if method == "HEAD" else body)


def _unavailable(request: _Request) -> bytes:
    return _answer("503 Service Unavailable", _UNAVAILABLE_BODY, method=request.method,
                   close=request.close)


def _bad_gateway(request: _Request, exc: BaseException) -> bytes:
    body = f"fault proxy: upstream failed: {type(exc).__name__}: {exc}\n".encode()
    return _answer("502 Bad Gateway", body, method=request.method, close=True)


async def _flush(writer: asyncio.StreamWriter) -> None:
    """Wait until every byte written is in the kernel's hands."""
    writer.transport.set_write_buffer_limits(high=0)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """A proxy to ``target`` (``http://host:port``) that injects :class:`Faults`.

    Use it as a context manager (or :meth:`start` and :meth:`stop`); while it
    runs, :attr:`url` is where clients point (``http://127.0.0.1:PORT``).
    """

    def __init__(self, target: str, faults: Faults | None = None) -> None:
        split = urlsplit(target)
        if split.scheme != "http" or not split.hostname or split.port is None:
            raise ValueError(f"the target must be http://host:port: {target!r}")
        self.target = target
        self.faults = faults or Faults()
        self._upstream_host = split.hostname
        self._upstream_port = split.port
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._spared: Counter[str] = Counter()
        self._injected: list[Injected] = []
        self._requests = 0
        self._forwarded = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- life -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """Where clients point: ``http://127.0.0.1:PORT``."""
        if not self.port:
            raise RuntimeError("the proxy is not running")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        """Start the loop thread and listen; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("the proxy is already running")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout=30)
        return self

    def stop(self) -> None:
        """Close every connection, stop the loop and wait for its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        self._loop = self._thread = None
        self.port = 0

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", 0, limit=LINE_LIMIT, backlog=512
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- what happened ----------------------------------------------------------

    def figures(self) -> Figures:
        """What the proxy did so far."""
        with self._lock:
            return Figures(
                requests=self._requests,
                forwarded=self._forwarded,
                injected={kind: self._counts[kind] for kind in FAULT_KINDS},
                spared={kind: self._spared[kind] for kind in FAULT_KINDS},
                upstream_errors=self._counts["upstream_error"],
                server_errors=self._counts["server_error"],
            )

    def injected(self) -> list[Injected]:
        """Every fault injected so far, in order."""
        with self._lock:
            return list(self._injected)

    # -- the draw ---------------------------------------------------------------

    def _draw(self, request: _Request) -> str | None:
        """The fault for this request, if any (one draw per request, always)."""
        faults = self.faults
        roll = self._rng.random()
        drawn = None
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += faults.rate(kind)
            if roll < edge:
                drawn = kind
                break
        with self._lock:
            self._requests += 1
            if drawn is None or (faults.limit is not None and len(self._injected) >= faults.limit):
                return None
        if faults.allow is not None and not faults.allow(drawn, request.method, request.target):
            with self._lock:
                self._spared[drawn] += 1
            return None
        return drawn

    def _count(self, kind: str, request: _Request) -> None:
        with self._lock:
            self._counts[kind] += 1
            if kind in FAULT_KINDS:
                self._injected.append(Injected(kind, request.method, request.target))

    # -- connections ------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: _Upstream | None = None
        try:
            while True:
                request = await _read_request(reader, writer)
                if request is None:
                    return
                upstream, keep = await self._handle(request, reader, writer, upstream)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ProtocolError, OSError):
            return  # the client went away or sent what the proxy cannot frame
        except asyncio.CancelledError:
            # Only stop() cancels: end quietly (asyncio reports a connection
            # task that ends cancelled as an error).
            return
        finally:
            self._tasks.discard(task)
            if upstream is not None:
                upstream.close()
            if not writer.is_closing():
                writer.close()

    async def _handle(self, request: _Request, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter,
                      upstream: _Upstream | None) -> tuple[_Upstream | None, bool]:
        """Answer one request; returns the upstream connection to keep and
        whether the client connection stays open."""
        kind = self._draw(request)
        if kind == "unavailable":
            self._count(kind, request)
            writer.write(_unavailable(request))
            await writer.drain()
            return upstream, not request.close
        try:
            upstream, response = await self._forward(upstream, request)
        except (OSError, asyncio.IncompleteReadError, ProtocolError, TimeoutError) as exc:
            self._count("upstream_error", request)
            writer.write(_bad_gateway(request, exc))
            await _flush(writer)
            return None, False
        if response.status >= 500:
            self._count("server_error", request)
        head = response.head(request.close)
        if kind == "delay":
            self._count(kind, request)
            await asyncio.sleep(self.faults.delay_seconds)
        elif kind == "drop":
            self._count(kind, request)
            return upstream, False
        elif kind == "truncate" and response.body:
            self._count(kind, request)
            writer.write(head + response.body[: self._rng.randrange(len(response.body))])
            await _flush(writer)
            return upstream, False
        elif kind == "reset":
            self._count(kind, request)
            if response.body:
                cut = len(head) + self._rng.randrange(len(response.body))
            else:
                cut = self._rng.randrange(1, len(head))
            writer.write((head + response.body)[:cut])
            await _flush(writer)
            _reset(writer)
            return upstream, False
        writer.write(head + response.body)
        await writer.drain()
        return upstream, not request.close

    async def _forward(self, upstream: _Upstream | None,
                       request: _Request) -> tuple[_Upstream | None, _Response]:
        """Send ``request`` to the server and read its answer, on a fresh or
        recently used connection."""
        if upstream is not None and not upstream.usable():
            upstream.close()
            upstream = None
        if upstream is None:
            reader, writer = await asyncio.open_connection(
                self._upstream_host, self._upstream_port, limit=LINE_LIMIT
            )
            upstream = _Upstream(reader, writer)
        try:
            upstream.writer.write(request.encode())
            with self._lock:
                self._forwarded += 1
            await upstream.writer.drain()
            async with asyncio.timeout(UPSTREAM_TIMEOUT):
                response = await _read_response(upstream.reader, request.method)
        except BaseException:
            upstream.close()
            raise
        if response.reusable:
            upstream.idle_since = time.monotonic()
            return upstream, response
        upstream.close()
        return None, response


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python tests/servers/faultproxy.py TARGET_URL [RATE]")
    share = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
    proxy = FaultProxy(sys.argv[1], Faults(*(share / 5,) * 5))
    with contextlib.suppress(KeyboardInterrupt), proxy:
        print(f"fault proxy on {proxy.url} -> {proxy.target}; Ctrl-C stops it", flush=True)
        threading.Event().wait()
    print(proxy.figures())
