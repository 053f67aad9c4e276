"""A real moto server (every AWS service moto emulates, in one process) for tests.

``moto_server(request)`` starts one server per test process, lazily, on
127.0.0.1 with a free port and a private temporary directory, and stops it at
the end of the session (``request.config.add_cleanup``). Under pytest-xdist
each worker gets its own server. A server that fails to start raises
:class:`MotoStartError` with the tail of its log, so the tests fail, never skip.

Facts about moto 5.2 that matter to clients (see the Route 53 driver's tests):

* moto routes a request by the SigV4 credential scope (``.../REGION/SERVICE/
  aws4_request``), not by the Host header, so every request must be SigV4
  signed for the right service. Signatures are never checked; any key works.
* State is in memory, shared by all services; ``server.reset()`` clears it.

``FIXES`` lists the moto bugs this launcher patches in the server process
(before it serves) because they would make valid client code fail against
moto but not against AWS; each is documented where it is defined. Pass
``fixes=()`` for a pristine moto.

Run it by hand, from ``tests/``, with ``python -m servers.moto_server [PORT]``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from servers.procs import EXIT_WITH_PARENT
from servers.procs import free_port
from servers.procs import stop_process

__all__ = ["FIXES", "MotoServer", "MotoStartError", "moto_server", "start_moto"]

#: Patches applied inside the server process, by name.
FIXES: dict[str, str] = {
    # moto 5.2 builds each new zone's SOA record set with ResourceRecords given as
    # [{"Value": "..."}] where its RecordSet model expects plain strings, so the SOA
    # value is served as the text "{'Value': 'ns-2048.awsdns-64.com. hostmaster...'}".
    # AWS serves the SOA rdata itself. Flatten such entries when a set is added.
    "route53-soa": """
from moto.route53 import models as _r53
_add_rrset = _r53.FakeZone.add_rrset
def _fixed_add_rrset(self, record_set):
    records = record_set.get("ResourceRecords")
    if records:
        record_set = dict(record_set, ResourceRecords=[
            r["Value"] if isinstance(r, dict) and "Value" in r else r for r in records
        ])
    return _add_rrset(self, record_set)
_r53.FakeZone.add_rrset = _fixed_add_rrset
""",
    # moto 5.2's EBS snapshot holds the volume object itself, so its VolumeSize (and
    # the size of a volume made from it without Size) follows the volume when it
    # is resized later. An AWS snapshot keeps the size the volume had when it was
    # taken. Give each snapshot a view of its volume with the size frozen.
    "ebs-snapshot-size": """
from moto.ec2.models import elastic_block_store as _ebs
class _VolumeAtSnapshot:
    def __init__(self, volume):
        self._volume = volume
        self.size = volume.size
    def __getattr__(self, name):
        return getattr(self._volume, name)
_snapshot_init = _ebs.Snapshot.__init__
def _fixed_snapshot_init(self, ec2_backend, snapshot_id, volume, *args, **kwargs):
    _snapshot_init(self, ec2_backend, snapshot_id, _VolumeAtSnapshot(volume), *args, **kwargs)
_ebs.Snapshot.__init__ = _fixed_snapshot_init
""",
}

_MAIN = """
from moto.server import main
main(["-H", sys.argv[1], "-p", sys.argv[2]])
"""

START_TIMEOUT = 60.0


class MotoStartError(RuntimeError):
    """moto did not start; the message holds the end of its log."""


class MotoServer:
    """A running moto server process."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, directory: Path) -> None:
        self.process = process
        self.host = "127.0.0.1"
        self.port = port
        self.directory = directory
        self.log_path = directory / "moto.log"

    @property
    def url(self) -> str:
        """The endpoint URL, ``http://127.0.0.1:PORT``."""
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

    def reset(self) -> None:
        """Forget every resource (``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        """Stop the server (TERM, then KILL after 10 s) and remove its directory."""
        stop_process(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_moto(
    *, fixes: Sequence[str] = tuple(FIXES), timeout: float = START_TIMEOUT
) -> MotoServer:
    """Start a moto server on a free port and wait until it answers.

    Raises :class:`MotoStartError` (with the log tail) if it dies or is not ready
    within ``timeout`` seconds. A port taken between choosing and binding is
    retried with another.
    """
    try:
        import moto  # noqa: F401
    except ImportError as exc:
        raise MotoStartError(
            f"moto is not installed ({exc}); install scripts/servers/moto.pip"
        ) from None
    code = "import sys\n" + EXIT_WITH_PARENT + "".join(FIXES[name] for name in fixes) + _MAIN
    last = ""
    for _ in range(3):
        directory = Path(tempfile.mkdtemp(prefix="overcast-moto-"))
        port = free_port()
        log = (directory / "moto.log").open("wb")
        env = dict(os.environ, MOTO_ALLOW_NONEXISTENT_REGION="true")
        process = subprocess.Popen(
            [sys.executable, "-c", code, "127.0.0.1", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=directory,
            env=env,
        )
        log.close()
        server = MotoServer(process, port, directory)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _ready(server.url):
                return server
            if not server.alive():
                break
            time.sleep(0.1)
        last = server.log_tail()
        in_use = "Address already in use" in last
        server.stop()
        if not in_use:
            break
    raise MotoStartError(f"moto did not start within {timeout:.0f}s; log tail:\n{last}")


_lock = threading.Lock()
_server: MotoServer | None = None


def moto_server(request: Any) -> MotoServer:
    """The moto server of this test process, started on first use.

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
            raise MotoStartError(f"the moto server died during the session; log tail:\n{tail}")
        server = start_moto()
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
    chosen = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    srv = start_moto() if not chosen else None
    if srv is None:  # a fixed port: run in the foreground
        program = "import sys\n" + "".join(FIXES.values()) + _MAIN
        os.execv(sys.executable, [sys.executable, "-c", program, "127.0.0.1", str(chosen)])
    with contextlib.suppress(KeyboardInterrupt), srv:
        print(f"moto ready on {srv.url} (pid {srv.process.pid}); Ctrl-C stops it", flush=True)
        srv.process.wait()
