"""The libvirt compute driver against libvirt's built-in test hypervisor (``test:///default``)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import libvirt  # a missing libvirt-python fails these tests; it does not skip them
import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.drivers.libvirt import METADATA_NS
from overcast.compute.drivers.libvirt import LibvirtNodeDriver
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import LocationNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import TransportError
from servers.compute_libvirt import IMAGE
from servers.compute_libvirt import POOL
from servers.compute_libvirt import anchor
from servers.compute_libvirt import make_target
from servers.modes import call

SRC = str(Path(__file__).resolve().parents[3] / "src")


@pytest.fixture
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LibvirtNodeDriver]:
    target = make_target(request, tmp_path)
    drv = target.driver
    assert isinstance(drv, LibvirtNodeDriver)
    with drv:
        yield drv


@pytest.fixture
def conn(request: pytest.FixtureRequest) -> Any:
    """The test process's own connection to the same test hypervisor (to look behind the driver)."""
    return anchor(request)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def size_and_image(driver: LibvirtNodeDriver) -> tuple[NodeSize, NodeImage]:
    size = driver.get_size("1-512")
    image = next(i for i in driver.list_images() if i.name == IMAGE)
    return size, image


def make(driver: LibvirtNodeDriver, name: str | None = None, **kwargs: Any) -> Node:
    size, image = size_and_image(driver)
    return driver.create_node(name or unique("lv"), size, image, **kwargs)


def volume_names(conn: Any) -> set[str]:
    return set(conn.storagePoolLookupByName(POOL).listVolumes())


# -- states ---------------------------------------------------------------------------------


def test_states_follow_start_stop_reboot_suspend_destroy(
    driver: LibvirtNodeDriver, conn: Any, mode: str
) -> None:
    size, image = size_and_image(driver)
    node = call(mode, driver, "create_node", unique("st"), size, image)
    try:
        assert node.state == NodeState.RUNNING
        assert conn.lookupByUUIDString(node.id).state()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert node.extra["libvirt_state"] == "running"
        assert node.size is not None and node.size.id == "1-512" and node.size.ram == 512
        assert node.image is not None and node.image.id == image.id

        assert call(mode, driver, "stop_node", node) is True
        assert call(mode, driver, "get_node", node.id).state == NodeState.STOPPED
        assert call(mode, driver, "stop_node", node) is True  # already off: left as it is
        assert call(mode, driver, "start_node", node) is True
        assert call(mode, driver, "get_node", node.id).state == NodeState.RUNNING
        assert call(mode, driver, "reboot_node", node) is True
        assert call(mode, driver, "get_node", node.id).state == NodeState.RUNNING

        assert call(mode, driver, "ex_suspend_node", node) is True
        paused = call(mode, driver, "get_node", node.id)
        assert paused.state == NodeState.PAUSED and paused.extra["libvirt_state"] == "paused"
        assert call(mode, driver, "start_node", node) is True  # resumes a paused domain
        assert call(mode, driver, "get_node", node.id).state == NodeState.RUNNING
        assert call(mode, driver, "ex_suspend_node", node) is True
        assert call(mode, driver, "ex_resume_node", node) is True
        assert call(mode, driver, "get_node", node.id).state == NodeState.RUNNING

        # A domain stopped behind the driver's back is seen as stopped.
        conn.lookupByUUIDString(node.id).destroy()
        assert call(mode, driver, "get_node", node.id).state == NodeState.STOPPED
        conn.lookupByUUIDString(node.id).create()
    finally:
        assert call(mode, driver, "destroy_node", node) is True
    with pytest.raises(NodeNotFound):
        call(mode, driver, "get_node", node.id)
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByUUIDString(node.id)


def test_every_libvirt_state_maps(driver: LibvirtNodeDriver) -> None:
    from overcast.compute.drivers.libvirt import _STATES

    assert _STATES == {
        libvirt.VIR_DOMAIN_NOSTATE: NodeState.UNKNOWN,
        libvirt.VIR_DOMAIN_RUNNING: NodeState.RUNNING,
        libvirt.VIR_DOMAIN_BLOCKED: NodeState.RUNNING,
        libvirt.VIR_DOMAIN_PAUSED: NodeState.PAUSED,
        libvirt.VIR_DOMAIN_SHUTDOWN: NodeState.STOPPED,
        libvirt.VIR_DOMAIN_SHUTOFF: NodeState.STOPPED,
        libvirt.VIR_DOMAIN_CRASHED: NodeState.ERROR,
        libvirt.VIR_DOMAIN_PMSUSPENDED: NodeState.SUSPENDED,
    }


def test_a_shut_off_domain_is_listed_and_started(
    driver: LibvirtNodeDriver, conn: Any, mode: str
) -> None:
    node = make(driver)
    try:
        conn.lookupByUUIDString(node.id).shutdown()
        listed = {n.id: n for n in call(mode, driver, "list_nodes")}
        assert listed[node.id].state == NodeState.STOPPED
        assert listed[node.id].private_ips == []  # no address while off
        assert listed[node.id].extra["domain_id"] is None
        call(mode, driver, "start_node", listed[node.id])
        assert driver.get_node(node.id).state == NodeState.RUNNING
    finally:
        driver.destroy_node(node)


def test_addresses_and_wait_until_running(driver: LibvirtNodeDriver, mode: str) -> None:
    node = make(driver)
    try:
        # The test hypervisor reports one made-up address (192.168.x.y, from the
        # domain's id) per interface: a private address.
        assert node.public_ips == []
        assert len(node.private_ips) == 1
        assert ipaddress.ip_address(node.private_ips[0]).is_private
        assert node.extra["networks"] == ["default"] and node.extra["mac_addresses"]
        [(running, addresses)] = call(
            mode, driver, "wait_until_running", [node], wait_period=0.01, timeout=5,
            ssh_interface="private_ips",
        )
        assert running.state == NodeState.RUNNING and addresses == node.private_ips
    finally:
        driver.destroy_node(node)
    bare = make(driver, ex_network=None)
    try:
        assert bare.private_ips == [] and bare.extra["networks"] == []
    finally:
        driver.destroy_node(bare)


# -- names and XML --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a<b&c", "x'y\"z", "]]><domain>", "<!-- c -->", "naïve ✓ node", "  spaced  "]
)
def test_names_with_xml_characters_are_escaped(
    driver: LibvirtNodeDriver, conn: Any, mode: str, name: str
) -> None:
    size, image = size_and_image(driver)
    node = call(mode, driver, "create_node", name, size, image)
    try:
        assert node.name == name
        assert call(mode, driver, "get_node", node.id).name == name
        dom = conn.lookupByUUIDString(node.id)
        assert dom.name() == name
        root = ET.fromstring(dom.XMLDesc(0))
        # The name is one text node, not markup: one <domain>, one <name>, the driver's metadata.
        assert root.tag == "domain" and root.findtext("name") == name
        assert len(root.findall("name")) == 1 and len(root.findall("devices")) == 1
        meta = root.find(f"metadata/{{{METADATA_NS}}}node")
        assert meta is not None and meta.findtext(f"{{{METADATA_NS}}}token") == node.id
    finally:
        driver.destroy_node(node)


@pytest.mark.parametrize(
    "name", ["a/b", "tab\there", "nul\x00", "bell\x07", "del\x7f", " ", "x" * 256, 42]
)
def test_names_libvirt_refuses_are_rejected_before_any_call(
    driver: LibvirtNodeDriver, conn: Any, name: Any
) -> None:
    size, image = size_and_image(driver)
    before = {d.UUIDString() for d in conn.listAllDomains()}
    volumes = volume_names(conn)
    with pytest.raises(InvalidInput):
        driver.create_node(name, size, image)
    assert {d.UUIDString() for d in conn.listAllDomains()} == before
    assert volume_names(conn) == volumes


def test_other_invalid_input(driver: LibvirtNodeDriver) -> None:
    size, image = size_and_image(driver)
    with pytest.raises(InvalidInput):
        driver.create_node("ok", "1-512", image)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        driver.create_node("ok", size, image.id)  # type: ignore[arg-type]
    with pytest.raises(LocationNotFound):
        driver.create_node("ok", size, image, NodeLocation("elsewhere", "elsewhere"))
    with pytest.raises(NotSupported, match="cloud-init"):
        driver.create_node("ok", size, image, auth=NodeAuthSSHKey("ssh-ed25519 AAAA x"))
    with pytest.raises(InvalidInput):
        driver.create_node("ok", size, image, auth="hunter2")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        driver.reboot_node("not-a-node")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        LibvirtNodeDriver("test:///default", page_size=0)
    with pytest.raises(InvalidInput):
        LibvirtNodeDriver("")


def test_domain_type(driver: LibvirtNodeDriver, conn: Any, mode: str) -> None:
    size, image = size_and_image(driver)
    node = call(mode, driver, "create_node", unique("ty"), size, image, ex_domain_type="test")
    try:
        assert node.extra["domain_type"] == "test"
        assert ET.fromstring(conn.lookupByUUIDString(node.id).XMLDesc(0)).get("type") == "test"
    finally:
        driver.destroy_node(node)
    before = volume_names(conn)
    with pytest.raises(InvalidInput, match="offers: test"):
        call(mode, driver, "create_node", unique("ty"), size, image, ex_domain_type="kvm")
    assert volume_names(conn) == before


def test_the_hypervisor_location_is_accepted(driver: LibvirtNodeDriver, mode: str) -> None:
    [location] = call(mode, driver, "list_locations")
    assert location.id == "hypervisor" and location.extra["type"] == "TEST"
    size, image = size_and_image(driver)
    node = call(mode, driver, "create_node", unique("loc"), size, image, location)
    driver.destroy_node(node)


# -- not found, duplicates, disks --------------------------------------------------------------


def test_not_found(driver: LibvirtNodeDriver, mode: str) -> None:
    missing = str(uuid.uuid4())
    for node_id in (missing, "i-00000000deadbeef0", "", "../etc"):
        with pytest.raises(NodeNotFound):
            call(mode, driver, "get_node", node_id)
    node = make(driver)
    driver.destroy_node(node)
    for action in ("reboot_node", "start_node", "stop_node", "destroy_node", "ex_suspend_node"):
        with pytest.raises(NodeNotFound):
            call(mode, driver, action, node)
    with pytest.raises(ImageNotFound):
        call(mode, driver, "get_image", f"/{POOL}/no-such-volume")
    size, _ = size_and_image(driver)
    gone = NodeImage(f"/{POOL}/no-such-volume", "gone", driver=driver)
    with pytest.raises(ImageNotFound):
        call(mode, driver, "create_node", unique("noimg"), size, gone)


def test_disk_is_a_clone_deleted_with_the_node(
    driver: LibvirtNodeDriver, conn: Any, mode: str
) -> None:
    before = volume_names(conn)
    node = call(mode, driver, "create_node", unique("disk"), *size_and_image(driver))
    disk = f"overcast-disk-{node.id}"
    try:
        assert volume_names(conn) == before | {disk}
        assert node.extra["disks"][0]["volume"] == disk
        assert node.extra["disks"][0]["pool"] == POOL
        # Node disks are not offered as images.
        assert disk not in {i.name for i in call(mode, driver, "list_images")}
    finally:
        call(mode, driver, "destroy_node", node)
    assert volume_names(conn) == before


def test_without_cloning_the_image_volume_is_attached_and_kept(
    driver: LibvirtNodeDriver, conn: Any
) -> None:
    before = volume_names(conn)
    node = make(driver, ex_clone_disk=False)
    try:
        assert volume_names(conn) == before
        assert node.extra["disks"][0]["volume"] == IMAGE
    finally:
        driver.destroy_node(node)
    assert IMAGE in volume_names(conn)


def test_a_taken_name_is_refused_and_leaves_nothing(
    driver: LibvirtNodeDriver, conn: Any, mode: str
) -> None:
    node = make(driver)
    try:
        domains = len(conn.listAllDomains())
        volumes = volume_names(conn)
        size, image = size_and_image(driver)
        with pytest.raises(AlreadyExists):
            call(mode, driver, "create_node", node.name, size, image)
        assert len(conn.listAllDomains()) == domains
        assert volume_names(conn) == volumes  # the disk cloned for it was deleted again
    finally:
        driver.destroy_node(node)


def test_a_create_with_unknown_outcome_is_found_not_repeated(
    driver: LibvirtNodeDriver, conn: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The connection fails after the domain was defined: create_node finds it by its UUID."""
    real = driver._define_and_start
    calls: list[str] = []

    def define_then_lose_the_answer(xml: str) -> Any:
        calls.append(xml)
        real(xml)
        raise OutcomeUnknown("connection reset after defineXML", driver=driver)

    monkeypatch.setattr(driver, "_define_and_start", define_then_lose_the_answer)
    name = unique("once")
    node = call(mode, driver, "create_node", name, *size_and_image(driver))
    try:
        assert len(calls) == 1 and node.name == name
        assert [d.name() for d in conn.listAllDomains()].count(name) == 1
        assert node.state == NodeState.RUNNING
    finally:
        monkeypatch.undo()
        driver.destroy_node(node)


def rpc_error(message: str = "Cannot recv data: Connection reset by peer") -> Any:
    """A libvirtError as the RPC layer raises it when the connection to the daemon drops."""
    error = libvirt.libvirtError(message)
    error.err = (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_RPC, message, 2,
                 None, None, None, 0, 0)
    return error


def test_a_create_lost_before_it_was_made_is_sent_again(
    driver: LibvirtNodeDriver, conn: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The connection drops before the define: nothing was made, so the same create
    (same UUID, same cloned disk) is sent again, and made once."""
    real = driver._define_and_start
    tokens: list[str] = []

    def lose_the_first(xml: str) -> Any:
        tokens.append(ET.fromstring(xml).findtext("uuid") or "")
        if len(tokens) == 1:
            raise rpc_error()
        return real(xml)

    monkeypatch.setattr(driver, "_define_and_start", lose_the_first)
    before = volume_names(conn)
    name = unique("again")
    node = call(mode, driver, "create_node", name, *size_and_image(driver))
    try:
        assert len(tokens) == 2 and tokens[0] == tokens[1] == node.id
        assert [d.name() for d in conn.listAllDomains()].count(name) == 1
        assert volume_names(conn) == before | {f"overcast-disk-{node.id}"}
    finally:
        monkeypatch.undo()
        driver.destroy_node(node)
    assert volume_names(conn) == before


def test_a_dropped_connection_is_a_transport_error_and_reopened(
    driver: LibvirtNodeDriver, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    node_id = driver.list_nodes()[0].id

    def broken(node_id: str) -> Any:
        raise rpc_error()

    monkeypatch.setattr(driver, "_describe_uuid", broken)
    with pytest.raises(TransportError, match="Connection reset"):
        call(mode, driver, "get_node", node_id)
    monkeypatch.undo()
    assert driver.get_node(node_id).id == node_id  # the connection still works (it is alive)


def test_other_libvirt_errors_are_provider_errors(driver: LibvirtNodeDriver, mode: str) -> None:
    node = make(driver)
    try:
        driver.stop_node(node)
        with pytest.raises(ProviderError) as caught:
            call(mode, driver, "reboot_node", node)  # a shut-off domain cannot reboot
        assert caught.value.code == "VIR_ERR_OPERATION_INVALID"
        assert "not running" in str(caught.value)
    finally:
        driver.destroy_node(node)


def libvirt_error(code: int, message: str) -> Any:
    """A libvirtError with ``code``, raised by the hypervisor (not the RPC layer)."""
    error = libvirt.libvirtError(message)
    error.err = (code, libvirt.VIR_FROM_QEMU, message, 2, None, None, None, 0, 0)
    return error


@pytest.mark.parametrize(("code", "message", "expected"), [
    (libvirt.VIR_ERR_AUTH_FAILED, "authentication failed", InvalidCredentials),
    (libvirt.VIR_ERR_NO_SUPPORT, "this function is not supported", NotSupported),
    (libvirt.VIR_ERR_OPERATION_FAILED, "domain 'x' already exists", AlreadyExists),
    (libvirt.VIR_ERR_NO_DOMAIN, "Domain not found", NodeNotFound),
    (libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: oops", ProviderError),
])
def test_the_error_table(
    driver: LibvirtNodeDriver, monkeypatch: pytest.MonkeyPatch, mode: str, code: int,
    message: str, expected: type[Exception],
) -> None:
    node_id = driver.list_nodes()[0].id

    def failing(node_id: str) -> Any:
        raise libvirt_error(code, message)

    monkeypatch.setattr(driver, "_describe_uuid", failing)
    with pytest.raises(expected) as caught:
        call(mode, driver, "get_node", node_id)
    if isinstance(caught.value, ProviderError):
        assert caught.value.code == "VIR_ERR_INTERNAL_ERROR"


def test_volumes_snapshots_and_key_pairs_are_not_supported(driver: LibvirtNodeDriver) -> None:
    for name in ("create_volume", "list_volumes", "create_key_pair", "list_key_pairs",
                 "create_volume_snapshot"):
        assert not driver.supports(name)
    with pytest.raises(NotSupported):
        driver.create_volume(1, "v")
    with pytest.raises(NotSupported):
        driver.list_key_pairs()


# -- listing ------------------------------------------------------------------------------------


def test_listing_describes_page_by_page(
    driver: LibvirtNodeDriver, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    made = [make(driver) for _ in range(3)]
    try:
        pages: list[int] = []
        real = driver._describe_many

        def describe(domains: Any) -> Any:
            pages.append(len(domains))
            return real(domains)

        monkeypatch.setattr(driver, "_describe_many", describe)
        listed = call(mode, driver, "list_nodes")
        assert {n.id for n in made} <= {n.id for n in listed}
        assert pages and max(pages) <= driver.page_size == 2
        assert sum(pages) == len(listed) and len(pages) == -(-len(listed) // 2)
    finally:
        monkeypatch.undo()
        for node in made:
            driver.destroy_node(node)


def test_images_are_read_one_pool_at_a_time(
    driver: LibvirtNodeDriver, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    pools: list[str] = []
    real = driver._pool_volumes

    def volumes(pool: Any) -> Any:
        pools.append(pool.name())
        return real(pool)

    monkeypatch.setattr(driver, "_pool_volumes", volumes)
    images = call(mode, driver, "list_images")
    assert IMAGE in {i.name for i in images}
    assert pools and len(pools) == len(set(pools))  # each active pool read once


def test_sizes_and_images(driver: LibvirtNodeDriver, mode: str) -> None:
    sizes = call(mode, driver, "list_sizes")
    assert [(s.id, s.extra["vcpus"], s.ram) for s in sizes] == [
        ("1-512", 1, 512), ("2-2048", 2, 2048), ("4-4096", 4, 4096)
    ]
    image = call(mode, driver, "get_image", f"/{POOL}/{IMAGE}")
    assert image.name == IMAGE and image.extra["pool"] == POOL
    assert image.extra["format"] == "qcow2" and image.extra["capacity"] == 64 * 1024**2


# -- the blocking library, threads and the connection ----------------------------------------


def test_libvirt_runs_in_worker_threads_when_async(
    driver: LibvirtNodeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[threading.Thread] = []
    real = libvirt.virConnect.listAllDomains

    def recording(self: Any, flags: int = 0) -> Any:
        seen.append(threading.current_thread())
        time.sleep(0.3)  # a slow hypervisor
        return real(self, flags)

    monkeypatch.setattr(libvirt.virConnect, "listAllDomains", recording)

    driver.list_nodes()
    assert seen == [threading.current_thread()]  # sync: the caller's thread
    seen.clear()

    ticks: list[float] = []

    async def main() -> None:
        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await anyio.sleep(0.02)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            nodes = await driver.aio.list_nodes()
            tg.cancel_scope.cancel()
        assert nodes

    anyio.run(main)
    assert len(seen) == 1 and seen[0] is not threading.main_thread()
    assert seen[0] is not threading.current_thread()
    assert len(ticks) >= 5  # the event loop kept running during the 0.3 s call


def test_the_connection_is_opened_lazily_and_kept(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchor(request)
    opened: list[str] = []
    real_open = libvirt.open

    def counting_open(uri: str | None = None) -> Any:
        opened.append(threading.current_thread().name)
        return real_open(uri)

    monkeypatch.setattr(libvirt, "open", counting_open)
    drv = LibvirtNodeDriver("test:///default", page_size=2)
    repr(drv)
    assert drv.supports("create_node") and drv.list_sizes()  # sizes need no hypervisor
    assert opened == []
    drv.list_nodes()
    drv.get_node(drv.list_nodes()[0].id)

    async def twice() -> None:
        await drv.aio.list_nodes()
        await drv.aio.list_images()

    anyio.run(twice)
    assert len(opened) == 1
    drv.close()
    drv.list_nodes()  # reopens
    assert len(opened) == 2
    drv.close()

    fresh = LibvirtNodeDriver("test:///default")
    anyio.run(fresh.aio.list_nodes)
    assert len(opened) == 3 and opened[-1] != threading.current_thread().name  # a worker opened it
    fresh.close()


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_constructing_the_driver_does_not_import_libvirt() -> None:
    result = _run_python(
        "import sys\n"
        "from overcast.compute import get_driver\n"
        "d = get_driver('libvirt')('test:///default')\n"
        "repr(d); d.list_sizes()\n"
        "assert 'libvirt' not in sys.modules, 'imported'\n"
        "d.list_nodes()\n"
        "assert 'libvirt' in sys.modules\n"
        "print('ok')\n"
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_without_libvirt_python_the_error_says_what_to_install() -> None:
    result = _run_python(
        "import sys\n"
        "sys.modules['libvirt'] = None  # as if it were not installed\n"
        "from overcast.compute.drivers.libvirt import LibvirtNodeDriver\n"
        "from overcast.errors import NotSupported\n"
        "d = LibvirtNodeDriver('test:///default')\n"
        "try:\n"
        "    d.list_nodes()\n"
        "except NotSupported as e:\n"
        "    print(isinstance(e, ImportError), e)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True ")  # a missing extra is an ImportError too
    assert 'pip install "overcast[libvirt]"' in result.stdout


def test_an_unreachable_hypervisor_is_a_transport_error(mode: str) -> None:
    drv = LibvirtNodeDriver("qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    with drv, pytest.raises(TransportError, match="cannot connect to libvirt"):
        call(mode, drv, "list_nodes")


def test_credentials_stay_out_of_reprs_and_errors(mode: str) -> None:
    drv = LibvirtNodeDriver(
        "qemu+unix:///system?socket=/nonexistent/libvirt-sock", "admin", "hunter2-secret"
    )
    assert "hunter2" not in repr(drv) and "hunter2" not in repr(vars(drv))
    with drv, pytest.raises(TransportError) as caught:
        call(mode, drv, "list_nodes")
    assert "hunter2" not in str(caught.value)


def test_key_and_secret_answer_the_hypervisor_credential_prompts() -> None:
    drv = LibvirtNodeDriver("test:///default", "admin", "s3cret-pass")
    creds = [[libvirt.VIR_CRED_AUTHNAME, "user", "", None, None],
             [libvirt.VIR_CRED_PASSPHRASE, "pass", "", None, None]]
    assert drv._answer_credentials(creds, None) == 0
    assert creds[0][4] == "admin" and creds[1][4] == "s3cret-pass"
    no_secret = LibvirtNodeDriver("test:///default", "admin")
    assert no_secret._answer_credentials([[libvirt.VIR_CRED_PASSPHRASE, "", "", None, None]],
                                         None) == -1
    with drv:
        assert drv.list_nodes()  # openAuth on the test hypervisor


def test_image_volume_for_a_first_node(tmp_path: object) -> None:
    from overcast.compute import Provider
    from overcast.compute import get_driver
    from overcast.errors import InvalidInput

    with get_driver(Provider.LIBVIRT)("test:///default") as kvm:
        image = kvm.ex_create_image_volume("first-disk", 16)
        assert image.name == "first-disk" and image.extra["capacity"] == 16 * 1024 * 1024
        assert kvm.get_image(image.id).id == image.id
        with pytest.raises(InvalidInput):
            kvm.ex_create_image_volume("bad/name", 16)
        with pytest.raises(InvalidInput):
            kvm.ex_create_image_volume("zero", 0)
