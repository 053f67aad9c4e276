"""The Linode compute driver against the stateful fixture of its API
(``servers.compute_linode``): what the conformance suite does not say."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeState
from overcast.compute.deployment import MultiStepDeployment
from overcast.compute.deployment import ScriptDeployment
from overcast.compute.drivers.linode import LinodeNodeDriver
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import ProviderError
from overcast.runtime.redact import Secret
from servers.compute_linode import LinodeComputeFake
from servers.compute_linode import make_driver
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.modes import call
from servers.sshd import SSHServer
from servers.sshd import ssh_server

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl overcast"
)


@pytest.fixture
def fake() -> Iterator[LinodeComputeFake]:
    made = LinodeComputeFake()
    serving: AbstractContextManager[str] = made.api.serving()
    made.base = serving.__enter__() + "/v4"  # type: ignore[attr-defined]
    try:
        yield made
    finally:
        serving.__exit__(None, None, None)


@pytest.fixture
def driver(fake: LinodeComputeFake) -> Iterator[LinodeNodeDriver]:
    with make_driver(fake.base) as made:  # type: ignore[attr-defined]
        yield made


@pytest.fixture
def us_east(driver: LinodeNodeDriver) -> NodeLocation:
    return driver.get_location("us-east")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def seen(fake: LinodeComputeFake, method: str, path: str, since: int = 0) -> list[FakeRequest]:
    return [r for r in fake.api.requests[since:] if r.method == method and r.path == path]


def new_node(driver: LinodeNodeDriver, location: NodeLocation, **kwargs: object) -> Node:
    node: Node = driver.create_node(unique("li"), driver.get_size("g6-nanode-1"),
                                    driver.get_image("linode/debian12"), location, **kwargs)
    return node


# -- create once -------------------------------------------------------------------------


def test_lost_instance_create_leaves_exactly_one(driver: LinodeNodeDriver,
                                                fake: LinodeComputeFake, us_east: NodeLocation,
                                                mode: str) -> None:
    name = unique("lost")
    fake.lose_next.add("instance")
    before = len(fake.api.requests)
    node = call(mode, driver, "create_node", name, driver.get_size("g6-nanode-1"),
                driver.get_image("linode/debian12"), us_east)
    mine = [i for i in fake.instances.values() if i["label"] == name]
    assert [str(i["id"]) for i in mine] == [node.id]
    assert len(seen(fake, "POST", "/v4/linode/instances", before)) == 1  # never sent again
    [lookup] = seen(fake, "GET", "/v4/linode/instances", before)
    assert json.loads(lookup.header("X-Filter") or "{}") == {"label": name}
    token_tags = [t for t in mine[0]["tags"] if t.startswith("overcast-token-")]
    assert len(token_tags) == 1 and token_tags[0] in node.extra["tags"]
    # The password made up for the lost create is the one the node got.
    assert node.extra["password"].reveal() == fake.passwords[int(node.id)]


def test_lost_volume_and_key_creates_are_found(driver: LinodeNodeDriver,
                                               fake: LinodeComputeFake, us_east: NodeLocation,
                                               mode: str) -> None:
    fake.lose_next.add("volume")
    volume = call(mode, driver, "create_volume", 20, unique("vol"), us_east)
    assert list(fake.volumes) == [int(volume.id)] and volume.size == 20
    fake.lose_next.add("sshkey")
    key = call(mode, driver, "import_key_pair_from_string", "laptop", PUBLIC_KEY)
    assert [k["id"] for k in fake.keys.values()] == [key.extra["id"]]
    with pytest.raises(KeyPairAlreadyExists):
        call(mode, driver, "import_key_pair_from_string", "laptop", PUBLIC_KEY)


# -- prices ---------------------------------------------------------------------------------


def test_sizes_priced_in_the_region_asked_for(driver: LinodeNodeDriver, mode: str) -> None:
    everywhere = {s.id: s for s in call(mode, driver, "list_sizes")}
    assert everywhere["g6-nanode-1"].price == 0.0075
    assert everywhere["g6-standard-2"].price == 0.036
    assert everywhere["g6-standard-2"].disk == 80 and everywhere["g6-standard-2"].ram == 4096
    jakarta = {s.id: s for s in call(mode, driver, "list_sizes", driver.get_location("id-cgk"))}
    assert jakarta["g6-nanode-1"].price == 0.009  # its region_prices entry, not price.hourly
    assert jakarta["g6-standard-2"].price == 0.0432
    assert jakarta["g6-standard-2"].extra["price_region"] == "id-cgk"
    newark = {s.id: s for s in call(mode, driver, "list_sizes", driver.get_location("us-east"))}
    assert newark["g6-nanode-1"].price == 0.0075  # no regional price there: the base one
    assert call(mode, driver, "get_size", "g6-standard-1").price == 0.018


# -- Libcloud's positions ------------------------------------------------------------------


def test_create_node_takes_libclouds_v4_positions(driver: LinodeNodeDriver,
                                                  fake: LinodeComputeFake,
                                                  us_east: NodeLocation, mode: str) -> None:
    name = unique("lc")
    before = len(fake.api.requests)
    # Libcloud 3.9.1: create_node(location, name, size, image, root_pass, ...)
    node = call(mode, driver, "create_node", us_east, name, driver.get_size("g6-nanode-1"),
                driver.get_image("linode/debian12"), "Libcloud-Root-1",
                ex_tags=["web"], ex_private_ip=True, ex_authorized_keys=[PUBLIC_KEY])
    [post] = seen(fake, "POST", "/v4/linode/instances", before)
    body = post.json()
    assert body["region"] == "us-east" and body["label"] == name
    assert body["type"] == "g6-nanode-1" and body["image"] == "linode/debian12"
    assert body["root_pass"] == "Libcloud-Root-1" and body["private_ip"] is True
    assert body["authorized_keys"] == [PUBLIC_KEY] and "web" in body["tags"]
    assert "password" not in node.extra  # the caller chose it
    assert node.public_ips[0] == "127.0.0.1"
    assert [ip for ip in node.private_ips if ip.startswith("192.168.128.")]
    # And overcast's order with keywords, Libcloud's keyword for the password:
    other = call(mode, driver, "create_node", name=unique("kw"), size=driver.get_size(
        "g6-nanode-1"), image=driver.get_image("linode/debian12"), location=us_east,
        root_pass="Keyword-Root-2")
    assert fake.passwords[int(other.id)] == "Keyword-Root-2"


def test_create_volume_takes_libclouds_positions(driver: LinodeNodeDriver,
                                                 fake: LinodeComputeFake,
                                                 us_east: NodeLocation, mode: str) -> None:
    name = unique("v")
    volume = call(mode, driver, "create_volume", name, 30, us_east)  # Libcloud's (name, size)
    assert volume.name == name and volume.size == 30
    node = new_node(driver, us_east)
    beside = call(mode, driver, "create_volume", 10, unique("w"), node=node)
    assert beside.extra["linode_id"] == node.id and beside.extra["location"] == "us-east"


def test_a_generated_password_is_a_secret(driver: LinodeNodeDriver, fake: LinodeComputeFake,
                                          us_east: NodeLocation, mode: str) -> None:
    node = call(mode, driver, "create_node", unique("pw"), driver.get_size("g6-nanode-1"),
                driver.get_image("linode/debian12"), us_east)
    password = node.extra["password"]
    assert isinstance(password, Secret)
    assert password.reveal() == fake.passwords[int(node.id)]
    assert password.reveal() not in repr(node)
    chosen = call(mode, driver, "create_node", unique("pw"), driver.get_size("g6-nanode-1"),
                  driver.get_image("linode/debian12"), us_east, NodeAuthPassword("Chosen-Pw-9"))
    assert fake.passwords[int(chosen.id)] == "Chosen-Pw-9" and "password" not in chosen.extra


def test_invalid_input_sends_nothing(driver: LinodeNodeDriver, fake: LinodeComputeFake,
                                     us_east: NodeLocation, mode: str) -> None:
    size, image = driver.get_size("g6-nanode-1"), driver.get_image("linode/debian12")
    before = len(fake.api.requests)
    for bad in ("a--b", "ab", "-abc", "has space"):
        with pytest.raises(InvalidInput, match="label"):
            call(mode, driver, "create_node", bad, size, image, us_east)
    with pytest.raises(InvalidInput, match="location"):
        call(mode, driver, "create_node", "fine-name", size, image)
    with pytest.raises(InvalidInput, match="7 to 128"):
        call(mode, driver, "create_node", "fine-name", size, image, us_east,
             NodeAuthPassword("short"))
    with pytest.raises(InvalidInput, match="10 GiB"):
        call(mode, driver, "create_volume", 1, "tiny", us_east)
    with pytest.raises(InvalidInput, match="snapshot"):
        call(mode, driver, "create_volume", 10, "snap", us_east, object())
    assert fake.api.requests[before:] == []


# -- lifecycle, paging ---------------------------------------------------------------------


def test_power_resize_rename(driver: LinodeNodeDriver, fake: LinodeComputeFake,
                             us_east: NodeLocation, mode: str) -> None:
    node = new_node(driver, us_east, auth=NodeAuthSSHKey(PUBLIC_KEY))
    [(node, _)] = driver.wait_until_running([node], wait_period=0.01, timeout=10)
    assert call(mode, driver, "ex_stop_node", node) is True
    assert driver.get_node(node.id).state == NodeState.STOPPING
    assert driver.get_node(node.id).state == NodeState.STOPPED
    assert call(mode, driver, "ex_resize_node", node, driver.get_size("g6-standard-2"), True)
    [resize] = [r for r in fake.api.requests if r.path.endswith("/resize")]
    assert resize.json() == {"type": "g6-standard-2", "allow_auto_disk_resize": True}
    renamed = call(mode, driver, "ex_rename_node", node, "renamed-node")
    assert renamed.name == "renamed-node" and renamed.extra["type"] == "g6-standard-2"
    assert call(mode, driver, "ex_start_node", node) is True
    assert driver.get_node(node.id).state == NodeState.STARTING


def test_listing_reads_every_page(driver: LinodeNodeDriver, fake: LinodeComputeFake,
                                  us_east: NodeLocation, mode: str) -> None:
    made = {new_node(driver, us_east).id for _ in range(27)}
    before = len(fake.api.requests)
    listed = call(mode, driver, "list_nodes")
    assert {n.id for n in listed} == made
    pages = seen(fake, "GET", "/v4/linode/instances", before)
    assert [(r.arg("page"), r.arg("page_size")) for r in pages] == [("1", "25"), ("2", "25")]


def test_a_page_other_than_the_one_asked_for_is_refused(driver: LinodeNodeDriver,
                                                        fake: LinodeComputeFake,
                                                        mode: str) -> None:
    def stuck(req: FakeRequest) -> FakeResponse:  # ignores ``page``: always page 1 of 3
        return FakeResponse.json({"data": [], "page": 1, "pages": 3, "results": 75})

    fake.api.routes.insert(0, ("GET", re.compile(r"/v4/linode/instances\Z"), stuck))
    with pytest.raises(ProviderError, match="asked for page 2"):
        call(mode, driver, "list_nodes")


# -- deployment ------------------------------------------------------------------------------


@pytest.fixture
def server(request: pytest.FixtureRequest) -> SSHServer:
    return ssh_server(request)


def test_deploy_node_logs_in_with_the_authorized_key_sent(
        driver: LinodeNodeDriver, fake: LinodeComputeFake, server: SSHServer,
        us_east: NodeLocation, mode: str, tmp_path: Path) -> None:
    fake.authorized_keys = server.authorized_keys
    key = server.new_client_key(f"li_{mode}_{uuid.uuid4().hex[:6]}")
    public = server.public_key(key)
    assert public not in server.authorized_keys.read_text()
    script = ScriptDeployment("#!/bin/sh\nid -un\n", name=f"{tmp_path}/whoami.sh", delete=True)
    node = call(mode, driver, "deploy_node", MultiStepDeployment([script]),
                name=unique("deploy"), size=driver.get_size("g6-nanode-1"),
                image=driver.get_image("linode/debian12"), location=us_east,
                auth=NodeAuthSSHKey(public), ssh_port=server.port, ssh_username=server.user,
                ssh_key=str(key), ssh_known_hosts=str(server.known_hosts), ssh_timeout=5,
                timeout=30, wait_period=0.01, max_tries=1)
    assert node.state == NodeState.RUNNING
    assert public in server.authorized_keys.read_text().splitlines()
    assert script.stdout == f"{server.user}\n" and script.exit_status == 0
