"""The DigitalOcean compute driver on the scripted transport: the requests it
sends and how it reads the answers, in both modes, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.compute.base import NodeImage
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.drivers.digitalocean import DigitalOceanNodeDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import NodeNotFound
from overcast.errors import ProviderError
from overcast.runtime.effects import Sleep
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "https://api.digitalocean.com/v2"
DROPLET = {"id": 7, "name": "web", "status": "new", "created_at": "2026-12-05T05:00:00Z",
           "networks": {"v4": [], "v6": []}, "region": {"slug": "ams3", "name": "Amsterdam 3"},
           "size": {"slug": "s-1vcpu-1gb", "memory": 1024, "disk": 25, "price_hourly": 0.00893},
           "image": {"id": 11, "name": "Debian 12", "regions": ["ams3"]}, "tags": []}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> DigitalOceanNodeDriver:
    return DigitalOceanNodeDriver("do-token", page_size=2, poll_interval=1.5,
                                  **options, **script.options())


def test_a_create_sends_the_token_tag_and_no_region_when_none(mode: str) -> None:
    script = Script()

    def body_ok(sent: Any) -> bool:
        body = sent.json()
        tags = body.pop("tags")
        return (body == {"name": "web", "size": "s-1vcpu-1gb", "image": 11, "ssh_keys": [],
                         "backups": True}
                and tags[0] == "blue" and tags[1].startswith("overcast-token-"))

    script.expect("POST", f"{API}/droplets", match=body_ok,
                  headers={"Authorization": "Bearer do-token"}).reply(
        202, json={"droplet": DROPLET})
    node = call(mode, driver(script), "create_node", "web", NodeSize("s-1vcpu-1gb", "", 0, 0),
                NodeImage("11", ""), ex_create_attr={"backups": True, "tags": ["blue"]})
    assert node.id == "7" and node.state == NodeState.PENDING
    assert node.size is not None and node.size.price == 0.00893
    assert node.extra["location"] == "ams3" and node.created_at is not None
    script.assert_done()


def test_a_lost_create_is_looked_up_by_its_tag(mode: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("overcast.compute.base.request_token", lambda: "t0k3n")
    script = Script()
    tag = "overcast-token-t0k3n"
    script.expect("POST", f"{API}/droplets",
                  match=lambda sent: sent.json()["tags"] == [tag]).fail(sent=True)
    script.expect("GET", f"{API}/droplets", params=[
        ("tag_name", tag), ("page", "1"), ("per_page", "2")]).reply(
        json={"droplets": [{**DROPLET, "tags": [tag]}], "links": {}})
    node = call(mode, driver(script), "create_node", "web", NodeSize("s-1vcpu-1gb", "", 0, 0),
                NodeImage("debian-12-x64", ""))
    assert node.id == "7"
    script.assert_done()


def test_an_action_is_polled_with_sleep_effects() -> None:
    script = Script()
    script.expect("POST", f"{API}/droplets/7/actions", json={"type": "power_off"}).reply(
        201, json={"action": {"id": 99, "status": "in-progress", "type": "power_off"}})
    script.expect("GET", f"{API}/actions/99").reply(
        json={"action": {"id": 99, "status": "completed", "type": "power_off"}})
    made = driver(script)
    node = made._to_node(DROPLET)
    op = made.stop_node.op(node)
    effects = [next(op)]
    assert effects[0].method == "POST"
    # Drive the generator by hand: the pause between looks is a Sleep effect.
    from overcast.runtime.effects import Response

    def answer(status: int, body: bytes) -> Response:
        return Response(status, {"Content-Type": "application/json"}, body, method="GET",
                        url=API)

    sleep = op.send(answer(201, b'{"action": {"id": 99, "status": "in-progress"}}'))
    assert sleep == Sleep(1.5)
    poll = op.send(None)
    assert poll.url == f"{API}/actions/99"
    with pytest.raises(StopIteration) as done:
        op.send(answer(200, b'{"action": {"id": 99, "status": "completed"}}'))
    assert done.value.value is True


def test_errors_map(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/droplets/1").reply(
        404, json={"id": "not_found", "message": "The resource you were accessing could not "
                                                 "be found."})
    script.expect("GET", f"{API}/droplets/2").reply(
        401, json={"id": "unauthorized", "message": "Unable to authenticate you"})
    script.expect("POST", f"{API}/account/keys").reply(
        422, json={"id": "unprocessable_entity",
                   "message": "SSH Key is already in use on your account"})
    script.expect("GET", f"{API}/droplets/3").reply(
        409, json={"id": "conflict", "message": "boom", "request_id": "r-1"})
    made = driver(script)
    with pytest.raises(NodeNotFound):
        call(mode, made, "get_node", "1")
    with pytest.raises(InvalidCredentials):
        call(mode, made, "get_node", "2")
    with pytest.raises(KeyPairAlreadyExists):
        call(mode, made, "import_key_pair_from_string", "k", "ssh-ed25519 AAAA x")
    with pytest.raises(ProviderError, match="boom") as caught:
        call(mode, made, "get_node", "3")
    assert caught.value.request_id == "r-1" and "do-token" not in str(caught.value)


def test_bad_options_fail_at_construction() -> None:
    with pytest.raises(InvalidInput):
        DigitalOceanNodeDriver("")
    with pytest.raises(InvalidInput):
        DigitalOceanNodeDriver("t", poll_interval=0)
    assert DigitalOceanNodeDriver("t", page_size=500).page_size == 200
    assert DigitalOceanNodeDriver("t", secure=False, host="127.0.0.1",
                                  port=8080).endpoint == "http://127.0.0.1:8080/v2"
