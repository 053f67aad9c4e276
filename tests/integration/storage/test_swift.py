"""What only the Swift driver shows, against a real OpenStack Swift: SLO
segments, TempAuth and Keystone tokens, python-swiftclient interoperability,
integrity checks through a corrupting proxy, and listing pages."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import logging
import os
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from overcast.errors import ContainerNotFound
from overcast.errors import IntegrityError
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ObjectNotFound
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from overcast.runtime.policy import ResponseEvent
from overcast.storage import Provider
from overcast.storage import get_driver
from overcast.storage.base import Container
from overcast.storage.base import Object
from overcast.storage.base import Prefix
from overcast.storage.drivers.swift import SegmentHashCheck
from overcast.storage.drivers.swift import SwiftStorageDriver
from overcast.storage.transfer import PartPlan
from servers.modes import call
from servers.storage_swift import TEST_PLAN
from servers.storage_swift import make_swift
from servers.swift_keystone import KeystoneFixture
from servers.swift_server import KEY
from servers.swift_server import USER
from servers.swift_server import SwiftServer
from servers.swift_server import swift_server

MiB = 1024 * 1024
PART = TEST_PLAN.part_size


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def srv(request: pytest.FixtureRequest) -> SwiftServer:
    return swift_server(request)


class Recorder:
    """Hooks that count what the driver sent and got."""

    def __init__(self) -> None:
        self.requests: list[RequestEvent] = []
        self.responses: list[ResponseEvent] = []
        self.lock = threading.Lock()
        self.hooks = Hooks(on_request=[self._request], on_response=[self._response])

    def _request(self, event: RequestEvent) -> None:
        with self.lock:
            self.requests.append(event)

    def _response(self, event: ResponseEvent) -> None:
        with self.lock:
            self.responses.append(event)

    def count(self, predicate: Callable[[Any], bool], events: str = "requests") -> int:
        with self.lock:
            return sum(1 for e in getattr(self, events) if predicate(e))

    def segment_puts_done(self) -> int:
        return self.count(
            lambda e: e.method == "PUT" and "_segments/" in e.url and e.status == 201,
            "responses",
        )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def driver(srv: SwiftServer, recorder: Recorder) -> Iterator[SwiftStorageDriver]:
    made = make_swift(srv, hooks=recorder.hooks)
    assert isinstance(made, SwiftStorageDriver)
    with made:
        yield made


@pytest.fixture
def container(driver: SwiftStorageDriver) -> Iterator[Container]:
    created = driver.create_container(f"it-{uuid.uuid4().hex[:10]}")
    yield created
    for obj in driver.list_container_objects(created):
        driver.delete_object(obj)
    driver.delete_container(created)


def segments_of(driver: SwiftStorageDriver, container: Container) -> list[str]:
    """Names in the container's segment container ([] if it does not exist)."""
    try:
        return [o.name for o in driver.list_container_objects(f"{container.name}_segments")]
    except ContainerNotFound:
        return []


def swiftclient_connection(srv: SwiftServer) -> Any:
    swiftclient = pytest.importorskip("swiftclient.client")  # scripts/servers/swift.pip
    return swiftclient.Connection(authurl=srv.auth_url, user=USER, key=KEY, retries=1)


# -- interoperability with python-swiftclient ---------------------------------------------


def test_objects_written_by_overcast_read_by_swiftclient(
    srv: SwiftServer, driver: SwiftStorageDriver, container: Container
) -> None:
    conn = swiftclient_connection(srv)
    small = os.urandom(100_000)
    big = os.urandom(2 * PART + 4321)
    driver.upload_object_via_stream(iter([small]), container, "small.bin",
                                    meta_data={"owner": "alice"}, content_type="x-test/small")
    slo = driver.upload_object_via_stream(iter([big]), container, "dir/big.bin")
    assert slo.extra["static_large_object"] is True
    headers, body = conn.get_object(container.name, "small.bin")
    assert body == small
    assert headers["x-object-meta-owner"] == "alice"
    assert headers["content-type"] == "x-test/small"
    assert headers["etag"] == hashlib.md5(small).hexdigest()
    headers, body = conn.get_object(container.name, "dir/big.bin")
    assert body == big
    assert headers["x-static-large-object"] == "True"
    manifest = json.loads(conn.get_object(container.name, "dir/big.bin",
                                          query_string="multipart-manifest=get")[1])
    assert [m["bytes"] for m in manifest] == [PART, PART, 4321]
    conn.close()


def test_objects_written_by_swiftclient_read_by_overcast(
    srv: SwiftServer, driver: SwiftStorageDriver, container: Container, tmp_path: Path
) -> None:
    service_mod = pytest.importorskip("swiftclient.service")
    conn = swiftclient_connection(srv)
    small = os.urandom(54_321)
    conn.put_object(container.name, "from-sdk.bin", small,
                    headers={"X-Object-Meta-Color": "blue", "Content-Type": "x-sdk/data"})
    got = driver.get_object(container.name, "from-sdk.bin")
    assert (got.size, got.hash) == (len(small), hashlib.md5(small).hexdigest())
    assert got.meta_data == {"color": "blue"}
    assert got.content_type == "x-sdk/data"
    assert b"".join(driver.download_object_as_stream(got)) == small
    conn.close()

    # An SLO made by swiftclient's upload service, with 1 MiB segments of its own.
    big = os.urandom(3 * MiB + 777)
    source = tmp_path / "sdk-big.bin"
    source.write_bytes(big)
    options = {"auth": srv.auth_url, "user": USER, "key": KEY, "auth_version": "1.0"}
    with service_mod.SwiftService(options=options) as service:
        results = list(service.upload(
            container.name,
            [service_mod.SwiftUploadObject(str(source), object_name="sdk-slo.bin")],
            options={"segment_size": MiB, "use_slo": True},
        ))
    assert all(r["success"] for r in results), results
    obj = driver.get_object(container.name, "sdk-slo.bin")
    assert obj.extra["static_large_object"] is True
    assert obj.size == len(big)
    target = tmp_path / "sdk-big.out"
    driver.download_object(obj, str(target))
    assert target.read_bytes() == big
    assert b"".join(driver.download_object_range_as_stream(obj, MiB - 5, MiB + 5)) == \
        big[MiB - 5 : MiB + 5]
    # Deleting it through overcast removes swiftclient's segments too.
    assert len(segments_of(driver, container)) == 4
    driver.delete_object(obj)
    assert segments_of(driver, container) == []


# -- tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_tempauth_token_is_cached_and_refreshed_after_a_401(
    srv: SwiftServer, driver: SwiftStorageDriver, recorder: Recorder, container: Container,
    mode: str
) -> None:
    auth = f"{srv.auth_url}"
    call(mode, driver, "upload_object_via_stream", iter([b"one"]), container, "x")
    call(mode, driver, "get_container", container.name)
    assert recorder.count(lambda e: e.url == auth) == 1  # cached between requests
    srv.flush_tokens()  # every TempAuth token is gone, as after expiry
    got = call(mode, driver, "get_object", container.name, "x")
    assert got.size == 3
    assert recorder.count(lambda e: e.url == auth) == 2
    assert recorder.count(lambda e: e.status == 401, "responses") == 1
    assert driver.tokens_fetched == 2


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_wrong_key_is_invalid_credentials_and_never_shown(
    srv: SwiftServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wrong-Key-7f3a9c-never-shown"
    recorder = Recorder()
    seen: list[str] = []
    recorder.hooks.on_request.append(lambda e: seen.append(repr(e)))
    recorder.hooks.on_response.append(lambda e: seen.append(repr(e)))
    bad = make_swift(srv, secret=secret, hooks=recorder.hooks)
    with caplog.at_level(logging.DEBUG), pytest.raises(InvalidCredentials) as info:
        call(mode, bad, "list_containers")
    text = " ".join([str(info.value), repr(info.value), caplog.text, repr(bad), *seen,
                     str(info.value.__cause__ or ""), str(info.value.__context__ or "")])
    assert secret not in text
    assert "test:tester" in str(info.value)
    assert recorder.count(lambda e: e.url == srv.auth_url) >= 1


def test_constructor_touches_no_network_and_checks_arguments(srv: SwiftServer) -> None:
    SwiftStorageDriver("u", "k", auth_url="http://127.0.0.1:9/auth/v1.0")  # nothing listens
    with pytest.raises(InvalidInput):
        SwiftStorageDriver("u", "k", auth_url="ftp://x")
    with pytest.raises(InvalidInput):
        SwiftStorageDriver("u", "k", auth_url=srv.auth_url, auth_version="2.0")
    with pytest.raises(InvalidInput):
        SwiftStorageDriver("u", "k", auth_url=srv.auth_url, auth_version="3")  # no project
    with pytest.raises(InvalidInput):
        SwiftStorageDriver("u", "k", auth_url=srv.auth_url,
                           part_plan=PartPlan(max_parts=10_000))  # Swift: 1,000 segments
    with pytest.raises(InvalidInput):
        SwiftStorageDriver("u", "k", auth_url=srv.auth_url, page_size=20_000)
    assert get_driver(Provider.SWIFT) is SwiftStorageDriver


# -- Keystone v3 -------------------------------------------------------------------------


@pytest.fixture
def keystone(srv: SwiftServer) -> Iterator[KeystoneFixture]:
    fixture = KeystoneFixture(srv)
    yield fixture
    fixture.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_keystone_v3_catalog_endpoint_and_token_refresh(
    srv: SwiftServer, keystone: KeystoneFixture, mode: str
) -> None:
    ks = SwiftStorageDriver("tester", "testing", auth_url=keystone.url, auth_version="3",
                            project="test", region="RegionOne")
    name = f"ks-{uuid.uuid4().hex[:10]}"
    with ks:
        call(mode, ks, "create_container", name)
        call(mode, ks, "upload_object_via_stream", iter([b"via keystone"]), name, "k")
        assert len(keystone.posts) == 1
        scope = keystone.posts[0]["auth"]["scope"]["project"]
        assert scope == {"name": "test", "domain": {"name": "Default"}}
        # The object is in the TempAuth account the catalog pointed at.
        token, storage = srv.token()
        head = urllib.request.Request(f"{storage}/{name}/k", method="HEAD",
                                      headers={"X-Auth-Token": token})
        with urllib.request.urlopen(head, timeout=10) as answer:
            assert answer.headers["Content-Length"] == "12"
        srv.flush_tokens()
        obj = call(mode, ks, "get_object", name, "k")
        assert call(mode, ks, "download_object_as_stream", obj) == b"via keystone"
        assert len(keystone.posts) == 2
        call(mode, ks, "delete_object", obj)
        call(mode, ks, "delete_container", name)


def test_keystone_wrong_password_and_missing_region(
    srv: SwiftServer, keystone: KeystoneFixture, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "not-the-Password-4411"
    bad = SwiftStorageDriver("tester", secret, auth_url=keystone.url, auth_version="3",
                             project="test")
    with caplog.at_level(logging.DEBUG), pytest.raises(InvalidCredentials) as info:
        bad.list_containers()
    assert secret not in str(info.value) + repr(info.value) + caplog.text
    nowhere = SwiftStorageDriver("tester", "testing", auth_url=keystone.url, auth_version="3",
                                 project="test", region="RegionNine")
    from overcast.auth.keystone import EndpointNotFound

    with pytest.raises(EndpointNotFound):
        nowhere.list_containers()
    # endpoint= overrides the catalog.
    forced = SwiftStorageDriver("tester", "testing", auth_url=keystone.url, auth_version="3",
                                project="test", region="RegionNine",
                                endpoint=srv.storage_url())
    assert isinstance(forced.list_containers(), list)


# -- Static Large Objects: aborts and deletes -----------------------------------------------


def test_slo_upload_failing_midway_leaves_no_manifest_and_no_segment(
    driver: SwiftStorageDriver, recorder: Recorder, container: Container
) -> None:
    class Boom(Exception):
        pass

    def source() -> Iterator[bytes]:
        yield b"a" * PART
        yield b"b" * PART
        yield b"c"  # lets the reader hand out part 2 whole
        deadline = time.monotonic() + 60
        while recorder.segment_puts_done() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        raise Boom("source failed after two segments")

    with pytest.raises(Boom):
        driver.upload_object_via_stream(source(), container, "killed.bin")
    assert recorder.segment_puts_done() >= 2  # segments were really there
    with pytest.raises(ObjectNotFound):
        driver.get_object(container.name, "killed.bin")
    assert driver.list_container_objects(container) == []
    assert segments_of(driver, container) == []


def test_slo_upload_cancelled_midway_leaves_no_manifest_and_no_segment(
    driver: SwiftStorageDriver, recorder: Recorder, container: Container
) -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"a" * PART
        yield b"b" * PART
        yield b"c"
        await anyio.sleep_forever()

    async def main() -> bool:
        async with driver.aio as view:
            with anyio.move_on_after(60) as scope:
                async with anyio.create_task_group() as tg:
                    async def upload() -> None:
                        await view.upload_object_via_stream(source(), container, "cancelled")

                    tg.start_soon(upload)
                    while recorder.segment_puts_done() < 2:  # noqa: ASYNC110 - hook counter
                        await anyio.sleep(0.02)
                    tg.cancel_scope.cancel()
            return not scope.cancelled_caught

    assert anyio.run(main) is True
    assert recorder.segment_puts_done() >= 2
    with pytest.raises(ObjectNotFound):
        driver.get_object(container.name, "cancelled")
    assert segments_of(driver, container) == []


def test_deleting_an_slo_removes_its_segments(
    driver: SwiftStorageDriver, container: Container
) -> None:
    data = os.urandom(PART + 1000)
    for name in ("by-head", "by-listing", "by-hand"):
        driver.upload_object_via_stream(iter([data]), container, name)
    assert len(segments_of(driver, container)) == 6
    driver.delete_object(driver.get_object(container.name, "by-head"))
    assert len(segments_of(driver, container)) == 4
    [listed] = [o for o in driver.list_container_objects(container) if o.name == "by-listing"]
    assert listed.extra["static_large_object"] is True
    driver.delete_object(listed)
    assert len(segments_of(driver, container)) == 2
    # An Object that says nothing about being an SLO: the driver asks Swift.
    bare = Object("by-hand", len(data), None, container=container, driver=driver)
    driver.delete_object(bare)
    assert segments_of(driver, container) == []
    with pytest.raises(ObjectNotFound):
        driver.delete_object(bare)
    # ... and a plain object given the same way is deleted plainly.
    driver.upload_object_via_stream(iter([b"plain"]), container, "plain")
    driver.delete_object(Object("plain", 5, None, container=container, driver=driver))
    assert driver.list_container_objects(container) == []


def test_copying_an_slo_copies_its_content(
    driver: SwiftStorageDriver, container: Container
) -> None:
    data = os.urandom(PART + 99)
    slo = driver.upload_object_via_stream(iter([data]), container, "orig",
                                          meta_data={"k": "v"})
    copy = driver.copy_object(slo, container, "copy")
    assert (copy.size, copy.meta_data) == (len(data), {"k": "v"})
    driver.delete_object(slo)  # removes the original's segments, not the copy's data
    assert segments_of(driver, container) == []
    assert b"".join(driver.download_object_as_stream(copy)) == data


def test_delete_container_removes_its_empty_segment_container(
    driver: SwiftStorageDriver,
) -> None:
    name = f"segs-{uuid.uuid4().hex[:8]}"
    driver.create_container(name)
    obj = driver.upload_object_via_stream(iter([os.urandom(PART + 1)]), name, "big")
    assert driver.get_container(f"{name}_segments").extra["object_count"] == 2
    driver.delete_object(obj)
    driver.delete_container(name)
    with pytest.raises(ContainerNotFound):
        driver.get_container(f"{name}_segments")


# -- integrity through a corrupting proxy ---------------------------------------------------


class CorruptingProxy:
    """An HTTP proxy to Swift that flips one byte in the middle of every
    successful object GET body (``flip=False`` passes bodies through)."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.flip = True
        self.flipped = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(
                    target.hostname or "127.0.0.1", target.port, timeout=60
                )
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if (proxy.flip and self.command == "GET" and resp.status in (200, 206)
                        and data and "format=json" not in self.path
                        and "multipart-manifest" not in self.path):
                    middle = len(data) // 2
                    data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]
                    proxy.flipped += 1
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _relay  # noqa: N815

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_corrupted_download_raises_and_leaves_no_file(
    srv: SwiftServer, driver: SwiftStorageDriver, container: Container, tmp_path: Path,
    mode: str
) -> None:
    small = os.urandom(300_000)
    big = os.urandom(PART + 54_321)
    driver.upload_object_via_stream(iter([small]), container, "small")
    driver.upload_object_via_stream(iter([big]), container, "big")
    proxy = CorruptingProxy(srv.url)
    try:
        bent = make_swift(srv, endpoint=f"{proxy.url}/v1/AUTH_test")
        with bent:
            for name in ("small", "big"):
                obj = call(mode, bent, "get_object", container.name, name)
                target = tmp_path / f"{name}.out"
                with pytest.raises(IntegrityError):
                    call(mode, bent, "download_object", obj, str(target))
                assert not target.exists()
                assert os.listdir(tmp_path) == []
                with pytest.raises(IntegrityError):
                    call(mode, bent, "download_object_as_stream", obj)
            assert proxy.flipped == 4
            # The same path with nothing flipped passes: the check is what failed.
            proxy.flip = False
            obj = call(mode, bent, "get_object", container.name, "big")
            assert call(mode, bent, "download_object_as_stream", obj) == big
    finally:
        proxy.close()


def test_segment_hash_check_names_the_bad_segment() -> None:
    a, b = b"x" * 10, b"y" * 7
    segments = [(10, hashlib.md5(a).hexdigest()), (7, hashlib.md5(b).hexdigest())]
    good = SegmentHashCheck(segments, "obj")
    for chunk in (a[:3], a[3:] + b[:2], b[2:]):
        good.update(chunk)
    good.finish()
    bad = SegmentHashCheck(segments, "obj")
    bad.update(a + b"z" + b[1:])
    with pytest.raises(IntegrityError, match="segment 2 of 2"):
        bad.finish()
    short = SegmentHashCheck(segments, "obj")
    short.update(a)
    with pytest.raises(IntegrityError, match="ended in segment 2"):
        short.finish()


# -- listings ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_pagination_past_page_one_counts_requests(
    srv: SwiftServer, driver: SwiftStorageDriver, container: Container, mode: str
) -> None:
    names = [f"p/{i:02d}" for i in range(12)]
    for name in names:
        driver.upload_object_via_stream(iter([b"x"]), container, name)
    counter = Recorder()
    small = make_swift(srv, page_size=3, hooks=counter.hooks)
    with small:
        listed = call(mode, small, "list_container_objects", container)
        assert [o.name for o in listed] == names
        gets = counter.count(lambda e: e.method == "GET" and "format=json" in e.url)
        assert gets == 5  # 3 + 3 + 3 + 3, then an empty page ends it
        assert counter.count(lambda e: "marker=p%2F08" in e.url or "marker=p/08" in e.url) == 1
        ten = call(mode, small, "list_container_objects", container, "p/0")
        assert [o.name for o in ten] == names[:10]
        # 3 + 3 + 3 + 1: a short page ends it without another request
        assert counter.count(lambda e: e.method == "GET" and "format=json" in e.url) == 9
        # containers page the same way
        mine = [c.name for c in call(mode, small, "list_containers")]
        assert container.name in mine


def test_delimiter_listing_across_pages(
    srv: SwiftServer, driver: SwiftStorageDriver, container: Container
) -> None:
    names = ["a/1", "a/2", "a/b/3", "b/4", "b/5", "c/6", "top1", "top2", "top3", "z/7"]
    for name in names:
        driver.upload_object_via_stream(iter([b"x"]), container, name)
    small = make_swift(srv, page_size=2)
    with small:
        entries = small.list_container_entries(container)
        assert [(type(e).__name__, e.name) for e in entries] == [
            ("Prefix", "a/"), ("Prefix", "b/"), ("Prefix", "c/"),
            ("Object", "top1"), ("Object", "top2"), ("Object", "top3"), ("Prefix", "z/"),
        ]
        inner = small.list_container_entries(container, "a/")
        assert [(isinstance(e, Prefix), e.name) for e in inner] == [
            (False, "a/1"), (False, "a/2"), (True, "a/b/"),
        ]
        by_dash = small.list_container_entries(container, delimiter="o")
        assert [e.name for e in by_dash if isinstance(e, Prefix)] == ["to"]
        with pytest.raises(InvalidInput):
            small.list_container_entries(container, delimiter="")
        with pytest.raises(ContainerNotFound):
            small.list_container_entries("no-such-container-xyz")
