"""What the compute contract does not show for OpenStack: the Keystone token
(fetched once and shared, renewed before expiry and after a 401), endpoint
selection by region and interface, application credentials, paging, the
microversion header, creates whose answer is lost, floating IPs, error
mapping, throttling and secrecy."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from overcast.auth.keystone import EndpointNotFound
from overcast.compute.base import Node
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeState
from overcast.compute.base import StorageVolume
from overcast.compute.drivers.openstack import OpenStackFloatingIP
from overcast.compute.drivers.openstack import OpenStackNodeDriver
from overcast.errors import ImageNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import SizeNotFound
from overcast.runtime.policy import RetryPolicy
from servers.compute_openstack import APP_CRED_ID
from servers.compute_openstack import APP_CRED_SECRET
from servers.compute_openstack import PASSWORD
from servers.compute_openstack import PROJECT_ID
from servers.compute_openstack import OpenStackFake
from servers.compute_openstack import make_driver
from servers.compute_openstack import pick_image
from servers.compute_openstack import serve
from servers.fakeapi import FakeRequest
from servers.modes import call

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl overcast"
)


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[OpenStackFake]:
    made = serve(request)
    made.token_lifetime = 3600.0
    yield made
    made.token_lifetime = 10.0
    made.lose_next.clear()
    made.refuse_next.clear()
    made.throttle.clear()


@pytest.fixture
def driver(request: pytest.FixtureRequest, fake: OpenStackFake) -> Iterator[OpenStackNodeDriver]:
    with make_driver(request) as made:
        yield made


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def seen(fake: OpenStackFake, method: str, suffix: str, since: int = 0) -> list[FakeRequest]:
    return [r for r in fake.api.requests[since:]
            if r.method == method and r.path.endswith(suffix)]


def new_node(driver: OpenStackNodeDriver, name: str | None = None, **kwargs: Any) -> Node:
    size = driver.get_size("1")
    image = pick_image(driver.list_images())
    return driver.create_node(name or unique("os"), size, image, **kwargs)


def running(driver: OpenStackNodeDriver, node: Node) -> Node:
    [(ready, _addresses)] = driver.wait_until_running(
        [node], wait_period=0.01, timeout=10, ssh_interface="private_ips")
    return ready


@pytest.fixture
def node(driver: OpenStackNodeDriver) -> Iterator[Node]:
    made = running(driver, new_node(driver))
    yield made
    with contextlib.suppress(NodeNotFound):
        driver.destroy_node(made)


# -- the token ---------------------------------------------------------------------------------


def test_token_is_fetched_once_and_shared(request: pytest.FixtureRequest, fake: OpenStackFake,
                                          mode: str) -> None:
    before = fake.token_requests
    with make_driver(request) as driver:
        call(mode, driver, "list_sizes")
        call(mode, driver, "list_images")
        call(mode, driver, "list_volumes")
        call(mode, driver, "ex_list_floating_ips")
        errors: list[BaseException] = []

        def work() -> None:
            try:
                driver.list_nodes()
                driver.get_size("2")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

        async def tasks() -> None:
            async with driver.aio as view, anyio.create_task_group() as group:
                for _ in range(8):
                    group.start_soon(view.list_key_pairs)
                    group.start_soon(view.list_locations)

        anyio.run(tasks)
        assert driver.session.fetched == 1
    assert fake.token_requests - before == 1


def test_token_is_renewed_before_it_expires(request: pytest.FixtureRequest,
                                            fake: OpenStackFake, mode: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock is moved past the token's hour rather than waited for, so the
    first calls fall within its life however slow the machine is."""
    fake.token_lifetime = 3600
    real_time, ahead = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + ahead[0])
    before_tokens = fake.token_requests
    with make_driver(request) as driver:
        call(mode, driver, "list_sizes")
        call(mode, driver, "list_sizes")
        assert fake.token_requests - before_tokens == 1
        ahead[0] = 3601.0  # past the renewal point and the expiry
        before = len(fake.api.requests)
        call(mode, driver, "list_sizes")
    assert fake.token_requests - before_tokens == 2
    # Renewed up front: Nova never saw the expired token (one request per page, no retry).
    assert len(seen(fake, "GET", "/flavors/detail", before)) == 3


def test_a_401_renews_the_token_and_resends_once(driver: OpenStackNodeDriver,
                                                 fake: OpenStackFake, mode: str) -> None:
    call(mode, driver, "get_size", "1")
    fake.revoke_tokens()
    before_tokens = fake.token_requests
    before = len(fake.api.requests)
    assert call(mode, driver, "get_size", "3").name == "m1.medium"
    assert fake.token_requests - before_tokens == 1
    sent = seen(fake, "GET", "/flavors/3", before)
    assert len(sent) == 2
    assert sent[0].header("X-Auth-Token") != sent[1].header("X-Auth-Token")


def test_a_fresh_token_refused_again_is_invalid_credentials(driver: OpenStackNodeDriver,
                                                            fake: OpenStackFake,
                                                            mode: str) -> None:
    fake.token_lifetime = 0.0  # every token is dead on arrival
    before = fake.token_requests
    with pytest.raises(InvalidCredentials) as caught:
        call(mode, driver, "list_nodes")
    assert fake.token_requests - before == 2
    assert PASSWORD not in str(caught.value)


def test_wrong_password_is_invalid_credentials(request: pytest.FixtureRequest,
                                               fake: OpenStackFake, mode: str) -> None:
    secret = "wrong-password-that-must-stay-hidden"
    with make_driver(request, secret=secret) as bad, pytest.raises(InvalidCredentials) as caught:
        call(mode, bad, "list_nodes")
    for text in (str(caught.value), repr(caught.value)):
        assert secret not in text
    with make_driver(request, project="no-such-project") as bad, pytest.raises(
            InvalidCredentials):
        call(mode, bad, "list_nodes")


def test_application_credential(request: pytest.FixtureRequest, fake: OpenStackFake,
                                mode: str) -> None:
    with make_driver(request, key=None, secret=None, project=None,
                     application_credential_id=APP_CRED_ID,
                     application_credential_secret=APP_CRED_SECRET) as driver:
        assert call(mode, driver, "list_sizes")
        assert fake.token_methods[-1] == "application_credential"
        body = seen(fake, "POST", "/auth/tokens")[-1].json()
        assert "scope" not in body["auth"]
        assert APP_CRED_SECRET not in repr(driver)
    with make_driver(request, key=None, secret=None, project=None,
                     application_credential_id=APP_CRED_ID,
                     application_credential_secret="not-the-secret") as bad, pytest.raises(
            InvalidCredentials):
        call(mode, bad, "list_sizes")


# -- endpoints ---------------------------------------------------------------------------------


def test_region_picks_the_endpoints(request: pytest.FixtureRequest, fake: OpenStackFake,
                                    mode: str) -> None:
    with make_driver(request, region="RegionTwo") as two:
        before = len(fake.api.requests)
        node = call(mode, two, "create_node", unique("r2"), two.get_size("1"),
                    pick_image(two.list_images()))
        try:
            assert node.id in fake.region("RegionTwo").servers
            assert node.id not in fake.region("RegionOne").servers
            apis = [r.path for r in fake.api.requests[before:] if "/identity/" not in r.path]
            assert apis and all(p.startswith("/r2/public/") for p in apis)
            assert [loc.id for loc in call(mode, two, "list_locations")] == ["nova"]
        finally:
            two.destroy_node(node)


def test_interface_picks_the_endpoints(request: pytest.FixtureRequest, fake: OpenStackFake,
                                       mode: str) -> None:
    with make_driver(request, interface="internal") as internal:
        before = len(fake.api.requests)
        call(mode, internal, "list_sizes")
        call(mode, internal, "list_images")
        call(mode, internal, "list_volumes")
        call(mode, internal, "ex_list_floating_ips")
        apis = [r.path for r in fake.api.requests[before:] if "/identity/" not in r.path]
        assert {p.split("/")[3] for p in apis} == {"compute", "image", "volume", "network"}
        assert all(p.startswith("/r1/internal/") for p in apis)
    with make_driver(request, interface="publicURL") as public:
        before = len(fake.api.requests)
        call(mode, public, "list_sizes")
        apis = [r.path for r in fake.api.requests[before:] if "/identity/" not in r.path]
        assert all(p.startswith("/r1/public/") for p in apis)


def test_unknown_region_says_so(request: pytest.FixtureRequest, fake: OpenStackFake,
                                mode: str) -> None:
    with make_driver(request, region="RegionNine") as lost, pytest.raises(
            EndpointNotFound) as caught:
        call(mode, lost, "list_nodes")
    assert "RegionNine" in str(caught.value) and "RegionOne" in str(caught.value)


def test_every_compute_request_names_the_microversion(driver: OpenStackNodeDriver,
                                                      fake: OpenStackFake, node: Node) -> None:
    before = len(fake.api.requests)
    missing = fake.missing_microversion
    driver.list_nodes()
    driver.list_sizes()
    driver.list_key_pairs()
    driver.list_locations()
    driver.reboot_node(node)
    compute = [r for r in fake.api.requests[before:] if "/compute/" in r.path]
    assert compute
    assert {r.header("OpenStack-API-Version") for r in compute} == {"compute 2.79"}
    assert fake.missing_microversion == missing
    others = [r for r in fake.api.requests[before:] if "/compute/" not in r.path]
    assert all(r.header("OpenStack-API-Version") is None for r in others)


# -- paging ------------------------------------------------------------------------------------


def test_servers_are_paged_by_marker(driver: OpenStackNodeDriver, fake: OpenStackFake,
                                     mode: str) -> None:
    made = [new_node(driver) for _ in range(5)]
    try:
        total = len(fake.region().servers)
        before = len(fake.api.requests)
        listed = call(mode, driver, "list_nodes")
        assert len(listed) == total and {n.id for n in made} <= {n.id for n in listed}
        pages = seen(fake, "GET", "/servers/detail", before)
        assert len(pages) == total // 2 + 1  # a full last page is followed by an empty one
        assert pages[0].arg("marker") is None
        assert [p.arg("marker") for p in pages[1:]] == [listed[i].id
                                                        for i in range(1, total, 2)]
        assert {p.arg("limit") for p in pages} == {"2"}
    finally:
        for node in made:
            driver.destroy_node(node)


def test_images_are_paged_by_next_link(driver: OpenStackNodeDriver, fake: OpenStackFake,
                                       mode: str) -> None:
    total = len(fake.region().images)
    before = len(fake.api.requests)
    images = call(mode, driver, "list_images")
    assert len(images) == total >= 5
    pages = seen(fake, "GET", "/v2/images", before)
    assert len(pages) == total // 2 + 1
    assert [p.arg("marker") for p in pages[1:]] == [images[i].id for i in range(1, total, 2)]
    image = pick_image(images)
    assert image.extra["status"] == "active" and image.extra["visibility"] == "public"


def test_key_pairs_and_volumes_are_paged(driver: OpenStackNodeDriver, fake: OpenStackFake,
                                         mode: str) -> None:
    names = [unique("page") for _ in range(3)]
    for name in names:
        driver.import_key_pair_from_string(name, PUBLIC_KEY)
    volumes = [driver.create_volume(1, unique("pv")) for _ in range(3)]
    try:
        before = len(fake.api.requests)
        assert set(names) <= {k.name for k in call(mode, driver, "list_key_pairs")}
        assert len(seen(fake, "GET", "/os-keypairs", before)) >= 2
        before = len(fake.api.requests)
        assert {v.id for v in volumes} <= {v.id for v in call(mode, driver, "list_volumes")}
        assert len(seen(fake, "GET", "/volumes/detail", before)) >= 2
    finally:
        for name in names:
            driver.delete_key_pair(driver.get_key_pair(name))
        for volume in volumes:
            driver.get_volume(volume.id)  # let it finish creating
            driver.destroy_volume(volume)


# -- creates whose answer is lost ------------------------------------------------------------


def test_lost_server_create_leaves_exactly_one(driver: OpenStackNodeDriver,
                                              fake: OpenStackFake, mode: str) -> None:
    name = unique("lost")
    fake.lose_next.add("server")
    before = len(fake.api.requests)
    node = call(mode, driver, "create_node", name, driver.get_size("1"),
                pick_image(driver.list_images()))
    try:
        mine = [s for s in fake.region().servers.values() if s["name"] == name]
        assert [s["id"] for s in mine] == [node.id]
        assert len(seen(fake, "POST", "/servers", before)) == 1  # never resent
        lookup = seen(fake, "GET", "/servers/detail", before)
        assert lookup and lookup[0].arg("name") == f"^{name}$"
        assert node.extra["metadata"]["overcast-token"] == mine[0]["metadata"]["overcast-token"]
    finally:
        driver.destroy_node(node)


def test_refused_server_create_is_sent_again(driver: OpenStackNodeDriver, fake: OpenStackFake,
                                             mode: str) -> None:
    name = unique("again")
    fake.refuse_next.add("server")
    before = len(fake.api.requests)
    node = call(mode, driver, "create_node", name, driver.get_size("1"),
                pick_image(driver.list_images()))
    try:
        assert [s["id"] for s in fake.region().servers.values() if s["name"] == name] == [
            node.id]
        assert len(seen(fake, "POST", "/servers", before)) == 2
    finally:
        driver.destroy_node(node)


def test_lost_creates_of_other_resources_are_found(driver: OpenStackNodeDriver,
                                                   fake: OpenStackFake, node: Node,
                                                   mode: str) -> None:
    region = fake.region()
    fake.lose_next.add("volume")
    volume = call(mode, driver, "create_volume", 1, unique("lv"))
    assert [v["id"] for v in region.volumes.values() if v["name"] == volume.name] == [volume.id]
    driver.get_volume(volume.id)
    fake.lose_next.add("snapshot")
    snap = call(mode, driver, "create_volume_snapshot", volume, unique("ls"))
    assert [s["id"] for s in region.snapshots.values() if s["volume_id"] == volume.id] == [
        snap.id]
    driver.get_volume_snapshot(snap.id)
    driver.destroy_volume_snapshot(snap)
    fake.lose_next.add("attachment")
    assert call(mode, driver, "attach_volume", node, volume) is True
    assert region.volumes[volume.id]["status"] == "in-use"
    assert call(mode, driver, "detach_volume", volume) is True
    driver.destroy_volume(volume)
    name = unique("lk")
    fake.lose_next.add("keypair")
    pair = call(mode, driver, "import_key_pair_from_string", name, PUBLIC_KEY)
    assert pair.name == name and name in region.keypairs
    driver.delete_key_pair(pair)
    fake.lose_next.add("image")
    image = call(mode, driver, "create_image", node, unique("li"))
    assert [i["id"] for i in region.images.values() if i["name"] == image.name] == [image.id]
    driver.delete_image(image)
    fake.lose_next.add("floatingip")
    ip = call(mode, driver, "ex_create_floating_ip", "public")
    assert [f["id"] for f in region.floatingips.values()
            if f["description"] == ip.extra["description"]] == [ip.id]
    driver.ex_delete_floating_ip(ip)


class DroppingProxy:
    """Forwards HTTP/1.1 requests to the fixture; drops the client connection
    (after the fixture answered) for the next request ``drop`` matches."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.split("://", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.drop: Callable[[bytes], bool] | None = None
        self.dropped = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket, buffer: bytearray) -> bytes | None:
        """One HTTP message (head and Content-Length body) from ``conn``."""
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buffer += chunk
        head, _, _rest = bytes(buffer).partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value.strip())
        total = len(head) + 4 + length
        while len(buffer) < total:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buffer += chunk
        message = bytes(buffer[:total])
        del buffer[:total]
        return message

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        buffer = bytearray()
        with client:
            while True:
                request = self._read(client, buffer)
                if request is None:
                    return
                with socket.create_connection(self.upstream) as upstream:
                    upstream.sendall(request)
                    response = self._read(upstream, bytearray())
                if response is None:
                    return
                if self.drop is not None and self.drop(request):
                    self.drop = None
                    self.dropped += 1
                    client.shutdown(socket.SHUT_RDWR)
                    return
                client.sendall(response)

    def close(self) -> None:
        self.sock.close()


def test_create_whose_connection_drops_leaves_exactly_one(
        request: pytest.FixtureRequest, fake: OpenStackFake, mode: str) -> None:
    proxy = DroppingProxy(fake.base_url)
    try:
        with make_driver(request, auth_url=f"{proxy.url}/identity/v3") as driver:
            size = driver.get_size("1")
            image = pick_image(driver.list_images())
            name = unique("drop")
            proxy.drop = lambda raw: raw.startswith(b"POST ") and b"/servers HTTP" in raw[:200]
            before = len(fake.api.requests)
            node = call(mode, driver, "create_node", name, size, image)
            try:
                assert proxy.dropped == 1
                mine = [s["id"] for s in fake.region().servers.values() if s["name"] == name]
                assert mine == [node.id]
                assert len(seen(fake, "POST", "/servers", before)) == 1
            finally:
                driver.destroy_node(node)
    finally:
        proxy.close()


# -- nodes, images, key pairs -----------------------------------------------------------------


def test_node_model(driver: OpenStackNodeDriver, node: Node) -> None:
    assert node.state == NodeState.RUNNING
    assert node.private_ips and node.private_ips[0].startswith("10.0.")
    assert node.public_ips == []
    assert node.size is not None and node.size.name == "m1.tiny" and node.size.ram == 512
    assert node.image is not None and node.extra["availability_zone"] == "nova"
    assert node.extra["tenant_id"] == PROJECT_ID
    assert node.created_at is not None
    password = node.extra.get("password")
    assert password is None or "Secret" in repr(password)


def test_states_follow_actions(driver: OpenStackNodeDriver, fake: OpenStackFake, node: Node,
                               mode: str) -> None:
    assert call(mode, driver, "stop_node", node) is True
    assert driver.get_node(node.id).state == NodeState.STOPPING
    assert driver.get_node(node.id).state == NodeState.STOPPED
    with pytest.raises(ProviderError) as caught:
        call(mode, driver, "stop_node", node)
    assert caught.value.status == 409 and caught.value.code == "conflictingRequest"
    assert call(mode, driver, "start_node", node) is True
    assert driver.get_node(node.id).state == NodeState.STARTING
    assert driver.get_node(node.id).state == NodeState.RUNNING
    assert call(mode, driver, "reboot_node", node, ex_hard=True) is True
    assert fake.region().servers[node.id]["status"] == "HARD_REBOOT"
    assert driver.get_node(node.id).state == NodeState.RUNNING


def test_not_found_errors(driver: OpenStackNodeDriver, mode: str) -> None:
    gone = Node(id=str(uuid.uuid4()), name="gone", state=NodeState.UNKNOWN, driver=driver)
    with pytest.raises(NodeNotFound):
        call(mode, driver, "reboot_node", gone)
    with pytest.raises(NodeNotFound):
        call(mode, driver, "destroy_node", gone)
    with pytest.raises(SizeNotFound):
        call(mode, driver, "get_size", "no-such-flavor")
    with pytest.raises(ImageNotFound):
        call(mode, driver, "delete_image", NodeImage(id=str(uuid.uuid4()), name="x"))


def test_invalid_input_sends_nothing(request: pytest.FixtureRequest, fake: OpenStackFake,
                                     node: Node) -> None:
    sent: list[object] = []
    with make_driver(request, requests=sent) as driver:
        size = driver.get_size("1")
        image = pick_image(driver.list_images())
        volume = StorageVolume(id=str(uuid.uuid4()), name="v", size=1, driver=driver)
        before = len(sent)
        bad_calls: list[Callable[[], object]] = [
            lambda: driver.create_node(" padded ", size, image),
            lambda: driver.create_node("ok", size, image, ex_networks="bogus"),
            lambda: driver.create_node("ok", "1", image),  # type: ignore[arg-type]
            lambda: driver.create_node("ok", size, image, ex_metadata={"k": "v" * 256}),
            lambda: driver.create_volume(0, "v"),
            lambda: driver.create_volume(1, ""),
            lambda: driver.attach_volume(node, volume, "sdb"),
            lambda: driver.get_key_pair(""),
            lambda: driver.ex_create_floating_ip(""),
        ]
        for bad in bad_calls:
            with pytest.raises(InvalidInput):
                bad()
        assert len(sent) == before
    with pytest.raises(InvalidInput):
        make_driver(request, compute_microversion="2.30")
    with pytest.raises(InvalidInput):
        make_driver(request, page_size=0)
    with pytest.raises(InvalidInput):
        make_driver(request, interface="private")


def test_public_images_cannot_be_deleted(driver: OpenStackNodeDriver, mode: str) -> None:
    with pytest.raises(ProviderError) as caught:
        call(mode, driver, "delete_image", pick_image(driver.list_images()))
    assert caught.value.status == 403


@pytest.mark.parametrize("microversion", ["2.79", "2.47"])
def test_create_image_from_a_node(request: pytest.FixtureRequest, fake: OpenStackFake,
                                  microversion: str) -> None:
    with make_driver(request, compute_microversion=microversion) as driver:
        node = running(driver, new_node(driver))
        try:
            image = driver.create_image(node, unique("snap"), "made by a test")
            assert image.extra["status"] in ("queued", "saving", "active")
            assert image.extra["instance_uuid"] == node.id
            assert image.extra["description"] == "made by a test"
            assert driver.get_image(image.id).extra["status"] in ("saving", "active")
            assert driver.delete_image(image) is True
            with pytest.raises(ImageNotFound):
                driver.get_image(image.id)
        finally:
            driver.destroy_node(node)


def test_ssh_key_auth_registers_a_key_pair_once(driver: OpenStackNodeDriver,
                                                fake: OpenStackFake) -> None:
    first = new_node(driver, auth=NodeAuthSSHKey(PUBLIC_KEY))
    second = new_node(driver, auth=NodeAuthSSHKey(PUBLIC_KEY))
    try:
        key_name = first.extra["key_name"]
        assert key_name and key_name.startswith("overcast-")
        assert second.extra["key_name"] == key_name
        assert fake.region().keypairs[key_name]["public_key"] == PUBLIC_KEY
    finally:
        driver.destroy_node(first)
        driver.destroy_node(second)
        driver.delete_key_pair(driver.get_key_pair(key_name))


def test_key_pair_errors(driver: OpenStackNodeDriver, mode: str) -> None:
    name = unique("dup")
    pair = call(mode, driver, "create_key_pair", name)
    try:
        assert pair.private_key is not None and "PRIVATE KEY" in pair.private_key.reveal()
        assert pair.fingerprint and pair.public_key
        with pytest.raises(KeyPairAlreadyExists):
            call(mode, driver, "create_key_pair", name)
        with pytest.raises(KeyPairAlreadyExists):
            call(mode, driver, "import_key_pair_from_string", name, PUBLIC_KEY)
    finally:
        driver.delete_key_pair(pair)


# -- floating IPs ------------------------------------------------------------------------------


def test_floating_ips(driver: OpenStackNodeDriver, node: Node, mode: str) -> None:
    ip = call(mode, driver, "ex_create_floating_ip", "public")
    try:
        assert isinstance(ip, OpenStackFloatingIP) and ip.ip_address.startswith("172.24.4.")
        assert ip.port_id is None
        assert ip.id in {f.id for f in call(mode, driver, "ex_list_floating_ips")}
        assert call(mode, driver, "ex_attach_floating_ip", node, ip) is True
        current = driver.get_node(node.id)
        assert current.public_ips == [ip.ip_address]
        assert current.private_ips == node.private_ips
        attached = next(f for f in driver.ex_list_floating_ips() if f.id == ip.id)
        assert attached.port_id and attached.fixed_ip_address == node.private_ips[0]
        assert call(mode, driver, "ex_detach_floating_ip", ip.ip_address) is True
        assert driver.get_node(node.id).public_ips == []
    finally:
        assert call(mode, driver, "ex_delete_floating_ip", ip) is True
    assert ip.id not in {f.id for f in driver.ex_list_floating_ips()}
    with pytest.raises(NotFound):
        call(mode, driver, "ex_delete_floating_ip", ip)
    with pytest.raises(NotFound):
        call(mode, driver, "ex_create_floating_ip", "no-such-network")
    with pytest.raises(ProviderError) as caught:
        call(mode, driver, "ex_create_floating_ip", "private")
    assert caught.value.status == 400


def test_floating_ips_page(driver: OpenStackNodeDriver, fake: OpenStackFake) -> None:
    made = [driver.ex_create_floating_ip("public") for _ in range(3)]
    try:
        before = len(fake.api.requests)
        assert {f.id for f in made} <= {f.id for f in driver.ex_list_floating_ips()}
        assert len(seen(fake, "GET", "/v2.0/floatingips", before)) >= 2
    finally:
        for ip in made:
            driver.ex_delete_floating_ip(ip)


# -- throttling and secrecy --------------------------------------------------------------------


def test_over_limit_is_retried(request: pytest.FixtureRequest, fake: OpenStackFake,
                               mode: str) -> None:
    with make_driver(request, retry=RetryPolicy(base=0.01)) as driver:
        driver.get_size("1")
        fake.throttle.extend([413, 429])
        before = len(fake.api.requests)
        assert call(mode, driver, "get_size", "2").name == "m1.small"
        assert len(seen(fake, "GET", "/flavors/2", before)) == 3
        fake.throttle.extend([413] * 10)
        before = len(fake.api.requests)
        with pytest.raises(RateLimited):
            call(mode, driver, "get_size", "2")
        assert len(seen(fake, "GET", "/flavors/2", before)) == 5
        fake.throttle.clear()


def test_secrets_stay_out_of_logs_reprs_and_errors(
        request: pytest.FixtureRequest, fake: OpenStackFake, caplog: pytest.LogCaptureFixture,
        mode: str) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-password-kept-out-of-logs"
    with make_driver(request, secret=wrong) as bad, pytest.raises(InvalidCredentials) as caught:
        call(mode, bad, "list_nodes")
    texts = [str(caught.value), repr(caught.value), repr(bad), repr(bad.session)]
    with make_driver(request) as good:
        pair = call(mode, good, "create_key_pair", unique("sec"))
        call(mode, good, "list_sizes")
        node = good.create_node(unique("sec"), good.get_size("1"),
                                pick_image(good.list_images()))
        texts += [repr(good), repr(pair), repr(node), repr(node.extra), str(good.session)]
        good.destroy_node(node)
        good.delete_key_pair(pair)
        private = pair.private_key.reveal() if pair.private_key else ""
    with make_driver(request, key=None, secret=None, project=None,
                     application_credential_id=APP_CRED_ID,
                     application_credential_secret=APP_CRED_SECRET) as app:
        call(mode, app, "list_sizes")
        texts.append(repr(app))
    assert caplog.records, "DEBUG logging was expected to record the requests"
    texts.append(caplog.text)
    for value in (wrong, PASSWORD, APP_CRED_SECRET, private, *fake.tokens):
        for text in texts:
            assert value not in text
