"""BIND 9 for the DNS tests: RFC 2136 updates and AXFR with TSIG, zones added at run time.

One ``named`` per test process (pytest-xdist workers each start their own),
started lazily on 127.0.0.1 with random free ports, in a private temporary
directory, and stopped at the end of the session. Its configuration:

* a TSIG key (hmac-sha256) that may update and transfer every zone added as
  dynamic, and an rndc control channel with its own key;
* ``allow-new-zones yes``, so tests add and remove zones with ``rndc addzone``
  and ``rndc delzone`` (:meth:`BindServer.add_zone`, :meth:`BindServer.delete_zone`),
  and reload zone files written by other code (:meth:`BindServer.reload_zone`).

:func:`make_target` is the factory of the ``rfc2136`` driver for the DNS
conformance suite.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from overcast.dns.base import Zone
from overcast.dns.drivers.rfc2136 import RFC2136DNSDriver
from servers.dns_target import DNSTarget
from servers.procs import free_port
from servers.procs import stop_process

__all__ = ["BindServer", "bind_server", "make_target", "soa_text"]

NAMED = shutil.which("named") or "/usr/sbin/named"
RNDC = shutil.which("rndc") or "/usr/sbin/rndc"
TSIG_NAME = "overcast-key."
#: A second key that may transfer zones but not update them.
READONLY_TSIG_NAME = "overcast-readonly."
TSIG_ALGORITHM = "hmac-sha256"
START_TIMEOUT = 30.0


class BindError(RuntimeError):
    """named could not be started or did not do what it was asked; carries its log tail."""


def soa_text(domain: str, *, serial: int = 1) -> str:
    """A minimal primary zone: SOA and one (out-of-zone) NS, as named loads it."""
    origin = domain if domain.endswith(".") else domain + "."
    return (
        f"$ORIGIN {origin}\n"
        "$TTL 300\n"
        f"@\tIN\tSOA\tns.invalid. hostmaster.{origin} {serial} 3600 600 86400 300\n"
        "@\tIN\tNS\tlocalhost.\n"
    )


class BindServer:
    """A private ``named`` on 127.0.0.1, its TSIG key and its rndc channel."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="overcast-bind-"))
        self.zones_dir = self.root / "zones"
        self.port = 0
        self.control_port = 0
        self.tsig_name = TSIG_NAME
        self.tsig_algorithm = TSIG_ALGORITHM
        self.tsig_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self.readonly_tsig_name = READONLY_TSIG_NAME
        self.readonly_tsig_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self._rndc_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def log_path(self) -> Path:
        """named's log (its stderr, ``-g``)."""
        return self.root / "named.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of named's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- life ------------------------------------------------------------------

    def _write_config(self) -> Path:
        self.zones_dir.mkdir(parents=True, exist_ok=True)
        key = self.tsig_name.rstrip(".")
        readonly = self.readonly_tsig_name.rstrip(".")
        conf = self.root / "named.conf"
        conf.write_text(
            f'key "{key}" {{ algorithm {self.tsig_algorithm}; secret "{self.tsig_secret}"; }};\n'
            f'key "{readonly}" {{ algorithm hmac-sha256; '
            f'secret "{self.readonly_tsig_secret}"; }};\n'
            f'key "rndc-key" {{ algorithm hmac-sha256; secret "{self._rndc_secret}"; }};\n'
            f"controls {{ inet 127.0.0.1 port {self.control_port} allow {{ 127.0.0.1; }} "
            'keys { "rndc-key"; }; };\n'
            "options {\n"
            f'  directory "{self.root}";\n'
            f'  pid-file "{self.root}/named.pid";\n'
            f'  session-keyfile "{self.root}/session.key";\n'
            f'  managed-keys-directory "{self.root}";\n'
            f"  listen-on port {self.port} {{ 127.0.0.1; }};\n"
            "  listen-on-v6 { none; };\n"
            "  recursion no; dnssec-validation no; notify no;\n"
            "  allow-new-zones yes;\n"
            f'  allow-transfer {{ key "{key}"; key "{readonly}"; }};\n'
            "};\n"
        )
        (self.root / "rndc.conf").write_text(
            f'key "rndc-key" {{ algorithm hmac-sha256; secret "{self._rndc_secret}"; }};\n'
            'options { default-key "rndc-key"; default-server 127.0.0.1; '
            f"default-port {self.control_port}; }};\n"
        )
        return conf

    def start(self) -> None:
        """Start named and wait until it answers (a few tries if a port was taken)."""
        last = ""
        for _ in range(3):
            self.port = free_port(udp=True)
            self.control_port = free_port(udp=True)
            conf = self._write_config()
            check = subprocess.run(
                ["named-checkconf", str(conf)], capture_output=True, text=True, check=False
            )
            if check.returncode != 0:
                raise BindError(f"named-checkconf failed:\n{check.stdout}{check.stderr}")
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    [NAMED, "-g", "-c", str(conf)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.root,
                )
            if self._wait_ready():
                return
            last = self.log_tail()
            self.stop()
        raise BindError(f"named did not start; log tail:\n{last}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            result = subprocess.run(
                [RNDC, "-c", str(self.root / "rndc.conf"), "status"],
                capture_output=True, text=True, check=False,
            )
            if result.returncode == 0 and self._answers():
                return True
            time.sleep(0.1)
        return False

    def _answers(self) -> bool:
        query = dns.message.make_query("version.bind.", "TXT", "CH")
        try:
            dns.query.tcp(query, "127.0.0.1", port=self.port, timeout=1)
        except (OSError, dns.exception.DNSException):
            return False
        return True

    def stop(self) -> None:
        """Stop named (TERM, then KILL) and remove its directory."""
        process, self._process = self._process, None
        stop_process(process)

    def close(self) -> None:
        """Stop named and delete its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- rndc ------------------------------------------------------------------

    def rndc(self, *args: str) -> str:
        """Run an rndc command; :class:`BindError` (with named's log tail) if it fails."""
        if self._process is None or self._process.poll() is not None:
            raise BindError(f"named is not running; log tail:\n{self.log_tail()}")
        result = subprocess.run(
            [RNDC, "-c", str(self.root / "rndc.conf"), *args],
            capture_output=True, text=True, check=False, timeout=60,
        )
        if result.returncode != 0:
            raise BindError(
                f"rndc {' '.join(args)} failed: {result.stdout}{result.stderr}\n"
                f"named log tail:\n{self.log_tail()}"
            )
        return result.stdout

    def add_zone(
        self,
        domain: str,
        file: str | os.PathLike[str],
        *,
        dynamic: bool,
        check_integrity: bool = False,
    ) -> None:
        """Add a primary zone served from ``file``; ``dynamic`` allows TSIG updates.

        Dynamic zones get ``check-integrity no`` unless ``check_integrity``: BIND
        refuses updates that add an MX or SRV pointing at an in-zone name without
        addresses, and the contract adds such records. Waits until named serves it.
        """
        name = domain.rstrip(".")
        key = self.tsig_name.rstrip(".")
        update = ""
        if dynamic:
            update = f' allow-update {{ key "{key}"; }};'
            if not check_integrity:
                update += " check-integrity no;"
        config = f'{{ type primary; file "{os.fspath(file)}";{update} }};'
        self.rndc("addzone", name, config)
        self.wait_for_serial(domain, None)

    def add_dynamic_zone(self, domain: str, *, check_integrity: bool = False) -> None:
        """Write an empty zone (SOA and NS) and add it as a dynamic zone."""
        name = domain.rstrip(".").lower()
        path = self.zones_dir / f"{name}.zone"
        path.write_text(soa_text(name))
        self.add_zone(name, path, dynamic=True, check_integrity=check_integrity)

    def reload_zone(self, domain: str, serial: int | None = None) -> None:
        """Reload a zone from its file; with ``serial``, wait until named serves it."""
        self.rndc("reload", domain.rstrip("."))
        self.wait_for_serial(domain, serial)

    def delete_zone(self, domain: str, *, clean: bool = False) -> None:
        """Remove a zone added with :meth:`add_zone` (``clean``: and its files)."""
        args = ["delzone", *(["-clean"] if clean else []), domain.rstrip(".")]
        self.rndc(*args)

    def serial(self, domain: str) -> int | None:
        """The SOA serial named serves for ``domain``, or ``None``."""
        query = dns.message.make_query(domain if domain.endswith(".") else domain + ".", "SOA")
        try:
            answer = dns.query.tcp(query, "127.0.0.1", port=self.port, timeout=2)
        except (OSError, dns.exception.DNSException):
            return None
        if answer.rcode() != dns.rcode.NOERROR:
            return None
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)  # type: ignore[attr-defined]
        return None

    def wait_for_serial(self, domain: str, serial: int | None, timeout: float = 20.0) -> None:
        """Wait until named serves ``domain`` (with ``serial``, if given)."""
        deadline = time.monotonic() + timeout
        seen: int | None = None
        while time.monotonic() < deadline:
            seen = self.serial(domain)
            if seen is not None and (serial is None or seen == serial):
                return
            time.sleep(0.02)
        raise BindError(
            f"named does not serve {domain} with serial {serial} (serves {seen}); "
            f"log tail:\n{self.log_tail()}"
        )


_SERVER: BindServer | None = None
_SERVER_LOCK = threading.Lock()


def bind_server(request: pytest.FixtureRequest) -> BindServer:
    """This test process's named, started on first use and stopped at session end.

    A named that cannot start fails the test with its log tail.
    """
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None:
            if not os.path.exists(NAMED):
                pytest.fail("named is not installed (apt-get install bind9 bind9-utils)")
            server = BindServer()
            try:
                server.start()
            except BindError as exc:
                server.close()
                pytest.fail(str(exc))
            _SERVER = server
            request.config.add_cleanup(_close_server)
        return _SERVER


def _close_server() -> None:
    global _SERVER
    with _SERVER_LOCK:
        server, _SERVER = _SERVER, None
    if server is not None:
        server.close()


#: The zone every rfc2136 driver of the suite is configured with (``zones=``).
HOME_ZONE = "home.example.test."


def make_driver(server: BindServer, **kwargs: object) -> RFC2136DNSDriver:
    """An rfc2136 driver for ``server`` with its TSIG key."""
    options: dict[str, object] = {
        "tsig_name": server.tsig_name,
        "tsig_secret": server.tsig_secret,
        "tsig_algorithm": server.tsig_algorithm,
        "timeout": 10.0,
    }
    options.update(kwargs)
    return RFC2136DNSDriver("127.0.0.1", server.port, **options)  # type: ignore[arg-type]


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """The rfc2136 driver against this process's named, for the DNS contract."""
    server = bind_server(request)
    if server.serial(HOME_ZONE) is None:
        server.add_dynamic_zone(HOME_ZONE)
    driver = make_driver(server, zones=(HOME_ZONE,))

    def new_zone(domain: str) -> Zone:
        server.add_dynamic_zone(domain)
        return driver.get_zone(domain)

    def drop_zone(zone: Zone) -> None:
        server.delete_zone(zone.domain, clean=True)

    return DNSTarget(
        driver=driver,
        new_zone=new_zone,
        drop_zone=drop_zone,
        resolver=("127.0.0.1", server.port),
        requests=None,
    )
