"""The transfer manager on an in-memory provider: parts, order, limits, aborts."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest

from overcast.driver import BaseDriver
from overcast.errors import IntegrityError
from overcast.runtime.effects import ByteStream, Call, IterStream, Op, Sleep
from overcast.storage.transfer import PartPlan, download_in_ranges, upload_in_parts

KiB = 1024


class Store:
    """A provider's multipart API, in memory, counting what happens."""

    def __init__(self, fail_part: int | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.staged: dict[str, dict[int, bytes]] = {}
        self.aborted: list[str] = []
        self.lasts: list[int] = []
        self.fail_part = fail_part
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()

    def target(self, name: str) -> Any:
        store = self

        class Target:
            def put_whole(self, data: bytes) -> Op[str]:
                yield Call(store.objects.__setitem__, name, data)
                return "whole"

            def begin(self) -> Op[str]:
                upload = f"up-{len(store.staged)}"
                yield Call(store.staged.__setitem__, upload, {})
                return upload

            def put_part(self, upload_id: str, number: int, data: bytes, last: bool) -> Op[str]:
                yield Call(store.enter)
                try:
                    if number == store.fail_part:
                        raise RuntimeError(f"part {number} failed")
                    yield Sleep(0.01)  # a network round trip, so parts overlap
                    yield Call(store.staged[upload_id].__setitem__, number, data)
                    if last:
                        store.lasts.append(number)
                finally:
                    yield Call(store.leave)
                return f"etag-{number}"

            def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[str]:
                assert [n for n, _ in parts] == list(range(1, len(parts) + 1))
                staged = store.staged.pop(upload_id)
                yield Call(store.objects.__setitem__, name, b"".join(staged[n] for n, _ in parts))
                return "parts"

            def abort(self, upload_id: str) -> Op[None]:
                yield Call(store.aborted.append, upload_id)
                store.staged.pop(upload_id, None)

        return Target()

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


class Runner(BaseDriver):
    name: ClassVar[str] = "transfer-test"


PLAN = PartPlan(threshold=64 * KiB, part_size=32 * KiB, concurrency=3)


def run(mode: str, op: Op[Any]) -> Any:
    driver = Runner()
    if mode == "sync":
        return driver._sync_runner.run(op)
    return anyio.run(driver._async_runner.run, op)


def chunks(data: bytes, size: int = 7000) -> IterStream:
    return IterStream([data[i : i + size] for i in range(0, len(data), size)])


def test_small_objects_go_in_one_request(mode: str) -> None:
    store = Store()
    data = os.urandom(10 * KiB)
    op = upload_in_parts(store.target("o"), chunks(data), size=None, plan=PLAN)
    assert run(mode, op) == "whole"
    assert store.objects["o"] == data and not store.staged


def test_empty_object(mode: str) -> None:
    store = Store()
    run(mode, upload_in_parts(store.target("e"), IterStream([]), size=None, plan=PLAN))
    assert store.objects["e"] == b""


def test_large_stream_goes_in_parallel_parts(mode: str) -> None:
    store = Store()
    data = os.urandom(1000 * KiB + 123)
    result = run(mode, upload_in_parts(store.target("big"), chunks(data), size=None, plan=PLAN))
    assert result == "parts" and store.objects["big"] == data
    assert 1 < store.peak <= PLAN.concurrency  # overlapped, within the limit


def test_failed_part_aborts_and_keeps_nothing(mode: str) -> None:
    store = Store(fail_part=5)
    data = os.urandom(600 * KiB)
    with pytest.raises(RuntimeError, match="part 5 failed"):
        run(mode, upload_in_parts(store.target("x"), chunks(data), size=None, plan=PLAN))
    assert store.aborted == ["up-0"] and "x" not in store.objects and not store.staged


def test_failing_source_aborts(mode: str) -> None:
    store = Store()

    def source() -> Any:
        yield os.urandom(200 * KiB)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        run(mode, upload_in_parts(store.target("y"), IterStream(source()), size=None, plan=PLAN))
    assert store.aborted and "y" not in store.objects


def test_sequential_plan_marks_the_last_part(mode: str) -> None:
    store = Store()
    plan = PartPlan(threshold=0, part_size=32 * KiB, alignment=8 * KiB, sequential=True)
    data = os.urandom(100 * KiB)
    run(mode, upload_in_parts(store.target("s"), chunks(data), size=None, plan=plan))
    assert store.objects["s"] == data and store.lasts == [4] and store.peak == 1


def test_part_sizes_grow_to_stay_within_the_part_limit() -> None:
    plan = PartPlan()
    assert plan.size_of(1, 10 * 1024**4) * plan.max_parts >= 10 * 1024**4  # 10 TiB known
    assert plan.size_of(1, None) == plan.part_size
    assert plan.size_of(1001, None) == 2 * plan.part_size
    covered = sum(plan.size_of(n, None) for n in range(1, plan.max_parts + 1))
    assert covered > 5 * 1024**4  # S3's largest object fits in a stream of unknown size
    assert PartPlan(alignment=256 * KiB, part_size=300 * KiB).size_of(1, None) == 512 * KiB


def test_download_in_ranges_checks_and_cleans_up(mode: str, tmp_path: Path) -> None:
    import hashlib

    data = os.urandom(300 * KiB + 5)

    def fetch(start: int, end: int) -> Op[ByteStream]:
        yield Call(len, "")
        return IterStream([data[start:end]])

    target = tmp_path / "out.bin"
    good = ("md5", hashlib.md5(data).hexdigest())
    assert run(mode, download_in_ranges(fetch, len(data), target, overwrite=False,
                                        part_size=64 * KiB, checksum=good))
    assert target.read_bytes() == data
    bad = tmp_path / "bad.bin"
    with pytest.raises(IntegrityError):
        run(mode, download_in_ranges(fetch, len(data), bad, overwrite=False,
                                     part_size=64 * KiB, checksum=("md5", "0" * 32)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
