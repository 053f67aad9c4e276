"""The libvirt compute driver on libvirt's built-in test hypervisor (``test:///default``).

No daemon: libvirt-python runs the test hypervisor in-process. Its state (one
running domain ``test``, network ``default``, storage pool ``default-pool``)
is shared by every connection of the process to ``test:///default`` and lives
as long as one of them is open; when the last one closes, the next open starts
from the pristine state again. So this module keeps one "anchor" connection per
test process (per xdist worker), opened on first use and closed at session end:
every test's driver (which opens, and on close closes, its own connection)
then sees the same hypervisor, with the image volume made here.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from overcast.compute.base import NodeImage
from overcast.compute.base import NodeSize
from overcast.compute.drivers.libvirt import LibvirtNodeDriver
from servers.compute_target import ComputeTarget

URI = "test:///default"
POOL = "default-pool"
IMAGE = "overcast-test-image.qcow2"

_lock = threading.Lock()
_anchor: Any = None


def anchor(request: pytest.FixtureRequest) -> Any:
    """The process's anchor connection to the test hypervisor, with the image volume."""
    global _anchor
    with _lock:
        if _anchor is None:
            import libvirt  # type: ignore[import-untyped]  # missing: the tests fail, not skip

            conn = libvirt.open(URI)
            pool = conn.storagePoolLookupByName(POOL)
            if IMAGE not in pool.listVolumes():
                pool.createXML(
                    f"<volume><name>{IMAGE}</name><capacity unit='MiB'>64</capacity>"
                    "<target><format type='qcow2'/></target></volume>",
                    0,
                )
            _anchor = conn
            request.config.add_cleanup(_close_anchor)
        return _anchor


def _close_anchor() -> None:
    global _anchor
    with _lock:
        conn, _anchor = _anchor, None
    if conn is not None:
        conn.close()


def _pick_image(images: list[NodeImage]) -> NodeImage:
    return next(image for image in images if image.name == IMAGE)


def _pick_size(sizes: list[NodeSize]) -> NodeSize:
    return min(sizes, key=lambda size: (size.ram, size.extra.get("vcpus", 1)))


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeTarget:
    """A libvirt driver on ``test:///default``: the test image, the smallest size, 2 per page."""
    anchor(request)
    driver = LibvirtNodeDriver(URI, page_size=2)
    return ComputeTarget(
        driver=driver,
        pick_size=_pick_size,
        pick_image=_pick_image,
        page_size=2,
        wait_period=0.05,
    )
