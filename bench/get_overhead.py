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

A last cell lists a bucket the same way: ``iterate_container_objects`` over
a 1,000-key ListObjectsV2 page shaped as SeaweedFS answers (CPU per key):
the parse, the models and the runner, without the wire.

Each figure is the median of ``--repeat`` runs (default 5) of ``--count``
GETs (default 5,000; a tenth as many listings), CPU time
(``time.process_time``) per GET or key; the cells take turns. ``--src DIR``
measures the overcast package under DIR instead of this checkout's (a
compiled copy, say); ``--json`` prints the medians, in seconds, as JSON.

    python bench/get_overhead.py [--count 5000] [--repeat 5] [--src DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import statistics
import sys
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The tree is chosen before overcast is imported (argparse runs later).
SRC = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv[:-1] else str(ROOT / "src")
sys.path[:0] = [SRC]

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


LISTED = 1000
LISTING = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bench</Name>'
    "<Prefix></Prefix><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
    + "".join(f"<Contents><Key>dir/object-{i:06d}.bin</Key><ETag>&#34;{MD5}&#34;</ETag>"
              f"<Size>{SIZE}</Size><StorageClass>STANDARD</StorageClass>"
              "<LastModified>2026-12-05T08:00:00Z</LastModified></Contents>"
              for i in range(LISTED))
    + f"<EncodingType>url</EncodingType><KeyCount>{LISTED}</KeyCount></ListBucketResult>"
).encode()


def list_keys(count: int) -> float:
    """CPU seconds per listed key, sync runner: ``count // 10`` keys, rounded
    up to whole 1,000-key listings."""

    class InstantListing(SyncTransport):
        def send(self, request: Request, *, connect_timeout: float,
                 read_timeout: float) -> Response:
            return Response(200, Headers([("Content-Type", "application/xml"),
                                          ("Content-Length", str(len(LISTING)))]),
                            LISTING, None, request.url, request.method)

        def close(self) -> None:
            pass

    driver = get_driver(Provider.S3)("AKIAEXAMPLE", "secret", endpoint="http://127.0.0.1:9",
                                     sync_transport=InstantListing)
    container = Container(name="bench", driver=driver)
    listings = max(1, count // 10 // LISTED)
    assert sum(1 for _ in driver.iterate_container_objects(container)) == LISTED  # warm-up
    start = time.process_time()
    for _ in range(listings):
        assert sum(1 for _ in driver.iterate_container_objects(container)) == LISTED
    return (time.process_time() - start) / (listings * LISTED)


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
    parser.add_argument("--src", default=SRC, help="the tree holding the overcast package")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args()
    cells = {f"{runner}, {check}": (lambda n, f=fn, c=check: f(n, c))
             for runner, fn in (("sync", sync_get), ("async", async_get))
             for check in CHECKS}
    cells["MD5 of 16 KiB alone"] = md5_alone
    cells["list, per key"] = list_keys
    runs: dict[str, list[float]] = {name: [] for name in cells}
    for _ in range(args.repeat):  # the cells take turns
        for name, cell in cells.items():
            runs[name].append(cell(args.count))
    medians = {name: statistics.median(values) for name, values in runs.items()}
    if args.json:
        print(json.dumps(medians))
        return
    print(f"16 KiB GET against a transport that answers at once; {args.count} GETs, "
          f"median of {args.repeat} runs; load average {os.getloadavg()[0]:.2f}")
    print(f"  {'':<22}{'CPU µs/op':>11}")
    for name, median in medians.items():
        print(f"  {name:<22}{median * 1e6:>11.1f}")


if __name__ == "__main__":
    main()
