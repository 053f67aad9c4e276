"""The compute contract, stated once, run against every compute driver in both modes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from overcast.compute.base import KeyPair
from overcast.compute.base import Node
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.base import StorageVolume
from overcast.compute.base import VolumeSnapshot
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import KeyPairNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from servers.compute_target import ComputeTarget
from servers.modes import call

# An ed25519 public key in OpenSSH form, for key-pair imports.
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl overcast"
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_node(target: ComputeTarget, name: str | None = None) -> Node:
    driver = target.driver
    size = target.pick_size(driver.list_sizes())
    image = target.pick_image(driver.list_images())
    node: Node = driver.create_node(name or unique("oc"), size, image, **target.create_kwargs)
    return node


@pytest.fixture
def node(compute_target: ComputeTarget) -> Iterator[Node]:
    made = make_node(compute_target)
    yield made
    with contextlib.suppress(NodeNotFound):
        compute_target.driver.destroy_node(made)


def gone_or_terminated(target: ComputeTarget, node: Node) -> bool:
    """Poll (bounded) until the node is gone or terminated: real clouds take a while."""
    import time

    deadline = time.monotonic() + 60
    while True:
        try:
            if target.driver.get_node(node.id).state == NodeState.TERMINATED:
                return True
        except NodeNotFound:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(target.wait_period)


def settle(target: ComputeTarget, node: Node, *states: NodeState) -> Node:
    """Poll ``get_node`` until the node is in one of ``states`` (bounded)."""
    import time

    deadline = time.monotonic() + 60
    while True:
        current = target.driver.get_node(node.id)
        if current.state in states or time.monotonic() > deadline:
            assert current.state in states, (current.state, states)
            return current
        time.sleep(target.wait_period)


# -- catalogue ----------------------------------------------------------------------------


def test_sizes_images_locations(compute_target: ComputeTarget, mode: str) -> None:
    driver = compute_target.driver
    sizes = call(mode, driver, "list_sizes")
    assert sizes and all(isinstance(s, NodeSize) for s in sizes)
    assert call(mode, driver, "get_size", sizes[-1].id).id == sizes[-1].id
    images = call(mode, driver, "list_images")
    assert images and all(isinstance(i, NodeImage) for i in images)
    image = compute_target.pick_image(images)
    assert call(mode, driver, "get_image", image.id).id == image.id
    with pytest.raises(ImageNotFound):
        call(mode, driver, "get_image", "no-such-image-0000")
    if driver.supports("list_locations"):
        locations = call(mode, driver, "list_locations")
        assert locations and all(isinstance(loc, NodeLocation) for loc in locations)
        assert call(mode, driver, "get_location", locations[0].id).id == locations[0].id


# -- nodes -------------------------------------------------------------------------------


def test_node_lifecycle(compute_target: ComputeTarget, mode: str) -> None:
    driver = compute_target.driver
    size = compute_target.pick_size(driver.list_sizes())
    image = compute_target.pick_image(driver.list_images())
    name = unique("life")
    node = call(mode, driver, "create_node", name, size, image, **compute_target.create_kwargs)
    try:
        assert isinstance(node, Node) and node.name == name
        assert call(mode, driver, "get_node", node.id).name == name
        assert node.id in [n.id for n in call(mode, driver, "list_nodes")]
        [(running, addresses)] = call(
            mode, driver, "wait_until_running", [node],
            wait_period=compute_target.wait_period, timeout=60,
            ssh_interface="private_ips" if not node.public_ips else "public_ips",
        )
        assert running.state == NodeState.RUNNING and addresses
        assert call(mode, driver, "reboot_node", running) is True
        # Real clouds refuse a stop while a reboot is still going on.
        settle(compute_target, node, NodeState.RUNNING)
        if driver.supports("stop_node"):
            assert call(mode, driver, "stop_node", running) is True
            settle(compute_target, node, NodeState.STOPPED)
            assert call(mode, driver, "start_node", running) is True
            settle(compute_target, node, NodeState.RUNNING, NodeState.PENDING)
    finally:
        assert call(mode, driver, "destroy_node", node) is True
    assert gone_or_terminated(compute_target, node)


def test_node_not_found(compute_target: ComputeTarget, mode: str) -> None:
    with pytest.raises(NodeNotFound):
        call(mode, compute_target.driver, "get_node", "i-00000000deadbeef0")


def test_listing_crosses_pages(compute_target: ComputeTarget, mode: str) -> None:
    driver = compute_target.driver
    made = [make_node(compute_target) for _ in range(compute_target.page_size + 1)]
    try:
        listed = {n.id for n in call(mode, driver, "list_nodes")}
        assert {n.id for n in made} <= listed
        assert len(call(mode, driver, "iterate_nodes")) == len(listed)
    finally:
        for node in made:
            driver.destroy_node(node)


@pytest.mark.parametrize("bad_name", ["", "x" * 300, "bad\nname"])
def test_invalid_node_is_rejected_with_nothing_sent(
    compute_target: ComputeTarget, mode: str, bad_name: str
) -> None:
    driver = compute_target.driver
    size = compute_target.pick_size(driver.list_sizes())
    image = compute_target.pick_image(driver.list_images())
    before = {n.id for n in driver.list_nodes()}
    sent = len(compute_target.requests) if compute_target.requests is not None else 0
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_node", bad_name, size, image, **compute_target.create_kwargs)
    if compute_target.requests is not None:
        assert len(compute_target.requests) == sent
    assert {n.id for n in driver.list_nodes()} == before


# -- key pairs ---------------------------------------------------------------------------


def test_key_pairs(compute_target: ComputeTarget, mode: str) -> None:
    driver = compute_target.driver
    if not driver.supports("create_key_pair"):
        with pytest.raises(NotSupported):
            call(mode, driver, "create_key_pair", unique("kp"))
        return
    created = call(mode, driver, "create_key_pair", unique("kp"))
    imported = call(mode, driver, "import_key_pair_from_string", unique("imp"), PUBLIC_KEY)
    try:
        assert isinstance(created, KeyPair) and created.private_key is not None
        assert "PRIVATE" not in repr(created)
        assert call(mode, driver, "get_key_pair", created.name).name == created.name
        names = {k.name for k in call(mode, driver, "list_key_pairs")}
        assert {created.name, imported.name} <= names
    finally:
        assert call(mode, driver, "delete_key_pair", created) is True
        call(mode, driver, "delete_key_pair", imported)
    with pytest.raises(KeyPairNotFound):
        call(mode, driver, "get_key_pair", created.name)


# -- volumes and snapshots ---------------------------------------------------------------


def test_volumes_and_snapshots(compute_target: ComputeTarget, mode: str, node: Node) -> None:
    driver = compute_target.driver
    if not driver.supports("create_volume"):
        with pytest.raises(NotSupported):
            call(mode, driver, "create_volume", 1, unique("vol"))
        return
    location = node.extra.get("availability_zone") or node.extra.get("location")
    loc = None
    if location and driver.supports("list_locations"):
        loc = next((x for x in driver.list_locations() if x.id == location or x.name == location),
                   None)
    size = compute_target.volume_size
    volume = call(mode, driver, "create_volume", size, unique("vol"), loc)
    try:
        assert isinstance(volume, StorageVolume) and volume.size == size
        assert call(mode, driver, "get_volume", volume.id).id == volume.id
        assert volume.id in [v.id for v in call(mode, driver, "list_volumes")]
        settle(compute_target, node, NodeState.RUNNING)
        assert call(mode, driver, "attach_volume", node, volume, "/dev/sdh") is True
        assert call(mode, driver, "detach_volume", volume) is True
        if driver.supports("create_volume_snapshot"):
            snap = call(mode, driver, "create_volume_snapshot", volume, unique("snap"))
            assert isinstance(snap, VolumeSnapshot)
            assert snap.id in [s.id for s in call(mode, driver, "list_volume_snapshots", volume)]
            assert call(mode, driver, "get_volume_snapshot", snap.id).id == snap.id
            assert call(mode, driver, "destroy_volume_snapshot", snap) is True
            with pytest.raises(SnapshotNotFound):
                call(mode, driver, "get_volume_snapshot", snap.id)
    finally:
        assert call(mode, driver, "destroy_volume", volume) is True
    with pytest.raises(VolumeNotFound):
        call(mode, driver, "get_volume", volume.id)


def test_unsupported_operations_say_so(compute_target: ComputeTarget) -> None:
    for name, supported in type(compute_target.driver).operations().items():
        if not supported:
            with pytest.raises(NotSupported):
                getattr(compute_target.driver, name)(*_placeholders(compute_target, name))


def _placeholders(target: ComputeTarget, name: str) -> list[object]:
    import inspect

    fn = getattr(type(target.driver), name).fn
    params = list(inspect.signature(fn).parameters.values())[1:]
    required = [p for p in params if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [None] * len(required)
