"""How the runners perform effects: the total budget (``Timeouts.total``),
and reading a clock.

* An iterator's budget applies to each item: the time its consumer spends
  between items is not charged to the work that fetches the next ones (the
  runner's clock is replaced by one the test moves, so nothing waits).
* The async runner sends a request without a cancel scope (its timeouts are
  cut to the deadline, as in the sync runner) and runs every other effect in
  one that ends at the deadline: a sub-operation that waits for ever is cut.
* The async runner reads a clock (``Call(time.time)``, ``Call(time.monotonic)``)
  in place, not in a worker thread: concurrent tasks read it in the order they
  ask, and a shared fetch relies on that order.
"""

from __future__ import annotations

import time
import types
from typing import Any

import anyio
import anyio.to_thread
import pytest

from overcast.errors import OperationTimeout
from overcast.runtime import runner as runner_module
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Headers
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.policy import RuntimeConfig
from overcast.runtime.runner import AsyncRunner
from overcast.runtime.runner import SyncRunner
from overcast.runtime.transports.base import AsyncTransport
from overcast.runtime.transports.base import SyncTransport
from overcast.runtime.transports.base import Timeouts
from overcast.testing import MODES

TOTAL = 10.0
#: How long the consumer dwells on each item: far longer than the whole budget.
DWELL = 50.0


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(runner_module, "time", types.SimpleNamespace(
        monotonic=fake.monotonic, time=time.time, sleep=time.sleep))
    return fake


def pages(count: int) -> Iter[int]:
    """An iterator operation: ``count`` pages of one item, a request per page."""
    for number in range(count):
        yield Request("GET", f"http://budget.test/page/{number}")
        yield Emit(number)


def _answer(request: Request) -> Response:
    return Response(200, Headers([]), b"", None, request.url, request.method)


@pytest.mark.parametrize("mode", MODES)
def test_each_page_after_an_item_gets_the_whole_budget(mode: str, clock: Clock) -> None:
    read_timeouts: list[float] = []

    class Recording(SyncTransport):
        def send(self, request: Request, *, connect_timeout: float,
                 read_timeout: float) -> Response:
            read_timeouts.append(read_timeout)
            return _answer(request)

        def close(self) -> None:
            pass

    class AsyncRecording(AsyncTransport):
        async def send(self, request: Request, *, connect_timeout: float,
                       read_timeout: float) -> Response:
            read_timeouts.append(read_timeout)
            return _answer(request)

        async def aclose(self) -> None:
            pass

    config = RuntimeConfig("budget-test", timeouts=Timeouts(total=TOTAL))
    items: list[Any] = []
    if mode == "sync":
        for item in SyncRunner(config, Recording).iterate(pages(3)):
            items.append(item)
            clock.now += DWELL
    else:
        async def main() -> None:
            async for item in AsyncRunner(config, AsyncRecording).iterate(pages(3)):
                items.append(item)
                clock.now += DWELL

        anyio.run(main)
    assert items == [0, 1, 2]
    # Every page's request may wait the whole budget, however long the
    # consumer dwelt on the item before it.
    assert read_timeouts == [TOTAL, TOTAL, TOTAL]


def test_a_sub_operation_that_hangs_is_cut_at_the_deadline() -> None:
    """A transport that ignores its timeouts and never answers, reached through
    ``Parallel``: the cancel scope the effect runs in ends it at the deadline."""
    sent: list[str] = []

    class Hanging(AsyncTransport):
        async def send(self, request: Request, *, connect_timeout: float,
                       read_timeout: float) -> Response:
            sent.append(request.url)
            await anyio.Event().wait()  # nothing ever sets it
            raise AssertionError("unreachable")

        async def aclose(self) -> None:
            pass

    def fetch() -> Op[Response]:
        response: Response = yield Request("GET", "http://budget.test/never")
        return response

    def both() -> Op[list[Any]]:
        results: list[Any] = yield Parallel([fetch(), fetch()])
        return results

    config = RuntimeConfig("budget-test", timeouts=Timeouts(total=0.2))

    async def main() -> None:
        with pytest.raises(OperationTimeout):
            await AsyncRunner(config, Hanging).run(both())

    anyio.run(main)
    assert sent == ["http://budget.test/never"] * 2


def test_the_async_runner_reads_a_clock_without_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a clock was read in a worker thread")

    monkeypatch.setattr(anyio.to_thread, "run_sync", no_thread)

    def stamps() -> Op[tuple[float, float]]:
        wall: float = yield Call(time.time)
        steady: float = yield Call(time.monotonic)
        return wall, steady

    async def main() -> tuple[float, float]:
        runner = AsyncRunner(RuntimeConfig("clock-test"), _no_transport)
        return await runner.run(stamps())

    wall, steady = anyio.run(main)
    assert abs(wall - time.time()) < 3600 and steady <= time.monotonic()


def _no_transport() -> AsyncTransport:
    raise AssertionError("this operation sends no request")
