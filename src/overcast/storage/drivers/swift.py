"""OpenStack Swift (and Rackspace Cloud Files): the Object Storage API v1.

Authentication
--------------
* ``auth_version="1.0"`` (TempAuth, swauth, Rackspace's v1.0 endpoint):
  ``GET auth_url`` with ``X-Auth-User`` (``key``, e.g. ``"test:tester"``) and
  ``X-Auth-Key`` (``secret``) answers ``X-Auth-Token`` and ``X-Storage-Url``
  (and ``X-Auth-Token-Expires``, seconds, where the server says).
* ``auth_version="3"`` (Keystone v3 password auth, through the shared
  :class:`~overcast.auth.keystone.KeystoneSession`): ``key`` is the user
  name, ``secret`` the password, ``project`` the project to scope to; the
  storage URL is the catalog's ``object-store`` endpoint for ``region`` (the
  first listed when ``None``) and ``interface``.

Given no ``key``, ``secret`` or ``auth_url``, the driver finds Keystone v3
credentials as openstacksdk does, through :mod:`overcast.auth.openstack_config`
(the cloud ``OS_CLOUD`` names in ``clouds.yaml``, else the ``OS_*`` variables
of an openrc file, a user and password or an application credential), as the
OpenStack compute driver does; :attr:`credential_source` says where.

``endpoint=`` overrides the storage URL either way (Apache Libcloud's
``ex_force_base_url``). Tokens are cached in a
:class:`~overcast.auth.tokens.TokenCache` until shortly before they expire;
a ``401`` from the storage API drops the token and the request is sent once
more with a fresh one (a ``401`` comes from the token check, before Swift
acts, so resending is safe), then :class:`~overcast.errors.InvalidCredentials`.
Swift answers errors with a status and an HTML page: the driver's error
table maps ``409`` (a container that is not empty), ``416``, ``422`` (a body
that does not match its ``ETag``) and ``498`` (rate limited).

Objects
-------
* Small objects (up to ``part_plan.threshold``) go up in one ``PUT`` with an
  ``ETag`` (their MD5, computed in a :class:`~overcast.runtime.effects.Call`),
  so Swift rejects a body damaged on the way (``422`` →
  :class:`~overcast.errors.IntegrityError`).
* Larger ones are Static Large Objects: segments, each with its own MD5
  ``ETag``, go up in parallel to the container ``<container>_segments``
  (``segment_suffix``; made on first use and marked with
  ``X-Container-Meta-Overcast-Segments-For``) as
  ``<object>/<upload id>/<00000001>``, then the manifest is ``PUT`` with
  ``?multipart-manifest=put``. A failed or cancelled upload deletes every
  segment it started (by name, even one whose ``PUT`` was cut off: Swift's
  tombstone is newer than any such ``PUT``) and leaves no manifest. Swift
  allows 1,000 segments of at most 5 GiB per manifest; the part plan is
  checked against that.
* ``delete_object`` of an SLO uses ``?multipart-manifest=delete``, which
  removes its segments too. Whether an object is an SLO comes from the
  :class:`~overcast.storage.base.Object` (``extra["static_large_object"]``,
  filled by ``get_object`` and by listings); when unknown the driver asks
  Swift with the manifest delete and falls back to a plain ``DELETE``.
  Overwriting an SLO leaves its old segments, as Swift does.
* ``delete_container`` also removes the container's segment container when
  overcast made it and it is empty.
* Downloads stream. A full read of an ordinary object is checked against its
  size and MD5 ``ETag``. An SLO's ``ETag`` is the MD5 of its segments' ETags,
  not of its bytes, so for an SLO known as such the driver first reads the
  manifest (``?multipart-manifest=get``) and checks every segment's MD5 as the
  bytes pass, and the size; if the object changed between the two requests,
  or for a Dynamic Large Object, only the size is checked.
* ``copy_object`` is a server-side ``PUT`` with ``X-Copy-From`` (the copy is
  an ordinary object holding the whole content, with the metadata); objects
  too large for one Swift object (``413``) are streamed through overcast as
  an SLO instead.

Names: containers are 1-256 bytes of UTF-8 without ``/`` or NUL (and not
``.`` or ``..``); objects 1-1024 bytes without NUL, empty, ``.`` or ``..``
path segments (so no leading, trailing or doubled ``/``). User metadata keys
and values are ASCII within Swift's limits (128-byte keys, 256-byte values,
90 entries, 4 KiB in all); keys come back lower-cased.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from typing import ClassVar
from typing import Final
from urllib.parse import quote

from overcast.auth.keystone import KeystoneCredentials
from overcast.auth.keystone import KeystoneSession
from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import TokenCache
from overcast.errors import ContainerAlreadyExists
from overcast.errors import ContainerIsNotEmpty
from overcast.errors import ContainerNotFound
from overcast.errors import IntegrityError
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ObjectNotFound
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import Outcome
from overcast.runtime.api import When
from overcast.runtime.effects import Call
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.effects import PartData
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import create_once
from overcast.runtime.ops import or_none
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text
from overcast.runtime.streams import ChunkObserver
from overcast.storage.base import Attributes
from overcast.storage.base import Container
from overcast.storage.base import ContainerRef
from overcast.storage.base import Object
from overcast.storage.base import ObjectUpload
from overcast.storage.base import Prefix
from overcast.storage.base import StorageDriver
from overcast.storage.base import container_name
from overcast.storage.checks import HashCheck
from overcast.storage.checks import is_md5
from overcast.storage.checks import md5_hex
from overcast.storage.http import StorageApi
from overcast.storage.http import header_int
from overcast.storage.http import http_date
from overcast.storage.http import iso_date
from overcast.storage.http import user_meta
from overcast.storage.transfer import PartPlan
from overcast.storage.transfer import Ranged
from overcast.storage.transfer import Span

__all__ = ["DEFAULT_PART_PLAN", "SegmentHashCheck", "SwiftStorageDriver"]

#: Swift's defaults: 1,000 segments per manifest, 5 GiB per object or segment.
MAX_SEGMENTS: Final = 1000
MAX_OBJECT_SIZE: Final = 5 * 1024**3
#: The default plan: one PUT up to 16 MiB, else 8 MiB segments (growing), 4 at a time.
DEFAULT_PART_PLAN: Final = PartPlan(
    threshold=16 * 1024 * 1024,
    part_size=8 * 1024 * 1024,
    max_part_size=MAX_OBJECT_SIZE,
    max_parts=MAX_SEGMENTS,
    concurrency=4,
)
MAX_CONTAINER_NAME_BYTES: Final = 256
MAX_LISTING_LIMIT: Final = 10_000
MAX_META_NAME: Final = 128
MAX_META_VALUE: Final = 256
MAX_META_COUNT: Final = 90
MAX_META_OVERALL: Final = 4096
DEFAULT_TOKEN_LIFE: Final = 3600.0
SEGMENTS_MARK: Final = "X-Container-Meta-Overcast-Segments-For"
#: The same mark as the container's metadata reads it back.
_SEGMENTS_FOR: Final = "overcast-segments-for"
_JSON: Final = "application/json"
_AUTH_VERSIONS: Final = ("1.0", "3")


class SegmentHashCheck:
    """Checks a Static Large Object's bytes segment by segment.

    ``segments`` is ``[(size, md5 hex), ...]`` from the manifest; each
    segment's bytes are hashed as they pass and compared at the end (with
    :class:`~overcast.storage.checks.SizeCheck` beside it for the total).
    """

    __slots__ = ("bad", "driver", "hasher", "index", "left", "name", "segments")

    def __init__(
        self, segments: Sequence[tuple[int, str]], name: str = "", *, driver: Any = None
    ) -> None:
        self.segments = list(segments)
        self.name = name
        self.driver = driver
        self.index = 0
        self.hasher = hashlib.md5(usedforsecurity=False)
        self.bad: int | None = None
        self.left = self.segments[0][0] if self.segments else 0
        self._skip_empty()

    def _close_segment(self) -> None:
        if self.hasher.hexdigest() != self.segments[self.index][1].lower() and self.bad is None:
            self.bad = self.index
        self.index += 1
        self.hasher = hashlib.md5(usedforsecurity=False)
        self.left = self.segments[self.index][0] if self.index < len(self.segments) else 0
        self._skip_empty()

    def _skip_empty(self) -> None:
        while self.index < len(self.segments) and self.left == 0:
            self._close_segment()

    def update(self, chunk: PartData) -> None:
        """Hash a chunk into the segment(s) it belongs to."""
        view = memoryview(chunk)
        while view and self.index < len(self.segments):
            take = min(self.left, len(view))
            self.hasher.update(view[:take])
            view = view[take:]
            self.left -= take
            if self.left == 0:
                self._close_segment()

    def finish(self) -> None:
        """Raise :class:`~overcast.errors.IntegrityError` if a segment did not match."""
        if self.bad is not None:
            raise IntegrityError(
                f"{self.name or 'data'}: segment {self.bad + 1} of {len(self.segments)} "
                "does not match its MD5",
                driver=self.driver,
            )
        if self.index < len(self.segments):
            raise IntegrityError(
                f"{self.name or 'data'}: ended in segment {self.index + 1} of "
                f"{len(self.segments)}",
                driver=self.driver,
            )


class SwiftStorageDriver(StorageApi, StorageDriver):
    """OpenStack Swift object storage (and Rackspace Cloud Files).

    ``SwiftStorageDriver("test:tester", "testing",
    auth_url="http://127.0.0.1:8080/auth/v1.0")`` for TempAuth;
    ``SwiftStorageDriver("user", "password", auth_url="https://keystone:5000/v3",
    auth_version="3", project="demo", region="RegionOne")`` for Keystone;
    ``SwiftStorageDriver()`` for the Keystone credentials of ``OS_CLOUD`` in
    ``clouds.yaml`` or of the ``OS_*`` variables.
    ``endpoint`` overrides the storage URL. ``part_plan`` says when and how
    uploads are cut into SLO segments; ``page_size`` how many names a listing
    request asks for (at most 10,000); ``segment_suffix`` names the segment
    container of each container.
    """

    name: ClassVar[str] = "swift"
    label: ClassVar[str] = "Swift"
    #: Whose chain finds the credentials (for :func:`overcast.auth.sources.credential_info`).
    credential_provider: ClassVar[str] = "openstack"
    request_id_headers: ClassVar[tuple[str, ...]] = ("X-Openstack-Request-Id", "X-Trans-Id")
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(ContainerIsNotEmpty, status=409),
        When(InvalidInput, status=416),
        When(IntegrityError, status=422),  # the body does not match its ETag
        When(RateLimited, status=498),
    )

    def __init__(self, key: str | None = None, secret: str | Secret | None = None, *,
                 auth_url: str | None = None, auth_version: str | None = None,
                 project: str | None = None, project_domain: str = "Default",
                 user_domain: str = "Default", region: str | None = None,
                 interface: str = "public", endpoint: str | None = None,
                 part_plan: PartPlan = DEFAULT_PART_PLAN, page_size: int = MAX_LISTING_LIMIT,
                 segment_suffix: str = "_segments", **options: Any) -> None:
        super().__init__(**options)
        project_id: str | None = None
        app_id: str | None = None
        app_secret: Secret | None = None
        #: Where the credentials came from: ``"explicit"``, or the clouds.yaml
        #: cloud or ``OS_*`` variables they were found in (``overcast profile show``).
        self.credential_source = "explicit"
        if key is None and secret is None and auth_url is None:
            from overcast.auth.openstack_config import find_openstack_config

            found = find_openstack_config()
            if found is None:
                raise InvalidInput(
                    "Swift needs key=, secret= and auth_url=, or OS_CLOUD (clouds.yaml) or "
                    "OS_AUTH_URL in the environment", driver=self)
            key, secret, auth_url = found.username, found.password, found.auth_url
            auth_version = "3" if auth_version is None else auth_version
            project = project or found.project_name
            project_id = found.project_id
            user_domain, project_domain = found.user_domain, found.project_domain
            region = region or found.region
            interface = found.interface or interface
            app_id = found.application_credential_id
            app_secret = found.application_credential_secret
            self.credential_source = found.source
        if auth_url is None:
            raise InvalidInput("auth_url is required (or give no credentials to find them "
                               "in clouds.yaml or OS_*)", driver=self)
        if app_id is None:
            if not isinstance(key, str) or not key:
                raise InvalidInput("key (the user name) must be a non-empty string",
                                   driver=self)
            if secret is None or not str(secret if isinstance(secret, str) else secret.reveal()):
                raise InvalidInput("secret (the key or password) is required", driver=self)
        check_endpoint(auth_url, option="auth_url", driver=self)
        version = str("1.0" if auth_version is None else auth_version).lower().lstrip("v")
        if version in ("1", "1.0"):
            version = "1.0"
        elif version in ("3", "3.0"):
            version = "3"
        else:
            raise InvalidInput(
                f"auth_version must be one of {', '.join(_AUTH_VERSIONS)}: {auth_version!r}",
                driver=self,
            )
        if app_id is not None and version != "3":
            raise InvalidInput("an application credential needs Keystone v3 auth", driver=self)
        self.page_size = check_page_size(page_size, maximum=MAX_LISTING_LIMIT, driver=self)
        if not isinstance(part_plan, PartPlan):
            raise InvalidInput("part_plan must be a PartPlan", driver=self)
        if part_plan.max_parts > MAX_SEGMENTS or part_plan.max_part_size > MAX_OBJECT_SIZE:
            raise InvalidInput(
                f"a Swift manifest holds at most {MAX_SEGMENTS} segments of at most 5 GiB: "
                f"max_parts={part_plan.max_parts}, max_part_size={part_plan.max_part_size}",
                driver=self,
            )
        if part_plan.threshold > MAX_OBJECT_SIZE or part_plan.part_size < 1:
            raise InvalidInput("part_plan threshold must be at most 5 GiB", driver=self)
        if not segment_suffix or "/" in segment_suffix or "\x00" in segment_suffix:
            raise InvalidInput(f"invalid segment_suffix: {segment_suffix!r}", driver=self)
        self.user = key or app_id or ""
        self.secret: Secret | None = Secret(secret) if secret else None
        self._app_secret = app_secret
        self.auth_url = auth_url
        self.auth_version = version
        self.region = region
        self.interface = interface
        #: The storage URL when given; else the one authentication hands out.
        self.endpoint = "" if endpoint is None else check_endpoint(endpoint, driver=self)
        self.part_plan = part_plan
        self.segment_suffix = segment_suffix
        self._tokens = TokenCache()
        self._keystone: KeystoneSession | None = None
        #: How many tokens this driver has fetched (for tests and metrics).
        self.tokens_fetched = 0
        if version == "3":
            if not (project or project_id or app_id):
                raise InvalidInput("Keystone v3 auth needs project=", driver=self)
            credentials = KeystoneCredentials(
                auth_url=auth_url,
                username=None if app_id else key,
                password=None if app_id else self.secret,  # set: checked above
                user_domain=user_domain,
                project_name=project,
                project_id=project_id,
                project_domain=project_domain,
                application_credential_id=app_id,
                application_credential_secret=app_secret,
            )
            services: dict[str, tuple[str, ...]] = (
                {} if self.endpoint else {"object-store": ("object-store",)}
            )
            self._keystone = KeystoneSession(
                credentials, services, region=region, interface=interface, owner=self
            )

    def _repr_fields(self) -> dict[str, object]:
        return {"user": self.user, "auth_url": self.auth_url, "auth_version": self.auth_version}

    # -- auth --------------------------------------------------------------------

    def _token(self) -> Op[tuple[AccessToken, str]]:
        """The token to use and the storage URL, fetched when none is cached."""
        if self._keystone is not None:
            fetched = self._keystone.fetched
            token = yield from self._keystone.token()
            self.tokens_fetched += self._keystone.fetched - fetched
            url = self.endpoint or self._keystone.endpoint(token, "object-store")
            return token, url
        now: float = yield Call(time.time)
        cached = self._tokens.current(now)
        if cached is None:
            cached = yield from self._tempauth(now)
        return cached, self.endpoint or cached.extra["storage_url"]

    def _tempauth(self, now: float) -> Op[AccessToken]:
        # The auth request itself: sent as it is, not through _transmit (no token yet).
        resp: Response = yield Request(
            "GET",
            self.auth_url,
            headers={"X-Auth-User": self.user,
                     "X-Auth-Key": self.secret.reveal() if self.secret else ""},
            sign=False,
        )
        self.tokens_fetched += 1
        if resp.status >= 300:
            error = self._error(resp, Outcome("authentication"))
            if isinstance(error, InvalidCredentials):
                raise InvalidCredentials(
                    f"{self.auth_url} refused the credentials of user {self.user!r} "
                    f"(HTTP {resp.status})",
                    driver=self,
                )
            raise error
        token = resp.headers.get("X-Auth-Token") or resp.headers.get("X-Storage-Token")
        storage_url = resp.headers.get("X-Storage-Url")
        if not token or not storage_url:
            raise ProviderError(
                "the auth endpoint answered without X-Auth-Token and X-Storage-Url",
                status=resp.status,
                driver=self,
            )
        try:
            life = float(resp.headers.get("X-Auth-Token-Expires", DEFAULT_TOKEN_LIFE))
        except ValueError:
            life = DEFAULT_TOKEN_LIFE
        return self._tokens.store(
            Secret(token), life, now, {"storage_url": storage_url.rstrip("/")}
        )

    def _discard(self, token: AccessToken) -> None:
        if self._keystone is not None:
            self._keystone.cache.discard(token)
        else:
            self._tokens.discard(token)

    def _url(self, path: str) -> str:
        """``path`` as it is: the storage URL is known only once a token is
        (see :meth:`_transmit`)."""
        return path

    def _transmit(self, request: Request) -> Op[Response]:
        """Send a storage request (its URL a path below the storage URL) with the
        token; on ``401`` fetch a new token and send it once more."""
        resp: Response | None = None
        for _attempt in (1, 2):
            token, base = yield from self._token()
            resp = yield replace(
                request, url=f"{base}{request.url}",
                headers={**request.headers, "X-Auth-Token": token.token.reveal()},
            )
            if resp.status != 401:
                return resp
            self._discard(token)
        assert resp is not None
        return resp

    def _fault(self, resp: Response) -> Fault:
        """Swift's answer is a status and an HTML page: its text, no code."""
        text = " ".join(_strip_html(resp.text).split())[:300]
        request_id = next(
            (resp.headers[h] for h in self.request_id_headers if h in resp.headers), None
        )
        return Fault(resp.status, None, text, request_id)

    # -- names -------------------------------------------------------------------

    def _check_container(self, name: object) -> str:
        """1-256 bytes of UTF-8, without ``/`` or NUL, not ``.`` or ``..``."""
        name = super()._check_container(name)
        if (
            "/" in name
            or "\x00" in name
            or name in (".", "..")
            or len(name.encode("utf-8", "surrogatepass")) > MAX_CONTAINER_NAME_BYTES
        ):
            raise InvalidInput(f"invalid Swift container name: {name!r}", driver=self)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"container name is not valid UTF-8: {name!r}", driver=self
            ) from None
        return name

    def _check_meta(self, meta: dict[str, str]) -> dict[str, str]:
        """ASCII keys and values within Swift's limits (128-byte keys, 256-byte
        values, 90 entries, 4 KiB in all), no separators in keys."""
        if len(meta) > MAX_META_COUNT:
            raise InvalidInput(f"at most {MAX_META_COUNT} metadata entries", driver=self)
        total = 0
        for key, value in super()._check_meta(meta).items():
            if not key.isascii() or not value.isascii():
                raise InvalidInput(f"meta_data {key!r} must be ASCII for Swift", driver=self)
            if any(c in key for c in " :()<>@,;\\\"/[]?={}\t"):
                raise InvalidInput(f"invalid meta_data key or value: {key!r}", driver=self)
            if len(key) > MAX_META_NAME or len(value) > MAX_META_VALUE:
                raise InvalidInput(
                    f"meta_data {key!r}: keys up to {MAX_META_NAME} and values up to "
                    f"{MAX_META_VALUE} bytes",
                    driver=self,
                )
            total += len(key) + len(value)
        if total > MAX_META_OVERALL:
            raise InvalidInput(f"meta_data is over {MAX_META_OVERALL} bytes in all",
                               driver=self)
        return meta

    def _container_path(self, name: str) -> str:
        return "/" + quote(self._check_container(name), safe="")

    def _object_path(self, container: str, name: str) -> str:
        base = self._container_path(container)
        return f"{base}/{quote(self._check_object(name), safe='/')}"

    def _segment_container(self, container: str) -> str:
        name = f"{container}{self.segment_suffix}"
        if len(name.encode("utf-8")) > MAX_CONTAINER_NAME_BYTES:
            raise InvalidInput(
                f"container name {container!r} is too long to have a segment container "
                f"({name!r}); large objects cannot be stored in it",
                driver=self,
            )
        return name

    # -- models ------------------------------------------------------------------

    def _object_from_headers(self, container: str, name: str, headers: Mapping[str, str]
                             ) -> Object:
        slo = headers.get("X-Static-Large-Object", "").lower() == "true"
        dlo = "X-Object-Manifest" in headers
        extra: dict[str, Any] = {
            "static_large_object": slo,
            "dynamic_large_object": dlo,
            "timestamp": headers.get("X-Timestamp"),
        }
        if dlo:
            extra["object_manifest"] = headers["X-Object-Manifest"]
        if headers.get("X-Delete-At"):
            extra["delete_at"] = headers["X-Delete-At"]
        return Object(
            name=name,
            size=header_int(headers.get("Content-Length")) or 0,
            hash=headers.get("ETag", "").strip('"') or None,
            extra=extra,
            meta_data=user_meta(headers, "x-object-meta-", lower=True),
            container=Container(name=container, driver=self),
            driver=self,
            content_type=headers.get("Content-Type"),
            last_modified=http_date(headers.get("Last-Modified")),
        )

    def _object_from_listing(self, container: Container, entry: Mapping[str, Any]) -> Object:
        slo_etag = entry.get("slo_etag")
        content_type = str(entry.get("content_type") or "") or None
        if content_type and ";" in content_type:
            # Swift may keep ";swift_bytes=..." style parameters on manifests.
            kept = [p for p in content_type.split(";") if not p.strip().startswith(
                ("swift_bytes=", "slo_etag="))]
            content_type = ";".join(kept)
        return Object(
            name=str(entry["name"]),
            size=int(entry.get("bytes") or 0),
            hash=str(slo_etag or entry.get("hash") or "").strip('"') or None,
            extra={"static_large_object": slo_etag is not None},
            container=container,
            driver=self,
            content_type=content_type,
            last_modified=iso_date(entry.get("last_modified")),
        )

    def _container_from_headers(self, name: str, headers: Mapping[str, str]) -> Container:
        extra: dict[str, Any] = {
            "object_count": header_int(headers.get("X-Container-Object-Count")),
            "bytes_used": header_int(headers.get("X-Container-Bytes-Used")),
            "storage_policy": headers.get("X-Storage-Policy"),
            "meta_data": user_meta(headers, "x-container-meta-", lower=True),
        }
        return Container(name=name, extra=extra, driver=self)

    # -- listing -----------------------------------------------------------------

    def _pages(self, path: str, params: list[tuple[str, str]], what: str,
               entry: Any) -> Iter[Any]:
        """A JSON listing page by page: ``page_size`` entries a request, the next
        page after the last name (``marker``) while pages come full."""

        def fetch(marker: Cursor | None) -> Op[Page[Any]]:
            query = [("format", "json"), ("limit", str(self.page_size)), *params]
            if marker:
                query.append(("marker", str(marker)))
            page = yield from self._json("GET", path, params=query, headers={"Accept": _JSON},
                                         what=what, missing=ContainerNotFound)
            entries = [entry(item) for item in page or []]  # 204: an empty listing
            return Page.marker(entries, len(entries) >= self.page_size,
                               key=lambda item: str(item.name))

        yield from paginate(fetch, what=f"listing of {what!r}", driver=self)

    @iterator
    def iterate_containers(self) -> Iter[Container]:
        """Iterate over the account's containers, ``page_size`` at a time."""

        def entry(item: Mapping[str, Any]) -> Container:
            return Container(
                name=str(item["name"]),
                extra={
                    "object_count": item.get("count"),
                    "bytes_used": item.get("bytes"),
                    "last_modified": item.get("last_modified"),
                },
                driver=self,
            )

        yield from self._pages("", [], "the account", entry)

    def _listing(
        self, container: str, prefix: str, delimiter: str | None
    ) -> Iter[Object | Prefix]:
        """Objects in name order, ``page_size`` per request (``marker``
        pagination); with a delimiter, ``subdir`` entries are the prefixes."""
        ref = Container(name=container, driver=self)
        params = []
        if prefix:
            params.append(("prefix", prefix))
        if delimiter:
            params.append(("delimiter", delimiter))

        def entry(item: Mapping[str, Any]) -> Object | Prefix:
            if "subdir" in item:
                return Prefix(str(item["subdir"]), ref)
            return self._object_from_listing(ref, item)

        yield from self._pages(self._container_path(container), params, container, entry)

    # -- containers --------------------------------------------------------------

    @operation
    def get_container(self, container_name: str) -> Op[Container]:
        """Get a container by name (``HEAD``)."""
        resp = yield from self._send("HEAD", self._container_path(container_name),
                                     what=container_name, missing=ContainerNotFound)
        return self._container_from_headers(container_name, resp.headers)

    def _find_container(self, name: str) -> Op[Container | None]:
        return or_none(self.get_container.op(name), ContainerNotFound)

    @operation
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a container; :class:`~overcast.errors.ContainerAlreadyExists`
        if it exists (Swift's ``PUT`` would silently accept it: ``HEAD`` first,
        and a ``202`` to the ``PUT`` means another client made it meanwhile). If
        the answer is lost, the container is looked up before the create is sent
        again."""
        path = self._container_path(container_name)
        if (yield from self._find_container(container_name)) is not None:
            raise ContainerAlreadyExists(container_name, driver=self)

        def send() -> Op[Container]:
            resp = yield from self._send("PUT", path, idempotent=False, what=container_name,
                                         exists=ContainerAlreadyExists)
            if resp.status == 202:  # accepted, not created: it was there already
                raise ContainerAlreadyExists(container_name, driver=self)
            return Container(name=container_name, extra={"object_count": 0, "bytes_used": 0},
                             driver=self)

        return (yield from create_once(send, lambda: self._find_container(container_name)))

    @operation
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty container (and its empty segment container, if
        overcast made one)."""
        name = container_name(container)
        yield from self._send("DELETE", self._container_path(name), what=name,
                              missing=ContainerNotFound)
        segments = f"{name}{self.segment_suffix}"
        if len(segments.encode("utf-8")) <= MAX_CONTAINER_NAME_BYTES:
            found = yield from self._find_container(segments)
            if (
                found is not None
                and found.extra["meta_data"].get(_SEGMENTS_FOR) == name
                and found.extra["object_count"] == 0
            ):
                # A segment that arrived meanwhile keeps it (409): that is fine.
                yield from self._send("DELETE", self._container_path(segments), ok=(404, 409))
        return True

    # -- objects -----------------------------------------------------------------

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """Get an object's metadata (``HEAD``)."""
        resp = yield from self._send("HEAD", self._object_path(container_name, object_name),
                                     what=f"{container_name}/{object_name}",
                                     missing=ObjectNotFound)
        return self._object_from_headers(container_name, object_name, resp.headers)

    def _part_target(self, container: str, name: str, attributes: Attributes, *,
                     verify: bool) -> _SwiftUpload:
        """One ``PUT`` up to the threshold (its MD5 as ``ETag``), else an SLO of
        segments uploaded in parallel."""
        return _SwiftUpload(self, container, name, attributes)

    def _read_range(self, obj: Object, span: Span) -> Op[Ranged]:
        """``GET``, with ``Range`` for a partial read. A full read is checked:
        MD5 for ordinary objects, every segment's MD5 for a Static Large Object
        (read from its manifest first), size only for a Dynamic Large Object."""
        full, name = span.full, span.name
        segments: list[tuple[int, str]] | None = None
        slo_etag: str | None = None
        if full and obj.extra.get("static_large_object"):
            found = yield from self._manifest(span.container, name)
            if found is not None:
                segments, slo_etag = found
        headers = {} if full else {"Range": span.header}
        resp = yield from self._send("GET", self._object_path(span.container, name),
                                     headers=headers, stream=True, ok=(416,), what=span.what,
                                     missing=ObjectNotFound)
        checks: list[ChunkObserver] = []
        if full:
            answered = resp.headers.get("ETag", "").strip('"').lower()
            if resp.headers.get("X-Static-Large-Object", "").lower() == "true":
                if segments is not None and slo_etag == answered:
                    checks.append(SegmentHashCheck(segments, name, driver=self))
            elif "X-Object-Manifest" not in resp.headers and is_md5(answered):
                checks.append(HashCheck("md5", answered, name, driver=self))
        return self._ranged(resp, span, checks)

    def _manifest(
        self, container: str, name: str
    ) -> Op[tuple[list[tuple[int, str]], str] | None]:
        """An SLO's segments ``[(size, md5)]`` and the ETag they make, or
        ``None`` when they cannot be checked (not an SLO any more, ranged or
        nested segments)."""
        resp = yield from self._send(
            "GET", self._object_path(container, name), params=[("multipart-manifest", "get")],
            headers={"Accept": _JSON}, what=f"{container}/{name}", missing=ObjectNotFound,
        )
        if resp.headers.get("X-Static-Large-Object", "").lower() != "true":
            return None
        try:
            entries = resp.json()
            segments = [(int(e["bytes"]), str(e["hash"]).lower()) for e in entries]
            plain = all("range" not in e and not e.get("sub_slo") for e in entries)
        except (ValueError, KeyError, TypeError):
            return None
        if not plain:
            return None
        joined = "".join(md5 for _, md5 in segments).encode("ascii")
        etag: str = yield Call(md5_hex, joined)
        return segments, etag

    @operation
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete an object; an SLO's segments go with it."""
        container = obj.container_name
        path = self._object_path(container, obj.name)
        what = f"{container}/{obj.name}"
        if obj.extra.get("static_large_object") is not False:
            report = yield from self._json(
                "DELETE", path, params=[("multipart-manifest", "delete")],
                headers={"Accept": _JSON}, what=what, missing=ObjectNotFound,
            )
            report = report if isinstance(report, dict) else {}
            errors = report.get("Errors") or []
            if not any("Not an SLO manifest" in str(e) for e in errors):
                if report.get("Number Deleted", 0) == 0 and report.get("Number Not Found"):
                    raise ObjectNotFound(what, driver=self)
                if errors:
                    raise ProviderError(
                        redact_text(
                            f"deleting {obj.name!r}: {report.get('Response Status')}: "
                            f"{str(errors)[:300]}",
                            self._secrets(),
                        ),
                        status=header_int(str(report.get("Response Status", "")).split(" ")[0]),
                        driver=self,
                    )
                return True
        yield from self._send("DELETE", path, what=what, missing=ObjectNotFound)
        return True

    @operation
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy an object server-side (``X-Copy-From``), metadata included; an
        object too large for one Swift object is streamed into a new SLO."""
        source_container = obj.container_name
        self._object_path(source_container, obj.name)
        target = container_name(target_container)
        name = target_name or obj.name
        path = self._object_path(target, name)
        copy_from = f"/{quote(source_container, safe='')}/{quote(obj.name, safe='/')}"
        try:
            resp = yield from self._send(
                "PUT", path, headers={"X-Copy-From": copy_from, "Content-Length": "0"}, body=b"",
                ok=(413,), what=f"{target}/{name}", missing=ContainerNotFound,
            )
        except ContainerNotFound:
            # Either side may be missing: say which.
            yield from self.get_object.op(source_container, obj.name)
            raise
        if resp.status == 413:  # too large for one Swift object: stream it into an SLO
            source = yield from self.get_object.op(source_container, obj.name)
            data = yield from self.download_object_as_stream.op(source)
            attributes = self._attributes(name, None, None, source.content_type,
                                          source.meta_data)
            return (yield from self._write(target, name, attributes, data, source.size,
                                           verify=True))
        return (yield from self.get_object.op(target, name))


class _SwiftUpload(ObjectUpload[SwiftStorageDriver]):
    """The :class:`~overcast.storage.transfer.PartTarget` of one upload:
    one ``PUT``, or SLO segments and a manifest."""

    def __init__(self, driver: SwiftStorageDriver, container: str, name: str,
                 attributes: Attributes) -> None:
        super().__init__(driver, container, name, attributes)
        self.path = driver._object_path(container, name)
        self.what = f"{container}/{name}"
        self.headers = {**attributes.headers, "Content-Type": attributes.content_type}
        for key, value in attributes.meta_data.items():
            self.headers[f"X-Object-Meta-{key}"] = value
        self.segment_container = ""
        self.started: set[int] = set()

    def _object(self, resp: Response, size: int, slo: bool) -> Object:
        return Object(
            name=self.name,
            size=size,
            hash=resp.headers.get("ETag", "").strip('"') or None,
            extra={"static_large_object": slo},
            meta_data=dict(self.attributes.meta_data),
            container=Container(name=self.container, driver=self.driver),
            driver=self.driver,
            content_type=self.attributes.content_type,
            last_modified=http_date(resp.headers.get("Last-Modified")),
        )

    def put_whole(self, data: PartData) -> Op[Object]:
        """Upload a small object in one ``PUT`` with its MD5 as ``ETag``."""
        md5: str = yield Call(md5_hex, data)
        resp = yield from self.driver._send(
            "PUT", self.path, headers={**self.headers, "ETag": md5}, body=data,
            what=self.what, missing=ContainerNotFound,
        )
        return self._object(resp, len(data), slo=False)

    def _segment_name(self, upload_id: str, number: int) -> str:
        tail = f"/{upload_id}/{number:08d}"
        if len(self.name.encode("utf-8")) + len(tail) <= self.driver.max_object_name_bytes:
            return f"{self.name}{tail}"
        return tail[1:]

    def _segment_path(self, upload_id: str, number: int) -> str:
        return self.driver._object_path(
            self.segment_container, self._segment_name(upload_id, number)
        )

    def begin(self) -> Op[str]:
        """Check the container, make its segment container, and name the upload."""
        driver = self.driver
        yield from driver._send("HEAD", driver._container_path(self.container),
                                what=self.container, missing=ContainerNotFound)
        self.segment_container = driver._segment_container(self.container)
        yield from driver._send(
            "PUT", driver._container_path(self.segment_container),
            headers={SEGMENTS_MARK: self.container},
        )
        return uuid.uuid4().hex

    def put_part(self, upload_id: str, number: int, data: PartData, last: bool) -> Op[str]:
        """Upload one segment with its MD5 as ``ETag``; return the MD5."""
        md5: str = yield Call(md5_hex, data)
        self.started.add(number)
        self.sizes[number] = len(data)
        yield from self.driver._send(
            "PUT", self._segment_path(upload_id, number), headers={"ETag": md5}, body=data,
            what=self.segment_container, missing=ContainerNotFound,
        )
        return md5

    def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[Object]:
        """``PUT`` the SLO manifest listing every segment."""
        seg = quote(self.segment_container, safe="")
        manifest = [
            {
                "path": f"/{seg}/{quote(self._segment_name(upload_id, number), safe='/')}",
                "etag": md5,
                "size_bytes": self.sizes[number],
            }
            for number, md5 in parts
        ]
        body = json.dumps(manifest).encode("utf-8")
        resp = yield from self.driver._send(
            "PUT", self.path, params=[("multipart-manifest", "put")],
            headers={**self.headers, "Content-Length": str(len(body))}, body=body,
            what=self.what, missing=ContainerNotFound,
        )
        return self._object(resp, self.size_of(parts), slo=True)

    def abort(self, upload_id: str) -> Op[None]:
        """Delete every segment this upload started (missing ones are fine:
        the delete leaves a tombstone newer than any late ``PUT``)."""
        driver = self.driver

        def delete(number: int) -> Op[None]:
            yield from driver._send("DELETE", self._segment_path(upload_id, number), ok=(404,))

        numbers = sorted(self.started)
        if numbers:
            yield Parallel([delete(n) for n in numbers], limit=driver.part_plan.concurrency)


# -- helpers ---------------------------------------------------------------------------


def _strip_html(text: str) -> str:
    out: list[str] = []
    inside = False
    for char in text:
        if char == "<":
            inside = True
            out.append(" ")
        elif char == ">":
            inside = False
        elif not inside:
            out.append(char)
    return "".join(out)

