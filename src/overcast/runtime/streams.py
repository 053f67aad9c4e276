"""Byte streams: bodies that a runner reads once, in chunks, sync or async.

A transport wraps a streamed response in a :class:`ByteStream`; an upload's
source (a file, an iterable, a file object) becomes one through
:func:`as_stream`. Observers (checksums, progress) see every chunk as it passes
and may reject the whole at the end.
"""

from __future__ import annotations

import io
import os
from abc import ABC
from abc import abstractmethod
from collections.abc import AsyncIterable
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Iterator
from typing import IO
from typing import Protocol
from typing import cast
from typing import runtime_checkable

from overcast.errors import InvalidInput
from overcast.runtime.effects import Body
from overcast.runtime.effects import PartData

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ByteStream",
    "ChunkObserver",
    "FileStream",
    "IterStream",
    "ReaderStream",
    "as_stream",
    "checked_body",
]

#: The size of the chunks read from files and in-memory bodies.
DEFAULT_CHUNK_SIZE = 1024 * 1024


def _bytes_like(chunk: object) -> bytes:
    """``chunk`` if it is bytes-like (bytes, bytearray, memoryview or another
    buffer), else :class:`~overcast.errors.InvalidInput`: a chunk of text, a
    number or ``None`` is a caller's mistake, found before it is written."""
    if type(chunk) is bytes:
        return chunk
    if not isinstance(chunk, bytearray | memoryview):
        try:
            with memoryview(chunk):  # type: ignore[arg-type]
                pass
        except TypeError:
            raise InvalidInput(
                f"upload data must be bytes-like: got a chunk of type {type(chunk).__name__}"
            ) from None
    return cast(bytes, chunk)


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
                self._show(chunk)
                yield chunk
            self._finish_observers()
        finally:
            self.close()

    def pipe_sync(self, write: Callable[[bytes], object]) -> int:
        """Hand every chunk to the blocking ``write``, showing it to the observers
        first, then close; return the bytes written. A transport that can push
        chunks as they arrive overrides :meth:`_push_sync` and skips the pull
        machinery (a queue, a generator) for every chunk."""
        show = self._show
        written = 0

        def deliver(chunk: bytes) -> None:
            nonlocal written
            show(chunk)
            write(chunk)
            written += len(chunk)

        try:
            self._push_sync(deliver)
            self._finish_observers()
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
                self._show(chunk)
                yield chunk
            self._finish_observers()
        finally:
            await self.aclose()

    def _show(self, chunk: PartData) -> None:
        for observer in self.observers:
            observer.update(chunk)

    def _finish_observers(self) -> None:
        for observer in self.observers:
            observer.finish()

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

    def __init__(self, path: str | os.PathLike[str], start: int = 0, end: int | None = None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
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
                self._show(buffer[:filled])
            # Peek without moving: a file read to its last byte has ended only
            # if nothing follows (it may have grown since it was measured).
            ended = self._left == 0 or not os.pread(file.fileno(), 1, file.tell())
            if ended:
                self._finish_observers()
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
    """A stream over an iterable (or async iterable) of bytes. A chunk that is
    not bytes-like is :class:`~overcast.errors.InvalidInput` when it is read."""

    def __init__(self, chunks: Iterable[bytes] | AsyncIterable[bytes]) -> None:
        super().__init__()
        self.chunks = chunks

    def _sync_chunks(self) -> Iterator[bytes]:
        if type(self.chunks) is list:  # a body read whole: skip the ABC checks
            for chunk in self.chunks:
                yield _bytes_like(chunk)
            return
        if isinstance(self.chunks, AsyncIterable) and not isinstance(self.chunks, Iterable):
            raise TypeError("an async iterable can only be read by the async runner")
        for chunk in self.chunks:
            yield _bytes_like(chunk)

    async def _async_chunks(self) -> AsyncIterator[bytes]:
        if isinstance(self.chunks, AsyncIterable):
            async for chunk in self.chunks:
                yield _bytes_like(chunk)
        else:
            for chunk in self.chunks:
                yield _bytes_like(chunk)


class ReaderStream(ByteStream):
    """A stream over a binary file object, read in chunks (in a worker thread when async).

    ``limit`` stops after that many bytes; ``owns=True`` closes the file when the
    stream is closed.
    """

    def __init__(self, reader: IO[bytes], chunk_size: int = DEFAULT_CHUNK_SIZE, *,
                 limit: int | None = None, owns: bool = False) -> None:
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
        chunk = _bytes_like(self.reader.read(size))  # a file opened as text reads str
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


