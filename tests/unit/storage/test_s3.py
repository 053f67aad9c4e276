"""The S3 driver on the scripted transport: the requests it sends and how it
reads the answers, in both modes, without a server."""

from __future__ import annotations

import base64
import hashlib
import random
import zlib
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
from overcast.storage.base import Prefix
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.storage.transfer import PartPlan
from overcast.testing import Script
from overcast.testing import call

S3 = "http://s3.test"
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
PLAN = PartPlan(threshold=8, part_size=8, concurrency=1)


def driver(script: Script, **options: Any) -> S3StorageDriver:
    options.setdefault("retry", RetryPolicy(max_attempts=1))
    return S3StorageDriver("AKIDUNIT", "unit-secret", endpoint=S3, page_size=2,
                           part_plan=PLAN, **options, **script.options())


def doc(root: str, inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} {NS}>{inner}</{root}>'


def error(code: str, message: str = "") -> str:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"


def listing(keys: list[str], token: str | None = None, prefixes: list[str] = ()) -> str:
    contents = "".join(f"<Contents><Key>{k}</Key><Size>{len(k)}</Size><ETag>\"e\"</ETag>"
                       f"<LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>"
                       for k in keys)
    common = "".join(f"<CommonPrefixes><Prefix>{p}</Prefix></CommonPrefixes>"
                     for p in prefixes)
    more = (f"<IsTruncated>true</IsTruncated><NextContinuationToken>{token}"
            "</NextContinuationToken>" if token else "<IsTruncated>false</IsTruncated>")
    return doc("ListBucketResult",
               f"<Name>b</Name><EncodingType>url</EncodingType>{contents}{common}{more}")


def page_query(token: str | None = None, **more: str) -> dict[str, str]:
    query = {"list-type": "2", "encoding-type": "url", "max-keys": "2", **more}
    if token:
        query["continuation-token"] = token
    return query


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def obj(name: str = "k", size: int = 10, s3: S3StorageDriver | None = None) -> Object:
    return Object(name, size, None, container=Container("b", driver=s3), driver=s3)


# -- listings ------------------------------------------------------------------------------


def test_objects_are_listed_page_by_page_with_continuation_tokens(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b", params=page_query()).reply(200, text=listing(
        ["a", "b%20c"], "t-1"))
    script.expect("GET", f"{S3}/b", params=page_query("t-1")).reply(200, text=listing(["d"]))
    found = call(mode, driver(script), "list_container_objects", "b")
    assert [(o.name, o.size, o.container.name) for o in found] == [
        ("a", 1, "b"), ("b c", 5, "b"), ("d", 1, "b")]  # keys come URL-encoded
    assert found[0].last_modified is not None and found[0].last_modified.year == 2026
    script.assert_done()


def test_entries_merge_objects_and_prefixes_in_name_order(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b", params=page_query(delimiter="/", prefix="p/")).reply(
        200, text=listing(["p/z"], prefixes=["p/a/"]))
    entries = call(mode, driver(script), "list_container_entries", "b", "p/")
    assert [(type(e).__name__, e.name) for e in entries] == [("Prefix", "p/a/"),
                                                             ("Object", "p/z")]
    assert isinstance(entries[0], Prefix)
    script.assert_done()


def test_a_continuation_token_sent_twice_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b", params=page_query()).reply(200, text=listing(["a"], "t"))
    script.expect("GET", f"{S3}/b", params=page_query("t")).reply(200, text=listing(["b"], "t"))
    with pytest.raises(ProviderError, match="sent the token 't' a second time"):
        call(mode, driver(script), "list_container_objects", "b")
    script.assert_done()


def test_a_truncated_page_without_a_token_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b", params=page_query()).reply(200, text=doc(
        "ListBucketResult", "<Contents><Key>a</Key></Contents><IsTruncated>true</IsTruncated>"))
    with pytest.raises(ProviderError, match="truncated but gave no continuation token"):
        call(mode, driver(script), "list_container_objects", "b")


def test_an_answer_that_is_not_a_listing_is_an_error_not_an_empty_listing(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b", params=page_query()).reply(
        200, text=doc("ListAllMyBucketsResult", "<Buckets/>"))
    with pytest.raises(ProviderError, match="expected a ListBucketResult document"):
        call(mode, driver(script), "list_container_objects", "b")


#: 200 answers that are not the document asked for: another S3 document, a page of
#: a proxy or captive portal, nothing, plain text.
NOT_THE_DOCUMENT = {
    "other-document": doc("ListBucketResult", "<Name>b</Name><IsTruncated>false</IsTruncated>"),
    "html": "<html><body><h1>Welcome</h1></body></html>",
    "empty": "",
    "text": "OK",
}


@pytest.mark.parametrize("answer", sorted(NOT_THE_DOCUMENT))
def test_a_bucket_listing_that_is_not_one_is_an_error_not_no_buckets(
    mode: str, answer: str
) -> None:
    script = Script()
    script.expect("GET", f"{S3}/").reply(200, text=NOT_THE_DOCUMENT[answer])
    with pytest.raises(ProviderError):
        call(mode, driver(script), "list_containers")
    script.assert_done()


@pytest.mark.parametrize("answer", ["html", "empty", "text"])
def test_an_object_listing_that_is_not_one_is_an_error_not_no_objects(
    mode: str, answer: str
) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b", params=page_query()).reply(
        200, text=NOT_THE_DOCUMENT[answer])
    with pytest.raises(ProviderError):
        call(mode, driver(script), "list_container_objects", "b")
    script.assert_done()


@pytest.mark.parametrize("answer", sorted(NOT_THE_DOCUMENT))
def test_a_multipart_start_that_is_not_one_sends_no_part(mode: str, answer: str) -> None:
    script = Script()
    body = NOT_THE_DOCUMENT[answer].replace("<Name>b</Name>", "<UploadId>up-x</UploadId>")
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=body)
    with pytest.raises(ProviderError):
        call(mode, driver(script), "upload_object_via_stream", iter([b"x" * 20]), "b", "big")
    script.assert_done()


@pytest.mark.parametrize("answer", sorted(NOT_THE_DOCUMENT))
def test_a_multipart_complete_that_is_not_one_is_an_error_and_aborts(
    mode: str, answer: str
) -> None:
    script = Script()
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=doc(
        "InitiateMultipartUploadResult", "<UploadId>up-5</UploadId>"))
    for number in (1, 2):
        script.expect("PUT", f"{S3}/b/big", params={"partNumber": str(number),
                                                    "uploadId": "up-5"}).reply(
            200, headers={"ETag": f'"e{number}"'})
    body = NOT_THE_DOCUMENT[answer].replace("<Name>b</Name>", '<ETag>"whole-2"</ETag>')
    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-5"}).reply(200, text=body)
    script.expect("DELETE", f"{S3}/b/big", params={"uploadId": "up-5"}).reply(204)
    with pytest.raises(ProviderError):
        call(mode, driver(script), "upload_object_via_stream", iter([b"y" * 12]), "b", "big")
    script.assert_done()


@pytest.mark.parametrize("answer", sorted(NOT_THE_DOCUMENT))
def test_a_copy_answer_that_is_not_one_is_an_error(mode: str, answer: str) -> None:
    script = Script()
    script.expect("HEAD", f"{S3}/b/k").reply(200, headers={"Content-Length": "3",
                                                           "ETag": '"e"'})
    body = NOT_THE_DOCUMENT[answer].replace("<Name>b</Name>", '<ETag>"e"</ETag>')
    script.expect("PUT", f"{S3}/b/copy", headers={"x-amz-copy-source": "/b/k"}).reply(
        200, text=body)
    s3 = driver(script)
    with pytest.raises(ProviderError):
        call(mode, s3, "copy_object", obj(s3=s3), "b", "copy")
    script.assert_done()


@pytest.mark.parametrize("answer", sorted(NOT_THE_DOCUMENT))
def test_a_batch_delete_answer_that_is_not_one_is_an_error_not_all_deleted(
    mode: str, answer: str
) -> None:
    script = Script()
    script.expect("POST", f"{S3}/b", params={"delete": ""}).reply(
        200, text=NOT_THE_DOCUMENT[answer])
    with pytest.raises(ProviderError):
        call(mode, driver(script), "ex_delete_objects", "b", ["one", "two"])
    script.assert_done()


def test_buckets_are_listed_page_by_page(mode: str) -> None:
    script = Script()
    bucket = "<Bucket><Name>{}</Name><CreationDate>2026-01-01T00:00:00Z</CreationDate></Bucket>"
    script.expect("GET", f"{S3}/").reply(200, text=doc(
        "ListAllMyBucketsResult",
        f"<Buckets>{bucket.format('one')}</Buckets><ContinuationToken>n</ContinuationToken>"))
    script.expect("GET", f"{S3}/", params={"continuation-token": "n"}).reply(200, text=doc(
        "ListAllMyBucketsResult", f"<Buckets>{bucket.format('two')}</Buckets>"))
    assert [c.name for c in call(mode, driver(script), "list_containers")] == ["one", "two"]
    script.assert_done()


# -- containers ----------------------------------------------------------------------------


def test_a_bucket_is_created_after_looking_and_deleted(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{S3}/new-bucket").reply(404)
    script.expect("PUT", f"{S3}/new-bucket").reply(200)
    script.expect("DELETE", f"{S3}/new-bucket").reply(204)
    s3 = driver(script)
    made = call(mode, s3, "create_container", "new-bucket")
    assert (made.name, made.extra["region"]) == ("new-bucket", "us-east-1")
    assert call(mode, s3, "delete_container", made) is True
    script.assert_done()


def test_a_bucket_in_another_region_is_created_with_its_location(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{S3}/eu-bucket").reply(404)
    script.expect("PUT", f"{S3}/eu-bucket", match=lambda sent: b"<LocationConstraint>eu-west-1"
                  b"</LocationConstraint>" in sent.body).reply(200)
    call(mode, driver(script, region="eu-west-1"), "create_container", "eu-bucket")
    script.assert_done()


def test_a_bucket_that_exists_is_not_created_again(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{S3}/taken").reply(200)
    script.expect("HEAD", f"{S3}/other").reply(404)
    script.expect("PUT", f"{S3}/other").reply(409, text=error("BucketAlreadyExists", "taken"))
    with pytest.raises(ContainerAlreadyExists, match="'taken'"):
        call(mode, driver(script), "create_container", "taken")
    with pytest.raises(ContainerAlreadyExists, match="'other'"):
        call(mode, driver(script), "create_container", "other")
    script.assert_done()


def test_a_create_whose_answer_is_lost_is_looked_up_not_sent_twice(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{S3}/lost").reply(404)
    script.expect("PUT", f"{S3}/lost").fail(sent=True)
    script.expect("HEAD", f"{S3}/lost").reply(200, headers={"x-amz-bucket-region": "us-east-1"})
    made = call(mode, driver(script), "create_container", "lost")
    assert made.extra == {"region": "us-east-1"}
    script.assert_done()


def test_a_bucket_that_is_not_empty_is_not_deleted(mode: str) -> None:
    script = Script()
    script.expect("DELETE", f"{S3}/full").reply(409, text=error(
        "BucketNotEmpty", "The bucket you tried to delete is not empty"))
    with pytest.raises(ContainerIsNotEmpty, match="BucketNotEmpty"):
        call(mode, driver(script), "delete_container", "full")


# -- objects -------------------------------------------------------------------------------


def test_get_object_reads_its_metadata_from_head(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{S3}/b/dir/a%20b.txt").reply(200, headers={
        "Content-Length": "11", "ETag": '"0123456789abcdef0123456789abcdef"',
        "Content-Type": "text/plain", "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT",
        "x-amz-meta-Owner": "alice", "x-amz-version-id": "v7"})
    got = call(mode, driver(script), "get_object", "b", "dir/a b.txt")
    assert (got.name, got.size, got.hash, got.content_type) == (
        "dir/a b.txt", 11, "0123456789abcdef0123456789abcdef", "text/plain")
    assert got.meta_data == {"owner": "alice"}
    assert got.extra["version_id"] == "v7"
    assert got.last_modified is not None and got.last_modified.day == 1
    script.assert_done()


def test_a_missing_key_and_a_missing_bucket_are_told_apart(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{S3}/b/nope").reply(404)
    script.expect("HEAD", f"{S3}/b").reply(200)
    script.expect("HEAD", f"{S3}/gone/k").reply(404)
    script.expect("HEAD", f"{S3}/gone").reply(404)
    s3 = driver(script)
    with pytest.raises(ObjectNotFound, match="'b/nope'"):
        call(mode, s3, "get_object", "b", "nope")
    with pytest.raises(ContainerNotFound, match="'gone'"):
        call(mode, s3, "get_object", "gone", "k")
    script.assert_done()


def test_a_delete_looks_first_since_s3_answers_204_for_a_missing_key(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{S3}/b/k").reply(200, headers={"Content-Length": "1"})
    script.expect("DELETE", f"{S3}/b/k").reply(204)
    assert call(mode, driver(script), "delete_object", obj()) is True
    script.assert_done()


def test_a_small_object_goes_up_in_one_request_with_its_crc32(mode: str) -> None:
    script = Script()
    data = b"tiny bod"
    script.expect("PUT", f"{S3}/b/note.txt", body=data, headers={
        "x-amz-checksum-crc32": crc32(data), "Content-Type": "text/x-note",
        "x-amz-meta-owner": "alice", "x-amz-acl": "private", "Cache-Control": "no-cache",
    }).reply(200, headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'})
    made = call(mode, driver(script), "upload_object_via_stream", iter([data]), "b", "note.txt",
                extra={"acl": "private"}, headers={"Cache-Control": "no-cache"},
                content_type="text/x-note", meta_data={"Owner": "alice"})
    assert (made.size, made.hash, made.meta_data) == (len(data), hashlib.md5(data).hexdigest(),
                                                      {"owner": "alice"})
    script.assert_done()


def test_a_large_object_goes_up_in_parts_then_is_completed(mode: str) -> None:
    script = Script()
    data = b"0123456789abcdefXYZ"  # 8 + 8 + 3 bytes
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""},
                  headers={"x-amz-checksum-algorithm": "CRC32"}).reply(200, text=doc(
                      "InitiateMultipartUploadResult", "<UploadId>up-1</UploadId>"))
    for number, part in enumerate((data[:8], data[8:16], data[16:]), 1):
        script.expect("PUT", f"{S3}/b/big", body=part,
                      params={"partNumber": str(number), "uploadId": "up-1"},
                      headers={"x-amz-checksum-crc32": crc32(part)}).reply(
                          200, headers={"ETag": f'"etag-{number}"'})

    def completes(sent: Any) -> bool:
        text = sent.text
        return all(f"<PartNumber>{n}</PartNumber><ETag>\"etag-{n}\"</ETag>" in text
                   for n in (1, 2, 3)) and f"<ChecksumCRC32>{crc32(data[16:])}" in text

    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-1"}, match=completes).reply(
        200, text=doc("CompleteMultipartUploadResult", '<ETag>"whole-3"</ETag>'))
    made = call(mode, driver(script), "upload_object_via_stream", iter([data]), "b", "big")
    assert (made.size, made.hash) == (len(data), "whole-3")
    script.assert_done()


def test_a_failed_part_aborts_the_upload(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=doc(
        "InitiateMultipartUploadResult", "<UploadId>up-2</UploadId>"))
    script.expect("PUT", f"{S3}/b/big", params={"partNumber": "1", "uploadId": "up-2"}).reply(
        200, headers={"ETag": '"e1"'})
    script.expect("PUT", f"{S3}/b/big", params={"partNumber": "2", "uploadId": "up-2"}).reply(
        500, text=error("InternalError", "We encountered an internal error."))
    script.expect("DELETE", f"{S3}/b/big", params={"uploadId": "up-2"}).reply(204)
    with pytest.raises(ProviderError, match="internal error"):
        call(mode, driver(script), "upload_object_via_stream", iter([b"x" * 20]), "b", "big")
    script.assert_done()


def test_a_chunk_that_is_not_bytes_mid_stream_aborts_the_upload(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=doc(
        "InitiateMultipartUploadResult", "<UploadId>up-4</UploadId>"))
    script.expect("PUT", f"{S3}/b/big", body=b"x" * 8,
                  params={"partNumber": "1", "uploadId": "up-4"}).reply(
        200, headers={"ETag": '"e1"'})
    script.expect("DELETE", f"{S3}/b/big", params={"uploadId": "up-4"}).reply(204)
    with pytest.raises(InvalidInput, match="bytes"):
        call(mode, driver(script), "upload_object_via_stream",
             iter([b"x" * 8, b"y" * 8, "text"]), "b", "big")
    script.assert_done()  # no CompleteMultipartUpload: no object, and no upload left


def test_a_complete_answered_200_with_an_error_document_is_that_error(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=doc(
        "InitiateMultipartUploadResult", "<UploadId>up-3</UploadId>"))
    for number in (1, 2):
        script.expect("PUT", f"{S3}/b/big", params={"partNumber": str(number),
                                                    "uploadId": "up-3"}).reply(
            200, headers={"ETag": f'"e{number}"'})
    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-3"}).reply(
        200, text=error("InvalidPart", "One or more of the specified parts could not be found"))
    script.expect("DELETE", f"{S3}/b/big", params={"uploadId": "up-3"}).reply(204)
    with pytest.raises(InvalidInput, match="InvalidPart"):
        call(mode, driver(script), "upload_object_via_stream", iter([b"y" * 12]), "b", "big")
    script.assert_done()


def multipart_etag(*etags: str) -> str:
    digests = b"".join(bytes.fromhex(e) for e in etags)
    return f"{hashlib.md5(digests).hexdigest()}-{len(etags)}"


def uploads(*items: tuple[str, str, str]) -> str:
    """A ListMultipartUploads answer: (upload id, initiated, initiator id) for key big."""
    listed = "".join(
        f"<Upload><Key>big</Key><UploadId>{upload}</UploadId><Initiated>{when}</Initiated>"
        f"<Initiator><ID>{who}</ID></Initiator></Upload>" for upload, when, who in items
    )
    return doc("ListMultipartUploadsResult", f"<Bucket>b</Bucket>{listed}")


E1, E2 = "1" * 32, "2" * 32


def start_and_two_parts(script: Script, upload: str = "up-5") -> None:
    for number, etag in ((1, E1), (2, E2)):
        script.expect("PUT", f"{S3}/b/big",
                      params={"partNumber": str(number), "uploadId": upload}).reply(
            200, headers={"ETag": f'"{etag}"'})


def test_a_complete_whose_answer_is_lost_is_sent_again(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=doc(
        "InitiateMultipartUploadResult", "<UploadId>up-5</UploadId>"))
    start_and_two_parts(script)
    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-5"}).fail(sent=True)
    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-5"}).reply(
        200, text=doc("CompleteMultipartUploadResult", f'<ETag>"{multipart_etag(E1, E2)}"</ETag>'))
    made = call(mode, driver(script, retry=RetryPolicy(max_attempts=3, base=0)),
                "upload_object_via_stream", iter([b"z" * 12]), "b", "big")
    assert (made.size, made.hash) == (12, multipart_etag(E1, E2))
    script.assert_done()


def test_a_complete_that_had_taken_effect_is_confirmed_by_the_objects_etag(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=doc(
        "InitiateMultipartUploadResult", "<UploadId>up-5</UploadId>"))
    start_and_two_parts(script)
    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-5"}).reply(503, text="busy")
    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-5"}).reply(
        404, text=error("NoSuchUpload", "The specified upload does not exist."))
    script.expect("HEAD", f"{S3}/b/big").reply(
        200, headers={"ETag": f'"{multipart_etag(E1, E2)}"', "Content-Length": "12"})
    made = call(mode, driver(script, retry=RetryPolicy(max_attempts=3, base=0)),
                "upload_object_via_stream", iter([b"z" * 12]), "b", "big")
    assert (made.size, made.hash) == (12, multipart_etag(E1, E2))
    script.assert_done()


def test_a_complete_whose_upload_is_gone_and_object_is_not_ours_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=doc(
        "InitiateMultipartUploadResult", "<UploadId>up-5</UploadId>"))
    start_and_two_parts(script)
    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-5"}).reply(
        404, text=error("NoSuchUpload", "The specified upload does not exist."))
    script.expect("HEAD", f"{S3}/b/big").reply(
        200, headers={"ETag": '"someone-else"', "Content-Length": "3"})
    script.expect("DELETE", f"{S3}/b/big", params={"uploadId": "up-5"}).reply(404)
    with pytest.raises(ProviderError, match="upload does not exist"):
        call(mode, driver(script), "upload_object_via_stream", iter([b"z" * 12]), "b", "big")
    script.assert_done()


def test_a_create_whose_answer_is_lost_is_sent_again_and_its_stray_aborted(mode: str) -> None:
    """The lost create began up-1; the second began up-2. Listed with them: an
    upload of the same key begun an hour earlier, one by another initiator, and
    one in the window that holds a part: none of those three is touched."""
    script = Script()
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).fail(sent=True)
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=doc(
        "InitiateMultipartUploadResult", "<UploadId>up-2</UploadId>"))
    script.expect("GET", f"{S3}/b", params={"uploads": "", "prefix": "big"}).reply(
        200, text=uploads(("old", "2026-12-04T17:00:00.000Z", "me"),
                          ("up-1", "2026-12-04T18:00:00.000Z", "me"),
                          ("theirs", "2026-12-04T18:00:00.000Z", "someone"),
                          ("busy", "2026-12-04T18:00:00.500Z", "me"),
                          ("up-2", "2026-12-04T18:00:01.000Z", "me")))
    script.expect("GET", f"{S3}/b/big", params={"uploadId": "up-1"}).reply(
        200, text=doc("ListPartsResult", "<UploadId>up-1</UploadId>"))
    script.expect("DELETE", f"{S3}/b/big", params={"uploadId": "up-1"}).reply(204)
    script.expect("GET", f"{S3}/b/big", params={"uploadId": "busy"}).reply(
        200, text=doc("ListPartsResult", "<Part><PartNumber>1</PartNumber></Part>"))
    start_and_two_parts(script, "up-2")
    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-2"}).reply(
        200, text=doc("CompleteMultipartUploadResult", f'<ETag>"{multipart_etag(E1, E2)}"</ETag>'))
    made = call(mode, driver(script), "upload_object_via_stream", iter([b"z" * 12]), "b", "big")
    assert made.size == 12
    script.assert_done()


# -- downloads -----------------------------------------------------------------------------


def test_a_range_is_read_with_a_range_header(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b/k", headers={"Range": "bytes=2-5"}).reply(
        206, body=b"2345", headers={"Content-Length": "4"})
    s3 = driver(script)
    assert call(mode, s3, "download_object_range_as_stream", obj(s3=s3), 2, 6) == b"2345"
    script.assert_done()


def test_a_range_the_server_ignores_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b/k", headers={"Range": "bytes=2-5"}).reply(
        200, body=b"0123456789")
    s3 = driver(script)
    with pytest.raises(ProviderError, match="ignored the Range header"):
        call(mode, s3, "download_object_range_as_stream", obj(s3=s3), 2, 6)


def test_a_range_from_the_end_is_empty_and_one_past_it_is_refused(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b/k", headers={"Range": "bytes=10-"}).reply(
        416, text=error("InvalidRange"), headers={"Content-Range": "bytes */10"})
    script.expect("GET", f"{S3}/b/k", headers={"Range": "bytes=11-"}).reply(
        416, text=error("InvalidRange"), headers={"Content-Range": "bytes */10"})
    s3 = driver(script)
    assert call(mode, s3, "download_object_range_as_stream", obj(s3=s3), 10) == b""
    with pytest.raises(InvalidInput, match="past the object's size 10"):
        call(mode, s3, "download_object_range_as_stream", obj(s3=s3), 11)
    script.assert_done()


def test_an_empty_range_reads_nothing_but_the_object_must_exist(mode: str) -> None:
    script = Script()
    script.expect("HEAD", f"{S3}/b/k").reply(200, headers={"Content-Length": "10"})
    s3 = driver(script)
    assert call(mode, s3, "download_object_range_as_stream", obj(s3=s3), 4, 4) == b""
    script.assert_done()


def test_a_full_read_is_checked_against_the_objects_crc32(mode: str) -> None:
    script = Script()
    data = b"0123456789"
    headers = {"x-amz-checksum-crc32": crc32(data), "Content-Length": "10"}
    script.expect("GET", f"{S3}/b/k", headers={"x-amz-checksum-mode": "ENABLED"}).reply(
        200, body=data, headers=headers)
    script.expect("GET", f"{S3}/b/k").reply(200, body=b"0123456788", headers=headers)
    s3 = driver(script)
    assert call(mode, s3, "download_object_as_stream", obj(s3=s3)) == data
    with pytest.raises(IntegrityError, match="crc32 is"):
        call(mode, s3, "download_object_as_stream", obj(s3=s3))
    script.assert_done()


def test_a_full_read_without_a_checksum_is_checked_against_the_md5_etag(mode: str) -> None:
    script = Script()
    data = b"0123456789"
    etag = {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}
    script.expect("GET", f"{S3}/b/k").reply(200, body=b"0123456780", headers=etag)
    script.expect("GET", f"{S3}/b/k").reply(200, body=data[:9], headers={
        **etag, "Content-Length": "10"})
    s3 = driver(script)
    with pytest.raises(IntegrityError, match="md5 is"):
        call(mode, s3, "download_object_as_stream", obj(s3=s3))
    with pytest.raises(IntegrityError, match="got 9 bytes, expected 10"):
        call(mode, s3, "download_object_as_stream", obj(s3=s3))
    script.assert_done()


def test_a_large_read_streams(mode: str) -> None:
    script = Script()
    data = b"z" * 100
    script.expect("GET", f"{S3}/b/k").reply(200, body=data, headers={"Content-Length": "100"})
    s3 = driver(script)
    assert call(mode, s3, "download_object_as_stream", obj(size=-1, s3=s3)) == data
    script.assert_done()


# -- errors --------------------------------------------------------------------------------


def test_refused_credentials_name_the_code(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/").reply(403, text=error(
        "SignatureDoesNotMatch", "The request signature we calculated does not match"))
    with pytest.raises(InvalidCredentials, match=r"S3 refused the credentials "
                                                 r"\(SignatureDoesNotMatch\)") as info:
        call(mode, driver(script), "list_containers")
    assert "unit-secret" not in str(info.value)


def test_slow_down_is_retried_then_rate_limited(mode: str) -> None:
    script = Script()
    slow = error("SlowDown", "Please reduce your request rate.")
    script.expect("DELETE", f"{S3}/b").reply(503, text=slow)
    script.expect("DELETE", f"{S3}/b").reply(204)
    script.expect("DELETE", f"{S3}/b").reply(503, text=slow)
    script.expect("DELETE", f"{S3}/b").reply(503, text=slow)
    s3 = driver(script, retry=RetryPolicy(max_attempts=2, base=0, cap=0))
    assert call(mode, s3, "delete_container", "b") is True
    with pytest.raises(RateLimited):
        call(mode, s3, "delete_container", "b")
    script.assert_done()


def test_a_server_error_keeps_its_code_and_request_id(mode: str) -> None:
    script = Script()
    script.expect("DELETE", f"{S3}/b").reply(500, text=error("InternalError", "oops"),
                                             headers={"x-amz-request-id": "req-42"})
    with pytest.raises(ProviderError) as info:
        call(mode, driver(script), "delete_container", "b")
    assert (info.value.status, info.value.code, info.value.request_id) == (
        500, "InternalError", "req-42")


def test_a_bucket_in_another_region_is_named_with_the_region(mode: str) -> None:
    script = Script()
    script.expect("DELETE", f"{S3}/far").reply(
        301, text=error("PermanentRedirect", "elsewhere"),
        headers={"x-amz-bucket-region": "ap-south-1"})
    with pytest.raises(ProviderError, match="pass region='ap-south-1'"):
        call(mode, driver(script), "delete_container", "far")


def test_data_refused_for_its_checksum_is_an_integrity_error(mode: str) -> None:
    script = Script()
    script.expect("PUT", f"{S3}/b/k").reply(400, text=error(
        "BadDigest", "The Content-MD5 you specified did not match what we received."))
    with pytest.raises(IntegrityError, match="does not match its checksum"):
        call(mode, driver(script), "upload_object_via_stream", iter([b"abc"]), "b", "k")


# -- invalid input -------------------------------------------------------------------------


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    s3 = driver(script)
    with pytest.raises(InvalidInput):
        call(mode, s3, "create_container", "Upper_Case")
    for bad in ("", "a//b", "../x", "nul\x00"):
        with pytest.raises(InvalidInput):
            call(mode, s3, "get_object", "b", bad)
    with pytest.raises(InvalidInput):
        call(mode, s3, "upload_object_via_stream", iter([b"x"]), "b", "k",
             meta_data={"bad key": "v"})
    with pytest.raises(InvalidInput):
        call(mode, s3, "upload_object_via_stream", iter([b"x"]), "b", "k",
             extra={"colour": "red"})
    with pytest.raises(InvalidInput):
        call(mode, s3, "list_container_entries", "b", delimiter="")
    with pytest.raises(InvalidInput):
        call(mode, s3, "download_object_range_as_stream", obj(s3=s3), 5, 2)
    with pytest.raises(InvalidInput):
        S3StorageDriver("k", "s", endpoint="ftp://host")
    with pytest.raises(InvalidInput):
        S3StorageDriver("k", "s", endpoint=S3, page_size=1001)
    script.assert_done()
    assert script.received == []


def test_listed_names_decode_as_unquote_plus_does() -> None:
    """The listing's fast decoder gives what ``unquote_plus`` gives, escapes of
    every kind mixed (a seeded sample of 20,000 keys)."""
    from urllib.parse import unquote_plus

    from overcast.storage.drivers.s3 import _listed_name

    pieces = ["%2F", "%2f", "%25", "%", "+", "a", "%C3%A9", "%2", "F", "2", "é", "%252F"]
    rng = random.Random(2026)
    for _ in range(20_000):
        key = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert _listed_name(key) == unquote_plus(key), key
