"""overcast as of another commit, side by side with the work tree's, in one bench run.

``baseline_tree(rev)`` checks ``rev`` out in a detached work tree of its own (a
temporary folder, removed afterwards); a forked client process calls
``use_overcast_from(src)`` before it builds a driver, so that it imports that
commit's overcast instead of the one its parent loaded. Both twins then run
against the same servers, one after the other, under the same load.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What a client's name ends with when it runs the baseline: ``" @<short hash>"``.
MARK = " @"


@contextmanager
def baseline_tree(rev: str) -> Iterator[tuple[str, str]]:
    """``(short hash, src folder)`` of ``rev`` checked out in a temporary work tree."""
    with tempfile.TemporaryDirectory(prefix="overcast-baseline-") as tmp:
        where = str(Path(tmp) / "tree")
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", where, rev],
                       check=True, capture_output=True)
        try:
            label = subprocess.run(["git", "-C", where, "rev-parse", "--short", "HEAD"],
                                   check=True, capture_output=True, text=True).stdout.strip()
            yield label, str(Path(where) / "src")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", where],
                           check=False, capture_output=True)


def use_overcast_from(src: str) -> None:
    """Import overcast from ``src`` from now on in this process: the overcast
    modules already loaded (by the bench's parent, before the fork) are dropped."""
    for name in [n for n in sys.modules if n == "overcast" or n.startswith("overcast.")]:
        del sys.modules[name]
    sys.path.insert(0, src)
    import overcast

    assert str(overcast.__file__).startswith(src), (overcast.__file__, src)


def split(kind: str) -> tuple[str, bool]:
    """A client's name without its baseline mark, and whether it had one."""
    base, mark, _ = kind.partition(MARK)
    return base, bool(mark)
