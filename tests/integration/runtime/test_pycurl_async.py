"""The async libcurl transport (``async_transport="pycurl"``) on its own, on asyncio:
backpressure, uploads from async sources, timeouts, cancellation, the pool
limit and how failures read. Proxies, UNIX sockets and client certificates
are tested with every transport (``servers.transports``)."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from overcast.errors import TransportError
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.transports.base import TransportFailure
from overcast.runtime.transports.pycurl import STREAM_HIGH_WATER
from overcast.runtime.transports.pycurl_async import FEED_HIGH_WATER
from overcast.runtime.transports.pycurl_async import PycurlAsyncTransport
from servers.httpd import BIG_CHUNK
from servers.httpd import ScriptedServer

MiB = 1024 * 1024


def run(main: Callable[[PycurlAsyncTransport], Awaitable[Any]], **options: Any) -> Any:
    """``main(transport)`` on asyncio, the transport closed after."""

    async def wrapper() -> Any:
        transport = PycurlAsyncTransport(**options)
        try:
            return await main(transport)
        finally:
            await transport.aclose()

    return anyio.run(wrapper, backend="asyncio")


async def send(transport: PycurlAsyncTransport, request: Request,
               read_timeout: float = 10) -> Response:
    return await transport.send(request, connect_timeout=5, read_timeout=read_timeout)


def big_digest(size: int) -> str:
    digest = hashlib.sha256()
    sent = 0
    while sent < size:
        chunk = BIG_CHUNK[: min(len(BIG_CHUNK), size - sent)]
        digest.update(chunk)
        sent += len(chunk)
    return digest.hexdigest()


class Mute:
    """A server on 127.0.0.1 that accepts connections, reads a request and never
    answers; ``seen`` is set once a request arrived."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.seen = threading.Event()
        self.stop = threading.Event()
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            conn.recv(65536)
            self.seen.set()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def mute() -> Iterator[Mute]:
    server = Mute()
    yield server
    server.close()


def test_a_small_get_and_the_handle_reused(server: ScriptedServer) -> None:
    async def main(transport: PycurlAsyncTransport) -> list[Response]:
        answers = [await send(transport, Request("GET", f"{server.url}/ok")) for _ in range(3)]
        engine = transport._engine
        assert engine is not None
        assert len(engine.idle) == 1  # one handle served all three
        assert not engine.active and not engine.readers and not engine.writers
        return answers

    for answer in run(main):
        assert (answer.status, answer.body) == (200, b"ok:")
        assert answer.headers["X-Request-Id"] == "r-1"


def test_a_large_streamed_body_pauses_the_transfer_while_the_reader_lags(
    server: ScriptedServer,
) -> None:
    """A reader that stops after its first chunk: the transfer pauses with at
    most the high-water mark buffered (and one piece), then resumes and
    delivers every byte."""
    size = 50 * MiB

    async def main(transport: PycurlAsyncTransport) -> tuple[int, str, int]:
        response = await send(transport, Request("GET", f"{server.url}/big?mib=50",
                                                 stream=True))
        assert response.stream is not None
        assert response.stream.length == size
        transfer = response.stream._transfer  # type: ignore[attr-defined]
        chunks = response.stream.async_chunks()
        digest = hashlib.sha256()
        first = await chunks.__anext__()
        digest.update(first)
        total = len(first)
        while not transfer.paused:  # libcurl's news, until it pauses for the reader
            await transfer.wait()
        held = transfer.buffered
        async for chunk in chunks:
            digest.update(chunk)
            total += len(chunk)
        return total, digest.hexdigest(), held

    total, digest, held = run(main)
    assert total == size
    assert digest == big_digest(size)
    assert STREAM_HIGH_WATER <= held < STREAM_HIGH_WATER + MiB


def test_a_stream_left_early_closes_its_handle(server: ScriptedServer) -> None:
    async def main(transport: PycurlAsyncTransport) -> Response:
        response = await send(transport, Request("GET", f"{server.url}/big?mib=20",
                                                 stream=True))
        assert response.stream is not None
        async for _chunk in response.stream.async_chunks():
            break
        await response.stream.aclose()
        engine = transport._engine
        assert engine is not None
        assert engine.idle == []  # the rest of the answer was on its connection
        assert not engine.active
        # The slot came back: the next request goes through.
        return await send(transport, Request("GET", f"{server.url}/ok"))

    assert run(main, pool_size=1).status == 200


def test_an_error_answer_to_a_streamed_request_is_read_whole(server: ScriptedServer) -> None:
    async def main(transport: PycurlAsyncTransport) -> Response:
        return await send(transport, Request("GET", f"{server.url}/always?status=404",
                                             stream=True))

    answer = run(main)
    assert (answer.status, answer.body, answer.stream) == (404, b"nope", None)


def test_an_upload_from_an_async_source_that_keeps_the_upload_waiting(
    server: ScriptedServer,
) -> None:
    """The source has nothing for a while (libcurl's read pauses the upload),
    then more than the read-ahead limit: every byte arrives, in order."""
    seen_paused = []

    async def main(transport: PycurlAsyncTransport) -> Response:
        async def source() -> AsyncIterator[bytes]:
            yield b"first,"
            engine = transport._engine
            assert engine is not None
            (transfer,) = engine.active
            # Let the loop run until libcurl has asked for more and paused.
            while not transfer.feed.paused:
                await anyio.lowlevel.checkpoint()
            seen_paused.append(True)
            yield bytearray(b"second,")
            yield memoryview(b"x" * (FEED_HIGH_WATER + MiB))
            yield b",last"

        request = Request("PUT", f"{server.url}/ok", body=source())
        return await send(transport, request)

    answer = run(main)
    assert seen_paused == [True]
    assert answer.status == 200
    assert answer.body == b"ok:first,second," + b"x" * (FEED_HIGH_WATER + MiB) + b",last"
    (hit,) = server.state.hits("/ok")
    assert hit.headers["Transfer-Encoding"] == "chunked"


def test_an_upload_from_a_file_object(server: ScriptedServer) -> None:
    data = bytes(range(256)) * 12000  # 3 MB, read in 1 MiB pieces in a worker thread

    async def main(transport: PycurlAsyncTransport) -> Response:
        return await send(transport, Request("PUT", f"{server.url}/ok", body=io.BytesIO(data)))

    answer = run(main)
    assert answer.body == b"ok:" + data
    (hit,) = server.state.hits("/ok")
    assert hit.headers["Content-Length"] == str(len(data))


def test_an_upload_whose_source_fails_raises_the_sources_error(server: ScriptedServer) -> None:
    async def main(transport: PycurlAsyncTransport) -> None:
        async def source() -> AsyncIterator[bytes]:
            yield b"some"
            raise ValueError("the source broke")

        with pytest.raises(ValueError, match="the source broke"):
            await send(transport, Request("PUT", f"{server.url}/ok", body=source()))
        engine = transport._engine
        assert engine is not None
        assert not engine.active and engine.idle == []
        assert (await send(transport, Request("GET", f"{server.url}/ok"))).status == 200

    run(main)


def test_a_server_that_never_answers_times_out(mute: Mute) -> None:
    async def main(transport: PycurlAsyncTransport) -> None:
        await send(transport, Request("GET", f"{mute.url}/x"), read_timeout=1)

    with pytest.raises(TransportFailure) as info:
        run(main)
    assert info.value.timeout and info.value.sent
    assert "read timed out" in str(info.value)


def test_a_cancelled_request_leaves_nothing_behind(mute: Mute, server: ScriptedServer) -> None:
    """Cancelled while waiting for an answer (an anyio cancel scope): the handle
    leaves the multi and is closed, its socket is no longer watched, its slot
    is free."""

    async def main(transport: PycurlAsyncTransport) -> Response:
        # A handle in the pool first, so reuse can be told from a new one.
        await send(transport, Request("GET", f"{server.url}/ok"))
        engine = transport._engine
        assert engine is not None
        (pooled,) = engine.idle
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(send, transport, Request("GET", f"{mute.url}/x"))
                await anyio.to_thread.run_sync(mute.seen.wait)
                assert len(engine.active) == 1
                scope.cancel()
        assert scope.cancelled_caught
        assert not engine.active
        assert not engine.readers and not engine.writers
        assert engine.idle == []  # the handle that was cancelled is not reused...
        with pytest.raises(Exception):  # noqa: B017,PT011 - ...it is closed
            pooled.getinfo(0x200002)  # CURLINFO_RESPONSE_CODE on a closed handle
        return await send(transport, Request("GET", f"{server.url}/ok"))

    assert run(main, pool_size=1).status == 200


def test_pool_size_bounds_the_requests_in_flight(server: ScriptedServer) -> None:
    async def main(transport: PycurlAsyncTransport) -> list[bytes]:
        bodies: list[bytes] = []

        async def one(n: int) -> None:
            bodies.append((await send(transport, Request(
                "GET", f"{server.url}/hold?delay=0.2&value={n}"))).body)

        async with anyio.create_task_group() as group:
            for n in range(6):
                group.start_soon(one, n)
        return bodies

    bodies = run(main, pool_size=2)
    assert sorted(bodies) == [str(n).encode() for n in range(6)]
    assert server.state.peak_in_flight <= 2


def test_no_connection_is_a_failure_not_sent() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed when the block ends: nobody listens

    async def main(transport: PycurlAsyncTransport) -> None:
        await send(transport, Request("GET", f"http://127.0.0.1:{port}/x"))

    with pytest.raises(TransportFailure) as info:
        run(main)
    assert not info.value.sent and not info.value.timeout
    assert "cannot connect" in str(info.value)


def test_a_connection_dropped_before_the_answer_is_a_failure_sent(
    server: ScriptedServer,
) -> None:
    async def main(transport: PycurlAsyncTransport) -> None:
        await send(transport, Request("POST", f"{server.url}/drop", body=b"create-me"))

    with pytest.raises(TransportFailure) as info:
        run(main)
    assert info.value.sent and not info.value.timeout


def test_a_body_cut_short_fails_the_stream(server: ScriptedServer) -> None:
    async def main(transport: PycurlAsyncTransport) -> int:
        response = await send(transport, Request(
            "GET", f"{server.url}/cut?cuts=1&after=100000&tag=stream", stream=True))
        assert response.stream is not None
        total = 0
        async for chunk in response.stream.async_chunks():
            total += len(chunk)
        return total

    with pytest.raises(TransportError, match="connection failed"):
        run(main)


def test_aclose_ends_the_transfers_still_running(mute: Mute) -> None:
    async def main(transport: PycurlAsyncTransport) -> None:
        async def doomed() -> None:
            with pytest.raises(TransportFailure, match="curl error 42"):
                await send(transport, Request("GET", f"{mute.url}/x"))

        async with anyio.create_task_group() as group:
            group.start_soon(doomed)
            await anyio.to_thread.run_sync(mute.seen.wait)
            await transport.aclose()

    run(main)


def test_trio_is_told_to_use_httpx(server: ScriptedServer) -> None:
    async def main() -> None:
        transport = PycurlAsyncTransport()
        with pytest.raises(TypeError, match="asyncio"):
            await transport.send(Request("GET", f"{server.url}/ok"), connect_timeout=5,
                                 read_timeout=5)

    anyio.run(main, backend="trio")
