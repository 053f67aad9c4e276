"""Storage soak: 10,000 objects up, listed and down through a proxy that answers 1 %
of requests 503 without forwarding them and resets 0.1 % after the server acted.

The S3 driver talks to a real SeaweedFS (which checks every signature: the
proxy forwards the client's ``Host``) through :class:`~servers.faultproxy.FaultProxy`,
16 calls at a time, in sync mode (threads, pycurl) and in async mode (tasks,
libcurl's multi interface). Most objects are small; some go up in parts and some in two parts
of 5 MiB (SeaweedFS, like S3, refuses a smaller part but the last:
``EntityTooSmall``), which are downloaded as streams. Afterwards every object
must have arrived intact (SHA-256 of each downloaded file), the listing must
hold exactly the 10,000 names, the server must hold no open multipart upload,
and the download folder exactly the 10,000 files (no temporary or partial
one). Every fault must be accounted for (:func:`~soak.harness.check_accounts`).

No request is spared a fault: the four defects an earlier run found (see
``test_fault_regressions.py``) are fixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from overcast.errors import InvalidCredentials
from overcast.runtime.transports.base import Timeouts
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.storage.transfer import PartPlan
from servers.faultproxy import FaultProxy
from servers.faultproxy import Faults
from servers.modes import MODES
from servers.modes import call
from servers.seaweedfs import seaweedfs_server
from soak.harness import SEED
from soak.harness import Tally
from soak.harness import check_accounts
from soak.harness import each
from soak.harness import report
from soak.s3_requests import STREAMED_PREFIX
from soak.s3_requests import open_uploads
from soak.s3_requests import stored_keys

pytestmark = [pytest.mark.soak, pytest.mark.server]

KiB = 1024
MiB = 1024 * KiB
OBJECTS = 10_000
WORKERS = 16
#: Above 256 KiB uploads go in parts of 5 MiB, three at a time.
PART_PLAN = PartPlan(threshold=256 * KiB, part_size=5 * MiB, concurrency=3)
#: Keys per listing request: the listing is 100 requests, so faults hit it too.
LIST_PAGE = 100
#: 1 % of requests answered 503 without forwarding, 0.1 % reset after the server acted.
FAULTS = Faults(unavailable=0.01, reset=0.001, seed=SEED)


@dataclass(frozen=True)
class Item:
    """One object of the soak: its name, size and the file it is downloaded to."""

    index: int
    name: str
    size: int

    @property
    def filename(self) -> str:
        return f"{self.index:05d}.bin"

    def data(self) -> bytes:
        """Its bytes, the same on every call."""
        return random.Random(f"{SEED}:{self.index}").randbytes(self.size)


def items() -> list[Item]:
    """20 objects of two parts (5 to 6 MiB, downloaded as streams), 157 of one
    part (256 KiB to 1 MiB, read whole) and the rest small (up to 16 KiB, ten of
    them empty), in 16 folders."""
    sizes = random.Random(SEED)
    chosen = []
    for index in range(OBJECTS):
        if index % 500 == 250:
            size = sizes.randrange(5 * MiB + 1, 6 * MiB)
            item = Item(index, f"{STREAMED_PREFIX}{index:05d}", size)
        elif index % 64 == 7:
            item = Item(index, f"parts/{index:05d}", sizes.randrange(256 * KiB + 1, MiB))
        else:
            size = 0 if index % 1000 == 0 else sizes.randrange(1, 16 * KiB)
            item = Item(index, f"small/{index % 16:02x}/{index:05d}", size)
        chosen.append(item)
    return chosen


@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", MODES)
def test_10000_objects_arrive_intact_through_503s_and_resets(
    request: pytest.FixtureRequest, tmp_path: Path, mode: str
) -> None:
    server = seaweedfs_server(request)
    direct = S3StorageDriver(server.access_key, server.secret_key, endpoint=server.url)
    bucket = f"soak-{mode}-{uuid.uuid4().hex[:8]}"
    container = direct.create_container(bucket)
    wanted = items()
    by_name = {item.name: item for item in wanted}
    tally = Tally()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    try:
        with FaultProxy(server.url, FAULTS) as proxy:
            driver = S3StorageDriver(
                server.access_key, server.secret_key, endpoint=proxy.url, part_plan=PART_PLAN,
                timeout=Timeouts(connect=10, read=60), pool_size=WORKERS, hooks=tally.hooks(),
                page_size=LIST_PAGE,
            )
            started = time.monotonic()
            digests: dict[str, str] = {}

            def upload(item: Item) -> tuple[Any, ...]:
                data = item.data()
                digests[item.name] = hashlib.sha256(data).hexdigest()
                return (data, container, item.name)

            uploaded = each(mode, driver, "upload_object_via_stream", wanted, upload,
                            workers=WORKERS)
            assert [(o.name, o.size) for o in uploaded] == [(i.name, i.size) for i in wanted]

            listed = call(mode, driver, "list_container_objects", container)
            assert sorted(o.name for o in listed) == sorted(by_name)
            assert all(o.size == by_name[o.name].size for o in listed)

            saved = each(mode, driver, "download_object", listed,
                         lambda o: (o, str(downloads / by_name[o.name].filename)),
                         workers=WORKERS)
            assert saved == [True] * OBJECTS
            figures = proxy.figures()
        assert sorted(os.listdir(downloads)) == sorted(item.filename for item in wanted)
        damaged = [
            item.name for item in wanted
            if hashlib.sha256((downloads / item.filename).read_bytes()).hexdigest()
            != digests[item.name]
        ]
        assert damaged == []
        assert open_uploads(server, bucket) == []
        assert sorted(stored_keys(server, bucket)) == sorted(by_name)
        assert figures.injected["unavailable"] > 0 and figures.injected["reset"] > 0
        check_accounts(figures, tally)
        report(
            "storage", mode, started, figures, tally,
            objects=OBJECTS,
            multipart=sum(1 for item in wanted if item.size > PART_PLAN.threshold),
            megabytes=round(sum(item.size for item in wanted) / MiB),
            faults=FAULTS.describe(),
        )
    finally:
        shutil.rmtree(downloads, ignore_errors=True)  # 290 MB
        with contextlib.suppress(Exception):
            direct.ex_delete_objects(container, list(by_name))
            direct.delete_container(container)


@pytest.mark.timeout(120)
def test_signatures_are_checked_through_the_proxy(request: pytest.FixtureRequest) -> None:
    """The proxy forwards the client's ``Host``, which the client signed: SeaweedFS
    accepts the right secret and refuses a wrong one, so the soak's requests
    are checked signatures, not ignored ones."""
    server = seaweedfs_server(request)
    with FaultProxy(server.url) as proxy:
        right = S3StorageDriver(server.access_key, server.secret_key, endpoint=proxy.url)
        wrong = S3StorageDriver(server.access_key, "not-the-secret", endpoint=proxy.url)
        right.list_containers()
        with pytest.raises(InvalidCredentials, match="SignatureDoesNotMatch"):
            wrong.list_containers()
        assert proxy.figures().forwarded == 2
