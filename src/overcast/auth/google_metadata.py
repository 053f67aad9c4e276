"""Google credentials inside the cloud: tokens from the Compute Engine metadata server.

A program running on a Compute Engine instance (or GKE, Cloud Run, ...) needs
no key file: the metadata server hands out access tokens of the instance's
service account. What this module relies on, from Google's documentation
("About VM metadata", "Authenticate workloads using service accounts"):

* The server is ``http://metadata.google.internal`` (169.254.169.254); the
  ``GCE_METADATA_HOST`` environment variable (``host[:port]``) names another,
  as Google's client libraries read it. Every request must carry
  ``Metadata-Flavor: Google``, and every answer carries it back (a server
  without it is not a metadata server); a request without it is refused
  with 403.
* ``GET /computeMetadata/v1/instance/service-accounts/default/token`` answers
  ``{"access_token", "expires_in", "token_type": "Bearer"}``.
* ``GET /computeMetadata/v1/project/project-id`` is the project id (text);
  ``GET /computeMetadata/v1/instance/zone`` is
  ``projects/<number>/zones/<zone>``.

Nothing here probes anything at import or construction: the first request
that needs a token fetches one. Requests to the metadata server go through a
small driver of their own (:class:`MetadataServer`) with one attempt and a
one-second connect timeout, so outside a cloud the probe gives up within a
second (a refused port at once), naming the address it tried. Tokens are
cached (:class:`~overcast.auth.tokens.TokenCache`) and renewed shortly before
they expire; concurrent calls that find the cache stale fetch one token for
all of them (an :class:`~overcast.runtime.effects.Exclusive` step on a
:class:`~overcast.runtime.effects.Gate`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import TokenCache
from overcast.auth.tokens import parse_token_response
from overcast.errors import InvalidCredentials
from overcast.errors import OperationTimeout
from overcast.errors import TransportError
from overcast.runtime.api import HttpApi
from overcast.runtime.effects import Call
from overcast.runtime.effects import Delegate
from overcast.runtime.effects import Op
from overcast.runtime.effects import Response
from overcast.runtime.options import check_endpoint
from overcast.runtime.policy import RetryPolicy
from overcast.runtime.redact import Secret
from overcast.runtime.transports.base import Timeouts

__all__ = [
    "DEFAULT_METADATA_ENDPOINT",
    "METADATA_HOST_ENV",
    "MetadataCredentials",
    "MetadataServer",
    "metadata_endpoint",
]

#: Where the metadata server answers on Compute Engine.
DEFAULT_METADATA_ENDPOINT: Final = "http://metadata.google.internal"
#: The environment variable naming another metadata server (``host[:port]``).
METADATA_HOST_ENV: Final = "GCE_METADATA_HOST"
#: The header every metadata request and answer carries.
FLAVOR: Final = {"Metadata-Flavor": "Google"}
TOKEN_PATH: Final = "/computeMetadata/v1/instance/service-accounts/default/token"
PROJECT_PATH: Final = "/computeMetadata/v1/project/project-id"
ZONE_PATH: Final = "/computeMetadata/v1/instance/zone"
#: How long the probe waits for a connection to the metadata server.
PROBE_TIMEOUT: Final = 1.0
#: Options of the calling driver the metadata client shares (how it sends).
_SHARED_OPTIONS: Final = ("sync_transport", "async_transport", "hooks", "pool_size")


def metadata_endpoint(explicit: str | None = None, *, driver: Any = None) -> str:
    """The metadata server's base URL: ``explicit``, else ``http://`` and
    ``$GCE_METADATA_HOST``, else :data:`DEFAULT_METADATA_ENDPOINT`."""
    if explicit is not None:
        return check_endpoint(explicit, option="metadata_endpoint", driver=driver)
    host = os.environ.get(METADATA_HOST_ENV, "").strip()
    if host:
        url = host if host.startswith(("http://", "https://")) else f"http://{host}"
        return check_endpoint(url, option=METADATA_HOST_ENV, driver=driver)
    return DEFAULT_METADATA_ENDPOINT


class MetadataServer(HttpApi):
    """The metadata server as a small driver of its own: requests carry
    ``Metadata-Flavor: Google``, are tried once, and give up after
    :data:`PROBE_TIMEOUT` seconds without a connection. Callers reach it
    through :class:`~overcast.runtime.effects.Delegate`, so it serves sync
    and async calls alike."""

    name: ClassVar[str] = "gce-metadata"
    label: ClassVar[str] = "GCE metadata server"
    default_headers: ClassVar[Mapping[str, str]] = FLAVOR

    def __init__(self, endpoint: str, **options: Any) -> None:
        super().__init__(retry=RetryPolicy(max_attempts=1),
                         timeout=Timeouts(connect=PROBE_TIMEOUT, read=10.0, total=30.0),
                         **options)
        self.endpoint = endpoint

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint}

    def _get(self, path: str) -> Op[Response]:
        url = f"{self.endpoint}{path}"
        try:
            resp: Response = yield from self._send("GET", path, sign=False)
        except (TransportError, OperationTimeout) as exc:
            raise InvalidCredentials(
                f"no Google credentials were given, and no metadata server answered at "
                f"{self.endpoint} (tried GET {url} with Metadata-Flavor: Google, "
                f"{PROBE_TIMEOUT:g} s to connect: {exc}); give credentials, or set "
                f"{METADATA_HOST_ENV} / metadata_endpoint=", driver=self) from None
        if resp.headers.get("Metadata-Flavor") != "Google":
            raise InvalidCredentials(
                f"{url} answered without Metadata-Flavor: Google: not a GCE metadata server",
                driver=self)
        return resp

    def fetch_token(self) -> Op[tuple[Secret, float, float]]:
        """Operation: the default service account's token, its lifetime in
        seconds, and when it was fetched."""
        resp = yield from self._get(TOKEN_PATH)
        now: float = yield Call(time.time)
        token, expires_in = parse_token_response(resp, driver=self)
        return token, expires_in, now

    def text(self, path: str) -> Op[str]:
        """Operation: a metadata value (text), e.g. :data:`PROJECT_PATH`."""
        resp = yield from self._get(path)
        return resp.text.strip()


class MetadataCredentials:
    """Access tokens, project and zone from the metadata server, for a driver
    given no credentials.

    Built without I/O. :meth:`token` is an operation returning the cached
    token or a new one; when many calls find the cache stale at once, one of
    them fetches and the others use its token. :meth:`project` and
    :meth:`zone` read the instance's project id and zone once.
    """

    def __init__(self, *, endpoint: str | None = None, driver: Any = None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.driver = driver
        self.endpoint = metadata_endpoint(endpoint, driver=driver)
        self.tokens = TokenCache()
        shared = {k: v for k, v in (options or {}).items() if k in _SHARED_OPTIONS}
        self.server = MetadataServer(self.endpoint, **shared)
        self._values: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"MetadataCredentials(endpoint={self.endpoint!r})"

    def token(self) -> Op[AccessToken]:
        """Operation: the cached access token, or a new one (one fetch however
        many calls ask at once: :meth:`~overcast.auth.tokens.TokenCache.get`)."""
        return (yield from self.tokens.get(self._fetch))

    def _fetch(self, now: float) -> Op[AccessToken]:
        fetched: tuple[Secret, float, float] = yield Delegate(self.server,
                                                              self.server.fetch_token())
        token, expires_in, at = fetched
        return self.tokens.store(token, expires_in, at)

    def _value(self, path: str) -> Op[str]:
        known = self._values.get(path)
        if known is not None:
            return known
        value: str = yield Delegate(self.server, self.server.text(path))
        self._values[path] = value
        return value

    def project(self) -> Op[str]:
        """Operation: the instance's project id."""
        return (yield from self._value(PROJECT_PATH))

    def zone(self) -> Op[str]:
        """Operation: the instance's zone (``us-central1-a``)."""
        value = yield from self._value(ZONE_PATH)
        return value.rsplit("/", 1)[-1]

    def close(self) -> None:
        """Close the metadata client's connections."""
        self.server.close()
