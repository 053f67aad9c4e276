"""Azure Resource Manager, as every ARM driver speaks it.

* Auth: a bearer token from the client-credentials flow
  (:mod:`overcast.auth.azure_ad`) when an application id and secret are
  given, else from the machine's managed identity
  (:mod:`overcast.auth.azure_imds`). Tokens are cached and shared; a 401
  drops the token and sends once more with a fresh one.
* Every call carries ``api-version`` (each resource provider has its own:
  :meth:`ArmApi._api_version`); URLs the server gives (``nextLink``, an
  operation's status) carry theirs and must stay on the endpoint, so the token
  never goes elsewhere.
* Lists answer ``{"value": [...], "nextLink": url}``: :meth:`ArmApi._arm_pages`.
* Long-running operations (a ``PUT`` answering 201, a ``POST`` or ``DELETE``
  answering 202) are followed by :meth:`ArmApi._settle`: the
  ``Azure-AsyncOperation`` status URL until ``Succeeded`` (``Failed`` and
  ``Canceled`` raise), else the ``Location`` URL until it stops answering
  202, pausing ``Retry-After`` seconds (the runtime's ``Sleep``) between
  polls, within the driver's ``wait_timeout``.
* Errors are ``{"error": {"code", "message"}}`` with ``x-ms-request-id``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar
from typing import Unpack
from urllib.parse import quote
from urllib.parse import urlsplit

from overcast.auth.azure_ad import ARM_SCOPE
from overcast.auth.azure_ad import DEFAULT_AUTHORITY
from overcast.auth.azure_ad import fetch_token
from overcast.auth.azure_credentials import AzureServicePrincipal
from overcast.auth.azure_credentials import TokenCredentialSource
from overcast.auth.azure_credentials import fetch_assertion_token
from overcast.auth.azure_credentials import service_principal_from_environment
from overcast.auth.azure_imds import ManagedIdentity
from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import TokenCache
from overcast.auth.tokens import send_with_bearer
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.runtime.api import HttpApi
from overcast.runtime.api import RequestOptions
from overcast.runtime.api import decode_json
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.ops import poll
from overcast.runtime.options import check_endpoint
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.policy import parse_retry_after
from overcast.runtime.redact import Secret

__all__ = ["AUTH_CODES", "DEFAULT_ENDPOINT", "ArmApi", "segment"]

T = TypeVar("T")

DEFAULT_ENDPOINT: Final = "https://management.azure.com"
#: The longest pause between polls, whatever ``Retry-After`` says.
MAX_POLL_SECONDS: Final = 60.0
#: ARM error codes that mean the credentials are wrong or lack a role.
AUTH_CODES: Final = frozenset(
    {"AuthenticationFailed", "InvalidAuthenticationToken", "ExpiredAuthenticationToken",
     "InvalidAuthenticationTokenTenant", "AuthorizationFailed"}
)


def segment(value: object, what: str, driver: Any = None) -> str:
    """``value`` as one URL path segment: a non-empty string without ``/``."""
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise InvalidInput(f"{what} must be a non-empty name without '/': {value!r}",
                           driver=driver)
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class _Answer:
    """One look at a long-running operation: the answer, its JSON body (for
    ``Azure-AsyncOperation``), and whether it is a look or what started it."""

    response: Response
    data: dict[str, Any]
    looked: bool


class ArmApi(HttpApi):
    """Mixin: an Azure Resource Manager client (auth, api-version, pages,
    long-running operations). Call :meth:`_use_arm` in the constructor."""

    #: The api-version of calls :meth:`_api_version` does not place.
    api_version: ClassVar[str] = ""
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-ms-request-id",)
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}

    _client_secret: Secret | None = None
    _identity: ManagedIdentity | None = None
    _principal: AzureServicePrincipal | None = None
    _credential: TokenCredentialSource | None = None
    #: Where the credentials came from (``overcast profile show``).
    credential_source: str = "explicit"
    subscription_id: str | None
    resource_group: str | None
    #: Poll interval of a long-running operation that sends no ``Retry-After``.
    poll_interval: float = 5.0
    #: The longest a long-running operation is waited for.
    wait_timeout: float = 1800.0

    def _use_arm(self, *, tenant_id: str | None, client_id: str | None,
                 client_secret: str | Secret | None, subscription_id: str | None,
                 resource_group: str | None = None, endpoint: str | None = None,
                 authority: str | None = None, metadata_endpoint: str | None = None,
                 identity_client_id: str | None = None, poll_interval: float = 5.0,
                 wait_timeout: float = 1800.0, credential: Any = None) -> None:
        """Configure auth and placement (no request is sent here).

        With ``client_id`` and ``client_secret`` (and ``tenant_id``), the
        client-credentials flow; with neither, as ``DefaultAzureCredential``
        (:mod:`overcast.auth.azure_credentials`): ``credential`` (any object
        with ``get_token(*scopes)``), the environment's service principal
        (``AZURE_TENANT_ID``/``AZURE_CLIENT_ID`` with ``AZURE_CLIENT_SECRET`` or
        ``AZURE_CLIENT_CERTIFICATE_PATH``), else the machine's managed identity
        (``metadata_endpoint``), which also supplies ``subscription_id`` and
        ``resource_group`` when they are not given."""
        self.endpoint = check_endpoint(endpoint or DEFAULT_ENDPOINT, driver=self)
        self.authority = check_endpoint(authority or DEFAULT_AUTHORITY, option="authority",
                                        driver=self)
        self._origin = urlsplit(self.endpoint)[:2]
        self._tokens = TokenCache()
        for label, value in (("subscription_id", subscription_id),
                             ("resource_group", resource_group), ("tenant_id", tenant_id)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InvalidInput(f"{label} must be a non-empty string: {value!r}",
                                   driver=self)
        for option, number in (("poll_interval", poll_interval), ("wait_timeout", wait_timeout)):
            if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
                raise InvalidInput(f"{option} must be a positive number: {number!r}",
                                   driver=self)
        self.poll_interval = float(poll_interval)
        self.wait_timeout = float(wait_timeout)
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.tenant_id = tenant_id
        self.key = client_id or None
        if client_id or client_secret:
            if not client_id or not client_secret or not tenant_id:
                raise InvalidInput("Azure client credentials need tenant_id, the application "
                                   "(client) id as key and its secret", driver=self)
            if not subscription_id:
                raise InvalidInput("subscription_id is required with client credentials",
                                   driver=self)
            self._client_secret = Secret(client_secret)
            return
        principal = None if credential is not None else service_principal_from_environment()
        if credential is not None or principal is not None:
            self.subscription_id = subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID")
            if not self.subscription_id:
                raise InvalidInput("subscription_id is required (or AZURE_SUBSCRIPTION_ID) "
                                   "with these credentials", driver=self)
        if credential is not None:
            self._credential = TokenCredentialSource(credential, ARM_SCOPE)
            self.credential_source = self._credential.source
        elif principal is not None:
            self._principal = principal
            self.tenant_id, self.key = principal.tenant_id, principal.client_id
            self._client_secret = principal.client_secret
            self.credential_source = principal.source
        else:
            identity = identity_client_id or os.environ.get("AZURE_CLIENT_ID") or None
            self._identity = ManagedIdentity(metadata_endpoint, client_id=identity,
                                             **self._identity_options())
            self.credential_source = "managed identity (Azure IMDS)"

    def _identity_options(self) -> dict[str, Any]:
        """Runtime options the IMDS client shares with this driver (its hooks)."""
        hooks = self._options.get("hooks")
        return {"hooks": hooks} if hooks is not None else {}

    def close(self) -> None:
        """Close the connection pools (the driver's and the IMDS client's)."""
        super().close()
        if self._identity is not None:
            self._identity.close()

    # -- auth --------------------------------------------------------------------------

    def _token(self) -> Op[AccessToken]:
        """Operation: the cached ARM token, or a new one."""
        if self._identity is not None:
            return (yield from self._identity.token())
        if self._credential is not None:
            return (yield from self._credential.token())
        # Concurrent requests that find no token wait for one fetch.
        return (yield from self._tokens.get(self._fetch_token))

    def _fetch_token(self, now: float) -> Op[AccessToken]:
        if self._principal is not None and self._client_secret is None:
            token, expires_in, at = yield from fetch_assertion_token(
                self.authority, self._principal, ARM_SCOPE, driver=self)
        else:
            assert self._client_secret is not None and self.tenant_id and self.key
            token, expires_in, at = yield from fetch_token(
                self.authority, self.tenant_id, self.key, self._client_secret, ARM_SCOPE,
                driver=self)
        return self._tokens.store(token, expires_in, at)

    def _transmit(self, request: Request) -> Op[Response]:
        """Send with the ARM token; a 401 drops it and sends once more with a new one."""
        cache = self._tokens
        if self._identity is not None:
            cache = self._identity.cache
        elif self._credential is not None:
            cache = self._credential.cache
        return (yield from send_with_bearer(self._token, cache, request))

    def _placement(self) -> Op[tuple[str, str | None]]:
        """Operation: ``(subscription id, resource group)``: as given, else the
        machine's (instance metadata, managed identity only)."""
        if self.subscription_id and (self.resource_group or self._identity is None):
            return self.subscription_id, self.resource_group
        if self._identity is None:
            raise InvalidInput("no subscription_id", driver=self)
        found = yield from self._identity.instance()
        subscription = self.subscription_id or found.subscription_id
        if not subscription:
            raise InvalidCredentials("Azure IMDS named no subscription", driver=self)
        return subscription, self.resource_group or found.resource_group or None

    def _subscription_path(self) -> Op[str]:
        """Operation: ``/subscriptions/{id}``."""
        subscription, _ = yield from self._placement()
        return f"/subscriptions/{segment(subscription, 'subscription_id', self)}"

    def _group_path(self, resource_group: str | None = None) -> Op[str]:
        """Operation: ``/subscriptions/{id}/resourceGroups/{group}`` (``resource_group``,
        else the driver's default; InvalidInput when there is none)."""
        subscription, default = yield from self._placement()
        group = resource_group or default
        if not group:
            raise InvalidInput("no resource group: give ex_resource_group= or the driver's "
                               "resource_group=", driver=self)
        return (f"/subscriptions/{segment(subscription, 'subscription_id', self)}"
                f"/resourceGroups/{segment(group, 'resource group', self)}")

    # -- requests ----------------------------------------------------------------------

    def _api_version(self, path: str) -> str:
        """The api-version of a call to ``path`` (default :attr:`api_version`)."""
        return self.api_version

    def _request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Request:
        """Every ARM call carries ``api-version``; a URL the server gave carries its
        own query and must stay on the endpoint."""
        if path.startswith(("https://", "http://")):
            return super()._request(method, self._check_link(path), **options)
        params = options.get("params") or ()
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        options["params"] = [("api-version", self._api_version(path)), *pairs]
        return super()._request(method, path, **options)

    def _check_link(self, url: str) -> str:
        """A server-given URL must point at the endpoint: the token goes nowhere else."""
        if urlsplit(url)[:2] != self._origin:
            raise ProviderError(f"refusing to follow a link off {self.endpoint}: {url[:100]}",
                                driver=self)
        return url

    def _arm_pages(self, path: str, convert: Callable[[dict[str, Any]], T | None], *,
                   params: Mapping[str, str] | None = None, what: str = "",
                   missing: type[NotFound] | None = None) -> Iter[T]:
        """Iterator operation: every item of an ARM list (``value``), the first
        page from ``path``, the next ones from ``nextLink``; items ``convert``
        maps to None are left out."""

        def fetch(link: Cursor | None) -> Op[Page[T]]:
            target = path if link is None else str(link)
            data = yield from self._json("GET", target, params=(params or {}) if link is None
                                         else {}, what=what, missing=missing)
            data = data or {}
            items = [item for item in (convert(i) for i in data.get("value") or []
                                       if isinstance(i, dict)) if item is not None]
            following = data.get("nextLink")
            return Page.link(items, str(following) if following else None)

        return paginate(fetch, what=f"GET {path}", driver=self)

    # -- long-running operations -------------------------------------------------------

    def _arm_delete(self, path: str, what: str,
                    missing: type[NotFound] = NotFound) -> Op[Response]:
        """DELETE a resource and follow the deletion to its end; ``missing`` when
        there was nothing to delete (ARM answers 204)."""
        resp = yield from self._send("DELETE", path, what=what, missing=missing)
        if resp.status == 204:
            raise missing(what, driver=self)
        return (yield from self._settle(resp, f"deleting {what}"))

    def _settle(self, started: Response, what: str) -> Op[Response]:
        """Follow the long-running operation ``started`` began to its end and
        return its last answer (``started`` itself when it began none: no
        status header, or a status other than 200, 201 or 202).

        ``Azure-AsyncOperation`` is polled until its ``status`` is
        ``Succeeded`` (``Failed``/``Canceled`` raise ProviderError with the
        operation's error); else ``Location`` until it stops answering 202.
        Each pause is the answer's ``Retry-After`` (at least
        ``min(poll_interval, 1)``, at most a minute; without one
        :attr:`poll_interval`), taken with the runtime's ``Sleep``
        (:func:`~overcast.runtime.ops.poll`); past :attr:`wait_timeout`,
        OperationTimeout."""
        status_url = started.headers.get("Azure-AsyncOperation")
        location = started.headers.get("Location")
        if started.status not in (200, 201, 202) or not (status_url or location):
            return started
        url = self._check_link(status_url or location or "")

        def look() -> Op[_Answer]:
            resp = yield from self._send("GET", url)
            data: dict[str, Any] = {}
            if status_url:
                data = (yield from decode_json(resp, driver=self)) or {}
            return _Answer(resp, data, looked=True)

        def ended(answer: _Answer) -> bool:
            if not answer.looked:  # what started it tells nothing of the end
                return False
            if not status_url:
                return answer.response.status != 202  # the Location answers 202 until the end
            state = str(answer.data.get("status", "")).lower()
            if state in ("failed", "canceled", "cancelled"):
                error = answer.data.get("error") or {}
                raise ProviderError(f"{what} {state}: {error.get('message', '')}".strip(),
                                    code=error.get("code"), driver=self)
            return state == "succeeded"

        def advised(answer: _Answer) -> float | None:
            asked = parse_retry_after(answer.response.headers.get("Retry-After"))
            # Retry-After: 0 still pauses a little (the poll interval, at most 1 s).
            return None if asked is None else min(
                max(asked, min(self.poll_interval, 1.0)), MAX_POLL_SECONDS)

        last = yield from poll(
            look, ended, current=_Answer(started, {}, looked=False), pause_for=advised,
            interval=self.poll_interval, timeout=self.wait_timeout,
            timed_out=lambda answer: OperationTimeout(
                f"{what}: still running after {self.wait_timeout:g}s", driver=self))
        return last.response
