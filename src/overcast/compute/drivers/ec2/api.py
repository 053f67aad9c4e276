"""The EC2 Query API as every part of the driver uses it: one request helper
(:meth:`EC2Api._query`), the error table, the pager, the request parameters'
shapes, the XML readers and the checks of ids and names."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Final
from typing import Protocol
from typing import TypeVar
from urllib.parse import quote
from xml.etree.ElementTree import Element

from overcast.auth.aws_credentials import region_or_default
from overcast.auth.aws_sigv4 import AwsCredentials
from overcast.auth.aws_sigv4 import SigV4Hooks
from overcast.compute.base import NodeDriver
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import KeyPairNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import RateLimited
from overcast.errors import SizeNotFound
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import HttpApi
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.ops import create_once
from overcast.runtime.ops import find_first
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.options import libcloud_endpoint
from overcast.runtime.options import secure_or_token
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret
from overcast.xml import elements as _elements
from overcast.xml import local as _local
from overcast.xml import path as _path

if TYPE_CHECKING:
    from overcast.auth.aws_credentials import AwsCredentialSource

__all__ = [
    "API_VERSION",
    "MAX_PAGE",
    "TOKEN_TAG",
    "EC2Api",
    "EC2Query",
    "Params",
    "SecurityGroupNotFound",
    "check_region",
]

T = TypeVar("T")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


H = TypeVar("H", bound=_HasId)

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
#: EC2 tag values are at most 256 characters.
MAX_TAG_VALUE: Final = 256
_FORM: Final = "application/x-www-form-urlencoded; charset=utf-8"

_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d{1,2}\Z")
_RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}\Z")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_region(region: object, *, driver: object = None) -> str:
    """An AWS region name (``eu-west-1``); InvalidInput otherwise (shared by
    every driver of an AWS Query API)."""
    if not isinstance(region, str) or not _REGION.match(region):
        raise InvalidInput(f"not an AWS region name: {region!r}", driver=driver)
    return region


class SecurityGroupNotFound(NotFound):
    """No security group with this id or name."""

    kind = "security group"


def _missing(family: str, error: type[NotFound]) -> When:
    """``<family>.NotFound``, ``.Malformed`` and ``.Unavailable``: no such resource."""
    return When(error, code=[f"{family}.{detail}" for detail in
                             ("NotFound", "Malformed", "Unavailable")])


#: How EC2's error codes map onto overcast's errors.
ERRORS: Final = ErrorMap(
    When(RateLimited, code=THROTTLING_CODES),
    _missing("InvalidInstanceID", NodeNotFound),
    _missing("InvalidAMIID", ImageNotFound),
    _missing("InvalidVolume", VolumeNotFound),
    _missing("InvalidVolumeID", VolumeNotFound),
    _missing("InvalidSnapshot", SnapshotNotFound),
    _missing("InvalidSnapshotID", SnapshotNotFound),
    _missing("InvalidKeyPair", KeyPairNotFound),
    _missing("InvalidGroup", SecurityGroupNotFound),
    _missing("InvalidGroupId", SecurityGroupNotFound),
    When(SizeNotFound, code="InvalidInstanceType"),
    When(KeyPairAlreadyExists, code="InvalidKeyPair.Duplicate"),
    When(AlreadyExists, code=("InvalidGroup.Duplicate", "InvalidAMIName.Duplicate",
                              "InvalidPermission.Duplicate")),
    When(InvalidInput, code="InvalidKeyPair.Format"),
    When(InvalidCredentials, code=CREDENTIAL_CODES),
)


# -- XML readers --------------------------------------------------------------------------


def text(element: Element | None, *steps: str) -> str | None:
    """The stripped text at ``steps`` below ``element`` (``None``: no such element)."""
    for step in steps:  # overcast.xml.path's walk, inline: EC2 readers call this per field
        if element is None:
            return None
        for item in element:
            if _local(item.tag) == step:
                element = item
                break
        else:
            return None
    if element is None:
        return None
    return (element.text or "").strip()


def items(element: Element | None, *steps: str) -> list[Element]:
    """The ``<item>`` children of the set at ``steps``."""
    return set_items(_path(element, *steps))


def set_items(found: Element | None) -> list[Element]:
    """The ``<item>`` children of a set element (none if it is ``None``)."""
    if found is None:
        return []
    return [item for item in found if _local(item.tag) == "item"]


def named(element: Element | None) -> dict[str, Element]:
    """The children of ``element`` by local name, in one pass (the first of a
    repeated name, as :func:`text` reads): for an item read field by field."""
    return {} if element is None else _elements(element)


def child_text(found: Mapping[str, Element], name: str) -> str | None:
    """The stripped text of child ``name`` of :func:`named`'s ``found`` (as
    :func:`text` gives it: ``None`` if there is no such child)."""
    element = found.get(name)
    return None if element is None else (element.text or "").strip()


def integer(value: str | None) -> int | None:
    """A whole number from EC2's text (``"8.0"`` too); ``None`` if there is none."""
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def boolean(value: str | None) -> bool | None:
    """``true``/``false`` as a bool; ``None`` if absent or empty."""
    if value is None or value == "":
        return None
    return value.lower() == "true"


def moment(value: str | None) -> datetime | None:
    """An ISO 8601 time; ``None`` if absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def tags(element: Element | None) -> dict[str, str]:
    """The ``tagSet`` of a resource as a dict."""
    return tag_set(_path(element, "tagSet"))


def tag_set(found: Element | None) -> dict[str, str]:
    """A ``tagSet`` element as a dict (empty if it is ``None``)."""
    return {text(item, "key") or "": text(item, "value") or "" for item in set_items(found)}


def return_value(root: Element) -> bool:
    """A boolean action's result: ``<return>`` if present (AWS), else True (moto
    answers success with only a ``requestId``)."""
    value = text(root, "return")
    return True if value is None else value.lower() == "true"


# -- request parameters ----------------------------------------------------------------------


Params = list[tuple[str, str]]


def numbered(prefix: str, values: Iterable[str]) -> Params:
    """``prefix.1=a&prefix.2=b`` (EC2 lists start at 1)."""
    return [(f"{prefix}.{i}", str(v)) for i, v in enumerate(values, 1)]


def filters(wanted: Mapping[str, str | Sequence[str]] | None) -> Params:
    """``Filter.N.Name`` / ``Filter.N.Value.M`` for each filter."""
    params: Params = []
    for i, (name, values) in enumerate((wanted or {}).items(), 1):
        params.append((f"Filter.{i}.Name", name))
        listed = [values] if isinstance(values, str) else list(values)
        params.extend(numbered(f"Filter.{i}.Value", listed))
    return params


def tag_spec(resource_type: str, tagged: Mapping[str, str]) -> Params:
    """The tags a create puts on what it makes (``TagSpecification.1``)."""
    params: Params = [("TagSpecification.1.ResourceType", resource_type)]
    for i, (key, value) in enumerate(tagged.items(), 1):
        params.append((f"TagSpecification.1.Tag.{i}.Key", key))
        params.append((f"TagSpecification.1.Tag.{i}.Value", value))
    return params


def token_filter(token: str) -> Params:
    """The filter that finds what a create with ``token`` made."""
    return filters({f"tag:{TOKEN_TAG}": token})


def _form(params: Sequence[tuple[str, str]]) -> bytes:
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params
    ).encode("utf-8")


# -- the plumbing every part shares -----------------------------------------------------------


class EC2Query(SigV4Hooks, HttpApi):
    """The EC2 Query API with no resource of its own: credentials and
    Signature V4 (service ``ec2``), the request helper, the error table, the
    ``NextToken`` pager, settled changes and the checks of ids and tag values.

    The base of :class:`EC2Api` (the compute driver's parts) and of the EBS
    backup driver (:mod:`overcast.backup.drivers.ebs`). A subclass's
    constructor calls :meth:`_setup_query` before ``super().__init__``.
    """

    signing_service: ClassVar[str] = "ec2"
    label: ClassVar[str] = "EC2"
    errors: ClassVar[ErrorMap] = ERRORS
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-amzn-RequestId",)
    region: str
    page_size: int
    _credentials: AwsCredentials | AwsCredentialSource

    def _setup_query(self, key: str | None, secret: str | Secret | None, region: str | None,
                     token: str | Secret | None, *, secure: bool = True,
                     profile: str | None = None, endpoint: str | None = None,
                     page_size: int = DEFAULT_PAGE_SIZE) -> None:
        """Hold the region, credentials (else the environment or the shared
        credentials file, ``profile``), endpoint (default
        ``https://ec2.<region>.amazonaws.com``) and page size. No request."""
        region = region_or_default(region, profile=profile, endpoint=endpoint)
        self.region = self._check_region(region)
        self._credentials = AwsCredentials.resolve(key, secret, token, profile=profile)
        if endpoint is None:
            suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
            endpoint = f"{'https' if secure else 'http'}://ec2.{region}.{suffix}"
        self.endpoint = check_endpoint(endpoint, driver=self)
        self.page_size = check_page_size(page_size, maximum=DEFAULT_PAGE_SIZE, driver=self)

    # -- requests --------------------------------------------------------------------------

    def _query(self, action: str, params: Sequence[tuple[str, str]] = (), *, read: bool = False,
               idempotent: bool = False, what: str = "") -> Op[Element]:
        """Send one API action; its answer (a ``<{action}Response>`` document:
        any other is a ProviderError), or the mapped error.

        ``read`` actions (``Describe*``) go as ``GET``; the others as a
        form-encoded ``POST`` that the runtime resends only if ``idempotent``.
        ``what`` names the resource in a not-found error.
        """
        pairs: Params = [("Action", action), ("Version", API_VERSION), *params]
        root = f"{action}Response"
        if read:
            return (yield from self._xml("GET", "/", params=pairs, what=what, root=root))
        return (yield from self._xml(
            "POST", "/", body=_form(pairs), headers={"Content-Type": _FORM},
            idempotent=idempotent, what=what, root=root,
        ))

    def _pages(self, action: str, params: Params, set_name: str,
               convert: Callable[[Element], Iterable[T]], *, paged: bool = True) -> Iter[T]:
        """Every ``convert(item)`` of every page of ``action`` (``NextToken``
        pages; ``MaxResults`` asked for unless ``paged`` is false)."""

        def fetch(token: Cursor | None) -> Op[Page[T]]:
            page = list(params)
            if paged:
                limit = min(self.page_size, MAX_PAGE.get(action, DEFAULT_PAGE_SIZE))
                page.append(("MaxResults", str(limit)))
            if token is not None:
                page.append(("NextToken", str(token)))
            root = yield from self._query(action, page, read=True)
            found = [made for item in items(root, set_name) for made in convert(item)]
            return Page.token(found, text(root, "nextToken"))

        yield from paginate(fetch, what=f"EC2 {action}", driver=self)

    def _described(self, action: str, wanted: object, convert: Callable[[Element], Iterable[H]],
                   missing: type[NotFound], *, id_param: str, set_name: str) -> Op[H]:
        """The one resource with id ``wanted`` that ``action`` describes
        (``<id_param>.1=wanted``); ``missing`` if it is none, without a request
        for text that cannot be an id."""
        checked = self._check_id(wanted, missing)
        root = yield from self._query(action, numbered(id_param, [checked]), read=True,
                                      what=checked)
        for item in items(root, set_name):
            for found in convert(item):
                if found.id == checked:
                    return found
        raise missing(checked, driver=self)

    def _settled(
        self, send: Callable[[], Op[T]], done: Callable[[], Op[T | None]]
    ) -> Op[T]:
        """Send a change whose answer may be lost; if it is, ``done()`` looks:
        its result if the change took effect, ``None`` if not (the unknown
        outcome is then raised, not resent)."""
        return (yield from create_once(send, done, attempts=1))

    def _remove(
        self, action: str, params: Params, what: str, exists: Callable[[], Op[bool]]
    ) -> Op[bool]:
        """Send a delete; if its outcome is unknown, it succeeded if the resource is gone."""

        def send() -> Op[bool]:
            return return_value((yield from self._query(action, params, what=what)))

        def gone() -> Op[bool | None]:
            return None if (yield from exists()) else True

        return (yield from self._settled(send, gone))

    def _exists(self, lookup: Op[object], missing: type[NotFound]) -> Op[bool]:
        """Whether ``lookup`` finds the resource (``missing``: its not-found error)."""
        try:
            yield from lookup
        except missing:
            return False
        return True

    # -- checks ----------------------------------------------------------------------------

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
        """A tag value (a name, a description): at most 256 characters, no
        control characters, not empty unless ``empty``."""
        if not isinstance(value, str):
            raise InvalidInput(f"{what} must be a string: {value!r}", driver=self)
        if not value and not empty:
            raise InvalidInput(f"{what} must not be empty", driver=self)
        if len(value) > MAX_TAG_VALUE:
            raise InvalidInput(
                f"{what} is longer than {MAX_TAG_VALUE} characters: {len(value)}", driver=self
            )
        if CONTROL.search(value):
            raise InvalidInput(f"{what} must not contain control characters: {value!r}",
                               driver=self)
        return value

    def _check_region(self, region: object) -> str:
        """An AWS region name (``eu-west-1``)."""
        return check_region(region, driver=self)


class EC2Api(EC2Query, NodeDriver):
    """The EC2 Query API as the compute driver uses it (the base of every part
    of :class:`~overcast.compute.drivers.ec2.EC2NodeDriver`)."""

    name: ClassVar[str] = "ec2"

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 secure: bool | str | Secret = True, host: str | None = None,
                 port: int | None = None, region: str | None = None,
                 token: str | Secret | None = None, signature_version: str | None = None, *,
                 profile: str | None = None, endpoint: str | None = None,
                 page_size: int = DEFAULT_PAGE_SIZE,
                 pricing: str | os.PathLike[str] | bool = True, **options: Any) -> None:
        secure, token = secure_or_token(secure, token, driver=self)
        #: Where sizes' prices come from: True (the default: :mod:`overcast.pricing`,
        #: Libcloud's ``~/.libcloud/pricing.json`` when it exists, else the bundled
        #: snapshot, as Libcloud's ``list_sizes`` fills prices), a path to a
        #: file in Libcloud's pricing.json format, or False (no prices).
        self.pricing = pricing
        if signature_version is not None and str(signature_version) != "4":
            raise NotSupported(f"EC2 is signed with Signature V4 only: {signature_version!r}",
                               driver=self)
        endpoint = libcloud_endpoint(endpoint, host, port, secure, driver=self)
        self._setup_query(key, secret, region, token, secure=bool(secure), profile=profile,
                          endpoint=endpoint, page_size=page_size)
        self._default_zone: str | None = None
        super().__init__(**options)

    def _create_tagged(self, send: Callable[[str], Op[T]],
                       tagged: Callable[[Params], Iter[T]]) -> Op[T]:
        """Create something exactly once (:meth:`_create`): ``send(token)`` tags
        what it makes with the token; a lost answer is settled by the first of
        ``tagged(filters)``, the listing the token's filter narrows."""

        def find(token: str) -> Op[T | None]:
            return (yield from find_first(tagged(token_filter(token)), lambda _: True))

        return (yield from self._create(send, find))

    def _check_key_name(self, name: object) -> str:
        """A key pair name: 1 to 255 printable ASCII characters."""
        if not isinstance(name, str) or not name or len(name) > 255:
            raise InvalidInput(f"a key pair name is 1 to 255 characters: {name!r}", driver=self)
        if not name.isascii() or CONTROL.search(name):
            raise InvalidInput(
                f"a key pair name must be printable ASCII: {name!r}", driver=self
            )
        return name
