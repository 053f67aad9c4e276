"""overcast's own CPU per small GET, without the network: where it goes.

The S3 driver's ``download_object_as_stream`` of a 16 KiB object, read to the
end, runs against a transport that answers at once from memory (status 200,
S3's headers, an ETag that is the body's MD5), in the sync runner and in the
async runner (asyncio). Everything overcast does per GET is in the figure:
the operation, SigV4 signing, the runner's deadline and retry bookkeeping,
the response's checks (the body's MD5 against its ETag: S3 answers no other
checksum for an object uploaded without one) and the stream. No socket is
touched, so what remains is the client library's share of a real GET, the
part a faster transport cannot remove. Beside it, the MD5 of 16 KiB alone
(OpenSSL, through ``hashlib``): what the integrity check costs, which peers
that check nothing on a download (obstore, Libcloud, raw pycurl) do not pay.

Each figure is the median of ``--repeat`` runs (default 5) of ``--count``
GETs (default 5,000), CPU time (``time.process_time``) per GET.

    python bench/get_overhead.py [--count 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from overcast.runtime.effects import Headers  # noqa: E402
from overcast.runtime.effects import Request  # noqa: E402
from overcast.runtime.effects import Response  # noqa: E402
from overcast.runtime.transports.base import AsyncTransport  # noqa: E402
from overcast.runtime.transports.base import SyncTransport  # noqa: E402
from overcast.storage import Provider  # noqa: E402
from overcast.storage import get_driver  # noqa: E402
from overcast.storage.base import Container  # noqa: E402
from overcast.storage.base import Object  # noqa: E402

SIZE = 16 * 1024
BODY = bytes(range(256)) * (SIZE // 256)
MD5 = hashlib.md5(BODY).hexdigest()
HEADERS = [("Content-Length", str(SIZE)), ("ETag", f'"{MD5}"'),
           ("Content-Type", "application/octet-stream"),
           ("Last-Modified", "Sat, 05 Dec 2026 08:00:00 GMT"), ("x-amz-request-id", "0123")]


def _answer(request: Request) -> Response:
    return Response(200, Headers(HEADERS), BODY, None, request.url, request.method)


class InstantSync(SyncTransport):
    """Answers every request at once, from memory."""

    def send(self, request: Request, *, connect_timeout: float,
             read_timeout: float) -> Response:
        return _answer(request)

    def close(self) -> None:
        pass


class InstantAsync(AsyncTransport):
    """Answers every request at once, from memory."""

    async def send(self, request: Request, *, connect_timeout: float,
                   read_timeout: float) -> Response:
        return _answer(request)

    async def aclose(self) -> None:
        pass


def _driver() -> tuple[Any, Object]:
    driver = get_driver(Provider.S3)("AKIAEXAMPLE", "secret", endpoint="http://127.0.0.1:9",
                                     sync_transport=InstantSync, async_transport=InstantAsync)
    container = Container(name="bench", driver=driver)
    obj = Object(name="k", size=SIZE, hash=MD5, extra={}, meta_data={}, container=container,
                 driver=driver)
    return driver, obj


def sync_get(count: int) -> float:
    """CPU seconds per GET, sync runner."""
    driver, obj = _driver()
    for _ in range(100):  # warm-up
        assert sum(len(c) for c in driver.download_object_as_stream(obj)) == SIZE
    start = time.process_time()
    for _ in range(count):
        assert sum(len(c) for c in driver.download_object_as_stream(obj)) == SIZE
    return (time.process_time() - start) / count


def async_get(count: int) -> float:
    """CPU seconds per GET, async runner on asyncio."""
    driver, obj = _driver()

    async def read() -> int:
        return sum([len(c) async for c in driver.aio.download_object_as_stream(obj)])

    async def main() -> float:
        for _ in range(100):
            assert await read() == SIZE
        start = time.process_time()
        for _ in range(count):
            assert await read() == SIZE
        return (time.process_time() - start) / count

    return asyncio.run(main())


def md5_alone(count: int) -> float:
    """CPU seconds per MD5 of the 16 KiB body."""
    start = time.process_time()
    for _ in range(count):
        hashlib.md5(BODY).hexdigest()
    return (time.process_time() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cells = {"sync runner": sync_get, "async runner": async_get, "MD5 of 16 KiB alone": md5_alone}
    runs: dict[str, list[float]] = {name: [] for name in cells}
    for _ in range(args.repeat):  # the cells take turns
        for name, cell in cells.items():
            runs[name].append(cell(args.count))
    print(f"16 KiB GET against a transport that answers at once; {args.count} GETs, "
          f"median of {args.repeat} runs")
    print(f"  {'':<22}{'CPU µs/GET':>11}")
    for name, values in runs.items():
        print(f"  {name:<22}{statistics.median(values) * 1e6:>11.1f}")
    md5 = statistics.median(runs["MD5 of 16 KiB alone"])
    for name in ("sync runner", "async runner"):
        own = statistics.median(runs[name])
        print(f"  {name}: MD5 check {md5 / own:.0%} of it; the rest {(own - md5) * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
