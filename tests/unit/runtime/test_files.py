"""Atomic files: nothing visible until commit, nothing left after discard."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from overcast.errors import InvalidInput
from overcast.runtime.files import AtomicFile
from overcast.runtime.files import write_atomic


def _writeback_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "overcast-writeback")


def test_ranges_written_out_of_order_with_writeback_commit_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    parts = [os.urandom(100_000) for _ in range(4)]
    before = _writeback_threads()
    f = AtomicFile(str(target), overwrite=False)
    for index in (2, 0, 3, 1):
        f.write_at(index * 100_000, parts[index])
        f.start_writeback(index * 100_000, 100_000)
    assert not target.exists()
    f.commit()
    assert target.read_bytes() == b"".join(parts)
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert _writeback_threads() == before  # the writeback thread ended with the file
    assert list(tmp_path.iterdir()) == [target]


def test_discard_leaves_nothing_and_stops_writeback(tmp_path: Path) -> None:
    before = _writeback_threads()
    f = AtomicFile(str(tmp_path / "gone.bin"), overwrite=False)
    f.write_at(0, b"x" * 50_000)
    f.start_writeback(0, 50_000)
    f.discard()
    assert list(tmp_path.iterdir()) == []
    assert _writeback_threads() == before


def test_commit_never_clobbers_a_file_that_appeared(tmp_path: Path) -> None:
    target = tmp_path / "raced.bin"
    f = AtomicFile(str(target), overwrite=False)
    f.write(b"mine")
    target.write_bytes(b"theirs")
    with pytest.raises(InvalidInput, match="already exists"):
        f.commit()
    assert target.read_bytes() == b"theirs"
    assert list(tmp_path.iterdir()) == [target]


def test_write_atomic_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.txt"
    write_atomic(str(target), "one", make_dirs=True)
    write_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"
