"""The Elastic Load Balancing Query APIs as the ``elb``, ``alb`` and ``nlb``
drivers use them: credentials and Signature V4 (service
``elasticloadbalancing``), one request helper, the ``Marker``/``NextMarker``
pager and the readers of ``<member>`` lists.

Classic ELB (API 2012-06-01) and ELBv2 (2015-12-01) share all of it and
differ in their version and actions. The region check and the codes that
mean "slow down" or "bad credentials" are EC2's (the same Query API family).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar
from urllib.parse import quote
from urllib.parse import urlencode
from xml.etree.ElementTree import Element

from overcast.auth.aws_credentials import region_or_default
from overcast.auth.aws_sigv4 import AwsCredentials
from overcast.auth.aws_sigv4 import SigV4Hooks
from overcast.compute.drivers.ec2.api import CREDENTIAL_CODES
from overcast.compute.drivers.ec2.api import THROTTLING_CODES
from overcast.compute.drivers.ec2.api import check_region
from overcast.errors import AlreadyExists
from overcast.errors import BalancerNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotFound
from overcast.errors import RateLimited
from overcast.loadbalancer.base import LoadBalancerDriver
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import HttpApi
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret
from overcast.xml import local
from overcast.xml import path
from overcast.xml import text as xml_text

__all__ = ["ELB_ERRORS", "ElbQueryApi", "Params", "member_params", "members", "text"]

T = TypeVar("T")
Params = list[tuple[str, str]]

#: The most balancers one ``DescribeLoadBalancers`` page holds (``PageSize``).
MAX_PAGE: Final = 400
_FORM: Final = "application/x-www-form-urlencoded; charset=utf-8"

#: How both ELB APIs' error codes map onto overcast's errors.
ELB_ERRORS: Final = ErrorMap(
    When(RateLimited, code=THROTTLING_CODES),
    When(InvalidCredentials, code=CREDENTIAL_CODES),
    When(BalancerNotFound, code=("LoadBalancerNotFound", "AccessPointNotFound")),
    When(MemberNotFound, code=("InvalidInstance", "InvalidTarget")),
    When(NotFound, code=("TargetGroupNotFound", "ListenerNotFound", "RuleNotFound")),
    When(AlreadyExists, code=("DuplicateLoadBalancerName", "DuplicateAccessPointName",
                              "DuplicateTargetGroupName", "DuplicateListener")),
    When(InvalidInput, code=("ValidationError", "InvalidConfigurationRequest",
                             "SubnetNotFound", "InvalidSubnet", "InvalidSecurityGroup")),
)


def text(element: Element | None, *steps: str) -> str | None:
    """The stripped text at ``steps`` below ``element`` (``None``: no such element)."""
    return xml_text(element, *steps, strip=True)


def members(element: Element | None, *steps: str) -> list[Element]:
    """The ``<member>`` children of the list at ``steps`` (the Query APIs' lists)."""
    found = path(element, *steps)
    return [] if found is None else [item for item in found if local(item.tag) == "member"]


def member_params(prefix: str, entries: Iterable[dict[str, str]]) -> Params:
    """``prefix.member.N.Key=value`` for each entry (numbered from 1)."""
    return [(f"{prefix}.member.{n}.{key}", value)
            for n, entry in enumerate(entries, 1) for key, value in entry.items()]


class ElbQueryApi(SigV4Hooks, HttpApi, LoadBalancerDriver):
    """Signing, requests, errors and paging of an Elastic Load Balancing Query
    API (the base of the ``elb``, ``alb`` and ``nlb`` drivers).

    ``key``, ``secret`` and ``token`` are the access key id, secret access key
    and optional session token (else the environment or the shared credentials
    file, ``profile``); ``region`` is where every request goes.
    ``endpoint`` points the driver elsewhere (moto, a VPC endpoint);
    ``page_size`` is the ``PageSize`` of listings. No request is made here.
    """

    signing_service: ClassVar[str] = "elasticloadbalancing"
    label: ClassVar[str] = "Elastic Load Balancing"
    errors: ClassVar[ErrorMap] = ELB_ERRORS
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-amzn-RequestId",)
    #: The API version every request names.
    api_version: ClassVar[str] = ""

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 region: str | None = None, token: str | Secret | None = None, *,
                 profile: str | None = None, endpoint: str | None = None,
                 page_size: int = MAX_PAGE, **options: Any) -> None:
        region = region_or_default(region, profile=profile, endpoint=endpoint)
        self.region = check_region(region, driver=self)
        self._credentials = AwsCredentials.resolve(key, secret, token, profile=profile)
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        self.endpoint = check_endpoint(
            endpoint or f"https://elasticloadbalancing.{region}.{suffix}", driver=self)
        self.page_size = check_page_size(page_size, maximum=MAX_PAGE, driver=self)
        super().__init__(**options)

    # -- requests --------------------------------------------------------------------------

    def _query(self, action: str, params: Sequence[tuple[str, str]] = (), *,
               idempotent: bool = False, what: str = "",
               missing: type[NotFound] | None = None) -> Op[Element]:
        """Send one action as a signed, form-encoded ``POST``; its
        ``<{action}Result>`` element (an answer that is not the action's
        ``<{action}Response>`` document is a ProviderError), or the mapped
        error. Only ``idempotent`` actions (reads, deletes) are ever resent."""
        pairs = [("Action", action), ("Version", self.api_version), *params]
        root = yield from self._xml(
            "POST", "/", body=urlencode(pairs, quote_via=quote).encode(),
            headers={"Content-Type": _FORM}, idempotent=idempotent, what=what,
            missing=missing, root=f"{action}Response",
        )
        result = path(root, f"{action}Result")
        return root if result is None else result

    def _read(self, action: str, params: Sequence[tuple[str, str]] = (), *, what: str = "",
              missing: type[NotFound] | None = None) -> Op[Element]:
        """A ``Describe*`` action (idempotent)."""
        return (yield from self._query(action, params, idempotent=True, what=what,
                                       missing=missing))

    def _pages(self, action: str, params: Params, list_name: str,
               convert: Callable[[Element], T | None], *, paged: bool = True,
               missing: type[NotFound] | None = None) -> Iter[T]:
        """Every ``convert(member)`` (``None``: skipped) of every page of
        ``action``: ``Marker`` in, ``NextMarker`` out, ``PageSize`` asked for
        unless ``paged`` is false."""

        def fetch(marker: Cursor | None) -> Op[Page[T]]:
            page = list(params)
            if paged:
                page.append(("PageSize", str(self.page_size)))
            if marker is not None:
                page.append(("Marker", str(marker)))
            result = yield from self._read(action, page, missing=missing)
            found = [made for item in members(result, list_name)
                     if (made := convert(item)) is not None]
            following = text(result, "NextMarker")
            return Page.marker(found, bool(following), next_marker=following)

        yield from paginate(fetch, what=f"Elastic Load Balancing {action}", driver=self)
