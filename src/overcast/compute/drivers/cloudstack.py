"""Apache CloudStack: VMs, volumes, snapshots, SSH key pairs, security groups,
networks, public IPs and port forwarding (the CloudStack API, 4.x).

``CloudStackNodeDriver(key, secret, secure, host, path, port, url=...)``: the
API key and secret key of a CloudStack user, and where the API is (Apache
Libcloud's parameters, in its order: ``url="https://cloud.example/client/api"``,
or ``host`` with ``path`` (default ``/client/api``), ``port`` and ``secure``;
``endpoint=`` is overcast's name for ``url``).

Facts of the API this driver is built on:

* Every call is ``GET <endpoint>?command=<name>&...&response=json``, signed by
  the runtime on every attempt (:mod:`overcast.auth.cloudstack`: ``apiKey``
  and an HMAC-SHA1 ``signature``; ``signature_expires=`` makes them version 3
  signatures, refused once that many seconds have passed). The answer is
  ``{"<name>response": {...}}``. User data too large for a query string goes
  in a signed form body (``POST``).
* Lists take ``page``/``pagesize`` and answer ``count`` (every matching item)
  with the page's items; an empty page holds no item key at all. A server
  answers at most its ``default.page.size`` (500 unless its admin changed it)
  per page and refuses a larger ``pagesize``; Apache Libcloud's driver sends
  neither and so sees the first 500 items only. Here every listing goes
  through the shared pager, page after page until ``count`` is reached.
* Long operations (deploy, start, stop, reboot, destroy, volume create,
  attach, detach, snapshots, security group rules, public IPs, port
  forwarding) answer a ``jobid`` at once; ``queryAsyncJobResult`` gives the
  job's ``jobstatus``: 0 pending, 1 done (its ``jobresult``), 2 failed
  (``jobresult.errorcode`` and ``errortext``, mapped like an error answer).
  Jobs are polled every ``poll_interval`` seconds by the runtime's ``Sleep``,
  for ``wait_timeout`` seconds at most.
* Errors answer the HTTP status of their ``errorcode`` with ``{"<name>response":
  {"errorcode", "cserrorcode", "errortext"}}``: 401 credentials or signature,
  431 a parameter (an unknown id: "entity does not exist"), 432 a command the
  account may not use, 531 a permission refused, 536 a resource in use, 537 a
  network rule conflict, 530 anything else.

How the model maps:

* Sizes are service offerings (``price`` is ``None``: CloudStack has no
  prices), images templates (``ex_template_filter``, default ``executable``),
  locations zones. ``create_node`` deploys in the first zone unless given one.
* A node's addresses are its NICs' and its static NAT ``publicip``: RFC 1918
  addresses are private, others public (as Libcloud). States: ``Running``
  running, ``Starting`` starting, ``Stopping`` stopping, ``Stopped`` stopped,
  ``Migrating`` migrating, ``Destroyed`` terminated, ``Expunging`` pending,
  ``Error`` error.
* ``create_node`` waits for the deploy job and returns the VM it made (with
  ``extra["password"]``, a Secret, when the template generates one). Its
  answer lost, the VMs named like it that did not exist before it was sent
  are looked up (CloudStack VM names are unique in a network): exactly one VM
  results. ``auth=NodeAuthSSHKey`` registers the key as a key pair (or finds
  the one holding it, by fingerprint) and deploys with it, as ``ex_keyname``
  does; a password cannot be set (CloudStack generates it).
* ``destroy_node(node, ex_expunge=False)``: a destroyed VM is listed as
  ``terminated`` until the server expunges it, unless ``ex_expunge``.
* Volumes use a disk offering of their size, else a customisable one given
  the size. ``attach_volume`` lets CloudStack choose the device.
* ``create_key_pair`` returns the private key CloudStack generated; its
  answer cannot be recovered if lost (``OutcomeUnknown``). Imported keys are
  found again by name and fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar
from urllib.parse import urlencode
from urllib.parse import urlsplit

from overcast.auth.cloudstack import FORM
from overcast.auth.cloudstack import CloudStackCredentials
from overcast.auth.cloudstack import sign_request
from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeSpec
from overcast.compute.base import PowerChange
from overcast.compute.models import KeyPair
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
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import KeyPairNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import OvercastError
from overcast.errors import ProviderError
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import HttpApi
from overcast.runtime.api import Outcome
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import alias
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import find_first
from overcast.runtime.ops import poll
from overcast.runtime.options import check_page_size
from overcast.runtime.options import check_polling
from overcast.runtime.options import libcloud_endpoint
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text

__all__ = [
    "CloudStackAddress",
    "CloudStackNetwork",
    "CloudStackNodeDriver",
    "CloudStackPortForwardingRule",
    "SecurityGroupNotFound",
]

T = TypeVar("T")

NODE_STATES: Final = {
    "Running": NodeState.RUNNING,
    "Starting": NodeState.STARTING,
    "Stopping": NodeState.STOPPING,
    "Stopped": NodeState.STOPPED,
    "Migrating": NodeState.MIGRATING,
    "Destroyed": NodeState.TERMINATED,
    "Expunging": NodeState.PENDING,
    "Error": NodeState.ERROR,
}
SNAPSHOT_STATES: Final = {
    "BackedUp": VolumeSnapshotState.AVAILABLE,
    "Creating": VolumeSnapshotState.CREATING,
    "CreatedOnPrimary": VolumeSnapshotState.CREATING,
    "BackingUp": VolumeSnapshotState.CREATING,
    "Destroying": VolumeSnapshotState.DELETING,
    "Error": VolumeSnapshotState.ERROR,
}
#: The path of the API below a host (Libcloud's default ``path``).
DEFAULT_PATH: Final = "/client/api"
#: CloudStack's ``default.page.size``: the most a server answers per page unless changed.
DEFAULT_PAGE_SIZE: Final = 500
#: Base64 user data up to this size goes in the query string; more in a form body.
QUERY_USERDATA_LIMIT: Final = 2048
#: The most base64 user data CloudStack takes (``vm.userdata.max.length``' default).
MAX_USERDATA: Final = 32768
_UNIQUE_LOCAL: Final = ipaddress.ip_network("fc00::/7")


class SecurityGroupNotFound(NotFound):
    """No security group has that name."""

    kind = "security group"


class CloudStackNetwork:
    """A guest network (Apache Libcloud's ``CloudStackNetwork``): ``id``,
    ``name``, ``displaytext``, ``networkofferingid``, ``zoneid`` and the rest
    of the answer in ``extra``."""

    __slots__ = ("displaytext", "driver", "extra", "id", "name", "networkofferingid", "zoneid")

    def __init__(self, displaytext: str, name: str, networkofferingid: str, id: str,
                 zoneid: str, driver: CloudStackNodeDriver | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.displaytext = displaytext
        self.name = name
        self.networkofferingid = networkofferingid
        self.id = id
        self.zoneid = zoneid
        self.driver = driver
        self.extra: dict[str, Any] = extra or {}

    def __repr__(self) -> str:
        return f"<CloudStackNetwork: id={self.id}, name={self.name}, zoneid={self.zoneid}>"


class CloudStackAddress:
    """A public IP address of the account (Apache Libcloud's ``CloudStackAddress``)."""

    __slots__ = ("address", "associated_network_id", "driver", "id", "virtualmachine_id",
                 "vpc_id")

    def __init__(self, id: str, address: str, driver: CloudStackNodeDriver | None = None,
                 associated_network_id: str | None = None, vpc_id: str | None = None,
                 virtualmachine_id: str | None = None) -> None:
        self.id = id
        self.address = address
        self.driver = driver
        self.associated_network_id = associated_network_id
        self.vpc_id = vpc_id
        self.virtualmachine_id = virtualmachine_id

    def release(self) -> bool:
        """Release this address (``disassociateIpAddress``)."""
        return bound_driver(self.driver, "address").ex_release_public_ip(self)

    def __str__(self) -> str:
        return self.address

    def __repr__(self) -> str:
        return f"<CloudStackAddress: id={self.id}, address={self.address}>"


class CloudStackPortForwardingRule:
    """A port forwarding rule (Apache Libcloud's ``CloudStackPortForwardingRule``):
    traffic to ``address``'s ``public_port`` goes to the VM's ``private_port``.
    ``node`` is the node given when the rule was made (``None`` in listings;
    ``node_id`` names it)."""

    __slots__ = ("address", "id", "network_id", "node", "node_id", "private_end_port",
                 "private_port", "protocol", "public_end_port", "public_port")

    def __init__(self, node: Node | None, rule_id: str, address: CloudStackAddress | str,
                 protocol: str, public_port: int, private_port: int,
                 public_end_port: int | None = None, private_end_port: int | None = None,
                 network_id: str | None = None, node_id: str | None = None) -> None:
        self.node = node
        self.id = rule_id
        self.address = address
        self.protocol = protocol
        self.public_port = public_port
        self.private_port = private_port
        self.public_end_port = public_end_port
        self.private_end_port = private_end_port
        self.network_id = network_id
        self.node_id = node_id if node_id is not None else (node.id if node else None)

    def __repr__(self) -> str:
        return (f"<CloudStackPortForwardingRule: id={self.id}, {self.protocol} "
                f"{self.address}:{self.public_port} -> {self.node_id}:{self.private_port}>")


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:  # CloudStack's "2024-05-01T10:00:00+0000" (fromisoformat: 60x strptime's speed)
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _is_private(address: str) -> bool:
    """Whether ``address`` is in an RFC 1918 (or IPv6 unique local) range."""
    octets = address.split(".")
    if len(octets) == 4:  # IPv4, read by hand: ipaddress costs 5 µs a node in a listing
        try:
            a, b = int(octets[0]), int(octets[1])
        except ValueError:
            return False
        return a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168)
    try:
        return ipaddress.ip_address(address) in _UNIQUE_LOCAL
    except ValueError:
        return False


def _fingerprint(public_key: str) -> str | None:
    """The MD5 fingerprint CloudStack gives an OpenSSH public key; None if it is none."""
    parts = public_key.split()
    if len(parts) < 2:
        return None
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    digest = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _job_result(job: Mapping[str, Any]) -> dict[str, Any]:
    """What an async job answered (``jobresult``), or ``{}``."""
    result = job.get("jobresult")
    return dict(result) if isinstance(result, dict) else {}


class CloudStackNodeDriver(HttpApi, NodeDriver):
    """VMs, volumes, snapshots, key pairs, security groups, networks, public
    IPs and port forwarding on Apache CloudStack.

    ``key`` and ``secret`` are the user's API key and secret key. The API is
    at ``url`` (or ``endpoint=``), or ``http(s)://host[:port]`` + ``path``
    (default ``/client/api``) per ``secure``. ``page_size`` is the
    ``pagesize`` of listings (default 500, CloudStack's ``default.page.size``;
    a server whose admin lowered it refuses more). Async jobs are polled every
    ``poll_interval`` seconds, for ``wait_timeout`` seconds at most.
    ``signature_expires`` (seconds) makes every request a version 3 signature
    that expires that long after it is signed.
    """

    name: ClassVar[str] = "cloudstack"
    label: ClassVar[str] = "CloudStack"
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(AlreadyExists, says="already exists"),
        When(AlreadyExists, status=537),
        When(NotFound, status=431, says=("entity does not exist", "does not exist",
                                         "was not found", "unable to find")),
        When(InvalidInput, status=(430, 431, 536)),
        When(NotSupported, status=432),
        When(InvalidCredentials, status=531),
    )
    auth_kinds: ClassVar[tuple[type[NodeAuthSSHKey]]] = (NodeAuthSSHKey,)
    auth_hint: ClassVar[str] = (": CloudStack installs SSH keys only (auth=NodeAuthSSHKey); "
                                "it generates passwords itself")

    def __init__(self, key: str, secret: str | Secret | None = None, secure: bool = True,
                 host: str | None = None, path: str | None = None, port: int | None = None,
                 url: str | None = None, *, endpoint: str | None = None,
                 page_size: int = DEFAULT_PAGE_SIZE, poll_interval: float = 1.0,
                 wait_timeout: float = 600.0, signature_expires: float | None = None,
                 **options: Any) -> None:
        super().__init__(**options)
        if url is not None and endpoint is not None:
            raise InvalidInput("give url= or endpoint=, not both", driver=self)
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise InvalidInput(f"path must start with '/': {path!r}", driver=self)
        found = libcloud_endpoint(url if url is not None else endpoint, host, port, secure,
                                  path=path or DEFAULT_PATH, driver=self)
        if found is None:
            raise InvalidInput("CloudStack needs where its API is: url= (or host= and path=)",
                               driver=self)
        self.endpoint = found.rstrip("/") if urlsplit(found).path not in ("", "/") else \
            found.rstrip("/") + DEFAULT_PATH
        self.page_size = check_page_size(page_size, driver=self)
        self.poll_interval, self.wait_timeout = check_polling(poll_interval, wait_timeout,
                                                              driver=self)
        self._secret = Secret(secret or "")
        self._credentials = CloudStackCredentials(
            key if isinstance(key, str) else "", self._secret,
            None if signature_expires is None else float(signature_expires))

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint}

    # -- the wire ------------------------------------------------------------------------

    def _sign(self, request: Request, now: float) -> Request:
        """Sign every attempt of a request to the API (never another URL)."""
        if request.url != self.endpoint:
            return request
        return sign_request(request, self._credentials, now)

    def _fault(self, resp: Response) -> Fault:
        """``{"<command>response": {"errorcode", "cserrorcode", "errortext"}}``."""
        fault = super()._fault(resp)
        try:
            import json

            data = json.loads(resp.body)
        except ValueError:
            return fault
        inner = next(iter(data.values()), None) if isinstance(data, dict) and data else None
        if not isinstance(inner, dict) or ("errortext" not in inner and "errorcode" not in inner):
            return fault
        code = str(inner.get("errorcode") or resp.status)
        codes = {code}
        if inner.get("cserrorcode") is not None:
            codes.add(f"cs{inner['cserrorcode']}")
        return Fault(resp.status, code, str(inner.get("errortext") or ""), None,
                     frozenset(codes))

    def _call(self, command: str, params: Sequence[tuple[str, str]] = (), *,
              mutate: bool = False, form: Sequence[tuple[str, str]] = (), what: str = "",
              missing: type[NotFound] | None = None,
              exists: type[AlreadyExists] | None = None) -> Op[dict[str, Any]]:
        """Run ``command`` and return its ``<command>response`` object.

        ``mutate``: it changes something, so it is never sent twice blindly
        (a lost answer is :class:`~overcast.errors.OutcomeUnknown`). ``form``
        parameters go in a form body (``POST``)."""
        query = [("command", command), *params, ("response", "json")]
        if form:
            data = yield from self._json(
                "POST", "", params=query, body=urlencode(form).encode("ascii"),
                headers={"Content-Type": FORM}, idempotent=False, what=what, missing=missing,
                exists=exists)
        else:
            data = yield from self._json("GET", "", params=query, idempotent=not mutate,
                                         what=what, missing=missing, exists=exists)
        key = f"{command.lower()}response"
        answer = data.get(key) if isinstance(data, dict) else None
        if not isinstance(answer, dict):
            raise self._job_error(command, 530, f"the answer has no {key}: {str(data)[:200]}",
                                  Outcome(what))
        return answer

    def _job_error(self, command: str, errorcode: int, text: str,
                   outcome: Outcome) -> OvercastError:
        """The error for a failed job (or a malformed answer), from :attr:`errors`."""
        fault = Fault(errorcode, str(errorcode), redact_text(text, self._secrets()), None,
                      frozenset({str(errorcode)}))
        return self.errors.error(fault, outcome, label=self.label, method="GET",
                                 url=f"{self.endpoint} ({command})", headers={}, driver=self)

    def _await(self, command: str, params: Sequence[tuple[str, str]] = (), *,
               form: Sequence[tuple[str, str]] = (), what: str = "",
               missing: type[NotFound] | None = None,
               exists: type[AlreadyExists] | None = None) -> Op[dict[str, Any]]:
        """Run an async ``command`` and wait for its job; the job's ``jobresult``.

        Polls ``queryAsyncJobResult`` every :attr:`poll_interval` seconds (the
        runtime's ``Sleep``), :attr:`wait_timeout` seconds at most
        (OperationTimeout); a failed job raises its error, mapped."""
        started = yield from self._call(command, params, mutate=True, form=form, what=what,
                                        missing=missing, exists=exists)
        return (yield from self._wait_job(command, started, Outcome(what, missing, exists)))

    def _wait_job(self, command: str, started: Mapping[str, Any],
                  outcome: Outcome) -> Op[dict[str, Any]]:
        jobid = started.get("jobid")
        if not jobid:  # a command some servers run synchronously
            return dict(started)

        def look() -> Op[dict[str, Any]]:
            return (yield from self._call("queryAsyncJobResult", [("jobid", str(jobid))]))

        def ended(job: dict[str, Any]) -> bool:
            status = _int(job.get("jobstatus"))
            if status == 2:
                result = _job_result(job)
                code = _int(result.get("errorcode")) or _int(job.get("jobresultcode")) or 530
                raise self._job_error(command, code, str(result.get("errortext") or
                                                         f"job {jobid} failed"), outcome)
            return status == 1

        # The answer that started the job tells no status: the first look follows a pause.
        job = yield from poll(
            look, ended, current=dict(started), interval=self.poll_interval,
            timeout=self.wait_timeout, timed_out=lambda job: OperationTimeout(
                f"CloudStack job {jobid} ({command}) did not end within "
                f"{self.wait_timeout:g}s", driver=self))
        return _job_result(job)

    def _pages(self, command: str, key: str, convert: Callable[[Mapping[str, Any]], T],
               params: Sequence[tuple[str, str]] = (), *, what: str = "",
               missing: type[NotFound] | None = None) -> Iter[T]:
        """Every item of a listing, page by page, until the answer's ``count``.

        A page that begins with the item an earlier page began with (a server
        that ignores ``page`` answers page 1 again) is a ProviderError, not
        items listed twice."""
        size = self.page_size
        firsts: dict[str, int] = {}

        def fetch(cursor: Cursor | None) -> Op[Page[T]]:
            number = int(cursor or 1)
            data = yield from self._call(
                command, [*params, ("page", str(number)), ("pagesize", str(size))],
                what=what, missing=missing)
            raw = data.get(key) or ()
            first = raw[0].get("id") if raw and isinstance(raw[0], Mapping) else None
            if first is not None:
                if str(first) in firsts:
                    raise ProviderError(
                        f"{command}: page {number} begins with the item page "
                        f"{firsts[str(first)]} began with ({first}); the server ignores "
                        f"'page': stopping rather than listing items twice", driver=self)
                firsts[str(first)] = number
            items = [convert(item) for item in raw]
            count = _int(data.get("count")) or 0
            return Page.number(items, number, more=bool(items) and number * size < count)

        return paginate(fetch, first=1, what=f"{command} listing", driver=self)

    def _one(self, command: str, key: str, convert: Callable[[Mapping[str, Any]], T],
             params: Sequence[tuple[str, str]], what: str,
             missing: type[NotFound]) -> Op[T]:
        """The single item a filtered listing finds; ``missing`` if none."""
        data = yield from self._call(command, params, what=what, missing=missing)
        items = data.get(key) or []
        if not items:
            raise missing(what, f"{missing.kind} not found: {what!r}", driver=self)
        return convert(items[0])

    def _id(self, value: object, what: str) -> str:
        if not isinstance(value, str) or not value or value != value.strip() or "," in value:
            raise InvalidInput(f"{what} must be a CloudStack id: {value!r}", driver=self)
        return value

    def _new_since(self, listed: Iter[T], before: frozenset[str],
                   match: Callable[[T], bool]) -> Op[T | None]:
        """The first listed item not in ``before`` (ids) that ``match`` accepts."""
        return (yield from find_first(
            listed, lambda item: getattr(item, "id", None) not in before and match(item)))

    # -- sizes, images, locations ---------------------------------------------------------

    def _to_size(self, data: Mapping[str, Any]) -> NodeSize:
        return NodeSize(
            id=str(data["id"]), name=str(data.get("name") or data["id"]),
            ram=_int(data.get("memory")) or 0, disk=0, bandwidth=None, price=None, driver=self,
            extra={"cpu": data.get("cpunumber"), "cpuspeed": data.get("cpuspeed"),
                   "displaytext": data.get("displaytext"),
                   "storagetype": data.get("storagetype"),
                   "iscustomized": data.get("iscustomized")},
        )

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """Iterate over the service offerings (``listServiceOfferings``; ``price`` None)."""
        params = [] if location is None else [
            ("zoneid", self._expect(location, NodeLocation, "location").id)]
        yield from self._pages("listServiceOfferings", "serviceoffering", self._to_size, params)

    def _to_image(self, data: Mapping[str, Any]) -> NodeImage:
        return NodeImage(
            id=str(data["id"]), name=str(data.get("name") or data["id"]), driver=self,
            extra={"displaytext": data.get("displaytext"), "zoneid": data.get("zoneid"),
                   "ostypename": data.get("ostypename"), "ostypeid": data.get("ostypeid"),
                   "hypervisor": data.get("hypervisor"), "format": data.get("format"),
                   "size": data.get("size"), "isready": data.get("isready"),
                   "ispublic": data.get("ispublic"),
                   "passwordenabled": data.get("passwordenabled")},
        )

    @iterator
    def iterate_images(self, location: NodeLocation | None = None,
                       ex_template_filter: str = "executable") -> Iter[NodeImage]:
        """Iterate over the templates (``listTemplates``) that ``ex_template_filter``
        selects (``featured``, ``self``, ``selfexecutable``, ``sharedexecutable``,
        ``executable``, ``community``, ``all``), in ``location`` if given."""
        if not isinstance(ex_template_filter, str) or not ex_template_filter:
            raise InvalidInput(f"ex_template_filter must be a filter name: "
                               f"{ex_template_filter!r}", driver=self)
        params = [("templatefilter", ex_template_filter)]
        if location is not None:
            params.append(("zoneid", self._expect(location, NodeLocation, "location").id))
        yield from self._pages("listTemplates", "template", self._to_image, params)

    list_images = listing(iterate_images, "List the templates nodes can boot from "
                                          "(``ex_template_filter``, in ``location`` if given).")

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """Get a template by id (``listTemplates id=``); ImageNotFound if none."""
        checked = self._id(image_id, "image_id")
        return (yield from self._one("listTemplates", "template", self._to_image,
                                     [("templatefilter", "executable"), ("id", checked)],
                                     checked, ImageNotFound))

    def _to_location(self, data: Mapping[str, Any]) -> NodeLocation:
        return NodeLocation(
            id=str(data["id"]), name=str(data.get("name") or data["id"]), country=None,
            driver=self, extra={"networktype": data.get("networktype"),
                                "securitygroupsenabled": data.get("securitygroupsenabled"),
                                "allocationstate": data.get("allocationstate")},
        )

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """Iterate over the zones (``listZones``)."""
        yield from self._pages("listZones", "zone", self._to_location)

    def _first_zone(self) -> Op[str]:
        found = yield from find_first(self.iterate_locations.op(), lambda _: True)
        if found is None:
            raise InvalidInput("this CloudStack account sees no zone", driver=self)
        return found.id

    # -- nodes ----------------------------------------------------------------------------

    def _to_node(self, data: Mapping[str, Any]) -> Node:
        public: list[str] = []
        private: list[str] = []
        for nic in data.get("nic") or ():
            address = nic.get("ipaddress") if isinstance(nic, Mapping) else None
            if address:
                (private if _is_private(str(address)) else public).append(str(address))
        if data.get("publicip") and data["publicip"] not in public:
            public.append(str(data["publicip"]))
        extra: dict[str, Any] = {
            "zone_id": data.get("zoneid"), "zone_name": data.get("zonename"),
            "key_name": data.get("keypair"), "image_id": data.get("templateid"),
            "image_name": data.get("templatename"),
            "password_enabled": data.get("passwordenabled"),
            "size_id": data.get("serviceofferingid"),
            "size_name": data.get("serviceofferingname"),
            "hypervisor": data.get("hypervisor"), "project_id": data.get("projectid"),
            "displayname": data.get("displayname"), "state": data.get("state"),
            "security_group": [g.get("name") for g in data.get("securitygroup") or ()
                               if isinstance(g, Mapping)],
            "affinity_group": [g.get("id") for g in data.get("affinitygroup") or ()
                               if isinstance(g, Mapping)],
            "nics": list(data.get("nic") or ()), "created": data.get("created"),
            "tags": {t.get("key"): t.get("value") for t in data.get("tags") or ()
                     if isinstance(t, Mapping)},
        }
        if data.get("password"):
            extra["password"] = Secret(str(data["password"]))
        return Node(
            id=str(data["id"]), name=str(data.get("name") or data.get("displayname") or ""),
            state=NODE_STATES.get(str(data.get("state")), NodeState.UNKNOWN),
            public_ips=public, private_ips=private, driver=self, extra=extra,
            created_at=_moment(data.get("created")),
        )

    @iterator
    def iterate_nodes(self, project: Any = None,
                      location: NodeLocation | None = None) -> Iter[Node]:
        """Iterate over the account's VMs (``listVirtualMachines``), page by page;
        only those of ``project`` (an object with an ``id``, or an id) or in
        ``location`` when given (Libcloud's parameters)."""
        params = self._scope(project, location)
        yield from self._pages("listVirtualMachines", "virtualmachine", self._to_node, params)

    list_nodes = listing(iterate_nodes, "List the account's VMs (every page; of ``project`` "
                                        "or in ``location`` when given).")

    def _scope(self, project: Any, location: NodeLocation | None) -> list[tuple[str, str]]:
        params = []
        if project is not None:
            params.append(("projectid", self._id(getattr(project, "id", project), "project")))
        if location is not None:
            params.append(("zoneid", self._expect(location, NodeLocation, "location").id))
        return params

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """Get a VM by id (``listVirtualMachines id=``); NodeNotFound if none."""
        return (yield from self.ex_get_node.op(node_id))

    @operation
    def ex_get_node(self, node_id: str, project: Any = None) -> Op[Node]:
        """Apache Libcloud's name for :meth:`get_node` (in ``project``, if given)."""
        checked = self._id(node_id, "node_id")
        return (yield from self._one("listVirtualMachines", "virtualmachine", self._to_node,
                                     [("id", checked), *self._scope(project, None)], checked,
                                     NodeNotFound))

    @operation
    def create_node(self, name: str, size: NodeSize, image: NodeImage,
                    location: NodeLocation | None = None, auth: NodeAuth | None = None, *,
                    networks: Sequence[CloudStackNetwork | str] | None = None,
                    project: Any = None, diskoffering: Any = None,
                    ex_keyname: str | None = None, ex_userdata: str | bytes | None = None,
                    ex_security_groups: Sequence[str] | None = None,
                    ex_displayname: str | None = None, ex_ip_address: str | None = None,
                    ex_start_vm: bool = True, ex_rootdisksize: int | str | None = None,
                    ex_affinity_groups: Sequence[Any] | None = None) -> Op[Node]:
        """Deploy a VM (``deployVirtualMachine``), wait for its job and return it.

        ``location`` is a zone (default: the first zone). ``auth`` is an SSH key
        (:class:`NodeAuthSSHKey`), registered as a key pair if the account has
        none holding it; ``ex_keyname`` names a key pair instead. ``networks``
        are :class:`CloudStackNetwork` objects or ids; ``ex_security_groups``
        names; ``ex_userdata`` is sent base64-encoded (a form body past 2 KiB
        encoded; 32 KiB at most). ``ex_affinity_groups`` are groups (with an
        ``id``) or ids, ``diskoffering`` and ``project`` objects with an ``id``,
        or ids. Apache Libcloud's parameters, given by keyword here: its fifth
        positional is ``networks``, overcast's is ``auth``. ``ex_start_vm``
        defaults to True (the node is started, as ``create_node`` promises;
        Libcloud's default sends ``startvm=False``).
        """
        return (yield from self._create_node(
            name, size, image, location, auth, networks=networks, project=project,
            diskoffering=diskoffering, ex_keyname=ex_keyname, ex_userdata=ex_userdata,
            ex_security_groups=ex_security_groups, ex_displayname=ex_displayname,
            ex_ip_address=ex_ip_address, ex_start_vm=ex_start_vm,
            ex_rootdisksize=ex_rootdisksize, ex_affinity_groups=ex_affinity_groups,
        ))

    def _ids(self, values: object, what: str) -> list[str]:
        if values is None:
            return []
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise InvalidInput(f"{what} must be a list: {values!r}", driver=self)
        return [self._id(getattr(v, "id", v), what) for v in values]

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """Build the deploy's parameters from the options, checked."""
        o = spec.options
        params: list[tuple[str, str]] = [
            ("serviceofferingid", self._id(spec.size.id, "size id")),
            ("templateid", self._id(spec.image.id, "image id")),
            ("name", spec.name),
            ("displayname", o["ex_displayname"] if o["ex_displayname"] is not None
             else spec.name),
        ]
        if not isinstance(params[3][1], str) or not params[3][1]:
            raise InvalidInput("ex_displayname must be a non-empty string", driver=self)
        networks = self._ids(o["networks"], "networks")
        if networks:
            params.append(("networkids", ",".join(networks)))
        if o["project"] is not None:
            params.append(("projectid", self._id(getattr(o["project"], "id", o["project"]),
                                                 "project")))
        if o["diskoffering"] is not None:
            params.append(("diskofferingid",
                           self._id(getattr(o["diskoffering"], "id", o["diskoffering"]),
                                    "diskoffering")))
        if o["ex_keyname"] is not None:
            if isinstance(spec.auth, NodeAuthSSHKey):
                raise InvalidInput("give auth= or ex_keyname=, not both", driver=self)
            params.append(("keypair", self._id(o["ex_keyname"], "ex_keyname")))
        groups = o["ex_security_groups"]
        if groups is not None:
            if isinstance(groups, str) or not all(isinstance(g, str) and g and "," not in g
                                                  for g in groups):
                raise InvalidInput("ex_security_groups must be a list of group names",
                                   driver=self)
            if groups:
                params.append(("securitygroupnames", ",".join(groups)))
        if o["ex_ip_address"] is not None:
            try:
                params.append(("ipaddress", str(ipaddress.ip_address(o["ex_ip_address"]))))
            except ValueError:
                raise InvalidInput(f"ex_ip_address must be an IP address: "
                                   f"{o['ex_ip_address']!r}", driver=self) from None
        if not isinstance(o["ex_start_vm"], bool):
            raise InvalidInput("ex_start_vm must be True or False", driver=self)
        params.append(("startvm", _flag(o["ex_start_vm"])))
        root = o["ex_rootdisksize"]
        if root is not None:
            if isinstance(root, bool) or not str(root).isdigit() or int(root) < 1:
                raise InvalidInput(f"ex_rootdisksize must be a whole number of GiB: {root!r}",
                                   driver=self)
            params.append(("rootdisksize", str(int(root))))
        affinity = self._ids(o["ex_affinity_groups"], "ex_affinity_groups")
        if affinity:
            params.append(("affinitygroupids", ",".join(affinity)))
        form: list[tuple[str, str]] = []
        userdata = o["ex_userdata"]
        if userdata is not None:
            if not isinstance(userdata, str | bytes):
                raise InvalidInput("ex_userdata must be a string or bytes", driver=self)
            raw = userdata.encode("utf-8") if isinstance(userdata, str) else userdata
            encoded = base64.b64encode(raw).decode("ascii")
            if len(encoded) > MAX_USERDATA:
                raise InvalidInput(f"ex_userdata is {len(encoded)} bytes base64-encoded; "
                                   f"CloudStack takes {MAX_USERDATA} at most", driver=self)
            (form if len(encoded) > QUERY_USERDATA_LIMIT else params).append(
                ("userdata", encoded))
        location = spec.location.id if spec.location is not None else None
        return spec.but(params=params, form=form, zone=location)

    def _prepare_node(self, spec: NodeSpec) -> Op[NodeSpec]:
        """The zone (the first one unless given), the key pair holding ``auth``'s
        key, and the ids of the VMs already named like the new one."""
        zone = spec.options["zone"]
        if zone is None:
            zone = yield from self._first_zone()
        params = [*spec.options["params"], ("zoneid", zone)]
        if isinstance(spec.auth, NodeAuthSSHKey):
            key = yield from self._key_holding(spec.auth.pubkey)
            params.append(("keypair", key.name))
        before = yield from collect(self._named(spec.name))
        return spec.but(params=params, before=frozenset(n.id for n in before))

    def _named(self, name: str) -> Iter[Node]:
        return self._pages("listVirtualMachines", "virtualmachine", self._to_node,
                           [("name", name)])

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        result = yield from self._await("deployVirtualMachine", spec.options["params"],
                                        form=spec.options["form"], what=spec.name)
        return self._to_node(result["virtualmachine"])

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        """A VM named ``spec.name`` that was not there before this create was sent."""
        return (yield from self._new_since(self._named(spec.name), spec.options["before"],
                                           lambda node: node.name == spec.name))

    def _vm_job(self, command: str, node: Node,
                params: Sequence[tuple[str, str]] = ()) -> Op[bool]:
        node_id = self._id(self._expect(node, Node, "node").id, "node id")
        yield from self._await(command, [("id", node_id), *params], what=node_id,
                               missing=NodeNotFound)
        return True

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """``rebootVirtualMachine``, ``startVirtualMachine`` or
        ``stopVirtualMachine``, waiting for the job."""
        return self._vm_job(f"{change}VirtualMachine", node)

    @operation
    def destroy_node(self, node: Node, ex_expunge: bool = False) -> Op[bool]:
        """Destroy a VM (``destroyVirtualMachine``), waiting for the job; with
        ``ex_expunge`` it is expunged at once (else it stays listed,
        ``terminated``, until the server expunges it)."""
        if not isinstance(ex_expunge, bool):
            raise InvalidInput("ex_expunge must be True or False", driver=self)
        return (yield from self._vm_job("destroyVirtualMachine", node,
                                        [("expunge", "true")] if ex_expunge else []))

    # -- networks -------------------------------------------------------------------------

    def _to_network(self, data: Mapping[str, Any]) -> CloudStackNetwork:
        return CloudStackNetwork(
            str(data.get("displaytext") or ""), str(data.get("name") or ""),
            str(data.get("networkofferingid") or ""), str(data["id"]),
            str(data.get("zoneid") or ""), self,
            {k: v for k, v in data.items()
             if k not in ("displaytext", "name", "networkofferingid", "id", "zoneid")})

    @operation
    def ex_list_networks(self, project: Any = None) -> Op[list[CloudStackNetwork]]:
        """The guest networks the account can use (``listNetworks``, every page)."""
        return (yield from collect(self._pages("listNetworks", "network", self._to_network,
                                               self._scope(project, None))))

    # -- volumes and snapshots ------------------------------------------------------------

    def _to_volume(self, data: Mapping[str, Any]) -> StorageVolume:
        attached = data.get("virtualmachineid")
        raw_state = str(data.get("state") or "")
        if attached:
            state = StorageVolumeState.INUSE
        elif raw_state in ("Allocated", "Ready"):
            state = StorageVolumeState.AVAILABLE
        elif raw_state in ("Creating", "Allocating", "Uploaded", "Copying"):
            state = StorageVolumeState.CREATING
        elif raw_state in ("Destroy", "Expunging", "Expunged"):
            state = StorageVolumeState.DELETING
        else:
            state = StorageVolumeState.UNKNOWN
        size = _int(data.get("size")) or 0
        return StorageVolume(
            id=str(data["id"]), name=data.get("name"), size=size // 1024**3, driver=self,
            state=state, extra={"created": data.get("created"), "device_id": data.get("deviceid"),
                                "instance_id": attached, "state": raw_state,
                                "volume_type": data.get("type"), "zone_id": data.get("zoneid"),
                                "zone_name": data.get("zonename"),
                                "diskoffering_id": data.get("diskofferingid")})

    @iterator
    def iterate_volumes(self, node: Node | None = None) -> Iter[StorageVolume]:
        """Iterate over the account's volumes (``listVolumes``); those of ``node``
        if given."""
        params = [] if node is None else [
            ("virtualmachineid", self._id(self._expect(node, Node, "node").id, "node id"))]
        yield from self._pages("listVolumes", "volume", self._to_volume, params)

    list_volumes = listing(iterate_volumes, "List the account's volumes (those of ``node`` "
                                            "if given).")

    @operation
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """Get a volume by id (``listVolumes id=``); VolumeNotFound if none."""
        return (yield from self.ex_get_volume.op(volume_id))

    @operation
    def ex_get_volume(self, volume_id: str, project: Any = None) -> Op[StorageVolume]:
        """Apache Libcloud's name for :meth:`get_volume` (in ``project``, if given)."""
        checked = self._id(volume_id, "volume_id")
        return (yield from self._one("listVolumes", "volume", self._to_volume,
                                     [("id", checked), *self._scope(project, None)], checked,
                                     VolumeNotFound))

    @operation
    def ex_list_disk_offerings(self) -> Op[list[dict[str, Any]]]:
        """The disk offerings (``listDiskOfferings``, every page), as CloudStack gives them."""
        return (yield from collect(self._pages("listDiskOfferings", "diskoffering", dict)))

    @operation
    def create_volume(self, size: int, name: str, location: NodeLocation | None = None,
                      snapshot: VolumeSnapshot | None = None, *,
                      ex_volume_type: str | None = None) -> Op[StorageVolume]:
        """Create a data volume of ``size`` GiB (``createVolume``, job waited for)
        in ``location`` (default: the first zone), or from ``snapshot``.

        The disk offering is the one named ``ex_volume_type``, else one of
        exactly ``size`` GiB, else a customisable one (sent ``size``);
        InvalidInput if there is none. A lost answer is settled by looking
        for a new volume of that name."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(f"size must be a positive number of GiB: {size!r}", driver=self)
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"a volume name must be a non-empty string: {name!r}",
                               driver=self)
        params: list[tuple[str, str]] = [("name", name)]
        if snapshot is not None:
            params.append(("snapshotid", self._id(
                self._expect(snapshot, VolumeSnapshot, "snapshot").id, "snapshot id")))
        zone = None if location is None else self._expect(location, NodeLocation, "location").id
        if snapshot is None:
            offerings = yield from self.ex_list_disk_offerings.op()
            chosen = _disk_offering(offerings, size, ex_volume_type)
            if chosen is None:
                raise InvalidInput(
                    f"no disk offering {'named ' + repr(ex_volume_type) if ex_volume_type else ''}"
                    f" of {size} GiB or of a size of choice", driver=self)
            params.append(("diskofferingid", str(chosen["id"])))
            if chosen.get("iscustomized"):
                params.append(("size", str(size)))
            if zone is None:
                zone = yield from self._first_zone()
        if zone is not None:
            params.append(("zoneid", zone))
        before = frozenset(v.id for v in (yield from collect(self.iterate_volumes.op())))

        def send(token: str) -> Op[StorageVolume]:
            result = yield from self._await("createVolume", params, what=name)
            return self._to_volume(result["volume"])

        def find(token: str) -> Op[StorageVolume | None]:
            return (yield from self._new_since(self.iterate_volumes.op(), before,
                                               lambda v: v.name == name))

        return (yield from self._create(send, find))

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a (detached) volume (``deleteVolume``)."""
        volume_id = self._id(self._expect(volume, StorageVolume, "volume").id, "volume id")
        yield from self._call("deleteVolume", [("id", volume_id)], mutate=True, what=volume_id,
                              missing=VolumeNotFound)
        return True

    @operation
    def attach_volume(self, node: Node, volume: StorageVolume,
                      device: str | None = None) -> Op[bool]:
        """Attach a volume to a VM (``attachVolume``, job waited for); CloudStack
        chooses the device (``device`` is ignored, as in Libcloud)."""
        node_id = self._id(self._expect(node, Node, "node").id, "node id")
        volume_id = self._id(self._expect(volume, StorageVolume, "volume").id, "volume id")
        yield from self._await("attachVolume", [("id", volume_id),
                                                ("virtualmachineid", node_id)],
                               what=volume_id, missing=VolumeNotFound)
        return True

    @operation
    def detach_volume(self, volume: StorageVolume) -> Op[bool]:
        """Detach a volume from its VM (``detachVolume``, job waited for)."""
        volume_id = self._id(self._expect(volume, StorageVolume, "volume").id, "volume id")
        yield from self._await("detachVolume", [("id", volume_id)], what=volume_id,
                               missing=VolumeNotFound)
        return True

    def _to_snapshot(self, data: Mapping[str, Any]) -> VolumeSnapshot:
        return VolumeSnapshot(
            id=str(data["id"]), driver=self, size=None, created=_moment(data.get("created")),
            state=SNAPSHOT_STATES.get(str(data.get("state")), VolumeSnapshotState.UNKNOWN),
            name=data.get("name"),
            extra={"tags": data.get("tags"), "name": data.get("name"),
                   "volume_id": data.get("volumeid"), "state": data.get("state"),
                   "snapshottype": data.get("snapshottype")},
        )

    def _snapshots(self, params: Sequence[tuple[str, str]]) -> Iter[VolumeSnapshot]:
        return self._pages("listSnapshots", "snapshot", self._to_snapshot, params)

    @iterator
    def iterate_volume_snapshots(self, volume: StorageVolume) -> Iter[VolumeSnapshot]:
        """Iterate over a volume's snapshots (``listSnapshots volumeid=``)."""
        volume_id = self._id(self._expect(volume, StorageVolume, "volume").id, "volume id")
        yield from self._snapshots([("volumeid", volume_id)])

    @operation
    def list_snapshots(self) -> Op[list[VolumeSnapshot]]:
        """Every snapshot of the account (``listSnapshots``, every page)."""
        return (yield from collect(self._snapshots(())))

    @operation
    def get_volume_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """Get a snapshot by id (``listSnapshots id=``); SnapshotNotFound if none."""
        checked = self._id(snapshot_id, "snapshot_id")
        return (yield from self._one("listSnapshots", "snapshot", self._to_snapshot,
                                     [("id", checked)], checked, SnapshotNotFound))

    @operation
    def create_volume_snapshot(self, volume: StorageVolume,
                               name: str | None = None) -> Op[VolumeSnapshot]:
        """Snapshot a volume (``createSnapshot``, job waited for). A lost answer
        is settled by looking for a new snapshot of the volume (of that name)."""
        volume_id = self._id(self._expect(volume, StorageVolume, "volume").id, "volume id")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InvalidInput(f"a snapshot name must be a non-empty string: {name!r}",
                               driver=self)
        params = [("volumeid", volume_id)] + ([("name", name)] if name else [])
        listed = [("volumeid", volume_id)]
        before = frozenset(s.id for s in (yield from collect(self._snapshots(listed))))

        def send(token: str) -> Op[VolumeSnapshot]:
            result = yield from self._await("createSnapshot", params, what=volume_id,
                                            missing=VolumeNotFound)
            return self._to_snapshot(result["snapshot"])

        def find(token: str) -> Op[VolumeSnapshot | None]:
            return (yield from self._new_since(self._snapshots(listed), before,
                                               lambda s: name is None or s.name == name))

        return (yield from self._create(send, find))

    @operation
    def destroy_volume_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Delete a snapshot (``deleteSnapshot``, job waited for)."""
        snap_id = self._id(self._expect(snapshot, VolumeSnapshot, "snapshot").id,
                           "snapshot id")
        yield from self._await("deleteSnapshot", [("id", snap_id)], what=snap_id,
                               missing=SnapshotNotFound)
        return True

    # -- key pairs ------------------------------------------------------------------------

    def _to_key_pair(self, data: Mapping[str, Any]) -> KeyPair:
        return KeyPair(name=str(data.get("name") or ""), public_key=data.get("publickey"),
                       fingerprint=data.get("fingerprint"), driver=self,
                       private_key=data.get("privatekey"),
                       extra={k: data.get(k) for k in ("id", "account", "domainid", "domain")
                              if data.get(k) is not None})

    def _key_pairs(self, params: Sequence[tuple[str, str]] = ()) -> Iter[KeyPair]:
        return self._pages("listSSHKeyPairs", "sshkeypair", self._to_key_pair, params)

    @iterator
    def iterate_key_pairs(self) -> Iter[KeyPair]:
        """Iterate over the account's SSH key pairs (``listSSHKeyPairs``)."""
        yield from self._key_pairs()

    def _key_name(self, name: object) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"a key pair name must be a non-empty string: {name!r}",
                               driver=self)
        return name

    @operation
    def get_key_pair(self, name: str) -> Op[KeyPair]:
        """The key pair named ``name`` (``listSSHKeyPairs name=``); KeyPairNotFound if none."""
        checked = self._key_name(name)
        return (yield from self._one("listSSHKeyPairs", "sshkeypair", self._to_key_pair,
                                     [("name", checked)], checked, KeyPairNotFound))

    @operation
    def create_key_pair(self, name: str) -> Op[KeyPair]:
        """Have CloudStack generate a key pair (``createSSHKeyPair``); its
        ``private_key`` is in the answer only. KeyPairAlreadyExists if the name
        is taken; a lost answer is OutcomeUnknown (the private key cannot be
        fetched again)."""
        checked = self._key_name(name)
        data = yield from self._call("createSSHKeyPair", [("name", checked)], mutate=True,
                                     what=checked, exists=KeyPairAlreadyExists)
        return self._to_key_pair(data["keypair"])

    @operation
    def import_key_pair_from_string(self, name: str, key_material: str) -> Op[KeyPair]:
        """Register a public key as a key pair (``registerSSHKeyPair``);
        KeyPairAlreadyExists if the name (or the key) is taken. A lost answer
        is settled by looking the name up with the key's fingerprint."""
        checked = self._key_name(name)
        material = key_material.strip() if isinstance(key_material, str) else ""
        print_ = _fingerprint(material)
        if print_ is None:
            raise InvalidInput("key_material must be an OpenSSH public key", driver=self)

        def send(token: str) -> Op[KeyPair]:
            data = yield from self._call("registerSSHKeyPair",
                                         [("name", checked), ("publickey", material)],
                                         mutate=True, what=checked, exists=KeyPairAlreadyExists)
            found = self._to_key_pair(data["keypair"])
            found.public_key = found.public_key or material
            return found

        def find(token: str) -> Op[KeyPair | None]:
            return (yield from find_first(self._key_pairs([("name", checked)]),
                                          lambda k: k.fingerprint == print_))

        return (yield from self._create(send, find))

    def _key_holding(self, public_key: str) -> Op[KeyPair]:
        """The account's key pair holding ``public_key`` (by fingerprint), or a
        new one registered as ``overcast-<hash>``."""
        print_ = _fingerprint(public_key)
        if print_ is None:
            raise InvalidInput("auth must hold an OpenSSH public key", driver=self)
        found = yield from find_first(self._key_pairs([("fingerprint", print_)]),
                                      lambda k: k.fingerprint == print_)
        if found is not None:
            return found
        name = f"overcast-{hashlib.sha256(print_.encode()).hexdigest()[:20]}"
        return (yield from self.import_key_pair_from_string.op(name, public_key))

    @operation
    def delete_key_pair(self, key_pair: KeyPair) -> Op[bool]:
        """Delete a key pair (``deleteSSHKeyPair``); KeyPairNotFound if there is none."""
        name = self._key_name(self._expect(key_pair, KeyPair, "key_pair").name)
        yield from self._call("deleteSSHKeyPair", [("name", name)], mutate=True, what=name,
                              missing=KeyPairNotFound)
        return True

    # -- security groups ------------------------------------------------------------------

    @staticmethod
    def _extra_params(kwargs: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [(k.lower(), _flag(v) if isinstance(v, bool) else str(v))
                for k, v in kwargs.items() if v is not None]

    @operation
    def ex_list_security_groups(self, /, **kwargs: Any) -> Op[list[dict[str, Any]]]:
        """The account's security groups (``listSecurityGroups``, every page) as
        CloudStack gives them; keywords are the command's filters
        (``securitygroupname=``, ``id=``, ...)."""
        return (yield from collect(self._pages("listSecurityGroups", "securitygroup", dict,
                                               self._extra_params(kwargs))))

    @operation
    def ex_create_security_group(self, /, name: str, **kwargs: Any) -> Op[dict[str, Any]]:
        """Create a security group (``createSecurityGroup``; ``description=``
        and the command's other parameters as keywords); the group as
        CloudStack gives it. A lost answer is settled by looking the name up."""
        checked = self._key_name(name)
        params = [("name", checked), *self._extra_params(kwargs)]

        def send(token: str) -> Op[dict[str, Any]]:
            data = yield from self._call("createSecurityGroup", params, mutate=True,
                                         what=checked)
            return dict(data["securitygroup"])

        def find(token: str) -> Op[dict[str, Any] | None]:
            return (yield from find_first(
                self._pages("listSecurityGroups", "securitygroup", dict,
                            [("securitygroupname", checked)]),
                lambda g: g.get("name") == checked))

        return (yield from self._create(send, find))

    @operation
    def ex_delete_security_group(self, name: str) -> Op[bool]:
        """Delete the security group ``name`` (``deleteSecurityGroup``)."""
        checked = self._key_name(name)
        yield from self._call("deleteSecurityGroup", [("name", checked)], mutate=True,
                              what=checked, missing=SecurityGroupNotFound)
        return True

    @operation
    def ex_authorize_security_group_ingress(
            self, /, securitygroupname: str, protocol: str, cidrlist: str,
            startport: int | None = None, endport: int | None = None,
            icmptype: int | None = None, icmpcode: int | None = None,
            **kwargs: Any) -> Op[dict[str, Any]]:
        """Allow ``protocol`` (``tcp``, ``udp``, ``icmp``, ``all``) from
        ``cidrlist`` into a group (``authorizeSecurityGroupIngress``, job
        waited for): ports ``startport``..``endport`` (``endport`` defaults to
        ``startport``), or ICMP ``icmptype``/``icmpcode``. Returns the group."""
        group = self._key_name(securitygroupname)
        kind = protocol.lower() if isinstance(protocol, str) else ""
        if kind not in ("tcp", "udp", "icmp", "all"):
            raise InvalidInput(f"protocol must be tcp, udp, icmp or all: {protocol!r}",
                               driver=self)
        if not isinstance(cidrlist, str) or not cidrlist:
            raise InvalidInput(f"cidrlist must be CIDRs separated by commas: {cidrlist!r}",
                               driver=self)
        for cidr in cidrlist.split(","):
            try:
                ipaddress.ip_network(cidr.strip(), strict=False)
            except ValueError:
                raise InvalidInput(f"not a CIDR: {cidr!r}", driver=self) from None
        params = [("securitygroupname", group), ("protocol", kind), ("cidrlist", cidrlist)]
        if kind in ("tcp", "udp"):
            if startport is None:
                raise InvalidInput(f"a {kind} rule needs startport", driver=self)
            params += [("startport", str(_port(startport, self))),
                       ("endport", str(_port(startport if endport is None else endport,
                                             self)))]
        if kind == "icmp":
            params += [("icmptype", str(-1 if icmptype is None else int(icmptype))),
                       ("icmpcode", str(-1 if icmpcode is None else int(icmpcode)))]
        result = yield from self._await("authorizeSecurityGroupIngress",
                                        [*params, *self._extra_params(kwargs)], what=group,
                                        missing=SecurityGroupNotFound)
        return dict(result.get("securitygroup") or {})

    @operation
    def ex_revoke_security_group_ingress(self, rule_id: str) -> Op[bool]:
        """Remove an ingress rule by its ``ruleid`` (``revokeSecurityGroupIngress``)."""
        checked = self._id(rule_id, "rule_id")
        yield from self._await("revokeSecurityGroupIngress", [("id", checked)], what=checked)
        return True

    # -- public IPs and port forwarding ---------------------------------------------------

    def _to_address(self, data: Mapping[str, Any]) -> CloudStackAddress:
        return CloudStackAddress(str(data["id"]), str(data.get("ipaddress") or ""), self,
                                 data.get("associatednetworkid"), data.get("vpcid"),
                                 data.get("virtualmachineid"))

    @operation
    def ex_list_public_ips(self) -> Op[list[CloudStackAddress]]:
        """The account's public IP addresses (``listPublicIpAddresses``, every page)."""
        return (yield from collect(self._pages("listPublicIpAddresses", "publicipaddress",
                                               self._to_address)))

    @operation
    def ex_allocate_public_ip(self, vpc_id: str | None = None, network_id: str | None = None,
                              location: NodeLocation | None = None) -> Op[CloudStackAddress]:
        """Acquire a public IP (``associateIpAddress``, job waited for) for a
        VPC, a network or a zone (default: the first zone). Not reconciled
        when its answer is lost (an address has no name to find it by):
        OutcomeUnknown."""
        params: list[tuple[str, str]] = []
        if vpc_id is not None:
            params.append(("vpcid", self._id(vpc_id, "vpc_id")))
        if network_id is not None:
            params.append(("networkid", self._id(network_id, "network_id")))
        if location is not None:
            params.append(("zoneid", self._expect(location, NodeLocation, "location").id))
        if not params:
            params.append(("zoneid", (yield from self._first_zone())))
        result = yield from self._await("associateIpAddress", params)
        return self._to_address(result["ipaddress"])

    @operation
    def ex_release_public_ip(self, address: CloudStackAddress | str) -> Op[bool]:
        """Release a public IP (``disassociateIpAddress``, job waited for), given
        as a :class:`CloudStackAddress` or its id."""
        ip_id = self._id(getattr(address, "id", address), "address")
        yield from self._await("disassociateIpAddress", [("id", ip_id)], what=ip_id)
        return True

    def _to_rule(self, data: Mapping[str, Any], node: Node | None = None
                 ) -> CloudStackPortForwardingRule:
        address = CloudStackAddress(str(data.get("ipaddressid") or ""),
                                    str(data.get("ipaddress") or ""), self)
        return CloudStackPortForwardingRule(
            node, str(data["id"]), address, str(data.get("protocol") or ""),
            _int(data.get("publicport")) or 0, _int(data.get("privateport")) or 0,
            _int(data.get("publicendport")), _int(data.get("privateendport")),
            data.get("networkid"), node_id=data.get("virtualmachineid"))

    @operation
    def ex_create_port_forwarding_rule(
            self, node: Node, address: CloudStackAddress, private_port: int,
            public_port: int, protocol: str, public_end_port: int | None = None,
            private_end_port: int | None = None, openfirewall: bool = True,
            network_id: str | None = None) -> Op[CloudStackPortForwardingRule]:
        """Forward ``address``'s ``public_port`` (to ``public_end_port``) to the
        VM's ``private_port`` (``createPortForwardingRule``, job waited for).
        A lost answer is settled by looking the rule up on the address."""
        node_id = self._id(self._expect(node, Node, "node").id, "node id")
        ip_id = self._id(getattr(address, "id", address), "address")
        kind = protocol.lower() if isinstance(protocol, str) else ""
        if kind not in ("tcp", "udp"):
            raise InvalidInput(f"protocol must be tcp or udp: {protocol!r}", driver=self)
        params = [("ipaddressid", ip_id), ("privateport", str(_port(private_port, self))),
                  ("publicport", str(_port(public_port, self))), ("protocol", kind),
                  ("virtualmachineid", node_id), ("openfirewall", _flag(bool(openfirewall)))]
        if public_end_port is not None:
            params.append(("publicendport", str(_port(public_end_port, self))))
        if private_end_port is not None:
            params.append(("privateendport", str(_port(private_end_port, self))))
        if network_id is not None:
            params.append(("networkid", self._id(network_id, "network_id")))

        def rules() -> Iter[CloudStackPortForwardingRule]:
            return self._pages("listPortForwardingRules", "portforwardingrule",
                               lambda d: self._to_rule(d, node), [("ipaddressid", ip_id)])

        def send(token: str) -> Op[CloudStackPortForwardingRule]:
            result = yield from self._await("createPortForwardingRule", params, what=ip_id)
            return self._to_rule(result["portforwardingrule"], node)

        def find(token: str) -> Op[CloudStackPortForwardingRule | None]:
            return (yield from find_first(rules(), lambda r: r.protocol == kind and
                                          r.public_port == public_port and
                                          r.node_id == node_id))

        return (yield from self._create(send, find))

    @operation
    def ex_list_port_forwarding_rules(
            self, account: str | None = None, domain_id: str | None = None,
            id: str | None = None, ipaddress_id: str | None = None,
            is_recursive: bool | None = None, keyword: str | None = None,
            list_all: bool | None = None, network_id: str | None = None,
            page: int | None = None, page_size: int | None = None,
            project_id: str | None = None) -> Op[list[CloudStackPortForwardingRule]]:
        """Port forwarding rules (``listPortForwardingRules``), filtered as
        given; every page unless ``page`` asks for one (of ``page_size``)."""
        params = self._extra_params({
            "account": account, "domainid": domain_id, "id": id, "ipaddressid": ipaddress_id,
            "isrecursive": is_recursive, "keyword": keyword, "listall": list_all,
            "networkid": network_id, "projectid": project_id})
        if page is None:
            return (yield from collect(self._pages("listPortForwardingRules",
                                                   "portforwardingrule", self._to_rule,
                                                   params)))
        params += [("page", str(page)), ("pagesize", str(page_size or self.page_size))]
        data = yield from self._call("listPortForwardingRules", params)
        return [self._to_rule(item) for item in data.get("portforwardingrule") or ()]

    @operation
    def ex_delete_port_forwarding_rule(self, node: Node,
                                       rule: CloudStackPortForwardingRule) -> Op[bool]:
        """Delete a port forwarding rule (``deletePortForwardingRule``, job waited for)."""
        rule_id = self._id(getattr(rule, "id", rule), "rule")
        yield from self._await("deletePortForwardingRule", [("id", rule_id)], what=rule_id)
        return True

    # -- Libcloud's other names -----------------------------------------------------------

    ex_start = alias(NodeDriver.start_node, "Apache Libcloud's name for :meth:`start_node`.")
    ex_stop = alias(NodeDriver.stop_node, "Apache Libcloud's name for :meth:`stop_node`.")
    ex_import_keypair_from_string = alias(
        NodeDriver.import_key_pair_from_string,
        "Apache Libcloud's name for :meth:`import_key_pair_from_string`.")

    @operation
    def ex_list_keypairs(self, /, **kwargs: Any) -> Op[list[KeyPair]]:
        """The account's key pairs (``listSSHKeyPairs`` filtered by the keywords)."""
        return (yield from collect(self._key_pairs(self._extra_params(kwargs))))

    @operation
    def ex_delete_keypair(self, /, keypair: str, **kwargs: Any) -> Op[bool]:
        """Delete the key pair named ``keypair`` (Apache Libcloud's name)."""
        name = self._key_name(keypair)
        yield from self._call("deleteSSHKeyPair", [("name", name), *self._extra_params(kwargs)],
                              mutate=True, what=name, missing=KeyPairNotFound)
        return True


def _disk_offering(offerings: Sequence[Mapping[str, Any]], size: int,
                   named: str | None) -> Mapping[str, Any] | None:
    """The disk offering for a volume of ``size`` GiB: the one ``named``, else
    one of exactly that size, else a customisable one."""
    if named is not None:
        return next((o for o in offerings if o.get("name") == named), None)
    exact = next((o for o in offerings if not o.get("iscustomized")
                  and _int(o.get("disksize")) == size), None)
    return exact or next((o for o in offerings if o.get("iscustomized")), None)


def _port(value: object, driver: CloudStackNodeDriver) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() \
            or not 0 < int(value) < 65536:
        raise InvalidInput(f"a port is a number from 1 to 65535: {value!r}", driver=driver)
    return int(value)

