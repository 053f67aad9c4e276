"""The default async transport: aiohttp (chosen by ``bench/transport.py``)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable
from collections.abc import AsyncIterator
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import aiohttp
from yarl import URL

from overcast.runtime.effects import Headers
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.effects import body_length
from overcast.runtime.redact import redact_logger
from overcast.runtime.redact import redact_url
from overcast.runtime.streams import ByteStream
from overcast.runtime.transports.base import DEFAULT_POOL_SIZE
from overcast.runtime.transports.base import AsyncTransport
from overcast.runtime.transports.base import ClientCert
from overcast.runtime.transports.base import FailureKinds
from overcast.runtime.transports.base import Proxies
from overcast.runtime.transports.base import RateGuard
from overcast.runtime.transports.base import TransportFailure
from overcast.runtime.transports.base import as_async_chunks
from overcast.runtime.transports.base import in_memory_body
from overcast.runtime.transports.base import ssl_context

__all__ = ["AiohttpTransport"]

redact_logger("aiohttp.client")


_FAILURES = FailureKinds(refused=(aiohttp.ClientConnectorError,),
                         timeout=(TimeoutError, aiohttp.ServerTimeoutError))

class AiohttpTransport(AsyncTransport):
    """An ``aiohttp.ClientSession`` with ``pool_size`` connections per host.

    The session is made on first use, inside the running loop.
    """

    def __init__(self, *, pool_size: int = DEFAULT_POOL_SIZE, verify: bool | str = True,
                 user_agent: str | None = None, min_rate: float | None = None,
                 unix_socket: str | None = None, client_cert: ClientCert | None = None,
                 proxy: str | None = None) -> None:
        self._unix_socket = unix_socket
        # Chosen per request (aiohttp's own trust_env would read the
        # environment on every request); none over a UNIX socket.
        self._proxies = Proxies(proxy) if unix_socket is None else Proxies(environ={})
        self._client_cert = client_cert
        self._user_agent = user_agent
        self._min_rate = min_rate
        self._pool_size = pool_size
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_arg: Any = True
            if self._verify is False:
                ssl_arg = False
            elif isinstance(self._verify, str):
                ssl_arg = ssl.create_default_context(cafile=self._verify)
            if self._client_cert is not None:
                ssl_arg = ssl_context(self._verify, self._client_cert)
            limit, per_host = self._pool_size * 8, self._pool_size
            connector: aiohttp.BaseConnector
            if self._unix_socket is not None:
                connector = aiohttp.UnixConnector(path=self._unix_socket, limit=limit,
                                                  limit_per_host=per_host)
            else:
                connector = aiohttp.TCPConnector(limit=limit, limit_per_host=per_host,
                                                 ssl=ssl_arg)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None),
                read_bufsize=2**20,
                headers={"User-Agent": self._user_agent} if self._user_agent else None,
            )
            # aiohttp silently resends idempotent requests on a dropped keep-alive
            # connection; retries are the runner's policy, so that is switched off.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
        return self._session

    async def send(
        self, request: Request, *, connect_timeout: float, read_timeout: float
    ) -> Response:
        session = self._get_session()
        url = request.full_url
        headers = dict(request.headers)
        data: Any = request.body
        if data is not None:
            if not any(k.lower() == "content-length" for k in headers):
                length = body_length(data)
                if length is not None:
                    headers["Content-Length"] = str(length)
            if isinstance(data, memoryview | bytearray):
                data = in_memory_body(data)
                if not isinstance(data, bytes):
                    data = as_async_chunks(data)
            elif hasattr(data, "read"):
                # aiohttp closes file payloads after sending; the runner may need
                # to rewind and resend, so the file is read here instead.
                data = _read_file(data)
            elif (
                not isinstance(data, bytes)
                and not hasattr(data, "read")
                and isinstance(data, Iterable)
                and not isinstance(data, AsyncIterable)
            ):
                data = as_async_chunks(data)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        safe_url = redact_url(url)
        try:
            raw = await session.request(
                request.method,
                # As built and signed: yarl would otherwise re-encode the query,
                # so what is sent (and echoed back) would differ from what was
                # signed and what redaction looks for.
                URL(url, encoded=True),
                headers=headers,
                data=data,
                timeout=timeout,
                allow_redirects=False,
                compress=None,
                proxy=self._proxies.for_url(url) if self._proxies.active else None,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _FAILURES.failure(exc, f"{request.method} {safe_url}") from None
        response = Response(
            status=raw.status,
            headers=Headers(_headers(raw)),
            url=safe_url,
            method=request.method,
        )
        guard = RateGuard(self._min_rate, read_timeout, f"{request.method} {safe_url}")
        if request.stream and 200 <= raw.status < 300 and request.method != "HEAD":
            stream = _AiohttpStream(raw, safe_url, guard)
            stream.length = raw.content_length
            response.stream = stream
            return response
        try:
            chunks = []
            while chunk := await raw.content.readany():
                guard.update(len(chunk))
                chunks.append(chunk)
            response.body = b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _FAILURES.failure(exc, f"{request.method} {safe_url}", reading=True) from None
        finally:
            raw.release()
        return response

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _headers(raw: aiohttp.ClientResponse) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw.raw_headers]


async def _read_file(reader: Any) -> AsyncIterator[bytes]:
    import anyio.to_thread

    while chunk := await anyio.to_thread.run_sync(reader.read, 1024 * 1024):
        yield chunk


class _AiohttpStream(ByteStream):
    def __init__(self, raw: aiohttp.ClientResponse, url: str, guard: RateGuard) -> None:
        super().__init__()
        self._raw = raw
        self._guard = guard
        self._url = url
        self._done = False

    def _sync_chunks(self) -> Iterator[bytes]:
        raise TypeError("an aiohttp response can only be read in its event loop")

    async def _async_chunks(self) -> AsyncIterator[bytes]:
        readany, guard = self._raw.content.readany, self._guard
        try:
            while True:
                chunk = await readany()
                if not chunk:
                    self._done = True
                    return
                guard.update(len(chunk))
                yield chunk
        except TransportFailure as failure:
            raise failure.to_error(None) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _FAILURES.failure(exc, self._url, reading=True).to_error(None) from None

    def close(self) -> None:
        if self._done:
            self._raw.release()
        else:
            self._raw.close()

    async def aclose(self) -> None:
        self.close()

