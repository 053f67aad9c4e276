"""Nova servers (nodes), flavors (sizes) and availability zones (locations)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Final
from urllib.parse import quote

from overcast.compute.base import NodeSpec
from overcast.compute.base import PowerChange
from overcast.compute.drivers.openstack.api import MAX_NAME
from overcast.compute.drivers.openstack.api import TOKEN_KEY
from overcast.compute.drivers.openstack.api import OpenStackApi
from overcast.compute.drivers.openstack.api import moment
from overcast.compute.drivers.openstack.api import whole
from overcast.compute.models import Node
from overcast.compute.models import NodeAuth
from overcast.compute.models import NodeAuthPassword
from overcast.compute.models import NodeAuthSSHKey
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.models import NodeState
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import KeyPairNotFound
from overcast.errors import NodeNotFound
from overcast.errors import SizeNotFound
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import find_first
from overcast.runtime.ops import pure
from overcast.runtime.redact import Secret

__all__ = ["OpenStackServers"]

NODE_STATES: Final = {
    "ACTIVE": NodeState.RUNNING,
    "BUILD": NodeState.PENDING,
    "REBUILD": NodeState.PENDING,
    "PASSWORD": NodeState.PENDING,
    "SHUTOFF": NodeState.STOPPED,
    "SHELVED": NodeState.STOPPED,
    "SHELVED_OFFLOADED": NodeState.STOPPED,
    "REBOOT": NodeState.REBOOTING,
    "HARD_REBOOT": NodeState.REBOOTING,
    "ERROR": NodeState.ERROR,
    "DELETED": NodeState.TERMINATED,
    "SOFT_DELETED": NodeState.TERMINATED,
    "PAUSED": NodeState.PAUSED,
    "SUSPENDED": NodeState.SUSPENDED,
    "RESCUE": NodeState.ERROR,
    "RESIZE": NodeState.RECONFIGURING,
    "VERIFY_RESIZE": NodeState.RECONFIGURING,
    "REVERT_RESIZE": NodeState.RECONFIGURING,
    "MIGRATING": NodeState.MIGRATING,
    "UNKNOWN": NodeState.UNKNOWN,
}
#: Characters with a meaning in the regular expressions of MySQL, PostgreSQL and Python.
#: The server action of each power change.
_POWER_ACTIONS: Final[Mapping[PowerChange, dict[str, Any]]] = {
    "reboot": {"reboot": {"type": "SOFT"}}, "start": {"os-start": None},
    "stop": {"os-stop": None}}
_REGEX_SPECIAL: Final = frozenset(".^$*+?()[]{}|\\")


def _is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved)


def _name_regex(name: str) -> str:
    """Nova's ``name`` filter is a regular expression: match ``name`` exactly."""
    escaped = "".join(f"\\{c}" if c in _REGEX_SPECIAL else c for c in name)
    return f"^{escaped}$"


def _addresses(data: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """A server's public and private addresses: floating ones and fixed ones
    outside private ranges are public."""
    public: list[str] = []
    private: list[str] = []
    addresses = data.get("addresses") or {}
    if isinstance(addresses, Mapping):
        for network, entries in addresses.items():
            for entry in entries or ():
                if not isinstance(entry, Mapping) or not entry.get("addr"):
                    continue
                address = str(entry["addr"])
                kind = entry.get("OS-EXT-IPS:type")
                if kind == "floating":
                    is_public = True
                elif kind == "fixed":
                    is_public = _is_public(address)
                else:
                    is_public = network == "public" or _is_public(address)
                target = public if is_public else private
                if address not in target:
                    target.append(address)
    for key in ("accessIPv4", "accessIPv6"):
        value = data.get(key)
        if isinstance(value, str) and value and value not in public:
            public.append(value)
    return public, private


class OpenStackServers(OpenStackApi):
    """Servers, flavors and availability zones."""

    # -- sizes and locations -----------------------------------------------------------------

    def _to_size(self, data: Mapping[str, Any]) -> NodeSize:
        extra = {
            "vcpus": data.get("vcpus"),
            "ephemeral": data.get("OS-FLV-EXT-DATA:ephemeral", data.get("ephemeral")),
            "swap": data.get("swap"),
            "rxtx_factor": data.get("rxtx_factor"),
            "is_public": data.get("os-flavor-access:is_public"),
            "description": data.get("description"),
            "extra_specs": data.get("extra_specs"),
        }
        return NodeSize(
            id=str(data.get("id") or data.get("original_name") or ""),
            name=str(data.get("name") or data.get("original_name") or ""),
            ram=whole(data.get("ram")),
            disk=whole(data.get("disk")),
            driver=self,
            extra={k: v for k, v in extra.items() if v is not None},
        )

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """Iterate over the flavors (``GET /flavors/detail``); every flavor is
        offered in every zone, so ``location`` does not filter."""
        yield from self._pages("compute:/flavors/detail", "flavors", self._to_size,
                               links="flavors_links")

    @operation
    def get_size(self, size_id: str) -> Op[NodeSize]:
        """Get a flavor by id (``GET /flavors/{id}``); :class:`SizeNotFound` if none."""
        checked = self._check_id(size_id, "size_id")
        data = yield from self._json("GET", f"compute:/flavors/{quote(checked, safe='')}",
                                     what=checked, missing=SizeNotFound)
        return self._to_size(data["flavor"])

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """Iterate over the availability zones (``GET /os-availability-zone``), or
        the region alone when Nova lists none (or may not say: 403, 404)."""
        data = yield from self._json("GET", "compute:/os-availability-zone", ok=(403, 404))
        zones = (data.get("availabilityZoneInfo") if isinstance(data, Mapping) else None) or []
        for zone in zones:
            if not isinstance(zone, Mapping) or not zone.get("zoneName"):
                continue
            available = (zone.get("zoneState") or {}).get("available")
            yield Emit(NodeLocation(
                id=str(zone["zoneName"]), name=str(zone["zoneName"]), driver=self,
                extra={"available": available, "region": self.region, "kind": "zone"},
            ))
        if not zones:
            region = self.region or "default"
            yield Emit(NodeLocation(id=region, name=region, driver=self,
                                    extra={"region": self.region, "kind": "region"}))

    # -- servers -----------------------------------------------------------------------------

    def _to_node(self, data: Mapping[str, Any]) -> Node:
        status = str(data.get("status") or "UNKNOWN").upper()
        task = data.get("OS-EXT-STS:task_state")
        state = NODE_STATES.get(status, NodeState.UNKNOWN)
        if status == "ACTIVE" and task == "powering-off":
            state = NodeState.STOPPING
        elif status == "SHUTOFF" and task == "powering-on":
            state = NodeState.STARTING
        public, private = _addresses(data)
        flavor = data.get("flavor")
        size = self._to_size(flavor) if isinstance(flavor, Mapping) and flavor else None
        image_data = data.get("image")
        image = None
        if isinstance(image_data, Mapping) and image_data.get("id"):
            image = NodeImage(id=str(image_data["id"]), name="", driver=self)
        extra: dict[str, Any] = {
            "status": status,
            "task_state": task,
            "vm_state": data.get("OS-EXT-STS:vm_state"),
            "power_state": data.get("OS-EXT-STS:power_state"),
            "availability_zone": data.get("OS-EXT-AZ:availability_zone"),
            "metadata": dict(data.get("metadata") or {}),
            "key_name": data.get("key_name"),
            "tenant_id": data.get("tenant_id"),
            "user_id": data.get("user_id"),
            "host_id": data.get("hostId"),
            "flavor": flavor,
            "image_id": image.id if image else None,
            "addresses": data.get("addresses"),
            "security_groups": [
                g.get("name") for g in data.get("security_groups") or () if isinstance(g, Mapping)
            ],
            "volumes_attached": [
                v.get("id")
                for v in data.get("os-extended-volumes:volumes_attached") or ()
                if isinstance(v, Mapping)
            ],
            "updated": data.get("updated"),
            "progress": data.get("progress"),
            "tags": data.get("tags"),
            "description": data.get("description"),
            "locked": data.get("locked"),
            "config_drive": data.get("config_drive"),
        }
        if data.get("fault"):
            extra["fault"] = data["fault"]
        if data.get("adminPass"):
            extra["password"] = Secret(str(data["adminPass"]))
        return Node(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            state=state,
            public_ips=public,
            private_ips=private,
            driver=self,
            size=size,
            image=image,
            extra=extra,
            created_at=moment(data.get("created")),
        )

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        """Iterate over the project's servers (``GET /servers/detail``), page by page."""
        yield from self._pages("compute:/servers/detail", "servers", self._to_node,
                               links="servers_links")

    def _server_path(self, node_id: str) -> str:
        return f"compute:/servers/{quote(node_id, safe='')}"

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """Get a server by id; :class:`~overcast.errors.NodeNotFound` if there is none."""
        checked = self._check_id(node_id, "node_id")
        data = yield from self._json("GET", self._server_path(checked), what=checked,
                                     missing=NodeNotFound)
        return self._to_node(data["server"])

    @operation
    def create_node(self, name: str, size: NodeSize, image: NodeImage,
                    location: NodeLocation | None = None, auth: NodeAuth | None = None, *,
                    ex_networks: str | Sequence[str | Mapping[str, Any]] = "auto",
                    ex_keyname: str | None = None, ex_security_groups: Sequence[str] | None = None,
                    ex_userdata: str | bytes | None = None,
                    ex_metadata: Mapping[str, str] | None = None,
                    ex_config_drive: bool | None = None) -> Op[Node]:
        """Create a server (``POST /servers``) and return it (usually still ``BUILD``).

        ``location`` is an availability zone from :meth:`list_locations`.
        ``auth``: a :class:`NodeAuthPassword` becomes the server's
        ``adminPass``; a :class:`NodeAuthSSHKey` is registered as a key pair
        named ``overcast-<fingerprint>`` (reused if present) and used as the
        server's key. ``ex_networks`` is ``"auto"`` (Nova allocates a network),
        ``"none"``, or network ids (or Nova network dicts such as
        ``{"port": id}``); ``ex_keyname`` names an existing key pair;
        ``ex_userdata`` is cloud-init user data; ``ex_metadata`` is server
        metadata. A password Nova generates is in ``node.extra["password"]``
        (a :class:`~overcast.runtime.redact.Secret`).
        """
        return (yield from self._create_node(
            name, size, image, location, auth, ex_networks=ex_networks, ex_keyname=ex_keyname,
            ex_security_groups=ex_security_groups, ex_userdata=ex_userdata,
            ex_metadata=ex_metadata, ex_config_drive=ex_config_drive,
        ))

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """No whitespace around the name; networks, metadata and a key pair name
        as Nova takes them (``ex_networks`` made Nova's list or word)."""
        if spec.name != spec.name.strip():
            raise InvalidInput("a server name cannot start or end with whitespace", driver=self)
        options = spec.options
        networks: Any = options["ex_networks"]
        if isinstance(networks, str):
            if networks not in ("auto", "none"):
                raise InvalidInput(
                    "ex_networks must be 'auto', 'none' or a list of network ids", driver=self
                )
        else:
            networks = [{"uuid": n} if isinstance(n, str) else dict(n) for n in networks]
            if not networks:
                raise InvalidInput("ex_networks must not be an empty list", driver=self)
        metadata = dict(options["ex_metadata"] or {})
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str) or not key:
                raise InvalidInput("metadata keys and values must be strings", driver=self)
            if len(key) > MAX_NAME or len(value) > MAX_NAME:
                raise InvalidInput("metadata keys and values are at most 255 characters",
                                   driver=self)
        if options["ex_keyname"] is not None:
            self._check_name(options["ex_keyname"], "key pair")
        return spec.but(ex_networks=networks, ex_metadata=metadata)

    def _prepare_node(self, spec: NodeSpec) -> Op[NodeSpec]:
        """With an SSH key ``auth``, the key pair holding it (imported if needed)."""
        if isinstance(spec.auth, NodeAuthSSHKey):
            return self._key_for(spec, spec.auth.pubkey)
        return pure(spec)

    def _key_for(self, spec: NodeSpec, public_key: str) -> Op[NodeSpec]:
        """``spec`` naming a key pair that holds ``public_key`` (imported when
        missing, as ``overcast-<hash of the key>``)."""
        material = " ".join(public_key.split()[:2])
        if not material:
            raise InvalidInput("the SSH public key is empty", driver=self)
        name = f"overcast-{hashlib.sha256(material.encode()).hexdigest()[:20]}"
        try:
            yield from self.get_key_pair.op(name)
        except KeyPairNotFound:
            with contextlib.suppress(KeyPairAlreadyExists):  # imported meanwhile elsewhere
                yield from self.import_key_pair_from_string.op(name, public_key)
        return spec.but(ex_keyname=name)

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        """``POST /servers`` with ``token`` in the server's metadata; then the
        server as Nova shows it (with the password Nova made, if it did)."""
        options = spec.options
        server: dict[str, Any] = {
            "name": spec.name,
            "flavorRef": spec.size.id,
            "imageRef": spec.image.id,
            "networks": options["ex_networks"],
            "metadata": {**options["ex_metadata"], TOKEN_KEY: token},
        }
        if spec.location is not None:
            server["availability_zone"] = spec.location.id
        if options["ex_security_groups"]:
            server["security_groups"] = [{"name": g} for g in options["ex_security_groups"]]
        if options["ex_userdata"] is not None:
            raw = options["ex_userdata"]
            raw = raw.encode("utf-8") if isinstance(raw, str) else raw
            server["user_data"] = base64.b64encode(raw).decode("ascii")
        if options["ex_config_drive"] is not None:
            server["config_drive"] = bool(options["ex_config_drive"])
        if isinstance(spec.auth, NodeAuthPassword):
            server["adminPass"] = spec.auth.password.reveal()
        if options["ex_keyname"] is not None:
            server["key_name"] = options["ex_keyname"]
        data = yield from self._json("POST", "compute:/servers", json={"server": server})
        created = data.get("server") or {}
        node = yield from self._created_node(str(created["id"]), spec.name)
        if created.get("adminPass") and not isinstance(spec.auth, NodeAuthPassword):
            node.extra["password"] = Secret(str(created["adminPass"]))
        return node

    def _created_node(self, node_id: str, name: str) -> Op[Node]:
        """The new server as Nova shows it (or a pending stub if not visible yet)."""
        try:
            return (yield from self.get_node.op(node_id))
        except NodeNotFound:
            return Node(id=node_id, name=name, state=NodeState.PENDING, driver=self,
                        extra={"status": "BUILD"})

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        """The server named ``spec.name`` whose metadata carries ``token``, if any."""
        servers = self._pages("compute:/servers/detail", "servers", lambda item: item,
                              links="servers_links", params=[("name", _name_regex(spec.name))])
        found = yield from find_first(
            servers,
            lambda s: s.get("name") == spec.name
            and (s.get("metadata") or {}).get(TOKEN_KEY) == token,
        )
        return None if found is None else self._to_node(found)

    def _action(self, node: Node, action: dict[str, Any]) -> Op[bool]:
        node_id = self._expect(node, Node, "node").id
        yield from self._send("POST", f"{self._server_path(node_id)}/action", json=action,
                              what=node_id, missing=NodeNotFound)
        return True

    @operation
    def reboot_node(self, node: Node, *, ex_hard: bool = False) -> Op[bool]:
        """Reboot a server (``reboot`` action, ``SOFT`` or with ``ex_hard`` ``HARD``)."""
        if ex_hard:
            return (yield from self._action(node, {"reboot": {"type": "HARD"}}))
        return (yield from self._power_node(node, "reboot"))

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """The server action ``reboot`` (``SOFT``), ``os-start`` or ``os-stop``."""
        return self._action(node, _POWER_ACTIONS[change])

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        """Delete a server (``DELETE /servers/{id}``)."""
        node_id = self._expect(node, Node, "node").id
        return (yield from self._delete(self._server_path(node_id), node_id, NodeNotFound))
