"""What only the local driver can show: files on disk, locks, integrity, escapes."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from overcast.errors import IntegrityError
from overcast.errors import InvalidInput
from overcast.storage import Provider
from overcast.storage import get_driver
from overcast.storage.drivers.local import LocalStorageDriver


@pytest.fixture
def driver(tmp_path: Path) -> LocalStorageDriver:
    return LocalStorageDriver(str(tmp_path / "root"))


def temp_files(driver: LocalStorageDriver) -> list[str]:
    return os.listdir(os.path.join(driver.root, ".overcast", "tmp"))


def test_registry_and_provider_enum(tmp_path: Path) -> None:
    import overcast

    assert get_driver(Provider.LOCAL) is LocalStorageDriver
    assert overcast.get_driver("storage", "local") is LocalStorageDriver


def test_layout_on_disk(driver: LocalStorageDriver) -> None:
    driver.create_container("box")
    driver.upload_object_via_stream(iter([b"hello"]), "box", "a/b/c.txt")
    path = Path(driver.root, "box", "a", "b", "c.txt")
    assert path.read_bytes() == b"hello"
    obj = driver.get_object("box", "a/b/c.txt")
    assert obj.hash == hashlib.md5(b"hello").hexdigest()
    assert obj.content_type == "text/plain"
    driver.delete_object(obj)
    assert not Path(driver.root, "box", "a").exists()  # empty parents pruned


def test_corruption_is_detected_and_nothing_is_kept(
    driver: LocalStorageDriver, tmp_path: Path
) -> None:
    driver.create_container("box")
    obj = driver.upload_object_via_stream(iter([b"A" * 10_000]), "box", "file")
    path = Path(driver.root, "box", "file")
    stat = path.stat()
    with path.open("r+b") as f:  # flip a byte, keep size and mtime
        f.seek(5000)
        f.write(b"B")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(IntegrityError):
        b"".join(driver.download_object_as_stream(obj))
    target = tmp_path / "out"
    with pytest.raises(IntegrityError):
        driver.download_object(obj, str(target))
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_hand_placed_files_are_listed_and_hashed(driver: LocalStorageDriver) -> None:
    driver.create_container("box")
    Path(driver.root, "box", "manual.bin").write_bytes(b"by hand")
    [listed] = driver.list_container_objects("box")
    assert listed.name == "manual.bin"
    assert driver.get_object("box", "manual.bin").hash == hashlib.md5(b"by hand").hexdigest()
    assert b"".join(driver.download_object_as_stream(listed)) == b"by hand"


def test_symlink_escape_is_refused(driver: LocalStorageDriver, tmp_path: Path) -> None:
    driver.create_container("box")
    secret = tmp_path / "outside.txt"
    secret.write_text("not yours")
    os.symlink(secret, Path(driver.root, "box", "link"))
    with pytest.raises(InvalidInput):
        driver.get_object("box", "link")


def test_object_and_directory_name_clash(driver: LocalStorageDriver) -> None:
    driver.create_container("box")
    driver.upload_object_via_stream(iter([b"1"]), "box", "a")
    with pytest.raises(InvalidInput):
        driver.upload_object_via_stream(iter([b"2"]), "box", "a/b")
    driver.upload_object_via_stream(iter([b"3"]), "box", "x/y")
    with pytest.raises(InvalidInput):
        driver.upload_object_via_stream(iter([b"4"]), "box", "x")
    assert temp_files(driver) == []


def test_concurrent_writers_never_interleave(driver: LocalStorageDriver) -> None:
    driver.create_container("box")
    versions = {i: bytes([i]) * (256 * 1024 + i) for i in range(8)}
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for _ in range(3):
                driver.upload_object_via_stream(iter([versions[i]]), "box", "contended")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    obj = driver.get_object("box", "contended")
    data = b"".join(driver.download_object_as_stream(obj))  # hash-checked
    assert data in versions.values()
    assert obj.hash == hashlib.md5(data).hexdigest()
    assert temp_files(driver) == []


def test_cancelled_async_upload_leaves_nothing(driver: LocalStorageDriver) -> None:
    driver.create_container("box")
    started = anyio.Event()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            started.set()
            yield b"z" * 65536
            await anyio.lowlevel.checkpoint()

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(driver.aio.upload_object_via_stream, endless(), "box", "never")
            await started.wait()
            await anyio.sleep(0.05)
            group.cancel_scope.cancel()

    anyio.run(main)
    assert driver.list_container_objects("box") == []
    assert temp_files(driver) == []


def test_page_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        LocalStorageDriver(str(tmp_path), page_size=0)


def test_unknown_extra_and_bad_metadata_are_rejected(driver: LocalStorageDriver) -> None:
    driver.create_container("box")
    with pytest.raises(InvalidInput):
        driver.upload_object_via_stream(iter([b"x"]), "box", "o", extra={"colour": "red"})
    with pytest.raises(InvalidInput):
        driver.upload_object_via_stream(iter([b"x"]), "box", "o", meta_data={"k": "a\nb"})
    assert driver.list_container_objects("box") == []


def test_copy_between_drivers_streams_with_progress(tmp_path: Path) -> None:
    from overcast.storage import copy
    from overcast.storage import copy_async

    a = LocalStorageDriver(str(tmp_path / "a"))
    b = LocalStorageDriver(str(tmp_path / "b"))
    src = a.create_container("src")
    dst = b.create_container("dst")
    data = os.urandom(3 * 1024 * 1024 + 7)
    obj = a.upload_object_via_stream(iter([data]), src, "blob", meta_data={"k": "v"},
                                     content_type="application/x-demo")
    seen: list[tuple[int, int | None]] = []
    copied = copy(obj, dst, "copied", progress=lambda d, t: seen.append((d, t)))
    assert copied.size == len(data) and copied.meta_data == {"k": "v"}
    assert copied.content_type == "application/x-demo"
    assert b"".join(b.download_object_as_stream(copied)) == data
    assert seen[-1] == (len(data), len(data))
    again = anyio.run(copy_async, obj, dst, "copied-async")
    assert again.hash == copied.hash
