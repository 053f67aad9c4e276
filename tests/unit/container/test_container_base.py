"""The container base API, driven through a tiny in-memory driver, sync and async."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from overcast.container import Provider
from overcast.container import get_driver
from overcast.container.base import ClusterLocation
from overcast.container.base import Container
from overcast.container.base import ContainerCluster
from overcast.container.base import ContainerDriver
from overcast.container.base import ContainerImage
from overcast.container.base import ContainerState
from overcast.container.base import DeployParameters
from overcast.container.base import LogChunk
from overcast.errors import ClusterNotFound
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.operation import operations_of
from overcast.runtime.operation import stream
from overcast.runtime.streams import ByteStream
from overcast.runtime.streams import IterStream
from servers.modes import call

# -- running an operation sync or async ----------------------------------------------


def _no_network() -> Any:
    raise AssertionError("no request may be sent")


# -- the fakes -----------------------------------------------------------------------


class MemoryContainers(ContainerDriver):
    """Images, containers, clusters and locations in dicts."""

    name = "memory"
    supports_clusters = True

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)
        self.images: dict[str, ContainerImage] = {}
        self.containers: dict[str, Container] = {}
        self.clusters: dict[str, ContainerCluster] = {}
        self.locations = [
            ClusterLocation("eu-1", "Frankfurt", "DE", self),
            ClusterLocation("us-1", "Virginia", "US", self),
        ]
        self._ids = itertools.count(1)

    @operation
    def install_image(self, path: str) -> Op[ContainerImage]:
        yield from ()
        name, _, version = path.partition(":")
        image = ContainerImage(f"sha-{next(self._ids)}", name, path, version or "latest", self)
        self.images[image.id] = image
        return image

    @iterator
    def iterate_images(self) -> Iter[ContainerImage]:
        for image in list(self.images.values()):
            yield Emit(image)

    @operation
    def get_image(self, id: str) -> Op[ContainerImage]:
        yield from ()
        if id not in self.images:
            raise ImageNotFound(id, driver=self)
        return self.images[id]

    @operation
    def delete_image(self, image: ContainerImage) -> Op[bool]:
        yield from ()
        if self.images.pop(image.id, None) is None:
            raise ImageNotFound(image.id, driver=self)
        return True

    @iterator
    def iterate_containers(
        self,
        image: ContainerImage | None = None,
        cluster: ContainerCluster | None = None,
        *,
        all: bool = True,
    ) -> Iter[Container]:
        for container in list(self.containers.values()):
            if image is not None and container.image != image:
                continue
            if cluster is not None and container.extra.get("cluster") != cluster.id:
                continue
            if not all and container.state is not ContainerState.RUNNING:
                continue
            yield Emit(container)

    @operation
    def deploy_container(
        self,
        name: str,
        image: ContainerImage,
        cluster: ContainerCluster | None = None,
        parameters: DeployParameters | None = None,
        start: bool = True,
    ) -> Op[Container]:
        yield from ()
        state = ContainerState.RUNNING if start else ContainerState.STOPPED
        container = Container(
            f"c-{next(self._ids)}",
            name,
            image,
            state,
            ["172.17.0.2"],
            self,
            {"cluster": cluster.id if cluster else None, "parameters": parameters},
        )
        self.containers[container.id] = container
        return container

    @stream
    def stream_container_logs(self, container: Container, *, follow: bool = False,
                              since: int | None = None,
                              tail: int | None = None) -> Op[ByteStream]:
        yield from ()
        return IterStream([LogChunk(f"{container.name}\n".encode(), "stdout")])

    @operation
    def get_container(self, id: str) -> Op[Container]:
        yield from ()
        if id not in self.containers:
            raise NotFound(id, driver=self)
        return self.containers[id]

    def _set(self, container: Container, state: ContainerState) -> Container:
        current = self.containers[container.id]
        current.state = state
        current.extra["restarts"] = current.extra.get("restarts", 0) + (
            state is ContainerState.REBOOTING
        )
        return current

    @operation
    def start_container(self, container: Container) -> Op[Container]:
        yield from ()
        return self._set(container, ContainerState.RUNNING)

    @operation
    def stop_container(self, container: Container) -> Op[Container]:
        yield from ()
        return self._set(container, ContainerState.STOPPED)

    @operation
    def restart_container(self, container: Container) -> Op[Container]:
        yield from ()
        self._set(container, ContainerState.REBOOTING)
        return self._set(container, ContainerState.RUNNING)

    @operation
    def destroy_container(self, container: Container) -> Op[bool]:
        yield from ()
        return self.containers.pop(container.id, None) is not None

    @iterator
    def iterate_locations(self) -> Iter[ClusterLocation]:
        for location in self.locations:
            yield Emit(location)

    @operation
    def create_cluster(
        self, name: str, location: ClusterLocation | None = None
    ) -> Op[ContainerCluster]:
        yield from ()
        where = (location or self.locations[0]).id
        cluster = ContainerCluster(f"k-{next(self._ids)}", name, self, {"location": where})
        self.clusters[cluster.id] = cluster
        return cluster

    @operation
    def destroy_cluster(self, cluster: ContainerCluster) -> Op[bool]:
        yield from ()
        if self.clusters.pop(cluster.id, None) is None:
            raise ClusterNotFound(cluster.id, driver=self)
        return True

    @iterator
    def iterate_clusters(self, location: ClusterLocation | None = None) -> Iter[ContainerCluster]:
        for cluster in list(self.clusters.values()):
            if location is None or cluster.extra["location"] == location.id:
                yield Emit(cluster)

    @operation
    def get_cluster(self, id: str) -> Op[ContainerCluster]:
        yield from ()
        if id not in self.clusters:
            raise ClusterNotFound(id, driver=self)
        return self.clusters[id]


class BareContainers(ContainerDriver):
    """Implements nothing."""

    name = "bare"

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)


class ImagesOnly(BareContainers):
    """Lists images, nothing else."""

    @iterator
    def iterate_images(self) -> Iter[ContainerImage]:
        yield Emit(ContainerImage("i", "nginx", "nginx:1", "1", self))


@pytest.fixture
def driver() -> MemoryContainers:
    return MemoryContainers()


@pytest.fixture
def image(driver: MemoryContainers) -> ContainerImage:
    return driver.install_image("nginx:1.27")


# -- capabilities ----------------------------------------------------------------------


def test_supports() -> None:
    memory = MemoryContainers()
    for name in operations_of(ContainerDriver):
        assert memory.supports(name), name
    bare = BareContainers()
    for name in operations_of(ContainerDriver):
        assert not bare.supports(name), name
    partial = ImagesOnly()
    assert partial.supports("list_images")
    assert not partial.supports("get_image")
    assert not partial.supports("list_containers")
    assert not partial.aio.supports("get_location")
    assert MemoryContainers.supports_clusters
    assert not BareContainers.supports_clusters


def _args(
    image: ContainerImage, container: Container, cluster: ContainerCluster
) -> dict[str, tuple[Any, ...]]:
    """Valid arguments for every operation of the container API."""
    location = ClusterLocation("eu-1", "Frankfurt", "DE")
    return {
        "install_image": ("nginx:1.27",),
        "iterate_images": (),
        "list_images": (),
        "get_image": ("sha-1",),
        "delete_image": (image,),
        "iterate_containers": (),
        "list_containers": (image,),
        "deploy_container": ("web", image),
        "get_container": ("c-1",),
        "start_container": (container,),
        "stop_container": (container,),
        "restart_container": (container,),
        "destroy_container": (container,),
        "stream_container_logs": (container,),
        "iterate_locations": (),
        "list_locations": (),
        "get_location": ("eu-1",),
        "create_cluster": ("k", location),
        "destroy_cluster": (cluster,),
        "iterate_clusters": (location,),
        "list_clusters": (),
        "get_cluster": ("k-1",),
    }


def _models(driver: ContainerDriver | None) -> tuple[ContainerImage, Container, ContainerCluster]:
    image = ContainerImage("sha-1", "nginx", "nginx:1.27", "1.27", driver)
    container = Container("c-1", "web", image, ContainerState.RUNNING, [], driver)
    return image, container, ContainerCluster("k-1", "k", driver)


@pytest.mark.parametrize("name", sorted(operations_of(ContainerDriver)))
def test_unimplemented_operations_raise_not_supported(mode: str, name: str) -> None:
    bare = BareContainers()
    args = _args(*_models(bare))[name]
    with pytest.raises(NotSupported):
        call(mode, bare, name, *args)


def test_every_operation_has_test_arguments() -> None:
    assert set(_args(*_models(None))) == set(operations_of(ContainerDriver))


def test_provider_and_registry() -> None:
    assert list(Provider) == ["docker", "ecs", "kubernetes"]
    with pytest.raises(NotSupported, match="no container driver named 'nope'"):
        get_driver("nope")


# -- images ----------------------------------------------------------------------------


def test_images(driver: MemoryContainers, mode: str) -> None:
    nginx = call(mode, driver, "install_image", "nginx:1.27")
    redis = call(mode, driver, "install_image", "redis")
    assert (nginx.name, nginx.version, redis.version) == ("nginx", "1.27", "latest")
    assert call(mode, driver, "list_images") == [nginx, redis]
    assert call(mode, driver, "iterate_images") == [nginx, redis]
    assert call(mode, driver, "get_image", nginx.id) is nginx
    assert call(mode, driver, "delete_image", nginx) is True
    with pytest.raises(ImageNotFound):
        call(mode, driver, "get_image", nginx.id)


# -- containers ------------------------------------------------------------------------


def test_deploy_and_list_containers(
    driver: MemoryContainers, image: ContainerImage, mode: str
) -> None:
    redis = driver.install_image("redis:7")
    web = call(mode, driver, "deploy_container", "web", image, None, {"env": {"A": "1"}})
    idle = call(mode, driver, "deploy_container", "idle", image, start=False)
    cache = call(mode, driver, "deploy_container", "cache", redis)
    assert web.state is ContainerState.RUNNING
    assert web.extra["parameters"] == {"env": {"A": "1"}}
    assert idle.state is ContainerState.STOPPED
    assert call(mode, driver, "list_containers") == [web, idle, cache]
    assert call(mode, driver, "list_containers", image) == [web, idle]
    assert call(mode, driver, "list_containers", all=False) == [web, cache]
    assert call(mode, driver, "iterate_containers", image, all=False) == [web]
    assert call(mode, driver, "get_container", cache.id) is cache
    with pytest.raises(NotFound):
        call(mode, driver, "get_container", "c-404")


def test_container_lifecycle(driver: MemoryContainers, image: ContainerImage, mode: str) -> None:
    container = driver.deploy_container("web", image)
    assert call(mode, driver, "stop_container", container).state is ContainerState.STOPPED
    assert call(mode, driver, "start_container", container).state is ContainerState.RUNNING
    restarted = call(mode, driver, "restart_container", container)
    assert restarted.state is ContainerState.RUNNING
    assert restarted.extra["restarts"] == 1
    assert call(mode, driver, "destroy_container", container) is True
    assert call(mode, driver, "list_containers") == []


# -- locations and clusters ------------------------------------------------------------


def test_locations(driver: MemoryContainers, mode: str) -> None:
    assert call(mode, driver, "list_locations") == driver.locations
    assert call(mode, driver, "iterate_locations") == driver.locations
    assert call(mode, driver, "get_location", "us-1").country == "US"
    with pytest.raises(NotFound, match="location not found"):
        call(mode, driver, "get_location", "mars-1")


def test_clusters(driver: MemoryContainers, image: ContainerImage, mode: str) -> None:
    eu, us = driver.locations
    a = call(mode, driver, "create_cluster", "a")
    b = call(mode, driver, "create_cluster", "b", us)
    assert call(mode, driver, "list_clusters") == [a, b]
    assert call(mode, driver, "list_clusters", eu) == [a]
    assert call(mode, driver, "iterate_clusters", us) == [b]
    assert call(mode, driver, "get_cluster", b.id) is b
    inside = driver.deploy_container("in-b", image, b)
    driver.deploy_container("outside", image)
    assert call(mode, driver, "list_containers", None, b) == [inside]
    assert call(mode, driver, "destroy_cluster", a) is True
    with pytest.raises(ClusterNotFound):
        call(mode, driver, "get_cluster", a.id)


# -- models ------------------------------------------------------------------------------


def test_image_conveniences_delegate(driver: MemoryContainers, image: ContainerImage) -> None:
    cluster = driver.create_cluster("k")
    container = image.deploy("web", "--flag", cluster, start=False)
    assert container.image is image
    assert container.state is ContainerState.STOPPED
    assert container.extra == {"cluster": cluster.id, "parameters": "--flag"}
    assert image.delete() is True
    assert driver.images == {}


def test_container_conveniences_delegate(driver: MemoryContainers, image: ContainerImage) -> None:
    container = image.deploy("web")
    assert container.stop().state is ContainerState.STOPPED
    assert container.start().state is ContainerState.RUNNING
    assert container.restart().extra["restarts"] == 1
    assert container.destroy() is True
    assert driver.containers == {}


def test_cluster_conveniences_delegate(driver: MemoryContainers, image: ContainerImage) -> None:
    cluster = driver.create_cluster("k")
    inside = image.deploy("in", cluster=cluster)
    image.deploy("out")
    assert cluster.list_containers() == [inside]
    assert list(cluster.iterate_containers()) == [inside]
    assert cluster.destroy() is True
    assert driver.clusters == {}


def test_unbound_models() -> None:
    image, container, cluster = _models(None)
    with pytest.raises(InvalidInput, match="not bound"):
        image.deploy("web")
    with pytest.raises(InvalidInput, match="not bound"):
        container.start()
    with pytest.raises(InvalidInput, match="not bound"):
        cluster.list_containers()


def test_model_equality(driver: MemoryContainers, image: ContainerImage) -> None:
    same = ContainerImage(image.id, "other", "other:1", None, driver)
    assert same == image
    assert hash(same) == hash(image)
    assert ContainerImage(image.id, "nginx", "nginx", None, BareContainers()) != image
    assert ClusterLocation("eu-1", "x", None, driver) == driver.locations[0]
    assert "driver" not in repr(image)


def test_states_match_libcloud() -> None:
    assert ContainerState("running") is ContainerState.RUNNING
    assert {s.name for s in ContainerState} >= {
        "RUNNING",
        "STOPPED",
        "PENDING",
        "TERMINATED",
        "REBOOTING",
        "ERROR",
        "UNKNOWN",
    }
