"""restic with real data: a tree of 2,000 files backed up, changed, backed up
again and restored (out of place byte for byte with modes and mtimes, in place,
one subtree), on a local repository and on S3 (SeaweedFS); a node's files
through sshd; a bucket restored into another driver's container; a job
cancelled mid-backup; and the password nowhere it should not be.
``restic check --read-data`` passes after each test."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest

from overcast.backup import BackupTargetJobStatusType
from overcast.backup import BackupTargetType
from overcast.backup.drivers.restic import ResticBackupDriver
from overcast.errors import InvalidCredentials
from overcast.errors import NotFound
from overcast.storage.drivers.local import LocalStorageDriver
from servers.backup_restic import PASSWORD
from servers.backup_restic import ResticSubject
from servers.backup_restic import calls
from servers.backup_restic import make_subject
from servers.backup_restic import tree_state
from servers.modes import call
from servers.seaweedfs import seaweedfs_server
from servers.sshd import SSHServer
from servers.sshd import ssh_server
from servers.storage_s3 import seaweedfs_driver

pytestmark = pytest.mark.server

MiB = 1024 * 1024
MODES_OF = {"local": "sync", "s3": "async"}  # one mode each: both are run, the data once


def make_tree(root: Path, *, big: bool = True, count: int = 2000) -> None:
    """``count`` entries: empty and 1-byte files, one of 50 MiB, symlinks,
    non-ASCII names, odd modes, set mtimes, in nested directories."""
    modes = (0o644, 0o600, 0o755, 0o400, 0o711, 0o640)
    for n in range(count):
        folder = root / f"d{n % 20:02d}" / f"e{n % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        if n % 50 == 7:
            (folder / f"link-{n}").symlink_to(f"file-{n - 1}")
            continue
        name = f"file-{n}" if n % 9 else f"fichier-é-{n}-日本"
        path = folder / name
        data = b"" if n % 4 == 0 else b"x" if n % 4 == 1 else os.urandom(n % 3000)
        path.write_bytes(data)
        path.chmod(modes[n % len(modes)])
        os.utime(path, ns=(1_600_000_000_000_000_000 + n * 1_000_003,) * 2)
    if big:
        with (root / "big.bin").open("wb") as out:
            out.write(os.urandom(50 * MiB))
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        os.utime(directory, ns=(1_650_000_000_000_000_000,) * 2)


def change_tree(root: Path) -> None:
    """Edit some files, remove some, add one."""
    for n, path in enumerate(sorted(p for p in root.rglob("file-*") if p.is_file())):
        if n % 10 == 0:
            path.chmod(0o644)
            path.write_bytes(b"changed")
        elif n % 10 == 1:
            path.unlink()
    (root / "d00" / "new.txt").write_text("new")


@dataclass
class Repo:
    """A restic subject and the tree it backs up."""

    subject: ResticSubject
    data: Path
    mode: str
    checked: list[bool] = field(default_factory=list)

    @property
    def driver(self) -> ResticBackupDriver:
        return self.subject.driver


def _repo(tmp_path: Path, where: str, request: pytest.FixtureRequest) -> Iterator[Repo]:
    if where == "s3":
        server = seaweedfs_server(request)
        bucket = f"backup-{uuid.uuid4().hex[:10]}"
        storage = seaweedfs_driver(request)
        storage.create_container(bucket)
        subject = make_subject(tmp_path, f"s3:{server.url}/{bucket}/main",
                               key=server.access_key, secret=server.secret_key)
    else:
        subject = make_subject(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    repo = Repo(subject, data, MODES_OF[where])
    yield repo
    assert call(repo.mode, repo.driver, "ex_check", True)
    assert call(repo.mode, repo.driver, "ex_locks") == []


@pytest.fixture(params=["local", "s3"])
def repo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Repo]:
    yield from _repo(tmp_path, str(request.param), request)


@pytest.fixture
def local_repo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Repo]:
    yield from _repo(tmp_path, "local", request)


def test_a_tree_is_backed_up_changed_and_restored(repo: Repo, tmp_path: Path) -> None:
    mode, driver = repo.mode, repo.driver
    make_tree(repo.data, big=repo.mode == "sync")  # the 50 MiB file once, on the local repo
    first_state = tree_state(repo.data)
    assert len(first_state) > 2000
    target = call(mode, driver, "create_target", "data", str(repo.data),
                  BackupTargetType.FILESYSTEM)
    call(mode, driver, "create_target_job", target)
    change_tree(repo.data)
    second_state = tree_state(repo.data)
    call(mode, driver, "create_target_job", target)
    first, second = call(mode, driver, "list_recovery_points", target)

    # out of place: the first state, byte for byte, with modes and mtimes
    scratch = call(mode, driver, "create_target", "scratch", str(tmp_path / "scratch"),
                   BackupTargetType.FILESYSTEM)
    call(mode, driver, "recover_target_out_of_place", target, first, scratch)
    assert tree_state(tmp_path / "scratch") == first_state

    # in place, after deleting half the files: the second state again
    files = sorted(p for p in repo.data.rglob("*") if p.is_file() and not p.is_symlink())
    for path in files[::2]:
        path.unlink()
    call(mode, driver, "recover_target", target, second)
    assert tree_state(repo.data) == second_state

    # path: only that subtree, at the same place under the destination
    only = call(mode, driver, "create_target", "only", str(tmp_path / "only"),
                BackupTargetType.FILESYSTEM)
    call(mode, driver, "recover_target_out_of_place", target, first, only, "d03")
    assert sorted(p.name for p in (tmp_path / "only").iterdir()) == ["d03"]
    assert tree_state(tmp_path / "only" / "d03") == {
        name.removeprefix("d03/"): state for name, state in first_state.items()
        if name.startswith("d03/")}
    with pytest.raises(NotFound):
        call(mode, driver, "recover_target_out_of_place", target, first, only, "no/such/dir")


def test_a_cancelled_job_leaves_no_lock_and_the_next_run_succeeds(local_repo: Repo) -> None:
    driver, data = local_repo.driver, local_repo.data
    with (data / "slow.bin").open("wb") as out:
        out.write(os.urandom(16 * MiB))
    target = driver.create_target("slow", str(data), BackupTargetType.FILESYSTEM)
    progressed = threading.Event()
    # 16 MiB at 64 KiB/s takes minutes: the backup is still running when cancelled.
    job = driver.create_target_job(target, {"wait": False, "limit_upload": 64,
                                            "on_progress": lambda _: progressed.set()})
    assert job.status is BackupTargetJobStatusType.RUNNING
    assert progressed.wait(120)
    lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in os.listdir("/proc")
             if pid.isdigit() and os.path.exists(f"/proc/{pid}/cmdline")]
    assert any(b"restic" in line and b"backup" in line for line in lines)
    assert not any(PASSWORD.encode() in line for line in lines)
    assert driver.cancel_target_job(job) is True
    [cancelled] = driver.list_target_jobs(target)
    assert cancelled.status is BackupTargetJobStatusType.CANCELLED
    assert driver.ex_locks() == []
    assert driver.list_recovery_points(target) == []
    done = driver.create_target_job(target)
    assert done.status is BackupTargetJobStatusType.COMPLETED
    assert len(driver.list_recovery_points(target)) == 1


def test_a_backup_reads_the_registry_beside_it_and_honours_another_machines_delete(
    local_repo: Repo, tmp_path: Path
) -> None:
    """A path's backup runs beside the registry check (one restic run each, no
    ``dump`` of a registry this driver wrote itself); a target another driver
    deleted meanwhile is BackupTargetNotFound, and the backup just made is
    forgotten, not left behind."""
    driver, data = local_repo.driver, local_repo.data
    (data / "f.txt").write_text("one")
    target = driver.create_target("www", str(data), BackupTargetType.FILESYSTEM)
    before = len(calls(local_repo.subject.log))
    job = driver.create_target_job(target)
    ran = [argv[0] for argv in calls(local_repo.subject.log)[before:]]
    assert sorted(ran) == ["backup", "snapshots"]
    [point] = driver.list_recovery_points(target)
    assert point.id.startswith(job.extra["snapshot_id"])
    other = ResticBackupDriver(driver.repository, PASSWORD)  # another machine's
    other.delete_target(other.get_target(target.id))
    with pytest.raises(NotFound):
        driver.create_target_job(target)
    env = {**os.environ, "RESTIC_REPOSITORY": driver.repository, "RESTIC_PASSWORD": PASSWORD}
    left = subprocess.run(["restic", "snapshots", "--json", "--tag", target.id], env=env,
                          check=True, capture_output=True).stdout
    assert [s["id"] for s in json.loads(left)] == [point.id]  # the second one is forgotten


def test_the_password_is_in_no_command_line_error_log_or_repr(
    local_repo: Repo, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    driver = local_repo.driver
    (local_repo.data / "f").write_text("x")
    target = driver.create_target("t", str(local_repo.data), BackupTargetType.FILESYSTEM)
    driver.create_target_job(target)
    wrong = ResticBackupDriver(driver.repository, "not-the-password")
    with pytest.raises(InvalidCredentials) as raised:
        wrong.list_targets()
    texts = [str(raised.value), repr(raised.value), repr(driver), repr(target), caplog.text,
             repr(driver.list_recovery_points(target)), repr(driver.list_target_jobs(target))]
    texts += [" ".join(argv) for argv in calls(local_repo.subject.log)]
    assert calls(local_repo.subject.log)
    assert not [text for text in texts if PASSWORD in text]


# -- a node's files, through sshd --------------------------------------------------------


@dataclass
class FakeNode:
    """Stands in for a compute node: this machine, reached at 127.0.0.1."""

    id: str
    name: str
    public_ips: list[str]
    private_ips: list[str] = field(default_factory=list)


def test_a_nodes_files_are_backed_up_and_restored_over_ssh(
    tmp_path: Path, request: pytest.FixtureRequest, mode: str
) -> None:
    server: SSHServer = ssh_server(request)
    subject = make_subject(tmp_path, ssh_username=server.user, ssh_port=server.port,
                           ssh_key=str(server.client_ed25519),
                           ssh_known_hosts=str(server.known_hosts))
    driver = subject.driver
    place = server.work / uuid.uuid4().hex[:12]
    make_tree(place, big=False, count=300)
    before = tree_state(place)
    node = FakeNode("node-1", "web", ["127.0.0.1"])
    target = call(mode, driver, "create_target_from_node", node, BackupTargetType.VIRTUAL,
                  {"path": str(place)})
    assert (target.name, target.address, target.extra["host"]) == ("web", str(place),
                                                                    "127.0.0.1")
    job = call(mode, driver, "create_target_job", target)
    assert job.status is BackupTargetJobStatusType.COMPLETED and job.extra["snapshot_id"]
    [point] = call(mode, driver, "list_recovery_points", target)
    for path in sorted(p for p in place.rglob("*") if p.is_file())[::2]:
        path.unlink()
    call(mode, driver, "recover_target", target, point)
    assert tree_state(place) == before
    elsewhere = call(mode, driver, "create_target_from_node", node, BackupTargetType.VIRTUAL,
                     {"path": str(server.work / uuid.uuid4().hex[:12])})
    call(mode, driver, "recover_target_out_of_place", target, point, elsewhere)
    assert tree_state(Path(elsewhere.address)) == before
    assert call(mode, driver, "ex_check", True)
    assert not [argv for argv in calls(subject.log) if PASSWORD in " ".join(argv)]


# -- a bucket, restored into another driver's container --------------------------------


def test_a_bucket_is_restored_into_another_drivers_container(
    tmp_path: Path, request: pytest.FixtureRequest, mode: str
) -> None:
    storage = seaweedfs_driver(request)
    bucket = storage.create_container(f"objects-{uuid.uuid4().hex[:10]}")
    sums = {}
    for n in range(200):
        name = f"dir{n % 5}/object-{n}.bin" if n % 3 else f"top-{n}.txt"
        data = os.urandom(n * 37)
        (tmp_path / "upload").write_bytes(data)
        storage.upload_object(str(tmp_path / "upload"), bucket, name)
        sums[name] = hashlib.sha256(data).hexdigest()
    subject = make_subject(tmp_path)
    driver = subject.driver
    target = call(mode, driver, "create_target_from_storage_container", bucket)
    assert target.type is BackupTargetType.OBJECT
    call(mode, driver, "create_target_job", target)
    [point] = call(mode, driver, "list_recovery_points", target)
    (tmp_path / "local").mkdir()
    local = LocalStorageDriver(str(tmp_path / "local"))
    other = local.create_container("restored")
    destination = call(mode, driver, "create_target_from_container", other)
    call(mode, driver, "recover_target_out_of_place", target, point, destination)
    got = {obj.name: hashlib.sha256(b"".join(local.download_object_as_stream(obj))).hexdigest()
           for obj in local.list_container_objects(other)}
    assert got == sums
    assert call(mode, driver, "ex_check", True)
