"""A real Azurite blob service for tests, and the factory for the storage contract.

``azurite(request)`` starts one Azurite per test process, lazily, on 127.0.0.1
with a free port, data kept in memory (``--inMemoryPersistence``), its log and
working files in a private temporary directory, and stops it when the session
ends (``request.config.add_cleanup``). Under pytest-xdist each worker has its
own. A server that fails to start raises :class:`AzuriteStartError` with the
tail of its log, so the tests fail, never skip.

Azurite comes from npm (``scripts/servers/azurite.npm``, installed by
``scripts/install-servers.sh`` under ``<repo>/.servers/npm``); ``AZURITE_BLOB``
names another ``azurite-blob`` executable. It checks Shared Key and SAS
signatures of the well-known development account ``devstoreaccount1``.

Run it by hand, from ``tests/``, with ``python -m servers.storage_azure``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from overcast.auth.azure_shared_key import DEVSTORE_ACCOUNT
from overcast.auth.azure_shared_key import DEVSTORE_KEY
from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
from overcast.storage.transfer import PartPlan
from servers.procs import free_port
from servers.procs import stop_process

__all__ = [
    "ACCOUNT",
    "KEY",
    "TEST_PLAN",
    "Azurite",
    "AzuriteStartError",
    "azurite",
    "make_driver",
    "start_azurite",
]

ACCOUNT = DEVSTORE_ACCOUNT
KEY = DEVSTORE_KEY
MiB = 1024 * 1024
#: Small blocks so the contract's "above the threshold" objects go up as several blocks.
TEST_PLAN = PartPlan(threshold=4 * MiB, part_size=4 * MiB, max_parts=50_000, concurrency=4)
START_TIMEOUT = 60.0
ROOT = Path(__file__).resolve().parents[2]


class AzuriteStartError(RuntimeError):
    """Azurite did not start; the message holds the end of its log."""


def _executable() -> str:
    chosen = os.environ.get("AZURITE_BLOB")
    if chosen:
        return chosen
    local = ROOT / ".servers" / "npm" / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    found = shutil.which("azurite-blob")
    if found:
        return found
    raise AzuriteStartError(
        f"azurite-blob not found under {local.parent} nor on PATH: run "
        "scripts/install-servers.sh (scripts/servers/azurite.npm)"
    )


class Azurite:
    """A running Azurite blob service."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, directory: Path) -> None:
        self.process = process
        self.port = port
        self.directory = directory
        self.log_path = directory / "azurite.log"

    @property
    def endpoint(self) -> str:
        """The path-style blob endpoint of the development account."""
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """A connection string for the SDK and for ``connection_string=``."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.endpoint};"
        )

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (TERM, then KILL after 10 s) and remove its directory."""
        stop_process(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}?comp=list", timeout=2) as response:
            return bool(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code == 403  # up: it refuses an unsigned request
    except (urllib.error.URLError, OSError):
        return False


def start_azurite(*, timeout: float = START_TIMEOUT) -> Azurite:
    """Start Azurite's blob service on a free port and wait until it answers.

    Raises :class:`AzuriteStartError` (with the log tail) if it dies or is not
    ready within ``timeout`` seconds; a port taken meanwhile is retried.
    """
    executable = _executable()
    last = ""
    for _ in range(3):
        directory = Path(tempfile.mkdtemp(prefix="overcast-azurite-"))
        port = free_port()
        log = (directory / "azurite.log").open("wb")
        process = subprocess.Popen(
            [
                executable,
                "--blobHost", "127.0.0.1",
                "--blobPort", str(port),
                "--inMemoryPersistence",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--silent",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=directory,
            env={k: v for k, v in os.environ.items() if k != "AZURITE_ACCOUNTS"},
        )
        log.close()
        server = Azurite(process, port, directory)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _ready(server.endpoint):
                return server
            if not server.alive():
                break
            time.sleep(0.1)
        last = server.log_tail()
        server.stop()
        if "EADDRINUSE" not in last:
            break
    raise AzuriteStartError(f"Azurite did not start within {timeout:.0f}s; log tail:\n{last}")


_lock = threading.Lock()
_server: Azurite | None = None


def azurite(request: Any) -> Azurite:
    """The Azurite of this test process, started on first use (``request`` is
    pytest's ``FixtureRequest``); stopped when the session ends."""
    global _server
    with _lock:
        if _server is not None and _server.alive():
            return _server
        if _server is not None:
            tail = _server.log_tail()
            _server = None
            raise AzuriteStartError(f"Azurite died during the session; log tail:\n{tail}")
        server = start_azurite()
        _server = server

        def stop() -> None:
            global _server
            with _lock:
                if _server is server:
                    _server = None
            server.stop()

        request.config.add_cleanup(stop)
        return server


def make_driver(
    request: pytest.FixtureRequest, tmp_path: Path, **kwargs: Any
) -> AzureBlobsStorageDriver:
    """A driver on this process's Azurite, with small blocks and pages so the
    contract crosses block and page boundaries."""
    server = azurite(request)
    options: dict[str, Any] = {"part_plan": TEST_PLAN, "page_size": 250}
    options.update(kwargs)
    return AzureBlobsStorageDriver(ACCOUNT, KEY, endpoint=server.endpoint, **options)


if __name__ == "__main__":
    srv = start_azurite()
    with contextlib.suppress(KeyboardInterrupt), srv:
        print(f"Azurite ready on {srv.endpoint} (pid {srv.process.pid}); Ctrl-C stops it",
              flush=True)
        srv.process.wait()
