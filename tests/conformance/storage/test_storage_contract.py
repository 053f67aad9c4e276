"""The storage contract, stated once, run against every driver in both modes."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from overcast.errors import ContainerAlreadyExists
from overcast.errors import ContainerIsNotEmpty
from overcast.errors import ContainerNotFound
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ObjectNotFound
from overcast.storage.base import Container
from overcast.storage.base import Object
from overcast.storage.base import Prefix
from overcast.storage.base import StorageDriver
from servers.modes import call

MiB = 1024 * 1024


def unique(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def chunks_of(data: bytes, sizes: tuple[int, ...] = (1, 1000, 65536, 333333)) -> Iterator[bytes]:
    """Irregular chunks, as a network or a generator would hand them over."""
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        yield data[pos : pos + size]
        pos += size
        i += 1


@pytest.fixture
def container(storage_driver: StorageDriver) -> Iterator[Container]:
    created = storage_driver.create_container(unique())
    yield created
    for obj in storage_driver.list_container_objects(created):
        storage_driver.delete_object(obj)
    storage_driver.delete_container(created)


def upload(driver: StorageDriver, mode: str, container: Container, name: str, data: bytes,
           **kwargs: Any) -> Object:
    obj: Object = call(mode, driver, "upload_object_via_stream", chunks_of(data), container,
                       name, **kwargs)
    return obj


# -- containers ----------------------------------------------------------------------


def test_container_lifecycle(storage_driver: StorageDriver, mode: str) -> None:
    name = unique()
    created = call(mode, storage_driver, "create_container", name)
    assert isinstance(created, Container)
    assert created.name == name
    assert call(mode, storage_driver, "get_container", name).name == name
    assert name in [c.name for c in call(mode, storage_driver, "list_containers")]
    assert name in [c.name for c in call(mode, storage_driver, "iterate_containers")]
    with pytest.raises(ContainerAlreadyExists):
        call(mode, storage_driver, "create_container", name)
    assert call(mode, storage_driver, "delete_container", created) is True
    with pytest.raises(ContainerNotFound):
        call(mode, storage_driver, "get_container", name)
    with pytest.raises(ContainerNotFound):
        call(mode, storage_driver, "delete_container", name)


def test_container_not_empty(storage_driver: StorageDriver, mode: str,
                             container: Container) -> None:
    upload(storage_driver, mode, container, "keep.txt", b"x")
    with pytest.raises(ContainerIsNotEmpty):
        call(mode, storage_driver, "delete_container", container)
    assert storage_driver.get_object(container.name, "keep.txt").size == 1


@pytest.mark.parametrize("bad", ["", "a/b", "..", "\x00x"])
def test_bad_container_names_are_rejected(storage_driver: StorageDriver, mode: str,
                                          bad: str) -> None:
    before = [c.name for c in storage_driver.list_containers()]
    with pytest.raises(InvalidInput):
        call(mode, storage_driver, "create_container", bad)
    assert [c.name for c in storage_driver.list_containers()] == before


# -- objects ---------------------------------------------------------------------------


def test_upload_get_download_delete(storage_driver: StorageDriver, mode: str,
                                    container: Container, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    obj = upload(storage_driver, mode, container, "dir/data.bin", data,
                 content_type="application/x-test", meta_data={"owner": "alice", "n": "1"})
    assert (obj.name, obj.size) == ("dir/data.bin", len(data))
    got = call(mode, storage_driver, "get_object", container.name, "dir/data.bin")
    assert got.size == len(data)
    assert got.hash
    assert got.content_type == "application/x-test"
    assert got.meta_data == {"owner": "alice", "n": "1"}
    assert call(mode, storage_driver, "download_object_as_stream", got) == data
    target = tmp_path / "out.bin"
    assert call(mode, storage_driver, "download_object", got, str(target)) is True
    assert target.read_bytes() == data
    assert call(mode, storage_driver, "delete_object", got) is True
    with pytest.raises(ObjectNotFound):
        call(mode, storage_driver, "get_object", container.name, "dir/data.bin")
    with pytest.raises(ObjectNotFound):
        call(mode, storage_driver, "delete_object", got)
    with pytest.raises(ObjectNotFound):
        call(mode, storage_driver, "download_object_as_stream", got)


def test_empty_object(storage_driver: StorageDriver, mode: str, container: Container,
                      tmp_path: Path) -> None:
    obj = call(mode, storage_driver, "upload_object_via_stream", iter([]), container, "empty")
    assert obj.size == 0
    assert call(mode, storage_driver, "download_object_as_stream", obj) == b""
    target = tmp_path / "empty.out"
    call(mode, storage_driver, "download_object", obj, str(target))
    assert target.read_bytes() == b""


def test_several_mib_from_a_file_with_progress(storage_driver: StorageDriver, mode: str,
                                               container: Container, tmp_path: Path) -> None:
    data = os.urandom(7 * MiB + 12345)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    seen: list[tuple[int, int | None]] = []
    obj = call(mode, storage_driver, "upload_object", str(source), container, "big.bin",
               progress=lambda done, total: seen.append((done, total)))
    assert obj.size == len(data)
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    target = tmp_path / "big.out"
    down: list[int] = []
    call(mode, storage_driver, "download_object", obj, str(target),
         progress=lambda done, total: down.append(done))
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert down[-1] == len(data)


def test_ranges(storage_driver: StorageDriver, mode: str, container: Container,
                tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    obj = upload(storage_driver, mode, container, "ranged", data)
    get = "download_object_range_as_stream"
    assert call(mode, storage_driver, get, obj, 0, 10) == data[0:10]
    assert call(mode, storage_driver, get, obj, 100, 5000) == data[100:5000]
    assert call(mode, storage_driver, get, obj, 10000) == data[10000:]
    assert call(mode, storage_driver, get, obj, len(data) - 1) == data[-1:]
    target = tmp_path / "range.out"
    call(mode, storage_driver, "download_object_range", obj, str(target), 7, 77)
    assert target.read_bytes() == data[7:77]
    with pytest.raises(InvalidInput):
        call(mode, storage_driver, get, obj, -1, 5)
    with pytest.raises(InvalidInput):
        call(mode, storage_driver, get, obj, 50, 10)


def test_overwrite_replaces_content(storage_driver: StorageDriver, mode: str,
                                   container: Container) -> None:
    upload(storage_driver, mode, container, "same", b"first version")
    second = upload(storage_driver, mode, container, "same", b"second")
    got = storage_driver.get_object(container.name, "same")
    assert got.size == second.size == 6
    assert call(mode, storage_driver, "download_object_as_stream", got) == b"second"


UNICODE_NAMES = ["résumé/データ 1.txt", "a b+c%20d?e#f&g=h", "emoji-😀/ok", "trailing space "]


def test_unicode_and_odd_names(storage_driver: StorageDriver, mode: str,
                               container: Container) -> None:
    for i, name in enumerate(UNICODE_NAMES):
        upload(storage_driver, mode, container, name, f"v{i}".encode())
    listed = [o.name for o in call(mode, storage_driver, "list_container_objects", container)]
    assert sorted(listed) == sorted(UNICODE_NAMES)
    for i, name in enumerate(UNICODE_NAMES):
        obj = call(mode, storage_driver, "get_object", container.name, name)
        assert call(mode, storage_driver, "download_object_as_stream", obj) == f"v{i}".encode()


BAD_OBJECT_NAMES = ["", "../escape", "a/../../escape", "/absolute", "nul\x00byte", "a//b",
                    "dir/", "./x"]


@pytest.mark.parametrize("bad", BAD_OBJECT_NAMES)
def test_bad_object_names_are_rejected_and_nothing_is_written(
    storage_driver: StorageDriver, mode: str, container: Container, bad: str
) -> None:
    with pytest.raises(InvalidInput):
        call(mode, storage_driver, "upload_object_via_stream", iter([b"data"]), container, bad)
    with pytest.raises(InvalidInput):
        call(mode, storage_driver, "get_object", container.name, bad)
    assert storage_driver.list_container_objects(container) == []


def test_failed_upload_leaves_nothing(storage_driver: StorageDriver, mode: str,
                                     container: Container) -> None:
    class Boom(Exception):
        pass

    def broken() -> Iterator[bytes]:
        yield b"x" * MiB
        raise Boom("source failed midway")

    with pytest.raises(Boom):
        call(mode, storage_driver, "upload_object_via_stream", broken(), container, "half")
    with pytest.raises(ObjectNotFound):
        storage_driver.get_object(container.name, "half")
    assert storage_driver.list_container_objects(container) == []


def test_listing_prefix_order_and_pages(storage_driver: StorageDriver, mode: str,
                                        container: Container) -> None:
    names = [f"logs/2026/{i:02d}.log" for i in range(12)] + ["logs/z", "other/a", "top"]
    for name in names:
        upload(storage_driver, mode, container, name, name.encode())
    listed = call(mode, storage_driver, "list_container_objects", container)
    assert [o.name for o in listed] == sorted(names)
    assert all(isinstance(o, Object) and o.size == len(o.name) for o in listed)
    by_prefix = call(mode, storage_driver, "list_container_objects", container, "logs/2026/")
    assert [o.name for o in by_prefix] == [f"logs/2026/{i:02d}.log" for i in range(12)]
    iterated = call(mode, storage_driver, "iterate_container_objects", container, prefix="logs/2")
    assert len(iterated) == 12
    assert call(mode, storage_driver, "list_container_objects", container, "nothing-") == []


def test_listing_with_delimiter(storage_driver: StorageDriver, mode: str,
                                container: Container) -> None:
    for name in ["a/1", "a/2", "a/b/3", "b/4", "top1", "top2"]:
        upload(storage_driver, mode, container, name, b"x")
    if not storage_driver.supports("iterate_container_entries"):
        pytest.skip("driver lists no common prefixes")  # pragma: no cover
    entries = call(mode, storage_driver, "list_container_entries", container)
    assert [(type(e).__name__, e.name) for e in entries] == [
        ("Prefix", "a/"), ("Prefix", "b/"), ("Object", "top1"), ("Object", "top2"),
    ]
    inner = call(mode, storage_driver, "list_container_entries", container, "a/")
    assert [(isinstance(e, Prefix), e.name) for e in inner] == [
        (False, "a/1"), (False, "a/2"), (True, "a/b/"),
    ]


def test_download_never_clobbers_without_overwrite(storage_driver: StorageDriver, mode: str,
                                                   container: Container, tmp_path: Path) -> None:
    obj = upload(storage_driver, mode, container, "file", b"new content")
    target = tmp_path / "existing"
    target.write_bytes(b"precious")
    with pytest.raises(InvalidInput):
        call(mode, storage_driver, "download_object", obj, str(target))
    assert target.read_bytes() == b"precious"
    call(mode, storage_driver, "download_object", obj, str(target), overwrite_existing=True)
    assert target.read_bytes() == b"new content"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_copy_object(storage_driver: StorageDriver, mode: str, container: Container) -> None:
    if not storage_driver.supports("copy_object"):
        pytest.skip("driver cannot copy")  # pragma: no cover
    obj = upload(storage_driver, mode, container, "orig", b"payload", meta_data={"k": "v"})
    copy = call(mode, storage_driver, "copy_object", obj, container, "copy")
    assert copy.name == "copy"
    got = storage_driver.get_object(container.name, "copy")
    assert got.meta_data == {"k": "v"}
    assert b"".join(storage_driver.download_object_as_stream(got)) == b"payload"


def test_model_conveniences(storage_driver: StorageDriver, container: Container) -> None:
    obj = container.upload_object_via_stream(iter([b"abc"]), "conv")
    assert [o.name for o in container.list_objects()] == ["conv"]
    assert b"".join(obj.as_stream()) == b"abc"
    assert container.get_object("conv").size == 3
    assert obj.delete() is True


def test_async_iterable_upload(storage_driver: StorageDriver, container: Container) -> None:
    async def source() -> AsyncIterator[bytes]:
        for i in range(10):
            yield bytes([i]) * 100_000

    async def main() -> bytes:
        async with storage_driver.aio as view:
            obj = await view.upload_object_via_stream(source(), container, "async-src")
            return b"".join([c async for c in view.download_object_as_stream(obj)])

    assert anyio.run(main) == b"".join(bytes([i]) * 100_000 for i in range(10))


def test_unsupported_operations_say_so(storage_driver: StorageDriver) -> None:
    for name, supported in type(storage_driver).operations().items():
        if not supported:
            with pytest.raises(NotSupported):
                getattr(storage_driver, name)(*([None] * _arity(storage_driver, name)))


def _arity(driver: StorageDriver, name: str) -> int:
    import inspect

    fn = getattr(type(driver), name).fn
    params = list(inspect.signature(fn).parameters.values())[1:]
    return sum(1 for p in params if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD)


# -- scale: many objects, big objects, many writers --------------------------------------


def big_size(driver: StorageDriver) -> int:
    """A size above the driver's one-request threshold (parts for drivers with parts)."""
    plan = getattr(driver, "part_plan", None)
    threshold = plan.threshold if plan is not None else 8 * MiB
    return threshold + 3 * MiB + 12345


def test_objects_above_the_part_threshold(storage_driver: StorageDriver, mode: str,
                                         container: Container, tmp_path: Path) -> None:
    size = big_size(storage_driver)
    data = os.urandom(size)
    source = tmp_path / "big.src"
    source.write_bytes(data)
    from_file = call(mode, storage_driver, "upload_object", str(source), container, "from-file")
    assert from_file.size == size
    # A non-seekable source of unknown length, in irregular chunks.
    from_iter = call(mode, storage_driver, "upload_object_via_stream",
                     chunks_of(data, (65536, 1_000_003, 7)), container, "from-iter")
    assert from_iter.size == size
    for name in ("from-file", "from-iter"):
        obj = call(mode, storage_driver, "get_object", container.name, name)
        target = tmp_path / f"{name}.out"
        call(mode, storage_driver, "download_object", obj, str(target))
        assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
        part = call(mode, storage_driver, "download_object_range_as_stream", obj,
                    size - 1000, size)
        assert part == data[-1000:]


def test_concurrent_uploads_to_one_container(storage_driver: StorageDriver,
                                            container: Container) -> None:
    from concurrent.futures import ThreadPoolExecutor

    payloads = {f"w/{i:02d}": os.urandom(50_000 + i) for i in range(24)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda kv: storage_driver.upload_object_via_stream(
            iter([kv[1]]), container, kv[0]), payloads.items()))
        # and several writers of one name: one complete version wins
        list(pool.map(lambda i: storage_driver.upload_object_via_stream(
            iter([bytes([i]) * 70_000]), container, "same"), range(8)))
    listed = {o.name: o.size for o in storage_driver.list_container_objects(container, "w/")}
    assert listed == {name: len(data) for name, data in payloads.items()}
    same = b"".join(storage_driver.download_object_as_stream(
        storage_driver.get_object(container.name, "same")))
    assert same in {bytes([i]) * 70_000 for i in range(8)}


def test_listing_past_many_pages(storage_driver: StorageDriver, mode: str,
                                 container: Container) -> None:
    from concurrent.futures import ThreadPoolExecutor

    names = [f"many/{i:05d}" for i in range(2500)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: storage_driver.upload_object_via_stream(
            iter([n.encode()]), container, n), names))
    listed = [o.name for o in call(mode, storage_driver, "list_container_objects", container,
                                   "many/")]
    assert listed == names
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: storage_driver.delete_object(
            storage_driver.get_object(container.name, n)), names))
