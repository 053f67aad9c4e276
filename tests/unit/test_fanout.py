"""Fan-out across many drivers: concurrency, order, and failures kept apart."""

from __future__ import annotations

import threading
from typing import ClassVar

import anyio
import pytest

from overcast.compute import list_nodes_everywhere
from overcast.compute import list_nodes_everywhere_async
from overcast.compute.base import Node
from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeState
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.fanout import fan_out
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Sleep
from overcast.runtime.operation import iterator


class Region(NodeDriver):
    """A region that answers after a pause, or fails."""

    name: ClassVar[str] = "region"
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self, region: str, nodes: int, *, fail: bool = False) -> None:
        super().__init__()
        self.region, self.count, self.fail = region, nodes, fail

    @classmethod
    def _enter(cls) -> None:
        with cls.lock:
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)

    @classmethod
    def _leave(cls) -> None:
        with cls.lock:
            cls.in_flight -= 1

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        yield Call(self._enter)
        try:
            yield Sleep(0.1)
            if self.fail:
                raise InvalidCredentials(f"{self.region}: bad key", driver=self)
            for i in range(self.count):
                yield Emit(Node(f"{self.region}-{i}", f"n{i}", NodeState.RUNNING, [], [], self))
        finally:
            self._leave()


def test_sync_fan_out_is_concurrent_ordered_and_keeps_errors_apart() -> None:
    Region.peak = 0
    drivers = [Region(f"r{i}", 3) for i in range(8)] + [Region("bad", 1, fail=True)]
    result = list_nodes_everywhere(drivers)
    assert Region.peak > 1  # regions were asked at the same time
    assert [d.region for d, _ in result.results] == [f"r{i}" for i in range(8)]
    assert len(result.flat()) == 24
    [(driver, error)] = result.errors
    assert driver.region == "bad" and isinstance(error, InvalidCredentials)
    with pytest.raises(InvalidCredentials):
        result.raise_errors()


def test_async_fan_out_on_one_loop() -> None:
    Region.peak = 0
    drivers = [Region(f"r{i}", 2) for i in range(6)]
    result = anyio.run(list_nodes_everywhere_async, drivers)
    assert [n.id for n in result.flat()][:2] == ["r0-0", "r0-1"] and len(result.flat()) == 12
    assert Region.peak > 1


def test_concurrency_limit_and_bad_input() -> None:
    Region.peak = 0
    list_nodes_everywhere([Region(f"r{i}", 1) for i in range(6)], concurrency=2)
    assert Region.peak <= 2
    with pytest.raises(InvalidInput):
        fan_out([Region("r", 1)], "list_nodes", concurrency=0)
    with pytest.raises(InvalidInput):
        fan_out([Region("r", 1)], "create_volume")
