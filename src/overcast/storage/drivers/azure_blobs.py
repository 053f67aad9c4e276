"""Azure Blob Storage: containers and block blobs over the REST API (2021-08-06).

Requests are signed with Shared Key (:mod:`overcast.auth.azure_shared_key`)
when the driver has the account key, or carry a SAS token, or go anonymous
(public containers). Responses are XML, parsed with :mod:`defusedxml`.

How the service maps onto overcast's model:

* ``Object.hash`` is the blob's ``Content-MD5`` as hex when it has one (every
  blob overcast writes does), else its ETag; ``extra`` holds ``etag``,
  ``content_md5`` (base64, as Azure gives it), ``blob_type`` and the lease and
  access-tier fields the service reports.
* Uploads go through :func:`overcast.storage.transfer.upload_in_parts`: a
  small object is one *Put Blob* with ``Content-MD5``; a larger one is staged
  as blocks (*Put Block*, ``concurrency`` at a time, each with its own
  ``Content-MD5``, which the service verifies) and committed in order with one
  *Put Block List* that also sets ``x-ms-blob-content-md5``, the MD5 of the
  whole stream computed as it passed. Block ids are base64 of
  ``<16 random hex>-<7-digit counter>``: all the same length, unique per upload
  so concurrent writers of one name never mix blocks.
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
  (and its length); ranged reads use ``x-ms-range``.
* ``delete_container`` lists one blob first and raises
  :class:`~overcast.errors.ContainerIsNotEmpty`: Azure itself would delete a
  container with everything in it.
* ``copy_object`` is *Copy Blob* (server side), polled with ``Sleep`` until
  ``x-ms-copy-status`` is ``success``.
* ``get_object_presigned_url`` returns a blob SAS URL (needs the account key).
* Errors: ``x-ms-error-code`` (or the XML ``<Code>``) ``ContainerNotFound``,
  ``BlobNotFound``, ``ContainerAlreadyExists`` map to overcast's errors;
  ``AuthenticationFailed`` and other 403s to
  :class:`~overcast.errors.InvalidCredentials`; ``ServerBusy`` (503) is retried
  by the runtime, any method, as throttling.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import IO, Any, ClassVar, Final
from urllib.parse import quote, unquote, urlsplit
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from overcast.auth.azure_shared_key import (
    API_VERSION,
    blob_sas,
    check_account_key,
    parse_connection_string,
    sign_request,
)
from overcast.errors import (
    ContainerAlreadyExists,
    ContainerIsNotEmpty,
    ContainerNotFound,
    InvalidCredentials,
    InvalidInput,
    ObjectNotFound,
    OvercastError,
    ProviderError,
)
from overcast.runtime.effects import Call, Emit, Iter, Op, PartData, Request, Response, Sleep
from overcast.runtime.operation import iterator, operation, stream
from overcast.runtime.redact import Secret, redact_text
from overcast.runtime.streams import ByteStream, FileStream, IterStream, as_stream
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
    download_in_ranges,
    upload_in_parts,
)
from overcast.storage.transfer import guess_type as _guess_type
from overcast.storage.transfer import readable_file_size as _file_size
from overcast.xml import child as _child
from overcast.xml import local as _local
from overcast.xml import parse as _parse
from overcast.xml import text as _text

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
MAX_BLOB_NAME: Final = 1024
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"
#: How long copy_object waits for a pending copy, and how often it looks.
COPY_TIMEOUT: Final = 600.0
COPY_POLL_MAX: Final = 5.0

_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_SPECIAL_CONTAINERS = frozenset({"$root", "$logs", "$web"})
_META_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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


# -- XML ---------------------------------------------------------------------------


def _name(element: Element | None) -> str:
    """A ``<Name>`` value; ``Encoded="true"`` names are percent-encoded."""
    if element is None:
        return ""
    text = element.text or ""
    if (element.get("Encoded") or "").lower() == "true":
        return unquote(text)
    return text


def _http_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _md5_hex(content_md5: str | None) -> str | None:
    if not content_md5:
        return None
    try:
        raw = base64.b64decode(content_md5, validate=True)
    except ValueError:
        return None
    return raw.hex() if len(raw) == 16 else None


def _md5_b64(data: PartData) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


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


@dataclass(frozen=True, slots=True)
class _Attributes:
    content_type: str
    meta_data: dict[str, str]
    headers: dict[str, str]


class _BlockUpload:
    """The :class:`~overcast.storage.transfer.PartTarget` of one blob upload."""

    def __init__(
        self,
        driver: AzureBlobsStorageDriver,
        container: str,
        blob: str,
        attributes: _Attributes,
        digest: _StreamDigest,
    ) -> None:
        self.driver = driver
        self.container = container
        self.blob = blob
        self.attributes = attributes
        self.digest = digest
        self.url = driver._url(container, blob)

    def _blob_headers(self) -> dict[str, str]:
        headers = dict(self.attributes.headers)
        headers["x-ms-blob-content-type"] = self.attributes.content_type
        for key, value in self.attributes.meta_data.items():
            headers[f"x-ms-meta-{key}"] = value
        return headers

    def put_whole(self, data: PartData) -> Op[Object]:
        """*Put Blob*: the whole object in one request, checked by ``Content-MD5``."""
        md5: str = yield Call(_md5_b64, data)
        headers = self._blob_headers()
        headers.update({"x-ms-blob-type": "BlockBlob", "Content-MD5": md5})
        resp = yield from self.driver._send("PUT", self.url, headers=headers, body=data)
        if resp.status != 201:
            raise self.driver._error(resp, self.container, self.blob)
        return self.driver._uploaded(self, resp, len(data), md5)

    def begin(self) -> Op[str]:
        """A new upload id: the random prefix of this upload's block ids."""
        yield from ()
        return uuid.uuid4().hex[:16]

    def put_part(self, upload_id: str, number: int, data: PartData, last: bool) -> Op[str]:
        """*Put Block*: stage block ``number`` with its own ``Content-MD5``."""
        block_id = base64.b64encode(f"{upload_id}-{number:07d}".encode()).decode("ascii")
        md5: str = yield Call(_md5_b64, data)
        resp = yield from self.driver._send(
            "PUT",
            self.url,
            params=[("comp", "block"), ("blockid", block_id)],
            headers={"Content-MD5": md5},
            body=data,
        )
        if resp.status != 201:
            raise self.driver._error(resp, self.container, self.blob)
        return block_id

    def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[Object]:
        """*Put Block List*: commit the blocks in order, with the whole MD5."""
        xml = "".join(f"<Latest>{escape(block)}</Latest>" for _, block in parts)
        body = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{xml}</BlockList>'.encode()
        headers = self._blob_headers()
        headers["x-ms-blob-content-md5"] = md5 = self.digest.b64()
        headers["Content-Type"] = "application/xml"
        resp = yield from self.driver._send(
            "PUT", self.url, params=[("comp", "blocklist")], headers=headers, body=body
        )
        if resp.status != 201:
            raise self.driver._error(resp, self.container, self.blob)
        return self.driver._uploaded(self, resp, self.digest.size, md5)

    def abort(self, upload_id: str) -> Op[None]:
        """Nothing to send: no block list was committed, so no blob appears, and
        Azure has no call that drops uncommitted blocks (the service
        garbage-collects them)."""
        yield from ()


class AzureBlobsStorageDriver(StorageDriver):
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

    def __init__(
        self,
        key: str | None = None,
        secret: str | Secret | None = None,
        *,
        endpoint: str | None = None,
        connection_string: str | Secret | None = None,
        sas_token: str | Secret | None = None,
        part_plan: PartPlan = DEFAULT_PART_PLAN,
        page_size: int = MAX_PAGE_SIZE,
        **options: Any,
    ) -> None:
        account: str | None = key
        account_key: Secret | None = Secret(secret) if secret else None
        sas: Secret | None = Secret(sas_token) if sas_token else None
        base = endpoint
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
        base = base.rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"endpoint must be an http(s) URL: {base!r}")
        if parts.query or parts.fragment:
            raise InvalidInput("endpoint must not carry a query (give sas_token= instead)")
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
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size must be 1..{MAX_PAGE_SIZE}: {page_size!r}")
        self.account = account
        self.endpoint = base
        self.part_plan = part_plan
        self.page_size = page_size
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

    def _is_throttled(self, response: Response) -> bool:
        """``ServerBusy`` (503) means the request was not processed: the runtime
        retries it, any method (a create too), with backoff. Other 5xx answers
        are retried by the runtime only for idempotent requests."""
        return response.headers.get("x-ms-error-code") == "ServerBusy"

    def _secrets(self) -> tuple[Secret, ...]:
        return tuple(s for s in (self._account_key, self._sas) if s is not None)

    def _repr_fields(self) -> dict[str, object]:
        return {"account": self.account, "endpoint": self.endpoint}

    # -- names and URLs -------------------------------------------------------------

    def _check_container(self, name: str) -> str:
        if not isinstance(name, str) or not (
            _CONTAINER_NAME.match(name) or name in _SPECIAL_CONTAINERS
        ):
            raise InvalidInput(
                f"invalid Azure container name {name!r}: 3-63 lower-case letters, digits "
                "and single hyphens, starting and ending with a letter or digit",
                driver=self,
            )
        return name

    def _check_blob(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"blob name must be a non-empty string: {name!r}", driver=self)
        if len(name) > MAX_BLOB_NAME or _CONTROL.search(name):
            raise InvalidInput(
                f"invalid blob name {name!r}: over {MAX_BLOB_NAME} characters or a control "
                "character",
                driver=self,
            )
        for segment in name.split("/"):
            if segment in ("", ".", ".."):
                raise InvalidInput(
                    f"invalid blob name {name!r}: empty, '.' or '..' path segment "
                    "(leading, trailing or doubled '/')",
                    driver=self,
                )
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"blob name is not valid Unicode: {name!r}", driver=self) from None
        return name

    def _url(self, container: str | None = None, blob: str | None = None) -> str:
        url = self.endpoint
        if container is not None:
            url += "/" + quote(container, safe="$")
            if blob is not None:
                url += "/" + quote(blob, safe=_PATH_SAFE)
        else:
            url += "/"
        return url

    # -- requests and errors ----------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: PartData | None = None,
        stream: bool = False,
        idempotent: bool | None = None,
    ) -> Op[Response]:
        resp: Response = yield Request(
            method, url, dict(headers or {}), list(params), body, stream=stream,
            idempotent=idempotent,
        )
        return resp

    def _error_fields(self, resp: Response) -> tuple[str | None, str]:
        root = _parse(resp.body)
        code = resp.headers.get("x-ms-error-code") or _text(root, "Code")
        message = (_text(root, "Message") or "").strip()
        if not message and resp.body and root is None:
            message = resp.text[:300]
        message = message.split("\n", 1)[0]
        message = _LONG_BASE64.sub("***", redact_text(message, self._secrets()))
        return code, message

    def _error(
        self, resp: Response, container: str | None = None, blob: str | None = None
    ) -> OvercastError:
        """The overcast error for a failed response."""
        code, message = self._error_fields(resp)
        text = message or f"HTTP {resp.status}"
        request_id = resp.headers.get("x-ms-request-id")
        if code == "ContainerNotFound" or (resp.status == 404 and not code and blob is None):
            return ContainerNotFound(container or "", driver=self)
        if code in ("BlobNotFound", "CannotVerifyCopySource") or (
            resp.status == 404 and not code and blob is not None
        ):
            return ObjectNotFound(blob or "", driver=self)
        if code == "ContainerAlreadyExists":
            return ContainerAlreadyExists(container or "", driver=self)
        if code in _CREDENTIAL_CODES or resp.status in (401, 403):
            return InvalidCredentials(
                f"Azure rejected the credentials ({code or resp.status}): {text}", driver=self
            )
        if code in _INPUT_CODES or resp.status == 416:
            return InvalidInput(f"Azure: {code}: {text}", driver=self)
        return ProviderError(
            f"Azure {resp.method} {resp.url} failed: {text}",
            status=resp.status, code=code, request_id=request_id, driver=self,
        )

    def _xml(self, resp: Response) -> Element:
        root = _parse(resp.body)
        if root is None:
            raise ProviderError(
                f"Azure sent a response that is not XML: {resp.text[:200]!r}",
                status=resp.status, driver=self,
            )
        return root

    # -- models ------------------------------------------------------------------------

    def _object_from_headers(self, container: str, name: str, headers: Mapping[str, str]) -> Object:
        content_md5 = headers.get("Content-MD5")
        etag = (headers.get("ETag") or "").strip('"') or None
        length = headers.get("Content-Length") or "0"
        meta = {
            k[len("x-ms-meta-"):]: v for k, v in _raw_items(headers) if k.lower().startswith(
                "x-ms-meta-"
            )
        }
        extra: dict[str, Any] = {
            "etag": etag,
            "content_md5": content_md5,
            "blob_type": headers.get("x-ms-blob-type"),
            "lease_state": headers.get("x-ms-lease-state"),
            "access_tier": headers.get("x-ms-access-tier"),
            "last_modified": headers.get("Last-Modified"),
        }
        return Object(
            name=name,
            size=int(length) if length.isdigit() else 0,
            hash=_md5_hex(content_md5) or etag,
            extra=extra,
            meta_data=meta,
            container=Container(name=container, driver=self),
            driver=self,
            content_type=headers.get("Content-Type"),
            last_modified=_http_time(headers.get("Last-Modified")),
        )

    def _object_from_xml(self, container: Container, element: Element) -> Object:
        props = _child(element, "Properties")
        name = _name(_child(element, "Name"))
        content_md5 = _text(props, "Content-MD5") or None
        etag = (_text(props, "Etag") or "").strip('"') or None
        length = _text(props, "Content-Length") or "0"
        meta_element = _child(element, "Metadata")
        meta = {
            _local(item.tag): item.text or ""
            for item in (meta_element if meta_element is not None else [])
        }
        extra: dict[str, Any] = {
            "etag": etag,
            "content_md5": content_md5,
            "blob_type": _text(props, "BlobType"),
            "lease_state": _text(props, "LeaseState"),
            "access_tier": _text(props, "AccessTier"),
            "last_modified": _text(props, "Last-Modified"),
        }
        return Object(
            name=name,
            size=int(length) if length.strip().isdigit() else 0,
            hash=_md5_hex(content_md5) or etag,
            extra=extra,
            meta_data=meta,
            container=container,
            driver=self,
            content_type=_text(props, "Content-Type") or None,
            last_modified=_http_time(_text(props, "Last-Modified")),
        )

    def _uploaded(self, upload: _BlockUpload, resp: Response, size: int, md5: str) -> Object:
        etag = (resp.headers.get("ETag") or "").strip('"') or None
        return Object(
            name=upload.blob,
            size=size,
            hash=_md5_hex(md5),
            extra={
                "etag": etag,
                "content_md5": md5,
                "blob_type": "BlockBlob",
                "last_modified": resp.headers.get("Last-Modified"),
            },
            meta_data=dict(upload.attributes.meta_data),
            container=Container(name=upload.container, driver=self),
            driver=self,
            content_type=upload.attributes.content_type,
            last_modified=_http_time(resp.headers.get("Last-Modified")),
        )

    def _container_from_headers(self, name: str, headers: Mapping[str, str]) -> Container:
        meta = {
            k[len("x-ms-meta-"):]: v for k, v in _raw_items(headers) if k.lower().startswith(
                "x-ms-meta-"
            )
        }
        return Container(
            name=name,
            extra={
                "etag": (headers.get("ETag") or "").strip('"') or None,
                "last_modified": headers.get("Last-Modified"),
                "lease_state": headers.get("x-ms-lease-state"),
                "public_access": headers.get("x-ms-blob-public-access"),
                "meta_data": meta,
            },
            driver=self,
        )

    # -- containers -----------------------------------------------------------------

    @iterator
    def iterate_containers(self) -> Iter[Container]:
        """Every container of the account (*List Containers*, page by page)."""
        marker: str | None = None
        while True:
            params = [("comp", "list"), ("maxresults", str(self.page_size))]
            if marker:
                params.append(("marker", marker))
            resp = yield from self._send("GET", self._url(), params=params)
            if resp.status != 200:
                raise self._error(resp)
            root = self._xml(resp)
            for element in _child(root, "Containers") or []:
                if _local(element.tag) != "Container":
                    continue
                props = _child(element, "Properties")
                yield Emit(
                    Container(
                        name=_text(element, "Name") or "",
                        extra={
                            "etag": (_text(props, "Etag") or "").strip('"') or None,
                            "last_modified": _text(props, "Last-Modified"),
                            "lease_state": _text(props, "LeaseState"),
                            "public_access": _text(props, "PublicAccess"),
                        },
                        driver=self,
                    )
                )
            marker = _text(root, "NextMarker")
            if not marker:
                return

    @operation
    def get_container(self, container_name: str) -> Op[Container]:
        """A container by name (*Get Container Properties*)."""
        name = self._check_container(container_name)
        resp = yield from self._send(
            "HEAD", self._url(name), params=[("restype", "container")]
        )
        if resp.status != 200:
            raise self._error(resp, name)
        return self._container_from_headers(name, resp.headers)

    @operation
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a private container (*Create Container*)."""
        name = self._check_container(container_name)
        resp = yield from self._send(
            "PUT", self._url(name), params=[("restype", "container")], idempotent=False
        )
        if resp.status != 201:
            raise self._error(resp, name)
        return self._container_from_headers(name, resp.headers)

    @operation
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty container; :class:`ContainerIsNotEmpty` if it holds a
        blob (Azure itself would delete the blobs with it)."""
        name = self._check_container(container_name(container))
        resp = yield from self._send(
            "GET",
            self._url(name),
            params=[("restype", "container"), ("comp", "list"), ("maxresults", "1")],
        )
        if resp.status != 200:
            raise self._error(resp, name)
        blobs = _child(self._xml(resp), "Blobs")
        if blobs is not None and len(blobs):
            raise ContainerIsNotEmpty(f"container {name!r} is not empty", driver=self)
        resp = yield from self._send("DELETE", self._url(name), params=[("restype", "container")])
        if resp.status != 202:
            raise self._error(resp, name)
        return True

    # -- listing ------------------------------------------------------------------------

    def _list_page(
        self, container: str, prefix: str, delimiter: str | None, marker: str | None
    ) -> Op[tuple[list[Object | Prefix], str | None]]:
        """One page of *List Blobs*: its entries in name order and the next marker."""
        params = [
            ("restype", "container"),
            ("comp", "list"),
            ("include", "metadata"),
            ("maxresults", str(self.page_size)),
        ]
        if prefix:
            params.append(("prefix", prefix))
        if delimiter:
            params.append(("delimiter", delimiter))
        if marker:
            params.append(("marker", marker))
        resp = yield from self._send("GET", self._url(container), params=params)
        if resp.status != 200:
            raise self._error(resp, container)
        ref = Container(name=container, driver=self)
        page: tuple[list[Object | Prefix], str | None] = yield Call(
            self._parse_page, ref, resp.body
        )
        return page

    def _parse_page(
        self, container: Container, body: bytes
    ) -> tuple[list[Object | Prefix], str | None]:
        root = _parse(body)
        if root is None:
            raise ProviderError("Azure sent a blob listing that is not XML", driver=self)
        entries: list[Object | Prefix] = []
        for element in _child(root, "Blobs") or []:
            kind = _local(element.tag)
            if kind == "Blob":
                entries.append(self._object_from_xml(container, element))
            elif kind == "BlobPrefix":
                entries.append(Prefix(_name(_child(element, "Name")), container))
        entries.sort(key=lambda e: e.name)
        return entries, _text(root, "NextMarker") or None

    @iterator
    def iterate_container_objects(
        self, container: ContainerRef, prefix: str | None = None, ex_prefix: str | None = None
    ) -> Iter[Object]:
        """The blobs of a container in name order (*List Blobs*, ``page_size``
        per request, following ``NextMarker``), with their metadata."""
        name = self._check_container(container_name(container))
        marker: str | None = None
        while True:
            entries, marker = yield from self._list_page(
                name, prefix or ex_prefix or "", None, marker
            )
            for entry in entries:
                if isinstance(entry, Object):
                    yield Emit(entry)
            if not marker:
                return

    @iterator
    def iterate_container_entries(
        self, container: ContainerRef, prefix: str | None = None, *, delimiter: str = "/"
    ) -> Iter[Object | Prefix]:
        """One "directory level": blobs and ``BlobPrefix`` entries under ``prefix``."""
        if not delimiter:
            raise InvalidInput("delimiter must not be empty", driver=self)
        name = self._check_container(container_name(container))
        marker: str | None = None
        while True:
            entries, marker = yield from self._list_page(name, prefix or "", delimiter, marker)
            for entry in entries:
                yield Emit(entry)
            if not marker:
                return

    # -- objects ---------------------------------------------------------------------------

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """A blob's properties and metadata (*Get Blob Properties*)."""
        container = self._check_container(container_name)
        blob = self._check_blob(object_name)
        resp = yield from self._send("HEAD", self._url(container, blob))
        if resp.status != 200:
            raise self._error(resp, container, blob)
        return self._object_from_headers(container, blob, resp.headers)

    def _attributes(
        self,
        extra: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        content_type: str | None,
        meta_data: Mapping[str, str] | None,
        object_name: str,
    ) -> _Attributes:
        extra = dict(extra or {})
        unknown = set(extra) - {"content_type", "meta_data", "acl"}
        if unknown:
            raise InvalidInput(f"unknown extra keys: {', '.join(sorted(unknown))}", driver=self)
        ctype = content_type or extra.get("content_type") or _guess_type(object_name)
        if not isinstance(ctype, str) or not ctype.isascii() or _CONTROL.search(ctype):
            raise InvalidInput(f"invalid content type: {ctype!r}", driver=self)
        meta = dict(meta_data if meta_data is not None else extra.get("meta_data") or {})
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
        extra_headers: dict[str, str] = {}
        for key, value in (headers or {}).items():
            if _CONTROL.search(f"{key}{value}") or key.lower() == "authorization":
                raise InvalidInput(f"invalid header {key!r}", driver=self)
            extra_headers[key] = value
        return _Attributes(ctype, meta, extra_headers)

    def _upload(
        self, body: ByteStream, size: int | None, container: str, blob: str, attrs: _Attributes
    ) -> Op[Object]:
        digest = _StreamDigest()
        body.observe(digest)
        target = _BlockUpload(self, container, blob, attrs, digest)
        obj: Object = yield from upload_in_parts(target, body, size=size, plan=self.part_plan)
        return obj

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
        """Upload a local file: one *Put Blob* up to ``part_plan.threshold``, else
        blocks staged in parallel and committed in order. Every request carries
        ``Content-MD5``, which the service checks."""
        name = self._check_container(container_name(container))
        blob = self._check_blob(object_name)
        attrs = self._attributes(extra, headers, content_type, meta_data, object_name)
        source = os.fspath(file_path)
        size: int | None = yield Call(_file_size, source)
        if size is None:
            raise InvalidInput(f"not a readable file: {source}", driver=self)
        body = FileStream(source).observe(SizeCheck(size, source, driver=self))
        if progress is not None:
            body.observe(ProgressReport(progress, size))
        return (yield from self._upload(body, size, name, blob, attrs))

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
        """Upload from an iterator of bytes, a file object or bytes (size unknown):
        blocks once the data passes ``part_plan.threshold``."""
        name = self._check_container(container_name(container))
        blob = self._check_blob(object_name)
        attrs = self._attributes(extra, headers, content_type, meta_data, object_name)
        if isinstance(iterator, str):
            raise InvalidInput("upload data must be bytes, not str", driver=self)
        body = as_stream(iterator)
        if progress is not None:
            body.observe(ProgressReport(progress, None))
        return (yield from self._upload(body, None, name, blob, attrs))

    @stream
    def download_object_range_as_stream(
        self,
        obj: Object,
        start_bytes: int,
        end_bytes: int | None = None,
        chunk_size: int | None = None,
    ) -> Op[ByteStream]:
        """Bytes ``[start_bytes, end_bytes)`` of a blob (``x-ms-range``). A full
        read is checked against the length and ``Content-MD5`` of the response."""
        container = self._check_container(obj.container_name)
        blob = self._check_blob(obj.name)
        start, end = check_range(None, start_bytes, end_bytes, driver=self)
        full = start == 0 and end is None
        headers: dict[str, str] = {}
        if not full:
            if end is not None and end == start:
                # An empty range: nothing to send, but the blob must exist.
                yield from self.get_object.op(container, blob)
                return IterStream([])
            last = "" if end is None else str(end - 1)
            headers["x-ms-range"] = f"bytes={start}-{last}"
        resp = yield from self._send(
            "GET", self._url(container, blob), headers=headers, stream=True
        )
        if resp.status == 416 and end is None and start == obj.size:
            return IterStream([])
        if resp.stream is None or resp.status not in (200, 206):
            raise self._error(resp, container, blob)
        body = resp.stream
        declared = resp.headers.get("Content-Length")
        expected = (end - start) if end is not None else (
            int(declared) if declared and declared.isdigit() else None
        )
        body.observe(SizeCheck(expected, blob, driver=self))
        if full and resp.status == 200:
            md5 = _md5_hex(resp.headers.get("Content-MD5"))
            if md5:
                body.observe(HashCheck("md5", md5, blob, driver=self))
        return body

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
        """Download a blob to a local file, atomically.

        Blobs above ``part_plan.threshold`` come as parallel ranged reads
        (``part_plan.part_size`` each, ``concurrency`` at a time) of the version
        current when the download starts (``If-Match`` its ETag); the file is
        checked against the blob's ``Content-MD5`` before it is renamed into
        place. Smaller blobs stream in one checked request.
        """
        if obj.size <= self.part_plan.threshold:
            done: bool = yield from StorageDriver.download_object.fn(
                self, obj, destination_path, overwrite_existing, delete_on_failure,
                progress=progress,
            )
            return done
        current = yield from self.get_object.op(obj.container_name, obj.name)
        container = current.container_name
        blob = current.name
        etag = current.extra.get("etag")
        md5 = _md5_hex(current.extra.get("content_md5"))

        def fetch(start: int, end: int) -> Op[ByteStream]:
            headers = {"x-ms-range": f"bytes={start}-{end - 1}"}
            if etag:
                headers["If-Match"] = f'"{etag}"'
            resp = yield from self._send(
                "GET", self._url(container, blob), headers=headers, stream=True
            )
            if resp.stream is None or resp.status != 206:
                raise self._error(resp, container, blob)
            return resp.stream

        saved: bool = yield from download_in_ranges(
            fetch,
            current.size,
            destination_path,
            overwrite=overwrite_existing,
            part_size=self.part_plan.part_size,
            concurrency=self.part_plan.concurrency,
            checksum=("md5", md5) if md5 else None,
            progress=progress,
            driver=self,
        )
        return saved

    @operation
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete a blob (*Delete Blob*, with its snapshots)."""
        container = self._check_container(obj.container_name)
        blob = self._check_blob(obj.name)
        resp = yield from self._send(
            "DELETE", self._url(container, blob), headers={"x-ms-delete-snapshots": "include"}
        )
        if resp.status != 202:
            raise self._error(resp, container, blob)
        return True

    @operation
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy a blob server side (*Copy Blob*), with its properties and metadata,
        waiting until the copy is complete."""
        source_container = self._check_container(obj.container_name)
        source_blob = self._check_blob(obj.name)
        container = self._check_container(container_name(target_container))
        blob = self._check_blob(target_name or obj.name)
        source = self._url(source_container, source_blob)
        if self._account_key is None and self._sas is not None:
            source += f"?{self._sas.reveal()}"
        resp = yield from self._send(
            "PUT", self._url(container, blob), headers={"x-ms-copy-source": source}
        )
        if resp.status != 202:
            if resp.headers.get("x-ms-error-code") == "CannotVerifyCopySource" or (
                resp.status == 404 and (resp.headers.get("x-ms-error-code") == "BlobNotFound")
            ):
                raise ObjectNotFound(source_blob, driver=self)
            raise self._error(resp, container, blob)
        status = resp.headers.get("x-ms-copy-status", "success")
        copy_id = resp.headers.get("x-ms-copy-id")
        waited, delay = 0.0, 0.05
        while True:
            if status == "success":
                return (yield from self.get_object.op(container, blob))
            if status != "pending":
                raise ProviderError(
                    f"copy of {source_blob!r} to {blob!r} ended as {status!r}",
                    code="CopyFailed", driver=self,
                )
            if waited >= COPY_TIMEOUT:
                raise ProviderError(
                    f"copy of {source_blob!r} to {blob!r} still pending after {waited:.0f}s "
                    f"(copy id {copy_id})",
                    code="CopyPending", driver=self,
                )
            yield Sleep(delay)
            waited += delay
            delay = min(delay * 2, COPY_POLL_MAX)
            resp = yield from self._send("HEAD", self._url(container, blob))
            if resp.status != 200:
                raise self._error(resp, container, blob)
            status = resp.headers.get("x-ms-copy-status", "success")

    @operation
    def get_object_presigned_url(
        self, obj: Object, *, method: str = "GET", expires: int = 3600
    ) -> Op[str]:
        """A blob SAS URL granting ``GET`` (read) or ``PUT`` (create and write)
        for ``expires`` seconds. A ``PUT`` through it must send
        ``x-ms-blob-type: BlockBlob``. Needs the account key."""
        container = self._check_container(obj.container_name)
        blob = self._check_blob(obj.name)
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
        return f"{self._url(container, blob)}?{token}"


# -- helpers ------------------------------------------------------------------------------


def _raw_items(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    raw = getattr(headers, "raw_items", None)
    if callable(raw):
        items: list[tuple[str, str]] = raw()
        return items
    return list(headers.items())

