"""A stateful fixture server for OpenStack: Keystone v3, Nova v2.1, Glance v2,
Cinder v3 and Neutron v2.0, on one port.

No Nova runs on one machine here, so this server is written from the
published API references (docs.openstack.org/api-ref: identity v3, compute,
image v2, block-storage v3, network v2.0) and Nova's microversion history.
What it keeps of OpenStack's behaviour, and the driver must live with:

* **Keystone** (``/identity/v3/auth/tokens``): password auth (user name in a
  domain, project by name in a domain or by id) and application credentials
  (id and secret, no scope allowed); ``201`` with the token in
  ``X-Subject-Token`` and ``expires_at``, ``issued_at``, ``project``, ``user``
  and ``catalog`` in the body; wrong credentials answer ``401`` in Keystone's
  ``{"error": {"code", "title", "message"}}`` shape. Tokens live
  ``token_lifetime`` seconds. Every other request without a live token in
  ``X-Auth-Token`` answers ``401`` (as keystonemiddleware does, with
  ``WWW-Authenticate``).
* **Catalog**: two regions (``RegionOne``, ``RegionTwo``), each with
  ``public``, ``internal`` and ``admin`` endpoints for ``compute``, ``image``,
  ``block-storage`` (and the older ``volumev3``), ``network`` and
  ``identity``. Each region keeps its own state (servers, images, volumes,
  ...), and each endpoint has its own path (``/r1/public/compute/v2.1``), so
  tests can see which one the driver used. Catalog URLs use the request's
  ``Host``, as a catalog names the address clients reach.
* **Nova**: microversions from ``OpenStack-API-Version: compute X.Y`` (or
  ``X-OpenStack-Nova-API-Version``); none means 2.1; out of range answers
  ``406``. Behaviour follows the version where the driver can see it:
  ``networks`` required in a create (2.37), ``createImage`` answers the image
  id in the body (2.45, before in ``Location``), servers embed the flavor's
  details (2.47, before ``{"id", "links"}``), key pairs answer ``201``/``204``
  (2.2) and page (2.35). ``GET /servers/detail`` sorts by creation (newest
  first), filters ``name`` as a regular expression and ``status``, and pages by
  ``limit``/``marker`` with a ``servers_links`` "next" link whenever a page is
  full (so a last full page is followed by an empty one). A new server is
  ``BUILD`` and becomes ``ACTIVE`` (with its fixed address) on its second
  observation (a GET or a listing); reboot shows ``REBOOT``/``HARD_REBOOT``
  once, stop shows ``ACTIVE`` with task ``powering-off`` once then
  ``SHUTOFF``, start shows ``SHUTOFF`` with task ``powering-on`` once then
  ``ACTIVE``. Actions in the wrong state answer ``409 conflictingRequest``.
  Faults are ``{"<kind>": {"code", "message"}}``.
* **Glance**: ``/v2/images`` sorted newest first, ``limit``/``marker`` with a
  relative ``next`` link; image properties sit beside the standard fields;
  a snapshot made by ``createImage`` goes ``queued``, ``saving``, ``active``
  as it is observed. Faults are webob's ``{"code", "title", "message"}``.
* **Cinder**: URLs carry the project id; volumes go ``creating`` then
  ``available`` on their second observation; a volume with snapshots or
  attachments cannot be deleted; a snapshot of an in-use volume needs
  ``force``. Faults as Nova's.
* **Neutron**: networks ``private`` and ``public`` (external); each server
  gets a port on its network; floating IPs from ``public``, associated with a
  port by ``PUT``, shown in the server's addresses as ``floating``. Faults are
  ``{"NeutronError": {"type", "message", "detail"}}``.

Test knobs (not OpenStack behaviour): ``lose_next`` (a set of ``"server"``,
``"volume"``, ``"snapshot"``, ``"image"``, ``"keypair"``, ``"floatingip"``,
``"attachment"``): the next such create is stored, then answered ``500`` as if
the answer were lost; ``refuse_next`` (``"server"``): the next server create
answers ``503`` without storing anything; ``throttle`` (a list of statuses, ``413`` or ``429``):
the next compute requests answer them with ``Retry-After: 0``;
``revoke_tokens()``; ``missing_microversion`` counts compute requests that
named no microversion.

``make_target`` starts one server per test process, lazily, on 127.0.0.1.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import re
import secrets
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import Final
from urllib.parse import urlencode

import pytest

from overcast.compute.base import NodeImage
from overcast.compute.drivers.openstack import OpenStackNodeDriver
from overcast.runtime.policy import Hooks
from servers.compute_target import ComputeTarget
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

USERNAME: Final = "overcast-user"
PASSWORD: Final = "fixture-Passw0rd-6f1c2a9e"
USER_ID: Final = "9a1b2c3d4e5f40718293a4b5c6d7e8f9"
PROJECT: Final = "overcast-project"
PROJECT_ID: Final = "5f0c8a2b9d3e4f6a8b1c2d3e4f5a6b7c"
DOMAIN: Final = "Default"
APP_CRED_ID: Final = "0aa1bb2cc3dd4ee5ff60718293a4b5c6"
APP_CRED_SECRET: Final = "appcred-Secret-44d0e7b1c9"
REGIONS: Final = {"RegionOne": "r1", "RegionTwo": "r2"}
INTERFACES: Final = ("public", "internal", "admin")
MIN_VERSION: Final = (2, 1)
MAX_VERSION: Final = (2, 96)
MAX_LIMIT: Final = 1000
ZONES: Final = ("nova", "az-2")
PRIVATE_NET: Final = "1f0c7a54-6b1e-4b8e-9a5c-3d2e1f0a9b8c"
PUBLIC_NET: Final = "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098"
PRIVATE_SUBNET: Final = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
PUBLIC_SUBNET: Final = "9f8e7d6c-5b4a-4392-8180-f7e6d5c4b3a2"

_NAME = re.compile(r"\A[^\x00-\x1f\x7f]*\Z")
_DEVICE = re.compile(r"\A(/dev/x?[a-z]?d?)([a-z]+)[0-9]*\Z")
_KEYPAIR_SAFE = frozenset("_- 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

FLAVORS: Final = [
    {"id": "1", "name": "m1.tiny", "ram": 512, "disk": 1, "vcpus": 1},
    {"id": "2", "name": "m1.small", "ram": 2048, "disk": 20, "vcpus": 1},
    {"id": "3", "name": "m1.medium", "ram": 4096, "disk": 40, "vcpus": 2},
    {"id": "4", "name": "m1.large", "ram": 8192, "disk": 80, "vcpus": 4},
    {"id": "42", "name": "m1.nano", "ram": 128, "disk": 1, "vcpus": 1},
]
BASE_IMAGES: Final = [
    "cirros-0.6.2-x86_64-disk", "debian-12-genericcloud-amd64", "ubuntu-24.04-server-cloudimg",
    "fedora-40-cloud-base", "rocky-9-genericcloud",
]


def stamp(moment: float | None = None, *, micro: bool = False, zulu: bool = True) -> str:
    """An ISO 8601 UTC timestamp as the services write them."""
    when = datetime.fromtimestamp(time.time() if moment is None else moment, UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{when.microsecond:06d}" if micro else "")
    return text + ("Z" if zulu else "")


def fault(status: int, kind: str, message: str) -> FakeResponse:
    """Nova's and Cinder's fault shape."""
    return FakeResponse.json({kind: {"code": status, "message": message}}, status)


def not_found(message: str) -> FakeResponse:
    return fault(404, "itemNotFound", message)


def bad_request(message: str) -> FakeResponse:
    return fault(400, "badRequest", message)


def conflict(message: str) -> FakeResponse:
    return fault(409, "conflictingRequest", message)


def neutron_fault(status: int, kind: str, message: str) -> FakeResponse:
    return FakeResponse.json({"NeutronError": {"type": kind, "message": message, "detail": ""}},
                             status)


def glance_fault(status: int, title: str, message: str) -> FakeResponse:
    return FakeResponse.json({"code": f"{status} {title}", "title": title, "message": message},
                             status)


def unauthorized() -> FakeResponse:
    return FakeResponse.json(
        {"error": {"code": 401, "title": "Unauthorized",
                   "message": "The request you have made requires authentication."}},
        401,
    )


def fingerprint(public_key: str) -> str | None:
    """The MD5 fingerprint Nova shows for an OpenSSH public key."""
    parts = public_key.split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    digest = hashlib.md5(blob).hexdigest()  # what Nova shows
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def generate_key_pair() -> tuple[str, str]:
    """A new ed25519 key pair: ``(private OpenSSH PEM, public OpenSSH line)``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, f"{public} Generated-by-Nova"


@dataclass
class Ctx:
    """One API request's context: its region state, endpoint and microversion."""

    req: FakeRequest
    region: Region
    endpoint: str
    version: tuple[int, int] = MIN_VERSION

    def at_least(self, minor: int) -> bool:
        return self.version >= (2, minor)


@dataclass
class Region:
    """What one region's services hold."""

    name: str
    slug: str
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    keypairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[str, dict[str, Any]] = field(default_factory=dict)
    floatingips: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    hosts: itertools.count[int] = field(default_factory=lambda: itertools.count(3))
    publics: itertools.count[int] = field(default_factory=lambda: itertools.count(10))


class OpenStackFake:
    """Keystone, Nova, Glance, Cinder and Neutron state and routes."""

    def __init__(self) -> None:
        self.api = FakeAPI()
        self.base_url = ""
        self.tokens: dict[str, float] = {}
        self.token_lifetime = 10.0
        self.token_requests = 0
        self.token_methods: list[str] = []
        self.lose_next: set[str] = set()
        self.refuse_next: set[str] = set()
        self.throttle: list[int] = []
        self.missing_microversion = 0
        self._seq = itertools.count(1)
        self.regions = {slug: self._region(name, slug) for name, slug in REGIONS.items()}
        self._routes()

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far."""
        with self.api.lock:
            self.tokens.clear()

    def region(self, name: str = "RegionOne") -> Region:
        """The state of a region, by name."""
        return self.regions[REGIONS[name]]

    # -- state -----------------------------------------------------------------------------

    def _region(self, name: str, slug: str) -> Region:
        region = Region(name, slug)
        start = time.time() - 86400
        for i, image_name in enumerate(BASE_IMAGES):
            image_id = str(uuid.uuid4())
            region.images[image_id] = self._image(
                image_id, image_name, start + i, status="active", visibility="public",
                owner="admin-project",
            )
        region.networks[PRIVATE_NET] = {
            "id": PRIVATE_NET, "name": "private", "router:external": False,
            "subnets": [PRIVATE_SUBNET], "status": "ACTIVE", "shared": False,
            "project_id": PROJECT_ID, "tenant_id": PROJECT_ID, "admin_state_up": True,
            "mtu": 1450, "description": "",
        }
        region.networks[PUBLIC_NET] = {
            "id": PUBLIC_NET, "name": "public", "router:external": True,
            "subnets": [PUBLIC_SUBNET], "status": "ACTIVE", "shared": False,
            "project_id": "admin-project", "tenant_id": "admin-project",
            "admin_state_up": True, "mtu": 1500, "description": "",
        }
        return region

    def _image(self, image_id: str, name: str, created: float, *, status: str,
               visibility: str, owner: str, properties: dict[str, str] | None = None
               ) -> dict[str, Any]:
        return {
            "id": image_id, "name": name, "status": status, "visibility": visibility,
            "protected": False, "tags": [], "container_format": "bare",
            "disk_format": "qcow2", "min_disk": 0, "min_ram": 0,
            "size": 21430272 if status == "active" else None, "virtual_size": None,
            "checksum": hashlib.md5(name.encode()).hexdigest() if status == "active" else None,
            "os_hash_algo": "sha512" if status == "active" else None,
            "owner": owner, "created_at": stamp(created), "updated_at": stamp(created),
            "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
            "schema": "/v2/schemas/image", "_seq": next(self._seq), "_polls": 0,
            **(properties or {}),
        }

    # -- routing -----------------------------------------------------------------------------

    def _host(self, req: FakeRequest) -> str:
        return f"http://{req.header('Host') or self.base_url.split('://', 1)[1]}"

    def _catalog(self, req: FakeRequest) -> list[dict[str, Any]]:
        host = self._host(req)
        services = [
            ("compute", "nova", "/compute/v2.1"),
            ("image", "glance", "/image"),
            ("block-storage", "cinder", f"/volume/v3/{PROJECT_ID}"),
            ("volumev3", "cinderv3", f"/volume/v3/{PROJECT_ID}"),
            ("network", "neutron", "/network"),
        ]
        catalog = []
        for stype, sname, prefix in services:
            endpoints = [
                {"id": uuid.uuid5(uuid.NAMESPACE_URL, f"{stype}{region}{iface}").hex,
                 "interface": iface, "region": region, "region_id": region,
                 "url": f"{host}/{slug}/{iface}{prefix}"}
                for region, slug in REGIONS.items() for iface in INTERFACES
            ]
            catalog.append({"type": stype, "name": sname, "id": uuid.uuid5(
                uuid.NAMESPACE_URL, stype).hex, "endpoints": endpoints})
        catalog.append({"type": "identity", "name": "keystone", "id": "keystone0", "endpoints": [
            {"id": f"ks{i}", "interface": iface, "region": region, "region_id": region,
             "url": f"{host}/identity"}
            for i, (region, iface) in enumerate(
                (r, f) for r in REGIONS for f in INTERFACES)]})
        return catalog

    def _routes(self) -> None:
        api = self.api
        api.route("POST", r"/identity/v3/auth/tokens")(self.issue_token)
        prefix = r"/(?P<_slug>r1|r2)/(?P<_iface>public|internal|admin)"
        services: dict[str, str] = {
            "compute": r"/compute/v2\.1",
            "image": r"/image",
            "volume": r"/volume/v3/(?P<_project>[^/]+)",
            "network": r"/network",
        }
        for handler_name in dir(self):
            handler = getattr(self, handler_name)
            spec = getattr(handler, "_route", None)
            if spec is None:
                continue
            service, method, pattern = spec
            api.route(method, prefix + services[service] + pattern)(
                self._wrap(service, handler)
            )

    def _wrap(self, service: str, handler: Callable[..., FakeResponse]
              ) -> Callable[..., FakeResponse]:
        def run(req: FakeRequest, _slug: str, _iface: str, _project: str | None = None,
                **groups: str) -> FakeResponse:
            expires = self.tokens.get(req.header("X-Auth-Token") or "")
            if expires is None or time.time() >= expires:
                response = unauthorized()
                response.headers["WWW-Authenticate"] = (
                    f'Keystone uri="{self._host(req)}/identity"'
                )
                return response
            region = self.regions[_slug]
            host = self._host(req)
            endpoint = {
                "compute": f"{host}/{_slug}/{_iface}/compute/v2.1",
                "image": f"{host}/{_slug}/{_iface}/image",
                "volume": f"{host}/{_slug}/{_iface}/volume/v3/{_project}",
                "network": f"{host}/{_slug}/{_iface}/network",
            }[service]
            ctx = Ctx(req, region, endpoint)
            headers: dict[str, str] = {"X-Openstack-Request-Id": f"req-{uuid.uuid4()}"}
            if service == "volume" and _project != PROJECT_ID:
                return bad_request("Malformed request url")
            if service == "compute":
                version = self._microversion(req)
                if isinstance(version, FakeResponse):
                    return version
                ctx.version = version
                text = f"{version[0]}.{version[1]}"
                headers.update({"OpenStack-API-Version": f"compute {text}",
                                "X-OpenStack-Nova-API-Version": text,
                                "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"})
                if self.throttle:
                    status = self.throttle.pop(0)
                    response = fault(status, "overLimit",
                                     "This request was rate-limited.")
                    response.headers["Retry-After"] = "0"
                    return response
            response = handler(ctx, **groups)
            response.headers.update(headers)
            return response

        return run

    def _microversion(self, req: FakeRequest) -> tuple[int, int] | FakeResponse:
        value = None
        header = req.header("OpenStack-API-Version")
        if header:
            service, _, value = header.strip().partition(" ")
            if service.lower() != "compute":
                value = None
        if value is None:
            value = req.header("X-OpenStack-Nova-API-Version")
        if value is None:
            self.missing_microversion += 1
            return MIN_VERSION
        value = value.strip()
        if value == "latest":
            return MAX_VERSION
        match = re.fullmatch(r"(\d+)\.(\d+)", value)
        if match is None:
            return bad_request(f"Invalid format for API version: {value}")
        version = (int(match.group(1)), int(match.group(2)))
        if not MIN_VERSION <= version <= MAX_VERSION:
            return fault(406, "computeFault",
                         f"Version {value} is not supported by the API. Minimum is 2.1 and "
                         f"maximum is {MAX_VERSION[0]}.{MAX_VERSION[1]}.")
        return version

    def _refused(self, what: str) -> bool:
        if what in self.refuse_next:
            self.refuse_next.discard(what)
            return True
        return False

    def _lost(self, what: str) -> bool:
        if what in self.lose_next:
            self.lose_next.discard(what)
            return True
        return False

    # -- paging ----------------------------------------------------------------------------------

    def _page(self, ctx: Ctx, items: list[dict[str, Any]], key: str = "id",
              *, default_limit: int = MAX_LIMIT
              ) -> tuple[list[dict[str, Any]], str | None] | FakeResponse:
        """One page of ``items`` (already sorted), and the query of the next page
        (when this one is full), as Nova, Cinder and Glance page."""
        req = ctx.req
        raw = req.arg("limit")
        limit = default_limit
        if raw is not None:
            try:
                limit = int(raw)
            except ValueError:
                return bad_request("limit param must be an integer")
            if limit < 0:
                return bad_request("limit param must be positive")
        limit = min(limit, MAX_LIMIT)
        start = 0
        marker = req.arg("marker")
        if marker is not None:
            positions = [i for i, item in enumerate(items) if str(item[key]) == marker]
            if not positions:
                return bad_request(f"marker [{marker}] not found")
            start = positions[0] + 1
        page = items[start : start + limit]
        following = None
        if page and len(page) == limit:
            query = [(k, v) for k, values in req.query.items() if k != "marker" for v in values]
            following = urlencode([*query, ("marker", str(page[-1][key]))])
        return page, following

    # -- Keystone ----------------------------------------------------------------------------------

    def issue_token(self, req: FakeRequest) -> FakeResponse:
        try:
            auth = req.json()["auth"]
            identity = auth["identity"]
            methods = list(identity["methods"])
        except (ValueError, KeyError, TypeError):
            return FakeResponse.json({"error": {"code": 400, "title": "Bad Request",
                                                "message": "Expecting to find auth in request."}},
                                     400)
        self.token_requests += 1
        scope = auth.get("scope")
        if methods == ["password"]:
            user = (identity.get("password") or {}).get("user") or {}
            domain = user.get("domain") or {}
            known_user = user.get("id") == USER_ID or (
                user.get("name") == USERNAME
                and (domain.get("name") == DOMAIN or domain.get("id") == "default")
            )
            if not known_user or user.get("password") != PASSWORD:
                return unauthorized()
            project = (scope or {}).get("project")
            if not isinstance(project, dict):
                return unauthorized()  # this user has no default project
            pdomain = project.get("domain") or {}
            if not (project.get("id") == PROJECT_ID or (
                    project.get("name") == PROJECT
                    and (pdomain.get("name") == DOMAIN or pdomain.get("id") == "default"))):
                return unauthorized()
        elif methods == ["application_credential"]:
            credential = identity.get("application_credential") or {}
            if credential.get("id") != APP_CRED_ID or credential.get("secret") != APP_CRED_SECRET:
                return unauthorized()
            if scope:
                return unauthorized()  # an application credential cannot ask for a scope
        else:
            return unauthorized()
        self.token_methods.append(methods[0])
        now = time.time()
        value = "gAAAAAB" + secrets.token_urlsafe(96)
        self.tokens[value] = now + self.token_lifetime
        body: dict[str, Any] = {
            "token": {
                "methods": methods,
                "user": {"id": USER_ID, "name": USERNAME, "password_expires_at": None,
                         "domain": {"id": "default", "name": DOMAIN}},
                "audit_ids": [secrets.token_urlsafe(16)],
                "expires_at": stamp(now + self.token_lifetime, micro=True),
                "issued_at": stamp(now, micro=True),
                "project": {"id": PROJECT_ID, "name": PROJECT,
                            "domain": {"id": "default", "name": DOMAIN}},
                "is_domain": False,
                "roles": [{"id": "8aaea39029464511b9a3b3fc30e59224", "name": "member"},
                          {"id": "8aaea39029464511b9a3b3fc30e59225", "name": "reader"}],
            }
        }
        if methods == ["application_credential"]:
            body["token"]["application_credential"] = {
                "id": APP_CRED_ID, "name": "overcast-ci", "restricted": True}
        if req.arg("nocatalog") is None:
            body["token"]["catalog"] = self._catalog(req)
        return FakeResponse.json(body, 201, {"X-Subject-Token": value})

    # -- Nova: servers -------------------------------------------------------------------------

    def _observe(self, server: dict[str, Any], region: Region) -> None:
        server["_polls"] += 1
        if server["status"] == "BUILD" and server["_polls"] >= 2:
            server.update(status="ACTIVE", task_state=None, vm_state="active", power_state=1,
                          az=server["az_wanted"], launched=stamp(micro=True, zulu=False))
        elif server.get("_then") and server["_polls"] > server["_then_at"]:
            server.update(server.pop("_then"))
        server["updated"] = stamp()

    def _later(self, server: dict[str, Any], shown: int, **then: Any) -> None:
        """Apply ``then`` after the server was observed ``shown`` more times as it is."""
        server["_then"] = then
        server["_then_at"] = server["_polls"] + shown

    def _addresses(self, server: dict[str, Any], region: Region) -> dict[str, Any]:
        if server["status"] == "BUILD":
            return {}
        addresses: dict[str, list[dict[str, Any]]] = {}
        for port in region.ports.values():
            if port["device_id"] != server["id"]:
                continue
            network = region.networks[port["network_id"]]["name"]
            entries = addresses.setdefault(network, [])
            for fixed in port["fixed_ips"]:
                entries.append({"addr": fixed["ip_address"], "version": 4,
                                "OS-EXT-IPS:type": "fixed",
                                "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
            for fip in region.floatingips.values():
                if fip["port_id"] == port["id"]:
                    entries.append({"addr": fip["floating_ip_address"], "version": 4,
                                    "OS-EXT-IPS:type": "floating",
                                    "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
        return addresses

    def _server_view(self, ctx: Ctx, server: dict[str, Any]) -> dict[str, Any]:
        flavor = next(f for f in FLAVORS if f["id"] == server["flavor_id"])
        flavor_view: dict[str, Any]
        if ctx.at_least(47):
            flavor_view = {"vcpus": flavor["vcpus"], "ram": flavor["ram"],
                           "disk": flavor["disk"], "ephemeral": 0, "swap": 0,
                           "original_name": flavor["name"], "extra_specs": {}}
        else:
            flavor_view = {"id": flavor["id"], "links": [
                {"href": f"{ctx.endpoint}/flavors/{flavor['id']}", "rel": "bookmark"}]}
        link = f"{ctx.endpoint}/servers/{server['id']}"
        view: dict[str, Any] = {
            "id": server["id"], "name": server["name"], "status": server["status"],
            "tenant_id": PROJECT_ID, "user_id": USER_ID, "metadata": dict(server["metadata"]),
            "hostId": hashlib.sha224(f"{PROJECT_ID}host1".encode()).hexdigest()
            if server["status"] != "BUILD" else "",
            "image": {"id": server["image_id"], "links": [
                {"href": f"{ctx.endpoint}/images/{server['image_id']}", "rel": "bookmark"}]},
            "flavor": flavor_view, "created": server["created"], "updated": server["updated"],
            "addresses": self._addresses(server, ctx.region), "accessIPv4": "",
            "accessIPv6": "", "links": [{"href": link, "rel": "self"},
                                        {"href": link, "rel": "bookmark"}],
            "OS-DCF:diskConfig": "MANUAL", "progress": 0,
            "OS-EXT-AZ:availability_zone": server["az"], "config_drive": "",
            "key_name": server["key_name"], "OS-SRV-USG:launched_at": server.get("launched"),
            "OS-SRV-USG:terminated_at": None,
            "security_groups": [{"name": g} for g in server["security_groups"]],
            "OS-EXT-STS:task_state": server["task_state"],
            "OS-EXT-STS:vm_state": server["vm_state"],
            "OS-EXT-STS:power_state": server["power_state"],
            "os-extended-volumes:volumes_attached": [
                {"id": v, "delete_on_termination": False} for v in server["volumes"]],
        }
        if ctx.at_least(9):
            view["locked"] = False
        if ctx.at_least(19):
            view["description"] = None
        if ctx.at_least(26):
            view["tags"] = []
        if ctx.at_least(73):
            view["locked_reason"] = None
        return view

    def _server(self, ctx: Ctx, server_id: str) -> dict[str, Any] | None:
        return ctx.region.servers.get(server_id)

    @staticmethod
    def route(service: str, method: str, pattern: str
              ) -> Callable[[Callable[..., FakeResponse]], Callable[..., FakeResponse]]:
        def mark(fn: Callable[..., FakeResponse]) -> Callable[..., FakeResponse]:
            fn._route = (service, method, pattern)  # type: ignore[attr-defined]
            return fn

        return mark

    @route("compute", "GET", r"/servers/detail")
    def list_servers(self, ctx: Ctx) -> FakeResponse:
        servers = sorted(ctx.region.servers.values(), key=lambda s: s["_seq"], reverse=True)
        name = ctx.req.arg("name")
        if name is not None:
            try:
                pattern = re.compile(name)
            except re.error:
                return bad_request(f"Invalid regular expression: {name}")
            servers = [s for s in servers if pattern.search(s["name"])]
        status = ctx.req.arg("status")
        if status is not None:
            servers = [s for s in servers if s["status"] == status.upper()]
        paged = self._page(ctx, servers)
        if isinstance(paged, FakeResponse):
            return paged
        page, following = paged
        for server in page:
            self._observe(server, ctx.region)
        body: dict[str, Any] = {"servers": [self._server_view(ctx, s) for s in page]}
        if following is not None:
            body["servers_links"] = [
                {"href": f"{ctx.endpoint}/servers/detail?{following}", "rel": "next"}]
        return FakeResponse.json(body)

    @route("compute", "GET", r"/servers/(?P<server_id>[^/]+)")
    def show_server(self, ctx: Ctx, server_id: str) -> FakeResponse:
        if server_id == "detail":  # pragma: no cover - routed above
            return self.list_servers(ctx)
        server = self._server(ctx, server_id)
        if server is None:
            return not_found(f"Instance {server_id} could not be found.")
        self._observe(server, ctx.region)
        return FakeResponse.json({"server": self._server_view(ctx, server)})

    def _check_server_body(self, ctx: Ctx, data: Any) -> dict[str, Any] | FakeResponse:
        if not isinstance(data, dict) or set(data) != {"server"} or not isinstance(
                data["server"], dict):
            return bad_request("Invalid input for field/attribute server.")
        body: dict[str, Any] = data["server"]
        allowed = {"name", "flavorRef", "imageRef", "networks", "metadata", "availability_zone",
                   "key_name", "adminPass", "user_data", "security_groups", "config_drive",
                   "description", "tags", "accessIPv4", "accessIPv6", "min_count", "max_count",
                   "OS-DCF:diskConfig", "block_device_mapping_v2", "return_reservation_id"}
        extra = set(body) - allowed
        if extra:
            return bad_request(
                "Invalid input for field/attribute server. Value: ... Additional properties "
                f"are not allowed ({', '.join(repr(e) for e in sorted(extra))} were unexpected)")
        name = body.get("name")
        if (not isinstance(name, str) or not 1 <= len(name) <= 255 or not _NAME.match(name)
                or name != name.strip()):
            return bad_request(f"Invalid input for field/attribute name. Value: {name!r}.")
        flavor = body.get("flavorRef")
        if not any(f["id"] == str(flavor) for f in FLAVORS):
            return bad_request(f"Flavor {flavor} could not be found.")
        image = ctx.region.images.get(str(body.get("imageRef")))
        if image is None:
            return bad_request("Can not find requested image")
        if image["status"] != "active":
            return bad_request(f"Image {image['id']} is not active.")
        networks = body.get("networks")
        if networks is None and ctx.at_least(37):
            return bad_request("Invalid input for field/attribute server. Value: ... "
                               "'networks' is a required property")
        if isinstance(networks, list):
            for entry in networks:
                if not isinstance(entry, dict) or ctx.region.networks.get(
                        str(entry.get("uuid"))) is None:
                    return bad_request(f"Network {entry} could not be found.")
        elif networks not in (None, "auto", "none"):
            return bad_request(f"Invalid input for field/attribute networks: {networks!r}")
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and 1 <= len(k) <= 255
                and len(v) <= 255 for k, v in metadata.items()):
            return bad_request("Invalid input for field/attribute metadata.")
        if body.get("key_name") is not None and body["key_name"] not in ctx.region.keypairs:
            return bad_request("Invalid key_name provided.")
        zone = body.get("availability_zone")
        if zone is not None and zone not in ZONES:
            return bad_request("The requested availability zone is not available")
        for group in body.get("security_groups") or ():
            if group.get("name") != "default":
                return bad_request(
                    f"Unable to find security_group with name or id '{group.get('name')}'")
        if body.get("user_data") is not None:
            try:
                base64.b64decode(body["user_data"], validate=True)
            except (binascii.Error, ValueError):
                return bad_request("User data needs to be valid base 64.")
        return body

    def _allocate_port(self, region: Region, server_id: str, network_id: str) -> dict[str, Any]:
        port_id = str(uuid.uuid4())
        host = next(region.hosts)
        port = {
            "id": port_id, "network_id": network_id, "device_id": server_id,
            "device_owner": "compute:nova", "status": "ACTIVE", "admin_state_up": True,
            "mac_address": f"fa:16:3e:{host // 65536 % 256:02x}:{host // 256 % 256:02x}:"
                           f"{host % 256:02x}",
            "fixed_ips": [{"subnet_id": PRIVATE_SUBNET if network_id == PRIVATE_NET
                           else PUBLIC_SUBNET,
                           "ip_address": f"10.0.{host // 250}.{host % 250 + 2}"}],
            "project_id": PROJECT_ID, "tenant_id": PROJECT_ID, "name": "",
        }
        region.ports[port_id] = port
        return port

    @route("compute", "POST", r"/servers")
    def create_server(self, ctx: Ctx) -> FakeResponse:
        try:
            data = ctx.req.json()
        except ValueError:
            return bad_request("Malformed request body")
        body = self._check_server_body(ctx, data)
        if isinstance(body, FakeResponse):
            return body
        if self._refused("server"):
            return fault(503, "computeFault", "Service Unavailable")
        region = ctx.region
        server_id = str(uuid.uuid4())
        password = body.get("adminPass") or secrets.token_urlsafe(9)
        server = {
            "id": server_id, "name": body["name"], "status": "BUILD",
            "task_state": "scheduling", "vm_state": "building", "power_state": 0,
            "flavor_id": str(body["flavorRef"]), "image_id": str(body["imageRef"]),
            "key_name": body.get("key_name"), "metadata": dict(body.get("metadata") or {}),
            "az": "", "az_wanted": body.get("availability_zone") or "nova",
            "created": stamp(), "updated": stamp(), "security_groups": ["default"],
            "volumes": [], "_seq": next(self._seq), "_polls": 0,
        }
        region.servers[server_id] = server
        networks = body.get("networks", "auto")
        if networks == "auto" or networks is None:
            self._allocate_port(region, server_id, PRIVATE_NET)
        elif isinstance(networks, list):
            for entry in networks:
                self._allocate_port(region, server_id, str(entry["uuid"]))
        if self._lost("server"):
            return fault(500, "computeFault", "Unexpected API Error. Please report this.")
        link = f"{ctx.endpoint}/servers/{server_id}"
        return FakeResponse.json(
            {"server": {"id": server_id, "OS-DCF:diskConfig": "MANUAL",
                        "security_groups": [{"name": "default"}], "adminPass": password,
                        "links": [{"href": link, "rel": "self"},
                                  {"href": link, "rel": "bookmark"}]}},
            202, {"Location": link},
        )

    def _release(self, region: Region, server: dict[str, Any]) -> None:
        for port_id in [p for p, port in region.ports.items()
                        if port["device_id"] == server["id"]]:
            del region.ports[port_id]
            for fip in region.floatingips.values():
                if fip["port_id"] == port_id:
                    fip.update(port_id=None, fixed_ip_address=None, router_id=None,
                               status="DOWN")
        for volume_id in server["volumes"]:
            volume = region.volumes.get(volume_id)
            if volume is not None:
                volume.update(status="available", attachments=[])

    @route("compute", "DELETE", r"/servers/(?P<server_id>[^/]+)")
    def delete_server(self, ctx: Ctx, server_id: str) -> FakeResponse:
        server = self._server(ctx, server_id)
        if server is None:
            return not_found(f"Instance {server_id} could not be found.")
        self._release(ctx.region, server)
        del ctx.region.servers[server_id]
        return FakeResponse(204)

    @route("compute", "POST", r"/servers/(?P<server_id>[^/]+)/action")
    def server_action(self, ctx: Ctx, server_id: str) -> FakeResponse:
        server = self._server(ctx, server_id)
        if server is None:
            return not_found(f"Instance {server_id} could not be found.")
        try:
            data = ctx.req.json()
        except ValueError:
            return bad_request("Malformed request body")
        if not isinstance(data, dict) or len(data) != 1:
            return bad_request("Malformed request body")
        action, args = next(iter(data.items()))

        def refuse(what: str) -> FakeResponse:
            if server["task_state"] is not None:
                return conflict(f"Cannot '{what}' instance {server_id} while it is in "
                                f"task_state {server['task_state']}")
            return conflict(f"Cannot '{what}' instance {server_id} while it is in vm_state "
                            f"{server['vm_state']}")

        if action == "reboot":
            kind = (args or {}).get("type") if isinstance(args, dict) else None
            if kind not in ("SOFT", "HARD"):
                return bad_request("Invalid input for field/attribute type.")
            ok = server["status"] == "ACTIVE" or (
                kind == "HARD" and server["status"] in ("SHUTOFF", "ERROR"))
            if not ok or server["task_state"] is not None:
                return refuse("reboot")
            server.update(status="REBOOT" if kind == "SOFT" else "HARD_REBOOT",
                          task_state="rebooting" if kind == "SOFT" else "rebooting_hard")
            self._later(server, 0, status="ACTIVE", task_state=None, vm_state="active",
                        power_state=1)
            return FakeResponse(202)
        if action == "os-stop":
            if server["status"] not in ("ACTIVE", "ERROR") or server["task_state"] is not None:
                return refuse("stop")
            server.update(task_state="powering-off")
            self._later(server, 1, status="SHUTOFF", task_state=None, vm_state="stopped",
                        power_state=4)
            return FakeResponse(202)
        if action == "os-start":
            if server["status"] != "SHUTOFF" or server["task_state"] is not None:
                return refuse("start")
            server.update(task_state="powering-on")
            self._later(server, 1, status="ACTIVE", task_state=None, vm_state="active",
                        power_state=1)
            return FakeResponse(202)
        if action == "createImage":
            if not isinstance(args, dict) or not isinstance(args.get("name"), str) or not (
                    1 <= len(args["name"]) <= 255):
                return bad_request("Invalid input for field/attribute name.")
            if server["status"] not in ("ACTIVE", "SHUTOFF") or server["task_state"]:
                return refuse("createImage")
            metadata = args.get("metadata") or {}
            if not isinstance(metadata, dict):
                return bad_request("Invalid input for field/attribute metadata.")
            image_id = str(uuid.uuid4())
            properties = {str(k): str(v) for k, v in metadata.items()}
            properties.update(image_type="snapshot", instance_uuid=server_id,
                              base_image_ref=server["image_id"], user_id=USER_ID)
            ctx.region.images[image_id] = self._image(
                image_id, args["name"], time.time(), status="queued", visibility="private",
                owner=PROJECT_ID, properties=properties)
            if self._lost("image"):
                return fault(500, "computeFault", "Unexpected API Error. Please report this.")
            if ctx.at_least(45):
                return FakeResponse.json({"image_id": image_id}, 202)
            image_url = ctx.endpoint.replace("/compute/v2.1", "/image")
            return FakeResponse(202, b"", {"Location": f"{image_url}/v2/images/{image_id}"})
        return bad_request(f"There is no such action: {action}")

    # -- Nova: flavors, zones, key pairs --------------------------------------------------------

    def _flavor_view(self, ctx: Ctx, flavor: dict[str, Any]) -> dict[str, Any]:
        link = f"{ctx.endpoint}/flavors/{flavor['id']}"
        view: dict[str, Any] = {
            **flavor, "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False,
            "swap": 0 if ctx.at_least(75) else "", "rxtx_factor": 1.0,
            "os-flavor-access:is_public": True,
            "links": [{"href": link, "rel": "self"}, {"href": link, "rel": "bookmark"}],
        }
        if ctx.at_least(55):
            view["description"] = None
        if ctx.at_least(61):
            view["extra_specs"] = {}
        return view

    @route("compute", "GET", r"/flavors/detail")
    def list_flavors(self, ctx: Ctx) -> FakeResponse:
        flavors = sorted(FLAVORS, key=lambda f: str(f["id"]))
        paged = self._page(ctx, flavors)
        if isinstance(paged, FakeResponse):
            return paged
        page, following = paged
        body: dict[str, Any] = {"flavors": [self._flavor_view(ctx, f) for f in page]}
        if following is not None:
            body["flavors_links"] = [
                {"href": f"{ctx.endpoint}/flavors/detail?{following}", "rel": "next"}]
        return FakeResponse.json(body)

    @route("compute", "GET", r"/flavors/(?P<flavor_id>[^/]+)")
    def show_flavor(self, ctx: Ctx, flavor_id: str) -> FakeResponse:
        for flavor in FLAVORS:
            if flavor["id"] == flavor_id:
                return FakeResponse.json({"flavor": self._flavor_view(ctx, flavor)})
        return not_found(f"Flavor {flavor_id} could not be found.")

    @route("compute", "GET", r"/os-availability-zone")
    def list_zones(self, ctx: Ctx) -> FakeResponse:
        zones = ZONES if ctx.region.slug == "r1" else ZONES[:1]
        return FakeResponse.json({"availabilityZoneInfo": [
            {"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in zones]})

    def _keypair_view(self, ctx: Ctx, pair: dict[str, Any], *, full: bool = False
                      ) -> dict[str, Any]:
        view = {"name": pair["name"], "public_key": pair["public_key"],
                "fingerprint": pair["fingerprint"]}
        if ctx.at_least(2):
            view["type"] = pair["type"]
        if full:
            view.update(user_id=USER_ID, deleted=False, created_at=pair["created_at"],
                        updated_at=None, deleted_at=None, id=pair["id"])
        return view

    @route("compute", "GET", r"/os-keypairs")
    def list_keypairs(self, ctx: Ctx) -> FakeResponse:
        pairs = sorted(ctx.region.keypairs.values(), key=lambda p: p["name"])
        following = None
        if ctx.at_least(35):
            paged = self._page(ctx, pairs, "name")
            if isinstance(paged, FakeResponse):
                return paged
            pairs, following = paged
        elif ctx.req.query:
            return bad_request("Additional properties are not allowed")
        body: dict[str, Any] = {
            "keypairs": [{"keypair": self._keypair_view(ctx, p)} for p in pairs]}
        if following is not None:
            body["keypairs_links"] = [
                {"href": f"{ctx.endpoint}/os-keypairs?{following}", "rel": "next"}]
        return FakeResponse.json(body)

    @route("compute", "GET", r"/os-keypairs/(?P<name>[^/]+)")
    def show_keypair(self, ctx: Ctx, name: str) -> FakeResponse:
        pair = ctx.region.keypairs.get(name)
        if pair is None:
            return not_found(f"Keypair {name} not found for user {USER_ID}")
        return FakeResponse.json({"keypair": self._keypair_view(ctx, pair, full=True)})

    @route("compute", "POST", r"/os-keypairs")
    def create_keypair(self, ctx: Ctx) -> FakeResponse:
        try:
            body = ctx.req.json()["keypair"]
            name = body["name"]
        except (ValueError, KeyError, TypeError):
            return bad_request("Invalid input for field/attribute keypair.")
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            return bad_request("Invalid input for field/attribute name.")
        if set(name) - _KEYPAIR_SAFE:
            return bad_request("Keypair data is invalid: Keypair name contains unsafe "
                               "characters")
        if name in ctx.region.keypairs:
            return conflict(f"Key pair '{name}' already exists.")
        private = None
        public = body.get("public_key")
        if public is None:
            private, public = generate_key_pair()
        printed = fingerprint(str(public))
        if printed is None:
            return bad_request("Keypair data is invalid: failed to generate fingerprint")
        pair = {"name": name, "public_key": str(public).strip(), "fingerprint": printed,
                "type": body.get("type", "ssh"), "created_at": stamp(micro=True, zulu=False),
                "id": next(self._seq)}
        ctx.region.keypairs[name] = pair
        if self._lost("keypair"):
            return fault(500, "computeFault", "Unexpected API Error. Please report this.")
        view = self._keypair_view(ctx, pair)
        view["user_id"] = USER_ID
        if private is not None:
            view["private_key"] = private
        return FakeResponse.json({"keypair": view}, 201 if ctx.at_least(2) else 200)

    @route("compute", "DELETE", r"/os-keypairs/(?P<name>[^/]+)")
    def delete_keypair(self, ctx: Ctx, name: str) -> FakeResponse:
        if ctx.region.keypairs.pop(name, None) is None:
            return not_found(f"Keypair {name} not found for user {USER_ID}")
        return FakeResponse(204 if ctx.at_least(2) else 202)

    # -- Nova: volume attachments -----------------------------------------------------------------

    def _attachment_view(self, ctx: Ctx, server: dict[str, Any], volume: dict[str, Any]
                         ) -> dict[str, Any]:
        attached = next(a for a in volume["attachments"] if a["server_id"] == server["id"])
        view = {"id": volume["id"], "serverId": server["id"], "volumeId": volume["id"],
                "device": attached["device"]}
        if ctx.at_least(70):
            view["tag"] = None
        if ctx.at_least(79):
            view["delete_on_termination"] = False
        return view

    @route("compute", "POST", r"/servers/(?P<server_id>[^/]+)/os-volume_attachments")
    def attach_volume(self, ctx: Ctx, server_id: str) -> FakeResponse:
        server = self._server(ctx, server_id)
        if server is None:
            return not_found(f"Instance {server_id} could not be found.")
        try:
            body = ctx.req.json()["volumeAttachment"]
            volume_id = str(body["volumeId"])
        except (ValueError, KeyError, TypeError):
            return bad_request("Invalid input for field/attribute volumeAttachment.")
        device = body.get("device")
        if device is not None and not _DEVICE.match(str(device)):
            return bad_request(f"Invalid input for field/attribute device. Value: {device}.")
        volume = ctx.region.volumes.get(volume_id)
        if volume is None:
            return not_found(f"Volume {volume_id} could not be found.")
        if server["status"] not in ("ACTIVE", "SHUTOFF") or server["task_state"] is not None:
            return conflict(f"Cannot 'attach_volume' instance {server_id} while it is in "
                            f"vm_state {server['vm_state']}")
        if volume["status"] != "available":
            return bad_request(f"Invalid volume: volume {volume_id} status must be "
                               f"'available'. Currently in '{volume['status']}'")
        used = {a["device"] for v in ctx.region.volumes.values() for a in v["attachments"]
                if a["server_id"] == server_id}
        chosen = next(f"/dev/vd{c}" for c in "bcdefghijklmnop" if f"/dev/vd{c}" not in used)
        volume.update(status="in-use", attachments=[{
            "server_id": server_id, "attachment_id": str(uuid.uuid4()),
            "attached_at": stamp(micro=True, zulu=False), "host_name": None,
            "volume_id": volume_id, "device": chosen, "id": volume_id}])
        server["volumes"].append(volume_id)
        if self._lost("attachment"):
            return fault(500, "computeFault", "Unexpected API Error. Please report this.")
        return FakeResponse.json({"volumeAttachment": self._attachment_view(ctx, server,
                                                                             volume)})

    @route("compute", "GET",
           r"/servers/(?P<server_id>[^/]+)/os-volume_attachments/(?P<volume_id>[^/]+)")
    def show_attachment(self, ctx: Ctx, server_id: str, volume_id: str) -> FakeResponse:
        server = self._server(ctx, server_id)
        if server is None:
            return not_found(f"Instance {server_id} could not be found.")
        volume = ctx.region.volumes.get(volume_id)
        if volume is None or volume_id not in server["volumes"]:
            return not_found(f"Volume {volume_id} is not attached to {server_id}")
        return FakeResponse.json({"volumeAttachment": self._attachment_view(ctx, server,
                                                                             volume)})

    @route("compute", "DELETE",
           r"/servers/(?P<server_id>[^/]+)/os-volume_attachments/(?P<volume_id>[^/]+)")
    def detach_volume(self, ctx: Ctx, server_id: str, volume_id: str) -> FakeResponse:
        server = self._server(ctx, server_id)
        if server is None:
            return not_found(f"Instance {server_id} could not be found.")
        if volume_id not in server["volumes"]:
            return not_found(f"volume_id not found: {volume_id}")
        server["volumes"].remove(volume_id)
        volume = ctx.region.volumes.get(volume_id)
        if volume is not None:
            volume.update(status="available", attachments=[])
        return FakeResponse(202)

    # -- Glance ----------------------------------------------------------------------------------

    def _observe_image(self, image: dict[str, Any]) -> None:
        image["_polls"] += 1
        if image["status"] == "queued":
            image["status"] = "saving"
        elif image["status"] == "saving":
            image.update(status="active", size=21430272, checksum="0" * 32,
                         os_hash_algo="sha512", updated_at=stamp())

    @staticmethod
    def _image_view(image: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in image.items() if not k.startswith("_")}

    @route("image", "GET", r"/v2/images")
    def list_images(self, ctx: Ctx) -> FakeResponse:
        images = sorted(ctx.region.images.values(),
                        key=lambda i: (i["created_at"], i["_seq"]), reverse=True)
        for key in ("name", "status", "visibility"):
            wanted = ctx.req.arg(key)
            if wanted is not None:
                images = [i for i in images if i.get(key) == wanted]
        paged = self._page(ctx, images, default_limit=25)
        if isinstance(paged, FakeResponse):
            if ctx.req.arg("marker"):
                return glance_fault(400, "Bad Request",
                                    f"Invalid marker. Image {ctx.req.arg('marker')} could "
                                    "not be found.")
            return paged
        page, following = paged
        for image in page:
            self._observe_image(image)
        body: dict[str, Any] = {"images": [self._image_view(i) for i in page],
                                "first": "/v2/images", "schema": "/v2/schemas/images"}
        if following is not None:
            body["next"] = f"/v2/images?{following}"
        return FakeResponse.json(body)

    @route("image", "GET", r"/v2/images/(?P<image_id>[^/]+)")
    def show_image(self, ctx: Ctx, image_id: str) -> FakeResponse:
        image = ctx.region.images.get(image_id)
        if image is None:
            return glance_fault(404, "Not Found", f"No image found with ID {image_id}")
        self._observe_image(image)
        return FakeResponse.json(self._image_view(image))

    @route("image", "DELETE", r"/v2/images/(?P<image_id>[^/]+)")
    def delete_image(self, ctx: Ctx, image_id: str) -> FakeResponse:
        image = ctx.region.images.get(image_id)
        if image is None:
            return glance_fault(404, "Not Found", f"Failed to find image {image_id} to delete")
        if image["protected"] or image["owner"] != PROJECT_ID:
            return glance_fault(403, "Forbidden", f"You are not permitted to delete image "
                                                  f"{image_id}.")
        del ctx.region.images[image_id]
        return FakeResponse(204)

    # -- Cinder ----------------------------------------------------------------------------------

    def _volume_view(self, ctx: Ctx, volume: dict[str, Any]) -> dict[str, Any]:
        link = f"{ctx.endpoint}/volumes/{volume['id']}"
        view = {k: v for k, v in volume.items() if not k.startswith("_")}
        view["links"] = [{"href": link, "rel": "self"}, {"href": link, "rel": "bookmark"}]
        return view

    @staticmethod
    def _observe_volume(volume: dict[str, Any]) -> None:
        volume["_polls"] += 1
        if volume["status"] == "creating" and volume["_polls"] >= 2:
            volume["status"] = "available"

    @route("volume", "POST", r"/volumes")
    def create_volume(self, ctx: Ctx) -> FakeResponse:
        try:
            body = ctx.req.json()["volume"]
        except (ValueError, KeyError, TypeError):
            return bad_request("Missing required element 'volume' in request body.")
        size = body.get("size")
        snapshot_id = body.get("snapshot_id")
        snapshot = None
        if snapshot_id is not None:
            snapshot = ctx.region.snapshots.get(str(snapshot_id))
            if snapshot is None:
                return not_found(f"Snapshot {snapshot_id} could not be found.")
            size = size or snapshot["size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            return bad_request(f"Invalid input received: Invalid input for field/attribute "
                               f"size. Value: {size}.")
        zone = body.get("availability_zone") or "nova"
        if zone not in ZONES:
            return bad_request(f"Invalid input received: Availability zone '{zone}' is "
                               "invalid.")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            return bad_request("Invalid input for field/attribute name.")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            return bad_request("Invalid input for field/attribute metadata.")
        volume_type = body.get("volume_type") or "__DEFAULT__"
        if volume_type not in ("__DEFAULT__", "lvmdriver-1"):
            return not_found(f"Volume type with name {volume_type} could not be found.")
        volume_id = str(uuid.uuid4())
        volume = {
            "id": volume_id, "name": name, "description": body.get("description"),
            "size": size, "status": "creating", "availability_zone": zone,
            "bootable": "false", "encrypted": False, "multiattach": False, "attachments": [],
            "volume_type": volume_type, "snapshot_id": snapshot_id, "source_volid": None,
            "metadata": {str(k): str(v) for k, v in metadata.items()},
            "created_at": stamp(micro=True, zulu=False), "updated_at": None,
            "user_id": USER_ID, "replication_status": None, "consistencygroup_id": None,
            "_seq": next(self._seq), "_polls": 0,
        }
        ctx.region.volumes[volume_id] = volume
        if self._lost("volume"):
            return fault(500, "computeFault", "The server has either erred or is incapable of "
                                              "performing the requested operation.")
        return FakeResponse.json({"volume": self._volume_view(ctx, volume)}, 202)

    def _listing(self, ctx: Ctx, items: list[dict[str, Any]], key: str,
                 observe: Callable[[dict[str, Any]], None],
                 view: Callable[[dict[str, Any]], dict[str, Any]]) -> FakeResponse:
        """One page of a Cinder collection ``key`` (``items`` filtered and
        sorted), each item observed, with a ``<key>_links`` "next" link while
        the page is full."""
        paged = self._page(ctx, items)
        if isinstance(paged, FakeResponse):
            return paged
        page, following = paged
        for item in page:
            observe(item)
        body: dict[str, Any] = {key: [view(item) for item in page]}
        if following is not None:
            body[f"{key}_links"] = [
                {"href": f"{ctx.endpoint}/{key}/detail?{following}", "rel": "next"}]
        return FakeResponse.json(body)

    def _filter_volumes(self, ctx: Ctx, volumes: list[dict[str, Any]]
                        ) -> list[dict[str, Any]] | FakeResponse:
        """The volumes a listing's filters keep (``name``, ``status``)."""
        for key in ("name", "status"):
            wanted = ctx.req.arg(key)
            if wanted is not None:
                volumes = [v for v in volumes if v.get(key) == wanted]
        return volumes

    @route("volume", "GET", r"/volumes/detail")
    def list_volumes(self, ctx: Ctx) -> FakeResponse:
        volumes = self._filter_volumes(ctx, sorted(ctx.region.volumes.values(),
                                                   key=lambda v: v["_seq"], reverse=True))
        if isinstance(volumes, FakeResponse):
            return volumes
        return self._listing(ctx, volumes, "volumes", self._observe_volume,
                             lambda v: self._volume_view(ctx, v))

    @route("volume", "GET", r"/volumes/(?P<volume_id>[^/]+)")
    def show_volume(self, ctx: Ctx, volume_id: str) -> FakeResponse:
        volume = ctx.region.volumes.get(volume_id)
        if volume is None:
            return not_found(f"Volume {volume_id} could not be found.")
        self._observe_volume(volume)
        return FakeResponse.json({"volume": self._volume_view(ctx, volume)})

    @route("volume", "DELETE", r"/volumes/(?P<volume_id>[^/]+)")
    def delete_volume(self, ctx: Ctx, volume_id: str) -> FakeResponse:
        volume = ctx.region.volumes.get(volume_id)
        if volume is None:
            return not_found(f"Volume {volume_id} could not be found.")
        dependents = [s for s in ctx.region.snapshots.values() if s["volume_id"] == volume_id]
        if volume["status"] not in ("available", "error", "error_restoring",
                                    "error_extending") or volume["attachments"]:
            return bad_request("Invalid volume: Volume status must be available or error or "
                               "error_restoring or error_extending or error_managing and must "
                               "not be migrating, attached, belong to a group, have snapshots "
                               "or be disassociated from snapshots after volume transfer.")
        if dependents:
            return bad_request(f"Invalid volume: Volume still has {len(dependents)} dependent "
                               "snapshots.")
        del ctx.region.volumes[volume_id]
        return FakeResponse(202)

    @route("volume", "POST", r"/snapshots")
    def create_snapshot(self, ctx: Ctx) -> FakeResponse:
        try:
            body = ctx.req.json()["snapshot"]
            volume_id = str(body["volume_id"])
        except (ValueError, KeyError, TypeError):
            return bad_request("Missing required element 'snapshot' in request body.")
        volume = ctx.region.volumes.get(volume_id)
        if volume is None:
            return not_found(f"Volume {volume_id} could not be found.")
        force = body.get("force") in (True, "true", "True")
        if volume["status"] != "available" and not (force and volume["status"] == "in-use"):
            return bad_request(f"Invalid volume: Volume {volume_id} status must be available, "
                               f"but current status is: {volume['status']}.")
        snapshot_id = str(uuid.uuid4())
        snapshot = {
            "id": snapshot_id, "name": body.get("name"), "description": body.get("description"),
            "status": "creating", "size": volume["size"], "volume_id": volume_id,
            "metadata": {str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
            "created_at": stamp(micro=True, zulu=False), "updated_at": None,
            "_seq": next(self._seq), "_polls": 0,
        }
        ctx.region.snapshots[snapshot_id] = snapshot
        if self._lost("snapshot"):
            return fault(500, "computeFault", "The server has either erred or is incapable of "
                                              "performing the requested operation.")
        return FakeResponse.json({"snapshot": self._snapshot_view(snapshot)}, 202)

    @staticmethod
    def _snapshot_view(snapshot: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in snapshot.items() if not k.startswith("_")}

    @staticmethod
    def _observe_snapshot(snapshot: dict[str, Any]) -> None:
        snapshot["_polls"] += 1
        if snapshot["status"] == "creating" and snapshot["_polls"] >= 2:
            snapshot["status"] = "available"

    @route("volume", "GET", r"/snapshots/detail")
    def list_snapshots(self, ctx: Ctx) -> FakeResponse:
        snaps = sorted(ctx.region.snapshots.values(), key=lambda s: s["_seq"], reverse=True)
        for key in ("volume_id", "name", "status"):
            wanted = ctx.req.arg(key)
            if wanted is not None:
                snaps = [s for s in snaps if s.get(key) == wanted]
        return self._listing(ctx, snaps, "snapshots", self._observe_snapshot,
                             self._snapshot_view)

    @route("volume", "GET", r"/snapshots/(?P<snapshot_id>[^/]+)")
    def show_snapshot(self, ctx: Ctx, snapshot_id: str) -> FakeResponse:
        snap = ctx.region.snapshots.get(snapshot_id)
        if snap is None:
            return not_found(f"Snapshot {snapshot_id} could not be found.")
        self._observe_snapshot(snap)
        return FakeResponse.json({"snapshot": self._snapshot_view(snap)})

    @route("volume", "DELETE", r"/snapshots/(?P<snapshot_id>[^/]+)")
    def delete_snapshot(self, ctx: Ctx, snapshot_id: str) -> FakeResponse:
        snap = ctx.region.snapshots.get(snapshot_id)
        if snap is None:
            return not_found(f"Snapshot {snapshot_id} could not be found.")
        if snap["status"] not in ("available", "error"):
            return bad_request("Invalid snapshot: Volume Snapshot status must be available or "
                               "error")
        del ctx.region.snapshots[snapshot_id]
        return FakeResponse(202)

    # -- Neutron -----------------------------------------------------------------------------------

    @staticmethod
    def _filtered(ctx: Ctx, items: list[dict[str, Any]], keys: tuple[str, ...]
                  ) -> list[dict[str, Any]]:
        for key in keys:
            values = ctx.req.query.get(key)
            if values:
                wanted = set(values)
                items = [i for i in items if str(i.get(key)).lower() in
                         {w.lower() for w in wanted} or str(i.get(key)) in wanted]
        return items

    @route("network", "GET", r"/v2\.0/networks")
    def list_networks(self, ctx: Ctx) -> FakeResponse:
        networks = self._filtered(ctx, list(ctx.region.networks.values()),
                                  ("id", "name", "router:external"))
        return FakeResponse.json({"networks": networks})

    @route("network", "GET", r"/v2\.0/networks/(?P<network_id>[^/]+)")
    def show_network(self, ctx: Ctx, network_id: str) -> FakeResponse:
        network = ctx.region.networks.get(network_id)
        if network is None:
            return neutron_fault(404, "NetworkNotFound",
                                 f"Network {network_id} could not be found.")
        return FakeResponse.json({"network": network})

    @route("network", "GET", r"/v2\.0/ports")
    def list_ports(self, ctx: Ctx) -> FakeResponse:
        ports = self._filtered(ctx, list(ctx.region.ports.values()),
                               ("id", "device_id", "network_id"))
        return FakeResponse.json({"ports": ports})

    def _fip_view(self, fip: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in fip.items() if not k.startswith("_")}

    @route("network", "GET", r"/v2\.0/floatingips")
    def list_floatingips(self, ctx: Ctx) -> FakeResponse:
        fips = sorted(ctx.region.floatingips.values(), key=lambda f: f["id"])
        fips = self._filtered(ctx, fips, ("floating_ip_address", "port_id", "description",
                                          "floating_network_id", "status"))
        paged = self._page(ctx, fips)
        if isinstance(paged, FakeResponse):
            return neutron_fault(400, "BadRequest", "Bad request: invalid limit or marker")
        page, following = paged
        body: dict[str, Any] = {"floatingips": [self._fip_view(f) for f in page]}
        if following is not None:
            body["floatingips_links"] = [
                {"href": f"{ctx.endpoint}/v2.0/floatingips?{following}", "rel": "next"}]
        return FakeResponse.json(body)

    @route("network", "POST", r"/v2\.0/floatingips")
    def create_floatingip(self, ctx: Ctx) -> FakeResponse:
        try:
            body = ctx.req.json()["floatingip"]
            network_id = str(body["floating_network_id"])
        except (ValueError, KeyError, TypeError):
            return neutron_fault(400, "BadRequest", "Bad floatingip request: "
                                 "floating_network_id is required")
        network = ctx.region.networks.get(network_id)
        if network is None:
            return neutron_fault(404, "NetworkNotFound",
                                 f"Network {network_id} could not be found.")
        if not network["router:external"]:
            return neutron_fault(400, "BadRequest", f"Bad floatingip request: Network "
                                 f"{network_id} is not a valid external network.")
        fip_id = str(uuid.uuid4())
        address = f"172.24.4.{next(ctx.region.publics)}"
        fip: dict[str, Any] = {
            "id": fip_id, "floating_ip_address": address, "floating_network_id": network_id,
            "router_id": None, "port_id": None, "fixed_ip_address": None, "status": "DOWN",
            "project_id": PROJECT_ID, "tenant_id": PROJECT_ID,
            "description": str(body.get("description") or ""), "tags": [],
            "created_at": stamp(), "updated_at": stamp(), "revision_number": 0,
        }
        ctx.region.floatingips[fip_id] = fip
        if body.get("port_id"):
            problem = self._associate(ctx, fip, body["port_id"], body.get("fixed_ip_address"))
            if problem is not None:
                del ctx.region.floatingips[fip_id]
                return problem
        if self._lost("floatingip"):
            return neutron_fault(500, "HTTPInternalServerError", "Request Failed: internal "
                                 "server error while processing your request.")
        return FakeResponse.json({"floatingip": self._fip_view(fip)}, 201)

    def _associate(self, ctx: Ctx, fip: dict[str, Any], port_id: str | None,
                   fixed: str | None) -> FakeResponse | None:
        if port_id is None:
            fip.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN")
            return None
        port = ctx.region.ports.get(str(port_id))
        if port is None:
            return neutron_fault(404, "PortNotFound", f"Port {port_id} could not be found.")
        addresses = [f["ip_address"] for f in port["fixed_ips"]]
        if fixed is not None and fixed not in addresses:
            return neutron_fault(400, "BadRequest", f"Bad floatingip request: Port {port_id} "
                                 f"does not have fixed ip {fixed}.")
        fip.update(port_id=port["id"], fixed_ip_address=fixed or addresses[0],
                   router_id="3c2b1a09-8f7e-4d6c-5b4a-392817060504", status="ACTIVE")
        return None

    @route("network", "PUT", r"/v2\.0/floatingips/(?P<fip_id>[^/]+)")
    def update_floatingip(self, ctx: Ctx, fip_id: str) -> FakeResponse:
        fip = ctx.region.floatingips.get(fip_id)
        if fip is None:
            return neutron_fault(404, "FloatingIPNotFound",
                                 f"Floating IP {fip_id} could not be found")
        try:
            body = ctx.req.json()["floatingip"]
        except (ValueError, KeyError, TypeError):
            return neutron_fault(400, "BadRequest", "Bad floatingip request")
        if "port_id" in body:
            problem = self._associate(ctx, fip, body["port_id"], body.get("fixed_ip_address"))
            if problem is not None:
                return problem
        if "description" in body:
            fip["description"] = str(body["description"])
        fip["revision_number"] += 1
        fip["updated_at"] = stamp()
        return FakeResponse.json({"floatingip": self._fip_view(fip)})

    @route("network", "DELETE", r"/v2\.0/floatingips/(?P<fip_id>[^/]+)")
    def delete_floatingip(self, ctx: Ctx, fip_id: str) -> FakeResponse:
        if ctx.region.floatingips.pop(fip_id, None) is None:
            return neutron_fault(404, "FloatingIPNotFound",
                                 f"Floating IP {fip_id} could not be found")
        return FakeResponse(204)

    del route


# -- one server per test process -----------------------------------------------------------

_running: OpenStackFake | None = None


def serve(request: pytest.FixtureRequest) -> OpenStackFake:
    """The process's fixture server, started once (``.base_url`` is set)."""
    global _running
    if _running is None:
        fake = OpenStackFake()
        serving: AbstractContextManager[str] = fake.api.serving()
        fake.base_url = serving.__enter__()

        def stop() -> None:
            serving.__exit__(None, None, None)

        request.config.add_cleanup(stop)
        _running = fake
    return _running


def make_driver(request: pytest.FixtureRequest, requests: list[object] | None = None,
                **kwargs: Any) -> OpenStackNodeDriver:
    """A driver whose Keystone is the fixture server (``kwargs`` override)."""
    fake = serve(request)
    options: dict[str, Any] = {
        "auth_url": f"{fake.base_url}/identity/v3", "project": PROJECT,
        "region": "RegionOne", "page_size": 2,
    }
    if requests is not None:
        options["hooks"] = Hooks(on_request=[requests.append])
    options.update(kwargs)
    key = options.pop("key", USERNAME)
    secret = options.pop("secret", PASSWORD)
    return OpenStackNodeDriver(key, secret, **options)


def pick_image(images: list[NodeImage]) -> NodeImage:
    """The CirrOS image (the list also holds snapshots other tests made)."""
    return next(i for i in images if i.name.startswith("cirros"))


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeTarget:
    """The OpenStack driver against the fixture server, for the compute contract."""
    sent: list[object] = []
    return ComputeTarget(driver=make_driver(request, sent), requests=sent, page_size=2,
                         pick_image=pick_image, wait_period=0.01)
