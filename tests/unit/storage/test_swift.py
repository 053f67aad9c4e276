"""The Swift driver on the scripted transport: TempAuth, the requests it sends
and how it reads the answers, in both modes, without a server."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from overcast.errors import ContainerAlreadyExists
from overcast.errors import ContainerIsNotEmpty
from overcast.errors import ContainerNotFound
from overcast.errors import IntegrityError
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ObjectNotFound
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.runtime.policy import RetryPolicy
from overcast.storage.base import Container
from overcast.storage.base import Object
from overcast.storage.drivers.swift import SEGMENTS_MARK
from overcast.storage.drivers.swift import SwiftStorageDriver
from overcast.storage.transfer import PartPlan
from overcast.testing import Script
from overcast.testing import Sent
from overcast.testing import call

AUTH = "http://swift.test/auth/v1.0"
STORE = "http://swift.test/v1/AUTH_test"
PLAN = PartPlan(threshold=8, part_size=8, max_parts=1000, concurrency=1)
UPLOAD = uuid.UUID("0123456789abcdef0123456789abcdef")
JSON = {"format": "json", "limit": "2"}


def driver(script: Script, **options: Any) -> SwiftStorageDriver:
    options.setdefault("retry", RetryPolicy(max_attempts=1))
    return SwiftStorageDriver("test:tester", "testing", auth_url=AUTH, page_size=2,
                              part_plan=PLAN, **options, **script.options())


def login(script: Script, token: str = "tk-1") -> None:
    script.expect("GET", AUTH, headers={"X-Auth-User": "test:tester",
                                        "X-Auth-Key": "testing"}).reply(
        200, headers={"X-Auth-Token": token, "X-Storage-Url": STORE,
                      "X-Auth-Token-Expires": "3600"})


def token(value: str = "tk-1") -> dict[str, str]:
    return {"X-Auth-Token": value}


def page(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "bytes": len(n), "hash": "e", "content_type": "text/plain",
             "last_modified": "2026-12-01T10:00:00.000000"} for n in names]


def obj(name: str = "k", size: int = 10, swift: Any = None, **extra: Any) -> Object:
    return Object(name, size, None, extra=extra, container=Container("box", driver=swift),
                  driver=swift)


def html(status: str) -> str:
    return f"<html><h1>{status}</h1><p>The resource could not be found.</p></html>"


# -- listings ------------------------------------------------------------------------------


def test_objects_are_listed_page_by_page_after_the_last_name(mode: str) -> None:
    script = Script()
    login(script)
    script.expect("GET", f"{STORE}/box", params=JSON, headers=token()).reply(
        200, json=page("a", "b"))
    script.expect("GET", f"{STORE}/box", params={**JSON, "marker": "b"}).reply(
        200, json=page("c"))
    found = call(mode, driver(script), "list_container_objects", "box")
    assert [(o.name, o.size) for o in found] == [("a", 1), ("b", 1), ("c", 1)]
    assert found[0].last_modified is not None and found[0].last_modified.tzinfo is not None
    script.assert_done()


def test_subdirs_are_prefixes_and_a_marker_sent_twice_is_an_error(mode: str) -> None:
    script = Script()
    login(script)
    query = {**JSON, "delimiter": "/"}
    script.expect("GET", f"{STORE}/box", params=query).reply(
        200, json=[{"subdir": "a/"}, *page("b")])
    script.expect("GET", f"{STORE}/box", params={**query, "marker": "b"}).reply(
        200, json=page("a", "b"))
    with pytest.raises(ProviderError, match="sent the marker 'b' a second time"):
        call(mode, driver(script), "list_container_entries", "box")
    script.assert_done()


def test_containers_are_listed_and_an_empty_account_answers_204(mode: str) -> None:
    script = Script()
    login(script)
    script.expect("GET", STORE, params=JSON).reply(
        200, json=[{"name": "one", "count": 1, "bytes": 3}])
    script.expect("GET", STORE, params=JSON).reply(204)
    swift = driver(script)
    assert [(c.name, c.extra["object_count"]) for c in call(mode, swift, "list_containers")] == [
        ("one", 1)]
    assert call(mode, swift, "list_containers") == []
    script.assert_done()


# -- containers ----------------------------------------------------------------------------


def test_a_container_is_created_after_looking_and_deleted_with_its_segments(mode: str) -> None:
    script = Script()
    login(script)
    script.expect("HEAD", f"{STORE}/box").reply(404)
    script.expect("PUT", f"{STORE}/box").reply(201)
    script.expect("DELETE", f"{STORE}/box").reply(204)
    script.expect("HEAD", f"{STORE}/box_segments").reply(204, headers={
        SEGMENTS_MARK: "box", "X-Container-Object-Count": "0"})
    script.expect("DELETE", f"{STORE}/box_segments").reply(204)
    swift = driver(script)
    assert call(mode, swift, "create_container", "box").extra["object_count"] == 0
    assert call(mode, swift, "delete_container", "box") is True
    script.assert_done()


def test_a_container_that_exists_is_not_created_again(mode: str) -> None:
    script = Script()
    login(script)
    script.expect("HEAD", f"{STORE}/taken").reply(204)
    script.expect("HEAD", f"{STORE}/raced").reply(404)
    script.expect("PUT", f"{STORE}/raced").reply(202)  # made by someone else meanwhile
    script.expect("HEAD", f"{STORE}/lost").reply(404)
    script.expect("PUT", f"{STORE}/lost").fail(sent=True)
    script.expect("HEAD", f"{STORE}/lost").reply(204, headers={"X-Container-Object-Count": "0"})
    swift = driver(script)
    with pytest.raises(ContainerAlreadyExists, match="'taken'"):
        call(mode, swift, "create_container", "taken")
    with pytest.raises(ContainerAlreadyExists, match="'raced'"):
        call(mode, swift, "create_container", "raced")
    assert call(mode, swift, "create_container", "lost").name == "lost"
    script.assert_done()


def test_a_container_that_is_not_empty_or_missing(mode: str) -> None:
    script = Script()
    login(script)
    script.expect("DELETE", f"{STORE}/full").reply(409, text="<html><h1>Conflict</h1></html>")
    script.expect("DELETE", f"{STORE}/gone").reply(404, text=html("Not Found"))
    swift = driver(script)
    with pytest.raises(ContainerIsNotEmpty, match="Conflict"):
        call(mode, swift, "delete_container", "full")
    with pytest.raises(ContainerNotFound, match="'gone'"):
        call(mode, swift, "delete_container", "gone")
    script.assert_done()


# -- objects -------------------------------------------------------------------------------


def test_get_object_reads_its_metadata_from_head(mode: str) -> None:
    script = Script()
    login(script)
    script.expect("HEAD", f"{STORE}/box/dir/a%20b").reply(200, headers={
        "Content-Length": "5", "ETag": '"5d41402abc4b2a76b9719d911017c592"',
        "Content-Type": "text/x", "X-Object-Meta-Owner": "alice",
        "X-Static-Large-Object": "True"})
    script.expect("HEAD", f"{STORE}/box/nope").reply(404)
    swift = driver(script)
    got = call(mode, swift, "get_object", "box", "dir/a b")
    assert (got.size, got.hash, got.meta_data) == (5, "5d41402abc4b2a76b9719d911017c592",
                                                   {"owner": "alice"})
    assert got.extra["static_large_object"] is True
    with pytest.raises(ObjectNotFound, match="'box/nope'"):
        call(mode, swift, "get_object", "box", "nope")
    script.assert_done()


def test_a_small_object_goes_up_in_one_put_with_its_md5(mode: str) -> None:
    script = Script()
    login(script)
    data = b"tiny bod"
    md5 = hashlib.md5(data).hexdigest()
    script.expect("PUT", f"{STORE}/box/n.txt", body=data, headers={
        "ETag": md5, "Content-Type": "text/plain", "X-Object-Meta-k": "v"}).reply(
        201, headers={"ETag": md5})
    script.expect("PUT", f"{STORE}/box/bad").reply(422, text="<html><h1>Unprocessable</h1>")
    swift = driver(script)
    made = call(mode, swift, "upload_object_via_stream", iter([data]), "box", "n.txt",
                meta_data={"k": "v"})
    assert (made.size, made.hash, made.extra) == (len(data), md5,
                                                  {"static_large_object": False})
    with pytest.raises(IntegrityError):
        call(mode, swift, "upload_object_via_stream", iter([data]), "box", "bad")
    script.assert_done()


def _segment(number: int) -> str:
    return f"{STORE}/box_segments/big/{UPLOAD.hex}/{number:08d}"


def test_a_large_object_becomes_segments_and_a_manifest(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("overcast.storage.drivers.swift.uuid.uuid4", lambda: UPLOAD)
    script = Script()
    login(script)
    data = b"0123456789abcdefXY"
    parts = (data[:8], data[8:16], data[16:])
    script.expect("HEAD", f"{STORE}/box").reply(204)
    script.expect("PUT", f"{STORE}/box_segments", headers={SEGMENTS_MARK: "box"}).reply(201)
    for number, part in enumerate(parts, 1):
        script.expect("PUT", _segment(number), body=part,
                      headers={"ETag": hashlib.md5(part).hexdigest()}).reply(201)

    def manifest(sent: Sent) -> bool:
        return [(e["path"], e["size_bytes"]) for e in json.loads(sent.body)] == [
            (f"/box_segments/big/{UPLOAD.hex}/{n:08d}", len(p)) for n, p in enumerate(parts, 1)]

    script.expect("PUT", f"{STORE}/box/big", params={"multipart-manifest": "put"},
                  match=manifest).reply(201, headers={"ETag": '"slo"'})
    made = call(mode, driver(script), "upload_object_via_stream", iter([data]), "box", "big")
    assert (made.size, made.extra) == (len(data), {"static_large_object": True})
    script.assert_done()


def test_a_failed_segment_deletes_the_segments_started(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("overcast.storage.drivers.swift.uuid.uuid4", lambda: UPLOAD)
    script = Script()
    login(script)
    script.expect("HEAD", f"{STORE}/box").reply(204)
    script.expect("PUT", f"{STORE}/box_segments").reply(202)
    script.expect("PUT", _segment(1)).reply(201)
    script.expect("PUT", _segment(2)).reply(503, text="<html><h1>Service Unavailable</h1>")
    script.expect("DELETE", _segment(1)).reply(204)
    script.expect("DELETE", _segment(2)).reply(404)
    with pytest.raises(ProviderError, match="Service Unavailable"):
        call(mode, driver(script), "upload_object_via_stream", iter([b"q" * 20]), "box", "big")
    script.assert_done()


def test_a_chunk_that_is_not_bytes_mid_stream_deletes_the_segments(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("overcast.storage.drivers.swift.uuid.uuid4", lambda: UPLOAD)
    script = Script()
    login(script)
    script.expect("HEAD", f"{STORE}/box").reply(204)
    script.expect("PUT", f"{STORE}/box_segments").reply(202)
    script.expect("PUT", _segment(1), body=b"x" * 8).reply(201)
    script.expect("DELETE", _segment(1)).reply(204)
    with pytest.raises(InvalidInput, match="bytes"):
        call(mode, driver(script), "upload_object_via_stream",
             iter([b"x" * 8, b"y" * 8, "text"]), "box", "big")
    script.assert_done()  # no manifest: no object, and no segment left


def test_a_delete_of_an_ordinary_object_after_swift_says_it_is_no_slo(mode: str) -> None:
    script = Script()
    login(script)
    script.expect("DELETE", f"{STORE}/box/k", params={"multipart-manifest": "delete"}).reply(
        200, json={"Number Deleted": 0, "Errors": [["/box/k", "400 Bad Request"],
                                                   "Not an SLO manifest"]})
    script.expect("DELETE", f"{STORE}/box/k").reply(204)
    script.expect("DELETE", f"{STORE}/box/plain").reply(204)
    swift = driver(script)
    assert call(mode, swift, "delete_object", obj(swift=swift)) is True
    assert call(mode, swift, "delete_object",
                obj("plain", swift=swift, static_large_object=False)) is True
    script.assert_done()


# -- downloads -----------------------------------------------------------------------------


def test_a_range_and_a_checked_full_read(mode: str) -> None:
    script = Script()
    login(script)
    data = b"0123456789"
    etag = {"ETag": hashlib.md5(data).hexdigest(), "Content-Length": "10"}
    script.expect("GET", f"{STORE}/box/k", headers={"Range": "bytes=0-2"}).reply(
        206, body=b"012", headers={"Content-Length": "3"})
    script.expect("GET", f"{STORE}/box/k").reply(200, body=data, headers=etag)
    script.expect("GET", f"{STORE}/box/k").reply(200, body=b"0123456780", headers=etag)
    swift = driver(script)
    got = obj(swift=swift, static_large_object=False)
    assert call(mode, swift, "download_object_range_as_stream", got, 0, 3) == b"012"
    assert call(mode, swift, "download_object_as_stream", got) == data
    with pytest.raises(IntegrityError, match="md5 is"):
        call(mode, swift, "download_object_as_stream", got)
    script.assert_done()


def test_a_slo_is_checked_segment_by_segment(mode: str) -> None:
    script = Script()
    login(script)
    parts = (b"first", b"second")
    segments = [{"bytes": len(p), "hash": hashlib.md5(p).hexdigest(), "name": f"/s/{i}"}
                for i, p in enumerate(parts)]
    slo_etag = hashlib.md5("".join(s["hash"] for s in segments).encode()).hexdigest()
    slo = {"X-Static-Large-Object": "True", "ETag": f'"{slo_etag}"'}
    script.expect("GET", f"{STORE}/box/k", params={"multipart-manifest": "get"}).reply(
        200, json=segments, headers={"X-Static-Large-Object": "True"})
    script.expect("GET", f"{STORE}/box/k").reply(200, body=b"firstsecand", headers=slo)
    swift = driver(script)
    with pytest.raises(IntegrityError, match="segment 2 of 2"):
        call(mode, swift, "download_object_as_stream",
             obj(size=11, swift=swift, static_large_object=True))
    script.assert_done()


# -- tokens and errors ---------------------------------------------------------------------


def test_a_token_refused_with_a_401_is_fetched_again_once(mode: str) -> None:
    script = Script()
    login(script, "tk-old")
    script.expect("HEAD", f"{STORE}/box", headers=token("tk-old")).reply(401)
    login(script, "tk-new")
    script.expect("HEAD", f"{STORE}/box", headers=token("tk-new")).reply(204)
    swift = driver(script)
    assert call(mode, swift, "get_container", "box").name == "box"
    assert swift.tokens_fetched == 2
    script.assert_done()


def test_refused_credentials_name_the_user_and_never_the_key(mode: str) -> None:
    script = Script()
    script.expect("GET", AUTH).reply(401, text="<html><h1>Unauthorized</h1></html>")
    with pytest.raises(InvalidCredentials, match="'test:tester'") as info:
        call(mode, driver(script), "list_containers")
    assert "testing" not in str(info.value).replace("test:tester", "")


def test_rate_limits_and_server_errors(mode: str) -> None:
    script = Script()
    login(script)
    script.expect("HEAD", f"{STORE}/box").reply(498, text="Slow down")
    script.expect("HEAD", f"{STORE}/box").reply(500, text="<html><h1>Internal Error</h1></html>",
                                               headers={"X-Trans-Id": "tx-9"})
    swift = driver(script)
    with pytest.raises(RateLimited):
        call(mode, swift, "get_container", "box")
    with pytest.raises(ProviderError) as info:
        call(mode, swift, "get_container", "box")
    assert (info.value.status, info.value.request_id) == (500, "tx-9")
    assert "<h1>" not in str(info.value)
    script.assert_done()


# -- invalid input -------------------------------------------------------------------------


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    swift = driver(script)
    for bad in ("", "a/b", "..", "nul\x00"):
        with pytest.raises(InvalidInput):
            call(mode, swift, "create_container", bad)
    for name in ("", "a//b", "/abs", "dir/"):
        with pytest.raises(InvalidInput):
            call(mode, swift, "get_object", "box", name)
    with pytest.raises(InvalidInput):
        call(mode, swift, "upload_object_via_stream", iter([b"x"]), "box", "k",
             meta_data={"bad:key": "v"})
    with pytest.raises(InvalidInput):
        SwiftStorageDriver("u", "k", auth_url="ftp://x")
    with pytest.raises(InvalidInput):
        SwiftStorageDriver("u", "k", auth_url=AUTH, page_size=10_001)
    script.assert_done()
    assert script.received == []
