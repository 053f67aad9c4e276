"""Where each runner stops scaling: client CPU per small GET at concurrency 1,
8, 32 and 128, overcast's sync runner (threads) against its async runner.

The operation is overcast's S3 ``download_object_as_stream`` of a 1 KiB object
(signed with SigV4, the body read to the end, its length checked), against a
light local origin: ``bench/_http_server.py``'s single-threaded epoll server
(one process of its own, keep-alive), answering every GET with a 1 KiB body
and S3's headers, so the origin costs little CPU and is never what waits.

Each (runner, concurrency) cell runs in its own process:

* ``sync``: ``c`` threads, each calling the sync driver in a loop;
* ``async``: ``c`` tasks on one asyncio loop, each awaiting ``driver.aio``
  (``--async-transport pycurl,aiohttp``: one row per transport, side by side;
  without it, the driver's default async transport);

the driver's ``pool_size`` is ``c``. A cell warms up (every worker makes a few
calls, so the pool's connections are open), then runs for ``--seconds``
(default 2 s) and counts completed GETs; CPU is ``time.process_time()`` of the
client process (every thread) over the same span. Each cell runs ``--repeat``
times (default 3), the runners taking turns; the run with the median CPU per
GET is reported with its ops/s, and the origin's CPU share over the run.

    python bench/scaling.py [--concurrency 1,8,32,128] [--seconds 2] [--repeat 3]
                            [--async-transport pycurl,aiohttp]
    python bench/scaling.py --quick     # 0.5 s cells, 1 repeat
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]

from _http_server import Server  # noqa: E402

SIZE = 1024
BUCKET = "bench"
_BODY = bytes(range(256)) * (SIZE // 256)
_GET = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"x-amz-request-id: 0123456789ABCDEF\r\n"
    b'ETag: "%s"\r\n'
    b"Last-Modified: Sat, 05 Dec 2026 08:00:00 GMT\r\n"
    b"Content-Length: %d\r\n\r\n" % (hashlib.md5(_BODY).hexdigest().encode(), SIZE)
) + _BODY


class SmallOrigin(Server):
    """The transport bench's origin, answering every GET but ``/stats`` with 1 KiB."""

    def _respond(self, conn: Any, path: bytes) -> None:
        if path.split(b"?", 1)[0] == b"/stats":
            super()._respond(conn, path)
        else:
            conn.out.append(memoryview(_GET))


def _serve(ready: Any) -> None:
    origin = SmallOrigin("127.0.0.1", 0)
    ready.send(origin.port)
    origin.serve_forever()


def _origin_cpu(url: str) -> float:
    with urllib.request.urlopen(f"{url}/stats") as answer:
        return float(json.loads(answer.read())["cpu"])


# -- a cell -----------------------------------------------------------------------------------


def _cell(url: str, mode: str, concurrency: int, seconds: float, out: Any) -> None:
    from overcast.storage import Provider
    from overcast.storage import get_driver
    from overcast.storage.base import Container
    from overcast.storage.base import Object

    # "async/NAME" runs the async runner on the transport NAME.
    mode, _, transport = mode.partition("/")
    options = {"async_transport": transport} if transport else {}
    driver = get_driver(Provider.S3)("AKIDBENCH", "bench-secret", endpoint=url,
                                     pool_size=concurrency, **options)
    container = Container(BUCKET, driver=driver)
    objects = [Object(f"k{n}", SIZE, None, container=container, driver=driver)
               for n in range(concurrency)]
    done = [0] * concurrency
    stop = False

    def get(n: int) -> None:
        got = sum(len(c) for c in driver.download_object_as_stream(objects[n]))
        assert got == SIZE, got

    async def aget(n: int) -> None:
        got = 0
        async for chunk in driver.aio.download_object_as_stream(objects[n]):
            got += len(chunk)
        assert got == SIZE, got

    def worker(n: int) -> None:
        while not stop:
            get(n)
            done[n] += 1

    async def aworker(n: int) -> None:
        while not stop:
            await aget(n)
            done[n] += 1

    if mode == "sync":
        for n in range(concurrency):  # warm-up: every connection opened
            get(n)
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
        origin_before = _origin_cpu(url)
        cpu0, wall0, count0 = time.process_time(), time.perf_counter(), sum(done)
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop = True
        for t in threads:
            t.join()
    else:
        async def main() -> tuple[float, float, int, float]:
            nonlocal stop
            await asyncio.gather(*(aget(n) for n in range(concurrency)))  # warm-up
            origin0 = _origin_cpu(url)
            cpu, wall, count = time.process_time(), time.perf_counter(), sum(done)
            tasks = [asyncio.ensure_future(aworker(n)) for n in range(concurrency)]
            await asyncio.sleep(seconds)
            stop = True
            await asyncio.gather(*tasks)
            return cpu, wall, count, origin0

        cpu0, wall0, count0, origin_before = asyncio.run(main())
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    ops = sum(done) - count0
    origin = _origin_cpu(url) - origin_before
    out.send({"ops": ops, "cpu": cpu, "wall": wall, "origin": origin})


def run_cell(url: str, mode: str, concurrency: int, seconds: float) -> dict[str, float]:
    """One cell in its own process."""
    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe()
    process = ctx.Process(target=_cell, args=(url, mode, concurrency, seconds, theirs))
    process.start()
    theirs.close()  # so a cell that dies ends recv() with EOFError
    result: dict[str, float] = mine.recv()
    process.join(60)
    return result


def main(argv: list[str] | None = None) -> int:
    """Start the origin, run every cell, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,8,32,128")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="0.5 s cells, 1 repeat")
    parser.add_argument("--async-transport", default="",
                        help="async transports to compare (comma-separated); default: the "
                             "driver's default")
    args = parser.parse_args(argv)
    names = [n for n in args.async_transport.split(",") if n]
    runners = ["sync", *(f"async/{n}" for n in names)] if names else ["sync", "async"]
    if args.quick:
        args.seconds, args.repeat = 0.5, 1
    levels = [int(c) for c in args.concurrency.split(",")]
    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe()
    origin = ctx.Process(target=_serve, args=(theirs,), daemon=True)
    origin.start()
    url = f"http://127.0.0.1:{mine.recv()}"
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[:3]}")
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        for rep in range(args.repeat):
            for concurrency in levels:
                # The runners take turns, in a rotated order.
                shift = rep % len(runners)
                for mode in runners[shift:] + runners[:shift]:
                    runs.setdefault((mode, concurrency), []).append(
                        run_cell(url, mode, concurrency, args.seconds))
    finally:
        origin.terminate()
        origin.join(10)
    print(f"\n### 1 KiB GET (overcast S3 driver), light local origin, {args.seconds:g} s cells, "
          f"median of {args.repeat} by CPU per GET\n")
    print("| runner | concurrency | GETs/s | CPU µs per GET | ± % | client CPU % of 2 cores "
          "| origin CPU % of one core | CPU x c=1 | CPU x sync |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    sync_cpu: dict[int, float] = {}
    for mode in runners:
        base = None
        for concurrency in levels:
            cells = runs[(mode, concurrency)]
            per_op = [c["cpu"] / c["ops"] * 1e6 for c in cells]
            cell = cells[per_op.index(statistics.median_low(per_op))]
            cpu = cell["cpu"] / cell["ops"] * 1e6
            spread = (max(per_op) - min(per_op)) / 2 / cpu * 100
            base = base or cpu
            sync_cpu.setdefault(concurrency, cpu)  # the sync rows come first
            print(f"| {mode} | {concurrency} | {cell['ops'] / cell['wall']:,.0f} | {cpu:.0f} | "
                  f"{spread:.0f} | {cell['cpu'] / cell['wall'] / 2 * 100:.0f} | "
                  f"{cell['origin'] / cell['wall'] * 100:.0f} | {cpu / base:.2f} | "
                  f"{cpu / sync_cpu[concurrency]:.2f} |")
    with open("/proc/loadavg") as f:
        print(f"\nload average at end: {f.read().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
