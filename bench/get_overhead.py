"""overcast's own CPU per small GET, without the network: where it goes.

The S3 driver's ``download_object_as_stream`` of a 16 KiB object, read to the
end, runs against a transport that answers at once from memory (status 200,
S3's headers), in the sync runner and in the async runner (asyncio), for two
objects:

* ``crc32``: the answer carries ``x-amz-checksum-crc32``, as S3 and SeaweedFS
  give for an object uploaded with a flexible checksum (what overcast and
  boto3 send by default): the body is checked against that CRC;
* ``md5``: the answer carries only an ETag that is the body's MD5 (an object
  uploaded without a checksum): the body is checked against the MD5.

Everything overcast does per GET is in the figure: the operation, SigV4
signing, the runner's deadline and retry bookkeeping, the response's checks
and the stream. No socket is touched, so what remains is the client library's
share of a real GET, the part a faster transport cannot remove.

Each figure is the median of ``--repeat`` runs (default 5) of ``--count``
GETs (default 5,000), CPU time (``time.process_time``) per GET; the cells
take turns.

    python bench/get_overhead.py [--count 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import statistics
import sys
import time
import zlib
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
CRC32 = base64.b64encode(zlib.crc32(BODY).to_bytes(4, "big")).decode()
HEADERS = [("Content-Length", str(SIZE)), ("ETag", f'"{MD5}"'),
           ("Content-Type", "application/octet-stream"),
           ("Last-Modified", "Sat, 05 Dec 2026 08:00:00 GMT"), ("x-amz-request-id", "0123")]
CHECKS = {"crc32": [*HEADERS, ("x-amz-checksum-crc32", CRC32)], "md5": HEADERS}


def _transports(check: str) -> tuple[type[SyncTransport], type[AsyncTransport]]:
    """Transports that answer every request at once, from memory, with the
    headers of an object checked by ``check``."""
    headers = CHECKS[check]

    def answer(request: Request) -> Response:
        return Response(200, Headers(headers), BODY, None, request.url, request.method)

    class InstantSync(SyncTransport):
        def send(self, request: Request, *, connect_timeout: float,
                 read_timeout: float) -> Response:
            return answer(request)

        def close(self) -> None:
            pass

    class InstantAsync(AsyncTransport):
        async def send(self, request: Request, *, connect_timeout: float,
                       read_timeout: float) -> Response:
            return answer(request)

        async def aclose(self) -> None:
            pass

    return InstantSync, InstantAsync


def _driver(check: str) -> tuple[Any, Object]:
    sync, asynchronous = _transports(check)
    driver = get_driver(Provider.S3)("AKIAEXAMPLE", "secret", endpoint="http://127.0.0.1:9",
                                     sync_transport=sync, async_transport=asynchronous)
    container = Container(name="bench", driver=driver)
    obj = Object(name="k", size=SIZE, hash=MD5, extra={}, meta_data={}, container=container,
                 driver=driver)
    return driver, obj


def sync_get(count: int, check: str) -> float:
    """CPU seconds per GET, sync runner."""
    driver, obj = _driver(check)
    for _ in range(100):  # warm-up
        assert sum(len(c) for c in driver.download_object_as_stream(obj)) == SIZE
    start = time.process_time()
    for _ in range(count):
        assert sum(len(c) for c in driver.download_object_as_stream(obj)) == SIZE
    return (time.process_time() - start) / count


def async_get(count: int, check: str) -> float:
    """CPU seconds per GET, async runner on asyncio."""
    driver, obj = _driver(check)

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
    cells = {f"{runner}, {check}": (lambda n, f=fn, c=check: f(n, c))
             for runner, fn in (("sync", sync_get), ("async", async_get))
             for check in CHECKS}
    cells["MD5 of 16 KiB alone"] = md5_alone
    runs: dict[str, list[float]] = {name: [] for name in cells}
    for _ in range(args.repeat):  # the cells take turns
        for name, cell in cells.items():
            runs[name].append(cell(args.count))
    print(f"16 KiB GET against a transport that answers at once; {args.count} GETs, "
          f"median of {args.repeat} runs; load average {os.getloadavg()[0]:.2f}")
    print(f"  {'':<22}{'CPU µs/GET':>11}")
    for name, values in runs.items():
        print(f"  {name:<22}{statistics.median(values) * 1e6:>11.1f}")


if __name__ == "__main__":
    main()
