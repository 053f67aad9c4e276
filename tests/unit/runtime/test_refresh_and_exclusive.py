"""The runtime's ``refresh`` hook (credentials renewed by an operation before a
signed request) and the ``Exclusive`` effect (a sub-operation run by one
caller at a time): many concurrent requests that find the credentials stale
fetch them once, sync (threads) and async (tasks)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from typing import ClassVar

import anyio
import pytest

from overcast.driver import BaseDriver
from overcast.runtime.effects import Exclusive
from overcast.runtime.effects import Gate
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import operation
from overcast.testing import Script

API = "https://api.example.test"


class _TokenDriver(BaseDriver):
    """Signs with a token that an operation fetches from /token (unsigned)."""

    name: ClassVar[str] = "token-test"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.token: str | None = None
        self.gate = Gate()

    def _refresh(self, now: float) -> Op[None] | None:
        return None if self.token is not None else self._renew()

    def _renew(self) -> Op[None]:
        yield Exclusive(self.gate, self._renew_once())

    def _renew_once(self) -> Op[None]:
        if self.token is not None:  # another caller renewed it while this one waited
            return
        resp: Response = yield Request("POST", f"{API}/token", sign=False)
        self.token = resp.text

    def _sign(self, request: Request, now: float) -> Request:
        assert self.token is not None, "signed before the refresh ran"
        return request.with_headers({"Authorization": f"Bearer {self.token}"})

    @operation
    def get(self, path: str) -> Op[int]:
        """One signed GET; its status."""
        resp: Response = yield Request("GET", f"{API}{path}")
        return resp.status

    @operation
    def get_many(self, count: int) -> Op[list[int]]:
        """``count`` signed GETs at once."""
        results: list[int] = yield Parallel([self.get.op(f"/{i}") for i in range(count)], count)
        return results


def _script(count: int) -> Script:
    script = Script(any_order=True)
    script.expect("POST", f"{API}/token").reply(200, text="t-1")
    for i in range(count):
        script.expect("GET", f"{API}/{i}", headers={"Authorization": "Bearer t-1"}).reply(200)
    return script


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_fifty_concurrent_async_requests_fetch_once(backend: str) -> None:
    script = _script(50)
    driver = _TokenDriver(**script.options())

    async def main() -> list[int]:
        results: list[int] = []
        async with anyio.create_task_group() as tasks:
            for i in range(50):
                async def one(i: int = i) -> None:
                    results.append(await driver.aio.get(f"/{i}"))
                tasks.start_soon(one)
        return results

    assert anyio.run(main, backend=backend) == [200] * 50
    script.assert_done()
    assert [s.path for s in script.received].count("/token") == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_parallel_batch_fetches_once(mode: str) -> None:
    script = _script(20)
    driver = _TokenDriver(**script.options())
    if mode == "sync":
        assert driver.get_many(20) == [200] * 20
    else:
        assert anyio.run(driver.aio.get_many, 20) == [200] * 20
    script.assert_done()


def test_threads_fetch_once() -> None:
    script = _script(16)
    driver = _TokenDriver(**script.options())
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda i: driver.get(f"/{i}"), range(16))) == [200] * 16
    script.assert_done()


def test_unsigned_requests_do_not_refresh() -> None:
    script = Script()
    script.expect("GET", f"{API}/public").reply(204)
    driver = _TokenDriver(**script.options())
    runner = driver._sync_runner
    assert runner.run(_unsigned()).status == 204
    script.assert_done()
    assert driver.token is None


def _unsigned() -> Op[Response]:
    resp: Response = yield Request("GET", f"{API}/public", sign=False)
    return resp


def test_a_driver_without_the_hook_has_none() -> None:
    assert BaseDriver()._config().refresh is None
    assert _TokenDriver()._config().refresh is not None


def test_companions_are_closed_with_their_driver() -> None:
    closed: list[str] = []

    class _Companion(BaseDriver):
        def close(self) -> None:
            closed.append("sync")

    class _View:
        async def aclose(self) -> None:
            closed.append("async")

    driver = _TokenDriver()
    companion = _Companion()
    companion.aio = _View()  # type: ignore[assignment]
    driver._adopt(companion)
    driver.close()

    async def main() -> None:
        await driver.aio.aclose()

    anyio.run(main)
    assert closed == ["sync", "async"]
