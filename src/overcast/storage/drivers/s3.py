"""Amazon S3 and every S3-compatible store (SeaweedFS, Ceph RGW, MinIO, R2, Wasabi,
DigitalOcean Spaces, Backblaze B2, ...), over the REST/XML API with Signature V4.

How the API maps onto overcast's model:

* A container is a bucket, an object a key. ``endpoint=`` (``scheme://host:port``)
  points the driver at an S3-compatible server; requests then use path-style
  addressing (``http://host:port/bucket/key``) unless ``path_style=False``. On
  AWS (no endpoint) requests are virtual-hosted
  (``https://bucket.s3.REGION.amazonaws.com/key``), except for bucket names that
  cannot be a DNS label under TLS (dots, capitals, underscores), which go
  path-style.
* Requests are signed with :mod:`overcast.auth.aws_sigv4` on every attempt
  (fresh date, fresh signature). Small bodies carry their SHA-256 in the
  signature; large ones (parts) are sent ``UNSIGNED-PAYLOAD``. Every upload
  request carries a checksum the server checks: ``x-amz-checksum-crc32`` by
  default (``upload_checksum="crc32"``: S3's flexible checksums, what the AWS
  SDKs send; it costs a fraction of an MD5 and stays stored with single-request
  objects, so later reads are checked against it), or ``Content-MD5``
  (``upload_checksum="md5"``) for stores that ignore flexible checksums.
  Large ones are computed off the event loop (a
  :class:`~overcast.runtime.effects.Call`).
* Uploads go through :func:`overcast.storage.transfer.upload_in_parts`: one
  ``PutObject`` up to ``part_plan.threshold`` bytes, else ``CreateMultipartUpload``,
  ``UploadPart`` (``part_plan.concurrency`` at a time) and
  ``CompleteMultipartUpload``. A failed or cancelled upload runs
  ``AbortMultipartUpload``, so no parts stay staged. If the outcome of the
  complete request is unknown (the connection dropped), the driver reads the
  object back and accepts it only if its ETag is the one these exact parts
  produce.
* Full downloads are checked against the size the server sends and, when the
  ETag is a plain MD5 (single-request uploads, not encrypted with KMS or a
  customer key), against that MD5. Objects uploaded in parts have an ETag of
  the form ``<md5 of the part md5s>-N``, which says nothing about the bytes
  as a whole: those reads are checked for size only.
* Listings use ListObjectsV2 with ``encoding-type=url`` (so every key survives
  XML), ``page_size`` keys per request, following continuation tokens;
  ``iterate_container_entries`` adds a delimiter and returns the common
  prefixes as :class:`~overcast.storage.base.Prefix` entries, merged in name
  order. Listed objects carry no content type or user metadata (S3 does not
  list them); :meth:`S3StorageDriver.get_object` does.
* ``delete_object`` reads the object's metadata first, because S3 answers 204
  to a DELETE of a missing key; a missing object raises
  :class:`~overcast.errors.ObjectNotFound`.
* ``create_container`` asks whether the bucket exists first (in ``us-east-1``
  AWS answers 200 when you re-create a bucket you own) and sends the create
  as a non-idempotent request: if its outcome is unknown the bucket is looked
  up before trying again (:func:`~overcast.runtime.ops.create_once`).
* Throttling: ``503 SlowDown`` is retried by the runtime for idempotent
  requests, and the driver's ``_is_throttled`` hook marks it as throttling so
  that even a POST (complete, batch delete) is retried, since a throttled
  request was not processed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import IO, Any, ClassVar, Final, cast
from urllib.parse import quote, unquote_plus, urlsplit
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from overcast.auth.aws_sigv4 import AwsCredentials, presign_url, sign_request
from overcast.errors import (
    ContainerAlreadyExists,
    ContainerIsNotEmpty,
    ContainerNotFound,
    IntegrityError,
    InvalidCredentials,
    InvalidInput,
    ObjectNotFound,
    OutcomeUnknown,
    OvercastError,
    ProviderError,
    RateLimited,
)
from overcast.runtime.effects import (
    Call,
    Emit,
    Guarded,
    Iter,
    Op,
    Parallel,
    PartData,
    Request,
    Response,
)
from overcast.runtime.operation import aio, iterator, operation, stream
from overcast.runtime.ops import create_once
from overcast.runtime.redact import Secret, redact_text
from overcast.runtime.streams import (
    ByteStream,
    ChunkObserver,
    FileStream,
    IterStream,
    as_stream,
    checked_body,
)
from overcast.storage.base import (
    Container,
    ContainerRef,
    Object,
    Prefix,
    Progress,
    StorageDriver,
    StorageDriverAsync,
    container_name,
)
from overcast.storage.transfer import (
    CHEAPEST_FIRST,
    ChecksumCheck,
    HashCheck,
    PartPlan,
    ProgressReport,
    SizeCheck,
    can_compute,
    check_range,
    checksum_b64,
    crc32_function,
    download_in_ranges,
    upload_in_parts,
)
from overcast.storage.transfer import guess_type as _guess_type
from overcast.storage.transfer import readable_file_size as _file_size
from overcast.xml import child as _child
from overcast.xml import children as _children
from overcast.xml import local as _local
from overcast.xml import parse as _parse_xml
from overcast.xml import text as _text

__all__ = ["DEFAULT_PART_PLAN", "S3StorageDriver", "S3StorageDriverAsync"]

MiB: Final = 1024 * 1024
GiB: Final = 1024 * MiB
#: 16 MiB threshold, 8 MiB parts, 4 parts in flight (about 32 MiB of memory).
DEFAULT_PART_PLAN: Final = PartPlan(threshold=16 * MiB, part_size=8 * MiB, concurrency=4)
#: Reads of at most this many bytes (of an object of known size) are fetched whole.
SMALL_READ: Final = 1 * MiB
#: S3's smallest part (every part but the last), largest part and part count.
MIN_PART_SIZE: Final = 5 * MiB
MAX_PART_SIZE: Final = 5 * GiB
MAX_PARTS: Final = 10_000
#: Largest object one CopyObject can copy; larger ones are copied in parts.
MAX_COPY_SIZE: Final = 5 * GiB
COPY_PART_SIZE: Final = 512 * MiB
#: Most keys one ListObjectsV2 page and one DeleteObjects request may hold.
MAX_PAGE_SIZE: Final = 1000
MAX_DELETE_BATCH: Final = 1000
MAX_KEY_BYTES: Final = 1024
#: S3's limit on user metadata: keys plus values, in UTF-8 bytes.
MAX_METADATA_BYTES: Final = 2048
#: Buffers up to this size are hashed inline; larger ones in a worker thread.
INLINE_DIGEST_LIMIT: Final = 64 * 1024
#: XML bodies up to this size are parsed inline; larger ones in a worker thread.
INLINE_PARSE_LIMIT: Final = 64 * 1024
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"
AWS_ENDPOINT: Final = "https://s3.{region}.amazonaws.com"
S3_XMLNS: Final = "http://s3.amazonaws.com/doc/2006-03-01/"

THROTTLING_CODES: Final = frozenset({"SlowDown", "RequestLimitExceeded", "Throttling"})
#: Codes that may mean the bucket lives in another region than the one signed for.
REGION_CODES: Final = frozenset(
    {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)
CREDENTIAL_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "InvalidSecurity",
        "MissingSecurityHeader",
        "AccountProblem",
        "NotSignedUp",
    }
)
INPUT_CODES: Final = frozenset(
    {
        "InvalidArgument",
        "InvalidBucketName",
        "KeyTooLongError",
        "MetadataTooLarge",
        "EntityTooSmall",
        "EntityTooLarge",
        "InvalidRange",
        "InvalidPart",
        "InvalidPartOrder",
        "InvalidStorageClass",
        "InvalidLocationConstraint",
        "IllegalLocationConstraintException",
        "InvalidDigest",
        "MalformedXML",
        "InvalidRequest",
    }
)

#: An empty, "." or ".." path segment in an object name.
_BAD_SEGMENT: Final = re.compile(r"(?:\A|/)\.{0,2}(?:/|\Z)")
_BUCKET_NAME: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_LEGACY_BUCKET_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,255}\Z")
_LABEL: Final = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_BUCKET: Final = re.compile(rf"{_LABEL}(\.{_LABEL})*\Z")
_IP_ADDRESS: Final = re.compile(r"\d+\.\d+\.\d+\.\d+\Z")
_META_KEY: Final = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+\Z")
_PLAIN_MD5: Final = re.compile(r"[0-9a-fA-F]{32}\Z")
#: Keys made only of these characters are the same percent-encoded.
_PATH_SAFE: Final = re.compile(r"[A-Za-z0-9_.~/-]*\Z")
# XML 1.0 cannot carry these characters, even escaped.
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# -- XML helpers (local names, so the namespace string never matters) --------------------


def _xml(body: bytes) -> Op[Element | None]:
    """Parse an XML body: inline when small, in a worker thread when large."""
    if len(body) <= INLINE_PARSE_LIMIT:
        yield from ()
        return _parse_xml(body)
    root: Element | None = yield Call(_parse_xml, body)
    return root


def _tag(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


# -- small pure helpers -------------------------------------------------------------------


def _content_md5(data: PartData) -> str:
    """The base64 MD5 of ``data`` (a ``Content-MD5`` header value)."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def _md5_header(data: PartData) -> Op[str]:
    """``Content-MD5`` for ``data``, hashed off the event loop when large."""
    if len(data) <= INLINE_DIGEST_LIMIT:
        yield from ()
        return _content_md5(data)
    value: str = yield Call(_content_md5, data)
    return value


_CRC32: Final = crc32_function()


def _crc32_b64(data: PartData) -> str:
    """The base64 CRC32 of ``data`` (an ``x-amz-checksum-crc32`` value)."""
    return checksum_b64("crc32", _CRC32(0, data))


def _checksum_header(data: PartData, algorithm: str) -> Op[tuple[str, str]]:
    """The header S3 checks an upload's body against: ``x-amz-checksum-crc32`` or
    ``Content-MD5``; computed off the event loop when the body is large."""
    if algorithm == "md5":
        md5 = yield from _md5_header(data)
        return "Content-MD5", md5
    if len(data) <= INLINE_DIGEST_LIMIT:
        return "x-amz-checksum-crc32", _crc32_b64(data)
    value: str = yield Call(_crc32_b64, data)
    return "x-amz-checksum-crc32", value


def _strip_etag(etag: str | None) -> str | None:
    if etag is None:
        return None
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def _full_object_checksum(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The cheapest checksum of the whole object a GetObject answer carries
    (``x-amz-checksum-*``, sent when asked with ``x-amz-checksum-mode``), or
    ``None``. A composite checksum (of an upload in parts: ``...-N``) says nothing
    about the bytes as a whole."""
    kind = headers.get("x-amz-checksum-type")
    if kind is not None and kind.upper() == "COMPOSITE":
        return None
    for algorithm, header in _CHECKSUM_HEADERS:
        value = headers.get(header)
        if value and "-" not in value:
            return algorithm, value
    return None


#: S3's full-object checksums this machine can compute, cheapest first.
_CHECKSUM_HEADERS: Final = tuple(
    (algorithm, f"x-amz-checksum-{algorithm}")
    for algorithm in CHEAPEST_FIRST
    if algorithm in ("crc32c", "crc32", "sha1", "sha256") and can_compute(algorithm)
)


def _quote_path(key: str) -> str:
    """``key`` percent-encoded for a URL path (``/`` kept); most keys need nothing."""
    return key if _PATH_SAFE.match(key) else quote(key, safe="/")


def _encrypted_with_a_key(headers: Mapping[str, str]) -> bool:
    """Whether the object is encrypted with KMS or a customer key: its ETag is then
    not the MD5 of its bytes."""
    return headers.get("x-amz-server-side-encryption", "").lower() == "aws:kms" or (
        "x-amz-server-side-encryption-customer-algorithm" in headers
    )


def _multipart_etag(parts: Sequence[tuple[int, str]]) -> str | None:
    """The ETag S3 gives an object assembled from ``parts`` (their MD5 ETags):
    the MD5 of the concatenated binary part digests, then ``-N``."""
    digests = []
    for _, etag in parts:
        bare = _strip_etag(etag) or ""
        if not _PLAIN_MD5.match(bare):
            return None
        digests.append(bytes.fromhex(bare))
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(parts)}"


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _iso_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _is_printable_ascii(text: str) -> bool:
    return all(" " <= c <= "~" for c in text)


class _Attributes:
    """Content type, user metadata and extra headers of an object being written."""

    __slots__ = ("content_type", "headers", "meta_data")

    def __init__(
        self, content_type: str, meta_data: dict[str, str], headers: dict[str, str]
    ) -> None:
        self.content_type = content_type
        self.meta_data = meta_data
        self.headers = headers

    def request_headers(self) -> dict[str, str]:
        """The headers that give an object these attributes."""
        headers = dict(self.headers)
        headers["Content-Type"] = self.content_type
        for key, value in self.meta_data.items():
            headers[f"x-amz-meta-{key}"] = value
        return headers


# -- the upload target --------------------------------------------------------------------


class _Upload:
    """One object being written: the :class:`~overcast.storage.transfer.PartTarget`
    that :func:`~overcast.storage.transfer.upload_in_parts` drives."""

    def __init__(
        self, driver: S3StorageDriver, bucket: str, key: str, attributes: _Attributes
    ) -> None:
        self.driver = driver
        self.bucket = bucket
        self.key = key
        self.attributes = attributes
        self.sizes: dict[int, int] = {}
        self.crcs: dict[int, str] = {}  # part number: its CRC32, for the complete request

    def put_whole(self, data: PartData) -> Op[Object]:
        """PutObject, with the upload checksum (CRC32 or ``Content-MD5``)."""
        headers = self.attributes.request_headers()
        name, value = yield from _checksum_header(data, self.driver.upload_checksum)
        headers[name] = value
        resp = yield from self.driver._send("PUT", self.bucket, self.key, headers=headers,
                                            body=data)
        if not resp.ok:
            raise self.driver._error(resp, self.bucket, self.key)
        return self.driver._written(
            self.bucket, self.key, len(data), resp.headers.get("ETag"), self.attributes,
            resp.headers,
        )

    def begin(self) -> Op[str]:
        """CreateMultipartUpload; the upload id.

        Sent as idempotent: if an answer is lost and the request is sent again, the
        first upload holds no parts (nothing was uploaded to it)."""
        headers = self.attributes.request_headers()
        if self.driver.upload_checksum == "crc32":
            headers["x-amz-checksum-algorithm"] = "CRC32"  # parts carry theirs
        resp = yield from self.driver._send(
            "POST", self.bucket, self.key, params=[("uploads", "")],
            headers=headers, idempotent=True,
        )
        if not resp.ok:
            raise self.driver._error(resp, self.bucket, self.key)
        root = yield from self.driver._xml_of(resp)
        upload_id = _text(root, "UploadId")
        if not upload_id:
            raise ProviderError("CreateMultipartUpload answer has no UploadId",
                                status=resp.status, driver=self.driver)
        return upload_id

    def put_part(self, upload_id: str, number: int, data: PartData, last: bool) -> Op[str]:
        """UploadPart, with the upload checksum; the part's ETag."""
        if number > MAX_PARTS:
            raise InvalidInput(f"an S3 upload has at most {MAX_PARTS} parts", driver=self.driver)
        name, value = yield from _checksum_header(data, self.driver.upload_checksum)
        resp = yield from self.driver._send(
            "PUT", self.bucket, self.key,
            params=[("partNumber", str(number)), ("uploadId", upload_id)],
            headers={name: value}, body=data,
        )
        if not resp.ok:
            raise self.driver._error(resp, self.bucket, self.key)
        etag = resp.headers.get("ETag")
        if not etag:
            raise ProviderError(f"UploadPart {number} answer has no ETag", status=resp.status,
                                driver=self.driver)
        self.sizes[number] = len(data)
        if name != "Content-MD5":
            self.crcs[number] = value
        return etag

    def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[Object]:
        """CompleteMultipartUpload (reconciled by ETag if its outcome is unknown)."""
        body = "".join(
            f"<Part>{_tag('PartNumber', str(n))}{_tag('ETag', etag)}"
            f"{_tag('ChecksumCRC32', self.crcs[n]) if n in self.crcs else ''}</Part>"
            for n, etag in parts
        )
        xml = f'<CompleteMultipartUpload xmlns="{S3_XMLNS}">{body}</CompleteMultipartUpload>'
        size = sum(self.sizes.get(n, 0) for n, _ in parts)
        try:
            resp = yield from self.driver._send(
                "POST", self.bucket, self.key, params=[("uploadId", upload_id)],
                headers={"Content-Type": "application/xml"}, body=xml.encode("utf-8"),
            )
        except OutcomeUnknown:
            expected = _multipart_etag(parts)
            found = yield from self.driver._head_object(self.bucket, self.key, missing_ok=True)
            if expected is not None and found is not None and found.hash == expected:
                return found
            raise
        if not resp.ok:
            raise self.driver._error(resp, self.bucket, self.key)
        # S3 may answer 200 and then report an error in the body.
        root = yield from self.driver._xml_of(resp)
        if _local(root.tag) == "Error":
            raise self.driver._error_from(resp, root, self.bucket, self.key)
        return self.driver._written(
            self.bucket, self.key, size, _text(root, "ETag"), self.attributes, resp.headers
        )

    def abort(self, upload_id: str) -> Op[None]:
        """AbortMultipartUpload: S3 drops every part staged for this upload."""
        resp = yield from self.driver._send(
            "DELETE", self.bucket, self.key, params=[("uploadId", upload_id)]
        )
        if not resp.ok and resp.status != 404:
            raise self.driver._error(resp, self.bucket, self.key)


# -- the driver -----------------------------------------------------------------------


class S3StorageDriver(StorageDriver):
    """Amazon S3 or an S3-compatible store.

    ``key``, ``secret`` and ``token`` are the access key id, secret access key and
    optional session token; without them credentials come from the environment
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) or the
    shared credentials file (``profile``, else ``AWS_PROFILE``, else ``default``).
    ``region`` is the signing region (and, on AWS, where buckets are created).
    ``endpoint`` (``scheme://host:port``) points at an S3-compatible server;
    ``path_style`` forces path-style (True) or virtual-hosted (False) addressing.
    ``part_plan`` says when and how uploads go up in parts; ``page_size`` (1 to
    1000) how many keys a listing request asks for. ``upload_checksum`` is what
    every upload request carries for the server to check: ``"crc32"`` (S3's
    ``x-amz-checksum-crc32``, the default) or ``"md5"`` (``Content-MD5``, for
    S3-compatible stores that ignore flexible checksums). ``**options`` are the runtime
    options (``timeout``, ``retry``, ``hooks``, ...). No request is made here.

    >>> s3 = S3StorageDriver("AKIA...", "secret", region="eu-west-1")  # doctest: +SKIP
    >>> ceph = S3StorageDriver("key", "secret", endpoint="http://127.0.0.1:9000")  # doctest: +SKIP
    """

    name: ClassVar[str] = "s3"
    aio: S3StorageDriverAsync

    def __init__(
        self,
        key: str | None = None,
        secret: str | Secret | None = None,
        token: str | Secret | None = None,
        *,
        region: str = "us-east-1",
        endpoint: str | None = None,
        path_style: bool | None = None,
        profile: str | None = None,
        part_plan: PartPlan = DEFAULT_PART_PLAN,
        page_size: int = MAX_PAGE_SIZE,
        upload_checksum: str = "crc32",
        **options: Any,
    ) -> None:
        if upload_checksum not in ("crc32", "md5"):
            raise InvalidInput(
                f"upload_checksum must be 'crc32' or 'md5': {upload_checksum!r}", driver=self
            )
        if not isinstance(region, str) or not re.fullmatch(r"[a-z0-9-]{1,64}", region):
            raise InvalidInput(f"invalid region: {region!r}", driver=self)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not (
            1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise InvalidInput(
                f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}: {page_size!r}",
                driver=self,
            )
        if not isinstance(part_plan, PartPlan):
            raise InvalidInput("part_plan must be a PartPlan", driver=self)
        if part_plan.max_parts > MAX_PARTS or part_plan.max_part_size > MAX_PART_SIZE:
            raise InvalidInput(
                f"S3 allows at most {MAX_PARTS} parts of at most 5 GiB", driver=self
            )
        if endpoint is None and part_plan.part_size < MIN_PART_SIZE:
            raise InvalidInput("S3 parts must be at least 5 MiB", driver=self)
        if endpoint is None:
            base = AWS_ENDPOINT.format(region=region)
        else:
            base = str(endpoint).rstrip("/")
            parts = urlsplit(base)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
                raise InvalidInput(
                    f"endpoint must be an http(s) URL such as http://127.0.0.1:9000: {base!r}",
                    driver=self,
                )
        self._credentials = AwsCredentials.resolve(key, secret, token, profile=profile)
        self.region = region
        self.endpoint = base
        self.path_style = endpoint is not None if path_style is None else bool(path_style)
        self.part_plan = part_plan
        self.page_size = page_size
        self.upload_checksum = upload_checksum
        split = urlsplit(base)
        self._scheme = split.scheme
        self._netloc = split.netloc
        self._base_path = split.path.rstrip("/")
        self._valid_buckets: set[str] = set()
        super().__init__(**options)

    # -- runtime hooks ---------------------------------------------------------------

    def _sign(self, request: Request, now: float) -> Request:
        """Sign one attempt with AWS Signature V4 (service ``s3``)."""
        return sign_request(request, self._credentials, self.region, "s3", now)

    def _is_throttled(self, response: Response) -> bool:
        """``503 SlowDown`` (and the other throttling codes) mean the request was
        not processed: the runtime retries it whatever its method."""
        if response.status not in (400, 429, 503):
            return False
        code, _message, _rid = self._error_fields(response, _parse_xml(response.body))
        return code in THROTTLING_CODES

    def _secrets(self) -> tuple[Secret, ...]:
        creds = self._credentials
        found = [creds.secret_key]
        if creds.session_token is not None:
            found.append(creds.session_token)
        return tuple(found)

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "region": self.region}

    # -- names -------------------------------------------------------------------------

    def _check_bucket(self, name: object, *, create: bool = False) -> str:
        """A valid bucket name (S3's rules for a new bucket; legacy names are
        accepted for existing ones), else :class:`InvalidInput`."""
        if not create and isinstance(name, str) and name in self._valid_buckets:
            return name
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"bucket name must be a non-empty string: {name!r}", driver=self)
        if create:
            if (
                not _BUCKET_NAME.match(name)
                or ".." in name
                or ".-" in name
                or "-." in name
                or _IP_ADDRESS.match(name)
                or name.startswith(("xn--", "sthree-"))
                or name.endswith(("-s3alias", "--ol-s3"))
            ):
                raise InvalidInput(
                    f"invalid bucket name {name!r}: 3 to 63 lower-case letters, digits, dots "
                    "and hyphens, starting and ending with a letter or digit",
                    driver=self,
                )
        elif not _LEGACY_BUCKET_NAME.match(name) or name in (".", ".."):
            raise InvalidInput(f"invalid bucket name: {name!r}", driver=self)
        if len(self._valid_buckets) < 1024:  # names checked once, not per request
            self._valid_buckets.add(name)
        return name

    def _check_key(self, name: object) -> str:
        """A valid object name, else :class:`InvalidInput` (before any request)."""
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"object name must be a non-empty string: {name!r}", driver=self)
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"object name is not valid UTF-8: {name!r}", driver=self) from None
        if "\x00" in name or len(encoded) > MAX_KEY_BYTES:
            raise InvalidInput(
                f"invalid object name {name!r}: NUL byte or over {MAX_KEY_BYTES} bytes",
                driver=self,
            )
        if _BAD_SEGMENT.search(name):
            raise InvalidInput(
                f"invalid object name {name!r}: empty, '.' or '..' path segment",
                driver=self,
            )
        return name

    def _attributes(
        self,
        extra: Mapping[str, Any] | None,
        content_type: str | None,
        meta_data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        object_name: str,
    ) -> _Attributes:
        extra = dict(extra or {})
        unknown = set(extra) - {"content_type", "meta_data", "acl", "storage_class"}
        if unknown:
            raise InvalidInput(f"unknown extra keys: {', '.join(sorted(unknown))}", driver=self)
        ctype = content_type or extra.get("content_type") or _guess_type(object_name)
        if not isinstance(ctype, str) or not ctype or not _is_printable_ascii(ctype):
            raise InvalidInput(f"invalid content type: {ctype!r}", driver=self)
        meta = dict(meta_data if meta_data is not None else extra.get("meta_data") or {})
        total = 0
        for key, value in meta.items():
            if not isinstance(key, str) or not _META_KEY.match(key):
                raise InvalidInput(
                    f"meta_data key {key!r} must be a non-empty HTTP token (letters, digits, "
                    "'-', '_', ...)",
                    driver=self,
                )
            if (
                not isinstance(value, str)
                or not _is_printable_ascii(value)
                or value != value.strip()
            ):
                raise InvalidInput(
                    f"meta_data {key!r}: values must be printable ASCII without leading or "
                    "trailing spaces",
                    driver=self,
                )
            total += len(key) + len(value)
        if total > MAX_METADATA_BYTES:
            raise InvalidInput(
                f"user metadata is {total} bytes; S3 allows {MAX_METADATA_BYTES}", driver=self
            )
        # S3 stores metadata keys in lower case: send them so, and they round-trip.
        meta = {key.lower(): value for key, value in meta.items()}
        extra_headers: dict[str, str] = {}
        if extra.get("acl"):
            extra_headers["x-amz-acl"] = str(extra["acl"])
        if extra.get("storage_class"):
            extra_headers["x-amz-storage-class"] = str(extra["storage_class"])
        for name, value in (headers or {}).items():
            if (
                not isinstance(name, str)
                or not isinstance(value, str)
                or not _META_KEY.match(name)
                or not _is_printable_ascii(value)
            ):
                raise InvalidInput(f"invalid header {name!r}", driver=self)
            extra_headers[name] = value
        return _Attributes(ctype, meta, extra_headers)

    # -- requests ----------------------------------------------------------------------

    def _virtual_hosted(self, bucket: str) -> bool:
        if self.path_style or not _DNS_BUCKET.match(bucket):
            return False
        return not (self._scheme == "https" and "." in bucket)

    def _url(self, bucket: str | None = None, key: str | None = None) -> str:
        """The URL of the service, a bucket or an object."""
        if bucket is None:
            return f"{self.endpoint}/"
        path = "/" + _quote_path(key) if key is not None else "/"
        if self._virtual_hosted(bucket):
            return f"{self._scheme}://{bucket}.{self._netloc}{self._base_path}{path}"
        safe = _PATH_SAFE.match(bucket) and "/" not in bucket
        quoted = bucket if safe else quote(bucket, safe="")
        return f"{self.endpoint}/{quoted}{path if key is not None else ''}"

    def _send(
        self,
        method: str,
        bucket: str | None = None,
        key: str | None = None,
        *,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: PartData | None = None,
        stream: bool = False,
        idempotent: bool | None = None,
    ) -> Op[Response]:
        """Send one request; return the response, whatever its status."""
        resp: Response = yield Request(
            method, self._url(bucket, key), dict(headers or {}), list(params), body,
            stream=stream, idempotent=idempotent,
        )
        return resp

    def _xml_of(self, resp: Response) -> Op[Element]:
        root = yield from _xml(resp.body)
        if root is None:
            raise ProviderError(
                f"S3 sent a response that is not XML: {resp.text[:200]!r}",
                status=resp.status, driver=self,
            )
        return root

    # -- errors ------------------------------------------------------------------------

    def _error_fields(
        self, resp: Response, root: Element | None
    ) -> tuple[str | None, str, str | None]:
        """``(code, message, request id)`` of an error response, redacted."""
        code = message = None
        if root is not None:
            error = root if _local(root.tag) == "Error" else _child(root, "Error")
            code = _text(error, "Code")
            message = _text(error, "Message")
        request_id = resp.headers.get("x-amz-request-id") or (
            _text(root, "RequestId") if root is not None else None
        )
        return code or None, redact_text(message or "", self._secrets()), request_id

    def _error(
        self, resp: Response, bucket: str | None = None, key: str | None = None
    ) -> OvercastError:
        """The overcast error for a failed response."""
        return self._error_from(resp, _parse_xml(resp.body), bucket, key)

    def _error_from(
        self, resp: Response, root: Element | None, bucket: str | None, key: str | None
    ) -> OvercastError:
        code, message, request_id = self._error_fields(resp, root)
        status = resp.status
        text = message or f"HTTP {status}"
        if code == "NoSuchBucket" or (code is None and status == 404 and key is None):
            return ContainerNotFound(bucket or "", driver=self)
        if code in ("NoSuchKey", "NoSuchVersion") or (code is None and status == 404):
            return ObjectNotFound(key or "", driver=self)
        if code in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
            return ContainerAlreadyExists(bucket or "", driver=self)
        if code == "BucketNotEmpty":
            return ContainerIsNotEmpty(f"bucket {bucket!r} is not empty", driver=self)
        if code in THROTTLING_CODES:
            return RateLimited(f"S3 throttled the request: {text}", driver=self)
        if code in CREDENTIAL_CODES or (code is None and status in (401, 403)):
            return InvalidCredentials(
                f"S3 refused the request ({code or status}): {text}", driver=self
            )
        if code in REGION_CODES or status in (301, 307):
            region = resp.headers.get("x-amz-bucket-region") or (
                _text(root, "Region") if root is not None else None
            )
            if region and region != self.region:
                return ProviderError(
                    f"bucket {bucket!r} is in region {region!r}; this driver signs for "
                    f"{self.region!r} (pass region={region!r})",
                    status=status, code=code, request_id=request_id, driver=self,
                )
        if code in ("BadDigest", "XAmzContentSHA256Mismatch"):
            return IntegrityError(
                f"S3 refused the data: it does not match its checksum ({code}): {text}",
                driver=self,
            )
        if code in INPUT_CODES or status == 416:
            return InvalidInput(f"S3 refused the request ({code or status}): {text}",
                                driver=self)
        return ProviderError(
            f"S3 {resp.method} {resp.url} failed: {text}",
            status=status, code=code, request_id=request_id, driver=self,
        )

    # -- models ------------------------------------------------------------------------

    def _container(self, name: str, extra: dict[str, Any] | None = None) -> Container:
        return Container(name=name, extra=extra or {}, driver=self)

    def _written(
        self,
        bucket: str,
        key: str,
        size: int,
        etag: str | None,
        attributes: _Attributes,
        headers: Mapping[str, str],
    ) -> Object:
        """The object just written (from what was sent and the answer)."""
        extra: dict[str, Any] = {"etag": etag}
        if "x-amz-version-id" in headers:
            extra["version_id"] = headers["x-amz-version-id"]
        return Object(
            name=key,
            size=size,
            hash=_strip_etag(etag),
            extra=extra,
            meta_data=dict(attributes.meta_data),
            container=self._container(bucket),
            driver=self,
            content_type=attributes.content_type,
        )

    def _from_headers(self, bucket: str, key: str, headers: Mapping[str, str]) -> Object:
        """An object from a HeadObject answer."""
        meta = {
            name[len("x-amz-meta-"):]: value
            for name, value in headers.items()
            if name.lower().startswith("x-amz-meta-")
        }
        extra: dict[str, Any] = {"etag": headers.get("ETag")}
        for header, field in (
            ("x-amz-version-id", "version_id"),
            ("x-amz-storage-class", "storage_class"),
            ("x-amz-server-side-encryption", "server_side_encryption"),
            ("Cache-Control", "cache_control"),
            ("Content-Encoding", "content_encoding"),
        ):
            if header in headers:
                extra[field] = headers[header]
        return Object(
            name=key,
            size=_int(headers.get("Content-Length")),
            hash=_strip_etag(headers.get("ETag")),
            extra=extra,
            meta_data=meta,
            container=self._container(bucket),
            driver=self,
            content_type=headers.get("Content-Type"),
            last_modified=_http_date(headers.get("Last-Modified")),
        )

    def _from_listing(self, bucket: str, element: Element, decode: bool) -> Object:
        key = _text(element, "Key") or ""
        etag = _text(element, "ETag")
        extra: dict[str, Any] = {"etag": etag}
        storage_class = _text(element, "StorageClass")
        if storage_class:
            extra["storage_class"] = storage_class
        return Object(
            name=unquote_plus(key) if decode else key,
            size=_int(_text(element, "Size")),
            hash=_strip_etag(etag),
            extra=extra,
            container=self._container(bucket),
            driver=self,
            last_modified=_iso_date(_text(element, "LastModified")),
        )

    # -- containers --------------------------------------------------------------------

    @iterator
    def iterate_containers(self) -> Iter[Container]:
        """Every bucket (ListBuckets), following continuation tokens where the
        server hands them out."""
        token: str | None = None
        while True:
            params = [("continuation-token", token)] if token else []
            resp = yield from self._send("GET", params=params)
            if not resp.ok:
                raise self._error(resp)
            root = yield from self._xml_of(resp)
            for element in _children(_child(root, "Buckets"), "Bucket"):
                name = _text(element, "Name") or ""
                extra: dict[str, Any] = {
                    "creation_date": _iso_date(_text(element, "CreationDate"))
                }
                region = _text(element, "BucketRegion")
                if region:
                    extra["region"] = region
                yield Emit(self._container(name, extra))
            following = _text(root, "ContinuationToken")
            if not following or following == token:
                return
            token = following

    def _head_bucket(self, name: str, *, forbidden_ok: bool = False) -> Op[Container | None]:
        resp = yield from self._send("HEAD", name)
        if resp.status == 404 or (resp.status == 403 and forbidden_ok):
            return None
        if not resp.ok:
            raise self._error(resp, name)
        extra: dict[str, Any] = {}
        if "x-amz-bucket-region" in resp.headers:
            extra["region"] = resp.headers["x-amz-bucket-region"]
        return self._container(name, extra)

    @operation
    def get_container(self, container_name: str) -> Op[Container]:
        """The bucket ``container_name`` (HeadBucket); ContainerNotFound if absent."""
        name = self._check_bucket(container_name)
        found = yield from self._head_bucket(name)
        if found is None:
            raise ContainerNotFound(name, driver=self)
        return found

    @operation
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a bucket (in the driver's region); ContainerAlreadyExists if it
        exists, whoever owns it."""
        name = self._check_bucket(container_name, create=True)
        # A 403 here may be another account's bucket (the create then says
        # BucketAlreadyExists) or bad credentials (the create says which).
        if (yield from self._head_bucket(name, forbidden_ok=True)) is not None:
            raise ContainerAlreadyExists(name, driver=self)
        body: bytes | None = None
        headers: dict[str, str] = {}
        if self.region != "us-east-1":
            body = (
                f'<CreateBucketConfiguration xmlns="{S3_XMLNS}">'
                f"{_tag('LocationConstraint', self.region)}</CreateBucketConfiguration>"
            ).encode()
            headers["Content-Type"] = "application/xml"

        def send() -> Op[Container]:
            resp = yield from self._send("PUT", name, headers=headers, body=body,
                                         idempotent=False)
            if not resp.ok:
                raise self._error(resp, name)
            return self._container(name, {"region": self.region})

        return (yield from create_once(send, lambda: self._head_bucket(name)))

    @operation
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty bucket; ContainerIsNotEmpty if it holds objects."""
        name = self._check_bucket(container_name(container))
        resp = yield from self._send("DELETE", name)
        if not resp.ok:
            raise self._error(resp, name)
        return True

    # -- listing -----------------------------------------------------------------------

    def _pages(
        self, bucket: str, prefix: str, delimiter: str | None
    ) -> Iter[Object | Prefix]:
        """ListObjectsV2 page by page; each page's objects and prefixes in name order."""
        token: str | None = None
        ref = self._container(bucket)
        while True:
            params = [("list-type", "2"), ("encoding-type", "url"),
                      ("max-keys", str(self.page_size))]
            if prefix:
                params.append(("prefix", prefix))
            if delimiter:
                params.append(("delimiter", delimiter))
            if token:
                params.append(("continuation-token", token))
            resp = yield from self._send("GET", bucket, params=params)
            if not resp.ok:
                raise self._error(resp, bucket)
            root = yield from self._xml_of(resp)
            decode = (_text(root, "EncodingType") or "").lower() == "url"
            entries: list[Object | Prefix] = [
                self._from_listing(bucket, element, decode)
                for element in _children(root, "Contents")
            ]
            for element in _children(root, "CommonPrefixes"):
                common = _text(element, "Prefix") or ""
                entries.append(Prefix(unquote_plus(common) if decode else common, ref))
            entries.sort(key=lambda entry: entry.name)
            for entry in entries:
                yield Emit(entry)
            if (_text(root, "IsTruncated") or "").strip().lower() != "true":
                return
            following = _text(root, "NextContinuationToken")
            if not following or following == token:
                raise ProviderError(
                    "S3 said the listing is truncated but gave no new continuation token",
                    status=resp.status, driver=self,
                )
            token = following

    @iterator
    def iterate_container_objects(
        self, container: ContainerRef, prefix: str | None = None, ex_prefix: str | None = None
    ) -> Iter[Object]:
        """The objects of a bucket in name order (ListObjectsV2), ``page_size`` keys
        per request. Listed objects have no content type or user metadata."""
        bucket = self._check_bucket(container_name(container))
        # Without a delimiter S3 returns no common prefixes: only objects.
        yield from cast("Iter[Object]", self._pages(bucket, prefix or ex_prefix or "", None))

    @iterator
    def iterate_container_entries(
        self, container: ContainerRef, prefix: str | None = None, *, delimiter: str = "/"
    ) -> Iter[Object | Prefix]:
        """One "directory level": the objects directly under ``prefix`` and the
        common prefixes up to ``delimiter``, in name order."""
        if not isinstance(delimiter, str) or not delimiter:
            raise InvalidInput("delimiter must be a non-empty string", driver=self)
        bucket = self._check_bucket(container_name(container))
        yield from self._pages(bucket, prefix or "", delimiter)

    # -- objects -----------------------------------------------------------------------

    def _head_object(self, bucket: str, key: str, *, missing_ok: bool = False) -> Op[Object | None]:
        resp = yield from self._send("HEAD", bucket, key)
        if resp.status == 404:
            if missing_ok:
                return None
            # HEAD answers carry no error code: tell a missing bucket from a missing key.
            if (yield from self._head_bucket(bucket)) is None:
                raise ContainerNotFound(bucket, driver=self)
            raise ObjectNotFound(key, driver=self)
        if not resp.ok:
            raise self._error(resp, bucket, key)
        return self._from_headers(bucket, key, resp.headers)

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """An object's size, ETag, content type, last modified time and user
        metadata (HeadObject); ObjectNotFound if absent."""
        bucket = self._check_bucket(container_name)
        key = self._check_key(object_name)
        found = yield from self._head_object(bucket, key)
        assert found is not None
        return found

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
        """Upload a local file: one PutObject up to ``part_plan.threshold``, else a
        multipart upload in parallel parts. Every request carries the upload
        checksum (``upload_checksum``), which S3 checks (``verify_hash`` is
        accepted for Apache Libcloud compatibility; the check is always made)."""
        source = os.fspath(file_path)
        bucket = self._check_bucket(container_name(container))
        key = self._check_key(object_name)
        attributes = self._attributes(extra, content_type, meta_data, headers, key)
        size: int | None = yield Call(_file_size, source)
        if size is None:
            raise InvalidInput(f"not a readable file: {source}", driver=self)
        body = FileStream(source).observe(SizeCheck(size, source, driver=self))
        if progress is not None:
            body.observe(ProgressReport(progress, size))
        target = _Upload(self, bucket, key, attributes)
        obj: Object = yield from upload_in_parts(target, body, size=size, plan=self.part_plan)
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
        """Upload from an iterator of bytes, a file object or bytes, of unknown
        size: a PutObject if it ends within ``part_plan.threshold``, else a
        multipart upload whose parts grow so the object never needs more than
        10,000. A failure or cancellation aborts the multipart upload."""
        bucket = self._check_bucket(container_name(container))
        key = self._check_key(object_name)
        attributes = self._attributes(extra, content_type, meta_data, headers, key)
        if isinstance(iterator, str):
            raise InvalidInput("upload data must be bytes, not str", driver=self)
        body = as_stream(iterator)
        if progress is not None:
            body.observe(ProgressReport(progress, None))
        target = _Upload(self, bucket, key, attributes)
        obj: Object = yield from upload_in_parts(target, body, size=None, plan=self.part_plan)
        return obj

    @stream
    def download_object_range_as_stream(
        self,
        obj: Object,
        start_bytes: int,
        end_bytes: int | None = None,
        chunk_size: int | None = None,
    ) -> Op[ByteStream]:
        """Stream bytes ``[start_bytes, end_bytes)`` (GetObject with ``Range``).

        Every read is checked for the length the server announces. A full read is
        also checked against the object's cheapest full-object checksum when it
        has one (``x-amz-checksum-crc32c``, ``-crc32``, ``-sha1``, ``-sha256``),
        else against the MD5 in the ETag when the ETag is one (not for objects
        uploaded in parts, whose ETag ends in ``-N``, nor for objects encrypted
        with KMS or a customer key). ``chunk_size`` is accepted for Apache
        Libcloud compatibility; chunks come as the transport reads them."""
        bucket = self._check_bucket(obj.container_name)
        key = self._check_key(obj.name)
        start, end = check_range(None, start_bytes, end_bytes, driver=self)
        full = start == 0 and end is None
        if end is not None and end == start:
            yield from self._head_object(bucket, key)  # ObjectNotFound if absent
            return IterStream([])
        headers: dict[str, str] = {}
        if not full:
            last = "" if end is None else str(end - 1)
            headers["Range"] = f"bytes={start}-{last}"
        else:
            headers["x-amz-checksum-mode"] = "ENABLED"  # the object's CRC, if it has one
        # A small read is fetched whole: cheaper than a pulled stream, same checks.
        known = obj.size if obj.size is not None and obj.size >= 0 else None
        small = known is not None and (known if end is None else end) - start <= SMALL_READ
        resp = yield from self._send("GET", bucket, key, headers=headers, stream=not small)
        if not resp.ok or (resp.stream is None and not small):
            if resp.status == 404 and _parse_xml(resp.body) is None:
                yield from self._head_object(bucket, key)
            if resp.status == 416 and end is None:
                # "From the end of the object to its end" is empty, not an error.
                found = yield from self._head_object(bucket, key)
                if found is not None and found.size == start:
                    return IterStream([])
            raise self._error(resp, bucket, key)
        if not full and resp.status != 206:
            if resp.stream is not None:
                resp.stream.close()
            raise ProviderError(
                f"S3 ignored the Range header (status {resp.status})",
                status=resp.status, driver=self,
            )
        length = resp.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        if expected is None and end is not None:
            expected = end - start
        checks: list[ChunkObserver] = [SizeCheck(expected, obj.name, driver=self)]
        if full:
            checksum = _full_object_checksum(resp.headers)
            if checksum is not None:
                checks.append(ChecksumCheck(*checksum, obj.name, driver=self))
            else:
                etag = _strip_etag(resp.headers.get("ETag")) or ""
                if _PLAIN_MD5.match(etag) and not _encrypted_with_a_key(resp.headers):
                    checks.append(HashCheck("md5", etag, obj.name, driver=self))
        if resp.stream is None:  # read whole: checked before a byte is handed over
            return checked_body(resp.body, *checks)
        return resp.stream.observe(*checks)

    @operation
    def download_object(
        self,
        obj: Object,
        destination_path: str | os.PathLike[str],
        overwrite_existing: bool = False,
        delete_on_failure: bool = True,
        *,
        progress: Progress | None = None,
    ) -> Op[bool]:
        """Download to a file: one checked stream up to ``part_plan.threshold``,
        else parallel ranged GETs (``part_plan.concurrency`` at a time) written in
        place, checked (size, and MD5 when the ETag is one) before the rename."""
        bucket = self._check_bucket(obj.container_name)
        key = self._check_key(obj.name)
        current = yield from self._head_object(bucket, key)
        assert current is not None
        if current.size <= self.part_plan.threshold:
            body = yield from self.download_object_range_as_stream.op(current, 0, None)
            return (yield from self._save(
                body, destination_path, overwrite_existing, current.size, progress
            ))
        etag = current.hash or ""
        checksum = ("md5", etag) if _PLAIN_MD5.match(etag) else None
        return (yield from download_in_ranges(
            lambda start, end: self.download_object_range_as_stream.op(current, start, end),
            current.size,
            destination_path,
            overwrite=overwrite_existing,
            part_size=max(self.part_plan.part_size, 16 * 1024 * 1024),
            concurrency=self.part_plan.concurrency,
            checksum=checksum,
            progress=progress,
            driver=self,
        ))

    @operation
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete an object (DeleteObject); ObjectNotFound if absent (checked with a
        HeadObject first, as S3 answers 204 for a missing key)."""
        bucket = self._check_bucket(obj.container_name)
        key = self._check_key(obj.name)
        yield from self._head_object(bucket, key)
        resp = yield from self._send("DELETE", bucket, key)
        if not resp.ok:
            raise self._error(resp, bucket, key)
        return True

    @operation
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy an object server-side, with its content type and user metadata
        (CopyObject with the COPY metadata directive; objects over 5 GiB are
        copied in parts with UploadPartCopy)."""
        bucket = self._check_bucket(obj.container_name)
        key = self._check_key(obj.name)
        target_bucket = self._check_bucket(container_name(target_container))
        target_key = self._check_key(target_name or obj.name)
        source = yield from self._head_object(bucket, key)
        assert source is not None
        copy_source = f"/{bucket}/{quote(key, safe='/')}"
        attributes = _Attributes(
            source.content_type or DEFAULT_CONTENT_TYPE, dict(source.meta_data), {}
        )
        if source.size > MAX_COPY_SIZE:
            return (
                yield from self._copy_in_parts(source, copy_source, target_bucket, target_key,
                                               attributes)
            )
        headers = {"x-amz-copy-source": copy_source, "x-amz-metadata-directive": "COPY"}
        etag = source.extra.get("etag")
        if etag:
            headers["x-amz-copy-source-if-match"] = etag
        resp = yield from self._send("PUT", target_bucket, target_key, headers=headers)
        if not resp.ok:
            raise self._error(resp, target_bucket, target_key)
        root = yield from self._xml_of(resp)
        if _local(root.tag) == "Error":
            raise self._error_from(resp, root, target_bucket, target_key)
        copied = self._written(target_bucket, target_key, source.size, _text(root, "ETag"),
                               attributes, resp.headers)
        copied.last_modified = _iso_date(_text(root, "LastModified"))
        return copied

    def _copy_in_parts(
        self,
        source: Object,
        copy_source: str,
        bucket: str,
        key: str,
        attributes: _Attributes,
    ) -> Op[Object]:
        upload = _Upload(self, bucket, key, attributes)
        upload_id = yield from upload.begin()
        part_size = max(COPY_PART_SIZE, -(-source.size // MAX_PARTS))
        ranges = [
            (number, start, min(start + part_size, source.size))
            for number, start in enumerate(range(0, source.size, part_size), 1)
        ]
        etag = source.extra.get("etag")

        def part(number: int, start: int, end: int) -> Op[tuple[int, str]]:
            headers = {
                "x-amz-copy-source": copy_source,
                "x-amz-copy-source-range": f"bytes={start}-{end - 1}",
            }
            if etag:
                headers["x-amz-copy-source-if-match"] = etag
            resp = yield from self._send(
                "PUT", bucket, key, params=[("partNumber", str(number)), ("uploadId", upload_id)],
                headers=headers,
            )
            if not resp.ok:
                raise self._error(resp, bucket, key)
            root = yield from self._xml_of(resp)
            if _local(root.tag) == "Error":
                raise self._error_from(resp, root, bucket, key)
            upload.sizes[number] = end - start
            return number, _text(root, "ETag") or ""

        def body() -> Op[Object]:
            parts: list[tuple[int, str]] = yield Parallel(
                [part(*r) for r in ranges], limit=self.part_plan.concurrency
            )
            return (yield from upload.finish(upload_id, sorted(parts)))

        def cleanup(exc: BaseException) -> Op[None]:
            yield from upload.abort(upload_id)

        copied: Object = yield Guarded(body(), cleanup)
        return copied

    @operation
    def get_object_presigned_url(
        self, obj: Object, *, method: str = "GET", expires: int = 3600
    ) -> Op[str]:
        """A query-signed URL that lets anyone holding it ``GET`` the object, or
        ``PUT`` a new body at its name with a plain HTTP request, for ``expires``
        seconds (1 s to 7 days). The URL contains a signature: treat it as a secret."""
        verb = method.upper() if isinstance(method, str) else ""
        if verb not in ("GET", "PUT"):
            raise InvalidInput(f"method must be GET or PUT: {method!r}", driver=self)
        if isinstance(expires, bool) or not isinstance(expires, int) or not (
            1 <= expires <= 604800
        ):
            raise InvalidInput(f"expires must be 1 to 604800 seconds: {expires!r}", driver=self)
        bucket = self._check_bucket(obj.container_name)
        key = self._check_key(obj.name)
        now: float = yield Call(time.time)
        return presign_url(verb, self._url(bucket, key), self._credentials, self.region, "s3",
                           now, expires)

    # -- extensions --------------------------------------------------------------------

    @operation
    def ex_delete_objects(
        self, container: ContainerRef, names: Iterable[str]
    ) -> Op[dict[str, str]]:
        """Delete many objects with DeleteObjects, 1000 names per request.

        Returns the names S3 could not delete, each with its error code (empty
        when every name was deleted). Like S3, a name that does not exist counts
        as deleted."""
        bucket = self._check_bucket(container_name(container))
        keys = list(dict.fromkeys(self._check_key(name) for name in names))
        for key in keys:
            if _XML_INVALID.search(key):
                raise InvalidInput(
                    f"object name {key!r} holds characters XML cannot carry; delete it alone",
                    driver=self,
                )
        batches = [keys[i : i + MAX_DELETE_BATCH] for i in range(0, len(keys), MAX_DELETE_BATCH)]

        def one(batch: list[str]) -> Op[dict[str, str]]:
            objects = "".join(f"<Object>{_tag('Key', key)}</Object>" for key in batch)
            xml = (f'<Delete xmlns="{S3_XMLNS}"><Quiet>true</Quiet>{objects}</Delete>').encode()
            md5 = yield from _md5_header(xml)
            resp = yield from self._send(
                "POST", bucket, params=[("delete", "")],
                headers={"Content-MD5": md5, "Content-Type": "application/xml"},
                body=xml, idempotent=True,
            )
            if not resp.ok:
                raise self._error(resp, bucket)
            root = yield from self._xml_of(resp)
            if _local(root.tag) == "Error":
                raise self._error_from(resp, root, bucket, None)
            return {
                _text(error, "Key") or "": _text(error, "Code") or "Error"
                for error in _children(root, "Error")
            }

        failed: dict[str, str] = {}
        if batches:
            results: list[dict[str, str]] = yield Parallel(
                [one(batch) for batch in batches], limit=self.part_plan.concurrency
            )
            for result in results:
                failed.update(result)
        return failed


class S3StorageDriverAsync(StorageDriverAsync):
    """``driver.aio`` of the S3 driver: the storage operations and the S3
    extensions, awaitable."""

    ex_delete_objects = aio(S3StorageDriver.ex_delete_objects)


S3StorageDriver.async_view = S3StorageDriverAsync
