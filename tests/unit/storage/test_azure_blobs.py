"""The Azure Blobs driver on the scripted transport: the requests it sends and
how it reads the answers, in both modes, without a server."""

from __future__ import annotations

import base64
import hashlib
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
from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
from overcast.storage.transfer import PartPlan
from overcast.testing import Script
from overcast.testing import Sent
from overcast.testing import call
from servers.pauses import record_pauses

EP = "http://azure.test/acct"
KEY = base64.b64encode(b"k" * 32).decode()
PLAN = PartPlan(threshold=8, part_size=8, concurrency=1)
UPLOAD = uuid.UUID("12345678-9abc-4def-8123-456789abcdef")
LIST = {"restype": "container", "comp": "list", "include": "metadata", "maxresults": "2"}
BOX = {"restype": "container"}


def driver(script: Script, **options: Any) -> AzureBlobsStorageDriver:
    options.setdefault("retry", RetryPolicy(max_attempts=1))
    return AzureBlobsStorageDriver("acct", KEY, endpoint=EP, page_size=2, part_plan=PLAN,
                                   **options, **script.options())


def results(inner: str, marker: str | None = None) -> str:
    following = f"<NextMarker>{marker}</NextMarker>" if marker else "<NextMarker/>"
    return (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults '
            f'ServiceEndpoint="{EP}">{inner}{following}</EnumerationResults>')


def blob(name: str, size: int = 3, md5: str = "") -> str:
    return (f"<Blob><Name>{name}</Name><Properties><Content-Length>{size}</Content-Length>"
            f"<Content-MD5>{md5}</Content-MD5><Etag>0x8D1</Etag>"
            f"<Content-Type>text/plain</Content-Type><BlobType>BlockBlob</BlobType>"
            f"</Properties><Metadata><owner>alice</owner></Metadata></Blob>")


def fault(code: str, message: str = "oops") -> tuple[str, dict[str, str]]:
    body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}\nRequestId:r-1\nTime:2026-12-01T00:00:00Z</Message></Error>")
    return body, {"x-ms-error-code": code, "x-ms-request-id": "r-1"}


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def obj(name: str = "k", size: int = 10, azure: Any = None) -> Object:
    return Object(name, size, None, container=Container("box", driver=azure), driver=azure)


# -- listings ------------------------------------------------------------------------------


def test_blobs_are_listed_page_by_page_with_their_metadata(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{EP}/box", params=LIST).reply(200, text=results(
        f"<Blobs>{blob('b')}{blob('a', 5, md5_b64(b'hello'))}</Blobs>", "m-1"))
    script.expect("GET", f"{EP}/box", params={**LIST, "marker": "m-1"}).reply(
        200, text=results(f"<Blobs>{blob('c')}</Blobs>"))
    found = call(mode, driver(script), "list_container_objects", "box")
    assert [(o.name, o.size, o.meta_data) for o in found] == [
        ("a", 5, {"owner": "alice"}), ("b", 3, {"owner": "alice"}), ("c", 3, {"owner": "alice"})]
    # hash is the ETag (Libcloud's meaning); content_md5 the blob's Content-MD5.
    assert (found[0].hash, found[0].content_md5) == ("0x8D1", hashlib.md5(b"hello").hexdigest())
    assert (found[1].hash, found[1].content_md5) == ("0x8D1", None)
    script.assert_done()


def test_entries_hold_blob_prefixes(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{EP}/box", params={**LIST, "delimiter": "/"}).reply(
        200, text=results(f"<Blobs><BlobPrefix><Name>dir/</Name></BlobPrefix>{blob('top')}"
                          "</Blobs>"))
    entries = call(mode, driver(script), "list_container_entries", "box")
    assert [(type(e).__name__, e.name) for e in entries] == [("Prefix", "dir/"),
                                                             ("Object", "top")]


def test_containers_are_listed_and_a_repeated_marker_is_an_error(mode: str) -> None:
    script = Script()
    query = {"comp": "list", "maxresults": "2"}
    box = "<Container><Name>{}</Name><Properties><Etag>\"e\"</Etag></Properties></Container>"
    script.expect("GET", f"{EP}/", params=query).reply(200, text=results(
        f"<Containers>{box.format('one')}</Containers>", "m"))
    script.expect("GET", f"{EP}/", params={**query, "marker": "m"}).reply(200, text=results(
        f"<Containers>{box.format('two')}</Containers>", "m"))
    with pytest.raises(ProviderError, match="sent the marker 'm' a second time"):
        call(mode, driver(script), "list_containers")
    script.assert_done()


def test_an_answer_that_is_not_a_listing_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{EP}/box", params=LIST).reply(200, text="<BlockList/>")
    with pytest.raises(ProviderError, match="expected a EnumerationResults document"):
        call(mode, driver(script), "list_container_objects", "box")


@pytest.mark.parametrize("answer", ["<BlockList/>", "<html><h1>Welcome</h1></html>", "", "OK"],
                         ids=["other-document", "html", "empty", "text"])
def test_a_container_listing_that_is_not_one_is_an_error(mode: str, answer: str) -> None:
    script = Script()
    script.expect("GET", f"{EP}/", params={"comp": "list", "maxresults": "2"}).reply(
        200, text=answer)
    with pytest.raises(ProviderError):
        call(mode, driver(script), "list_containers")
    script.assert_done()


@pytest.mark.parametrize("answer", ["<BlockList/>", "<html><h1>Welcome</h1></html>", "", "OK"],
                         ids=["other-document", "html", "empty", "text"])
def test_a_container_is_not_deleted_on_an_answer_that_is_not_a_listing(
    mode: str, answer: str
) -> None:
    script = Script()
    script.expect("GET", f"{EP}/box", params={**BOX, "comp": "list", "maxresults": "1"}).reply(
        200, text=answer)
    with pytest.raises(ProviderError):
        call(mode, driver(script), "delete_container", "box")
    script.assert_done()  # no DELETE: a container that may hold blobs stays


# -- containers ----------------------------------------------------------------------------


def test_a_container_is_created_read_and_deleted_when_empty(mode: str) -> None:
    script = Script()
    script.expect("PUT", f"{EP}/box", params=BOX).reply(201, headers={"ETag": '"e1"'})
    script.expect("HEAD", f"{EP}/box", params=BOX).reply(200, headers={
        "ETag": '"e1"', "x-ms-meta-team": "ops"})
    script.expect("GET", f"{EP}/box", params={**BOX, "comp": "list",
                                              "maxresults": "1"}).reply(
        200, text=results("<Blobs/>"))
    script.expect("DELETE", f"{EP}/box", params=BOX).reply(202)
    azure = driver(script)
    assert call(mode, azure, "create_container", "box").extra["etag"] == "e1"
    assert call(mode, azure, "get_container", "box").extra["meta_data"] == {"team": "ops"}
    assert call(mode, azure, "delete_container", "box") is True
    script.assert_done()


def test_a_container_that_holds_a_blob_is_not_deleted(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{EP}/box", params={**BOX, "comp": "list", "maxresults": "1"}).reply(
        200, text=results(f"<Blobs>{blob('x')}</Blobs>"))
    with pytest.raises(ContainerIsNotEmpty):
        call(mode, driver(script), "delete_container", "box")
    script.assert_done()  # no DELETE: Azure would delete the blobs with it


def test_a_container_that_exists_and_a_lost_create(mode: str) -> None:
    script = Script()
    body, headers = fault("ContainerAlreadyExists", "The specified container already exists.")
    script.expect("PUT", f"{EP}/taken", params=BOX).reply(409, text=body, headers=headers)
    script.expect("PUT", f"{EP}/lost", params=BOX).fail(sent=True)
    script.expect("HEAD", f"{EP}/lost", params=BOX).reply(200, headers={"ETag": '"e2"'})
    azure = driver(script)
    with pytest.raises(ContainerAlreadyExists, match="'taken'"):
        call(mode, azure, "create_container", "taken")
    assert call(mode, azure, "create_container", "lost").extra["etag"] == "e2"
    script.assert_done()


# -- objects -------------------------------------------------------------------------------


def test_get_object_reads_properties_and_metadata(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{EP}/box/dir/a%20b").reply(200, headers={
        "Content-Length": "5", "Content-MD5": md5_b64(b"hello"), "ETag": '"0x8D2"',
        "Content-Type": "text/x", "x-ms-meta-Owner": "alice", "x-ms-blob-type": "BlockBlob",
        "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"})
    got = call(mode, driver(script), "get_object", "box", "dir/a b")
    assert (got.size, got.hash, got.content_md5, got.content_type, got.meta_data) == (
        5, '"0x8D2"', hashlib.md5(b"hello").hexdigest(), "text/x", {"Owner": "alice"})
    assert got.extra["etag"] == "0x8D2" and got.extra["blob_type"] == "BlockBlob"


def test_a_missing_blob_and_a_missing_container_are_named(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{EP}/box/nope").reply(404, headers={"x-ms-error-code": "BlobNotFound"})
    script.expect("HEAD", f"{EP}/gone/k").reply(
        404, headers={"x-ms-error-code": "ContainerNotFound"})
    azure = driver(script)
    with pytest.raises(ObjectNotFound, match="'box/nope'"):
        call(mode, azure, "get_object", "box", "nope")
    with pytest.raises(ContainerNotFound, match="'gone'"):
        call(mode, azure, "get_object", "gone", "k")


def test_a_small_blob_goes_up_in_one_put_blob(mode: str) -> None:
    script = Script()
    data = b"tiny bod"
    script.expect("PUT", f"{EP}/box/n.txt", body=data, headers={
        "x-ms-blob-type": "BlockBlob", "Content-MD5": md5_b64(data),
        "x-ms-blob-content-type": "text/plain", "x-ms-meta-k": "v"}).reply(
        201, headers={"ETag": '"0x8D3"'})
    made = call(mode, driver(script), "upload_object_via_stream", iter([data]), "box", "n.txt",
                meta_data={"k": "v"})
    assert (made.size, made.hash, made.content_md5, made.extra["etag"]) == (
        len(data), '"0x8D3"', hashlib.md5(data).hexdigest(), "0x8D3")
    script.assert_done()


def _block(number: int) -> str:
    return base64.b64encode(f"{UPLOAD.hex[:16]}-{number:07d}".encode()).decode()


def test_a_large_blob_goes_up_in_blocks_committed_with_the_whole_md5(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("overcast.storage.drivers.azure_blobs.uuid.uuid4", lambda: UPLOAD)
    script = Script()
    data = b"0123456789abcdefXY"
    for number, part in enumerate((data[:8], data[8:16], data[16:]), 1):
        script.expect("PUT", f"{EP}/box/big", body=part, headers={"Content-MD5": md5_b64(part)},
                      params={"comp": "block", "blockid": _block(number)}).reply(201)

    def commit(sent: Sent) -> bool:
        return "".join(f"<Latest>{_block(n)}</Latest>" for n in (1, 2, 3)) in sent.text

    script.expect("PUT", f"{EP}/box/big", params={"comp": "blocklist"},
                  headers={"x-ms-blob-content-md5": md5_b64(data)}, match=commit).reply(
        201, headers={"ETag": '"0x8D4"'})
    made = call(mode, driver(script), "upload_object_via_stream", iter([data]), "box", "big")
    assert (made.size, made.hash, made.content_md5) == (
        len(data), '"0x8D4"', hashlib.md5(data).hexdigest())
    script.assert_done()


def test_a_failed_block_commits_nothing(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("overcast.storage.drivers.azure_blobs.uuid.uuid4", lambda: UPLOAD)
    script = Script()
    body, headers = fault("Md5Mismatch", "The MD5 value specified in the request did not match")
    script.expect("PUT", f"{EP}/box/big", params={"comp": "block",
                                                  "blockid": _block(1)}).reply(201)
    script.expect("PUT", f"{EP}/box/big", params={"comp": "block",
                                                  "blockid": _block(2)}).reply(
        400, text=body, headers=headers)
    with pytest.raises(IntegrityError, match="Md5Mismatch"):
        call(mode, driver(script), "upload_object_via_stream", iter([b"z" * 20]), "box", "big")
    script.assert_done()  # no block list: no blob appears


def test_a_chunk_that_is_not_bytes_mid_stream_commits_nothing(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("overcast.storage.drivers.azure_blobs.uuid.uuid4", lambda: UPLOAD)
    script = Script()
    script.expect("PUT", f"{EP}/box/big", body=b"x" * 8,
                  params={"comp": "block", "blockid": _block(1)}).reply(201)
    with pytest.raises(InvalidInput, match="bytes"):
        call(mode, driver(script), "upload_object_via_stream",
             iter([b"x" * 8, b"y" * 8, None]), "box", "big")
    script.assert_done()  # no block list: no blob appears


def test_a_copy_waits_for_the_service_then_reads_the_copy(mode: str) -> None:
    script = Script()
    script.expect("PUT", f"{EP}/box/copy", headers={"x-ms-copy-source": f"{EP}/box/k"}).reply(
        202, headers={"x-ms-copy-status": "success"})
    script.expect("HEAD", f"{EP}/box/copy").reply(200, headers={"Content-Length": "10"})
    body, headers = fault("CannotVerifyCopySource", "The specified blob does not exist.")
    script.expect("PUT", f"{EP}/box/copy").reply(404, text=body, headers=headers)
    azure = driver(script)
    assert call(mode, azure, "copy_object", obj(azure=azure), "box", "copy").size == 10
    with pytest.raises(ObjectNotFound, match="'box/k'"):
        call(mode, azure, "copy_object", obj(azure=azure), "box", "copy")
    script.assert_done()


def test_a_pending_copy_is_looked_at_with_growing_pauses_until_it_ends(
        mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    paused = record_pauses(monkeypatch)
    script = Script()
    script.expect("PUT", f"{EP}/box/copy", headers={"x-ms-copy-source": f"{EP}/box/k"}).reply(
        202, headers={"x-ms-copy-status": "pending", "x-ms-copy-id": "c-1"})
    for status in ("pending", "pending", "success"):
        script.expect("HEAD", f"{EP}/box/copy").reply(
            200, headers={"x-ms-copy-status": status, "Content-Length": "10"})
    script.expect("HEAD", f"{EP}/box/copy").reply(200, headers={"Content-Length": "10"})
    script.expect("PUT", f"{EP}/box/copy").reply(
        202, headers={"x-ms-copy-status": "pending", "x-ms-copy-id": "c-2"})
    script.expect("HEAD", f"{EP}/box/copy").reply(
        200, headers={"x-ms-copy-status": "aborted", "Content-Length": "0"})
    azure = driver(script)
    assert call(mode, azure, "copy_object", obj(azure=azure), "box", "copy").size == 10
    with pytest.raises(ProviderError, match="ended as 'aborted'"):
        call(mode, azure, "copy_object", obj(azure=azure), "box", "copy")
    assert [p for p in paused if p in (0.05, 0.1, 0.2)] == [0.05, 0.1, 0.2, 0.05]
    script.assert_done()


# -- downloads -----------------------------------------------------------------------------


def test_a_range_is_read_with_x_ms_range(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{EP}/box/k", headers={"x-ms-range": "bytes=3-"}).reply(
        206, body=b"3456789", headers={"Content-Length": "7"})
    azure = driver(script)
    assert call(mode, azure, "download_object_range_as_stream", obj(azure=azure), 3) == (
        b"3456789")
    script.assert_done()


def test_a_full_read_is_checked_against_the_content_md5(mode: str) -> None:
    script = Script()
    data = b"0123456789"
    headers = {"Content-MD5": md5_b64(data), "Content-Length": "10"}
    script.expect("GET", f"{EP}/box/k").reply(200, body=data, headers=headers)
    script.expect("GET", f"{EP}/box/k").reply(200, body=b"0123456788", headers=headers)
    azure = driver(script)
    assert call(mode, azure, "download_object_as_stream", obj(azure=azure)) == data
    with pytest.raises(IntegrityError, match="md5 is"):
        call(mode, azure, "download_object_as_stream", obj(azure=azure))
    script.assert_done()


# -- errors --------------------------------------------------------------------------------


def test_refused_credentials_name_the_code_and_hide_the_signature(mode: str) -> None:
    script = Script()
    signature = base64.b64encode(b"s" * 32).decode()
    body, headers = fault("AuthenticationFailed",
                          f"The MAC signature found in the HTTP request '{signature}' is not "
                          "the same as any computed signature.")
    script.expect("HEAD", f"{EP}/box/k").reply(403, text=body, headers=headers)
    with pytest.raises(InvalidCredentials, match=r"\(AuthenticationFailed\)") as info:
        call(mode, driver(script), "get_object", "box", "k")
    assert signature not in str(info.value) and KEY not in str(info.value)


def test_server_busy_is_retried_even_for_a_create_then_rate_limited(mode: str) -> None:
    script = Script()
    body, headers = fault("ServerBusy", "The server is busy.")
    for status in (503, 201, 503, 503):
        script.expect("PUT", f"{EP}/busy", params=BOX).reply(
            status, text=body if status == 503 else "", headers=headers if status == 503 else {})
    azure = driver(script, retry=RetryPolicy(max_attempts=2, base=0, cap=0))
    assert call(mode, azure, "create_container", "busy").name == "busy"
    with pytest.raises(RateLimited):
        call(mode, azure, "create_container", "busy")
    script.assert_done()


def test_a_server_error_keeps_its_code_and_request_id(mode: str) -> None:
    script = Script()
    body, headers = fault("InternalError", "The server encountered an internal error.")
    script.expect("DELETE", f"{EP}/box/k").reply(500, text=body, headers=headers)
    azure = driver(script)
    with pytest.raises(ProviderError) as info:
        call(mode, azure, "delete_object", obj(azure=azure))
    assert (info.value.status, info.value.code, info.value.request_id) == (
        500, "InternalError", "r-1")
    assert "RequestId" not in str(info.value)  # the message's first line only


# -- invalid input -------------------------------------------------------------------------


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    azure = driver(script)
    for bad in ("ab", "UPPER", "a--b", "-start", "a/b"):
        with pytest.raises(InvalidInput):
            call(mode, azure, "create_container", bad)
    for name in ("", "a//b", "x/../y", "tab\there"):
        with pytest.raises(InvalidInput):
            call(mode, azure, "get_object", "box", name)
    with pytest.raises(InvalidInput):
        call(mode, azure, "upload_object_via_stream", iter([b"x"]), "box", "k",
             meta_data={"not-an-identifier": "v"})
    with pytest.raises(InvalidInput):
        call(mode, azure, "upload_object_via_stream", iter([b"x"]), "box", "k",
             headers={"Authorization": "mine"})
    with pytest.raises(InvalidInput):
        AzureBlobsStorageDriver("acct", KEY, endpoint="http://azure.test/?sig=x")
    with pytest.raises(InvalidInput):
        AzureBlobsStorageDriver("acct", KEY, endpoint=EP, page_size=5001)
    script.assert_done()
    assert script.received == []
