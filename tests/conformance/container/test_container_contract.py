"""The container contract, run against every driver, sync and async."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.container.base import ContainerImage
from overcast.container.base import ContainerState
from overcast.errors import ClusterNotFound
from overcast.errors import DeployedContainerAlreadyExists
from overcast.errors import DeployedContainerNotFound
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.testing import MODES
from overcast.testing import call
from servers.container_target import ContainerTarget

pytestmark = pytest.mark.server


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _image(t: ContainerTarget, mode: str) -> ContainerImage:
    """The target's image: installed (read back), or named where the provider
    keeps images elsewhere (a registry)."""
    if t.driver.supports("get_image"):
        image: ContainerImage = call(mode, t.driver, "get_image", t.image)
        return image
    return ContainerImage(t.image, t.image, t.image, None)


def _running(t: ContainerTarget) -> None:
    if not t.runs_containers:
        pytest.skip("this server runs no container (the driver's unit tests cover it)")


def test_images_are_listed_read_and_deleted(container_target: ContainerTarget,
                                            mode: str) -> None:
    t = container_target
    d = t.driver
    if not d.supports("get_image"):
        with pytest.raises(NotSupported):
            call(mode, d, "list_images")
        return
    image = call(mode, d, "get_image", t.image)
    assert image.id and image in call(mode, d, "list_images")
    with pytest.raises(ImageNotFound):
        call(mode, d, "get_image", "localhost/no-such-image:never")
    if t.make_image is None:
        return
    made = t.make_image(f"localhost/conformance-{mode}:v1")
    assert call(mode, d, "get_image", made.id).id == made.id
    assert call(mode, d, "delete_image", made) is True
    with pytest.raises(ImageNotFound):
        call(mode, d, "delete_image", made)


def test_a_container_lives_its_whole_life(container_target: ContainerTarget, mode: str) -> None:
    t = container_target
    _running(t)
    d = t.driver
    image = _image(t, mode)
    c = call(mode, d, "deploy_container", f"life-{mode}", image, None, dict(t.parameters))
    assert c.state is ContainerState.RUNNING and c.name == f"life-{mode}"
    assert call(mode, d, "get_container", c.id).id == c.id
    assert c.id in [x.id for x in call(mode, d, "list_containers")]
    assert c.id in [x.id for x in call(mode, d, "list_containers", image, all=False)]
    if d.supports("stop_container"):  # a Kubernetes pod cannot be stopped, only deleted
        stopped = call(mode, d, "stop_container", c)
        assert stopped.state is ContainerState.STOPPED
        assert c.id not in [x.id for x in call(mode, d, "list_containers", all=False)]
        assert call(mode, d, "start_container", c).state is ContainerState.RUNNING
        assert call(mode, d, "restart_container", c).state is ContainerState.RUNNING
    else:
        for name in ("stop_container", "start_container", "restart_container"):
            with pytest.raises(NotSupported):
                call(mode, d, name, c)
    assert call(mode, d, "destroy_container", c) is True
    with pytest.raises(DeployedContainerNotFound):
        call(mode, d, "get_container", c.id)
    with pytest.raises(DeployedContainerNotFound):
        call(mode, d, "destroy_container", c)


def test_deploy_without_start_and_a_name_in_use(container_target: ContainerTarget,
                                                mode: str) -> None:
    t = container_target
    _running(t)
    d = t.driver
    image = _image(t, mode)
    if not t.deploys_stopped:
        with pytest.raises(NotSupported):
            call(mode, d, "deploy_container", f"idle-{mode}", image,
                 parameters=dict(t.parameters), start=False)
    c = call(mode, d, "deploy_container", f"idle-{mode}", image, parameters=dict(t.parameters),
             start=not t.deploys_stopped)
    if t.deploys_stopped:
        assert c.state is not ContainerState.RUNNING
    with pytest.raises(DeployedContainerAlreadyExists):
        call(mode, d, "deploy_container", f"idle-{mode}", image, parameters=dict(t.parameters))
    assert call(mode, d, "destroy_container", c) is True


@pytest.mark.parametrize(("name", "parameters"), [
    ("bad name!", {}),
    ("ports", {"ports": {"80/tcp": 99999}}),
    ("ports", {"ports": {"eighty": 80}}),
    ("memory", {"memory": -1}),
])
def test_invalid_input_sends_nothing(container_target: ContainerTarget, mode: str, name: str,
                                     parameters: dict[str, Any]) -> None:
    t = container_target
    image = _image(t, mode)
    before = len(t.sent)
    with pytest.raises(InvalidInput):
        call(mode, t.driver, "deploy_container", name, image,
             parameters={**t.parameters, **parameters})
    assert len(t.sent) == before


def test_clusters_where_the_provider_has_them(container_target: ContainerTarget,
                                              mode: str) -> None:
    d = container_target.driver
    if not d.supports_clusters:
        with pytest.raises(NotSupported):
            call(mode, d, "list_clusters")
        return
    made = call(mode, d, "create_cluster", f"conformance-{mode}")
    assert made in call(mode, d, "list_clusters")
    assert call(mode, d, "get_cluster", made.name).id == made.id
    assert call(mode, d, "destroy_cluster", made) is True
    with pytest.raises(ClusterNotFound):
        call(mode, d, "get_cluster", f"conformance-never-{mode}")


def test_listings_go_past_page_one(container_target: ContainerTarget, mode: str) -> None:
    t = container_target
    if t.page_size is None:
        pytest.skip("this driver's listings come in one answer")
    _running(t)
    image = _image(t, mode)
    names = [f"paged-{i:02d}" for i in range(23)]
    for name in names:
        t.driver.deploy_container(name, image, parameters=dict(t.parameters))
    assert 4 * t.page_size < 23
    listed = [c.name for c in call(mode, t.driver, "list_containers")]
    assert sorted(n for n in listed if n.startswith("paged-")) == names
