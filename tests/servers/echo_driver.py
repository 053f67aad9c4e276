"""A small driver over the scripted HTTP server: the runtime's test subject.

It signs every attempt with an HMAC of a secret (like a cloud signer would),
so tests can check fresh signatures per attempt and that the secret never
leaks into logs, reprs or errors.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any
from typing import ClassVar

from overcast.driver import AsyncView
from overcast.driver import BaseDriver
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.effects import Pipe
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.effects import Sink
from overcast.runtime.operation import aio
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.operation import stream
from overcast.runtime.redact import Secret
from overcast.runtime.streams import ByteStream


class EchoDriver(BaseDriver):
    """Talks to :class:`servers.httpd.ScriptedServer`."""

    name: ClassVar[str] = "echo"
    area: ClassVar[str] = "test"
    aio: EchoDriverAsync

    def __init__(self, key: str, secret: str, *, endpoint: str, **options: Any) -> None:
        super().__init__(**options)
        self.key = key
        self.secret = Secret(secret)
        self.endpoint = endpoint.rstrip("/")

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "key": self.key}

    def _sign(self, request: Request, now: float) -> Request:
        stamp = f"{now:.6f}"
        message = f"{request.method}\n{request.full_url}\n{stamp}".encode()
        signature = hmac.new(self.secret.reveal().encode(), message, hashlib.sha256).hexdigest()
        return request.with_headers(
            {"Authorization": f"Test key={self.key} sig={signature}", "X-Test-Date": stamp}
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> Request:
        return Request(method, f"{self.endpoint}{path}", **kwargs)

    @operation
    def fetch(
        self,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
        idempotent: bool | None = None,
        params: Sequence[tuple[str, str]] = (),
        timeout: float | None = None,
        check: bool = False,
    ) -> Op[tuple[int, bytes]]:
        """Send one request; return (status, body). ``check`` raises on 4xx/5xx."""
        response: Response = yield self._request(
            method, path, body=body, idempotent=idempotent, params=params, timeout=timeout
        )
        if check:
            response.raise_for_status(self)
        return response.status, response.body

    @operation
    def fetch_many(self, paths: Sequence[str], limit: int | None = None) -> Op[list[bytes]]:
        """GET several paths concurrently; their bodies, in order."""
        results: list[tuple[int, bytes]] = yield Parallel(
            [self.fetch.op(path, check=True) for path in paths], limit=limit
        )
        return [body for _, body in results]

    @stream
    def download(self, path: str) -> Op[ByteStream]:
        """Stream a GET's body."""
        response: Response = yield self._request("GET", path, stream=True)
        response.raise_for_status(self)
        assert response.stream is not None
        return response.stream

    @operation
    def save(self, path: str, sink: Sink) -> Op[int]:
        """Stream a GET's body into ``sink`` (a Pipe); the bytes written."""
        response: Response = yield self._request("GET", path, stream=True)
        response.raise_for_status(self)
        assert response.stream is not None
        written: int = yield Pipe(response.stream, sink)
        return written

    @iterator
    def iterate_pages(self, pages: int) -> Iter[str]:
        """One request per page, emitting each page's value as it arrives."""
        for page in range(pages):
            response: Response = yield self._request(
                "GET", "/echo-json", params=[("page", str(page))]
            )
            yield Emit(response.json()["query"]["page"])


class EchoDriverAsync(AsyncView[EchoDriver]):
    """``EchoDriver.aio``."""

    fetch = aio(EchoDriver.fetch)
    fetch_many = aio(EchoDriver.fetch_many)
    download = aio(EchoDriver.download)
    save = aio(EchoDriver.save)
    iterate_pages = aio(EchoDriver.iterate_pages)


EchoDriver.async_view = EchoDriverAsync
