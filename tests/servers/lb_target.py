"""What a load balancer driver factory hands the load balancer conformance suite."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from overcast.loadbalancer.base import LoadBalancerDriver
from overcast.loadbalancer.base import Member


@dataclass
class LBTarget:
    """A load balancer driver under test, and how to make what it balances to.

    * ``driver``: the driver, pointed at a real server (moto, HAProxy) or a
      fixture server written from the provider's API reference.
    * ``member()``: a new member this driver can attach (an EC2 instance by
      id on moto, an address and port elsewhere).
    * ``node()``: a new compute node (anything with ``id``, ``public_ips`` and
      ``private_ips``) the driver can attach with ``balancer_attach_compute_node``.
    * ``create_kwargs``: keyword arguments ``create_balancer`` needs here
      (subnets, ...).
    * ``requests``: a list the driver's hooks append each HTTP request to, so
      the suite checks that invalid input sends nothing; ``None`` when the
      driver sends none (HAProxy) and ``sent`` counts its effects instead.
    * ``many``: how many balancers make more than one page of listing.
    * ``close``: other drivers the factory made, closed after the test.
    * ``missing_id``: a well-formed balancer id no balancer has.
    * ``port()``: a port for a new balancer to listen on (free, where it binds).
    * ``paged``: whether the driver's listing is paged (HAProxy's is one file).
    """

    driver: LoadBalancerDriver
    member: Callable[[], Member]
    node: Callable[[], Any]
    create_kwargs: Mapping[str, Any] = field(default_factory=dict)
    requests: list[object] | None = None
    sent: Callable[[], int] | None = None
    many: int = 5
    close: list[Any] = field(default_factory=list)
    missing_id: str = "overcast-missing"
    port: Callable[[], int] = lambda: 8000
    paged: bool = True

    def activity(self) -> int:
        """How much the driver has sent so far (requests, or effects)."""
        if self.requests is not None:
            return len(self.requests)
        return self.sent() if self.sent is not None else 0
