"""The vultr driver against the stateful Vultr API v2 fixture
(``servers.compute_vultr``): what the conformance suite does not cover."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.compute import Provider
from overcast.compute import get_driver
from overcast.compute.base import Node
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeState
from overcast.compute.deployment import MultiStepDeployment
from overcast.compute.deployment import ScriptDeployment
from overcast.compute.drivers.vultr import VultrNodeDriver
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import SnapshotNotFound
from overcast.runtime.redact import Secret
from servers.compute_vultr import TOKEN
from servers.compute_vultr import VultrComputeServer
from servers.compute_vultr import cursor_of
from servers.compute_vultr import make_driver
from servers.compute_vultr import serve
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.modes import call
from servers.pauses import record_pauses
from servers.sshd import SSHServer
from servers.sshd import ssh_server

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl overcast"
)
LOST = FakeResponse.json({"error": "Internal server error", "status": 500}, 500)


@pytest.fixture
def fixture() -> Iterator[tuple[VultrComputeServer, str]]:
    with serve() as served:
        yield served


@pytest.fixture
def fake(fixture: tuple[VultrComputeServer, str]) -> VultrComputeServer:
    return fixture[0]


@pytest.fixture
def driver(fixture: tuple[VultrComputeServer, str]) -> Iterator[VultrNodeDriver]:
    with make_driver(fixture[1]) as made:
        yield made


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def seen(fake: VultrComputeServer, method: str, suffix: str, since: int = 0) -> list[FakeRequest]:
    return [r for r in fake.requests[since:] if r.method == method and r.path.endswith(suffix)]


def ewr(driver: VultrNodeDriver) -> NodeLocation:
    return driver.get_location("ewr")


def new_node(driver: VultrNodeDriver, **kwargs: Any) -> Node:
    node: Node = driver.create_node(unique("vu"), driver.get_size("vc2-1c-1gb"),
                                    driver.get_image("2136"), ewr(driver), **kwargs)
    return node


def running(driver: VultrNodeDriver, node: Node) -> Node:
    [(ready, _)] = driver.wait_until_running([node], wait_period=0.01, timeout=10)
    return ready


# -- create once --------------------------------------------------------------------------


def test_lost_instance_create_leaves_exactly_one(driver: VultrNodeDriver,
                                                 fake: VultrComputeServer, mode: str) -> None:
    name = unique("lost")
    fake.state.inject("POST", r"/v2/instances\Z", LOST, after=True)
    before = len(fake.requests)
    node = call(mode, driver, "create_node", name, driver.get_size("vc2-1c-1gb"),
                driver.get_image("2136"), ewr(driver))
    mine = [i for i in fake.state.instances.values() if i["label"] == name]
    assert [i["id"] for i in mine] == [node.id]
    assert len(seen(fake, "POST", "/v2/instances", before)) == 1  # never sent again
    [lookup] = seen(fake, "GET", "/v2/instances", before)
    token_tag = lookup.arg("tag")
    assert token_tag and token_tag.startswith("overcast-token-")
    assert token_tag in mine[0]["tags"] and token_tag in node.extra["tags"]


def test_create_refused_before_storing_is_sent_again(driver: VultrNodeDriver,
                                                     fake: VultrComputeServer, mode: str) -> None:
    name = unique("again")
    fake.state.inject("POST", r"/v2/instances\Z", FakeResponse.json(
        {"error": "Service unavailable", "status": 503}, 503))
    before = len(fake.requests)
    node = call(mode, driver, "create_node", name, driver.get_size("vc2-1c-1gb"),
                driver.get_image("2136"), ewr(driver))
    assert [i["id"] for i in fake.state.instances.values() if i["label"] == name] == [node.id]
    assert len(seen(fake, "POST", "/v2/instances", before)) == 2


def test_lost_volume_and_key_creates_are_found(driver: VultrNodeDriver, fake: VultrComputeServer,
                                               mode: str) -> None:
    # A volume of the same label made earlier is not taken for the new one.
    older = driver.create_volume(10, "data", ewr(driver))
    fake.state.inject("POST", r"/v2/blocks\Z", LOST, after=True)
    volume = call(mode, driver, "create_volume", 10, "data", ewr(driver))
    assert volume.id != older.id and set(fake.state.blocks) == {older.id, volume.id}
    fake.state.inject("POST", r"/v2/ssh-keys\Z", LOST, after=True)
    key = call(mode, driver, "import_key_pair_from_string", "mine", PUBLIC_KEY)
    assert [k["id"] for k in fake.state.keys.values()] == [key.extra["id"]]


# -- waiting ----------------------------------------------------------------------------------


def test_power_changes_are_waited_for_with_the_runtimes_sleep(
        driver: VultrNodeDriver, fake: VultrComputeServer, mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    node = running(driver, new_node(driver))
    before = len(fake.requests)
    paused = record_pauses(monkeypatch)
    assert call(mode, driver, "stop_node", node) is True
    # Halted in the background: still running at the first look, stopped at the second.
    assert paused == [0.01]
    assert [r.path for r in fake.requests[before:]] == [
        f"/v2/instances/{node.id}/halt", f"/v2/instances/{node.id}", f"/v2/instances/{node.id}"]
    assert driver.get_node(node.id).state == NodeState.STOPPED
    paused.clear()
    assert call(mode, driver, "start_node", node) is True
    assert paused == [0.01]
    assert driver.get_node(node.id).state == NodeState.RUNNING
    paused.clear()
    assert call(mode, driver, "reboot_node", node) is True
    assert paused == [0.01] and driver.get_node(node.id).state == NodeState.RUNNING


def test_a_power_change_that_never_lands_times_out_by_pauses_asked(
        fixture: tuple[VultrComputeServer, str], mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, endpoint = fixture
    with make_driver(endpoint, wait_timeout=0.05) as driver:
        node = running(driver, new_node(driver))
        shown = {k: v for k, v in fake.state.instances[node.id].items() if not k.startswith("_")}
        fake.state.inject("GET", rf"/v2/instances/{node.id}\Z",
                          FakeResponse.json({"instance": shown}), times=100)
        paused = record_pauses(monkeypatch)
        with pytest.raises(OperationTimeout, match=r"not stopped within 0\.05s"):
            call(mode, driver, "stop_node", node)
        assert paused == [0.01] * 5


def test_creation_is_waited_for_until_active_and_running(driver: VultrNodeDriver,
                                                         fake: VultrComputeServer,
                                                         mode: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    node = new_node(driver)
    assert node.state == NodeState.PENDING and node.public_ips == []
    assert isinstance(node.extra["password"], Secret)
    paused = record_pauses(monkeypatch)
    [(ready, addresses)] = call(mode, driver, "wait_until_running", [node], wait_period=0.01,
                                timeout=10)
    # Pending at the first look, active with its address at the second.
    assert paused == [0.01]
    assert ready.state == NodeState.RUNNING and addresses == ["127.0.0.1"]
    assert ready.extra["power_status"] == "running" and ready.private_ips


# -- prices -----------------------------------------------------------------------------------


def test_plans_are_priced_per_hour_over_vultrs_monthly_cap(driver: VultrNodeDriver,
                                                           fake: VultrComputeServer,
                                                           mode: str) -> None:
    sizes = {s.id: s for s in call(mode, driver, "list_sizes")}
    # $5 a month, billed up to 672 hours: $0.00744 an hour (Libcloud says 5, a month).
    assert sizes["vc2-1c-1gb"].price == 5 / 672 == pytest.approx(0.0074405, abs=1e-7)
    assert sizes["vc2-1c-1gb"].extra["monthly_cost"] == 5
    assert sizes["vc2-2c-4gb"].price == 20 / 672 == pytest.approx(0.0297619, abs=1e-7)
    # Cloud GPU plans are billed up to 730 hours.
    assert sizes["vcg-a16-2c-8g-2vram"].price == pytest.approx(0.06)
    # No price from the API is unknown, never free.
    assert sizes["vc2-free-trial"].price is None
    assert sizes["vc2-1c-2gb"].ram == 2048 and sizes["vc2-1c-2gb"].disk == 55
    plan = {"id": "vc2-x", "ram": 1, "disk": 1, "bandwidth": 1, "type": "vc2", "locations": []}
    fake.state.inject("GET", r"/v2/plans\Z", FakeResponse.json(
        {"plans": [plan, {**plan, "monthly_cost": None}],
         "meta": {"total": 2, "links": {"next": "", "prev": ""}}}))
    assert [s.price for s in call(mode, driver, "list_sizes")] == [None, None]


def test_sizes_filter_by_location(driver: VultrNodeDriver, mode: str) -> None:
    ams = driver.get_location("ams")
    assert ams.name == "Amsterdam" and ams.country == "NL"
    assert {s.id for s in call(mode, driver, "list_sizes", ams)} == {"vc2-1c-1gb", "vc2-1c-2gb",
                                                                    "vc2-2c-4gb"}


# -- paging -----------------------------------------------------------------------------------


def test_listing_follows_the_cursor_past_page_one(driver: VultrNodeDriver,
                                                  fake: VultrComputeServer, mode: str) -> None:
    made = [new_node(driver) for _ in range(5)]
    before = len(fake.requests)
    listed = call(mode, driver, "list_nodes")
    assert [n.id for n in listed] == [n.id for n in made]
    pages = seen(fake, "GET", "/v2/instances", before)
    assert [(r.arg("per_page"), r.arg("cursor")) for r in pages] == [
        ("2", None), ("2", cursor_of(made[2].id)), ("2", cursor_of(made[4].id))]


def test_a_cursor_sent_twice_is_refused(driver: VultrNodeDriver, fake: VultrComputeServer,
                                        mode: str) -> None:
    made = [new_node(driver) for _ in range(3)]
    fake.state.stuck_cursor = cursor_of(made[2].id)
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver, "list_nodes")


# -- create options, Libcloud's positions -------------------------------------------------


def test_create_node_takes_libclouds_v2_positions(driver: VultrNodeDriver,
                                                  fake: VultrComputeServer, mode: str) -> None:
    key = driver.import_key_pair_from_string("mine", PUBLIC_KEY)
    before = len(fake.requests)
    # Libcloud 3.9.1: create_node(name, size, location, image, ex_ssh_key_ids, ...)
    node = call(mode, driver, "create_node", "lc", driver.get_size("vc2-1c-1gb"), ewr(driver),
                driver.get_image("2136"), ex_ssh_key_ids=[key.extra["id"]],
                ex_userdata="#cloud-config\nruncmd: [touch /x]\n", ex_tag="legacy",
                ex_tags=["web"], ex_hostname="lc.example.com", ex_enable_ipv6=True,
                ex_private_network_ids=["net-1"])
    [post] = seen(fake, "POST", "/v2/instances", before)
    body = post.json()
    assert body["region"] == "ewr" and body["os_id"] == 2136 and body["label"] == "lc"
    assert body["sshkey_id"] == [key.extra["id"]] and body["hostname"] == "lc.example.com"
    assert base64.b64decode(body["user_data"]).decode() == "#cloud-config\nruncmd: [touch /x]\n"
    assert body["tags"][:2] == ["web", "legacy"] and body["enable_ipv6"] is True
    assert body["attach_vpc"] == ["net-1"] and body["backups"] == "disabled"
    assert node.name == "lc" and {"web", "legacy"} <= set(node.extra["tags"])
    assert node.extra["location"] == "ewr"


def test_an_ssh_key_auth_goes_by_key_id(driver: VultrNodeDriver, fake: VultrComputeServer,
                                        mode: str) -> None:
    before = len(fake.requests)
    call(mode, driver, "create_node", unique("k"), driver.get_size("vc2-1c-1gb"),
         driver.get_image("2136"), ewr(driver), auth=NodeAuthSSHKey(PUBLIC_KEY))
    [key] = fake.state.keys.values()
    [post] = seen(fake, "POST", "/v2/instances", before)
    assert post.json()["sshkey_id"] == [key["id"]]
    # A second node with the same key finds it instead of registering it again.
    call(mode, driver, "create_node", unique("k"), driver.get_size("vc2-1c-1gb"),
         driver.get_image("2136"), ewr(driver), auth=NodeAuthSSHKey(PUBLIC_KEY))
    assert len(seen(fake, "POST", "/v2/ssh-keys", before)) == 1


def test_invalid_creates_send_nothing(driver: VultrNodeDriver, fake: VultrComputeServer,
                                      mode: str) -> None:
    size, image, region = driver.get_size("vc2-1c-1gb"), driver.get_image("2136"), ewr(driver)
    before = len(fake.requests)
    with pytest.raises(NotSupported, match="root password itself"):
        call(mode, driver, "create_node", "a", size, image, region,
             auth=NodeAuthPassword("pw-1234"))
    with pytest.raises(InvalidInput, match="location"):
        call(mode, driver, "create_node", "a", size, image)
    with pytest.raises(InvalidInput, match="ex_tags"):
        call(mode, driver, "create_node", "a", size, image, region, ex_tags="web")
    with pytest.raises(InvalidInput, match="ex_enable_ipv6"):
        call(mode, driver, "create_node", "a", size, image, region, ex_enable_ipv6="yes")
    with pytest.raises(InvalidInput, match="10 to 40000 GB"):
        call(mode, driver, "create_volume", 1, "vol-a", region)
    with pytest.raises(InvalidInput, match="location"):
        call(mode, driver, "create_volume", 10, "vol-a")
    assert fake.requests[before:] == []


def test_only_api_v2_is_served() -> None:
    assert get_driver(Provider.VULTR) is VultrNodeDriver
    with pytest.raises(InvalidInput, match="API v2"):
        VultrNodeDriver(TOKEN, api_version="1")


# -- volumes, snapshots, resize -------------------------------------------------------------


def test_volume_attach_detach_and_resize(driver: VultrNodeDriver, fake: VultrComputeServer,
                                         mode: str) -> None:
    node = running(driver, new_node(driver))
    volume = driver.create_volume(10, unique("vol"), ewr(driver))
    # Libcloud's third positional parameter is ex_live.
    assert call(mode, driver, "attach_volume", node, volume, False) is True
    before = len(fake.requests)
    assert fake.state.blocks[volume.id]["attached_to_instance"] == node.id
    assert call(mode, driver, "get_volume", volume.id).state == "inuse"
    assert call(mode, driver, "detach_volume", volume) is True
    assert json.loads(seen(fake, "POST", "/detach", before)[0].body) == {"live": True}
    assert call(mode, driver, "ex_resize_volume", volume, 20) is True
    assert call(mode, driver, "ex_get_volume", volume.id).size == 20
    assert call(mode, driver, "destroy_volume", volume) is True


def test_instance_snapshots_and_resize(driver: VultrNodeDriver, fake: VultrComputeServer,
                                       mode: str) -> None:
    node = running(driver, new_node(driver))
    snap = call(mode, driver, "ex_create_snapshot", node, "nightly")
    assert snap.name == "nightly" and snap.size == 25
    assert [s.id for s in call(mode, driver, "ex_list_snapshots")] == [snap.id]
    assert call(mode, driver, "ex_get_snapshot", snap.id).state == "available"
    assert call(mode, driver, "ex_delete_snapshot", snap) is True
    with pytest.raises(SnapshotNotFound):
        call(mode, driver, "ex_get_snapshot", snap.id)
    assert call(mode, driver, "ex_resize_node", node, driver.get_size("vc2-1c-2gb")) is True
    assert call(mode, driver, "ex_get_node", node.id).extra["plan"] == "vc2-1c-2gb"
    assert call(mode, driver, "ex_stop_nodes", [node]) is True
    assert fake.state.power[node.id] == (1, "stopped")  # halted in the background
    assert call(mode, driver, "destroy_node", node) is True
    with pytest.raises(NodeNotFound):
        call(mode, driver, "get_node", node.id)


def test_the_key_never_shows(driver: VultrNodeDriver, fake: VultrComputeServer,
                             mode: str) -> None:
    fake.state.inject("GET", r"/v2/instances/", FakeResponse.json(
        {"error": f"key {TOKEN} is odd", "status": 400}, 400))
    with pytest.raises(InvalidInput) as caught:
        call(mode, driver, "get_node", "123")
    assert TOKEN not in str(caught.value) and TOKEN not in repr(driver)
    assert json.dumps(fake.requests[-1].headers).count(TOKEN) == 1  # sent, only as the header


# -- deployment ------------------------------------------------------------------------------


@pytest.fixture
def server(request: pytest.FixtureRequest) -> SSHServer:
    return ssh_server(request)


def test_deploy_node_logs_in_with_the_key_sent_by_id(
        driver: VultrNodeDriver, fake: VultrComputeServer, server: SSHServer,
        mode: str, tmp_path: Path) -> None:
    fake.state.authorized_keys = server.authorized_keys
    key = server.new_client_key(f"vultr_{mode}_{uuid.uuid4().hex[:6]}")
    public = server.public_key(key)
    assert public not in server.authorized_keys.read_text()
    first = ScriptDeployment("#!/bin/sh\nid -un\n", name=f"{tmp_path}/whoami.sh", delete=True)
    second = ScriptDeployment("#!/bin/sh\necho deployed\n", name=f"{tmp_path}/echo.sh",
                              delete=True)
    node = call(mode, driver, "deploy_node", MultiStepDeployment([first, second]),
                name=unique("deploy"), size=driver.get_size("vc2-1c-1gb"),
                image=driver.get_image("2136"), location=ewr(driver),
                auth=NodeAuthSSHKey(public), ssh_port=server.port, ssh_username=server.user,
                ssh_key=str(key), ssh_known_hosts=str(server.known_hosts), ssh_timeout=5,
                timeout=30, wait_period=0.01, max_tries=1)
    assert node.state == NodeState.RUNNING and node.public_ips[0] == "127.0.0.1"
    assert public in server.authorized_keys.read_text().splitlines()
    [instance] = [i for i in fake.state.instances.values() if i["id"] == node.id]
    assert "_keys" not in instance  # its key went Vultr's way, by id, and reached the sshd
    assert first.stdout == f"{server.user}\n" and first.exit_status == 0
    assert second.stdout == "deployed\n"
