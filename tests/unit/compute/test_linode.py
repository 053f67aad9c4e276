"""The Linode compute driver on the scripted transport: the requests it sends
and how it reads the answers, in both modes, without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.drivers.linode import LinodeNodeDriver
from overcast.errors import AlreadyExists
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "https://api.linode.com/v4"
INSTANCE = {"id": 123, "label": "web-1", "status": "provisioning", "region": "us-east",
            "type": "g6-nanode-1", "image": "linode/debian12",
            "ipv4": ["203.0.113.9", "192.168.130.4"], "ipv6": "2001:db8::1/128",
            "created": "2026-12-05T05:00:00", "tags": []}
TYPE = {"id": "g6-nanode-1", "label": "Nanode 1GB", "memory": 1024, "disk": 25600,
        "vcpus": 1, "network_out": 1000, "price": {"hourly": 0.0075, "monthly": 5.0},
        "region_prices": [{"id": "id-cgk", "hourly": 0.009, "monthly": 6.0}]}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> LinodeNodeDriver:
    return LinodeNodeDriver("li-token", page_size=25, **options, **script.options())


def page(items: list[dict[str, Any]], number: int = 1, pages: int = 1) -> dict[str, Any]:
    return {"data": items, "page": number, "pages": pages, "results": len(items)}


def test_libclouds_positions_send_the_same_create(mode: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("overcast.compute.base.request_token", lambda: "t0k3n")
    expected = {"label": "web-1", "region": "us-east", "type": "g6-nanode-1",
                "image": "linode/debian12", "root_pass": "Root-Pass-1",
                "tags": ["overcast-token-t0k3n"], "private_ip": False,
                "backups_enabled": False, "booted": True}
    script = Script()
    for _ in range(2):
        script.expect("POST", f"{API}/linode/instances", json=expected,
                      headers={"Authorization": "Bearer li-token"}).reply(json=INSTANCE)
    made = driver(script)
    where = NodeLocation("us-east", "Newark")
    size, image = NodeSize("g6-nanode-1", "", 0, 0), NodeImage("linode/debian12", "")
    libcloud = call(mode, made, "create_node", where, "web-1", size, image, "Root-Pass-1")
    ours = call(mode, made, "create_node", "web-1", size, image, where, root_pass="Root-Pass-1")
    for node in (libcloud, ours):
        assert node.id == "123" and node.state == NodeState.STARTING
        assert node.public_ips == ["203.0.113.9", "2001:db8::1"]
        assert node.private_ips == ["192.168.130.4"] and node.extra["location"] == "us-east"
    script.assert_done()


def test_a_lost_create_is_looked_up_by_label(mode: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("overcast.compute.base.request_token", lambda: "t0k3n")
    script = Script()
    script.expect("POST", f"{API}/linode/instances").fail(sent=True)
    script.expect("GET", f"{API}/linode/instances", params=[("page", "1"), ("page_size", "25")],
                  headers={"X-Filter": json.dumps({"label": "web-1"})}).reply(
        json=page([{**INSTANCE, "tags": ["overcast-token-t0k3n"]}]))
    node = call(mode, driver(script), "create_node", "web-1", NodeSize("g6-nanode-1", "", 0, 0),
                NodeImage("linode/debian12", ""), NodeLocation("us-east", ""))
    assert node.id == "123" and node.extra["password"].reveal()
    script.assert_done()


def test_regional_prices(mode: str) -> None:
    script = Script()
    for _ in range(2):
        script.expect("GET", f"{API}/linode/types",
                      params=[("page", "1"), ("page_size", "25")]).reply(json=page([TYPE]))
    made = driver(script)
    [base] = call(mode, made, "list_sizes")
    [jakarta] = call(mode, made, "list_sizes", NodeLocation("id-cgk", "Jakarta"))
    assert (base.price, jakarta.price) == (0.0075, 0.009)
    assert base.disk == 25 and base.extra["disk_mb"] == 25600


def test_a_provider_that_ignores_page_is_refused(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/linode/instances",
                  params=[("page", "1"), ("page_size", "25")]).reply(json=page([INSTANCE], 1, 2))
    script.expect("GET", f"{API}/linode/instances",
                  params=[("page", "2"), ("page_size", "25")]).reply(json=page([INSTANCE], 1, 2))
    with pytest.raises(ProviderError, match="asked for page 2"):
        call(mode, driver(script), "list_nodes")


def test_errors_and_checks(mode: str) -> None:
    script = Script()
    script.expect("PUT", f"{API}/linode/instances/123").reply(
        400, json={"errors": [{"field": "label",
                               "reason": "Label must be unique among your Linodes"}]})
    made = driver(script)
    node = made._to_node(INSTANCE)
    with pytest.raises(AlreadyExists):
        call(mode, made, "ex_rename_node", node, "taken-label")
    with pytest.raises(InvalidInput):
        LinodeNodeDriver("t", page_size=10)
    with pytest.raises(InvalidInput, match="10 GiB"):
        call(mode, made, "create_volume", 5, "small", NodeLocation("us-east", ""))
    script.assert_done()
