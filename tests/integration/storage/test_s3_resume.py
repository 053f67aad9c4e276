"""``upload_object(resume=True)`` on S3 (SeaweedFS, behind a proxy that goes
down after a number of part uploads): the failed upload is left unfinished
with its parts, and the next one continues it (ListMultipartUploads, ListParts)
sending only the parts the server lacks; a part whose bytes differ is sent
again. A driver that cannot resume says NotSupported."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.errors import NotSupported
from overcast.errors import OvercastError
from overcast.storage.drivers.local import LocalStorageDriver
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.storage.transfer import PartPlan
from servers.cutproxy import CutProxy
from servers.modes import MODES
from servers.modes import call
from servers.seaweedfs import seaweedfs_server

pytestmark = pytest.mark.server

MiB = 1024 * 1024
PART = 5 * MiB
SIZE = 4 * PART + 12345  # five parts
PLAN = PartPlan(threshold=PART, part_size=PART, concurrency=1)


def _data(seed: bytes) -> bytes:
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
                    for i in range(SIZE // 32 + 1))[:SIZE]


@pytest.fixture
def proxied(request: pytest.FixtureRequest) -> Iterator[tuple[S3StorageDriver, CutProxy, str]]:
    weed = seaweedfs_server(request)
    with CutProxy(weed.url) as proxy:
        driver = S3StorageDriver(weed.access_key, weed.secret_key, endpoint=proxy.url,
                                 region="us-east-1")
        driver.part_plan = PLAN
        bucket = f"resume-{uuid.uuid4().hex[:12]}"
        driver.create_container(bucket)
        with driver:
            yield driver, proxy, bucket


def _interrupted(mode: str, driver: S3StorageDriver, proxy: CutProxy, bucket: str,
                 source: Path) -> None:
    proxy.down_after_puts(2, "uploadId=")  # two parts go up, the third fails
    with pytest.raises(OvercastError):
        call(mode, driver, "upload_object", str(source), bucket, "big.bin", resume=True)
    proxy.restore()
    proxy.reset_counts()


@pytest.mark.parametrize("mode", MODES)
def test_an_interrupted_upload_sends_only_the_missing_parts(
        proxied: tuple[S3StorageDriver, CutProxy, str], tmp_path: Path, mode: str) -> None:
    driver, proxy, bucket = proxied
    source = tmp_path / "big.bin"
    data = _data(b"one")
    source.write_bytes(data)
    _interrupted(mode, driver, proxy, bucket, source)
    obj = call(mode, driver, "upload_object", str(source), bucket, "big.bin", resume=True)
    assert obj.size == SIZE
    assert proxy.put_bytes == SIZE - 2 * PART  # parts 3 to 5 only
    begun = [t for m, t in proxy.requests if m == "POST" and "uploadId" not in t]
    assert begun == []  # the unfinished upload went on: none was begun
    assert call(mode, driver, "download_object_as_stream", obj) == data
    # finished: nothing is left to resume; a new upload begins afresh
    proxy.reset_counts()
    call(mode, driver, "upload_object", str(source), bucket, "big.bin", resume=True)
    assert proxy.put_bytes == SIZE


def test_parts_of_other_bytes_are_sent_again(
        proxied: tuple[S3StorageDriver, CutProxy, str], tmp_path: Path) -> None:
    driver, proxy, bucket = proxied
    source = tmp_path / "big.bin"
    source.write_bytes(_data(b"one"))
    _interrupted("sync", driver, proxy, bucket, source)
    changed = bytearray(_data(b"one"))
    changed[PART + 7] ^= 0xFF  # part 2 differs, part 1 does not
    source.write_bytes(bytes(changed))
    obj = driver.upload_object(str(source), bucket, "big.bin", resume=True)
    assert proxy.put_bytes == SIZE - PART
    assert b"".join(driver.download_object_as_stream(obj)) == bytes(changed)


def test_without_resume_a_failed_upload_is_aborted(
        proxied: tuple[S3StorageDriver, CutProxy, str], tmp_path: Path) -> None:
    driver, proxy, bucket = proxied
    source = tmp_path / "big.bin"
    source.write_bytes(_data(b"one"))
    proxy.down_after_puts(2, "uploadId=", puts_only=True)  # the abort gets through
    with pytest.raises(OvercastError):
        driver.upload_object(str(source), bucket, "big.bin")
    proxy.restore()
    proxy.reset_counts()
    driver.upload_object(str(source), bucket, "big.bin", resume=True)
    assert proxy.put_bytes == SIZE  # nothing was kept to resume


def test_a_driver_that_cannot_resume_says_so(tmp_path: Path) -> None:
    local = LocalStorageDriver(str(tmp_path / "root"))
    local.create_container("box")
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(NotSupported):
        local.upload_object(str(tmp_path / "f"), "box", "f", resume=True)
