"""Effects: the values a driver operation yields to ask a runner for I/O.

An operation is a generator. It yields an effect and receives its result; if
the effect fails, the runner throws the exception into the generator at the
``yield``, so ``try``/``except`` works as it does in ordinary code.

| effect | the runner does | the operation receives |
| --- | --- | --- |
| :class:`Request` | signs, sends, retries per policy | :class:`Response` |
| :class:`Call` | calls a blocking function (a worker thread when async) | its return value |
| :class:`Sleep` | sleeps (the operation's deadline moves by as much) | ``None`` |
| :class:`TimeBudget` | lets the operation run at least that long from now | ``None`` |
| :class:`Parallel` | runs sub-operations concurrently | their results, in order |
| :class:`Pipe` | copies a body or stream into a blocking sink | bytes copied |
| :class:`ReadPart` | reads the next part of an upload, serialised | ``(n, data, last)`` |
| :class:`Guarded` | runs a sub-operation; on failure runs its compensation | its result |
| :class:`Delegate` | runs a sub-operation on another driver's runner | its result |
| :class:`Exclusive` | runs a sub-operation holding a :class:`Gate` (one at a time) | its result |
| :class:`Emit` (iterators only) | hands an item to the consumer | ``None`` |

This module holds values only: effects are plain, immutable values that can be
built, compared and inspected in unit tests without a runner. Byte streams live
in :mod:`overcast.runtime.streams`, the cutting of uploads into parts in
:mod:`overcast.runtime.parts`.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import AsyncIterable
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import IO
from typing import TYPE_CHECKING
from typing import Any
from typing import Generic
from typing import Protocol
from typing import TypeAlias
from typing import TypeVar
from typing import overload
from typing import runtime_checkable
from urllib.parse import quote

from overcast.errors import ProviderError

if TYPE_CHECKING:
    from overcast.runtime.parts import PartReader
    from overcast.runtime.streams import ByteStream

__all__ = [
    "Body",
    "Call",
    "Delegate",
    "Effect",
    "Emit",
    "Guarded",
    "Headers",
    "Iter",
    "Op",
    "Parallel",
    "PartData",
    "Pipe",
    "ReadPart",
    "Request",
    "Response",
    "Sink",
    "Sleep",
    "TimeBudget",
    "body_length",
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
        import json  # not at import: most drivers parse through runtime.api

        return json.loads(self.body)

    def raise_for_status(self, driver: Any = None) -> None:
        """Raise :class:`ProviderError` if the status is not 2xx or 3xx."""
        if self.status >= 400:
            from overcast.runtime.redact import redact_text

            raise ProviderError(
                f"{self.method} {self.url} failed: {redact_text(self.text[:500])}",
                status=self.status,
                driver=driver,
            )


@dataclass(frozen=True, slots=True)
class Sleep:
    """Pause for ``seconds`` (``anyio.sleep`` in the async runner)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class TimeBudget:
    """Say that the operation may need ``seconds`` from now (a deployment that
    runs for minutes): the runner moves the operation's deadline so that at
    least that much remains. The operation bounds its own work to it."""

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
class Delegate(Generic[T]):
    """Run ``op`` on another driver's runner of the same mode; receive its result.

    The sub-operation's requests are signed, pooled, retried and redacted by
    ``driver`` (its credentials, its endpoint, its policy), while it shares the
    deadline and cancellation of the operation that yielded it. This is how one
    operation works across drivers (``storage.copy``, ``dns.sync``, fan-out)
    and still has one sync and one async face.
    """

    driver: Any
    op: Generator[Any, Any, T]


class Gate:
    """A lock shared by the operations of one runner mode (see :class:`Exclusive`):
    a thread lock for the sync runner, an anyio lock for the async one (made on
    first use). A sync and an async caller do not exclude each other."""

    __slots__ = ("async_lock", "thread_lock")

    def __init__(self) -> None:
        self.thread_lock = threading.Lock()
        self.async_lock: Any = None

    def __repr__(self) -> str:
        return "<Gate>"


@dataclass(frozen=True, slots=True)
class Exclusive(Generic[T]):
    """Run ``op`` while holding ``gate``; receive its result.

    Concurrent operations that yield an ``Exclusive`` on the same gate run its
    sub-operation one after the other: the way to fetch a shared thing once
    (temporary credentials) when many requests find it stale at the same moment.
    The sub-operation should check again, under the gate, whether the work is
    still to be done.
    """

    gate: Gate
    op: Generator[Any, Any, T]


@dataclass(frozen=True, slots=True)
class Emit(Generic[T]):
    """Hand one item to the consumer of an iterator operation."""

    item: T


Effect: TypeAlias = (
    "Request | Call[Any] | Sleep | TimeBudget | Parallel | Pipe | ReadPart | Guarded[Any] "
    "| Delegate[Any] | Exclusive[Any]"
)

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
