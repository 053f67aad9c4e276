"""The README's demo command runs end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "overcast.demo", str(tmp_path)],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    assert "streamed it back" in out and "async: streamed part-7 back, 1048576 bytes" in out
    assert "IN\tTXT" in out and "a second plan has 0" in out
    assert "compute: node web-1" in out and "is running at ['192.168." in out
    assert "backup: dns/demo.example.zone" in out
    assert "copy: [##############################] 100%" in out
    assert out.rstrip().endswith("== done")
    assert (tmp_path / "zones" / "demo.example.zone").is_file()
