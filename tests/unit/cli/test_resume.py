"""Resumable downloads (overcast.cli.resume) on the local storage driver: a
partial of the same version is continued, one of another version or with an
unreadable sidecar is started over, and a resumed file that fails its MD5 is
removed, never renamed onto the destination."""

from __future__ import annotations

from pathlib import Path

import pytest

from overcast.cli.resume import Version
from overcast.cli.resume import download_resumable
from overcast.cli.resume import is_partial
from overcast.cli.resume import partial_paths
from overcast.errors import IntegrityError
from overcast.storage.base import Object
from overcast.storage.drivers.local import LocalStorageDriver

DATA = bytes(range(256)) * 400


@pytest.fixture
def stored(tmp_path: Path) -> tuple[LocalStorageDriver, Object]:
    driver = LocalStorageDriver(str(tmp_path / "root"))
    driver.create_container("box")
    source = tmp_path / "data.bin"
    source.write_bytes(DATA)
    driver.upload_object(str(source), "box", "data.bin")
    return driver, driver.get_object("box", "data.bin")


def _seed(target: Path, obj: Object, length: int, *, source: str = "loc:box/data.bin",
          sidecar_text: str | None = None, data: bytes = DATA) -> None:
    partial, sidecar = partial_paths(str(target))
    Path(partial).write_bytes(data[:length])
    Path(sidecar).write_text(sidecar_text if sidecar_text is not None
                             else Version.of(obj, source).to_json())


def test_the_same_version_is_continued(stored: tuple[LocalStorageDriver, Object],
                                       tmp_path: Path) -> None:
    driver, obj = stored
    target = tmp_path / "out.bin"
    _seed(target, obj, 40_000)
    seen: list[int] = []
    read = download_resumable(driver, obj, str(target), source="loc:box/data.bin",
                              progress=lambda done, total: seen.append(done))
    assert read == len(DATA) - 40_000
    assert seen[0] == 40_000 and seen[-1] == len(DATA)
    assert target.read_bytes() == DATA
    assert not any(Path(p).exists() for p in partial_paths(str(target)))


@pytest.mark.parametrize("sidecar", ["not json", '{"format": 99}', None])
def test_another_version_or_a_bad_sidecar_starts_over(
        stored: tuple[LocalStorageDriver, Object], tmp_path: Path, sidecar: str | None) -> None:
    driver, obj = stored
    target = tmp_path / "out.bin"
    text = sidecar if sidecar is not None else Version(
        "loc:box/data.bin", obj.size, "another-etag", None).to_json()
    _seed(target, obj, 40_000, sidecar_text=text, data=b"x" * len(DATA))
    read = download_resumable(driver, obj, str(target), source="loc:box/data.bin")
    assert read == len(DATA)
    assert target.read_bytes() == DATA


def test_another_source_or_no_resume_starts_over(stored: tuple[LocalStorageDriver, Object],
                                                 tmp_path: Path) -> None:
    driver, obj = stored
    target = tmp_path / "out.bin"
    _seed(target, obj, 40_000, source="other:box/data.bin", data=b"x" * len(DATA))
    assert download_resumable(driver, obj, str(target), source="loc:box/data.bin") == len(DATA)
    _seed(target, obj, 40_000)
    assert download_resumable(driver, obj, str(target), source="loc:box/data.bin",
                              resume=False) == len(DATA)
    assert target.read_bytes() == DATA


def test_a_resumed_file_that_fails_its_md5_is_removed(
        stored: tuple[LocalStorageDriver, Object], tmp_path: Path) -> None:
    driver, obj = stored
    assert obj.content_md5 is not None
    target = tmp_path / "out.bin"
    _seed(target, obj, 40_000, data=b"y" * 40_000)  # right version, wrong bytes
    with pytest.raises(IntegrityError):
        download_resumable(driver, obj, str(target), source="loc:box/data.bin")
    assert not target.exists()
    assert not any(Path(p).exists() for p in partial_paths(str(target)))


def test_partial_names() -> None:
    assert is_partial("a/b.bin.overcast-partial") and is_partial("b.overcast-partial.json")
    assert not is_partial("b.bin")
