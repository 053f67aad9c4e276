"""What every driver of an OpenStack service shares on top of Keystone
(:mod:`overcast.auth.keystone`): the constructor's credentials and Libcloud
keywords, a request's service named in its path and resolved in the token's
catalog, the fault reader, the error table and the ``limit``/``marker`` pager.

A driver mixes in :class:`OpenStackService` before its area's base class
(``class OpenStackNodeDriver(OpenStackService, NodeDriver)``), calls
:meth:`OpenStackService._connect` in its constructor with the services it
uses (``{"volume": ("block-storage", "volumev3", "volume")}``), and writes
paths as ``"volume:/backups/detail"``: the part before the colon names the
service, the rest is below that service's endpoint in the catalog.

Facts of the APIs this is built on:

* Nova, Cinder, Octavia and Neutron page a collection by ``limit`` and
  ``marker`` (the id of the last item seen) and give a ``<key>_links`` entry
  with ``rel: "next"`` while a page was full; Glance gives ``next``.
* Faults are ``{"<kind>": {"code", "message"}}`` (Nova, Cinder),
  ``{"NeutronError": {"type", "message"}}``, ``{"error": {"title",
  "message"}}`` (Keystone) or webob's ``{"code", "title", "message"}``.
* A rate limit is ``413 overLimit`` with ``Retry-After`` (or ``429``); a 403
  is the cloud's policy, not the credentials (a refused token is a 401, which
  the session renews once).
"""

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
from urllib.parse import parse_qsl

from overcast.auth.keystone import KeystoneCredentials
from overcast.auth.keystone import KeystoneSession
from overcast.auth.tokens import AccessToken
from overcast.errors import AlreadyExists
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import HttpApi
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.options import check_endpoint
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["ERRORS", "OpenStackService", "moment", "next_marker"]

T = TypeVar("T")

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
    """A datetime from an OpenStack timestamp (``2013-09-03T04:01:32Z``); one
    written without a zone, as Cinder writes them, stays naive."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def next_marker(data: Mapping[str, Any], links: str | None) -> str | None:
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


class OpenStackService(HttpApi):
    """Keystone auth and the request plumbing of OpenStack's services, for a
    driver of any area (mixed in before the area's base class).

    A request's path names its service: ``"compute:/servers/detail"``,
    ``"volume:/backups/detail"``. :meth:`_transmit` sends it below that
    service's endpoint in the token's catalog, with the token; a refused token
    is renewed once. The driver sets :attr:`page_size` and calls
    :meth:`_connect` in its constructor.
    """

    label: ClassVar[str] = "OpenStack"
    errors: ClassVar[ErrorMap] = ERRORS
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    request_id_headers: ClassVar[tuple[str, ...]] = (
        "X-Openstack-Request-Id", "X-Compute-Request-Id",
    )
    #: The API version the paths of a service start with, where the catalog's
    #: endpoint may or may not end with it (Glance's and Neutron's do not, always).
    versioned: ClassVar[Mapping[str, str]] = {}

    session: KeystoneSession
    page_size: int

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
            raise InvalidInput("OpenStack needs auth_url= (or ex_force_auth_url=), or OS_CLOUD "
                               "or OS_AUTH_URL in the environment", driver=self)
        return (auth_url, project, domain or user_domain, domain or project_domain, region)

    def _connect(self, key: str | None, secret: str | Secret | None,
                 services: Mapping[str, Sequence[str]], options: dict[str, Any], *,
                 auth_url: str | None, project: str | None, project_id: str | None,
                 user_domain: str, project_domain: str, region: str | None, interface: str,
                 application_credential_id: str | None = None,
                 application_credential_secret: str | Secret | None = None) -> None:
        """Check the credentials (and Libcloud's keywords, taken out of
        ``options``) and make :attr:`session` for ``services``; sends nothing.

        Given no user, secret, application credential or auth URL, they are
        found as openstacksdk finds them (``OS_CLOUD`` in ``clouds.yaml``, else
        the ``OS_*`` variables: :mod:`overcast.auth.openstack_config`)."""
        self.credential_source = "explicit"
        if (key is None and secret is None and application_credential_id is None
                and auth_url is None and "ex_force_auth_url" not in options):
            from overcast.auth.openstack_config import find_openstack_config

            found = find_openstack_config()
            if found is not None:
                key, secret, auth_url = found.username, found.password, found.auth_url
                project = project or found.project_name
                project_id = project_id or found.project_id
                user_domain, project_domain = found.user_domain, found.project_domain
                region = region or found.region
                interface = found.interface or interface
                application_credential_id = found.application_credential_id
                application_credential_secret = found.application_credential_secret
                self.credential_source = found.source
        auth_url, project, user_domain, project_domain, region = self._libcloud_keywords(
            options, auth_url, project, user_domain, project_domain, region)
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
        self.session = KeystoneSession(
            credentials, services, region=region, interface=interface, owner=self
        )

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

    def _transmit(self, request: Request) -> Op[Response]:
        """Send with the session's token, below the endpoint of the path's
        service; a 401 renews the token and sends once more."""
        return (yield from self.session.exchange(request, self._locate))

    def _locate(self, token: AccessToken, url: str) -> str:
        """The full URL of ``service:/path`` in ``token``'s catalog."""
        service, _, path = url.partition(":")
        base = self.session.endpoint(token, service)
        version = self.versioned.get(service)
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

    # -- listings ---------------------------------------------------------------------------

    def _pages(self, path: str, key: str, convert: Callable[[dict[str, Any]], T], *,
               links: str | None, params: Sequence[tuple[str, str]] = (),
               missing: type[NotFound] | None = None) -> Iter[T]:
        """Every item of a collection, page by page (``limit`` and ``marker``;
        the next page's marker from the ``links`` entry named, or Glance's
        ``next``), passed through ``convert``."""

        def fetch(marker: Cursor | None) -> Op[Page[T]]:
            query = [*params, ("limit", str(self.page_size))]
            if marker is not None:
                query.append(("marker", str(marker)))
            data = (yield from self._json("GET", path, params=query, missing=missing)) or {}
            found = data.get(key) or []
            following = next_marker(data, links)
            return Page.marker([convert(item) for item in found],
                               bool(found) and following is not None, next_marker=following)

        yield from paginate(fetch, what=f"GET {path}", driver=self)
