"""Storage commands in-process on the local storage driver: ls, cp (every
direction, directories, several profiles), sync (idempotent, --dry-run,
--delete and its safety limit, --checksum), rm, cat, stat, mb, rb; URL forms."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from overcast.cli.config import Config
from overcast.cli.config import Profile
from overcast.cli.targets import Resolver
from overcast.errors import InvalidInput
from overcast.runtime.redact import Secret
from overcast.storage.drivers.local import LocalStorageDriver
from overcast.storage.drivers.s3 import S3StorageDriver
from servers.cli_runner import SECRET
from servers.cli_runner import Invoke


@pytest.fixture
def store(cli: Invoke, tmp_path: Path) -> Path:
    """A local storage profile ``loc`` with a container ``box``; its root."""
    root = tmp_path / "root"
    cli("profile", "add", "loc", "--driver", "local", "--key", str(root))
    cli("mb", "loc:box")
    return root


def _tree(base: Path) -> dict[str, bytes]:
    return {p.relative_to(base).as_posix(): p.read_bytes()
            for p in sorted(base.rglob("*")) if p.is_file()}


def _files(base: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return base


def test_cp_file_object_file_and_listings(cli: Invoke, store: Path, tmp_path: Path) -> None:
    src = _files(tmp_path / "in", {"a.txt": b"hello\n"})
    assert cli("cp", str(src / "a.txt"), "loc:box/").stdout.split() == ["loc:box/a.txt"]
    cli("cp", str(src / "a.txt"), "loc:box/docs/b.txt")
    assert cli("cat", "loc:box/docs/b.txt").stdout == "hello\n"
    assert cli("ls", "loc:box").stdout.split() == ["a.txt", "docs/"]
    assert cli("ls", "-r", "loc:box").stdout.split() == ["a.txt", "docs/b.txt"]
    long = cli("ls", "-l", "loc:box").stdout.splitlines()
    assert long[0].split()[-2:] == ["6", "a.txt"] and long[1].split()[-2:] == ["PRE", "docs/"]
    rows = json.loads(cli("ls", "--json", "-r", "loc:box").stdout)
    assert [(r["name"], r["size"]) for r in rows] == [("a.txt", 6), ("docs/b.txt", 6)]
    assert all(r["modified"] for r in rows)
    assert json.loads(cli("--json", "ls", "-p", "loc").stdout) == [
        {"name": "box", "type": "container"}]
    info = json.loads(cli("stat", "--json", "loc:box/a.txt").stdout)
    assert info["size"] == 6 and info["container"] == "box"

    out = tmp_path / "out"
    out.mkdir()
    cli("cp", "loc:box/a.txt", str(out))
    cli("cp", "loc:box/docs/b.txt", str(out / "renamed.txt"))
    assert _tree(out) == {"a.txt": b"hello\n", "renamed.txt": b"hello\n"}
    cli("cp", str(out / "a.txt"), str(out / "copy.txt"))  # file to file
    assert (out / "copy.txt").read_bytes() == b"hello\n"


def test_cp_directories_in_parallel_both_ways(cli: Invoke, store: Path, tmp_path: Path) -> None:
    files = {f"d{i % 3}/f{i}.bin": os.urandom(1000 + i) for i in range(12)}
    src = _files(tmp_path / "in", files)
    refused = cli("cp", str(src), "loc:box/tree", ok=False)
    assert refused.exit_code == 2 and "--recursive" in refused.stderr
    done = cli("cp", "-r", "--jobs", "4", str(src), "loc:box/tree")
    assert sorted(done.stdout.split()) == sorted(f"loc:box/tree/{n}" for n in files)
    assert "total (12 files)" in done.stderr  # the total bar, on stderr
    back = tmp_path / "back"
    cli("cp", "-r", "-j", "3", "loc:box/tree/", str(back))
    assert _tree(back) == files


def test_cp_object_to_object_across_profiles(cli: Invoke, store: Path, tmp_path: Path) -> None:
    cli("profile", "add", "other", "--driver", "local", "--key", str(tmp_path / "root2"))
    cli("mb", "other:copies")
    _files(tmp_path / "in", {"x/1": b"one", "x/2": b"two"})
    cli("cp", "-r", str(tmp_path / "in" / "x"), "loc:box/x")
    cli("cp", "-r", "loc:box/x/", "other:copies/y/")
    cli("cp", "loc:box/x/1", "other:copies/single")
    assert _tree(tmp_path / "root2" / "copies") == {"y/1": b"one", "y/2": b"two",
                                                     "single": b"one"}


def test_sync_is_idempotent_and_deletes_within_the_limit(
    cli: Invoke, store: Path, tmp_path: Path
) -> None:
    files = {f"n{i:02}": f"value {i}".encode() for i in range(20)}
    src = _files(tmp_path / "in", files)
    first = json.loads(cli("sync", "--json", str(src), "loc:box/s").stdout)
    assert sorted(a["name"] for a in first) == sorted(files)
    assert all(a["action"] == "copy" and a["done"] for a in first)
    assert json.loads(cli("sync", "--json", str(src), "loc:box/s").stdout) == []
    assert "0 to copy, 0 to delete, 20 unchanged" in cli("sync", str(src), "loc:box/s").stderr

    # a changed file (another size) is copied again; --dry-run changes nothing
    (src / "n03").write_bytes(b"a longer value now")
    planned = cli("sync", "--dry-run", str(src), "loc:box/s").stdout.splitlines()
    assert planned == ["would copy loc:box/s/n03"]
    assert cli("cat", "loc:box/s/n03").stdout == "value 3"
    cli("sync", str(src), "loc:box/s")
    assert cli("cat", "loc:box/s/n03").stdout == "a longer value now"

    # --delete past the limit (8 of 20: 40 % > 30 %) is refused and changes nothing
    for i in range(8):
        (src / f"n{i:02}").unlink()
    refused = cli("sync", "--delete", str(src), "loc:box/s", ok=False)
    assert refused.exit_code == 7
    assert "refusing to delete 8 of the 20" in refused.stderr
    assert len(cli("ls", "-r", "loc:box/s/").stdout.split()) == 20
    # within a raised limit, or forced, it deletes
    dry = cli("sync", "--delete", "--max-delete", "0.5", "--dry-run", str(src), "loc:box/s")
    assert len(dry.stdout.splitlines()) == 8
    cli("sync", "--delete", "--force", str(src), "loc:box/s")
    assert sorted(cli("ls", "-r", "loc:box/s/").stdout.split()) == sorted(
        f"s/n{i:02}" for i in range(8, 20))


def test_sync_checksum_sees_same_size_changes(cli: Invoke, store: Path, tmp_path: Path) -> None:
    src = _files(tmp_path / "in", {"f": b"aaaa"})
    cli("sync", str(src), "loc:box/c")
    (src / "f").write_bytes(b"bbbb")
    os.utime(src / "f", (1_000_000_000, 1_000_000_000))  # older than the copy
    assert cli("sync", "--dry-run", str(src), "loc:box/c").stdout == ""  # size and time agree
    assert cli("sync", "--checksum", str(src), "loc:box/c").stdout.split() == [
        "copy", "loc:box/c/f"]
    assert cli("cat", "loc:box/c/f").stdout == "bbbb"


def test_sync_object_to_local_and_back(cli: Invoke, store: Path, tmp_path: Path) -> None:
    src = _files(tmp_path / "in", {"a/b": b"1", "c": b"22"})
    cli("sync", str(src), "loc:box/t")
    out = tmp_path / "out"
    cli("sync", "loc:box/t", str(out))
    assert _tree(out) == {"a/b": b"1", "c": b"22"}
    assert cli("sync", "loc:box/t", str(out)).stdout == ""


def test_rm_rb_and_not_found(cli: Invoke, store: Path, tmp_path: Path) -> None:
    src = _files(tmp_path / "in", {"p/1": b"1", "p/2": b"2", "q": b"3"})
    cli("cp", "-r", str(src), "loc:box")
    missing = cli("cat", "loc:box/none", ok=False)
    assert missing.exit_code == 3 and "ObjectNotFound" in missing.stderr
    assert cli("rm", "loc:box/p/", ok=False).exit_code == 2
    cli("rm", "loc:box/q")
    assert cli("rm", "-r", "loc:box/p/").stdout.split() == ["loc:box/p/1", "loc:box/p/2"]
    assert cli("ls", "-r", "loc:box").stdout == ""
    cli("cp", str(src / "q"), "loc:box/")
    refused = cli("rb", "loc:box", ok=False)
    assert refused.exit_code == 4 and "ContainerIsNotEmpty" in refused.stderr
    cli("rb", "--force", "loc:box")
    assert json.loads(cli("ls", "--json", "-p", "loc").stdout) == []
    assert cli("ls", "loc:box", ok=False).exit_code == 3
    unsupported = cli("presign", "loc:box/q", ok=False)
    assert unsupported.exit_code == 6


def test_local_urls_find_their_root(cli: Invoke, store: Path, tmp_path: Path) -> None:
    _files(tmp_path / "in", {"k": b"data"})
    cli("cp", str(tmp_path / "in" / "k"), f"local://{store}/box/deep/k")
    assert cli("cat", "loc:box/deep/k").stdout == "data"
    assert cli("ls", "-r", f"local://{store}/box/").stdout.split() == ["deep/k"]
    fresh = tmp_path / "fresh"
    cli("mb", f"local://{fresh}/newbox")
    assert (fresh / "newbox").is_dir() and (fresh / ".overcast").is_dir()
    cli("cp", str(tmp_path / "in" / "k"), f"local://{fresh}/newbox/k2")
    assert (fresh / "newbox" / "k2").read_bytes() == b"data"


def _config(tmp_path: Path, *profiles: Profile) -> Config:
    config = Config(tmp_path / "c" / "config.toml")
    for profile in profiles:
        config.add(profile, Secret(SECRET) if profile.key and profile.driver != "local" else None)
    return config


def test_scheme_urls_pick_the_profile_of_their_kind(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERCAST_SECRET_STORE", "file")
    s3 = Profile("s3a", "s3", endpoint="http://127.0.0.1:9", key="AKID",
                 options={"part_size": "6MiB", "part_concurrency": 2})
    minio = Profile("mini", "minio", endpoint="http://127.0.0.1:10", key="AKID2")
    local = Profile("here", "local", key=str(tmp_path / "r"))
    one = Resolver(_config(tmp_path, s3, local))
    where = one.location("s3://bucket/a/b")
    assert isinstance(where.driver, S3StorageDriver)
    assert (where.container, where.key) == ("bucket", "a/b")
    assert where.driver.part_plan.part_size == 6 * 1024 * 1024
    assert where.driver.part_plan.concurrency == 2
    assert isinstance(one.location("here:c/k").driver, LocalStorageDriver)
    assert one.location("./here:c/k").is_local  # a path, not a profile

    both = _config(tmp_path / "2", s3, minio)
    with pytest.raises(InvalidInput, match="several s3:// profiles"):
        Resolver(both).location("s3://bucket/k")
    chosen = Resolver(both, ["mini"]).location("s3://bucket/k").driver
    assert chosen is not None and chosen.endpoint.startswith("http://127.0.0.1:10")
    with pytest.raises(InvalidInput, match="unknown scheme"):
        Resolver(both).location("ftp://x/y")
