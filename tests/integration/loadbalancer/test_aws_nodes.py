"""Cross-service on moto: an EC2 node attached to a classic ELB and to an ALB
is healthy while it runs and unhealthy once ``stop_node`` has stopped it."""

from __future__ import annotations

import uuid

import pytest

from overcast.compute.base import NodeState
from overcast.loadbalancer.base import Health
from servers.compute_ec2 import IMAGE_ID
from servers.lb_aws import ec2_driver
from servers.lb_aws import make_elb
from servers.lb_aws import make_elbv2
from servers.modes import call

pytestmark = pytest.mark.server


@pytest.mark.parametrize("kind", ["elb", "alb"])
def test_an_ec2_node_is_healthy_then_unhealthy_after_stop(request: pytest.FixtureRequest,
                                                           mode: str, kind: str) -> None:
    ec2 = ec2_driver(request)
    balancers = make_elb(request) if kind == "elb" else make_elbv2(request, "alb")
    with ec2, balancers:
        size = next(s for s in ec2.list_sizes() if s.id == "t2.micro")
        node = ec2.create_node(f"web-{uuid.uuid4().hex[:6]}", size, ec2.get_image(IMAGE_ID))
        ec2.wait_until_running([node], wait_period=0.05)
        name = f"x-{uuid.uuid4().hex[:10]}"
        balancer = call(mode, balancers, "create_balancer", name, 80)
        try:
            member = call(mode, balancers, "balancer_attach_compute_node", balancer, node)
            assert member.id == node.id
            [listed] = call(mode, balancers, "balancer_list_members", balancer)
            assert (listed.id, listed.extra["health"]) == (node.id, Health.HEALTHY)
            assert call(mode, ec2, "stop_node", node) is True
            assert ec2.get_node(node.id).state == NodeState.STOPPED
            [listed] = call(mode, balancers, "balancer_list_members", balancer)
            assert listed.extra["health"] == Health.UNHEALTHY
            assert listed.extra["status"] in ("OutOfService", "unused")
        finally:
            balancers.destroy_balancer(balancer)
            ec2.destroy_node(node)
