"""The Swift storage driver pointed at this test process's real Swift.

``make_driver(request, tmp_path)`` is the conformance suite's factory: a
TempAuth driver for ``test:tester`` with 5 MiB segments above a 5 MiB
threshold (so SLOs are exercised cheaply) and a small listing page, so every
listing in the suite crosses page boundaries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overcast.storage import Provider
from overcast.storage import get_driver
from overcast.storage.base import StorageDriver
from overcast.storage.transfer import PartPlan
from servers.swift_server import KEY
from servers.swift_server import USER
from servers.swift_server import SwiftServer
from servers.swift_server import swift_server

MiB = 1024 * 1024

#: Small parts: SLOs from 5 MiB up, two segments for the suite's big objects.
TEST_PLAN = PartPlan(
    threshold=5 * MiB, part_size=5 * MiB, max_part_size=5 * 1024**3, max_parts=1000,
    concurrency=4,
)


def server(request: pytest.FixtureRequest) -> SwiftServer:
    """This process's Swift (started on first use)."""
    return swift_server(request)


def make_swift(srv: SwiftServer, **kwargs: Any) -> StorageDriver:
    """A TempAuth driver on ``srv``; ``kwargs`` override the defaults."""
    options: dict[str, Any] = {
        "auth_url": srv.auth_url, "part_plan": TEST_PLAN, "page_size": 1000,
    }
    options.update(kwargs)
    user = options.pop("key", USER)
    secret = options.pop("secret", KEY)
    cls: Any = get_driver(Provider.SWIFT)
    driver: StorageDriver = cls(user, secret, **options)
    return driver


def make_driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    """The conformance suite's Swift driver."""
    return make_swift(server(request))
