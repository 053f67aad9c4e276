"""The transfer helpers every storage driver shares, written once.

Checks and reports are :class:`~overcast.runtime.effects.ChunkObserver` values
that the runner applies to a chunk stream; file writes go through
:class:`AtomicFile`, so a failed or interrupted download never leaves a
partial file behind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from overcast.errors import IntegrityError, InvalidInput
from overcast.runtime.effects import Call, Guarded, Op, Parallel, PartData, Pipe, ReadPart
from overcast.runtime.files import AtomicFile
from overcast.runtime.parts import PartReader
from overcast.runtime.streams import ByteStream

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "ChecksumCheck",
    "HashCheck",
    "ProgressReport",
    "SizeCheck",
    "can_compute",
    "check_range",
    "checksum_b64",
    "commit_op",
    "crc32_function",
    "crc32c_function",
    "discard_op",
    "guess_type",
    "open_atomic",
    "pick_checksum",
    "readable_file_size",
]

DEFAULT_CONTENT_TYPE = "application/octet-stream"


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


# -- checksums -------------------------------------------------------------------------

#: ``extend(crc, data) -> crc`` over any bytes-like ``data``.
Crc = Callable[[int, PartData], int]

# google-crc32c's C function takes only ``bytes``; other buffers (upload parts
# are views of reused buffers) are fed to it in slices of this size.
_CRC_SLICE = 1024 * 1024


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


_CRCS: dict[str, Crc] = {"crc32": crc32_function()}
if (_crc32c := crc32c_function()) is not None:
    _CRCS["crc32c"] = _crc32c

#: Checksums a provider may give, cheapest to compute first (per 16 KiB on the
#: benchmark machine: CRC32C 0.6 µs, CRC32 0.3 µs with ISA-L or 2.6 µs with
#: zlib, MD5 19 µs, SHA-1 and SHA-256 more). A read is checked against the
#: cheapest one present that can be computed here.
CHEAPEST_FIRST = ("crc32c", "crc32", "md5", "sha1", "sha256")


def can_compute(algorithm: str) -> bool:
    """Whether this machine can compute ``algorithm`` (a CRC or a hashlib name)."""
    return algorithm in _CRCS or algorithm in hashlib.algorithms_available


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
        self.extend = _CRCS.get(algorithm)
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
            shown = _b64_as_hex(self.expected)
            raise IntegrityError(
                f"{self.name or 'data'}: {self.algorithm} is {_b64_as_hex(actual)}, "
                f"expected {shown}",
                driver=self.driver,
            )


def _b64_as_hex(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return value


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


# -- uploads in parts ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartPlan:
    """How an upload is cut into parts.

    Objects of at most ``threshold`` bytes go up in one request. Larger ones,
    and streams of unknown size that turn out larger, go up in parts of at
    least ``part_size`` bytes, ``concurrency`` at a time, so memory stays near
    ``concurrency * part_size``. The part size grows with the object so it
    never needs more than ``max_parts`` parts: for a known size it is the
    smallest aligned size that fits; for a stream of unknown size it doubles
    every ``max_parts // 10`` parts (with S3's limits: 8 MiB parts cover 8 GB in
    the first 1,000 parts and over 8 TB in 10,000). ``alignment`` makes every
    part but the last a multiple of it (Google's resumable uploads want 256
    KiB). ``sequential`` sends one part at a time, in order (resumable
    protocols).
    """

    threshold: int = 16 * 1024 * 1024
    part_size: int = 8 * 1024 * 1024
    max_part_size: int = 5 * 1024**3
    max_parts: int = 10_000
    concurrency: int = 4
    alignment: int = 1
    sequential: bool = False

    def size_of(self, number: int, total: int | None) -> int:
        """The length of part ``number`` (from 1) of an object of ``total`` bytes."""
        if total is not None:
            size = max(self.part_size, -(-total // self.max_parts))
        else:
            size = self.part_size * 2 ** ((number - 1) // max(1, self.max_parts // 10))
        size = -(-size // self.alignment) * self.alignment
        return min(size, self.max_part_size)


class PartTarget(Protocol):
    """What a driver gives :func:`upload_in_parts` for one object.

    ``put_part`` returns the provider's token for the part (an S3 ETag, an Azure
    block id, a Swift segment path); ``finish`` receives ``(number, token)``
    for every part, in order. ``abort`` must remove every staged part: it runs,
    shielded from cancellation, whenever the upload fails or is cancelled.
    """

    def put_whole(self, data: PartData) -> Op[Any]:
        """Upload a small object in one request."""
        ...

    def begin(self) -> Op[str]:
        """Start an upload in parts; return its id."""
        ...

    def put_part(self, upload_id: str, number: int, data: PartData, last: bool) -> Op[str]:
        """Upload one part; return its token. ``data`` may be a view of a reused
        buffer: it must not be kept once the operation returns."""
        ...

    def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[Any]:
        """Assemble the parts into the object; return the object."""
        ...

    def abort(self, upload_id: str) -> Op[None]:
        """Remove everything the upload staged."""
        ...


def upload_in_parts(
    target: PartTarget, source: ByteStream, *, size: int | None, plan: PartPlan
) -> Op[Any]:
    """Upload ``source`` through ``target``: one request when small, else parts
    in parallel with bounded memory, aborted on any failure or cancellation."""
    reader = PartReader(source, lambda number: plan.size_of(number, size))
    first: tuple[int, PartData, bool] | None = yield ReadPart(reader)
    assert first is not None
    _, data, last = first
    if last and len(data) <= plan.threshold:
        return (yield from target.put_whole(data))
    del data
    upload_id = yield from target.begin()
    # The first part goes to the first worker; nothing else keeps it alive.
    pending: list[tuple[int, PartData, bool]] = [first]
    first = None

    def worker() -> Op[list[tuple[int, str]]]:
        done: list[tuple[int, str]] = []
        part: Any = pending.pop() if pending else None
        while True:
            if part is None:
                part = yield ReadPart(reader)
            number, data, last = part
            if not data and number > 1:
                return done
            token = yield from target.put_part(upload_id, number, data, last)
            done.append((number, token))
            if last:
                return done
            part = None
            reader.recycle(data)  # sent: its buffer takes the next part

    def body() -> Op[Any]:
        if plan.sequential:
            batches = [(yield from worker())]
        else:
            workers = [worker() for _ in range(plan.concurrency)]
            batches = yield Parallel(workers, limit=plan.concurrency)
        parts = sorted(p for batch in batches for p in batch)
        return (yield from target.finish(upload_id, parts))

    def cleanup(exc: BaseException) -> Op[None]:
        reader.close()
        yield from target.abort(upload_id)

    return (yield Guarded(body(), cleanup))


# -- downloads in ranges -------------------------------------------------------------


class _OffsetSink:
    """Writes a range's chunks at their place in an :class:`AtomicFile`."""

    def __init__(self, target: AtomicFile, offset: int) -> None:
        self.target = target
        self.offset = offset

    def write(self, data: bytes) -> None:
        self.target.write_at(self.offset, data)
        self.offset += len(data)


def file_digest(path: str, algorithm: str) -> str:
    """The hex digest of a file (blocking: call it through a Call)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def download_in_ranges(
    fetch: Callable[[int, int], Op[ByteStream]],
    size: int,
    destination: str | os.PathLike[str],
    *,
    overwrite: bool,
    part_size: int = 16 * 1024 * 1024,
    concurrency: int = 4,
    checksum: tuple[str, str] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    driver: Any = None,
) -> Op[bool]:
    """Download ``size`` bytes as parallel ranges ``fetch(start, end)`` into a
    temporary file beside ``destination``; rename it into place only after the
    size (and ``checksum``, ``(algorithm, hex)``, computed over the file) match.
    On any failure the temporary file is removed."""
    target = yield from open_atomic(destination, overwrite, driver=driver)
    report = ProgressReport(progress, size) if progress is not None else None

    def one(start: int, end: int) -> Op[int]:
        body = yield from fetch(start, end)
        body.observe(SizeCheck(end - start, f"bytes {start}-{end - 1}", driver=driver))
        if report is not None:
            body.observe(report)
        written: int = yield Pipe(body, _OffsetSink(target, start))
        yield Call(target.start_writeback, start, written)
        return written

    def body() -> Op[bool]:
        ranges = [(s, min(s + part_size, size)) for s in range(0, size, part_size)]
        yield Parallel([one(s, e) for s, e in ranges], limit=concurrency)
        if checksum is not None:
            algorithm, expected = checksum
            actual: str = yield Call(target.digest, algorithm)
            if actual != expected.lower():
                raise IntegrityError(
                    f"{destination}: {algorithm} is {actual}, expected {expected}", driver=driver
                )
        yield from commit_op(target)
        return True

    saved: bool = yield Guarded(body(), lambda exc: discard_op(target))
    return saved


# -- between drivers -----------------------------------------------------------------


def _copy_args(source: Any, target_container: Any, name: str | None) -> tuple[Any, Any, str]:
    from overcast.storage.base import Container, Object

    if not isinstance(source, Object) or source.driver is None:
        raise InvalidInput("copy needs an Object bound to its driver (get_object or a listing)")
    if not isinstance(target_container, Container) or target_container.driver is None:
        raise InvalidInput("copy needs a target Container bound to its driver")
    return source.driver, target_container.driver, name or source.name


def copy(
    source: Any,
    target_container: Any,
    name: str | None = None,
    *,
    progress: Callable[[int, int | None], None] | None = None,
) -> Any:
    """Stream an object from one driver to another (S3 to Azure, Swift to GCS, ...).

    No temporary file: chunks flow from the source's download into the target's
    upload, which goes up in parts, so memory stays near the target's
    ``concurrency * part_size``. Content type and user metadata come along; the
    source's full read is checked against its size and hash on the way.
    ``progress(bytes_done, total)`` reports the bytes read.
    """
    src, dst, target_name = _copy_args(source, target_container, name)
    chunks = src.download_object_as_stream(source)
    return dst.upload_object_via_stream(
        _counted(chunks, progress, source.size), target_container, target_name,
        content_type=source.content_type, meta_data=source.meta_data,
    )


async def copy_async(
    source: Any,
    target_container: Any,
    name: str | None = None,
    *,
    progress: Callable[[int, int | None], None] | None = None,
) -> Any:
    """:func:`copy` for async programs (both drivers' ``aio`` views, one loop)."""
    src, dst, target_name = _copy_args(source, target_container, name)
    chunks = src.aio.download_object_as_stream(source)

    async def counted() -> Any:
        done = 0
        async for chunk in chunks:
            done += len(chunk)
            if progress is not None:
                progress(done, source.size)
            yield chunk

    return await dst.aio.upload_object_via_stream(
        counted(), target_container, target_name,
        content_type=source.content_type, meta_data=source.meta_data,
    )


def _counted(
    chunks: Any, progress: Callable[[int, int | None], None] | None, total: int | None
) -> Any:
    done = 0
    for chunk in chunks:
        done += len(chunk)
        if progress is not None:
            progress(done, total)
        yield chunk
