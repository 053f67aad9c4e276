"""Optional transports over httpx (``pip install overcast[httpx]``).

The async one runs on any anyio backend, trio included.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable
from collections.abc import AsyncIterator
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import httpx

from overcast.runtime.effects import Headers
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.effects import body_length
from overcast.runtime.redact import redact_logger
from overcast.runtime.redact import redact_url
from overcast.runtime.streams import DEFAULT_CHUNK_SIZE
from overcast.runtime.streams import ByteStream
from overcast.runtime.transports.base import DEFAULT_POOL_SIZE
from overcast.runtime.transports.base import AsyncTransport
from overcast.runtime.transports.base import ClientCert
from overcast.runtime.transports.base import Proxies
from overcast.runtime.transports.base import RateGuard
from overcast.runtime.transports.base import SyncTransport
from overcast.runtime.transports.base import TransportFailure
from overcast.runtime.transports.base import as_async_chunks
from overcast.runtime.transports.base import in_memory_body
from overcast.runtime.transports.base import ssl_context

__all__ = ["HttpxAsyncTransport", "HttpxSyncTransport"]

redact_logger("httpx")  # it logs every request URL, signatures included


def _content(request: Request) -> tuple[Any, dict[str, str]]:
    headers = dict(request.headers)
    body: Any = request.body
    if body is None:
        return None, headers
    if not any(k.lower() == "content-length" for k in headers):
        length = body_length(body)
        if length is not None:
            headers["Content-Length"] = str(length)
    if isinstance(body, memoryview | bytearray):
        return in_memory_body(body), headers
    if hasattr(body, "read"):
        return _file_chunks(body), headers
    return body, headers


def _file_chunks(f: Any) -> Iterator[bytes]:
    while chunk := f.read(DEFAULT_CHUNK_SIZE):
        yield chunk


def _failure(exc: httpx.TransportError | ssl.SSLError, request: Request) -> TransportFailure:
    where = f"{request.method} {redact_url(request.full_url)}"
    if isinstance(exc, ssl.SSLError):
        return TransportFailure(f"TLS failed: {where}: {exc.reason or exc}", sent=True)
    if isinstance(exc, httpx.ConnectTimeout):
        return TransportFailure(f"connect timed out: {where}", sent=False, timeout=True)
    if isinstance(exc, httpx.ConnectError):
        return TransportFailure(f"cannot connect: {where}", sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure(f"timed out: {where}", sent=True, timeout=True)
    return TransportFailure(f"connection failed: {where}: {type(exc).__name__}", sent=True)


def _response(raw: httpx.Response, request: Request) -> Response:
    return Response(
        status=raw.status_code,
        headers=Headers(raw.headers.multi_items()),
        url=redact_url(request.full_url),
        method=request.method,
    )


def _client_options(pool_size: int, verify: bool | str, user_agent: str | None,
                    client_cert: ClientCert | None) -> dict[str, Any]:
    """What both clients are made with; ``verify`` is a context presenting the
    client certificate when there is one."""
    return {
        "limits": httpx.Limits(max_connections=pool_size * 8, max_keepalive_connections=pool_size),
        "verify": verify if client_cert is None else ssl_context(verify, client_cert),
        "follow_redirects": False,
        "headers": {"User-Agent": user_agent} if user_agent else None,
    }


class _ProxyRouter(httpx.BaseTransport):
    """Sends each request directly or through the proxy :class:`Proxies` names
    for its URL (one pooled transport per proxy). A client given a transport
    reads no proxy from the environment itself (httpx), so the choice is
    overcast's alone, the same as every transport's; a client without one is
    made only when no proxy is set."""

    def __init__(self, proxies: Proxies, options: dict[str, Any]) -> None:
        self._proxies = proxies
        self._options = options
        self._direct = httpx.HTTPTransport(**options)
        self._via: dict[str, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self._proxies.for_url(str(request.url))
        transport = self._direct
        if proxy is not None:
            transport = self._via.get(proxy) or self._via.setdefault(
                proxy, httpx.HTTPTransport(proxy=proxy, **self._options))
        return transport.handle_request(request)

    def close(self) -> None:
        self._direct.close()
        for transport in self._via.values():
            transport.close()


class _AsyncProxyRouter(httpx.AsyncBaseTransport):
    """The async :class:`_ProxyRouter`."""

    def __init__(self, proxies: Proxies, options: dict[str, Any]) -> None:
        self._proxies = proxies
        self._options = options
        self._direct = httpx.AsyncHTTPTransport(**options)
        self._via: dict[str, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self._proxies.for_url(str(request.url))
        transport = self._direct
        if proxy is not None:
            transport = self._via.get(proxy) or self._via.setdefault(
                proxy, httpx.AsyncHTTPTransport(proxy=proxy, **self._options))
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._direct.aclose()
        for transport in self._via.values():
            await transport.aclose()


def _wants_stream(request: Request, raw: httpx.Response) -> bool:
    return request.stream and 200 <= raw.status_code < 300 and request.method != "HEAD"


class HttpxSyncTransport(SyncTransport):
    """An ``httpx.Client`` with ``pool_size`` connections per host."""

    def __init__(self, *, pool_size: int = DEFAULT_POOL_SIZE, verify: bool | str = True,
                 user_agent: str | None = None, min_rate: float | None = None,
                 unix_socket: str | None = None, client_cert: ClientCert | None = None,
                 proxy: str | None = None) -> None:
        self._min_rate = min_rate
        options = _client_options(pool_size, verify, user_agent, client_cert)
        proxies = Proxies(proxy)
        if unix_socket is not None:
            options["transport"] = httpx.HTTPTransport(uds=unix_socket, limits=options["limits"],
                                                verify=options["verify"])
        elif proxies.active:
            options["transport"] = _ProxyRouter(
                proxies, {"limits": options["limits"], "verify": options["verify"]})
        self._client = httpx.Client(**options)

    def send(self, request: Request, *, connect_timeout: float, read_timeout: float) -> Response:
        content, headers = _content(request)
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout, pool=None)
        try:
            raw = self._client.send(
                self._client.build_request(
                    request.method, request.full_url, headers=headers, content=content,
                    timeout=timeout,
                ),
                stream=True,
            )
        except (httpx.TransportError, ssl.SSLError) as exc:
            # httpcore lets a TLS alert read after the handshake (TLS 1.3's
            # refusal of a client certificate) out as a bare ssl.SSLError.
            raise _failure(exc, request) from None
        response = _response(raw, request)
        guard = RateGuard(self._min_rate, read_timeout, f"{request.method} {response.url}")
        if _wants_stream(request, raw):
            response.stream = _HttpxStream(raw, request, guard)
            return response
        try:
            chunks = []
            for chunk in raw.iter_raw():
                guard.update(len(chunk))
                chunks.append(chunk)
            response.body = b"".join(chunks)
        except httpx.TransportError as exc:
            raise _failure(exc, request) from None
        finally:
            raw.close()
        return response

    def close(self) -> None:
        self._client.close()


class HttpxAsyncTransport(AsyncTransport):
    """An ``httpx.AsyncClient``; works on asyncio and trio."""

    def __init__(self, *, pool_size: int = DEFAULT_POOL_SIZE, verify: bool | str = True,
                 user_agent: str | None = None, min_rate: float | None = None,
                 unix_socket: str | None = None, client_cert: ClientCert | None = None,
                 proxy: str | None = None) -> None:
        self._min_rate = min_rate
        options = _client_options(pool_size, verify, user_agent, client_cert)
        proxies = Proxies(proxy)
        if unix_socket is not None:
            options["transport"] = httpx.AsyncHTTPTransport(
                uds=unix_socket, limits=options["limits"], verify=options["verify"])
        elif proxies.active:
            options["transport"] = _AsyncProxyRouter(
                proxies, {"limits": options["limits"], "verify": options["verify"]})
        self._client = httpx.AsyncClient(**options)

    async def send(
        self, request: Request, *, connect_timeout: float, read_timeout: float
    ) -> Response:
        content, headers = _content(request)
        if isinstance(content, Iterable) and not isinstance(content, bytes | AsyncIterable):
            content = as_async_chunks(content)
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout, pool=None)
        try:
            raw = await self._client.send(
                self._client.build_request(
                    request.method, request.full_url, headers=headers, content=content,
                    timeout=timeout,
                ),
                stream=True,
            )
        except (httpx.TransportError, ssl.SSLError) as exc:
            # httpcore lets a TLS alert read after the handshake (TLS 1.3's
            # refusal of a client certificate) out as a bare ssl.SSLError.
            raise _failure(exc, request) from None
        response = _response(raw, request)
        guard = RateGuard(self._min_rate, read_timeout, f"{request.method} {response.url}")
        if _wants_stream(request, raw):
            response.stream = _HttpxStream(raw, request, guard)
            return response
        try:
            chunks = []
            async for chunk in raw.aiter_raw():
                guard.update(len(chunk))
                chunks.append(chunk)
            response.body = b"".join(chunks)
        except httpx.TransportError as exc:
            raise _failure(exc, request) from None
        finally:
            await raw.aclose()
        return response

    async def aclose(self) -> None:
        await self._client.aclose()


class _HttpxStream(ByteStream):
    def __init__(self, raw: httpx.Response, request: Request, guard: RateGuard) -> None:
        super().__init__()
        self._raw = raw
        self._guard = guard
        self._request = request
        length = raw.headers.get("content-length")
        self.length = int(length) if length and length.isdigit() else None

    def _sync_chunks(self) -> Iterator[bytes]:
        try:
            for chunk in self._raw.iter_raw():
                self._guard.update(len(chunk))
                yield chunk
        except TransportFailure as failure:
            raise failure.to_error(None) from None
        except httpx.TransportError as exc:
            raise _failure(exc, self._request).to_error(None) from None

    async def _async_chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._raw.aiter_raw():
                self._guard.update(len(chunk))
                yield chunk
        except TransportFailure as failure:
            raise failure.to_error(None) from None
        except httpx.TransportError as exc:
            raise _failure(exc, self._request).to_error(None) from None

    def close(self) -> None:
        self._raw.close()

    async def aclose(self) -> None:
        await self._raw.aclose()
