"""Object storage: the models and the driver API every storage driver shares.

Names and positional parameters follow Apache Libcloud 3.x
(``libcloud.storage.base.StorageDriver``), so its users port code by changing
imports; overcast's additions are keyword-only. Every operation is available
sync (``driver.x()``) and async (``await driver.aio.x()``); a driver that lacks
one raises :class:`~overcast.errors.NotSupported` (see ``driver.supports()``).

Containers may be given as a :class:`Container` or by name.

The base class owns the flows every provider shares: uploads (name checks, one
:class:`Attributes` from ``extra=``/``headers=``/``content_type=``/
``meta_data=``, size and progress observers, one request or parts), the
ranged download (the empty range, "nothing left" answers, the size and
checksum checks of full reads) and downloads to a file (atomic, in parallel
ranges for large objects where the driver can). A driver supplies narrow
hooks: name checks (:meth:`StorageDriver._check_container`,
:meth:`StorageDriver._check_object`), a part target for uploads
(:meth:`StorageDriver._part_target`, the
:class:`~overcast.storage.transfer.PartTarget` protocol), a range request
(:meth:`StorageDriver._read_range`) and the conversion of its answers to
:class:`Object`.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import KW_ONLY
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import IO
from typing import Any
from typing import ClassVar
from typing import Final
from typing import Generic
from typing import TypeAlias
from typing import TypeVar

from overcast.driver import AsyncView
from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.models import Model
from overcast.runtime.effects import Call
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Pipe
from overcast.runtime.files import check_file_name
from overcast.runtime.operation import aio
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import not_supported
from overcast.runtime.operation import operation
from overcast.runtime.operation import requires
from overcast.runtime.operation import stream
from overcast.runtime.streams import ByteStream
from overcast.runtime.streams import FileStream
from overcast.runtime.streams import IterStream
from overcast.runtime.streams import as_stream
from overcast.runtime.streams import checked_body
from overcast.storage.checks import ProgressReport
from overcast.storage.checks import SizeCheck
from overcast.storage.checks import check_range
from overcast.storage.checks import guess_type
from overcast.storage.checks import is_md5
from overcast.storage.checks import readable_file_size
from overcast.storage.transfer import PartPlan
from overcast.storage.transfer import PartTarget
from overcast.storage.transfer import Ranged
from overcast.storage.transfer import Span
from overcast.storage.transfer import commit_op
from overcast.storage.transfer import discard_op
from overcast.storage.transfer import download_in_ranges
from overcast.storage.transfer import open_atomic
from overcast.storage.transfer import upload_in_parts

__all__ = [
    "Attributes",
    "Container",
    "ContainerRef",
    "Object",
    "ObjectUpload",
    "Prefix",
    "Progress",
    "StorageDriver",
    "StorageDriverAsync",
]

#: ``progress(bytes_done, total_or_None)``, called as data moves.
Progress: TypeAlias = Callable[[int, "int | None"], None]

#: Object names are at most this many bytes of UTF-8 (S3, Google, Swift, ...).
MAX_OBJECT_NAME_BYTES: Final = 1024
#: Control characters, which no name, content type or header value may hold.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
#: An empty, "." or ".." path segment in an object name.
_BAD_SEGMENT: Final = re.compile(r"(?:\A|/)\.{0,2}(?:/|\Z)")


def _is_utf8(text: str) -> bool:
    """Whether ``text`` is valid Unicode that UTF-8 can carry (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(slots=True, eq=False)
class Container(Model["StorageDriver"]):
    """A container (bucket) of objects."""

    _kind: ClassVar[str] = "container"

    name: str
    extra: dict[str, Any] = field(default_factory=dict)
    driver: StorageDriver | None = field(default=None, repr=False)

    def _identity(self) -> tuple[object, ...]:
        return (self.name,)

    def iterate_objects(self, prefix: str | None = None) -> Iterator[Object]:
        """Iterate over the objects in this container."""
        return self._driver().iterate_container_objects(self, prefix)

    def list_objects(self, prefix: str | None = None) -> list[Object]:
        """List the objects in this container."""
        return self._driver().list_container_objects(self, prefix)

    def get_object(self, object_name: str) -> Object:
        """Get one object of this container by name."""
        return self._driver().get_object(self.name, object_name)

    def upload_object(
        self, file_path: str | os.PathLike[str], object_name: str, **kwargs: Any
    ) -> Object:
        """Upload a local file into this container."""
        return self._driver().upload_object(file_path, self, object_name, **kwargs)

    def upload_object_via_stream(
        self, iterator: Iterable[bytes] | IO[bytes], object_name: str, **kwargs: Any
    ) -> Object:
        """Upload an iterator of bytes (or a file object) into this container."""
        return self._driver().upload_object_via_stream(iterator, self, object_name, **kwargs)

    def delete(self) -> bool:
        """Delete this container (it must be empty)."""
        return self._driver().delete_container(self)


#: Makes an instance without running its ``__init__`` (see ``Object._listed``).
_new_instance: Final = object.__new__


@dataclass(slots=True, eq=False)
class Object:
    """An object in a container.

    ``hash`` is what Apache Libcloud's driver for the provider calls the hash:
    the ETag on S3, Swift and Google (the hex MD5 of a simple object), the ETag
    as Azure gives it, and a hash of the file's modification time on the local
    driver. ``content_md5`` is the hex MD5 of the bytes when it is known (an
    Azure blob's ``Content-MD5``, the local driver's own digest, otherwise the
    ``hash`` when it is an MD5): downloads and copies are checked against it.
    ``meta_data`` is the user metadata; ``content_type`` and ``last_modified``
    are filled when the provider reports them.
    """

    name: str
    size: int
    hash: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    meta_data: dict[str, str] = field(default_factory=dict)
    container: Container | None = None
    driver: StorageDriver | None = field(default=None, repr=False)
    _: KW_ONLY
    content_type: str | None = None
    last_modified: datetime | None = None
    content_md5: str | None = None

    def __post_init__(self) -> None:
        if self.content_md5 is None and is_md5(self.hash):
            self.content_md5 = self.hash

    @classmethod
    def _listed(cls, name: str, size: int, hash: str | None, extra: dict[str, Any],
                container: Container, driver: StorageDriver,
                last_modified: datetime | None) -> Object:
        """An object as a listing gives it: the same as ``Object(name, size,
        hash, extra, {}, container, driver, last_modified=last_modified)``, built
        without the generated ``__init__`` and ``__post_init__``, which cost a
        listing about a tenth of its CPU per key. A unit test holds the two to
        the same fields and values."""
        obj = _new_instance(cls)
        obj.name, obj.size, obj.hash, obj.extra, obj.meta_data = name, size, hash, extra, {}
        obj.container, obj.driver = container, driver
        obj.content_type, obj.last_modified = None, last_modified
        obj.content_md5 = hash if is_md5(hash) else None
        return obj

    def _driver(self) -> StorageDriver:
        if self.driver is None:
            raise InvalidInput(f"object {self.name!r} is not bound to a driver")
        return self.driver

    @property
    def container_name(self) -> str:
        """The name of the object's container."""
        if self.container is None:
            raise InvalidInput(f"object {self.name!r} has no container")
        return self.container.name

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Object)
            and (self.name, self.size, self.hash) == (other.name, other.size, other.hash)
            and (self.container.name if self.container else None)
            == (other.container.name if other.container else None)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.hash))

    def download(self, destination_path: str | os.PathLike[str], overwrite_existing: bool = False,
                 delete_on_failure: bool = True) -> bool:
        """Download this object to a local path (atomically)."""
        return self._driver().download_object(
            self, destination_path, overwrite_existing, delete_on_failure
        )

    def as_stream(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """Iterate over this object's bytes."""
        return self._driver().download_object_as_stream(self, chunk_size)

    def range_as_stream(
        self, start_bytes: int, end_bytes: int | None = None, chunk_size: int | None = None
    ) -> Iterator[bytes]:
        """Iterate over bytes ``[start_bytes, end_bytes)`` of this object."""
        return self._driver().download_object_range_as_stream(
            self, start_bytes, end_bytes, chunk_size
        )

    def delete(self) -> bool:
        """Delete this object."""
        return self._driver().delete_object(self)


@dataclass(slots=True, frozen=True)
class Prefix:
    """A common prefix ("directory") returned by a listing with a delimiter."""

    name: str
    container: Container | None = field(default=None, compare=False)


ContainerRef: TypeAlias = Container | str


def container_name(container: ContainerRef) -> str:
    """The name of a container given as a :class:`Container` or a string."""
    return container.name if isinstance(container, Container) else container


@dataclass(frozen=True, slots=True)
class Attributes:
    """What an object is written with besides its bytes: its content type, its
    user metadata and the extra request headers the caller asked for (each
    checked by the driver's rules; see :meth:`StorageDriver._attributes`)."""

    content_type: str
    meta_data: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


D = TypeVar("D", bound="StorageDriver")


class ObjectUpload(Generic[D]):
    """One object being written: what a driver's
    :class:`~overcast.storage.transfer.PartTarget` starts from (the driver, the
    object's container, name and attributes, and the size of each part sent)."""

    def __init__(self, driver: D, container: str, name: str, attributes: Attributes) -> None:
        self.driver = driver
        self.container = container
        self.name = name
        self.attributes = attributes
        self.sizes: dict[int, int] = {}

    def size_of(self, parts: Sequence[tuple[int, str]]) -> int:
        """The size of the object these parts make."""
        return sum(self.sizes.get(number, 0) for number, _ in parts)


class StorageDriver(BaseDriver):
    """Base class of object storage drivers.

    Drivers implement the primitive operations (``iterate_containers``,
    ``get_container``, ``create_container``, ``delete_container``,
    ``get_object``, ``delete_object``) and the hooks the shared flows are built
    on: :meth:`_listing` (object listings), :meth:`_part_target` or
    :meth:`_write` (uploads), :meth:`_read_range` (downloads), and the name
    checks; the rest is built here, once. A driver without a hook raises
    :class:`~overcast.errors.NotSupported` from the flows that need it.
    """

    area: ClassVar[str] = "storage"
    async_view: ClassVar[type[AsyncView[Any]]]
    aio: StorageDriverAsync

    # -- containers -------------------------------------------------------------

    @iterator
    @not_supported
    def iterate_containers(self) -> Iter[Container]:
        """Iterate over every container of the account."""
        raise NotImplementedError

    list_containers = listing(iterate_containers, "List every container of the account.")

    @operation
    @not_supported
    def get_container(self, container_name: str) -> Op[Container]:
        """Get a container by name; :class:`~overcast.errors.ContainerNotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a container; :class:`~overcast.errors.ContainerAlreadyExists` if taken."""
        raise NotImplementedError

    @operation
    @not_supported
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty container; :class:`~overcast.errors.ContainerIsNotEmpty` if not."""
        raise NotImplementedError

    # -- listing ----------------------------------------------------------------

    @iterator
    @requires("_listing")
    def iterate_container_objects(
        self, container: ContainerRef, prefix: str | None = None, ex_prefix: str | None = None
    ) -> Iter[Object]:
        """Iterate over the objects of a container, in name order, page by page.

        ``prefix`` keeps only names starting with it (``ex_prefix`` is Apache
        Libcloud's older spelling of the same).
        """
        name = self._check_container(container_name(container))
        chosen = self._check_prefix(prefix or ex_prefix)
        # Without a delimiter a listing holds no prefixes: only objects.
        listing: Iter[Any] = self._listing(name, chosen, None)
        yield from listing

    list_container_objects = listing(
        iterate_container_objects, "List the objects of a container (every page)."
    )

    @iterator
    @requires("_listing")
    def iterate_container_entries(
        self, container: ContainerRef, prefix: str | None = None, *, delimiter: str = "/"
    ) -> Iter[Object | Prefix]:
        """Iterate over one "directory level": the objects directly under
        ``prefix`` and the common prefixes (sub-directories) up to ``delimiter``,
        in name order."""
        if (
            not isinstance(delimiter, str)
            or not delimiter
            or "\x00" in delimiter
            or not _is_utf8(delimiter)
        ):
            raise InvalidInput("delimiter must be a non-empty string of valid UTF-8",
                               driver=self)
        name = self._check_container(container_name(container))
        yield from self._listing(name, self._check_prefix(prefix), delimiter)

    list_container_entries = listing(
        iterate_container_entries, "List one 'directory level' (see iterate_container_entries)."
    )

    # -- objects ----------------------------------------------------------------

    @operation
    @not_supported
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """Get an object's metadata; :class:`~overcast.errors.ObjectNotFound` if absent."""
        raise NotImplementedError

    @operation
    @requires("_write")
    def upload_object(self, file_path: str | os.PathLike[str], container: ContainerRef,
                      object_name: str, extra: Mapping[str, Any] | None = None,
                      verify_hash: bool = True, headers: Mapping[str, str] | None = None, *,
                      content_type: str | None = None, meta_data: Mapping[str, str] | None = None,
                      progress: Progress | None = None, resume: bool = False) -> Op[Object]:
        """Upload a local file: one request up to ``part_plan.threshold``, else in
        parts (in parallel where the provider allows), checked against the
        file's size as it is read.

        ``extra`` may hold ``content_type`` and ``meta_data`` (Apache Libcloud's
        spelling; the keyword-only arguments say the same and win), and the
        keys the driver adds (:attr:`extra_keys`); ``headers`` are sent with the
        object. ``verify_hash=False`` lets a driver skip comparing what the
        provider stored with what was sent where that costs a request.

        ``resume=True`` (drivers with :attr:`resumable_uploads`, else
        :class:`~overcast.errors.NotSupported`) makes an upload in parts
        resumable: it continues the object's most recent unfinished upload,
        sending only the parts the provider does not already hold with the same
        size and content, and a failed upload is left unfinished (its parts
        kept, at the provider's storage price, until a later upload finishes or
        aborts it, or a lifecycle rule removes it) rather than aborted. The
        unfinished upload keeps the content type and metadata it began with.
        Two writers resuming one object at once would mix their parts."""
        source = os.fspath(file_path)
        where = self._check_container(container_name(container))
        name = self._check_object(object_name)
        attributes = self._attributes(name, extra, headers, content_type, meta_data)
        size: int | None = yield Call(readable_file_size, source)
        if size is None:
            raise InvalidInput(f"not a readable file: {source}", driver=self)
        if resume and not self.resumable_uploads:
            raise NotSupported(f"{self.name}: this driver cannot resume an upload", driver=self)
        body = FileStream(source).observe(SizeCheck(size, source, driver=self))
        if progress is not None:
            body.observe(ProgressReport(progress, size))
        if resume:
            return (yield from self._write_resumable(where, name, attributes, body, size,
                                                     verify=verify_hash))
        return (yield from self._write(where, name, attributes, body, size, verify=verify_hash))

    @operation
    @requires("_write")
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
        """Upload from an iterator of bytes, a file object, bytes or a
        :class:`~overcast.runtime.streams.ByteStream`, without knowing the size
        first: one request if it ends within ``part_plan.threshold``, else parts
        (growing so the provider's part limit is never reached). With the async
        runner the iterator may be async. ``extra`` and ``headers`` as for
        :meth:`upload_object`."""
        where = self._check_container(container_name(container))
        name = self._check_object(object_name)
        attributes = self._attributes(name, extra, headers, content_type, meta_data)
        if isinstance(iterator, str):
            raise InvalidInput("upload data must be bytes, not str", driver=self)
        if not (iterator is None or hasattr(iterator, "read") or isinstance(
            iterator, bytes | bytearray | memoryview | ByteStream | Iterable | AsyncIterable
        )):
            raise InvalidInput(
                "upload data must be bytes, a binary file object or an iterable of bytes, "
                f"not {type(iterator).__name__}",
                driver=self,
            )
        body = as_stream(iterator)
        if progress is not None:
            body.observe(ProgressReport(progress, None))
        return (yield from self._write(where, name, attributes, body, None, verify=True))

    @stream
    @requires("_read_range")
    def download_object_range_as_stream(self, obj: Object, start_bytes: int,
                                        end_bytes: int | None = None,
                                        chunk_size: int | None = None) -> Op[ByteStream]:
        """Iterate over bytes ``[start_bytes, end_bytes)`` of an object
        (``end_bytes=None``: to the end).

        Every read is checked for its length; a full read also against the
        checksum or hash the provider reports for the data it sends, so a
        mismatch raises :class:`~overcast.errors.IntegrityError` at the end of
        the stream (or before the first byte when the object is read whole).
        An empty range reads nothing but the object must exist; a range that
        starts at the object's end is empty; one past it is
        :class:`~overcast.errors.InvalidInput`. ``chunk_size`` is a hint (HTTP
        drivers hand chunks over as the transport reads them)."""
        container = self._check_container(obj.container_name)
        name = self._check_object(obj.name)
        start, end = check_range(None, start_bytes, end_bytes, driver=self)
        if end == start:
            yield from self.get_object.op(container, name)
            return IterStream([])
        ranged = yield from self._read_range(obj, Span(container, name, start, end, chunk_size))
        if not ranged.satisfiable:
            size = ranged.total
            if size is None:
                size = (yield from self.get_object.op(container, name)).size
            if end is None and start == size:  # from the end of the object to its end
                return IterStream([])
            raise InvalidInput(f"start_bytes {start} is past the object's size {size}",
                               driver=self)
        wanted = None if end is None else end - start
        length = ranged.length
        if wanted is not None and length is not None and length < wanted:
            if not isinstance(ranged.body, bytes):
                ranged.body.close()
            raise InvalidInput(f"end_bytes {end} is past the object's size", driver=self)
        checks = [SizeCheck(length if wanted is None else wanted, name, driver=self),
                  *ranged.checks]
        if isinstance(ranged.body, bytes):  # read whole: checked before a byte is handed over
            return checked_body(ranged.body, *checks)
        return ranged.body.observe(*checks)

    @stream
    @requires("download_object_range_as_stream")
    def download_object_as_stream(
        self, obj: Object, chunk_size: int | None = None
    ) -> Op[ByteStream]:
        """Iterate over an object's bytes. A full read is checked against the
        size and hash the provider reports for the data it sends; a mismatch
        raises :class:`~overcast.errors.IntegrityError` at the end of the stream."""
        return (yield from self.download_object_range_as_stream.op(obj, 0, None, chunk_size))

    @operation
    @requires("download_object_as_stream")
    def download_object(self, obj: Object, destination_path: str | os.PathLike[str],
                        overwrite_existing: bool = False, delete_on_failure: bool = True, *,
                        progress: Progress | None = None) -> Op[bool]:
        """Download an object to a local file.

        The data goes to a temporary file beside the destination, which is
        renamed into place only after the size and hash match; on any failure
        nothing is left behind (``delete_on_failure`` is accepted for Apache
        Libcloud compatibility; overcast always cleans up). Where the driver
        reads in parallel ranges (:attr:`parallel_ranges`), an object above
        ``part_plan.threshold`` comes as ranges of the version current when
        the download starts, written in place and checked against the object's
        MD5 (when it has one) before the rename.
        """
        check_file_name(os.fspath(destination_path), driver=self)
        if self.parallel_ranges and obj.size > self.part_plan.threshold:
            current = yield from self.get_object.op(obj.container_name, obj.name)
            if current.size > self.part_plan.threshold:
                return (yield from self._download_in_ranges(
                    current, destination_path, overwrite_existing, progress
                ))
            obj = current
        body = yield from self.download_object_as_stream.op(obj)
        return (
            yield from self._save(body, destination_path, overwrite_existing, obj.size, progress)
        )

    @operation
    @requires("download_object_range_as_stream")
    def download_object_range(self, obj: Object, destination_path: str | os.PathLike[str],
                              start_bytes: int, end_bytes: int | None = None,
                              overwrite_existing: bool = False, delete_on_failure: bool = True, *,
                              progress: Progress | None = None) -> Op[bool]:
        """Download bytes ``[start_bytes, end_bytes)`` of an object to a local file."""
        check_file_name(os.fspath(destination_path), driver=self)
        start, end = check_range(obj.size, start_bytes, end_bytes, driver=self)
        body = yield from self.download_object_range_as_stream.op(obj, start, end)
        expected = (obj.size if end is None else end) - start
        return (
            yield from self._save(body, destination_path, overwrite_existing, expected, progress)
        )

    @operation
    @not_supported
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete an object; :class:`~overcast.errors.ObjectNotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy an object inside this driver (server-side where the provider can)."""
        raise NotImplementedError

    # -- CDN and URLs (Apache Libcloud names) -------------------------------------

    @operation
    @not_supported
    def enable_container_cdn(self, container: ContainerRef) -> Op[bool]:
        """Enable CDN delivery for a container."""
        raise NotImplementedError

    @operation
    @not_supported
    def enable_object_cdn(self, obj: Object) -> Op[bool]:
        """Enable CDN delivery for an object."""
        raise NotImplementedError

    @operation
    @not_supported
    def get_container_cdn_url(self, container: ContainerRef) -> Op[str]:
        """The CDN URL of a container."""
        raise NotImplementedError

    @operation
    @not_supported
    def get_object_cdn_url(self, obj: Object) -> Op[str]:
        """The CDN URL of an object."""
        raise NotImplementedError

    @operation
    @not_supported
    def get_object_presigned_url(
        self, obj: Object, *, method: str = "GET", expires: int = 3600
    ) -> Op[str]:
        """A URL that grants ``method`` (GET or PUT) on the object for ``expires`` s."""
        raise NotImplementedError

    # -- hooks: names and attributes -----------------------------------------------

    #: The keys of ``extra`` an upload takes besides ``content_type`` and
    #: ``meta_data`` (what they mean is the driver's: see :meth:`_extra_headers`).
    extra_keys: ClassVar[frozenset[str]] = frozenset({"acl"})
    #: The longest object name, in bytes of UTF-8.
    max_object_name_bytes: ClassVar[int] = MAX_OBJECT_NAME_BYTES
    #: Whether a content type must be ASCII (it travels in a header as it is).
    ascii_content_type: ClassVar[bool] = False

    def _check_container(self, name: object) -> str:
        """Hook: ``name`` if it is a valid container name for this provider, else
        :class:`~overcast.errors.InvalidInput` (before any request)."""
        if not isinstance(name, str) or not name or not _is_utf8(name):
            raise InvalidInput(
                f"container name must be a non-empty string of valid UTF-8: {name!r}",
                driver=self,
            )
        return name

    def _check_prefix(self, prefix: object) -> str:
        """Hook: a listing's prefix (``None``: no prefix, ``""``) if valid, else
        :class:`~overcast.errors.InvalidInput` (before any request). The rules
        every provider shares: a string of valid UTF-8 without NUL (no object
        name holds one). Drivers whose listings reach a file system add theirs."""
        if prefix is None:
            return ""
        if not isinstance(prefix, str) or "\x00" in prefix or not _is_utf8(prefix):
            raise InvalidInput(
                f"prefix must be a string of valid UTF-8 without NUL: {prefix!r}", driver=self
            )
        return prefix

    def _check_object(self, name: object) -> str:
        """Hook: ``name`` if it is a valid object name, else
        :class:`~overcast.errors.InvalidInput` (before any request).

        The rules every provider shares: a non-empty string of valid UTF-8 of
        at most :attr:`max_object_name_bytes`, without NUL and without empty,
        ``.`` or ``..`` path segments (so no leading, trailing or doubled
        ``/``). Drivers add their own by extending this."""
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"object name must be a non-empty string: {name!r}", driver=self)
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"object name is not valid UTF-8: {name!r}", driver=self) from None
        if "\x00" in name or len(encoded) > self.max_object_name_bytes:
            raise InvalidInput(
                f"invalid object name {name!r}: NUL byte or over "
                f"{self.max_object_name_bytes} bytes",
                driver=self,
            )
        if _BAD_SEGMENT.search(name):
            raise InvalidInput(
                f"invalid object name {name!r}: empty, '.' or '..' path segment "
                "(leading, trailing or doubled '/')",
                driver=self,
            )
        return name

    def _check_meta(self, meta: dict[str, str]) -> dict[str, str]:
        """Hook: user metadata as the provider stores it, else
        :class:`~overcast.errors.InvalidInput`. By default keys are non-empty
        strings, values strings, neither with a line break or NUL."""
        for key, value in meta.items():
            if not isinstance(key, str) or not isinstance(value, str) or not key:
                raise InvalidInput("meta_data keys must be non-empty strings, values strings",
                                   driver=self)
            if any(c in key + value for c in "\r\n\x00"):
                raise InvalidInput(f"meta_data {key!r} contains a line break or NUL",
                                   driver=self)
        return meta

    def _check_header(self, name: object, value: object) -> None:
        """Hook: raise :class:`~overcast.errors.InvalidInput` for an extra header
        the provider must not be sent (by default: not a string, or a control
        character in its name or value)."""
        if (
            not isinstance(name, str)
            or not isinstance(value, str)
            or not name
            or _CONTROL.search(name)
            or _CONTROL.search(value)
            or not _is_utf8(name + value)
        ):
            raise InvalidInput(f"invalid header {name!r}", driver=self)

    def _extra_headers(self, extra: Mapping[str, Any]) -> dict[str, str]:
        """Hook: the request headers that the driver's own keys of ``extra``
        (:attr:`extra_keys`) mean; by default none (``acl`` is accepted for
        Apache Libcloud compatibility and means nothing)."""
        return {}

    def _attributes(self, object_name: str, extra: Mapping[str, Any] | None,
                    headers: Mapping[str, str] | None, content_type: str | None,
                    meta_data: Mapping[str, str] | None) -> Attributes:
        """The :class:`Attributes` of an object being written, from an upload's
        arguments, each checked; :class:`~overcast.errors.InvalidInput` before
        any request if one is wrong.

        The content type is ``content_type``, else ``extra["content_type"]``,
        else the one the name suggests; the metadata ``meta_data``, else
        ``extra["meta_data"]``. ``headers`` and the headers the driver's own
        ``extra`` keys mean are sent with the object."""
        extra = dict(extra or {})
        unknown = set(extra) - {"content_type", "meta_data"} - self.extra_keys
        if unknown:
            raise InvalidInput(f"unknown extra keys: {', '.join(sorted(unknown))}", driver=self)
        ctype = content_type or extra.get("content_type") or guess_type(object_name)
        if (
            not isinstance(ctype, str)
            or _CONTROL.search(ctype)
            or (self.ascii_content_type and not ctype.isascii())
            or not _is_utf8(ctype)
        ):
            raise InvalidInput(f"invalid content type: {ctype!r}", driver=self)
        meta = self._check_meta(
            dict(meta_data if meta_data is not None else extra.get("meta_data") or {})
        )
        if not all(_is_utf8(key) and _is_utf8(value) for key, value in meta.items()):
            raise InvalidInput("meta_data keys and values must be valid UTF-8", driver=self)
        sent = self._extra_headers(extra)
        for key, value in (headers or {}).items():
            self._check_header(key, value)
            sent[key] = value
        return Attributes(ctype, meta, sent)

    # -- hooks: writing and reading -------------------------------------------------

    #: How uploads are cut into parts (and, with :attr:`parallel_ranges`, how
    #: large downloads are cut into ranges).
    part_plan: PartPlan = PartPlan()
    #: Whether :meth:`download_object` fetches a large object as parallel ranges.
    parallel_ranges: ClassVar[bool] = False
    #: Whether an upload in parts can be resumed (``upload_object(resume=True)``):
    #: the driver's :meth:`_part_target` is a
    #: :class:`~overcast.storage.transfer.ResumableTarget`.
    resumable_uploads: ClassVar[bool] = False
    #: The smallest range of a download in parallel ranges.
    min_range_size: ClassVar[int] = 0

    @not_supported
    def _listing(self, container: str, prefix: str, delimiter: str | None
                 ) -> Iter[Object | Prefix]:
        """Hook: the objects of a container (names checked) whose names start with
        ``prefix``, in name order, page by page (on
        :func:`~overcast.runtime.paging.paginate`); with a ``delimiter``, the
        names below a common prefix up to it are one :class:`Prefix` entry."""
        raise NotImplementedError

    @not_supported
    def _part_target(self, container: str, name: str, attributes: Attributes, *,
                     verify: bool) -> PartTarget:
        """Hook: the provider's :class:`~overcast.storage.transfer.PartTarget`
        for one object (names already checked)."""
        raise NotImplementedError

    @requires("_part_target")
    def _write(self, container: str, name: str, attributes: Attributes, body: ByteStream,
               size: int | None, *, verify: bool) -> Op[Object]:
        """Store ``body`` (``size`` bytes if known) as an object: by default through
        :func:`~overcast.storage.transfer.upload_in_parts` and the driver's
        :meth:`_part_target`, cut by :attr:`part_plan`."""
        target = self._part_target(container, name, attributes, verify=verify)
        obj: Object = yield from upload_in_parts(target, body, size=size, plan=self.part_plan)
        return obj

    @requires("_part_target")
    def _write_resumable(self, container: str, name: str, attributes: Attributes,
                         body: ByteStream, size: int, *, verify: bool) -> Op[Object]:
        """Store a file's ``body`` as :meth:`_write` does, resumably (see
        ``upload_object(resume=True)``): through
        :func:`~overcast.storage.transfer.upload_in_parts` with ``resume``, the
        driver's :meth:`_part_target` then being a
        :class:`~overcast.storage.transfer.ResumableTarget`."""
        target = self._part_target(container, name, attributes, verify=verify)
        obj: Object = yield from upload_in_parts(target, body, size=size, plan=self.part_plan,
                                                 resume=True)
        return obj

    @not_supported
    def _read_range(self, obj: Object, span: Span) -> Op[Ranged]:
        """Hook: read ``span`` of ``obj`` (never an empty one) as a
        :class:`~overcast.storage.transfer.Ranged` that says which checks of the
        whole object apply when the read is full. A missing object raises
        :class:`~overcast.errors.ObjectNotFound`; drivers that read in parallel
        ranges honour ``span.etag``."""
        raise NotImplementedError

    def _md5_of(self, obj: Object) -> str | None:
        """Hook: the MD5 (hex) of an object's bytes, when its metadata says it; a
        download in ranges is checked against it."""
        return obj.content_md5

    # -- shared helpers -----------------------------------------------------------

    def _download_in_ranges(self, obj: Object, destination_path: str | os.PathLike[str],
                            overwrite_existing: bool, progress: Progress | None) -> Op[bool]:
        """Download ``obj`` (fresh metadata) as parallel ranges of its version."""
        container, name = obj.container_name, obj.name
        etag = obj.extra.get("etag")
        md5 = self._md5_of(obj)

        def fetch(start: int, end: int) -> Op[ByteStream]:
            ranged = yield from self._read_range(obj, Span(container, name, start, end,
                                                           etag=etag))
            body = ranged.body
            return IterStream([body]) if isinstance(body, bytes) else body

        saved: bool = yield from download_in_ranges(
            fetch,
            obj.size,
            destination_path,
            overwrite=overwrite_existing,
            part_size=max(self.part_plan.part_size, self.min_range_size),
            concurrency=self.part_plan.concurrency,
            checksum=("md5", md5) if md5 else None,
            progress=progress,
            driver=self,
        )
        return saved

    def _save(self, body: ByteStream, destination_path: str | os.PathLike[str],
              overwrite_existing: bool, expected_size: int | None,
              progress: Progress | None) -> Op[bool]:
        """Write a stream to a file atomically (temporary file, fsync, rename)."""
        if progress is not None:
            body.observe(ProgressReport(progress, expected_size))
        target = yield from open_atomic(destination_path, overwrite_existing, driver=self)

        def write() -> Op[bool]:
            yield Pipe(body, target)
            yield from commit_op(target)
            return True

        result: bool = yield Guarded(write(), lambda exc: discard_op(target))
        return result


class StorageDriverAsync(AsyncView[StorageDriver]):
    """``driver.aio`` of a storage driver: every operation, awaitable."""

    iterate_containers = aio(StorageDriver.iterate_containers)
    list_containers = aio(StorageDriver.list_containers)
    get_container = aio(StorageDriver.get_container)
    create_container = aio(StorageDriver.create_container)
    delete_container = aio(StorageDriver.delete_container)
    iterate_container_objects = aio(StorageDriver.iterate_container_objects)
    list_container_objects = aio(StorageDriver.list_container_objects)
    iterate_container_entries = aio(StorageDriver.iterate_container_entries)
    list_container_entries = aio(StorageDriver.list_container_entries)
    get_object = aio(StorageDriver.get_object)
    upload_object = aio(StorageDriver.upload_object)
    upload_object_via_stream = aio(StorageDriver.upload_object_via_stream)
    download_object_range_as_stream = aio(StorageDriver.download_object_range_as_stream)
    download_object_as_stream = aio(StorageDriver.download_object_as_stream)
    download_object = aio(StorageDriver.download_object)
    download_object_range = aio(StorageDriver.download_object_range)
    delete_object = aio(StorageDriver.delete_object)
    copy_object = aio(StorageDriver.copy_object)
    enable_container_cdn = aio(StorageDriver.enable_container_cdn)
    enable_object_cdn = aio(StorageDriver.enable_object_cdn)
    get_container_cdn_url = aio(StorageDriver.get_container_cdn_url)
    get_object_cdn_url = aio(StorageDriver.get_object_cdn_url)
    get_object_presigned_url = aio(StorageDriver.get_object_presigned_url)


StorageDriver.async_view = StorageDriverAsync
