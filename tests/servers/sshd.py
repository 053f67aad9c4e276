"""A real OpenSSH ``sshd`` for the deployment tests, without systemd.

One ``sshd`` per test process (pytest-xdist workers each start their own),
started lazily on 127.0.0.1 with a free port, in a private temporary directory,
and stopped (directory removed) at the end of the session. In that directory:

* host keys (ed25519 and RSA) generated for this run, and ``known_hosts``
  listing them for ``[127.0.0.1]:<port>``;
* client keys for the login user (the current user): ``client_ed25519``
  (OpenSSH format) and ``client_rsa`` (RSA, PEM), both in ``authorized_keys``,
  which is the server's ``AuthorizedKeysFile`` (the machine's ``~/.ssh`` is
  never read or written);
* ``sshd_config``: key-only login, ``UsePAM no``, ``StrictModes no``,
  ``PermitRootLogin prohibit-password``, SFTP served in-process.

:func:`ssh_server` gives the running server; a server that does not come up
fails the test with the tail of its log.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from servers.procs import free_port
from servers.procs import stop_process

__all__ = ["SSHServer", "SSHServerError", "ssh_server"]

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it wants an absolute path
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
START_TIMEOUT = 20.0
HOST = "127.0.0.1"


class SSHServerError(RuntimeError):
    """sshd could not be set up or started; the message carries its log tail."""


def _openssh_version() -> tuple[int, int]:
    """The installed OpenSSH version, e.g. ``(9, 2)`` (``(0, 0)`` if unknown)."""
    result = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", result.stderr + result.stdout)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


class SSHServer:
    """A private ``sshd`` on 127.0.0.1 with its keys and known_hosts."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="overcast-sshd-"))
        self.root.chmod(0o700)
        self.host = HOST
        self.port = 0
        self.user = getpass.getuser()
        self.host_keys = [self.root / "ssh_host_ed25519_key", self.root / "ssh_host_rsa_key"]
        self.client_ed25519 = self.root / "client_ed25519"
        self.client_rsa = self.root / "client_rsa"
        self.authorized_keys = self.root / "authorized_keys"
        self.known_hosts = self.root / "known_hosts"
        self.work = self.root / "work"
        self._process: subprocess.Popen[bytes] | None = None

    # -- keys ---------------------------------------------------------------------

    def keygen(self, path: Path, key_type: str = "ed25519", *, pem: bool = False) -> Path:
        """Generate an unencrypted key pair at ``path`` (and ``path.pub``); return ``path``."""
        args = [SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-C", path.name, "-f", str(path)]
        if key_type == "rsa":
            args += ["-b", "2048"]
        if pem:
            args += ["-m", "PEM"]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SSHServerError(f"ssh-keygen failed: {result.stderr.strip()}")
        return path

    def new_client_key(self, name: str, key_type: str = "ed25519") -> Path:
        """A fresh client key pair in the server's directory (not authorized)."""
        path = self.root / name
        if path.exists():
            path.unlink()
            path.with_name(path.name + ".pub").unlink(missing_ok=True)
        return self.keygen(path, key_type, pem=key_type == "rsa")

    @staticmethod
    def public_key(path: Path) -> str:
        """The one-line public key beside the private key ``path``."""
        return path.with_name(path.name + ".pub").read_text().strip()

    def known_hosts_lines(self) -> list[str]:
        """``[127.0.0.1]:port type base64`` for each of the server's host keys."""
        name = f"[{self.host}]:{self.port}"
        lines = []
        for key in self.host_keys:
            key_type, blob = self.public_key(key).split()[:2]
            lines.append(f"{name} {key_type} {blob}")
        return lines

    # -- life ---------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        """sshd's log (``-e``: its messages on stderr)."""
        return self.root / "sshd.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of sshd's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _write_config(self) -> Path:
        extra = ""
        if _openssh_version() >= (9, 8):
            extra = "PerSourcePenalties no\n"  # tests fail logins on purpose
        config = self.root / "sshd_config"
        config.write_text(
            f"ListenAddress {self.host}:{self.port}\n"
            + "".join(f"HostKey {key}\n" for key in self.host_keys)
            + f"PidFile {self.root}/sshd.pid\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            f"AllowUsers {self.user}\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "UseDNS no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "X11Forwarding no\n"
            "MaxStartups 50:30:100\n"
            "LogLevel VERBOSE\n"
            "Subsystem sftp internal-sftp\n" + extra
        )
        return config

    def _prepare(self) -> None:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory
        self.work.mkdir(exist_ok=True)
        self.keygen(self.host_keys[0], "ed25519")
        self.keygen(self.host_keys[1], "rsa")
        self.keygen(self.client_ed25519, "ed25519")
        self.keygen(self.client_rsa, "rsa", pem=True)
        self.authorized_keys.write_text(
            f"{self.public_key(self.client_ed25519)}\n{self.public_key(self.client_rsa)}\n"
        )
        self.authorized_keys.chmod(0o600)

    def start(self) -> None:
        """Generate the keys, start sshd and wait until it greets (a few ports tried)."""
        if not os.path.exists(SSHD):
            raise SSHServerError(f"{SSHD} is missing (apt-get install openssh-server)")
        self._prepare()
        last = ""
        for _ in range(3):
            self.port = free_port()
            config = self._write_config()
            check = subprocess.run(
                [SSHD, "-t", "-f", str(config)], capture_output=True, text=True, check=False
            )
            if check.returncode != 0:
                raise SSHServerError(f"sshd -t rejected {config}:\n{check.stderr}")
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(config)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.root,
                )
            if self._wait_ready():
                self.known_hosts.write_text("\n".join(self.known_hosts_lines()) + "\n")
                return
            last = self.log_tail()
            self.stop()
        raise SSHServerError(f"sshd did not start on {self.host}; log tail:\n{last}")

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if self._greets():
                return True
            time.sleep(0.05)
        return False

    def alive(self) -> bool:
        """Whether sshd is still running."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop sshd (TERM, then KILL); its sessions end with it."""
        process, self._process = self._process, None
        stop_process(process)

    def close(self) -> None:
        """Stop sshd and delete its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


_SERVER: SSHServer | None = None
_SERVER_LOCK = threading.Lock()


def ssh_server(request: pytest.FixtureRequest) -> SSHServer:
    """This test process's sshd, started on first use and stopped at session end.

    A server that cannot start fails the test with its log tail; one that died
    since fails it too.
    """
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None:
            server = SSHServer()
            try:
                server.start()
            except SSHServerError as exc:
                server.close()
                pytest.fail(str(exc))
            _SERVER = server
            request.config.add_cleanup(_close_server)
        if not _SERVER.alive():
            pytest.fail(f"sshd died; log tail:\n{_SERVER.log_tail()}")
        return _SERVER


def _close_server() -> None:
    global _SERVER
    with _SERVER_LOCK:
        server, _SERVER = _SERVER, None
    if server is not None:
        server.close()
