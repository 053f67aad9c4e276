"""Balancers that refuse changes while they are busy (Octavia's ``PENDING_*``
with a 409, Rackspace's ``BUILD``/``PENDING_*`` with a 422): wait for
``ACTIVE`` before each change, and wait out a refusal once more.

A driver mixes in :class:`WaitsUntilActive` (after ``HttpApi``), maps the
provider's "immutable" answer to
:class:`~overcast.loadbalancer.base.BalancerImmutable` in its error table,
and writes :meth:`WaitsUntilActive._describe` (one balancer's description).
"""

from __future__ import annotations

from typing import Any
from typing import ClassVar

from overcast.errors import NotFound
from overcast.errors import ProviderError
from overcast.loadbalancer.base import BalancerImmutable
from overcast.runtime.api import HttpApi
from overcast.runtime.effects import Op
from overcast.runtime.ops import poll

__all__ = ["WaitsUntilActive"]


class WaitsUntilActive(HttpApi):
    """Waiting for a balancer to be ``ACTIVE`` between changes.

    ``poll_interval`` (the pause between two looks) and ``wait_timeout`` (how
    long a balancer may stay busy) are set by the driver's constructor.
    """

    #: The key of a balancer's description that holds its provisioning state.
    status_key: ClassVar[str] = "status"
    #: States a balancer does not leave by waiting.
    failed_states: ClassVar[frozenset[str]] = frozenset({"ERROR", "DELETED"})
    poll_interval: float
    wait_timeout: float

    def _describe(self, balancer_id: str) -> Op[dict[str, Any]]:
        """One balancer's description (BalancerNotFound if there is none)."""
        raise NotImplementedError

    def _active(self, balancer_id: str) -> Op[dict[str, Any]]:
        """Wait until the balancer is ``ACTIVE`` (pausing ``poll_interval``
        between looks, at most ``wait_timeout`` in all); its description."""
        def active(found: dict[str, Any]) -> bool:
            status = found.get(self.status_key)
            if status in self.failed_states:
                raise ProviderError(f"balancer {balancer_id} is {status}", driver=self)
            return status == "ACTIVE"

        return (yield from poll(
            lambda: self._describe(balancer_id), active, interval=self.poll_interval,
            timeout=self.wait_timeout, timed_out=lambda found: ProviderError(
                f"balancer {balancer_id} was not ACTIVE within {self.wait_timeout:g}s",
                driver=self)))

    def _change(self, balancer_id: str, method: str, path: str, *, json: Any = None,
                what: str = "", missing: type[NotFound] = NotFound) -> Op[Any]:
        """A change to a balancer (``method`` on ``path``), sent once it is
        ``ACTIVE``, and once more after waiting if it is still refused as
        immutable; the decoded answer."""
        for attempt in (1, 2):
            yield from self._active(balancer_id)
            try:
                return (yield from self._json(method, path, json=json, what=what,
                                              missing=missing, idempotent=method != "POST"))
            except BalancerImmutable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover
