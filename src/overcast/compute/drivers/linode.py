"""Linode (Akamai) instances, volumes, SSH keys, types, images and regions (API v4).

``LinodeNodeDriver(token)`` authenticates with a personal access token, sent
as ``Authorization: Bearer ...`` (:class:`~overcast.auth.bearer.BearerAuth`).

Facts of the API this driver is built on (``https://api.linode.com/v4``):

* Collections (``/linode/instances``, ``/linode/types``, ``/images``,
  ``/regions``, ``/volumes``, ``/profile/sshkeys``) page by ``page`` and
  ``page_size`` (25 to 500) and say ``page``, ``pages`` and ``results``;
  ``X-Filter`` filters on the fields marked *Filterable* (``label``,
  ``tags``). Errors are ``{"errors": [{"reason", "field"}]}``
  (:mod:`overcast.providers.linode`).
* ``POST /linode/instances`` (``region``, ``type``, ``image``, ``label``,
  ``root_pass``, ``authorized_keys``, ``authorized_users``, ``tags``,
  ``private_ip``, ``backups_enabled``, ``metadata.user_data``) answers the
  instance ``provisioning``; it boots by itself. A ``root_pass`` is required
  with an ``image``. Labels are 3 to 64 letters, digits, ``-``, ``_`` and
  ``.``, start and end with a letter or digit, have no ``--``, ``__`` or
  ``..``, and are unique in the account.
* ``POST /linode/instances/{id}/boot``, ``/reboot``, ``/shutdown`` and
  ``/resize`` answer ``200 {}`` at once; the instance's ``status`` shows the
  change (``booting``, ``rebooting``, ``shutting_down``, then ``running`` or
  ``offline``).
* A type's ``price`` is ``{"hourly", "monthly"}`` in US dollars; regions
  priced differently are listed in ``region_prices`` (``[{"id", "hourly",
  "monthly"}]``).
* Volumes (10 GiB and more) live in a region and attach to an instance in
  it (``POST /volumes/{id}/attach``, ``/detach``); their labels are unique.

How the model maps:

* ``NodeSize.price`` is US dollars per hour: the type's ``region_prices``
  entry for the location asked for (``list_sizes(location)``) when it has
  one, else ``price.hourly`` (``None`` when unknown, never 0). Apache
  Libcloud ignores ``region_prices``. ``disk`` is in GiB (the API says MB;
  ``extra["disk_mb"]`` keeps it) and ``ram`` in MiB.
* ``node.extra["location"]`` is the region, as Libcloud's.
* **Apache Libcloud's v4 ``create_node`` takes ``location`` first**:
  ``create_node(location, name, size, image, root_pass, ...)``. This
  driver takes overcast's order, ``create_node(name, size, image, location,
  auth)``, *and* Libcloud's: when the first argument is a
  :class:`NodeLocation`, the positions are Libcloud's (the fifth is then
  the root password). Keywords work either way. Likewise ``create_volume``
  takes Libcloud's ``(name, size, location, node)`` when the first argument
  is a name and the second a size.
* Without ``auth`` or ``root_pass``, a node made from an image gets a
  random root password, returned in ``node.extra["password"]`` (a
  :class:`~overcast.runtime.redact.Secret`).
* Creates carry a token tag (``overcast-token-<hex>``) and a unique label:
  an answer lost on the way is settled by looking the label up (``X-Filter``),
  and the create is sent again only if nothing was made.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar

from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeSpec
from overcast.compute.base import PowerChange
from overcast.compute.models import KeyPair
from overcast.compute.models import Node
from overcast.compute.models import NodeAuth
from overcast.compute.models import NodeAuthPassword
from overcast.compute.models import NodeAuthSSHKey
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.models import NodeState
from overcast.compute.models import StorageVolume
from overcast.compute.models import StorageVolumeState
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
from overcast.errors import SizeNotFound
from overcast.errors import VolumeNotFound
from overcast.providers import linode
from overcast.providers.linode import DEFAULT_ENDPOINT
from overcast.providers.linode import MAX_PAGE_SIZE
from overcast.providers.linode import MIN_PAGE_SIZE
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Response
from overcast.runtime.operation import alias
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import find_first
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.redact import Secret

__all__ = ["LinodeNodeDriver"]

T = TypeVar("T")

NODE_STATES: Final = {
    "running": NodeState.RUNNING,
    "stopped": NodeState.STOPPED,
    "provisioning": NodeState.STARTING,
    "offline": NodeState.STOPPED,
    "booting": NodeState.STARTING,
    "rebooting": NodeState.REBOOTING,
    "shutting_down": NodeState.STOPPING,
    "deleting": NodeState.PENDING,
    "migrating": NodeState.MIGRATING,
    "rebuilding": NodeState.UPDATING,
    "cloning": NodeState.MIGRATING,
    "restoring": NodeState.PENDING,
    "resizing": NodeState.RECONFIGURING,
}
VOLUME_STATES: Final = {
    "creating": StorageVolumeState.CREATING,
    "active": StorageVolumeState.AVAILABLE,
    "resizing": StorageVolumeState.UPDATING,
    "contact_support": StorageVolumeState.UNKNOWN,
}
#: Linode's rule for instance labels.
#: The instance action (``POST /linode/instances/{id}/<action>``) of each power change.
_POWER_ACTIONS: Final[Mapping[PowerChange, str]] = {
    "reboot": "reboot", "start": "boot", "stop": "shutdown"}
_LABEL: Final = re.compile(r"\A[A-Za-z0-9](?!.*(--|__|\.\.))[A-Za-z0-9_.-]{1,62}[A-Za-z0-9]\Z")
_VOLUME_LABEL: Final = re.compile(r"\A[A-Za-z][A-Za-z0-9_-]{0,31}\Z")
#: Linode's smallest volume, in GiB.
MIN_VOLUME_SIZE: Final = 10
#: Private IPv4 ranges (RFC 1918; Linode's private addresses are in 192.168.128.0/17).
_PRIVATE: Final = tuple(ipaddress.ip_network(net)
                        for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _hourly(figures: Any) -> float | None:
    """The hourly figure of a ``{"hourly", "monthly"}`` price; ``None`` if unknown or 0."""
    return price(figures.get("hourly") if isinstance(figures, Mapping) else None)


def _is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.version == 4 and any(ip in net for net in _PRIVATE)


class LinodeNodeDriver(RestNodeDriver):
    """Instances, volumes, SSH keys, types, images and regions on Linode (API v4).

    ``key`` is a personal access token (scopes ``linodes``, ``volumes``,
    ``images``, ``account`` as needed); ``secret`` is unused (Apache
    Libcloud's signature). ``secure``, ``host`` and ``port`` are Libcloud's
    way to name another endpoint; ``endpoint=`` is overcast's (default
    ``https://api.linode.com/v4``). ``page_size`` (25 to 500) is how many
    items each listing request asks for.
    """

    name: ClassVar[str] = "linode"
    label: ClassVar[str] = "Linode"
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(AlreadyExists, status=400, code="label", says=("unique", "already", "in use")),
        When(NotFound, status=400, says="not found"),
        When(InvalidInput, status=400),
    )
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    default_endpoint: ClassVar[str] = DEFAULT_ENDPOINT
    api_path: ClassVar[str] = "/v4"
    page_sizes: ClassVar[tuple[int, int]] = (MIN_PAGE_SIZE, MAX_PAGE_SIZE)
    first_page: ClassVar[Cursor | None] = 1
    max_name_length: ClassVar[int] = 64

    def __init__(self, key: str | Secret, secret: str | None = None, secure: bool = True,
                 host: str | None = None, port: int | None = None, *,
                 endpoint: str | None = None, page_size: int = 100, **options: Any) -> None:
        super().__init__(**options)
        self._connect(key, endpoint, host, port, secure, page_size,
                      missing="a Linode personal access token is required")

    # -- plumbing ------------------------------------------------------------------------

    def _fault(self, resp: Response) -> Fault:
        """Linode's ``{"errors": [{"reason", "field"}]}``
        (:func:`overcast.providers.linode.fault`)."""
        return linode.fault(resp)

    def _collection(self, path: str, convert: Callable[[Any], T],
                    filter: Mapping[str, Any] | None = None) -> Iter[T]:
        """Every item of a collection, page by page (``filter``: its ``X-Filter``)."""
        return self._pages(path, "data", convert,
                           headers={"X-Filter": json.dumps(filter)} if filter else None)

    def _page_query(self, cursor: Cursor | None) -> list[tuple[str, str]]:
        """``page`` (from 1) and ``page_size``."""
        return [("page", str(int(cursor or 1))), ("page_size", str(self.page_size))]

    def _read_page(self, payload: Any, key: str, cursor: Cursor | None,
                   path: str) -> Page[Any]:
        """Page ``cursor`` of a collection (:func:`overcast.providers.linode.page_of`)."""
        return linode.page_of(payload, int(cursor or 1))

    def _post(self, path: str, body: Mapping[str, Any] | None, what: str,
              missing: type[NotFound]) -> Op[bool]:
        yield from self._send("POST", path, json=dict(body or {}), what=what, missing=missing)
        return True

    def _to_size(self, data: Mapping[str, Any], region: str | None = None) -> NodeSize:
        hourly = _hourly(data.get("price"))
        regional = {str(p.get("id")): p for p in data.get("region_prices") or ()
                    if isinstance(p, Mapping)}
        if region is not None and region in regional:
            hourly = _hourly(regional[region])
        monthly = (data.get("price") or {}).get("monthly")
        return NodeSize(
            id=str(data["id"]), name=str(data.get("label") or data["id"]),
            ram=whole(data.get("memory")), disk=whole(data.get("disk")) // 1024,
            bandwidth=None if data.get("network_out") is None else whole(data["network_out"]),
            price=hourly, driver=self,
            extra={"class": data.get("class"), "vcpus": data.get("vcpus"),
                   "gpus": data.get("gpus"), "transfer": data.get("transfer"),
                   "disk_mb": data.get("disk"), "monthly_price": monthly,
                   "region_prices": list(regional.values()), "price_region": region,
                   "addons": data.get("addons"), "successor": data.get("successor")},
        )

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """Iterate over the instance types (``GET /linode/types``), priced in
        ``location`` when given (its ``region_prices`` entry, if the type has one)."""
        region = None if location is None else self._expect(location, NodeLocation,
                                                             "location").id
        yield from self._collection("/linode/types", lambda item: self._to_size(item, region))

    @operation
    def get_size(self, size_id: str) -> Op[NodeSize]:
        """Get a type by id (``GET /linode/types/{id}``); SizeNotFound if none."""
        data = yield from self._json("GET", f"/linode/types/{self._path_id(size_id, 'size_id')}",
                                     what=str(size_id), missing=SizeNotFound)
        return self._to_size(data)

    def _to_image(self, data: Mapping[str, Any]) -> NodeImage:
        return NodeImage(
            id=str(data["id"]), name=str(data.get("label") or data["id"]), driver=self,
            extra={"type": data.get("type"), "description": data.get("description"),
                   "created": data.get("created"), "created_by": data.get("created_by"),
                   "is_public": data.get("is_public"), "size": data.get("size"),
                   "eol": data.get("eol"), "vendor": data.get("vendor"),
                   "deprecated": data.get("deprecated"), "status": data.get("status")},
        )

    @iterator
    def iterate_images(self, location: NodeLocation | None = None) -> Iter[NodeImage]:
        """Iterate over the images (``GET /images``: Linode's public ones and the
        account's); every image serves every region, so ``location`` does not filter."""
        yield from self._collection("/images", self._to_image)

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """Get an image by id (``linode/debian12``, ``private/123``); ImageNotFound if none."""
        data = yield from self._json("GET", f"/images/{self._path_id(image_id, 'image_id', '/')}",
                                     what=str(image_id), missing=ImageNotFound)
        return self._to_image(data)

    @operation
    def delete_image(self, node_image: NodeImage) -> Op[bool]:
        """Delete a private image (``DELETE /images/{id}``)."""
        image = self._expect(node_image, NodeImage, "node_image")
        return (yield from self._delete(f"/images/{self._path_id(image.id, 'image id', '/')}",
                                        image.id, ImageNotFound))

    def _to_location(self, data: Mapping[str, Any]) -> NodeLocation:
        country = data.get("country")
        return NodeLocation(
            id=str(data["id"]), name=str(data.get("label") or data["id"]),
            country=str(country).upper() if country else None, driver=self,
            extra={"status": data.get("status"), "capabilities": data.get("capabilities"),
                   "resolvers": data.get("resolvers"), "site_type": data.get("site_type")},
        )

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """Iterate over the regions (``GET /regions``)."""
        yield from self._collection("/regions", self._to_location)

    # -- instances -------------------------------------------------------------------------

    def _to_node(self, data: Mapping[str, Any]) -> Node:
        addresses = [str(a) for a in data.get("ipv4") or ()]
        ipv6 = data.get("ipv6")
        public = [a for a in addresses if not _is_private(a)]
        if isinstance(ipv6, str) and ipv6:
            public.append(ipv6.split("/")[0])
        extra = {key: data.get(key) for key in (
            "tags", "ipv6", "hypervisor", "specs", "alerts", "backups", "watchdog_enabled",
            "group", "type", "image", "updated", "host_uuid")}
        extra.update(location=data.get("region"), status=data.get("status"),
                     tags=list(data.get("tags") or []))
        return Node(
            id=str(data["id"]), name=str(data.get("label") or ""),
            state=NODE_STATES.get(str(data.get("status")), NodeState.UNKNOWN),
            public_ips=public, private_ips=[a for a in addresses if _is_private(a)],
            driver=self, extra=extra, created_at=moment(data.get("created")),
        )

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        """Iterate over the account's instances (``GET /linode/instances``), page by page."""
        yield from self._collection("/linode/instances", self._to_node)

    def _instance_path(self, node_id: object) -> str:
        return f"/linode/instances/{self._path_id(node_id, 'node id')}"

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """Get an instance by id; :class:`~overcast.errors.NodeNotFound` if there is none."""
        data = yield from self._json("GET", self._instance_path(node_id), what=str(node_id),
                                     missing=NodeNotFound)
        return self._to_node(data)

    ex_get_node = alias(get_node, "Apache Libcloud's name for :meth:`get_node`.")

    @operation
    def create_node(self, name: str | NodeLocation, size: NodeSize | str,
                    image: NodeImage | NodeSize | None = None,
                    location: NodeLocation | NodeImage | None = None,
                    auth: NodeAuth | str | Secret | None = None, *,
                    root_pass: str | Secret | None = None,
                    ex_authorized_keys: Sequence[str] | None = None,
                    ex_authorized_users: Sequence[str] | None = None,
                    ex_tags: Sequence[str] | None = None, ex_backups_enabled: bool = False,
                    ex_private_ip: bool = False, ex_userdata: str | None = None) -> Op[Node]:
        """Create an instance (``POST /linode/instances``); it boots by itself.

        Overcast's order is ``(name, size, image, location, auth)``; Apache
        Libcloud's v4 order, ``(location, name, size, image, root_pass)``, is
        taken too: a :class:`NodeLocation` first means Libcloud's positions.
        ``location`` (a region) is required. ``auth``: an SSH key
        (:class:`NodeAuthSSHKey`, added to ``authorized_keys``) or the root
        password (:class:`NodeAuthPassword`; ``root_pass=`` is Libcloud's
        keyword for it). Without a password, one is made up and returned in
        ``node.extra["password"]``. ``ex_authorized_keys`` are more public
        keys, ``ex_authorized_users`` Linode users whose keys to install,
        ``ex_tags`` tags, ``ex_private_ip`` asks for a private address,
        ``ex_backups_enabled`` enrols in backups, ``ex_userdata`` is
        cloud-init user data (sent base64-encoded as ``metadata.user_data``).
        """
        given: list[Any] = [name, size, image, location, auth]
        if isinstance(name, NodeLocation):  # Libcloud's (location, name, size, image, root_pass)
            given = [size, image, location, name, root_pass if auth is None else auth]
            root_pass = None
        password = given[4]
        if root_pass is not None:
            if password is not None:
                raise InvalidInput("give auth or root_pass, not both", driver=self)
            password = root_pass
        if isinstance(password, str | Secret):
            given[4] = NodeAuthPassword(Secret(password) if isinstance(password, str)
                                        else password)
        return (yield from self._create_node(
            *given, ex_authorized_keys=ex_authorized_keys,
            ex_authorized_users=ex_authorized_users, ex_tags=ex_tags,
            ex_backups_enabled=ex_backups_enabled, ex_private_ip=ex_private_ip,
            ex_userdata=ex_userdata,
        ))

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """Linode's label rule, a region, lists of strings, a password of 7 to
        128 characters (made up when there is none)."""
        if not _LABEL.match(spec.name):
            raise InvalidInput(
                f"a Linode label is 3 to 64 letters, digits, '-', '_' and '.', starting and "
                f"ending with a letter or digit, without '--', '__' or '..': {spec.name!r}",
                driver=self)
        if spec.location is None:
            raise InvalidInput("a Linode instance needs a location (a region)", driver=self)
        options = dict(spec.options)
        for key in ("ex_authorized_keys", "ex_authorized_users", "ex_tags"):
            value = options[key]
            if value is None:
                options[key] = []
                continue
            if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
                raise InvalidInput(f"{key} must be a list of non-empty strings", driver=self)
            options[key] = list(value)
        if options["ex_userdata"] is not None and not isinstance(options["ex_userdata"], str):
            raise InvalidInput("ex_userdata must be a string", driver=self)
        if isinstance(spec.auth, NodeAuthSSHKey):
            options["ex_authorized_keys"] = [*options["ex_authorized_keys"],
                                             spec.auth.pubkey.strip()]
        if isinstance(spec.auth, NodeAuthPassword):
            password = spec.auth.password.reveal()
            if not 7 <= len(password) <= 128:
                raise InvalidInput("a Linode root password is 7 to 128 characters", driver=self)
            options["root_pass"] = spec.auth
        else:
            options["root_pass"] = NodeAuthPassword(Secret(secrets.token_urlsafe(24)),
                                                    generated=True)
        return spec.but(**options)

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        options = spec.options
        assert spec.location is not None
        body: dict[str, Any] = {
            "label": spec.name, "region": spec.location.id, "type": spec.size.id,
            "image": spec.image.id, "root_pass": options["root_pass"].password.reveal(),
            "tags": [*options["ex_tags"], token_tag(token)],
            "private_ip": bool(options["ex_private_ip"]),
            "backups_enabled": bool(options["ex_backups_enabled"]), "booted": True,
        }
        if options["ex_authorized_keys"]:
            body["authorized_keys"] = options["ex_authorized_keys"]
        if options["ex_authorized_users"]:
            body["authorized_users"] = options["ex_authorized_users"]
        if options["ex_userdata"] is not None:
            body["metadata"] = {"user_data": base64.b64encode(
                options["ex_userdata"].encode("utf-8")).decode("ascii")}
        data = yield from self._json("POST", "/linode/instances", json=body, what=spec.name)
        return self._with_password(self._to_node(data), options["root_pass"])

    def _with_password(self, node: Node, password: NodeAuthPassword) -> Node:
        if password.generated:
            node.extra["password"] = password.password
        return node

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        """The instance labelled ``spec.name`` carrying ``token``'s tag, if an
        earlier attempt made it (labels are unique: one request)."""
        found = yield from find_first(
            self._collection("/linode/instances", self._to_node, {"label": spec.name}),
            tagged(token))
        if found is not None:
            found = self._with_password(found, spec.options["root_pass"])
        return found

    def _instance_post(self, node: Node, action: str,
                       body: Mapping[str, Any] | None = None) -> Op[bool]:
        node_id = self._expect(node, Node, "node").id
        return (yield from self._post(f"{self._instance_path(node_id)}/{action}", body,
                                      node_id, NodeNotFound))

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """``POST .../reboot``, ``.../boot`` or ``.../shutdown`` (not waited for)."""
        return self._instance_post(node, _POWER_ACTIONS[change])

    ex_start_node = alias(NodeDriver.start_node,
                          "Apache Libcloud's older name for :meth:`start_node`.")
    ex_stop_node = alias(NodeDriver.stop_node,
                         "Apache Libcloud's older name for :meth:`stop_node`.")

    @operation
    def ex_resize_node(self, node: Node, size: NodeSize,
                       allow_auto_disk_resize: bool = False) -> Op[bool]:
        """Resize an instance to the type ``size`` (``POST .../resize``); with
        ``allow_auto_disk_resize`` its disk grows with it."""
        type_id = self._expect(size, NodeSize, "size").id
        return (yield from self._instance_post(node, "resize", {
            "type": type_id, "allow_auto_disk_resize": bool(allow_auto_disk_resize)}))

    @operation
    def ex_rename_node(self, node: Node, name: str) -> Op[Node]:
        """Change an instance's label (``PUT /linode/instances/{id}``); the instance."""
        node_id = self._expect(node, Node, "node").id
        if not isinstance(name, str) or not _LABEL.match(name):
            raise InvalidInput(f"not a valid Linode label: {name!r}", driver=self)
        data = yield from self._json("PUT", self._instance_path(node_id), json={"label": name},
                                     what=node_id, missing=NodeNotFound)
        return self._to_node(data)

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        """Delete an instance (``DELETE /linode/instances/{id}``)."""
        node_id = self._expect(node, Node, "node").id
        return (yield from self._delete(self._instance_path(node_id), node_id, NodeNotFound))

    # -- volumes ----------------------------------------------------------------------------

    def _to_volume(self, data: Mapping[str, Any]) -> StorageVolume:
        status = str(data.get("status"))
        attached = data.get("linode_id")
        state = VOLUME_STATES.get(status, StorageVolumeState.UNKNOWN)
        if attached and state is StorageVolumeState.AVAILABLE:
            state = StorageVolumeState.INUSE
        return StorageVolume(
            id=str(data["id"]), name=data.get("label"), size=whole(data.get("size")),
            driver=self, state=state,
            extra={"created": data.get("created"), "tags": list(data.get("tags") or []),
                   "location": data.get("region"),
                   "linode_id": None if attached is None else str(attached),
                   "linode_label": data.get("linode_label"), "status": status,
                   "filesystem_path": data.get("filesystem_path"),
                   "hardware_type": data.get("hardware_type")},
        )

    @iterator
    def iterate_volumes(self) -> Iter[StorageVolume]:
        """Iterate over the account's block storage volumes (``GET /volumes``)."""
        yield from self._collection("/volumes", self._to_volume)

    def _volume_path(self, volume_id: object) -> str:
        return f"/volumes/{self._path_id(volume_id, 'volume id')}"

    @operation
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """Get a volume by id; VolumeNotFound if there is none."""
        data = yield from self._json("GET", self._volume_path(volume_id), what=str(volume_id),
                                     missing=VolumeNotFound)
        return self._to_volume(data)

    ex_get_volume = alias(get_volume, "Apache Libcloud's name for :meth:`get_volume`.")

    @operation
    def create_volume(self, size: int | str, name: str | int,
                      location: NodeLocation | None = None, snapshot: Any = None, *,
                      node: Node | None = None,
                      tags: Sequence[str] | None = None) -> Op[StorageVolume]:
        """Create a volume of ``size`` GiB (10 or more) labelled ``name`` in the
        region ``location``, or attached to ``node`` (in its region).

        Apache Libcloud's v4 order, ``(name, size, location, node, tags)``, is
        taken too: a label first and a size second mean Libcloud's positions.
        Linode makes no volume from a snapshot: ``snapshot`` must be None.
        """
        if isinstance(size, str) and isinstance(name, int) and not isinstance(name, bool):
            size, name = name, size  # Libcloud's (name, size, location, node, tags)
            if isinstance(snapshot, Node):
                node, snapshot = snapshot, None
        if snapshot is not None:
            raise InvalidInput("Linode makes no volume from a snapshot", driver=self)
        if isinstance(size, bool) or not isinstance(size, int) or size < MIN_VOLUME_SIZE:
            raise InvalidInput(f"a Linode volume is {MIN_VOLUME_SIZE} GiB or more: {size!r}",
                               driver=self)
        if not isinstance(name, str) or not _VOLUME_LABEL.match(name):
            raise InvalidInput(f"a Linode volume label is 1 to 32 letters, digits, '-' and '_', "
                               f"starting with a letter: {name!r}", driver=self)
        body: dict[str, Any] = {"label": name, "size": size}
        if node is not None:
            body["linode_id"] = int(self._expect(node, Node, "node").id)
        elif location is not None:
            body["region"] = self._expect(location, NodeLocation, "location").id
        else:
            raise InvalidInput("a Linode volume needs a location or a node", driver=self)
        extra_tags = [] if tags is None else list(tags)

        def send(token: str) -> Op[StorageVolume]:
            data = yield from self._json("POST", "/volumes", json={
                **body, "tags": [*extra_tags, token_tag(token)]}, what=name)
            return self._to_volume(data)

        def find(token: str) -> Op[StorageVolume | None]:
            return (yield from find_first(self._collection("/volumes", self._to_volume,
                                                      {"label": name}), tagged(token)))

        return (yield from self._create(send, find))

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a (detached) volume (``DELETE /volumes/{id}``)."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        return (yield from self._delete(self._volume_path(volume_id), volume_id, VolumeNotFound))

    @operation
    def attach_volume(self, node: Node, volume: StorageVolume,
                      device: str | None = None, *,
                      persist_across_boots: bool = True) -> Op[bool]:
        """Attach a volume to an instance in its region (``POST /volumes/{id}/attach``).

        Linode names the device itself (``/dev/disk/by-id/scsi-0Linode_Volume_<label>``):
        ``device`` is ignored. Libcloud's third positional parameter is
        ``persist_across_boots``; here it is keyword-only.
        """
        node_id = self._expect(node, Node, "node").id
        volume_id = self._expect(volume, StorageVolume, "volume").id
        return (yield from self._post(f"{self._volume_path(volume_id)}/attach", {
            "linode_id": int(node_id), "persist_across_boots": bool(persist_across_boots)},
            volume_id, VolumeNotFound))

    @operation
    def detach_volume(self, volume: StorageVolume) -> Op[bool]:
        """Detach a volume from its instance (``POST /volumes/{id}/detach``)."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        return (yield from self._post(f"{self._volume_path(volume_id)}/detach", None,
                                      volume_id, VolumeNotFound))

    @operation
    def ex_resize_volume(self, volume: StorageVolume, size: int) -> Op[bool]:
        """Grow a volume to ``size`` GiB (``POST /volumes/{id}/resize``)."""
        volume_id = self._expect(volume, StorageVolume, "volume").id
        if isinstance(size, bool) or not isinstance(size, int) or size < MIN_VOLUME_SIZE:
            raise InvalidInput(f"size must be {MIN_VOLUME_SIZE} GiB or more: {size!r}",
                               driver=self)
        return (yield from self._post(f"{self._volume_path(volume_id)}/resize", {"size": size},
                                      volume_id, VolumeNotFound))

    # -- SSH keys -----------------------------------------------------------------------------

    def _to_key_pair(self, data: Mapping[str, Any]) -> KeyPair:
        return KeyPair(name=str(data.get("label") or ""), public_key=data.get("ssh_key"),
                       fingerprint=None, driver=self,
                       extra={"id": data.get("id"), "created": data.get("created")})

    @iterator
    def iterate_key_pairs(self) -> Iter[KeyPair]:
        """Iterate over the profile's SSH keys (``GET /profile/sshkeys``)."""
        yield from self._collection("/profile/sshkeys", self._to_key_pair)

    @operation
    def get_key_pair(self, name: str) -> Op[KeyPair]:
        """The SSH key labelled ``name``; KeyPairNotFound if there is none."""
        found = yield from find_first(
            self._collection("/profile/sshkeys", self._to_key_pair, {"label": name}),
            lambda k: k.name == name)
        if found is None:
            raise KeyPairNotFound(str(name), f"key pair not found: {name!r}", driver=self)
        return found

    @operation
    def import_key_pair_from_string(self, name: str, key_material: str) -> Op[KeyPair]:
        """Register a public key labelled ``name`` (``POST /profile/sshkeys``);
        KeyPairAlreadyExists if a key has that label. A lost answer is settled
        by looking the label up."""
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise InvalidInput(f"a key label is 1 to 64 characters: {name!r}", driver=self)
        if not isinstance(key_material, str) or len(key_material.split()) < 2:
            raise InvalidInput("key_material must be an OpenSSH public key", driver=self)
        taken = yield from find_first(
            self._collection("/profile/sshkeys", self._to_key_pair, {"label": name}),
            lambda k: k.name == name)
        if taken is not None:
            raise KeyPairAlreadyExists(name, f"key pair already exists: {name!r}", driver=self)
        material = " ".join(key_material.split()[:2])

        def send(token: str) -> Op[KeyPair]:
            data = yield from self._json("POST", "/profile/sshkeys",
                                         json={"label": name, "ssh_key": key_material.strip()},
                                         what=name)
            return self._to_key_pair(data)

        def find(token: str) -> Op[KeyPair | None]:
            return (yield from find_first(
                self._collection("/profile/sshkeys", self._to_key_pair, {"label": name}),
                lambda k: " ".join((k.public_key or "").split()[:2]) == material))

        return (yield from self._create(send, find))

    @operation
    def delete_key_pair(self, key_pair: KeyPair) -> Op[bool]:
        """Delete an SSH key (``DELETE /profile/sshkeys/{id}``; found by label
        when the key pair carries no id)."""
        key_id = yield from self._key_pair_id(key_pair)
        return (yield from self._delete(f"/profile/sshkeys/{self._path_id(key_id, 'key id')}",
                                        key_pair.name, KeyPairNotFound))
