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

A process killed mid-upload cannot remove its temporary file: every driver
sweeps, when it starts, the temporaries of ``.overcast/tmp`` whose writer is
gone or that nobody wrote for
:data:`~overcast.runtime.files.STALE_AFTER` (one day), and never one that a
live writer holds (see :func:`~overcast.runtime.files.sweep_stale`).

Nothing is reached through a symbolic link: every path is walked from the
root one component at a time, each opened relative to its parent without
following a link (``openat`` with ``O_NOFOLLOW``), and every write, rename
and delete is made relative to the directory so opened. A container, a
directory or an object that is a link is not listed, and any other operation
on it is :class:`~overcast.errors.InvalidInput`; a link planted in the
driver's own ``.overcast`` directory makes the operations that need it
refuse. Listing prefixes follow the rules of object names (no ``.``, ``..``
or empty segment), so a listing stays inside its container.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
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
from overcast.errors import OvercastError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Pipe
from overcast.runtime.files import create_temp
from overcast.runtime.files import sweep_stale
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
_NOFOLLOW: Final = os.O_NOFOLLOW | os.O_CLOEXEC
_DIRECTORY: Final = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW
#: Opening a FIFO planted as an object must not block: O_NONBLOCK (no effect on files).
_READ: Final = os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW
#: What opening a link with O_NOFOLLOW fails with (ELOOP; EMLINK on FreeBSD).
_LINK_ERRNOS: Final = frozenset({errno.ELOOP, errno.EMLINK})
#: Directories a tree keeps open before it closes them (a page of a listing may
#: touch many).
_OPEN_DIRECTORIES: Final = 64


class _Blocked(Exception):
    """A directory of a :class:`_Tree` that cannot be opened: ``kind`` is
    ``missing``, ``link`` or ``other`` (not a directory); ``parts`` its path."""

    def __init__(self, kind: str, parts: tuple[str, ...]) -> None:
        super().__init__(kind, parts)
        self.kind = kind
        self.parts = parts


class _Tree:
    """Directories under a root, each opened relative to its parent without
    following a link, kept open by path until :meth:`close` (or :meth:`trim`)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._open: dict[tuple[str, ...], int] = {}

    def __enter__(self) -> _Tree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dir(self, parts: tuple[str, ...], *, create: bool = False) -> int:
        """The directory ``root/parts...`` (created with ``create``), else :class:`_Blocked`."""
        fd = self._open.get(parts)
        if fd is not None:
            return fd
        if not parts:  # the root itself, as the caller named it
            try:
                fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise _Blocked("missing", parts) from None
            self._open[parts] = fd
            return fd
        parent = self.dir(parts[:-1], create=create)
        name = parts[-1]
        try:
            try:
                fd = os.open(name, _DIRECTORY, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, dir_fd=parent)
                fd = os.open(name, _DIRECTORY, dir_fd=parent)
        except OSError as exc:
            raise _blocked(parent, parts, exc) from None
        self._open[parts] = fd
        return fd

    def trim(self) -> None:
        """Close the directories opened so far, if they are many (no descriptor
        handed out before may be used after this)."""
        if len(self._open) > _OPEN_DIRECTORIES:
            self.close()

    def close(self) -> None:
        """Close every directory."""
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()


def _blocked(parent: int, parts: tuple[str, ...], error: OSError) -> Exception:
    """Why the directory ``parts[-1]`` of ``parent`` could not be opened: a
    :class:`_Blocked`, or ``error`` itself if it is a directory (no permission)."""
    try:
        found = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return _Blocked("missing", parts)
    if stat.S_ISDIR(found.st_mode):
        return error
    return _Blocked("link" if stat.S_ISLNK(found.st_mode) else "other", parts)


class _ObjectWriter:
    """An upload's temporary file in the driver's ``tmp`` directory (locked while
    it is written, see :func:`~overcast.runtime.files.create_temp`), hashing and
    counting what is written to it."""

    def __init__(self, dir_fd: int) -> None:
        self.dir_fd = dir_fd
        try:
            fd, self.name = create_temp("upload-", dir_fd=dir_fd)
        except BaseException:
            os.close(dir_fd)
            raise
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self.placed = False

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.md5.update(data)
        self.size += len(data)

    def finish(self) -> os.stat_result:
        """Flush and fsync (the file stays open, so locked, until it is placed)."""
        self.file.flush()
        os.fsync(self.file.fileno())
        return os.fstat(self.file.fileno())

    def place(self, name: str, dir_fd: int) -> None:
        """Rename the file to ``name`` in the directory open as ``dir_fd``."""
        os.replace(self.name, name, src_dir_fd=self.dir_fd, dst_dir_fd=dir_fd)
        self.placed = True

    def close(self) -> None:
        self.file.close()
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def discard(self) -> None:
        if not self.placed and self.dir_fd >= 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.name, dir_fd=self.dir_fd)
        self.close()


class LocalStorageDriver(StorageDriver):
    """Object storage in a local directory.

    ``LocalStorageDriver(key)``: ``key`` is the root directory (created if
    missing), as in Apache Libcloud's local driver. ``page_size`` is how many
    objects a listing reads per step. A new driver sweeps the temporary files
    that killed processes left in the root (see the module).
    """

    name: ClassVar[str] = "local"

    def __init__(self, key: str | os.PathLike[str], secret: str | None = None, *,
                 page_size: int = 1000, **options: Any) -> None:
        super().__init__(**options)
        self.page_size = check_page_size(page_size, driver=self)
        self.root = os.path.abspath(os.fspath(key))
        os.makedirs(self.root, exist_ok=True)
        with _Tree(self.root) as tree:
            for directory in ("meta", "locks", "tmp"):
                self._private(tree, directory)
            sweep_stale(dir_fd=self._private(tree, "tmp"))

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
        self._check_segments(name, name.split("/"), "object name")
        return name

    def _check_prefix(self, prefix: object) -> str:
        """The shared rules, and a prefix of a valid object name: each segment
        before the last ``/`` a valid segment (a listing walks only the
        directory they name), none with a backslash or over 255 bytes."""
        prefix = super()._check_prefix(prefix)
        *complete, last = prefix.split("/")
        if any(segment in ("", ".", "..") for segment in complete):
            raise InvalidInput(
                f"invalid prefix {prefix!r}: an empty, '.' or '..' path segment", driver=self
            )
        self._check_segments(prefix, [*complete, last], "prefix")
        return prefix

    def _check_segments(self, text: str, segments: list[str], what: str) -> None:
        for part in segments:
            if "\\" in part or len(part.encode()) > MAX_COMPONENT_BYTES:
                raise InvalidInput(
                    f"invalid {what} {text!r}: a backslash or a segment over "
                    f"{MAX_COMPONENT_BYTES} bytes",
                    driver=self,
                )

    def _container_dir(self, name: str) -> str:
        return os.path.join(self.root, self._check_container(name))

    def _check_names(self, container: str, name: str) -> None:
        self._check_container(container)
        self._check_object(name)

    # -- paths, opened without following a link (run through Call) --------------

    def _private(self, tree: _Tree, *parts: str, create: bool = True) -> int:
        """A directory of the driver's own ``.overcast`` tree."""
        try:
            return tree.dir((_RESERVED, *parts), create=create)
        except _Blocked as blocked:
            raise InvalidInput(
                f"{os.path.join(self.root, *blocked.parts)} is not a directory of this "
                f"driver ({'a symbolic link' if blocked.kind == 'link' else blocked.kind})",
                driver=self,
            ) from None

    def _root_fd(self, tree: _Tree) -> int:
        try:
            return tree.dir(())
        except _Blocked:
            raise InvalidInput(f"the root directory {self.root} is gone", driver=self) from None

    def _container_fd(self, tree: _Tree, container: str) -> int:
        try:
            return tree.dir((container,))
        except _Blocked as blocked:
            if blocked.kind == "link":
                raise InvalidInput(
                    f"container {container!r} is a symbolic link, which is not followed",
                    driver=self,
                ) from None
            raise ContainerNotFound(container, driver=self) from None

    def _parent_fd(self, tree: _Tree, container: str, name: str, *, create: bool) -> int:
        """The directory that holds object ``name`` (made with ``create``)."""
        self._container_fd(tree, container)
        try:
            return tree.dir((container, *name.split("/")[:-1]), create=create)
        except _Blocked as blocked:
            if blocked.kind == "link":
                raise InvalidInput(
                    f"object name {name!r} goes through {'/'.join(blocked.parts[1:])!r}, "
                    "a symbolic link, which is not followed",
                    driver=self,
                ) from None
            if create:
                raise InvalidInput(
                    f"object name {name!r} needs a directory where an object exists",
                    driver=self,
                ) from None
            raise ObjectNotFound(name, driver=self) from None

    def _link_refused(self, name: str) -> InvalidInput:
        return InvalidInput(
            f"object {name!r} is a symbolic link, which is not followed", driver=self
        )

    def _open_object(self, tree: _Tree, container: str, name: str) -> int:
        """The object's file, opened for reading (a regular file, never a link)."""
        parent = self._parent_fd(tree, container, name, create=False)
        try:
            fd = os.open(_leaf(name), _READ, dir_fd=parent)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(name, driver=self) from None
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                raise self._link_refused(name) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ObjectNotFound(name, driver=self)
        return fd

    @contextlib.contextmanager
    def _locked(self, tree: _Tree, container: str, *, exclusive: bool) -> Iterator[None]:
        locks = self._private(tree, "locks")
        try:
            fd = os.open(f"{container}.lock", os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o666,
                         dir_fd=locks)
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                raise InvalidInput(
                    f"the lock file of container {container!r} is a symbolic link", driver=self
                ) from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _meta_dir(self, tree: _Tree, container: str, digest: str, *, create: bool) -> int:
        return self._private(tree, "meta", container, digest[:2], create=create)

    def _read_meta(self, tree: _Tree, container: str, name: str,
                   found: os.stat_result) -> dict[str, Any]:
        digest = _digest(name)
        try:
            directory = self._meta_dir(tree, container, digest, create=False)
            fd = os.open(f"{digest}.json", os.O_RDONLY | _NOFOLLOW, dir_fd=directory)
        except (InvalidInput, OSError):
            return {}
        try:
            with os.fdopen(fd, "rb") as f:
                meta: Any = json.load(f)
        except ValueError:
            return {}
        # Metadata of another version of the file (written by hand) is ignored.
        if (
            not isinstance(meta, dict)
            or meta.get("size") != found.st_size
            or meta.get("mtime_ns") != found.st_mtime_ns
        ):
            return {}
        return meta

    def _write_meta(self, tree: _Tree, directory: int, digest: str,
                    meta: dict[str, Any]) -> None:
        """Replace the metadata file ``<digest>.json`` of ``directory`` atomically."""
        tmp = self._private(tree, "tmp")
        fd, temp = create_temp("meta-", dir_fd=tmp, mode=0o644)
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(json.dumps(meta, ensure_ascii=False).encode("utf-8"))
            os.fsync(fd)
            os.replace(temp, f"{digest}.json", src_dir_fd=tmp, dst_dir_fd=directory)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=tmp)
            raise
        finally:
            os.close(fd)

    def _delete_meta(self, tree: _Tree, container: str, name: str) -> None:
        digest = _digest(name)
        try:
            directory = self._meta_dir(tree, container, digest, create=False)
        except InvalidInput:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{digest}.json", dir_fd=directory)

    # -- blocking primitives (run through Call) -------------------------------

    def _container(self, name: str) -> Container:
        with _Tree(self.root) as tree:
            found = os.fstat(self._container_fd(tree, name))
        return Container(
            name=name,
            extra={"path": os.path.join(self.root, name), "modify_time": found.st_mtime},
            driver=self,
        )

    def _object(self, container: str, name: str, found: os.stat_result,
                meta: dict[str, Any], etag: str | None) -> Object:
        return Object(
            name=name,
            size=found.st_size,
            hash=_mtime_hash(found),
            extra={"path": os.path.join(self.root, container, *name.split("/"))},
            meta_data=dict(meta.get("meta_data", {})),
            container=Container(name=container, driver=self),
            driver=self,
            content_type=meta.get("content_type") or guess_type(name),
            last_modified=datetime.fromtimestamp(found.st_mtime, UTC),
            content_md5=etag,
        )

    def _stat_object(self, container: str, name: str) -> Object:
        with _Tree(self.root) as tree:
            self._container_fd(tree, container)
            with self._locked(tree, container, exclusive=False):
                fd = self._open_object(tree, container, name)
                try:
                    found = os.fstat(fd)
                    meta = self._read_meta(tree, container, name, found)
                    etag = meta.get("md5") or _fd_md5(fd)
                finally:
                    os.close(fd)
        return self._object(container, name, found, meta, etag)

    def _scan(self, container: str, prefix: str) -> list[str]:
        """Every object name in the container that starts with ``prefix``, sorted
        (links and what they point to are no objects)."""
        # Walk only the deepest directory the prefix names.
        start = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        with _Tree(self.root) as tree:
            self._container_fd(tree, container)
            try:
                directory = tree.dir((container, *start.split("/")) if start else (container,))
            except (_Blocked, OSError):
                return []  # nothing (readable) there, or a link: not followed
            names: list[str] = []
            _walk(directory, f"{start}/" if start else "", prefix, names)
        names.sort()
        return names

    def _stat_many(self, container: str, names: list[str]) -> list[Object]:
        found: list[Object] = []
        with _Tree(self.root) as tree:
            try:
                self._container_fd(tree, container)
            except OvercastError:
                return []  # deleted since the scan
            with self._locked(tree, container, exclusive=False):
                for name in names:
                    tree.trim()
                    try:
                        parent = tree.dir((container, *name.split("/")[:-1]))
                        entry = os.stat(_leaf(name), dir_fd=parent, follow_symlinks=False)
                    except (_Blocked, OSError):
                        continue  # deleted (or made unreadable) since the scan
                    if stat.S_ISREG(entry.st_mode):
                        meta = self._read_meta(tree, container, name, entry)
                        found.append(self._object(container, name, entry, meta, meta.get("md5")))
        return found

    def _begin_write(self, container: str) -> _ObjectWriter:
        with _Tree(self.root) as tree:
            self._container_fd(tree, container)
            return _ObjectWriter(os.dup(self._private(tree, "tmp")))

    def _commit(
        self, writer: _ObjectWriter, container: str, name: str, attributes: Attributes
    ) -> Object:
        written = writer.finish()
        digest = _digest(name)
        with _Tree(self.root) as tree:
            self._container_fd(tree, container)
            with self._locked(tree, container, exclusive=True):
                parent = self._parent_fd(tree, container, name, create=True)
                meta_dir = self._meta_dir(tree, container, digest, create=True)
                try:
                    present = os.stat(_leaf(name), dir_fd=parent, follow_symlinks=False)
                except FileNotFoundError:
                    pass
                else:
                    if stat.S_ISLNK(present.st_mode):
                        raise self._link_refused(name)
                    if stat.S_ISDIR(present.st_mode):
                        raise InvalidInput(
                            f"object name {name!r} is a prefix of other objects", driver=self
                        )
                try:
                    writer.place(_leaf(name), parent)
                except IsADirectoryError:  # a directory appeared meanwhile
                    raise InvalidInput(
                        f"object name {name!r} is a prefix of other objects", driver=self
                    ) from None
                md5 = writer.md5.hexdigest()
                meta = {
                    "name": name,
                    "md5": md5,
                    "size": written.st_size,
                    "mtime_ns": written.st_mtime_ns,
                    "content_type": attributes.content_type,
                    "meta_data": attributes.meta_data,
                }
                self._write_meta(tree, meta_dir, digest, meta)
        writer.close()
        return self._object(container, name, written, meta, md5)

    def _open_range(
        self, container: str, name: str, start: int, end: int | None
    ) -> tuple[IO[bytes], int, str | None]:
        """Open an object for reading at ``start``: (file, length, md5 or None)."""
        with _Tree(self.root) as tree:
            self._container_fd(tree, container)
            with self._locked(tree, container, exclusive=False):
                f = os.fdopen(self._open_object(tree, container, name), "rb")
                try:
                    found = os.fstat(f.fileno())
                    meta = self._read_meta(tree, container, name, found)
                    check_range(found.st_size, start, end, driver=self)
                    f.seek(start)
                except BaseException:
                    f.close()
                    raise
        stop = found.st_size if end is None else end
        return f, stop - start, meta.get("md5")

    def _delete_object(self, container: str, name: str) -> bool:
        with _Tree(self.root) as tree:
            self._container_fd(tree, container)
            with self._locked(tree, container, exclusive=True):
                parent = self._parent_fd(tree, container, name, create=False)
                try:
                    present = os.stat(_leaf(name), dir_fd=parent, follow_symlinks=False)
                except FileNotFoundError:
                    raise ObjectNotFound(name, driver=self) from None
                if stat.S_ISLNK(present.st_mode):
                    raise self._link_refused(name)
                if not stat.S_ISREG(present.st_mode):
                    raise ObjectNotFound(name, driver=self)
                try:
                    os.unlink(_leaf(name), dir_fd=parent)
                except FileNotFoundError:
                    raise ObjectNotFound(name, driver=self) from None
                self._delete_meta(tree, container, name)
                _prune_empty_dirs(tree, (container, *name.split("/")[:-1]))
        return True

    def _create_container(self, name: str) -> Container:
        with _Tree(self.root) as tree:
            try:
                os.mkdir(name, dir_fd=self._root_fd(tree))
            except FileExistsError:
                raise ContainerAlreadyExists(name, driver=self) from None
        return self._container(name)

    def _delete_container(self, name: str) -> bool:
        with _Tree(self.root) as tree:
            directory = self._container_fd(tree, name)
            with self._locked(tree, name, exclusive=True):
                if not _only_directories(directory):
                    raise ContainerIsNotEmpty(f"container {name!r} is not empty", driver=self)
                _remove_directories(directory)
                os.rmdir(name, dir_fd=self._root_fd(tree))
                meta = self._private(tree, "meta")
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISDIR(os.stat(name, dir_fd=meta, follow_symlinks=False).st_mode):
                        shutil.rmtree(name, dir_fd=meta)
                    else:  # a link or a file in the way: removed, never followed
                        os.unlink(name, dir_fd=meta)
        return True

    def _list_container_names(self) -> list[str]:
        with os.scandir(self.root) as entries:
            return sorted(
                entry.name
                for entry in entries
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
            by_name = {obj.name: obj for obj in found}  # objects deleted since the scan drop out
            items = [e if isinstance(e, Prefix) else by_name[e] for e in chosen
                     if isinstance(e, Prefix) or e in by_name]
            return Page.number(items, page, more=page * self.page_size < len(entries))

        yield from paginate(fetch, first=1, what=f"listing of {container!r}", driver=self)

    @operation
    def get_object(self, container_name: str, object_name: str) -> Op[Object]:
        """Get an object's metadata (size, MD5, content type, user metadata)."""
        self._check_names(container_name, object_name)
        obj: Object = yield Call(self._stat_object, container_name, object_name)
        return obj

    def _write(self, container: str, name: str, attributes: Attributes, body: ByteStream,
               size: int | None, *, verify: bool) -> Op[Object]:
        """Copy the bytes into a temporary file, then rename it into place with
        its metadata (the MD5 is computed as the bytes pass)."""
        self._check_names(container, name)
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
        self._check_names(container, obj.name)
        deleted: bool = yield Call(self._delete_object, container, obj.name)
        return deleted

    @operation
    def copy_object(
        self, obj: Object, target_container: ContainerRef, target_name: str | None = None
    ) -> Op[Object]:
        """Copy an object (with its content type and metadata)."""
        target = self._check_container(container_name(target_container))
        name = self._check_object(target_name or obj.name)
        source = yield from self.get_object.op(obj.container_name, obj.name)
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


def _leaf(name: str) -> str:
    """The last segment of an object name: its file's name."""
    return name.rsplit("/", 1)[-1]


def _digest(name: str) -> str:
    """The name of an object's metadata file (names read from disk may hold
    surrogates: they are hashed as they are)."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def _mtime_hash(found: os.stat_result) -> str:
    """Apache Libcloud's local ``Object.hash``: the MD5 of the modification time
    as ``str(float)`` gives it (it changes when the file is rewritten)."""
    return hashlib.md5(str(found.st_mtime).encode("ascii"), usedforsecurity=False).hexdigest()


def _fd_md5(fd: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    offset = 0
    while chunk := os.pread(fd, DEFAULT_CHUNK_SIZE, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _walk(directory: int, relative: str, prefix: str, names: list[str]) -> None:
    """Add to ``names`` the regular files under ``directory`` (an open
    descriptor, at ``relative`` in the container) whose names start with
    ``prefix``, descending only into the real directories that may hold some."""
    with os.scandir(directory) as scan:
        entries = [(entry.name, entry.is_dir(follow_symlinks=False),
                    entry.is_file(follow_symlinks=False)) for entry in scan]
    for entry, is_dir, is_file in entries:
        name = relative + entry
        if is_file:
            if name.startswith(prefix):
                names.append(name)
        elif is_dir:
            below = name + "/"
            if below.startswith(prefix) or prefix.startswith(below):
                try:
                    child = os.open(entry, _DIRECTORY, dir_fd=directory)
                except OSError:
                    continue  # replaced meanwhile (by a link, say): not followed
                try:
                    _walk(child, below, prefix, names)
                finally:
                    os.close(child)


def _only_directories(directory: int) -> bool:
    """Whether nothing but directories is under ``directory`` (an open descriptor)."""
    with os.scandir(directory) as scan:
        entries = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in scan]
    for entry, is_dir in entries:
        if not is_dir:
            return False
        child = os.open(entry, _DIRECTORY, dir_fd=directory)
        try:
            if not _only_directories(child):
                return False
        finally:
            os.close(child)
    return True


def _remove_directories(directory: int) -> None:
    """Remove the (empty) directories under ``directory``, deepest first."""
    with os.scandir(directory) as scan:
        entries = [entry.name for entry in scan]
    for entry in entries:
        child = os.open(entry, _DIRECTORY, dir_fd=directory)
        try:
            _remove_directories(child)
        finally:
            os.close(child)
        os.rmdir(entry, dir_fd=directory)


def _prune_empty_dirs(tree: _Tree, parts: tuple[str, ...]) -> None:
    """Remove the directories of ``parts`` below the container that are empty,
    deepest first."""
    while len(parts) > 1:
        try:
            os.rmdir(parts[-1], dir_fd=tree.dir(parts[:-1]))
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT, errno.ENOTDIR):
                return
            raise
        parts = parts[:-1]
