"""The embedded storage driver: containers are directories, objects are files.

Layout under the root directory::

    <root>/<container>/<object name>          the data ("a/b.txt" is a nested file)
    <root>/.overcast/meta/<container>/..json  content type, user metadata, MD5
    <root>/.overcast/tmp/                     uploads in progress
    <root>/.overcast/locks/<container>.lock   short locks around renames

Writes are atomic: data goes to a temporary file that is fsynced and renamed
into place under an exclusive lock, together with its metadata, so a failed or
interrupted upload leaves nothing behind and concurrent writers (threads or
processes) never interleave. Reads take a shared lock to open the file and read
its metadata, so a download is checked against the MD5 of exactly the version
it reads.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import IO
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.errors import ContainerAlreadyExists
from overcast.errors import ContainerIsNotEmpty
from overcast.errors import ContainerNotFound
from overcast.errors import InvalidInput
from overcast.errors import ObjectNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Pipe
from overcast.runtime.files import write_atomic
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.streams import DEFAULT_CHUNK_SIZE
from overcast.runtime.streams import ByteStream
from overcast.runtime.streams import ReaderStream
from overcast.storage.base import Attributes
from overcast.storage.base import Container
from overcast.storage.base import ContainerRef
from overcast.storage.base import Object
from overcast.storage.base import Prefix
from overcast.storage.base import StorageDriver
from overcast.storage.base import container_name
from overcast.storage.checks import DEFAULT_CONTENT_TYPE
from overcast.storage.checks import HashCheck
from overcast.storage.checks import check_range
from overcast.storage.checks import guess_type
from overcast.storage.transfer import Ranged
from overcast.storage.transfer import Span

__all__ = ["LocalStorageDriver"]

_RESERVED: Final = ".overcast"
MAX_COMPONENT_BYTES: Final = 255


class _ObjectWriter:
    """A temporary file that hashes and counts what is written to it."""

    def __init__(self, directory: str) -> None:
        fd, self.temp_path = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=directory)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.md5.update(data)
        self.size += len(data)

    def finish(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()

    def discard(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)


class LocalStorageDriver(StorageDriver):
    """Object storage in a local directory.

    ``LocalStorageDriver(key)``: ``key`` is the root directory (created if
    missing), as in Apache Libcloud's local driver. ``page_size`` is how many
    objects a listing reads per step.
    """

    name: ClassVar[str] = "local"

    def __init__(self, key: str | os.PathLike[str], secret: str | None = None, *,
                 page_size: int = 1000, **options: Any) -> None:
        super().__init__(**options)
        self.page_size = check_page_size(page_size, driver=self)
        self.root = os.path.abspath(os.fspath(key))
        self._meta_root = os.path.join(self.root, _RESERVED, "meta")
        self._tmp_root = os.path.join(self.root, _RESERVED, "tmp")
        self._lock_root = os.path.join(self.root, _RESERVED, "locks")
        for directory in (self.root, self._meta_root, self._tmp_root, self._lock_root):
            os.makedirs(directory, exist_ok=True)

    def _repr_fields(self) -> dict[str, object]:
        return {"root": self.root}

    # -- names ----------------------------------------------------------------

    def _check_container(self, name: object) -> str:
        """A container is a directory under the root: one printable path
        component, not hidden."""
        name = super()._check_container(name)
        if (
            name.startswith(".")
            or "/" in name
            or "\\" in name
            or "\x00" in name
            or len(name.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES
            or not name.isprintable()
        ):
            raise InvalidInput(f"invalid container name: {name!r}", driver=self)
        return name

    def _check_object(self, name: object) -> str:
        """The shared rules, and each path segment a file name of this system:
        no backslash, at most 255 bytes."""
        name = super()._check_object(name)
        for part in name.split("/"):
            if "\\" in part or len(part.encode()) > MAX_COMPONENT_BYTES:
                raise InvalidInput(
                    f"invalid object name {name!r}: a backslash or a segment over "
                    f"{MAX_COMPONENT_BYTES} bytes",
                    driver=self,
                )
        return name

    def _container_dir(self, name: str) -> str:
        return os.path.join(self.root, self._check_container(name))

    def _object_path(self, container: str, name: str) -> str:
        base = self._container_dir(container)
        path = os.path.join(base, *self._check_object(name).split("/"))
        if os.path.commonpath([base, os.path.normpath(path)]) != base:
            raise InvalidInput(f"object name escapes its container: {name!r}", driver=self)
        return path

    def _meta_path(self, container: str, name: str) -> str:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self._meta_root, container, digest[:2], f"{digest}.json")

    @contextlib.contextmanager
    def _locked(self, container: str, *, exclusive: bool) -> Iterator[None]:
        with open(os.path.join(self._lock_root, f"{container}.lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _confined(self, container: str, path: str) -> str:
        """``path`` if it resolves inside its container (no symlink escapes)."""
        base = os.path.realpath(self._container_dir(container))
        real = os.path.realpath(path)
        if real != base and not real.startswith(base + os.sep):
            raise InvalidInput(f"{path} resolves outside its container", driver=self)
        return path

    def _require_container(self, container: str) -> str:
        directory = self._container_dir(container)
        if not os.path.isdir(directory):
            raise ContainerNotFound(container, driver=self)
        return directory

    # -- blocking primitives (run through Call) -------------------------------

    def _container(self, name: str) -> Container:
        directory = self._require_container(name)
        stat = os.stat(directory)
        return Container(
            name=name,
            extra={"path": directory, "modify_time": stat.st_mtime},
            driver=self,
        )

    def _read_meta(self, container: str, name: str, stat: os.stat_result) -> dict[str, Any]:
        try:
            with open(self._meta_path(container, name), "rb") as f:
                meta: dict[str, Any] = json.load(f)
        except (FileNotFoundError, ValueError):
            return {}
        # Metadata of another version of the file (written by hand) is ignored.
        if meta.get("size") != stat.st_size or meta.get("mtime_ns") != stat.st_mtime_ns:
            return {}
        return meta

    def _object(self, container: str, name: str, path: str, *, hash_missing: bool) -> Object:
        stat = os.stat(path)
        meta = self._read_meta(container, name, stat)
        etag: str | None = meta.get("md5")
        if etag is None and hash_missing:
            etag = _file_md5(path)
        return Object(
            name=name,
            size=stat.st_size,
            hash=etag,
            extra={"path": path},
            meta_data=dict(meta.get("meta_data", {})),
            container=Container(name=container, driver=self),
            driver=self,
            content_type=meta.get("content_type") or guess_type(name),
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        )

    def _stat_object(self, container: str, name: str) -> Object:
        path = self._object_path(container, name)
        self._require_container(container)
        self._confined(container, path)
        with self._locked(container, exclusive=False):
            if not os.path.isfile(path):
                raise ObjectNotFound(name, driver=self)
            return self._object(container, name, path, hash_missing=True)

    def _scan(self, container: str, prefix: str) -> list[str]:
        """Every object name in the container that starts with ``prefix``, sorted."""
        base = self._require_container(container)
        # Walk only the deepest directory the prefix names.
        start_rel = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = os.path.join(base, *start_rel.split("/")) if start_rel else base
        names: list[str] = []
        for directory, subdirs, files in os.walk(start):
            rel_dir = os.path.relpath(directory, base)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            subdirs[:] = [
                d for d in subdirs
                if (rel_dir + d + "/").startswith(prefix) or prefix.startswith(rel_dir + d + "/")
            ]
            for file in files:
                name = rel_dir + file
                if name.startswith(prefix):
                    names.append(name)
        names.sort()
        return names

    def _stat_many(self, container: str, names: list[str]) -> list[Object]:
        base = self._container_dir(container)
        found: list[Object] = []
        with self._locked(container, exclusive=False):
            for name in names:
                path = os.path.join(base, *name.split("/"))
                try:
                    found.append(self._object(container, name, path, hash_missing=False))
                except FileNotFoundError:
                    continue  # deleted since the scan
        return found

    def _begin_write(self, container: str) -> _ObjectWriter:
        self._require_container(container)
        return _ObjectWriter(self._tmp_root)

    def _commit(
        self, writer: _ObjectWriter, container: str, name: str, attributes: Attributes
    ) -> Object:
        writer.finish()
        path = self._object_path(container, name)
        meta_path = self._meta_path(container, name)
        with self._locked(container, exclusive=True):
            self._require_container(container)
            if os.path.isdir(path):
                raise InvalidInput(
                    f"object name {name!r} is a prefix of other objects", driver=self
                )
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise InvalidInput(
                    f"object name {name!r} needs a directory where an object exists",
                    driver=self,
                ) from None
            os.replace(writer.temp_path, path)
            stat = os.stat(path)
            meta = {
                "name": name,
                "md5": writer.md5.hexdigest(),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "content_type": attributes.content_type,
                "meta_data": attributes.meta_data,
            }
            write_atomic(
                meta_path, json.dumps(meta, ensure_ascii=False), temp_dir=self._tmp_root,
                make_dirs=True,
            )
            return self._object(container, name, path, hash_missing=False)

    def _open_range(
        self, container: str, name: str, start: int, end: int | None
    ) -> tuple[IO[bytes], int, str | None]:
        """Open an object for reading at ``start``: (file, length, md5 or None)."""
        path = self._object_path(container, name)
        self._require_container(container)
        self._confined(container, path)
        with self._locked(container, exclusive=False):
            try:
                f = open(path, "rb")  # noqa: SIM115 - the stream owns and closes it
            except (FileNotFoundError, IsADirectoryError):
                raise ObjectNotFound(name, driver=self) from None
            try:
                stat = os.fstat(f.fileno())
                meta = self._read_meta(container, name, stat)
                check_range(stat.st_size, start, end, driver=self)
                f.seek(start)
            except BaseException:
                f.close()
                raise
        stop = stat.st_size if end is None else end
        return f, stop - start, meta.get("md5")

    def _delete_object(self, container: str, name: str) -> bool:
        path = self._object_path(container, name)
        base = self._require_container(container)
        with self._locked(container, exclusive=True):
            try:
                if os.path.isdir(path):
                    raise FileNotFoundError(path)
                os.unlink(path)
            except FileNotFoundError:
                raise ObjectNotFound(name, driver=self) from None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._meta_path(container, name))
            _prune_empty_dirs(os.path.dirname(path), base)
        return True

    def _create_container(self, name: str) -> Container:
        directory = self._container_dir(name)
        try:
            os.mkdir(directory)
        except FileExistsError:
            raise ContainerAlreadyExists(name, driver=self) from None
        return self._container(name)

    def _delete_container(self, name: str) -> bool:
        directory = self._require_container(name)
        with self._locked(name, exclusive=True):
            for _, _, files in os.walk(directory):
                if files:
                    raise ContainerIsNotEmpty(
                        f"container {name!r} is not empty", driver=self
                    )
            for current, _, _ in sorted(os.walk(directory), key=lambda w: -len(w[0])):
                os.rmdir(current)
            meta_dir = os.path.join(self._meta_root, name)
            if os.path.isdir(meta_dir):
                import shutil

                shutil.rmtree(meta_dir)
        return True

    def _list_container_names(self) -> list[str]:
        return sorted(
            entry.name
            for entry in os.scandir(self.root)
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
        )

    # -- operations -----------------------------------------------------------

    @iterator
    def iterate_containers(self) -> Iter[Container]:
        """Iterate over the containers (directories) under the root."""
        names: list[str] = yield Call(self._list_container_names)
        for name in names:
            yield Emit(Container(name=name, extra={"path": os.path.join(self.root, name)},
                                 driver=self))

    @operation
    def get_container(self, container_name: str) -> Op[Container]:
        """Get a container by name."""
        self._container_dir(container_name)
        container: Container = yield Call(self._container, container_name)
        return container

    @operation
    def create_container(self, container_name: str) -> Op[Container]:
        """Create a container (a directory under the root)."""
        self._container_dir(container_name)
        container: Container = yield Call(self._create_container, container_name)
        return container

    @operation
    def delete_container(self, container: ContainerRef) -> Op[bool]:
        """Delete an empty container."""
        name = container_name(container)
        self._container_dir(name)
        deleted: bool = yield Call(self._delete_container, name)
        return deleted

    def _listing(self, container: str, prefix: str, delimiter: str | None
                 ) -> Iter[Object | Prefix]:
        """Objects (and, with a delimiter, common prefixes) in name order, the
        objects read ``page_size`` at a time from one scan of the directory."""
        entries: list[str | Prefix] = []
        ref = Container(name=container, driver=self)

        def fetch(number: Cursor | None) -> Op[Page[Object | Prefix]]:
            if number == 1:
                names: list[str] = yield Call(self._scan, container, prefix)
                entries.extend(_collapse(names, prefix, delimiter, ref))
            page = int(number or 1)
            chosen = entries[(page - 1) * self.page_size : page * self.page_size]
            found: list[Object] = yield Call(
                self._stat_many, container, [e for e in chosen if isinstance(e, str)]
            )
            stat = {obj.name: obj for obj in found}  # objects deleted since the scan drop out
            items = [e if isinstance(e, Prefix) else stat[e] for e in chosen
                     if isinstance(e, Prefix) or e in stat]
            return Page.number(items, page, more=page * self.page_size < len(entries))

        yield from paginate(fetch, first=1, what=f"listing of {container!r}", driver=self)

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """Get an object's metadata (size, MD5, content type, user metadata)."""
        self._object_path(container_name, object_name)
        obj: Object = yield Call(self._stat_object, container_name, object_name)
        return obj

    def _write(self, container: str, name: str, attributes: Attributes, body: ByteStream,
               size: int | None, *, verify: bool) -> Op[Object]:
        """Copy the bytes into a temporary file, then rename it into place with
        its metadata (the MD5 is computed as the bytes pass)."""
        self._object_path(container, name)
        writer: _ObjectWriter = yield Call(self._begin_write, container)

        def copy_and_commit() -> Op[Object]:
            yield Pipe(body, writer)
            obj: Object = yield Call(self._commit, writer, container, name, attributes)
            return obj

        def discard(exc: BaseException) -> Op[None]:
            yield Call(writer.discard)

        obj: Object = yield Guarded(copy_and_commit(), discard)
        return obj

    def _read_range(self, obj: Object, span: Span) -> Op[Ranged]:
        """The file opened under the lock, with the MD5 of exactly that version:
        a full read is checked against it."""
        opened: tuple[IO[bytes], int, str | None] = yield Call(
            self._open_range, span.container, span.name, span.start, span.end
        )
        f, length, md5 = opened
        body = ReaderStream(f, span.chunk_size or DEFAULT_CHUNK_SIZE, limit=length, owns=True)
        checks = [HashCheck("md5", md5, span.name, driver=self)] if span.full and md5 else []
        return Ranged(body, length, checks)

    @operation
    def delete_object(self, obj: Object) -> Op[bool]:
        """Delete an object (and its metadata; empty parent directories go too)."""
        container = obj.container_name
        self._object_path(container, obj.name)
        deleted: bool = yield Call(self._delete_object, container, obj.name)
        return deleted

    @operation
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy an object (with its content type and metadata)."""
        source = yield from self.get_object.op(obj.container_name, obj.name)
        target = container_name(target_container)
        name = target_name or obj.name
        self._object_path(target, name)
        body = yield from self.download_object_as_stream.op(source)
        attributes = Attributes(source.content_type or DEFAULT_CONTENT_TYPE,
                                dict(source.meta_data))
        return (yield from self._write(target, name, attributes, body, source.size,
                                       verify=True))


# -- helpers -----------------------------------------------------------------------


def _collapse(
    names: list[str], prefix: str, delimiter: str | None, container: Container
) -> Iterator[str | Prefix]:
    """Sorted object names as listing entries: with a delimiter, every name
    below a common prefix (up to the delimiter) collapses into that prefix."""
    seen: set[str] = set()
    for full in names:
        rest = full[len(prefix) :]
        cut = rest.find(delimiter) if delimiter else -1
        if cut < 0:
            yield full
            continue
        common = prefix + rest[: cut + len(delimiter or "")]
        if common not in seen:
            seen.add(common)
            yield Prefix(common, container)


def _file_md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(DEFAULT_CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _prune_empty_dirs(directory: str, stop: str) -> None:
    while directory != stop and directory.startswith(stop + os.sep):
        try:
            os.rmdir(directory)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                return
            raise
        directory = os.path.dirname(directory)
