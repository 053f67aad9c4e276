"""Every container driver the conformance suite runs against.

A driver joins by adding ``name: "module:function"`` to ``FACTORIES``; the
function takes pytest's ``request`` and returns a
:class:`servers.container_target.ContainerTarget`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from collections.abc import Iterator

import pytest

from servers.container_target import ContainerTarget
from servers.podman import Podman
from servers.podman import podman_fixture

FACTORIES: dict[str, str] = {
    "docker": "servers.container_docker:make_target",
    "ecs": "servers.container_ecs:make_target",
    "kubernetes": "servers.container_k8s:make_target",
}


@pytest.fixture(scope="session")
def podman_service(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Podman:
    """Podman's Docker-compatible API, for the Docker driver's factory."""
    return podman_fixture(request, tmp_path_factory)


@pytest.fixture(params=sorted(FACTORIES))
def container_target(request: pytest.FixtureRequest) -> Iterator[ContainerTarget]:
    """A driver of each kind; what a test made is removed after it."""
    module, _, function = FACTORIES[request.param].partition(":")
    factory: Callable[[pytest.FixtureRequest], ContainerTarget] = getattr(
        importlib.import_module(module), function)
    target = factory(request)
    try:
        yield target
    finally:
        target.cleanup()
