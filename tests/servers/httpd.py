"""A real HTTP/1.1 server on 127.0.0.1 with scripted behaviours, for runtime tests.

Each path names a behaviour; the server records every request it sees (method,
path, headers, body size, arrival time) and the peak number of requests in
flight, so tests can check what actually reached the wire.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

BIG_CHUNK = b"\xab" * (1024 * 1024)


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class State:
    """What the server has seen, shared with the tests."""

    requests: list[Seen] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    in_flight: int = 0
    peak_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hits(self, path: str) -> list[Seen]:
        """Requests seen for ``path`` (without query)."""
        return [r for r in self.requests if r.path == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        body = self._read_body()
        with state.lock:
            state.requests.append(
                Seen(self.command, url.path, parse_qs(url.query), dict(self.headers.items()),
                     body, time.monotonic())
            )
            state.counters[url.path] += 1
            count = state.counters[url.path]
            state.in_flight += 1
            state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        try:
            self._behave(url.path, parse_qs(url.query), body, count)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _behave(self, path: str, query: dict[str, list[str]], body: bytes, count: int) -> None:
        def arg(name: str, default: str) -> str:
            return query.get(name, [default])[0]

        if path == "/ok":
            self._reply(200, b"ok:" + body, {"Content-Type": "text/plain", "X-Request-Id": "r-1"})
        elif path == "/echo-json":
            import json

            payload = {"method": self.command, "query": {k: v[0] for k, v in query.items()},
                       "body": body.decode("latin-1")}
            self._reply(200, json.dumps(payload, sort_keys=True).encode(),
                        {"Content-Type": "application/json"})
        elif path == "/flaky":
            # Fails with `status` for the first `fail` hits, then succeeds.
            if count <= int(arg("fail", "2")):
                headers = {}
                if "retry_after" in query:
                    headers["Retry-After"] = arg("retry_after", "1")
                self._reply(int(arg("status", "503")), b"try later", headers)
            else:
                self._reply(200, b"finally")
        elif path == "/silent":
            # Reads the request and never answers: waits until the client gives up
            # and closes the connection.
            self.close_connection = True
            self.connection.settimeout(30)
            with contextlib.suppress(OSError):
                self.rfile.read(1)
        elif path == "/trickle":
            # Announces a large body and sends it one byte at a time, until the
            # client goes away.
            every = float(arg("every", "0.05"))
            self.send_response(200)
            self.send_header("Content-Length", str(10**6))
            self.end_headers()
            self.close_connection = True
            try:
                for _ in range(10**6):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(every)
            except OSError:
                pass
        elif path == "/echo-url":
            # Like Azure's AuthenticationFailed: the request line, echoed back.
            self._reply(403, f"AuthenticationFailed: {self.command} {self.path}".encode())
        elif path == "/always":
            retry_after = {"Retry-After": arg("retry_after", "0")}
            self._reply(int(arg("status", "503")), b"nope", retry_after)
        elif path == "/drop":
            # Reads the request, then closes the connection without answering.
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
        elif path == "/slow":
            time.sleep(float(arg("delay", "2")))
            self._reply(200, b"late")
        elif path == "/hold":
            time.sleep(float(arg("delay", "0.3")))
            self._reply(200, arg("value", "").encode())
        elif path == "/cut":
            self._cut(query, count)
        elif path == "/big":
            size = int(arg("mib", "50")) * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            sent = 0
            while sent < size:
                chunk = BIG_CHUNK[: min(len(BIG_CHUNK), size - sent)]
                self.wfile.write(chunk)
                sent += len(chunk)
        else:
            self._reply(404, b"no such behaviour")

    def _cut(self, query: dict[str, list[str]], count: int) -> None:
        """A body of ``size`` bytes (``cut_body``) named by an ETag, honouring a
        ``Range`` and ``If-Match``. The first ``cuts`` answers break after
        ``after`` bytes: ``how=close`` ends the connection (fewer bytes than
        announced), ``how=reset`` resets it. From hit ``change`` on, the ETag is
        another (the object changed); ``ignore_range=1`` answers every request
        whole; ``weak=1`` sends a weak ETag."""
        def arg(name: str, default: str) -> str:
            return query.get(name, [default])[0]

        size = int(arg("size", str(3 * 1024 * 1024)))
        body = cut_body(size)
        version = "v2" if count >= int(arg("change", "0") or 0) > 0 else "v1"
        etag = f'{"W/" if arg("weak", "0") == "1" else ""}"{version}"'
        wanted = self.headers.get("If-Match")
        if wanted is not None and wanted != etag:
            self._reply(412, b"precondition failed", {"ETag": etag})
            return
        start, end, status = 0, size, 200
        ranged = self.headers.get("Range")
        if ranged and arg("ignore_range", "0") != "1":
            first, _, last = ranged.removeprefix("bytes=").partition("-")
            start, end, status = int(first), int(last) + 1, 206
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if count <= int(arg("cuts", "0")):
            self.wfile.write(body[start : start + int(arg("after", "100000"))])
            self.wfile.flush()
            self.close_connection = True
            if arg("how", "close") == "reset":
                import socket
                import struct

                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            return
        self.wfile.write(body[start:end])

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


def cut_body(size: int) -> bytes:
    """The body ``/cut`` serves: the same ``size`` bytes on every call."""
    return bytes(range(256)) * (size // 256) + bytes(range(size % 256))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = State()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is what some tests do: stay quiet."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ScriptedServer:
    """Start with ``with ScriptedServer() as server:``; ``server.url`` is its base URL."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def state(self) -> State:
        """What the server has seen."""
        return self._server.state

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        """Forget what was seen."""
        self._server.state = State()

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
