"""What only the S3 driver can show, against SeaweedFS (which verifies SigV4) and
moto: interoperability with boto3 both ways, presigned URLs used by plain HTTP
clients, credentials refused and never leaked, multipart uploads killed midway
leaving nothing staged, corrupted downloads caught, listing pages and batch
deletes counted request by request."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import logging
import os
import threading
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import anyio
import pytest

from overcast.errors import ContainerNotFound
from overcast.errors import IntegrityError
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ObjectNotFound
from overcast.runtime.effects import Headers
from overcast.runtime.effects import Response
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from overcast.runtime.policy import ResponseEvent
from overcast.runtime.policy import RetryPolicy
from overcast.storage import Provider
from overcast.storage import get_driver
from overcast.storage.base import Object
from overcast.storage.base import Prefix
from overcast.storage.checks import crc32c_function
from overcast.storage.drivers.s3 import S3StorageDriver
from servers.modes import call
from servers.moto_server import moto_server
from servers.seaweedfs import seaweedfs_server
from servers.storage_s3 import MOTO_ACCESS_KEY
from servers.storage_s3 import MOTO_SECRET_KEY
from servers.storage_s3 import moto_driver
from servers.storage_s3 import seaweedfs_driver

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

pytestmark = pytest.mark.server

MiB = 1024 * 1024
BACKENDS = ("seaweedfs", "moto")


# -- fixtures ------------------------------------------------------------------------------


class Backend:
    """One S3 server: how to make an overcast driver and a boto3 client for it."""

    def __init__(self, name: str, request: pytest.FixtureRequest) -> None:
        self.name = name
        self.request = request
        if name == "seaweedfs":
            server = seaweedfs_server(request)
            self.url, self.key, self.secret = server.url, server.access_key, server.secret_key
        else:
            self.url = moto_server(request).url
            self.key, self.secret = MOTO_ACCESS_KEY, MOTO_SECRET_KEY

    def driver(self, **kwargs: Any) -> S3StorageDriver:
        make = seaweedfs_driver if self.name == "seaweedfs" else moto_driver
        return make(self.request, **kwargs)

    def boto(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.url, aws_access_key_id=self.key,
            aws_secret_access_key=self.secret, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )


class Recorder:
    """Hooks that record every attempt (redacted, as the runtime hands them over)."""

    def __init__(self) -> None:
        self.requests: list[RequestEvent] = []
        self.responses: list[ResponseEvent] = []
        self.hooks = Hooks(on_request=[self.requests.append],
                           on_response=[self.responses.append])

    def count(self, method: str, marker: str = "") -> int:
        return sum(1 for r in self.requests if r.method == method and marker in r.url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return Backend(str(request.param), request)


@pytest.fixture
def seaweed(request: pytest.FixtureRequest) -> Backend:
    return Backend("seaweedfs", request)


@pytest.fixture
def bucket(backend: Backend) -> Iterator[str]:
    """A fresh bucket, emptied (objects and multipart uploads) and deleted after."""
    name = f"it-{uuid.uuid4().hex[:12]}"
    client = backend.boto()
    client.create_bucket(Bucket=name)
    yield name
    _empty_and_delete(client, name)


@pytest.fixture
def seaweed_bucket(seaweed: Backend) -> Iterator[str]:
    name = f"it-{uuid.uuid4().hex[:12]}"
    client = seaweed.boto()
    client.create_bucket(Bucket=name)
    yield name
    _empty_and_delete(client, name)


def _empty_and_delete(client: Any, name: str) -> None:
    for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
        client.abort_multipart_upload(Bucket=name, Key=upload["Key"],
                                      UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=name)


def pending_uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get(
        "Uploads", []
    )
    return uploads


def exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] != 404:
            raise
        return False
    return True


# -- a small HTTP proxy that can corrupt or refuse what passes through it --------------------


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        body = self._body()
        proxy = self.server.proxy
        if body and proxy.flip_request(self.command, self.path):
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]
            with proxy.lock:
                proxy.flipped += 1
        with proxy.lock:
            proxy.seen.append((self.command, self.path))
            injected = proxy.inject(self.command, self.path) if proxy.inject else None
        if injected is not None:
            status, payload = injected
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Content-Type", "application/xml")
            self.end_headers()
            self.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("transfer-encoding", "connection")}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
            out_headers = [(k, v) for k, v in resp.getheaders()
                           if k.lower() not in ("transfer-encoding", "connection",
                                                "content-length")]
        finally:
            upstream.close()
        if proxy.flip(self.command, self.path) and data and resp.status in (200, 206):
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
            with proxy.lock:
                proxy.flipped += 1
        self.send_response(resp.status)
        for key, value in out_headers:
            self.send_header(key, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_DELETE(self) -> None:
        self._forward()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: Proxy


class Proxy:
    """Forwards requests unchanged (Host included, so SigV4 still verifies) to an
    upstream server; ``flip(method, path)`` says which responses get one byte
    flipped, ``flip_request`` which request bodies, and ``inject(method, path)``
    may answer instead of the upstream."""

    def __init__(
        self,
        upstream: str,
        flip: Callable[[str, str], bool] = lambda method, path: False,
        inject: Callable[[str, str], tuple[int, bytes] | None] | None = None,
        flip_request: Callable[[str, str], bool] = lambda method, path: False,
    ) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.flip = flip
        self.flip_request = flip_request
        self.inject = inject
        self.flipped = 0
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self.server.proxy = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- construction, names, pure behaviour ------------------------------------------------------


def test_registry_and_provider() -> None:
    import overcast

    assert get_driver(Provider.S3) is S3StorageDriver
    assert overcast.get_driver("storage", "s3") is S3StorageDriver
    assert S3StorageDriver.name == "s3"


def test_constructor_is_offline_and_repr_hides_credentials() -> None:
    driver = S3StorageDriver("AKIDEXAMPLE", "very-secret-value", "session-token-value",
                             endpoint="http://127.0.0.1:1")
    text = repr(driver) + repr(driver._credentials) + str(vars(driver))
    assert "very-secret-value" not in text and "session-token-value" not in text
    assert driver.path_style is True
    assert driver.supports("ex_delete_objects")
    assert hasattr(driver.aio, "ex_delete_objects")


def test_addressing_styles() -> None:
    aws = S3StorageDriver("AKID", "secret", region="eu-west-1")
    assert aws.path_style is False
    assert aws._object_url("bucket", "a b/c+d") == "https://bucket.s3.eu-west-1.amazonaws.com/a%20b/c%2Bd"
    # Dots cannot be a TLS wildcard match: path style for that bucket.
    assert aws._object_url("my.bucket", "k") == "https://s3.eu-west-1.amazonaws.com/my.bucket/k"
    assert aws._object_url(None) == "https://s3.eu-west-1.amazonaws.com/"
    local = S3StorageDriver("AKID", "secret", endpoint="http://127.0.0.1:9000/")
    assert local._object_url("bucket", "k") == "http://127.0.0.1:9000/bucket/k"
    assert local._object_url("bucket") == "http://127.0.0.1:9000/bucket"
    virtual = S3StorageDriver("AKID", "secret", endpoint="http://localhost:9000",
                              path_style=False)
    assert virtual._object_url("bucket", "k") == "http://bucket.localhost:9000/k"


def test_invalid_arguments_are_refused_before_any_request() -> None:
    with pytest.raises(InvalidInput):
        S3StorageDriver("AKID", "secret", endpoint="ftp://host")
    with pytest.raises(InvalidInput):
        S3StorageDriver("AKID", "secret", page_size=1001)
    recorder = Recorder()
    driver = S3StorageDriver("AKID", "secret", endpoint="http://127.0.0.1:1",
                             hooks=recorder.hooks)
    for bad in ({"k": "naïve"}, {"k": "line\nbreak"}, {"bad key": "v"}, {"k": "x" * 3000}):
        with pytest.raises(InvalidInput):
            driver.upload_object_via_stream(iter([b"x"]), "bucket", "name", meta_data=bad)
    with pytest.raises(InvalidInput):
        driver.create_container("Upper_Case")
    with pytest.raises(InvalidInput):
        driver.get_object_presigned_url(
            Object("k", 0, None, container=driver._container("bucket"), driver=driver),
            method="DELETE",
        )
    assert recorder.requests == []


def test_throttling_hook() -> None:
    driver = S3StorageDriver("AKID", "secret", endpoint="http://127.0.0.1:1")
    slow = (b"<Error><Code>SlowDown</Code>"
            b"<Message>Please reduce your request rate.</Message></Error>")
    other = b"<Error><Code>InternalError</Code><Message>oops</Message></Error>"
    assert driver._is_throttled(Response(503, Headers(), slow))
    assert not driver._is_throttled(Response(503, Headers(), other))
    assert not driver._is_throttled(Response(503, Headers(), b""))


def test_credentials_from_environment_and_profile(
    seaweed: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret)
    from_env = S3StorageDriver(endpoint=seaweed.url)
    assert isinstance(from_env.list_containers(), list)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[other]\naws_access_key_id = {seaweed.key}\naws_secret_access_key = {seaweed.secret}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    from_profile = S3StorageDriver(endpoint=seaweed.url, profile="other")
    assert isinstance(from_profile.list_containers(), list)
    with pytest.raises(InvalidCredentials):
        S3StorageDriver(endpoint=seaweed.url, profile="missing")


# -- interoperability with boto3 ---------------------------------------------------------------


def test_single_request_object_written_by_overcast_is_read_by_boto3(
    backend: Backend, bucket: str, mode: str
) -> None:
    driver = backend.driver()
    data = os.urandom(300_000)
    obj = call(mode, driver, "upload_object_via_stream", iter([data]), bucket, "dir/one.bin",
               content_type="application/x-one", meta_data={"Owner": "alice", "n": "1"})
    assert obj.hash == hashlib.md5(data).hexdigest()
    got = backend.boto().get_object(Bucket=bucket, Key="dir/one.bin")
    assert got["Body"].read() == data
    assert got["ContentType"] == "application/x-one"
    assert got["Metadata"] == {"owner": "alice", "n": "1"}
    assert got["ETag"].strip('"') == obj.hash


def test_multipart_object_written_by_overcast_is_read_by_boto3(
    backend: Backend, bucket: str, mode: str, tmp_path: Path
) -> None:
    recorder = Recorder()
    driver = backend.driver(hooks=recorder.hooks)
    data = os.urandom(11 * MiB + 777)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    obj = call(mode, driver, "upload_object", str(source), bucket, "big.bin",
               meta_data={"kind": "multi"})
    assert obj.size == len(data)
    assert recorder.count("POST", "uploads=") == 1
    assert recorder.count("PUT", "partNumber=") == 3
    client = backend.boto()
    head = client.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].strip('"').endswith("-3")
    assert head["Metadata"] == {"kind": "multi"}
    body = client.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    # Read back by overcast too: a "-N" ETag is checked for size only.
    target = tmp_path / "back.bin"
    got = driver.get_object(bucket, "big.bin")
    assert got.hash is not None and got.hash.endswith("-3")
    driver.download_object(got, str(target))
    assert target.read_bytes() == data


def test_objects_written_by_boto3_are_read_by_overcast(
    backend: Backend, bucket: str, mode: str
) -> None:
    from boto3.s3.transfer import TransferConfig

    client = backend.boto()
    small = os.urandom(70_000)
    client.put_object(Bucket=bucket, Key="small é.txt", Body=small, ContentType="text/x-small",
                      Metadata={"from": "boto3"})
    big = os.urandom(12 * MiB + 5)
    client.upload_fileobj(io.BytesIO(big), bucket, "big", Config=TransferConfig(
        multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, use_threads=False))
    driver = backend.driver()
    obj = call(mode, driver, "get_object", bucket, "small é.txt")
    assert (obj.size, obj.content_type, obj.meta_data) == (
        len(small), "text/x-small", {"from": "boto3"}
    )
    assert obj.hash == hashlib.md5(small).hexdigest()
    assert call(mode, driver, "download_object_as_stream", obj) == small
    big_obj = call(mode, driver, "get_object", bucket, "big")
    assert big_obj.size == len(big)
    assert call(mode, driver, "download_object_as_stream", big_obj) == big
    assert call(mode, driver, "download_object_range_as_stream", big_obj, 6 * MiB,
                6 * MiB + 10) == big[6 * MiB : 6 * MiB + 10]
    listed = {o.name: o.size for o in call(mode, driver, "list_container_objects", bucket)}
    assert listed == {"small é.txt": len(small), "big": len(big)}


# -- presigned URLs --------------------------------------------------------------------------


def _urllib3(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    import urllib3

    with urllib3.PoolManager() as pool:
        resp = pool.request(method, url, body=body, retries=False)
        return resp.status, resp.data


def _pycurl(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    import pycurl

    out = io.BytesIO()
    curl = pycurl.Curl()
    try:
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.WRITEDATA, out)
        curl.setopt(pycurl.HTTPHEADER, ["Expect:"])
        if method == "PUT":
            curl.setopt(pycurl.UPLOAD, 1)
            curl.setopt(pycurl.READDATA, io.BytesIO(body or b""))
            curl.setopt(pycurl.INFILESIZE, len(body or b""))
        curl.perform()
        return int(curl.getinfo(pycurl.RESPONSE_CODE)), out.getvalue()
    finally:
        curl.close()


@pytest.mark.parametrize("client", [_urllib3, _pycurl], ids=["urllib3", "pycurl"])
def test_presigned_get_and_put_with_plain_http(
    backend: Backend, bucket: str, mode: str,
    client: Callable[[str, str, bytes | None], tuple[int, bytes]],
) -> None:
    driver = backend.driver()
    data = os.urandom(50_000)
    obj = driver.upload_object_via_stream(iter([data]), bucket, "odd name+%/ü.bin")
    get_url = call(mode, driver, "get_object_presigned_url", obj)
    assert "X-Amz-Signature=" in get_url
    assert client("GET", get_url, None) == (200, data)
    # A PUT URL takes a plain HTTP PUT of the new body, as boto3's does.
    new = os.urandom(40_000)
    put_url = call(mode, driver, "get_object_presigned_url", obj, method="PUT", expires=600)
    status, _ = client("PUT", put_url, new)
    assert status == 200
    assert backend.boto().get_object(Bucket=bucket, Key=obj.name)["Body"].read() == new
    # boto3's own presigned URLs behave the same on this server.
    boto_get = backend.boto().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": obj.name}, ExpiresIn=600)
    assert client("GET", boto_get, None) == (200, new)


def test_presigned_urls_are_verified_by_seaweedfs(
    seaweed: Backend, seaweed_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = seaweed.driver()
    obj = driver.upload_object_via_stream(iter([b"payload"]), seaweed_bucket, "p")
    url = driver.get_object_presigned_url(obj, expires=60)
    assert _urllib3("GET", url) == (200, b"payload")
    # Signed ten minutes ago for one minute: expired when SeaweedFS sees it, with
    # no waiting for the clock (the signing time is moved, not the test).
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 600)
    expired = driver.get_object_presigned_url(obj, expires=60)
    monkeypatch.setattr(time, "time", real_time)
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert _urllib3("GET", tampered)[0] == 403
    other_key = driver.get_object_presigned_url(
        Object("other", 0, None, container=obj.container, driver=driver))
    assert _urllib3("GET", other_key.replace("/other?", "/p?"))[0] == 403
    put_url = driver.get_object_presigned_url(obj, method="PUT")
    assert _urllib3("GET", put_url)[0] == 403  # signed for PUT, not GET
    assert _urllib3("GET", expired)[0] == 403  # expired


# -- credentials ----------------------------------------------------------------------------


def test_wrong_secret_is_refused_by_seaweedfs_and_never_leaks(
    seaweed: Backend, seaweed_bucket: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-secret-that-must-not-leak-0123456789"
    recorder = Recorder()
    driver = seaweed.driver(secret=wrong, hooks=recorder.hooks)
    caplog.set_level(logging.DEBUG, logger="overcast")
    errors: list[BaseException] = []
    for name, args in (
        ("list_containers", ()),
        ("get_container", (seaweed_bucket,)),
        ("list_container_objects", (seaweed_bucket,)),
        ("create_container", (f"new-{uuid.uuid4().hex[:12]}",)),
        ("upload_object_via_stream", (iter([b"data"]), seaweed_bucket, "x")),
    ):
        with pytest.raises(InvalidCredentials) as info:
            call(mode, driver, name, *args)
        errors.append(info.value)
    assert not exists(seaweed.boto(), seaweed_bucket, "x")
    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [caplog.text, repr(driver)]
    texts += [repr(event) for event in recorder.requests + recorder.responses]
    for text in texts:
        assert wrong not in text
        assert seaweed.secret not in text
    assert any("SignatureDoesNotMatch" in str(e) for e in errors)
    assert recorder.requests and all(
        event.headers.get("Authorization") in (None, "***") for event in recorder.requests
    )


# -- uploads killed midway leave nothing staged -------------------------------------------------


def test_multipart_upload_failing_midway_is_aborted(backend: Backend, bucket: str) -> None:
    parts_done = threading.Event()
    done = 0
    lock = threading.Lock()

    def on_response(event: ResponseEvent) -> None:
        nonlocal done
        if event.method == "PUT" and "partNumber=" in event.url and event.status == 200:
            with lock:
                done += 1
                if done >= 2:
                    parts_done.set()

    recorder = Recorder()
    recorder.hooks.on_response.append(on_response)
    driver = backend.driver(hooks=recorder.hooks)

    class Boom(Exception):
        pass

    def source() -> Iterator[bytes]:
        for _ in range(3):
            yield os.urandom(5 * MiB)
        # Two parts are on the server before the source fails.
        assert parts_done.wait(60)
        raise Boom("source failed after two parts")

    with pytest.raises(Boom):
        driver.upload_object_via_stream(source(), bucket, "killed")
    assert done >= 2
    assert recorder.count("POST", "uploads=") == 1
    assert recorder.count("DELETE", "uploadId=") == 1
    client = backend.boto()
    assert pending_uploads(client, bucket) == []
    assert not exists(client, bucket, "killed")
    assert driver.list_container_objects(bucket) == []


def test_multipart_upload_cancelled_midway_is_aborted(backend: Backend, bucket: str) -> None:
    recorder = Recorder()
    driver = backend.driver(hooks=recorder.hooks)
    outcome: dict[str, Any] = {}

    async def main() -> None:
        parts_done = anyio.Event()
        done = 0

        def on_response(event: ResponseEvent) -> None:
            nonlocal done
            if event.method == "PUT" and "partNumber=" in event.url and event.status == 200:
                done += 1
                if done >= 2:
                    parts_done.set()

        recorder.hooks.on_response.append(on_response)

        async def source() -> AsyncIterator[bytes]:
            for _ in range(3):
                yield os.urandom(5 * MiB)
            await anyio.sleep_forever()  # a stalled producer, never finishing
            yield b""  # pragma: no cover

        async def upload() -> None:
            try:
                await driver.aio.upload_object_via_stream(source(), bucket, "cancelled")
            except anyio.get_cancelled_exc_class():
                outcome["cancelled"] = True
                raise

        async with driver.aio, anyio.create_task_group() as tg:
            tg.start_soon(upload)
            with anyio.fail_after(60):
                await parts_done.wait()
            tg.cancel_scope.cancel()

    anyio.run(main)
    assert outcome.get("cancelled") is True
    assert recorder.count("PUT", "partNumber=") >= 2
    assert recorder.count("DELETE", "uploadId=") == 1
    client = backend.boto()
    assert pending_uploads(client, bucket) == []
    assert not exists(client, bucket, "cancelled")


# -- corrupted downloads --------------------------------------------------------------------


def test_corrupted_download_raises_and_leaves_no_file(
    backend: Backend, bucket: str, mode: str, tmp_path: Path
) -> None:
    data = os.urandom(400_000)
    backend.driver().upload_object_via_stream(iter([data]), bucket, "fragile.bin")
    with Proxy(backend.url, flip=lambda method, path: method == "GET" and "fragile" in path) as px:
        driver = S3StorageDriver(backend.key, backend.secret, endpoint=px.url, timeout=30)
        obj = call(mode, driver, "get_object", bucket, "fragile.bin")
        assert obj.size == len(data)
        target = tmp_path / "out" / "fragile.bin"
        target.parent.mkdir()
        with pytest.raises(IntegrityError):
            call(mode, driver, "download_object", obj, str(target))
        assert not target.exists()
        assert list(target.parent.iterdir()) == []
        with pytest.raises(IntegrityError):
            call(mode, driver, "download_object_as_stream", obj)
        assert px.flipped == 2


def test_slow_down_on_complete_is_retried(seaweed: Backend, seaweed_bucket: str) -> None:
    refused = 0
    slow_down = (b"<?xml version='1.0'?><Error><Code>SlowDown</Code>"
                 b"<Message>Please reduce your request rate.</Message></Error>")

    def inject(method: str, path: str) -> tuple[int, bytes] | None:
        nonlocal refused
        if method == "POST" and "uploadId=" in path and refused < 2:
            refused += 1
            return 503, slow_down
        return None

    with Proxy(seaweed.url, inject=inject) as px:
        driver = S3StorageDriver(seaweed.key, seaweed.secret, endpoint=px.url, timeout=30,
                                 part_plan=seaweed.driver().part_plan)
        data = os.urandom(6 * MiB)
        obj = driver.upload_object_via_stream(iter([data]), seaweed_bucket, "throttled")
        completes = [p for m, p in px.seen if m == "POST" and "uploadId=" in p]
    assert refused == 2 and len(completes) == 3
    assert obj.size == len(data)
    body = seaweed.boto().get_object(Bucket=seaweed_bucket, Key="throttled")["Body"].read()
    assert body == data


# -- listing, batch delete, copy ---------------------------------------------------------------


def test_delimiter_listing_returns_common_prefixes(
    backend: Backend, bucket: str, mode: str
) -> None:
    client = backend.boto()
    for key in ["a/1", "a/2", "a/b/3", "b/4", "c/5", "d/6", "top1", "top2", "top3"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    recorder = Recorder()
    driver = backend.driver(page_size=2, hooks=recorder.hooks)
    entries = call(mode, driver, "list_container_entries", bucket)
    assert [(type(e).__name__, e.name) for e in entries] == [
        ("Prefix", "a/"), ("Prefix", "b/"), ("Prefix", "c/"), ("Prefix", "d/"),
        ("Object", "top1"), ("Object", "top2"), ("Object", "top3"),
    ]
    lists = [parse_qs(urlsplit(r.url).query) for r in recorder.requests]
    assert len(lists) == 4  # 7 entries, 2 a page
    assert all(q["list-type"] == ["2"] and q["delimiter"] == ["/"] for q in lists)
    inner = call(mode, driver, "list_container_entries", bucket, "a/")
    assert [(isinstance(e, Prefix), e.name) for e in inner] == [
        (False, "a/1"), (False, "a/2"), (True, "a/b/"),
    ]
    assert all(isinstance(e, Object) and e.size == 1 for e in inner if not isinstance(e, Prefix))


def test_pagination_past_the_first_page(backend: Backend, bucket: str, mode: str) -> None:
    client = backend.boto()
    names = [f"p/{i:03d}" for i in range(25)] + ["q/other"]
    for name in names:
        client.put_object(Bucket=bucket, Key=name, Body=name.encode())
    recorder = Recorder()
    driver = backend.driver(page_size=4, hooks=recorder.hooks)
    listed = call(mode, driver, "list_container_objects", bucket, "p/")
    assert [o.name for o in listed] == names[:25]
    assert all(o.size == 5 for o in listed)
    lists = [r for r in recorder.requests if r.method == "GET" and "list-type=2" in r.url]
    assert len(lists) == 7  # ceil(25 / 4)
    assert all("max-keys=4" in r.url for r in lists)
    assert sum("continuation-token=" in r.url for r in lists) == 6


def test_batch_delete_of_1500_keys_takes_two_requests(
    backend: Backend, bucket: str, mode: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = backend.boto()
    names = [f"del/{i:04d}" for i in range(1500)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: client.put_object(Bucket=bucket, Key=n, Body=b""), names))
    recorder = Recorder()
    driver = backend.driver(hooks=recorder.hooks)
    failed = call(mode, driver, "ex_delete_objects", bucket, [*names, "del/never-existed"])
    assert failed == {}
    assert len(recorder.requests) == 2
    assert all(r.method == "POST" and "delete=" in r.url for r in recorder.requests)
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_server_side_copy_keeps_type_and_metadata(
    backend: Backend, bucket: str, mode: str
) -> None:
    driver = backend.driver()
    data = os.urandom(100_000)
    obj = driver.upload_object_via_stream(iter([data]), bucket, "orig", content_type="image/x",
                                          meta_data={"k": "v"})
    recorder = Recorder()
    copier = backend.driver(hooks=recorder.hooks)
    copied = call(mode, copier, "copy_object", obj, bucket, "copy")
    assert copied.hash == obj.hash
    # Metadata read, then one copy request: the bytes never pass through the client.
    assert [r.method for r in recorder.requests] == ["HEAD", "PUT"]
    assert recorder.requests[1].headers.get("x-amz-copy-source") == f"/{bucket}/orig"
    got = backend.boto().get_object(Bucket=bucket, Key="copy")
    assert (got["ContentType"], got["Metadata"]) == ("image/x", {"k": "v"})
    assert got["Body"].read() == data


def test_errors_for_missing_things(backend: Backend, bucket: str, mode: str) -> None:
    driver = backend.driver()
    with pytest.raises(ContainerNotFound):
        call(mode, driver, "get_object", f"missing-{uuid.uuid4().hex[:8]}", "k")
    with pytest.raises(ContainerNotFound):
        call(mode, driver, "list_container_objects", f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ObjectNotFound):
        call(mode, driver, "get_object", bucket, "nope")
    ghost = Object("ghost", 3, None, container=driver._container(bucket), driver=driver)
    with pytest.raises(ObjectNotFound):
        call(mode, driver, "download_object_as_stream", ghost)
    with pytest.raises(ObjectNotFound):
        call(mode, driver, "copy_object", ghost, bucket, "copy")


def test_bucket_in_another_region(request: pytest.FixtureRequest) -> None:
    driver = moto_driver(request, region="eu-west-1")
    name = f"eu-{uuid.uuid4().hex[:12]}"
    driver.create_container(name)
    try:
        client = Backend("moto", request).boto()
        assert client.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    finally:
        driver.delete_container(name)


def test_range_edges(backend: Backend, bucket: str, mode: str) -> None:
    driver = backend.driver()
    data = bytes(range(100))
    obj = driver.upload_object_via_stream(iter([data]), bucket, "edges")
    get = "download_object_range_as_stream"
    assert call(mode, driver, get, obj, 100) == b""
    assert call(mode, driver, get, obj, 40, 40) == b""
    assert call(mode, driver, get, obj, 99, 100) == data[99:]
    with pytest.raises(InvalidInput):
        call(mode, driver, get, obj, 101)


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_full_reads_are_checked_against_the_objects_own_checksum(
    backend: Backend, bucket: str, mode: str, algorithm: str
) -> None:
    """An object stored with a checksum (boto3's ``ChecksumAlgorithm``) is checked
    against it, the cheapest the server gives, rather than against the MD5 ETag."""
    data = os.urandom(300_000)
    crc32c = crc32c_function()
    assert crc32c is not None, "google-crc32c is a test dependency"
    value = {
        "CRC32": zlib.crc32(data).to_bytes(4, "big"),
        "CRC32C": crc32c(0, data).to_bytes(4, "big"),
        "SHA1": hashlib.sha1(data).digest(),
        "SHA256": hashlib.sha256(data).digest(),
    }[algorithm]
    # The value is given, so botocore sends it as is (it cannot compute CRC32C
    # without awscrt); moto keeps a checksum only when the algorithm is named too.
    backend.boto().put_object(Bucket=bucket, Key="summed", Body=data, ChecksumAlgorithm=algorithm,
                              **{f"Checksum{algorithm}": base64.b64encode(value).decode()})
    obj = call(mode, backend.driver(), "get_object", bucket, "summed")
    assert call(mode, backend.driver(), "download_object_as_stream", obj) == data
    with Proxy(backend.url, flip=lambda method, path: method == "GET" and "summed" in path) as px:
        driver = S3StorageDriver(backend.key, backend.secret, endpoint=px.url, timeout=30)
        with pytest.raises(IntegrityError, match=f"{algorithm.lower()} is"):
            call(mode, driver, "download_object_as_stream", obj)
        assert px.flipped == 1


@pytest.mark.parametrize("checksum", ["crc32", "md5"])
def test_uploads_corrupted_on_the_way_are_refused_and_leave_nothing(
    seaweed: Backend, seaweed_bucket: str, checksum: str, mode: str
) -> None:
    """SeaweedFS checks both upload checksums (like S3): a body changed on the wire
    is refused (IntegrityError), and neither the object nor staged parts remain."""
    with Proxy(seaweed.url, flip_request=lambda method, path: method == "PUT") as px:
        driver = S3StorageDriver(seaweed.key, seaweed.secret, endpoint=px.url, timeout=30,
                                 part_plan=seaweed.driver().part_plan, upload_checksum=checksum,
                                 retry=RetryPolicy(max_attempts=1))
        with pytest.raises(IntegrityError, match="checksum"):
            call(mode, driver, "upload_object_via_stream", iter([os.urandom(1000)]),
                 seaweed_bucket, "small")
        with pytest.raises(IntegrityError, match="checksum"):
            call(mode, driver, "upload_object_via_stream", iter([os.urandom(7 * MiB)]),
                 seaweed_bucket, "parts")
        assert px.flipped >= 2
    client = seaweed.boto()
    assert not exists(client, seaweed_bucket, "small")
    assert not exists(client, seaweed_bucket, "parts")
    assert pending_uploads(client, seaweed_bucket) == []


def test_objects_uploaded_whole_keep_their_crc32_for_later_reads(
    backend: Backend, bucket: str, mode: str
) -> None:
    """A single-request upload stores its CRC32 (SeaweedFS), and reads are then
    checked against it instead of the MD5 ETag."""
    data = os.urandom(200_000)
    driver = backend.driver()
    call(mode, driver, "upload_object_via_stream", iter([data]), bucket, "with-crc")
    head = backend.boto().head_object(Bucket=bucket, Key="with-crc", ChecksumMode="ENABLED")
    stored = head.get("ChecksumCRC32")
    if backend.name == "seaweedfs":
        assert stored == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    obj = call(mode, driver, "get_object", bucket, "with-crc")
    with Proxy(backend.url, flip=lambda method, path: method == "GET" and "with-crc" in path) as px:
        reader = S3StorageDriver(backend.key, backend.secret, endpoint=px.url, timeout=30)
        with pytest.raises(IntegrityError, match="crc32 is" if stored else "md5 is"):
            call(mode, reader, "download_object_as_stream", obj)
