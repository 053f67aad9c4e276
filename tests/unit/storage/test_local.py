"""The local storage driver on a temporary directory: every operation family,
in both modes, checked against what is on disk (no server)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from overcast.errors import ContainerAlreadyExists
from overcast.errors import ContainerIsNotEmpty
from overcast.errors import ContainerNotFound
from overcast.errors import IntegrityError
from overcast.errors import InvalidInput
from overcast.errors import ObjectNotFound
from overcast.storage.base import Container
from overcast.storage.base import Object
from overcast.storage.base import Prefix
from overcast.storage.drivers.local import LocalStorageDriver
from overcast.testing import MODES
from overcast.testing import call

DATA = b"0123456789abcdef"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def local(root: Path) -> LocalStorageDriver:
    driver = LocalStorageDriver(root, page_size=2)
    driver.create_container("box")
    return driver


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def tree(top: Path) -> dict[str, bytes | None]:
    """Every directory (``None``) and file (its bytes) under ``top``, by relative path."""
    found: dict[str, bytes | None] = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs:
            found[os.path.relpath(os.path.join(directory, name), top)] = None
        for name in files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, top)] = Path(path).read_bytes()
    return found


def leftovers(driver: LocalStorageDriver) -> list[str]:
    """The uploads in progress the driver left in its temporary directory."""
    return os.listdir(os.path.join(driver.root, ".overcast", "tmp"))


def put(driver: LocalStorageDriver, name: str, data: bytes = DATA) -> Object:
    return driver.upload_object_via_stream(iter([data]), "box", name)


# -- containers ---------------------------------------------------------------------------


def test_container_lifecycle(root: Path, mode: str) -> None:
    local = LocalStorageDriver(root)
    made = call(mode, local, "create_container", "photos")
    assert (made.name, made.extra["path"]) == ("photos", str(root / "photos"))
    assert (root / "photos").is_dir()
    call(mode, local, "create_container", "archive")
    # The driver's own .overcast directory is not a container.
    assert [c.name for c in call(mode, local, "list_containers")] == ["archive", "photos"]
    assert call(mode, local, "get_container", "photos").extra["path"] == str(root / "photos")
    with pytest.raises(ContainerAlreadyExists):
        call(mode, local, "create_container", "photos")

    local.upload_object_via_stream(iter([b"x"]), "photos", "a/b.jpg")
    with pytest.raises(ContainerIsNotEmpty):
        call(mode, local, "delete_container", "photos")
    assert (root / "photos" / "a" / "b.jpg").read_bytes() == b"x"
    local.delete_object(local.get_object("photos", "a/b.jpg"))
    assert call(mode, local, "delete_container", made) is True
    assert not (root / "photos").exists()
    assert not (root / ".overcast" / "meta" / "photos").exists()
    assert [c.name for c in call(mode, local, "list_containers")] == ["archive"]
    with pytest.raises(ContainerNotFound):
        call(mode, local, "get_container", "photos")
    with pytest.raises(ContainerNotFound):
        call(mode, local, "delete_container", "photos")


# -- listing ----------------------------------------------------------------------------


def test_listing_reads_page_size_objects_at_a_time(
    local: LocalStorageDriver, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["e", "a", "dir/y/z", "c", "dir/x"]
    blobs = {name: bytes([index]) * (index + 1) for index, name in enumerate(names)}
    for name, data in blobs.items():
        put(local, name, data)
    pages: list[list[str]] = []
    real = local._stat_many

    def stat_many(container: str, chosen: list[str]) -> list[Object]:
        pages.append(list(chosen))
        return real(container, chosen)

    monkeypatch.setattr(local, "_stat_many", stat_many)
    listed = call(mode, local, "list_container_objects", "box")
    assert [(o.name, o.size, o.content_md5) for o in listed] == [
        (name, len(blobs[name]), md5(blobs[name])) for name in sorted(names)
    ]
    assert pages == [["a", "c"], ["dir/x", "dir/y/z"], ["e"]]

    pages.clear()
    assert [o.name for o in call(mode, local, "list_container_objects", "box", "dir/")] == [
        "dir/x", "dir/y/z"
    ]
    assert pages == [["dir/x", "dir/y/z"]]


def test_entries_collapse_below_the_delimiter(local: LocalStorageDriver, mode: str) -> None:
    for name in ("a", "dir/x", "dir/y/z", "dir/y/w", "e", "f/g"):
        put(local, name)
    top = call(mode, local, "iterate_container_entries", "box")
    assert [(type(e).__name__, e.name) for e in top] == [
        ("Object", "a"), ("Prefix", "dir/"), ("Object", "e"), ("Prefix", "f/")
    ]
    inside = call(mode, local, "list_container_entries", "box", "dir/")
    assert [(type(e).__name__, e.name) for e in inside] == [("Object", "dir/x"),
                                                           ("Prefix", "dir/y/")]
    assert isinstance(inside[1], Prefix) and inside[1].container is not None
    assert inside[1].container.name == "box"
    with pytest.raises(InvalidInput):
        call(mode, local, "list_container_entries", "box", delimiter="")
    with pytest.raises(ContainerNotFound):
        call(mode, local, "list_container_objects", "nothing-here")


# -- uploads -------------------------------------------------------------------------


def test_upload_via_stream_and_from_a_file(
    local: LocalStorageDriver, root: Path, tmp_path: Path, mode: str
) -> None:
    chunks = [b"hello ", b"", b"world"]
    obj = call(mode, local, "upload_object_via_stream", iter(chunks), "box", "docs/hi.txt",
               meta_data={"owner": "ana"})
    assert (obj.name, obj.size, obj.content_md5, obj.content_type, obj.meta_data) == (
        "docs/hi.txt", 11, md5(b"hello world"), "text/plain", {"owner": "ana"}
    )
    assert (root / "box" / "docs" / "hi.txt").read_bytes() == b"hello world"

    source = tmp_path / "upload.bin"
    source.write_bytes(DATA * 1000)
    from_file = call(mode, local, "upload_object", source, "box", "blob",
                     extra={"content_type": "application/x-demo"})
    assert (from_file.size, from_file.content_md5, from_file.content_type) == (
        16000, md5(DATA * 1000), "application/x-demo"
    )
    # The metadata stored beside the data is what get_object reports.
    got = call(mode, local, "get_object", "box", "blob")
    assert (got.size, got.content_md5, got.content_type, got.meta_data) == (
        16000, md5(DATA * 1000), "application/x-demo", {}
    )
    meta = [json.loads(p.read_text()) for p in (root / ".overcast" / "meta" / "box").rglob("*")
            if p.is_file()]
    assert sorted((m["name"], m["md5"], m["size"]) for m in meta) == [
        ("blob", md5(DATA * 1000), 16000), ("docs/hi.txt", md5(b"hello world"), 11)
    ]

    # A second upload replaces the object, and its metadata with it.
    again = call(mode, local, "upload_object_via_stream", b"new", "box", "docs/hi.txt")
    assert (again.size, again.content_md5, again.meta_data) == (3, md5(b"new"), {})
    assert (root / "box" / "docs" / "hi.txt").read_bytes() == b"new"

    with pytest.raises(InvalidInput, match="not a readable file"):
        call(mode, local, "upload_object", tmp_path / "missing.bin", "box", "never")
    with pytest.raises(ContainerNotFound):
        call(mode, local, "upload_object_via_stream", b"x", "nothing-here", "never")
    assert not (root / "box" / "never").exists() and not (root / "nothing-here").exists()
    assert leftovers(local) == []


def test_copy_keeps_the_content_type_and_metadata(local: LocalStorageDriver, mode: str) -> None:
    local.create_container("other")
    source = local.upload_object_via_stream(iter([DATA]), "box", "src.bin",
                                            content_type="image/x-test", meta_data={"k": "v"})
    copied = call(mode, local, "copy_object", source, "other", "dst/copy.bin")
    assert (copied.container_name, copied.name, copied.size, copied.content_md5) == (
        "other", "dst/copy.bin", len(DATA), md5(DATA)
    )
    assert (copied.content_type, copied.meta_data) == ("image/x-test", {"k": "v"})
    assert b"".join(local.download_object_as_stream(copied)) == DATA


@pytest.mark.parametrize("bad", ["text", 5, None])
def test_a_chunk_that_is_not_bytes_mid_stream_leaves_nothing(
    local: LocalStorageDriver, root: Path, mode: str, bad: object
) -> None:
    put(local, "kept.bin")
    before = tree(root)
    chunks = iter([DATA * 1000, DATA, bad, DATA])
    with pytest.raises(InvalidInput, match="bytes"):
        call(mode, local, "upload_object_via_stream", chunks, "box", "new.bin")
    with pytest.raises(InvalidInput, match="bytes"):
        call(mode, local, "upload_object_via_stream", iter([b"replaced", bad]), "box",
             "kept.bin")
    assert tree(root) == before
    assert leftovers(local) == []

# -- downloads ---------------------------------------------------------------------


def test_full_and_ranged_downloads(local: LocalStorageDriver, tmp_path: Path, mode: str) -> None:
    obj = put(local, "data.bin")
    assert call(mode, local, "download_object_as_stream", obj) == DATA
    assert call(mode, local, "download_object_as_stream", obj, 3) == DATA  # a chunk size
    assert call(mode, local, "download_object_range_as_stream", obj, 2, 6) == b"2345"
    assert call(mode, local, "download_object_range_as_stream", obj, 10) == b"abcdef"
    assert call(mode, local, "download_object_range_as_stream", obj, 16) == b""
    with pytest.raises(InvalidInput):
        call(mode, local, "download_object_range_as_stream", obj, 17)
    with pytest.raises(InvalidInput):
        call(mode, local, "download_object_range_as_stream", obj, 4, 20)

    whole, part = tmp_path / "whole.bin", tmp_path / "part.bin"
    assert call(mode, local, "download_object", obj, whole) is True
    assert whole.read_bytes() == DATA
    assert call(mode, local, "download_object_range", obj, part, 1, 4) is True
    assert part.read_bytes() == b"123"
    with pytest.raises(InvalidInput, match="already exists"):
        call(mode, local, "download_object", obj, whole)
    put(local, "data.bin", b"replaced")
    assert call(mode, local, "download_object", obj, whole, True) is True
    assert whole.read_bytes() == b"replaced"


def test_a_corrupted_file_fails_a_full_read_and_leaves_nothing(
    local: LocalStorageDriver, root: Path, tmp_path: Path, mode: str
) -> None:
    obj = put(local, "data.bin")
    path = root / "box" / "data.bin"
    before = path.stat()
    path.write_bytes(DATA.replace(b"7", b"X"))  # same size...
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ...same time: same metadata

    with pytest.raises(IntegrityError, match="md5"):
        call(mode, local, "download_object_as_stream", obj)
    out = tmp_path / "downloads"
    out.mkdir()
    with pytest.raises(IntegrityError):
        call(mode, local, "download_object", obj, out / "data.bin")
    assert list(out.iterdir()) == []  # neither the file nor its temporary copy
    # A range is not the whole object: no hash to check it against.
    assert call(mode, local, "download_object_range_as_stream", obj, 6, 9) == b"6X8"


# -- deletes and lookups --------------------------------------------------------------


def test_delete_and_not_found(local: LocalStorageDriver, root: Path, mode: str) -> None:
    obj = put(local, "a/b/c.txt")
    keep = put(local, "a/keep.txt")
    assert call(mode, local, "delete_object", obj) is True
    assert not (root / "a" / "b").exists() and not (root / "box" / "a" / "b").exists()
    assert (root / "box" / "a" / "keep.txt").read_bytes() == DATA  # its directory stays
    assert [o.name for o in local.list_container_objects("box")] == ["a/keep.txt"]
    meta = [json.loads(p.read_text())["name"]
            for p in (root / ".overcast" / "meta" / "box").rglob("*.json")]
    assert meta == ["a/keep.txt"]

    with pytest.raises(ObjectNotFound):
        call(mode, local, "delete_object", obj)
    with pytest.raises(ObjectNotFound):
        call(mode, local, "get_object", "box", "a/b/c.txt")
    with pytest.raises(ObjectNotFound):
        call(mode, local, "download_object_as_stream", obj)
    with pytest.raises(ObjectNotFound):  # a directory is not an object
        call(mode, local, "get_object", "box", "a")
    with pytest.raises(ContainerNotFound):
        call(mode, local, "get_object", "nothing-here", "a/keep.txt")
    assert call(mode, local, "get_object", "box", "a/keep.txt").hash == keep.hash


# -- invalid input ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "../escape", "a/../../b", "..", "/etc/passwd", "a//b", "a/", "./a", "nul\x00byte",
    "back\\slash", "x" * 256, "",
])
def test_invalid_object_names_are_refused_with_nothing_written(
    local: LocalStorageDriver, root: Path, tmp_path: Path, mode: str, name: str
) -> None:
    before = tree(tmp_path)
    with pytest.raises(InvalidInput):
        call(mode, local, "upload_object_via_stream", iter([DATA]), "box", name)
    with pytest.raises(InvalidInput):
        call(mode, local, "get_object", "box", name)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name", ["", "..", ".hidden", ".overcast", "a/b", "../up", "nul\x00",
                                  "tab\there", "/abs"])
def test_invalid_container_names_are_refused_with_nothing_written(
    local: LocalStorageDriver, tmp_path: Path, mode: str, name: str
) -> None:
    before = tree(tmp_path)
    with pytest.raises(InvalidInput):
        call(mode, local, "create_container", name)
    with pytest.raises(InvalidInput):
        call(mode, local, "upload_object_via_stream", iter([DATA]), name, "file")
    with pytest.raises(InvalidInput):
        call(mode, local, "list_container_objects", name)
    assert tree(tmp_path) == before


def test_invalid_attributes_and_options_write_nothing(
    local: LocalStorageDriver, root: Path, mode: str
) -> None:
    before = tree(root)
    with pytest.raises(InvalidInput):
        call(mode, local, "upload_object_via_stream", "text, not bytes", "box", "s")
    with pytest.raises(InvalidInput):
        call(mode, local, "upload_object_via_stream", iter([DATA]), "box", "ct",
             content_type="text/plain\r\nX-Evil: 1")
    ghost = Object("ghost", 3, None, container=Container("box", driver=local), driver=local)
    with pytest.raises(InvalidInput):
        call(mode, local, "download_object_range_as_stream", ghost, -1, 2)
    assert tree(root) == before
    with pytest.raises(InvalidInput):
        LocalStorageDriver(root, page_size=-5)


# -- symbolic links planted in the root ------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the root that the driver must never read, write or delete in."""
    top = tmp_path / "outside"
    (top / "dir").mkdir(parents=True)
    (top / "empty").mkdir()
    (top / "secret.txt").write_bytes(b"not yours")
    (top / "dir" / "inner.txt").write_bytes(b"not yours either")
    return top


@pytest.fixture
def planted(local: LocalStorageDriver, root: Path, outside: Path) -> LocalStorageDriver:
    """Links inside the root to a file and to directories outside it: an object, a
    directory of a container, and whole containers."""
    os.symlink(outside / "secret.txt", root / "box" / "file-link")
    os.symlink(outside / "dir", root / "box" / "dir-link")
    os.symlink(outside / "dir", root / "evil")
    os.symlink(outside / "empty", root / "hollow")
    put(local, "real.txt")
    return local


def snapshot(top: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every entry under ``top`` with its bytes and modification time."""
    return {path: (data, os.lstat(top / path).st_mtime_ns) for path, data in tree(top).items()}


def refused(mode: str, driver: LocalStorageDriver, name: str, *args: object) -> None:
    with pytest.raises((InvalidInput, ObjectNotFound, ContainerNotFound)):
        call(mode, driver, name, *args)


def linked(driver: LocalStorageDriver, container: str, name: str) -> Object:
    return Object(name, 9, None, container=Container(container, driver=driver), driver=driver)


#: Every operation on one object, as ``(operation, arguments)`` for a container
#: and a name (``target`` is the object, ``source`` a file to upload).
OBJECT_OPERATIONS: dict[str, Any] = {
    "get": lambda c, n, target, source, real: ("get_object", c, n),
    "stream": lambda c, n, target, source, real: ("download_object_as_stream", target),
    "range": lambda c, n, target, source, real: ("download_object_range_as_stream", target, 0, 3),
    "download": lambda c, n, target, source, real: (
        "download_object", target, source.with_name("copy.bin")),
    "upload-stream": lambda c, n, target, source, real: (
        "upload_object_via_stream", iter([b"overwritten"]), c, n),
    "upload-file": lambda c, n, target, source, real: ("upload_object", source, c, n),
    "delete": lambda c, n, target, source, real: ("delete_object", target),
    "copy-from": lambda c, n, target, source, real: ("copy_object", target, "box", "copied"),
    "copy-to": lambda c, n, target, source, real: ("copy_object", real, c, n),
}


@pytest.mark.parametrize("operation", sorted(OBJECT_OPERATIONS))
@pytest.mark.parametrize(("container", "name"), [
    ("box", "file-link"), ("box", "dir-link/inner.txt"), ("evil", "inner.txt"),
])
def test_a_planted_link_is_never_followed_to_read_write_or_delete(
    planted: LocalStorageDriver, outside: Path, tmp_path: Path, mode: str,
    container: str, name: str, operation: str,
) -> None:
    before = snapshot(outside)
    source = tmp_path / "source.bin"
    source.write_bytes(b"overwritten")
    real = planted.get_object("box", "real.txt")
    arguments = OBJECT_OPERATIONS[operation](container, name, linked(planted, container, name),
                                             source, real)
    refused(mode, planted, *arguments)
    assert snapshot(outside) == before
    assert not (tmp_path / "copy.bin").exists()
    assert not os.path.lexists(tmp_path / "root" / "box" / "copied")


@pytest.mark.parametrize("name", ["dir-link/new.txt", "dir-link/sub/new.txt"])
def test_no_new_object_is_written_through_a_linked_directory(
    planted: LocalStorageDriver, outside: Path, mode: str, name: str
) -> None:
    before = snapshot(outside)
    refused(mode, planted, "upload_object_via_stream", iter([b"planted"]), "box", name)
    assert snapshot(outside) == before


@pytest.mark.parametrize("container", ["evil", "hollow"])
def test_a_container_that_is_a_link_is_not_a_container(
    planted: LocalStorageDriver, outside: Path, mode: str, container: str
) -> None:
    before = snapshot(outside)
    assert [c.name for c in call(mode, planted, "list_containers")] == ["box"]
    refused(mode, planted, "get_container", container)
    refused(mode, planted, "list_container_objects", container)
    refused(mode, planted, "list_container_entries", container)
    refused(mode, planted, "upload_object_via_stream", iter([b"planted"]), container, "new.txt")
    refused(mode, planted, "delete_container", container)
    with pytest.raises((InvalidInput, ContainerAlreadyExists)):
        call(mode, planted, "create_container", container)
    assert snapshot(outside) == before


def test_listings_skip_links_and_never_stat_through_them(
    planted: LocalStorageDriver, outside: Path, mode: str
) -> None:
    before = snapshot(outside)
    assert [o.name for o in call(mode, planted, "list_container_objects", "box")] == ["real.txt"]
    entries = call(mode, planted, "list_container_entries", "box")
    assert [e.name for e in entries] == ["real.txt"]
    assert call(mode, planted, "list_container_objects", "box", "dir-link/") == []
    assert call(mode, planted, "list_container_entries", "box", "dir-link/") == []
    assert snapshot(outside) == before


@pytest.mark.parametrize(("planted", "target"), [
    ("meta/box", "empty"), ("meta", "empty"), ("locks/box.lock", "lock"), ("locks", "empty"),
    ("tmp", "empty"),
])
def test_links_in_the_private_directory_are_not_followed(
    local: LocalStorageDriver, root: Path, outside: Path, mode: str, planted: str, target: str
) -> None:
    """Metadata, locks and temporaries of a container stay inside the root even when
    their directories or files were replaced by links: the upload is refused."""
    link = root / ".overcast" / planted
    if link.is_dir():
        os.rename(link, link.with_name(link.name + "-moved"))
    os.symlink(outside / target, link)
    before = snapshot(outside)
    with pytest.raises(InvalidInput):
        call(mode, local, "upload_object_via_stream", iter([b"data"]), "box", "a.txt")
    assert snapshot(outside) == before
    assert not (outside / "lock").exists()
    assert not (root / "box" / "a.txt").exists()
    assert os.listdir(root / ".overcast" / "tmp") == []


def test_a_driver_does_not_sweep_through_a_linked_temporary_directory(
    root: Path, outside: Path
) -> None:
    LocalStorageDriver(root)
    os.rename(root / ".overcast" / "tmp", root / ".overcast" / "tmp-gone")
    os.symlink(outside / "dir", root / ".overcast" / "tmp")
    stale = outside / "dir" / "upload-999999999-dead.part"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    before = snapshot(outside)
    with pytest.raises(InvalidInput):
        LocalStorageDriver(root)
    assert snapshot(outside) == before


# -- prefixes -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [
    "../", "../other/", "../.overcast/", "../../", "a/../../", "./", "/", "/etc/",
    "a//", "a/./", "back\\slash/", "nul\x00", "sur\udc80rogate",
])
def test_a_prefix_that_leaves_the_container_is_refused(
    local: LocalStorageDriver, root: Path, tmp_path: Path, mode: str, prefix: str
) -> None:
    local.create_container("other")
    put(local, "mine.txt")
    local.upload_object_via_stream(iter([b"theirs"]), "other", "theirs.txt")
    (tmp_path / "beside.txt").write_bytes(b"outside the root")
    for operation in ("list_container_objects", "list_container_entries"):
        with pytest.raises(InvalidInput):
            call(mode, local, operation, "box", prefix)
    with pytest.raises(InvalidInput):
        call(mode, local, "list_container_objects", "box", None, prefix)  # ex_prefix


@pytest.mark.parametrize(("prefix", "expected"), [
    ("", ["..x", ".hidden", "a/..c", "a/.b", "a/b"]), (".", ["..x", ".hidden"]),
    ("..", ["..x"]), ("a/.", ["a/..c", "a/.b"]), ("a/..", ["a/..c"]),
    ("a/", ["a/..c", "a/.b", "a/b"]),
])
def test_a_prefix_may_end_in_part_of_a_name(
    local: LocalStorageDriver, mode: str, prefix: str, expected: list[str]
) -> None:
    for name in ("..x", ".hidden", "a/.b", "a/..c", "a/b"):
        put(local, name)
    listed = call(mode, local, "list_container_objects", "box", prefix)
    assert [o.name for o in listed] == expected


def test_the_private_directory_never_appears_in_a_listing(
    local: LocalStorageDriver, root: Path, mode: str
) -> None:
    put(local, "a/b.txt")
    containers = [c.name for c in call(mode, local, "list_containers")]
    names = set(containers)
    for container in containers:
        for entry in call(mode, local, "list_container_objects", container):
            names.add(entry.name)
        for entry in call(mode, local, "list_container_entries", container):
            names.add(entry.name)
    assert names == {"box", "a/b.txt", "a/"}
    assert not any(".overcast" in name for name in names)


# -- temporaries of processes that died ---------------------------------------------------


def test_a_new_driver_sweeps_temporaries_by_owner_lock_and_age(root: Path) -> None:
    import fcntl
    import time

    from overcast.runtime.files import STALE_AFTER

    LocalStorageDriver(root)
    tmp = root / ".overcast" / "tmp"
    me = os.getpid()
    gone = 999_999_999  # above any pid_max: no such process
    old = time.time() - STALE_AFTER - 60
    files = {
        f"upload-{gone}-0123abcd.part": None,  # its writer is gone: swept
        f"upload-{me}-0123abcd.part": None,  # a live process's, written lately: kept
        f"upload-{me}-89abcdef.part": old,  # a live pid's, untouched for a day: swept
        "upload-legacy.part": None,  # owner unknown, written lately: kept
        "legacy-old.part": old,  # owner unknown, untouched for a day: swept
        f"meta-{gone}-00000000.part": old,  # held by its writer: kept, however old
    }
    for name, when in files.items():
        (tmp / name).write_bytes(b"partial")
        if when is not None:
            os.utime(tmp / name, (when, when))
    os.mkdir(tmp / f"dir-{gone}-11111111.part")  # not a file: not touched
    with open(tmp / f"meta-{gone}-00000000.part", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        LocalStorageDriver(root)
        assert sorted(os.listdir(tmp)) == sorted([
            f"dir-{gone}-11111111.part", f"meta-{gone}-00000000.part",
            f"upload-{me}-0123abcd.part", "upload-legacy.part",
        ])
