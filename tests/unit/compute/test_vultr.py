"""The Vultr compute driver on the scripted transport: the requests it sends
and how it reads the answers, in both modes, without a server."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.base import StorageVolume
from overcast.compute.drivers.vultr import VultrNodeDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import VolumeNotFound
from overcast.providers.vultr import hourly_price
from overcast.providers.vultr import page_of
from overcast.runtime.effects import Response
from overcast.runtime.effects import Sleep
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "https://api.vultr.com/v2"
INSTANCE = {"id": "cb676a46-66fd-4dfb-b839-443f2e6c0b60", "label": "web", "status": "pending",
            "power_status": "stopped", "server_status": "none", "main_ip": "0.0.0.0",
            "v6_main_ip": "", "internal_ip": "", "region": "ams", "plan": "vc2-1c-1gb",
            "date_created": "2026-12-05T05:00:00+00:00", "tags": [], "os_id": 2136,
            "default_password": "v3ry-s3cret"}
SIZE = NodeSize("vc2-1c-1gb", "", 0, 0)
IMAGE = NodeImage("2136", "Debian 12")
AMS = NodeLocation("ams", "Amsterdam", "NL")


def end(key: str, items: list[Any], following: str = "") -> dict[str, Any]:
    return {key: items, "meta": {"total": len(items), "links": {"next": following, "prev": ""}}}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> VultrNodeDriver:
    return VultrNodeDriver("vultr-key", page_size=2, poll_interval=1.5, **options,
                           **script.options())


def test_a_create_sends_the_token_tag_and_vultrs_fields(mode: str) -> None:
    script = Script()

    def body_ok(sent: Any) -> bool:
        body = sent.json()
        tags = body.pop("tags")
        return (body == {"region": "ams", "plan": "vc2-1c-1gb", "label": "web", "os_id": 2136,
                         "enable_ipv6": False, "ddos_protection": False,
                         "activation_email": False, "backups": "enabled",
                         "user_data": base64.b64encode(b"#!/bin/sh\n").decode()}
                and tags[0] == "blue" and tags[1].startswith("overcast-token-"))

    script.expect("POST", f"{API}/instances", match=body_ok,
                  headers={"Authorization": "Bearer vultr-key"}).reply(
        202, json={"instance": INSTANCE})
    node = call(mode, driver(script), "create_node", "web", SIZE, IMAGE, AMS,
                ex_tags=["blue"], ex_backups=True, ex_userdata="#!/bin/sh\n")
    assert node.id == INSTANCE["id"] and node.state == NodeState.PENDING
    assert node.public_ips == [] and node.extra["location"] == "ams"
    assert node.extra["password"].reveal() == "v3ry-s3cret"
    assert "v3ry-s3cret" not in repr(node.extra)
    script.assert_done()


def test_a_lost_create_is_looked_up_by_its_tag(mode: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("overcast.compute.base.request_token", lambda: "t0k3n")
    script = Script()
    tag = "overcast-token-t0k3n"
    script.expect("POST", f"{API}/instances",
                  match=lambda sent: sent.json()["tags"] == [tag]).fail(sent=True)
    script.expect("GET", f"{API}/instances", params=[("tag", tag), ("per_page", "2")]).reply(
        json=end("instances", [{**INSTANCE, "tags": [tag]}]))
    node = call(mode, driver(script), "create_node", "web", SIZE, AMS, IMAGE)  # Libcloud's order
    assert node.id == INSTANCE["id"]
    script.assert_done()


def test_a_listing_follows_the_cursor_and_refuses_one_sent_twice(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/regions", params=[("per_page", "2")]).reply(
        json=end("regions", [{"id": "ams", "city": "Amsterdam", "country": "NL"}], "YmJi"))
    script.expect("GET", f"{API}/regions", params=[("per_page", "2"), ("cursor", "YmJi")]).reply(
        json=end("regions", [{"id": "fra", "city": "Frankfurt", "country": "DE"}]))
    assert [loc.id for loc in call(mode, driver(script), "list_locations")] == ["ams", "fra"]
    script.assert_done()
    looping = Script()
    looping.expect("GET", f"{API}/os", params=[("per_page", "2")]).reply(
        json=end("os", [{"id": 1, "name": "a"}], "Y3Vy"))
    looping.expect("GET", f"{API}/os", params=[("per_page", "2"), ("cursor", "Y3Vy")]).reply(
        json=end("os", [{"id": 2, "name": "b"}], "Y3Vy"))
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver(looping), "list_images")


def test_a_halt_is_watched_with_sleep_effects() -> None:
    made = driver(Script())
    node = made._to_node({**INSTANCE, "status": "active", "power_status": "running"})
    op = made.stop_node.op(node)
    path = f"{API}/instances/{INSTANCE['id']}"
    halt = next(op)
    assert (halt.method, halt.url) == ("POST", f"{path}/halt")

    def answer(status: int, body: bytes) -> Response:
        return Response(status, {"Content-Type": "application/json"}, body, method="GET",
                        url=path)

    look = op.send(answer(204, b""))
    assert (look.method, look.url) == ("GET", path)
    sleep = op.send(answer(200, b'{"instance": {"status": "active", "power_status": "running"}}'))
    assert sleep == Sleep(1.5)
    look = op.send(None)
    assert look.url == path
    with pytest.raises(StopIteration) as done:
        op.send(answer(200, b'{"instance": {"status": "active", "power_status": "stopped"}}'))
    assert done.value.value is True


def test_errors_map(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/instances/1").reply(404, json={"error": "Not found",
                                                                 "status": 404})
    script.expect("GET", f"{API}/instances/2").reply(
        401, json={"error": "Invalid API token.", "status": 401})
    script.expect("POST", f"{API}/blocks/3/detach").reply(
        404, json={"error": "Not found", "status": 404})
    script.expect("GET", f"{API}/instances/4").reply(
        400, json={"error": "Invalid instance-id vultr-key", "status": 400})
    script.expect("GET", f"{API}/instances/5").reply(
        500, json={"error": "boom", "status": 500})
    made = driver(script, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(NodeNotFound):
        call(mode, made, "get_node", "1")
    with pytest.raises(InvalidCredentials):
        call(mode, made, "get_node", "2")
    with pytest.raises(VolumeNotFound):
        call(mode, made, "detach_volume", StorageVolume("3", "v", 10))
    with pytest.raises(InvalidInput, match="Invalid instance-id") as caught:
        call(mode, made, "get_node", "4")
    assert "vultr-key" not in str(caught.value)
    with pytest.raises(ProviderError, match="boom"):
        call(mode, made, "get_node", "5")


def test_a_429_is_rate_limited(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/instances/1").reply(
        429, json={"error": "Rate limit exceeded", "status": 429})
    with pytest.raises(RateLimited):
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "get_node", "1")


def test_prices_and_pages_read_from_answers() -> None:
    assert hourly_price({"monthly_cost": 6.72, "type": "vhf"}) == pytest.approx(0.01)
    assert hourly_price({"monthly_cost": 7.3, "type": "vcg"}) == pytest.approx(0.01)
    assert hourly_price({"monthly_cost": 0}) is None
    assert hourly_price({}) is None
    page = page_of({"plans": [1, 2], "meta": {"links": {"next": "", "prev": "x"}}}, "plans")
    assert (list(page.items), page.next) == ([1, 2], None)
    assert page_of({"plans": [], "meta": {"links": {"next": "abc"}}}, "plans").next == "abc"
    assert page_of(None, "plans").next is None


def test_bad_options_fail_at_construction() -> None:
    with pytest.raises(InvalidInput):
        VultrNodeDriver("")
    with pytest.raises(InvalidInput):
        VultrNodeDriver("k", poll_interval=0)
    with pytest.raises(InvalidInput):
        VultrNodeDriver("k", api_version="1")
    assert VultrNodeDriver("k", page_size=900).page_size == 500
    assert VultrNodeDriver("k", secure=False, host="127.0.0.1",
                           port=8080).endpoint == "http://127.0.0.1:8080/v2"
    assert "kkkk-secret" not in repr(VultrNodeDriver("kkkk-secret"))
