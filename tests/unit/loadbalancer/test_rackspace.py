"""The Rackspace Cloud Load Balancers driver and Rackspace Identity on the
scripted transport, in both modes: the token and its renewal, create with
its BUILD waited out, a 422 waited out, paging by marker, nodes, Libcloud's
argument order refused, the error table."""

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
from overcast.loadbalancer.base import BalancerImmutable
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import MemberCondition
from overcast.loadbalancer.base import State
from overcast.loadbalancer.drivers.rackspace import RackspaceLBDriver
from overcast.runtime.policy import RetryPolicy
from overcast.testing import Script
from overcast.testing import call

AUTH = "https://identity.example/v2.0"
API = "https://ord.lb.example/v1.0/123"


def token(value: str = "tok") -> dict[str, Any]:
    return {"access": {"token": {"id": value, "expires": "2999-01-01T00:00:00.000Z",
                                 "tenant": {"id": "123"}},
                       "serviceCatalog": [{"name": "cloudLoadBalancers", "endpoints": [
                           {"region": "DFW", "publicURL": "https://dfw.lb.example/v1.0/123"},
                           {"region": "ORD", "publicURL": API}]}]}}


def driver(script: Script, **options: Any) -> RackspaceLBDriver:
    script.expect("POST", f"{AUTH}/tokens", json={"auth": {"RAX-KSKEY:apiKeyCredentials": {
        "username": "user", "apiKey": "key-secret"}}}).reply(200, json=token())
    return RackspaceLBDriver("user", "key-secret", region="ord", auth_url=AUTH, page_size=2,
                             poll_interval=0.001, retry=RetryPolicy(max_attempts=1),
                             **options, **script.options())


def lb(status: str = "ACTIVE", lb_id: int = 7, nodes: list[dict[str, Any]] | None = None
       ) -> dict[str, Any]:
    return {"loadBalancer": {"id": lb_id, "name": "web", "port": 80, "protocol": "HTTP",
                             "algorithm": "LEAST_CONNECTIONS", "status": status,
                             "virtualIps": [{"address": "198.51.100.7", "type": "PUBLIC"}],
                             "nodes": nodes or []}}


BALANCER = LoadBalancer("7", "web", State.RUNNING, "198.51.100.7", 80)


def test_create_waits_out_the_build_and_picks_the_region(mode: str) -> None:
    script = Script()
    rax = driver(script)
    script.expect("POST", f"{API}/loadbalancers", json={"loadBalancer": {
        "name": "web", "port": 80, "protocol": "HTTP", "algorithm": "LEAST_CONNECTIONS",
        "nodes": [{"address": "10.0.0.5", "port": 8080, "condition": "ENABLED"}],
        "virtualIps": [{"type": "PUBLIC"}]}}, headers={"X-Auth-Token": "tok"}).reply(
        202, json=lb("BUILD"))
    script.expect("GET", f"{API}/loadbalancers/7").reply(200, json=lb("BUILD"))
    script.expect("GET", f"{API}/loadbalancers/7").reply(200, json=lb())
    made = call(mode, rax, "create_balancer", "web", 80, "http", Algorithm.LEAST_CONNECTIONS,
                [Member(None, "10.0.0.5", 8080)])
    assert (made.id, made.ip, made.port, made.state) == ("7", "198.51.100.7", 80, State.RUNNING)
    assert made.extra["algorithm"] is Algorithm.LEAST_CONNECTIONS
    script.assert_done()


def test_a_build_that_fails_deletes_the_balancer(mode: str) -> None:
    script = Script()
    rax = driver(script)
    script.expect("POST", f"{API}/loadbalancers").reply(202, json=lb("BUILD"))
    script.expect("GET", f"{API}/loadbalancers/7").reply(200, json=lb("ERROR"))
    script.expect("DELETE", f"{API}/loadbalancers/7").reply(202)
    with pytest.raises(ProviderError, match="is ERROR"):
        call(mode, rax, "create_balancer", "web", 80)
    script.assert_done()


def test_an_expired_token_is_renewed_once(mode: str) -> None:
    script = Script()
    rax = driver(script)
    script.expect("GET", f"{API}/loadbalancers/7").reply(401, json={"unauthorized": {}})
    script.expect("POST", f"{AUTH}/tokens").reply(200, json=token("tok-2"))
    script.expect("GET", f"{API}/loadbalancers/7", headers={"X-Auth-Token": "tok-2"}).reply(
        200, json=lb())
    assert call(mode, rax, "get_balancer", "7").id == "7"
    script.assert_done()


def test_wrong_credentials(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{AUTH}/tokens").reply(
        401, json={"unauthorized": {"message": "Username or api key is invalid"}})
    rax = RackspaceLBDriver("user", "key-secret", auth_url=AUTH, **script.options())
    with pytest.raises(InvalidCredentials) as raised:
        call(mode, rax, "get_balancer", "7")
    assert "key-secret" not in str(raised.value)


def test_a_change_waits_out_an_immutable_balancer(mode: str) -> None:
    script = Script()
    rax = driver(script)
    immutable = {"message": "Load Balancer '7' has a status of 'PENDING_UPDATE' and is "
                            "considered immutable.", "code": 422}
    script.expect("GET", f"{API}/loadbalancers/7").reply(200, json=lb())
    script.expect("PUT", f"{API}/loadbalancers/7/nodes/9").reply(422, json=immutable)
    script.expect("GET", f"{API}/loadbalancers/7").reply(200, json=lb("PENDING_UPDATE"))
    script.expect("GET", f"{API}/loadbalancers/7").reply(200, json=lb())
    script.expect("PUT", f"{API}/loadbalancers/7/nodes/9", json={"node": {
        "condition": "DRAINING"}}).reply(202)
    member = call(mode, rax, "ex_set_member_condition", BALANCER, Member("9", "10.0.0.5", 80),
                  MemberCondition.DRAINING)
    assert member.extra["condition"] is MemberCondition.DRAINING
    script.assert_done()
    stuck = Script()
    again = driver(stuck)
    for _ in range(2):
        stuck.expect("GET", f"{API}/loadbalancers/7").reply(200, json=lb())
        stuck.expect("PUT", f"{API}/loadbalancers/7").reply(422, json=immutable)
    with pytest.raises(BalancerImmutable):
        call(mode, again, "update_balancer", BALANCER, name="renamed")


def test_listing_pages_by_marker(mode: str) -> None:
    script = Script()
    rax = driver(script)
    page = {"loadBalancers": [lb(lb_id=1)["loadBalancer"], lb(lb_id=2)["loadBalancer"]],
            "links": [{"rel": "next", "href": f"{API}/loadbalancers?limit=2&marker=2"}]}
    script.expect("GET", f"{API}/loadbalancers", params={"limit": "2"}).reply(200, json=page)
    script.expect("GET", f"{API}/loadbalancers", params={"limit": "2", "marker": "2"}).reply(
        200, json={"loadBalancers": [lb("BUILD", 3)["loadBalancer"]], "links": []})
    found = call(mode, rax, "list_balancers")
    assert [(b.id, b.state) for b in found] == [("1", State.RUNNING), ("2", State.RUNNING),
                                                ("3", State.PENDING)]
    script.assert_done()
    looping = Script()
    again = driver(looping)
    looping.expect("GET", f"{API}/loadbalancers", params={"limit": "2"}).reply(200, json=page)
    looping.expect("GET", f"{API}/loadbalancers", params={"limit": "2", "marker": "2"}).reply(
        200, json=page)
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, again, "list_balancers")


def test_nodes_conditions_and_health(mode: str) -> None:
    script = Script()
    rax = driver(script)
    nodes = [{"id": 1, "address": "10.0.0.1", "port": 80, "condition": "ENABLED",
              "status": "ONLINE", "weight": 1},
             {"id": 2, "address": "10.0.0.2", "port": 80, "condition": "ENABLED",
              "status": "OFFLINE", "weight": 1},
             {"id": 3, "address": "10.0.0.3", "port": 80, "condition": "DRAINING",
              "status": "ONLINE", "weight": 1},
             {"id": 4, "address": "10.0.0.4", "port": 80, "condition": "DISABLED",
              "status": "OFFLINE", "weight": 1}]
    script.expect("GET", f"{API}/loadbalancers/7/nodes").reply(200, json={"nodes": nodes})
    script.expect("GET", f"{API}/loadbalancers/7").reply(200, json=lb())
    script.expect("DELETE", f"{API}/loadbalancers/7/nodes/5").reply(
        404, json={"itemNotFound": {"message": "Node not found", "code": 404}})
    listed = call(mode, rax, "balancer_list_members", BALANCER)
    assert [(m.id, m.extra["health"], m.extra["condition"]) for m in listed] == [
        ("1", Health.HEALTHY, MemberCondition.ENABLED),
        ("2", Health.UNHEALTHY, MemberCondition.ENABLED),
        ("3", Health.DRAINING, MemberCondition.DRAINING),
        ("4", Health.DISABLED, MemberCondition.DISABLED)]
    with pytest.raises(MemberNotFound):
        call(mode, rax, "balancer_detach_member", BALANCER, Member("5", None, None))
    script.assert_done()


def test_missing_balancer_and_rate_limit(mode: str) -> None:
    script = Script()
    rax = driver(script)
    script.expect("GET", f"{API}/loadbalancers/8").reply(
        404, json={"itemNotFound": {"message": "Load balancer not found", "code": 404}})
    script.expect("GET", f"{API}/loadbalancers/9").reply(
        413, json={"overLimit": {"message": "Rate limit", "code": 413}})
    with pytest.raises(BalancerNotFound):
        call(mode, rax, "get_balancer", "8")
    with pytest.raises(RateLimited):
        call(mode, rax, "get_balancer", "9")
    with pytest.raises(BalancerNotFound):
        call(mode, rax, "get_balancer", "not-a-number")
    script.assert_done()


@pytest.mark.parametrize(("args", "error"), [
    (("web", [Member(None, "10.0.0.1", 80)], "http", 80, Algorithm.ROUND_ROBIN), InvalidInput),
    (("web", 70000), InvalidInput),
    (("web", 80, "gopher"), InvalidInput),
    (("web", 80, "http", "fastest"), InvalidInput),
    (("web", 80, "http", Algorithm.PERSISTENT_IP), NotSupported),
    (("web", 80, "http", Algorithm.ROUND_ROBIN, [Member("i-1", None, 80)]), InvalidInput),
    (("", 80), InvalidInput),
])
def test_invalid_input_sends_nothing(mode: str, args: tuple[Any, ...],
                                     error: type[Exception]) -> None:
    script = Script()
    rax = RackspaceLBDriver("user", "key-secret", auth_url=AUTH, **script.options())
    with pytest.raises(error) as raised:
        call(mode, rax, "create_balancer", *args)
    assert script.received == []
    if isinstance(args[1], list):
        assert "Libcloud's Rackspace order" in str(raised.value)
