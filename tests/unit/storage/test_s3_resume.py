"""S3's resumable uploads on the scripted transport: the unfinished upload it
continues (the most recent of the key, listings paged), the parts it reuses
(same size and MD5 ETag; their CRC32 still named in the complete request),
no abort on failure, and a store that cannot list uploads begins afresh."""

from __future__ import annotations

import base64
import hashlib
import zlib
from pathlib import Path
from typing import Any

import pytest

from overcast.errors import ProviderError
from overcast.runtime.policy import RetryPolicy
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.storage.transfer import PartPlan
from overcast.testing import Script
from overcast.testing import call

S3 = "http://s3.test"
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
DATA = b"0123456789abcdefXYZ"  # parts of 8 + 8 + 3 bytes
PARTS = (DATA[:8], DATA[8:16], DATA[16:])


def _driver(script: Script) -> S3StorageDriver:
    return S3StorageDriver("AKIDUNIT", "unit-secret", endpoint=S3, retry=RetryPolicy(
        max_attempts=1), part_plan=PartPlan(threshold=8, part_size=8, concurrency=1),
        **script.options())


def _doc(root: str, inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} {NS}>{inner}</{root}>'


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _upload(key: str, upload_id: str, when: str) -> str:
    return (f"<Upload><Key>{key}</Key><UploadId>{upload_id}</UploadId>"
            f"<Initiated>{when}</Initiated></Upload>")


def _part(number: int, data: bytes, etag: str | None = None) -> str:
    return (f"<Part><PartNumber>{number}</PartNumber><Size>{len(data)}</Size>"
            f"<ETag>\"{etag or _md5(data)}\"</ETag></Part>")


@pytest.fixture
def source(tmp_path: Path) -> str:
    path = tmp_path / "big.bin"
    path.write_bytes(DATA)
    return str(path)


def test_the_latest_unfinished_upload_goes_on_with_the_parts_it_lacks(
        mode: str, source: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b", params={"uploads": "", "prefix": "big"}).reply(
        200, text=_doc("ListMultipartUploadsResult",
                       _upload("big", "old", "2026-01-01T00:00:00.000Z")
                       + _upload("big.bak", "other-key", "2026-03-01T00:00:00.000Z")
                       + "<IsTruncated>true</IsTruncated><NextKeyMarker>big.bak</NextKeyMarker>"
                       "<NextUploadIdMarker>other-key</NextUploadIdMarker>"))
    script.expect("GET", f"{S3}/b", params={"uploads": "", "prefix": "big",
                                            "key-marker": "big.bak",
                                            "upload-id-marker": "other-key"}).reply(
        200, text=_doc("ListMultipartUploadsResult",
                       _upload("big", "new", "2026-02-01T00:00:00.000Z")
                       + "<IsTruncated>false</IsTruncated>"))
    script.expect("GET", f"{S3}/b/big", params={"uploadId": "new"}).reply(
        200, text=_doc("ListPartsResult", _part(1, PARTS[0]) + "<IsTruncated>true</IsTruncated>"
                       "<NextPartNumberMarker>1</NextPartNumberMarker>"))
    script.expect("GET", f"{S3}/b/big", params={"uploadId": "new",
                                                "part-number-marker": "1"}).reply(
        200, text=_doc("ListPartsResult", _part(2, PARTS[1], etag=_md5(b"other bytes"))
                       + "<IsTruncated>false</IsTruncated>"))
    for number in (2, 3):  # part 1 is held as is; part 2 holds other bytes
        script.expect("PUT", f"{S3}/b/big", body=PARTS[number - 1],
                      params={"partNumber": str(number), "uploadId": "new"}).reply(
            200, headers={"ETag": f'"{_md5(PARTS[number - 1])}"'})

    def completes(sent: Any) -> bool:
        return all(f"<PartNumber>{n}</PartNumber><ETag>\"{_md5(p)}\"</ETag>"
                   f"<ChecksumCRC32>{_crc32(p)}</ChecksumCRC32>" in sent.text
                   for n, p in enumerate(PARTS, 1))

    script.expect("POST", f"{S3}/b/big", params={"uploadId": "new"}, match=completes).reply(
        200, text=_doc("CompleteMultipartUploadResult", '<ETag>"whole-3"</ETag>'))
    made = call(mode, _driver(script), "upload_object", source, "b", "big", resume=True)
    assert (made.size, made.hash) == (len(DATA), "whole-3")
    script.assert_done()


def test_a_failed_resumable_upload_is_not_aborted(mode: str, source: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b", params={"uploads": "", "prefix": "big"}).reply(
        200, text=_doc("ListMultipartUploadsResult", "<IsTruncated>false</IsTruncated>"))
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=_doc(
        "InitiateMultipartUploadResult", "<UploadId>up-1</UploadId>"))
    script.expect("PUT", f"{S3}/b/big", params={"partNumber": "1", "uploadId": "up-1"}).reply(
        200, headers={"ETag": '"e1"'})
    script.expect("PUT", f"{S3}/b/big", params={"partNumber": "2", "uploadId": "up-1"}).reply(
        500, text="<Error><Code>InternalError</Code><Message>boom</Message></Error>")
    with pytest.raises(ProviderError, match="boom"):
        call(mode, _driver(script), "upload_object", source, "b", "big", resume=True)
    script.assert_done()  # no AbortMultipartUpload: part 1 stays for the next try


def test_a_store_that_cannot_list_uploads_begins_afresh(mode: str, source: str) -> None:
    script = Script()
    script.expect("GET", f"{S3}/b", params={"uploads": "", "prefix": "big"}).reply(
        501, text="<Error><Code>NotImplemented</Code><Message>no</Message></Error>")
    script.expect("POST", f"{S3}/b/big", params={"uploads": ""}).reply(200, text=_doc(
        "InitiateMultipartUploadResult", "<UploadId>up-2</UploadId>"))
    for number, part in enumerate(PARTS, 1):
        script.expect("PUT", f"{S3}/b/big", body=part,
                      params={"partNumber": str(number), "uploadId": "up-2"}).reply(
            200, headers={"ETag": f'"{_md5(part)}"'})
    script.expect("POST", f"{S3}/b/big", params={"uploadId": "up-2"}).reply(
        200, text=_doc("CompleteMultipartUploadResult", '<ETag>"whole-3"</ETag>'))
    call(mode, _driver(script), "upload_object", source, "b", "big", resume=True)
    script.assert_done()
