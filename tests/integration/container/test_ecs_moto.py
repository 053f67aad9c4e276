"""The ECS driver against moto's ECS: clusters, task definitions and services
(moto records them but runs no task; tasks are tested on the scripted
transport, tests/unit/container/test_ecs.py)."""

from __future__ import annotations

import pytest

from overcast.container.base import ContainerImage
from overcast.container.base import ContainerState
from overcast.container.drivers.ecs import ECSContainerDriver
from overcast.errors import ClusterNotFound
from overcast.errors import OutcomeUnknown
from overcast.testing import MODES
from overcast.testing import call
from servers.moto_server import moto_server

pytestmark = pytest.mark.server

ACCESS_KEY = "AKIDOVERCASTECSTEST"
SECRET_KEY = "overcast-ecs-moto-secret-do-not-log"


@pytest.fixture
def ecs(request: pytest.FixtureRequest) -> ECSContainerDriver:
    server = moto_server(request)
    return ECSContainerDriver(ACCESS_KEY, SECRET_KEY, "us-east-1", endpoint=server.url)


@pytest.mark.parametrize("mode", MODES)
def test_clusters_on_moto(ecs: ECSContainerDriver, mode: str) -> None:
    name = f"overcast-{mode}"
    made = call(mode, ecs, "create_cluster", name)
    assert made.name == name and made.id.endswith(f":cluster/{name}")
    assert made in call(mode, ecs, "list_clusters")
    assert call(mode, ecs, "get_cluster", name) == made
    assert call(mode, ecs, "destroy_cluster", made) is True
    with pytest.raises(ClusterNotFound):
        call(mode, ecs, "get_cluster", "overcast-never-made")


@pytest.mark.parametrize("mode", MODES)
def test_definitions_and_services_on_moto(ecs: ECSContainerDriver, mode: str) -> None:
    cluster = call(mode, ecs, "create_cluster", f"svc-{mode}")
    image = ContainerImage("busybox:latest", "busybox:latest", "busybox", "latest")
    definition = call(mode, ecs, "deploy_container", f"app-{mode}", image, cluster,
                      {"command": ["sleep", "60"], "ports": {80: 8080}}, start=False)
    assert ":task-definition/app-" in definition.id
    assert definition.state is ContainerState.STOPPED
    service = call(mode, ecs, "ex_create_service", f"svc-{mode}", cluster, definition.id)
    assert service["serviceName"] == f"svc-{mode}"
    names = [s["serviceName"] for s in call(mode, ecs, "ex_list_services", cluster)]
    assert names == [f"svc-{mode}"]
    assert call(mode, ecs, "ex_destroy_service", service["serviceArn"], cluster=cluster)
    # Where moto stops: it has no container instance to run a task on, and
    # answers RunTask with a bare 500: the run's outcome is unknown, and the
    # token lookup finds no task.
    with pytest.raises(OutcomeUnknown):
        call(mode, ecs, "start_container", definition)
    assert call(mode, ecs, "list_containers", None, cluster) == []
    call(mode, ecs, "destroy_cluster", cluster)
