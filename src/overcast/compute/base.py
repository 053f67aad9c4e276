"""Compute: the driver API every compute driver shares.

Names and positional parameters follow Apache Libcloud 3.x
(``libcloud.compute.base.NodeDriver``), so its users port code by changing
imports; overcast's additions are keyword-only. Every operation is available
sync (``driver.x()``) and async (``await driver.aio.x()``); a driver that lacks
one raises :class:`~overcast.errors.NotSupported` before doing anything (see
``driver.supports()``).

Every ``list_*`` operation has an ``iterate_*`` twin that streams page by page,
and every resource can be fetched by id with a ``get_*`` operation.

The models live in :mod:`overcast.compute.models` and are re-exported here.
Creates share one flow (:meth:`NodeDriver._create_node` and
:meth:`NodeDriver._create`): check, send with a request token, settle an
unknown outcome by looking the token up. ``deploy_node`` runs its steps in
:mod:`overcast.compute.deployment`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import os
import re
import time
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import ClassVar
from typing import Final
from typing import Literal
from typing import TypeVar

from overcast.compute import deployment
from overcast.compute import ssh
from overcast.compute.checks import check_interface
from overcast.compute.checks import check_positive
from overcast.compute.models import KeyPair
from overcast.compute.models import Node
from overcast.compute.models import NodeAuth
from overcast.compute.models import NodeAuthPassword
from overcast.compute.models import NodeAuthSSHKey
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeImageMember
from overcast.compute.models import NodeLike
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.models import NodeState
from overcast.compute.models import StorageVolume
from overcast.compute.models import StorageVolumeState
from overcast.compute.models import VolumeSnapshot
from overcast.compute.models import VolumeSnapshotState
from overcast.driver import AsyncView
from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.errors import KeyPairNotFound
from overcast.errors import LocationNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import SizeNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.effects import Sleep
from overcast.runtime.operation import aio
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import not_supported
from overcast.runtime.operation import operation
from overcast.runtime.operation import requires
from overcast.runtime.ops import create_once
from overcast.runtime.ops import find_by_id
from overcast.runtime.ops import find_first
from overcast.runtime.ops import pure
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
    "NodeImageMember",
    "NodeLike",
    "NodeLocation",
    "NodeSize",
    "NodeSpec",
    "NodeState",
    "PowerChange",
    "StorageVolume",
    "StorageVolumeState",
    "VolumeSnapshot",
    "VolumeSnapshotState",
    "check_openssh_key",
    "openssh_key",
    "request_token",
]

T = TypeVar("T")

#: What ``reboot_node``, ``start_node`` and ``stop_node`` ask a driver's
#: ``_power_node`` hook to do.
PowerChange = Literal["reboot", "start", "stop"]

#: How many nodes ``wait_until_running`` fetches at once.
_POLL_CONCURRENCY: Final = 8
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


def openssh_key(public_key: str) -> str:
    """The type and base64 body of an OpenSSH public key, its comment dropped:
    what providers that keep keys compare them by."""
    return " ".join(public_key.split()[:2])


def check_openssh_key(public_key: object, *, driver: object = None) -> str:
    """:func:`openssh_key` of ``public_key``; :class:`~overcast.errors.InvalidInput`
    if it is not an OpenSSH public key (a type and a base64 body)."""
    material = openssh_key(public_key) if isinstance(public_key, str) else ""
    if len(material.split()) != 2:
        raise InvalidInput("key_material must be an OpenSSH public key", driver=driver)
    return material


def request_token() -> str:
    """A new request token: what one create carries, and is found by, so that it
    is made once however often its answer is lost."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A ``create_node`` call, checked: what a driver's create hooks build the
    request from.

    ``options`` holds the driver's own keywords (``ex_...``) by name, as
    :meth:`NodeDriver._check_node` left them (checked, and normalised where it
    says so).
    """

    name: str
    size: NodeSize
    image: NodeImage
    location: NodeLocation | None
    auth: NodeAuth | None
    options: Mapping[str, Any] = field(default_factory=dict)

    def but(self, **options: Any) -> NodeSpec:
        """This spec with ``options`` replaced or added."""
        return dataclasses.replace(self, options={**self.options, **options})


# -- the driver ------------------------------------------------------------------------


class NodeDriver(BaseDriver):
    """Base class of compute drivers.

    Drivers implement the primitive operations (``iterate_nodes``,
    ``get_node``, ``create_node``, the node actions, ``iterate_sizes``,
    ``iterate_images``, ``get_image``, ``iterate_locations``, volumes,
    snapshots, key pairs and images); the rest is built on them here, once:
    the ``list_*`` operations, ``get_size``, ``get_location``,
    ``import_key_pair_from_file``, ``wait_until_running`` and ``deploy_node``.

    Creates are written once here too: a driver's ``create_node`` runs
    :meth:`_create_node` and fills its hooks (its own checks, what to fetch
    first, the create itself carrying a request token, the lookup by token),
    and its other creates go through :meth:`_create`; either way a create
    whose answer is lost is looked up, and sent again only if nothing was made.
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

    list_nodes = listing(iterate_nodes, "List every node of the account (every page).")

    @operation
    @not_supported
    def get_node(self, node_id: str) -> Op[Node]:
        """Get a node by id; :class:`~overcast.errors.NodeNotFound` if there is none."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_node(self, name: str, size: NodeSize, image: NodeImage,
                    location: NodeLocation | None = None, auth: NodeAuth | None = None) -> Op[Node]:
        """Create a node and start it; return it at once (usually still pending).

        ``location`` defaults to the driver's region or zone. ``auth`` is a
        public key (:class:`NodeAuthSSHKey`) or a password
        (:class:`NodeAuthPassword`) to install for the first login; a driver
        whose provider generates a password returns it in
        ``node.extra["password"]`` as a :class:`~overcast.runtime.redact.Secret`.
        Drivers add provider options as ``ex_`` keywords. Use
        :meth:`wait_until_running` to wait until the node is usable.

        Drivers implement it with :meth:`_create_node`: nothing is sent for
        invalid input, and the node is made once even when the answer to the
        create is lost.
        """
        raise NotImplementedError

    @operation
    @requires("_power_node")
    def reboot_node(self, node: Node) -> Op[bool]:
        """Reboot a node.

        The generic version is the driver's ``_power_node`` hook (its docstring
        says what the provider is asked and what is waited for)."""
        return (yield from self._power_node(node, "reboot"))

    @operation
    @requires("_power_node")
    def start_node(self, node: Node) -> Op[bool]:
        """Start a stopped node (generic version: the ``_power_node`` hook)."""
        return (yield from self._power_node(node, "start"))

    @operation
    @requires("_power_node")
    def stop_node(self, node: Node) -> Op[bool]:
        """Stop a running node without destroying it (generic version: the
        ``_power_node`` hook)."""
        return (yield from self._power_node(node, "stop"))

    @not_supported
    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """Hook: reboot, start or stop ``node`` (``change``); True once the
        provider has done it (or taken it, where the driver says so)."""
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

    list_sizes = listing(iterate_sizes, "List the node sizes offered (in ``location``, if given).")

    @operation
    @requires("iterate_sizes")
    def get_size(self, size_id: str) -> Op[NodeSize]:
        """Get a node size by id; :class:`SizeNotFound` if there is none.

        The generic version scans :meth:`iterate_sizes` (stopping at the match);
        drivers with a direct lookup override it.
        """
        return (yield from find_by_id(self.iterate_sizes.op(), size_id, SizeNotFound,
                                      driver=self))

    @iterator
    @not_supported
    def iterate_locations(self) -> Iter[NodeLocation]:
        """Iterate over the locations (regions, zones) nodes can be created in."""
        raise NotImplementedError

    list_locations = listing(
        iterate_locations, "List the locations (regions, zones) nodes can be created in."
    )

    @operation
    @requires("iterate_locations")
    def get_location(self, location_id: str) -> Op[NodeLocation]:
        """Get a location by id; :class:`LocationNotFound` if there is none.

        The generic version scans :meth:`iterate_locations` (stopping at the
        match); drivers with a direct lookup override it.
        """
        return (yield from find_by_id(self.iterate_locations.op(), location_id,
                                      LocationNotFound, driver=self))

    @iterator
    @not_supported
    def iterate_images(self, location: NodeLocation | None = None) -> Iter[NodeImage]:
        """Iterate over the images nodes can boot from (in ``location``, if given)."""
        raise NotImplementedError

    list_images = listing(
        iterate_images, "List the images nodes can boot from (in ``location``, if given)."
    )

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
    def copy_image(self, source_region: str, node_image: NodeImage, name: str,
                   description: str | None = None) -> Op[NodeImage]:
        """Copy an image from ``source_region`` into this driver's region."""
        raise NotImplementedError

    # -- volumes and snapshots ----------------------------------------------------------

    @iterator
    @not_supported
    def iterate_volumes(self) -> Iter[StorageVolume]:
        """Iterate over every volume of the account, page by page."""
        raise NotImplementedError

    list_volumes = listing(iterate_volumes, "List every volume of the account.")

    @operation
    @not_supported
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """Get a volume by id; :class:`~overcast.errors.VolumeNotFound` if there is none."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_volume(self, size: int, name: str, location: NodeLocation | None = None,
                      snapshot: VolumeSnapshot | None = None) -> Op[StorageVolume]:
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

    list_volume_snapshots = listing(iterate_volume_snapshots, "List the snapshots of a volume.")

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

    list_key_pairs = listing(iterate_key_pairs, "List the SSH key pairs known to the provider.")

    @operation
    @requires("iterate_key_pairs")
    def get_key_pair(self, name: str) -> Op[KeyPair]:
        """Get a key pair by name; :class:`~overcast.errors.KeyPairNotFound` if there is none.

        The generic version scans :meth:`iterate_key_pairs` (stopping at the
        match); drivers with a direct lookup override it.
        """
        found = yield from find_first(self.iterate_key_pairs.op(), lambda key: key.name == name)
        if found is None:
            raise KeyPairNotFound(str(name), f"key pair not found: {name!r}", driver=self)
        return found

    @operation
    @not_supported
    def create_key_pair(self, name: str) -> Op[KeyPair]:
        """Have the provider generate a key pair; its ``private_key`` is returned only now.

        :class:`~overcast.errors.KeyPairAlreadyExists` if the name is taken.
        """
        raise NotImplementedError

    @operation
    @requires("_send_public_key", "iterate_key_pairs")
    def import_key_pair_from_string(self, name: str, key_material: str) -> Op[KeyPair]:
        """Register an existing public key (OpenSSH format) under ``name``.

        :class:`~overcast.errors.KeyPairAlreadyExists` if the name is taken.
        The generic version (drivers with the ``_send_public_key`` hook)
        checks both before any request and settles a lost answer by looking
        for a key of that name and material.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"a key pair name must be a non-empty string: {name!r}",
                               driver=self)
        material = check_openssh_key(key_material, driver=self)

        def find(token: str) -> Op[KeyPair | None]:
            return (yield from find_first(
                self.iterate_key_pairs.op(),
                lambda k: k.name == name and openssh_key(k.public_key or "") == material))

        return (yield from self._create(
            lambda token: self._send_public_key(name, key_material.strip()), find))

    @not_supported
    def _send_public_key(self, name: str, public_key: str) -> Op[KeyPair]:
        """Hook: register ``public_key`` (OpenSSH format, checked) under ``name``;
        the key pair made."""
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
        check_interface(ssh_interface, self)
        check_positive("wait_period", wait_period, self)
        check_positive("timeout", timeout, self, zero=True)
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

    # -- the create flow ---------------------------------------------------------------------

    #: The longest node name the provider accepts.
    max_name_length: ClassVar[int] = 255
    #: The kinds of ``create_node(auth=...)`` the provider can install in a new
    #: node; the others raise NotSupported before any request.
    auth_kinds: ClassVar[tuple[type[NodeAuthSSHKey] | type[NodeAuthPassword], ...]] = (
        NodeAuthSSHKey, NodeAuthPassword,
    )
    #: What to use instead, said when an ``auth`` kind is not supported.
    auth_hint: ClassVar[str] = ""

    def _expect(self, value: object, kind: type[T], what: str) -> T:
        """``value``, if it is a ``kind``; InvalidInput naming ``what`` if not."""
        if not isinstance(value, kind):
            raise InvalidInput(
                f"{what} must be a {kind.__name__}: {type(value).__name__}", driver=self
            )
        return value

    def _key_pair_holding(self, public_key: str) -> Op[KeyPair]:
        """The account's key pair whose public key is ``public_key``, imported as
        ``overcast-<hash>`` if there is none: how a driver whose provider takes
        key ids at create sends a :class:`NodeAuthSSHKey`."""
        material = check_openssh_key(public_key, driver=self)
        found = yield from find_first(self.iterate_key_pairs.op(),
                                      lambda key: openssh_key(key.public_key or "") == material)
        if found is not None:
            return found
        name = f"overcast-{hashlib.sha256(material.encode()).hexdigest()[:20]}"
        return (yield from self.import_key_pair_from_string.op(name, public_key))

    def _key_pair_id(self, key_pair: KeyPair) -> Op[object]:
        """The provider's id of a key pair (``extra["id"]``), looked up by name
        when it carries none (a key pair made by hand)."""
        key = self._expect(key_pair, KeyPair, "key_pair")
        key_id = key.extra.get("id")
        if key_id is None:
            key_id = (yield from self.get_key_pair.op(key.name)).extra["id"]
        return key_id

    def _create(
        self, send: Callable[[str], Op[T]], find: Callable[[str], Op[T | None]]
    ) -> Op[T]:
        """Create something exactly once, under a new request token.

        ``send(token)`` issues the create carrying ``token`` (in the provider's
        idempotency field where it has one, and always in a tag, metadata entry
        or name that ``find(token)`` can search by). When the answer is lost
        (:class:`~overcast.errors.OutcomeUnknown`), ``find(token)`` says what an
        earlier attempt made; only if nothing was made is the create sent again
        (:func:`~overcast.runtime.ops.create_once`).
        """
        token = request_token()
        return (yield from create_once(lambda: send(token), lambda: find(token)))

    def _create_node(self, name: str, size: NodeSize, image: NodeImage,
                     location: NodeLocation | None, auth: NodeAuth | None,
                     **options: Any) -> Op[Node]:
        """The flow of a driver's ``create_node`` (``options``: its own keywords).

        1. Check everything before any request: what every provider shares in
           :meth:`_node_spec`, the provider's own rules in :meth:`_check_node`.
        2. :meth:`_prepare_node`: what the create needs from the provider first
           (a key pair holding ``auth``'s public key, say).
        3. :meth:`_send_node` under a new request token; a lost answer is
           settled by :meth:`_find_node` looking the token up (:meth:`_create`).

        Waiting until the node runs is :meth:`wait_until_running`'s
        (``deploy_node`` creates, then waits).
        """
        spec = self._check_node(self._node_spec(name, size, image, location, auth, options))
        spec = yield from self._prepare_node(spec)
        return (yield from self._create(
            lambda token: self._send_node(spec, token),
            lambda token: self._find_node(spec, token),
        ))

    def _node_spec(self, name: object, size: object, image: object, location: object, auth: object,
                   options: Mapping[str, Any]) -> NodeSpec:
        """The checks every provider shares: a name that is not blank, within
        :attr:`max_name_length` and free of control characters; models of the
        right kinds; an ``auth`` the provider can install (:attr:`auth_kinds`)."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"a node name must be a non-empty string: {name!r}", driver=self)
        if len(name) > self.max_name_length:
            raise InvalidInput(
                f"a node name is at most {self.max_name_length} characters: "
                f"{len(name)} given",
                driver=self,
            )
        if _CONTROL.search(name):
            raise InvalidInput(
                f"a node name cannot contain control characters: {name!r}", driver=self
            )
        return NodeSpec(
            name,
            self._expect(size, NodeSize, "size"),
            self._expect(image, NodeImage, "image"),
            None if location is None else self._expect(location, NodeLocation, "location"),
            self._check_auth(auth),
            dict(options),
        )

    def _check_auth(self, auth: object) -> NodeAuth | None:
        """``auth`` if it is one the provider can install in a new node
        (:attr:`auth_kinds`): NotSupported for another kind, InvalidInput for
        what is no kind at all."""
        if auth is None:
            return None
        if not isinstance(auth, NodeAuthSSHKey | NodeAuthPassword):
            raise InvalidInput(
                f"auth must be a NodeAuthSSHKey or a NodeAuthPassword: {type(auth).__name__}",
                driver=self,
            )
        if not isinstance(auth, self.auth_kinds):
            what = "a password" if isinstance(auth, NodeAuthPassword) else "an SSH key"
            raise NotSupported(
                f"{type(self).__name__} cannot install {what} in a new node{self.auth_hint}",
                driver=self,
            )
        return auth

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """The provider's own checks of a create (name rules, its ``ex_``
        options), before any request; returns the spec, options normalised
        (default: none)."""
        return spec

    def _prepare_node(self, spec: NodeSpec) -> Op[NodeSpec]:
        """What the create needs from the provider before it is sent (default:
        nothing); returns the spec with what was found in its options."""
        return pure(spec)

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        """Send the create, carrying ``token``; the node as the provider told it."""
        raise NotImplementedError

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        """The node an earlier attempt of this create made (found by ``token``),
        or None if there is none."""
        raise NotImplementedError

    # -- deployment --------------------------------------------------------------------------

    @operation
    @requires("create_node", "wait_until_running")
    def deploy_node(self, /, deploy: deployment.Deployment, ssh_username: str = "root",
                    ssh_alternate_usernames: Sequence[str] | None = None, ssh_port: int = 22,
                    ssh_timeout: float = 10, ssh_key: ssh.KeyFiles | None = None,
                    ssh_key_password: Secret | str | None = None, auth: NodeAuth | None = None,
                    timeout: float = 300, max_tries: int = 3, ssh_interface: str = "public_ips",
                    at_exit_func: Callable[..., object] | None = None, wait_period: float = 5, *,
                    name: str, size: NodeSize, image: NodeImage,
                    location: NodeLocation | None = None,
                    ssh_known_hosts: str | os.PathLike[str] | None = None,
                    ssh_host_key_policy: ssh.HostKeyPolicy = "strict",
                    **create_node_kwargs: Any) -> Op[Node]:
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
        extra, by default); its blocking calls run through ``Call`` effects. The
        steps are :func:`overcast.compute.deployment.deploy_node`'s.
        """

        return (yield from deployment.deploy_node(
            self, deploy, ssh_username=ssh_username,
            ssh_alternate_usernames=ssh_alternate_usernames, ssh_port=ssh_port,
            ssh_timeout=ssh_timeout, ssh_key=ssh_key, ssh_key_password=ssh_key_password,
            auth=auth, timeout=timeout, max_tries=max_tries, ssh_interface=ssh_interface,
            at_exit_func=at_exit_func, wait_period=wait_period, name=name, size=size,
            image=image, location=location, ssh_known_hosts=ssh_known_hosts,
            ssh_host_key_policy=ssh_host_key_policy,
            paramiko_client=type(self)._ssh_client is NodeDriver._ssh_client, **create_node_kwargs,
        ))

    def _ssh_client(self, hostname: str, port: int, username: str, password: Secret | None,
                    key: ssh.KeyFiles | None, timeout: float | None, *,
                    known_hosts: str | os.PathLike[str] | None = None,
                    host_key_policy: ssh.HostKeyPolicy = "strict") -> ssh.SSHClient:
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
