"""Atomic file writes, for drivers that keep data on the local disk.

Blocking functions: operations call them through
:class:`~overcast.runtime.effects.Call`.

Temporary files are locked (``flock``) by the process writing them for as long
as it writes, so a process killed mid-write (even by SIGKILL, which no handler
sees) leaves a file that nobody holds. Such files are found again:

* a temporary with a unique name (:func:`create_temp`: a prefix, the writer's
  process id, a random token, ``.part``) is *stale* once nobody holds its lock
  and its writer's process is gone or it was last written more than
  :data:`STALE_AFTER` seconds ago (a process id may be reused);
  :func:`sweep_stale` removes the stale ones of a directory;
* the partial file of an :class:`AtomicFile` has a name that follows from its
  destination (``.<name>.part`` beside it, or in ``temp_dir``), so the next
  write of the same destination takes over a partial file that nobody holds
  instead of adding another; a live writer's is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from overcast.errors import InvalidInput

if TYPE_CHECKING:
    import queue

__all__ = [
    "STALE_AFTER",
    "AtomicFile",
    "check_file_name",
    "create_temp",
    "open_partial",
    "sweep_stale",
    "write_atomic",
]

#: Seconds after its last write when a temporary that nobody holds is stale even
#: though a process with its writer's id exists (process ids are reused): one day.
STALE_AFTER: Final = 24 * 3600.0

#: The end of a unique temporary's name: its writer's process id, a random token.
_UNIQUE: Final = re.compile(r"(?P<pid>[0-9]+)-[0-9a-f]{8}\.part\Z")
#: Room a unique name needs beyond its prefix: a process id, ``-``, a token, ``.part``.
_UNIQUE_ROOM: Final = 10 + 1 + 8 + 5
#: The longest file name most file systems take, in bytes.
_NAME_MAX: Final = 255
_CREATE: Final = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
_OPEN_EXISTING: Final = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


# -- temporaries: locked while written, swept when their writer is gone -------------------


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock of an open file without waiting; ``False`` if a
    live process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _names_it(fd: int, name: str, dir_fd: int | None) -> bool:
    """Whether ``name`` (not followed if a link) is still the file open as ``fd``."""
    try:
        current = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return os.path.samestat(os.fstat(fd), current)


def _process_exists(pid: int) -> bool:
    """Whether a process with this id exists on this machine (when that cannot be
    told, it is taken to exist)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # EPERM: another user's process
        return True
    return True


def _owner(name: str) -> int | None:
    """The process id in a unique temporary's name, or ``None``."""
    found = _UNIQUE.search(name)
    return int(found["pid"]) if found else None


def create_temp(prefix: str, *, dir_fd: int | None = None, directory: str | None = None,
                mode: int = 0o600) -> tuple[int, str]:
    """Create a temporary file with a unique name (``prefix``, this process's id,
    a random token, ``.part``) in ``directory`` or the directory open as
    ``dir_fd``, never through a link, and lock it; return ``(fd, name)``. The
    lock holds until the file is closed, and tells :func:`sweep_stale` the
    file is being written."""
    while True:
        name = f"{prefix}{os.getpid()}-{os.urandom(4).hex()}.part"
        path = name if dir_fd is not None else os.path.join(directory or ".", name)
        try:
            fd = os.open(path, _CREATE, mode, dir_fd=dir_fd)
        except FileExistsError:
            continue
        if _try_lock(fd):
            return fd, name
        os.close(fd)  # pragma: no cover - a fresh unique name is nobody else's


def _stale_at(fd: int, name: str, now: float, max_age: float) -> bool:
    """Whether the temporary ``name``, open as ``fd`` and locked by the caller, is
    stale: its writer's process is gone, or nobody wrote it for ``max_age`` s."""
    owner = _owner(name)
    if owner is not None and not _process_exists(owner):
        return True
    return now - os.fstat(fd).st_mtime > max_age


def sweep_stale(directory: str | None = None, *, dir_fd: int | None = None,
                match: Callable[[str], bool] | None = None,
                max_age: float = STALE_AFTER) -> list[str]:
    """Remove the stale temporaries (see the module) among the regular files of
    ``directory`` (or the directory open as ``dir_fd``) whose names ``match``;
    return their names. A file whose lock is held, and a link, is never
    touched; a name without a process id is judged by its age alone."""
    own = dir_fd is None
    fd_dir = (dir_fd if dir_fd is not None
              else os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    removed: list[str] = []
    now = time.time()
    try:
        with os.scandir(fd_dir) as entries:
            names = [e.name for e in entries
                     if e.is_file(follow_symlinks=False) and (match is None or match(e.name))]
        for name in names:
            try:
                fd = os.open(name, _OPEN_EXISTING, dir_fd=fd_dir)
            except OSError:
                continue  # gone meanwhile, or no longer a file
            try:
                if (
                    stat.S_ISREG(os.fstat(fd).st_mode)
                    and _try_lock(fd)
                    and _stale_at(fd, name, now, max_age)
                    and _names_it(fd, name, fd_dir)
                ):
                    os.unlink(name, dir_fd=fd_dir)
                    removed.append(name)
            finally:
                os.close(fd)
    finally:
        if own:
            os.close(fd_dir)
    return removed


def _partial_prefix(base: str) -> str:
    """``.<base>.``: the start of the partial files of a destination named
    ``base``, cut (with a digest of the whole name) so that every such name
    fits in a file name."""
    room = _NAME_MAX - 2 - _UNIQUE_ROOM
    encoded = os.fsencode(base)
    if len(encoded) > room:
        digest = hashlib.sha256(encoded).hexdigest()[:8]
        cut = encoded[: room - 9].decode(sys.getfilesystemencoding(), "ignore")
        base = f"{cut}~{digest}"
    return f".{base}."


def open_partial(base: str, directory: str) -> tuple[int, str]:
    """The partial file of a destination named ``base``, in ``directory``,
    locked: ``.<base>.part``, created, or taken over (emptied) from a writer
    that is gone; while a live writer holds it, a unique name beside it (and
    the stale unique ones are swept). Return ``(fd, name)``."""
    prefix = _partial_prefix(base)
    name = f"{prefix}part"
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for _ in range(3):  # the name may vanish between two looks: try again
            try:
                fd = os.open(name, _CREATE, 0o600, dir_fd=dir_fd)
            except FileExistsError:
                try:
                    fd = os.open(name, _OPEN_EXISTING, dir_fd=dir_fd)
                except FileNotFoundError:
                    continue
                except OSError:
                    break  # a link or something else that is not ours: leave it
            if not stat.S_ISREG(os.fstat(fd).st_mode) or not _try_lock(fd):
                os.close(fd)
                break  # being written by a live process
            if not _names_it(fd, name, dir_fd):
                os.close(fd)
                continue
            os.ftruncate(fd, 0)  # what a dead writer left
            return fd, name
        sweep_stale(dir_fd=dir_fd, match=lambda n: n.startswith(prefix) and
                    _UNIQUE.fullmatch(n[len(prefix):]) is not None)
        return create_temp(prefix, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def check_file_name(path: str, *, driver: Any = None) -> str:
    """``path`` if the file system can name it (a ``str`` with a lone surrogate
    cannot be encoded), else :class:`InvalidInput`."""
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        raise InvalidInput(f"{path!r} is not a valid file name here", driver=driver) from None
    return path


def _sync_file_range() -> Callable[[int, int, int], None] | None:
    """Linux's ``sync_file_range(fd, offset, n, SYNC_FILE_RANGE_WRITE)``: start
    writing a range to disk without waiting (Python's os module lacks it)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at import: slow to load

    try:
        # The running interpreter's own symbols, libc's among them:
        # ctypes.util.find_library would start ldconfig (a subprocess) at import.
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    write = 2  # SYNC_FILE_RANGE_WRITE

    def start(fd: int, offset: int, length: int) -> None:
        function(fd, offset, length, write)  # advisory: an error changes nothing

    return start


# Looked up when the first file asks for writeback, not at import (ctypes is slow to load).
_writeback_function = functools.cache(_sync_file_range)


class AtomicFile:
    """A file written under a temporary name and renamed into place on commit.

    The temporary file (``.<name>.part``, see the module) lives in ``temp_dir``
    (default: beside ``path``, which must be on the same file system) and is
    locked until it is committed or discarded. ``commit`` fsyncs and renames;
    without ``overwrite`` it refuses to replace an existing file, even one that
    appeared while writing. ``discard`` deletes the temporary file.
    """

    def __init__(
        self, path: str, overwrite: bool, *, temp_dir: str | None = None, driver: Any = None
    ) -> None:
        self.path = check_file_name(path, driver=driver)
        self.overwrite = overwrite
        self.driver = driver
        directory = os.path.dirname(path) or "."
        if not overwrite and os.path.lexists(path):
            raise InvalidInput(
                f"{path} already exists (pass overwrite_existing=True)", driver=driver
            )
        if not os.path.isdir(directory):
            raise InvalidInput(f"directory {directory} does not exist", driver=driver)
        temp_dir = temp_dir or directory
        fd, name = open_partial(os.path.basename(path), temp_dir)
        self.temp_path = os.path.join(temp_dir, name)
        # Temporaries are made 0600; a finished file gets the usual 0644.
        os.fchmod(fd, 0o644)
        self._file = os.fdopen(fd, "wb")
        self._writeback_lock = threading.Lock()
        self._writeback: queue.SimpleQueue[tuple[int, int] | None] | None = None
        self._writeback_thread: threading.Thread | None = None

    def write(self, data: bytes) -> None:
        """Write one chunk."""
        self._file.write(data)

    def write_at(self, offset: int, data: bytes) -> None:
        """Write a chunk at ``offset`` (ranges downloaded in parallel; thread-safe)."""
        view = memoryview(data)
        while view:
            written = os.pwrite(self._file.fileno(), view, offset)
            view, offset = view[written:], offset + written

    def start_writeback(self, offset: int, length: int) -> None:
        """Start writing ``[offset, offset + length)`` to disk (Linux; elsewhere
        a no-op), so the fsync of :meth:`commit` finds little left to write: a
        large download's disk writes overlap its network reads instead of all
        coming at the end. Submitting writeback can block while the disk is
        busy, so a thread of this file's own does it and the caller goes on."""
        if _writeback_function() is None:
            return
        with self._writeback_lock:
            if self._writeback is None:
                import queue  # here: only a large download's writeback needs it

                self._writeback = queue.SimpleQueue()
                self._writeback_thread = threading.Thread(
                    target=self._write_back, args=(self._writeback,), daemon=True,
                    name="overcast-writeback",
                )
                self._writeback_thread.start()
        assert self._writeback is not None
        self._writeback.put((offset, length))

    def _write_back(self, ranges: queue.SimpleQueue[tuple[int, int] | None]) -> None:
        start = _writeback_function()
        assert start is not None
        fd = self._file.fileno()
        while (item := ranges.get()) is not None:
            start(fd, *item)

    def _stop_writeback(self) -> None:
        """Let the writeback thread finish what it was given, then end it."""
        with self._writeback_lock:
            ranges, thread = self._writeback, self._writeback_thread
            self._writeback = self._writeback_thread = None
        if ranges is not None and thread is not None:
            ranges.put(None)
            thread.join()

    def digest(self, algorithm: str) -> str:
        """The hex digest of what was written so far (read back from the file)."""
        import hashlib

        self._file.flush()
        digest = hashlib.new(algorithm)
        with open(self.temp_path, "rb") as f:
            while chunk := f.read(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    def commit(self) -> None:
        """Flush, fsync and rename into place (the temporary file is gone
        afterwards, whether that worked or not)."""
        self._stop_writeback()
        # The file stays open, so locked, until renamed: until then nobody
        # may take it over.
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            if self.overwrite:
                os.replace(self.temp_path, self.path)
                return
            # link() fails if the path appeared meanwhile: never clobber silently.
            try:
                os.link(self.temp_path, self.path)
            except FileExistsError:
                raise InvalidInput(
                    f"{self.path} already exists (pass overwrite_existing=True)",
                    driver=self.driver,
                ) from None
            os.unlink(self.temp_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp_path)
            raise
        finally:
            self._file.close()

    def discard(self) -> None:
        """Delete the temporary file and close it (after :meth:`commit`, nothing
        is left to do)."""
        self._stop_writeback()
        if not self._file.closed:
            # Still locked, so still ours: another writer may own the name once closed.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp_path)
        self._file.close()


def write_atomic(
    path: str, data: bytes | str, *, temp_dir: str | None = None, make_dirs: bool = False
) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file, fsync, rename)."""
    if make_dirs:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    target = AtomicFile(path, True, temp_dir=temp_dir)
    try:
        target.write(data.encode("utf-8") if isinstance(data, str) else data)
        target.commit()
    except BaseException:
        target.discard()
        raise
