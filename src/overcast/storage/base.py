"""Object storage: the models and the driver API every storage driver shares.

Names and positional parameters follow Apache Libcloud 3.x
(``libcloud.storage.base.StorageDriver``), so its users port code by changing
imports; overcast's additions are keyword-only. Every operation is available
sync (``driver.x()``) and async (``await driver.aio.x()``); a driver that lacks
one raises :class:`~overcast.errors.NotSupported` (see ``driver.supports()``).

Containers may be given as a :class:`Container` or by name.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import IO, Any, ClassVar, TypeAlias

from overcast.driver import AsyncView, BaseDriver
from overcast.errors import InvalidInput
from overcast.models import Model
from overcast.runtime.effects import Guarded, Iter, Op, Pipe
from overcast.runtime.operation import (
    aio,
    iterator,
    not_supported,
    operation,
    requires,
    stream,
)
from overcast.runtime.ops import collect
from overcast.runtime.streams import ByteStream
from overcast.storage import transfer

__all__ = [
    "Container",
    "ContainerRef",
    "Object",
    "Prefix",
    "Progress",
    "StorageDriver",
    "StorageDriverAsync",
]

#: ``progress(bytes_done, total_or_None)``, called as data moves.
Progress: TypeAlias = Callable[[int, "int | None"], None]


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


@dataclass(slots=True, eq=False)
class Object:
    """An object in a container.

    ``hash`` is the provider's ETag or content hash (hex MD5 where the provider
    uses MD5); ``meta_data`` the user metadata; ``content_type`` and
    ``last_modified`` are filled when the provider reports them.
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

    def download(
        self,
        destination_path: str | os.PathLike[str],
        overwrite_existing: bool = False,
        delete_on_failure: bool = True,
    ) -> bool:
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


class StorageDriver(BaseDriver):
    """Base class of object storage drivers.

    Drivers implement the primitive operations (``iterate_containers``,
    ``get_container``, ``create_container``, ``delete_container``,
    ``iterate_container_objects``, ``get_object``, ``upload_object``,
    ``upload_object_via_stream``, ``download_object_range_as_stream``,
    ``delete_object``); the rest is built on them here, once.
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

    @operation
    @requires("iterate_containers")
    def list_containers(self) -> Op[list[Container]]:
        """List every container of the account."""
        return (yield from collect(self.iterate_containers.op()))

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
    @not_supported
    def iterate_container_objects(
        self, container: ContainerRef, prefix: str | None = None, ex_prefix: str | None = None
    ) -> Iter[Object]:
        """Iterate over the objects of a container, in name order, page by page.

        ``prefix`` keeps only names starting with it (``ex_prefix`` is Apache
        Libcloud's older spelling of the same).
        """
        raise NotImplementedError

    @operation
    @requires("iterate_container_objects")
    def list_container_objects(
        self, container: ContainerRef, prefix: str | None = None, ex_prefix: str | None = None
    ) -> Op[list[Object]]:
        """List the objects of a container (every page)."""
        return (
            yield from collect(
                self.iterate_container_objects.op(container, prefix, ex_prefix)
            )
        )

    @iterator
    @not_supported
    def iterate_container_entries(
        self, container: ContainerRef, prefix: str | None = None, *, delimiter: str = "/"
    ) -> Iter[Object | Prefix]:
        """Iterate over one "directory level": the objects directly under
        ``prefix`` and the common prefixes (sub-directories) up to ``delimiter``."""
        raise NotImplementedError

    @operation
    @requires("iterate_container_entries")
    def list_container_entries(
        self, container: ContainerRef, prefix: str | None = None, *, delimiter: str = "/"
    ) -> Op[list[Object | Prefix]]:
        """List one "directory level" (see :meth:`iterate_container_entries`)."""
        return (
            yield from collect(
                self.iterate_container_entries.op(container, prefix, delimiter=delimiter)
            )
        )

    # -- objects ----------------------------------------------------------------

    @operation
    @not_supported
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """Get an object's metadata; :class:`~overcast.errors.ObjectNotFound` if absent."""
        raise NotImplementedError

    @operation
    @not_supported
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
        """Upload a local file. ``extra`` may hold ``content_type`` and ``meta_data``
        (Apache Libcloud's spelling); the keyword-only arguments say the same."""
        raise NotImplementedError

    @operation
    @not_supported
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
        """Upload from an iterator of bytes, a file object or bytes, without
        knowing the size first. With the async runner the iterator may be async."""
        raise NotImplementedError

    @stream
    @not_supported
    def download_object_range_as_stream(
        self,
        obj: Object,
        start_bytes: int,
        end_bytes: int | None = None,
        chunk_size: int | None = None,
    ) -> Op[ByteStream]:
        """Iterate over bytes ``[start_bytes, end_bytes)`` of an object
        (``end_bytes=None``: to the end).

        Drivers attach size and hash checks (from the metadata of the data
        actually sent) when the whole object is read."""
        raise NotImplementedError

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
    def download_object(
        self,
        obj: Object,
        destination_path: str | os.PathLike[str],
        overwrite_existing: bool = False,
        delete_on_failure: bool = True,
        *,
        progress: Progress | None = None,
    ) -> Op[bool]:
        """Download an object to a local file.

        The data goes to a temporary file beside the destination, which is
        renamed into place only after the size and hash match; on any failure
        nothing is left behind (``delete_on_failure`` is accepted for Apache
        Libcloud compatibility; overcast always cleans up).
        """
        body = yield from self.download_object_as_stream.op(obj)
        return (
            yield from self._save(body, destination_path, overwrite_existing, obj.size, progress)
        )

    @operation
    @requires("download_object_range_as_stream")
    def download_object_range(
        self,
        obj: Object,
        destination_path: str | os.PathLike[str],
        start_bytes: int,
        end_bytes: int | None = None,
        overwrite_existing: bool = False,
        delete_on_failure: bool = True,
        *,
        progress: Progress | None = None,
    ) -> Op[bool]:
        """Download bytes ``[start_bytes, end_bytes)`` of an object to a local file."""
        start, end = transfer.check_range(obj.size, start_bytes, end_bytes, driver=self)
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

    # -- shared helpers -----------------------------------------------------------

    def _save(
        self,
        body: ByteStream,
        destination_path: str | os.PathLike[str],
        overwrite_existing: bool,
        expected_size: int | None,
        progress: Progress | None,
    ) -> Op[bool]:
        """Write a stream to a file atomically (temporary file, fsync, rename)."""
        if progress is not None:
            body.observe(transfer.ProgressReport(progress, expected_size))
        target = yield from transfer.open_atomic(destination_path, overwrite_existing, driver=self)

        def write() -> Op[bool]:
            yield Pipe(body, target)
            yield from transfer.commit_op(target)
            return True

        result: bool = yield Guarded(write(), lambda exc: transfer.discard_op(target))
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
