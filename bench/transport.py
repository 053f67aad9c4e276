"""Choose overcast's default HTTP transports by measurement.

Method
------
* One local HTTP/1.1 origin (``bench/_http_server.py``) runs in its own process
  for the whole run: a single-threaded ``epoll`` loop with keep-alive that
  serves ``GET /small`` (16 KiB) and ``GET /big`` (64 MiB, ``sendfile`` from a
  memfd, so the server spends almost no CPU per byte).
* Every (client, mode) pair -- e.g. ``httpx`` sync, ``httpx`` async -- runs in
  a fresh subprocess (``--worker``), so one library's threads, pools and import
  side effects never touch another's numbers.
* Inside a worker, each concurrency level (1 and 16) gets one new client /
  pool / session shared by all workers: 16 threads for sync clients, 16 tasks
  on one asyncio loop (stdlib loop, no uvloop) for async clients.
* Workloads:

  - ``small``: a signed-style ``GET /small`` with six realistic request
    headers (SigV4 ``Authorization`` with a varying signature, ``x-amz-date``,
    ``x-amz-content-sha256``, ``x-amz-checksum-mode``, ``User-Agent``,
    ``Accept-Encoding``); a fresh header dict per request; the whole 16 KiB
    body is read into memory;
  - ``big``: the same headers on ``GET /big``; the body is streamed with the
    client's cheapest streaming API (1 MiB reads where the client takes a size,
    its native chunks otherwise) and only the byte count is kept.

* Each cell is warmed up first (connections opened, code paths hot), then
  measured for a bounded number of requests or seconds, whichever comes first.
  Small cells are measured 3 times and big cells 5 times (once each with
  ``--quick``); the repetition with the median CPU per request is kept.
  Reported per cell:

  - ``CPU µs/req``: the ``time.process_time()`` delta of the worker process
    (all its threads, Python and native, user + kernel) over the measurement
    window, divided by completed requests; ``± %`` is half the min..max range
    over the repetitions; ``sys %`` the kernel share (``getrusage``, approx.);
  - wall ``req/s`` (small) or ``MB/s`` (big, 10^6 bytes/s);
  - ``server CPU %``: the origin's CPU over the same window (from its
    ``/stats`` endpoint); near 100 % means the origin, not the client, bounded
    the wall-clock numbers (it does for the fastest big-GET clients: on 2 cores
    the kernel's loopback TCP work is charged largely to the sender);
  - ``new conns``: connections the origin accepted during the window (0 means
    the pool reused its warm keep-alive connections).

* Results are printed as Markdown, each row group (workload, mode,
  concurrency) with ratios against the best client in that group: ``CPU x``
  is CPU/request divided by the lowest in the group (1.00 = best) and
  ``speed x`` is throughput divided by the highest (1.00 = best).

Usage::

    python bench/transport.py [--quick] [--only urllib3,aiohttp] [--json out.json] [--pin]

``--only`` takes client names (``httpx-async``) or libraries (``httpx`` = both
modes). ``--pin`` (Linux) pins the origin to the last CPU and the clients to the
first, which removes scheduler placement as a variable but also stops
multi-threaded clients from borrowing the origin's idle core.

Clients are never installed by this script: a missing one is skipped with a
note. (``niquests`` in particular pulls in ``urllib3-future``, whose wheel
replaces the ``urllib3`` package on every interpreter start; see README.md.)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import http.client
import importlib
import importlib.metadata
import io
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from typing import Protocol

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "_http_server.py"

SMALL_SIZE = 16 * 1024
BIG_SIZE = 64 * 1024 * 1024
CHUNK = 1024 * 1024
CONCURRENCIES = (1, 16)
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


# --------------------------------------------------------------------------- #
# Workload definition
# --------------------------------------------------------------------------- #

_SIGNATURES = [f"{(i * 0x9E3779B97F4A7C15) & ((1 << 256) - 1):064x}" for i in range(1, 65)]
_CREDENTIAL = "AKIAIOSFODNN7EXAMPLE/20261122/us-east-1/s3/aws4_request"
_EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def signed_headers(i: int) -> dict[str, str]:
    """A fresh, SigV4-shaped header dict (six headers); the signature varies with ``i``."""
    return {
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={_CREDENTIAL}, "
            "SignedHeaders=host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date, "
            f"Signature={_SIGNATURES[i & 63]}"
        ),
        "x-amz-date": "20261122T120000Z",
        "x-amz-content-sha256": _EMPTY_SHA256,
        "x-amz-checksum-mode": "ENABLED",
        "User-Agent": "overcast/0.1 python/3.11 bench",
        "Accept-Encoding": "identity",
    }


def _checked(status: int, etag: str | None, nbytes: int) -> int:
    """What every adapter does with a response: check the status, read one
    header (so lazily-parsed headers get materialised), return the body size."""
    if status != 200 or not etag:
        raise RuntimeError(f"bad response: status={status} etag={etag!r}")
    return nbytes


@dataclasses.dataclass(frozen=True)
class Profile:
    """How long each cell runs: up to ``requests`` or ``seconds``, whichever first."""

    small_requests: int
    small_seconds: float
    small_warmup: int  # warm-up requests per worker
    big_requests: dict[int, int]  # concurrency -> 64 MiB GETs per repetition
    big_seconds: float
    repeat: int  # repetitions of each small cell; the median (by CPU/request) is kept
    big_repeat: int  # the same for big cells (noisier: they are memcpy-bound)


FULL = Profile(
    small_requests=20_000,
    small_seconds=1.5,
    small_warmup=50,
    big_requests={1: 4, 16: 16},
    big_seconds=10.0,
    repeat=3,
    big_repeat=5,
)
QUICK = Profile(
    small_requests=2_000,
    small_seconds=0.4,
    small_warmup=10,
    big_requests={1: 1, 16: 16},
    big_seconds=4.0,
    repeat=1,
    big_repeat=1,
)


# --------------------------------------------------------------------------- #
# Client adapters. Library imports happen inside __init__, so this module
# imports with none of the candidates installed.
# --------------------------------------------------------------------------- #


class SyncTransport(Protocol):
    def get_small(self, headers: dict[str, str]) -> int: ...
    def get_big(self, headers: dict[str, str]) -> int: ...
    def close(self) -> None: ...


class AsyncTransport(Protocol):
    async def get_small(self, headers: dict[str, str]) -> int: ...
    async def get_big(self, headers: dict[str, str]) -> int: ...
    async def aclose(self) -> None: ...


class Urllib3Sync:
    """urllib3 2.x ``PoolManager``; big body via ``HTTPResponse.stream(1 MiB)``."""

    def __init__(self, base: str, conc: int) -> None:
        import urllib3

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.pm = urllib3.PoolManager(
            maxsize=conc,
            block=True,
            retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        )

    def get_small(self, headers: dict[str, str]) -> int:
        r = self.pm.request("GET", self.small_url, headers=headers)
        return _checked(r.status, r.headers.get("etag"), len(r.data))

    def get_big(self, headers: dict[str, str]) -> int:
        r = self.pm.request("GET", self.big_url, headers=headers, preload_content=False)
        n = 0
        for chunk in r.stream(CHUNK):
            n += len(chunk)
        r.release_conn()
        return _checked(r.status, r.headers.get("etag"), n)

    def close(self) -> None:
        self.pm.clear()


class HttpxSync:
    """httpx ``Client``; big body via ``iter_raw()`` (httpcore reads 64 KiB;
    ``iter_raw(1 MiB)`` re-chunks in Python and measured ~3x more CPU)."""

    def __init__(self, base: str, conc: int) -> None:
        import httpx

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.client = httpx.Client(
            limits=httpx.Limits(max_connections=conc, max_keepalive_connections=conc),
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        )

    def get_small(self, headers: dict[str, str]) -> int:
        r = self.client.get(self.small_url, headers=headers)
        return _checked(r.status_code, r.headers.get("etag"), len(r.content))

    def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        with self.client.stream("GET", self.big_url, headers=headers) as r:
            for chunk in r.iter_raw():
                n += len(chunk)
        return _checked(r.status_code, r.headers.get("etag"), n)

    def close(self) -> None:
        self.client.close()


class HttpxAsync:
    """httpx ``AsyncClient`` on asyncio; big body via ``aiter_raw()``."""

    def __init__(self, base: str, conc: int) -> None:
        import httpx

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=conc, max_keepalive_connections=conc),
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        )

    async def get_small(self, headers: dict[str, str]) -> int:
        r = await self.client.get(self.small_url, headers=headers)
        return _checked(r.status_code, r.headers.get("etag"), len(r.content))

    async def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        async with self.client.stream("GET", self.big_url, headers=headers) as r:
            async for chunk in r.aiter_raw():
                n += len(chunk)
        return _checked(r.status_code, r.headers.get("etag"), n)

    async def aclose(self) -> None:
        await self.client.aclose()


class AiohttpAsync:
    """aiohttp ``ClientSession`` (``read_bufsize`` 1 MiB); big body via
    ``content.iter_chunked(1 MiB)``."""

    def __init__(self, base: str, conc: int) -> None:
        import aiohttp

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=conc),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
            ),
            read_bufsize=CHUNK,
        )

    async def get_small(self, headers: dict[str, str]) -> int:
        async with self.session.get(self.small_url, headers=headers) as r:
            return _checked(r.status, r.headers.get("etag"), len(await r.read()))

    async def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        async with self.session.get(self.big_url, headers=headers) as r:
            async for chunk in r.content.iter_chunked(CHUNK):
                n += len(chunk)
        return _checked(r.status, r.headers.get("etag"), n)

    async def aclose(self) -> None:
        await self.session.close()


def _parse_header_lines(lines: list[bytes]) -> dict[str, str]:
    """pycurl hands over raw header lines; build the dict every other client gives."""
    parsed: dict[str, str] = {}
    for line in lines[1:]:  # lines[0] is the status line
        name, sep, value = line.partition(b":")
        if sep:
            parsed[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return parsed


class PycurlSync:
    """pycurl: one ``Curl`` handle per thread (handles are not thread-safe),
    each keeping its connection alive; ``BUFFERSIZE`` 1 MiB for the big body."""

    def __init__(self, base: str, conc: int) -> None:
        import pycurl

        self.pycurl = pycurl
        self.small_url, self.big_url = base + "/small", base + "/big"
        self.local = threading.local()
        self.handles: list[Any] = []
        self.lock = threading.Lock()

    def _handle(self) -> Any:
        c = getattr(self.local, "curl", None)
        if c is None:
            pc = self.pycurl
            c = pc.Curl()
            c.setopt(pc.NOSIGNAL, 1)
            c.setopt(pc.CONNECTTIMEOUT_MS, int(CONNECT_TIMEOUT * 1000))
            # read-timeout equivalent: abort if < 1 byte/s for READ_TIMEOUT seconds
            c.setopt(pc.LOW_SPEED_LIMIT, 1)
            c.setopt(pc.LOW_SPEED_TIME, int(READ_TIMEOUT))
            c.setopt(pc.BUFFERSIZE, CHUNK)
            self.local.curl = c
            with self.lock:
                self.handles.append(c)
        return c

    def _perform(
        self, url: str, headers: dict[str, str], write: Callable[[bytes], Any]
    ) -> tuple[int, dict[str, str]]:
        """One request; returns (status, response headers) like the other clients."""
        pc = self.pycurl
        c = self._handle()
        lines: list[bytes] = []
        c.setopt(pc.URL, url)
        c.setopt(pc.HTTPHEADER, [f"{k}: {v}" for k, v in headers.items()])
        c.setopt(pc.HEADERFUNCTION, lines.append)
        c.setopt(pc.WRITEFUNCTION, write)
        c.perform()
        return int(c.getinfo(pc.RESPONSE_CODE)), _parse_header_lines(lines)

    def get_small(self, headers: dict[str, str]) -> int:
        buf = io.BytesIO()
        status, resp_headers = self._perform(self.small_url, headers, buf.write)
        return _checked(status, resp_headers.get("etag"), len(buf.getvalue()))

    def get_big(self, headers: dict[str, str]) -> int:
        count = [0]

        def write(chunk: bytes) -> None:
            count[0] += len(chunk)

        status, resp_headers = self._perform(self.big_url, headers, write)
        return _checked(status, resp_headers.get("etag"), count[0])

    def close(self) -> None:
        for c in self.handles:
            c.close()


class PycurlPullSync(PycurlSync):
    """pycurl with a pull-style body iterator (what a ``for chunk in body``
    API needs): a per-thread ``CurlMulti`` is driven until the write callback
    has queued data. Big workload only; the small GET is the same as pycurl's."""

    def _multi(self) -> Any:
        m = getattr(self.local, "multi", None)
        if m is None:
            m = self.local.multi = self.pycurl.CurlMulti()
        return m

    def iter_body(self, url: str, headers: dict[str, str]) -> Iterator[bytes]:
        pc = self.pycurl
        c, m = self._handle(), self._multi()
        queue: deque[bytes] = deque()
        lines: list[bytes] = []
        c.setopt(pc.URL, url)
        c.setopt(pc.HTTPHEADER, [f"{k}: {v}" for k, v in headers.items()])
        c.setopt(pc.HEADERFUNCTION, lines.append)
        c.setopt(pc.WRITEFUNCTION, queue.append)
        m.add_handle(c)
        try:
            while True:
                while True:
                    ret, running = m.perform()
                    if ret != pc.E_CALL_MULTI_PERFORM:
                        break
                while queue:
                    yield queue.popleft()
                if not running:
                    break
                m.select(1.0)
            _, failed = m.info_read()[1:]
            if failed:
                raise RuntimeError(f"curl error: {failed[0][2]}")
        finally:
            m.remove_handle(c)
        _checked(int(c.getinfo(pc.RESPONSE_CODE)), _parse_header_lines(lines).get("etag"), 0)

    def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        for chunk in self.iter_body(self.big_url, headers):
            n += len(chunk)
        return n


class NiquestsSync:
    """niquests ``Session``; big body via ``iter_content(1 MiB)``."""

    def __init__(self, base: str, conc: int) -> None:
        import niquests

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.session = niquests.Session(pool_connections=1, pool_maxsize=conc, retries=0)
        self.timeout = (CONNECT_TIMEOUT, READ_TIMEOUT)

    def get_small(self, headers: dict[str, str]) -> int:
        r = self.session.get(self.small_url, headers=headers, timeout=self.timeout)
        return _checked(r.status_code or 0, r.headers.get("etag"), len(r.content or b""))

    def get_big(self, headers: dict[str, str]) -> int:
        r = self.session.get(self.big_url, headers=headers, timeout=self.timeout, stream=True)
        n = 0
        for chunk in r.iter_content(CHUNK):
            n += len(chunk)
        r.close()
        return _checked(r.status_code or 0, r.headers.get("etag"), n)

    def close(self) -> None:
        self.session.close()


class NiquestsAsync:
    """niquests ``AsyncSession``; big body via ``await r.iter_content(1 MiB)``."""

    def __init__(self, base: str, conc: int) -> None:
        import niquests

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.session = niquests.AsyncSession(pool_connections=1, pool_maxsize=conc, retries=0)
        self.timeout = (CONNECT_TIMEOUT, READ_TIMEOUT)

    async def get_small(self, headers: dict[str, str]) -> int:
        r = await self.session.get(self.small_url, headers=headers, timeout=self.timeout)
        return _checked(r.status_code or 0, r.headers.get("etag"), len(r.content or b""))

    async def get_big(self, headers: dict[str, str]) -> int:
        r = await self.session.get(self.big_url, headers=headers, timeout=self.timeout, stream=True)
        n = 0
        async for chunk in await r.iter_content(CHUNK):
            n += len(chunk)
        await r.close()
        return _checked(r.status_code or 0, r.headers.get("etag"), n)

    async def aclose(self) -> None:
        await self.session.close()


def _pyreqwest_builder(builder: Any) -> Any:
    return (
        builder.connect_timeout(timedelta(seconds=CONNECT_TIMEOUT))
        .read_timeout(timedelta(seconds=READ_TIMEOUT))
        .follow_redirects(False)
        .gzip(False)
        .brotli(False)
        .zstd(False)
        .deflate(False)
    )


class PyreqwestSync:
    """pyreqwest ``SyncClient`` (Rust reqwest/hyper, tokio runtime thread);
    big body via ``body_reader.read_chunk()`` (native chunks, ~150 KiB here;
    ``read(1 MiB)`` re-buffers and cost more)."""

    def __init__(self, base: str, conc: int) -> None:
        from pyreqwest.client import SyncClientBuilder

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.client = _pyreqwest_builder(SyncClientBuilder()).build()

    def get_small(self, headers: dict[str, str]) -> int:
        resp = self.client.get(self.small_url).headers(headers).build().send()
        return _checked(resp.status, resp.get_header("etag"), len(resp.bytes()))

    def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        with self.client.get(self.big_url).headers(headers).build_streamed() as resp:
            reader = resp.body_reader
            while (chunk := reader.read_chunk()) is not None:
                n += len(chunk)
        return _checked(resp.status, resp.get_header("etag"), n)

    def close(self) -> None:
        self.client.close()


class PyreqwestAsync:
    """pyreqwest async ``Client``; big body via ``await body_reader.read_chunk()``."""

    def __init__(self, base: str, conc: int) -> None:
        from pyreqwest.client import ClientBuilder

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.client = _pyreqwest_builder(ClientBuilder()).build()

    async def get_small(self, headers: dict[str, str]) -> int:
        resp = await self.client.get(self.small_url).headers(headers).build().send()
        return _checked(resp.status, resp.get_header("etag"), len(await resp.bytes()))

    async def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        async with self.client.get(self.big_url).headers(headers).build_streamed() as resp:
            reader = resp.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                n += len(chunk)
        return _checked(resp.status, resp.get_header("etag"), n)

    async def aclose(self) -> None:
        await self.client.close()


class HttprSync:
    """httpr ``Client`` (Rust reqwest); big body via ``stream().iter_bytes()``
    (native chunks, ~240 KiB here; no size argument)."""

    def __init__(self, base: str, conc: int) -> None:
        import httpr

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.client = httpr.Client(
            timeout=READ_TIMEOUT, cookie_store=False, referer=False, follow_redirects=False
        )

    def get_small(self, headers: dict[str, str]) -> int:
        r = self.client.get(self.small_url, headers=headers)
        return _checked(r.status_code, r.headers["etag"], len(r.content))

    def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        with self.client.stream("GET", self.big_url, headers=headers) as r:
            for chunk in r.iter_bytes():
                n += len(chunk)
        return _checked(r.status_code, r.headers["etag"], n)

    def close(self) -> None:
        self.client.close()


class HttprAsync:
    """httpr ``AsyncClient``: the sync Rust client driven through a thread
    pool (``max_concurrency`` threads), not native async I/O."""

    def __init__(self, base: str, conc: int) -> None:
        import httpr

        self.small_url, self.big_url = base + "/small", base + "/big"
        self.client = httpr.AsyncClient(
            timeout=READ_TIMEOUT,
            cookie_store=False,
            referer=False,
            follow_redirects=False,
            max_concurrency=conc,
        )

    async def get_small(self, headers: dict[str, str]) -> int:
        r = await self.client.get(self.small_url, headers=headers)
        return _checked(r.status_code, r.headers["etag"], len(r.content))

    async def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        async with self.client.stream("GET", self.big_url, headers=headers) as r:
            async for chunk in r.aiter_bytes():
                n += len(chunk)
        return _checked(r.status_code, r.headers["etag"], n)

    async def aclose(self) -> None:
        await self.client.aclose()


# --------------------------------------------------------------------------- #
# overcast itself: the same requests through a driver operation, the runner
# (retry policy, signing hook, hooks, redaction) and each default transport.
# Compared with the raw client rows, this is overcast's own overhead.
# --------------------------------------------------------------------------- #


def _overcast_driver(base: str, conc: int, **options: Any) -> Any:
    from overcast.driver import AsyncView
    from overcast.driver import BaseDriver
    from overcast.runtime.effects import Op
    from overcast.runtime.effects import Request
    from overcast.runtime.effects import Response
    from overcast.runtime.operation import aio
    from overcast.runtime.operation import operation
    from overcast.runtime.operation import stream
    from overcast.runtime.streams import ByteStream

    class BenchDriver(BaseDriver):
        """GETs /small and /big; headers come from the caller, as a signer's would."""

        name = "bench"

        @operation
        def get_small(self, headers: dict[str, str]) -> Op[Response]:
            response: Response = yield Request("GET", base + "/small", headers=headers)
            return response

        @stream
        def get_big(self, headers: dict[str, str]) -> Op[ByteStream]:
            response: Response = yield Request("GET", base + "/big", headers=headers,
                                               stream=True)
            assert response.stream is not None
            return response.stream

    class BenchView(AsyncView[BenchDriver]):
        get_small = aio(BenchDriver.get_small)
        get_big = aio(BenchDriver.get_big)

    BenchDriver.async_view = BenchView
    return BenchDriver(pool_size=conc, timeout=READ_TIMEOUT, **options)


class OvercastSync:
    """overcast's sync runner over a named transport."""

    transport = "pycurl"

    def __init__(self, base: str, conc: int) -> None:
        self.driver = _overcast_driver(base, conc, sync_transport=self.transport)

    def get_small(self, headers: dict[str, str]) -> int:
        r = self.driver.get_small(headers)
        return _checked(r.status, r.headers.get("etag"), len(r.body))

    def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        for chunk in self.driver.get_big(headers):
            n += len(chunk)
        return _checked(200, "x", n)

    def close(self) -> None:
        self.driver.close()


class OvercastUrllib3Sync(OvercastSync):
    """overcast's sync runner over urllib3."""

    transport = "urllib3"


class OvercastAsync:
    """overcast's async runner over aiohttp (the asyncio default)."""

    def __init__(self, base: str, conc: int) -> None:
        self.driver = _overcast_driver(base, conc)

    async def get_small(self, headers: dict[str, str]) -> int:
        r = await self.driver.aio.get_small(headers)
        return _checked(r.status, r.headers.get("etag"), len(r.body))

    async def get_big(self, headers: dict[str, str]) -> int:
        n = 0
        async for chunk in self.driver.aio.get_big(headers):
            n += len(chunk)
        return _checked(200, "x", n)

    async def aclose(self) -> None:
        await self.driver.aio.aclose()


@dataclasses.dataclass(frozen=True)
class Candidate:
    name: str  # unique, e.g. "httpx-async"
    library: str  # import name and --only key
    dist: str  # distribution name for version / pip hint
    mode: str  # "sync" | "async"
    factory: Callable[[str, int], Any]
    workloads: tuple[str, ...] = ("small", "big")


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("urllib3", "urllib3", "urllib3", "sync", Urllib3Sync),
    Candidate("httpx", "httpx", "httpx", "sync", HttpxSync),
    Candidate("pycurl", "pycurl", "pycurl", "sync", PycurlSync),
    Candidate("pycurl-pull", "pycurl", "pycurl", "sync", PycurlPullSync, ("big",)),
    Candidate("niquests", "niquests", "niquests", "sync", NiquestsSync),
    Candidate("pyreqwest", "pyreqwest", "pyreqwest", "sync", PyreqwestSync),
    Candidate("httpr", "httpr", "httpr", "sync", HttprSync),
    Candidate("httpx-async", "httpx", "httpx", "async", HttpxAsync),
    Candidate("aiohttp", "aiohttp", "aiohttp", "async", AiohttpAsync),
    Candidate("niquests-async", "niquests", "niquests", "async", NiquestsAsync),
    Candidate("pyreqwest-async", "pyreqwest", "pyreqwest", "async", PyreqwestAsync),
    Candidate("httpr-async", "httpr", "httpr", "async", HttprAsync),
    Candidate("overcast-pycurl", "overcast", "overcast", "sync", OvercastSync),
    Candidate("overcast-urllib3", "overcast", "overcast", "sync", OvercastUrllib3Sync),
    Candidate("overcast-aiohttp", "overcast", "overcast", "async", OvercastAsync),
)


def _candidate(name: str) -> Candidate:
    for cand in CANDIDATES:
        if cand.name == name:
            return cand
    raise SystemExit(f"unknown client {name!r}")


def availability(cand: Candidate) -> tuple[str | None, str | None]:
    """(version, None) if importable, else (None, reason)."""
    try:
        module = importlib.import_module(cand.library)
    except Exception as exc:  # any import failure means "skip"
        return None, f"{type(exc).__name__}: {exc}"
    try:
        version = importlib.metadata.version(cand.dist)
    except importlib.metadata.PackageNotFoundError:
        version = str(getattr(module, "__version__", "?"))
    if cand.library == "urllib3":
        loaded = str(getattr(module, "__version__", "?"))
        if loaded != version:
            return None, (
                f"'import urllib3' loads {loaded}, not urllib3 {version} "
                "(urllib3-future has replaced it)"
            )
        if not version.startswith("2."):
            return None, f"urllib3 {version} is not 2.x"
    return version, None


# --------------------------------------------------------------------------- #
# Measurement (worker side)
# --------------------------------------------------------------------------- #


@dataclasses.dataclass
class Cell:
    client: str
    version: str
    mode: str
    concurrency: int
    workload: str
    requests: int
    nbytes: int
    cpu_s: float
    wall_s: float
    sys_s: float  # kernel part of cpu_s (getrusage; tick-based split, approximate)
    server_cpu_s: float
    new_connections: int
    spread_pct: float = 0.0  # half the min..max range of CPU/request over repeats, % of median

    @property
    def cpu_us_per_req(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else float("inf")

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s else 0.0

    @property
    def mb_s(self) -> float:
        return self.nbytes / self.wall_s / 1e6 if self.wall_s else 0.0

    @property
    def sys_pct(self) -> float:
        return min(100.0, 100.0 * self.sys_s / self.cpu_s) if self.cpu_s else 0.0

    @property
    def server_pct(self) -> float:
        return 100.0 * self.server_cpu_s / self.wall_s if self.wall_s else 0.0


class ServerProbe:
    """Reads the origin's CPU time and accepted-connection count (``/stats``)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def stats(self) -> tuple[float, int]:
        self.conn.request("GET", "/stats")
        data = json.loads(self.conn.getresponse().read())
        return float(data["cpu"]), int(data["accepts"])


@dataclasses.dataclass
class Window:
    """Process CPU, wall clock and server deltas around one measurement."""

    probe: ServerProbe
    cpu_s: float = 0.0
    wall_s: float = 0.0
    sys_s: float = 0.0
    server_cpu_s: float = 0.0
    new_connections: int = 0

    def __enter__(self) -> Window:
        self._srv0, self._acc0 = self.probe.stats()
        self._sys0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall0
        self.cpu_s = time.process_time() - self._cpu0
        self.sys_s = resource.getrusage(resource.RUSAGE_SELF).ru_stime - self._sys0
        srv1, acc1 = self.probe.stats()
        self.server_cpu_s = srv1 - self._srv0
        self.new_connections = acc1 - self._acc0


def _drive_sync(
    pool: ThreadPoolExecutor,
    conc: int,
    fn: Callable[[dict[str, str]], int],
    total: int,
    seconds: float,
    expect: int,
) -> tuple[int, int]:
    """Run ``fn`` on ``conc`` threads until ``total`` calls or ``seconds`` elapse."""
    counter = itertools.count()
    deadline = time.perf_counter() + seconds

    def worker() -> tuple[int, int]:
        done = nbytes = 0
        while True:
            i = next(counter)
            if i >= total or time.perf_counter() > deadline:
                return done, nbytes
            got = fn(signed_headers(i))
            if got != expect:
                raise RuntimeError(f"short body: {got} != {expect}")
            done += 1
            nbytes += got

    results = [f.result() for f in [pool.submit(worker) for _ in range(conc)]]
    return sum(r[0] for r in results), sum(r[1] for r in results)


async def _drive_async(
    conc: int,
    fn: Callable[[dict[str, str]], Awaitable[int]],
    total: int,
    seconds: float,
    expect: int,
) -> tuple[int, int]:
    """Run ``fn`` in ``conc`` tasks until ``total`` calls or ``seconds`` elapse."""
    counter = itertools.count()
    deadline = time.perf_counter() + seconds

    async def worker() -> tuple[int, int]:
        done = nbytes = 0
        while True:
            i = next(counter)
            if i >= total or time.perf_counter() > deadline:
                return done, nbytes
            got = await fn(signed_headers(i))
            if got != expect:
                raise RuntimeError(f"short body: {got} != {expect}")
            done += 1
            nbytes += got

    results = await asyncio.gather(*(worker() for _ in range(conc)))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def _median_cell(cells: list[Cell]) -> Cell:
    """The repetition with the median CPU/request, annotated with the spread."""
    ordered = sorted(cells, key=lambda c: c.cpu_us_per_req)
    median = ordered[(len(ordered) - 1) // 2]
    lo, hi = ordered[0].cpu_us_per_req, ordered[-1].cpu_us_per_req
    median.spread_pct = 50.0 * (hi - lo) / median.cpu_us_per_req
    return median


def _plan(
    prof: Profile, conc: int, workloads: Sequence[str]
) -> list[tuple[str, int, float, int, int, int]]:
    """(workload, requests, seconds, body size, warm-up requests, repeats) per cell."""
    cells = [
        (
            "small", prof.small_requests, prof.small_seconds, SMALL_SIZE,
            prof.small_warmup * conc, prof.repeat,
        ),
        ("big", prof.big_requests[conc], prof.big_seconds, BIG_SIZE, conc, prof.big_repeat),
    ]  # fmt: skip
    return [c for c in cells if c[0] in workloads]


def run_worker(cand: Candidate, version: str, port: int, prof: Profile) -> list[Cell]:
    """Measure every (concurrency, workload) cell of one client in this process."""
    base = f"http://127.0.0.1:{port}"
    probe = ServerProbe(port)
    out: list[Cell] = []

    def cell(conc: int, workload: str, reqs: int, nbytes: int, w: Window) -> Cell:
        return Cell(
            cand.name, version, cand.mode, conc, workload, reqs, nbytes,
            w.cpu_s, w.wall_s, w.sys_s, w.server_cpu_s, w.new_connections,
        )  # fmt: skip

    if cand.mode == "sync":
        for conc in CONCURRENCIES:
            client: SyncTransport = cand.factory(base, conc)
            with ThreadPoolExecutor(conc) as pool:
                for workload, total, seconds, size, warm, repeat in _plan(
                    prof, conc, cand.workloads
                ):
                    fn = client.get_small if workload == "small" else client.get_big
                    _drive_sync(pool, conc, fn, warm, 60.0, size)
                    runs = []
                    for _ in range(repeat):
                        with Window(probe) as w:
                            reqs, nbytes = _drive_sync(pool, conc, fn, total, seconds, size)
                        runs.append(cell(conc, workload, reqs, nbytes, w))
                    out.append(_median_cell(runs))
            client.close()
        return out

    async def main() -> None:
        for conc in CONCURRENCIES:
            client: AsyncTransport = cand.factory(base, conc)
            for workload, total, seconds, size, warm, repeat in _plan(prof, conc, cand.workloads):
                fn = client.get_small if workload == "small" else client.get_big
                await _drive_async(conc, fn, warm, 60.0, size)
                runs = []
                for _ in range(repeat):
                    with Window(probe) as w:
                        reqs, nbytes = await _drive_async(conc, fn, total, seconds, size)
                    runs.append(cell(conc, workload, reqs, nbytes, w))
                out.append(_median_cell(runs))
            await client.aclose()

    asyncio.run(main())
    return out


def worker_main(name: str, port: int, prof: Profile, cpu: int | None) -> int:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    cand = _candidate(name)
    version, why = availability(cand)
    if version is None:
        print(json.dumps({"skip": why}))
        return 0
    cells = run_worker(cand, version, port, prof)
    print(json.dumps({"cells": [dataclasses.asdict(c) for c in cells]}))
    return 0


# --------------------------------------------------------------------------- #
# Orchestration and report (parent side)
# --------------------------------------------------------------------------- #


def start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("benchmark server failed to start")
    return proc, int(line)


def run_candidate(
    cand: Candidate, port: int, quick: bool, cpu: int | None
) -> tuple[list[Cell], str | None]:
    script = str(Path(__file__).resolve())
    cmd = [sys.executable, script, "--worker", cand.name, "--port", str(port)]
    if quick:
        cmd.append("--quick")
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return [], "timed out after 600 s"
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return [], f"worker failed (exit {proc.returncode}): {tail}"
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in payload:
        return [], payload["skip"]
    return [Cell(**c) for c in payload["cells"]], None


def _fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def render(cells: Sequence[Cell], notes: Sequence[str], header: str) -> str:
    lines = [header, ""]
    groups: dict[tuple[str, str, int], list[Cell]] = {}
    for c in cells:
        groups.setdefault((c.workload, c.mode, c.concurrency), []).append(c)

    for workload in ("small", "big"):
        title = (
            "Small signed-style GET (16 KiB body)" if workload == "small" else "64 MiB streamed GET"
        )
        lines += [f"### {title}", ""]
        unit = "req/s" if workload == "small" else "MB/s"
        lines.append(
            f"| mode | conc | client | CPU µs/req | ± % | CPU x | sys % | {unit} | speed x "
            "| server CPU % | new conns |"
        )
        lines.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for mode in ("sync", "async"):
            for conc in CONCURRENCIES:
                group = groups.get((workload, mode, conc), [])
                if not group:
                    continue
                best_cpu = min(c.cpu_us_per_req for c in group)
                best_speed = max(c.rps if workload == "small" else c.mb_s for c in group)
                for c in sorted(group, key=lambda c: c.cpu_us_per_req):
                    speed = c.rps if workload == "small" else c.mb_s
                    lines.append(
                        f"| {mode} | {conc} | {c.client} | {_fmt(c.cpu_us_per_req)} | "
                        f"{c.spread_pct:.0f} | "
                        f"{c.cpu_us_per_req / best_cpu:.2f} | {c.sys_pct:.0f} | {_fmt(speed)} | "
                        f"{speed / best_speed:.2f} | {c.server_pct:.0f} | {c.new_connections} |"
                    )
        lines.append("")

    # Compact pivot: CPU per request, one row per client.
    clients = list(dict.fromkeys(c.client for c in cells))
    cols = [(w, conc) for w in ("small", "big") for conc in CONCURRENCIES]
    lines += ["### Summary: client CPU µs per request", ""]
    lines.append(
        "| client | mode | "
        + " | ".join(f"{w} c={conc}" for w, conc in cols)
        + " | big MB/s c=1 | big MB/s c=16 |"
    )
    lines.append("|---|---|" + "---:|" * (len(cols) + 2))
    index = {(c.client, c.workload, c.concurrency): c for c in cells}
    for name in clients:
        row = [index.get((name, w, conc)) for w, conc in cols]
        mode = next(c.mode for c in cells if c.client == name)
        mbs = [index.get((name, "big", conc)) for conc in CONCURRENCIES]
        lines.append(
            f"| {name} | {mode} | "
            + " | ".join(_fmt(c.cpu_us_per_req) if c else "-" for c in row)
            + " | "
            + " | ".join(_fmt(c.mb_s) if c else "-" for c in mbs)
            + " |"
        )
    lines.append("")
    if notes:
        lines += ["Skipped / notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark candidate HTTP clients for overcast's default transports."
    )
    parser.add_argument("--quick", action="store_true", help="short cells (< 60 s in total)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated client names or libraries, e.g. urllib3,aiohttp,httpx-async",
    )
    parser.add_argument("--json", type=Path, help="also write raw cell results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the server to the last CPU and the client workers to the first (Linux)",
    )
    args = parser.parse_args(argv)
    prof = QUICK if args.quick else FULL

    if args.worker:
        if args.port is None:
            parser.error("--worker needs --port")
        return worker_main(args.worker, args.port, prof, args.cpu)

    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    unknown = wanted - {c.name for c in CANDIDATES} - {c.library for c in CANDIDATES}
    if unknown:
        parser.error(f"unknown client(s): {', '.join(sorted(unknown))}")
    chosen = [c for c in CANDIDATES if not wanted or c.name in wanted or c.library in wanted]

    started = time.perf_counter()
    server, port = start_server()
    client_cpu: int | None = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs at least 2 CPUs")
        os.sched_setaffinity(server.pid, {cpus[-1]})
        client_cpu = cpus[0]
    cells: list[Cell] = []
    notes: list[str] = []
    try:
        for cand in chosen:
            t0 = time.perf_counter()
            got, why = run_candidate(cand, port, args.quick, client_cpu)
            if why:
                note = f"{cand.name}: skipped ({why}); try `pip install {cand.dist}`"
                notes.append(note)
                print(note, file=sys.stderr, flush=True)
                continue
            cells += got
            print(
                f"{cand.name} {got[0].version}: done in {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(10)

    header = (
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {'quick' if args.quick else 'full'} profile, "
        f"total {time.perf_counter() - started:.0f} s. Versions: "
        + ", ".join(sorted({f"{c.client.split('-')[0]} {c.version}" for c in cells}))
        + "."
    )
    print(render(cells, notes, header))
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(c) for c in cells], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
