"""The transfer helpers every storage driver shares, written once.

Checks and reports are :class:`~overcast.runtime.effects.ChunkObserver` values
that the runner applies to a chunk stream; file writes go through
:class:`AtomicFile`, so a failed or interrupted download never leaves a
partial file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

from overcast.errors import IntegrityError, InvalidInput
from overcast.runtime.effects import Call, Emit, Iter, Op

__all__ = [
    "AtomicFile",
    "HashCheck",
    "ProgressReport",
    "SizeCheck",
    "check_range",
    "collect",
    "open_atomic",
]

T = TypeVar("T")


def collect(items: Iter[T]) -> Op[list[T]]:
    """Run an iterator operation inside another operation and gather its items."""
    result: list[T] = []
    value: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                effect = items.throw(error) if error is not None else items.send(value)
            except StopIteration:
                return result
            value, error = None, None
            if isinstance(effect, Emit):
                result.append(effect.item)
                continue
            try:
                value = yield effect
            except Exception as exc:  # the effect failed: let the iterator handle it
                error = exc
    finally:
        items.close()


def check_range(
    size: int | None, start: int, end: int | None, *, driver: Any = None
) -> tuple[int, int | None]:
    """Validate a byte range ``[start, end)``; raise :class:`InvalidInput` if bad."""
    if not isinstance(start, int) or start < 0:
        raise InvalidInput(f"start_bytes must be a non-negative integer: {start!r}", driver=driver)
    if end is not None:
        if not isinstance(end, int) or end < start:
            raise InvalidInput(
                f"end_bytes must be an integer >= start_bytes: {end!r}", driver=driver
            )
        if size is not None and end > size:
            raise InvalidInput(f"end_bytes {end} is past the object's size {size}", driver=driver)
    if size is not None and start > size:
        raise InvalidInput(f"start_bytes {start} is past the object's size {size}", driver=driver)
    return start, end


class SizeCheck:
    """Rejects a stream whose total length is not ``expected``."""

    __slots__ = ("driver", "expected", "name", "seen")

    def __init__(self, expected: int | None, name: str = "", *, driver: Any = None) -> None:
        self.expected = expected
        self.name = name
        self.driver = driver
        self.seen = 0

    def update(self, chunk: bytes) -> None:
        """Count a chunk."""
        self.seen += len(chunk)

    def finish(self) -> None:
        """Raise :class:`IntegrityError` if the length is wrong."""
        if self.expected is not None and self.seen != self.expected:
            raise IntegrityError(
                f"{self.name or 'data'}: got {self.seen} bytes, expected {self.expected}",
                driver=self.driver,
            )


class HashCheck:
    """Rejects a stream whose digest (``algorithm``, hex) is not ``expected``."""

    __slots__ = ("driver", "expected", "hasher", "name")

    def __init__(self, algorithm: str, expected: str, name: str = "", *, driver: Any = None):
        self.hasher = hashlib.new(algorithm)
        self.expected = expected.lower()
        self.name = name
        self.driver = driver

    def update(self, chunk: bytes) -> None:
        """Hash a chunk."""
        self.hasher.update(chunk)

    def finish(self) -> None:
        """Raise :class:`IntegrityError` on a mismatch."""
        actual = self.hasher.hexdigest()
        if actual != self.expected:
            raise IntegrityError(
                f"{self.name or 'data'}: {self.hasher.name} is {actual}, expected {self.expected}",
                driver=self.driver,
            )


class ProgressReport:
    """Calls ``callback(bytes_done, total)`` after every chunk."""

    __slots__ = ("callback", "done", "total")

    def __init__(self, callback: Callable[[int, int | None], None], total: int | None) -> None:
        self.callback = callback
        self.total = total
        self.done = 0

    def update(self, chunk: bytes) -> None:
        """Report progress."""
        self.done += len(chunk)
        self.callback(self.done, self.total)

    def finish(self) -> None:
        """Nothing to check."""


class AtomicFile:
    """A file written under a temporary name and renamed into place on commit.

    Blocking: drivers use it through :func:`open_atomic`, ``commit_op`` and
    ``discard_op``, which wrap each call in a :class:`Call` effect.
    """

    def __init__(self, path: str, overwrite: bool, *, driver: Any = None) -> None:
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
            prefix=f".{os.path.basename(path)}.", suffix=".part", dir=directory
        )
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        """Write one chunk."""
        self._file.write(data)

    def commit(self) -> None:
        """Flush, fsync and rename into place."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.overwrite:
            os.replace(self.temp_path, self.path)
        else:
            # link() fails if the path appeared meanwhile: never clobber silently.
            try:
                os.link(self.temp_path, self.path)
            except FileExistsError:
                os.unlink(self.temp_path)
                raise InvalidInput(
                    f"{self.path} already exists (pass overwrite_existing=True)",
                    driver=self.driver,
                ) from None
            os.unlink(self.temp_path)

    def discard(self) -> None:
        """Close and delete the temporary file."""
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)

    def commit_op(self) -> Op[None]:
        """:meth:`commit` as an effect."""
        yield Call(self.commit)

    def discard_op(self) -> Op[None]:
        """:meth:`discard` as an effect."""
        yield Call(self.discard)


def open_atomic(
    path: str | os.PathLike[str], overwrite: bool, *, driver: Any = None
) -> Op[AtomicFile]:
    """Open an :class:`AtomicFile` for ``path`` (as an effect)."""
    target: AtomicFile = yield Call(AtomicFile, os.fspath(path), overwrite, driver=driver)
    return target
