"""Azure Blob Storage: containers and block blobs over the REST API (2021-08-06).

Requests are signed with Shared Key (:mod:`overcast.auth.azure_shared_key`)
when the driver has the account key, or carry a SAS token, or go anonymous
(public containers). Responses are XML, parsed with :mod:`defusedxml`.

How the service maps onto overcast's model:

* ``Object.hash`` is the blob's ETag as the service gives it (Apache
  Libcloud's meaning); ``Object.content_md5`` is its ``Content-MD5`` as hex
  when it has one (every blob overcast writes does), which downloads are
  checked against. ``extra`` holds ``etag`` (unquoted), ``content_md5``
  (base64, as Azure gives it), ``blob_type`` and the lease and access-tier
  fields the service reports, and Libcloud's ``content_type`` and
  ``md5_hash`` (hex).
* Uploads go through the base class's flow and
  :func:`overcast.storage.transfer.upload_in_parts`: a
  small object is one *Put Blob* with ``Content-MD5``; a larger one is staged
  as blocks (*Put Block*, ``concurrency`` at a time, each with its own
  ``Content-MD5``, which the service verifies) and committed in order with one
  *Put Block List* that also sets ``x-ms-blob-content-md5``, the MD5 of the
  whole stream computed as it passed. Block ids are base64 of 24 bytes,
  ``<16 random hex>-<7-digit block number>``: all the same length, unique per
  upload so concurrent writers of one name never mix blocks.
* ``upload_object(..., resume=True)`` (:attr:`resumable_uploads`; the CLI's
  ``cp``/``sync`` unless ``--no-resume``) makes the block ids prove their
  content instead: base64 of ``<the block's MD5, 16 bytes>-<7-digit block
  number>``, the same length as the random ids, so blocks of both kinds can be
  staged for one name. Azure keeps no checksum per block, but *Put Block*
  checks the ``Content-MD5`` sent with it, so a staged block under such an id
  holds the bytes of that MD5. A resumed upload reads the blob's uncommitted
  blocks (*Get Block List*, ``blocklisttype=uncommitted``) and sends only the
  blocks whose id (this block's MD5 and number) and size are not listed; the
  commit names the reused and the new blocks. No list, or an empty one: every
  block is sent. A failed resumable upload is left uncommitted as any failed
  upload is (below); the next resumable one reuses its blocks. Uncommitted
  blocks whose ids have another length (staged by another client) make the
  resumed upload fail before it sends anything, as *Put Block* would. Unlike
  S3's unfinished upload, the blocks keep no content type or metadata: the
  resumed upload's commit sets them.
* An upload that fails or is cancelled commits nothing, so no blob (and no new
  version of an existing blob) appears. Azure has no call that discards
  uncommitted blocks: the service garbage-collects them (on Azure, a week
  after they were staged if never committed; the next *Put Block List* of the
  name drops them at once). Azurite 3.35 keeps them, invisible to listings and
  reads (*Get Block List* shows them as uncommitted), until a block list is
  committed under that name or the container is deleted; a *Put Blob* of the
  name does not drop them. Staged blocks of an aborted upload can make another
  client's block upload of the same name fail for that time if its block ids
  have another length (the service requires one length per blob).
* Full downloads are checked against the ``Content-MD5`` header of the response
  (and its length); ranged reads use ``x-ms-range``. Blobs above
  ``part_plan.threshold`` are downloaded to a file as parallel ranges of the
  version current when the download starts (``If-Match`` its ETag), checked
  against the blob's ``Content-MD5`` before the rename.
* ``delete_container`` lists one blob first and raises
  :class:`~overcast.errors.ContainerIsNotEmpty`: Azure itself would delete a
  container with everything in it.
* ``copy_object`` is *Copy Blob* (server side), polled with ``Sleep`` until
  ``x-ms-copy-status`` is ``success``.
* ``get_object_presigned_url`` returns a blob SAS URL (needs the account key).
* Errors: the error table maps ``x-ms-error-code`` (or the XML ``<Code>``):
  ``ContainerNotFound``, ``BlobNotFound``, ``ContainerAlreadyExists``,
  ``Md5Mismatch`` map to overcast's errors; ``AuthenticationFailed`` and other
  403s to :class:`~overcast.errors.InvalidCredentials`; ``ServerBusy`` (503)
  is throttling: the runtime retries it whatever the method.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from typing import ClassVar
from typing import Final
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from overcast import xml
from overcast.auth.azure_shared_key import API_VERSION
from overcast.auth.azure_shared_key import blob_sas
from overcast.auth.azure_shared_key import check_account_key
from overcast.auth.azure_shared_key import parse_connection_string
from overcast.auth.azure_shared_key import sign_request
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
from overcast.runtime.api import xml_fault
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
from overcast.runtime.ops import poll
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.options import libcloud_endpoint
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret
from overcast.runtime.streams import ByteStream
from overcast.storage.base import Attributes
from overcast.storage.base import Container
from overcast.storage.base import ContainerRef
from overcast.storage.base import Object
from overcast.storage.base import ObjectUpload
from overcast.storage.base import Prefix
from overcast.storage.base import StorageDriver
from overcast.storage.base import container_name
from overcast.storage.checks import HashCheck
from overcast.storage.checks import b64_to_hex
from overcast.storage.checks import md5_b64
from overcast.storage.http import StorageApi
from overcast.storage.http import header_int
from overcast.storage.http import http_date
from overcast.storage.http import user_meta
from overcast.storage.transfer import OpenUpload
from overcast.storage.transfer import PartPlan
from overcast.storage.transfer import Ranged
from overcast.storage.transfer import Span
from overcast.storage.transfer import upload_in_parts

__all__ = ["DEFAULT_PART_PLAN", "AzureBlobsStorageDriver"]

MiB: Final = 1024 * 1024
#: Azure's limits for block blobs (service version 2019-12-12 and later).
MAX_BLOCKS: Final = 50_000
MAX_BLOCK_SIZE: Final = 4000 * MiB
MAX_PUT_BLOB: Final = 5000 * MiB
#: Uploads of up to 32 MiB go in one Put Blob; larger ones in 8 MiB blocks, 4 at a time.
DEFAULT_PART_PLAN: Final = PartPlan(
    threshold=32 * MiB,
    part_size=8 * MiB,
    max_part_size=MAX_BLOCK_SIZE,
    max_parts=MAX_BLOCKS,
    concurrency=4,
)
MAX_PAGE_SIZE: Final = 5000
#: Blob endpoints of the national clouds and Private Link, whose host names
#: carry the account as the public cloud's do (Apache Libcloud's list).
BLOB_HOST_SUFFIXES: Final = ("blob.core.chinacloudapi.cn", "blob.core.usgovcloudapi.net",
                             "privatelink.blob.core.windows.net")
MAX_BLOB_NAME: Final = 1024
#: How long copy_object waits for a pending copy, and how often it looks.
COPY_TIMEOUT: Final = 600.0
COPY_POLL_MAX: Final = 5.0

_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_SPECIAL_CONTAINERS = frozenset({"$root", "$logs", "$web"})
_META_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NO_OUTCOME: Final = Outcome()
# Path characters sent as they are; yarl (aiohttp) leaves exactly these alone, so
# the path signed is the path sent whatever the transport.
_PATH_SAFE = "/-_.~!$&'()*,;=:@"
_CREDENTIAL_CODES = frozenset(
    {
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "AuthorizationResourceTypeMismatch",
        "AuthorizationServiceMismatch",
        "AuthorizationProtocolMismatch",
        "AuthorizationSourceIPMismatch",
        "InvalidAuthenticationInfo",
        "NoAuthenticationInformation",
        "InsufficientAccountPermissions",
    }
)
_INPUT_CODES = frozenset(
    {
        "InvalidResourceName",
        "InvalidUri",
        "OutOfRangeInput",
        "InvalidMetadata",
        "InvalidHeaderValue",
        "InvalidRange",
        "InvalidQueryParameterValue",
        "OutOfRangeQueryParameterValue",
        "RequestBodyTooLarge",
    }
)
_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
#: Every block id overcast stages is base64 of 24 bytes: a 16-byte prefix (random
#: hex, or a resumable block's MD5), ``-`` and the block number in 7 digits.
_BLOCK_ID_LENGTH: Final = 32
#: The "upload id" of a resumed upload: its uncommitted blocks have no id of their own.
_UNCOMMITTED: Final = "uncommitted"


# -- XML ---------------------------------------------------------------------------


def _name(element: Element | None) -> str:
    """A ``<Name>`` value; ``Encoded="true"`` names are percent-encoded."""
    if element is None:
        return ""
    text = element.text or ""
    if (element.get("Encoded") or "").lower() == "true":
        return unquote(text)
    return text


def _md5_hex(content_md5: str | None) -> str | None:
    """A ``Content-MD5`` (base64) as hex, if it is an MD5."""
    value = b64_to_hex(content_md5)
    return value if value is not None and len(value) == 32 else None


def _etag(value: str | None) -> str | None:
    return (value or "").strip('"') or None


def _block_id(prefix: bytes, number: int) -> str:
    """The block id of block ``number``: base64 of ``prefix`` (16 bytes), ``-``
    and the number in 7 digits."""
    return base64.b64encode(prefix + f"-{number:07d}".encode()).decode("ascii")


def _block_number(block_id: str) -> int | None:
    """The block number in a block id overcast made (either kind), else None."""
    try:
        raw = base64.b64decode(block_id, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 24 or raw[16:17] != b"-" or not raw[17:].isdigit():
        return None
    return int(raw[17:])


class _StreamDigest:
    """Counts and MD5-hashes an upload's source as its chunks pass."""

    __slots__ = ("md5", "size")

    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, chunk: PartData) -> None:
        """Account for one chunk."""
        self.md5.update(chunk)
        self.size += len(chunk)

    def finish(self) -> None:
        """Nothing to check: the digest is sent with the commit."""

    def b64(self) -> str:
        """The MD5 of everything seen, base64."""
        return base64.b64encode(self.md5.digest()).decode("ascii")


class _BlockUpload(ObjectUpload["AzureBlobsStorageDriver"]):
    """The :class:`~overcast.storage.transfer.PartTarget` of one blob upload."""

    def __init__(self, driver: AzureBlobsStorageDriver, container: str, blob: str,
                 attributes: Attributes, digest: _StreamDigest) -> None:
        super().__init__(driver, container, blob, attributes)
        self.digest = digest
        self.url = driver._blob_url(container, blob)
        self.what = f"{container}/{blob}"
        #: Block MD5s (base64) already computed, by block number, for put_part.
        self.md5s: dict[int, str] = {}

    def _blob_headers(self) -> dict[str, str]:
        headers = dict(self.attributes.headers)
        headers["x-ms-blob-content-type"] = self.attributes.content_type
        for key, value in self.attributes.meta_data.items():
            headers[f"x-ms-meta-{key}"] = value
        return headers

    def _put(self, headers: Mapping[str, str], body: PartData,
             params: list[tuple[str, str]] | None = None) -> Op[Response]:
        return self.driver._send("PUT", self.url, params=params or [], headers=headers,
                                 body=body, what=self.what, missing=ContainerNotFound)

    def put_whole(self, data: PartData) -> Op[Object]:
        """*Put Blob*: the whole object in one request, checked by ``Content-MD5``."""
        md5: str = yield Call(md5_b64, data)
        headers = self._blob_headers()
        headers.update({"x-ms-blob-type": "BlockBlob", "Content-MD5": md5})
        resp = yield from self._put(headers, data)
        return self.driver._uploaded(self, resp, len(data), md5)

    def begin(self) -> Op[str]:
        """A new upload id: the random prefix of this upload's block ids."""
        yield from ()
        return uuid.uuid4().hex[:16]

    def block_id(self, upload_id: str, number: int, md5: str) -> str:
        """The id of block ``number`` of this upload (``md5``: the block's, base64):
        unique to the upload (its random ``upload_id``)."""
        return _block_id(upload_id.encode("ascii"), number)

    def put_part(self, upload_id: str, number: int, data: PartData, last: bool) -> Op[str]:
        """*Put Block*: stage block ``number`` with its own ``Content-MD5``."""
        md5 = self.md5s.pop(number, None)
        if md5 is None:
            md5 = yield Call(md5_b64, data)
        block_id = self.block_id(upload_id, number, md5)
        yield from self._put({"Content-MD5": md5}, data,
                             [("comp", "block"), ("blockid", block_id)])
        return block_id

    def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[Object]:
        """*Put Block List*: commit the blocks in order, with the whole MD5."""
        blocks = "".join(f"<Latest>{xml.escape(block)}</Latest>" for _, block in parts)
        body = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{blocks}</BlockList>'.encode()
        headers = self._blob_headers()
        headers["x-ms-blob-content-md5"] = md5 = self.digest.b64()
        headers["Content-Type"] = "application/xml"
        resp = yield from self._put(headers, body, [("comp", "blocklist")])
        return self.driver._uploaded(self, resp, self.digest.size, md5)

    def abort(self, upload_id: str) -> Op[None]:
        """Nothing to send: no block list was committed, so no blob appears, and
        Azure has no call that drops uncommitted blocks (the service
        garbage-collects them)."""
        yield from ()


class _ResumableBlockUpload(_BlockUpload):
    """The :class:`~overcast.storage.transfer.ResumableTarget` of one blob
    upload: block ids made of each block's MD5 and number, so the blocks an
    interrupted upload staged are found again (*Get Block List*) and reused."""

    def __init__(self, driver: AzureBlobsStorageDriver, container: str, blob: str,
                 attributes: Attributes, digest: _StreamDigest) -> None:
        super().__init__(driver, container, blob, attributes, digest)
        #: The blob's uncommitted blocks: id -> size.
        self.staged: dict[str, int] = {}

    def block_id(self, upload_id: str, number: int, md5: str) -> str:
        """The id of block ``number`` holding the bytes of ``md5`` (base64),
        whatever the upload: the MD5's 16 bytes, ``-``, the number."""
        return _block_id(base64.b64decode(md5), number)

    def find_open(self) -> Op[OpenUpload | None]:
        """The blob's uncommitted blocks (*Get Block List*,
        ``blocklisttype=uncommitted``), by block number where the id is one
        overcast makes (the last staged of a number listed); None if there are
        none (or no blob of that name at all)."""
        root = yield from or_none(self.driver._xml(
            "GET", self.url, params=[("comp", "blocklist"), ("blocklisttype", "uncommitted")],
            root="BlockList", what=self.container, missing=ContainerNotFound,
        ), ObjectNotFound)
        parts: dict[int, tuple[int, str]] = {}
        for block in xml.children(xml.child(root, "UncommittedBlocks"), "Block"):
            block_id, size = xml.text(block, "Name") or "", xml.text(block, "Size") or ""
            if len(block_id) != _BLOCK_ID_LENGTH:
                raise ProviderError(
                    f"{self.what} has uncommitted blocks staged by another client (block ids "
                    "of another length): Azure takes no block of this upload until a block "
                    "list is committed under this name or it drops them (a week after "
                    "staging)", code="InvalidBlobOrBlock", driver=self.driver,
                )
            if not size.isdigit():
                continue
            self.staged[block_id] = int(size)
            number = _block_number(block_id)
            if number is not None:
                parts[number] = (int(size), block_id)
        return OpenUpload(_UNCOMMITTED, parts) if self.staged else None

    def reuse_part(self, upload_id: str, number: int, data: PartData,
                   listed: tuple[int, str]) -> Op[str | None]:
        """The id of block ``number`` if the blob holds an uncommitted block
        under the id ``data`` makes (its MD5 and number) with ``data``'s size,
        else None (``data``'s MD5 is kept for the *Put Block*)."""
        md5: str = yield Call(md5_b64, data)
        block_id = self.block_id(upload_id, number, md5)
        if self.staged.get(block_id) != len(data):
            self.md5s[number] = md5
            return None
        return block_id


class AzureBlobsStorageDriver(StorageApi, StorageDriver):
    """Azure Blob Storage (block blobs), Shared Key or SAS.

    ``key`` is the storage account name and ``secret`` its base64 account key;
    or give ``connection_string`` (``AccountName=...;AccountKey=...`` or
    ``UseDevelopmentStorage=true``), or a ``sas_token`` (an account or container
    SAS, with or without its ``?``). ``endpoint`` is the blob service URL:
    ``https://<account>.blob.core.windows.net`` by default, or a path-style URL
    such as Azurite's ``http://127.0.0.1:10000/devstoreaccount1``.
    ``part_plan`` says when and how uploads go in blocks; ``page_size`` (at
    most 5000) how many entries each listing request asks for. ``**options``
    are the runtime options. No request is made here.

    >>> blobs = AzureBlobsStorageDriver("devstoreaccount1", "Eby8...",  # doctest: +SKIP
    ...     endpoint="http://127.0.0.1:10000/devstoreaccount1")
    """

    name: ClassVar[str] = "azure_blobs"
    label: ClassVar[str] = "Azure"
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-ms-request-id",)
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(ContainerNotFound, code="ContainerNotFound"),
        When(ObjectNotFound, code=("BlobNotFound", "CannotVerifyCopySource")),
        When(ContainerAlreadyExists, code="ContainerAlreadyExists"),
        When(RateLimited, code="ServerBusy"),
        When(InvalidCredentials, code=_CREDENTIAL_CODES),
        When(IntegrityError, code="Md5Mismatch"),
        When(InvalidInput, code=_INPUT_CODES),
        When(InvalidInput, status=416),
    )
    ascii_content_type: ClassVar[bool] = True
    #: Blob names are counted in characters (checked below); this bounds the bytes.
    max_object_name_bytes: ClassVar[int] = 4 * MAX_BLOB_NAME
    parallel_ranges: ClassVar[bool] = True
    resumable_uploads: ClassVar[bool] = True

    @staticmethod
    def _libcloud_host(account: str | None, secure: bool, host: str | None, port: int | None,
                       endpoint: str | None) -> str | None:
        """``endpoint`` from Apache Libcloud's ``host``/``port``/``secure``: a host
        ending in a national cloud's or Private Link's blob suffix is that cloud's
        ``<account>.<suffix>``; any other host (Azurite, IoT Edge) carries the
        account in the path, ``http(s)://host:port/<account>``."""
        if host is None:
            return libcloud_endpoint(endpoint, host, port, secure)
        suffix = next((s for s in BLOB_HOST_SUFFIXES if host.endswith(s)), None)
        if suffix is not None:
            return libcloud_endpoint(endpoint, f"{account}.{suffix}", port, secure)
        return libcloud_endpoint(endpoint, host, port, secure, path=f"/{account}")

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 secure: bool = True, host: str | None = None, port: int | None = None, *,
                 endpoint: str | None = None, connection_string: str | Secret | None = None,
                 sas_token: str | Secret | None = None, part_plan: PartPlan = DEFAULT_PART_PLAN,
                 page_size: int = MAX_PAGE_SIZE, **options: Any) -> None:
        self.credential_source = "explicit"
        if not (key or secret or connection_string is not None or sas_token):
            # As the az CLI: AZURE_STORAGE_CONNECTION_STRING, else AZURE_STORAGE_ACCOUNT
            # with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN.
            from overcast.auth.azure_credentials import blob_settings_from_environment

            found = blob_settings_from_environment()
            if found is not None:
                connection_string = found.connection_string
                key, secret, sas_token = found.account, found.account_key, found.sas_token
                self.credential_source = found.source
        account: str | None = key
        account_key: Secret | None = Secret(secret) if secret else None
        sas: Secret | None = Secret(sas_token) if sas_token else None
        base = self._libcloud_host(key, secure, host, port, endpoint)
        if connection_string is not None:
            settings = parse_connection_string(connection_string)
            account = account or settings.account_name
            account_key = account_key or settings.account_key
            sas = sas or settings.sas_token
            base = base or settings.blob_endpoint
        if base is None:
            if not account:
                raise InvalidInput(
                    "give the account name (key), an endpoint or a connection string"
                )
            base = f"https://{account}.blob.core.windows.net"
        base = check_endpoint(base, query=False)
        parts = urlsplit(base)
        if not account:
            host = parts.hostname or ""
            account = host.split(".", 1)[0] if ".blob." in host else None
        if account_key is not None:
            if not account:
                raise InvalidInput("an account key needs the account name (key=)")
            check_account_key(account_key)
        if not isinstance(part_plan, PartPlan):
            raise InvalidInput("part_plan must be a PartPlan")
        if part_plan.threshold > MAX_PUT_BLOB or part_plan.part_size > MAX_BLOCK_SIZE:
            raise InvalidInput("part_plan exceeds Azure's Put Blob or block size limits")
        self.page_size = check_page_size(page_size, maximum=MAX_PAGE_SIZE)
        self.account = account
        self.endpoint = base
        self.part_plan = part_plan
        self._account_key = account_key
        self._sas = Secret(sas.reveal().lstrip("?")) if sas else None
        super().__init__(**options)

    # -- runtime hooks -------------------------------------------------------------

    def _sign(self, request: Request, now: float) -> Request:
        """Shared Key when the driver has the account key; else the SAS token
        (or nothing, for public containers) with ``x-ms-version``."""
        if self._account_key is not None and self.account:
            return sign_request(request, self.account, self._account_key, now)
        request = request.with_headers({"x-ms-version": API_VERSION})
        if self._sas is not None:
            sep = "&" if "?" in request.url else "?"
            request = replace(request, url=f"{request.url}{sep}{self._sas.reveal()}")
        return request

    def _secrets(self) -> tuple[Secret, ...]:
        return tuple(s for s in (self._account_key, self._sas) if s is not None)

    def _repr_fields(self) -> dict[str, object]:
        return {"account": self.account, "endpoint": self.endpoint}

    def _fault(self, resp: Response) -> Fault:
        """The code from ``x-ms-error-code`` (a HEAD answer has no body) or the
        XML ``<Code>``; the first line of ``<Message>`` (the rest is the request
        id and time), with anything that looks like a signature hidden."""
        if resp.body.lstrip().startswith(b"<"):
            fault = xml_fault(resp, self.request_id_headers)
        else:
            request_id = resp.headers.get("x-ms-request-id")
            fault = Fault(resp.status, None, resp.text[:300], request_id)
        code = resp.headers.get("x-ms-error-code") or fault.code
        message = _LONG_BASE64.sub("***", fault.message.strip().split("\n", 1)[0])
        return Fault(resp.status, code, message, fault.request_id,
                     frozenset({code}) if code else frozenset())

    # -- names and URLs -------------------------------------------------------------

    def _check_container(self, name: object) -> str:
        """3-63 lower-case letters, digits and single hyphens (or ``$root``,
        ``$logs``, ``$web``)."""
        if not isinstance(name, str) or not (
            _CONTAINER_NAME.match(name) or name in _SPECIAL_CONTAINERS
        ):
            raise InvalidInput(
                f"invalid Azure container name {name!r}: 3-63 lower-case letters, digits "
                "and single hyphens, starting and ending with a letter or digit",
                driver=self,
            )
        return name

    def _check_object(self, name: object) -> str:
        """The shared rules, at most 1024 characters and no control character."""
        name = super()._check_object(name)
        if len(name) > MAX_BLOB_NAME or _CONTROL.search(name):
            raise InvalidInput(
                f"invalid blob name {name!r}: over {MAX_BLOB_NAME} characters or a control "
                "character",
                driver=self,
            )
        return name

    def _check_meta(self, meta: dict[str, str]) -> dict[str, str]:
        """Names are C# identifiers; values ASCII without control characters."""
        for key, value in meta.items():
            if not isinstance(key, str) or not _META_NAME.match(key):
                raise InvalidInput(
                    f"Azure metadata names must be C# identifiers: {key!r}", driver=self
                )
            if not isinstance(value, str) or not value.isascii() or _CONTROL.search(value):
                raise InvalidInput(
                    f"Azure metadata values must be ASCII without control characters: {key!r}",
                    driver=self,
                )
        return meta

    def _check_header(self, name: object, value: object) -> None:
        """The shared rules; ``Authorization`` is the signer's."""
        super()._check_header(name, value)
        if str(name).lower() == "authorization":
            raise InvalidInput(f"invalid header {name!r}", driver=self)

    def _blob_url(self, container: str | None = None, blob: str | None = None) -> str:
        """The URL of the service, a container or a blob."""
        url = self.endpoint
        if container is not None:
            url += "/" + quote(container, safe="$")
            if blob is not None:
                url += "/" + quote(blob, safe=_PATH_SAFE)
        else:
            url += "/"
        return url

    # -- models ------------------------------------------------------------------------

    def _object(self, container: Container, name: str, fields: Mapping[str, str | None]
                ) -> Object:
        """An object from its properties (a HEAD answer's headers or a listing's
        ``<Properties>``, by the same names)."""
        content_md5 = fields.get("Content-MD5") or None
        raw_etag = fields.get("ETag") or fields.get("Etag")
        etag = _etag(raw_etag)
        extra: dict[str, Any] = {
            "etag": etag,
            "content_md5": content_md5,
            "blob_type": fields.get("x-ms-blob-type") or fields.get("BlobType"),
            "lease_state": fields.get("x-ms-lease-state") or fields.get("LeaseState"),
            "access_tier": fields.get("x-ms-access-tier") or fields.get("AccessTier"),
            "last_modified": fields.get("Last-Modified"),
            # Apache Libcloud's keys for the same facts.
            "content_type": fields.get("Content-Type") or None,
            "md5_hash": _md5_hex(content_md5),
        }
        return Object(
            name=name,
            size=header_int((fields.get("Content-Length") or "").strip()) or 0,
            hash=raw_etag or None,
            extra=extra,
            container=container,
            driver=self,
            content_type=fields.get("Content-Type") or None,
            last_modified=http_date(fields.get("Last-Modified")),
            content_md5=_md5_hex(content_md5),
        )

    def _object_from_headers(self, container: str, name: str, headers: Mapping[str, str]
                             ) -> Object:
        obj = self._object(Container(name=container, driver=self), name, headers)
        obj.meta_data = user_meta(headers, "x-ms-meta-", lower=False)
        return obj

    def _object_from_xml(self, container: Container, element: Element) -> Object:
        props = xml.child(element, "Properties")
        fields = {xml.local(item.tag): item.text for item in (props if props is not None else [])}
        obj = self._object(container, _name(xml.child(element, "Name")), fields)
        meta_element = xml.child(element, "Metadata")
        obj.meta_data = {
            xml.local(item.tag): item.text or ""
            for item in (meta_element if meta_element is not None else [])
        }
        return obj

    def _uploaded(self, upload: _BlockUpload, resp: Response, size: int, md5: str) -> Object:
        return Object(
            name=upload.name,
            size=size,
            hash=resp.headers.get("ETag") or None,
            extra={
                "etag": _etag(resp.headers.get("ETag")),
                "content_md5": md5,
                "blob_type": "BlockBlob",
                "last_modified": resp.headers.get("Last-Modified"),
            },
            meta_data=dict(upload.attributes.meta_data),
            container=Container(name=upload.container, driver=self),
            driver=self,
            content_type=upload.attributes.content_type,
            last_modified=http_date(resp.headers.get("Last-Modified")),
            content_md5=_md5_hex(md5),
        )

    def _container_from(self, name: str, fields: Mapping[str, str | None]) -> Container:
        """A container from its properties (a HEAD answer's headers or a
        listing's ``<Properties>``)."""
        return Container(
            name=name,
            extra={
                "etag": _etag(fields.get("ETag") or fields.get("Etag")),
                "last_modified": fields.get("Last-Modified"),
                "lease_state": fields.get("x-ms-lease-state") or fields.get("LeaseState"),
                "public_access": fields.get("x-ms-blob-public-access")
                or fields.get("PublicAccess"),
            },
            driver=self,
        )

    # -- containers -----------------------------------------------------------------

    @iterator
    def iterate_containers(self) -> Iter[Container]:
        """Every container of the account (*List Containers*, page by page)."""

        def fetch(marker: Cursor | None) -> Op[Page[Container]]:
            params = [("comp", "list"), ("maxresults", str(self.page_size))]
            if marker:
                params.append(("marker", str(marker)))
            root = yield from self._xml("GET", self._blob_url(), params=params,
                                        root="EnumerationResults")
            found = []
            for element in xml.children(xml.child(root, "Containers"), "Container"):
                props = xml.child(element, "Properties")
                fields = {xml.local(p.tag): p.text for p in (props if props is not None else [])}
                found.append(self._container_from(xml.text(element, "Name") or "", fields))
            following = xml.text(root, "NextMarker")
            return Page.marker(found, bool(following), next_marker=following)

        yield from paginate(fetch, what="List Containers", driver=self)

    @operation
    def get_container(self, container_name: str) -> Op[Container]:
        """A container by name (*Get Container Properties*)."""
        name = self._check_container(container_name)
        resp = yield from self._send("HEAD", self._blob_url(name),
                                     params=[("restype", "container")], what=name,
                                     missing=ContainerNotFound)
        container = self._container_from(name, resp.headers)
        container.extra["meta_data"] = user_meta(resp.headers, "x-ms-meta-", lower=False)
        return container

    @operation
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a private container (*Create Container*); if the answer is lost,
        the container is looked up before the create is sent again."""
        name = self._check_container(container_name)

        def send() -> Op[Container]:
            resp = yield from self._send("PUT", self._blob_url(name),
                                         params=[("restype", "container")], idempotent=False,
                                         what=name, exists=ContainerAlreadyExists)
            container = self._container_from(name, resp.headers)
            container.extra["meta_data"] = {}
            return container

        return (yield from create_once(
            send, lambda: or_none(self.get_container.op(name), ContainerNotFound)
        ))

    @operation
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty container; :class:`ContainerIsNotEmpty` if it holds a
        blob (Azure itself would delete the blobs with it)."""
        name = self._check_container(container_name(container))
        url = self._blob_url(name)
        root = yield from self._xml(
            "GET", url, params=[("restype", "container"), ("comp", "list"), ("maxresults", "1")],
            root="EnumerationResults", what=name, missing=ContainerNotFound,
        )
        blobs = xml.child(root, "Blobs")
        if blobs is not None and len(blobs):
            raise ContainerIsNotEmpty(f"container {name!r} is not empty", driver=self)
        yield from self._send("DELETE", url, params=[("restype", "container")], what=name,
                              missing=ContainerNotFound)
        return True

    # -- listing ------------------------------------------------------------------------

    def _listing(
        self, container: str, prefix: str, delimiter: str | None
    ) -> Iter[Object | Prefix]:
        """*List Blobs* (with metadata), ``page_size`` per request, following
        ``NextMarker``; each page in name order. Without a delimiter Azure lists
        no ``BlobPrefix`` entries."""
        ref = Container(name=container, driver=self)
        url = self._blob_url(container)
        query = [
            ("restype", "container"),
            ("comp", "list"),
            ("include", "metadata"),
            ("maxresults", str(self.page_size)),
        ]
        if prefix:
            query.append(("prefix", prefix))
        if delimiter:
            query.append(("delimiter", delimiter))

        def fetch(marker: Cursor | None) -> Op[Page[Object | Prefix]]:
            params = [*query, ("marker", str(marker))] if marker else query
            root = yield from self._xml("GET", url, params=params, root="EnumerationResults",
                                        what=container, missing=ContainerNotFound)
            entries: list[Object | Prefix] = []
            for element in xml.child(root, "Blobs") or []:
                kind = xml.local(element.tag)
                if kind == "Blob":
                    entries.append(self._object_from_xml(ref, element))
                elif kind == "BlobPrefix":
                    entries.append(Prefix(_name(xml.child(element, "Name")), ref))
            entries.sort(key=lambda e: e.name)
            following = xml.text(root, "NextMarker")
            return Page.marker(entries, bool(following), next_marker=following)

        yield from paginate(fetch, what=f"listing of container {container!r}", driver=self)

    # -- objects ---------------------------------------------------------------------------

    def _head_blob(self, container: str, blob: str) -> Op[Response]:
        return self._send("HEAD", self._blob_url(container, blob), what=f"{container}/{blob}",
                          missing=ObjectNotFound)

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """A blob's properties and metadata (*Get Blob Properties*)."""
        container = self._check_container(container_name)
        blob = self._check_object(object_name)
        resp = yield from self._head_blob(container, blob)
        return self._object_from_headers(container, blob, resp.headers)

    def _write(self, container: str, name: str, attributes: Attributes, body: ByteStream,
               size: int | None, *, verify: bool) -> Op[Object]:
        """One *Put Blob* up to ``part_plan.threshold``, else blocks staged in
        parallel and committed in order; every request carries ``Content-MD5``,
        which the service checks, and the commit the MD5 of the whole stream,
        computed as it passes."""
        return self._upload(_BlockUpload, container, name, attributes, body, size)

    def _write_resumable(self, container: str, name: str, attributes: Attributes,
                         body: ByteStream, size: int, *, verify: bool) -> Op[Object]:
        """As :meth:`_write`, with block ids made of each block's MD5 and number:
        the blob's uncommitted blocks with the id and size a block would have are
        not sent again (see the module's notes)."""
        return self._upload(_ResumableBlockUpload, container, name, attributes, body, size)

    def _upload(self, kind: type[_BlockUpload], container: str, name: str,
                attributes: Attributes, body: ByteStream, size: int | None) -> Op[Object]:
        """``body`` through :func:`~overcast.storage.transfer.upload_in_parts` and
        a ``kind`` target (resumable if it is :class:`_ResumableBlockUpload`),
        the whole MD5 computed as the stream passes."""
        digest = _StreamDigest()
        target = kind(self, container, name, attributes, digest)
        obj: Object = yield from upload_in_parts(
            target, body.observe(digest), size=size, plan=self.part_plan,
            resume=isinstance(target, _ResumableBlockUpload),
        )
        return obj

    def _read_range(self, obj: Object, span: Span) -> Op[Ranged]:
        """*Get Blob* (``x-ms-range`` for a partial read); a full read is checked
        against the ``Content-MD5`` of the answer."""
        headers = {} if span.full else {"x-ms-range": span.header}
        if span.etag:
            headers["If-Match"] = span.etag if span.etag.startswith('"') else f'"{span.etag}"'
        resp = yield from self._send("GET", self._blob_url(span.container, span.name),
                                     headers=headers, stream=True, ok=(416,), what=span.what,
                                     missing=ObjectNotFound)
        whole = span.full and resp.status == 200
        md5 = _md5_hex(resp.headers.get("Content-MD5")) if whole else None
        return self._ranged(resp, span,
                            [HashCheck("md5", md5, span.name, driver=self)] if md5 else ())

    @operation
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete a blob (*Delete Blob*, with its snapshots)."""
        container = self._check_container(obj.container_name)
        blob = self._check_object(obj.name)
        yield from self._send("DELETE", self._blob_url(container, blob),
                              headers={"x-ms-delete-snapshots": "include"},
                              what=f"{container}/{blob}", missing=ObjectNotFound)
        return True

    @operation
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy a blob server side (*Copy Blob*), with its properties and metadata,
        waiting until the copy is complete."""
        source_container = self._check_container(obj.container_name)
        source_blob = self._check_object(obj.name)
        container = self._check_container(container_name(target_container))
        blob = self._check_object(target_name or obj.name)
        source = self._blob_url(source_container, source_blob)
        if self._account_key is None and self._sas is not None:
            source += f"?{self._sas.reveal()}"
        try:
            resp = yield from self._send(
                "PUT", self._blob_url(container, blob), headers={"x-ms-copy-source": source},
                what=f"{container}/{blob}", missing=ObjectNotFound,
            )
        except ObjectNotFound:  # the target is being written: a missing blob is the source
            raise ObjectNotFound(f"{source_container}/{source_blob}", driver=self) from None
        copy_id = resp.headers.get("x-ms-copy-id")
        # The service copies on its own: look until it is done.
        resp = yield from poll(
            lambda: self._head_blob(container, blob),
            lambda resp: resp.headers.get("x-ms-copy-status", "success") != "pending",
            current=resp, interval=0.05, growth=2, max_interval=COPY_POLL_MAX,
            timeout=COPY_TIMEOUT, timed_out=lambda resp: ProviderError(
                f"copy of {source_blob!r} to {blob!r} still pending after {COPY_TIMEOUT:.0f}s "
                f"(copy id {copy_id})", code="CopyPending", driver=self))
        status = resp.headers.get("x-ms-copy-status", "success")
        if status != "success":
            raise ProviderError(
                f"copy of {source_blob!r} to {blob!r} ended as {status!r}",
                code="CopyFailed", driver=self,
            )
        return (yield from self.get_object.op(container, blob))

    @operation
    def get_object_presigned_url(
        self, obj: Object, *, method: str = "GET", expires: int = 3600
    ) -> Op[str]:
        """A blob SAS URL granting ``GET`` (read) or ``PUT`` (create and write)
        for ``expires`` seconds. A ``PUT`` through it must send
        ``x-ms-blob-type: BlockBlob``. Needs the account key."""
        container = self._check_container(obj.container_name)
        blob = self._check_object(obj.name)
        verb = method.upper()
        permissions = {"GET": "r", "HEAD": "r", "PUT": "cw", "DELETE": "d"}
        if verb not in permissions:
            raise InvalidInput(f"method must be GET, HEAD, PUT or DELETE: {method!r}", driver=self)
        if isinstance(expires, bool) or not isinstance(expires, int) or expires <= 0:
            raise InvalidInput(f"expires must be positive seconds: {expires!r}", driver=self)
        if self._account_key is None or not self.account:
            raise InvalidInput("a SAS URL needs the account key", driver=self)
        now: float = yield Call(time.time)
        protocol = "https" if self.endpoint.startswith("https:") else "https,http"
        token = blob_sas(
            self.account, self._account_key, container, blob, permission=permissions[verb],
            start=now - 300, expiry=now + expires, protocol=protocol,
        )
        return f"{self._blob_url(container, blob)}?{token}"
