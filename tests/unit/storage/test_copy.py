"""``storage.copy``: one operation across two drivers, each on its own scripted
transport, in both modes (``copy`` and ``copy.run_async``)."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import anyio
import pytest

from overcast.errors import IntegrityError
from overcast.errors import InvalidInput
from overcast.runtime.policy import RetryPolicy
from overcast.storage import copy
from overcast.storage import copy_async
from overcast.storage.base import Container
from overcast.storage.base import Object
from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.testing import Script

S3 = "http://s3.test"
AZ = "http://azure.test/acct"
DATA = b"copy me across clouds"


def drivers(source: Script, target: Script) -> tuple[S3StorageDriver, AzureBlobsStorageDriver]:
    once = RetryPolicy(max_attempts=1)
    s3 = S3StorageDriver("AKID", "secret", endpoint=S3, retry=once, **source.options())
    azure = AzureBlobsStorageDriver("acct", base64.b64encode(b"k" * 32).decode(), endpoint=AZ,
                                    retry=once, **target.options())
    return s3, azure


def source_object(s3: S3StorageDriver) -> Object:
    return Object("src.txt", len(DATA), None, container=Container("b", driver=s3), driver=s3,
                  content_type="text/x-copy", meta_data={"owner": "alice"})


def run(mode: str, *args: Any, **kwargs: Any) -> Any:
    if mode == "sync":
        return copy(*args, **kwargs)

    async def main() -> Any:
        return await copy_async(*args, **kwargs)

    return anyio.run(main)


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_an_object_streams_from_one_driver_to_another_with_its_attributes(mode: str) -> None:
    source, target = Script(), Script()
    source.expect("GET", f"{S3}/b/src.txt").reply(200, body=DATA, headers={
        "x-amz-checksum-crc32": crc32(DATA), "Content-Length": str(len(DATA))})
    md5 = base64.b64encode(hashlib.md5(DATA).digest()).decode()
    target.expect("PUT", f"{AZ}/box/copied", body=DATA, headers={
        "Content-MD5": md5, "x-ms-blob-content-type": "text/x-copy",
        "x-ms-meta-owner": "alice"}).reply(201)
    s3, azure = drivers(source, target)
    seen: list[tuple[int, int | None]] = []
    copied = run(mode, source_object(s3), Container("box", driver=azure), "copied",
                 progress=lambda done, total: seen.append((done, total)))
    assert (copied.name, copied.size, copied.driver) == ("copied", len(DATA), azure)
    assert seen[-1] == (len(DATA), len(DATA))
    source.assert_done()
    target.assert_done()


def test_a_corrupted_source_fails_the_copy_before_anything_is_written(mode: str) -> None:
    source, target = Script(), Script()
    source.expect("GET", f"{S3}/b/src.txt").reply(200, body=DATA[::-1], headers={
        "x-amz-checksum-crc32": crc32(DATA)})
    s3, azure = drivers(source, target)
    with pytest.raises(IntegrityError, match="crc32 is"):
        run(mode, source_object(s3), Container("box", driver=azure))
    assert target.received == []


def test_invalid_arguments_send_nothing(mode: str) -> None:
    source, target = Script(), Script()
    s3, azure = drivers(source, target)
    with pytest.raises(InvalidInput):
        run(mode, source_object(s3), Container("box", driver=azure), "a//b")
    with pytest.raises(InvalidInput):
        run(mode, source_object(s3), Container("NOT valid", driver=azure))
    with pytest.raises(InvalidInput):
        run(mode, Object("loose", 1, None), Container("box", driver=azure))
    with pytest.raises(InvalidInput):
        run(mode, source_object(s3), Container("box"))
    assert source.received == [] and target.received == []
