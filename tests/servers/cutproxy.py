"""An HTTP/1.1 proxy on 127.0.0.1 that cuts a download for good, for tests of
resumable copies.

``CutProxy(target_url)`` forwards every request to ``target_url`` (the
client's own ``Host`` header kept, so signatures stay valid) and counts the
body bytes it sends back. Armed with :meth:`cut_after` ``(n, path_part)``, the
first ``GET`` whose path contains ``path_part`` gets its head and ``n`` bytes
of its body, then the connection is closed; from then on the proxy is *down*:
every request is answered ``503`` with ``Retry-After: 0`` without being
forwarded, so a client's retries and resumptions fail at once, as if the
network stayed away. :meth:`restore` brings it back. :attr:`ranges` lists the
``Range`` headers of the ``GET`` requests forwarded, :attr:`body_bytes` the
bytes of answer bodies sent. For uploads, :meth:`down_after_puts` ``(n,
path_part)`` lets ``n`` more ``PUT`` requests whose target contains
``path_part`` through, then goes down before the next; :attr:`put_bytes` counts
the request bodies of ``PUT`` requests forwarded and :attr:`requests` lists
``(method, target)`` of every request forwarded (all reset by
:meth:`reset_counts`).
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["CutProxy"]

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                         "transfer-encoding", "upgrade"})


class CutProxy:
    """A forwarding proxy that can cut one download and then stay down."""

    def __init__(self, target: str) -> None:
        split = urlsplit(target)
        if split.scheme != "http" or not split.hostname or split.port is None:
            raise ValueError(f"the target must be http://host:port: {target!r}")
        self.host, self.port_upstream = split.hostname, split.port
        self.lock = threading.Lock()
        self.body_bytes = 0
        self.ranges: list[str | None] = []
        self.down = False
        self.cuts = 0
        self._cut: tuple[int, str] | None = None
        self._puts_left: tuple[int, str] | None = None
        self._puts_only = False
        self.put_bytes = 0
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            def do_HEAD(self) -> None:
                proxy.handle(self)

            def do_PUT(self) -> None:
                proxy.handle(self)

            def do_POST(self) -> None:
                proxy.handle(self)

            def do_DELETE(self) -> None:
                proxy.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CutProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def cut_after(self, n: int, path_part: str) -> None:
        """Cut the next GET of a path containing ``path_part`` after ``n`` body
        bytes, then stay down."""
        with self.lock:
            self._cut = (n, path_part)

    def down_after_puts(self, n: int, path_part: str, *, puts_only: bool = False) -> None:
        """Let ``n`` more PUTs of targets containing ``path_part`` through, then
        stay down (``puts_only``: down for PUTs only, other requests pass)."""
        with self.lock:
            self._puts_left = (n, path_part)
            self._puts_only = puts_only

    def restore(self) -> None:
        """Forward again."""
        with self.lock:
            self.down = False
            self._puts_only = False

    def reset_counts(self) -> None:
        """Forget the bytes and ranges counted so far."""
        with self.lock:
            self.body_bytes = 0
            self.ranges = []
            self.put_bytes = 0
            self.requests = []

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request."""
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self.lock:
            down = self.down and (handler.command == "PUT" or not self._puts_only)
            cut = None
            if (not down and self._cut is not None and handler.command == "GET"
                    and self._cut[1] in handler.path):
                cut, self._cut = self._cut[0], None
            puts = self._puts_left
            if (not down and puts is not None and handler.command == "PUT"
                    and puts[1] in handler.path):
                if puts[0] <= 0:
                    self.down = down = True
                    self.cuts += 1
                    self._puts_left = None
                else:
                    self._puts_left = (puts[0] - 1, puts[1])
            if not down and handler.command == "GET":
                self.ranges.append(handler.headers.get("Range"))
            if not down:
                self.requests.append((handler.command, handler.path))
                if handler.command == "PUT":
                    self.put_bytes += len(body)
        if down:
            message = b"cut proxy: down\n"
            handler.send_response(503)
            handler.send_header("Retry-After", "0")
            handler.send_header("Content-Length", str(len(message)))
            handler.end_headers()
            handler.wfile.write(message)
            return
        upstream = http.client.HTTPConnection(self.host, self.port_upstream, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items()
                       if k.lower() not in _HOP_BY_HOP}
            upstream.request(handler.command, handler.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            handler.send_response(answer.status, answer.reason)
            whole = None  # a chunked answer (Azurite's errors) is sent with its length
            if handler.command != "HEAD" and answer.getheader("Content-Length") is None:
                whole = answer.read()
                handler.send_header("Content-Length", str(len(whole)))
            for name, value in answer.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    handler.send_header(name, value)
            handler.end_headers()
            if handler.command == "HEAD":
                return
            if whole is not None:
                handler.wfile.write(whole)
                with self.lock:
                    self.body_bytes += len(whole)
                return
            sent = 0
            while True:
                chunk = answer.read(64 * 1024)
                if not chunk:
                    break
                if cut is not None and sent + len(chunk) >= cut:
                    handler.wfile.write(chunk[: cut - sent])
                    handler.wfile.flush()
                    with self.lock:
                        self.body_bytes += cut - sent
                        self.down = True
                        self.cuts += 1
                    handler.close_connection = True
                    return
                handler.wfile.write(chunk)
                sent += len(chunk)
                with self.lock:
                    self.body_bytes += len(chunk)
        finally:
            upstream.close()
