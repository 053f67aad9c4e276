"""OpenStack Identity (Keystone) v3 token auth, as an operation.

Facts of the Identity v3 API this module is built on:

* ``POST {auth_url}/v3/auth/tokens`` with an ``auth`` object asks for a token.
  Password auth names the user (``name`` and its ``domain``, or ``id``) and
  the password, and scopes the token to a project (``name`` and its
  ``domain``, or ``id``)::

      {"auth": {"identity": {"methods": ["password"],
                             "password": {"user": {"name": "u",
                                                   "domain": {"name": "Default"},
                                                   "password": "..."}}},
                "scope": {"project": {"name": "p", "domain": {"name": "Default"}}}}}

  Application-credential auth gives the credential's ``id`` and ``secret``
  and no scope (the credential is bound to its project)::

      {"auth": {"identity": {"methods": ["application_credential"],
                             "application_credential": {"id": "...", "secret": "..."}}}}

* The answer is ``201 Created``: the token is in the ``X-Subject-Token``
  header, and the body's ``token`` holds ``expires_at`` and ``issued_at``
  (ISO 8601, UTC), the ``project`` and ``user``, and the service ``catalog``:
  a list of services (``type``, ``name``) each with ``endpoints``
  (``interface``: ``public``/``internal``/``admin``, ``region`` or
  ``region_id``, ``url``). Wrong credentials answer ``401`` with
  ``{"error": {"code": 401, "title": "Unauthorized", "message": ...}}``.
* Every API request carries the token in ``X-Auth-Token``; an expired or
  revoked token answers ``401`` there too.

:class:`KeystoneSession` puts it together for a driver: it fetches a token
when none is cached (an operation the driver's operations ``yield from``),
caches it in a :class:`~overcast.auth.tokens.TokenCache` with the endpoints
the driver needs (chosen by service type, region and interface) until shortly
before it expires, and :meth:`KeystoneSession.send` drops a token the API
refuses with ``401`` and sends that request once more with a fresh one.

Passwords and secrets are :class:`~overcast.runtime.redact.Secret` values,
revealed only into the body of the token request; the runtime already masks
``X-Auth-Token`` and ``X-Subject-Token`` in logs and errors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Final

from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import TokenCache
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text

__all__ = [
    "INTERFACES",
    "CatalogEndpoint",
    "EndpointNotFound",
    "KeystoneCredentials",
    "KeystoneSession",
    "KeystoneToken",
    "ServiceCatalog",
    "fetch_token",
    "parse_expiry",
    "parse_token_response",
    "token_request",
]

#: The endpoint interfaces a catalog lists, in Keystone's names.
INTERFACES: Final = ("public", "internal", "admin")
#: A cached token is renewed this long before it expires (or at 90% of a short life).
REFRESH_MARGIN: Final = 60.0
_JSON: Final = "application/json"


class EndpointNotFound(ProviderError):
    """The service catalog has no endpoint for a service in the region and
    interface asked for (``.service``, ``.region``, ``.interface``)."""

    def __init__(self, service: str, region: str | None, interface: str,
                 available: Sequence[str] = (), *, driver: Any = None) -> None:
        where = f"region {region!r}" if region else "any region"
        have = f" (catalog has: {', '.join(available)})" if available else ""
        super().__init__(
            f"the service catalog has no {service!r} endpoint for the {interface} "
            f"interface in {where}{have}",
            code="EndpointNotFound",
            driver=driver,
        )
        self.service = service
        self.region = region
        self.interface = interface


def _interface(value: str) -> str:
    """``"publicURL"`` (Identity v2 style) or ``"public"`` -> ``"public"``."""
    lowered = str(value).lower()
    return lowered[:-3] if lowered.endswith("url") else lowered


# -- credentials ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeystoneCredentials:
    """What to authenticate with, and where.

    Either password auth (``username`` and ``password``, the user's domain
    name ``user_domain``, and a project by ``project_name`` in
    ``project_domain`` or by ``project_id``) or an application credential
    (``application_credential_id`` and ``application_credential_secret``).
    ``auth_url`` is the Identity endpoint, with or without its ``/v3``.
    """

    auth_url: str
    username: str | None = None
    password: Secret | None = None
    user_domain: str = "Default"
    project_name: str | None = None
    project_id: str | None = None
    project_domain: str = "Default"
    application_credential_id: str | None = None
    application_credential_secret: Secret | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.auth_url, str) or not self.auth_url.startswith(
            ("http://", "https://")
        ):
            raise InvalidInput(f"auth_url must be an http(s) URL: {self.auth_url!r}")
        if self.auth_url.rstrip("/").endswith("/v2.0"):
            raise NotSupported("Identity v2.0 is gone from OpenStack; use the v3 auth_url")
        for name in ("password", "application_credential_secret"):
            value: object = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Secret(value))
        if self.application_credential_id or self.application_credential_secret:
            if not (self.application_credential_id and self.application_credential_secret):
                raise InvalidInput(
                    "an application credential needs both its id and its secret"
                )
            return
        if not self.username or not self.password:
            raise InvalidInput(
                "Keystone needs a user name and password, or an application credential"
            )
        if not self.project_name and not self.project_id:
            raise InvalidInput("password auth needs a project name or project id to scope to")

    @property
    def uses_application_credential(self) -> bool:
        """Whether this authenticates with an application credential."""
        return self.application_credential_id is not None

    @property
    def token_url(self) -> str:
        """``{auth_url}/v3/auth/tokens`` (``/v3`` added when missing)."""
        base = self.auth_url.rstrip("/")
        if not base.endswith("/v3"):
            base = f"{base}/v3"
        return f"{base}/auth/tokens"

    def auth_body(self) -> dict[str, Any]:
        """The ``auth`` request body (it holds the password or secret: never log it)."""
        if self.application_credential_id is not None:
            assert self.application_credential_secret is not None
            return {
                "auth": {
                    "identity": {
                        "methods": ["application_credential"],
                        "application_credential": {
                            "id": self.application_credential_id,
                            "secret": self.application_credential_secret.reveal(),
                        },
                    }
                }
            }
        assert self.password is not None
        project: dict[str, Any]
        if self.project_id:
            project = {"id": self.project_id}
        else:
            project = {"name": self.project_name, "domain": {"name": self.project_domain}}
        return {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self.username,
                            "domain": {"name": self.user_domain},
                            "password": self.password.reveal(),
                        }
                    },
                },
                "scope": {"project": project},
            }
        }

    def secrets(self) -> tuple[Secret, ...]:
        """The secret values to keep out of any text."""
        return tuple(
            s for s in (self.password, self.application_credential_secret) if s is not None
        )

    def describe(self) -> str:
        """Who authenticates, for messages (never the secret)."""
        if self.application_credential_id is not None:
            return f"application credential {self.application_credential_id!r}"
        return f"user {self.username!r} (domain {self.user_domain!r})"

    def __repr__(self) -> str:
        return f"KeystoneCredentials({self.auth_url!r}, {self.describe()})"


# -- the catalog -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogEndpoint:
    """One endpoint of a service in the catalog."""

    service_type: str
    service_name: str
    interface: str
    region: str | None
    url: str


@dataclass(frozen=True, slots=True)
class ServiceCatalog:
    """The service catalog of a token, searchable by type, region and interface."""

    endpoints: tuple[CatalogEndpoint, ...] = ()

    @classmethod
    def from_json(cls, catalog: Any) -> ServiceCatalog:
        """Parse a v3 ``token.catalog`` list (unknown shapes are skipped)."""
        found: list[CatalogEndpoint] = []
        if not isinstance(catalog, list):
            return cls(())
        for service in catalog:
            if not isinstance(service, Mapping):
                continue
            stype = str(service.get("type") or "")
            sname = str(service.get("name") or "")
            for entry in service.get("endpoints") or ():
                if not isinstance(entry, Mapping) or not entry.get("url"):
                    continue
                region = entry.get("region_id") or entry.get("region")
                found.append(
                    CatalogEndpoint(
                        service_type=stype,
                        service_name=sname,
                        interface=_interface(str(entry.get("interface") or "public")),
                        region=str(region) if region else None,
                        url=str(entry["url"]).rstrip("/"),
                    )
                )
        return cls(tuple(found))

    def regions(self) -> list[str]:
        """Every region the catalog names, in order."""
        return list(dict.fromkeys(e.region for e in self.endpoints if e.region))

    def find(self, service_types: Sequence[str], *, interface: str = "public",
             region: str | None = None) -> CatalogEndpoint | None:
        """The endpoint of the first of ``service_types`` the catalog has for
        ``interface`` in ``region`` (any region when ``None``: the first listed)."""
        wanted = _interface(interface)
        for stype in service_types:
            for entry in self.endpoints:
                if entry.service_type != stype or entry.interface != wanted:
                    continue
                if region is not None and entry.region != region:
                    continue
                return entry
        return None

    def url_for(self, service_types: Sequence[str], *, interface: str = "public",
                region: str | None = None, driver: Any = None) -> str:
        """Like :meth:`find`, but the URL, or :class:`EndpointNotFound`."""
        entry = self.find(service_types, interface=interface, region=region)
        if entry is None:
            available = sorted(
                {
                    f"{e.service_type}/{e.interface}/{e.region or '-'}"
                    for e in self.endpoints
                    if e.service_type in service_types
                }
            )
            raise EndpointNotFound(
                service_types[0], region, _interface(interface), available, driver=driver
            )
        return entry.url


# -- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeystoneToken:
    """A token as Keystone issued it.

    ``expires_at`` and ``issued_at`` are Unix times by Keystone's clock;
    ``lifetime`` is how long it lives (so a local clock that differs from
    Keystone's does not matter).
    """

    value: Secret
    expires_at: float
    issued_at: float | None
    catalog: ServiceCatalog
    project_id: str | None = None
    project_name: str | None = None
    user_id: str | None = None
    methods: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def lifetime(self, now: float) -> float:
        """Seconds the token lives from its issue (or from ``now`` when Keystone
        did not say when it was issued)."""
        start = self.issued_at if self.issued_at is not None else now
        return max(0.0, self.expires_at - start)

    def __repr__(self) -> str:
        return f"KeystoneToken(***, expires_at={self.expires_at:.0f}, project={self.project_id!r})"


def parse_expiry(text: str) -> float:
    """Unix time of a Keystone timestamp (``2015-11-09T01:42:57.527363Z``)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _fault_text(resp: Response, secrets: Sequence[Secret]) -> str:
    text = resp.text[:300]
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        error = data.get("error")
        if isinstance(error, Mapping):
            text = str(error.get("message") or error.get("title") or text)
    return redact_text(text.strip(), secrets)


def parse_token_response(
    resp: Response, *, driver: Any = None, secrets: Sequence[Secret] = ()
) -> KeystoneToken:
    """The token of an answer to ``POST /v3/auth/tokens``.

    ``401``/``403`` raise :class:`~overcast.errors.InvalidCredentials`; other
    failures and unusable answers raise :class:`~overcast.errors.ProviderError`.
    Messages never hold the token or ``secrets``.
    """
    if resp.status in (401, 403):
        raise InvalidCredentials(
            f"Keystone refused the credentials: {_fault_text(resp, secrets)}", driver=driver
        )
    if not resp.ok:
        raise ProviderError(
            f"Keystone token request failed: {_fault_text(resp, secrets)}",
            status=resp.status,
            request_id=resp.headers.get("X-Openstack-Request-Id"),
            driver=driver,
        )
    value = resp.headers.get("X-Subject-Token")
    if not value:
        raise ProviderError(
            "Keystone answered without an X-Subject-Token header", status=resp.status,
            driver=driver,
        )
    try:
        token = resp.json()["token"]
        expires_at = parse_expiry(str(token["expires_at"]))
        issued = token.get("issued_at")
        issued_at = parse_expiry(str(issued)) if issued else None
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderError(
            f"Keystone sent an unusable token body: {type(exc).__name__}",
            status=resp.status,
            driver=driver,
        ) from None
    project = token.get("project") if isinstance(token.get("project"), Mapping) else {}
    user = token.get("user") if isinstance(token.get("user"), Mapping) else {}
    methods = token.get("methods") if isinstance(token.get("methods"), list) else []
    return KeystoneToken(
        value=Secret(value),
        expires_at=expires_at,
        issued_at=issued_at,
        catalog=ServiceCatalog.from_json(token.get("catalog")),
        project_id=str(project["id"]) if project.get("id") else None,
        project_name=str(project["name"]) if project.get("name") else None,
        user_id=str(user["id"]) if user.get("id") else None,
        methods=tuple(str(m) for m in methods),
    )


def token_request(credentials: KeystoneCredentials) -> Request:
    """The ``POST /v3/auth/tokens`` request.

    Asking for a token twice is harmless, so the runtime may resend it; it is
    not signed (it carries no token).
    """
    body = json.dumps(credentials.auth_body()).encode("utf-8")
    return Request(
        "POST",
        credentials.token_url,
        headers={"Content-Type": _JSON, "Accept": _JSON},
        body=body,
        idempotent=True,
        sign=False,
    )


def fetch_token(
    credentials: KeystoneCredentials, *, driver: Any = None
) -> Op[tuple[KeystoneToken, float]]:
    """Operation: ask Keystone for a token; return it and the local time it was asked at."""
    now: float = yield Call(time.time)
    resp: Response = yield token_request(credentials)
    return parse_token_response(resp, driver=driver, secrets=credentials.secrets()), now


# -- the session ---------------------------------------------------------------------------


class KeystoneSession:
    """A cached Keystone token and the endpoints a driver uses, shared by its
    threads and tasks.

    ``services`` maps a key of the driver's choosing to the service types to
    look for, in order (``{"volume": ("block-storage", "volumev3")}``); the
    endpoint of each is picked from the catalog by ``region`` (the first
    listed when ``None``) and ``interface``. A service the catalog lacks is
    reported by :meth:`endpoint` when it is used, not when authenticating.
    """

    def __init__(self, credentials: KeystoneCredentials, services: Mapping[str, Sequence[str]], *,
                 region: str | None = None, interface: str = "public",
                 margin: float = REFRESH_MARGIN, owner: Any = None) -> None:
        wanted = _interface(interface)
        if wanted not in INTERFACES:
            raise InvalidInput(
                f"interface must be one of {', '.join(INTERFACES)}: {interface!r}", driver=owner
            )
        self.credentials = credentials
        self.services = {key: tuple(types) for key, types in services.items()}
        self.region = region
        self.interface = wanted
        self.cache = TokenCache(margin=margin)
        self._owner = owner
        #: How many tokens this session has fetched (for tests and metrics).
        self.fetched = 0

    def __repr__(self) -> str:
        return (
            f"<KeystoneSession {self.credentials.describe()} region={self.region!r} "
            f"interface={self.interface!r}>"
        )

    def token(self) -> Op[AccessToken]:
        """The token to use: the cached one, else a new one from Keystone.

        The cache lock is held only to read and write the cache, never across
        the request, so concurrent first calls may each fetch a token; all are
        valid and the last stored wins.
        """
        now: float = yield Call(time.time)
        cached = self.cache.current(now)
        if cached is not None:
            return cached
        token, asked_at = yield from fetch_token(self.credentials, driver=self._owner)
        self.fetched += 1
        extra: dict[str, str] = {}
        if token.project_id:
            extra["project_id"] = token.project_id
        missing = []
        for key, types in self.services.items():
            entry = token.catalog.find(types, interface=self.interface, region=self.region)
            if entry is None:
                missing.append(key)
            else:
                extra[f"endpoint:{key}"] = entry.url
        if missing and len(missing) == len(self.services) and self.services:
            # Nothing usable at all: most likely a wrong region or interface.
            first = next(iter(self.services))
            token.catalog.url_for(
                self.services[first], interface=self.interface, region=self.region,
                driver=self._owner,
            )
        return self.cache.store(token.value, token.lifetime(asked_at), asked_at, extra)

    def endpoint(self, token: AccessToken, service: str) -> str:
        """The URL of ``service`` (a key of ``services``) in ``token``'s catalog."""
        url = token.extra.get(f"endpoint:{service}")
        if url is None:
            types = self.services.get(service, (service,))
            raise EndpointNotFound(types[0], self.region, self.interface, driver=self._owner)
        return url

    def send(self, service: str, method: str, path: str, *,
             headers: Mapping[str, str] | None = None, params: Sequence[tuple[str, str]] = (),
             body: bytes | None = None, idempotent: bool | None = None) -> Op[Response]:
        """Send one API request to ``service`` (``path`` relative to its
        endpoint, or a full URL); see :meth:`exchange`."""
        request = Request(method, path, headers={"Accept": _JSON, **(headers or {})},
                          params=tuple(params), body=body, idempotent=idempotent)

        def locate(token: AccessToken, url: str) -> str:
            return url if "://" in url else f"{self.endpoint(token, service)}{url}"

        return (yield from self.exchange(request, locate))

    def exchange(
        self, request: Request, locate: Callable[[AccessToken, str], str] | None = None
    ) -> Op[Response]:
        """Send a prepared API request with the session's token; on ``401`` drop
        the token and send it once more with a fresh one, then raise
        :class:`~overcast.errors.InvalidCredentials`.

        ``locate(token, url)`` gives the URL to send to from the request's
        (say, a path below an endpoint of the token's catalog); without it the
        request's URL is used as it is. A 401 comes from the token check, before
        the service acts, so the second send is safe even for a create.
        """
        resp: Response | None = None
        for _attempt in (1, 2):
            token = yield from self.token()
            url = request.url if locate is None else locate(token, request.url)
            headers = {**request.headers, "X-Auth-Token": token.token.reveal()}
            resp = yield Request(
                request.method, url, headers, request.params, request.body, request.stream,
                request.idempotent, request.timeout, request.sign,
            )
            if resp.status != 401:
                return resp
            self.cache.discard(token)
        assert resp is not None
        raise InvalidCredentials(
            f"{request.method} {resp.url} refused a fresh Keystone token for "
            f"{self.credentials.describe()}: "
            f"{_fault_text(resp, self.credentials.secrets())}",
            driver=self._owner,
        )
