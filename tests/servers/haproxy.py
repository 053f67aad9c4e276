"""A real HAProxy (Debian's 2.6, scripts/servers/haproxy.apt) for tests, and
HTTP servers to put behind it.

``HAProxyServer`` runs ``haproxy -W -S <master socket> -f base.cfg -f
overcast.cfg`` in a private directory: ``base.cfg`` is the operator's
configuration (master-worker, a runtime socket ``level admin`` with
``expose-fd listeners``, a server-state file), ``overcast.cfg`` the driver's
file (empty at first). Everything listens on 127.0.0.1 (frontends on ports
the tests choose free) or on UNIX sockets; the server is stopped at the end.

``NameServer`` is an HTTP server on 127.0.0.1 that answers every request with
its own name; ``/slow`` answers only once its ``release`` event is set (a
request held in flight, by an event rather than a timer).

Run it by hand, from ``tests/``, with ``python -m servers.haproxy``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from servers.procs import free_port
from servers.procs import stop_process

__all__ = ["HAProxyServer", "NameServer", "haproxy_server", "lb_target"]

START_TIMEOUT = 30.0

BASE = """global
    master-worker
    stats socket {runtime} level admin expose-fd listeners
    server-state-file {state}
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout queue 5s
    load-server-state-from-file global
"""


def ask(path: str, command: str, timeout: float = 5.0) -> str:
    """One command to a HAProxy CLI socket; its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


class HAProxyServer:
    """A running HAProxy in master-worker mode."""

    def __init__(self) -> None:
        if shutil.which("haproxy") is None:
            raise RuntimeError("haproxy is not installed: run bash scripts/install-servers.sh")
        # A short directory in /tmp: UNIX socket paths are limited to 107 bytes.
        self.directory = Path(tempfile.mkdtemp(prefix="oc-hap-", dir="/tmp"))
        self.base = self.directory / "base.cfg"
        self.config = self.directory / "overcast.cfg"
        self.state = self.directory / "servers.state"
        self.master = str(self.directory / "master.sock")
        self.runtime = str(self.directory / "admin.sock")
        self.log_path = self.directory / "haproxy.log"
        self.base.write_text(BASE.format(runtime=self.runtime, state=self.state))
        self.config.write_text("")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                ["haproxy", "-W", "-S", self.master, "-f", str(self.base), "-f",
                 str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.directory)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError):
                if "master" in ask(self.master, "show proc") and ask(self.runtime, "show info"):
                    return
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"haproxy did not start; log:\n{tail}")

    def log_tail(self, lines: int = 40) -> str:
        """The end of HAProxy's log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        return "(no log)"

    def reloads(self) -> int:
        """How many times the master has reloaded (``show proc``)."""
        for line in ask(self.master, "show proc").splitlines():
            words = line.split()
            if len(words) > 2 and words[1] == "master":
                return int(words[2])
        raise AssertionError("no master in show proc")

    def driver(self, **kwargs: Any) -> Any:
        """An HAProxy driver for this server."""
        from overcast.loadbalancer.drivers.haproxy import HAProxyDriver

        kwargs.setdefault("check_interval", 0.2)
        kwargs.setdefault("timeout", 60)
        return HAProxyDriver(str(self.config), master_socket=self.master,
                             runtime_socket=self.runtime, base_configs=[str(self.base)],
                             state_file=str(self.state), **kwargs)

    def stop(self) -> None:
        """Stop HAProxy (its workers with it) and remove its directory."""
        stop_process(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> HAProxyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def haproxy_server(request: pytest.FixtureRequest) -> HAProxyServer:
    """A HAProxy for this test, stopped when it ends."""
    server = HAProxyServer()
    request.addfinalizer(server.stop)
    return server


class NameServer:
    """An HTTP server on 127.0.0.1 answering every request with its name.

    ``hits`` counts the requests it answered; a request for ``/slow`` waits
    for ``release`` to be set (``slow_started`` is set when one arrives).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        self.release = threading.Event()
        self.slow_started = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/slow":
                    owner.slow_started.set()
                    owner.release.wait(60)
                with owner._lock:
                    owner.hits += 1
                body = owner.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the listening socket."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def lb_target(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """The conformance suite's target: a driver on a fresh HAProxy."""
    import uuid

    from overcast.loadbalancer.base import Member
    from servers.lb_target import LBTarget

    server = haproxy_server(request)
    driver = server.driver()

    class Node:
        def __init__(self) -> None:
            self.id = f"node-{uuid.uuid4().hex[:8]}"
            self.public_ips = ["127.0.0.1"]
            self.private_ips: list[str] = []

    def activity() -> int:
        return hash((server.config.read_text(), server.reloads()))

    return LBTarget(driver=driver, member=lambda: Member(None, "127.0.0.1", free_port()),
                    node=Node, requests=None, sent=activity, many=3, paged=False,
                    port=free_port)


if __name__ == "__main__":
    with HAProxyServer() as running:
        print(f"haproxy ready: master {running.master}, runtime {running.runtime}, "
              f"config {running.config}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            running.process.wait()
