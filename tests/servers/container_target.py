"""What the container conformance suite needs from each driver's factory."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from overcast.container.base import ContainerDriver
from overcast.runtime.policy import RequestEvent

__all__ = ["ContainerTarget"]


@dataclass
class ContainerTarget:
    """A driver under test.

    ``image`` is an installed image to deploy; ``parameters`` make a container
    that keeps running until stopped; ``sent`` lists every request the driver
    sent (its hooks), so a test can check that invalid input sent nothing.
    ``make_image`` (if the driver makes images) returns a new image's
    reference to delete again; ``runs_containers`` is False where the server
    records containers but runs none (the lifecycle is then covered by the
    driver's unit tests on the scripted transport).
    """

    driver: ContainerDriver
    image: str
    parameters: Mapping[str, Any]
    sent: list[RequestEvent]
    cleanup: Callable[[], None]
    make_image: Callable[[str], Any] | None = None
    #: Whether the server really runs containers (moto's ECS runs none).
    runs_containers: bool = True
    #: Whether ``deploy_container(start=False)`` makes a container that is not
    #: running (a Kubernetes pod starts when it is made).
    deploys_stopped: bool = True
    #: The page size the driver was made with, where its listings page.
    page_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
