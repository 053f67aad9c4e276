"""Vultr instances, plans, OS images, regions, SSH keys, block storage and
snapshots (API v2).

``VultrNodeDriver(key)`` authenticates with an API key, sent as
``Authorization: Bearer ...`` (:class:`~overcast.auth.bearer.BearerAuth`).

Facts of the API this driver is built on (``https://api.vultr.com/v2``):

* Lists (``/instances``, ``/plans``, ``/os``, ``/regions``, ``/ssh-keys``,
  ``/blocks``, ``/snapshots``) page by cursor: ``per_page`` (1..500) and
  ``cursor``, the next cursor in ``meta.links.next`` (empty at the end); the
  shared pager follows it and refuses a cursor that comes back
  (:mod:`overcast.providers.vultr`). ``GET /instances?tag=`` filters by tag.
* ``POST /instances`` answers ``202`` with the instance ``pending`` (its
  ``main_ip`` ``0.0.0.0``) and a ``default_password``; it becomes ``active``
  with ``power_status`` ``running`` when it has booted. ``POST
  /instances/{id}/reboot``, ``/start`` and ``/halt`` answer ``204`` and act
  in the background: this driver then reads the instance, pausing with the
  runtime's ``Sleep`` (``poll_interval`` apart, ``wait_timeout`` seconds at
  most), until its power status is the one asked for.
* Block storage (``/blocks``): ``POST`` with ``region``, ``size_gb`` and
  ``label``; ``POST /blocks/{id}/attach`` (``instance_id``, ``live``) and
  ``/detach`` (``live``) answer ``204``.
* Errors are ``{"error": "...", "status": 4xx}``.

How the model maps:

* ``NodeSize.id`` is the plan id; ``price`` is US dollars per hour: the
  plan's ``monthly_cost`` over the 672 hours a month Vultr bills at most (730
  for Cloud GPU plans), ``None`` when unknown, never 0. Apache Libcloud puts
  the monthly figure in ``price``; here it is ``extra["monthly_cost"]``.
* Node states: ``pending`` pending; ``active`` running if ``power_status``
  is ``running``, else stopped; ``resizing`` reconfiguring; ``suspended``
  suspended. ``node.extra["location"]`` is the region id (as Libcloud).
* Images are the operating systems (``/os``); locations the regions.
* Vultr never generates an SSH key pair: ``import_key_pair_from_string``
  registers one. A node made with ``auth=NodeAuthSSHKey(...)`` gets that key
  by id (``sshkey_id``; registered first, as ``overcast-<hash>``, if the
  account does not hold it). Vultr sets the root password itself: it is in
  ``node.extra["password"]`` of the node ``create_node`` returns.
* An instance create carries a token, the tag ``overcast-token-<hex>``: an
  answer lost on the way is settled by listing the instances of that tag, and
  the create is sent again only if nothing was made. Blocks and SSH keys have
  no tags: a lost answer is settled by the label (name) and what was not
  there before the create.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.compute.base import NodeSpec
from overcast.compute.base import PowerChange
from overcast.compute.models import KeyPair
from overcast.compute.models import Node
from overcast.compute.models import NodeAuth
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.models import NodeState
from overcast.compute.models import StorageVolume
from overcast.compute.models import StorageVolumeState
from overcast.compute.models import VolumeSnapshot
from overcast.compute.models import VolumeSnapshotState
from overcast.compute.rest import KeyIdAuth
from overcast.compute.rest import RestNodeDriver
from overcast.compute.rest import token_tag
from overcast.compute.values import moment
from overcast.compute.values import whole
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import KeyPairNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from overcast.providers.vultr import DEFAULT_ENDPOINT
from overcast.providers.vultr import MAX_PAGE_SIZE
from overcast.providers.vultr import hourly_price
from overcast.providers.vultr import page_of
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import alias
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import expand
from overcast.runtime.ops import find_first
from overcast.runtime.ops import poll
from overcast.runtime.options import check_polling
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.redact import Secret

__all__ = ["VultrNodeDriver"]

#: Vultr's smallest and largest block storage volume, in GB.
#: The instance action of each power change, and the power status it leads to.
_POWER_ACTIONS: Final[Mapping[PowerChange, tuple[str, str]]] = {
    "reboot": ("reboot", "running"), "start": ("start", "running"),
    "stop": ("halt", "stopped")}
MIN_VOLUME_GB: Final = 10
MAX_VOLUME_GB: Final = 40000
_STATES: Final = {
    "pending": NodeState.PENDING,
    "resizing": NodeState.RECONFIGURING,
    "suspended": NodeState.SUSPENDED,
    "rebooting": NodeState.REBOOTING,
}
_VOLUME_STATES: Final = {"active": StorageVolumeState.AVAILABLE,
                         "pending": StorageVolumeState.CREATING}
_SNAPSHOT_STATES: Final = {"complete": VolumeSnapshotState.AVAILABLE,
                           "pending": VolumeSnapshotState.CREATING}


def _addresses(*values: Any) -> list[str]:
    """The set addresses among ``values`` (Vultr writes ``0.0.0.0``, ``::`` or
    an empty string for none)."""
    return [str(v) for v in values if v and str(v) not in ("0.0.0.0", "::")]


class VultrNodeDriver(KeyIdAuth, RestNodeDriver):
    """Instances, plans, OS images, regions, SSH keys, block storage and
    snapshots on Vultr (API v2).

    ``key`` is the API key; ``secret`` is unused (Apache Libcloud's
    signature, as are ``secure``, ``host`` and ``port``, its way to name
    another endpoint; ``api_version`` may only be ``"2"``). ``endpoint=`` is
    overcast's (default ``https://api.vultr.com/v2``). ``page_size`` is the
    ``per_page`` of listings (1..500, more is lowered to 500). Power changes
    are watched every ``poll_interval`` seconds, for ``wait_timeout`` seconds
    at most.
    """

    name: ClassVar[str] = "vultr"
    label: ClassVar[str] = "Vultr"
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(InvalidInput, status=(400, 422)),
    )
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    default_endpoint: ClassVar[str] = DEFAULT_ENDPOINT
    api_path: ClassVar[str] = "/v2"
    page_sizes: ClassVar[tuple[int, int]] = (1, MAX_PAGE_SIZE)
    clamp_page_size: ClassVar[bool] = True
    auth_hint: ClassVar[str] = (": Vultr sets the root password itself (node.extra['password']); "
                                "give an SSH key (auth=NodeAuthSSHKey)")

    def __init__(self, key: str | Secret, secret: str | None = None, secure: bool = True,
                 host: str | None = None, port: int | None = None,
                 api_version: str | None = None, *, endpoint: str | None = None,
                 page_size: int = 100, poll_interval: float = 2.0, wait_timeout: float = 300.0,
                 **options: Any) -> None:
        super().__init__(**options)
        if api_version not in (None, "2", 2):
            raise InvalidInput(f"only Vultr's API v2 is served: api_version={api_version!r}",
                               driver=self)
        self.poll_interval, self.wait_timeout = check_polling(poll_interval, wait_timeout,
                                                              driver=self)
        self._connect(key, endpoint, host, port, secure, page_size,
                      missing="Vultr needs an API key")

    # -- plumbing ------------------------------------------------------------------------

    def _page_query(self, cursor: Cursor | None) -> list[tuple[str, str]]:
        """``per_page``, and the ``cursor`` of every page but the first."""
        query = [("per_page", str(self.page_size))]
        if cursor is not None:
            query.append(("cursor", str(cursor)))
        return query

    def _read_page(self, payload: Any, key: str, cursor: Cursor | None,
                   path: str) -> Page[Any]:
        """The items under ``key``; the next cursor is ``meta.links.next``."""
        return page_of(payload, key)

    def _path(self, collection: str, value: object, what: str) -> str:
        """``/collection/{id}``: the id a non-empty string or number, quoted."""
        return f"/{collection}/{self._path_id(value, what)}"

    def _to_size(self, data: Mapping[str, Any]) -> NodeSize:
        return NodeSize(
            id=str(data["id"]), name=str(data["id"]), ram=whole(data.get("ram")),
            disk=whole(data.get("disk")),
            bandwidth=None if data.get("bandwidth") is None else whole(data["bandwidth"]),
            price=hourly_price(data), driver=self,
            extra={"vcpu_count": data.get("vcpu_count"), "type": data.get("type"),
                   "disk_count": data.get("disk_count"),
                   "locations": list(data.get("locations") or []),
                   "monthly_cost": data.get("monthly_cost"), "is_bare_metal": False},
        )

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """Iterate over the instance plans (``GET /plans``); with ``location``,
        those offered in that region. ``price`` is per hour (``monthly_cost``
        over Vultr's monthly cap of hours)."""
        wanted = None if location is None else self._expect(location, NodeLocation,
                                                             "location").id
        yield from expand(self._pages("/plans", "plans", self._to_size),
                          lambda size: [size] if wanted is None
                          or wanted in size.extra["locations"] else [])

    def _to_image(self, data: Mapping[str, Any]) -> NodeImage:
        return NodeImage(id=str(data["id"]), name=str(data.get("name") or ""), driver=self,
                         extra={"arch": data.get("arch"), "family": data.get("family")})

    @iterator
    def iterate_images(self, location: NodeLocation | None = None) -> Iter[NodeImage]:
        """Iterate over the operating systems instances boot from (``GET /os``;
        every region offers all of them: ``location`` filters nothing)."""
        yield from self._pages("/os", "os", self._to_image)

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """The operating system of id ``image_id`` (Vultr has no ``GET /os/{id}``:
        the list is searched); ImageNotFound if there is none."""
        wanted = str(image_id)
        found = yield from find_first(self.iterate_images.op(), lambda i: i.id == wanted)
        if found is None:
            raise ImageNotFound(wanted, f"image not found: {wanted!r}", driver=self)
        return found

    def _to_location(self, data: Mapping[str, Any]) -> NodeLocation:
        return NodeLocation(id=str(data["id"]), name=str(data.get("city") or data["id"]),
                            country=data.get("country"), driver=self,
                            extra={"continent": data.get("continent"),
                                   "option": list(data.get("options") or [])})

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """Iterate over the regions (``GET /regions``)."""
        yield from self._pages("/regions", "regions", self._to_location)

    # -- instances -------------------------------------------------------------------------

    def _to_node(self, data: Mapping[str, Any]) -> Node:
        status = str(data.get("status"))
        power = data.get("power_status")
        if status == "active":
            state = NodeState.RUNNING if power == "running" else NodeState.STOPPED
        else:
            state = _STATES.get(status, NodeState.UNKNOWN)
        # Every field the API gave (Libcloud's extra keys among them: ram, disk,
        # netmask_v4, gateway_v4, v6_network, app_id, image_id, features, tag,
        # os, vcpu_count, allowed_bandwidth, power_status, server_status, ...).
        extra: dict[str, Any] = dict(data)
        password = extra.pop("default_password", None)
        if password:
            extra["password"] = Secret(str(password))
        extra.update(location=data.get("region"), tags=list(data.get("tags") or []),
                     is_bare_metal=False)
        return Node(
            id=str(data["id"]), name=str(data.get("label") or ""), state=state,
            public_ips=_addresses(data.get("main_ip"), data.get("v6_main_ip")),
            private_ips=_addresses(data.get("internal_ip")), driver=self,
            extra=extra, created_at=moment(data.get("date_created")),
        )

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        """Iterate over the account's instances (``GET /instances``), page by page."""
        yield from self._pages("/instances", "instances", self._to_node)

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """Get an instance by id (``GET /instances/{id}``); NodeNotFound if none."""
        data = yield from self._json("GET", self._path("instances", node_id, "node id"),
                                     what=str(node_id), missing=NodeNotFound)
        return self._to_node(data["instance"])

    ex_get_node = alias(get_node, "Apache Libcloud's name for :meth:`get_node`.")

    @operation
    def create_node(self, name: str, size: NodeSize, image: NodeImage | NodeLocation | None = None,
                    location: NodeLocation | NodeImage | None = None,
                    auth: NodeAuth | None = None, *,
                    ex_ssh_key_ids: Sequence[str] | None = None,
                    ex_private_network_ids: Sequence[str] | None = None,
                    ex_snapshot: VolumeSnapshot | str | None = None,
                    ex_enable_ipv6: bool = False, ex_backups: bool = False,
                    ex_userdata: str | None = None, ex_ddos_protection: bool = False,
                    ex_script_id: str | None = None, ex_image_id: str | None = None,
                    ex_activation_email: bool = False, ex_hostname: str | None = None,
                    ex_tag: str | None = None, ex_tags: Sequence[str] | None = None,
                    ex_firewall_group_id: str | None = None,
                    ex_reserved_ipv4: str | None = None) -> Op[Node]:
        """Create an instance (``POST /instances``) and return it (``pending``).

        Overcast's order is ``(name, size, image, location, auth)``; Apache
        Libcloud's v2 order, ``(name, size, location, image)``, is taken too: a
        :class:`NodeLocation` third means Libcloud's positions. ``location``
        (a region) is required; the node's name is its ``label``. ``auth`` is
        an SSH key (:class:`NodeAuthSSHKey`): it is registered (or found) and
        installed by id. ``image`` (an OS) may be left out when booting from
        ``ex_snapshot`` (a snapshot or its id) or the application image
        ``ex_image_id``.

        Vultr's own options: ``ex_ssh_key_ids`` (key ids), ``ex_userdata``
        (cloud-init user data, sent base64-encoded as Vultr wants),
        ``ex_tags`` (tags; ``ex_tag``, Libcloud's single tag, is added to
        them), ``ex_hostname``, ``ex_enable_ipv6``, ``ex_backups``,
        ``ex_ddos_protection``, ``ex_activation_email``, ``ex_script_id``
        (a startup script), ``ex_private_network_ids`` (VPC ids, sent as
        ``attach_vpc``), ``ex_firewall_group_id``, ``ex_reserved_ipv4``.
        """
        if isinstance(image, NodeLocation) and not isinstance(location, NodeLocation):
            image, location = location, image  # Libcloud's (name, size, location, image)
        if image is None and (ex_snapshot is not None or ex_image_id is not None):
            image = NodeImage("", "(snapshot or application image)", driver=self)
        return (yield from self._create_node(
            name, size, image, location, auth, ex_ssh_key_ids=ex_ssh_key_ids,  # type: ignore[arg-type]
            ex_private_network_ids=ex_private_network_ids, ex_snapshot=ex_snapshot,
            ex_enable_ipv6=ex_enable_ipv6, ex_backups=ex_backups, ex_userdata=ex_userdata,
            ex_ddos_protection=ex_ddos_protection, ex_script_id=ex_script_id,
            ex_image_id=ex_image_id, ex_activation_email=ex_activation_email,
            ex_hostname=ex_hostname, ex_tag=ex_tag, ex_tags=ex_tags,
            ex_firewall_group_id=ex_firewall_group_id, ex_reserved_ipv4=ex_reserved_ipv4,
        ))

    def _strings(self, value: object, what: str) -> list[str]:
        """A list of non-empty strings (``None``: empty); InvalidInput otherwise."""
        if value is None:
            return []
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not all(
                isinstance(v, str) and v.strip() for v in value):
            raise InvalidInput(f"{what} must be a list of non-empty strings: {value!r}",
                               driver=self)
        return list(value)

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """A region; ids, tags and user data of the right types; the body's
        fields built (everything checked before any request)."""
        options = spec.options
        if spec.location is None:
            raise InvalidInput("a Vultr instance needs a location (a region)", driver=self)
        body: dict[str, Any] = {"region": spec.location.id, "plan": spec.size.id,
                                "label": spec.name}
        snapshot = options["ex_snapshot"]
        if snapshot is not None:
            body["snapshot_id"] = snapshot.id if isinstance(snapshot, VolumeSnapshot) \
                else self._strings([snapshot], "ex_snapshot")[0]
        elif options["ex_image_id"] is not None:
            body["image_id"] = self._strings([options["ex_image_id"]], "ex_image_id")[0]
        else:
            body["os_id"] = int(spec.image.id) if spec.image.id.isdigit() else spec.image.id
        tags = self._strings(options["ex_tags"], "ex_tags")
        if options["ex_tag"] is not None:
            tags += self._strings([options["ex_tag"]], "ex_tag")
        body["tags"] = tags
        keys = self._strings(options["ex_ssh_key_ids"], "ex_ssh_key_ids")
        if keys:
            body["sshkey_id"] = keys
        networks = self._strings(options["ex_private_network_ids"], "ex_private_network_ids")
        if networks:
            body["attach_vpc"] = networks
        user_data = options["ex_userdata"]
        if user_data is not None:
            if not isinstance(user_data, str):
                raise InvalidInput("ex_userdata must be a string", driver=self)
            body["user_data"] = base64.b64encode(user_data.encode("utf-8")).decode("ascii")
        for option, field in (("ex_hostname", "hostname"), ("ex_script_id", "script_id"),
                              ("ex_firewall_group_id", "firewall_group_id"),
                              ("ex_reserved_ipv4", "reserved_ipv4")):
            if options[option] is not None:
                body[field] = self._strings([options[option]], option)[0]
        for option, field in (("ex_enable_ipv6", "enable_ipv6"),
                              ("ex_ddos_protection", "ddos_protection"),
                              ("ex_activation_email", "activation_email")):
            if not isinstance(options[option], bool):
                raise InvalidInput(f"{option} must be True or False", driver=self)
            body[field] = options[option]
        if not isinstance(options["ex_backups"], bool):
            raise InvalidInput("ex_backups must be True or False", driver=self)
        body["backups"] = "enabled" if options["ex_backups"] else "disabled"
        return spec.but(body=body)

    def _with_key_id(self, spec: NodeSpec, key_id: Any) -> NodeSpec:
        """The key id joins the create's ``sshkey_id``."""
        body = dict(spec.options["body"])
        body["sshkey_id"] = [*body.get("sshkey_id", []), str(key_id)]
        return spec.but(body=body)

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        body = dict(spec.options["body"])
        body["tags"] = [*body["tags"], token_tag(token)]
        data = yield from self._json("POST", "/instances", json=body)
        return self._to_node(data["instance"])

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        """The instance tagged with ``token``, if an earlier attempt made it."""
        return (yield from find_first(
            self._pages("/instances", "instances", self._to_node,
                       [("tag", token_tag(token))]),
            lambda node: node.name == spec.name))

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """``POST /instances/{id}/reboot``, ``.../start`` or ``.../halt``, then
        read the instance (pausing :attr:`poll_interval` with the runtime's
        ``Sleep``) until it runs (is stopped, after ``halt``); OperationTimeout
        after :attr:`wait_timeout`."""
        action, wanted = _POWER_ACTIONS[change]
        path = self._path("instances", self._expect(node, Node, "node").id, "node id")
        yield from self._send("POST", f"{path}/{action}", what=node.id, missing=NodeNotFound)

        def look() -> Op[dict[str, Any]]:
            data = yield from self._json("GET", path, what=node.id, missing=NodeNotFound)
            return dict(data["instance"])

        def there(current: dict[str, Any]) -> bool:
            return current.get("power_status") == wanted and current.get("status") == "active" \
                and current.get("server_status") != "locked"

        yield from poll(look, there, interval=self.poll_interval, timeout=self.wait_timeout,
                        timed_out=lambda current: OperationTimeout(
                            f"Vultr instance {node.id} was not {wanted} within "
                            f"{self.wait_timeout:g}s of {action}", driver=self))
        return True

    @operation
    def ex_stop_nodes(self, nodes: Sequence[Node]) -> Op[bool]:
        """Halt several instances at once (``POST /instances/halt``; not waited for)."""
        ids = [self._expect(n, Node, "node").id for n in nodes]
        if not ids:
            raise InvalidInput("ex_stop_nodes needs at least one node", driver=self)
        yield from self._send("POST", "/instances/halt", json={"instance_ids": ids})
        return True

    @operation
    def ex_resize_node(self, node: Node, size: NodeSize) -> Op[bool]:
        """Move an instance to the plan ``size`` (``PATCH /instances/{id}``)."""
        path = self._path("instances", self._expect(node, Node, "node").id, "node id")
        plan = self._expect(size, NodeSize, "size").id
        yield from self._send("PATCH", path, json={"plan": plan}, what=node.id,
                              missing=NodeNotFound)
        return True

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        """Delete an instance (``DELETE /instances/{id}``)."""
        node_id = self._expect(node, Node, "node").id
        return (yield from self._delete(self._path("instances", node_id, "node id"), node_id,
                                      NodeNotFound))

    # -- block storage ------------------------------------------------------------------------

    def _to_volume(self, data: Mapping[str, Any]) -> StorageVolume:
        attached = data.get("attached_to_instance") or None
        state = StorageVolumeState.INUSE if attached else \
            _VOLUME_STATES.get(str(data.get("status")), StorageVolumeState.UNKNOWN)
        return StorageVolume(
            id=str(data["id"]), name=data.get("label"), size=whole(data.get("size_gb")),
            driver=self, state=state,
            extra={"date_created": data.get("date_created"), "cost": data.get("cost"),
                   "location": data.get("region"), "attached_to_instance": attached,
                   "mount_id": data.get("mount_id"), "block_type": data.get("block_type"),
                   "status": data.get("status")},
        )

    @iterator
    def iterate_volumes(self) -> Iter[StorageVolume]:
        """Iterate over the account's block storage volumes (``GET /blocks``)."""
        yield from self._pages("/blocks", "blocks", self._to_volume)

    @operation
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """Get a volume by id (``GET /blocks/{id}``); VolumeNotFound if none."""
        data = yield from self._json("GET", self._path("blocks", volume_id, "volume id"),
                                     what=str(volume_id), missing=VolumeNotFound)
        return self._to_volume(data["block"])

    ex_get_volume = alias(get_volume, "Apache Libcloud's name for :meth:`get_volume`.")

    @operation
    def create_volume(self, size: int, name: str, location: NodeLocation | str | None = None,
                      snapshot: VolumeSnapshot | None = None) -> Op[StorageVolume]:
        """Create a block storage volume of ``size`` GB (10 to 40,000) labelled
        ``name`` in the region ``location`` (a location or a region id;
        required). Vultr makes no volume from a snapshot: ``snapshot`` is
        NotSupported. A lost answer is settled by the label: a volume of that
        label that was not there before is the one made."""
        if isinstance(size, bool) or not isinstance(size, int) or \
                not MIN_VOLUME_GB <= size <= MAX_VOLUME_GB:
            raise InvalidInput(f"a Vultr volume is {MIN_VOLUME_GB} to {MAX_VOLUME_GB} GB: "
                               f"{size!r}", driver=self)
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"a volume name must be a non-empty string: {name!r}",
                               driver=self)
        if snapshot is not None:
            raise NotSupported("Vultr makes no block storage volume from a snapshot",
                               driver=self)
        if location is None:
            raise InvalidInput("a Vultr volume needs a location (a region)", driver=self)
        region = location if isinstance(location, str) else \
            self._expect(location, NodeLocation, "location").id
        body = {"region": region, "size_gb": size, "label": name}
        labelled = yield from collect(expand(self.iterate_volumes.op(),
                                             lambda v: [v.id] if v.name == name else []))
        before = set(labelled)

        def send(token: str) -> Op[StorageVolume]:
            data = yield from self._json("POST", "/blocks", json=body)
            return self._to_volume(data["block"])

        def find(token: str) -> Op[StorageVolume | None]:
            return (yield from find_first(
                self.iterate_volumes.op(),
                lambda v: v.name == name and v.id not in before
                and v.extra["location"] == region))

        return (yield from self._create(send, find))

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a volume (``DELETE /blocks/{id}``)."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        return (yield from self._delete(self._path("blocks", volume_id, "volume id"), volume_id,
                                      VolumeNotFound))

    @operation
    def attach_volume(self, node: Node, volume: StorageVolume, device: str | bool | None = None,
                      *, ex_live: bool = True) -> Op[bool]:
        """Attach a volume to an instance in its region (``POST
        /blocks/{id}/attach``). Vultr names the device itself: a ``device``
        string is ignored; a bool third (Apache Libcloud's ``ex_live``
        position) is ``ex_live``: attach without restarting the instance."""
        if isinstance(device, bool):
            ex_live = device
        node_id = self._expect(node, Node, "node").id
        volume_id = self._expect(volume, StorageVolume, "volume").id
        yield from self._send("POST", f"{self._path('blocks', volume_id, 'volume id')}/attach",
                              json={"instance_id": node_id, "live": bool(ex_live)},
                              what=volume_id, missing=VolumeNotFound)
        return True

    @operation
    def detach_volume(self, volume: StorageVolume, ex_live: bool = True) -> Op[bool]:
        """Detach a volume from its instance (``POST /blocks/{id}/detach``);
        ``ex_live``: without restarting the instance."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        yield from self._send("POST", f"{self._path('blocks', volume_id, 'volume id')}/detach",
                              json={"live": bool(ex_live)}, what=volume_id,
                              missing=VolumeNotFound)
        return True

    @operation
    def ex_resize_volume(self, volume: StorageVolume, size: int) -> Op[bool]:
        """Grow a volume to ``size`` GB (``PATCH /blocks/{id}``)."""
        vol = self._expect(volume, StorageVolume, "volume")
        if isinstance(size, bool) or not isinstance(size, int) or \
                not MIN_VOLUME_GB <= size <= MAX_VOLUME_GB:
            raise InvalidInput(f"a Vultr volume is {MIN_VOLUME_GB} to {MAX_VOLUME_GB} GB: "
                               f"{size!r}", driver=self)
        yield from self._send("PATCH", self._path("blocks", vol.id, "volume id"),
                              json={"size_gb": size}, what=vol.id, missing=VolumeNotFound)
        return True

    # -- instance snapshots -----------------------------------------------------------------

    def _to_snapshot(self, data: Mapping[str, Any]) -> VolumeSnapshot:
        size = data.get("size")
        return VolumeSnapshot(
            id=str(data["id"]), driver=self,
            size=whole(size) // 1024 ** 3 if size is not None else None,
            extra={"description": data.get("description"), "os_id": data.get("os_id"),
                   "app_id": data.get("app_id"), "size_bytes": size,
                   "compressed_size": data.get("compressed_size")},
            created=moment(data.get("date_created")),
            state=_SNAPSHOT_STATES.get(str(data.get("status")), VolumeSnapshotState.UNKNOWN),
            name=data.get("description"),
        )

    @operation
    def ex_list_snapshots(self) -> Op[list[VolumeSnapshot]]:
        """The account's instance snapshots (``GET /snapshots``, every page)."""
        return (yield from collect(self._pages("/snapshots", "snapshots", self._to_snapshot)))

    @operation
    def ex_get_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """A snapshot by id (``GET /snapshots/{id}``); SnapshotNotFound if none."""
        data = yield from self._json("GET", self._path("snapshots", snapshot_id, "snapshot id"),
                                     what=str(snapshot_id), missing=SnapshotNotFound)
        return self._to_snapshot(data["snapshot"])

    @operation
    def ex_create_snapshot(self, node: Node, description: str | None = None
                           ) -> Op[VolumeSnapshot]:
        """Snapshot an instance (``POST /snapshots``). Not reconciled when its
        answer is lost (a description need not be unique): that is
        :class:`~overcast.errors.OutcomeUnknown`."""
        body: dict[str, Any] = {"instance_id": self._expect(node, Node, "node").id}
        if description is not None:
            body["description"] = self._strings([description], "description")[0]
        data = yield from self._json("POST", "/snapshots", json=body, what=node.id,
                                     missing=NodeNotFound)
        return self._to_snapshot(data["snapshot"])

    @operation
    def ex_delete_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Delete an instance snapshot (``DELETE /snapshots/{id}``)."""
        snap_id = self._expect(snapshot, VolumeSnapshot, "snapshot").id
        return (yield from self._delete(self._path("snapshots", snap_id, "snapshot id"), snap_id,
                                      SnapshotNotFound))

    # -- SSH keys ------------------------------------------------------------------------------

    def _to_key_pair(self, data: Mapping[str, Any]) -> KeyPair:
        return KeyPair(name=str(data.get("name") or ""), public_key=data.get("ssh_key"),
                       fingerprint=None, driver=self,
                       extra={"id": data.get("id"), "date_created": data.get("date_created")})

    @iterator
    def iterate_key_pairs(self) -> Iter[KeyPair]:
        """Iterate over the account's SSH keys (``GET /ssh-keys``)."""
        yield from self._pages("/ssh-keys", "ssh_keys", self._to_key_pair)

    @operation
    def get_key_pair(self, name: str) -> Op[KeyPair]:
        """The account's SSH key named ``name``, or of id ``name`` (Apache
        Libcloud's Vultr driver gets keys by id); KeyPairNotFound if none."""
        wanted = str(name)
        found = yield from find_first(self.iterate_key_pairs.op(),
                                      lambda k: wanted in (k.name, str(k.extra["id"])))
        if found is None:
            raise KeyPairNotFound(wanted, f"key pair not found: {wanted!r}", driver=self)
        return found

    def _send_public_key(self, name: str, public_key: str) -> Op[KeyPair]:
        """``POST /ssh-keys``."""
        data = yield from self._json("POST", "/ssh-keys",
                                     json={"name": name, "ssh_key": public_key})
        return self._to_key_pair(data["ssh_key"])

    @operation
    def delete_key_pair(self, key_pair: KeyPair) -> Op[bool]:
        """Delete an SSH key (``DELETE /ssh-keys/{id}``; found by name when the
        key pair carries no id)."""
        key_id = yield from self._key_pair_id(key_pair)
        return (yield from self._delete(self._path("ssh-keys", key_id, "key id"), key_pair.name,
                                      KeyPairNotFound))
