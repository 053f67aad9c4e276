"""What only the local driver can show: files on disk, locks, integrity, escapes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
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
    assert obj.content_md5 == hashlib.md5(b"hello").hexdigest()
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
    assert driver.get_object("box", "manual.bin").content_md5 == hashlib.md5(b"by hand").hexdigest()
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
    assert obj.content_md5 == hashlib.md5(data).hexdigest()
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


# -- temporaries of killed processes ---------------------------------------------------

#: A process that uploads (``upload``) or downloads (``download``) an endless
#: stream, says ``written`` on stdout once its temporary file holds data, then
#: waits on stdin for ever: the test kills it there, with SIGKILL.
_TRANSFER = textwrap.dedent("""
    import sys
    from overcast.runtime.streams import IterStream
    from overcast.storage.drivers.local import LocalStorageDriver
    from overcast.storage.transfer import Ranged

    action, root, mode = sys.argv[1:4]

    def endless():
        yield b"x" * (2 * 1024 * 1024)  # one runner batch: written before the next pull
        print("written", flush=True)
        sys.stdin.read()
        yield b"never"

    class Stalling(LocalStorageDriver):
        def _read_range(self, obj, span):
            yield from ()
            return Ranged(IterStream(endless()), None)

    driver = Stalling(root)
    if action == "upload":
        operation, args = "upload_object_via_stream", (endless(), "box", "big")
    else:
        obj = driver.get_object("box", "small")
        operation, args = "download_object", (obj, sys.argv[4], True)
    if mode == "sync":
        getattr(driver, operation)(*args)
    else:
        import anyio
        anyio.run(lambda: getattr(driver.aio, operation)(*args))
""")


def _start(*args: str) -> subprocess.Popen[str]:
    """A transfer process, once its temporary file holds data."""
    process = subprocess.Popen([sys.executable, "-c", _TRANSFER, *args], text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == "written\n", "the transfer process failed"
    return process


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_uploads_killed_mid_stream_leave_nothing_once_a_driver_starts(
    driver: LocalStorageDriver, mode: str
) -> None:
    driver.create_container("box")
    # Each process starts a driver, which leaves the others' temporaries alone.
    processes = [_start("upload", driver.root, mode) for _ in range(3)]
    assert len(temp_files(driver)) == 3
    for process in processes:
        _kill(process)
    assert len(temp_files(driver)) == 3
    LocalStorageDriver(driver.root)  # a new driver sweeps what the dead left
    assert temp_files(driver) == []
    assert driver.list_container_objects("box") == []
    _kill(_start("upload", driver.root, mode))
    _kill(_start("upload", driver.root, mode))  # its driver swept the one killed before
    assert len(temp_files(driver)) == 1


def test_a_live_uploads_temporary_is_not_swept(driver: LocalStorageDriver) -> None:
    driver.create_container("box")
    process = _start("upload", driver.root, "sync")
    try:
        [live] = temp_files(driver)
        LocalStorageDriver(driver.root)
        assert temp_files(driver) == [live]
    finally:
        _kill(process)
    LocalStorageDriver(driver.root)
    assert temp_files(driver) == []


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_download_killed_mid_stream_is_replaced_by_its_rerun(
    driver: LocalStorageDriver, tmp_path: Path, mode: str
) -> None:
    driver.create_container("box")
    obj = driver.upload_object_via_stream(iter([b"small object"]), "box", "small")
    out = tmp_path / "out"
    out.mkdir()
    destination = out / "small.bin"
    for _ in range(3):
        _kill(_start("download", driver.root, mode, str(destination)))
    # Each run took over the partial file the killed one before it left.
    assert sorted(p.name for p in out.iterdir()) == [".small.bin.part"]
    assert driver.download_object(obj, destination) is True  # the rerun
    assert sorted(p.name for p in out.iterdir()) == ["small.bin"]
    assert destination.read_bytes() == b"small object"


def test_a_live_downloads_partial_file_is_not_replaced(
    driver: LocalStorageDriver, tmp_path: Path
) -> None:
    driver.create_container("box")
    obj = driver.upload_object_via_stream(iter([b"small object"]), "box", "small")
    destination = tmp_path / "small.bin"
    process = _start("download", driver.root, "sync", str(destination))
    try:
        [live] = [p.name for p in tmp_path.iterdir() if p.name.startswith(".small.bin")]
        assert driver.download_object(obj, destination) is True
        assert sorted(p.name for p in tmp_path.iterdir() if "small" in p.name) == [
            live, "small.bin"]
    finally:
        _kill(process)
    assert driver.download_object(obj, destination, True) is True
    assert sorted(p.name for p in tmp_path.iterdir() if "small" in p.name) == ["small.bin"]


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
    assert again.content_md5 == copied.content_md5
