"""The compute base API: models, capabilities, generic operations, wait_until_running.

Every operation test runs twice through the ``call`` fixture: once sync and
once async (``asyncio.run``). The fake provider lives in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pytest

import overcast.compute
from overcast.compute import Provider
from overcast.compute import get_driver
from overcast.compute.base import KeyPair
from overcast.compute.base import Node
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.base import PowerChange
from overcast.compute.base import StorageVolume
from overcast.compute.base import VolumeSnapshot
from overcast.compute.models import bound_driver
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import KeyPairNotFound
from overcast.errors import LocationNotFound
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import SizeNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.effects import Sleep
from overcast.runtime.operation import operations_of
from overcast.runtime.ops import pure
from overcast.runtime.redact import Secret

SMALL = NodeSize("small", "Small", 1024, 20)
DEBIAN = NodeImage("debian-12", "Debian 12")

# -- the async view and the area module --------------------------------------------


def test_every_operation_and_model_has_a_docstring() -> None:
    for name, op in operations_of(NodeDriver).items():
        assert op.__doc__, name
    for name in overcast.compute.__all__:
        assert getattr(overcast.compute, name).__doc__, name


def test_area_module_is_lazy_and_typed() -> None:
    assert overcast.compute.Node is Node
    assert overcast.compute.NodeDriver is NodeDriver
    assert "libvirt" in list(Provider)
    with pytest.raises(AttributeError):
        _ = overcast.compute.Nope  # type: ignore[attr-defined]
    with pytest.raises(NotSupported, match="no compute driver named 'nope'"):
        get_driver("nope")


# -- models --------------------------------------------------------------------------


def test_node_defaults_and_identity(cloud: Any) -> None:
    driver = cloud()
    node = Node("i-1", "web", NodeState.PENDING, driver=driver)
    assert node.public_ips == [] and node.private_ips == [] and node.extra == {}
    assert node.size is None and node.image is None and node.created_at is None
    newer = Node("i-1", "web", NodeState.RUNNING, ["203.0.113.1"], driver=driver)
    assert node == newer and hash(node) == hash(newer)
    assert node != Node("i-1", "web", NodeState.PENDING, driver=cloud())
    assert node != Node("i-2", "web", NodeState.PENDING, driver=driver)
    assert NodeImage("x", "x") != NodeSize("x", "x", 1, 1)
    assert "driver" not in repr(node)
    assert NodeState.RUNNING == "running"


def test_libcloud_positional_order() -> None:
    node = Node("i-1", "web", NodeState.RUNNING, ["1.2.3.4"], ["10.0.0.1"], None, SMALL, DEBIAN,
                {"k": "v"})
    assert (node.size, node.image, node.extra) == (SMALL, DEBIAN, {"k": "v"})
    size = NodeSize("s", "S", 512, 10, 100, 0.5, None, {"vcpus": 1})
    assert (size.bandwidth, size.price, size.extra) == (100, 0.5, {"vcpus": 1})
    assert NodeLocation("l", "L", "FR", None, {"a": 1}).extra == {"a": 1}
    volume = StorageVolume("v", "data", 10, None)
    assert volume.state == "unknown"
    snapshot = VolumeSnapshot("s", None, 10, {}, None)
    assert snapshot.state == "unknown" and snapshot.name is None


def test_secrets_stay_out_of_reprs() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0\n-----END OPENSSH PRIVATE KEY-----"
    pair = KeyPair("k", "ssh-ed25519 AAAA", "SHA256:x", private_key=Secret(pem))
    assert "c2VjcmV0" not in repr(pair) and "c2VjcmV0" not in str(pair)
    from_string = KeyPair("k", "ssh-ed25519 AAAA", "SHA256:x", None, pem)  # type: ignore[arg-type]
    assert isinstance(from_string.private_key, Secret)
    assert from_string.private_key.reveal() == pem
    assert "c2VjcmV0" not in repr(from_string)

    auth = NodeAuthPassword("hunter2-hunter2")  # type: ignore[arg-type]
    assert isinstance(auth.password, Secret)
    assert "hunter2" not in repr(auth) and "hunter2" not in f"{auth}"
    assert auth.password.reveal() == "hunter2-hunter2"
    assert NodeAuthPassword(Secret("x"), generated=True).generated
    assert NodeAuthSSHKey("ssh-ed25519 AAAA").pubkey == "ssh-ed25519 AAAA"


def test_model_conveniences_delegate_to_the_driver(cloud: Any) -> None:
    driver = cloud()
    node = driver.create_node("web", SMALL, DEBIAN)
    assert node.reboot() and node.start() and node.stop() and node.stop_node()
    assert node.destroy()
    assert driver.actions == [
        ("reboot", node.id), ("start", node.id), ("stop", node.id), ("stop", node.id),
        ("destroy", node.id),
    ]
    pair = driver.import_key_pair_from_string("me", "ssh-ed25519 AAAA")
    assert pair.delete() and driver.key_pairs == {}


def test_a_providers_own_object_without_a_driver_says_so() -> None:
    driver = Powers()
    assert bound_driver(driver, "address") is driver
    with pytest.raises(InvalidInput, match="this firewall is bound to no driver"):
        bound_driver(None, "firewall")


def test_unbound_models_say_so() -> None:
    with pytest.raises(InvalidInput, match="node 'i-1' is not bound to a driver"):
        Node("i-1", "web", NodeState.RUNNING).reboot()
    with pytest.raises(InvalidInput, match="volume"):
        StorageVolume("v-1", None, 10).destroy()
    with pytest.raises(InvalidInput, match="snapshot"):
        VolumeSnapshot("s-1").destroy()


def test_volume_conveniences_reach_the_driver(bare: Any) -> None:
    volume = StorageVolume("v-1", "data", 10, bare)
    node = Node("i-1", "web", NodeState.RUNNING, driver=bare)
    for action in (
        volume.list_snapshots, lambda: volume.attach(node), volume.detach,
        volume.snapshot, volume.destroy, VolumeSnapshot("s-1", bare).destroy,
    ):
        with pytest.raises(NotSupported):
            action()


# -- capabilities ----------------------------------------------------------------------


def _placeholder_args(name: str) -> tuple[list[Any], dict[str, Any]]:
    """``None`` for each required parameter of an operation: (positional, keyword-only)."""
    params = list(inspect.signature(operations_of(NodeDriver)[name].fn).parameters.values())[1:]
    required = [p for p in params if p.default is p.empty]
    args = [None for p in required if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    kwargs = {p.name: None for p in required if p.kind == p.KEYWORD_ONLY}
    return args, kwargs


@pytest.mark.parametrize("name", sorted(operations_of(NodeDriver)))
def test_unsupported_operations_raise_before_any_effect(bare: Any, name: str) -> None:
    assert not bare.supports(name)
    assert not bare.aio.supports(name)
    args, kwargs = _placeholder_args(name)
    # NotSupported comes at the latest on the first step, before any effect
    with pytest.raises(NotSupported, match=f"BareDriver does not support {name}"):
        next(getattr(bare, name).op(*args, **kwargs))


@pytest.mark.parametrize("name", ["list_nodes", "get_node", "list_volumes", "deploy_node"])
def test_unsupported_operations_raise_in_both_modes(bare: Any, name: str) -> None:
    args, kwargs = _placeholder_args(name)
    with pytest.raises(NotSupported):
        getattr(bare, name)(*args, **kwargs)

    async def main() -> None:
        await getattr(bare.aio, name)(*args, **kwargs)

    with pytest.raises(NotSupported):
        asyncio.run(main())


def test_supports_follows_what_the_driver_implements(cloud: Any) -> None:
    driver = cloud()
    for name in ("list_nodes", "get_node", "wait_until_running", "deploy_node", "get_size",
                 "get_location", "list_images", "import_key_pair_from_file"):
        assert driver.supports(name), name
    for name in ("list_volumes", "create_volume", "copy_image", "list_volume_snapshots",
                 "not_an_operation"):
        assert not driver.supports(name), name
    operations = driver.operations()
    assert set(operations) == set(operations_of(NodeDriver))
    assert operations["deploy_node"] and not operations["create_image"]


class Powers(NodeDriver):
    """A driver that fills only the power hook, recording what it was asked."""

    name = "powers"

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, str]] = []

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        self.asked.append((node.id, change))
        return (yield from pure(True))


def test_reboot_start_and_stop_are_the_power_hook(call: Any) -> None:
    driver = Powers()
    assert all(driver.supports(name) for name in ("reboot_node", "start_node", "stop_node"))
    node = Node("n1", "web", NodeState.RUNNING, driver=driver)
    for name in ("reboot_node", "start_node", "stop_node"):
        assert call(driver, name, node) is True
    assert driver.asked == [("n1", "reboot"), ("n1", "start"), ("n1", "stop")]


# -- listings and lookups ------------------------------------------------------------


def test_list_and_iterate(cloud: Any, call: Any) -> None:
    driver = cloud()
    assert call(driver, "list_nodes") == []
    made = [driver.create_node(f"n{i}", SMALL, DEBIAN) for i in range(3)]
    assert call(driver, "list_nodes") == made
    assert call(driver, "iterate_nodes") == made
    assert [s.id for s in call(driver, "list_sizes")] == ["small", "large"]
    assert [s.id for s in call(driver, "iterate_sizes", None)] == ["small", "large"]
    assert [loc.country for loc in call(driver, "list_locations")] == ["DE", "US"]
    assert [i.id for i in call(driver, "list_images")] == ["debian-12", "ubuntu-24.04"]
    assert all(s.driver is driver for s in call(driver, "list_sizes"))


def test_generic_get_size_and_location(cloud: Any, call: Any) -> None:
    driver = cloud()
    assert call(driver, "get_size", "large").ram == 8192
    assert call(driver, "get_location", "us-1").name == "US 1"
    with pytest.raises(SizeNotFound, match="size not found: 'huge'"):
        call(driver, "get_size", "huge")
    with pytest.raises(LocationNotFound, match="location not found"):
        call(driver, "get_location", "mars-1")


def test_key_pairs(cloud: Any, call: Any, tmp_path: Any) -> None:
    driver = cloud()
    key_file = tmp_path / "id_ed25519.pub"
    key_file.write_text("ssh-ed25519 AAAAfromfile me@laptop\n")
    imported = call(driver, "import_key_pair_from_file", "laptop", str(key_file))
    assert imported.public_key == "ssh-ed25519 AAAAfromfile me@laptop"
    created = call(driver, "create_key_pair", "generated")
    assert isinstance(created.private_key, Secret)
    assert "c2VjcmV0" not in repr(created)
    assert {p.name for p in call(driver, "list_key_pairs")} == {"laptop", "generated"}
    assert call(driver, "get_key_pair", "laptop") == imported
    with pytest.raises(KeyPairAlreadyExists):
        call(driver, "import_key_pair_from_string", "laptop", "ssh-ed25519 AAAA")
    assert call(driver, "delete_key_pair", imported)
    with pytest.raises(KeyPairNotFound):
        call(driver, "get_key_pair", "laptop")


def test_import_key_pair_from_file_reads_through_a_call_effect(cloud: Any, tmp_path: Any) -> None:
    key_file = tmp_path / "key.pub"
    key_file.write_text("ssh-rsa AAAA\n")
    gen = cloud().import_key_pair_from_file.op("k", key_file)
    effect = next(gen)
    assert isinstance(effect, Call) and effect.args == (key_file,)
    gen.close()


# -- wait_until_running -----------------------------------------------------------------


def test_wait_until_running(cloud: Any, call: Any) -> None:
    driver = cloud(hidden_gets=1)  # the provider does not know the node at first
    node = driver.create_node("web", SMALL, DEBIAN)
    [(running, addresses)] = call(driver, "wait_until_running", [node], wait_period=0.001)
    assert running == node and running.state == NodeState.RUNNING
    assert addresses == ["203.0.113.10"]  # IPv4 only by default
    assert driver.gets == [node.id] * 3  # not found, starting, running


def test_wait_until_running_many_nodes_keeps_order(cloud: Any, call: Any) -> None:
    driver = cloud()
    nodes = [driver.create_node(f"n{i}", SMALL, DEBIAN) for i in range(5)]
    result = call(driver, "wait_until_running", nodes[::-1], 0.001, 5, "public_ips", False)
    assert [n for n, _ in result] == nodes[::-1]
    assert all(a == ["2001:db8::10", "203.0.113.10"] for _, a in result)
    assert len(driver.gets) == 10  # each node fetched twice; never listed


def test_wait_until_running_through_list_nodes(cloud: Any, call: Any) -> None:
    driver = cloud(boot=(NodeState.RUNNING,))
    node = driver.create_node("web", SMALL, DEBIAN)
    driver.nodes[node.id].public_ips.append("198.51.100.7")
    result = call(driver, "wait_until_running", [node], ex_list_nodes_kwargs={})
    assert result == [(node, ["198.51.100.7"])]
    assert driver.gets == []


def test_wait_until_running_times_out(cloud: Any, call: Any) -> None:
    driver = cloud(addresses=())  # running, but never an address
    node = driver.create_node("web", SMALL, DEBIAN)
    with pytest.raises(OperationTimeout, match=r"'web' \(id node-1\): running, 0 usable"):
        call(driver, "wait_until_running", [node], wait_period=0.01, timeout=0.05)


def test_wait_until_running_checks_its_arguments(cloud: Any, call: Any) -> None:
    driver = cloud()
    node = driver.create_node("web", SMALL, DEBIAN)
    with pytest.raises(InvalidInput, match="ssh_interface"):
        call(driver, "wait_until_running", [node], ssh_interface="eth0")
    with pytest.raises(InvalidInput, match="wait_period"):
        call(driver, "wait_until_running", [node], wait_period=0)
    assert call(driver, "wait_until_running", []) == []
    assert driver.gets == []


def _drive(op: Any, clock: list[float], sleeps: list[float]) -> Any:
    """Run an operation with a virtual clock: ``Sleep`` advances it, nothing waits."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = op.throw(error) if error is not None else op.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            if isinstance(effect, Call) and effect.fn is time.monotonic:
                value = clock[0]
            elif isinstance(effect, Call):
                value = effect.fn(*effect.args, **effect.kwargs)
            elif isinstance(effect, Sleep):
                sleeps.append(effect.seconds)
                clock[0] += effect.seconds
            elif isinstance(effect, Parallel):
                value = [_drive(sub, clock, sleeps) for sub in effect.ops]
            else:
                raise AssertionError(f"unexpected effect {effect!r}")
        except Exception as exc:
            error = exc


def test_wait_until_running_uses_effects_for_time(cloud: Any) -> None:
    driver = cloud(addresses=())
    node = driver.create_node("web", SMALL, DEBIAN)
    clock, sleeps = [1000.0], []
    with pytest.raises(OperationTimeout, match="timed out after 12s"):
        _drive(driver.wait_until_running.op([node], wait_period=5, timeout=12), clock, sleeps)
    assert sleeps == [5, 5, 2]
    assert len(driver.gets) == 4  # a last look at the deadline
    assert clock == [1012.0]


def test_wait_until_running_polls_only_nodes_not_ready(cloud: Any) -> None:
    driver = cloud()
    fast = driver.create_node("fast", SMALL, DEBIAN)
    driver.stage[fast.id] = 1  # one step from running
    slow = driver.create_node("slow", SMALL, DEBIAN)
    clock: list[float] = [0.0]
    result = _drive(driver.wait_until_running.op([fast, slow], wait_period=1), clock, [])
    assert [n.name for n, _ in result] == ["fast", "slow"]
    assert driver.gets == [fast.id, slow.id, slow.id]
