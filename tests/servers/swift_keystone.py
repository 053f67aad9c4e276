"""A small Identity v3 endpoint in front of this process's real Swift (TempAuth),
for the Swift driver's Keystone tests and its credential chain."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from servers.swift_server import SwiftServer

__all__ = ["KeystoneFixture"]


class KeystoneFixture:
    """A small Identity v3 endpoint in front of the real Swift.

    ``POST /v3/auth/tokens`` for user ``U`` in project ``P`` with password ``K``
    exchanges them for a TempAuth token of ``P:U`` (so Swift accepts the token
    it hands out) and answers in Keystone's format: the token in
    ``X-Subject-Token`` and a catalog whose ``object-store`` service lists
    decoy endpoints (another region, the internal interface) beside the
    right one (``public`` in ``RegionOne``).
    """

    def __init__(self, swift: SwiftServer) -> None:
        self.swift = swift
        self.posts: list[dict[str, Any]] = []
        fixture = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                fixture.posts.append(body)
                if self.path.rstrip("/") != "/v3/auth/tokens":
                    return self._answer(404, {"error": {"code": 404, "message": "no"}})
                user = body["auth"]["identity"]["password"]["user"]
                project = body["auth"]["scope"]["project"]
                try:
                    token, storage = fixture.swift.token(
                        f"{project['name']}:{user['name']}", user["password"]
                    )
                except urllib.error.HTTPError:
                    return self._answer(401, {"error": {
                        "code": 401, "title": "Unauthorized",
                        "message": "The request you have made requires authentication."}})
                now = datetime.now(UTC)
                catalog = [
                    {"type": "identity", "name": "keystone", "endpoints": [
                        {"interface": "public", "region": "RegionOne",
                         "url": "http://127.0.0.1:9/v3"}]},
                    {"type": "object-store", "name": "swift", "endpoints": [
                        {"interface": "public", "region": "RegionTwo",
                         "url": "http://127.0.0.1:9/v1/AUTH_elsewhere"},
                        {"interface": "internal", "region": "RegionOne",
                         "url": "http://127.0.0.1:9/v1/AUTH_internal"},
                        {"interface": "public", "region": "RegionOne", "url": storage},
                    ]},
                ]
                self._answer(201, {"token": {
                    "methods": ["password"],
                    "issued_at": now.isoformat().replace("+00:00", "Z"),
                    "expires_at": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
                    "project": {"id": f"id-{project['name']}", "name": project["name"]},
                    "user": {"id": f"id-{user['name']}", "name": user["name"]},
                    "catalog": catalog,
                }}, token)

            def _answer(self, status: int, data: Any, token: str | None = None) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if token:
                    self.send_header("X-Subject-Token", token)
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v3"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
