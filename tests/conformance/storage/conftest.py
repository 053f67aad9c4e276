"""Every storage driver the conformance suite runs against.

A new driver joins by adding a factory to ``FACTORIES``: a function that takes
pytest's ``request`` and ``tmp_path`` and returns a driver pointed at a real
server (started by a fixture) or a local directory.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.storage import Provider
from overcast.storage import get_driver
from overcast.storage.base import StorageDriver

Factory = Callable[[pytest.FixtureRequest, Path], StorageDriver]


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    # A small page size makes every listing in the suite cross page boundaries.
    return get_driver(Provider.LOCAL)(str(tmp_path / "store"), page_size=5)


def _named(target: str) -> Factory:
    """A factory from another module, imported when first used."""

    def load(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
        module, _, function = target.partition(":")
        factory: Factory = getattr(importlib.import_module(module), function)
        return factory(request, tmp_path)

    return load


FACTORIES: dict[str, Factory] = {
    "local": _local,
    "s3-seaweedfs": _named("servers.storage_s3:make_seaweedfs_driver"),
    "s3-moto": _named("servers.storage_s3:make_moto_driver"),
    "azure_blobs": _named("servers.storage_azure:make_driver"),
    "google_storage": _named("servers.storage_gcs:make_driver"),
    "swift": _named("servers.storage_swift:make_driver"),
}


@pytest.fixture(params=sorted(FACTORIES))
def storage_driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageDriver]:
    """A fresh driver of each kind, closed after the test."""
    driver = FACTORIES[request.param](request, tmp_path)
    with driver:
        yield driver
