"""One Podman API service for the container integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers.podman import Podman
from servers.podman import podman_fixture


@pytest.fixture(scope="session")
def podman(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Podman:
    """Podman's Docker-compatible API (socket, TCP and mutual TLS)."""
    return podman_fixture(request, tmp_path_factory)


@pytest.fixture
def engine(podman: Podman) -> Iterator[Podman]:
    """The service, with every container a test made removed after it."""
    yield podman
    podman.clean()
