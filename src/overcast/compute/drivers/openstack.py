"""OpenStack compute: Nova (servers), Glance (images), Cinder (volumes) and
Neutron (floating IPs), authenticated by Keystone v3.

``OpenStackNodeDriver(user, password, auth_url=..., project=...)`` works with
any OpenStack cloud (Rackspace, OVH, Vexxhost, a private cloud): the token,
and the endpoint of each service, come from Keystone
(:mod:`overcast.auth.keystone`), chosen by ``region`` and ``interface``.

Facts of the APIs this driver is built on:

* **Nova (compute, v2.1)**: every request carries
  ``OpenStack-API-Version: compute <microversion>`` (and the older
  ``X-OpenStack-Nova-API-Version``); the driver asks for 2.79 by default.
  ``GET /servers/detail`` pages by ``limit`` and ``marker`` (the id of the
  last server seen) and gives a ``servers_links`` entry with ``rel: "next"``
  while a page was full. ``POST /servers`` answers ``202`` with the new id;
  since 2.37 it needs ``networks`` (``"auto"``, ``"none"`` or a list).
  Actions are ``POST /servers/{id}/action`` (``reboot``, ``os-start``,
  ``os-stop``, ``createImage``: since 2.45 the image id is in the body, before
  in the ``Location`` header). Since 2.47 a server's ``flavor`` is the
  flavor's details (``original_name``, ``ram``, ``disk``, ``vcpus``), not its
  id. Key pairs are ``/os-keypairs`` (2.35+: paged; 2.2+: ``201``/``204``),
  volume attachments ``/servers/{id}/os-volume_attachments``, zones
  ``/os-availability-zone``. Faults are ``{"<kind>": {"code", "message"}}``:
  ``itemNotFound`` (404), ``conflictingRequest`` (409), ``badRequest``
  (400), ``forbidden`` (403), ``overLimit`` (413, with ``Retry-After`` when a
  rate limit) and ``computeFault`` (500).
* **Glance (image, v2)**: ``GET /v2/images`` pages by ``limit`` and ``marker``
  with a ``next`` link (relative, ``/v2/images?marker=...``); an image is a
  flat object whose custom properties sit beside ``id`` and ``name``.
* **Cinder (block-storage, v3)**: the catalog URL ends in the project id;
  ``/volumes/detail`` and ``/snapshots/detail`` page like Nova with
  ``volumes_links`` / ``snapshots_links``; creates answer ``202`` while the
  volume is ``creating``.
* **Neutron (network, v2.0)**: ``/v2.0/floatingips`` (``floatingips_links``),
  ``/v2.0/ports?device_id=<server>`` to find the port to associate a
  floating IP with; faults are ``{"NeutronError": {"type", "message"}}``.
* **Keystone**: an expired or revoked token answers ``401`` on any API; the
  session fetches a fresh token and sends the request once more.

How the model maps:

* Server status: ``ACTIVE`` running, ``BUILD`` pending, ``SHUTOFF`` stopped,
  ``REBOOT``/``HARD_REBOOT`` rebooting, ``ERROR``, ``DELETED`` terminated,
  ``PAUSED``, ``SUSPENDED`` (and ``ACTIVE`` with task ``powering-off`` is
  stopping). Floating addresses (``OS-EXT-IPS:type: floating``) and fixed
  addresses outside private ranges are ``public_ips``; fixed private ones are
  ``private_ips``.
* ``node.size`` is built from the server's embedded flavor (microversion
  2.47+): its id is the flavor's id when Nova says it, else the flavor's
  name (``original_name``), which Nova keeps unique.
* Locations are the availability zones, or the region when Nova lists none.
* ``create_node``, ``create_volume``, ``create_volume_snapshot``,
  ``create_image``, ``import_key_pair_from_string`` and
  ``ex_create_floating_ip`` tag what they create with a unique token (the
  ``overcast-token`` metadata entry or image property, or the floating IP's
  description); when the answer is lost (a dropped connection, a 5xx after
  the body was sent) the driver looks for the token and sends again only if
  nothing was made. ``create_key_pair`` cannot be reconciled (the private key
  is in the lost answer) and raises :class:`~overcast.errors.OutcomeUnknown`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

from overcast.auth.keystone import KeystoneCredentials, KeystoneSession
from overcast.compute.base import (
    KeyPair,
    Node,
    NodeAuth,
    NodeAuthPassword,
    NodeAuthSSHKey,
    NodeDriver,
    NodeDriverAsync,
    NodeImage,
    NodeLocation,
    NodeSize,
    NodeState,
    StorageVolume,
    StorageVolumeState,
    VolumeSnapshot,
    VolumeSnapshotState,
)
from overcast.errors import (
    ImageNotFound,
    InvalidInput,
    KeyPairAlreadyExists,
    KeyPairNotFound,
    NodeNotFound,
    NotFound,
    OvercastError,
    ProviderError,
    SizeNotFound,
    SnapshotNotFound,
    VolumeNotFound,
)
from overcast.runtime.effects import Emit, Iter, Op, Response
from overcast.runtime.operation import aio, iterator, operation
from overcast.runtime.ops import collect, create_once, find_first
from overcast.runtime.redact import Secret, redact_text

__all__ = ["OpenStackFloatingIP", "OpenStackNodeDriver", "OpenStackNodeDriverAsync"]

T = TypeVar("T")

#: The metadata key (or image property) that carries a create's request token.
TOKEN_KEY: Final = "overcast-token"
#: The longest server, volume, snapshot and key pair name Nova and Cinder accept.
MAX_NAME: Final = 255
#: How many times a create whose outcome is unknown is looked up and resent.
CREATE_ATTEMPTS: Final = 3
DEFAULT_PAGE_SIZE: Final = 100
DEFAULT_MICROVERSION: Final = "2.79"

#: Service keys of the session, and the catalog types that serve them, in order.
SERVICES: Final = {
    "compute": ("compute",),
    "image": ("image",),
    "volume": ("block-storage", "volumev3", "volume"),
    "network": ("network",),
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MICROVERSION = re.compile(r"\A(2)\.(\d{1,3})\Z")
_JSON: Final = "application/json"
#: Characters with a meaning in the regular expressions of MySQL, PostgreSQL and Python.
_REGEX_SPECIAL: Final = frozenset(".^$*+?()[]{}|\\")

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

VOLUME_STATES: Final = {
    "available": StorageVolumeState.AVAILABLE,
    "in-use": StorageVolumeState.INUSE,
    "creating": StorageVolumeState.CREATING,
    "downloading": StorageVolumeState.CREATING,
    "attaching": StorageVolumeState.ATTACHING,
    "reserved": StorageVolumeState.ATTACHING,
    "detaching": StorageVolumeState.UPDATING,
    "deleting": StorageVolumeState.DELETING,
    "error": StorageVolumeState.ERROR,
    "error_deleting": StorageVolumeState.ERROR,
    "error_backing-up": StorageVolumeState.ERROR,
    "error_restoring": StorageVolumeState.ERROR,
    "error_extending": StorageVolumeState.ERROR,
    "backing-up": StorageVolumeState.BACKUP,
    "restoring-backup": StorageVolumeState.BACKUP,
    "uploading": StorageVolumeState.BACKUP,
    "extending": StorageVolumeState.UPDATING,
    "retyping": StorageVolumeState.UPDATING,
    "maintenance": StorageVolumeState.UPDATING,
    "migrating": StorageVolumeState.MIGRATING,
}

SNAPSHOT_STATES: Final = {
    "available": VolumeSnapshotState.AVAILABLE,
    "creating": VolumeSnapshotState.CREATING,
    "deleting": VolumeSnapshotState.DELETING,
    "error": VolumeSnapshotState.ERROR,
    "error_deleting": VolumeSnapshotState.ERROR,
    "restoring": VolumeSnapshotState.RESTORING,
    "backing-up": VolumeSnapshotState.UPDATING,
    "unmanaging": VolumeSnapshotState.DELETING,
}


def _when(value: Any) -> datetime | None:
    """A datetime from an OpenStack timestamp (``2013-09-03T04:01:32Z``)."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _next_params(data: Mapping[str, Any], links_key: str | None) -> list[tuple[str, str]] | None:
    """The query of the page after this one, or ``None`` on the last page.

    Nova, Cinder and Neutron give ``<key>_links`` with ``rel: "next"``; Glance
    gives ``next``. Only the query of the link is used: the link's host and
    path may be an internal name the client cannot reach.
    """
    href: Any = None
    if links_key is None:
        href = data.get("next")
    else:
        for link in data.get(links_key) or ():
            if isinstance(link, Mapping) and link.get("rel") == "next":
                href = link.get("href")
                break
    if not isinstance(href, str) or not href:
        return None
    return parse_qsl(urlsplit(href).query, keep_blank_values=True)


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


@dataclass(slots=True, eq=False)
class OpenStackFloatingIP:
    """A Neutron floating IP; ``port_id`` is set while it is associated."""

    id: str
    ip_address: str
    floating_network_id: str
    port_id: str | None = None
    fixed_ip_address: str | None = None
    status: str | None = None
    driver: OpenStackNodeDriver | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OpenStackFloatingIP) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("OpenStackFloatingIP", self.id))


class OpenStackNodeDriver(NodeDriver):
    """Servers, images, volumes, key pairs and floating IPs on an OpenStack cloud.

    ``key`` is the user name and ``secret`` its password (in the user's
    domain ``user_domain``); the token is scoped to ``project`` (a name, in
    ``project_domain``) or ``project_id``. Or authenticate with an application
    credential (``application_credential_id`` and
    ``application_credential_secret``; ``key`` is then only a label and may
    be empty). ``auth_url`` is the Keystone endpoint (``/v3`` is added when
    missing); ``region`` and ``interface`` (``"public"``, ``"internal"`` or
    ``"admin"``) pick the endpoints from the catalog. ``compute_microversion``
    is the Nova microversion asked for: 2.79 (Train) by default; a cloud whose
    Nova is older answers ``406`` and needs its own maximum here (2.47 or
    later). ``page_size`` is how many items each listing request asks for.
    """

    name: ClassVar[str] = "openstack"
    aio: OpenStackNodeDriverAsync

    def __init__(
        self,
        key: str | None,
        secret: str | Secret | None = None,
        *,
        auth_url: str,
        project: str | None = None,
        project_id: str | None = None,
        user_domain: str = "Default",
        project_domain: str = "Default",
        region: str | None = None,
        interface: str = "public",
        application_credential_id: str | None = None,
        application_credential_secret: str | Secret | None = None,
        compute_microversion: str = DEFAULT_MICROVERSION,
        page_size: int = DEFAULT_PAGE_SIZE,
        **options: Any,
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not (
            1 <= page_size <= 1000
        ):
            raise InvalidInput(
                f"page_size must be an integer from 1 to 1000: {page_size!r}", driver=self
            )
        match = _MICROVERSION.match(str(compute_microversion))
        if match is None or int(match.group(2)) < 47:
            raise InvalidInput(
                f"compute_microversion must be 2.47 or later, as '2.N': "
                f"{compute_microversion!r}",
                driver=self,
            )
        self._password = Secret(secret) if secret else None
        self._app_secret = (
            Secret(application_credential_secret) if application_credential_secret else None
        )
        credentials = KeystoneCredentials(
            auth_url=auth_url,
            username=None if application_credential_id else (key or None),
            password=None if application_credential_id else self._password,
            user_domain=user_domain,
            project_name=project,
            project_id=project_id,
            project_domain=project_domain,
            application_credential_id=application_credential_id,
            application_credential_secret=self._app_secret,
        )
        self.username = key or None
        self.auth_url = auth_url.rstrip("/")
        self.project = project
        self.project_id = project_id
        self.region = region
        self.interface = interface
        self.microversion = str(compute_microversion)
        self._minor = int(match.group(2))
        self.page_size = page_size
        self.session = KeystoneSession(
            credentials, SERVICES, region=region, interface=interface, owner=self
        )
        super().__init__(**options)

    def _repr_fields(self) -> dict[str, object]:
        return {
            "auth_url": self.auth_url,
            "user": self.username or self.session.credentials.application_credential_id,
            "region": self.region,
            "interface": self.session.interface,
        }

    def _is_throttled(self, response: Response) -> bool:
        """Nova answers a rate limit with ``413 overLimit`` and ``Retry-After``
        (429 is the runtime's already); a quota ``overLimit`` without it is not
        retried."""
        if response.status != 413:
            return False
        if response.headers.get("Retry-After"):
            return True
        kind, _message = self._fault(response)
        return kind == "overLimit" and "quota" not in _message.lower()

    # -- HTTP helpers ---------------------------------------------------------------------

    def _call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        idempotent: bool | None = None,
    ) -> Op[Response]:
        headers: dict[str, str] = {}
        if service == "compute":
            headers["OpenStack-API-Version"] = f"compute {self.microversion}"
            headers["X-OpenStack-Nova-API-Version"] = self.microversion
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = _JSON
        return (
            yield from self.session.send(
                service, method, path, headers=headers, params=params, body=data,
                idempotent=idempotent,
            )
        )

    def _base(self, service: str) -> Op[str]:
        """The endpoint URL of ``service`` (from the cached token's catalog)."""
        token = yield from self.session.token()
        return self.session.endpoint(token, service)

    def _fault(self, resp: Response) -> tuple[str | None, str]:
        """``(kind, message)`` of an error body, in any OpenStack service's shape."""
        try:
            data = resp.json()
        except ValueError:
            text = re.sub(r"<[^>]+>", " ", resp.text)
            return None, redact_text(" ".join(text.split())[:300], self._secrets())
        kind: str | None = None
        message = ""
        if isinstance(data, Mapping):
            if "NeutronError" in data and isinstance(data["NeutronError"], Mapping):
                inner = data["NeutronError"]
                kind = str(inner.get("type") or "NeutronError")
                message = str(inner.get("message") or "")
            elif "message" in data or "title" in data:
                kind = str(data.get("title") or "") or None
                message = str(data.get("message") or "")
            elif len(data) == 1:
                kind = str(next(iter(data)))
                inner = data[kind]
                if isinstance(inner, Mapping):
                    message = str(inner.get("message") or inner.get("title") or "")
                    if kind == "error" and inner.get("title"):
                        kind = str(inner["title"])
                else:
                    message = str(inner)
        if not message:
            message = resp.text[:300]
        message = re.sub(r"<[^>]+>", " ", message)
        return kind, redact_text(" ".join(message.split()), self._secrets())

    def _error(
        self,
        resp: Response,
        *,
        not_found: type[NotFound] | None = None,
        resource: str = "",
        exists: type[OvercastError] | None = None,
    ) -> OvercastError:
        """The overcast error for a failed response."""
        kind, message = self._fault(resp)
        if resp.status == 404 and not_found is not None:
            return not_found(resource, driver=self)
        if resp.status == 409 and exists is not None:
            return exists(resource, driver=self)
        request_id = resp.headers.get("X-Openstack-Request-Id") or resp.headers.get(
            "X-Compute-Request-Id"
        )
        return ProviderError(
            f"{resp.method} {resp.url}: {message or f'HTTP {resp.status}'}",
            status=resp.status,
            code=kind,
            request_id=request_id,
            driver=self,
        )

    def _pages(
        self,
        service: str,
        path: str,
        key: str,
        *,
        links_key: str | None,
        params: Sequence[tuple[str, str]] = (),
        convert: Callable[[dict[str, Any]], T] | None = None,
    ) -> Iter[Any]:
        """Every item of a paged collection, page by page (``limit`` + ``marker``),
        passed through ``convert`` when given."""
        query: list[tuple[str, str]] = [*params, ("limit", str(self.page_size))]
        seen_markers: set[str] = set()
        while True:
            resp = yield from self._call(service, "GET", path, params=query)
            if not resp.ok:
                raise self._error(resp)
            data = resp.json()
            items = data.get(key) or []
            for item in items:
                yield Emit(item if convert is None else convert(item))
            following = _next_params(data, links_key)
            if not items or following is None:
                return
            marker = dict(following).get("marker")
            if not marker or marker in seen_markers:
                return
            seen_markers.add(marker)
            query = [(k, v) for k, v in following if k not in ("marker", "limit")]
            query += [("limit", str(self.page_size)), ("marker", marker)]

    # -- validation -------------------------------------------------------------------------

    def _check_name(self, name: Any, what: str, *, required: bool = True) -> None:
        if name is None and not required:
            return
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"a {what} name must be a non-empty string", driver=self)
        if len(name) > MAX_NAME:
            raise InvalidInput(
                f"a {what} name is at most {MAX_NAME} characters: {len(name)} given", driver=self
            )
        if _CONTROL.search(name):
            raise InvalidInput(f"a {what} name cannot hold control characters", driver=self)

    def _check(self, value: Any, kind: type, what: str) -> None:
        if not isinstance(value, kind):
            raise InvalidInput(
                f"{what} must be a {kind.__name__}: {type(value).__name__}", driver=self
            )

    # -- models -------------------------------------------------------------------------------

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
            ram=_int(data.get("ram")),
            disk=_int(data.get("disk")),
            driver=self,
            extra={k: v for k, v in extra.items() if v is not None},
        )

    def _to_image(self, data: Mapping[str, Any]) -> NodeImage:
        extra = {k: v for k, v in data.items() if k not in ("id", "name")}
        return NodeImage(
            id=str(data["id"]), name=str(data.get("name") or ""), driver=self, extra=extra
        )

    def _addresses(self, data: Mapping[str, Any]) -> tuple[list[str], list[str]]:
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

    def _to_node(self, data: Mapping[str, Any]) -> Node:
        status = str(data.get("status") or "UNKNOWN").upper()
        task = data.get("OS-EXT-STS:task_state")
        state = NODE_STATES.get(status, NodeState.UNKNOWN)
        if status == "ACTIVE" and task == "powering-off":
            state = NodeState.STOPPING
        elif status == "SHUTOFF" and task == "powering-on":
            state = NodeState.STARTING
        public, private = self._addresses(data)
        flavor = data.get("flavor")
        size = self._to_size(flavor) if isinstance(flavor, Mapping) and flavor else None
        image_data = data.get("image")
        image = None
        if isinstance(image_data, Mapping) and image_data.get("id"):
            image = NodeImage(id=str(image_data["id"]), name="", driver=self)
        metadata = dict(data.get("metadata") or {})
        extra: dict[str, Any] = {
            "status": status,
            "task_state": task,
            "vm_state": data.get("OS-EXT-STS:vm_state"),
            "power_state": data.get("OS-EXT-STS:power_state"),
            "availability_zone": data.get("OS-EXT-AZ:availability_zone"),
            "metadata": metadata,
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
            created_at=_when(data.get("created")),
        )

    def _to_volume(self, data: Mapping[str, Any]) -> StorageVolume:
        status = str(data.get("status") or "")
        extra = {k: v for k, v in data.items() if k not in ("id", "name", "size")}
        return StorageVolume(
            id=str(data["id"]),
            name=data.get("name"),
            size=_int(data.get("size")),
            driver=self,
            state=VOLUME_STATES.get(status, StorageVolumeState.UNKNOWN),
            extra=extra,
        )

    def _to_snapshot(self, data: Mapping[str, Any]) -> VolumeSnapshot:
        status = str(data.get("status") or "")
        extra = {k: v for k, v in data.items() if k not in ("id", "name", "size")}
        return VolumeSnapshot(
            id=str(data["id"]),
            driver=self,
            size=_int(data.get("size")) if data.get("size") is not None else None,
            extra=extra,
            created=_when(data.get("created_at")),
            state=SNAPSHOT_STATES.get(status, VolumeSnapshotState.UNKNOWN),
            name=data.get("name"),
        )

    def _to_key_pair(self, data: Mapping[str, Any]) -> KeyPair:
        private = data.get("private_key")
        extra = {
            k: v
            for k, v in data.items()
            if k not in ("name", "public_key", "fingerprint", "private_key")
        }
        return KeyPair(
            name=str(data["name"]),
            public_key=data.get("public_key"),
            fingerprint=data.get("fingerprint"),
            driver=self,
            private_key=Secret(str(private)) if private else None,
            extra=extra,
        )

    def _to_floating_ip(self, data: Mapping[str, Any]) -> OpenStackFloatingIP:
        extra = {
            k: v
            for k, v in data.items()
            if k
            not in ("id", "floating_ip_address", "floating_network_id", "port_id",
                    "fixed_ip_address", "status")
        }
        return OpenStackFloatingIP(
            id=str(data["id"]),
            ip_address=str(data.get("floating_ip_address") or ""),
            floating_network_id=str(data.get("floating_network_id") or ""),
            port_id=data.get("port_id"),
            fixed_ip_address=data.get("fixed_ip_address"),
            status=data.get("status"),
            driver=self,
            extra=extra,
        )

    # -- nodes ------------------------------------------------------------------------------

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        """Iterate over the project's servers (``GET /servers/detail``), page by page."""
        yield from self._pages(
            "compute", "/servers/detail", "servers", links_key="servers_links",
            convert=self._to_node,
        )

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """Get a server by id; :class:`~overcast.errors.NodeNotFound` if there is none."""
        if not isinstance(node_id, str) or not node_id:
            raise InvalidInput("node_id must be a non-empty string", driver=self)
        resp = yield from self._call("compute", "GET", f"/servers/{quote(node_id, safe='')}")
        if not resp.ok:
            raise self._error(resp, not_found=NodeNotFound, resource=node_id)
        return self._to_node(resp.json()["server"])

    def _find_server(self, name: str, token: str) -> Op[Node | None]:
        """The server named ``name`` whose metadata carries ``token``, if any."""
        params = [("name", _name_regex(name))]
        items = self._pages(
            "compute", "/servers/detail", "servers", links_key="servers_links", params=params
        )
        found = yield from find_first(
            items,
            lambda s: s.get("name") == name and (s.get("metadata") or {}).get(TOKEN_KEY) == token,
        )
        return None if found is None else self._to_node(found)

    @operation
    def create_node(
        self,
        name: str,
        size: NodeSize,
        image: NodeImage,
        location: NodeLocation | None = None,
        auth: NodeAuth | None = None,
        *,
        ex_networks: str | Sequence[str | Mapping[str, Any]] = "auto",
        ex_keyname: str | None = None,
        ex_security_groups: Sequence[str] | None = None,
        ex_userdata: str | bytes | None = None,
        ex_metadata: Mapping[str, str] | None = None,
        ex_config_drive: bool | None = None,
    ) -> Op[Node]:
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
        self._check_name(name, "server")
        if name != name.strip():
            raise InvalidInput("a server name cannot start or end with whitespace", driver=self)
        self._check(size, NodeSize, "size")
        self._check(image, NodeImage, "image")
        if location is not None:
            self._check(location, NodeLocation, "location")
        if auth is not None and not isinstance(auth, NodeAuthSSHKey | NodeAuthPassword):
            raise InvalidInput(
                f"auth must be a NodeAuthSSHKey or a NodeAuthPassword: {type(auth).__name__}",
                driver=self,
            )
        networks: Any
        if isinstance(ex_networks, str):
            if ex_networks not in ("auto", "none"):
                raise InvalidInput(
                    "ex_networks must be 'auto', 'none' or a list of network ids", driver=self
                )
            networks = ex_networks
        else:
            networks = [
                {"uuid": n} if isinstance(n, str) else dict(n) for n in ex_networks
            ]
            if not networks:
                raise InvalidInput("ex_networks must not be an empty list", driver=self)
        metadata = dict(ex_metadata or {})
        for mkey, mvalue in metadata.items():
            if not isinstance(mkey, str) or not isinstance(mvalue, str) or not mkey:
                raise InvalidInput("metadata keys and values must be strings", driver=self)
            if len(mkey) > MAX_NAME or len(mvalue) > MAX_NAME:
                raise InvalidInput("metadata keys and values are at most 255 characters",
                                   driver=self)
        if ex_keyname is not None:
            self._check_name(ex_keyname, "key pair")
        token = uuid.uuid4().hex
        metadata[TOKEN_KEY] = token
        server: dict[str, Any] = {
            "name": name,
            "flavorRef": size.id,
            "imageRef": image.id,
            "networks": networks,
            "metadata": metadata,
        }
        if location is not None:
            server["availability_zone"] = location.id
        if ex_security_groups:
            server["security_groups"] = [{"name": g} for g in ex_security_groups]
        if ex_userdata is not None:
            raw = ex_userdata.encode("utf-8") if isinstance(ex_userdata, str) else ex_userdata
            server["user_data"] = base64.b64encode(raw).decode("ascii")
        if ex_config_drive is not None:
            server["config_drive"] = bool(ex_config_drive)
        if isinstance(auth, NodeAuthPassword):
            server["adminPass"] = auth.password.reveal()
        key_name = ex_keyname
        if isinstance(auth, NodeAuthSSHKey):
            key_name = yield from self._key_for(auth.pubkey)
        if key_name is not None:
            server["key_name"] = key_name
        body = {"server": server}

        def send() -> Op[Node]:
            resp = yield from self._call("compute", "POST", "/servers", body=body)
            if not resp.ok:
                raise self._error(resp)
            created = resp.json().get("server") or {}
            node = yield from self._created_node(str(created["id"]), name)
            if created.get("adminPass") and not isinstance(auth, NodeAuthPassword):
                node.extra["password"] = Secret(str(created["adminPass"]))
            return node

        return (yield from create_once(
            send, lambda: self._find_server(name, token), attempts=CREATE_ATTEMPTS
        ))

    def _created_node(self, node_id: str, name: str) -> Op[Node]:
        """The new server as Nova shows it (or a pending stub if not visible yet)."""
        resp = yield from self._call("compute", "GET", f"/servers/{quote(node_id, safe='')}")
        if resp.ok:
            return self._to_node(resp.json()["server"])
        if resp.status != 404:
            raise self._error(resp)
        return Node(id=node_id, name=name, state=NodeState.PENDING, driver=self,
                    extra={"status": "BUILD"})

    def _key_for(self, public_key: str) -> Op[str]:
        """The name of a key pair holding ``public_key`` (imported when missing)."""
        material = " ".join(public_key.split()[:2])
        if not material:
            raise InvalidInput("the SSH public key is empty", driver=self)
        name = f"overcast-{hashlib.sha256(material.encode()).hexdigest()[:20]}"
        resp = yield from self._call("compute", "GET", f"/os-keypairs/{quote(name, safe='')}")
        if resp.ok:
            return name
        if resp.status != 404:
            raise self._error(resp)
        with contextlib.suppress(KeyPairAlreadyExists):  # imported meanwhile elsewhere
            yield from self.import_key_pair_from_string.op(name, public_key)
        return name

    def _action(self, node: Node, action: dict[str, Any]) -> Op[bool]:
        self._check(node, Node, "node")
        resp = yield from self._call(
            "compute", "POST", f"/servers/{quote(node.id, safe='')}/action", body=action
        )
        if not resp.ok:
            raise self._error(resp, not_found=NodeNotFound, resource=node.id)
        return True

    @operation
    def reboot_node(self, node: Node, *, ex_hard: bool = False) -> Op[bool]:
        """Reboot a server (``reboot`` action, ``SOFT`` or with ``ex_hard`` ``HARD``)."""
        return (yield from self._action(
            node, {"reboot": {"type": "HARD" if ex_hard else "SOFT"}}
        ))

    @operation
    def start_node(self, node: Node) -> Op[bool]:
        """Start a stopped server (``os-start`` action)."""
        return (yield from self._action(node, {"os-start": None}))

    @operation
    def stop_node(self, node: Node) -> Op[bool]:
        """Stop a running server (``os-stop`` action)."""
        return (yield from self._action(node, {"os-stop": None}))

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        """Delete a server (``DELETE /servers/{id}``)."""
        self._check(node, Node, "node")
        resp = yield from self._call("compute", "DELETE", f"/servers/{quote(node.id, safe='')}")
        if not resp.ok:
            raise self._error(resp, not_found=NodeNotFound, resource=node.id)
        return True

    # -- sizes, locations, images ----------------------------------------------------------

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """Iterate over the flavors (``GET /flavors/detail``); every flavor is
        offered in every zone, so ``location`` does not filter."""
        yield from self._pages(
            "compute", "/flavors/detail", "flavors", links_key="flavors_links",
            convert=self._to_size,
        )

    @operation
    def get_size(self, size_id: str) -> Op[NodeSize]:
        """Get a flavor by id (``GET /flavors/{id}``); :class:`SizeNotFound` if none."""
        if not isinstance(size_id, str) or not size_id:
            raise InvalidInput("size_id must be a non-empty string", driver=self)
        resp = yield from self._call("compute", "GET", f"/flavors/{quote(size_id, safe='')}")
        if not resp.ok:
            raise self._error(resp, not_found=SizeNotFound, resource=size_id)
        return self._to_size(resp.json()["flavor"])

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """Iterate over the availability zones (``GET /os-availability-zone``), or
        the region alone when Nova lists no zone."""
        resp = yield from self._call("compute", "GET", "/os-availability-zone")
        zones: list[Any] = []
        if resp.ok:
            zones = resp.json().get("availabilityZoneInfo") or []
        elif resp.status not in (403, 404):
            raise self._error(resp)
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

    def _image_base(self) -> Op[str]:
        base = yield from self._base("image")
        return base[:-3] if base.endswith("/v2") else base

    @iterator
    def iterate_images(self, location: NodeLocation | None = None) -> Iter[NodeImage]:
        """Iterate over the images Glance shows the project (``GET /v2/images``);
        ``location`` does not filter (images are regional, not per zone)."""
        base = yield from self._image_base()
        yield from self._pages(
            "image", f"{base}/v2/images", "images", links_key=None, convert=self._to_image
        )

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """Get an image by id (``GET /v2/images/{id}``)."""
        if not isinstance(image_id, str) or not image_id:
            raise InvalidInput("image_id must be a non-empty string", driver=self)
        base = yield from self._image_base()
        resp = yield from self._call("image", "GET", f"{base}/v2/images/{quote(image_id, safe='')}")
        if not resp.ok:
            raise self._error(resp, not_found=ImageNotFound, resource=image_id)
        return self._to_image(resp.json())

    def _find_image(self, name: str, token: str) -> Op[NodeImage | None]:
        base = yield from self._image_base()
        items = self._pages(
            "image", f"{base}/v2/images", "images", links_key=None, params=[("name", name)]
        )
        found = yield from find_first(items, lambda i: i.get(TOKEN_KEY) == token)
        return None if found is None else self._to_image(found)

    @operation
    def create_image(
        self,
        node: Node,
        name: str,
        description: str | None = None,
        *,
        ex_metadata: Mapping[str, str] | None = None,
    ) -> Op[NodeImage]:
        """Snapshot a server into a Glance image (``createImage`` action); the
        image starts ``queued`` and becomes ``active`` when the upload ends."""
        self._check(node, Node, "node")
        self._check_name(name, "image")
        metadata = {str(k): str(v) for k, v in (ex_metadata or {}).items()}
        if description is not None:
            metadata["description"] = str(description)
        token = uuid.uuid4().hex
        metadata[TOKEN_KEY] = token
        body = {"createImage": {"name": name, "metadata": metadata}}
        path = f"/servers/{quote(node.id, safe='')}/action"

        def send() -> Op[NodeImage]:
            resp = yield from self._call("compute", "POST", path, body=body)
            if not resp.ok:
                raise self._error(resp, not_found=NodeNotFound, resource=node.id)
            image_id = None
            if resp.body:
                image_id = (resp.json() or {}).get("image_id")
            if not image_id and resp.headers.get("Location"):
                image_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            if not image_id:
                raise ProviderError("Nova did not say which image createImage made",
                                    status=resp.status, driver=self)
            try:
                return (yield from self.get_image.op(str(image_id)))
            except ImageNotFound:
                return NodeImage(id=str(image_id), name=name, driver=self,
                                 extra={"status": "queued"})

        return (yield from create_once(
            send, lambda: self._find_image(name, token), attempts=CREATE_ATTEMPTS
        ))

    @operation
    def delete_image(self, node_image: NodeImage) -> Op[bool]:
        """Delete an image (``DELETE /v2/images/{id}``)."""
        self._check(node_image, NodeImage, "node_image")
        base = yield from self._image_base()
        resp = yield from self._call(
            "image", "DELETE", f"{base}/v2/images/{quote(node_image.id, safe='')}"
        )
        if not resp.ok:
            raise self._error(resp, not_found=ImageNotFound, resource=node_image.id)
        return True

    # -- key pairs -----------------------------------------------------------------------------

    @iterator
    def iterate_key_pairs(self) -> Iter[KeyPair]:
        """Iterate over the user's key pairs (``GET /os-keypairs``, paged since 2.35)."""
        yield from self._pages(
            "compute", "/os-keypairs", "keypairs", links_key="keypairs_links",
            convert=lambda entry: self._to_key_pair(entry.get("keypair", entry)),
        )

    @operation
    def get_key_pair(self, name: str) -> Op[KeyPair]:
        """Get a key pair by name; :class:`~overcast.errors.KeyPairNotFound` if none."""
        self._check_name(name, "key pair")
        resp = yield from self._call("compute", "GET", f"/os-keypairs/{quote(name, safe='')}")
        if not resp.ok:
            raise self._error(resp, not_found=KeyPairNotFound, resource=name)
        return self._to_key_pair(resp.json()["keypair"])

    @operation
    def create_key_pair(self, name: str) -> Op[KeyPair]:
        """Have Nova generate a key pair; its ``private_key`` (a
        :class:`~overcast.runtime.redact.Secret`) is returned only now."""
        self._check_name(name, "key pair")
        body = {"keypair": {"name": name, "type": "ssh"}}
        resp = yield from self._call("compute", "POST", "/os-keypairs", body=body)
        if not resp.ok:
            raise self._error(resp, exists=KeyPairAlreadyExists, resource=name)
        return self._to_key_pair(resp.json()["keypair"])

    @operation
    def import_key_pair_from_string(self, name: str, key_material: str) -> Op[KeyPair]:
        """Register a public key (OpenSSH format) under ``name``."""
        self._check_name(name, "key pair")
        if not isinstance(key_material, str) or not key_material.strip():
            raise InvalidInput("key_material must be a non-empty public key", driver=self)
        material = key_material.strip()
        body = {"keypair": {"name": name, "type": "ssh", "public_key": material}}
        wanted = " ".join(material.split()[:2])

        def send() -> Op[KeyPair]:
            resp = yield from self._call("compute", "POST", "/os-keypairs", body=body)
            if not resp.ok:
                raise self._error(resp, exists=KeyPairAlreadyExists, resource=name)
            return self._to_key_pair(resp.json()["keypair"])

        def find() -> Op[KeyPair | None]:
            try:
                found = yield from self.get_key_pair.op(name)
            except KeyPairNotFound:
                return None
            same = " ".join((found.public_key or "").split()[:2]) == wanted
            if not same:
                raise KeyPairAlreadyExists(name, driver=self)
            return found

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def delete_key_pair(self, key_pair: KeyPair) -> Op[bool]:
        """Delete a key pair (``DELETE /os-keypairs/{name}``)."""
        self._check(key_pair, KeyPair, "key_pair")
        resp = yield from self._call(
            "compute", "DELETE", f"/os-keypairs/{quote(key_pair.name, safe='')}"
        )
        if not resp.ok:
            raise self._error(resp, not_found=KeyPairNotFound, resource=key_pair.name)
        return True

    # -- volumes and snapshots -------------------------------------------------------------

    @iterator
    def iterate_volumes(self) -> Iter[StorageVolume]:
        """Iterate over the project's Cinder volumes (``GET /volumes/detail``)."""
        yield from self._pages(
            "volume", "/volumes/detail", "volumes", links_key="volumes_links",
            convert=self._to_volume,
        )

    @operation
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """Get a volume by id; :class:`~overcast.errors.VolumeNotFound` if none."""
        if not isinstance(volume_id, str) or not volume_id:
            raise InvalidInput("volume_id must be a non-empty string", driver=self)
        resp = yield from self._call("volume", "GET", f"/volumes/{quote(volume_id, safe='')}")
        if not resp.ok:
            raise self._error(resp, not_found=VolumeNotFound, resource=volume_id)
        return self._to_volume(resp.json()["volume"])

    @operation
    def create_volume(
        self,
        size: int,
        name: str,
        location: NodeLocation | None = None,
        snapshot: VolumeSnapshot | None = None,
        *,
        ex_volume_type: str | None = None,
        ex_description: str | None = None,
        ex_metadata: Mapping[str, str] | None = None,
    ) -> Op[StorageVolume]:
        """Create a Cinder volume of ``size`` GiB in the zone ``location`` (from
        ``snapshot``, if given); it starts ``creating``."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(f"size must be a positive number of GiB: {size!r}", driver=self)
        self._check_name(name, "volume")
        if location is not None:
            self._check(location, NodeLocation, "location")
        if snapshot is not None:
            self._check(snapshot, VolumeSnapshot, "snapshot")
        token = uuid.uuid4().hex
        metadata = {str(k): str(v) for k, v in (ex_metadata or {}).items()}
        metadata[TOKEN_KEY] = token
        volume: dict[str, Any] = {"size": size, "name": name, "metadata": metadata}
        if location is not None and location.extra.get("kind") != "region":
            volume["availability_zone"] = location.id
        if snapshot is not None:
            volume["snapshot_id"] = snapshot.id
        if ex_volume_type is not None:
            volume["volume_type"] = ex_volume_type
        if ex_description is not None:
            volume["description"] = ex_description
        body = {"volume": volume}

        def send() -> Op[StorageVolume]:
            resp = yield from self._call("volume", "POST", "/volumes", body=body)
            if not resp.ok:
                raise self._error(
                    resp, not_found=SnapshotNotFound if snapshot else None,
                    resource=snapshot.id if snapshot else "",
                )
            return self._to_volume(resp.json()["volume"])

        def find() -> Op[StorageVolume | None]:
            items = self._pages("volume", "/volumes/detail", "volumes",
                                links_key="volumes_links", params=[("name", name)])
            found = yield from find_first(
                items, lambda v: (v.get("metadata") or {}).get(TOKEN_KEY) == token
            )
            return None if found is None else self._to_volume(found)

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a volume (it must be detached and have no snapshots)."""
        self._check(volume, StorageVolume, "volume")
        resp = yield from self._call("volume", "DELETE", f"/volumes/{quote(volume.id, safe='')}")
        if not resp.ok:
            raise self._error(resp, not_found=VolumeNotFound, resource=volume.id)
        return True

    @operation
    def attach_volume(
        self, node: Node, volume: StorageVolume, device: str | None = None
    ) -> Op[bool]:
        """Attach a volume to a server (``POST /servers/{id}/os-volume_attachments``);
        ``device`` (``/dev/vdb``) is a hint most hypervisors ignore."""
        self._check(node, Node, "node")
        self._check(volume, StorageVolume, "volume")
        attachment: dict[str, Any] = {"volumeId": volume.id}
        if device is not None:
            if not isinstance(device, str) or not device.startswith("/dev/"):
                raise InvalidInput(f"device must be a path like /dev/vdb: {device!r}",
                                   driver=self)
            attachment["device"] = device
        path = f"/servers/{quote(node.id, safe='')}/os-volume_attachments"

        def send() -> Op[bool]:
            resp = yield from self._call(
                "compute", "POST", path, body={"volumeAttachment": attachment}
            )
            if resp.status == 404:
                _kind, message = self._fault(resp)
                if "volume" in message.lower():
                    raise VolumeNotFound(volume.id, driver=self)
                raise NodeNotFound(node.id, driver=self)
            if not resp.ok:
                raise self._error(resp)
            return True

        def find() -> Op[bool | None]:
            resp = yield from self._call(
                "compute", "GET", f"{path}/{quote(volume.id, safe='')}"
            )
            return True if resp.ok else None

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def detach_volume(self, volume: StorageVolume) -> Op[bool]:
        """Detach a volume from every server it is attached to (as Cinder
        reports it now); False if it was attached to none."""
        self._check(volume, StorageVolume, "volume")
        current = yield from self.get_volume.op(volume.id)
        servers = [
            str(a["server_id"]) for a in current.extra.get("attachments") or ()
            if isinstance(a, Mapping) and a.get("server_id")
        ]
        for server_id in dict.fromkeys(servers):
            resp = yield from self._call(
                "compute",
                "DELETE",
                f"/servers/{quote(server_id, safe='')}/os-volume_attachments/"
                f"{quote(volume.id, safe='')}",
            )
            if not resp.ok and resp.status != 404:
                raise self._error(resp)
        return bool(servers)

    @iterator
    def iterate_volume_snapshots(self, volume: StorageVolume) -> Iter[VolumeSnapshot]:
        """Iterate over the snapshots of a volume (``GET /snapshots/detail?volume_id=``)."""
        self._check(volume, StorageVolume, "volume")
        yield from self._pages(
            "volume", "/snapshots/detail", "snapshots", links_key="snapshots_links",
            params=[("volume_id", volume.id)], convert=self._to_snapshot,
        )

    @operation
    def get_volume_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """Get a snapshot by id; :class:`~overcast.errors.SnapshotNotFound` if none."""
        if not isinstance(snapshot_id, str) or not snapshot_id:
            raise InvalidInput("snapshot_id must be a non-empty string", driver=self)
        resp = yield from self._call("volume", "GET", f"/snapshots/{quote(snapshot_id, safe='')}")
        if not resp.ok:
            raise self._error(resp, not_found=SnapshotNotFound, resource=snapshot_id)
        return self._to_snapshot(resp.json()["snapshot"])

    @operation
    def create_volume_snapshot(
        self,
        volume: StorageVolume,
        name: str | None = None,
        *,
        ex_description: str | None = None,
        ex_force: bool = False,
    ) -> Op[VolumeSnapshot]:
        """Snapshot a volume (``POST /snapshots``); an attached volume needs
        ``ex_force=True``."""
        self._check(volume, StorageVolume, "volume")
        self._check_name(name, "snapshot", required=False)
        token = uuid.uuid4().hex
        snapshot: dict[str, Any] = {
            "volume_id": volume.id, "force": bool(ex_force), "metadata": {TOKEN_KEY: token}
        }
        if name is not None:
            snapshot["name"] = name
        if ex_description is not None:
            snapshot["description"] = ex_description
        body = {"snapshot": snapshot}

        def send() -> Op[VolumeSnapshot]:
            resp = yield from self._call("volume", "POST", "/snapshots", body=body)
            if not resp.ok:
                raise self._error(resp, not_found=VolumeNotFound, resource=volume.id)
            return self._to_snapshot(resp.json()["snapshot"])

        def find() -> Op[VolumeSnapshot | None]:
            items = self._pages("volume", "/snapshots/detail", "snapshots",
                                links_key="snapshots_links", params=[("volume_id", volume.id)])
            found = yield from find_first(
                items, lambda s: (s.get("metadata") or {}).get(TOKEN_KEY) == token
            )
            return None if found is None else self._to_snapshot(found)

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def destroy_volume_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Delete a snapshot (``DELETE /snapshots/{id}``)."""
        self._check(snapshot, VolumeSnapshot, "snapshot")
        resp = yield from self._call(
            "volume", "DELETE", f"/snapshots/{quote(snapshot.id, safe='')}"
        )
        if not resp.ok:
            raise self._error(resp, not_found=SnapshotNotFound, resource=snapshot.id)
        return True

    # -- floating IPs (Neutron) ------------------------------------------------------------

    def _network_base(self) -> Op[str]:
        base = yield from self._base("network")
        return f"{base[:-5] if base.endswith('/v2.0') else base}/v2.0"

    @operation
    def ex_list_floating_ips(self) -> Op[list[OpenStackFloatingIP]]:
        """List the project's floating IPs (``GET /v2.0/floatingips``, every page)."""
        base = yield from self._network_base()
        items = yield from collect(self._pages(
            "network", f"{base}/floatingips", "floatingips", links_key="floatingips_links"
        ))
        return [self._to_floating_ip(item) for item in items]

    def _network_id(self, network: str) -> Op[str]:
        """The id of the network named (or identified by) ``network``."""
        base = yield from self._network_base()
        resp = yield from self._call(
            "network", "GET", f"{base}/networks", params=[("name", network)]
        )
        if not resp.ok:
            raise self._error(resp)
        named = resp.json().get("networks") or []
        if len(named) == 1:
            return str(named[0]["id"])
        if len(named) > 1:
            raise InvalidInput(f"several networks are named {network!r}: give its id",
                               driver=self)
        resp = yield from self._call("network", "GET", f"{base}/networks/{quote(network, safe='')}")
        if resp.status == 404:
            raise NotFound(network, f"network not found: {network!r}", driver=self)
        if not resp.ok:
            raise self._error(resp)
        return str(resp.json()["network"]["id"])

    @operation
    def ex_create_floating_ip(
        self, network: str, *, ex_description: str | None = None
    ) -> Op[OpenStackFloatingIP]:
        """Allocate a floating IP from the external ``network`` (a name or id)."""
        if not isinstance(network, str) or not network:
            raise InvalidInput("network must be a network name or id", driver=self)
        network_id = yield from self._network_id(network)
        token = uuid.uuid4().hex
        tag = f"overcast:{token}"
        description = f"{ex_description} ({tag})" if ex_description else tag
        base = yield from self._network_base()
        body = {"floatingip": {"floating_network_id": network_id, "description": description}}

        def send() -> Op[OpenStackFloatingIP]:
            resp = yield from self._call("network", "POST", f"{base}/floatingips", body=body)
            if not resp.ok:
                raise self._error(resp)
            return self._to_floating_ip(resp.json()["floatingip"])

        def find() -> Op[OpenStackFloatingIP | None]:
            items = self._pages("network", f"{base}/floatingips", "floatingips",
                                links_key="floatingips_links",
                                params=[("description", description)])
            found = yield from find_first(items, lambda f: f.get("description") == description)
            return None if found is None else self._to_floating_ip(found)

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    def _floating_ip(self, ip: OpenStackFloatingIP | str) -> Op[OpenStackFloatingIP]:
        """``ip`` itself, or the floating IP with that address."""
        if isinstance(ip, OpenStackFloatingIP):
            return ip
        if not isinstance(ip, str) or not ip:
            raise InvalidInput("ip must be an OpenStackFloatingIP or an address", driver=self)
        base = yield from self._network_base()
        resp = yield from self._call(
            "network", "GET", f"{base}/floatingips", params=[("floating_ip_address", ip)]
        )
        if not resp.ok:
            raise self._error(resp)
        found = resp.json().get("floatingips") or []
        if not found:
            raise NotFound(ip, f"floating IP not found: {ip!r}", driver=self)
        return self._to_floating_ip(found[0])

    def _update_floating_ip(
        self, ip: OpenStackFloatingIP, changes: Mapping[str, Any]
    ) -> Op[OpenStackFloatingIP]:
        base = yield from self._network_base()
        resp = yield from self._call(
            "network", "PUT", f"{base}/floatingips/{quote(ip.id, safe='')}",
            body={"floatingip": dict(changes)},
        )
        if resp.status == 404:
            raise NotFound(ip.id, f"floating IP not found: {ip.ip_address or ip.id!r}",
                           driver=self)
        if not resp.ok:
            raise self._error(resp)
        return self._to_floating_ip(resp.json()["floatingip"])

    @operation
    def ex_attach_floating_ip(self, node: Node, ip: OpenStackFloatingIP | str) -> Op[bool]:
        """Associate a floating IP (or its address) with the server's first port
        that has an IPv4 address (``PUT /v2.0/floatingips/{id}`` with its ``port_id``)."""
        self._check(node, Node, "node")
        floating = yield from self._floating_ip(ip)
        base = yield from self._network_base()
        resp = yield from self._call(
            "network", "GET", f"{base}/ports", params=[("device_id", node.id)]
        )
        if not resp.ok:
            raise self._error(resp)
        for port in resp.json().get("ports") or []:
            for fixed in port.get("fixed_ips") or ():
                address = str(fixed.get("ip_address") or "")
                try:
                    v4 = ipaddress.ip_address(address).version == 4
                except ValueError:
                    v4 = False
                if v4:
                    yield from self._update_floating_ip(
                        floating, {"port_id": port["id"], "fixed_ip_address": address}
                    )
                    return True
        raise NodeNotFound(node.id, f"server {node.id!r} has no port with an IPv4 address",
                           driver=self)

    @operation
    def ex_detach_floating_ip(self, ip: OpenStackFloatingIP | str) -> Op[bool]:
        """Disassociate a floating IP from its port (it stays allocated)."""
        floating = yield from self._floating_ip(ip)
        yield from self._update_floating_ip(floating, {"port_id": None})
        return True

    @operation
    def ex_delete_floating_ip(self, ip: OpenStackFloatingIP | str) -> Op[bool]:
        """Release a floating IP (``DELETE /v2.0/floatingips/{id}``)."""
        floating = yield from self._floating_ip(ip)
        base = yield from self._network_base()
        resp = yield from self._call(
            "network", "DELETE", f"{base}/floatingips/{quote(floating.id, safe='')}"
        )
        if resp.status == 404:
            raise NotFound(floating.id, f"floating IP not found: {floating.ip_address!r}",
                           driver=self)
        if not resp.ok:
            raise self._error(resp)
        return True


class OpenStackNodeDriverAsync(NodeDriverAsync):
    """``driver.aio`` of :class:`OpenStackNodeDriver`: the base operations and
    the floating-IP ``ex_`` operations, awaitable."""

    ex_list_floating_ips = aio(OpenStackNodeDriver.ex_list_floating_ips)
    ex_create_floating_ip = aio(OpenStackNodeDriver.ex_create_floating_ip)
    ex_attach_floating_ip = aio(OpenStackNodeDriver.ex_attach_floating_ip)
    ex_detach_floating_ip = aio(OpenStackNodeDriver.ex_detach_floating_ip)
    ex_delete_floating_ip = aio(OpenStackNodeDriver.ex_delete_floating_ip)


OpenStackNodeDriver.async_view = OpenStackNodeDriverAsync
