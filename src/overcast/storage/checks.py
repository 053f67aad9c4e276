"""Checks of the bytes that storage moves, written once for every driver.

* the inputs of a transfer: a byte range (:func:`check_range`), a file to
  upload (:func:`readable_file_size`), an object's content type
  (:func:`guess_type`);
* observers (:class:`~overcast.runtime.streams.ChunkObserver`) that a runner
  shows every chunk of a stream: :class:`SizeCheck`, :class:`HashCheck`,
  :class:`ChecksumCheck` reject what does not match, :class:`ProgressReport`
  reports;
* the checksums themselves: CRC32 and CRC32C functions (the fastest installed),
  which of them this machine computes, their base64 form as providers write it,
  and MD5 in the forms providers use.

Nothing here does I/O through a runner or knows a driver.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
import zlib
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Final

from overcast.errors import IntegrityError
from overcast.errors import InvalidInput
from overcast.runtime.effects import PartData

__all__ = [
    "CHEAPEST_FIRST",
    "DEFAULT_CONTENT_TYPE",
    "ChecksumCheck",
    "Crc",
    "HashCheck",
    "ProgressReport",
    "SizeCheck",
    "b64_to_hex",
    "can_compute",
    "check_range",
    "checksum_b64",
    "crc32_function",
    "crc32c_function",
    "guess_type",
    "is_md5",
    "md5_b64",
    "md5_hex",
    "pick_checksum",
    "readable_file_size",
]

DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"

_MD5_HEX: Final = re.compile(r"[0-9a-fA-F]{32}\Z")


# -- inputs ------------------------------------------------------------------------------


def guess_type(name: str) -> str:
    """The content type an object name suggests (``application/octet-stream`` if none)."""
    import mimetypes

    return mimetypes.guess_type(name, strict=False)[0] or DEFAULT_CONTENT_TYPE


def readable_file_size(path: str) -> int | None:
    """The size of a readable regular file, else ``None`` (blocking: run it in a Call)."""
    try:
        if not os.path.isfile(path):
            return None
        with open(path, "rb"):
            pass
        return os.path.getsize(path)
    except OSError:
        return None


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


# -- observers ---------------------------------------------------------------------------


class SizeCheck:
    """Rejects a stream whose total length is not ``expected``."""

    __slots__ = ("driver", "expected", "name", "seen")

    def __init__(self, expected: int | None, name: str = "", *, driver: Any = None) -> None:
        self.expected = expected
        self.name = name
        self.driver = driver
        self.seen = 0

    def update(self, chunk: PartData) -> None:
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

    def update(self, chunk: PartData) -> None:
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

    def update(self, chunk: PartData) -> None:
        """Report progress."""
        self.done += len(chunk)
        self.callback(self.done, self.total)

    def finish(self) -> None:
        """Nothing to check."""


# -- checksums ---------------------------------------------------------------------------

#: ``extend(crc, data) -> crc`` over any bytes-like ``data``.
Crc = Callable[[int, PartData], int]

# google-crc32c's C function takes only ``bytes``; other buffers (upload parts
# are views of reused buffers) are fed to it in slices of this size.
_CRC_SLICE = 1024 * 1024


@functools.cache
def crc32c_function() -> Crc | None:
    """``extend(crc, data) -> crc`` from ``google-crc32c`` or ``crc32c``, or ``None``
    when neither package is installed. ``data`` may be ``bytes`` or a memoryview."""
    try:
        import google_crc32c  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        extend_bytes: Callable[[int, bytes], int] = google_crc32c.extend

        def extend_google(crc: int, data: PartData) -> int:
            if isinstance(data, bytes):
                return extend_bytes(crc, data)
            with memoryview(data) as view:
                for start in range(0, len(view), _CRC_SLICE):
                    crc = extend_bytes(crc, bytes(view[start : start + _CRC_SLICE]))
            return crc

        return extend_google
    try:
        import crc32c as _crc32c  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None

    def extend_crc32c(crc: int, data: PartData) -> int:
        value: int = _crc32c.crc32c(data, crc)
        return value

    return extend_crc32c


@functools.cache
def crc32_function() -> Crc:
    """``extend(crc, data) -> crc`` for CRC32: python-isal's (ISA-L, about 8x
    zlib's speed: 0.3 against 2.6 µs per 16 KiB) when installed (the ``fast``
    extra), else the standard library's."""
    try:
        from isal import isal_zlib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        isal_crc32 = None
    else:
        isal_crc32 = isal_zlib.crc32
    crc32: Callable[[PartData, int], int] = isal_crc32 or zlib.crc32

    def extend_crc32(crc: int, data: PartData) -> int:
        return crc32(data, crc)

    return extend_crc32


@functools.cache
def _crcs() -> dict[str, Crc]:
    """The CRCs this machine computes, found on first use (the C extensions
    load slowly, and a program that checks nothing should not wait for them)."""
    found: dict[str, Crc] = {"crc32": crc32_function()}
    if (extend := crc32c_function()) is not None:
        found["crc32c"] = extend
    return found

#: Checksums a provider may give, cheapest to compute first (per 16 KiB on the
#: benchmark machine: CRC32C 0.6 µs, CRC32 0.3 µs with ISA-L or 2.6 µs with
#: zlib, MD5 19 µs, SHA-1 and SHA-256 more). A read is checked against the
#: cheapest one present that can be computed here.
CHEAPEST_FIRST = ("crc32c", "crc32", "md5", "sha1", "sha256")


def can_compute(algorithm: str) -> bool:
    """Whether this machine can compute ``algorithm`` (a CRC or a hashlib name)."""
    return algorithm in _crcs() or algorithm in hashlib.algorithms_available


def pick_checksum(checksums: Mapping[str, str | None]) -> tuple[str, str] | None:
    """The cheapest ``(algorithm, base64 value)`` of ``checksums`` (algorithm to
    base64 value) that this machine can compute, or ``None``."""
    for algorithm in CHEAPEST_FIRST:
        value = checksums.get(algorithm)
        if value and can_compute(algorithm):
            return algorithm, value
    return None


def checksum_b64(algorithm: str, value: int | bytes) -> str:
    """A CRC (big-endian, 4 bytes) or a digest in base64, as S3's
    ``x-amz-checksum-*`` and Google's ``X-Goog-Hash`` write them."""
    raw = value.to_bytes(4, "big") if isinstance(value, int) else value
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


class ChecksumCheck:
    """Rejects a stream whose checksum is not ``expected`` (base64, as
    :func:`checksum_b64` writes it). ``algorithm`` is ``crc32``, ``crc32c`` or a
    :mod:`hashlib` name; :func:`pick_checksum` says which ones can be checked."""

    __slots__ = ("algorithm", "crc", "driver", "expected", "extend", "hasher", "name")

    def __init__(self, algorithm: str, expected: str, name: str = "", *, driver: Any = None):
        self.algorithm = algorithm
        self.expected = expected
        self.name = name
        self.driver = driver
        self.crc = 0
        self.extend = _crcs().get(algorithm)
        self.hasher = None if self.extend is not None else hashlib.new(algorithm)

    def update(self, chunk: PartData) -> None:
        """Fold a chunk into the checksum."""
        if self.extend is not None:
            self.crc = self.extend(self.crc, chunk)
        else:
            assert self.hasher is not None
            self.hasher.update(chunk)

    def finish(self) -> None:
        """Raise :class:`IntegrityError` on a mismatch."""
        actual = checksum_b64(
            self.algorithm, self.crc if self.hasher is None else self.hasher.digest()
        )
        if actual != self.expected:
            shown = b64_to_hex(self.expected) or self.expected
            raise IntegrityError(
                f"{self.name or 'data'}: {self.algorithm} is {b64_to_hex(actual)}, "
                f"expected {shown}",
                driver=self.driver,
            )


# -- MD5 in the forms providers write it ------------------------------------------------


def md5_hex(data: PartData) -> str:
    """The MD5 of ``data`` in hex (Swift's ``ETag``, S3's plain ETag)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_b64(data: PartData) -> str:
    """The MD5 of ``data`` in base64 (a ``Content-MD5`` header value)."""
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def is_md5(value: str | None) -> bool:
    """Whether ``value`` is an MD5 in hex (an ETag that is the MD5 of the bytes)."""
    return value is not None and _MD5_HEX.match(value) is not None


def b64_to_hex(value: str | None) -> str | None:
    """A base64 digest in hex; ``None`` if ``value`` is empty or not base64."""
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None
