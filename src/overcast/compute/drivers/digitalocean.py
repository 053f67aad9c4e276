"""DigitalOcean droplets, volumes, snapshots, SSH keys and floating IPs (API v2).

``DigitalOceanNodeDriver(token)`` authenticates with a personal access (or
OAuth) token, sent as ``Authorization: Bearer ...``
(:class:`~overcast.auth.bearer.BearerAuth`).

Facts of the API this driver is built on (``https://api.digitalocean.com/v2``):

* Lists (``/droplets``, ``/sizes``, ``/images``, ``/regions``, ``/volumes``,
  ``/account/keys``, ``/floating_ips``, a volume's ``/snapshots``) page by
  ``page``/``per_page`` (1..200) and name the next page in
  ``links.pages.next``; the shared pager follows it and refuses a page
  number that comes back (:mod:`overcast.providers.digitalocean`).
* ``POST /droplets`` answers ``202`` with the droplet ``new``; it becomes
  ``active`` when it has booted, ``off`` when powered off. Power and reboot
  are ``POST /droplets/{id}/actions {"type": ...}`` (``201`` with an action,
  ``in-progress``); the action's fate is ``GET /actions/{id}``
  (``completed`` or ``errored``). Volume attach and detach are actions too
  (``POST /volumes/{id}/actions``).
* Errors are ``{"id", "message", "request_id"}``: ``not_found`` (404),
  ``unprocessable_entity`` (422, also for a name or key already in use),
  ``unauthorized`` (401), ``too_many_requests`` (429).

How the model maps:

* ``NodeSize.id`` is the size slug; ``price`` is ``price_hourly`` (US dollars
  per hour; ``None`` when the API gives none, never 0) and
  ``extra["price_monthly"]`` the monthly one.
* Node states: ``new`` pending, ``active`` running, ``off`` stopped,
  ``archive`` terminated. ``node.extra["location"]`` is the region slug.
* Locations are regions (their slugs are ids); ``list_locations`` keeps the
  available ones unless ``ex_available=False`` (as Libcloud).
* DigitalOcean never generates an SSH key pair: ``import_key_pair_from_string``
  registers one (Libcloud's ``create_key_pair(name, public_key)`` is that).
  Key pairs are found by name. A node made with ``auth=NodeAuthSSHKey(...)``
  gets that key by id (registered first, as ``overcast-<hash>``, if it is
  not there yet); DigitalOcean sets no root password of the caller's.
* Creates carry a token (the droplet's or volume's tag ``overcast-token-<hex>``,
  a snapshot's tag): an answer lost on the way is settled by looking the tag
  up, and the create is sent again only if nothing was made.
* Waiting for an action pauses with the runtime's ``Sleep``
  (``poll_interval`` apart, ``wait_timeout`` seconds at most).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.compute.base import NodeDriver
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
from overcast.compute.models import bound_driver
from overcast.compute.rest import KeyIdAuth
from overcast.compute.rest import RestNodeDriver
from overcast.compute.rest import tagged
from overcast.compute.rest import token_tag
from overcast.compute.values import moment
from overcast.compute.values import price
from overcast.compute.values import whole
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import KeyPairNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from overcast.providers.digitalocean import DEFAULT_ENDPOINT
from overcast.providers.digitalocean import MAX_PAGE_SIZE
from overcast.providers.digitalocean import page_of
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import alias
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import expand
from overcast.runtime.ops import find_first
from overcast.runtime.ops import poll
from overcast.runtime.options import check_polling
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.redact import Secret

__all__ = ["DigitalOceanFloatingIP", "DigitalOceanNodeDriver", "FloatingIPNotFound"]

NODE_STATES: Final = {
    "new": NodeState.PENDING,
    "active": NodeState.RUNNING,
    "off": NodeState.STOPPED,
    "archive": NodeState.TERMINATED,
}
#: The keys of ``ex_create_attr`` sent with a droplet create (Libcloud's, and
#: the API's other optional fields).
CREATE_ATTRIBUTES: Final = frozenset({
    "backups", "ipv6", "private_networking", "tags", "ssh_keys", "user_data", "monitoring",
    "volumes", "vpc_uuid", "with_droplet_agent",
})
#: The droplet action of each power change.
_POWER_ACTIONS: Final[Mapping[PowerChange, str]] = {
    "reboot": "reboot", "start": "power_on", "stop": "power_off"}
_HOSTNAME_CHARS: Final = frozenset(string.ascii_letters + string.digits + ".-")
_VOLUME_CHARS: Final = frozenset(string.ascii_lowercase + string.digits + "-")


class FloatingIPNotFound(NotFound):
    """No floating IP has that address."""

    kind = "floating IP"


class DigitalOceanFloatingIP:
    """A floating IP (Apache Libcloud's ``DigitalOcean_v2_FloatingIpAddress``):
    ``id`` and ``ip_address`` are the address, ``node_id`` the droplet it is
    assigned to (or None), ``extra["region"]`` its region."""

    __slots__ = ("driver", "extra", "id", "ip_address", "node_id")

    def __init__(self, id: str, ip_address: str, node_id: str | None,
                 extra: dict[str, Any] | None = None,
                 driver: DigitalOceanNodeDriver | None = None) -> None:
        self.id = id
        self.ip_address = ip_address
        self.node_id = node_id
        self.extra: dict[str, Any] = extra or {}
        self.driver = driver

    def delete(self) -> bool:
        """Release this floating IP."""
        return bound_driver(self.driver, "floating IP").ex_delete_floating_ip(self)

    def __repr__(self) -> str:
        return f"<DigitalOceanFloatingIP: ip={self.ip_address}, node_id={self.node_id}>"


class DigitalOceanNodeDriver(KeyIdAuth, RestNodeDriver):
    """Droplets, volumes, snapshots, SSH keys and floating IPs on DigitalOcean (API v2).

    ``key`` is the API token; ``secret`` is unused (Apache Libcloud's
    signature). ``secure``, ``host`` and ``port`` are Libcloud's way to name
    another endpoint; ``endpoint=`` is overcast's (default
    ``https://api.digitalocean.com/v2``). ``page_size`` is the ``per_page`` of
    listings (1..200, more is lowered to 200). Actions are polled every
    ``poll_interval`` seconds, for ``wait_timeout`` seconds at most.
    """

    name: ClassVar[str] = "digitalocean"
    label: ClassVar[str] = "DigitalOcean"
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(AlreadyExists, status=422, says=("already exists", "already in use")),
        When(AlreadyExists, status=409, says="already exists"),
        When(InvalidInput, status=(400, 422)),
    )
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    default_endpoint: ClassVar[str] = DEFAULT_ENDPOINT
    api_path: ClassVar[str] = "/v2"
    page_sizes: ClassVar[tuple[int, int]] = (1, MAX_PAGE_SIZE)
    clamp_page_size: ClassVar[bool] = True
    first_page: ClassVar[Cursor | None] = 1
    auth_hint: ClassVar[str] = ": DigitalOcean installs SSH keys only (auth=NodeAuthSSHKey)"

    def __init__(self, key: str | Secret, secret: str | None = None, secure: bool = True,
                 host: str | None = None, port: int | None = None, *,
                 endpoint: str | None = None, page_size: int = 100,
                 poll_interval: float = 2.0, wait_timeout: float = 300.0,
                 **options: Any) -> None:
        super().__init__(**options)
        self.poll_interval, self.wait_timeout = check_polling(poll_interval, wait_timeout,
                                                              driver=self)
        self._connect(key, endpoint, host, port, secure, page_size,
                      missing="DigitalOcean needs an API token")

    # -- plumbing ------------------------------------------------------------------------

    def _page_query(self, cursor: Cursor | None) -> list[tuple[str, str]]:
        """``page`` (from 1) and ``per_page``."""
        return [("page", str(cursor or 1)), ("per_page", str(self.page_size))]

    def _read_page(self, payload: Any, key: str, cursor: Cursor | None,
                   path: str) -> Page[Any]:
        """The items under ``key``; the next page is the one ``links.pages.next`` names."""
        return page_of(payload, key, path, self)

    def _await_action(self, action: Mapping[str, Any]) -> Op[dict[str, Any]]:
        """Poll ``GET /actions/{id}`` until the action is ``completed`` (pausing
        :attr:`poll_interval`, :attr:`wait_timeout` in all); ProviderError if it
        ``errored``, OperationTimeout if it is still going on."""
        def look() -> Op[dict[str, Any]]:
            action_id = self._path_id(action.get("id"), "action")
            data = yield from self._json("GET", f"/actions/{action_id}")
            return dict(data["action"])

        def completed(current: dict[str, Any]) -> bool:
            if current.get("status") == "errored":
                raise ProviderError(
                    f"DigitalOcean action {current.get('id')} ({current.get('type')}) on "
                    f"{current.get('resource_type')} {current.get('resource_id')} errored",
                    driver=self)
            return current.get("status") == "completed"

        return (yield from poll(
            look, completed, current=dict(action), interval=self.poll_interval,
            timeout=self.wait_timeout, timed_out=lambda current: OperationTimeout(
                f"DigitalOcean action {current.get('id')} ({current.get('type')}) was not "
                f"completed within {self.wait_timeout:g}s", driver=self)))

    # -- sizes, images, locations ---------------------------------------------------------

    def _to_size(self, data: Mapping[str, Any]) -> NodeSize:
        return NodeSize(
            id=str(data["slug"]), name=str(data["slug"]), ram=whole(data.get("memory")),
            disk=whole(data.get("disk")),
            bandwidth=None if data.get("transfer") is None else whole(data["transfer"]),
            price=price(data.get("price_hourly")), driver=self,
            extra={"vcpus": data.get("vcpus"), "regions": list(data.get("regions") or []),
                   "price_monthly": data.get("price_monthly"),
                   "available": data.get("available"), "description": data.get("description")},
        )

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """Iterate over the droplet sizes (``GET /sizes``); with ``location``,
        those offered in that region. ``price`` is ``price_hourly``."""
        yield from expand(self._pages("/sizes", "sizes", self._to_size),
                          lambda size: [size] if location is None
                          or location.id in size.extra["regions"] else [])

    def _to_image(self, data: Mapping[str, Any]) -> NodeImage:
        return NodeImage(
            id=str(data["id"]), name=str(data.get("name") or ""), driver=self,
            extra={"distribution": data.get("distribution"), "public": data.get("public"),
                   "slug": data.get("slug"), "regions": list(data.get("regions") or []),
                   "min_disk_size": data.get("min_disk_size"),
                   "created_at": data.get("created_at"), "type": data.get("type"),
                   "size_gigabytes": data.get("size_gigabytes")},
        )

    @iterator
    def iterate_images(self, location: NodeLocation | None = None) -> Iter[NodeImage]:
        """Iterate over the images (``GET /images``: public distributions and
        applications, and the account's snapshots and backups); with
        ``location``, those available in that region."""
        yield from expand(self._pages("/images", "images", self._to_image),
                          lambda image: [image] if location is None
                          or location.id in image.extra["regions"] else [])

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """Get an image by id or slug (``GET /images/{id}``); ImageNotFound if none."""
        checked = self._path_id(image_id, "image_id")
        data = yield from self._json("GET", f"/images/{checked}", what=str(image_id),
                                     missing=ImageNotFound)
        return self._to_image(data["image"])

    @operation
    def delete_image(self, node_image: NodeImage) -> Op[bool]:
        """Delete a snapshot or custom image (``DELETE /images/{id}``)."""
        image = self._expect(node_image, NodeImage, "node_image")
        return (yield from self._delete(f"/images/{self._path_id(image.id, 'image id')}", image.id,
                                        ImageNotFound))

    def _to_location(self, data: Mapping[str, Any]) -> NodeLocation:
        return NodeLocation(
            id=str(data["slug"]), name=str(data.get("name") or data["slug"]), country=None,
            driver=self, extra={"available": data.get("available"),
                                "features": list(data.get("features") or []),
                                "sizes": list(data.get("sizes") or [])},
        )

    @iterator
    def iterate_locations(self, ex_available: bool = True) -> Iter[NodeLocation]:
        """Iterate over the regions (``GET /regions``): only the available ones
        unless ``ex_available`` is false (Apache Libcloud's default)."""
        yield from expand(self._pages("/regions", "regions", self._to_location),
                          lambda location: [location] if not ex_available
                          or location.extra["available"] else [])

    list_locations = listing(iterate_locations, "List the regions (only the available ones "
                                                "unless ``ex_available`` is false).")

    # -- droplets --------------------------------------------------------------------------

    def _to_node(self, data: Mapping[str, Any]) -> Node:
        public: list[str] = []
        private: list[str] = []
        networks = data.get("networks") or {}
        for family in ("v4", "v6"):
            for net in networks.get(family) or ():
                address = net.get("ip_address")
                if address:
                    (private if net.get("type") == "private" else public).append(str(address))
        region = data.get("region") or {}
        size = data.get("size")
        image = data.get("image")
        extra = {key: data.get(key) for key in (
            "memory", "vcpus", "disk", "size_slug", "locked", "created_at", "networks",
            "kernel", "backup_ids", "snapshot_ids", "volume_ids", "features", "vpc_uuid")}
        extra.update(tags=list(data.get("tags") or []), region=region.get("name"),
                     location=region.get("slug"), status=data.get("status"), image=image,
                     size=size)
        return Node(
            id=str(data["id"]), name=str(data.get("name") or ""),
            state=NODE_STATES.get(str(data.get("status")), NodeState.UNKNOWN),
            public_ips=public, private_ips=private, driver=self,
            size=self._to_size(size) if isinstance(size, Mapping) and size.get("slug") else None,
            image=self._to_image(image) if isinstance(image, Mapping) and "id" in image else None,
            extra=extra, created_at=moment(data.get("created_at")),
        )

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        """Iterate over the account's droplets (``GET /droplets``), page by page."""
        yield from self._pages("/droplets", "droplets", self._to_node)

    def _droplet_path(self, node_id: object) -> str:
        return f"/droplets/{self._path_id(node_id, 'node id')}"

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """Get a droplet by id (``GET /droplets/{id}``); NodeNotFound if there is none."""
        data = yield from self._json("GET", self._droplet_path(node_id), what=str(node_id),
                                     missing=NodeNotFound)
        return self._to_node(data["droplet"])

    ex_get_node_details = alias(get_node, "Apache Libcloud's name for :meth:`get_node`.")

    @operation
    def create_node(self, name: str, size: NodeSize, image: NodeImage,
                    location: NodeLocation | None = None, auth: NodeAuth | None = None, *,
                    ex_create_attr: Mapping[str, Any] | None = None,
                    ex_ssh_key_ids: Sequence[int | str] | None = None,
                    ex_user_data: str | None = None) -> Op[Node]:
        """Create a droplet (``POST /droplets``) and return it (``new``, pending).

        ``location`` is a region (DigitalOcean picks one when it is None).
        ``auth`` is an SSH key (:class:`NodeAuthSSHKey`): it is registered
        (or found) and installed by id. ``ex_create_attr`` holds the API's
        optional fields (``backups``, ``ipv6``, ``private_networking``,
        ``monitoring``, ``tags``, ``ssh_keys``, ``user_data``, ``volumes``,
        ``vpc_uuid``); its ``ssh_keys`` overrides ``ex_ssh_key_ids`` (key ids
        or fingerprints), as in Libcloud. ``ex_user_data`` is cloud-init user
        data. Libcloud's fifth positional parameter is ``ex_create_attr``;
        here it is ``auth`` (give ``ex_create_attr=`` by name).
        """
        return (yield from self._create_node(
            name, size, image, location, auth, ex_create_attr=ex_create_attr,
            ex_ssh_key_ids=ex_ssh_key_ids, ex_user_data=ex_user_data,
        ))

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """A host name (letters, digits, ``.`` and ``-``); known create attributes."""
        if not set(spec.name) <= _HOSTNAME_CHARS:
            raise InvalidInput(f"a droplet name is a host name (letters, digits, '.' and '-'): "
                               f"{spec.name!r}", driver=self)
        attrs = dict(spec.options["ex_create_attr"] or {})
        unknown = set(attrs) - CREATE_ATTRIBUTES
        if unknown:
            raise InvalidInput(f"unknown ex_create_attr key(s): {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(sorted(CREATE_ATTRIBUTES))}", driver=self)
        keys = attrs.get("ssh_keys", spec.options["ex_ssh_key_ids"]) or []
        if isinstance(keys, str | bytes) or not all(
                isinstance(k, int | str) and not isinstance(k, bool) for k in keys):
            raise InvalidInput("ssh_keys must be a list of key ids or fingerprints", driver=self)
        tags = attrs.get("tags") or []
        if isinstance(tags, str) or not all(isinstance(t, str) and t for t in tags):
            raise InvalidInput("tags must be a list of non-empty strings", driver=self)
        user_data = attrs.get("user_data", spec.options["ex_user_data"])
        if user_data is not None and not isinstance(user_data, str):
            raise InvalidInput("user data must be a string", driver=self)
        attrs.update(ssh_keys=list(keys), tags=list(tags))
        if user_data is not None:
            attrs["user_data"] = user_data
        return spec.but(ex_create_attr=attrs)

    def _with_key_id(self, spec: NodeSpec, key_id: Any) -> NodeSpec:
        """The key id joins ``ex_create_attr["ssh_keys"]``."""
        attrs = dict(spec.options["ex_create_attr"])
        attrs["ssh_keys"] = [*attrs["ssh_keys"], key_id]
        return spec.but(ex_create_attr=attrs)

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        attrs = dict(spec.options["ex_create_attr"])
        image: int | str = int(spec.image.id) if spec.image.id.isdigit() else spec.image.id
        body: dict[str, Any] = {"name": spec.name, "size": spec.size.id, "image": image,
                                **attrs, "tags": [*attrs["tags"], token_tag(token)]}
        if spec.location is not None:
            body["region"] = spec.location.id
        data = yield from self._json("POST", "/droplets", json=body)
        return self._to_node(data["droplet"])

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        """The droplet tagged with ``token``, if an earlier attempt made it."""
        found = yield from find_first(
            self._pages("/droplets", "droplets", self._to_node,
                        [("tag_name", token_tag(token))]),
            lambda node: node.name == spec.name)
        return found

    def _node_action(self, node: Node, kind: str, **fields: Any) -> Op[bool]:
        """Post an action to a droplet and wait until it is completed."""
        node_id = self._expect(node, Node, "node").id
        data = yield from self._json("POST", f"{self._droplet_path(node_id)}/actions",
                                     json={"type": kind, **fields}, what=node_id,
                                     missing=NodeNotFound)
        yield from self._await_action(data["action"])
        return True

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """The droplet action ``reboot``, ``power_on`` or ``power_off``, waited
        for until it is completed."""
        return self._node_action(node, _POWER_ACTIONS[change])

    ex_power_on_node = alias(NodeDriver.start_node,
                             "Apache Libcloud's name for :meth:`start_node`.")

    @operation
    def ex_shutdown_node(self, node: Node) -> Op[bool]:
        """Shut a droplet down gracefully (``shutdown``), waiting until it is completed."""
        return (yield from self._node_action(node, "shutdown"))

    @operation
    def ex_hard_reboot(self, node: Node) -> Op[bool]:
        """Power-cycle a droplet (``power_cycle``), waiting until it is completed."""
        return (yield from self._node_action(node, "power_cycle"))

    @operation
    def ex_resize_node(self, node: Node, size: NodeSize) -> Op[bool]:
        """Resize a (powered off) droplet to ``size`` (``resize``), waiting until done."""
        slug = self._expect(size, NodeSize, "size").id
        return (yield from self._node_action(node, "resize", size=slug))

    @operation
    def ex_rename_node(self, node: Node, name: str) -> Op[bool]:
        """Rename a droplet (``rename``), waiting until it is completed."""
        if not isinstance(name, str) or not name or not set(name) <= _HOSTNAME_CHARS:
            raise InvalidInput(f"a droplet name is a host name: {name!r}", driver=self)
        return (yield from self._node_action(node, "rename", name=name))

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        """Delete a droplet (``DELETE /droplets/{id}``)."""
        node_id = self._expect(node, Node, "node").id
        return (yield from self._delete(self._droplet_path(node_id), node_id, NodeNotFound))

    # -- volumes and snapshots ----------------------------------------------------------------

    def _to_volume(self, data: Mapping[str, Any]) -> StorageVolume:
        region = data.get("region") or {}
        droplets = [str(d) for d in data.get("droplet_ids") or []]
        return StorageVolume(
            id=str(data["id"]), name=data.get("name"), size=whole(data.get("size_gigabytes")),
            driver=self,
            state=StorageVolumeState.INUSE if droplets else StorageVolumeState.AVAILABLE,
            extra={"created_at": data.get("created_at"), "droplet_ids": droplets,
                   "region": region, "region_slug": region.get("slug"),
                   "description": data.get("description"), "tags": list(data.get("tags") or []),
                   "filesystem_type": data.get("filesystem_type")},
        )

    @iterator
    def iterate_volumes(self) -> Iter[StorageVolume]:
        """Iterate over the account's block storage volumes (``GET /volumes``)."""
        yield from self._pages("/volumes", "volumes", self._to_volume)

    def _volume_path(self, volume_id: object) -> str:
        return f"/volumes/{self._path_id(volume_id, 'volume id')}"

    @operation
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """Get a volume by id (``GET /volumes/{id}``); VolumeNotFound if none."""
        data = yield from self._json("GET", self._volume_path(volume_id), what=str(volume_id),
                                     missing=VolumeNotFound)
        return self._to_volume(data["volume"])

    @operation
    def create_volume(self, size: int, name: str, location: NodeLocation | None = None,
                      snapshot: VolumeSnapshot | None = None) -> Op[StorageVolume]:
        """Create a volume of ``size`` GiB named ``name`` (lowercase letters,
        digits and ``-``, starting with a letter) in the region ``location``
        (or from ``snapshot``, in the snapshot's region)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(f"size must be a positive number of GiB: {size!r}", driver=self)
        if not isinstance(name, str) or not name or not name[0].isalpha() or not set(name) <= \
                _VOLUME_CHARS or len(name) > 64:
            raise InvalidInput(f"a volume name is up to 64 lowercase letters, digits and '-', "
                               f"starting with a letter: {name!r}", driver=self)
        body: dict[str, Any] = {"size_gigabytes": size, "name": name}
        if location is not None:
            body["region"] = self._expect(location, NodeLocation, "location").id
        if snapshot is not None:
            body["snapshot_id"] = self._expect(snapshot, VolumeSnapshot, "snapshot").id
        if location is None and snapshot is None:
            raise InvalidInput("a DigitalOcean volume needs a location (a region) or a snapshot",
                               driver=self)

        def send(token: str) -> Op[StorageVolume]:
            data = yield from self._json("POST", "/volumes",
                                         json={**body, "tags": [token_tag(token)]})
            return self._to_volume(data["volume"])

        def find(token: str) -> Op[StorageVolume | None]:
            return (yield from find_first(
                self._pages("/volumes", "volumes", self._to_volume, [("name", name)]),
                tagged(token)))

        return (yield from self._create(send, find))

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a (detached) volume (``DELETE /volumes/{id}``)."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        return (yield from self._delete(self._volume_path(volume_id), volume_id, VolumeNotFound))

    def _volume_action(self, volume_id: str, body: Mapping[str, Any]) -> Op[bool]:
        data = yield from self._json("POST", f"{self._volume_path(volume_id)}/actions",
                                     json=dict(body), what=volume_id, missing=VolumeNotFound)
        yield from self._await_action(data["action"])
        return True

    @operation
    def attach_volume(self, node: Node, volume: StorageVolume,
                      device: str | None = None) -> Op[bool]:
        """Attach a volume to a droplet in its region (the ``attach`` action,
        waited for). DigitalOcean names the device itself: ``device`` is ignored."""
        node_id = self._expect(node, Node, "node").id
        volume_id = self._expect(volume, StorageVolume, "volume").id
        current = yield from self.get_volume.op(volume_id)
        return (yield from self._volume_action(volume_id, {
            "type": "attach", "droplet_id": int(node_id) if node_id.isdigit() else node_id,
            "region": current.extra["region_slug"]}))

    @operation
    def detach_volume(self, volume: StorageVolume) -> Op[bool]:
        """Detach a volume from the droplet it is attached to (the ``detach``
        action, waited for); InvalidInput if it is attached to none."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        current = yield from self.get_volume.op(volume_id)
        droplets = current.extra["droplet_ids"]
        if not droplets:
            raise InvalidInput(f"volume {volume_id} is attached to no droplet", driver=self)
        droplet = droplets[0]
        return (yield from self._volume_action(volume_id, {
            "type": "detach", "droplet_id": int(droplet) if droplet.isdigit() else droplet,
            "region": current.extra["region_slug"]}))

    def _to_snapshot(self, data: Mapping[str, Any]) -> VolumeSnapshot:
        return VolumeSnapshot(
            id=str(data["id"]), driver=self, size=whole(data.get("size_gigabytes")),
            extra={"created_at": data.get("created_at"), "resource_id": data.get("resource_id"),
                   "resource_type": data.get("resource_type"),
                   "regions": list(data.get("regions") or []),
                   "min_disk_size": data.get("min_disk_size"),
                   "tags": list(data.get("tags") or [])},
            created=moment(data.get("created_at")), state=VolumeSnapshotState.AVAILABLE,
            name=data.get("name"),
        )

    @iterator
    def iterate_volume_snapshots(self, volume: StorageVolume) -> Iter[VolumeSnapshot]:
        """Iterate over a volume's snapshots (``GET /volumes/{id}/snapshots``)."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        yield from self._pages(f"{self._volume_path(volume_id)}/snapshots", "snapshots",
                               self._to_snapshot)

    @operation
    def get_volume_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """Get a snapshot by id (``GET /snapshots/{id}``); SnapshotNotFound if none."""
        path = f"/snapshots/{self._path_id(snapshot_id, 'snapshot id')}"
        data = yield from self._json("GET", path, what=str(snapshot_id), missing=SnapshotNotFound)
        return self._to_snapshot(data["snapshot"])

    @operation
    def create_volume_snapshot(self, volume: StorageVolume,
                               name: str | None = None) -> Op[VolumeSnapshot]:
        """Snapshot a volume (``POST /volumes/{id}/snapshots``); ``name``
        defaults to the volume's name with ``-snapshot``."""
        vol = self._expect(volume, StorageVolume, "volume")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InvalidInput(f"a snapshot name must be a non-empty string: {name!r}",
                               driver=self)
        path = f"{self._volume_path(vol.id)}/snapshots"
        label = name or f"{vol.name or vol.id}-snapshot"

        def send(token: str) -> Op[VolumeSnapshot]:
            data = yield from self._json("POST", path, json={"name": label,
                                                             "tags": [token_tag(token)]},
                                         what=vol.id, missing=VolumeNotFound)
            return self._to_snapshot(data["snapshot"])

        def find(token: str) -> Op[VolumeSnapshot | None]:
            return (yield from find_first(self._pages(path, "snapshots", self._to_snapshot),
                                          tagged(token)))

        return (yield from self._create(send, find))

    @operation
    def destroy_volume_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Delete a snapshot (``DELETE /snapshots/{id}``)."""
        snap_id = self._expect(snapshot, VolumeSnapshot, "snapshot").id
        return (yield from self._delete(f"/snapshots/{self._path_id(snap_id, 'snapshot id')}",
                                        snap_id, SnapshotNotFound))

    delete_volume_snapshot = alias(
        destroy_volume_snapshot,
        "Apache Libcloud's DigitalOcean name for :meth:`destroy_volume_snapshot`.")

    # -- SSH keys ------------------------------------------------------------------------------

    def _to_key_pair(self, data: Mapping[str, Any]) -> KeyPair:
        return KeyPair(name=str(data.get("name") or ""), public_key=data.get("public_key"),
                       fingerprint=data.get("fingerprint"), driver=self,
                       extra={"id": data.get("id")})

    @iterator
    def iterate_key_pairs(self) -> Iter[KeyPair]:
        """Iterate over the account's SSH keys (``GET /account/keys``)."""
        yield from self._pages("/account/keys", "ssh_keys", self._to_key_pair)

    def _send_public_key(self, name: str, public_key: str) -> Op[KeyPair]:
        """``POST /account/keys``; KeyPairAlreadyExists if the account has the
        key already (DigitalOcean refuses the same key twice)."""
        data = yield from self._json("POST", "/account/keys",
                                     json={"name": name, "public_key": public_key},
                                     what=name, exists=KeyPairAlreadyExists)
        return self._to_key_pair(data["ssh_key"])

    @operation
    def delete_key_pair(self, key_pair: KeyPair) -> Op[bool]:
        """Delete an SSH key (``DELETE /account/keys/{id}``; found by name
        when the key pair carries no id)."""
        key_id = yield from self._key_pair_id(key_pair)
        return (yield from self._delete(f"/account/keys/{self._path_id(key_id, 'key id')}",
                                        key_pair.name, KeyPairNotFound))

    # -- floating IPs ----------------------------------------------------------------------

    def _to_floating_ip(self, data: Mapping[str, Any]) -> DigitalOceanFloatingIP:
        droplet = data.get("droplet")
        node_id = str(droplet["id"]) if isinstance(droplet, Mapping) and droplet.get("id") \
            else None
        return DigitalOceanFloatingIP(str(data["ip"]), str(data["ip"]), node_id,
                                      {"region": data.get("region"),
                                       "locked": data.get("locked")}, self)

    def _ip_of(self, ip: object) -> str:
        address = ip.ip_address if isinstance(ip, DigitalOceanFloatingIP) else ip
        return self._path_id(address, "floating IP")

    @operation
    def ex_list_floating_ips(self) -> Op[list[DigitalOceanFloatingIP]]:
        """Every floating IP of the account (``GET /floating_ips``, every page)."""
        return (yield from collect(self._pages("/floating_ips", "floating_ips",
                                               self._to_floating_ip)))

    @operation
    def ex_get_floating_ip(self, ip: str) -> Op[DigitalOceanFloatingIP]:
        """A floating IP by address; FloatingIPNotFound if the account has none."""
        data = yield from self._json("GET", f"/floating_ips/{self._ip_of(ip)}", what=str(ip),
                                     missing=FloatingIPNotFound)
        return self._to_floating_ip(data["floating_ip"])

    @operation
    def ex_create_floating_ip(self, location: NodeLocation) -> Op[DigitalOceanFloatingIP]:
        """Reserve a floating IP in the region ``location`` (``POST /floating_ips``).

        Not reconciled when its answer is lost (an address has no name or tag
        to find it by): that is :class:`~overcast.errors.OutcomeUnknown`."""
        region = self._expect(location, NodeLocation, "location").id
        data = yield from self._json("POST", "/floating_ips", json={"region": region})
        return self._to_floating_ip(data["floating_ip"])

    @operation
    def ex_delete_floating_ip(self, ip: DigitalOceanFloatingIP | str) -> Op[bool]:
        """Release a floating IP (``DELETE /floating_ips/{ip}``)."""
        address = self._ip_of(ip)
        return (yield from self._delete(f"/floating_ips/{address}", address, FloatingIPNotFound))

    def _ip_action(self, ip: object, body: Mapping[str, Any]) -> Op[bool]:
        address = self._ip_of(ip)
        data = yield from self._json("POST", f"/floating_ips/{address}/actions", json=dict(body),
                                     what=address, missing=FloatingIPNotFound)
        yield from self._await_action(data["action"])
        return True

    @operation
    def ex_attach_floating_ip_to_node(self, node: Node,
                                      ip: DigitalOceanFloatingIP | str) -> Op[bool]:
        """Assign a floating IP to a droplet (the ``assign`` action, waited for)."""
        node_id = self._expect(node, Node, "node").id
        return (yield from self._ip_action(ip, {
            "type": "assign", "droplet_id": int(node_id) if node_id.isdigit() else node_id}))

    @operation
    def ex_detach_floating_ip_from_node(self, node: Node,
                                        ip: DigitalOceanFloatingIP | str) -> Op[bool]:
        """Unassign a floating IP from its droplet (the ``unassign`` action, waited for)."""
        self._expect(node, Node, "node")
        return (yield from self._ip_action(ip, {"type": "unassign"}))

