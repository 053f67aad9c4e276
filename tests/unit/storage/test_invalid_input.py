"""Hostile input on every storage driver, in both modes: text that is not valid
UTF-8 (lone surrogates) and upload chunks that are not bytes are
:class:`~overcast.errors.InvalidInput` before anything is sent or written, never
an exception of Python's own (``UnicodeEncodeError``, ``TypeError``)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.errors import InvalidInput
from overcast.runtime.policy import RetryPolicy
from overcast.storage.base import Container
from overcast.storage.base import Object
from overcast.storage.base import StorageDriver
from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
from overcast.storage.drivers.google_storage import GoogleStorageDriver
from overcast.storage.drivers.local import LocalStorageDriver
from overcast.storage.drivers.s3 import S3StorageDriver
from overcast.storage.drivers.swift import SwiftStorageDriver
from overcast.testing import Script
from overcast.testing import call

#: A lone surrogate: a ``str`` that no UTF-8 encoder (nor the file system's) takes.
LONE = "\ud800"
#: The surrogate ``os.fsdecode`` makes of the byte 0x80: not valid UTF-8 either.
ESCAPED = "\udc80"


def _local(script: Script, tmp_path: Path) -> StorageDriver:
    driver = LocalStorageDriver(tmp_path / "root")
    driver.create_container("box")
    driver.upload_object_via_stream(iter([b"abc"]), "box", "k")
    return driver


def _s3(script: Script, tmp_path: Path) -> StorageDriver:
    return S3StorageDriver("AKIDUNIT", "unit-secret", endpoint="http://s3.test",
                           retry=RetryPolicy(max_attempts=1), **script.options())


def _azure(script: Script, tmp_path: Path) -> StorageDriver:
    return AzureBlobsStorageDriver("acct", base64.b64encode(b"k" * 32).decode(),
                                   endpoint="http://azure.test/acct",
                                   retry=RetryPolicy(max_attempts=1), **script.options())


def _google(script: Script, tmp_path: Path) -> StorageDriver:
    return GoogleStorageDriver(project="proj", endpoint="http://gcs.test", anonymous=True,
                               retry=RetryPolicy(max_attempts=1), **script.options())


def _swift(script: Script, tmp_path: Path) -> StorageDriver:
    return SwiftStorageDriver("test:tester", "testing", auth_url="http://swift.test/auth/v1.0",
                              retry=RetryPolicy(max_attempts=1), **script.options())


DRIVERS: dict[str, Callable[[Script, Path], StorageDriver]] = {
    "local": _local, "s3": _s3, "azure_blobs": _azure, "google_storage": _google,
    "swift": _swift,
}


def _tree(top: Path) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs:
            found[os.path.relpath(os.path.join(directory, name), top)] = None
        for name in files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, top)] = Path(path).read_bytes()
    return found


@pytest.fixture(params=sorted(DRIVERS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _object(name: str, container: str = "box") -> Object:
    return Object(name, 3, None, container=Container(container))


def _upload(*more: Any, **options: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """An upload of three bytes to ``box/k`` with these extra arguments."""
    return "upload_object_via_stream", (iter([b"abc"]), "box", "k", *more), options


#: Every place a caller's text reaches a request or the disk, with a lone surrogate
#: in it: ``(operation, arguments, keyword arguments)`` given the surrogate.
TEXT_CASES: dict[str, Callable[[str], tuple[str, tuple[Any, ...], dict[str, Any]]]] = {
    "container": lambda s: ("get_container", (f"bo{s}x",), {}),
    "new-container": lambda s: ("create_container", (f"bo{s}x",), {}),
    "object": lambda s: ("get_object", ("box", f"k{s}"), {}),
    "object-of-listing": lambda s: ("list_container_objects", (f"bo{s}x",), {}),
    "delete": lambda s: ("delete_object", (_object(f"k{s}"),), {}),
    "download": lambda s: ("download_object_as_stream", (_object(f"k{s}"),), {}),
    "upload-name": lambda s: ("upload_object_via_stream", (iter([b"abc"]), "box", f"k{s}"), {}),
    "copy-target": lambda s: ("copy_object", (_object("k"), "box", f"t{s}"), {}),
    "prefix": lambda s: ("list_container_objects", ("box", f"p{s}"), {}),
    "ex-prefix": lambda s: ("list_container_objects", ("box", None, f"p{s}"), {}),
    "entries-prefix": lambda s: ("list_container_entries", ("box", f"p{s}"), {}),
    "delimiter": lambda s: ("list_container_entries", ("box",), {"delimiter": s}),
    "content-type": lambda s: _upload(content_type=f"text/{s}"),
    "meta-value": lambda s: _upload(meta_data={"a": f"b{s}"}),
    "meta-key": lambda s: _upload(meta_data={f"a{s}": "b"}),
    "header": lambda s: _upload(None, {"x-note": f"v{s}"}),
}


@pytest.mark.parametrize("surrogate", [LONE, ESCAPED], ids=["lone", "escaped"])
@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_text_that_is_not_utf8_is_invalid_input_and_sends_nothing(
    kind: str, mode: str, tmp_path: Path, case: str, surrogate: str
) -> None:
    script = Script()
    driver = DRIVERS[kind](script, tmp_path)
    before = _tree(tmp_path)
    operation, args, kwargs = TEXT_CASES[case](surrogate)
    with pytest.raises(InvalidInput):
        call(mode, driver, operation, *args, **kwargs)
    assert script.received == []
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("prefix", [5, b"bytes", ["a"]], ids=["int", "bytes", "list"])
def test_a_prefix_that_is_not_text_is_invalid_input(
    kind: str, mode: str, tmp_path: Path, prefix: Any
) -> None:
    script = Script()
    driver = DRIVERS[kind](script, tmp_path)
    with pytest.raises(InvalidInput):
        call(mode, driver, "list_container_objects", "box", prefix)
    assert script.received == []


def _chunks(bad: Any) -> Iterator[Any]:
    yield bad
    yield b"never read"


@pytest.mark.parametrize("bad", ["text", 5, None], ids=["str", "int", "None"])
@pytest.mark.parametrize("shape", ["iterator", "list", "first-of-many", "after-bytes"])
def test_a_chunk_that_is_not_bytes_is_invalid_input_and_nothing_is_written(
    kind: str, mode: str, tmp_path: Path, bad: Any, shape: str
) -> None:
    script = Script()
    driver = DRIVERS[kind](script, tmp_path)
    before = _tree(tmp_path)
    source: Any = {
        "iterator": iter([bad]),
        "list": [bad],
        "first-of-many": _chunks(bad),
        "after-bytes": iter([b"ok", bad]),  # still within one request: nothing sent yet
    }[shape]
    with pytest.raises(InvalidInput, match="bytes"):
        call(mode, driver, "upload_object_via_stream", source, "box", "k")
    assert script.received == []
    assert _tree(tmp_path) == before


def test_a_file_object_that_reads_text_is_invalid_input(
    kind: str, mode: str, tmp_path: Path
) -> None:
    script = Script()
    driver = DRIVERS[kind](script, tmp_path)
    text = tmp_path / "text.txt"
    text.write_text("read as str")
    before = _tree(tmp_path)
    with text.open() as reader, pytest.raises(InvalidInput, match="bytes"):
        call(mode, driver, "upload_object_via_stream", reader, "box", "k")
    assert script.received == []
    assert _tree(tmp_path) == before


async def _async_chunks(bad: Any) -> Any:
    yield b"ok"
    yield bad


def test_a_bad_chunk_of_an_async_iterable_is_invalid_input(kind: str, tmp_path: Path) -> None:
    script = Script()
    driver = DRIVERS[kind](script, tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(InvalidInput, match="bytes"):
        call("async", driver, "upload_object_via_stream", _async_chunks(7), "box", "k")
    assert script.received == []
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("operation", ["download_object", "download_object_range"])
def test_a_destination_the_file_system_cannot_name_is_invalid_input(
    kind: str, mode: str, tmp_path: Path, operation: str
) -> None:
    script = Script()
    driver = DRIVERS[kind](script, tmp_path)
    before = _tree(tmp_path)
    args = (0, 2) if operation == "download_object_range" else ()
    for destination in (tmp_path / f"x{LONE}", tmp_path / f"d{LONE}" / "x"):
        with pytest.raises(InvalidInput):
            call(mode, driver, operation, _object("k"), destination, *args)
    assert script.received == []
    assert _tree(tmp_path) == before
