"""What the soaks share: counting what overcast's runtime saw, running many calls at
once in either mode, checking that every fault was accounted for, and reporting.

A soak reports one line of figures (printed, and appended as JSON to the file
named by ``OVERCAST_SOAK_FIGURES`` when it is set), which is where the table
in ``bench/README.md`` comes from.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from typing import TypeVar

import anyio

from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from overcast.runtime.policy import ResponseEvent
from overcast.runtime.policy import ResumeEvent
from servers.faultproxy import Figures

__all__ = ["SEED", "Tally", "check_accounts", "each", "report"]

T = TypeVar("T")

#: The seed of every soak's fault draws; ``OVERCAST_SOAK_SEED`` picks another.
SEED = int(os.environ.get("OVERCAST_SOAK_SEED", "1212"))


class Tally:
    """Counts what a driver's runtime reports through its hooks (thread-safe).

    ``attempts``: requests sent (every attempt of every request). ``retries``:
    attempts followed by another (``ResponseEvent.will_retry``), by cause.
    ``unknown``: attempts that failed (no answer, or a 5xx) and were *not*
    retried: the runtime raised :class:`~overcast.errors.OutcomeUnknown`, so
    in a soak whose every operation succeeded, each is an unknown outcome a
    driver settled by looking the resource up. ``resumed``: streamed bodies a
    fault broke whose rest the runtime asked for (:mod:`overcast.runtime.resume`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts = 0
        self.retries = 0
        self.unknown = 0
        #: Attempts answered with a 5xx, and attempts that got no (whole) answer,
        #: whether retried or not.
        self.answered_5xx = 0
        self.unanswered = 0
        self.resumed = 0
        self.causes: Counter[str] = Counter()
        #: The attempts counted in ``unknown``: method, URL and what went wrong.
        self.unknown_attempts: list[str] = []

    def hooks(self) -> Hooks:
        """Hooks that feed this tally."""
        return Hooks(on_request=[self._request], on_response=[self._response],
                     on_resume=[self._resume])

    def _request(self, event: RequestEvent) -> None:
        with self._lock:
            self.attempts += 1

    def _resume(self, event: ResumeEvent) -> None:
        with self._lock:
            self.resumed += 1

    def _response(self, event: ResponseEvent) -> None:
        failed = event.error is not None or (event.status or 0) >= 500
        with self._lock:
            if event.error is not None:
                self.unanswered += 1
            elif (event.status or 0) >= 500:
                self.answered_5xx += 1
            if event.will_retry:
                self.retries += 1
                self.causes[str(event.status) if event.status else "no answer"] += 1
            elif failed:
                self.unknown += 1
                cause = f"status {event.status}" if event.status else event.error
                self.unknown_attempts.append(f"{event.method} {event.url}: {cause}")


def each(mode: str, driver: Any, name: str, items: Sequence[T],
         args: Callable[[T], tuple[Any, ...]], *, workers: int,
         keywords: Mapping[str, Any] | None = None) -> list[Any]:
    """``driver.<name>(*args(item), **keywords)`` for every item, ``workers`` at a time:
    threads calling the sync face, or tasks awaiting the async face on one
    event loop (whose connection pool is closed at the end). ``args`` is called
    as each call starts, so the arguments of all the calls are never in memory
    at once. Results come in the order of ``items``; the first error ends the
    run."""
    options = dict(keywords or {})
    if mode == "sync":
        operation = getattr(driver, name)
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda item: operation(*args(item), **options), items))

    async def main() -> list[Any]:
        results: list[Any] = [None] * len(items)
        limiter = anyio.CapacityLimiter(workers)
        async with driver.aio as view:
            operation = getattr(view, name)

            async def one(index: int) -> None:
                async with limiter:
                    results[index] = await operation(*args(items[index]), **options)

            async with anyio.create_task_group() as group:
                for index in range(len(items)):
                    group.start_soon(one, index)
        return results

    return anyio.run(main)


def check_accounts(proxy: Figures, tally: Tally) -> int:
    """Check that every fault the client had to notice was noticed, and return
    how many requests the transport resent on its own.

    Each injected fault but a delay (and each 5xx the server gave by itself)
    ends exactly one attempt badly: the runtime retries it, or settles an
    unknown outcome, or resumes a streamed body it broke, or (an idempotent
    request only: libcurl resends a request on a fresh connection when a
    reused one died before answering a byte) the transport resends it before
    the runtime sees anything, which shows as a request the proxy got but no
    attempt the runtime made. Both modes run on libcurl (the async runner
    through its multi interface) with one configuration, in which a request
    that is not idempotent always gets a fresh connection, which libcurl never
    resends on; so resends may show in either mode.
    """
    assert proxy.upstream_errors == 0, f"the server failed where no fault was planned: {proxy}"
    hidden = proxy.requests - tally.attempts
    assert hidden >= 0, f"the runtime counted {tally.attempts} attempts, the proxy {proxy}"
    noticed = tally.retries + tally.unknown + tally.resumed + hidden
    assert proxy.failures + proxy.server_errors == noticed, (
        f"{proxy.failures} faults and {proxy.server_errors} server errors, but "
        f"{tally.retries} retries + {tally.unknown} unknown outcomes + {tally.resumed} "
        f"resumed bodies + {hidden} resends"
    )
    # By kind: every 503 the proxy made up (and 5xx the server gave) was seen as
    # such, and every broken answer as no answer, a broken body resumed, or
    # resent unseen.
    assert tally.answered_5xx == proxy.injected["unavailable"] + proxy.server_errors, (
        f"{tally.answered_5xx} attempts answered 5xx; {proxy}"
    )
    broken = tally.unanswered + tally.resumed + hidden
    assert broken == proxy.failures - proxy.injected["unavailable"], (
        f"{tally.unanswered} attempts without an answer, {tally.resumed} resumed bodies, "
        f"{hidden} resends; {proxy}"
    )
    return hidden


def report(soak: str, mode: str, started: float, proxy: Figures, tally: Tally,
           **figures: Any) -> dict[str, Any]:
    """Print one soak's figures on one line (and append them as JSON to
    ``$OVERCAST_SOAK_FIGURES``); returns them."""
    line: dict[str, Any] = {
        "soak": soak,
        "mode": mode,
        "seed": SEED,
        **figures,
        "requests": proxy.requests,
        "attempts": tally.attempts,
        "injected": {kind: n for kind, n in proxy.injected.items() if n},
        "spared": {kind: n for kind, n in proxy.spared.items() if n},
        "server_errors": proxy.server_errors,
        "retries": tally.retries,
        "retry_causes": dict(tally.causes),
        "unknown_outcomes": tally.unknown,
        "unknown_attempts": tally.unknown_attempts,
        "resumed_bodies": tally.resumed,
        "resent_by_transport": proxy.requests - tally.attempts,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(f"\nsoak figures: {json.dumps(line)}")
    target = os.environ.get("OVERCAST_SOAK_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
    return line
