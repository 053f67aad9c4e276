"""The ECS driver on moto, for the container conformance suite: clusters and
invalid input (moto runs no task; tasks are covered on the scripted transport
in tests/unit/container/test_ecs.py)."""

from __future__ import annotations

import pytest

from overcast.container.drivers.ecs import ECSContainerDriver
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from servers.container_target import ContainerTarget
from servers.moto_server import moto_server

ACCESS_KEY = "AKIDOVERCASTECSTEST"
SECRET_KEY = "overcast-ecs-moto-secret-do-not-log"


def make_target(request: pytest.FixtureRequest) -> ContainerTarget:
    server = moto_server(request)
    sent: list[RequestEvent] = []
    driver = ECSContainerDriver(ACCESS_KEY, SECRET_KEY, "us-east-1", endpoint=server.url,
                                hooks=Hooks(on_request=[sent.append]), page_size=2)
    return ContainerTarget(driver=driver, image="busybox:latest",
                           parameters={"command": ["sleep", "600"]}, sent=sent,
                           cleanup=driver.close, runs_containers=False, page_size=2)
