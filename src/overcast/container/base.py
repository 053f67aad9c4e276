"""Containers: images, containers and clusters, one API for every container platform.

Names and positional parameters follow Apache Libcloud 3.x
(``libcloud.container.base.ContainerDriver``), so its users port code by
changing imports; overcast's additions are keyword-only. Every operation is
available sync (``driver.x()``) and async (``await driver.aio.x()``); a driver
that lacks one raises :class:`~overcast.errors.NotSupported` (see
``driver.supports()``).

The :class:`Container` here is a running (or stopped) container; it is not
:class:`overcast.storage.Container`, a bucket of objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Any
from typing import ClassVar
from typing import TypeAlias

from overcast.driver import AsyncView
from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.errors import LocationNotFound
from overcast.models import Model
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import aio
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import not_supported
from overcast.runtime.operation import operation
from overcast.runtime.operation import requires
from overcast.runtime.operation import stream
from overcast.runtime.ops import find_by_id
from overcast.runtime.streams import ByteStream

__all__ = [
    "ClusterLocation",
    "Container",
    "ContainerCluster",
    "ContainerDriver",
    "ContainerDriverAsync",
    "ContainerImage",
    "ContainerState",
    "DeployParameters",
    "LogChunk",
]

#: What ``deploy_container`` takes as ``parameters``: Apache Libcloud passes a
#: string, richer drivers a mapping; each driver documents what it reads.
DeployParameters: TypeAlias = str | Mapping[str, Any]


class ContainerState(StrEnum):
    """The state of a container."""

    RUNNING = "running"
    STOPPED = "stopped"
    PENDING = "pending"
    TERMINATED = "terminated"
    REBOOTING = "rebooting"
    ERROR = "error"
    UNKNOWN = "unknown"
    PAUSED = "paused"
    SUSPENDED = "suspended"


@dataclass(slots=True, eq=False)
class ContainerImage(Model["ContainerDriver"]):
    """A container image that can be deployed.

    ``path`` is where it comes from (``"docker.io/library/nginx"``), ``version``
    its tag or digest.
    """

    _kind: ClassVar[str] = "image"

    id: str
    name: str
    path: str
    version: str | None
    driver: ContainerDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def _label(self) -> object:
        return self.name

    def deploy(self, name: str, parameters: DeployParameters | None = None,
               cluster: ContainerCluster | None = None, start: bool = True) -> Container:
        """Deploy a container named ``name`` from this image."""
        return self._driver().deploy_container(name, self, cluster, parameters, start)

    def delete(self) -> bool:
        """Delete this image."""
        return self._driver().delete_image(self)


@dataclass(slots=True, eq=False)
class Container(Model["ContainerDriver"]):
    """A container deployed from an image.

    ``state`` is a :class:`ContainerState`; ``ip_addresses`` the addresses it
    can be reached at; ``created_at`` when it was made, if the platform says.
    """

    _kind: ClassVar[str] = "container"

    id: str
    name: str
    image: ContainerImage
    state: ContainerState
    ip_addresses: list[str]
    driver: ContainerDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    def _label(self) -> object:
        return self.name

    def start(self) -> Container:
        """Start this container; return it as it now is."""
        return self._driver().start_container(self)

    def stop(self) -> Container:
        """Stop this container; return it as it now is."""
        return self._driver().stop_container(self)

    def restart(self) -> Container:
        """Restart this container; return it as it now is."""
        return self._driver().restart_container(self)

    def destroy(self) -> bool:
        """Delete this container."""
        return self._driver().destroy_container(self)


@dataclass(slots=True, eq=False)
class ContainerCluster(Model["ContainerDriver"]):
    """A cluster that containers are deployed into."""

    _kind: ClassVar[str] = "cluster"

    id: str
    name: str
    driver: ContainerDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def _label(self) -> object:
        return self.name

    def iterate_containers(self) -> Iterator[Container]:
        """Iterate over the containers of this cluster."""
        return self._driver().iterate_containers(cluster=self)

    def list_containers(self) -> list[Container]:
        """List the containers of this cluster."""
        return self._driver().list_containers(cluster=self)

    def destroy(self) -> bool:
        """Delete this cluster."""
        return self._driver().destroy_cluster(self)


@dataclass(slots=True, eq=False)
class ClusterLocation(Model["ContainerDriver"]):
    """A place (region, zone) where clusters can be made; ``country`` is an ISO code."""

    _kind: ClassVar[str] = "location"

    id: str
    name: str
    country: str | None
    driver: ContainerDriver | None = field(default=None, repr=False)

    def _label(self) -> object:
        return self.name


class LogChunk(bytes):
    """A piece of a container's output: the bytes themselves, and ``stream``,
    which of its outputs wrote them (``"stdout"`` or ``"stderr"``; ``"stdout"``
    for a container with a terminal, whose outputs are one)."""

    stream: str

    def __new__(cls, data: bytes, stream: str) -> LogChunk:
        chunk = super().__new__(cls, data)
        chunk.stream = stream
        return chunk

    @property
    def data(self) -> bytes:
        """The bytes, as plain ``bytes``."""
        return bytes(self)

    def __repr__(self) -> str:
        return f"LogChunk({bytes(self)!r}, {self.stream!r})"


def check_cluster_argument(cluster: object, driver: BaseDriver, *, operation: str) -> None:
    """Refuse a ``cluster`` that is no cluster: Apache Libcloud's Docker driver
    takes ``deploy_container(name, image, parameters, start)`` and
    ``list_containers(image, all)``, so a call written for it passes its third
    argument where overcast's base order has ``cluster``; it is refused rather
    than misread."""
    if cluster is not None and not isinstance(cluster, ContainerCluster):
        raise InvalidInput(
            f"{operation}: the third positional argument is the cluster (overcast keeps "
            f"the base driver's order), not {type(cluster).__name__} {cluster!r}; pass "
            "parameters=, start= or all= by keyword", driver=driver)


class ContainerDriver(BaseDriver):
    """Base class of container drivers.

    Drivers implement the primitive operations (``install_image``,
    ``iterate_images``, ``get_image``, ``delete_image``, ``iterate_containers``,
    ``deploy_container``, ``get_container``, ``start_container``,
    ``stop_container``, ``restart_container``, ``destroy_container``,
    ``iterate_locations``, ``create_cluster``, ``destroy_cluster``,
    ``iterate_clusters``, ``get_cluster``); listing is built on them here, once.
    Drivers of platforms with clusters set :attr:`supports_clusters`.
    """

    area: ClassVar[str] = "container"
    async_view: ClassVar[type[AsyncView[Any]]]
    aio: ContainerDriverAsync

    #: Whether containers are deployed into clusters (Apache Libcloud's flag).
    supports_clusters: ClassVar[bool] = False

    # -- images -------------------------------------------------------------------

    @operation
    @not_supported
    def install_image(self, path: str) -> Op[ContainerImage]:
        """Pull an image from a registry path (``"nginx:1.27"``) and return it."""
        raise NotImplementedError

    @iterator
    @not_supported
    def iterate_images(self) -> Iter[ContainerImage]:
        """Iterate over the installed images."""
        raise NotImplementedError

    list_images = listing(iterate_images, "List the installed images.")

    @operation
    @not_supported
    def get_image(self, id: str) -> Op[ContainerImage]:
        """Get an installed image by id; :class:`~overcast.errors.ImageNotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def delete_image(self, image: ContainerImage) -> Op[bool]:
        """Delete an installed image; :class:`~overcast.errors.ImageNotFound` if absent."""
        raise NotImplementedError

    # -- containers -----------------------------------------------------------------

    @iterator
    @not_supported
    def iterate_containers(self, image: ContainerImage | None = None,
                           cluster: ContainerCluster | None = None, *,
                           all: bool = True) -> Iter[Container]:
        """Iterate over deployed containers, page by page.

        ``image`` and ``cluster`` keep only the containers of that image or
        cluster; ``all=False`` keeps only running ones.
        """
        raise NotImplementedError

    list_containers = listing(
        iterate_containers, "List deployed containers (filters as in :meth:`iterate_containers`)."
    )

    @operation
    @not_supported
    def deploy_container(self, name: str, image: ContainerImage,
                         cluster: ContainerCluster | None = None,
                         parameters: DeployParameters | None = None,
                         start: bool = True) -> Op[Container]:
        """Deploy a container named ``name`` from ``image`` (into ``cluster``, if
        given), with driver-specific ``parameters``; start it unless ``start`` is
        False."""
        raise NotImplementedError

    @operation
    @not_supported
    def get_container(self, id: str) -> Op[Container]:
        """Get a container by id; :class:`~overcast.errors.NotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def start_container(self, container: Container) -> Op[Container]:
        """Start a container; return it as it now is."""
        raise NotImplementedError

    @operation
    @not_supported
    def stop_container(self, container: Container) -> Op[Container]:
        """Stop a container; return it as it now is."""
        raise NotImplementedError

    @operation
    @not_supported
    def restart_container(self, container: Container) -> Op[Container]:
        """Restart a container; return it as it now is."""
        raise NotImplementedError

    @operation
    @not_supported
    def destroy_container(self, container: Container) -> Op[bool]:
        """Delete a container (stopping it first if it runs)."""
        raise NotImplementedError

    @stream
    @not_supported
    def stream_container_logs(self, container: Container, *, follow: bool = False,
                              since: int | None = None,
                              tail: int | None = None) -> Op[ByteStream]:
        """A container's output as it comes: chunks (:class:`LogChunk`, which are
        ``bytes``) each with ``.stream`` (``"stdout"``/``"stderr"``) and ``.data``.

        ``follow`` keeps the stream open while the container runs (bounded by an
        idle timeout, not the operation's total one); ``since`` is a Unix time,
        ``tail`` the number of last lines to start with. Leaving the iteration
        early closes the connection and leaves the container as it is.
        """
        raise NotImplementedError

    # -- locations and clusters ---------------------------------------------------------

    @iterator
    @not_supported
    def iterate_locations(self) -> Iter[ClusterLocation]:
        """Iterate over the locations clusters can be made in."""
        raise NotImplementedError

    list_locations = listing(iterate_locations, "List the locations clusters can be made in.")

    @operation
    @requires("iterate_locations")
    def get_location(self, id: str) -> Op[ClusterLocation]:
        """Get a location by id; :class:`~overcast.errors.NotFound` if absent.
        (Generic: searches the location list; drivers may look it up directly.)"""
        return (yield from find_by_id(self.iterate_locations.op(), id, LocationNotFound,
                                      driver=self))

    @operation
    @not_supported
    def create_cluster(
        self, name: str, location: ClusterLocation | None = None
    ) -> Op[ContainerCluster]:
        """Create a cluster named ``name`` (in ``location``, else the default one)."""
        raise NotImplementedError

    @operation
    @not_supported
    def destroy_cluster(self, cluster: ContainerCluster) -> Op[bool]:
        """Delete a cluster; :class:`~overcast.errors.ClusterNotFound` if absent."""
        raise NotImplementedError

    @iterator
    @not_supported
    def iterate_clusters(self, location: ClusterLocation | None = None) -> Iter[ContainerCluster]:
        """Iterate over the clusters (of ``location``, if given), page by page."""
        raise NotImplementedError

    list_clusters = listing(iterate_clusters, "List the clusters (of ``location``, if given).")

    @operation
    @not_supported
    def get_cluster(self, id: str) -> Op[ContainerCluster]:
        """Get a cluster by id; :class:`~overcast.errors.ClusterNotFound` if absent."""
        raise NotImplementedError


class ContainerDriverAsync(AsyncView[ContainerDriver]):
    """``driver.aio`` of a container driver: every operation, awaitable."""

    install_image = aio(ContainerDriver.install_image)
    iterate_images = aio(ContainerDriver.iterate_images)
    list_images = aio(ContainerDriver.list_images)
    get_image = aio(ContainerDriver.get_image)
    delete_image = aio(ContainerDriver.delete_image)
    iterate_containers = aio(ContainerDriver.iterate_containers)
    list_containers = aio(ContainerDriver.list_containers)
    deploy_container = aio(ContainerDriver.deploy_container)
    get_container = aio(ContainerDriver.get_container)
    start_container = aio(ContainerDriver.start_container)
    stop_container = aio(ContainerDriver.stop_container)
    restart_container = aio(ContainerDriver.restart_container)
    destroy_container = aio(ContainerDriver.destroy_container)
    stream_container_logs = aio(ContainerDriver.stream_container_logs)
    iterate_locations = aio(ContainerDriver.iterate_locations)
    list_locations = aio(ContainerDriver.list_locations)
    get_location = aio(ContainerDriver.get_location)
    create_cluster = aio(ContainerDriver.create_cluster)
    destroy_cluster = aio(ContainerDriver.destroy_cluster)
    iterate_clusters = aio(ContainerDriver.iterate_clusters)
    list_clusters = aio(ContainerDriver.list_clusters)
    get_cluster = aio(ContainerDriver.get_cluster)


ContainerDriver.async_view = ContainerDriverAsync
