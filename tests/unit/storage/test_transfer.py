"""The transfer manager on an in-memory provider: parts, order, limits, aborts."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any
from typing import ClassVar

import anyio
import pytest

from overcast.driver import BaseDriver
from overcast.errors import IntegrityError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import PartData
from overcast.runtime.effects import Sleep
from overcast.runtime.parts import PartReader
from overcast.runtime.streams import ByteStream
from overcast.runtime.streams import FileStream
from overcast.runtime.streams import IterStream
from overcast.storage.checks import SizeCheck
from overcast.storage.transfer import PartPlan
from overcast.storage.transfer import download_in_ranges
from overcast.storage.transfer import upload_in_parts

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
            def put_whole(self, data: PartData) -> Op[str]:
                yield Call(store.objects.__setitem__, name, bytes(data))
                return "whole"

            def begin(self) -> Op[str]:
                upload = f"up-{len(store.staged)}"
                yield Call(store.staged.__setitem__, upload, {})
                return upload

            def put_part(
                self, upload_id: str, number: int, data: PartData, last: bool
            ) -> Op[str]:
                yield Call(store.enter)
                try:
                    if number == store.fail_part:
                        raise RuntimeError(f"part {number} failed")
                    yield Sleep(0.01)  # a network round trip, so parts overlap
                    # The contract: a part is a view that may be reused once sent.
                    yield Call(store.staged[upload_id].__setitem__, number, bytes(data))
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


# -- the part reader ---------------------------------------------------------------------


def read_all(reader: PartReader, recycle: bool = True) -> list[tuple[int, bytes, bool, Any]]:
    """Every part as (number, bytes, last, the object its view is over)."""
    parts = []
    while True:
        number, data, last = reader.read_sync()
        if not data and number > 1:
            return parts
        owner = data.obj if isinstance(data, memoryview) else data
        parts.append((number, bytes(data), last, owner))
        if recycle:
            reader.recycle(data)
        if last:
            return parts


def test_part_reader_cuts_exact_parts_and_marks_the_last() -> None:
    data = os.urandom(100 * KiB + 5)
    parts = read_all(PartReader(chunks(data, 3000), lambda n: 32 * KiB))
    assert [len(p[1]) for p in parts] == [32 * KiB] * 3 + [4 * KiB + 5]
    assert [p[0] for p in parts] == [1, 2, 3, 4]
    assert [p[2] for p in parts] == [False, False, False, True]
    assert b"".join(p[1] for p in parts) == data


def test_part_reader_reuses_one_buffer_when_parts_are_given_back() -> None:
    data = os.urandom(200 * KiB)
    parts = read_all(PartReader(chunks(data, 3000), lambda n: 32 * KiB))
    owners = {id(p[3]) for p in parts}
    assert len(owners) == 1 and b"".join(p[1] for p in parts) == data


def test_part_reader_makes_a_buffer_per_part_not_given_back() -> None:
    data = os.urandom(100 * KiB)
    parts = read_all(PartReader(chunks(data, 3000), lambda n: 32 * KiB), recycle=False)
    assert len({id(p[3]) for p in parts}) == len(parts) == 4


def test_part_reader_does_not_copy_a_part_one_chunk_holds() -> None:
    small = os.urandom(10 * KiB)
    (number, data, last), = [PartReader(IterStream([small]), lambda n: 32 * KiB).read_sync()]
    assert (number, last) == (1, True) and isinstance(data, memoryview) and data.obj is small
    big = os.urandom(100 * KiB)
    parts = read_all(PartReader(IterStream([big]), lambda n: 32 * KiB))
    assert all(p[3] is big for p in parts) and b"".join(p[1] for p in parts) == big


def test_part_reader_follows_growing_part_sizes() -> None:
    data = os.urandom(150 * KiB)
    parts = read_all(PartReader(chunks(data, 5000), lambda n: 16 * KiB * n))
    assert [len(p[1]) for p in parts] == [16 * KiB, 32 * KiB, 48 * KiB, 54 * KiB]
    assert b"".join(p[1] for p in parts) == data


def read_all_async(reader: PartReader) -> list[bytes]:
    """Every part's bytes, read in an event loop."""

    async def main() -> list[bytes]:
        out = []
        while True:
            _, part, last = await reader.read_async()
            out.append(bytes(part))
            reader.recycle(part)
            if last:
                return out

    return anyio.run(main)


def test_part_reader_async_gives_the_same_parts() -> None:
    data = os.urandom(70 * KiB + 1)
    parts = read_all_async(PartReader(chunks(data, 4000), lambda n: 32 * KiB))
    assert [len(p) for p in parts] == [32 * KiB, 32 * KiB, 6 * KiB + 1]


def test_part_reader_empty_source() -> None:
    assert PartReader(IterStream([b"", b""]), lambda n: KiB).read_sync() == (1, b"", True)


@pytest.mark.parametrize("size", [0, 1, 32 * KiB, 100 * KiB + 5])
def test_part_reader_fills_parts_straight_from_a_file(tmp_path: Path, size: int) -> None:
    """A local file is read into the part buffers directly, with the same parts,
    numbers and last flags as any stream, and its observers see every byte."""
    data = os.urandom(size)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    stream = FileStream(path).observe(SizeCheck(size, "source"))
    parts = read_all(PartReader(stream, lambda n: 32 * KiB))
    expected = [data[i : i + 32 * KiB] for i in range(0, size, 32 * KiB)] or [b""]
    assert [p[1] for p in parts] == expected
    assert [p[0] for p in parts] == list(range(1, len(expected) + 1))
    assert [p[2] for p in parts] == [False] * (len(expected) - 1) + [True]
    assert stream._file is None  # closed at the end


def test_part_reader_reads_a_file_range_only(tmp_path: Path) -> None:
    data = os.urandom(90 * KiB)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    parts = read_all(PartReader(FileStream(path, 10, 70 * KiB), lambda n: 32 * KiB))
    assert b"".join(p[1] for p in parts) == data[10 : 70 * KiB]
    assert [p[2] for p in parts] == [False, False, True]


def test_part_reader_from_a_file_that_grew_fails_its_size_check(tmp_path: Path) -> None:
    """A file that grows after it was measured is read to its real end, so the
    size check rejects it instead of uploading a silently truncated object."""
    path = tmp_path / "source.bin"
    path.write_bytes(os.urandom(64 * KiB))
    stream = FileStream(path).observe(SizeCheck(32 * KiB, "source"))
    reader = PartReader(stream, lambda n: 32 * KiB)
    assert reader.read_sync()[2] is False  # a byte follows the measured size
    with pytest.raises(IntegrityError, match="got 65536 bytes, expected 32768"):
        reader.read_sync()
    assert stream._file is None


def test_part_reader_from_a_file_async_and_closed_early(tmp_path: Path) -> None:
    data = os.urandom(70 * KiB)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    assert b"".join(read_all_async(PartReader(FileStream(path), lambda n: 32 * KiB))) == data
    early = FileStream(path)
    reader = PartReader(early, lambda n: 32 * KiB)
    reader.read_sync()
    assert early._file is not None
    reader.close()
    assert early._file is None


# -- partial files of downloads ----------------------------------------------------------


def test_a_partial_file_nobody_holds_is_taken_over(tmp_path: Path) -> None:
    from overcast.runtime.files import AtomicFile

    destination = tmp_path / "out.bin"
    (tmp_path / ".out.bin.part").write_bytes(b"left by a killed download, longer")
    target = AtomicFile(str(destination), overwrite=False)
    assert target.temp_path == str(tmp_path / ".out.bin.part")
    target.write(b"new")
    target.commit()
    assert destination.read_bytes() == b"new"  # nothing of the old bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_a_live_writers_partial_file_is_left_alone(tmp_path: Path) -> None:
    from overcast.runtime.files import AtomicFile

    destination = tmp_path / "out.bin"
    first = AtomicFile(str(destination), overwrite=True)
    second = AtomicFile(str(destination), overwrite=True)
    assert first.temp_path == str(tmp_path / ".out.bin.part")
    assert second.temp_path != first.temp_path
    assert os.path.basename(second.temp_path).startswith(f".out.bin.{os.getpid()}-")
    first.write(b"first")
    second.write(b"second")
    second.commit()
    first.discard()
    assert destination.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_a_long_name_keeps_its_partial_file_within_the_name_limit(tmp_path: Path) -> None:
    from overcast.runtime.files import AtomicFile

    destination = tmp_path / ("é" * 127)  # 254 bytes
    first = AtomicFile(str(destination), overwrite=False)
    second = AtomicFile(str(destination), overwrite=False)
    for target in (first, second):
        assert len(os.fsencode(os.path.basename(target.temp_path))) <= 255
    second.discard()
    first.write(b"x")
    first.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == [destination.name]
