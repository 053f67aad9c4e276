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

Errors: Google's JSON error (``error.errors[0].reason`` is the code) goes
through the driver's error table: 401/403 are
:class:`~overcast.errors.InvalidCredentials`, a 404 is whatever the call was
about (a bucket, an object), a 409 on create
:class:`~overcast.errors.ContainerAlreadyExists`, and a bucket that must be
empty first :class:`~overcast.errors.ContainerIsNotEmpty`.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Final
from urllib.parse import quote

from overcast.auth.google_oauth import AccessToken
from overcast.auth.google_oauth import GoogleCredentials
from overcast.auth.google_oauth import ServiceAccount
from overcast.auth.google_oauth import gce_metadata
from overcast.auth.google_oauth import rsa_sign
from overcast.auth.tokens import send_with_bearer
from overcast.errors import AlreadyExists
from overcast.errors import ContainerAlreadyExists
from overcast.errors import ContainerIsNotEmpty
from overcast.errors import ContainerNotFound
from overcast.errors import IntegrityError
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ObjectNotFound
from overcast.errors import ProviderError
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import When
from overcast.runtime.api import json_fault
from overcast.runtime.effects import Call
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
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
from overcast.runtime.streams import ChunkObserver
from overcast.storage.base import Attributes
from overcast.storage.base import Container
from overcast.storage.base import ContainerRef
from overcast.storage.base import Object
from overcast.storage.base import ObjectUpload
from overcast.storage.base import Prefix
from overcast.storage.base import StorageDriver
from overcast.storage.base import container_name
from overcast.storage.checks import ChecksumCheck
from overcast.storage.checks import b64_to_hex
from overcast.storage.checks import checksum_b64
from overcast.storage.checks import crc32c_function
from overcast.storage.checks import pick_checksum
from overcast.storage.http import StorageApi
from overcast.storage.http import iso_date
from overcast.storage.transfer import PartPlan
from overcast.storage.transfer import Ranged
from overcast.storage.transfer import Span

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
#: A chunk answered with 308 but no progress this many times in a row is an error.
MAX_STALLED_CHUNKS: Final = 3
#: Google's limit on a V4 signed URL's lifetime: 7 days.
SIGNED_URL_MAX_EXPIRES: Final = 7 * 24 * 3600
_BUCKET_CHARS: Final = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?\Z")
_RANGE: Final = re.compile(r"bytes=(\d+)-(\d+)\Z")
#: Whatever the answer: a request whose failure is not the error to report.
_ANY_STATUS: Final = range(100, 600)

def _parse_goog_hash(headers: Mapping[str, str]) -> dict[str, str]:
    """``{"crc32c": ..., "md5": ...}`` from ``X-Goog-Hash`` (base64 values)."""
    found: dict[str, str] = {}
    for item in (headers.get("X-Goog-Hash") or "").split(","):
        key, sep, value = item.strip().partition("=")
        if sep and key and value:
            found[key.strip().lower()] = value.strip()
    return found


class GoogleStorageDriver(StorageApi, StorageDriver):
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
    label: ClassVar[str] = "Cloud Storage"
    #: Google's id of an answer, which its support asks for.
    request_id_headers: ClassVar[tuple[str, ...]] = ("X-GUploader-UploadID",)
    errors: ClassVar[ErrorMap] = ErrorMap(
        # A bucket that still holds objects: Google says 409, emulators 412.
        When(ContainerIsNotEmpty, status=(409, 412), says="empty"),
        When(ContainerNotFound, status=404, says="bucket does not exist"),
        When(AlreadyExists, status=409),
    )
    extra_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 project: str | None = None, *,
                 credentials_file: str | os.PathLike[str] | None = None,
                 credentials_info: Mapping[str, Any] | None = None, anonymous: bool = False,
                 endpoint: str = DEFAULT_ENDPOINT, token_uri: str | None = None,
                 part_plan: PartPlan = DEFAULT_PART_PLAN, page_size: int = 1000,
                 **options: Any) -> None:
        super().__init__(**options)
        if project is not None and (not isinstance(project, str) or not project):
            raise InvalidInput("project must be a non-empty string", driver=self)
        self.page_size = check_page_size(page_size, maximum=1000, driver=self)
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
        self.project = project
        self.endpoint = check_endpoint(endpoint, driver=self)
        self.part_plan = part_plan
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
                metadata=gce_metadata(self),
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

    def _transmit(self, request: Request) -> Op[Response]:
        """Send with the bearer token; a 401 drops it and the request is sent once
        more with a fresh one."""
        tokens = self._google.tokens if self._google is not None else None
        return (yield from send_with_bearer(self._token, tokens, request))

    def _fault(self, resp: Response) -> Fault:
        """Google's JSON error; its code is the first error's ``reason``."""
        fault = json_fault(resp, self.request_id_headers)
        reason = next((code for code in sorted(fault.codes) if not code.isdigit()), None)
        return Fault(fault.status, reason, fault.message, fault.request_id, fault.codes)

    def _api_path(self, *segments: str) -> str:
        path = "/".join(quote(s, safe="") for s in segments)
        return f"{self.endpoint}/storage/v1/{path}"

    def _object_url(self, bucket: str, name: str, *more: str) -> str:
        return self._api_path("b", bucket, "o", name, *more)

    def _upload_url(self, bucket: str) -> str:
        return f"{self.endpoint}/upload/storage/v1/b/{quote(bucket, safe='')}/o"

    # -- names -------------------------------------------------------------------------

    def _check_container(self, name: object) -> str:
        """Cloud Storage's bucket naming rules, checked before any request."""
        name = super()._check_container(name)
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

    def _check_object(self, name: object) -> str:
        """The shared rules, no CR or LF, and not in ACME's reserved folder."""
        name = super()._check_object(name)
        if "\r" in name or "\n" in name:
            raise InvalidInput(f"invalid object name: {name!r}", driver=self)
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
            hash=b64_to_hex(md5 if isinstance(md5, str) else None) or data.get("etag"),
            extra=extra,
            meta_data={str(k): str(v) for k, v in metadata.items()}
            if isinstance(metadata, dict) else {},
            container=Container(name=bucket, driver=self),
            driver=self,
            content_type=data.get("contentType"),
            last_modified=iso_date(data.get("updated")),
        )

    # -- containers ----------------------------------------------------------------------

    @iterator
    def iterate_containers(self) -> Iter[Container]:
        """Every bucket of the project, page by page (``pageToken``)."""
        project = yield from self._project()

        def fetch(token: Cursor | None) -> Op[Page[Container]]:
            params = {"project": project, "maxResults": str(self.page_size)}
            if token:
                params["pageToken"] = str(token)
            data = yield from self._json("GET", self._api_path("b"), params=params)
            items = [self._to_container(item) for item in (data or {}).get("items") or []]
            return Page.token(items, (data or {}).get("nextPageToken"))

        yield from paginate(fetch, what="bucket listing", driver=self)

    @operation
    def get_container(self, container_name: str) -> Op[Container]:
        """The bucket ``container_name``."""
        name = self._check_container(container_name)
        data = yield from self._json("GET", self._api_path("b", name), what=name,
                                     missing=ContainerNotFound)
        return self._to_container(data)

    @operation
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a bucket in the project (default location and storage class); if
        the answer is lost, the bucket is looked up before the create is sent
        again."""
        name = self._check_container(container_name)
        project = yield from self._project()

        def send() -> Op[Container]:
            data = yield from self._json("POST", self._api_path("b"), params={"project": project},
                                         json={"name": name}, idempotent=False, what=name,
                                         exists=ContainerAlreadyExists)
            return self._to_container(data)

        return (yield from create_once(
            send, lambda: or_none(self.get_container.op(name), ContainerNotFound)
        ))

    @operation
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty bucket."""
        name = self._check_container(container_name(container))
        try:
            yield from self._send("DELETE", self._api_path("b", name), what=name,
                                  missing=ContainerNotFound)
        except AlreadyExists:  # a conflict on delete: the bucket still holds objects
            raise ContainerIsNotEmpty(f"bucket {name!r} is not empty", driver=self) from None
        return True

    # -- listing -------------------------------------------------------------------------

    def _listing(
        self, bucket: str, prefix: str, delimiter: str | None
    ) -> Iter[Object | Prefix]:
        """Objects in name order, page by page (``pageToken``); with a delimiter,
        the common prefixes merged in among them across pages (some servers send
        every prefix with the first page)."""
        query: dict[str, str] = {"maxResults": str(self.page_size)}
        if prefix:
            query["prefix"] = prefix
        if delimiter:
            query["delimiter"] = delimiter
        ref = Container(name=bucket, driver=self)
        seen: set[str] = set()
        pending: list[str] = []  # prefixes not yet emitted, sorted

        def fetch(token: Cursor | None) -> Op[Page[Object | Prefix]]:
            nonlocal pending
            params = {**query, "pageToken": str(token)} if token else query
            page = yield from self._json("GET", self._api_path("b", bucket, "o"), params=params,
                                         what=bucket, missing=ContainerNotFound)
            if not isinstance(page, dict):
                raise ProviderError("an object listing is not a JSON object", driver=self)
            fresh = [p for p in page.get("prefixes") or []
                     if isinstance(p, str) and p not in seen]
            seen.update(fresh)
            pending = sorted([*pending, *fresh])
            entries: list[Object | Prefix] = []
            for item in page.get("items") or []:
                obj = self._to_object(item, bucket)
                while pending and pending[0] < obj.name:
                    entries.append(Prefix(pending.pop(0), ref))
                entries.append(obj)
            following = page.get("nextPageToken")
            if not following:
                entries.extend(Prefix(name, ref) for name in pending)
            return Page.token(entries, following)

        yield from paginate(fetch, what=f"listing of bucket {bucket!r}", driver=self)

    # -- objects ---------------------------------------------------------------------------

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """An object's metadata: size, MD5 and CRC32C, content type, user metadata."""
        bucket = self._check_container(container_name)
        name = self._check_object(object_name)
        data = yield from self._json("GET", self._object_url(bucket, name),
                                     what=f"{bucket}/{name}", missing=ObjectNotFound)
        return self._to_object(data, bucket)

    @operation
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete an object (its live generation)."""
        bucket = self._check_container(obj.container_name)
        name = self._check_object(obj.name)
        yield from self._send("DELETE", self._object_url(bucket, name),
                              what=f"{bucket}/{name}", missing=ObjectNotFound)
        return True

    @operation
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy server-side (``rewrite``, repeated until done), with content type
        and metadata."""
        source_bucket = self._check_container(obj.container_name)
        source = self._check_object(obj.name)
        bucket = self._check_container(container_name(target_container))
        name = self._check_object(target_name or obj.name)
        url = self._object_url(source_bucket, source, "rewriteTo", "b", bucket, "o", name)
        token: str | None = None
        while True:  # one rewrite call per step of a large copy
            params = {"rewriteToken": token} if token else {}
            data = yield from self._json("POST", url, params=params, json={},
                                         idempotent=True, what=f"{source_bucket}/{source}",
                                         missing=ObjectNotFound)
            if data.get("done") and isinstance(data.get("resource"), dict):
                return self._to_object(data["resource"], bucket)
            token = data.get("rewriteToken")
            if not token:
                raise ProviderError("rewrite answered neither done nor a rewriteToken",
                                    driver=self)

    # -- uploads -----------------------------------------------------------------------------

    def _part_target(self, container: str, name: str, attributes: Attributes, *,
                     verify: bool) -> _Upload:
        """One request up to ``part_plan.threshold``, else a resumable upload in
        chunks; ``verify=False`` skips comparing the object's hashes with the
        data sent."""
        return _Upload(self, container, name, attributes, verify=verify)

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
        bucket = self._check_container(obj.container_name)
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

    def _read_range(self, obj: Object, span: Span) -> Op[Ranged]:
        """``alt=media``, with ``Range`` for a partial read. A full read is checked
        against the CRC32C and MD5 of ``X-Goog-Hash`` (the hashes of the
        generation sent), or the object's own when the answer is of the
        generation it describes."""
        headers = {} if span.full else {"Range": span.header}
        resp = yield from self._send(
            "GET", self._object_url(span.container, span.name), params={"alt": "media"},
            headers=headers, stream=True, ok=(416,), what=span.what, missing=ObjectNotFound,
        )
        # A body decoded on the way (gzip) is longer than its Content-Length.
        encoded = "Content-Encoding" in resp.headers
        checks: list[ChunkObserver] = []
        stored = (resp.headers.get("X-Goog-Stored-Content-Encoding") or "identity").lower()
        if span.full and stored in ("", "identity") and not encoded:
            hashes = _parse_goog_hash(resp.headers)
            generation = resp.headers.get("X-Goog-Generation")
            if not hashes and generation and generation == str(obj.extra.get("generation")):
                hashes = {
                    k: str(v) for k, v in (("crc32c", obj.extra.get("crc32c")),
                                           ("md5", obj.extra.get("md5_hash"))) if v
                }
            checksum = pick_checksum(hashes)  # CRC32C when it can be computed, else MD5
            if checksum is not None:
                checks.append(ChecksumCheck(*checksum, span.name, driver=self))
        return self._ranged(resp, span, checks, counted=not encoded)


# -- the resumable upload ------------------------------------------------------------------


class _Upload(ObjectUpload[GoogleStorageDriver]):
    """The :class:`~overcast.storage.transfer.PartTarget` of one object upload.

    ``upload_id`` is the resumable session's URI. Chunks come in order (the plan
    is sequential), so the running MD5 and CRC32C cover the object.
    """

    def __init__(self, driver: GoogleStorageDriver, bucket: str, name: str, attributes: Attributes,
                 *, verify: bool) -> None:
        super().__init__(driver, bucket, name, attributes)
        self.verify = verify
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.crc = 0
        self.offset = 0
        self.result: Object | None = None
        self.what = f"{bucket}/{name}"

    def _metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "contentType": self.attributes.content_type}
        if self.attributes.meta_data:
            meta["metadata"] = dict(self.attributes.meta_data)
        return meta

    def _hash(self, data: PartData) -> None:
        self.md5.update(data)
        if (extend := crc32c_function()) is not None:
            self.crc = extend(self.crc, data)

    def _hashes(self) -> tuple[str, str | None]:
        md5 = base64.b64encode(self.md5.digest()).decode("ascii")
        return md5, (checksum_b64("crc32c", self.crc) if crc32c_function() is not None else None)

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
        # The mismatch is the error to report, whatever the delete answers.
        yield from driver._send("DELETE", driver._object_url(self.container, self.name),
                                params=params, ok=_ANY_STATUS)
        raise IntegrityError(
            f"{self.name}: the stored object does not match the data sent "
            f"({'; '.join(wrong)}); it was deleted",
            driver=driver,
        )

    def put_whole(self, data: PartData) -> Op[Object]:
        """One ``uploadType=multipart`` request: metadata and data."""
        driver = self.driver
        body, boundary = yield Call(self._whole_body, data)
        headers = {**self.attributes.headers,
                   "Content-Type": f"multipart/related; boundary={boundary}"}
        made = yield from driver._json(
            "POST", driver._upload_url(self.container), params={"uploadType": "multipart"},
            headers=headers, body=body, idempotent=True, what=self.what,
            missing=ContainerNotFound,
        )
        self.offset = len(data)
        return (yield from self._check(driver._to_object(made, self.container)))

    def begin(self) -> Op[str]:
        """Open a resumable session; its URI is the upload id."""
        driver = self.driver
        resp = yield from driver._send(
            "POST", driver._upload_url(self.container), params={"uploadType": "resumable"},
            headers={**self.attributes.headers,
                     "X-Upload-Content-Type": self.attributes.content_type},
            json=self._metadata(), idempotent=True,  # an unused session is harmless
            what=self.what, missing=ContainerNotFound,
        )
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
        while True:  # until the server holds the whole chunk
            span = f"{sent}-{end - 1}" if sent < end else "*"
            resp = yield from driver._send(
                "PUT", upload_id,
                headers={"Content-Range": f"bytes {span}/{total}",
                         "Content-Type": self.attributes.content_type},
                body=data if sent == start else data[sent - start:], ok=(308,),
                what=self.what,
            )
            if resp.status == 308:  # "resume incomplete": the Range says what it kept
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
            if not last:
                raise ProviderError(
                    f"resumable upload of {self.name!r} finished before its last chunk",
                    status=resp.status, driver=driver,
                )
            self.result = driver._to_object(resp.json(), self.container)
            break
        self.offset = end
        return str(end)

    def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[Object]:
        """The object the last chunk made (or finalise the session if the data
        ended exactly at a chunk boundary), checked against the data sent."""
        driver = self.driver
        if self.result is None:
            made = yield from driver._json(
                "PUT", upload_id, headers={"Content-Range": f"bytes */{self.offset}"}, body=b"",
                what=self.what,
            )
            self.result = driver._to_object(made, self.container)
        return (yield from self._check(self.result))

    def abort(self, upload_id: str) -> Op[None]:
        """Cancel the session (``DELETE``; Google answers 499): nothing is kept."""
        yield from self.driver._send("DELETE", upload_id, ok=(404, 410, 499))


def _persisted(value: str | None) -> int:
    """Bytes the server kept, from a 308's ``Range: bytes=0-N`` (none: 0)."""
    match = _RANGE.match((value or "").strip())
    return int(match.group(2)) + 1 if match else 0


# -- V4 signed URLs ---------------------------------------------------------------------------


def signed_url_v4(account: ServiceAccount, method: str, endpoint: str, bucket: str, name: str,
                  expires: int, now: float) -> str:
    """A ``GOOG4-RSA-SHA256`` signed URL for ``/{bucket}/{name}`` (path style) at
    ``now`` (pure given ``now``; costs an RSA signature: run it as a ``Call``).

    Canonical request: method, resource, sorted query, ``host`` as the only
    signed header, ``UNSIGNED-PAYLOAD``; the string to sign names the credential
    scope ``{date}/auto/storage/goog4_request``.
    """
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
    signature = rsa_sign(account, to_sign.encode("utf-8"), what="signing a URL")
    return f"{endpoint}{resource}?{canonical_query}&X-Goog-Signature={signature.hex()}"
