"""Effects: the values a driver operation yields to ask a runner for I/O.

An operation is a generator. It yields an effect and receives its result; if
the effect fails, the runner throws the exception into the generator at the
``yield``, so ``try``/``except`` works as it does in ordinary code.

| effect | the runner does | the operation receives |
| --- | --- | --- |
| :class:`Request` | signs, sends, retries per policy | :class:`Response` |
| :class:`Call` | calls a blocking function (a worker thread when async) | its return value |
| :class:`Sleep` | sleeps | ``None`` |
| :class:`Parallel` | runs sub-operations concurrently | their results, in order |
| :class:`Pipe` | copies a body or stream into a blocking sink | bytes copied |
| :class:`ReadPart` | reads the next part of an upload, serialised | ``(n, data, last)`` |
| :class:`Guarded` | runs a sub-operation; on failure runs its compensation | its result |
| :class:`Emit` (iterators only) | hands an item to the consumer | ``None`` |

Effects are plain, immutable values: they can be built, compared and inspected
in unit tests without a runner.
"""

from __future__ import annotations

import io
import json as _json
import mmap
import os
from abc import ABC, abstractmethod
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import (
    IO,
    Any,
    Generic,
    Protocol,
    TypeAlias,
    TypeVar,
    cast,
    overload,
    runtime_checkable,
)
from urllib.parse import quote

from overcast.errors import ProviderError

__all__ = [
    "Body",
    "ByteStream",
    "Call",
    "ChunkObserver",
    "Effect",
    "Emit",
    "FileStream",
    "Guarded",
    "Headers",
    "Iter",
    "IterStream",
    "Op",
    "Parallel",
    "PartData",
    "PartReader",
    "Pipe",
    "ReadPart",
    "ReaderStream",
    "Request",
    "Response",
    "Sink",
    "Sleep",
    "as_stream",
    "body_length",
    "checked_body",
    "is_rewindable",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: What a request body may be. An async iterable works only with the async runner.
Body: TypeAlias = (
    bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes] | None
)

#: One part of an upload in parts: ``bytes``, or a view of a source chunk or of a
#: pooled part buffer (see :class:`PartReader`).
PartData: TypeAlias = bytes | memoryview

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
DEFAULT_CHUNK_SIZE = 1024 * 1024


class Headers(Mapping[str, str]):
    """Case-insensitive, ordered HTTP headers; repeated fields are joined with ``", "``."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        if type(items) is list:  # what transports pass: skip the ABC checks
            pairs: list[tuple[str, str]] = items
        else:
            pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        self._items = pairs
        index = {key.lower(): value for key, value in pairs}
        if len(index) < len(pairs):  # a repeated field: join its values in order
            index = {}
            for key, value in pairs:
                lowered = key.lower()
                index[lowered] = f"{index[lowered]}, {value}" if lowered in index else value
        self._index = index

    def __getitem__(self, key: str) -> str:
        return self._index[key.lower()]

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, /, default: str | T) -> str | T: ...

    def get(self, key: str, /, default: object = None) -> object:
        """The value of ``key`` (any case), or ``default``."""
        return self._index.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeated header, in order."""
        lowered = key.lower()
        return [v for k, v in self._items if k.lower() == lowered]

    def raw_items(self) -> list[tuple[str, str]]:
        """The header fields as received, with their original case and repeats."""
        return list(self._items)

    def __repr__(self) -> str:
        from overcast.runtime.redact import redact_headers

        return f"Headers({redact_headers(self._items)!r})"


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request an operation wants sent.

    ``idempotent`` says whether the request may be sent twice without harm; when
    ``None`` it follows the method (GET, HEAD, PUT, DELETE are idempotent; POST
    and PATCH are not). The runtime retries only idempotent requests whose body
    can be rewound, and never resends a non-idempotent one once it may have
    reached the server. ``stream=True`` leaves a 2xx body unread as
    :attr:`Response.stream`; error bodies are always read in full.
    ``timeout`` overrides the driver's read timeout for this request, and
    ``sign=False`` skips the driver's signer (pre-signed or public URLs).
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Sequence[tuple[str, str]] | Mapping[str, str] = ()
    body: Body = None
    stream: bool = False
    idempotent: bool | None = None
    timeout: float | None = None
    sign: bool = True

    @property
    def is_idempotent(self) -> bool:
        """Whether the runtime may send this request more than once."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in IDEMPOTENT_METHODS

    @property
    def full_url(self) -> str:
        """The URL with ``params`` encoded into its query string."""
        if not self.params:
            return self.url
        pairs = self.params.items() if isinstance(self.params, Mapping) else self.params
        query = "&".join(f"{_quote(str(k))}={_quote(str(v))}" for k, v in pairs)
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}{query}"

    def with_headers(self, headers: Mapping[str, str]) -> Request:
        """A copy with ``headers`` added (replacing fields of the same name)."""
        lowered = {k.lower() for k in headers}
        merged = {k: v for k, v in self.headers.items() if k.lower() not in lowered}
        merged.update(headers)
        return self.replace_headers(merged)

    def replace_headers(self, headers: Mapping[str, str]) -> Request:
        """A copy whose headers are ``headers`` (built directly: this runs for
        every request sent, and ``dataclasses.replace`` costs several µs)."""
        return Request(
            self.method, self.url, headers, self.params, self.body, self.stream,
            self.idempotent, self.timeout, self.sign,
        )

    def __repr__(self) -> str:
        from overcast.runtime.redact import redact_url

        return f"Request({self.method} {redact_url(self.full_url)})"


def _quote(value: str) -> str:
    return quote(value, safe="-_.~")


@runtime_checkable
class ChunkObserver(Protocol):
    """Sees every chunk of a stream as it passes (checksums, progress).

    ``finish`` is called once after the last chunk and may raise
    :class:`~overcast.errors.IntegrityError` to reject the data.
    """

    def update(self, chunk: PartData) -> None:
        """Account for one chunk (``bytes``, or a view of a part buffer)."""

    def finish(self) -> None:
        """Check the whole; raise to reject it."""


class ByteStream(ABC):
    """A body read once, by a runner, in chunks.

    Transports produce streams bound to their mode (a urllib3 response can be read
    only synchronously, an aiohttp one only in a loop); :class:`FileStream` and
    :class:`IterStream` work in both. Observers attached with :meth:`observe`
    see every chunk and may reject the whole at the end.
    """

    def __init__(self) -> None:
        self.observers: tuple[ChunkObserver, ...] = ()
        self.length: int | None = None

    def observe(self, *observers: ChunkObserver) -> ByteStream:
        """Attach observers (in order) and return the stream itself."""
        self.observers = (*self.observers, *observers)
        return self

    @abstractmethod
    def _sync_chunks(self) -> Iterator[bytes]:
        """Raw chunks, read synchronously."""

    @abstractmethod
    def _async_chunks(self) -> AsyncIterator[bytes]:
        """Raw chunks, read in an event loop."""

    def sync_chunks(self) -> Iterator[bytes]:
        """The chunks, shown to the observers, then closed."""
        try:
            for chunk in self._sync_chunks():
                for observer in self.observers:
                    observer.update(chunk)
                yield chunk
            for observer in self.observers:
                observer.finish()
        finally:
            self.close()

    def pipe_sync(self, write: Callable[[bytes], object]) -> int:
        """Hand every chunk to the blocking ``write``, showing it to the observers
        first, then close; return the bytes written. A transport that can push
        chunks as they arrive overrides :meth:`_push_sync` and skips the pull
        machinery (a queue, a generator) for every chunk."""
        observers = self.observers
        written = 0

        def deliver(chunk: bytes) -> None:
            nonlocal written
            for observer in observers:
                observer.update(chunk)
            write(chunk)
            written += len(chunk)

        try:
            self._push_sync(deliver)
            for observer in observers:
                observer.finish()
        finally:
            self.close()
        return written

    def _push_sync(self, deliver: Callable[[bytes], None]) -> None:
        """Call ``deliver`` with every raw chunk, in order."""
        for chunk in self._sync_chunks():
            deliver(chunk)

    async def async_chunks(self) -> AsyncIterator[bytes]:
        """The chunks, shown to the observers, then closed (async)."""
        try:
            async for chunk in self._async_chunks():
                for observer in self.observers:
                    observer.update(chunk)
                yield chunk
            for observer in self.observers:
                observer.finish()
        finally:
            await self.aclose()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the underlying connection or file (sync)."""

    async def aclose(self) -> None:
        """Release the underlying connection or file (async)."""
        self.close()


def checked_body(data: bytes, *observers: ChunkObserver) -> IterStream:
    """A body already read whole, shown to ``observers`` now (so a check that
    fails raises here, before any byte is handed over), as a stream."""
    for observer in observers:
        observer.update(data)
    for observer in observers:
        observer.finish()
    return IterStream([data])


class FileStream(ByteStream):
    """Bytes ``[start, end)`` of a local file, opened when reading starts."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        start: int = 0,
        end: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.start = start
        self.end = end
        self.chunk_size = chunk_size
        if end is not None:
            self.length = end - start
        self._file: io.FileIO | None = None
        self._left: int | None = None

    def fill_sync(self, buffer: memoryview) -> tuple[int, bool]:
        """Read the next bytes straight into ``buffer`` (as many as fit: one copy
        from the page cache, no chunk objects) and show them to the observers;
        return ``(bytes read, ended)``. Once the file has ended, the observers
        have finished and the file is closed. An alternative to
        :meth:`sync_chunks` (for cutting parts), not to be mixed with it."""
        if self._file is None:
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 - see close()
            self._file.seek(self.start)
            self._left = None if self.end is None else self.end - self.start
        file, filled = self._file, 0
        try:
            while filled < len(buffer) and self._left != 0:
                stop = len(buffer) if self._left is None else min(len(buffer), filled + self._left)
                got = file.readinto(buffer[filled:stop])
                if not got:
                    self._left = 0
                    break
                filled += got
                if self._left is not None:
                    self._left -= got
            if filled:
                for observer in self.observers:
                    observer.update(buffer[:filled])
            # Peek without moving: a file read to its last byte has ended only
            # if nothing follows (it may have grown since it was measured).
            ended = self._left == 0 or not os.pread(file.fileno(), 1, file.tell())
            if ended:
                for observer in self.observers:
                    observer.finish()
        except BaseException:
            self.close()
            raise
        if ended:
            self.close()
        return filled, ended

    def close(self) -> None:
        """Close the file :meth:`fill_sync` opened."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _sync_chunks(self) -> Generator[bytes, None, None]:
        with open(self.path, "rb") as f:
            f.seek(self.start)
            remaining = None if self.end is None else self.end - self.start
            while remaining is None or remaining > 0:
                size = self.chunk_size if remaining is None else min(self.chunk_size, remaining)
                chunk = f.read(size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    async def _async_chunks(self) -> AsyncIterator[bytes]:
        import anyio.to_thread

        iterator: Generator[bytes, None, None] = self._sync_chunks()
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, iterator, None)
                if chunk is None:
                    return
                yield chunk
        finally:
            iterator.close()


class IterStream(ByteStream):
    """A stream over an iterable (or async iterable) of bytes."""

    def __init__(self, chunks: Iterable[bytes] | AsyncIterable[bytes]) -> None:
        super().__init__()
        self.chunks = chunks

    def _sync_chunks(self) -> Iterator[bytes]:
        if type(self.chunks) is list:  # a body read whole: skip the ABC checks
            yield from self.chunks
            return
        if isinstance(self.chunks, AsyncIterable) and not isinstance(self.chunks, Iterable):
            raise TypeError("an async iterable can only be read by the async runner")
        yield from self.chunks

    async def _async_chunks(self) -> AsyncIterator[bytes]:
        if isinstance(self.chunks, AsyncIterable):
            async for chunk in self.chunks:
                yield chunk
        else:
            for chunk in self.chunks:
                yield chunk


class ReaderStream(ByteStream):
    """A stream over a binary file object, read in chunks (in a worker thread when async).

    ``limit`` stops after that many bytes; ``owns=True`` closes the file when the
    stream is closed.
    """

    def __init__(
        self,
        reader: IO[bytes],
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        limit: int | None = None,
        owns: bool = False,
    ) -> None:
        super().__init__()
        self.reader = reader
        self.chunk_size = chunk_size
        self.limit = limit
        self.owns = owns
        self.length = limit

    def _read(self) -> bytes:
        size = self.chunk_size
        if self.limit is not None:
            size = min(size, self.limit)
            if size <= 0:
                return b""
        chunk = self.reader.read(size)
        if self.limit is not None:
            self.limit -= len(chunk)
        return chunk

    def _sync_chunks(self) -> Iterator[bytes]:
        while chunk := self._read():
            yield chunk

    async def _async_chunks(self) -> AsyncIterator[bytes]:
        import anyio.to_thread

        while chunk := await anyio.to_thread.run_sync(self._read):
            yield chunk

    def close(self) -> None:
        if self.owns:
            self.reader.close()


def as_stream(body: Body | ByteStream) -> ByteStream:
    """Any body (bytes, file, iterable, async iterable) or stream, as a :class:`ByteStream`."""
    if isinstance(body, ByteStream):
        return body
    if body is None:
        return IterStream([])
    if isinstance(body, bytes | bytearray | memoryview):
        return IterStream([bytes(body)])
    if hasattr(body, "read"):
        return ReaderStream(cast(IO[bytes], body))
    return IterStream(body)


@dataclass(slots=True)
class Response:
    """What a :class:`Request` got back.

    ``body`` holds the whole body unless the request asked for ``stream=True``
    and the status was 2xx; then ``stream`` is a :class:`ByteStream` that the
    runner owns and closes. ``url`` is the redacted URL, for messages.
    """

    status: int
    headers: Headers
    body: bytes = b""
    stream: ByteStream | None = None
    url: str = ""
    method: str = "GET"

    @property
    def ok(self) -> bool:
        """True for 2xx statuses."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (errors replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.body)

    def raise_for_status(self, driver: Any = None) -> None:
        """Raise :class:`ProviderError` if the status is not 2xx or 3xx."""
        if self.status >= 400:
            raise ProviderError(
                f"{self.method} {self.url} failed: {self.text[:500]}",
                status=self.status,
                driver=driver,
            )


@dataclass(frozen=True, slots=True)
class Sleep:
    """Pause for ``seconds`` (``anyio.sleep`` in the async runner)."""

    seconds: float


class Call(Generic[T_co]):
    """Call a blocking function: directly when sync, in a worker thread when async.

    For file I/O, blocking libraries, hashing large buffers and parsing large
    documents, so that the async runner never blocks its loop.
    """

    __slots__ = ("args", "fn", "kwargs")

    def __init__(self, fn: Callable[..., T_co], /, *args: Any, **kwargs: Any) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"Call({getattr(self.fn, '__qualname__', self.fn)!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Call)
            and (self.fn, self.args, self.kwargs) == (other.fn, other.args, other.kwargs)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Parallel:
    """Run sub-operations concurrently; receive their results in order.

    ``limit`` caps how many run at once (``None``: all). The first failure
    cancels the rest (each cancelled sub-operation sees
    :class:`~overcast.errors.OperationCancelled` at its current ``yield``, so its
    own compensation runs) and is raised at this ``yield``.
    """

    ops: Sequence[Generator[Any, Any, Any]]
    limit: int | None = None


@runtime_checkable
class Sink(Protocol):
    """A blocking destination for bytes (a file being written)."""

    def write(self, data: bytes, /) -> object:
        """Write one chunk."""


@dataclass(frozen=True, slots=True)
class Pipe:
    """Copy a body or :class:`ByteStream` into a blocking :class:`Sink`.

    The async runner reads the source in the loop and writes each chunk in a
    worker thread. The operation receives the number of bytes copied.
    """

    source: Body | ByteStream
    sink: Sink


class PartReader:
    """Cuts a :class:`ByteStream` into numbered parts, for uploads in parts.

    Operations read it only through the :class:`ReadPart` effect, which the
    runner serialises (a lock per reader), so concurrent part uploads take parts
    in order, each with its number. ``sizes(number)`` says how long part
    ``number`` (from 1) is; every part but the last has exactly that length.
    Each read also says whether the part is the last, by peeking one chunk
    ahead, so resumable protocols can mark the final request.

    A part is handed out without a copy when one source chunk holds it (a small
    object, or a slice of a large ``bytes``); a part gathered from several
    chunks is copied once, into a part buffer. Part buffers are anonymous
    memory maps kept in a pool: an upload reuses ``concurrency + 1`` of them
    instead of allocating (and leaving to the allocator) a new one per part,
    and a map returns its memory to the system as soon as it is dropped.
    Give each part back with :meth:`recycle` once it has been sent.
    """

    def __init__(self, source: ByteStream, sizes: Callable[[int], int]) -> None:
        self.source = source
        self.sizes = sizes
        self._pending: memoryview | None = None  # the unread rest of a source chunk
        self._free: list[mmap.mmap] = []
        self._owned: list[mmap.mmap] = []
        self._next = 1
        self._exhausted = False
        self._sync: Iterator[bytes] | None = None
        self._async: AsyncIterator[bytes] | None = None
        self.lock: Any = None  # made by the runner: threading.Lock or anyio.Lock

    def read_sync(self) -> tuple[int, PartData, bool]:
        """The next ``(number, data, last)``; ``data`` is empty after the end."""
        if isinstance(self.source, FileStream):
            return self._fill(self.source)
        if self._sync is None:
            self._sync = self.source.sync_chunks()
        steps, chunk = self._cut(), None
        while True:
            try:
                steps.send(chunk)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            chunk = next(self._sync, None)

    async def read_async(self) -> tuple[int, PartData, bool]:
        """:meth:`read_sync` in an event loop."""
        if isinstance(self.source, FileStream):
            import anyio.to_thread

            return await anyio.to_thread.run_sync(self._fill, self.source)
        if self._async is None:
            self._async = self.source.async_chunks()
        steps, chunk = self._cut(), None
        while True:
            try:
                steps.send(chunk)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            try:
                chunk = await self._async.__anext__()
            except StopAsyncIteration:
                chunk = None

    def recycle(self, data: PartData) -> None:
        """Take back a part's buffer once the part has been sent (parts that
        were not copied into a buffer need nothing)."""
        if not isinstance(data, memoryview):
            return
        owner = data.obj
        data.release()
        for buffer in self._owned:
            if buffer is owner:
                self._free.append(buffer)
                return

    def close(self) -> None:
        """Release the source (an upload that stops early calls this)."""
        if self._sync is not None and hasattr(self._sync, "close"):
            self._sync.close()
        if isinstance(self.source, FileStream):
            self.source.close()
        self._pending = None
        self._free, self._owned = [], []
        self._exhausted = True

    def _fill(self, source: FileStream) -> tuple[int, PartData, bool]:
        """A part read from a local file straight into a part buffer."""
        if self._exhausted:
            return self._next, b"", True
        buffer = self._buffer(self.sizes(self._next))
        view, filled = memoryview(buffer), 0
        try:
            filled, self._exhausted = source.fill_sync(view)
            part = view[:filled]
        finally:
            view.release()
            if not filled:  # nothing read (or a failure): the buffer stays free
                self._free.append(buffer)
        if not filled:
            return self._next, b"", True
        number = self._next
        self._next += 1
        return number, part, self._exhausted

    # The cutting itself, written once for both runners: a generator that yields
    # when it needs the next source chunk and is sent that chunk (None at the end).

    def _cut(self) -> Generator[None, bytes | None, tuple[int, PartData, bool]]:
        size = self.sizes(self._next)
        head = yield from self._take()
        if head is None:
            return self._next, b"", True
        if len(head) >= size:
            part: PartData = head[:size]
            self._pending = head[size:] or None
        else:
            after = yield from self._take()
            if after is None:  # the whole rest is one chunk: no copy
                part = head
            else:
                part = yield from self._gather(size, head, after)
        number = self._next
        self._next += 1
        if self._pending is None:
            self._pending = yield from self._take()
        return number, part, self._pending is None

    def _gather(
        self, size: int, head: memoryview, chunk: memoryview | None
    ) -> Generator[None, bytes | None, memoryview]:
        buffer = self._buffer(size)
        view = memoryview(buffer)
        view[: len(head)] = head
        filled = len(head)
        while chunk is not None:
            n = min(len(chunk), size - filled)
            view[filled : filled + n] = chunk[:n]
            filled += n
            if n < len(chunk):
                self._pending = chunk[n:]
                break
            if filled == size:
                break
            chunk = yield from self._take()
        part = view[:filled]
        view.release()
        return part

    def _take(self) -> Generator[None, bytes | None, memoryview | None]:
        """The next non-empty piece of the source, as a byte view, or ``None``."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return pending
        while not self._exhausted:
            chunk = yield
            if chunk is None:
                self._exhausted = True
            elif len(chunk):
                view = memoryview(chunk)
                return view if view.format == "B" and view.ndim == 1 else view.cast("B")
        return None

    def _buffer(self, size: int) -> mmap.mmap:
        while self._free:
            buffer = self._free.pop()
            if len(buffer) == size:
                return buffer
            self._owned.remove(buffer)  # parts grew: this size is not needed again
        buffer = mmap.mmap(-1, size)
        self._owned.append(buffer)
        return buffer


@dataclass(frozen=True, slots=True)
class ReadPart:
    """Read the next part of a :class:`PartReader`; the operation receives
    ``(number, data, last)`` (``data`` empty once the source is exhausted;
    give it back with :meth:`PartReader.recycle` once sent)."""

    reader: PartReader


@dataclass(frozen=True, slots=True)
class Guarded(Generic[T]):
    """Run ``body``; if it fails or is cancelled, run ``on_error(exc)`` then re-raise.

    This is how an operation cleans up with I/O (abort a multipart upload, delete
    a half-made node): a generator cannot yield from ``finally`` once closed, so
    the runner starts the compensating operation itself, shielded from
    cancellation. Errors raised by the compensation are logged, not raised.
    """

    body: Generator[Any, Any, T]
    on_error: Callable[[BaseException], Generator[Any, Any, Any]]


@dataclass(frozen=True, slots=True)
class Emit(Generic[T]):
    """Hand one item to the consumer of an iterator operation."""

    item: T


Effect: TypeAlias = "Request | Call[Any] | Sleep | Parallel | Pipe | ReadPart | Guarded[Any]"

#: A value operation: yields effects, returns ``T``.
Op: TypeAlias = Generator[Effect, Any, T]
#: An iterator operation: yields effects and :class:`Emit` items of type ``T``.
Iter: TypeAlias = Generator["Effect | Emit[T]", Any, None]


def is_rewindable(body: Body | ByteStream) -> bool:
    """Whether a body can be sent again after a failed attempt."""
    if body is None or isinstance(body, bytes | bytearray | memoryview | str):
        return True
    if isinstance(body, io.IOBase | IO) or hasattr(body, "read"):
        seekable = getattr(body, "seekable", None)
        return bool(seekable and seekable())
    return False


def body_length(body: Body) -> int | None:
    """The length of a body when it can be known without reading it."""
    if body is None:
        return 0
    if isinstance(body, bytes | bytearray):
        return len(body)
    if isinstance(body, memoryview):
        return body.nbytes
    if hasattr(body, "seek") and hasattr(body, "tell"):
        f: Any = body
        try:
            if not f.seekable():
                return None
            here = f.tell()
            end = f.seek(0, os.SEEK_END)
            f.seek(here)
            return int(end - here)
        except (OSError, ValueError):
            return None
    return None
