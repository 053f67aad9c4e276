"""The local storage driver on a temporary directory: every operation family,
in both modes, checked against what is on disk (no server)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

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
    assert [(o.name, o.size, o.hash) for o in listed] == [
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
    assert (obj.name, obj.size, obj.hash, obj.content_type, obj.meta_data) == (
        "docs/hi.txt", 11, md5(b"hello world"), "text/plain", {"owner": "ana"}
    )
    assert (root / "box" / "docs" / "hi.txt").read_bytes() == b"hello world"

    source = tmp_path / "upload.bin"
    source.write_bytes(DATA * 1000)
    from_file = call(mode, local, "upload_object", source, "box", "blob",
                     extra={"content_type": "application/x-demo"})
    assert (from_file.size, from_file.hash, from_file.content_type) == (
        16000, md5(DATA * 1000), "application/x-demo"
    )
    # The metadata stored beside the data is what get_object reports.
    got = call(mode, local, "get_object", "box", "blob")
    assert (got.size, got.hash, got.content_type, got.meta_data) == (
        16000, md5(DATA * 1000), "application/x-demo", {}
    )
    meta = [json.loads(p.read_text()) for p in (root / ".overcast" / "meta" / "box").rglob("*")
            if p.is_file()]
    assert sorted((m["name"], m["md5"], m["size"]) for m in meta) == [
        ("blob", md5(DATA * 1000), 16000), ("docs/hi.txt", md5(b"hello world"), 11)
    ]

    # A second upload replaces the object, and its metadata with it.
    again = call(mode, local, "upload_object_via_stream", b"new", "box", "docs/hi.txt")
    assert (again.size, again.hash, again.meta_data) == (3, md5(b"new"), {})
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
    assert (copied.container_name, copied.name, copied.size, copied.hash) == (
        "other", "dst/copy.bin", len(DATA), md5(DATA)
    )
    assert (copied.content_type, copied.meta_data) == ("image/x-test", {"k": "v"})
    assert b"".join(local.download_object_as_stream(copied)) == DATA


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

