"""Resumable downloads for ``cp``: an interrupted object-to-file copy continues
where it stopped when the same ``cp`` runs again.

The bytes go to ``DEST.overcast-partial`` beside the destination, and a small
sidecar ``DEST.overcast-partial.json`` records which version of which object
they are (its URL, size, ETag/hash and modification time). On the next run, if
the source still has that version, the download continues from the partial
file's length with a ranged read
(:meth:`~overcast.storage.base.StorageDriver.download_object_range_as_stream`);
otherwise it starts over. Once every byte is there, the file is checked (its
size, and its MD5 when the object's is known), flushed to disk and renamed onto
the destination in one step, and the sidecar is removed: nothing half-written
ever carries the destination's name. A failed or killed run leaves the partial
file and its sidecar for the next run; a partial that fails its check is
deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from overcast.errors import IntegrityError

if TYPE_CHECKING:
    from overcast.storage.base import Object
    from overcast.storage.base import StorageDriver

__all__ = [
    "PARTIAL_SUFFIX",
    "SIDECAR_SUFFIX",
    "Version",
    "download_resumable",
    "is_partial",
    "partial_paths",
]

#: The partial file sits beside the destination under this suffix.
PARTIAL_SUFFIX: Final = ".overcast-partial"
#: The sidecar recording the partial file's source version.
SIDECAR_SUFFIX: Final = ".overcast-partial.json"
_SIDECAR_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class Version:
    """What identifies the bytes of one version of an object: where it is, its
    size, its ETag (or hash) and its modification time."""

    source: str
    size: int
    etag: str | None
    last_modified: str | None

    @classmethod
    def of(cls, obj: Object, source: str) -> Version:
        """The version ``obj`` (fresh metadata) is, read from ``source``."""
        etag = obj.extra.get("etag") if isinstance(obj.extra.get("etag"), str) else None
        when = obj.last_modified.isoformat() if obj.last_modified is not None else None
        return cls(source, obj.size, etag or obj.hash, when)

    def to_json(self) -> str:
        """The sidecar's text."""
        return json.dumps({"format": _SIDECAR_FORMAT, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Version | None:
        """The version a sidecar records, or None if it is not one this code wrote."""
        try:
            data: Any = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("format") != _SIDECAR_FORMAT:
            return None
        try:
            return cls(str(data["source"]), int(data["size"]), data["etag"],
                       data["last_modified"])
        except (KeyError, TypeError, ValueError):
            return None


def partial_paths(target: str) -> tuple[str, str]:
    """The partial file and the sidecar of a download to ``target``."""
    return target + PARTIAL_SUFFIX, target + SIDECAR_SUFFIX


def is_partial(name: str) -> bool:
    """Whether ``name`` is a partial download or its sidecar (never copied or
    synced as a file of its own)."""
    return name.endswith((PARTIAL_SUFFIX, SIDECAR_SUFFIX, SIDECAR_SUFFIX + ".tmp"))


def _read_sidecar(path: str) -> Version | None:
    try:
        with open(path, encoding="utf-8") as source:
            return Version.from_json(source.read())
    except (OSError, UnicodeDecodeError):
        return None


def _write_sidecar(path: str, version: Version) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(version.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _discard(*paths: str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _md5_of_file(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_directory(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def download_resumable(driver: StorageDriver, obj: Object, target: str, *, source: str,
                       resume: bool = True,
                       progress: Callable[[int, int | None], None] | None = None) -> int:
    """Download ``obj`` to ``target`` through a partial file that a later call
    continues (see the module); ``source`` names the object (its URL) in the
    sidecar. With ``resume=False`` an existing partial is discarded first.
    Returns the number of bytes read from the provider by this call."""
    partial, sidecar = partial_paths(target)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    version = Version.of(obj, source)
    offset = 0
    if resume and os.path.exists(partial) and _read_sidecar(sidecar) == version:
        offset = os.path.getsize(partial)
        if offset > obj.size:
            offset = 0
    if offset == 0:
        _discard(partial)
        _write_sidecar(sidecar, version)
        with open(partial, "wb"):
            pass
    read = 0
    if progress is not None:
        progress(offset, obj.size)
    if offset < obj.size or obj.size == 0:
        body = driver.download_object_range_as_stream(obj, offset, None)
        try:
            with open(partial, "r+b") as out:
                out.truncate(offset)
                out.seek(offset)
                try:
                    for chunk in body:
                        out.write(chunk)
                        out.flush()  # what arrived is on disk for the next run
                        read += len(chunk)
                        if progress is not None:
                            progress(offset + read, obj.size)
                finally:
                    out.flush()
                    os.fsync(out.fileno())
        except IntegrityError:
            _discard(partial, sidecar)  # a whole read that failed its check
            raise
        finally:
            close = getattr(body, "close", None)
            if callable(close):
                close()
    size = os.path.getsize(partial)
    md5 = obj.content_md5
    if size != obj.size or (offset and md5 and _md5_of_file(partial) != md5):
        _discard(partial, sidecar)
        what = f"{size} bytes, not {obj.size}" if size != obj.size else "the MD5 differs"
        raise IntegrityError(f"{source}: the resumed download does not match ({what}); "
                             "the partial file was removed: run the copy again")
    os.replace(partial, target)
    _fsync_directory(target)
    _discard(sidecar)
    return read
