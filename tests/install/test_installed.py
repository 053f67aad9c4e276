"""overcast installed as a user installs it: a wheel in a fresh virtual environment.

``pip install overcast`` alone must work sync and async for every driver that
needs no extra, and each extra alone must bring what its drivers need. The test
extras of this suite are not in these environments, so a dependency that only
they bring in (sniffio was one) fails here. Each environment is made from the
wheel built from this checkout; the servers are the suite's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from servers.moto_server import moto_server
from servers.storage_azure import ACCOUNT
from servers.storage_azure import KEY
from servers.storage_azure import azurite
from servers.storage_gcs import fake_gcs

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Path(__file__).with_name("smoke.py")

#: Each check, and the extra its environment is made with ("" for none).
CHECKS = {
    "core": "",
    "dns": "dns",
    "httpx": "httpx",
    "urllib3": "urllib3",
    "libvirt": "libvirt",
    "ssh": "ssh",
    "fast": "fast",
    "google": "google",
}

pytestmark = pytest.mark.server


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},
    )
    assert done.returncode == 0, f"pip install {' '.join(args)} failed:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, built once per test process."""
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("overcast-*.whl")
    return built


def _environment(wheel: Path, extra: str, where: Path) -> Path:
    """A fresh venv holding the wheel (with ``extra``) and its declared dependencies."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    python = where / "bin" / "python"
    _pip(python, f"{wheel}[{extra}]" if extra else str(wheel))
    leaked = subprocess.run(
        [str(python), "-c", "import importlib.util as u; "
         "print([m for m in ('pytest', 'boto3', 'moto') if u.find_spec(m)])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert leaked == "[]", f"test tools leaked into the fresh environment: {leaked}"
    return python


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_installed_package(
    check: str, wheel: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    python = _environment(wheel, CHECKS[check], tmp_path / "venv")
    config: dict[str, Any] = {}
    if check in ("core", "httpx", "urllib3"):
        config["moto"] = moto_server(request).url
    if check == "core":
        config.update(azurite=azurite(request).endpoint, azure_account=ACCOUNT, azure_key=KEY)
    if check == "google":
        config["gcs"] = fake_gcs(request).url
    done = subprocess.run(
        [str(python), str(SMOKE), check, json.dumps(config)],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=600,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)},
    )
    assert done.returncode == 0, f"{check}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert done.stdout.strip().endswith(f"ok {check}")
