"""The libvirt driver on libvirt's in-process test hypervisor (``test:///default``,
no daemon), in both modes: each operation family, checked behind the driver's
back on a second connection to the same hypervisor."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import libvirt  # type: ignore[import-untyped]  # missing: these tests fail, not skip
import pytest

from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.drivers.libvirt import DISK_PREFIX
from overcast.compute.drivers.libvirt import METADATA_NS
from overcast.compute.drivers.libvirt import LibvirtNodeDriver
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import LocationNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.runtime.redact import Secret
from overcast.testing import MODES
from overcast.testing import call

URI = "test:///default"
POOL = "default-pool"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def conn() -> Iterator[Any]:
    """A connection of the test's own to the hypervisor the driver sees: the test
    hypervisor's state is shared by the connections of a process, and starts
    afresh once the last one closes."""
    connection = libvirt.open(URI)
    yield connection
    connection.close()


@pytest.fixture
def kvm(conn: Any) -> Iterator[LibvirtNodeDriver]:
    with LibvirtNodeDriver(URI, page_size=2) as driver:
        yield driver


@pytest.fixture
def image(kvm: LibvirtNodeDriver, conn: Any) -> Iterator[NodeImage]:
    made = kvm.ex_create_image_volume(unique("image"), 16)
    yield made
    conn.storageVolLookupByKey(made.id).delete(0)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def small(kvm: LibvirtNodeDriver) -> NodeSize:
    return kvm.list_sizes()[0]


@pytest.fixture
def define(conn: Any) -> Iterator[Callable[..., str]]:
    """``define(name, memory_mib=, vcpus=)``: a shut-off domain defined behind the
    driver's back (its UUID), undefined again after the test."""
    made: list[str] = []

    def make(name: str, *, memory_mib: int = 256, vcpus: int = 1) -> str:
        dom = conn.defineXML(
            f"<domain type='test'><name>{name}</name><memory unit='MiB'>{memory_mib}</memory>"
            f"<vcpu>{vcpus}</vcpu><os><type>hvm</type></os></domain>"
        )
        made.append(dom.UUIDString())
        return str(made[-1])

    yield make
    for node_id in set(made) & domains(conn):
        conn.lookupByUUIDString(node_id).undefine()


def volumes(conn: Any) -> set[str]:
    return set(conn.storagePoolLookupByName(POOL).listVolumes())


def domains(conn: Any) -> set[str]:
    return {d.UUIDString() for d in conn.listAllDomains(0)}


# -- nodes --------------------------------------------------------------------------------


def test_nodes_are_described_a_page_at_a_time(
    kvm: LibvirtNodeDriver, conn: Any, define: Callable[..., str], mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = {define(unique("listed"), memory_mib=256 * (i + 1), vcpus=i + 1): i
            for i in range(4)}
    pages: list[int] = []
    real = kvm._describe_many

    def describe_many(page: Any) -> Any:
        pages.append(len(page))
        return real(page)

    monkeypatch.setattr(kvm, "_describe_many", describe_many)
    listed = call(mode, kvm, "list_nodes")
    total = len(conn.listAllDomains(0))
    assert {n.id for n in listed} == domains(conn) and len(listed) == total >= 5
    assert pages == [2] * (total // 2) + [1] * (total % 2)  # page_size=2: every page read
    for node in listed:
        if node.id in made:
            i = made[node.id]
            assert (node.state, node.extra["libvirt_state"], node.extra["domain_id"]) == (
                NodeState.STOPPED, "shutoff", None)
            assert node.size is not None
            assert (node.size.id, node.size.ram, node.extra["vcpus"]) == (
                f"{i + 1}-{256 * (i + 1)}", 256 * (i + 1), i + 1)
            assert (node.public_ips, node.private_ips, node.image) == ([], [], None)
    # The test hypervisor's own running domain "test" is there, with an address.
    [test] = [n for n in listed if n.name == "test"]
    assert test.state == NodeState.RUNNING and test.extra["domain_id"] is not None
    assert test.private_ips and test.public_ips == []


def test_get_node_by_uuid_in_any_spelling_and_not_found(
    kvm: LibvirtNodeDriver, define: Callable[..., str], mode: str
) -> None:
    name = unique("lookup me")
    node_id = define(name, memory_mib=512, vcpus=2)
    got = call(mode, kvm, "get_node", node_id.upper())
    assert (got.id, got.name, got.extra["uuid"], got.state) == (
        node_id, name, node_id, NodeState.STOPPED)
    assert got.size is not None and got.size.id == "2-512"
    assert got.extra["location"] == "hypervisor" and got.extra["domain_type"] == "test"
    for missing in (str(uuid.uuid4()), name, "", 42):
        with pytest.raises(NodeNotFound):
            call(mode, kvm, "get_node", missing)


def test_one_node_created_rebooted_stopped_started_and_destroyed(
    kvm: LibvirtNodeDriver, conn: Any, image: NodeImage, mode: str
) -> None:
    size = kvm.get_size("2-2048")
    before = volumes(conn)
    node = call(mode, kvm, "create_node", "web 1", size, image)
    disk = f"{DISK_PREFIX}{node.id}"
    try:
        assert (node.name, node.state, node.size, node.image) == (
            "web 1", NodeState.RUNNING, size, image)
        assert node.extra["networks"] == ["default"] and len(node.private_ips) == 1
        assert volumes(conn) == before | {disk}  # the image was cloned for this node
        # The domain as defined: the size, the cloned disk, the driver's metadata.
        root = ET.fromstring(conn.lookupByUUIDString(node.id).XMLDesc(0))
        assert (root.get("type"), root.findtext("uuid"), root.findtext("vcpu")) == (
            "test", node.id, "2")
        assert root.findtext("memory") == str(2048 * 1024)  # KiB
        source = root.find("devices/disk/source")
        assert source is not None and source.attrib == {"pool": POOL, "volume": disk}
        meta = root.find(f"metadata/{{{METADATA_NS}}}node")
        assert meta is not None
        assert {child.tag.split("}")[1]: child.text for child in meta} == {
            "token": node.id, "size": "2-2048", "image": image.id, "disk": f"/{POOL}/{disk}"}

        assert call(mode, kvm, "reboot_node", node) is True
        assert conn.lookupByUUIDString(node.id).state()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert call(mode, kvm, "stop_node", node) is True
        assert conn.lookupByUUIDString(node.id).state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
        stopped = call(mode, kvm, "get_node", node.id)
        assert (stopped.state, stopped.private_ips) == (NodeState.STOPPED, [])
        assert call(mode, kvm, "start_node", node) is True
        assert call(mode, kvm, "get_node", node.id).state == NodeState.RUNNING
    finally:
        assert call(mode, kvm, "destroy_node", node) is True
    assert node.id not in domains(conn)
    assert volumes(conn) == before  # the clone went with it; the image stays
    with pytest.raises(NodeNotFound):
        call(mode, kvm, "destroy_node", node)


def test_a_node_on_the_image_itself_and_without_a_network(
    kvm: LibvirtNodeDriver, conn: Any, image: NodeImage, mode: str
) -> None:
    before = volumes(conn)
    node = call(mode, kvm, "create_node", unique("bare"), small(kvm), image,
                ex_network=None, ex_clone_disk=False, ex_domain_type="test")
    try:
        assert volumes(conn) == before
        assert [d["volume"] for d in node.extra["disks"]] == [image.name]
        assert (node.extra["networks"], node.extra["mac_addresses"], node.private_ips) == (
            [], [], [])
        assert "disk" not in node.extra["overcast"]
    finally:
        kvm.destroy_node(node)
    assert volumes(conn) == before  # the image is never deleted with a node


# -- sizes, images, locations, volumes ---------------------------------------------------------


def test_sizes_images_and_the_location(kvm: LibvirtNodeDriver, image: NodeImage, mode: str
                                       ) -> None:
    sizes = call(mode, kvm, "list_sizes")
    assert [(s.id, s.ram, s.disk, s.extra["vcpus"]) for s in sizes] == [
        ("1-512", 512, 0, 1), ("2-2048", 2048, 0, 2), ("4-4096", 4096, 0, 4)]
    node = kvm.create_node(unique("img"), sizes[0], image)
    try:
        listed = {i.id: i for i in call(mode, kvm, "list_images")}
        assert listed[image.id].name == image.name
        assert not any(i.name.startswith(DISK_PREFIX) for i in listed.values())  # node disks
    finally:
        kvm.destroy_node(node)
    got = call(mode, kvm, "get_image", image.id)
    assert (got.id, got.name, got.extra["pool"], got.extra["format"], got.extra["capacity"]) == (
        f"/{POOL}/{image.name}", image.name, POOL, "qcow2", 16 * 1024 * 1024)
    for missing in (f"/{POOL}/nothing-here", "nothing-here", ""):
        with pytest.raises(ImageNotFound):
            call(mode, kvm, "get_image", missing)
    [location] = call(mode, kvm, "list_locations")
    assert (location.id, location.extra["type"], location.extra["uri"]) == (
        "hypervisor", "TEST", URI)
    assert call(mode, kvm, "get_location", "hypervisor").id == "hypervisor"


def test_image_volumes_are_made_in_a_pool(kvm: LibvirtNodeDriver, conn: Any, mode: str) -> None:
    name = unique("raw")
    made = call(mode, kvm, "ex_create_image_volume", name, 8, format="raw")
    try:
        assert (made.id, made.name, made.extra["format"], made.extra["capacity"]) == (
            f"/{POOL}/{name}", name, "raw", 8 * 1024 * 1024)
        vol = conn.storageVolLookupByKey(made.id)
        assert vol.info()[1] == 8 * 1024 * 1024
        with pytest.raises(AlreadyExists, match="already exists"):
            call(mode, kvm, "ex_create_image_volume", name, 8)
    finally:
        conn.storageVolLookupByKey(made.id).delete(0)
    # Volumes of nodes (block storage attached to a node) are not a libvirt feature here.
    assert not kvm.supports("create_volume") and not kvm.supports("list_volumes")
    with pytest.raises(NotSupported):
        call(mode, kvm, "list_volumes")


# -- errors ----------------------------------------------------------------------------------


def test_libvirt_errors_map_to_overcasts(
    kvm: LibvirtNodeDriver, conn: Any, define: Callable[..., str], image: NodeImage, mode: str
) -> None:
    with pytest.raises(ProviderError) as missing_pool:
        call(mode, kvm, "ex_create_image_volume", unique("vol"), 8, pool="no-such-pool")
    assert missing_pool.value.code == "VIR_ERR_NO_STORAGE_POOL"
    assert "no-such-pool" in str(missing_pool.value)

    node_id = define(unique("off"))
    node = kvm.get_node(node_id)
    with pytest.raises(ProviderError) as not_running:
        call(mode, kvm, "ex_suspend_node", node)
    assert not_running.value.code == "VIR_ERR_INTERNAL_ERROR"
    assert "not running" in str(not_running.value)

    before = volumes(conn)
    with pytest.raises(AlreadyExists, match=f"'{node.name}' already exists"):
        call(mode, kvm, "create_node", node.name, small(kvm), image)
    assert volumes(conn) == before  # the disk cloned for it is deleted again
    conn.lookupByUUIDString(node_id).undefine()
    with pytest.raises(NodeNotFound, match=node_id):  # VIR_ERR_NO_DOMAIN
        call(mode, kvm, "start_node", node)


def test_invalid_input_does_nothing(
    kvm: LibvirtNodeDriver, conn: Any, image: NodeImage, mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    size = small(kvm)
    before = (domains(conn), volumes(conn))
    opened: list[str] = []

    def connection() -> Any:
        opened.append("libvirt")
        return conn

    monkeypatch.setattr(kvm, "_conn", connection)
    bad: list[tuple[type[Exception], tuple[Any, ...], dict[str, Any]]] = [
        (InvalidInput, ("a/b", size, image), {}),
        (InvalidInput, ("ok", NodeSize("0-0", "none", 0, 0), image), {}),
        (InvalidInput, ("ok", NodeSize("1-1", "x", 1, 0, extra={"vcpus": True}), image), {}),
        (InvalidInput, ("ok", size, image), {"ex_network": ""}),
        (InvalidInput, ("ok", size, image), {"ex_domain_type": ""}),
        (InvalidInput, ("ok", size.id, image), {}),
        (LocationNotFound, ("ok", size, image, NodeLocation("moon", "moon")), {}),
        (NotSupported, ("ok", size, image), {"auth": NodeAuthPassword(Secret("hunter2"))}),
    ]
    for error, args, kwargs in bad:
        with pytest.raises(error):
            call(mode, kvm, "create_node", *args, **kwargs)
    for name, size_mib, fmt in (("bad/name", 8, "raw"), ("ok", 0, "raw"), ("ok", True, "raw"),
                                ("ok", 8, "vmdk")):
        with pytest.raises(InvalidInput):
            call(mode, kvm, "ex_create_image_volume", name, size_mib, format=fmt)
    with pytest.raises(InvalidInput):
        call(mode, kvm, "reboot_node", "not-a-node")
    with pytest.raises(NodeNotFound):
        call(mode, kvm, "get_node", "not-a-uuid")
    with pytest.raises(ImageNotFound):
        call(mode, kvm, "get_image", "")
    assert opened == []  # libvirt was never called
    assert (domains(conn), volumes(conn)) == before
    with pytest.raises(InvalidInput):
        LibvirtNodeDriver(URI, page_size=0)
    with pytest.raises(InvalidInput):
        LibvirtNodeDriver("test:///default with space")
    with pytest.raises(InvalidInput):
        LibvirtNodeDriver(URI, 7)  # type: ignore[arg-type]
