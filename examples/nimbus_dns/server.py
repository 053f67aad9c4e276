"""A stateful fixture server of the Nimbus DNS API, for the example driver's tests.

Standard library only. It keeps zones and record sets in memory, pages every
listing with an opaque cursor, checks the bearer token, and answers errors in
the API's shape (``{"error": {"code", "message"}}`` with ``X-Request-Id``).
Every request is recorded in ``requests`` so tests can check what was sent::

    with serve(token="t") as (server, endpoint):
        driver = NimbusDNSDriver("t", endpoint=endpoint)
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

__all__ = ["NimbusState", "serve"]


@dataclass
class NimbusState:
    """What the server holds: zones (by name, no trailing dot) and their sets."""

    token: str
    zones: dict[str, dict[str, Any]] = field(default_factory=dict)
    rrsets: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Failure(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> tuple[list[Any], Any]:
    """One page of ``items`` (already sorted) after the query's cursor."""
    limit = int(query.get("limit", ["100"])[0])
    start = 0
    if "cursor" in query:
        start = int(base64.urlsafe_b64decode(query["cursor"][0]).decode())
    chunk = items[start:start + limit]
    following = start + limit
    cursor = base64.urlsafe_b64encode(str(following).encode()).decode()
    return chunk, cursor if following < len(items) else None


class _Handler(BaseHTTPRequestHandler):
    state: NimbusState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``state.requests`` instead."""

    def _answer(self, status: int, payload: Any = None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        with self.state.lock:
            self.state.requests.append((self.command, self.path))
        try:
            if self.headers.get("Authorization") != f"Bearer {self.state.token}":
                raise _Failure(401, "unauthorized", "bad or missing token")
            if segments[:1] != ["v1"]:
                raise _Failure(404, "not_found", f"no route {parts.path}")
            with self.state.lock:
                status, payload = self._route(segments[1:], query, raw)
        except _Failure as failure:
            self._answer(failure.status, {"error": {"code": failure.code,
                                                    "message": failure.message}})
            return
        self._answer(status, payload)

    do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 - http.server names

    def _zone(self, name: str) -> dict[str, Any]:
        zone = self.state.zones.get(name.rstrip(".").lower())
        if zone is None:
            raise _Failure(404, "zone_not_found", f"no zone {name}")
        return zone

    def _route(self, path: list[str], query: dict[str, list[str]], raw: bytes
               ) -> tuple[int, Any]:
        state, method = self.state, self.command
        if path == ["zones"] and method == "GET":
            items = [state.zones[k] for k in sorted(state.zones)]
            page, cursor = _page(items, query)
            return 200, {"zones": page, "next_cursor": cursor}
        if path == ["zones"] and method == "POST":
            body = json.loads(raw or b"{}")
            name = str(body.get("name", "")).rstrip(".").lower()
            if not name:
                raise _Failure(400, "invalid", "a zone needs a name")
            if name in state.zones:
                raise _Failure(409, "zone_exists", f"zone {name} exists")
            state.zones[name] = {"name": name, "ttl": body.get("ttl") or 3600}
            state.rrsets[name] = {}
            return 201, state.zones[name]
        if len(path) == 2 and path[0] == "zones":
            zone = self._zone(path[1])
            if method == "GET":
                return 200, zone
            if method == "DELETE":
                del state.zones[zone["name"]], state.rrsets[zone["name"]]
                return 204, None
        if len(path) == 3 and path[0] == "zones" and path[2] == "rrsets" and method == "GET":
            sets = state.rrsets[self._zone(path[1])["name"]]
            wanted_name = query.get("name", [None])[0]
            wanted_type = query.get("type", [None])[0]
            items = [sets[key] for key in sorted(sets)
                     if (wanted_name is None or key[0] == wanted_name.lower())
                     and (wanted_type is None or key[1] == wanted_type.upper())]
            page, cursor = _page(items, query)
            return 200, {"rrsets": page, "next_cursor": cursor}
        if len(path) == 5 and path[0] == "zones" and path[2] == "rrsets":
            sets = state.rrsets[self._zone(path[1])["name"]]
            key = (path[3].lower(), path[4].upper())
            if method == "PUT":
                body = json.loads(raw or b"{}")
                if not body.get("records"):
                    raise _Failure(400, "invalid", "a record set needs records")
                if key in sets and self.headers.get("If-None-Match") == "*":
                    raise _Failure(412, "rrset_exists", f"{key[0]} {key[1]} exists")
                created = key not in sets
                sets[key] = {"name": key[0], "type": key[1], "ttl": body.get("ttl"),
                             "records": list(body["records"])}
                return (201 if created else 200), sets[key]
            if method == "DELETE":
                if key not in sets:
                    raise _Failure(404, "rrset_not_found", f"no {key[1]} set at {key[0]}")
                del sets[key]
                return 204, None
        raise _Failure(404, "not_found", f"no route {method} /{'/'.join(path)}")


@contextmanager
def serve(token: str = "nimbus-token") -> Iterator[tuple[NimbusState, str]]:
    """Run a server on 127.0.0.1 (a free port) until the block ends; yield its
    state and its endpoint (``http://127.0.0.1:PORT/v1``)."""
    state = NimbusState(token)
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
