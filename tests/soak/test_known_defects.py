"""Faults overcast does not survive yet, each hit once on purpose, in both modes.

The soaks spare these cases (:func:`~soak.s3_requests.spare_known_defects`);
here the fault proxy injects exactly one fault (rate 1, limit 1) on the one
request that shows each defect, against a real SeaweedFS. Each test asserts
what should happen and is a strict xfail, naming the error it fails with
today: when a defect is fixed its test passes, the strict xfail turns that
into a failure, and the xfail (and the soak's spare rule) must go.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from overcast.errors import ContainerAlreadyExists
from overcast.errors import OutcomeUnknown
from overcast.errors import TransportError
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


@pytest.mark.xfail(
    strict=True, raises=OutcomeUnknown,
    reason="S3 CompleteMultipartUpload answered 503 by something in front of the server "
    "(which never saw it): the driver reads the object back, finds nothing, and raises "
    "OutcomeUnknown (and aborts the upload) instead of sending the complete again",
)
@pytest.mark.parametrize("mode", MODES)
def test_a_complete_refused_before_the_server_is_sent_again(
    seaweed: SeaweedServer, bucket: Container, mode: str
) -> None:
    with FaultProxy(seaweed.url, once("unavailable", "CompleteMultipartUpload")) as proxy:
        driver = proxied(seaweed, proxy)
        uploaded = call(mode, driver, "upload_object_via_stream", data(512 * KiB), bucket, "a")
        assert proxy.figures().injected["unavailable"] == 1
    assert uploaded.size == 512 * KiB
    assert driver.get_object(bucket.name, "a").size == 512 * KiB


@pytest.mark.xfail(
    strict=True, raises=AssertionError,
    reason="S3 CreateMultipartUpload is resent when its answer is lost after the server "
    "acted; the upload succeeds, but the first upload stays open on the server (listed "
    "by ListMultipartUploads) until a lifecycle rule removes it",
)
@pytest.mark.parametrize("mode", MODES)
def test_b_a_lost_create_multipart_answer_leaves_no_upload_open(
    seaweed: SeaweedServer, bucket: Container, mode: str
) -> None:
    with FaultProxy(seaweed.url, once("reset", "CreateMultipartUpload")) as proxy:
        driver = proxied(seaweed, proxy)
        uploaded = call(mode, driver, "upload_object_via_stream", data(512 * KiB), bucket, "b")
        assert proxy.figures().injected["reset"] == 1
    if uploaded.size != 512 * KiB:  # not the known failure: fail outside the xfail
        raise RuntimeError(f"the upload itself went wrong: {uploaded!r}")
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
def test_a_streamed_download_cut_mid_body_leaves_no_partial_file(
    seaweed: SeaweedServer, bucket: Container, tmp_path: Path, mode: str, kind: str
) -> None:
    download = cut_download(seaweed, bucket, kind, mode, tmp_path)
    try:
        download()
    except TransportError:
        assert os.listdir(tmp_path) == []
    else:
        assert os.listdir(tmp_path) == ["c.bin"]
        assert (tmp_path / "c.bin").read_bytes() == data(6 * MiB)


@pytest.mark.xfail(
    strict=True, raises=TransportError,
    reason="a download whose body is cut after the answer began (objects above 1 MiB are "
    "streamed) fails with TransportError: the runtime retries only until the answer's "
    "head, and nothing resumes the body with a Range request",
)
@pytest.mark.parametrize("kind", ["reset", "truncate"])
@pytest.mark.parametrize("mode", MODES)
def test_c_a_streamed_download_cut_mid_body_completes(
    seaweed: SeaweedServer, bucket: Container, tmp_path: Path, mode: str, kind: str
) -> None:
    assert cut_download(seaweed, bucket, kind, mode, tmp_path)()
    assert (tmp_path / "c.bin").read_bytes() == data(6 * MiB)


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("sync", marks=pytest.mark.xfail(
            strict=True, raises=ContainerAlreadyExists,
            reason="the pycurl transport lets libcurl resend a request on a fresh "
            "connection when a reused one closes before answering; a non-idempotent "
            "request without a body (S3 CreateBucket) thus reaches the server twice, "
            "unseen by the runtime, and the caller gets ContainerAlreadyExists for the "
            "bucket its own first request made",
        )),
        "async",
    ],
)
def test_d_a_create_whose_answer_is_dropped_is_settled(
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
