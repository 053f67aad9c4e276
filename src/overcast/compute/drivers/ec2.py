"""Amazon EC2: instances, instance types, images, availability zones, EBS volumes
and snapshots, key pairs and security groups (the EC2 Query API, 2016-11-15).

The driver speaks the Query API directly: ``Action=...&Version=2016-11-15``,
read-only ``Describe*`` calls as ``GET`` (their parameters in the query string)
and every change as a form-encoded ``POST``, all signed with AWS Signature V4
(:mod:`overcast.auth.aws_sigv4`, service ``ec2``, the driver's region).
Responses are parsed with :mod:`defusedxml`, matching tags by their local name
so the XML namespace string does not matter (moto's differs from AWS's).
List parameters are numbered from 1 (``InstanceId.1``, ``Filter.1.Name``,
``Filter.1.Value.1``, ``TagSpecification.1.Tag.1.Key``).

How the API maps onto overcast's model:

* :class:`~overcast.compute.base.NodeLocation` is an availability zone
  (``id`` and ``name`` are the zone name, ``us-east-1a``); sizes are instance
  types (``ram`` in MiB, ``disk`` the instance-store GiB, 0 for EBS-only
  types; vCPUs in ``extra["vcpus"]``; bandwidth and price are ``None``: the
  API does not say); images are AMIs; a node's name is its ``Name`` tag.
* Every listing follows ``NextToken`` page by page. ``page_size`` is the
  ``MaxResults`` asked for, capped at each action's maximum (AWS wants at
  least 5; moto accepts smaller pages, which the tests use).
* Creates are never made twice. ``RunInstances``, ``CreateVolume`` and
  ``CopyImage`` carry a unique ``ClientToken`` (AWS's idempotency field), and
  every create that takes tags is tagged ``overcast:token`` with the same
  token. The runtime never resends a create whose outcome is unknown
  (:class:`~overcast.errors.OutcomeUnknown`); the driver then looks the
  resource up by its token tag (key pairs, security groups and images also by
  name) and sends again only if nothing was made (moto ignores
  ``ClientToken``, so the tag is what makes this work there). A key pair whose
  create answer was lost is deleted and made again, since its private key is
  returned only once.
* Deletes whose outcome is unknown are checked: if the resource is gone, they
  succeeded. Boolean actions answer ``<return>true</return>`` on AWS and only
  a ``requestId`` on moto; both mean success.
* ``RequestLimitExceeded`` (HTTP 503 or 400) is throttling: the runtime retries
  it with backoff, whatever the action, as it does a 429.
* ``detach_volume`` reads the volume first and sends the ``InstanceId`` it is
  attached to (AWS may do without it; moto fails with a 500 if it is missing).

Security groups are ``ex_`` operations (:meth:`EC2NodeDriver.ex_list_security_groups`,
``ex_create_security_group``, ``ex_authorize_security_group_ingress``,
``ex_delete_security_group``), awaitable through :class:`EC2NodeDriverAsync`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import quote
from xml.etree.ElementTree import Element

from overcast.auth.aws_sigv4 import AwsCredentials, sign_request
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
    AlreadyExists,
    ImageNotFound,
    InvalidCredentials,
    InvalidInput,
    KeyPairAlreadyExists,
    KeyPairNotFound,
    NodeNotFound,
    NotFound,
    NotSupported,
    OutcomeUnknown,
    OvercastError,
    ProviderError,
    RateLimited,
    SizeNotFound,
    SnapshotNotFound,
    VolumeNotFound,
)
from overcast.runtime.effects import Call, Emit, Iter, Op, Request, Response
from overcast.runtime.operation import aio, iterator, operation
from overcast.runtime.ops import collect, create_once
from overcast.runtime.redact import Secret, redact_text
from overcast.xml import child as _child
from overcast.xml import local as _local
from overcast.xml import parse as _parse
from overcast.xml import path as _path
from overcast.xml import text as _xml_text

__all__ = [
    "API_VERSION",
    "TOKEN_TAG",
    "EC2NodeDriver",
    "EC2NodeDriverAsync",
    "SecurityGroup",
    "SecurityGroupNotFound",
]

T = TypeVar("T")

API_VERSION: Final = "2016-11-15"
#: The tag every create carries, with the request's unique token as its value.
TOKEN_TAG: Final = "overcast:token"
#: The largest page each paginated action accepts (``MaxResults``).
MAX_PAGE: Final = {
    "DescribeInstances": 1000,
    "DescribeInstanceTypes": 100,
    "DescribeInstanceTypeOfferings": 1000,
    "DescribeImages": 1000,
    "DescribeVolumes": 500,
    "DescribeSnapshots": 1000,
    "DescribeSecurityGroups": 1000,
}
DEFAULT_PAGE_SIZE: Final = 1000
#: How often a create whose outcome is unknown is looked up and sent again.
CREATE_ATTEMPTS: Final = 3
#: Error codes meaning "slow down": nothing was done, so any request may be resent.
THROTTLING_CODES: Final = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException"})
CREDENTIAL_CODES: Final = frozenset(
    {
        "AuthFailure",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "RequestExpired",
        "OptInRequired",
    }
)
_FORM: Final = "application/x-www-form-urlencoded; charset=utf-8"
#: Bodies larger than this are parsed in a worker thread when async.
_INLINE_PARSE_LIMIT: Final = 64 * 1024
#: EC2 tag values are at most 256 characters.
MAX_TAG_VALUE: Final = 256
MAX_USER_DATA: Final = 16 * 1024
#: Devices ``attach_volume`` picks from when none is given.
_ATTACH_DEVICES: Final = tuple(f"/dev/sd{c}" for c in "fghijklmnop")

_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d{1,2}\Z")
_RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IMAGE_NAME = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}\Z")

_NODE_STATES: Final = {
    "pending": NodeState.PENDING,
    "running": NodeState.RUNNING,
    "shutting-down": NodeState.STOPPING,
    "terminated": NodeState.TERMINATED,
    "stopping": NodeState.STOPPING,
    "stopped": NodeState.STOPPED,
}
_VOLUME_STATES: Final = {
    "creating": StorageVolumeState.CREATING,
    "available": StorageVolumeState.AVAILABLE,
    "in-use": StorageVolumeState.INUSE,
    "deleting": StorageVolumeState.DELETING,
    "deleted": StorageVolumeState.DELETED,
    "error": StorageVolumeState.ERROR,
}
_SNAPSHOT_STATES: Final = {
    "pending": VolumeSnapshotState.CREATING,
    "completed": VolumeSnapshotState.AVAILABLE,
    "error": VolumeSnapshotState.ERROR,
    "recoverable": VolumeSnapshotState.AVAILABLE,
    "recovering": VolumeSnapshotState.RESTORING,
}
#: Country of each region group (the first part of a region name).
_COUNTRIES: Final = {
    "us": "US", "ca": "CA", "sa": "BR", "mx": "MX", "af": "ZA", "il": "IL",
    "cn": "CN", "me": None, "ap": None, "eu": None,
}
_REGION_COUNTRIES: Final = {
    "eu-west-1": "IE", "eu-west-2": "GB", "eu-west-3": "FR", "eu-central-1": "DE",
    "eu-central-2": "CH", "eu-north-1": "SE", "eu-south-1": "IT", "eu-south-2": "ES",
    "ap-northeast-1": "JP", "ap-northeast-2": "KR", "ap-northeast-3": "JP",
    "ap-southeast-1": "SG", "ap-southeast-2": "AU", "ap-southeast-3": "ID",
    "ap-southeast-4": "AU", "ap-southeast-5": "MY", "ap-south-1": "IN", "ap-south-2": "IN",
    "ap-east-1": "HK", "me-south-1": "BH", "me-central-1": "AE",
}


# -- XML helpers --------------------------------------------------------------------


def _text(element: Element | None, *steps: str) -> str | None:
    return _xml_text(element, *steps, strip=True)


def _items(element: Element | None, *steps: str) -> list[Element]:
    """The ``<item>`` children of the set at ``steps``."""
    found = _path(element, *steps)
    if found is None:
        return []
    return [item for item in found if _local(item.tag) == "item"]


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _bool(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.lower() == "true"


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _tags(element: Element | None) -> dict[str, str]:
    return {
        _text(item, "key") or "": _text(item, "value") or ""
        for item in _items(element, "tagSet")
    }


def _return_value(root: Element) -> bool:
    """A boolean action's result: ``<return>`` if present (AWS), else True (moto
    answers success with only a ``requestId``)."""
    value = _text(root, "return")
    return True if value is None else value.lower() == "true"


# -- request parameters ------------------------------------------------------------------


Params = list[tuple[str, str]]


def _numbered(prefix: str, values: Iterable[str]) -> Params:
    """``prefix.1=a&prefix.2=b`` (EC2 lists start at 1)."""
    return [(f"{prefix}.{i}", str(v)) for i, v in enumerate(values, 1)]


def _filters(filters: Mapping[str, str | Sequence[str]] | None) -> Params:
    params: Params = []
    for i, (name, values) in enumerate((filters or {}).items(), 1):
        params.append((f"Filter.{i}.Name", name))
        listed = [values] if isinstance(values, str) else list(values)
        params.extend(_numbered(f"Filter.{i}.Value", listed))
    return params


def _tag_spec(index: int, resource_type: str, tags: Mapping[str, str]) -> Params:
    params: Params = [(f"TagSpecification.{index}.ResourceType", resource_type)]
    for i, (key, value) in enumerate(tags.items(), 1):
        params.append((f"TagSpecification.{index}.Tag.{i}.Key", key))
        params.append((f"TagSpecification.{index}.Tag.{i}.Value", value))
    return params


def _form(params: Sequence[tuple[str, str]]) -> bytes:
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params
    ).encode("utf-8")


def _new_token() -> str:
    return uuid.uuid4().hex


# -- models ------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class SecurityGroup:
    """An EC2 security group.

    ``ingress_rules`` and ``egress_rules`` are dicts with ``protocol``,
    ``from_port``, ``to_port``, ``cidr_ips`` and ``group_ids``. Equal when
    ``id`` and driver are.
    """

    id: str
    name: str
    description: str | None = None
    vpc_id: str | None = None
    owner_id: str | None = None
    ingress_rules: list[dict[str, Any]] = field(default_factory=list)
    egress_rules: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    driver: EC2NodeDriver | None = field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SecurityGroup)
            and other.id == self.id
            and other.driver is self.driver
        )

    def __hash__(self) -> int:
        return hash(("SecurityGroup", self.id))


class SecurityGroupNotFound(NotFound):
    """No security group with this id or name."""

    kind = "security group"


# -- the driver ----------------------------------------------------------------------------


class EC2NodeDriver(NodeDriver):
    """Amazon EC2 (Query API 2016-11-15, AWS Signature V4).

    ``key``, ``secret`` and ``token`` are the access key id, secret access key
    and optional session token; without them, credentials come from the
    environment or the shared credentials file (``profile``). ``region`` is the
    region every request goes to (``us-east-1`` by default). ``endpoint``
    points the driver elsewhere (moto, a VPC endpoint); by default it is
    ``https://ec2.<region>.amazonaws.com``. ``page_size`` is the ``MaxResults``
    of list requests (capped at each action's maximum). ``**options`` are the
    runtime options (``timeout``, ``retry``, ``hooks``, ...). No request is made
    here.

    >>> driver = EC2NodeDriver("AKIDEXAMPLE", "secret", region="eu-west-1")  # doctest: +SKIP
    >>> driver.list_nodes()  # doctest: +SKIP
    """

    name: ClassVar[str] = "ec2"
    aio: EC2NodeDriverAsync

    def __init__(
        self,
        key: str | None = None,
        secret: str | Secret | None = None,
        token: str | Secret | None = None,
        *,
        region: str = "us-east-1",
        profile: str | None = None,
        endpoint: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        **options: Any,
    ) -> None:
        if not isinstance(region, str) or not _REGION.match(region):
            raise InvalidInput(f"not an AWS region name: {region!r}", driver=self)
        self.region = region
        self._credentials = AwsCredentials.resolve(key, secret, token, profile=profile)
        if endpoint is None:
            suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
            endpoint = f"https://ec2.{region}.{suffix}"
        base = endpoint.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise InvalidInput(f"endpoint must be an http(s) URL: {base!r}", driver=self)
        self.endpoint = base
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= DEFAULT_PAGE_SIZE
        ):
            raise InvalidInput(
                f"page_size must be an integer from 1 to {DEFAULT_PAGE_SIZE}: {page_size!r}",
                driver=self,
            )
        self.page_size = page_size
        self._default_zone: str | None = None
        super().__init__(**options)

    # -- runtime hooks -------------------------------------------------------------------

    def _sign(self, request: Request, now: float) -> Request:
        """Sign one attempt with AWS Signature V4 (the driver's region, ``ec2``)."""
        return sign_request(request, self._credentials, self.region, "ec2", now)

    def _is_throttled(self, response: Response) -> bool:
        """EC2 says "slow down" with ``RequestLimitExceeded`` (HTTP 503, sometimes
        400); the runtime then retries the request with backoff, as a 429."""
        if response.status not in (400, 503):
            return False
        code, _message, _request_id = self._error_fields(response)
        return code in THROTTLING_CODES

    def _secrets(self) -> tuple[Secret, ...]:
        creds = self._credentials
        found = [creds.secret_key]
        if creds.session_token is not None:
            found.append(creds.session_token)
        return tuple(found)

    def _repr_fields(self) -> dict[str, object]:
        return {"region": self.region, "endpoint": self.endpoint}

    # -- requests ------------------------------------------------------------------------

    def _query(
        self,
        action: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        read: bool = False,
        idempotent: bool = False,
        resource: str = "",
    ) -> Op[Element]:
        """Send one API action; return the parsed answer or raise the mapped error.

        ``read`` actions (``Describe*``) go as ``GET``; the others as a
        form-encoded ``POST`` that the runtime resends only if ``idempotent``.
        ``resource`` names the resource for a not-found error.
        """
        pairs: Params = [("Action", action), ("Version", API_VERSION), *params]
        url = f"{self.endpoint}/"
        if read:
            request = Request("GET", url, {}, pairs)
        else:
            request = Request(
                "POST", url, {"Content-Type": _FORM}, (), _form(pairs), idempotent=idempotent
            )
        resp: Response = yield request
        if not resp.ok:
            raise self._error(resp, resource)
        if len(resp.body) > _INLINE_PARSE_LIMIT:
            root: Element | None = yield Call(_parse, resp.body)
        else:
            root = _parse(resp.body)
        if root is None:
            raise ProviderError(
                f"EC2 {action} answered with something that is not XML: {resp.text[:200]!r}",
                status=resp.status,
                driver=self,
            )
        return root

    def _error_fields(self, resp: Response) -> tuple[str | None, str, str | None]:
        """``(code, message, request id)`` of an error response, redacted."""
        root = _parse(resp.body)
        code: str | None = None
        message = ""
        request_id: str | None = None
        if root is not None:
            error = _path(root, "Errors", "Error")
            if error is None:
                error = _child(root, "Error")
            if error is not None:
                code = _text(error, "Code")
                message = _text(error, "Message") or ""
            request_id = _text(root, "RequestID") or _text(root, "RequestId")
        elif resp.body:
            message = resp.text[:300]
        request_id = request_id or resp.headers.get("x-amzn-RequestId")
        return code, redact_text(message, self._secrets()), request_id

    def _error(self, resp: Response, resource: str = "") -> OvercastError:
        """The overcast error for a failed response."""
        code, message, request_id = self._error_fields(resp)
        text = message or f"HTTP {resp.status}"
        code_text = code or ""
        not_found: dict[str, type[NotFound]] = {
            "InvalidInstanceID": NodeNotFound,
            "InvalidAMIID": ImageNotFound,
            "InvalidVolume": VolumeNotFound,
            "InvalidVolumeID": VolumeNotFound,
            "InvalidSnapshot": SnapshotNotFound,
            "InvalidSnapshotID": SnapshotNotFound,
            "InvalidKeyPair": KeyPairNotFound,
            "InvalidGroup": SecurityGroupNotFound,
            "InvalidGroupId": SecurityGroupNotFound,
        }
        family, _, detail = code_text.partition(".")
        if family in not_found and detail in ("NotFound", "Malformed", "Unavailable"):
            cls = not_found[family]
            return cls(resource, f"{cls.kind} not found: {resource or text!r} ({text})",
                       driver=self)
        if code_text == "InvalidInstanceType":
            return SizeNotFound(resource, f"size not found: {resource!r} ({text})", driver=self)
        if code_text == "InvalidKeyPair.Duplicate":
            return KeyPairAlreadyExists(resource, text, driver=self)
        if code_text in (
            "InvalidGroup.Duplicate", "InvalidAMIName.Duplicate", "InvalidPermission.Duplicate",
        ):
            return AlreadyExists(resource, text, driver=self)
        if code_text == "InvalidKeyPair.Format":
            return InvalidInput(f"EC2 refused the public key: {text}", driver=self)
        if code_text in THROTTLING_CODES:
            return RateLimited(f"EC2 throttled the request: {text}", driver=self)
        if code_text in CREDENTIAL_CODES or resp.status in (401, 403):
            return InvalidCredentials(
                f"EC2 rejected the credentials ({code or resp.status}): {text}", driver=self
            )
        return ProviderError(
            f"EC2 {resp.method} {resp.url} failed: {text}",
            status=resp.status,
            code=code,
            request_id=request_id,
            driver=self,
        )

    def _max(self, action: str) -> str:
        return str(min(self.page_size, MAX_PAGE.get(action, DEFAULT_PAGE_SIZE)))

    def _paged(
        self,
        action: str,
        params: Params,
        set_name: str,
        convert: Callable[[Element], Iterable[T]],
        *,
        paginate: bool = True,
    ) -> Iter[T]:
        """Emit ``convert(item)`` for each item of each page of ``action``
        (``MaxResults`` / ``NextToken``)."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = list(params)
            if paginate:
                page.append(("MaxResults", self._max(action)))
            if token:
                page.append(("NextToken", token))
            root = yield from self._query(action, page, read=True)
            for item in _items(root, set_name):
                for converted in convert(item):
                    yield Emit(converted)
            token = _text(root, "nextToken") or None
            if not token:
                return
            if token in seen:
                raise ProviderError(
                    f"EC2 {action} sent the same NextToken twice", driver=self
                )
            seen.add(token)

    # -- validation ------------------------------------------------------------------------

    def _check_id(self, value: object, error: type[NotFound]) -> str:
        """An id as text; the not-found error at once for text that cannot be one."""
        if not isinstance(value, str):
            raise InvalidInput(f"an id must be a string: {value!r}", driver=self)
        if not _RESOURCE_ID.match(value):
            raise error(value, driver=self)
        return value

    def _check_ref(self, what: str, value: object) -> str:
        """An id given as an option (subnet, VPC): InvalidInput if it cannot be one."""
        if not isinstance(value, str) or not _RESOURCE_ID.match(value):
            raise InvalidInput(f"{what} is not an EC2 id: {value!r}", driver=self)
        return value

    def _check_tag_value(self, what: str, value: object, *, empty: bool = False) -> str:
        if not isinstance(value, str):
            raise InvalidInput(f"{what} must be a string: {value!r}", driver=self)
        if not value and not empty:
            raise InvalidInput(f"{what} must not be empty", driver=self)
        if len(value) > MAX_TAG_VALUE:
            raise InvalidInput(
                f"{what} is longer than {MAX_TAG_VALUE} characters: {len(value)}", driver=self
            )
        if _CONTROL.search(value):
            raise InvalidInput(f"{what} must not contain control characters: {value!r}",
                               driver=self)
        return value

    def _check_key_name(self, name: object) -> str:
        if not isinstance(name, str) or not name or len(name) > 255:
            raise InvalidInput(f"a key pair name is 1 to 255 characters: {name!r}", driver=self)
        if not name.isascii() or _CONTROL.search(name):
            raise InvalidInput(
                f"a key pair name must be printable ASCII: {name!r}", driver=self
            )
        return name

    def _check_image_name(self, name: object) -> str:
        if not isinstance(name, str) or not _IMAGE_NAME.match(name):
            raise InvalidInput(
                "an image name is 3 to 128 letters, digits, spaces or ( ) [ ] . / - ' @ _: "
                f"{name!r}",
                driver=self,
            )
        return name

    def _check_region(self, region: object) -> str:
        if not isinstance(region, str) or not _REGION.match(region):
            raise InvalidInput(f"not an AWS region name: {region!r}", driver=self)
        return region

    # -- locations ----------------------------------------------------------------------------

    def _to_location(self, item: Element) -> NodeLocation:
        zone = _text(item, "zoneName") or ""
        region = _text(item, "regionName") or self.region
        country = _REGION_COUNTRIES.get(region) or _COUNTRIES.get(region.split("-", 1)[0])
        return NodeLocation(
            zone,
            zone,
            country,
            driver=self,
            extra={
                "zone_id": _text(item, "zoneId"),
                "region": region,
                "state": _text(item, "zoneState"),
                "zone_type": _text(item, "zoneType"),
            },
        )

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """The availability zones of the driver's region (``DescribeAvailabilityZones``)."""
        yield from self._paged(
            "DescribeAvailabilityZones", [], "availabilityZoneInfo",
            lambda item: [self._to_location(item)], paginate=False,
        )

    def _zone_for_create(self, location: NodeLocation | None) -> Op[str]:
        """The availability zone to create a volume in: ``location``, else the
        region's first available zone (looked up once)."""
        if location is not None:
            if not isinstance(location, NodeLocation):
                raise InvalidInput(
                    f"location must be a NodeLocation: {type(location).__name__}", driver=self
                )
            return location.id
        if self._default_zone is None:
            zones = yield from collect(self.iterate_locations.op())
            usable = [z for z in zones if z.extra.get("state") in (None, "", "available")]
            if not usable:
                raise ProviderError(
                    f"region {self.region} has no available availability zone", driver=self
                )
            self._default_zone = usable[0].id
        return self._default_zone

    # -- sizes ------------------------------------------------------------------------------------

    def _to_size(self, item: Element) -> NodeSize:
        type_name = _text(item, "instanceType") or ""
        ram = _int(_text(item, "memoryInfo", "sizeInMiB")) or 0
        disk = _int(_text(item, "instanceStorageInfo", "totalSizeInGB")) or 0
        extra: dict[str, Any] = {
            "vcpus": _int(_text(item, "vCpuInfo", "defaultVCpus")),
            "cores": _int(_text(item, "vCpuInfo", "defaultCores")),
            "architectures": [
                (a.text or "").strip()
                for a in _items(item, "processorInfo", "supportedArchitectures")
            ],
            "network_performance": _text(item, "networkInfo", "networkPerformance"),
            "current_generation": _bool(_text(item, "currentGeneration")),
            "free_tier_eligible": _bool(_text(item, "freeTierEligible")),
            "instance_storage": _bool(_text(item, "instanceStorageSupported")),
            "hypervisor": _text(item, "hypervisor"),
        }
        return NodeSize(type_name, type_name, ram, disk, None, None, driver=self, extra=extra)

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """The instance types of the region (``DescribeInstanceTypes``, page by
        page); with ``location``, only those offered in that availability zone."""
        offered: set[str] | None = None
        if location is not None:
            if not isinstance(location, NodeLocation):
                raise InvalidInput(
                    f"location must be a NodeLocation: {type(location).__name__}", driver=self
                )
            names = yield from collect(
                self._paged(
                    "DescribeInstanceTypeOfferings",
                    [("LocationType", "availability-zone"),
                     *_filters({"location": location.id})],
                    "instanceTypeOfferingSet",
                    lambda item: [_text(item, "instanceType") or ""],
                )
            )
            offered = set(names)
        wanted = offered

        def convert(item: Element) -> list[NodeSize]:
            size = self._to_size(item)
            return [size] if wanted is None or size.id in wanted else []

        yield from self._paged("DescribeInstanceTypes", [], "instanceTypeSet", convert)

    @operation
    def get_size(self, size_id: str) -> Op[NodeSize]:
        """An instance type by name (``t3.micro``); :class:`SizeNotFound` if there is none."""
        type_name = self._check_id(size_id, SizeNotFound)
        root = yield from self._query(
            "DescribeInstanceTypes", _numbered("InstanceType", [type_name]), read=True,
            resource=type_name,
        )
        for item in _items(root, "instanceTypeSet"):
            size = self._to_size(item)
            if size.id == type_name:
                return size
        raise SizeNotFound(type_name, driver=self)

    # -- images ------------------------------------------------------------------------------

    def _to_image(self, item: Element) -> NodeImage:
        image_id = _text(item, "imageId") or ""
        tags = _tags(item)
        devices = []
        for mapping in _items(item, "blockDeviceMapping"):
            devices.append(
                {
                    "device_name": _text(mapping, "deviceName"),
                    "snapshot_id": _text(mapping, "ebs", "snapshotId"),
                    "volume_size": _int(_text(mapping, "ebs", "volumeSize")),
                    "volume_type": _text(mapping, "ebs", "volumeType"),
                }
            )
        extra: dict[str, Any] = {
            "description": _text(item, "description"),
            "owner_id": _text(item, "imageOwnerId"),
            "owner_alias": _text(item, "imageOwnerAlias"),
            "state": _text(item, "imageState"),
            "architecture": _text(item, "architecture"),
            "platform": _text(item, "platform") or _text(item, "platformDetails"),
            "image_type": _text(item, "imageType"),
            "image_location": _text(item, "imageLocation"),
            "root_device_type": _text(item, "rootDeviceType"),
            "root_device_name": _text(item, "rootDeviceName"),
            "virtualization_type": _text(item, "virtualizationType"),
            "hypervisor": _text(item, "hypervisor"),
            "is_public": _bool(_text(item, "isPublic")),
            "created": _text(item, "creationDate"),
            "block_device_mapping": devices,
            "tags": tags,
        }
        return NodeImage(image_id, _text(item, "name") or tags.get("Name") or image_id,
                         driver=self, extra=extra)

    @staticmethod
    def _image_params(
        owners: Sequence[str] | None, filters: Mapping[str, str | Sequence[str]] | None
    ) -> Params:
        if isinstance(owners, str):
            owners = [owners]
        return [*_numbered("Owner", owners or ()), *_filters(filters)]

    @iterator
    def iterate_images(
        self,
        location: NodeLocation | None = None,
        *,
        ex_owners: Sequence[str] | None = None,
        ex_filters: Mapping[str, str | Sequence[str]] | None = None,
    ) -> Iter[NodeImage]:
        """The AMIs of the region (``DescribeImages``, page by page).

        Without arguments this is every image the account may launch (on AWS,
        tens of thousands of public images): narrow it with ``ex_owners``
        (``["self"]``, ``["amazon"]``, account ids) and ``ex_filters``
        (``{"name": "ubuntu/*", "architecture": "x86_64"}``). ``location`` is
        ignored: images belong to a region, not a zone.
        """
        params = self._image_params(ex_owners, ex_filters)
        yield from self._paged(
            "DescribeImages", params, "imagesSet", lambda item: [self._to_image(item)]
        )

    @operation
    def list_images(
        self,
        location: NodeLocation | None = None,
        *,
        ex_owners: Sequence[str] | None = None,
        ex_filters: Mapping[str, str | Sequence[str]] | None = None,
    ) -> Op[list[NodeImage]]:
        """Every image :meth:`iterate_images` emits (same arguments)."""
        return (
            yield from collect(
                self.iterate_images.op(location, ex_owners=ex_owners, ex_filters=ex_filters)
            )
        )

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """An AMI by id; :class:`~overcast.errors.ImageNotFound` if there is none."""
        checked = self._check_id(image_id, ImageNotFound)
        root = yield from self._query(
            "DescribeImages", _numbered("ImageId", [checked]), read=True, resource=checked
        )
        for item in _items(root, "imagesSet"):
            image = self._to_image(item)
            if image.id == checked:
                return image
        raise ImageNotFound(checked, driver=self)

    def _image_named(self, name: str) -> Op[NodeImage | None]:
        """The account's own image called ``name`` (image names are unique per
        account and region), or None."""
        params = self._image_params(["self"], {"name": name})
        images = yield from collect(
            self._paged("DescribeImages", params, "imagesSet",
                        lambda item: [self._to_image(item)])
        )
        return next((i for i in images if i.name == name), None)

    @operation
    def create_image(
        self,
        node: Node,
        name: str,
        description: str | None = None,
        *,
        ex_no_reboot: bool = False,
    ) -> Op[NodeImage]:
        """Make an AMI from a node (``CreateImage``); returned at once, usually
        still ``pending`` (``extra["state"]``). ``ex_no_reboot`` skips the
        reboot EC2 does for a consistent disk."""
        if not isinstance(node, Node):
            raise InvalidInput(f"node must be a Node: {type(node).__name__}", driver=self)
        node_id = self._check_id(node.id, NodeNotFound)
        image_name = self._check_image_name(name)
        if description is not None:
            self._check_tag_value("description", description, empty=True)
        token = _new_token()
        params: Params = [("InstanceId", node_id), ("Name", image_name)]
        if description is not None:
            params.append(("Description", description))
        if ex_no_reboot:
            params.append(("NoReboot", "true"))
        params.extend(_tag_spec(1, "image", {TOKEN_TAG: token}))

        def made(image_id: str) -> NodeImage:
            return NodeImage(
                image_id, image_name, driver=self,
                extra={"description": description, "state": "pending",
                       "instance_id": node_id, "tags": {TOKEN_TAG: token}},
            )

        def send() -> Op[NodeImage]:
            root = yield from self._query("CreateImage", params, resource=node_id)
            return made(_text(root, "imageId") or "")

        def find() -> Op[NodeImage | None]:
            return (yield from self._image_named(image_name))

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def delete_image(self, node_image: NodeImage) -> Op[bool]:
        """Deregister an AMI (``DeregisterImage``); its snapshots stay."""
        if not isinstance(node_image, NodeImage):
            raise InvalidInput(
                f"node_image must be a NodeImage: {type(node_image).__name__}", driver=self
            )
        image_id = self._check_id(node_image.id, ImageNotFound)
        return (
            yield from self._remove(
                "DeregisterImage", [("ImageId", image_id)], image_id,
                lambda: self._exists(self.get_image.op(image_id), ImageNotFound),
            )
        )

    @operation
    def copy_image(
        self,
        source_region: str,
        node_image: NodeImage,
        name: str,
        description: str | None = None,
    ) -> Op[NodeImage]:
        """Copy an AMI from ``source_region`` into the driver's region
        (``CopyImage``); returned at once, usually still ``pending``."""
        region = self._check_region(source_region)
        if not isinstance(node_image, NodeImage):
            raise InvalidInput(
                f"node_image must be a NodeImage: {type(node_image).__name__}", driver=self
            )
        source_id = self._check_id(node_image.id, ImageNotFound)
        image_name = self._check_image_name(name)
        if description is not None:
            self._check_tag_value("description", description, empty=True)
        token = _new_token()
        params: Params = [
            ("SourceRegion", region),
            ("SourceImageId", source_id),
            ("Name", image_name),
            ("ClientToken", token),
        ]
        if description is not None:
            params.append(("Description", description))

        def send() -> Op[NodeImage]:
            root = yield from self._query("CopyImage", params, resource=source_id)
            return NodeImage(
                _text(root, "imageId") or "", image_name, driver=self,
                extra={"description": description, "state": "pending",
                       "source_image_id": source_id, "source_region": region},
            )

        def find() -> Op[NodeImage | None]:
            return (yield from self._image_named(image_name))

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    # -- nodes ----------------------------------------------------------------------------------

    def _to_node(self, item: Element, reservation: Element | None = None) -> Node:
        instance_id = _text(item, "instanceId") or ""
        tags = _tags(item)
        state_name = _text(item, "instanceState", "name") or ""
        public = [ip for ip in [_text(item, "ipAddress")] if ip]
        private = [ip for ip in [_text(item, "privateIpAddress")] if ip]
        ipv6 = [
            _text(address, "ipv6Address") or ""
            for interface in _items(item, "networkInterfaceSet")
            for address in _items(interface, "ipv6AddressesSet")
        ]
        groups = [
            {"group_id": _text(g, "groupId"), "group_name": _text(g, "groupName")}
            for g in _items(item, "groupSet")
        ]
        extra: dict[str, Any] = {
            "instance_type": _text(item, "instanceType"),
            "image_id": _text(item, "imageId"),
            "availability_zone": _text(item, "placement", "availabilityZone"),
            "key_name": _text(item, "keyName"),
            "launch_time": _text(item, "launchTime"),
            "state": state_name,
            "state_code": _int(_text(item, "instanceState", "code")),
            "private_dns": _text(item, "privateDnsName"),
            "public_dns": _text(item, "dnsName"),
            "subnet_id": _text(item, "subnetId"),
            "vpc_id": _text(item, "vpcId"),
            "architecture": _text(item, "architecture"),
            "platform": _text(item, "platform"),
            "root_device_type": _text(item, "rootDeviceType"),
            "root_device_name": _text(item, "rootDeviceName"),
            "block_device_mapping": [
                {"device_name": _text(m, "deviceName"), "volume_id": _text(m, "ebs", "volumeId")}
                for m in _items(item, "blockDeviceMapping")
            ],
            "security_groups": groups,
            "ipv6_addresses": [a for a in ipv6 if a],
            "client_token": _text(item, "clientToken"),
            "tags": tags,
        }
        if reservation is not None:
            extra["reservation_id"] = _text(reservation, "reservationId")
            extra["owner_id"] = _text(reservation, "ownerId")
        return Node(
            instance_id,
            tags.get("Name") or instance_id,
            _NODE_STATES.get(state_name, NodeState.UNKNOWN),
            public,
            private,
            driver=self,
            extra=extra,
            created_at=_time(_text(item, "launchTime")),
        )

    def _reservation_nodes(self, reservation: Element) -> list[Node]:
        return [self._to_node(item, reservation) for item in _items(reservation, "instancesSet")]

    def _nodes_where(self, filters: Mapping[str, str | Sequence[str]]) -> Op[list[Node]]:
        return (
            yield from collect(
                self._paged("DescribeInstances", _filters(filters), "reservationSet",
                            self._reservation_nodes)
            )
        )

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        """Every instance of the region, terminated ones included while EC2
        still lists them (``DescribeInstances``, ``page_size`` reservations a page)."""
        yield from self._paged("DescribeInstances", [], "reservationSet", self._reservation_nodes)

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """An instance by id; :class:`~overcast.errors.NodeNotFound` if there is none."""
        checked = self._check_id(node_id, NodeNotFound)
        root = yield from self._query(
            "DescribeInstances", _numbered("InstanceId", [checked]), read=True, resource=checked
        )
        for reservation in _items(root, "reservationSet"):
            for node in self._reservation_nodes(reservation):
                if node.id == checked:
                    return node
        raise NodeNotFound(checked, driver=self)

    def _key_for(self, auth: NodeAuthSSHKey) -> Op[str]:
        """The name of a key pair holding ``auth.pubkey``, imported if needed
        (named ``overcast-<hash of the key>``, so the same key is imported once)."""
        pubkey = auth.pubkey.strip() if isinstance(auth.pubkey, str) else ""
        parts = pubkey.split()
        if len(parts) < 2:
            raise InvalidInput("auth.pubkey must be an OpenSSH public key", driver=self)
        name = "overcast-" + hashlib.sha256(parts[1].encode("ascii", "replace")).hexdigest()[:24]
        try:
            yield from self.get_key_pair.op(name)
        except KeyPairNotFound:
            # Imported meanwhile by someone else: the same key, so that is fine.
            with contextlib.suppress(KeyPairAlreadyExists):
                yield from self.import_key_pair_from_string.op(name, pubkey)
        return name

    @operation
    def create_node(
        self,
        name: str,
        size: NodeSize,
        image: NodeImage,
        location: NodeLocation | None = None,
        auth: NodeAuth | None = None,
        *,
        ex_keyname: str | None = None,
        ex_security_groups: Sequence[str] | None = None,
        ex_security_group_ids: Sequence[str] | None = None,
        ex_subnet_id: str | None = None,
        ex_userdata: str | bytes | None = None,
        ex_tags: Mapping[str, str] | None = None,
    ) -> Op[Node]:
        """Launch one instance (``RunInstances``); returned at once, ``pending``.

        ``name`` becomes the ``Name`` tag. ``location`` is an availability zone
        (default: EC2 picks). ``auth`` (:class:`NodeAuthSSHKey`) installs a
        public key through a key pair named after it, imported if needed;
        ``ex_keyname`` names an existing key pair instead. Passwords are not
        supported. ``ex_security_groups`` are group names (default VPC),
        ``ex_security_group_ids`` group ids, ``ex_subnet_id`` the subnet,
        ``ex_userdata`` the user data (at most 16 KiB) and ``ex_tags`` more tags.
        """
        node_name = self._check_tag_value("node name", name)
        if not isinstance(size, NodeSize):
            raise InvalidInput(f"size must be a NodeSize: {type(size).__name__}", driver=self)
        if not isinstance(image, NodeImage):
            raise InvalidInput(f"image must be a NodeImage: {type(image).__name__}", driver=self)
        if location is not None and not isinstance(location, NodeLocation):
            raise InvalidInput(
                f"location must be a NodeLocation: {type(location).__name__}", driver=self
            )
        if isinstance(auth, NodeAuthPassword):
            raise NotSupported(
                "EC2 cannot set a login password; use NodeAuthSSHKey or ex_keyname", driver=self
            )
        if auth is not None and not isinstance(auth, NodeAuthSSHKey):
            raise InvalidInput(f"auth must be a NodeAuthSSHKey: {type(auth).__name__}",
                               driver=self)
        if auth is not None and ex_keyname is not None:
            raise InvalidInput("give auth or ex_keyname, not both", driver=self)
        if ex_keyname is not None:
            self._check_key_name(ex_keyname)
        tags: dict[str, str] = {}
        for key, value in (ex_tags or {}).items():
            if not isinstance(key, str) or not key or len(key) > 128 or key.startswith("aws:"):
                raise InvalidInput(f"invalid tag key: {key!r}", driver=self)
            tags[key] = self._check_tag_value(f"tag {key!r}", value, empty=True)
        user_data: bytes | None = None
        if ex_userdata is not None:
            if not isinstance(ex_userdata, str | bytes):
                raise InvalidInput("ex_userdata must be str or bytes", driver=self)
            user_data = (
                ex_userdata.encode("utf-8") if isinstance(ex_userdata, str) else ex_userdata
            )
            if len(user_data) > MAX_USER_DATA:
                raise InvalidInput(
                    f"ex_userdata is larger than {MAX_USER_DATA} bytes: {len(user_data)}",
                    driver=self,
                )
        for group in [*(ex_security_groups or ()), *(ex_security_group_ids or ())]:
            if not isinstance(group, str) or not group:
                raise InvalidInput(f"invalid security group: {group!r}", driver=self)
        if ex_subnet_id is not None:
            self._check_ref("ex_subnet_id", ex_subnet_id)

        key_name = ex_keyname
        if isinstance(auth, NodeAuthSSHKey):
            key_name = yield from self._key_for(auth)

        token = _new_token()
        params: Params = [
            ("ImageId", image.id),
            ("InstanceType", size.id),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("ClientToken", token),
        ]
        if location is not None:
            params.append(("Placement.AvailabilityZone", location.id))
        if key_name is not None:
            params.append(("KeyName", key_name))
        params.extend(_numbered("SecurityGroup", ex_security_groups or ()))
        params.extend(_numbered("SecurityGroupId", ex_security_group_ids or ()))
        if ex_subnet_id is not None:
            params.append(("SubnetId", ex_subnet_id))
        if user_data is not None:
            params.append(("UserData", base64.b64encode(user_data).decode("ascii")))
        all_tags = {**tags, "Name": node_name, TOKEN_TAG: token}
        params.extend(_tag_spec(1, "instance", all_tags))

        def send() -> Op[Node]:
            root = yield from self._query("RunInstances", params, resource=image.id)
            nodes = self._reservation_nodes(root)
            if not nodes:
                raise ProviderError("RunInstances answered without an instance", driver=self)
            node = nodes[0]
            node.name = node_name
            node.extra["tags"] = {**all_tags, **node.extra["tags"]}
            return node

        def find() -> Op[Node | None]:
            found = yield from self._nodes_where({f"tag:{TOKEN_TAG}": token})
            return found[0] if found else None

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    def _instance_action(self, action: str, node: Node) -> Op[bool]:
        if not isinstance(node, Node):
            raise InvalidInput(f"node must be a Node: {type(node).__name__}", driver=self)
        node_id = self._check_id(node.id, NodeNotFound)
        root = yield from self._query(
            action, _numbered("InstanceId", [node_id]), idempotent=True, resource=node_id
        )
        return _return_value(root)

    @operation
    def reboot_node(self, node: Node) -> Op[bool]:
        """Reboot an instance (``RebootInstances``)."""
        return (yield from self._instance_action("RebootInstances", node))

    @operation
    def start_node(self, node: Node) -> Op[bool]:
        """Start a stopped (EBS-backed) instance (``StartInstances``)."""
        return (yield from self._instance_action("StartInstances", node))

    @operation
    def stop_node(self, node: Node) -> Op[bool]:
        """Stop an (EBS-backed) instance without terminating it (``StopInstances``)."""
        return (yield from self._instance_action("StopInstances", node))

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        """Terminate an instance (``TerminateInstances``; safe to repeat)."""
        return (yield from self._instance_action("TerminateInstances", node))

    # -- deletes whose outcome may be unknown ------------------------------------------------

    def _exists(self, lookup: Op[object], missing: type[NotFound]) -> Op[bool]:
        try:
            yield from lookup
        except missing:
            return False
        return True

    def _remove(
        self,
        action: str,
        params: Params,
        resource: str,
        still_there: Callable[[], Op[bool]],
    ) -> Op[bool]:
        """Send a delete; if its outcome is unknown, it succeeded if the resource is gone."""
        try:
            root = yield from self._query(action, params, resource=resource)
        except OutcomeUnknown:
            if (yield from still_there()):
                raise
            return True
        return _return_value(root)

    # -- volumes ---------------------------------------------------------------------------------

    def _to_volume(self, item: Element) -> StorageVolume:
        tags = _tags(item)
        attachments = [
            {
                "instance_id": _text(a, "instanceId"),
                "device": _text(a, "device"),
                "state": _text(a, "status"),
                "attach_time": _text(a, "attachTime"),
            }
            for a in _items(item, "attachmentSet")
        ]
        status = _text(item, "status") or ""
        extra: dict[str, Any] = {
            "availability_zone": _text(item, "availabilityZone"),
            "volume_type": _text(item, "volumeType"),
            "snapshot_id": _text(item, "snapshotId") or None,
            "iops": _int(_text(item, "iops")),
            "throughput": _int(_text(item, "throughput")),
            "encrypted": _bool(_text(item, "encrypted")),
            "create_time": _text(item, "createTime"),
            "attachments": attachments,
            "instance_id": attachments[0]["instance_id"] if attachments else None,
            "device": attachments[0]["device"] if attachments else None,
            "state": status,
            "tags": tags,
        }
        return StorageVolume(
            _text(item, "volumeId") or "",
            tags.get("Name"),
            _int(_text(item, "size")) or 0,
            driver=self,
            state=_VOLUME_STATES.get(status, StorageVolumeState.UNKNOWN),
            extra=extra,
        )

    @iterator
    def iterate_volumes(self) -> Iter[StorageVolume]:
        """Every EBS volume of the region (``DescribeVolumes``, page by page)."""
        yield from self._paged(
            "DescribeVolumes", [], "volumeSet", lambda item: [self._to_volume(item)]
        )

    @operation
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """A volume by id; :class:`~overcast.errors.VolumeNotFound` if there is none."""
        checked = self._check_id(volume_id, VolumeNotFound)
        root = yield from self._query(
            "DescribeVolumes", _numbered("VolumeId", [checked]), read=True, resource=checked
        )
        for item in _items(root, "volumeSet"):
            volume = self._to_volume(item)
            if volume.id == checked:
                return volume
        raise VolumeNotFound(checked, driver=self)

    @operation
    def create_volume(
        self,
        size: int,
        name: str,
        location: NodeLocation | None = None,
        snapshot: VolumeSnapshot | None = None,
        *,
        ex_volume_type: str | None = None,
        ex_iops: int | None = None,
        ex_encrypted: bool | None = None,
    ) -> Op[StorageVolume]:
        """Create an EBS volume of ``size`` GiB named ``name`` (its ``Name`` tag)
        in availability zone ``location`` (default: the region's first zone),
        from ``snapshot`` if given (``CreateVolume``)."""
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 65536:
            raise InvalidInput(f"size must be 1 to 65536 GiB: {size!r}", driver=self)
        volume_name = self._check_tag_value("volume name", name)
        if snapshot is not None and not isinstance(snapshot, VolumeSnapshot):
            raise InvalidInput(
                f"snapshot must be a VolumeSnapshot: {type(snapshot).__name__}", driver=self
            )
        if ex_iops is not None and (isinstance(ex_iops, bool) or not isinstance(ex_iops, int)):
            raise InvalidInput(f"ex_iops must be an integer: {ex_iops!r}", driver=self)
        zone = yield from self._zone_for_create(location)
        token = _new_token()
        params: Params = [
            ("Size", str(size)),
            ("AvailabilityZone", zone),
            ("ClientToken", token),
        ]
        if snapshot is not None:
            params.append(("SnapshotId", self._check_id(snapshot.id, SnapshotNotFound)))
        if ex_volume_type is not None:
            params.append(("VolumeType", ex_volume_type))
        if ex_iops is not None:
            params.append(("Iops", str(ex_iops)))
        if ex_encrypted is not None:
            params.append(("Encrypted", "true" if ex_encrypted else "false"))
        params.extend(_tag_spec(1, "volume", {"Name": volume_name, TOKEN_TAG: token}))

        def send() -> Op[StorageVolume]:
            root = yield from self._query("CreateVolume", params)
            volume = self._to_volume(root)
            volume.name = volume.name or volume_name
            return volume

        def find() -> Op[StorageVolume | None]:
            found = yield from collect(
                self._paged("DescribeVolumes", _filters({f"tag:{TOKEN_TAG}": token}),
                            "volumeSet", lambda item: [self._to_volume(item)])
            )
            return found[0] if found else None

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a (detached) volume (``DeleteVolume``)."""
        volume_id = self._volume_id(volume)
        return (
            yield from self._remove(
                "DeleteVolume", [("VolumeId", volume_id)], volume_id,
                lambda: self._exists(self.get_volume.op(volume_id), VolumeNotFound),
            )
        )

    def _volume_id(self, volume: StorageVolume) -> str:
        if not isinstance(volume, StorageVolume):
            raise InvalidInput(
                f"volume must be a StorageVolume: {type(volume).__name__}", driver=self
            )
        return self._check_id(volume.id, VolumeNotFound)

    def _free_device(self, node_id: str) -> Op[str]:
        node = yield from self.get_node.op(node_id)
        used = {m.get("device_name") for m in node.extra.get("block_device_mapping", [])}
        for device in _ATTACH_DEVICES:
            if device not in used:
                return device
        raise InvalidInput(f"node {node_id} has no free device name left", driver=self)

    @operation
    def attach_volume(
        self, node: Node, volume: StorageVolume, device: str | None = None
    ) -> Op[bool]:
        """Attach a volume to an instance in the same zone as ``device``
        (``/dev/sdf``; default: the first of ``/dev/sdf``-``/dev/sdp`` the
        instance does not use) (``AttachVolume``)."""
        if not isinstance(node, Node):
            raise InvalidInput(f"node must be a Node: {type(node).__name__}", driver=self)
        node_id = self._check_id(node.id, NodeNotFound)
        volume_id = self._volume_id(volume)
        if device is not None and (not isinstance(device, str) or not device
                                   or _CONTROL.search(device)):
            raise InvalidInput(f"invalid device name: {device!r}", driver=self)
        if device is None:
            device = yield from self._free_device(node_id)
        params: Params = [("VolumeId", volume_id), ("InstanceId", node_id), ("Device", device)]
        try:
            yield from self._query("AttachVolume", params, resource=volume_id)
        except OutcomeUnknown:
            current = yield from self.get_volume.op(volume_id)
            if current.extra.get("instance_id") == node_id:
                return True
            raise
        return True

    @operation
    def detach_volume(self, volume: StorageVolume) -> Op[bool]:
        """Detach a volume from the instance it is attached to (``DetachVolume``,
        with that instance's id, read from the volume first)."""
        volume_id = self._volume_id(volume)
        current = yield from self.get_volume.op(volume_id)
        instance_id = current.extra.get("instance_id")
        if not instance_id:
            raise InvalidInput(f"volume {volume_id} is not attached to any node", driver=self)
        params: Params = [("VolumeId", volume_id), ("InstanceId", instance_id)]
        try:
            yield from self._query("DetachVolume", params, resource=volume_id)
        except OutcomeUnknown:
            after = yield from self.get_volume.op(volume_id)
            if after.extra.get("instance_id") != instance_id:
                return True
            raise
        return True

    # -- snapshots ---------------------------------------------------------------------------

    def _to_snapshot(self, item: Element) -> VolumeSnapshot:
        tags = _tags(item)
        status = _text(item, "status") or ""
        extra: dict[str, Any] = {
            "volume_id": _text(item, "volumeId"),
            "description": _text(item, "description"),
            "progress": _text(item, "progress"),
            "owner_id": _text(item, "ownerId"),
            "encrypted": _bool(_text(item, "encrypted")),
            "state": status,
            "tags": tags,
        }
        return VolumeSnapshot(
            _text(item, "snapshotId") or "",
            driver=self,
            size=_int(_text(item, "volumeSize")),
            extra=extra,
            created=_time(_text(item, "startTime")),
            state=_SNAPSHOT_STATES.get(status, VolumeSnapshotState.UNKNOWN),
            name=tags.get("Name"),
        )

    def _snapshots_where(self, params: Params) -> Iter[VolumeSnapshot]:
        return self._paged(
            "DescribeSnapshots", params, "snapshotSet", lambda item: [self._to_snapshot(item)]
        )

    @iterator
    def iterate_volume_snapshots(self, volume: StorageVolume) -> Iter[VolumeSnapshot]:
        """The account's snapshots of a volume (``DescribeSnapshots``, page by page)."""
        volume_id = self._volume_id(volume)
        yield from self._snapshots_where(
            [*_numbered("Owner", ["self"]), *_filters({"volume-id": volume_id})]
        )

    @operation
    def get_volume_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """A snapshot by id; :class:`~overcast.errors.SnapshotNotFound` if there is none."""
        checked = self._check_id(snapshot_id, SnapshotNotFound)
        root = yield from self._query(
            "DescribeSnapshots", _numbered("SnapshotId", [checked]), read=True, resource=checked
        )
        for item in _items(root, "snapshotSet"):
            snapshot = self._to_snapshot(item)
            if snapshot.id == checked:
                return snapshot
        raise SnapshotNotFound(checked, driver=self)

    @operation
    def create_volume_snapshot(
        self, volume: StorageVolume, name: str | None = None
    ) -> Op[VolumeSnapshot]:
        """Snapshot a volume (``CreateSnapshot``); ``name`` is its ``Name`` tag and
        description. Returned at once, usually still ``pending``."""
        volume_id = self._volume_id(volume)
        if name is not None:
            self._check_tag_value("snapshot name", name)
        token = _new_token()
        tags = {TOKEN_TAG: token}
        params: Params = [("VolumeId", volume_id)]
        if name is not None:
            tags["Name"] = name
            params.append(("Description", name))
        params.extend(_tag_spec(1, "snapshot", tags))

        def send() -> Op[VolumeSnapshot]:
            root = yield from self._query("CreateSnapshot", params, resource=volume_id)
            snapshot = self._to_snapshot(root)
            snapshot.name = snapshot.name or name
            return snapshot

        def find() -> Op[VolumeSnapshot | None]:
            found = yield from collect(
                self._snapshots_where(
                    [*_numbered("Owner", ["self"]), *_filters({f"tag:{TOKEN_TAG}": token})]
                )
            )
            return found[0] if found else None

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def destroy_volume_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Delete a snapshot (``DeleteSnapshot``)."""
        if not isinstance(snapshot, VolumeSnapshot):
            raise InvalidInput(
                f"snapshot must be a VolumeSnapshot: {type(snapshot).__name__}", driver=self
            )
        snapshot_id = self._check_id(snapshot.id, SnapshotNotFound)
        return (
            yield from self._remove(
                "DeleteSnapshot", [("SnapshotId", snapshot_id)], snapshot_id,
                lambda: self._exists(self.get_volume_snapshot.op(snapshot_id), SnapshotNotFound),
            )
        )

    # -- key pairs -----------------------------------------------------------------------------

    def _to_key_pair(self, item: Element, private_key: str | None = None) -> KeyPair:
        tags = _tags(item)
        return KeyPair(
            _text(item, "keyName") or "",
            _text(item, "publicKey") or None,
            _text(item, "keyFingerprint") or None,
            driver=self,
            private_key=Secret(private_key) if private_key else None,
            extra={
                "key_pair_id": _text(item, "keyPairId"),
                "key_type": _text(item, "keyType"),
                "create_time": _text(item, "createTime"),
                "tags": tags,
            },
        )

    def _key_pairs(self, names: Sequence[str] = ()) -> Iter[KeyPair]:
        params: Params = [*_numbered("KeyName", names), ("IncludePublicKey", "true")]
        return self._paged(
            "DescribeKeyPairs", params, "keySet", lambda item: [self._to_key_pair(item)],
            paginate=False,
        )

    @iterator
    def iterate_key_pairs(self) -> Iter[KeyPair]:
        """The key pairs of the region (``DescribeKeyPairs``, with public keys)."""
        yield from self._key_pairs()

    @operation
    def get_key_pair(self, name: str) -> Op[KeyPair]:
        """A key pair by name; :class:`~overcast.errors.KeyPairNotFound` if there is none."""
        key_name = self._check_key_name(name)
        try:
            found = yield from collect(self._key_pairs([key_name]))
        except KeyPairNotFound:
            raise KeyPairNotFound(key_name, driver=self) from None
        for key in found:
            if key.name == key_name:
                return key
        raise KeyPairNotFound(key_name, driver=self)

    def _own_key(self, name: str, token: str) -> Op[KeyPair | None]:
        """The key pair ``name`` if an attempt of this create made it; None if it
        does not exist; KeyPairAlreadyExists if someone else's has that name."""
        try:
            key = yield from self.get_key_pair.op(name)
        except KeyPairNotFound:
            return None
        if key.extra.get("tags", {}).get(TOKEN_TAG) != token:
            raise KeyPairAlreadyExists(name, driver=self)
        return key

    @operation
    def create_key_pair(self, name: str) -> Op[KeyPair]:
        """Have EC2 generate a key pair (``CreateKeyPair``); its ``private_key``
        (a :class:`~overcast.runtime.redact.Secret`) is returned only now.
        :class:`~overcast.errors.KeyPairAlreadyExists` if the name is taken."""
        key_name = self._check_key_name(name)
        token = _new_token()
        params: Params = [("KeyName", key_name), *_tag_spec(1, "key-pair", {TOKEN_TAG: token})]

        def send() -> Op[KeyPair]:
            root = yield from self._query("CreateKeyPair", params, resource=key_name)
            material = _text(root, "keyMaterial")
            key = self._to_key_pair(root, material)
            key.extra["tags"] = {TOKEN_TAG: token, **key.extra["tags"]}
            return key

        def find() -> Op[KeyPair | None]:
            # Made by an attempt whose answer was lost: its private key is gone
            # with that answer, so delete the pair and make it again.
            key = yield from self._own_key(key_name, token)
            if key is not None:
                yield from self._query("DeleteKeyPair", [("KeyName", key_name)],
                                       idempotent=True, resource=key_name)
            return None

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def import_key_pair_from_string(self, name: str, key_material: str) -> Op[KeyPair]:
        """Register an OpenSSH public key under ``name`` (``ImportKeyPair``).
        :class:`~overcast.errors.KeyPairAlreadyExists` if the name is taken."""
        key_name = self._check_key_name(name)
        if not isinstance(key_material, str) or not key_material.strip():
            raise InvalidInput("key_material must be an OpenSSH public key", driver=self)
        material = key_material.strip()
        if "PRIVATE KEY" in material:
            raise InvalidInput("key_material must be a public key, not a private one",
                               driver=self)
        token = _new_token()
        params: Params = [
            ("KeyName", key_name),
            ("PublicKeyMaterial", base64.b64encode(material.encode("utf-8")).decode("ascii")),
            *_tag_spec(1, "key-pair", {TOKEN_TAG: token}),
        ]

        def send() -> Op[KeyPair]:
            root = yield from self._query("ImportKeyPair", params, resource=key_name)
            key = self._to_key_pair(root)
            key.public_key = key.public_key or material
            return key

        def find() -> Op[KeyPair | None]:
            return (yield from self._own_key(key_name, token))

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def delete_key_pair(self, key_pair: KeyPair) -> Op[bool]:
        """Delete a key pair (``DeleteKeyPair``; EC2 answers true for a missing one)."""
        if not isinstance(key_pair, KeyPair):
            raise InvalidInput(f"key_pair must be a KeyPair: {type(key_pair).__name__}",
                               driver=self)
        key_name = self._check_key_name(key_pair.name)
        root = yield from self._query(
            "DeleteKeyPair", [("KeyName", key_name)], idempotent=True, resource=key_name
        )
        return _return_value(root)

    # -- security groups -----------------------------------------------------------------------

    def _to_group(self, item: Element) -> SecurityGroup:
        def rules(set_name: str) -> list[dict[str, Any]]:
            found = []
            for rule in _items(item, set_name):
                protocol = _text(rule, "ipProtocol")
                found.append(
                    {
                        "protocol": protocol,
                        "from_port": _int(_text(rule, "fromPort")),
                        "to_port": _int(_text(rule, "toPort")),
                        "cidr_ips": [_text(r, "cidrIp") for r in _items(rule, "ipRanges")],
                        "group_ids": [_text(g, "groupId") for g in _items(rule, "groups")],
                    }
                )
            return found

        return SecurityGroup(
            _text(item, "groupId") or "",
            _text(item, "groupName") or "",
            _text(item, "groupDescription"),
            _text(item, "vpcId"),
            _text(item, "ownerId"),
            rules("ipPermissions"),
            rules("ipPermissionsEgress"),
            _tags(item),
            driver=self,
        )

    def _groups(self, params: Params) -> Op[list[SecurityGroup]]:
        return (
            yield from collect(
                self._paged("DescribeSecurityGroups", params, "securityGroupInfo",
                            lambda item: [self._to_group(item)])
            )
        )

    def _group_id(self, group: SecurityGroup | str) -> str:
        value = group.id if isinstance(group, SecurityGroup) else group
        return self._check_id(value, SecurityGroupNotFound)

    @operation
    def ex_list_security_groups(
        self, filters: Mapping[str, str | Sequence[str]] | None = None
    ) -> Op[list[SecurityGroup]]:
        """The security groups of the region (``DescribeSecurityGroups``, every
        page), narrowed by ``filters`` (``{"group-name": "web"}``) if given."""
        return (yield from self._groups(_filters(filters)))

    @operation
    def ex_create_security_group(
        self, name: str, description: str, vpc_id: str | None = None
    ) -> Op[SecurityGroup]:
        """Create a security group (``CreateSecurityGroup``) in ``vpc_id`` (default:
        the default VPC); :class:`~overcast.errors.AlreadyExists` if the name is taken."""
        group_name = self._check_tag_value("security group name", name)
        if group_name.lower().startswith("sg-"):
            raise InvalidInput(f"a security group name may not start with sg-: {name!r}",
                               driver=self)
        text = self._check_tag_value("security group description", description)
        if vpc_id is not None:
            self._check_ref("vpc_id", vpc_id)
        token = _new_token()
        params: Params = [("GroupName", group_name), ("GroupDescription", text)]
        if vpc_id is not None:
            params.append(("VpcId", vpc_id))
        params.extend(_tag_spec(1, "security-group", {TOKEN_TAG: token}))

        def send() -> Op[SecurityGroup]:
            root = yield from self._query("CreateSecurityGroup", params, resource=group_name)
            group_id = _text(root, "groupId") or ""
            return SecurityGroup(group_id, group_name, text, vpc_id,
                                 tags={TOKEN_TAG: token}, driver=self)

        def find() -> Op[SecurityGroup | None]:
            found = yield from self._groups(_filters({f"tag:{TOKEN_TAG}": token}))
            return found[0] if found else None

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    @operation
    def ex_authorize_security_group_ingress(
        self,
        group: SecurityGroup | str,
        from_port: int,
        to_port: int,
        cidr_ips: Sequence[str] = ("0.0.0.0/0",),
        protocol: str = "tcp",
    ) -> Op[bool]:
        """Allow inbound ``protocol`` traffic on ports ``from_port``-``to_port``
        from ``cidr_ips`` (``AuthorizeSecurityGroupIngress``).
        :class:`~overcast.errors.AlreadyExists` if the rule is there already."""
        group_id = self._group_id(group)
        for port in (from_port, to_port):
            if isinstance(port, bool) or not isinstance(port, int) or not -1 <= port <= 65535:
                raise InvalidInput(f"ports are integers from -1 to 65535: {port!r}", driver=self)
        if not isinstance(protocol, str) or not protocol or _CONTROL.search(protocol):
            raise InvalidInput(f"invalid protocol: {protocol!r}", driver=self)
        cidrs = [cidr_ips] if isinstance(cidr_ips, str) else list(cidr_ips)
        if not cidrs or not all(isinstance(c, str) and "/" in c for c in cidrs):
            raise InvalidInput(f"cidr_ips must be CIDR blocks: {cidr_ips!r}", driver=self)
        params: Params = [
            ("GroupId", group_id),
            ("IpPermissions.1.IpProtocol", protocol),
            ("IpPermissions.1.FromPort", str(from_port)),
            ("IpPermissions.1.ToPort", str(to_port)),
        ]
        for i, cidr in enumerate(cidrs, 1):
            params.append((f"IpPermissions.1.IpRanges.{i}.CidrIp", cidr))
        try:
            root = yield from self._query(
                "AuthorizeSecurityGroupIngress", params, resource=group_id
            )
        except OutcomeUnknown:
            # Resend once: a rule that is already there means the lost one took effect.
            try:
                root = yield from self._query(
                    "AuthorizeSecurityGroupIngress", params, resource=group_id
                )
            except AlreadyExists:
                return True
        return _return_value(root)

    @operation
    def ex_delete_security_group(self, group: SecurityGroup | str) -> Op[bool]:
        """Delete a security group (``DeleteSecurityGroup``)."""
        group_id = self._group_id(group)

        def still_there() -> Op[bool]:
            found = yield from self._groups(_filters({"group-id": group_id}))
            return bool(found)

        return (
            yield from self._remove(
                "DeleteSecurityGroup", [("GroupId", group_id)], group_id, still_there
            )
        )


class EC2NodeDriverAsync(NodeDriverAsync):
    """``driver.aio`` of the EC2 driver: every operation, and its ``ex_`` ones, awaitable."""

    iterate_images = aio(EC2NodeDriver.iterate_images)
    list_images = aio(EC2NodeDriver.list_images)
    create_node = aio(EC2NodeDriver.create_node)
    create_image = aio(EC2NodeDriver.create_image)
    create_volume = aio(EC2NodeDriver.create_volume)
    ex_list_security_groups = aio(EC2NodeDriver.ex_list_security_groups)
    ex_create_security_group = aio(EC2NodeDriver.ex_create_security_group)
    ex_authorize_security_group_ingress = aio(EC2NodeDriver.ex_authorize_security_group_ingress)
    ex_delete_security_group = aio(EC2NodeDriver.ex_delete_security_group)


EC2NodeDriver.async_view = EC2NodeDriverAsync
