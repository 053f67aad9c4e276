"""A real OpenStack Swift (Debian's packages) for tests: proxy with TempAuth,
account, container and object servers, one-device rings, and memcached.

``swift_server(request)`` starts one Swift per test process, lazily, on
127.0.0.1 with free ports and a private temporary directory, and stops it at
the end of the session (``request.config.add_cleanup``). Under pytest-xdist
each worker gets its own. A Swift that fails to start raises
:class:`SwiftStartError` with the tail of its logs, so the tests fail, never
skip.

How it runs without systemd and without touching ``/etc/swift``:

* Swift's Python code comes from Debian (``python3-swift``), so its servers run
  under the system interpreter (``/usr/bin/python3``, or ``$SWIFT_PYTHON``),
  not the test interpreter.
* Swift hard-codes ``/etc/swift/swift.conf``; a small launcher sets
  ``swift.common.utils.SWIFT_CONF_FILE`` to the private copy, reloads storage
  policies and constraints, and calls ``swift.common.wsgi.run_wsgi``.
* ``workers = 0`` (one process per server, no fork), ``mount_check = false``,
  ``devices`` = the private ``srv/`` directory, ``disable_fallocate = true``.
* Rings: part power 8, one replica, one device each, built in one Python call
  with ``swift.common.ring.RingBuilder`` (what ``swift-ring-builder create /
  add / rebalance`` do, in a fraction of the time).
* TempAuth keeps its tokens in memcache, so memcached runs too (its port is
  also how :meth:`SwiftServer.flush_tokens` expires every token at once).
* ``error_suppression_interval = 0``: with a single object node, one 507 makes
  the proxy error-limit it and answer 503 to every request for a minute.
* Object metadata lives in xattrs; ext4 allows about 3.5 KB per file, so
  objects with more than about 3 KB of user metadata fail with 503 here
  (Swift itself allows 4 KB). Tests keep metadata small.
* Without the updater daemons, an object server that cannot update its
  container in time parks the update ("async pending") and the listing misses
  the object; the timeouts below are raised so that this does not happen
  under a loaded two-core machine.

TempAuth users: ``test:tester`` / ``testing`` and ``test2:tester2`` /
``testing2`` (account admins), ``admin:admin`` / ``admin`` (reseller admin).

Run it by hand with ``python tests/servers/swift_server.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["SwiftServer", "SwiftStartError", "start_swift", "swift_server"]

START_TIMEOUT = 90.0
USER = "test:tester"
KEY = "testing"
USERS = {"test:tester": "testing", "test2:tester2": "testing2", "admin:admin": "admin"}

_LAUNCHER = """\
import sys
from swift.common import utils
utils.SWIFT_CONF_FILE = sys.argv[1]
from swift.common import constraints, storage_policy
storage_policy.reload_storage_policies()
constraints.reload_constraints()
from swift.common.wsgi import run_wsgi
sys.exit(run_wsgi(sys.argv[2], sys.argv[3], verbose=True))
"""

_RINGS = """\
import sys
from swift.common.ring import RingBuilder
etc, ports = sys.argv[1], sys.argv[2:]
for name, port in zip(("account", "container", "object"), ports):
    builder = RingBuilder(8, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                     "port": int(port), "device": "sdb1", "weight": 100})
    builder.rebalance()
    builder.get_ring().save(f"{etc}/{name}.ring.gz")
"""

_SWIFT_CONF = """\
[swift-hash]
swift_hash_path_suffix = overcast-tests-suffix
swift_hash_path_prefix = overcast-tests-prefix
[storage-policy:0]
name = gold
default = yes
[swift-constraints]
"""

_PROXY_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk "
    "tempurl tempauth copy slo dlo proxy-logging proxy-server"
)


class SwiftStartError(RuntimeError):
    """Swift did not start; the message holds the end of its logs."""


def swift_python() -> str:
    """The interpreter that has Debian's ``swift`` package."""
    return os.environ.get("SWIFT_PYTHON", "/usr/bin/python3")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


class SwiftServer:
    """A running Swift: its processes, ports and directory."""

    def __init__(self, directory: Path, ports: dict[str, int]) -> None:
        self.directory = directory
        self.ports = ports
        self.host = "127.0.0.1"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # -- addresses ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The proxy's port."""
        return self.ports["proxy"]

    @property
    def url(self) -> str:
        """The proxy's URL, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def auth_url(self) -> str:
        """The TempAuth (v1) URL."""
        return f"{self.url}/auth/v1.0"

    def storage_url(self, account: str = "test") -> str:
        """The storage URL of a TempAuth account (``AUTH_<account>``)."""
        return f"{self.url}/v1/AUTH_{account}"

    # -- state -------------------------------------------------------------------

    def alive(self) -> bool:
        """Whether every process is still running."""
        return bool(self.processes) and all(p.poll() is None for p in self.processes.values())

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of every log."""
        parts = []
        for log in sorted((self.directory / "run").glob("*.log")):
            try:
                text = log.read_text("utf-8", "replace")
            except OSError:
                continue
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {log.name}\n{tail}")
        return "\n".join(parts) or "(no log)"

    def token(self, user: str = USER, key: str = KEY) -> tuple[str, str]:
        """A TempAuth token and storage URL for ``user`` (plain urllib)."""
        request = urllib.request.Request(
            self.auth_url, headers={"X-Auth-User": user, "X-Auth-Key": key}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers["X-Auth-Token"], response.headers["X-Storage-Url"]

    def flush_tokens(self) -> None:
        """Expire every TempAuth token at once (``flush_all`` on memcached).

        Clients holding a token get 401 on their next request, as when a
        token expires."""
        with socket.create_connection((self.host, self.ports["memcached"]), timeout=5) as sock:
            sock.sendall(b"flush_all\r\n")
            answer = b""
            while not answer.endswith(b"\r\n"):
                chunk = sock.recv(64)
                if not chunk:
                    break
                answer += chunk
        if not answer.startswith(b"OK"):
            raise RuntimeError(f"memcached flush_all answered {answer!r}")

    def stop(self) -> None:
        """Stop every process (TERM, then KILL after 10 s) and remove the directory."""
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SwiftServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- setup -------------------------------------------------------------------

    def _write_config(self) -> None:
        etc = self.directory / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        (self.directory / "srv" / "sdb1").mkdir(parents=True, exist_ok=True)
        (self.directory / "run").mkdir(parents=True, exist_ok=True)
        (etc / "swift.conf").write_text(_SWIFT_CONF)
        try:
            import pwd

            user = pwd.getpwuid(os.getuid()).pw_name
        except (ImportError, KeyError):
            user = "root"

        def common(port: int) -> str:
            return (
                "[DEFAULT]\n"
                "bind_ip = 127.0.0.1\n"
                f"bind_port = {port}\n"
                "workers = 0\n"
                f"user = {user}\n"
                f"swift_dir = {etc}\n"
                f"devices = {self.directory / 'srv'}\n"
                "mount_check = false\n"
                "disable_fallocate = true\n"
                "log_level = WARNING\n"
                f"log_address = {self.directory / 'run' / 'nolog'}\n"
                "conn_timeout = 5\n"
                "node_timeout = 60\n"
            )

        (etc / "account-server.conf").write_text(
            common(self.ports["account"])
            + "[pipeline:main]\npipeline = account-server\n"
            "[app:account-server]\nuse = egg:swift#account\n"
        )
        (etc / "container-server.conf").write_text(
            common(self.ports["container"])
            + "[pipeline:main]\npipeline = container-server\n"
            "[app:container-server]\nuse = egg:swift#container\n"
        )
        (etc / "object-server.conf").write_text(
            common(self.ports["object"])
            + "[pipeline:main]\npipeline = object-server\n"
            "[app:object-server]\nuse = egg:swift#object\n"
            "container_update_timeout = 60\n"
        )
        users = "".join(
            f"user_{name.replace(':', '_')} = {key} "
            f"{'.admin .reseller_admin' if name == 'admin:admin' else '.admin'}\n"
            for name, key in USERS.items()
        )
        (etc / "proxy-server.conf").write_text(
            common(self.ports["proxy"])
            + f"[pipeline:main]\npipeline = {_PROXY_PIPELINE}\n"
            "[app:proxy-server]\nuse = egg:swift#proxy\n"
            "account_autocreate = true\n"
            "allow_account_management = true\n"
            "error_suppression_interval = 0\n"
            "recheck_container_existence = 0\n"
            "recheck_account_existence = 0\n"
            "[filter:tempauth]\nuse = egg:swift#tempauth\n"
            f"{users}"
            "[filter:cache]\nuse = egg:swift#memcache\n"
            f"memcache_servers = 127.0.0.1:{self.ports['memcached']}\n"
            "[filter:catch_errors]\nuse = egg:swift#catch_errors\n"
            "[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n"
            "[filter:healthcheck]\nuse = egg:swift#healthcheck\n"
            "[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n"
            "[filter:listing_formats]\nuse = egg:swift#listing_formats\n"
            "[filter:bulk]\nuse = egg:swift#bulk\n"
            "[filter:tempurl]\nuse = egg:swift#tempurl\n"
            "[filter:copy]\nuse = egg:swift#copy\n"
            "[filter:slo]\nuse = egg:swift#slo\n"
            "[filter:dlo]\nuse = egg:swift#dlo\n"
        )
        (self.directory / "run" / "launch.py").write_text(_LAUNCHER)
        ring = subprocess.run(
            [
                swift_python(), "-c", _RINGS, str(etc),
                *(str(self.ports[n]) for n in ("account", "container", "object")),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if ring.returncode != 0:
            raise SwiftStartError(
                "building the rings failed:\n" + ring.stderr.decode("utf-8", "replace")[-2000:]
            )

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.directory / "run" / f"{name}.log").open("wb")
        try:
            self.processes[name] = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    def _start_processes(self) -> None:
        memcached = shutil.which("memcached") or "/usr/bin/memcached"
        argv = [memcached, "-l", "127.0.0.1", "-p", str(self.ports["memcached"]), "-U", "0",
                "-m", "64"]
        if os.getuid() == 0:
            argv += ["-u", "root"]
        self._spawn("memcached", argv)
        launch = str(self.directory / "run" / "launch.py")
        swift_conf = str(self.directory / "etc" / "swift.conf")
        for name in ("account", "container", "object", "proxy"):
            conf = str(self.directory / "etc" / f"{name}-server.conf")
            self._spawn(name, [swift_python(), launch, swift_conf, conf, f"{name}-server"])

    def _ready(self) -> bool:
        for name in ("account", "container", "object"):
            try:
                with socket.create_connection((self.host, self.ports[name]), timeout=1):
                    pass
            except OSError:
                return False
        try:
            token, storage = self.token()
            request = urllib.request.Request(
                storage, method="HEAD", headers={"X-Auth-Token": token}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                return bool(200 <= response.status < 300)
        except (urllib.error.URLError, OSError, KeyError):
            return False


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to TERM it when the test process dies
    (so a killed test run leaves no Swift behind).

    Linux sends the signal when the *thread* that started the child ends, so
    start Swift from a long-lived thread (pytest's main thread does)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _check_installed() -> None:
    problems = []
    try:
        found = subprocess.run(
            [swift_python(), "-c", "import swift"], capture_output=True, timeout=60, check=False
        )
        if found.returncode != 0:
            problems.append(
                f"{swift_python()} cannot import swift: "
                + found.stderr.decode("utf-8", "replace").strip().splitlines()[-1]
            )
    except OSError as exc:
        problems.append(f"{swift_python()}: {exc}")
    if not (shutil.which("memcached") or os.path.exists("/usr/bin/memcached")):
        problems.append("memcached is not installed")
    if problems:
        raise SwiftStartError(
            "; ".join(problems) + " (install scripts/servers/swift.apt: "
            "bash scripts/install-servers.sh)"
        )


def start_swift(*, timeout: float = START_TIMEOUT) -> SwiftServer:
    """Start a Swift on free ports and wait until an authenticated account HEAD works.

    Raises :class:`SwiftStartError` (with the log tails) if a process dies or
    it is not ready within ``timeout`` seconds. Ports taken between choosing
    and binding are retried with others.
    """
    _check_installed()
    last = ""
    for _ in range(3):
        directory = Path(tempfile.mkdtemp(prefix="overcast-swift-"))
        names = ("proxy", "account", "container", "object", "memcached")
        server = SwiftServer(directory, dict(zip(names, _free_ports(len(names)), strict=True)))
        try:
            server._write_config()
            server._start_processes()
        except BaseException:
            server.stop()
            raise
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not server.alive():
                break
            if server._ready():
                return server
            time.sleep(0.2)
        last = server.log_tail()
        in_use = "Address already in use" in last or "already in use" in last
        server.stop()
        if not in_use:
            break
    raise SwiftStartError(f"Swift did not start within {timeout:.0f}s; logs:\n{last}")


_lock = threading.Lock()
_server: SwiftServer | None = None


def swift_server(request: Any) -> SwiftServer:
    """The Swift of this test process, started on first use.

    ``request`` is pytest's ``FixtureRequest``; Swift is stopped when the
    session ends.
    """
    global _server
    with _lock:
        if _server is not None and _server.alive():
            return _server
        if _server is not None:
            tail = _server.log_tail()
            _server = None
            raise SwiftStartError(f"Swift died during the session; logs:\n{tail}")
        server = start_swift()
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
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    started = time.monotonic()
    with contextlib.suppress(KeyboardInterrupt, SystemExit), start_swift() as srv:
        print(
            f"swift ready on {srv.url} in {time.monotonic() - started:.1f}s "
            f"(auth {srv.auth_url}, user {USER} / {KEY}, dir {srv.directory}); Ctrl-C stops it",
            flush=True,
        )
        while srv.alive():
            time.sleep(1)
        print(srv.log_tail(), file=sys.stderr)
