"""Google Cloud Storage through its JSON API (v1).

``GoogleStorageDriver(credentials_file="sa.json", project="p")`` authenticates
with a service account (an RS256-signed JWT exchanged for an OAuth2 access
token by :mod:`overcast.auth.google_oauth`, cached until shortly before it
expires and shared by every thread and task using the driver; a 401 drops it
and the request is sent once more with a fresh one).
``GoogleStorageDriver(anonymous=True, endpoint="http://127.0.0.1:4443")``
sends no credentials at all: public buckets, and emulators such as
fake-gcs-server.

Endpoints used (``{api}`` is ``{endpoint}/storage/v1``):

* buckets: ``GET {api}/b?project=`` (``maxResults``, ``pageToken`` ->
  ``nextPageToken``), ``POST {api}/b?project=``, ``GET/DELETE {api}/b/{bucket}``
  (deleting a bucket that still holds objects is a 409, or a 412 on some
  emulators: :class:`~overcast.errors.ContainerIsNotEmpty`);
* objects: ``GET {api}/b/{bucket}/o`` (``prefix``, ``delimiter`` ->
  ``prefixes``, ``maxResults``, ``pageToken``), ``GET/DELETE
  {api}/b/{bucket}/o/{object}`` (the name percent-encoded, ``/`` included),
  ``GET ...?alt=media`` with ``Range`` for data, ``POST .../rewriteTo/b/{bucket}/o/
  {object}`` for server-side copies (repeated with ``rewriteToken`` until
  ``done``);
* uploads (``{endpoint}/upload/storage/v1/b/{bucket}/o``): objects up to
  ``part_plan.threshold`` go in one ``uploadType=multipart`` request (JSON
  metadata and data); larger ones, and streams that turn out larger, go up as a
  *resumable* upload: a ``POST ...?uploadType=resumable`` opens a session (its
  URI comes back in ``Location``), then each chunk is a ``PUT`` to the session
  with ``Content-Range: bytes a-b/*`` answered by ``308 Resume Incomplete`` (its
  ``Range`` says what the server kept; a short chunk is resent from there),
  and the last chunk carries the total, ``bytes a-b/N``, and gets the object.
  Chunks must be multiples of 256 KiB and go one at a time, in order: hence the
  default plan (``alignment=256 KiB``, ``sequential=True``). A failed or
  cancelled upload ``DELETE``\\ s its session (Google answers 499), so nothing
  becomes visible.

Integrity: uploads send the MD5 and CRC32C of the data (Google checks them on
one-request uploads) and compare the object's hashes with the ones computed
while sending, for resumable uploads too; a mismatch deletes the new
generation and raises :class:`~overcast.errors.IntegrityError`. A full
download is checked against the CRC32C and MD5 the server reports for the
bytes it sends (``X-Goog-Hash``). CRC32C needs the ``google-crc32c`` (or
``crc32c``) package; without it only MD5 is checked (composite objects have no
MD5, and are then checked for size only).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import mimetypes
import os
import re
import time
import uuid
from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, ClassVar, Final
from urllib.parse import quote

from overcast.auth.google_oauth import (
    AccessToken,
    GoogleCredentials,
    ServiceAccount,
)
from overcast.auth.tokens import send_with_bearer
from overcast.errors import (
    ContainerAlreadyExists,
    ContainerIsNotEmpty,
    ContainerNotFound,
    IntegrityError,
    InvalidCredentials,
    InvalidInput,
    NotSupported,
    ObjectNotFound,
    OutcomeUnknown,
    OvercastError,
    ProviderError,
)
from overcast.runtime.effects import Call, Emit, Iter, Op, PartData, Request, Response
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
    ChecksumCheck,
    PartPlan,
    ProgressReport,
    SizeCheck,
    check_range,
    checksum_b64,
    crc32c_function,
    pick_checksum,
)
from overcast.storage.transfer import readable_file_size as _file_size

__all__ = [
    "DEFAULT_PART_PLAN",
    "GoogleStorageDriver",
    "signed_url_v4",
]

DEFAULT_ENDPOINT: Final = "https://storage.googleapis.com"
#: The OAuth2 scope asked for: read and write buckets and objects.
SCOPE: Final = "https://www.googleapis.com/auth/devstorage.full_control"
KiB: Final = 1024
MiB: Final = 1024 * KiB
#: Google's resumable uploads take chunks that are multiples of 256 KiB.
CHUNK_ALIGNMENT: Final = 256 * KiB
#: Objects up to 8 MiB in one request; larger ones in sequential 8 MiB chunks.
DEFAULT_PART_PLAN: Final = PartPlan(
    threshold=8 * MiB,
    part_size=8 * MiB,
    max_part_size=256 * MiB,
    alignment=CHUNK_ALIGNMENT,
    sequential=True,
    concurrency=1,
)
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"
MAX_OBJECT_NAME_BYTES: Final = 1024
#: A chunk answered with 308 but no progress this many times in a row is an error.
MAX_STALLED_CHUNKS: Final = 3
#: Google's limit on a V4 signed URL's lifetime: 7 days.
SIGNED_URL_MAX_EXPIRES: Final = 7 * 24 * 3600
_BUCKET_CHARS: Final = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?\Z")
_RANGE: Final = re.compile(r"bytes=(\d+)-(\d+)\Z")


# -- CRC32C ------------------------------------------------------------------------------

_CRC32C = crc32c_function()


# -- names ---------------------------------------------------------------------------------


def _b64_to_hex(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _parse_goog_hash(headers: Mapping[str, str]) -> dict[str, str]:
    """``{"crc32c": ..., "md5": ...}`` from ``X-Goog-Hash`` (base64 values)."""
    found: dict[str, str] = {}
    for item in (headers.get("X-Goog-Hash") or "").split(","):
        key, sep, value = item.strip().partition("=")
        if sep and key and value:
            found[key.strip().lower()] = value.strip()
    return found


@dataclass(frozen=True, slots=True)
class _Attributes:
    content_type: str
    meta_data: dict[str, str]


class GoogleStorageDriver(StorageDriver):
    """Google Cloud Storage (JSON API v1).

    Credentials, in the order they are looked at: ``credentials_info`` (a
    parsed service-account JSON key), ``credentials_file`` (its path, read on
    first use), or Apache Libcloud's ``key`` (the service account's e-mail) and
    ``secret`` (its PEM private key, or the key file's path); or
    ``anonymous=True`` for no credentials (public data, emulators).
    ``project`` is needed to list and create buckets (default: the key file's
    ``project_id``). ``endpoint`` points at another server (an emulator);
    ``token_uri`` overrides the key file's token endpoint. ``part_plan`` says
    how uploads are cut (see :data:`DEFAULT_PART_PLAN`); ``page_size`` is
    ``maxResults`` for listings.
    """

    name: ClassVar[str] = "google_storage"

    def __init__(
        self,
        key: str | None = None,
        secret: str | Secret | None = None,
        *,
        project: str | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        credentials_info: Mapping[str, Any] | None = None,
        anonymous: bool = False,
        endpoint: str = DEFAULT_ENDPOINT,
        token_uri: str | None = None,
        part_plan: PartPlan = DEFAULT_PART_PLAN,
        page_size: int = 1000,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if project is not None and (not isinstance(project, str) or not project):
            raise InvalidInput("project must be a non-empty string", driver=self)
        if not isinstance(page_size, int) or isinstance(page_size, bool) or not (
            1 <= page_size <= 1000
        ):
            raise InvalidInput(f"page_size must be an integer in 1..1000: {page_size!r}",
                               driver=self)
        if not isinstance(part_plan, PartPlan):
            raise InvalidInput("part_plan must be a PartPlan", driver=self)
        if part_plan.part_size % CHUNK_ALIGNMENT or part_plan.alignment % CHUNK_ALIGNMENT:
            raise InvalidInput(
                "part_plan.part_size and part_plan.alignment must be multiples of 256 KiB "
                "(Google's resumable uploads need it)",
                driver=self,
            )
        if not part_plan.sequential:
            raise InvalidInput(
                "part_plan must be sequential: a resumable upload takes its chunks in order",
                driver=self,
            )
        if not isinstance(endpoint, str) or not re.match(r"https?://[^/]+", endpoint):
            raise InvalidInput(f"endpoint must be an http(s) URL: {endpoint!r}", driver=self)
        self.project = project
        self.endpoint = endpoint.rstrip("/")
        self.part_plan = part_plan
        self.page_size = page_size
        self.anonymous = bool(anonymous)
        self._google: GoogleCredentials | None = None
        if anonymous:
            if credentials_info is not None or credentials_file is not None or key or secret:
                raise InvalidInput("anonymous=True takes no credentials", driver=self)
        else:
            self._google = GoogleCredentials(
                key=key, secret=secret, credentials_file=credentials_file,
                credentials_info=credentials_info, token_uri=token_uri, scope=SCOPE,
                driver=self,
                missing="give credentials_file, credentials_info, key (service-account e-mail) "
                "and secret (its private key or JSON key file), or anonymous=True",
            )

    def _repr_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"endpoint": self.endpoint}
        if self.project:
            fields["project"] = self.project
        if self.anonymous:
            fields["anonymous"] = True
        return fields

    def _secrets(self) -> tuple[Secret, ...]:
        return self._google.secrets() if self._google is not None else ()

    # -- auth and requests -------------------------------------------------------------

    def _service_account(self) -> Op[ServiceAccount]:
        assert self._google is not None
        return (yield from self._google.service_account())

    def _token(self) -> Op[AccessToken | None]:
        """Operation: the cached access token, a new one, or ``None`` when anonymous."""
        if self._google is None:
            return None
        return (yield from self._google.token())

    def _project(self) -> Op[str]:
        if self.project:
            return self.project
        if not self.anonymous:
            account = yield from self._service_account()
            if account.project_id:
                return account.project_id
        raise InvalidInput(
            "listing and creating buckets needs project= (or a key file with project_id)",
            driver=self,
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: PartData | None = None,
        json_body: Any = None,
        stream: bool = False,
        idempotent: bool | None = None,
    ) -> Op[Response]:
        """Operation: an authorised request; a 401 is retried once with a new token."""
        fields = dict(headers or {})
        data = body
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            fields["Content-Type"] = "application/json; charset=UTF-8"
        request = Request(method, url, headers=fields, params=dict(params or {}), body=data,
                          stream=stream, idempotent=idempotent)
        tokens = self._google.tokens if self._google is not None else None
        return (yield from send_with_bearer(self._token, tokens, request))

    def _api(self, *segments: str) -> str:
        path = "/".join(quote(s, safe="") for s in segments)
        return f"{self.endpoint}/storage/v1/{path}"

    def _object_url(self, bucket: str, name: str, *more: str) -> str:
        return self._api("b", bucket, "o", name, *more)

    def _upload_url(self, bucket: str) -> str:
        return f"{self.endpoint}/upload/storage/v1/b/{quote(bucket, safe='')}/o"

    def _error(self, resp: Response, kind: str = "", resource: str = "") -> OvercastError:
        """The overcast error for a failed API response.

        ``kind`` says what a 404 is about: ``"container"``, ``"object"`` (a
        message naming the bucket makes it :class:`ContainerNotFound`) or ``""``.
        """
        code: str | None = None
        message = resp.text[:500]
        try:
            data = resp.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            error = data["error"]
            message = str(error.get("message") or message)
            details = error.get("errors")
            if isinstance(details, list) and details and isinstance(details[0], dict):
                code = details[0].get("reason") or None
            code = code or error.get("status")
        message = redact_text(message, self._secrets()) or f"HTTP {resp.status}"
        if resp.status in (401, 403):
            return InvalidCredentials(
                f"Cloud Storage refused the request ({resp.status}): {message}", driver=self
            )
        if resp.status == 404:
            if kind == "container" or (kind == "object" and "bucket" in message.lower()):
                return ContainerNotFound(resource, message, driver=self)
            if kind == "object":
                return ObjectNotFound(resource, message, driver=self)
        return ProviderError(message, status=resp.status, code=code, driver=self)

    # -- names -------------------------------------------------------------------------

    def _check_bucket(self, name: Any) -> str:
        """Cloud Storage's bucket naming rules, checked before any request."""
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"bucket name must be a non-empty string: {name!r}", driver=self)
        components = name.split(".")
        ok = (
            3 <= len(name) <= 222
            and _BUCKET_CHARS.match(name) is not None
            and all(0 < len(c) <= 63 for c in components)
            and ("." in name or len(name) <= 63)
            and not name.startswith("goog")
            and "google" not in name
        )
        if ok:
            try:
                ipaddress.ip_address(name)
                ok = False
            except ValueError:
                pass
        if not ok:
            raise InvalidInput(
                f"invalid bucket name {name!r}: 3-63 characters (222 with dots) of a-z, 0-9, "
                "'-', '_' and '.', starting and ending with a letter or digit",
                driver=self,
            )
        return name

    def _check_object(self, name: Any) -> str:
        """Object names: 1-1024 bytes of UTF-8, no NUL, CR or LF, and (for portable
        paths) no empty, ``.`` or ``..`` segments."""
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"object name must be a non-empty string: {name!r}", driver=self)
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"object name is not valid UTF-8: {name!r}", driver=self) from None
        if len(encoded) > MAX_OBJECT_NAME_BYTES or any(c in name for c in "\x00\r\n"):
            raise InvalidInput(f"invalid object name: {name!r}", driver=self)
        if any(part in {"", ".", ".."} for part in name.split("/")):
            raise InvalidInput(
                f"invalid object name {name!r}: empty, '.' or '..' path segment", driver=self
            )
        if name.startswith(".well-known/acme-challenge/"):
            raise InvalidInput(f"reserved object name: {name!r}", driver=self)
        return name

    # -- models ------------------------------------------------------------------------

    def _to_container(self, data: Mapping[str, Any]) -> Container:
        extra = {
            key: data.get(source)
            for key, source in (
                ("id", "id"), ("location", "location"), ("storage_class", "storageClass"),
                ("time_created", "timeCreated"), ("updated", "updated"),
                ("project_number", "projectNumber"), ("etag", "etag"),
                ("location_type", "locationType"), ("metageneration", "metageneration"),
            )
            if data.get(source) is not None
        }
        return Container(name=str(data["name"]), extra=extra, driver=self)

    def _to_object(self, data: Mapping[str, Any], bucket: str) -> Object:
        md5 = data.get("md5Hash")
        extra: dict[str, Any] = {
            key: data.get(source)
            for key, source in (
                ("md5_hash", "md5Hash"), ("crc32c", "crc32c"), ("generation", "generation"),
                ("metageneration", "metageneration"), ("etag", "etag"),
                ("storage_class", "storageClass"), ("time_created", "timeCreated"),
                ("content_encoding", "contentEncoding"), ("cache_control", "cacheControl"),
                ("content_disposition", "contentDisposition"),
                ("component_count", "componentCount"), ("id", "id"),
            )
            if data.get(source) is not None
        }
        metadata = data.get("metadata")
        return Object(
            name=str(data["name"]),
            size=int(data.get("size") or 0),
            hash=_b64_to_hex(md5 if isinstance(md5, str) else None) or data.get("etag"),
            extra=extra,
            meta_data={str(k): str(v) for k, v in metadata.items()}
            if isinstance(metadata, dict) else {},
            container=Container(name=bucket, driver=self),
            driver=self,
            content_type=data.get("contentType"),
            last_modified=_parse_time(data.get("updated")),
        )

    # -- containers ----------------------------------------------------------------------

    @iterator
    def iterate_containers(self) -> Iter[Container]:
        """Every bucket of the project, page by page (``pageToken``)."""
        project = yield from self._project()
        token: str | None = None
        while True:
            params = {"project": project, "maxResults": str(self.page_size)}
            if token:
                params["pageToken"] = token
            resp = yield from self._send("GET", self._api("b"), params=params)
            if not resp.ok:
                raise self._error(resp)
            data = resp.json()
            for item in data.get("items") or []:
                yield Emit(self._to_container(item))
            token = data.get("nextPageToken")
            if not token:
                return

    @operation
    def get_container(self, container_name: str) -> Op[Container]:
        """The bucket ``container_name``."""
        name = self._check_bucket(container_name)
        resp = yield from self._send("GET", self._api("b", name))
        if not resp.ok:
            raise self._error(resp, "container", name)
        return self._to_container(resp.json())

    @operation
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a bucket in the project (default location and storage class)."""
        name = self._check_bucket(container_name)
        project = yield from self._project()
        try:
            resp = yield from self._send(
                "POST", self._api("b"), params={"project": project}, json_body={"name": name},
                idempotent=False,
            )
        except OutcomeUnknown:
            # The create may have happened: look before giving up.
            found = yield from self._send("GET", self._api("b", name))
            if found.ok:
                return self._to_container(found.json())
            raise
        if resp.status == 409:
            raise ContainerAlreadyExists(name, driver=self)
        if not resp.ok:
            raise self._error(resp, "", name)
        return self._to_container(resp.json())

    @operation
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty bucket."""
        name = self._check_bucket(container_name(container))
        resp = yield from self._send("DELETE", self._api("b", name))
        if resp.ok:
            return True
        if resp.status in (409, 412):
            raise ContainerIsNotEmpty(f"bucket {name!r} is not empty", driver=self)
        raise self._error(resp, "container", name)

    # -- listing -------------------------------------------------------------------------

    def _page(self, bucket: str, params: Mapping[str, str], token: str | None
              ) -> Op[dict[str, Any]]:
        """One page of an object listing, parsed (in a worker thread when async)."""
        query = {**params, "maxResults": str(self.page_size)}
        if token:
            query["pageToken"] = token
        resp = yield from self._send("GET", self._api("b", bucket, "o"), params=query)
        if not resp.ok:
            raise self._error(resp, "container", bucket)
        data: Any = yield Call(json.loads, resp.body)
        if not isinstance(data, dict):
            raise ProviderError("an object listing is not a JSON object", status=resp.status,
                                driver=self)
        return data

    @iterator
    def iterate_container_objects(
        self, container: ContainerRef, prefix: str | None = None, ex_prefix: str | None = None
    ) -> Iter[Object]:
        """Every object (in name order) whose name starts with ``prefix``, page by page."""
        bucket = self._check_bucket(container_name(container))
        params: dict[str, str] = {}
        if prefix or ex_prefix:
            params["prefix"] = str(prefix or ex_prefix)
        token: str | None = None
        while True:
            page = yield from self._page(bucket, params, token)
            for item in page.get("items") or []:
                yield Emit(self._to_object(item, bucket))
            token = page.get("nextPageToken")
            if not token:
                return

    @iterator
    def iterate_container_entries(
        self, container: ContainerRef, prefix: str | None = None, *, delimiter: str = "/"
    ) -> Iter[Object | Prefix]:
        """One "directory level": objects directly under ``prefix`` and the common
        prefixes up to ``delimiter``, merged in name order across pages (some
        servers send every prefix with the first page)."""
        if not isinstance(delimiter, str) or not delimiter:
            raise InvalidInput("delimiter must be a non-empty string", driver=self)
        bucket = self._check_bucket(container_name(container))
        params = {"delimiter": delimiter}
        if prefix:
            params["prefix"] = prefix
        ref = Container(name=bucket, driver=self)
        seen: set[str] = set()
        pending: list[str] = []  # prefixes not yet emitted, sorted
        token: str | None = None
        while True:
            page = yield from self._page(bucket, params, token)
            fresh = [p for p in page.get("prefixes") or [] if isinstance(p, str) and p not in seen]
            seen.update(fresh)
            pending = sorted([*pending, *fresh])
            for item in page.get("items") or []:
                obj = self._to_object(item, bucket)
                while pending and pending[0] < obj.name:
                    yield Emit(Prefix(pending.pop(0), ref))
                yield Emit(obj)
            token = page.get("nextPageToken")
            if not token:
                break
        for name in pending:
            yield Emit(Prefix(name, ref))

    # -- objects ---------------------------------------------------------------------------

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """An object's metadata: size, MD5 and CRC32C, content type, user metadata."""
        bucket = self._check_bucket(container_name)
        name = self._check_object(object_name)
        resp = yield from self._send("GET", self._object_url(bucket, name))
        if not resp.ok:
            raise self._error(resp, "object", name)
        return self._to_object(resp.json(), bucket)

    @operation
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete an object (its live generation)."""
        bucket = self._check_bucket(obj.container_name)
        name = self._check_object(obj.name)
        resp = yield from self._send("DELETE", self._object_url(bucket, name))
        if not resp.ok:
            raise self._error(resp, "object", name)
        return True

    @operation
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy server-side (``rewrite``, repeated until done), with content type
        and metadata."""
        source_bucket = self._check_bucket(obj.container_name)
        source = self._check_object(obj.name)
        bucket = self._check_bucket(container_name(target_container))
        name = self._check_object(target_name or obj.name)
        url = self._object_url(source_bucket, source, "rewriteTo", "b", bucket, "o", name)
        token: str | None = None
        while True:
            params = {"rewriteToken": token} if token else {}
            resp = yield from self._send("POST", url, params=params, json_body={},
                                         idempotent=True)
            if not resp.ok:
                raise self._error(resp, "object", source)
            data = resp.json()
            if data.get("done") and isinstance(data.get("resource"), dict):
                return self._to_object(data["resource"], bucket)
            token = data.get("rewriteToken")
            if not token:
                raise ProviderError("rewrite answered neither done nor a rewriteToken",
                                    status=resp.status, driver=self)

    # -- uploads -----------------------------------------------------------------------------

    def _attributes(
        self,
        extra: Mapping[str, Any] | None,
        content_type: str | None,
        meta_data: Mapping[str, str] | None,
        object_name: str,
    ) -> _Attributes:
        extra = extra or {}
        unknown = set(extra) - {"content_type", "meta_data"}
        if unknown:
            raise InvalidInput(f"unknown extra keys: {', '.join(sorted(unknown))}", driver=self)
        ctype = content_type or extra.get("content_type") or (
            mimetypes.guess_type(object_name, strict=False)[0] or DEFAULT_CONTENT_TYPE
        )
        if not isinstance(ctype, str) or any(c in ctype for c in "\r\n\x00"):
            raise InvalidInput(f"invalid content type: {ctype!r}", driver=self)
        meta = dict(meta_data if meta_data is not None else extra.get("meta_data") or {})
        for key, value in meta.items():
            if not isinstance(key, str) or not isinstance(value, str) or not key:
                raise InvalidInput("meta_data keys and values must be non-empty strings",
                                   driver=self)
        return _Attributes(ctype, meta)

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
        """Upload a local file: one request up to ``part_plan.threshold``, else a
        resumable upload in chunks. ``verify_hash=False`` skips comparing the
        object's hashes with the data sent."""
        source = os.fspath(file_path)
        bucket = self._check_bucket(container_name(container))
        name = self._check_object(object_name)
        attributes = self._attributes(extra, content_type, meta_data, name)
        size: int | None = yield Call(_file_size, source)
        if size is None:
            raise InvalidInput(f"not a readable file: {source}", driver=self)
        body = FileStream(source).observe(SizeCheck(size, source, driver=self))
        if progress is not None:
            body.observe(ProgressReport(progress, size))
        target = _Upload(self, bucket, name, attributes, verify=verify_hash)
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
        """Upload from an iterator of bytes, a file object or bytes (size unknown:
        a resumable upload as soon as the data outgrows one request)."""
        bucket = self._check_bucket(container_name(container))
        name = self._check_object(object_name)
        attributes = self._attributes(extra, content_type, meta_data, name)
        if isinstance(iterator, str):
            raise InvalidInput("upload data must be bytes, not str", driver=self)
        body = as_stream(iterator)
        if progress is not None:
            body.observe(ProgressReport(progress, None))
        target = _Upload(self, bucket, name, attributes, verify=True)
        obj: Object = yield from transfer.upload_in_parts(
            target, body, size=None, plan=self.part_plan
        )
        return obj

    # -- signed URLs -------------------------------------------------------------------------

    @operation
    def get_object_presigned_url(
        self, obj: Object, *, method: str = "GET", expires: int = 3600
    ) -> Op[str]:
        """A V4 signed URL (``GOOG4-RSA-SHA256``) that grants ``method`` (GET, PUT,
        HEAD or DELETE) on the object for ``expires`` seconds (at most 7 days),
        signed with the service account's key; nothing is sent to Google.

        The URL carries a signature: hand it to whoever needs it, never log it.
        Anonymous drivers have no key: :class:`~overcast.errors.NotSupported`.
        """
        verb = str(method).upper()
        if verb not in {"GET", "PUT", "HEAD", "DELETE"}:
            raise InvalidInput(f"method must be GET, PUT, HEAD or DELETE: {method!r}",
                               driver=self)
        if not isinstance(expires, int) or isinstance(expires, bool) or not (
            1 <= expires <= SIGNED_URL_MAX_EXPIRES
        ):
            raise InvalidInput(f"expires must be 1..{SIGNED_URL_MAX_EXPIRES} seconds: "
                               f"{expires!r}", driver=self)
        bucket = self._check_bucket(obj.container_name)
        name = self._check_object(obj.name)
        if self.anonymous:
            raise NotSupported("signed URLs need service-account credentials", driver=self)
        account = yield from self._service_account()
        now: float = yield Call(time.time)
        url: str = yield Call(
            signed_url_v4, account, verb, self.endpoint, bucket, name, expires, now
        )
        return url

    # -- downloads ---------------------------------------------------------------------------

    @stream
    def download_object_range_as_stream(
        self,
        obj: Object,
        start_bytes: int,
        end_bytes: int | None = None,
        chunk_size: int | None = None,
    ) -> Op[ByteStream]:
        """Stream bytes ``[start_bytes, end_bytes)`` (``alt=media`` with ``Range``).

        A full read is checked against the CRC32C and MD5 of ``X-Goog-Hash`` (the
        hashes of the generation sent) and its length."""
        bucket = self._check_bucket(obj.container_name)
        name = self._check_object(obj.name)
        start, end = check_range(None, start_bytes, end_bytes, driver=self)
        full = start == 0 and end is None
        headers: dict[str, str] = {}
        if not full:
            headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        if end is not None and end == start:
            # An empty range: nothing to ask for, but the object must exist.
            yield from self.get_object.op(bucket, name)
            return IterStream([]).observe(SizeCheck(0, name, driver=self))
        resp = yield from self._send(
            "GET", self._object_url(bucket, name), params={"alt": "media"}, headers=headers,
            stream=True,
        )
        if resp.status == 416 and end is None:
            # Asked from the very end of the object: nothing left to read.
            length = _total_of_content_range(resp.headers.get("Content-Range"))
            if length is None or start == length:
                return IterStream([]).observe(SizeCheck(0, name, driver=self))
            raise InvalidInput(f"start_bytes {start} is past the object's size", driver=self)
        if not resp.ok:
            raise self._error(resp, "object", name)
        body = resp.stream
        if body is None:  # pragma: no cover - a transport always streams a 2xx
            body = IterStream([resp.body])
        if not full and resp.status != 206:
            body.close()
            raise ProviderError(f"the server ignored the Range of {name!r}",
                                status=resp.status, driver=self)
        encoded = "Content-Encoding" in resp.headers
        stored = (resp.headers.get("X-Goog-Stored-Content-Encoding") or "identity").lower()
        if end is not None:
            expected: int | None = end - start
        elif not encoded and resp.headers.get("Content-Length", "").isdigit():
            expected = int(resp.headers["Content-Length"])
        else:
            expected = None
        body.observe(SizeCheck(expected, name, driver=self))
        if full and stored in ("", "identity") and not encoded:
            hashes = _parse_goog_hash(resp.headers)
            generation = resp.headers.get("X-Goog-Generation")
            if not hashes and generation and generation == str(obj.extra.get("generation")):
                hashes = {
                    k: str(v) for k, v in (("crc32c", obj.extra.get("crc32c")),
                                           ("md5", obj.extra.get("md5_hash"))) if v
                }
            checksum = pick_checksum(hashes)  # CRC32C when it can be computed, else MD5
            if checksum is not None:
                body.observe(ChecksumCheck(*checksum, name, driver=self))
        return body


# -- the resumable upload ------------------------------------------------------------------


class _Upload:
    """The :class:`~overcast.storage.transfer.PartTarget` of one object upload.

    ``upload_id`` is the resumable session's URI. Chunks come in order (the plan
    is sequential), so the running MD5 and CRC32C cover the object.
    """

    def __init__(
        self,
        driver: GoogleStorageDriver,
        bucket: str,
        name: str,
        attributes: _Attributes,
        *,
        verify: bool,
    ) -> None:
        self.driver = driver
        self.bucket = bucket
        self.name = name
        self.attributes = attributes
        self.verify = verify
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.crc = 0
        self.offset = 0
        self.result: Object | None = None

    def _metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "contentType": self.attributes.content_type}
        if self.attributes.meta_data:
            meta["metadata"] = dict(self.attributes.meta_data)
        return meta

    def _hash(self, data: PartData) -> None:
        self.md5.update(data)
        if _CRC32C is not None:
            self.crc = _CRC32C(self.crc, data)

    def _hashes(self) -> tuple[str, str | None]:
        md5 = base64.b64encode(self.md5.digest()).decode("ascii")
        return md5, (checksum_b64("crc32c", self.crc) if _CRC32C is not None else None)

    def _whole_body(self, data: PartData) -> tuple[bytes, str]:
        """Hash the data and build the ``multipart/related`` body (blocking)."""
        self._hash(data)
        md5, crc = self._hashes()
        meta = self._metadata()
        meta["md5Hash"] = md5
        if crc is not None:
            meta["crc32c"] = crc
        boundary = f"overcast-{uuid.uuid4().hex}"
        head = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            f"{json.dumps(meta)}\r\n--{boundary}\r\n"
            f"Content-Type: {self.attributes.content_type}\r\n\r\n"
        ).encode()
        return b"".join((head, data, f"\r\n--{boundary}--\r\n".encode())), boundary

    def _check(self, obj: Object) -> Op[Object]:
        """Compare the stored object's hashes with the data sent; on a mismatch
        delete that generation and raise :class:`IntegrityError`."""
        if not self.verify:
            return obj
        md5, crc = self._hashes()
        wrong = []
        if obj.extra.get("md5_hash") and obj.extra["md5_hash"] != md5:
            wrong.append(f"md5 {obj.extra['md5_hash']} != {md5}")
        if crc is not None and obj.extra.get("crc32c") and obj.extra["crc32c"] != crc:
            wrong.append(f"crc32c {obj.extra['crc32c']} != {crc}")
        if not wrong:
            return obj
        driver = self.driver
        params = {}
        if obj.extra.get("generation"):
            params["ifGenerationMatch"] = str(obj.extra["generation"])
        yield from driver._send("DELETE", driver._object_url(self.bucket, self.name),
                                params=params)
        raise IntegrityError(
            f"{self.name}: the stored object does not match the data sent "
            f"({'; '.join(wrong)}); it was deleted",
            driver=driver,
        )

    def put_whole(self, data: PartData) -> Op[Object]:
        """One ``uploadType=multipart`` request: metadata and data."""
        driver = self.driver
        body, boundary = yield Call(self._whole_body, data)
        resp = yield from driver._send(
            "POST", driver._upload_url(self.bucket), params={"uploadType": "multipart"},
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
            body=body, idempotent=True,
        )
        if not resp.ok:
            raise driver._error(resp, "container", self.bucket)
        self.offset = len(data)
        return (yield from self._check(driver._to_object(resp.json(), self.bucket)))

    def begin(self) -> Op[str]:
        """Open a resumable session; its URI is the upload id."""
        driver = self.driver
        resp = yield from driver._send(
            "POST", driver._upload_url(self.bucket), params={"uploadType": "resumable"},
            headers={"X-Upload-Content-Type": self.attributes.content_type},
            json_body=self._metadata(), idempotent=True,  # an unused session is harmless
        )
        if not resp.ok:
            raise driver._error(resp, "container", self.bucket)
        location = resp.headers.get("Location")
        if not location:
            raise ProviderError("the resumable upload has no session URI (Location)",
                                status=resp.status, driver=driver)
        return location

    def put_part(self, upload_id: str, number: int, data: PartData, last: bool) -> Op[str]:
        """PUT one chunk; resend what the server did not keep (308 ``Range``)."""
        driver = self.driver
        yield Call(self._hash, data)
        start, end = self.offset, self.offset + len(data)
        total = str(end) if last else "*"
        sent, stalls = start, 0
        while True:
            span = f"{sent}-{end - 1}" if sent < end else "*"
            resp = yield from driver._send(
                "PUT", upload_id,
                headers={"Content-Range": f"bytes {span}/{total}",
                         "Content-Type": self.attributes.content_type},
                body=data if sent == start else data[sent - start:],
            )
            if resp.status == 308:
                kept = _persisted(resp.headers.get("Range"))
                if kept < sent or kept > end:
                    raise ProviderError(
                        f"resumable upload of {self.name!r}: the server holds {kept} bytes, "
                        f"expected {sent}..{end}", status=308, driver=driver,
                    )
                if kept == end and not last:
                    break
                stalls = stalls + 1 if kept == sent else 0
                if stalls >= MAX_STALLED_CHUNKS:
                    raise ProviderError(
                        f"resumable upload of {self.name!r} makes no progress at byte {kept}",
                        status=308, driver=driver,
                    )
                sent = kept
                continue
            if resp.ok:
                if not last:
                    raise ProviderError(
                        f"resumable upload of {self.name!r} finished before its last chunk",
                        status=resp.status, driver=driver,
                    )
                self.result = driver._to_object(resp.json(), self.bucket)
                break
            raise driver._error(resp)
        self.offset = end
        return str(end)

    def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[Object]:
        """The object the last chunk made (or finalise the session if the data
        ended exactly at a chunk boundary), checked against the data sent."""
        driver = self.driver
        if self.result is None:
            resp = yield from driver._send(
                "PUT", upload_id, headers={"Content-Range": f"bytes */{self.offset}"}, body=b""
            )
            if not resp.ok:
                raise driver._error(resp)
            self.result = driver._to_object(resp.json(), self.bucket)
        return (yield from self._check(self.result))

    def abort(self, upload_id: str) -> Op[None]:
        """Cancel the session (``DELETE``; Google answers 499): nothing is kept."""
        driver = self.driver
        resp = yield from driver._send("DELETE", upload_id)
        if not (resp.ok or resp.status in (404, 410, 499)):
            raise driver._error(resp)


def _persisted(value: str | None) -> int:
    """Bytes the server kept, from a 308's ``Range: bytes=0-N`` (none: 0)."""
    match = _RANGE.match((value or "").strip())
    return int(match.group(2)) + 1 if match else 0


def _total_of_content_range(value: str | None) -> int | None:
    if value and "/" in value:
        total = value.rsplit("/", 1)[1].strip()
        if total.isdigit():
            return int(total)
    return None


# -- V4 signed URLs ---------------------------------------------------------------------------


def signed_url_v4(
    account: ServiceAccount,
    method: str,
    endpoint: str,
    bucket: str,
    name: str,
    expires: int,
    now: float,
) -> str:
    """A ``GOOG4-RSA-SHA256`` signed URL for ``/{bucket}/{name}`` (path style) at
    ``now`` (pure given ``now``; costs an RSA signature: run it as a ``Call``).

    Canonical request: method, resource, sorted query, ``host`` as the only
    signed header, ``UNSIGNED-PAYLOAD``; the string to sign names the credential
    scope ``{date}/auto/storage/goog4_request``.
    """
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError:
        raise NotSupported("signing URLs needs the 'cryptography' package") from None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    scope = f"{stamp[:8]}/auto/storage/goog4_request"
    host = endpoint.split("://", 1)[1].split("/", 1)[0]
    resource = f"/{quote(bucket, safe='')}/{quote(name, safe='/~')}"
    query = {
        "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
        "X-Goog-Credential": f"{account.client_email}/{scope}",
        "X-Goog-Date": stamp,
        "X-Goog-Expires": str(expires),
        "X-Goog-SignedHeaders": "host",
    }
    canonical_query = "&".join(
        sorted(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in query.items())
    )
    canonical = "\n".join(
        [method, resource, canonical_query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    to_sign = "\n".join(
        ["GOOG4-RSA-SHA256", stamp, scope,
         hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    try:
        key = serialization.load_pem_private_key(
            account.private_key.reveal().encode("utf-8"), password=None
        )
    except (ValueError, TypeError):
        # Never chain: the library's message could quote the key material.
        raise InvalidCredentials(
            f"the private key of {account.client_email} is not a PEM RSA key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidCredentials(f"the private key of {account.client_email} is not an RSA key")
    signature = key.sign(to_sign.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return f"{endpoint}{resource}?{canonical_query}&X-Goog-Signature={signature.hex()}"
