"""The Compute Engine driver against the stateful fixture of its API
(``servers.compute_gce``) and of the metadata server: what the conformance
suite does not say."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeState
from overcast.compute.deployment import MultiStepDeployment
from overcast.compute.deployment import ScriptDeployment
from overcast.compute.drivers.gce import FirewallNotFound
from overcast.compute.drivers.gce import GCEFailedNode
from overcast.compute.drivers.gce import GCENodeDriver
from overcast.compute.drivers.gce import QuotaExceeded
from overcast.compute.drivers.gce import size_price
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from servers.compute_gce import PROJECT
from servers.compute_gce import ZONE
from servers.compute_gce import GCEServer
from servers.compute_gce import make_driver
from servers.compute_gce import serve
from servers.dns_google import CLIENT_EMAIL
from servers.dns_google import key_file
from servers.dns_google import private_key
from servers.fakeapi import FakeRequest
from servers.google_api import google_error
from servers.modes import call
from servers.pauses import record_pauses
from servers.sshd import SSHServer
from servers.sshd import ssh_server

POLL = 0.01


@pytest.fixture
def fixture() -> Iterator[tuple[GCEServer, str]]:
    with serve() as served:
        yield served


@pytest.fixture
def fake(fixture: tuple[GCEServer, str]) -> GCEServer:
    return fixture[0]


@pytest.fixture
def driver(fixture: tuple[GCEServer, str]) -> Iterator[GCENodeDriver]:
    with make_driver(*fixture, poll_interval=POLL) as made:
        yield made


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def seen(fake: GCEServer, method: str, suffix: str, since: int = 0) -> list[FakeRequest]:
    return [r for r in fake.requests[since:] if r.method == method and r.path.endswith(suffix)]


def new_node(driver: GCENodeDriver, name: str | None = None, **kwargs: Any) -> Node:
    return driver.create_node(name or unique("n"), driver.ex_get_size("e2-small"),
                              driver.get_image("debian-cloud/debian-12-bookworm-v20250101"),
                              **kwargs)


# -- creating once, operations, polling -------------------------------------------------------


def test_a_create_whose_answer_is_lost_makes_exactly_one_instance(
        driver: GCENodeDriver, fake: GCEServer, mode: str) -> None:
    size, image = driver.ex_get_size("e2-small"), driver.ex_get_image_from_family("debian-12")
    name = unique("lost")
    fake.state.inject("POST", r"/zones/[^/]+/instances\Z", google_error(
        503, "backendError", "Backend Error", "UNAVAILABLE"), after=True)
    before = len(fake.requests)
    node = call(mode, driver, "create_node", name, size, image)
    mine = [i for i in fake.state.instances.values() if i["name"] == name]
    assert [i["id"] for i in mine] == [node.id]
    inserts = seen(fake, "POST", f"/zones/{ZONE}/instances", before)
    assert len(inserts) == 2  # sent again, with the same requestId: deduped by the server
    ids = {r.arg("requestId") for r in inserts}
    assert len(ids) == 1 and uuid.UUID(ids.pop() or "").version == 4
    assert len([o for o in fake.state.operations.values()
                if o["operationType"] == "insert" and o["targetLink"].endswith(name)]) == 1


def test_an_operation_done_with_errors_raises_the_mapped_error(
        driver: GCENodeDriver, fake: GCEServer, mode: str) -> None:
    size, image = driver.ex_get_size("e2-small"), driver.ex_get_image_from_family("debian-12")
    fake.state.fail_next("insert", "QUOTA_EXCEEDED",
                         "Quota 'CPUS' exceeded.  Limit: 8.0 in region us-central1.", 403)
    name = unique("quota")
    with pytest.raises(QuotaExceeded, match="Quota 'CPUS' exceeded") as caught:
        call(mode, driver, "create_node", name, size, image)
    assert caught.value.code == "QUOTA_EXCEEDED" and caught.value.status == 403
    assert not [i for i in fake.state.instances.values() if i["name"] == name]
    node = new_node(driver)
    fake.state.fail_next("stop", "RESOURCE_NOT_READY", "The resource is not ready", 400)
    with pytest.raises(InvalidInput, match="not ready"):
        call(mode, driver, "stop_node", node)
    fake.state.fail_next("insert", "RESOURCE_ALREADY_EXISTS", "The resource already exists", 409)
    with pytest.raises(AlreadyExists):
        call(mode, driver, "ex_create_address", unique("ip"))
    fake.state.fail_next("delete", "SOMETHING_ODD", "odd", 500)
    with pytest.raises(ProviderError, match="odd") as odd:
        call(mode, driver, "destroy_node", node)
    assert odd.value.code == "SOMETHING_ODD"


def test_operations_are_polled_with_the_pauses_asked_for(
        driver: GCENodeDriver, fake: GCEServer, mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    node = new_node(driver)
    fake.state.polls_to_done = 3
    paused = record_pauses(monkeypatch)
    before = len(fake.requests)
    assert call(mode, driver, "reboot_node", node) is True
    assert paused == [POLL] * 3
    assert len(seen(fake, "GET", "", before)) == 3  # one GET of the operation per pause
    assert all("/zones/us-central1-a/operations/" in r.path
               for r in seen(fake, "GET", "", before))


def test_waiting_for_an_operation_is_bounded_by_wait_timeout(
        fixture: tuple[GCEServer, str], mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    server, endpoint = fixture
    with make_driver(server, endpoint, poll_interval=0.01, wait_timeout=0.05) as driver:
        node = new_node(driver)
        server.state.polls_to_done = 1000
        paused = record_pauses(monkeypatch)
        with pytest.raises(OperationTimeout, match=r"not DONE within 0\.05s"):
            call(mode, driver, "stop_node", node)
        assert paused == [0.01] * 5


# -- listings --------------------------------------------------------------------------------


def test_listings_page_past_the_first_page(driver: GCENodeDriver, fake: GCEServer,
                                           mode: str) -> None:
    made = [new_node(driver) for _ in range(5)]
    before = len(fake.requests)
    listed = call(mode, driver, "list_nodes")
    assert {n.id for n in made} <= {n.id for n in listed}
    pages = seen(fake, "GET", f"/zones/{ZONE}/instances", before)
    assert len(pages) == 3 and [r.arg("maxResults") for r in pages] == ["2"] * 3
    assert pages[0].arg("pageToken") is None and all(r.arg("pageToken") for r in pages[1:])
    before = len(fake.requests)
    everywhere = call(mode, driver, "list_nodes", "all")
    assert {n.id for n in everywhere} == {n.id for n in listed}
    assert len(seen(fake, "GET", "/aggregated/instances", before)) == 3
    sizes = call(mode, driver, "list_sizes")
    assert len(sizes) == 8 and {s.extra["zone"] for s in sizes} == {ZONE}


def test_a_repeated_page_token_stops_the_listing(driver: GCENodeDriver, fake: GCEServer,
                                                 mode: str) -> None:
    for _ in range(3):
        new_node(driver)
    repeated = google_error(200, "x", "x", "OK")
    repeated.body = (b'{"items": [], "nextPageToken": "same"}')
    fake.state.inject("GET", rf"/zones/{ZONE}/instances\Z", repeated, times=2,
                      when=lambda r: r.arg("pageToken") is not None)
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver, "list_nodes")


# -- credentials inside the cloud ----------------------------------------------------------------


def test_the_metadata_server_wants_its_header_and_the_driver_sends_it(
        driver: GCENodeDriver, fake: GCEServer, mode: str) -> None:
    assert fake.metadata is not None
    url = f"{fake.metadata_url}/computeMetadata/v1/instance/service-accounts/default/token"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 403
    assert fake.metadata.refused == 1
    assert call(mode, driver, "list_nodes") == []  # in the instance's zone
    assert fake.metadata.refused == 1 and fake.metadata.token_fetches == 1
    assert driver.project == PROJECT and driver.zone == ZONE  # from instance metadata
    metadata_requests = fake.metadata.api.requests
    assert {r.path.rsplit("/", 1)[-1] for r in metadata_requests} == {"token", "project-id",
                                                                      "zone"}
    assert all(r.header("Metadata-Flavor") == "Google" for r in metadata_requests[1:])


def test_the_token_is_refreshed_before_it_expires(driver: GCENodeDriver, fake: GCEServer,
                                                  mode: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert fake.metadata is not None
    call(mode, driver, "list_locations")
    call(mode, driver, "list_locations")
    assert fake.metadata.token_fetches == 1
    real = time.time
    # Past the margin before the hour's end, not past the hour: the token the
    # server would still take is renewed anyway.
    monkeypatch.setattr(time, "time", lambda: real() + 3600 - 30)
    call(mode, driver, "list_locations")
    assert fake.metadata.token_fetches == 2
    assert not any(r.header("Authorization") == f"Bearer {fake.auth.issued[0]}"
                   for r in fake.requests[-1:])


def test_fifty_concurrent_async_calls_fetch_one_token(fixture: tuple[GCEServer, str]) -> None:
    server, endpoint = fixture
    assert server.metadata is not None
    driver = make_driver(server, endpoint, datacenter=ZONE, project=PROJECT)

    async def many() -> list[Any]:
        async with driver.aio:
            return await asyncio.gather(*(driver.aio.list_locations() for _ in range(50)))

    results = asyncio.run(many())
    assert len(results) == 50 and all(results)
    assert server.metadata.token_fetches == 1
    driver.close()


def test_outside_a_cloud_the_probe_gives_up_at_once_naming_what_it_tried(
        fixture: tuple[GCEServer, str], mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, endpoint = fixture
    with socket.socket() as s:  # a port nothing listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    driver = GCENodeDriver(endpoint=endpoint, metadata_endpoint=f"http://127.0.0.1:{port}")
    paused = record_pauses(monkeypatch)  # nothing probed at construction, no retry pauses
    with pytest.raises(InvalidCredentials) as caught:
        call(mode, driver, "list_locations")
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}/computeMetadata/v1/" in message
    assert "Metadata-Flavor: Google" in message and "1 s to connect" in message
    assert paused == []
    driver.close()


def test_gce_metadata_host_names_the_server(fixture: tuple[GCEServer, str], mode: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    server, endpoint = fixture
    monkeypatch.setenv("GCE_METADATA_HOST", server.metadata_url.removeprefix("http://"))
    with GCENodeDriver(endpoint=endpoint) as driver:
        assert call(mode, driver, "list_locations")
    assert server.metadata is not None and server.metadata.token_fetches == 1


def test_given_credentials_never_touch_the_metadata_server(
        fixture: tuple[GCEServer, str], mode: str, tmp_path: Path) -> None:
    server, endpoint = fixture
    assert server.metadata is not None
    server.auth.accounts[CLIENT_EMAIL] = private_key().public_key()
    credentials = key_file(tmp_path, server.auth)  # type: ignore[arg-type]
    with GCENodeDriver(project=PROJECT, credentials_file=credentials, endpoint=endpoint,
                       metadata_endpoint=server.metadata_url, page_size=2) as driver:
        nodes = call(mode, driver, "list_nodes")  # no zone: every zone, aggregated
        assert nodes == [] and call(mode, driver, "list_locations")
    with GCENodeDriver(CLIENT_EMAIL, str(credentials), project=PROJECT,
                       endpoint=endpoint) as libcloud_way:
        assert call(mode, libcloud_way, "ex_get_zone", ZONE).name == ZONE
    assert server.metadata.api.requests == []
    assert seen(server, "POST", "/token")


# -- prices ---------------------------------------------------------------------------------


def test_sizes_are_priced_from_their_family_rates(driver: GCENodeDriver, mode: str) -> None:
    sizes = {s.name: s for s in call(mode, driver, "list_sizes")}
    assert sizes["n2d-standard-2"].price == pytest.approx(2 * 0.027502 + 8 * 0.003686, abs=1e-6)
    assert sizes["n2-standard-2"].price == pytest.approx(2 * 0.031611 + 8 * 0.004237, abs=1e-6)
    # Rates of Libcloud 3.9.1's gce_instances (2025-03-02), as the bundled snapshot has them.
    assert sizes["e2-micro"].price == pytest.approx(0.25 * 0.02181159 + 1 * 0.00292353,
                                                    abs=1e-6)
    assert sizes["e2-micro"].extra["guestCpus"] == 2  # billed for its share, not its vCPUs
    assert sizes["m1-ultramem-40"].price == pytest.approx(40 * 0.0348 + 961 * 0.0051, abs=1e-6)
    assert {s.extra["price_date"] for s in sizes.values()} == {"2025-03-02"}
    europe = call(mode, driver, "list_sizes", "europe-west1-b")
    e2 = next(s for s in europe if s.name == "e2-standard-2")
    assert e2.price == pytest.approx(2 * 0.02399337 + 8 * 0.00321609, abs=1e-6)
    assert size_price("e2-small", 2, 2048, "asia-south2") is None  # a region not in the data
    assert size_price("c3-standard-4", 4, 16384, "us-central1") is None  # nor a family
    assert size_price("f1-micro", 1, 614, "us-central1") == 0.0076


# -- instances: metadata, tags, labels, several at once ---------------------------------------


def test_tags_metadata_labels_and_accounts(driver: GCENodeDriver, fake: GCEServer,
                                           mode: str) -> None:
    node = new_node(driver, ex_tags=["web"], ex_labels={"env": "test"},
                    ex_metadata={"startup-script": "#!/bin/sh\necho hi\n"},
                    ex_service_accounts=[{"scopes": ["storage-ro", "compute-ro"]}])
    stored = fake.state.instances[(ZONE, node.name)]
    assert stored["serviceAccounts"] == [{"email": "default", "scopes": [
        "https://www.googleapis.com/auth/devstorage.read_only",
        "https://www.googleapis.com/auth/compute.readonly"]}]
    assert stored["metadata"]["items"] == [{"key": "startup-script",
                                            "value": "#!/bin/sh\necho hi\n"}]
    assert call(mode, driver, "ex_set_node_tags", node, ["web", "db"]) is True
    assert call(mode, driver, "ex_set_node_metadata", node, {"k": "v"}) is True
    assert call(mode, driver, "ex_set_node_labels", node, {"env": "prod"}) is True
    now = driver.get_node(node.id)
    assert now.extra["tags"] == ["web", "db"] and now.extra["labels"] == {"env": "prod"}
    assert now.extra["metadata"]["items"] == [{"key": "k", "value": "v"}]
    with pytest.raises(InvalidInput):
        call(mode, driver, "ex_set_node_labels", node, {"Bad Key": "x"})


def test_several_nodes_at_once_and_failures_among_them(driver: GCENodeDriver, fake: GCEServer,
                                                       mode: str) -> None:
    size, image = driver.ex_get_size("e2-small"), driver.ex_get_image_from_family("debian-12")
    base = unique("many")
    new_node(driver, f"{base}-001")  # taken: that one fails
    made = call(mode, driver, "ex_create_multiple_nodes", base, size, image, 3)
    assert [type(n) for n in made] == [Node, GCEFailedNode, Node]
    assert made[1].name == f"{base}-001" and isinstance(made[1].error, AlreadyExists)
    assert len([i for i in fake.state.instances.values() if i["name"].startswith(base)]) == 3
    with pytest.raises(NotSupported):
        call(mode, driver, "ex_create_multiple_nodes", base, size, image, 2,
             ex_image_family="debian-12")


def test_stop_start_and_states(driver: GCENodeDriver, mode: str) -> None:
    node = new_node(driver)
    assert call(mode, driver, "stop_node", node) is True
    assert driver.get_node(node.name).state == NodeState.STOPPED  # TERMINATED
    assert call(mode, driver, "ex_start_node", node) is True
    assert driver.get_node(node.id).state == NodeState.RUNNING
    assert call(mode, driver, "destroy_node", node) is True
    with pytest.raises(NodeNotFound):
        call(mode, driver, "get_node", node.id)


def test_invalid_creates_send_nothing(driver: GCENodeDriver, fake: GCEServer,
                                      mode: str) -> None:
    size, image = driver.ex_get_size("e2-small"), driver.ex_get_image_from_family("debian-12")
    before = len(fake.requests)
    for bad in ({"ex_metadata": {"bad key": "x"}}, {"ex_tags": "web"},
                {"ex_labels": {"Env": "x"}}, {"ex_service_accounts": {"email": "x"}},
                {"ex_disk_size": 0}, {"ex_on_host_maintenance": "NEVER"}):
        with pytest.raises(InvalidInput):
            call(mode, driver, "create_node", unique("bad"), size, image, **bad)
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_node", "Upper_Case", size, image)
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_node", unique("n"), size, image, "default")  # Libcloud's 5th
    assert fake.requests[before:] == []


# -- images, addresses, firewalls --------------------------------------------------------------


def test_images_of_public_projects_and_families(driver: GCENodeDriver, mode: str) -> None:
    names = {i.name for i in call(mode, driver, "list_images")}
    assert {"overcast-base", "debian-12-bookworm-v20250101"} <= names
    assert "debian-11-bullseye-v20240110" not in names  # deprecated
    assert "debian-11-bullseye-v20240110" in {
        i.name for i in call(mode, driver, "list_images", ex_project="debian-cloud",
                             ex_include_deprecated=True)}
    newest = call(mode, driver, "ex_get_image_from_family", "debian-12")
    assert newest.name == "debian-12-bookworm-v20250101"
    assert newest.extra["project"] == "debian-cloud"
    assert call(mode, driver, "get_image", newest.id).name == newest.name
    with pytest.raises(ImageNotFound):
        call(mode, driver, "ex_get_image_from_family", "debian-12", ex_standard_projects=False)


def test_addresses_and_firewalls(driver: GCENodeDriver, mode: str) -> None:
    address = call(mode, driver, "ex_create_address", unique("ip"))
    assert address.region == "us-central1" and address.address
    assert [a.name for a in call(mode, driver, "ex_list_addresses")] == [address.name]
    assert call(mode, driver, "ex_destroy_address", address) is True
    rule = call(mode, driver, "ex_create_firewall", unique("fw"),
                [{"IPProtocol": "tcp", "ports": ["22"]}], target_tags=["web"])
    assert rule.source_ranges == ["0.0.0.0/0"] and rule.network == "default"
    assert rule.name in [f.name for f in call(mode, driver, "ex_list_firewalls")]
    assert call(mode, driver, "ex_destroy_firewall", rule) is True
    with pytest.raises(FirewallNotFound):
        call(mode, driver, "ex_get_firewall", rule.name)


# -- deployment --------------------------------------------------------------------------------


@pytest.fixture
def server(request: pytest.FixtureRequest) -> SSHServer:
    return ssh_server(request)


@pytest.mark.parametrize("how", ["ssh-keys", "auth"])
def test_deploy_node_logs_in_with_the_key_sent_as_ssh_keys_metadata(
        driver: GCENodeDriver, fake: GCEServer, server: SSHServer, mode: str, tmp_path: Path,
        how: str) -> None:
    fake.state.authorized_keys = server.authorized_keys
    key = server.new_client_key(f"gce_{mode}_{how}_{uuid.uuid4().hex[:6]}")
    public = server.public_key(key)
    assert public not in server.authorized_keys.read_text()
    keyword: dict[str, Any] = (
        {"ex_metadata": {"ssh-keys": f"{server.user}:{public}"}} if how == "ssh-keys"
        else {"auth": NodeAuthSSHKey(public), "ex_ssh_username": server.user})
    script = ScriptDeployment("#!/bin/sh\nid -un\n", name=f"{tmp_path}/whoami.sh", delete=True)
    node = call(mode, driver, "deploy_node", MultiStepDeployment([script]),
                name=unique("deploy"), size=driver.ex_get_size("e2-small"),
                image=driver.ex_get_image_from_family("debian-12"),
                ssh_port=server.port, ssh_username=server.user, ssh_key=str(key),
                ssh_known_hosts=str(server.known_hosts), ssh_timeout=5, timeout=30,
                wait_period=0.01, max_tries=1, **keyword)
    assert node.state == NodeState.RUNNING and node.public_ips[0] == "127.0.0.1"
    assert public in server.authorized_keys.read_text().splitlines()
    assert script.stdout == f"{server.user}\n" and script.exit_status == 0


def test_size_and_image_by_name_as_libcloud_takes_them(driver: GCENodeDriver, fake: GCEServer,
                                                       mode: str) -> None:
    node = call(mode, driver, "create_node", unique("named"), "e2-small", "debian-12")
    stored = fake.state.instances[(ZONE, node.name)]
    assert stored["machineType"].endswith("/machineTypes/e2-small")
    assert node.extra["machineType"] == "e2-small"
    before = len(fake.requests)
    with pytest.raises(InvalidInput):  # checked before the names are looked up
        call(mode, driver, "create_node", "Bad Name", "e2-small", "debian-12")
    assert fake.requests[before:] == []
    with pytest.raises(ImageNotFound):
        call(mode, driver, "create_node", unique("named"), "e2-small", "no-such-image")
