"""The load balancer base API, driven through a tiny in-memory driver, sync and async."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pytest

from overcast.errors import BalancerNotFound
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotSupported
from overcast.loadbalancer import Provider
from overcast.loadbalancer import get_driver
from overcast.loadbalancer.base import Algorithm
from overcast.loadbalancer.base import Driver
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import LoadBalancerDriver
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import State
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.operation import operations_of
from servers.modes import call

# -- running an operation sync or async ----------------------------------------------


def _no_network() -> Any:
    raise AssertionError("no request may be sent")


# -- the fakes -----------------------------------------------------------------------


@dataclass
class FakeNode:
    """Stands in for overcast.compute.base.Node."""

    id: str
    public_ips: list[str] = field(default_factory=list)
    private_ips: list[str] = field(default_factory=list)


class MemoryLB(LoadBalancerDriver):
    """Balancers and members in dicts."""

    name = "memory"
    protocols = ("http", "tcp")
    algorithms = (Algorithm.ROUND_ROBIN, Algorithm.LEAST_CONNECTIONS)

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)
        self.balancers: dict[str, LoadBalancer] = {}
        self.members: dict[str, dict[str, Member]] = {}
        self._ids = itertools.count(1)

    @iterator
    def iterate_balancers(self) -> Iter[LoadBalancer]:
        for balancer in list(self.balancers.values()):
            yield Emit(balancer)

    @operation
    def get_balancer(self, balancer_id: str) -> Op[LoadBalancer]:
        yield from ()
        if balancer_id not in self.balancers:
            raise BalancerNotFound(balancer_id, driver=self)
        return self.balancers[balancer_id]

    @operation
    def create_balancer(
        self,
        name: str,
        port: int,
        protocol: str = "http",
        algorithm: Algorithm = Algorithm.ROUND_ROBIN,
        members: Sequence[Member] = (),
    ) -> Op[LoadBalancer]:
        yield from ()
        if algorithm not in self.algorithms:
            raise NotSupported(f"algorithm {algorithm}", driver=self)
        balancer = LoadBalancer(
            f"lb-{next(self._ids)}",
            name,
            State.RUNNING,
            "198.51.100.1",
            port,
            self,
            {"protocol": protocol, "algorithm": algorithm},
        )
        self.balancers[balancer.id] = balancer
        self.members[balancer.id] = {}
        for member in members:
            self._attach(balancer, member)
        return balancer

    @operation
    def destroy_balancer(self, balancer: LoadBalancer) -> Op[bool]:
        yield from ()
        if self.balancers.pop(balancer.id, None) is None:
            raise BalancerNotFound(balancer.id, driver=self)
        del self.members[balancer.id]
        return True

    @operation
    def update_balancer(
        self,
        balancer: LoadBalancer,
        *,
        name: str | None = None,
        algorithm: Algorithm | None = None,
        protocol: str | None = None,
        port: int | None = None,
    ) -> Op[LoadBalancer]:
        yield from ()
        current = self.balancers[balancer.id]
        if name is not None:
            current.name = name
        if port is not None:
            current.port = port
        if algorithm is not None:
            current.extra["algorithm"] = algorithm
        if protocol is not None:
            current.extra["protocol"] = protocol
        return current

    def _attach(self, balancer: LoadBalancer, member: Member) -> Member:
        attached = Member(
            member.id or f"m-{next(self._ids)}",
            member.ip,
            member.port,
            balancer,
            dict(member.extra),
        )
        self.members[balancer.id][attached.id or ""] = attached
        return attached

    @operation
    def balancer_attach_member(self, balancer: LoadBalancer, member: Member) -> Op[Member]:
        yield from ()
        return self._attach(balancer, member)

    @operation
    def balancer_detach_member(self, balancer: LoadBalancer, member: Member) -> Op[bool]:
        yield from ()
        if self.members[balancer.id].pop(member.id or "", None) is None:
            raise MemberNotFound(str(member.id), driver=self)
        return True

    @iterator
    def balancer_iterate_members(self, balancer: LoadBalancer) -> Iter[Member]:
        for member in list(self.members[balancer.id].values()):
            yield Emit(member)


class BareLB(LoadBalancerDriver):
    """Implements nothing."""

    name = "bare"

    def __init__(self) -> None:
        super().__init__(sync_transport=_no_network, async_transport=_no_network)


class ListOnlyLB(BareLB):
    """Lists members, cannot attach."""

    @iterator
    def balancer_iterate_members(self, balancer: LoadBalancer) -> Iter[Member]:
        yield Emit(Member("m", "192.0.2.1", 80, balancer))


@pytest.fixture
def driver() -> MemoryLB:
    return MemoryLB()


@pytest.fixture
def balancer(driver: MemoryLB) -> LoadBalancer:
    return driver.create_balancer("web", 80, "http", Algorithm.ROUND_ROBIN, [])


# -- capabilities ----------------------------------------------------------------------

ALWAYS = {"list_protocols", "list_supported_algorithms"}


def test_supports() -> None:
    memory = MemoryLB()
    for name in operations_of(LoadBalancerDriver):
        assert memory.supports(name), name
    bare = BareLB()
    for name in operations_of(LoadBalancerDriver):
        assert bare.supports(name) == (name in ALWAYS), name
    partial = ListOnlyLB()
    assert partial.supports("balancer_list_members")
    assert partial.supports("balancer_get_member")
    assert not partial.supports("balancer_attach_compute_node")
    assert not partial.aio.supports("list_balancers")


def _args(balancer: LoadBalancer, member: Member) -> dict[str, tuple[Any, ...]]:
    """Valid arguments for every operation of the load balancer API."""
    return {
        "list_protocols": (),
        "list_supported_algorithms": (),
        "iterate_balancers": (),
        "list_balancers": (),
        "get_balancer": ("lb-1",),
        "create_balancer": ("web", 80, "http", Algorithm.ROUND_ROBIN, []),
        "destroy_balancer": (balancer,),
        "update_balancer": (balancer,),
        "balancer_attach_compute_node": (balancer, FakeNode("n1", ["192.0.2.1"])),
        "balancer_attach_member": (balancer, member),
        "balancer_detach_member": (balancer, member),
        "balancer_iterate_members": (balancer,),
        "balancer_list_members": (balancer,),
        "balancer_get_member": (balancer, "m"),
    }


@pytest.mark.parametrize("name", sorted(set(operations_of(LoadBalancerDriver)) - ALWAYS))
def test_unimplemented_operations_raise_not_supported(mode: str, name: str) -> None:
    bare = BareLB()
    balancer = LoadBalancer("lb", "web", State.RUNNING, None, 80, bare)
    args = _args(balancer, Member("m", "192.0.2.1", 80))[name]
    with pytest.raises(NotSupported):
        call(mode, bare, name, *args)


def test_every_operation_has_test_arguments() -> None:
    balancer = LoadBalancer("lb", "web", State.RUNNING, None, 80)
    assert set(_args(balancer, Member("m", None, None))) == set(operations_of(LoadBalancerDriver))


def test_libcloud_names() -> None:
    assert Driver is LoadBalancerDriver
    assert list(Provider) == ["elb", "alb", "nlb", "haproxy", "openstack", "rackspace"]
    with pytest.raises(NotSupported, match="no loadbalancer driver named 'nope'"):
        get_driver("nope")


def test_protocols_and_algorithms(driver: MemoryLB, mode: str) -> None:
    assert call(mode, driver, "list_protocols") == ["http", "tcp"]
    assert call(mode, driver, "list_supported_algorithms") == [
        Algorithm.ROUND_ROBIN,
        Algorithm.LEAST_CONNECTIONS,
    ]
    assert call(mode, BareLB(), "list_protocols") == []


# -- balancers and members -------------------------------------------------------------


def test_list_balancers_via_iterate(driver: MemoryLB, mode: str) -> None:
    a = call(mode, driver, "create_balancer", "a", 80, "http", Algorithm.ROUND_ROBIN, [])
    b = call(mode, driver, "create_balancer", "b", 443)
    assert b.extra == {"protocol": "http", "algorithm": Algorithm.ROUND_ROBIN}
    assert call(mode, driver, "list_balancers") == [a, b]
    assert call(mode, driver, "iterate_balancers") == [a, b]
    assert call(mode, driver, "get_balancer", b.id) is b
    with pytest.raises(BalancerNotFound):
        call(mode, driver, "get_balancer", "lb-404")
    with pytest.raises(NotSupported):
        call(mode, driver, "create_balancer", "c", 80, "http", Algorithm.RANDOM, [])


def test_update_balancer_is_keyword_only(
    driver: MemoryLB, balancer: LoadBalancer, mode: str
) -> None:
    updated = call(mode, driver, "update_balancer", balancer, name="api", port=8080)
    assert (updated.name, updated.port) == ("api", 8080)
    with pytest.raises(TypeError):
        call(mode, driver, "update_balancer", balancer, "positional-name")


def test_members(driver: MemoryLB, balancer: LoadBalancer, mode: str) -> None:
    one = call(mode, driver, "balancer_attach_member", balancer, Member(None, "192.0.2.1", 8080))
    two = call(mode, driver, "balancer_attach_member", balancer, Member("i-2", "192.0.2.2", 8080))
    assert one.id is not None
    assert one.balancer is balancer
    assert call(mode, driver, "balancer_list_members", balancer) == [one, two]
    assert call(mode, driver, "balancer_iterate_members", balancer) == [one, two]
    assert call(mode, driver, "balancer_get_member", balancer, "i-2") == two
    with pytest.raises(MemberNotFound):
        call(mode, driver, "balancer_get_member", balancer, "i-404")
    assert call(mode, driver, "balancer_detach_member", balancer, one) is True
    with pytest.raises(MemberNotFound):
        call(mode, driver, "balancer_detach_member", balancer, one)
    assert call(mode, driver, "balancer_list_members", balancer) == [two]


@pytest.mark.parametrize(
    ("node", "ip"),
    [
        (FakeNode("i-1", ["203.0.113.5", "203.0.113.6"], ["10.0.0.5"]), "203.0.113.5"),
        (FakeNode("i-1", [], ["10.0.0.5", "10.0.0.6"]), "10.0.0.5"),
    ],
)
def test_attach_compute_node(
    driver: MemoryLB, balancer: LoadBalancer, mode: str, node: FakeNode, ip: str
) -> None:
    member = call(mode, driver, "balancer_attach_compute_node", balancer, node)
    assert (member.id, member.ip, member.port) == ("i-1", ip, 80)
    assert member.extra == {"node_id": "i-1"}
    assert member.balancer is balancer
    assert driver.balancer_list_members(balancer) == [member]


def test_attach_compute_node_without_address(
    driver: MemoryLB, balancer: LoadBalancer, mode: str
) -> None:
    with pytest.raises(InvalidInput, match="no IP address"):
        call(mode, driver, "balancer_attach_compute_node", balancer, FakeNode("i-1"))
    assert driver.members[balancer.id] == {}


def test_destroy_balancer(driver: MemoryLB, balancer: LoadBalancer, mode: str) -> None:
    assert call(mode, driver, "destroy_balancer", balancer) is True
    with pytest.raises(BalancerNotFound):
        call(mode, driver, "destroy_balancer", balancer)


# -- models ------------------------------------------------------------------------------


def test_balancer_conveniences_delegate(driver: MemoryLB, balancer: LoadBalancer) -> None:
    from_node = balancer.attach_compute_node(FakeNode("i-9", ["203.0.113.9"]))
    member = balancer.attach_member(Member("i-8", "192.0.2.8", 80))
    assert balancer.list_members() == [from_node, member]
    assert list(balancer.iterate_members()) == [from_node, member]
    assert balancer.detach_member(from_node) is True
    assert balancer.list_members() == [member]
    assert balancer.destroy() is True
    assert driver.balancers == {}


def test_unbound_balancer() -> None:
    balancer = LoadBalancer("lb", "web", State.PENDING, None, None)
    with pytest.raises(InvalidInput, match="not bound"):
        balancer.list_members()


def test_model_equality(driver: MemoryLB, balancer: LoadBalancer) -> None:
    same = LoadBalancer(balancer.id, "renamed", State.ERROR, None, None, driver)
    assert same == balancer
    assert hash(same) == hash(balancer)
    assert LoadBalancer(balancer.id, "web", State.RUNNING, None, 80, BareLB()) != balancer
    assert Member("m", "192.0.2.1", 80) == Member("m", "192.0.2.1", 80, balancer)
    assert "driver" not in repr(balancer)


def test_enums_are_str() -> None:
    assert Algorithm("round_robin") is Algorithm.ROUND_ROBIN
    assert isinstance(Algorithm.ROUND_ROBIN, str)
    assert State("running") is State.RUNNING
    assert [s.name for s in State] == ["RUNNING", "PENDING", "UNKNOWN", "ERROR", "DELETED"]
