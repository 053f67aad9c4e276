"""The CloudStack compute driver against the stateful fixture of its API
(``servers.compute_cloudstack``): what the conformance suite does not say."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from libcloud.compute.drivers.cloudstack import CloudStackNodeDriver as LibcloudCloudStack

from overcast.compute.base import Node
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeState
from overcast.compute.deployment import MultiStepDeployment
from overcast.compute.deployment import ScriptDeployment
from overcast.compute.drivers.cloudstack import CloudStackAddress
from overcast.compute.drivers.cloudstack import CloudStackNodeDriver
from overcast.compute.drivers.cloudstack import SecurityGroupNotFound
from overcast.errors import AlreadyExists
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import VolumeNotFound
from overcast.runtime.redact import Secret
from servers.compute_cloudstack import API_KEY
from servers.compute_cloudstack import NETWORKS
from servers.compute_cloudstack import SECRET_KEY
from servers.compute_cloudstack import ZONES
from servers.compute_cloudstack import CloudStackServer
from servers.compute_cloudstack import make_driver
from servers.compute_cloudstack import serve
from servers.modes import call
from servers.pauses import record_pauses
from servers.sshd import SSHServer
from servers.sshd import ssh_server

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl overcast"
)
SIZE = "5e0ea6b8-0000-4000-8000-000000000002"
IMAGE = "7e3a0000-0000-4000-8000-000000000001"


@pytest.fixture
def fixture() -> Iterator[tuple[CloudStackServer, str]]:
    with serve() as served:
        yield served


@pytest.fixture
def fake(fixture: tuple[CloudStackServer, str]) -> CloudStackServer:
    return fixture[0]


@pytest.fixture
def driver(fixture: tuple[CloudStackServer, str]) -> Iterator[CloudStackNodeDriver]:
    with make_driver(fixture[1]) as made:
        yield made


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_node(driver: CloudStackNodeDriver, name: str | None = None, **kwargs: Any) -> Node:
    node: Node = driver.create_node(name or unique("cs"), driver.get_size(SIZE),
                                    driver.get_image(IMAGE), **kwargs)
    return node


# -- create once, jobs, polling --------------------------------------------------------------


def test_a_deploy_whose_answer_is_lost_makes_exactly_one_vm(
        driver: CloudStackNodeDriver, fake: CloudStackServer, mode: str) -> None:
    name = unique("lost")
    fake.inject("deployVirtualMachine", 530, "lost on the way", status=500, after=True)
    node = call(mode, driver, "create_node", name, driver.get_size(SIZE),
                driver.get_image(IMAGE))
    assert node.name == name
    assert [vm["id"] for vm in fake.vms.values() if vm["name"] == name] == [node.id]
    assert len(fake.commands("deployVirtualMachine")) == 1


def test_a_vm_of_the_same_name_made_before_is_not_taken_for_the_lost_one(
        driver: CloudStackNodeDriver, fake: CloudStackServer, mode: str) -> None:
    name = unique("twin")
    first = new_node(driver, name)
    fake.inject("deployVirtualMachine", 530, "lost before it arrived", status=500)
    second = call(mode, driver, "create_node", name, driver.get_size(SIZE),
                  driver.get_image(IMAGE))
    assert second.id != first.id
    assert len([vm for vm in fake.vms.values() if vm["name"] == name]) == 2
    assert len(fake.commands("deployVirtualMachine")) == 3  # first, lost, sent again


def test_a_failed_deploy_job_raises_its_error_mapped(
        driver: CloudStackNodeDriver, fake: CloudStackServer, mode: str) -> None:
    fake.fail_next_job("deployVirtualMachine", 533,
                       "Unable to create a deployment for VM[User|i-2-9-VM]")
    with pytest.raises(ProviderError) as caught:
        call(mode, driver, "create_node", unique("fail"), driver.get_size(SIZE),
             driver.get_image(IMAGE))
    assert caught.value.status == 533 and "Unable to create a deployment" in str(caught.value)
    assert [vm["state"] for vm in fake.vms.values()] == ["Error"]
    assert driver.list_nodes()[0].state == NodeState.ERROR


@pytest.mark.parametrize(("errorcode", "text", "expected"), [
    (431, "Unable to execute API command attachvolume due to invalid value. Invalid parameter "
          "id value=x due to incorrect long value format, or entity does not exist",
     VolumeNotFound),
    (431, "Please specify a VM that is either running or stopped.", InvalidInput),
    (531, "Acct[tester] does not have permission to operate with resource", InvalidCredentials),
    (530, "Failed to attach volume", ProviderError),
])
def test_a_failed_job_error_is_mapped_like_an_error_answer(
        driver: CloudStackNodeDriver, fake: CloudStackServer, mode: str, errorcode: int,
        text: str, expected: type[Exception]) -> None:
    node = new_node(driver)
    volume = driver.create_volume(1, unique("vol"))
    fake.fail_next_job("attachVolume", errorcode, text)
    with pytest.raises(expected):
        call(mode, driver, "attach_volume", node, volume)


def test_jobs_are_waited_for_by_the_sleeps_asked_for(
        driver: CloudStackNodeDriver, fake: CloudStackServer, mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    node = new_node(driver)
    before = len(fake.commands("queryAsyncJobResult"))
    paused = record_pauses(monkeypatch)
    assert call(mode, driver, "reboot_node", node) is True
    # The fixture's job ends on its second poll: two polls, each after a pause.
    assert len(fake.commands("queryAsyncJobResult")) - before == 2
    assert [p for p in paused if p == driver.poll_interval] == [0.01, 0.01]


def test_a_job_that_never_ends_times_out_within_wait_timeout(
        fixture: tuple[CloudStackServer, str], mode: str) -> None:
    fake, endpoint = fixture
    with make_driver(endpoint, wait_timeout=0.03) as driver:
        node = new_node(driver)
        before = len(fake.commands("queryAsyncJobResult"))
        fake._c_queryasyncjobresult = lambda req: {  # type: ignore[method-assign]
            "jobid": req.arg("jobid"), "jobstatus": 0}
        with pytest.raises(OperationTimeout, match="did not end within"):
            call(mode, driver, "stop_node", node)
        # 0.03 s of waiting at 0.01 s a poll: three polls, then no more.
        assert len(fake.commands("queryAsyncJobResult")) - before == 3


# -- paging ------------------------------------------------------------------------------------


def test_listings_page_until_count_and_libcloud_sees_one_page(mode: str) -> None:
    with serve(default_page_size=3) as (fake, endpoint), make_driver(endpoint) as driver:
        made = {new_node(driver).id for _ in range(5)}
        listed = call(mode, driver, "list_nodes")
        assert {n.id for n in listed} == made and len(listed) == 5
        pages = [(r.arg("page"), r.arg("pagesize"))
                 for r in fake.commands("listVirtualMachines") if r.arg("name") is None]
        assert pages[-3:] == [("1", "2"), ("2", "2"), ("3", "2")]
        host, port = endpoint.removeprefix("http://").removesuffix("/client/api").split(":")
        theirs = LibcloudCloudStack(API_KEY, SECRET_KEY, False, host, "/client/api", int(port))
        assert len(theirs.list_nodes()) == 3  # the server's default.page.size, no more


def test_a_page_size_above_the_servers_default_page_size_is_refused(mode: str) -> None:
    with serve(default_page_size=3) as (_, endpoint), \
            make_driver(endpoint, page_size=10) as driver, \
            pytest.raises(InvalidInput, match="Page size can't exceed"):
        call(mode, driver, "list_sizes")


def test_nodes_by_location_and_volumes_by_node(driver: CloudStackNodeDriver, mode: str) -> None:
    zones = driver.list_locations()
    here = new_node(driver, location=zones[0])
    there = new_node(driver, location=zones[1])
    assert [n.id for n in call(mode, driver, "list_nodes", None, zones[1])] == [there.id]
    volume = driver.create_volume(5, unique("vol"), zones[0])
    assert volume.size == 5 and volume.extra["zone_id"] == zones[0].id
    driver.attach_volume(here, volume)
    assert [v.id for v in call(mode, driver, "list_volumes", here)] == [volume.id]
    assert call(mode, driver, "list_volumes", there) == []


# -- errors and signing --------------------------------------------------------------------


def test_a_wrong_secret_is_refused_and_never_shown(
        fixture: tuple[CloudStackServer, str], mode: str) -> None:
    wrong = "not-the-secret-" + uuid.uuid4().hex
    with CloudStackNodeDriver(API_KEY, wrong, url=fixture[1]) as driver:
        with pytest.raises(InvalidCredentials, match="unable to verify") as caught:
            call(mode, driver, "list_locations")
        assert wrong not in str(caught.value) and wrong not in repr(driver)
    sent = fixture[0].requests[-1]
    assert wrong not in json.dumps(sent.query)


def test_error_shapes_432_and_531_are_mapped(driver: CloudStackNodeDriver,
                                             fake: CloudStackServer, mode: str) -> None:
    fake.inject("listZones", 432, "The given command does not exist or it is not available "
                                  "for user")
    with pytest.raises(NotSupported, match="not available for user"):
        call(mode, driver, "list_locations")
    fake.inject("listVirtualMachines", 531, "Acct[tester] does not have permission")
    with pytest.raises(InvalidCredentials, match="does not have permission"):
        call(mode, driver, "list_nodes")


def test_unknown_ids_are_not_found(driver: CloudStackNodeDriver, mode: str) -> None:
    with pytest.raises(NodeNotFound):
        call(mode, driver, "get_node", str(uuid.uuid4()))
    with pytest.raises(VolumeNotFound):
        call(mode, driver, "get_volume", str(uuid.uuid4()))


def test_version_3_signatures_carry_expires(fixture: tuple[CloudStackServer, str],
                                            mode: str) -> None:
    fake, endpoint = fixture
    with make_driver(endpoint, signature_expires=600) as driver:
        assert call(mode, driver, "list_locations")
    sent = fake.commands("listZones")[-1]
    assert sent.arg("signatureVersion") == "3" and sent.arg("expires")


def test_invalid_input_sends_nothing(fixture: tuple[CloudStackServer, str], mode: str) -> None:
    endpoint = fixture[1]
    sent: list[object] = []
    with make_driver(endpoint, sent) as driver:
        size, image = driver.get_size(SIZE), driver.get_image(IMAGE)
        sent.clear()
        bad: list[dict[str, Any]] = [
            {"ex_security_groups": "default"}, {"ex_userdata": "x" * 30000},
            {"ex_ip_address": "not-an-ip"}, {"ex_rootdisksize": -1},
            {"networks": "net-1"}, {"ex_keyname": "k", "auth": NodeAuthSSHKey(PUBLIC_KEY)},
        ]
        for options in bad:
            with pytest.raises(InvalidInput):
                call(mode, driver, "create_node", "ok-name", size, image, **options)
        with pytest.raises(NotSupported, match="generates passwords"):
            call(mode, driver, "create_node", "ok-name", size, image,
                 auth=NodeAuthPassword("pw"))
        with pytest.raises(InvalidInput):
            call(mode, driver, "ex_authorize_security_group_ingress", "default", "tcp",
                 "not-a-cidr", 22)
        with pytest.raises(InvalidInput):
            call(mode, driver, "create_volume", 0, "vol")
    assert sent == []
    with pytest.raises(InvalidInput):
        CloudStackNodeDriver(API_KEY, SECRET_KEY)  # no url, no host


def test_libcloud_constructor_forms(fixture: tuple[CloudStackServer, str]) -> None:
    host_port = fixture[1].removeprefix("http://").removesuffix("/client/api")
    host, port = host_port.split(":")
    by_parts = CloudStackNodeDriver(API_KEY, SECRET_KEY, False, host, "/client/api", int(port))
    assert by_parts.endpoint == fixture[1]
    assert [z.id for z in by_parts.list_locations()] == [z["id"] for z in ZONES]
    assert CloudStackNodeDriver(API_KEY, SECRET_KEY, url=f"http://{host_port}").endpoint == \
        fixture[1]


# -- what a deploy sends ---------------------------------------------------------------------


def test_deploy_options_reach_the_server(driver: CloudStackNodeDriver, fake: CloudStackServer,
                                         mode: str) -> None:
    driver.ex_create_security_group("web", description="web servers")
    network = driver.ex_list_networks()[0]
    node = call(mode, driver, "create_node", unique("opts"), driver.get_size(SIZE),
                driver.get_image(IMAGE), networks=[network], ex_security_groups=["web"],
                ex_userdata="#!/bin/sh\necho hi\n", ex_displayname="Web 1")
    vm = fake.vms[node.id]
    assert vm["_networks"] == [network.id] and vm["displayname"] == "Web 1"
    assert base64.b64decode(vm["_userdata"]) == b"#!/bin/sh\necho hi\n"
    assert node.extra["security_group"] == ["web"] and node.state == NodeState.RUNNING
    assert node.public_ips == ["127.0.0.1"] and node.private_ips == []


def test_large_user_data_goes_in_a_signed_form_body(
        driver: CloudStackNodeDriver, fake: CloudStackServer, mode: str) -> None:
    userdata = "#cloud-config\n" + "write_files: []\n" * 300
    node = call(mode, driver, "create_node", unique("big"), driver.get_size(SIZE),
                driver.get_image(IMAGE), ex_userdata=userdata)
    deploy = fake.commands("deployVirtualMachine")[-1]
    assert deploy.method == "POST" and b"userdata=" in deploy.body
    assert base64.b64decode(fake.vms[node.id]["_userdata"]).decode() == userdata


def test_a_password_the_template_generates_is_a_secret(driver: CloudStackNodeDriver,
                                                        mode: str) -> None:
    windows = driver.get_image("7e3a0000-0000-4000-8000-000000000003")
    node = call(mode, driver, "create_node", unique("win"), driver.get_size(SIZE), windows)
    assert isinstance(node.extra["password"], Secret)
    assert "Gen3rated" not in repr(node)


def test_destroy_leaves_a_terminated_vm_unless_expunged(
        driver: CloudStackNodeDriver, fake: CloudStackServer, mode: str) -> None:
    kept, gone = new_node(driver), new_node(driver)
    assert call(mode, driver, "destroy_node", kept) is True
    assert driver.get_node(kept.id).state == NodeState.TERMINATED
    assert call(mode, driver, "destroy_node", gone, True) is True
    with pytest.raises(NodeNotFound):
        driver.get_node(gone.id)
    assert fake.commands("destroyVirtualMachine")[-1].arg("expunge") == "true"


# -- key pairs, groups, addresses, port forwarding ------------------------------------------


def test_key_pairs_by_libcloud_names(driver: CloudStackNodeDriver, fake: CloudStackServer,
                                     mode: str) -> None:
    name = unique("kp")
    imported = call(mode, driver, "ex_import_keypair_from_string", name, PUBLIC_KEY)
    assert imported.fingerprint == fake.keypairs[name]["fingerprint"]
    with pytest.raises(KeyPairAlreadyExists):
        call(mode, driver, "import_key_pair_from_string", name, PUBLIC_KEY)
    assert [k.name for k in call(mode, driver, "ex_list_keypairs", name=name)] == [name]
    assert call(mode, driver, "ex_delete_keypair", name) is True
    assert fake.keypairs == {}


def test_a_lost_key_import_is_found_by_name_and_fingerprint(
        driver: CloudStackNodeDriver, fake: CloudStackServer, mode: str) -> None:
    fake.inject("registerSSHKeyPair", 530, "lost", status=502, after=True)
    key = call(mode, driver, "import_key_pair_from_string", "mine", PUBLIC_KEY)
    assert key.name == "mine" and list(fake.keypairs) == ["mine"]


def test_a_lost_generated_key_pair_is_an_unknown_outcome(
        driver: CloudStackNodeDriver, fake: CloudStackServer, mode: str) -> None:
    fake.inject("createSSHKeyPair", 530, "lost", status=502, after=True)
    with pytest.raises(OutcomeUnknown):
        call(mode, driver, "create_key_pair", "generated")
    assert len(fake.commands("createSSHKeyPair")) == 1


def test_security_groups_and_ingress_rules(driver: CloudStackNodeDriver,
                                           fake: CloudStackServer, mode: str) -> None:
    group = call(mode, driver, "ex_create_security_group", "ssh", description="ssh in")
    assert group["name"] == "ssh" and group["description"] == "ssh in"
    with pytest.raises(AlreadyExists):
        call(mode, driver, "ex_create_security_group", "ssh")
    ruled = call(mode, driver, "ex_authorize_security_group_ingress", "ssh", "TCP",
                 "0.0.0.0/0,10.0.0.0/8", 22)
    [rule] = ruled["ingressrule"]
    assert (rule["protocol"], rule["startport"], rule["endport"]) == ("tcp", 22, 22)
    listed = call(mode, driver, "ex_list_security_groups", securitygroupname="ssh")
    assert [g["id"] for g in listed] == [group["id"]]
    assert call(mode, driver, "ex_revoke_security_group_ingress", rule["ruleid"]) is True
    assert fake.groups["ssh"]["ingressrule"] == []
    assert call(mode, driver, "ex_delete_security_group", "ssh") is True
    with pytest.raises(SecurityGroupNotFound):
        call(mode, driver, "ex_delete_security_group", "ssh")


def test_public_ips_and_port_forwarding(driver: CloudStackNodeDriver, fake: CloudStackServer,
                                        mode: str) -> None:
    node = new_node(driver)
    address = call(mode, driver, "ex_allocate_public_ip", None, NETWORKS[1]["id"])
    assert isinstance(address, CloudStackAddress) and address.address.startswith("198.51.100.")
    assert [a.id for a in call(mode, driver, "ex_list_public_ips")] == [address.id]
    rule = call(mode, driver, "ex_create_port_forwarding_rule", node, address, 22, 2222, "tcp")
    assert (rule.public_port, rule.private_port, rule.node_id) == (2222, 22, node.id)
    with pytest.raises(AlreadyExists, match="conflicts"):
        call(mode, driver, "ex_create_port_forwarding_rule", node, address, 23, 2222, "tcp")
    [listed] = call(mode, driver, "ex_list_port_forwarding_rules", ipaddress_id=address.id)
    assert listed.id == rule.id and listed.node_id == node.id
    assert call(mode, driver, "ex_delete_port_forwarding_rule", node, rule) is True
    assert fake.rules == {}
    assert call(mode, driver, "ex_release_public_ip", address) is True
    assert fake.addresses == {}


def test_snapshots_and_a_volume_from_one(driver: CloudStackNodeDriver, mode: str) -> None:
    volume = driver.create_volume(20, unique("data"))
    snap = call(mode, driver, "create_volume_snapshot", volume, "nightly")
    assert snap.name == "nightly" and snap.extra["volume_id"] == volume.id
    assert [s.id for s in call(mode, driver, "list_snapshots")] == [snap.id]
    restored = call(mode, driver, "create_volume", 20, unique("restored"), None, snap)
    assert restored.size == 20


# -- deployment ------------------------------------------------------------------------------


@pytest.fixture
def server(request: pytest.FixtureRequest) -> SSHServer:
    return ssh_server(request)


def test_deploy_node_logs_in_with_the_key_sent_as_a_key_pair(
        driver: CloudStackNodeDriver, fake: CloudStackServer, server: SSHServer,
        mode: str, tmp_path: Path) -> None:
    fake.authorized_keys = server.authorized_keys
    key = server.new_client_key(f"cs_{mode}_{uuid.uuid4().hex[:6]}")
    public = server.public_key(key)
    assert public not in server.authorized_keys.read_text()
    script = ScriptDeployment("#!/bin/sh\nid -un\n", name=f"{tmp_path}/whoami.sh", delete=True)
    node = call(mode, driver, "deploy_node", MultiStepDeployment([script]),
                name=unique("deploy"), size=driver.get_size(SIZE),
                image=driver.get_image(IMAGE), auth=NodeAuthSSHKey(public),
                ssh_port=server.port, ssh_username=server.user, ssh_key=str(key),
                ssh_known_hosts=str(server.known_hosts), ssh_timeout=5, timeout=30,
                wait_period=0.01, max_tries=1)
    assert node.state == NodeState.RUNNING and node.public_ips[0] == "127.0.0.1"
    assert public in server.authorized_keys.read_text().splitlines()
    assert fake.vms[node.id]["keypair"].startswith("overcast-")
    assert script.stdout == f"{server.user}\n" and script.exit_status == 0
