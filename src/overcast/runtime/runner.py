"""Runners: they execute operations, sync or async.

An operation is a generator of effects (see :mod:`overcast.runtime.effects`).
:class:`SyncRunner` drives it with a blocking transport and threads;
:class:`AsyncRunner` drives the same generator with an async transport and
anyio tasks. Both share the retry decision (:class:`RetryPolicy`), signing,
hooks and redaction through :class:`RuntimeConfig`, so a driver behaves the same
in both modes.

The rules the runners keep:

* An exception raised by an effect is thrown into the generator at its
  ``yield``; an exception that escapes the generator escapes the run.
* Every attempt of a request is signed afresh, at the time it is sent.
* A request is resent only when :meth:`RetryPolicy.decide` says so; a
  non-idempotent request whose outcome is unknown raises
  :class:`~overcast.errors.OutcomeUnknown`.
* The total timeout covers the whole operation, retries and sleeps included.
* :class:`~overcast.runtime.effects.Guarded` compensation runs even when the
  operation is cancelled, shielded from the cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterator
from typing import Any
from typing import TypeVar

import anyio
import anyio.to_thread

from overcast.errors import OperationCancelled
from overcast.errors import OperationTimeout
from overcast.errors import OutcomeUnknown
from overcast.errors import RateLimited
from overcast.errors import TransportError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Delegate
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Exclusive
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Parallel
from overcast.runtime.effects import PartData
from overcast.runtime.effects import Pipe
from overcast.runtime.effects import ReadPart
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.effects import Sleep
from overcast.runtime.effects import TimeBudget
from overcast.runtime.effects import body_length
from overcast.runtime.policy import ResponseEvent
from overcast.runtime.policy import ResumeEvent
from overcast.runtime.policy import RuntimeConfig
from overcast.runtime.policy import parse_retry_after
from overcast.runtime.process import Completed
from overcast.runtime.process import Converse
from overcast.runtime.process import Run
from overcast.runtime.process import Start
from overcast.runtime.process import Wait
from overcast.runtime.process import converse
from overcast.runtime.process import start
from overcast.runtime.redact import redact_text
from overcast.runtime.redact import redact_url
from overcast.runtime.resume import Resume
from overcast.runtime.resume import ResumingStream
from overcast.runtime.streams import ByteStream
from overcast.runtime.streams import as_stream
from overcast.runtime.transports.base import AsyncTransport
from overcast.runtime.transports.base import SyncTransport
from overcast.runtime.transports.base import TransportFailure

__all__ = ["AsyncRunner", "SyncRunner"]

T = TypeVar("T")
log = logging.getLogger("overcast.runtime")

#: How many bytes the async runner gathers before a worker thread writes them.
PIPE_BATCH = 1024 * 1024

Gen = Generator[Any, Any, Any]


#: Effects the async runner performs without a cancel scope, as the sync runner
#: does: a request's connect and read timeouts are cut to the deadline, a pause
#: moves the deadline by its own length, a budget only moves it. Entering and
#: leaving an anyio cancel scope costs about a third of a small GET's CPU on
#: asyncio, so the common operation (one request) runs with none; every other
#: effect (threads, task groups, sub-operations) runs in one that ends at the
#: deadline.
_SELF_BOUNDED: frozenset[type] = frozenset({Request, Sleep, TimeBudget})
#: Functions a ``Call`` names that return at once (reading a clock): the async
#: runner calls them in place rather than in a worker thread, which costs tens
#: of µs and lets concurrent tasks read the clock out of the order they asked
#: in (a shared fetch tells callers that came before a failure from those
#: after it by these readings).
_IMMEDIATE: frozenset[Callable[..., Any]] = frozenset({time.time, time.monotonic})


class _Deadline:
    """The total-time budget of one operation, shared by its sub-operations.

    It grows with the work the operation does rather than cutting it short: by
    the time a transfer of known size needs at the minimum rate, by every pause
    the operation itself asks for (a polling loop bounds its own waiting), and
    to whatever an operation declares it needs (:class:`TimeBudget`). The async
    runner's cancel scope, while an effect runs in one, follows it (``scope``).
    """

    __slots__ = ("at", "scope")

    def __init__(self, total: float | None) -> None:
        self.at = None if total is None else time.monotonic() + total
        self.scope: anyio.CancelScope | None = None

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def clamp(self, seconds: float) -> float:
        left = self.remaining()
        return seconds if left is None else max(0.001, min(seconds, left))

    def extend(self, seconds: float) -> None:
        """Move the deadline ``seconds`` later."""
        if self.at is not None and seconds > 0:
            self.at += seconds
            self._follow()

    def allow(self, seconds: float) -> None:
        """Make sure at least ``seconds`` remain."""
        if self.at is not None:
            self.at = max(self.at, time.monotonic() + seconds)
            self._follow()

    def restart(self, total: float | None) -> None:
        """Give the next piece of work (an iterator's next page) a fresh budget."""
        if total is not None:
            self.at = time.monotonic() + total
            self._follow()

    def _follow(self) -> None:
        if self.scope is not None and self.at is not None:
            self.scope.deadline = anyio.current_time() + (self.at - time.monotonic())


class _Base:
    """What both runners share: configuration and the outcome of an attempt."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config

    def _timeout_error(self, what: str) -> OperationTimeout:
        return OperationTimeout(
            f"{what} exceeded the total timeout of {self.config.timeouts.total}s",
            driver=self.config.driver_name,
        )

    def _after_attempt(self, request: Request, attempt: int, started: float, deadline: _Deadline,
                       response: Response | None = None,
                       failure: TransportFailure | None = None) -> float | None:
        """Report the attempt; return the delay before a retry, or None to stop.

        Raises the public error when stopping after a failure or unknown outcome.
        """
        throttled = response is not None and self.config.is_throttled(response)
        decision = self.config.retry.decide(
            request, attempt, response=response, failure=failure, throttled=throttled
        )
        delay: float | None = decision.delay if decision.retry else None
        if delay is not None:
            left = deadline.remaining()
            if left is not None and delay >= left:
                delay = None
        if delay is not None or self.config.hooks.active:
            self.config.hooks.response(
                ResponseEvent(
                    self.config.driver_name,
                    request.method,
                    response.url if response is not None else "",
                    attempt,
                    time.monotonic() - started,
                    status=response.status if response is not None else None,
                    error=str(failure) if failure is not None else None,
                    will_retry=delay is not None,
                )
            )
        if delay is not None:
            return delay
        name = self.config.driver_name
        if decision.outcome_unknown:
            what = f"{request.method} {response.url if response else ''}".strip()
            cause = f"status {response.status}" if response is not None else str(failure)
            raise OutcomeUnknown(
                f"outcome of non-idempotent {what} is unknown ({cause}); not resent",
                status=response.status if response is not None else None,
                driver=name,
            )
        if failure is not None:
            raise failure.to_error(name) from None
        assert response is not None
        if throttled:
            raise RateLimited(
                redact_text(f"rate limited: {response.text[:300]}", self.config.secrets),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                driver=name,
            )
        return None

    def _budget_body(self, request: Request, deadline: _Deadline) -> None:
        """A request body of known size may take ``size / min_rate`` seconds to send:
        the operation's deadline moves by that much, once per request."""
        rate = self.config.timeouts.min_rate
        if rate and request.body is not None and deadline.at is not None:
            size = body_length(request.body)
            if size:
                deadline.extend(size / rate)

    def _streamed(self, request: Request, response: Response, deadline: _Deadline) -> None:
        """Prepare a streamed answer for its reader: the deadline grows by the time
        its known length may take at the minimum rate, and a body that can be
        resumed (:mod:`overcast.runtime.resume`) asks for its rest if it breaks."""
        stream = response.stream
        assert stream is not None
        rate = self.config.timeouts.min_rate
        if rate and stream.length and deadline.at is not None:
            deadline.extend(stream.length / rate)
        resume = Resume.of(request, response)
        if resume is not None:
            response.stream = self._resuming(stream, resume)

    def _resuming(self, stream: ByteStream, resume: Resume) -> ResumingStream:
        """``stream`` made to resume through this runner (each runner's own)."""
        raise NotImplementedError

    def _resume_notice(self, resume: Resume) -> Callable[[int, TransportError], None]:
        """What tells the hooks (and the log) that ``resume``'s body broke."""
        config = self.config

        def notify(received: int, error: TransportError) -> None:
            url = redact_url(resume.request.full_url)
            config.hooks.resume(ResumeEvent(config.driver_name, resume.request.method, url,
                                            received, str(error)))

        return notify

    def _rewind(self, request: Request) -> Callable[[], None]:
        """Remember a seekable body's position; return a function that restores it."""
        body: Any = request.body
        if body is None:
            return _nothing
        if hasattr(body, "seek") and hasattr(body, "tell"):
            try:
                position = body.tell()
            except (OSError, ValueError):
                return _nothing
            return lambda: body.seek(position)
        return _nothing


def _limit(timeout: float | None, deadline: _Deadline) -> float | None:
    """The shorter of ``timeout`` and what remains of the deadline."""
    left = deadline.remaining()
    if left is None:
        return timeout
    left = max(0.001, left)
    return left if timeout is None else min(timeout, left)


def _nothing() -> None:
    """Rewinding a request with no body, or with one that cannot seek."""


class _SyncContext:
    """Cancellation and deadline shared by one operation and its sub-operations."""

    __slots__ = ("cancelled", "deadline", "parent")

    def __init__(self, deadline: _Deadline, parent: _SyncContext | None = None) -> None:
        self.deadline = deadline
        # A plain flag: set once by a failing sibling, read by the others.
        self.cancelled = False
        self.parent = parent

    def cancel(self) -> None:
        self.cancelled = True

    def is_cancelled(self) -> bool:
        ctx: _SyncContext | None = self
        while ctx is not None:
            if ctx.cancelled:
                return True
            ctx = ctx.parent
        return False


class SyncRunner(_Base):
    """Runs operations in the calling thread; ``Parallel`` uses worker threads.

    The transport (one connection pool) is made on first use, so constructing a
    driver never touches the network. Safe to share between threads.
    """

    def __init__(self, config: RuntimeConfig, transport_factory: Callable[[], SyncTransport]):
        super().__init__(config)
        self._factory = transport_factory
        self._transport: SyncTransport | None = None
        self._lock = threading.Lock()

    @property
    def transport(self) -> SyncTransport:
        """The transport, made on first use."""
        transport = self._transport
        if transport is None:
            with self._lock:
                if self._transport is None:
                    self._transport = self._factory()
                transport = self._transport
        return transport

    def close(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    # -- entry points ---------------------------------------------------------

    def run(self, op: Generator[Any, Any, T]) -> T:
        """Run a value operation to completion and return its result."""
        ctx = _SyncContext(_Deadline(self.config.timeouts.total))
        result: T = self._drive(op, ctx)
        return result

    def iterate(self, op: Generator[Any, Any, None]) -> Iterator[Any]:
        """Run an iterator operation, yielding each emitted item as it comes."""
        total = self.config.timeouts.total
        ctx = _SyncContext(_Deadline(total))
        value: Any = None
        error: BaseException | None = None
        emitted = False
        try:
            while True:
                try:
                    effect = op.throw(error) if error is not None else op.send(value)
                except StopIteration:
                    return
                value, error = None, None
                if type(effect) is Emit:
                    yield effect.item
                    emitted = True
                    continue
                if emitted:  # the work after an item (the next page) gets the whole budget
                    ctx.deadline.restart(total)
                    emitted = False
                try:
                    value = self._perform(effect, ctx)
                except Exception as exc:
                    error = exc
        finally:
            op.close()

    def stream(self, op: Generator[Any, Any, ByteStream]) -> Iterator[bytes]:
        """Run a stream operation now and return an iterator over its chunks."""
        stream = self.run(op)
        return stream.sync_chunks()

    # -- the loop -------------------------------------------------------------

    def _drive(self, op: Gen, ctx: _SyncContext) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            if error is None:
                if ctx.is_cancelled():
                    error = OperationCancelled(
                        "cancelled: a sibling operation failed", driver=self.config.driver_name
                    )
                elif (left := ctx.deadline.remaining()) is not None and left <= 0:
                    error = self._timeout_error("operation")
            try:
                effect = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = self._perform(effect, ctx)
            except Exception as exc:
                error = exc

    def _perform(self, effect: Any, ctx: _SyncContext) -> Any:
        if isinstance(effect, Request):
            return self._send(effect, ctx)
        if isinstance(effect, Call):
            return effect.fn(*effect.args, **effect.kwargs)
        if isinstance(effect, Sleep):
            # A pause the operation asks for is its own to bound (a polling loop
            # has its limit): it moves the deadline, it does not spend it.
            ctx.deadline.extend(effect.seconds)
            time.sleep(effect.seconds)
            return None
        if isinstance(effect, TimeBudget):
            ctx.deadline.allow(effect.seconds)
            return None
        if isinstance(effect, Parallel):
            return self._parallel(effect, ctx)
        if isinstance(effect, Pipe):
            return self._pipe(effect)
        if isinstance(effect, ReadPart):
            return self._read_part(effect)
        if isinstance(effect, Guarded):
            return self._guarded(effect, ctx)
        if isinstance(effect, Delegate):
            return effect.driver._sync_runner._drive(effect.op, ctx)
        if isinstance(effect, Exclusive):
            with effect.gate.thread_lock:
                return self._drive(effect.op, ctx)
        if isinstance(effect, Run):
            return self._run_program(effect, ctx.deadline)
        if isinstance(effect, Start):
            return start(effect)
        if isinstance(effect, Wait):
            return effect.process.wait(_limit(effect.timeout, ctx.deadline))
        if isinstance(effect, Converse):
            return converse(effect, ctx.deadline.clamp(self.config.timeouts.read))
        if isinstance(effect, Emit):
            raise TypeError("Emit is only allowed in an iterator operation")
        raise TypeError(f"not an effect: {effect!r}")

    def _send(self, request: Request, ctx: _SyncContext) -> Response:
        if request.sign and self.config.refresh is not None:
            renew = self.config.refresh(time.time())
            if renew is not None:  # the signer's credentials are stale: fetch them first
                self._drive(renew, ctx)
        timeouts, retried = self.config.timeouts, self.config.retry.statuses
        rewind = self._rewind(request)
        self._budget_body(request, ctx.deadline)
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                rewind()
            signed = self.config.prepare(request, time.time())
            reporting = self.config.hooks.active
            if reporting:
                self.config.hooks.request(self.config.request_event(signed, attempt))
            started = time.monotonic()
            read = request.timeout or timeouts.read
            connect = timeouts.connect
            if ctx.deadline.at is not None:
                read, connect = ctx.deadline.clamp(read), ctx.deadline.clamp(connect)
            try:
                response = self.transport.send(signed, connect_timeout=connect, read_timeout=read)
            except TransportFailure as failure:
                delay = self._after_attempt(
                    request, attempt, started, ctx.deadline, failure=failure
                )
            else:
                if response.status < 400 and not reporting and response.status not in retried:
                    if response.stream is not None:
                        self._streamed(request, response, ctx.deadline)
                    return response  # the common case: nothing to retry or report
                delay = self._after_attempt(
                    request, attempt, started, ctx.deadline, response=response
                )
                if delay is None:
                    if response.stream is not None:
                        self._streamed(request, response, ctx.deadline)
                    return response
                if response.stream is not None:
                    response.stream.close()
            assert delay is not None
            time.sleep(delay)

    def _run_program(self, effect: Run, deadline: _Deadline) -> Completed:
        handle = start(effect)
        try:
            return handle.wait(_limit(effect.timeout, deadline))
        except BaseException:  # out of time, or interrupted: the program stops too
            handle.stop()
            raise

    def _resuming(self, stream: ByteStream, resume: Resume) -> ResumingStream:
        def send(rest: Request) -> Response:
            return self._send(rest, _SyncContext(_Deadline(self.config.timeouts.total)))

        return ResumingStream(stream, resume, tries=self.config.retry.max_attempts, send=send,
                              notify=self._resume_notice(resume))

    def _parallel(self, effect: Parallel, ctx: _SyncContext) -> list[Any]:
        ops = list(effect.ops)
        if not ops:
            return []
        workers = min(effect.limit or len(ops), len(ops))
        child = _SyncContext(ctx.deadline, parent=ctx)
        results: list[Any] = [None] * len(ops)
        errors: list[BaseException] = []
        lock = threading.Lock()
        next_index = iter(range(len(ops)))

        def work() -> None:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                if child.is_cancelled():
                    ops[index].close()
                    continue
                try:
                    results[index] = self._drive(ops[index], child)
                except BaseException as exc:
                    with lock:
                        errors.append(exc)
                    child.cancel()

        if workers == 1:
            work()
        else:
            threads = [
                threading.Thread(target=work, name=f"overcast-{self.config.driver_name}-{i}")
                for i in range(workers)
            ]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    thread.join()
            except BaseException:
                child.cancel()
                for thread in threads:
                    thread.join()
                raise
        if errors:
            # The first real failure, not the cancellations it caused.
            first = next((e for e in errors if not isinstance(e, OperationCancelled)), errors[0])
            raise first
        return results

    def _pipe(self, effect: Pipe) -> int:
        return as_stream(effect.source).pipe_sync(effect.sink.write)

    def _read_part(self, effect: ReadPart) -> tuple[int, PartData, bool]:
        reader = effect.reader
        with self._lock:
            if reader.lock is None:
                reader.lock = threading.Lock()
        with reader.lock:
            return reader.read_sync()

    def _guarded(self, effect: Guarded[Any], ctx: _SyncContext) -> Any:
        try:
            return self._drive(effect.body, ctx)
        except BaseException as exc:
            cleanup_ctx = _SyncContext(_Deadline(self.config.timeouts.total))
            try:
                self._drive(effect.on_error(exc), cleanup_ctx)
            except Exception:
                log.warning(
                    "[%s] cleanup after a failed operation also failed",
                    self.config.driver_name,
                    exc_info=True,
                )
            raise


class AsyncRunner(_Base):
    """Runs operations as anyio tasks; ``Parallel`` uses a task group.

    Works on asyncio (libcurl's multi interface by default) and trio (httpx). The
    transport is made on first use inside the running loop, and remade if used
    from another loop.
    """

    def __init__(
        self, config: RuntimeConfig, transport_factory: Callable[[], AsyncTransport]
    ) -> None:
        super().__init__(config)
        self._factory = transport_factory
        self._transport: AsyncTransport | None = None
        self._loop_token: object = None

    @property
    def transport(self) -> AsyncTransport:
        """The transport of the current event loop, made on first use."""
        token = _loop_token()
        if self._transport is None or self._loop_token is not token:
            self._transport = self._factory()
            self._loop_token = token
        return self._transport

    async def aclose(self) -> None:
        """Close the connection pool of this loop's transport."""
        transport, self._transport = self._transport, None
        if transport is not None and self._loop_token is _loop_token():
            await transport.aclose()

    # -- entry points ---------------------------------------------------------

    async def run(self, op: Generator[Any, Any, T]) -> T:
        """Run a value operation to completion and return its result."""
        result: T = await self._drive(op, _Deadline(self.config.timeouts.total))
        return result

    async def iterate(self, op: Generator[Any, Any, None]) -> AsyncIterator[Any]:
        """Run an iterator operation, yielding each emitted item as it comes."""
        total = self.config.timeouts.total
        deadline = _Deadline(total)
        value: Any = None
        error: BaseException | None = None
        emitted = False
        try:
            while True:
                try:
                    effect = op.throw(error) if error is not None else op.send(value)
                except StopIteration:
                    return
                value, error = None, None
                if type(effect) is Emit:
                    yield effect.item
                    emitted = True
                    continue
                if emitted:  # the work after an item (the next page) gets the whole budget
                    deadline.restart(total)
                    emitted = False
                try:
                    value = await self._perform(effect, deadline)
                except Exception as exc:
                    error = exc
        finally:
            op.close()

    async def stream(self, op: Generator[Any, Any, ByteStream]) -> AsyncIterator[bytes]:
        """Run a stream operation on first iteration and yield its chunks."""
        stream = await self.run(op)
        async for chunk in stream.async_chunks():
            yield chunk

    # -- the loop -------------------------------------------------------------

    async def _drive(self, op: Gen, deadline: _Deadline) -> Any:
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                if error is None and (left := deadline.remaining()) is not None and left <= 0:
                    error = self._timeout_error("operation")
                try:
                    effect = op.throw(error) if error is not None else op.send(value)
                except StopIteration as stop:
                    return stop.value
                value, error = None, None
                try:
                    if deadline.at is None or deadline.scope is not None or (
                        type(effect) in _SELF_BOUNDED
                        or (type(effect) is Call and effect.fn in _IMMEDIATE)
                    ):
                        value = await self._perform(effect, deadline)
                    else:
                        value = await self._bounded(effect, deadline)
                except Exception as exc:
                    error = exc
        finally:
            # On cancellation (not an Exception) the generator is closed here;
            # its I/O cleanup is the job of Guarded, run shielded.
            op.close()

    async def _bounded(self, effect: Any, deadline: _Deadline) -> Any:
        """Perform ``effect`` inside a cancel scope that ends at the deadline
        (and moves with it); what the effect does inside runs in that scope."""
        assert deadline.at is not None
        with anyio.CancelScope(
            deadline=anyio.current_time() + (deadline.at - time.monotonic())
        ) as scope:
            deadline.scope = scope
            try:
                return await self._perform(effect, deadline)
            finally:
                deadline.scope = None
        raise self._timeout_error("operation")  # only when the scope ran out

    async def _perform(self, effect: Any, deadline: _Deadline) -> Any:
        if isinstance(effect, Request):
            return await self._send(effect, deadline)
        if isinstance(effect, Call):
            fn, args, kwargs = effect.fn, effect.args, effect.kwargs
            if fn in _IMMEDIATE:
                return fn(*args, **kwargs)
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
        if isinstance(effect, Sleep):
            deadline.extend(effect.seconds)  # see SyncRunner._perform
            await anyio.sleep(effect.seconds)
            return None
        if isinstance(effect, TimeBudget):
            deadline.allow(effect.seconds)
            return None
        if isinstance(effect, Parallel):
            return await self._parallel(effect, deadline)
        if isinstance(effect, Pipe):
            return await self._pipe(effect)
        if isinstance(effect, ReadPart):
            return await self._read_part(effect)
        if isinstance(effect, Guarded):
            return await self._guarded(effect, deadline)
        if isinstance(effect, Delegate):
            return await effect.driver._async_runner._drive(effect.op, deadline)
        if isinstance(effect, Exclusive):
            gate = effect.gate
            if gate.async_lock is None:  # one loop thread: no race between check and set
                gate.async_lock = anyio.Lock()
            async with gate.async_lock:
                return await self._drive(effect.op, deadline)
        if isinstance(effect, Run):
            return await self._run_program(effect, deadline)
        if isinstance(effect, Start):
            return await anyio.to_thread.run_sync(start, effect)
        if isinstance(effect, Wait):
            return await anyio.to_thread.run_sync(
                effect.process.wait, _limit(effect.timeout, deadline), abandon_on_cancel=True
            )
        if isinstance(effect, Converse):
            return await anyio.to_thread.run_sync(
                converse, effect, deadline.clamp(self.config.timeouts.read),
                abandon_on_cancel=True,
            )
        if isinstance(effect, Emit):
            raise TypeError("Emit is only allowed in an iterator operation")
        raise TypeError(f"not an effect: {effect!r}")

    async def _send(self, request: Request, deadline: _Deadline) -> Response:
        if request.sign and self.config.refresh is not None:
            renew = self.config.refresh(time.time())
            if renew is not None:  # see SyncRunner._send
                await self._drive(renew, deadline)
        timeouts, retried = self.config.timeouts, self.config.retry.statuses
        rewind = self._rewind(request)
        self._budget_body(request, deadline)
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                rewind()
            signed = self.config.prepare(request, time.time())
            reporting = self.config.hooks.active
            if reporting:
                self.config.hooks.request(self.config.request_event(signed, attempt))
            started = time.monotonic()
            read = deadline.clamp(request.timeout or timeouts.read)
            connect = deadline.clamp(timeouts.connect)
            try:
                response = await self.transport.send(
                    signed, connect_timeout=connect, read_timeout=read
                )
            except TransportFailure as failure:
                delay = self._after_attempt(request, attempt, started, deadline, failure=failure)
            else:
                if response.status < 400 and not reporting and response.status not in retried:
                    if response.stream is not None:
                        self._streamed(request, response, deadline)
                    return response  # the common case: nothing to retry or report
                delay = self._after_attempt(request, attempt, started, deadline, response=response)
                if delay is None:
                    if response.stream is not None:
                        self._streamed(request, response, deadline)
                    return response
                if response.stream is not None:
                    await response.stream.aclose()
            assert delay is not None
            await anyio.sleep(delay)

    async def _run_program(self, effect: Run, deadline: _Deadline) -> Completed:
        handle = await anyio.to_thread.run_sync(start, effect)
        try:
            return await anyio.to_thread.run_sync(
                handle.wait, _limit(effect.timeout, deadline), abandon_on_cancel=True
            )
        except BaseException:  # out of time, or cancelled: the program stops too
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(handle.stop)
            raise

    def _resuming(self, stream: ByteStream, resume: Resume) -> ResumingStream:
        async def send(rest: Request) -> Response:
            return await self._send(rest, _Deadline(self.config.timeouts.total))

        return ResumingStream(stream, resume, tries=self.config.retry.max_attempts,
                              send_async=send, notify=self._resume_notice(resume))

    async def _parallel(self, effect: Parallel, deadline: _Deadline) -> list[Any]:
        ops = list(effect.ops)
        if not ops:
            return []
        limiter = anyio.CapacityLimiter(min(effect.limit or len(ops), len(ops)))
        results: list[Any] = [None] * len(ops)
        errors: list[BaseException] = []

        async def work(index: int, scope: anyio.CancelScope) -> None:
            async with limiter:
                if scope.cancel_called:
                    return
                try:
                    results[index] = await self._drive(ops[index], deadline)
                except Exception as exc:
                    # Cancel while still holding the slot, so no sibling starts.
                    errors.append(exc)
                    scope.cancel()

        async with anyio.create_task_group() as group:
            for index in range(len(ops)):
                group.start_soon(work, index, group.cancel_scope)
        # Sub-operations cancelled before they started must still be closed.
        for op in ops:
            op.close()
        if errors:
            raise errors[0]
        return results

    async def _pipe(self, effect: Pipe) -> int:
        # A worker-thread hop costs tens of µs and sockets deliver chunks of
        # 16-64 KiB, so chunks are written in batches of about PIPE_BATCH bytes.
        stream = as_stream(effect.source)
        written = 0
        write = effect.sink.write

        def write_all(chunks: list[bytes]) -> None:
            for chunk in chunks:
                write(chunk)

        batch: list[bytes] = []
        size = 0
        async for chunk in stream.async_chunks():
            batch.append(chunk)
            size += len(chunk)
            if size >= PIPE_BATCH:
                await anyio.to_thread.run_sync(write_all, batch)
                written += size
                batch, size = [], 0
        if batch:
            await anyio.to_thread.run_sync(write_all, batch)
            written += size
        return written

    async def _read_part(self, effect: ReadPart) -> tuple[int, PartData, bool]:
        reader = effect.reader
        if reader.lock is None:  # one loop thread: no race between check and set
            reader.lock = anyio.Lock()
        async with reader.lock:
            return await reader.read_async()

    async def _guarded(self, effect: Guarded[Any], deadline: _Deadline) -> Any:
        try:
            return await self._drive(effect.body, deadline)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                try:
                    await self._drive(effect.on_error(exc), _Deadline(None))
                except Exception:
                    log.warning(
                        "[%s] cleanup after a failed operation also failed",
                        self.config.driver_name,
                        exc_info=True,
                    )
            raise


def _loop_token() -> object:
    """An object identifying the running event loop."""
    try:  # asyncio first: asked once per request, and cheaper than asking sniffio
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    import trio  # type: ignore[import-untyped,unused-ignore]

    token: object = trio.lowlevel.current_trio_token()
    return token
