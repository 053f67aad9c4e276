"""The load balancer contract, stated once, run against every driver in both modes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from overcast.errors import BalancerNotFound
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotSupported
from overcast.loadbalancer.base import Algorithm
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import State
from servers.lb_target import LBTarget
from servers.modes import call

pytestmark = pytest.mark.server


def unique(prefix: str = "oc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make(target: LBTarget, mode: str = "sync", *,
         members: list[Member] | None = None) -> LoadBalancer:
    driver = target.driver
    balancer: LoadBalancer = call(mode, driver, "create_balancer", unique(), target.port(),
                                  driver.protocols[0], driver.algorithms[0], members or [],
                                  **target.create_kwargs)
    return balancer


def destroy(target: LBTarget, balancer: LoadBalancer) -> None:
    with contextlib.suppress(BalancerNotFound):
        target.driver.destroy_balancer(balancer)


@pytest.fixture
def balancer(lb_target: LBTarget) -> Iterator[LoadBalancer]:
    made = make(lb_target)
    yield made
    destroy(lb_target, made)


def test_protocols_and_algorithms(lb_target: LBTarget, mode: str) -> None:
    protocols = call(mode, lb_target.driver, "list_protocols")
    algorithms = call(mode, lb_target.driver, "list_supported_algorithms")
    assert protocols and all(isinstance(p, str) and p == p.lower() for p in protocols)
    assert algorithms and all(isinstance(a, Algorithm) for a in algorithms)


def test_create_get_list_update_destroy(lb_target: LBTarget, mode: str) -> None:
    driver = lb_target.driver
    # The second port is asked for too: next to a free port is where Linux puts
    # outgoing connections, so ``port + 1`` is often taken where a balancer binds.
    # A server that binds nothing gives one fixed port; any other number will do.
    port, other = lb_target.port(), lb_target.port()
    if other == port:
        other = port + 1
    made = call(mode, driver, "create_balancer", unique(), port, driver.protocols[0],
                driver.algorithms[0], [], **lb_target.create_kwargs)
    try:
        assert made.state in (State.RUNNING, State.PENDING)
        assert made.port == port
        got = call(mode, driver, "get_balancer", made.id)
        assert got == made and got.name == made.name
        assert made.id in [b.id for b in call(mode, driver, "list_balancers")]
        updated = call(mode, driver, "update_balancer", made, port=other)
        assert updated.port == other
        assert call(mode, driver, "get_balancer", made.id).port == other
        assert call(mode, driver, "destroy_balancer", made) is True
        with pytest.raises(BalancerNotFound):
            call(mode, driver, "get_balancer", made.id)
        assert made.id not in [b.id for b in call(mode, driver, "list_balancers")]
    finally:
        destroy(lb_target, made)


def test_attach_list_detach_members(lb_target: LBTarget, balancer: LoadBalancer,
                                    mode: str) -> None:
    driver = lb_target.driver
    first = call(mode, driver, "balancer_attach_member", balancer, lb_target.member())
    second = call(mode, driver, "balancer_attach_member", balancer, lb_target.member())
    assert first.id and second.id and first.balancer == balancer
    listed = call(mode, driver, "balancer_list_members", balancer)
    assert sorted(m.id for m in listed) == sorted([first.id, second.id])
    for member in listed:
        assert isinstance(member.extra["health"], Health)
        assert "status" in member.extra
    assert call(mode, driver, "balancer_get_member", balancer, first.id).id == first.id
    assert call(mode, driver, "balancer_detach_member", balancer, first) is True
    assert [m.id for m in call(mode, driver, "balancer_list_members", balancer)] == [second.id]
    with pytest.raises(MemberNotFound):
        call(mode, driver, "balancer_detach_member", balancer, first)
    with pytest.raises(MemberNotFound):
        call(mode, driver, "balancer_get_member", balancer, first.id)


def test_create_with_members(lb_target: LBTarget, mode: str) -> None:
    made = make(lb_target, mode, members=[lb_target.member()])
    try:
        assert len(call(mode, lb_target.driver, "balancer_list_members", made)) == 1
    finally:
        destroy(lb_target, made)


def test_attach_a_compute_node(lb_target: LBTarget, balancer: LoadBalancer, mode: str) -> None:
    node = lb_target.node()
    member = call(mode, lb_target.driver, "balancer_attach_compute_node", balancer, node)
    assert member.extra["node_id"] == node.id
    listed = call(mode, lb_target.driver, "balancer_list_members", balancer)
    assert [m.id for m in listed] == [member.id]


def test_missing_balancer(lb_target: LBTarget, mode: str) -> None:
    driver = lb_target.driver
    with pytest.raises(BalancerNotFound):
        call(mode, driver, "get_balancer", lb_target.missing_id)
    ghost = LoadBalancer(lb_target.missing_id, "ghost", State.RUNNING, None, 80, driver)
    with pytest.raises(BalancerNotFound):
        call(mode, driver, "destroy_balancer", ghost)
    with pytest.raises(BalancerNotFound):
        call(mode, driver, "balancer_list_members", ghost)


@pytest.mark.parametrize("case", ["protocol", "algorithm", "port", "member"])
def test_invalid_input_sends_nothing(lb_target: LBTarget, mode: str, case: str) -> None:
    driver = lb_target.driver
    args: dict[str, object] = {"protocol": driver.protocols[0],
                               "algorithm": driver.algorithms[0], "port": 8000, "members": []}
    args[case if case != "member" else "members"] = {
        "protocol": "gopher", "algorithm": "fastest", "port": 70000,
        "member": [Member(None, None, 80)]}[case]
    before = lb_target.activity()
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_balancer", unique(),
             args["port"] if case == "port" else lb_target.port(), args["protocol"],
             args["algorithm"], args["members"], **lb_target.create_kwargs)
    assert lb_target.activity() == before


def test_an_algorithm_the_driver_lacks_is_not_supported(lb_target: LBTarget, mode: str) -> None:
    lacking = [a for a in Algorithm if a not in lb_target.driver.algorithms]
    before = lb_target.activity()
    with pytest.raises(NotSupported):
        call(mode, lb_target.driver, "create_balancer", unique(), lb_target.port(),
             lb_target.driver.protocols[0], lacking[0], [], **lb_target.create_kwargs)
    assert lb_target.activity() == before


def test_listing_past_the_first_page(lb_target: LBTarget) -> None:
    """More balancers than a page holds, listed in both modes."""
    driver = lb_target.driver
    made = [make(lb_target) for _ in range(lb_target.many)]
    try:
        before = lb_target.activity()
        for mode in ("sync", "async"):
            ids = [b.id for b in call(mode, driver, "list_balancers")]
            assert len(ids) == len(set(ids))
            assert {b.id for b in made} <= set(ids)
        if lb_target.paged:  # at least two pages in each mode
            assert lb_target.activity() - before >= 4
    finally:
        for balancer in made:
            destroy(lb_target, balancer)
