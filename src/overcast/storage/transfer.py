"""Moving an object's bytes: uploads in parts and downloads in ranges.

* :func:`upload_in_parts` sends an upload through a driver's
  :class:`PartTarget`: one request when small, else parts in parallel with
  bounded memory, aborted on any failure or cancellation (:class:`PartPlan`
  says how an object is cut), or, with ``resume`` and a
  :class:`ResumableTarget`, kept on failure and continued by the next try;
* :func:`download_in_ranges` fetches a large object as parallel ranges into an
  :class:`~overcast.runtime.files.AtomicFile`, so a failed or interrupted
  download never leaves a partial file behind;
* :class:`Ranged` is what a driver's range request hands the base class's
  ranged download, which adds the checks.

The checks and checksums these flows apply live in
:mod:`overcast.storage.checks` (its names are importable from here too).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Protocol
from typing import cast

from overcast.errors import IntegrityError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.effects import PartData
from overcast.runtime.effects import Pipe
from overcast.runtime.effects import ReadPart
from overcast.runtime.files import AtomicFile
from overcast.runtime.parts import PartReader
from overcast.runtime.streams import ByteStream
from overcast.runtime.streams import ChunkObserver
from overcast.storage.checks import CHEAPEST_FIRST
from overcast.storage.checks import DEFAULT_CONTENT_TYPE
from overcast.storage.checks import ChecksumCheck
from overcast.storage.checks import HashCheck
from overcast.storage.checks import ProgressReport
from overcast.storage.checks import SizeCheck
from overcast.storage.checks import can_compute
from overcast.storage.checks import check_range
from overcast.storage.checks import checksum_b64
from overcast.storage.checks import crc32_function
from overcast.storage.checks import crc32c_function
from overcast.storage.checks import guess_type
from overcast.storage.checks import pick_checksum
from overcast.storage.checks import readable_file_size

__all__ = [
    "CHEAPEST_FIRST",
    "DEFAULT_CONTENT_TYPE",
    "ChecksumCheck",
    "HashCheck",
    "OpenUpload",
    "PartPlan",
    "PartTarget",
    "ProgressReport",
    "Ranged",
    "ResumableTarget",
    "SizeCheck",
    "Span",
    "can_compute",
    "check_range",
    "checksum_b64",
    "commit_op",
    "crc32_function",
    "crc32c_function",
    "discard_op",
    "download_in_ranges",
    "guess_type",
    "open_atomic",
    "pick_checksum",
    "readable_file_size",
    "upload_in_parts",
]


# -- atomic files ----------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class OpenUpload:
    """An upload in parts begun earlier and never finished: its id and the
    parts the provider holds for it, ``number: (size, token)``."""

    upload_id: str
    parts: Mapping[int, tuple[int, str]]


class ResumableTarget(PartTarget, Protocol):
    """A :class:`PartTarget` whose provider lists unfinished uploads and their
    parts, so an interrupted upload can go on (S3's ListMultipartUploads and
    ListParts)."""

    def find_open(self) -> Op[OpenUpload | None]:
        """The most recent unfinished upload of this object, with its parts."""
        ...

    def reuse_part(self, upload_id: str, number: int, data: PartData,
                   listed: tuple[int, str]) -> Op[str | None]:
        """The token of part ``number`` already uploaded (``listed``: its size and
        token) if it holds exactly ``data``, else None (it is then sent)."""
        ...


def upload_in_parts(
    target: PartTarget, source: ByteStream, *, size: int | None, plan: PartPlan,
    resume: bool = False,
) -> Op[Any]:
    """Upload ``source`` through ``target``: one request when small, else parts
    in parallel with bounded memory, aborted on any failure or cancellation.

    With ``resume`` (``target`` a :class:`ResumableTarget`), an upload in parts
    continues the object's most recent unfinished upload: a part the provider
    already holds with the same size and content is not sent again; and a
    failed or cancelled upload is left unfinished, its parts kept for the next
    try, instead of aborted."""
    reader = PartReader(source, lambda number: plan.size_of(number, size))
    first: tuple[int, PartData, bool] | None = yield ReadPart(reader)
    assert first is not None
    _, data, last = first
    if last and len(data) <= plan.threshold:
        return (yield from target.put_whole(data))
    del data
    found: OpenUpload | None = None
    resumable = cast(ResumableTarget, target)  # what ``resume`` promises
    if resume:
        found = yield from resumable.find_open()
    upload_id = found.upload_id if found is not None else (yield from target.begin())

    def send(number: int, data: PartData, last: bool) -> Op[str]:
        listed = found.parts.get(number) if found is not None else None
        if listed is not None and listed[0] == len(data):
            token = yield from resumable.reuse_part(upload_id, number, data, listed)
            if token is not None:
                return token
        sent: str = yield from target.put_part(upload_id, number, data, last)
        return sent
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
            token = yield from send(number, data, last)
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
        if not resume:
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


def download_in_ranges(fetch: Callable[[int, int], Op[ByteStream]], size: int,
                       destination: str | os.PathLike[str], *, overwrite: bool,
                       part_size: int = 16 * 1024 * 1024, concurrency: int = 4,
                       checksum: tuple[str, str] | None = None,
                       progress: Callable[[int, int | None], None] | None = None,
                       driver: Any = None) -> Op[bool]:
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


# -- ranged reads -------------------------------------------------------------------


class Span:
    """Bytes ``[start, end)`` of one object (``end=None``: to its end), as the
    base class's download asks a driver's range request for them.

    ``chunk_size`` is the caller's hint for the size of the chunks; ``etag``,
    when given, the version the object must still be (the ranges of one
    download in parallel ranges come from one version). ``full`` says whether
    the whole object is read (its whole-object checks apply) and ``what`` names
    the object as error messages do (``container/name``); both are worked out
    once, as every request of a download reads them.
    """

    __slots__ = ("chunk_size", "container", "end", "etag", "full", "name", "start", "what")

    def __init__(self, container: str, name: str, start: int = 0, end: int | None = None,
                 chunk_size: int | None = None, etag: str | None = None) -> None:
        self.container = container
        self.name = name
        self.start = start
        self.end = end
        self.chunk_size = chunk_size
        self.etag = etag
        self.full = start == 0 and end is None
        self.what = f"{container}/{name}"

    @property
    def header(self) -> str:
        """The HTTP ``Range`` value for these bytes."""
        return f"bytes={self.start}-{'' if self.end is None else self.end - 1}"

    def __repr__(self) -> str:
        return f"Span({self.what!r}, {self.start}, {self.end})"


@dataclass(slots=True)
class Ranged:
    """What a driver's range request got, for the ranged download of
    :class:`~overcast.storage.base.StorageDriver` to check and hand over.

    ``body`` holds the bytes, streamed or read whole; ``length`` is how many
    the answer announces (``None`` if it does not say); ``checks`` are the
    checks of the whole object that apply (a full read only: its checksum or
    hash). ``satisfiable=False`` means the provider found nothing at or after
    the start (HTTP 416); ``total`` is then the object's size if the answer
    gives it.
    """

    body: ByteStream | bytes
    length: int | None = None
    checks: Sequence[ChunkObserver] = ()
    satisfiable: bool = True
    total: int | None = None

