"""The OpenStack compute driver on the scripted transport: Keystone, then the
Nova, Glance, Cinder and Neutron requests it sends and how it reads the answers,
in both modes, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.base import StorageVolume
from overcast.compute.drivers.openstack import OpenStackNodeDriver
from overcast.errors import ImageNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import NodeNotFound
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

AUTH = "https://keystone.example/v3"
NOVA = "https://nova.example/v2.1"
GLANCE = "https://glance.example"
CINDER = "https://cinder.example/v3/p1"
NEUTRON = "https://neutron.example"
SIZE = NodeSize("1", "m1.tiny", 512, 1)
IMAGE = NodeImage("img-1", "cirros")
NOVA_HEADERS = {"X-Auth-Token": "tok-1", "OpenStack-API-Version": "compute 2.79"}


def catalog() -> list[dict[str, Any]]:
    services = [("compute", NOVA), ("image", GLANCE), ("block-storage", CINDER),
                ("network", NEUTRON)]
    return [{"type": kind, "name": kind, "endpoints": [
        {"interface": "public", "region_id": "RegionOne", "url": url}]}
        for kind, url in services]


def keystone(script: Script, token: str = "tok-1") -> None:
    """Expect the token request, and answer it with ``token`` and the catalog."""
    body = {"token": {"expires_at": "2099-01-01T00:00:00Z", "issued_at": "2026-01-01T00:00:00Z",
                      "project": {"id": "p1", "name": "demo"}, "catalog": catalog()}}
    script.expect("POST", f"{AUTH}/auth/tokens").reply(
        201, json=body, headers={"X-Subject-Token": token})


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The request token every create of the test carries."""
    monkeypatch.setattr("overcast.compute.base.request_token", lambda: "tok-create")
    return "tok-create"


def driver(script: Script, **options: Any) -> OpenStackNodeDriver:
    options = {"auth_url": AUTH, "page_size": 2, **options}
    return OpenStackNodeDriver("demo", "pw", project="demo", region="RegionOne",
                               **options, **script.options())


def server(server_id: str, name: str, status: str = "ACTIVE", **metadata: str) -> dict[str, Any]:
    return {"id": server_id, "name": name, "status": status, "metadata": metadata,
            "addresses": {"private": [{"addr": "10.0.0.5", "OS-EXT-IPS:type": "fixed"}]},
            "flavor": {"original_name": "m1.tiny", "ram": 512, "disk": 1, "vcpus": 1}}


def next_link(path: str, marker: str) -> list[dict[str, str]]:
    return [{"rel": "next", "href": f"http://nova.internal{path}?limit=2&marker={marker}"}]


# -- servers -----------------------------------------------------------------------------------


def test_servers_are_listed_page_by_page_by_marker(mode: str) -> None:
    script = Script()
    keystone(script)
    script.expect("GET", f"{NOVA}/servers/detail", params={"limit": "2"},
                  headers=NOVA_HEADERS).reply(200, json={
                      "servers": [server("s1", "one"), server("s2", "two")],
                      "servers_links": next_link("/servers/detail", "s2")})
    script.expect("GET", f"{NOVA}/servers/detail", params={"limit": "2", "marker": "s2"}).reply(
        200, json={"servers": [server("s3", "three", "SHUTOFF")]})
    nodes = call(mode, driver(script), "list_nodes")
    assert [(n.id, n.name, n.state) for n in nodes] == [
        ("s1", "one", NodeState.RUNNING), ("s2", "two", NodeState.RUNNING),
        ("s3", "three", NodeState.STOPPED)]
    assert nodes[0].private_ips == ["10.0.0.5"] and nodes[0].size is not None
    script.assert_done()


def test_a_marker_sent_twice_is_an_error_not_a_loop(mode: str) -> None:
    script = Script()
    keystone(script)
    page = {"servers": [server("s1", "one")], "servers_links": next_link("/servers/detail", "m")}
    script.expect("GET", f"{NOVA}/servers/detail", params={"limit": "2"}).reply(200, json=page)
    script.expect("GET", f"{NOVA}/servers/detail", params={"limit": "2", "marker": "m"}).reply(
        200, json=page)
    with pytest.raises(ProviderError, match="sent the marker 'm' a second time"):
        call(mode, driver(script), "list_nodes")
    script.assert_done()


def test_get_node_and_a_missing_one(mode: str) -> None:
    script = Script()
    keystone(script)
    script.expect("GET", f"{NOVA}/servers/s1").reply(200, json={"server": server("s1", "web")})
    script.expect("GET", f"{NOVA}/servers/s0").reply(404, json={
        "itemNotFound": {"code": 404, "message": "Instance s0 could not be found."}})
    made = driver(script)
    assert call(mode, made, "get_node", "s1").name == "web"
    with pytest.raises(NodeNotFound, match="s0"):
        call(mode, made, "get_node", "s0")
    script.assert_done()


def test_create_node_carries_its_token_in_the_metadata(mode: str, token: str) -> None:
    script = Script()
    keystone(script)
    script.expect("POST", f"{NOVA}/servers", headers=NOVA_HEADERS, json={"server": {
        "name": "web", "flavorRef": "1", "imageRef": "img-1", "networks": "auto",
        "metadata": {"team": "a", "overcast-token": token}}}).reply(
        202, json={"server": {"id": "s9", "adminPass": "Generated-1"}})
    script.expect("GET", f"{NOVA}/servers/s9").reply(
        200, json={"server": server("s9", "web", "BUILD", team="a", **{"overcast-token": token})})
    node = call(mode, driver(script), "create_node", "web", SIZE, IMAGE,
                ex_metadata={"team": "a"})
    assert (node.id, node.state) == ("s9", NodeState.PENDING)
    assert node.extra["password"].reveal() == "Generated-1"
    script.assert_done()


def test_a_create_whose_answer_is_lost_is_found_by_its_token(mode: str, token: str) -> None:
    script = Script()
    keystone(script)
    script.expect("POST", f"{NOVA}/servers").fail(sent=True)
    script.expect("GET", f"{NOVA}/servers/detail", params={"name": "^web$", "limit": "2"}).reply(
        200, json={"servers": [server("s7", "web", "BUILD", **{"overcast-token": "other"}),
                               server("s8", "web", "BUILD", **{"overcast-token": token})]})
    node = call(mode, driver(script), "create_node", "web", SIZE, IMAGE)
    assert node.id == "s8"
    assert [s.method for s in script.received].count("POST") == 2  # the token, one create
    script.assert_done()


@pytest.mark.parametrize(("op", "body"), [("reboot_node", {"reboot": {"type": "SOFT"}}),
                                          ("stop_node", {"os-stop": None}),
                                          ("start_node", {"os-start": None})])
def test_server_actions(mode: str, op: str, body: dict[str, Any]) -> None:
    script = Script()
    keystone(script)
    script.expect("POST", f"{NOVA}/servers/s1/action", json=body, headers=NOVA_HEADERS).reply(202)
    assert call(mode, driver(script), op, Node("s1", "web", NodeState.RUNNING)) is True
    script.assert_done()


def test_destroy_node_and_a_missing_one(mode: str) -> None:
    script = Script()
    keystone(script)
    script.expect("DELETE", f"{NOVA}/servers/s1").reply(204)
    script.expect("DELETE", f"{NOVA}/servers/s0").reply(404, json={
        "itemNotFound": {"code": 404, "message": "Instance s0 could not be found."}})
    made = driver(script)
    assert call(mode, made, "destroy_node", Node("s1", "web", NodeState.RUNNING)) is True
    with pytest.raises(NodeNotFound):
        call(mode, made, "destroy_node", Node("s0", "gone", NodeState.UNKNOWN))
    script.assert_done()


# -- volumes, snapshots, key pairs, images -------------------------------------------------------


def test_create_volume_with_its_token(mode: str, token: str) -> None:
    script = Script()
    keystone(script)
    script.expect("POST", f"{CINDER}/volumes", json={"volume": {
        "size": 1, "name": "data", "metadata": {"overcast-token": token}}}).reply(
        202, json={"volume": {"id": "v1", "name": "data", "size": 1, "status": "creating"}})
    volume = call(mode, driver(script), "create_volume", 1, "data")
    assert (volume.id, volume.name, volume.size) == ("v1", "data", 1)
    script.assert_done()


def test_snapshot_a_volume(mode: str, token: str) -> None:
    script = Script()
    keystone(script)
    script.expect("POST", f"{CINDER}/snapshots", json={"snapshot": {
        "volume_id": "v1", "force": False, "name": "nightly",
        "metadata": {"overcast-token": token}}}).reply(
        202, json={"snapshot": {"id": "sn1", "name": "nightly", "volume_id": "v1",
                                "status": "creating", "size": 1}})
    snapshot = call(mode, driver(script), "create_volume_snapshot",
                    StorageVolume("v1", "data", 1), "nightly")
    assert (snapshot.id, snapshot.name, snapshot.size) == ("sn1", "nightly", 1)
    script.assert_done()


def test_import_a_key_pair_and_a_name_taken(mode: str) -> None:
    script = Script()
    keystone(script)
    pair = {"name": "laptop", "type": "ssh", "public_key": "ssh-ed25519 AAAA me"}
    script.expect("POST", f"{NOVA}/os-keypairs", json={"keypair": pair}).reply(
        201, json={"keypair": {**pair, "fingerprint": "ab:cd"}})
    script.expect("POST", f"{NOVA}/os-keypairs", json={"keypair": pair}).reply(
        409, json={"conflictingRequest": {"code": 409,
                                          "message": "Key pair 'laptop' already exists."}})
    made = driver(script)
    key = call(mode, made, "import_key_pair_from_string", "laptop", "ssh-ed25519 AAAA me")
    assert key.fingerprint == "ab:cd"
    with pytest.raises(KeyPairAlreadyExists):
        call(mode, made, "import_key_pair_from_string", "laptop", "ssh-ed25519 AAAA me")
    script.assert_done()


def test_images_are_paged_by_glance_next_links(mode: str) -> None:
    script = Script()
    keystone(script)
    script.expect("GET", f"{GLANCE}/v2/images", params={"limit": "2"}).reply(200, json={
        "images": [{"id": "i1", "name": "a"}, {"id": "i2", "name": "b"}],
        "next": "/v2/images?limit=2&marker=i2"})
    script.expect("GET", f"{GLANCE}/v2/images", params={"limit": "2", "marker": "i2"}).reply(
        200, json={"images": [{"id": "i3", "name": "c", "status": "active"}]})
    script.expect("GET", f"{GLANCE}/v2/images/i0").reply(404, text="<html>Not Found</html>")
    made = driver(script)
    images = call(mode, made, "list_images")
    assert [(i.id, i.name) for i in images] == [("i1", "a"), ("i2", "b"), ("i3", "c")]
    with pytest.raises(ImageNotFound):
        call(mode, made, "get_image", "i0")
    script.assert_done()


# -- errors ----------------------------------------------------------------------------------


def test_a_refused_token_is_renewed_once_then_invalid_credentials(mode: str) -> None:
    script = Script()
    keystone(script)
    unauthorized = {"error": {"code": 401, "title": "Unauthorized", "message": "expired"}}
    script.expect("GET", f"{NOVA}/flavors/1", headers={"X-Auth-Token": "tok-1"}).reply(
        401, json=unauthorized)
    keystone(script, "tok-2")
    script.expect("GET", f"{NOVA}/flavors/1", headers={"X-Auth-Token": "tok-2"}).reply(
        401, json=unauthorized)
    with pytest.raises(InvalidCredentials, match="refused a fresh Keystone token"):
        call(mode, driver(script), "get_size", "1")
    script.assert_done()


def test_a_forbidden_answer_is_the_clouds_policy_not_the_credentials(mode: str) -> None:
    script = Script()
    keystone(script)
    script.expect("DELETE", f"{GLANCE}/v2/images/i1").reply(
        403, text="<html><body><h1>403 Forbidden</h1>You are not permitted</body></html>")
    with pytest.raises(ProviderError) as info:
        call(mode, driver(script), "delete_image", NodeImage("i1", "x"))
    assert info.value.status == 403 and "not permitted" in str(info.value)
    script.assert_done()


def test_over_limit_is_retried_then_rate_limited(mode: str) -> None:
    script = Script()
    keystone(script)
    over = {"overLimit": {"code": 413, "message": "This request was rate-limited."}}
    script.expect("GET", f"{NOVA}/flavors/2").reply(413, json=over)
    script.expect("GET", f"{NOVA}/flavors/2").reply(
        200, json={"flavor": {"id": "2", "name": "m1.small", "ram": 2048, "disk": 20}})
    made = driver(script, retry=RetryPolicy(base=0.0, max_attempts=2))
    assert call(mode, made, "get_size", "2").name == "m1.small"
    script.expect("GET", f"{NOVA}/flavors/2").reply(413, json=over)
    script.expect("GET", f"{NOVA}/flavors/2").reply(413, json=over)
    with pytest.raises(RateLimited):
        call(mode, made, "get_size", "2")
    quota = {"overLimit": {"code": 413, "message": "Quota exceeded for instances"}}
    script.expect("GET", f"{NOVA}/flavors/2").reply(413, json=quota)
    with pytest.raises(ProviderError, match="Quota exceeded"):
        call(mode, made, "get_size", "2")
    script.assert_done()


def test_a_server_error_keeps_its_code_and_request_id(mode: str) -> None:
    script = Script()
    keystone(script)
    script.expect("POST", f"{NOVA}/servers/s1/action").reply(
        409, json={"conflictingRequest": {"code": 409, "message": "Cannot 'stop' instance s1"}},
        headers={"X-Openstack-Request-Id": "req-42"})
    with pytest.raises(ProviderError) as info:
        call(mode, driver(script), "stop_node", Node("s1", "web", NodeState.STOPPED))
    assert (info.value.status, info.value.code, info.value.request_id) == (
        409, "conflictingRequest", "req-42")
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    made = driver(script)
    volume = StorageVolume("v1", "v", 1)
    node = Node("s1", "web", NodeState.RUNNING)
    for bad in (
        lambda: call(mode, made, "create_node", " padded ", SIZE, IMAGE),
        lambda: call(mode, made, "create_node", "ok", SIZE, IMAGE, ex_networks="bogus"),
        lambda: call(mode, made, "create_node", "ok", "1", IMAGE),
        lambda: call(mode, made, "create_node", "ok", SIZE, IMAGE, ex_metadata={"k": "v" * 256}),
        lambda: call(mode, made, "create_volume", 0, "v"),
        lambda: call(mode, made, "create_volume", 1, ""),
        lambda: call(mode, made, "attach_volume", node, volume, "sdb"),
        lambda: call(mode, made, "get_key_pair", ""),
        lambda: call(mode, made, "ex_create_floating_ip", ""),
    ):
        with pytest.raises(InvalidInput):
            bad()
    for options in ({"compute_microversion": "2.30"}, {"page_size": 0},
                    {"interface": "private"}, {"auth_url": "ftp://keystone.example"}):
        with pytest.raises(InvalidInput):
            driver(script, **options)
    assert script.received == []
