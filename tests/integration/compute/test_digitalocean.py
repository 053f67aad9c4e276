"""The DigitalOcean compute driver against the stateful fixture of its API
(``servers.compute_digitalocean``): what the conformance suite does not say."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeState
from overcast.compute.deployment import MultiStepDeployment
from overcast.compute.deployment import ScriptDeployment
from overcast.compute.drivers.digitalocean import DigitalOceanFloatingIP
from overcast.compute.drivers.digitalocean import DigitalOceanNodeDriver
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import VolumeNotFound
from servers.compute_digitalocean import DigitalOceanComputeServer
from servers.compute_digitalocean import make_driver
from servers.compute_digitalocean import serve
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.modes import call
from servers.pauses import record_pauses
from servers.sshd import SSHServer
from servers.sshd import ssh_server

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl overcast"
)


@pytest.fixture
def fixture() -> Iterator[tuple[DigitalOceanComputeServer, str]]:
    with serve() as served:
        yield served


@pytest.fixture
def fake(fixture: tuple[DigitalOceanComputeServer, str]) -> DigitalOceanComputeServer:
    return fixture[0]


@pytest.fixture
def driver(fixture: tuple[DigitalOceanComputeServer, str]) -> Iterator[DigitalOceanNodeDriver]:
    with make_driver(fixture[1]) as made:
        yield made


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def seen(fake: DigitalOceanComputeServer, method: str, suffix: str,
         since: int = 0) -> list[FakeRequest]:
    return [r for r in fake.requests[since:] if r.method == method and r.path.endswith(suffix)]


def new_node(driver: DigitalOceanNodeDriver, **kwargs: Any) -> Node:
    node: Node = driver.create_node(unique("do"), driver.get_size("s-1vcpu-1gb"),
                                    driver.get_image("100001"), **kwargs)
    return node


def running(driver: DigitalOceanNodeDriver, node: Node) -> Node:
    [(ready, _)] = driver.wait_until_running([node], wait_period=0.01, timeout=10)
    return ready


# -- create once --------------------------------------------------------------------------


def test_lost_droplet_create_leaves_exactly_one(driver: DigitalOceanNodeDriver,
                                               fake: DigitalOceanComputeServer,
                                               mode: str) -> None:
    name = unique("lost")
    fake.state.inject("POST", r"/v2/droplets\Z", FakeResponse.json(
        {"id": "server_error", "message": "Server Error"}, 500), after=True)
    before = len(fake.requests)
    node = call(mode, driver, "create_node", name, driver.get_size("s-1vcpu-1gb"),
                driver.get_image("100001"))
    mine = [d for d in fake.state.droplets.values() if d["name"] == name]
    assert [str(d["id"]) for d in mine] == [node.id]
    assert len(seen(fake, "POST", "/v2/droplets", before)) == 1  # never sent again
    [lookup] = seen(fake, "GET", "/v2/droplets", before)
    token_tag = lookup.arg("tag_name")
    assert token_tag and token_tag.startswith("overcast-token-")
    assert token_tag in mine[0]["tags"] and token_tag in node.extra["tags"]


def test_create_refused_before_storing_is_sent_again(driver: DigitalOceanNodeDriver,
                                                     fake: DigitalOceanComputeServer,
                                                     mode: str) -> None:
    name = unique("again")
    fake.state.inject("POST", r"/v2/droplets\Z", FakeResponse.json(
        {"id": "server_error", "message": "Server Error"}, 503))
    before = len(fake.requests)
    node = call(mode, driver, "create_node", name, driver.get_size("s-1vcpu-1gb"),
                driver.get_image("100001"))
    assert [str(d["id"]) for d in fake.state.droplets.values() if d["name"] == name] == [node.id]
    assert len(seen(fake, "POST", "/v2/droplets", before)) == 2


def test_lost_volume_and_snapshot_creates_are_found(driver: DigitalOceanNodeDriver,
                                                    fake: DigitalOceanComputeServer,
                                                    mode: str) -> None:
    nyc3 = driver.get_location("nyc3")
    lost = FakeResponse.json({"id": "server_error", "message": "Server Error"}, 500)
    fake.state.inject("POST", r"/v2/volumes\Z", lost, after=True)
    volume = call(mode, driver, "create_volume", 2, unique("vol"), nyc3)
    assert list(fake.state.volumes) == [volume.id]
    fake.state.inject("POST", r"/snapshots\Z", lost, after=True)
    snap = call(mode, driver, "create_volume_snapshot", volume, "nightly")
    assert list(fake.state.snapshots) == [snap.id] and snap.name == "nightly"


# -- actions ----------------------------------------------------------------------------


def test_actions_are_polled_with_the_runtimes_sleep(driver: DigitalOceanNodeDriver,
                                                    fake: DigitalOceanComputeServer, mode: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    node = running(driver, new_node(driver))
    before = len(fake.requests)
    paused = record_pauses(monkeypatch)
    assert call(mode, driver, "stop_node", node) is True
    # The action is in-progress when posted and on its first look, completed on the second.
    assert paused == [0.01, 0.01]
    [posted] = seen(fake, "POST", f"/droplets/{node.id}/actions", before)
    assert posted.json() == {"type": "power_off"}
    polls = [r for r in fake.requests[before:] if r.path.startswith("/v2/actions/")]
    assert len(polls) == 2
    # When stop_node returns, the droplet is off: no waiting left to the caller.
    assert driver.get_node(node.id).state == NodeState.STOPPED
    paused.clear()
    assert call(mode, driver, "start_node", node) is True
    assert paused == [0.01, 0.01]
    assert driver.get_node(node.id).state == NodeState.RUNNING


def test_an_errored_action_raises(driver: DigitalOceanNodeDriver,
                                  fake: DigitalOceanComputeServer, mode: str) -> None:
    node = running(driver, new_node(driver))
    fake.state.error_next_action.add("reboot")
    with pytest.raises(ProviderError, match="errored"):
        call(mode, driver, "reboot_node", node)


def test_an_action_that_never_completes_times_out_by_pauses_asked(
        fixture: tuple[DigitalOceanComputeServer, str], mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, endpoint = fixture
    with make_driver(endpoint, wait_timeout=0.05) as driver:
        node = running(driver, new_node(driver))
        stuck = {"action": {"id": 1, "status": "in-progress", "type": "power_off"}}
        fake.state.inject("GET", r"/v2/actions/", FakeResponse.json(stuck), times=100)
        paused = record_pauses(monkeypatch)
        with pytest.raises(OperationTimeout, match=r"not completed within 0\.05s"):
            call(mode, driver, "stop_node", node)
        assert paused == [0.01] * 5


def test_resize_and_rename_are_actions(driver: DigitalOceanNodeDriver,
                                       fake: DigitalOceanComputeServer, mode: str) -> None:
    node = running(driver, new_node(driver))
    assert call(mode, driver, "stop_node", node) is True
    assert call(mode, driver, "ex_resize_node", node, driver.get_size("s-2vcpu-4gb")) is True
    assert call(mode, driver, "ex_rename_node", node, "renamed") is True
    now = driver.get_node(node.id)
    assert now.name == "renamed" and now.size is not None and now.size.id == "s-2vcpu-4gb"
    assert call(mode, driver, "start_node", node) is True
    with pytest.raises(InvalidInput, match="already powered on"):  # a 422
        call(mode, driver, "start_node", node)


# -- sizes, paging --------------------------------------------------------------------------


def test_sizes_are_priced_per_hour_and_unknown_is_none(driver: DigitalOceanNodeDriver,
                                                       fake: DigitalOceanComputeServer,
                                                       mode: str) -> None:
    sizes = {s.id: s for s in call(mode, driver, "list_sizes")}
    assert sizes["s-1vcpu-512mb-10gb"].price == 0.00595
    assert sizes["s-2vcpu-2gb"].price == 0.02679
    assert sizes["s-2vcpu-2gb"].extra["price_monthly"] == 18.0
    assert sizes["s-2vcpu-2gb"].ram == 2048 and sizes["s-2vcpu-2gb"].disk == 60
    odd = [{"slug": "x-free", "memory": 1, "vcpus": 1, "disk": 1, "transfer": 1,
            "price_monthly": 0, "price_hourly": 0, "regions": []},
           {"slug": "x-unknown", "memory": 1, "vcpus": 1, "disk": 1, "transfer": 1,
            "price_monthly": None, "price_hourly": None, "regions": []}]
    fake.state.inject("GET", r"/v2/sizes\Z", FakeResponse.json({"sizes": odd, "links": {}}))
    assert [s.price for s in call(mode, driver, "list_sizes")] == [None, None]


def test_sizes_and_images_filter_by_location(driver: DigitalOceanNodeDriver, mode: str) -> None:
    nyc1 = driver.get_location("nyc1")
    assert len(call(mode, driver, "list_sizes", nyc1)) == 7
    locations = call(mode, driver, "list_locations")
    assert "sfo1" not in [loc.id for loc in locations]  # not available
    assert "sfo1" in [loc.id for loc in call(mode, driver, "list_locations", False)]
    assert call(mode, driver, "list_images", locations[0])


def test_listing_reads_every_page(driver: DigitalOceanNodeDriver,
                                  fake: DigitalOceanComputeServer, mode: str) -> None:
    made = [new_node(driver) for _ in range(5)]
    before = len(fake.requests)
    listed = call(mode, driver, "list_nodes")
    assert {n.id for n in listed} == {n.id for n in made}
    pages = seen(fake, "GET", "/v2/droplets", before)
    assert [(r.arg("page"), r.arg("per_page")) for r in pages] == [
        ("1", "2"), ("2", "2"), ("3", "2")]


def test_a_next_link_sent_twice_is_refused(driver: DigitalOceanNodeDriver,
                                           fake: DigitalOceanComputeServer, mode: str) -> None:
    looping = {"droplets": [], "links": {"pages": {
        "next": "https://api.digitalocean.com/v2/droplets?page=1&per_page=2"}}}
    fake.state.inject("GET", r"/v2/droplets\Z", FakeResponse.json(looping), times=5)
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver, "list_nodes")


# -- keys, auth ----------------------------------------------------------------------------


def test_an_ssh_key_auth_goes_by_key_id(driver: DigitalOceanNodeDriver,
                                        fake: DigitalOceanComputeServer, mode: str) -> None:
    before = len(fake.requests)
    node = call(mode, driver, "create_node", unique("k"), driver.get_size("s-1vcpu-1gb"),
                driver.get_image("100001"), auth=NodeAuthSSHKey(PUBLIC_KEY),
                ex_create_attr={"tags": ["web"], "ipv6": True})
    [key] = fake.state.keys.values()
    [post] = seen(fake, "POST", "/v2/droplets", before)
    body = post.json()
    assert body["ssh_keys"] == [key["id"]] and body["ipv6"] is True
    assert "web" in node.extra["tags"]
    # A second node with the same key finds it instead of registering it again.
    call(mode, driver, "create_node", unique("k"), driver.get_size("s-1vcpu-1gb"),
         driver.get_image("100001"), auth=NodeAuthSSHKey(PUBLIC_KEY))
    assert len(seen(fake, "POST", "/v2/account/keys", before)) == 1


def test_invalid_creates_send_nothing(driver: DigitalOceanNodeDriver,
                                      fake: DigitalOceanComputeServer, mode: str) -> None:
    size, image = driver.get_size("s-1vcpu-1gb"), driver.get_image("100001")
    before = len(fake.requests)
    with pytest.raises(NotSupported, match="SSH keys only"):
        call(mode, driver, "create_node", "a", size, image, auth=NodeAuthPassword("pw-1234"))
    with pytest.raises(InvalidInput, match="unknown ex_create_attr"):
        call(mode, driver, "create_node", "a", size, image, ex_create_attr={"colour": "red"})
    with pytest.raises(InvalidInput, match="host name"):
        call(mode, driver, "create_node", "no_underscores", size, image)
    with pytest.raises(InvalidInput, match="location"):
        call(mode, driver, "create_volume", 1, "vol-a")
    assert fake.requests[before:] == []


def test_user_data_and_key_ids_reach_the_api(driver: DigitalOceanNodeDriver,
                                             fake: DigitalOceanComputeServer, mode: str) -> None:
    key = driver.import_key_pair_from_string("mine", PUBLIC_KEY)
    before = len(fake.requests)
    call(mode, driver, "create_node", unique("u"), driver.get_size("s-1vcpu-1gb"),
         driver.get_image("100001"), ex_ssh_key_ids=[key.extra["id"]],
         ex_user_data="#cloud-config\n")
    body = seen(fake, "POST", "/v2/droplets", before)[0].json()
    assert body["ssh_keys"] == [key.extra["id"]] and body["user_data"] == "#cloud-config\n"
    assert call(mode, driver, "get_key_pair", "mine").fingerprint == key.fingerprint


# -- floating IPs, volumes --------------------------------------------------------------------


def test_floating_ips(driver: DigitalOceanNodeDriver, fake: DigitalOceanComputeServer,
                      mode: str) -> None:
    node = running(driver, new_node(driver))
    ip = call(mode, driver, "ex_create_floating_ip", driver.get_location("nyc3"))
    assert isinstance(ip, DigitalOceanFloatingIP) and ip.node_id is None
    assert call(mode, driver, "ex_attach_floating_ip_to_node", node, ip) is True
    assert call(mode, driver, "ex_get_floating_ip", ip.ip_address).node_id == node.id
    assert [i.ip_address for i in call(mode, driver, "ex_list_floating_ips")] == [ip.ip_address]
    assert call(mode, driver, "ex_detach_floating_ip_from_node", node, ip) is True
    assert call(mode, driver, "ex_get_floating_ip", ip.ip_address).node_id is None
    assert call(mode, driver, "ex_delete_floating_ip", ip) is True
    assert fake.state.floating_ips == {}


def test_volume_attach_detach_is_waited_for(driver: DigitalOceanNodeDriver,
                                            fake: DigitalOceanComputeServer, mode: str) -> None:
    node = running(driver, new_node(driver))
    volume = driver.create_volume(1, unique("vol"), driver.get_location("nyc3"))
    assert call(mode, driver, "attach_volume", node, volume) is True
    assert fake.state.volumes[volume.id]["droplet_ids"] == [int(node.id)]
    assert call(mode, driver, "detach_volume", volume) is True
    assert fake.state.volumes[volume.id]["droplet_ids"] == []
    with pytest.raises(InvalidInput, match="attached to no droplet"):
        call(mode, driver, "detach_volume", volume)
    assert call(mode, driver, "destroy_volume", volume) is True
    with pytest.raises(VolumeNotFound):
        call(mode, driver, "get_volume", volume.id)


def test_the_token_never_shows(driver: DigitalOceanNodeDriver, fake: DigitalOceanComputeServer,
                               mode: str) -> None:
    from servers.digitalocean_api import TOKEN

    fake.state.inject("GET", r"/v2/droplets/", FakeResponse.json(
        {"id": "bad", "message": f"token {TOKEN} is odd"}, 400))
    with pytest.raises(InvalidInput) as caught:
        call(mode, driver, "get_node", "123")
    assert TOKEN not in str(caught.value) and TOKEN not in repr(driver)
    assert json.dumps(fake.requests[-1].headers).count(TOKEN) == 1  # sent, only as the header


# -- deployment ------------------------------------------------------------------------------


@pytest.fixture
def server(request: pytest.FixtureRequest) -> SSHServer:
    return ssh_server(request)


def test_deploy_node_logs_in_with_the_key_sent_by_id(
        driver: DigitalOceanNodeDriver, fake: DigitalOceanComputeServer, server: SSHServer,
        mode: str, tmp_path: Path) -> None:
    fake.state.authorized_keys = server.authorized_keys
    key = server.new_client_key(f"do_{mode}_{uuid.uuid4().hex[:6]}")
    public = server.public_key(key)
    assert public not in server.authorized_keys.read_text()
    script = ScriptDeployment("#!/bin/sh\nid -un\n", name=f"{tmp_path}/whoami.sh", delete=True)
    node = call(mode, driver, "deploy_node", MultiStepDeployment([script]),
                name=unique("deploy"), size=driver.get_size("s-1vcpu-1gb"),
                image=driver.get_image("100001"), auth=NodeAuthSSHKey(public),
                ssh_port=server.port, ssh_username=server.user, ssh_key=str(key),
                ssh_known_hosts=str(server.known_hosts), ssh_timeout=5, timeout=30,
                wait_period=0.01, max_tries=1)
    assert node.state == NodeState.RUNNING and node.public_ips[0] == "127.0.0.1"
    assert public in server.authorized_keys.read_text().splitlines()
    assert script.stdout == f"{server.user}\n" and script.exit_status == 0
