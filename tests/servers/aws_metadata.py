"""A stateful fixture of the places AWS credentials come from on a machine,
plus a stand-in AWS API that records how it was signed.

* EC2 instance metadata, IMDSv2: ``PUT /latest/api/token`` (with
  ``X-aws-ec2-metadata-token-ttl-seconds``) gives a session token; ``GET
  /latest/meta-data/iam/security-credentials/`` names the role and ``GET
  .../ROLE`` gives its credentials, both only with ``X-aws-ec2-metadata-token``
  (401 without it, as IMDSv2-only instances answer).
* ECS container credentials: ``GET /ecs/credentials`` (``ecs_token``, when set,
  must be the ``Authorization`` header).
* IAM Identity Center's ``GetRoleCredentials``: ``GET /federation/credentials
  ?role_name=R&account_id=A`` with ``x-amz-sso_bearer_token`` (``sso_token``,
  else 401 ``UnauthorizedException``; a role other than ``sso_role`` is 403
  ``ForbiddenException``) answers ``{"roleCredentials": {...}}``, the
  expiration in milliseconds.
* Anything else is "the API": the access key id of its SigV4 ``Authorization``
  and its ``x-amz-security-token`` are recorded, and it answers an empty S3
  bucket listing (so an S3 driver pointed here can list its buckets).

Every credential answer is new: ``ASIAIMDS1``, ``ASIAIMDS2``, ... (``ASIAECS1``,
...), each with a session token, expiring ``lifetime`` seconds after
``time.time()`` (which tests may move). ``hits`` counts requests by path.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

__all__ = ["AwsMetadata", "Signed", "aws_metadata"]

ROLE = "overcast-test-role"
ROLES_PATH = "/latest/meta-data/iam/security-credentials/"
LISTING = (b'<?xml version="1.0" encoding="UTF-8"?>'
           b'<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           b"<Owner><ID>o</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>")
_CREDENTIAL = re.compile(r"Credential=([^/]+)/")


@dataclass
class Signed:
    """One API request: the key id it was signed with and its session token."""

    path: str
    key: str | None
    token: str | None


@dataclass
class _State:
    lifetime: float = 3600.0
    ecs_token: str | None = None
    sso_token: str | None = None
    sso_role: tuple[str, str] = ("123456789012", "overcast-sso-role")
    hits: Counter[str] = field(default_factory=Counter)
    signed: list[Signed] = field(default_factory=list)
    issued: Counter[str] = field(default_factory=Counter)
    imds_tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _credentials(self, prefix: str) -> bytes:
        state = self.server.state
        with state.lock:
            state.issued[prefix] += 1
            number = state.issued[prefix]
        expires = datetime.fromtimestamp(time.time() + state.lifetime, UTC)
        return json.dumps({
            "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": f"ASIA{prefix}{number}",
            "SecretAccessKey": f"secret-{prefix}-{number}", "Token": f"token-{prefix}-{number}",
            "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }).encode()

    def _count(self) -> _State:
        state = self.server.state
        with state.lock:
            state.hits[self.path.split("?")[0]] += 1
        return state

    def do_PUT(self) -> None:
        state = self._count()
        size = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(size)
        if self.path == "/latest/api/token":
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                self._answer(400, b"missing ttl")
                return
            with state.lock:
                token = f"imds-session-{len(state.imds_tokens) + 1}"
                state.imds_tokens.add(token)
            self._answer(200, token.encode())
            return
        self._api()

    def do_GET(self) -> None:
        state = self._count()
        if self.path.startswith(ROLES_PATH):
            if self.headers.get("X-aws-ec2-metadata-token") not in state.imds_tokens:
                self._answer(401, b"")
            elif self.path == ROLES_PATH:
                self._answer(200, ROLE.encode())
            elif self.path == ROLES_PATH + ROLE:
                self._answer(200, self._credentials("IMDS"), "application/json")
            else:
                self._answer(404, b"")
            return
        if self.path.startswith("/federation/credentials"):
            self._sso(state)
            return
        if self.path == "/ecs/credentials":
            if state.ecs_token is not None and self.headers.get("Authorization") != state.ecs_token:
                self._answer(401, b'{"message": "unauthorized"}', "application/json")
            else:
                self._answer(200, self._credentials("ECS"), "application/json")
            return
        self._api()

    def _sso(self, state: _State) -> None:
        from urllib.parse import parse_qs
        from urllib.parse import urlsplit

        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if state.sso_token is None or self.headers.get("x-amz-sso_bearer_token") != \
                state.sso_token:
            self._error(401, "UnauthorizedException", "Session token not found or invalid")
            return
        if (query.get("account_id"), query.get("role_name")) != state.sso_role:
            self._error(403, "ForbiddenException", "No access")
            return
        with state.lock:
            state.issued["SSO"] += 1
            number = state.issued["SSO"]
        body = json.dumps({"roleCredentials": {
            "accessKeyId": f"ASIASSO{number}", "secretAccessKey": f"secret-SSO-{number}",
            "sessionToken": f"token-SSO-{number}",
            "expiration": int((time.time() + state.lifetime) * 1000)}}).encode()
        self._answer(200, body, "application/json")

    def _error(self, status: int, kind: str, message: str) -> None:
        body = json.dumps({"message": message}).encode()
        self.send_response(status)
        self.send_header("x-amzn-ErrorType", f"{kind}:http://internal.amazon.com/coral/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self._count()
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(500, b"<Error><Code>NotHere</Code><Message>not an STS</Message></Error>")

    def _api(self) -> None:
        found = _CREDENTIAL.search(self.headers.get("Authorization") or "")
        with self.server.state.lock:
            self.server.state.signed.append(Signed(
                self.path, found.group(1) if found else None,
                self.headers.get("x-amz-security-token")))
        self._answer(200, LISTING, "application/xml")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = _State()


class AwsMetadata:
    """The running fixture: ``url``, ``state`` (``hits``, ``signed``,
    ``lifetime``, ``ecs_token``)."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def state(self) -> _State:
        """What it has seen and how it answers."""
        return self._server.state

    def credential_hits(self) -> int:
        """Requests to the metadata and container endpoints (not the API)."""
        return sum(n for path, n in self.state.hits.items()
                   if path.startswith(("/latest/", "/ecs/", "/federation/")))


@contextmanager
def aws_metadata() -> Iterator[AwsMetadata]:
    """Start the fixture on a free port; stop it afterwards."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield AwsMetadata(server)
    finally:
        server.shutdown()
        server.server_close()
