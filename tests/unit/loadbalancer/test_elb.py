"""The classic ELB driver on the scripted transport, in both modes: what it
sends, how it reads the answers, its error table and its guards."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.errors import BalancerNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.loadbalancer.base import Algorithm
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import State
from overcast.loadbalancer.drivers.elb import ElasticLBDriver
from overcast.runtime.policy import RetryPolicy
from overcast.testing import Script
from overcast.testing import call
from servers.lb_aws import API
from servers.lb_aws import answer
from servers.lb_aws import fault
from servers.lb_aws import fields
from servers.lb_aws import form


def driver(script: Script, **options: Any) -> ElasticLBDriver:
    return ElasticLBDriver("AKIDUNIT", "unit-secret", "us-east-1", page_size=2, **options,
                           **script.options())


def description(name: str, port: int = 80, instances: tuple[str, ...] = ()) -> str:
    listed = "".join(f"<member><InstanceId>{i}</InstanceId></member>" for i in instances)
    return (f"<member><LoadBalancerName>{name}</LoadBalancerName>"
            f"<DNSName>{name}.elb.example</DNSName><ListenerDescriptions><member><Listener>"
            f"<Protocol>HTTP</Protocol><LoadBalancerPort>{port}</LoadBalancerPort>"
            f"<InstanceProtocol>HTTP</InstanceProtocol><InstancePort>8080</InstancePort>"
            f"</Listener></member></ListenerDescriptions><AvailabilityZones>"
            f"<member>us-east-1a</member></AvailabilityZones><Instances>{listed}</Instances>"
            f"<HealthCheck><Target>TCP:8080</Target><Interval>30</Interval></HealthCheck>"
            f"</member>")


def described(*items: str, marker: str | None = None) -> str:
    tail = f"<NextMarker>{marker}</NextMarker>" if marker else ""
    return answer("DescribeLoadBalancers",
                  f"<LoadBalancerDescriptions>{''.join(items)}</LoadBalancerDescriptions>{tail}")


def expect_get(script: Script, name: str, *items: str) -> None:
    script.expect("POST", API, match=form("DescribeLoadBalancers",
                                          LoadBalancerNames__member__1=name)).reply(
        200, text=described(*items))


BALANCER = LoadBalancer("web", "web", State.RUNNING, None, 80, None,
                        {"instance_port": 8080, "protocol": "http"})


def test_lists_every_page_by_next_marker(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("DescribeLoadBalancers", PageSize="2")).reply(
        200, text=described(description("a"), description("b"), marker="b"))
    script.expect("POST", API, match=form("DescribeLoadBalancers", Marker="b")).reply(
        200, text=described(description("c", 443)))
    found = call(mode, driver(script), "list_balancers")
    assert [(b.id, b.port, b.state) for b in found] == [
        ("a", 80, State.RUNNING), ("b", 80, State.RUNNING), ("c", 443, State.RUNNING)]
    assert found[0].extra["dns_name"] == "a.elb.example"
    assert found[0].extra["instance_port"] == 8080
    assert found[0].extra["health_check"] == {"Target": "TCP:8080", "Interval": "30"}
    assert all(s.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256")
               for s in script.received)
    assert "elasticloadbalancing/aws4_request" in script.received[0].headers["Authorization"]
    script.assert_done()


def test_a_repeated_marker_is_a_provider_error(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("DescribeLoadBalancers")).reply(
        200, text=described(description("a"), marker="a"))
    script.expect("POST", API, match=form("DescribeLoadBalancers", Marker="a")).reply(
        200, text=described(description("b"), marker="a"))
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver(script), "list_balancers")


def test_get_and_not_found(mode: str) -> None:
    script = Script()
    expect_get(script, "web", description("web"))
    script.expect("POST", API, match=form("DescribeLoadBalancers")).reply(
        400, text=fault("LoadBalancerNotFound", "There is no ACTIVE Load Balancer named 'x'"))
    elb = driver(script)
    assert call(mode, elb, "get_balancer", "web").name == "web"
    with pytest.raises(BalancerNotFound):
        call(mode, elb, "get_balancer", "x")
    script.assert_done()


def test_create_registers_members_and_reads_back(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form(
        "CreateLoadBalancer", LoadBalancerName="web", Listeners__member__1__Protocol="HTTP",
        Listeners__member__1__LoadBalancerPort="80", Listeners__member__1__InstancePort="8080",
        AvailabilityZones__member__1="us-east-1a")).reply(
        200, text=answer("CreateLoadBalancer", "<DNSName>web.elb.example</DNSName>"))
    expect_get(script, "web", description("web"))
    script.expect("POST", API, match=form("RegisterInstancesWithLoadBalancer",
                                          LoadBalancerName="web",
                                          Instances__member__1__InstanceId="i-1")).reply(
        200, text=answer("RegisterInstancesWithLoadBalancer"))
    expect_get(script, "web", description("web", instances=("i-1",)))
    made = call(mode, driver(script), "create_balancer", "web", 80, "http",
                Algorithm.ROUND_ROBIN, [Member("i-1", None, None)], ex_instance_port=8080)
    assert made.extra["instance_ids"] == ["i-1"]
    script.assert_done()


def test_a_failed_registration_deletes_the_new_balancer(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("CreateLoadBalancer")).reply(
        200, text=answer("CreateLoadBalancer"))
    expect_get(script, "web", description("web"))
    script.expect("POST", API, match=form("RegisterInstancesWithLoadBalancer")).reply(
        400, text=fault("InvalidInstance", "no such instance"))
    script.expect("POST", API, match=form("DeleteLoadBalancer", LoadBalancerName="web")).reply(
        200, text=answer("DeleteLoadBalancer"))
    with pytest.raises(MemberNotFound):
        call(mode, driver(script), "create_balancer", "web", 80, "http",
             Algorithm.ROUND_ROBIN, [Member("i-404", None, None)])
    script.assert_done()


def test_a_lost_create_answer_is_looked_up_not_resent(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("CreateLoadBalancer")).fail(sent=True)
    expect_get(script, "web", description("web"))
    made = call(mode, driver(script), "create_balancer", "web", 80)
    assert made.id == "web"
    assert [fields(s)["Action"] for s in script.received].count("CreateLoadBalancer") == 1
    script.assert_done()


@pytest.mark.parametrize(("args", "kwargs", "error"), [
    (("web", 0), {}, InvalidInput),
    (("web", 80, "gopher"), {}, InvalidInput),
    (("web", 80, "http", "fastest"), {}, InvalidInput),
    (("web", 80, "http", Algorithm.LEAST_CONNECTIONS), {}, NotSupported),
    (("web", 80, "http", Algorithm.ROUND_ROBIN, [Member(None, "10.0.0.1", 80)]), {},
     InvalidInput),
    (("web", 80, "http", Algorithm.ROUND_ROBIN, [Member(None, None, 80)]), {}, InvalidInput),
    (("-web", 80), {}, InvalidInput),
    (("web", 80), {"ex_instance_port": 70000}, InvalidInput),
])
def test_invalid_input_sends_nothing(mode: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                                     error: type[Exception]) -> None:
    script = Script()
    with pytest.raises(error):
        call(mode, driver(script), "create_balancer", *args, **kwargs)
    assert script.received == []


def test_attach_by_instance_id_only(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("RegisterInstancesWithLoadBalancer",
                                          Instances__member__1__InstanceId="i-7")).reply(
        200, text=answer("RegisterInstancesWithLoadBalancer"))
    elb = driver(script)
    member = call(mode, elb, "balancer_attach_member", BALANCER, Member("i-7", None, None))
    assert (member.id, member.port, member.balancer) == ("i-7", 8080, BALANCER)
    with pytest.raises(InvalidInput, match="instance id"):
        call(mode, elb, "balancer_attach_member", BALANCER, Member(None, "10.0.0.7", 80))
    script.assert_done()


def test_members_with_health(mode: str) -> None:
    script = Script()
    states = "".join(
        f"<member><InstanceId>{i}</InstanceId><State>{s}</State><ReasonCode>N/A</ReasonCode>"
        f"<Description>d</Description></member>"
        for i, s in (("i-1", "InService"), ("i-2", "OutOfService"), ("i-3", "Unknown")))
    script.expect("POST", API, match=form("DescribeInstanceHealth", LoadBalancerName="web")
                  ).reply(200, text=answer("DescribeInstanceHealth",
                                           f"<InstanceStates>{states}</InstanceStates>"))
    found = call(mode, driver(script), "balancer_list_members", BALANCER)
    assert [(m.id, m.port, m.extra["health"], m.extra["status"]) for m in found] == [
        ("i-1", 8080, Health.HEALTHY, "InService"),
        ("i-2", 8080, Health.UNHEALTHY, "OutOfService"),
        ("i-3", 8080, Health.UNKNOWN, "Unknown")]
    script.assert_done()


def test_detach_checks_membership_first(mode: str) -> None:
    script = Script()
    expect_get(script, "web", description("web", instances=("i-1",)))
    script.expect("POST", API, match=form("DeregisterInstancesFromLoadBalancer",
                                          Instances__member__1__InstanceId="i-1")).reply(
        200, text=answer("DeregisterInstancesFromLoadBalancer"))
    expect_get(script, "web", description("web"))
    elb = driver(script)
    assert call(mode, elb, "balancer_detach_member", BALANCER, Member("i-1", None, 8080))
    with pytest.raises(MemberNotFound):
        call(mode, elb, "balancer_detach_member", BALANCER, Member("i-1", None, 8080))
    script.assert_done()


def test_destroy_missing_is_balancer_not_found(mode: str) -> None:
    script = Script()
    expect_get(script, "web", description("web"))
    script.expect("POST", API, match=form("DeleteLoadBalancer")).reply(
        200, text=answer("DeleteLoadBalancer"))
    script.expect("POST", API, match=form("DescribeLoadBalancers")).reply(
        400, text=fault("LoadBalancerNotFound"))
    elb = driver(script)
    assert call(mode, elb, "destroy_balancer", BALANCER) is True
    with pytest.raises(BalancerNotFound):
        call(mode, elb, "destroy_balancer", BALANCER)
    script.assert_done()


def test_update_replaces_the_listener(mode: str) -> None:
    script = Script()
    expect_get(script, "web", description("web"))
    script.expect("POST", API, match=form("DeleteLoadBalancerListeners",
                                          LoadBalancerPorts__member__1="80")).reply(
        200, text=answer("DeleteLoadBalancerListeners"))
    script.expect("POST", API, match=form("CreateLoadBalancerListeners",
                                          Listeners__member__1__LoadBalancerPort="8000",
                                          Listeners__member__1__Protocol="TCP",
                                          Listeners__member__1__InstancePort="8080")).reply(
        200, text=answer("CreateLoadBalancerListeners"))
    expect_get(script, "web", description("web", 8000))
    elb = driver(script)
    updated = call(mode, elb, "update_balancer", BALANCER, protocol="tcp", port=8000)
    assert updated.port == 8000
    with pytest.raises(NotSupported):
        call(mode, elb, "update_balancer", BALANCER, name="other")
    script.assert_done()


def test_health_check(mode: str) -> None:
    script = Script()
    script.expect("POST", API, match=form("ConfigureHealthCheck", HealthCheck__Target="HTTP:8080/",
                                          HealthCheck__Interval="10")).reply(
        200, text=answer("ConfigureHealthCheck",
                         "<HealthCheck><Target>HTTP:8080/</Target><Interval>10</Interval>"
                         "</HealthCheck>"))
    elb = driver(script)
    check = call(mode, elb, "ex_configure_health_check", BALANCER, "HTTP:8080/", interval=10)
    assert check == {"Target": "HTTP:8080/", "Interval": "10"}
    with pytest.raises(InvalidInput):
        call(mode, elb, "ex_configure_health_check", BALANCER, "nonsense")
    script.assert_done()


@pytest.mark.parametrize(("status", "code", "error"), [
    (403, "InvalidClientTokenId", InvalidCredentials),
    (400, "SignatureDoesNotMatch", InvalidCredentials),
    (400, "LoadBalancerNotFound", BalancerNotFound),
    (400, "ValidationError", InvalidInput),
    (500, "InternalFailure", ProviderError),
])
def test_error_table(mode: str, status: int, code: str, error: type[Exception]) -> None:
    script = Script()
    script.expect("POST", API).reply(status, text=fault(code, "said so"),
                                     headers={"x-amzn-RequestId": "rid-9"})
    with pytest.raises(error) as raised:
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "get_balancer", "web")
    assert "unit-secret" not in str(raised.value)


def test_throttling_is_retried(mode: str) -> None:
    script = Script()
    script.expect("POST", API).reply(400, text=fault("Throttling", "Rate exceeded"))
    expect_get(script, "web", description("web"))
    elb = driver(script, retry=RetryPolicy(max_attempts=2, base=0.0))
    assert call(mode, elb, "get_balancer", "web").id == "web"
    script.assert_done()
    failing = Script()
    failing.expect("POST", API).reply(400, text=fault("Throttling", "Rate exceeded"))
    with pytest.raises(RateLimited):
        call(mode, driver(failing, retry=RetryPolicy(max_attempts=1)), "get_balancer", "web")


def test_constructor_checks() -> None:
    with pytest.raises(InvalidInput):
        ElasticLBDriver("a", "b", "nowhere")
    with pytest.raises(InvalidInput):
        ElasticLBDriver("a", "b", "us-east-1", page_size=401)
    assert ElasticLBDriver("a", "b", "eu-west-1").endpoint == \
        "https://elasticloadbalancing.eu-west-1.amazonaws.com"
