"""Credentials inside Azure: managed identity tokens from the Instance Metadata Service.

A virtual machine (or scale set, App Service, ...) with a managed identity
gets Azure Resource Manager tokens from IMDS, a link-local HTTP service at
``http://169.254.169.254`` that answers only from inside the machine:

* ``GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/``
  with the header ``Metadata: true`` (a request without it is refused with
  400 ``invalid_request``, "Required metadata header not specified"; the header
  keeps a server-side request forgery from reaching the endpoint) answers
  ``{"access_token", "expires_in", "expires_on", "resource", "token_type"}``
  (``expires_in`` as a string of seconds). ``client_id=`` picks one of
  several user-assigned identities.
* ``GET /metadata/instance?api-version=2021-02-01`` (same header) describes
  the machine; ``compute.subscriptionId``, ``compute.resourceGroupName`` and
  ``compute.location`` are where a driver works by default.

Outside Azure, 169.254.169.254 does not answer: the probe is one attempt
with a one-second connect and read timeout, no retries, and fails with
:class:`~overcast.errors.InvalidCredentials` naming the URL it tried.
Nothing here runs at import or when a driver is given credentials: a
:class:`ManagedIdentity` sends its first request when the first call needs a
token.

Tokens are cached (:class:`~overcast.auth.tokens.TokenCache`) and replaced
shortly before they expire. Concurrent calls that find no fresh token make
one fetch between them (:class:`~overcast.auth.tokens.SharedFetch`, on the runtime's ``Exclusive``
effect): the first fetches, the others take its result.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar

from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import SharedFetch
from overcast.auth.tokens import TokenCache
from overcast.auth.tokens import parse_token_response
from overcast.driver import BaseDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import TransportError
from overcast.runtime.api import HttpApi
from overcast.runtime.effects import Call
from overcast.runtime.effects import Delegate
from overcast.runtime.effects import Op
from overcast.runtime.effects import Response
from overcast.runtime.operation import operation
from overcast.runtime.options import check_endpoint
from overcast.runtime.policy import RetryPolicy
from overcast.runtime.transports.base import Timeouts

__all__ = [
    "ARM_RESOURCE",
    "DEFAULT_METADATA_ENDPOINT",
    "ImdsClient",
    "InstanceMetadata",
    "ManagedIdentity",
]

T = TypeVar("T")

#: Where IMDS answers inside Azure.
DEFAULT_METADATA_ENDPOINT: Final = "http://169.254.169.254"
#: The resource (audience) of an Azure Resource Manager token.
ARM_RESOURCE: Final = "https://management.azure.com/"
TOKEN_PATH: Final = "/metadata/identity/oauth2/token"
TOKEN_API_VERSION: Final = "2018-02-01"
INSTANCE_PATH: Final = "/metadata/instance"
INSTANCE_API_VERSION: Final = "2021-02-01"
#: How long the probe waits for IMDS to connect and to answer.
PROBE_TIMEOUT: Final = 1.0


class ImdsClient(HttpApi, BaseDriver):
    """The Instance Metadata Service at ``endpoint``: one attempt per request,
    one second to connect and to answer (IMDS is local or absent)."""

    name: ClassVar[str] = "azure-imds"
    label: ClassVar[str] = "Azure IMDS"
    default_headers: ClassVar[Mapping[str, str]] = {"Metadata": "true",
                                                    "Accept": "application/json"}

    def __init__(self, endpoint: str = DEFAULT_METADATA_ENDPOINT, *,
                 probe_timeout: float = PROBE_TIMEOUT, **options: Any) -> None:
        options.setdefault("retry", RetryPolicy(max_attempts=1))
        options.setdefault("timeout", Timeouts(connect=probe_timeout, read=probe_timeout,
                                               total=probe_timeout * 2))
        super().__init__(**options)
        self.endpoint = check_endpoint(endpoint, option="metadata_endpoint", driver=self)

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint}

    def _tried(self, path: str) -> str:
        return f"{self.endpoint}{path}"

    def _reach(self, path: str, params: list[tuple[str, str]]) -> Op[Response]:
        """GET ``path`` once; outside Azure (nothing answers) InvalidCredentials
        naming what was tried."""
        try:
            resp: Response = yield self._request("GET", path, params=params, sign=False)
        except (TransportError, OperationTimeout) as exc:
            raise InvalidCredentials(
                f"no Azure credentials: none were given, and the managed identity endpoint "
                f"{self._tried(path)} (Azure IMDS) did not answer within "
                f"{self._timeouts.connect:g}s: {exc}", driver=self) from None
        return resp

    @operation
    def fetch_token(self, resource: str = ARM_RESOURCE,
                    client_id: str | None = None) -> Op[tuple[AccessToken, float]]:
        """A managed identity token for ``resource``; ``(token, now)``."""
        params = [("api-version", TOKEN_API_VERSION), ("resource", resource)]
        if client_id:
            params.append(("client_id", client_id))
        now: float = yield Call(time.time)
        resp = yield from self._reach(TOKEN_PATH, params)
        try:
            token, expires_in = parse_token_response(resp, driver=self)
        except ProviderError as exc:  # IMDS answered, but has no identity for us
            raise InvalidCredentials(f"Azure IMDS {self._tried(TOKEN_PATH)} gave no managed "
                                     f"identity token: {exc}", driver=self) from None
        return AccessToken(token, now + expires_in), expires_in

    @operation
    def fetch_instance(self) -> Op[InstanceMetadata]:
        """The machine's instance metadata (``compute`` section)."""
        resp = yield from self._reach(INSTANCE_PATH, [("api-version", INSTANCE_API_VERSION)])
        if not resp.ok:
            raise InvalidCredentials(
                f"Azure IMDS {self._tried(INSTANCE_PATH)} answered {resp.status}: "
                f"{resp.text[:200]}", driver=self)
        data = resp.json()
        compute = data.get("compute") if isinstance(data, dict) else None
        if not isinstance(compute, dict):
            raise InvalidCredentials(f"Azure IMDS {self._tried(INSTANCE_PATH)} gave no "
                                     "compute metadata", driver=self)
        return InstanceMetadata(
            subscription_id=str(compute.get("subscriptionId") or ""),
            resource_group=str(compute.get("resourceGroupName") or ""),
            location=str(compute.get("location") or ""),
            name=str(compute.get("name") or ""),
        )


class InstanceMetadata:
    """Where the machine runs: its subscription, resource group, location and name."""

    __slots__ = ("location", "name", "resource_group", "subscription_id")

    def __init__(self, subscription_id: str, resource_group: str, location: str,
                 name: str = "") -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.location = location
        self.name = name

    def __repr__(self) -> str:
        return (f"InstanceMetadata(subscription_id={self.subscription_id!r}, "
                f"resource_group={self.resource_group!r}, location={self.location!r})")


class ManagedIdentity:
    """ARM tokens and default placement from Azure IMDS, for drivers given no key.

    ``metadata_endpoint`` is IMDS's base URL (tests point it at a fixture);
    ``client_id`` selects a user-assigned identity. ``options`` are runtime
    options for the IMDS client (hooks, transports). Nothing is sent until a
    call needs a token (:meth:`token`) or the placement (:meth:`instance`).
    """

    def __init__(self, metadata_endpoint: str | None = None, *, client_id: str | None = None,
                 resource: str = ARM_RESOURCE, **options: Any) -> None:
        self.client = ImdsClient(metadata_endpoint or DEFAULT_METADATA_ENDPOINT, **options)
        if client_id is not None and not isinstance(client_id, str):
            raise InvalidInput(f"client_id must be a string: {client_id!r}")
        self.client_id = client_id
        self.resource = resource
        self.cache = TokenCache()
        self._placement: SharedFetch[InstanceMetadata] = SharedFetch()

    def __repr__(self) -> str:
        return f"ManagedIdentity({self.client.endpoint!r})"

    def token(self) -> Op[AccessToken]:
        """Operation: the cached token while fresh, else one fetch shared by
        every concurrent caller."""
        return (yield from self.cache.get(self._fetch_token))

    def _fetch_token(self, now: float) -> Op[AccessToken]:
        token, expires_in = yield Delegate(
            self.client, self.client.fetch_token.op(self.resource, self.client_id))
        return self.cache.store(token.token, expires_in, now)

    def instance(self) -> Op[InstanceMetadata]:
        """Operation: the machine's placement, fetched once."""
        return (yield from self._placement.run(self._delegate_instance))

    def _delegate_instance(self, now: float) -> Op[InstanceMetadata]:
        found: InstanceMetadata = yield Delegate(self.client, self.client.fetch_instance.op())
        return found

    def close(self) -> None:
        """Close the IMDS client's connections."""
        self.client.close()
