"""The ``overcast`` command run in-process through typer's runner, with its
config in the test's own directory and secrets in the 0600 file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from overcast.cli.app import app
from servers.cli_runner import Invoke


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's config lives (``OVERCAST_CONFIG``)."""
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("OVERCAST_CONFIG", str(path))
    monkeypatch.setenv("OVERCAST_SECRET_STORE", "file")
    monkeypatch.delenv("OVERCAST_DEBUG", raising=False)
    return path


@pytest.fixture
def cli(config_path: Path) -> Invoke:
    """``cli(*args, input=None, ok=True)``: run the command; with ``ok`` (the
    default) the exit code must be 0."""
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None, ok: bool = True) -> Any:
        result = runner.invoke(app, list(args), input=input)
        if ok:
            assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr,
                                           result.exception)
        return result

    return invoke
