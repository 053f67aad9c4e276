"""upload_in_parts with ``resume``: an unfinished upload the target lists is
continued, parts it holds with the same size and content are not sent again,
others are; a failure keeps the parts (no abort); without ``resume`` nothing
is listed and a failure aborts."""

from __future__ import annotations

import hashlib
import os
from typing import Any
from typing import ClassVar

import anyio
import pytest

from overcast.driver import BaseDriver
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import PartData
from overcast.runtime.streams import IterStream
from overcast.storage.transfer import OpenUpload
from overcast.storage.transfer import PartPlan
from overcast.storage.transfer import upload_in_parts

KiB = 1024
PLAN = PartPlan(threshold=64 * KiB, part_size=32 * KiB, concurrency=3)


class Runner(BaseDriver):
    name: ClassVar[str] = "resume-test"


def run(mode: str, op: Op[Any]) -> Any:
    driver = Runner()
    if mode == "sync":
        return driver._sync_runner.run(op)
    return anyio.run(driver._async_runner.run, op)


class Store:
    """A multipart API that lists unfinished uploads, in memory."""

    def __init__(self) -> None:
        self.staged: dict[str, dict[int, bytes]] = {}
        self.objects: dict[str, bytes] = {}
        self.sent: list[int] = []
        self.listed = 0
        self.aborted: list[str] = []
        self.fail_part: int | None = None

    def target(self) -> Any:
        store = self

        class Target:
            def put_whole(self, data: PartData) -> Op[str]:
                yield Call(store.objects.__setitem__, "o", bytes(data))
                return "whole"

            def begin(self) -> Op[str]:
                upload = f"up-{len(store.staged)}"
                yield Call(store.staged.__setitem__, upload, {})
                return upload

            def put_part(self, upload_id: str, number: int, data: PartData,
                         last: bool) -> Op[str]:
                if number == store.fail_part:
                    raise RuntimeError(f"part {number} failed")
                yield Call(store.sent.append, number)
                store.staged[upload_id][number] = bytes(data)
                return hashlib.md5(data, usedforsecurity=False).hexdigest()

            def finish(self, upload_id: str, parts: list[tuple[int, str]]) -> Op[str]:
                staged = store.staged.pop(upload_id)
                yield Call(store.objects.__setitem__, "o", b"".join(staged[n] for n, _ in parts))
                return upload_id

            def abort(self, upload_id: str) -> Op[None]:
                yield Call(store.aborted.append, upload_id)
                store.staged.pop(upload_id, None)

            def find_open(self) -> Op[OpenUpload | None]:
                yield Call(setattr, store, "listed", store.listed + 1)
                if not store.staged:
                    return None
                upload_id = sorted(store.staged)[-1]
                return OpenUpload(upload_id, {
                    n: (len(b), hashlib.md5(b, usedforsecurity=False).hexdigest())
                    for n, b in store.staged[upload_id].items()})

            def reuse_part(self, upload_id: str, number: int, data: PartData,
                           listed: tuple[int, str]) -> Op[str | None]:
                digest: str = yield Call(
                    lambda: hashlib.md5(data, usedforsecurity=False).hexdigest())
                return listed[1] if digest == listed[1] else None

        return Target()


def _stream(data: bytes) -> IterStream:
    return IterStream([data[i:i + 7000] for i in range(0, len(data), 7000)])


def test_resume_keeps_parts_on_failure_then_sends_only_the_rest(mode: str) -> None:
    store = Store()
    data = os.urandom(10 * 32 * KiB)  # ten parts
    store.fail_part = 7
    with pytest.raises(RuntimeError, match="part 7 failed"):
        run(mode, upload_in_parts(store.target(), _stream(data), size=len(data), plan=PLAN,
                                  resume=True))
    assert store.aborted == [] and store.staged  # kept for the next try
    held = set(store.staged["up-0"])
    assert 7 not in held and held
    store.fail_part = None
    store.sent.clear()
    result = run(mode, upload_in_parts(store.target(), _stream(data), size=len(data),
                                       plan=PLAN, resume=True))
    assert result == "up-0"  # the same upload, continued
    assert sorted(store.sent) == sorted(set(range(1, 11)) - held)
    assert store.objects["o"] == data


def test_a_part_holding_other_bytes_is_sent_again(mode: str) -> None:
    store = Store()
    old = os.urandom(4 * 32 * KiB)
    store.staged["up-0"] = {n: old[(n - 1) * 32 * KiB:n * 32 * KiB] for n in (1, 2, 3)}
    new = old[:32 * KiB] + os.urandom(32 * KiB) + old[64 * KiB:]
    run(mode, upload_in_parts(store.target(), _stream(new), size=len(new), plan=PLAN,
                              resume=True))
    assert sorted(store.sent) == [2, 4]  # 1 and 3 held the same bytes
    assert store.objects["o"] == new


def test_without_resume_nothing_is_listed_and_a_failure_aborts(mode: str) -> None:
    store = Store()
    data = os.urandom(4 * 32 * KiB)
    store.fail_part = 3
    with pytest.raises(RuntimeError):
        run(mode, upload_in_parts(store.target(), _stream(data), size=len(data), plan=PLAN))
    assert store.aborted == ["up-0"] and store.listed == 0


def test_small_objects_are_not_listed(mode: str) -> None:
    store = Store()
    run(mode, upload_in_parts(store.target(), _stream(b"x" * 100), size=100, plan=PLAN,
                              resume=True))
    assert store.listed == 0 and store.objects["o"] == b"x" * 100
