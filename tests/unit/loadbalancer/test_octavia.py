"""The Octavia driver on the scripted transport, in both modes: Keystone, the
create steps with their waits for ACTIVE and a 409 waited out, the undo of a
half-made balancer, paging by marker, members' health and the error table."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.errors import BalancerNotFound
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.loadbalancer.base import Algorithm
from overcast.loadbalancer.base import BalancerImmutable
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import MemberCondition
from overcast.loadbalancer.base import State
from overcast.loadbalancer.drivers.octavia import OctaviaLBDriver
from overcast.runtime.policy import RetryPolicy
from overcast.testing import Script
from overcast.testing import call

AUTH = "https://keystone.example/v3"
LB = "https://octavia.example/v2/lbaas"
TOKEN = {"token": {"expires_at": "2999-01-01T00:00:00.000000Z", "project": {"id": "p"},
                   "catalog": [{"type": "load-balancer", "endpoints": [
                       {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                        "url": "https://octavia.example"}]}]}}


def driver(script: Script, **options: Any) -> OctaviaLBDriver:
    script.expect("POST", f"{AUTH}/auth/tokens").reply(201, json=TOKEN,
                                                      headers={"X-Subject-Token": "tok"})
    return OctaviaLBDriver("user", "pw-secret", auth_url=AUTH, project="p", page_size=2,
                           vip_subnet_id="sub-1", poll_interval=0.001,
                           retry=RetryPolicy(max_attempts=1), **options, **script.options())


def lb(status: str = "ACTIVE", listeners: tuple[str, ...] = (), pools: tuple[str, ...] = (),
       lb_id: str = "lb-1", name: str = "web") -> dict[str, Any]:
    return {"loadbalancer": {"id": lb_id, "name": name, "provisioning_status": status,
                             "operating_status": "ONLINE", "vip_address": "10.0.0.9",
                             "listeners": [{"id": i} for i in listeners],
                             "pools": [{"id": i} for i in pools]}}


def immutable() -> dict[str, Any]:
    return {"faultcode": "Client", "faultstring": "Load Balancer lb-1 is immutable and cannot "
                                                  "be updated.", "debuginfo": None}


def expect_get(script: Script, port: int = 80) -> None:
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb(
        listeners=("l-1",), pools=("p-1",)))
    script.expect("GET", f"{LB}/listeners/l-1").reply(
        200, json={"listener": {"id": "l-1", "protocol": "HTTP", "protocol_port": port}})
    script.expect("GET", f"{LB}/pools/p-1").reply(
        200, json={"pool": {"id": "p-1", "lb_algorithm": "LEAST_CONNECTIONS"}})


BALANCER = LoadBalancer("lb-1", "web", State.RUNNING, "10.0.0.9", 80, None,
                        {"pool_ids": ["p-1"], "listener_ids": ["l-1"]})


def test_create_waits_for_active_between_steps(mode: str) -> None:
    script = Script()
    octavia = driver(script)
    script.expect("POST", f"{LB}/loadbalancers", json={"loadbalancer": {
        "name": "web", "vip_subnet_id": "sub-1"}}).reply(201, json=lb("PENDING_CREATE"))
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb("PENDING_CREATE"))
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb())
    script.expect("POST", f"{LB}/listeners", json={"listener": {
        "loadbalancer_id": "lb-1", "protocol": "HTTP", "protocol_port": 80, "name": "web"}}
    ).reply(201, json={"listener": {"id": "l-1"}})
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb())
    script.expect("POST", f"{LB}/pools").reply(409, json=immutable())  # still settling
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb("PENDING_UPDATE"))
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb())
    script.expect("POST", f"{LB}/pools", json={"pool": {
        "listener_id": "l-1", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS",
        "name": "web"}}).reply(201, json={"pool": {"id": "p-1"}})
    expect_get(script)
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb("PENDING_UPDATE"))
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb())
    script.expect("POST", f"{LB}/pools/p-1/members", json={"member": {
        "address": "10.0.0.5", "protocol_port": 8080, "weight": 1}}).reply(
        201, json={"member": {"id": "m-1", "address": "10.0.0.5", "protocol_port": 8080}})
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb())
    expect_get(script)
    made = call(mode, octavia, "create_balancer", "web", 80, "http",
                Algorithm.LEAST_CONNECTIONS, [Member(None, "10.0.0.5", 8080)])
    assert (made.id, made.port, made.ip, made.extra["algorithm"]) == (
        "lb-1", 80, "10.0.0.9", Algorithm.LEAST_CONNECTIONS)
    assert all(s.headers.get("X-Auth-Token") == "tok" for s in script.received[1:])
    script.assert_done()


def test_a_failed_step_deletes_the_balancer_with_cascade(mode: str) -> None:
    script = Script()
    octavia = driver(script)
    script.expect("POST", f"{LB}/loadbalancers").reply(201, json=lb("PENDING_CREATE"))
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb())
    script.expect("POST", f"{LB}/listeners").reply(
        400, json={"faultcode": "Client", "faultstring": "Invalid input for protocol_port"})
    script.expect("DELETE", f"{LB}/loadbalancers/lb-1", params={"cascade": "true"}).reply(204)
    with pytest.raises(InvalidInput, match="protocol_port"):
        call(mode, octavia, "create_balancer", "web", 80)
    script.assert_done()


def test_a_balancer_that_stays_immutable_is_an_error(mode: str) -> None:
    script = Script()
    octavia = driver(script)
    expect_get(script)
    for _ in range(2):
        script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb())
        script.expect("PUT", f"{LB}/loadbalancers/lb-1").reply(409, json=immutable())
    with pytest.raises(BalancerImmutable, match="immutable"):
        call(mode, octavia, "update_balancer", BALANCER, name="renamed")
    script.assert_done()


def test_listing_pages_by_marker_and_refuses_a_repeat(mode: str) -> None:
    script = Script()
    octavia = driver(script)
    first = {"loadbalancers": [lb(lb_id="a")["loadbalancer"], lb(lb_id="b")["loadbalancer"]],
             "loadbalancers_links": [{"rel": "next", "href": "http://x/v2?limit=2&marker=b"}]}
    script.expect("GET", f"{LB}/loadbalancers", params={"limit": "2"}).reply(200, json=first)
    script.expect("GET", f"{LB}/loadbalancers", params={"limit": "2", "marker": "b"}).reply(
        200, json={"loadbalancers": [lb("PENDING_UPDATE", lb_id="c")["loadbalancer"]],
                   "loadbalancers_links": []})
    found = call(mode, octavia, "list_balancers")
    assert [(b.id, b.state) for b in found] == [("a", State.RUNNING), ("b", State.RUNNING),
                                                ("c", State.PENDING)]
    script.assert_done()
    looping = Script()
    again = driver(looping)
    looping.expect("GET", f"{LB}/loadbalancers", params={"limit": "2"}).reply(200, json=first)
    looping.expect("GET", f"{LB}/loadbalancers", params={"limit": "2", "marker": "b"}).reply(
        200, json=first)
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, again, "list_balancers")


def test_members_health_and_detach(mode: str) -> None:
    script = Script()
    octavia = driver(script)
    members = [{"id": "m-1", "address": "10.0.0.5", "protocol_port": 80,
                "operating_status": "ONLINE", "admin_state_up": True, "weight": 1},
               {"id": "m-2", "address": "10.0.0.6", "protocol_port": 80,
                "operating_status": "ERROR", "admin_state_up": True, "weight": 1},
               {"id": "m-3", "address": "10.0.0.7", "protocol_port": 80,
                "operating_status": "OFFLINE", "admin_state_up": False, "weight": 1},
               {"id": "m-4", "address": "10.0.0.8", "protocol_port": 80,
                "operating_status": "DRAINING", "admin_state_up": True, "weight": 0}]
    script.expect("GET", f"{LB}/pools/p-1/members", params={"limit": "2"}).reply(
        200, json={"members": members})
    script.expect("GET", f"{LB}/loadbalancers/lb-1").reply(200, json=lb())
    script.expect("DELETE", f"{LB}/pools/p-1/members/m-9").reply(
        404, json={"faultcode": "Client", "faultstring": "Member m-9 could not be found."})
    listed = call(mode, octavia, "balancer_list_members", BALANCER)
    assert [(m.id, m.extra["health"], m.extra["condition"]) for m in listed] == [
        ("m-1", Health.HEALTHY, MemberCondition.ENABLED),
        ("m-2", Health.UNHEALTHY, MemberCondition.ENABLED),
        ("m-3", Health.DISABLED, MemberCondition.DISABLED),
        ("m-4", Health.DRAINING, MemberCondition.DRAINING)]
    with pytest.raises(MemberNotFound):
        call(mode, octavia, "balancer_detach_member", BALANCER, Member("m-9", None, None))
    script.assert_done()


def test_missing_balancer_and_unsupported_update(mode: str) -> None:
    script = Script()
    octavia = driver(script)
    script.expect("GET", f"{LB}/loadbalancers/nope").reply(
        404, json={"faultcode": "Client", "faultstring": "Load Balancer nope not found"})
    expect_get(script)
    with pytest.raises(BalancerNotFound):
        call(mode, octavia, "get_balancer", "nope")
    with pytest.raises(NotSupported):
        call(mode, octavia, "update_balancer", BALANCER, protocol="tcp")
    script.assert_done()


@pytest.mark.parametrize(("args", "kwargs", "error"), [
    (("web", 0), {}, InvalidInput),
    (("web", 80, "gopher"), {}, InvalidInput),
    (("web", 80, "http", "fastest"), {}, InvalidInput),
    (("web", 80, "http", Algorithm.RANDOM), {}, NotSupported),
    (("web", 80, "http", Algorithm.ROUND_ROBIN, [Member("x", None, 80)]), {}, InvalidInput),
    (("", 80), {}, InvalidInput),
])
def test_invalid_input_sends_nothing(mode: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                                     error: type[Exception]) -> None:
    script = Script()
    with pytest.raises(error):
        call(mode, driver(script), "create_balancer", *args, **kwargs)
    assert script.received == []
