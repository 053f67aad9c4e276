"""Google Compute Engine (API v1): instances, disks, snapshots, images, zones,
machine types, addresses and firewalls.

``GCENodeDriver(user_id, key, datacenter=, project=)`` takes Apache Libcloud's
arguments in its order: ``user_id`` is the service account's e-mail and
``key`` its PEM private key or the path of its JSON key file (or give
``credentials_file=``/``credentials_info=``). With no credentials at all (or
``auth_type="GCE"``), the driver runs *inside the cloud*: tokens, the project
and the default zone come from the instance's metadata server
(:mod:`overcast.auth.google_metadata`; ``metadata_endpoint=`` or
``$GCE_METADATA_HOST`` name another). Nothing is fetched before the first call.

Facts of the API this driver is built on (``{base}`` is
``https://compute.googleapis.com/compute/v1/projects/{project}``):

* Every mutation (``instances.insert``, ``delete``, ``reset``, ``start``,
  ``stop``, ``setTags``, ``setMetadata``, ``setLabels``, ``attachDisk``,
  ``detachDisk``, disks, snapshots, addresses, firewalls) answers an
  ``Operation`` (``PENDING``, ``RUNNING``, ``DONE``) of a zone, a region or
  the project (global). The driver polls ``GET .../operations/{name}`` with
  the runtime's ``Sleep`` (``poll_interval`` apart, ``wait_timeout`` seconds
  at most) until it is ``DONE``; ``DONE`` with ``error.errors[]`` raises the
  error its first code maps to (``RESOURCE_ALREADY_EXISTS``: AlreadyExists,
  ``RESOURCE_NOT_FOUND``: the resource's NotFound, ``QUOTA_EXCEEDED``:
  :class:`QuotaExceeded`, others ProviderError with the codes).
* Inserts carry ``requestId``, a UUID: Compute Engine answers a repeated
  insert with the same ``requestId`` with the first one's operation, so an
  insert is safe to resend and the runtime retries one whose answer was lost.
* Lists page with ``maxResults``/``pageToken`` (``nextPageToken``) through the
  shared pager; ``aggregatedList`` (``{base}/aggregated/...``, items keyed by
  ``zones/<zone>`` or ``regions/<region>``) lists every zone, which is what
  ``list_nodes``, ``list_volumes`` and ``list_sizes`` ask for when neither
  the call nor the driver names a zone (as Libcloud).
* Errors are Google's JSON errors (:mod:`overcast.providers.google`).

How the model maps (Libcloud's meanings):

* ``Node.id``, ``StorageVolume.id``, ``NodeImage.id``, ``NodeSize.id``,
  ``NodeLocation.id`` and ``VolumeSnapshot.id`` are Compute Engine's numeric
  ids; ``name`` the resource names. The API takes either where a path names a
  resource, so ``get_node`` takes an id or a name.
* Node states: ``PROVISIONING``, ``STAGING``, ``STOPPING``, ``SUSPENDING``
  pending; ``RUNNING`` running; ``TERMINATED`` (Compute Engine's word for a
  stopped instance) stopped; ``SUSPENDED`` suspended. ``node.extra["zone"]``
  (and ``["location"]``) is the zone's name (Libcloud puts a zone object there).
* ``NodeSize.price`` is US dollars per hour from the per-vCPU and per-GiB
  rates of each machine family and region (:mod:`overcast.pricing`'s
  ``gce_instances`` snapshot, read only when sizes are listed):
  ``n2d-`` types at N2D rates (Libcloud prices them as N2), shared-core E2
  types for their share of a vCPU (``e2-micro`` is 0.25, not 2). Unknown
  families and regions are ``None``; ``extra["price_date"]`` is the
  snapshot's date.
* ``ex_metadata`` is a dict (or ``{"items": [{"key", "value"}]}``);
  ``ssh-keys`` lines (``user:ssh-ed25519 AAAA...``) are how keys reach an
  instance. ``create_node(auth=NodeAuthSSHKey(...))`` adds one for
  ``ex_ssh_username`` (default ``overcast``).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar
from urllib.parse import quote

from overcast.auth.google_metadata import MetadataCredentials
from overcast.auth.google_oauth import GoogleCredentials
from overcast.auth.google_oauth import application_default_file
from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import send_with_bearer
from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeSpec
from overcast.compute.base import PowerChange
from overcast.compute.models import Node
from overcast.compute.models import NodeAuth
from overcast.compute.models import NodeAuthSSHKey
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.models import NodeState
from overcast.compute.models import StorageVolume
from overcast.compute.models import StorageVolumeState
from overcast.compute.models import VolumeSnapshot
from overcast.compute.models import VolumeSnapshotState
from overcast.compute.models import bound_driver
from overcast.compute.values import moment
from overcast.compute.values import whole
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import LocationNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import SizeNotFound
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from overcast.pricing import price_table
from overcast.providers import google
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import HttpApi
from overcast.runtime.api import Outcome
from overcast.runtime.api import When
from overcast.runtime.effects import Call
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import expand
from overcast.runtime.ops import find_first
from overcast.runtime.ops import poll
from overcast.runtime.ops import pure
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.options import check_polling
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["AddressNotFound", "FirewallNotFound", "GCEAddress", "GCEFailedNode",
           "GCEFirewall", "GCENodeDriver", "QuotaExceeded", "size_price"]

T = TypeVar("T")

DEFAULT_ENDPOINT: Final = "https://compute.googleapis.com/compute/v1"
#: Apache Libcloud's default scopes for Compute Engine.
DEFAULT_SCOPES: Final = (
    "https://www.googleapis.com/auth/compute",
    "https://www.googleapis.com/auth/devstorage.full_control",
    "https://www.googleapis.com/auth/ndev.clouddns.readwrite",
)
#: The largest ``maxResults`` Compute Engine accepts.
MAX_PAGE_SIZE: Final = 500
#: Public image projects searched for images (a short form of Libcloud's list).
IMAGE_PROJECTS: Final = (
    "centos-cloud", "cos-cloud", "debian-cloud", "fedora-coreos-cloud", "rhel-cloud",
    "rocky-linux-cloud", "suse-cloud", "ubuntu-os-cloud", "windows-cloud",
)
#: Short names of service-account scopes Libcloud accepts.
SCOPE_ALIASES: Final = {
    "bigquery": "bigquery", "cloud-platform": "cloud-platform", "compute-ro": "compute.readonly",
    "compute-rw": "compute", "datastore": "datastore", "logging-write": "logging.write",
    "monitoring": "monitoring", "monitoring-write": "monitoring.write",
    "service-control": "servicecontrol", "service-management": "service.management",
    "sql": "sqlservice", "sql-admin": "sqlservice.admin", "storage-full": "devstorage.full_control",
    "storage-ro": "devstorage.read_only", "storage-rw": "devstorage.read_write",
    "taskqueue": "taskqueue", "useraccounts-ro": "cloud.useraccounts.readonly",
    "useraccounts-rw": "cloud.useraccounts", "userinfo-email": "userinfo.email",
}
NODE_STATES: Final = {
    "PROVISIONING": NodeState.PENDING, "STAGING": NodeState.PENDING,
    "RUNNING": NodeState.RUNNING, "STOPPING": NodeState.PENDING,
    "SUSPENDING": NodeState.PENDING, "SUSPENDED": NodeState.SUSPENDED,
    "TERMINATED": NodeState.STOPPED, "REPAIRING": NodeState.PENDING,
}
DISK_STATES: Final = {
    "CREATING": StorageVolumeState.CREATING, "RESTORING": StorageVolumeState.CREATING,
    "FAILED": StorageVolumeState.ERROR, "READY": StorageVolumeState.AVAILABLE,
    "DELETING": StorageVolumeState.DELETING,
}
SNAPSHOT_STATES: Final = {
    "CREATING": VolumeSnapshotState.CREATING, "UPLOADING": VolumeSnapshotState.CREATING,
    "READY": VolumeSnapshotState.AVAILABLE, "FAILED": VolumeSnapshotState.ERROR,
    "DELETING": VolumeSnapshotState.DELETING,
}
#: Compute Engine's resource names (RFC 1035 labels of at most 63 characters).
_NAME: Final = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")
_LABEL_KEY: Final = re.compile(r"[a-z][-_a-z0-9]{0,62}\Z")
_LABEL_VALUE: Final = re.compile(r"[-_a-z0-9]{0,63}\Z")
#: Shared-core E2 types: the share of a vCPU each is billed for.
SHARED_CORE: Final = {"e2-micro": 0.25, "e2-small": 0.5, "e2-medium": 1.0}
#: Types billed per instance, at their family's ``cpu`` rate (as Libcloud's table has them).
PER_INSTANCE: Final = {"f1-micro": "f1", "g1-small": "g1"}


class QuotaExceeded(ProviderError):
    """Compute Engine refused the request for a quota (``QUOTA_EXCEEDED``)."""


class AddressNotFound(NotFound):
    """No static address has that name in that region."""

    kind = "address"


class FirewallNotFound(NotFound):
    """No firewall rule has that name."""

    kind = "firewall"


# -- prices ------------------------------------------------------------------------------


def _price_snapshot() -> Mapping[str, Any]:
    """The ``gce_instances`` rates (:mod:`overcast.pricing`) and their date
    (read once, in a worker thread by the driver)."""
    table, date = price_table("compute", "gce_instances")
    return {"prices": table, "price_date": date}


def size_price(name: str, vcpus: float, memory_mib: float, region: str | None,
               snapshot: Mapping[str, Any] | None = None) -> float | None:
    """The hourly US dollar price of machine type ``name`` with ``vcpus`` and
    ``memory_mib`` in ``region``, from its family's on-demand per-vCPU and
    per-GiB rates (``snapshot["prices"]``, Libcloud's ``gce_instances``
    table; default: :mod:`overcast.pricing`'s). The family is the name's
    prefix before the first ``-`` (``n2d-standard-2`` is N2D, not N2); a
    shared-core E2 type counts its share of a vCPU (:data:`SHARED_CORE`);
    ``f1-micro`` and ``g1-small`` have a price per instance. None when the
    family, region or type has no price (custom types among them)."""
    table = (snapshot if snapshot is not None else _price_snapshot())["prices"]
    if region is None or "custom" in name:  # custom types carry a premium not in the table
        return None

    def rate(family: str, resource: str) -> float | None:
        entry = (((table.get(family) or {}).get(resource) or {}).get("on_demand") or {}).get(
            region)
        value = entry.get("price") if isinstance(entry, Mapping) else None
        return float(value) if isinstance(value, int | float) and value > 0 else None

    if name in PER_INSTANCE:
        return rate(PER_INSTANCE[name], "cpu")
    family = name.split("-", 1)[0]
    cpu, ram = rate(family, "cpu"), rate(family, "ram")
    if cpu is None or ram is None:
        return None
    share = SHARED_CORE.get(name)
    cpus = float(share) if share is not None else float(vcpus)
    price = cpus * cpu + memory_mib / 1024 * ram
    return round(price, 6) if price > 0 else None


# -- models of the ex_ operations ----------------------------------------------------------


class GCEAddress:
    """A static IP address (Apache Libcloud's ``GCEAddress``): ``name``,
    ``address``, ``region`` (a region name, or ``"global"``), ``extra``
    (``status``, ``selfLink``, ``users``, ``addressType``, ``description``)."""

    __slots__ = ("address", "driver", "extra", "id", "name", "region")

    def __init__(self, id: str, name: str, address: str, region: str,
                 driver: GCENodeDriver | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.id = id
        self.name = name
        self.address = address
        self.region = region
        self.driver = driver
        self.extra: dict[str, Any] = extra or {}

    def destroy(self) -> bool:
        """Release this address."""
        return bound_driver(self.driver, "address").ex_destroy_address(self)

    def __repr__(self) -> str:
        return f"<GCEAddress id={self.id} name={self.name} address={self.address} " \
               f"region={self.region}>"


class GCEFirewall:
    """A firewall rule (Apache Libcloud's ``GCEFirewall``): ``allowed`` and
    ``denied`` are lists of ``{"IPProtocol", "ports"}``; ``network`` the
    network's name."""

    __slots__ = ("allowed", "denied", "direction", "driver", "extra", "id", "name", "network",
                 "priority", "source_ranges", "source_tags", "target_ranges", "target_tags")

    def __init__(self, id: str, name: str, allowed: list[dict[str, Any]],
                 denied: list[dict[str, Any]], direction: str, network: str, priority: int,
                 source_ranges: list[str], source_tags: list[str], target_ranges: list[str],
                 target_tags: list[str], driver: GCENodeDriver | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.id = id
        self.name = name
        self.allowed = allowed
        self.denied = denied
        self.direction = direction
        self.network = network
        self.priority = priority
        self.source_ranges = source_ranges
        self.source_tags = source_tags
        self.target_ranges = target_ranges
        self.target_tags = target_tags
        self.driver = driver
        self.extra: dict[str, Any] = extra or {}

    def destroy(self) -> bool:
        """Delete this firewall rule."""
        return bound_driver(self.driver, "firewall").ex_destroy_firewall(self)

    def __repr__(self) -> str:
        return f"<GCEFirewall id={self.id} name={self.name} network={self.network}>"


class GCEFailedNode:
    """A node of :meth:`GCENodeDriver.ex_create_multiple_nodes` that was not
    made (Apache Libcloud's ``GCEFailedNode``): its ``name``, the ``error``
    raised, and that error's ``code``."""

    __slots__ = ("code", "error", "name")

    def __init__(self, name: str, error: Exception, code: str | None) -> None:
        self.name = name
        self.error = error
        self.code = code

    def __repr__(self) -> str:
        return f"<GCEFailedNode name={self.name} code={self.code}>"


# -- helpers ---------------------------------------------------------------------------------


def _last(link: Any) -> str | None:
    """The last segment of a resource URL (``.../zones/us-central1-a`` -> the zone)."""
    return str(link).rstrip("/").rsplit("/", 1)[-1] if link else None


def _region_of(zone: str) -> str:
    """``us-central1-a`` -> ``us-central1``."""
    return zone.rsplit("-", 1)[0]


class GCENodeDriver(HttpApi, NodeDriver):
    """Instances, disks, snapshots, images, zones, machine types, addresses and
    firewalls of Google Compute Engine (API v1).

    Positional parameters are Apache Libcloud's: ``user_id`` (the service
    account's e-mail), ``key`` (its PEM private key, or its JSON key file's
    path), ``datacenter`` (the default zone), ``project``, ``auth_type``
    (``"SA"`` or ``"GCE"``; Libcloud's installed-application flow is not
    served), ``scopes`` (default: Libcloud's), ``credential_file`` (Libcloud's
    token cache file: unused, tokens stay in memory). Keywords:
    ``credentials_file`` / ``credentials_info`` (a JSON key file or its
    content), ``metadata_endpoint`` (the metadata server, when no credentials
    are given), ``endpoint``, ``token_uri``, ``page_size`` (``maxResults``,
    1..500), ``poll_interval`` and ``wait_timeout`` (operations).
    """

    name: ClassVar[str] = "gce"
    label: ClassVar[str] = "Compute Engine"
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(AlreadyExists, code=("alreadyExists", "RESOURCE_ALREADY_EXISTS")),
        When(NotFound, code=("notFound", "RESOURCE_NOT_FOUND")),
        When(QuotaExceeded, code=("QUOTA_EXCEEDED", "quotaExceeded")),
        When(InvalidInput, status=400),
        When(InvalidInput, code=("INVALID_FIELD_VALUE", "INVALID_USAGE", "invalid")),
    )
    max_name_length: ClassVar[int] = 63
    auth_kinds: ClassVar[tuple[type[NodeAuthSSHKey]]] = (NodeAuthSSHKey,)
    auth_hint: ClassVar[str] = ": Compute Engine installs SSH keys (from ssh-keys metadata)"

    def __init__(self, user_id: str | None = None, key: str | Secret | None = None,
                 datacenter: str | None = None, project: str | None = None,
                 auth_type: str | None = None, scopes: Sequence[str] | None = None,
                 credential_file: str | None = None, *,
                 credentials_file: str | os.PathLike[str] | None = None,
                 credentials_info: Mapping[str, Any] | None = None,
                 metadata_endpoint: str | None = None, endpoint: str = DEFAULT_ENDPOINT,
                 token_uri: str | None = None, page_size: int = MAX_PAGE_SIZE,
                 poll_interval: float = 2.0, wait_timeout: float = 180.0,
                 **options: Any) -> None:
        super().__init__(**options)
        if auth_type not in (None, "SA", "GCE"):
            raise InvalidInput(f"auth_type must be 'SA' (a service account) or 'GCE' (the "
                               f"metadata server): {auth_type!r}", driver=self)
        for what, value in (("project", project), ("datacenter", datacenter)):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidInput(f"{what} must be a non-empty string: {value!r}", driver=self)
        self.poll_interval, self.wait_timeout = check_polling(poll_interval, wait_timeout,
                                                              driver=self)
        if scopes is not None and (isinstance(scopes, str) or not all(
                isinstance(s, str) and s for s in scopes)):
            raise InvalidInput("scopes must be a list of scope URLs", driver=self)
        self.project = project
        self.zone = datacenter
        self.endpoint = check_endpoint(endpoint, driver=self)
        self.page_size = check_page_size(page_size, maximum=MAX_PAGE_SIZE, driver=self)
        self.scopes = tuple(scopes) if scopes is not None else DEFAULT_SCOPES
        self.credential_file = credential_file
        inside = auth_type == "GCE" or (auth_type is None and not user_id and not key
                                        and credentials_file is None
                                        and credentials_info is None)
        if inside and auth_type is None and application_default_file() is not None:
            # As Google's libraries: GOOGLE_APPLICATION_CREDENTIALS, then gcloud's
            # application-default file, before the metadata server.
            inside = False
            self.project = project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        self._metadata: MetadataCredentials | None = None
        self._google: GoogleCredentials | None = None
        if inside:
            self._metadata = MetadataCredentials(endpoint=metadata_endpoint, driver=self,
                                                 options=options)
            self._adopt(self._metadata.server)  # closed with the driver, sync or async
            self._tokens = self._metadata.tokens
        else:
            if project is None:
                raise InvalidInput("project is required with service-account credentials",
                                   driver=self)
            self._google = GoogleCredentials(
                key=user_id, secret=key, credentials_file=credentials_file,
                credentials_info=credentials_info, token_uri=token_uri,
                scope=" ".join(self.scopes), driver=self,
                missing="give user_id (the service account's e-mail) and key (its private "
                        "key or JSON key file), credentials_file or credentials_info; or "
                        "nothing, to use the metadata server")
            self._tokens = self._google.tokens

    def _repr_fields(self) -> dict[str, object]:
        return {"project": self.project, "zone": self.zone}

    def _secrets(self) -> tuple[Secret, ...]:
        return self._google.secrets() if self._google is not None else ()

    # -- auth, requests, errors ---------------------------------------------------------------

    def _token(self) -> Op[AccessToken]:
        if self._metadata is not None:
            return (yield from self._metadata.token())
        assert self._google is not None
        return (yield from self._google.token())

    def _transmit(self, request: Request) -> Op[Response]:
        """Send with the access token; a 401 drops it and sends once more with a new one."""
        return (yield from send_with_bearer(self._token, self._tokens, request))

    def _fault(self, resp: Response) -> Fault:
        return google.fault(resp, self.request_id_headers)

    def _project(self) -> Op[str]:
        """The project: the driver's, else the instance's (metadata server)."""
        if self.project is not None:
            return self.project
        assert self._metadata is not None
        project = yield from self._metadata.project()
        self.project = project
        return project

    def _default_zone(self) -> Op[str | None]:
        """The driver's zone (``datacenter``), else the instance's when inside
        the cloud, else None (every zone)."""
        if self.zone is not None or self._metadata is None:
            return self.zone
        zone = yield from self._metadata.zone()
        self.zone = zone
        return zone

    def _zone_of(self, location: object, what: str = "location") -> Op[str]:
        """A zone name from a NodeLocation, a zone name, or the default zone."""
        if isinstance(location, NodeLocation):
            return location.name
        if isinstance(location, str) and location:
            return location
        if location is not None:
            raise InvalidInput(f"{what} must be a NodeLocation or a zone name: {location!r}",
                               driver=self)
        zone = yield from self._default_zone()
        if zone is None:
            raise InvalidInput(f"give a {what} (a zone) or the driver's datacenter", driver=self)
        return zone

    def _seg(self, value: object, what: str) -> str:
        """A name or id for a URL path: a non-empty string or number, quoted."""
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise InvalidInput(f"{what} must be a non-empty name or id: {value!r}", driver=self)
        return quote(str(value), safe="")

    def _path(self, *segments: str) -> Op[str]:
        project = yield from self._project()
        return "/".join(("", "projects", quote(project, safe=""), *segments))

    def _check_name(self, name: object, what: str) -> str:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput(f"a {what} name is 1-63 lowercase letters, digits and '-', "
                               f"starting with a letter: {name!r}", driver=self)
        return name

    # -- operations (the long-running kind) ------------------------------------------------

    def _operation_path(self, op: Mapping[str, Any]) -> Op[str]:
        name = self._seg(op.get("name"), "operation")
        if op.get("zone"):
            return (yield from self._path("zones", self._seg(_last(op["zone"]), "zone"),
                                          "operations", name))
        if op.get("region"):
            return (yield from self._path("regions", self._seg(_last(op["region"]), "region"),
                                          "operations", name))
        return (yield from self._path("global", "operations", name))

    def _operation_error(self, op: Mapping[str, Any], outcome: Outcome) -> Exception:
        errors = [e for e in ((op.get("error") or {}).get("errors") or [])
                  if isinstance(e, Mapping)]
        codes = [str(e["code"]) for e in errors if e.get("code")]
        message = "; ".join(str(e.get("message") or e.get("code")) for e in errors) \
            or str(op.get("httpErrorMessage") or "the operation failed")
        status = whole(op.get("httpErrorStatusCode")) or 400
        fault = Fault(status, codes[0] if codes else None, message, None, frozenset(codes))
        return self.errors.error(
            fault, outcome, label=self.label, method=str(op.get("operationType") or "operation"),
            url=str(op.get("targetLink") or op.get("selfLink") or ""), headers={}, driver=self)

    def _wait(self, op: Mapping[str, Any],
              outcome: Outcome | None = None) -> Op[dict[str, Any]]:
        """Poll an Operation until ``DONE`` (pausing :attr:`poll_interval`,
        :attr:`wait_timeout` in all); its mapped error if it ended with
        ``error.errors[]``."""
        def look() -> Op[dict[str, Any]]:  # an Operation keeps its name and scope
            path = yield from self._operation_path(op)
            return dict((yield from self._json("GET", path)))

        def done(current: dict[str, Any]) -> bool:
            if current.get("status") != "DONE":
                return False
            if (current.get("error") or {}).get("errors"):
                raise self._operation_error(current, outcome or Outcome())
            return True

        return (yield from poll(
            look, done, current=dict(op), interval=self.poll_interval, timeout=self.wait_timeout,
            timed_out=lambda current: OperationTimeout(
                f"Compute Engine operation {current.get('name')} "
                f"({current.get('operationType')} of {_last(current.get('targetLink'))}) was "
                f"not DONE within {self.wait_timeout:g}s (status {current.get('status')})",
                driver=self)))

    def _mutate(self, method: str, path: str, *, body: Any = None, insert: bool = False,
                what: str = "", missing: type[NotFound] | None = None,
                params: Sequence[tuple[str, str]] = ()) -> Op[dict[str, Any]]:
        """Send a mutation and wait for its Operation. An insert carries a new
        ``requestId`` and may be resent (Compute Engine dedupes it)."""
        query = list(params)
        if insert:
            query.append(("requestId", str(uuid.uuid4())))
        op = yield from self._json(method, path, params=query, what=what, missing=missing,
                                   exists=None, idempotent=True if insert else None,
                                   **({} if body is None else {"json": body}))
        return (yield from self._wait(op, Outcome(what, missing)))

    # -- listings ----------------------------------------------------------------------------

    def _pages(self, path_op: Callable[[], Op[str]], key: str, convert: Callable[[Any], T],
               params: Sequence[tuple[str, str]] = ()) -> Iter[T]:
        """Every item under ``key`` of a list, page by page (``pageToken``)."""
        state: dict[str, str] = {}

        def fetch(cursor: Cursor | None) -> Op[Page[T]]:
            if "path" not in state:
                state["path"] = yield from path_op()
            query = [*params, ("maxResults", str(self.page_size))]
            if cursor is not None:
                query.append(("pageToken", str(cursor)))
            data = yield from self._json("GET", state["path"], params=query)
            return google.token_page(data, key, convert)

        return paginate(fetch, what=f"list {key}", driver=self)

    def _aggregated(self, kind: str, key: str, convert: Callable[[Any], T],
                    params: Sequence[tuple[str, str]] = ()) -> Iter[T]:
        """Every item of ``aggregated/{kind}`` (all zones or regions), page by page."""

        def fetch(cursor: Cursor | None) -> Op[Page[T]]:
            path = yield from self._path("aggregated", kind)
            query = [*params, ("maxResults", str(self.page_size))]
            if cursor is not None:
                query.append(("pageToken", str(cursor)))
            data = (yield from self._json("GET", path, params=query)) or {}
            scoped = data.get("items") or {}
            items = [convert(item) for scope in sorted(scoped)
                     for item in (scoped[scope] or {}).get(key) or []]
            following = data.get("nextPageToken")
            return Page.token(items, str(following) if following else None)

        return paginate(fetch, what=f"aggregated list of {kind}", driver=self)

    def _zoned(self, zone: str | None, kind: str, convert: Callable[[Any], T],
               params: Sequence[tuple[str, str]] = ()) -> Iter[T]:
        """A zone's ``kind`` (``instances``, ``disks``, ...), or every zone's."""
        if zone is None:
            return self._aggregated(kind, kind, convert, params)
        return self._pages(lambda: self._path("zones", self._seg(zone, "zone"), kind),
                           "items", convert, params)

    # -- zones, machine types, images ------------------------------------------------------

    def _to_location(self, data: Mapping[str, Any]) -> NodeLocation:
        return NodeLocation(
            id=str(data.get("id") or data["name"]), name=str(data["name"]), country=None,
            driver=self, extra={"status": data.get("status"), "region": _last(data.get("region")),
                                "selfLink": data.get("selfLink"),
                                "description": data.get("description"),
                                "deprecated": data.get("deprecated")})

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """Iterate over the project's zones (``GET {base}/zones``)."""
        yield from self._pages(lambda: self._path("zones"), "items", self._to_location)

    @operation
    def ex_list_zones(self) -> Op[list[NodeLocation]]:
        """Apache Libcloud's name for :meth:`list_locations` (zones)."""
        return (yield from collect(self.iterate_locations.op()))

    @operation
    def ex_get_zone(self, name: str) -> Op[NodeLocation]:
        """A zone by name (``GET {base}/zones/{zone}``); LocationNotFound if none."""
        path = yield from self._path("zones", self._seg(name, "zone"))
        data = yield from self._json("GET", path, what=str(name), missing=LocationNotFound)
        return self._to_location(data)

    def _to_size(self, data: Mapping[str, Any], prices: Mapping[str, Any]) -> NodeSize:
        zone = _last(data.get("zone"))
        vcpus = whole(data.get("guestCpus"))
        memory = whole(data.get("memoryMb"))
        return NodeSize(
            id=str(data.get("id") or data["name"]), name=str(data["name"]), ram=memory,
            disk=whole(data.get("imageSpaceGb")), bandwidth=0, driver=self,
            price=size_price(str(data["name"]), vcpus, memory,
                             _region_of(zone) if zone else None, prices),
            extra={"guestCpus": vcpus, "zone": zone, "selfLink": data.get("selfLink"),
                   "description": data.get("description"),
                   "isSharedCpu": data.get("isSharedCpu"),
                   "maximumPersistentDisks": data.get("maximumPersistentDisks"),
                   "creationTimestamp": data.get("creationTimestamp"),
                   "price_date": prices.get("price_date")})

    @iterator
    def iterate_sizes(self, location: NodeLocation | str | None = None) -> Iter[NodeSize]:
        """Iterate over the machine types of ``location`` (a zone; default: the
        driver's zone; every zone's, aggregated, when there is none), priced
        from the bundled snapshot (``extra["price_date"]``)."""
        zone = None if location is None else (yield from self._zone_of(location))
        if zone is None:
            zone = yield from self._default_zone()
        prices: Mapping[str, Any] = yield Call(_price_snapshot)
        yield from self._zoned(zone, "machineTypes", lambda d: self._to_size(d, prices))

    list_sizes = listing(iterate_sizes, "List the machine types of a zone (every zone's when "
                                        "neither the call nor the driver names one).")

    @operation
    def ex_get_size(self, name: str, zone: NodeLocation | str | None = None) -> Op[NodeSize]:
        """A machine type by name in ``zone`` (``GET .../machineTypes/{name}``)."""
        zone_name = yield from self._zone_of(zone, "zone")
        path = yield from self._path("zones", self._seg(zone_name, "zone"), "machineTypes",
                                     self._seg(name, "machine type"))
        data = yield from self._json("GET", path, what=str(name), missing=SizeNotFound)
        prices: Mapping[str, Any] = yield Call(_price_snapshot)
        return self._to_size(data, prices)

    def _to_image(self, data: Mapping[str, Any]) -> NodeImage:
        link = str(data.get("selfLink") or "")
        project = link.split("/projects/", 1)[1].split("/", 1)[0] if "/projects/" in link \
            else None
        return NodeImage(
            id=str(data.get("id") or data["name"]), name=str(data["name"]), driver=self,
            extra={"selfLink": link or None, "project": project, "family": data.get("family"),
                   "description": data.get("description"), "status": data.get("status"),
                   "deprecated": data.get("deprecated"), "diskSizeGb": data.get("diskSizeGb"),
                   "labels": dict(data.get("labels") or {}),
                   "licenses": list(data.get("licenses") or []),
                   "creationTimestamp": data.get("creationTimestamp"),
                   "guestOsFeatures": data.get("guestOsFeatures")})

    def _images_of(self, project: str | None, include_deprecated: bool) -> Iter[NodeImage]:
        def path() -> Op[str]:
            if project is None:
                return (yield from self._path("global", "images"))
            return f"/projects/{quote(project, safe='')}/global/images"

        return expand(self._pages(path, "items", self._to_image),
                      lambda image: [image] if include_deprecated
                      or not (image.extra["deprecated"] or {}).get("state") else [])

    @iterator
    def iterate_images(self, location: NodeLocation | str | None = None, *,
                       ex_project: str | Sequence[str] | None = None,
                       ex_include_deprecated: bool = False) -> Iter[NodeImage]:
        """Iterate over the images of the project and of the public image
        projects (:data:`IMAGE_PROJECTS`); with ``ex_project``, of that
        project (or those) only. Deprecated images are left out unless
        ``ex_include_deprecated``. Images are global: a NodeLocation is
        ignored; a string in its place is Libcloud's first positional
        parameter, ``ex_project``."""
        if isinstance(location, str) and ex_project is None:
            ex_project = location
        if ex_project is None:
            projects: list[str | None] = [None, *IMAGE_PROJECTS]
        else:
            projects = [ex_project] if isinstance(ex_project, str) else list(ex_project)
        for project in projects:
            yield from self._images_of(project, ex_include_deprecated)

    list_images = listing(iterate_images, "List the project's and the public projects' images.")

    @operation
    def ex_list_project_images(self, ex_project: str | None = None,
                               ex_include_deprecated: bool = False) -> Op[list[NodeImage]]:
        """The images of one project (default: the driver's)."""
        return (yield from collect(self._images_of(ex_project, ex_include_deprecated)))

    def _image_at(self, project: str | None, *segments: str) -> Op[NodeImage | None]:
        if project is None:
            path = yield from self._path("global", "images", *segments)
        else:
            path = "/".join(("", "projects", quote(project, safe=""), "global", "images",
                             *segments))
        try:
            data = yield from self._json("GET", path)
        except NotFound:
            return None
        return self._to_image(data)

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """An image by id or name: ``project/name``, an image URL, or a name or
        id looked up in the project, then in the public image projects;
        ImageNotFound if none has it."""
        ref = str(image_id) if isinstance(image_id, str | int) else ""
        if not ref.strip():
            raise InvalidInput(f"image_id must be a non-empty name or id: {image_id!r}",
                               driver=self)
        if "/projects/" in ref or ref.startswith("projects/"):
            tail = ref.split("projects/", 1)[1].split("/")
            candidates: list[tuple[str | None, str]] = [(tail[0], tail[-1])]
        elif "/" in ref:
            owner, _, image_name = ref.partition("/")
            candidates = [(owner, image_name)]
        else:
            candidates = [(None, ref), *((p, ref) for p in IMAGE_PROJECTS)]
        for project, image_name in candidates:
            found = yield from self._image_at(project, self._seg(image_name, "image"))
            if found is not None:
                return found
        raise ImageNotFound(ref, driver=self)

    @operation
    def ex_get_image(self, partial_name: str, ex_project_list: Sequence[str] | None = None,
                     ex_standard_projects: bool = True) -> Op[NodeImage]:
        """An image by name (or a family's newest image when ``partial_name``
        names a family), searched in ``ex_project_list`` (default: the
        project), then the public projects when ``ex_standard_projects``."""
        projects: list[str | None] = list(ex_project_list) if ex_project_list else [None]
        if ex_standard_projects:
            projects += [p for p in IMAGE_PROJECTS if p not in projects]
        name = self._seg(partial_name, "image")
        for project in projects:
            found = yield from self._image_at(project, name)
            if found is None:
                found = yield from self._image_at(project, "family", name)
            if found is not None:
                return found
        raise ImageNotFound(str(partial_name), driver=self)

    @operation
    def ex_get_image_from_family(self, image_family: str,
                                 ex_project_list: Sequence[str] | None = None,
                                 ex_standard_projects: bool = True) -> Op[NodeImage]:
        """The newest image of ``image_family``
        (``GET .../global/images/family/{family}``), searched in
        ``ex_project_list`` (default: the project), then in the public image
        projects when ``ex_standard_projects``; ImageNotFound if none has it."""
        projects: list[str | None] = list(ex_project_list) if ex_project_list else [None]
        if ex_standard_projects:
            projects += [p for p in IMAGE_PROJECTS if p not in projects]
        family = self._seg(image_family, "image family")
        for project in projects:
            found = yield from self._image_at(project, "family", family)
            if found is not None:
                return found
        raise ImageNotFound(str(image_family), f"no image of family {image_family!r} in "
                            f"{', '.join(p or 'the project' for p in projects)}", driver=self)

    @operation
    def delete_image(self, node_image: NodeImage) -> Op[bool]:
        """Delete one of the project's images (``DELETE .../global/images/{name}``)."""
        image = self._expect(node_image, NodeImage, "node_image")
        path = yield from self._path("global", "images", self._seg(image.name, "image"))
        yield from self._mutate("DELETE", path, what=image.name, missing=ImageNotFound)
        return True

    @operation
    def ex_delete_image(self, image: NodeImage) -> Op[bool]:
        """Apache Libcloud's GCE name for :meth:`delete_image`."""
        return (yield from self.delete_image.op(image))

    # -- instances -------------------------------------------------------------------------------

    def _to_node(self, data: Mapping[str, Any]) -> Node:
        public: list[str] = []
        private: list[str] = []
        for nic in data.get("networkInterfaces") or []:
            if nic.get("networkIP"):
                private.append(str(nic["networkIP"]))
            for access in nic.get("accessConfigs") or []:
                if access.get("natIP"):
                    public.append(str(access["natIP"]))
        zone = _last(data.get("zone"))
        tags = data.get("tags") or {}
        disks = list(data.get("disks") or [])
        boot = next((d for d in disks if d.get("boot")), None)
        extra = {
            "status": data.get("status"), "zone": zone, "location": zone,
            "selfLink": data.get("selfLink"), "description": data.get("description"),
            "machineType": _last(data.get("machineType")), "tags": list(tags.get("items") or []),
            "tags_fingerprint": tags.get("fingerprint"),
            "metadata": dict(data.get("metadata") or {}),
            "labels": dict(data.get("labels") or {}),
            "labelFingerprint": data.get("labelFingerprint"), "disks": disks,
            "boot_disk": _last(boot.get("source")) if boot else None,
            "networkInterfaces": list(data.get("networkInterfaces") or []),
            "serviceAccounts": list(data.get("serviceAccounts") or []),
            "scheduling": data.get("scheduling"), "canIpForward": data.get("canIpForward"),
            "creationTimestamp": data.get("creationTimestamp"),
        }
        return Node(id=str(data.get("id") or data["name"]), name=str(data["name"]),
                    state=NODE_STATES.get(str(data.get("status")), NodeState.UNKNOWN),
                    public_ips=public, private_ips=private, driver=self, extra=extra,
                    created_at=moment(data.get("creationTimestamp")))

    @iterator
    def iterate_nodes(self, ex_zone: NodeLocation | str | None = None,
                      ex_use_disk_cache: bool = True) -> Iter[Node]:
        """Iterate over the instances of ``ex_zone`` (default: the driver's
        zone; every zone's, through ``aggregated/instances``, when there is
        none or ``ex_zone="all"``). ``ex_use_disk_cache`` is Libcloud's and
        unused (no request per node is made)."""
        zone = yield from self._listing_zone(ex_zone)
        yield from self._zoned(zone, "instances", self._to_node)

    list_nodes = listing(iterate_nodes, "List the instances of a zone (every zone's when "
                                        "neither the call nor the driver names one).")

    def _listing_zone(self, zone: object) -> Op[str | None]:
        if zone == "all":
            return None
        if zone is None:
            return (yield from self._default_zone())
        return (yield from self._zone_of(zone))

    def _instance_path(self, zone: str, name: str, *more: str) -> Op[str]:
        return (yield from self._path("zones", self._seg(zone, "zone"), "instances",
                                      self._seg(name, "node"), *more))

    def _node_where(self, node: object) -> tuple[str, str]:
        """(zone, name) of a Node this driver listed."""
        found = self._expect(node, Node, "node")
        zone = found.extra.get("zone")
        if not zone:
            raise InvalidInput(f"node {found.name!r} carries no zone (extra['zone'])",
                               driver=self)
        return str(zone), found.name

    @operation
    def get_node(self, node_id: str, *, ex_zone: NodeLocation | str | None = None) -> Op[Node]:
        """An instance by id or name, in ``ex_zone`` (default: the driver's
        zone; searched in every zone when there is none); NodeNotFound if none."""
        ref = self._seg(node_id, "node_id")
        zone = yield from self._listing_zone(ex_zone)
        if zone is not None:
            path = yield from self._instance_path(zone, ref)
            data = yield from self._json("GET", path, what=str(node_id), missing=NodeNotFound)
            return self._to_node(data)
        key = "id" if str(node_id).isdigit() else "name"
        found = yield from find_first(
            self._aggregated("instances", "instances", self._to_node,
                             [("filter", f"{key} = {node_id}")]),
            lambda node: str(node_id) in (node.id, node.name))
        if found is None:
            raise NodeNotFound(str(node_id), driver=self)
        return found

    @operation
    def ex_get_node(self, name: str, zone: NodeLocation | str | None = None) -> Op[Node]:
        """Apache Libcloud's GCE lookup: an instance by name in ``zone``."""
        return (yield from self.get_node.op(name, ex_zone=zone))

    @operation
    def create_node(self, name: str, size: NodeSize | str, image: NodeImage | str,
                    location: NodeLocation | None = None, auth: NodeAuth | None = None, *,
                    ex_network: str = "default", ex_subnetwork: str | None = None,
                    ex_tags: Sequence[str] | None = None,
                    ex_metadata: Mapping[str, Any] | None = None,
                    ex_labels: Mapping[str, str] | None = None,
                    ex_service_accounts: Sequence[Mapping[str, Any]] | None = None,
                    ex_disk_type: str = "pd-standard", ex_disk_size: int | None = None,
                    ex_disk_auto_delete: bool = True, external_ip: str | None = "ephemeral",
                    internal_ip: str | None = None, description: str | None = None,
                    ex_can_ip_forward: bool | None = None, ex_preemptible: bool | None = None,
                    ex_on_host_maintenance: str | None = None,
                    ex_automatic_restart: bool | None = None,
                    ex_ssh_username: str = "overcast") -> Op[Node]:
        """Create an instance (``POST .../instances`` with a ``requestId``),
        wait for its operation, and return it.

        ``size`` is a machine type of the zone ``location`` (default: the
        driver's zone), ``image`` the boot disk's source; as in Libcloud, they
        may be given by name (``"e2-small"``; an image's name or family,
        looked up as :meth:`ex_get_image` does), once the rest is checked. The keywords are
        Libcloud's: ``ex_metadata`` (``ssh-keys``, ``startup-script``, ...),
        ``ex_tags`` (network tags), ``ex_labels``, ``ex_service_accounts``
        (``[{"email": "default", "scopes": ["storage-ro", ...]}]``; default:
        the default account with ``devstorage.read_only``, as Libcloud),
        ``ex_network``/``ex_subnetwork``, ``external_ip`` (``"ephemeral"``, an
        address, or None for none), ``internal_ip``, the boot disk's
        ``ex_disk_type``, ``ex_disk_size`` and ``ex_disk_auto_delete``, and
        scheduling (``ex_preemptible``, ``ex_on_host_maintenance``,
        ``ex_automatic_restart``). ``auth`` (an SSH key) adds an ``ssh-keys``
        line for ``ex_ssh_username``. Libcloud's fifth positional parameter
        is ``ex_network``; here it is ``auth`` (give ``ex_network=`` by name).
        """
        options: dict[str, Any] = {
            "ex_network": ex_network, "ex_subnetwork": ex_subnetwork, "ex_tags": ex_tags,
            "ex_metadata": ex_metadata, "ex_labels": ex_labels,
            "ex_service_accounts": ex_service_accounts, "ex_disk_type": ex_disk_type,
            "ex_disk_size": ex_disk_size, "ex_disk_auto_delete": ex_disk_auto_delete,
            "external_ip": external_ip, "internal_ip": internal_ip, "description": description,
            "ex_can_ip_forward": ex_can_ip_forward, "ex_preemptible": ex_preemptible,
            "ex_on_host_maintenance": ex_on_host_maintenance,
            "ex_automatic_restart": ex_automatic_restart, "ex_ssh_username": ex_ssh_username}
        if isinstance(size, str) or isinstance(image, str):
            size, image = yield from self._named_models(name, size, image, location, auth,
                                                        options)
        return (yield from self._create_node(name, size, image, location, auth, **options))

    def _named_models(self, name: str, size: object, image: object, location: object,
                      auth: object, options: Mapping[str, Any]
                      ) -> Op[tuple[NodeSize, NodeImage]]:
        """Libcloud's names for ``size`` (a machine type of the zone) and ``image``
        (an image name or family, :meth:`ex_get_image`) looked up, once
        everything else was checked (nothing is sent for invalid input)."""
        self._check_node(self._node_spec(
            name, size if isinstance(size, NodeSize) else NodeSize(str(size), str(size), 0, 0),
            image if isinstance(image, NodeImage) else NodeImage(str(image), str(image)),
            location, auth, options))
        if isinstance(size, str):
            zone = yield from self._zone_of(location)
            size = yield from self.ex_get_size.op(size, zone)
        if isinstance(image, str):
            image = yield from self.ex_get_image.op(image)
        return self._expect(size, NodeSize, "size"), self._expect(image, NodeImage, "image")

    def _metadata_items(self, metadata: object) -> list[dict[str, str]]:
        """``ex_metadata`` as the API's ``items``: a dict, ``{"items": [...]}``
        or a list of ``{"key", "value"}``."""
        if metadata is None:
            return []
        if isinstance(metadata, Mapping) and set(metadata) == {"items"}:
            metadata = metadata["items"]
        if isinstance(metadata, Mapping):
            pairs = list(metadata.items())
        elif isinstance(metadata, list | tuple) and all(
                isinstance(i, Mapping) and "key" in i for i in metadata):
            pairs = [(i["key"], i.get("value")) for i in metadata]
        else:
            raise InvalidInput("metadata must be a dict, {'items': [...]} or a list of "
                               "{'key', 'value'}", driver=self)
        items = []
        for key, value in pairs:
            if not isinstance(key, str) or not re.fullmatch(r"[-_a-zA-Z0-9]{1,128}", key):
                raise InvalidInput(f"a metadata key is 1-128 letters, digits, '-' and '_': "
                                   f"{key!r}", driver=self)
            if not isinstance(value, str):
                raise InvalidInput(f"metadata value of {key!r} must be a string", driver=self)
            items.append({"key": key, "value": value})
        return items

    def _labels(self, labels: object) -> dict[str, str]:
        if labels is None:
            return {}
        if not isinstance(labels, Mapping) or not all(
                isinstance(k, str) and _LABEL_KEY.match(k) and isinstance(v, str)
                and _LABEL_VALUE.match(v) for k, v in labels.items()):
            raise InvalidInput("labels are a dict of lowercase keys (letters, digits, '-', "
                               "'_', starting with a letter) to such values", driver=self)
        return dict(labels)

    def _tags(self, tags: object) -> list[str]:
        if tags is None:
            return []
        if isinstance(tags, str) or not isinstance(tags, Sequence) or not all(
                isinstance(t, str) and _NAME.match(t) for t in tags):
            raise InvalidInput("tags are a list of lowercase names (letters, digits and '-')",
                               driver=self)
        return list(tags)

    def _service_accounts(self, accounts: object) -> list[dict[str, Any]]:
        if accounts is None:
            return [{"email": "default",
                     "scopes": ["https://www.googleapis.com/auth/devstorage.read_only"]}]
        if isinstance(accounts, str | Mapping) or not isinstance(accounts, Sequence):
            raise InvalidInput("ex_service_accounts is a list of {'email', 'scopes'}",
                               driver=self)
        made = []
        for account in accounts:
            if not isinstance(account, Mapping):
                raise InvalidInput("ex_service_accounts is a list of {'email', 'scopes'}",
                                   driver=self)
            scopes = account.get("scopes") or ["devstorage.read_only"]
            if isinstance(scopes, str):
                raise InvalidInput("scopes must be a list", driver=self)
            full = []
            for scope in scopes:
                if not isinstance(scope, str) or not scope:
                    raise InvalidInput(f"a scope must be a non-empty string: {scope!r}",
                                       driver=self)
                full.append(scope if scope.startswith("https://") else
                            f"https://www.googleapis.com/auth/{SCOPE_ALIASES.get(scope, scope)}")
            made.append({"email": str(account.get("email") or "default"), "scopes": full})
        return made

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """A Compute Engine name; metadata, labels, tags and accounts in the API's shapes."""
        self._check_name(spec.name, "node")
        options = spec.options
        items = self._metadata_items(options["ex_metadata"])
        if isinstance(spec.auth, NodeAuthSSHKey):
            user = options["ex_ssh_username"]
            if not isinstance(user, str) or not re.fullmatch(r"[a-z_][-a-z0-9_.]{0,31}", user):
                raise InvalidInput(f"ex_ssh_username is not a user name: {user!r}", driver=self)
            line = f"{user}:{spec.auth.pubkey.strip()}"
            found = next((i for i in items if i["key"] == "ssh-keys"), None)
            if found is None:
                items.append({"key": "ssh-keys", "value": line})
            else:
                found["value"] = f"{found['value'].rstrip()}\n{line}"
        size = options["ex_disk_size"]
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                 or size < 1):
            raise InvalidInput(f"ex_disk_size must be a positive number of GB: {size!r}",
                               driver=self)
        if options["ex_on_host_maintenance"] not in (None, "MIGRATE", "TERMINATE"):
            raise InvalidInput("ex_on_host_maintenance is 'MIGRATE' or 'TERMINATE'",
                               driver=self)
        return spec.but(ex_metadata=items, ex_labels=self._labels(options["ex_labels"]),
                        ex_tags=self._tags(options["ex_tags"]),
                        ex_service_accounts=self._service_accounts(
                            options["ex_service_accounts"]))

    def _node_body(self, spec: NodeSpec, zone: str) -> dict[str, Any]:
        o = spec.options
        image = spec.image.extra.get("selfLink") or (
            f"projects/{spec.image.extra['project']}/global/images/{spec.image.name}"
            if spec.image.extra.get("project") else f"global/images/{spec.image.name}")
        params: dict[str, Any] = {"sourceImage": image,
                                  "diskType": f"zones/{zone}/diskTypes/{o['ex_disk_type']}"}
        if o["ex_disk_size"] is not None:
            params["diskSizeGb"] = str(o["ex_disk_size"])
        nic: dict[str, Any] = {"network": o["ex_network"] if "/" in o["ex_network"]
                               else f"global/networks/{o['ex_network']}"}
        if o["ex_subnetwork"]:
            nic["subnetwork"] = o["ex_subnetwork"] if "/" in o["ex_subnetwork"] \
                else f"regions/{_region_of(zone)}/subnetworks/{o['ex_subnetwork']}"
        if o["internal_ip"]:
            nic["networkIP"] = o["internal_ip"]
        if o["external_ip"]:
            access = {"name": "External NAT", "type": "ONE_TO_ONE_NAT"}
            if o["external_ip"] != "ephemeral":
                access["natIP"] = o["external_ip"]
            nic["accessConfigs"] = [access]
        body: dict[str, Any] = {
            "name": spec.name, "machineType": f"zones/{zone}/machineTypes/{spec.size.name}",
            "disks": [{"boot": True, "autoDelete": bool(o["ex_disk_auto_delete"]),
                       "type": "PERSISTENT", "mode": "READ_WRITE",
                       "initializeParams": params}],
            "networkInterfaces": [nic], "serviceAccounts": o["ex_service_accounts"],
        }
        if o["ex_metadata"]:
            body["metadata"] = {"items": o["ex_metadata"]}
        if o["ex_tags"]:
            body["tags"] = {"items": o["ex_tags"]}
        if o["ex_labels"]:
            body["labels"] = o["ex_labels"]
        if o["description"] is not None:
            body["description"] = str(o["description"])
        if o["ex_can_ip_forward"] is not None:
            body["canIpForward"] = bool(o["ex_can_ip_forward"])
        scheduling = {key: o[option] for key, option in (
            ("preemptible", "ex_preemptible"), ("onHostMaintenance", "ex_on_host_maintenance"),
            ("automaticRestart", "ex_automatic_restart")) if o[option] is not None}
        if scheduling:
            body["scheduling"] = scheduling
        return body

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        """Insert with ``requestId`` = the token (a UUID): a resent insert is
        the same insert to Compute Engine, so the runtime may resend it."""
        zone = yield from self._zone_of(spec.location)
        path = yield from self._path("zones", self._seg(zone, "zone"), "instances")
        op = yield from self._json("POST", path, json=self._node_body(spec, zone),
                                   params=[("requestId", str(uuid.UUID(token)))],
                                   idempotent=True, what=spec.name)
        yield from self._wait(op, Outcome(spec.name, NodeNotFound))
        node_path = yield from self._instance_path(zone, spec.name)
        data = yield from self._json("GET", node_path, what=spec.name, missing=NodeNotFound)
        return self._to_node(data)

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        """Nothing to look up: sending the insert again with the same
        ``requestId`` is answered with the first insert's operation."""
        nothing: Node | None = None
        return (yield from pure(nothing))

    @operation
    def ex_create_multiple_nodes(
            self, base_name: str, size: NodeSize, image: NodeImage, number: int,
            location: NodeLocation | None = None, ex_network: str = "default",
            ex_subnetwork: str | None = None, ex_tags: Sequence[str] | None = None,
            ex_metadata: Mapping[str, Any] | None = None, ignore_errors: bool = True,
            use_existing_disk: bool = True, poll_interval: float = 2,
            external_ip: str | None = "ephemeral", internal_ip: str | None = None,
            ex_disk_type: str = "pd-standard", ex_disk_auto_delete: bool = True,
            ex_service_accounts: Sequence[Mapping[str, Any]] | None = None,
            timeout: float = 180, description: str | None = None,
            ex_can_ip_forward: bool | None = None, ex_disks_gce_struct: Any = None,
            ex_nic_gce_struct: Any = None, ex_on_host_maintenance: str | None = None,
            ex_automatic_restart: bool | None = None, ex_image_family: str | None = None,
            ex_preemptible: bool | None = None, ex_labels: Mapping[str, str] | None = None,
            ex_disk_size: int | None = None) -> Op[list[Node | GCEFailedNode]]:
        """Create ``number`` instances named ``{base_name}-000``, ``-001``, ...
        at once (each insert with its own ``requestId``, waited for), with
        :meth:`create_node`'s options (Libcloud's parameters, in its order).

        With ``ignore_errors`` (Libcloud's default) a node that fails is a
        :class:`GCEFailedNode` in the result; otherwise the first failure is
        raised. ``use_existing_disk``, ``poll_interval`` and ``timeout`` are
        Libcloud's and unused (each instance gets a new boot disk; polling
        follows the driver's ``poll_interval`` and ``wait_timeout``);
        ``ex_disks_gce_struct``, ``ex_nic_gce_struct`` and
        ``ex_image_family`` are not served (NotSupported)."""
        for option, given in (("ex_disks_gce_struct", ex_disks_gce_struct),
                              ("ex_nic_gce_struct", ex_nic_gce_struct),
                              ("ex_image_family", ex_image_family)):
            if given is not None:
                raise NotSupported(f"{option} is not served: give the image (see "
                                   f"ex_get_image_from_family) and the create_node options",
                                   driver=self)
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 1000:
            raise InvalidInput(f"number must be 1..1000: {number!r}", driver=self)
        self._check_name(f"{base_name}-000", "node")
        names = [f"{base_name}-{i:03d}" for i in range(number)]
        options: dict[str, Any] = {
            "ex_network": ex_network, "ex_subnetwork": ex_subnetwork, "ex_tags": ex_tags,
            "ex_metadata": ex_metadata, "ex_labels": ex_labels,
            "ex_service_accounts": ex_service_accounts, "external_ip": external_ip,
            "internal_ip": internal_ip, "ex_disk_type": ex_disk_type,
            "ex_disk_auto_delete": ex_disk_auto_delete, "ex_disk_size": ex_disk_size,
            "description": description, "ex_can_ip_forward": ex_can_ip_forward,
            "ex_on_host_maintenance": ex_on_host_maintenance,
            "ex_automatic_restart": ex_automatic_restart, "ex_preemptible": ex_preemptible}
        for name in names:  # everything is checked before the first insert
            self._check_node(self._node_spec(name, size, image, location, None, {
                **self._create_defaults(), **options}))

        def one(name: str) -> Op[Node | GCEFailedNode]:
            try:
                return (yield from self.create_node.op(name, size, image, location, **options))
            except (ProviderError, AlreadyExists, NotFound, OperationTimeout) as exc:
                if not ignore_errors:
                    raise
                return GCEFailedNode(name, exc, getattr(exc, "code", None) or type(exc).__name__)

        results: list[Node | GCEFailedNode] = yield Parallel([one(n) for n in names], limit=8)
        return results

    @staticmethod
    def _create_defaults() -> dict[str, Any]:
        return {"ex_network": "default", "ex_subnetwork": None, "ex_tags": None,
                "ex_metadata": None, "ex_labels": None, "ex_service_accounts": None,
                "ex_disk_type": "pd-standard", "ex_disk_size": None,
                "ex_disk_auto_delete": True, "external_ip": "ephemeral", "internal_ip": None,
                "description": None, "ex_can_ip_forward": None, "ex_preemptible": None,
                "ex_on_host_maintenance": None, "ex_automatic_restart": None,
                "ex_ssh_username": "overcast"}

    def _node_call(self, node: Node, verb: str, body: Any = None) -> Op[bool]:
        zone, name = self._node_where(node)
        path = yield from self._instance_path(zone, name, verb)
        yield from self._mutate("POST", path, body=body if body is not None else None,
                                what=name, missing=NodeNotFound)
        return True

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """``POST .../reset``, ``.../start`` or ``.../stop`` (the instance becomes
        ``TERMINATED``, i.e. stopped), waiting for the operation."""
        return self._node_call(node, "reset" if change == "reboot" else change)

    @operation
    def start_node(self, node: Node, ex_sync: bool = True) -> Op[bool]:
        """Start a stopped instance (``POST .../start``), waiting for the
        operation (``ex_sync`` is Libcloud's; the wait always happens)."""
        return (yield from self._power_node(node, "start"))

    @operation
    def stop_node(self, node: Node, ex_sync: bool = True) -> Op[bool]:
        """Stop an instance (``POST .../stop``; it becomes ``TERMINATED``,
        i.e. stopped), waiting for the operation."""
        return (yield from self._power_node(node, "stop"))

    @operation
    def ex_start_node(self, node: Node, sync: bool = True) -> Op[bool]:
        """Apache Libcloud's GCE name for :meth:`start_node`."""
        return (yield from self.start_node.op(node))

    @operation
    def ex_stop_node(self, node: Node, sync: bool = True) -> Op[bool]:
        """Apache Libcloud's GCE name for :meth:`stop_node`."""
        return (yield from self.stop_node.op(node))

    @operation
    def destroy_node(self, node: Node, destroy_boot_disk: bool = False,
                     ex_sync: bool = True) -> Op[bool]:
        """Delete an instance (``DELETE .../instances/{name}``), waiting for the
        operation; with ``destroy_boot_disk``, its boot disk too if it was not
        deleted with it (``autoDelete`` false)."""
        zone, name = self._node_where(node)
        path = yield from self._instance_path(zone, name)
        yield from self._mutate("DELETE", path, what=name, missing=NodeNotFound)
        boot = node.extra.get("boot_disk")
        if destroy_boot_disk and boot:
            disk = yield from self._path("zones", self._seg(zone, "zone"), "disks",
                                         self._seg(boot, "disk"))
            with contextlib.suppress(VolumeNotFound):
                yield from self._mutate("DELETE", disk, what=str(boot), missing=VolumeNotFound)
        return True

    def _set_on_node(self, node: Node, verb: str, make: Callable[[Node], dict[str, Any]]
                     ) -> Op[bool]:
        """Fetch the instance (for its fingerprint), then ``POST .../{verb}``."""
        zone, name = self._node_where(node)
        current = yield from self.get_node.op(name, ex_zone=zone)
        return (yield from self._node_call(current, verb, make(current)))

    @operation
    def ex_set_node_tags(self, node: Node, tags: Sequence[str]) -> Op[bool]:
        """Replace an instance's network tags (``setTags`` with its fingerprint)."""
        items = self._tags(tags)
        return (yield from self._set_on_node(node, "setTags", lambda n: {
            "items": items, "fingerprint": n.extra["tags_fingerprint"]}))

    @operation
    def ex_set_node_metadata(self, node: Node, metadata: Mapping[str, Any]) -> Op[bool]:
        """Replace an instance's metadata (``setMetadata`` with its fingerprint)."""
        items = self._metadata_items(metadata)
        return (yield from self._set_on_node(node, "setMetadata", lambda n: {
            "items": items, "fingerprint": n.extra["metadata"].get("fingerprint")}))

    @operation
    def ex_set_node_labels(self, node: Node, labels: Mapping[str, str]) -> Op[bool]:
        """Replace an instance's labels (``setLabels`` with its label fingerprint)."""
        checked = self._labels(labels)
        return (yield from self._set_on_node(node, "setLabels", lambda n: {
            "labels": checked, "labelFingerprint": n.extra["labelFingerprint"]}))

    # -- disks and snapshots ----------------------------------------------------------------------

    def _to_volume(self, data: Mapping[str, Any]) -> StorageVolume:
        users = list(data.get("users") or [])
        state = DISK_STATES.get(str(data.get("status")), StorageVolumeState.UNKNOWN)
        if state == StorageVolumeState.AVAILABLE and users:
            state = StorageVolumeState.INUSE
        zone = _last(data.get("zone"))
        return StorageVolume(
            id=str(data.get("id") or data["name"]), name=str(data["name"]),
            size=whole(data.get("sizeGb")), driver=self, state=state,
            extra={"zone": zone, "location": zone, "selfLink": data.get("selfLink"),
                   "status": data.get("status"), "users": users, "type": _last(data.get("type")),
                   "sourceImage": data.get("sourceImage"),
                   "sourceSnapshot": data.get("sourceSnapshot"),
                   "labels": dict(data.get("labels") or {}),
                   "description": data.get("description"),
                   "creationTimestamp": data.get("creationTimestamp")})

    @iterator
    def iterate_volumes(self, ex_zone: NodeLocation | str | None = None) -> Iter[StorageVolume]:
        """Iterate over the disks of ``ex_zone`` (default: the driver's zone;
        every zone's when there is none or ``ex_zone="all"``)."""
        zone = yield from self._listing_zone(ex_zone)
        yield from self._zoned(zone, "disks", self._to_volume)

    list_volumes = listing(iterate_volumes, "List the disks of a zone (every zone's when "
                                            "neither the call nor the driver names one).")

    def _disk_path(self, zone: str, disk: str, *more: str) -> Op[str]:
        return (yield from self._path("zones", self._seg(zone, "zone"), "disks",
                                      self._seg(disk, "volume"), *more))

    @operation
    def get_volume(self, volume_id: str, *,
                   ex_zone: NodeLocation | str | None = None) -> Op[StorageVolume]:
        """A disk by id or name in ``ex_zone`` (default: the driver's zone;
        every zone is searched when there is none); VolumeNotFound if none."""
        ref = self._seg(volume_id, "volume_id")
        zone = yield from self._listing_zone(ex_zone)
        if zone is None:
            found = yield from find_first(
                self._aggregated("disks", "disks", self._to_volume),
                lambda v: str(volume_id) in (v.id, v.name))
            if found is None:
                raise VolumeNotFound(str(volume_id), driver=self)
            return found
        path = yield from self._disk_path(zone, ref)
        data = yield from self._json("GET", path, what=str(volume_id), missing=VolumeNotFound)
        return self._to_volume(data)

    @operation
    def ex_get_volume(self, name: str, zone: NodeLocation | str | None = None,
                      use_cache: bool = False) -> Op[StorageVolume]:
        """Apache Libcloud's GCE lookup: a disk by name in ``zone`` (``use_cache``
        is Libcloud's: it is always fetched)."""
        return (yield from self.get_volume.op(name, ex_zone=zone))

    def _volume_where(self, volume: object) -> tuple[str, str]:
        found = self._expect(volume, StorageVolume, "volume")
        zone = found.extra.get("zone")
        if not zone or not found.name:
            raise InvalidInput(f"volume {found.id!r} carries no zone (extra['zone'])",
                               driver=self)
        return str(zone), found.name

    @operation
    def create_volume(self, size: int, name: str, location: NodeLocation | None = None,
                      snapshot: VolumeSnapshot | None = None, image: NodeImage | None = None,
                      use_existing: bool = True, ex_disk_type: str = "pd-standard",
                      ex_image_family: str | None = None, *,
                      ex_labels: Mapping[str, str] | None = None) -> Op[StorageVolume]:
        """Create a disk of ``size`` GB named ``name`` in the zone ``location``
        (default: the driver's), empty or from ``snapshot``, ``image`` or the
        newest image of ``ex_image_family`` (``POST .../disks`` with a
        ``requestId``), waiting for the operation. With ``use_existing``
        (Libcloud's default), a disk of that name already in the zone is
        returned instead of an AlreadyExists."""
        if ex_image_family is not None and image is None:
            self._check_name(name, "volume")
            image = yield from self.ex_get_image_from_family.op(ex_image_family)
        try:
            return (yield from self._create_volume(size, name, location, snapshot, image,
                                                   ex_disk_type, ex_labels))
        except AlreadyExists:
            if not use_existing:
                raise
            zone = yield from self._zone_of(location)
            return (yield from self.get_volume.op(name, ex_zone=zone))

    def _create_volume(self, size: int, name: str, location: NodeLocation | None,
                       snapshot: VolumeSnapshot | None, image: NodeImage | None,
                       ex_disk_type: str, ex_labels: Mapping[str, str] | None
                       ) -> Op[StorageVolume]:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(f"size must be a positive number of GB: {size!r}", driver=self)
        self._check_name(name, "volume")
        labels = self._labels(ex_labels)
        if snapshot is not None:
            snapshot = self._expect(snapshot, VolumeSnapshot, "snapshot")
        if image is not None:
            image = self._expect(image, NodeImage, "image")
        zone = yield from self._zone_of(location)
        body: dict[str, Any] = {"name": name, "sizeGb": str(size),
                                "type": f"zones/{zone}/diskTypes/{ex_disk_type}"}
        if snapshot is not None:
            body["sourceSnapshot"] = snapshot.extra.get("selfLink") or \
                f"global/snapshots/{snapshot.name}"
        if image is not None:
            body["sourceImage"] = image.extra.get("selfLink") or f"global/images/{image.name}"
        if labels:
            body["labels"] = labels
        path = yield from self._path("zones", self._seg(zone, "zone"), "disks")
        yield from self._mutate("POST", path, body=body, insert=True, what=name)
        disk = yield from self._disk_path(zone, name)
        data = yield from self._json("GET", disk, what=name, missing=VolumeNotFound)
        return self._to_volume(data)

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a (detached) disk, waiting for the operation."""
        zone, name = self._volume_where(volume)
        path = yield from self._disk_path(zone, name)
        yield from self._mutate("DELETE", path, what=name, missing=VolumeNotFound)
        return True

    @staticmethod
    def _device_name(device: str | None) -> str | None:
        """A device name for ``attachDisk``: ``/dev/sdb`` -> ``sdb``."""
        if device is None:
            return None
        return device.rsplit("/", 1)[-1] or None

    @operation
    def attach_volume(self, node: Node, volume: StorageVolume, device: str | None = None,
                      ex_mode: str | None = None, ex_boot: bool = False,
                      ex_type: str | None = None, ex_source: str | None = None,
                      ex_auto_delete: bool | None = None, ex_initialize_params: Any = None,
                      ex_licenses: Any = None, ex_interface: str | None = None) -> Op[bool]:
        """Attach a disk to an instance of its zone (``attachDisk``), as
        ``device`` (its device name; a ``/dev/`` prefix is dropped), in
        ``ex_mode`` (``READ_WRITE``, default, or ``READ_ONLY``), with
        Libcloud's ``ex_boot``, ``ex_auto_delete`` and ``ex_interface``
        (``SCSI`` or ``NVME``). ``ex_type``, ``ex_source``,
        ``ex_initialize_params`` and ``ex_licenses`` (attaching a disk made on
        the way) are not served: NotSupported."""
        for option, given in (("ex_type", ex_type), ("ex_source", ex_source),
                              ("ex_initialize_params", ex_initialize_params),
                              ("ex_licenses", ex_licenses)):
            if given is not None:
                raise NotSupported(f"attach_volume({option}=...) is not served: create the "
                                   f"volume, then attach it", driver=self)
        if ex_interface not in (None, "SCSI", "NVME"):
            raise InvalidInput("ex_interface is 'SCSI' or 'NVME'", driver=self)
        self._node_where(node)
        disk_zone, disk = self._volume_where(volume)
        if ex_mode not in (None, "READ_WRITE", "READ_ONLY"):
            raise InvalidInput("ex_mode is 'READ_WRITE' or 'READ_ONLY'", driver=self)
        source = volume.extra.get("selfLink") or (yield from self._disk_path(disk_zone, disk))
        body: dict[str, Any] = {"source": source, "mode": ex_mode or "READ_WRITE",
                                "boot": bool(ex_boot), "type": "PERSISTENT"}
        device_name = self._device_name(device)
        if device_name:
            body["deviceName"] = device_name
        if ex_auto_delete is not None:
            body["autoDelete"] = bool(ex_auto_delete)
        if ex_interface is not None:
            body["interface"] = ex_interface
        return (yield from self._node_call(node, "attachDisk", body))

    @operation
    def detach_volume(self, volume: StorageVolume, ex_node: Node | None = None) -> Op[bool]:
        """Detach a disk (``detachDisk``) from ``ex_node``, or from the
        instance the disk says uses it; InvalidInput if none does."""
        zone, disk = self._volume_where(volume)
        current = yield from self.get_volume.op(disk, ex_zone=zone)
        if ex_node is not None:
            node = self._expect(ex_node, Node, "ex_node")
        else:
            users = current.extra["users"]
            if not users:
                raise InvalidInput(f"volume {disk!r} is attached to no instance", driver=self)
            node = yield from self.get_node.op(_last(users[0]) or "", ex_zone=_last(
                users[0].split("/instances/")[0]) if "/instances/" in users[0] else zone)
        fresh = yield from self.get_node.op(node.name, ex_zone=node.extra.get("zone") or zone)
        device = next((d.get("deviceName") for d in fresh.extra["disks"]
                       if _last(d.get("source")) == disk), None)
        if device is None:
            raise InvalidInput(f"volume {disk!r} is not attached to {fresh.name!r}", driver=self)
        inst_zone, name = self._node_where(fresh)
        path = yield from self._instance_path(inst_zone, name, "detachDisk")
        yield from self._mutate("POST", path, params=[("deviceName", str(device))], what=name,
                                missing=NodeNotFound)
        return True

    def _to_snapshot(self, data: Mapping[str, Any]) -> VolumeSnapshot:
        return VolumeSnapshot(
            id=str(data.get("id") or data["name"]), driver=self,
            size=whole(data.get("diskSizeGb")), name=str(data["name"]),
            created=moment(data.get("creationTimestamp")),
            state=SNAPSHOT_STATES.get(str(data.get("status")), VolumeSnapshotState.UNKNOWN),
            extra={"selfLink": data.get("selfLink"), "status": data.get("status"),
                   "sourceDisk": data.get("sourceDisk"), "sourceDiskId": data.get("sourceDiskId"),
                   "storageBytes": data.get("storageBytes"),
                   "labels": dict(data.get("labels") or {}),
                   "description": data.get("description")})

    def _snapshots(self) -> Iter[VolumeSnapshot]:
        return self._pages(lambda: self._path("global", "snapshots"), "items",
                           self._to_snapshot)

    @iterator
    def iterate_volume_snapshots(self, volume: StorageVolume) -> Iter[VolumeSnapshot]:
        """Iterate over the snapshots made from a disk (the project's snapshots,
        page by page, whose source is that disk)."""
        vol = self._expect(volume, StorageVolume, "volume")
        link = vol.extra.get("selfLink")
        yield from expand(self._snapshots(), lambda s: [s] if (
            s.extra["sourceDiskId"] == vol.id or (link and s.extra["sourceDisk"] == link)
            or _last(s.extra["sourceDisk"]) == vol.name) else [])

    @operation
    def ex_list_snapshots(self) -> Op[list[VolumeSnapshot]]:
        """Every snapshot of the project."""
        return (yield from collect(self._snapshots()))

    @operation
    def get_volume_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """A snapshot by id or name (``GET .../global/snapshots/{name}``)."""
        path = yield from self._path("global", "snapshots", self._seg(snapshot_id, "snapshot"))
        data = yield from self._json("GET", path, what=str(snapshot_id),
                                     missing=SnapshotNotFound)
        return self._to_snapshot(data)

    @operation
    def ex_get_snapshot(self, name: str) -> Op[VolumeSnapshot]:
        """Apache Libcloud's GCE name for :meth:`get_volume_snapshot`."""
        return (yield from self.get_volume_snapshot.op(name))

    @operation
    def create_volume_snapshot(self, volume: StorageVolume,
                               name: str | None = None) -> Op[VolumeSnapshot]:
        """Snapshot a disk (``POST .../disks/{disk}/createSnapshot`` with a
        ``requestId``), waiting for the operation; ``name`` defaults to the
        disk's name and a short random suffix."""
        zone, disk = self._volume_where(volume)
        label = name if name is not None else f"{disk[:54]}-{uuid.uuid4().hex[:8]}"
        self._check_name(label, "snapshot")
        path = yield from self._disk_path(zone, disk, "createSnapshot")
        yield from self._mutate("POST", path, body={"name": label}, insert=True, what=disk,
                                missing=VolumeNotFound)
        return (yield from self.get_volume_snapshot.op(label))

    @operation
    def destroy_volume_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Delete a snapshot, waiting for the (global) operation."""
        snap = self._expect(snapshot, VolumeSnapshot, "snapshot")
        path = yield from self._path("global", "snapshots", self._seg(snap.name or snap.id,
                                                                      "snapshot"))
        yield from self._mutate("DELETE", path, what=snap.name or snap.id,
                                missing=SnapshotNotFound)
        return True

    # -- addresses --------------------------------------------------------------------------------

    def _to_address(self, data: Mapping[str, Any]) -> GCEAddress:
        return GCEAddress(str(data.get("id") or data["name"]), str(data["name"]),
                          str(data.get("address") or ""),
                          _last(data.get("region")) or "global", self,
                          {"status": data.get("status"), "selfLink": data.get("selfLink"),
                           "users": list(data.get("users") or []),
                           "addressType": data.get("addressType"),
                           "description": data.get("description"),
                           "creationTimestamp": data.get("creationTimestamp")})

    def _region(self, region: object) -> Op[str]:
        if isinstance(region, str) and region:
            return region
        if region is not None:
            raise InvalidInput(f"region must be a region name or 'global': {region!r}",
                               driver=self)
        zone = yield from self._default_zone()
        if zone is None:
            raise InvalidInput("give a region, or the driver's datacenter", driver=self)
        return _region_of(zone)

    def _address_base(self, region: str) -> Op[str]:
        if region == "global":
            return (yield from self._path("global", "addresses"))
        return (yield from self._path("regions", self._seg(region, "region"), "addresses"))

    @operation
    def ex_list_addresses(self, region: str | None = None) -> Op[list[GCEAddress]]:
        """The static addresses of ``region`` (``"global"`` for global ones;
        every region's, aggregated, when None and the driver has no zone, or
        ``"all"``)."""
        if region == "all" or (region is None and (yield from self._default_zone()) is None):
            return (yield from collect(self._aggregated("addresses", "addresses",
                                                        self._to_address)))
        where = yield from self._region(region)
        return (yield from collect(self._pages(lambda: self._address_base(where), "items",
                                               self._to_address)))

    @operation
    def ex_get_address(self, name: str, region: str | None = None) -> Op[GCEAddress]:
        """A static address by name; AddressNotFound if none."""
        where = yield from self._region(region)
        base = yield from self._address_base(where)
        data = yield from self._json("GET", f"{base}/{self._seg(name, 'address')}",
                                     what=str(name), missing=AddressNotFound)
        return self._to_address(data)

    @operation
    def ex_create_address(self, name: str, region: str | None = None, address: str | None = None,
                          description: str | None = None, address_type: str = "EXTERNAL",
                          subnetwork: str | None = None) -> Op[GCEAddress]:
        """Reserve a static address in ``region`` (default: the driver's
        zone's; ``"global"`` for a global one), waiting for the operation."""
        self._check_name(name, "address")
        if address_type not in ("EXTERNAL", "INTERNAL"):
            raise InvalidInput("address_type is 'EXTERNAL' or 'INTERNAL'", driver=self)
        where = yield from self._region(region)
        body: dict[str, Any] = {"name": name, "addressType": address_type}
        if address:
            body["address"] = address
        if description is not None:
            body["description"] = description
        if subnetwork:
            body["subnetwork"] = subnetwork
        base = yield from self._address_base(where)
        yield from self._mutate("POST", base, body=body, insert=True, what=name)
        return (yield from self.ex_get_address.op(name, where))

    @operation
    def ex_destroy_address(self, address: GCEAddress) -> Op[bool]:
        """Release a static address, waiting for the operation."""
        if not isinstance(address, GCEAddress):
            raise InvalidInput("address must be a GCEAddress", driver=self)
        base = yield from self._address_base(address.region)
        yield from self._mutate("DELETE", f"{base}/{self._seg(address.name, 'address')}",
                                what=address.name, missing=AddressNotFound)
        return True

    # -- firewalls --------------------------------------------------------------------------------

    def _to_firewall(self, data: Mapping[str, Any]) -> GCEFirewall:
        return GCEFirewall(
            str(data.get("id") or data["name"]), str(data["name"]),
            list(data.get("allowed") or []), list(data.get("denied") or []),
            str(data.get("direction") or "INGRESS"), _last(data.get("network")) or "",
            whole(data.get("priority")), list(data.get("sourceRanges") or []),
            list(data.get("sourceTags") or []), list(data.get("destinationRanges") or []),
            list(data.get("targetTags") or []), self,
            {"selfLink": data.get("selfLink"), "description": data.get("description"),
             "sourceServiceAccounts": data.get("sourceServiceAccounts"),
             "targetServiceAccounts": data.get("targetServiceAccounts"),
             "creationTimestamp": data.get("creationTimestamp")})

    @operation
    def ex_list_firewalls(self) -> Op[list[GCEFirewall]]:
        """Every firewall rule of the project."""
        return (yield from collect(self._pages(lambda: self._path("global", "firewalls"),
                                               "items", self._to_firewall)))

    @operation
    def ex_get_firewall(self, name: str) -> Op[GCEFirewall]:
        """A firewall rule by name; FirewallNotFound if none."""
        path = yield from self._path("global", "firewalls", self._seg(name, "firewall"))
        data = yield from self._json("GET", path, what=str(name), missing=FirewallNotFound)
        return self._to_firewall(data)

    @operation
    def ex_create_firewall(self, name: str, allowed: Sequence[Mapping[str, Any]] | None = None,
                           denied: Sequence[Mapping[str, Any]] | None = None,
                           network: str = "default", target_ranges: Sequence[str] | None = None,
                           direction: str = "INGRESS", priority: int = 1000,
                           source_service_accounts: Sequence[str] | None = None,
                           target_service_accounts: Sequence[str] | None = None,
                           source_ranges: Sequence[str] | None = None,
                           source_tags: Sequence[str] | None = None,
                           target_tags: Sequence[str] | None = None,
                           description: str | None = None) -> Op[GCEFirewall]:
        """Create a firewall rule (Libcloud's parameters: ``allowed``/``denied``
        are lists of ``{"IPProtocol": "tcp", "ports": ["22"]}``), waiting for
        the operation. An ingress rule with no source defaults to
        ``0.0.0.0/0``, as Compute Engine does."""
        self._check_name(name, "firewall")
        if (allowed is None) == (denied is None):
            raise InvalidInput("give allowed or denied (one of them)", driver=self)
        rules = list(allowed if allowed is not None else denied or [])
        if not rules or not all(isinstance(r, Mapping) and r.get("IPProtocol") for r in rules):
            raise InvalidInput("rules are a non-empty list of {'IPProtocol', 'ports'}",
                               driver=self)
        if direction not in ("INGRESS", "EGRESS"):
            raise InvalidInput("direction is 'INGRESS' or 'EGRESS'", driver=self)
        if isinstance(priority, bool) or not isinstance(priority, int) \
                or not 0 <= priority <= 65535:
            raise InvalidInput("priority is 0..65535", driver=self)
        body: dict[str, Any] = {
            "name": name, "direction": direction, "priority": priority,
            "network": network if "/" in network else f"global/networks/{network}",
            "allowed" if allowed is not None else "denied": [dict(r) for r in rules]}
        for key, value in (("destinationRanges", target_ranges),
                           ("sourceServiceAccounts", source_service_accounts),
                           ("targetServiceAccounts", target_service_accounts),
                           ("sourceRanges", source_ranges), ("sourceTags", source_tags),
                           ("targetTags", target_tags)):
            if value is not None:
                if isinstance(value, str):
                    raise InvalidInput(f"{key} must be a list", driver=self)
                body[key] = list(value)
        if direction == "INGRESS" and not (source_ranges or source_tags
                                           or source_service_accounts):
            body["sourceRanges"] = ["0.0.0.0/0"]
        if description is not None:
            body["description"] = description
        path = yield from self._path("global", "firewalls")
        yield from self._mutate("POST", path, body=body, insert=True, what=name)
        return (yield from self.ex_get_firewall.op(name))

    @operation
    def ex_destroy_firewall(self, firewall: GCEFirewall) -> Op[bool]:
        """Delete a firewall rule, waiting for the operation."""
        if not isinstance(firewall, GCEFirewall):
            raise InvalidInput("firewall must be a GCEFirewall", driver=self)
        path = yield from self._path("global", "firewalls", self._seg(firewall.name, "firewall"))
        yield from self._mutate("DELETE", path, what=firewall.name, missing=FirewallNotFound)
        return True
