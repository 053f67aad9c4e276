"""The ALB and NLB drivers (ELBv2) on the scripted transport, in both modes:
the all-or-nothing create, destroy, members and their health, listeners,
target groups paged past page 1, the error table and the guards."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.errors import AlreadyExists
from overcast.errors import BalancerNotFound
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.loadbalancer import get_driver
from overcast.loadbalancer.base import Algorithm
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import State
from overcast.loadbalancer.drivers.elbv2 import ElbV2Driver
from overcast.runtime.policy import RetryPolicy
from overcast.testing import Script
from overcast.testing import call
from servers.lb_aws import API
from servers.lb_aws import ELBV2_NS
from servers.lb_aws import answer as elb_answer
from servers.lb_aws import fault
from servers.lb_aws import fields
from servers.lb_aws import form

ARN = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1"
TG = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/2"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/1/3"


def answer(action: str, inner: str = "") -> str:
    return elb_answer(action, inner, ELBV2_NS)


def driver(script: Script, name: str = "alb", **options: Any) -> ElbV2Driver:
    made: ElbV2Driver = get_driver(name)("AKIDUNIT", "unit-secret", "us-east-1", page_size=2,
                                         subnets=["subnet-a", "subnet-b"], **options,
                                         **script.options())
    return made


def lb(name: str = "web", arn: str = ARN, kind: str = "application",
       state: str = "active") -> str:
    return (f"<member><LoadBalancerArn>{arn}</LoadBalancerArn><LoadBalancerName>{name}"
            f"</LoadBalancerName><DNSName>{name}.elb.example</DNSName><Type>{kind}</Type>"
            f"<State><Code>{state}</Code></State><VpcId>vpc-1</VpcId><AvailabilityZones>"
            f"<member><ZoneName>us-east-1a</ZoneName></member></AvailabilityZones></member>")


def balancers(*items: str, marker: str | None = None) -> str:
    tail = f"<NextMarker>{marker}</NextMarker>" if marker else ""
    return answer("DescribeLoadBalancers", f"<LoadBalancers>{''.join(items)}</LoadBalancers>{tail}")


def listeners(port: int = 80) -> str:
    return answer("DescribeListeners",
                  f"<Listeners><member><ListenerArn>{LISTENER}</ListenerArn><Port>{port}</Port>"
                  f"<Protocol>HTTP</Protocol><DefaultActions><member><Type>forward</Type>"
                  f"<TargetGroupArn>{TG}</TargetGroupArn></member></DefaultActions></member>"
                  f"</Listeners>")


def group(arn: str = TG, name: str = "web") -> str:
    return (f"<member><TargetGroupArn>{arn}</TargetGroupArn><TargetGroupName>{name}"
            f"</TargetGroupName><Protocol>HTTP</Protocol><Port>8080</Port>"
            f"<TargetType>instance</TargetType><VpcId>vpc-1</VpcId></member>")


def expect_get(script: Script, port: int = 80, arn: str = ARN) -> None:
    script.expect("POST", API, match=form("DescribeLoadBalancers",
                                          LoadBalancerArns__member__1=arn)).reply(
        200, text=balancers(lb(arn=arn)))
    script.expect("POST", API, match=form("DescribeListeners", LoadBalancerArn=arn)).reply(
        200, text=listeners(port))


def health(*targets: tuple[str, str]) -> str:
    inner = "".join(f"<member><Target><Id>{i}</Id><Port>8080</Port></Target><TargetHealth>"
                    f"<State>{s}</State></TargetHealth></member>" for i, s in targets)
    return answer("DescribeTargetHealth",
                  f"<TargetHealthDescriptions>{inner}</TargetHealthDescriptions>")


BALANCER = LoadBalancer(ARN, "web", State.RUNNING, None, 80, None,
                        {"target_group_arn": TG, "listeners": []})


def expect_create_steps(script: Script) -> None:
    script.expect("POST", API, match=form("CreateLoadBalancer", Name="web", Type="application",
                                          Subnets__member__1="subnet-a",
                                          Subnets__member__2="subnet-b")).reply(
        200, text=answer("CreateLoadBalancer", f"<LoadBalancers>{lb(state='provisioning')}"
                                               f"</LoadBalancers>"))
    script.expect("POST", API, match=form("CreateTargetGroup", Name="web", Port="8080",
                                          VpcId="vpc-1", TargetType="instance")).reply(
        200, text=answer("CreateTargetGroup", f"<TargetGroups>{group()}</TargetGroups>"))
    script.expect("POST", API, match=form(
        "ModifyTargetGroupAttributes", Attributes__member__1__Value="least_outstanding_requests",
    )).reply(200, text=answer("ModifyTargetGroupAttributes"))
    script.expect("POST", API, match=form("RegisterTargets", TargetGroupArn=TG,
                                          Targets__member__1__Id="i-1",
                                          Targets__member__1__Port="8080")).reply(
        200, text=answer("RegisterTargets"))


def test_create_makes_balancer_group_registrations_and_listener(mode: str) -> None:
    script = Script()
    expect_create_steps(script)
    script.expect("POST", API, match=form("CreateListener", LoadBalancerArn=ARN, Port="80",
                                          DefaultActions__member__1__TargetGroupArn=TG)).reply(
        200, text=answer("CreateListener", listeners().split("<DescribeListenersResult>")[1]
                         .split("</DescribeListenersResult>")[0]))
    expect_get(script)
    made = call(mode, driver(script), "create_balancer", "web", 80, "http",
                Algorithm.LEAST_CONNECTIONS, [Member("i-1", None, None)], ex_target_port=8080)
    assert (made.id, made.port, made.state) == (ARN, 80, State.RUNNING)
    assert made.extra["target_group_arn"] == TG
    script.assert_done()


def test_a_failure_part_way_removes_what_was_made(mode: str) -> None:
    script = Script()
    expect_create_steps(script)
    script.expect("POST", API, match=form("CreateListener")).reply(
        400, text=fault("DuplicateListener", "taken"))
    script.expect("POST", API, match=form("DeleteLoadBalancer", LoadBalancerArn=ARN)).reply(
        200, text=answer("DeleteLoadBalancer"))
    script.expect("POST", API, match=form("DeleteTargetGroup", TargetGroupArn=TG)).reply(
        200, text=answer("DeleteTargetGroup"))
    with pytest.raises(AlreadyExists):
        call(mode, driver(script), "create_balancer", "web", 80, "http",
             Algorithm.LEAST_CONNECTIONS, [Member("i-1", None, None)], ex_target_port=8080)
    script.assert_done()


def test_a_lost_create_answer_finds_the_finished_balancer(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("CreateLoadBalancer")).fail(sent=True)
    script.expect("POST", API, match=form("DescribeLoadBalancers", Names__member__1="web")
                  ).reply(200, text=balancers(lb()))
    expect_get(script)
    made = call(mode, driver(script), "create_balancer", "web", 80)
    assert made.port == 80
    assert [fields(s)["Action"] for s in script.received].count("CreateLoadBalancer") == 1
    script.assert_done()


def test_listing_keeps_its_type_and_pages(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("DescribeLoadBalancers", PageSize="2")).reply(
        200, text=balancers(lb("a", "arn:a"), lb("n", "arn:n", "network"), marker="m1"))
    script.expect("POST", API, match=form("DescribeLoadBalancers", Marker="m1")).reply(
        200, text=balancers(lb("b", "arn:b", state="provisioning")))
    found = call(mode, driver(script), "list_balancers")
    assert [(b.id, b.state, b.port) for b in found] == [("arn:a", State.RUNNING, None),
                                                        ("arn:b", State.PENDING, None)]
    script.assert_done()


def test_target_groups_page_past_page_one_and_refuse_a_repeated_marker(mode: str) -> None:
    script = Script()
    pages = [(None, "g2"), ("g2", "g4"), ("g4", None)]
    for marker, following in pages:
        tail = f"<NextMarker>{following}</NextMarker>" if following else ""
        wanted = {"Marker": marker} if marker else {}
        script.expect("POST", API, match=form("DescribeTargetGroups", **wanted)).reply(
            200, text=answer("DescribeTargetGroups",
                             f"<TargetGroups>{group(f'tg-{marker}')}</TargetGroups>{tail}"))
    found = call(mode, driver(script), "ex_list_target_groups")
    assert [g["arn"] for g in found] == ["tg-None", "tg-g2", "tg-g4"]
    script.assert_done()
    looping = Script()
    for _ in range(2):
        looping.expect("POST", API, match=form("DescribeTargetGroups")).reply(
            200, text=answer("DescribeTargetGroups",
                             f"<TargetGroups>{group()}</TargetGroups><NextMarker>g2</NextMarker>"))
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver(looping), "ex_list_target_groups")


def test_members_and_health(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("DescribeTargetHealth", TargetGroupArn=TG)).reply(
        200, text=health(("i-1", "healthy"), ("10.0.0.5", "unhealthy"), ("i-3", "unused"),
                         ("i-4", "initial"), ("i-5", "draining")))
    found = call(mode, driver(script), "balancer_list_members", BALANCER)
    assert [(m.id, m.ip, m.extra["health"], m.extra["status"]) for m in found] == [
        ("i-1", None, Health.HEALTHY, "healthy"),
        ("10.0.0.5", "10.0.0.5", Health.UNHEALTHY, "unhealthy"),
        ("i-3", None, Health.UNHEALTHY, "unused"),
        ("i-4", None, Health.UNKNOWN, "initial")]
    script.assert_done()


def test_attach_and_detach(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("RegisterTargets", Targets__member__1__Id="10.0.0.9",
                                          Targets__member__1__Port="9000")).reply(
        200, text=answer("RegisterTargets"))
    script.expect("POST", API, match=form("DescribeTargetHealth")).reply(
        200, text=health(("10.0.0.9", "healthy")))
    script.expect("POST", API, match=form("DeregisterTargets", Targets__member__1__Id="10.0.0.9",
                                          Targets__member__1__Port="8080")).reply(
        200, text=answer("DeregisterTargets"))
    script.expect("POST", API, match=form("DescribeTargetHealth")).reply(200, text=health())
    alb = driver(script)
    member = call(mode, alb, "balancer_attach_member", BALANCER, Member(None, "10.0.0.9", 9000))
    assert (member.id, member.ip, member.port) == ("10.0.0.9", "10.0.0.9", 9000)
    assert call(mode, alb, "balancer_detach_member", BALANCER, member) is True
    with pytest.raises(MemberNotFound):
        call(mode, alb, "balancer_detach_member", BALANCER, member)
    script.assert_done()


def test_a_listed_balancer_finds_its_group(mode: str) -> None:
    script = Script()
    expect_get(script)
    script.expect("POST", API, match=form("DescribeTargetHealth", TargetGroupArn=TG)).reply(
        200, text=health(("i-1", "healthy")))
    listed = LoadBalancer(ARN, "web", State.RUNNING, None, None, None, {})
    assert [m.id for m in call(mode, driver(script), "balancer_list_members", listed)] == ["i-1"]
    script.assert_done()


def test_destroy_removes_balancer_and_groups(mode: str) -> None:
    script = Script()
    expect_get(script)
    script.expect("POST", API, match=form("DeleteLoadBalancer", LoadBalancerArn=ARN)).reply(
        200, text=answer("DeleteLoadBalancer"))
    script.expect("POST", API, match=form("DeleteTargetGroup", TargetGroupArn=TG)).reply(
        200, text=answer("DeleteTargetGroup"))
    script.expect("POST", API, match=form("DescribeLoadBalancers")).reply(
        400, text=fault("LoadBalancerNotFound"))
    alb = driver(script)
    assert call(mode, alb, "destroy_balancer", BALANCER) is True
    with pytest.raises(BalancerNotFound):
        call(mode, alb, "destroy_balancer", BALANCER)
    script.assert_done()


def test_update_modifies_the_listener(mode: str) -> None:
    script = Script()
    expect_get(script)
    script.expect("POST", API, match=form("ModifyListener", ListenerArn=LISTENER, Port="81")
                  ).reply(200, text=answer("ModifyListener"))
    expect_get(script, 81)
    alb = driver(script)
    assert call(mode, alb, "update_balancer", BALANCER, port=81).port == 81
    with pytest.raises(NotSupported):
        call(mode, alb, "update_balancer", BALANCER, name="renamed")
    script.assert_done()


@pytest.mark.parametrize(("name", "args", "kwargs", "error"), [
    ("alb", ("web", 80, "tcp"), {}, InvalidInput),
    ("nlb", ("web", 80, "http"), {}, InvalidInput),
    ("alb", ("web", 80, "http", "fastest"), {}, InvalidInput),
    ("nlb", ("web", 80, "tcp", Algorithm.LEAST_CONNECTIONS), {}, NotSupported),
    ("alb", ("web", -1), {}, InvalidInput),
    ("alb", ("web", 80, "http", Algorithm.ROUND_ROBIN, [Member(None, None, 80)]), {},
     InvalidInput),
    ("alb", ("web", 80), {"ex_subnets": []}, InvalidInput),
    ("alb", ("web", 80), {"ex_target_type": "lambda"}, InvalidInput),
    ("alb", ("internal-web", 80), {}, InvalidInput),
])
def test_invalid_input_sends_nothing(mode: str, name: str, args: tuple[Any, ...],
                                     kwargs: dict[str, Any], error: type[Exception]) -> None:
    script = Script()
    with pytest.raises(error):
        call(mode, driver(script, name), "create_balancer", *args, **kwargs)
    assert script.received == []


def test_missing_balancer_and_other_type(mode: str) -> None:
    script = Script()
    script.expect("POST", API).reply(400, text=fault("LoadBalancerNotFound"))
    script.expect("POST", API).reply(200, text=balancers(lb(kind="network")))
    alb = driver(script, retry=RetryPolicy(max_attempts=1))
    for _ in range(2):
        with pytest.raises(BalancerNotFound):
            call(mode, alb, "get_balancer", ARN)
    with pytest.raises(BalancerNotFound):
        call(mode, alb, "get_balancer", "not-an-arn")
    script.assert_done()


def test_a_balancer_without_a_group(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("DescribeLoadBalancers")).reply(
        200, text=balancers(lb()))
    script.expect("POST", API, match=form("DescribeListeners")).reply(
        200, text=answer("DescribeListeners", "<Listeners></Listeners>"))
    bare = LoadBalancer(ARN, "web", State.RUNNING, None, None, None, {})
    with pytest.raises(NotFound, match="no target group"):
        call(mode, driver(script), "balancer_list_members", bare)
