"""``overcast cp`` resumes an interrupted download: the installed entry point,
SeaweedFS (S3) behind a proxy that cuts the download after a known number of
bytes and then stays down (so the runtime's own in-run resumption fails too and
the command exits with the partial file left). The next run reads only the
rest, with a ranged GET, and the result is byte-identical; a changed source or
``--no-resume`` starts over; nothing half-written ever has the destination's
name."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.cli_runner import overcast_script
from servers.cutproxy import CutProxy
from servers.seaweedfs import seaweedfs_server

pytestmark = pytest.mark.server

MiB = 1024 * 1024
SIZE = 8 * MiB + 321
CUT = 3 * MiB + 12345


class Run:
    """The entry point with this test's config."""

    def __init__(self, tmp_path: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.env.update(OVERCAST_CONFIG=str(tmp_path / "config.toml"),
                        OVERCAST_SECRET_STORE="file")
        self.script = overcast_script()

    def __call__(self, *args: str, input: str | None = None,
                 code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([self.script, *args], input=input, capture_output=True,
                              text=True, env=self.env, timeout=300, check=False)
        assert done.returncode == code, (args, done.returncode, done.stdout[-2000:],
                                         done.stderr[-3000:])
        return done


@pytest.fixture
def proxied(tmp_path: Path, request: pytest.FixtureRequest
            ) -> Iterator[tuple[Run, CutProxy, str]]:
    """The command with a profile ``sw`` reaching SeaweedFS through the cut
    proxy, and a fresh bucket."""
    weed = seaweedfs_server(request)
    run = Run(tmp_path)
    with CutProxy(weed.url) as proxy:
        run("profile", "add", "sw", "--driver", "s3", "--endpoint", proxy.url,
            "--key", weed.access_key, "--secret-stdin", input=weed.secret_key + "\n")
        bucket = f"resume-{uuid.uuid4().hex[:12]}"
        run("mb", f"sw:{bucket}")
        yield run, proxy, bucket


def _upload(run: Run, tmp_path: Path, bucket: str, seed: bytes) -> bytes:
    data = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
                    for i in range(SIZE // 32 + 1))[:SIZE]
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    run("cp", str(source), f"sw:{bucket}/big.bin")
    return data


def _interrupt(run: Run, proxy: CutProxy, bucket: str, dest: Path) -> None:
    """A download cut after CUT bytes, the network then gone: the command fails."""
    proxy.cut_after(CUT, "/big.bin")
    failed = run("cp", f"sw:{bucket}/big.bin", str(dest), code=4)
    assert "overcast: error:" in failed.stderr
    assert proxy.cuts >= 1
    proxy.restore()
    proxy.reset_counts()
    assert not dest.exists()  # nothing half-written under the destination's name


def test_an_interrupted_download_resumes_with_only_the_rest(
        proxied: tuple[Run, CutProxy, str], tmp_path: Path) -> None:
    run, proxy, bucket = proxied
    data = _upload(run, tmp_path, bucket, b"one")
    dest = tmp_path / "out" / "big.bin"
    partial = Path(f"{dest}.overcast-partial")
    sidecar = Path(f"{dest}.overcast-partial.json")
    _interrupt(run, proxy, bucket, dest)
    assert partial.stat().st_size == CUT and sidecar.exists()
    assert partial.read_bytes() == data[:CUT]

    run("cp", f"sw:{bucket}/big.bin", str(dest))
    assert proxy.ranges == [f"bytes={CUT}-"]  # one ranged read, from where it stopped
    assert proxy.body_bytes == SIZE - CUT  # only the rest was read
    assert dest.read_bytes() == data
    assert not partial.exists() and not sidecar.exists()


def test_a_changed_source_or_no_resume_starts_over(
        proxied: tuple[Run, CutProxy, str], tmp_path: Path) -> None:
    run, proxy, bucket = proxied
    _upload(run, tmp_path, bucket, b"one")
    dest = tmp_path / "big.bin"
    _interrupt(run, proxy, bucket, dest)
    changed = _upload(run, tmp_path, bucket, b"two")  # same size, other bytes and ETag
    proxy.reset_counts()
    run("cp", f"sw:{bucket}/big.bin", str(dest))
    assert proxy.body_bytes == SIZE and proxy.ranges[-1] in (None, "bytes=0-")
    assert dest.read_bytes() == changed

    dest.unlink()
    _interrupt(run, proxy, bucket, dest)
    assert Path(f"{dest}.overcast-partial").stat().st_size == CUT
    run("cp", "--no-resume", f"sw:{bucket}/big.bin", str(dest))
    assert proxy.body_bytes == SIZE
    assert dest.read_bytes() == changed
    assert not Path(f"{dest}.overcast-partial").exists()


def test_a_partial_file_is_not_copied_as_a_file(
        proxied: tuple[Run, CutProxy, str], tmp_path: Path) -> None:
    """A directory holding a partial download syncs without it."""
    run, proxy, bucket = proxied
    _upload(run, tmp_path, bucket, b"one")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "kept.txt").write_bytes(b"kept\n")
    _interrupt(run, proxy, bucket, tree / "big.bin")
    run("sync", str(tree), f"sw:{bucket}/mirror/")
    listed = run("ls", "-r", f"sw:{bucket}/mirror/").stdout.split()
    assert listed == ["mirror/kept.txt"]


def test_an_interrupted_upload_sends_only_the_missing_parts(
        proxied: tuple[Run, CutProxy, str], tmp_path: Path) -> None:
    """S3 lists unfinished uploads and their parts: the re-run continues the
    upload the failed run left, sending only the parts the server lacks;
    --no-resume sends everything."""
    run, proxy, bucket = proxied
    part = 5 * MiB
    data = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest()
                    for i in range(4 * part // 32))
    source = tmp_path / "up.bin"
    source.write_bytes(data)
    proxy.down_after_puts(2, "uploadId=")  # two parts go up, then the network is gone
    failed = run("cp", "--part-size", "5MiB", str(source), f"sw:{bucket}/up.bin", code=4)
    assert "overcast: error:" in failed.stderr
    proxy.restore()
    proxy.reset_counts()
    run("cp", "--part-size", "5MiB", str(source), f"sw:{bucket}/up.bin")
    assert proxy.put_bytes == len(data) - 2 * part  # the two parts held were not sent
    run("cp", f"sw:{bucket}/up.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data

    proxy.down_after_puts(2, "uploadId=")
    run("cp", "--part-size", "5MiB", str(source), f"sw:{bucket}/again.bin", code=4)
    proxy.restore()
    proxy.reset_counts()
    run("cp", "--no-resume", "--part-size", "5MiB", str(source), f"sw:{bucket}/again.bin")
    assert proxy.put_bytes == len(data)


@pytest.fixture
def azure_proxied(tmp_path: Path, request: pytest.FixtureRequest
                  ) -> Iterator[tuple[Run, CutProxy, str]]:
    """The command with a profile ``az`` reaching Azurite through the cut proxy,
    and a fresh container."""
    from servers.storage_azure import ACCOUNT
    from servers.storage_azure import KEY
    from servers.storage_azure import azurite

    blob = azurite(request)
    run = Run(tmp_path)
    with CutProxy(f"http://127.0.0.1:{blob.port}") as proxy:
        run("profile", "add", "az", "--driver", "azure_blobs", "--endpoint",
            f"{proxy.url}/{ACCOUNT}", "--key", ACCOUNT, "--secret-stdin", input=KEY + "\n")
        container = f"resume-{uuid.uuid4().hex[:12]}"
        run("mb", f"az:{container}")
        yield run, proxy, container


def test_an_interrupted_azure_upload_sends_only_the_missing_blocks(
        azure_proxied: tuple[Run, CutProxy, str], tmp_path: Path) -> None:
    """Azure's uncommitted blocks are listed (Get Block List): the re-run sends
    only the blocks the failed run did not stage; --no-resume sends everything."""
    run, proxy, container = azure_proxied
    part = 5 * MiB
    data = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest()
                    for i in range(4 * part // 32))
    source = tmp_path / "up.bin"
    source.write_bytes(data)
    proxy.down_after_puts(2, "comp=block&")  # two blocks go up, then the network is gone
    failed = run("cp", "--part-size", "5MiB", str(source), f"az:{container}/up.bin", code=4)
    assert "overcast: error:" in failed.stderr
    proxy.restore()
    proxy.reset_counts()
    run("cp", "--part-size", "5MiB", str(source), f"az:{container}/up.bin")
    blocks = [t for m, t in proxy.requests if m == "PUT" and "comp=block&" in t]
    assert len(blocks) == 2  # the two blocks staged were not sent again
    run("cp", f"az:{container}/up.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data

    proxy.down_after_puts(2, "comp=block&")
    run("cp", "--part-size", "5MiB", str(source), f"az:{container}/again.bin", code=4)
    proxy.restore()
    proxy.reset_counts()
    run("cp", "--no-resume", "--part-size", "5MiB", str(source), f"az:{container}/again.bin")
    assert len([t for m, t in proxy.requests if m == "PUT" and "comp=block&" in t]) == 4
