"""restic as a backup provider for the tests: a repository in the test's
directory (or in a SeaweedFS bucket), the driver on it, and a wrapper around
the restic program that records each command line, so tests can see what was
run (and that nothing was, on invalid input) and that no secret is on it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import uuid
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from overcast.backup import BackupTargetType
from overcast.backup.drivers.restic import ResticBackupDriver

__all__ = ["PASSWORD", "ResticSubject", "Tree", "make_subject", "tree_state", "write_wrapper"]

#: The repositories' password: tests search every output for it.
PASSWORD = f"restic-pw-{uuid.uuid4().hex}"


def write_wrapper(directory: Path) -> tuple[Path, Path]:
    """A program that logs its command line (and whether RESTIC_PASSWORD was
    in its environment) to a file, then runs restic; (program, log)."""
    restic = shutil.which("restic")
    if restic is None:
        pytest.fail("restic is not installed: run bash scripts/install-servers.sh")
    log = directory / "restic-calls.jsonl"
    program = directory / "restic-logged"
    program.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"os.execv({restic!r}, [{restic!r}, *sys.argv[1:]])\n"
    )
    program.chmod(0o755)
    return program, log


def calls(log: Path) -> list[list[str]]:
    """The restic command lines run so far."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


@dataclass
class Tree:
    """One file's state: type, mode, mtime (ns), contents or link target."""

    kind: str
    mode: int
    mtime: int
    data: bytes


def tree_state(root: Path, *, times: bool = True) -> dict[str, Tree]:
    """Everything under ``root`` (relative name -> state), symlinks not followed."""
    found: dict[str, Tree] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        name = path.relative_to(root).as_posix()
        mtime = info.st_mtime_ns if times else 0
        if stat.S_ISLNK(info.st_mode):
            found[name] = Tree("link", 0, 0, os.readlink(path).encode())
        elif stat.S_ISDIR(info.st_mode):
            found[name] = Tree("dir", stat.S_IMODE(info.st_mode), mtime, b"")
        else:
            found[name] = Tree("file", stat.S_IMODE(info.st_mode), mtime, path.read_bytes())
    return found


@dataclass
class ResticSubject:
    """A restic driver on a fresh repository, with its places to back up."""

    driver: ResticBackupDriver
    root: Path
    log: Path
    target_type: BackupTargetType = BackupTargetType.FILESYSTEM
    made: list[Path] = field(default_factory=list)

    def address(self) -> str:
        """A new directory with a few files in it, to back up."""
        place = self.root / f"data-{len(self.made)}"
        (place / "sub").mkdir(parents=True)
        (place / "a.txt").write_text("alpha\n")
        (place / "sub" / "b.txt").write_text("beta\n")
        self.made.append(place)
        return str(place)

    def destination(self) -> str:
        """A path nothing is at yet, in an existing directory."""
        return str(self.root / f"restored-{uuid.uuid4().hex[:8]}")

    def relative_address(self) -> str:
        return "relative/path"

    def missing_address(self) -> str:
        return str(self.root / "no-such-directory" / "below")

    def change(self, address: str) -> None:
        """Change what is at ``address``: one file edited, one removed."""
        (Path(address) / "a.txt").write_text("changed\n")
        (Path(address) / "sub" / "b.txt").unlink()

    def state(self, address: str) -> Any:
        return tree_state(Path(address), times=False)

    def runs(self) -> int:
        """How many restic commands have run."""
        return len(calls(self.log))


def make_subject(tmp_path: Path, repository: str | None = None, **options: Any) -> ResticSubject:
    """A subject on a repository in ``tmp_path`` (or at ``repository``)."""
    program, log = write_wrapper(tmp_path)
    driver = ResticBackupDriver(repository or str(tmp_path / "repo"), PASSWORD,
                                restic=str(program), staging_dir=str(tmp_path / "staging"),
                                **options)
    return ResticSubject(driver, tmp_path, log)
