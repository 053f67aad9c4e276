"""A small forward HTTP proxy on 127.0.0.1 for the transports' proxy tests.

It serves both ways a client uses a proxy: ``CONNECT host:port`` (a tunnel,
for ``https://`` URLs) and a request with an absolute URI (``GET
http://host/path``, for ``http://`` URLs), which it forwards with
``Connection: close``. Every request it receives is recorded as
``(method, target)``, so a test sees what went through it.
"""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ForwardProxy"]


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(65537).decode("latin-1")
            if not line.strip():
                return
            method, target, _version = line.split()
            headers: list[tuple[str, str]] = []
            while (header := self.rfile.readline(65537).decode("latin-1")).strip():
                name, _, value = header.partition(":")
                headers.append((name.strip(), value.strip()))
            wanted = self.server.credentials
            if wanted is not None:
                given = dict((n.lower(), v) for n, v in headers).get("proxy-authorization", "")
                if given != "Basic " + base64.b64encode(wanted.encode()).decode():
                    with self.server.lock:
                        self.server.refused += 1
                    self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                     b'Proxy-Authenticate: Basic realm="test"\r\n'
                                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                    return
            with self.server.lock:
                self.server.seen.append((method, target))
            if method == "CONNECT":
                self._tunnel(target)
                return
            if not self._forward(method, target, headers):
                return

    def _tunnel(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)))
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        # The client sends nothing more before this answer, so nothing is
        # left in rfile's buffer: the tunnel runs on the raw sockets.
        with upstream:
            _pipe(self.connection, upstream)

    def _forward(self, method: str, target: str, headers: list[tuple[str, str]]) -> bool:
        parts = urlsplit(target)
        if not parts.hostname:
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        length = 0
        chunked = False
        kept: list[tuple[str, str]] = []
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                length = int(value)
            if lowered == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            if lowered in ("proxy-connection", "connection", "keep-alive", "proxy-authorization"):
                continue
            kept.append((name, value))
        body = self.rfile.read(length) if length else b""
        if chunked:  # pass the chunks on as they are
            body = self._read_chunked()
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in kept)
        head += "Connection: close\r\n\r\n"
        with socket.create_connection((parts.hostname, parts.port or 80)) as upstream:
            upstream.sendall(head.encode("latin-1") + body)
            while data := upstream.recv(65536):
                self.wfile.write(data)
        return False  # the answer ends when the upstream connection closes

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size_line = self.rfile.readline()
            out += size_line
            size = int(size_line.split(b";")[0].strip(), 16)
            chunk = self.rfile.read(size + 2)
            out += chunk
            if size == 0:
                return bytes(out)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 30)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, credentials: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str]] = []
        self.refused = 0
        self.credentials = credentials
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-tunnel is normal: stay quiet."""


class ForwardProxy:
    """Start with ``with ForwardProxy() as proxy:``; ``proxy.url`` is its URL,
    ``proxy.seen`` the ``(method, target)`` of every request it let through.
    With ``credentials="user:password"`` it demands them (``Proxy-Authorization:
    Basic``) and answers 407 otherwise (``proxy.refused`` counts those)."""

    def __init__(self, credentials: str | None = None) -> None:
        self._server = _Server(credentials)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def refused(self) -> int:
        """Requests answered 407."""
        return self._server.refused

    @property
    def seen(self) -> list[tuple[str, str]]:
        """What went through the proxy so far."""
        with self._server.lock:
            return list(self._server.seen)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
