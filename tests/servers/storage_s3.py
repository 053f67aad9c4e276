"""The S3 storage driver pointed at real servers: SeaweedFS (verifies SigV4) and
moto (the closest to AWS's API behaviour; signatures are not checked).

Both factories use small parts (5 MiB, S3's minimum, with a 5 MiB threshold) so
the contract's objects above the threshold go up in several parts cheaply, and
small listing pages so listings cross page boundaries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.storage.transfer import PartPlan
from servers.moto_server import moto_server
from servers.seaweedfs import seaweedfs_server

MiB = 1024 * 1024
#: 5 MiB parts (S3's smallest), two or three in flight.
SMALL_PARTS = PartPlan(threshold=5 * MiB, part_size=5 * MiB, concurrency=3)
#: Keys per listing request in the contract (2,500 objects: 250 requests).
PAGE_SIZE = 10

#: Any credentials work with moto (it does not check signatures).
MOTO_ACCESS_KEY = "AKIDOVERCASTS3TEST"
MOTO_SECRET_KEY = "overcast-moto-s3-secret-do-not-log"


def seaweedfs_driver(request: pytest.FixtureRequest, **kwargs: Any) -> S3StorageDriver:
    """A driver for this process's SeaweedFS server; ``kwargs`` go to the constructor
    (``key``/``secret`` override the server's identity)."""
    server = seaweedfs_server(request)
    key = kwargs.pop("key", server.access_key)
    secret = kwargs.pop("secret", server.secret_key)
    kwargs.setdefault("timeout", 60)
    kwargs.setdefault("part_plan", SMALL_PARTS)
    kwargs.setdefault("page_size", PAGE_SIZE)
    return S3StorageDriver(key, secret, endpoint=server.url, **kwargs)


def moto_driver(request: pytest.FixtureRequest, **kwargs: Any) -> S3StorageDriver:
    """A driver for this process's moto server; ``kwargs`` go to the constructor."""
    server = moto_server(request)
    kwargs.setdefault("timeout", 60)
    kwargs.setdefault("part_plan", SMALL_PARTS)
    kwargs.setdefault("page_size", PAGE_SIZE)
    return S3StorageDriver(MOTO_ACCESS_KEY, MOTO_SECRET_KEY, endpoint=server.url, **kwargs)


def make_seaweedfs_driver(request: pytest.FixtureRequest, tmp_path: Path) -> S3StorageDriver:
    """The contract's S3 driver on SeaweedFS."""
    return seaweedfs_driver(request)


def make_moto_driver(request: pytest.FixtureRequest, tmp_path: Path) -> S3StorageDriver:
    """The contract's S3 driver on moto."""
    return moto_driver(request)
