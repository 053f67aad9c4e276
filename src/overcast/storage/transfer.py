"""The transfer helpers every storage driver shares, written once.

Checks and reports are :class:`~overcast.runtime.effects.ChunkObserver` values
that the runner applies to a chunk stream; file writes go through
:class:`AtomicFile`, so a failed or interrupted download never leaves a
partial file behind.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from overcast.errors import IntegrityError, InvalidInput
from overcast.runtime.effects import Call, Op
from overcast.runtime.files import AtomicFile

__all__ = [
    "HashCheck",
    "ProgressReport",
    "SizeCheck",
    "check_range",
    "commit_op",
    "discard_op",
    "open_atomic",
]

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


def open_atomic(
    path: str | os.PathLike[str], overwrite: bool, *, driver: Any = None
) -> Op[AtomicFile]:
    """Open an :class:`AtomicFile` for ``path`` (as an effect)."""
    target: AtomicFile = yield Call(AtomicFile, os.fspath(path), overwrite, driver=driver)
    return target


def commit_op(target: AtomicFile) -> Op[None]:
    """Commit an :class:`AtomicFile` (as an effect)."""
    yield Call(target.commit)


def discard_op(target: AtomicFile) -> Op[None]:
    """Discard an :class:`AtomicFile` (as an effect)."""
    yield Call(target.discard)
