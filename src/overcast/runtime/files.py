"""Atomic file writes, for drivers that keep data on the local disk.

Blocking functions: operations call them through
:class:`~overcast.runtime.effects.Call`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from overcast.errors import InvalidInput

__all__ = ["AtomicFile", "write_atomic"]


def _sync_file_range() -> Callable[[int, int, int], None] | None:
    """Linux's ``sync_file_range(fd, offset, n, SYNC_FILE_RANGE_WRITE)``: start
    writing a range to disk without waiting (Python's os module lacks it)."""
    if not sys.platform.startswith("linux"):
        return None
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


_START_WRITEBACK = _sync_file_range()


class AtomicFile:
    """A file written under a temporary name and renamed into place on commit.

    The temporary file lives in ``temp_dir`` (default: beside ``path``, which
    must be on the same file system). ``commit`` fsyncs and renames; without
    ``overwrite`` it refuses to replace an existing file, even one that appeared
    while writing. ``discard`` deletes the temporary file.
    """

    def __init__(
        self, path: str, overwrite: bool, *, temp_dir: str | None = None, driver: Any = None
    ) -> None:
        self.path = path
        self.overwrite = overwrite
        self.driver = driver
        directory = os.path.dirname(path) or "."
        if not overwrite and os.path.lexists(path):
            raise InvalidInput(
                f"{path} already exists (pass overwrite_existing=True)", driver=driver
            )
        if not os.path.isdir(directory):
            raise InvalidInput(f"directory {directory} does not exist", driver=driver)
        fd, self.temp_path = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.", suffix=".part", dir=temp_dir or directory
        )
        # mkstemp makes 0600 files; a finished file gets the usual 0644.
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
        if _START_WRITEBACK is None:
            return
        with self._writeback_lock:
            if self._writeback is None:
                self._writeback = queue.SimpleQueue()
                self._writeback_thread = threading.Thread(
                    target=self._write_back, args=(self._writeback,), daemon=True,
                    name="overcast-writeback",
                )
                self._writeback_thread.start()
        assert self._writeback is not None
        self._writeback.put((offset, length))

    def _write_back(self, ranges: queue.SimpleQueue[tuple[int, int] | None]) -> None:
        assert _START_WRITEBACK is not None
        fd = self._file.fileno()
        while (item := ranges.get()) is not None:
            _START_WRITEBACK(fd, *item)

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
        """Flush, fsync and rename into place."""
        self._stop_writeback()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.overwrite:
            os.replace(self.temp_path, self.path)
            return
        # link() fails if the path appeared meanwhile: never clobber silently.
        try:
            os.link(self.temp_path, self.path)
        except FileExistsError:
            os.unlink(self.temp_path)
            raise InvalidInput(
                f"{self.path} already exists (pass overwrite_existing=True)", driver=self.driver
            ) from None
        os.unlink(self.temp_path)

    def discard(self) -> None:
        """Close and delete the temporary file."""
        self._stop_writeback()
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)


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
