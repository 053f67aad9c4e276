"""The checks storage applies to the bytes it moves: observers, checksums, the
forms MD5 takes, and the checks of a transfer's inputs."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest

from overcast.errors import IntegrityError
from overcast.errors import InvalidInput
from overcast.storage.checks import ChecksumCheck
from overcast.storage.checks import HashCheck
from overcast.storage.checks import ProgressReport
from overcast.storage.checks import SizeCheck
from overcast.storage.checks import b64_to_hex
from overcast.storage.checks import check_range
from overcast.storage.checks import crc32_function
from overcast.storage.checks import crc32c_function
from overcast.storage.checks import guess_type
from overcast.storage.checks import is_md5
from overcast.storage.checks import md5_b64
from overcast.storage.checks import md5_hex
from overcast.storage.checks import pick_checksum

# -- checksums ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "md5", "sha1", "sha256"])
def test_checksum_check_accepts_the_right_value_and_names_a_wrong_one(algorithm: str) -> None:
    data = os.urandom(50_000)
    crc32c = crc32c_function()
    assert crc32c is not None
    raw = {
        "crc32": zlib.crc32(data).to_bytes(4, "big"),
        "crc32c": crc32c(0, data).to_bytes(4, "big"),
    }.get(algorithm) or hashlib.new(algorithm, data).digest()
    expected = base64.b64encode(raw).decode()
    good = ChecksumCheck(algorithm, expected, "obj")
    for start in range(0, len(data), 7000):
        good.update(data[start : start + 7000])
    good.finish()
    bad = ChecksumCheck(algorithm, expected, "obj")
    bad.update(data[:-1] + bytes([data[-1] ^ 1]))
    message = f"obj: {algorithm} is [0-9a-f]+, expected {raw.hex()}"
    with pytest.raises(IntegrityError, match=message):
        bad.finish()


def test_pick_checksum_takes_the_cheapest_it_can_compute() -> None:
    assert pick_checksum({"sha256": "a", "crc32": "b", "md5": "c"}) == ("crc32", "b")
    assert pick_checksum({"sha256": "a", "crc32c": "d", "crc32": "b"}) == ("crc32c", "d")
    assert pick_checksum({"sha256": "a", "sha1": "e"}) == ("sha1", "e")
    assert pick_checksum({"crc64nvme": "f"}) is None
    assert pick_checksum({"crc32": ""}) is None


def test_crc32_without_isal_falls_back_to_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    data = os.urandom(70_000)
    fast = crc32_function()
    monkeypatch.setitem(sys.modules, "isal", None)  # as if python-isal were not installed
    plain = crc32_function()
    assert fast(0, data) == plain(0, data) == zlib.crc32(data)
    assert fast(7, memoryview(data)[:10]) == plain(7, data[:10]) == zlib.crc32(data[:10], 7)


# -- observers and MD5 -------------------------------------------------------------------


def test_size_and_hash_checks_reject_what_does_not_match() -> None:
    size = SizeCheck(5, "obj")
    size.update(b"abcd")
    with pytest.raises(IntegrityError, match="obj: got 4 bytes, expected 5"):
        size.finish()
    SizeCheck(None).finish()  # no size known: nothing to check
    digest = HashCheck("md5", hashlib.md5(b"abc").hexdigest().upper(), "obj")
    digest.update(memoryview(b"abc"))
    digest.finish()  # hex case does not matter
    wrong = HashCheck("md5", hashlib.md5(b"abc").hexdigest())
    wrong.update(b"abd")
    with pytest.raises(IntegrityError, match="md5 is"):
        wrong.finish()


def test_progress_reports_every_chunk() -> None:
    seen: list[tuple[int, int | None]] = []
    report = ProgressReport(lambda done, total: seen.append((done, total)), 7)
    report.update(b"abc")
    report.update(b"defg")
    report.finish()
    assert seen == [(3, 7), (7, 7)]


def test_md5_in_the_forms_providers_write_it() -> None:
    data = b"hello"
    assert md5_hex(data) == hashlib.md5(data).hexdigest()
    assert md5_b64(memoryview(data)) == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert b64_to_hex(md5_b64(data)) == md5_hex(data)
    assert b64_to_hex("not base64!") is None and b64_to_hex(None) is None
    assert is_md5(md5_hex(data)) and is_md5(md5_hex(data).upper())
    assert not is_md5(f"{md5_hex(data)}-3") and not is_md5(None)


# -- inputs --------------------------------------------------------------------------------


def test_ranges_are_checked_against_the_size_when_known() -> None:
    assert check_range(10, 0, None) == (0, None)
    assert check_range(10, 10, None) == (10, None)
    assert check_range(None, 3, 99) == (3, 99)
    for size, start, end in ((10, -1, None), (10, 5, 4), (10, 11, None), (10, 0, 11),
                             (None, "0", None)):
        with pytest.raises(InvalidInput):
            check_range(size, start, end)  # type: ignore[arg-type]


def test_content_types_are_guessed_from_names() -> None:
    assert guess_type("a/b.txt") == "text/plain"
    assert guess_type("no-extension") == "application/octet-stream"
