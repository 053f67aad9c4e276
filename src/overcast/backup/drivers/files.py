"""Blocking file-system helpers of the backup drivers, run through
:class:`~overcast.runtime.effects.Call` (a worker thread under the async runner).

A restic 0.14 restore writes ``<target>/<original absolute path>``: restores
go into a staging directory on the destination's file system and are then
moved into place by rename, so a destination never holds half a restore.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = [
    "exists",
    "is_directory",
    "make_staging",
    "move_into_place",
    "remove_tree",
    "staged_files",
    "usable",
]


def exists(path: str) -> bool:
    """Whether ``path`` exists (a dangling symlink counts)."""
    return os.path.lexists(path)


def usable(path: str) -> bool:
    """Whether ``path`` exists, or can be made in an existing directory (a
    destination for restores)."""
    return os.path.lexists(path) or os.path.isdir(os.path.dirname(path) or "/")


def is_directory(path: str) -> bool:
    """Whether ``path`` is a directory."""
    return os.path.isdir(path)


def make_staging(near: str, prefix: str = ".overcast-restore-") -> str:
    """A new private directory beside ``near`` (same file system, so a rename
    moves what is restored into place); its parents are made if missing."""
    parent = os.path.dirname(os.path.abspath(near)) or "/"
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=parent)


def remove_tree(path: str) -> None:
    """Remove ``path`` (a directory tree or a file) if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def _replace(source: str, destination: str) -> None:
    """Put ``source`` at ``destination``: a directory is merged entry by entry
    (what is not in ``source`` stays), anything else replaces what is there."""
    if os.path.isdir(source) and not os.path.islink(source):
        if os.path.isdir(destination) and not os.path.islink(destination):
            stat = os.stat(source)
            for entry in os.listdir(source):
                _replace(os.path.join(source, entry), os.path.join(destination, entry))
            os.chmod(destination, stat.st_mode & 0o7777)
            os.utime(destination, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            return
        remove_tree(destination)
    elif os.path.isdir(destination) and not os.path.islink(destination):
        shutil.rmtree(destination)
    os.replace(source, destination)


def move_into_place(staging: str, restored: str, destination: str) -> None:
    """Move ``restored`` (a path under ``staging``) to ``destination`` by
    renames, merging into an existing directory, then remove ``staging``.
    Directory times are restored last, since filling a directory changes them."""
    try:
        if not os.path.lexists(restored):
            raise FileNotFoundError(restored)
        parent = os.path.dirname(destination)
        if parent:
            os.makedirs(parent, exist_ok=True)
        _replace(restored, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def staged_files(root: str) -> list[tuple[str, str]]:
    """Every regular file under ``root``: ``(relative name with /, full path)``,
    in name order."""
    found = []
    base = Path(root)
    for path in sorted(base.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found.append((path.relative_to(base).as_posix(), str(path)))
    return found
