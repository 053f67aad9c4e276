"""Load balancers: the models and the driver API every load balancer driver shares.

Names and positional parameters follow Apache Libcloud 3.x
(``libcloud.loadbalancer.base.Driver``), so its users port code by changing
imports; overcast's additions are keyword-only. Every operation is available
sync (``driver.x()``) and async (``await driver.aio.x()``); a driver that lacks
one raises :class:`~overcast.errors.NotSupported` (see ``driver.supports()``).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.compute.base import NodeLike
from overcast.driver import AsyncView
from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.models import Model
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import aio
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import not_supported
from overcast.runtime.operation import operation
from overcast.runtime.operation import requires
from overcast.runtime.ops import collect
from overcast.runtime.ops import find_by_id
from overcast.runtime.ops import pure

__all__ = [
    "DEFAULT_ALGORITHM",
    "Algorithm",
    "BalancerError",
    "BalancerImmutable",
    "Driver",
    "Health",
    "LibcloudLBError",
    "LibcloudLBImmutableError",
    "LoadBalancer",
    "LoadBalancerDriver",
    "LoadBalancerDriverAsync",
    "Member",
    "MemberCondition",
    "State",
]


class Algorithm(StrEnum):
    """How a balancer spreads connections over its members."""

    RANDOM = "random"
    ROUND_ROBIN = "round_robin"
    LEAST_CONNECTIONS = "least_connections"
    WEIGHTED_ROUND_ROBIN = "weighted_round_robin"
    WEIGHTED_LEAST_CONNECTIONS = "weighted_least_connections"
    SHORTEST_RESPONSE = "shortest_response"
    PERSISTENT_IP = "persistent_ip"
    # Apache Libcloud's names for F5-style algorithms (Dimension Data, NTT): no
    # driver here offers them, but code that names them keeps importing.
    LEAST_CONNECTIONS_MEMBER = "least_connections_member"
    LEAST_CONNECTIONS_NODE = "least_connections_node"
    OBSERVED_MEMBER = "observed_member"
    OBSERVED_NODE = "observed_node"
    PREDICTIVE_MEMBER = "predictive_member"
    PREDICTIVE_NODE = "predictive_node"


#: The algorithm a balancer uses when none is named (Libcloud's ``DEFAULT_ALGORITHM``).
DEFAULT_ALGORITHM: Final = Algorithm.ROUND_ROBIN


class Health(StrEnum):
    """How a member is doing, in one vocabulary for every provider.

    A member's ``extra["health"]`` is one of these; ``extra["status"]`` keeps
    the provider's own word for it (``InService``, ``unused``, ``UP``, ...).
    """

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DRAINING = "draining"
    DISABLED = "disabled"
    UNKNOWN = "unknown"


class MemberCondition(StrEnum):
    """Whether a member takes traffic (Libcloud's ``MemberCondition``): where
    the provider has it, a member's ``extra["condition"]``, and what its
    ``ex_`` operations set."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    DRAINING = "draining"


class BalancerError(ProviderError):
    """A load balancer provider refused a change (Libcloud's ``LibcloudLBError``)."""


class BalancerImmutable(BalancerError):
    """The balancer is being changed and refuses any other change until it is
    done (Libcloud's ``LibcloudLBImmutableError``); drivers wait it out where
    the provider says when it is done."""


LibcloudLBError = BalancerError
LibcloudLBImmutableError = BalancerImmutable


class State(StrEnum):
    """The state of a load balancer."""

    RUNNING = "running"
    PENDING = "pending"
    UNKNOWN = "unknown"
    ERROR = "error"
    DELETED = "deleted"


@dataclass(slots=True, eq=False)
class LoadBalancer(Model["LoadBalancerDriver"]):
    """A load balancer: an address and port in front of a set of members.

    ``state`` is a :class:`State`; ``ip`` and ``port`` are where it listens
    (``None`` when the provider gives a host name only, in ``extra``, or several
    listeners).
    """

    _kind: ClassVar[str] = "load balancer"

    id: str
    name: str
    state: State
    ip: str | None
    port: int | None
    driver: LoadBalancerDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def _label(self) -> object:
        return self.name

    def attach_compute_node(self, node: NodeLike) -> Member:
        """Add a compute node as a member of this balancer."""
        return self._driver().balancer_attach_compute_node(self, node)

    def attach_member(self, member: Member) -> Member:
        """Add a member to this balancer."""
        return self._driver().balancer_attach_member(self, member)

    def detach_member(self, member: Member) -> bool:
        """Remove a member from this balancer."""
        return self._driver().balancer_detach_member(self, member)

    def iterate_members(self) -> Iterator[Member]:
        """Iterate over the members of this balancer."""
        return self._driver().balancer_iterate_members(self)

    def list_members(self) -> list[Member]:
        """List the members of this balancer."""
        return self._driver().balancer_list_members(self)

    def destroy(self) -> bool:
        """Delete this balancer."""
        return self._driver().destroy_balancer(self)


@dataclass(slots=True, eq=False)
class Member:
    """A back end of a load balancer: an address and port traffic is sent to.

    ``id`` is the provider's member id (for a member not yet attached, the id
    the provider attaches by, such as an instance id, or ``None``); ``balancer``
    is the balancer it belongs to, once known. A listed member's
    ``extra["health"]`` is a :class:`Health` (``extra["status"]`` the
    provider's word), and where the provider has them ``extra["condition"]``
    is a :class:`MemberCondition` and ``extra["weight"]`` its weight.
    """

    id: str | None
    ip: str | None
    port: int | None
    balancer: LoadBalancer | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Member) and (self.id, self.ip, self.port) == (
            other.id,
            other.ip,
            other.port,
        )

    def __hash__(self) -> int:
        return hash((self.id, self.ip, self.port))


class LoadBalancerDriver(BaseDriver):
    """Base class of load balancer drivers.

    Drivers implement the primitive operations (``iterate_balancers``,
    ``get_balancer``, ``create_balancer``, ``destroy_balancer``,
    ``update_balancer``, ``balancer_attach_member``, ``balancer_detach_member``,
    ``balancer_iterate_members``) and set :attr:`protocols` and
    :attr:`algorithms`; the rest is built on them here, once.
    """

    area: ClassVar[str] = "loadbalancer"
    async_view: ClassVar[type[AsyncView[Any]]]
    aio: LoadBalancerDriverAsync

    #: The protocols a balancer of this driver can speak (``"http"``, ``"tcp"``, ...).
    protocols: ClassVar[tuple[str, ...]] = ()
    #: The balancing algorithms this driver supports.
    algorithms: ClassVar[tuple[Algorithm, ...]] = ()

    # -- checks every driver makes before sending anything --------------------------

    def _check_port(self, port: object, what: str = "port") -> int:
        """A TCP port, 1 to 65535; InvalidInput otherwise."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidInput(f"{what} must be a whole number from 1 to 65535: {port!r}",
                               driver=self)
        return port

    def _check_protocol(self, protocol: object) -> str:
        """One of :attr:`protocols` (any case); InvalidInput otherwise."""
        wanted = protocol.lower() if isinstance(protocol, str) else protocol
        if wanted not in self.protocols:
            raise InvalidInput(f"unknown protocol {protocol!r}; this driver speaks "
                               f"{', '.join(self.protocols)}", driver=self)
        return str(wanted)

    def _check_algorithm(self, algorithm: object) -> Algorithm:
        """An :class:`Algorithm` this driver offers: InvalidInput for a value
        that is no algorithm, NotSupported for one the driver lacks."""
        known = next((each for each in Algorithm if each == algorithm), None)
        if known is None:
            raise InvalidInput(f"unknown algorithm {algorithm!r}", driver=self)
        if known not in self.algorithms:
            raise NotSupported(f"{self.name} offers no {known.value} algorithm; it offers "
                               f"{', '.join(a.value for a in self.algorithms)}", driver=self)
        return known

    def _check_member(self, member: object, *, by_id: bool = False) -> Member:
        """A member to attach: a :class:`Member` with an address (an IP, or an
        id the provider attaches by) and, if it has one, a valid port.
        ``by_id``: only an id will do (members are instances)."""
        if not isinstance(member, Member):
            raise InvalidInput(f"a member must be a Member: {member!r}", driver=self)
        if by_id and not member.id:
            raise InvalidInput(f"{self.name} attaches members by instance id; this member has "
                               f"none: {member!r}", driver=self)
        if not member.id and not member.ip:
            raise InvalidInput(f"a member needs an IP address or an id: {member!r}", driver=self)
        if member.port is not None:
            self._check_port(member.port, "a member's port")
        return member

    def _check_members(self, members: object, *, by_id: bool = False) -> list[Member]:
        """The members given to ``create_balancer``, each checked."""
        if isinstance(members, str | bytes | Member) or not isinstance(members, Sequence):
            raise InvalidInput(f"members must be a list of Member: {members!r}", driver=self)
        return [self._check_member(member, by_id=by_id) for member in members]

    # -- capabilities -------------------------------------------------------------

    @operation
    def list_protocols(self) -> Op[list[str]]:
        """The protocols a balancer can speak (from :attr:`protocols`)."""
        return (yield from pure(list(self.protocols)))

    @operation
    def list_supported_algorithms(self) -> Op[list[Algorithm]]:
        """The balancing algorithms this driver supports (from :attr:`algorithms`)."""
        return (yield from pure(list(self.algorithms)))

    # -- balancers ----------------------------------------------------------------

    @iterator
    @not_supported
    def iterate_balancers(self) -> Iter[LoadBalancer]:
        """Iterate over every load balancer of the account, page by page."""
        raise NotImplementedError

    list_balancers = listing(iterate_balancers, "List every load balancer of the account.")

    @operation
    @not_supported
    def get_balancer(self, balancer_id: str) -> Op[LoadBalancer]:
        """Get a load balancer by id; :class:`~overcast.errors.BalancerNotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_balancer(self, name: str, port: int, protocol: str = "http",
                        algorithm: Algorithm = Algorithm.ROUND_ROBIN,
                        members: Sequence[Member] = ()) -> Op[LoadBalancer]:
        """Create a load balancer listening on ``port`` with ``protocol``, spreading
        connections over ``members`` by ``algorithm``.

        :class:`~overcast.errors.NotSupported` if the driver lacks the protocol
        or algorithm (see :meth:`list_protocols`, :meth:`list_supported_algorithms`).
        """
        raise NotImplementedError

    @operation
    @not_supported
    def destroy_balancer(self, balancer: LoadBalancer) -> Op[bool]:
        """Delete a load balancer; :class:`~overcast.errors.BalancerNotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def update_balancer(self, balancer: LoadBalancer, *, name: str | None = None,
                        algorithm: Algorithm | None = None, protocol: str | None = None,
                        port: int | None = None) -> Op[LoadBalancer]:
        """Change a balancer's name, algorithm, protocol or port; return it as it now is.

        Arguments left ``None`` keep their value.
        """
        raise NotImplementedError

    # -- members ------------------------------------------------------------------

    @operation
    @requires("balancer_attach_member")
    def balancer_attach_compute_node(self, balancer: LoadBalancer, node: NodeLike) -> Op[Member]:
        """Add a compute node to a balancer.

        The member is the node's first public address (else its first private
        one) on the balancer's port, with the node's id as member id;
        :class:`~overcast.errors.InvalidInput`, before any request, if the node
        has no address.
        """
        member = self._node_member(balancer, node)
        return (yield from self.balancer_attach_member.op(balancer, member))

    def _node_member(self, balancer: LoadBalancer, node: NodeLike) -> Member:
        """The member a compute node makes (see :meth:`balancer_attach_compute_node`)."""
        addresses = [*node.public_ips, *node.private_ips]
        if not addresses:
            raise InvalidInput(f"node {node.id!r} has no IP address to balance to", driver=self)
        return Member(node.id, addresses[0], balancer.port, balancer, extra={"node_id": node.id})

    @operation
    @not_supported
    def balancer_attach_member(self, balancer: LoadBalancer, member: Member) -> Op[Member]:
        """Add a member to a balancer; return it as attached (with its provider id)."""
        raise NotImplementedError

    @operation
    @not_supported
    def balancer_detach_member(self, balancer: LoadBalancer, member: Member) -> Op[bool]:
        """Remove a member from a balancer; :class:`~overcast.errors.MemberNotFound`
        if it is not one."""
        raise NotImplementedError

    @iterator
    @not_supported
    def balancer_iterate_members(self, balancer: LoadBalancer) -> Iter[Member]:
        """Iterate over the members of a balancer, page by page."""
        raise NotImplementedError

    @operation
    @requires("balancer_iterate_members")
    def balancer_list_members(self, balancer: LoadBalancer) -> Op[list[Member]]:
        """List the members of a balancer."""
        return (yield from collect(self.balancer_iterate_members.op(balancer)))

    @operation
    @requires("balancer_iterate_members")
    def balancer_get_member(self, balancer: LoadBalancer, member_id: str) -> Op[Member]:
        """Get a member of a balancer by id; :class:`~overcast.errors.MemberNotFound`
        if absent. (Generic: searches the member list; drivers may look it up directly.)"""
        return (yield from find_by_id(self.balancer_iterate_members.op(balancer), member_id,
                                      MemberNotFound, driver=self))


class LoadBalancerDriverAsync(AsyncView[LoadBalancerDriver]):
    """``driver.aio`` of a load balancer driver: every operation, awaitable."""

    list_protocols = aio(LoadBalancerDriver.list_protocols)
    list_supported_algorithms = aio(LoadBalancerDriver.list_supported_algorithms)
    iterate_balancers = aio(LoadBalancerDriver.iterate_balancers)
    list_balancers = aio(LoadBalancerDriver.list_balancers)
    get_balancer = aio(LoadBalancerDriver.get_balancer)
    create_balancer = aio(LoadBalancerDriver.create_balancer)
    destroy_balancer = aio(LoadBalancerDriver.destroy_balancer)
    update_balancer = aio(LoadBalancerDriver.update_balancer)
    balancer_attach_compute_node = aio(LoadBalancerDriver.balancer_attach_compute_node)
    balancer_attach_member = aio(LoadBalancerDriver.balancer_attach_member)
    balancer_detach_member = aio(LoadBalancerDriver.balancer_detach_member)
    balancer_iterate_members = aio(LoadBalancerDriver.balancer_iterate_members)
    balancer_list_members = aio(LoadBalancerDriver.balancer_list_members)
    balancer_get_member = aio(LoadBalancerDriver.balancer_get_member)


LoadBalancerDriver.async_view = LoadBalancerDriverAsync

#: Apache Libcloud's name for the base class (``libcloud.loadbalancer.base.Driver``).
Driver = LoadBalancerDriver
