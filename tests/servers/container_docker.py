"""The Docker driver on Podman, for the container conformance suite."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.container.drivers.docker import DockerContainerDriver
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from servers.container_target import ContainerTarget
from servers.podman import BUSYBOX
from servers.podman import Podman


def make_target(request: pytest.FixtureRequest) -> ContainerTarget:
    podman: Podman = request.getfixturevalue("podman_service")
    sent: list[RequestEvent] = []
    driver = DockerContainerDriver(host=podman.host, hooks=Hooks(on_request=[sent.append]))
    rootfs = podman.directory / "busybox-rootfs.tar"

    def make_image(tag: str) -> Any:
        return driver.ex_import_image(rootfs, tag=tag)

    def cleanup() -> None:
        podman.clean()
        driver.close()

    return ContainerTarget(driver=driver, image=BUSYBOX,
                           parameters={"command": ["sleep", "600"], "network_mode": "none"},
                           sent=sent, cleanup=cleanup, make_image=make_image)
