"""Podman's Docker-compatible API service for the tests, on 127.0.0.1 only.

``start_podman(directory)`` configures Podman to keep everything in
``directory`` (storage, run state, events), imports a busybox image built from
Debian's ``busybox-static`` (no registry is reachable), and runs ``podman
system service`` on a UNIX socket, with socat in front of it for plain TCP and
for mutual TLS (certificates made here). Containers use the host network or
none, so no bridge or firewall chain is ever made. ``stop()`` removes every
container and image and the storage.

This machine needs runc (crun refuses its cgroup layout), cgroupfs, a file
events log and pinned ulimits; the configuration files say so.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from servers.container_tls import Authority
from servers.container_tls import Pair
from servers.procs import free_port
from servers.procs import stop_process

__all__ = ["BUSYBOX", "Podman", "podman_available", "start_podman"]

BUSYBOX = "localhost/busybox:latest"
_APPLETS = ("sh", "ls", "cat", "echo", "sleep", "httpd", "wget", "hostname", "id", "uname",
            "ps", "env", "true", "seq", "yes", "head")
_READY_WITHIN = 60.0


def podman_available() -> bool:
    """Whether podman, runc, socat and a static busybox are installed."""
    return all(shutil.which(tool) for tool in ("podman", "runc", "socat")) and Path(
        "/bin/busybox").exists()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


@dataclass
class Podman:
    """A running Podman API service."""

    directory: Path
    socket: Path
    tcp_port: int
    tls_port: int
    authority: Authority
    client: Pair
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def host(self) -> str:
        """``unix://...``: the ``host`` (or ``DOCKER_HOST``) for the socket."""
        return f"unix://{self.socket}"

    @property
    def tcp(self) -> str:
        """``tcp://127.0.0.1:PORT``: plain TCP."""
        return f"tcp://127.0.0.1:{self.tcp_port}"

    @property
    def tls(self) -> str:
        """``https://127.0.0.1:PORT``: mutual TLS (CA ``authority.cert``,
        client certificate ``client``)."""
        return f"https://127.0.0.1:{self.tls_port}"

    def api(self, method: str, path: str) -> tuple[int, bytes]:
        """One request on the socket (for the tests' own checks)."""
        connection = _UnixConnection(str(self.socket), timeout=30)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run the podman command line on the same storage."""
        return subprocess.run(["podman", *args], env=self.env, capture_output=True,
                              check=check, timeout=120)

    def clean(self) -> None:
        """Remove every container (a test's leftovers)."""
        self.podman("rm", "--all", "--force", "--time", "0", check=False)

    def stop(self) -> None:
        """Remove every container, stop the service and the proxies, and remove
        the storage (overlay mounts included)."""
        self.clean()
        for process in reversed(self.processes):
            stop_process(process)
        _kill_monitors(self.directory)
        self.podman("system", "reset", "--force", check=False)
        shutil.rmtree(self.directory / "storage", ignore_errors=True)


def _kill_monitors(directory: Path) -> None:
    """Kill the conmon processes of this service's storage still waiting: an
    exec session's monitor waits 300 s after the session (so its exit code
    can be read) before it cleans up, and would outlive the test run."""
    mine = str(directory).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"conmon") and any(mine in arg for arg in argv):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)


def _rootfs(directory: Path) -> Path:
    """A tarball of busybox-static with its applets and a root user."""
    tar_path = directory / "busybox-rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)

        for name in ("bin", "etc", "tmp", "www", "root"):
            add_dir(name)
        tar.add("/bin/busybox", "bin/busybox")
        for applet in _APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        import io

        tar.addfile(info, io.BytesIO(passwd))
    return tar_path


def _configure(directory: Path) -> dict[str, str]:
    storage = directory / "storage"
    (storage / "graph").mkdir(parents=True, exist_ok=True)
    (storage / "run").mkdir(parents=True, exist_ok=True)
    containers_conf = directory / "containers.conf"
    containers_conf.write_text(f"""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "host"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{directory}/events.log"
tmp_dir = "{storage}/tmp"
""")
    storage_conf = directory / "storage.conf"
    storage_conf.write_text(f"""[storage]
driver = "overlay"
graphroot = "{storage}/graph"
runroot = "{storage}/run"
""")
    env = dict(os.environ)
    env.update(CONTAINERS_CONF=str(containers_conf), CONTAINERS_STORAGE_CONF=str(storage_conf),
               XDG_RUNTIME_DIR=str(storage / "xdg"), TMPDIR=str(storage / "tmp"))
    (storage / "xdg").mkdir(exist_ok=True)
    (storage / "tmp").mkdir(exist_ok=True)
    return env


def _wait_ready(server: Podman, process: subprocess.Popen[bytes]) -> None:
    """Until ``GET /_ping`` answers OK (bounded; fails at once if it died)."""
    deadline = time.monotonic() + _READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"podman service exited: {(server.directory / 'service.log')}"
                               f"\n{(server.directory / 'service.log').read_text()[-2000:]}")
        if server.socket.exists():
            try:
                if server.api("GET", "/_ping") == (200, b"OK"):
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError("podman service not ready")


def start_podman(directory: Path) -> Podman:
    """Configure, import busybox, start the service and its TCP and TLS fronts."""
    directory.mkdir(parents=True, exist_ok=True)
    env = _configure(directory)
    authority = Authority(directory / "tls")
    server_pair = authority.issue("engine", server=True)
    client = authority.issue("client", server=False)
    sock = directory / "podman.sock"
    server = Podman(directory, sock, free_port(), free_port(), authority, client, env)
    try:
        server.podman("import", "--change", 'CMD ["/bin/sh"]', str(_rootfs(directory)), BUSYBOX)
        log = (directory / "service.log").open("wb")
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{sock}"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        server.processes.append(service)
        _wait_ready(server, service)
        server.processes.append(subprocess.Popen(
            ["socat", f"TCP-LISTEN:{server.tcp_port},bind=127.0.0.1,reuseaddr,fork",
             f"UNIX-CONNECT:{sock}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        server.processes.append(subprocess.Popen(
            ["socat",
             f"OPENSSL-LISTEN:{server.tls_port},bind=127.0.0.1,reuseaddr,fork,"
             f"cert={server_pair.cert},key={server_pair.key},cafile={authority.cert},verify=1",
             f"UNIX-CONNECT:{sock}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in (server.tcp_port, server.tls_port):
            _wait_port(port, server.processes[-1])
    except BaseException:
        server.stop()
        raise
    return server


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("socat exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def podman_fixture(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Podman:
    """The body of a session fixture: one service for the whole run."""
    if not podman_available():
        pytest.skip("podman, runc, socat or busybox-static is not installed "
                    "(bash scripts/install-servers.sh)")
    server = start_podman(tmp_path_factory.mktemp("podman"))
    request.addfinalizer(server.stop)
    return server
