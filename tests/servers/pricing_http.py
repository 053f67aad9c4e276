"""A tiny HTTP server for the price API fixtures (AWS, Azure, GCP).

Unlike :mod:`servers.fakeapi` it can serve a body from a file on disk in
chunks (an AWS offer file of hundreds of MB is never held in memory) and cut
a body short: the full ``Content-Length`` announced, half the bytes sent, the
connection closed, as a download that broke off.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

__all__ = ["Reply", "Seen", "serve"]


@dataclass
class Reply:
    """An answer: ``body``, or the file at ``path``; ``cut`` sends half of it
    under the full length and closes the connection."""

    status: int = 200
    body: bytes = b""
    path: str | None = None
    cut: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, *, cut: bool = False) -> Reply:
        """A JSON answer."""
        return cls(status, json.dumps(data).encode(), cut=cut,
                   headers={"Content-Type": "application/json"})


@dataclass
class Seen:
    """A request as the server received it."""

    path: str
    query: dict[str, list[str]]
    url: str


Route = Callable[[str, dict[str, list[str]], str], Reply]


@contextmanager
def serve(route: Route, seen: list[Seen]) -> Iterator[str]:
    """Serve ``route(path, query, base_url)`` on a free port of 127.0.0.1;
    record each request in ``seen``; yields the base URL."""
    base: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            seen.append(Seen(url.path, query, self.path))
            try:
                reply = route(url.path, query, base[0])
            except Exception as exc:  # a bug in the fixture: say so loudly
                reply = Reply.json({"error": f"fixture bug: {exc!r}"}, 500)
            size = len(reply.body)
            if reply.path is not None:
                with open(reply.path, "rb") as f:
                    size = f.seek(0, 2)
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            limit = size // 2 if reply.cut else size
            if reply.path is None:
                self.wfile.write(reply.body[:limit])
            else:
                with open(reply.path, "rb") as f:
                    sent = 0
                    while sent < limit and (chunk := f.read(min(1 << 20, limit - sent))):
                        self.wfile.write(chunk)
                        sent += len(chunk)
            if reply.cut:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    base.append(f"http://{host!s}:{port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base[0]
    finally:
        server.shutdown()
        server.server_close()
