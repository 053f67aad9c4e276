"""Every storage driver the conformance suite runs against.

A new driver joins by adding a factory to ``FACTORIES``: a function that takes
pytest's ``request`` and ``tmp_path`` and returns a driver pointed at a real
server (started by a fixture) or a local directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from overcast.storage import Provider, get_driver
from overcast.storage.base import StorageDriver

Factory = Callable[[pytest.FixtureRequest, Path], StorageDriver]


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    # A small page size makes every listing in the suite cross page boundaries.
    return get_driver(Provider.LOCAL)(str(tmp_path / "store"), page_size=5)


FACTORIES: dict[str, Factory] = {"local": _local}


@pytest.fixture(params=sorted(FACTORIES))
def storage_driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageDriver]:
    """A fresh driver of each kind, closed after the test."""
    driver = FACTORIES[request.param](request, tmp_path)
    with driver:
        yield driver
