"""The Azure Blob driver against Azurite: what the contract does not cover.

Interoperability with azure-storage-blob both ways, SAS URLs used by a plain
HTTP client, credentials refused (and kept out of errors and logs), block
uploads that fail or are cancelled midway, a download corrupted in transit,
throttling answered by retries, listings past the first page.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import http.server
import logging
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from overcast.errors import ContainerNotFound
from overcast.errors import IntegrityError
from overcast.errors import InvalidCredentials
from overcast.errors import ObjectNotFound
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import ResponseEvent
from overcast.runtime.policy import RetryPolicy
from overcast.storage.base import Container
from overcast.storage.base import Object
from overcast.storage.base import Prefix
from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
from servers.modes import call
from servers.storage_azure import ACCOUNT
from servers.storage_azure import KEY
from servers.storage_azure import TEST_PLAN
from servers.storage_azure import Azurite
from servers.storage_azure import azurite
from servers.storage_azure import make_driver

pytestmark = pytest.mark.server

MiB = 1024 * 1024
PART = TEST_PLAN.part_size


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Azurite:
    return azurite(request)


@pytest.fixture
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AzureBlobsStorageDriver]:
    with make_driver(request, tmp_path) as made:
        yield made


@pytest.fixture
def container(driver: AzureBlobsStorageDriver) -> Iterator[Container]:
    made = driver.create_container(f"t-{uuid.uuid4().hex[:16]}")
    yield made
    for obj in driver.list_container_objects(made):
        driver.delete_object(obj)
    driver.delete_container(made)


def sdk(server: Azurite, **config: Any) -> Any:
    """An azure-storage-blob client of the same account (a test-only dependency)."""
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(server.connection_string, **config)


# -- interoperability with the SDK -----------------------------------------------------------


@pytest.mark.parametrize("size", [300_000, 2 * PART + 12345])
def test_the_sdk_reads_what_overcast_wrote(server: Azurite, driver: AzureBlobsStorageDriver,
                                           container: Container, size: int) -> None:
    data = os.urandom(size)
    chunks = (data[i : i + 100_000] for i in range(0, len(data), 100_000))
    obj = driver.upload_object_via_stream(chunks, container, "by-overcast/ü.bin",
                                          content_type="application/x-demo",
                                          meta_data={"owner": "alice"})
    client = sdk(server).get_blob_client(container.name, "by-overcast/ü.bin")
    assert client.download_blob().readall() == data
    props = client.get_blob_properties()
    assert props.size == size
    assert props.metadata == {"owner": "alice"}
    assert props.content_settings.content_type == "application/x-demo"
    # Put Blob and Put Block List both leave the MD5 of the whole object.
    assert bytes(props.content_settings.content_md5) == hashlib.md5(data).digest()
    assert obj.content_md5 == hashlib.md5(data).hexdigest()
    if size > TEST_PLAN.threshold:
        committed, uncommitted = client.get_block_list("all")
        assert len(committed) == 3 and not uncommitted
        assert len({len(b.id) for b in committed}) == 1  # block ids of one length


def test_overcast_reads_what_the_sdk_wrote(server: Azurite, driver: AzureBlobsStorageDriver,
                                           container: Container, tmp_path: Path) -> None:
    # 1 MiB blocks above 1 MiB: a block-list blob without an MD5 of the whole.
    service = sdk(server, max_single_put_size=MiB, max_block_size=MiB)
    small, large = os.urandom(50_000), os.urandom(3 * MiB + 7)
    box = service.get_container_client(container.name)
    box.upload_blob("sdk/small", small, metadata={"k": "v"})
    box.upload_blob("sdk/large", large)
    got = driver.get_object(container.name, "sdk/small")
    assert (got.size, got.meta_data) == (len(small), {"k": "v"})
    assert got.content_md5 == hashlib.md5(small).hexdigest()  # the service's own Content-MD5
    assert b"".join(driver.download_object_as_stream(got)) == small
    big = driver.get_object(container.name, "sdk/large")
    target = tmp_path / "large.bin"
    assert driver.download_object(big, str(target)) is True
    assert target.read_bytes() == large
    names = [o.name for o in driver.list_container_objects(container, "sdk/")]
    assert names == ["sdk/large", "sdk/small"]


def test_connection_string_and_development_storage(server: Azurite,
                                                   container: Container) -> None:
    with AzureBlobsStorageDriver(connection_string=server.connection_string) as by_string:
        assert by_string.get_container(container.name).name == container.name
    dev = AzureBlobsStorageDriver(connection_string="UseDevelopmentStorage=true")
    assert (dev.account, dev.endpoint) == (ACCOUNT, "http://127.0.0.1:10000/devstoreaccount1")


# -- SAS ---------------------------------------------------------------------------------------


def test_sas_urls_work_with_a_plain_http_client(driver: AzureBlobsStorageDriver,
                                                container: Container) -> None:
    obj = driver.upload_object_via_stream(iter([b"shared bytes"]), container, "dir/shared file")
    url = driver.get_object_presigned_url(obj, method="GET", expires=600)
    assert "sig=" in url and KEY not in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"shared bytes"
    tampered = url.replace("sp=r", "sp=rw")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(tampered, timeout=10)
    assert info.value.code == 403
    # A PUT URL writes a new blob (the client names the blob type).
    target = Object("uploaded", 0, None, container=container, driver=driver)
    put_url = driver.get_object_presigned_url(target, method="PUT", expires=600)
    put = urllib.request.Request(put_url, data=b"via sas", method="PUT",
                                 headers={"x-ms-blob-type": "BlockBlob"})
    with urllib.request.urlopen(put, timeout=10) as response:
        assert response.status == 201
    assert b"".join(driver.download_object_as_stream(
        driver.get_object(container.name, "uploaded"))) == b"via sas"
    # The read-only URL cannot write.
    denied = urllib.request.Request(url, data=b"x", method="PUT",
                                    headers={"x-ms-blob-type": "BlockBlob"})
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(denied, timeout=10)


def test_a_driver_with_only_a_sas_token(server: Azurite, driver: AzureBlobsStorageDriver,
                                        container: Container) -> None:
    from overcast.auth.azure_shared_key import container_sas
    from overcast.runtime.redact import Secret

    driver.upload_object_via_stream(iter([b"abc"]), container, "one")
    import time

    token = container_sas(ACCOUNT, Secret(KEY), container.name, permission="rl",
                          expiry=time.time() + 600)
    reader = AzureBlobsStorageDriver(endpoint=server.endpoint, sas_token=f"?{token}")
    assert [o.name for o in reader.list_container_objects(container.name)] == ["one"]
    obj = reader.get_object(container.name, "one")
    assert b"".join(reader.download_object_as_stream(obj)) == b"abc"
    with pytest.raises(InvalidCredentials):  # no write permission
        reader.upload_object_via_stream(iter([b"x"]), container.name, "two")
    assert "sig" not in repr(reader) and token not in repr(reader)


# -- credentials ---------------------------------------------------------------------------------


def test_a_wrong_key_is_invalid_credentials_and_never_shown(
    server: Azurite, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    wrong = base64.b64encode(b"w" * 64).decode()
    bad = AzureBlobsStorageDriver(ACCOUNT, wrong, endpoint=server.endpoint)
    caplog.set_level(logging.DEBUG, logger="overcast")
    with pytest.raises(InvalidCredentials) as info:
        call(mode, bad, "list_containers")
    text = f"{info.value!s} {info.value!r} {bad!r}"
    assert wrong not in text and wrong not in caplog.text
    assert "SharedKey" not in caplog.text  # the Authorization header is masked
    assert "devstoreaccount1" in repr(bad)


# -- uploads that stop midway ------------------------------------------------------------------


def assert_nothing_committed(server: Azurite, driver: AzureBlobsStorageDriver,
                             container: Container, name: str) -> None:
    with pytest.raises(ObjectNotFound):
        driver.get_object(container.name, name)
    assert driver.list_container_objects(container) == []
    client = sdk(server).get_blob_client(container.name, name)
    from azure.core.exceptions import ResourceNotFoundError

    try:
        committed, _uncommitted = client.get_block_list("all")
    except ResourceNotFoundError:
        committed = []
    # Azurite keeps staged blocks as uncommitted until a block list is committed
    # under the name or the container is deleted (Azure collects them after a
    # week): they never make a blob.
    assert committed == []


def test_a_source_failing_after_two_blocks_leaves_no_blob(
    server: Azurite, driver: AzureBlobsStorageDriver, container: Container
) -> None:
    class Broken(Exception):
        pass

    def source() -> Iterator[bytes]:
        yield os.urandom(PART)
        yield os.urandom(PART)
        yield b"x" * 1000
        raise Broken("the disk went away")

    with pytest.raises(Broken):
        driver.upload_object_via_stream(source(), container, "half")
    assert_nothing_committed(server, driver, container, "half")


def test_a_cancelled_async_block_upload_leaves_no_blob(
    request: pytest.FixtureRequest, tmp_path: Path, server: Azurite, container: Container
) -> None:
    staged: list[ResponseEvent] = []
    two_staged = threading.Event()

    def seen(event: ResponseEvent) -> None:
        if event.method == "PUT" and "comp=block&" in event.url and event.status == 201:
            staged.append(event)
            if len(staged) >= 2:
                two_staged.set()

    watched = make_driver(request, tmp_path, hooks=Hooks(on_response=[seen]))

    async def source() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(PART)
        await anyio.sleep_forever()  # a stalled producer: the upload is cancelled here
        yield b""  # pragma: no cover

    async def main() -> None:
        async with watched.aio as view:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tasks:
                    async def stop_after_two_blocks() -> None:
                        assert await anyio.to_thread.run_sync(two_staged.wait, 60)
                        scope.cancel()

                    tasks.start_soon(stop_after_two_blocks)
                    await view.upload_object_via_stream(source(), container, "cancelled")
            assert scope.cancelled_caught

    anyio.run(main)
    assert len(staged) >= 2
    assert_nothing_committed(server, watched, container, "cancelled")


# -- a download corrupted in transit -----------------------------------------------------------


Answer = tuple[int, dict[str, str], bytes]
Alter = Callable[[str, str, int, bytes], Answer | None]


class Proxy:
    """A small HTTP proxy to Azurite that can change responses on the way."""

    def __init__(self, upstream_port: int, alter: Alter | None = None,
                 refuse: Callable[[str, str], Answer | None] | None = None) -> None:
        proxy = self
        self.alter = alter
        self.refuse = refuse

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def answer(self, status: int, out: dict[str, str], data: bytes,
                       length: str | None = None) -> None:
                self.send_response(status)
                for key, value in out.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                refused = proxy.refuse(self.command, self.path) if proxy.refuse else None
                if refused is not None:
                    self.answer(*refused)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                status = response.status
                out = {k: v for k, v in response.getheaders()
                       if k.lower() not in ("transfer-encoding", "connection", "content-length")}
                upstream.close()
                changed = None
                if proxy.alter is not None:
                    changed = proxy.alter(self.command, self.path, status, data)
                if changed is not None:
                    status, extra, data = changed
                    out.update(extra)
                head = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.answer(status, out, data, head)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = relay  # noqa: N815

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_corrupted_download_raises_and_leaves_no_file(
    server: Azurite, driver: AzureBlobsStorageDriver, container: Container, tmp_path: Path,
    mode: str,
) -> None:
    data = os.urandom(200_000)
    driver.upload_object_via_stream(iter([data]), container, "fragile")

    def flip(method: str, path: str, status: int, body: bytes) -> Any:
        if method == "GET" and path.endswith("/fragile") and status == 200:
            corrupted = bytearray(body)
            corrupted[1234] ^= 0x01
            return status, {}, bytes(corrupted)
        return None

    proxy = Proxy(server.port, flip)
    try:
        via = AzureBlobsStorageDriver(ACCOUNT, KEY, endpoint=proxy.endpoint())
        obj = via.get_object(container.name, "fragile")
        target = tmp_path / "fragile.bin"
        with pytest.raises(IntegrityError):
            call(mode, via, "download_object", obj, str(target))
        assert list(tmp_path.iterdir()) == []
        with pytest.raises(IntegrityError):
            b"".join(via.download_object_as_stream(obj))
        # A ranged read has no whole-object checksum, but the bytes are what came.
        assert b"".join(via.download_object_range_as_stream(obj, 0, 10)) == data[:10]
    finally:
        proxy.close()


def test_a_corrupted_ranged_download_raises_and_leaves_no_file(
    server: Azurite, driver: AzureBlobsStorageDriver, container: Container, tmp_path: Path,
    mode: str,
) -> None:
    data = os.urandom(TEST_PLAN.threshold + PART + 999)  # above the threshold: parallel ranges
    driver.upload_object_via_stream(iter([data]), container, "fragile-big")
    ranges: list[str] = []

    def flip(method: str, path: str, status: int, body: bytes) -> Any:
        if method == "GET" and path.endswith("/fragile-big") and status == 206:
            ranges.append(path)
            if len(ranges) == 2:  # one range of several comes back damaged
                return status, {}, body[:10] + bytes([body[10] ^ 0x80]) + body[11:]
        return None

    proxy = Proxy(server.port, flip)
    try:
        via = AzureBlobsStorageDriver(ACCOUNT, KEY, endpoint=proxy.endpoint(),
                                      part_plan=TEST_PLAN)
        obj = via.get_object(container.name, "fragile-big")
        target = tmp_path / "fragile-big.bin"
        with pytest.raises(IntegrityError):
            call(mode, via, "download_object", obj, str(target))
        assert len(ranges) == 3
        assert list(tmp_path.iterdir()) == []
        ranges.append("skip the damage")
        call(mode, via, "download_object", obj, str(target))
        assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    finally:
        proxy.close()


def test_server_busy_is_retried_even_for_a_create(server: Azurite,
                                                 driver: AzureBlobsStorageDriver) -> None:
    busy = {"left": 2}
    lock = threading.Lock()
    body = (b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
            b"<Message>The server is busy.</Message></Error>")

    def throttle(method: str, path: str) -> Answer | None:
        with lock:
            if method == "PUT" and "restype=container" in path and busy["left"] > 0:
                busy["left"] -= 1
                return 503, {"x-ms-error-code": "ServerBusy"}, body
        return None

    proxy = Proxy(server.port, refuse=throttle)
    name = f"busy-{uuid.uuid4().hex[:12]}"
    try:
        via = AzureBlobsStorageDriver(ACCOUNT, KEY, endpoint=proxy.endpoint(),
                                      retry=RetryPolicy(base=0.01))
        assert via.create_container(name).name == name  # not idempotent, retried all the same
        assert busy["left"] == 0
        assert driver.get_container(name).name == name
    finally:
        proxy.close()
        driver.delete_container(name)


# -- listings --------------------------------------------------------------------------------


def test_listing_follows_markers_page_by_page(request: pytest.FixtureRequest, tmp_path: Path,
                                              driver: AzureBlobsStorageDriver,
                                              container: Container, mode: str) -> None:
    names = [f"p/{i:03d}" for i in range(10)] + ["q/x"]
    for name in names:
        driver.upload_object_via_stream(iter([name.encode()]), container, name)
    lists: list[str] = []

    def seen(event: ResponseEvent) -> None:
        if event.method == "GET" and "comp=list" in event.url:
            lists.append(event.url)

    paged = make_driver(request, tmp_path, page_size=3, hooks=Hooks(on_response=[seen]))
    listed = call(mode, paged, "list_container_objects", container, "p/")
    assert [o.name for o in listed] == names[:10]
    assert all(o.size == 5 and o.hash for o in listed)
    assert len(lists) == 4  # 3 + 3 + 3 + 1
    assert sum("marker=" in url for url in lists) == 3
    lists.clear()
    first = next(iter(paged.iterate_container_objects(container)))
    assert first.name == "p/000" and len(lists) == 1  # one page read, no more


def test_delimiter_listing_across_small_pages(request: pytest.FixtureRequest, tmp_path: Path,
                                              driver: AzureBlobsStorageDriver,
                                              container: Container, mode: str) -> None:
    names = ["a/1", "a/2", "a/b/3", "b/4", "c/d/e/5", "top1", "top2", "zz/9"]
    for name in names:
        driver.upload_object_via_stream(iter([b"x"]), container, name)
    expected = [("Prefix", "a/"), ("Prefix", "b/"), ("Prefix", "c/"), ("Object", "top1"),
                ("Object", "top2"), ("Prefix", "zz/")]
    for page_size in (2, 5000):
        lister = make_driver(request, tmp_path, page_size=page_size)
        entries = call(mode, lister, "list_container_entries", container)
        assert [(type(e).__name__, e.name) for e in entries] == expected
        inner = call(mode, lister, "list_container_entries", container, "a/")
        assert [(isinstance(e, Prefix), e.name) for e in inner] == [
            (False, "a/1"), (False, "a/2"), (True, "a/b/"),
        ]
    deep = call(mode, driver, "list_container_entries", container, "c/", delimiter="/")
    assert [e.name for e in deep] == ["c/d/"]


def test_missing_containers(driver: AzureBlobsStorageDriver) -> None:
    with pytest.raises(ContainerNotFound):
        driver.list_container_objects("no-such-container")
    with pytest.raises(ContainerNotFound):
        driver.upload_object_via_stream(iter([b"x"]), "no-such-container", "x")
    with pytest.raises(ContainerNotFound):
        driver.get_object("no-such-container", "x")
