"""The OpenStack APIs as every part of the driver uses them: the Keystone
session and the service a request goes to, the error table and fault reader,
the pager, and the checks of names."""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar
from typing import Unpack
from urllib.parse import parse_qsl

from overcast.auth.keystone import KeystoneCredentials
from overcast.auth.keystone import KeystoneSession
from overcast.auth.tokens import AccessToken
from overcast.compute.base import NodeDriver
from overcast.errors import AlreadyExists
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import HttpApi
from overcast.runtime.api import RequestOptions
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["TOKEN_KEY", "OpenStackApi", "moment", "whole"]

T = TypeVar("T")

#: The metadata key (or image property) that carries a create's request token.
TOKEN_KEY: Final = "overcast-token"
#: The longest server, volume, snapshot and key pair name Nova and Cinder accept.
MAX_NAME: Final = 255
DEFAULT_PAGE_SIZE: Final = 100
DEFAULT_MICROVERSION: Final = "2.79"

#: Service keys of the session, and the catalog types that serve them, in order.
SERVICES: Final = {
    "compute": ("compute",),
    "image": ("image",),
    "volume": ("block-storage", "volumev3", "volume"),
    "network": ("network",),
}
#: The API version the paths of a service start with, where the catalog's
#: endpoint may or may not end with it (Glance's and Neutron's do not, always).
_VERSIONED: Final = {"image": "/v2", "network": "/v2.0"}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MICROVERSION = re.compile(r"\A(2)\.(\d{1,3})\Z")
_TAGS = re.compile(r"<[^>]+>")

#: How Nova, Cinder, Glance and Neutron answers map onto overcast's errors. A
#: 403 is the cloud's policy, not the credentials (a refused token is a 401,
#: which the session renews once); a 413 ``overLimit`` is a rate limit unless
#: it is a quota; a 409 is a name taken only when it says so (else a conflict
#: with the resource's state: a ProviderError with its code).
ERRORS: Final = ErrorMap(
    When(ProviderError, status=413, says="quota"),
    When(RateLimited, status=413, code="overLimit"),
    When(RateLimited, status=429),
    When(AlreadyExists, status=409, says="already exists"),
    When(NotFound, status=404),
    defaults=False,
)


def moment(value: Any) -> datetime | None:
    """A datetime from an OpenStack timestamp (``2013-09-03T04:01:32Z``)."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def whole(value: Any, default: int = 0) -> int:
    """An integer from an API value (``default`` if it is none)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _next_marker(data: Mapping[str, Any], links: str | None) -> str | None:
    """The marker of the page after this one, or ``None`` on the last page.

    Nova, Cinder and Neutron give ``<key>_links`` with ``rel: "next"``; Glance
    gives ``next``. Only the link's ``marker`` is used: its host and path may
    be an internal name the client cannot reach, and its other parameters are
    the ones this listing sent.
    """
    href: Any = None
    if links is None:
        href = data.get("next")
    else:
        for link in data.get(links) or ():
            if isinstance(link, Mapping) and link.get("rel") == "next":
                href = link.get("href")
                break
    if not isinstance(href, str) or "?" not in href:
        return None
    return dict(parse_qsl(href.split("?", 1)[1], keep_blank_values=True)).get("marker") or None


class OpenStackApi(HttpApi, NodeDriver):
    """Keystone auth and the Nova, Glance, Cinder and Neutron request plumbing
    (the base of every part of
    :class:`~overcast.compute.drivers.openstack.OpenStackNodeDriver`).

    A request's path names its service: ``"compute:/servers/detail"``,
    ``"image:/v2/images"``, ``"volume:/volumes"``, ``"network:/v2.0/ports"``.
    :meth:`_transmit` sends it below that service's endpoint in the token's
    catalog, with the token; a refused token is renewed once.
    """

    name: ClassVar[str] = "openstack"
    label: ClassVar[str] = "OpenStack"
    errors: ClassVar[ErrorMap] = ERRORS
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    request_id_headers: ClassVar[tuple[str, ...]] = (
        "X-Openstack-Request-Id", "X-Compute-Request-Id",
    )

    def _libcloud_keywords(self, options: dict[str, Any], auth_url: str | None,
                           project: str | None, user_domain: str, project_domain: str,
                           region: str | None) -> tuple[str, str | None, str, str, str | None]:
        """Apache Libcloud's OpenStack keywords, taken out of ``options``:
        ``ex_force_auth_url`` (``auth_url``), ``ex_force_auth_version`` (only
        ``"3.x_password"``: Keystone v3 with a password is what overcast
        speaks), ``ex_tenant_name`` (``project``), ``ex_domain_name`` (the
        user's and project's domain), ``ex_force_service_region``
        (``region``)."""
        version = options.pop("ex_force_auth_version", None)
        if version not in (None, "3.x_password"):
            raise NotSupported(f"ex_force_auth_version={version!r}: overcast authenticates "
                               "with Keystone v3 (3.x_password) only", driver=self)
        auth_url = auth_url or options.pop("ex_force_auth_url", None)
        options.pop("ex_force_auth_url", None)
        project = project or options.pop("ex_tenant_name", None)
        domain = options.pop("ex_domain_name", None)
        region = region or options.pop("ex_force_service_region", None)
        if auth_url is None:
            raise InvalidInput("OpenStack needs auth_url= (or ex_force_auth_url=)", driver=self)
        return (auth_url, project, domain or user_domain, domain or project_domain, region)

    def __init__(self, key: str | None, secret: str | Secret | None = None, *,
                 auth_url: str | None = None, project: str | None = None,
                 project_id: str | None = None,
                 user_domain: str = "Default", project_domain: str = "Default",
                 region: str | None = None, interface: str = "public",
                 application_credential_id: str | None = None,
                 application_credential_secret: str | Secret | None = None,
                 compute_microversion: str = DEFAULT_MICROVERSION,
                 page_size: int = DEFAULT_PAGE_SIZE, **options: Any) -> None:
        auth_url, project, user_domain, project_domain, region = self._libcloud_keywords(
            options, auth_url, project, user_domain, project_domain, region)
        self.page_size = check_page_size(page_size, maximum=1000, driver=self)
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
        auth_url = check_endpoint(auth_url, option="auth_url", driver=self)
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
        self.auth_url = auth_url
        self.project = project
        self.project_id = project_id
        self.region = region
        self.interface = interface
        self.microversion = str(compute_microversion)
        self._nova_headers = {
            "OpenStack-API-Version": f"compute {self.microversion}",
            "X-OpenStack-Nova-API-Version": self.microversion,
        }
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

    # -- requests ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        """``path`` as given: ``service:/path``, resolved when sent (the
        endpoints come with the token)."""
        return path

    def _request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Request:
        """The request for ``method`` on ``service:/path``; Nova's carry the
        microversion the driver asks for."""
        request = super()._request(method, path, **options)
        if path.startswith("compute:"):
            return request.with_headers(self._nova_headers)
        return request

    def _transmit(self, request: Request) -> Op[Response]:
        """Send with the session's token, below the endpoint of the path's
        service; a 401 renews the token and sends once more."""
        return (yield from self.session.exchange(request, self._locate))

    def _locate(self, token: AccessToken, url: str) -> str:
        """The full URL of ``service:/path`` in ``token``'s catalog."""
        service, _, path = url.partition(":")
        base = self.session.endpoint(token, service)
        version = _VERSIONED.get(service)
        if version is not None and base.endswith(version):
            base = base[: -len(version)]
        return f"{base}{path}"

    def _is_throttled(self, response: Response) -> bool:
        """Nova answers a rate limit with ``413 overLimit`` and ``Retry-After``
        (429 is the runtime's already); a quota ``overLimit`` without it is not
        retried."""
        if response.status == 413 and response.headers.get("Retry-After"):
            return True
        return super()._is_throttled(response)

    def _fault(self, resp: Response) -> Fault:
        """The kind and message of an error body in any OpenStack service's shape:
        ``{"<kind>": {"code", "message"}}`` (Nova, Cinder), ``{"NeutronError":
        {"type", "message"}}``, ``{"error": {"title", "message"}}``, or text/HTML."""
        request_id = next(
            (resp.headers[h] for h in self.request_id_headers if h in resp.headers), None
        )
        try:
            data = resp.json()
        except ValueError:
            data = None
        kind: str | None = None
        message = ""
        if isinstance(data, Mapping):
            if isinstance(data.get("NeutronError"), Mapping):
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
        message = _TAGS.sub(" ", message or resp.text[:300])
        return Fault(resp.status, kind, message, request_id,
                     frozenset({kind}) if kind else frozenset())

    def _delete(self, path: str, what: str, missing: type[NotFound]) -> Op[bool]:
        """``DELETE path``: True once done; ``missing`` if there is nothing there."""
        yield from self._send("DELETE", path, what=what, missing=missing)
        return True

    # -- listings ---------------------------------------------------------------------------

    def _pages(self, path: str, key: str, convert: Callable[[dict[str, Any]], T], *,
               links: str | None, params: Sequence[tuple[str, str]] = ()) -> Iter[T]:
        """Every item of a collection, page by page (``limit`` and ``marker``;
        the next page's marker from the ``links`` entry named, or Glance's
        ``next``), passed through ``convert``."""

        def fetch(marker: Cursor | None) -> Op[Page[T]]:
            query = [*params, ("limit", str(self.page_size))]
            if marker is not None:
                query.append(("marker", str(marker)))
            data = (yield from self._json("GET", path, params=query)) or {}
            found = data.get(key) or []
            following = _next_marker(data, links)
            return Page.marker([convert(item) for item in found],
                               bool(found) and following is not None, next_marker=following)

        yield from paginate(fetch, what=f"GET {path}", driver=self)

    # -- checks -----------------------------------------------------------------------------

    def _check_name(self, name: Any, what: str, *, required: bool = True) -> None:
        """A server, volume, snapshot or key pair name: not blank, at most 255
        characters, no control characters (``None`` too, unless ``required``)."""
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

    def _check_id(self, value: object, what: str) -> str:
        """An id given to a ``get_*``: a non-empty string."""
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{what} must be a non-empty string", driver=self)
        return value
