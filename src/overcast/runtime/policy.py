"""Retry policy, hooks and the per-driver runtime configuration.

These are values: the runners read them, drivers never do. The retry decision
itself is a pure function (:meth:`RetryPolicy.decide`) so both runners share it
and unit tests can check it on values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.effects import is_rewindable
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_headers
from overcast.runtime.redact import redact_url
from overcast.runtime.transports.base import DEFAULT_POOL_SIZE
from overcast.runtime.transports.base import Timeouts
from overcast.runtime.transports.base import TransportFailure

if TYPE_CHECKING:
    from logging import Logger

__all__ = [
    "RETRYABLE_STATUSES",
    "Hooks",
    "RequestEvent",
    "ResponseEvent",
    "ResumeEvent",
    "RetryDecision",
    "RetryPolicy",
    "RuntimeConfig",
    "Signer",
]

_log: Logger | None = None


def _logger() -> Logger:
    """The ``overcast.http`` logger; :mod:`logging` loads with the first request
    rather than with the runtime (a few ms of a cold start)."""
    global _log
    if _log is None:
        import logging

        _log = logging.getLogger("overcast.http")
    return _log


#: :mod:`logging`'s levels (fixed by the library), named here so the check on
#: every request needs no import.
_DEBUG: Final = 10
_WARNING: Final = 30

#: Statuses that mean "try again later" for an idempotent request.
RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: Statuses after which a non-idempotent request's outcome is unknown.
UNKNOWN_OUTCOME_STATUSES: Final = frozenset({500, 502, 503, 504})

#: Signs one attempt of a request: ``(request, unix_time) -> signed request``.
Signer = Callable[[Request, float], Request]


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after an attempt: retry after ``delay`` seconds, or stop.

    When stopping, ``outcome_unknown`` says a non-idempotent request may have
    taken effect.
    """

    retry: bool
    delay: float = 0.0
    outcome_unknown: bool = False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how often the runtime retries a request.

    Connection failures before anything was sent are retried for every request.
    Everything else (a dropped connection after sending, a timeout, a status in
    ``statuses``) is retried only for idempotent requests whose body can be
    rewound. Delays follow exponential backoff with full jitter,
    ``uniform(0, min(cap, base * 2**(attempt-1)))``, unless the server sent
    ``Retry-After`` (honoured up to ``max_retry_after``).
    """

    max_attempts: int = 5
    base: float = 0.2
    cap: float = 20.0
    statuses: frozenset[int] = RETRYABLE_STATUSES
    max_retry_after: float = 120.0

    def backoff(self, attempt: int, rng: Callable[[], float] | None = None) -> float:
        """The jittered delay before attempt ``attempt + 1`` (``rng``, by
        default ``random.random``, draws the jitter)."""
        if rng is None:
            import random  # here: a first retry is the first to need it

            rng = random.random
        return float(rng() * min(self.cap, self.base * (2 ** (attempt - 1))))

    def decide(self, request: Request, attempt: int, *, response: Response | None = None,
               failure: TransportFailure | None = None, throttled: bool = False,
               rng: Callable[[], float] | None = None) -> RetryDecision:
        """Decide after attempt number ``attempt`` (1-based) of ``request``.

        ``throttled`` says the provider refused the request for its rate (a
        429, or a provider-specific answer such as Route 53's 400 ``Throttling``,
        recognised by the driver's ``_is_throttled`` hook): nothing was done, so
        it is retried whatever its method, when the body can be rewound.
        """
        replayable = request.is_idempotent and is_rewindable(request.body)
        more = attempt < self.max_attempts
        if failure is not None:
            if not failure.sent:
                retry = more and is_rewindable(request.body)
                return RetryDecision(retry, self.backoff(attempt, rng))
            if replayable:
                return RetryDecision(more, self.backoff(attempt, rng))
            return RetryDecision(False, outcome_unknown=not request.is_idempotent)
        assert response is not None
        if throttled:
            if not (more and is_rewindable(request.body)):
                return RetryDecision(False)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return RetryDecision(retry_after <= self.max_retry_after, retry_after)
            return RetryDecision(True, self.backoff(attempt, rng))
        if response.status not in self.statuses:
            return RetryDecision(False)
        if not replayable:
            unknown = (not request.is_idempotent) and response.status in UNKNOWN_OUTCOME_STATUSES
            return RetryDecision(False, outcome_unknown=unknown)
        if not more:
            return RetryDecision(False)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            return RetryDecision(retry_after <= self.max_retry_after, retry_after)
        return RetryDecision(True, self.backoff(attempt, rng))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime  # not at import: slow

        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """An attempt about to be sent. URL and headers are already redacted."""

    driver: str
    method: str
    url: str
    headers: Mapping[str, str]
    attempt: int


@dataclass(frozen=True, slots=True)
class ResumeEvent:
    """A streamed body broke after ``received`` bytes and the rest is asked for
    (:mod:`overcast.runtime.resume`); ``error`` says how it broke."""

    driver: str
    method: str
    url: str
    received: int
    error: str


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """An attempt finished: ``status`` if a response came, else ``error``."""

    driver: str
    method: str
    url: str
    attempt: int
    elapsed: float
    status: int | None = None
    error: str | None = None
    will_retry: bool = False


@dataclass(slots=True)
class Hooks:
    """Callbacks for request, response and resumption events (logging, metrics,
    tracing).

    A hook must not raise; if it does, the error is logged and ignored.
    """

    on_request: list[Callable[[RequestEvent], None]] = field(default_factory=list)
    on_response: list[Callable[[ResponseEvent], None]] = field(default_factory=list)
    on_resume: list[Callable[[ResumeEvent], None]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Whether any hook or DEBUG logging would see an event (events are built,
        and redacted, only then)."""
        return bool(self.on_request or self.on_response) or _logger().isEnabledFor(_DEBUG)

    def request(self, event: RequestEvent) -> None:
        """Tell every request hook, and log at DEBUG."""
        log = _logger()
        if log.isEnabledFor(_DEBUG):
            log.debug(
                "[%s] -> %s %s attempt=%d headers=%s",
                event.driver, event.method, event.url, event.attempt, dict(event.headers),
            )
        for hook in self.on_request:
            _call_hook(hook, event)

    def response(self, event: ResponseEvent) -> None:
        """Tell every response hook, and log at DEBUG (or WARNING for a retry)."""
        level = _WARNING if event.will_retry else _DEBUG
        log = _logger()
        if log.isEnabledFor(level):
            log.log(
                level,
                "[%s] <- %s %s attempt=%d status=%s error=%s %.1fms%s",
                event.driver, event.method, event.url, event.attempt, event.status,
                event.error, event.elapsed * 1000, " (will retry)" if event.will_retry else "",
            )
        for hook in self.on_response:
            _call_hook(hook, event)

    def resume(self, event: ResumeEvent) -> None:
        """Tell every resumption hook, and log at WARNING."""
        _logger().warning("[%s] %s %s broke after %d bytes (%s): asking for the rest",
                    event.driver, event.method, event.url, event.received, event.error)
        for hook in self.on_resume:
            _call_hook(hook, event)


def _call_hook(hook: Callable[[Any], None], event: object) -> None:
    try:
        hook(event)
    except Exception:  # a broken hook must not break requests
        _logger().exception("overcast hook %r failed", hook)


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """Everything a runner needs from its driver, fixed at construction.

    ``pool_size`` is the number of connections per host, which is also the cap
    on concurrent requests to one host shared by nested parallel batches.
    ``secrets`` are the credential values to scrub from any text that leaves
    the runtime.
    """

    driver_name: str
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    hooks: Hooks = field(default_factory=Hooks)
    signer: Signer | None = None
    #: Whether a response means "throttled" beyond a 429 (the driver's hook).
    throttled: Callable[[Response], bool] | None = None
    user_agent: str = "overcast"
    pool_size: int = DEFAULT_POOL_SIZE
    verify: bool | str = True
    secrets: tuple[Secret, ...] = ()
    #: A UNIX socket every request is sent over (the URL then names only the
    #: path and the Host header): a local engine's API, such as Docker's.
    unix_socket: str | None = None
    #: A TLS client certificate: a PEM file holding the certificate and its
    #: key, or ``(certificate file, key file)``.
    client_cert: str | tuple[str, str] | None = None
    #: A forward proxy for every request (``http://host:port``), instead of the
    #: one ``HTTPS_PROXY``/``HTTP_PROXY`` name; ``NO_PROXY`` still bypasses it.
    proxy: str | None = None
    #: Called before a signed request with the time: ``None`` when the signer's
    #: credentials are fresh, else an operation that renews them (temporary
    #: credentials), run before the request's first attempt.
    refresh: Callable[[float], Generator[Any, Any, None] | None] | None = None

    def is_throttled(self, response: Response) -> bool:
        """A 429, or what the driver's hook recognises as throttling."""
        if response.status == 429:
            return True
        return self.throttled is not None and response.status >= 400 and self.throttled(response)

    def prepare(self, request: Request, now: float) -> Request:
        """Sign one attempt (the transport adds ``user_agent`` to every request
        that names none: a client-wide default, not a per-request copy)."""
        if request.sign and self.signer is not None:
            request = self.signer(request, now)
        return request

    def request_event(self, request: Request, attempt: int) -> RequestEvent:
        """The redacted event for one attempt."""
        return RequestEvent(
            self.driver_name,
            request.method,
            redact_url(request.full_url),
            redact_headers(request.headers),
            attempt,
        )
