"""The faults the storage soak found overcast failing on, each hit once on
purpose, in both modes, against a real SeaweedFS: the fault proxy injects exactly
one fault (rate 1, limit 1) on the one request that showed each defect.

* a 503 to CompleteMultipartUpload that the server never saw: the complete is
  sent again (it used to fail with OutcomeUnknown);
* a lost answer to CreateMultipartUpload: the create is sent again and the
  upload the first one began is aborted (it used to stay open);
* a body cut in the middle of a streamed download (reset or truncated): the
  rest is asked for with a Range (the download used to fail);
* a dropped answer to CreateBucket on the pycurl transport: libcurl no longer
  resends it unseen (the caller used to get ContainerAlreadyExists for the
  bucket its own request made).
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from overcast.runtime.transports.base import Timeouts
from overcast.storage.base import Container
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.storage.transfer import PartPlan
from servers.faultproxy import FaultProxy
from servers.faultproxy import Faults
from servers.modes import MODES
from servers.modes import call
from servers.seaweedfs import SeaweedServer
from servers.seaweedfs import seaweedfs_server
from soak.s3_requests import open_uploads
from soak.s3_requests import s3_action

pytestmark = [pytest.mark.soak, pytest.mark.server]

KiB = 1024
MiB = 1024 * KiB
#: Above 256 KiB uploads go in parts (of 5 MiB: SeaweedFS's smallest).
PART_PLAN = PartPlan(threshold=256 * KiB, part_size=5 * MiB, concurrency=3)


def once(kind: str, action: str) -> Faults:
    """Fault ``kind`` on the first request of S3 ``action``, and on nothing else."""
    return Faults.single(
        kind, limit=1, allow=lambda _, method, target: s3_action(method, target) == action
    )


def proxied(server: SeaweedServer, proxy: FaultProxy) -> S3StorageDriver:
    """An S3 driver that reaches ``server`` through ``proxy``."""
    return S3StorageDriver(server.access_key, server.secret_key, endpoint=proxy.url,
                           part_plan=PART_PLAN, timeout=Timeouts(connect=10, read=30))


@pytest.fixture
def seaweed(request: pytest.FixtureRequest) -> SeaweedServer:
    """This test process's SeaweedFS."""
    return seaweedfs_server(request)


@pytest.fixture
def bucket(seaweed: SeaweedServer) -> Container:
    """A new, empty bucket (made without the proxy)."""
    direct = S3StorageDriver(seaweed.access_key, seaweed.secret_key, endpoint=seaweed.url,
                             part_plan=PART_PLAN)
    return direct.create_container(f"defects-{uuid.uuid4().hex[:12]}")


def data(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize("mode", MODES)
def test_a_complete_refused_before_the_server_saw_it_is_sent_again(
    seaweed: SeaweedServer, bucket: Container, mode: str
) -> None:
    with FaultProxy(seaweed.url, once("unavailable", "CompleteMultipartUpload")) as proxy:
        driver = proxied(seaweed, proxy)
        uploaded = call(mode, driver, "upload_object_via_stream", data(512 * KiB), bucket, "a")
        assert proxy.figures().injected["unavailable"] == 1
    assert uploaded.size == 512 * KiB
    direct = S3StorageDriver(seaweed.access_key, seaweed.secret_key, endpoint=seaweed.url)
    assert direct.get_object(bucket.name, "a").size == 512 * KiB
    assert open_uploads(seaweed, bucket.name) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_lost_create_multipart_answer_leaves_no_upload_open(
    seaweed: SeaweedServer, bucket: Container, mode: str
) -> None:
    with FaultProxy(seaweed.url, once("reset", "CreateMultipartUpload")) as proxy:
        driver = proxied(seaweed, proxy)
        uploaded = call(mode, driver, "upload_object_via_stream", data(512 * KiB), bucket, "b")
        assert proxy.figures().injected["reset"] == 1
    assert uploaded.size == 512 * KiB
    assert open_uploads(seaweed, bucket.name) == []


def cut_download(seaweed: SeaweedServer, bucket: Container, kind: str, mode: str,
                 folder: Path) -> Callable[[], bool]:
    """Upload 6 MiB (directly), then return a download of it to ``folder``
    whose one GET ``kind`` (reset or truncate) cuts in the middle of the body."""
    direct = S3StorageDriver(seaweed.access_key, seaweed.secret_key, endpoint=seaweed.url,
                             part_plan=PART_PLAN)
    obj = direct.upload_object_via_stream(data(6 * MiB), bucket, "c")

    def download() -> bool:
        with FaultProxy(seaweed.url, once(kind, "GetObject")) as proxy:
            try:
                saved: bool = call(mode, proxied(seaweed, proxy), "download_object", obj,
                                   str(folder / "c.bin"))
                return saved
            finally:
                assert proxy.figures().injected[kind] == 1

    return download


@pytest.mark.parametrize("kind", ["reset", "truncate"])
@pytest.mark.parametrize("mode", MODES)
def test_a_streamed_download_cut_mid_body_completes(
    seaweed: SeaweedServer, bucket: Container, tmp_path: Path, mode: str, kind: str
) -> None:
    assert cut_download(seaweed, bucket, kind, mode, tmp_path)()
    assert os.listdir(tmp_path) == ["c.bin"]  # no partial file beside it
    assert (tmp_path / "c.bin").read_bytes() == data(6 * MiB)


@pytest.mark.parametrize("mode", MODES)
def test_a_create_bucket_whose_answer_is_dropped_is_settled(
    seaweed: SeaweedServer, mode: str
) -> None:
    name = f"defects-{uuid.uuid4().hex[:12]}"
    with FaultProxy(seaweed.url, once("drop", "CreateBucket")) as proxy:
        made = call(mode, proxied(seaweed, proxy), "create_container", name)
        figures = proxy.figures()
    assert made.name == name
    assert figures.injected["drop"] == 1
    # HeadBucket, the dropped CreateBucket, HeadBucket finding the bucket made.
    assert figures.requests == 3
