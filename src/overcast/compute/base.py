"""Compute: the models and the driver API every compute driver shares.

Names and positional parameters follow Apache Libcloud 3.x
(``libcloud.compute.base.NodeDriver``), so its users port code by changing
imports; overcast's additions are keyword-only. Every operation is available
sync (``driver.x()``) and async (``await driver.aio.x()``); a driver that lacks
one raises :class:`~overcast.errors.NotSupported` before doing anything (see
``driver.supports()``).

Every ``list_*`` operation has an ``iterate_*`` twin that streams page by page,
and every resource can be fetched by id with a ``get_*`` operation.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeAlias

from overcast.compute import ssh
from overcast.compute.deployment import Deployment, DeploymentError
from overcast.driver import AsyncView, BaseDriver
from overcast.errors import (
    InvalidInput,
    LocationNotFound,
    NodeNotFound,
    NotSupported,
    OperationCancelled,
    OperationTimeout,
    SizeNotFound,
)
from overcast.models import Model
from overcast.runtime.effects import Call, Guarded, Iter, Op, Parallel, Sleep
from overcast.runtime.operation import aio, iterator, not_supported, operation, requires
from overcast.runtime.ops import collect, find_first
from overcast.runtime.redact import Secret

__all__ = [
    "KeyPair",
    "Node",
    "NodeAuth",
    "NodeAuthPassword",
    "NodeAuthSSHKey",
    "NodeDriver",
    "NodeDriverAsync",
    "NodeImage",
    "NodeLike",
    "NodeLocation",
    "NodeSize",
    "NodeState",
    "StorageVolume",
    "StorageVolumeState",
    "VolumeSnapshot",
    "VolumeSnapshotState",
]

log = logging.getLogger("overcast.compute")

#: How many nodes ``wait_until_running`` fetches at once.
_POLL_CONCURRENCY = 8
_SSH_INTERFACES = ("public_ips", "private_ips")


# -- states ------------------------------------------------------------------------


class NodeState(StrEnum):
    """The state of a node, as Apache Libcloud names them."""

    RUNNING = "running"
    STARTING = "starting"
    REBOOTING = "rebooting"
    TERMINATED = "terminated"
    PENDING = "pending"
    UNKNOWN = "unknown"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SUSPENDED = "suspended"
    ERROR = "error"
    PAUSED = "paused"
    RECONFIGURING = "reconfiguring"
    MIGRATING = "migrating"
    NORMAL = "normal"
    UPDATING = "updating"


class StorageVolumeState(StrEnum):
    """The state of a block storage volume."""

    AVAILABLE = "available"
    ERROR = "error"
    INUSE = "inuse"
    CREATING = "creating"
    DELETING = "deleting"
    DELETED = "deleted"
    BACKUP = "backup"
    ATTACHING = "attaching"
    UNKNOWN = "unknown"
    MIGRATING = "migrating"
    UPDATING = "updating"


class VolumeSnapshotState(StrEnum):
    """The state of a volume snapshot."""

    AVAILABLE = "available"
    ERROR = "error"
    CREATING = "creating"
    DELETING = "deleting"
    RESTORING = "restoring"
    UNKNOWN = "unknown"
    UPDATING = "updating"


# -- models ------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class NodeSize(Model["NodeDriver"]):
    """A kind of node a provider offers (flavor, instance type, machine type).

    ``ram`` is in MiB, ``disk`` in GiB, ``bandwidth`` in the provider's unit
    (``None``: unmetered or unknown) and ``price`` in US dollars per hour
    (``None``: unknown). Equal when ``id`` and driver are.
    """

    _kind: ClassVar[str] = "size"

    id: str
    name: str
    ram: int
    disk: int
    bandwidth: int | None = None
    price: float | None = None
    driver: NodeDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class NodeImage(Model["NodeDriver"]):
    """An operating system image a node boots from. Equal when ``id`` and driver are."""

    _kind: ClassVar[str] = "image"

    id: str
    name: str
    driver: NodeDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class NodeLocation(Model["NodeDriver"]):
    """A place nodes run in (region, zone, data center); ``country`` is a code like ``"US"``."""

    _kind: ClassVar[str] = "location"

    id: str
    name: str
    country: str | None = None
    driver: NodeDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)


class NodeLike(Protocol):
    """What other areas need of a node (a load balancer attaching it, a backup
    target made from it): :class:`Node` has these attributes, and so may any
    object from elsewhere."""

    @property
    def id(self) -> str:
        """The node's provider id."""
        ...

    @property
    def name(self) -> str:
        """The node's name."""
        ...

    @property
    def public_ips(self) -> Sequence[str]:
        """The node's public addresses."""
        ...

    @property
    def private_ips(self) -> Sequence[str]:
        """The node's private addresses."""
        ...


@dataclass(slots=True, eq=False)
class Node(Model["NodeDriver"]):
    """A virtual machine (server, instance, domain).

    A node is a snapshot of what the provider reported; fetch it again with
    ``driver.get_node(node.id)`` to see a newer state. Two nodes are equal when
    their ``id`` and driver are, whatever their state.
    """

    _kind: ClassVar[str] = "node"

    id: str
    name: str
    state: NodeState
    public_ips: list[str] = field(default_factory=list)
    private_ips: list[str] = field(default_factory=list)
    driver: NodeDriver | None = field(default=None, repr=False)
    size: NodeSize | None = None
    image: NodeImage | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    def reboot(self) -> bool:
        """Reboot this node."""
        return self._driver().reboot_node(self)

    def start(self) -> bool:
        """Start this (stopped) node."""
        return self._driver().start_node(self)

    def stop(self) -> bool:
        """Stop this node without destroying it."""
        return self._driver().stop_node(self)

    def stop_node(self) -> bool:
        """Stop this node (Apache Libcloud's name for :meth:`stop`)."""
        return self._driver().stop_node(self)

    def destroy(self) -> bool:
        """Destroy this node and release its resources."""
        return self._driver().destroy_node(self)


@dataclass(slots=True, eq=False)
class StorageVolume(Model["NodeDriver"]):
    """A block storage volume; ``size`` is in GiB. Equal when ``id`` and driver are."""

    _kind: ClassVar[str] = "volume"

    id: str
    name: str | None
    size: int
    driver: NodeDriver | None = field(default=None, repr=False)
    state: StorageVolumeState = StorageVolumeState.UNKNOWN
    extra: dict[str, Any] = field(default_factory=dict)

    def list_snapshots(self) -> list[VolumeSnapshot]:
        """List the snapshots of this volume."""
        return self._driver().list_volume_snapshots(self)

    def attach(self, node: Node, device: str | None = None) -> bool:
        """Attach this volume to ``node`` (as ``device``, e.g. ``/dev/sdb``, if given)."""
        return self._driver().attach_volume(node, self, device)

    def detach(self) -> bool:
        """Detach this volume from its node."""
        return self._driver().detach_volume(self)

    def snapshot(self, name: str | None = None) -> VolumeSnapshot:
        """Snapshot this volume."""
        return self._driver().create_volume_snapshot(self, name)

    def destroy(self) -> bool:
        """Destroy this volume."""
        return self._driver().destroy_volume(self)


@dataclass(slots=True, eq=False)
class VolumeSnapshot(Model["NodeDriver"]):
    """A point-in-time copy of a volume; ``size`` is in GiB. Equal when ``id`` and driver are."""

    _kind: ClassVar[str] = "snapshot"

    id: str
    driver: NodeDriver | None = field(default=None, repr=False)
    size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    created: datetime | None = None
    state: VolumeSnapshotState = VolumeSnapshotState.UNKNOWN
    name: str | None = None

    def destroy(self) -> bool:
        """Destroy this snapshot."""
        return self._driver().destroy_volume_snapshot(self)


@dataclass(slots=True, eq=False)
class KeyPair(Model["NodeDriver"]):
    """An SSH key pair known to the provider; equal when ``name`` and driver are.

    ``public_key`` is in OpenSSH format. ``private_key`` is set only by
    :meth:`NodeDriver.create_key_pair`, when the provider generated the pair,
    and is a :class:`~overcast.runtime.redact.Secret` (a string given here is
    wrapped in one), so it never shows in a repr or a log.
    """

    _kind: ClassVar[str] = "key pair"

    name: str
    public_key: str | None
    fingerprint: str | None
    driver: NodeDriver | None = field(default=None, repr=False)
    private_key: Secret | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        value: object = self.private_key
        if isinstance(value, str):
            self.private_key = Secret(value)

    def _identity(self) -> tuple[object, ...]:
        return (self.name,)

    def delete(self) -> bool:
        """Delete this key pair from the provider."""
        return self._driver().delete_key_pair(self)


@dataclass(slots=True)
class NodeAuthSSHKey:
    """A public key (OpenSSH format) for ``create_node`` to install on a new node."""

    pubkey: str


@dataclass(slots=True)
class NodeAuthPassword:
    """A password for ``create_node`` to set on a new node.

    ``password`` is a :class:`~overcast.runtime.redact.Secret` (a string given
    here is wrapped in one); ``generated`` says the provider or driver made it up.
    """

    password: Secret
    generated: bool = False

    def __post_init__(self) -> None:
        value: object = self.password
        if isinstance(value, str):
            self.password = Secret(value)


#: What ``create_node(auth=...)`` accepts.
NodeAuth: TypeAlias = NodeAuthSSHKey | NodeAuthPassword


# -- helpers -------------------------------------------------------------------------


def _usable_addresses(addresses: Sequence[str], force_ipv4: bool) -> list[str]:
    """The addresses to connect to: only valid IPv4 ones when ``force_ipv4``."""
    if not force_ipv4:
        return list(addresses)
    usable = []
    for address in addresses:
        try:
            if ipaddress.ip_address(address).version == 4:
                usable.append(address)
        except ValueError:
            continue
    return usable


def _read_key_file(path: str | os.PathLike[str]) -> str:
    with open(os.path.expanduser(os.fspath(path)), encoding="utf-8") as f:
        return f.read().strip()


def _check_interface(ssh_interface: str, driver: Any) -> None:
    if ssh_interface not in _SSH_INTERFACES:
        raise InvalidInput(
            f"ssh_interface must be 'public_ips' or 'private_ips': {ssh_interface!r}",
            driver=driver,
        )


def _check_positive(name: str, value: float, driver: Any, *, zero: bool = False) -> None:
    if not isinstance(value, int | float) or value < 0 or (value == 0 and not zero):
        kind = "non-negative" if zero else "positive"
        raise InvalidInput(f"{name} must be a {kind} number: {value!r}", driver=driver)


# -- the driver ------------------------------------------------------------------------


class NodeDriver(BaseDriver):
    """Base class of compute drivers.

    Drivers implement the primitive operations (``iterate_nodes``,
    ``get_node``, ``create_node``, the node actions, ``iterate_sizes``,
    ``iterate_images``, ``get_image``, ``iterate_locations``, volumes,
    snapshots, key pairs and images); the rest is built on them here, once:
    the ``list_*`` operations, ``get_size``, ``get_location``,
    ``import_key_pair_from_file``, ``wait_until_running`` and ``deploy_node``.
    """

    area: ClassVar[str] = "compute"
    async_view: ClassVar[type[AsyncView[Any]]]
    aio: NodeDriverAsync

    # -- nodes ----------------------------------------------------------------------

    @iterator
    @not_supported
    def iterate_nodes(self) -> Iter[Node]:
        """Iterate over every node of the account, page by page."""
        raise NotImplementedError

    @operation
    @requires("iterate_nodes")
    def list_nodes(self) -> Op[list[Node]]:
        """List every node of the account (every page)."""
        return (yield from collect(self.iterate_nodes.op()))

    @operation
    @not_supported
    def get_node(self, node_id: str) -> Op[Node]:
        """Get a node by id; :class:`~overcast.errors.NodeNotFound` if there is none."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_node(
        self,
        name: str,
        size: NodeSize,
        image: NodeImage,
        location: NodeLocation | None = None,
        auth: NodeAuth | None = None,
    ) -> Op[Node]:
        """Create a node and start it; return it at once (usually still pending).

        ``location`` defaults to the driver's region or zone. ``auth`` is a
        public key (:class:`NodeAuthSSHKey`) or a password
        (:class:`NodeAuthPassword`) to install for the first login; a driver
        whose provider generates a password returns it in
        ``node.extra["password"]`` as a :class:`~overcast.runtime.redact.Secret`.
        Drivers add provider options as ``ex_`` keywords. Use
        :meth:`wait_until_running` to wait until the node is usable.
        """
        raise NotImplementedError

    @operation
    @not_supported
    def reboot_node(self, node: Node) -> Op[bool]:
        """Reboot a node."""
        raise NotImplementedError

    @operation
    @not_supported
    def start_node(self, node: Node) -> Op[bool]:
        """Start a stopped node."""
        raise NotImplementedError

    @operation
    @not_supported
    def stop_node(self, node: Node) -> Op[bool]:
        """Stop a running node without destroying it."""
        raise NotImplementedError

    @operation
    @not_supported
    def destroy_node(self, node: Node) -> Op[bool]:
        """Destroy a node and release its resources."""
        raise NotImplementedError

    # -- sizes, locations, images -------------------------------------------------------

    @iterator
    @not_supported
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """Iterate over the node sizes offered (in ``location``, if given)."""
        raise NotImplementedError

    @operation
    @requires("iterate_sizes")
    def list_sizes(self, location: NodeLocation | None = None) -> Op[list[NodeSize]]:
        """List the node sizes offered (in ``location``, if given)."""
        return (yield from collect(self.iterate_sizes.op(location)))

    @operation
    @requires("iterate_sizes")
    def get_size(self, size_id: str) -> Op[NodeSize]:
        """Get a node size by id; :class:`SizeNotFound` if there is none.

        The generic version scans :meth:`iterate_sizes` (stopping at the match);
        drivers with a direct lookup override it.
        """
        found = yield from find_first(self.iterate_sizes.op(), lambda size: size.id == size_id)
        if found is None:
            raise SizeNotFound(size_id, driver=self)
        return found

    @iterator
    @not_supported
    def iterate_locations(self) -> Iter[NodeLocation]:
        """Iterate over the locations (regions, zones) nodes can be created in."""
        raise NotImplementedError

    @operation
    @requires("iterate_locations")
    def list_locations(self) -> Op[list[NodeLocation]]:
        """List the locations (regions, zones) nodes can be created in."""
        return (yield from collect(self.iterate_locations.op()))

    @operation
    @requires("iterate_locations")
    def get_location(self, location_id: str) -> Op[NodeLocation]:
        """Get a location by id; :class:`LocationNotFound` if there is none.

        The generic version scans :meth:`iterate_locations` (stopping at the
        match); drivers with a direct lookup override it.
        """
        found = yield from find_first(
            self.iterate_locations.op(), lambda location: location.id == location_id
        )
        if found is None:
            raise LocationNotFound(location_id, driver=self)
        return found

    @iterator
    @not_supported
    def iterate_images(self, location: NodeLocation | None = None) -> Iter[NodeImage]:
        """Iterate over the images nodes can boot from (in ``location``, if given)."""
        raise NotImplementedError

    @operation
    @requires("iterate_images")
    def list_images(self, location: NodeLocation | None = None) -> Op[list[NodeImage]]:
        """List the images nodes can boot from (in ``location``, if given)."""
        return (yield from collect(self.iterate_images.op(location)))

    @operation
    @not_supported
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """Get an image by id; :class:`~overcast.errors.ImageNotFound` if there is none."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_image(
        self, node: Node, name: str, description: str | None = None
    ) -> Op[NodeImage]:
        """Make an image from a node's disk."""
        raise NotImplementedError

    @operation
    @not_supported
    def delete_image(self, node_image: NodeImage) -> Op[bool]:
        """Delete an image made by :meth:`create_image` or :meth:`copy_image`."""
        raise NotImplementedError

    @operation
    @not_supported
    def copy_image(
        self,
        source_region: str,
        node_image: NodeImage,
        name: str,
        description: str | None = None,
    ) -> Op[NodeImage]:
        """Copy an image from ``source_region`` into this driver's region."""
        raise NotImplementedError

    # -- volumes and snapshots ----------------------------------------------------------

    @iterator
    @not_supported
    def iterate_volumes(self) -> Iter[StorageVolume]:
        """Iterate over every volume of the account, page by page."""
        raise NotImplementedError

    @operation
    @requires("iterate_volumes")
    def list_volumes(self) -> Op[list[StorageVolume]]:
        """List every volume of the account."""
        return (yield from collect(self.iterate_volumes.op()))

    @operation
    @not_supported
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """Get a volume by id; :class:`~overcast.errors.VolumeNotFound` if there is none."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_volume(
        self,
        size: int,
        name: str,
        location: NodeLocation | None = None,
        snapshot: VolumeSnapshot | None = None,
    ) -> Op[StorageVolume]:
        """Create a volume of ``size`` GiB (from ``snapshot``, if given)."""
        raise NotImplementedError

    @operation
    @not_supported
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Destroy a volume (it must be detached)."""
        raise NotImplementedError

    @operation
    @not_supported
    def attach_volume(
        self, node: Node, volume: StorageVolume, device: str | None = None
    ) -> Op[bool]:
        """Attach a volume to a node, as ``device`` (e.g. ``/dev/sdb``) where the provider
        lets the caller choose."""
        raise NotImplementedError

    @operation
    @not_supported
    def detach_volume(self, volume: StorageVolume) -> Op[bool]:
        """Detach a volume from the node it is attached to."""
        raise NotImplementedError

    @iterator
    @not_supported
    def iterate_volume_snapshots(self, volume: StorageVolume) -> Iter[VolumeSnapshot]:
        """Iterate over the snapshots of a volume."""
        raise NotImplementedError

    @operation
    @requires("iterate_volume_snapshots")
    def list_volume_snapshots(self, volume: StorageVolume) -> Op[list[VolumeSnapshot]]:
        """List the snapshots of a volume."""
        return (yield from collect(self.iterate_volume_snapshots.op(volume)))

    @operation
    @not_supported
    def get_volume_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """Get a snapshot by id; :class:`~overcast.errors.SnapshotNotFound` if there is none."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_volume_snapshot(
        self, volume: StorageVolume, name: str | None = None
    ) -> Op[VolumeSnapshot]:
        """Snapshot a volume."""
        raise NotImplementedError

    @operation
    @not_supported
    def destroy_volume_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Destroy a snapshot."""
        raise NotImplementedError

    # -- key pairs -------------------------------------------------------------------------

    @iterator
    @not_supported
    def iterate_key_pairs(self) -> Iter[KeyPair]:
        """Iterate over the SSH key pairs known to the provider."""
        raise NotImplementedError

    @operation
    @requires("iterate_key_pairs")
    def list_key_pairs(self) -> Op[list[KeyPair]]:
        """List the SSH key pairs known to the provider."""
        return (yield from collect(self.iterate_key_pairs.op()))

    @operation
    @not_supported
    def get_key_pair(self, name: str) -> Op[KeyPair]:
        """Get a key pair by name; :class:`~overcast.errors.KeyPairNotFound` if there is none."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_key_pair(self, name: str) -> Op[KeyPair]:
        """Have the provider generate a key pair; its ``private_key`` is returned only now.

        :class:`~overcast.errors.KeyPairAlreadyExists` if the name is taken.
        """
        raise NotImplementedError

    @operation
    @not_supported
    def import_key_pair_from_string(self, name: str, key_material: str) -> Op[KeyPair]:
        """Register an existing public key (OpenSSH format) under ``name``.

        :class:`~overcast.errors.KeyPairAlreadyExists` if the name is taken.
        """
        raise NotImplementedError

    @operation
    @requires("import_key_pair_from_string")
    def import_key_pair_from_file(
        self, name: str, key_file_path: str | os.PathLike[str]
    ) -> Op[KeyPair]:
        """Register the public key in a local file (``~`` is expanded) under ``name``."""
        key_material: str = yield Call(_read_key_file, key_file_path)
        return (yield from self.import_key_pair_from_string.op(name, key_material))

    @operation
    @not_supported
    def delete_key_pair(self, key_pair: KeyPair) -> Op[bool]:
        """Delete a key pair from the provider."""
        raise NotImplementedError

    # -- waiting ---------------------------------------------------------------------------

    @operation
    @requires("get_node")
    def wait_until_running(
        self,
        nodes: Sequence[Node],
        wait_period: float = 5,
        timeout: float = 600,
        ssh_interface: str = "public_ips",
        force_ipv4: bool = True,
        ex_list_nodes_kwargs: Mapping[str, Any] | None = None,
    ) -> Op[list[tuple[Node, list[str]]]]:
        """Wait until every node is running and has an address on ``ssh_interface``.

        Returns ``(node, addresses)`` for each node, in the order given, where
        ``node`` is the latest state fetched and ``addresses`` its addresses on
        ``ssh_interface`` (``"public_ips"`` or ``"private_ips"``), IPv4 only when
        ``force_ipv4``. Polls every ``wait_period`` seconds; raises
        :class:`~overcast.errors.OperationTimeout` after ``timeout`` seconds.

        Each node still waited for is fetched with :meth:`get_node` (a few at a
        time), so the account's other nodes are never listed; a node the
        provider does not know yet (:class:`~overcast.errors.NodeNotFound`, as
        happens just after a create) is waited for. With
        ``ex_list_nodes_kwargs`` (Apache Libcloud's way), nodes are found by
        calling ``list_nodes(**ex_list_nodes_kwargs)`` instead.
        """
        if ex_list_nodes_kwargs is not None and not self.supports("list_nodes"):
            raise NotSupported(f"{type(self).__name__} does not support list_nodes()", driver=self)
        _check_interface(ssh_interface, self)
        _check_positive("wait_period", wait_period, self)
        _check_positive("timeout", timeout, self, zero=True)
        wanted = list(dict.fromkeys(node.id for node in nodes))
        if not wanted:
            return []
        names = {node.id: node.name for node in nodes}
        states: dict[str, str] = {node_id: "not fetched" for node_id in wanted}
        ready: dict[str, tuple[Node, list[str]]] = {}
        deadline: float = (yield Call(time.monotonic)) + timeout
        while True:
            pending = [node_id for node_id in wanted if node_id not in ready]
            fetched = yield from self._fetch_nodes(pending, ex_list_nodes_kwargs)
            for node in fetched:
                addresses = _usable_addresses(getattr(node, ssh_interface), force_ipv4)
                states[node.id] = f"{node.state}, {len(addresses)} usable address(es)"
                if node.state == NodeState.RUNNING and addresses:
                    ready[node.id] = (node, addresses)
            if len(ready) == len(wanted):
                return [ready[node.id] for node in nodes]
            now: float = yield Call(time.monotonic)
            if now >= deadline:
                waiting = "; ".join(
                    f"{names[node_id]!r} (id {node_id}): {states[node_id]}"
                    for node_id in wanted
                    if node_id not in ready
                )
                raise OperationTimeout(
                    f"timed out after {timeout}s waiting for nodes to be running with "
                    f"{ssh_interface}: {waiting}",
                    driver=self,
                )
            yield Sleep(min(wait_period, deadline - now))

    def _fetch_nodes(
        self, node_ids: list[str], list_kwargs: Mapping[str, Any] | None
    ) -> Op[list[Node]]:
        """The current state of the nodes ``node_ids`` that the provider knows."""
        if list_kwargs is not None:
            wanted = set(node_ids)
            listed = yield from self.list_nodes.op(**list_kwargs)
            return [node for node in listed if node.id in wanted]
        if len(node_ids) == 1:
            found = yield from self._get_node_if_exists(node_ids[0])
            return [] if found is None else [found]
        results: list[Node | None] = yield Parallel(
            [self._get_node_if_exists(node_id) for node_id in node_ids],
            limit=_POLL_CONCURRENCY,
        )
        return [node for node in results if node is not None]

    def _get_node_if_exists(self, node_id: str) -> Op[Node | None]:
        try:
            return (yield from self.get_node.op(node_id))
        except NodeNotFound:
            return None

    # -- deployment ------------------------------------------------------------------------

    @operation
    @requires("create_node", "wait_until_running")
    def deploy_node(
        self,
        /,
        deploy: Deployment,
        ssh_username: str = "root",
        ssh_alternate_usernames: Sequence[str] | None = None,
        ssh_port: int = 22,
        ssh_timeout: float = 10,
        ssh_key: ssh.KeyFiles | None = None,
        ssh_key_password: Secret | str | None = None,
        auth: NodeAuth | None = None,
        timeout: float = 300,
        max_tries: int = 3,
        ssh_interface: str = "public_ips",
        at_exit_func: Callable[..., object] | None = None,
        wait_period: float = 5,
        *,
        name: str,
        size: NodeSize,
        image: NodeImage,
        location: NodeLocation | None = None,
        ssh_known_hosts: str | os.PathLike[str] | None = None,
        ssh_host_key_policy: ssh.HostKeyPolicy = "strict",
        **create_node_kwargs: Any,
    ) -> Op[Node]:
        """Create a node, wait until it runs, log in over SSH and run ``deploy`` on it.

        The parameters are Apache Libcloud 3.x's, in its order; the node to
        create is described by the keywords ``name``, ``size``, ``image``,
        ``location`` and ``auth``, and any other keyword (``ex_...``) goes to
        :meth:`create_node` as is::

            driver.deploy_node(msd, name="web", size=size, image=image, auth=key)

        Steps, each bounded by ``timeout`` seconds:

        1. ``create_node(name, size, image, location, auth, **create_node_kwargs)``.
        2. :meth:`wait_until_running` on ``ssh_interface``, polling every
           ``wait_period`` seconds.
        3. Log in to the node's first address on ``ssh_port``, as
           ``ssh_username`` then each of ``ssh_alternate_usernames``, in rounds
           every ``wait_period`` seconds until one succeeds (a new node may
           refuse connections or keys for a while). The login uses the
           password of ``auth`` (without ``auth``, the one the provider
           generated, in ``node.extra["password"]``), the private key(s) ``ssh_key``
           (paths, or one key's text; decrypted with ``ssh_key_password``), or
           else the SSH agent and default keys. ``ssh_timeout`` bounds each connection attempt.
           The node's host key is checked against ``ssh_known_hosts`` (an
           OpenSSH known_hosts file; default: ``~/.ssh/known_hosts`` and
           ``/etc/ssh/ssh_known_hosts``): an unknown key is refused unless
           ``ssh_host_key_policy="accept-new"``, which trusts it on first use
           and appends it to ``ssh_known_hosts``; a key that does not match is
           always refused. Host-key failures are not retried.
        4. ``deploy.run(node, client)``, tried up to ``max_tries`` times
           (``wait_period`` apart) unless a command timed out.

        Returns the node ``deploy`` returned. If anything fails after the node
        was created, raises :class:`~overcast.compute.deployment.DeploymentError`
        carrying the node (which is left running for you to inspect or
        destroy) and the error; no password or key appears in its message.

        ``at_exit_func(driver=..., node=...)`` is called (in a worker thread
        when async) if the deployment is interrupted (Ctrl-C, cancellation)
        after the node was created, e.g. to destroy it; it is not called when
        the deployment fails with a :class:`DeploymentError`.

        The SSH client comes from :meth:`_ssh_client` (paramiko, the ``ssh``
        extra, by default); its blocking calls run through ``Call`` effects.
        """
        if not isinstance(deploy, Deployment):
            raise InvalidInput(f"deploy must be a Deployment: {deploy!r}", driver=self)
        if auth is not None and not isinstance(auth, NodeAuthSSHKey | NodeAuthPassword):
            raise InvalidInput(
                f"auth must be a NodeAuthSSHKey or a NodeAuthPassword: {type(auth).__name__}",
                driver=self,
            )
        _check_interface(ssh_interface, self)
        _check_positive("timeout", timeout, self)
        _check_positive("wait_period", wait_period, self)
        if not isinstance(max_tries, int) or max_tries < 1:
            raise InvalidInput(f"max_tries must be at least 1: {max_tries!r}", driver=self)
        ssh.check_key_files(ssh_key, driver=self)
        host_keys: dict[str, Any] = {}  # only what was chosen: _ssh_client overrides predate it
        if ssh_known_hosts is not None:
            host_keys["known_hosts"] = ssh_known_hosts
        if ssh.check_host_key_policy(ssh_host_key_policy, driver=self) != "strict":
            host_keys["host_key_policy"] = ssh_host_key_policy
        usernames = [ssh_username, *(ssh_alternate_usernames or ())]
        create = self.create_node.op(name, size, image, location, auth, **create_node_kwargs)
        if type(self)._ssh_client is NodeDriver._ssh_client:
            yield Call(ssh.require_paramiko)
        node = yield from create

        password: Secret | None = None
        if isinstance(auth, NodeAuthPassword):
            password = auth.password
        elif auth is None and node.extra.get("password"):
            password = Secret(node.extra["password"])
        key_password = Secret(ssh_key_password) if ssh_key_password else None
        secrets = tuple(s for s in (password, key_password) if s)

        work = self._deploy_created_node(
            node,
            deploy,
            usernames=usernames,
            port=ssh_port,
            password=key_password or password,
            key=ssh_key,
            ssh_timeout=ssh_timeout,
            timeout=timeout,
            max_tries=max_tries,
            ssh_interface=ssh_interface,
            wait_period=wait_period,
            secrets=secrets,
            host_keys=host_keys,
        )
        if at_exit_func is None:
            return (yield from work)
        handler = at_exit_func

        def on_interrupt(exc: BaseException) -> Op[None]:
            if isinstance(exc, Exception) and not isinstance(exc, OperationCancelled):
                return  # a failure, not an interruption: DeploymentError tells the caller
            yield Call(handler, driver=self, node=node)

        deployed: Node = yield Guarded(work, on_interrupt)
        return deployed

    def _deploy_created_node(
        self,
        node: Node,
        deploy: Deployment,
        *,
        usernames: list[str],
        port: int,
        password: Secret | None,
        key: ssh.KeyFiles | None,
        ssh_timeout: float,
        timeout: float,
        max_tries: int,
        ssh_interface: str,
        wait_period: float,
        secrets: tuple[Secret, ...],
        host_keys: dict[str, Any],
    ) -> Op[Node]:
        """Steps 2-4 of :meth:`deploy_node`; failures become :class:`DeploymentError`."""
        try:
            ready = yield from self.wait_until_running.op(
                [node], wait_period, timeout, ssh_interface
            )
            node, addresses = ready[0]
            client = yield from self._ssh_connect(
                addresses[0], port, usernames, password, key, ssh_timeout, timeout, wait_period,
                **host_keys,
            )
            deployed: Node = yield Guarded(
                self._run_deployment(deploy, node, client, max_tries, wait_period),
                lambda exc: self._close_ssh(client),
            )
            yield from self._close_ssh(client)
            return deployed
        except OperationCancelled:
            raise
        except Exception as exc:
            raise DeploymentError(node, exc, driver=self, secrets=secrets) from exc

    def _ssh_client(
        self,
        hostname: str,
        port: int,
        username: str,
        password: Secret | None,
        key: ssh.KeyFiles | None,
        timeout: float | None,
        *,
        known_hosts: str | os.PathLike[str] | None = None,
        host_key_policy: ssh.HostKeyPolicy = "strict",
    ) -> ssh.SSHClient:
        """Make (not connect) the SSH client ``deploy_node`` uses for one login attempt.

        ``password`` is the login password or the key passphrase, ``key`` the
        private key(s), ``known_hosts`` and ``host_key_policy`` how to check
        the host key (passed only when the caller chose them). Override to use
        another :class:`~overcast.compute.ssh.SSHClient`; this must do no I/O.
        """
        return ssh.ParamikoSSHClient(
            hostname, port, username, password, key, timeout,
            known_hosts=known_hosts, host_key_policy=host_key_policy,
        )

    def _ssh_connect(
        self,
        hostname: str,
        port: int,
        usernames: list[str],
        password: Secret | None,
        key: ssh.KeyFiles | None,
        ssh_timeout: float,
        timeout: float,
        wait_period: float,
        **host_keys: Any,
    ) -> Op[ssh.SSHClient]:
        """Log in as each of ``usernames`` in turn, in rounds, until one works or time is up.

        A host key that is unknown or wrong fails at once: waiting will not fix it.
        """
        deadline: float = (yield Call(time.monotonic)) + timeout
        last: BaseException | None = None
        while True:
            for username in usernames:
                client = self._ssh_client(
                    hostname, port, username, password, key, ssh_timeout, **host_keys
                )
                try:
                    yield Call(client.connect)
                except (OperationCancelled, OperationTimeout):
                    raise
                except ssh.SSHHostKeyError:
                    yield from self._close_ssh(client)
                    raise
                except (OSError, ssh.SSHError) as exc:
                    last = exc
                    yield from self._close_ssh(client)
                    continue
                return client
            now: float = yield Call(time.monotonic)
            if now >= deadline:
                raise OperationTimeout(
                    f"could not log in over SSH to {hostname}:{port} as "
                    f"{' or '.join(repr(u) for u in usernames)} within {timeout}s "
                    f"(last error: {type(last).__name__}: {last})",
                    driver=self,
                ) from last
            yield Sleep(min(wait_period, deadline - now))

    def _run_deployment(
        self,
        deploy: Deployment,
        node: Node,
        client: ssh.SSHClient,
        max_tries: int,
        wait_period: float,
    ) -> Op[Node]:
        """Run ``deploy`` up to ``max_tries`` times; a command timeout is not retried."""
        tries = 0
        while True:
            try:
                deployed: Node = yield Call(deploy.run, node, client)
                return deployed
            except (OperationCancelled, OperationTimeout):
                raise
            except Exception as exc:
                tries += 1
                if tries >= max_tries:
                    raise
                log.info(
                    "[%s] deployment on node %s failed (try %d of %d): %s",
                    self.name, node.id, tries, max_tries, type(exc).__name__,
                )
            yield Sleep(wait_period)

    def _close_ssh(self, client: ssh.SSHClient) -> Op[None]:
        """Close an SSH client; a failure to close is logged, not raised."""
        try:
            yield Call(client.close)
        except (OperationCancelled, OperationTimeout):
            raise
        except Exception:
            log.debug("[%s] closing an SSH client failed", self.name, exc_info=True)


class NodeDriverAsync(AsyncView[NodeDriver]):
    """``driver.aio`` of a compute driver: every operation, awaitable."""

    iterate_nodes = aio(NodeDriver.iterate_nodes)
    list_nodes = aio(NodeDriver.list_nodes)
    get_node = aio(NodeDriver.get_node)
    create_node = aio(NodeDriver.create_node)
    reboot_node = aio(NodeDriver.reboot_node)
    start_node = aio(NodeDriver.start_node)
    stop_node = aio(NodeDriver.stop_node)
    destroy_node = aio(NodeDriver.destroy_node)
    iterate_sizes = aio(NodeDriver.iterate_sizes)
    list_sizes = aio(NodeDriver.list_sizes)
    get_size = aio(NodeDriver.get_size)
    iterate_locations = aio(NodeDriver.iterate_locations)
    list_locations = aio(NodeDriver.list_locations)
    get_location = aio(NodeDriver.get_location)
    iterate_images = aio(NodeDriver.iterate_images)
    list_images = aio(NodeDriver.list_images)
    get_image = aio(NodeDriver.get_image)
    create_image = aio(NodeDriver.create_image)
    delete_image = aio(NodeDriver.delete_image)
    copy_image = aio(NodeDriver.copy_image)
    iterate_volumes = aio(NodeDriver.iterate_volumes)
    list_volumes = aio(NodeDriver.list_volumes)
    get_volume = aio(NodeDriver.get_volume)
    create_volume = aio(NodeDriver.create_volume)
    destroy_volume = aio(NodeDriver.destroy_volume)
    attach_volume = aio(NodeDriver.attach_volume)
    detach_volume = aio(NodeDriver.detach_volume)
    iterate_volume_snapshots = aio(NodeDriver.iterate_volume_snapshots)
    list_volume_snapshots = aio(NodeDriver.list_volume_snapshots)
    get_volume_snapshot = aio(NodeDriver.get_volume_snapshot)
    create_volume_snapshot = aio(NodeDriver.create_volume_snapshot)
    destroy_volume_snapshot = aio(NodeDriver.destroy_volume_snapshot)
    iterate_key_pairs = aio(NodeDriver.iterate_key_pairs)
    list_key_pairs = aio(NodeDriver.list_key_pairs)
    get_key_pair = aio(NodeDriver.get_key_pair)
    create_key_pair = aio(NodeDriver.create_key_pair)
    import_key_pair_from_string = aio(NodeDriver.import_key_pair_from_string)
    import_key_pair_from_file = aio(NodeDriver.import_key_pair_from_file)
    delete_key_pair = aio(NodeDriver.delete_key_pair)
    wait_until_running = aio(NodeDriver.wait_until_running)
    deploy_node = aio(NodeDriver.deploy_node)


NodeDriver.async_view = NodeDriverAsync
