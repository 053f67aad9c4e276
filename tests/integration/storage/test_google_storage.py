"""The google_storage driver against fake-gcs-server: what the contract does not cover.

Interoperability with google-cloud-storage both ways, resumable uploads killed
midway (a failing source; an async cancellation), CRC32C and MD5 checks on
download (a local proxy corrupts data or headers), delimiter listings merged
across pages, pagination with request counts, rewrite loops, resent short
chunks, service-account auth (a throwaway key, a fixture token endpoint and an
auth-checking proxy), and gcp-storage-emulator as a second opinion.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import http.client
import json
import os
import secrets
import threading
import urllib.request
import uuid
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import anyio
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from overcast.errors import ContainerIsNotEmpty
from overcast.errors import ContainerNotFound
from overcast.errors import IntegrityError
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ObjectNotFound
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from overcast.runtime.policy import ResponseEvent
from overcast.storage import Provider
from overcast.storage import get_driver
from overcast.storage.base import Container
from overcast.storage.base import Object
from overcast.storage.base import Prefix
from overcast.storage.checks import ChecksumCheck
from overcast.storage.checks import crc32c_function
from overcast.storage.drivers.google_storage import GoogleStorageDriver
from overcast.storage.drivers.google_storage import signed_url_v4
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.modes import call
from servers.storage_gcs import PROJECT
from servers.storage_gcs import GCSServer
from servers.storage_gcs import fake_gcs
from servers.storage_gcs import gcp_emulator
from servers.storage_gcs import small_plan

KiB = 1024
CHUNK = 256 * KiB

# -- a small HTTP proxy that can rewrite what passes -------------------------------------------


@dataclass
class Exchange:
    """One request through the proxy, and what came back."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""


Before = Callable[[Exchange], "tuple[int, dict[str, str], bytes] | None"]
After = Callable[[Exchange], None]


class Proxy:
    """Forwards to ``upstream``; ``before`` may answer instead (or change the
    request), ``after`` may change the response. ``Location`` headers naming the
    upstream are rewritten to the proxy, so resumable sessions pass through too."""

    def __init__(self, upstream: str, before: Before | None = None,
                 after: After | None = None) -> None:
        self.upstream = urlsplit(upstream)
        self.before = before
        self.after = after
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def handle_one(self) -> None:
                exchange = Exchange(self.command, self.path, dict(self.headers.items()),
                                    self._body())
                with proxy.lock:
                    proxy.exchanges.append(exchange)
                answer = proxy.before(exchange) if proxy.before else None
                if answer is None:
                    proxy.forward(exchange)
                else:
                    exchange.status, exchange.response_headers, exchange.response_body = answer
                if proxy.after:
                    proxy.after(exchange)
                self.send_response(exchange.status)
                for key, value in exchange.response_headers.items():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(exchange.response_body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(exchange.response_body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_one  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    def forward(self, exchange: Exchange) -> None:
        conn = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1",
                                          self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in exchange.headers.items()
                       if k.lower() not in {"host", "transfer-encoding", "connection",
                                            "content-length"}}
            conn.request(exchange.method, exchange.path, body=exchange.body, headers=headers)
            response = conn.getresponse()
            exchange.status = response.status
            exchange.response_headers = dict(response.getheaders())
            exchange.response_body = response.read()
        finally:
            conn.close()
        location = exchange.response_headers.get("Location")
        origin = f"{self.upstream.scheme}://{self.upstream.netloc}"
        if location and location.startswith(origin):
            exchange.response_headers["Location"] = self.url + location[len(origin):]

    def seen(self, method: str, needle: str = "") -> list[Exchange]:
        """The exchanges with this method whose path contains ``needle``."""
        with self.lock:
            return [e for e in self.exchanges if e.method == method and needle in e.path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def gcs(request: pytest.FixtureRequest) -> GCSServer:
    return fake_gcs(request)


@dataclass
class Recorder:
    """Every request and response event of a driver."""

    requests: list[RequestEvent] = field(default_factory=list)
    responses: list[ResponseEvent] = field(default_factory=list)

    def hooks(self) -> Hooks:
        return Hooks(on_request=[self.requests.append], on_response=[self.responses.append])

    def count(self, method: str, needle: str = "", status: int | None = None) -> int:
        return sum(1 for e in list(self.responses)
                   if e.method == method and needle in e.url
                   and (status is None or e.status == status))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make(endpoint: str, recorder: Recorder | None = None, **kwargs: Any) -> GoogleStorageDriver:
    options: dict[str, Any] = {"anonymous": True, "project": PROJECT, "endpoint": endpoint,
                               "part_plan": small_plan(), "page_size": 7}
    options.update(kwargs)
    if recorder is not None:
        options["hooks"] = recorder.hooks()
    return GoogleStorageDriver(**options)


@pytest.fixture
def driver(gcs: GCSServer, recorder: Recorder) -> Iterator[GoogleStorageDriver]:
    with make(gcs.url, recorder) as d:
        yield d


def _empty(driver: GoogleStorageDriver, name: str) -> None:
    with contextlib.suppress(ContainerNotFound):
        for obj in driver.list_container_objects(name):
            with contextlib.suppress(ObjectNotFound):
                driver.delete_object(obj)
        driver.delete_container(name)


@pytest.fixture
def bucket(gcs: GCSServer) -> Iterator[Container]:
    with make(gcs.url) as admin:
        made = admin.create_container(f"oc-{uuid.uuid4().hex[:12]}")
        yield made
        _empty(admin, made.name)


@pytest.fixture
def sdk(gcs: GCSServer) -> Any:
    storage = pytest.importorskip("google.cloud.storage")
    from google.auth.credentials import AnonymousCredentials

    return storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": gcs.url})


def b64_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def b64_crc32c(data: bytes) -> str:
    extend = crc32c_function()
    assert extend is not None, "google-crc32c is installed by scripts/servers/gcs.pip"
    return base64.b64encode(extend(0, data).to_bytes(4, "big")).decode()


def chunks_of(data: bytes, size: int = 100_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def names_in(gcs: GCSServer, bucket: str) -> list[str]:
    """Object names as the server lists them (no driver involved)."""
    return [item["name"] for item in gcs.get_json(f"/storage/v1/b/{bucket}/o").get("items", [])]


# -- construction ------------------------------------------------------------------------------


def test_registered_and_offline_construction(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cls = get_driver(Provider.GOOGLE_STORAGE)
    assert cls is GoogleStorageDriver
    # No credentials read, no request sent: the key file does not even exist yet.
    d = cls(credentials_file=str(tmp_path / "missing.json"), project="p")
    assert "missing" not in repr(d)
    assert d.part_plan.alignment == CHUNK and d.part_plan.sequential
    # No credentials and not anonymous: found as Google's libraries find them
    # (docs/credentials.md), the metadata server last; nothing asked yet.
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    found = cls()
    assert found._google is not None and found._google.source == "GCE metadata server"
    with pytest.raises(InvalidInput):
        cls(anonymous=True, credentials_file="x.json")
    with pytest.raises(InvalidInput):
        cls(anonymous=True, part_plan=small_plan().__class__(part_size=100_000))
    with pytest.raises(InvalidInput):
        cls(anonymous=True, page_size=0)


@pytest.mark.parametrize("bad", ["ab", "UPPER", "-start", "end-", "a..b", "192.168.1.1",
                                 "goog-bucket", "my-google-bucket", "a" * 64])
def test_bucket_names_are_checked_before_any_request(driver: GoogleStorageDriver,
                                                     recorder: Recorder, bad: str) -> None:
    with pytest.raises(InvalidInput):
        driver.create_container(bad)
    assert recorder.requests == []


# -- interoperability with google-cloud-storage ------------------------------------------------


def test_sdk_reads_what_overcast_wrote(driver: GoogleStorageDriver, bucket: Container,
                                      sdk: Any, mode: str, recorder: Recorder) -> None:
    small = os.urandom(100_000)
    large = os.urandom(3 * CHUNK + 12_345)  # above the threshold: a resumable upload
    call(mode, driver, "upload_object_via_stream", chunks_of(small), bucket, "dir/small.bin",
         content_type="application/x-small", meta_data={"owner": "alice"})
    call(mode, driver, "upload_object_via_stream", chunks_of(large), bucket, "dir/large.bin",
         content_type="application/x-large", meta_data={"kind": "resumable"})
    assert recorder.count("POST", "uploadType=multipart") == 1
    assert recorder.count("POST", "uploadType=resumable") == 1
    assert recorder.count("PUT", "upload_id=", status=308) == 3
    sdk_bucket = sdk.bucket(bucket.name)
    for name, data, ctype, meta in [
        ("dir/small.bin", small, "application/x-small", {"owner": "alice"}),
        ("dir/large.bin", large, "application/x-large", {"kind": "resumable"}),
    ]:
        blob = sdk_bucket.get_blob(name)
        assert blob is not None
        assert (blob.size, blob.content_type, blob.metadata) == (len(data), ctype, meta)
        assert blob.md5_hash == b64_md5(data)
        assert blob.crc32c == b64_crc32c(data)
        assert blob.download_as_bytes(checksum="crc32c") == data
    assert sorted(b.name for b in sdk.list_blobs(bucket.name)) == ["dir/large.bin",
                                                                   "dir/small.bin"]


def test_overcast_reads_what_sdk_wrote(driver: GoogleStorageDriver, bucket: Container,
                                      sdk: Any, mode: str, tmp_path: Path) -> None:
    small = os.urandom(50_000)
    large = os.urandom(2 * CHUNK + 777)
    sdk_bucket = sdk.bucket(bucket.name)
    blob = sdk_bucket.blob("sdk/small")
    blob.metadata = {"from": "sdk"}
    blob.upload_from_string(small, content_type="text/x-sdk")
    sdk_bucket.blob("sdk/large", chunk_size=CHUNK).upload_from_string(large)  # resumable
    got = call(mode, driver, "get_object", bucket.name, "sdk/small")
    assert (got.size, got.content_type, got.meta_data) == (len(small), "text/x-sdk",
                                                           {"from": "sdk"})
    assert got.hash == hashlib.md5(small).hexdigest()
    assert got.extra["crc32c"] == b64_crc32c(small)
    assert got.extra["generation"]
    assert call(mode, driver, "download_object_as_stream", got) == small
    big = call(mode, driver, "get_object", bucket.name, "sdk/large")
    target = tmp_path / "large.out"
    assert call(mode, driver, "download_object", big, str(target)) is True
    assert target.read_bytes() == large
    listed = call(mode, driver, "list_container_objects", bucket, "sdk/")
    assert [o.name for o in listed] == ["sdk/large", "sdk/small"]


# -- resumable uploads that do not finish ------------------------------------------------------


def test_resumable_upload_killed_by_its_source_leaves_nothing(
    driver: GoogleStorageDriver, bucket: Container, mode: str, recorder: Recorder,
    gcs: GCSServer,
) -> None:
    class Boom(Exception):
        pass

    def source() -> Iterator[bytes]:
        yield os.urandom(CHUNK)
        yield os.urandom(CHUNK)
        yield os.urandom(KiB)  # the look-ahead that lets chunk 2 go up
        raise Boom("source failed after two chunks")

    with pytest.raises(Boom):
        call(mode, driver, "upload_object_via_stream", source(), bucket, "half")
    assert recorder.count("POST", "uploadType=resumable") == 1
    assert recorder.count("PUT", "upload_id=", status=308) == 2  # two chunks went up
    # ... then the session was cancelled, and Google's answer to that is 499.
    assert recorder.count("DELETE", "upload_id=", status=499) == 1
    with pytest.raises(ObjectNotFound):
        driver.get_object(bucket.name, "half")
    assert names_in(gcs, bucket.name) == []


def test_resumable_upload_cancelled_async_leaves_nothing(
    driver: GoogleStorageDriver, bucket: Container, recorder: Recorder, gcs: GCSServer,
) -> None:
    async def source() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(CHUNK)
        await anyio.sleep_forever()
        yield b""  # pragma: no cover

    async def main() -> None:
        async with driver.aio as view, anyio.create_task_group() as tg:
            async def upload() -> None:
                await view.upload_object_via_stream(source(), bucket, "cancelled")

            tg.start_soon(upload)
            with anyio.fail_after(30):
                # The recorder is filled by a driver hook: poll it.
                while recorder.count("PUT", "upload_id=", status=308) < 2:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()

    anyio.run(main)
    assert recorder.count("PUT", "upload_id=", status=308) == 2
    assert recorder.count("DELETE", "upload_id=", status=499) == 1
    with pytest.raises(ObjectNotFound):
        driver.get_object(bucket.name, "cancelled")
    assert names_in(gcs, bucket.name) == []


def test_short_chunks_are_resent_from_what_the_server_kept(
    gcs: GCSServer, bucket: Container, mode: str,
) -> None:
    """A server may keep only part of a chunk (308 with a shorter ``Range``): the
    driver sends the rest, from there."""
    cut: list[str] = []

    def keep_half(exchange: Exchange) -> None:
        span = exchange.headers.get("Content-Range", "")
        if exchange.method == "PUT" and span.endswith("/*") and not cut:
            first, last = (int(x) for x in span[6:-2].split("-"))
            half = (last - first + 1) // 2
            exchange.headers["Content-Range"] = f"bytes {first}-{first + half - 1}/*"
            exchange.body = exchange.body[:half]
            cut.append(span)
        return None

    proxy = Proxy(gcs.url, before=keep_half)
    try:
        data = os.urandom(3 * CHUNK + 99)
        with make(proxy.url) as d:
            obj = call(mode, d, "upload_object_via_stream", chunks_of(data), bucket, "resent")
            assert obj.size == len(data)
            assert call(mode, d, "download_object_as_stream", obj) == data
        assert cut == ["bytes 0-262143/*"]
        puts = [e.headers["Content-Range"] for e in proxy.seen("PUT", "upload_id=")]
        assert puts[:2] == ["bytes 0-131071/*", "bytes 131072-262143/*"]
    finally:
        proxy.close()


# -- integrity on download ---------------------------------------------------------------------


def test_crc32c_observer_on_its_own() -> None:
    check = ChecksumCheck("crc32c", b64_crc32c(b"hello world"), "x")
    check.update(b"hello ")
    check.update(b"world")
    check.finish()
    bad = ChecksumCheck("crc32c", b64_crc32c(b"hello world"), "x")
    bad.update(b"hello World")
    with pytest.raises(IntegrityError, match="crc32c"):
        bad.finish()


def _media(exchange: Exchange) -> bool:
    return exchange.method == "GET" and "alt=media" in exchange.path and exchange.status < 300


def test_download_is_checked_with_crc32c(gcs: GCSServer, bucket: Container, mode: str,
                                         tmp_path: Path) -> None:
    """The server says only a (wrong) CRC32C and the data is intact: rejected, so the
    CRC32C is checked on its own (composite objects have no MD5)."""
    data = os.urandom(300_000)

    def wrong_crc(exchange: Exchange) -> None:
        if _media(exchange):
            exchange.response_headers["X-Goog-Hash"] = f"crc32c={b64_crc32c(data + b'!')}"

    def right_crc(exchange: Exchange) -> None:
        if _media(exchange):
            exchange.response_headers["X-Goog-Hash"] = f"crc32c={b64_crc32c(data)}"

    with make(gcs.url) as d:
        obj = d.upload_object_via_stream(iter([data]), bucket, "checked")
    for after, ok in [(right_crc, True), (wrong_crc, False)]:
        proxy = Proxy(gcs.url, after=after)
        try:
            with make(proxy.url) as d:
                target = tmp_path / f"out-{ok}"
                if ok:
                    assert call(mode, d, "download_object_as_stream", obj) == data
                    assert call(mode, d, "download_object", obj, str(target)) is True
                    assert target.read_bytes() == data
                else:
                    with pytest.raises(IntegrityError, match="crc32c"):
                        call(mode, d, "download_object_as_stream", obj)
                    with pytest.raises(IntegrityError, match="crc32c"):
                        call(mode, d, "download_object", obj, str(target))
                    assert not target.exists()
        finally:
            proxy.close()


def test_corrupted_download_raises_and_leaves_no_file(gcs: GCSServer, bucket: Container,
                                                      mode: str, tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK + 5)
    with make(gcs.url) as d:
        obj = d.upload_object_via_stream(chunks_of(data), bucket, "to-corrupt")

    def flip(exchange: Exchange) -> None:
        if _media(exchange) and exchange.response_body:
            body = bytearray(exchange.response_body)
            body[len(body) // 2] ^= 0x01
            exchange.response_body = bytes(body)

    proxy = Proxy(gcs.url, after=flip)
    try:
        with make(proxy.url) as d:
            target = tmp_path / "corrupt.out"
            with pytest.raises(IntegrityError):
                call(mode, d, "download_object", obj, str(target))
            assert not target.exists()
            assert list(tmp_path.iterdir()) == []  # no temporary file either
            with pytest.raises(IntegrityError):
                call(mode, d, "download_object_as_stream", obj)
            # A range is not a full read: it has no hash to check, only its length.
            assert len(call(mode, d, "download_object_range_as_stream", obj, 10, 20)) == 10
    finally:
        proxy.close()


# -- listings ----------------------------------------------------------------------------------


def test_delimiter_listing_is_merged_in_order_across_pages(
    gcs: GCSServer, bucket: Container, mode: str, sdk: Any,
) -> None:
    names = ["a/1", "a/2", "a/b/3", "a0", "b/4", "b0", "c/5", "c/6/7", "d", "e/8", "f", "g/9"]
    with make(gcs.url) as d:
        for name in names:
            d.upload_object_via_stream(iter([b"x"]), bucket, name)
    recorder = Recorder()
    with make(gcs.url, recorder, page_size=2) as d:
        entries = call(mode, d, "list_container_entries", bucket)
        assert [(type(e).__name__, e.name) for e in entries] == [
            ("Prefix", "a/"), ("Object", "a0"), ("Prefix", "b/"), ("Object", "b0"),
            ("Prefix", "c/"), ("Object", "d"), ("Prefix", "e/"), ("Object", "f"),
            ("Prefix", "g/"),
        ]
        assert all(isinstance(e, Prefix | Object) for e in entries)
        # More than one page (fake-gcs-server counts prefixes in maxResults its own way).
        assert recorder.count("GET", "delimiter=") >= 2
        inner = call(mode, d, "list_container_entries", bucket, "c/")
        assert [(type(e).__name__, e.name) for e in inner] == [("Object", "c/5"),
                                                               ("Prefix", "c/6/")]
        with pytest.raises(InvalidInput):
            call(mode, d, "list_container_entries", bucket, delimiter="")
    # The same level as google-cloud-storage sees it.
    iterator = sdk.list_blobs(bucket.name, delimiter="/")
    blobs = [b.name for b in iterator]
    assert sorted([*blobs, *iterator.prefixes]) == [e.name for e in entries]


def test_pagination_follows_page_tokens_with_request_counts(
    gcs: GCSServer, bucket: Container, mode: str,
) -> None:
    names = [f"p/{i:03d}" for i in range(23)]
    with make(gcs.url) as d:
        for name in names:
            d.upload_object_via_stream(iter([name.encode()]), bucket, name)
        d.upload_object_via_stream(iter([b"q"]), bucket, "q")
    recorder = Recorder()
    with make(gcs.url, recorder, page_size=5) as d:
        listed = call(mode, d, "list_container_objects", bucket, "p/")
        assert [o.name for o in listed] == names
        assert all(o.size == 5 for o in listed)
        assert recorder.count("GET", "maxResults=5") == 5  # ceil(23 / 5)
        assert sum("pageToken=" in e.url for e in recorder.requests) == 4
        # Iterating lazily reads only the pages it needs.
        first = []
        for obj in d.iterate_container_objects(bucket):
            first.append(obj.name)
            if len(first) == 6:
                break
        assert first == names[:6]
        assert recorder.count("GET", "maxResults=5") == 5 + 2


def test_buckets_are_listed_and_errors_mapped(driver: GoogleStorageDriver, bucket: Container,
                                              mode: str) -> None:
    assert bucket.name in [c.name for c in call(mode, driver, "list_containers")]
    got = call(mode, driver, "get_container", bucket.name)
    assert got.extra["location"]
    call(mode, driver, "upload_object_via_stream", iter([b"x"]), bucket, "keep")
    with pytest.raises(ContainerIsNotEmpty):
        call(mode, driver, "delete_container", bucket)
    with pytest.raises(ContainerNotFound):
        call(mode, driver, "upload_object_via_stream", iter([b"x"]), "oc-missing-bucket", "x")
    with pytest.raises(ContainerNotFound):
        call(mode, driver, "list_container_objects", "oc-missing-bucket")


# -- copies ------------------------------------------------------------------------------------


def test_copy_loops_on_rewrite_tokens(gcs: GCSServer, bucket: Container, mode: str) -> None:
    """A large copy is done in several rewrite calls; the driver repeats the call
    with the token until the server says done."""
    def not_yet(exchange: Exchange) -> tuple[int, dict[str, str], bytes] | None:
        if "/rewriteTo/" in exchange.path and "rewriteToken=" not in exchange.path:
            body = {"kind": "storage#rewriteResponse", "totalBytesRewritten": "1024",
                    "objectSize": "9", "done": False, "rewriteToken": "step-2"}
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        return None

    proxy = Proxy(gcs.url, before=not_yet)
    try:
        with make(proxy.url) as d:
            obj = d.upload_object_via_stream(iter([b"copy me!!"]), bucket, "src",
                                             meta_data={"k": "v"}, content_type="text/x-c")
            copy = call(mode, d, "copy_object", obj, bucket, "dst/copy")
            assert (copy.name, copy.size, copy.meta_data, copy.content_type) == (
                "dst/copy", 9, {"k": "v"}, "text/x-c")
            assert b"".join(d.download_object_as_stream(copy)) == b"copy me!!"
            missing = Object("nope", 0, None, container=bucket, driver=d)
            with pytest.raises(ObjectNotFound):
                call(mode, d, "copy_object", missing, bucket, "x")
        rewrites = proxy.seen("POST", "/rewriteTo/")
        assert ["rewriteToken=step-2" in e.path for e in rewrites[:2]] == [False, True]
    finally:
        proxy.close()


# -- service-account auth ----------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthority:
    """A token endpoint (the JWT-bearer grant, RS256 checked against the account's
    public key) and a proxy in front of fake-gcs-server that wants its tokens."""

    def __init__(self, upstream: str, email: str, public: rsa.RSAPublicKey) -> None:
        self.email = email
        self.public = public
        self.tokens: set[str] = set()
        self.grants = 0
        self.api = FakeAPI()
        self.api.route("POST", r"/token")(self.token)
        self._stack = contextlib.ExitStack()
        self.base_url = self._stack.enter_context(self.api.serving())
        self.proxy = Proxy(upstream, before=self.check)
        self._stack.callback(self.proxy.close)

    def token(self, req: FakeRequest) -> FakeResponse:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        parts = form.get("assertion", "").split(".")
        try:
            claims = json.loads(_b64decode(parts[1]))
            self.public.verify(_b64decode(parts[2]), f"{parts[0]}.{parts[1]}".encode(),
                               padding.PKCS1v15(), hashes.SHA256())
        except (IndexError, ValueError, binascii.Error, InvalidSignature):
            return FakeResponse.json({"error": "invalid_grant",
                                      "error_description": "Invalid JWT Signature."}, 400)
        assert claims["iss"] == self.email
        assert claims["aud"] == f"{self.base_url}/token"
        assert "devstorage" in claims["scope"]
        token = "ya29.storage-" + secrets.token_urlsafe(16)
        self.tokens.add(token)
        self.grants += 1
        return FakeResponse.json({"access_token": token, "expires_in": 3600})

    def check(self, exchange: Exchange) -> tuple[int, dict[str, str], bytes] | None:
        auth = exchange.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in self.tokens:
            return None
        body = {"error": {"code": 401, "message": "Invalid Credentials",
                          "errors": [{"reason": "authError"}]}}
        return 401, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def account_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def authority(gcs: GCSServer, account_key: rsa.RSAPrivateKey) -> Iterator[TokenAuthority]:
    auth = TokenAuthority(gcs.url, "storage@overcast-test.iam.gserviceaccount.com",
                          account_key.public_key())
    yield auth
    auth.close()


def _key_file(tmp_path: Path, authority: TokenAuthority, key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": PROJECT, "private_key_id": "k1",
        "private_key": _pem(key), "client_email": authority.email,
        "token_uri": f"{authority.base_url}/token",
    }))
    return path


def test_service_account_token_is_fetched_once_and_refreshed_after_a_401(
    authority: TokenAuthority, account_key: rsa.RSAPrivateKey, tmp_path: Path, mode: str,
    gcs: GCSServer,
) -> None:
    recorder = Recorder()
    d = GoogleStorageDriver(credentials_file=_key_file(tmp_path, authority, account_key),
                            endpoint=authority.proxy.url, part_plan=small_plan(),
                            hooks=recorder.hooks())
    with d:
        name = f"oc-{uuid.uuid4().hex[:12]}"
        container = call(mode, d, "create_container", name)  # project from the key file
        data = os.urandom(2 * CHUNK + 1)
        obj = call(mode, d, "upload_object_via_stream", chunks_of(data), container, "o")
        assert call(mode, d, "download_object_as_stream", obj) == data
        assert authority.grants == 1
        assert all(e.headers.get("Authorization") == "***" for e in recorder.requests
                   if "/token" not in e.url)
        authority.tokens.clear()  # revoked: the next call gets a 401, then a new token
        assert [o.name for o in call(mode, d, "list_container_objects", container)] == ["o"]
        assert authority.grants == 2
        call(mode, d, "delete_object", obj)
        call(mode, d, "delete_container", container)
    assert "BEGIN" not in repr(d)


def test_wrong_key_is_invalid_credentials(authority: TokenAuthority, tmp_path: Path,
                                          mode: str) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = json.loads(_key_file(tmp_path, authority, other).read_text())
    with GoogleStorageDriver(credentials_info=info, endpoint=authority.proxy.url) as d:
        with pytest.raises(InvalidCredentials) as caught:
            call(mode, d, "list_containers")
        assert "PRIVATE KEY" not in str(caught.value)
        assert "BEGIN" not in repr(d)


def test_libcloud_style_key_and_secret(authority: TokenAuthority,
                                       account_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    d = GoogleStorageDriver(authority.email, _pem(account_key), project=PROJECT,
                            endpoint=authority.proxy.url,
                            token_uri=f"{authority.base_url}/token")
    with d:
        assert isinstance(d.list_containers(), list)
    assert authority.grants == 1


# -- V4 signed URLs ---------------------------------------------------------------------------


def test_signed_url_matches_google_cloud_storage(account_key: rsa.RSAPrivateKey,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The same URL, byte for byte, as the SDK's V4 signer at the same instant."""
    import datetime as dt

    pytest.importorskip("google.cloud.storage")
    from google.cloud.storage import _signing
    from google.oauth2 import service_account

    from overcast.auth.google_oauth import service_account_from_info

    info = {"type": "service_account", "project_id": PROJECT, "private_key_id": "k1",
            "private_key": _pem(account_key), "client_id": "1",
            "client_email": "signer@overcast-test.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token"}
    credentials = service_account.Credentials.from_service_account_info(info)
    at = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    monkeypatch.setattr(_signing, "_NOW", lambda tz=None: at)
    account = service_account_from_info(info)
    for endpoint, name, method in [
        ("https://storage.googleapis.com", "dir/résumé 1+2.txt", "GET"),
        ("http://127.0.0.1:4443", "a b/~c?d#e", "PUT"),
    ]:
        expected = _signing.generate_signed_url_v4(
            credentials, f"/oc-bucket/{_signing.urllib.parse.quote(name, safe='/~')}",
            dt.timedelta(seconds=900), api_access_endpoint=endpoint, method=method)
        ours = signed_url_v4(account, method, endpoint, "oc-bucket", name, 900,
                             at.timestamp())
        assert ours == expected


def test_signed_url_from_the_driver(authority: TokenAuthority, account_key: rsa.RSAPrivateKey,
                                    tmp_path: Path, gcs: GCSServer, bucket: Container,
                                    mode: str) -> None:
    data = b"signed content"
    with make(gcs.url) as admin:
        obj = admin.upload_object_via_stream(iter([data]), bucket, "shared/file.txt")
    recorder = Recorder()
    d = GoogleStorageDriver(credentials_file=_key_file(tmp_path, authority, account_key),
                            endpoint=gcs.url, hooks=recorder.hooks())
    with d:
        url = call(mode, d, "get_object_presigned_url", obj, expires=600)
        assert recorder.requests == []  # signed locally: no token, no request
        assert url.startswith(f"{gcs.url}/{bucket.name}/shared/file.txt?")
        query = parse_qs(urlsplit(url).query)
        assert query["X-Goog-Expires"] == ["600"]
        assert query["X-Goog-Credential"][0].startswith(authority.email + "/")
        # fake-gcs-server serves the XML API GET (it checks no signature).
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == data
        put = call(mode, d, "get_object_presigned_url", obj, method="PUT", expires=60)
        assert parse_qs(urlsplit(put).query)["X-Goog-Signature"] != query["X-Goog-Signature"]
        with pytest.raises(InvalidInput):
            call(mode, d, "get_object_presigned_url", obj, method="POST")
        with pytest.raises(InvalidInput):
            call(mode, d, "get_object_presigned_url", obj, expires=8 * 24 * 3600)
    with make(gcs.url) as anonymous, pytest.raises(NotSupported):
        call(mode, anonymous, "get_object_presigned_url", obj)


# -- a second opinion: gcp-storage-emulator ----------------------------------------------------


def test_gcp_storage_emulator_round_trip(request: pytest.FixtureRequest, mode: str,
                                         tmp_path: Path) -> None:
    """The same driver against gcp-storage-emulator (it ignores ``maxResults``, so
    listings come in one page; everything else behaves as on fake-gcs-server)."""
    emulator = gcp_emulator(request)
    with make(emulator.url, page_size=2) as d:
        name = f"oc-{uuid.uuid4().hex[:12]}"
        container = call(mode, d, "create_container", name)
        try:
            small = os.urandom(10_000)
            large = os.urandom(3 * CHUNK + 1)
            call(mode, d, "upload_object_via_stream", iter([small]), container, "a/small",
                 meta_data={"k": "v"}, content_type="text/x-e")
            call(mode, d, "upload_object_via_stream", chunks_of(large), container, "a/large")
            got = call(mode, d, "get_object", name, "a/small")
            assert (got.size, got.meta_data, got.content_type) == (len(small), {"k": "v"},
                                                                   "text/x-e")
            assert got.hash == hashlib.md5(small).hexdigest()
            big = call(mode, d, "get_object", name, "a/large")
            assert big.size == len(large)
            target = tmp_path / "large"
            call(mode, d, "download_object", big, str(target))
            assert target.read_bytes() == large
            assert call(mode, d, "download_object_range_as_stream", big, 5, 50) == large[5:50]
            call(mode, d, "upload_object_via_stream", iter([b"t"]), container, "top")
            entries = call(mode, d, "list_container_entries", container)
            assert [(type(e).__name__, e.name) for e in entries] == [("Prefix", "a/"),
                                                                    ("Object", "top")]
            copy = call(mode, d, "copy_object", got, container, "copy")
            assert copy.meta_data == {"k": "v"}
            with pytest.raises(ContainerIsNotEmpty):
                call(mode, d, "delete_container", container)
            names = [o.name for o in call(mode, d, "list_container_objects", container)]
            assert names == ["a/large", "a/small", "copy", "top"]
        finally:
            _empty(d, name)
