"""Backup: the restic driver's overhead over the restic command alone, and EBS
recovery points listed beside apache-libcloud.

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

Then (``--part ebs``, or both by default) ``list_recovery_points`` over
``--snapshots`` EBS snapshots of one volume (default 1,000) on moto (started
here on 127.0.0.1, seeded with boto3): overcast's EBS driver sync and async
beside apache-libcloud 3.9.1's EBS driver, which cannot reach any endpoint as
shipped (its constructor formats a host with no ``%s`` and fails; it signs for
the service ``backup``, which moto routes to AWS Backup; it posts to
``/2015-10-01/``, a path moto does not route; it reads answers in the
2015-10-01 namespace, moto's differs; it names its volume filter's value
``Filter.1.Value``, where the EC2 API reference and moto want
``Filter.1.Value.1``, so moto matches no snapshot; and it looks for the
snapshots at ``DescribeSnapshotsResponse/snapshotSet/item`` below the root,
which is that element already, so it returns none of any answer). A shim
fixes those six and nothing else: it points the connection at moto, signs
with Signature V4 for ``ec2``, posts to ``/``, numbers the filter value,
gives the answer the namespace it expects and looks at ``snapshotSet/item``;
each snapshot is then read by Libcloud's own ``_to_recovery_point``. Reported: the
snapshots returned, the median wall time and the client process's CPU time
per snapshot (moto runs in its own process), each as a ratio to overcast sync.

    python bench/backup.py [--part restic|ebs|all] [--files 10000] [--mib 1024]
                           [--snapshots 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

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


def restic_part(args: argparse.Namespace) -> None:
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


# -- EBS: list_recovery_points over many snapshots, beside apache-libcloud ---------------------

MOTO_NS = b"http://ec2.amazonaws.com/doc/2016-11-15"


def seed_snapshots(endpoint: str, count: int) -> str:
    """One volume, made a target of overcast's EBS driver, and ``count`` snapshots
    of it taken through that driver (so they carry its target tag); its id."""
    import boto3

    from overcast.backup.drivers.ebs import EBSBackupDriver

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint,
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    driver = EBSBackupDriver("bench", "bench", "us-east-1", endpoint=endpoint)
    target = driver.create_target("bench", volume)
    for _ in range(count):
        driver.create_target_job(target)
    driver.close()
    return str(volume)


def libcloud_ebs(port: int) -> Any:
    """apache-libcloud's EBS driver, shimmed onto moto at 127.0.0.1:``port``."""
    from libcloud.backup.drivers import ebs
    from libcloud.utils.xml import findall

    class Response(ebs.EBSResponse):  # type: ignore[misc]
        def parse_body(self) -> Any:
            self.body = self.body.replace(MOTO_NS.decode(), ebs.NS.rstrip("/") + "/")
            return super().parse_body()

    class Connection(ebs.EBSConnection):  # type: ignore[misc]
        responseCls = Response  # noqa: N815 - Libcloud's name
        service_name = "ec2"

        def request(self, action: str, params: dict[str, str] | None = None, *args: Any,
                    **kwargs: Any) -> Any:
            params = {("Filter.1.Value.1" if key == "Filter.1.Value" else key): value
                      for key, value in (params or {}).items()}
            return super().request("/", params, *args, **kwargs)

    class Shim(ebs.EBSBackupDriver):  # type: ignore[misc]
        connectionCls = Connection  # noqa: N815 - Libcloud's name

        def __init__(self, access_id: str, secret: str, region: str) -> None:
            self.region = self.region_name = region
            ebs.BackupDriver.__init__(self, access_id, secret, secure=False, host="127.0.0.1",
                                      port=port)

        def _ex_connection_class_kwargs(self) -> dict[str, Any]:
            return {"signature_version": "4"}

        def _to_recovery_points(self, data: Any, target: Any) -> list[Any]:
            # Libcloud's path starts with the root's own name, so it finds no item.
            return [self._to_recovery_point(item, target)
                    for item in findall(element=data, xpath="snapshotSet/item", namespace=ebs.NS)]

    return Shim("bench", "bench", "us-east-1")


def ebs_part(args: argparse.Namespace) -> None:
    from loadbalancer import measured  # bench/loadbalancer.py: (count, wall, CPU) medians
    from overcast.backup.drivers.ebs import EBSBackupDriver
    from servers.moto_server import start_moto

    with start_moto() as moto:
        volume = seed_snapshots(moto.url, args.snapshots)
        driver = EBSBackupDriver("bench", "bench", "us-east-1", endpoint=moto.url)
        target = driver.get_target(volume)

        def overcast_sync() -> int:
            return len(driver.list_recovery_points(target))

        def overcast_async() -> int:
            async def run() -> int:
                found = await driver.aio.list_recovery_points(target)
                await driver.aio.aclose()
                return len(found)

            return asyncio.run(run())

        rows = [("overcast sync", *measured(overcast_sync, args.repeat)),
                ("overcast async", *measured(overcast_async, args.repeat))]
        try:
            lc = libcloud_ebs(moto.port)
        except ImportError:
            print("apache-libcloud is not installed: its row is left out", file=sys.stderr)
        else:
            lc_target = lc.create_target("bench", volume)
            rows.append(("apache-libcloud 3.9.1 (shimmed)", *measured(
                lambda: len(lc.list_recovery_points(lc_target)), args.repeat)))
    print(f"### list_recovery_points: {args.snapshots} EBS snapshots of one volume on moto, "
          f"median of {args.repeat}\n")
    print("| client | snapshots returned | wall ms | CPU µs per snapshot | CPU vs overcast sync |")
    print("|---|---:|---:|---:|---:|")
    base = rows[0][3] / max(rows[0][1], 1)
    for name, returned, wall, cpu in rows:
        each = cpu / max(returned, 1)
        print(f"| {name} | {returned} | {wall * 1000:.0f} | {each * 1e6:.0f} | "
              f"{each / base:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("restic", "ebs", "all"), default="all")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--snapshots", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.part in ("restic", "all"):
        restic_part(args)
    if args.part in ("ebs", "all"):
        ebs_part(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
