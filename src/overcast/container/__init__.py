"""Containers: images, the containers deployed from them, and the clusters
they run in, one API for Docker-like engines and orchestrators.

Drivers come from :data:`Provider` or from plugins (entry-point group
``overcast.drivers.container``); the models live in
:mod:`overcast.container.base`, imported only when first named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overcast.container.compat import ContainerDriverGetter
from overcast.container.compat import unserved
from overcast.registry import Catalog
from overcast.registry import DriverGetter
from overcast.registry import DriverRef
from overcast.registry import lazy_exports

__all__ = ["DRIVERS", "ClusterLocation", "Container", "ContainerCluster", "ContainerDriver",
    "ContainerImage", "ContainerState", "LogChunk", "Provider", "get_driver", "set_driver"]

if TYPE_CHECKING:
    from overcast.container.base import ClusterLocation
    from overcast.container.base import Container
    from overcast.container.base import ContainerCluster
    from overcast.container.base import ContainerDriver
    from overcast.container.base import ContainerImage
    from overcast.container.base import ContainerState
    from overcast.container.base import LogChunk
    from overcast.container.compat import DRIVERS
    from overcast.container.compat import set_driver
    from overcast.container.drivers.docker import DockerContainerDriver
    from overcast.container.drivers.ecs import ECSContainerDriver
    from overcast.container.drivers.kubernetes import KubernetesContainerDriver


class Provider(metaclass=Catalog):
    """The built-in container drivers (plugins are found by their own names)."""

    DOCKER: DriverRef[DockerContainerDriver] = DriverRef("docker", "docker:DockerContainerDriver")
    # Apache Libcloud's constants with no driver here: get_driver says what to use.
    DUMMY = unserved("DUMMY")
    ECS: DriverRef[ECSContainerDriver] = DriverRef("ecs", "ecs:ECSContainerDriver")
    GKE = unserved("GKE")
    KUBERNETES: DriverRef[KubernetesContainerDriver] = DriverRef(
        "kubernetes", "kubernetes:KubernetesContainerDriver")
    LXD = unserved("LXD")
    RANCHER = unserved("RANCHER")


get_driver: DriverGetter[ContainerDriver] = ContainerDriverGetter("container")

__getattr__ = lazy_exports({
    **dict.fromkeys(set(__all__) - {"Provider", "get_driver", "DRIVERS", "set_driver"},
                    "overcast.container.base"),
    **dict.fromkeys(("DRIVERS", "set_driver"), "overcast.container.compat"),
})
