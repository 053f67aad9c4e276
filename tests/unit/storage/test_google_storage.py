"""The Google Cloud Storage driver on the scripted transport: the requests it
sends and how it reads the answers, in both modes, without a server."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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
from overcast.storage.checks import checksum_b64
from overcast.storage.checks import crc32c_function
from overcast.storage.drivers.google_storage import GoogleStorageDriver
from overcast.storage.transfer import PartPlan
from overcast.testing import Script
from overcast.testing import Sent
from overcast.testing import call

EP = "http://gcs.test"
API = f"{EP}/storage/v1"
UPLOAD = f"{EP}/upload/storage/v1/b/bkt/o"
SESSION = f"{EP}/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=s-1"
TOKEN_URL = "https://oauth2.example/token"
CHUNK = 256 * 1024
PLAN = PartPlan(threshold=CHUNK, part_size=CHUNK, alignment=CHUNK, sequential=True,
                concurrency=1)


def driver(script: Script, **options: Any) -> GoogleStorageDriver:
    options.setdefault("retry", RetryPolicy(max_attempts=1))
    options.setdefault("anonymous", True)
    return GoogleStorageDriver(project="proj", endpoint=EP, page_size=2, part_plan=PLAN,
                               **options, **script.options())


@functools.cache
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def hashes(data: bytes) -> dict[str, str]:
    extend = crc32c_function()
    assert extend is not None, "google-crc32c is a test dependency"
    return {"md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "crc32c": checksum_b64("crc32c", extend(0, data))}


def item(name: str, data: bytes = b"abc", **fields: Any) -> dict[str, Any]:
    return {"kind": "storage#object", "name": name, "bucket": "bkt", "size": str(len(data)),
            "generation": "7", "contentType": "text/plain", "updated": "2026-12-01T10:00:00Z",
            **hashes(data), **fields}


def google_error(status: int, reason: str, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message,
                      "errors": [{"message": message, "domain": "global", "reason": reason}]}}


def obj(name: str = "k", size: int = 10, gcs: Any = None) -> Object:
    return Object(name, size, None, container=Container("bkt", driver=gcs), driver=gcs)


# -- listings ------------------------------------------------------------------------------


def test_objects_are_listed_page_by_page_with_page_tokens(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/b/bkt/o", params={"maxResults": "2", "prefix": "p/"}).reply(
        200, json={"items": [item("p/a"), item("p/b")], "nextPageToken": "t-1"})
    script.expect("GET", f"{API}/b/bkt/o", params={"maxResults": "2", "prefix": "p/",
                                                  "pageToken": "t-1"}).reply(
        200, json={"items": [item("p/c", b"hello")]})
    found = call(mode, driver(script), "list_container_objects", "bkt", "p/")
    assert [(o.name, o.size) for o in found] == [("p/a", 3), ("p/b", 3), ("p/c", 5)]
    assert found[2].hash == hashlib.md5(b"hello").hexdigest()
    script.assert_done()


def test_prefixes_sent_with_the_first_page_are_merged_in_order(mode: str) -> None:
    script = Script()
    query = {"maxResults": "2", "delimiter": "/"}
    script.expect("GET", f"{API}/b/bkt/o", params=query).reply(
        200, json={"items": [item("a")], "prefixes": ["b/", "d/"], "nextPageToken": "t"})
    script.expect("GET", f"{API}/b/bkt/o", params={**query, "pageToken": "t"}).reply(
        200, json={"items": [item("c")]})
    entries = call(mode, driver(script), "list_container_entries", "bkt")
    assert [(type(e).__name__, e.name) for e in entries] == [
        ("Object", "a"), ("Prefix", "b/"), ("Object", "c"), ("Prefix", "d/")]
    script.assert_done()


def test_a_page_token_sent_twice_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/b", params={"project": "proj", "maxResults": "2"}).reply(
        200, json={"items": [{"name": "one"}], "nextPageToken": "t"})
    script.expect("GET", f"{API}/b", params={"project": "proj", "maxResults": "2",
                                             "pageToken": "t"}).reply(
        200, json={"items": [{"name": "two"}], "nextPageToken": "t"})
    with pytest.raises(ProviderError, match="sent the token 't' a second time"):
        call(mode, driver(script), "list_containers")
    script.assert_done()


# -- containers ----------------------------------------------------------------------------


def test_a_bucket_is_created_read_and_deleted(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{API}/b", params={"project": "proj"}, json={"name": "bkt"}).reply(
        200, json={"name": "bkt", "location": "EU"})
    script.expect("GET", f"{API}/b/bkt").reply(200, json={"name": "bkt", "location": "EU"})
    script.expect("DELETE", f"{API}/b/bkt").reply(204)
    gcs = driver(script)
    assert call(mode, gcs, "create_container", "bkt").extra["location"] == "EU"
    assert call(mode, gcs, "get_container", "bkt").name == "bkt"
    assert call(mode, gcs, "delete_container", "bkt") is True
    script.assert_done()


def test_a_bucket_that_exists_a_lost_create_and_a_bucket_not_empty(mode: str) -> None:
    script = Script()
    project = {"project": "proj"}
    script.expect("POST", f"{API}/b", params=project).reply(409, json=google_error(
        409, "conflict", "Your previous request to create the named bucket succeeded"))
    script.expect("POST", f"{API}/b", params=project).fail(sent=True)
    script.expect("GET", f"{API}/b/lost").reply(200, json={"name": "lost"})
    script.expect("DELETE", f"{API}/b/full").reply(409, json=google_error(
        409, "conflict", "The bucket you tried to delete is not empty."))
    gcs = driver(script)
    with pytest.raises(ContainerAlreadyExists, match="'taken'"):
        call(mode, gcs, "create_container", "taken")
    assert call(mode, gcs, "create_container", "lost").name == "lost"
    with pytest.raises(ContainerIsNotEmpty):
        call(mode, gcs, "delete_container", "full")
    script.assert_done()


# -- objects -------------------------------------------------------------------------------


def test_get_object_reads_its_metadata(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/b/bkt/o/dir%2Fa%20b").reply(
        200, json=item("dir/a b", b"hello", metadata={"owner": "alice"}))
    got = call(mode, driver(script), "get_object", "bkt", "dir/a b")
    assert (got.name, got.size, got.hash, got.meta_data) == (
        "dir/a b", 5, hashlib.md5(b"hello").hexdigest(), {"owner": "alice"})
    assert got.extra["generation"] == "7"


def test_a_missing_object_and_a_missing_bucket_are_named(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/b/bkt/o/nope").reply(
        404, json=google_error(404, "notFound", "No such object: bkt/nope"))
    script.expect("GET", f"{API}/b/gone/o/k").reply(
        404, json=google_error(404, "notFound", "The specified bucket does not exist."))
    gcs = driver(script)
    with pytest.raises(ObjectNotFound, match="'bkt/nope'"):
        call(mode, gcs, "get_object", "bkt", "nope")
    with pytest.raises(ContainerNotFound, match="'gone'"):
        call(mode, gcs, "get_object", "gone", "k")


def test_a_small_object_goes_up_in_one_request_and_is_compared(mode: str) -> None:
    script = Script()
    data = b"small"

    def carries(sent: Sent) -> bool:
        rest = sent.body.partition(b"\r\n\r\n")[2]
        meta = json.loads(rest.split(b"\r\n", 1)[0])
        return (meta["md5Hash"], meta["crc32c"]) == tuple(hashes(data).values()) and (
            data in sent.body and meta["metadata"] == {"k": "v"})

    script.expect("POST", UPLOAD, params={"uploadType": "multipart"}, match=carries).reply(
        200, json=item("n", data, metadata={"k": "v"}))
    made = call(mode, driver(script), "upload_object_via_stream", iter([data]), "bkt", "n",
                meta_data={"k": "v"})
    assert (made.size, made.hash) == (len(data), hashlib.md5(data).hexdigest())
    script.assert_done()


def test_a_stored_object_that_differs_is_deleted_and_refused(mode: str) -> None:
    script = Script()
    script.expect("POST", UPLOAD, params={"uploadType": "multipart"}).reply(
        200, json=item("n", b"other"))
    script.expect("DELETE", f"{API}/b/bkt/o/n", params={"ifGenerationMatch": "7"}).reply(204)
    with pytest.raises(IntegrityError, match="does not match the data sent"):
        call(mode, driver(script), "upload_object_via_stream", iter([b"small"]), "bkt", "n")
    script.assert_done()


def test_a_large_object_goes_up_in_resumable_chunks(mode: str) -> None:
    script = Script()
    data = bytes(range(256)) * 1024 + b"tail"  # one full chunk and a short last one
    script.expect("POST", UPLOAD, params={"uploadType": "resumable"},
                  json={"name": "big", "contentType": "application/octet-stream"}).reply(
        200, headers={"Location": SESSION})
    script.expect("PUT", SESSION, body=data[:CHUNK],
                  headers={"Content-Range": f"bytes 0-{CHUNK - 1}/*"}).reply(
        308, headers={"Range": f"bytes=0-{CHUNK - 1}"})
    script.expect("PUT", SESSION, body=data[CHUNK:],
                  headers={"Content-Range": f"bytes {CHUNK}-{len(data) - 1}/{len(data)}"}).reply(
        200, json=item("big", data))
    made = call(mode, driver(script), "upload_object_via_stream", iter([data]), "bkt", "big",
                content_type="application/octet-stream")
    assert made.size == len(data)
    script.assert_done()


def test_a_failed_chunk_cancels_the_session(mode: str) -> None:
    script = Script()
    script.expect("POST", UPLOAD, params={"uploadType": "resumable"}).reply(
        200, headers={"Location": SESSION})
    script.expect("PUT", SESSION).reply(503, json=google_error(503, "backendError", "try later"))
    script.expect("DELETE", SESSION).reply(499)
    with pytest.raises(ProviderError, match="try later"):
        call(mode, driver(script), "upload_object_via_stream", iter([b"x" * (CHUNK + 1)]),
             "bkt", "big")
    script.assert_done()


# -- downloads -----------------------------------------------------------------------------


def test_a_chunk_that_is_not_bytes_mid_stream_cancels_the_session(mode: str) -> None:
    script = Script()
    script.expect("POST", UPLOAD, params={"uploadType": "resumable"}).reply(
        200, headers={"Location": SESSION})
    script.expect("PUT", SESSION, body=b"x" * CHUNK,
                  headers={"Content-Range": f"bytes 0-{CHUNK - 1}/*"}).reply(
        308, headers={"Range": f"bytes=0-{CHUNK - 1}"})
    script.expect("DELETE", SESSION).reply(499)
    with pytest.raises(InvalidInput, match="bytes"):
        call(mode, driver(script), "upload_object_via_stream",
             iter([b"x" * CHUNK, b"y" * CHUNK, 5]), "bkt", "big")
    script.assert_done()


def test_a_range_is_read_with_alt_media(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/b/bkt/o/k", params={"alt": "media"},
                  headers={"Range": "bytes=1-3"}).reply(206, body=b"123",
                                                         headers={"Content-Length": "3"})
    gcs = driver(script)
    assert call(mode, gcs, "download_object_range_as_stream", obj(gcs=gcs), 1, 4) == b"123"
    script.assert_done()


def test_a_full_read_is_checked_against_x_goog_hash(mode: str) -> None:
    script = Script()
    data = b"0123456789"
    sums = hashes(data)
    goog = {"X-Goog-Hash": f"crc32c={sums['crc32c']},md5={sums['md5Hash']}",
            "Content-Length": "10"}
    script.expect("GET", f"{API}/b/bkt/o/k", params={"alt": "media"}).reply(
        200, body=data, headers=goog)
    script.expect("GET", f"{API}/b/bkt/o/k", params={"alt": "media"}).reply(
        200, body=b"0123456788", headers=goog)
    gcs = driver(script)
    assert call(mode, gcs, "download_object_as_stream", obj(gcs=gcs)) == data
    with pytest.raises(IntegrityError, match="crc32c is"):
        call(mode, gcs, "download_object_as_stream", obj(gcs=gcs))
    script.assert_done()


# -- auth and errors -----------------------------------------------------------------------


def _token(script: Script, value: str) -> None:
    script.expect("POST", TOKEN_URL, match=lambda sent: b"jwt-bearer" in sent.body).reply(
        200, json={"access_token": value, "expires_in": 3600, "token_type": "Bearer"})


def test_a_token_refused_with_a_401_is_renewed_once(mode: str) -> None:
    script = Script()
    _token(script, "tok-1")
    script.expect("GET", f"{API}/b/bkt", headers={"Authorization": "Bearer tok-1"}).reply(
        401, json=google_error(401, "authError", "Invalid Credentials"))
    _token(script, "tok-2")
    script.expect("GET", f"{API}/b/bkt", headers={"Authorization": "Bearer tok-2"}).reply(
        200, json={"name": "bkt"})
    info = {"type": "service_account", "client_email": "st@proj.iam.example",
            "private_key": private_key_pem(), "token_uri": TOKEN_URL}
    gcs = driver(script, anonymous=False, credentials_info=info)
    assert call(mode, gcs, "get_container", "bkt").name == "bkt"
    script.assert_done()


def test_errors_map_to_their_kinds(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/b/bkt").reply(
        403, json=google_error(403, "forbidden", "no access to bkt"))
    script.expect("GET", f"{API}/b/bkt").reply(
        429, json=google_error(429, "rateLimitExceeded", "slow down"))
    script.expect("GET", f"{API}/b/bkt").reply(
        500, json=google_error(500, "backendError", "boom"),
        headers={"x-guploader-uploadid": "u-1"})
    gcs = driver(script)
    with pytest.raises(InvalidCredentials, match=r"\(forbidden\)"):
        call(mode, gcs, "get_container", "bkt")
    with pytest.raises(RateLimited):
        call(mode, gcs, "get_container", "bkt")
    with pytest.raises(ProviderError) as raised:
        call(mode, gcs, "get_container", "bkt")
    assert (raised.value.status, raised.value.code, raised.value.request_id) == (
        500, "backendError", "u-1")
    script.assert_done()


# -- invalid input -------------------------------------------------------------------------


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    gcs = driver(script)
    for bad in ("ab", "UPPER", "goog-x", "a..b", "192.168.1.1"):
        with pytest.raises(InvalidInput):
            call(mode, gcs, "create_container", bad)
    for name in ("", "a//b", "line\nbreak", ".well-known/acme-challenge/x"):
        with pytest.raises(InvalidInput):
            call(mode, gcs, "get_object", "bkt", name)
    with pytest.raises(InvalidInput):
        call(mode, gcs, "upload_object_via_stream", iter([b"x"]), "bkt", "k",
             extra={"acl": "private"})  # Google takes no extra keys
    with pytest.raises(InvalidInput):
        GoogleStorageDriver(anonymous=True, part_plan=PartPlan(part_size=100_000))
    with pytest.raises(InvalidInput):
        GoogleStorageDriver(anonymous=True, endpoint="gcs.test")
    script.assert_done()
    assert script.received == []
