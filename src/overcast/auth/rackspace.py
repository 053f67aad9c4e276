"""Rackspace Identity v2.0: an API key for a token and a service catalog.

``POST {auth_url}/tokens`` with ``{"auth": {"RAX-KSKEY:apiKeyCredentials":
{"username", "apiKey"}}}`` answers ``access.token`` (``id``, ``expires`` in
ISO 8601, ``tenant.id``) and ``access.serviceCatalog``, whose services list
``endpoints`` with a ``region`` and a ``publicURL``. Wrong credentials answer
401. API requests carry the token in ``X-Auth-Token``; an expired or revoked
token answers 401.

:class:`RackspaceIdentity` is what a driver of any Rackspace service holds: a
cached token (shared by the driver's threads and tasks) and the endpoint of
its service in the catalog, and :meth:`RackspaceIdentity.exchange`, which
sends a request with the token and renews it once on a 401. It depends on no
area, so any Rackspace driver can use it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from typing import Final

from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import TokenCache
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text

__all__ = ["DEFAULT_AUTH_URL", "REFRESH_MARGIN", "RackspaceIdentity", "catalog_endpoint"]

DEFAULT_AUTH_URL: Final = "https://identity.api.rackspacecloud.com/v2.0"
#: A cached token is renewed this long before it expires (or at 90% of a short life).
REFRESH_MARGIN: Final = 60.0


def _expiry(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 ``expires`` value."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def catalog_endpoint(catalog: Sequence[Mapping[str, Any]], names: Sequence[str],
                     region: str | None) -> str | None:
    """The ``publicURL`` of the first service named (``name`` or ``type``) in
    ``names``, in ``region`` when the service lists several; ``None`` if none."""
    for service in catalog:
        if service.get("name") not in names and service.get("type") not in names:
            continue
        endpoints = list(service.get("endpoints") or [])
        regional = [e for e in endpoints
                    if region and str(e.get("region", "")).lower() == region.lower()]
        for entry in regional or endpoints:
            if entry.get("publicURL"):
                return str(entry["publicURL"]).rstrip("/")
    return None


class RackspaceIdentity:
    """A Rackspace user's token and the endpoint of one service.

    ``services`` are the catalog names or types of the service wanted (in
    order: ``("cloudLoadBalancers", "rax:load-balancer")``); ``region`` picks
    among its endpoints; ``endpoint`` overrides the catalog's URL. ``owner``
    is the driver, named in errors. No request is made here.
    """

    def __init__(self, username: str, api_key: str | Secret, *, services: Sequence[str],
                 region: str | None = None, auth_url: str = DEFAULT_AUTH_URL,
                 endpoint: str | None = None, margin: float = REFRESH_MARGIN,
                 owner: Any = None) -> None:
        if not username or not api_key:
            raise InvalidInput("a Rackspace user name and API key are required", driver=owner)
        self.username = str(username)
        self.api_key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        self.services = tuple(services)
        self.region = region
        self.auth_url = auth_url.rstrip("/")
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.cache = TokenCache(margin=margin)
        self._owner = owner
        #: How many tokens were fetched (for tests and metrics).
        self.fetched = 0

    def __repr__(self) -> str:
        return f"<RackspaceIdentity {self.username!r} region={self.region!r}>"

    def secrets(self) -> tuple[Secret, ...]:
        """What must never be shown."""
        return (self.api_key,)

    def token_request(self) -> Request:
        """The request that asks Identity for a token."""
        body = {"auth": {"RAX-KSKEY:apiKeyCredentials": {
            "username": self.username, "apiKey": self.api_key.reveal()}}}
        return Request("POST", f"{self.auth_url}/tokens",
                       headers={"Content-Type": "application/json",
                                "Accept": "application/json"},
                       body=json.dumps(body).encode(), idempotent=True)

    def token(self) -> Op[AccessToken]:
        """The cached token, else a new one (``extra``: ``tenant``, ``endpoint``)."""
        now: float = yield Call(time.time)
        cached = self.cache.current(now)
        if cached is not None:
            return cached
        resp: Response = yield self.token_request()
        said = redact_text(resp.text[:300], self.secrets())
        if resp.status in (401, 403):
            raise InvalidCredentials(f"Rackspace Identity refused {self.username!r}: {said}",
                                     driver=self._owner)
        if not 200 <= resp.status < 300:
            raise ProviderError(f"Rackspace Identity answered {resp.status}: {said}",
                                status=resp.status, driver=self._owner)
        try:
            access = resp.json()["access"]
            token = access["token"]
            value, expires = str(token["id"]), _expiry(str(token["expires"]))
            tenant = str((token.get("tenant") or {}).get("id", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(f"Rackspace Identity sent an unusable token: {exc!r}",
                                driver=self._owner) from None
        endpoint = self.endpoint or catalog_endpoint(access.get("serviceCatalog") or [],
                                                     self.services, self.region)
        if endpoint is None:
            raise ProviderError(f"the service catalog lists no {self.services[0]} endpoint"
                                f"{f' in {self.region}' if self.region else ''}",
                                driver=self._owner)
        self.fetched += 1
        now = yield Call(time.time)
        return self.cache.store(Secret(value), expires - now, now,
                                {"tenant": tenant, "endpoint": endpoint})

    def exchange(self, request: Request,
                 locate: Callable[[AccessToken, str], str] | None = None) -> Op[Response]:
        """Send ``request`` with the token (its URL made by ``locate(token,
        url)``, by default a path below the service's endpoint); on a 401 drop
        the token and send once more with a fresh one."""
        resp: Response | None = None
        for _attempt in (1, 2):
            token = yield from self.token()
            if locate is not None:
                url = locate(token, request.url)
            elif "://" in request.url:
                url = request.url
            else:
                url = f"{token.extra['endpoint']}{request.url}"
            resp = yield replace(request.with_headers({"X-Auth-Token": token.token.reveal()}),
                                 url=url)
            if resp.status != 401:
                return resp
            self.cache.discard(token)
        assert resp is not None
        return resp
