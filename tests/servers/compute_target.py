"""What a compute driver factory hands the compute conformance suite."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeSize


@dataclass
class ComputeTarget:
    """A compute driver under test, and what to create nodes from.

    * ``driver``: the driver, pointed at a real server or hypervisor (moto,
      libvirt's ``test:///default``) or at a fixture server written from the
      provider's API reference.
    * ``pick_size`` / ``pick_image``: choose the size and image nodes are made
      from, out of the driver's own listings (default: the first of each).
    * ``create_kwargs``: extra keyword arguments for ``create_node`` that the
      provider needs (``ex_`` options).
    * ``requests``: a list the factory's driver hooks append each HTTP request
      to (``Hooks(on_request=[target.requests.append])``), so the suite can
      check that invalid input sends nothing; ``None`` for non-HTTP drivers.
    * ``page_size``: the page size the factory gave the driver, so the suite
      knows how many nodes make more than one page.
    * ``wait_period``: how often ``wait_until_running`` polls in tests.
    * ``volume_size``: the size in GiB of the volume the suite makes (the
      provider's smallest: Linode's is 10).
    """

    driver: NodeDriver
    pick_size: Callable[[list[NodeSize]], NodeSize] = lambda sizes: sizes[0]
    pick_image: Callable[[list[NodeImage]], NodeImage] = lambda images: images[0]
    create_kwargs: Mapping[str, Any] = field(default_factory=dict)
    requests: list[object] | None = None
    page_size: int = 2
    wait_period: float = 0.05
    volume_size: int = 1
