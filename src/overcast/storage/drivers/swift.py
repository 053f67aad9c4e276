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

``endpoint=`` overrides the storage URL either way (Apache Libcloud's
``ex_force_base_url``). Tokens are cached in a
:class:`~overcast.auth.tokens.TokenCache` until shortly before they expire;
a ``401`` from the storage API drops the token and the request is sent once
more with a fresh one (a ``401`` comes from the token check, before Swift
acts, so resending is safe), then :class:`~overcast.errors.InvalidCredentials`.

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
import os
import time
import uuid
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import IO, Any, ClassVar, Final
from urllib.parse import quote

from overcast.auth.keystone import KeystoneCredentials, KeystoneSession
from overcast.auth.tokens import AccessToken, TokenCache
from overcast.errors import (
    ContainerAlreadyExists,
    ContainerIsNotEmpty,
    ContainerNotFound,
    IntegrityError,
    InvalidCredentials,
    InvalidInput,
    ObjectNotFound,
    ProviderError,
)
from overcast.runtime.effects import Call, Emit, Iter, Op, Parallel, PartData, Request, Response
from overcast.runtime.operation import iterator, operation, stream
from overcast.runtime.redact import Secret, redact_text
from overcast.runtime.streams import ByteStream, FileStream, IterStream, as_stream
from overcast.storage import transfer
from overcast.storage.base import (
    Container,
    ContainerRef,
    Object,
    Prefix,
    Progress,
    StorageDriver,
    container_name,
)
from overcast.storage.transfer import (
    HashCheck,
    PartPlan,
    ProgressReport,
    SizeCheck,
    check_range,
)
from overcast.storage.transfer import guess_type as _guess_type
from overcast.storage.transfer import readable_file_size as _file_size

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
MAX_OBJECT_NAME_BYTES: Final = 1024
MAX_LISTING_LIMIT: Final = 10_000
MAX_META_NAME: Final = 128
MAX_META_VALUE: Final = 256
MAX_META_COUNT: Final = 90
MAX_META_OVERALL: Final = 4096
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"
DEFAULT_TOKEN_LIFE: Final = 3600.0
SEGMENTS_MARK: Final = "X-Container-Meta-Overcast-Segments-For"
_META: Final = "x-object-meta-"
_JSON: Final = "application/json"
_AUTH_VERSIONS: Final = ("1.0", "3")


class SegmentHashCheck:
    """Checks a Static Large Object's bytes segment by segment.

    ``segments`` is ``[(size, md5 hex), ...]`` from the manifest; each
    segment's bytes are hashed as they pass and compared at the end (with
    :class:`~overcast.storage.transfer.SizeCheck` beside it for the total).
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


class SwiftStorageDriver(StorageDriver):
    """OpenStack Swift object storage (and Rackspace Cloud Files).

    ``SwiftStorageDriver("test:tester", "testing",
    auth_url="http://127.0.0.1:8080/auth/v1.0")`` for TempAuth;
    ``SwiftStorageDriver("user", "password", auth_url="https://keystone:5000/v3",
    auth_version="3", project="demo", region="RegionOne")`` for Keystone.
    ``endpoint`` overrides the storage URL. ``part_plan`` says when and how
    uploads are cut into SLO segments; ``page_size`` how many names a listing
    request asks for (at most 10,000); ``segment_suffix`` names the segment
    container of each container.
    """

    name: ClassVar[str] = "swift"

    def __init__(
        self,
        key: str,
        secret: str | Secret | None = None,
        *,
        auth_url: str,
        auth_version: str = "1.0",
        project: str | None = None,
        project_domain: str = "Default",
        user_domain: str = "Default",
        region: str | None = None,
        interface: str = "public",
        endpoint: str | None = None,
        part_plan: PartPlan = DEFAULT_PART_PLAN,
        page_size: int = MAX_LISTING_LIMIT,
        segment_suffix: str = "_segments",
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not isinstance(key, str) or not key:
            raise InvalidInput("key (the user name) must be a non-empty string", driver=self)
        if secret is None or not str(secret if isinstance(secret, str) else secret.reveal()):
            raise InvalidInput("secret (the key or password) is required", driver=self)
        if not isinstance(auth_url, str) or not auth_url.startswith(("http://", "https://")):
            raise InvalidInput(f"auth_url must be an http(s) URL: {auth_url!r}", driver=self)
        version = str(auth_version).lower().lstrip("v")
        if version in ("1", "1.0"):
            version = "1.0"
        elif version in ("3", "3.0"):
            version = "3"
        else:
            raise InvalidInput(
                f"auth_version must be one of {', '.join(_AUTH_VERSIONS)}: {auth_version!r}",
                driver=self,
            )
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise InvalidInput(f"endpoint must be an http(s) URL: {endpoint!r}", driver=self)
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_LISTING_LIMIT:
            raise InvalidInput(
                f"page_size must be between 1 and {MAX_LISTING_LIMIT}: {page_size!r}",
                driver=self,
            )
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
        self.user = key
        self.secret = Secret(secret)
        self.auth_url = auth_url
        self.auth_version = version
        self.region = region
        self.interface = interface
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.part_plan = part_plan
        self.page_size = page_size
        self.segment_suffix = segment_suffix
        self._tokens = TokenCache()
        self._keystone: KeystoneSession | None = None
        #: How many tokens this driver has fetched (for tests and metrics).
        self.tokens_fetched = 0
        if version == "3":
            if not project:
                raise InvalidInput("Keystone v3 auth needs project=", driver=self)
            credentials = KeystoneCredentials(
                auth_url=auth_url,
                username=key,
                password=self.secret,
                user_domain=user_domain,
                project_name=project,
                project_domain=project_domain,
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
        resp: Response = yield Request(
            "GET",
            self.auth_url,
            headers={"X-Auth-User": self.user, "X-Auth-Key": self.secret.reveal()},
            sign=False,
        )
        self.tokens_fetched += 1
        if resp.status in (401, 403):
            raise InvalidCredentials(
                f"{self.auth_url} refused the credentials of user {self.user!r} "
                f"(HTTP {resp.status})",
                driver=self,
            )
        if not resp.ok:
            raise self._error(resp, "authentication")
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

    def _send(
        self,
        method: str,
        path: str = "",
        *,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: PartData | None = None,
        stream: bool = False,
        idempotent: bool | None = None,
    ) -> Op[Response]:
        """Send one storage request (``path`` below the storage URL) with the
        token; on ``401`` fetch a new token and send it once more."""
        resp: Response | None = None
        for _attempt in (1, 2):
            token, base = yield from self._token()
            sent = {**(headers or {}), "X-Auth-Token": token.token.reveal()}
            resp = yield Request(
                method, f"{base}{path}", headers=sent, params=tuple(params), body=body,
                stream=stream, idempotent=idempotent,
            )
            if resp.status != 401:
                return resp
            self._discard(token)
        assert resp is not None
        raise InvalidCredentials(
            f"Swift refused a fresh token for user {self.user!r} (HTTP 401)", driver=self
        )

    def _error(self, resp: Response, what: str) -> Exception:
        """The exception for an unexpected answer (provider text redacted)."""
        text = " ".join(_strip_html(resp.text).split())[:300]
        message = redact_text(f"{what}: {resp.method} {resp.url}: {text}", self._secrets())
        if resp.status in (401, 403):
            return InvalidCredentials(f"{message} (HTTP {resp.status})", driver=self)
        if resp.status == 416:
            return InvalidInput(f"{message} (range not satisfiable)", driver=self)
        if resp.status == 422:
            return IntegrityError(f"{message} (the data did not match its ETag)", driver=self)
        return ProviderError(
            message,
            status=resp.status,
            request_id=resp.headers.get("X-Openstack-Request-Id")
            or resp.headers.get("X-Trans-Id"),
            driver=self,
        )

    # -- names -------------------------------------------------------------------

    def _container_path(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"container name must be a non-empty string: {name!r}", driver=self)
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
        return "/" + quote(name, safe="")

    def _object_path(self, container: str, name: str) -> str:
        base = self._container_path(container)
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"object name must be a non-empty string: {name!r}", driver=self)
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"object name is not valid UTF-8: {name!r}", driver=self) from None
        if "\x00" in name or len(encoded) > MAX_OBJECT_NAME_BYTES:
            raise InvalidInput(f"invalid Swift object name: {name!r}", driver=self)
        if any(part in ("", ".", "..") for part in name.split("/")):
            raise InvalidInput(
                f"invalid object name {name!r}: empty, '.' or '..' path segment "
                "(leading, trailing or doubled '/')",
                driver=self,
            )
        return f"{base}/{quote(name, safe='/')}"

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

    def _object_from_headers(self, container: str, name: str, headers: Mapping[str, str]) -> Object:
        slo = headers.get("X-Static-Large-Object", "").lower() == "true"
        dlo = "X-Object-Manifest" in headers
        etag = headers.get("ETag", "").strip('"') or None
        meta = {
            k[len(_META) :].lower(): v for k, v in headers.items() if k.lower().startswith(_META)
        }
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
            size=int(headers.get("Content-Length") or 0),
            hash=etag,
            extra=extra,
            meta_data=meta,
            container=Container(name=container, driver=self),
            driver=self,
            content_type=headers.get("Content-Type"),
            last_modified=_http_date(headers.get("Last-Modified")),
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
            last_modified=_iso_date(entry.get("last_modified")),
        )

    # -- containers --------------------------------------------------------------

    @iterator
    def iterate_containers(self) -> Iter[Container]:
        """Iterate over the account's containers, ``page_size`` at a time."""
        marker = ""
        while True:
            params = [("format", "json"), ("limit", str(self.page_size))]
            if marker:
                params.append(("marker", marker))
            resp = yield from self._send("GET", "", params=params, headers={"Accept": _JSON})
            if not resp.ok:
                raise self._error(resp, "listing containers")
            page = resp.json() if resp.status != 204 else []
            for entry in page:
                yield Emit(
                    Container(
                        name=str(entry["name"]),
                        extra={
                            "object_count": entry.get("count"),
                            "bytes_used": entry.get("bytes"),
                            "last_modified": entry.get("last_modified"),
                        },
                        driver=self,
                    )
                )
            if len(page) < self.page_size:
                return
            marker = str(page[-1]["name"])

    @operation
    def get_container(self, container_name: str) -> Op[Container]:
        """Get a container by name (``HEAD``)."""
        path = self._container_path(container_name)
        resp = yield from self._send("HEAD", path)
        if resp.status == 404:
            raise ContainerNotFound(container_name, driver=self)
        if not resp.ok:
            raise self._error(resp, f"container {container_name!r}")
        return self._container_from_headers(container_name, resp.headers)

    def _container_from_headers(self, name: str, headers: Mapping[str, str]) -> Container:
        extra: dict[str, Any] = {
            "object_count": _int(headers.get("X-Container-Object-Count")),
            "bytes_used": _int(headers.get("X-Container-Bytes-Used")),
            "storage_policy": headers.get("X-Storage-Policy"),
            "meta_data": {
                k[len("x-container-meta-"):]: v
                for k, v in headers.items()
                if k.lower().startswith("x-container-meta-")
            },
        }
        return Container(name=name, extra=extra, driver=self)

    @operation
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a container; :class:`~overcast.errors.ContainerAlreadyExists`
        if it exists (Swift's ``PUT`` would silently accept it: ``HEAD`` first,
        and a ``202`` to the ``PUT`` means another client made it meanwhile)."""
        path = self._container_path(container_name)
        head = yield from self._send("HEAD", path)
        if head.ok:
            raise ContainerAlreadyExists(container_name, driver=self)
        if head.status != 404:
            raise self._error(head, f"container {container_name!r}")
        resp = yield from self._send("PUT", path)
        if resp.status == 202:
            raise ContainerAlreadyExists(container_name, driver=self)
        if not resp.ok:
            raise self._error(resp, f"creating container {container_name!r}")
        return Container(name=container_name, extra={"object_count": 0, "bytes_used": 0},
                         driver=self)

    @operation
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty container (and its empty segment container, if
        overcast made one)."""
        name = container_name(container)
        path = self._container_path(name)
        resp = yield from self._send("DELETE", path)
        if resp.status == 404:
            raise ContainerNotFound(name, driver=self)
        if resp.status == 409:
            raise ContainerIsNotEmpty(f"container {name!r} is not empty", driver=self)
        if not resp.ok:
            raise self._error(resp, f"deleting container {name!r}")
        segments = f"{name}{self.segment_suffix}"
        if len(segments.encode("utf-8")) <= MAX_CONTAINER_NAME_BYTES:
            seg_path = self._container_path(segments)
            head = yield from self._send("HEAD", seg_path)
            if (
                head.ok
                and head.headers.get(SEGMENTS_MARK) == name
                and _int(head.headers.get("X-Container-Object-Count")) == 0
            ):
                yield from self._send("DELETE", seg_path)  # 409 if a segment arrived: kept
        return True

    # -- listing -----------------------------------------------------------------

    def _listing(
        self, container: str, prefix: str, delimiter: str | None
    ) -> Iter[Object | Prefix]:
        path = self._container_path(container)
        ref = Container(name=container, driver=self)
        marker = ""
        while True:
            params = [("format", "json"), ("limit", str(self.page_size))]
            if prefix:
                params.append(("prefix", prefix))
            if delimiter:
                params.append(("delimiter", delimiter))
            if marker:
                params.append(("marker", marker))
            resp = yield from self._send("GET", path, params=params, headers={"Accept": _JSON})
            if resp.status == 404:
                raise ContainerNotFound(container, driver=self)
            if not resp.ok:
                raise self._error(resp, f"listing container {container!r}")
            page: list[dict[str, Any]] = resp.json() if resp.status != 204 else []
            for entry in page:
                if "subdir" in entry:
                    yield Emit(Prefix(str(entry["subdir"]), ref))
                else:
                    yield Emit(self._object_from_listing(ref, entry))
            if len(page) < self.page_size:
                return
            last = page[-1]
            marker = str(last.get("subdir") or last["name"])

    @iterator
    def iterate_container_objects(
        self, container: ContainerRef, prefix: str | None = None, ex_prefix: str | None = None
    ) -> Iter[Object]:
        """Iterate over objects in name order, ``page_size`` per request
        (``marker`` pagination)."""
        name = container_name(container)
        self._container_path(name)
        # Without a delimiter Swift sends no "subdir" entries: only objects.
        listing: Iter[Any] = self._listing(name, prefix or ex_prefix or "", None)
        yield from listing

    @iterator
    def iterate_container_entries(
        self, container: ContainerRef, prefix: str | None = None, *, delimiter: str = "/"
    ) -> Iter[Object | Prefix]:
        """Iterate over one "directory level": objects and ``subdir`` prefixes."""
        if not isinstance(delimiter, str) or not delimiter or "\x00" in delimiter:
            raise InvalidInput("delimiter must be a non-empty string", driver=self)
        name = container_name(container)
        self._container_path(name)
        yield from self._listing(name, prefix or "", delimiter)

    # -- objects -----------------------------------------------------------------

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """Get an object's metadata (``HEAD``)."""
        path = self._object_path(container_name, object_name)
        resp = yield from self._send("HEAD", path)
        if resp.status == 404:
            raise ObjectNotFound(object_name, driver=self)
        if not resp.ok:
            raise self._error(resp, f"object {object_name!r}")
        return self._object_from_headers(container_name, object_name, resp.headers)

    @operation
    def upload_object(
        self,
        file_path: str | os.PathLike[str],
        container: ContainerRef,
        object_name: str,
        extra: Mapping[str, Any] | None = None,
        verify_hash: bool = True,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str | None = None,
        meta_data: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> Op[Object]:
        """Upload a local file: one ``PUT`` up to the threshold, else an SLO
        of segments uploaded in parallel."""
        source = os.fspath(file_path)
        name = container_name(container)
        self._object_path(name, object_name)
        target = self._target(name, object_name, extra, headers, content_type, meta_data)
        size: int | None = yield Call(_file_size, source)
        if size is None:
            raise InvalidInput(f"not a readable file: {source}", driver=self)
        body = FileStream(source).observe(SizeCheck(size, source, driver=self))
        if progress is not None:
            body.observe(ProgressReport(progress, size))
        obj: Object = yield from transfer.upload_in_parts(
            target, body, size=size, plan=self.part_plan
        )
        return obj

    @operation
    def upload_object_via_stream(
        self,
        iterator: Iterable[bytes] | AsyncIterable[bytes] | IO[bytes] | bytes,
        container: ContainerRef,
        object_name: str,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str | None = None,
        meta_data: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> Op[Object]:
        """Upload from an iterator of bytes, a file object or bytes (size
        unknown first): one ``PUT`` when it fits the threshold, else an SLO."""
        name = container_name(container)
        self._object_path(name, object_name)
        if isinstance(iterator, str):
            raise InvalidInput("upload data must be bytes, not str", driver=self)
        target = self._target(name, object_name, extra, headers, content_type, meta_data)
        body = as_stream(iterator)
        if progress is not None:
            body.observe(ProgressReport(progress, None))
        obj: Object = yield from transfer.upload_in_parts(
            target, body, size=None, plan=self.part_plan
        )
        return obj

    def _target(
        self,
        container: str,
        object_name: str,
        extra: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        content_type: str | None,
        meta_data: Mapping[str, str] | None,
    ) -> _SwiftUpload:
        extra = dict(extra or {})
        unknown = set(extra) - {"content_type", "meta_data", "acl"}
        if unknown:
            raise InvalidInput(f"unknown extra keys: {', '.join(sorted(unknown))}", driver=self)
        ctype = content_type or extra.get("content_type") or _guess_type(object_name)
        if not isinstance(ctype, str) or any(c in ctype for c in "\r\n\x00"):
            raise InvalidInput(f"invalid content type: {ctype!r}", driver=self)
        meta = dict(meta_data if meta_data is not None else extra.get("meta_data") or {})
        _check_meta(meta, self)
        sent: dict[str, str] = {}
        for key, value in (headers or {}).items():
            if not isinstance(key, str) or not isinstance(value, str) or any(
                c in key + value for c in "\r\n\x00"
            ):
                raise InvalidInput(f"invalid header {key!r}", driver=self)
            sent[key] = value
        sent["Content-Type"] = ctype
        for key, value in meta.items():
            sent[f"X-Object-Meta-{key}"] = value
        return _SwiftUpload(self, container, object_name, sent, ctype, meta)

    @stream
    def download_object_range_as_stream(
        self,
        obj: Object,
        start_bytes: int,
        end_bytes: int | None = None,
        chunk_size: int | None = None,
    ) -> Op[ByteStream]:
        """Stream bytes ``[start_bytes, end_bytes)``. A full read is checked:
        size and MD5 for ordinary objects, size and every segment's MD5 for a
        Static Large Object, size only for a Dynamic Large Object."""
        container = obj.container_name
        path = self._object_path(container, obj.name)
        start, end = check_range(None, start_bytes, end_bytes, driver=self)
        if end is not None and end == start:
            return IterStream([])
        full = start == 0 and end is None
        segments: list[tuple[int, str]] | None = None
        slo_etag: str | None = None
        if full and obj.extra.get("static_large_object"):
            found = yield from self._manifest(container, obj.name)
            if found is not None:
                segments, slo_etag = found
        headers: dict[str, str] = {}
        if not full:
            headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        resp = yield from self._send("GET", path, headers=headers, stream=True)
        if resp.status == 404:
            raise ObjectNotFound(obj.name, driver=self)
        if resp.status == 416 and end is None and start == obj.size:
            return IterStream([])
        if not resp.ok or resp.stream is None:
            raise self._error(resp, f"downloading {obj.name!r}")
        body = resp.stream
        length = _int(resp.headers.get("Content-Length"))
        if end is not None:
            expected: int | None = end - start
        else:
            expected = length
        body.observe(SizeCheck(expected, obj.name, driver=self))
        if full:
            etag = resp.headers.get("ETag", "").strip('"').lower()
            slo = resp.headers.get("X-Static-Large-Object", "").lower() == "true"
            if slo:
                if segments is not None and slo_etag == etag:
                    body.observe(SegmentHashCheck(segments, obj.name, driver=self))
            elif "X-Object-Manifest" not in resp.headers and _is_md5(etag):
                body.observe(HashCheck("md5", etag, obj.name, driver=self))
        return body

    def _manifest(
        self, container: str, name: str
    ) -> Op[tuple[list[tuple[int, str]], str] | None]:
        """An SLO's segments ``[(size, md5)]`` and the ETag they make, or
        ``None`` when they cannot be checked (not an SLO any more, ranged or
        nested segments)."""
        path = self._object_path(container, name)
        resp = yield from self._send(
            "GET", path, params=[("multipart-manifest", "get")], headers={"Accept": _JSON}
        )
        if resp.status == 404:
            raise ObjectNotFound(name, driver=self)
        if not resp.ok or resp.headers.get("X-Static-Large-Object", "").lower() != "true":
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
        etag: str = yield Call(_md5_hex, joined)
        return segments, etag

    @operation
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete an object; an SLO's segments go with it."""
        container = obj.container_name
        path = self._object_path(container, obj.name)
        slo = obj.extra.get("static_large_object")
        if slo is not False:
            resp = yield from self._send(
                "DELETE", path, params=[("multipart-manifest", "delete")],
                headers={"Accept": _JSON},
            )
            if resp.status == 404:
                raise ObjectNotFound(obj.name, driver=self)
            if not resp.ok:
                raise self._error(resp, f"deleting {obj.name!r}")
            try:
                report = resp.json()
            except ValueError:
                report = {}
            errors = report.get("Errors") or []
            not_slo = any("Not an SLO manifest" in str(e) for e in errors)
            if not not_slo:
                if report.get("Number Deleted", 0) == 0 and report.get("Number Not Found"):
                    raise ObjectNotFound(obj.name, driver=self)
                if errors:
                    raise ProviderError(
                        redact_text(
                            f"deleting {obj.name!r}: {report.get('Response Status')}: "
                            f"{str(errors)[:300]}",
                            self._secrets(),
                        ),
                        status=_int(str(report.get("Response Status", "")).split(" ")[0]),
                        driver=self,
                    )
                return True
        resp = yield from self._send("DELETE", path)
        if resp.status == 404:
            raise ObjectNotFound(obj.name, driver=self)
        if not resp.ok:
            raise self._error(resp, f"deleting {obj.name!r}")
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
        resp = yield from self._send(
            "PUT", path, headers={"X-Copy-From": copy_from, "Content-Length": "0"}, body=b""
        )
        if resp.status == 413:
            source = yield from self.get_object.op(source_container, obj.name)
            data = yield from self.download_object_as_stream.op(source)
            upload = self._target(
                target, name, None, None, source.content_type, source.meta_data
            )
            copied: Object = yield from transfer.upload_in_parts(
                upload, data, size=source.size, plan=self.part_plan
            )
            return copied
        if resp.status == 404:
            # Either side may be missing: say which.
            yield from self.get_object.op(source_container, obj.name)
            raise ContainerNotFound(target, driver=self)
        if not resp.ok:
            raise self._error(resp, f"copying {obj.name!r}")
        return (yield from self.get_object.op(target, name))


class _SwiftUpload:
    """The :class:`~overcast.storage.transfer.PartTarget` of one upload:
    one ``PUT``, or SLO segments and a manifest."""

    def __init__(
        self,
        driver: SwiftStorageDriver,
        container: str,
        name: str,
        headers: dict[str, str],
        content_type: str,
        meta: dict[str, str],
    ) -> None:
        self.driver = driver
        self.container = container
        self.name = name
        self.path = driver._object_path(container, name)
        self.headers = headers
        self.content_type = content_type
        self.meta = meta
        self.segment_container = ""
        self.started: set[int] = set()
        self.sizes: dict[int, int] = {}

    def _object(self, resp: Response, size: int, slo: bool) -> Object:
        return Object(
            name=self.name,
            size=size,
            hash=resp.headers.get("ETag", "").strip('"') or None,
            extra={"static_large_object": slo},
            meta_data=dict(self.meta),
            container=Container(name=self.container, driver=self.driver),
            driver=self.driver,
            content_type=self.content_type,
            last_modified=_http_date(resp.headers.get("Last-Modified")),
        )

    def put_whole(self, data: PartData) -> Op[Object]:
        """Upload a small object in one ``PUT`` with its MD5 as ``ETag``."""
        md5: str = yield Call(_md5_hex, data)
        resp = yield from self.driver._send(
            "PUT", self.path, headers={**self.headers, "ETag": md5}, body=data
        )
        if resp.status == 404:
            raise ContainerNotFound(self.container, driver=self.driver)
        if not resp.ok:
            raise self.driver._error(resp, f"uploading {self.name!r}")
        return self._object(resp, len(data), slo=False)

    def _segment_name(self, upload_id: str, number: int) -> str:
        tail = f"/{upload_id}/{number:08d}"
        if len(self.name.encode("utf-8")) + len(tail) <= MAX_OBJECT_NAME_BYTES:
            return f"{self.name}{tail}"
        return tail[1:]

    def _segment_path(self, upload_id: str, number: int) -> str:
        return self.driver._object_path(
            self.segment_container, self._segment_name(upload_id, number)
        )

    def begin(self) -> Op[str]:
        """Check the container, make its segment container, and name the upload."""
        driver = self.driver
        head = yield from driver._send("HEAD", driver._container_path(self.container))
        if head.status == 404:
            raise ContainerNotFound(self.container, driver=driver)
        if not head.ok:
            raise driver._error(head, f"container {self.container!r}")
        self.segment_container = driver._segment_container(self.container)
        resp = yield from driver._send(
            "PUT",
            driver._container_path(self.segment_container),
            headers={SEGMENTS_MARK: self.container},
        )
        if not resp.ok:
            raise driver._error(resp, f"creating segment container {self.segment_container!r}")
        return uuid.uuid4().hex

    def put_part(self, upload_id: str, number: int, data: PartData, last: bool) -> Op[str]:
        """Upload one segment with its MD5 as ``ETag``; return the MD5."""
        md5: str = yield Call(_md5_hex, data)
        self.started.add(number)
        self.sizes[number] = len(data)
        resp = yield from self.driver._send(
            "PUT", self._segment_path(upload_id, number), headers={"ETag": md5}, body=data
        )
        if not resp.ok:
            raise self.driver._error(resp, f"uploading segment {number} of {self.name!r}")
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
            "PUT",
            self.path,
            params=[("multipart-manifest", "put")],
            headers={**self.headers, "Content-Length": str(len(body))},
            body=body,
        )
        if resp.status == 404:
            raise ContainerNotFound(self.container, driver=self.driver)
        if not resp.ok:
            raise self.driver._error(resp, f"writing the manifest of {self.name!r}")
        return self._object(resp, sum(self.sizes[n] for n, _ in parts), slo=True)

    def abort(self, upload_id: str) -> Op[None]:
        """Delete every segment this upload started (missing ones are fine:
        the delete leaves a tombstone newer than any late ``PUT``)."""
        driver = self.driver

        def delete(number: int) -> Op[None]:
            resp = yield from driver._send("DELETE", self._segment_path(upload_id, number))
            if not resp.ok and resp.status != 404:
                raise driver._error(resp, f"deleting segment {number} of {self.name!r}")

        numbers = sorted(self.started)
        if numbers:
            yield Parallel([delete(n) for n in numbers], limit=driver.part_plan.concurrency)


# -- helpers ---------------------------------------------------------------------------


def _check_meta(meta: Mapping[str, str], driver: Any) -> None:
    if len(meta) > MAX_META_COUNT:
        raise InvalidInput(f"at most {MAX_META_COUNT} metadata entries", driver=driver)
    total = 0
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise InvalidInput("meta_data keys and values must be non-empty strings",
                               driver=driver)
        if not key.isascii() or not value.isascii():
            raise InvalidInput(f"meta_data {key!r} must be ASCII for Swift", driver=driver)
        if any(c in key + value for c in "\r\n\x00") or any(
            c in key for c in " :()<>@,;\\\"/[]?={}\t"
        ):
            raise InvalidInput(f"invalid meta_data key or value: {key!r}", driver=driver)
        if len(key) > MAX_META_NAME or len(value) > MAX_META_VALUE:
            raise InvalidInput(
                f"meta_data {key!r}: keys up to {MAX_META_NAME} and values up to "
                f"{MAX_META_VALUE} bytes",
                driver=driver,
            )
        total += len(key) + len(value)
    if total > MAX_META_OVERALL:
        raise InvalidInput(f"meta_data is over {MAX_META_OVERALL} bytes in all", driver=driver)


def _md5_hex(data: PartData) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _is_md5(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _iso_date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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

