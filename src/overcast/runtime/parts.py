"""Cutting an upload's source into numbered parts, in pooled buffers."""

from __future__ import annotations

import mmap
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterator
from typing import Any

from overcast.runtime.effects import PartData
from overcast.runtime.streams import ByteStream
from overcast.runtime.streams import FileStream

__all__ = ["PartReader"]


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
        while (part := _advance(steps, chunk)) is None:
            chunk = next(self._sync, None)
        return part

    async def read_async(self) -> tuple[int, PartData, bool]:
        """:meth:`read_sync` in an event loop."""
        if isinstance(self.source, FileStream):
            import anyio.to_thread

            return await anyio.to_thread.run_sync(self._fill, self.source)
        if self._async is None:
            self._async = self.source.async_chunks()
        steps, chunk = self._cut(), None
        while (part := _advance(steps, chunk)) is None:
            chunk = await anext(self._async, None)
        return part

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


def _advance(steps: Generator[None, bytes | None, tuple[int, PartData, bool]],
             chunk: bytes | None) -> tuple[int, PartData, bool] | None:
    """Hand the part cutter the next chunk (None at the end); its part once it
    has one."""
    try:
        steps.send(chunk)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    return None
