"""What the tests of the ``overcast`` command share: its in-process runner's
type, the installed script, and a secret that must never be printed."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

#: A secret the tests check never appears in any output.
SECRET = "cli-secret-never-printed-7f3a"

#: ``cli(*args, input=None, ok=True)``: the command run in-process.
Invoke = Callable[..., Result]


def overcast_script() -> str:
    """The installed ``overcast`` entry point (beside this Python, else on PATH)."""
    beside = Path(sys.executable).with_name("overcast")
    if beside.exists():
        return str(beside)
    found = shutil.which("overcast")
    assert found is not None, "the overcast entry point is not installed (pip install -e .)"
    return found
