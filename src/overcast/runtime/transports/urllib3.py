"""An optional sync transport: urllib3 2.x, pure Python (``pip install overcast[urllib3]``)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from collections.abc import Iterator
from typing import Any

import urllib3
from urllib3.exceptions import ConnectTimeoutError
from urllib3.exceptions import HTTPError
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import ReadTimeoutError

from overcast.runtime.effects import Headers
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.effects import body_length
from overcast.runtime.redact import redact_logger
from overcast.runtime.redact import redact_url
from overcast.runtime.streams import DEFAULT_CHUNK_SIZE
from overcast.runtime.streams import ByteStream
from overcast.runtime.transports.base import DEFAULT_POOL_SIZE
from overcast.runtime.transports.base import ClientCert
from overcast.runtime.transports.base import FailureKinds
from overcast.runtime.transports.base import Proxies
from overcast.runtime.transports.base import RateGuard
from overcast.runtime.transports.base import SyncTransport
from overcast.runtime.transports.base import TransportFailure
from overcast.runtime.transports.base import cert_files

__all__ = ["Urllib3Transport"]

redact_logger("urllib3.connectionpool")  # it logs every request URL, signatures included


# urllib3's NewConnectionError is a ConnectTimeoutError: refused is tested first.
_FAILURES = FailureKinds(refused=(NewConnectionError,), timeout=(ReadTimeoutError,),
                         connect_timeout=(ConnectTimeoutError,))

class Urllib3Transport(SyncTransport):
    """urllib3 ``PoolManager`` with ``pool_size`` connections per host.

    Threads beyond ``pool_size`` wait for a free connection, so the pool is also
    the per-host concurrency limit shared by nested parallel batches.
    """

    def __init__(self, *, pool_size: int = DEFAULT_POOL_SIZE, verify: bool | str = True,
                 min_rate: float | None = None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, user_agent: str | None = None,
                 unix_socket: str | None = None, client_cert: ClientCert | None = None,
                 proxy: str | None = None) -> None:
        self._user_agent = user_agent
        self._proxies = Proxies(proxy) if unix_socket is None else Proxies(environ={})
        self._proxied: dict[str, urllib3.ProxyManager] = {}
        self._min_rate = min_rate
        kwargs: dict[str, Any] = {"maxsize": pool_size, "block": True, "retries": False}
        if verify is False:
            kwargs["cert_reqs"] = "CERT_NONE"
        elif isinstance(verify, str):
            kwargs["ca_certs"] = verify
        if client_cert is not None:
            kwargs["cert_file"], kwargs["key_file"] = cert_files(client_cert)
        self._kwargs = kwargs
        self._pool = urllib3.PoolManager(num_pools=32, **kwargs)
        if unix_socket is not None:
            unix_pool = _unix_pool(unix_socket)
            self._pool.pool_classes_by_scheme = {"http": unix_pool, "https": unix_pool}
        self._chunk_size = chunk_size

    def send(self, request: Request, *, connect_timeout: float, read_timeout: float) -> Response:
        url = request.full_url
        headers = dict(request.headers)
        if self._user_agent and not _has_header(headers, "user-agent"):
            headers["User-Agent"] = self._user_agent
        body: Any = request.body
        chunked = False
        if body is not None and not _has_header(headers, "content-length"):
            length = body_length(body)
            if length is None:
                chunked = True
            else:
                headers["Content-Length"] = str(length)
        pool: urllib3.PoolManager = self._pool
        proxy = self._proxies.for_url(url) if self._proxies.active else None
        if proxy is not None:
            pool = self._proxy_pool(proxy)
        try:
            raw = pool.urlopen(
                request.method,
                url,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                preload_content=False,
                decode_content=False,
                chunked=chunked,
                timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            )
        except (HTTPError, OSError) as exc:
            raise _FAILURES.failure(exc, f"{request.method} {redact_url(url)}",
                                    after=read_timeout) from None
        response = Response(
            status=raw.status,
            headers=Headers(raw.headers.items()),
            url=redact_url(url),
            method=request.method,
        )
        guard = RateGuard(self._min_rate, read_timeout, f"{request.method} {response.url}")
        if request.stream and 200 <= raw.status < 300 and request.method != "HEAD":
            stream = _Urllib3Stream(raw, self._chunk_size, response.url, guard)
            declared = raw.headers.get("Content-Length")
            stream.length = int(declared) if declared and declared.isdigit() else None
            response.stream = stream
        else:
            try:
                chunks = []
                while chunk := raw.read1(self._chunk_size):  # what has arrived
                    guard.update(len(chunk))
                    chunks.append(chunk)
                response.body = b"".join(chunks)
            except (HTTPError, OSError) as exc:
                raise _FAILURES.failure(exc, f"{request.method} {response.url}", reading=True,
                                        after=read_timeout) from None
            finally:
                raw.release_conn()
        return response

    def _proxy_pool(self, proxy: str) -> urllib3.PoolManager:
        """The pool of connections through ``proxy`` (made on first use)."""
        pool = self._proxied.get(proxy)
        if pool is None:
            headers = None
            auth = urllib3.util.parse_url(proxy).auth
            if auth:  # urllib3 does not send a proxy URL's user and password itself
                from urllib.parse import unquote

                headers = urllib3.make_headers(proxy_basic_auth=unquote(auth))
            pool = self._proxied.setdefault(proxy, urllib3.ProxyManager(
                proxy, num_pools=32, proxy_headers=headers, **self._kwargs))
        return pool

    def close(self) -> None:
        self._pool.clear()
        for pool in self._proxied.values():
            pool.clear()


def _has_header(headers: dict[str, str], name: str) -> bool:
    return any(k.lower() == name for k in headers)


class _Urllib3Stream(ByteStream):
    def __init__(self, raw: urllib3.BaseHTTPResponse, chunk_size: int, url: str,
                 guard: RateGuard) -> None:
        super().__init__()
        self._raw = raw
        self._guard = guard
        self._chunk_size = chunk_size
        self._url = url
        self._done = False

    def _sync_chunks(self) -> Iterator[bytes]:
        read, size, guard = self._raw.read1, self._chunk_size, self._guard
        try:
            while True:
                chunk = read(size)
                if not chunk:
                    self._done = True
                    return
                guard.update(len(chunk))
                yield chunk
        except TransportFailure as slow:
            raise slow.to_error(None) from None
        except (HTTPError, OSError) as exc:
            raise _FAILURES.failure(exc, self._url, reading=True).to_error(None) from None

    def _async_chunks(self) -> AsyncIterator[bytes]:
        raise TypeError("a urllib3 response can only be read synchronously")

    def close(self) -> None:
        if not self._done:
            # Unread data would poison the pooled connection: drop it instead.
            self._raw.close()
        self._raw.release_conn()


def _unix_pool(path: str) -> type[urllib3.HTTPConnectionPool]:
    """A connection pool class whose connections go to the UNIX socket ``path``."""

    class UnixConnection(urllib3.connection.HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                if isinstance(self.timeout, int | float):
                    sock.settimeout(self.timeout)
                sock.connect(path)
            except OSError as exc:
                sock.close()
                raise NewConnectionError(self, f"cannot connect to {path}: {exc}") from exc
            return sock

    class UnixConnectionPool(urllib3.HTTPConnectionPool):
        ConnectionCls = UnixConnection

    return UnixConnectionPool
