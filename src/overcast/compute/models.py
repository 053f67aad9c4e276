"""Compute models: nodes, sizes, images, locations, volumes, snapshots and key
pairs, their states, and what ``create_node(auth=...)`` accepts.

They are re-exported by :mod:`overcast.compute.base` and :mod:`overcast.compute`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Protocol
from typing import TypeAlias
from typing import TypeVar

from overcast.errors import InvalidInput
from overcast.models import Model
from overcast.runtime.redact import Secret

if TYPE_CHECKING:
    from overcast.compute.base import NodeDriver

__all__ = [
    "KeyPair",
    "Node",
    "NodeAuth",
    "NodeAuthPassword",
    "NodeAuthSSHKey",
    "NodeImage",
    "NodeImageMember",
    "NodeLike",
    "NodeLocation",
    "NodeSize",
    "NodeState",
    "StorageVolume",
    "StorageVolumeState",
    "VolumeSnapshot",
    "VolumeSnapshotState",
    "bound_driver",
]

D = TypeVar("D")


def bound_driver(driver: D | None, what: str) -> D:
    """``driver``: the driver a provider's own object (an address, a firewall
    rule, in Apache Libcloud's classes) came from; InvalidInput, naming
    ``what``, for one bound to no driver."""
    if driver is None:
        raise InvalidInput(f"this {what} is bound to no driver")
    return driver


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
class NodeImageMember(Model["NodeDriver"]):
    """An account an image is shared with (Apache Libcloud's ``NodeImageMember``):
    ``id`` the member (account or project), ``image_id`` the image, ``state``
    the provider's word for the share (``accepted``, ``pending``, ...)."""

    _kind: ClassVar[str] = "image member"

    id: str
    image_id: str
    state: str
    driver: NodeDriver | None = field(default=None, repr=False)
    created: Any = None
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
