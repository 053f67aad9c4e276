"""A fake compute provider and a fake SSH server, for the compute unit tests.

``FakeCloud`` keeps its nodes in a dict; each ``get_node`` moves a node one
step along its boot sequence (pending, starting, running), and a node gets its
addresses once running. Its operations do their work through ``Call`` effects,
as a driver with a blocking library would, so they run in a worker thread in
async mode. ``FakeSSHServer`` decides which logins work and what commands
print, and records everything the clients did.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from overcast.compute.base import KeyPair
from overcast.compute.base import Node
from overcast.compute.base import NodeAuth
from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.ssh import SSHAuthenticationFailed
from overcast.compute.ssh import SSHCommandTimeout
from overcast.errors import ImageNotFound
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import KeyPairNotFound
from overcast.errors import NodeNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.redact import Secret
from servers import modes

BOOT = (NodeState.PENDING, NodeState.STARTING, NodeState.RUNNING)
GENERATED_PASSWORD = "generated-Pa55word"

SIZES = [
    NodeSize("small", "Small", 1024, 20, None, 0.01),
    NodeSize("large", "Large", 8192, 160, 1000, 0.08),
]
LOCATIONS = [NodeLocation("eu-1", "Europe 1", "DE"), NodeLocation("us-1", "US 1", "US")]
IMAGES = [NodeImage("debian-12", "Debian 12"), NodeImage("ubuntu-24.04", "Ubuntu 24.04")]


class FakeSSHServer:
    """The SSH side of the fake provider's nodes."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.logins: list[dict[str, Any]] = []
        self.refuse = 0
        self.users = {"root"}
        self.files: dict[str, str | bytes] = {}
        self.modes: dict[str, int | None] = {}
        self.results: dict[str, tuple[str, str, int]] = {}
        self.run_errors: list[BaseException] = []
        self.closed = 0

    def client(self, **login: Any) -> FakeSSHClient:
        self.logins.append(login)
        return FakeSSHClient(self, login["hostname"], login["username"])


class FakeSSHClient:
    """An SSHClient that talks to a FakeSSHServer."""

    def __init__(self, server: FakeSSHServer, hostname: str, username: str) -> None:
        self.server = server
        self.hostname = hostname
        self.username = username

    def connect(self) -> None:
        self.server.log.append(("connect", self.username, self.hostname))
        if self.server.refuse > 0:
            self.server.refuse -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        if self.username not in self.server.users:
            raise SSHAuthenticationFailed(f"authentication as {self.username!r} failed")

    def put(
        self, path: str, contents: str | bytes | None = None, chmod: int | None = None,
        mode: str = "w",
    ) -> str:
        full = path if path.startswith("/") else f"/home/{self.username}/{path}"
        self.server.log.append(("put", full, mode, chmod))
        data = contents or ""
        if mode == "a":
            data = self.server.files.get(full, type(data)()) + data  # type: ignore[operator]
        self.server.files[full] = data
        self.server.modes[full] = chmod
        return full

    def run(self, cmd: str, timeout: float | None = None) -> tuple[str, str, int]:
        self.server.log.append(("run", cmd, timeout))
        if self.server.run_errors:
            raise self.server.run_errors.pop(0)
        for name, result in self.server.results.items():
            if name in cmd:
                return result
        return ("ok\n", "", 0)

    def delete(self, path: str) -> None:
        self.server.log.append(("delete", path))
        self.server.files.pop(path, None)

    def close(self) -> None:
        self.server.closed += 1


class SlowCommandClient(FakeSSHClient):
    """A client whose commands always time out."""

    def run(self, cmd: str, timeout: float | None = None) -> tuple[str, str, int]:
        self.server.log.append(("run", cmd, timeout))
        raise SSHCommandTimeout(cmd, timeout or 0.0)


class FakeCloud(NodeDriver):
    """An in-memory compute provider (no network)."""

    name = "fake"

    def __init__(
        self,
        *,
        boot: tuple[NodeState, ...] = BOOT,
        addresses: tuple[str, ...] = ("2001:db8::10", "203.0.113.10"),
        hidden_gets: int = 0,
        ssh_server: FakeSSHServer | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.boot = boot
        self.addresses = addresses
        self.hidden_gets = hidden_gets
        self.ssh_server = ssh_server or FakeSSHServer()
        self.nodes: dict[str, Node] = {}
        self.stage: dict[str, int] = {}
        self.hidden: dict[str, int] = {}
        self.gets: list[str] = []
        self.actions: list[tuple[str, str]] = []
        self.key_pairs: dict[str, KeyPair] = {}
        self._ids = itertools.count(1)

    # -- state changes, run through Call effects --------------------------------

    def _create(
        self, name: str, size: NodeSize, image: NodeImage, location: NodeLocation | None,
        auth: NodeAuth | None,
    ) -> Node:
        node_id = f"node-{next(self._ids)}"
        extra: dict[str, Any] = {"location": location.id if location else None}
        if auth is None:
            extra["password"] = Secret(GENERATED_PASSWORD)
        node = Node(node_id, name, self.boot[0], driver=self, size=size, image=image, extra=extra)
        self.nodes[node_id] = node
        self.stage[node_id] = 0
        self.hidden[node_id] = self.hidden_gets
        return node

    def _advance(self, node_id: str) -> Node:
        self.gets.append(node_id)
        if node_id not in self.nodes or self.hidden[node_id] > 0:
            if node_id in self.hidden:
                self.hidden[node_id] -= 1
            raise NodeNotFound(node_id, driver=self)
        stage = self.stage[node_id] = min(self.stage[node_id] + 1, len(self.boot) - 1)
        state = self.boot[stage]
        public = list(self.addresses) if state == NodeState.RUNNING else []
        node = dataclasses.replace(self.nodes[node_id], state=state, public_ips=public)
        self.nodes[node_id] = node
        return node

    def _act(self, action: str, node: Node) -> bool:
        if node.id not in self.nodes:
            raise NodeNotFound(node.id, driver=self)
        self.actions.append((action, node.id))
        if action == "destroy":
            del self.nodes[node.id]
        return True

    # -- operations ---------------------------------------------------------------

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        nodes: list[Node] = yield Call(lambda: list(self.nodes.values()))
        for node in nodes:
            yield Emit(node)

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        node: Node = yield Call(self._advance, node_id)
        return node

    @operation
    def create_node(
        self, name: str, size: NodeSize, image: NodeImage, location: NodeLocation | None = None,
        auth: NodeAuth | None = None,
    ) -> Op[Node]:
        node: Node = yield Call(self._create, name, size, image, location, auth)
        return node

    @operation
    def reboot_node(self, node: Node) -> Op[bool]:
        return (yield Call(self._act, "reboot", node))

    @operation
    def start_node(self, node: Node) -> Op[bool]:
        return (yield Call(self._act, "start", node))

    @operation
    def stop_node(self, node: Node) -> Op[bool]:
        return (yield Call(self._act, "stop", node))

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        return (yield Call(self._act, "destroy", node))

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        for size in SIZES:  # two "pages", each fetched through an effect
            page: list[NodeSize] = yield Call(lambda s=size: [dataclasses.replace(s, driver=self)])
            for item in page:
                yield Emit(item)

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        page: list[NodeLocation] = yield Call(
            lambda: [dataclasses.replace(loc, driver=self) for loc in LOCATIONS]
        )
        for location in page:
            yield Emit(location)

    @iterator
    def iterate_images(self, location: NodeLocation | None = None) -> Iter[NodeImage]:
        page: list[NodeImage] = yield Call(
            lambda: [dataclasses.replace(image, driver=self) for image in IMAGES]
        )
        for image in page:
            yield Emit(image)

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        images: list[NodeImage] = yield from self.list_images.op()
        for image in images:
            if image.id == image_id:
                return image
        raise ImageNotFound(image_id, driver=self)

    @iterator
    def iterate_key_pairs(self) -> Iter[KeyPair]:
        pairs: list[KeyPair] = yield Call(lambda: list(self.key_pairs.values()))
        for pair in pairs:
            yield Emit(pair)

    @operation
    def get_key_pair(self, name: str) -> Op[KeyPair]:
        pair: KeyPair | None = yield Call(self.key_pairs.get, name)
        if pair is None:
            raise KeyPairNotFound(name, driver=self)
        return pair

    def _add_key_pair(self, name: str, public_key: str, private_key: str | None) -> KeyPair:
        if name in self.key_pairs:
            raise KeyPairAlreadyExists(name, driver=self)
        pair = KeyPair(name, public_key, f"SHA256:{len(public_key)}", driver=self)
        self.key_pairs[name] = pair
        if private_key is None:
            return pair
        return dataclasses.replace(pair, private_key=Secret(private_key))

    @operation
    def create_key_pair(self, name: str) -> Op[KeyPair]:
        pair: KeyPair = yield Call(
            self._add_key_pair, name, "ssh-ed25519 AAAAgenerated",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0\n-----END OPENSSH PRIVATE KEY-----",
        )
        return pair

    @operation
    def import_key_pair_from_string(self, name: str, key_material: str) -> Op[KeyPair]:
        pair: KeyPair = yield Call(self._add_key_pair, name, key_material, None)
        return pair

    @operation
    def delete_key_pair(self, key_pair: KeyPair) -> Op[bool]:
        removed = yield Call(self.key_pairs.pop, key_pair.name, None)
        if removed is None:
            raise KeyPairNotFound(key_pair.name, driver=self)
        return True

    # -- SSH -----------------------------------------------------------------------

    def _ssh_client(
        self, hostname: str, port: int, username: str, password: Secret | None, key: Any,
        timeout: float | None,
    ) -> FakeSSHClient:
        return self.ssh_server.client(
            hostname=hostname, port=port, username=username, password=password, key=key,
            timeout=timeout,
        )


class BareDriver(NodeDriver):
    """A compute driver that implements nothing."""

    name = "bare"


@pytest.fixture
def bare() -> BareDriver:
    """A driver with no operation implemented."""
    return BareDriver()


@pytest.fixture
def cloud() -> Callable[..., FakeCloud]:
    """Make a FakeCloud (keyword arguments as its constructor's)."""
    return FakeCloud


@pytest.fixture
def call(mode: str) -> Callable[..., Any]:
    """``call(driver, "op", *args, **kwargs)``: run an operation in this test's mode
    (``servers.modes.call``; iterator operations come back as lists)."""

    def run(driver: NodeDriver, op_name: str, /, *args: Any, **kwargs: Any) -> Any:
        assert op_name in type(driver).operations(), op_name
        return modes.call(mode, driver, op_name, *args, **kwargs)

    run.mode = mode  # type: ignore[attr-defined]
    return run
