"""A small routing HTTP server for fixture servers of hosted APIs.

For providers with no server that runs on this machine, the tests run the
driver against a stateful fixture server written from the provider's published
API reference: routes are registered as ``(method, path regex) -> handler``,
the server keeps the provider's state in plain Python objects, and every
request is recorded so tests can check what the driver sent.

    api = FakeAPI()

    @api.route("GET", r"/client/v4/zones/(?P<zone_id>[^/]+)")
    def get_zone(req: FakeRequest, zone_id: str) -> FakeResponse:
        return FakeResponse.json({"result": zones[zone_id]})

    with api.serving() as base_url:
        ...
"""

from __future__ import annotations

import json
import re
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

__all__ = ["FakeAPI", "FakeRequest", "FakeResponse", "Fault", "Faults", "GuardedAPI"]


@dataclass
class FakeRequest:
    """One request as the fixture server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header, case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default


@dataclass
class FakeResponse:
    """What a handler answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None
             ) -> FakeResponse:
        """A JSON response."""
        return cls(status, json.dumps(data).encode(),
                   {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def xml(cls, text: str, status: int = 200) -> FakeResponse:
        """An XML response."""
        return cls(status, text.encode(), {"Content-Type": "text/xml"})


Handler = Callable[..., FakeResponse]


class FakeAPI:
    """Routes, recorded requests and a server to serve them on 127.0.0.1."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[FakeRequest] = []
        self.lock = threading.RLock()

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Register a handler for ``method`` and a full-match path regex; named
        groups become keyword arguments."""

        def register(handler: Handler) -> Handler:
            self.routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))
            return handler

        return register

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Find the route and call it (under the API's lock: handlers see a
        consistent state)."""
        with self.lock:
            self.requests.append(request)
            allowed = False
            for method, pattern, handler in self.routes:
                match = pattern.match(request.path)
                if match:
                    allowed = True
                    if method == request.method:
                        return handler(request, **match.groupdict())
            if allowed:
                return FakeResponse.json({"error": "method not allowed"}, 405)
            return FakeResponse.json({"error": f"no route for {request.path}"}, 404)

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on a free port; yields the base URL ``http://127.0.0.1:PORT``."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The status line and headers go out in one write and the body in
            # another: with Nagle's algorithm on, the body waits for the
            # client's delayed ACK of the headers (40 ms on Linux), a stall no
            # real API has, which also costs a polling client CPU while it waits.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = FakeRequest(self.command, url.path, parse_qs(url.query),
                                      dict(self.headers.items()), body)
                try:
                    response = api.dispatch(request)
                except Exception as exc:  # a bug in a handler: answer 500, loudly
                    response = FakeResponse.json({"error": f"fixture bug: {exc!r}"}, 500)
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_one

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            host, port = server.server_address[:2]
            yield f"http://{host!s}:{port}"
        finally:
            server.shutdown()
            server.server_close()


@dataclass
class Fault:
    """A failure the server produces instead of (or after) handling a request."""

    method: str
    path: re.Pattern[str]
    response: FakeResponse
    times: int = 1
    after: bool = False  # handle the request first (its effect is kept), then fail
    when: Callable[[FakeRequest], bool] | None = None


@dataclass
class Faults:
    """Failures armed by a test (a server's state inherits this)."""

    faults: list[Fault] = field(default_factory=list)

    def inject(self, method: str, path: str, response: FakeResponse, *, times: int = 1,
               after: bool = False, when: Callable[[FakeRequest], bool] | None = None) -> None:
        """Make the next ``times`` matching requests fail with ``response``.

        ``path`` is a regex searched in the request path; ``after=True`` lets
        the request take effect before failing (an unknown outcome).
        """
        self.faults.append(Fault(method.upper(), re.compile(path), response, times, after, when))

    def take_fault(self, request: FakeRequest) -> Fault | None:
        """The first armed fault matching ``request``, disarming one use of it."""
        for fault in self.faults:
            if (fault.times > 0 and fault.method == request.method
                    and fault.path.search(request.path)
                    and (fault.when is None or fault.when(request))):
                fault.times -= 1
                return fault
        return None


class GuardedAPI(FakeAPI):
    """Routes behind an auth check (:meth:`denied`) and the failures a test
    armed in :attr:`state` (a :class:`Faults`)."""

    state: Faults

    def denied(self, request: FakeRequest) -> FakeResponse | None:
        """The answer to a request without valid credentials, else None
        (default: every request passes)."""
        return None

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Check the credentials, then any injected fault, then route."""
        with self.lock:
            denied = self.denied(request)
            fault = None if denied is not None else self.state.take_fault(request)
            if denied is not None or (fault is not None and not fault.after):
                self.requests.append(request)
                return denied if denied is not None else fault.response  # type: ignore[union-attr]
            response = super().dispatch(request)
            return fault.response if fault is not None else response
