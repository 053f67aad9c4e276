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
* Uploads go through the base class's flow and
  :func:`overcast.storage.transfer.upload_in_parts`: one
  ``PutObject`` up to ``part_plan.threshold`` bytes, else ``CreateMultipartUpload``,
  ``UploadPart`` (``part_plan.concurrency`` at a time) and
  ``CompleteMultipartUpload``. A failed or cancelled upload runs
  ``AbortMultipartUpload``, so no parts stay staged. The complete request is
  sent again when its answer is lost or refused; if an earlier one took effect
  (``NoSuchUpload``), the driver reads the object back and accepts it only if
  its ETag is the one these exact parts produce. A create whose answer is lost
  is sent again and the upload it may have begun is aborted.
  ``upload_object(..., resume=True)`` (:attr:`resumable_uploads`) instead
  leaves a failed upload unfinished and continues the key's most recent
  unfinished upload (``ListMultipartUploads``, ``ListParts``), sending only the
  parts whose size or MD5 (the part's ETag) differ.
* Full downloads are checked against the size the server sends and against
  the object's own full-object checksum when it has one
  (``x-amz-checksum-*``), else, when the ETag is a plain MD5 (single-request
  uploads, not encrypted with KMS or a customer key), against that MD5.
  Objects uploaded in parts have an ETag of the form ``<md5 of the part
  md5s>-N``, which says nothing about the bytes as a whole: those reads are
  checked for size only. Reads of at most 1 MiB of an object of known size
  are fetched whole and checked before a byte is handed over. A download to
  a file above ``part_plan.threshold`` comes as parallel ranged GETs (16 MiB
  at least) of the version current when it starts (``If-Match`` its ETag).
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
* Errors: the error table maps S3's codes (``NoSuchBucket``, ``NoSuchKey``,
  ``BucketNotEmpty``, ``BadDigest``, the credential and throttling codes, ...)
  onto overcast's errors. ``503 SlowDown`` (and the other throttling codes)
  is retried by the runtime whatever the method, since a throttled request
  was not processed: even a POST (complete, batch delete) is retried. A
  bucket in another region than the one signed for is named in the error.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
import time
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Final
from typing import cast
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit

from overcast import xml
from overcast.auth.aws_sigv4 import AwsCredentials
from overcast.auth.aws_sigv4 import SigV4Hooks
from overcast.auth.aws_sigv4 import presign_url
from overcast.errors import ContainerAlreadyExists
from overcast.errors import ContainerIsNotEmpty
from overcast.errors import ContainerNotFound
from overcast.errors import IntegrityError
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ObjectNotFound
from overcast.errors import OvercastError
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import Outcome
from overcast.runtime.api import SendOptions
from overcast.runtime.api import When
from overcast.runtime.api import decode_xml
from overcast.runtime.api import xml_fault
from overcast.runtime.effects import Call
from overcast.runtime.effects import Guarded
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
from overcast.runtime.options import libcloud_endpoint
from overcast.runtime.options import secure_or_token
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
from overcast.storage.checks import CHEAPEST_FIRST
from overcast.storage.checks import DEFAULT_CONTENT_TYPE
from overcast.storage.checks import ChecksumCheck
from overcast.storage.checks import HashCheck
from overcast.storage.checks import can_compute
from overcast.storage.checks import checksum_b64
from overcast.storage.checks import crc32_function
from overcast.storage.checks import is_md5
from overcast.storage.checks import md5_b64
from overcast.storage.checks import md5_hex
from overcast.storage.http import StorageApi
from overcast.storage.http import header_int
from overcast.storage.http import http_date
from overcast.storage.http import iso_date
from overcast.storage.http import user_meta
from overcast.storage.transfer import OpenUpload
from overcast.storage.transfer import PartPlan
from overcast.storage.transfer import Ranged
from overcast.storage.transfer import Span

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = ["DEFAULT_PART_PLAN", "S3StorageDriver"]

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
#: The most pages of unfinished uploads, or of one upload's parts (1,000 per
#: page: 10,000 parts fit in 10), a resumed upload reads.
_MAX_LISTING_PAGES: Final = 20
#: Error codes of S3-compatible stores that do not list unfinished uploads.
_NO_UPLOAD_LISTING: Final = frozenset({"NotImplemented", "MethodNotAllowed"})
#: Largest object one CopyObject can copy; larger ones are copied in parts.
MAX_COPY_SIZE: Final = 5 * GiB
COPY_PART_SIZE: Final = 512 * MiB
#: Most keys one ListObjectsV2 page and one DeleteObjects request may hold.
MAX_PAGE_SIZE: Final = 1000
MAX_DELETE_BATCH: Final = 1000
#: S3's limit on user metadata: keys plus values, in UTF-8 bytes.
MAX_METADATA_BYTES: Final = 2048
#: Buffers up to this size are hashed inline; larger ones in a worker thread.
INLINE_DIGEST_LIMIT: Final = 64 * 1024
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

_BUCKET_NAME: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_LEGACY_BUCKET_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,255}\Z")
_LABEL: Final = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_BUCKET: Final = re.compile(rf"{_LABEL}(\.{_LABEL})*\Z")
_IP_ADDRESS: Final = re.compile(r"\d+\.\d+\.\d+\.\d+\Z")
_REGION: Final = re.compile(r"[a-z0-9-]{1,64}\Z")
_META_KEY: Final = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+\Z")
#: Keys made only of these characters are the same percent-encoded.
_PATH_SAFE: Final = re.compile(r"[A-Za-z0-9_.~/-]*\Z")
# XML 1.0 cannot carry these characters, even escaped.
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NO_OUTCOME: Final = Outcome()


def _tag(name: str, value: str) -> str:
    return f"<{name}>{xml.escape(value)}</{name}>"


# -- checksums ------------------------------------------------------------------------------


def _md5_header(data: PartData) -> Op[str]:
    """``Content-MD5`` for ``data``, hashed off the event loop when large."""
    if len(data) <= INLINE_DIGEST_LIMIT:
        yield from ()
        return md5_b64(data)
    value: str = yield Call(md5_b64, data)
    return value


def _md5_hex(data: PartData) -> str:
    """The hex MD5 of ``data`` (an S3 part's ETag)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _crc32_b64(data: PartData) -> str:
    """The base64 CRC32 of ``data`` (an ``x-amz-checksum-crc32`` value)."""
    return checksum_b64("crc32", crc32_function()(0, data))


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


@functools.cache
def _checksum_headers() -> tuple[tuple[str, str], ...]:
    """S3's full-object checksums this machine can compute, cheapest first
    (found on first use: the CRC extensions load slowly)."""
    return tuple(
        (algorithm, f"x-amz-checksum-{algorithm}")
        for algorithm in CHEAPEST_FIRST
        if algorithm in ("crc32c", "crc32", "sha1", "sha256") and can_compute(algorithm)
    )


def _full_object_checksum(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The cheapest checksum of the whole object a GetObject answer carries
    (``x-amz-checksum-*``, sent when asked with ``x-amz-checksum-mode``), or
    ``None``. A composite checksum (of an upload in parts: ``...-N``) says nothing
    about the bytes as a whole."""
    kind = headers.get("x-amz-checksum-type")
    if kind is not None and kind.upper() == "COMPOSITE":
        return None
    for algorithm, header in _checksum_headers():
        value = headers.get(header)
        if value and "-" not in value:
            return algorithm, value
    return None


def _listed_name(key: str) -> str:
    """A key as ``encoding-type=url`` lists it, decoded (``unquote_plus``). Most
    escapes in a listing are slashes, replaced first without the general
    decoder, which then runs only on what is left."""
    if "%" not in key and "+" not in key:
        return key
    plain = key.replace("%2F", "/").replace("+", " ")
    return unquote(plain) if "%" in plain else plain


#: The sort key of a listing's entries (a C call per entry, not a lambda).
_by_name: Final = operator.attrgetter("name")


def _strip_etag(etag: str | None) -> str | None:
    if etag is None:
        return None
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


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
        bare = _strip_etag(etag)
        if not is_md5(bare):
            return None
        digests.append(bytes.fromhex(bare or ""))
    return f"{md5_hex(b''.join(digests))}-{len(parts)}"


def _quote_path(key: str) -> str:
    """``key`` percent-encoded for a URL path (``/`` kept); most keys need nothing."""
    return key if _PATH_SAFE.match(key) else quote(key, safe="/")


def _is_printable_ascii(text: str) -> bool:
    return all(" " <= c <= "~" for c in text)


# -- the upload target --------------------------------------------------------------------


class _Upload(ObjectUpload["S3StorageDriver"]):
    """One object being written: the :class:`~overcast.storage.transfer.PartTarget`
    that :func:`~overcast.storage.transfer.upload_in_parts` drives."""

    def __init__(self, driver: S3StorageDriver, bucket: str, key: str,
                 attributes: Attributes) -> None:
        super().__init__(driver, bucket, key, attributes)
        self.url = driver._object_url(bucket, key)
        self.what = f"{bucket}/{key}"
        self.crcs: dict[int, str] = {}  # part number: its CRC32, for the complete request

    def _headers(self) -> dict[str, str]:
        """The headers that give the object its attributes."""
        headers = dict(self.attributes.headers)
        headers["Content-Type"] = self.attributes.content_type
        for key, value in self.attributes.meta_data.items():
            headers[f"x-amz-meta-{key}"] = value
        return headers

    def _send(self, method: str, **options: Any) -> Op[Response]:
        return self.driver._send(method, self.url, what=self.what, missing=ContainerNotFound,
                                 **options)

    def put_whole(self, data: PartData) -> Op[Object]:
        """PutObject, with the upload checksum (CRC32 or ``Content-MD5``)."""
        headers = self._headers()
        name, value = yield from _checksum_header(data, self.driver.upload_checksum)
        headers[name] = value
        resp = yield from self._send("PUT", headers=headers, body=data)
        return self.driver._written(self, len(data), resp.headers.get("ETag"), resp.headers)

    def begin(self) -> Op[str]:
        """CreateMultipartUpload; the upload id.

        The request is not resent blindly: if its answer is lost after S3 began an
        upload, a second request begins a second one and the first would stay
        open (listed, and kept until a lifecycle rule removes it). When the outcome
        is unknown the request is sent again here, and then the strays it may have
        left are aborted (:meth:`_abort_strays`)."""
        started: float = yield Call(time.monotonic)
        lost = False

        def lost_answer() -> Op[str | None]:
            nonlocal lost
            lost = True
            yield from ()
            return None  # an upload id cannot be searched for

        upload_id = yield from create_once(self._create, lost_answer)
        if lost:
            elapsed: float = yield Call(time.monotonic)
            yield from self._abort_strays(upload_id, elapsed - started)
        return upload_id

    def _create(self) -> Op[str]:
        headers = self._headers()
        if self.driver.upload_checksum == "crc32":
            headers["x-amz-checksum-algorithm"] = "CRC32"  # parts carry theirs
        root = yield from self.driver._result(
            "POST", self.url, "InitiateMultipartUpload", params=[("uploads", "")],
            headers=headers, idempotent=False, what=self.what, missing=ContainerNotFound,
        )
        upload_id = xml.text(root, "UploadId")
        if not upload_id:
            raise ProviderError("CreateMultipartUpload answer has no UploadId",
                                driver=self.driver)
        return upload_id

    def _abort_strays(self, upload_id: str, seconds: float) -> Op[None]:
        """Abort the uploads of this key that a request whose answer was lost may
        have begun: those S3 lists as begun by the same initiator within
        ``seconds`` (and a second of clock granularity) before ``upload_id``, that
        hold no part. Another writer's upload of the same key begun in that
        window with no part yet is indistinguishable, and S3 keeps no token that
        would tell them apart; the window is the time the lost answers took."""
        bucket_url = self.driver._object_url(self.container)
        root = yield from self.driver._result(
            "GET", bucket_url, "ListMultipartUploads",
            params=[("uploads", ""), ("prefix", self.name)], what=self.container,
            missing=ContainerNotFound,
        )
        listed = [
            (xml.text(item, "UploadId"), iso_date(xml.text(item, "Initiated")),
             xml.text(item, "Initiator", "ID"))
            for item in xml.children(root, "Upload") if xml.text(item, "Key") == self.name
        ]
        ours = next((item for item in listed if item[0] == upload_id), None)
        if ours is None or ours[1] is None:
            return  # not listed (yet): nothing can be told apart
        earliest = ours[1] - timedelta(seconds=seconds + 1)
        for stray, began, initiator in listed:
            if (stray is None or stray == upload_id or began is None or initiator != ours[2]
                    or not earliest <= began <= ours[1]):
                continue
            parts = yield from self.driver._result(
                "GET", self.url, "ListParts", params=[("uploadId", stray)], what=self.what,
                ok=(404,),
            )
            if not xml.children(parts, "Part"):
                yield from self.abort(stray)

    def find_open(self) -> Op[OpenUpload | None]:
        """The most recently begun unfinished upload of this key
        (ListMultipartUploads), with its parts (ListParts, every page); None if
        there is none."""
        bucket_url = self.driver._object_url(self.container)
        latest: tuple[str, str] | None = None  # (initiated, upload id)
        markers: list[tuple[str, str]] = []
        for _ in range(_MAX_LISTING_PAGES):
            try:
                root = yield from self.driver._result(
                    "GET", bucket_url, "ListMultipartUploads",
                    params=[("uploads", ""), ("prefix", self.name), *markers],
                    what=self.container, missing=ContainerNotFound,
                )
            except ProviderError as error:
                # A store that cannot list uploads: nothing to go on from; begin afresh.
                if error.status in (405, 501) or error.code in _NO_UPLOAD_LISTING:
                    return None
                raise
            for item in xml.children(root, "Upload"):
                upload_id = xml.text(item, "UploadId")
                if xml.text(item, "Key") == self.name and upload_id:
                    began = xml.text(item, "Initiated") or ""
                    if latest is None or began >= latest[0]:
                        latest = (began, upload_id)
            key_marker = xml.text(root, "NextKeyMarker")
            id_marker = xml.text(root, "NextUploadIdMarker")
            if xml.text(root, "IsTruncated") != "true" or not (key_marker or id_marker):
                break
            markers = [("key-marker", key_marker or ""), ("upload-id-marker", id_marker or "")]
        if latest is None:
            return None
        upload_id = latest[1]
        parts: dict[int, tuple[int, str]] = {}
        marker: str | None = None
        for _ in range(_MAX_LISTING_PAGES):
            params = [("uploadId", upload_id)]
            if marker:
                params.append(("part-number-marker", marker))
            root = yield from self.driver._result("GET", self.url, "ListParts", params=params,
                                                  what=self.what, ok=(404,))
            for item in xml.children(root, "Part"):
                number, size, etag = (xml.text(item, "PartNumber"), xml.text(item, "Size"),
                                      xml.text(item, "ETag"))
                if number and number.isdigit() and size and size.isdigit() and etag:
                    parts[int(number)] = (int(size), etag)
            marker = xml.text(root, "NextPartNumberMarker")
            if xml.text(root, "IsTruncated") != "true" or not marker:
                break
        return OpenUpload(upload_id, parts)

    def reuse_part(self, upload_id: str, number: int, data: PartData,
                   listed: tuple[int, str]) -> Op[str | None]:
        """The listed part's ETag if it is the MD5 of ``data`` (S3's part ETag,
        uploads not encrypted with KMS or a customer key), else None."""
        digest: str = yield Call(_md5_hex, data)
        if _strip_etag(listed[1]) != digest:
            return None
        self.sizes[number] = len(data)
        if self.driver.upload_checksum == "crc32":  # the complete request names each part's
            self.crcs[number] = _crc32_b64(data) if len(data) <= INLINE_DIGEST_LIMIT else (
                yield Call(_crc32_b64, data))
        return listed[1]

    def put_part(self, upload_id: str, number: int, data: PartData, last: bool) -> Op[str]:
        """UploadPart, with the upload checksum; the part's ETag."""
        if number > MAX_PARTS:
            raise InvalidInput(f"an S3 upload has at most {MAX_PARTS} parts", driver=self.driver)
        name, value = yield from _checksum_header(data, self.driver.upload_checksum)
        resp = yield from self._send(
            "PUT", params=[("partNumber", str(number)), ("uploadId", upload_id)],
            headers={name: value}, body=data,
        )
        etag = resp.headers.get("ETag")
        if not etag:
            raise ProviderError(f"UploadPart {number} answer has no ETag", status=resp.status,
                                driver=self.driver)
        self.sizes[number] = len(data)
        if name != "Content-MD5":
            self.crcs[number] = value
        return etag

    def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[Object]:
        """CompleteMultipartUpload (reconciled by ETag when it had already taken effect)."""
        body = "".join(
            f"<Part>{_tag('PartNumber', str(n))}{_tag('ETag', etag)}"
            f"{_tag('ChecksumCRC32', self.crcs[n]) if n in self.crcs else ''}</Part>"
            for n, etag in parts
        )
        xml_body = f'<CompleteMultipartUpload xmlns="{S3_XMLNS}">{body}</CompleteMultipartUpload>'
        try:
            # Sent again when an answer is lost or refused: a complete that already
            # took effect answers NoSuchUpload, and the object then shows whether it
            # was this upload's (S3 may also answer 200 and report an error in the body).
            root = yield from self.driver._result(
                "POST", self.url, "CompleteMultipartUpload",
                params=[("uploadId", upload_id)], headers={"Content-Type": "application/xml"},
                body=xml_body.encode("utf-8"), idempotent=True, what=self.what,
                missing=ContainerNotFound,
            )
        except ProviderError as error:
            if error.code != "NoSuchUpload":
                raise
            expected = _multipart_etag(parts)
            found = yield from or_none(self.driver._head_object(self.container, self.name),
                                       ObjectNotFound)
            if expected is not None and found is not None and found.hash == expected:
                return found
            raise
        return self.driver._written(self, self.size_of(parts), xml.text(root, "ETag"), {})

    def abort(self, upload_id: str) -> Op[None]:
        """AbortMultipartUpload: S3 drops every part staged for this upload."""
        yield from self._send("DELETE", params=[("uploadId", upload_id)], ok=(404,))


# -- the driver -----------------------------------------------------------------------


class S3StorageDriver(SigV4Hooks, StorageApi, StorageDriver):
    """Amazon S3 or an S3-compatible store.

    The positional parameters are Apache Libcloud's: ``(key, secret, secure,
    host, port, region, token)``; ``host``, ``port`` and ``secure`` (https when
    true) are another way to give ``endpoint`` (a string third argument is the
    session token, as in overcast before). ``key``, ``secret`` and ``token``
    are the access key id, secret access key and optional session token;
    without them credentials are found where the AWS CLI looks, in its order
    (the environment, the ``profile``/``AWS_PROFILE``/``default`` profile of the
    shared files with assumed roles, web identity and ``credential_process``,
    container credentials, instance metadata: ``docs/credentials.md``).
    ``region`` is the signing region (and, on AWS, where buckets are created);
    on AWS it defaults as the CLI's (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the
    profile's ``region``), else ``us-east-1``.
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

    signing_service: ClassVar[str] = "s3"
    name: ClassVar[str] = "s3"
    label: ClassVar[str] = "S3"
    #: The region when none is given (presets of one AWS region change it).
    default_region: ClassVar[str] = "us-east-1"
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-amz-request-id",)
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(ContainerNotFound, code="NoSuchBucket"),
        When(ObjectNotFound, code=("NoSuchKey", "NoSuchVersion")),
        When(ProviderError, code="NoSuchUpload"),
        When(ContainerAlreadyExists, code=("BucketAlreadyExists", "BucketAlreadyOwnedByYou")),
        When(ContainerIsNotEmpty, code="BucketNotEmpty"),
        When(RateLimited, code=THROTTLING_CODES),
        When(InvalidCredentials, code=CREDENTIAL_CODES),
        When(IntegrityError, code=("BadDigest", "XAmzContentSHA256Mismatch")),
        When(InvalidInput, code=INPUT_CODES),
        When(InvalidInput, status=416),
    )
    extra_keys: ClassVar[frozenset[str]] = frozenset({"acl", "storage_class"})
    ascii_content_type: ClassVar[bool] = True
    parallel_ranges: ClassVar[bool] = True
    min_range_size: ClassVar[int] = 16 * MiB
    resumable_uploads: ClassVar[bool] = True

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 secure: bool | str | Secret = True, host: str | None = None,
                 port: int | None = None, region: str | None = None,
                 token: str | Secret | None = None, *, endpoint: str | None = None,
                 path_style: bool | None = None,
                 profile: str | None = None, part_plan: PartPlan = DEFAULT_PART_PLAN,
                 page_size: int = MAX_PAGE_SIZE, upload_checksum: str = "crc32",
                 **options: Any) -> None:
        secure, token = secure_or_token(secure, token, driver=self)
        endpoint = libcloud_endpoint(endpoint, host, port, secure, driver=self)
        if region is None and endpoint is None:
            # As the AWS CLI: AWS_REGION, AWS_DEFAULT_REGION, the profile's region.
            from overcast.auth.aws_credentials import resolve_aws_region

            region = resolve_aws_region(profile)
        if region is None:
            region = self.default_region
        if upload_checksum not in ("crc32", "md5"):
            raise InvalidInput(
                f"upload_checksum must be 'crc32' or 'md5': {upload_checksum!r}", driver=self
            )
        if not isinstance(region, str) or not _REGION.match(region):
            raise InvalidInput(f"invalid region: {region!r}", driver=self)
        self.page_size = check_page_size(page_size, maximum=MAX_PAGE_SIZE, driver=self)
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
            if region.startswith("cn-"):
                base += ".cn"  # the China partition's domain
            if not secure:
                base = "http" + base.removeprefix("https")
        else:
            base = check_endpoint(endpoint, query=False, driver=self)
        self._credentials = AwsCredentials.resolve(key, secret, token, profile=profile)
        self.region = region
        self.endpoint = base
        self.path_style = endpoint is not None if path_style is None else bool(path_style)
        self.part_plan = part_plan
        self.upload_checksum = upload_checksum
        split = urlsplit(base)
        self._scheme = split.scheme
        self._netloc = split.netloc
        self._base_path = split.path.rstrip("/")
        self._valid_buckets: set[str] = set()
        super().__init__(**options)

    # -- names -------------------------------------------------------------------------

    def _check_container(self, name: object, *, create: bool = False) -> str:
        """A valid bucket name (S3's rules for a new bucket; legacy names are
        accepted for existing ones), else :class:`InvalidInput`."""
        if not create and isinstance(name, str) and name in self._valid_buckets:
            return name
        name = super()._check_container(name)
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

    def _check_meta(self, meta: dict[str, str]) -> dict[str, str]:
        """HTTP-token keys, printable ASCII values without surrounding spaces,
        2 KiB in all; keys lower-cased, as S3 stores them (so they round-trip)."""
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
        return {key.lower(): value for key, value in meta.items()}

    def _check_header(self, name: object, value: object) -> None:
        """Header names are HTTP tokens and values printable ASCII."""
        if (
            not isinstance(name, str)
            or not isinstance(value, str)
            or not _META_KEY.match(name)
            or not _is_printable_ascii(value)
        ):
            raise InvalidInput(f"invalid header {name!r}", driver=self)

    def _extra_headers(self, extra: Mapping[str, Any]) -> dict[str, str]:
        """``extra["acl"]`` is a canned ACL, ``extra["storage_class"]`` a storage class."""
        headers: dict[str, str] = {}
        if extra.get("acl"):
            headers["x-amz-acl"] = str(extra["acl"])
        if extra.get("storage_class"):
            headers["x-amz-storage-class"] = str(extra["storage_class"])
        return headers

    # -- requests ----------------------------------------------------------------------

    def _virtual_hosted(self, bucket: str) -> bool:
        if self.path_style or not _DNS_BUCKET.match(bucket):
            return False
        return not (self._scheme == "https" and "." in bucket)

    def _object_url(self, bucket: str | None = None, key: str | None = None) -> str:
        """The URL of the service, a bucket or an object."""
        if bucket is None:
            return f"{self.endpoint}/"
        path = "/" + _quote_path(key) if key is not None else "/"
        if self._virtual_hosted(bucket):
            return f"{self._scheme}://{bucket}.{self._netloc}{self._base_path}{path}"
        safe = _PATH_SAFE.match(bucket) and "/" not in bucket
        quoted = bucket if safe else quote(bucket, safe="")
        return f"{self.endpoint}/{quoted}{path if key is not None else ''}"

    def _result(self, method: str, url: str, action: str, **options: Any) -> Op[Element]:
        """Send a request whose answer is the XML document ``<{action}Result>``
        (``<{action}Response>`` on some servers); S3 may answer 200 and report
        an error in the body, which is mapped like any other error."""
        resp = yield from self._send(method, url, **cast(SendOptions, options))
        roots = (f"{action}Result", f"{action}Response", "Error")
        element = yield from decode_xml(resp, root=roots, driver=self)
        if xml.local(element.tag) == "Error":
            raise self._error(resp, Outcome(options.get("what", ""), options.get("missing")))
        return element

    # -- errors ------------------------------------------------------------------------

    def _fault(self, resp: Response) -> Fault:
        """S3's ``<Error>`` document (a HEAD answer has none: status only)."""
        return xml_fault(resp, self.request_id_headers)

    def _error(self, resp: Response, outcome: Outcome = _NO_OUTCOME) -> OvercastError:
        """The table's error, except for a bucket in another region than the one
        signed for (named, with the region to use) and data refused for its
        checksum (said so)."""
        fault = self._fault(resp)
        if fault.has_code(REGION_CODES) or resp.status in (301, 307):
            region = resp.headers.get("x-amz-bucket-region") or xml.text(
                xml.parse(resp.body), "Region"
            )
            if region and region != self.region:
                bucket = outcome.what.partition("/")[0]
                return ProviderError(
                    f"bucket {bucket!r} is in region {region!r}; this driver signs for "
                    f"{self.region!r} (pass region={region!r})",
                    status=resp.status, code=fault.code, request_id=fault.request_id,
                    driver=self,
                )
        error = super()._error(resp, outcome)
        if isinstance(error, IntegrityError):
            return IntegrityError(f"the data does not match its checksum: {error}", driver=self)
        return error

    # -- models ------------------------------------------------------------------------

    def _container(self, name: str, extra: dict[str, Any] | None = None) -> Container:
        return Container(name=name, extra=extra or {}, driver=self)

    def _written(
        self, upload: _Upload, size: int, etag: str | None, headers: Mapping[str, str]
    ) -> Object:
        """The object just written (from what was sent and the answer)."""
        extra: dict[str, Any] = {"etag": etag}
        if "x-amz-version-id" in headers:
            extra["version_id"] = headers["x-amz-version-id"]
        return Object(
            name=upload.name,
            size=size,
            hash=_strip_etag(etag),
            extra=extra,
            meta_data=dict(upload.attributes.meta_data),
            container=self._container(upload.container),
            driver=self,
            content_type=upload.attributes.content_type,
        )

    def _from_headers(self, bucket: str, key: str, headers: Mapping[str, str]) -> Object:
        """An object from a HeadObject answer."""
        extra: dict[str, Any] = {"etag": headers.get("ETag")}
        for header, field in (
            ("x-amz-version-id", "version_id"),
            ("x-amz-storage-class", "storage_class"),
            ("x-amz-server-side-encryption", "server_side_encryption"),
            ("x-amz-server-side-encryption-customer-algorithm", "sse_customer_algorithm"),
            ("Cache-Control", "cache_control"),
            ("Content-Encoding", "content_encoding"),
        ):
            if header in headers:
                extra[field] = headers[header]
        obj = Object(
            name=key,
            size=header_int(headers.get("Content-Length")) or 0,
            hash=_strip_etag(headers.get("ETag")),
            extra=extra,
            meta_data=user_meta(headers, "x-amz-meta-", lower=True),
            container=self._container(bucket),
            driver=self,
            content_type=headers.get("Content-Type"),
            last_modified=http_date(headers.get("Last-Modified")),
        )
        obj.content_md5 = self._md5_of(obj)
        return obj

    def _from_listing(self, ref: Container, element: Element, decode: bool) -> Object:
        item = xml.fields(element)
        key = item.get("Key", "")
        etag = item.get("ETag")
        extra: dict[str, Any] = {"etag": etag}
        storage_class = item.get("StorageClass")
        if storage_class:
            extra["storage_class"] = storage_class
        return Object._listed(
            _listed_name(key) if decode else key,
            header_int(item.get("Size", "").strip()) or 0,
            _strip_etag(etag), extra, ref, self, iso_date(item.get("LastModified")),
        )

    def _md5_of(self, obj: Object) -> str | None:
        """The MD5 in the ETag, unless the object is encrypted with KMS or a
        customer key (its ETag is then something else; a listing does not say,
        so a ranged download reads fresh metadata first)."""
        if obj.extra.get("sse_customer_algorithm") or str(
            obj.extra.get("server_side_encryption", "")
        ).lower() == "aws:kms":
            return None
        return super()._md5_of(obj)

    # -- containers --------------------------------------------------------------------

    @iterator
    def iterate_containers(self) -> Iter[Container]:
        """Every bucket (ListBuckets), following continuation tokens where the
        server hands them out."""

        def fetch(token: Cursor | None) -> Op[Page[Container]]:
            params = [("continuation-token", str(token))] if token else []
            root = yield from self._xml("GET", self._object_url(None), params=params,
                                        root="ListAllMyBucketsResult")
            buckets = []
            for element in xml.children(xml.child(root, "Buckets"), "Bucket"):
                extra: dict[str, Any] = {
                    "creation_date": iso_date(xml.text(element, "CreationDate"))
                }
                region = xml.text(element, "BucketRegion")
                if region:
                    extra["region"] = region
                buckets.append(self._container(xml.text(element, "Name") or "", extra))
            return Page.token(buckets, xml.text(root, "ContinuationToken"))

        yield from paginate(fetch, what="ListBuckets", driver=self)

    @operation
    def get_container(self, container_name: str) -> Op[Container]:
        """The bucket ``container_name`` (HeadBucket); ContainerNotFound if absent."""
        name = self._check_container(container_name)
        resp = yield from self._send("HEAD", self._object_url(name), what=name,
                                     missing=ContainerNotFound)
        extra: dict[str, Any] = {}
        if "x-amz-bucket-region" in resp.headers:
            extra["region"] = resp.headers["x-amz-bucket-region"]
        return self._container(name, extra)

    @operation
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a bucket (in the driver's region); ContainerAlreadyExists if it
        exists, whoever owns it."""
        name = self._check_container(container_name, create=True)
        try:
            yield from self.get_container.op(name)
        except (ContainerNotFound, InvalidCredentials):
            # A 403 may be another account's bucket (the create then says
            # BucketAlreadyExists) or bad credentials (the create says which).
            pass
        else:
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
            yield from self._send("PUT", self._object_url(name), headers=headers, body=body,
                                  idempotent=False, what=name, exists=ContainerAlreadyExists)
            return self._container(name, {"region": self.region})

        return (yield from create_once(
            send, lambda: or_none(self.get_container.op(name), ContainerNotFound)
        ))

    @operation
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty bucket; ContainerIsNotEmpty if it holds objects."""
        name = self._check_container(container_name(container))
        yield from self._send("DELETE", self._object_url(name), what=name,
                              missing=ContainerNotFound)
        return True

    # -- listing -----------------------------------------------------------------------

    def _listing(
        self, bucket: str, prefix: str, delimiter: str | None
    ) -> Iter[Object | Prefix]:
        """ListObjectsV2 (``encoding-type=url``), ``page_size`` keys per request,
        following continuation tokens; each page's objects and prefixes in name
        order. Listed objects have no content type or user metadata."""
        ref = self._container(bucket)
        url = self._object_url(bucket)
        query = [("list-type", "2"), ("encoding-type", "url"), ("max-keys", str(self.page_size))]
        if prefix:
            query.append(("prefix", prefix))
        if delimiter:
            query.append(("delimiter", delimiter))

        def fetch(token: Cursor | None) -> Op[Page[Object | Prefix]]:
            params = [*query, ("continuation-token", str(token))] if token else query
            root = yield from self._xml("GET", url, params=params, root="ListBucketResult",
                                        what=bucket, missing=ContainerNotFound)
            decode = (xml.text(root, "EncodingType") or "").lower() == "url"
            entries: list[Object | Prefix] = [
                self._from_listing(ref, element, decode)
                for element in xml.children(root, "Contents")
            ]
            for element in xml.children(root, "CommonPrefixes"):
                common = xml.text(element, "Prefix") or ""
                entries.append(Prefix(_listed_name(common) if decode else common, ref))
            entries.sort(key=_by_name)
            if (xml.text(root, "IsTruncated", strip=True) or "").lower() != "true":
                return Page.last(entries)
            following = xml.text(root, "NextContinuationToken")
            if not following:
                raise ProviderError(
                    "S3 said the listing is truncated but gave no continuation token",
                    driver=self,
                )
            return Page.token(entries, following)

        yield from paginate(fetch, what=f"listing of bucket {bucket!r}", driver=self)

    # -- objects -----------------------------------------------------------------------

    def _head_object(self, bucket: str, key: str) -> Op[Object]:
        """HeadObject: the object's metadata."""
        try:
            resp = yield from self._send("HEAD", self._object_url(bucket, key),
                                         what=f"{bucket}/{key}", missing=ObjectNotFound)
        except ObjectNotFound:
            # HEAD answers carry no error code: tell a missing bucket from a missing key.
            yield from self.get_container.op(bucket)
            raise
        return self._from_headers(bucket, key, resp.headers)

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """An object's size, ETag, content type, last modified time and user
        metadata (HeadObject); ObjectNotFound if absent."""
        bucket = self._check_container(container_name)
        key = self._check_object(object_name)
        return (yield from self._head_object(bucket, key))

    def _part_target(self, container: str, name: str, attributes: Attributes, *,
                     verify: bool) -> _Upload:
        """PutObject up to ``part_plan.threshold``, else a multipart upload; every
        request carries the upload checksum (``upload_checksum``), which S3
        checks whatever ``verify`` says."""
        return _Upload(self, container, name, attributes)

    def _read_range(self, obj: Object, span: Span) -> Op[Ranged]:
        """GetObject, with ``Range`` for a partial read. A full read asks for the
        object's checksum and is checked against the cheapest full-object one it
        has (``x-amz-checksum-crc32c``, ``-crc32``, ``-sha1``, ``-sha256``), else
        against the MD5 in the ETag when the ETag is one (not for objects
        uploaded in parts, whose ETag ends in ``-N``, nor for objects encrypted
        with KMS or a customer key). A small read (of an object whose size is
        known) is fetched whole and checked before a byte is handed over."""
        full = span.full
        # A full read asks for the object's own checksum, if it has one.
        headers = {"x-amz-checksum-mode": "ENABLED"} if full else {"Range": span.header}
        if span.etag:
            headers["If-Match"] = span.etag
        size, end = obj.size, span.end
        small = size >= 0 and (size if end is None else end) - span.start <= SMALL_READ
        # The hot path of small reads: the request built here, sent as prepared.
        request = Request("GET", self._object_url(span.container, span.name), headers,
                          stream=not small)
        resp = yield from self._exchange(request, ok=(416,), what=span.what,
                                         missing=ObjectNotFound)
        return self._ranged(resp, span, self._whole_checks(resp, span.name) if full else ())

    def _whole_checks(self, resp: Response, name: str) -> list[ChunkObserver]:
        """The checks of a full read: the object's own checksum, else its MD5 ETag."""
        headers = resp.headers
        checksum = _full_object_checksum(headers)
        if checksum is not None:
            return [ChecksumCheck(*checksum, name, driver=self)]
        etag = _strip_etag(headers.get("ETag"))
        if is_md5(etag) and not _encrypted_with_a_key(headers):
            return [HashCheck("md5", etag or "", name, driver=self)]
        return []

    @operation
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete an object (DeleteObject); ObjectNotFound if absent (checked with a
        HeadObject first, as S3 answers 204 for a missing key)."""
        bucket = self._check_container(obj.container_name)
        key = self._check_object(obj.name)
        yield from self._head_object(bucket, key)
        yield from self._send("DELETE", self._object_url(bucket, key), what=f"{bucket}/{key}",
                              missing=ObjectNotFound)
        return True

    @operation
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy an object server-side, with its content type and user metadata
        (CopyObject with the COPY metadata directive; objects over 5 GiB are
        copied in parts with UploadPartCopy)."""
        bucket = self._check_container(obj.container_name)
        key = self._check_object(obj.name)
        target_bucket = self._check_container(container_name(target_container))
        target_key = self._check_object(target_name or obj.name)
        source = yield from self._head_object(bucket, key)
        copy_source = f"/{bucket}/{quote(key, safe='/')}"
        upload = _Upload(self, target_bucket, target_key, Attributes(
            source.content_type or DEFAULT_CONTENT_TYPE, dict(source.meta_data)
        ))
        if source.size > MAX_COPY_SIZE:
            return (yield from self._copy_in_parts(source, copy_source, upload))
        headers = {"x-amz-copy-source": copy_source, "x-amz-metadata-directive": "COPY"}
        etag = source.extra.get("etag")
        if etag:
            headers["x-amz-copy-source-if-match"] = etag
        root = yield from self._result("PUT", upload.url, "CopyObject", headers=headers,
                                       what=upload.what, missing=ContainerNotFound)
        copied = self._written(upload, source.size, xml.text(root, "ETag"), {})
        copied.last_modified = iso_date(xml.text(root, "LastModified"))
        return copied

    def _copy_in_parts(self, source: Object, copy_source: str, upload: _Upload) -> Op[Object]:
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
            root = yield from self._result(
                "PUT", upload.url, "CopyPart",
                params=[("partNumber", str(number)), ("uploadId", upload_id)],
                headers=headers, what=upload.what, missing=ContainerNotFound,
            )
            upload.sizes[number] = end - start
            return number, xml.text(root, "ETag") or ""

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
        bucket = self._check_container(obj.container_name)
        key = self._check_object(obj.name)
        now: float = yield Call(time.time)
        renew = self._refresh(now)
        if renew is not None:  # temporary credentials not fetched yet, or about to expire
            yield from renew
        return presign_url(verb, self._object_url(bucket, key), self._credentials, self.region,
                           "s3", now, expires)

    # -- extensions --------------------------------------------------------------------

    @operation
    def ex_delete_objects(
        self, container: ContainerRef, names: Iterable[str]
    ) -> Op[dict[str, str]]:
        """Delete many objects with DeleteObjects, 1000 names per request.

        Returns the names S3 could not delete, each with its error code (empty
        when every name was deleted). Like S3, a name that does not exist counts
        as deleted."""
        bucket = self._check_container(container_name(container))
        keys = list(dict.fromkeys(self._check_object(name) for name in names))
        for key in keys:
            if _XML_INVALID.search(key):
                raise InvalidInput(
                    f"object name {key!r} holds characters XML cannot carry; delete it alone",
                    driver=self,
                )
        batches = [keys[i : i + MAX_DELETE_BATCH] for i in range(0, len(keys), MAX_DELETE_BATCH)]
        url = self._object_url(bucket)

        def one(batch: list[str]) -> Op[dict[str, str]]:
            objects = "".join(f"<Object>{_tag('Key', key)}</Object>" for key in batch)
            body = (f'<Delete xmlns="{S3_XMLNS}"><Quiet>true</Quiet>{objects}</Delete>').encode()
            md5 = yield from _md5_header(body)
            root = yield from self._result(
                "POST", url, "Delete", params=[("delete", "")],
                headers={"Content-MD5": md5, "Content-Type": "application/xml"},
                body=body, idempotent=True, what=bucket, missing=ContainerNotFound,
            )
            return {
                xml.text(error, "Key") or "": xml.text(error, "Code") or "Error"
                for error in xml.children(root, "Error")
            }

        failed: dict[str, str] = {}
        if batches:
            results: list[dict[str, str]] = yield Parallel(
                [one(batch) for batch in batches], limit=self.part_plan.concurrency
            )
            for result in results:
                failed.update(result)
        return failed

