"""A real PowerDNS Authoritative server for the DNS tests.

``pdns_server`` (Debian packages pdns-server and pdns-backend-sqlite3) runs in
the foreground without systemd, in a private temporary directory: a gsqlite3
database made from the packaged schema, the HTTP API on a free port of
127.0.0.1 and DNS (UDP and TCP) on another. Caches are off, so a DNS query made
right after an API change sees it. One server per test process (each xdist
worker starts its own), started on first use and stopped at the end of the
session. A server that cannot start fails the test with its log tail.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from overcast.dns.drivers.powerdns import PowerDNSDriver
from overcast.runtime.policy import Hooks
from servers.dns_target import DNSTarget
from servers.procs import free_port
from servers.procs import stop_process

__all__ = ["PowerDNSServer", "make_target", "server", "start"]

PDNS_SERVER = os.environ.get("PDNS_SERVER", "/usr/sbin/pdns_server")
SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
START_TIMEOUT = 30.0
#: The driver's page_size option (kept for Apache Libcloud's users: the API
#: answers every listing in one response).
PAGE_SIZE = 5


@dataclass
class PowerDNSServer:
    """A running pdns_server: where its API and DNS listen, and its API key."""

    process: subprocess.Popen[bytes]
    directory: Path
    api_port: int
    dns_port: int
    api_key: str

    @property
    def endpoint(self) -> str:
        """Base URL of the webserver (the API is under ``/api/v1``)."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_path(self) -> Path:
        """The server's combined stdout and stderr."""
        return self.directory / "pdns.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def driver(self, **options: Any) -> PowerDNSDriver:
        """A driver pointed at this server."""
        return PowerDNSDriver(self.api_key, endpoint=self.endpoint, **options)

    def stop(self) -> None:
        """Stop the server (TERM, then KILL) and remove its directory."""
        stop_process(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)


_server: PowerDNSServer | None = None


def _config(directory: Path, api_port: int, dns_port: int, api_key: str) -> str:
    return "\n".join(
        [
            "launch=gsqlite3",
            f"gsqlite3-database={directory / 'pdns.sqlite3'}",
            "local-address=127.0.0.1",
            f"local-port={dns_port}",
            "api=yes",
            f"api-key={api_key}",
            "webserver=yes",
            "webserver-address=127.0.0.1",
            f"webserver-port={api_port}",
            "webserver-allow-from=127.0.0.1",
            f"socket-dir={directory}",
            "guardian=no",
            "daemon=no",
            "disable-syslog=yes",
            "log-timestamp=yes",
            "loglevel=4",
            # No outbound DNS lookup for security announcements.
            "security-poll-suffix=",
            "setuid=",
            "setgid=",
            # No caching: a query right after an API change must see it.
            "cache-ttl=0",
            "query-cache-ttl=0",
            "negquery-cache-ttl=0",
            "consistent-backends=yes",
            "",
        ]
    )


def _wait_ready(server: PowerDNSServer) -> str | None:
    """None once the API answers, else why it did not."""
    url = f"{server.endpoint}/api/v1/servers/localhost"
    request = urllib.request.Request(url, headers={"X-API-Key": server.api_key})
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            return f"pdns_server exited with status {code}"
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                if resp.status == 200:
                    return None
                last = f"status {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"status {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    return f"API not ready after {START_TIMEOUT:.0f} s ({last})"


def _start_once() -> PowerDNSServer:
    directory = Path(tempfile.mkdtemp(prefix="overcast-pdns-"))
    with contextlib.closing(sqlite3.connect(directory / "pdns.sqlite3")) as db:
        db.executescript(SCHEMA.read_text())
        db.commit()
    api_port, dns_port = free_port(udp=True), free_port(udp=True)
    while dns_port == api_port:
        dns_port = free_port(udp=True)
    api_key = secrets.token_urlsafe(24)
    (directory / "pdns.conf").write_text(_config(directory, api_port, dns_port, api_key))
    with open(directory / "pdns.log", "wb") as log:
        process = subprocess.Popen(
            [PDNS_SERVER, f"--config-dir={directory}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    return PowerDNSServer(process, directory, api_port, dns_port, api_key)


def start() -> PowerDNSServer:
    """A new, ready server (tried three times: a free port may be taken between
    choosing it and binding it); RuntimeError with the log tails if none starts.
    The caller stops it (the benchmarks use this outside pytest)."""
    failures: list[str] = []
    for _ in range(3):
        candidate = _start_once()
        problem = _wait_ready(candidate)
        if problem is None:
            return candidate
        failures.append(f"{problem}; log tail:\n{candidate.log_tail()}")
        candidate.stop()
    raise RuntimeError("PowerDNS server did not start:\n" + "\n---\n".join(failures))


def server(request: pytest.FixtureRequest) -> PowerDNSServer:
    """The PowerDNS server of this test process, started on first use."""
    global _server
    if _server is not None and _server.process.poll() is None:
        return _server
    if _server is not None:  # it died: report, then let a later test try again
        dead, _server = _server, None
        tail = dead.log_tail()
        dead.stop()
        pytest.fail(f"PowerDNS server died; log tail:\n{tail}")
    if not os.path.exists(PDNS_SERVER) or not SCHEMA.exists():
        pytest.fail(
            f"PowerDNS is not installed ({PDNS_SERVER}, {SCHEMA}): "
            "apt-get install pdns-server pdns-backend-sqlite3 (scripts/servers/powerdns.apt)"
        )
    try:
        _server = start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    request.config.add_cleanup(_stop)
    return _server


def _stop() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """A PowerDNSDriver on the real server, which also answers DNS queries."""
    running = server(request)
    requests: list[object] = []
    driver = running.driver(page_size=PAGE_SIZE, hooks=Hooks(on_request=[requests.append]))
    return DNSTarget(
        driver=driver,
        resolver=("127.0.0.1", running.dns_port),
        requests=requests,
    )
