"""The command's dependencies do not load with the library: ``import overcast``
and ``import overcast.storage`` import neither typer, rich nor overcast.cli."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["overcast", "overcast.storage", "overcast.dns",
                                    "overcast.compute"])
def test_the_library_does_not_import_the_command(module: str) -> None:
    code = (f"import sys, json, {module}; print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('typer', 'rich', 'click') or m.startswith('overcast.cli'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert json.loads(done.stdout) == []
