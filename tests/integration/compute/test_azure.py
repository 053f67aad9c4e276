"""The Azure compute driver against the stateful ARM fixture
(:mod:`servers.compute_azure`): what is particular to Azure, beyond the
compute contract."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeState
from overcast.compute.deployment import MultiStepDeployment
from overcast.compute.deployment import ScriptDeployment
from overcast.compute.drivers.azure import AzureImage
from overcast.compute.drivers.azure import AzureNodeDriver
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.pricing import azure as azure_prices
from overcast.runtime.policy import RequestEvent
from servers.azure_arm import CLIENT_SECRET
from servers.azure_arm import arm_error
from servers.compute_azure import NETWORK
from servers.compute_azure import OTHER_GROUP
from servers.compute_azure import RESOURCE_GROUP
from servers.compute_azure import AzureComputeFixture
from servers.compute_azure import make_driver
from servers.compute_azure import serve
from servers.modes import call
from servers.pauses import record_pauses
from servers.sshd import SSHServer
from servers.sshd import ssh_server

KEY = NodeAuthSSHKey("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9"
                     "GKJl test")
IMAGE = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202402020"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fake() -> Iterator[AzureComputeFixture]:
    with serve() as fixture:
        yield fixture


@pytest.fixture
def sent() -> list[RequestEvent]:
    return []


@pytest.fixture
def driver(fake: AzureComputeFixture, sent: list[RequestEvent]) -> Iterator[AzureNodeDriver]:
    with make_driver(fake, sent) as made:  # type: ignore[arg-type]
        yield made


def create(driver: AzureNodeDriver, mode: str = "sync", name: str | None = None,
           **options: object) -> object:
    options.setdefault("ex_network", NETWORK)
    options.setdefault("auth", KEY)
    return call(mode, driver, "create_node", name or unique("vm"),
                driver.get_size("Standard_B1s"), driver.get_image(IMAGE), **options)


def running(driver: AzureNodeDriver, node: object) -> None:
    driver.wait_until_running([node], wait_period=0.01, timeout=30,  # type: ignore[list-item]
                              ssh_interface="private_ips")


def arm_requests(sent: list[RequestEvent], method: str = "", part: str = "") -> list[RequestEvent]:
    return [r for r in sent if "/oauth2/" not in r.url and r.method.startswith(method)
            and part in r.url]


# -- creating ------------------------------------------------------------------------------


def test_create_makes_nic_and_public_ip_and_sends_the_key_azures_way(
        driver: AzureNodeDriver, fake: AzureComputeFixture, sent: list[RequestEvent],
        mode: str) -> None:
    name = unique("web")
    node = create(driver, mode, name, ex_public_ip=True, ex_tags={"team": "a"},
                  ex_customdata="#cloud-config\n")
    assert node.state == NodeState.PENDING and node.public_ips == ["127.0.0.1"]  # type: ignore[attr-defined]
    vm = fake.find("vm", name)
    assert vm is not None and vm["tags"]["team"] == "a" and "overcast-token" in vm["tags"]
    assert vm["_custom"] == "I2Nsb3VkLWNvbmZpZwo="  # base64, as ARM wants it
    keys = vm["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"]
    assert keys == [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": KEY.pubkey}]
    assert vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["storageAccountType"] \
        == "Standard_LRS"
    assert fake.find("nic", f"{name}-nic") is not None
    assert fake.find("ip", f"{name}-ip") is not None
    put = arm_requests(sent, "PUT", "/virtualMachines/")[0]
    assert dict(put.headers).get("If-None-Match") == "*"
    running = driver.wait_until_running([node], wait_period=0.01, timeout=30)[0][0]  # type: ignore[list-item]
    assert running.state == NodeState.RUNNING
    assert running.private_ips[0].startswith("10.0.0.")
    assert running.extra["location"] == "eastus"
    assert running.extra["resource_group"] == RESOURCE_GROUP


def test_a_lost_answer_to_the_create_makes_one_vm(
        driver: AzureNodeDriver, fake: AzureComputeFixture, sent: list[RequestEvent],
        mode: str) -> None:
    name = unique("lost")
    fake.inject("PUT", r"/virtualMachines/", arm_error(500, "InternalServerError", "lost"),
                after=True)
    node = create(driver, mode, name, ex_public_ip=True)
    assert node.name == name  # type: ignore[attr-defined]
    assert len([vm for vm in fake.items("vm") if vm["name"] == name]) == 1
    assert len(arm_requests(sent, "PUT", "/virtualMachines/")) == 1  # found, not resent
    assert fake.find("nic", f"{name}-nic") is not None  # kept: the VM uses it


@pytest.mark.parametrize("lost", ["/publicIPAddresses/", "/networkInterfaces/"])
def test_a_lost_answer_to_the_nic_or_ip_is_found_by_its_tag(
        driver: AzureNodeDriver, fake: AzureComputeFixture, sent: list[RequestEvent],
        mode: str, lost: str) -> None:
    name = unique("lostnet")
    fake.inject("PUT", lost, arm_error(502, "BadGateway", "lost"), after=True)
    node = create(driver, mode, name, ex_public_ip=True)
    assert node.public_ips == ["127.0.0.1"]  # type: ignore[attr-defined]
    assert len(arm_requests(sent, "PUT", lost)) == 1
    assert fake.find("nic", f"{name}-nic") is not None


def test_a_lost_answer_to_a_disk_create_makes_one_disk(
        driver: AzureNodeDriver, fake: AzureComputeFixture, mode: str) -> None:
    name = unique("disk")
    fake.inject("PUT", r"/disks/", arm_error(500, "InternalServerError", "lost"), after=True)
    volume = call(mode, driver, "create_volume", 2, name)
    assert volume.name == name and [d["name"] for d in fake.items("disk")].count(name) == 1


def test_a_failed_create_deletes_the_nic_and_ip_it_made(
        driver: AzureNodeDriver, fake: AzureComputeFixture, mode: str) -> None:
    name = unique("fail")
    fake.inject("PUT", r"/virtualMachines/", arm_error(400, "InvalidParameter",
                                                       "The VM size is not allowed."))
    with pytest.raises(InvalidInput, match="not allowed"):
        create(driver, mode, name, ex_public_ip=True)
    assert fake.find("nic", f"{name}-nic") is None
    assert fake.find("ip", f"{name}-ip") is None
    assert fake.find("vm", name) is None


def test_a_second_create_of_the_same_name_is_refused_and_undoes_nothing_of_the_first(
        driver: AzureNodeDriver, fake: AzureComputeFixture, mode: str) -> None:
    name = unique("twice")
    create(driver, "sync", name, ex_public_ip=True)
    with pytest.raises(AlreadyExists):
        create(driver, mode, name, ex_public_ip=True)
    with pytest.raises(AlreadyExists):  # the VM itself, with the first one's NIC given
        create(driver, mode, name, ex_nic=fake.find("nic", f"{name}-nic")["id"])  # type: ignore[index]
    assert fake.find("nic", f"{name}-nic") is not None
    assert fake.find("ip", f"{name}-ip") is not None
    assert len([vm for vm in fake.items("vm") if vm["name"] == name]) == 1


@pytest.mark.parametrize("problem", ["no auth", "no network", "bad name", "libcloud order",
                                     "vhd", "not an azure image"])
def test_invalid_creates_send_nothing(driver: AzureNodeDriver, sent: list[RequestEvent],
                                      mode: str, problem: str) -> None:
    size, image = driver.get_size("Standard_B1s"), driver.get_image(IMAGE)
    before = len(sent)
    args: list[object] = [unique("bad"), size, image]
    options: dict[str, object] = {"ex_network": NETWORK, "auth": KEY}
    if problem == "no auth":
        del options["auth"]
    elif problem == "no network":
        del options["ex_network"]
    elif problem == "bad name":
        args[0] = "under_score"
    elif problem == "libcloud order":  # create_node(name, size, image, auth, ex_resource_group)
        del options["auth"]
        args += [KEY, RESOURCE_GROUP]
    elif problem == "vhd":
        options["ex_use_managed_disks"] = False
    else:
        from overcast.compute.base import NodeImage

        args[2] = NodeImage("ubuntu", "ubuntu")
    with pytest.raises(NotSupported if problem == "vhd" else InvalidInput):
        call(mode, driver, "create_node", *args, **options)
    assert len(sent) == before


def test_a_password_login(driver: AzureNodeDriver, fake: AzureComputeFixture,
                          mode: str) -> None:
    name = unique("pw")
    create(driver, mode, name, auth=NodeAuthPassword("Correct-Horse-9"))
    vm = fake.find("vm", name)
    assert vm is not None
    assert vm["properties"]["osProfile"]["linuxConfiguration"] == {
        "disablePasswordAuthentication": False}


# -- long-running operations -----------------------------------------------------------------


@pytest.mark.parametrize("lro_mode", ["async", "location"])
def test_operations_are_followed_by_either_header_pausing_as_asked(
        driver: AzureNodeDriver, fake: AzureComputeFixture, sent: list[RequestEvent], mode: str,
        lro_mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    node = create(driver)
    running(driver, node)
    fake.lro_mode, fake.retry_after, fake.lro_polls = lro_mode, 1, 1
    paused = record_pauses(monkeypatch)
    before = len(sent)
    assert call(mode, driver, "stop_node", node) is True
    polls = [r.url for r in sent[before:] if r.method == "GET"]
    followed = "/operations/" if lro_mode == "async" else "/operationResults/"
    assert len(polls) == 2 and all(followed in url for url in polls)
    assert paused.count(1.0) >= 2  # Retry-After: 1 before each poll (asked, not timed)
    assert driver.get_node(node.id).state == NodeState.STOPPED  # type: ignore[attr-defined]


def test_a_failed_operation_raises_with_its_error(driver: AzureNodeDriver,
                                                  fake: AzureComputeFixture, mode: str) -> None:
    from servers.fakeapi import FakeResponse

    node = create(driver)
    running(driver, node)
    fake.inject("GET", r"/operations/", FakeResponse.json({
        "status": "Failed", "error": {"code": "AllocationFailed",
                                      "message": "No capacity for the size."}}))
    with pytest.raises(ProviderError, match="No capacity") as caught:
        call(mode, driver, "reboot_node", node)
    assert caught.value.code == "AllocationFailed"


def test_waiting_is_bounded_by_wait_timeout(fake: AzureComputeFixture, mode: str) -> None:
    from overcast.errors import OperationTimeout

    with make_driver(fake, wait_timeout=0.05) as driver:
        node = create(driver)
        running(driver, node)
        fake.lro_polls = 1000
        with pytest.raises(OperationTimeout, match="still running"):
            call(mode, driver, "reboot_node", node)
    fake.lro_polls = 1


# -- listing -------------------------------------------------------------------------------


def test_list_nodes_joins_four_listings_and_sends_no_request_per_vm(
        driver: AzureNodeDriver, fake: AzureComputeFixture, sent: list[RequestEvent],
        mode: str) -> None:
    made = [create(driver, name=unique("list"), ex_public_ip=True) for _ in range(5)]
    before = len(sent)
    nodes = call(mode, driver, "list_nodes")
    assert {n.id for n in nodes} == {n.id for n in made}  # type: ignore[attr-defined]
    asked = arm_requests(sent[before:])
    pages = math.ceil(5 / fake.page_size)
    assert len(asked) == 4 * pages  # VMs, statuses, NICs, public IPs: each paged
    assert all("/virtualMachines/" not in r.url for r in asked)  # never one VM
    assert sum(1 for r in asked if "statusOnly=true" in r.url) == pages
    for node in nodes:
        assert node.public_ips == ["127.0.0.1"] and node.private_ips[0].startswith("10.0.0.")
        assert node.state in (NodeState.RUNNING, NodeState.PENDING)
    quick = call(mode, driver, "list_nodes", ex_fetch_nic=False, ex_fetch_power_state=False)
    assert all(n.public_ips == [] for n in quick)
    assert call(mode, driver, "list_nodes", ex_resource_group=OTHER_GROUP) == []


def test_get_node_by_name_or_id_and_not_found(driver: AzureNodeDriver, mode: str) -> None:
    name = unique("get")
    node = create(driver, name=name, ex_public_ip=True)
    assert call(mode, driver, "get_node", name).id == node.id  # type: ignore[attr-defined]
    assert call(mode, driver, "ex_get_node", node.id).name == name  # type: ignore[attr-defined]
    with pytest.raises(NodeNotFound):
        call(mode, driver, "get_node", "absent")
    with pytest.raises(ProviderError, match="ResourceGroupNotFound"):
        call(mode, driver, "get_node", node.id.replace(RESOURCE_GROUP, "nowhere"))  # type: ignore[attr-defined]


# -- actions and destroying ----------------------------------------------------------------


def test_stop_deallocates_unless_told_to_power_off(driver: AzureNodeDriver,
                                                   fake: AzureComputeFixture,
                                                   sent: list[RequestEvent], mode: str) -> None:
    node = create(driver)
    running(driver, node)
    assert call(mode, driver, "stop_node", node) is True
    assert arm_requests(sent, "POST", "/deallocate")
    assert driver.get_node(node.id).extra["statuses"][-1] == "PowerState/deallocated"  # type: ignore[attr-defined]
    assert call(mode, driver, "start_node", node) is True
    assert call(mode, driver, "stop_node", node, ex_deallocate=False) is True
    assert arm_requests(sent, "POST", "/powerOff")
    assert driver.get_node(node.id).extra["statuses"][-1] == "PowerState/stopped"  # type: ignore[attr-defined]


def test_destroy_takes_nic_ip_and_os_disk_as_told(driver: AzureNodeDriver,
                                                  fake: AzureComputeFixture, mode: str) -> None:
    kept, gone = unique("keep"), unique("gone")
    for name in (kept, gone):
        create(driver, name=name, ex_public_ip=True)
    disks = {vm["name"]: vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
             for vm in fake.items("vm")}
    assert call(mode, driver, "destroy_node", driver.get_node(gone)) is True
    assert fake.find("vm", gone) is None and fake.find("nic", f"{gone}-nic") is None
    assert fake.find("ip", f"{gone}-ip") is None
    assert all(d["id"] != disks[gone] for d in fake.items("disk"))
    assert call(mode, driver, "destroy_node", driver.get_node(kept), ex_destroy_nic=False,
                ex_destroy_os_disk=False) is True
    assert fake.find("vm", kept) is None and fake.find("nic", f"{kept}-nic") is not None
    assert any(d["id"] == disks[kept] for d in fake.items("disk"))
    with pytest.raises(NodeNotFound):
        call(mode, driver, "destroy_node", _gone_node(driver, kept))


def _gone_node(driver: AzureNodeDriver, name: str) -> object:
    from overcast.compute.base import Node

    return Node(id=f"/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/"
                   f"{RESOURCE_GROUP}/providers/Microsoft.Compute/virtualMachines/{name}",
                name=name, state=NodeState.UNKNOWN, driver=driver)


# -- sizes, images, prices -------------------------------------------------------------------


def test_sizes_carry_snapshot_prices_and_unknown_is_none(driver: AzureNodeDriver,
                                                         mode: str) -> None:
    sizes = {s.id: s for s in call(mode, driver, "list_sizes")}
    d2 = sizes["Standard_D2s_v3"]
    assert d2.price == pytest.approx(0.096) and d2.ram == 8192 and d2.disk == 16
    assert d2.extra["numberOfCores"] == 2 and d2.extra["price_date"] == "2025-03-02"
    assert sizes["Standard_Fixture_v9"].price is None  # not in the snapshot: unknown, never 0
    west = {s.id: s for s in call(mode, driver, "list_sizes", driver.get_location("westeurope"))}
    assert west["Standard_D2s_v3"].price == azure_prices.size_price("Standard_D2s_v3",
                                                                    "westeurope")


def test_pricing_keys_map_back_to_arm_names() -> None:
    assert azure_prices.pricing_key("Standard_D2s_v3") == "standardd2sv3"
    assert azure_prices.arm_size_name("standardd2sv3") == "Standard_D2s_v3"
    assert azure_prices.arm_size_name("standardds3v2") == "Standard_DS3_v2"
    assert azure_prices.arm_size_name("basica0") == "Basic_A0"
    snapshot = json.loads((Path(azure_prices.__file__).parent / "data" /
                           "azure_linux.json").read_text())
    assert snapshot["date"] == "2025-03-02" and "pricing.json" in snapshot["source"]
    for key in snapshot["prices"]:
        name = azure_prices.arm_size_name(key)
        assert name is not None and azure_prices.pricing_key(name) == key
    assert all(price > 0 for regions in snapshot["prices"].values()
               for price in regions.values())


def test_images_are_libclouds_urns_narrowed_by_the_ex_filters(driver: AzureNodeDriver,
                                                              mode: str) -> None:
    images = call(mode, driver, "list_images")
    assert {i.id for i in images} == {
        "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202401010", IMAGE,
        "Debian:debian-12:12:0.20240101.1"}
    debian = call(mode, driver, "list_images", None, "Debian")
    assert [i.id for i in debian] == ["Debian:debian-12:12:0.20240101.1"]
    image = debian[0]
    assert isinstance(image, AzureImage) and (image.publisher, image.offer, image.sku,
                                              image.version) == ("Debian", "debian-12", "12",
                                                                 "0.20240101.1")
    latest = call(mode, driver, "get_image", "Debian:debian-12:12:latest")
    assert latest.id == "Debian:debian-12:12:latest"
    for missing in ("Debian:debian-12:12:9.9", "Nobody:x:y:latest", "not-a-urn"):
        with pytest.raises(ImageNotFound):
            call(mode, driver, "get_image", missing)


# -- volumes ---------------------------------------------------------------------------------


def test_volumes_attach_as_data_disks_and_snapshot_copies(
        driver: AzureNodeDriver, fake: AzureComputeFixture, mode: str) -> None:
    node = create(driver)
    running(driver, node)
    volume = call(mode, driver, "create_volume", 4, unique("data"), ex_sku_name="Premium_LRS")
    assert volume.size == 4 and volume.extra["sku"] == {"name": "Premium_LRS"}
    assert call(mode, driver, "attach_volume", node, volume, ex_lun=3) is True
    vm = fake.find("vm", node.name)  # type: ignore[attr-defined]
    assert vm is not None
    assert [d["lun"] for d in vm["properties"]["storageProfile"]["dataDisks"]] == [3]
    assert driver.get_volume(volume.id).extra["managed_by"] == node.id  # type: ignore[attr-defined]
    assert call(mode, driver, "detach_volume", volume) is True
    with pytest.raises(InvalidInput, match="attached to no VM"):
        call(mode, driver, "detach_volume", volume)
    snap = call(mode, driver, "create_volume_snapshot", volume)
    assert snap.name == f"{volume.name}-snapshot" and snap.extra["source_id"] == volume.id
    copy = call(mode, driver, "create_volume", 4, unique("copy"), None, snap)
    assert copy.extra["properties"]["creationData"]["sourceResourceId"] == snap.id
    for item in (copy, volume):
        assert call(mode, driver, "destroy_volume", item) is True
    assert call(mode, driver, "destroy_volume_snapshot", snap) is True


# -- networking (ex_) --------------------------------------------------------------------------


def test_networking_and_resource_groups(driver: AzureNodeDriver, fake: AzureComputeFixture,
                                        mode: str) -> None:
    groups = call(mode, driver, "ex_list_resource_groups")
    assert {g.name for g in groups} == {RESOURCE_GROUP, OTHER_GROUP}
    [network] = call(mode, driver, "ex_list_networks")
    assert network.name == NETWORK and network.location == "eastus"
    [subnet] = call(mode, driver, "ex_list_subnets", network)
    assert subnet.name == "default"
    ip = call(mode, driver, "ex_create_public_ip", unique("ip"), RESOURCE_GROUP)
    assert ip.extra["ipAddress"] == "127.0.0.1"
    nic = call(mode, driver, "ex_create_network_interface", unique("nic"), subnet,
               RESOURCE_GROUP, None, ip)
    assert nic.extra["ipConfigurations"][0]["properties"]["publicIPAddress"]["id"] == ip.id
    assert nic.id in {n.id for n in call(mode, driver, "ex_list_nics")}
    assert ip.id in {i.id for i in call(mode, driver, "ex_list_public_ips", RESOURCE_GROUP)}
    assert call(mode, driver, "ex_get_nic", nic.id).name == nic.name
    node = create(driver, name=unique("onnic"), ex_nic=nic)
    assert node.extra["nics"] == [nic.id]  # type: ignore[attr-defined]
    assert call(mode, driver, "destroy_node", node) is True
    assert fake.find("nic", nic.name) is None and fake.find("ip", ip.name) is None


# -- credentials -----------------------------------------------------------------------------


def test_wrong_secret_is_invalid_credentials_and_never_shown(fake: AzureComputeFixture,
                                                             mode: str) -> None:
    from servers.azure_arm import CLIENT_ID
    from servers.azure_arm import SUBSCRIPTION
    from servers.azure_arm import TENANT

    wrong = "not-the~secret.0000000000000000"
    driver = AzureNodeDriver(TENANT, SUBSCRIPTION, CLIENT_ID, wrong, endpoint=fake.base_url,
                             authority=fake.base_url, resource_group=RESOURCE_GROUP)
    with pytest.raises(InvalidCredentials) as caught:
        call(mode, driver, "list_locations")
    assert wrong not in str(caught.value) and wrong not in repr(driver)
    assert CLIENT_SECRET not in repr(make_driver(fake))


def test_an_expired_token_is_replaced_once(driver: AzureNodeDriver, fake: AzureComputeFixture,
                                           mode: str) -> None:
    call(mode, driver, "list_locations")
    fake.revoke_tokens()
    assert call(mode, driver, "list_locations")
    assert len(fake.issued) == 2


# -- deployment -------------------------------------------------------------------------------


@pytest.fixture
def server(request: pytest.FixtureRequest) -> SSHServer:
    return ssh_server(request)


def test_deploy_node_logs_in_with_the_key_sent_as_ssh_public_keys(
        driver: AzureNodeDriver, fake: AzureComputeFixture, server: SSHServer, mode: str,
        tmp_path: Path) -> None:
    fake.authorized_keys = server.authorized_keys
    key = server.new_client_key(f"azure_{mode}_{uuid.uuid4().hex[:6]}")
    public = server.public_key(key)
    assert public not in server.authorized_keys.read_text()
    script = ScriptDeployment("#!/bin/sh\nid -un\n", name=f"{tmp_path}/whoami.sh", delete=True)
    node = call(mode, driver, "deploy_node", MultiStepDeployment([script]),
                name=unique("deploy"), size=driver.get_size("Standard_B1s"),
                image=driver.get_image(IMAGE), auth=NodeAuthSSHKey(public),
                ex_network=NETWORK, ex_public_ip=True, ex_user_name=server.user,
                ssh_port=server.port, ssh_username=server.user, ssh_key=str(key),
                ssh_known_hosts=str(server.known_hosts), ssh_timeout=5, timeout=30,
                wait_period=0.01, max_tries=1)
    assert node.state == NodeState.RUNNING and node.public_ips[0] == "127.0.0.1"
    assert public in server.authorized_keys.read_text().splitlines()
    assert script.stdout == f"{server.user}\n" and script.exit_status == 0
