"""The installed ``overcast`` entry point, run as a user runs it (a subprocess),
against the real servers the suite starts: SeaweedFS (S3) and Azurite (Azure Blob).

* ``sync`` of 2,000 objects SeaweedFS -> Azurite copies them all, and a second
  run copies nothing;
* ``cp`` of 1 GiB keeps the child's peak RSS under a bound derived from the
  part size and the parts in flight (measured with ``resource`` in a wrapper
  process that waits for it), for a file up to S3, S3 to Azure object to object,
  and Azure down to a file; the progress bar's total is on stderr;
* errors are one line on stderr and an exit code; presigned URLs work.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from servers.cli_runner import overcast_script
from servers.seaweedfs import seaweedfs_server
from servers.storage_azure import ACCOUNT
from servers.storage_azure import KEY
from servers.storage_azure import azurite

pytestmark = pytest.mark.server

MiB = 1024 * 1024

#: Runs the command given in argv, then prints its peak RSS (KiB) as the last line.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


class Overcast:
    """The entry point with this test's config."""

    def __init__(self, tmp_path: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.env.update(OVERCAST_CONFIG=str(tmp_path / "config.toml"),
                        OVERCAST_SECRET_STORE="file")
        self.script = overcast_script()

    def __call__(self, *args: str, input: str | None = None, ok: bool = True,
                 measure: bool = False) -> subprocess.CompletedProcess[str]:
        argv = [self.script, *args]
        if measure:
            argv = [sys.executable, "-c", _MEASURE, *argv]
        done = subprocess.run(argv, input=input, capture_output=True, text=True,
                              env=self.env, timeout=900, check=False)
        if ok:
            assert done.returncode == 0, (args, done.returncode, done.stdout[-2000:],
                                          done.stderr[-3000:])
        return done


def peak_rss(done: subprocess.CompletedProcess[str]) -> int:
    """The measured child's peak RSS in bytes (the last line of its stderr)."""
    return int(done.stderr.strip().splitlines()[-1]) * 1024


@pytest.fixture
def overcast(tmp_path: Path, request: pytest.FixtureRequest) -> Overcast:
    """The command with two profiles: ``sw`` (SeaweedFS) and ``az`` (Azurite)."""
    run = Overcast(tmp_path)
    weed = seaweedfs_server(request)
    blob = azurite(request)
    run("profile", "add", "sw", "--driver", "s3", "--endpoint", weed.url,
        "--key", weed.access_key, "--secret-stdin", input=weed.secret_key + "\n")
    run("profile", "add", "az", "--driver", "azure_blobs", "--endpoint", blob.endpoint,
        "--key", ACCOUNT, "--secret-stdin", input=KEY + "\n")
    return run


def _name() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def test_sync_of_2000_objects_seaweedfs_to_azurite_is_idempotent(
    overcast: Overcast, tmp_path: Path
) -> None:
    bucket, container = _name(), _name()
    source = tmp_path / "files"
    for i in range(2000):
        path = source / f"d{i % 20:02}" / f"f{i:04}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"object {i}\n".encode() * (1 + i % 7))
    overcast("mb", f"sw:{bucket}")
    overcast("sync", "--jobs", "8", str(source), f"sw:{bucket}/data")

    first = overcast("sync", "--json", "--jobs", "8", f"sw:{bucket}/data", f"az:{container}")
    actions = json.loads(first.stdout)
    assert len(actions) == 2000 and {a["action"] for a in actions} == {"copy"}
    listed = json.loads(overcast("ls", "--json", "-r", f"az:{container}").stdout)
    assert len(listed) == 2000
    assert overcast("cat", f"az:{container}/d07/f0007.txt").stdout == "object 7\n"

    second = overcast("sync", "--json", "--jobs", "8", f"sw:{bucket}/data", f"az:{container}")
    assert json.loads(second.stdout) == []
    assert "0 to copy, 0 to delete, 2000 unchanged" in second.stderr
    # nor does a sync of the local files onto SeaweedFS copy anything again
    again = overcast("sync", str(source), f"sw:{bucket}/data")
    assert again.stdout == ""

    # --delete past the safety limit is refused and changes nothing
    overcast("rm", "-r", f"sw:{bucket}/data/d0")  # d00..d09: 1,000 objects
    refused = overcast("sync", "--delete", f"sw:{bucket}/data", f"az:{container}", ok=False)
    assert refused.returncode == 7 and "refusing to delete 1000 of the 2000" in refused.stderr
    assert len(json.loads(overcast("ls", "--json", "-r", f"az:{container}").stdout)) == 2000


def test_cp_of_1gib_keeps_memory_bounded(overcast: Overcast, tmp_path: Path) -> None:
    size = 1024 * MiB
    big = tmp_path / "big.bin"
    digest = hashlib.md5(usedforsecurity=False)
    block = os.urandom(MiB)
    with big.open("wb") as out:
        for i in range(size // MiB):
            chunk = block[i % 997:] + block[:i % 997]
            digest.update(chunk)
            out.write(chunk)
    bucket, container = _name(), _name()
    overcast("mb", f"sw:{bucket}")
    overcast("mb", f"az:{container}")
    baseline = peak_rss(overcast("ls", f"sw:{bucket}", measure=True))
    part_size, in_flight = 8 * MiB, 4  # --part-size; the drivers' default parts in flight
    bound = baseline + 3 * part_size * in_flight

    up = overcast("cp", "--part-size", "8MiB", str(big), f"sw:{bucket}/big.bin", measure=True)
    assert "total (1 files)" in up.stderr and "1.1/1.1 GB" in up.stderr
    across = overcast("cp", "--part-size", "8MiB", f"sw:{bucket}/big.bin",
                      f"az:{container}/big.bin", measure=True)
    down = overcast("cp", f"az:{container}/big.bin", str(tmp_path / "back.bin"), measure=True)
    peaks = {"up": peak_rss(up), "across": peak_rss(across), "down": peak_rss(down)}
    print(f"baseline {baseline / MiB:.0f} MiB; peaks (MiB): "
          + ", ".join(f"{k} {v / MiB:.0f}" for k, v in peaks.items())
          + f"; bound {bound / MiB:.0f} MiB")
    assert all(peak < bound for peak in peaks.values()), (peaks, bound)
    back = hashlib.md5(usedforsecurity=False)
    with (tmp_path / "back.bin").open("rb") as source:
        for chunk in iter(lambda: source.read(MiB), b""):
            back.update(chunk)
    assert back.hexdigest() == digest.hexdigest()
    info: dict[str, Any] = json.loads(overcast("stat", "--json", f"az:{container}/big.bin").stdout)
    assert info["size"] == size


def test_errors_presign_and_cat_through_the_entry_point(overcast: Overcast,
                                                        tmp_path: Path) -> None:
    bucket = _name()
    overcast("mb", f"sw:{bucket}")
    (tmp_path / "hello.txt").write_text("hello, world\n")
    overcast("cp", str(tmp_path / "hello.txt"), f"sw:{bucket}/")
    url = overcast("presign", "--expires", "600", f"sw:{bucket}/hello.txt").stdout.strip()
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert answer.read() == b"hello, world\n"
    missing = overcast("cat", f"sw:{bucket}/absent", ok=False)
    assert missing.returncode == 3
    assert missing.stderr.strip().splitlines() == [
        missing.stderr.strip().splitlines()[0]]
    assert missing.stderr.startswith("overcast: error: ObjectNotFound")
    exists = overcast("mb", f"sw:{bucket}", ok=False)
    assert exists.returncode == 4 and "ContainerAlreadyExists" in exists.stderr
    usage = overcast("cp", "only-one-argument", ok=False)
    assert usage.returncode == 2
    # a wrong secret: the provider refuses, and no secret is printed
    weed_url = json.loads(overcast("profile", "show", "--json", "sw").stdout)["endpoint"]
    overcast("profile", "add", "wrong", "--driver", "s3", "--endpoint", weed_url,
             "--key", "AKIDWRONG", "--secret-stdin", input="not-the-secret-0123\n")
    refused = overcast("ls", "wrong:", ok=False)
    assert refused.returncode in (4, 5) and "not-the-secret-0123" not in refused.stderr
